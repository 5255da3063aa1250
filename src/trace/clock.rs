//! Wall-clock timestamps as traces write them, without a date library.
//!
//! nvidia-smi prints `YYYY/MM/DD HH:MM:SS.mmm` in the recording machine's local time and no
//! zone. gpuwarden reads that clock as if it were UTC and prints it back the same way, so the
//! replay timeline shows exactly the times that are in the file. Wrapper scripts add their own
//! stamps: ISO-8601 from `date -Iseconds` (`2024-01-15T10:23:45+01:00`, an offset is applied
//! so the time is UTC), Unix epoch seconds or milliseconds from `date +%s`, and the table
//! header `Mon Jan 15 10:23:45 2024` of plain `nvidia-smi`.

use crate::gpu::UnixMs;

/// Parses `YYYY/MM/DD HH:MM:SS[.fff]` (also `-` between date parts, `T` before the time,
/// and an ISO-8601 zone after it: `Z`, `+01:00`, `-0500`), or Unix epoch seconds
/// (`1705314225`, `1705314225.123`) or milliseconds (`1705314225123`).
pub fn parse_timestamp(s: &str) -> Option<UnixMs> {
    let s = s.trim();
    if let Some(ms) = parse_epoch(s) {
        return Some(ms);
    }
    let (local, offset_s) = split_zone(s)?;
    let ms = parse_local(local)?;
    let ms = ms as i64 - offset_s * 1000;
    u64::try_from(ms).ok()
}

/// Epoch seconds (9 to 11 digits, optional fraction) or milliseconds (12 to 14 digits):
/// the range 1973 to 5138, so a small number (an index, a temperature) is never a time.
fn parse_epoch(s: &str) -> Option<UnixMs> {
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (s, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = whole.parse().ok()?;
    match (whole.len(), frac) {
        (9..=11, None) => n.checked_mul(1000),
        (9..=11, Some(f))
            if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let mut ms = 0u64;
            for i in 0..3 {
                ms = ms * 10 + f.as_bytes().get(i).map_or(0, |d| u64::from(d - b'0'));
            }
            n.checked_mul(1000)?.checked_add(ms)
        }
        (12..=14, None) => Some(n),
        _ => None,
    }
}

/// Splits an ISO-8601 zone off the end: `Z` or `±HH[:MM]` after the seconds (or their
/// fraction). Returns the local part and the zone's offset east of UTC in seconds.
fn split_zone(s: &str) -> Option<(&str, i64)> {
    if let Some(local) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return Some((local, 0));
    }
    // A sign after position 19 (past `YYYY-MM-DD HH:MM:SS`) starts a zone.
    let at = s.get(19..)?.find(['+', '-']).map(|i| i + 19);
    let Some(at) = at else {
        return Some((s, 0));
    };
    let (local, zone) = s.split_at(at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = match &digits[2..] {
        "" => 0,
        m => m.parse().ok()?,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((local, sign * (hours * 3600 + minutes * 60)))
}

/// `Mon Jan 15 10:23:45 2024`, the first line of plain `nvidia-smi` (and of `date` without a
/// zone, or with one: `Mon Jan 15 10:23:45 UTC 2024`, whose zone is not applied).
pub fn parse_ctime(s: &str) -> Option<UnixMs> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let parts: Vec<&str> = s.split_whitespace().collect();
    let (day_name, month, day, time, year) = match parts.as_slice() {
        [d, m, n, t, y] | [d, m, n, t, _, y] => (*d, *m, *n, *t, *y),
        _ => return None,
    };
    if !DAYS.contains(&day_name) {
        return None;
    }
    let month = MONTHS.iter().position(|m| *m == month)? + 1;
    let day: u32 = day.parse().ok()?;
    let year: u32 = year.parse().ok()?;
    parse_local(&format!("{year:04}-{month:02}-{day:02} {time}"))
}

/// `YYYY/MM/DD HH:MM:SS[.fff]` read as UTC.
fn parse_local(s: &str) -> Option<UnixMs> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
    };
    let date_sep = b[4];
    if !matches!(date_sep, b'/' | b'-') || b[7] != date_sep || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let millis = match b.get(19) {
        None => 0,
        Some(b'.') => {
            let frac = b.get(20..)?;
            if frac.is_empty() || frac.len() > 9 || !frac.iter().all(u8::is_ascii_digit) {
                return None;
            }
            // Keep milliseconds: pad or cut the fraction to three digits.
            let mut ms = 0u64;
            for i in 0..3 {
                ms = ms * 10 + frac.get(i).map_or(0, |d| u64::from(d - b'0'));
            }
            ms
        }
        Some(_) => return None,
    };
    let days = days_from_civil(year as i64, month as u32, day as u32);
    let secs = days as u64 * 86_400 + hour * 3600 + minute * 60 + second;
    Some(secs * 1000 + millis)
}

/// Formats ms since the epoch as `YYYY-MM-DD HH:MM:SS.mmm` (the clock of the trace).
pub fn format_timestamp(ms: UnixMs) -> String {
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        t / 3600,
        t / 60 % 60,
        t % 60,
        ms % 1000
    )
}

/// Formats ms the way nvidia-smi writes its `timestamp` column.
pub fn format_nvidia_smi(ms: UnixMs) -> String {
    format_timestamp(ms).replacen('-', "/", 2)
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_nvidia_smi_timestamp() {
        // 2024-01-15T10:23:45.123Z
        assert_eq!(
            parse_timestamp("2024/01/15 10:23:45.123"),
            Some(1_705_314_225_123)
        );
        assert_eq!(
            parse_timestamp("2024-01-15T10:23:45"),
            Some(1_705_314_225_000)
        );
        assert_eq!(
            parse_timestamp("2024/01/15 10:23:45.5"),
            Some(1_705_314_225_500)
        );
        assert_eq!(parse_timestamp("2024/13/15 10:23:45.123"), None);
        assert_eq!(parse_timestamp("2024/01/15 10:23"), None);
        assert_eq!(parse_timestamp("2024/01/15 10:23:45.12x"), None);
    }

    #[test]
    fn reads_wrapper_script_timestamps() {
        let t = 1_705_314_225_000; // 2024-01-15T10:23:45Z
        assert_eq!(parse_timestamp("2024-01-15T10:23:45Z"), Some(t));
        assert_eq!(parse_timestamp("2024-01-15T11:23:45+01:00"), Some(t));
        assert_eq!(
            parse_timestamp("2024-01-15T05:23:45.250-0500"),
            Some(t + 250)
        );
        assert_eq!(parse_timestamp("2024-01-15 10:23:45+00"), Some(t));
        assert_eq!(parse_timestamp("1705314225"), Some(t));
        assert_eq!(parse_timestamp("1705314225.5"), Some(t + 500));
        assert_eq!(parse_timestamp("1705314225123"), Some(t + 123));
        assert_eq!(parse_timestamp("2024-01-15T10:23:45+25:00"), None);
        assert_eq!(parse_timestamp("72"), None);
        assert_eq!(parse_timestamp("2024-01-15T10:23:45+01:00x"), None);
        assert_eq!(parse_ctime("Mon Jan 15 10:23:45 2024"), Some(t));
        assert_eq!(parse_ctime("Mon Jan 15 10:23:45 UTC 2024"), Some(t));
        assert_eq!(parse_ctime("Mon Foo 15 10:23:45 2024"), None);
    }

    #[test]
    fn formats_back_what_it_read() {
        for ms in [0, 1_705_314_225_123, 951_782_400_000, 4_102_444_799_999] {
            let s = format_nvidia_smi(ms);
            assert_eq!(parse_timestamp(&s), Some(ms), "{s}");
        }
        assert_eq!(
            format_timestamp(1_705_314_225_123),
            "2024-01-15 10:23:45.123"
        );
    }
}
