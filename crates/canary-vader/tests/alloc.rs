//! Scoring allocates nothing once an analyzer's scratch buffers are warm.

use canary_testkit::alloc::{CountingAlloc, allocs};
use canary_vader::Analyzer;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Scores `texts` `rounds` times after one warm-up pass; returns allocations
/// made during the measured rounds.
fn measure(texts: &[String], rounds: usize) -> (usize, usize) {
    let mut vader = Analyzer::new();
    let mut check = 0.0;
    for t in texts {
        check += vader.polarity_scores(t).compound;
    }
    let before = allocs();
    let mut calls = 0;
    for _ in 0..rounds {
        for t in texts {
            check += std::hint::black_box(vader.polarity_scores(t)).compound;
            calls += 1;
        }
    }
    let n = allocs() - before;
    assert!(check.is_finite());
    (n, calls)
}

/// Non-ASCII texts: emoji (rewritten into descriptions), Unicode whitespace,
/// case-mapped letters, long tokens.
fn unicode_texts() -> Vec<String> {
    let base = [
        "Catch utf-8 emoji such as 💘 and 💋 and 😁",
        "I ❤ this 😍😍😍 so much!!!",
        "ǅemal was not \u{212a}IND but ÉTÉ\u{3000}was bad 👎🏽",
        "no\u{85}good\u{2000}at\u{a0}all\x1c:( 😡",
        "Σας ευχαριστώ πολύ 🙏 привет ПЛОХО",
        "日本語のテキスト 🎉🎉 great!!",
        "naïve café ﬁne straße İyi 🔥 THE BOMB",
    ];
    let mut v: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    for (i, s) in base.iter().enumerate() {
        v.push(s.repeat(1 + i % 4));
    }
    v
}

#[test]
fn no_allocation_per_text_after_warm_up() {
    // Both measurements live in this one test so nothing else runs on its thread.
    let unicode = unicode_texts();
    let (n, calls) = measure(&unicode, 500);
    assert!(calls >= 5_000);
    assert_eq!(n, 0, "{n} allocations over {calls} non-ASCII texts");

    let Some(path) = canary_testkit::shared_data("vader/tweets_GroundTruth.txt") else {
        return;
    };
    let raw = std::fs::read_to_string(&path).expect("tweets");
    let tweets: Vec<String> = raw
        .split("\r\n")
        .filter_map(|l| l.splitn(3, '\t').nth(2).map(str::to_owned))
        .collect();
    assert_eq!(tweets.len(), 4_200);
    let (n, calls) = measure(&tweets, 3);
    assert_eq!(n, 0, "{n} allocations over {calls} tweets");

    // The synthetic set mixes emoji, control chars and Unicode whitespace.
    if let Some(p) = canary_testkit::shared_data("vader/synthetic_parity_50k.jsonl") {
        let texts: Vec<String> = std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .take(5_000)
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["text"].as_str().unwrap().to_owned()
            })
            .collect();
        let (n, calls) = measure(&texts, 2);
        assert_eq!(n, 0, "{n} allocations over {calls} synthetic texts");
    }
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the measurement itself: a text longer than any seen grows the
    // scratch buffers, which must be counted.
    let mut vader = Analyzer::new();
    vader.polarity_scores("ok");
    let long = "so good 😀 ".repeat(200);
    let before = allocs();
    vader.polarity_scores(&long);
    assert!(allocs() > before);
}
