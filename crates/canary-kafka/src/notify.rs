//! The notify stage: alert records from the `alerts` topic, and triage
//! records from the `triage` topic when a sink's `events` ask for them, to the
//! config's `[[sink]]`s, through the same `canary-sinks` code as `canary run`.
//! Each topic has its own consumer loop (the triage one in the group
//! `<group prefix>notify-triage`).
//!
//! Delivery guarantee: both topics are at-least-once (a restarted aggregate
//! emits its records again), so each record is keyed (alert id and state;
//! watch, post id and triage status) and delivered once per key. A loop
//! stores its input offsets only after every sink has delivered the batch's
//! records or given up on them (counted `failed` or `dropped` in
//! `canary_sink_deliveries_total`). Before storing them it appends the
//! delivered keys to `<state-dir>/notify-delivered.keys` and fsyncs it, so a
//! `kill -9` after a page and before the offset commit does not page again; a
//! kill between the HTTP answer and that fsync (a few microseconds) can. A
//! kill before delivery loses nothing: the offsets were not stored, so the
//! restarted stage reads the record again.

use crate::config::StageName;
use crate::producer::{Outputs, dead_letter};
use crate::runner::{self, InMessage, Processor};
use crate::stages::StageOptions;
use crate::{Error, Topics};
use canary_core::aggregate::{Alert, AlertState};
use canary_core::care::TriageRecord;
use canary_sinks::{Event, Outcome, Sink, Sinks};
use canary_telemetry::Metrics;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Options of the notify stage.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// The resolved `[[sink]]`s.
    pub sinks: Vec<Sink>,
    /// Where the delivered keys are kept across restarts.
    pub state_dir: PathBuf,
}

/// Delivered keys kept: a record is delivered again only if the topic hands
/// it back after this many newer ones were delivered, far more than an
/// aggregate re-emits after a restart (what it emitted since its last
/// checkpoint).
const KEEP_KEYS: usize = 100_000;

/// The newest delivered keys, in memory and in an append-only file that is
/// rewritten with only those once it holds twice as many lines.
struct Delivered {
    keys: HashSet<String>,
    /// The same keys, oldest first.
    order: VecDeque<String>,
    file: File,
    path: PathBuf,
    /// Lines in the file.
    lines: usize,
    keep: usize,
}

impl Delivered {
    fn open(dir: &std::path::Path) -> Result<Delivered, Error> {
        Self::open_keeping(dir, KEEP_KEYS)
    }

    fn open_keeping(dir: &std::path::Path, keep: usize) -> Result<Delivered, Error> {
        let path = dir.join("notify-delivered.keys");
        let io = |what: &str, source| Error::Io {
            what: format!("{what} {}", path.display()),
            source,
        };
        let mut d = Delivered {
            keys: HashSet::new(),
            order: VecDeque::new(),
            file: OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| io("opening", e))?,
            path: path.clone(),
            lines: 0,
            keep: keep.max(1),
        };
        let f = File::open(&path).map_err(|e| io("reading", e))?;
        for line in BufReader::new(f).lines() {
            let line = line.map_err(|e| io("reading", e))?;
            d.lines += 1;
            // A line cut by a crash is a key never confirmed: deliver it again.
            if let Some(k) = line.strip_suffix('\t') {
                d.remember(k.to_owned());
            }
        }
        if d.lines > 2 * d.keep {
            d.compact()?;
        }
        Ok(d)
    }

    fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    fn remember(&mut self, key: String) {
        if self.keys.insert(key.clone()) {
            self.order.push_back(key);
        }
        while self.order.len() > self.keep {
            if let Some(old) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
    }

    fn record(&mut self, new: &[String]) -> Result<(), Error> {
        let mut buf = String::new();
        for k in new {
            buf.push_str(k);
            buf.push_str("\t\n");
        }
        self.file
            .write_all(buf.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|source| Error::Io {
                what: format!("writing {}", self.path.display()),
                source,
            })?;
        self.lines += new.len();
        for k in new {
            self.remember(k.clone());
        }
        if self.lines > 2 * self.keep {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with the kept keys: a new file, fsynced, then
    /// renamed over the old one, so a crash leaves one or the other whole.
    fn compact(&mut self) -> Result<(), Error> {
        let tmp = self.path.with_extension("keys.tmp");
        let io = |what: &str, source| Error::Io {
            what: format!("{what} {}", tmp.display()),
            source,
        };
        let mut buf = String::new();
        for k in &self.order {
            buf.push_str(k);
            buf.push_str("\t\n");
        }
        let mut f = File::create(&tmp).map_err(|e| io("creating", e))?;
        f.write_all(buf.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| io("writing", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io("renaming", e))?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| io("reopening", e))?;
        self.lines = self.order.len();
        Ok(())
    }
}

/// Which topic a consumer loop of the notify stage reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// Alert records, for sinks whose `events` include `alert`.
    Alerts,
    /// Triage records, for sinks whose `events` include `triage`.
    Triage,
}

struct Notify {
    feed: Feed,
    topics: Topics,
    sinks: Arc<Sinks>,
    /// Shared by both loops: one file of keys, whichever topic they came from.
    delivered: Arc<Mutex<Delivered>>,
    /// Keys offered to the sinks in this batch, not yet settled.
    offered: Vec<String>,
    stop: Arc<AtomicBool>,
    shutdown_timeout: Duration,
}

fn alert_key(a: &Alert) -> String {
    let state = if a.state == AlertState::Firing {
        "firing"
    } else {
        "resolved"
    };
    format!("{}/{state}", a.alert_id)
}

impl Notify {
    /// The record in `m`, its delivery key, and a log line's worth of it;
    /// Err: the dead-letter reason and why.
    fn decode(&self, payload: &[u8]) -> Result<(Event, String), (&'static str, String)> {
        match self.feed {
            Feed::Alerts => serde_json::from_slice::<Alert>(payload)
                .map(|a| {
                    let key = alert_key(&a);
                    (Event::Alert(a), key)
                })
                .map_err(|e| ("bad_alert", e.to_string())),
            // `triage/<watch>/<post id>/<status>`: never an alert key, which
            // starts with the watch name and ends in firing or resolved.
            Feed::Triage => serde_json::from_slice::<TriageRecord>(payload)
                .map(|t| {
                    let e = Event::Triage(t);
                    let key = e.id().into_owned();
                    (e, key)
                })
                .map_err(|e| ("bad_triage", e.to_string())),
        }
    }
}

impl Processor for Notify {
    fn process(&mut self, m: &InMessage<'_>, out: &mut Outputs) -> Result<(), Error> {
        let (event, key) = match self.decode(m.payload) {
            Ok(d) => d,
            Err((reason, detail)) => {
                out.dead_letter(
                    reason,
                    dead_letter(
                        &self.topics,
                        StageName::Notify,
                        reason,
                        detail,
                        m,
                        None,
                        m.payload,
                    ),
                );
                return Ok(());
            }
        };
        let known = self.delivered.lock().expect("not poisoned").contains(&key);
        if known || self.offered.contains(&key) {
            out.dropped("duplicate");
            return Ok(());
        }
        match &event {
            Event::Alert(a) => {
                info!(alert_id = %a.alert_id, key = %key, watch = %a.watch, lang = %a.lang, "delivering alert");
                self.sinks.offer(a);
            }
            Event::Triage(t) => {
                info!(key = %key, watch = %t.watch, "delivering triage record");
                self.sinks.offer_triage(t);
            }
        }
        self.offered.push(key);
        Ok(())
    }

    fn delivered(
        &mut self,
        consumed: &BTreeMap<i32, i64>,
        _shutdown: bool,
    ) -> Result<Option<BTreeMap<i32, i64>>, Error> {
        self.settle()?;
        Ok(Some(consumed.clone()))
    }

    fn on_revoke(
        &mut self,
        _partitions: &[i32],
        consumed: &BTreeMap<i32, i64>,
    ) -> Result<BTreeMap<i32, i64>, Error> {
        self.settle()?;
        Ok(consumed.clone())
    }
}

impl Notify {
    /// Waits until the sinks have delivered or given up on every record
    /// offered, then records their keys.
    fn settle(&mut self) -> Result<(), Error> {
        if self.offered.is_empty() {
            return Ok(());
        }
        // Sinks retry with backoff for as long as they are configured to;
        // a stop cuts that to the shutdown timeout, without storing offsets.
        let mut stopping_since: Option<Instant> = None;
        while !self.sinks.wait_settled(Duration::from_millis(200)) {
            if self.stop.load(Ordering::Relaxed) {
                let since = *stopping_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= self.shutdown_timeout {
                    warn!(
                        records = self.offered.len(),
                        "stopping before the sinks settled: offsets not stored, the records are read again at restart"
                    );
                    return Err(Error::Undelivered(self.offered.len() as u64));
                }
            }
        }
        let offered = std::mem::take(&mut self.offered);
        self.delivered
            .lock()
            .expect("not poisoned")
            .record(&offered)?;
        let what = match self.feed {
            Feed::Alerts => "alerts delivered",
            Feed::Triage => "triage records delivered",
        };
        info!(records = offered.len(), "{what}");
        Ok(())
    }
}

/// Runs the notify stage until `stop` is set. `rt` runs the sinks' delivery tasks.
pub fn run_notify(
    opts: &StageOptions,
    notify: &NotifyOptions,
    rt: &tokio::runtime::Handle,
    metrics: &Metrics,
    stop: &Arc<AtomicBool>,
) -> Result<(), Error> {
    match notify_inner(opts, notify, rt, metrics, stop) {
        Err(Error::Stopped) => Ok(()),
        r => r,
    }
}

fn notify_inner(
    opts: &StageOptions,
    notify: &NotifyOptions,
    rt: &tokio::runtime::Handle,
    metrics: &Metrics,
    stop: &Arc<AtomicBool>,
) -> Result<(), Error> {
    let common = opts.common(StageName::Notify);
    let producer = runner::prepare(
        &common,
        opts.kafka.partitions,
        Some(&notify.state_dir),
        stop,
    )?;
    let delivered = Delivered::open(&notify.state_dir)?;
    metrics.preset("notify", &[], &[]);
    for s in &notify.sinks {
        for o in Outcome::ALL {
            metrics
                .sink_deliveries
                .with_label_values(&[&s.name, o.as_str()]);
        }
    }
    let m = metrics.clone();
    let observer: canary_sinks::Observer = Arc::new(move |sink, outcome| {
        m.sink_deliveries
            .with_label_values(&[sink, outcome.as_str()])
            .inc();
    });
    let sinks = Arc::new(Sinks::start(rt, notify.sinks.clone(), observer));
    info!(sinks = ?sinks.names(), known = delivered.keys.len(), "notify stage");
    let delivered = Arc::new(Mutex::new(delivered));
    let mut feeds = Vec::new();
    if notify.sinks.iter().any(|s| s.events.alert) {
        feeds.push((Feed::Alerts, common.clone()));
    }
    if sinks.wants_triage() {
        // Its own group: each topic's offsets are stored as its own records
        // settle, and neither loop waits on the other's rebalances.
        let mut c = common.clone();
        c.input = c.topics.triage.clone();
        c.group = format!("{}-triage", c.group);
        feeds.push((Feed::Triage, c));
    }
    let processor = |feed| Notify {
        feed,
        topics: common.topics.clone(),
        sinks: sinks.clone(),
        delivered: delivered.clone(),
        offered: Vec::new(),
        stop: stop.clone(),
        shutdown_timeout: opts.shutdown_timeout,
    };
    let results: Vec<Result<(), Error>> = std::thread::scope(|scope| {
        let loops: Vec<_> = feeds
            .iter()
            .map(|(feed, c)| {
                let p = processor(*feed);
                let producer = producer.clone();
                scope.spawn(move || {
                    // A loop that fails sets `stop`, which ends the other one.
                    runner::run_loop(StageName::Notify, c, producer, p, metrics, stop).map(drop)
                })
            })
            .collect();
        loops
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    // A stop before consuming is no failure (see `run_notify`).
    if let Some(e) = results
        .into_iter()
        .filter_map(Result::err)
        .find(|e| !matches!(e, Error::Stopped))
    {
        return Err(e);
    }
    // Everything offered was settled before its offsets were stored: what is
    // still queued here is a re-send of a firing alert, which may go.
    if let Ok(sinks) = Arc::try_unwrap(sinks) {
        let _ = sinks.shutdown(Duration::from_secs(1));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_keys_survive_a_reopen_and_a_cut_line_does_not_count() {
        let dir = std::env::temp_dir().join(format!("canary-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut d = Delivered::open(&dir).unwrap();
        d.record(&["a/firing".into(), "a/resolved".into()]).unwrap();
        drop(d);
        // A crash in the middle of a write leaves a line without its end mark.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join("notify-delivered.keys"))
            .unwrap();
        f.write_all(b"b/fir").unwrap();
        let d = Delivered::open(&dir).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let mut keys: Vec<&str> = d.keys.iter().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["a/firing", "a/resolved"]);
    }

    #[test]
    fn only_the_newest_keys_are_kept_and_the_file_is_rewritten_with_them() {
        let dir = std::env::temp_dir().join(format!("canary-notify-keep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = |i: usize| format!("triage/acme/{i}/open");
        let mut d = Delivered::open_keeping(&dir, 3).unwrap();
        for i in 0..7 {
            d.record(&[key(i)]).unwrap();
        }
        // 7 lines > 2 × 3: rewritten with the newest three, oldest first.
        let file = std::fs::read_to_string(dir.join("notify-delivered.keys")).unwrap();
        assert_eq!(file, format!("{}\t\n{}\t\n{}\t\n", key(4), key(5), key(6)));
        assert!(!d.contains(&key(3)) && d.contains(&key(4)));
        d.record(&[key(7)]).unwrap();
        drop(d);
        // Reopened with a smaller bound: the newest survive.
        let d = Delivered::open_keeping(&dir, 2).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let mut keys: Vec<String> = d.order.iter().cloned().collect();
        keys.sort_unstable();
        assert_eq!(keys, [key(6), key(7)]);
        assert_eq!(d.keys.len(), 2);
    }
}
