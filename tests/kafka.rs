//! Kafka mode against a real broker (tansu, installed by
//! `scripts/kafka-broker.sh install`): five stage processes give the embedded
//! pipeline's alerts and windows, through kill -9s, a second aggregate, a
//! paused broker and bad records.
//!
//! Skipped with a message when the broker binary is absent; a failure when
//! `CANARY_REQUIRE_SHARED=1` (CI).
#![cfg(feature = "kafka")]

mod common;

use common::{DEMO_CONFIG, DEMO_STREAM, canary, repo, tmp};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests share two cores with five processes each: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const STAGES: [&str; 5] = ["ingest", "normalize", "language", "sentiment", "aggregate"];

fn tansu() -> Option<PathBuf> {
    let p = std::env::var_os("CANARY_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".tools/tansu"));
    if p.is_file() {
        return Some(p);
    }
    if std::env::var("CANARY_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!(
            "{} is missing and CANARY_REQUIRE_SHARED=1: run scripts/kafka-broker.sh install",
            p.display()
        );
    }
    eprintln!(
        "skipping: no broker at {} (run scripts/kafka-broker.sh install)",
        p.display()
    );
    None
}

struct Broker {
    child: Child,
    addr: String,
}

impl Broker {
    fn start(bin: &Path) -> Broker {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let url = format!("tcp://{addr}");
        let child = Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        let b = Broker { child, addr };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(&b.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "broker did not listen on {}",
                b.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        b
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig} broker");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One pipeline under a topic and group prefix of its own.
struct Pipeline {
    brokers: String,
    prefix: String,
    dir: PathBuf,
    procs: BTreeMap<String, Child>,
    extra: Vec<String>,
    /// Instances that serve /metrics, and on which port.
    metrics: BTreeMap<String, u16>,
    /// The config every stage reads.
    config: PathBuf,
}

impl Pipeline {
    fn new(broker: &Broker, name: &str) -> Pipeline {
        let dir = tmp(&format!("kafka-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        Pipeline {
            brokers: broker.addr.clone(),
            prefix: format!("t-{name}-{}.", std::process::id()),
            dir,
            procs: BTreeMap::new(),
            // A killed member must leave the group quickly; tansu also holds
            // a join for about half the session timeout.
            extra: vec!["--kafka-option".into(), "session.timeout.ms=10000".into()],
            metrics: BTreeMap::new(),
            config: repo().join(DEMO_CONFIG),
        }
    }

    fn alerts_out(&self, instance: &str) -> PathBuf {
        self.dir.join(format!("out-{instance}.jsonl"))
    }

    /// Starts `stage` as process `instance` (several instances share the group).
    fn start(&mut self, stage: &str, instance: &str) {
        let mut c = canary();
        c.args(["stage", stage, "--config"])
            .arg(&self.config)
            .args(["--brokers", &self.brokers])
            .args([
                "--topic-prefix",
                &self.prefix,
                "--group-prefix",
                &self.prefix,
            ])
            .args(&self.extra)
            // Notify logs each settled batch at info; tests wait for that line.
            .env(
                "CANARY_LOG",
                if stage == "notify" { "info" } else { "warn" },
            )
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.dir.join(format!("{instance}.log")))
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            );
        if let Some(port) = self.metrics.get(instance) {
            c.arg("--metrics-addr").arg(format!("127.0.0.1:{port}"));
        }
        if stage == "notify" {
            c.arg("--state-dir").arg(self.dir.join("notify-state"));
        }
        if stage == "aggregate" {
            c.args(["--emit-windows", "--checkpoint-interval", "0.3"])
                .arg("--state-dir")
                .arg(self.dir.join("state"))
                .arg("--alerts-out")
                .arg(self.alerts_out(instance));
        }
        let child = c.spawn().expect("start stage");
        self.procs.insert(instance.into(), child);
    }

    fn start_all(&mut self) {
        for s in STAGES {
            self.start(s, s);
        }
    }

    fn kill9(&mut self, instance: &str) {
        let mut c = self.procs.remove(instance).expect("running");
        c.kill().expect("SIGKILL");
        c.wait().expect("reap");
    }

    fn replay(&self, input: &Path, speed: &str) -> Child {
        self.replay_with(input, speed, &[])
    }

    fn replay_with(&self, input: &Path, speed: &str, args: &[&str]) -> Child {
        canary()
            .args([
                "replay",
                "--brokers",
                &self.brokers,
                "--topic-prefix",
                &self.prefix,
            ])
            .args(["--speed", speed])
            .args(&self.extra)
            .args(args)
            .arg(input)
            .stdout(Stdio::null())
            .spawn()
            .expect("replay")
    }

    /// Replays `input` at full speed and checks the aggregate's alerts and
    /// windows against `want`.
    fn replay_and_check(&self, input: &Path, args: &[&str], want: &Outcome) {
        let mut r = self.replay_with(input, "max", args);
        assert!(r.wait().expect("replay").success());
        let got = self.wait_windows(&["aggregate"], window_count(want), Duration::from_secs(180));
        check(&got, want);
    }

    /// Replays `input` at full speed and waits for `windows` window records.
    fn replay_and_check_count(&self, input: &Path, windows: usize) {
        let mut r = self.replay(input, "max");
        assert!(r.wait().expect("replay").success());
        let got = self.wait_windows(&["aggregate"], windows, Duration::from_secs(120));
        let n = got
            .iter()
            .filter(|l| l.contains("\"type\":\"window\""))
            .count();
        assert_eq!(n, windows, "window records of the aggregate");
    }

    /// Waits (bounded) until the aggregate outputs hold `want` window records
    /// and stay unchanged for a moment; returns every output line.
    fn wait_windows(&self, instances: &[&str], want: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut stable_since: Option<(usize, Instant)> = None;
        loop {
            let lines: Vec<String> = instances
                .iter()
                .flat_map(|i| {
                    std::fs::read_to_string(self.alerts_out(i))
                        .unwrap_or_default()
                        .lines()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect();
            let windows = lines
                .iter()
                .filter(|l| l.contains("\"type\":\"window\""))
                .count();
            if windows >= want {
                match stable_since {
                    Some((n, t)) if n == lines.len() && t.elapsed() >= Duration::from_secs(2) => {
                        return lines;
                    }
                    Some((n, _)) if n == lines.len() => {}
                    _ => stable_since = Some((lines.len(), Instant::now())),
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out: {windows} of {want} windows in {}; logs in {}",
                instances.join(","),
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        for c in self.procs.values_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Alerts in order, and window records per watch in order (partitions
/// interleave watches differently from one process; each watch's own sequence
/// is what must match).
#[derive(Debug, PartialEq)]
struct Outcome {
    alerts: Vec<String>,
    windows: BTreeMap<String, Vec<String>>,
}

fn outcome(lines: &[String]) -> Outcome {
    let mut o = Outcome {
        alerts: Vec::new(),
        windows: BTreeMap::new(),
    };
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("json line");
        if v["type"] == "window" {
            let w = v["watch"].as_str().expect("watch").to_owned();
            o.windows.entry(w).or_default().push(l.clone());
        } else {
            o.alerts.push(l.clone());
        }
    }
    o
}

fn embedded(input: &Path) -> Outcome {
    let o = embedded_with(input, &[]);
    assert_eq!(
        o.alerts.len(),
        4,
        "the demo fires and resolves for acme (all, en)"
    );
    o
}

/// `canary run` on `input` with the demo config and `args`.
fn embedded_with(input: &Path, args: &[&str]) -> Outcome {
    let out = tmp("kafka-embedded").join(format!(
        "{}.jsonl",
        input.file_name().unwrap().to_string_lossy()
    ));
    let st = canary()
        .args([
            "run",
            "--config",
            DEMO_CONFIG,
            "--emit-windows",
            "--metrics-addr",
            "off",
        ])
        .args(args)
        .arg("--input")
        .arg(input)
        .arg("--alerts-out")
        .arg(&out)
        .status()
        .expect("canary run");
    assert!(st.success());
    let lines: Vec<String> = std::fs::read_to_string(&out)
        .expect("embedded output")
        .lines()
        .map(str::to_owned)
        .collect();
    outcome(&lines)
}

fn window_count(o: &Outcome) -> usize {
    o.windows.values().map(Vec::len).sum()
}

fn demo() -> PathBuf {
    repo().join(DEMO_STREAM)
}

fn check(got: &[String], want: &Outcome) {
    let got = outcome(got);
    assert_eq!(
        got.alerts, want.alerts,
        "alert records differ from the embedded run"
    );
    assert_eq!(
        got.windows.keys().collect::<Vec<_>>(),
        want.windows.keys().collect::<Vec<_>>()
    );
    for (w, seq) in &want.windows {
        let g = &got.windows[w];
        let first = g.iter().zip(seq).position(|(a, b)| a != b);
        assert!(
            g.len() == seq.len() && first.is_none(),
            "windows of {w}: {} vs {} records, first difference at {first:?}",
            g.len(),
            seq.len()
        );
    }
}

/// Which stage process sets each family of the telemetry catalog. The rest
/// belong elsewhere: sink deliveries to the notify stage, input bytes to the
/// reader (`canary replay`), queue depths to the embedded run's channels,
/// live-source health to the process that reads the source.
const STAGE_FAMILIES: &[(&str, &[&str])] = &[
    ("canary_stage_records_total", &STAGES),
    ("canary_stage_post_seconds", &STAGES),
    ("canary_stage_last_record_timestamp_seconds", &STAGES),
    ("canary_kafka_consumer_lag", &STAGES),
    ("canary_dead_letters_total", &STAGES),
    ("canary_notices_total", &["ingest"]),
    ("canary_posts_dropped_total", &["normalize", "aggregate"]),
    ("canary_language_posts_total", &["language"]),
    ("canary_language_hint_disagreements_total", &["language"]),
    ("canary_pipeline_latency_seconds", &["aggregate"]),
    ("canary_window_posts", &["aggregate"]),
    ("canary_window_negative_share", &["aggregate"]),
    ("canary_baseline_negative_share", &["aggregate"]),
    ("canary_baseline_posts", &["aggregate"]),
    ("canary_alert_firing", &["aggregate"]),
    ("canary_alerts_total", &["aggregate"]),
    ("canary_windows_closed_total", &["aggregate"]),
    ("canary_watermark_timestamp_seconds", &["aggregate"]),
    ("canary_watermark_lag_seconds", &["aggregate"]),
];
const NOT_A_STAGE_PROCESS: &[&str] = &[
    "canary_sink_deliveries_total",
    "canary_input_bytes",
    "canary_queue_depth",
    "canary_source_connected",
    "canary_source_reconnects_total",
    "canary_source_last_event_timestamp_seconds",
    "canary_source_bytes_total",
];

/// The value of the sample `series` (name and labels as rendered) in `body`.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn five_stage_processes_match_embedded_and_export_their_metrics() {
    let Some(bin) = tansu() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let want = embedded(&demo());
    let broker = Broker::start(&bin);
    let mut p = Pipeline::new(&broker, "five");
    for s in STAGES {
        p.metrics.insert(s.into(), common::free_port());
    }
    p.start_all();
    p.replay_and_check(&demo(), &[], &want);

    let catalog = canary_telemetry::Metrics::new().expect("metrics");
    for info in catalog.catalog() {
        // The social-care families are set by the aggregate process only for
        // watches with `accounts`, which the demo config has none of:
        // `care_conversations_through_five_stages_...` below checks them.
        let assigned = STAGE_FAMILIES.iter().any(|(f, _)| *f == info.name)
            || info.name.starts_with("canary_care_");
        assert!(
            assigned != NOT_A_STAGE_PROCESS.contains(&info.name.as_str()),
            "{}: say which process exports it",
            info.name
        );
    }
    let scrapes: BTreeMap<&str, String> = STAGES
        .iter()
        .map(|s| {
            let body = common::scrape(p.metrics[*s]).unwrap_or_else(|| panic!("scrape {s}"));
            (*s, body)
        })
        .collect();
    for (family, stages) in STAGE_FAMILIES {
        for s in *stages {
            assert!(
                scrapes[s].contains(&format!("# TYPE {family} ")),
                "the {s} process does not export {family}"
            );
        }
    }
    let agg = &scrapes["aggregate"];
    // The paging rules read this gauge: the demo's spike fired and resolved.
    assert_eq!(
        sample(
            agg,
            r#"canary_alerts_total{kind="negative_share",state="firing"}"#
        ),
        Some(2.0),
        "{agg}"
    );
    assert_eq!(
        sample(
            agg,
            r#"canary_alert_firing{kind="negative_share",lang="all",watch="acme"}"#
        ),
        Some(0.0),
        "resolved by the end of the demo"
    );
    assert_eq!(
        sample(
            agg,
            r#"canary_alert_firing{kind="volume",lang="all",watch="globex"}"#
        ),
        Some(0.0)
    );
    for s in STAGES {
        let last = sample(
            &scrapes[s],
            &format!(r#"canary_stage_last_record_timestamp_seconds{{stage="{s}"}}"#),
        )
        .unwrap_or_else(|| panic!("{s}: no last-batch time"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((now - 600.0..=now + 60.0).contains(&last), "{s}: {last}");
        assert!(
            scrapes[s].contains(&format!(
                r#"canary_kafka_consumer_lag{{partition="0",stage="{s}""#
            )),
            "{s}: no consumer lag"
        );
    }
    let lang = &scrapes["language"];
    assert!(sample(lang, r#"canary_language_posts_total{lang="en"}"#).unwrap_or(0.0) > 0.0);
}

#[test]
fn kill_9_of_each_stage_mid_replay_loses_and_doubles_nothing() {
    let Some(bin) = tansu() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let want = embedded(&demo());
    let broker = Broker::start(&bin);
    let mut p = Pipeline::new(&broker, "kill");
    p.start_all();
    // Seven hours of event time in about 25 s.
    let mut r = p.replay(&demo(), "1000");
    std::thread::sleep(Duration::from_secs(6));
    for s in STAGES {
        p.kill9(s);
        std::thread::sleep(Duration::from_millis(500));
        p.start(s, s);
        std::thread::sleep(Duration::from_secs(3));
    }
    assert!(r.wait().expect("replay").success());
    let got = p.wait_windows(
        &["aggregate"],
        window_count(&want),
        Duration::from_secs(240),
    );
    check(&got, &want);
}

#[test]
fn two_aggregates_in_one_group_give_the_alerts_of_one() {
    let Some(bin) = tansu() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let want = embedded(&demo());
    let broker = Broker::start(&bin);
    let mut p = Pipeline::new(&broker, "two");
    // Two watches over two partitions.
    p.extra.extend(["--partitions".into(), "2".into()]);
    p.start_all();
    p.start("aggregate", "aggregate-2");
    let mut r = p.replay(&demo(), "2000");
    assert!(r.wait().expect("replay").success());
    let got = p.wait_windows(
        &["aggregate", "aggregate-2"],
        window_count(&want),
        Duration::from_secs(180),
    );
    check(&got, &want);
}

#[test]
fn broker_pause_stalls_and_recovers_without_loss() {
    let Some(bin) = tansu() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let want = embedded(&demo());
    let broker = Broker::start(&bin);
    let mut p = Pipeline::new(&broker, "pause");
    p.start_all();
    let mut r = p.replay(&demo(), "1500");
    std::thread::sleep(Duration::from_secs(6));
    broker.signal("-STOP");
    std::thread::sleep(Duration::from_secs(12));
    broker.signal("-CONT");
    assert!(r.wait().expect("replay").success());
    let got = p.wait_windows(
        &["aggregate"],
        window_count(&want),
        Duration::from_secs(240),
    );
    check(&got, &want);
}

#[test]
fn bad_records_go_to_the_dead_letter_topic_and_the_stages_go_on() {
    let Some(bin) = tansu() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The demo with bad lines in it: the embedded run on the same file is the reference.
    let dir = tmp("kafka-bad-input");
    let mut text = String::new();
    let demo_text = {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(demo()).expect("demo"))
            .read_to_string(&mut s)
            .expect("gunzip");
        s
    };
    for (i, l) in demo_text.lines().enumerate() {
        text.push_str(l);
        text.push('\n');
        match i {
            100 => text.push_str("{\"id_str\": \"1\", \"text\": \"no time\"}\n"),
            200 => text.push_str("this is not json\n"),
            250 => {
                // Larger than a Kafka message may be: the replay refuses it alone.
                text.push_str(&format!(
                    "{{\"id_str\": \"3\", \"text\": \"{}\"}}\n",
                    "x".repeat(2 << 20)
                ));
            }
            300 => text.push_str(
                "{\"created_at\": \"yesterday\", \"id_str\": \"2\", \"text\": \"@acme\"}\n",
            ),
            _ => {}
        }
    }
    let input = dir.join("demo-with-bad-lines.jsonl");
    std::fs::write(&input, text).expect("write");
    let want = embedded(&input);

    let broker = Broker::start(&bin);
    let mut p = Pipeline::new(&broker, "bad");
    p.start_all();
    p.replay_and_check(&input, &[], &want);

    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("group.id", format!("{}dlq-reader", p.prefix))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    c.subscribe(&[&format!("{}dead-letters", p.prefix)])
        .expect("subscribe");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 4 && Instant::now() < deadline {
        let Some(Ok(m)) = c.poll(Duration::from_millis(500)) else {
            continue;
        };
        let h: BTreeMap<String, String> = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|x| {
                        (
                            x.key.to_owned(),
                            String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let body: serde_json::Value =
            serde_json::from_slice(m.payload().unwrap_or_default()).expect("dead letter json");
        seen.push((h, body));
    }
    // The replay's dead letter and ingest's come from two processes: their
    // order on the topic is not fixed.
    let (replay, seen): (Vec<_>, Vec<_>) =
        seen.into_iter().partition(|(h, _)| h["stage"] == "replay");
    assert_eq!(
        replay.len(),
        1,
        "one dead letter from the replay: {replay:?}"
    );
    let (h, body) = &replay[0];
    assert_eq!(h["reason"], "line_too_long");
    assert!(h["source"].ends_with("demo-with-bad-lines.jsonl"), "{h:?}");
    // After demo line 251 and the two bad lines inserted before it.
    assert_eq!(body["offset"], 254, "the line number in the file");
    assert_eq!(
        body["raw"].as_str().map(str::len),
        Some(64 * 1024),
        "a prefix is kept"
    );
    let reasons: Vec<&str> = seen.iter().map(|(h, _)| h["reason"].as_str()).collect();
    assert_eq!(
        reasons,
        ["missing_created_at", "invalid_json", "bad_created_at"],
        "dead letters: {seen:?}"
    );
    // The replay packs lines: offset and index point at the bad line itself.
    let raw = read_all(&broker.addr, &format!("{}raw", p.prefix), &p.prefix);
    let bad = [
        "{\"id_str\": \"1\", \"text\": \"no time\"}",
        "this is not json",
        "{\"created_at\": \"yesterday\", \"id_str\": \"2\", \"text\": \"@acme\"}",
    ];
    for ((h, body), line) in seen.iter().zip(bad) {
        assert_eq!(h["stage"], "ingest");
        assert_eq!(h["source_topic"], format!("{}raw", p.prefix));
        assert_eq!(h["source_partition"], "0");
        assert_eq!(body["reason"].as_str(), Some(h["reason"].as_str()));
        assert_eq!(body["stage"], "ingest");
        assert_eq!(body["raw"], line);
        let off: i64 = h["source_offset"].parse().expect("offset");
        let index: usize = h["source_index"].parse().expect("index of the line");
        let (format, payload) = &raw[&off];
        assert_eq!(format.as_deref(), Some("jsonl"));
        let lines: Vec<&[u8]> = payload.split(|&b| b == b'\n').collect();
        assert_eq!(
            lines[index],
            line.as_bytes(),
            "line {index} of raw offset {off}"
        );
    }
}

#[test]
fn a_zstd_dump_replays_packed_as_the_plain_one_runs() {
    let Some(bin) = tansu() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    use std::io::{Read, Write};
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(demo()).expect("demo"))
        .read_to_end(&mut text)
        .expect("gunzip");
    let dir = tmp("kafka-zstd-input");
    std::fs::create_dir_all(&dir).expect("dir");
    let zst = dir.join("demo.jsonl.zst");
    let mut enc =
        zstd::Encoder::new(std::fs::File::create(&zst).expect("create"), 3).expect("encoder");
    enc.write_all(&text).expect("compress");
    enc.finish().expect("finish");
    let want = embedded(&demo());

    let broker = Broker::start(&bin);
    let mut p = Pipeline::new(&broker, "zstd");
    p.start_all();
    p.replay_and_check(&zst, &[], &want);
    // Every line arrived, packed, in order.
    let raw = read_all(&broker.addr, &format!("{}raw", p.prefix), &p.prefix);
    let mut lines = Vec::new();
    for (format, payload) in raw.values() {
        match format.as_deref() {
            Some("jsonl") => lines.extend(payload.split(|&b| b == b'\n').map(<[u8]>::to_vec)),
            None if !payload.is_empty() => lines.push(payload.clone()),
            None => {} // the end marker
            Some(f) => panic!("unexpected format {f}"),
        }
    }
    let want_lines: Vec<Vec<u8>> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(lines.len(), want_lines.len());
    assert!(lines == want_lines, "raw lines differ from the dump's");
    assert!(
        raw.len() < want_lines.len() / 10,
        "{} messages for {} lines",
        raw.len(),
        want_lines.len()
    );
}

/// The demo as a newest-first CSV export (as exports often are), with one
/// row whose time does not parse.
fn write_demo_csv(path: &Path) {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(demo()).expect("demo"))
        .read_to_string(&mut text)
        .expect("gunzip");
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut rows = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("demo json");
        let Some(ms) = v["timestamp_ms"].as_str() else {
            continue; // delete notices have no row in an export
        };
        let ms: i64 = ms.parse().expect("timestamp_ms");
        rows.push(format!(
            "{},{},{},{},{}",
            v["id_str"].as_str().expect("id"),
            q(v["text"].as_str().expect("text")),
            canary_core::time::format_rfc3339(ms),
            v["user"]["screen_name"].as_str().unwrap_or(""),
            v["lang"].as_str().unwrap_or("")
        ));
    }
    rows.reverse();
    rows.insert(
        rows.len() / 2,
        "1,\"@acme hello\",yesterday,someone,en".into(),
    );
    let mut csv = String::from("tweet_id,text,tweet_created,name,lang\n");
    for r in rows {
        csv.push_str(&r);
        csv.push('\n');
    }
    std::fs::write(path, csv).expect("write csv");
}

#[test]
fn a_csv_export_replays_through_kafka_as_through_canary_run() {
    let Some(bin) = tansu() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tmp("kafka-csv-input");
    std::fs::create_dir_all(&dir).expect("dir");
    let csv = dir.join("demo-newest-first.csv");
    write_demo_csv(&csv);
    let want = embedded_with(&csv, &["--sort-by-time"]);
    assert!(!want.alerts.is_empty(), "the CSV demo fires alerts");

    let broker = Broker::start(&bin);
    let mut p = Pipeline::new(&broker, "csv");
    p.start_all();
    p.replay_and_check(&csv, &["--sort-by-time"], &want);

    // The rows went to `raw` as canary records; the bad row, found by the
    // replay's reader, to the dead-letter topic with the file and line.
    let raw = read_all(&broker.addr, &format!("{}raw", p.prefix), &p.prefix);
    assert!(
        raw.values()
            .any(|(f, _)| f.as_deref() == Some("canary-records"))
    );
    let dead = read_all(
        &broker.addr,
        &format!("{}dead-letters", p.prefix),
        &p.prefix,
    );
    assert_eq!(dead.len(), 1, "one dead letter: {dead:?}");
    let (_, body) = dead.values().next().expect("one");
    let body: serde_json::Value = serde_json::from_slice(body).expect("dead letter json");
    assert_eq!(body["stage"], "ingest");
    assert!(
        body["source"]
            .as_str()
            .expect("source")
            .ends_with("demo-newest-first.csv"),
        "{body}"
    );
    assert!(body["raw"].as_str().expect("raw").contains("yesterday"));
}

/// Every message of partition 0 of `topic`: offset -> (format header, payload).
fn read_all(addr: &str, topic: &str, prefix: &str) -> BTreeMap<i64, (Option<String>, Vec<u8>)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", format!("{prefix}raw-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    // Assigned, not subscribed: no group join to wait for.
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .expect("partition");
    c.assign(&tpl).expect("assign");
    let mut out = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet = 0;
    // Done after two seconds without a message (the replay has finished).
    while Instant::now() < deadline && quiet < 4 {
        let Some(Ok(m)) = c.poll(Duration::from_millis(500)) else {
            quiet += 1;
            continue;
        };
        quiet = 0;
        let format = m.headers().and_then(|h| {
            h.iter()
                .find(|x| x.key == "canary-format")
                .map(|x| String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned())
        });
        out.insert(
            m.offset(),
            (format, m.payload().unwrap_or_default().to_vec()),
        );
    }
    out
}

/// Sends SIGTERM to `child`, then waits (bounded) for it to exit: how long it
/// took, and its exit status (None: still running at the limit, then killed).
fn terminate(child: &mut Child, limit: Duration) -> (Duration, Option<std::process::ExitStatus>) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -TERM {}", child.id());
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return (t.elapsed(), Some(st));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    (t.elapsed(), None)
}

/// Waits (bounded) until `log` holds `needle`.
fn wait_log(log: &Path, needle: &str, limit: Duration) {
    let t = Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(needle)
    {
        assert!(
            t.elapsed() < limit,
            "{} has no {needle:?} after {limit:?}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A stage process logging at info level into `dir/<name>.log`.
fn stage_process(brokers: &str, prefix: &str, stage: &str, dir: &Path, extra: &[&str]) -> Child {
    let mut c = canary();
    c.args([
        "stage",
        stage,
        "--config",
        DEMO_CONFIG,
        "--brokers",
        brokers,
    ])
    .args(["--topic-prefix", prefix, "--group-prefix", prefix])
    .args(extra)
    .env("CANARY_LOG", "info")
    .stdout(Stdio::null())
    .stderr(Stdio::from(
        std::fs::File::create(dir.join(format!("{stage}.log"))).expect("log file"),
    ));
    if stage == "aggregate" {
        c.arg("--state-dir").arg(dir.join("state"));
    }
    c.spawn().expect("start stage")
}

#[test]
fn sigterm_during_the_group_join_exits_promptly() {
    let Some(bin) = tansu() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let broker = Broker::start(&bin);
    let dir = tmp("kafka-join-term");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let prefix = format!("t-join-{}.", std::process::id());
    // The default session timeout: tansu holds the join for about 20 s, so
    // the stop surely arrives while the join is pending.
    let mut procs: Vec<(&str, Child)> = ["language", "aggregate"]
        .into_iter()
        .map(|s| (s, stage_process(&broker.addr, &prefix, s, &dir, &[])))
        .collect();
    for (s, _) in &procs {
        wait_log(
            &dir.join(format!("{s}.log")),
            "consuming",
            Duration::from_secs(30),
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    for (s, c) in &mut procs {
        let log = std::fs::read_to_string(dir.join(format!("{s}.log"))).unwrap_or_default();
        assert!(!log.contains(" assigned "), "{s} joined already:\n{log}");
        let (took, st) = terminate(c, Duration::from_secs(10));
        let st = st.unwrap_or_else(|| panic!("{s} ignored SIGTERM for {took:?} while joining"));
        assert!(
            took < Duration::from_secs(5),
            "{s} took {took:?} to stop while joining"
        );
        assert!(
            st.success(),
            "{s} exited with {st} after SIGTERM while joining"
        );
    }
}

#[test]
fn sigterm_without_a_reachable_broker_exits_promptly() {
    // Nothing listens on the port: the stage is stuck creating its topics.
    let dir = tmp("kafka-no-broker");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let brokers = format!("127.0.0.1:{port}");
    let mut c = stage_process(&brokers, "t-none.", "normalize", &dir, &[]);
    wait_log(
        &dir.join("normalize.log"),
        "starting",
        Duration::from_secs(30),
    );
    std::thread::sleep(Duration::from_secs(2));
    let (took, st) = terminate(&mut c, Duration::from_secs(10));
    let st = st.unwrap_or_else(|| panic!("ignored SIGTERM for {took:?} without a broker"));
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    assert!(st.success(), "exited with {st}: nothing was lost");
}

#[test]
fn sigterm_after_the_broker_died_gives_up_on_outputs_in_bounded_time() {
    let Some(bin) = tansu() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut broker = Broker::start(&bin);
    let dir = tmp("kafka-dead-broker");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let prefix = format!("t-dead-{}.", std::process::id());
    let extra = [
        "--kafka-option",
        "session.timeout.ms=10000",
        "--shutdown-timeout",
        "2",
    ];
    let mut procs: Vec<(&str, Child)> = STAGES
        .into_iter()
        .map(|s| (s, stage_process(&broker.addr, &prefix, s, &dir, &extra)))
        .collect();
    for s in STAGES {
        wait_log(
            &dir.join(format!("{s}.log")),
            " assigned ",
            Duration::from_secs(60),
        );
    }
    // The stages are paused while the demo eight times over (~108k lines) is
    // written, then resumed: they fetch a backlog far larger than they can
    // work through before the broker is killed 300 ms later, so outputs are
    // in flight when it dies.
    let input = dir.join("demo-x8.jsonl");
    let mut text = Vec::new();
    {
        use std::io::Read;
        let mut one = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(demo()).expect("demo"))
            .read_to_end(&mut one)
            .expect("gunzip");
        for _ in 0..8 {
            text.extend_from_slice(&one);
        }
    }
    std::fs::write(&input, text).expect("write");
    let pause = |sig: &str| {
        for (_, c) in &procs {
            let st = Command::new("kill")
                .args([sig, &c.id().to_string()])
                .status()
                .expect("kill");
            assert!(st.success(), "kill {sig}");
        }
    };
    pause("-STOP");
    let st = canary()
        .args([
            "replay",
            "--brokers",
            &broker.addr,
            "--topic-prefix",
            &prefix,
        ])
        .args(["--kafka-option", "session.timeout.ms=10000"])
        .arg(&input)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("replay");
    pause("-CONT");
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(300));
    broker.child.kill().expect("SIGKILL the broker");
    broker.child.wait().expect("reap");
    std::thread::sleep(Duration::from_millis(300));
    let mut gave_up = Vec::new();
    for (s, c) in &mut procs {
        let (took, st) = terminate(c, Duration::from_secs(30));
        let st = st.unwrap_or_else(|| panic!("{s} still running {took:?} after SIGTERM"));
        // 2 s for outputs, at most 2 s for the consumer's close, some slack.
        assert!(
            took < Duration::from_secs(12),
            "{s} took {took:?} to stop with the broker dead"
        );
        let log = std::fs::read_to_string(dir.join(format!("{s}.log"))).unwrap_or_default();
        let said = log.contains("not acknowledged");
        // Non-zero exactly when outputs were given up, and then it says so.
        assert_eq!(!st.success(), said, "{s} exited with {st}; log:\n{log}");
        if said {
            gave_up.push(*s);
        }
    }
    assert!(
        !gave_up.is_empty(),
        "no stage had outputs in flight when the broker died; logs in {}",
        dir.display()
    );
}

/// A post dated 2200 at the head of the stream must not move normalize's
/// event-time stamp (and with it every aggregate's watermark) to 2200: it is
/// dead-lettered `future` and the alerts are the embedded run's. That dead
/// letter and a late post's point at their lines on `raw`.
#[test]
fn a_post_dated_2200_is_future_and_costs_no_alert() {
    let Some(bin) = tansu() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tmp("kafka-future-input");
    let demo_text = {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(demo()).expect("demo"))
            .read_to_string(&mut s)
            .expect("gunzip");
        s
    };
    let redated = |line: &str, id: u64, created_at: &str| {
        let mut v: serde_json::Value = serde_json::from_str(line).expect("json");
        v["id"] = id.into();
        v["id_str"] = id.to_string().into();
        v["created_at"] = created_at.into();
        v.to_string()
    };
    let first = demo_text.lines().next().expect("a line");
    let head = redated(first, 1, "Wed Jan 01 00:00:00 +0000 2200");
    // Two hours behind the end of the demo: late.
    let late = redated(first, 2, "Mon May 06 13:00:00 +0000 2024");
    let input = dir.join("demo-2200.jsonl");
    std::fs::write(&input, format!("{head}\n{demo_text}{late}\n")).expect("write");
    let want = embedded(&input);

    let broker = Broker::start(&bin);
    let mut p = Pipeline::new(&broker, "future");
    p.start_all();
    p.replay_and_check(&input, &[], &want);

    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("group.id", format!("{}dlq-reader", p.prefix))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    c.subscribe(&[&format!("{}dead-letters", p.prefix)])
        .expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = BTreeMap::new();
    while seen.len() < 2 {
        assert!(Instant::now() < deadline, "dead letters: {seen:?}");
        let Some(Ok(m)) = c.poll(Duration::from_millis(500)) else {
            continue;
        };
        let h: BTreeMap<String, String> = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|x| {
                        (
                            x.key.to_owned(),
                            String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let body: serde_json::Value =
            serde_json::from_slice(m.payload().unwrap_or_default()).expect("dead letter json");
        seen.insert(h["reason"].clone(), (h, body));
    }
    let raw = read_all(&broker.addr, &format!("{}raw", p.prefix), &p.prefix);
    for (reason, stage, line) in [("future", "normalize", &head), ("late", "aggregate", &late)] {
        let (h, body) = &seen[reason];
        assert_eq!(h["stage"], stage, "{h:?}");
        assert_eq!(body["stage"], stage, "{body}");
        assert_eq!(h["source_topic"], format!("{}raw", p.prefix));
        assert_eq!(body["source"], format!("{}raw/0", p.prefix));
        let off: i64 = h["source_offset"].parse().expect("offset");
        assert_eq!(body["offset"], off);
        let index: usize = h["source_index"].parse().expect("index of the line");
        let (_, payload) = &raw[&off];
        let lines: Vec<&[u8]> = payload.split(|&b| b == b'\n').collect();
        assert_eq!(
            lines[index],
            line.as_bytes(),
            "{reason}: line {index} of raw offset {off}"
        );
    }
}

/// (alert_id, state) of every request the receiver answered (a `Hang`
/// request never got an answer and is left out by the caller).
/// Waits until the notify stage scraped on `port` has dropped at least
/// `dups` re-sent records as duplicates and dead-lettered exactly one record
/// for `bad_reason`; returns the last scrape.
fn wait_notify_counts(
    port: u16,
    bad_reason: &str,
    dups: usize,
    deadline: Instant,
    logs: &Path,
) -> String {
    let dup = r#"canary_posts_dropped_total{reason="duplicate",stage="notify"}"#;
    let bad = format!(r#"canary_dead_letters_total{{reason="{bad_reason}",stage="notify"}}"#);
    loop {
        let body = common::scrape(port).unwrap_or_default();
        let (d, b) = (sample(&body, dup), sample(&body, &bad));
        if d.is_some_and(|d| d >= dups as f64) && b == Some(1.0) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "duplicates {d:?}, bad {b:?}; logs in {}",
            logs.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn pages(reqs: &[canary_testkit::receiver::Request]) -> Vec<(String, String)> {
    reqs.iter()
        .map(|r| {
            let a = r.json();
            (
                a["alert_id"].as_str().expect("alert_id").to_owned(),
                a["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect()
}

#[test]
fn notify_pages_each_alert_once_through_kill_9s_and_duplicates() {
    use canary_testkit::receiver::{Receiver, Reply};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let Some(bin) = tansu() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let want = embedded(&demo());
    // The first delivery hangs: the stage is killed while it waits.
    let rx = Receiver::start(&[Reply::Hang]);
    let broker = Broker::start(&bin);
    let mut p = Pipeline::new(&broker, "notify");
    let demo_cfg = std::fs::read_to_string(repo().join(DEMO_CONFIG)).expect("demo config");
    p.config = p.dir.join("canary.toml");
    std::fs::write(
        &p.config,
        format!(
            "{demo_cfg}\n[[sink]]\ntype = \"webhook\"\nurl = \"{}\"\ntimeout = \"60s\"\nbackoff = \"50ms\"\n",
            rx.url("/hook")
        ),
    )
    .expect("config");
    p.start_all();
    p.start("notify", "notify-1");
    let mut r = p.replay(&demo(), "max");
    let deadline = Instant::now() + Duration::from_secs(180);
    while rx.requests().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no page; logs in {}",
            p.dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Killed before the sink answered: its offset was not stored, nothing
    // is lost, the restarted stage pages it.
    p.kill9("notify-1");
    assert!(r.wait().expect("replay").success());
    p.start("notify", "notify-2");
    let got = loop {
        let reqs = rx.requests();
        if reqs.len() > want.alerts.len() {
            break reqs;
        }
        assert!(
            Instant::now() < deadline,
            "{} pages of {}; logs in {}",
            reqs.len() - 1,
            want.alerts.len(),
            p.dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = p.dir.join("notify-2.log");
    wait_log(&log, "alerts delivered", Duration::from_secs(30));
    // Killed after the pages: the restarted stage reads them again (from its
    // last committed offset), and the alerts topic holds them twice now, as
    // after an aggregate restart, with a record that is not an alert.
    p.kill9("notify-2");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &p.brokers)
        .create()
        .expect("producer");
    let topic = format!("{}alerts", p.prefix);
    for line in &want.alerts {
        let v: serde_json::Value = serde_json::from_str(line).expect("alert");
        let key = format!(
            "{}/{}",
            v["alert_id"].as_str().unwrap(),
            v["state"].as_str().unwrap()
        );
        producer
            .send(BaseRecord::to(&topic).key(&key).payload(line))
            .expect("send");
    }
    producer
        .send(BaseRecord::<(), _>::to(&topic).payload("not an alert"))
        .expect("send");
    producer.flush(Duration::from_secs(30)).expect("flush");
    let port = common::free_port();
    p.metrics.insert("notify-3".into(), port);
    p.start("notify", "notify-3");
    let body = wait_notify_counts(port, "bad_alert", want.alerts.len(), deadline, &p.dir);
    assert!(
        body.contains(r#"canary_sink_deliveries_total{outcome="failed",sink="webhook"} 0"#),
        "{body}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let answered = pages(&rx.requests()[1..]);
    let hung = pages(&rx.requests()[..1]);
    let want_pages: Vec<(String, String)> = want
        .alerts
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("alert");
            (
                v["alert_id"].as_str().unwrap().to_owned(),
                v["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(answered, want_pages, "each alert paged once, in order");
    assert_eq!(hung[0], want_pages[0], "the unanswered page was the first");
    assert_eq!(got.len(), want_pages.len() + 1);
}

/// A Jetstream commit event for a post.
fn jetstream_post(rkey: &str, text: &str, time_us: i64) -> String {
    serde_json::json!({
        "did": "did:plc:canarytest",
        "time_us": time_us,
        "kind": "commit",
        "commit": {
            "rev": "3l3qo2vutsw2b",
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": rkey,
            "record": {
                "$type": "app.bsky.feed.post",
                "createdAt": canary_core::time::format_rfc3339(time_us / 1000),
                "langs": ["en"],
                "text": text,
            },
            "cid": "bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi"
        }
    })
    .to_string()
}

#[test]
fn a_live_source_feeds_the_raw_topic_until_sigterm() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(bin) = tansu() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let posts = [
        ("3kfeed1", "acme support is great"),
        ("3kfeed2", "acme lost my parcel again"),
        ("3kfeed3", "nothing to see here"),
    ];
    let t0 = 1_733_400_000_000_000i64;
    let mut frames: Vec<String> = posts
        .iter()
        .enumerate()
        .map(|(i, (rkey, text))| jetstream_post(rkey, text, t0 + i as i64 * 1_000_000))
        .collect();
    frames.insert(2, "{\"kind\": \"commit\", not json".to_owned());
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let ws_port = listener.local_addr().expect("addr").port();
    let done = Arc::new(AtomicBool::new(false));
    let server = {
        let done = done.clone();
        std::thread::spawn(move || {
            let (tcp, _) = listener.accept().expect("accept");
            let mut ws = tungstenite::accept(tcp).expect("websocket");
            for f in frames {
                ws.send(tungstenite::Message::text(f)).expect("send");
            }
            ws.flush().expect("flush");
            // Open and silent: the process must keep running until signalled.
            let until = Instant::now() + Duration::from_secs(90);
            while !done.load(Ordering::Relaxed) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let broker = Broker::start(&bin);
    let dir = tmp("kafka-source");
    std::fs::create_dir_all(&dir).expect("dir");
    let log = dir.join("source.log");
    let prefix = "feed-";
    let port = common::free_port();
    let mut child = canary()
        .arg("source")
        .arg(format!(
            "jetstream=ws://127.0.0.1:{ws_port}/subscribe?wantedCollections=app.bsky.feed.post"
        ))
        .args(["--config", DEMO_CONFIG, "--brokers", &broker.addr])
        .args(["--topic-prefix", prefix])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .env("CANARY_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
        .spawn()
        .expect("start canary source");
    wait_log(&log, "feeding live sources", Duration::from_secs(60));

    let raw = format!("{prefix}raw");
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while records.len() < posts.len() && Instant::now() < deadline {
        records = read_all(&broker.addr, &raw, prefix)
            .into_values()
            .map(|(format, payload)| {
                assert_eq!(format.as_deref(), Some("canary-records"), "one record each");
                serde_json::from_slice::<serde_json::Value>(&payload).expect("record json")
            })
            .collect();
    }
    let texts: Vec<&str> = records.iter().filter_map(|r| r["text"].as_str()).collect();
    let want: Vec<&str> = posts.iter().map(|p| p.1).collect();
    assert_eq!(texts, want, "raw topic: {records:?}");
    assert_eq!(
        records[0]["id"],
        "at://did:plc:canarytest/app.bsky.feed.post/3kfeed1"
    );

    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("group.id", format!("{prefix}dlq-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    c.subscribe(&[&format!("{prefix}dead-letters")])
        .expect("subscribe");
    let mut dead = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while dead.is_empty() && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(500)) {
            dead.push(
                serde_json::from_slice::<serde_json::Value>(m.payload().unwrap_or_default())
                    .expect("dead letter json"),
            );
        }
    }
    assert_eq!(dead.len(), 1, "one dead letter");
    assert_eq!(dead[0]["stage"], "source", "{:?}", dead[0]);
    assert!(
        dead[0]["raw"].as_str().unwrap_or("").contains("not json"),
        "{:?}",
        dead[0]
    );

    let body = common::scrape(port).unwrap_or_default();
    let (_, status) = terminate(&mut child, Duration::from_secs(30));
    done.store(true, Ordering::Relaxed);
    server.join().expect("server");
    assert!(
        body.contains("canary_source_connected{source=\"jetstream\"} 1"),
        "{body}"
    );
    let status = status.expect("canary source exits on SIGTERM");
    assert!(
        status.success(),
        "exit {status}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn canary_source_refuses_a_bad_source_before_connecting() {
    let dir = tmp("kafka-source-bad");
    std::fs::create_dir_all(&dir).expect("dir");
    let demo = std::fs::read_to_string(repo().join(DEMO_CONFIG)).expect("config");
    let cfg = common::write(
        &dir,
        "canary.toml",
        format!("{demo}\n[source.jetstream]\nidle_timeout = -1\n").as_bytes(),
    );
    // Nothing listens on port 1: a start that got that far would hang, not exit 2.
    let good = repo().join(DEMO_CONFIG);
    for (source, config, says) in [
        ("jetstream", &cfg, "source.jetstream.idle_timeout"),
        ("bluesky", &good, "unknown source"),
        (
            "jetstream=https://example.org/",
            &good,
            "source.jetstream.url",
        ),
    ] {
        let out = canary()
            .args(["source", source, "--config"])
            .arg(config)
            .args(["--brokers", "127.0.0.1:1"])
            .output()
            .expect("run canary source");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{source}: {err}");
        assert!(err.contains(says), "{source}: {err}");
    }
}

/// The `canary_care_*` samples of a scrape, sorted, as `name{labels} value`.
fn care_samples(body: &str) -> Vec<String> {
    let mut v: Vec<String> = body
        .lines()
        .filter(|l| l.starts_with("canary_care_"))
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[test]
fn care_conversations_through_five_stages_give_the_embedded_triage_and_care_metrics() {
    use canary_testkit::care::{CONFIG, conversations};
    use canary_testkit::receiver::Receiver;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let Some(bin) = tansu() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tmp("kafka-care-embedded");
    let conv = conversations(false);
    let input = common::write(
        &dir,
        "conversations.jsonl",
        common::care_lines(&conv).as_bytes(),
    );
    let care_cfg = common::write(&dir, "care.toml", CONFIG.as_bytes());
    let (triage_out, windows_out) = (dir.join("triage.jsonl"), dir.join("out.jsonl"));
    let (cfg, inp, tri, win) = (
        care_cfg.to_str().unwrap(),
        input.to_str().unwrap(),
        triage_out.to_str().unwrap(),
        windows_out.to_str().unwrap(),
    );
    let embedded_scrape = common::scrape_run(&[
        "--config",
        cfg,
        "--input",
        inp,
        "--triage-out",
        tri,
        "--emit-windows",
        "--alerts-out",
        win,
    ]);
    let want_triage: Vec<String> = std::fs::read_to_string(&triage_out)
        .expect("triage out")
        .lines()
        .map(str::to_owned)
        .collect();
    let want_windows = std::fs::read_to_string(&windows_out)
        .expect("windows")
        .lines()
        .filter(|l| l.contains("\"type\":\"window\""))
        .count();
    let want_metrics = care_samples(&embedded_scrape);
    assert!(
        want_triage.len() > 10 && want_metrics.len() > 20,
        "{want_triage:?} {want_metrics:?}"
    );

    let hook = Receiver::start(&[]);
    let broker = Broker::start(&bin);
    let mut p = Pipeline::new(&broker, "care");
    p.config = p.dir.join("canary.toml");
    std::fs::write(
        &p.config,
        format!(
            "{CONFIG}\n[[sink]]\ntype = \"webhook\"\nevents = [\"triage\"]\nurl = \"{}\"\n",
            hook.url("/triage")
        ),
    )
    .expect("config");
    let agg_port = common::free_port();
    let notify_port = common::free_port();
    p.metrics.insert("aggregate".into(), agg_port);
    p.metrics.insert("notify-2".into(), notify_port);
    p.start_all();
    p.start("notify", "notify-1");
    p.replay_and_check_count(&input, want_windows);

    // One watch: its posts share one partition of `scored`, one aggregate
    // reads them in stream order as `canary run` does, and `triage` has one
    // partition, so the records match in order, not only as a set.
    let topic = format!("{}triage", p.prefix);
    let records = read_all(&p.brokers, &topic, &p.prefix);
    let got: Vec<String> = records
        .values()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(
        got, want_triage,
        "the triage topic holds what --triage-out does"
    );
    let body = common::scrape(agg_port).expect("scrape the aggregate");
    assert_eq!(
        care_samples(&body),
        want_metrics,
        "the aggregate process exports the embedded run's care metrics"
    );

    // The notify stage hands each record to the webhook once, in order.
    let deadline = Instant::now() + Duration::from_secs(60);
    while hook.requests().len() < want_triage.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} triage records delivered; logs in {}",
            hook.requests().len(),
            want_triage.len(),
            p.dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_log(
        &p.dir.join("notify-1.log"),
        "triage records delivered",
        Duration::from_secs(30),
    );
    let as_json = |lines: &[String]| -> Vec<serde_json::Value> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    };
    let delivered: Vec<serde_json::Value> = hook.requests().iter().map(|r| r.json()).collect();
    assert_eq!(delivered, as_json(&want_triage));

    // Killed after delivery, the topic then holding every record twice (as
    // after an aggregate restart) and one that is not a triage record: the
    // restarted stage delivers nothing again.
    p.kill9("notify-1");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &p.brokers)
        .create()
        .expect("producer");
    for line in &want_triage {
        producer
            .send(BaseRecord::<(), _>::to(&topic).payload(line))
            .expect("send");
    }
    producer
        .send(BaseRecord::<(), _>::to(&topic).payload("not a triage record"))
        .expect("send");
    producer.flush(Duration::from_secs(30)).expect("flush");
    p.start("notify", "notify-2");
    wait_notify_counts(
        notify_port,
        "bad_triage",
        want_triage.len(),
        deadline,
        &p.dir,
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(hook.requests().len(), want_triage.len(), "nothing twice");
}
