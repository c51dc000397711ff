//! Evaluation sets, defined as in `langid/RESULTS.md` so figures compare:
//! XLM-T/UMSAB test tweets without the romanised-Hindi file, TweetLID training
//! tweets with a single label in {es, pt, en} (Catalan scored apart), and
//! lingua's per-language test files.
#![allow(dead_code)]

/// One labelled text.
pub struct Sample {
    /// Gold ISO 639-1 code.
    pub lang: &'static str,
    /// Raw text.
    pub text: String,
}

/// XLM-T directory names and codes; Hindi is left out (romanised, 0 Devanagari).
pub const XLMT: [(&str, &str); 7] = [
    ("arabic", "ar"),
    ("english", "en"),
    ("french", "fr"),
    ("german", "de"),
    ("italian", "it"),
    ("portuguese", "pt"),
    ("spanish", "es"),
];

/// TweetLID languages scored in the macro average; `ca` is scored apart.
pub const TWEETLID: [&str; 3] = ["en", "es", "pt"];

/// The 15 languages of lingua's test data used in RESULTS.md.
pub const LINGUA15: [&str; 15] = [
    "ar", "de", "en", "es", "fr", "hi", "id", "it", "ja", "ko", "nl", "pt", "ru", "tr", "zh",
];

fn leak(code: &str) -> &'static str {
    Box::leak(code.to_owned().into_boxed_str())
}

/// XLM-T tweets (7 x 870), or None (skip message printed) without shared data.
pub fn xlmt() -> Option<Vec<Sample>> {
    let dir = canary_testkit::shared_data("multilingual_sentiment_umsab/test")?;
    let mut out = Vec::new();
    for (name, code) in XLMT {
        let text = std::fs::read_to_string(dir.join(name).join("test_text.txt"))
            .expect("read XLM-T test_text.txt");
        out.extend(text.lines().map(|l| Sample {
            lang: code,
            text: l.to_owned(),
        }));
    }
    Some(out)
}

/// TweetLID training tweets with a single label in {es, pt, en, ca}.
pub fn tweetlid() -> Option<Vec<Sample>> {
    let path = canary_testkit::shared_data("langid/tweetlid/train_complete_clean.txt")?;
    let text = std::fs::read_to_string(path).expect("read TweetLID");
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(4, '\t');
        let (_, _, label, tweet) = (f.next(), f.next(), f.next(), f.next());
        let lang = match label {
            Some("es") => "es",
            Some("pt") => "pt",
            Some("en") => "en",
            Some("ca") => "ca",
            _ => continue,
        };
        out.push(Sample {
            lang,
            text: tweet.unwrap_or("").to_owned(),
        });
    }
    Some(out)
}

/// lingua test data: `kind` is `sentences`, `word-pairs` or `single-words`.
pub fn lingua(kind: &str, langs: &[&str]) -> Option<Vec<Sample>> {
    let dir = canary_testkit::shared_data("langid/lingua-testdata")?;
    let mut out = Vec::new();
    for code in langs {
        let p = dir.join(code).join(format!("{kind}.txt"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let code = leak(code);
        out.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| Sample {
                    lang: code,
                    text: l.to_owned(),
                }),
        );
    }
    Some(out)
}

/// Per-language accuracy (%) where `expect(gold)` is the right output.
pub struct Scores {
    /// (gold, correct, total) per language, in first-seen order.
    pub per_lang: Vec<(&'static str, usize, usize)>,
}

impl Scores {
    /// Scores `predict` over `samples`.
    pub fn run(
        samples: &[Sample],
        mut predict: impl FnMut(&str) -> &'static str,
        expect: impl Fn(&'static str) -> &'static str,
    ) -> Scores {
        let mut per_lang: Vec<(&'static str, usize, usize)> = Vec::new();
        for s in samples {
            let ok = predict(&s.text) == expect(s.lang);
            let i = match per_lang.iter().position(|(l, _, _)| *l == s.lang) {
                Some(i) => i,
                None => {
                    per_lang.push((s.lang, 0, 0));
                    per_lang.len() - 1
                }
            };
            per_lang[i].1 += ok as usize;
            per_lang[i].2 += 1;
        }
        Scores { per_lang }
    }

    /// Accuracy (%) for one language.
    pub fn lang(&self, code: &str) -> Option<f64> {
        self.per_lang
            .iter()
            .find(|(l, _, _)| *l == code)
            .map(|(_, c, t)| 100.0 * *c as f64 / *t as f64)
    }

    /// Macro average (%) over `langs`.
    pub fn macro_avg(&self, langs: &[&str]) -> f64 {
        let v: Vec<f64> = langs.iter().filter_map(|l| self.lang(l)).collect();
        v.iter().sum::<f64>() / v.len() as f64
    }
}
