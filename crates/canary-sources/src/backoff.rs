//! Jittered exponential backoff: many clients cut off by the same outage
//! must not come back at the same instant, so each delay is drawn uniformly
//! from `[base/2, base]` ("equal jitter"), with `base` doubling per failure
//! up to a cap and reset by a connection that delivered events.

use std::time::Duration;

/// Delays between reconnect attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
    /// xorshift state: the jitter needs spread, not cryptographic quality,
    /// and a seed makes the delays reproducible in tests.
    rng: u64,
}

impl Backoff {
    /// Delays start near `initial` and never exceed `max`.
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            failures: 0,
            rng: seed | 1,
        }
    }

    /// The delay before the next attempt. A server's `Retry-After` is a
    /// floor: waiting less only earns another refusal.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << self.failures.min(20))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let frac = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        let jittered = base.mul_f64(0.5 + 0.5 * frac);
        retry_after.map_or(jittered, |r| jittered.max(r))
    }

    /// A connection that delivered events: the next failure starts over.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_jitter_up_to_the_cap_and_reset() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 7);
        for i in 0..8 {
            let base = Duration::from_secs(1 << i).min(Duration::from_secs(30));
            let d = b.next_delay(None);
            assert!(d >= base / 2 && d <= base, "attempt {i}: {d:?} vs {base:?}");
        }
        b.reset();
        assert!(b.next_delay(None) <= Duration::from_secs(1));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), 3);
        assert!(b.next_delay(Some(Duration::from_secs(5))) >= Duration::from_secs(5));
    }

    #[test]
    fn two_clients_with_different_seeds_spread_out() {
        let mut a = Backoff::new(Duration::from_secs(8), Duration::from_secs(60), 1);
        let mut b = Backoff::new(Duration::from_secs(8), Duration::from_secs(60), 2);
        assert_ne!(a.next_delay(None), b.next_delay(None));
    }
}
