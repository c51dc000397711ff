//! Which event times may move the watermark.
//!
//! The watermark follows the newest event time, so one post dated far ahead
//! of the stream (a broken client clock, a year typed as 2200) would move it
//! there and make every later post `late`. [`FutureGuard`] stops such a post
//! before it reaches the windows; the caller dead-letters it as `future`.
//!
//! The rule, in this order:
//! 1. **Ahead of the clock.** When the caller knows the processing time (every
//!    run does; tests may not), an event time more than
//!    [`EventTimeConfig::max_ahead`] ahead of it is `future`. Posts cannot be
//!    written after the moment they are read, so this holds for live streams
//!    and replays of history alike, from the first post on.
//! 2. **Ahead of the stream.** Once [`RECENT_MIN`] posts have been seen, an
//!    event time more than [`EventTimeConfig::max_jump`] ahead of the median
//!    of the last [`RECENT`] event times is `future`. This catches a post
//!    dated years ahead inside a replay of older data. The posts it rejects
//!    still enter the median, so a real jump (a dump with a gap of days)
//!    costs the first few posts after the gap, not the rest of the stream.
//!
//! Limits: rule 2 needs [`RECENT_MIN`] posts first, so an outlier among the
//! first posts of a stream is caught only when it lies ahead of the clock;
//! and a run of more than half of [`RECENT`] consecutive posts far ahead is
//! taken for a real jump.

use serde::{Deserialize, Serialize};

use crate::duration::Span;

/// How many recent event times the median of rule 2 is taken over.
pub const RECENT: usize = 15;

/// Event times seen before rule 2 applies.
pub const RECENT_MIN: usize = 8;

/// `[event_time]`: how far ahead of the clock and of the stream an event
/// time may lie and still count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventTimeConfig {
    /// Posts dated more than this ahead of the processing clock are
    /// dead-lettered as `future`. Covers clock skew between the platform and
    /// this host; a post admitted this far ahead can still make the posts of
    /// `max_ahead - window.lateness` late.
    pub max_ahead: Span,
    /// Posts dated more than this ahead of the median of the last 15 event
    /// times are dead-lettered as `future`. A gap longer than this in the
    /// input costs the first 8 posts after it.
    pub max_jump: Span,
}

impl Default for EventTimeConfig {
    fn default() -> Self {
        EventTimeConfig {
            max_ahead: Span::minutes(5),
            max_jump: Span::hours(24),
        }
    }
}

/// What [`FutureGuard::check`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTime {
    /// The post may enter the windows.
    Accept,
    /// The post lies more than the bound ahead of `reference_ms`.
    Future {
        /// Which rule rejected it.
        ahead_of: AheadOf,
        /// The clock or the median it was compared with.
        reference_ms: i64,
    },
}

/// The reference a `future` post was too far ahead of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AheadOf {
    /// The processing clock.
    Clock,
    /// The median of the recent event times.
    Stream,
}

impl EventTime {
    /// A one-line explanation for a dead letter.
    pub fn detail(&self, event_ms: i64) -> String {
        match *self {
            EventTime::Accept => String::new(),
            EventTime::Future {
                ahead_of,
                reference_ms,
            } => format!(
                "event time {} is too far ahead of {} {}",
                crate::time::format_rfc3339(event_ms),
                match ahead_of {
                    AheadOf::Clock => "the processing clock,",
                    AheadOf::Stream => "the stream's recent event times, median",
                },
                crate::time::format_rfc3339(reference_ms)
            ),
        }
    }
}

/// Decides, post by post, whether an event time may move the watermark.
/// State: the last [`RECENT`] event times, whatever the stream's length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FutureGuard {
    #[serde(skip)]
    cfg: EventTimeConfig,
    /// Ring of recent event times, `len` of them valid, oldest at `next`
    /// once full.
    recent: [i64; RECENT],
    len: usize,
    next: usize,
}

impl FutureGuard {
    /// A guard that has seen no post.
    pub fn new(cfg: EventTimeConfig) -> Self {
        FutureGuard {
            cfg,
            recent: [0; RECENT],
            len: 0,
            next: 0,
        }
    }

    /// Replaces the bounds (after restoring a guard from a checkpoint, which
    /// does not hold them).
    pub fn set_config(&mut self, cfg: EventTimeConfig) {
        self.cfg = cfg;
    }

    /// Judges one post's event time; `now_ms` is the processing time when the
    /// caller has one. Call it for every post in stream order.
    pub fn check(&mut self, event_ms: i64, now_ms: Option<i64>) -> EventTime {
        if let Some(now) = now_ms
            && event_ms > now.saturating_add(self.cfg.max_ahead.ms())
        {
            // Not evidence of where the stream is: the ring does not take it.
            return EventTime::Future {
                ahead_of: AheadOf::Clock,
                reference_ms: now,
            };
        }
        let verdict = if self.len >= RECENT_MIN {
            let window = &self.recent[..self.len];
            let jump = self.cfg.max_jump.ms();
            // Cheap test first: at or behind the oldest value plus the bound is
            // within the bound of the median too.
            let min = window.iter().copied().min().unwrap_or(i64::MIN);
            if event_ms <= min.saturating_add(jump) {
                EventTime::Accept
            } else {
                let mut sorted = self.recent;
                let sorted = &mut sorted[..self.len];
                let (_, median, _) = sorted.select_nth_unstable(self.len / 2);
                let median = *median;
                if event_ms > median.saturating_add(jump) {
                    EventTime::Future {
                        ahead_of: AheadOf::Stream,
                        reference_ms: median,
                    }
                } else {
                    EventTime::Accept
                }
            }
        } else {
            EventTime::Accept
        };
        self.recent[self.next] = event_ms;
        self.next = (self.next + 1) % RECENT;
        self.len = (self.len + 1).min(RECENT);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const T0: i64 = 1_714_996_800_000; // 2024-05-06T12:00:00Z
    const Y2200: i64 = 7_258_118_400_000; // 2200-01-01T00:00:00Z

    fn guard() -> FutureGuard {
        FutureGuard::new(EventTimeConfig::default())
    }

    fn accepted(g: &mut FutureGuard, t: i64, now: Option<i64>) -> bool {
        g.check(t, now) == EventTime::Accept
    }

    #[test]
    fn ahead_of_the_clock_is_future_from_the_first_post() {
        let mut g = guard();
        let now = Some(T0 + 100 * 24 * H);
        assert_eq!(
            g.check(Y2200, now),
            EventTime::Future {
                ahead_of: AheadOf::Clock,
                reference_ms: T0 + 100 * 24 * H
            }
        );
        for i in 0..100 {
            assert!(accepted(&mut g, T0 + i * 1000, now));
        }
        // Live: a few minutes of clock skew pass, more does not.
        let now = Some(T0);
        assert!(accepted(&mut g, T0 + 4 * 60_000, now));
        assert!(!accepted(&mut g, T0 + 6 * 60_000, now));
    }

    #[test]
    fn far_ahead_of_the_recent_stream_is_future_without_a_clock() {
        let mut g = guard();
        for i in 0..RECENT_MIN as i64 {
            assert!(accepted(&mut g, T0 + i * 1000, None));
        }
        let verdict = g.check(T0 + 365 * 24 * H, None);
        assert!(
            matches!(
                verdict,
                EventTime::Future {
                    ahead_of: AheadOf::Stream,
                    ..
                }
            ),
            "{verdict:?}"
        );
        assert!(verdict.detail(T0 + 365 * 24 * H).contains("2025-05-06"));
        // Out-of-order and moderately ahead posts pass.
        assert!(accepted(&mut g, T0 - 10 * 60_000, None));
        assert!(accepted(&mut g, T0 + 23 * H, None));
    }

    #[test]
    fn a_real_jump_costs_only_the_posts_before_the_median_moves() {
        let mut g = guard();
        for i in 0..100 {
            assert!(accepted(&mut g, T0 + i * 1000, None));
        }
        let after_gap = T0 + 3 * 24 * H;
        let rejected = (0..50)
            .filter(|i| !accepted(&mut g, after_gap + i * 1000, None))
            .count();
        assert_eq!(rejected, RECENT / 2 + 1);
    }

    #[test]
    fn state_is_bounded_and_survives_a_checkpoint() {
        let mut g = guard();
        for i in 0..1_000_000 {
            g.check(T0 + i, None);
        }
        let json = serde_json::to_string(&g).unwrap();
        assert!(json.len() < 400, "{json}");
        let mut back: FutureGuard = serde_json::from_str(&json).unwrap();
        back.set_config(EventTimeConfig::default());
        assert_eq!(back, g);
        assert!(!accepted(&mut back, T0 + 365 * 24 * H, None));
    }
}
