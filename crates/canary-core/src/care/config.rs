//! Settings of the social-care measures (`[care]`).

use crate::duration::Span;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[care]`: response times, response rate and the triage queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CareConfig {
    /// An answer within this long of the post counts as on time.
    pub sla: Span,
    /// Unanswered posts are kept this long (event time), then evicted.
    pub horizon: Span,
    /// Unanswered posts kept per watch; beyond it the oldest is evicted.
    pub max_pending: usize,
    /// Characters of a post's text kept in its triage record.
    pub snippet_chars: usize,
    /// The `response` alert.
    pub alert: ResponseAlertConfig,
    /// Each watch's own accounts (handles without `@`, lowercased), by watch
    /// name; taken from `[[watch]] accounts`.
    #[serde(skip)]
    pub accounts: BTreeMap<String, Vec<String>>,
}

impl Default for CareConfig {
    fn default() -> Self {
        CareConfig {
            sla: Span::hours(1),
            horizon: Span::hours(24),
            max_pending: 10_000,
            snippet_chars: 140,
            alert: ResponseAlertConfig::default(),
            accounts: BTreeMap::new(),
        }
    }
}

impl CareConfig {
    /// Whether any watch has accounts (otherwise nothing is measured).
    pub fn enabled(&self) -> bool {
        self.accounts.values().any(|a| !a.is_empty())
    }

    /// Checks ranges; `(key, message)` for the first bad one.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((format!("care.{k}"), m.to_owned()));
        if self.sla.ms() <= 0 {
            return bad("sla", "must be positive");
        }
        if self.horizon.ms() < self.sla.ms() {
            return bad("horizon", "must be at least `care.sla`");
        }
        if self.max_pending == 0 {
            return bad("max_pending", "must be at least 1");
        }
        let a = &self.alert;
        if !(a.alpha > 0.0 && a.alpha < 1.0) {
            return bad("alert.alpha", "must lie in (0, 1)");
        }
        if !(a.min_drop > 0.0 && a.min_drop < 1.0) {
            return bad("alert.min_drop", "must lie in (0, 1)");
        }
        if a.p90_factor <= 1.0 {
            return bad("alert.p90_factor", "must be above 1");
        }
        if a.resolve_windows == 0 {
            return bad("alert.resolve_windows", "must be at least 1");
        }
        Ok(())
    }
}

/// When the response rate or the p90 response time pages (`kind = "response"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseAlertConfig {
    /// Raise `response` alerts.
    pub enabled: bool,
    /// Significance of the one-sided binomial test of the on-time rate.
    pub alpha: f64,
    /// The on-time rate must fall at least this far below the baseline's.
    pub min_drop: f64,
    /// Posts reaching their SLA deadline in a window needed to judge its rate.
    pub min_due: u64,
    /// The window's p90 response time must exceed the baseline's by this factor.
    pub p90_factor: f64,
    /// Answers a window needs to judge its p90.
    pub min_answered: u64,
    /// Judged windows of history before the alert can fire.
    pub min_windows: u32,
    /// Half-life of the baselines.
    pub half_life: Span,
    /// Consecutive calm windows to resolve.
    pub resolve_windows: u32,
    /// No new episode this long after a resolve.
    pub cooldown: Span,
    /// An episode open this long resolves as `expired`.
    pub max_duration: Span,
}

impl Default for ResponseAlertConfig {
    fn default() -> Self {
        ResponseAlertConfig {
            enabled: true,
            alpha: 1e-3,
            min_drop: 0.2,
            min_due: 10,
            p90_factor: 2.0,
            min_answered: 10,
            min_windows: 12,
            half_life: Span::hours(24),
            resolve_windows: 2,
            cooldown: Span::hours(1),
            max_duration: Span::hours(24),
        }
    }
}
