//! Throughput and latency of canary-sentiment per language against VADER
//! (canary-vader) in the same run, one thread, on the UMSAB test texts (870
//! tweets per language).
//!
//! Each pass is timed twice: by the wall clock and by the thread's CPU clock.
//! On a shared machine the wall-clock rate falls whenever another process
//! takes the core; the CPU-time rate is the rate per core.
//!
//! `cargo bench --bench sentiment`. Without `../shared/data` it prints a
//! message and exits 0.

use std::hint::black_box;
use std::time::{Duration, Instant};

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

/// CPU time this thread has run.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Texts per second of one pass: by CPU time and by wall time.
fn rate(texts: &[String], mut f: impl FnMut(&str)) -> (f64, f64) {
    let (cpu, wall) = (thread_cpu(), Instant::now());
    for t in texts {
        f(black_box(t));
    }
    let (wall, cpu) = (wall.elapsed(), thread_cpu() - cpu);
    let n = texts.len() as f64;
    (n / cpu.as_secs_f64(), n / wall.as_secs_f64())
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
    println!(
        "| texts | scorer | texts/s per CPU s (median) | texts/s wall (median) | p50 ns | p99 ns | VADER texts/s per CPU s, same texts | VADER wall | ratio to VADER (CPU) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
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
        let cpu = |xs: &[(f64, f64)]| median(xs.iter().map(|x| x.0).collect());
        let wall = |xs: &[(f64, f64)]| median(xs.iter().map(|x| x.1).collect());
        let (r, v) = (cpu(&ours), cpu(&theirs));
        all.push((r, v));
        let name = l.map_or("en (VADER via canary-sentiment)", |l| l.code());
        println!(
            "| {dir} | {name} | {r:.0} | {:.0} | {} | {} | {v:.0} | {:.0} | {:.2} |",
            wall(&ours),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            wall(&theirs),
            r / v
        );
    }
    let lex: Vec<f64> = all[1..].iter().map(|x| x.0).collect();
    println!(
        "lexicon languages, per CPU second: slowest {:.0} texts/s, fastest {:.0} texts/s",
        lex.iter().copied().fold(f64::INFINITY, f64::min),
        lex.iter().copied().fold(0.0, f64::max)
    );
}
