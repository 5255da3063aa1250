//! Tells a trace's format from its first lines, and says what a file that is none of them
//! looks like, with the formats that are read, in one message.

use super::{TraceFormat, compact, dmon, nvsmi, table};

/// Every format read, for messages.
pub const SUPPORTED: &str = "gpuwarden reads its own traces (`gpuwarden record`: .jsonl, \
    .jsonl.zst), nvidia-smi --query-gpu CSV logs (with their header, or noheader with \
    --columns), nvidia-smi dmon and pmon logs (with or without -o DT), and the plain \
    nvidia-smi table printed in a loop; as plain text, zstd-compressed or UTF-16";

/// How many lines are looked at before deciding.
const LOOKED_AT: usize = 40;

/// The format of a trace whose decoded text starts with `head`, or what it looks like when it
/// is none that is read. `columns_given` makes unrecognised text a headerless CSV.
pub fn format(head: &[u8], columns_given: bool) -> Result<TraceFormat, String> {
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        return Ok(if compact::is_compact(head) {
            TraceFormat::Compact
        } else {
            TraceFormat::JsonLines
        });
    }
    if first.is_none() || columns_given {
        return Ok(TraceFormat::NvidiaSmiCsv);
    }
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first_line = lines.clone().next().unwrap_or_default().to_string();
    for line in lines.by_ref().take(LOOKED_AT) {
        if dmon::is_header(line) {
            return Ok(if dmon::is_pmon(line) {
                TraceFormat::NvidiaSmiPmon
            } else {
                TraceFormat::NvidiaSmiDmon
            });
        }
        if table::is_table_line(line) {
            return Ok(TraceFormat::NvidiaSmiTable);
        }
        let cells = line.split(',').map(str::trim);
        if nvsmi::columns::is_header(cells) || line.contains(',') {
            return Ok(TraceFormat::NvidiaSmiCsv);
        }
    }
    Err(format!("{}; {SUPPORTED}", looks_like(head, &first_line)))
}

/// What a file that is no trace looks like, in a few words.
pub fn looks_like(head: &[u8], first_line: &str) -> String {
    match head {
        [0x1f, 0x8b, ..] => return "it is gzip-compressed: gunzip it first".into(),
        [b'P', b'K', 3, 4, ..] => return "it is a zip archive: unzip it first".into(),
        [b'B', b'Z', b'h', ..] => return "it is bzip2-compressed: bunzip2 it first".into(),
        [0xfd, b'7', b'z', b'X', b'Z', ..] => return "it is xz-compressed: unxz it first".into(),
        _ => {}
    }
    let binary = head
        .iter()
        .take(512)
        .filter(|b| **b == 0 || (**b < 0x20 && !b.is_ascii_whitespace()))
        .count();
    if binary > 0 {
        let start: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return format!(
            "it is binary data (starting {}), not a text log",
            start.join(" ")
        );
    }
    let mut shown: String = first_line.chars().take(80).collect();
    if shown.len() < first_line.len() {
        shown.push('…');
    }
    format!("it is text that is no known trace, starting {shown:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_every_format_from_its_first_lines() {
        let f = |s: &str| format(s.as_bytes(), false);
        assert_eq!(f("{\"schema\":1}"), Ok(TraceFormat::JsonLines));
        assert_eq!(f("{\"snapshot\":{}}"), Ok(TraceFormat::Compact));
        assert_eq!(
            f("timestamp, index, temperature.gpu\n"),
            Ok(TraceFormat::NvidiaSmiCsv)
        );
        assert_eq!(f("0, 45\n"), Ok(TraceFormat::NvidiaSmiCsv));
        assert_eq!(
            f("# gpu   pwr gtemp\n# Idx W C\n"),
            Ok(TraceFormat::NvidiaSmiDmon)
        );
        assert_eq!(
            f("#Date Time gpu pid type sm\n"),
            Ok(TraceFormat::NvidiaSmiPmon)
        );
        assert_eq!(
            f("Mon Jan 15 10:00:00 2024\n+----+\n| NVIDIA-SMI 535.104.05  Driver Version: 1 |\n"),
            Ok(TraceFormat::NvidiaSmiTable)
        );
        assert_eq!(f(""), Ok(TraceFormat::NvidiaSmiCsv));
        assert_eq!(format(b"0 45\n", true), Ok(TraceFormat::NvidiaSmiCsv));
    }

    #[test]
    fn says_what_an_unknown_file_looks_like_and_what_is_read() {
        let err = format(b"hello world\nmore\n", false).unwrap_err();
        assert!(
            err.starts_with(
                "it is text that is no known trace, starting \"hello world\"; gpuwarden reads"
            ),
            "{err}"
        );
        assert!(err.contains("dmon") && err.contains("UTF-16"), "{err}");
        let gz = format(&[0x1f, 0x8b, 8, 0, 0, 0], false).unwrap_err();
        assert!(gz.starts_with("it is gzip-compressed"), "{gz}");
        let bin = format(&[7, 1, 2, 3], false).unwrap_err();
        assert!(
            bin.starts_with("it is binary data (starting 07 01 02 03)"),
            "{bin}"
        );
    }
}
