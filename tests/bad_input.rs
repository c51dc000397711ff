//! Bad input never stops a run; bad config and missing inputs stop it before any work.

mod common;
use common::*;

const STATUS: &str = r#"{"created_at":"Mon May 06 08:00:00 +0000 2024","id":1787391854644297813,"id_str":"1787391854644297813","text":"@acme hello","user":{"screen_name":"u"},"lang":"en","entities":{"user_mentions":[{"screen_name":"acme"}],"hashtags":[]}}"#;

#[test]
fn bad_records_are_dead_lettered_with_reasons_and_the_run_goes_on() {
    let dir = tmp("bad-records");
    let mut input = Vec::new();
    input.extend_from_slice(STATUS.as_bytes());
    input.extend_from_slice(b"\n{\"created_at\": nope}\n");
    input.extend_from_slice(b"\xff\xfe not utf-8 \x80\n");
    input.extend_from_slice(br#"{"id":1787391854644297999,"id_str":"1787391854644297999","text":"@acme no time","user":{"screen_name":"u"}}"#);
    input.extend_from_slice(b"\n");
    input.extend_from_slice(STATUS.replace("854644297813", "854644297814").as_bytes());
    input.extend_from_slice(b"\n");
    let path = write(&dir, "bad.jsonl", &input);
    let dl = dir.join("dead.jsonl");
    let out = canary()
        .env("CANARY_LOG", "info")
        .args([
            "run",
            "--config",
            DEMO_CONFIG,
            "--metrics-addr",
            "off",
            "--input",
        ])
        .arg(&path)
        .arg("--dead-letter")
        .arg(&dl)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let dead = json_lines(&std::fs::read(&dl).unwrap());
    let reasons: Vec<(&str, u64)> = dead
        .iter()
        .map(|d| (d["reason"].as_str().unwrap(), d["offset"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("invalid_json", 2),
            ("invalid_utf8", 3),
            ("missing_created_at", 4)
        ],
        "{dead:#?}"
    );
    assert_eq!(dead[1]["encoding"], "base64");
    assert!(dead.iter().all(|d| d["stage"] == "ingest" && d["source"].as_str().unwrap().ends_with("bad.jsonl")));
    assert!(log.contains("read 5 records: 2 posts"), "{log}");
    assert!(
        log.contains("ingest/invalid_json=1") && log.contains("ingest/missing_created_at=1"),
        "{log}"
    );
}

/// `canary run` on the demo config with `--dead-letter`; asserts success and
/// returns the dead letters and the log.
fn run_demo(
    input: &std::path::Path,
    dead_letter: &std::path::Path,
    strict: bool,
) -> (Vec<serde_json::Value>, String) {
    let mut cmd = canary();
    cmd.env("CANARY_LOG", "info")
        .args(["run", "--config", DEMO_CONFIG, "--metrics-addr", "off"])
        .arg("--input")
        .arg(input)
        .arg("--dead-letter")
        .arg(dead_letter);
    if strict {
        cmd.arg("--strict-json");
    }
    let out = cmd.output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    (json_lines(&std::fs::read(dead_letter).unwrap()), log)
}

/// A grammar error inside a field canary skips (here `user.entities`) is read
/// by default and dead-lettered under `--strict-json`; one in a field it
/// reads is dead-lettered either way.
#[test]
fn strict_json_checks_the_fields_canary_skips() {
    let dir = tmp("strict-json");
    let skipped = STATUS.replace(
        r#""user":{"screen_name":"u"}"#,
        r#""user":{"screen_name":"u","entities":{"url":[1 2]}}"#,
    );
    let read = STATUS
        .replace("854644297813", "854644297815")
        .replace(r#""lang":"en""#, r#""lang":"en" "#)
        .replace(r#""text":"@acme hello""#, r#""text":"@acme hello" "x""#);
    let input = format!("{skipped}\n{read}\n{STATUS}\n");
    let path = write(&dir, "in.jsonl", input.as_bytes());
    let run = |strict: bool| {
        let (dead, log) = run_demo(&path, &dir.join(format!("dead-{strict}.jsonl")), strict);
        let offsets: Vec<u64> = dead.iter().map(|d| d["offset"].as_u64().unwrap()).collect();
        assert!(
            dead.iter().all(|d| d["reason"] == "invalid_json"),
            "{dead:#?}"
        );
        (offsets, log)
    };
    let (lax, log) = run(false);
    assert_eq!(lax, vec![2], "{log}");
    assert!(log.contains("read 3 records: 2 posts"), "{log}");
    let (strict, log) = run(true);
    assert_eq!(strict, vec![1, 2], "{log}");
    assert!(log.contains("read 3 records: 1 posts"), "{log}");
}

/// A retweet nested in a retweet hundreds of times (and arrays nested
/// 100,000 deep in a skipped field) is a dead letter, not a stack overflow.
#[test]
fn deeply_nested_lines_are_dead_letters_not_crashes() {
    let dir = tmp("deep");
    let n = 300;
    let deep_doc = format!(
        "{}\"text\":\"t\"{}",
        r#"{"retweeted_status":"#.repeat(n),
        "}".repeat(n)
    );
    let deep_skip = STATUS.replace(
        r#""user":{"screen_name":"u"}"#,
        &format!(
            r#""user":{{"screen_name":"u","x":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
    );
    for strict in [false, true] {
        let input = format!("{deep_doc}\n{deep_skip}\n{STATUS}\n");
        let path = write(&dir, "in.jsonl", input.as_bytes());
        let (dead, log) = run_demo(&path, &dir.join("dead.jsonl"), strict);
        assert_eq!(dead[0]["reason"], "invalid_json", "{dead:#?}");
        assert_eq!(dead[0]["offset"], 1);
        // Depth inside a skipped field is no error for either path
        // (serde_json skips values without recursing).
        assert!(log.contains("read 3 records: 2 posts"), "{log}");
    }
}

#[test]
fn missing_input_is_a_clear_error_before_any_work() {
    let out = canary()
        .args([
            "run",
            "--config",
            DEMO_CONFIG,
            "--metrics-addr",
            "off",
            "--input",
            "no/such/file.jsonl",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no/such/file.jsonl") && err.contains("does not exist"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn score_on_a_missing_file_exits_2() {
    let out = canary()
        .args(["score", "no/such/texts.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no/such/texts.jsonl"), "{err}");
    assert!(err.matches("os error").count() == 1, "{err}");
}

#[test]
fn bad_config_names_file_line_and_key_and_exits_2() {
    let dir = tmp("bad-config");
    let cfg = write(
        &dir,
        "c.toml",
        b"[[watch]]\nname = \"acme\"\nmatch = [\"@acme\"]\n\n[alert]\nfloor = 2.0\n",
    );
    let out = canary()
        .args([
            "run",
            "--input",
            DEMO_STREAM,
            "--metrics-addr",
            "off",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("c.toml:6: key `alert.floor`: must be between 0 and 1"),
        "{err}"
    );

    let cfg = write(
        &dir,
        "d.toml",
        b"[[watch]]\nname = \"acme\"\nmatch = [\"@acme\"]\ncolour = \"red\"\n",
    );
    let out = canary().args(["check-config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("d.toml:4") && err.contains("colour"), "{err}");

    let out = canary()
        .args([
            "run",
            "--config",
            DEMO_CONFIG,
            "--input",
            DEMO_STREAM,
            "--speed",
            "fast",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid speed"));
}

#[test]
fn check_config_prints_the_effective_config() {
    let out = run_ok(&["check-config", DEMO_CONFIG]);
    let text = String::from_utf8(out.stdout).unwrap();
    for key in [
        "[window]",
        "length = \"5m\"",
        "lateness = \"2m\"",
        "[alert]",
        "min_volume = 30",
        "[[watch]]",
    ] {
        assert!(text.contains(key), "missing {key}: {text}");
    }
}

#[test]
fn every_v1_sample_replays_without_a_crash() {
    let Some(dir) = canary_testkit::shared_data("twitter_api_json/v1_1") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let dl = tmp("v1-samples").join("dead.jsonl");
    let mut cmd = canary();
    cmd.env("CANARY_LOG", "info")
        .args([
            "run",
            "--config",
            DEMO_CONFIG,
            "--metrics-addr",
            "off",
            "--dead-letter",
        ])
        .arg(&dl);
    for f in &files {
        cmd.arg("--input").arg(f);
    }
    let out = cmd.output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    // Stream notices are counted by kind, not treated as posts or errors.
    for kind in ["delete=", "limit=", "scrub_geo=", "warning="] {
        assert!(log.contains(kind), "notice {kind} not counted: {log}");
    }
}

/// The demo stream, uncompressed.
fn demo_lines() -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(repo().join(DEMO_STREAM)).unwrap()),
        &mut out,
    )
    .unwrap();
    out
}

/// A `canary run --live` over a pipe that is written a line that is not
/// JSON, then the whole demo, and then kept open: stdin, or the FIFO `fifo`
/// when given. Alerts go to `alerts`, dead letters beside it (`dead.jsonl`).
/// Returns the child, the writer thread (which hands back the open pipe) and
/// a channel of the child's log lines.
fn live_run_on_open_pipe(
    alerts: &std::path::Path,
    fifo: Option<&std::path::Path>,
) -> (
    std::process::Child,
    std::thread::JoinHandle<Box<dyn std::io::Write + Send>>,
    std::sync::mpsc::Receiver<String>,
) {
    use std::io::{BufRead, Write};
    let mut cmd = canary();
    cmd.env("CANARY_LOG", "info")
        .args([
            "run",
            "--live",
            "--config",
            DEMO_CONFIG,
            "--metrics-addr",
            "off",
            "--input",
        ])
        .arg(fifo.map_or("-".as_ref(), |f| f.as_os_str()))
        .arg("--alerts-out")
        .arg(alerts)
        .arg("--dead-letter")
        .arg(alerts.with_file_name("dead.jsonl"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    let fifo = fifo.map(std::path::Path::to_owned);
    let writer = std::thread::spawn(move || {
        let mut pipe: Box<dyn Write + Send> = match fifo {
            // Opening a FIFO to write waits for its reader.
            Some(f) => Box::new(std::fs::OpenOptions::new().write(true).open(f).unwrap()),
            None => Box::new(stdin),
        };
        let _ = pipe.write_all(b"not json\n");
        let _ = pipe.write_all(&demo_lines());
        let _ = pipe.flush();
        pipe
    });
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    (child, writer, rx)
}

/// Log lines until one satisfies `want`, for at most `secs` seconds.
fn wait_for_log(
    rx: &std::sync::mpsc::Receiver<String>,
    secs: u64,
    want: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut seen = String::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) if want(&l) => return Ok(l),
            Ok(l) => {
                seen.push_str(&l);
                seen.push('\n');
            }
            Err(_) => break,
        }
    }
    Err(seen)
}

fn is_firing_alert_log(l: &str) -> bool {
    l.contains("alert_id=") && l.contains("firing")
}

/// Exit status within `secs` seconds, else `None` (the child is then killed).
fn wait_exit(child: &mut std::process::Child, secs: u64) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// An alert that was logged is in `--alerts-out` at once, whole, and so is
/// a dead letter in `--dead-letter`: a SIGKILL right after loses nothing.
#[test]
fn a_logged_alert_is_in_the_alerts_file_even_after_sigkill() {
    let dir = tmp("sigkill");
    let alerts = dir.join("alerts.jsonl");
    let (mut child, writer, log) = live_run_on_open_pipe(&alerts, None);
    let logged = wait_for_log(&log, 120, is_firing_alert_log);
    child.kill().unwrap();
    child.wait().unwrap();
    drop(writer);
    let logged = logged.unwrap_or_else(|seen| panic!("no firing alert logged:\n{seen}"));
    let bytes = std::fs::read(&alerts).unwrap();
    assert!(
        bytes.ends_with(b"\n"),
        "a half line in the alerts file: {}",
        String::from_utf8_lossy(&bytes)
    );
    let records = json_lines(&bytes);
    assert!(
        records
            .iter()
            .any(|a| a["state"] == "firing" && logged.contains(a["alert_id"].as_str().unwrap())),
        "logged {logged}\nbut the file holds {records:#?}"
    );
    let dead = std::fs::read(dir.join("dead.jsonl")).unwrap();
    assert!(dead.ends_with(b"\n"), "{}", String::from_utf8_lossy(&dead));
    let dead = json_lines(&dead);
    assert_eq!(
        (dead[0]["reason"].as_str(), dead[0]["offset"].as_u64()),
        (Some("invalid_json"), Some(1)),
        "{dead:#?}"
    );
}

/// SIGTERM and SIGINT stop a live run within seconds although its input
/// (stdin, or a FIFO) stays open; the run flushes, and exits 143 or 130.
#[test]
fn a_signal_stops_a_live_run_on_an_open_pipe_and_exits_128_plus_its_number() {
    for (signal, code, fifo) in [
        ("TERM", 143, false),
        ("INT", 130, false),
        ("TERM", 143, true),
    ] {
        let dir = tmp(&format!("sig{signal}-{fifo}"));
        let alerts = dir.join("alerts.jsonl");
        let fifo = fifo.then(|| dir.join("posts.fifo"));
        if let Some(f) = &fifo {
            let made = std::process::Command::new("mkfifo")
                .arg(f)
                .status()
                .unwrap();
            assert!(made.success());
        }
        let (mut child, writer, log) = live_run_on_open_pipe(&alerts, fifo.as_deref());
        let logged = wait_for_log(&log, 120, is_firing_alert_log);
        let sent = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let status = wait_exit(&mut child, 20);
        drop(writer);
        logged.unwrap_or_else(|seen| panic!("no firing alert logged:\n{seen}"));
        let status = status
            .unwrap_or_else(|| panic!("SIG{signal} did not stop the run in 20 s (FIFO: {fifo:?})"));
        assert_eq!(status.code(), Some(code), "SIG{signal}, FIFO: {fifo:?}");
        let records = json_lines(&std::fs::read(&alerts).unwrap());
        assert!(
            records.iter().any(|a| a["state"] == "firing"),
            "{records:#?}"
        );
    }
}

/// A start that fails on a flag or an input exits 2 and leaves the files of
/// the previous run as they were.
#[test]
fn a_failed_start_leaves_the_previous_outputs_alone() {
    let dir = tmp("failed-start");
    let prev_alerts = b"{\"alert_id\":\"previous\"}\n";
    let prev_dead = b"{\"reason\":\"previous\"}\n";
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let cases: [(&str, Vec<String>); 4] = [
        (
            "metrics address in use",
            vec![
                "--input".into(),
                DEMO_STREAM.into(),
                "--metrics-addr".into(),
                busy_addr.clone(),
            ],
        ),
        (
            "glob matching nothing",
            vec![
                "--input".into(),
                "fixtures/no-such-dir/*.jsonl".into(),
                "--metrics-addr".into(),
                "off".into(),
            ],
        ),
        (
            "missing input",
            vec![
                "--input".into(),
                "no/such/file.jsonl".into(),
                "--metrics-addr".into(),
                "off".into(),
            ],
        ),
        (
            "unwritable dead-letter path",
            vec![
                "--input".into(),
                DEMO_STREAM.into(),
                "--metrics-addr".into(),
                "off".into(),
                "--dead-letter".into(),
                dir.join("no-such-dir/dead.jsonl").display().to_string(),
            ],
        ),
    ];
    for (what, args) in cases {
        let alerts = write(&dir, "prev.jsonl", prev_alerts);
        let dead = write(&dir, "prev-dead.jsonl", prev_dead);
        let mut cmd = canary();
        cmd.args(["run", "--config", DEMO_CONFIG, "--alerts-out"])
            .arg(&alerts)
            .args(&args);
        if !args.iter().any(|a| a == "--dead-letter") {
            cmd.arg("--dead-letter").arg(&dead);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert_eq!(std::fs::read(&alerts).unwrap(), prev_alerts, "{what}");
        assert_eq!(std::fs::read(&dead).unwrap(), prev_dead, "{what}");
        // The cause is printed once, not once per layer of the error.
        assert!(err.matches("os error").count() <= 1, "{what}: {err}");
        if what == "metrics address in use" {
            assert!(
                err.contains(&busy_addr) && err.contains("os error"),
                "{err}"
            );
        }
    }
    drop(busy);
}

/// `--log trace` turns on the HTTP client's own logs, which write requests
/// whole; the webhook token and the Slack webhook path must stay out.
#[test]
fn trace_logs_carry_no_webhook_secret() {
    let rx = canary_testkit::receiver::Receiver::start(&[]);
    let dir = tmp("trace-secrets");
    let demo = std::fs::read_to_string(repo().join(DEMO_CONFIG)).unwrap();
    let cfg = write(
        &dir,
        "canary.toml",
        format!(
            "{demo}\n[[sink]]\ntype = \"webhook\"\nurl_env = \"CANARY_TEST_HOOK\"\n\n\
             [[sink]]\ntype = \"slack\"\nurl_env = \"CANARY_TEST_SLACK\"\n"
        )
        .as_bytes(),
    );
    let hook = rx.url("/hook?token=SECRETHOOKTOKEN");
    let slack = rx.url("/services/T0SECRETA/B0SECRETB/XSECRETSLACK");
    let out = canary()
        .env("CANARY_LOG", "trace")
        .env("CANARY_TEST_HOOK", &hook)
        .env("CANARY_TEST_SLACK", &slack)
        .args(["run", "--metrics-addr", "off", "--config"])
        .arg(&cfg)
        .args(["--input", DEMO_STREAM])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let reqs = rx.requests();
    assert!(
        reqs.iter().any(|r| r.path.contains("SECRETHOOKTOKEN"))
            && reqs.iter().any(|r| r.path.contains("XSECRETSLACK")),
        "both sinks were called"
    );
    assert!(
        log.contains("DEBUG canary_sinks"),
        "verbose logging is on: {log}"
    );
    let leaks: Vec<&str> = log.lines().filter(|l| l.contains("SECRET")).collect();
    assert!(
        leaks.is_empty(),
        "secrets in the log:\n{}",
        leaks.join("\n")
    );
}

/// Config errors name the key and the line: a value of the wrong type, a
/// file that is not UTF-8, two watches whose names differ only in case.
#[test]
fn config_errors_name_key_and_line() {
    let dir = tmp("config-errors");
    let check = |name: &str, bytes: &[u8]| {
        let cfg = write(&dir, name, bytes);
        let out = canary().arg("check-config").arg(&cfg).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = check(
        "type.toml",
        b"[[watch]]\nname = \"acme\"\nmatch = [\"@acme\"]\n\n[alert]\nfloor = \"high\"\n",
    );
    assert!(
        err.contains("type.toml:6: key `alert.floor`: invalid type: string \"high\", expected f64"),
        "{err}"
    );
    let err = check(
        "latin1.toml",
        b"[[watch]]\nname = \"acme\"\nmatch = [\"caf\xe9\"]\n",
    );
    assert!(
        err.contains("latin1.toml:3: not UTF-8 (byte offset 37, column 14)"),
        "{err}"
    );
    let err = check(
        "case.toml",
        b"[[watch]]\nname = \"acme\"\nmatch = [\"acme\"]\n\n[[watch]]\nname = \"ACME\"\nmatch = [\"ACME\"]\n",
    );
    assert!(
        err.contains("case.toml:6: key `watch.2.name`") && err.contains("ignoring case"),
        "{err}"
    );
}

/// A truncated compressed input is named in one warning, however many
/// records it cost.
#[test]
fn a_truncated_input_is_named_in_one_warning() {
    let dir = tmp("truncated");
    let gz = std::fs::read(repo().join(DEMO_STREAM)).unwrap();
    let cut = write(&dir, "cut.jsonl.gz", &gz[..gz.len() / 2]);
    let out = canary()
        .env("CANARY_LOG", "warn")
        .args([
            "run",
            "--config",
            DEMO_CONFIG,
            "--metrics-addr",
            "off",
            "--input",
        ])
        .arg(&cut)
        .arg("--input")
        .arg(&cut)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("cut.jsonl.gz"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains("truncated or corrupt"), "{log}");
}

/// Metrics served beyond loopback are worth a warning.
#[test]
fn metrics_on_a_non_loopback_address_are_warned_about() {
    let out = canary()
        .env("CANARY_LOG", "warn")
        .args([
            "run",
            "--config",
            DEMO_CONFIG,
            "--input",
            DEMO_STREAM,
            "--limit",
            "10",
            "--metrics-addr",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("WARN") && log.contains("non-loopback") && log.contains("0.0.0.0"),
        "{log}"
    );
    let out = canary()
        .env("CANARY_LOG", "warn")
        .args([
            "run",
            "--config",
            DEMO_CONFIG,
            "--input",
            DEMO_STREAM,
            "--limit",
            "10",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("non-loopback"), "{log}");
}

/// Python writes a post cut inside an emoji's surrogate pair as valid JSON
/// with a lone `\ud83d`; the post is read with U+FFFD in its place and
/// scored as the reference scores the original.
#[test]
fn lone_surrogate_escapes_are_read_as_replacement_characters() {
    let dir = tmp("lone-surrogate");
    let lone = STATUS
        .replace("@acme hello", r"@acme \ud83d oops, good")
        .replace("854644297813", "854644297816");
    let input = format!("{lone}\n{STATUS}\n");
    let path = write(&dir, "in.jsonl", input.as_bytes());
    for strict in [false, true] {
        let (dead, log) = run_demo(&path, &dir.join(format!("dead-{strict}.jsonl")), strict);
        assert!(dead.is_empty(), "{dead:#?}");
        assert!(log.contains("read 2 records: 2 posts"), "{log}");
    }

    let out = canary()
        .arg("score")
        .arg(write(
            &dir,
            "score.jsonl",
            br#"{"id":"a","text":"\ud83d oops good"}"#,
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    let scores = json_lines(&out.stdout);
    // vaderSentiment 3.3.2 on "\ud83d oops good".
    assert_eq!(scores.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(scores[0]["compound"].as_f64(), Some(0.4404));
    assert_eq!(scores[0]["pos"].as_f64(), Some(0.592));
}

/// A 10 MB post with "but" used to take `canary score` over 11 minutes:
/// the reference's "but" rule is quadratic as written.
#[test]
fn a_ten_megabyte_post_is_scored() {
    let dir = tmp("long-post");
    let unit = "the service was good but the wait was bad and I am sad ";
    let text = unit.repeat(10_000_000 / unit.len());
    let line = serde_json::json!({"id": "long", "text": text}).to_string();
    let path = write(&dir, "long.jsonl", line.as_bytes());
    let out = canary().arg("score").arg(&path).output().unwrap();
    assert!(out.status.success());
    let scores = json_lines(&out.stdout);
    assert_eq!(scores.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(scores[0]["compound"].as_f64(), Some(-1.0));
}

/// The demo's lines as text.
fn demo_text_lines() -> Vec<String> {
    String::from_utf8(demo_lines())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `line` with another id and created_at.
fn redated(line: &str, id: u64, created_at: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["id"] = id.into();
    v["id_str"] = id.to_string().into();
    v["created_at"] = created_at.into();
    v.to_string()
}

/// One @acme post dated 2200 at the head of the demo used to move the
/// watermark to 2200: every later post was late and no alert fired. It is
/// dead-lettered `future` (ahead of the clock), as is a post dated a year
/// ahead mid-stream (ahead of the stream), and the demo keeps its 4 alerts.
/// Late posts name the file and line they came from.
#[test]
fn far_future_posts_are_dead_lettered_and_late_ones_keep_their_line() {
    let dir = tmp("future");
    let mut lines = demo_text_lines();
    let n = lines.len();
    let head = redated(&lines[0], 1, "Wed Jan 01 00:00:00 +0000 2200");
    let ahead = redated(&lines[n / 2], 2, "Tue May 06 12:00:00 +0000 2025");
    // An hour behind the newest post at the end of the stream: late.
    let late = redated(&lines[n - 1], 3, "Mon May 06 13:00:00 +0000 2024");
    lines.insert(n / 2, ahead);
    lines.insert(0, head);
    lines.push(late);
    let mut input = lines.join("\n");
    input.push('\n');
    let path = write(&dir, "in.jsonl", input.as_bytes());
    let dl = dir.join("dead.jsonl");
    let out = canary()
        .env("CANARY_LOG", "info")
        .args(["run", "--config", DEMO_CONFIG, "--metrics-addr", "off"])
        .arg("--input")
        .arg(&path)
        .arg("--dead-letter")
        .arg(&dl)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let alerts = json_lines(&out.stdout);
    assert_eq!(alerts.len(), 4, "{log}");
    let dead = json_lines(&std::fs::read(&dl).unwrap());
    let got: Vec<(&str, u64)> = dead
        .iter()
        .map(|d| (d["reason"].as_str().unwrap(), d["offset"].as_u64().unwrap()))
        .collect();
    let (mid, last) = (n as u64 / 2 + 2, n as u64 + 3);
    assert_eq!(
        got,
        [("future", 1), ("future", mid), ("late", last)],
        "{dead:#?}"
    );
    for d in &dead {
        assert_eq!(d["stage"], "aggregate");
        assert_eq!(d["source"].as_str().unwrap(), path.to_str().unwrap());
    }
    assert!(
        dead[0]["detail"]
            .as_str()
            .unwrap()
            .contains("2200-01-01T00:00:00Z is too far ahead of the processing clock"),
        "{dead:#?}"
    );
    assert!(log.contains("aggregate/future=2"), "{log}");
}

/// Every watch a post matches costs the aggregate time and window memory:
/// past 100 watches canary warns, past 1000 it refuses the config.
#[test]
fn too_many_watches_warn_then_are_refused() {
    let dir = tmp("many-watches");
    let watches = |n: usize| {
        (0..n)
            .map(|i| format!("[[watch]]\nname = \"w{i}\"\nmatch = [\"@acme\"]\n"))
            .collect::<String>()
    };
    let run = |n: usize| {
        let cfg = write(&dir, &format!("w{n}.toml"), watches(n).as_bytes());
        let input = write(&dir, "in.jsonl", format!("{STATUS}\n").as_bytes());
        canary()
            .args(["run", "--metrics-addr", "off", "--config"])
            .arg(&cfg)
            .arg("--input")
            .arg(&input)
            .output()
            .unwrap()
    };
    let out = run(101);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("101 watches: a post costs"), "{log}");
    let out = run(1001);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{log}");
    assert!(
        log.contains("key `watch.1001.name`: 1001 watches; at most 1000"),
        "{log}"
    );
}
