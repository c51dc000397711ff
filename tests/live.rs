//! `canary run --live` on a pipe that stays open: every post is decided at
//! once, and windows close and alerts fire without further input.

mod common;

use canary_testkit::receiver::Receiver;
use common::*;
use std::io::Write;
use std::time::{Duration, Instant};

/// The demo stream, uncompressed, one line per post.
fn demo_lines() -> Vec<String> {
    let mut out = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(repo().join(DEMO_STREAM)).unwrap()),
        &mut out,
    )
    .unwrap();
    out.lines().map(str::to_owned).collect()
}

/// The value of the sample `name` (labels included, as exposed), if present.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Whether `canary_pipeline_latency_seconds` puts 99% of its posts in a
/// bucket at or below `bound` seconds, i.e. its p99 is under `bound`.
fn latency_p99_under(body: &str, bound: f64) -> Result<(), String> {
    let count = sample(body, "canary_pipeline_latency_seconds_count").ok_or("no latency count")?;
    let within = body
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("canary_pipeline_latency_seconds_bucket{le=\"")?;
            let (le, v) = rest.split_once("\"} ")?;
            Some((le.parse::<f64>().ok()?, v.trim().parse::<f64>().ok()?))
        })
        .filter(|&(le, _)| le <= bound)
        .map(|(_, v)| v)
        .fold(0.0, f64::max);
    if count > 0.0 && within / count >= 0.99 {
        Ok(())
    } else {
        Err(format!("{within} of {count} posts within {bound} s"))
    }
}

fn spawn_live(cfg: &std::path::Path, port: u16, alerts: &std::path::Path) -> std::process::Child {
    canary()
        .args(["run", "--live", "--config"])
        .arg(cfg)
        .args(["--input", "-", "--metrics-addr"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--alerts-out")
        .arg(alerts)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Polls `/metrics` every 20 ms until `ok` holds, for at most `within`.
fn scrape_until(port: u16, within: Duration, ok: impl Fn(&str) -> bool) -> Option<String> {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(body) = scrape(port) {
            if ok(&body) {
                return Some(body);
            }
            last = Some(body);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    last.filter(|b| ok(b))
}

#[test]
fn each_post_of_a_slow_pipe_reaches_the_aggregate_within_a_second() {
    let dir = tmp("live-trickle");
    let port = free_port();
    let mut child = spawn_live(&repo().join(DEMO_CONFIG), port, &dir.join("alerts.jsonl"));
    let mut stdin = child.stdin.take().unwrap();
    let aggregated = r#"canary_stage_records_total{stage="aggregate"}"#;
    let up = scrape_until(port, Duration::from_secs(30), |_| true);
    assert!(up.is_some(), "/metrics never answered");
    let mut failure = None;
    for (i, line) in demo_lines().iter().take(12).enumerate() {
        std::thread::sleep(Duration::from_millis(250));
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        let want = (i + 1) as f64;
        let seen = scrape_until(port, Duration::from_secs(1), |b| {
            sample(b, aggregated).is_some_and(|n| n >= want)
        });
        if seen.is_none() {
            failure = Some(format!(
                "post {} not counted by the aggregate within 1 s:\n{}",
                i + 1,
                scrape(port).unwrap_or_default()
            ));
            break;
        }
    }
    let body = scrape(port).unwrap_or_default();
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    if let Some(f) = failure {
        panic!("{f}");
    }
    latency_p99_under(&body, 0.1).unwrap_or_else(|e| panic!("p99 latency: {e}\n{body}"));
}

/// The demo posts up to shortly before the spike's first window can close,
/// written to an open pipe: with `window.idle_timeout = "1s"` the window
/// closes by processing time, and the firing alert is in `--alerts-out` and
/// at the webhook with nothing more written.
#[test]
fn a_quiet_open_pipe_closes_its_window_and_fires_without_more_input() {
    let dir = tmp("live-idle");
    let hook = Receiver::start(&[]);
    let demo = std::fs::read_to_string(repo().join(DEMO_CONFIG)).unwrap();
    let cfg = write(
        &dir,
        "canary.toml",
        format!(
            "{demo}\n[window]\nidle_timeout = \"1s\"\n\n[[sink]]\ntype = \"webhook\"\nurl = \"{}\"\n",
            hook.url("/hook")
        )
        .as_bytes(),
    );
    // The spike's first window is 12:00-12:05; the watermark trails the
    // newest post by the 2-minute lateness, so posts up to 12:06:50 leave it
    // open until the idle timeout moves event time on by processing time.
    let lines = demo_lines();
    let end = lines
        .iter()
        .position(|l| {
            let v = serde_json::from_str::<serde_json::Value>(l).unwrap_or_default();
            // Notices (deletes, limits) carry no `created_at`.
            v["created_at"]
                .as_str()
                .is_some_and(|c| c.get(11..19).is_some_and(|t| t >= "12:06:50"))
        })
        .expect("the demo runs past 12:06:50");
    let port = free_port();
    let alerts = dir.join("alerts.jsonl");
    let mut child = spawn_live(&cfg, port, &alerts);
    let mut stdin = child.stdin.take().unwrap();
    for l in &lines[..end] {
        stdin.write_all(l.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
    }
    stdin.flush().unwrap();
    let all_in = scrape_until(port, Duration::from_secs(60), |b| {
        sample(b, r#"canary_stage_records_total{stage="ingest"}"#).is_some_and(|n| n >= end as f64)
    });
    let fired_before_idle = std::fs::read(&alerts)
        .map(|b| json_lines(&b).iter().any(|a| a["state"] == "firing"))
        .unwrap_or(false);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut firing = Vec::new();
    while firing.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        firing = std::fs::read(&alerts)
            .map(|b| json_lines(&b))
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["state"] == "firing")
            .collect();
    }
    let delivered = hook.wait_for(firing.len().max(1), Duration::from_secs(10));
    let still_running = child.try_wait().unwrap().is_none();
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    assert!(all_in.is_some(), "not every line was read");
    assert!(
        !fired_before_idle,
        "the window closed before the input went quiet"
    );
    assert!(!firing.is_empty(), "no firing alert within 60 s of quiet");
    assert!(still_running, "the run ended although its input is open");
    assert_eq!(
        firing[0]["watch"], "acme",
        "unexpected first alert: {firing:#?}"
    );
    let posted: Vec<serde_json::Value> = delivered.iter().map(|r| r.json()).collect();
    assert!(
        posted.contains(&firing[0]),
        "the webhook did not get {:#?}: {posted:#?}",
        firing[0]
    );
}

/// A pipe on stdin is read as a replay unless `--live` is given, and canary
/// says so; with `--live` it does not.
#[test]
fn a_pipe_on_stdin_without_live_is_a_replay_with_a_warning() {
    let lines = demo_lines()[..20].join("\n");
    for live in [false, true] {
        let mut cmd = canary();
        cmd.args(["run", "--config", DEMO_CONFIG, "--metrics-addr", "off"]);
        if live {
            cmd.arg("--live");
        }
        let mut child = cmd
            .args(["--input", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(lines.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{log}");
        assert_eq!(
            log.contains("stdin is a pipe and --live is off"),
            !live,
            "--live {live}: {log}"
        );
    }
}
