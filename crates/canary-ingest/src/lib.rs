//! canary's ingest: reads real tweet dumps into [`IngestRecord`]s and never
//! stops on a bad record — each one becomes a [`DeadLetter`] with a stable
//! reason code.
//!
//! # Layout
//! - [`parse`]: pure parsing of one JSON line or document (no I/O): API v1.1
//!   statuses and stream notices, v1.1 and premium search responses, Gnip
//!   Activity Streams, API v2 pages, stream lines, twarc's flattened tweets,
//!   compliance events and counts. [`parse_line`] is the entry point.
//! - [`timefmt`]: the timestamp layouts found in dumps and CSV exports.
//! - [`csv_input`]: CSV exports with a [`CsvMapping`] from columns to fields.
//! - [`read`]: [`Reader`], an iterator of [`Item`]s over stdin, files,
//!   directories, globs, gzip/bzip2/zstd streams and Twitter Stream Grab tars,
//!   with a bounded line length and byte progress.
//!
//! # Example
//! ```no_run
//! use canary_ingest::{Item, Options, Reader};
//!
//! let reader = Reader::open(["dumps/", "-"], Options::default())?;
//! for item in reader {
//!     match item {
//!         Item::Record(record, _origin) => { /* post, delete or notice */ }
//!         Item::DeadLetter(dl) => eprintln!("{}:{} {}", dl.source, dl.offset, dl.reason),
//!     }
//! }
//! # Ok::<(), canary_ingest::IngestError>(())
//! ```
//!
//! See the crate README for detection rules and policies.
#![deny(missing_docs)]

pub mod csv_input;
pub mod parse;
pub mod read;
pub mod replay;
pub mod timefmt;

use std::path::PathBuf;

pub use canary_core::{DeadLetter, IngestRecord, NoticeKind, Post};
pub use csv_input::CsvMapping;
pub use parse::{Format, ParseOptions, Parsed, Reason, Rejection, parse_line, parse_line_into};
pub use read::{
    Deferred, Item, Options, Origin, Progress, RawLine, Reader, Source, check_inputs, parse_raw,
};
pub use replay::{Pass, ReplayGate, ReplayOptions, Speed, sort_by_event_time};
pub use timefmt::TimeFormat;

/// Stack a thread needs to call [`parse_line`] on any input: serde_json
/// refuses documents nested deeper than 128 levels, but a retweet nested
/// in a retweet 127 times is 127 frames of the status deserialiser, which
/// overflow the default 2 MiB (measured: 128 levels overflow a release
/// build's parse thread). Only touched pages cost memory.
pub const PARSE_STACK_BYTES: usize = 32 << 20;

/// Errors that stop opening inputs (everything later is a dead letter).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// A path cannot be read (missing, unreadable directory).
    #[error("cannot read {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A glob pattern is malformed.
    #[error("bad glob pattern {pattern:?}: {message}")]
    Glob {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A glob pattern matches nothing.
    #[error("no input matches {0:?}")]
    NoMatch(String),
    /// An input path (not a glob, not `-`) does not exist.
    #[error("input {0:?} does not exist")]
    Missing(String),
}
