//! Replay controls: event-time bounds, a post limit and pacing; and the
//! event-time sort of a whole input. Both transports replay through them.

use crate::{IngestRecord, Item, Reader};
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

/// What the replay controls decide about a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// It goes out, after waiting this long when paced (hand over what is
    /// ready before waiting, so pacing adds no latency).
    Send(Option<Duration>),
    /// Outside `--from`/`--to`: left out.
    Skip,
    /// `--limit` reached: the replay ends.
    Stop,
}

/// The replay controls (`--from`, `--to`, `--limit`, `--speed`) over posts'
/// event times, for `canary run` and `canary replay` alike. The clock is
/// passed in, so tests decide what time it is.
#[derive(Debug)]
pub struct ReplayGate {
    opts: ReplayOptions,
    posts: u64,
    /// First paced event time and the processing time it went out.
    origin: Option<(i64, Instant)>,
}

/// A wait this short is not worth a sleep (and, over Kafka, a partial pack).
const MIN_WAIT: Duration = Duration::from_millis(1);

impl ReplayGate {
    /// Controls `opts`, nothing passed yet.
    pub fn new(opts: ReplayOptions) -> Self {
        ReplayGate {
            opts,
            posts: 0,
            origin: None,
        }
    }

    /// Whether any control is set (otherwise every record passes at once).
    pub fn active(&self) -> bool {
        self.opts.from_ms.is_some()
            || self.opts.to_ms.is_some()
            || self.opts.limit.is_some()
            || matches!(self.opts.speed, Speed::Factor(_))
    }

    /// Decides for a record holding `posts` posts, the first at event time
    /// `event_ms`, at processing time `now`. A record without posts (a
    /// notice) always passes, without waiting.
    pub fn pass(&mut self, event_ms: Option<i64>, posts: u64, now: Instant) -> Pass {
        let Some(t) = event_ms else {
            return Pass::Send(None);
        };
        if self.opts.from_ms.is_some_and(|f| t < f) || self.opts.to_ms.is_some_and(|e| t >= e) {
            return Pass::Skip;
        }
        if self.opts.limit.is_some_and(|l| self.posts >= l) {
            return Pass::Stop;
        }
        self.posts += posts.max(1);
        let Speed::Factor(f) = self.opts.speed else {
            return Pass::Send(None);
        };
        let (e0, w0) = *self.origin.get_or_insert((t, now));
        let due = w0 + Duration::from_secs_f64((t - e0).max(0) as f64 / 1000.0 / f);
        Pass::Send(due.checked_duration_since(now).filter(|d| *d > MIN_WAIT))
    }
}

/// Reads every item and orders records by event time. Dead letters come first;
/// a notice or delete keeps its place after the post it followed. The sort is
/// stable, so posts with equal times keep their input order.
pub fn sort_by_event_time(reader: &mut Reader) -> Vec<Item> {
    let mut dead = Vec::new();
    let mut keyed = Vec::new();
    let mut last = i64::MIN;
    for item in reader.by_ref() {
        match item {
            Item::DeadLetter(_) => dead.push(item),
            Item::Record(IngestRecord::Post(ref p), _) => {
                last = p.event_ms;
                keyed.push((last, item));
            }
            Item::Record(..) => keyed.push((last, item)),
        }
    }
    keyed.sort_by_key(|(t, _)| *t);
    dead.extend(keyed.into_iter().map(|(_, i)| i));
    dead
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(speed: Speed, from: Option<i64>, to: Option<i64>, limit: Option<u64>) -> ReplayGate {
        ReplayGate::new(ReplayOptions {
            speed,
            from_ms: from,
            to_ms: to,
            limit,
        })
    }

    #[test]
    fn bounds_and_limit_decide_before_pacing() {
        let now = Instant::now();
        let mut g = gate(Speed::Max, Some(1_000), Some(5_000), Some(2));
        assert!(g.active());
        assert_eq!(g.pass(Some(999), 1, now), Pass::Skip);
        assert_eq!(g.pass(Some(5_000), 1, now), Pass::Skip);
        assert_eq!(g.pass(None, 0, now), Pass::Send(None));
        assert_eq!(g.pass(Some(1_000), 1, now), Pass::Send(None));
        assert_eq!(g.pass(Some(2_000), 1, now), Pass::Send(None));
        assert_eq!(g.pass(Some(3_000), 1, now), Pass::Stop);
        assert!(!gate(Speed::Max, None, None, None).active());
    }

    #[test]
    fn pacing_waits_for_event_time_over_speed_and_skips_tiny_waits() {
        let t0 = Instant::now();
        let mut g = gate(Speed::Factor(10.0), None, None, None);
        assert_eq!(g.pass(Some(0), 1, t0), Pass::Send(None));
        // 10 s of event time at 10x: due 1 s after the first.
        assert_eq!(
            g.pass(Some(10_000), 1, t0),
            Pass::Send(Some(Duration::from_secs(1)))
        );
        assert_eq!(
            g.pass(Some(10_000), 1, t0 + Duration::from_millis(400)),
            Pass::Send(Some(Duration::from_millis(600)))
        );
        // Due in 1 ms or less, or already past: no wait.
        assert_eq!(
            g.pass(Some(10_000), 1, t0 + Duration::from_millis(999)),
            Pass::Send(None)
        );
        assert_eq!(
            g.pass(Some(10_000), 1, t0 + Duration::from_secs(2)),
            Pass::Send(None)
        );
        // Posts earlier than the first never wait.
        assert_eq!(g.pass(Some(-5_000), 1, t0), Pass::Send(None));
    }
}
