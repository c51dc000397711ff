//! Fast path for the common case, a v1.1 status line.
//!
//! A status is ~5 KB of which we need a few hundred bytes; most of the rest
//! is `user` profiles, entity indices and quoted statuses. Skipping those with
//! serde still tokenises every value, so this walks the object with a
//! grammar-checking scanner instead (strings are skipped with `memchr`) and
//! hands serde only the small values we keep. Anything unusual — another
//! shape, a duplicate key, a value of the wrong type, a post that would be
//! rejected — returns `None`, and the full serde path decides, so both paths
//! give the same result (the tests check this on every sample line).
//!
//! What the scanner does not check in values it skips: number syntax beyond
//! the characters allowed, and raw control characters inside strings.

use std::borrow::Cow;

use canary_core::Post;

use crate::parse::{
    Entities, ParseOptions, event_time_raw, fill_entities, id_text, raw_id_str, unescape_html,
};

// Below serde_json's limit of 128, so nothing the scanner accepts is too deep there.
const MAX_DEPTH: u32 = 100;

type Span = (usize, usize);

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    depth: u32,
}

/// A word with the high bit set in each byte that is `"`, `\\` or below
/// 0x20. Only the lowest set bit is exact (a borrow can mark a later byte),
/// which is all the scanner uses.
fn special(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    zero(x ^ (ONES * b'"' as u64))
        | zero(x ^ (ONES * b'\\' as u64))
        | (x.wrapping_sub(ONES * 0x20) & !x & HIGH)
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// At an opening quote: skips the string, checking its escapes; says
    /// whether it held any.
    fn string(&mut self) -> Option<bool> {
        self.i += 1;
        let mut escaped = false;
        loop {
            // Most strings are short keys and values: eight bytes at a time
            // beats a memchr call per string, and finds control bytes in the
            // same pass.
            while let Some(chunk) = self.b.get(self.i..self.i + 8) {
                let m = special(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
                if m != 0 {
                    self.i += (m.trailing_zeros() / 8) as usize;
                    break;
                }
                self.i += 8;
            }
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(escaped);
                }
                b'\\' => escaped = true,
                // JSON forbids raw control characters in strings.
                c if c < 0x20 => return None,
                _ => {
                    self.i += 1;
                    continue;
                }
            }
            match *self.b.get(self.i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                b'u' => {
                    let hex = self.b.get(self.i + 2..self.i + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.i += 6;
                }
                _ => return None,
            }
        }
    }

    fn digits(&mut self) -> Option<()> {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        (self.i > start).then_some(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits()?,
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.digits()?;
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// Skips one value and returns its span.
    fn value(&mut self) -> Option<Span> {
        self.ws();
        let start = self.i;
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' => self.members(|_, _, _| Some(()))?,
            b'[' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                } else {
                    loop {
                        self.value()?;
                        self.ws();
                        match self.peek()? {
                            b',' => self.i += 1,
                            b']' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                self.depth -= 1;
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return None,
        }
        Some((start, self.i))
    }

    /// At `{`: walks the members, calling `f(raw key, key had escapes, value
    /// span)` for each.
    fn members(&mut self, mut f: impl FnMut(&'a [u8], bool, Span) -> Option<()>) -> Option<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
        } else {
            loop {
                self.ws();
                if self.peek()? != b'"' {
                    return None;
                }
                let ks = self.i + 1;
                let escaped = self.string()?;
                let key = &self.b[ks..self.i - 1];
                self.ws();
                if self.peek()? != b':' {
                    return None;
                }
                self.i += 1;
                let v = self.value()?;
                f(key, escaped, v)?;
                self.ws();
                match self.peek()? {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }
}

/// Walks the object at `span` of `s`, storing the spans of `keys` in `out`.
/// `None` on a syntax error, a duplicate of a listed key, or a key in `bail`.
fn fields(
    s: &str,
    span: Span,
    keys: &[&[u8]],
    bail: &[&[u8]],
    out: &mut [Option<Span>],
) -> Option<()> {
    let mut sc = Scan {
        b: &s.as_bytes()[..span.1],
        i: span.0,
        depth: 0,
    };
    if sc.peek()? != b'{' {
        return None;
    }
    // Lengths of the listed keys: most keys of a status match none, and this
    // rules them out without comparing bytes.
    let lens = keys
        .iter()
        .chain(bail)
        .fold(0u64, |m, k| m | 1 << k.len().min(63));
    sc.members(|k, escaped, v| {
        if escaped {
            // An escaped key may decode to one we read: leave it to serde.
            return None;
        }
        if lens & (1 << k.len().min(63)) == 0 {
            return Some(());
        }
        if let Some(j) = keys.iter().position(|x| *x == k) {
            if out[j].replace(v).is_some() {
                return None;
            }
        } else if bail.contains(&k) {
            return None;
        }
        Some(())
    })?;
    sc.ws();
    (sc.i == span.1).then_some(())
}

fn text<'a>(s: &'a str, span: Option<Span>) -> Option<Option<Cow<'a, str>>> {
    match span {
        None => Some(None),
        Some((a, b)) => serde_json::from_str::<Option<Cow<'a, str>>>(&s[a..b]).ok(),
    }
}

fn is_null(s: &str, span: Option<Span>) -> bool {
    span.is_none_or(|(a, b)| &s[a..b] == "null")
}

const STATUS_KEYS: &[&[u8]] = &[
    b"id",
    b"id_str",
    b"created_at",
    b"timestamp_ms",
    b"text",
    b"full_text",
    b"extended_tweet",
    b"retweeted_status",
    b"user",
    b"entities",
    b"lang",
    // Not read, listed so that duplicates go to the serde path as they would fail there.
    b"errors",
    b"meta",
    b"matching_rules",
    b"search_metadata",
];

/// Keys of other shapes: their presence sends the line to the serde path.
const OTHER_SHAPES: &[&[u8]] = &[
    b"delete",
    b"limit",
    b"scrub_geo",
    b"status_withheld",
    b"user_withheld",
    b"warning",
    b"disconnect",
    b"friends",
    b"friends_str",
    b"event",
    b"direct_message",
    b"control",
    b"statuses",
    b"results",
    b"verb",
    b"postedTime",
    b"body",
    b"twitter_lang",
    b"actor",
    b"object",
    b"long_object",
    b"twitter_entities",
    b"data",
    b"includes",
    b"author_id",
    b"author",
    b"referenced_tweets",
    b"note_tweet",
    b"type",
    b"action",
    b"tweet_count",
    b"edit_history_tweet_ids",
];

const ID: usize = 0;
const ID_STR: usize = 1;
const CREATED_AT: usize = 2;
const TIMESTAMP_MS: usize = 3;
const TEXT: usize = 4;
const FULL_TEXT: usize = 5;
const EXTENDED: usize = 6;
const RETWEETED: usize = 7;
const USER: usize = 8;
const ENTITIES: usize = 9;
const LANG: usize = 10;

fn entities<'a>(s: &'a str, span: Option<Span>) -> Option<Option<Entities<'a>>> {
    if is_null(s, span) {
        return Some(None);
    }
    let mut f = [None; 3];
    fields(
        s,
        span?,
        &[b"hashtags", b"user_mentions", b"mentions"],
        &[],
        &mut f,
    )?;
    fn list<'a, T: serde::Deserialize<'a>>(s: &'a str, sp: Option<Span>) -> Option<Option<T>> {
        match sp {
            None => Some(None),
            Some((a, b)) => serde_json::from_str(&s[a..b]).ok(),
        }
    }
    Some(Some(Entities {
        hashtags: list(s, f[0])?,
        user_mentions: list(s, f[1])?,
        mentions: list(s, f[2])?,
    }))
}

/// The full text and its entities of the status object at `span`, as
/// `own_text` in the serde path reads them.
fn own_text<'a>(
    s: &'a str,
    f: &[Option<Span>],
) -> Option<(Option<Cow<'a, str>>, Option<Entities<'a>>)> {
    // Every value is type-checked before choosing, as serde does on the other path.
    let top_entities = entities(s, f[ENTITIES])?;
    let plain = text(s, f[FULL_TEXT])?.or(text(s, f[TEXT])?);
    if !is_null(s, f[EXTENDED]) {
        let mut x = [None; 5];
        fields(
            s,
            f[EXTENDED]?,
            &[
                b"full_text",
                b"text",
                b"body",
                b"entities",
                b"twitter_entities",
            ],
            &[],
            &mut x,
        )?;
        let t = text(s, x[0])?.or(text(s, x[1])?).or(text(s, x[2])?);
        let (e1, e2) = (entities(s, x[3])?, entities(s, x[4])?);
        if t.is_some() {
            return Some((t, e1.or(e2).or(top_entities)));
        }
    }
    Some((plain, top_entities))
}

/// The handle of the user object at `span` (`Some(None)` when absent).
fn handle(s: &str, span: Option<Span>) -> Option<Option<String>> {
    if is_null(s, span) {
        return Some(None);
    }
    let mut u = [None; 4];
    fields(
        s,
        span?,
        &[b"screen_name", b"username", b"preferredUsername", b"id"],
        &[],
        &mut u,
    )?;
    let (a, b, c) = (text(s, u[0])?, text(s, u[1])?, text(s, u[2])?);
    Some(a.or(b).or(c).map(Cow::into_owned))
}

/// A v1.1 status, or `None` to let the serde path decide.
pub(crate) fn v1_status(s: &str, opts: &ParseOptions) -> Option<Post> {
    let mut f = [None; STATUS_KEYS.len()];
    fields(s, (0, s.len()), STATUS_KEYS, OTHER_SHAPES, &mut f)?;

    let id = match text(s, f[ID_STR])? {
        Some(v) if !v.trim().is_empty() => id_text(&v).to_owned(),
        _ => {
            let (a, b) = f[ID]?;
            raw_id_str(&s[a..b]).filter(|v| !v.is_empty())?
        }
    };
    let created = text(s, f[CREATED_AT])?;
    let ts = f[TIMESTAMP_MS].map(|(a, b)| &s[a..b]);
    let event_ms = event_time_raw(created.as_deref(), ts, opts).ok()?;

    let (mut t, mut ents) = own_text(s, &f)?;
    let mut retweet = false;
    if !is_null(s, f[RETWEETED]) {
        retweet = true;
        let mut rf = [None; STATUS_KEYS.len()];
        fields(s, f[RETWEETED]?, STATUS_KEYS, OTHER_SHAPES, &mut rf)?;
        // The nested status is typed on the serde path too: check what it would.
        text(s, rf[ID_STR])?;
        text(s, rf[CREATED_AT])?;
        text(s, rf[LANG])?;
        handle(s, rf[USER])?;
        if !is_null(s, rf[RETWEETED]) {
            return None;
        }
        let (rt, re) = own_text(s, &rf)?;
        if rt.is_some() {
            (t, ents) = (rt, re);
        }
    }
    let t = t?;

    let author = handle(s, f[USER])?;
    let lang = text(s, f[LANG])?;

    let mut p = Post::new(id, event_ms, unescape_html(&t).into_owned());
    p.retweet = retweet;
    p.author = author;
    p.lang_hint = lang.map(Cow::into_owned);
    fill_entities(&mut p, ents.as_ref());
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_real_stream_lines() {
        let Some(p) = canary_testkit::shared_data(
            "twitter_api_json/v1_1/python-twitter_streaming_lines_2018.jsonl",
        ) else {
            return;
        };
        let data = std::fs::read_to_string(p).unwrap();
        let opts = ParseOptions::default();
        let taken = data
            .lines()
            .filter(|l| v1_status(l.trim(), &opts).is_some())
            .count();
        assert_eq!(taken, 72);
    }

    #[test]
    fn scanner_rejects_what_json_rejects() {
        let opts = ParseOptions::default();
        let base =
            r#"{"created_at":"Sat Mar 10 14:03:15 +0000 2018","id_str":"1","text":"t","x":VALUE}"#;
        assert!(v1_status(&base.replace("VALUE", r#"[1,-2.5e3,{"a":null}]"#), &opts).is_some());
        for bad in [
            "01", "1.", "-", "[1,]", "{\"a\"}", "tru", "\"\\x\"", "\"\t\"", "[1 2]",
        ] {
            assert!(
                v1_status(&base.replace("VALUE", bad), &opts).is_none(),
                "{bad}"
            );
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(v1_status(&base.replace("VALUE", &deep), &opts).is_none());
    }
}
