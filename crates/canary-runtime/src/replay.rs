//! Replay controls: event-time bounds, a post limit and pacing.

use std::time::{Duration, Instant};

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the pipeline goes.
    Max,
    /// Paced by event time, `n` times real time (1.0 = real time).
    Factor(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "max" => Ok(Speed::Max),
            "realtime" => Ok(Speed::Factor(1.0)),
            n => match n.parse::<f64>() {
                Ok(f) if f > 0.0 && f.is_finite() => Ok(Speed::Factor(f)),
                _ => Err(format!(
                    "invalid speed {s:?}: use max, realtime or a positive number"
                )),
            },
        }
    }
}

/// Replay controls.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayOptions {
    /// Pacing.
    pub speed: Speed,
    /// Skip posts with event time before this (epoch ms).
    pub from_ms: Option<i64>,
    /// Skip posts with event time at or after this (epoch ms).
    pub to_ms: Option<i64>,
    /// Stop after this many posts.
    pub limit: Option<u64>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            speed: Speed::Max,
            from_ms: None,
            to_ms: None,
            limit: None,
        }
    }
}

/// Paces posts by event time.
#[derive(Debug)]
pub(crate) struct Pacer {
    factor: Option<f64>,
    origin: Option<(i64, Instant)>,
}

impl Pacer {
    pub(crate) fn new(speed: Speed) -> Self {
        Pacer {
            factor: match speed {
                Speed::Max => None,
                Speed::Factor(f) => Some(f),
            },
            origin: None,
        }
    }

    /// How long to wait before emitting a post with event time `event_ms`.
    pub(crate) fn delay(&mut self, event_ms: i64) -> Option<Duration> {
        let f = self.factor?;
        let (e0, w0) = *self.origin.get_or_insert((event_ms, Instant::now()));
        let due = w0 + Duration::from_secs_f64(((event_ms - e0).max(0) as f64 / 1000.0) / f);
        due.checked_duration_since(Instant::now())
            .filter(|d| *d > Duration::from_millis(1))
    }
}
