//! `canary stage` and `canary replay`: the pipeline as one process per stage
//! over Kafka (see crates/canary-kafka).

use crate::config::Config;
use crate::{parse_time, usage};
use anyhow::{Context, Result, anyhow};
use canary_kafka::{AggregateOptions, KafkaConfig, RawProducer, StageName, StageOptions};
use clap::Args;
use std::io::{BufRead, BufReader, Read};
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
    /// The stage: ingest, normalize, language, sentiment or aggregate.
    pub stage: String,
    /// Config file (TOML).
    #[arg(long, short, env = "CANARY_CONFIG")]
    pub config: PathBuf,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Aggregate: directory of per-partition checkpoints (shared by the group's processes).
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
    /// Dumps (plain or .gz JSON lines), or `-` for stdin; read in order.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
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
            "unknown stage {:?} (ingest, normalize, language, sentiment, aggregate)",
            args.stage
        ))
    })?;
    let cfg = Config::load(&args.config).map_err(usage)?;
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
        parse: canary_ingest::ParseOptions {
            format: crate::parse_format(&args.format)?,
            assume_time: parse_time("--assume-time", &args.assume_time)?,
            strict_json: args.strict_json,
        },
        max_batch: args.batch_size.max(1),
        shutdown_timeout,
    };
    let (rt, metrics, server) = crate::io_runtime(&args.metrics_addr)?;
    let stop = crate::signals::stop_on_signals(&rt, "delivering outputs and saving state");
    exit_if_stuck(&rt, &stop, shutdown_timeout);
    tracing::info!(stage = name.as_str(), brokers = %opts.brokers, "starting");
    let r: Result<()> = if name == StageName::Aggregate {
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

fn open_dump(p: &PathBuf) -> Result<BufReader<Box<dyn Read>>> {
    let raw: Box<dyn Read> = if p.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?)
    };
    let mut r = BufReader::with_capacity(1 << 20, raw);
    let gz = r.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        BufReader::with_capacity(1 << 20, Box::new(flate2::read::MultiGzDecoder::new(r)))
    } else {
        r
    })
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
    for p in &args.inputs {
        if p.as_os_str() != "-" && !p.exists() {
            return Err(usage(anyhow!("input {} does not exist", p.display())));
        }
    }
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
    let popts = canary_ingest::ParseOptions::default();
    let mut parsed = Vec::new();
    let mut posts = 0u64;
    let mut origin: Option<(i64, Instant)> = None;
    if !out.wait_ready(Duration::from_secs(10)) && !stop.load(Ordering::Relaxed) {
        tracing::warn!("no producer id from the broker after 10 s; lines wait in the queue");
    }
    tracing::info!(topic = %topics.raw, "replay started");
    let started = Instant::now();
    'inputs: for p in &args.inputs {
        let mut r = open_dump(p)?;
        let mut line = Vec::with_capacity(4096);
        loop {
            if stop.load(Ordering::Relaxed) {
                break 'inputs;
            }
            line.clear();
            if r.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            let filtering = from.is_some() || to.is_some() || limit.is_some();
            let paced = matches!(speed, canary_runtime::Speed::Factor(_));
            if filtering || paced {
                // Event times decide; lines that are not posts pass through to ingest.
                parsed.clear();
                canary_ingest::parse_line_into(&line, &popts, &mut parsed);
                let times: Vec<i64> = parsed
                    .iter()
                    .filter_map(|x| match x {
                        canary_ingest::Parsed::Record(canary_core::IngestRecord::Post(p)) => {
                            Some(p.event_ms)
                        }
                        _ => None,
                    })
                    .collect();
                if let Some(&t) = times.first() {
                    if from.is_some_and(|f| t < f) || to.is_some_and(|e| t >= e) {
                        continue;
                    }
                    if limit.is_some_and(|l| posts >= l) {
                        break 'inputs;
                    }
                    posts += times.len() as u64;
                    if let canary_runtime::Speed::Factor(f) = speed {
                        let (e0, w0) = *origin.get_or_insert((t, Instant::now()));
                        let due = w0 + Duration::from_secs_f64((t - e0).max(0) as f64 / 1000.0 / f);
                        if let Some(d) = due.checked_duration_since(Instant::now()) {
                            out.send_pack()?;
                            std::thread::sleep(d);
                        }
                    }
                }
            }
            out.send_line(&line)?;
            if r.buffer().is_empty() {
                // The next read may wait (a pipe): what was read goes now.
                out.send_pack()?;
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
        seconds = secs,
        lines_per_second = (out.sent() as f64 / secs.max(1e-9)) as u64,
        "replayed into {}",
        topics.raw
    );
    Ok(())
}
