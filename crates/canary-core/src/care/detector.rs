//! The `response` alert: a watch's on-time rate or p90 response time turns
//! significantly worse than its own baseline.
//!
//! Per closed window the watch has:
//! - `due`: posts whose outcome against the SLA became known in the window
//!   (answered on time in it, or reaching their deadline in it unanswered),
//!   and `on_time` of them;
//! - the p90 of the response times of its answers.
//!
//! The window is hot when, after `min_windows` judged windows of history,
//! either the on-time rate lies `min_drop` or more below the baseline rate
//! and a one-sided binomial test gives p < `alpha` (at least `min_due` due
//! posts), or the p90 exceeds `p90_factor` × the baseline p90 (at least
//! `min_answered` answers). Episodes follow the same rules as the other kinds
//! ([`Episode`]); hot windows and windows of an open episode do not move the
//! baselines.

use super::config::ResponseAlertConfig;
use crate::aggregate::{Episode, EpisodeRules, Evidence, Transition};
use crate::duration::Span;
use crate::stats::binomial_upper_tail;
use serde::{Deserialize, Serialize};

/// Baselines and the episode of one watch's `response` alert.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResponseDetector {
    due_w: f64,
    on_time_w: f64,
    p90_w: f64,
    p90_sum: f64,
    windows: u32,
    episode: Episode,
}

/// One window of a watch, as the detector judges it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseWindow {
    /// Posts whose SLA outcome became known in the window.
    pub due: u64,
    /// Of those, answered within the SLA.
    pub on_time: u64,
    /// Answers in the window.
    pub answered: u64,
    /// Their p90 response time, seconds.
    pub p90: Option<f64>,
}

/// What one window did.
#[derive(Debug, Clone)]
pub struct ResponseDecision {
    /// Fire, resolve or nothing.
    pub transition: Transition,
    /// Whether an episode is open after the window.
    pub firing: bool,
    /// The test that made the window hot (on a fire), or the latest figures.
    pub evidence: Evidence,
}

impl ResponseDetector {
    /// Whether an episode is open.
    pub fn is_firing(&self) -> bool {
        self.episode.is_firing()
    }

    /// The baseline on-time rate, once any post was due.
    pub fn baseline_rate(&self) -> Option<f64> {
        (self.due_w > 0.0).then(|| self.on_time_w / self.due_w)
    }

    /// The baseline p90 response time (answer-weighted mean of window p90s).
    pub fn baseline_p90(&self) -> Option<f64> {
        (self.p90_w > 0.0).then(|| self.p90_sum / self.p90_w)
    }

    /// Judges the window `[start, end)`; `make_id` is called on a fire.
    pub fn step(
        &mut self,
        cfg: &ResponseAlertConfig,
        win: ResponseWindow,
        start: i64,
        end: i64,
        make_id: impl FnOnce() -> String,
    ) -> ResponseDecision {
        let ready = self.windows >= cfg.min_windows;
        let rate = (win.due > 0).then(|| win.on_time as f64 / win.due as f64);
        let base_rate = self.baseline_rate();
        let rate_p = match base_rate {
            // P(X <= on_time) for X ~ Binomial(due, p0).
            Some(p0) if win.due > 0 => {
                binomial_upper_tail(win.due - win.on_time, win.due, 1.0 - p0)
            }
            _ => 1.0,
        };
        let rate_drop = match (rate, base_rate) {
            (Some(r), Some(p0)) => p0 - r,
            _ => 0.0,
        };
        let hot_rate =
            ready && win.due >= cfg.min_due && rate_drop >= cfg.min_drop && rate_p < cfg.alpha;
        let base_p90 = self.baseline_p90();
        let hot_p90 = ready
            && win.answered >= cfg.min_answered
            && matches!((win.p90, base_p90), (Some(p), Some(b)) if p > cfg.p90_factor * b);
        let hot = cfg.enabled && (hot_rate || hot_p90);
        let calm = !hot
            && (win.due < cfg.min_due || rate_drop < cfg.min_drop / 2.0)
            && (win.answered < cfg.min_answered
                || matches!((win.p90, base_p90), (Some(p), Some(b)) if p <= cfg.p90_factor * b));
        let rules = EpisodeRules {
            fire_windows: 1,
            resolve_windows: cfg.resolve_windows,
            cooldown_ms: cfg.cooldown.ms(),
            max_duration_ms: cfg.max_duration.ms(),
        };
        let transition = self.episode.step(hot, calm, start, end, rules, make_id);
        let evidence = if hot_p90 && !hot_rate {
            let b = base_p90.unwrap_or(0.0);
            Evidence {
                test: "response_p90".into(),
                scale: Span(end - start).to_string(),
                since_ms: start,
                observed: win.p90.unwrap_or(0.0),
                expected: b,
                baseline: b,
                seasonal_factor: None,
                posts: win.answered,
                statistic: win.p90.unwrap_or(0.0) / b.max(f64::MIN_POSITIVE),
                p_value: 1.0,
                dispersion: 1.0,
            }
        } else {
            let b = base_rate.unwrap_or(0.0);
            Evidence {
                test: "response_rate".into(),
                scale: Span(end - start).to_string(),
                since_ms: start,
                observed: rate.unwrap_or(0.0),
                expected: b,
                baseline: b,
                seasonal_factor: None,
                posts: win.due,
                statistic: -rate_p.max(f64::MIN_POSITIVE).ln(),
                p_value: rate_p,
                dispersion: 1.0,
            }
        };
        let firing = self.episode.is_firing();
        if !hot && !firing {
            self.absorb(cfg, win, end - start);
        }
        ResponseDecision {
            transition,
            firing,
            evidence,
        }
    }

    fn absorb(&mut self, cfg: &ResponseAlertConfig, win: ResponseWindow, len_ms: i64) {
        let d = 0.5f64.powf(len_ms as f64 / cfg.half_life.ms().max(1) as f64);
        self.due_w = self.due_w * d + win.due as f64;
        self.on_time_w = self.on_time_w * d + win.on_time as f64;
        self.p90_w *= d;
        self.p90_sum *= d;
        if let Some(p) = win.p90 {
            self.p90_w += win.answered as f64;
            self.p90_sum += p * win.answered as f64;
        }
        if win.due > 0 || win.answered > 0 {
            self.windows = self.windows.saturating_add(1);
        }
    }

    /// Ends an open episode because the stream stopped.
    pub fn end_for_gap(&mut self, end: i64) -> Transition {
        self.episode.end_for_gap(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(due: u64, on_time: u64, answered: u64, p90: f64) -> ResponseWindow {
        ResponseWindow {
            due,
            on_time,
            answered,
            p90: Some(p90),
        }
    }

    #[test]
    fn a_collapse_of_the_on_time_rate_fires_then_resolves() {
        let cfg = ResponseAlertConfig::default();
        let mut d = ResponseDetector::default();
        let len = 300_000;
        let mut t = 0;
        let id = || "w/all/response/x".to_string();
        for _ in 0..cfg.min_windows {
            let r = d.step(&cfg, win(20, 18, 18, 600.0), t, t + len, id);
            assert_eq!(r.transition, Transition::None);
            t += len;
        }
        assert!((d.baseline_rate().unwrap() - 0.9).abs() < 1e-9);
        // Not enough due posts: not judged.
        let r = d.step(&cfg, win(5, 0, 0, 0.0), t, t + len, id);
        assert_eq!(r.transition, Transition::None);
        t += len;
        let r = d.step(&cfg, win(20, 4, 4, 600.0), t, t + len, id);
        assert!(matches!(r.transition, Transition::Fire(_)), "{r:?}");
        assert_eq!(r.evidence.test, "response_rate");
        assert!(r.evidence.p_value < 1e-6);
        t += len;
        for i in 0..2 {
            let r = d.step(&cfg, win(20, 18, 18, 600.0), t, t + len, id);
            assert_eq!(matches!(r.transition, Transition::Resolve(..)), i == 1);
            t += len;
        }
    }

    #[test]
    fn a_slow_p90_fires() {
        let cfg = ResponseAlertConfig::default();
        let mut d = ResponseDetector::default();
        let len = 300_000;
        let id = || "x".to_string();
        for i in 0..cfg.min_windows as i64 {
            d.step(&cfg, win(10, 10, 10, 300.0), i * len, (i + 1) * len, id);
        }
        let t = i64::from(cfg.min_windows) * len;
        let r = d.step(&cfg, win(10, 10, 10, 500.0), t, t + len, id);
        assert_eq!(r.transition, Transition::None);
        let r = d.step(&cfg, win(10, 10, 10, 1_000.0), t + len, t + 2 * len, id);
        assert!(matches!(r.transition, Transition::Fire(_)));
        assert_eq!(r.evidence.test, "response_p90");
    }
}
