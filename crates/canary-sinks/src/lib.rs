//! Alert and triage delivery: Slack incoming webhooks, PagerDuty Events API
//! v2, Prometheus Alertmanager's v2 API and generic JSON webhooks.
//!
//! Each sink is sent the kinds of record its `events` name (alerts by
//! default; social-care triage records on Slack and webhooks). Each has its
//! own bounded queue and a tokio task that drains it, retrying failed
//! requests with exponential backoff up to a bounded number of attempts.
//! Offering a record never blocks: when a queue is full (a dead or slow
//! endpoint), the *oldest* queued record is dropped and counted, because the
//! newest record is the current state of an episode (or of a post waiting for
//! an answer) and the one a reader needs. [`Sinks::shutdown`] drains what is queued until a deadline and
//! counts the rest as dropped.
//!
//! Every delivery outcome (`ok`, `retry`, `failed`, `dropped`) is counted per
//! sink and reported to an [`Observer`] (the binary feeds
//! `canary_sink_deliveries_total{sink,outcome}`).
//!
//! URLs and routing keys are [`Secret`]s: log lines name the sink, never its
//! URL, and error texts are scrubbed of both before they are logged.
#![deny(missing_docs)]

mod config;
pub mod format;

pub use config::{
    AlertmanagerConfig, Delivery, EventKind, Events, PAGERDUTY_URL, PagerDutyConfig, Secret, Sink,
    SinkConfig, SlackConfig, Target, WebhookConfig, resolve_all,
};

use canary_core::aggregate::Alert;
use canary_core::care::{TriageRecord, TriageStatus};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tracing::{debug, warn};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `[[sink]]` setting is wrong; `key` is the field within the table.
    #[error("{message}")]
    Config {
        /// Field name within the sink table (`url_env`, `routing_key`, ...).
        key: String,
        /// What is wrong (never quotes a secret).
        message: String,
    },
}

/// One record to deliver.
#[derive(Debug, Clone)]
pub enum Event {
    /// An alert record.
    Alert(Alert),
    /// A social-care triage record.
    Triage(TriageRecord),
}

impl Event {
    /// What log lines call it: the alert id, or `triage/<watch>/<post id>/<status>`.
    pub fn id(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Event::Alert(a) => a.alert_id.as_str().into(),
            Event::Triage(t) => {
                let status = match t.status {
                    TriageStatus::Open => "open",
                    TriageStatus::Answered => "answered",
                };
                format!("triage/{}/{}/{status}", t.watch, t.id).into()
            }
        }
    }
}

/// What became of one delivery attempt or record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Delivered (2xx answer).
    Ok,
    /// An attempt failed and another one is scheduled.
    Retry,
    /// Given up: attempts exhausted or a non-retryable answer.
    Failed,
    /// Never attempted to the end: queue full, or shutdown deadline passed.
    Dropped,
}

impl Outcome {
    /// Every outcome, for metrics that start each series at 0.
    pub const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Retry,
        Outcome::Failed,
        Outcome::Dropped,
    ];

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Retry => "retry",
            Outcome::Failed => "failed",
            Outcome::Dropped => "dropped",
        }
    }
}

/// Receives every outcome, with the sink's name (e.g. to count it in Prometheus).
pub type Observer = Arc<dyn Fn(&str, Outcome) + Send + Sync>;

/// Counts of outcomes for one sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Records delivered.
    pub ok: u64,
    /// Failed attempts that were retried.
    pub retry: u64,
    /// Records given up on.
    pub failed: u64,
    /// Records dropped from a full queue or at the shutdown deadline.
    pub dropped: u64,
}

#[derive(Default)]
struct Counters([AtomicU64; 4]);

impl Counters {
    fn get(&self) -> SinkStats {
        let g = |i: usize| self.0[i].load(Ordering::Relaxed);
        SinkStats {
            ok: g(0),
            retry: g(1),
            failed: g(2),
            dropped: g(3),
        }
    }
}

struct Shared {
    sink: Sink,
    queue: Mutex<VecDeque<Event>>,
    notify: Notify,
    closing: AtomicBool,
    in_flight: AtomicBool,
    /// Records offered and not yet delivered, given up or dropped.
    pending: AtomicU64,
    counters: Counters,
    observer: Observer,
}

impl Shared {
    fn count(&self, o: Outcome, n: u64) {
        if n == 0 {
            return;
        }
        let i = match o {
            Outcome::Ok => 0,
            Outcome::Retry => 1,
            Outcome::Failed => 2,
            Outcome::Dropped => 3,
        };
        self.counters.0[i].fetch_add(n, Ordering::Relaxed);
        for _ in 0..n {
            (self.observer)(&self.sink.name, o);
        }
    }

    fn offer(&self, event: Event) {
        let dropped = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let dropped = if q.len() >= self.sink.delivery.queue {
                q.pop_front()
            } else {
                None
            };
            q.push_back(event);
            self.pending.fetch_add(1, Ordering::SeqCst);
            dropped
        };
        if let Some(d) = dropped {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            warn!(sink = %self.sink.name, record = %d.id(), "sink queue full: dropped the oldest record");
            self.count(Outcome::Dropped, 1);
        }
        self.notify.notify_one();
    }

    fn pop(&self) -> Option<Event> {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    fn redact(&self, s: &str) -> String {
        let mut s = s.to_owned();
        for secret in self.sink.target.secrets() {
            if !secret.is_empty() {
                s = s.replace(secret, "[redacted]");
            }
        }
        s
    }
}

/// The request body for `event` on `target`. A triage record on a PagerDuty
/// or Alertmanager target (which `resolve` refuses) gets the webhook body.
pub fn body(target: &Target, event: &Event) -> Vec<u8> {
    let alert = match event {
        Event::Alert(a) => a,
        Event::Triage(t) => {
            return match target {
                Target::Slack { .. } => {
                    serde_json::to_vec(&format::slack_triage(t)).unwrap_or_default()
                }
                _ => format::webhook_triage(t),
            };
        }
    };
    let v = match target {
        Target::Slack { .. } => format::slack(alert),
        Target::PagerDuty {
            routing_key,
            severity,
            ..
        } => format::pagerduty(alert, routing_key.expose(), severity),
        Target::Alertmanager {
            severity,
            team,
            resend,
            ..
        } => format::alertmanager(
            alert,
            severity,
            team,
            resend.as_millis() as i64,
            canary_core::time::now_ms(),
        ),
        // Straight from the record, so fields keep the order of the alert lines.
        Target::Webhook { .. } => return format::webhook(alert),
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Result of one HTTP attempt.
enum Attempt {
    Delivered,
    /// Worth another try (transport error, timeout, 429, 5xx).
    Transient(String),
    /// Will not get better (other 4xx, 3xx).
    Permanent(String),
}

fn describe(e: &ureq::Error) -> String {
    // Some variants quote the URL; describe them without it.
    match e {
        ureq::Error::BadUri(_) => "invalid URL".to_owned(),
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::Io(io) => format!("I/O error: {io}"),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        other => other.to_string(),
    }
}

fn post_blocking(agent: &ureq::Agent, url: &str, body: &[u8]) -> Attempt {
    match agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "canary")
        .send(body)
    {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            // Read (a bounded part of) the answer so the connection can be reused.
            let _ = resp.body_mut().with_config().limit(64 * 1024).read_to_vec();
            match status {
                200..=299 => Attempt::Delivered,
                429 | 500..=599 => Attempt::Transient(format!("HTTP {status}")),
                _ => Attempt::Permanent(format!("HTTP {status}")),
            }
        }
        Err(e) => Attempt::Transient(describe(&e)),
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

async fn attempt(agent: &ureq::Agent, url: &Secret, body: &Arc<Vec<u8>>) -> Attempt {
    // A detached thread per attempt rather than spawn_blocking: an endpoint
    // that never answers must not hold the runtime's shutdown beyond the drain
    // deadline. Alerts and triage records are rare next to posts, so the
    // thread cost does not matter.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (agent, url, body) = (agent.clone(), url.expose().to_owned(), body.clone());
    let spawned = std::thread::Builder::new()
        .name("canary-sink-http".into())
        .spawn(move || {
            let _ = tx.send(post_blocking(&agent, &url, &body));
        });
    if let Err(e) = spawned {
        return Attempt::Transient(format!("cannot start a request thread: {e}"));
    }
    rx.await
        .unwrap_or_else(|_| Attempt::Transient("request thread ended without an answer".into()))
}

async fn deliver(shared: &Shared, agent: &ureq::Agent, event: &Event) {
    let sink = &shared.sink;
    let body = Arc::new(body(&sink.target, event));
    let id = event.id();
    let max = sink.delivery.max_attempts;
    for n in 1..=max {
        let why = match attempt(agent, sink.target.url(), &body).await {
            Attempt::Delivered => {
                debug!(sink = %sink.name, record = %id, attempt = n, "delivered");
                shared.count(Outcome::Ok, 1);
                return;
            }
            Attempt::Permanent(why) => {
                warn!(sink = %sink.name, record = %id, error = %shared.redact(&why),
                    "delivery refused; not retrying");
                shared.count(Outcome::Failed, 1);
                return;
            }
            Attempt::Transient(why) => why,
        };
        if n == max {
            warn!(sink = %sink.name, record = %id, attempts = n, error = %shared.redact(&why),
                "delivery failed; giving up");
            shared.count(Outcome::Failed, 1);
            return;
        }
        let wait = sink.delivery.backoff_after(n);
        warn!(sink = %sink.name, record = %id, attempt = n, error = %shared.redact(&why),
            retry_in_ms = wait.as_millis() as u64, "delivery failed; retrying");
        shared.count(Outcome::Retry, 1);
        tokio::time::sleep(wait).await;
    }
}

async fn worker(shared: Arc<Shared>) {
    let agent = agent(shared.sink.delivery.timeout);
    // Alertmanager forgets an alert at its endsAt: firing ones are sent again
    // every `resend` until their resolve arrives.
    let resend = match &shared.sink.target {
        Target::Alertmanager { resend, .. } => Some(*resend),
        _ => None,
    };
    let mut firing: std::collections::BTreeMap<String, Event> = Default::default();
    let mut next_resend = tokio::time::Instant::now();
    loop {
        match shared.pop() {
            Some(event) => {
                if let (Some(every), Event::Alert(alert)) = (resend, &event) {
                    if alert.state == canary_core::aggregate::AlertState::Firing {
                        if firing.is_empty() {
                            next_resend = tokio::time::Instant::now() + every;
                        }
                        firing.insert(alert.alert_id.clone(), event.clone());
                    } else {
                        firing.remove(&alert.alert_id);
                    }
                }
                shared.in_flight.store(true, Ordering::SeqCst);
                deliver(&shared, &agent, &event).await;
                shared.in_flight.store(false, Ordering::SeqCst);
                shared.pending.fetch_sub(1, Ordering::SeqCst);
            }
            None if shared.closing.load(Ordering::SeqCst) => return,
            None => match resend {
                Some(every) if !firing.is_empty() => {
                    // notify_one stores a permit, so an offer between pop and here is not missed.
                    let woken =
                        tokio::time::timeout_at(next_resend, shared.notify.notified()).await;
                    if woken.is_err() {
                        next_resend = tokio::time::Instant::now() + every;
                        shared.in_flight.store(true, Ordering::SeqCst);
                        for a in firing.values() {
                            deliver(&shared, &agent, a).await;
                        }
                        shared.in_flight.store(false, Ordering::SeqCst);
                    }
                }
                _ => shared.notify.notified().await,
            },
        }
    }
}

/// Queues `event` on every sink whose `events` take its kind.
fn offer_all(shared: &[Arc<Shared>], event: Event) {
    let wanted = |s: &Shared| match event {
        Event::Alert(_) => s.sink.events.alert,
        Event::Triage(_) => s.sink.events.triage,
    };
    for s in shared.iter().filter(|s| wanted(s)) {
        s.offer(event.clone());
    }
}

/// Running sinks: one queue and one delivery task each.
pub struct Sinks {
    shared: Vec<Arc<Shared>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    rt: tokio::runtime::Handle,
    forwarders: Vec<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl Sinks {
    /// Starts one delivery task per sink on `rt`.
    pub fn start(rt: &tokio::runtime::Handle, sinks: Vec<Sink>, observer: Observer) -> Sinks {
        let shared: Vec<Arc<Shared>> = sinks
            .into_iter()
            .map(|sink| {
                Arc::new(Shared {
                    sink,
                    queue: Mutex::new(VecDeque::new()),
                    notify: Notify::new(),
                    closing: AtomicBool::new(false),
                    in_flight: AtomicBool::new(false),
                    pending: AtomicU64::new(0),
                    counters: Counters::default(),
                    observer: observer.clone(),
                })
            })
            .collect();
        let tasks = shared.iter().map(|s| rt.spawn(worker(s.clone()))).collect();
        Sinks {
            shared,
            tasks,
            rt: rt.clone(),
            forwarders: Vec::new(),
        }
    }

    /// Whether any sink is configured.
    pub fn is_empty(&self) -> bool {
        self.shared.is_empty()
    }

    /// Names of the sinks, in config order.
    pub fn names(&self) -> Vec<&str> {
        self.shared.iter().map(|s| s.sink.name.as_str()).collect()
    }

    /// Whether any sink is sent triage records.
    pub fn wants_triage(&self) -> bool {
        self.shared.iter().any(|s| s.sink.events.triage)
    }

    /// Queues `alert` on every sink that is sent alerts. Never blocks.
    pub fn offer(&self, alert: &Alert) {
        offer_all(&self.shared, Event::Alert(alert.clone()));
    }

    /// Queues `record` on every sink that is sent triage records. Never blocks.
    pub fn offer_triage(&self, record: &TriageRecord) {
        offer_all(&self.shared, Event::Triage(record.clone()));
    }

    /// A channel whose alerts are offered as by [`Sinks::offer`] (for
    /// `canary_runtime::Outputs::alert_tx`). A thread forwards them; it ends at
    /// [`Sinks::shutdown`].
    pub fn sender(&mut self) -> std::sync::mpsc::Sender<Alert> {
        self.forward(Event::Alert)
    }

    /// A channel whose triage records are offered as by
    /// [`Sinks::offer_triage`] (for `canary_runtime::Outputs::triage_tx`).
    pub fn triage_sender(&mut self) -> std::sync::mpsc::Sender<TriageRecord> {
        self.forward(Event::Triage)
    }

    fn forward<T: Send + 'static>(&mut self, wrap: fn(T) -> Event) -> std::sync::mpsc::Sender<T> {
        let (tx, rx) = std::sync::mpsc::channel::<T>();
        let stop = Arc::new(AtomicBool::new(false));
        let shared = self.shared.clone();
        let stop2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name("canary-sinks".into())
            .spawn(move || {
                loop {
                    match rx.recv_timeout(Duration::from_millis(50)) {
                        Ok(r) => offer_all(&shared, wrap(r)),
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                            if stop2.load(Ordering::SeqCst) {
                                while let Ok(r) = rx.try_recv() {
                                    offer_all(&shared, wrap(r));
                                }
                                return;
                            }
                        }
                    }
                }
            })
            .expect("spawn sink forwarder thread");
        self.forwarders.push((stop, handle));
        tx
    }

    /// Waits until every record offered so far is delivered or given up on
    /// (counted `failed` or `dropped`), at most `limit`; whether it is. Blocks
    /// the calling thread, which must not be a runtime thread.
    pub fn wait_settled(&self, limit: Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        loop {
            if self
                .shared
                .iter()
                .all(|s| s.pending.load(Ordering::SeqCst) == 0)
            {
                return true;
            }
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Outcome counts so far, per sink name.
    pub fn stats(&self) -> Vec<(String, SinkStats)> {
        self.shared
            .iter()
            .map(|s| (s.sink.name.clone(), s.counters.get()))
            .collect()
    }

    /// Stops taking records, delivers what is queued until `deadline` has
    /// passed, then drops (and counts) whatever is left. Blocks the calling
    /// thread, which must not be a runtime thread.
    pub fn shutdown(mut self, deadline: Duration) -> Vec<(String, SinkStats)> {
        for (stop, _) in &self.forwarders {
            stop.store(true, Ordering::SeqCst);
        }
        for (_, h) in self.forwarders.drain(..) {
            let _ = h.join();
        }
        for s in &self.shared {
            s.closing.store(true, Ordering::SeqCst);
            s.notify.notify_one();
        }
        let tasks = std::mem::take(&mut self.tasks);
        let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
        let finished = self.rt.block_on(async move {
            tokio::time::timeout(deadline, async {
                for t in tasks {
                    let _ = t.await;
                }
            })
            .await
            .is_ok()
        });
        if !finished {
            for a in aborts {
                a.abort();
            }
            for s in &self.shared {
                let left = {
                    let mut q = s.queue.lock().unwrap_or_else(|e| e.into_inner());
                    let n = q.len() as u64;
                    q.clear();
                    n
                };
                let cut = u64::from(s.in_flight.swap(false, Ordering::SeqCst));
                if left + cut > 0 {
                    warn!(sink = %s.sink.name, dropped = left + cut,
                        "shutdown deadline passed: dropping undelivered records");
                }
                s.count(Outcome::Dropped, left + cut);
            }
        }
        self.stats()
    }
}
