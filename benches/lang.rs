//! Language detection throughput (tweets/s per core) and per-tweet latency.
//!
//! `cargo bench --bench lang`. Measures canary-lang `fast` and `accurate`
//! against plain whichlang on unstripped text (the reference), over the
//! XLM-T/UMSAB test tweets; then prints p50/p99 per-tweet latency from an
//! hdrhistogram (each sample includes ~20 ns of clock reads).
use std::hint::black_box;
use std::time::{Duration, Instant};

use canary_lang::{Detector, DetectorConfig, Mode, whichlang_reference};
use criterion::{Criterion, Throughput};
use hdrhistogram::Histogram;

#[path = "../crates/canary-lang/tests/common/sets.rs"]
mod sets;

fn main() {
    let Some(samples) = sets::xlmt() else {
        println!("lang bench: shared data absent, nothing to measure");
        return;
    };
    let tweets: Vec<&str> = samples.iter().map(|s| s.text.as_str()).collect();
    let fast = Detector::new(&DetectorConfig::default()).expect("fast detector");
    let accurate = Detector::new(&DetectorConfig {
        mode: Mode::Accurate,
        ..DetectorConfig::default()
    })
    .expect("accurate detector");

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    let mut g = c.benchmark_group("lang");
    g.throughput(Throughput::Elements(tweets.len() as u64));
    g.bench_function("reference_whichlang_raw", |b| {
        b.iter(|| {
            for t in &tweets {
                black_box(whichlang_reference(t));
            }
        })
    });
    let mut scratch = String::with_capacity(512);
    for (name, det) in [("fast", &fast), ("accurate", &accurate)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for t in &tweets {
                    black_box(det.detect(t, None, &mut scratch));
                }
            })
        });
    }
    g.finish();
    c.final_summary();

    println!(
        "\nper-tweet latency over {} tweets x 3 passes:",
        tweets.len()
    );
    println!("| detector | p50 µs | p99 µs | max µs |\n|---|---|---|---|");
    let lat = |name: &str, f: &mut dyn FnMut(&str)| {
        let mut h = Histogram::<u64>::new(3).expect("histogram");
        for _ in 0..3 {
            for t in &tweets {
                let start = Instant::now();
                f(t);
                h.record(start.elapsed().as_nanos() as u64).expect("record");
            }
        }
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
        println!(
            "| {name} | {:.2} | {:.2} | {:.1} |",
            us(0.5),
            us(0.99),
            h.max() as f64 / 1e3
        );
    };
    lat("reference_whichlang_raw", &mut |t| {
        black_box(whichlang_reference(t));
    });
    lat("fast", &mut |t| {
        black_box(fast.detect(t, None, &mut scratch));
    });
    lat("accurate", &mut |t| {
        black_box(accurate.detect(t, None, &mut scratch));
    });
}
