//! Durations in config files: `"300ms"`, `"30s"`, `"5m"`, `"6h"`, `"7d"`, or
//! combinations like `"1h30m"`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A span of time in milliseconds, written in config as `"5m"`, `"2h30m"`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub i64);

impl Span {
    /// Milliseconds.
    pub const fn ms(self) -> i64 {
        self.0
    }
    /// From minutes.
    pub const fn minutes(m: i64) -> Span {
        Span(m * 60_000)
    }
    /// From seconds.
    pub const fn seconds(s: i64) -> Span {
        Span(s * 1000)
    }
    /// From hours.
    pub const fn hours(h: i64) -> Span {
        Span(h * 3_600_000)
    }
}

/// Parses `"5m"`, `"1h30m"`, `"250ms"`, `"0s"`.
pub fn parse_span(s: &str) -> Result<Span, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let b = t.as_bytes();
    let (mut i, mut total) = (0usize, 0i64);
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(format!(
                "invalid duration {s:?}: expected a number at {:?}",
                &t[i..]
            ));
        }
        let n: i64 = t[start..i]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let mult = match &t[ustart..i] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!(
                    "invalid duration {s:?}: missing unit (ms, s, m, h, d)"
                ));
            }
            u => {
                return Err(format!(
                    "invalid duration {s:?}: unknown unit {u:?} (ms, s, m, h, d)"
                ));
            }
        };
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {s:?} is too large"))?;
    }
    Ok(Span(total))
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, len) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
            ("ms", 1),
        ] {
            if ms >= len {
                write!(f, "{}{unit}", ms / len)?;
                ms %= len;
            }
        }
        Ok(())
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_span(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(parse_span("5m"), Ok(Span(300_000)));
        assert_eq!(parse_span("1h30m"), Ok(Span(5_400_000)));
        assert_eq!(parse_span("250ms"), Ok(Span(250)));
        assert!(parse_span("5").is_err());
        assert!(parse_span("5 minutes").is_err());
        assert!(parse_span("").is_err());
        assert_eq!(Span(5_400_000).to_string(), "1h30m");
        assert_eq!(Span(0).to_string(), "0s");
    }
}
