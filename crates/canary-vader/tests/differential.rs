//! Differential test against the live reference: fresh seeded adversarial
//! texts, scored by vaderSentiment 3.3.2 in one Python process and by canary.
//!
//! The interpreter is `$CANARY_VADER_PYTHON`, else
//! `<repo>/.tools/vader-venv/bin/python` (created by
//! `scripts/setup-vader-reference.sh`). Without it the test is skipped, unless
//! `CANARY_REQUIRE_SHARED=1`.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use canary_vader::Analyzer;

const TEXTS: usize = 120_000;

const LEXICON: &str = include_str!("../data/vader_lexicon.txt");
const EMOJI: &str = include_str!("../data/emoji_utf8_lexicon.txt");

const SCRIPT: &str = r#"
import json, sys
if sys.version_info < (3, 12):
    sys.exit("the reference is CPython >= 3.12")
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
a = SentimentIntensityAnalyzer()
out = sys.stdout
for line in sys.stdin.buffer:
    s = a.polarity_scores(json.loads(line))
    out.write("%r %r %r %r\n" % (s["neg"], s["neu"], s["pos"], s["compound"]))
out.flush()
"#;

/// xorshift64*: small, seeded, identical on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const BOOSTERS: &[&str] = &[
    "very",
    "really",
    "so",
    "extremely",
    "totally",
    "kinda",
    "sorta",
    "barely",
    "hardly",
    "slightly",
    "kind of",
    "sort of",
    "just enough",
    "fucking",
    "uber",
    "friggin",
    "most",
    "less",
    "kind-of",
    "sort-of",
    "little",
];
const NEGATIONS: &[&str] = &[
    "not",
    "never",
    "isn't",
    "don't",
    "can't",
    "won't",
    "wont",
    "without",
    "nothing",
    "nor",
    "aint",
    "didn't",
    "seldom",
    "rarely",
    "despite",
    "uh-uh",
    "none",
    "shouldn't",
    "neednt",
    "couldn't",
    "ain't",
];
const RULE_WORDS: &[&str] = &[
    "but",
    "but",
    "no",
    "no",
    "or",
    "nor",
    "at least",
    "very least",
    "least",
    "the shit",
    "the bomb",
    "bad ass",
    "badass",
    "yeah right",
    "kiss of death",
    "to die for",
    "beating heart",
    "bus stop",
    "never so",
    "never this",
    "without doubt",
    "without a doubt",
    "so",
    "this",
    "kind",
    "of",
    "the",
    "heart",
];
const FILLERS: &[&str] = &[
    "the", "a", "I", "x", "it", "&", "is", "was", "movie", "phone", "today", "2", "42", "u", "ok",
    "OK", "lol", "LOL", "i'm", "we",
];
const ODD_WORDS: &[&str] = &[
    "ǅemal",
    "ﬁne",
    "\u{212a}ind",
    "\u{212a}IND",
    "İyi",
    "ΣΑΣ",
    "σας",
    "straße",
    "ÉTÉ",
    "naïve",
    "Ωmega",
    "ＧＯＯＤ",
    "good\u{301}",
    "gr\u{e8}at",
    "ⅫⅪ",
    "ʰi",
    "ᾈ",
    "ǈ",
    "ß",
    "Ⓐ",
    "\u{1d400}",
    "привет",
    "ПЛОХО",
    "日本",
    "café",
    "\u{fe0f}",
    "\u{200d}",
    "ab\u{0}c",
];
const EMOTICONS: &[&str] = &[
    ":)", ":(", ":D", ":d", ":P", ":p", ":-Þ", ":Þ", "<3", "</3", ":-)", ";)", "=D", "o_O", "O_o",
    "(:", "):", ":'(", "XD", "xD", "^_^", ":-D", ":/",
];
const PUNCT_RUNS: &[&str] = &[
    "!", "!!", "!!!", "!!!!!", "?", "??", "???", "?????", "?!", "...", ",", ".", ";", ":", "-",
    "'", "\"", "(", ")", "*", "…", "#", "@", "~", "!?!?",
];
const SEPARATORS: &[&str] = &[
    "\t", "\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\u{85}", "\u{a0}",
    "\u{1680}", "\u{2000}", "\u{2007}", "\u{200a}", "\u{2028}", "\u{2029}", "\u{202f}", "\u{205f}",
    "\u{3000}", "\u{200b}", "\u{180e}", "\u{feff}", "  ", "", "\x01", "\x07", "\x7f",
];

struct Vocab {
    lexicon: Vec<&'static str>,
    emoji: Vec<&'static str>,
}

impl Vocab {
    fn new() -> Vocab {
        let lexicon = LEXICON
            .lines()
            .filter_map(|l| l.split('\t').next())
            .filter(|w| !w.is_empty())
            .collect();
        let emoji = EMOJI
            .lines()
            .filter_map(|l| l.split('\t').next())
            .filter(|w| !w.is_empty())
            .collect();
        Vocab { lexicon, emoji }
    }
}

fn piece(r: &mut Rng, v: &Vocab) -> String {
    let base = match r.below(100) {
        0..=34 => v.lexicon[r.below(v.lexicon.len())],
        35..=44 => r.pick(BOOSTERS),
        45..=51 => r.pick(NEGATIONS),
        52..=61 => r.pick(RULE_WORDS),
        62..=71 => r.pick(FILLERS),
        72..=79 => v.emoji[r.below(v.emoji.len())],
        80..=85 => r.pick(EMOTICONS),
        86..=90 => r.pick(ODD_WORDS),
        91..=95 => r.pick(PUNCT_RUNS),
        _ => {
            // Emoji with a modifier or glued to a word.
            let e = v.emoji[r.below(v.emoji.len())];
            return match r.below(3) {
                0 => format!("{e}\u{1f3fd}"),
                1 => format!("{}{e}", r.pick(FILLERS)),
                _ => format!("{e}{}", v.lexicon[r.below(v.lexicon.len())]),
            };
        }
    };
    let mut s = match r.below(100) {
        0..=14 => base.to_uppercase(),
        15..=24 => {
            let mut c = base.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        }
        25..=28 => base
            .chars()
            .map(|c| {
                if r.chance(50) {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect(),
        _ => base.to_owned(),
    };
    if r.chance(12) {
        s = format!("{}{s}", r.pick(PUNCT_RUNS));
    }
    if r.chance(18) {
        s.push_str(r.pick(PUNCT_RUNS));
    }
    s
}

fn text(r: &mut Rng, v: &Vocab) -> String {
    if r.chance(1) {
        return r
            .pick(&["", " ", "\u{3000}\x1c", "!!!", "??", "\u{1f600}"])
            .to_owned();
    }
    let max = if r.chance(10) { 60 } else { 18 };
    let n = 1 + r.below(max);
    let mut pieces: Vec<String> = Vec::with_capacity(n);
    let mut out = String::new();
    for i in 0..n {
        // Repeats make equal values, which `_but_check`'s list.index mishandles.
        let p = if i > 0 && r.chance(20) {
            pieces[r.below(pieces.len())].clone()
        } else {
            piece(r, v)
        };
        if i > 0 {
            out.push_str(if r.chance(85) {
                " "
            } else {
                r.pick(SEPARATORS)
            });
        }
        out.push_str(&p);
        pieces.push(p);
    }
    if r.chance(10) {
        out.push_str(r.pick(SEPARATORS));
    }
    out
}

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("CANARY_VADER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| canary_testkit::repo_root().join(".tools/vader-venv/bin/python"));
    if p.exists() {
        return Some(p);
    }
    assert!(
        !canary_testkit::shared_required(),
        "reference interpreter {} is missing and {}=1 (run scripts/setup-vader-reference.sh)",
        p.display(),
        canary_testkit::REQUIRE_ENV
    );
    eprintln!(
        "skipping: reference interpreter {} is absent (run scripts/setup-vader-reference.sh)",
        p.display()
    );
    None
}

#[test]
fn random_texts_match_live_reference() {
    let Some(py) = python() else { return };
    let vocab = Vocab::new();
    let mut rng = Rng(0x005e_ed0f_7ade_c0de);
    let texts: Vec<String> = (0..TEXTS).map(|_| text(&mut rng, &vocab)).collect();

    let mut child = Command::new(&py)
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", py.display()));
    let mut stdin = BufWriter::new(child.stdin.take().unwrap());
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::scope(|s| {
        s.spawn(|| {
            for t in &texts {
                serde_json::to_writer(&mut stdin, t).unwrap();
                stdin.write_all(b"\n").unwrap();
            }
            stdin.flush().unwrap();
            drop(stdin);
        });
        let got: Vec<[f64; 4]> = BufReader::new(stdout)
            .lines()
            .map(|l| {
                let l = l.unwrap();
                let mut it = l.split(' ').map(|x| x.parse::<f64>().unwrap());
                std::array::from_fn(|_| it.next().unwrap())
            })
            .collect();
        got
    });
    assert!(child.wait().unwrap().success(), "reference process failed");
    assert_eq!(reader.len(), texts.len(), "reference answered every text");

    let mut vader = Analyzer::new();
    let mut diffs = 0;
    for (t, want) in texts.iter().zip(&reader) {
        let s = vader.polarity_scores(t);
        let got = [s.neg, s.neu, s.pos, s.compound];
        if got != *want {
            diffs += 1;
            if diffs <= 8 {
                eprintln!("text {t:?}\n  canary    {got:?}\n  reference {want:?}");
            }
        }
    }
    assert_eq!(
        diffs,
        0,
        "{diffs} of {} texts differ from the reference",
        texts.len()
    );
    eprintln!("{} random texts, 0 differences", texts.len());
}
