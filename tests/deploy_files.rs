//! The files in `deploy/` parse and agree with what canary exports: every
//! metric a dashboard panel, recording rule, alert or annotation template
//! names is in the registry's catalog (or recorded by a rule), and the compose and Kubernetes layouts run every stage.

mod common;
use common::*;
use serde_norway::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// Built into Prometheus, not canary.
const PROMETHEUS_BUILTIN: &[&str] = &["up", "ALERTS", "ALERTS_FOR_STATE"];

/// Target labels Prometheus or the scrape configs add to every series.
const TARGET_LABELS: &[&str] = &["job", "instance", "pipeline", "service"];

const STAGES: &[&str] = &[
    "ingest",
    "normalize",
    "language",
    "sentiment",
    "aggregate",
    "notify",
];

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    let mut v: Value = serde_norway::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    // Compose files share settings through `<<: *anchor`.
    v.apply_merge().unwrap();
    v
}

fn yaml_docs(rel: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(&read(rel))
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{rel}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// Exported series names with their label names: the catalog, histograms
/// expanded to their `_bucket`/`_sum`/`_count` series.
fn exported() -> Vec<(String, BTreeSet<String>)> {
    let m = canary_telemetry::Metrics::new().unwrap();
    let mut out = Vec::new();
    for i in m.catalog() {
        let labels: BTreeSet<String> = i.labels.iter().cloned().collect();
        if i.kind == "histogram" {
            let mut with_le = labels.clone();
            with_le.insert("le".into());
            out.push((format!("{}_bucket", i.name), with_le));
            out.push((format!("{}_sum", i.name), labels.clone()));
            out.push((format!("{}_count", i.name), labels.clone()));
        } else {
            out.push((i.name.clone(), labels));
        }
    }
    out
}

/// A metric name in a PromQL expression and the label names its selector matches on.
#[derive(Debug)]
struct Selector {
    name: String,
    labels: Vec<String>,
}

const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    // Aggregation operators may be followed by `by (...)` before their `(`.
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];

/// Metric selectors in a PromQL expression: identifiers that are not
/// functions, keywords, grouping labels or inside strings.
fn selectors(expr: &str) -> Vec<Selector> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let mut after_grouping = false;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            i += 1;
            while i < b.len() && b[i] != c {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == b'[' {
            while i < b.len() && b[i] != b']' {
                i += 1;
            }
        } else if c == b'(' && after_grouping {
            // `by (a, b)`, `on (a)`: label names, not metrics.
            while i < b.len() && b[i] != b')' {
                i += 1;
            }
            after_grouping = false;
        } else if (c.is_ascii_alphabetic() || c == b'_' || c == b':')
            && (i == 0 || !ident(b[i - 1]) && b[i - 1] != b'$')
        {
            let start = i;
            while i < b.len() && ident(b[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let mut j = i;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            let next = b.get(j).copied();
            if KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                after_grouping = matches!(
                    word,
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                );
                continue;
            }
            after_grouping = false;
            if next == Some(b'(') {
                continue; // a function
            }
            let mut labels = Vec::new();
            if next == Some(b'{') {
                let end = expr[j..].find('}').map(|e| j + e).expect("closing brace");
                for m in split_matchers(&expr[j + 1..end]) {
                    let name: String = m
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        labels.push(name);
                    }
                }
                i = end + 1;
            }
            out.push(Selector {
                name: word.to_string(),
                labels,
            });
            continue;
        }
        i += 1;
    }
    out
}

/// Splits `a="x",b=~"y,z"` at commas outside quotes.
fn split_matchers(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn rule_groups() -> Vec<(String, Value)> {
    let dir = repo().join("deploy/prometheus/rules");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "no rule files in {}", dir.display());
    files
        .iter()
        .map(|p| {
            let rel = p
                .strip_prefix(repo())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let v = yaml(&rel);
            (rel, v)
        })
        .collect()
}

/// Every PromQL expression in the rules and the dashboard, with where it is.
fn expressions() -> (Vec<(String, String)>, BTreeSet<String>) {
    let mut exprs = Vec::new();
    let mut recorded = BTreeSet::new();
    for (file, v) in rule_groups() {
        for g in v["groups"].as_sequence().unwrap() {
            for r in g["rules"].as_sequence().unwrap() {
                let what = r["record"]
                    .as_str()
                    .or(r["alert"].as_str())
                    .expect("record or alert")
                    .to_string();
                if let Some(rec) = r["record"].as_str() {
                    recorded.insert(rec.to_string());
                }
                exprs.push((
                    format!("{file}: {what}"),
                    r["expr"].as_str().unwrap().to_string(),
                ));
                // Queries inside annotation templates: `printf "metric{...}" ... | query`.
                if let Some(anns) = r["annotations"].as_mapping() {
                    for (k, t) in anns {
                        let t = t.as_str().unwrap_or("");
                        for q in t.split("printf \"").skip(1) {
                            let q = q.split('"').next().unwrap().replace("%q", "\"x\"");
                            exprs.push((format!("{file}: {what} annotation {k:?}"), q));
                        }
                    }
                }
            }
        }
    }
    let dash: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/dashboards/canary.json")).unwrap();
    fn walk(v: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let p = format!("{path}/{k}");
                    match (k.as_str(), x) {
                        ("expr", serde_json::Value::String(e)) => out.push((p, e.clone())),
                        ("query" | "definition", serde_json::Value::String(q))
                            if q.starts_with("label_values(") =>
                        {
                            let inner = &q["label_values(".len()..q.rfind(',').unwrap()];
                            out.push((p, inner.to_string()))
                        }
                        _ => walk(x, &p, out),
                    }
                }
            }
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, &format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let before = exprs.len();
    walk(&dash, "canary.json", &mut exprs);
    assert!(exprs.len() - before >= 10, "the dashboard has few queries");
    (exprs, recorded)
}

#[test]
fn every_promql_expression_names_only_exported_metrics() {
    let exported = exported();
    let (exprs, recorded) = expressions();
    let mut used = BTreeSet::new();
    for (where_, expr) in &exprs {
        let sels = selectors(expr);
        for s in &sels {
            used.insert(s.name.clone());
            if recorded.contains(&s.name) || PROMETHEUS_BUILTIN.contains(&s.name.as_str()) {
                continue;
            }
            let (_, labels) = exported
                .iter()
                .find(|(n, _)| *n == s.name)
                .unwrap_or_else(|| {
                    panic!(
                        "{where_}: `{}` is not a metric canary exports\n  in: {expr}",
                        s.name
                    )
                });
            for l in &s.labels {
                assert!(
                    labels.contains(l) || TARGET_LABELS.contains(&l.as_str()),
                    "{where_}: `{}` has no label `{l}`\n  in: {expr}",
                    s.name
                );
            }
        }
    }
    // The parser found the metrics the rules are about (it is not vacuous).
    for must in [
        "canary_alert_firing",
        "canary_stage_last_record_timestamp_seconds",
        "canary_dead_letters_total",
        "canary_kafka_consumer_lag",
        "canary_watermark_lag_seconds",
        "canary_pipeline_latency_seconds_bucket",
        "canary_window_negative_share",
    ] {
        assert!(used.contains(must), "no expression uses {must}");
    }
}

#[test]
fn the_promql_scanner_finds_metrics_and_skips_the_rest() {
    let s = selectors(
        r#"sum by (stage, le) (rate(canary_x_bucket{stage=~"a|b",lang="$lang"}[5m])) / on (stage) group_left canary:y > 0 and up"#,
    );
    let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["canary_x_bucket", "canary:y", "up"]);
    assert_eq!(s[0].labels, ["stage", "lang"]);
}

#[test]
fn sentiment_alerts_follow_canarys_decision_and_route_to_comms() {
    let mut alerts = Vec::new();
    for (_, v) in rule_groups() {
        for g in v["groups"].as_sequence().unwrap() {
            for r in g["rules"].as_sequence().unwrap() {
                if r["alert"].is_string() {
                    alerts.push(r.clone());
                }
            }
        }
    }
    let by_name = |n: &str| {
        alerts
            .iter()
            .find(|a| a["alert"] == n)
            .unwrap_or_else(|| panic!("no alert {n}"))
    };
    for (name, kind) in [
        ("CanaryNegativeShareSpike", "negative_share"),
        ("CanaryVolumeSpike", "volume"),
    ] {
        let a = by_name(name);
        let expr = a["expr"].as_str().unwrap();
        assert!(expr.contains(&format!("canary_alert_firing{{kind=\"{kind}\"}}")));
        assert_eq!(a["labels"]["team"], "comms");
        assert!(a["for"].is_null(), "{name}: canary already waited");
    }
    for a in &alerts {
        let team = a["labels"]["team"].as_str().unwrap_or("");
        assert!(
            ["comms", "ops", "care"].contains(&team),
            "{:?} has no team",
            a["alert"]
        );
        assert!(a["annotations"]["summary"].is_string());
        let anchor = a["annotations"]["runbook"].as_str().unwrap();
        let anchor = anchor.strip_prefix("deploy/README.md#").unwrap();
        let readme = read("deploy/README.md").to_ascii_lowercase();
        assert!(
            readme.contains(&format!("### {anchor}")),
            "deploy/README.md has no section for {anchor}"
        );
    }
    let am = read("deploy/alertmanager/alertmanager.yml");
    assert!(am.contains(r#"matchers: ['team="comms"']"#));
    assert!(am.contains(r#"matchers: ['team="ops"']"#));
    assert!(am.contains("send_resolved: true"));
}

#[test]
fn compose_runs_every_stage_against_kafka_and_the_monitoring_stack() {
    let c = yaml("deploy/compose/docker-compose.yml");
    let services = c["services"].as_mapping().unwrap();
    let kafka = &c["services"]["kafka"];
    assert!(
        kafka["image"]
            .as_str()
            .unwrap()
            .starts_with("apache/kafka:"),
        "official Kafka image"
    );
    assert!(
        kafka["environment"]["KAFKA_PROCESS_ROLES"]
            .as_str()
            .unwrap()
            .contains("controller"),
        "KRaft"
    );
    for stage in STAGES {
        let s = &c["services"][*stage];
        let cmd: Vec<&str> = s["command"]
            .as_sequence()
            .unwrap_or_else(|| panic!("no service {stage}"))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(cmd, ["stage", stage, "--brokers", "kafka:9092"]);
        assert_eq!(s["image"], "canary:local", "{stage}");
        assert_eq!(s["build"]["dockerfile"], "deploy/Dockerfile");
        assert_eq!(s["environment"]["CANARY_METRICS_ADDR"], "0.0.0.0:9898");
        assert!(s["depends_on"]["kafka"].is_mapping());
    }
    for svc in ["prometheus", "alertmanager", "grafana"] {
        assert!(services.contains_key(svc), "no {svc} service");
    }
    // Every bind-mounted host path exists in the repository.
    let compose_dir = repo().join("deploy/compose");
    for (name, s) in services {
        for v in s["volumes"].as_sequence().into_iter().flatten() {
            let src = v.as_str().unwrap().split(':').next().unwrap();
            if src.starts_with('.') && !src.contains("secrets") {
                assert!(
                    compose_dir.join(src).exists(),
                    "{name:?} mounts {src}, which does not exist"
                );
            }
        }
    }
    // Prometheus scrapes exactly the stage services.
    let prom = yaml("deploy/prometheus/prometheus.yml");
    let job = prom["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "canary")
        .unwrap();
    let targets: BTreeSet<&str> = job["static_configs"][0]["targets"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let want: BTreeSet<String> = STAGES.iter().map(|s| format!("{s}:9898")).collect();
    assert_eq!(
        targets,
        want.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    assert_eq!(
        prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0],
        "alertmanager:9093"
    );
    // Grafana's provisioning points at the compose Prometheus and the dashboard folder.
    let ds = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(ds["datasources"][0]["url"], "http://prometheus:9090");
    assert_eq!(ds["datasources"][0]["uid"], "prometheus");
    let dp = yaml("deploy/grafana/provisioning/dashboards/canary.yml");
    assert_eq!(
        dp["providers"][0]["options"]["path"],
        "/var/lib/grafana/dashboards"
    );
    let dash: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/dashboards/canary.json")).unwrap();
    let mut uids = BTreeSet::new();
    fn ds_uids(v: &serde_json::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(u) = m.get("datasource").and_then(|d| d.get("uid")) {
                    out.insert(u.as_str().unwrap().to_string());
                }
                m.values().for_each(|x| ds_uids(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| ds_uids(x, out)),
            _ => {}
        }
    }
    ds_uids(&dash, &mut uids);
    assert_eq!(uids, BTreeSet::from(["prometheus".to_string()]));
}

#[test]
fn dockerfile_builds_in_rust_and_runs_slim_as_non_root() {
    let d = read("deploy/Dockerfile");
    let froms: Vec<&str> = d.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(froms[0].starts_with("FROM rust:") && froms[0].ends_with(" AS build"));
    assert!(froms[1].starts_with("FROM debian:") && froms[1].contains("-slim"));
    let runtime = d.split(froms[1]).nth(1).unwrap();
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER in the runtime stage");
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "{user}"
    );
    assert!(runtime.contains("COPY --from=build"));
    assert!(Path::new(&repo().join("deploy/Dockerfile.dockerignore")).exists());
}

#[test]
fn kubernetes_has_a_scraped_deployment_per_stage_with_config_and_secrets() {
    let dir = repo().join("deploy/k8s");
    let kust = yaml("deploy/k8s/kustomization.yaml");
    let mut docs = Vec::new();
    for r in kust["resources"].as_sequence().unwrap() {
        let f = r.as_str().unwrap();
        assert!(dir.join(f).exists(), "kustomization lists missing {f}");
        docs.extend(yaml_docs(&format!("deploy/k8s/{f}")));
    }
    let of_kind = |k: &str| -> Vec<&Value> { docs.iter().filter(|d| d["kind"] == k).collect() };
    assert_eq!(of_kind("ConfigMap").len(), 1);
    assert_eq!(of_kind("Secret").len(), 1);
    let config = &of_kind("ConfigMap")[0]["data"]["canary.toml"];
    assert!(config.as_str().unwrap().contains("[[watch]]"));
    for stage in STAGES {
        let name = format!("canary-{stage}");
        let dep = of_kind("Deployment")
            .into_iter()
            .find(|d| d["metadata"]["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no Deployment {name}"));
        let pod = &dep["spec"]["template"];
        assert_eq!(
            dep["spec"]["selector"]["matchLabels"],
            pod["metadata"]["labels"]
        );
        let ann = &pod["metadata"]["annotations"];
        assert_eq!(ann["prometheus.io/scrape"], "true");
        let port: u16 = ann["prometheus.io/port"].as_str().unwrap().parse().unwrap();
        let c = &pod["spec"]["containers"][0];
        let args: Vec<&str> = c["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(&args[..3], ["stage", stage, "--brokers"]);
        assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(port.into()));
        let env: Vec<&str> = c["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert!(env.contains(&"CANARY_CONFIG") && env.contains(&"CANARY_METRICS_ADDR"));
        assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
        let vols: Vec<&Value> = pod["spec"]["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .collect();
        assert!(
            vols.iter()
                .any(|v| v["configMap"]["name"] == "canary-config")
        );
        assert!(
            vols.iter()
                .any(|v| v["secret"]["secretName"] == "canary-secrets")
        );
        let svc = of_kind("Service")
            .into_iter()
            .find(|d| d["metadata"]["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no Service {name}"));
        assert_eq!(svc["spec"]["selector"], pod["metadata"]["labels"]);
    }
    let sm = yaml_docs("deploy/k8s/servicemonitor.yaml");
    assert_eq!(sm[0]["kind"], "ServiceMonitor");
}

#[test]
fn the_compose_config_is_the_demo_plus_the_direct_page() {
    let demo = read(DEMO_CONFIG);
    let compose = read("deploy/compose/canary.toml");
    let watches = &demo[demo.find("[[watch]]").unwrap()..];
    assert!(
        compose.contains(watches.trim_end()),
        "deploy/compose/canary.toml watches differ from the demo's"
    );
    assert!(compose.contains("type = \"alertmanager\""));
    assert!(read("deploy/k8s/configmap.yaml").contains("type = \"alertmanager\""));
    let out = run_ok(&["check-config", "deploy/compose/canary.toml"]);
    assert!(out.status.success());
}
