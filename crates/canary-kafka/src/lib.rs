//! canary over Kafka: each stage its own process, connected by topics.
//!
//! ```text
//! raw ─ingest→ parsed ─normalize→ normalized ─language→ languaged ─sentiment→ scored ─aggregate→ alerts, windows
//!                                                    (any stage) → dead-letters
//! ```
//!
//! `raw` and `parsed` have one partition: the normalize stage sees the whole
//! stream in order, so it can stamp every post with how far the stream has got
//! (its newest event time so far). From there on, records are keyed by watch
//! name and the topics have `partitions` partitions; language and sentiment
//! keep each record in its partition, so every aggregate partition is one
//! ordered sub-stream of whole watches. The aggregate stage runs one
//! [`canary_core::aggregate::Aggregator`] per assigned partition and advances
//! it with the upstream stamps, so its windows, late posts and alerts are
//! those of the embedded pipeline.
//!
//! Delivery is at-least-once: a stage stores its input offsets only after
//! its outputs are acknowledged by the broker (idempotent producers). The
//! aggregate stage checkpoints each partition's aggregator state together with
//! the next input offset (atomically, to a local file) and restarts from
//! there; see the README for where that stops holding.
#![deny(missing_docs)]

mod admin;
mod aggregate;
mod config;
mod message;
mod notify;
mod producer;
mod replay;
mod runner;
mod stages;

pub use aggregate::{AggregateOptions, run_aggregate};
pub use config::{KafkaConfig, StageName, Topics};
pub use message::{
    CONTROL_HEADER, Envelope, FORMAT_HEADER, FORMAT_JSON_LINES, FORMAT_RECORDS, Kind,
};
pub use notify::{NotifyOptions, run_notify};
pub use replay::{ReplayRun, Replayed, run_feed, run_replay};
pub use stages::{StageOptions, run_stage};

/// Errors of the Kafka adapters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client library refused a configuration or an operation.
    #[error("kafka")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A stage could not be built from its configuration.
    #[error(transparent)]
    Stage(#[from] canary_stages::Error),
    /// Reading or writing a local file (checkpoint, alert output).
    #[error("{what}")]
    Io {
        /// Which file and what was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Outputs were not acknowledged; the stage stops without storing offsets.
    #[error("{0} output records were not delivered")]
    Delivery(u64),
    /// Stopping, the broker did not acknowledge these outputs within the
    /// shutdown timeout; their inputs' offsets were not stored.
    #[error("{0} output records were still unacknowledged at the shutdown deadline")]
    Undelivered(u64),
    /// A stop was requested before the stage started consuming.
    #[error("stopped before consuming")]
    Stopped,
    /// Metrics could not be registered.
    #[error("metrics")]
    Metrics(#[from] prometheus::Error),
    /// A topic's metadata is missing or unusable.
    #[error("topic {topic}: {message}")]
    Topic {
        /// The topic.
        topic: String,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint cannot be used.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}
