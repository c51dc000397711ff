//! Calendar arithmetic for event times, in UTC milliseconds since the Unix epoch.
//!
//! Kept here, dependency-free, because every stage and every input format needs
//! the same conversions and the hot path must not allocate to parse a timestamp.

/// Milliseconds in one minute.
pub const MINUTE_MS: i64 = 60_000;
/// Milliseconds in one hour.
pub const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in one day.
pub const DAY_MS: i64 = 86_400_000;

/// The wall clock as UTC milliseconds since the Unix epoch (0 if the clock is
/// set before 1970). Only the edges read it: stages take the processing time
/// as an argument, so their tests decide what time it is.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Epoch milliseconds for a UTC date and time, or `None` if a field is out of range.
pub fn utc_ms(year: i64, month: u32, day: u32, h: u32, mi: u32, s: u32, ms: u32) -> Option<i64> {
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || h > 23
        || mi > 59
        || s > 60
        || ms > 999
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400
        + i64::from(h) * 3600
        + i64::from(mi) * 60
        + i64::from(s);
    Some(secs * 1000 + i64::from(ms))
}

/// Formats epoch milliseconds as RFC 3339 UTC: `2018-03-10T14:03:15Z`, with
/// `.sss` only when the milliseconds are not zero.
pub fn format_rfc3339(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, frac) = (
        rem / HOUR_MS,
        rem / MINUTE_MS % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    if frac == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:03}Z")
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    s.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Parses an RFC 3339 / ISO 8601 timestamp (`2021-09-22T14:03:15.000Z`,
/// `2015-02-24T11:35:52-08:00`, or with a space instead of `T`) to epoch ms.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let year = i64::from(digits(b, 0, 4)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (month, day) = (digits(b, 5, 2)?, digits(b, 8, 2)?);
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let (h, mi) = (digits(b, 11, 2)?, digits(b, 14, 2)?);
    let mut i = 16;
    let mut sec = 0;
    if b.get(i) == Some(&b':') {
        sec = digits(b, 17, 2)?;
        i = 19;
    }
    let mut ms = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                ms = ms * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            ms *= 10;
        }
    }
    let offset_min: i64 = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        None => 0,
        Some(&c @ (b'+' | b'-')) => {
            let oh = i64::from(digits(b, i + 1, 2)?);
            let om = match b.get(i + 3) {
                Some(b':') => digits(b, i + 4, 2)?,
                _ => digits(b, i + 3, 2)?,
            };
            let end = if b.get(i + 3) == Some(&b':') {
                i + 6
            } else {
                i + 5
            };
            if end != b.len() {
                return None;
            }
            let off = oh * 60 + i64::from(om);
            if c == b'-' { -off } else { off }
        }
        _ => return None,
    };
    Some(utc_ms(year, month, day, h, mi, sec, ms)? - offset_min * MINUTE_MS)
}

/// Floors `ms` to a multiple of `len_ms` (window start), also for negative times.
pub fn floor_to(ms: i64, len_ms: i64) -> i64 {
    ms.div_euclid(len_ms) * len_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for d in [-800_000, -1, 0, 1, 11_016, 17_600, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn rfc3339_parse_and_format() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        let t = parse_rfc3339("2018-03-10T14:03:15.123Z").unwrap();
        assert_eq!(format_rfc3339(t), "2018-03-10T14:03:15.123Z");
        assert_eq!(
            parse_rfc3339("2015-02-24 11:35:52 -0800"),
            None,
            "space before the offset is not RFC 3339"
        );
        assert_eq!(
            parse_rfc3339("2015-02-24T11:35:52-08:00"),
            parse_rfc3339("2015-02-24T19:35:52Z")
        );
        assert_eq!(parse_rfc3339("2015-02-30T00:00:00Z"), None);
        assert_eq!(
            parse_rfc3339("2016-02-29T00:00:00Z")
                .map(format_rfc3339)
                .as_deref(),
            Some("2016-02-29T00:00:00Z")
        );
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn floor_handles_negatives() {
        assert_eq!(floor_to(299_999, 300_000), 0);
        assert_eq!(floor_to(-1, 300_000), -300_000);
    }
}
