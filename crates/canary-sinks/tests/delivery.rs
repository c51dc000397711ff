//! Delivery against a real local HTTP receiver on 127.0.0.1.

use canary_core::aggregate::{Alert, AlertKind, AlertState, Sample};
use canary_core::care::{TriageRecord, TriageStatus};
use canary_sinks::{Delivery, Observer, Secret, Sink, SinkConfig, SinkStats, Sinks, Target};
use canary_testkit::receiver::{Receiver, Reply};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn alert(state: AlertState, sample_text: &str) -> Alert {
    Alert {
        v: 1,
        alert_id: "acme/en/negative_share/2024-05-06T12:00:00Z".into(),
        kind: AlertKind::NegativeShare,
        watch: "acme".into(),
        lang: "en".into(),
        state,
        window_start: "2024-05-06T12:00:00Z".into(),
        window_end: "2024-05-06T12:05:00Z".into(),
        volume: 120,
        scored: 118,
        negative: 44,
        negative_share: 44.0 / 118.0,
        baseline_share: 0.021,
        baseline_volume: 119.5,
        p_value: 1e-30,
        top_terms: vec!["refund".into(), "<b>".into()],
        sample_ids: vec!["1".into()],
        samples: vec![Sample {
            id: "1".into(),
            text: sample_text.into(),
            compound: -0.8,
        }],
        episode_start: "2024-05-06T12:00:00Z".into(),
        evidence: None,
        resolution: None,
    }
}

fn fast() -> Delivery {
    Delivery {
        queue: 16,
        max_attempts: 4,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        timeout: Duration::from_secs(5),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

type Seen = Arc<Mutex<Vec<(String, &'static str)>>>;

fn counting() -> (Observer, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let obs: Observer = Arc::new(move |name: &str, o: canary_sinks::Outcome| {
        s.lock().unwrap().push((name.to_owned(), o.as_str()));
    });
    (obs, seen)
}

fn sink(name: &str, target: Target, delivery: Delivery) -> Sink {
    Sink {
        name: name.into(),
        target,
        delivery,
        events: Default::default(),
    }
}

#[test]
fn slack_text_is_escaped_so_posts_cannot_ping_or_link() {
    let rx = Receiver::start(&[]);
    let rt = rt();
    let (obs, _) = counting();
    let sinks = Sinks::start(
        rt.handle(),
        vec![sink(
            "slack",
            Target::Slack {
                url: Secret::new(rx.url("/services/T/B/x")),
            },
            fast(),
        )],
        obs,
    );
    let evil = "<!channel> and @here & <http://evil|x>\nsecond line";
    sinks.offer(&alert(AlertState::Firing, evil));
    let stats = sinks.shutdown(Duration::from_secs(10));
    assert_eq!(stats[0].1.ok, 1, "{stats:?}");
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/services/T/B/x");
    let text = reqs[0].json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("&lt;!channel&gt; and @here &amp; &lt;http://evil|x&gt; second line"),
        "{text}"
    );
    assert!(
        !text.contains("<!channel>") && !text.contains("<http"),
        "{text}"
    );
    assert!(text.contains("&lt;b&gt;"), "terms are escaped too: {text}");
    for part in ["acme", "en", "37.3%", "2.1%", "120 posts", "refund"] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
}

#[test]
fn pagerduty_triggers_then_resolves_with_the_same_dedup_key() {
    let rx = Receiver::start(&[]);
    let rt = rt();
    let (obs, _) = counting();
    let cfg: SinkConfig = toml::from_str(&format!(
        "type = \"pagerduty\"\nrouting_key_env = \"CANARY_TEST_PD_KEY_1\"\nurl = \"{}\"\n",
        rx.url("/v2/enqueue")
    ))
    .unwrap();
    // SAFETY: no other thread of this test binary reads this variable.
    unsafe { std::env::set_var("CANARY_TEST_PD_KEY_1", "R0UTINGKEY0000000000000000000001") };
    let resolved = cfg.resolve().unwrap();
    let mut s = resolved.clone();
    s.delivery = fast();
    let sinks = Sinks::start(rt.handle(), vec![s], obs);
    sinks.offer(&alert(AlertState::Firing, "bad"));
    sinks.offer(&alert(AlertState::Resolved, "bad"));
    let stats = sinks.shutdown(Duration::from_secs(10));
    assert_eq!(stats[0].1.ok, 2);
    let reqs = rx.requests();
    let bodies: Vec<_> = reqs.iter().map(|r| r.json()).collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["event_action"], "trigger");
    assert_eq!(bodies[1]["event_action"], "resolve");
    assert_eq!(bodies[0]["dedup_key"], bodies[1]["dedup_key"]);
    assert_eq!(
        bodies[0]["dedup_key"],
        "acme/en/negative_share/2024-05-06T12:00:00Z"
    );
    assert_eq!(bodies[0]["routing_key"], "R0UTINGKEY0000000000000000000001");
    let p = &bodies[0]["payload"];
    assert_eq!(p["severity"], "error");
    assert!(
        p["summary"].as_str().unwrap().contains("acme"),
        "{}",
        p["summary"]
    );
    assert_eq!(p["custom_details"]["negative"], 44);
    assert_eq!(p["custom_details"]["top_terms"][0], "refund");
}

#[test]
fn retries_after_server_errors_then_succeeds() {
    let rx = Receiver::start(&[Reply::Status(500), Reply::Status(503), Reply::Status(429)]);
    let rt = rt();
    let (obs, seen) = counting();
    let sinks = Sinks::start(
        rt.handle(),
        vec![sink(
            "hook",
            Target::Webhook {
                url: Secret::new(rx.url("/in")),
            },
            fast(),
        )],
        obs,
    );
    let a = alert(AlertState::Firing, "bad");
    sinks.offer(&a);
    let stats = sinks.shutdown(Duration::from_secs(10));
    assert_eq!(
        stats[0].1,
        SinkStats {
            ok: 1,
            retry: 3,
            failed: 0,
            dropped: 0
        }
    );
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 4);
    // The generic webhook posts the alert record itself, the same each attempt.
    assert_eq!(reqs[3].body, serde_json::to_vec(&a).unwrap());
    assert!(reqs.iter().all(|r| r.body == reqs[0].body));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|(_, o)| *o).collect::<Vec<_>>(),
        ["retry", "retry", "retry", "ok"]
    );
    assert!(seen.iter().all(|(n, _)| n == "hook"));
}

#[test]
fn a_client_error_is_not_retried() {
    let rx = Receiver::start(&[Reply::Status(400)]);
    let rt = rt();
    let (obs, _) = counting();
    let sinks = Sinks::start(
        rt.handle(),
        vec![sink(
            "hook",
            Target::Webhook {
                url: Secret::new(rx.url("/in")),
            },
            fast(),
        )],
        obs,
    );
    sinks.offer(&alert(AlertState::Firing, "bad"));
    let stats = sinks.shutdown(Duration::from_secs(10));
    assert_eq!(stats[0].1.failed, 1);
    assert_eq!(stats[0].1.retry, 0);
    assert_eq!(rx.requests().len(), 1);
}

#[test]
fn attempts_are_bounded_and_a_refusing_endpoint_fails_counted() {
    // A port that was just free: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rt = rt();
    let (obs, _) = counting();
    let mut d = fast();
    d.max_attempts = 3;
    let sinks = Sinks::start(
        rt.handle(),
        vec![sink(
            "dead",
            Target::Webhook {
                url: Secret::new(format!("http://127.0.0.1:{port}/x")),
            },
            d,
        )],
        obs,
    );
    for _ in 0..4 {
        sinks.offer(&alert(AlertState::Firing, "bad"));
    }
    let stats = sinks.shutdown(Duration::from_secs(20));
    assert_eq!(
        stats[0].1,
        SinkStats {
            ok: 0,
            retry: 8,
            failed: 4,
            dropped: 0
        }
    );
}

#[test]
fn a_hanging_endpoint_neither_blocks_offers_nor_shutdown_and_drops_are_counted() {
    // Every request is read and never answered.
    let rx = Receiver::start(&[Reply::Hang; 64]);
    let other = Receiver::start(&[]);
    let rt = rt();
    let (obs, seen) = counting();
    let d = Delivery {
        queue: 3,
        max_attempts: 2,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(30),
    };
    let mut sinks = Sinks::start(
        rt.handle(),
        vec![
            sink(
                "hang",
                Target::Webhook {
                    url: Secret::new(rx.url("/h")),
                },
                d,
            ),
            sink(
                "good",
                Target::Webhook {
                    url: Secret::new(other.url("/g")),
                },
                fast(),
            ),
        ],
        obs,
    );
    let tx = sinks.sender();
    for i in 0..10 {
        let mut a = alert(AlertState::Firing, "bad");
        a.alert_id = format!("a{i}");
        tx.send(a).unwrap();
    }
    drop(tx);
    // The healthy sink gets everything although the other one is stuck.
    assert_eq!(other.wait_for(10, Duration::from_secs(20)).len(), 10);
    rx.wait_for(1, Duration::from_secs(20));
    let stats = sinks.shutdown(Duration::from_millis(300));
    let hang = stats.iter().find(|(n, _)| n == "hang").unwrap().1;
    let good = stats.iter().find(|(n, _)| n == "good").unwrap().1;
    assert_eq!(good.ok, 10);
    assert_eq!(hang.ok, 0);
    // One in flight when the deadline passed, at most `queue` waiting; all the
    // others pushed out of the full queue. Every alert is accounted for.
    assert_eq!(hang.dropped + hang.failed, 10, "{hang:?}");
    assert!(hang.dropped >= 6, "{hang:?}");
    let dropped_seen = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, o)| n == "hang" && *o == "dropped")
        .count() as u64;
    assert_eq!(dropped_seen, hang.dropped);
    // The newest alert survived the drops and was the one stuck or queued last.
    let got: Vec<String> = rx
        .requests()
        .iter()
        .map(|r| r.json()["alert_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!got.is_empty());
}

#[test]
fn config_tables_parse_and_resolve_with_errors_naming_the_key() {
    let parse = |s: &str| toml::from_str::<SinkConfig>(s);
    let e = parse("type = \"slack\"\nurl_env = \"X\"\nurl_evn = \"Y\"\n").unwrap_err();
    assert!(e.to_string().contains("url_evn"), "{e}");
    assert!(parse("type = \"teams\"\nurl = \"http://x\"\n").is_err());

    let c = parse("type = \"slack\"\nurl_env = \"CANARY_TEST_UNSET_VAR_7\"\n").unwrap();
    match c.resolve().unwrap_err() {
        canary_sinks::Error::Config { key, message } => {
            assert_eq!(key, "url_env");
            assert!(message.contains("CANARY_TEST_UNSET_VAR_7"), "{message}");
        }
    }
    let c = parse("type = \"webhook\"\n").unwrap();
    let canary_sinks::Error::Config { key, .. } = c.resolve().unwrap_err();
    assert_eq!(key, "url");
    let c = parse("type = \"webhook\"\nurl = \"ftp://secret-host/token\"\n").unwrap();
    let e = c.resolve().unwrap_err();
    let canary_sinks::Error::Config { key, message } = &e;
    assert_eq!(key, "url");
    assert!(!message.contains("secret"), "{message}");

    let dir = std::env::temp_dir().join(format!("canary-sinks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("slack");
    std::fs::write(&f, "http://127.0.0.1:9/services/ABC\n").unwrap();
    let c = parse(&format!(
        "type = \"slack\"\nname = \"comms\"\nurl_file = \"{}\"\nqueue = 5\nbackoff = \"50ms\"\nmax_attempts = 2\n",
        f.display()
    ))
    .unwrap();
    let s = c.resolve().unwrap();
    assert_eq!(s.name, "comms");
    assert_eq!(s.delivery.queue, 5);
    assert_eq!(s.delivery.max_attempts, 2);
    assert_eq!(s.delivery.backoff, Duration::from_millis(50));
    assert_eq!(s.delivery.backoff_after(3), Duration::from_millis(200));
    let shown = format!("{s:?} {}", toml::to_string(&c).unwrap());
    assert!(
        !shown.contains("ABC"),
        "debug and printed config hide the URL"
    );
    let inline = parse("type = \"webhook\"\nurl = \"http://h/SECRETTOKEN\"\n").unwrap();
    let printed = toml::to_string(&inline).unwrap();
    assert!(!printed.contains("SECRETTOKEN"), "{printed}");

    let two = [
        parse("type = \"webhook\"\nurl = \"http://a/\"\n").unwrap(),
        parse("type = \"webhook\"\nurl = \"http://b/\"\n").unwrap(),
    ];
    let (idx, canary_sinks::Error::Config { key, .. }) =
        canary_sinks::resolve_all(&two).unwrap_err();
    assert_eq!((idx, key.as_str()), (2, "name"));
}

#[test]
fn alertmanager_gets_labels_annotations_resends_while_firing_and_a_resolve() {
    let rx = Receiver::start(&[]);
    let rt = rt();
    let (obs, _) = counting();
    let cfg: SinkConfig = toml::from_str(&format!(
        "type = \"alertmanager\"\nurl = \"{}\"\nresend = \"1s\"\n",
        rx.url("/am/")
    ))
    .unwrap();
    let s = Sinks::start(rt.handle(), vec![cfg.resolve().unwrap()], obs);
    let unix_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let ms = |v: &serde_json::Value| canary_core::time::parse_rfc3339(v.as_str().unwrap()).unwrap();
    let fired_ms = unix_ms();
    s.offer(&alert(AlertState::Firing, "worst refund ever"));
    // The first send and at least one re-send (1 s apart), bounded.
    let firing: Vec<serde_json::Value> = rx
        .wait_for(2, Duration::from_secs(20))
        .iter()
        .map(|r| r.json())
        .collect();
    assert!(firing.len() >= 2, "re-sent while firing: {firing:#?}");
    let resolved_ms = unix_ms();
    s.offer(&alert(AlertState::Resolved, "worst refund ever"));
    // A re-send may still go out just before the resolve: wait for the
    // request whose endsAt is not ahead (bounded).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let resolved = loop {
        let all = rx.requests();
        if let Some(r) = all
            .iter()
            .map(|r| r.json())
            .find(|b| ms(&b[0]["endsAt"]) < resolved_ms + 2_000)
        {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "no resolve sent");
        std::thread::sleep(Duration::from_millis(50));
    };
    let sent = rx.requests().len();
    // Nothing more goes out for a resolved alert.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(rx.requests().len(), sent);
    let stats = s.shutdown(Duration::from_secs(5));
    assert!(
        stats
            .iter()
            .all(|(_, st)| st.failed == 0 && st.dropped == 0)
    );
    assert!(
        rx.requests().iter().all(|r| r.path == "/am/api/v2/alerts"),
        "{:?}",
        rx.requests()[0].path
    );
    let first = &firing[0][0];
    assert_eq!(
        first["labels"],
        serde_json::json!({
            "alertname": "CanaryNegativeShareSpike",
            "watch": "acme",
            "lang": "en",
            "kind": "negative_share",
            "severity": "page",
            "team": "comms",
        })
    );
    assert_eq!(first["startsAt"], "2024-05-06T12:00:00Z");
    let ann = &first["annotations"];
    assert_eq!(ann["negative_share"], "37.3%");
    assert_eq!(ann["baseline_share"], "2.1%");
    assert_eq!(ann["volume"], "120");
    assert!(ann["top_terms"].as_str().unwrap().contains("refund"));
    assert!(
        ann["sample_posts"]
            .as_str()
            .unwrap()
            .contains("worst refund ever")
    );
    // Firing: ends four re-send intervals ahead unless sent again.
    for b in &firing {
        let ends = ms(&b[0]["endsAt"]);
        assert!(
            (fired_ms + 4_000..fired_ms + 4_000 + 20_000).contains(&ends),
            "endsAt {ends} vs fired {fired_ms}"
        );
    }
    // Resolved: ends at the resolve, never before it started, same labels.
    let r = &resolved[0];
    assert_eq!(r["labels"], first["labels"]);
    let end = ms(&r["endsAt"]);
    assert!(end >= ms(&r["startsAt"]) && end >= resolved_ms, "{r:#}");
}

fn triage(status: TriageStatus) -> TriageRecord {
    TriageRecord {
        v: 1,
        status,
        id: "42".into(),
        watch: "acme".into(),
        text: "@acmehelp where is my refund?".into(),
        author: Some("dana".into()),
        reach: Some(1250),
        score: 0.43,
        reasons: vec!["question".into()],
        time: "2024-05-06T10:03:00Z".into(),
        event_ms: 1_714_989_780_000,
        at: "2024-05-06T10:05:00Z".into(),
        response_seconds: (status == TriageStatus::Answered).then_some(600.0),
        within_sla: (status == TriageStatus::Answered).then_some(true),
    }
}

#[test]
fn events_choose_what_each_sink_is_sent() {
    let (alerts_rx, triage_rx, both_rx) = (
        Receiver::start(&[]),
        Receiver::start(&[Reply::Status(503)]),
        Receiver::start(&[]),
    );
    let parse = |s: String| {
        let mut sink = toml::from_str::<SinkConfig>(&s).unwrap().resolve().unwrap();
        sink.delivery = fast();
        sink
    };
    let sinks = vec![
        parse(format!(
            "type = \"webhook\"\nname = \"alerts\"\nurl = \"{}\"\n",
            alerts_rx.url("/a")
        )),
        parse(format!(
            "type = \"webhook\"\nname = \"triage\"\nevents = [\"triage\"]\nurl = \"{}\"\n",
            triage_rx.url("/t")
        )),
        parse(format!(
            "type = \"slack\"\nname = \"care\"\nevents = [\"alert\", \"triage\"]\nurl = \"{}\"\n",
            both_rx.url("/s")
        )),
    ];
    let rt = rt();
    let (obs, seen) = counting();
    let mut sinks = Sinks::start(rt.handle(), sinks, obs);
    assert!(sinks.wants_triage());
    let tx = sinks.triage_sender();
    sinks.offer(&alert(AlertState::Firing, "bad"));
    tx.send(triage(TriageStatus::Open)).unwrap();
    tx.send(triage(TriageStatus::Answered)).unwrap();
    drop(tx);
    sinks.offer_triage(&triage(TriageStatus::Open));
    let stats = sinks.shutdown(Duration::from_secs(10));
    let ok: Vec<(&str, u64, u64)> = stats
        .iter()
        .map(|(n, s)| (n.as_str(), s.ok, s.retry))
        .collect();
    assert_eq!(ok, [("alerts", 1, 0), ("triage", 3, 1), ("care", 4, 0)]);
    assert_eq!(
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(n, o)| n == "triage" && *o == "ok")
            .count(),
        3,
        "triage deliveries are counted like alerts"
    );
    assert_eq!(
        alerts_rx.requests()[0].json()["alert_id"],
        alert(AlertState::Firing, "").alert_id
    );
    // The 503 was retried: the record itself arrives, open then answered
    // in the order sent through the channel, then the one offered directly.
    let got: Vec<TriageRecord> = triage_rx.requests()[1..]
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(got.len(), 3);
    let pos = |st| got.iter().position(|t| t.status == st).unwrap();
    assert!(pos(TriageStatus::Open) < pos(TriageStatus::Answered));
    assert!(got.contains(&triage(TriageStatus::Open)));
    assert!(got.contains(&triage(TriageStatus::Answered)));
    let texts: Vec<String> = both_rx
        .requests()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        texts[0].contains("negative share alert FIRING"),
        "{texts:?}"
    );
    let one = |needle: &str| texts.iter().filter(|t| t.contains(needle)).count();
    assert_eq!(
        one(":speech_balloon: *acme* needs an answer (question): *@dana* (1250 followers)"),
        2,
        "{texts:?}"
    );
    assert_eq!(
        one("answered *@dana* after 10m, within the SLA"),
        1,
        "{texts:?}"
    );
}

#[test]
fn events_lists_are_checked() {
    let resolve = |s: &str| toml::from_str::<SinkConfig>(s).map(|c| c.resolve());
    let e =
        resolve("type = \"webhook\"\nurl = \"http://h/\"\nevents = [\"alerts\"]\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown variant `alerts`, expected `alert` or `triage`"),
        "{e}"
    );
    let canary_sinks::Error::Config { key, message } =
        resolve("type = \"webhook\"\nurl = \"http://h/\"\nevents = []\n")
            .unwrap()
            .unwrap_err();
    assert_eq!(key, "events");
    assert!(message.contains("at least one"), "{message}");
    for table in [
        "type = \"pagerduty\"\nrouting_key = \"k\"\nevents = [\"alert\", \"triage\"]\n",
        "type = \"alertmanager\"\nurl = \"http://am:9093\"\nevents = [\"triage\"]\n",
    ] {
        let canary_sinks::Error::Config { key, message } = resolve(table).unwrap().unwrap_err();
        assert_eq!(key, "events");
        assert!(message.contains("sinks take alerts only"), "{message}");
    }
    let s = resolve("type = \"pagerduty\"\nrouting_key = \"k\"\nevents = [\"alert\"]\n")
        .unwrap()
        .unwrap();
    assert_eq!((s.events.alert, s.events.triage), (true, false));
    let s = resolve("type = \"slack\"\nurl = \"http://h/\"\nevents = [\"triage\"]\n")
        .unwrap()
        .unwrap();
    assert_eq!((s.events.alert, s.events.triage), (false, true));
}
