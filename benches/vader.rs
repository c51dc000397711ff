//! Throughput and latency of canary-vader against the crates.io
//! `vader_sentiment` 0.1.1 crate (and, when the reference venv exists, the
//! Python reference) on the 4,200 ground-truth tweets, one thread.
//!
//! `cargo bench --bench vader`. Without `../shared/data` it prints a message
//! and exits 0.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use hdrhistogram::Histogram;

fn load_tweets() -> Option<(PathBuf, Vec<String>)> {
    let path = canary_testkit::shared_data("vader/tweets_GroundTruth.txt")?;
    let raw = std::fs::read_to_string(&path).expect("read tweets");
    // Tab-separated id, mean rating, text; CRLF line ends.
    let tweets: Vec<String> = raw
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .filter_map(|l| l.splitn(3, '\t').nth(2).map(str::to_owned))
        .collect();
    Some((path, tweets))
}

/// Texts/s of one pass over `tweets`.
macro_rules! pass_rate {
    ($tweets:expr, $score:expr) => {{
        let start = Instant::now();
        for t in $tweets {
            black_box($score(black_box(t.as_str())));
        }
        $tweets.len() as f64 / start.elapsed().as_secs_f64()
    }};
}

/// Per-text latency in ns over three passes.
fn latency(tweets: &[String], mut f: impl FnMut(&str)) -> Histogram<u64> {
    let mut hist = Histogram::<u64>::new(3).unwrap();
    for _ in 0..3 {
        for t in tweets {
            let s = Instant::now();
            f(t);
            hist.record(s.elapsed().as_nanos() as u64).unwrap();
        }
    }
    hist
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn python_rate(tweets_path: &std::path::Path) -> Option<f64> {
    let py = std::env::var_os("CANARY_VADER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| canary_testkit::repo_root().join(".tools/vader-venv/bin/python"));
    if !py.exists() {
        println!(
            "python reference not timed: {} is absent (scripts/setup-vader-reference.sh)",
            py.display()
        );
        return None;
    }
    let script = canary_testkit::repo_root().join("benches/vader_reference.py");
    let out = Command::new(&py)
        .arg(script)
        .arg(tweets_path)
        .output()
        .ok()?;
    if !out.status.success() {
        println!(
            "python reference failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("median_texts_per_s "))
        .and_then(|v| v.trim().parse().ok())
}

fn main() {
    let Some((path, tweets)) = load_tweets() else {
        println!("vader bench: shared data absent, nothing to measure");
        return;
    };
    assert_eq!(tweets.len(), 4_200, "tweets_GroundTruth.txt");
    let mut canary = canary_vader::Analyzer::new();
    let crate_vader = vader_sentiment::SentimentIntensityAnalyzer::new();

    let mut c = Criterion::default().configure_from_args();
    {
        let mut g = c.benchmark_group("vader_tweets");
        g.throughput(Throughput::Elements(tweets.len() as u64));
        g.bench_function("canary_vader", |b| {
            b.iter(|| {
                for t in &tweets {
                    black_box(canary.polarity_scores(black_box(t)));
                }
            })
        });
        g.bench_function("vader_sentiment_0_1_1", |b| {
            b.iter(|| {
                for t in &tweets {
                    black_box(crate_vader.polarity_scores(black_box(t)));
                }
            })
        });
        g.finish();
    }
    c.final_summary();

    // `cargo test --benches` runs this binary without `--bench`: stop there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // Python first: it runs in a child process and is the slowest by far.
    let rate_py = python_rate(&path);
    // Passes alternate between the scorers so both see the same machine load;
    // the ratio of medians is the stable figure on a shared machine.
    let (mut r_canary, mut r_crate) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        for _ in 0..5 {
            r_canary.push(pass_rate!(&tweets, |t| canary.polarity_scores(t)));
        }
        r_crate.push(pass_rate!(&tweets, |t| crate_vader.polarity_scores(t)));
    }
    let (rate_canary, rate_crate) = (median(r_canary), median(r_crate));
    let h_canary = latency(&tweets, |t| {
        black_box(canary.polarity_scores(black_box(t)));
    });
    let h_crate = latency(&tweets, |t| {
        black_box(crate_vader.polarity_scores(black_box(t)));
    });
    println!();
    println!("| scorer | texts/s (median) | p50 ns | p99 ns |");
    println!("|---|---:|---:|---:|");
    for (name, rate, h) in [
        ("canary-vader", rate_canary, &h_canary),
        ("vader_sentiment 0.1.1", rate_crate, &h_crate),
    ] {
        println!(
            "| {name} | {rate:.0} | {} | {} |",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99)
        );
    }
    println!(
        "canary / vader_sentiment crate: {:.1}x",
        rate_canary / rate_crate
    );
    if let Some(rate_py) = rate_py {
        println!("canary / python reference: {:.1}x", rate_canary / rate_py);
        println!(
            "vader_sentiment crate / python reference: {:.1}x",
            rate_crate / rate_py
        );
    }
}
