//! Alert episodes: one state machine per key and kind.

use super::config::{AlertConfig, VolumeAlertConfig};
use serde::{Deserialize, Serialize};

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

/// Why an episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Its windows were calm again for `resolve_windows` windows.
    Calm,
    /// It lasted `max_duration`: what it measured is the new normal.
    Expired,
    /// The stream stopped (a gap in the data): nothing shows it goes on.
    Gap,
}

impl Resolution {
    /// Stable name, as in the JSON records.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Calm => "calm",
            Resolution::Expired => "expired",
            Resolution::Gap => "gap",
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
    /// The episode with this id and start resolved, for this reason.
    Resolve(String, i64, Resolution),
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
    /// An episode open this long (event time) resolves as expired.
    pub max_duration_ms: i64,
}

impl From<&AlertConfig> for EpisodeRules {
    fn from(c: &AlertConfig) -> Self {
        EpisodeRules {
            fire_windows: c.fire_windows,
            resolve_windows: c.resolve_windows,
            cooldown_ms: c.cooldown.ms(),
            max_duration_ms: c.max_duration.ms(),
        }
    }
}

impl From<&VolumeAlertConfig> for EpisodeRules {
    fn from(c: &VolumeAlertConfig) -> Self {
        EpisodeRules {
            fire_windows: 1,
            resolve_windows: c.resolve_windows,
            cooldown_ms: c.cooldown.ms(),
            max_duration_ms: c.max_duration.ms(),
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
                if end - *since >= rules.max_duration_ms {
                    let t = Transition::Resolve(std::mem::take(id), *since, Resolution::Expired);
                    *self = Episode::Idle {
                        hot_run: 0,
                        quiet_until: end + rules.cooldown_ms,
                    };
                    return t;
                }
                if !calm {
                    *calm_run = 0;
                    return Transition::None;
                }
                *calm_run += 1;
                if *calm_run >= rules.resolve_windows {
                    let t = Transition::Resolve(std::mem::take(id), *since, Resolution::Calm);
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

impl Episode {
    /// Ends an open episode because the stream stopped; the cooldown starts at `end`.
    pub fn end_for_gap(&mut self, end: i64) -> Transition {
        match self {
            Episode::Idle { hot_run, .. } => {
                *hot_run = 0;
                Transition::None
            }
            Episode::Firing { id, since, .. } => {
                let t = Transition::Resolve(std::mem::take(id), *since, Resolution::Gap);
                *self = Episode::Idle {
                    hot_run: 0,
                    quiet_until: end,
                };
                t
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_after_k_hot_and_resolves_after_m_calm_with_cooldown() {
        let rules = EpisodeRules {
            fire_windows: 2,
            resolve_windows: 2,
            cooldown_ms: 100,
            max_duration_ms: 1_000,
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
            Transition::Resolve("x".into(), 10, Resolution::Calm)
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
