//! The word index: every folded form a text word can take that resolves to
//! an entry, computed once when the tables are built, so that a text word
//! costs one hash lookup instead of one per clitic and per ending.
//!
//! A folded word `w` resolves, in this order, to
//! 1. its own entry, when it is a lexicon or rule word (even one of valence 0);
//! 2. else the entry of `rest`, for the first prefix clitic `p` (list order)
//!    with `w` = `p` + `rest`, where `rest` has two chars or more and a
//!    non-zero valence;
//! 3. else, when `w` has four chars or more, the entry of `stem` + `to` for
//!    the first ending swap (`from`, `to`) with `w` = `stem` + `from`, where
//!    `stem` + `to` has a non-zero valence;
//! 4. else, in a language that falls back to English, VADER's valence of `w`,
//!    unless `w` is one of the language's stop words ("die" and "war" are an
//!    article and "was" in German, "mia" is "my" in Italian) or false friends
//!    ("kind" is a child in German, "pain" bread in French).
//!
//! The index holds every `w` that resolves, each inserted by the first step
//! that reaches it; the tests check it against the steps applied one by one.
//! It is stored compactly ([`WordMap`]): about 233,000 forms over the six
//! languages (de 66k, ar 50k, fr 44k, pt 43k, it 17k, es 13k).

use std::hash::Hasher;

use crate::tables::{Entry, Fx, FxMap, LangTable};
use canary_core::aggregate::is_stop_word_of;

/// A read-only map from folded words to entries: the keys' bytes in one
/// string, the entries in one vector, and an open-addressing table of
/// indices into it with a hash tag each (linear probing, at most half full;
/// most text words miss, and the tag answers most misses without reading a
/// key). A general hash map would hold a separate allocation per key and
/// twice the memory.
#[derive(Default)]
pub(crate) struct WordMap {
    keys: String,
    /// Key start and end in `keys`, and the entry.
    entries: Vec<(u32, u32, Entry)>,
    /// Index into `entries` (or `EMPTY`) and the low half of its key's hash.
    slots: Vec<(u32, u32)>,
    /// log2 of `slots.len()`.
    bits: u32,
}

const EMPTY: u32 = u32::MAX;

fn hash(w: &str) -> u64 {
    let mut h = Fx::default();
    h.write(w.as_bytes());
    h.finish()
}

impl WordMap {
    /// An empty map with room for `n` keys.
    fn with_capacity(n: usize) -> WordMap {
        let bits = (2 * n).max(2).next_power_of_two().trailing_zeros();
        WordMap {
            keys: String::new(),
            entries: Vec::with_capacity(n),
            slots: vec![(EMPTY, 0); 1 << bits],
            bits,
        }
    }

    /// Adds `w` unless it is a key already (the first insertion wins).
    fn insert_if_absent(&mut self, w: &str, e: Entry) {
        assert!(
            2 * self.entries.len() < self.slots.len(),
            "sized for its keys"
        );
        let h = hash(w);
        let mut i = self.slot(h);
        while self.slots[i].0 != EMPTY {
            if self.key(self.slots[i].0) == w {
                return;
            }
            i = (i + 1) & (self.slots.len() - 1);
        }
        let start = self.keys.len() as u32;
        self.keys.push_str(w);
        let at = u32::try_from(self.entries.len()).expect("fewer than 2^32 words");
        self.slots[i] = (at, h as u32);
        self.entries.push((start, self.keys.len() as u32, e));
    }

    fn key(&self, at: u32) -> &str {
        let (start, end, _) = self.entries[at as usize];
        &self.keys[start as usize..end as usize]
    }

    /// The first slot to probe for hash `h`: its top bits, the best mixed.
    fn slot(&self, h: u64) -> usize {
        (h >> (64 - self.bits)) as usize
    }

    pub(crate) fn get(&self, w: &str) -> Option<&Entry> {
        let h = hash(w);
        let mut i = self.slot(h);
        loop {
            let (at, tag) = self.slots[i];
            if at == EMPTY {
                return None;
            }
            if tag == h as u32 && self.key(at) == w {
                return Some(&self.entries[at as usize].2);
            }
            i = (i + 1) & (self.slots.len() - 1);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        (0..self.entries.len() as u32).map(|at| self.key(at))
    }
}

/// Builds the index of `t` from its words, clitics, endings and, where `t`
/// falls back to English, `english`.
pub(crate) fn build(t: &LangTable, english: &FxMap<Box<str>, f32>) -> WordMap {
    let scored: Vec<(&str, Entry)> = t
        .words
        .iter()
        .filter(|(_, e)| e.valence != 0.0)
        .map(|(k, &e)| (&**k, e))
        .collect();
    let english_len = if t.english_fallback { english.len() } else { 0 };
    let mut index = WordMap::with_capacity(
        t.words.len() + (t.prefixes.len() + t.suffixes.len()) * scored.len() + english_len,
    );
    for (w, &e) in &t.words {
        index.insert_if_absent(w, e);
    }
    let mut key = String::new();
    for p in t.prefixes {
        for &(rest, e) in &scored {
            if rest.chars().count() >= 2 {
                key.clear();
                key.push_str(p);
                key.push_str(rest);
                index.insert_if_absent(&key, e);
            }
        }
    }
    for &(from, to) in t.suffixes {
        for &(word, e) in &scored {
            let Some(stem) = word.strip_suffix(to) else {
                continue;
            };
            key.clear();
            key.push_str(stem);
            key.push_str(from);
            if key.chars().count() >= 4 {
                index.insert_if_absent(&key, e);
            }
        }
    }
    if t.english_fallback {
        for (w, &v) in english {
            if not_english(t, w) {
                continue;
            }
            let e = Entry {
                valence: v,
                ..Entry::default()
            };
            index.insert_if_absent(w, e);
        }
    }
    index.keys.shrink_to_fit();
    index.entries.shrink_to_fit();
    index
}

/// A word the English fallback must not read as English: one of the
/// language's stop words or false friends.
fn not_english(t: &LangTable, w: &str) -> bool {
    is_stop_word_of(w, t.lang.code()) || t.lang.rules().false_friends.contains(&w)
}

/// The resolution steps applied one by one to `w`, as the module docs state
/// them: what the index must give for every word.
#[cfg(test)]
pub(crate) fn resolve_by_steps(
    t: &LangTable,
    english: &FxMap<Box<str>, f32>,
    w: &str,
) -> Option<Entry> {
    let scored = |k: &str| t.words.get(k).filter(|e| e.valence != 0.0).copied();
    if let Some(&e) = t.words.get(w) {
        return Some(e);
    }
    let by_prefix = t.prefixes.iter().find_map(|p| {
        let rest = w.strip_prefix(p)?;
        if rest.chars().count() >= 2 {
            scored(rest)
        } else {
            None
        }
    });
    if by_prefix.is_some() {
        return by_prefix;
    }
    if w.chars().count() >= 4 {
        let by_ending = t.suffixes.iter().find_map(|&(from, to)| {
            let stem = w.strip_suffix(from)?;
            scored(&format!("{stem}{to}"))
        });
        if by_ending.is_some() {
            return by_ending;
        }
    }
    if t.english_fallback && !not_english(t, w) {
        return english.get(w).map(|&v| Entry {
            valence: v,
            ..Entry::default()
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::fold_word;
    use crate::rules::Lang;
    use crate::tables::{english, tables};

    /// Words to check in `lang`: every index key, near misses of every
    /// lexicon word (a char cut or added, clitics stacked), and every word of
    /// the language's UMSAB test texts when the shared data is present.
    fn candidates(lang: Lang, t: &LangTable) -> Vec<String> {
        let mut out: Vec<String> = t.index.keys().map(str::to_owned).collect();
        for k in t.words.keys() {
            let mut cut = k.to_string();
            cut.pop();
            out.push(cut);
            out.push(format!("{k}x"));
            for p in t.prefixes {
                for q in t.prefixes {
                    out.push(format!("{q}{p}{k}"));
                }
            }
            for &(from, _) in t.suffixes {
                out.push(format!("{k}{from}"));
            }
        }
        let dir = match lang {
            Lang::Es => "spanish",
            Lang::Pt => "portuguese",
            Lang::Fr => "french",
            Lang::De => "german",
            Lang::It => "italian",
            Lang::Ar => "arabic",
        };
        let path = format!("multilingual_sentiment_umsab/test/{dir}/test_text.txt");
        if let Some(p) = canary_testkit::shared_data(&path) {
            let text = std::fs::read_to_string(p).expect("texts");
            let mut w = String::new();
            for raw in text.split(|c: char| !c.is_alphanumeric()) {
                fold_word(raw, &mut w);
                out.push(w.clone());
            }
        }
        out
    }

    #[test]
    fn index_equals_the_steps_one_by_one() {
        let tables = tables();
        let english = english();
        for lang in Lang::ALL {
            let t = &tables.langs[lang.index()];
            let words = candidates(lang, t);
            let mut resolved = 0;
            for w in &words {
                let want = resolve_by_steps(t, &english, w);
                assert_eq!(t.index.get(w).copied(), want, "{lang:?} {w:?}");
                resolved += usize::from(want.is_some());
            }
            // Every index key resolves, so the check covered at least those.
            assert!(resolved >= t.index.len(), "{lang:?}");
        }
    }

    #[test]
    fn arabic_index_resolves_clitics_and_endings() {
        let t = &tables().langs[Lang::Ar.index()];
        // سيئة, folded.
        let bare = t.words.get("سيئه").copied().expect("a lexicon word");
        assert!(bare.valence < 0.0);
        assert_eq!(t.index.get("والسيئه").copied(), Some(bare));
        assert_eq!(t.index.get("سيئهين").copied(), Some(bare));
        assert_eq!(t.index.get("وسيئهين"), None);
    }
}
