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
