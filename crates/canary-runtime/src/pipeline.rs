//! Wiring of the embedded pipeline.

use crate::replay::{Pacer, ReplayOptions};
use crate::{Error, Summary};
use canary_core::aggregate::{
    AggregateConfig, AggregateOutput, Aggregator, AlertState, DeleteOutcome, PostOutcome,
};
use canary_core::{DeadLetter, IngestRecord};
use canary_ingest::{Item, Reader};
use canary_stages::{
    LanguageConfig, LanguageStage, Normalizer, PostStage, SentimentConfig, SentimentStage, Verdict,
    WatchConfig,
};
use canary_telemetry::Metrics;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{info, warn};

/// Stage configuration: what the config file describes.
#[derive(Debug, Clone, Default)]
pub struct PipelineSpec {
    /// Watches, in config order.
    pub watches: Vec<WatchConfig>,
    /// Language stage.
    pub language: LanguageConfig,
    /// Sentiment stage.
    pub sentiment: SentimentConfig,
    /// Aggregate stage.
    pub aggregate: AggregateConfig,
}

/// Runtime knobs: what the command line says.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Input arguments (`-`, files, directories, globs), read in order.
    pub inputs: Vec<String>,
    /// Reader options (format override, CSV mapping, ...).
    pub ingest: canary_ingest::Options,
    /// Replay controls.
    pub replay: ReplayOptions,
    /// Records per batch between stages.
    pub batch_size: usize,
    /// Batches each channel holds before the sender waits.
    pub channel_batches: usize,
    /// Live stream: advance the watermark by processing time when idle.
    pub live: bool,
    /// Also write window summaries to the alert output.
    pub emit_windows: bool,
    /// Show a live progress line on stderr (a terminal); otherwise progress is logged every 5 s.
    pub progress: bool,
    /// Read all inputs into memory and replay them in event-time order (for
    /// exports that are not in time order; memory grows with the input).
    pub sort_by_time: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            inputs: Vec::new(),
            ingest: canary_ingest::Options::default(),
            replay: ReplayOptions::default(),
            batch_size: 512,
            channel_batches: 16,
            live: false,
            emit_windows: false,
            progress: false,
            sort_by_time: false,
        }
    }
}

/// Where results go.
pub struct Outputs {
    /// Alert records, one JSON object per line.
    pub alerts: Box<dyn Write + Send>,
    /// Dead letters, one JSON object per line, if wanted.
    pub dead_letters: Option<Box<dyn Write + Send>>,
    /// Every emitted alert is also offered here (webhook sinks), if set.
    pub alert_tx: Option<std::sync::mpsc::Sender<canary_core::aggregate::Alert>>,
}

struct Msg {
    rec: IngestRecord,
    at: Instant,
}

type Batch = Vec<Msg>;

/// Dead letters from every stage: counted, logged at debug, written if wanted.
#[derive(Clone)]
struct DeadLetters {
    out: Arc<Mutex<Option<Box<dyn Write + Send>>>>,
    metrics: Metrics,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    error: Arc<Mutex<Option<std::io::Error>>>,
}

impl DeadLetters {
    fn send(&self, d: &DeadLetter) {
        self.metrics
            .dead_letters
            .with_label_values(&[&d.stage, &d.reason])
            .inc();
        *self
            .counts
            .lock()
            .expect("not poisoned")
            .entry(format!("{}/{}", d.stage, d.reason))
            .or_default() += 1;
        tracing::debug!(stage = %d.stage, reason = %d.reason, source = %d.source, offset = d.offset, detail = %d.detail, "dead letter");
        if let Some(w) = self.out.lock().expect("not poisoned").as_mut() {
            let r = serde_json::to_writer(&mut *w, d)
                .map_err(std::io::Error::from)
                .and_then(|_| w.write_all(b"\n"));
            if let Err(e) = r {
                self.error.lock().expect("not poisoned").get_or_insert(e);
            }
        }
    }
}

fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs the whole pipeline over `opts.inputs` until they end (or `stop` is
/// set), then flushes open windows. Stage construction errors come back before
/// any input is read.
pub fn run(
    spec: &PipelineSpec,
    opts: &RunOptions,
    outputs: Outputs,
    metrics: &Metrics,
    stop: Arc<AtomicBool>,
) -> Result<Summary, Error> {
    let started = Instant::now();
    // Build everything first: a bad config must fail before any work starts.
    let normalize = Normalizer::new(&spec.watches)?;
    let language = LanguageStage::new(&spec.language)?;
    let sentiment = SentimentStage::new(&spec.sentiment)?;
    let names: Vec<String> = normalize.matcher().names().to_vec();
    let aggregator = Aggregator::new(spec.aggregate.clone(), &names);
    let reader = Reader::open(&opts.inputs, opts.ingest.clone())?;

    let dead = DeadLetters {
        out: Arc::new(Mutex::new(outputs.dead_letters)),
        metrics: metrics.clone(),
        counts: Arc::default(),
        error: Arc::default(),
    };
    let cap = opts.channel_batches.max(1);
    let (tx_norm, rx_norm) = sync_channel::<Batch>(cap);
    let (tx_lang, rx_lang) = sync_channel::<Batch>(cap);
    let (tx_sent, rx_sent) = sync_channel::<Batch>(cap);
    let (tx_agg, rx_agg) = sync_channel::<Batch>(cap);

    let reader_handle = {
        let (m, d, o, stop) = (metrics.clone(), dead.clone(), opts.clone(), stop.clone());
        thread::Builder::new()
            .name("ingest".into())
            .spawn(move || read_inputs(reader, &o, tx_norm, &m, &d, &stop))
            .expect("spawn ingest thread")
    };
    let n = spawn_stage(normalize, rx_norm, tx_lang, metrics);
    let l = {
        let m = metrics.clone();
        spawn_stage_with(
            language,
            rx_lang,
            tx_sent,
            metrics,
            move |s: &LanguageStage| {
                for (lang, c) in s.counts() {
                    let p = m.lang_posts.with_label_values(&[lang]);
                    p.inc_by(c.posts.saturating_sub(p.get()));
                    let h = m.lang_hint_disagreements.with_label_values(&[lang]);
                    h.inc_by(c.hint_disagreed.saturating_sub(h.get()));
                }
            },
        )
    };
    let s = spawn_stage(sentiment, rx_sent, tx_agg, metrics);
    let agg = aggregate(
        aggregator,
        rx_agg,
        outputs.alerts,
        outputs.alert_tx,
        opts,
        metrics,
        &dead,
    );

    let (read_stats, unwatched) = {
        let r = reader_handle
            .join()
            .map_err(|_| Error::StagePanicked("ingest"))?;
        let u = n.join().map_err(|_| Error::StagePanicked("normalize"))?;
        l.join().map_err(|_| Error::StagePanicked("language"))?;
        s.join().map_err(|_| Error::StagePanicked("sentiment"))?;
        (r, u)
    };
    let agg = agg?;
    if let Some(e) = dead.error.lock().expect("not poisoned").take() {
        return Err(Error::Output {
            what: "dead letters",
            source: e,
        });
    }
    if let Some(w) = dead.out.lock().expect("not poisoned").as_mut() {
        w.flush().map_err(|source| Error::Output {
            what: "dead letters",
            source,
        })?;
    }
    let (st, latency) = (agg.stats, agg.latency);
    Ok(Summary {
        read: read_stats.read,
        posts: read_stats.posts,
        out_of_range: read_stats.out_of_range,
        notices: read_stats.notices,
        dead_letters: dead.counts.lock().expect("not poisoned").clone(),
        unwatched,
        duplicates: st.duplicates,
        deleted: st.deleted + st.deleted_before,
        counted: st.counted,
        windows: st.windows_closed,
        alerts: st.alerts,
        seconds: started.elapsed().as_secs_f64(),
        latency,
    })
}

#[derive(Default)]
struct ReadStats {
    read: u64,
    posts: u64,
    out_of_range: u64,
    notices: BTreeMap<String, u64>,
}

fn read_inputs(
    mut reader: Reader,
    opts: &RunOptions,
    tx: SyncSender<Batch>,
    metrics: &Metrics,
    dead: &DeadLetters,
    stop: &AtomicBool,
) -> ReadStats {
    let mut st = ReadStats::default();
    let mut pacer = Pacer::new(opts.replay.speed);
    let mut batch: Batch = Vec::with_capacity(opts.batch_size);
    let records = metrics.stage_records.with_label_values(&["ingest"]);
    let last_batch = metrics.stage_last_record.with_label_values(&["ingest"]);
    let mut reporter = crate::progress::Reporter::new(opts.progress);
    let mut last_event = None;
    let send = |b: &mut Batch| -> bool {
        if b.is_empty() {
            return true;
        }
        let full = std::mem::replace(b, Vec::with_capacity(opts.batch_size));
        let sent = tx.send(full).is_ok();
        last_batch.set(now_unix_ms() as f64 / 1000.0);
        sent
    };
    // Exports (CSV especially) are often newest-first; event-time windows need
    // them in time order, so they are read whole and sorted first.
    let mut sorted = opts
        .sort_by_time
        .then(|| sort_by_event_time(&mut reader).into_iter());
    loop {
        let next = match &mut sorted {
            Some(items) => items.next(),
            None => reader.next(),
        };
        let Some(item) = next else { break };
        if stop.load(Ordering::Relaxed) {
            info!("stop requested: closing the inputs");
            break;
        }
        st.read += 1;
        records.inc();
        let rec = match item {
            Item::DeadLetter(d) => {
                dead.send(&d);
                continue;
            }
            Item::Record(r) => r,
        };
        match &rec {
            IngestRecord::Post(p) => {
                if opts.replay.from_ms.is_some_and(|f| p.event_ms < f)
                    || opts.replay.to_ms.is_some_and(|t| p.event_ms >= t)
                {
                    st.out_of_range += 1;
                    continue;
                }
                if opts.replay.limit.is_some_and(|l| st.posts >= l) {
                    break;
                }
                st.posts += 1;
                last_event = Some(p.event_ms);
                if let Some(d) = pacer.delay(p.event_ms) {
                    // Hand over what is ready before sleeping, so pacing adds no latency.
                    if !send(&mut batch) {
                        break;
                    }
                    thread::sleep(d);
                }
            }
            IngestRecord::Delete { .. } => {
                *st.notices.entry("delete".into()).or_default() += 1;
                metrics.notices.with_label_values(&["delete"]).inc();
            }
            IngestRecord::Notice { kind, .. } => {
                *st.notices.entry(kind.as_str().into()).or_default() += 1;
                metrics.notices.with_label_values(&[kind.as_str()]).inc();
                continue;
            }
        }
        batch.push(Msg {
            rec,
            at: Instant::now(),
        });
        if batch.len() >= opts.batch_size && !send(&mut batch) {
            break;
        }
        reporter.tick(st.posts, last_event, || {
            let p = reader.progress();
            metrics.input_bytes.set(p.bytes_read as i64);
            p
        });
    }
    send(&mut batch);
    reporter.finish();
    metrics.input_bytes.set(reader.progress().bytes_read as i64);
    st
}

/// Reads every item and orders records by event time. Dead letters come first;
/// a notice or delete keeps its place after the post it followed. The sort is
/// stable, so posts with equal times keep their input order.
fn sort_by_event_time(reader: &mut Reader) -> Vec<Item> {
    let mut dead = Vec::new();
    let mut keyed = Vec::new();
    let mut last = i64::MIN;
    for item in reader.by_ref() {
        match item {
            Item::DeadLetter(_) => dead.push(item),
            Item::Record(IngestRecord::Post(ref p)) => {
                last = p.event_ms;
                keyed.push((last, item));
            }
            Item::Record(_) => keyed.push((last, item)),
        }
    }
    keyed.sort_by_key(|(t, _)| *t);
    info!(records = keyed.len(), "sorted the input by event time");
    dead.extend(keyed.into_iter().map(|(_, i)| i));
    dead
}

fn spawn_stage<S: PostStage + 'static>(
    stage: S,
    rx: Receiver<Batch>,
    tx: SyncSender<Batch>,
    metrics: &Metrics,
) -> thread::JoinHandle<u64> {
    spawn_stage_with(stage, rx, tx, metrics, |_| {})
}

/// Runs a per-post stage on its own thread; returns how many posts it dropped.
fn spawn_stage_with<S: PostStage + 'static>(
    mut stage: S,
    rx: Receiver<Batch>,
    tx: SyncSender<Batch>,
    metrics: &Metrics,
    after_batch: impl Fn(&S) + Send + 'static,
) -> thread::JoinHandle<u64> {
    let records = metrics.stage_records.with_label_values(&[S::NAME]);
    let seconds = metrics.stage_seconds.with_label_values(&[S::NAME]);
    let last_batch = metrics.stage_last_record.with_label_values(&[S::NAME]);
    let metrics = metrics.clone();
    thread::Builder::new()
        .name(S::NAME.into())
        .spawn(move || {
            let mut dropped = 0u64;
            for mut batch in rx {
                let t = Instant::now();
                let n = batch.len();
                batch.retain_mut(|m| match &mut m.rec {
                    IngestRecord::Post(p) => match stage.process(p) {
                        Verdict::Keep => true,
                        Verdict::Drop(reason) => {
                            dropped += 1;
                            metrics
                                .posts_dropped
                                .with_label_values(&[S::NAME, reason])
                                .inc();
                            false
                        }
                    },
                    _ => true,
                });
                records.inc_by(n as u64);
                last_batch.set(now_unix_ms() as f64 / 1000.0);
                if n > 0 {
                    seconds.observe(t.elapsed().as_secs_f64() / n as f64);
                }
                after_batch(&stage);
                if !batch.is_empty() && tx.send(batch).is_err() {
                    break;
                }
            }
            dropped
        })
        .expect("spawn stage thread")
}

struct AggregateResult {
    stats: canary_core::aggregate::AggregateStats,
    latency: Option<crate::Latency>,
}

fn aggregate(
    mut agg: Aggregator,
    rx: Receiver<Batch>,
    mut alerts: Box<dyn Write + Send>,
    alert_tx: Option<std::sync::mpsc::Sender<canary_core::aggregate::Alert>>,
    opts: &RunOptions,
    metrics: &Metrics,
    dead: &DeadLetters,
) -> Result<AggregateResult, Error> {
    let records = metrics.stage_records.with_label_values(&["aggregate"]);
    let seconds = metrics.stage_seconds.with_label_values(&["aggregate"]);
    let last_batch = metrics.stage_last_record.with_label_values(&["aggregate"]);
    let latency = &metrics.pipeline_latency;
    // Microseconds, 3 significant digits: a few ns per post, and real
    // percentiles for the run summary (the prometheus histogram has only buckets).
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
        .expect("valid histogram bounds");
    let mut out: Vec<AggregateOutput> = Vec::new();
    let mut line = Vec::with_capacity(1024);
    let clock = Instant::now();
    let write_err = |source| Error::Output {
        what: "alerts",
        source,
    };
    let mut emit = |out: &mut Vec<AggregateOutput>, agg: &Aggregator| -> Result<(), Error> {
        for o in out.drain(..) {
            match &o {
                AggregateOutput::Window(w) => {
                    let l = [w.watch.as_str(), w.lang.as_str()];
                    metrics
                        .window_volume
                        .with_label_values(&l)
                        .set(w.volume as i64);
                    metrics
                        .window_negative_share
                        .with_label_values(&l)
                        .set(w.negative_share());
                    if let Some(b) = w.baseline_share {
                        metrics.baseline_negative_share.with_label_values(&l).set(b);
                    }
                    metrics
                        .baseline_volume
                        .with_label_values(&l)
                        .set(w.baseline_volume);
                    metrics.windows_closed.with_label_values(&[&w.watch]).inc();
                    for (kind, firing) in [
                        ("negative_share", w.negative_firing),
                        ("volume", w.volume_firing),
                    ] {
                        metrics
                            .alert_firing
                            .with_label_values(&[&w.watch, &w.lang, kind])
                            .set(i64::from(firing));
                    }
                    if !opts.emit_windows {
                        continue;
                    }
                }
                AggregateOutput::Alert(a) => {
                    let state = if a.state == AlertState::Firing {
                        "firing"
                    } else {
                        "resolved"
                    };
                    metrics
                        .alerts
                        .with_label_values(&[a.kind.as_str(), state])
                        .inc();
                    info!(alert_id = %a.alert_id, state, watch = %a.watch, lang = %a.lang,
                        negative_share = a.negative_share, baseline_share = a.baseline_share,
                        volume = a.volume, "alert");
                    if let Some(tx) = &alert_tx {
                        let _ = tx.send(a.clone());
                    }
                }
            }
            line.clear();
            match &o {
                AggregateOutput::Alert(a) => serde_json::to_writer(&mut line, a),
                w => serde_json::to_writer(&mut line, w),
            }
            .map_err(|e| write_err(e.into()))?;
            line.push(b'\n');
            alerts.write_all(&line).map_err(write_err)?;
        }
        if let Some(wm) = agg.watermark() {
            metrics
                .watermark_timestamp
                .with_label_values(&["aggregate"])
                .set(wm as f64 / 1000.0);
            metrics
                .watermark_lag
                .with_label_values(&["aggregate"])
                .set((now_unix_ms() - wm) as f64 / 1000.0);
        }
        Ok(())
    };
    let tick = Duration::from_millis(500);
    loop {
        let batch = if opts.live {
            match rx.recv_timeout(tick) {
                Ok(b) => b,
                Err(RecvTimeoutError::Timeout) => {
                    agg.tick(clock.elapsed().as_millis() as i64, &mut out);
                    emit(&mut out, &agg)?;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(b) => b,
                Err(_) => break,
            }
        };
        let t = Instant::now();
        let n = batch.len();
        for m in batch {
            match m.rec {
                IngestRecord::Post(p) => {
                    let waited = m.at.elapsed();
                    latency.observe(waited.as_secs_f64());
                    hist.saturating_record(waited.as_micros() as u64);
                    match agg.on_post(&p, &mut out) {
                        PostOutcome::Late => dead.send(&DeadLetter::new(
                            "aggregate",
                            "late",
                            format!(
                                "event time {} is behind the watermark",
                                canary_core::time::format_rfc3339(p.event_ms)
                            ),
                            "pipeline",
                            0,
                            serde_json::to_string(&p).unwrap_or_default().as_bytes(),
                        )),
                        PostOutcome::Duplicate => metrics
                            .posts_dropped
                            .with_label_values(&["aggregate", "duplicate"])
                            .inc(),
                        PostOutcome::Deleted => metrics
                            .posts_dropped
                            .with_label_values(&["aggregate", "deleted"])
                            .inc(),
                        PostOutcome::Counted | PostOutcome::Unwatched => {}
                    }
                }
                IngestRecord::Delete { id, .. } => {
                    if agg.on_delete(&id) == DeleteOutcome::Removed {
                        metrics
                            .posts_dropped
                            .with_label_values(&["aggregate", "deleted"])
                            .inc();
                    }
                }
                IngestRecord::Notice { .. } => {}
            }
        }
        records.inc_by(n as u64);
        last_batch.set(now_unix_ms() as f64 / 1000.0);
        if n > 0 {
            seconds.observe(t.elapsed().as_secs_f64() / n as f64);
        }
        if opts.live {
            agg.tick(clock.elapsed().as_millis() as i64, &mut out);
        }
        emit(&mut out, &agg)?;
    }
    agg.flush(&mut out);
    emit(&mut out, &agg)?;
    alerts.flush().map_err(write_err)?;
    let st = agg.stats();
    if st.late > 0 {
        warn!(
            late = st.late,
            "posts arrived after their window closed (dead-lettered as late)"
        );
    }
    if st.late > 0 && st.late * 10 > st.counted + st.late && !opts.sort_by_time {
        warn!(
            "most posts were late: the input is not in event-time order; \
             replay it with --sort-by-time"
        );
    }
    let latency = (!hist.is_empty()).then(|| {
        let s = |us: u64| us as f64 / 1e6;
        crate::Latency {
            count: hist.len(),
            p50: s(hist.value_at_quantile(0.50)),
            p90: s(hist.value_at_quantile(0.90)),
            p99: s(hist.value_at_quantile(0.99)),
            max: s(hist.max()),
        }
    });
    Ok(AggregateResult {
        stats: agg.stats().clone(),
        latency,
    })
}
