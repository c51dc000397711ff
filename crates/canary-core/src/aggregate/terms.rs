//! Terms that explain an alert: which words, hashtags and handles are
//! over-represented in a window's negative posts compared with the negative
//! posts the baseline has seen.
//!
//! Ranking uses the weighted log-odds ratio with a uniform Dirichlet prior
//! (Monroe, Colaresi & Quinn 2008), which stays sensible on the small counts of
//! a single window. Only negative posts are tokenized, so the cost is paid on a
//! few percent of the stream; both maps are capped, so state stays bounded by
//! keys and windows.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Distinct terms a window keeps; new terms past this are not counted.
pub const WINDOW_TERM_CAP: usize = 4096;
/// Distinct terms a baseline keeps; past this, the lightest half is dropped.
pub const BASELINE_TERM_CAP: usize = 8192;

const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "amp",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "cant",
    "could",
    "did",
    "didnt",
    "do",
    "does",
    "doesnt",
    "doing",
    "don",
    "dont",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "get",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "im",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "let",
    "ll",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "re",
    "rt",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "ve",
    "very",
    "via",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// Stop words of the other market languages, as terms are spelled (lowercase,
/// accents kept), sorted for binary search. English's apply to every post.
const STOP_WORDS_BY_LANG: &[(&str, &[&str])] = &[
    (
        "ar",
        &[
            "أن", "أنا", "أنت", "أو", "إلى", "إن", "التي", "الذي", "اللى", "اللي", "الى", "ان",
            "انا", "انت", "او", "بعد", "ثم", "دا", "ده", "دي", "ذلك", "على", "عن", "عند", "في",
            "قبل", "قد", "كان", "كانت", "كل", "مع", "من", "نحن", "هذا", "هذه", "هم", "هو", "هي",
            "و", "يا",
        ],
    ),
    (
        "de",
        &[
            "aber", "als", "am", "an", "auch", "auf", "aus", "bei", "bin", "bis", "bist", "da",
            "das", "dass", "dem", "den", "der", "des", "die", "dir", "doch", "du", "ein", "eine",
            "einem", "einen", "einer", "er", "es", "für", "hab", "habe", "hat", "ich", "ihr", "im",
            "in", "ist", "ja", "mal", "man", "mein", "meine", "mich", "mir", "mit", "nach", "noch",
            "nur", "oder", "schon", "sein", "sich", "sie", "sind", "so", "um", "und", "uns", "von",
            "vor", "war", "was", "wie", "wir", "zu", "zum", "zur", "über",
        ],
    ),
    (
        "es",
        &[
            "a", "al", "algo", "algunos", "ante", "antes", "como", "con", "contra", "cual",
            "cuando", "de", "del", "desde", "donde", "durante", "e", "el", "ella", "ellas",
            "ellos", "en", "entre", "era", "es", "esa", "ese", "eso", "esta", "estaba", "estas",
            "este", "esto", "estos", "está", "están", "fue", "ha", "hay", "la", "las", "le", "les",
            "lo", "los", "me", "mi", "mis", "muy", "más", "nos", "o", "os", "para", "pero", "por",
            "porque", "que", "qué", "se", "ser", "si", "sin", "sobre", "son", "su", "sus", "te",
            "ti", "tu", "tus", "un", "una", "uno", "unos", "y", "ya", "yo", "él",
        ],
    ),
    (
        "fr",
        &[
            "a", "au", "aux", "avec", "c", "ce", "ces", "cette", "d", "dans", "de", "des", "du",
            "elle", "en", "est", "et", "eu", "il", "ils", "j", "je", "l", "la", "le", "les",
            "leur", "lui", "m", "ma", "mais", "me", "mes", "moi", "mon", "n", "ne", "nous", "on",
            "ou", "par", "pas", "pour", "qu", "que", "qui", "s", "sa", "se", "ses", "son", "sur",
            "t", "ta", "te", "tes", "toi", "ton", "tu", "un", "une", "vous", "y", "à", "ça", "été",
            "être",
        ],
    ),
    (
        "it",
        &[
            "a", "ad", "al", "alla", "alle", "anche", "che", "chi", "ci", "come", "con", "da",
            "dal", "dalla", "dei", "del", "della", "delle", "di", "e", "ed", "gli", "ha", "hanno",
            "ho", "i", "il", "in", "io", "la", "le", "lei", "li", "lo", "loro", "lui", "ma", "mi",
            "mia", "mio", "ne", "nei", "nel", "nella", "noi", "o", "per", "perché", "più", "se",
            "si", "sia", "sono", "su", "sua", "suo", "ti", "tu", "un", "una", "uno", "vi", "è",
        ],
    ),
    (
        "pt",
        &[
            "a", "ao", "aos", "as", "até", "com", "como", "da", "das", "de", "dela", "dele", "do",
            "dos", "e", "ela", "ele", "eles", "em", "entre", "era", "essa", "esse", "isso", "isto",
            "já", "lhe", "mais", "mas", "me", "meu", "minha", "muito", "na", "nas", "no", "nos",
            "nós", "o", "os", "ou", "para", "pela", "pelo", "por", "porque", "quando", "que", "se",
            "sem", "ser", "seu", "sua", "são", "também", "te", "tem", "tu", "um", "uma", "você",
            "vocês", "é",
        ],
    ),
];

fn is_stop_word(w: &str, lang: Option<&str>) -> bool {
    STOP_WORDS.binary_search(&w).is_ok() || lang.is_some_and(|l| is_stop_word_of(w, l))
}

/// Whether lowercased `w` is a stop word of language `lang` (es pt fr de it
/// ar; English's own list is not consulted).
pub fn is_stop_word_of(w: &str, lang: &str) -> bool {
    STOP_WORDS_BY_LANG
        .iter()
        .find(|(c, _)| *c == lang)
        .is_some_and(|(_, ws)| ws.binary_search(&w).is_ok())
}

/// Calls `f` with each term of `text`: lowercased words of two or more
/// characters, `#hashtags` and `@handles` kept with their mark; URLs, numbers
/// and English stop words dropped. `buf` is reused scratch space.
pub fn for_each_term(text: &str, buf: &mut String, f: impl FnMut(&str)) {
    for_each_term_in(text, None, buf, f)
}

/// [`for_each_term`] for a post in `lang`: that language's stop words are
/// dropped too (English's always are: posts mix in English words).
pub fn for_each_term_in(text: &str, lang: Option<&str>, buf: &mut String, mut f: impl FnMut(&str)) {
    for raw in text.split(|c: char| c.is_whitespace()) {
        if raw.starts_with("http://") || raw.starts_with("https://") || raw.starts_with("www.") {
            continue;
        }
        let mut rest = raw;
        while !rest.is_empty() {
            // A term starts at a word character, or at '#'/'@' directly followed by one.
            let Some(start) = rest.char_indices().find_map(|(i, c)| {
                let word = c.is_alphanumeric() || c == '_';
                let mark = (c == '#' || c == '@')
                    && rest[i + 1..]
                        .chars()
                        .next()
                        .is_some_and(|n| n.is_alphanumeric() || n == '_');
                (word || mark).then_some(i)
            }) else {
                break;
            };
            let s = &rest[start..];
            let mark_len = usize::from(s.starts_with('#') || s.starts_with('@'));
            let end = s[mark_len..]
                .char_indices()
                .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == '\''))
                .map_or(s.len(), |(i, _)| i + mark_len);
            let token = s[..end].trim_end_matches('\'');
            rest = &s[end.max(1)..];
            buf.clear();
            for c in token.chars() {
                if c != '\'' {
                    buf.extend(c.to_lowercase());
                }
            }
            let body = &buf[mark_len..];
            if body.chars().count() < 2 || body.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            if mark_len == 0 && is_stop_word(body, lang) {
                continue;
            }
            f(buf);
        }
    }
}

/// The terms of one text, tokenized once: a post that matches many watches
/// is counted in each watch's window without being tokenized again.
#[derive(Debug, Default)]
pub struct TermBuf {
    terms: String,
    ends: Vec<usize>,
    buf: String,
}

impl TermBuf {
    /// Tokenizes `text`, replacing what was held.
    pub fn fill(&mut self, text: &str) {
        self.fill_in(text, None);
    }

    /// Tokenizes `text` of a post in `lang` (see [`for_each_term_in`]).
    pub fn fill_in(&mut self, text: &str, lang: Option<&str>) {
        self.terms.clear();
        self.ends.clear();
        let (terms, ends) = (&mut self.terms, &mut self.ends);
        for_each_term_in(text, lang, &mut self.buf, |t| {
            terms.push_str(t);
            ends.push(terms.len());
        });
    }

    /// The terms, in text order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let mut start = 0;
        self.ends.iter().map(move |&e| {
            let t = &self.terms[start..e];
            start = e;
            t
        })
    }
}

/// Term counts of one window's negative posts.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct WindowTerms {
    counts: HashMap<Box<str>, u32>,
    total: u64,
}

impl WindowTerms {
    /// Counts the terms of one negative post.
    pub fn add_text(&mut self, text: &str, buf: &mut String) {
        for_each_term(text, buf, |t| self.add_term(t));
    }

    /// Counts terms tokenized once for several windows.
    pub fn add_terms(&mut self, terms: &TermBuf) {
        for t in terms.iter() {
            self.add_term(t);
        }
    }

    fn add_term(&mut self, t: &str) {
        if let Some(c) = self.counts.get_mut(t) {
            *c += 1;
        } else if self.counts.len() < WINDOW_TERM_CAP {
            self.counts.insert(t.into(), 1);
        } else {
            return;
        }
        self.total += 1;
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The `k` terms most over-represented against `baseline`, as (term, count, z).
    /// Terms seen once in the window are left out: one post is not a pattern.
    pub fn top_against(&self, baseline: &BaselineTerms, k: usize) -> Vec<(String, u64, f64)> {
        if k == 0 || self.total == 0 {
            return Vec::new();
        }
        const PRIOR: f64 = 0.5;
        let vocab = (self.counts.len() + baseline.weights.len()) as f64;
        let a0 = PRIOR * vocab;
        let (n_i, n_j) = (self.total as f64, baseline.total);
        let mut scored: Vec<(String, u64, f64)> = self
            .counts
            .iter()
            .filter(|(_, c)| **c >= 2)
            .map(|(t, &c)| {
                let yi = f64::from(c) + PRIOR;
                let yj = baseline.weights.get(t).copied().unwrap_or(0.0) + PRIOR;
                let delta = (yi / (n_i + a0 - yi)).ln() - (yj / (n_j + a0 - yj)).ln();
                let z = delta / (1.0 / yi + 1.0 / yj).sqrt();
                (t.to_string(), u64::from(c), z)
            })
            .filter(|(_, _, z)| *z > 0.0)
            .collect();
        scored.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        scored.truncate(k);
        scored
    }
}

/// Exponentially decayed term weights of the negative posts a baseline has absorbed.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct BaselineTerms {
    weights: HashMap<Box<str>, f64>,
    total: f64,
}

impl BaselineTerms {
    /// Decays by `factor` and adds a closed window's terms.
    pub fn absorb(&mut self, window: &WindowTerms, factor: f64) {
        self.decay(factor);
        for (t, &c) in &window.counts {
            *self.weights.entry(t.clone()).or_insert(0.0) += f64::from(c);
        }
        self.total += window.total as f64;
        if self.weights.len() > BASELINE_TERM_CAP {
            let mut v: Vec<(Box<str>, f64)> = self.weights.drain().collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(BASELINE_TERM_CAP / 2);
            self.total = v.iter().map(|(_, w)| w).sum();
            self.weights = v.into_iter().collect();
        }
    }

    /// Decays every weight by `factor` (e.g. for windows with no negative posts).
    pub fn decay(&mut self, factor: f64) {
        if factor < 1.0 {
            for w in self.weights.values_mut() {
                *w *= factor;
            }
            self.total *= factor;
        }
    }

    /// Distinct terms held.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether no term is held.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(s: &str) -> Vec<String> {
        let mut v = Vec::new();
        for_each_term(s, &mut String::new(), |t| v.push(t.to_owned()));
        v
    }

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        for (l, ws) in STOP_WORDS_BY_LANG {
            assert!(ws.windows(2).all(|w| w[0] < w[1]), "{l}");
        }
    }

    #[test]
    fn stop_words_of_the_post_language_hashtags_kept() {
        let terms_in = |s: &str, l: &str| {
            let mut v = Vec::new();
            for_each_term_in(s, Some(l), &mut String::new(), |t| v.push(t.to_owned()));
            v
        };
        assert_eq!(
            terms_in(
                "El vuelo de #Acme es una estafa y no me devuelven el dinero",
                "es"
            ),
            vec!["vuelo", "#acme", "estafa", "no", "devuelven", "dinero"]
        );
        assert_eq!(
            terms_in("Der Flug ist eine Katastrophe #AcmeFail", "de"),
            vec!["flug", "katastrophe", "#acmefail"]
        );
        assert_eq!(
            terms_in("الخدمة في المطار سيئة جدا", "ar"),
            vec!["الخدمة", "المطار", "سيئة", "جدا"]
        );
        // Without the language only English stop words go.
        assert!(terms("El vuelo de Acme").contains(&"el".to_string()));
    }

    #[test]
    fn tokenizes_tweets() {
        assert_eq!(
            terms("RT @AcmeHelp: My #AcmeFail refund is LATE!!! https://t.co/x 2024 don't"),
            vec!["@acmehelp", "#acmefail", "refund", "late"]
        );
        assert_eq!(
            terms("Ça coûte trop cher"),
            vec!["ça", "coûte", "trop", "cher"]
        );
        assert_eq!(terms("# @ a b"), Vec::<String>::new());
    }

    #[test]
    fn ranks_new_complaints_above_usual_ones() {
        let mut base = BaselineTerms::default();
        let mut w = WindowTerms::default();
        let mut buf = String::new();
        for _ in 0..50 {
            w.add_text("slow delivery again", &mut buf);
        }
        base.absorb(&w, 1.0);
        let mut now = WindowTerms::default();
        for _ in 0..20 {
            now.add_text("discount program cancelled, slow delivery", &mut buf);
        }
        let top = now.top_against(&base, 3);
        let names: Vec<&str> = top.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(names, vec!["cancelled", "discount", "program"]);
    }
}
