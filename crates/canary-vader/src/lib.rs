//! A bit-exact, allocation-free port of the VADER sentiment analyser,
//! [vaderSentiment 3.3.2](https://github.com/cjhutto/vaderSentiment) as run on
//! CPython 3.12.
//!
//! [`Analyzer::polarity_scores`] returns exactly what the reference's
//! `SentimentIntensityAnalyzer().polarity_scores(text)` returns — `neg`,
//! `neu`, `pos` rounded to 3 decimals and `compound` to 4 — equal as numbers.
//! The parity tests check this on 73,703 stored texts and on 100,000 fresh
//! random texts scored by the live reference.
//!
//! ```
//! use canary_vader::Analyzer;
//!
//! let mut vader = Analyzer::new();
//! let s = vader.polarity_scores("VADER is VERY SMART, handsome, and FUNNY!!!");
//! assert_eq!((s.neg, s.neu, s.pos, s.compound), (0.0, 0.233, 0.767, 0.9342));
//! let s = vader.polarity_scores("Today only kinda sux! But I'll get by, lol");
//! assert_eq!(s.compound, 0.5249);
//! ```
//!
//! # Why not the `vader_sentiment` crate
//! The crates.io port `vader_sentiment` 0.1.1 (last release 2021) scores 22%
//! of the reference corpus differently: it matches boosters as substrings
//! ("so" inside "also"), treats emoticons as capitals, lacks the 2019 "no"
//! rules, lets a single "?" add emphasis, drops one-byte tokens (shifting the
//! negation and caps windows), ships an older lexicon (no "heart", so ❤ scores
//! 0), strips punctuation by a different rule, has a precedence error in the
//! three-words-back negation check, looks words up case-insensitively, always
//! negates "at least X", and picks idioms in `HashMap` order, so some scores
//! change between runs. It also allocates about a hundred times per text and is
//! several times slower than this crate (see the crate README for measurements).
//!
//! # Design
//! - The lexicons are embedded with `include_str!` and parsed once per process
//!   into one open-addressing table keyed by the lowercased word. Each entry
//!   carries everything the rules ask about a word — lexicon valence, booster
//!   scalar, negation flag and an id for the words the rules compare against
//!   ("no", "but", "least", idiom parts…) — so each token costs one hash lookup.
//!   The hash is a fixed multiply-rotate function with no per-process seed.
//! - An [`Analyzer`] owns scratch buffers that keep their capacity between
//!   texts: after warm-up, scoring a text does not allocate.
//! - ASCII texts are tokenized straight from the input bytes. Other texts go
//!   through the reference's emoji-to-description rewrite into a scratch
//!   buffer first, with CPython 3.12's whitespace and case tables (generated
//!   by `tools/gen_unicode_tables.py`, Unicode 15.0).
//! - The reference's quirks are kept on purpose: the `list.index`-based
//!   rescaling around "but" (found through an index of positions by value,
//!   so a long post costs O(n log n), not the reference's O(n²)), the strip-punctuation-unless-two-chars-remain
//!   token rule, mixed-case lexicon keys that can never match, the exact-zero
//!   tests, which idiom values are Python ints, CPython 3.12's compensated
//!   `sum()` (which treats ints and floats differently) and Python's
//!   `round()` on the exact binary value.
//!
//! # License of the lexicons
//! `data/vader_lexicon.txt` and `data/emoji_utf8_lexicon.txt` come from
//! vaderSentiment 3.3.2, © 2016 C.J. Hutto, under the MIT license reproduced in
//! `data/LICENSE-vaderSentiment.txt`; that notice ships with them.
//!
//! Hutto, C.J. & Gilbert, E.E. (2014). VADER: A Parsimonious Rule-based Model
//! for Sentiment Analysis of Social Media Text. ICWSM-14.
#![deny(missing_docs)]

mod lexicon;
mod pyfloat;
mod text;
mod unicode_tables;

/// The embedded lexicon files, for scorers that reuse VADER's emoticon and
/// emoji valences.
pub use lexicon::{EMOJI_TXT as EMOJI_LEXICON, LEXICON_TXT as LEXICON};

use std::hash::{BuildHasherDefault, Hasher};

use canary_core::Sentiment;

use lexicon::{B_DECR, BOOST, C_INCR, KEY_MAX, LEX, N_SCALAR, NEG, Table, w};
use pyfloat::{Val, py_round, py_sum};

/// One token as the rules see it: what the table says about its lowercased
/// form plus its own shape.
#[derive(Clone, Copy, Debug, Default)]
struct Tok {
    valence: f64,
    booster: f64,
    /// `LEX | BOOST | NEG` from the table, `NEG` also when it contains "n't".
    flags: u8,
    word: u8,
    /// `str.isupper()` of the token.
    upper: bool,
}

impl Tok {
    #[inline]
    fn is_lex(&self) -> bool {
        self.flags & LEX != 0
    }
}

/// A VADER scorer with reusable scratch space.
///
/// Creating one is cheap (the lexicon table is shared and built on first
/// use); keep one per thread and call [`Analyzer::polarity_scores`] on it.
pub struct Analyzer {
    table: &'static Table,
    toks: Vec<Tok>,
    sentiments: Vec<Val>,
    but_index: ButIndex,
    /// The text with emoji replaced by their descriptions (non-ASCII texts).
    rewritten: String,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer").finish_non_exhaustive()
    }
}

impl Analyzer {
    /// A new analyzer. The first call in a process parses the embedded
    /// lexicons (a few milliseconds); later calls only set up empty buffers.
    pub fn new() -> Self {
        Analyzer {
            table: lexicon::table(),
            toks: Vec::with_capacity(64),
            sentiments: Vec::with_capacity(64),
            but_index: ButIndex::default(),
            rewritten: String::with_capacity(256),
        }
    }

    /// Scores `text` exactly as vaderSentiment 3.3.2's `polarity_scores` does.
    ///
    /// Does not allocate once the scratch buffers have grown to fit the
    /// longest text seen.
    pub fn polarity_scores(&mut self, text: &str) -> Sentiment {
        self.toks.clear();
        let (exclaims, questions) = if text.is_ascii() {
            tokenize(self.table, text.as_bytes(), true, &mut self.toks);
            count_marks(text.as_bytes())
        } else {
            rewrite_emoji(self.table, text, &mut self.rewritten);
            tokenize(self.table, self.rewritten.as_bytes(), false, &mut self.toks);
            count_marks(self.rewritten.as_bytes())
        };
        score(
            &self.toks,
            &mut self.sentiments,
            &mut self.but_index,
            exclaims,
            questions,
        )
    }
}

/// The reference's emoji pass: each char that is an emoji key is replaced by
/// its description, preceded by a space unless the previous char was ' '.
fn rewrite_emoji(table: &Table, text: &str, out: &mut String) {
    out.clear();
    let mut prev_space = true;
    for c in text.chars() {
        if !c.is_ascii()
            && let Some(desc) = table.emoji(c)
        {
            if !prev_space {
                out.push(' ');
            }
            out.push_str(desc);
            prev_space = false;
            continue;
        }
        out.push(c);
        prev_space = c == ' ';
    }
}

fn count_marks(bytes: &[u8]) -> (usize, usize) {
    // Two simple counting loops vectorize; one loop with two counters does not.
    let e = bytes.iter().filter(|&&b| b == b'!').count();
    let q = bytes.iter().filter(|&&b| b == b'?').count();
    (e, q)
}

/// `str.split()` then `_strip_punc_if_word` on each token, classifying each.
fn tokenize(table: &Table, bytes: &[u8], ascii: bool, toks: &mut Vec<Tok>) {
    if ascii {
        return tokenize_ascii(table, bytes, toks);
    }
    let n = bytes.len();
    let mut i = 0;
    while i < n {
        // Skip whitespace.
        let (ws_len, _) = space_at(bytes, i, ascii);
        if ws_len > 0 {
            i += ws_len;
            continue;
        }
        let start = i;
        while i < n {
            let (l, adv) = space_at(bytes, i, ascii);
            if l > 0 {
                break;
            }
            i += adv;
        }
        let tok = text::strip_punct_if_word(&bytes[start..i], ascii);
        toks.push(classify(table, tok, ascii));
    }
}

/// The ASCII fast path of [`tokenize`]: one pass over the bytes, one pass
/// over each token that lowercases it into the key while noting its case.
fn tokenize_ascii(table: &Table, b: &[u8], toks: &mut Vec<Tok>) {
    let n = b.len();
    let mut i = 0;
    while i < n {
        if text::is_ascii_space(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < n && !text::is_ascii_space(b[i]) {
            i += 1;
        }
        let w = text::strip_punct_if_word(&b[start..i], true);
        toks.push(classify_ascii(table, w));
    }
}

#[inline]
fn classify_ascii(table: &Table, w: &[u8]) -> Tok {
    let mut cls = 0u8;
    let mut t = Tok::default();
    if w.len() <= KEY_MAX {
        let mut buf = [0u8; KEY_MAX];
        for (d, &b) in buf.iter_mut().zip(w) {
            let c = text::class(b);
            cls |= c;
            *d = b | text::to_lower_bit(c);
        }
        if let Some(e) = table.get(&lexicon::key_from_buf(&buf), w.len()) {
            t.valence = e.valence;
            t.booster = e.booster;
            t.flags = e.flags;
            t.word = e.word;
        }
    } else {
        for &b in w {
            cls |= text::class(b);
        }
    }
    t.upper = text::class_is_upper(cls);
    if text::class_has_punct(cls) && has_nt(w) {
        t.flags |= NEG;
    }
    t
}

/// "n't" in word.lower(): only ASCII chars lower to 'n', '\'' and 't'.
#[inline]
fn has_nt(w: &[u8]) -> bool {
    w.windows(3)
        .any(|x| x[1] == b'\'' && (x[0] | 0x20) == b'n' && (x[2] | 0x20) == b't')
}

/// Length of the whitespace char at `i` (0 if none) and the length of the
/// char there.
#[inline]
fn space_at(bytes: &[u8], i: usize, ascii: bool) -> (usize, usize) {
    let b = bytes[i];
    if b < 0x80 {
        return (usize::from(text::is_ascii_space(b)), 1);
    }
    debug_assert!(!ascii);
    let len = match b {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    };
    // Only U+0085, U+00A0 (2 bytes) and U+1680..U+3000 (3 bytes) are spaces.
    if len == 4 {
        return (0, 4);
    }
    // SAFETY-free decode: the input is valid UTF-8, so `len` bytes follow.
    let c = std::str::from_utf8(&bytes[i..i + len])
        .ok()
        .and_then(|s| s.chars().next())
        .unwrap_or('\0');
    (if text::is_py_space(c) { len } else { 0 }, len)
}

/// Looks up one token: lowercase it into a key, note `isupper()` and "n't".
#[inline]
fn classify(table: &Table, tok: &[u8], ascii: bool) -> Tok {
    let mut buf = [0u8; KEY_MAX];
    let mut len = 0usize;
    // Whether lower(token) can equal a table key (all ASCII after lowering).
    let mut matchable = true;
    let mut has_upper = false;
    let mut has_lower = false;
    let mut nt = false;
    if ascii {
        for (j, &b) in tok.iter().enumerate() {
            has_upper |= text::is_ascii_upper(b);
            has_lower |= text::is_ascii_lower(b);
            if j < KEY_MAX {
                buf[j] = b.to_ascii_lowercase();
            }
        }
        len = tok.len();
    } else {
        let s = std::str::from_utf8(tok).unwrap_or_default();
        for c in s.chars() {
            let lc = if c.is_ascii() {
                has_upper |= text::is_ascii_upper(c as u8);
                has_lower |= text::is_ascii_lower(c as u8);
                Some(c.to_ascii_lowercase() as u8)
            } else {
                match text::case_class(c) {
                    1 => has_upper = true,
                    2 => has_lower = true,
                    _ => {}
                }
                // KELVIN SIGN is the one non-ASCII char whose lower() is ASCII.
                (c == '\u{212a}').then_some(b'k')
            };
            match lc {
                Some(b) => {
                    if len < KEY_MAX {
                        buf[len] = b;
                    }
                    len += 1;
                }
                None => matchable = false,
            }
        }
    }
    nt |= has_nt(tok);
    let mut t = Tok {
        upper: has_upper && !has_lower,
        flags: if nt { NEG } else { 0 },
        ..Tok::default()
    };
    if matchable
        && len <= KEY_MAX
        && let Some(e) = table.get(&lexicon::key_from_buf(&buf), len)
    {
        t.valence = e.valence;
        t.booster = e.booster;
        t.flags |= e.flags;
        t.word = e.word;
    }
    t
}

/// `polarity_scores` after tokenization.
fn score(
    toks: &[Tok],
    sentiments: &mut Vec<Val>,
    but_index: &mut ButIndex,
    exclaims: usize,
    questions: usize,
) -> Sentiment {
    let n = toks.len();
    let upper = toks.iter().filter(|t| t.upper).count();
    // allcap_differential: some but not all tokens are ALL CAPS.
    let cap_diff = upper > 0 && upper < n;

    sentiments.clear();
    for i in 0..n {
        let t = &toks[i];
        if t.flags & BOOST != 0 {
            sentiments.push(Val::ZERO);
            continue;
        }
        if i + 1 < n && t.word == w::KIND && toks[i + 1].word == w::OF {
            sentiments.push(Val::ZERO);
            continue;
        }
        sentiments.push(sentiment_valence(toks, i, cap_diff));
    }
    but_check(toks, sentiments, but_index);
    score_valence(sentiments, exclaims, questions)
}

fn sentiment_valence(toks: &[Tok], i: usize, cap_diff: bool) -> Val {
    let n = toks.len();
    let t = &toks[i];
    if !t.is_lex() {
        return Val::ZERO;
    }
    let mut v = t.valence;
    if t.word == w::NO && i != n - 1 && toks[i + 1].is_lex() {
        // "no" before a lexicon word negates that word instead of counting.
        v = 0.0;
    }
    if (i > 0 && toks[i - 1].word == w::NO)
        || (i > 1 && toks[i - 2].word == w::NO)
        || (i > 2 && toks[i - 3].word == w::NO && matches!(toks[i - 1].word, w::OR | w::NOR))
    {
        v = t.valence * N_SCALAR;
    }
    if t.upper && cap_diff {
        // `> 0` else: a zero valence becomes -C_INCR, as in the reference.
        if v > 0.0 {
            v += C_INCR;
        } else {
            v -= C_INCR;
        }
    }
    let mut val = Val::float(v);
    for start_i in 0..3 {
        if i > start_i && !toks[i - (start_i + 1)].is_lex() {
            let mut s = scalar_inc_dec(&toks[i - (start_i + 1)], val.v, cap_diff);
            if start_i == 1 && s != 0.0 {
                s *= 0.95;
            }
            if start_i == 2 && s != 0.0 {
                s *= 0.9;
            }
            val = Val::float(negation_check(val.v + s, toks, start_i, i));
            if start_i == 2 {
                val = special_idioms_check(val.v, toks, i);
            }
        }
    }
    least_check(val, toks, i)
}

fn scalar_inc_dec(t: &Tok, valence: f64, cap_diff: bool) -> f64 {
    if t.flags & BOOST == 0 {
        return 0.0;
    }
    let mut scalar = t.booster;
    if valence < 0.0 {
        scalar = -scalar;
    }
    if t.upper && cap_diff {
        if valence > 0.0 {
            scalar += C_INCR;
        } else {
            scalar -= C_INCR;
        }
    }
    scalar
}

#[inline]
fn negated(t: &Tok) -> bool {
    t.flags & NEG != 0
}

fn negation_check(valence: f64, toks: &[Tok], start_i: usize, i: usize) -> f64 {
    let wd = |k: usize| toks[k].word;
    let so_this = |k: usize| matches!(toks[k].word, w::SO | w::THIS);
    match start_i {
        0 => {
            if negated(&toks[i - 1]) {
                return valence * N_SCALAR;
            }
        }
        1 => {
            if wd(i - 2) == w::NEVER && so_this(i - 1) {
                return valence * 1.25;
            } else if wd(i - 2) == w::WITHOUT && wd(i - 1) == w::DOUBT {
                return valence;
            } else if negated(&toks[i - 2]) {
                return valence * N_SCALAR;
            }
        }
        _ => {
            // Python precedence: `a and (b or c) or (d or e)` — "so"/"this"
            // right before the word boosts whatever precedes it.
            if (wd(i - 3) == w::NEVER && so_this(i - 2)) || so_this(i - 1) {
                return valence * 1.25;
            } else if wd(i - 3) == w::WITHOUT && (wd(i - 2) == w::DOUBT || wd(i - 1) == w::DOUBT) {
                return valence;
            } else if negated(&toks[i - 3]) {
                return valence * N_SCALAR;
            }
        }
    }
    valence
}

/// `SPECIAL_CASES` two-word entries; Python ints stay ints.
fn special_pair(a: u8, b: u8) -> Option<Val> {
    Some(match (a, b) {
        (w::THE, w::SHIT) | (w::THE, w::BOMB) => Val::int(3),
        (w::BAD, w::ASS) => Val::float(1.5),
        (w::BUS, w::STOP) => Val::float(0.0),
        (w::YEAH, w::RIGHT) => Val::int(-2),
        (w::BEATING, w::HEART) => Val::float(3.5),
        _ => return None,
    })
}

/// `SPECIAL_CASES` three-word entries.
fn special_triple(a: u8, b: u8, c: u8) -> Option<Val> {
    Some(match (a, b, c) {
        (w::KISS, w::OF, w::DEATH) => Val::float(-1.5),
        (w::TO, w::DIE, w::FOR) => Val::int(3),
        _ => return None,
    })
}

/// Multi-word `BOOSTER_DICT` keys (all dampeners).
fn booster_pair(a: u8, b: u8) -> bool {
    matches!(
        (a, b),
        (w::JUST, w::ENOUGH) | (w::KIND, w::OF) | (w::SORT, w::OF)
    )
}

fn special_idioms_check(valence: f64, toks: &[Tok], i: usize) -> Val {
    let n = toks.len();
    let wd = |k: usize| toks[k].word;
    let mut val = Val::float(valence);
    // sequences = [onezero, twoonezero, twoone, threetwoone, threetwo]; first hit wins.
    let hit = special_pair(wd(i - 1), wd(i))
        .or_else(|| special_triple(wd(i - 2), wd(i - 1), wd(i)))
        .or_else(|| special_pair(wd(i - 2), wd(i - 1)))
        .or_else(|| special_triple(wd(i - 3), wd(i - 2), wd(i - 1)))
        .or_else(|| special_pair(wd(i - 3), wd(i - 2)));
    if let Some(x) = hit {
        val = x;
    }
    if n - 1 > i
        && let Some(x) = special_pair(wd(i), wd(i + 1))
    {
        val = x;
    }
    if n - 1 > i + 1
        && let Some(x) = special_triple(wd(i), wd(i + 1), wd(i + 2))
    {
        val = x;
    }
    // n_grams = [threetwoone, threetwo, twoone]; no booster key has three words.
    if booster_pair(wd(i - 3), wd(i - 2)) {
        val = Val::float(val.v + B_DECR);
    }
    if booster_pair(wd(i - 2), wd(i - 1)) {
        val = Val::float(val.v + B_DECR);
    }
    val
}

fn least_check(val: Val, toks: &[Tok], i: usize) -> Val {
    let least = |k: usize| !toks[k].is_lex() && toks[k].word == w::LEAST;
    if i > 1 && least(i - 1) {
        if toks[i - 2].word != w::AT && toks[i - 2].word != w::VERY {
            return Val::float(val.v * N_SCALAR);
        }
    } else if i > 0 && least(i - 1) {
        return Val::float(val.v * N_SCALAR);
    }
    val
}

/// Token counts up to which [`but_check`] runs the reference's loop as it
/// is written: its cost grows with the square of the count, but below this
/// it is cheaper than maintaining [`ButIndex`].
const BUT_LITERAL_MAX: usize = 64;

/// `_but_check`: for each value in turn, `list.index` finds the first equal
/// value, and that position is rescaled. Repeated values thus rescale the
/// first occurrence again and again while later ones keep theirs.
fn but_check(toks: &[Tok], sentiments: &mut [Val], index: &mut ButIndex) {
    let Some(bi) = toks.iter().position(|t| t.word == w::BUT) else {
        return;
    };
    if sentiments.len() <= BUT_LITERAL_MAX {
        but_check_literal(bi, sentiments);
    } else {
        index.but_check(bi, sentiments);
    }
}

/// The reference's loop, one linear search per value.
fn but_check_literal(bi: usize, sentiments: &mut [Val]) {
    for k in 0..sentiments.len() {
        let s = sentiments[k];
        let si = sentiments
            .iter()
            .position(|x| x.v == s.v)
            .expect("the value itself is in the list");
        if si < bi {
            sentiments[si] = Val::float(s.v * 0.5);
        } else if si > bi {
            sentiments[si] = Val::float(s.v * 1.5);
        }
    }
}

const NIL: u32 = u32::MAX;

/// The positions of the `sentiments` list grouped by value, so that
/// `list.index(v)` is the smallest position of `v`'s group. Each group is a
/// leftist min-heap threaded through three arrays indexed by position (a
/// position is in exactly one group at a time), which keeps a long post's
/// `_but_check` at O(n log n) and lets the buffers be reused without
/// allocating.
#[derive(Default)]
struct ButIndex {
    /// Root position of each group, keyed by [`value_key`].
    roots: std::collections::HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
    left: Vec<u32>,
    right: Vec<u32>,
    /// Length of the right spine, which the leftist shape keeps logarithmic
    /// and so bounds the recursion of [`ButIndex::merge`].
    rank: Vec<u32>,
}

/// A multiply-xorshift hash of a [`value_key`], several times cheaper than
/// SipHash. A seeded hash would buy nothing here: the keys are valences from
/// the lexicon and their halvings, not bytes an author controls freely.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        let h = (self.0 ^ x ^ (x >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 32);
    }
}

/// Python's `==` on floats: `-0.0` equals `0.0`. Values are never NaN.
#[inline]
fn value_key(v: f64) -> u64 {
    if v == 0.0 { 0 } else { v.to_bits() }
}

impl ButIndex {
    fn but_check(&mut self, bi: usize, sentiments: &mut [Val]) {
        let n = u32::try_from(sentiments.len()).expect("a text holds fewer than 2^32 tokens");
        self.roots.clear();
        self.left.clear();
        self.left.resize(n as usize, NIL);
        self.right.clear();
        self.right.resize(n as usize, NIL);
        self.rank.clear();
        self.rank.resize(n as usize, 1);
        for k in 0..n {
            // Position k joins its group only now: every position already in
            // a group is smaller, and later ones cannot be a group's first.
            let s = sentiments[k as usize];
            let key = value_key(s.v);
            let first = self.roots.get(&key).copied().unwrap_or(NIL);
            let si = if first == NIL { k } else { first };
            let f = match (si as usize).cmp(&bi) {
                std::cmp::Ordering::Less => 0.5,
                std::cmp::Ordering::Greater => 1.5,
                std::cmp::Ordering::Equal => {
                    let root = self.merge(first, k);
                    self.roots.insert(key, root);
                    continue;
                }
            };
            if si != k {
                // si leaves the group, k stays in it.
                let rest = self.merge(self.left[si as usize], self.right[si as usize]);
                self.left[si as usize] = NIL;
                self.right[si as usize] = NIL;
                self.rank[si as usize] = 1;
                let root = self.merge(rest, k);
                self.roots.insert(key, root);
            }
            let new = Val::float(s.v * f);
            sentiments[si as usize] = new;
            self.insert(value_key(new.v), si);
        }
    }

    fn insert(&mut self, key: u64, pos: u32) {
        let root = self.roots.get(&key).copied().unwrap_or(NIL);
        let root = self.merge(root, pos);
        self.roots.insert(key, root);
    }

    fn rank_of(&self, node: u32) -> u32 {
        if node == NIL {
            0
        } else {
            self.rank[node as usize]
        }
    }

    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        let (a, b) = if b < a { (b, a) } else { (a, b) };
        let ai = a as usize;
        let r = self.merge(self.right[ai], b);
        self.right[ai] = r;
        if self.rank_of(self.left[ai]) < self.rank_of(r) {
            self.right[ai] = self.left[ai];
            self.left[ai] = r;
        }
        self.rank[ai] = self.rank_of(self.right[ai]) + 1;
        a
    }
}

fn score_valence(sentiments: &[Val], exclaims: usize, questions: usize) -> Sentiment {
    if sentiments.is_empty() {
        return Sentiment {
            neg: 0.0,
            neu: 0.0,
            pos: 0.0,
            compound: 0.0,
        };
    }
    let mut sum_s = py_sum(sentiments);
    let ep = exclaims.min(4) as f64 * 0.292;
    let qm = if questions > 1 {
        if questions <= 3 {
            questions as f64 * 0.18
        } else {
            0.96
        }
    } else {
        0.0
    };
    let amp = ep + qm;
    if sum_s > 0.0 {
        sum_s += amp;
    } else if sum_s < 0.0 {
        sum_s -= amp;
    }
    let compound = normalize(sum_s);

    let mut pos_sum = 0.0f64;
    let mut neg_sum = 0.0f64;
    let mut neu_count = 0u32;
    for s in sentiments {
        if s.v > 0.0 {
            pos_sum += s.v + 1.0;
        }
        if s.v < 0.0 {
            neg_sum += s.v - 1.0;
        }
        if s.v == 0.0 {
            neu_count += 1;
        }
    }
    if pos_sum > neg_sum.abs() {
        pos_sum += amp;
    } else if pos_sum < neg_sum.abs() {
        neg_sum -= amp;
    }
    let total = pos_sum + neg_sum.abs() + f64::from(neu_count);
    Sentiment {
        neg: py_round((neg_sum / total).abs(), 3),
        neu: py_round((f64::from(neu_count) / total).abs(), 3),
        pos: py_round((pos_sum / total).abs(), 3),
        compound: py_round(compound, 4),
    }
}

fn normalize(score: f64) -> f64 {
    let norm = score / (score * score + 15.0).sqrt();
    norm.clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests;
