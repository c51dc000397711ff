//! Wiring of the embedded pipeline.

use crate::{Error, Summary};
use canary_core::aggregate::{AggregateConfig, AggregateOutput, Aggregator, AlertState};
use canary_core::event_time::{EventTimeConfig, FutureGuard};
use canary_core::{DeadLetter, IngestRecord, Post};
use canary_ingest::{Item, Origin, Reader};
use canary_ingest::{Pass, ReplayGate, ReplayOptions, sort_by_event_time};
use canary_stages::{
    AggregateStage, LanguageConfig, LanguageStage, Normalizer, PostFate, PostStage,
    SentimentConfig, SentimentStage, Verdict, WatchConfig,
};
use canary_telemetry::Metrics;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
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
    /// Which event times may move the watermark.
    pub event_time: EventTimeConfig,
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
    /// Live stream: each post is handed on as soon as the reader has nothing
    /// more ready (not when a batch fills), and the watermark advances by
    /// processing time when idle.
    pub live: bool,
    /// Also write window summaries to the alert output.
    pub emit_windows: bool,
    /// Show a live progress line on stderr (a terminal); otherwise progress is logged every 5 s.
    pub progress: bool,
    /// Read all inputs into memory and replay them in event-time order (for
    /// exports that are not in time order; memory grows with the input).
    pub sort_by_time: bool,
    /// Threads that parse JSON lines behind the reader (0: one per core, at
    /// most 4; 1: the reader parses). Not used in live mode, where a batch
    /// must not wait for more lines to arrive.
    pub parse_threads: usize,
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
            parse_threads: 0,
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
    /// Every output of the aggregate stage is also shown here, closed windows
    /// whether `emit_windows` is on or not (the report), if set.
    pub observe: Option<Observer>,
    /// Social-care triage records, one JSON object per line, if wanted.
    pub triage: Option<Box<dyn Write + Send>>,
    /// Every triage record is also offered here (sinks with `events =
    /// ["triage"]`), if set.
    pub triage_tx: Option<std::sync::mpsc::Sender<canary_core::care::TriageRecord>>,
}

/// Sees each output of an aggregate stage, on the aggregate thread.
pub type Observer = Box<dyn FnMut(&AggregateOutput) + Send>;

/// A second aggregate stage over the same posts, with its own config: what
/// another alert config would have given, from one read of the input.
struct Shadow {
    stage: AggregateStage,
    observe: Observer,
}

struct Msg {
    rec: IngestRecord,
    origin: Origin,
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
    /// Inputs already named in a warning: a damaged file is worth one line
    /// in the log, not one per record lost.
    warned: Arc<Mutex<std::collections::HashSet<String>>>,
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
        if matches!(d.reason.as_str(), "read_error" | "truncated_json")
            && self
                .warned
                .lock()
                .expect("not poisoned")
                .insert(d.source.to_string())
        {
            warn!(source = %d.source, line = d.offset, reason = %d.reason, detail = %d.detail,
                "input is truncated or corrupt: what cannot be read of it is dead-lettered");
        }
        if let Some(w) = self.out.lock().expect("not poisoned").as_mut() {
            // One write of the whole line: a reader tailing the file never
            // sees half a record, and nothing waits in a buffer for a crash.
            let r = serde_json::to_vec(d)
                .map_err(std::io::Error::from)
                .and_then(|mut line| {
                    line.push(b'\n');
                    w.write_all(&line)
                });
            if let Err(e) = r {
                self.error.lock().expect("not poisoned").get_or_insert(e);
            }
        }
    }
}

/// The stages built and the inputs opened: everything that can be wrong
/// with what the user asked for has been checked, and nothing written yet.
pub struct Pipeline {
    normalize: Normalizer,
    language: LanguageStage,
    sentiment: SentimentStage,
    aggregator: Aggregator,
    guard: FutureGuard,
    input: Input,
    opts: RunOptions,
    stop: Arc<AtomicBool>,
    shadow: Option<Shadow>,
}

impl Pipeline {
    /// Builds every stage and opens the inputs (a missing file or a glob that
    /// matches nothing is an error here). Once `stop` is set the inputs end,
    /// stdin included even while its writer keeps it open.
    ///
    /// # Errors
    /// A stage refuses its configuration, or an input cannot be opened.
    pub fn new(
        spec: &PipelineSpec,
        opts: &RunOptions,
        stop: Arc<AtomicBool>,
    ) -> Result<Pipeline, Error> {
        let mut ingest = opts.ingest.clone();
        ingest.stop = Some(stop.clone());
        Self::build(spec, opts.clone(), stop, || {
            Ok(Input::Reader(Box::new(Reader::open(&opts.inputs, ingest)?)))
        })
    }

    /// Builds every stage over a live feed instead of inputs: items and the
    /// instant each arrived, from live sources (`canary-sources`). The run
    /// is live whatever `opts.live` says, and ends once `stop` is set or
    /// every sender is gone.
    ///
    /// # Errors
    /// A stage refuses its configuration.
    pub fn with_feed(
        spec: &PipelineSpec,
        opts: &RunOptions,
        stop: Arc<AtomicBool>,
        feed: Receiver<(Item, Instant)>,
    ) -> Result<Pipeline, Error> {
        let mut opts = opts.clone();
        opts.live = true;
        opts.sort_by_time = false;
        Self::build(spec, opts, stop, || Ok(Input::Feed(feed)))
    }

    /// The stages are built before the input is opened, so a refused stage
    /// configuration opens no input.
    fn build(
        spec: &PipelineSpec,
        opts: RunOptions,
        stop: Arc<AtomicBool>,
        input: impl FnOnce() -> Result<Input, Error>,
    ) -> Result<Pipeline, Error> {
        let normalize = Normalizer::new(&spec.watches)?;
        let language = LanguageStage::new(&spec.language)?;
        let sentiment = SentimentStage::new(&spec.sentiment)?;
        let names: Vec<String> = normalize.matcher().names().to_vec();
        let aggregator = Aggregator::new(spec.aggregate.clone(), &names);
        Ok(Pipeline {
            normalize,
            language,
            sentiment,
            aggregator,
            guard: FutureGuard::new(spec.event_time.clone()),
            input: input()?,
            opts,
            stop,
            shadow: None,
        })
    }

    /// Also runs a second aggregate stage with `config` over the same posts
    /// (after the same watch matching, language detection and scoring), and
    /// shows its outputs to `observe`. What it refuses is not dead-lettered
    /// again: the primary stage's dead letters already tell of the input.
    pub fn with_shadow(
        mut self,
        config: AggregateConfig,
        event_time: EventTimeConfig,
        observe: Observer,
    ) -> Self {
        let names = self.normalize.matcher().names().to_vec();
        self.shadow = Some(Shadow {
            stage: AggregateStage::from(Aggregator::new(config, &names))
                .with_future_guard(FutureGuard::new(event_time)),
            observe,
        });
        self
    }

    /// Runs until the inputs end (or the stop flag is set), then flushes
    /// open windows.
    ///
    /// # Errors
    /// Writing an output failed, or a stage thread panicked.
    pub fn run(self, outputs: Outputs, metrics: &Metrics) -> Result<Summary, Error> {
        run_built(self, outputs, metrics)
    }
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
    Pipeline::new(spec, opts, stop)?.run(outputs, metrics)
}

fn run_built(p: Pipeline, outputs: Outputs, metrics: &Metrics) -> Result<Summary, Error> {
    let started = Instant::now();
    let Pipeline {
        normalize,
        language,
        sentiment,
        aggregator,
        guard,
        input,
        opts,
        stop,
        shadow,
    } = p;
    let opts = &opts;

    let dead = DeadLetters {
        out: Arc::new(Mutex::new(outputs.dead_letters)),
        metrics: metrics.clone(),
        counts: Arc::default(),
        error: Arc::default(),
        warned: Arc::default(),
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
            .stack_size(canary_ingest::PARSE_STACK_BYTES)
            .spawn(move || read_inputs(input, &o, tx_norm, &m, &d, &stop))
            .expect("spawn ingest thread")
    };
    let watches = normalize.matcher().names().to_vec();
    let n = spawn_stage(normalize, rx_norm, tx_lang, "language", metrics);
    let l = spawn_stage_with(
        language,
        rx_lang,
        (tx_sent, "sentiment"),
        metrics,
        LanguageStage::totals,
    );
    let s = spawn_stage(sentiment, rx_sent, tx_agg, "aggregate", metrics);
    metrics.preset("aggregate", &[], &watches);
    let agg = aggregate(
        aggregator,
        guard,
        rx_agg,
        (outputs.alerts, outputs.triage),
        (outputs.alert_tx, outputs.triage_tx, outputs.observe, shadow),
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

/// What the ingest thread reads.
enum Input {
    /// Inputs opened by the reader.
    Reader(Box<Reader>),
    /// Items from live sources, with the instant each arrived.
    Feed(Receiver<(Item, Instant)>),
}

fn read_inputs(
    input: Input,
    opts: &RunOptions,
    tx: SyncSender<Batch>,
    metrics: &Metrics,
    dead: &DeadLetters,
    stop: &AtomicBool,
) -> ReadStats {
    let mut st = ReadStats::default();
    let mut gate = ReplayGate::new(opts.replay.clone());
    let mut batch: Batch = Vec::with_capacity(opts.batch_size);
    let reasons = canary_ingest::Reason::ALL.map(canary_ingest::Reason::as_str);
    metrics.preset("ingest", &reasons, &[]);
    let records = metrics.stage_records.with_label_values(&["ingest"]);
    let depth = metrics.queue_depth.with_label_values(&["normalize"]);
    let last_batch = metrics.stage_last_record.with_label_values(&["ingest"]);
    let mut reporter = crate::progress::Reporter::new(opts.progress);
    let mut last_event = None;
    let send = |b: &mut Batch| -> bool {
        if b.is_empty() {
            return true;
        }
        let full = std::mem::replace(b, Vec::with_capacity(opts.batch_size));
        depth.inc();
        let sent = tx.send(full).is_ok();
        last_batch.set(canary_core::time::now_ms() as f64 / 1000.0);
        sent
    };
    // Exports (CSV especially) are often newest-first; event-time windows need
    // them in time order, so they are read whole and sorted first.
    let (mut sorted, mut parallel, mut reader) = match input {
        Input::Feed(rx) => (
            None,
            None,
            Source::Live(LiveFeed {
                rx,
                progress: Arc::new(Mutex::new(canary_ingest::Progress {
                    bytes_read: 0,
                    bytes_total: None,
                    inputs_done: 0,
                    inputs_total: 0,
                    source: "live sources".into(),
                    line: 0,
                })),
            }),
        ),
        Input::Reader(mut reader) => {
            let sorted = opts.sort_by_time.then(|| {
                let items = sort_by_event_time(&mut reader);
                info!(items = items.len(), "sorted the input by event time");
                items.into_iter()
            });
            let threads = match opts.parse_threads {
                0 => thread::available_parallelism().map_or(1, |n| n.get().min(4)),
                n => n,
            };
            let parallel = (sorted.is_none() && !opts.live && threads > 1)
                .then(|| ParallelParse::new(reader.parse_options(), threads, opts.batch_size));
            let source = if opts.live && sorted.is_none() {
                Source::Live(LiveFeed::spawn(*reader, opts.batch_size))
            } else {
                Source::Here(reader)
            };
            (sorted, parallel, source)
        }
    };
    loop {
        let mut read_at = None;
        let next = match (&mut sorted, &mut parallel, &mut reader) {
            (Some(items), ..) => items.next(),
            (None, Some(p), Source::Here(r)) => p.next(r),
            (None, _, Source::Here(r)) => r.next(),
            (None, _, Source::Live(feed)) => {
                // A live post must not wait for the next one: whatever is
                // batched goes on as soon as the reader has nothing ready.
                let mut idle = || send(&mut batch);
                feed.next(&mut idle, stop).map(|(item, at)| {
                    read_at = Some(at);
                    item
                })
            }
        };
        let Some(item) = next else { break };
        if stop.load(Ordering::Relaxed) {
            info!("stop requested: closing the inputs");
            break;
        }
        st.read += 1;
        records.inc();
        let (rec, origin) = match item {
            Item::DeadLetter(d) => {
                dead.send(&d);
                continue;
            }
            Item::Record(r, o) => (r, o),
        };
        match &rec {
            IngestRecord::Post(p) => {
                match gate.pass(Some(p.event_ms), 1, Instant::now()) {
                    Pass::Skip => {
                        st.out_of_range += 1;
                        continue;
                    }
                    Pass::Stop => break,
                    Pass::Send(wait) => {
                        st.posts += 1;
                        last_event = Some(p.event_ms);
                        if let Some(d) = wait {
                            // Hand over what is ready before sleeping, so pacing adds no latency.
                            if !send(&mut batch) {
                                break;
                            }
                            sleep_unless_stopped(d, stop);
                        }
                    }
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
            origin,
            at: read_at.unwrap_or_else(Instant::now),
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

/// Where the ingest loop takes its items from.
enum Source {
    /// Read and parsed on the ingest thread itself.
    Here(Box<Reader>),
    /// Read on a helper thread (live mode).
    Live(LiveFeed),
}

impl Source {
    fn progress(&self) -> canary_ingest::Progress {
        match self {
            Source::Here(r) => r.progress(),
            Source::Live(f) => f.progress.lock().expect("not poisoned").clone(),
        }
    }
}

/// The reader on its own thread, so the ingest thread can tell "nothing
/// ready yet" from "more is coming": a blocked `Reader::next` cannot say
/// that, and a live post must not sit in a half-full batch until the next
/// post arrives, which at a few posts an hour is hours.
///
/// Batches stay large under load all the same: while the stages downstream
/// are busy the ingest thread waits on them and items queue up here.
struct LiveFeed {
    rx: Receiver<(Item, Instant)>,
    progress: Arc<Mutex<canary_ingest::Progress>>,
}

impl LiveFeed {
    /// How often the reader's position is published for the progress line.
    const PROGRESS_EVERY: Duration = Duration::from_millis(250);
    /// How often a wait for input looks at the stop flag.
    const POLL: Duration = Duration::from_millis(100);

    fn spawn(mut reader: Reader, queue: usize) -> LiveFeed {
        let (tx, rx) = sync_channel(queue.max(1));
        let progress = Arc::new(Mutex::new(reader.progress()));
        let shared = progress.clone();
        // The reader thread is not joined: on an open pipe it may be blocked
        // in a read that only the writer can end. It stops at the next item
        // once the ingest thread has hung up, or with the process.
        thread::Builder::new()
            .name("live-reader".into())
            .stack_size(canary_ingest::PARSE_STACK_BYTES)
            .spawn(move || {
                let mut published = Instant::now();
                while let Some(item) = reader.next() {
                    if tx.send((item, Instant::now())).is_err() {
                        break;
                    }
                    if published.elapsed() >= Self::PROGRESS_EVERY {
                        *shared.lock().expect("not poisoned") = reader.progress();
                        published = Instant::now();
                    }
                }
                *shared.lock().expect("not poisoned") = reader.progress();
            })
            .expect("spawn live reader thread");
        LiveFeed { rx, progress }
    }

    /// The next item and when it was read, `None` at the end of the inputs
    /// or once `stop` is set. `idle` runs before any wait for input.
    fn next(
        &mut self,
        idle: &mut impl FnMut() -> bool,
        stop: &AtomicBool,
    ) -> Option<(Item, Instant)> {
        use std::sync::mpsc::TryRecvError;
        match self.rx.try_recv() {
            Ok(i) => return Some(i),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {
                if !idle() {
                    return None;
                }
            }
        }
        loop {
            match self.rx.recv_timeout(Self::POLL) {
                Ok(i) => return Some(i),
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) if stop.load(Ordering::Relaxed) => return None,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

/// Sleeps `d`, cut short by a stop request: at `--speed realtime` the gap
/// before the next post can be hours.
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stop.load(Ordering::Relaxed) {
            return;
        }
        thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// A batch of reader output with its JSON lines still unparsed.
#[derive(Default)]
struct RawBatch {
    data: Vec<u8>,
    entries: Vec<canary_ingest::Deferred>,
}

/// JSON parsing on `k` threads behind the reader, in input order: batch `n`
/// goes to worker `n % k` and results are taken from worker `n % k` in turn,
/// so order is restored without a re-ordering buffer. At most two batches per
/// worker are in flight, so neither side ever blocks on a full channel while
/// the other waits for it.
struct ParallelParse {
    txs: Vec<SyncSender<RawBatch>>,
    rxs: Vec<Receiver<(Vec<Item>, RawBatch)>>,
    workers: Vec<thread::JoinHandle<()>>,
    sent: usize,
    received: usize,
    out: std::vec::IntoIter<Item>,
    spare: Vec<RawBatch>,
    eof: bool,
    batch: usize,
}

const PARSE_IN_FLIGHT: usize = 2;

impl ParallelParse {
    fn new(opts: &canary_ingest::ParseOptions, k: usize, batch: usize) -> Self {
        let (mut txs, mut rxs, mut workers) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..k {
            let (tx, rx_in) = sync_channel::<RawBatch>(PARSE_IN_FLIGHT);
            let (tx_out, rx) = sync_channel(PARSE_IN_FLIGHT);
            let opts = opts.clone();
            workers.push(
                thread::Builder::new()
                    .name("parse".into())
                    .stack_size(canary_ingest::PARSE_STACK_BYTES)
                    .spawn(move || {
                        let mut scratch = Vec::new();
                        for mut raw in rx_in {
                            let mut items = Vec::with_capacity(raw.entries.len());
                            for e in raw.entries.drain(..) {
                                match e {
                                    canary_ingest::Deferred::Item(i) => items.push(i),
                                    canary_ingest::Deferred::Line(l) => canary_ingest::parse_raw(
                                        &raw.data[l.start..l.end],
                                        &l,
                                        &opts,
                                        &mut scratch,
                                        &mut items,
                                    ),
                                }
                            }
                            raw.data.clear();
                            if tx_out.send((items, raw)).is_err() {
                                break;
                            }
                        }
                    })
                    .expect("spawn parse thread"),
            );
            txs.push(tx);
            rxs.push(rx);
        }
        ParallelParse {
            txs,
            rxs,
            workers,
            sent: 0,
            received: 0,
            out: Vec::new().into_iter(),
            spare: Vec::new(),
            eof: false,
            batch: batch.max(1),
        }
    }

    fn next(&mut self, reader: &mut Reader) -> Option<Item> {
        loop {
            if let Some(i) = self.out.next() {
                return Some(i);
            }
            let k = self.txs.len();
            while !self.eof && self.sent - self.received < k * PARSE_IN_FLIGHT {
                let mut b = self.spare.pop().unwrap_or_default();
                // Bounded by bytes too, so a file of huge lines stays bounded in memory.
                while b.entries.len() < self.batch && b.data.len() < 8 << 20 {
                    match reader.next_deferred(&mut b.data) {
                        Some(d) => b.entries.push(d),
                        None => {
                            self.eof = true;
                            break;
                        }
                    }
                }
                if b.entries.is_empty() {
                    break;
                }
                self.txs[self.sent % k].send(b).ok()?;
                self.sent += 1;
            }
            if self.received == self.sent {
                return None;
            }
            let (items, raw) = self.rxs[self.received % k].recv().ok()?;
            self.received += 1;
            self.spare.push(raw);
            self.out = items.into_iter();
        }
    }
}

impl Drop for ParallelParse {
    fn drop(&mut self) {
        // Closing both sides ends the workers whether they wait to receive or to send.
        self.txs.clear();
        self.rxs.clear();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn spawn_stage<S: PostStage + 'static>(
    stage: S,
    rx: Receiver<Batch>,
    tx: SyncSender<Batch>,
    next: &'static str,
    metrics: &Metrics,
) -> thread::JoinHandle<u64> {
    spawn_stage_with(stage, rx, (tx, next), metrics, |_| Vec::new())
}

/// Runs a per-post stage on its own thread; returns how many posts it dropped.
/// `languages` gives the stage's language totals for the metrics.
fn spawn_stage_with<S: PostStage + 'static>(
    mut stage: S,
    rx: Receiver<Batch>,
    (tx, next): (SyncSender<Batch>, &'static str),
    metrics: &Metrics,
    languages: impl Fn(&S) -> Vec<(&'static str, u64, u64)> + Send + 'static,
) -> thread::JoinHandle<u64> {
    let metrics = metrics.clone();
    let (in_depth, out_depth) = (
        metrics.queue_depth.with_label_values(&[S::NAME]),
        metrics.queue_depth.with_label_values(&[next]),
    );
    metrics.preset(S::NAME, &[], &[]);
    thread::Builder::new()
        .name(S::NAME.into())
        .spawn(move || {
            let mut dropped = 0u64;
            let mut reasons: Vec<(&'static str, u64)> = Vec::new();
            for mut batch in rx {
                in_depth.dec();
                let t = Instant::now();
                let n = batch.len();
                reasons.clear();
                batch.retain_mut(|m| match &mut m.rec {
                    IngestRecord::Post(p) => match stage.process(p) {
                        Verdict::Keep => true,
                        Verdict::Drop(reason) => {
                            dropped += 1;
                            match reasons.iter_mut().find(|(r, _)| *r == reason) {
                                Some((_, c)) => *c += 1,
                                None => reasons.push((reason, 1)),
                            }
                            false
                        }
                    },
                    _ => true,
                });
                metrics.emit(&canary_telemetry::Batch {
                    stage: S::NAME,
                    records: n as u64,
                    busy: t.elapsed(),
                    now_ms: canary_core::time::now_ms(),
                    dropped: &reasons,
                    languages: &languages(&stage),
                    ..Default::default()
                });
                if !batch.is_empty() {
                    // Counted before the send, which may wait on a full channel.
                    out_depth.inc();
                    if tx.send(batch).is_err() {
                        break;
                    }
                }
            }
            dropped
        })
        .expect("spawn stage thread")
}

impl Shadow {
    fn deliver(&mut self) {
        for o in &self.stage.take().outputs {
            (self.observe)(o);
        }
    }
}

struct AggregateResult {
    stats: canary_core::aggregate::AggregateStats,
    latency: Option<crate::Latency>,
}

/// A post the aggregate refuses, pointing at the line it was read from. The
/// line itself is no longer held: `raw` is the post as canary read it.
fn refused(p: &Post, origin: &Origin, reason: &str, detail: String) -> DeadLetter {
    DeadLetter::new(
        "aggregate",
        reason,
        detail,
        &origin.source,
        origin.line,
        serde_json::to_string(p).unwrap_or_default().as_bytes(),
    )
}

/// Where the aggregate thread offers records to the sinks, if anywhere.
type Tx<T> = Option<std::sync::mpsc::Sender<T>>;

#[allow(clippy::too_many_arguments)]
fn aggregate(
    agg: Aggregator,
    guard: FutureGuard,
    rx: Receiver<Batch>,
    (mut alerts, mut triage): (Box<dyn Write + Send>, Option<Box<dyn Write + Send>>),
    (alert_tx, triage_tx, mut observe, mut shadow): (
        Tx<canary_core::aggregate::Alert>,
        Tx<canary_core::care::TriageRecord>,
        Option<Observer>,
        Option<Shadow>,
    ),
    opts: &RunOptions,
    metrics: &Metrics,
    dead: &DeadLetters,
) -> Result<AggregateResult, Error> {
    let mut stage = AggregateStage::from(agg).with_future_guard(guard);
    let depth = metrics.queue_depth.with_label_values(&["aggregate"]);
    let latency = &metrics.pipeline_latency;
    // Microseconds, 3 significant digits: a few ns per post, and real
    // percentiles for the run summary (the prometheus histogram has only buckets).
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
        .expect("valid histogram bounds");
    let mut line = Vec::with_capacity(1024);
    let clock = Instant::now();
    let write_err = |source| Error::Output {
        what: "alerts",
        source,
    };
    // Writes what the batch produced, then sets every metric it concerns.
    let mut deliver =
        |stage: &mut AggregateStage, records: u64, busy: Duration| -> Result<(), Error> {
            let b = stage.take();
            for o in &b.outputs {
                if let Some(f) = observe.as_mut() {
                    f(o);
                }
                if let AggregateOutput::Triage(t) = o {
                    if let Some(out) = &mut triage {
                        line.clear();
                        serde_json::to_writer(&mut line, t).map_err(|e| Error::Output {
                            what: "triage",
                            source: e.into(),
                        })?;
                        line.push(b'\n');
                        out.write_all(&line).map_err(|source| Error::Output {
                            what: "triage",
                            source,
                        })?;
                    }
                    if let Some(tx) = &triage_tx {
                        let _ = tx.send(t.clone());
                    }
                    continue;
                }
                if matches!(o, AggregateOutput::Care(_))
                    || (matches!(o, AggregateOutput::Window(_)) && !opts.emit_windows)
                {
                    continue;
                }
                line.clear();
                match o {
                    AggregateOutput::Alert(a) => serde_json::to_writer(&mut line, a),
                    w => serde_json::to_writer(&mut line, w),
                }
                .map_err(|e| write_err(e.into()))?;
                line.push(b'\n');
                alerts.write_all(&line).map_err(write_err)?;
                // Logged and handed to the sinks only once written: whoever
                // reads the log finds the alert in the output already.
                if let AggregateOutput::Alert(a) = o {
                    let state = if a.state == AlertState::Firing {
                        "firing"
                    } else {
                        "resolved"
                    };
                    info!(alert_id = %a.alert_id, state, watch = %a.watch, lang = %a.lang,
                    negative_share = a.negative_share, baseline_share = a.baseline_share,
                    volume = a.volume, "alert");
                    if let Some(tx) = &alert_tx {
                        let _ = tx.send(a.clone());
                    }
                }
            }
            metrics.emit(&canary_telemetry::Batch {
                stage: "aggregate",
                records,
                busy,
                now_ms: canary_core::time::now_ms(),
                dropped: &b.dropped,
                outputs: &b.outputs,
                watermark_ms: stage.aggregator().watermark(),
                ..Default::default()
            });
            Ok(())
        };
    let tick = Duration::from_millis(500);
    loop {
        let batch = if opts.live {
            match rx.recv_timeout(tick) {
                Ok(b) => b,
                Err(RecvTimeoutError::Timeout) => {
                    let now = clock.elapsed().as_millis() as i64;
                    stage.tick(now);
                    if let Some(sh) = shadow.as_mut() {
                        sh.stage.tick(now);
                        sh.deliver();
                    }
                    deliver(&mut stage, 0, Duration::ZERO)?;
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
        depth.dec();
        let t = Instant::now();
        let n = batch.len();
        let now = canary_core::time::now_ms();
        for m in batch {
            match m.rec {
                IngestRecord::Post(p) => {
                    let waited = m.at.elapsed();
                    latency.observe(waited.as_secs_f64());
                    hist.saturating_record(waited.as_micros() as u64);
                    if let PostFate::Refused { reason, detail } = stage.post(&p, now) {
                        dead.send(&refused(&p, &m.origin, reason, detail));
                    }
                    if let Some(sh) = shadow.as_mut() {
                        sh.stage.post(&p, now);
                    }
                }
                IngestRecord::Delete { id, .. } => {
                    stage.delete(&id);
                    if let Some(sh) = shadow.as_mut() {
                        sh.stage.delete(&id);
                    }
                }
                IngestRecord::Notice { .. } => {}
            }
        }
        if let Some(sh) = shadow.as_mut() {
            if opts.live {
                sh.stage.tick(clock.elapsed().as_millis() as i64);
            }
            sh.deliver();
        }
        if opts.live {
            stage.tick(clock.elapsed().as_millis() as i64);
        }
        deliver(&mut stage, n as u64, t.elapsed())?;
    }
    if let Some(sh) = shadow.as_mut() {
        sh.stage.flush();
        sh.deliver();
    }
    stage.flush();
    deliver(&mut stage, 0, Duration::ZERO)?;
    alerts.flush().map_err(write_err)?;
    if let Some(t) = &mut triage {
        t.flush().map_err(|source| Error::Output {
            what: "triage",
            source,
        })?;
    }
    let st = stage.aggregator().stats().clone();
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
    Ok(AggregateResult { stats: st, latency })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn run_with(path: &str, parse_threads: usize) -> (Vec<u8>, Vec<u8>, Summary) {
        let spec = PipelineSpec {
            watches: vec![WatchConfig {
                name: "acme".into(),
                patterns: vec!["@acme".into(), "acme corp".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        let opts = RunOptions {
            inputs: vec![path.into()],
            batch_size: 7,
            emit_windows: true,
            parse_threads,
            ..Default::default()
        };
        let (alerts, dead) = (Shared::default(), Shared::default());
        let outputs = Outputs {
            alerts: Box::new(alerts.clone()),
            dead_letters: Some(Box::new(dead.clone())),
            alert_tx: None,
            observe: None,
            triage: None,
            triage_tx: None,
        };
        let mut s = run(
            &spec,
            &opts,
            outputs,
            &Metrics::new().expect("metrics"),
            Arc::new(AtomicBool::new(false)),
        )
        .expect("run");
        (s.seconds, s.latency) = (0.0, None);
        let take = |x: Shared| x.0.lock().expect("not poisoned").clone();
        (take(alerts), take(dead), s)
    }

    fn collecting(into: &Shared) -> Observer {
        let into = into.clone();
        Box::new(move |o| {
            let mut line = serde_json::to_vec(o).expect("serialises");
            line.push(b'\n');
            into.0
                .lock()
                .expect("not poisoned")
                .extend_from_slice(&line);
        })
    }

    #[test]
    fn the_observer_and_a_shadow_with_the_same_config_see_what_is_written() {
        let dir = std::env::temp_dir().join(format!("canary-runtime-obs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.jsonl");
        let mut text = String::new();
        for i in 0..2000u64 {
            let t = 1_714_996_800 + i * 3;
            let (h, m, s) = (t / 3600 % 24, t / 60 % 60, t % 60);
            let body = if (900..1300).contains(&i) && i % 2 == 0 {
                "@acme this is the worst, I hate it"
            } else {
                "@acme fine, thanks"
            };
            text.push_str(&format!(
                r#"{{"created_at":"Mon May 06 {h:02}:{m:02}:{s:02} +0000 2024","id_str":"{}","text":"{body}","lang":"en"}}"#,
                1_000_000 + i
            ));
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        let spec = PipelineSpec {
            watches: vec![WatchConfig {
                name: "acme".into(),
                patterns: vec!["@acme".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        let opts = RunOptions {
            inputs: vec![path.to_str().unwrap().into()],
            emit_windows: true,
            ..Default::default()
        };
        let (written, seen, shadow) = (Shared::default(), Shared::default(), Shared::default());
        let outputs = Outputs {
            alerts: Box::new(written.clone()),
            dead_letters: None,
            alert_tx: None,
            observe: Some(collecting(&seen)),
            triage: None,
            triage_tx: None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let s = Pipeline::new(&spec, &opts, stop)
            .expect("pipeline")
            .with_shadow(
                spec.aggregate.clone(),
                spec.event_time.clone(),
                collecting(&shadow),
            )
            .run(outputs, &Metrics::new().expect("metrics"))
            .expect("run");
        std::fs::remove_dir_all(&dir).ok();
        assert!(s.alerts > 0 && s.windows > 0, "{s:?}");
        let take = |x: &Shared| String::from_utf8(x.0.lock().unwrap().clone()).unwrap();
        assert_eq!(take(&seen), take(&shadow));
        // The alert output writes alerts untagged, as they always were.
        assert_eq!(
            take(&written),
            take(&seen).replace(r#"{"type":"alert","#, "{")
        );
    }

    #[test]
    fn parallel_parsing_keeps_input_order_and_dead_letters() {
        let dir = std::env::temp_dir().join(format!("canary-runtime-par-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.jsonl");
        let mut text = String::new();
        for i in 0..3000u64 {
            // Event time runs 1 s apart with a few posts out of order, so
            // windows close mid-stream and order matters.
            let t = 1_714_996_800 + i - if i % 97 == 0 { 30 } else { 0 };
            let (h, m, s) = (t / 3600 % 24, t / 60 % 60, t % 60);
            let body = match i % 5 {
                0 => "@acme this is the worst, I hate it",
                1 => "acme corp is great, love it",
                2 => "nothing to see here",
                _ => "@acme ok",
            };
            text.push_str(&format!(
                r#"{{"created_at":"Mon May 06 {h:02}:{m:02}:{s:02} +0000 2024","id_str":"{}","text":"{body}","lang":"en"}}"#,
                1_000_000 + i
            ));
            text.push('\n');
            if i % 211 == 0 {
                text.push_str("{\"created_at\": broken\n");
            }
            if i % 307 == 0 {
                text.push_str(&format!(
                    "{{\"delete\":{{\"status\":{{\"id_str\":\"{}\"}}}}}}\n",
                    1_000_000 + i - 3
                ));
            }
        }
        std::fs::write(&path, text).unwrap();
        let p = path.to_str().unwrap();
        let serial = run_with(p, 1);
        let parallel = run_with(p, 3);
        std::fs::remove_dir_all(&dir).ok();
        assert!(
            serial.2.windows > 0 && serial.2.posts == 3000,
            "{:?}",
            serial.2
        );
        assert!(!serial.1.is_empty(), "the broken lines are dead letters");
        assert_eq!(serial.2, parallel.2);
        assert_eq!(
            String::from_utf8_lossy(&serial.0),
            String::from_utf8_lossy(&parallel.0)
        );
        assert_eq!(
            String::from_utf8_lossy(&serial.1),
            String::from_utf8_lossy(&parallel.1)
        );
    }
}
