//! `canary replay`: dumps into the `raw` topic, under the same replay
//! controls as the embedded run, then an end-of-replay marker.

use crate::admin::ensure_topics;
use crate::config::Topics;
use crate::producer::{
    Borrowed, OutRecord, PACK_BYTES, StageProducer, flush, producer, send, send_borrowed,
};
use crate::runner::Stopping;
use crate::{Error, KafkaConfig};
use canary_core::{DeadLetter, IngestRecord};
use canary_ingest::{Deferred, Item, Parsed, Pass, Reader, ReplayGate, ReplayOptions};
use rdkafka::producer::Producer;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// What a replay needs besides its reader.
#[derive(Debug, Clone)]
pub struct ReplayRun {
    /// Bootstrap brokers.
    pub brokers: String,
    /// Topic names, partitions, client settings.
    pub kafka: KafkaConfig,
    /// `--kafka-option` pairs, over the config's.
    pub extra_options: Vec<(String, String)>,
    /// `--from`, `--to`, `--limit`, `--speed`.
    pub controls: ReplayOptions,
    /// Read the inputs whole and send them in event-time order.
    pub sort_by_time: bool,
    /// Send each line as soon as it is read (input from a pipe, where the
    /// next line may be long in coming) instead of packing lines.
    pub live: bool,
    /// Send the end-of-replay marker, which closes every open window downstream.
    pub end: bool,
}

/// What a finished replay sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Replayed {
    /// Lines and records sent to `raw`.
    pub lines: u64,
    /// Dead letters sent.
    pub dead_letters: u64,
    /// Wall time from the first line to the last acknowledgement.
    pub seconds: f64,
}

/// Creates the topics if needed and opens the raw topic's producer.
fn open_raw(run: &ReplayRun, stop: &Arc<AtomicBool>) -> Result<(Topics, RawProducer), Error> {
    let options = run.kafka.client_options(&run.extra_options);
    let topics = run.kafka.topics();
    ensure_topics(&run.brokers, &options, &topics, run.kafka.partitions, stop)?;
    let out = RawProducer::new(
        &run.brokers,
        &options,
        &topics,
        stop.clone(),
        Duration::from_secs(10),
    )?;
    Ok((topics, out))
}

/// Replays `reader` into the raw topic (creating the topics if needed) until
/// it ends, `--limit` is reached or `stop` is set. A stop before the topics
/// exist is [`Error::Stopped`].
pub fn run_replay(
    reader: &mut Reader,
    run: &ReplayRun,
    stop: &Arc<AtomicBool>,
) -> Result<Replayed, Error> {
    let (topics, mut out) = open_raw(run, stop)?;
    let popts = reader.parse_options().clone();
    let mut gate = ReplayGate::new(run.controls.clone());
    let mut parsed = Vec::new();
    if !out.wait_ready(Duration::from_secs(10)) && !stop.load(Ordering::Relaxed) {
        tracing::warn!("no producer id from the broker after 10 s; lines wait in the queue");
    }
    tracing::info!(topic = %topics.raw, "replay started");
    let started = Instant::now();
    let mut report = Report::new(started);
    if run.sort_by_time {
        let items = canary_ingest::sort_by_event_time(reader);
        tracing::info!(items = items.len(), "sorted the input by event time");
        for item in items {
            if stop.load(Ordering::Relaxed) || !replay_item(item, &mut gate, &mut out)? {
                break;
            }
            report.tick(&out, None);
        }
    } else {
        let mut buf = Vec::new();
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            report.tick(&out, Some(reader));
            buf.clear();
            match reader.next_deferred(&mut buf) {
                None => break,
                Some(Deferred::Item(item)) => {
                    if !replay_item(item, &mut gate, &mut out)? {
                        break;
                    }
                }
                Some(Deferred::Line(l)) => {
                    let line = &buf[l.start..l.end];
                    if gate.active() {
                        // Event times decide; lines that are not posts pass through to ingest.
                        parsed.clear();
                        canary_ingest::parse_line_into(line, &popts, &mut parsed);
                        let times = parsed.iter().filter_map(|x| match x {
                            Parsed::Record(IngestRecord::Post(p)) => Some(p.event_ms),
                            _ => None,
                        });
                        match pass(&mut gate, times, &mut out)? {
                            Pass::Send(_) => {}
                            Pass::Skip => continue,
                            Pass::Stop => break,
                        }
                    }
                    if line.len() > out.max_line_bytes() {
                        let d = too_long(&l.source, l.line, line, out.max_line_bytes());
                        out.send_dead_letter(&d)?;
                        continue;
                    }
                    out.send_line(line)?;
                    if run.live {
                        out.send_pack()?;
                    }
                }
            }
        }
    }
    if run.end && !stop.load(Ordering::Relaxed) {
        out.send_end()?;
    }
    out.flush()?;
    Ok(Replayed {
        lines: out.sent(),
        dead_letters: out.dead_letters(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes what live source threads send on `rx` (records as canary's record
/// JSON, dead letters to the dead-letter topic) into the raw topic, each at
/// once, until `stop` is set or every sender is gone; then sends what the
/// channel still holds and waits for the acknowledgements. No end-of-replay
/// marker: a live stream has no end. A stop before the topics exist is
/// [`Error::Stopped`]. `run.controls` and `run.sort_by_time` do not apply.
pub fn run_feed<T>(
    rx: &Receiver<(Item, T)>,
    run: &ReplayRun,
    stop: &Arc<AtomicBool>,
) -> Result<Replayed, Error> {
    let (topics, mut out) = open_raw(run, stop)?;
    // No pacing or limits: every record passes.
    let mut gate = ReplayGate::new(ReplayOptions::default());
    tracing::info!(topic = %topics.raw, "feeding live sources");
    let started = Instant::now();
    let mut report = Report::new(started);
    let mut next = |item: Item, out: &mut RawProducer| -> Result<(), Error> {
        replay_item(item, &mut gate, out)?;
        out.send_pack()
    };
    while !stop.load(Ordering::Relaxed) {
        report.tick(&out, None);
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((item, _)) => next(item, &mut out)?,
            Err(RecvTimeoutError::Timeout) => out.poll(),
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // What the sources read before the stop still goes out.
    while let Ok((item, _)) = rx.try_recv() {
        next(item, &mut out)?;
    }
    out.flush()?;
    Ok(Replayed {
        lines: out.sent(),
        dead_letters: out.dead_letters(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes raw lines into the `raw` topic (partition 0, in order) for replays.
///
/// Lines are packed, several to a message (`\n`-separated, header
/// [`crate::FORMAT_HEADER`]: [`crate::FORMAT_JSON_LINES`]), up to
/// 256 KiB: per-message costs in librdkafka, the broker and ingest
/// then no longer scale with the number of lines. A pack of one line goes
/// out as a plain message, as a connector would write it.
pub struct RawProducer {
    producer: StageProducer,
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
        let r = OutRecord {
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
            &OutRecord {
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

    /// Serves delivery reports while there is nothing to send.
    pub fn poll(&self) {
        self.producer.poll(Duration::ZERO);
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

/// Whether a line or record holding posts at `times` goes out, after
/// waiting for its time when paced (what is packed goes out first).
fn pass(
    gate: &mut ReplayGate,
    mut times: impl Iterator<Item = i64>,
    out: &mut RawProducer,
) -> Result<Pass, Error> {
    let first = times.next();
    let pass = gate.pass(first, 1 + times.count() as u64, Instant::now());
    if let Pass::Send(Some(d)) = pass {
        out.send_pack()?;
        std::thread::sleep(d);
    }
    Ok(pass)
}

/// A record the reader parsed itself (a CSV row, an element of a whole JSON
/// document, a sorted input) goes to `raw` as canary's record JSON; a dead
/// letter (a bad row, a read error) to the dead-letter topic. False: stop.
fn replay_item(item: Item, gate: &mut ReplayGate, out: &mut RawProducer) -> Result<bool, Error> {
    match item {
        Item::DeadLetter(d) => out.send_dead_letter(&d)?,
        Item::Record(rec, _) => {
            let time = match &rec {
                IngestRecord::Post(p) => Some(p.event_ms),
                _ => None,
            };
            match pass(gate, time.into_iter(), out)? {
                Pass::Send(_) => {
                    let json = serde_json::to_vec(&rec).expect("records serialize");
                    if json.len() > out.max_line_bytes() {
                        let source = match &rec {
                            IngestRecord::Post(p) => format!("record {}", p.id),
                            _ => "record".to_owned(),
                        };
                        let d = too_long(&source, 0, &json, out.max_line_bytes());
                        out.send_dead_letter(&d)?;
                    } else {
                        out.send_record_json(&json)?;
                    }
                }
                Pass::Skip => {}
                Pass::Stop => return Ok(false),
            }
        }
    }
    Ok(true)
}

/// A progress line every few seconds: a replay of a large dump is otherwise
/// silent until it ends.
struct Report {
    started: Instant,
    last: Instant,
}

impl Report {
    const EVERY: Duration = Duration::from_secs(5);

    fn new(started: Instant) -> Report {
        Report {
            started,
            last: started,
        }
    }

    fn tick(&mut self, out: &RawProducer, reader: Option<&Reader>) {
        let now = Instant::now();
        if now.duration_since(self.last) < Self::EVERY {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.started).as_secs_f64();
        let lines_per_second = (out.sent() as f64 / secs.max(1e-9)) as u64;
        match reader.map(Reader::progress) {
            Some(p) => {
                let percent = p
                    .bytes_total
                    .filter(|&t| t > 0)
                    .map(|t| (p.bytes_read as f64 * 1000.0 / t as f64).round() / 10.0);
                tracing::info!(
                    lines = out.sent(),
                    lines_per_second,
                    bytes_read = p.bytes_read,
                    percent,
                    input = %p.source,
                    "replaying"
                );
            }
            None => tracing::info!(records = out.sent(), lines_per_second, "replaying"),
        }
    }
}

/// How much of a refused line a dead letter keeps: the dead letter itself
/// must fit in a message.
const TOO_LONG_KEPT: usize = 64 * 1024;

/// A dead letter for a line (or record) larger than the `max` bytes a raw
/// message may carry.
fn too_long(source: &str, line: u64, raw: &[u8], max: usize) -> DeadLetter {
    let mut kept = TOO_LONG_KEPT.min(raw.len());
    while kept > 0 && kept < raw.len() && (raw[kept] & 0xC0) == 0x80 {
        // Cut at a character boundary, so the kept text stays UTF-8.
        kept -= 1;
    }
    DeadLetter::new(
        "replay",
        "line_too_long",
        format!(
            "{} bytes exceed what one raw message carries ({max} bytes: the producer's message.max.bytes less framing); kept the first {kept}",
            raw.len(),
        ),
        source,
        line,
        &raw[..kept],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_too_long_line_keeps_a_prefix_cut_at_a_character_boundary() {
        // 'é' is two bytes: a cut at TOO_LONG_KEPT would fall inside one.
        let mut raw = vec![b'a'; TOO_LONG_KEPT - 1];
        raw.extend("éééé".as_bytes());
        let d = too_long("dump.jsonl", 7, &raw, 1000);
        assert_eq!(d.reason, "line_too_long");
        assert_eq!(d.stage, "replay");
        assert_eq!(d.offset, 7);
        assert_eq!(d.encoding, "utf8");
        assert_eq!(d.raw.len(), TOO_LONG_KEPT - 1);
        assert!(
            d.detail.contains(&format!("{} bytes exceed", raw.len())),
            "{}",
            d.detail
        );
        assert!(d.detail.contains("(1000 bytes"), "{}", d.detail);
        assert!(
            d.detail
                .ends_with(&format!("kept the first {}", TOO_LONG_KEPT - 1)),
            "{}",
            d.detail
        );
    }

    #[test]
    fn a_short_line_is_kept_whole() {
        let d = too_long("x", 1, b"{\"a\":1}", 3);
        assert!(d.detail.ends_with("kept the first 7"), "{}", d.detail);
    }
}
