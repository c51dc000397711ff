//! Consumer and producer plumbing shared by every stage: batches, delivery
//! before offsets, rebalances, dead letters and the consumer-lag metric.

use crate::Error;
use crate::config::{StageName, Topics};
use canary_core::DeadLetter;
use prometheus::{IntGaugeVec, Opts};
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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{debug, info, warn};

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Settings every stage process shares.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub brokers: String,
    pub options: BTreeMap<String, String>,
    pub group: String,
    pub topics: Topics,
    pub max_batch: usize,
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
        .set("linger.ms", "5")
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
}

impl ClientContext for DeliveryCtx {}

impl ProducerContext for DeliveryCtx {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = r {
            warn!(error = %e, topic = m.topic(), "delivery failed");
            self.failed.fetch_add(1, Ordering::Relaxed);
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

/// Sends, waiting while the local queue is full (backpressure).
pub(crate) fn send(p: &Prod, r: &OutRec) -> Result<(), Error> {
    let mut h = OwnedHeaders::new_with_capacity(r.headers.len());
    for (k, v) in &r.headers {
        h = h.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        });
    }
    let mut rec = BaseRecord::to(&r.topic)
        .payload(&r.payload)
        .key(&r.key)
        .headers(h);
    if let Some(part) = r.partition {
        rec = rec.partition(part);
    }
    loop {
        match p.send(rec) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                rec = back;
                p.poll(Duration::from_millis(10));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// Waits until every record sent so far is acknowledged; fails if any was not.
pub(crate) fn flush(p: &Prod) -> Result<(), Error> {
    let mut waited = Instant::now();
    while p.in_flight_count() > 0 {
        let attempt = Instant::now();
        if let Err(e) = p.flush(Duration::from_secs(1)) {
            // With the broker gone, flush can fail at once: wait out the
            // second rather than spin a core while outputs stay pending.
            if let Some(rest) = Duration::from_secs(1).checked_sub(attempt.elapsed()) {
                std::thread::sleep(rest);
            }
            if waited.elapsed() >= Duration::from_secs(10) {
                warn!(error = %e, in_flight = p.in_flight_count(), "outputs still unacknowledged; waiting for the broker");
                waited = Instant::now();
            }
        }
    }
    let failed = p.context().failed.swap(0, Ordering::Relaxed);
    if failed > 0 {
        return Err(Error::Delivery(failed));
    }
    Ok(())
}

/// A dead letter for the DLQ topic, with the headers operators filter on.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dead_letter(
    topics: &Topics,
    stage: StageName,
    reason: &str,
    detail: String,
    source_topic: &str,
    partition: i32,
    offset: i64,
    raw: &[u8],
) -> OutRec {
    let d = DeadLetter::new(
        stage.as_str(),
        reason,
        detail,
        &format!("{source_topic}/{partition}"),
        offset.max(0) as u64,
        raw,
    );
    OutRec {
        topic: topics.dead_letters.clone(),
        partition: None,
        key: format!("{source_topic}/{partition}/{offset}").into_bytes(),
        payload: serde_json::to_vec(&d).expect("dead letters serialize"),
        headers: vec![
            ("stage", stage.as_str().into()),
            ("reason", reason.into()),
            ("source_topic", source_topic.into()),
            ("source_partition", partition.to_string()),
            ("source_offset", offset.to_string()),
        ],
    }
}

/// One input message as a stage sees it.
pub(crate) struct In<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub payload: &'a [u8],
    pub key: &'a [u8],
    pub timestamp_ms: Option<i64>,
    pub control: Option<&'a [u8]>,
}

/// A stage's logic, driven by [`run_loop`].
pub(crate) trait Processor: Send + 'static {
    /// Handles one input message, appending outputs.
    fn process(&mut self, m: &In<'_>, out: &mut Vec<OutRec>) -> Result<(), Error>;

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

    /// No input for a while (live streams); may emit outputs.
    fn idle(&mut self, _out: &mut Vec<OutRec>) -> Result<(), Error> {
        Ok(())
    }
}

struct Shared<P> {
    processor: Mutex<P>,
    producer: Arc<Prod>,
    consumed: Mutex<BTreeMap<i32, i64>>,
    topic: String,
    hi: Mutex<HashMap<i32, i64>>,
    error: Mutex<Option<Error>>,
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
            if let (Ok(p), Some(h)) = (p.parse::<i32>(), s["hi_offset"].as_i64()) {
                if p >= 0 && h >= 0 {
                    hi.insert(p, h);
                }
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
                match s.processor.lock().expect("not poisoned").on_assign(&parts) {
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
                let r = flush(&s.producer).and_then(|()| {
                    let mut consumed = s.consumed.lock().expect("not poisoned");
                    let mine: BTreeMap<i32, i64> = consumed
                        .iter()
                        .filter(|(p, _)| parts.contains(p))
                        .map(|(&p, &o)| (p, o))
                        .collect();
                    let store = s
                        .processor
                        .lock()
                        .expect("not poisoned")
                        .on_revoke(&parts, &mine)?;
                    store_offsets(base, &s.topic, &store)?;
                    if !store.is_empty() {
                        commit(base)?;
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

/// Commits the stored offsets now; nothing new to commit is not an error.
fn commit<C: ConsumerContext>(c: &BaseConsumer<C>) -> Result<(), Error> {
    match c.commit_consumer_state(CommitMode::Sync) {
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

/// The consumer-lag gauge, registered once per process.
pub(crate) fn lag_gauge(metrics: &canary_telemetry::Metrics) -> Result<IntGaugeVec, Error> {
    let g = IntGaugeVec::new(
        Opts::new(
            "canary_kafka_consumer_lag",
            "Messages behind the partition's high watermark, from consumed offsets",
        ),
        &["stage", "topic", "partition"],
    )?;
    match metrics.registry().register(Box::new(g.clone())) {
        Ok(()) | Err(prometheus::Error::AlreadyReg) => Ok(g),
        Err(e) => Err(e.into()),
    }
}

/// Runs `processor` over `input` until `stop` is set.
pub(crate) fn run_loop<P: Processor>(
    stage: StageName,
    common: &Common,
    producer: Arc<Prod>,
    processor: P,
    metrics: &canary_telemetry::Metrics,
    stop: &AtomicBool,
    idle_every: Option<Duration>,
) -> Result<P, Error> {
    let input = stage.input(&common.topics).to_owned();
    let shared = Arc::new(Shared {
        processor: Mutex::new(processor),
        producer: producer.clone(),
        consumed: Mutex::new(BTreeMap::new()),
        topic: input.clone(),
        hi: Mutex::new(HashMap::new()),
        error: Mutex::new(None),
    });
    let mut cfg = client_config(&common.brokers, &BTreeMap::new());
    cfg.set("group.id", &common.group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "1000")
        .set("session.timeout.ms", "45000")
        .set("partition.assignment.strategy", "roundrobin");
    for (k, v) in &common.options {
        cfg.set(k, v);
    }
    let consumer: BaseConsumer<Ctx<P>> = cfg.create_with_context(Ctx {
        shared: shared.clone(),
    })?;
    consumer.subscribe(&[&input])?;
    info!(stage = stage.as_str(), topic = %input, group = %common.group, "consuming");

    let lag = lag_gauge(metrics)?;
    let records = metrics.stage_records.with_label_values(&[stage.as_str()]);
    let mut out: Vec<OutRec> = Vec::new();
    let mut last_lag = Instant::now();
    let mut last_input = Instant::now();
    let mut last_idle = Instant::now();
    let result = (|| -> Result<(), Error> {
        while !stop.load(Ordering::Relaxed) {
            if let Some(e) = shared.error.lock().expect("not poisoned").take() {
                return Err(e);
            }
            let mut n = 0usize;
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
                let control = m
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == crate::CONTROL_HEADER))
                    .and_then(|h| h.value);
                let inm = In {
                    topic: m.topic(),
                    partition: m.partition(),
                    offset: m.offset(),
                    payload: m.payload().unwrap_or_default(),
                    key: m.key().unwrap_or_default(),
                    timestamp_ms: m.timestamp().to_millis(),
                    control,
                };
                shared
                    .processor
                    .lock()
                    .expect("not poisoned")
                    .process(&inm, &mut out)?;
                shared
                    .consumed
                    .lock()
                    .expect("not poisoned")
                    .insert(m.partition(), m.offset() + 1);
                for r in out.drain(..) {
                    send(&producer, &r)?;
                }
            }
            records.inc_by(n as u64);
            if n > 0 {
                last_input = Instant::now();
            } else if let Some(every) = idle_every {
                if last_input.elapsed() >= every && last_idle.elapsed() >= every {
                    last_idle = Instant::now();
                    shared
                        .processor
                        .lock()
                        .expect("not poisoned")
                        .idle(&mut out)?;
                    for r in out.drain(..) {
                        send(&producer, &r)?;
                    }
                }
            }
            producer.poll(Duration::ZERO);
            if n > 0 || producer.in_flight_count() > 0 {
                flush(&producer)?;
            }
            let consumed = shared.consumed.lock().expect("not poisoned").clone();
            let store = shared
                .processor
                .lock()
                .expect("not poisoned")
                .delivered(&consumed, false)?;
            if let Some(store) = store {
                store_offsets(&consumer, &input, &store)?;
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
    // Leave cleanly: outputs delivered, state saved, offsets committed.
    let finish = (|| -> Result<(), Error> {
        flush(&producer)?;
        let consumed = shared.consumed.lock().expect("not poisoned").clone();
        let store = shared
            .processor
            .lock()
            .expect("not poisoned")
            .delivered(&consumed, true)?;
        if let Some(store) = store {
            store_offsets(&consumer, &input, &store)?;
            if !store.is_empty() {
                commit(&consumer)?;
            }
        }
        Ok(())
    })();
    result?;
    finish?;
    drop(consumer);
    let shared = Arc::try_unwrap(shared)
        .map_err(|_| ())
        .expect("the consumer is gone, so is its context");
    Ok(shared.processor.into_inner().expect("not poisoned"))
}

/// Creates canary's topics that do not exist yet (others are left as they are).
pub fn ensure_topics(
    brokers: &str,
    options: &BTreeMap<String, String>,
    topics: &Topics,
    keyed_partitions: i32,
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
    let results = rt.block_on(admin.create_topics(&news, &opts))?;
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
) -> Result<i32, Error> {
    let c: BaseConsumer = client_config(brokers, options).create()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let md = c.fetch_metadata(Some(topic), Duration::from_secs(5))?;
        let n = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none())
            .map_or(0, |t| t.partitions().len());
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
pub struct RawProducer {
    producer: Prod,
    topic: String,
    sent: u64,
}

impl RawProducer {
    /// A producer for `topics.raw`.
    pub fn new(
        brokers: &str,
        options: &BTreeMap<String, String>,
        topics: &Topics,
    ) -> Result<RawProducer, Error> {
        Ok(RawProducer {
            producer: producer(brokers, options)?,
            topic: topics.raw.clone(),
            sent: 0,
        })
    }

    /// Queues one line (waits while the local queue is full).
    pub fn send_line(&mut self, line: &[u8]) -> Result<(), Error> {
        self.sent += 1;
        send(
            &self.producer,
            &OutRec {
                topic: self.topic.clone(),
                partition: Some(0),
                key: Vec::new(),
                payload: line.to_vec(),
                headers: Vec::new(),
            },
        )?;
        if self.sent % 4096 == 0 {
            self.producer.poll(Duration::ZERO);
        }
        Ok(())
    }

    /// Queues the end-of-replay marker: downstream closes every window.
    pub fn send_end(&mut self) -> Result<(), Error> {
        send(
            &self.producer,
            &OutRec {
                topic: self.topic.clone(),
                partition: Some(0),
                key: Vec::new(),
                payload: Vec::new(),
                headers: vec![(crate::CONTROL_HEADER, "end".into())],
            },
        )
    }

    /// Waits until every line is acknowledged.
    pub fn flush(&mut self) -> Result<(), Error> {
        flush(&self.producer)
    }

    /// Lines sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}
