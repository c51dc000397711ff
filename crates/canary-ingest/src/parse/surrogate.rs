//! Lone UTF-16 surrogates in `\u` escapes.
//!
//! `"\ud83d oops"` is valid JSON (RFC 8259 allows any `\uXXXX`), and Python
//! writes it when a post was cut inside an emoji's surrogate pair. Python's
//! `json` keeps the surrogate in its `str`; Rust strings cannot hold one, and
//! serde_json refuses the line. canary reads such a string as Python does but
//! with U+FFFD in place of each lone surrogate, which VADER treats exactly as
//! the reference treats the surrogate (neither is a space, a cased letter or
//! a lexicon entry).

/// The escape that replaces a lone surrogate's, of the same length so that
/// byte offsets in the line do not move.
const REPLACEMENT: &[u8; 6] = b"\\ufffd";

/// The code unit of the `\uXXXX` escape at `i`, if there is one.
fn escape_at(b: &[u8], i: usize) -> Option<u32> {
    let d = b.get(i..i + 6)?;
    if d[0] != b'\\' || d[1] != b'u' {
        return None;
    }
    d[2..]
        .iter()
        .try_fold(0u32, |acc, &c| Some(acc << 4 | (c as char).to_digit(16)?))
}

/// How a `\u` escape at `i` reads: a pair (12 bytes), a lone surrogate
/// (6 bytes) or anything else, left to the JSON parser.
pub(super) enum Unit {
    Pair(char),
    Lone,
    Other,
}

/// Classifies the `\uXXXX` escape at `i` whose code unit is `hi`.
pub(super) fn unit(b: &[u8], i: usize, hi: u32) -> Unit {
    match hi {
        0xd800..=0xdbff => match escape_at(b, i + 6) {
            Some(lo @ 0xdc00..=0xdfff) => {
                let c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                char::from_u32(c).map_or(Unit::Other, Unit::Pair)
            }
            _ => Unit::Lone,
        },
        0xdc00..=0xdfff => Unit::Lone,
        _ => Unit::Other,
    }
}

/// `t` with every lone surrogate escape replaced by `\ufffd`, or `None`
/// when it holds none. Backslashes outside strings are a syntax error the
/// parser reports anyway, so the line is scanned without tracking strings.
pub fn replace_lone_surrogates(t: &str) -> Option<String> {
    let b = t.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'\\', &b[i..]) {
        i += off;
        let Some(hi) = escape_at(b, i) else {
            // Another escape: skip the escaped byte, which may be a backslash.
            i = (i + 2).min(b.len());
            continue;
        };
        match unit(b, i, hi) {
            Unit::Pair(_) => i += 12,
            Unit::Other => i += 6,
            Unit::Lone => {
                out.get_or_insert_with(|| b.to_vec())[i..i + 6].copy_from_slice(REPLACEMENT);
                i += 6;
            }
        }
    }
    // Only ASCII escapes were replaced by ASCII: still valid UTF-8.
    out.map(|v| String::from_utf8(v).expect("ASCII replaced by ASCII"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_become_replacement_escapes() {
        for (line, want) in [
            (
                r#"{"text":"\ud83d oops"}"#,
                Some(r#"{"text":"\ufffd oops"}"#),
            ),
            (r#"{"text":"\ude02"}"#, Some(r#"{"text":"\ufffd"}"#)),
            (r#"{"t":"\ud83d\u0041"}"#, Some(r#"{"t":"\ufffd\u0041"}"#)),
            (
                r#"{"t":"\ud83d\ud83d\ude02\ude02"}"#,
                Some(r#"{"t":"\ufffd\ud83d\ude02\ufffd"}"#),
            ),
            (r#"{"t":"\ud83d\ude02 pair"}"#, None),
            // An escaped backslash before "ud83d" is no escape.
            (r#"{"t":"\\ud83d"}"#, None),
            (r#"{"t":"\\\ud83d"}"#, Some(r#"{"t":"\\\ufffd"}"#)),
            (r#"{"t":"\u12"}"#, None),
            ("\\", None),
        ] {
            assert_eq!(replace_lone_surrogates(line).as_deref(), want, "{line}");
        }
    }

    #[test]
    fn the_result_reads_as_python_reads_the_line() {
        // Python: json.loads('"a\\ud83d b\\ude02\\ud83d\\ude02"') keeps the
        // lone lead, then reads the pair.
        let fixed = replace_lone_surrogates(r#""a\ud83d b\ude02\ud83d\ude02""#).unwrap();
        let s: String = serde_json::from_str(&fixed).unwrap();
        assert_eq!(s, "a\u{fffd} b\u{fffd}😂");
    }
}
