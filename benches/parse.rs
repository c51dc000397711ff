//! Line-parser throughput on the v1.1 JSON-lines samples, against parsing the
//! same lines into `serde_json::Value`.
//!
//! `cargo bench --bench parse`: the `bytes` group reports MB/s, the
//! `statuses` group statuses/s (per core: the parser is single-threaded),
//! for the default parser (v1.1 fast path), the same with `strict_json`
//! (every line through serde_json), and `serde_json::Value`; then per-line
//! latency percentiles of the three.

use std::time::Instant;

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use hdrhistogram::Histogram;

use canary_ingest::{IngestRecord, ParseOptions, Parsed, parse_line_into};

fn load() -> Option<(Vec<Vec<u8>>, u64, u64)> {
    let dir = canary_testkit::shared_data("twitter_api_json/v1_1")?;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for f in files {
        let data = std::fs::read(&f).ok()?;
        lines.extend(
            data.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    let bytes = lines.iter().map(|l| l.len() as u64 + 1).sum();
    let opts = ParseOptions::default();
    let mut out = Vec::new();
    for l in &lines {
        parse_line_into(l, &opts, &mut out);
    }
    let statuses = out
        .iter()
        .filter(|p| matches!(p, Parsed::Record(IngestRecord::Post(_))))
        .count() as u64;
    Some((lines, bytes, statuses))
}

fn canary(lines: &[Vec<u8>], out: &mut Vec<Parsed>, strict_json: bool) -> usize {
    let opts = ParseOptions {
        strict_json,
        ..ParseOptions::default()
    };
    let mut n = 0;
    for l in lines {
        out.clear();
        parse_line_into(l, &opts, out);
        n += out.len();
    }
    n
}

fn value(lines: &[Vec<u8>]) -> usize {
    let mut n = 0;
    for l in lines {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(l) {
            n += v.as_object().map_or(0, |o| o.len());
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let Some((lines, bytes, statuses)) = load() else {
        println!("parse bench: shared data absent, nothing to measure");
        return;
    };
    println!(
        "parse bench: {} lines, {bytes} bytes, {statuses} statuses",
        lines.len()
    );
    let mut out = Vec::new();
    for (name, tp) in [
        ("bytes", Throughput::Bytes(bytes)),
        ("statuses", Throughput::Elements(statuses)),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(tp);
        g.bench_function("canary_parse_line", |b| {
            b.iter(|| canary(black_box(&lines), &mut out, false))
        });
        g.bench_function("canary_parse_line_strict_json", |b| {
            b.iter(|| canary(black_box(&lines), &mut out, true))
        });
        g.bench_function("serde_json_value", |b| b.iter(|| value(black_box(&lines))));
        g.finish();
    }
    latency(&lines);
}

/// Per-line parse time from an hdrhistogram (each sample includes ~20 ns
/// of clock reads), 20 passes over the lines.
fn latency(lines: &[Vec<u8>]) {
    println!("\nper-line latency over {} lines x 20 passes:", lines.len());
    println!("| parser | p50 µs | p90 µs | p99 µs | max µs |\n|---|---|---|---|---|");
    let mut out = Vec::new();
    let mut lat = |name: &str, f: &mut dyn FnMut(&[u8], &mut Vec<Parsed>)| {
        let mut h = Histogram::<u64>::new(3).expect("histogram");
        for _ in 0..20 {
            for l in lines {
                out.clear();
                let start = Instant::now();
                f(l, &mut out);
                h.record(start.elapsed().as_nanos() as u64).expect("record");
            }
        }
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.1} |",
            us(0.5),
            us(0.9),
            us(0.99),
            h.max() as f64 / 1e3
        );
    };
    let fast = ParseOptions::default();
    let strict = ParseOptions {
        strict_json: true,
        ..ParseOptions::default()
    };
    lat("canary_parse_line", &mut |l, out| {
        parse_line_into(black_box(l), &fast, out)
    });
    lat("canary_parse_line_strict_json", &mut |l, out| {
        parse_line_into(black_box(l), &strict, out)
    });
    lat("serde_json_value", &mut |l, _| {
        black_box(serde_json::from_slice::<serde_json::Value>(black_box(l)).ok());
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
