//! The metrics contract: every family canary exports, with its type and label
//! names, and the naming rules dashboards and alerts rely on. Checked against
//! the registry's own catalog and against a real scrape of `canary run`.

mod common;
use common::*;
use std::collections::{BTreeMap, BTreeSet};

/// name, type, label names. Dashboards and rules in deploy/ are written against this.
const CONTRACT: &[(&str, &str, &[&str])] = &[
    ("canary_stage_records_total", "counter", &["stage"]),
    (
        "canary_posts_dropped_total",
        "counter",
        &["stage", "reason"],
    ),
    ("canary_dead_letters_total", "counter", &["stage", "reason"]),
    ("canary_notices_total", "counter", &["kind"]),
    ("canary_stage_post_seconds", "histogram", &["stage"]),
    ("canary_pipeline_latency_seconds", "histogram", &[]),
    ("canary_language_posts_total", "counter", &["lang"]),
    (
        "canary_language_hint_disagreements_total",
        "counter",
        &["lang"],
    ),
    ("canary_window_posts", "gauge", &["watch", "lang"]),
    ("canary_window_negative_share", "gauge", &["watch", "lang"]),
    (
        "canary_baseline_negative_share",
        "gauge",
        &["watch", "lang"],
    ),
    ("canary_baseline_posts", "gauge", &["watch", "lang"]),
    ("canary_alert_firing", "gauge", &["watch", "lang", "kind"]),
    ("canary_alerts_total", "counter", &["kind", "state"]),
    ("canary_windows_closed_total", "counter", &["watch"]),
    ("canary_watermark_timestamp_seconds", "gauge", &["stage"]),
    ("canary_watermark_lag_seconds", "gauge", &["stage"]),
    (
        "canary_sink_deliveries_total",
        "counter",
        &["sink", "outcome"],
    ),
    ("canary_input_bytes", "gauge", &[]),
    ("canary_queue_depth", "gauge", &["stage"]),
    (
        "canary_stage_last_record_timestamp_seconds",
        "gauge",
        &["stage"],
    ),
    (
        "canary_kafka_consumer_lag",
        "gauge",
        &["stage", "topic", "partition"],
    ),
    ("canary_care_response_seconds", "histogram", &["watch"]),
    ("canary_care_directed_posts_total", "counter", &["watch"]),
    (
        "canary_care_answered_total",
        "counter",
        &["watch", "within_sla"],
    ),
    ("canary_care_unanswered", "gauge", &["watch", "age"]),
    ("canary_care_triage_queue", "gauge", &["watch", "age"]),
    ("canary_care_unanswered_over_sla", "gauge", &["watch"]),
    ("canary_care_evicted_total", "counter", &["watch", "reason"]),
    ("canary_source_connected", "gauge", &["source"]),
    (
        "canary_source_reconnects_total",
        "counter",
        &["source", "reason"],
    ),
    (
        "canary_source_last_event_timestamp_seconds",
        "gauge",
        &["source"],
    ),
    ("canary_source_bytes_total", "counter", &["source"]),
];

const STAGES: &[&str] = &["ingest", "normalize", "language", "sentiment", "aggregate"];

/// Label names that would make cardinality unbounded or leak content.
const FORBIDDEN_LABELS: &[&str] = &[
    "id", "post", "post_id", "tweet", "tweet_id", "user", "user_id", "author", "term", "terms",
    "text", "url", "alert_id",
];

/// One parsed sample line: family-relevant name and label pairs.
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
}

fn parse_sample(line: &str) -> Sample {
    let (name, rest) = match line.find('{') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line.split_whitespace().next().unwrap(), ""),
    };
    let mut labels = Vec::new();
    if !rest.is_empty() {
        let body = &rest[..rest.rfind('}').expect("closing brace")];
        // Values are quoted and canary's values contain no `",`.
        for pair in body.split("\",").filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').expect("label pair");
            labels.push((k.to_string(), v.trim_matches('"').to_string()));
        }
    }
    Sample {
        name: name.to_string(),
        labels,
    }
}

#[test]
fn contract_matches_the_registry_catalog() {
    let m = canary_telemetry::Metrics::new().unwrap();
    let catalog: BTreeMap<&str, (&str, Vec<&str>)> = m
        .catalog()
        .iter()
        .map(|i| {
            (
                i.name.as_str(),
                (i.kind, i.labels.iter().map(String::as_str).collect()),
            )
        })
        .collect();
    let contract: BTreeMap<&str, (&str, Vec<&str>)> = CONTRACT
        .iter()
        .map(|(n, k, l)| (*n, (*k, l.to_vec())))
        .collect();
    assert_eq!(
        catalog, contract,
        "the registry and this contract differ: a metric was added, renamed or relabelled \
         without updating the contract (and the dashboards and rules in deploy/)"
    );
}

#[test]
fn names_follow_prometheus_conventions() {
    for (name, kind, labels) in CONTRACT {
        assert!(name.starts_with("canary_"), "{name}: no canary_ prefix");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}: not snake_case"
        );
        match *kind {
            "counter" => assert!(name.ends_with("_total"), "counter {name} lacks _total"),
            _ => assert!(!name.ends_with("_total"), "{kind} {name} ends in _total"),
        }
        // Base units: times in seconds, sizes in bytes; no ms/minutes/kb.
        for bad in [
            "_ms", "_millis", "_minutes", "_hours", "_kb", "_mb", "_percent",
        ] {
            assert!(!name.contains(bad), "{name}: not in base units ({bad})");
        }
        if *kind == "histogram" {
            assert!(name.ends_with("_seconds"), "histogram {name} has no unit");
        }
        // The consumer lag counts messages, as Kafka's own records-lag does;
        // every other lag is a time.
        if name.contains("timestamp")
            || (name.contains("lag") && *name != "canary_kafka_consumer_lag")
        {
            assert!(name.ends_with("_seconds"), "{name}: times are seconds");
        }
        for l in *labels {
            assert!(
                !FORBIDDEN_LABELS.contains(l),
                "{name}: label {l} is unbounded"
            );
            assert!(*l != "le" && *l != "quantile", "{name}: reserved label {l}");
        }
    }
}

#[test]
fn scrape_of_a_demo_run_matches_the_contract() {
    let body = scrape_demo_run();
    let contract: BTreeMap<&str, (&str, BTreeSet<&str>)> = CONTRACT
        .iter()
        .map(|(n, k, l)| (*n, (*k, l.iter().copied().collect())))
        .collect();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in body.split("\r\n\r\n").nth(1).unwrap_or(&body).lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let (n, k) = t.split_once(' ').unwrap();
            types.insert(n.to_string(), k.to_string());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            samples.push(parse_sample(line));
        }
    }
    for (name, kind) in &types {
        let (want, _) = contract
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{name} is exported but not in the contract"));
        assert_eq!(kind, want, "{name}: # TYPE");
    }
    let mut seen_values: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for s in &samples {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|suf| s.name.strip_suffix(suf))
            .find(|f| types.get(*f).is_some_and(|k| k == "histogram"))
            .unwrap_or(&s.name);
        let (kind, labels) = contract
            .get(family)
            .unwrap_or_else(|| panic!("sample {} of an unknown family", s.name));
        let mut want: BTreeSet<&str> = labels.clone();
        if *kind == "histogram" && s.name.ends_with("_bucket") {
            want.insert("le");
        }
        let got: BTreeSet<&str> = s.labels.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(got, want, "{}: label names", s.name);
        for (k, v) in &s.labels {
            if k != "le" {
                seen_values.entry(k.as_str()).or_default().insert(v.clone());
            }
        }
    }
    // Bounded label values: stages, configured watches, fixed codes.
    let known_stages: BTreeSet<String> = STAGES.iter().map(|s| s.to_string()).collect();
    assert!(
        seen_values["stage"].is_subset(&known_stages),
        "{seen_values:?}"
    );
    let watches: BTreeSet<String> = ["acme", "globex"].map(String::from).into();
    assert_eq!(seen_values["watch"], watches);
    for v in &seen_values["lang"] {
        assert!(
            v == "all" || v == "und" || (2..=3).contains(&v.len()),
            "lang {v:?} is not a language code"
        );
    }
    for (label, values) in &seen_values {
        for v in values {
            assert!(
                v.len() <= 32
                    && v.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c)),
                "{label}={v:?} does not look like a bounded code"
            );
        }
    }
    // What the stall alert and the dashboard need: a last-batch time per stage,
    // and it is a Unix time near now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for stage in STAGES {
        let line = body
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "canary_stage_last_record_timestamp_seconds{{stage=\"{stage}\"}}"
                ))
            })
            .unwrap_or_else(|| panic!("no last-batch time for {stage}"));
        let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(
            (now - 600.0..=now + 60.0).contains(&v),
            "{stage}: last batch at {v}, now {now}"
        );
    }
    // Every family the embedded run concerns is set; the others belong to
    // Kafka mode (tests/kafka.rs checks them per stage process) or exist
    // only with a `[[sink]]` configured; care families exist only for
    // watches with `accounts` (the demo has none; crates/canary-testkit's
    // tests/care.rs checks them); source families only with a live `--source`.
    for (family, _, _) in CONTRACT {
        if ["canary_kafka_consumer_lag", "canary_sink_deliveries_total"].contains(family)
            || family.starts_with("canary_care_")
            || family.starts_with("canary_source_")
        {
            continue;
        }
        assert!(types.contains_key(*family), "{family} not in the scrape");
    }
    // Known label values read 0 before anything happens, not "no data".
    for line in [
        "canary_dead_letters_total{reason=\"late\",stage=\"aggregate\"}",
        "canary_posts_dropped_total{reason=\"duplicate\",stage=\"aggregate\"}",
        "canary_alerts_total{kind=\"volume\",state=\"firing\"}",
        "canary_alert_firing{kind=\"volume\",lang=\"all\",watch=\"globex\"}",
        "canary_notices_total{kind=\"limit\"}",
    ] {
        assert!(body.contains(line), "{line} not in the scrape");
    }
}
