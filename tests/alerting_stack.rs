//! The real alerting stack: Debian's Prometheus and Alertmanager, configured
//! from `deploy/`, scrape a paced `canary run` over the demo spike and page a
//! local webhook receiver: the comms lead gets a firing notification for
//! `watch="acme"`, then a resolved one.
//!
//! Skipped (with a message) when the binaries are absent, unless
//! `CANARY_REQUIRE_SHARED=1`. `scripts/install-ops-tools.sh` installs them.

mod common;
use common::*;
use serde_norway::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn find_binary(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Kills every process it holds, also when an assertion fails.
struct Procs(Vec<(&'static str, Child)>);

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One POST the webhook receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    authorization: String,
    body: serde_json::Value,
}

/// A webhook receiver on 127.0.0.1: one thread, bounded reads, stops on drop.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (got, stop) = (got.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            if let Some(r) = handle(s) {
                                got.lock().unwrap().push(r);
                            }
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        Receiver {
            port,
            got,
            stop,
            thread: Some(thread),
        }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one HTTP/1.1 request (Content-Length body), answers 200, closes.
fn handle(s: TcpStream) -> Option<Received> {
    s.set_nonblocking(false).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut r = BufReader::new(s.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let (mut len, mut authorization) = (0usize, String::new());
    loop {
        line.clear();
        r.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().ok()?,
            "authorization" => authorization = v.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; len.min(1 << 20)];
    r.read_exact(&mut body).ok()?;
    let mut w = s;
    let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    Some(Received {
        path,
        authorization,
        body: serde_json::from_slice(&body).ok()?,
    })
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn wait_ready(name: &str, port: u16, procs: &mut Procs) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http_get(port, "/-/ready").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            return;
        }
        for (n, c) in &mut procs.0 {
            if let Ok(Some(st)) = c.try_wait() {
                panic!("{n} exited early: {st}");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{name} not ready on 127.0.0.1:{port} within 60 s");
}

fn map_get<'a>(v: &'a mut Value, key: &str) -> &'a mut Value {
    v.as_mapping_mut()
        .expect("a mapping")
        .entry(Value::from(key))
        .or_insert(Value::Null)
}

/// deploy/prometheus/prometheus.yml with local ports, 1 s intervals and the
/// deploy rule files by absolute path.
fn prometheus_config(canary_ports: &[u16], am_port: u16) -> String {
    let deploy = repo().join("deploy/prometheus");
    let text = std::fs::read_to_string(deploy.join("prometheus.yml")).unwrap();
    let mut cfg: Value = serde_norway::from_str(&text).unwrap();
    let global = map_get(&mut cfg, "global");
    *map_get(global, "scrape_interval") = "1s".into();
    *map_get(global, "evaluation_interval") = "1s".into();
    let rules = map_get(&mut cfg, "rule_files").as_sequence_mut().unwrap();
    for r in rules.iter_mut() {
        *r = deploy
            .join(r.as_str().unwrap())
            .to_string_lossy()
            .into_owned()
            .into();
    }
    let ams = map_get(map_get(&mut cfg, "alerting"), "alertmanagers");
    for am in ams.as_sequence_mut().unwrap() {
        for sc in map_get(am, "static_configs").as_sequence_mut().unwrap() {
            *map_get(sc, "targets") = vec![Value::from(format!("127.0.0.1:{am_port}"))].into();
        }
    }
    let scrapes = map_get(&mut cfg, "scrape_configs")
        .as_sequence_mut()
        .unwrap();
    scrapes.retain(|s| s["job_name"].as_str() == Some("canary"));
    assert_eq!(
        scrapes.len(),
        1,
        "deploy's prometheus.yml has no canary job"
    );
    let sc = map_get(&mut scrapes[0], "static_configs")
        .as_sequence_mut()
        .unwrap();
    sc.truncate(1);
    *map_get(&mut sc[0], "targets") = canary_ports
        .iter()
        .map(|p| Value::from(format!("127.0.0.1:{p}")))
        .collect::<Vec<_>>()
        .into();
    serde_norway::to_string(&cfg).unwrap()
}

/// deploy/alertmanager/alertmanager.yml rendered by its own render.sh with the
/// local receiver's URLs, secrets in `secrets`, and 1 s grouping so the test
/// does not wait minutes for a group to flush.
fn alertmanager_config(receiver: u16, secrets: &Path) -> String {
    let deploy = repo().join("deploy/alertmanager");
    let out = secrets.parent().unwrap().join("alertmanager.rendered.yml");
    let base = format!("http://127.0.0.1:{receiver}");
    let st = Command::new("sh")
        .arg(deploy.join("render.sh"))
        .arg(deploy.join("alertmanager.yml"))
        .arg(&out)
        .env("CANARY_COMMS_WEBHOOK_URL", format!("{base}/comms"))
        .env("CANARY_OPS_PAGE_WEBHOOK_URL", format!("{base}/ops-page"))
        .env("CANARY_OPS_WEBHOOK_URL", format!("{base}/ops"))
        .env("CANARY_CARE_WEBHOOK_URL", format!("{base}/care"))
        .status()
        .unwrap();
    assert!(st.success(), "render.sh failed");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("/etc/alertmanager/secrets/"));
    let text = text.replace(
        "/etc/alertmanager/secrets/",
        &format!("{}/", secrets.display()),
    );
    let mut cfg: Value = serde_norway::from_str(&text).unwrap();
    // Only webhooks point at the local receiver: any other integration would
    // try to reach the internet.
    for r in cfg["receivers"].as_sequence().unwrap() {
        for (k, _) in r.as_mapping().unwrap() {
            let k = k.as_str().unwrap();
            assert!(
                k == "name" || k == "webhook_configs",
                "receiver {:?} uses {k}: the test cannot run it locally",
                r["name"]
            );
        }
    }
    fn fast(route: &mut Value) {
        *map_get(route, "group_wait") = "1s".into();
        *map_get(route, "group_interval") = "1s".into();
        if let Some(rs) = route.get_mut("routes").and_then(|r| r.as_sequence_mut()) {
            rs.iter_mut().for_each(fast);
        }
    }
    fast(map_get(&mut cfg, "route"));
    serde_norway::to_string(&cfg).unwrap()
}

/// Alerts in a notification for `watch` (alertname, status, summary).
fn acme_alerts(n: &Received) -> Vec<(String, String, String)> {
    n.body["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["labels"]["watch"] == "acme")
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                a["status"].as_str().unwrap_or("").to_string(),
                a["annotations"]["summary"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

/// Prometheus and Alertmanager, or None (the test is skipped) when they are
/// not installed.
fn binaries() -> Option<(PathBuf, PathBuf)> {
    let (Some(prometheus), Some(alertmanager)) = (
        find_binary("prometheus"),
        find_binary("prometheus-alertmanager").or_else(|| find_binary("alertmanager")),
    ) else {
        let msg = "prometheus and prometheus-alertmanager are not installed \
                   (scripts/install-ops-tools.sh installs them)";
        if std::env::var("CANARY_REQUIRE_SHARED").as_deref() == Ok("1") {
            panic!("{msg}, and CANARY_REQUIRE_SHARED=1");
        }
        eprintln!("skipping the alerting stack test: {msg}");
        return None;
    };
    Some((prometheus, alertmanager))
}

/// Alertmanager paging a local receiver, and Prometheus with deploy's rules
/// when it has canary processes to scrape.
struct Stack {
    dir: PathBuf,
    receiver: Receiver,
    procs: Procs,
    am_port: u16,
}

impl Stack {
    /// Starts Alertmanager, and Prometheus scraping `targets` unless there are none.
    fn start(name: &str, targets: &[u16]) -> Option<Stack> {
        let (prometheus, alertmanager) = binaries()?;
        let dir = tmp(name);
        let _ = std::fs::remove_dir_all(&dir);
        let secrets = dir.join("secrets");
        std::fs::create_dir_all(&secrets).unwrap();
        for (f, token) in [
            ("comms-webhook-token", "comms-token"),
            ("ops-page-webhook-token", "ops-page-token"),
            ("ops-webhook-token", "ops-token"),
            ("care-webhook-token", "care-token"),
        ] {
            std::fs::write(secrets.join(f), token).unwrap();
        }
        let receiver = Receiver::start();
        let (prom_port, am_port) = (free_port(), free_port());
        write(
            &dir,
            "alertmanager.yml",
            alertmanager_config(receiver.port, &secrets).as_bytes(),
        );
        let mut st = Stack {
            dir,
            receiver,
            procs: Procs(Vec::new()),
            am_port,
        };
        let am = Command::new(alertmanager)
            .arg(format!(
                "--config.file={}",
                st.dir.join("alertmanager.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                st.dir.join("am-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            // No HA gossip: it would listen on 0.0.0.0:9094.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(st.log("alertmanager"))
            .spawn()
            .unwrap();
        st.procs.0.push(("alertmanager", am));
        wait_ready("alertmanager", am_port, &mut st.procs);
        if !targets.is_empty() {
            write(
                &st.dir,
                "prometheus.yml",
                prometheus_config(targets, am_port).as_bytes(),
            );
            let prom = Command::new(prometheus)
                .arg(format!(
                    "--config.file={}",
                    st.dir.join("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    st.dir.join("prom-data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
                .stdout(Stdio::null())
                .stderr(st.log("prometheus"))
                .spawn()
                .unwrap();
            st.procs.0.push(("prometheus", prom));
            wait_ready("prometheus", prom_port, &mut st.procs);
        }
        Some(st)
    }

    fn log(&self, name: &str) -> std::fs::File {
        std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap()
    }

    /// A config file: the demo's, plus `extra` tables.
    fn config(&self, extra: &str) -> PathBuf {
        let demo = std::fs::read_to_string(repo().join(DEMO_CONFIG)).unwrap();
        write(
            &self.dir,
            "canary.toml",
            format!("{demo}\n{extra}").as_bytes(),
        )
    }

    /// The `[[sink]]` table that pages this stack's Alertmanager directly.
    fn alertmanager_sink(&self) -> String {
        format!(
            "[[sink]]\ntype = \"alertmanager\"\nurl = \"http://127.0.0.1:{}\"\nresend = \"2s\"\n",
            self.am_port
        )
    }

    /// Waits (bounded) for the comms lead's resolved notification for acme,
    /// then for `finished`, then a little longer to catch a wrong re-fire.
    fn wait(&mut self, finished: impl Fn(&mut Procs) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(180);
        while Instant::now() < deadline && resolved_at(&comms(&self.receiver.received())).is_none()
        {
            std::thread::sleep(Duration::from_millis(250));
        }
        let exit_deadline = Instant::now() + Duration::from_secs(60);
        while !finished(&mut self.procs) && Instant::now() < exit_deadline {
            std::thread::sleep(Duration::from_millis(250));
        }
        std::thread::sleep(Duration::from_secs(3));
        self.receiver.received()
    }

    fn diag(&self, all: &[Received]) -> String {
        let logs: String = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .map(|e| {
                let t = std::fs::read_to_string(e.path()).unwrap_or_default();
                let tail: Vec<&str> = t.lines().rev().take(15).collect();
                format!(
                    "--- {} (last lines, newest first)\n{}\n",
                    e.path().display(),
                    tail.join("\n")
                )
            })
            .collect();
        format!(
            "received: {:#?}\n{logs}",
            all.iter().map(|r| (&r.path, &r.body)).collect::<Vec<_>>()
        )
    }
}

fn comms(all: &[Received]) -> Vec<Received> {
    all.iter()
        .filter(|r| r.path == "/comms" && !acme_alerts(r).is_empty())
        .cloned()
        .collect()
}

fn resolved_at(c: &[Received]) -> Option<usize> {
    c.iter()
        .position(|r| r.body["status"] == "resolved" && r.body["groupLabels"]["watch"] == "acme")
}

/// canary's own alert records for acme (all languages): fired, then resolved.
fn check_records(records: &[serde_json::Value], diag: &str) {
    let states: Vec<(&str, &str)> = records
        .iter()
        .filter(|a| a["watch"] == "acme" && a["lang"] == "all" && a["alert_id"].is_string())
        .map(|a| (a["kind"].as_str().unwrap(), a["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("negative_share", "firing"), ("negative_share", "resolved")],
        "{diag}"
    );
}

/// The comms lead got one firing page for acme with its numbers, then a
/// resolved one, nothing fired again, and ops receivers got no sentiment page.
fn check_pages(all: &[Received], summary_ok: impl Fn(&str) -> bool, diag: &str) {
    let comms = comms(all);
    let first_firing = comms
        .iter()
        .position(|r| r.body["status"] == "firing")
        .unwrap_or_else(|| panic!("the comms lead got no firing page\n{diag}"));
    let resolved = resolved_at(&comms)
        .unwrap_or_else(|| panic!("the comms lead got no resolved notification\n{diag}"));
    assert!(first_firing < resolved, "{diag}");
    let page = &comms[first_firing];
    assert_eq!(page.authorization, "Bearer comms-token");
    assert_eq!(page.body["receiver"], "comms-lead");
    assert_eq!(page.body["groupLabels"]["watch"], "acme");
    let fired = acme_alerts(page);
    assert!(
        fired
            .iter()
            .any(|(name, st, summary)| name == "CanaryNegativeShareSpike"
                && st == "firing"
                && summary_ok(summary)),
        "page without the numbers: {fired:?}"
    );
    for a in page.body["alerts"].as_array().unwrap() {
        assert_eq!(a["labels"]["team"], "comms");
        assert_eq!(a["labels"]["kind"], "negative_share");
    }
    let resolved_alerts = acme_alerts(&comms[resolved]);
    assert!(
        resolved_alerts.iter().all(|(_, st, _)| st == "resolved"),
        "{resolved_alerts:?}"
    );
    // Fire once: nothing fires again after the resolve.
    assert!(
        comms[resolved + 1..]
            .iter()
            .all(|r| r.body["status"] != "firing"),
        "{diag}"
    );
    // Sentiment pages never reach the ops receivers.
    assert!(
        all.iter()
            .filter(|r| r.path != "/comms")
            .all(|r| r.body["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|a| a["labels"]["team"] == "ops")),
        "{diag}"
    );
}

/// The summary Prometheus's rule writes from canary's gauges.
fn rule_summary(summary: &str) -> bool {
    summary.starts_with("acme (")
        && summary.contains("negative share")
        && summary.contains('%')
        && !summary.contains("unknown")
}

/// The summary canary's Alertmanager sink writes from the alert record.
fn sink_summary(summary: &str) -> bool {
    summary.contains("negative share spike on acme") && summary.contains("% vs baseline")
}

/// `canary run` over the demo spike, paced: event time 11:00-13:30 at 200x.
/// The baseline builds for ~20 s, canary fires at 12:05 (event time) and
/// resolves at 13:10, ~20 s later, so Prometheus (1 s scrapes and
/// evaluations) sees the gauge at 1 for many cycles, then at 0 while canary
/// still runs.
fn paced_run(st: &mut Stack, config: &Path, metrics_port: Option<u16>) -> PathBuf {
    let alerts_out = st.dir.join("alerts.jsonl");
    let mut c = canary();
    c.args(["run", "--config"])
        .arg(config)
        .args([
            "--input",
            DEMO_STREAM,
            "--from",
            "2024-05-06T11:00:00Z",
            "--to",
            "2024-05-06T13:30:00Z",
            "--speed",
            "200",
            "--metrics-linger",
            "5",
        ])
        .arg("--metrics-addr")
        .arg(metrics_port.map_or("off".into(), |p| format!("127.0.0.1:{p}")))
        .arg("--alerts-out")
        .arg(&alerts_out)
        .env("CANARY_LOG", "info")
        .stdout(Stdio::null())
        .stderr(st.log("canary"));
    st.procs.0.push(("canary", c.spawn().unwrap()));
    alerts_out
}

fn canary_exited_ok(procs: &mut Procs) -> bool {
    let (_, c) = procs.0.iter_mut().find(|(n, _)| *n == "canary").unwrap();
    c.try_wait().ok().flatten().is_some_and(|s| s.success())
}

#[test]
fn comms_lead_is_paged_then_resolved_through_prometheus_and_alertmanager() {
    let canary_port = free_port();
    let Some(mut st) = Stack::start("alerting-stack", &[canary_port]) else {
        return;
    };
    let config = repo().join(DEMO_CONFIG);
    let alerts_out = paced_run(&mut st, &config, Some(canary_port));
    let all = st.wait(canary_exited_ok);
    let ok = canary_exited_ok(&mut st.procs);
    let diag = st.diag(&all);
    assert!(ok, "canary did not finish cleanly\n{diag}");
    check_records(
        &json_lines(&std::fs::read(&alerts_out).unwrap_or_default()),
        &diag,
    );
    check_pages(&all, rule_summary, &diag);
    // Kept on failure, for the logs.
    let _ = std::fs::remove_dir_all(&st.dir);
}

#[test]
fn the_alertmanager_sink_pages_the_comms_lead_without_prometheus() {
    let Some(mut st) = Stack::start("alerting-sink", &[]) else {
        return;
    };
    let config = st.config(&st.alertmanager_sink());
    let alerts_out = paced_run(&mut st, &config, None);
    let all = st.wait(canary_exited_ok);
    let ok = canary_exited_ok(&mut st.procs);
    let diag = st.diag(&all);
    assert!(ok, "canary did not finish cleanly\n{diag}");
    check_records(
        &json_lines(&std::fs::read(&alerts_out).unwrap_or_default()),
        &diag,
    );
    check_pages(&all, sink_summary, &diag);
    // The page carries the record's own explanation, which the gauges cannot.
    let page = comms(&all)
        .into_iter()
        .find(|r| r.body["status"] == "firing")
        .unwrap();
    let a = &page.body["alerts"][0];
    assert!(
        a["annotations"]["top_terms"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{a:#}"
    );
    assert!(
        a["annotations"]["sample_posts"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{a:#}"
    );
    assert_eq!(a["startsAt"], "2024-05-06T12:00:00Z");
    let _ = std::fs::remove_dir_all(&st.dir);
}

/// Kafka mode: five stage processes (and the notify stage, when asked) on a
/// tansu broker of their own.
#[cfg(feature = "kafka")]
mod kafka {
    use super::*;

    const STAGES: [&str; 5] = ["ingest", "normalize", "language", "sentiment", "aggregate"];

    pub struct Broker(Child, pub String);

    impl Drop for Broker {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// A broker, or None (the test is skipped) when tansu is not installed.
    pub fn broker() -> Option<Broker> {
        // The same broker the Kafka tests use (`CANARY_TANSU` overrides).
        let bin = std::env::var_os("CANARY_TANSU")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join(".tools/tansu"));
        if !bin.is_file() {
            if std::env::var("CANARY_REQUIRE_SHARED").as_deref() == Ok("1") {
                panic!(
                    "no broker at {}: run scripts/kafka-broker.sh install",
                    bin.display()
                );
            }
            eprintln!("skipping: no broker (scripts/kafka-broker.sh install)");
            return None;
        }
        let addr = format!("127.0.0.1:{}", free_port());
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
            .unwrap();
        let b = Broker(child, addr);
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(&b.1).is_err() {
            assert!(Instant::now() < deadline, "broker did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(b)
    }

    /// Starts the five stages (and `notify` when `notify`) with `config`;
    /// returns their metrics ports.
    pub fn start_stages(st: &mut Stack, brokers: &str, config: &Path, notify: bool) -> Vec<u16> {
        let mut ports = Vec::new();
        let names = STAGES.iter().chain(notify.then_some(&"notify"));
        for &stage in names {
            let port = free_port();
            ports.push(port);
            let mut c = canary();
            c.args(["stage", stage, "--config"])
                .arg(config)
                .args([
                    "--brokers",
                    brokers,
                    "--topic-prefix",
                    "t.",
                    "--group-prefix",
                    "t-",
                ])
                .args(["--kafka-option", "session.timeout.ms=10000"])
                .arg("--metrics-addr")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--state-dir")
                .arg(st.dir.join(format!("state-{stage}")))
                .env("CANARY_LOG", "info")
                .stdout(Stdio::null())
                .stderr(st.log(stage));
            if stage == "aggregate" {
                c.arg("--alerts-out").arg(st.dir.join("alerts.jsonl"));
            }
            st.procs.0.push(("stage", c.spawn().unwrap()));
        }
        ports
    }

    /// Replays the demo up to 11:00 at full speed, waits (bounded) until the
    /// aggregate has read it, so every stage is consuming, then 11:00-13:30 at
    /// 200x, so the gauge and the pages move in real time as in the embedded test.
    pub fn paced_replay(st: &mut Stack, brokers: &str, aggregate_port: u16) {
        let replay = |args: &[&str]| {
            let ok = canary()
                .args(["replay", "--brokers", brokers, "--topic-prefix", "t."])
                .args(["--kafka-option", "session.timeout.ms=10000"])
                .args(args)
                .arg(repo().join(DEMO_STREAM))
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "replay {args:?}");
        };
        replay(&["--to", "2024-05-06T11:00:00Z", "--speed", "max", "--no-end"]);
        let deadline = Instant::now() + Duration::from_secs(120);
        let ten_fifty = 1_714_992_600.0;
        loop {
            let wm = scrape(aggregate_port).and_then(|b| {
                b.lines().find_map(|l| {
                    l.strip_prefix(r#"canary_watermark_timestamp_seconds{stage="aggregate"} "#)?
                        .parse::<f64>()
                        .ok()
                })
            });
            if wm.is_some_and(|w| w >= ten_fifty) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the aggregate did not read the warm-up (watermark {wm:?})\n{}",
                st.diag(&[])
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        replay(&[
            "--from",
            "2024-05-06T11:00:00Z",
            "--to",
            "2024-05-06T13:30:00Z",
            "--speed",
            "200",
        ]);
    }
}

#[cfg(feature = "kafka")]
#[test]
fn kafka_stage_processes_page_through_prometheus_and_alertmanager() {
    let Some(broker) = kafka::broker() else {
        return;
    };
    // The ports are known only once the stages start; Prometheus starts after.
    let Some(mut st) = Stack::start("alerting-kafka-rules", &[]) else {
        return;
    };
    let config = repo().join(DEMO_CONFIG);
    let ports = kafka::start_stages(&mut st, &broker.1, &config, false);
    let (prometheus, _) = binaries().unwrap();
    let prom_port = free_port();
    write(
        &st.dir,
        "prometheus.yml",
        prometheus_config(&ports, st.am_port).as_bytes(),
    );
    let prom = Command::new(prometheus)
        .arg(format!(
            "--config.file={}",
            st.dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            st.dir.join("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(st.log("prometheus"))
        .spawn()
        .unwrap();
    st.procs.0.push(("prometheus", prom));
    wait_ready("prometheus", prom_port, &mut st.procs);
    kafka::paced_replay(&mut st, &broker.1, ports[4]);
    let all = st.wait(|_| true);
    let diag = st.diag(&all);
    check_records(
        &json_lines(&std::fs::read(st.dir.join("alerts.jsonl")).unwrap_or_default()),
        &diag,
    );
    check_pages(&all, rule_summary, &diag);
    let _ = std::fs::remove_dir_all(&st.dir);
}

#[cfg(feature = "kafka")]
#[test]
fn the_notify_stage_pages_through_the_alertmanager_sink_in_kafka_mode() {
    let Some(broker) = kafka::broker() else {
        return;
    };
    let Some(mut st) = Stack::start("alerting-kafka-notify", &[]) else {
        return;
    };
    let config = st.config(&st.alertmanager_sink());
    let ports = kafka::start_stages(&mut st, &broker.1, &config, true);
    kafka::paced_replay(&mut st, &broker.1, ports[4]);
    let all = st.wait(|_| true);
    let diag = st.diag(&all);
    check_records(
        &json_lines(&std::fs::read(st.dir.join("alerts.jsonl")).unwrap_or_default()),
        &diag,
    );
    check_pages(&all, sink_summary, &diag);
    let notify = scrape(ports[5]).unwrap_or_default();
    assert!(
        notify.contains(r#"canary_sink_deliveries_total{outcome="failed",sink="alertmanager"} 0"#),
        "{notify}"
    );
    let _ = std::fs::remove_dir_all(&st.dir);
}
