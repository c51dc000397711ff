//! CSV exports under a column mapping from `[input.csv]` or `--csv-*` flags.

mod common;
use common::*;

const WATCHES: &str = r#"
[[watch]]
name = "usairways"
match = ["@usairways"]

[[watch]]
name = "acme"
match = ["@acme"]
"#;

/// Semicolon-separated, epoch milliseconds, odd column names, and a brand
/// column that names the watch where the text does not.
fn export(dir: &std::path::Path) -> std::path::PathBuf {
    let mut s = String::from("post;body;millis;who;company\n");
    for i in 0..40u64 {
        let (text, brand) = if i % 2 == 0 {
            ("my bag is lost again", "US Airways")
        } else {
            ("@acme thanks, all good", "")
        };
        s.push_str(&format!(
            "{};{text};{};user{i};{brand}\n",
            1_000 + i,
            1_714_982_400_000u64 + i * 1_000
        ));
    }
    write(dir, "export.csv", s.as_bytes())
}

fn summary(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn config_table_and_flags_map_the_columns() {
    let dir = tmp("csv-mapping");
    let input = export(&dir);
    let config = write(
        &dir,
        "c.toml",
        format!(
            "{WATCHES}\n[input.csv]\nid = \"post\"\ntext = \"body\"\ntime = \"millis\"\ntime_format = \"epoch-millis\"\nhandle = \"who\"\ndelimiter = \";\"\n"
        )
        .as_bytes(),
    );
    let run = |extra: &[&str]| {
        canary()
            .env("CANARY_LOG", "info")
            .args(["run", "--metrics-addr", "off", "--emit-windows", "--config"])
            .arg(&config)
            .arg("--input")
            .arg(&input)
            .args(extra)
            .output()
            .unwrap()
    };
    // The table alone: the @acme rows match by text, the others are unwatched.
    let out = run(&[]);
    let log = summary(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("dead letters: none"), "{log}");
    assert!(
        log.contains("counted 20 posts in windows; unwatched 20"),
        "{log}"
    );
    let windows = json_lines(&out.stdout);
    assert!(windows.iter().all(|w| w["watch"] == "acme"), "{windows:?}");

    // A flag adds the brand column: the `US Airways` rows count for `usairways`.
    let out = run(&["--csv-brand", "company"]);
    let log = summary(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("counted 40 posts in windows; unwatched 0"),
        "{log}"
    );
    let watches: std::collections::BTreeSet<String> = json_lines(&out.stdout)
        .iter()
        .filter_map(|w| w["watch"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        watches.into_iter().collect::<Vec<_>>(),
        ["acme", "usairways"]
    );

    // A flag overrides the table: a wrong time format turns every row into a dead letter.
    let out = run(&["--csv-time-format", "rfc3339"]);
    let log = summary(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("ingest/bad_created_at=40"), "{log}");
}

#[test]
fn bad_mappings_stop_the_run_before_any_input_is_read() {
    let dir = tmp("csv-bad-mapping");
    let input = export(&dir);
    let good = write(&dir, "good.toml", WATCHES.as_bytes());
    for (flag, value, msg) in [
        (
            "--csv-time-format",
            "sometimes",
            "--csv-time-format: unknown time format",
        ),
        (
            "--csv-delimiter",
            ";;",
            "--csv-delimiter: delimiter \";;\" must be one ASCII character",
        ),
    ] {
        let out = canary()
            .args(["run", "--metrics-addr", "off", "--config"])
            .arg(&good)
            .arg("--input")
            .arg(&input)
            .args([flag, value])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(summary(&out).contains(msg), "{}", summary(&out));
    }
    let bad = write(
        &dir,
        "bad.toml",
        format!("{WATCHES}\n[input.csv]\ntext = \"body\"\ntime_format = \"weekly\"\n").as_bytes(),
    );
    let out = canary().args(["check-config"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = summary(&out);
    assert!(
        err.contains("bad.toml:12: key `input.csv.time_format`: unknown time format \"weekly\""),
        "{err}"
    );
}
