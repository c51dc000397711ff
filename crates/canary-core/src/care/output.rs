//! What the care measures emit: triage records, a per-window report for the
//! metrics, and the care fields of a window record.

use serde::{Deserialize, Serialize};

/// Upper bounds (ms) of the age buckets of `canary_care_unanswered` and
/// `canary_care_triage_queue`; the last bucket is open.
pub const AGE_BOUNDS_MS: [i64; 4] = [15 * 60_000, 3_600_000, 4 * 3_600_000, 24 * 3_600_000];

/// Labels of the age buckets, in order.
pub const AGE_LABELS: [&str; 5] = ["under_15m", "15m_1h", "1h_4h", "4h_24h", "over_24h"];

/// Index of the age bucket of `age_ms`.
pub fn age_bucket(age_ms: i64) -> usize {
    AGE_BOUNDS_MS
        .iter()
        .position(|&b| age_ms < b)
        .unwrap_or(AGE_BOUNDS_MS.len())
}

/// A triage record's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriageStatus {
    /// The post needs an answer.
    Open,
    /// A brand account answered it (after it was queued).
    Answered,
}

/// One post in (or leaving) the triage queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriageRecord {
    /// Record version.
    pub v: u16,
    /// `open` when queued, `answered` when a brand account answered it.
    pub status: TriageStatus,
    /// The post's id.
    pub id: String,
    /// The watch whose accounts it is directed at.
    pub watch: String,
    /// The beginning of the post's text.
    pub text: String,
    /// The author's handle, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The author's followers, where the platform gives them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach: Option<u64>,
    /// Rank: negativity × reach × age (see the README).
    pub score: f64,
    /// `question` and/or `complaint`.
    pub reasons: Vec<String>,
    /// The post's event time, RFC 3339 UTC.
    pub time: String,
    /// The post's event time, epoch ms.
    pub event_ms: i64,
    /// Event time at which the record was written (the end of the post's
    /// window for `open`, the answer's time for `answered`), RFC 3339.
    pub at: String,
    /// Seconds from the post to the brand's first answer (`answered` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_seconds: Option<f64>,
    /// Whether that answer came within `care.sla` (`answered` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_sla: Option<bool>,
}

/// One answer, for the response-time histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Seconds from the directed post to the answer.
    pub seconds: f64,
    /// Whether that is within `care.sla`.
    pub within_sla: bool,
}

/// What one closed window changed in a watch's care metrics (metrics only:
/// not written to any output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareReport {
    /// Record version.
    pub v: u16,
    /// Watch name.
    pub watch: String,
    /// End of the window, epoch ms (event time).
    pub end_ms: i64,
    /// Directed posts in the window.
    pub directed: u64,
    /// Answers in the window.
    pub responses: Vec<Response>,
    /// Unanswered posts held at the window's end, by age bucket ([`AGE_LABELS`]).
    pub unanswered: [u64; 5],
    /// Of those, the ones in the triage queue, by age bucket.
    pub queued: [u64; 5],
    /// Unanswered posts evicted while closing this window: past `care.horizon`.
    pub evicted_horizon: u64,
    /// Unanswered posts evicted because the watch held `care.max_pending`.
    pub evicted_cap: u64,
    /// The accounts' own posts forgotten before `care.horizon` because the
    /// watch held `care.max_pending` of them.
    #[serde(default)]
    pub evicted_brand: u64,
    /// Unanswered posts held at the window's end that are older than
    /// `care.sla` (whatever it is set to).
    #[serde(default)]
    pub over_sla: u64,
}

/// The care fields of a watch's `all` window record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CareCounts {
    /// Posts directed at the watch's accounts, in the window of the post.
    pub directed: u64,
    /// Answers by the watch's accounts, in the window of the answer.
    pub answered: u64,
    /// Of those, the ones within `care.sla`.
    pub answered_within_sla: u64,
    /// Exact median response time of those answers, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_p50_seconds: Option<f64>,
    /// Exact 90th percentile (nearest rank) of those response times, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_p90_seconds: Option<f64>,
    /// Whether a `response` episode is firing after this window.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub response_firing: bool,
}

/// Exact median (mean of the two middle values for an even count) and 90th
/// percentile (nearest rank) of `v`, which is sorted in place.
pub fn median_p90(v: &mut [f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let rank = (0.9 * n as f64).ceil() as usize;
    Some((median, v[rank.max(1) - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_exact() {
        assert_eq!(median_p90(&mut []), None);
        assert_eq!(median_p90(&mut [5.0]), Some((5.0, 5.0)));
        assert_eq!(median_p90(&mut [4.0, 1.0, 3.0, 2.0]), Some((2.5, 4.0)));
        let mut v: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        assert_eq!(median_p90(&mut v), Some((5.5, 9.0)));
    }

    #[test]
    fn age_buckets() {
        assert_eq!(age_bucket(0), 0);
        assert_eq!(age_bucket(15 * 60_000), 1);
        assert_eq!(age_bucket(3_600_000 - 1), 1);
        assert_eq!(age_bucket(25 * 3_600_000), 4);
    }
}
