//! The embedded pipeline: ingest → normalize → language → sentiment →
//! aggregate, each stage on its own thread, connected by bounded channels of
//! batches.
//!
//! Threads rather than async tasks, because every stage is CPU-bound and
//! synchronous; batches amortise channel costs; bounded channels give
//! backpressure, so a slow stage slows the reader instead of growing a queue.
//! Shutdown travels downstream as channel closure: the reader stops, each
//! stage drains its input and exits, and the aggregate stage flushes its open
//! windows before the alert output is closed.
#![deny(missing_docs)]

mod pipeline;
mod progress;
mod summary;

pub use canary_ingest::{ReplayOptions, Speed};
pub use pipeline::{Observer, Outputs, Pipeline, PipelineSpec, RunOptions, run};
pub use summary::{Latency, Summary};

/// Errors that stop a run before or while it starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A stage could not be built from its configuration.
    #[error(transparent)]
    Stage(#[from] canary_stages::Error),
    /// The inputs could not be opened.
    #[error(transparent)]
    Ingest(#[from] canary_ingest::IngestError),
    /// Writing an output failed.
    #[error("writing {what}")]
    Output {
        /// Which output.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// A stage thread panicked (a bug; the message says which).
    #[error("stage {0} stopped unexpectedly")]
    StagePanicked(&'static str),
}
