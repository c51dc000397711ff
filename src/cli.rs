//! Command-line interface. Every flag also reads an environment variable
//! (`CANARY_...`), so deployments can configure the binary without arguments.

use anyhow::{Result, anyhow};
use canary_ingest::{Format, ReplayOptions, Speed};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// An error in what the user asked for (config, flags, inputs): exit code 2.
#[derive(Debug)]
pub struct UsageError(anyhow::Error);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for UsageError {}

/// Marks `e` as the user's mistake (exit code 2).
pub fn usage(e: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(UsageError(e.into()))
}

/// An RFC 3339 time flag, as epoch milliseconds.
fn rfc3339(s: &str) -> std::result::Result<i64, String> {
    canary_core::time::parse_rfc3339(s)
        .ok_or_else(|| format!("not an RFC 3339 time (e.g. 2018-03-10T14:00:00Z): {s:?}"))
}

/// canary: early warnings when customers turn negative on social media.
#[derive(Debug, Parser)]
#[command(name = "canary", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `canary=debug`.
    #[arg(long, env = "CANARY_LOG", default_value = "info", global = true)]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
// Parsed once per process: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run every stage in one process over the inputs (a replay), then flush.
    Run(RunArgs),
    /// Validate a config file and print the effective config.
    CheckConfig {
        /// The config file.
        #[arg(env = "CANARY_CONFIG")]
        file: PathBuf,
    },
    /// Replay the input once under two configs (A, B) and list the alert episodes that differ.
    Backtest(BacktestArgs),
    /// Score texts: JSON lines {id, text, lang?} in, {id, neg, neu, pos, compound} out (English VADER unless --lang or a line's lang says otherwise).
    Score(ScoreArgs),
    /// Run one pipeline stage as its own process over Kafka.
    #[cfg(feature = "kafka")]
    Stage(StageArgs),
    /// Write dumps into the Kafka raw topic: JSON lines as read, CSV rows and sorted inputs as canary records; then an end-of-replay marker.
    #[cfg(feature = "kafka")]
    Replay(ReplayArgs),
    /// Write live sources (jetstream, mastodon, x) into the Kafka raw topic, each record at once, until stopped.
    #[cfg(feature = "kafka")]
    Source(SourceArgs),
}

/// `canary run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file (TOML).
    #[arg(long, short, env = "CANARY_CONFIG")]
    pub config: PathBuf,
    /// Input: a file (.gz/.bz2/.zst), a directory, a glob, or `-` for stdin. Repeatable; read in order.
    #[arg(
        long = "input",
        short,
        env = "CANARY_INPUT",
        value_delimiter = ',',
        required_unless_present = "sources"
    )]
    pub inputs: Vec<String>,
    /// Live source instead of inputs: `jetstream`, `mastodon` or `x`,
    /// optionally `=URL`; settings in `[source.KIND]`. Repeatable. Implies
    /// `--live`; runs until stopped.
    #[arg(
        long = "source",
        env = "CANARY_SOURCE",
        value_delimiter = ',',
        value_name = "KIND[=URL]",
        conflicts_with = "inputs"
    )]
    pub sources: Vec<String>,
    /// Write alert records here instead of stdout.
    #[arg(long, env = "CANARY_ALERTS_OUT")]
    pub alerts_out: Option<PathBuf>,
    /// Write dead letters (JSON lines) here.
    #[arg(long, env = "CANARY_DEAD_LETTER")]
    pub dead_letter: Option<PathBuf>,
    /// Write social-care triage records (JSON lines) here.
    #[arg(long, env = "CANARY_TRIAGE_OUT")]
    pub triage_out: Option<PathBuf>,
    /// Serve Prometheus metrics here while running (`off` to disable).
    #[arg(long, env = "CANARY_METRICS_ADDR", default_value = "127.0.0.1:9898")]
    pub metrics_addr: String,
    /// Keep serving metrics this many seconds after the input ends (for a last scrape).
    #[arg(long, env = "CANARY_METRICS_LINGER", default_value_t = 0.0)]
    pub metrics_linger: f64,
    /// Input format: auto, v1, v2, activity-streams, csv.
    #[arg(long, env = "CANARY_FORMAT", default_value = "auto")]
    pub format: Format,
    #[command(flatten)]
    pub replay: ReplayControls,
    /// Event time (RFC 3339) for posts that carry none (v2 default-fields responses); otherwise they are dead-lettered.
    #[arg(long, env = "CANARY_ASSUME_TIME", value_parser = rfc3339)]
    pub assume_time: Option<i64>,
    /// Check the full JSON grammar of every line, also inside fields canary
    /// does not read (slower; by default v1.1 statuses take a fast path that
    /// checks only the structure of the fields it skips).
    #[arg(long, env = "CANARY_STRICT_JSON")]
    pub strict_json: bool,
    /// Also write each closed window's counts to the alert output (`"type": "window"` records).
    #[arg(long, env = "CANARY_EMIT_WINDOWS")]
    pub emit_windows: bool,
    /// Live stream: hand each post on as soon as it is read, and close
    /// windows of quiet watches after the idle timeout, by processing time.
    /// Not implied by `--input -` on a pipe, which may be a replay
    /// (`zcat dump.gz | canary run --input -`); a warning says so.
    #[arg(long, env = "CANARY_LIVE")]
    pub live: bool,
    /// Read the inputs whole and replay them in event-time order (exports that
    /// are newest-first or unordered; memory grows with the input).
    #[arg(long, env = "CANARY_SORT_BY_TIME")]
    pub sort_by_time: bool,
    /// Records per batch between stages.
    #[arg(long, env = "CANARY_BATCH_SIZE", default_value_t = 512)]
    pub batch_size: usize,
    #[command(flatten)]
    pub csv: CsvArgs,
    /// At the end, wait at most this many seconds for `[[sink]]` deliveries
    /// (queued alerts still undelivered then are dropped and counted).
    #[arg(long, env = "CANARY_SINK_DRAIN", default_value_t = 10.0)]
    pub sink_drain: f64,
    /// Also write a self-contained HTML report of the run here.
    #[arg(long, env = "CANARY_REPORT", value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Print the per-watch table at the end even when stderr is not a terminal.
    #[arg(long, env = "CANARY_SUMMARY")]
    pub summary: bool,
}

/// `canary backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// The two config files, A then B (`--config A.toml --config B.toml`).
    #[arg(
        long = "config",
        short,
        env = "CANARY_BACKTEST_CONFIGS",
        value_delimiter = ',',
        required = true
    )]
    pub configs: Vec<PathBuf>,
    /// Input, as for `canary run`. Repeatable; read in order, once.
    #[arg(
        long = "input",
        short,
        env = "CANARY_INPUT",
        value_delimiter = ',',
        required = true
    )]
    pub inputs: Vec<String>,
    /// Also write an HTML report of run A with B's episodes and the differences.
    #[arg(long, env = "CANARY_REPORT", value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Print the differences as JSON lines instead of a table.
    #[arg(long, env = "CANARY_BACKTEST_JSON")]
    pub json: bool,
    /// Input format: auto, v1, v2, activity-streams, csv.
    #[arg(long, env = "CANARY_FORMAT", default_value = "auto")]
    pub format: Format,
    #[command(flatten)]
    pub replay: ReplayControls,
    /// Read the inputs whole and replay them in event-time order.
    #[arg(long, env = "CANARY_SORT_BY_TIME")]
    pub sort_by_time: bool,
    #[command(flatten)]
    pub csv: CsvArgs,
}

/// Replay controls, the same for `canary run` and `canary replay`.
#[derive(Debug, Args)]
pub struct ReplayControls {
    /// Replay speed: max, realtime, or N (times real time, by event time).
    #[arg(long, env = "CANARY_SPEED", default_value = "max")]
    pub speed: Speed,
    /// Skip posts before this event time (RFC 3339).
    #[arg(long, env = "CANARY_FROM", value_parser = rfc3339)]
    pub from: Option<i64>,
    /// Skip posts at or after this event time (RFC 3339).
    #[arg(long, env = "CANARY_TO", value_parser = rfc3339)]
    pub to: Option<i64>,
    /// Stop after this many posts.
    #[arg(long, env = "CANARY_LIMIT")]
    pub limit: Option<u64>,
}

impl ReplayControls {
    /// The controls as the replay gate takes them.
    pub fn options(&self) -> ReplayOptions {
        ReplayOptions {
            speed: self.speed,
            from_ms: self.from,
            to_ms: self.to,
            limit: self.limit,
        }
    }
}

/// CSV column mapping: each flag overrides the same key of `[input.csv]`.
#[derive(Debug, Args, Default)]
pub struct CsvArgs {
    /// CSV column of the post id (default: tweet_id, id_str or id).
    #[arg(long, env = "CANARY_CSV_ID", value_name = "COLUMN")]
    pub csv_id: Option<String>,
    /// CSV column of the text (default: text, full_text, body or tweet).
    #[arg(long, env = "CANARY_CSV_TEXT", value_name = "COLUMN")]
    pub csv_text: Option<String>,
    /// CSV column of the creation time (default: tweet_created, created_at, …).
    #[arg(long, env = "CANARY_CSV_TIME", value_name = "COLUMN")]
    pub csv_time: Option<String>,
    /// How the CSV time is written: auto, twitter, rfc3339, epoch-seconds, epoch-millis.
    #[arg(long, env = "CANARY_CSV_TIME_FORMAT", value_name = "FORMAT")]
    pub csv_time_format: Option<String>,
    /// CSV column of the author handle.
    #[arg(long, env = "CANARY_CSV_HANDLE", value_name = "COLUMN")]
    pub csv_handle: Option<String>,
    /// CSV column of the language tag.
    #[arg(long, env = "CANARY_CSV_LANG", value_name = "COLUMN")]
    pub csv_lang: Option<String>,
    /// CSV column naming the brand a row is about; the row counts for the watch of that name.
    #[arg(long, env = "CANARY_CSV_BRAND", value_name = "COLUMN")]
    pub csv_brand: Option<String>,
    /// CSV field delimiter: one ASCII character, or `tab`.
    #[arg(long, env = "CANARY_CSV_DELIMITER", value_name = "CHAR")]
    pub csv_delimiter: Option<String>,
}

impl CsvArgs {
    /// The flags as a `[input.csv]` overlay, `None` when none is given.
    pub fn as_config(&self) -> Option<crate::config::CsvConfig> {
        let c = crate::config::CsvConfig {
            id: self.csv_id.clone(),
            text: self.csv_text.clone(),
            time: self.csv_time.clone(),
            time_format: self.csv_time_format.clone(),
            handle: self.csv_handle.clone(),
            lang: self.csv_lang.clone(),
            brand: self.csv_brand.clone(),
            delimiter: self.csv_delimiter.clone(),
            html_unescape: None,
        };
        (c != crate::config::CsvConfig::default()).then_some(c)
    }

    /// The CSV column mapping: `[input.csv]` of `cfg` with these flags over it.
    pub fn mapping(
        &self,
        cfg: Option<&crate::config::Config>,
    ) -> Result<Option<canary_ingest::CsvMapping>> {
        let base = cfg.and_then(|c| c.input.csv.as_ref());
        let csv = match (base, self.as_config()) {
            (None, None) => None,
            (Some(c), None) => Some(c.clone()),
            (base, Some(flags)) => Some(base.cloned().unwrap_or_default().overlay(&flags)),
        };
        csv.map(|c| c.mapping()).transpose().map_err(|(key, msg)| {
            usage(anyhow!(
                "{}: {msg}",
                key.replace("input.csv.", "--csv-").replace('_', "-")
            ))
        })
    }
}

/// `canary score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Input files; `-` or none for stdin.
    pub inputs: Vec<PathBuf>,
    /// Inputs are plain text, one text per line (ids are line numbers).
    #[arg(long, env = "CANARY_SCORE_LINES")]
    pub lines: bool,
    /// Scoring threads.
    #[arg(long, env = "CANARY_THREADS", default_value_t = 1)]
    pub threads: usize,
    /// Language of the input (en es pt fr de it ar); a JSON line's `lang` overrides it. Default: en (VADER).
    #[arg(long, env = "CANARY_SCORE_LANG")]
    pub lang: Option<String>,
}

/// Broker settings shared by `stage` and `replay`; each overrides the config's `[kafka]` table.
#[cfg(feature = "kafka")]
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
#[cfg(feature = "kafka")]
pub type ResolvedKafka = (String, canary_kafka::KafkaConfig, Vec<(String, String)>);

#[cfg(feature = "kafka")]
impl KafkaArgs {
    /// These flags over the config's `[kafka]` table.
    pub fn resolve(&self, cfg: Option<&canary_kafka::KafkaConfig>) -> Result<ResolvedKafka> {
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
#[cfg(feature = "kafka")]
#[derive(Debug, Args)]
pub struct StageArgs {
    /// The stage: ingest, normalize, language, sentiment, aggregate or notify.
    pub stage: canary_kafka::StageName,
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
    pub format: Format,
    /// Ingest: event time (RFC 3339) for posts that carry none.
    #[arg(long, env = "CANARY_ASSUME_TIME", value_parser = rfc3339)]
    pub assume_time: Option<i64>,
    /// Ingest: check the full JSON grammar of every line, also inside fields canary
    /// does not read (slower; by default v1.1 statuses take a fast path that
    /// checks only the structure of the fields it skips).
    #[arg(long, env = "CANARY_STRICT_JSON")]
    pub strict_json: bool,
}

/// `canary replay`.
#[cfg(feature = "kafka")]
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Dumps: files (.gz/.bz2/.zst, tars), directories, globs, or `-` for
    /// stdin; read in order, as `canary run --input` reads them.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Input format: auto, v1, v2, activity-streams, csv.
    #[arg(long, env = "CANARY_FORMAT", default_value = "auto")]
    pub format: Format,
    /// Read the inputs whole and replay them in event-time order (exports
    /// that are newest-first or unordered; memory grows with the input).
    #[arg(long, env = "CANARY_SORT_BY_TIME")]
    pub sort_by_time: bool,
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Config file (TOML), for its `[kafka]` table.
    #[arg(long, short, env = "CANARY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub replay: ReplayControls,
    /// Do not send the end-of-replay marker (which closes every open window downstream).
    #[arg(long, env = "CANARY_NO_END")]
    pub no_end: bool,
}

/// `canary source`.
#[cfg(feature = "kafka")]
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Live sources: `jetstream`, `mastodon` or `x`, optionally `=URL`;
    /// settings in the config's `[source.KIND]`, as for `canary run --source`.
    #[arg(required = true, value_name = "KIND[=URL]")]
    pub sources: Vec<String>,
    /// Config file (TOML), for its `[source.KIND]` and `[kafka]` tables.
    #[arg(long, short, env = "CANARY_CONFIG")]
    pub config: PathBuf,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Serve the sources' health metrics here (`off` to disable).
    #[arg(long, env = "CANARY_METRICS_ADDR", default_value = "off")]
    pub metrics_addr: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("canary").chain(args.iter().copied()))
    }

    fn run_args(extra: &[&str]) -> RunArgs {
        let mut a = vec!["run", "--config", "c.toml", "--input", "x.jsonl"];
        a.extend_from_slice(extra);
        match parse(&a).unwrap().command {
            Command::Run(r) => r,
            c => panic!("not run: {c:?}"),
        }
    }

    fn refused(args: &[&str]) -> String {
        let e = parse(args).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        e.to_string()
    }

    #[test]
    fn run_defaults() {
        let r = run_args(&[]);
        assert_eq!(r.format, Format::Auto);
        assert_eq!(r.assume_time, None);
        assert_eq!(r.replay.options(), ReplayOptions::default());
        assert_eq!(r.batch_size, 512);
        assert_eq!(r.inputs, ["x.jsonl"]);
    }

    #[test]
    fn run_typed_options_parse() {
        let r = run_args(&[
            "--format",
            "gnip",
            "--speed",
            "60",
            "--from",
            "2018-03-10T14:00:00Z",
            "--to",
            "2018-03-10T15:00:00.500+01:00",
            "--limit",
            "5",
            "--assume-time",
            "1970-01-01T00:00:01Z",
        ]);
        assert_eq!(r.format, Format::ActivityStreams);
        assert_eq!(r.assume_time, Some(1_000));
        assert_eq!(
            r.replay.options(),
            ReplayOptions {
                speed: Speed::Factor(60.0),
                from_ms: Some(1_520_690_400_000),
                to_ms: Some(1_520_690_400_500),
                limit: Some(5),
            }
        );
        assert_eq!(
            run_args(&["--speed", "realtime"]).replay.speed,
            Speed::Factor(1.0)
        );
    }

    #[test]
    fn bad_option_values_are_refused_with_the_reason() {
        let base = ["run", "--config", "c.toml", "--input", "x"];
        let with = |extra: &[&str]| {
            let mut a = base.to_vec();
            a.extend_from_slice(extra);
            refused(&a)
        };
        let e = with(&["--format", "tsv"]);
        assert!(
            e.contains("--format") && e.contains("unknown format \"tsv\""),
            "{e}"
        );
        let e = with(&["--speed=-2"]);
        assert!(e.contains("invalid speed"), "{e}");
        let e = with(&["--speed", "fast"]);
        assert!(e.contains("invalid speed"), "{e}");
        let e = with(&["--from", "yesterday"]);
        assert!(
            e.contains("--from") && e.contains("not an RFC 3339 time"),
            "{e}"
        );
        let e = with(&["--limit=-1"]);
        assert!(e.contains("--limit"), "{e}");
    }

    #[cfg(feature = "kafka")]
    #[test]
    fn stage_names_parse_and_unknown_ones_are_refused() {
        let a = parse(&["stage", "notify", "--config", "c.toml"]).unwrap();
        let Command::Stage(s) = a.command else {
            panic!("not stage")
        };
        assert_eq!(s.stage, canary_kafka::StageName::Notify);
        let e = refused(&["stage", "scorer", "--config", "c.toml"]);
        assert!(e.contains("unknown stage \"scorer\""), "{e}");
    }

    #[cfg(feature = "kafka")]
    #[test]
    fn kafka_flags_go_over_the_config() {
        let a = parse(&[
            "replay",
            "d.jsonl",
            "--brokers",
            "127.0.0.1:9092",
            "--topic-prefix",
            "t.",
            "--partitions",
            "3",
            "--kafka-option",
            "linger.ms=5,acks=all",
        ])
        .unwrap();
        let Command::Replay(r) = a.command else {
            panic!("not replay")
        };
        let cfg = canary_kafka::KafkaConfig {
            brokers: Some("elsewhere:9092".into()),
            group_prefix: "g.".into(),
            ..Default::default()
        };
        let (brokers, k, extra) = r.kafka.resolve(Some(&cfg)).unwrap();
        assert_eq!(brokers, "127.0.0.1:9092");
        assert_eq!(k.topic_prefix, "t.");
        assert_eq!(k.group_prefix, "g.");
        assert_eq!(k.partitions, 3);
        assert_eq!(
            extra,
            [
                ("linger.ms".to_owned(), "5".to_owned()),
                ("acks".to_owned(), "all".to_owned())
            ]
        );
        let bad = |args: &[&str]| {
            let mut a = vec!["replay", "d.jsonl"];
            a.extend_from_slice(args);
            let Command::Replay(r) = parse(&a).unwrap().command else {
                panic!("not replay")
            };
            format!("{:#}", r.kafka.resolve(None).unwrap_err())
        };
        assert!(bad(&[]).contains("no brokers"));
        assert!(bad(&["--brokers", "b:1", "--partitions", "0"]).contains("at least 1"));
        assert!(bad(&["--brokers", "b:1", "--kafka-option", "acks"]).contains("not key=value"));
    }
}
