//! How a trace file's bytes are stored, told from its first bytes rather than its name:
//! plain text, zstd-compressed (`gpuwarden record -o FILE.jsonl.zst`, or any trace someone
//! ran through `zstd`), or UTF-16 (what PowerShell's `>` writes). Each is turned into a
//! stream of UTF-8 text for the readers.

use std::io::{self, BufRead, BufReader, Read};

/// The first four bytes of every zstd frame.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// How a file is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Plain,
    Zstd,
    Utf16 { little_endian: bool },
}

impl Encoding {
    /// The name printed beside the trace format, if the file is not plain text.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Encoding::Plain => None,
            Encoding::Zstd => Some("zstd"),
            Encoding::Utf16 { .. } => Some("UTF-16"),
        }
    }
}

/// Tells the encoding from the start of the input without consuming it.
pub fn sniff<R: BufRead>(input: &mut R) -> io::Result<Encoding> {
    let b = input.fill_buf()?;
    Ok(match b {
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Encoding::Zstd,
        [0xff, 0xfe, ..] => Encoding::Utf16 {
            little_endian: true,
        },
        [0xfe, 0xff, ..] => Encoding::Utf16 {
            little_endian: false,
        },
        // No byte-order mark: ASCII text in UTF-16 has every other byte zero.
        [a, 0, c, 0, ..] if *a != 0 && *c != 0 => Encoding::Utf16 {
            little_endian: true,
        },
        [0, b, 0, d, ..] if *b != 0 && *d != 0 => Encoding::Utf16 {
            little_endian: false,
        },
        _ => Encoding::Plain,
    })
}

/// The input as UTF-8 text, decoded from `encoding`. `file` names it in the warning given
/// when a compressed trace ends before its last frame is finished.
pub fn decode<R: BufRead + Send + 'static>(
    input: R,
    encoding: Encoding,
    file: &str,
) -> io::Result<Box<dyn BufRead + Send>> {
    const BUF: usize = 64 * 1024;
    Ok(match encoding {
        Encoding::Plain => Box::new(input),
        Encoding::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(input)?;
            Box::new(BufReader::with_capacity(
                BUF,
                Unfinished {
                    inner: decoder,
                    file: file.to_string(),
                    ended: false,
                },
            ))
        }
        Encoding::Utf16 { little_endian } => Box::new(BufReader::with_capacity(
            BUF,
            Utf16 {
                input,
                little_endian,
                pending: Vec::new(),
                started: false,
            },
        )),
    })
}

/// A zstd stream whose last frame was not finished (the recorder was killed) ends where its
/// last whole block does: everything flushed is read, and the cut is told once.
struct Unfinished<R> {
    inner: R,
    file: String,
    ended: bool,
}

impl<R: Read> Read for Unfinished<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended {
            return Ok(0);
        }
        match self.inner.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.ended = true;
                tracing::warn!(
                    "{}: the compressed trace ends inside a frame (the recorder stopped \
                     without closing it); reading what it holds",
                    self.file
                );
                Ok(0)
            }
            other => other,
        }
    }
}

/// UTF-16 text re-encoded as UTF-8, a chunk at a time. Unpaired surrogates become U+FFFD.
struct Utf16<R> {
    input: R,
    little_endian: bool,
    /// UTF-8 bytes decoded but not yet handed out.
    pending: Vec<u8>,
    started: bool,
}

impl<R: BufRead> Read for Utf16<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                return Ok(0);
            }
            if chunk.len() < 2 {
                // An odd byte at the very end: nothing to decode it with.
                let n = chunk.len();
                self.input.consume(n);
                continue;
            }
            // Whole code units only; keep a high surrogate with its partner.
            let mut take = chunk.len() & !1;
            let unit = |i: usize| -> u16 {
                let pair = [chunk[i], chunk[i + 1]];
                if self.little_endian {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                }
            };
            if take >= 2 && (0xd800..0xdc00).contains(&unit(take - 2)) && take < chunk.len() {
                take -= 2;
            }
            let units: Vec<u16> = (0..take).step_by(2).map(unit).collect();
            let mut text: String = char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect();
            if !self.started {
                self.started = true;
                if let Some(rest) = text.strip_prefix('\u{feff}') {
                    text = rest.to_string();
                }
            }
            self.pending = text.into_bytes();
            self.pending.reverse();
            self.input.consume(take.max(2));
        }
        let n = buf.len().min(self.pending.len());
        for slot in buf.iter_mut().take(n) {
            // `pending` is reversed so handing bytes out is a pop.
            *slot = self.pending.pop().unwrap_or_default();
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: Vec<u8>) -> (Encoding, String) {
        let mut input = io::Cursor::new(bytes);
        let enc = sniff(&mut input).unwrap();
        let mut text = String::new();
        decode(input, enc, "t")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        (enc, text)
    }

    #[test]
    fn reads_utf16_with_and_without_a_byte_order_mark() {
        let text = "# gpu   pwr\n    0    43 °C\n";
        let mut le = vec![0xff, 0xfe];
        le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decoded(le).1, text);
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(
            decoded(be),
            (
                Encoding::Utf16 {
                    little_endian: false
                },
                text.to_string()
            )
        );
    }

    #[test]
    fn reads_zstd_and_a_stream_cut_inside_its_frame() {
        let text = "{\"a\":1}\n".repeat(1000);
        let packed = zstd::stream::encode_all(text.as_bytes(), 3).unwrap();
        assert_eq!(decoded(packed.clone()), (Encoding::Zstd, text.clone()));
        // Flushed blocks of an unfinished frame are still read.
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        io::Write::write_all(&mut enc, text.as_bytes()).unwrap();
        io::Write::flush(&mut enc).unwrap();
        let unfinished = enc.get_ref().clone();
        assert_eq!(decoded(unfinished).1, text);
        assert_eq!(
            decoded(b"plain\n".to_vec()),
            (Encoding::Plain, "plain\n".into())
        );
    }
}
