//! How VADER (English-only) behaves on the non-English UMSAB test splits,
//! next to the English one: share of posts scored negative, share scored
//! exactly neutral (compound == 0, usually no lexicon word recognised),
//! 3-class accuracy and recall/precision on the negative class.
//!
//! `cargo run --release -p canary-vader --example umsab` prints a markdown table.

use canary_vader::Analyzer;

const LANGS: &[(&str, &str)] = &[
    ("en", "english"),
    ("ar", "arabic"),
    ("de", "german"),
    ("es", "spanish"),
    ("fr", "french"),
    ("hi", "hindi"),
    ("it", "italian"),
    ("pt", "portuguese"),
];

/// VADER's usual thresholds: 0 negative, 1 neutral, 2 positive (UMSAB labels).
fn class(compound: f64) -> u8 {
    if compound <= -0.05 {
        0
    } else if compound >= 0.05 {
        2
    } else {
        1
    }
}

fn main() {
    let mut vader = Analyzer::new();
    println!(
        "| lang | posts | called negative | compound == 0 | accuracy (3-class) | negative recall | negative precision |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for &(code, dir) in LANGS {
        let base = format!("multilingual_sentiment_umsab/test/{dir}");
        let (Some(tp), Some(lp)) = (
            canary_testkit::shared_data(&format!("{base}/test_text.txt")),
            canary_testkit::shared_data(&format!("{base}/test_labels.txt")),
        ) else {
            return;
        };
        let texts = std::fs::read_to_string(tp).expect("texts");
        let labels = std::fs::read_to_string(lp).expect("labels");
        let texts: Vec<&str> = texts.lines().collect();
        let labels: Vec<u8> = labels
            .lines()
            .map(|l| l.trim().parse().expect("label"))
            .collect();
        assert_eq!(texts.len(), labels.len(), "{dir}");
        let (mut neg, mut zero, mut correct, mut tp_neg, mut true_neg) = (0, 0, 0, 0, 0);
        for (t, &y) in texts.iter().zip(&labels) {
            let c = vader.polarity_scores(t).compound;
            let p = class(c);
            neg += usize::from(p == 0);
            zero += usize::from(c == 0.0);
            correct += usize::from(p == y);
            true_neg += usize::from(y == 0);
            tp_neg += usize::from(p == 0 && y == 0);
        }
        let n = texts.len() as f64;
        let pct = |x: usize, of: f64| 100.0 * x as f64 / of;
        println!(
            "| {code} | {} | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% |",
            texts.len(),
            pct(neg, n),
            pct(zero, n),
            pct(correct, n),
            pct(tp_neg, true_neg as f64),
            if neg > 0 {
                pct(tp_neg, neg as f64)
            } else {
                0.0
            },
        );
    }
}
