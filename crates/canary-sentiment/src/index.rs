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
//! 4. else, in a language that falls back to English, VADER's valence of `w`.
//!
//! The index holds every `w` that resolves, each inserted by the first step
//! that reaches it; the tests check it against the steps applied one by one.

use crate::tables::{Entry, FxMap, LangTable};

/// Builds the index of `t` from its words, clitics, endings and, where `t`
/// falls back to English, `english`.
pub(crate) fn build(t: &LangTable, english: &FxMap<Box<str>, f32>) -> FxMap<Box<str>, Entry> {
    let mut index: FxMap<Box<str>, Entry> = FxMap::default();
    index.reserve(t.words.len() * (1 + t.prefixes.len() + t.suffixes.len()));
    index.extend(t.words.iter().map(|(k, &e)| (k.clone(), e)));
    // Sorted, so that the index does not depend on the words' map order.
    let mut scored: Vec<(&str, Entry)> = t
        .words
        .iter()
        .filter(|(_, e)| e.valence != 0.0)
        .map(|(k, &e)| (&**k, e))
        .collect();
    scored.sort_unstable_by_key(|&(k, _)| k);
    let mut key = String::new();
    for p in t.prefixes {
        for &(rest, e) in &scored {
            if rest.chars().count() >= 2 {
                key.clear();
                key.push_str(p);
                key.push_str(rest);
                index.entry(key.as_str().into()).or_insert(e);
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
                index.entry(key.as_str().into()).or_insert(e);
            }
        }
    }
    if t.english_fallback {
        for (w, &v) in english {
            index.entry(w.clone()).or_insert(Entry {
                valence: v,
                ..Entry::default()
            });
        }
    }
    index.shrink_to_fit();
    index
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
    if t.english_fallback {
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
        let mut out: Vec<String> = t.index.keys().map(|k| k.to_string()).collect();
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
                assert_eq!(t.index.get(w.as_str()).copied(), want, "{lang:?} {w:?}");
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
