//! Replays: compression, pacing, bounds, duplicates and real exports give the
//! alerts a live run would.

mod common;
use common::*;
use std::io::{Read, Write};
use std::time::Instant;

fn demo_plain() -> Vec<u8> {
    let mut gz =
        flate2::read::GzDecoder::new(std::fs::File::open(repo().join(DEMO_STREAM)).unwrap());
    let mut v = Vec::new();
    gz.read_to_end(&mut v).unwrap();
    v
}

fn alerts_for(inputs: &[&std::path::Path], extra: &[&str]) -> (Vec<u8>, String) {
    let mut c = canary();
    c.env("CANARY_LOG", "info")
        .args(["run", "--config", DEMO_CONFIG, "--metrics-addr", "off"])
        .args(extra);
    for i in inputs {
        c.arg("--input").arg(i);
    }
    let out = c.output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    (out.stdout, log)
}

#[test]
fn plain_gzip_bzip2_and_zstd_give_identical_alerts() {
    let dir = tmp("codecs");
    let plain = demo_plain();
    let p = write(&dir, "demo.jsonl", &plain);
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&plain).unwrap();
    let b = write(&dir, "demo.jsonl.bz2", &bz.finish().unwrap());
    let z = write(
        &dir,
        "demo.jsonl.zst",
        &zstd::encode_all(&plain[..], 3).unwrap(),
    );
    // No extension: detected by magic bytes.
    let z_noext = write(&dir, "demo-zstd", &zstd::encode_all(&plain[..], 1).unwrap());
    let (reference, _) = alerts_for(&[&repo().join(DEMO_STREAM)], &[]);
    assert!(!reference.is_empty());
    for f in [&p, &b, &z, &z_noext] {
        let (got, _) = alerts_for(&[f], &[]);
        assert!(got == reference, "{} gave different alerts", f.display());
    }
    // Standard input as `-`.
    let mut child = canary()
        .args([
            "run",
            "--config",
            DEMO_CONFIG,
            "--metrics-addr",
            "off",
            "--input",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&plain));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(out.stdout == reference, "stdin replay differs");
}

#[test]
fn paced_replay_gives_the_same_alerts_as_max_speed() {
    let demo = repo().join(DEMO_STREAM);
    let (fast, _) = alerts_for(&[&demo], &["--speed", "max"]);
    // 7 event-hours at 3600x: about 7 s of wall time.
    let (paced, _) = alerts_for(&[&demo], &["--speed", "3600"]);
    assert!(!fast.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&paced),
        String::from_utf8_lossy(&fast)
    );
}

#[test]
fn speed_60_paces_ten_event_minutes_over_about_ten_seconds() {
    let demo = repo().join(DEMO_STREAM);
    let t = Instant::now();
    let (_, log) = alerts_for(
        &[&demo],
        &[
            "--speed",
            "60",
            "--from",
            "2024-05-06T08:00:00Z",
            "--to",
            "2024-05-06T08:10:00Z",
        ],
    );
    let wall = t.elapsed().as_secs_f64();
    assert!(log.contains("out of range"), "{log}");
    // Pacing can only make a replay slower than its event-time span allows;
    // the upper bound is loose because CI machines are shared.
    assert!((9.0..40.0).contains(&wall), "took {wall:.1}s");
}

#[test]
fn from_to_and_limit_bound_the_replay() {
    let demo = repo().join(DEMO_STREAM);
    let (alerts, log) = alerts_for(&[&demo], &["--to", "2024-05-06T12:00:00Z"]);
    assert!(alerts.is_empty(), "the spike starts at 12:00");
    assert!(log.contains("out of range"), "{log}");
    let (_, log) = alerts_for(&[&demo], &["--limit", "1000"]);
    assert!(log.contains(": 1000 posts"), "{log}");
    let (alerts, _) = alerts_for(&[&demo], &["--from", "2024-05-06T09:00:00Z"]);
    assert!(String::from_utf8_lossy(&alerts).contains("\"state\":\"firing\""));
}

#[test]
fn duplicates_are_dropped_and_deletes_honoured() {
    let dir = tmp("dups");
    let plain = demo_plain();
    let mut doubled = Vec::new();
    for line in plain.split_inclusive(|&b| b == b'\n') {
        doubled.extend_from_slice(line);
        if line.starts_with(b"{\"created_at\"") {
            doubled.extend_from_slice(line);
        }
    }
    let d = write(&dir, "doubled.jsonl", &doubled);
    let (reference, ref_log) = alerts_for(&[&repo().join(DEMO_STREAM)], &[]);
    let (got, log) = alerts_for(&[&d], &[]);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&reference)
    );
    assert!(log.contains("duplicates 13377"), "{log}");
    // The demo's 82 delete notices each remove a post from an open window.
    assert!(ref_log.contains("deleted 82"), "{ref_log}");
}

#[test]
fn airline_csv_export_replays_all_rows_in_utc() {
    let Some(csv) = canary_testkit::shared_data("airline_2015/Tweets.csv") else {
        return;
    };
    let out = canary()
        .env("CANARY_LOG", "info")
        .args([
            "run",
            "--config",
            "fixtures/airline/canary.toml",
            "--metrics-addr",
            "off",
            "--emit-windows",
        ])
        // The export is newest-first.
        .arg("--sort-by-time")
        .arg("--input")
        .arg(&csv)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("14640 posts"), "{log}");
    assert!(
        log.contains("duplicates 155"),
        "14,640 rows hold 14,485 distinct ids: {log}"
    );
    let recs = json_lines(&out.stdout);
    let windows: Vec<_> = recs.iter().filter(|r| r["type"] == "window").collect();
    let first = windows
        .iter()
        .map(|w| w["start_ms"].as_i64().unwrap())
        .min()
        .unwrap();
    let last = windows
        .iter()
        .map(|w| w["end_ms"].as_i64().unwrap())
        .max()
        .unwrap();
    // 2015-02-16 23:36:05 -0800 is the earliest row: 2015-02-17T07:36:05Z.
    assert_eq!(
        canary_core::time::format_rfc3339(first),
        "2015-02-17T07:35:00Z"
    );
    assert_eq!(
        canary_core::time::format_rfc3339(last),
        "2015-02-24T19:55:00Z"
    );
}
