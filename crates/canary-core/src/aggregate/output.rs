//! What the aggregate stage emits: one summary per closed window and key, and
//! alert records.

use super::baseline::Resolution;
use crate::record::RECORD_VERSION;
use serde::{Deserialize, Serialize};

/// Alert kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The negative share rose significantly above the baseline share.
    NegativeShare,
    /// The post volume rose far above the baseline volume.
    Volume,
    /// A watch's on-time response rate fell, or its p90 response time rose,
    /// significantly against its own baseline (social care).
    Response,
}

impl AlertKind {
    /// Stable name, as in the JSON records and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::NegativeShare => "negative_share",
            AlertKind::Volume => "volume",
            AlertKind::Response => "response",
        }
    }
}

/// Alert state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The episode started with this window.
    Firing,
    /// The episode ended with this window.
    Resolved,
}

/// A sample post attached to an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Post id.
    pub id: String,
    /// The beginning of the post's text.
    pub text: String,
    /// The post's compound score.
    pub compound: f64,
}

/// An over-represented term with its log-odds z-score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Term {
    /// The term (a word, `#hashtag` or `@handle`).
    pub term: String,
    /// Occurrences in the window's negative posts.
    pub count: u64,
    /// Weighted log-odds z-score against the baseline's negative posts.
    pub score: f64,
}

/// One alert record: a firing or a resolve of one episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Record version.
    pub v: u16,
    /// One id per episode, the same on its firing and resolved records.
    pub alert_id: String,
    /// What kind of change this is.
    pub kind: AlertKind,
    /// Watch name.
    pub watch: String,
    /// Language code, or `all` for the all-languages aggregate.
    pub lang: String,
    /// Firing or resolved.
    pub state: AlertState,
    /// Start of the window that decided this record (RFC 3339 UTC, event time).
    pub window_start: String,
    /// End of that window (exclusive).
    pub window_end: String,
    /// Posts in the window.
    pub volume: u64,
    /// Posts in the window that have a sentiment score.
    pub scored: u64,
    /// Negative posts in the window (compound <= -0.05).
    pub negative: u64,
    /// negative / scored (0 when nothing was scored).
    pub negative_share: f64,
    /// The baseline's negative share.
    pub baseline_share: f64,
    /// The baseline's mean volume per window.
    pub baseline_volume: f64,
    /// One-sided p-value of the window against the baseline (binomial for
    /// negative share, Poisson for volume).
    pub p_value: f64,
    /// Terms over-represented in the window's negative posts.
    pub top_terms: Vec<String>,
    /// Ids of sample posts.
    pub sample_ids: Vec<String>,
    /// Sample posts (id and a text snippet), the most negative first.
    pub samples: Vec<Sample>,
    /// When the episode started (the firing window's start), on both records.
    pub episode_start: String,
    /// Which test decided this record and on what evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Box<Evidence>>,
    /// Why the episode ended (resolved records only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
}

/// What an alert decision rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// `window` (one window against its expectation), `sequential` (a
    /// CUSUM of the negative share summed over the windows since `since`),
    /// or, for volume, `smoothed` (the volume smoothed over
    /// `volume.slow_scale` against its expectation) or `long` (the volume
    /// smoothed over `volume.long_scale` against the key's median at that
    /// scale). For `smoothed` and `long`, `observed` and `expected` are mean
    /// posts per window over the span, `statistic` is the log figure the
    /// key's history was compared with, and `p_value` bounds the share of
    /// that history above it.
    pub test: String,
    /// Span of event time the evidence covers, e.g. `5m` or `3h20m`.
    pub scale: String,
    /// Start of that span, epoch ms.
    pub since_ms: i64,
    /// Observed value over the span: the negative share, or posts per window.
    pub observed: f64,
    /// What the key expected for this window: seasonal where learnt.
    pub expected: f64,
    /// The key's baseline without the hour-of-day and weekday profile.
    pub baseline: f64,
    /// Hour-of-day × weekday volume factor, once learnt (volume only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seasonal_factor: Option<f64>,
    /// Posts behind `observed` (scored posts for a share).
    pub posts: u64,
    /// The test statistic: the CUSUM log-likelihood ratio, or −ln p.
    pub statistic: f64,
    /// The p-value (for the sequential test, the bound e^−statistic).
    pub p_value: f64,
    /// Variance inflation over binomial or Poisson sampling, from the key's
    /// own history.
    pub dispersion: f64,
}

/// Counts of one closed window for one (watch, language) key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSummary {
    /// Record version.
    pub v: u16,
    /// Watch name.
    pub watch: String,
    /// Language code or `all`.
    pub lang: String,
    /// Window start, epoch ms (UTC, event time).
    pub start_ms: i64,
    /// Window end (exclusive), epoch ms.
    pub end_ms: i64,
    /// Posts.
    pub volume: u64,
    /// Posts with a sentiment score.
    pub scored: u64,
    /// Negative posts.
    pub negative: u64,
    /// The baseline's negative share before this window, if it has seen any scored post.
    pub baseline_share: Option<f64>,
    /// The baseline's mean volume per window before this window.
    pub baseline_volume: f64,
    /// Whether a negative-share episode is firing after this window.
    pub negative_firing: bool,
    /// Whether a volume episode is firing after this window.
    pub volume_firing: bool,
    /// Social-care figures (the `all` record of a watch with `accounts`).
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub care: Option<crate::care::CareCounts>,
}

impl WindowSummary {
    /// negative / scored, 0 when nothing was scored.
    pub fn negative_share(&self) -> f64 {
        if self.scored == 0 {
            0.0
        } else {
            self.negative as f64 / self.scored as f64
        }
    }
}

/// A record the aggregate stage emits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AggregateOutput {
    /// A closed window's counts.
    Window(WindowSummary),
    /// An alert record.
    Alert(Alert),
    /// A post entering or leaving the triage queue.
    Triage(crate::care::TriageRecord),
    /// What a closed window changed in a watch's care metrics (not written out).
    Care(crate::care::CareReport),
}

pub(crate) fn version() -> u16 {
    RECORD_VERSION
}
