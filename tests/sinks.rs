//! `canary run` delivering alerts to `[[sink]]` endpoints on 127.0.0.1.

mod common;

use canary_testkit::receiver::{Receiver, Reply};
use common::*;
use std::time::Duration;

fn config_with(dir: &std::path::Path, sink: &str) -> std::path::PathBuf {
    let demo = std::fs::read_to_string(repo().join(DEMO_CONFIG)).unwrap();
    write(dir, "canary.toml", format!("{demo}\n{sink}").as_bytes())
}

fn log_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn webhook_receives_firing_then_resolved_and_the_url_stays_out_of_logs() {
    let rx = Receiver::start(&[Reply::Status(500)]);
    let dir = tmp("sink-webhook");
    let cfg = config_with(
        &dir,
        "[[sink]]\ntype = \"webhook\"\nurl_env = \"CANARY_TEST_HOOK\"\nbackoff = \"20ms\"\n",
    );
    let url = rx.url("/hook/SECRETTOKEN42");
    let out = canary()
        .env("CANARY_LOG", "info")
        .env("CANARY_TEST_HOOK", &url)
        .args(["run", "--metrics-addr", "off", "--config"])
        .arg(&cfg)
        .args(["--input", DEMO_STREAM])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", log_of(&out));
    let printed = json_lines(&out.stdout);
    let reqs = rx.requests();
    // The first attempt got a 500 and was retried.
    assert_eq!(reqs.len(), printed.len() + 1, "{}", log_of(&out));
    let got: Vec<serde_json::Value> = reqs[1..].iter().map(|r| r.json()).collect();
    assert_eq!(got, printed, "the webhook gets exactly the alert records");
    let states: Vec<(&str, &str)> = got
        .iter()
        .filter(|a| a["lang"] == "all")
        .map(|a| {
            (
                a["alert_id"].as_str().unwrap(),
                a["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(states.len(), 2, "{got:#?}");
    assert_eq!(states[0].0, states[1].0);
    assert_eq!((states[0].1, states[1].1), ("firing", "resolved"));
    assert!(reqs.iter().all(|r| r.path == "/hook/SECRETTOKEN42"));
    let log = log_of(&out);
    assert!(
        log.contains("sink deliveries") && log.contains("retry=1"),
        "{log}"
    );
    assert!(
        !log.contains("SECRETTOKEN42") && !log.contains(&url),
        "{log}"
    );
}

#[test]
fn a_missing_secret_is_a_config_error_naming_the_key() {
    let dir = tmp("sink-missing");
    let cfg = config_with(
        &dir,
        "[[sink]]\ntype = \"slack\"\nurl_env = \"CANARY_TEST_NOT_SET_9\"\n",
    );
    let out = canary()
        .env_remove("CANARY_TEST_NOT_SET_9")
        .args(["run", "--metrics-addr", "off", "--config"])
        .arg(&cfg)
        .args(["--input", DEMO_STREAM])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let log = log_of(&out);
    assert!(
        log.contains("key `sink.1.url_env`") && log.contains("CANARY_TEST_NOT_SET_9"),
        "{log}"
    );
    assert!(out.stdout.is_empty(), "no input was read");
    let out = canary().args(["check-config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let cfg = config_with(
        &dir,
        "[[sink]]\ntype = \"webhook\"\nurl_env = \"X\"\nretries = 3\n",
    );
    let out = canary().args(["check-config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(log_of(&out).contains("retries"), "{}", log_of(&out));
}

#[test]
fn dead_endpoints_do_not_hold_up_the_run_and_failures_are_counted() {
    let hang = Receiver::start(&[Reply::Hang; 32]);
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tmp("sink-dead");
    let cfg = config_with(
        &dir,
        &format!(
            "[[sink]]\ntype = \"webhook\"\nname = \"refused\"\nurl = \"http://127.0.0.1:{refused}/x\"\nmax_attempts = 2\nbackoff = \"10ms\"\n\n\
             [[sink]]\ntype = \"pagerduty\"\nname = \"hang\"\nrouting_key_env = \"CANARY_TEST_PD\"\nurl = \"{}\"\ntimeout = \"60s\"\nqueue = 2\n",
            hang.url("/v2/enqueue")
        ),
    );
    let out = canary()
        .env("CANARY_LOG", "info")
        .env("CANARY_TEST_PD", "PDKEY")
        .args([
            "run",
            "--metrics-addr",
            "off",
            "--sink-drain",
            "0.5",
            "--config",
        ])
        .arg(&cfg)
        .args(["--input", DEMO_STREAM])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", log_of(&out));
    let n = json_lines(&out.stdout).len();
    assert_eq!(n, 4, "the alerts are still written");
    let log = log_of(&out);
    let line = |sink: &str| {
        log.lines()
            .find(|l| l.contains("sink deliveries") && l.contains(&format!("sink={sink}")))
            .unwrap_or_else(|| panic!("no summary for {sink}: {log}"))
            .to_owned()
    };
    let r = line("refused");
    assert!(
        r.contains("ok=0") && r.contains("retry=4") && r.contains("failed=4"),
        "{r}"
    );
    // One request hangs until the drain deadline; the queue holds two; the
    // fourth alert pushed the oldest queued one out.
    let h = line("hang");
    assert!(h.contains("ok=0") && h.contains("dropped=4"), "{h}");
    assert!(hang.wait_for(1, Duration::from_secs(1)).len() == 1);
    assert!(!log.contains("PDKEY"), "{log}");
}

#[test]
fn bad_events_lists_stop_the_run_before_any_work() {
    let dir = tmp("sink-events");
    let alerts = dir.join("alerts.jsonl");
    for (table, want) in [
        (
            "[[sink]]\ntype = \"pagerduty\"\nrouting_key = \"k\"\nevents = [\"triage\"]\n",
            "key `sink.1.events`: pagerduty sinks take alerts only: send \"triage\" records to a slack or webhook sink",
        ),
        (
            "[[sink]]\ntype = \"alertmanager\"\nurl = \"http://127.0.0.1:9\"\nevents = [\"alert\", \"triage\"]\n",
            "key `sink.1.events`: alertmanager sinks take alerts only",
        ),
        (
            "[[sink]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nevents = []\n",
            "key `sink.1.events`: must name at least one of \"alert\" and \"triage\"",
        ),
        (
            "[[sink]]\ntype = \"slack\"\nurl = \"http://127.0.0.1:9/\"\nevents = [\"triages\"]\n",
            "unknown variant `triages`, expected `alert` or `triage`",
        ),
    ] {
        let cfg = config_with(&dir, table);
        let out = canary()
            .args(["run", "--metrics-addr", "off", "--config"])
            .arg(&cfg)
            .args(["--input", DEMO_STREAM, "--alerts-out"])
            .arg(&alerts)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{table}");
        let log = log_of(&out);
        assert!(log.contains(want), "{table}: {log}");
        assert!(!alerts.exists(), "no output was opened");
        let out = canary().args(["check-config"]).arg(&cfg).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(log_of(&out).contains(want), "{}", log_of(&out));
    }
}
