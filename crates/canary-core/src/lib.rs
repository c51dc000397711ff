//! canary's core: the records that cross stage boundaries and the pure,
//! synchronous logic of the pipeline — watch matching, event-time windows,
//! baselines and alert decisions.
//!
//! # Layout
//! - [`record`]: versioned serde types for posts, notices and dead letters.
//! - [`time`]: event-time calendar arithmetic (no allocation, no clock).
//! - [`base64`]: encoding for dead-lettered bytes that are not UTF-8.
//! - [`event_time`]: which event times may move the watermark (`future` posts).
//! - [`care`]: social care: response times, response rate, the triage queue.
//!
//! Nothing here does I/O or reads a clock: the same code runs in the embedded
//! pipeline, in Kafka stage processes, in benches and in tests.
#![deny(missing_docs)]

pub mod base64;
pub mod record;
pub mod time;

pub use record::{DeadLetter, IngestRecord, NoticeKind, Post, RECORD_VERSION, Sentiment};
pub mod aggregate;
pub mod care;
pub mod duration;
pub mod event_time;
pub mod stats;
