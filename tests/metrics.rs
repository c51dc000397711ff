//! `/metrics` while `canary run` runs: names, types and labels.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn metrics_are_served_while_running() {
    let port = free_port();
    let mut child = canary()
        .env("CANARY_LOG", "info")
        .args([
            "run",
            "--config",
            DEMO_CONFIG,
            "--input",
            DEMO_STREAM,
            "--metrics-linger",
            "30",
        ])
        .arg("--metrics-addr")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The summary is logged when the replay is over; the endpoint lingers after it.
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
    let finished = rx.recv_timeout(Duration::from_secs(120)).is_ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut body = String::new();
    while finished && Instant::now() < deadline {
        if let Some(b) = scrape(port) {
            body = b;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(finished, "the replay did not finish in time");
    assert!(
        body.starts_with("HTTP/1.1 200 OK"),
        "no complete scrape: {body}"
    );
    for (name, kind) in [
        ("canary_stage_records_total", "counter"),
        ("canary_posts_dropped_total", "counter"),
        ("canary_notices_total", "counter"),
        ("canary_stage_post_seconds", "histogram"),
        ("canary_pipeline_latency_seconds", "histogram"),
        ("canary_window_posts", "gauge"),
        ("canary_window_negative_share", "gauge"),
        ("canary_baseline_negative_share", "gauge"),
        ("canary_alert_firing", "gauge"),
        ("canary_alerts_total", "counter"),
        ("canary_watermark_timestamp_seconds", "gauge"),
        ("canary_language_posts_total", "counter"),
    ] {
        assert!(
            body.contains(&format!("# TYPE {name} {kind}")),
            "{name} {kind} missing:\n{body}"
        );
    }
    for stage in ["ingest", "normalize", "language", "sentiment", "aggregate"] {
        assert!(
            body.contains(&format!("canary_stage_records_total{{stage=\"{stage}\"}}")),
            "{stage}"
        );
    }
    assert!(
        body.contains("canary_notices_total{kind=\"delete\"} 82"),
        "{body}"
    );
    assert!(
        body.contains("canary_alert_firing{kind=\"negative_share\",lang=\"all\",watch=\"acme\"} 0")
    );
    assert!(body.contains("canary_window_posts{lang=\"all\",watch=\"globex\"}"));
    // Labels stay bounded: no post ids, users or terms.
    assert!(!body.contains("1787"), "a post id leaked into a label");
}
