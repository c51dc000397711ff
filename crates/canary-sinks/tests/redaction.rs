//! Log lines never carry a webhook URL or a routing key, even on failures.
//! (Its own test binary: it installs a global log subscriber.)

use canary_core::aggregate::{Alert, AlertKind, AlertState};
use canary_sinks::{Delivery, Secret, Sink, Sinks, Target};
use canary_testkit::receiver::{Receiver, Reply};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn failures_are_logged_without_urls_or_keys() {
    let buf = Buf::default();
    let w = buf.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || w.clone())
        .init();

    let rx = Receiver::start(&[Reply::Status(500); 8]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = Delivery {
        queue: 8,
        max_attempts: 2,
        backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(5),
        timeout: Duration::from_secs(5),
    };
    let sinks = vec![
        Sink {
            name: "slack".into(),
            target: Target::Slack {
                url: Secret::new(rx.url("/services/T0SECRETA/B0SECRETB/XSECRETTOKEN")),
            },
            delivery: d,
            events: Default::default(),
        },
        Sink {
            name: "pd".into(),
            target: Target::PagerDuty {
                url: Secret::new(format!("http://127.0.0.1:{port}/v2/enqueue?k=SECRETQ")),
                routing_key: Secret::new("SECRETROUTINGKEY"),
                severity: "error".into(),
            },
            delivery: d,
            events: Default::default(),
        },
        Sink {
            name: "badurl".into(),
            target: Target::Webhook {
                url: Secret::new("http://[SECRETBADURL"),
            },
            delivery: d,
            events: Default::default(),
        },
    ];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let s = Sinks::start(rt.handle(), sinks, Arc::new(|_: &str, _| {}));
    s.offer(&Alert {
        v: 1,
        alert_id: "w/all/volume/2024-01-01T00:00:00Z".into(),
        kind: AlertKind::Volume,
        watch: "w".into(),
        lang: "all".into(),
        state: AlertState::Firing,
        window_start: "2024-01-01T00:00:00Z".into(),
        window_end: "2024-01-01T00:05:00Z".into(),
        volume: 500,
        scored: 0,
        negative: 0,
        negative_share: 0.0,
        baseline_share: 0.0,
        baseline_volume: 100.0,
        p_value: 1e-9,
        top_terms: vec![],
        sample_ids: vec![],
        samples: vec![],
        episode_start: "2024-01-01T00:00:00Z".into(),
        evidence: None,
        resolution: None,
    });
    let stats = s.shutdown(Duration::from_secs(20));
    assert!(stats.iter().all(|(_, st)| st.failed == 1), "{stats:?}");
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("retrying") && logs.contains("giving up"),
        "{logs}"
    );
    assert!(
        !logs.contains("SECRET"),
        "a secret leaked into logs:\n{logs}"
    );
    // The HTTP client's own debug lines name the host (it masks the path);
    // ours name only the sink.
    let ours: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("canary_sinks"))
        .collect();
    assert!(ours.len() >= 6, "{logs}");
    assert!(
        ours.iter()
            .all(|l| !l.contains("127.0.0.1") && !l.contains("http://")),
        "a URL leaked into logs:\n{logs}"
    );
}
