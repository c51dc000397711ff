//! Macro-F1 over negative/neutral/positive on the UMSAB test splits, for
//! canary-sentiment next to VADER on the same texts.
//!
//! `cargo run --release -p canary-sentiment --example umsab` prints a markdown table;
//! `-- --confusion` adds each scored language's confusion matrix.

use canary_sentiment::Scorer;
use canary_vader::Analyzer;

const LANGS: &[(&str, &str, f64)] = &[
    ("ar", "arabic", 46.0),
    ("en", "english", 50.9),
    ("fr", "french", 54.8),
    ("de", "german", 59.6),
    ("hi", "hindi", 37.1),
    ("it", "italian", 54.7),
    ("pt", "portuguese", 55.1),
    ("es", "spanish", 50.1),
];

fn class(compound: f64) -> usize {
    if compound <= -0.05 {
        0
    } else if compound >= 0.05 {
        2
    } else {
        1
    }
}

/// Macro-F1 (percent) over the three classes.
fn macro_f1(pairs: &[(usize, usize)]) -> f64 {
    let mut f = 0.0;
    for k in 0..3 {
        let tp = pairs.iter().filter(|&&(y, p)| y == k && p == k).count() as f64;
        let fp = pairs.iter().filter(|&&(y, p)| y != k && p == k).count() as f64;
        let fn_ = pairs.iter().filter(|&&(y, p)| y == k && p != k).count() as f64;
        if tp > 0.0 {
            f += 2.0 * tp / (2.0 * tp + fp + fn_);
        }
    }
    100.0 * f / 3.0
}

fn main() {
    let mut scorer = Scorer::new();
    let mut vader = Analyzer::new();
    println!(
        "| lang | canary-sentiment | VADER | fastText (per language) | zero compound (canary) | at or above fastText |"
    );
    println!("|---|---:|---:|---:|---:|---|");
    let (mut sum_c, mut sum_v, mut sum_f, mut n) = (0.0, 0.0, 0.0, 0.0);
    let mut confusion = Vec::new();
    for &(code, dir, ft) in LANGS {
        let base = format!("multilingual_sentiment_umsab/test/{dir}");
        let (Some(tp), Some(lp)) = (
            canary_testkit::shared_data(&format!("{base}/test_text.txt")),
            canary_testkit::shared_data(&format!("{base}/test_labels.txt")),
        ) else {
            return;
        };
        let texts = std::fs::read_to_string(tp).expect("texts");
        let labels = std::fs::read_to_string(lp).expect("labels");
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        let mut zero = 0;
        for (t, y) in texts.lines().zip(labels.lines()) {
            let y: usize = y.trim().parse().expect("label");
            let v = vader.polarity_scores(t).compound;
            theirs.push((y, class(v)));
            let c = scorer.score(code, t).map(|s| s.compound);
            if let Some(c) = c {
                zero += usize::from(c == 0.0);
                ours.push((y, class(c)));
            }
        }
        let fv = macro_f1(&theirs);
        let (fc, z) = if ours.is_empty() {
            ("not scored".to_string(), "—".to_string())
        } else {
            let f = macro_f1(&ours);
            sum_c += f;
            sum_v += fv;
            sum_f += ft;
            n += 1.0;
            (
                format!("{f:.1}"),
                format!("{:.1}%", 100.0 * zero as f64 / ours.len() as f64),
            )
        };
        let ok = if ours.is_empty() {
            "—".to_string()
        } else if macro_f1(&ours) >= ft {
            "yes".into()
        } else {
            format!("no ({:+.1})", macro_f1(&ours) - ft)
        };
        println!("| {code} | {fc} | {fv:.1} | {ft:.1} | {z} | {ok} |");
        if std::env::args().any(|a| a == "--confusion") && !ours.is_empty() {
            confusion.push((code, ours.clone()));
        }
    }
    println!(
        "| average of scored languages | {:.1} | {:.1} | {:.1} | | |",
        sum_c / n,
        sum_v / n,
        sum_f / n
    );
    for (code, pairs) in &confusion {
        println!();
        println!("{code}: rows = label, columns = canary's class (negative, neutral, positive)");
        for (y, name) in ["negative", "neutral", "positive"].iter().enumerate() {
            let row: Vec<usize> = (0..3)
                .map(|p| pairs.iter().filter(|&&q| q == (y, p)).count())
                .collect();
            println!("  {name:>8}: {:>4} {:>4} {:>4}", row[0], row[1], row[2]);
        }
    }
    // Peak RSS of this process: both scorers' tables plus the texts.
    if let Ok(st) = std::fs::read_to_string("/proc/self/status")
        && let Some(l) = st.lines().find(|l| l.starts_with("VmHWM"))
    {
        println!("peak RSS (VmHWM): {}", l[6..].trim());
    }
}
