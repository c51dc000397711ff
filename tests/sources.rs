//! `canary run --source`: a live source against a server on 127.0.0.1
//! written here, end to end to the alert output.

mod common;

use canary_core::IngestRecord;
use canary_ingest::{ParseOptions, Parsed};
use common::*;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The demo's posts up to 12:06:50 (the spike's first window still open) as
/// Jetstream commit events: its 2% → 37% negative spike for `acme`.
fn demo_as_jetstream() -> Vec<String> {
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(repo().join(DEMO_STREAM)).unwrap()),
        &mut text,
    )
    .unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        for p in canary_ingest::parse_line(line.as_bytes(), &ParseOptions::default()) {
            let Parsed::Record(IngestRecord::Post(p)) = p else {
                continue;
            };
            if canary_core::time::format_rfc3339(p.event_ms).get(11..19) >= Some("12:06:50") {
                return out;
            }
            let ev = serde_json::json!({
                "did": format!("did:plc:{}", p.author.as_deref().unwrap_or("anon")),
                "time_us": p.event_ms * 1000,
                "kind": "commit",
                "commit": {
                    "rev": "3l3qo2vutsw2b",
                    "operation": "create",
                    "collection": "app.bsky.feed.post",
                    "rkey": p.id,
                    "record": {
                        "$type": "app.bsky.feed.post",
                        "createdAt": canary_core::time::format_rfc3339(p.event_ms),
                        "langs": p.lang_hint.iter().collect::<Vec<_>>(),
                        "text": p.text,
                    },
                    "cid": "bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi"
                }
            });
            out.push(ev.to_string());
        }
    }
    panic!("the demo runs past 12:06:50");
}

#[test]
fn a_jetstream_spike_fires_while_the_connection_stays_open() {
    let events = demo_as_jetstream();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ws_port = listener.local_addr().unwrap().port();
    let done = Arc::new(AtomicBool::new(false));
    let server = {
        let done = done.clone();
        std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let mut ws = tungstenite::accept(tcp).unwrap();
            for e in events {
                ws.send(tungstenite::Message::text(e)).unwrap();
            }
            ws.flush().unwrap();
            // Open and silent until the test is over.
            let until = Instant::now() + Duration::from_secs(90);
            while !done.load(Ordering::Relaxed) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let dir = tmp("source-jetstream");
    let demo = std::fs::read_to_string(repo().join(DEMO_CONFIG)).unwrap();
    let cfg = write(
        &dir,
        "canary.toml",
        format!(
            "{demo}\n[window]\nidle_timeout = \"1s\"\n\n[source.jetstream]\nidle_timeout = 120\n"
        )
        .as_bytes(),
    );
    let port = free_port();
    let alerts = dir.join("alerts.jsonl");
    let mut child = canary()
        .args(["run", "--config"])
        .arg(&cfg)
        .arg("--source")
        .arg(format!(
            "jetstream=ws://127.0.0.1:{ws_port}/subscribe?wantedCollections=app.bsky.feed.post"
        ))
        .arg("--metrics-addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--alerts-out")
        .arg(&alerts)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
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
    let body = scrape(port).unwrap_or_default();
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    done.store(true, Ordering::Relaxed);
    server.join().unwrap();
    assert!(!firing.is_empty(), "no firing alert within 60 s");
    assert_eq!(firing[0]["watch"], "acme", "{firing:#?}");
    assert!(still_running, "the run ended although the source is open");
    assert!(
        body.contains("canary_source_connected{source=\"jetstream\"} 1"),
        "{body}"
    );
    assert!(body.contains("canary_source_bytes_total{source=\"jetstream\"}"));
}
