//! The fast path for the line that dominates every real dump: a v1.1 status.
//!
//! serde_json reads a status at ~0.8 GB/s, most of it spent validating and
//! discarding fields canary never reads (a 5 KB status carries two full user
//! objects, entities, media, places). Here one SIMD pass over the line finds
//! every unescaped quote and every bracket outside strings, checks UTF-8
//! (done by the caller), control characters and backslash placement; then the
//! fields canary reads are located by walking keys, and everything else is
//! stepped over by bracket depth without looking at its tokens.
//!
//! What this path does not check inside the values it skips is the JSON
//! grammar between tokens (a missing comma, a malformed number inside, say,
//! `user.entities`). Such a line is read as serde_json would read it had the
//! grammar been right; `ParseOptions::strict_json` turns the fast path off
//! for dumps where that matters. Everything else — an unknown shape, a
//! duplicate or escaped key among the ones read, a type surprise, any error
//! the pass does see — falls back to the serde path, so rejections keep
//! serde_json's reason and message.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::sync::LazyLock;

use memchr::memmem::Finder;

use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::surrogate::{self, Unit};
use super::{Doc, Entities, Extended, Mention, Tag, Text, User};

/// The line is left to the serde path.
pub(super) struct Fallback;

type R<T> = Result<T, Fallback>;

/// Per 64-byte block: unescaped quotes, opening / closing brackets that lie
/// outside strings, and backslashes.
#[derive(Clone, Copy, Default)]
struct Block {
    quote: u64,
    open: u64,
    close: u64,
    backslash: u64,
}

static FIND_SCREEN_NAME: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"screen_name\""));
static FIND_USERNAME: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"username\""));
static FIND_FOLLOWERS: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"followers_count\""));
static FIND_PREFERRED: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"preferredUsername\""));

thread_local! {
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Reads `t` (trimmed, valid UTF-8, starting with `{`) into `doc` (a
/// default one); false leaves the line, and a half-filled `doc`, to the
/// serde path.
pub(super) fn status<'a>(t: &'a str, doc: &mut Doc<'a>) -> bool {
    if !available() {
        return false;
    }
    BLOCKS.with_borrow_mut(|blocks| {
        let ok = index(t.as_bytes(), blocks) && {
            let scan = Scan {
                t,
                s: t.as_bytes(),
                m: blocks,
                nesting: Cell::new(0),
            };
            scan.doc(0, doc).is_ok_and(|end| end == t.len())
        };
        // A 16 MB line needs 8 MB of masks; keep that only while it is used.
        if blocks.capacity() > KEEP_BLOCKS {
            *blocks = Vec::new();
        }
        ok
    })
}

/// Masks kept between lines: enough for a 1 MiB line.
const KEEP_BLOCKS: usize = (1 << 20) / 64;

#[cfg(target_arch = "x86_64")]
fn available() -> bool {
    std::is_x86_feature_detected!("avx2")
}

#[cfg(not(target_arch = "x86_64"))]
fn available() -> bool {
    false
}

/// Fills `blocks` for `s`; false when the pass already sees the line is not
/// valid JSON (a control character or a backslash out of place, a string
/// left open).
fn index(s: &[u8], blocks: &mut Vec<Block>) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512bw") {
            // SAFETY: AVX-512BW is present, checked above.
            return unsafe { avx512::index(s, blocks) };
        }
        if available() {
            // SAFETY: AVX2 is present, checked above.
            return unsafe { avx2::index(s, blocks) };
        }
    }
    index_scalar(s, blocks)
}

/// Bit masks of one block, however they were computed.
#[derive(Clone, Copy)]
struct Raw {
    backslash: u64,
    quote: u64,
    open: u64,
    close: u64,
    ctrl: u64,
}

/// Carries between blocks.
#[derive(Default)]
struct Carry {
    /// 1 when the previous block ended in an odd run of backslashes.
    escape: u64,
    /// All ones when the previous block ended inside a string.
    in_string: u64,
    bad: u64,
}

impl Carry {
    #[inline(always)]
    fn block(&mut self, r: Raw) -> Block {
        let escaped = escaped(r.backslash, &mut self.escape);
        let quote = r.quote & !escaped;
        let in_string = prefix_xor(quote) ^ self.in_string;
        self.in_string = ((in_string as i64) >> 63) as u64;
        // A raw control character inside a string is an error, and so is a
        // backslash outside one. (Outside strings a control character other
        // than whitespace is caught where the line is walked; inside skipped
        // values it is grammar, which this path does not check.)
        self.bad |= (r.ctrl & in_string) | (r.backslash & !in_string);
        Block {
            quote,
            open: r.open & !in_string,
            close: r.close & !in_string,
            backslash: r.backslash,
        }
    }

    fn ok(&self) -> bool {
        self.bad == 0 && self.in_string == 0
    }
}

/// Positions of the characters escaped by a backslash, `carry` holding
/// whether the first character of this block is escaped by the last one
/// (simdjson's escape scanner: adding a run's odd-position starts to the
/// run carries out at its end, which flips the parity for runs that start
/// on even positions).
#[inline(always)]
fn escaped(backslash: u64, carry: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    const ODD: u64 = !EVEN;
    // A backslash escaped by the previous block escapes nothing itself.
    let backslash = backslash & !*carry;
    let follows_escape = (backslash << 1) | *carry;
    let odd_starts = backslash & ODD & !follows_escape;
    let (even_sequences, overflow) = odd_starts.overflowing_add(backslash);
    *carry = overflow as u64;
    let invert = even_sequences << 1;
    (EVEN ^ invert) & follows_escape
}

#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

fn raw_scalar(c: &[u8; 64]) -> Raw {
    let mut r = Raw {
        backslash: 0,
        quote: 0,
        open: 0,
        close: 0,
        ctrl: 0,
    };
    for (i, &b) in c.iter().enumerate() {
        let bit = 1u64 << i;
        match b {
            b'\\' => r.backslash |= bit,
            b'"' => r.quote |= bit,
            b'{' | b'[' => r.open |= bit,
            b'}' | b']' => r.close |= bit,
            0..=0x1f => r.ctrl |= bit,
            _ => {}
        }
    }
    r
}

/// The blocks of the last, partial chunk are read padded with spaces.
fn padded(rest: &[u8]) -> [u8; 64] {
    let mut tail = [b' '; 64];
    tail[..rest.len()].copy_from_slice(rest);
    tail
}

/// Runs `raw` over `s` in 64-byte blocks. Always inlined, so that inside a
/// `#[target_feature]` caller its `raw` is inlined with the same features.
#[inline(always)]
fn index_with(s: &[u8], blocks: &mut Vec<Block>, raw: impl Fn(&[u8; 64]) -> Raw) -> bool {
    blocks.clear();
    blocks.reserve(s.len() / 64 + 1);
    let mut carry = Carry::default();
    let mut chunks = s.chunks_exact(64);
    for c in &mut chunks {
        let c: &[u8; 64] = c.try_into().expect("64-byte chunk");
        blocks.push(carry.block(raw(c)));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        blocks.push(carry.block(raw(&padded(rest))));
    }
    carry.ok()
}

fn index_scalar(s: &[u8], blocks: &mut Vec<Block>) -> bool {
    index_with(s, blocks, raw_scalar)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Block, Raw};

    #[target_feature(enable = "avx512bw")]
    fn raw(c: &[u8; 64]) -> Raw {
        // SAFETY: the load reads the 64-byte array.
        let v = unsafe { _mm512_loadu_si512(c.as_ptr().cast()) };
        let eq = |b: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b as i8));
        // `{`/`[` and `}`/`]` differ only in bit 5.
        let v5 = _mm512_or_si512(v, _mm512_set1_epi8(0x20));
        Raw {
            backslash: eq(b'\\'),
            quote: eq(b'"'),
            open: _mm512_cmpeq_epi8_mask(v5, _mm512_set1_epi8(b'{' as i8)),
            close: _mm512_cmpeq_epi8_mask(v5, _mm512_set1_epi8(b'}' as i8)),
            ctrl: _mm512_cmple_epu8_mask(v, _mm512_set1_epi8(0x1f)),
        }
    }

    /// # Safety
    /// The CPU must support AVX-512BW.
    #[target_feature(enable = "avx512bw")]
    pub(super) unsafe fn index(s: &[u8], blocks: &mut Vec<Block>) -> bool {
        super::index_with(s, blocks, |c| raw(c))
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Block, Raw};

    #[target_feature(enable = "avx2")]
    fn raw(c: &[u8; 64]) -> Raw {
        // SAFETY: both loads read 32 bytes inside the 64-byte array.
        let (lo, hi) = unsafe {
            (
                _mm256_loadu_si256(c.as_ptr().cast()),
                _mm256_loadu_si256(c.as_ptr().add(32).cast()),
            )
        };
        let mask = |l: __m256i, h: __m256i| -> u64 {
            (_mm256_movemask_epi8(l) as u32 as u64)
                | ((_mm256_movemask_epi8(h) as u32 as u64) << 32)
        };
        let eq = |b: u8| -> u64 {
            let v = _mm256_set1_epi8(b as i8);
            mask(_mm256_cmpeq_epi8(lo, v), _mm256_cmpeq_epi8(hi, v))
        };
        // `{`/`[` and `}`/`]` differ only in bit 5.
        let bit5 = _mm256_set1_epi8(0x20);
        let (lo5, hi5) = (_mm256_or_si256(lo, bit5), _mm256_or_si256(hi, bit5));
        let eq5 = |b: u8| -> u64 {
            let v = _mm256_set1_epi8(b as i8);
            mask(_mm256_cmpeq_epi8(lo5, v), _mm256_cmpeq_epi8(hi5, v))
        };
        let c1f = _mm256_set1_epi8(0x1f);
        let ctrl = mask(
            _mm256_cmpeq_epi8(_mm256_min_epu8(lo, c1f), lo),
            _mm256_cmpeq_epi8(_mm256_min_epu8(hi, c1f), hi),
        );
        Raw {
            backslash: eq(b'\\'),
            quote: eq(b'"'),
            open: eq5(b'{'),
            close: eq5(b'}'),
            ctrl,
        }
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn index(s: &[u8], blocks: &mut Vec<Block>) -> bool {
        super::index_with(s, blocks, |c| raw(c))
    }
}

/// Every field name the serde path knows on [`Doc`]: a key the fast path
/// does not read itself but serde would (another shape's key) sends the line
/// to the serde path. A `match` compiles to a switch on length and bytes
/// instead of a scan of a list for every skipped key.
fn is_doc_key(k: &str) -> bool {
    matches!(
        k,
        "id" | "id_str"
            | "created_at"
            | "timestamp_ms"
            | "text"
            | "full_text"
            | "extended_tweet"
            | "retweeted_status"
            | "user"
            | "entities"
            | "lang"
            | "delete"
            | "limit"
            | "scrub_geo"
            | "status_withheld"
            | "user_withheld"
            | "warning"
            | "disconnect"
            | "friends"
            | "friends_str"
            | "event"
            | "direct_message"
            | "control"
            | "statuses"
            | "results"
            | "search_metadata"
            | "verb"
            | "postedTime"
            | "body"
            | "twitter_lang"
            | "actor"
            | "object"
            | "long_object"
            | "twitter_entities"
            | "data"
            | "includes"
            | "errors"
            | "meta"
            | "matching_rules"
            | "author_id"
            | "author"
            | "referenced_tweets"
            | "note_tweet"
            | "type"
            | "action"
            | "tweet_count"
            | "edit_history_tweet_ids"
            | "in_reply_to_status_id_str"
            | "in_reply_to_screen_name"
            | "conversation_id"
            | "in_reply_to_user_id"
            | "in_reply_to_user"
    )
}

/// All read by [`Scan::extended`].
#[cfg(test)]
const EXTENDED_KEYS: &[&str] = &["full_text", "text", "body", "entities", "twitter_entities"];
/// [`Scan::user`] reads `screen_name`, leaves the other handles to the serde
/// path and does not read `id` or `public_metrics`, which only v2 users
/// carry (a v1.1 `user`'s reach is its `followers_count`).
#[cfg(test)]
const USER_KEYS: &[&str] = &[
    "id",
    "screen_name",
    "username",
    "preferredUsername",
    "followers_count",
    "public_metrics",
];
const ENTITIES_KEYS: &[&str] = &["hashtags", "user_mentions", "mentions"];
const TAG_KEYS: &[&str] = &["text", "tag"];
/// [`Scan::mention`] reads `screen_name` and leaves `username` to serde.
#[cfg(test)]
const MENTION_KEYS: &[&str] = &["screen_name", "username"];

/// The text of a JSON string body with escapes, a lone surrogate read as
/// U+FFFD as the serde path reads it. Anything serde_json would refuse (an
/// unknown escape, a short `\u`) is left to it.
fn unescape(raw: &str) -> R<String> {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'\\', &b[i..]) {
        out.push_str(&raw[i..i + off]);
        i += off;
        let c = *b.get(i + 1).ok_or(Fallback)?;
        i += 2;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\x08',
            b'f' => '\x0c',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(b.get(i..i + 4))?;
                match surrogate::unit(b, i - 2, hi) {
                    Unit::Pair(c) => {
                        i += 10;
                        c
                    }
                    Unit::Lone => {
                        i += 4;
                        '\u{fffd}'
                    }
                    Unit::Other => {
                        i += 4;
                        char::from_u32(hi).ok_or(Fallback)?
                    }
                }
            }
            _ => return Err(Fallback),
        };
        out.push(ch);
    }
    out.push_str(&raw[i..]);
    Ok(out)
}

fn hex4(digits: Option<&[u8]>) -> R<u32> {
    let d = digits.ok_or(Fallback)?;
    d.iter().try_fold(0u32, |acc, &c| {
        let v = (c as char).to_digit(16).ok_or(Fallback)?;
        Ok(acc << 4 | v)
    })
}

struct Scan<'a, 'm> {
    t: &'a str,
    s: &'a [u8],
    m: &'m [Block],
    /// Documents nested inside documents (retweeted or shared originals),
    /// bounded so a hostile line cannot exhaust the stack.
    nesting: Cell<u32>,
}

/// Real dumps nest a document once (a retweet's original, a quote inside
/// it); serde_json itself stops at 128 levels.
const MAX_NESTING: u32 = 8;

/// Marks `bit` seen, failing on a second sighting: serde rejects duplicate
/// fields, and which of two values wins must not depend on the path taken.
fn once(seen: &mut u32, bit: u32) -> R<()> {
    if *seen & bit != 0 {
        return Err(Fallback);
    }
    *seen |= bit;
    Ok(())
}

impl<'a> Scan<'a, '_> {
    fn byte(&self, i: usize) -> R<u8> {
        self.s.get(i).copied().ok_or(Fallback)
    }

    fn ws(&self, mut i: usize) -> usize {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(i) {
            i += 1;
        }
        i
    }

    /// The first unescaped quote at or after `i`.
    fn quote_from(&self, i: usize) -> R<usize> {
        let mut b = i / 64;
        let mut bits = self.m.get(b).ok_or(Fallback)?.quote & (!0u64 << (i % 64));
        loop {
            if bits != 0 {
                return Ok(b * 64 + bits.trailing_zeros() as usize);
            }
            b += 1;
            bits = self.m.get(b).ok_or(Fallback)?.quote;
        }
    }

    /// Whether a backslash lies in `from..to`.
    fn backslash_in(&self, from: usize, to: usize) -> bool {
        if from >= to {
            return false;
        }
        let (first, last) = (from / 64, (to - 1) / 64);
        (first..=last).any(|b| {
            let mut bits = self.m[b].backslash;
            if b == first {
                bits &= !0u64 << (from % 64);
            }
            if b == last {
                bits &= !0u64 >> (63 - (to - 1) % 64);
            }
            bits != 0
        })
    }

    /// The closing quote of the string opening at `i`.
    fn string_end(&self, i: usize) -> R<usize> {
        self.quote_from(i + 1)
    }

    /// The bracket closing the one at `i`, by depth alone.
    fn container_end(&self, i: usize) -> R<usize> {
        let mut b = i / 64;
        let skip = i % 64 + 1;
        let first = self.m.get(b).ok_or(Fallback)?;
        let keep = if skip == 64 { 0 } else { !0u64 << skip };
        let (mut open, mut close) = (first.open & keep, first.close & keep);
        let mut depth: u32 = 1;
        loop {
            let closes = close.count_ones();
            if closes < depth {
                // Depth cannot reach zero inside this block.
                depth = depth + open.count_ones() - closes;
            } else {
                let mut all = open | close;
                while all != 0 {
                    let bit = all & all.wrapping_neg();
                    if close & bit != 0 {
                        depth -= 1;
                        if depth == 0 {
                            let end = b * 64 + bit.trailing_zeros() as usize;
                            // The kinds must pair: `{` with `}`, `[` with `]`.
                            return if self.s[end] == self.s[i] + 2 {
                                Ok(end)
                            } else {
                                Err(Fallback)
                            };
                        }
                    } else {
                        depth += 1;
                    }
                    all ^= bit;
                }
            }
            b += 1;
            let next = self.m.get(b).ok_or(Fallback)?;
            (open, close) = (next.open, next.close);
        }
    }

    /// The end of a number or literal starting at `i`, checked loosely: a
    /// literal spelled right, or number characters only.
    fn scalar_end(&self, i: usize) -> R<usize> {
        let mut j = i;
        while let Some(&b) = self.s.get(j) {
            if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            j += 1;
        }
        let tok = &self.s[i..j];
        let ok = match tok.first() {
            Some(b't') => tok == b"true",
            Some(b'f') => tok == b"false",
            Some(b'n') => tok == b"null",
            Some(_) => tok
                .iter()
                .all(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')),
            None => false,
        };
        if ok { Ok(j) } else { Err(Fallback) }
    }

    /// One past the value starting at `i`.
    fn value_end(&self, i: usize) -> R<usize> {
        match self.byte(i)? {
            b'"' => Ok(self.string_end(i)? + 1),
            b'{' | b'[' => Ok(self.container_end(i)? + 1),
            _ => self.scalar_end(i),
        }
    }

    /// `Some(end)` when the value at `i` is `null`.
    fn null(&self, i: usize) -> Option<usize> {
        (self.s.get(i) == Some(&b'n')).then(|| self.scalar_end(i).ok())?
    }

    fn string(&self, i: usize) -> R<(Option<Cow<'a, str>>, usize)> {
        if let Some(end) = self.null(i) {
            return Ok((None, end));
        }
        if self.byte(i)? != b'"' {
            return Err(Fallback);
        }
        let e = self.string_end(i)?;
        let v = if !self.backslash_in(i + 1, e) {
            Cow::Borrowed(&self.t[i + 1..e])
        } else {
            Cow::Owned(unescape(&self.t[i + 1..e])?)
        };
        Ok((Some(v), e + 1))
    }

    fn raw(&self, i: usize) -> R<(Option<&'a RawValue>, usize)> {
        if let Some(end) = self.null(i) {
            return Ok((None, end));
        }
        let e = self.value_end(i)?;
        let v = serde_json::from_str::<&RawValue>(&self.t[i..e]).map_err(|_| Fallback)?;
        Ok((Some(v), e))
    }

    /// Walks the object opening at `i`: `f(key, value start)` returns the
    /// value's end. Returns one past the closing brace.
    fn fields(&self, i: usize, mut f: impl FnMut(&'a str, usize) -> R<usize>) -> R<usize> {
        if self.byte(i)? != b'{' {
            return Err(Fallback);
        }
        let mut i = self.ws(i + 1);
        if self.byte(i)? == b'}' {
            return Ok(i + 1);
        }
        loop {
            if self.byte(i)? != b'"' {
                return Err(Fallback);
            }
            let ke = self.string_end(i)?;
            if self.backslash_in(i + 1, ke) {
                return Err(Fallback);
            }
            let key = &self.t[i + 1..ke];
            i = self.ws(ke + 1);
            if self.byte(i)? != b':' {
                return Err(Fallback);
            }
            i = self.ws(f(key, self.ws(i + 1))?);
            match self.byte(i)? {
                b',' => i = self.ws(i + 1),
                b'}' => return Ok(i + 1),
                _ => return Err(Fallback),
            }
        }
    }

    /// Walks the array opening at `i`: `f(element start)` returns the
    /// element's end. Returns one past the closing bracket.
    fn elements(&self, i: usize, mut f: impl FnMut(usize) -> R<usize>) -> R<usize> {
        if self.byte(i)? != b'[' {
            return Err(Fallback);
        }
        let mut i = self.ws(i + 1);
        if self.byte(i)? == b']' {
            return Ok(i + 1);
        }
        loop {
            i = self.ws(f(i)?);
            match self.byte(i)? {
                b',' => i = self.ws(i + 1),
                b']' => return Ok(i + 1),
                _ => return Err(Fallback),
            }
        }
    }

    /// `None` for `null`, else `read` of the value.
    fn nullable<T>(
        &self,
        i: usize,
        read: impl FnOnce(usize) -> R<(T, usize)>,
    ) -> R<(Option<T>, usize)> {
        match self.null(i) {
            Some(end) => Ok((None, end)),
            None => read(i).map(|(v, e)| (Some(v), e)),
        }
    }

    /// Fills `d` in place: a `Doc` is over a kilobyte, and moving it through
    /// return values showed up in profiles.
    fn doc(&self, i: usize, d: &mut Doc<'a>) -> R<usize> {
        let mut seen = 0u32;
        let end = self.fields(i, |k, v| {
            let (bit, e) = match k {
                "id" => {
                    let (x, e) = self.raw(v)?;
                    d.id = x;
                    (1, e)
                }
                "id_str" => {
                    let (x, e) = self.string(v)?;
                    d.id_str = x;
                    (2, e)
                }
                "created_at" => {
                    let (x, e) = self.string(v)?;
                    d.created_at = x;
                    (4, e)
                }
                "timestamp_ms" => {
                    let (x, e) = self.raw(v)?;
                    d.timestamp_ms = x;
                    (8, e)
                }
                "text" => {
                    let (x, e) = self.string(v)?;
                    d.text = x;
                    (16, e)
                }
                "full_text" => {
                    let (x, e) = self.string(v)?;
                    d.full_text = x;
                    (32, e)
                }
                "lang" => {
                    let (x, e) = self.string(v)?;
                    d.lang = x;
                    (64, e)
                }
                "in_reply_to_status_id_str" => {
                    let (x, e) = self.string(v)?;
                    d.in_reply_to_status_id_str = x;
                    (1 << 20, e)
                }
                "in_reply_to_screen_name" => {
                    let (x, e) = self.string(v)?;
                    d.in_reply_to_screen_name = x;
                    (1 << 21, e)
                }
                "in_reply_to_user_id" => {
                    let (x, e) = self.raw(v)?;
                    d.in_reply_to_user_id = x;
                    (1 << 22, e)
                }
                "extended_tweet" => {
                    let (x, e) = self.nullable(v, |v| self.extended(v))?;
                    d.extended_tweet = x;
                    (128, e)
                }
                "retweeted_status" => {
                    let (x, e) = self.boxed_doc(v)?;
                    d.retweeted_status = x;
                    (256, e)
                }
                "user" => {
                    let (x, e) = self.nullable(v, |v| self.user(v))?;
                    d.user = x;
                    (512, e)
                }
                "entities" => {
                    let (x, e) = self.nullable(v, |v| self.entities(v))?;
                    d.entities = x;
                    (1024, e)
                }
                "verb" => {
                    let (x, e) = self.string(v)?;
                    d.verb = x;
                    (4096, e)
                }
                "postedTime" => {
                    let (x, e) = self.string(v)?;
                    d.posted_time = x;
                    (8192, e)
                }
                "body" => {
                    let (x, e) = self.string(v)?;
                    d.body = x;
                    (1 << 14, e)
                }
                "twitter_lang" => {
                    let (x, e) = self.string(v)?;
                    d.twitter_lang = x;
                    (1 << 15, e)
                }
                "actor" => {
                    let (x, e) = self.nullable(v, |v| self.user(v))?;
                    d.actor = x;
                    (1 << 16, e)
                }
                "object" => {
                    let (x, e) = self.boxed_doc(v)?;
                    d.object = x;
                    (1 << 17, e)
                }
                "long_object" => {
                    let (x, e) = self.nullable(v, |v| self.extended(v))?;
                    d.long_object = x;
                    (1 << 18, e)
                }
                "twitter_entities" => {
                    let (x, e) = self.nullable(v, |v| self.entities(v))?;
                    d.twitter_entities = x;
                    (1 << 19, e)
                }
                // Gnip's enrichment of v1.1 statuses; only its presence counts.
                "matching_rules" => {
                    let e = self.value_end(v)?;
                    if self.null(v).is_none() {
                        d.matching_rules = Some(IgnoredAny);
                    }
                    (2048, e)
                }
                k if is_doc_key(k) => return Err(Fallback),
                _ => return self.value_end(v),
            };
            once(&mut seen, bit)?;
            Ok(e)
        })?;
        Ok(end)
    }

    fn boxed_doc(&self, i: usize) -> R<(Option<Box<Doc<'a>>>, usize)> {
        if let Some(end) = self.null(i) {
            return Ok((None, end));
        }
        let n = self.nesting.get();
        if n >= MAX_NESTING {
            return Err(Fallback);
        }
        self.nesting.set(n + 1);
        let mut d = Box::<Doc<'a>>::default();
        let end = self.doc(i, &mut d);
        self.nesting.set(n);
        Ok((Some(d), end?))
    }

    fn extended(&self, i: usize) -> R<(Extended<'a>, usize)> {
        let mut x = Extended::default();
        let mut seen = 0u32;
        let end = self.fields(i, |k, v| {
            let (bit, e) = match k {
                "full_text" => {
                    let (t, e) = self.string(v)?;
                    x.full_text = t;
                    (1, e)
                }
                "text" => {
                    let (t, e) = self.string(v)?;
                    x.text = t;
                    (2, e)
                }
                "body" => {
                    let (t, e) = self.string(v)?;
                    x.body = t;
                    (4, e)
                }
                "entities" => {
                    let (n, e) = self.nullable(v, |v| self.entities(v))?;
                    x.entities = n;
                    (8, e)
                }
                "twitter_entities" => {
                    let (n, e) = self.nullable(v, |v| self.entities(v))?;
                    x.twitter_entities = n;
                    (16, e)
                }
                _ => return self.value_end(v),
            };
            once(&mut seen, bit)?;
            Ok(e)
        })?;
        Ok((x, end))
    }

    /// A user object holds ~40 fields of which canary reads one, so instead
    /// of walking its keys it is skipped by depth and the handle is found by
    /// substring search (see [`Scan::screen_name`]); without a `screen_name`
    /// the Activity Streams `preferredUsername` is taken, as [`User::handle`]
    /// takes it.
    fn user(&self, i: usize) -> R<(User<'a>, usize)> {
        let (screen_name, end) = self.screen_name(i)?;
        let mut u = User {
            screen_name,
            ..User::default()
        };
        u.followers_count = self.key_raw(i, end, &FIND_FOLLOWERS, "followers_count")?;
        if u.screen_name.is_none() {
            u.preferred_username = self
                .key_value(i, end, &FIND_PREFERRED, "preferredUsername")?
                .flatten();
        }
        Ok((u, end + 1))
    }

    /// The closing brace of the object at `i` and its `screen_name`, kept
    /// only where it is a key of this object. Without one, a v2 `username`
    /// would be the handle: such an object is left to the serde path.
    fn screen_name(&self, i: usize) -> R<(Text<'a>, usize)> {
        if self.byte(i)? != b'{' {
            return Err(Fallback);
        }
        let end = self.container_end(i)?;
        let name = self
            .key_value(i, end, &FIND_SCREEN_NAME, "screen_name")?
            .flatten();
        if name.is_none() && FIND_USERNAME.find(&self.s[i..end]).is_some() {
            return Err(Fallback);
        }
        Ok((name, end))
    }

    /// Where the value of key `key` directly inside the object spanning
    /// `open..close` starts, found with `finder` (which searches `"key"`);
    /// a key given twice is left to the serde path.
    fn key_at(
        &self,
        open: usize,
        close: usize,
        finder: &Finder<'_>,
        key: &str,
    ) -> R<Option<usize>> {
        let mut found = None;
        for at in finder.find_iter(&self.s[open..close]) {
            let q = open + at;
            if !self.is_quote(q) || self.depth_at(open, q) != 1 {
                continue;
            }
            let colon = self.ws(q + key.len() + 2);
            if self.byte(colon)? != b':' {
                continue;
            }
            if found.is_some() {
                return Err(Fallback);
            }
            found = Some(self.ws(colon + 1));
        }
        Ok(found)
    }

    /// The raw scalar value of key `key` directly inside the object spanning
    /// `open..close` (a number, `null`, `true`...); a string or container
    /// there is left to the serde path.
    fn key_raw(
        &self,
        open: usize,
        close: usize,
        finder: &Finder<'_>,
        key: &str,
    ) -> R<Option<&'a RawValue>> {
        let Some(v) = self.key_at(open, close, finder, key)? else {
            return Ok(None);
        };
        if matches!(self.byte(v)?, b'"' | b'{' | b'[') {
            return Err(Fallback);
        }
        Ok(self.raw(v)?.0)
    }

    /// The string value of key `key` directly inside the object spanning
    /// `open..close`, found with `finder` (which searches `"key"`).
    fn key_value(
        &self,
        open: usize,
        close: usize,
        finder: &Finder<'_>,
        key: &str,
    ) -> R<Option<Option<Cow<'a, str>>>> {
        match self.key_at(open, close, finder, key)? {
            Some(v) => Ok(Some(self.string(v)?.0)),
            None => Ok(None),
        }
    }

    fn is_quote(&self, i: usize) -> bool {
        self.m[i / 64].quote >> (i % 64) & 1 == 1
    }

    /// Nesting depth at `at` inside the container opening at `open`
    /// (1 = directly inside it).
    fn depth_at(&self, open: usize, at: usize) -> i64 {
        let (from, to) = (open + 1, at);
        if from >= to {
            return 1;
        }
        let (first, last) = (from / 64, (to - 1) / 64);
        let mut depth = 1i64;
        for b in first..=last {
            let mut keep = !0u64;
            if b == first {
                keep &= !0u64 << (from % 64);
            }
            if b == last {
                keep &= !0u64 >> (63 - (to - 1) % 64);
            }
            depth += (self.m[b].open & keep).count_ones() as i64;
            depth -= (self.m[b].close & keep).count_ones() as i64;
        }
        depth
    }

    fn entities(&self, i: usize) -> R<(Entities<'a>, usize)> {
        let mut x = Entities::default();
        let mut seen = 0u32;
        let end = self.fields(i, |k, v| {
            let (bit, e) = match k {
                "hashtags" => {
                    let (l, e) = self.nullable(v, |v| self.list(v, |v| self.tag(v)))?;
                    x.hashtags = l;
                    (1, e)
                }
                "user_mentions" => {
                    let (l, e) = self.nullable(v, |v| self.list(v, |v| self.mention(v)))?;
                    x.user_mentions = l;
                    (2, e)
                }
                k if ENTITIES_KEYS.contains(&k) => return Err(Fallback),
                _ => return self.value_end(v),
            };
            once(&mut seen, bit)?;
            Ok(e)
        })?;
        Ok((x, end))
    }

    fn list<T>(&self, i: usize, read: impl Fn(usize) -> R<(T, usize)>) -> R<(Vec<T>, usize)> {
        let mut out = Vec::new();
        let end = self.elements(i, |v| {
            let (x, e) = read(v)?;
            out.push(x);
            Ok(e)
        })?;
        Ok((out, end))
    }

    fn tag(&self, i: usize) -> R<(Tag<'a>, usize)> {
        let mut tag = Tag::default();
        let mut seen = 0u32;
        let end = self.fields(i, |k, v| match k {
            "text" => {
                let (x, e) = self.string(v)?;
                tag.text = x;
                once(&mut seen, 1)?;
                Ok(e)
            }
            k if TAG_KEYS.contains(&k) => Err(Fallback),
            _ => self.value_end(v),
        })?;
        Ok((tag, end))
    }

    /// Like [`Scan::user`]: the handle by search, not by walking keys.
    fn mention(&self, i: usize) -> R<(Mention<'a>, usize)> {
        let (screen_name, end) = self.screen_name(i)?;
        let m = Mention {
            screen_name,
            ..Mention::default()
        };
        Ok((m, end + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Characters escaped by an odd run of backslashes, one at a time.
    fn escaped_reference(s: &[u8]) -> Vec<bool> {
        let mut out = vec![false; s.len()];
        let mut i = 0;
        while i < s.len() {
            if s[i] == b'\\' {
                if i + 1 < s.len() {
                    out[i + 1] = true;
                }
                i += 2;
            } else {
                i += 1;
            }
        }
        out
    }

    #[test]
    fn escape_carries_match_a_byte_walk() {
        // Deterministic pseudo-random strings dense in backslashes, long
        // enough to cross several block boundaries.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in [1usize, 63, 64, 65, 127, 128, 200, 640] {
            for _ in 0..300 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        match x % 4 {
                            0 | 1 => b'\\',
                            2 => b'"',
                            _ => b'a',
                        }
                    })
                    .collect();
                let want = escaped_reference(&s);
                let mut carry = 0;
                let mut got = Vec::new();
                for c in s.chunks(64) {
                    let p = padded(c);
                    let r = raw_scalar(&p);
                    let e = escaped(r.backslash, &mut carry);
                    got.extend((0..c.len()).map(|i| e >> i & 1 == 1));
                }
                assert_eq!(got, want, "{}", String::from_utf8_lossy(&s));
            }
        }
    }

    #[test]
    fn unescape_agrees_with_serde() {
        for body in [
            r"plain",
            r#"a\"b\\c\/d\be\ff\ng\rh\ti"#,
            r"\u00e9t\u00E9 \u0000 \uffff",
            r"\ud83d\ude02 emoji",
            r"\ud83d lone lead",
            r"\ude02 lone trail",
            r"\ud83d\u0041 bad pair",
            r"\x escape",
            r"\u12g4 hex",
            r"\u12",
            r"end\\",
        ] {
            let quoted = format!("\"{body}\"");
            let quoted = super::super::replace_lone_surrogates(&quoted).unwrap_or(quoted);
            let want = serde_json::from_str::<String>(&quoted).ok();
            let got = unescape(body).ok();
            assert_eq!(got, want, "{body}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_and_scalar_masks_agree() {
        if !available() {
            eprintln!("no AVX2 here: the scalar pass is the only one");
            return;
        }
        let mut x: u64 = 42;
        let alphabet = b"\\\"{}[]a \t\n\x01:,\xc3";
        for len in [5usize, 64, 100, 333] {
            for _ in 0..500 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alphabet[(x % alphabet.len() as u64) as usize]
                    })
                    .collect();
                let (mut a, mut b) = (Vec::new(), Vec::new());
                // SAFETY: AVX2 checked above.
                let ok_a = unsafe { avx2::index(&s, &mut a) };
                let ok_b = index_scalar(&s, &mut b);
                assert_eq!(ok_a, ok_b);
                let key = |v: &[Block]| -> Vec<(u64, u64, u64, u64)> {
                    v.iter()
                        .map(|b| (b.quote, b.open, b.close, b.backslash))
                        .collect()
                };
                assert_eq!(key(&a), key(&b));
                if std::is_x86_feature_detected!("avx512bw") {
                    let mut c = Vec::new();
                    // SAFETY: AVX-512BW checked.
                    let ok_c = unsafe { avx512::index(&s, &mut c) };
                    assert_eq!(ok_c, ok_b);
                    assert_eq!(key(&c), key(&b));
                }
            }
        }
    }

    fn parse(line: &str, strict_json: bool) -> Vec<crate::Parsed> {
        let opts = crate::ParseOptions {
            strict_json,
            ..Default::default()
        };
        crate::parse_line(line.as_bytes(), &opts)
    }

    #[test]
    fn reads_real_statuses_as_serde_does() {
        let Some(dir) = canary_testkit::shared_data("twitter_api_json/v1_1") else {
            return;
        };
        let (mut statuses, mut fast) = (0, 0);
        for f in std::fs::read_dir(dir).unwrap() {
            let path = f.unwrap().path();
            if path.extension().is_none_or(|e| e != "jsonl") {
                continue;
            }
            let data = std::fs::read_to_string(path).unwrap();
            for l in data.lines() {
                let t = l.trim();
                if !t.starts_with('{') {
                    continue;
                }
                let strict = parse(t, true);
                // Every status and activity; notices are the serde path's.
                if matches!(
                    strict[..],
                    [crate::Parsed::Record(canary_core::IngestRecord::Post(_))]
                ) {
                    statuses += 1;
                    if status(t, &mut Doc::default()) {
                        fast += 1;
                    }
                }
                assert_eq!(parse(t, false), strict, "{t}");
            }
        }
        assert!(statuses > 100, "{statuses} statuses");
        assert!(!available() || fast == statuses, "{fast} of {statuses}");
    }

    #[test]
    fn skipped_values_are_checked_for_structure_only() {
        let ok = r#"{"created_at":"Sat Mar 10 14:03:15 +0000 2018","id_str":"1","text":"t","user":{"screen_name":"u","x":[1,{"y":"]}"}]}}"#;
        assert_eq!(parse(ok, false), parse(ok, true));
        // A null screen_name leaves the handle to `username`, as serde does.
        let null_name = r#"{"created_at":"Sat Mar 10 14:03:15 +0000 2018","id_str":"1","text":"t","user":{"screen_name":null,"username":"v"}}"#;
        assert_eq!(parse(null_name, false), parse(null_name, true));
        assert!(!available() || status(ok, &mut Doc::default()));
        // Structure errors anywhere are serde's to report.
        for bad in [
            r#"{"created_at":"x","id_str":"1","text":"t","user":{"x":[1}}"#,
            r#"{"created_at":"x","id_str":"1","text":"t","user":{"x":"a}"#,
            "{\"created_at\":\"x\",\"id_str\":\"1\",\"text\":\"t\",\"u\":\"a\x01\"}",
            r#"{"created_at":"x","id_str":"1","text":"t"} {}"#,
            r#"{"created_at":"x","id_str":"1","text":"t","text":"u"}"#,
            r#"{"created_at":"x","id_str":"1","te\u0078t":"t"}"#,
            "{\"created_at\":\"x\",\"id_str\":\"1\",\"text\":\"t\",\"u\":\"a\nb\"}",
        ] {
            assert!(!status(bad, &mut Doc::default()), "{bad}");
        }
        // Deep nesting is serde's to refuse, not a stack overflow.
        let deep = format!(
            "{}\"text\":\"t\"{}",
            r#"{"retweeted_status":"#.repeat(100_000),
            "}".repeat(100_000)
        );
        assert!(!status(&deep, &mut Doc::default()));
        // serde_json's 128 levels of `Doc` need more than a test thread's
        // stack in a debug build.
        let refused = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || matches!(parse(&deep, false)[0], crate::Parsed::Rejected(_)))
            .unwrap()
            .join()
            .unwrap();
        assert!(refused);
        // Grammar inside a skipped value is not checked: serde rejects this
        // line, the fast path reads it.
        let lax = r#"{"created_at":"Sat Mar 10 14:03:15 +0000 2018","id_str":"1","text":"t","user":{"screen_name":"u","x":[1 2]}}"#;
        if available() {
            assert!(matches!(parse(lax, false)[0], crate::Parsed::Record(_)));
        }
        assert!(matches!(parse(lax, true)[0], crate::Parsed::Rejected(_)));
    }

    /// Collects the field names serde's derive passes to
    /// `deserialize_struct`, so the key lists above cannot drift.
    fn serde_fields<'de, T: serde::Deserialize<'de>>() -> &'static [&'static str] {
        use serde::de::{self, Visitor};
        struct Grab(Option<&'static [&'static str]>);
        #[derive(Debug)]
        struct Stop;
        impl std::fmt::Display for Stop {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("stop")
            }
        }
        impl std::error::Error for Stop {}
        impl de::Error for Stop {
            fn custom<M: std::fmt::Display>(_: M) -> Self {
                Stop
            }
        }
        impl<'de> de::Deserializer<'de> for &mut Grab {
            type Error = Stop;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
                Err(Stop)
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Stop> {
                self.0 = Some(fields);
                Err(Stop)
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
                bytes byte_buf option unit unit_struct newtype_struct seq tuple
                tuple_struct map enum identifier ignored_any
            }
        }
        let mut g = Grab(None);
        let _ = T::deserialize(&mut g);
        g.0.expect("a derived struct")
    }

    #[test]
    fn key_lists_match_the_serde_structs() {
        let sorted = |v: &[&'static str]| {
            let mut v = v.to_vec();
            v.sort_unstable();
            v
        };
        for k in serde_fields::<Doc>() {
            assert!(is_doc_key(k), "{k}");
        }
        assert!(!is_doc_key("favorited") && !is_doc_key("Text"));
        assert_eq!(sorted(serde_fields::<Extended>()), sorted(EXTENDED_KEYS));
        assert_eq!(sorted(serde_fields::<User>()), sorted(USER_KEYS));
        assert_eq!(sorted(serde_fields::<Entities>()), sorted(ENTITIES_KEYS));
        assert_eq!(sorted(serde_fields::<Tag>()), sorted(TAG_KEYS));
        assert_eq!(sorted(serde_fields::<Mention>()), sorted(MENTION_KEYS));
    }
}
