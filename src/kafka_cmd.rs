//! `canary stage` and `canary replay`: the pipeline as one process per stage
//! over Kafka (see crates/canary-kafka).

use crate::cli::{ReplayArgs, SourceArgs, StageArgs, usage};
use crate::config::Config;
use crate::{metrics_server, signals, sources};
use anyhow::{Context, Result, anyhow};
use canary_kafka::{AggregateOptions, StageName, StageOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub fn stage(args: &StageArgs) -> Result<()> {
    let name = args.stage;
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
            format: args.format,
            assume_time: args.assume_time,
            strict_json: args.strict_json,
        },
        max_batch: args.batch_size.max(1),
        shutdown_timeout,
    };
    let (rt, metrics) = metrics_server::io_runtime()?;
    let server = metrics_server::serve(&rt, &args.metrics_addr, &metrics)?;
    let stop = signals::stop_on_signals(&rt, "delivering outputs and saving state");
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
    canary_ingest::check_inputs(&args.inputs).map_err(usage)?;
    let ingest = canary_ingest::Options {
        format: args.format,
        csv: args.csv.mapping(cfg.as_ref())?,
        ..Default::default()
    };
    let mut reader = canary_ingest::Reader::open(&args.inputs, ingest).map_err(usage)?;
    let run = canary_kafka::ReplayRun {
        brokers,
        kafka,
        extra_options: extra,
        controls: args.replay.options(),
        sort_by_time: args.sort_by_time,
        live: args.inputs.iter().any(|i| i == "-"),
        end: !args.no_end,
    };
    // Multi-threaded so the signal task runs while the replay blocks on the broker.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let stop = signals::stop_on_signals(&rt, "delivering outputs and saving state");
    let _guard = rt.enter();
    let done = match canary_kafka::run_replay(&mut reader, &run, &stop) {
        Err(canary_kafka::Error::Stopped) => return Ok(()),
        r => r?,
    };
    tracing::info!(
        lines = done.lines,
        dead_letters = done.dead_letters,
        seconds = done.seconds,
        lines_per_second = (done.lines as f64 / done.seconds.max(1e-9)) as u64,
        "replayed into {}",
        run.kafka.topics().raw
    );
    Ok(())
}

pub fn source(args: &SourceArgs) -> Result<()> {
    let cfg = Config::load(&args.config).map_err(usage)?;
    let (brokers, kafka, extra) = args.kafka.resolve(cfg.kafka.as_ref())?;
    // Tokens are read here: a missing one stops the process before anything starts.
    let live = sources::resolve(&args.sources, &cfg.sources).map_err(usage)?;
    let run = canary_kafka::ReplayRun {
        brokers,
        kafka,
        extra_options: extra,
        controls: Default::default(),
        sort_by_time: false,
        live: true,
        end: false,
    };
    let (rt, metrics) = metrics_server::io_runtime()?;
    let server = metrics_server::serve(&rt, &args.metrics_addr, &metrics)?;
    let stop = signals::stop_on_signals(&rt, "sending what the sources read");
    // A small queue: a stalled broker holds the sources back rather than memory.
    let (tx, rx) = std::sync::mpsc::sync_channel(1024);
    sources::spawn(live, tx, &metrics, stop.clone());
    let r = match canary_kafka::run_feed(&rx, &run, &stop) {
        Err(canary_kafka::Error::Stopped) => Ok(None),
        r => r.map(Some),
    };
    stop.store(true, Ordering::Relaxed);
    if let Some(s) = server {
        s.stop();
    }
    if let Some(done) = r? {
        tracing::info!(
            records = done.lines,
            dead_letters = done.dead_letters,
            seconds = done.seconds,
            "fed into {}",
            run.kafka.topics().raw
        );
    }
    Ok(())
}
