//! The aggregate stage: one aggregator per assigned partition, checkpointed
//! with its next input offset.

use crate::config::StageName;
use crate::message::{Envelope, EnvelopeJson, Kind};
use crate::producer::{OutRecord, Outputs, dead_letter_at_line};
use crate::runner::{self, InMessage, Processor};
use crate::stages::{StageOptions, read_envelopes};
use crate::{Error, Topics};
use canary_core::IngestRecord;
use canary_core::aggregate::{
    AggregateConfig, AggregateOutput, Aggregator, AggregatorState, AlertState,
};
use canary_core::time::now_ms;
use canary_stages::{AggregateStage, PostFate, StageBatch};
use canary_telemetry::Metrics;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Options of the aggregate stage.
#[derive(Debug, Clone)]
pub struct AggregateOptions {
    /// Where per-partition checkpoints live. Every process of the group must
    /// see the same directory (a partition moves with its state).
    pub state_dir: PathBuf,
    /// How often to checkpoint while running (also on rebalance and shutdown).
    pub checkpoint_every: Duration,
    /// Also write alert records (and window records with `emit_windows`) here,
    /// JSON lines, appended and de-duplicated by record key.
    pub alerts_out: Option<PathBuf>,
    /// Write window summaries to `alerts_out` as well.
    pub emit_windows: bool,
    /// Write p50/p99 raw-topic-to-aggregate latency (ms) here on shutdown.
    pub latency_out: Option<PathBuf>,
}

/// Version of the checkpoint file.
const CHECKPOINT_VERSION: u16 = 1;

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    v: u16,
    topic: String,
    partition: i32,
    /// First offset not yet reflected in `state`.
    next_offset: i64,
    state: AggregatorState,
}

struct Part {
    stage: AggregateStage,
    next_offset: i64,
    dirty: bool,
}

/// An append-only JSON-lines file that writes each keyed record once, even
/// when a restarted aggregate emits records again.
struct DedupFile {
    w: BufWriter<File>,
    seen: HashSet<String>,
    path: PathBuf,
}

impl DedupFile {
    fn open(path: &Path) -> Result<DedupFile, Error> {
        let io = |what: &str, source| Error::Io {
            what: format!("{what} {}", path.display()),
            source,
        };
        let mut seen = HashSet::new();
        if path.exists() {
            let f = File::open(path).map_err(|e| io("reading", e))?;
            for line in BufReader::new(f).lines() {
                let line = line.map_err(|e| io("reading", e))?;
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(k) = value_key(&v)
                {
                    seen.insert(k);
                }
            }
        }
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io("opening", e))?;
        Ok(DedupFile {
            w: BufWriter::new(f),
            seen,
            path: path.to_owned(),
        })
    }

    fn write(&mut self, key: String, line: &[u8]) -> Result<(), Error> {
        if !self.seen.insert(key) {
            return Ok(());
        }
        self.w
            .write_all(line)
            .and_then(|()| self.w.write_all(b"\n"))
            .map_err(|source| Error::Io {
                what: format!("writing {}", self.path.display()),
                source,
            })
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.w.flush().map_err(|source| Error::Io {
            what: format!("writing {}", self.path.display()),
            source,
        })
    }
}

fn state_str(s: AlertState) -> &'static str {
    if s == AlertState::Firing {
        "firing"
    } else {
        "resolved"
    }
}

/// Key of an alert record: the same alert in the same state is the same record.
fn alert_key(id: &str, state: &str) -> String {
    format!("{id}/{state}")
}

fn window_key(watch: &str, lang: &str, start_ms: i64) -> String {
    format!("{watch}/{lang}/{start_ms}")
}

fn value_key(v: &serde_json::Value) -> Option<String> {
    if let (Some(id), Some(st)) = (v["alert_id"].as_str(), v["state"].as_str()) {
        return Some(alert_key(id, st));
    }
    if v["type"] == "window" {
        return Some(window_key(
            v["watch"].as_str()?,
            v["lang"].as_str()?,
            v["start_ms"].as_i64()?,
        ));
    }
    None
}

struct Aggregate {
    cfg: AggregateConfig,
    watches: Vec<String>,
    topics: Topics,
    input: String,
    parts: BTreeMap<i32, Part>,
    opts: AggregateOptions,
    file: Option<DedupFile>,
    last_checkpoint: Instant,
    /// What the partitions produced in the current input batch, delivered
    /// already, held for the batch's metrics.
    batch: StageBatch,
    metrics: Metrics,
    latency: hdrhistogram::Histogram<u64>,
}

impl Aggregate {
    fn checkpoint_path(&self, partition: i32) -> PathBuf {
        self.opts
            .state_dir
            .join(format!("{}-{partition}.json", self.input))
    }

    fn load(&self, partition: i32) -> Result<Option<Part>, Error> {
        let path = self.checkpoint_path(partition);
        let bad = |message: String| Error::Checkpoint {
            path: path.display().to_string(),
            message,
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad(e.to_string())),
        };
        let c: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if c.v != CHECKPOINT_VERSION || c.topic != self.input || c.partition != partition {
            return Err(bad(format!(
                "holds version {} of {}/{}",
                c.v, c.topic, c.partition
            )));
        }
        let agg = Aggregator::restore(self.cfg.clone(), &self.watches, c.state)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Some(Part {
            stage: agg.into(),
            next_offset: c.next_offset,
            dirty: false,
        }))
    }

    fn save(&self, partition: i32, part: &Part) -> Result<(), Error> {
        let path = self.checkpoint_path(partition);
        let io = |source| Error::Io {
            what: format!("checkpoint {}", path.display()),
            source,
        };
        let c = Checkpoint {
            v: CHECKPOINT_VERSION,
            topic: self.input.clone(),
            partition,
            next_offset: part.next_offset,
            state: part.stage.aggregator().snapshot(),
        };
        // Temp file, fsync, rename: a crash leaves the old or the new checkpoint, never half of one.
        let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
        {
            let mut f = BufWriter::new(File::create(&tmp).map_err(io)?);
            serde_json::to_writer(&mut f, &c).map_err(|e| io(e.into()))?;
            let f = f.into_inner().map_err(|e| io(e.into_error()))?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }

    fn checkpoint_all(&mut self) -> Result<BTreeMap<i32, i64>, Error> {
        let mut stored = BTreeMap::new();
        for (&p, part) in &self.parts {
            if part.dirty {
                self.save(p, part)?;
            }
            stored.insert(p, part.next_offset);
        }
        for part in self.parts.values_mut() {
            part.dirty = false;
        }
        self.last_checkpoint = Instant::now();
        Ok(stored)
    }

    /// Delivers what partition `partition` produced, keeping it for the metrics.
    fn emit(&mut self, partition: i32, out: &mut Outputs) -> Result<(), Error> {
        let Some(part) = self.parts.get_mut(&partition) else {
            return Ok(());
        };
        let b = part.stage.take();
        for o in &b.outputs {
            match o {
                AggregateOutput::Alert(a) => {
                    let state = state_str(a.state);
                    info!(alert_id = %a.alert_id, state, watch = %a.watch, lang = %a.lang, "alert");
                    let line = serde_json::to_vec(a).expect("alerts serialize");
                    let key = alert_key(&a.alert_id, state);
                    if let Some(f) = &mut self.file {
                        f.write(key.clone(), &line)?;
                    }
                    out.push(OutRecord {
                        topic: self.topics.alerts.clone(),
                        partition: None,
                        key: key.into_bytes(),
                        payload: line,
                        headers: Vec::new(),
                    });
                }
                AggregateOutput::Window(w) => {
                    let line = serde_json::to_vec(o).expect("windows serialize");
                    let key = window_key(&w.watch, &w.lang, w.start_ms);
                    if self.opts.emit_windows
                        && let Some(f) = &mut self.file
                    {
                        f.write(key.clone(), &line)?;
                    }
                    out.push(OutRecord {
                        topic: self.topics.windows.clone(),
                        partition: None,
                        key: key.into_bytes(),
                        payload: line,
                        headers: Vec::new(),
                    });
                }
                AggregateOutput::Triage(t) => {
                    let line = serde_json::to_vec(t).expect("triage records serialize");
                    out.push(OutRecord {
                        topic: self.topics.triage.clone(),
                        partition: None,
                        key: format!("{}/{}", t.watch, t.id).into_bytes(),
                        payload: line,
                        headers: Vec::new(),
                    });
                }
                // Metrics only: `self.batch` carries it to them.
                AggregateOutput::Care(_) => {}
            }
        }
        self.batch.append(b);
        Ok(())
    }

    /// The lowest watermark of the assigned partitions: the lag alert must
    /// see the partition that is furthest behind.
    fn watermark(&self) -> Option<i64> {
        self.parts
            .values()
            .filter_map(|p| p.stage.aggregator().watermark())
            .min()
    }

    /// One envelope of message `m`, at `index` (its JSON in `raw`).
    fn one(
        &mut self,
        m: &InMessage<'_>,
        (index, raw): (Option<usize>, &mut RawRecs<'_>),
        env: Envelope,
        out: &mut Outputs,
    ) -> Result<(), Error> {
        let part = self
            .parts
            .get_mut(&m.partition)
            .expect("inserted by process");
        let stage = &mut part.stage;
        if let Some(wm) = env.max_event_ms
            && env.kind != Kind::End
        {
            stage.advance_to(wm);
        }
        let src = env.src;
        match (env.kind, env.rec) {
            (Kind::Record, Some(IngestRecord::Post(p))) => {
                if env.raw_ms > 0 {
                    let us = (now_ms() - env.raw_ms).max(0) as u64 * 1000;
                    let _ = self.latency.record(us.max(1));
                    self.metrics
                        .pipeline_latency
                        .observe(us as f64 / 1_000_000.0);
                }
                if let PostFate::Refused { reason, detail } = stage.post(&p, now_ms()) {
                    out.dead_letter(
                        reason,
                        dead_letter_at_line(
                            &self.topics,
                            StageName::Aggregate,
                            reason,
                            detail,
                            m,
                            index,
                            src,
                            raw.get(index),
                        ),
                    );
                }
            }
            (Kind::Record, Some(IngestRecord::Delete { id, .. })) => {
                stage.delete(&id);
            }
            (Kind::End, _) => {
                if let Some(wm) = env.max_event_ms {
                    stage.flush_through(wm);
                }
                // Benches and operators wait for this line: the partition is complete.
                info!(
                    partition = m.partition,
                    offset = m.offset,
                    "end of replay: windows flushed"
                );
            }
            _ => {}
        }
        self.emit(m.partition, out)
    }

    fn latency_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// The JSON of each envelope of one message, split only once a dead letter
/// needs it (the message was read in one pass).
struct RawRecs<'a> {
    payload: &'a [u8],
    recs: Option<Vec<EnvelopeJson<'a>>>,
}

impl<'a> RawRecs<'a> {
    fn get(&mut self, index: Option<usize>) -> &'a [u8] {
        let Some(i) = index else {
            return self.payload;
        };
        let payload = self.payload;
        let recs = self
            .recs
            .get_or_insert_with(|| crate::message::decode(payload).unwrap_or_default());
        recs.get(i).map_or(payload, |r| r.1.as_bytes())
    }
}

impl Processor for Aggregate {
    fn process(&mut self, m: &InMessage<'_>, out: &mut Outputs) -> Result<(), Error> {
        if !self.parts.contains_key(&m.partition) {
            // Not announced by a rebalance (cannot happen with a group); start clean.
            let fresh = match self.load(m.partition)? {
                Some(p) => p,
                None => Part {
                    stage: Aggregator::new(self.cfg.clone(), &self.watches).into(),
                    next_offset: 0,
                    dirty: false,
                },
            };
            self.parts.insert(m.partition, fresh);
        }
        let part = self.parts.get_mut(&m.partition).expect("inserted above");
        part.next_offset = m.offset + 1;
        part.dirty = true;
        let stage = StageName::Aggregate;
        let mut raw = RawRecs {
            payload: m.payload,
            recs: None,
        };
        for (index, env) in read_envelopes(m, &self.topics, stage, out) {
            self.one(m, (index, &mut raw), env, out)?;
        }
        Ok(())
    }

    fn delivered(
        &mut self,
        _consumed: &BTreeMap<i32, i64>,
        shutdown: bool,
    ) -> Result<Option<BTreeMap<i32, i64>>, Error> {
        if let Some(f) = &mut self.file {
            f.flush()?;
        }
        if !shutdown && self.last_checkpoint.elapsed() < self.opts.checkpoint_every {
            return Ok(None);
        }
        Ok(Some(self.checkpoint_all()?))
    }

    fn on_assign(&mut self, partitions: &[i32]) -> Result<Vec<(i32, Option<i64>)>, Error> {
        let mut starts = Vec::new();
        for &p in partitions {
            let part = match self.load(p)? {
                Some(part) => {
                    info!(
                        partition = p,
                        next_offset = part.next_offset,
                        "restored checkpoint"
                    );
                    part
                }
                None => {
                    // No state for this partition: rebuild it from the start of the topic.
                    info!(
                        partition = p,
                        "no checkpoint: reading the partition from its start"
                    );
                    Part {
                        stage: Aggregator::new(self.cfg.clone(), &self.watches).into(),
                        next_offset: 0,
                        dirty: false,
                    }
                }
            };
            starts.push((p, Some(part.next_offset)));
            self.parts.insert(p, part);
        }
        Ok(starts)
    }

    fn report(&mut self, metrics: &Metrics, batch: canary_telemetry::Batch<'_>) {
        let b = std::mem::take(&mut self.batch);
        metrics.emit(&canary_telemetry::Batch {
            dropped: &b.dropped,
            outputs: &b.outputs,
            watermark_ms: self.watermark(),
            ..batch
        });
    }

    fn on_revoke(
        &mut self,
        partitions: &[i32],
        _consumed: &BTreeMap<i32, i64>,
    ) -> Result<BTreeMap<i32, i64>, Error> {
        if let Some(f) = &mut self.file {
            f.flush()?;
        }
        let mut stored = BTreeMap::new();
        for p in partitions {
            if let Some(part) = self.parts.remove(p) {
                self.save(*p, &part)?;
                stored.insert(*p, part.next_offset);
            }
        }
        Ok(stored)
    }
}

/// Runs the aggregate stage until `stop` is set; checkpoints on the way out.
pub fn run_aggregate(
    opts: &StageOptions,
    agg_opts: &AggregateOptions,
    metrics: &Metrics,
    stop: &Arc<AtomicBool>,
) -> Result<(), Error> {
    match aggregate_inner(opts, agg_opts, metrics, stop) {
        Err(Error::Stopped) => Ok(()),
        r => r,
    }
}

fn aggregate_inner(
    opts: &StageOptions,
    agg_opts: &AggregateOptions,
    metrics: &Metrics,
    stop: &Arc<AtomicBool>,
) -> Result<(), Error> {
    let common = opts.common(StageName::Aggregate);
    let producer = runner::prepare(
        &common,
        opts.kafka.partitions,
        Some(&agg_opts.state_dir),
        stop,
    )?;
    let file = agg_opts
        .alerts_out
        .as_deref()
        .map(DedupFile::open)
        .transpose()?;
    let watches: Vec<String> = opts.watches.iter().map(|w| w.name.clone()).collect();
    metrics.preset("aggregate", &[], &watches);
    let p = Aggregate {
        cfg: opts.aggregate.clone(),
        watches,
        input: common.topics.scored.clone(),
        topics: common.topics.clone(),
        parts: BTreeMap::new(),
        opts: agg_opts.clone(),
        file,
        last_checkpoint: Instant::now(),
        batch: StageBatch::default(),
        metrics: metrics.clone(),
        latency: hdrhistogram::Histogram::new(3).expect("valid precision"),
    };
    let p = runner::run_loop(StageName::Aggregate, &common, producer, p, metrics, stop)?;
    if !p.latency.is_empty() {
        let (p50, p99) = (p.latency_ms(0.5), p.latency_ms(0.99));
        info!(
            posts = p.latency.len(),
            p50_ms = p50,
            p99_ms = p99,
            "latency from the raw topic to the aggregate"
        );
        if let Some(path) = &agg_opts.latency_out {
            let s = format!(
                "{{\"posts\":{},\"p50_ms\":{p50},\"p99_ms\":{p99},\"max_ms\":{}}}\n",
                p.latency.len(),
                p.latency.max() as f64 / 1000.0
            );
            if let Err(e) = std::fs::write(path, s) {
                warn!(error = %e, path = %path.display(), "cannot write latency");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use canary_core::{Post, Sentiment};

    fn stage(dir: &Path, metrics: &Metrics) -> Aggregate {
        let topics = Topics::new("t.");
        Aggregate {
            cfg: AggregateConfig::default(),
            watches: vec!["acme".into()],
            input: topics.scored.clone(),
            topics,
            parts: BTreeMap::new(),
            opts: AggregateOptions {
                state_dir: dir.to_owned(),
                checkpoint_every: Duration::from_secs(3600),
                alerts_out: None,
                emit_windows: false,
                latency_out: None,
            },
            file: None,
            last_checkpoint: Instant::now(),
            batch: StageBatch::default(),
            metrics: metrics.clone(),
            latency: hdrhistogram::Histogram::new(3).expect("valid precision"),
        }
    }

    fn post(id: u32, event_ms: i64) -> IngestRecord {
        let mut p = Post::new(id.to_string(), event_ms, "@acme meh");
        p.watches = vec!["acme".into()];
        p.lang = Some("en".into());
        p.sentiment = Some(Sentiment {
            neg: 0.0,
            neu: 1.0,
            pos: 0.0,
            compound: 0.0,
        });
        IngestRecord::Post(p)
    }

    /// One packed `scored` message holding `envs`, as upstream writes it.
    fn packed(envs: &[Envelope]) -> Vec<u8> {
        let mut out = Outputs::default();
        for e in envs {
            out.pack("t.scored", 0, e);
        }
        let mut recs = Vec::new();
        out.drain_ready(true, &mut recs);
        assert_eq!(recs.len(), 1);
        recs.remove(0).payload
    }

    #[test]
    fn one_partition_emits_windows_counts_drops_and_deletes_and_reports_them() {
        let dir = std::env::temp_dir().join(format!("canary-kafka-agg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let metrics = Metrics::new().unwrap();
        let mut a = stage(&dir, &metrics);
        let t0 = 1_714_996_800_000;
        let mut envs = Vec::new();
        let mut newest = None;
        for i in 0..240u32 {
            let t = t0 + i64::from(i) * 10_000;
            let mut e = Envelope::record(post(i, t), 0);
            e.max_event_ms = newest;
            envs.push(e);
            newest = Some(t);
            if i == 100 {
                // The same post again, and a delete for the one before it.
                let mut dup = Envelope::record(post(i, t), 0);
                dup.max_event_ms = newest;
                envs.push(dup);
                let mut del = Envelope::record(
                    IngestRecord::Delete {
                        v: canary_core::RECORD_VERSION,
                        id: (i - 1).to_string(),
                        at_ms: None,
                    },
                    0,
                );
                del.max_event_ms = newest;
                envs.push(del);
            }
        }
        // Half an hour behind the stream: its window has closed.
        let mut late = Envelope::record(post(999, t0), 0);
        late.max_event_ms = newest;
        envs.push(late);
        let payload = packed(&envs);
        let m = InMessage {
            topic: "t.scored",
            partition: 0,
            offset: 41,
            payload: &payload,
            timestamp_ms: None,
            control: None,
            format: None,
        };
        let mut out = Outputs::default();
        a.process(&m, &mut out).unwrap();
        let mut recs = Vec::new();
        out.drain_ready(true, &mut recs);
        let windows = recs.iter().filter(|r| r.topic == "t.windows").count();
        assert!(windows >= 6, "{windows} windows");
        let dead: Vec<&OutRecord> = recs
            .iter()
            .filter(|r| r.topic == "t.dead-letters")
            .collect();
        assert_eq!(dead.len(), 1, "the late post");
        let d: serde_json::Value = serde_json::from_slice(&dead[0].payload).unwrap();
        assert_eq!(d["reason"], "late");
        assert_eq!(d["stage"], "aggregate");
        // The counts the outputs took, as the consumer loop hands them on.
        a.report(
            &metrics,
            canary_telemetry::Batch {
                stage: "aggregate",
                records: 1,
                now_ms: t0 + 3_600_000,
                dead_letters: &out.tally.dead_letters,
                ..Default::default()
            },
        );
        std::fs::remove_dir_all(&dir).ok();
        let text = metrics.render();
        for line in [
            "canary_posts_dropped_total{reason=\"duplicate\",stage=\"aggregate\"} 1",
            "canary_posts_dropped_total{reason=\"deleted\",stage=\"aggregate\"} 1",
            "canary_dead_letters_total{reason=\"late\",stage=\"aggregate\"} 1",
            "canary_alert_firing{kind=\"negative_share\",lang=\"en\",watch=\"acme\"} 0",
            "canary_window_posts{lang=\"all\",watch=\"acme\"} 30",
            &format!("canary_windows_closed_total{{watch=\"acme\"}} {windows}"),
            "canary_stage_records_total{stage=\"aggregate\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(text.contains("canary_watermark_lag_seconds{stage=\"aggregate\"}"));
    }
}
