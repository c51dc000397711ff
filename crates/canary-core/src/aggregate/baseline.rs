//! Per-key baselines and alert episodes.

use super::config::{AlertConfig, VolumeAlertConfig};
use serde::{Deserialize, Serialize};

/// Exponentially decayed counts of the windows a key has seen while calm.
///
/// Sums of counts rather than an average of ratios, so that a window with 5
/// posts moves the baseline share less than one with 5,000.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Baseline {
    /// Decayed sum of negative posts.
    pub negative: f64,
    /// Decayed sum of scored posts.
    pub scored: f64,
    /// Decayed sum of all posts.
    pub volume: f64,
    /// Decayed number of windows (normalises `volume` into a mean).
    pub weight: f64,
    /// Scored posts absorbed, undecayed (readiness check).
    pub scored_seen: u64,
    /// Windows absorbed (readiness check).
    pub windows: u32,
}

impl Baseline {
    /// Absorbs one window after decaying the past by `decay`.
    pub fn absorb(&mut self, negative: u64, scored: u64, volume: u64, decay: f64) {
        self.negative = self.negative * decay + negative as f64;
        self.scored = self.scored * decay + scored as f64;
        self.volume = self.volume * decay + volume as f64;
        self.weight = self.weight * decay + 1.0;
        self.scored_seen += scored;
        self.windows = self.windows.saturating_add(1);
    }

    /// Decays as if `windows` empty windows had passed.
    pub fn absorb_empty(&mut self, windows: u64, decay: f64) {
        let f = decay.powf(windows as f64);
        self.negative *= f;
        self.scored *= f;
        self.volume *= f;
        self.weight = self.weight * f + (1.0 - f) / (1.0 - decay).max(f64::MIN_POSITIVE);
        self.windows = self
            .windows
            .saturating_add(u32::try_from(windows).unwrap_or(u32::MAX));
    }

    /// Negative share, with half a pseudo-count so a baseline that has seen no
    /// negative post yet still gives a finite, small share.
    pub fn share(&self) -> Option<f64> {
        (self.scored > 0.0).then(|| (self.negative + 0.5) / (self.scored + 1.0))
    }

    /// Mean posts per window.
    pub fn mean_volume(&self) -> f64 {
        if self.weight > 0.0 {
            self.volume / self.weight
        } else {
            0.0
        }
    }
}

/// Where an alert episode stands for one key and kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Episode {
    /// No alert open.
    Idle {
        /// Consecutive significant windows so far.
        hot_run: u32,
        /// Event time before which no new episode may start (cooldown).
        quiet_until: i64,
    },
    /// An alert is open.
    Firing {
        /// The episode's alert id.
        id: String,
        /// Start of the window that fired.
        since: i64,
        /// Consecutive calm windows so far.
        calm_run: u32,
    },
}

impl Default for Episode {
    fn default() -> Self {
        Episode::Idle {
            hot_run: 0,
            quiet_until: i64::MIN,
        }
    }
}

/// What one window did to an episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Nothing to report.
    None,
    /// A new episode fired with this id.
    Fire(String),
    /// The episode with this id and start resolved.
    Resolve(String, i64),
}

/// Thresholds of an episode state machine.
#[derive(Debug, Clone, Copy)]
pub struct EpisodeRules {
    /// Consecutive hot windows to fire.
    pub fire_windows: u32,
    /// Consecutive calm windows to resolve.
    pub resolve_windows: u32,
    /// Cooldown after a resolve, ms.
    pub cooldown_ms: i64,
}

impl From<&AlertConfig> for EpisodeRules {
    fn from(c: &AlertConfig) -> Self {
        EpisodeRules {
            fire_windows: c.fire_windows,
            resolve_windows: c.resolve_windows,
            cooldown_ms: c.cooldown.ms(),
        }
    }
}

impl From<&VolumeAlertConfig> for EpisodeRules {
    fn from(c: &VolumeAlertConfig) -> Self {
        EpisodeRules {
            fire_windows: 1,
            resolve_windows: c.resolve_windows,
            cooldown_ms: c.cooldown.ms(),
        }
    }
}

impl Episode {
    /// Whether an alert is open.
    pub fn is_firing(&self) -> bool {
        matches!(self, Episode::Firing { .. })
    }

    /// Advances by one closed window `[start, end)`. `make_id` is called only on a fire.
    pub fn step(
        &mut self,
        hot: bool,
        calm: bool,
        start: i64,
        end: i64,
        rules: EpisodeRules,
        make_id: impl FnOnce() -> String,
    ) -> Transition {
        match self {
            Episode::Idle {
                hot_run,
                quiet_until,
            } => {
                if !hot {
                    *hot_run = 0;
                    return Transition::None;
                }
                *hot_run += 1;
                if *hot_run >= rules.fire_windows && start >= *quiet_until {
                    let id = make_id();
                    *self = Episode::Firing {
                        id: id.clone(),
                        since: start,
                        calm_run: 0,
                    };
                    Transition::Fire(id)
                } else {
                    Transition::None
                }
            }
            Episode::Firing {
                id,
                since,
                calm_run,
            } => {
                if !calm {
                    *calm_run = 0;
                    return Transition::None;
                }
                *calm_run += 1;
                if *calm_run >= rules.resolve_windows {
                    let t = Transition::Resolve(std::mem::take(id), *since);
                    *self = Episode::Idle {
                        hot_run: 0,
                        quiet_until: end + rules.cooldown_ms,
                    };
                    t
                } else {
                    Transition::None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_windows_decay_like_absorbing_zeros() {
        let (mut a, mut b) = (Baseline::default(), Baseline::default());
        for _ in 0..10 {
            a.absorb(3, 100, 120, 0.9);
            b.absorb(3, 100, 120, 0.9);
        }
        for _ in 0..7 {
            a.absorb(0, 0, 0, 0.9);
        }
        b.absorb_empty(7, 0.9);
        assert!((a.mean_volume() - b.mean_volume()).abs() < 1e-9);
        assert!((a.share().unwrap() - b.share().unwrap()).abs() < 1e-12);
    }

    #[test]
    fn fires_after_k_hot_and_resolves_after_m_calm_with_cooldown() {
        let rules = EpisodeRules {
            fire_windows: 2,
            resolve_windows: 2,
            cooldown_ms: 100,
        };
        let mut e = Episode::default();
        let id = || "x".to_string();
        assert_eq!(e.step(true, false, 0, 10, rules, id), Transition::None);
        assert_eq!(
            e.step(true, false, 10, 20, rules, id),
            Transition::Fire("x".into())
        );
        assert_eq!(
            e.step(true, false, 20, 30, rules, id),
            Transition::None,
            "fires once"
        );
        assert_eq!(e.step(false, true, 30, 40, rules, id), Transition::None);
        assert_eq!(
            e.step(false, false, 40, 50, rules, id),
            Transition::None,
            "calm run broken"
        );
        assert_eq!(e.step(false, true, 50, 60, rules, id), Transition::None);
        assert_eq!(
            e.step(false, true, 60, 70, rules, id),
            Transition::Resolve("x".into(), 10)
        );
        assert_eq!(e.step(true, false, 70, 80, rules, id), Transition::None);
        assert_eq!(
            e.step(true, false, 80, 90, rules, id),
            Transition::None,
            "cooldown holds"
        );
        assert_eq!(
            e.step(true, false, 170, 180, rules, id),
            Transition::Fire("x".into())
        );
    }
}
