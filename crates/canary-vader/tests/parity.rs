//! Parity with the reference on the stored golden files.

use std::path::Path;

use canary_core::Sentiment;
use canary_vader::Analyzer;
use serde_json::Value;

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid JSONL"))
        .collect()
}

fn num(v: &Value, field: &str) -> f64 {
    v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("missing {field} in {v}"))
}

/// Scores every text of `texts` and compares with `golden` line by line.
fn check(texts: &str, golden: &str, expect_len: usize) {
    let (Some(tp), Some(gp)) = (
        canary_testkit::shared_data(texts),
        canary_testkit::shared_data(golden),
    ) else {
        return;
    };
    let texts = read_jsonl(&tp);
    let golden = read_jsonl(&gp);
    assert_eq!(texts.len(), expect_len, "{}", tp.display());
    assert_eq!(golden.len(), texts.len(), "{}", gp.display());

    let mut vader = Analyzer::new();
    let mut diffs = Vec::new();
    for (t, g) in texts.iter().zip(&golden) {
        assert_eq!(t["id"], g["id"], "files out of step");
        let text = t["text"].as_str().expect("text");
        let got = vader.polarity_scores(text);
        let want = Sentiment {
            neg: num(g, "neg"),
            neu: num(g, "neu"),
            pos: num(g, "pos"),
            compound: num(g, "compound"),
        };
        if (got.neg, got.neu, got.pos, got.compound)
            != (want.neg, want.neu, want.pos, want.compound)
        {
            diffs.push((text.to_owned(), got, want));
        }
    }
    for (text, got, want) in diffs.iter().take(8) {
        eprintln!("text {text:?}\n  canary    {got:?}\n  reference {want:?}");
    }
    assert!(
        diffs.is_empty(),
        "{} of {} texts differ from the reference",
        diffs.len(),
        texts.len()
    );
    eprintln!("{} texts, 0 differences", texts.len());
}

#[test]
fn corpus_matches_golden() {
    check("vader/corpus.jsonl", "vader/corpus.golden.jsonl", 23_703);
}

#[test]
fn synthetic_adversarial_set_matches_golden() {
    check(
        "vader/synthetic_parity_50k.jsonl",
        "vader/synthetic_parity_50k.golden.jsonl",
        50_000,
    );
}
