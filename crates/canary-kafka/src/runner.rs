//! Consumer and producer plumbing shared by every stage: batches, delivery
//! before offsets, rebalances, dead letters and the consumer-lag metric.

use crate::Error;
use crate::config::{StageName, Topics};
use canary_core::DeadLetter;
use canary_core::time::now_ms;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    pub max_batch: usize,
    /// After a stop request, how long outputs may still wait for the broker.
    pub shutdown_timeout: Duration,
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

fn client_config(brokers: &str, options: &BTreeMap<String, String>) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    for (k, v) in options {
        c.set(k, v);
    }
    c
}

/// An idempotent producer with canary's defaults; `options` override them.
fn producer_config(brokers: &str, options: &BTreeMap<String, String>) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        // Fewer, larger produce requests: at 5 ms the stages and the broker
        // spent about half their CPU on request overhead. A stage flushes
        // after every batch anyway, so this adds at most 20 ms per hop.
        .set("linger.ms", "20")
        // JSON compresses well; the broker then stores and serves a quarter
        // of the bytes (tansu's CPU per status fell by more than half).
        .set("compression.type", "lz4")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        // A paused or restarting broker must not make outputs expire.
        .set("message.timeout.ms", "600000");
    for (k, v) in options {
        c.set(k, v);
    }
    c
}

/// Counts failed deliveries; the loop refuses to store offsets after one.
#[derive(Default)]
pub(crate) struct DeliveryCtx {
    failed: AtomicU64,
    /// The idempotent producer has its producer id (from statistics, when
    /// they are enabled): until then nothing is sent.
    pid_assigned: AtomicBool,
}

impl ClientContext for DeliveryCtx {
    fn stats_raw(&self, statistics: &[u8]) {
        let key = br#""idemp_state""#;
        if let Some(i) = memchr::memmem::find(statistics, key) {
            let value = statistics[i + key.len()..].trim_ascii_start();
            let value = value.strip_prefix(b":").unwrap_or(value).trim_ascii_start();
            if value.starts_with(br#""Assigned""#) {
                self.pid_assigned.store(true, Ordering::Relaxed);
            }
        }
    }
}

impl ProducerContext for DeliveryCtx {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = r {
            // One line per failing flush, not per record: a purge on the way
            // out fails every queued record at once.
            if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                warn!(error = %e, topic = m.topic(), "delivery failed");
            } else {
                debug!(error = %e, topic = m.topic(), "delivery failed");
            }
        }
    }
}

pub(crate) type Prod = BaseProducer<DeliveryCtx>;

pub(crate) fn producer(brokers: &str, options: &BTreeMap<String, String>) -> Result<Prod, Error> {
    Ok(producer_config(brokers, options).create_with_context(DeliveryCtx::default())?)
}

/// One output record.
#[derive(Debug, Clone)]
pub(crate) struct OutRec {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

/// A packed message is closed once it holds this many bytes: far below the
/// producer's `message.max.bytes` (1 MB), large enough that per-message costs
/// (librdkafka, lz4 frames, the broker) no longer matter.
const PACK_BYTES: usize = 256 * 1024;

/// Envelopes for one topic partition, packed into one message.
struct Pack {
    topic: String,
    partition: i32,
    buf: Vec<u8>,
    n: usize,
}

impl Pack {
    fn finish(mut self) -> OutRec {
        crate::message::pack_end(&mut self.buf);
        OutRec {
            topic: self.topic,
            partition: Some(self.partition),
            key: Vec::new(),
            payload: self.buf,
            headers: Vec::new(),
        }
    }
}

/// A stage's outputs: records sent one per message (dead letters, alerts,
/// windows), and envelopes packed with the others for the same topic
/// partition, in order, into few messages.
#[derive(Default)]
pub(crate) struct Out {
    recs: Vec<OutRec>,
    packs: Vec<Pack>,
    spare: Vec<Vec<u8>>,
}

impl Out {
    /// A record of its own.
    pub fn push(&mut self, r: OutRec) {
        self.recs.push(r);
    }

    /// An envelope for `topic` partition `partition`.
    pub fn pack(&mut self, topic: &str, partition: i32, env: &crate::message::Envelope) {
        let p = self.pack_for(topic, partition);
        crate::message::pack_next(&mut p.buf, p.n == 0);
        // Straight into the message: no copy of the envelope's JSON.
        serde_json::to_writer(&mut p.buf, env).expect("envelopes always serialize");
        p.n += 1;
    }

    /// An envelope already serialised.
    pub fn pack_json(&mut self, topic: &str, partition: i32, env: &[u8]) {
        let p = self.pack_for(topic, partition);
        crate::message::pack_next(&mut p.buf, p.n == 0);
        p.buf.extend_from_slice(env);
        p.n += 1;
    }

    fn pack_for(&mut self, topic: &str, partition: i32) -> &mut Pack {
        let i = match self
            .packs
            .iter()
            .position(|p| p.partition == partition && p.topic == topic)
        {
            Some(i) => i,
            None => {
                // Sized for a full message, so it never grows by copying.
                let mut buf = self
                    .spare
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(PACK_BYTES + PACK_BYTES / 2));
                crate::message::pack_start(&mut buf);
                self.packs.push(Pack {
                    topic: topic.to_owned(),
                    partition,
                    buf,
                    n: 0,
                });
                self.packs.len() - 1
            }
        };
        &mut self.packs[i]
    }

    /// Takes back a sent message's buffer for the next pack: fresh large
    /// buffers cost page faults each time.
    fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() >= PACK_BYTES && self.spare.len() < 16 {
            self.spare.push(buf);
        }
    }

    /// What is ready to send: the records, and the packs that are full (or
    /// every pack, with `all`).
    pub(crate) fn drain_ready(&mut self, all: bool, into: &mut Vec<OutRec>) {
        into.append(&mut self.recs);
        let mut i = 0;
        while i < self.packs.len() {
            if all || self.packs[i].buf.len() >= PACK_BYTES {
                into.push(self.packs.swap_remove(i).finish());
            } else {
                i += 1;
            }
        }
    }
}

/// Sends, waiting while the local queue is full (backpressure) unless
/// `stopping` has run out of patience.
pub(crate) fn send(p: &Prod, r: &OutRec, stopping: &Stopping) -> Result<(), Error> {
    let rec = Borrowed {
        topic: &r.topic,
        partition: r.partition,
        key: &r.key,
        payload: &r.payload,
        headers: &r.headers,
    };
    send_borrowed(p, rec, stopping)
}

/// An output whose parts are borrowed (librdkafka copies them).
struct Borrowed<'a> {
    topic: &'a str,
    partition: Option<i32>,
    key: &'a [u8],
    payload: &'a [u8],
    headers: &'a [(&'static str, String)],
}

fn send_borrowed(p: &Prod, r: Borrowed<'_>, stopping: &Stopping) -> Result<(), Error> {
    let mut rec = BaseRecord::to(r.topic).payload(r.payload).key(r.key);
    // An empty header list still costs a native allocation per message.
    if !r.headers.is_empty() {
        let mut h = OwnedHeaders::new_with_capacity(r.headers.len());
        for (k, v) in r.headers {
            h = h.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        rec = rec.headers(h);
    }
    if let Some(part) = r.partition {
        rec = rec.partition(part);
    }
    let mut served = false;
    loop {
        match p.send(rec) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                if stopping.give_up() {
                    return Err(undelivered(p));
                }
                rec = back;
                // Delivered messages hold their queue space until their
                // reports are served: serve them and retry at once; if that
                // freed nothing, wait for the broker. Not a timed poll: rdkafka
                // spins on the clock for the last millisecond of one.
                if served {
                    std::thread::sleep(Duration::from_micros(500));
                }
                p.poll(Duration::ZERO);
                served = true;
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

fn undelivered(p: &Prod) -> Error {
    let n = p.in_flight_count().max(0) as u64;
    warn!(
        undelivered = n,
        "stopping with outputs the broker has not acknowledged; their inputs' offsets are not stored, so a restarted stage processes them again"
    );
    Error::Undelivered(n)
}

/// Waits until every record sent so far is acknowledged; fails if any was not,
/// or when `stopping` gives up on the broker first.
pub(crate) fn flush(p: &Prod, stopping: &Stopping) -> Result<(), Error> {
    let started = Instant::now();
    let mut warned = started;
    while p.in_flight_count() > 0 {
        if stopping.give_up() {
            p.context().failed.swap(0, Ordering::Relaxed);
            return Err(undelivered(p));
        }
        // Not BaseProducer::flush: it waits in whole 100 ms poll slices, which
        // made every batch of every stage take 100 ms. Nor a short timed
        // poll: rdkafka spins on the clock for the sub-millisecond rest of
        // any poll timeout. So: serve what is ready, then sleep briefly
        // (longer once the broker is slow, so a dead one keeps no core awake).
        for _ in 0..16 {
            p.poll(Duration::ZERO);
        }
        if p.in_flight_count() == 0 {
            break;
        }
        let wait_ms = if started.elapsed() < Duration::from_secs(1) {
            1
        } else {
            20
        };
        // The wait itself is librdkafka's flush: while it lasts, broker
        // threads send what is queued at once instead of after `linger.ms`.
        // With event-mode delivery reports (rdkafka's) it only waits: the
        // reports are served by the polls above.
        // SAFETY: the handle is valid for the producer's lifetime.
        unsafe {
            rdkafka::bindings::rd_kafka_flush(p.client().native_ptr(), wait_ms);
        }
        if warned.elapsed() >= Duration::from_secs(10) {
            warn!(
                in_flight = p.in_flight_count(),
                "outputs still unacknowledged; waiting for the broker"
            );
            warned = Instant::now();
        }
    }
    let failed = p.context().failed.swap(0, Ordering::Relaxed);
    if failed > 0 {
        return Err(Error::Delivery(failed));
    }
    Ok(())
}

/// A dead letter for a record that ingest read from `raw` at `src`:
/// source, offset and `source_index` name the line on `raw` (the message
/// `m` it arrived in now holds only canary's record); without `src` (a
/// record from an older build), `m` and `index` as [`dead_letter`] does.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dead_letter_at_line(
    topics: &Topics,
    stage: StageName,
    reason: &str,
    detail: String,
    m: &In<'_>,
    index: Option<usize>,
    src: Option<crate::message::RawPos>,
    raw: &[u8],
) -> OutRec {
    let Some(src) = src else {
        return dead_letter(topics, stage, reason, detail, m, index, raw);
    };
    let line = In {
        topic: &topics.raw,
        partition: src.p,
        offset: src.o,
        ..*m
    };
    let index = src.i.map(|i| i as usize);
    dead_letter(topics, stage, reason, detail, &line, index, raw)
}

/// A dead letter for the DLQ topic, with the headers operators filter on.
/// `index`: the record's position within a message that packs several (it
/// then extends the key and has a `source_index` header).
pub(crate) fn dead_letter(
    topics: &Topics,
    stage: StageName,
    reason: &str,
    detail: String,
    m: &In<'_>,
    index: Option<usize>,
    raw: &[u8],
) -> OutRec {
    let (source_topic, partition, offset) = (m.topic, m.partition, m.offset);
    let source = format!("{source_topic}/{partition}");
    let payload = match std::str::from_utf8(raw) {
        // The common case, written from borrowed parts.
        Ok(raw) => serde_json::to_vec(&DeadLetterRef {
            v: canary_core::RECORD_VERSION,
            stage: stage.as_str(),
            reason,
            detail: &detail,
            source: &source,
            offset: offset.max(0) as u64,
            raw,
            encoding: "utf8",
        }),
        Err(_) => serde_json::to_vec(&DeadLetter::new(
            stage.as_str(),
            reason,
            detail,
            &source,
            offset.max(0) as u64,
            raw,
        )),
    }
    .expect("dead letters serialize");
    let mut key = format!("{source_topic}/{partition}/{offset}");
    let mut headers = vec![
        ("stage", stage.as_str().into()),
        ("reason", reason.into()),
        ("source_topic", source_topic.into()),
        ("source_partition", partition.to_string()),
        ("source_offset", offset.to_string()),
    ];
    if let Some(i) = index {
        key.push_str(&format!("/{i}"));
        headers.push(("source_index", i.to_string()));
    }
    OutRec {
        topic: topics.dead_letters.clone(),
        partition: None,
        key: key.into_bytes(),
        payload,
        headers,
    }
}

/// [`DeadLetter`]'s JSON (same fields, same order) without copying its parts.
#[derive(serde::Serialize)]
struct DeadLetterRef<'a> {
    v: u16,
    stage: &'a str,
    reason: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    detail: &'a str,
    source: &'a str,
    offset: u64,
    raw: &'a str,
    encoding: &'a str,
}

/// One input message as a stage sees it.
pub(crate) struct In<'a> {
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
    fn process(&mut self, m: &In<'_>, out: &mut Out) -> Result<(), Error>;

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
    producer: Arc<Prod>,
    /// Outputs not sent yet: envelopes held back to be packed.
    out: Mutex<Out>,
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

struct Ctx<P> {
    shared: Arc<Shared<P>>,
}

impl<P: Processor> ClientContext for Ctx<P> {
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

impl<P: Processor> ConsumerContext for Ctx<P> {
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
    producer: Arc<Prod>,
    processor: P,
    metrics: &canary_telemetry::Metrics,
    stop: &Arc<AtomicBool>,
) -> Result<P, Error> {
    let input = stage.input(&common.topics).to_owned();
    let shared = Arc::new(Shared {
        processor: Mutex::new(Some(processor)),
        producer: producer.clone(),
        out: Mutex::new(Out::default()),
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
    let consumer: BaseConsumer<Ctx<P>> = cfg.create_with_context(Ctx {
        shared: shared.clone(),
    })?;
    consumer.subscribe(&[&input])?;
    info!(stage = stage.as_str(), topic = %input, group = %common.group, "consuming");

    let lag = &metrics.kafka_consumer_lag;
    let mut ready: Vec<OutRec> = Vec::new();
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
                let inm = In {
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
                let batch = canary_telemetry::Batch {
                    stage: stage.as_str(),
                    records: n as u64,
                    busy,
                    now_ms: now_ms(),
                    ..Default::default()
                };
                shared.with(|p| p.report(metrics, batch));
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

/// Creates canary's topics that do not exist yet (others are left as they are).
/// Gives up with [`Error::Stopped`] as soon as `stop` is set: an unreachable
/// broker would otherwise hold a stopping process for the request timeout.
pub fn ensure_topics(
    brokers: &str,
    options: &BTreeMap<String, String>,
    topics: &Topics,
    keyed_partitions: i32,
    stop: &AtomicBool,
) -> Result<(), Error> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers, options).create()?;
    let news: Vec<NewTopic<'_>> = topics
        .all(keyed_partitions)
        .into_iter()
        .map(|(name, parts)| NewTopic::new(name, parts, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|source| Error::Io {
            what: "runtime".into(),
            source,
        })?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let mut request = Box::pin(admin.create_topics(&news, &opts));
    let results = loop {
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Stopped);
        }
        let slice = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(100), &mut request).await
        });
        if let Ok(r) = slice {
            break r?;
        }
    };
    for r in results {
        match r {
            Ok(t) => info!(topic = %t, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => {
                return Err(Error::Topic {
                    topic: t,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Partition count of `topic`, from broker metadata.
pub(crate) fn partition_count(
    brokers: &str,
    options: &BTreeMap<String, String>,
    topic: &str,
    stop: &AtomicBool,
) -> Result<i32, Error> {
    let c: BaseConsumer = client_config(brokers, options).create()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Stopped);
        }
        // Short requests, so a stop is noticed while the broker is away.
        let n = match c.fetch_metadata(Some(topic), Duration::from_secs(1)) {
            Ok(md) => md
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .filter(|t| t.error().is_none())
                .map_or(0, |t| t.partitions().len()),
            Err(KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut)) => 0,
            Err(e) => return Err(e.into()),
        };
        if n > 0 {
            return Ok(n as i32);
        }
        if Instant::now() >= deadline {
            return Err(Error::Topic {
                topic: topic.into(),
                message: "no partitions (does the topic exist?)".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Writes raw lines into the `raw` topic (partition 0, in order) for replays.
///
/// Lines are packed, several to a message (`\n`-separated, header
/// [`crate::FORMAT_HEADER`]: [`crate::FORMAT_JSON_LINES`]), up to
/// 256 KiB: per-message costs in librdkafka, the broker and ingest
/// then no longer scale with the number of lines. A pack of one line goes
/// out as a plain message, as a connector would write it.
pub struct RawProducer {
    producer: Prod,
    topic: String,
    dead_letters: String,
    sent: u64,
    dead: u64,
    pack: Vec<u8>,
    lines: usize,
    /// The pack holds canary records, not input lines.
    records: bool,
    /// `message.max.bytes`, less room for the record's framing.
    max_line: usize,
    stopping: Stopping,
}

impl RawProducer {
    /// A producer for `topics.raw`; once `stop` is set, lines still
    /// unacknowledged after `grace` are given up ([`Error::Undelivered`]).
    pub fn new(
        brokers: &str,
        options: &BTreeMap<String, String>,
        topics: &Topics,
        stop: Arc<AtomicBool>,
        grace: Duration,
    ) -> Result<RawProducer, Error> {
        // Statistics only to see the producer id arrive (see `wait_ready`).
        let mut options = options.clone();
        options
            .entry("statistics.interval.ms".into())
            .or_insert_with(|| "100".into());
        // A file is read far faster than the broker takes it. A queue of
        // about what five in-flight requests carry keeps librdkafka from
        // holding a ready batch it may not send yet (its broker thread then
        // polls in a loop: a third of the replay's CPU) and from faulting in
        // up to 1 GB of buffers; the replay waits for room instead.
        options
            .entry("queue.buffering.max.kbytes".into())
            .or_insert_with(|| "4096".into());
        let max_message = options
            .get("message.max.bytes")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1_000_000);
        Ok(RawProducer {
            max_line: max_message.saturating_sub(1024),
            producer: producer(brokers, &options)?,
            topic: topics.raw.clone(),
            dead_letters: topics.dead_letters.clone(),
            sent: 0,
            dead: 0,
            pack: Vec::with_capacity(PACK_BYTES + PACK_BYTES / 2),
            lines: 0,
            records: false,
            stopping: Stopping::new(stop, grace),
        })
    }

    /// Waits (up to `limit`) until the broker has given the idempotent
    /// producer its id, so that a replay's clock and its first lines do not
    /// include librdkafka's retry of that request (500 ms when it is made
    /// before a broker connection is up). Returns whether it was given.
    pub fn wait_ready(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while !self.producer.context().pid_assigned.load(Ordering::Relaxed) {
            if Instant::now() >= until || self.stopping.requested() {
                return false;
            }
            self.producer.poll(Duration::ZERO);
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// The longest line (or record) one raw message can carry: the
    /// producer's `message.max.bytes` less framing. A longer one would fail
    /// the whole replay; the replay dead-letters it instead.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line
    }

    /// Adds one line (without its `\n`) to the pack, sending the pack when
    /// it is full (waits while the local queue is full).
    pub fn send_line(&mut self, line: &[u8]) -> Result<(), Error> {
        self.add(line, false)
    }

    /// Adds the JSON of a record the replay parsed itself (see
    /// [`crate::FORMAT_RECORDS`]).
    pub fn send_record_json(&mut self, json: &[u8]) -> Result<(), Error> {
        self.add(json, true)
    }

    /// Sends a dead letter the replay's reader produced (a bad CSV row, a
    /// read error) to the dead-letter topic, keyed and with headers like the
    /// stages' (`source` is then the input file, `source_line` its line).
    pub fn send_dead_letter(&mut self, d: &canary_core::DeadLetter) -> Result<(), Error> {
        let headers = [
            ("stage", d.stage.clone()),
            ("reason", d.reason.clone()),
            ("source", d.source.clone()),
            ("source_line", d.offset.to_string()),
        ];
        self.dead += 1;
        let key = format!("{}/{}", d.source, d.offset);
        let payload = serde_json::to_vec(d).expect("dead letters serialize");
        let rec = Borrowed {
            topic: &self.dead_letters,
            partition: None,
            key: key.as_bytes(),
            payload: &payload,
            headers: &headers,
        };
        send_borrowed(&self.producer, rec, &self.stopping)
    }

    fn add(&mut self, line: &[u8], records: bool) -> Result<(), Error> {
        if self.lines > 0
            && (self.records != records || self.pack.len() + 1 + line.len() > PACK_BYTES)
        {
            self.send_pack()?;
        }
        self.records = records;
        if self.lines > 0 {
            self.pack.push(b'\n');
        }
        self.pack.extend_from_slice(line);
        self.lines += 1;
        self.sent += 1;
        if self.pack.len() >= PACK_BYTES {
            self.send_pack()?;
        }
        Ok(())
    }

    /// Sends the lines packed so far: before the replay waits (pacing, a
    /// slow input), so that no line waits with it.
    pub fn send_pack(&mut self) -> Result<(), Error> {
        if self.lines == 0 {
            return Ok(());
        }
        let headers = if self.records {
            vec![(crate::FORMAT_HEADER, crate::FORMAT_RECORDS.into())]
        } else if self.lines > 1 {
            vec![(crate::FORMAT_HEADER, crate::FORMAT_JSON_LINES.into())]
        } else {
            Vec::new()
        };
        let r = OutRec {
            topic: self.topic.clone(),
            partition: Some(0),
            key: Vec::new(),
            payload: std::mem::take(&mut self.pack),
            headers,
        };
        let sent = send(&self.producer, &r, &self.stopping);
        self.pack = r.payload;
        self.pack.clear();
        self.lines = 0;
        self.producer.poll(Duration::ZERO);
        sent
    }

    /// Queues the end-of-replay marker after the lines: downstream closes
    /// every window.
    pub fn send_end(&mut self) -> Result<(), Error> {
        self.send_pack()?;
        send(
            &self.producer,
            &OutRec {
                topic: self.topic.clone(),
                partition: Some(0),
                key: Vec::new(),
                payload: Vec::new(),
                headers: vec![(crate::CONTROL_HEADER, "end".into())],
            },
            &self.stopping,
        )
    }

    /// Sends what is packed and waits until every line is acknowledged.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.send_pack()?;
        flush(&self.producer, &self.stopping)
    }

    /// Lines sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Dead letters sent so far.
    pub fn dead_letters(&self) -> u64 {
        self.dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_are_the_core_type() {
        let topics = Topics::new("t.");
        for (detail, raw) in [
            ("why", &br#"{"a":"b\"c"}"#[..]),
            ("", &b"plain"[..]),
            ("bin", &[0xff, 0xfe, 0][..]),
        ] {
            let m = In {
                topic: "t.scored",
                partition: 2,
                offset: 41,
                payload: raw,
                timestamp_ms: None,
                control: None,
                format: None,
            };
            let r = dead_letter(
                &topics,
                StageName::Aggregate,
                "late",
                detail.into(),
                &m,
                Some(3),
                raw,
            );
            let want = DeadLetter::new("aggregate", "late", detail, "t.scored/2", 41, raw);
            assert_eq!(r.payload, serde_json::to_vec(&want).expect("serializes"));
            assert_eq!(r.key, b"t.scored/2/41/3");
            assert!(r.headers.contains(&("source_index", "3".into())));
        }
    }
}
