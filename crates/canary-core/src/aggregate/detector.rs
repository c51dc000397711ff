//! The per-key decision: what one (watch, language) expects of a window, how
//! far a window (or a run of windows) is from it, and the alert episodes.
//!
//! # Model
//! - **Volume** is expected to be `level × hour-of-day factor × day-of-week
//!   factor`. The level is an exponentially weighted mean of deseasonalised
//!   counts (`baseline.half_life`). Each hour of the day (UTC) and each day of
//!   the week learns its factor online from the windows that fall in it
//!   (`baseline.season_half_life`), and is used only once it has seen
//!   `baseline.season_min_days` days; before that the factor is 1.
//! - **Negative share** is expected to be the key's share, learnt from
//!   evidence rather than from time: the memory spans whichever is longer,
//!   `baseline.half_life` or `baseline.share_memory` scored posts, so a watch
//!   with ten posts an hour still has a steady baseline and an empty window
//!   changes nothing. Each hour of the day keeps its own share, shrunk towards
//!   the key's share by [`SEASON_SHARE_PRIOR`] posts, so an hour moves the
//!   expectation only once it has the posts to support it. The expectation
//!   is then raised by one standard error of the baseline, which makes the
//!   tests conservative while the baseline is young.
//! - **Overdispersion.** Real counts vary far more than Poisson or binomial
//!   sampling explains. Each key estimates, from its own calm windows, the
//!   negative-binomial excess `ρ_v` (variance = μ + ρ_v μ²) of its volume and
//!   the beta-binomial intra-window correlation `ρ_s` (variance inflation
//!   1 + (n − 1) ρ_s) of its negative count, each starting from a prior worth
//!   [`PRIOR_WINDOWS`] windows.
//!
//! # Tests
//! - Volume, `window`: at least `volume.factor` times the expectation,
//!   `volume.min_volume` posts, an exact negative-binomial tail below
//!   `volume.alpha`, **and** more posts than all but about one window of the key's
//!   own last `volume.rarity` (a decayed histogram of its window volumes,
//!   bursts included). Real mention streams burst routinely; this rule pages
//!   only on a burst beyond the key's own, and bounds a stationary key's
//!   volume alerts to about one per `rarity`. The same rule applies to the
//!   volume smoothed over `volume.slow_scale`, which catches surges sustained
//!   over hours that no single window shows. Volume alerts wait for a day of
//!   history: before a key has seen a morning, a morning ramp cannot be told
//!   from a surge.
//! - Volume, `long`: the volume smoothed over `volume.long_scale` (a day by
//!   default) is a record for the key's last `volume.rarity` and at least
//!   `volume.long_factor` times the key's median at that scale, once the key
//!   has `volume.long_history`. A day busier than any other of the month
//!   pages although no hour of it stands out from the key's routine bursts.
//! - Negative share, `window`: one window against the expectation, a
//!   beta-binomial-corrected binomial tail below `alert.alpha`, at least
//!   `alert.floor` and `alert.min_rise` above the expectation, with
//!   `alert.min_volume` scored posts. Fires a large, sudden change in its
//!   first window.
//! - Negative share, `sequential`: a one-sided binomial CUSUM, the
//!   log-likelihood ratio of `expected + alert.slow_rise` against the
//!   expectation, divided by the variance inflation and summed over windows
//!   while positive. It fires at `ln(1 / alert.slow_alpha)` once the run holds
//!   `alert.min_volume` scored posts whose share is `alert.min_rise` above the
//!   expectation, so evidence from many small windows adds up. One window
//!   adds at most half the threshold (one window alone is the window test's
//!   to judge), and the statistic is capped at the threshold, so it falls
//!   back to zero soon after a burn ends.
//!
//! Bursts that do not alert are absorbed winsorised (at [`WINSOR`] times the
//! expectation), so that they do not drag the level, and the profile of
//! their hour, up after them.

use super::baseline::{Episode, EpisodeRules, Resolution, Transition};
use super::config::AggregateConfig;
use super::output::{AlertKind, Evidence};
use crate::stats::{binomial_upper_tail_real, negbin_upper_tail, poisson_upper_tail};
use crate::time::{DAY_MS, HOUR_MS};
use serde::{Deserialize, Serialize};

/// Weight, in windows, of the dispersion priors.
pub const PRIOR_WINDOWS: f64 = 24.0;
/// Prior negative-binomial excess of volume (coefficient of variation ~0.3).
const PRIOR_RHO_VOLUME: f64 = 0.1;
/// Prior intra-window correlation of negative posts.
const PRIOR_RHO_SHARE: f64 = 0.002;
/// Scored posts by which an hour's share is shrunk towards the key's share.
pub const SEASON_SHARE_PRIOR: f64 = 1000.0;
/// Windows (at the same hour) by which an hour's volume factor is shrunk towards 1.
const SEASON_VOLUME_PRIOR: f64 = 2.0;
/// Counts above this multiple of the expectation are absorbed as this multiple.
pub const WINSOR: f64 = 1.5;
/// Slots of the long scale's delay ring: the long scale is judged against
/// its history up to one `long_scale` ago, never against its own rise.
const LONG_SLOTS: usize = 24;
/// Below this fraction of confidence left after a gap, a key starts over.
const FORGET_BELOW: f64 = 0.01;

/// Counts of one closed window for one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounts {
    /// Posts.
    pub volume: u64,
    /// Posts with a sentiment score.
    pub scored: u64,
    /// Negative posts.
    pub negative: u64,
}

/// What the key expects of volume and share, learnt online.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Baseline {
    /// Decayed sum of deseasonalised volume.
    pub level_sum: f64,
    /// Decayed number of windows behind `level_sum`.
    pub level_weight: f64,
    /// Decayed negative posts.
    pub negative: f64,
    /// Decayed scored posts.
    pub scored: f64,
    /// Volume dispersion: decayed sums of (c − μ)² − μ and of μ².
    pub vol_disp: [f64; 2],
    /// Share dispersion: decayed sums of (x − np)² − np(1−p) and of n(n−1)p(1−p).
    pub share_disp: [f64; 2],
    /// Scored posts absorbed, undecayed (readiness).
    pub scored_seen: u64,
    /// Windows absorbed (readiness).
    pub windows: u32,
}

impl Baseline {
    /// The key's negative share (half a pseudo-count keeps it finite and above 0).
    pub fn share(&self) -> Option<f64> {
        (self.scored > 0.0).then(|| (self.negative + 0.5) / (self.scored + 1.0))
    }

    /// Mean deseasonalised posts per window.
    pub fn mean_volume(&self) -> f64 {
        if self.level_weight > 0.0 {
            self.level_sum / self.level_weight
        } else {
            0.0
        }
    }

    fn rho_volume(&self, mu: f64) -> f64 {
        let prior = PRIOR_WINDOWS * mu * mu;
        ((self.vol_disp[0] + PRIOR_RHO_VOLUME * prior) / (self.vol_disp[1] + prior).max(1e-12))
            .clamp(0.0, 25.0)
    }

    fn rho_share(&self, n: f64, p: f64) -> f64 {
        let prior = PRIOR_WINDOWS * n * (n - 1.0).max(1.0) * p * (1.0 - p);
        ((self.share_disp[0] + PRIOR_RHO_SHARE * prior) / (self.share_disp[1] + prior).max(1e-12))
            .clamp(0.0, 1.0)
    }

    fn scale(&mut self, f: f64) {
        self.level_sum *= f;
        self.level_weight *= f;
        self.negative *= f;
        self.scored *= f;
        for x in self.vol_disp.iter_mut().chain(&mut self.share_disp) {
            *x *= f;
        }
    }
}

/// Hour-of-day and day-of-week profiles of one key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Season {
    /// Per UTC hour: decayed counts, decayed expected counts, windows seen.
    hour: [[f64; 3]; 24],
    /// Per weekday (Monday first): the same.
    day: [[f64; 3]; 7],
    /// Per UTC hour: decayed negative and scored posts.
    hour_share: [[f64; 2]; 24],
}

fn hour_of(ms: i64) -> usize {
    (ms.div_euclid(HOUR_MS) % 24) as usize
}

fn weekday_of(ms: i64) -> usize {
    // 1970-01-01 was a Thursday.
    ((ms.div_euclid(DAY_MS) + 3) % 7) as usize
}

/// Learning rates and thresholds derived from a config once.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Per-window decay of the level (`baseline.half_life`).
    pub decay: f64,
    /// Per-window decay of the dispersion sums (four half-lives).
    disp_decay: f64,
    /// Scored posts of share memory.
    share_memory: f64,
    /// Level half-life in windows.
    half_life_windows: f64,
    /// Per-observation decay of an hour's bin and of a weekday's bin.
    hour_decay: f64,
    day_decay: f64,
    /// Observations an hour bin and a weekday bin need before they are used.
    hour_ready: f64,
    day_ready: f64,
    /// Whether hour-of-day and day-of-week profiles apply to this window length.
    use_hours: bool,
    use_days: bool,
    /// CUSUM threshold.
    h: f64,
    /// Per-window decay of the residual histogram.
    tail_decay: f64,
    /// Share of windows a volume surge must stand out from.
    tail_mass: f64,
    /// Windows of history before the histogram is used.
    tail_ready: f64,
    /// Per-window decay of the slow volume scale (half-life `volume.slow_scale` / 2).
    slow_decay: f64,
    /// The slow scale's span in windows (1 when it equals one window).
    slow_windows: f64,
    /// Per-window decay of the long volume scale (half-life `volume.long_scale` / 2).
    long_decay: f64,
    /// Whether the long scale is longer than a window.
    long_on: bool,
    /// ln(`volume.long_factor`).
    long_margin: f64,
    /// Slots of history before the long scale may page.
    long_ready: f64,
    /// Span of one slot of the long scale's delay ring (`long_scale` / 24,
    /// at least a window).
    long_slot_ms: i64,
    /// Per-slot decay of the long scale's histogram, and the share of it a
    /// record may exceed (one slot of `volume.rarity`).
    long_tail_decay: f64,
    long_tail_mass: f64,
    len_ms: i64,
}

impl Params {
    /// Derives the rates of `cfg`.
    pub fn new(cfg: &AggregateConfig) -> Params {
        let len = cfg.window.length.ms().max(1) as f64;
        let b = &cfg.baseline;
        let half = b.half_life.ms() as f64;
        let season_half = b.season_half_life.ms().max(1) as f64;
        let per_hour_day = (HOUR_MS as f64 / len).max(1.0);
        let per_day_week = (DAY_MS as f64 / len).max(1.0);
        let days = f64::from(b.season_min_days);
        let long_slot = (cfg.volume.long_scale.ms() / LONG_SLOTS as i64)
            .max(len as i64)
            .max(1);
        Params {
            decay: 0.5f64.powf(len / half),
            disp_decay: 0.5f64.powf(len / (4.0 * half)),
            share_memory: b.share_memory as f64,
            half_life_windows: half / len,
            hour_decay: 0.5f64.powf(DAY_MS as f64 / season_half / per_hour_day),
            day_decay: 0.5f64.powf(7.0 * DAY_MS as f64 / season_half / per_day_week),
            hour_ready: days * per_hour_day,
            day_ready: days * per_day_week,
            use_hours: cfg.baseline.seasonal && len <= HOUR_MS as f64,
            use_days: cfg.baseline.seasonal && len <= DAY_MS as f64,
            h: (1.0 / cfg.alert.slow_alpha).ln(),
            tail_decay: 0.5f64.powf(len / cfg.volume.rarity.ms().max(1) as f64),
            tail_mass: (len / cfg.volume.rarity.ms().max(1) as f64).min(1.0),
            tail_ready: cfg.volume.rarity.ms().min(DAY_MS) as f64 / len,
            slow_decay: 0.5f64.powf(2.0 * len / cfg.volume.slow_scale.ms().max(1) as f64),
            slow_windows: (cfg.volume.slow_scale.ms() as f64 / len).max(1.0),
            long_decay: 0.5f64.powf(2.0 * len / cfg.volume.long_scale.ms().max(1) as f64),
            long_on: cfg.volume.long_scale.ms() as f64 > 1.5 * len,
            long_margin: cfg.volume.long_factor.max(1.0).ln(),
            long_ready: cfg.volume.long_history.ms() as f64 / long_slot as f64,
            long_slot_ms: long_slot,
            long_tail_decay: 0.5f64.powf(long_slot as f64 / cfg.volume.rarity.ms().max(1) as f64),
            long_tail_mass: (long_slot as f64 / cfg.volume.rarity.ms().max(1) as f64).min(1.0),
            len_ms: cfg.window.length.ms(),
        }
    }
}

impl Season {
    /// Volume factor for a window starting at `ms`, and whether any part is learnt.
    fn factor(&self, p: &Params, ms: i64) -> (f64, bool) {
        let (h, d) = (self.hour_bin(p, ms), self.day_bin(p, ms));
        (
            h.unwrap_or(1.0) * d.unwrap_or(1.0),
            h.is_some() || d.is_some(),
        )
    }

    /// A bin's factor, shrunk towards 1, once it has `ready` windows.
    fn bin_factor([c, e, n]: [f64; 3], ready: f64) -> Option<f64> {
        (n >= ready && e > 0.0).then(|| (c + SEASON_VOLUME_PRIOR) / (e + SEASON_VOLUME_PRIOR))
    }

    fn hour_bin(&self, p: &Params, ms: i64) -> Option<f64> {
        p.use_hours
            .then(|| Self::bin_factor(self.hour[hour_of(ms)], p.hour_ready))
            .flatten()
    }

    fn day_bin(&self, p: &Params, ms: i64) -> Option<f64> {
        p.use_days
            .then(|| Self::bin_factor(self.day[weekday_of(ms)], p.day_ready))
            .flatten()
    }

    /// Learns from a calm window of `c` posts at `ms` whose level was `level`.
    fn absorb_volume(&mut self, p: &Params, ms: i64, c: f64, level: f64) {
        let hf = self.hour_bin(p, ms).unwrap_or(1.0);
        let df = self.day_bin(p, ms).unwrap_or(1.0);
        if p.use_hours {
            let b = &mut self.hour[hour_of(ms)];
            b[0] = b[0] * p.hour_decay + c;
            b[1] = b[1] * p.hour_decay + level * df;
            b[2] += 1.0;
        }
        if p.use_days {
            let b = &mut self.day[weekday_of(ms)];
            b[0] = b[0] * p.day_decay + c;
            b[1] = b[1] * p.day_decay + level * hf;
            b[2] += 1.0;
        }
    }

    /// The hour's share shrunk towards `base`.
    fn share(&self, p: &Params, ms: i64, base: f64) -> f64 {
        if !p.use_hours {
            return base;
        }
        let [neg, scored] = self.hour_share[hour_of(ms)];
        (neg + SEASON_SHARE_PRIOR * base) / (scored + SEASON_SHARE_PRIOR)
    }

    fn absorb_share(&mut self, p: &Params, ms: i64, negative: f64, scored: f64) {
        if !p.use_hours || scored == 0.0 {
            return;
        }
        let b = &mut self.hour_share[hour_of(ms)];
        let d = 0.5f64.powf(scored / p.share_memory);
        b[0] = b[0] * d + negative;
        b[1] = b[1] * d + scored;
    }

    fn scale(&mut self, f: f64) {
        for b in self.hour.iter_mut().chain(&mut self.day) {
            b[0] *= f;
            b[1] *= f;
        }
        for b in &mut self.hour_share {
            b[0] *= f;
            b[1] *= f;
        }
    }
}

/// Bins of the volume histogram.
const TAIL_BINS: usize = 112;
/// Lowest binned value.
const TAIL_MIN: f64 = 0.0;
/// Width of a bin in natural-log units (~13%).
const TAIL_STEP: f64 = 0.125;

/// An exponentially decayed histogram, in natural-log bins, of a volume
/// figure over every window of the key, bursts included: ln(c + 1) of the
/// window counts, or the log ratio of smoothed to expected volume for the
/// slow scale. Its upper tail says how large a burst this key produces
/// routinely; a volume alert needs one beyond it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tail {
    bins: Vec<f32>,
    total: f64,
}

impl Tail {
    fn bin(r: f64) -> usize {
        (((r - TAIL_MIN) / TAIL_STEP).floor().max(0.0) as usize).min(TAIL_BINS - 1)
    }

    fn add(&mut self, r: f64, decay: f64) {
        if self.bins.is_empty() {
            self.bins = vec![0.0; TAIL_BINS];
        }
        let d = decay as f32;
        for b in &mut self.bins {
            *b *= d;
        }
        self.bins[Self::bin(r)] += 1.0;
        self.total = self.total * decay + 1.0;
    }

    /// The residual exceeded by at most `mass` of the history, once the
    /// history holds `min_total` windows.
    fn quantile(&self, mass: f64, min_total: f64) -> Option<f64> {
        if self.total < min_total || self.bins.is_empty() {
            return None;
        }
        let budget = mass * self.total;
        let mut above = 0.0;
        for i in (0..TAIL_BINS).rev() {
            above += f64::from(self.bins[i]);
            if above > budget {
                return Some(TAIL_MIN + (i + 1) as f64 * TAIL_STEP);
            }
        }
        Some(TAIL_MIN)
    }

    fn scale(&mut self, f: f64) {
        for b in &mut self.bins {
            *b *= f as f32;
        }
        self.total *= f;
    }
}

/// The sequential test's running state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cusum {
    /// Log-likelihood ratio, capped at the threshold.
    pub stat: f64,
    /// Start of the run of windows since the statistic was last zero.
    pub since: Option<i64>,
    /// Negative and scored posts in that run.
    pub negative: u64,
    /// Scored posts in that run.
    pub scored: u64,
}

/// What a key's detector decided at one window close.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// negative / scored (0 when nothing was scored).
    pub share: f64,
    /// P-value of the window's negative count against the expectation.
    pub share_p: f64,
    /// P-value of the window's volume against the expectation.
    pub volume_p: f64,
    /// The key's baseline share before this window.
    pub baseline_share: Option<f64>,
    /// The key's expected share for this window (seasonal where learnt).
    pub expected_share: Option<f64>,
    /// The key's deseasonalised mean volume before this window.
    pub baseline_volume: f64,
    /// The key's expected volume for this window (seasonal where learnt).
    pub expected_volume: f64,
    /// ln((volume + 1) / (expected + 1)).
    pub volume_residual: f64,
    /// ln(volume + 1) a window must exceed to be a surge (the key's routine
    /// bursts), once the key has a day of history.
    pub volume_tail: Option<f64>,
    /// The negative-share episode's transition.
    pub negative: Transition,
    /// The volume episode's transition.
    pub volume: Transition,
    /// Why the negative-share test stands where it does (on a transition).
    pub negative_evidence: Option<Evidence>,
    /// Why the volume test stands where it does (on a transition).
    pub volume_evidence: Option<Evidence>,
    /// Whether a negative-share episode is open after this window.
    pub negative_firing: bool,
    /// Whether a volume episode is open after this window.
    pub volume_firing: bool,
    /// Whether the share baseline absorbed this window.
    pub absorbed: bool,
}

/// Baseline, seasonal profile, sequential test and alert episodes of one
/// (watch, language) key: the whole decision the aggregator takes when a
/// window closes, usable on bare counts (e.g. to score a volume series
/// against labelled anomalies).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct KeyDetector {
    baseline: Baseline,
    season: Season,
    tail: Tail,
    /// Volume and expected volume smoothed over about an hour, and the
    /// residual histogram of that slower scale: sustained surges that no
    /// single window shows.
    slow: [f64; 2],
    slow_tail: Tail,
    /// Volume smoothed over the long scale; the highest ln(long + 1) of each
    /// slot of the last `long_scale` (slot index, value), entered into the
    /// histogram only once they are a whole `long_scale` old; and that
    /// histogram.
    #[serde(default)]
    long: f64,
    #[serde(default)]
    long_ring: Vec<(i64, f32)>,
    #[serde(default)]
    long_tail: Tail,
    cusum: Cusum,
    negative: Episode,
    volume: Episode,
    /// No alert may fire before this event time (warm-up after a gap).
    warm_until: Option<i64>,
}

/// Keeps the highest long-scale level of the slot of `start`, and moves
/// slots a whole `long_scale` old into the histogram.
fn remember_long(ring: &mut Vec<(i64, f32)>, tail: &mut Tail, p: &Params, start: i64, level: f64) {
    let slot = start.div_euclid(p.long_slot_ms);
    if ring.is_empty() {
        ring.resize(LONG_SLOTS, (i64::MIN, 0.0));
    }
    let cell = &mut ring[slot.rem_euclid(LONG_SLOTS as i64) as usize];
    if cell.0 != slot {
        if cell.0 != i64::MIN {
            tail.add(f64::from(cell.1), p.long_tail_decay);
        }
        *cell = (slot, level as f32);
    } else {
        cell.1 = cell.1.max(level as f32);
    }
}

fn span_text(ms: i64) -> String {
    let m = ms / 60_000;
    match (m / 1440, m % 1440 / 60, m % 60) {
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h{m}m"),
        (d, 0, 0) => format!("{d}d"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

impl KeyDetector {
    /// The baseline so far.
    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    /// Whether either episode is open.
    pub fn is_firing(&self) -> bool {
        self.negative.is_firing() || self.volume.is_firing()
    }

    /// Bytes of state this key holds: the struct, its three volume
    /// histograms, the long scale's delay ring and the open episodes' alert ids.
    pub fn state_bytes(&self) -> usize {
        let ids = [&self.negative, &self.volume]
            .iter()
            .map(|e| match e {
                Episode::Firing { id, .. } => id.capacity(),
                Episode::Idle { .. } => 0,
            })
            .sum::<usize>();
        std::mem::size_of::<KeyDetector>()
            + (self.tail.bins.capacity()
                + self.slow_tail.bins.capacity()
                + self.long_tail.bins.capacity())
                * std::mem::size_of::<f32>()
            + self.long_ring.capacity() * std::mem::size_of::<(i64, f32)>()
            + ids
    }

    /// Decides window `[start, end)` with counts `c`. `make_id` is called
    /// only when an episode fires.
    pub fn step(
        &mut self,
        cfg: &AggregateConfig,
        p: &Params,
        c: WindowCounts,
        start: i64,
        end: i64,
        make_id: impl Fn(AlertKind) -> String,
    ) -> Decision {
        let (a, v) = (&cfg.alert, &cfg.volume);
        let b = &self.baseline;
        let warm = self.warm_until.is_none_or(|w| start >= w);
        let ready = warm && b.windows >= cfg.baseline.min_windows;

        // Volume.
        let level = b.mean_volume();
        let (factor, seasonal) = self.season.factor(p, start);
        let mu = level * factor;
        let rho_v = b.rho_volume(mu.max(1.0));
        let vol_p = if mu > 0.0 {
            let m = mu.max(0.5);
            if rho_v < 1e-9 {
                poisson_upper_tail(c.volume, m)
            } else {
                negbin_upper_tail(c.volume, m, 1.0 / rho_v)
            }
        } else {
            1.0
        };
        let resid = ((c.volume as f64 + 1.0) / (mu + 1.0)).ln();
        let level_now = (c.volume as f64 + 1.0).ln();
        let tail_q = self.tail.quantile(p.tail_mass, p.tail_ready);
        // Before a key has seen a whole day, a morning ramp cannot be told
        // from a surge: volume alerts wait for the first day of history.
        let window_hot = c.volume >= v.min_volume
            && c.volume as f64 >= v.factor * mu.max(1.0)
            && vol_p < v.alpha
            && tail_q.is_some_and(|q| level_now > q);
        // The slow scale: an hour-long surge of a few times the expectation.
        let sd = p.slow_decay;
        self.slow = [self.slow[0] * sd + c.volume as f64, self.slow[1] * sd + mu];
        let slow_on = p.slow_windows > 1.5;
        let [sc, sm] = self.slow;
        let slow_resid = ((sc + 1.0) / (sm + 1.0)).ln();
        let slow_q = self.slow_tail.quantile(p.tail_mass, p.tail_ready);
        let slow_hot = slow_on
            && slow_q.is_some_and(|q| slow_resid > q)
            && sc >= v.factor * sm.max(1.0)
            && c.volume as f64 >= mu
            && sc * (1.0 - sd)
                >= v.min_volume as f64 * (1.0 - sd.powf(p.slow_windows)) / p.slow_windows;
        // The long scale: a record day, judged against the key's own days.
        self.long = self.long * p.long_decay + c.volume as f64;
        let long_level = (self.long + 1.0).ln();
        let long_hot = p.long_on
            && self
                .long_tail
                .quantile(p.long_tail_mass, p.long_ready)
                .is_some_and(|q| long_level > q)
            && self
                .long_tail
                .quantile(0.5, p.long_ready)
                .is_some_and(|m| long_level > m + p.long_margin);
        let vol_hot = v.enabled && ready && (window_hot || slow_hot || long_hot);
        // A record day is over when the long scale falls back, not when one
        // window of it is ordinary.
        let vol_calm = (c.volume as f64) < v.resolve_factor * mu.max(1.0) && !long_hot;

        // Negative share.
        let n = c.scored as f64;
        let x = c.negative as f64;
        let share = if c.scored == 0 { 0.0 } else { x / n };
        let p_base = b.share();
        let p_exp = p_base.map(|pb| self.season.share(p, start, pb));
        let share_ready = ready && b.scored_seen >= cfg.baseline.min_posts;
        let (mut share_p, mut neg_hot, mut neg_evidence) = (1.0, false, None);
        if let Some(pe) = p_exp {
            // One standard error of the baseline: conservative while it is young.
            let p0 = (pe + (pe * (1.0 - pe) / (b.scored + 1.0)).sqrt()).clamp(1e-4, 0.99);
            let rho_s = b.rho_share(n.max(2.0), p0);
            let phi = 1.0 + (n - 1.0).max(0.0) * rho_s;
            if c.scored > 0 {
                share_p = binomial_upper_tail_real(x / phi, n / phi, p0);
            }
            let window_hot = share_ready
                && c.scored >= a.min_volume
                && share >= a.floor
                && share >= pe + a.min_rise
                && share_p < a.alpha;

            // Sequential evidence across windows.
            let p1 = (p0 + a.slow_rise).min(0.995);
            if c.scored > 0 {
                let llr = (x * (p1 / p0).ln() + (n - x) * ((1.0 - p1) / (1.0 - p0)).ln()) / phi;
                let cs = &mut self.cusum;
                // One window alone is the window test's to judge: the
                // sequential test needs evidence from at least two.
                cs.stat = (cs.stat + llr.min(p.h / 2.0)).clamp(0.0, p.h);
                if cs.stat > 0.0 {
                    cs.since.get_or_insert(start);
                    cs.negative += c.negative;
                    cs.scored += c.scored;
                } else {
                    *cs = Cusum::default();
                }
            }
            let cs = &self.cusum;
            let run_share = if cs.scored > 0 {
                cs.negative as f64 / cs.scored as f64
            } else {
                0.0
            };
            // The floor is for single windows: a run's share is an average
            // over quiet and bad stretches alike.
            let seq_hot = share_ready
                && cs.stat >= p.h
                && cs.scored >= a.min_volume
                && run_share >= pe + a.min_rise;
            neg_hot = window_hot || seq_hot;
            let (test, since, obs, posts, stat, pv) = if window_hot || !seq_hot {
                ("window", start, share, c.scored, -share_p.ln(), share_p)
            } else {
                let s = cs.since.unwrap_or(start);
                (
                    "sequential",
                    s,
                    run_share,
                    cs.scored,
                    cs.stat,
                    (-cs.stat).exp(),
                )
            };
            neg_evidence = Some(Evidence {
                test: test.to_owned(),
                scale: span_text(end - since),
                since_ms: since,
                observed: obs,
                expected: pe,
                baseline: p_base.unwrap_or(pe),
                seasonal_factor: None,
                posts,
                statistic: stat,
                p_value: pv,
                dispersion: phi,
            });
        }
        let seq_calm = self.cusum.stat < p.h / 2.0;
        let win_calm = c.scored >= a.min_volume && share < p_exp.unwrap_or(0.0) + a.resolve_rise;
        let neg_calm = win_calm || seq_calm;

        let t_neg =
            self.negative
                .step(neg_hot, neg_calm, start, end, EpisodeRules::from(a), || {
                    make_id(AlertKind::NegativeShare)
                });
        let t_vol = self
            .volume
            .step(vol_hot, vol_calm, start, end, EpisodeRules::from(v), || {
                make_id(AlertKind::Volume)
            });
        // The evidence names the scale that fired: a single window, or the
        // smoothed or long scale in mean posts per window over its span.
        let per_window = |x: f64, d: f64| x * (1.0 - d);
        let (test, span, observed, expected, statistic, p_value) = if !vol_hot || window_hot {
            (
                "window",
                end - start,
                c.volume as f64,
                mu,
                -vol_p.ln(),
                vol_p,
            )
        } else if slow_hot {
            let sd = p.slow_decay;
            (
                "smoothed",
                v.slow_scale.ms(),
                per_window(sc, sd),
                per_window(sm, sd),
                slow_resid,
                p.tail_mass,
            )
        } else {
            let median = self.long_tail.quantile(0.5, 0.0).unwrap_or(0.0);
            (
                "long",
                v.long_scale.ms(),
                per_window(self.long, p.long_decay),
                per_window(median.exp() - 1.0, p.long_decay),
                long_level,
                p.tail_mass,
            )
        };
        let vol_evidence = Evidence {
            test: test.to_owned(),
            scale: span_text(span),
            since_ms: end - span,
            observed,
            expected,
            baseline: level,
            seasonal_factor: seasonal.then_some(factor),
            posts: c.volume,
            statistic,
            p_value,
            dispersion: 1.0 + rho_v * mu,
        };

        // An episode that outlived `max_duration` became the new normal:
        // its baseline starts again from this window.
        if let Transition::Resolve(_, _, Resolution::Expired) = t_neg {
            let bl = &mut self.baseline;
            bl.negative = x;
            bl.scored = n;
            self.cusum = Cusum::default();
        }
        if let Transition::Resolve(_, _, Resolution::Expired) = t_vol {
            let bl = &mut self.baseline;
            bl.level_sum = c.volume as f64 / factor.max(1e-9);
            bl.level_weight = 1.0;
        }
        if let Transition::Resolve(..) = t_neg {
            self.cusum = Cusum::default();
        }
        let negative_firing = self.negative.is_firing();
        let volume_firing = self.volume.is_firing();

        // Hot and firing windows must not drag the baseline towards the
        // anomaly; each kind freezes only its own part.
        let resolving_neg = matches!(t_neg, Transition::Resolve(..));
        let resolving_vol = matches!(t_vol, Transition::Resolve(..));
        let absorb_share = !neg_hot && !negative_firing && !resolving_neg;
        let absorb_volume = !vol_hot && !volume_firing && !resolving_vol;
        let bl = &mut self.baseline;
        if absorb_share && c.scored > 0 {
            if let Some(pe) = p_exp
                && c.scored >= 2
            {
                let var = n * pe * (1.0 - pe);
                let d = p.disp_decay;
                bl.share_disp[0] = bl.share_disp[0] * d + ((x - n * pe).powi(2) - var);
                bl.share_disp[1] = bl.share_disp[1] * d + n * (n - 1.0) * pe * (1.0 - pe);
            }
            // Memory spans the longer of the half-life and `share_memory` posts.
            let by_time = 1.0 / p.half_life_windows;
            let by_posts = n / p.share_memory;
            let d = 0.5f64.powf(by_time.min(by_posts));
            bl.negative = bl.negative * d + x;
            bl.scored = bl.scored * d + n;
            self.season.absorb_share(p, start, x, n);
        }
        if mu > 0.0 && ready {
            self.tail.add(level_now, p.tail_decay);
            if slow_on {
                self.slow_tail.add(slow_resid, p.tail_decay);
            }
            if p.long_on {
                remember_long(
                    &mut self.long_ring,
                    &mut self.long_tail,
                    p,
                    start,
                    long_level,
                );
            }
        }
        if absorb_volume {
            if mu > 0.0 {
                let d = p.disp_decay;
                let cv = c.volume as f64;
                bl.vol_disp[0] = bl.vol_disp[0] * d + ((cv - mu).powi(2) - mu);
                bl.vol_disp[1] = bl.vol_disp[1] * d + mu * mu;
            }
            // Winsorised: a burst that did not alert must not drag the level
            // and the hour's profile after it, or the next burst hides.
            let cap = if mu > 0.0 && bl.windows >= cfg.baseline.min_windows {
                (WINSOR * mu).max(mu + 3.0 * mu.sqrt()).max(1.0)
            } else {
                f64::INFINITY
            };
            let cw = (c.volume as f64).min(cap);
            self.season.absorb_volume(p, start, cw, level);
            bl.level_sum = bl.level_sum * p.decay + cw / factor.max(1e-9);
            bl.level_weight = bl.level_weight * p.decay + 1.0;
        }
        bl.scored_seen += c.scored;
        bl.windows = bl.windows.saturating_add(1);
        if matches!(t_neg, Transition::None) {
            neg_evidence = None;
        }
        let vol_evidence = (!matches!(t_vol, Transition::None)).then_some(vol_evidence);
        Decision {
            share,
            share_p,
            volume_p: vol_p,
            baseline_share: p_base,
            expected_share: p_exp,
            baseline_volume: level,
            expected_volume: mu,
            volume_residual: resid,
            volume_tail: tail_q,
            negative: t_neg,
            volume: t_vol,
            negative_evidence: neg_evidence,
            volume_evidence: vol_evidence,
            negative_firing,
            volume_firing,
            absorbed: absorb_share,
        }
    }

    /// Decays as if `windows` empty, quiet windows had passed (the closed
    /// form of stepping through them: volume level towards zero, share
    /// unchanged).
    pub fn absorb_empty(&mut self, p: &Params, windows: u64) {
        if self.volume.is_firing() {
            return;
        }
        let f = p.decay.powf(windows as f64);
        let b = &mut self.baseline;
        b.level_sum *= f;
        b.level_weight = b.level_weight * f + (1.0 - f) / (1.0 - p.decay).max(f64::MIN_POSITIVE);
        b.windows = b
            .windows
            .saturating_add(u32::try_from(windows).unwrap_or(u32::MAX));
    }

    /// The whole stream has been silent for `baseline.gap` up to `end`: a
    /// gap in the data, not a quiet hour. Open episodes resolve (reason
    /// `gap`): nothing shows that they go on. Returns the transitions.
    pub fn gap_started(&mut self, end: i64) -> (Transition, Transition) {
        self.cusum = Cusum::default();
        (self.negative.end_for_gap(end), self.volume.end_for_gap(end))
    }

    /// Data resumes at `start` after a gap of `gap_ms`. The baseline keeps its
    /// estimates but loses confidence: its weights halve for every four
    /// half-lives of gap (the seasonal profiles for every
    /// `season_half_life`), and below 1% the key starts over. No alert
    /// fires during `baseline.warmup` after the gap.
    pub fn gap_ended(&mut self, cfg: &AggregateConfig, p: &Params, gap_ms: i64, start: i64) {
        let f = 0.5f64.powf(gap_ms as f64 / (4.0 * cfg.baseline.half_life.ms() as f64));
        if f < FORGET_BELOW {
            let (neg, vol) = (
                std::mem::take(&mut self.negative),
                std::mem::take(&mut self.volume),
            );
            *self = KeyDetector {
                negative: neg,
                volume: vol,
                ..KeyDetector::default()
            };
        } else {
            self.baseline.scale(f);
            let fs = 0.5f64.powf(gap_ms as f64 / cfg.baseline.season_half_life.ms() as f64);
            self.season.scale(fs);
            self.tail.scale(fs);
            self.slow_tail.scale(fs);
            self.long_tail.scale(fs);
            self.long_ring.clear();
        }
        self.cusum = Cusum::default();
        self.slow = [0.0; 2];
        self.long = 0.0;
        self.warm_until = Some(start + cfg.baseline.warmup.ms().max(p.len_ms));
    }
}
