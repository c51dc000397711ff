//! The static lookup table: every word the scorer needs to recognise, keyed by
//! its lowercased form, in one open-addressing table probed once per token.

use std::sync::OnceLock;

use crate::text::py_strip;

/// `vader_lexicon.txt` of vaderSentiment 3.3.2, as embedded.
pub const LEXICON_TXT: &str = include_str!("../data/vader_lexicon.txt");
/// `emoji_utf8_lexicon.txt` of vaderSentiment 3.3.2, as embedded.
pub const EMOJI_TXT: &str = include_str!("../data/emoji_utf8_lexicon.txt");

pub(crate) const B_INCR: f64 = 0.293;
pub(crate) const B_DECR: f64 = -0.293;
pub(crate) const C_INCR: f64 = 0.733;
pub(crate) const N_SCALAR: f64 = -0.74;

/// Longest key the table can hold. Tokens longer than this cannot match and
/// skip the lookup; `Table::build` panics if a reachable key is longer.
pub(crate) const KEY_MAX: usize = 24;
pub(crate) type Key = [u64; KEY_MAX / 8];

/// Flag: the word is in `vader_lexicon.txt`.
pub(crate) const LEX: u8 = 1;
/// Flag: the word is a single-word key of the reference's `BOOSTER_DICT`.
pub(crate) const BOOST: u8 = 2;
/// Flag: the word is in the reference's `NEGATE` list.
pub(crate) const NEG: u8 = 4;

const NEGATE: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

const BOOST_UP: &[&str] = &[
    "absolutely",
    "amazingly",
    "awfully",
    "completely",
    "considerable",
    "considerably",
    "decidedly",
    "deeply",
    "effing",
    "enormous",
    "enormously",
    "entirely",
    "especially",
    "exceptional",
    "exceptionally",
    "extreme",
    "extremely",
    "fabulously",
    "flipping",
    "flippin",
    "frackin",
    "fracking",
    "fricking",
    "frickin",
    "frigging",
    "friggin",
    "fully",
    "fuckin",
    "fucking",
    "fuggin",
    "fugging",
    "greatly",
    "hella",
    "highly",
    "hugely",
    "incredible",
    "incredibly",
    "intensely",
    "major",
    "majorly",
    "more",
    "most",
    "particularly",
    "purely",
    "quite",
    "really",
    "remarkably",
    "so",
    "substantially",
    "thoroughly",
    "total",
    "totally",
    "tremendous",
    "tremendously",
    "uber",
    "unbelievably",
    "unusually",
    "utter",
    "utterly",
    "very",
];

// The multi-word dampeners ("just enough", "kind of", "sort of") can never equal
// one token (tokens contain no whitespace); they only act through the n-gram
// check, which matches them by word id.
const BOOST_DOWN: &[&str] = &[
    "almost",
    "barely",
    "hardly",
    "kinda",
    "kindof",
    "kind-of",
    "less",
    "little",
    "marginal",
    "marginally",
    "occasional",
    "occasionally",
    "partly",
    "scarce",
    "scarcely",
    "slight",
    "slightly",
    "somewhat",
    "sorta",
    "sortof",
    "sort-of",
];

/// Ids of the words the rules compare tokens against (0 = none of them).
pub(crate) mod w {
    pub const NO: u8 = 1;
    pub const BUT: u8 = 2;
    pub const KIND: u8 = 3;
    pub const OF: u8 = 4;
    pub const LEAST: u8 = 5;
    pub const AT: u8 = 6;
    pub const VERY: u8 = 7;
    pub const NEVER: u8 = 8;
    pub const SO: u8 = 9;
    pub const THIS: u8 = 10;
    pub const WITHOUT: u8 = 11;
    pub const DOUBT: u8 = 12;
    pub const OR: u8 = 13;
    pub const NOR: u8 = 14;
    pub const THE: u8 = 15;
    pub const SHIT: u8 = 16;
    pub const BOMB: u8 = 17;
    pub const BAD: u8 = 18;
    pub const ASS: u8 = 19;
    pub const BUS: u8 = 20;
    pub const STOP: u8 = 21;
    pub const YEAH: u8 = 22;
    pub const RIGHT: u8 = 23;
    pub const BEATING: u8 = 24;
    pub const HEART: u8 = 25;
    pub const KISS: u8 = 26;
    pub const DEATH: u8 = 27;
    pub const TO: u8 = 28;
    pub const DIE: u8 = 29;
    pub const FOR: u8 = 30;
    pub const JUST: u8 = 31;
    pub const ENOUGH: u8 = 32;
    pub const SORT: u8 = 33;

    pub(crate) const ALL: &[(&str, u8)] = &[
        ("no", NO),
        ("but", BUT),
        ("kind", KIND),
        ("of", OF),
        ("least", LEAST),
        ("at", AT),
        ("very", VERY),
        ("never", NEVER),
        ("so", SO),
        ("this", THIS),
        ("without", WITHOUT),
        ("doubt", DOUBT),
        ("or", OR),
        ("nor", NOR),
        ("the", THE),
        ("shit", SHIT),
        ("bomb", BOMB),
        ("bad", BAD),
        ("ass", ASS),
        ("bus", BUS),
        ("stop", STOP),
        ("yeah", YEAH),
        ("right", RIGHT),
        ("beating", BEATING),
        ("heart", HEART),
        ("kiss", KISS),
        ("death", DEATH),
        ("to", TO),
        ("die", DIE),
        ("for", FOR),
        ("just", JUST),
        ("enough", ENOUGH),
        ("sort", SORT),
    ];
}

/// What the table knows about one lowercased word.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Entry {
    key: Key,
    len: u8,
    /// `LEX | BOOST | NEG` bits.
    pub flags: u8,
    /// Word id from [`w`], 0 if none.
    pub word: u8,
    /// Lexicon valence (when `LEX`).
    pub valence: f64,
    /// Booster scalar (when `BOOST`).
    pub booster: f64,
}

/// Lexicon, rule words and emoji descriptions, built once per process.
pub(crate) struct Table {
    slots: Box<[u32]>,
    shift: u32,
    entries: Vec<Entry>,
    /// Single-char emoji keys and their descriptions, sorted by char.
    emojis: Vec<(char, &'static str)>,
}

static TABLE: OnceLock<Table> = OnceLock::new();

/// The process-wide table.
pub(crate) fn table() -> &'static Table {
    TABLE.get_or_init(Table::build)
}

#[cfg(test)]
/// Packs a lowercased word into a zero-padded key. `None` if it is too long.
pub(crate) fn pack(bytes: &[u8]) -> Option<Key> {
    if bytes.len() > KEY_MAX {
        return None;
    }
    let mut buf = [0u8; KEY_MAX];
    buf[..bytes.len()].copy_from_slice(bytes);
    Some(key_from_buf(&buf))
}

#[inline]
pub(crate) fn key_from_buf(buf: &[u8; KEY_MAX]) -> Key {
    let mut k = [0u64; KEY_MAX / 8];
    for (i, k) in k.iter_mut().enumerate() {
        *k = u64::from_le_bytes(buf[i * 8..i * 8 + 8].try_into().unwrap());
    }
    k
}

#[inline]
fn key_eq(a: &Key, b: &Key) -> bool {
    a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[inline]
fn hash(key: &Key, len: usize) -> u64 {
    // Fixed multiply-rotate mixing (FxHash style): fast, no per-process seed,
    // so probing and results never depend on the run.
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mut h = (len as u64).wrapping_mul(K);
    for &x in key {
        h = (h.rotate_left(5) ^ x).wrapping_mul(K);
    }
    h ^ (h >> 32)
}

impl Table {
    fn build() -> Table {
        let mut entries: Vec<Entry> = Vec::with_capacity(8192);
        let mut index: std::collections::BTreeMap<Vec<u8>, usize> = Default::default();
        let mut upsert = |word: &str, f: &mut dyn FnMut(&mut Entry)| {
            // A token's lowercased form is ASCII without uppercase letters or
            // whitespace (non-ASCII chars lower to ASCII only for KELVIN SIGN,
            // which the tokenizer folds itself). Keys outside that shape, like
            // ":D" or "fed up", can never match in the reference either.
            let b = word.as_bytes();
            if b.is_empty()
                || !b.iter().all(|&c| {
                    c.is_ascii() && !c.is_ascii_uppercase() && !crate::text::is_ascii_space(c)
                })
            {
                return;
            }
            assert!(
                b.len() <= KEY_MAX,
                "lexicon key longer than KEY_MAX: {word}"
            );
            let i = *index.entry(b.to_vec()).or_insert_with(|| {
                let mut buf = [0u8; KEY_MAX];
                buf[..b.len()].copy_from_slice(b);
                entries.push(Entry {
                    key: key_from_buf(&buf),
                    len: b.len() as u8,
                    ..Entry::default()
                });
                entries.len() - 1
            });
            f(&mut entries[i]);
        };

        // make_lex_dict: rstrip('\n').split('\n'), skip empty lines,
        // line.strip().split('\t')[0:2]; later duplicates overwrite earlier.
        for line in LEXICON_TXT.trim_end_matches('\n').split('\n') {
            if line.is_empty() {
                continue;
            }
            let mut parts = py_strip(line).split('\t');
            let word = parts.next().unwrap_or("");
            let measure: f64 = py_strip(parts.next().expect("lexicon line without a tab"))
                .parse()
                .expect("lexicon measure is a float");
            upsert(word, &mut |e| {
                e.flags |= LEX;
                e.valence = measure;
            });
        }
        for &word in BOOST_UP {
            upsert(word, &mut |e| {
                e.flags |= BOOST;
                e.booster = B_INCR;
            });
        }
        for &word in BOOST_DOWN {
            upsert(word, &mut |e| {
                e.flags |= BOOST;
                e.booster = B_DECR;
            });
        }
        for &word in NEGATE {
            upsert(word, &mut |e| e.flags |= NEG);
        }
        for &(word, id) in w::ALL {
            upsert(word, &mut |e| e.word = id);
        }

        let bits = (entries.len() * 2).next_power_of_two().trailing_zeros();
        let mut slots = vec![u32::MAX; 1 << bits].into_boxed_slice();
        let shift = 64 - bits;
        let mask = slots.len() - 1;
        for (i, e) in entries.iter().enumerate() {
            let mut s = (hash(&e.key, e.len as usize) >> shift) as usize;
            while slots[s] != u32::MAX {
                s = (s + 1) & mask;
            }
            slots[s] = i as u32;
        }

        // make_emoji_dict: same line handling. `for chr in text` looks up
        // single code points, so only single-char keys can ever match.
        let mut emojis: Vec<(char, &'static str)> = Vec::new();
        for line in EMOJI_TXT.trim_end_matches('\n').split('\n') {
            let mut parts = py_strip(line).split('\t');
            let key = parts.next().unwrap_or("");
            let desc = parts.next().expect("emoji line without a tab");
            let mut chars = key.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                emojis.push((c, desc));
            }
        }
        // Stable sort, then keep the last of equal keys (dict overwrite).
        emojis.sort_by_key(|&(c, _)| c);
        let mut dedup: Vec<(char, &'static str)> = Vec::with_capacity(emojis.len());
        for e in emojis {
            match dedup.last_mut() {
                Some(last) if last.0 == e.0 => *last = e,
                _ => dedup.push(e),
            }
        }

        Table {
            slots,
            shift,
            entries,
            emojis: dedup,
        }
    }

    /// The entry for a lowercased word packed by [`pack`]/[`key_from_buf`].
    #[inline]
    pub(crate) fn get(&self, key: &Key, len: usize) -> Option<&Entry> {
        let mask = self.slots.len() - 1;
        let mut s = (hash(key, len) >> self.shift) as usize;
        loop {
            let i = self.slots[s];
            if i == u32::MAX {
                return None;
            }
            let e = &self.entries[i as usize];
            if e.len as usize == len && key_eq(&e.key, key) {
                return Some(e);
            }
            s = (s + 1) & mask;
        }
    }

    /// Description of a single-char emoji.
    #[inline]
    pub(crate) fn emoji(&self, c: char) -> Option<&'static str> {
        self.emojis
            .binary_search_by_key(&c, |&(k, _)| k)
            .ok()
            .map(|i| self.emojis[i].1)
    }

    #[cfg(test)]
    pub(crate) fn lookup(&self, word: &str) -> Option<&Entry> {
        let k = pack(word.as_bytes())?;
        self.get(&k, word.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_lexicon_lines_keep_the_last_value() {
        // Python's dict keeps the last assignment; find duplicated words in the
        // file and check the table holds each one's final value.
        let mut last: std::collections::HashMap<&str, (usize, f64)> = Default::default();
        let mut dups = 0;
        for line in LEXICON_TXT.trim_end_matches('\n').split('\n') {
            let mut p = line.trim().split('\t');
            let (word, v) = (p.next().unwrap(), p.next().unwrap().parse::<f64>().unwrap());
            let n = last.get(word).map_or(0, |x| x.0);
            dups += usize::from(n > 0);
            last.insert(word, (n + 1, v));
        }
        assert!(dups > 0, "the shipped lexicon has duplicated words");
        let t = table();
        for (word, (n, v)) in last {
            if n > 1
                && word
                    .bytes()
                    .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
            {
                assert_eq!(t.lookup(word).unwrap().valence, v, "{word}");
            }
        }
    }

    #[test]
    fn rule_words_share_entries_with_the_lexicon() {
        let t = table();
        assert!(t.lookup(":)").is_some_and(|e| e.flags & LEX != 0));
        assert!(
            t.lookup("so")
                .is_some_and(|e| e.flags & BOOST != 0 && e.word == w::SO)
        );
        assert!(
            t.lookup("no")
                .is_some_and(|e| e.flags & LEX != 0 && e.word == w::NO)
        );
    }

    #[test]
    fn emoji_lookup_covers_single_code_points_only() {
        let t = table();
        assert_eq!(t.emoji('😁'), Some("beaming face with smiling eyes"));
        assert_eq!(t.emoji('a'), None);
        // Keycap "#️⃣" is a multi-char key: '#' alone is no emoji.
        assert_eq!(t.emoji('#'), None);
    }
}
