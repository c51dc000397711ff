//! canary: a streaming sentiment early-warning pipeline.
//!
//! The binary wires the crates together: configuration, the command line,
//! logging, metrics serving and signals. Stage logic lives in `canary-core`
//! and `canary-stages`; the embedded runtime in `canary-runtime`.

mod cli;
mod config;
#[cfg(feature = "kafka")]
mod kafka_cmd;
mod metrics_server;
mod report_cmd;
mod score;
mod signals;
mod sources;

use anyhow::{Context, Result, anyhow};
use clap::Parser;
use cli::{Cli, Command, RunArgs, UsageError, usage};
use config::Config;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

// Posts are allocated on the parse threads and freed on the aggregate thread;
// with glibc's malloc that hand-over cost ~8% of the pipeline's CPU, and
// mimalloc took 9% off the CPU time of the whole run (benches/README.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Log targets of the HTTP stack (ureq for the sinks; the others if a
/// dependency ever brings them in), capped at info.
const HTTP_CLIENT_TARGETS: [&str; 7] = [
    "ureq",
    "ureq_proto",
    "rustls",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
];

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The HTTP and TLS libraries log requests whole at debug and trace: the
    // request line carries a webhook's token or a Slack webhook's path, and
    // secrets never go into logs, whatever level is asked for. Added last, so
    // these caps win over the same targets in `--log`.
    for target in HTTP_CLIENT_TARGETS {
        filter = filter.add_directive(
            format!("{target}=info")
                .parse()
                .expect("a target name and a level make a valid directive"),
        );
    }
    // Colour only on a terminal: logs in files and CI stay greppable.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match &cli.command {
        Command::Run(args) => run(args),
        Command::CheckConfig { file } => check_config(file),
        Command::Backtest(args) => report_cmd::backtest(args),
        Command::Score(args) => score::run(args),
        #[cfg(feature = "kafka")]
        Command::Stage(args) => kafka_cmd::stage(args),
        #[cfg(feature = "kafka")]
        Command::Replay(args) => kafka_cmd::replay(args),
        #[cfg(feature = "kafka")]
        Command::Source(args) => kafka_cmd::source(args),
    };
    match result {
        // A replay a signal cut short did not read all its input: unlike a
        // Kafka stage, whose normal end is a stop, it must not look finished.
        Ok(()) if matches!(cli.command, Command::Run(_)) => {
            signals::exit_code().map_or(ExitCode::SUCCESS, ExitCode::from)
        }
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed stdout (`canary run ... | head`) is not a failure.
            if let Some(io) = e.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("canary: error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some()
                || e.downcast_ref::<config::ConfigError>().is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn check_config(file: &std::path::Path) -> Result<()> {
    let cfg = Config::load(file).map_err(usage)?;
    print!("{}", cfg.to_toml());
    Ok(())
}

fn run(args: &RunArgs) -> Result<()> {
    // Everything the user gave is checked, the inputs opened and the metrics
    // address bound before any output file is created: a failed start must
    // not truncate the previous run's alerts.
    let cfg = Config::load(&args.config).map_err(usage)?;
    let replay = args.replay.options();
    if args.batch_size == 0 {
        return Err(usage(anyhow!("--batch-size must be at least 1")));
    }
    if !(args.sink_drain >= 0.0 && args.sink_drain.is_finite()) {
        return Err(usage(anyhow!("--sink-drain must be a number of seconds")));
    }
    if !(args.metrics_linger >= 0.0 && args.metrics_linger.is_finite()) {
        return Err(usage(anyhow!(
            "--metrics-linger must be a number of seconds"
        )));
    }
    canary_ingest::check_inputs(&args.inputs).map_err(usage)?;
    if !args.sources.is_empty() && args.sort_by_time {
        return Err(usage(anyhow!(
            "--sort-by-time reads inputs whole; a live --source never ends"
        )));
    }
    // Tokens are read here: a missing one stops the run before anything starts.
    let live_sources = sources::resolve(&args.sources, &cfg.sources).map_err(usage)?;
    if !args.live && args.inputs.iter().any(|i| i == "-") && stdin_is_pipe() {
        tracing::warn!(
            "stdin is a pipe and --live is off: it is read as a replay, so a post may wait \
             for its batch to fill and windows close only when later posts arrive; pass \
             --live for a live stream"
        );
    }
    let csv = args.csv.mapping(Some(&cfg))?;
    let ingest = canary_ingest::Options {
        format: args.format,
        assume_time: args.assume_time,
        strict_json: args.strict_json,
        csv,
        ..Default::default()
    };
    let resolved = cfg
        .resolve_sinks()
        .map_err(|(k, m)| usage(anyhow!("key `{k}`: {m}")))?;
    let opts = canary_runtime::RunOptions {
        inputs: args.inputs.clone(),
        ingest,
        replay,
        batch_size: args.batch_size,
        live: args.live,
        emit_windows: args.emit_windows,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        sort_by_time: args.sort_by_time,
        ..Default::default()
    };
    let (rt, metrics) = metrics_server::io_runtime()?;
    let stop = signals::stop_on_signals(&rt, "finishing the current batches and flushing windows");
    let (pipeline, feed) = if live_sources.is_empty() {
        let p = canary_runtime::Pipeline::new(&cfg.spec(), &opts, stop.clone()).map_err(usage)?;
        (p, None)
    } else {
        let (tx, rx) = std::sync::mpsc::sync_channel(args.batch_size);
        let p = canary_runtime::Pipeline::with_feed(&cfg.spec(), &opts, stop.clone(), rx)
            .map_err(usage)?;
        (p, Some(tx))
    };
    let server = metrics_server::serve(&rt, &args.metrics_addr, &metrics)?;
    // Opened, not truncated, before the outputs are truncated: a report path
    // that cannot be written leaves the previous run's alerts as they were.
    let report = report_cmd::RunReport::start(args, &cfg)?;
    let triage = open_outputs(args.triage_out.as_deref(), None)?.0;
    let (alerts, dead_letters) =
        open_outputs(args.alerts_out.as_deref(), args.dead_letter.as_deref())?;
    let alerts: Box<dyn Write + Send> = match alerts {
        Some(f) => Box::new(LineOut(f)),
        None => Box::new(LineOut(std::io::stdout())),
    };
    let dead_letters = dead_letters.map(|f| Box::new(LineOut(f)) as Box<dyn Write + Send>);
    let mut sinks = (!resolved.is_empty()).then(|| {
        let m = metrics.clone();
        let observer: canary_sinks::Observer = Arc::new(move |sink, outcome| {
            m.sink_deliveries
                .with_label_values(&[sink, outcome.as_str()])
                .inc();
        });
        let sinks = canary_sinks::Sinks::start(rt.handle(), resolved, observer);
        for name in sinks.names() {
            for o in canary_sinks::Outcome::ALL {
                metrics
                    .sink_deliveries
                    .with_label_values(&[name, o.as_str()]);
            }
        }
        sinks
    });
    tracing::info!(watches = cfg.watches.len(), inputs = ?args.inputs,
        sinks = ?sinks.as_ref().map(|s| s.names()).unwrap_or_default(), "starting");
    let outputs = canary_runtime::Outputs {
        alerts,
        dead_letters,
        alert_tx: sinks.as_mut().map(|s| s.sender()),
        observe: report.observer(),
        triage: triage.map(|f| Box::new(LineOut(f)) as Box<dyn Write + Send>),
        triage_tx: sinks
            .as_mut()
            .filter(|s| s.wants_triage())
            .map(|s| s.triage_sender()),
    };
    if let Some(tx) = feed {
        sources::spawn(live_sources, tx, &metrics, stop.clone());
    }
    let summary = pipeline.run(outputs, &metrics)?;
    for line in summary.to_string().lines() {
        tracing::info!("{line}");
    }
    report.finish(&summary, &args.inputs)?;
    if let Some(s) = sinks {
        let drain = std::time::Duration::from_secs_f64(args.sink_drain);
        for (name, st) in s.shutdown(drain) {
            tracing::info!(sink = %name, ok = st.ok, retry = st.retry, failed = st.failed,
                dropped = st.dropped, "sink deliveries");
        }
    }
    // A stopped run has been asked to go: no last scrape is worth the wait.
    if args.metrics_linger > 0.0 && !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_secs_f64(args.metrics_linger));
    }
    if let Some(s) = server {
        s.stop();
    }
    Ok(())
}

/// Whether stdin is a pipe or a socket, i.e. possibly a stream that stays
/// open, rather than a file or a terminal.
fn stdin_is_pipe() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_socket())
}

/// Opens both output files without truncating either, then truncates both:
/// a path that cannot be opened leaves the other file as it was.
fn open_outputs(
    alerts: Option<&std::path::Path>,
    dead_letters: Option<&std::path::Path>,
) -> Result<(Option<std::fs::File>, Option<std::fs::File>)> {
    let open = |p: Option<&std::path::Path>| {
        p.map(|p| {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(p)
                .with_context(|| format!("cannot create {}", p.display()))
                .map_err(usage)
        })
        .transpose()
    };
    let (a, d) = (open(alerts)?, open(dead_letters)?);
    for (f, p) in [(&a, alerts), (&d, dead_letters)] {
        if let (Some(f), Some(p)) = (f, p) {
            f.set_len(0)
                .with_context(|| format!("cannot truncate {}", p.display()))?;
        }
    }
    Ok((a, d))
}

/// An output written one record at a time: the pipeline hands over each
/// record as one whole line, which goes out in one write and is flushed at
/// once. A reader tailing the file never sees half a line, and an alert
/// already logged is in the file even if the process is killed next.
struct LineOut<W>(W);

impl<W: Write> Write for LineOut<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(buf)?;
        self.0.flush()?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
