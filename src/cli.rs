//! Command-line interface. Every flag also reads an environment variable
//! (`CANARY_...`), so deployments can configure the binary without arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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
    /// Score texts with canary's VADER: JSON lines {id, text} in, {id, neg, neu, pos, compound} out.
    Score(ScoreArgs),
    /// Run one pipeline stage as its own process over Kafka.
    #[cfg(feature = "kafka")]
    Stage(crate::kafka_cmd::StageArgs),
    /// Write dumps into the Kafka raw topic: JSON lines as read, CSV rows and sorted inputs as canary records; then an end-of-replay marker.
    #[cfg(feature = "kafka")]
    Replay(crate::kafka_cmd::ReplayArgs),
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
        required = true
    )]
    pub inputs: Vec<String>,
    /// Write alert records here instead of stdout.
    #[arg(long, env = "CANARY_ALERTS_OUT")]
    pub alerts_out: Option<PathBuf>,
    /// Write dead letters (JSON lines) here.
    #[arg(long, env = "CANARY_DEAD_LETTER")]
    pub dead_letter: Option<PathBuf>,
    /// Serve Prometheus metrics here while running (`off` to disable).
    #[arg(long, env = "CANARY_METRICS_ADDR", default_value = "127.0.0.1:9898")]
    pub metrics_addr: String,
    /// Keep serving metrics this many seconds after the input ends (for a last scrape).
    #[arg(long, env = "CANARY_METRICS_LINGER", default_value_t = 0.0)]
    pub metrics_linger: f64,
    /// Input format: auto, v1, v2, activity-streams, csv.
    #[arg(long, env = "CANARY_FORMAT", default_value = "auto")]
    pub format: String,
    #[command(flatten)]
    pub replay: ReplayControls,
    /// Event time (RFC 3339) for posts that carry none (v2 default-fields responses); otherwise they are dead-lettered.
    #[arg(long, env = "CANARY_ASSUME_TIME")]
    pub assume_time: Option<String>,
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
}

/// Replay controls, the same for `canary run` and `canary replay`.
#[derive(Debug, Args)]
pub struct ReplayControls {
    /// Replay speed: max, realtime, or N (times real time, by event time).
    #[arg(long, env = "CANARY_SPEED", default_value = "max")]
    pub speed: String,
    /// Skip posts before this event time (RFC 3339).
    #[arg(long, env = "CANARY_FROM")]
    pub from: Option<String>,
    /// Skip posts at or after this event time (RFC 3339).
    #[arg(long, env = "CANARY_TO")]
    pub to: Option<String>,
    /// Stop after this many posts.
    #[arg(long, env = "CANARY_LIMIT")]
    pub limit: Option<u64>,
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
}
