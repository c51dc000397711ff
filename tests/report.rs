//! `canary run --report`, `--summary` and `canary backtest`, end to end.
//!
//! The report tests open the page in headless Chromium (Debian's `chromium`,
//! installed by `scripts/setup.sh`); they are skipped with a message when it
//! is missing, and fail then under `CANARY_REQUIRE_SHARED=1`. Chromium runs
//! with every host name unresolvable and its own background services off,
//! and records a net log: a request the page made would show there.

mod common;

use common::{DEMO_CONFIG, DEMO_STREAM, json_lines, run_ok, tmp};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|f| f.is_file())
        })
    });
    if found.is_none() {
        let msg = "chromium is not installed (scripts/setup.sh installs it)";
        if std::env::var("CANARY_REQUIRE_SHARED").as_deref() == Ok("1") {
            panic!("{msg}, and CANARY_REQUIRE_SHARED=1");
        }
        eprintln!("skipping the report rendering test: {msg}");
    }
    found
}

/// Runs headless Chromium on `page` with `extra` flags, killed after 90 s.
fn chrome(bin: &Path, dir: &Path, page: &Path, extra: &[String]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        "--window-size=1200,2000",
    ])
    .arg(format!("--user-data-dir={}", dir.join("profile").display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chromium");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let o = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut b).ok();
        b
    });
    let e = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut b).ok();
        b
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for chromium") {
            break s;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: o.join().unwrap(),
        stderr: e.join().unwrap(),
    }
}

/// Console messages the page logged (Chromium prints them as `CONSOLE`).
fn console(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect()
}

/// URLs the page itself requested, from a Chromium net log: requests whose
/// network isolation key is the file's, other than the file itself.
fn page_requests(net_log: &Path) -> Vec<String> {
    let log: Value = serde_json::from_slice(&std::fs::read(net_log).expect("net log"))
        .expect("the net log is JSON");
    let mut urls: Vec<String> = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| {
            let p = &e["params"];
            let key = p["network_isolation_key"].as_str()?;
            let url = p["url"].as_str()?;
            (key.starts_with("file://") && !url.starts_with("file:")).then(|| url.to_owned())
        })
        .collect();
    urls.dedup();
    urls
}

fn data_block(page: &str) -> Value {
    let open = r#"<script type="application/json" id="canary-data">"#;
    let start = page.find(open).expect("data block") + open.len();
    let end = start + page[start..].find("</script>").expect("end of the block");
    serde_json::from_str(&page[start..end]).expect("the block is JSON")
}

fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let start = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {}", &tag[..tag.len().min(200)]))
        + key.len();
    &tag[start..start + tag[start..].find('"').expect("closing quote")]
}

fn numbers(s: &str) -> Vec<f64> {
    s.split(',').map(|x| x.parse().expect("a number")).collect()
}

/// (watch, lang) → windows as (start_ms, volume, scored, negative).
type Windows = BTreeMap<(String, String), Vec<[f64; 4]>>;

fn emitted_windows(records: &[Value]) -> Windows {
    let mut m = Windows::new();
    for r in records.iter().filter(|r| r["type"] == "window") {
        let key = (
            r["watch"].as_str().unwrap().to_owned(),
            r["lang"].as_str().unwrap().to_owned(),
        );
        let f = |k: &str| r[k].as_f64().unwrap();
        m.entry(key)
            .or_default()
            .push([f("start_ms"), f("volume"), f("scored"), f("negative")]);
    }
    m
}

fn share(w: &[f64; 4]) -> f64 {
    if w[2] == 0.0 { 0.0 } else { w[3] / w[2] }
}

/// The windows the page drew, read back from the rendered DOM: each watch
/// section's series, its volume path and its share line.
fn drawn_windows(dom: &str) -> (Windows, BTreeMap<(String, String), Vec<f64>>) {
    let mut marks: Vec<(usize, &str)> = Vec::new();
    for m in [
        "<section class=\"watch\"",
        "<div class=\"series\"",
        "<path class=\"vol\"",
        "<polyline class=\"share\"",
    ] {
        marks.extend(dom.match_indices(m));
    }
    marks.sort();
    let (mut watch, mut lang) = (String::new(), String::new());
    let (mut windows, mut shares) = (Windows::new(), BTreeMap::new());
    for (at, m) in marks {
        let tag = &dom[at..at + dom[at..].find('>').expect("end of tag")];
        match m {
            "<section class=\"watch\"" => watch = attr(tag, "data-watch").to_owned(),
            "<div class=\"series\"" => lang = attr(tag, "data-lang").to_owned(),
            "<path class=\"vol\"" => {
                let t = numbers(attr(tag, "data-t"));
                let (v, s, n) = (
                    numbers(attr(tag, "data-volume")),
                    numbers(attr(tag, "data-scored")),
                    numbers(attr(tag, "data-negative")),
                );
                assert_eq!(
                    attr(tag, "d").matches('M').count(),
                    t.len(),
                    "one bar per window"
                );
                let w = (0..t.len()).map(|i| [t[i], v[i], s[i], n[i]]).collect();
                windows.insert((watch.clone(), lang.clone()), w);
            }
            _ => {
                let s = numbers(attr(tag, "data-share"));
                let points = attr(tag, "points").split(' ').count();
                assert_eq!(points, s.len(), "one point per window");
                shares.insert((watch.clone(), lang.clone()), s);
            }
        }
    }
    (windows, shares)
}

#[test]
fn the_demo_report_renders_draws_the_emitted_windows_and_fetches_nothing() {
    let Some(bin) = chromium() else { return };
    let dir = tmp("report-demo");
    let (alerts, page) = (dir.join("alerts.jsonl"), dir.join("report.html"));
    let out = run_ok(&[
        "run",
        "--config",
        DEMO_CONFIG,
        "--input",
        DEMO_STREAM,
        "--metrics-addr",
        "off",
        "--emit-windows",
        "--alerts-out",
        alerts.to_str().unwrap(),
        "--report",
        page.to_str().unwrap(),
    ]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("episodes"),
        "no table off a terminal without --summary"
    );
    let records = json_lines(&std::fs::read(&alerts).unwrap());
    let expected = emitted_windows(&records);
    assert!(expected.len() >= 3, "demo keys: {:?}", expected.keys());
    let html = std::fs::read_to_string(&page).unwrap();

    // The embedded data block holds every window record.
    let data = data_block(&html);
    let mut from_block = Windows::new();
    for w in data["watches"].as_array().unwrap() {
        for s in w["series"].as_array().unwrap() {
            let col = |k: &str| -> Vec<f64> {
                s[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            };
            let (t, v, sc, n) = (col("t"), col("volume_max"), col("scored"), col("negative"));
            assert_eq!(col("volume_min"), v, "nothing merged in seven hours");
            let key = (
                w["name"].as_str().unwrap().to_owned(),
                s["lang"].as_str().unwrap().to_owned(),
            );
            let ws: Vec<[f64; 4]> = (0..t.len()).map(|i| [t[i], v[i], sc[i], n[i]]).collect();
            for (i, x) in col("share_max").iter().enumerate() {
                assert!((x - share(&ws[i])).abs() < 1e-4, "{key:?} window {i}");
            }
            from_block.insert(key, ws);
        }
    }
    assert_eq!(
        from_block, expected,
        "the data block against --emit-windows"
    );

    // The page, rendered, with no console message at all.
    let net_log = dir.join("net.json");
    let dom = chrome(
        &bin,
        &dir,
        &page,
        &[
            "--dump-dom".into(),
            format!("--log-net-log={}", net_log.display()),
        ],
    );
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    assert_eq!(
        console(&dom.stderr),
        Vec::<String>::new(),
        "console messages"
    );
    let dom = String::from_utf8(dom.stdout).unwrap();
    assert!(
        dom.contains("data-rendered=\"1\""),
        "the script ran to its end"
    );
    let (drawn, shares) = drawn_windows(&dom);
    assert_eq!(drawn, expected, "the DOM against --emit-windows");
    for (key, s) in &shares {
        let w = &expected[key];
        assert_eq!(s.len(), w.len(), "{key:?}");
        for (i, x) in s.iter().enumerate() {
            assert!((x - share(&w[i])).abs() < 1e-4, "{key:?} share {i}");
        }
    }
    for a in records.iter().filter(|r| r["state"] == "firing") {
        let id = a["alert_id"].as_str().unwrap();
        assert!(
            dom.contains(&format!("data-alert-id=\"{id}\"")),
            "{id} shaded"
        );
        assert!(dom.contains(&format!("id=\"alert-{id}\"")), "{id} detailed");
    }
    assert_eq!(page_requests(&net_log), Vec::<String>::new(), "requests");

    // The net log check sees a page that does fetch.
    let control = dir.join("control.html");
    let port = common::free_port();
    std::fs::write(
        &control,
        format!("<script>fetch('http://127.0.0.1:{port}/x').catch(() => {{}})</script>"),
    )
    .unwrap();
    let control_log = dir.join("control-net.json");
    chrome(
        &bin,
        &dir,
        &control,
        &[
            "--dump-dom".into(),
            format!("--log-net-log={}", control_log.display()),
        ],
    );
    assert_eq!(
        page_requests(&control_log),
        vec![format!("http://127.0.0.1:{port}/x")]
    );

    // A screenshot that is not blank: the charts give it many colours.
    let shot = dir.join("shot.png");
    let o = chrome(
        &bin,
        &dir,
        &page,
        &[format!("--screenshot={}", shot.display())],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let decoder = png::Decoder::new(std::fs::File::open(&shot).expect("screenshot"));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let px = info.color_type.samples();
    let colours: std::collections::HashSet<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    assert!(
        colours.len() > 20,
        "{} colours: a blank page",
        colours.len()
    );

    // And it prints.
    let pdf = dir.join("report.pdf");
    let o = chrome(
        &bin,
        &dir,
        &page,
        &[format!("--print-to-pdf={}", pdf.display())],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&pdf).expect("a PDF");
    assert!(
        bytes.starts_with(b"%PDF") && bytes.len() > 20_000,
        "{} bytes",
        bytes.len()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn summary_prints_the_per_watch_table() {
    let out = run_ok(&[
        "run",
        "--config",
        DEMO_CONFIG,
        "--input",
        DEMO_STREAM,
        "--metrics-addr",
        "off",
        "--emit-windows",
        "--summary",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    let records = json_lines(&out.stdout);
    let lines: Vec<&str> = err.lines().collect();
    let head = lines
        .iter()
        .position(|l| l.starts_with("watch ") && l.ends_with("episodes"))
        .unwrap_or_else(|| panic!("no table in {err}"));
    let mut rows = 0;
    for (watch, row) in ["acme", "globex"].iter().zip(&lines[head + 1..]) {
        let sum = |k: &str| -> u64 {
            records
                .iter()
                .filter(|r| r["type"] == "window" && r["watch"] == *watch && r["lang"] == "all")
                .map(|r| r[k].as_u64().unwrap())
                .sum()
        };
        let episodes = records
            .iter()
            .filter(|a| a["state"] == "firing" && a["watch"] == *watch)
            .count();
        let share = 100.0 * sum("negative") as f64 / sum("scored") as f64;
        let expected = format!(
            "{watch} {} {} {share:.1}% {episodes}",
            sum("volume"),
            sum("scored")
        );
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>().join(" "),
            expected
        );
        rows += 1;
    }
    assert_eq!(rows, 2);
}

/// (alert_id, window start, window end or `~` while firing), RFC 3339.
type Span = (String, String, String);

/// Firing alerts of one run as (watch, lang, kind) → episodes.
fn episodes_of(config: &Path) -> BTreeMap<(String, String, String), Vec<Span>> {
    let out = run_ok(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--input",
        DEMO_STREAM,
        "--metrics-addr",
        "off",
    ]);
    let mut m: BTreeMap<_, Vec<Span>> = BTreeMap::new();
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    for a in json_lines(&out.stdout) {
        let key = (s(&a["watch"]), s(&a["lang"]), s(&a["kind"]));
        let eps = m.entry(key).or_default();
        if a["state"] == "firing" {
            eps.push((s(&a["alert_id"]), s(&a["window_start"]), "~".into()));
        } else if let Some(e) = eps.iter_mut().find(|e| e.0 == s(&a["alert_id"])) {
            e.2 = s(&a["window_end"]);
        }
    }
    m
}

#[test]
fn backtest_differences_are_those_of_two_separate_runs() {
    let dir = tmp("backtest");
    let demo = std::fs::read_to_string(common::repo().join(DEMO_CONFIG)).unwrap();
    let a = common::repo().join(DEMO_CONFIG);
    let b = common::write(
        &dir,
        "b.toml",
        format!("{demo}\n[alert]\nfloor = 0.3\n").as_bytes(),
    );
    let (ea, eb) = (episodes_of(&a), episodes_of(&b));
    // What the two runs say, as (change, alert_id): an episode of the same
    // key overlapping in time is the same one, shifted if it starts elsewhere.
    let mut expected = Vec::new();
    let keys: std::collections::BTreeSet<_> = ea.keys().chain(eb.keys()).collect();
    for k in keys {
        let (xa, xb) = (
            ea.get(k).cloned().unwrap_or_default(),
            eb.get(k).cloned().unwrap_or_default(),
        );
        let overlap =
            |p: &(String, String, String), q: &(String, String, String)| p.1 < q.2 && q.1 < p.2;
        for p in &xa {
            match xb.iter().find(|q| overlap(p, q)) {
                Some(q) if q.1 != p.1 => expected.push(("shifted".to_owned(), q.0.clone())),
                Some(_) => {}
                None => expected.push(("removed".to_owned(), p.0.clone())),
            }
        }
        for q in xb.iter().filter(|q| !xa.iter().any(|p| overlap(p, q))) {
            expected.push(("added".to_owned(), q.0.clone()));
        }
    }
    expected.sort();
    assert!(
        !expected.is_empty(),
        "floor 0.3 changes the demo's episodes"
    );

    let report = dir.join("backtest.html");
    let out = run_ok(&[
        "backtest",
        "--config",
        a.to_str().unwrap(),
        "--config",
        b.to_str().unwrap(),
        "--input",
        DEMO_STREAM,
        "--json",
        "--report",
        report.to_str().unwrap(),
    ]);
    let diffs = json_lines(&out.stdout);
    let mut got: Vec<(String, String)> = diffs
        .iter()
        .map(|d| {
            (
                d["change"].as_str().unwrap().to_owned(),
                d["alert_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, expected);
    let data = data_block(&std::fs::read_to_string(&report).unwrap());
    assert_eq!(
        data["comparison"]["differences"].as_array().unwrap().len(),
        diffs.len()
    );

    // The table names the change and the alert_id on one line each.
    let table = run_ok(&[
        "backtest",
        "--config",
        a.to_str().unwrap(),
        "--config",
        b.to_str().unwrap(),
        "--input",
        DEMO_STREAM,
    ]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert_eq!(text.lines().count(), expected.len(), "{text}");
    for (change, id) in &expected {
        assert!(
            text.lines()
                .any(|l| l.starts_with(change.as_str()) && l.contains(id.as_str())),
            "{change} {id} in {text}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn backtest_refuses_configs_that_differ_before_the_aggregate() {
    let dir = tmp("backtest-refuse");
    let demo = std::fs::read_to_string(common::repo().join(DEMO_CONFIG)).unwrap();
    let b = common::write(
        &dir,
        "b.toml",
        demo.replace("name = \"globex\"", "name = \"initech\"")
            .as_bytes(),
    );
    let out = common::canary()
        .args([
            "backtest",
            "--config",
            DEMO_CONFIG,
            "--config",
            b.to_str().unwrap(),
        ])
        .args(["--input", DEMO_STREAM])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("differ in [[watch]]"), "{err}");
    let one = common::canary()
        .args(["backtest", "--config", DEMO_CONFIG, "--input", DEMO_STREAM])
        .output()
        .unwrap();
    assert_eq!(one.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&one.stderr).contains("backtest takes two"));
    std::fs::remove_dir_all(&dir).ok();
}

/// A month of 20 watches × 3 languages in 5-minute windows, downsampled.
fn month_page() -> String {
    use canary_core::aggregate::{AggregateOutput, Alert, AlertKind, AlertState, WindowSummary};
    use canary_core::time::format_rfc3339;
    let names: Vec<String> = (0..20).map(|i| format!("brand-{i:02}")).collect();
    let mut c = canary_report::Collector::new(&names, true);
    let alert = |w: &str, state, start: i64, id: i64| {
        AggregateOutput::Alert(Alert {
            v: 1,
            alert_id: format!("{w}/all/negative_share/{id}"),
            kind: AlertKind::NegativeShare,
            watch: w.into(),
            lang: "all".into(),
            state,
            window_start: format_rfc3339(start),
            window_end: format_rfc3339(start + 300_000),
            volume: 300,
            scored: 280,
            negative: 90,
            negative_share: 0.32,
            baseline_share: 0.03,
            baseline_volume: 120.0,
            p_value: 1e-9,
            top_terms: vec!["refund".into()],
            sample_ids: vec![],
            samples: vec![],
            episode_start: format_rfc3339(start),
            evidence: None,
            resolution: None,
        })
    };
    for i in 0..30 * 288i64 {
        let t = 1_700_000_000_000 + i * 300_000;
        for w in &names {
            for (lang, k) in [("all", 3u64), ("en", 2), ("es", 1)] {
                let v = 40 * k + (i as u64 * 7) % 23;
                let spike = i % 288 >= 100 && i % 288 < 112;
                c.observe(&AggregateOutput::Window(WindowSummary {
                    v: 1,
                    watch: w.clone(),
                    lang: lang.into(),
                    start_ms: t,
                    end_ms: t + 300_000,
                    volume: v,
                    scored: v - 3,
                    negative: if spike { v / 3 } else { (i as u64 * 13) % 9 },
                    baseline_share: Some(0.03),
                    baseline_volume: v as f64,
                    negative_firing: spike,
                    volume_firing: false,
                    care: None,
                }));
            }
            if i % 288 == 100 {
                c.observe(&alert(w, AlertState::Firing, t, i));
            }
            if i % 288 == 112 {
                c.observe(&alert(w, AlertState::Resolved, t, i - 12));
            }
        }
    }
    canary_report::Report {
        title: "a month of 20 watches".into(),
        input: canary_report::InputSummary::default(),
        config: String::new(),
        threshold: canary_report::Threshold {
            floor: 0.1,
            min_rise: 0.05,
        },
        watch_thresholds: BTreeMap::new(),
        run: &c,
        comparison: None,
    }
    .render()
}

#[test]
fn a_month_of_twenty_watches_renders_downsampled() {
    let Some(bin) = chromium() else { return };
    let dir = tmp("report-month");
    let html = month_page();
    assert!(html.len() < 5_000_000, "{} bytes", html.len());
    let page = common::write(&dir, "month.html", html.as_bytes());
    let out = chrome(&bin, &dir, &page, &["--dump-dom".into()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        console(&out.stderr),
        Vec::<String>::new(),
        "console messages"
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(
        dom.contains("data-rendered=\"1\""),
        "the script ran to its end"
    );
    let body = &dom[dom.find("<body").unwrap()..];
    let ms = attr(&body[..body.find('>').unwrap()], "data-render-ms");
    // Reported, not asserted: timing is no pass/fail criterion here.
    println!(
        "a month of 20 watches × 3 languages: {:.2} MB, drawn in {ms} ms",
        html.len() as f64 / 1e6
    );
    assert_eq!(dom.matches("<path class=\"vol\"").count(), 60);
    assert_eq!(
        dom.matches("class=\"share-range\"").count(),
        60,
        "min-max ranges drawn"
    );
    assert_eq!(
        dom.matches("class=\"episode negative_share\"").count(),
        20 * 30 * 2
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_report_path_that_cannot_be_written_fails_before_any_output() {
    let dir = tmp("report-bad-path");
    let alerts = common::write(&dir, "alerts.jsonl", b"previous run\n");
    let out = common::canary()
        .args(["run", "--config", DEMO_CONFIG, "--input", DEMO_STREAM])
        .args([
            "--metrics-addr",
            "off",
            "--alerts-out",
            alerts.to_str().unwrap(),
        ])
        .arg("--report")
        .arg(dir.join("missing-dir").join("r.html"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot create the report"), "{err}");
    assert_eq!(std::fs::read(&alerts).unwrap(), b"previous run\n");
    std::fs::remove_dir_all(&dir).ok();
}
