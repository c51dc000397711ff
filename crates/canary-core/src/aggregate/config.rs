//! Settings of the aggregate stage: windows, baselines and alert decisions.
//!
//! Every field has a default that suits a typical brand (tens to thousands of
//! posts per 5-minute window, normally a few percent negative), so a config
//! file may hold only watches.

use crate::duration::Span;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Event-time windowing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowConfig {
    /// Length of the tumbling event-time windows.
    pub length: Span,
    /// How far behind the newest event time a post may arrive and still count.
    /// Later posts are dead-lettered with reason `late`.
    pub lateness: Span,
    /// In live mode, after this much processing time without posts the watermark
    /// advances by processing time, so quiet watches still close their windows.
    pub idle_timeout: Span,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            length: Span::minutes(5),
            lateness: Span::minutes(2),
            idle_timeout: Span::minutes(1),
        }
    }
}

/// How each (watch, language) learns what normal looks like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineConfig {
    /// Half-life of the volume level (exponentially weighted, deseasonalised
    /// counts). Also the shortest memory of the share baseline.
    pub half_life: Span,
    /// The share baseline remembers at least this many scored posts (half
    /// weight), however long they took to arrive: a watch with ten posts an
    /// hour keeps days of history, one with thousands keeps `half_life`.
    pub share_memory: u64,
    /// Scored posts the baseline must have seen before a negative-share alert can fire.
    pub min_posts: u64,
    /// Closed windows the baseline must have seen before any alert can fire.
    pub min_windows: u32,
    /// Whether expected volume (and share) follow hour of day and day of week.
    pub seasonal: bool,
    /// Half-life of each hour-of-day and day-of-week profile.
    pub season_half_life: Span,
    /// Days of history an hour of the day (or a weekday) needs before its
    /// profile is used; until then the expectation is the plain level.
    pub season_min_days: u32,
    /// A silence of the whole stream at least this long is missing data, not
    /// zero posts: baselines are not decayed towards zero over it, open
    /// episodes resolve (reason `gap`), and `warmup` follows.
    pub gap: Span,
    /// After a gap, no alert fires for this long (event time) while the
    /// baselines, which lost confidence over the gap, take in the new data.
    pub warmup: Span,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            half_life: Span::hours(12),
            share_memory: 2_000,
            min_posts: 200,
            min_windows: 6,
            seasonal: true,
            season_half_life: Span::hours(7 * 24),
            season_min_days: 2,
            gap: Span::hours(3),
            warmup: Span::hours(1),
        }
    }
}

/// When a negative-share alert fires and resolves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// Significance of the one-sided exact binomial test of the window's negative
    /// count against the baseline share. Small, because every watch and language
    /// is tested every window: 20 watches at 5-minute windows make ~40,000 tests a week.
    pub alpha: f64,
    /// Absolute floor: the window's negative share must reach this.
    pub floor: f64,
    /// The window's negative share must exceed the baseline share by at least this.
    pub min_rise: f64,
    /// Scored posts a window needs before its share is judged at all.
    pub min_volume: u64,
    /// Consecutive significant windows needed to fire.
    pub fire_windows: u32,
    /// Consecutive calm windows needed to resolve.
    pub resolve_windows: u32,
    /// A window is calm when its share is below baseline share plus this
    /// (or it has fewer than `min_volume` scored posts). Lower than `min_rise`,
    /// so an episode does not flap around the threshold.
    pub resolve_rise: f64,
    /// After a resolve, no new alert of the same kind for the same watch and
    /// language until this much event time has passed.
    pub cooldown: Span,
    /// Rise of the negative share (absolute) the sequential test is tuned to
    /// detect: evidence accumulates across windows for a share this far above
    /// the expectation.
    pub slow_rise: f64,
    /// The sequential test fires when its log-likelihood ratio reaches
    /// ln(1 / slow_alpha); a false alarm takes about 1 / slow_alpha windows
    /// of a calm key at the least.
    pub slow_alpha: f64,
    /// An episode open this long resolves with reason `expired`, and the key's
    /// baseline starts again from the level it reached.
    pub max_duration: Span,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            alpha: 1e-6,
            floor: 0.10,
            min_rise: 0.05,
            min_volume: 30,
            fire_windows: 1,
            resolve_windows: 2,
            resolve_rise: 0.02,
            cooldown: Span::minutes(30),
            slow_rise: 0.10,
            slow_alpha: 5e-4,
            max_duration: Span::hours(24),
        }
    }
}

/// When a volume alert fires and resolves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VolumeAlertConfig {
    /// Whether volume alerts are raised at all.
    pub enabled: bool,
    /// The window's volume must be at least this multiple of the baseline volume.
    pub factor: f64,
    /// Significance of the one-sided Poisson test of the window's volume.
    pub alpha: f64,
    /// Posts a window needs before a volume alert can fire.
    pub min_volume: u64,
    /// A window is calm again below this multiple of the baseline volume.
    pub resolve_factor: f64,
    /// Consecutive calm windows needed to resolve.
    pub resolve_windows: u32,
    /// Quiet period after a resolve, as for negative-share alerts.
    pub cooldown: Span,
    /// An episode open this long resolves as `expired` (see `alert.max_duration`).
    pub max_duration: Span,
    /// A surge must have more posts than all but about one window of this
    /// span of the key's own history (bursts included, decayed with this
    /// half-life): a key that bursts routinely needs a bigger burst to page.
    /// This bounds the volume alerts of a stationary key to about one per
    /// `rarity`.
    pub rarity: Span,
    /// Span of the slower volume scale, judged beside single windows: a
    /// surge sustained over about this long, which no single window shows.
    /// Equal to the window length to turn it off.
    pub slow_scale: Span,
    /// Span of the long volume scale: the key's volume over about this
    /// long (exponentially smoothed, half-life half of it) pages when it is
    /// a record for the key's last `rarity` and at least `long_factor`
    /// times the key's median at that scale. Catches a day that is busier
    /// than any other of the month although no hour of it stands out.
    /// Equal to the window length to turn it off.
    pub long_scale: Span,
    /// How far above its own median the long scale must be.
    pub long_factor: f64,
    /// History the long scale needs before it may page.
    pub long_history: Span,
}

impl Default for VolumeAlertConfig {
    fn default() -> Self {
        VolumeAlertConfig {
            enabled: true,
            factor: 4.0,
            alpha: 1e-2,
            min_volume: 5,
            resolve_factor: 2.0,
            resolve_windows: 2,
            cooldown: Span::hours(6),
            max_duration: Span::hours(24),
            rarity: Span::hours(28 * 24),
            slow_scale: Span::hours(6),
            long_scale: Span::hours(24),
            long_factor: 2.0,
            long_history: Span::hours(7 * 24),
        }
    }
}

/// What an alert carries to explain itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExplainConfig {
    /// How many over-represented terms to list.
    pub top_terms: usize,
    /// How many sample posts (the most negative ones) to attach.
    pub samples: usize,
    /// Characters of post text kept in a sample snippet.
    pub snippet_chars: usize,
}

impl Default for ExplainConfig {
    fn default() -> Self {
        ExplainConfig {
            top_terms: 10,
            samples: 5,
            snippet_chars: 140,
        }
    }
}

/// Everything the aggregate stage needs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregateConfig {
    /// Windowing.
    pub window: WindowConfig,
    /// Baselines.
    pub baseline: BaselineConfig,
    /// Negative-share alerts.
    pub alert: AlertConfig,
    /// Volume alerts.
    pub volume: VolumeAlertConfig,
    /// Alert explanations.
    pub explain: ExplainConfig,
    /// Social care: response times, response rate, triage queue.
    pub care: crate::care::CareConfig,
    /// Watches whose `[alert]`, `[volume]` or `[baseline]` settings differ,
    /// by watch name: their whole config (see [`AggregateConfig::for_watch`]).
    #[serde(skip)]
    pub watches: BTreeMap<String, AggregateConfig>,
}

/// The sections a watch may set differently: windows are shared by every
/// watch, explanations are the file's.
pub const WATCH_SECTIONS: [&str; 3] = ["alert", "volume", "baseline"];

impl AggregateConfig {
    /// This config with some keys of `[alert]`, `[volume]` or `[baseline]`
    /// replaced, as `(section, keys)`: what a watch that sets them uses.
    /// Returns `(dotted key, message)` for an unknown key, a wrong type or a
    /// value out of range.
    pub fn for_watch(
        &self,
        sections: &[(&str, &serde_json::Map<String, serde_json::Value>)],
    ) -> Result<AggregateConfig, (String, String)> {
        let mut doc = serde_json::to_value(self).map_err(|e| (String::new(), e.to_string()))?;
        for (section, keys) in sections {
            if !WATCH_SECTIONS.contains(section) {
                return Err(((*section).to_owned(), "cannot be set per watch".into()));
            }
            for (k, v) in keys.iter() {
                let slot = &mut doc[*section];
                if slot.get(k).is_none() {
                    return Err((format!("{section}.{k}"), "unknown key".into()));
                }
                slot[k] = v.clone();
            }
        }
        let cfg: AggregateConfig = serde_json::from_value(doc).map_err(|e| {
            let key = sections
                .iter()
                .map(|(s, _)| *s)
                .collect::<Vec<_>>()
                .join("/");
            (key, e.to_string())
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks ranges and relations between fields. Returns `(key, message)` for
    /// the first problem, the key as a dotted path.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |k: &str, m: &str| Err((k.to_owned(), m.to_owned()));
        let w = &self.window;
        if w.length.ms() < 1000 {
            return err("window.length", "must be at least 1s");
        }
        if w.lateness.ms() < 0 {
            return err("window.lateness", "must not be negative");
        }
        let b = &self.baseline;
        if b.half_life.ms() < w.length.ms() {
            return err("baseline.half_life", "must be at least one window length");
        }
        if b.season_half_life.ms() < w.length.ms() {
            return err(
                "baseline.season_half_life",
                "must be at least one window length",
            );
        }
        if b.share_memory == 0 {
            return err("baseline.share_memory", "must be at least 1");
        }
        if b.gap.ms() < 2 * w.length.ms() {
            return err("baseline.gap", "must be at least two window lengths");
        }
        if b.warmup.ms() < 0 {
            return err("baseline.warmup", "must not be negative");
        }
        let a = &self.alert;
        for (k, v) in [
            ("alert.floor", a.floor),
            ("alert.min_rise", a.min_rise),
            ("alert.resolve_rise", a.resolve_rise),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return err(k, "must be between 0 and 1");
            }
        }
        if !(a.alpha > 0.0 && a.alpha < 1.0) {
            return err("alert.alpha", "must be between 0 and 1 (exclusive)");
        }
        if !(a.slow_alpha > 0.0 && a.slow_alpha < 1.0) {
            return err("alert.slow_alpha", "must be between 0 and 1 (exclusive)");
        }
        if !(a.slow_rise > 0.0 && a.slow_rise < 1.0) {
            return err("alert.slow_rise", "must be between 0 and 1 (exclusive)");
        }
        for (k, d) in [
            ("alert.max_duration", a.max_duration),
            ("volume.max_duration", self.volume.max_duration),
        ] {
            if d.ms() < w.length.ms() {
                return err(k, "must be at least one window length");
            }
        }
        if a.resolve_rise > a.min_rise {
            return err(
                "alert.resolve_rise",
                "must not exceed alert.min_rise (hysteresis)",
            );
        }
        if a.fire_windows == 0 || a.resolve_windows == 0 {
            return err(
                "alert.fire_windows",
                "fire_windows and resolve_windows must be at least 1",
            );
        }
        let v = &self.volume;
        if !(v.alpha > 0.0 && v.alpha < 1.0) {
            return err("volume.alpha", "must be between 0 and 1 (exclusive)");
        }
        if v.factor <= 1.0 {
            return err("volume.factor", "must be greater than 1");
        }
        if v.resolve_factor < 1.0 || v.resolve_factor > v.factor {
            return err(
                "volume.resolve_factor",
                "must be between 1 and volume.factor",
            );
        }
        if v.slow_scale.ms() < w.length.ms() {
            return err("volume.slow_scale", "must be at least one window length");
        }
        if v.long_scale.ms() < w.length.ms() {
            return err("volume.long_scale", "must be at least one window length");
        }
        if v.long_factor.is_nan() || v.long_factor < 1.0 {
            return err("volume.long_factor", "must be at least 1");
        }
        if v.rarity.ms() < w.length.ms() {
            return err("volume.rarity", "must be at least one window length");
        }
        if v.resolve_windows == 0 {
            return err("volume.resolve_windows", "must be at least 1");
        }
        Ok(())
    }
}
