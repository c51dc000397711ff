//! `canary stage` and `canary replay`: the pipeline as one process per stage
//! over Kafka (see crates/canary-kafka).

use crate::config::Config;
use crate::{parse_time, usage};
use anyhow::{Context, Result, anyhow};
use canary_core::{DeadLetter, IngestRecord};
use canary_ingest::{Deferred, Item, Parsed};
use canary_kafka::{AggregateOptions, KafkaConfig, RawProducer, StageName, StageOptions};
use canary_runtime::Pass;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Broker settings shared by `stage` and `replay`; each overrides the config's `[kafka]` table.
#[derive(Debug, Args)]
pub struct KafkaArgs {
    /// Bootstrap brokers, host:port[,host:port...].
    #[arg(long, env = "CANARY_KAFKA_BROKERS")]
    pub brokers: Option<String>,
    /// librdkafka option key=value, passed through (repeatable; later wins).
    #[arg(
        long = "kafka-option",
        env = "CANARY_KAFKA_OPTIONS",
        value_delimiter = ','
    )]
    pub kafka_options: Vec<String>,
    /// Prefix of every topic name.
    #[arg(long, env = "CANARY_KAFKA_TOPIC_PREFIX")]
    pub topic_prefix: Option<String>,
    /// Prefix of every consumer group id.
    #[arg(long, env = "CANARY_KAFKA_GROUP_PREFIX")]
    pub group_prefix: Option<String>,
    /// Partitions of the keyed topics when canary creates them.
    #[arg(long, env = "CANARY_KAFKA_PARTITIONS")]
    pub partitions: Option<i32>,
}

/// Brokers, the effective `[kafka]` settings and the `--kafka-option` pairs.
type Resolved = (String, KafkaConfig, Vec<(String, String)>);

impl KafkaArgs {
    fn resolve(&self, cfg: Option<&KafkaConfig>) -> Result<Resolved> {
        let mut k = cfg.cloned().unwrap_or_default();
        if let Some(p) = &self.topic_prefix {
            k.topic_prefix = p.clone();
        }
        if let Some(p) = &self.group_prefix {
            k.group_prefix = p.clone();
        }
        if let Some(n) = self.partitions {
            if n < 1 {
                return Err(usage(anyhow!("--partitions must be at least 1")));
            }
            k.partitions = n;
        }
        let brokers = self
            .brokers
            .clone()
            .or_else(|| k.brokers.clone())
            .ok_or_else(|| usage(anyhow!("no brokers: give --brokers or [kafka] brokers")))?;
        let mut extra = Vec::new();
        for o in &self.kafka_options {
            let (key, v) = o
                .split_once('=')
                .ok_or_else(|| usage(anyhow!("--kafka-option {o:?} is not key=value")))?;
            extra.push((key.trim().to_owned(), v.to_owned()));
        }
        Ok((brokers, k, extra))
    }
}

/// `canary stage`.
#[derive(Debug, Args)]
pub struct StageArgs {
    /// The stage: ingest, normalize, language, sentiment, aggregate or notify.
    pub stage: String,
    /// Config file (TOML).
    #[arg(long, short, env = "CANARY_CONFIG")]
    pub config: PathBuf,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Aggregate: directory of per-partition checkpoints (shared by the
    /// group's processes). Notify: where the keys of delivered alerts are kept.
    #[arg(long, env = "CANARY_STATE_DIR", default_value = "canary-state")]
    pub state_dir: PathBuf,
    /// Aggregate: seconds between checkpoints.
    #[arg(long, env = "CANARY_CHECKPOINT_INTERVAL", default_value_t = 2.0)]
    pub checkpoint_interval: f64,
    /// Aggregate: also append alert records to this JSON-lines file (de-duplicated by alert id and state).
    #[arg(long, env = "CANARY_ALERTS_OUT")]
    pub alerts_out: Option<PathBuf>,
    /// Aggregate: also write window summaries to --alerts-out.
    #[arg(long, env = "CANARY_EMIT_WINDOWS")]
    pub emit_windows: bool,
    /// Aggregate: write raw-topic-to-aggregate latency percentiles (JSON) here on shutdown.
    #[arg(long, env = "CANARY_LATENCY_OUT")]
    pub latency_out: Option<PathBuf>,
    /// Serve Prometheus metrics here (`off` to disable).
    #[arg(long, env = "CANARY_METRICS_ADDR", default_value = "off")]
    pub metrics_addr: String,
    /// Most messages handled between two deliveries (and offset stores).
    #[arg(long, env = "CANARY_BATCH_SIZE", default_value_t = 20000)]
    pub batch_size: usize,
    /// Seconds a stopping stage waits for the broker to acknowledge its last
    /// outputs; past it the stage exits non-zero without storing their offsets.
    #[arg(long, env = "CANARY_SHUTDOWN_TIMEOUT", default_value_t = 10.0)]
    pub shutdown_timeout: f64,
    /// Ingest: input format (auto, v1, v2, activity-streams).
    #[arg(long, env = "CANARY_FORMAT", default_value = "auto")]
    pub format: String,
    /// Ingest: event time (RFC 3339) for posts that carry none.
    #[arg(long, env = "CANARY_ASSUME_TIME")]
    pub assume_time: Option<String>,
    /// Ingest: check the full JSON grammar of every line, also inside fields canary
    /// does not read (slower; by default v1.1 statuses take a fast path that
    /// checks only the structure of the fields it skips).
    #[arg(long, env = "CANARY_STRICT_JSON")]
    pub strict_json: bool,
}

/// `canary replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Dumps: files (.gz/.bz2/.zst, tars), directories, globs, or `-` for
    /// stdin; read in order, as `canary run --input` reads them.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Input format: auto, v1, v2, activity-streams, csv.
    #[arg(long, env = "CANARY_FORMAT", default_value = "auto")]
    pub format: String,
    /// Read the inputs whole and replay them in event-time order (exports
    /// that are newest-first or unordered; memory grows with the input).
    #[arg(long, env = "CANARY_SORT_BY_TIME")]
    pub sort_by_time: bool,
    #[command(flatten)]
    pub csv: crate::cli::CsvArgs,
    /// Config file (TOML), for its `[kafka]` table.
    #[arg(long, short, env = "CANARY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub replay: crate::cli::ReplayControls,
    /// Do not send the end-of-replay marker (which closes every open window downstream).
    #[arg(long, env = "CANARY_NO_END")]
    pub no_end: bool,
}

pub fn stage(args: &StageArgs) -> Result<()> {
    let name = StageName::parse(&args.stage).ok_or_else(|| {
        usage(anyhow!(
            "unknown stage {:?} (ingest, normalize, language, sentiment, aggregate, notify)",
            args.stage
        ))
    })?;
    let cfg = Config::load(&args.config).map_err(usage)?;
    let notify_sinks = if name == StageName::Notify {
        let sinks = cfg
            .resolve_sinks()
            .map_err(|(k, m)| usage(anyhow!("key `{k}`: {m}")))?;
        if sinks.is_empty() {
            return Err(usage(anyhow!(
                "the notify stage delivers to the config's [[sink]] tables, and it has none"
            )));
        }
        sinks
    } else {
        Vec::new()
    };
    let (brokers, kafka, extra) = args.kafka.resolve(cfg.kafka.as_ref())?;
    if args.checkpoint_interval <= 0.0 || !args.checkpoint_interval.is_finite() {
        return Err(usage(anyhow!("--checkpoint-interval must be positive")));
    }
    if args.shutdown_timeout < 0.0 || !args.shutdown_timeout.is_finite() {
        return Err(usage(anyhow!("--shutdown-timeout must be zero or more")));
    }
    let shutdown_timeout = Duration::from_secs_f64(args.shutdown_timeout);
    let spec = cfg.spec();
    let opts = StageOptions {
        brokers,
        kafka,
        extra_options: extra,
        watches: spec.watches,
        language: spec.language,
        sentiment: spec.sentiment,
        aggregate: spec.aggregate,
        event_time: spec.event_time,
        parse: canary_ingest::ParseOptions {
            format: crate::parse_format(&args.format)?,
            assume_time: parse_time("--assume-time", &args.assume_time)?,
            strict_json: args.strict_json,
        },
        max_batch: args.batch_size.max(1),
        shutdown_timeout,
    };
    let (rt, metrics) = crate::io_runtime()?;
    let server = crate::serve_metrics(&rt, &args.metrics_addr, &metrics)?;
    let stop = crate::signals::stop_on_signals(&rt, "delivering outputs and saving state");
    exit_if_stuck(&rt, &stop, shutdown_timeout);
    tracing::info!(stage = name.as_str(), brokers = %opts.brokers, "starting");
    let r: Result<()> = if name == StageName::Notify {
        let n = canary_kafka::NotifyOptions {
            sinks: notify_sinks,
            state_dir: args.state_dir.clone(),
        };
        canary_kafka::run_notify(&opts, &n, rt.handle(), &metrics, &stop).map_err(Into::into)
    } else if name == StageName::Aggregate {
        let a = AggregateOptions {
            state_dir: args.state_dir.clone(),
            checkpoint_every: Duration::from_secs_f64(args.checkpoint_interval),
            alerts_out: args.alerts_out.clone(),
            emit_windows: args.emit_windows,
            latency_out: args.latency_out.clone(),
        };
        canary_kafka::run_aggregate(&opts, &a, &metrics, &stop).map_err(Into::into)
    } else if name == StageName::Ingest {
        // The ingest stage parses lines: it needs the parser's stack.
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("ingest".into())
                .stack_size(canary_ingest::PARSE_STACK_BYTES)
                .spawn_scoped(scope, || {
                    canary_kafka::run_stage(name, &opts, &metrics, &stop)
                })
                .context("cannot start the ingest thread")?
                .join()
                .map_err(|_| anyhow!("the ingest thread panicked"))?
                .map_err(Into::into)
        })
    } else {
        canary_kafka::run_stage(name, &opts, &metrics, &stop).map_err(Into::into)
    };
    if let Some(s) = server {
        s.stop();
    }
    r.with_context(|| format!("stage {}", name.as_str()))
}

/// The last resort behind the stage's own bounded waits (outputs, consumer
/// close): a stop that has not finished long after its deadline ends the
/// process, non-zero, rather than leave an orchestrator waiting on it.
fn exit_if_stuck(rt: &tokio::runtime::Runtime, stop: &Arc<AtomicBool>, grace: Duration) {
    let stop = stop.clone();
    rt.spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let limit = grace + Duration::from_secs(10);
        tokio::time::sleep(limit).await;
        tracing::error!(
            seconds = limit.as_secs_f64(),
            "shutdown did not finish in time; exiting without it"
        );
        std::process::exit(1);
    });
}

pub fn replay(args: &ReplayArgs) -> Result<()> {
    let cfg = args
        .config
        .as_ref()
        .map(|c| Config::load(c).map_err(usage))
        .transpose()?;
    let (brokers, kafka, extra) = args
        .kafka
        .resolve(cfg.as_ref().and_then(|c| c.kafka.as_ref()))?;
    let canary_runtime::ReplayOptions {
        speed,
        from_ms: from,
        to_ms: to,
        limit,
    } = crate::replay_options(&args.replay)?;
    for input in &args.inputs {
        let globbed = input.contains(['*', '?', '[']);
        if input != "-" && !globbed && !std::path::Path::new(input).exists() {
            return Err(usage(anyhow!("input {input:?} does not exist")));
        }
    }
    let ingest = canary_ingest::Options {
        format: crate::parse_format(&args.format)?,
        csv: crate::csv_mapping(cfg.as_ref(), &args.csv)?,
        ..Default::default()
    };
    let options = kafka.client_options(&extra);
    let topics = kafka.topics();
    // Multi-threaded so the signal task runs while the replay blocks on the broker.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let stop = crate::signals::stop_on_signals(&rt, "delivering outputs and saving state");
    match canary_kafka::ensure_topics(&brokers, &options, &topics, kafka.partitions, &stop) {
        Err(canary_kafka::Error::Stopped) => return Ok(()),
        r => r?,
    }
    let mut out = RawProducer::new(
        &brokers,
        &options,
        &topics,
        stop.clone(),
        Duration::from_secs(10),
    )?;
    let _guard = rt.enter();
    let mut reader = canary_ingest::Reader::open(&args.inputs, ingest).map_err(usage)?;
    let popts = reader.parse_options().clone();
    // From a pipe, a line goes as soon as it is read: the next may be long in coming.
    let live = args.inputs.iter().any(|i| i == "-");
    let mut gate = canary_runtime::ReplayGate::new(canary_runtime::ReplayOptions {
        speed,
        from_ms: from,
        to_ms: to,
        limit,
    });
    let mut parsed = Vec::new();
    if !out.wait_ready(Duration::from_secs(10)) && !stop.load(Ordering::Relaxed) {
        tracing::warn!("no producer id from the broker after 10 s; lines wait in the queue");
    }
    tracing::info!(topic = %topics.raw, "replay started");
    let started = Instant::now();
    let mut report = Report::new(started);
    if args.sort_by_time {
        for item in canary_runtime::sort_by_event_time(&mut reader) {
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
            report.tick(&out, Some(&reader));
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
                        out.send_dead_letter(&too_long(&l.source, l.line, line, &out))?;
                        continue;
                    }
                    out.send_line(line)?;
                    if live {
                        out.send_pack()?;
                    }
                }
            }
        }
    }
    if !args.no_end && !stop.load(Ordering::Relaxed) {
        out.send_end()?;
    }
    out.flush()?;
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        lines = out.sent(),
        dead_letters = out.dead_letters(),
        seconds = secs,
        lines_per_second = (out.sent() as f64 / secs.max(1e-9)) as u64,
        "replayed into {}",
        topics.raw
    );
    Ok(())
}

/// Whether a line or record holding posts at `times` goes out, after
/// waiting for its time when paced (what is packed goes out first).
fn pass(
    gate: &mut canary_runtime::ReplayGate,
    mut times: impl Iterator<Item = i64>,
    out: &mut RawProducer,
) -> Result<Pass> {
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
fn replay_item(
    item: Item,
    gate: &mut canary_runtime::ReplayGate,
    out: &mut RawProducer,
) -> Result<bool> {
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
                        out.send_dead_letter(&too_long(&source, 0, &json, out))?;
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

    fn tick(&mut self, out: &RawProducer, reader: Option<&canary_ingest::Reader>) {
        let now = Instant::now();
        if now.duration_since(self.last) < Self::EVERY {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.started).as_secs_f64();
        let lines_per_second = (out.sent() as f64 / secs.max(1e-9)) as u64;
        match reader.map(canary_ingest::Reader::progress) {
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

/// A dead letter for a line (or record) larger than a raw message may be.
fn too_long(source: &str, line: u64, raw: &[u8], out: &RawProducer) -> DeadLetter {
    let mut kept = TOO_LONG_KEPT.min(raw.len());
    while kept > 0 && kept < raw.len() && (raw[kept] & 0xC0) == 0x80 {
        // Cut at a character boundary, so the kept text stays UTF-8.
        kept -= 1;
    }
    DeadLetter::new(
        "replay",
        "line_too_long",
        format!(
            "{} bytes exceed what one raw message carries ({} bytes: the producer's message.max.bytes less framing); kept the first {kept}",
            raw.len(),
            out.max_line_bytes()
        ),
        source,
        line,
        &raw[..kept],
    )
}
