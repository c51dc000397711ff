//! The stateless stages: ingest, normalize, language and sentiment.

use crate::Error;
use crate::admin;
use crate::config::{KafkaConfig, StageName, Topics, watch_partition};
use crate::message::{Envelope, EnvelopeJson, Kind, RawPos, decode};
use crate::producer::{Outputs, dead_letter, dead_letter_at_line};
use crate::runner::{self, Common, InMessage, Processor};
use canary_core::IngestRecord;
use canary_core::aggregate::AggregateConfig;
use canary_core::event_time::{EventTime, EventTimeConfig, FutureGuard};
use canary_core::time::floor_to;
use canary_core::time::now_ms;
use canary_ingest::{ParseOptions, Parsed, parse_line_into};
use canary_stages::{
    LanguageConfig, LanguageStage, Normalizer, PostStage, SentimentConfig, SentimentStage, Verdict,
    WatchConfig,
};
use canary_telemetry::Metrics;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// What a stage process needs: broker settings and the pipeline config.
#[derive(Debug, Clone)]
pub struct StageOptions {
    /// Bootstrap brokers.
    pub brokers: String,
    /// The `[kafka]` table (prefixes, partitions, options).
    pub kafka: KafkaConfig,
    /// `--kafka-option key=value`, applied last.
    pub extra_options: Vec<(String, String)>,
    /// Watches, in config order.
    pub watches: Vec<WatchConfig>,
    /// Language stage config.
    pub language: LanguageConfig,
    /// Sentiment stage config.
    pub sentiment: SentimentConfig,
    /// Aggregate config (normalize needs the window length for watermarks).
    pub aggregate: AggregateConfig,
    /// Which event times may move the watermark: normalize, which stamps
    /// the stream's newest event time for every aggregate, applies it.
    pub event_time: EventTimeConfig,
    /// Parser options of the ingest stage.
    pub parse: ParseOptions,
    /// Most messages handled between two deliveries.
    pub max_batch: usize,
    /// After a stop request, how long outputs may still wait for the broker
    /// before the stage exits without them (and without storing their offsets).
    pub shutdown_timeout: Duration,
}

impl StageOptions {
    pub(crate) fn common(&self, stage: StageName) -> Common {
        let topics = self.kafka.topics();
        Common {
            brokers: self.brokers.clone(),
            options: self.kafka.client_options(&self.extra_options),
            group: self.kafka.group(stage),
            input: stage.input(&topics).to_owned(),
            topics,
            max_batch: self.max_batch.max(1),
            shutdown_timeout: self.shutdown_timeout,
        }
    }
}

/// Runs one stateless stage until `stop` is set. Creates missing topics first.
pub fn run_stage(
    stage: StageName,
    opts: &StageOptions,
    metrics: &Metrics,
    stop: &Arc<AtomicBool>,
) -> Result<(), Error> {
    match stage_inner(stage, opts, metrics, stop) {
        Err(Error::Stopped) => Ok(()),
        r => r,
    }
}

fn stage_inner(
    stage: StageName,
    opts: &StageOptions,
    metrics: &Metrics,
    stop: &Arc<AtomicBool>,
) -> Result<(), Error> {
    let common = opts.common(stage);
    let producer = runner::prepare(&common, opts.kafka.partitions, None, stop)?;
    let t = common.topics.clone();
    let parse_reasons = canary_ingest::Reason::ALL.map(canary_ingest::Reason::as_str);
    let extra: &[&str] = if stage == StageName::Ingest {
        &parse_reasons
    } else {
        &[]
    };
    metrics.preset(stage.as_str(), extra, &[]);
    match stage {
        StageName::Ingest => {
            let p = Ingest {
                topics: t,
                parse: opts.parse.clone(),
                scratch: Vec::new(),
            };
            runner::run_loop(stage, &common, producer, p, metrics, stop)?;
        }
        StageName::Normalize => {
            let n = admin::partition_count(&common.brokers, &common.options, &t.normalized, stop)?;
            let p = Normalize {
                normalizer: Normalizer::new(&opts.watches)?,
                topics: t,
                partitions: n,
                window_ms: opts.aggregate.window.length.ms(),
                max_event: None,
                guard: FutureGuard::new(opts.event_time.clone()),
                scratch: Vec::new(),
            };
            runner::run_loop(stage, &common, producer, p, metrics, stop)?;
        }
        StageName::Language => {
            let out = t.languaged.clone();
            check_same_partitions(&common, &t.normalized, &out, stop)?;
            let p = PerPost {
                stage: LanguageStage::new(&opts.language)?,
                languages: LanguageStage::totals,
                name: stage,
                out,
                topics: t,
            };
            runner::run_loop(stage, &common, producer, p, metrics, stop)?;
        }
        StageName::Sentiment => {
            let out = t.scored.clone();
            check_same_partitions(&common, &t.languaged, &out, stop)?;
            let p = PerPost {
                stage: SentimentStage::new(&opts.sentiment)?,
                languages: |_| Vec::new(),
                name: stage,
                out,
                topics: t,
            };
            runner::run_loop(stage, &common, producer, p, metrics, stop)?;
        }
        StageName::Aggregate | StageName::Notify => {
            return Err(Error::Topic {
                topic: stage.input(&t).to_owned(),
                message: format!("the {} stage has its own runner", stage.as_str()),
            });
        }
    }
    Ok(())
}

/// Language and sentiment keep each record in its partition number, so the
/// two topics must have as many partitions.
fn check_same_partitions(
    common: &Common,
    input: &str,
    output: &str,
    stop: &AtomicBool,
) -> Result<(), Error> {
    let a = admin::partition_count(&common.brokers, &common.options, input, stop)?;
    let b = admin::partition_count(&common.brokers, &common.options, output, stop)?;
    if a != b {
        return Err(Error::Topic {
            topic: output.into(),
            message: format!("has {b} partitions but {input} has {a}; they must match"),
        });
    }
    Ok(())
}

/// The JSON of each envelope of `m`, in order, with its position; a message
/// that does not split is dead-lettered (`bad_envelope`) and yields none.
pub(crate) fn envelopes<'a>(
    m: &InMessage<'a>,
    topics: &Topics,
    stage: StageName,
    out: &mut Outputs,
) -> Vec<EnvelopeJson<'a>> {
    decode(m.payload).unwrap_or_else(|detail| {
        out.dead_letter(
            "bad_envelope",
            dead_letter(topics, stage, "bad_envelope", detail, m, None, m.payload),
        );
        Vec::new()
    })
}

/// The envelopes of `m`, in order, each with its position in a packed
/// message; those that do not parse, or a message that does not split, are
/// dead-lettered (`bad_envelope`) and left out.
pub(crate) fn read_envelopes(
    m: &InMessage<'_>,
    topics: &Topics,
    stage: StageName,
    out: &mut Outputs,
) -> Vec<(Option<usize>, Envelope)> {
    if let Some(all) = crate::message::decode_all(m.payload) {
        return all
            .into_iter()
            .enumerate()
            .map(|(i, e)| (Some(i), e))
            .collect();
    }
    envelopes(m, topics, stage, out)
        .into_iter()
        .filter_map(|rec| envelope_or_dead(m, rec, topics, stage, out).map(|e| (rec.0, e)))
        .collect()
}

/// One envelope of `m`; one that does not parse is dead-lettered (`bad_envelope`).
pub(crate) fn envelope_or_dead(
    m: &InMessage<'_>,
    (i, raw): EnvelopeJson<'_>,
    topics: &Topics,
    stage: StageName,
    out: &mut Outputs,
) -> Option<Envelope> {
    match Envelope::from_json(raw) {
        Ok(e) => Some(e),
        Err(detail) => {
            out.dead_letter(
                "bad_envelope",
                dead_letter(topics, stage, "bad_envelope", detail, m, i, raw.as_bytes()),
            );
            None
        }
    }
}

struct Ingest {
    topics: Topics,
    parse: ParseOptions,
    scratch: Vec<Parsed>,
}

impl Processor for Ingest {
    fn process(&mut self, m: &InMessage<'_>, out: &mut Outputs) -> Result<(), Error> {
        let raw_ms = m.timestamp_ms.unwrap_or_else(now_ms);
        if let Some(c) = m.control {
            if c == b"end" {
                out.pack(
                    &self.topics.parsed,
                    0,
                    &Envelope::control(Kind::End, None, raw_ms),
                );
            }
            return Ok(());
        }
        match m.format {
            None => self.line(m, m.payload, None, raw_ms, out),
            Some(f) if f == crate::FORMAT_JSON_LINES.as_bytes() => {
                for (i, line) in lines(m.payload) {
                    self.line(m, line, Some(i), raw_ms, out);
                }
            }
            Some(f) if f == crate::FORMAT_RECORDS.as_bytes() => {
                for (i, line) in lines(m.payload) {
                    match serde_json::from_slice::<IngestRecord>(line) {
                        Ok(rec) => {
                            self.scratch.clear();
                            self.scratch.push(Parsed::Record(rec));
                            self.emit(m, line, Some(i), raw_ms, out);
                        }
                        Err(e) => {
                            out.dead_letter(
                                "bad_record",
                                dead_letter(
                                    &self.topics,
                                    StageName::Ingest,
                                    "bad_record",
                                    e.to_string(),
                                    m,
                                    Some(i),
                                    line,
                                ),
                            );
                        }
                    }
                }
            }
            Some(f) => {
                out.dead_letter(
                    "unknown_format",
                    dead_letter(
                        &self.topics,
                        StageName::Ingest,
                        "unknown_format",
                        format!(
                            "{} header is {:?}; this version reads {:?}, {:?} or none",
                            crate::FORMAT_HEADER,
                            String::from_utf8_lossy(f),
                            crate::FORMAT_JSON_LINES,
                            crate::FORMAT_RECORDS
                        ),
                        m,
                        None,
                        m.payload,
                    ),
                );
            }
        }
        Ok(())
    }
}

impl Ingest {
    /// One document (a line of a packed message has its position, `index`).
    fn line(
        &mut self,
        m: &InMessage<'_>,
        line: &[u8],
        index: Option<usize>,
        raw_ms: i64,
        out: &mut Outputs,
    ) {
        self.scratch.clear();
        parse_line_into(line, &self.parse, &mut self.scratch);
        self.emit(m, line, index, raw_ms, out);
    }

    /// What `line` gave, parsed into `scratch`.
    fn emit(
        &mut self,
        m: &InMessage<'_>,
        line: &[u8],
        index: Option<usize>,
        raw_ms: i64,
        out: &mut Outputs,
    ) {
        let parsed = &self.topics.parsed;
        for p in self.scratch.drain(..) {
            match p {
                Parsed::Record(IngestRecord::Notice { kind, .. }) => {
                    out.notice(kind.as_str());
                }
                Parsed::Record(rec) => {
                    if matches!(rec, IngestRecord::Delete { .. }) {
                        out.notice("delete");
                    }
                    let mut env = Envelope::record(rec, raw_ms);
                    env.src = Some(RawPos {
                        p: m.partition,
                        o: m.offset,
                        i: index.and_then(|i| u32::try_from(i).ok()),
                    });
                    out.pack(parsed, 0, &env);
                }
                Parsed::Rejected(r) => {
                    let reason = r.reason.as_str();
                    let raw = r.raw.as_deref().map_or(line, str::as_bytes);
                    out.dead_letter(
                        reason,
                        dead_letter(
                            &self.topics,
                            StageName::Ingest,
                            reason,
                            r.detail,
                            m,
                            index,
                            raw,
                        ),
                    );
                }
            }
        }
    }
}

/// The lines of a packed raw message with their positions; a trailing
/// newline ends the last line, it does not start another. memchr, not
/// `slice::split`: a byte-at-a-time split cost more than parsing the lines.
fn lines(payload: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = payload.strip_suffix(b"\n").unwrap_or(payload);
    let mut start = 0;
    memchr::memchr_iter(b'\n', body)
        .chain([body.len()])
        .enumerate()
        .map(move |(i, end)| {
            let line = &body[start..end];
            start = end + 1;
            (i, line)
        })
}

struct Normalize {
    normalizer: Normalizer,
    topics: Topics,
    partitions: i32,
    window_ms: i64,
    /// Newest event time of the watched posts so far: the stamp that lets
    /// each aggregate partition close windows as one process would.
    max_event: Option<i64>,
    /// Keeps posts dated far ahead out of `max_event` and the windows.
    guard: FutureGuard,
    scratch: Vec<u8>,
}

impl Normalize {
    fn broadcast(&mut self, e: &Envelope, out: &mut Outputs) {
        let mut json = std::mem::take(&mut self.scratch);
        json.clear();
        serde_json::to_writer(&mut json, e).expect("envelopes always serialize");
        for p in 0..self.partitions {
            out.pack_json(&self.topics.normalized, p, &json);
        }
        self.scratch = json;
    }

    fn one(&mut self, m: &InMessage<'_>, index: Option<usize>, e: Envelope, out: &mut Outputs) {
        match (e.kind, e.rec) {
            (Kind::Record, Some(IngestRecord::Post(mut post))) => {
                if let Verdict::Drop(reason) = self.normalizer.process(&mut post) {
                    out.dropped(reason);
                    return;
                }
                let event_ms = post.event_ms;
                let verdict = self.guard.check(event_ms, Some(now_ms()));
                if verdict != EventTime::Accept {
                    let raw = serde_json::to_vec(&post).expect("posts serialize");
                    out.dead_letter(
                        "future",
                        dead_letter_at_line(
                            &self.topics,
                            StageName::Normalize,
                            "future",
                            verdict.detail(event_ms),
                            m,
                            index,
                            e.src,
                            &raw,
                        ),
                    );
                    return;
                }
                let mut watches = std::mem::take(&mut post.watches);
                let last = watches.pop();
                // One envelope per watch, so each watch's aggregate sees it.
                for w in watches {
                    let mut one = post.clone();
                    one.watches = vec![w];
                    self.to_watch(one, e.raw_ms, e.src, out);
                }
                if let Some(w) = last {
                    post.watches = vec![w];
                    self.to_watch(post, e.raw_ms, e.src, out);
                }
                let before = self.max_event;
                if before.is_none_or(|b| event_ms > b) {
                    self.max_event = Some(event_ms);
                    // Each new window reaches every partition, so quiet
                    // watches close their windows one by one too.
                    let w = |t: i64| floor_to(t, self.window_ms);
                    if before.is_none_or(|b| w(b) != w(event_ms)) {
                        let hb = Envelope::control(Kind::Watermark, self.max_event, e.raw_ms);
                        self.broadcast(&hb, out);
                    }
                }
            }
            (Kind::Record, Some(rec @ IngestRecord::Delete { .. })) => {
                // Which watches the post matched is unknown: every partition hears it.
                let mut env = Envelope::record(rec, e.raw_ms);
                env.max_event_ms = self.max_event;
                self.broadcast(&env, out);
            }
            (Kind::Record, _) => {}
            (Kind::Watermark, _) => {}
            (Kind::End, _) => {
                let env = Envelope::control(Kind::End, self.max_event, e.raw_ms);
                self.broadcast(&env, out);
            }
        }
    }

    /// A post with its one watch, to that watch's partition.
    fn to_watch(
        &self,
        post: canary_core::Post,
        raw_ms: i64,
        src: Option<RawPos>,
        out: &mut Outputs,
    ) {
        let partition = watch_partition(&post.watches[0], self.partitions);
        let mut env = Envelope::record(IngestRecord::Post(post), raw_ms);
        env.max_event_ms = self.max_event;
        env.src = src;
        out.pack(&self.topics.normalized, partition, &env);
    }
}

impl Processor for Normalize {
    fn process(&mut self, m: &InMessage<'_>, out: &mut Outputs) -> Result<(), Error> {
        let stage = StageName::Normalize;
        for (index, e) in read_envelopes(m, &self.topics, stage, out) {
            self.one(m, index, e, out);
        }
        Ok(())
    }
}

struct PerPost<S> {
    stage: S,
    /// The stage's language totals, for the metrics (none but the language stage has them).
    languages: fn(&S) -> Vec<(&'static str, u64, u64)>,
    name: StageName,
    out: String,
    topics: Topics,
}

impl<S: PostStage + Send + 'static> Processor for PerPost<S> {
    fn process(&mut self, m: &InMessage<'_>, out: &mut Outputs) -> Result<(), Error> {
        for (_, mut e) in read_envelopes(m, &self.topics, self.name, out) {
            if let Some(IngestRecord::Post(p)) = &mut e.rec
                && let Verdict::Drop(reason) = self.stage.process(p)
            {
                out.dropped(reason);
                // The stamp still tells downstream how far the stream got.
                e = Envelope::control(Kind::Watermark, e.max_event_ms, e.raw_ms);
            }
            out.pack(&self.out, m.partition, &e);
        }
        Ok(())
    }

    fn report(&mut self, metrics: &Metrics, batch: canary_telemetry::Batch<'_>) {
        let languages = (self.languages)(&self.stage);
        metrics.emit(&canary_telemetry::Batch {
            languages: &languages,
            ..batch
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::OutRecord;

    fn ingest() -> Ingest {
        Ingest {
            topics: Topics::new("t."),
            parse: ParseOptions::default(),
            scratch: Vec::new(),
        }
    }

    /// Runs one raw message through ingest: (ids of the posts, dead letters).
    fn run(payload: &[u8], format: Option<&[u8]>) -> (Vec<String>, Vec<OutRecord>) {
        let mut p = ingest();
        let mut out = Outputs::default();
        let m = InMessage {
            topic: "t.raw",
            partition: 0,
            offset: 7,
            payload,
            timestamp_ms: Some(1),
            control: None,
            format,
        };
        p.process(&m, &mut out).expect("process");
        let mut recs = Vec::new();
        out.drain_ready(true, &mut recs);
        let (packs, dead): (Vec<_>, Vec<_>) = recs.into_iter().partition(|r| r.topic == "t.parsed");
        let mut ids = Vec::new();
        for pack in &packs {
            for (_, json) in decode(&pack.payload).expect("packed") {
                let e = Envelope::from_json(json).expect("envelope");
                if let Some(IngestRecord::Post(p)) = e.rec {
                    ids.push(p.id);
                }
            }
        }
        (ids, dead)
    }

    fn status(id: u64) -> String {
        format!(
            r#"{{"created_at":"Mon May 06 08:00:00 +0000 2024","id":{id},"id_str":"{id}","text":"hi @acme","user":{{"screen_name":"a"}}}}"#
        )
    }

    #[test]
    fn a_packed_message_is_read_line_by_line() {
        let payload = format!("{}\nnot json\n{}\n\n{}\n", status(1), status(2), status(3));
        let (ids, dead) = run(payload.as_bytes(), Some(b"jsonl"));
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].key, b"t.raw/0/7/1");
        assert!(dead[0].headers.contains(&("reason", "invalid_json".into())));
        assert!(dead[0].headers.contains(&("source_index", "1".into())));
        let body: serde_json::Value = serde_json::from_slice(&dead[0].payload).expect("json");
        assert_eq!(body["raw"], "not json");
    }

    #[test]
    fn a_plain_message_is_one_document_even_over_several_lines() {
        let pretty = status(5).replace(",", ",\n  ");
        let (ids, dead) = run(pretty.as_bytes(), None);
        assert_eq!(ids, ["5"]);
        assert!(dead.is_empty());
        // The same bytes declared as lines are not JSON line by line.
        let (ids, dead) = run(pretty.as_bytes(), Some(b"jsonl"));
        assert!(ids.is_empty());
        assert!(!dead.is_empty());
    }

    #[test]
    fn an_unknown_format_is_a_dead_letter_whole() {
        let payload = format!("{}\n{}", status(1), status(2));
        let (ids, dead) = run(payload.as_bytes(), Some(b"avro"));
        assert!(ids.is_empty());
        assert_eq!(dead.len(), 1);
        assert!(
            dead[0]
                .headers
                .contains(&("reason", "unknown_format".into()))
        );
        let body: serde_json::Value = serde_json::from_slice(&dead[0].payload).expect("json");
        assert_eq!(body["raw"], payload.as_str());
        assert!(body["detail"].as_str().expect("detail").contains("avro"));
    }

    #[test]
    fn ingest_counts_dead_letters_and_notices_for_the_batch_emit() {
        let mut p = ingest();
        let mut out = Outputs::default();
        let payload = format!(
            "{}\nnot json\n{{\"delete\":{{\"status\":{{\"id\":9,\"id_str\":\"9\",\"user_id\":1}},\"timestamp_ms\":\"1714982400000\"}}}}\n{{\"limit\":{{\"track\":3}}}}\n",
            status(1)
        );
        let m = InMessage {
            topic: "t.raw",
            partition: 0,
            offset: 7,
            payload: payload.as_bytes(),
            timestamp_ms: Some(1),
            control: None,
            format: Some(b"jsonl"),
        };
        p.process(&m, &mut out).unwrap();
        assert_eq!(out.tally.dead_letters, [("invalid_json", 1)]);
        assert_eq!(out.tally.notices, [("delete", 1), ("limit", 1)]);
        let metrics = Metrics::new().expect("metrics");
        let t = &out.tally;
        metrics.emit(&canary_telemetry::Batch {
            stage: "ingest",
            records: 1,
            dead_letters: &t.dead_letters,
            notices: &t.notices,
            ..Default::default()
        });
        let text = metrics.render();
        for line in [
            "canary_dead_letters_total{reason=\"invalid_json\",stage=\"ingest\"} 1",
            "canary_notices_total{kind=\"delete\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    fn normalize(partitions: i32) -> Normalize {
        let watch = |name: &str, pat: &str| canary_stages::WatchConfig {
            name: name.into(),
            patterns: vec![pat.into()],
            ..Default::default()
        };
        Normalize {
            normalizer: Normalizer::new(&[watch("acme", "@acme"), watch("globex", "globex")])
                .expect("watches"),
            topics: Topics::new("t."),
            partitions,
            window_ms: 3_600_000,
            max_event: None,
            guard: FutureGuard::new(EventTimeConfig::default()),
            scratch: Vec::new(),
        }
    }

    /// The envelopes `out` holds, by (topic, partition).
    fn by_partition(out: &mut Outputs) -> Vec<(String, i32, Envelope)> {
        let mut recs = Vec::new();
        out.drain_ready(true, &mut recs);
        let mut all = Vec::new();
        for r in recs {
            for (_, json) in decode(&r.payload).expect("packed") {
                let e = Envelope::from_json(json).expect("envelope");
                all.push((r.topic.clone(), r.partition.expect("partition"), e));
            }
        }
        all.sort_by_key(|(t, p, _)| (t.clone(), *p));
        all
    }

    fn normalize_one(n: &mut Normalize, e: Envelope, out: &mut Outputs) {
        let m = InMessage {
            topic: "t.parsed",
            partition: 0,
            offset: 3,
            payload: b"",
            timestamp_ms: None,
            control: None,
            format: None,
        };
        n.one(&m, None, e, out);
    }

    #[test]
    fn normalize_fans_a_post_out_to_each_watch_partition_and_broadcasts_controls() {
        let parts = 4;
        let mut n = normalize(parts);
        let mut out = Outputs::default();
        let t0 = 1_714_982_400_000;
        let post = |id: &str, text: &str| {
            Envelope::record(IngestRecord::Post(canary_core::Post::new(id, t0, text)), t0)
        };
        normalize_one(&mut n, post("1", "@acme and globex again"), &mut out);
        normalize_one(&mut n, post("2", "nobody we watch"), &mut out);
        let got = by_partition(&mut out);
        let posts: Vec<(i32, String)> = got
            .iter()
            .filter_map(|(_, p, e)| match &e.rec {
                Some(IngestRecord::Post(post)) => Some((*p, post.watches.join(","))),
                _ => None,
            })
            .collect();
        let mut want = vec![
            (watch_partition("acme", parts), "acme".to_owned()),
            (watch_partition("globex", parts), "globex".to_owned()),
        ];
        want.sort();
        let mut posts_sorted = posts.clone();
        posts_sorted.sort();
        assert_eq!(
            posts_sorted, want,
            "one copy per watch, each on its watch's partition"
        );
        // The first post opened a window: every partition hears the stamp.
        let stamps: Vec<i32> = got
            .iter()
            .filter(|(_, _, e)| e.kind == Kind::Watermark)
            .map(|(_, p, _)| *p)
            .collect();
        assert_eq!(stamps, (0..parts).collect::<Vec<_>>());
        assert!(got.iter().all(|(t, _, _)| t == "t.normalized"));
        assert_eq!(out.tally.dropped, [("unwatched", 1)]);

        // A delete and the end of the replay reach every partition.
        let del = Envelope::record(
            IngestRecord::Delete {
                v: canary_core::RECORD_VERSION,
                id: "1".into(),
                at_ms: None,
            },
            t0,
        );
        normalize_one(&mut n, del, &mut out);
        normalize_one(&mut n, Envelope::control(Kind::End, None, t0), &mut out);
        let got = by_partition(&mut out);
        for kind in [Kind::Record, Kind::End] {
            let ps: Vec<i32> = got
                .iter()
                .filter(|(_, _, e)| e.kind == kind)
                .map(|(_, p, _)| *p)
                .collect();
            assert_eq!(ps, (0..parts).collect::<Vec<_>>(), "{kind:?}");
        }
        assert!(
            got.iter()
                .filter(|(_, _, e)| e.kind == Kind::End)
                .all(|(_, _, e)| e.max_event_ms == Some(t0)),
            "the end carries how far the stream got"
        );
    }
}
