//! What a replay looked like: an HTML report, a comparison of two configs'
//! episodes, and the end-of-run table, all built from the aggregate stage's
//! records (closed windows and alerts).
//!
//! # Layout
//! - [`Collector`] takes the aggregate's outputs one at a time and keeps, per
//!   watch and language, one entry per window (or only per-watch totals when
//!   no report is wanted): memory grows with keys and windows, never with posts.
//! - [`series`] downsamples a long series to the minimum and maximum of each
//!   bucket, so a spike is never averaged away.
//! - [`compare`] matches the episodes of two runs: added, removed, shifted.
//! - [`html`] renders the self-contained page: data as one JSON block, inline
//!   script and style, hand-drawn SVG, no network request.
//! - [`table`] renders the per-watch table printed at the end of a replay.
//!
//! Nothing here does I/O: the report is a `String` for the caller to write.
#![deny(missing_docs)]

mod collect;
pub mod compare;
pub mod html;
pub mod series;
pub mod table;

pub use collect::{Collector, Episode, WatchTotals};
pub use compare::{Change, Difference};
pub use html::{InputSummary, Report, Threshold};
