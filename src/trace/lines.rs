//! Reads a trace one line at a time with a fixed cap on line length, so memory stays bounded
//! whatever the file holds (a 2 GB file without a newline included).
//!
//! Strips `\n` and `\r\n`, counts lines from 1, and says whether a line ended with a newline:
//! the last line of a trace whose recorder was killed mid-write has none.

use std::io::{self, BufRead};

/// Lines longer than this are skipped as malformed (no real trace line comes close).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One line as read.
#[derive(Debug)]
pub enum Line<'a> {
    Text {
        text: &'a str,
        /// `false` for a last line that the file ends in the middle of.
        terminated: bool,
    },
    TooLong,
    NotUtf8,
}

/// A line reader over any buffered input.
pub struct LineReader<R> {
    input: R,
    buf: Vec<u8>,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(input: R) -> Self {
        LineReader {
            input,
            buf: Vec::with_capacity(256),
            number: 0,
        }
    }

    /// The number of the line most recently returned (1-based).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The next line, or `None` at the end of the input.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let mut too_long = false;
        let mut terminated = false;
        let mut read_any = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            read_any = true;
            let (take, found) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if self.buf.len() + take > MAX_LINE_BYTES {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.input.consume(take + usize::from(found));
            if found {
                terminated = true;
                break;
            }
        }
        if !read_any {
            return Ok(None);
        }
        self.number += 1;
        if too_long {
            return Ok(Some(Line::TooLong));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        match std::str::from_utf8(&self.buf) {
            Ok(text) => Ok(Some(Line::Text { text, terminated })),
            Err(_) => Ok(Some(Line::NotUtf8)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<String> {
        let mut r = LineReader::new(io::BufReader::with_capacity(4, input));
        let mut out = Vec::new();
        while let Some(line) = r.next_line().unwrap() {
            let s = match line {
                Line::Text { text, terminated } => format!("{text}:{terminated}"),
                Line::TooLong => "too long".to_string(),
                Line::NotUtf8 => "not utf-8".to_string(),
            };
            out.push(format!("{}:{s}", r.number));
        }
        out
    }

    #[test]
    fn splits_crlf_and_marks_an_unterminated_last_line() {
        assert_eq!(
            all(b"a,b\r\n\r\nc\nd"),
            ["1:a,b:true", "2::true", "3:c:true", "4:d:false"]
        );
        assert!(all(b"").is_empty());
        assert_eq!(all(b"\xff\xfe\nok\n"), ["1:not utf-8", "2:ok:true"]);
    }

    #[test]
    fn skips_a_line_longer_than_the_cap_without_keeping_it() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\nnext\n");
        assert_eq!(all(&input), ["1:too long", "2:next:true"]);
    }
}
