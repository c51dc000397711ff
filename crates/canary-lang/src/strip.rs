//! Tweet-aware text cleaning before language detection.

/// What to do with a `#hashtag` when stripping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashtagPolicy {
    /// Drop the `#` and keep the word (`#huelga` -> `huelga`). The default:
    /// it measured better on real tweets (see the crate README).
    #[default]
    KeepWord,
    /// Drop the whole hashtag.
    Drop,
}

/// Strips what carries no language signal from a social post into `out`,
/// with the default [`HashtagPolicy`]; returns the number of letters kept.
///
/// Removed: a leading `RT`, `@mentions`, URLs (also the bare `http` that
/// anonymised datasets leave), hashtag marks, emoji and other symbols, digits,
/// HTML entities such as `&amp;`. Letters, apostrophes and sentence punctuation
/// (including `¿` and `¡`, which are Spanish cues) are kept; whitespace runs
/// collapse to one space.
///
/// `out` is cleared first and reused, so a warm buffer means no allocation.
pub fn strip_for_detection(text: &str, out: &mut String) -> usize {
    strip_for_detection_with(text, out, HashtagPolicy::default())
}

/// [`strip_for_detection`] with an explicit hashtag policy.
pub fn strip_for_detection_with(text: &str, out: &mut String, hashtags: HashtagPolicy) -> usize {
    out.clear();
    let mut letters = 0usize;
    let mut rest = text.trim_start();
    // Retweet marker: "RT @user: ...", "RT: ...". Only as a whole leading token.
    if let Some(r) = rest.strip_prefix("RT")
        && r.chars()
            .next()
            .is_none_or(|c| c.is_whitespace() || c == ':')
    {
        rest = r;
    }
    // Process whitespace-separated tokens: mentions and URLs are whole tokens.
    for token in rest.split(|c: char| c.is_whitespace()) {
        if token.is_empty() {
            continue;
        }
        let body = token.trim_start_matches(['(', '[', '"', '\'', '¿', '¡', '.', '…']);
        if body.starts_with('@') || is_url(body) {
            continue;
        }
        letters += push_token(token, out, hashtags);
    }
    if out.ends_with(' ') {
        out.pop();
    }
    letters
}

fn is_url(token: &str) -> bool {
    let lower_starts = |p: &str| {
        token.len() >= p.len() && token.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    };
    if lower_starts("http://") || lower_starts("https://") || lower_starts("www.") {
        return true;
    }
    // Anonymised corpora (TweetEval) replace links with a bare `http`.
    let word = token.trim_end_matches(|c: char| c.is_ascii_punctuation());
    word.eq_ignore_ascii_case("http") || word.eq_ignore_ascii_case("https")
}

/// Appends the kept characters of one token plus a separating space.
fn push_token(token: &str, out: &mut String, hashtags: HashtagPolicy) -> usize {
    let mut letters = 0usize;
    let start_len = out.len();
    let mut chars = token.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '#' {
            // A hashtag inside a token starts at '#' and runs over word chars.
            let tail = &token[i + 1..];
            let word_len = tail
                .char_indices()
                .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
                .map_or(tail.len(), |(j, _)| j);
            if word_len > 0 && hashtags == HashtagPolicy::Drop {
                while chars.peek().is_some_and(|&(j, _)| j <= i + word_len) {
                    chars.next();
                }
            }
            push_space(out);
            continue;
        }
        if c == '&'
            && let Some(end) = token[i..].find(';').filter(|&e| (2..=9).contains(&e))
        {
            let entity = &token[i + 1..i + end];
            let decoded = decode_entity(entity);
            if let Some(d) = decoded {
                letters += push_char(d, out);
            } else {
                push_space(out);
            }
            while chars.peek().is_some_and(|&(j, _)| j <= i + end) {
                chars.next();
            }
            continue;
        }
        letters += push_char(c, out);
    }
    if out.len() > start_len {
        push_space(out);
    }
    letters
}

fn decode_entity(entity: &str) -> Option<char> {
    if let Some(num) = entity.strip_prefix('#') {
        let code = if let Some(hex) = num.strip_prefix(['x', 'X']) {
            u32::from_str_radix(hex, 16).ok()?
        } else {
            num.parse().ok()?
        };
        return char::from_u32(code);
    }
    match entity {
        "apos" | "#39" => Some('\''),
        "quot" => Some('"'),
        // &amp; &lt; &gt; &nbsp; and the rest carry no language signal.
        _ => None,
    }
}

#[inline]
fn push_space(out: &mut String) {
    if !out.is_empty() && !out.ends_with(' ') {
        out.push(' ');
    }
}

/// Pushes `c` if it carries language signal; returns 1 for a letter.
#[inline]
fn push_char(c: char, out: &mut String) -> usize {
    if c.is_alphabetic() {
        // Elongations ("siiiiii", "noooo") are spelled differently in each
        // language's n-gram model: keep at most two repeats.
        let mut tail = out.chars().rev();
        if tail.next() == Some(c) && tail.next() == Some(c) {
            return 1;
        }
        out.push(c);
        // One CJK character or Hangul syllable carries about what a short
        // Latin word does, so two of them are enough to try.
        if c >= '\u{3040}' { 2 } else { 1 }
    } else if matches!(
        c,
        '\'' | '’' | '¿' | '¡' | '.' | ',' | '!' | '?' | ':' | ';' | '-' | '"' | '(' | ')'
    ) {
        out.push(c);
        0
    } else if is_joiner(c) {
        // Marks and joiners inside words (Arabic, Devanagari vowel signs) are
        // not alphabetic in Unicode yet part of the word.
        0
    } else {
        push_space(out);
        0
    }
}

#[inline]
fn is_joiner(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F   // combining diacritics
        | 0x064B..=0x065F // Arabic harakat
        | 0x0900..=0x0903 | 0x093A..=0x094F // Devanagari signs
        | 0xFE00..=0xFE0F // variation selectors (emoji style)
        | 0x200C..=0x200D) // ZWNJ / ZWJ
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str) -> (String, usize) {
        let mut out = String::new();
        let n = strip_for_detection(t, &mut out);
        (out, n)
    }

    #[test]
    fn strips_tweet_noise() {
        assert_eq!(
            s("RT @brand: el envío llegó tarde 😡 https://t.co/abc #fail").0,
            "el envío llegó tarde fail"
        );
        assert_eq!(s("@user @user http").0, "");
        assert_eq!(s("Tom &amp; Jerry&#39;s 100% 👍🏽").0, "Tom Jerry's");
        assert_eq!(s("RTL news").0, "RTL news");
        assert_eq!(s("¿Qué pasó? www.x.com").0, "¿Qué pasó?");
    }

    #[test]
    fn hashtag_policies_differ() {
        let mut out = String::new();
        strip_for_detection_with("muy mal #NoVuelvo otra vez", &mut out, HashtagPolicy::Drop);
        assert_eq!(out, "muy mal otra vez");
        strip_for_detection_with("muy mal #NoVuelvo", &mut out, HashtagPolicy::KeepWord);
        assert_eq!(out, "muy mal NoVuelvo");
    }

    #[test]
    fn counts_letters_and_reuses_buffer() {
        let mut out = String::with_capacity(64);
        let cap = out.capacity();
        assert_eq!(strip_for_detection("ok 123 :)", &mut out), 2);
        assert_eq!(out, "ok :)");
        assert_eq!(out.capacity(), cap);
        assert_eq!(s("مرحبا بكم").1, 8);
    }
}
