//! CPython 3.12 string semantics the reference relies on: `str.split()` /
//! `str.strip()` whitespace, `string.punctuation` and `str.isupper()`.

use crate::unicode_tables::{CASE_RANGES, SPACES};

const WS: u8 = 1;
const PUNCT: u8 = 2;
const UPPER: u8 = 4;
const LOWER: u8 = 8;

/// Per-byte classes for ASCII; non-ASCII bytes are 0.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    // CPython's ASCII whitespace includes the separators \x1c..\x1f.
    let ws = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f ";
    let mut i = 0;
    while i < ws.len() {
        t[ws[i] as usize] = WS;
        i += 1;
    }
    let p = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    let mut i = 0;
    while i < p.len() {
        t[p[i] as usize] = PUNCT;
        i += 1;
    }
    let mut c = b'A';
    while c <= b'Z' {
        t[c as usize] = UPPER;
        t[(c + 32) as usize] = LOWER;
        c += 1;
    }
    t
};

/// Whether an ASCII byte is Python whitespace.
#[inline]
pub(crate) fn is_ascii_space(b: u8) -> bool {
    CLASS[b as usize] & WS != 0
}

/// Whether a byte is in `string.punctuation`.
#[inline]
pub(crate) fn is_punct(b: u8) -> bool {
    CLASS[b as usize] & PUNCT != 0
}

/// Class bits of an ASCII byte.
#[inline]
pub(crate) fn class(b: u8) -> u8 {
    CLASS[b as usize]
}

/// 0x20 for an uppercase letter's class, else 0: OR it in to lowercase.
#[inline]
pub(crate) fn to_lower_bit(class: u8) -> u8 {
    (class & UPPER) << 3
}

/// `isupper()` from the OR of a token's byte classes.
#[inline]
pub(crate) fn class_is_upper(or: u8) -> bool {
    or & (UPPER | LOWER) == UPPER
}

/// Whether the OR of a token's byte classes includes punctuation.
#[inline]
pub(crate) fn class_has_punct(or: u8) -> bool {
    or & PUNCT != 0
}

#[inline]
pub(crate) fn is_ascii_upper(b: u8) -> bool {
    CLASS[b as usize] & UPPER != 0
}

#[inline]
pub(crate) fn is_ascii_lower(b: u8) -> bool {
    CLASS[b as usize] & LOWER != 0
}

/// `str.isspace()` for one char.
#[inline]
pub(crate) fn is_py_space(c: char) -> bool {
    if c.is_ascii() {
        is_ascii_space(c as u8)
    } else {
        SPACES.binary_search(&(c as u32)).is_ok()
    }
}

/// `str.strip()` without arguments.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Case class of a non-ASCII char: 0 caseless, 1 uppercase, 2 lowercase or titlecase.
#[inline]
pub(crate) fn case_class(c: char) -> u8 {
    let c = c as u32;
    match CASE_RANGES.binary_search_by(|&(lo, hi, _)| {
        if hi < c {
            std::cmp::Ordering::Less
        } else if lo > c {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    }) {
        Ok(i) => CASE_RANGES[i].2,
        Err(_) => 0,
    }
}

/// `token.strip(string.punctuation)` as a byte range, then the reference's
/// rule: if fewer than three chars remain, the token is kept unstripped.
#[inline]
pub(crate) fn strip_punct_if_word(tok: &[u8], ascii: bool) -> &[u8] {
    let (mut s, mut e) = (0, tok.len());
    while s < e && is_punct(tok[s]) {
        s += 1;
    }
    while e > s && is_punct(tok[e - 1]) {
        e -= 1;
    }
    let inner = &tok[s..e];
    let chars = if ascii {
        inner.len()
    } else if inner.len() <= 2 {
        // Fewer bytes than 3 means fewer chars than 3.
        inner.len()
    } else {
        // Count UTF-8 lead bytes; punctuation is ASCII, so the range lies on
        // char boundaries.
        inner
            .iter()
            .filter(|&&b| (b as i8) >= -0x40)
            .take(3)
            .count()
    };
    if chars <= 2 { tok } else { inner }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_matches_python() {
        for c in [
            '\x1c', '\x1f', '\u{85}', '\u{a0}', '\u{2000}', '\u{3000}', '\u{205f}',
        ] {
            assert!(is_py_space(c), "{c:?}");
        }
        // Zero-width space and MONGOLIAN VOWEL SEPARATOR are not whitespace in 3.12.
        for c in ['\u{200b}', '\u{180e}', 'a', '\u{feff}'] {
            assert!(!is_py_space(c), "{c:?}");
        }
    }

    #[test]
    fn punctuation_strip_keeps_short_remainders() {
        assert_eq!(strip_punct_if_word(b":)", true), b":)");
        assert_eq!(strip_punct_if_word(b"(ok)", true), b"(ok)");
        assert_eq!(strip_punct_if_word(b"(yes)!", true), b"yes");
        assert_eq!(
            strip_punct_if_word("«é»".as_bytes(), false),
            "«é»".as_bytes()
        );
        // Two chars of four bytes: still "two or fewer characters".
        assert_eq!(
            strip_punct_if_word("..éé..".as_bytes(), false),
            "..éé..".as_bytes()
        );
        assert_eq!(
            strip_punct_if_word("..ééé..".as_bytes(), false),
            "ééé".as_bytes()
        );
    }

    #[test]
    fn case_classes() {
        assert_eq!(case_class('É'), 1);
        assert_eq!(case_class('é'), 2);
        // Titlecase digraph: disqualifies isupper() like a lowercase letter.
        assert_eq!(case_class('ǅ'), 2);
        assert_eq!(case_class('😀'), 0);
        assert_eq!(case_class('\u{212a}'), 1);
    }
}
