//! Live sources: clients of each platform's streaming API that produce the
//! same [`IngestRecord`]s as `canary-ingest` reads from dumps.
//!
//! # Layout
//!
//! - [`jetstream`]: Bluesky Jetstream events → records, with the resume
//!   cursor and the de-duplication of the overlap a resume replays.
//! - [`mastodon`]: Mastodon streaming `update`/`delete` events → records.
//! - [`sse`]: server-sent events framing.
//! - [`x`]: X API v2 filtered stream lines → records.
//! - [`backoff`]: jittered exponential backoff between reconnects.
//! - [`conn`]: URLs, TCP/TLS streams, a minimal HTTP/1.1 GET and chunked bodies.
//! - [`client`]: the clients that connect, decode and reconnect.
//!
//! Decoding works on one frame's bytes, never on a socket, so every rule is
//! tested without a network; a frame that cannot be used is a
//! [`DeadLetter`] with a stable reason, and the source goes on.
//!
//! [`IngestRecord`]: canary_core::IngestRecord
//! [`DeadLetter`]: canary_core::DeadLetter

#![deny(missing_docs)]

pub mod backoff;
pub mod client;
pub mod conn;
pub mod jetstream;
pub mod mastodon;
pub mod sse;
pub mod x;

pub use client::{Health, Kind, SourceConfig};

/// Errors of a source's settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A URL that cannot be used.
    #[error("bad URL {0}")]
    Url(String),
    /// A token that cannot be read.
    #[error("token: {0}")]
    Token(String),
}
