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
fn prometheus_config(canary_port: u16, am_port: u16) -> String {
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
    *map_get(&mut sc[0], "targets") = vec![Value::from(format!("127.0.0.1:{canary_port}"))].into();
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

#[test]
fn comms_lead_is_paged_then_resolved_through_prometheus_and_alertmanager() {
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
        return;
    };
    let dir = tmp("alerting-stack");
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    for (f, token) in [
        ("comms-webhook-token", "comms-token"),
        ("ops-page-webhook-token", "ops-page-token"),
        ("ops-webhook-token", "ops-token"),
    ] {
        std::fs::write(secrets.join(f), token).unwrap();
    }
    let receiver = Receiver::start();
    let (prom_port, am_port, canary_port) = (free_port(), free_port(), free_port());
    write(
        &dir,
        "prometheus.yml",
        prometheus_config(canary_port, am_port).as_bytes(),
    );
    write(
        &dir,
        "alertmanager.yml",
        alertmanager_config(receiver.port, &secrets).as_bytes(),
    );
    let log = |name: &str| std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();

    let mut procs = Procs(Vec::new());
    procs.0.push((
        "alertmanager",
        Command::new(alertmanager)
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            // No HA gossip: it would listen on 0.0.0.0:9094.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log("alertmanager"))
            .spawn()
            .unwrap(),
    ));
    procs.0.push((
        "prometheus",
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(log("prometheus"))
            .spawn()
            .unwrap(),
    ));
    wait_ready("alertmanager", am_port, &mut procs);
    wait_ready("prometheus", prom_port, &mut procs);

    // Event time 11:00-13:30 at 200x: the baseline builds for ~20 s, canary
    // fires at 12:05 (event time) and resolves at 13:10, ~20 s later, so
    // Prometheus (1 s scrapes and evaluations) sees the gauge at 1 for many
    // cycles, then at 0 while canary still runs.
    let alerts_out = dir.join("alerts.jsonl");
    let canary = canary()
        .args([
            "run",
            "--config",
            DEMO_CONFIG,
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
        .arg(format!("127.0.0.1:{canary_port}"))
        .arg("--alerts-out")
        .arg(&alerts_out)
        .stdout(Stdio::null())
        .stderr(log("canary"))
        .spawn()
        .unwrap();
    procs.0.push(("canary", canary));

    // Bounded: the replay takes ~45 s of wall time; allow generous slack.
    let deadline = Instant::now() + Duration::from_secs(150);
    let comms = |all: &[Received]| -> Vec<Received> {
        all.iter()
            .filter(|r| r.path == "/comms" && !acme_alerts(r).is_empty())
            .cloned()
            .collect()
    };
    let resolved_at = |c: &[Received]| {
        c.iter().position(|r| {
            r.body["status"] == "resolved" && r.body["groupLabels"]["watch"] == "acme"
        })
    };
    while Instant::now() < deadline && resolved_at(&comms(&receiver.received())).is_none() {
        std::thread::sleep(Duration::from_millis(250));
    }
    // Let canary finish (its alert output is flushed at the end); the extra
    // seconds also catch a (wrong) re-fire after the resolve.
    let exit_deadline = Instant::now() + Duration::from_secs(60);
    let canary_exit = loop {
        let (_, c) = procs.0.iter_mut().find(|(n, _)| *n == "canary").unwrap();
        match c.try_wait() {
            Ok(Some(st)) => break Some(st),
            _ if Instant::now() >= exit_deadline => break None,
            _ => std::thread::sleep(Duration::from_millis(250)),
        }
    };
    std::thread::sleep(Duration::from_secs(2));
    let all = receiver.received();
    drop(procs);

    let diag = || {
        let logs: String = ["canary", "prometheus", "alertmanager"]
            .iter()
            .map(|n| {
                let t = std::fs::read_to_string(dir.join(format!("{n}.log"))).unwrap_or_default();
                let tail: Vec<&str> = t.lines().rev().take(15).collect();
                format!(
                    "--- {n}.log (last lines, newest first)\n{}\n",
                    tail.join("\n")
                )
            })
            .collect();
        format!(
            "received: {:#?}\n{logs}",
            all.iter().map(|r| (&r.path, &r.body)).collect::<Vec<_>>()
        )
    };

    assert!(
        canary_exit.is_some_and(|s| s.success()),
        "canary did not finish cleanly: {canary_exit:?}\n{}",
        diag()
    );
    // canary itself fired and resolved (the demo's known result).
    let records = json_lines(&std::fs::read(&alerts_out).unwrap_or_default());
    let states: Vec<(&str, &str)> = records
        .iter()
        .filter(|a| a["watch"] == "acme" && a["lang"] == "all")
        .map(|a| (a["kind"].as_str().unwrap(), a["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("negative_share", "firing"), ("negative_share", "resolved")],
        "{}",
        diag()
    );

    let comms = comms(&all);
    let first_firing = comms
        .iter()
        .position(|r| r.body["status"] == "firing")
        .unwrap_or_else(|| panic!("the comms lead got no firing page\n{}", diag()));
    let resolved = resolved_at(&comms)
        .unwrap_or_else(|| panic!("the comms lead got no resolved notification\n{}", diag()));
    assert!(first_firing < resolved, "{}", diag());
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
                && summary.starts_with("acme (")
                && summary.contains("negative share")
                && summary.contains('%')
                && !summary.contains("unknown")),
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
        "{}",
        diag()
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
        "{}",
        diag()
    );
    // Kept on failure, for the logs.
    let _ = std::fs::remove_dir_all(&dir);
}
