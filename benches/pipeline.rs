//! The whole embedded pipeline, end to end, on a generated v1.1 firehose dump.
//!
//! `cargo bench --bench pipeline` (options after `--`, see `usage()`):
//! 1. generates (`canary_testkit::firehose`) a realistic v1.1 JSON-lines dump (default 1M statuses, ~4 KB
//!    each: full `user` objects, url/mention/hashtag entities, extended tweets,
//!    retweets, quotes, deletes, 11 languages with the platform `lang`) from the
//!    shared tweet texts, with watch handles, hashtags and phrases inserted so
//!    that about half the statuses match a watch, plus near misses that must not;
//! 2. runs the release `canary run --metrics-addr off` over it several times at
//!    max speed: statuses/s, per-thread CPU (from `/proc/<pid>/task/*/stat`),
//!    peak RSS (`VmHWM`) and the ingest→aggregate latency percentiles that
//!    canary prints in its run summary;
//! 3. runs it paced (`--speed`) at about half the measured maximum rate, for
//!    latency under a steady load;
//! 4. replays the dump N times (ids and times shifted per pass) through stdin,
//!    for peak RSS at 10x the posts;
//! 5. runs `benches/pipeline_baseline.py` (vaderSentiment + langid) over the
//!    first lines of the same dump and prints the throughput ratio.
//! 6. `--only report`: runs it once with `--report` and prints how long the
//!    run took to build the page against the run's own time (with
//!    `--rate 0.386` the million statuses span a month of event time).
//!
//! The dump is written to a temporary directory (`--dir`, default
//! `$TMPDIR/canary-pipeline-bench`) and reused while its parameters match.
//! Figures are medians of the runs; the machine is shared, so single runs vary.
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use canary_testkit::firehose::{Dump, created_at, generate, load_pools};

/// Ids of replay pass k are shifted by k times this (keeps 19 digits).
const PASS_ID_SHIFT: u64 = 10_000_000_000_000_000;

struct Args {
    statuses: usize,
    rate: f64,
    runs: usize,
    replays: usize,
    baseline_lines: usize,
    dir: PathBuf,
    only: Vec<String>,
}

fn usage() -> &'static str {
    "options: --statuses N (1000000) --rate STATUSES_PER_EVENT_SECOND (5700) --runs N (3) \
     --replays N (10) --baseline-lines N (20000) --dir PATH --only gen,max,paced,replay,baseline,report"
}

fn args() -> Args {
    let mut a = Args {
        statuses: 1_000_000,
        rate: 5_700.0,
        runs: 3,
        replays: 10,
        baseline_lines: 20_000,
        dir: std::env::temp_dir().join("canary-pipeline-bench"),
        only: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| panic!("{k} needs a value; {}", usage()))
        };
        match k.as_str() {
            "--statuses" => a.statuses = val().parse().expect("--statuses"),
            "--rate" => a.rate = val().parse().expect("--rate"),
            "--runs" => a.runs = val().parse().expect("--runs"),
            "--replays" => a.replays = val().parse().expect("--replays"),
            "--baseline-lines" => a.baseline_lines = val().parse().expect("--baseline-lines"),
            "--dir" => a.dir = val().into(),
            "--only" => a.only = val().split(',').map(str::to_owned).collect(),
            "--bench" => {}
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => panic!("unknown option {other}; {}", usage()),
        }
    }
    a
}

// ---------------------------------------------------------------- running canary

#[derive(Default, Clone)]
struct RunResult {
    wall: f64,
    posts: u64,
    /// CPU seconds per thread name.
    cpu: BTreeMap<String, f64>,
    hwm_kb: u64,
    /// Resident set size, sampled every 50 ms: (seconds since start, kB).
    rss: Vec<(f64, u64)>,
    summary: String,
    latency: Option<[f64; 4]>,
    alerts: usize,
}

fn clk_tck() -> f64 {
    // Linux's USER_HZ is 100 on every architecture canary targets.
    100.0
}

/// Samples per-thread CPU and peak RSS of `child` until it exits.
type Watched = (
    std::process::ExitStatus,
    BTreeMap<u32, (String, f64)>,
    u64,
    Vec<(f64, u64)>,
);

fn watch(mut child: Child) -> Watched {
    let pid = child.id();
    let mut threads: BTreeMap<u32, (String, f64)> = BTreeMap::new();
    let mut hwm = 0u64;
    let mut rss = Vec::new();
    let t0 = Instant::now();
    let kb = |v: &str| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0);
    loop {
        if let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) {
            for e in dir.flatten() {
                let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
                    continue;
                };
                let (Some(o), Some(c)) = (stat.find('('), stat.rfind(')')) else {
                    continue;
                };
                let name = stat[o + 1..c].to_owned();
                let f: Vec<&str> = stat[c + 2..].split(' ').collect();
                // Fields 14 and 15 (utime, stime), counted from the state field as 3.
                let cpu = (f[11].parse::<f64>().unwrap_or(0.0)
                    + f[12].parse::<f64>().unwrap_or(0.0))
                    / clk_tck();
                let tid: u32 = e.file_name().to_string_lossy().parse().unwrap_or(0);
                threads.insert(tid, (name, cpu));
            }
        }
        if let Ok(s) = fs::read_to_string(format!("/proc/{pid}/status")) {
            for l in s.lines() {
                if let Some(v) = l.strip_prefix("VmHWM:") {
                    hwm = hwm.max(kb(v));
                } else if let Some(v) = l.strip_prefix("VmRSS:") {
                    rss.push((t0.elapsed().as_secs_f64(), kb(v)));
                }
            }
        }
        if let Some(st) = child.try_wait().expect("wait canary") {
            return (st, threads, hwm, rss);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn canary_cmd(d: &Dump, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_canary"));
    c.args(["run", "--metrics-addr", "off", "--config"])
        .arg(&d.config)
        .args(extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn finish(child: Child, t: Instant) -> RunResult {
    let mut child = child;
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let (st, threads, hwm, rss) = watch(child);
    let wall = t.elapsed().as_secs_f64();
    let (stdout, stderr) = (o.join().expect("stdout"), e.join().expect("stderr"));
    assert!(st.success(), "canary failed: {st}\n{stderr}");
    let mut cpu = BTreeMap::new();
    for (name, c) in threads.values() {
        *cpu.entry(name.clone()).or_insert(0.0) += c;
    }
    let summary: String = stderr
        .lines()
        .filter(|l| !l.contains("starting") && !l.contains(" alert") && !l.contains("progress"))
        .map(|l| l.split_once("canary: ").map_or(l, |x| x.1))
        .collect::<Vec<_>>()
        .join("\n");
    let posts = stderr
        .lines()
        .find_map(|l| {
            let i = l.find("records: ")?;
            l[i + 9..].split(' ').next()?.parse().ok()
        })
        .unwrap_or(0);
    let latency = stderr.lines().find_map(|l| {
        let i = l.find("latency ingest→aggregate")?;
        let v: Vec<f64> = l[i..]
            .split_whitespace()
            .filter_map(|w| w.strip_suffix("ms").and_then(|n| n.parse().ok()))
            .collect();
        (v.len() >= 4).then(|| [v[0], v[1], v[2], v[3]])
    });
    RunResult {
        wall,
        posts,
        cpu,
        hwm_kb: hwm,
        rss,
        summary,
        latency,
        alerts: stdout.lines().count(),
    }
}

fn run_file(d: &Dump, extra: &[&str]) -> RunResult {
    let mut c = canary_cmd(d, extra);
    c.arg("--input").arg(&d.path).stdin(Stdio::null());
    let t = Instant::now();
    finish(c.spawn().expect("spawn canary"), t)
}

/// Replays the dump `passes` times through stdin, each pass shifted in ids and time.
fn run_replay(d: &Dump, passes: u64) -> RunResult {
    let mut c = canary_cmd(d, &["--input", "-"]);
    c.stdin(Stdio::piped());
    let t = Instant::now();
    let mut child = c.spawn().expect("spawn canary");
    let stdin = child.stdin.take().expect("stdin");
    let (path, span) = (d.path.clone(), d.span_ms);
    let feeder = std::thread::spawn(move || {
        let mut w = BufWriter::with_capacity(1 << 20, stdin);
        let mut buf = Vec::with_capacity(16 * 1024);
        for k in 0..passes {
            let mut r =
                BufReader::with_capacity(1 << 20, fs::File::open(&path).expect("open dump"));
            loop {
                buf.clear();
                if r.read_until(b'\n', &mut buf).expect("read dump") == 0 {
                    break;
                }
                if k > 0 {
                    shift_line(&mut buf, k, span);
                }
                if w.write_all(&buf).is_err() {
                    return;
                }
            }
        }
        let _ = w.flush();
    });
    let r = finish(child, t);
    feeder.join().expect("feeder");
    r
}

fn digits_at(b: &[u8], key: &[u8]) -> Option<(usize, usize)> {
    let i = b.windows(key.len()).position(|w| w == key)? + key.len();
    let n = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    Some((i, i + n))
}

fn patch_num(b: &mut Vec<u8>, key: &[u8], add: u64) {
    if let Some((s, e)) = digits_at(b, key) {
        let v: u64 = std::str::from_utf8(&b[s..e]).unwrap().parse().unwrap();
        b.splice(s..e, (v + add).to_string().into_bytes());
    }
}

/// Shifts the first (top-level) id, id_str, created_at and timestamp_ms of a
/// line into replay pass `k`; a delete notice's ids and time likewise.
fn shift_line(b: &mut Vec<u8>, k: u64, span_ms: i64) {
    let dt = k as i64 * span_ms;
    patch_num(b, b"\"id\":", k * PASS_ID_SHIFT);
    patch_num(b, b"\"id_str\":\"", k * PASS_ID_SHIFT);
    patch_num(b, b"\"timestamp_ms\":\"", dt as u64);
    if b.starts_with(b"{\"created_at\":\"") {
        let s = 15;
        let e = s + 30;
        let ts = digits_at(b, b"\"timestamp_ms\":\"").unwrap();
        let ms: i64 = std::str::from_utf8(&b[ts.0..ts.1])
            .unwrap()
            .parse()
            .unwrap();
        b.splice(s..e, created_at(ms).into_bytes());
    }
}

// ---------------------------------------------------------------- reporting

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

/// `canary run --report`: how long building the page takes against the run
/// it reports on, both as the run logs them.
fn report_cost(d: &Dump) {
    let page = d.path.with_file_name("report.html");
    let r = run_file(d, &["--report", page.to_str().expect("UTF-8 path")]);
    let line = r
        .summary
        .lines()
        .find(|l| l.contains("report written"))
        .expect("the run logs the report");
    let field = |k: &str| -> f64 {
        let i = line.find(&format!(" {k}=")).expect("field") + k.len() + 2;
        line[i..]
            .split(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("a number")
    };
    let (build, run, bytes) = (field("build_seconds"), field("run_seconds"), field("bytes"));
    println!(
        "\n== report: {} posts over {:.1} days of event time; page built in {build:.3}s, \
         {:.2}% of the run's {run:.1}s (the reference, same process); {:.2} MB",
        r.posts,
        d.span_ms as f64 / 86_400_000.0,
        100.0 * build / run,
        bytes / 1e6
    );
}

fn report(label: &str, runs: &[RunResult]) -> f64 {
    let rates: Vec<f64> = runs.iter().map(|r| r.posts as f64 / r.wall).collect();
    let rate = median(rates.clone());
    println!("\n== {label}: {} run(s)", runs.len());
    println!(
        "statuses/s per run: {}  → median {:.0}",
        rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        rate
    );
    let mid = runs
        .iter()
        .min_by(|a, b| {
            (a.posts as f64 / a.wall - rate)
                .abs()
                .total_cmp(&(b.posts as f64 / b.wall - rate).abs())
        })
        .expect("a run");
    let total: f64 = mid.cpu.values().sum();
    println!(
        "median run: {} statuses in {:.2}s wall, {:.2}s CPU ({:.2} cores busy), peak RSS {:.1} MB, {} alert lines",
        mid.posts,
        mid.wall,
        total,
        total / mid.wall,
        mid.hwm_kb as f64 / 1024.0,
        mid.alerts
    );
    // Flat memory means the later tenths of a long run peak no higher than
    // the earlier ones once the first windows have filled.
    if let Some(&(end, _)) = mid.rss.last() {
        let tenths: Vec<String> = (0..10)
            .map(|k| {
                let (a, b) = (end * k as f64 / 10.0, end * (k + 1) as f64 / 10.0);
                let m = mid
                    .rss
                    .iter()
                    .filter(|(t, _)| *t >= a && *t <= b)
                    .map(|(_, r)| *r)
                    .max()
                    .unwrap_or(0);
                format!("{:.0}", m as f64 / 1024.0)
            })
            .collect();
        println!(
            "RSS by tenth of the run (max MB in each): {}",
            tenths.join(" ")
        );
    }
    let mut cpu: Vec<_> = mid.cpu.iter().collect();
    cpu.sort_by(|a, b| b.1.total_cmp(a.1));
    println!(
        "CPU by thread: {}",
        cpu.iter()
            .map(|(n, c)| format!("{n} {:.2}s ({:.0}%)", c, 100.0 * *c / total.max(1e-9)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(l) = runs
        .iter()
        .filter_map(|r| r.latency)
        .map(|l| l[2])
        .collect::<Vec<_>>()
        .first()
    {
        let _ = l;
        let p = |i: usize| {
            median(
                runs.iter()
                    .filter_map(|r| r.latency)
                    .map(|l| l[i])
                    .collect(),
            )
        };
        println!(
            "latency ingest→aggregate (median over runs): p50 {:.2}ms p90 {:.2}ms p99 {:.2}ms max {:.2}ms",
            p(0),
            p(1),
            p(2),
            p(3)
        );
    }
    println!(
        "canary summary (median run):\n  {}",
        mid.summary.replace('\n', "\n  ")
    );
    rate
}

fn python_baseline(d: &Dump, lines: usize) -> Option<f64> {
    let root = canary_testkit::repo_root();
    let py = root.join(".tools/vader-venv/bin/python");
    if !py.exists() {
        println!(
            "\n== baseline: {} absent (scripts/setup-vader-reference.sh, then pip install langid)",
            py.display()
        );
        return None;
    }
    let out = Command::new(&py)
        .arg(root.join("benches/pipeline_baseline.py"))
        .arg(&d.path)
        .arg(lines.to_string())
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    println!(
        "\n== Python baseline (json.loads, regex watch match, langid, vaderSentiment, 5-min counts)"
    );
    print!("{s}");
    if !out.status.success() {
        println!("{}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    s.lines()
        .find_map(|l| l.strip_prefix("statuses/s: ")?.trim().parse().ok())
}

fn main() {
    let a = args();
    let on = |s: &str| a.only.is_empty() || a.only.iter().any(|x| x == s);
    let Some(pools) = load_pools() else {
        println!("pipeline bench: shared data absent, nothing to measure");
        return;
    };
    let d = generate(&a.dir, a.statuses, a.rate, &pools);
    let dump_path = d.path.display().to_string();
    println!(
        "dump: {} lines, {:.2} GB, {:.0} bytes/line; event time spans {:.0}s ({:.0} statuses per event second)",
        d.lines,
        d.bytes as f64 / 1e9,
        d.bytes as f64 / d.lines as f64,
        d.span_ms as f64 / 1000.0,
        a.rate
    );
    let mut max_rate = None;
    if on("max") {
        let runs: Vec<RunResult> = (0..a.runs).map(|_| run_file(&d, &[])).collect();
        max_rate = Some(report(&format!("max speed, {dump_path}"), &runs));
    }
    if on("report") {
        report_cost(&d);
    }
    if on("paced") {
        let target = max_rate.unwrap_or(150_000.0) / 2.0;
        let speed = target / a.rate;
        let s = format!("{speed:.3}");
        let runs: Vec<RunResult> = (0..a.runs.min(3))
            .map(|_| run_file(&d, &["--speed", &s]))
            .collect();
        report(
            &format!("paced at ~50% of max: --speed {s} (≈{target:.0} statuses/s)"),
            &runs,
        );
    }
    if on("replay") && a.replays > 1 {
        let r = run_replay(&d, a.replays as u64);
        report(
            &format!(
                "replay: the dump {}x through stdin, ids and times shifted per pass",
                a.replays
            ),
            &[r],
        );
    }
    if on("baseline")
        && let Some(py) = python_baseline(&d, a.baseline_lines)
        && let Some(m) = max_rate
    {
        println!(
            "ratio: canary {m:.0} statuses/s / Python {py:.0} statuses/s = {:.0}x",
            m / py
        );
    }
}
