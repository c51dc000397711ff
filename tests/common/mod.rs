#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn canary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_canary"));
    c.current_dir(repo())
        .env("CANARY_LOG", "warn")
        .env_remove("CANARY_METRICS_ADDR");
    c
}

pub fn run_ok(args: &[&str]) -> Output {
    let out = canary().args(args).output().expect("run canary");
    assert!(
        out.status.success(),
        "canary {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("canary-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

pub const DEMO_CONFIG: &str = "fixtures/demo/canary.toml";
pub const DEMO_STREAM: &str = "fixtures/demo/stream.jsonl.gz";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One GET of `/metrics` on 127.0.0.1; `None` unless it answered 200.
pub fn scrape(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/1.1 200").then_some(out)
}

/// Scrapes `canary run` over the demo once the replay is over.
pub fn scrape_demo_run() -> String {
    scrape_run(&["--config", DEMO_CONFIG, "--input", DEMO_STREAM])
}

/// Scrapes `canary run ARGS` once its replay is over.
pub fn scrape_run(args: &[&str]) -> String {
    let port = free_port();
    let mut child = canary()
        .env("CANARY_LOG", "info")
        .arg("run")
        .args(args)
        .args(["--metrics-linger", "30"])
        .arg("--metrics-addr")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("alert records") {
                let _ = tx.send(());
            }
        }
    });
    let finished = rx.recv_timeout(std::time::Duration::from_secs(120)).is_ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut body = None;
    while finished && body.is_none() && std::time::Instant::now() < deadline {
        body = scrape(port);
        if body.is_none() {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(finished, "the replay did not finish in time");
    body.expect("no complete scrape of /metrics")
}

/// `ms` in v1.1 `created_at` form.
pub fn created_at(ms: i64) -> String {
    use canary_core::time::civil_from_days;
    let days = ms.div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][m as usize - 1];
    format!(
        "{wd} {mon} {d:02} {:02}:{:02}:{:02} +0000 {y}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A generated post as a v1.1 status line (reply fields, mentions, retweets).
pub fn status(p: &canary_core::Post) -> serde_json::Value {
    let body = |p: &canary_core::Post, id: &str| {
        serde_json::json!({
            "id_str": id,
            "created_at": created_at(p.event_ms),
            "timestamp_ms": p.event_ms.to_string(),
            "text": p.text,
            "lang": "en",
            "user": {"screen_name": p.author},
            "entities": {"hashtags": [], "user_mentions":
                p.mentions.iter().map(|m| serde_json::json!({"screen_name": m})).collect::<Vec<_>>()},
            "in_reply_to_status_id_str": p.reply_to,
            "in_reply_to_screen_name": p.reply_to_author,
        })
    };
    let mut v = body(p, &p.id);
    if p.retweet {
        let mut original = p.clone();
        original.author = Some("angry".into());
        v["retweeted_status"] = body(&original, "1");
        v["text"] = serde_json::json!(format!("RT @angry: {}", p.text));
    }
    v
}

/// The generated care conversations as v1.1 status lines, in stream order.
pub fn care_lines(conv: &canary_testkit::care::Conversations) -> String {
    conv.posts
        .iter()
        .map(|p| status(p).to_string() + "\n")
        .collect()
}
