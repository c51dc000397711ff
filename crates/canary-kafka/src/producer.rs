//! Producing: the idempotent producer, packed outputs, dead letters, and
//! the raw producer replays write with.

use crate::Error;
use crate::config::{StageName, Topics};
use crate::runner::{InMessage, Stopping};
use canary_core::DeadLetter;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// An idempotent producer with canary's defaults; `options` override them.
pub(crate) fn producer_config(brokers: &str, options: &BTreeMap<String, String>) -> ClientConfig {
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
pub(crate) struct DeliveryTracker {
    failed: AtomicU64,
    /// The idempotent producer has its producer id (from statistics, when
    /// they are enabled): until then nothing is sent.
    pub(crate) pid_assigned: AtomicBool,
}

impl ClientContext for DeliveryTracker {
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

impl ProducerContext for DeliveryTracker {
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

pub(crate) type StageProducer = BaseProducer<DeliveryTracker>;

pub(crate) fn producer(
    brokers: &str,
    options: &BTreeMap<String, String>,
) -> Result<StageProducer, Error> {
    Ok(producer_config(brokers, options).create_with_context(DeliveryTracker::default())?)
}

/// One output record.
#[derive(Debug, Clone)]
pub(crate) struct OutRecord {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

/// A packed message is closed once it holds this many bytes: far below the
/// producer's `message.max.bytes` (1 MB), large enough that per-message costs
/// (librdkafka, lz4 frames, the broker) no longer matter.
pub(crate) const PACK_BYTES: usize = 256 * 1024;

/// Envelopes for one topic partition, packed into one message.
pub(crate) struct Pack {
    topic: String,
    partition: i32,
    buf: Vec<u8>,
    n: usize,
}

impl Pack {
    fn finish(mut self) -> OutRecord {
        crate::message::pack_end(&mut self.buf);
        OutRecord {
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
/// partition, in order, into few messages. With them, the counts the
/// batch's one telemetry emit reports.
#[derive(Default)]
pub(crate) struct Outputs {
    recs: Vec<OutRecord>,
    packs: Vec<Pack>,
    spare: Vec<Vec<u8>>,
    pub(crate) tally: Tally,
}

/// What a stage counted while it handled a batch, by reason or kind. Few
/// distinct keys, so a short list searched in place; cleared, not freed,
/// between batches.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) dropped: Vec<(&'static str, u64)>,
    pub(crate) dead_letters: Vec<(&'static str, u64)>,
    pub(crate) notices: Vec<(&'static str, u64)>,
}

fn bump(counts: &mut Vec<(&'static str, u64)>, key: &'static str) {
    match counts.iter_mut().find(|(k, _)| *k == key) {
        Some((_, n)) => *n += 1,
        None => counts.push((key, 1)),
    }
}

impl Tally {
    /// Forgets the counts, keeping the lists' room.
    pub(crate) fn clear(&mut self) {
        self.dropped.clear();
        self.dead_letters.clear();
        self.notices.clear();
    }
}

impl Outputs {
    /// A dead letter, counted under `reason`.
    pub fn dead_letter(&mut self, reason: &'static str, r: OutRecord) {
        bump(&mut self.tally.dead_letters, reason);
        self.recs.push(r);
    }

    /// A post left on purpose, for `reason`.
    pub fn dropped(&mut self, reason: &'static str) {
        bump(&mut self.tally.dropped, reason);
    }

    /// A stream notice (or delete) taken in.
    pub fn notice(&mut self, kind: &'static str) {
        bump(&mut self.tally.notices, kind);
    }

    /// A record of its own.
    pub fn push(&mut self, r: OutRecord) {
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
    pub(crate) fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() >= PACK_BYTES && self.spare.len() < 16 {
            self.spare.push(buf);
        }
    }

    /// What is ready to send: the records, and the packs that are full (or
    /// every pack, with `all`).
    pub(crate) fn drain_ready(&mut self, all: bool, into: &mut Vec<OutRecord>) {
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
pub(crate) fn send(p: &StageProducer, r: &OutRecord, stopping: &Stopping) -> Result<(), Error> {
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
pub(crate) struct Borrowed<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: Option<i32>,
    pub(crate) key: &'a [u8],
    pub(crate) payload: &'a [u8],
    pub(crate) headers: &'a [(&'static str, String)],
}

pub(crate) fn send_borrowed(
    p: &StageProducer,
    r: Borrowed<'_>,
    stopping: &Stopping,
) -> Result<(), Error> {
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

pub(crate) fn undelivered(p: &StageProducer) -> Error {
    let n = p.in_flight_count().max(0) as u64;
    warn!(
        undelivered = n,
        "stopping with outputs the broker has not acknowledged; their inputs' offsets are not stored, so a restarted stage processes them again"
    );
    Error::Undelivered(n)
}

/// Waits until every record sent so far is acknowledged; fails if any was not,
/// or when `stopping` gives up on the broker first.
pub(crate) fn flush(p: &StageProducer, stopping: &Stopping) -> Result<(), Error> {
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
    m: &InMessage<'_>,
    index: Option<usize>,
    src: Option<crate::message::RawPos>,
    raw: &[u8],
) -> OutRecord {
    let Some(src) = src else {
        return dead_letter(topics, stage, reason, detail, m, index, raw);
    };
    let line = InMessage {
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
    m: &InMessage<'_>,
    index: Option<usize>,
    raw: &[u8],
) -> OutRecord {
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
    OutRecord {
        topic: topics.dead_letters.clone(),
        partition: None,
        key: key.into_bytes(),
        payload,
        headers,
    }
}

/// [`DeadLetter`]'s JSON (same fields, same order) without copying its parts.
#[derive(serde::Serialize)]
pub(crate) struct DeadLetterRef<'a> {
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
            let m = InMessage {
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
