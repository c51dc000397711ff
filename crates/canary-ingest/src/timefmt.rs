//! Timestamp formats found in tweet dumps, parsed to UTC epoch milliseconds.
//!
//! Kept in this crate because they are format quirks of the sources (the
//! v1.1 `created_at` layout, CSV exports with a space before the offset),
//! not calendar logic every stage needs.

use canary_core::time::{MINUTE_MS, parse_rfc3339, utc_ms};

/// How a CSV time column is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TimeFormat {
    /// Try, in order: the v1.1 layout, RFC 3339, `YYYY-MM-DD HH:MM:SS ±hhmm`,
    /// and bare epoch digits (10 digits or fewer: seconds, more: milliseconds).
    #[default]
    Auto,
    /// v1.1 `created_at`: `Wed Oct 10 20:19:24 +0000 2018`.
    Twitter,
    /// RFC 3339 / ISO 8601 (`2021-09-22T14:03:15.000Z`); a space may stand
    /// for the `T` and before the offset (`2015-02-24 11:35:52 -0800`).
    Rfc3339,
    /// Seconds since the Unix epoch (a fraction is allowed).
    EpochSeconds,
    /// Milliseconds since the Unix epoch.
    EpochMillis,
}

impl std::str::FromStr for TimeFormat {
    type Err = String;
    /// `auto`, `twitter`, `rfc3339` (or `iso8601`), `epoch-seconds` (or
    /// `epoch-s`), `epoch-millis` (or `epoch-ms`).
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => TimeFormat::Auto,
            "twitter" => TimeFormat::Twitter,
            "rfc3339" | "iso8601" => TimeFormat::Rfc3339,
            "epoch-seconds" | "epoch-s" => TimeFormat::EpochSeconds,
            "epoch-millis" | "epoch-ms" => TimeFormat::EpochMillis,
            _ => {
                return Err(format!(
                    "unknown time format {s:?} (auto, twitter, rfc3339, epoch-seconds, epoch-millis)"
                ));
            }
        })
    }
}

impl TimeFormat {
    /// Parses `s` in this format to UTC epoch milliseconds.
    pub fn parse(self, s: &str) -> Option<i64> {
        let s = s.trim();
        match self {
            TimeFormat::Auto => parse_any(s),
            TimeFormat::Twitter => parse_twitter(s),
            TimeFormat::Rfc3339 => parse_iso_loose(s),
            TimeFormat::EpochSeconds => parse_epoch_secs(s),
            TimeFormat::EpochMillis => parse_digits_i64(s),
        }
    }
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses the v1.1 `created_at` layout, `Wed Oct 10 20:19:24 +0000 2018`.
///
/// Fields are split on whitespace rather than read at fixed columns so that
/// a single-digit day or doubled spaces from a re-export still parse.
pub fn parse_twitter(s: &str) -> Option<i64> {
    let mut it = s.split_ascii_whitespace();
    let _dow = it.next()?;
    let mon = it.next()?.as_bytes();
    let day = num(it.next()?)?;
    let hms = it.next()?;
    let off = it.next()?;
    let year = num(it.next()?)?;
    if it.next().is_some() {
        return None;
    }
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(mon))
        .map(|i| i as u32 + 1)?;
    let mut t = hms.split(':');
    let (h, mi, sec) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    if t.next().is_some() {
        return None;
    }
    let off_min = parse_offset(off)?;
    Some(utc_ms(i64::from(year), month, day, h, mi, sec, 0)? - off_min * MINUTE_MS)
}

/// `+hhmm`, `-hhmm`, `+hh:mm` or `Z` to minutes east of UTC.
fn parse_offset(s: &str) -> Option<i64> {
    if s == "Z" || s == "z" || s == "UTC" || s == "GMT" {
        return Some(0);
    }
    let b = s.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &s[1..];
    let (h, m) = match rest.len() {
        4 => (&rest[..2], &rest[2..]),
        5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
        _ => return None,
    };
    let (h, m) = (num(h)?, num(m)?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * i64::from(h * 60 + m))
}

/// RFC 3339, also with a space before the offset (`2015-02-24 11:35:52 -0800`).
fn parse_iso_loose(s: &str) -> Option<i64> {
    if let Some(t) = parse_rfc3339(s) {
        return Some(t);
    }
    let (head, off) = s.rsplit_once(' ')?;
    let off_min = parse_offset(off)?;
    let local = parse_rfc3339(head.trim_end())?;
    if head.trim_end().len() < 16 || head.ends_with('Z') {
        return None;
    }
    // `parse_rfc3339` takes a zone-less time as UTC; shift by the offset given apart.
    Some(local - off_min * MINUTE_MS)
}

fn parse_digits_i64(s: &str) -> Option<i64> {
    let (neg, d) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    if d.is_empty() || d.len() > 18 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = d.parse().ok()?;
    Some(if neg { -v } else { v })
}

fn parse_epoch_secs(s: &str) -> Option<i64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs = parse_digits_i64(whole)?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut ms = 0i64;
    for (i, b) in frac.bytes().take(3).enumerate() {
        ms += i64::from(b - b'0') * [100, 10, 1][i];
    }
    secs.checked_mul(1000)?
        .checked_add(if secs < 0 { -ms } else { ms })
}

fn parse_any(s: &str) -> Option<i64> {
    match s.as_bytes().first()? {
        b'A'..=b'Z' | b'a'..=b'z' => parse_twitter(s),
        _ if s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()) => parse_epoch_secs(s),
        _ if s.bytes().all(|b| b.is_ascii_digit()) => parse_digits_i64(s),
        _ => parse_iso_loose(s),
    }
}

/// Parses the `created_at` of any JSON shape: the v1.1 layout or ISO 8601.
pub fn parse_created_at(s: &str) -> Option<i64> {
    let s = s.trim();
    match s.as_bytes().first()? {
        b'A'..=b'Z' | b'a'..=b'z' => parse_twitter(s),
        _ => parse_iso_loose(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format_names_and_aliases_parse() {
        for (name, f) in [
            ("auto", TimeFormat::Auto),
            ("twitter", TimeFormat::Twitter),
            ("rfc3339", TimeFormat::Rfc3339),
            ("iso8601", TimeFormat::Rfc3339),
            ("epoch-seconds", TimeFormat::EpochSeconds),
            ("epoch-s", TimeFormat::EpochSeconds),
            ("epoch-millis", TimeFormat::EpochMillis),
            ("epoch-ms", TimeFormat::EpochMillis),
        ] {
            assert_eq!(name.parse::<TimeFormat>(), Ok(f), "{name}");
        }
        let e = "weekly".parse::<TimeFormat>().unwrap_err();
        assert!(
            e.contains("unknown time format \"weekly\"") && e.contains("epoch-millis"),
            "{e}"
        );
        assert!(
            "Twitter".parse::<TimeFormat>().is_err(),
            "names are lower case"
        );
    }

    #[test]
    fn twitter_layout() {
        let t = parse_twitter("Wed Oct 10 20:19:24 +0000 2018").unwrap();
        assert_eq!(canary_core::time::format_rfc3339(t), "2018-10-10T20:19:24Z");
        assert_eq!(
            parse_twitter("Wed Oct 10 12:19:24 -0800 2018"),
            Some(t),
            "offsets are applied"
        );
        assert_eq!(parse_twitter("Wed Foo 10 20:19:24 +0000 2018"), None);
        assert_eq!(parse_twitter("Wed Oct 32 20:19:24 +0000 2018"), None);
        assert_eq!(parse_twitter("Wed Oct 10 20:19 +0000 2018"), None);
        assert_eq!(parse_twitter("Wed Oct 10 20:19:24 0000 2018"), None);
        assert_eq!(parse_twitter(""), None);
    }

    #[test]
    fn csv_style_offsets() {
        let a = TimeFormat::Auto.parse("2015-02-24 11:35:52 -0800").unwrap();
        assert_eq!(canary_core::time::format_rfc3339(a), "2015-02-24T19:35:52Z");
        assert_eq!(
            TimeFormat::Rfc3339.parse("2015-02-24 11:35:52 -0800"),
            Some(a)
        );
        assert_eq!(TimeFormat::Auto.parse("2015-02-24T19:35:52Z"), Some(a));
        assert_eq!(TimeFormat::Auto.parse("2015-02-24 19:35:52"), Some(a));
        assert_eq!(TimeFormat::Auto.parse("1424806552"), Some(a));
        assert_eq!(TimeFormat::Auto.parse("1424806552000"), Some(a));
        assert_eq!(
            TimeFormat::EpochSeconds.parse("1424806552.25"),
            Some(a + 250)
        );
        assert_eq!(TimeFormat::Auto.parse("2015-02-24 11:35:52 -08"), None);
        assert_eq!(TimeFormat::Auto.parse("yesterday"), None);
    }
}
