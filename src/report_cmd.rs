//! What a replay looked like: `canary run --report` and `--summary`, and
//! `canary backtest`. The report itself is built by `canary-report`; this
//! module collects the aggregate's outputs and writes the file.

use crate::cli::{BacktestArgs, RunArgs};
use crate::config::Config;
use crate::usage;
use anyhow::{Context, Result, anyhow};
use canary_core::aggregate::AggregateConfig;
use canary_report::html::Comparison;
use canary_report::{Collector, InputSummary, Report, Threshold, compare, table};
use canary_runtime::{Observer, Summary};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The report file, created before any work starts so that a path that
/// cannot be written fails the run at once; truncated only when written.
fn create(path: &Path) -> Result<(PathBuf, File)> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot create the report {}", path.display()))
        .map_err(usage)?;
    Ok((path.to_path_buf(), f))
}

fn write_report(file: (PathBuf, File), page: &str) -> Result<()> {
    let (path, mut f) = file;
    f.set_len(0)
        .and_then(|()| f.write_all(page.as_bytes()))
        .and_then(|()| f.flush())
        .with_context(|| format!("writing the report {}", path.display()))
}

fn threshold(a: &AggregateConfig) -> Threshold {
    Threshold {
        floor: a.alert.floor,
        min_rise: a.alert.min_rise,
    }
}

/// The global alert threshold and those of watches that set their own.
fn thresholds(a: &AggregateConfig) -> (Threshold, BTreeMap<String, Threshold>) {
    let global = threshold(a);
    let per_watch = a
        .watches
        .iter()
        .map(|(w, c)| (w.clone(), threshold(c)))
        .filter(|(_, t)| *t != global)
        .collect();
    (global, per_watch)
}

fn observer(c: &Arc<Mutex<Collector>>) -> Observer {
    let c = c.clone();
    // One lock per closed window or alert, never per post.
    Box::new(move |o| c.lock().expect("not poisoned").observe(o))
}

fn take(c: Arc<Mutex<Collector>>) -> Collector {
    Arc::try_unwrap(c)
        .map(|m| m.into_inner().expect("not poisoned"))
        .unwrap_or_else(|c| c.lock().expect("not poisoned").clone())
}

fn input_summary(inputs: &[String], s: &Summary) -> InputSummary {
    let dead = |k: &str| s.dead_letters.get(k).copied().unwrap_or(0);
    InputSummary {
        files: inputs.to_vec(),
        posts: s.posts,
        counted: s.counted,
        notices: s.notices.clone(),
        dead_letters: s.dead_letters.clone(),
        late: dead("aggregate/late"),
        future: dead("aggregate/future"),
        summary: s.to_string(),
    }
}

fn title(inputs: &[String]) -> String {
    format!("canary replay of {}", inputs.join(", "))
}

/// `canary run`'s report and end-of-run table.
pub(crate) struct RunReport {
    collector: Option<Arc<Mutex<Collector>>>,
    file: Option<(PathBuf, File)>,
    table: bool,
    config: String,
    aggregate: AggregateConfig,
}

impl RunReport {
    /// Creates the report file if one is asked for. The table is printed on
    /// a terminal or with `--summary`.
    pub(crate) fn start(args: &RunArgs, cfg: &Config) -> Result<RunReport> {
        let file = args.report.as_deref().map(create).transpose()?;
        let table = args.summary || std::io::IsTerminal::is_terminal(&std::io::stderr());
        let names: Vec<String> = cfg.watches.iter().map(|w| w.name.clone()).collect();
        let collector = (table || file.is_some())
            .then(|| Arc::new(Mutex::new(Collector::new(&names, file.is_some()))));
        Ok(RunReport {
            collector,
            file,
            table,
            config: cfg.to_toml(),
            aggregate: cfg.aggregate(),
        })
    }

    /// What the pipeline shows its outputs to, when anything is collected.
    pub(crate) fn observer(&self) -> Option<Observer> {
        self.collector.as_ref().map(observer)
    }

    /// Prints the table and writes the report.
    pub(crate) fn finish(self, summary: &Summary, inputs: &[String]) -> Result<()> {
        let Some(c) = self.collector else {
            return Ok(());
        };
        let c = take(c);
        if self.table {
            eprint!("{}", table::watch_table(&c));
        }
        if let Some(file) = self.file {
            let built = Instant::now();
            let (threshold, watch_thresholds) = thresholds(&self.aggregate);
            let page = Report {
                title: title(inputs),
                input: input_summary(inputs, summary),
                config: self.config,
                threshold,
                watch_thresholds,
                run: &c,
                comparison: None,
            }
            .render();
            let seconds = built.elapsed().as_secs_f64();
            let path = file.0.display().to_string();
            write_report(file, &page)?;
            tracing::info!(report = %path, bytes = page.len(), build_seconds = seconds,
                run_seconds = summary.seconds,
                share_of_run = format!("{:.2}%", 100.0 * seconds / summary.seconds.max(1e-9)),
                "report written");
        }
        Ok(())
    }
}

/// `canary backtest`: one read of the input, config A's whole pipeline, and
/// config B's aggregate stage beside A's over the same scored posts.
pub(crate) fn backtest(args: &BacktestArgs) -> Result<()> {
    let [path_a, path_b] = args.configs.as_slice() else {
        return Err(usage(anyhow!(
            "--config is given {} times: backtest takes two, A then B",
            args.configs.len()
        )));
    };
    let a = Config::load(path_a).map_err(usage)?;
    let b = Config::load(path_b).map_err(usage)?;
    let (spec_a, spec_b) = (a.spec(), b.spec());
    let differ: Vec<&str> = [
        ("[[watch]]", spec_a.watches != spec_b.watches),
        ("[language]", spec_a.language != spec_b.language),
        ("[sentiment]", spec_a.sentiment != spec_b.sentiment),
        ("[event_time]", spec_a.event_time != spec_b.event_time),
    ]
    .into_iter()
    .filter_map(|(k, d)| d.then_some(k))
    .collect();
    if !differ.is_empty() {
        return Err(usage(anyhow!(
            "{} and {} differ in {}: a backtest reads the input once and compares aggregate \
             settings (windows, baselines, alerts), so everything before the aggregate stage \
             must be the same",
            path_a.display(),
            path_b.display(),
            differ.join(", ")
        )));
    }
    canary_ingest::check_inputs(&args.inputs).map_err(usage)?;
    let ingest = canary_ingest::Options {
        format: args.format,
        csv: args.csv.mapping(Some(&a))?,
        ..Default::default()
    };
    let opts = canary_runtime::RunOptions {
        inputs: args.inputs.clone(),
        ingest,
        replay: args.replay.options(),
        sort_by_time: args.sort_by_time,
        ..Default::default()
    };
    let names: Vec<String> = a.watches.iter().map(|w| w.name.clone()).collect();
    let keep = args.report.is_some();
    let (run_a, run_b) = (
        Arc::new(Mutex::new(Collector::new(&names, keep))),
        Arc::new(Mutex::new(Collector::new(&names, keep))),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pipeline = canary_runtime::Pipeline::new(&spec_a, &opts, stop)
        .map_err(usage)?
        .with_shadow(
            spec_b.aggregate.clone(),
            spec_b.event_time.clone(),
            observer(&run_b),
        );
    let file = args.report.as_deref().map(create).transpose()?;
    let outputs = canary_runtime::Outputs {
        alerts: Box::new(std::io::sink()),
        dead_letters: None,
        alert_tx: None,
        observe: Some(observer(&run_a)),
        triage: None,
        triage_tx: None,
    };
    let summary = pipeline.run(outputs, &canary_telemetry::Metrics::new()?)?;
    for line in summary.to_string().lines() {
        tracing::info!("{line}");
    }
    let (run_a, run_b) = (take(run_a), take(run_b));
    let (episodes_a, episodes_b) = (run_a.episodes(), run_b.episodes());
    let differences = compare::compare(&episodes_a, &episodes_b, run_a.window_ms());
    let mut out = std::io::stdout().lock();
    for d in &differences {
        if args.json {
            serde_json::to_writer(&mut out, d)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{d}")?;
        }
    }
    out.flush()?;
    tracing::info!(
        a = %path_a.display(),
        b = %path_b.display(),
        episodes_a = episodes_a.len(),
        episodes_b = episodes_b.len(),
        differences = differences.len(),
        "backtest"
    );
    if let Some(file) = file {
        let (threshold, watch_thresholds) = thresholds(&spec_a.aggregate);
        let (label_a, label_b) = (path_a.display().to_string(), path_b.display().to_string());
        let config_b = b.to_toml();
        let page = Report {
            title: format!("canary backtest: {label_a} against {label_b}"),
            input: input_summary(&args.inputs, &summary),
            config: a.to_toml(),
            threshold,
            watch_thresholds,
            run: &run_a,
            comparison: Some(Comparison {
                label_a: &label_a,
                label_b: &label_b,
                config_b: &config_b,
                run_b: &run_b,
                differences: &differences,
            }),
        }
        .render();
        write_report(file, &page)?;
    }
    Ok(())
}
