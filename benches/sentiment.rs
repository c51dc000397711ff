//! Throughput and latency of canary-sentiment per language against VADER
//! (canary-vader) in the same run, one thread, on the UMSAB test texts (870
//! tweets per language).
//!
//! `cargo bench --bench sentiment`. Without `../shared/data` it prints a
//! message and exits 0.

use std::hint::black_box;
use std::time::Instant;

use canary_sentiment::{Lang, Scorer};
use hdrhistogram::Histogram;

fn load(dir: &str) -> Option<Vec<String>> {
    let p = canary_testkit::shared_data(&format!(
        "multilingual_sentiment_umsab/test/{dir}/test_text.txt"
    ))?;
    Some(
        std::fs::read_to_string(p)
            .expect("read texts")
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn rate(texts: &[String], mut f: impl FnMut(&str)) -> f64 {
    let start = Instant::now();
    for t in texts {
        f(black_box(t));
    }
    texts.len() as f64 / start.elapsed().as_secs_f64()
}

fn latency(texts: &[String], mut f: impl FnMut(&str)) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new(3).unwrap();
    for _ in 0..3 {
        for t in texts {
            let s = Instant::now();
            f(t);
            h.record(s.elapsed().as_nanos() as u64).unwrap();
        }
    }
    h
}

fn main() {
    let langs = [
        (None, "english"),
        (Some(Lang::Es), "spanish"),
        (Some(Lang::Pt), "portuguese"),
        (Some(Lang::Fr), "french"),
        (Some(Lang::De), "german"),
        (Some(Lang::It), "italian"),
        (Some(Lang::Ar), "arabic"),
    ];
    let mut sets = Vec::new();
    for (l, dir) in langs {
        let Some(texts) = load(dir) else {
            println!("sentiment bench: shared data absent, nothing to measure");
            return;
        };
        sets.push((l, dir, texts));
    }
    let mut scorer = Scorer::new();
    let mut vader = canary_vader::Analyzer::new();
    // `cargo test --benches` runs this binary without `--bench`: one pass only.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        15
    } else {
        1
    };
    println!("| texts | scorer | texts/s (median) | p50 ns | p99 ns | VADER texts/s, same texts |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut all = Vec::new();
    for (l, dir, texts) in &sets {
        // Interleaved passes: both scorers see the same machine load.
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            ours.push(rate(texts, |t| {
                black_box(match l {
                    Some(l) => scorer.score_lang(*l, t),
                    None => scorer.score("en", t).unwrap(),
                });
            }));
            theirs.push(rate(texts, |t| {
                black_box(vader.polarity_scores(t));
            }));
        }
        let h = latency(texts, |t| {
            black_box(match l {
                Some(l) => scorer.score_lang(*l, t),
                None => scorer.score("en", t).unwrap(),
            });
        });
        let (r, v) = (median(ours), median(theirs));
        all.push((r, v));
        let name = l.map_or("en (VADER via canary-sentiment)", |l| l.code());
        println!(
            "| {dir} | {name} | {r:.0} | {} | {} | {v:.0} |",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99)
        );
    }
    let lex: Vec<f64> = all[1..].iter().map(|x| x.0).collect();
    println!(
        "lexicon languages: slowest {:.0} texts/s, fastest {:.0} texts/s",
        lex.iter().copied().fold(f64::INFINITY, f64::min),
        lex.iter().copied().fold(0.0, f64::max)
    );
}
