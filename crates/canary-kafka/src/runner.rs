//! Consumer and producer plumbing shared by every stage: batches, delivery
//! before offsets, rebalances, dead letters and the consumer-lag metric.

use crate::Error;
use crate::admin::{client_config, ensure_topics};
use crate::config::{StageName, Topics};
use crate::producer::{OutRecord, Outputs, StageProducer, flush, producer, send};
use canary_core::time::now_ms;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::Producer;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// Settings every stage process shares.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub brokers: String,
    pub options: BTreeMap<String, String>,
    pub group: String,
    pub topics: Topics,
    /// The topic consumed (the stage's input, or the notify stage's `triage`).
    pub input: String,
    pub max_batch: usize,
    /// After a stop request, how long outputs may still wait for the broker.
    pub shutdown_timeout: Duration,
}

/// The start every stage process shares: canary's topics exist (keyed ones
/// with `keyed_partitions`), so does the directory the stage keeps its state
/// in, if it has one; then the producer of its outputs.
pub(crate) fn prepare(
    common: &Common,
    keyed_partitions: i32,
    state_dir: Option<&std::path::Path>,
    stop: &AtomicBool,
) -> Result<Arc<StageProducer>, Error> {
    ensure_topics(
        &common.brokers,
        &common.options,
        &common.topics,
        keyed_partitions,
        stop,
    )?;
    if let Some(dir) = state_dir {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
    }
    Ok(Arc::new(producer(&common.brokers, &common.options)?))
}

/// A stop request, and the deadline it sets for outputs still unacknowledged.
#[derive(Debug)]
pub(crate) struct Stopping {
    flag: Arc<AtomicBool>,
    grace: Duration,
    since: OnceLock<Instant>,
}

impl Stopping {
    pub fn new(flag: Arc<AtomicBool>, grace: Duration) -> Stopping {
        Stopping {
            flag,
            grace,
            since: OnceLock::new(),
        }
    }

    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Time left before the stage gives up on the broker (None: no stop yet).
    pub fn remaining(&self) -> Option<Duration> {
        if !self.requested() {
            return None;
        }
        let since = *self.since.get_or_init(Instant::now);
        Some(self.grace.saturating_sub(since.elapsed()))
    }

    /// A stop was requested and its grace period is over.
    pub fn give_up(&self) -> bool {
        self.remaining().is_some_and(|r| r.is_zero())
    }
}

/// One input message as a stage sees it.
pub(crate) struct InMessage<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub payload: &'a [u8],
    pub timestamp_ms: Option<i64>,
    pub control: Option<&'a [u8]>,
    /// The [`crate::FORMAT_HEADER`] value, on `raw`.
    pub format: Option<&'a [u8]>,
}

/// A stage's logic, driven by [`run_loop`].
pub(crate) trait Processor: Send + 'static {
    /// Handles one input message, appending outputs.
    fn process(&mut self, m: &InMessage<'_>, out: &mut Outputs) -> Result<(), Error>;

    /// After every output so far is delivered: the offsets (next to read, per
    /// partition) that may be stored now. `consumed` holds what was read.
    fn delivered(
        &mut self,
        consumed: &BTreeMap<i32, i64>,
        _shutdown: bool,
    ) -> Result<Option<BTreeMap<i32, i64>>, Error> {
        Ok(Some(consumed.clone()))
    }

    /// Partitions assigned: where to start each (None: the committed offset).
    fn on_assign(&mut self, partitions: &[i32]) -> Result<Vec<(i32, Option<i64>)>, Error> {
        Ok(partitions.iter().map(|&p| (p, None)).collect())
    }

    /// Partitions taken away (outputs are delivered): the offsets to store for them.
    fn on_revoke(
        &mut self,
        _partitions: &[i32],
        consumed: &BTreeMap<i32, i64>,
    ) -> Result<BTreeMap<i32, i64>, Error> {
        Ok(consumed.clone())
    }

    /// After each batch: sets the metrics of `batch` (what the loop measured)
    /// plus what the stage adds to it, through the one telemetry `emit`.
    fn report(&mut self, metrics: &canary_telemetry::Metrics, batch: canary_telemetry::Batch<'_>) {
        metrics.emit(&batch);
    }
}

struct Shared<P> {
    /// None once the loop has ended and handed the processor back.
    processor: Mutex<Option<P>>,
    producer: Arc<StageProducer>,
    /// Outputs not sent yet: envelopes held back to be packed.
    out: Mutex<Outputs>,
    consumed: Mutex<BTreeMap<i32, i64>>,
    topic: String,
    hi: Mutex<HashMap<i32, i64>>,
    error: Mutex<Option<Error>>,
    stopping: Stopping,
}

impl<P> Shared<P> {
    fn with<R>(&self, f: impl FnOnce(&mut P) -> R) -> R {
        let mut g = self.processor.lock().expect("not poisoned");
        f(g.as_mut()
            .expect("the processor is taken only after the loop"))
    }
}

struct ConsumerHooks<P> {
    shared: Arc<Shared<P>>,
}

impl<P: Processor> ClientContext for ConsumerHooks<P> {
    fn stats_raw(&self, statistics: &[u8]) {
        // High watermarks from the fetch responses (librdkafka statistics).
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(statistics) else {
            return;
        };
        let Some(parts) = v["topics"][&self.shared.topic]["partitions"].as_object() else {
            return;
        };
        let mut hi = self.shared.hi.lock().expect("not poisoned");
        for (p, s) in parts {
            if let (Ok(p), Some(h)) = (p.parse::<i32>(), s["hi_offset"].as_i64())
                && p >= 0
                && h >= 0
            {
                hi.insert(p, h);
            }
        }
    }
}

impl<P: Processor> ConsumerContext for ConsumerHooks<P> {
    fn rebalance(
        &self,
        base: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let s = &self.shared;
        let fail = |e: Error| {
            warn!(error = %e, "rebalance");
            s.error.lock().expect("not poisoned").get_or_insert(e);
        };
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                info!(partitions = ?parts, topic = %s.topic, "assigned");
                match s.with(|p| p.on_assign(&parts)) {
                    Ok(starts) => {
                        for (p, o) in starts {
                            if let Some(o) = o {
                                let _ = tpl.set_partition_offset(&s.topic, p, Offset::Offset(o));
                            }
                        }
                    }
                    Err(e) => fail(e),
                }
                if let Err(e) = base.assign(tpl) {
                    fail(e.into());
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                info!(partitions = ?parts, topic = %s.topic, "revoked");
                // Held-back envelopes first: the offsets stored below cover
                // inputs whose outputs may still wait to be packed.
                let r = send_held(s)
                    .and_then(|()| flush(&s.producer, &s.stopping))
                    .and_then(|()| {
                        let mut consumed = s.consumed.lock().expect("not poisoned");
                        let mine: BTreeMap<i32, i64> = consumed
                            .iter()
                            .filter(|(p, _)| parts.contains(p))
                            .map(|(&p, &o)| (p, o))
                            .collect();
                        let store = s.with(|p| p.on_revoke(&parts, &mine))?;
                        store_offsets(base, &s.topic, &store)?;
                        if !store.is_empty() {
                            // When stopping, the consumer's close commits them
                            // (bounded); a synchronous commit could wait on a
                            // dead broker.
                            let mode = if s.stopping.requested() {
                                CommitMode::Async
                            } else {
                                CommitMode::Sync
                            };
                            commit(base, mode)?;
                        }
                        consumed.retain(|p, _| !parts.contains(p));
                        Ok(())
                    });
                if let Err(e) = r {
                    fail(e);
                }
                let _ = base.unassign();
            }
            other => {
                warn!(error = ?other, "rebalance error");
                let _ = base.unassign();
            }
        }
    }
}

/// Sends every output held back for packing, so that a flush covers it.
fn send_held<P>(s: &Shared<P>) -> Result<(), Error> {
    let mut out = s.out.lock().expect("not poisoned");
    let mut ready = Vec::new();
    out.drain_ready(true, &mut ready);
    for r in ready {
        send(&s.producer, &r, &s.stopping)?;
        out.recycle(r.payload);
    }
    Ok(())
}

/// Commits the stored offsets; nothing new to commit is not an error.
fn commit<C: ConsumerContext>(c: &BaseConsumer<C>, mode: CommitMode) -> Result<(), Error> {
    match c.commit_consumer_state(mode) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        // The group moved on without us (session timeout, e.g. a paused
        // broker): the new owner resumes from the last commit, and so do we
        // after rejoining.
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::AssignmentLost)) => {
            warn!("assignment lost before the commit; outputs since the last commit will repeat");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn store_offsets<C: ConsumerContext>(
    c: &BaseConsumer<C>,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
) -> Result<(), Error> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    for (&p, &o) in offsets {
        tpl.add_partition_offset(topic, p, Offset::Offset(o))?;
    }
    match c.store_offsets(&tpl) {
        Ok(()) => Ok(()),
        // A partition lost meanwhile: its new owner resumes from what was stored before.
        Err(KafkaError::StoreOffset(RDKafkaErrorCode::State)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Leaves the group within the stop's grace period (at least `floor`), or
/// abandons the consumer: rdkafka's drop would wait for the broker forever.
fn close<C: ConsumerContext>(consumer: BaseConsumer<C>, stopping: &Stopping, floor: Duration) {
    let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
    // Nothing assigned (a join still pending, or the broker unreachable):
    // there is nothing to revoke or commit, and tansu answers the leave only
    // after the pending join, so do not wait long for it.
    let limit = if assigned == 0 {
        Duration::from_secs(1)
    } else {
        stopping.remaining().unwrap_or(floor).max(floor)
    };
    let until = Instant::now() + limit;
    match consumer.close_queue() {
        Ok(()) => {
            while !consumer.closed() && Instant::now() < until {
                consumer.poll(Duration::from_millis(50));
            }
        }
        Err(e) => warn!(error = %e, "closing the consumer"),
    }
    if !consumer.closed() {
        warn!(
            assigned,
            waited_ms = limit.as_millis() as u64,
            "left without a clean group exit (broker unreachable or join pending); the group drops this member after session.timeout.ms"
        );
    }
    // Not dropped: rdkafka's drop closes again, which either waits for the
    // broker without a bound or, after a clean close, logs a spurious error.
    // Its callbacks run only inside our polls, which have ended, and the
    // process exits next.
    std::mem::forget(consumer);
}

/// Runs `processor` over `input` until `stop` is set.
pub(crate) fn run_loop<P: Processor>(
    stage: StageName,
    common: &Common,
    producer: Arc<StageProducer>,
    processor: P,
    metrics: &canary_telemetry::Metrics,
    stop: &Arc<AtomicBool>,
) -> Result<P, Error> {
    let input = common.input.clone();
    let shared = Arc::new(Shared {
        processor: Mutex::new(Some(processor)),
        producer: producer.clone(),
        out: Mutex::new(Outputs::default()),
        consumed: Mutex::new(BTreeMap::new()),
        topic: input.clone(),
        hi: Mutex::new(HashMap::new()),
        error: Mutex::new(None),
        stopping: Stopping::new(stop.clone(), common.shutdown_timeout),
    });
    let stopping = &shared.stopping;
    let mut cfg = client_config(&common.brokers, &BTreeMap::new());
    cfg.set("group.id", &common.group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "1000")
        .set("session.timeout.ms", "45000")
        // Once a stage falls behind, librdkafka's read-ahead fills its local
        // queue (64 MB) and then pauses fetching for this long (1 s by
        // default), while the stage empties the queue in a fraction of that.
        .set("fetch.queue.backoff.ms", "20")
        .set("partition.assignment.strategy", "roundrobin");
    for (k, v) in &common.options {
        cfg.set(k, v);
    }
    let consumer: BaseConsumer<ConsumerHooks<P>> = cfg.create_with_context(ConsumerHooks {
        shared: shared.clone(),
    })?;
    consumer.subscribe(&[&input])?;
    info!(stage = stage.as_str(), topic = %input, group = %common.group, "consuming");

    let lag = &metrics.kafka_consumer_lag;
    let mut ready: Vec<OutRecord> = Vec::new();
    let mut last_lag = Instant::now();
    let result = (|| -> Result<(), Error> {
        while !stopping.requested() {
            if let Some(e) = shared.error.lock().expect("not poisoned").take() {
                return Err(e);
            }
            let mut n = 0usize;
            let t_batch = Instant::now();
            let mut wait = Duration::from_millis(100);
            while n < common.max_batch {
                let Some(m) = consumer.poll(wait) else { break };
                wait = Duration::ZERO;
                let m = match m {
                    Ok(m) => m,
                    Err(e) => {
                        debug!(error = %e, "consumer");
                        // Errors (broker down, ...) come back at once: pause
                        // so an unreachable broker does not busy-spin the stage.
                        std::thread::sleep(Duration::from_millis(100));
                        break;
                    }
                };
                n += 1;
                let (mut control, mut format) = (None, None);
                if let Some(hs) = m.headers() {
                    for h in hs.iter() {
                        match h.key {
                            crate::CONTROL_HEADER => control = h.value,
                            crate::FORMAT_HEADER => format = h.value,
                            _ => {}
                        }
                    }
                }
                let inm = InMessage {
                    topic: m.topic(),
                    partition: m.partition(),
                    offset: m.offset(),
                    payload: m.payload().unwrap_or_default(),
                    timestamp_ms: m.timestamp().to_millis(),
                    control,
                    format,
                };
                // Not held across the consumer's poll, whose rebalance
                // callback sends what is held back.
                let mut out = shared.out.lock().expect("not poisoned");
                shared.with(|p| p.process(&inm, &mut out))?;
                shared
                    .consumed
                    .lock()
                    .expect("not poisoned")
                    .insert(m.partition(), m.offset() + 1);
                out.drain_ready(false, &mut ready);
                for r in ready.drain(..) {
                    send(&producer, &r, stopping)?;
                    out.recycle(r.payload);
                }
            }
            let busy = t_batch.elapsed();
            // Packed envelopes leave with their batch, before its offsets are stored.
            send_held(&shared)?;
            let t_flush = Instant::now();
            if n > 0 || producer.in_flight_count() > 0 {
                flush(&producer, stopping)?;
            }
            if n > 0 {
                debug!(
                    n,
                    busy_us = (t_flush - t_batch).as_micros() as u64,
                    flush_us = t_flush.elapsed().as_micros() as u64,
                    "batch"
                );
            }
            let consumed = shared.consumed.lock().expect("not poisoned").clone();
            let store = shared.with(|p| p.delivered(&consumed, false))?;
            if let Some(store) = store {
                store_offsets(&consumer, &input, &store)?;
            }
            // Only a batch that took records in counts as one: the stall
            // alert must see a stage that polls but gets nowhere.
            if n > 0 {
                let mut out = shared.out.lock().expect("not poisoned");
                let t = &out.tally;
                let batch = canary_telemetry::Batch {
                    stage: stage.as_str(),
                    records: n as u64,
                    busy,
                    now_ms: now_ms(),
                    dropped: &t.dropped,
                    dead_letters: &t.dead_letters,
                    notices: &t.notices,
                    ..Default::default()
                };
                shared.with(|p| p.report(metrics, batch));
                out.tally.clear();
            }
            if last_lag.elapsed() >= Duration::from_secs(1) {
                last_lag = Instant::now();
                let hi = shared.hi.lock().expect("not poisoned").clone();
                for (p, next) in &consumed {
                    if let Some(h) = hi.get(p) {
                        lag.with_label_values(&[stage.as_str(), &input, &p.to_string()])
                            .set((h - next).max(0));
                    }
                }
            }
        }
        Ok(())
    })();
    // Leave cleanly: outputs delivered, state saved, offsets committed. After
    // a failure nothing more is stored: what was not delivered is read again.
    let finish = result.as_ref().map_err(|_| ()).ok().map(|()| {
        flush(&producer, stopping)?;
        let consumed = shared.consumed.lock().expect("not poisoned").clone();
        let store = shared.with(|p| p.delivered(&consumed, true))?;
        if let Some(store) = store {
            store_offsets(&consumer, &input, &store)?;
            if !store.is_empty() {
                // Async: the close below waits for it, within its bound.
                commit(&consumer, CommitMode::Async)?;
            }
        }
        Ok::<(), Error>(())
    });
    if !stopping.requested() {
        // Failing without a stop request: the close still gets a deadline.
        stop.store(true, Ordering::Relaxed);
    }
    close(consumer, stopping, Duration::from_secs(2));
    let late = shared.error.lock().expect("not poisoned").take();
    result?;
    finish.unwrap_or(Ok(()))?;
    if let Some(e) = late {
        return Err(e);
    }
    let p = shared.processor.lock().expect("not poisoned").take();
    Ok(p.expect("taken once"))
}
