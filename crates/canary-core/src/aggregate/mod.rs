//! The aggregate stage: event-time windows per (watch, language) and
//! (watch, all), baselines, and alert decisions.
//!
//! # Time
//! Only event time matters. The watermark is the newest event time seen minus
//! the allowed lateness; a window closes when the watermark passes its end.
//! Posts for a window that has closed are refused as late (the caller
//! dead-letters them). Replaying a dump at any speed, or in any chunking, gives
//! the same windows and alerts. In live mode the caller may call
//! [`Aggregator::tick`] with processing time, so quiet streams still close
//! their windows after an idle timeout.
//!
//! # State
//! Bounded by watches × languages × open windows: per open window, per watch, a
//! set of post ids (for de-duplication and deletes) and capped term counts;
//! per key, a baseline and two episode state machines. Nothing grows with the
//! total number of posts.

mod baseline;
mod config;
mod detector;
mod output;
mod state;
mod terms;

#[cfg(test)]
mod tests;

pub use baseline::{Episode, EpisodeRules, Resolution, Transition};
pub use config::{
    AggregateConfig, AlertConfig, BaselineConfig, ExplainConfig, VolumeAlertConfig, WindowConfig,
};
pub use detector::{Baseline, Cusum, Decision, KeyDetector, Params, WindowCounts};
pub use output::{
    AggregateOutput, Alert, AlertKind, AlertState, Evidence, Sample, Term, WindowSummary,
};
pub use state::{AggregatorState, StateError};
pub use terms::{
    BaselineTerms, TermBuf, WindowTerms, for_each_term, for_each_term_in, is_stop_word_of,
};

use crate::care::{Care, TriageRecord};
use crate::record::Post;
use crate::time::{floor_to, format_rfc3339};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Language key of the all-languages aggregate.
pub const ALL_LANGS: &str = "all";

/// Windows closed one by one across a gap before the rest is decayed in closed form.
const MAX_GAP_WINDOWS: i64 = 288;

/// Twitter snowflake epoch (2010-11-04T01:42:54.657Z).
const SNOWFLAKE_EPOCH_MS: i64 = 1_288_834_974_657;
/// Ids below this predate snowflakes and carry no time.
const FIRST_SNOWFLAKE: u64 = 30_000_000_000;

/// What happened to one post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOutcome {
    /// Counted in at least one window.
    Counted,
    /// Already counted (same id in the same window and watch).
    Duplicate,
    /// Its window has closed: dead-letter it with reason `late`.
    Late,
    /// A delete notice for it arrived first.
    Deleted,
    /// It matches no configured watch.
    Unwatched,
}

/// What happened to one delete notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The post was removed from an open window.
    Removed,
    /// Not seen yet: remembered, so the post is dropped if it arrives in time.
    Pending,
    /// The post's window has closed already; its counts stand.
    TooLate,
}

/// Counters kept by the aggregator (exported as metrics by the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateStats {
    /// Posts counted.
    pub counted: u64,
    /// Duplicate posts dropped.
    pub duplicates: u64,
    /// Late posts refused.
    pub late: u64,
    /// Posts dropped because a delete notice preceded them.
    pub deleted_before: u64,
    /// Posts removed from open windows by a delete notice.
    pub deleted: u64,
    /// Delete notices whose post's window had closed.
    pub deletes_too_late: u64,
    /// Posts naming no configured watch.
    pub unwatched: u64,
    /// (window, key) summaries emitted.
    pub windows_closed: u64,
    /// Alert records emitted.
    pub alerts: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Mark {
    lang: u16,
    scored: bool,
    negative: bool,
    deleted: bool,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Counts {
    volume: u64,
    scored: u64,
    negative: u64,
    /// The most negative posts, most negative first, at most `explain.samples`.
    samples: Vec<Sample>,
}

impl Counts {
    fn add(&mut self, post: &Post, keep: usize, snippet_chars: usize) {
        self.volume += 1;
        let Some(s) = post.sentiment else { return };
        self.scored += 1;
        if !s.is_negative() {
            return;
        }
        self.negative += 1;
        let key = (s.compound, post.id.as_str());
        let pos = self
            .samples
            .partition_point(|x| (x.compound, x.id.as_str()) <= key);
        if pos < keep {
            let text: String = post.text.chars().take(snippet_chars).collect();
            // Copies of one text (retweets, spam waves) would fill every slot:
            // keep one of each, the first in (compound, id) order.
            if let Some(i) = self.samples.iter().position(|x| x.text == text) {
                if i < pos {
                    return;
                }
                self.samples.remove(i);
            }
            self.samples.insert(
                pos,
                Sample {
                    id: post.id.clone(),
                    text,
                    compound: s.compound,
                },
            );
            self.samples.truncate(keep);
        }
    }

    fn remove(&mut self, m: &Mark, id: &str) {
        self.volume -= 1;
        self.scored -= u64::from(m.scored);
        self.negative -= u64::from(m.negative);
        self.samples.retain(|s| s.id != id);
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct WatchWindow {
    seen: HashMap<u64, Mark>,
    langs: HashMap<u16, Counts>,
    all: Counts,
    negative_terms: WindowTerms,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct WatchState {
    /// Keys by language index; index 0 is [`ALL_LANGS`].
    keys: BTreeMap<u16, KeyDetector>,
    terms: BaselineTerms,
}

/// Per-window decay of the term baselines for `cfg`.
pub fn window_decay(cfg: &AggregateConfig) -> f64 {
    0.5f64.powf(cfg.window.length.ms() as f64 / cfg.baseline.half_life.ms() as f64)
}

/// Event-time windows, baselines and alert decisions for a set of watches.
#[derive(Debug)]
pub struct Aggregator {
    cfg: AggregateConfig,
    params: Params,
    /// Per watch: its own config where it sets `[alert]`, `[volume]` or
    /// `[baseline]` keys differently.
    watch_cfg: Vec<Option<Box<(AggregateConfig, Params)>>>,
    decay: f64,
    watch_names: Vec<String>,
    watch_index: HashMap<String, u16>,
    lang_names: Vec<String>,
    lang_index: HashMap<String, u16>,
    watches: Vec<WatchState>,
    windows: BTreeMap<i64, Vec<Option<WatchWindow>>>,
    max_event: Option<i64>,
    next_close: Option<i64>,
    tombstones: HashMap<u64, i64>,
    idle_ref: Option<(i64, Option<i64>)>,
    /// End of the last window in which any watch had a post.
    last_data_end: Option<i64>,
    /// Whether the stream's current silence was declared a gap.
    in_gap: bool,
    stats: AggregateStats,
    terms: TermBuf,
    care: Care,
}

/// Id key for de-duplication: the id itself when numeric (exact, no collisions),
/// else a 64-bit FNV-1a hash with the top bit set so it cannot equal a number.
pub(crate) fn id_key(id: &str) -> u64 {
    if !id.is_empty()
        && id.len() <= 19
        && id.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = id.parse::<u64>()
        && n < 1 << 63
    {
        return n;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h | 1 << 63
}

impl Aggregator {
    /// An aggregator for `watches` (names, in config order).
    ///
    /// # Panics
    /// With more than 65,535 watches (config validation refuses that first).
    pub fn new(cfg: AggregateConfig, watches: &[String]) -> Self {
        assert!(watches.len() < usize::from(u16::MAX), "too many watches");
        let decay = window_decay(&cfg);
        let params = Params::new(&cfg);
        let (cfg_care, len_ms) = (cfg.care.clone(), cfg.window.length.ms());
        let watch_index = watches
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u16))
            .collect();
        let watch_cfg = watches
            .iter()
            .map(|w| {
                cfg.watches
                    .get(w)
                    .map(|c| Box::new((c.clone(), Params::new(c))))
            })
            .collect();
        Aggregator {
            cfg,
            params,
            watch_cfg,
            decay,
            watch_names: watches.to_vec(),
            watch_index,
            lang_names: vec![ALL_LANGS.to_owned()],
            lang_index: HashMap::from([(ALL_LANGS.to_owned(), 0)]),
            watches: watches.iter().map(|_| WatchState::default()).collect(),
            windows: BTreeMap::new(),
            max_event: None,
            next_close: None,
            tombstones: HashMap::new(),
            idle_ref: None,
            last_data_end: None,
            in_gap: false,
            stats: AggregateStats::default(),
            terms: TermBuf::default(),
            care: Care::new(cfg_care, watches, len_ms),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &AggregateConfig {
        &self.cfg
    }

    /// Counters so far.
    pub fn stats(&self) -> &AggregateStats {
        &self.stats
    }

    /// Current watermark (newest event time minus lateness), if any post was seen.
    pub fn watermark(&self) -> Option<i64> {
        self.max_event.map(|m| m - self.cfg.window.lateness.ms())
    }

    /// Newest event time seen (including idle advances).
    pub fn max_event(&self) -> Option<i64> {
        self.max_event
    }

    /// The social-care measures.
    pub fn care(&self) -> &Care {
        &self.care
    }

    /// Open windows right now (for state-size checks and metrics).
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// Ids held for de-duplication and deletes, over all open windows.
    pub fn tracked_ids(&self) -> usize {
        self.windows
            .values()
            .flatten()
            .flatten()
            .map(|w| w.seen.len())
            .sum::<usize>()
            + self.tombstones.len()
    }

    fn lang_idx(&mut self, lang: &str) -> u16 {
        if let Some(&i) = self.lang_index.get(lang) {
            return i;
        }
        let i = u16::try_from(self.lang_names.len()).unwrap_or(u16::MAX);
        self.lang_names.push(lang.to_owned());
        self.lang_index.insert(lang.to_owned(), i);
        i
    }

    fn len_ms(&self) -> i64 {
        self.cfg.window.length.ms()
    }

    /// Adds one post. Windows that the advancing watermark closes are emitted into `out`.
    pub fn on_post(&mut self, post: &Post, out: &mut Vec<AggregateOutput>) -> PostOutcome {
        let len = self.len_ms();
        let start = floor_to(post.event_ms, len);
        let closed = self.next_close.is_some_and(|nc| start < nc)
            || self.watermark().is_some_and(|wm| start + len <= wm);
        if closed {
            self.stats.late += 1;
            return PostOutcome::Late;
        }
        let key = id_key(&post.id);
        if self.tombstones.remove(&key).is_some() {
            self.stats.deleted_before += 1;
            return PostOutcome::Deleted;
        }
        let lang = self.lang_idx(post.lang.as_deref().unwrap_or("und"));
        let mark = Mark {
            lang,
            scored: post.sentiment.is_some(),
            negative: post.is_negative(),
            deleted: false,
        };
        let n_watches = self.watches.len();
        let (keep, snip) = (self.cfg.explain.samples, self.cfg.explain.snippet_chars);
        let mut counted = false;
        let mut any_watch = false;
        let mut tokenized = false;
        for name in &post.watches {
            let Some(&w) = self.watch_index.get(name) else {
                continue;
            };
            any_watch = true;
            let slots = self.windows.entry(start).or_insert_with(|| {
                let mut v = Vec::with_capacity(n_watches);
                v.resize_with(n_watches, || None);
                v
            });
            let ww = slots[usize::from(w)].get_or_insert_with(WatchWindow::default);
            if ww.seen.contains_key(&key) {
                continue;
            }
            ww.seen.insert(key, mark);
            ww.all.add(post, keep, snip);
            ww.langs.entry(lang).or_default().add(post, keep, snip);
            if mark.negative {
                if !tokenized {
                    self.terms.fill_in(&post.text, post.lang.as_deref());
                    tokenized = true;
                }
                ww.negative_terms.add_terms(&self.terms);
            }
            let ws = &mut self.watches[usize::from(w)];
            ws.keys.entry(0).or_default();
            ws.keys.entry(lang).or_default();
            counted = true;
            if self.care.measures(usize::from(w)) {
                let mut triage: Vec<TriageRecord> = Vec::new();
                self.care.on_post(usize::from(w), post, key, &mut triage);
                out.extend(triage.into_iter().map(AggregateOutput::Triage));
            }
        }
        let outcome = if counted {
            self.stats.counted += 1;
            PostOutcome::Counted
        } else if any_watch {
            self.stats.duplicates += 1;
            PostOutcome::Duplicate
        } else {
            self.stats.unwatched += 1;
            PostOutcome::Unwatched
        };
        if self.max_event.is_none_or(|m| post.event_ms > m) {
            self.max_event = Some(post.event_ms);
            self.advance(out);
        }
        outcome
    }

    /// Applies a delete notice for post `id`.
    pub fn on_delete(&mut self, id: &str) -> DeleteOutcome {
        let key = id_key(id);
        // The post may be counted under several watches: remove it from each.
        let mut found = false;
        for ww in self.windows.values_mut().flatten().flatten() {
            let Some(m) = ww.seen.get_mut(&key) else {
                continue;
            };
            found = true;
            if m.deleted {
                continue;
            }
            m.deleted = true;
            let m = *m;
            ww.all.remove(&m, id);
            if let Some(c) = ww.langs.get_mut(&m.lang) {
                c.remove(&m, id);
            }
        }
        if found {
            self.stats.deleted += 1;
            return DeleteOutcome::Removed;
        }
        // Snowflake ids tell when the post was made: if its window has closed,
        // the delete comes too late to change anything.
        let len = self.len_ms();
        let post_time = (FIRST_SNOWFLAKE..1 << 63)
            .contains(&key)
            .then(|| (key >> 22) as i64 + SNOWFLAKE_EPOCH_MS);
        let horizon = len + self.cfg.window.lateness.ms();
        if let (Some(t), Some(nc)) = (post_time, self.next_close)
            && floor_to(t, len) < nc
        {
            self.stats.deletes_too_late += 1;
            return DeleteOutcome::TooLate;
        }
        let expire = match (post_time, self.watermark()) {
            (Some(t), _) => floor_to(t, len) + horizon,
            (None, Some(wm)) => wm + 2 * horizon,
            (None, None) => i64::MAX,
        };
        self.tombstones.insert(key, expire);
        DeleteOutcome::Pending
    }

    /// Live mode: advances the watermark by processing time (`now_ms`, any
    /// monotonic clock in ms) when no newer event time arrived for `idle_timeout`.
    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<AggregateOutput>) {
        match self.idle_ref {
            Some((since, seen)) if seen == self.max_event => {
                let idle = now_ms - since;
                if idle >= self.cfg.window.idle_timeout.ms()
                    && let Some(m) = self.max_event
                {
                    self.max_event = Some(m + idle);
                    self.idle_ref = Some((now_ms, self.max_event));
                    self.advance(out);
                }
            }
            _ => self.idle_ref = Some((now_ms, self.max_event)),
        }
    }

    /// Closes every open window (end of input), emitting summaries and alerts.
    pub fn flush(&mut self, out: &mut Vec<AggregateOutput>) {
        if let Some(&last) = self.windows.keys().next_back() {
            self.close_until(last + self.len_ms(), out);
        }
    }

    fn advance(&mut self, out: &mut Vec<AggregateOutput>) {
        if let Some(wm) = self.watermark() {
            self.close_until(wm, out);
            self.tombstones.retain(|_, &mut exp| exp > wm);
        }
    }

    /// Closes every window whose end is at or before `wm`.
    fn close_until(&mut self, wm: i64, out: &mut Vec<AggregateOutput>) {
        let len = self.len_ms();
        loop {
            let nc = match self.next_close {
                Some(n) => n,
                None => match self.windows.keys().next() {
                    Some(&s) => s,
                    None => return,
                },
            };
            if nc + len > wm {
                if self.next_close.is_some() {
                    self.next_close = Some(nc);
                }
                return;
            }
            if let Some(slots) = self.windows.remove(&nc) {
                if self.in_gap {
                    let gap_ms = nc - self.last_data_end.unwrap_or(nc);
                    self.end_gap(gap_ms, nc);
                }
                self.close_window(nc, Some(slots), out);
                self.last_data_end = Some(nc + len);
                self.next_close = Some(nc + len);
                continue;
            }
            // No post at all in this window: close the empty windows up to the
            // next open window or the watermark. While the silence is shorter
            // than `baseline.gap` they are quiet windows, closed one by one at
            // first (so episodes can resolve), then in closed form; once it is
            // that long, it is a gap in the data and nothing is absorbed.
            let last_end = floor_to(wm, len);
            let gap_end = self
                .windows
                .keys()
                .next()
                .map_or(last_end, |&s| s.min(last_end));
            if self.in_gap {
                self.next_close = Some(gap_end);
                continue;
            }
            let n = (gap_end - nc) / len;
            let to_gap = self.last_data_end.unwrap_or(nc) + self.cfg.baseline.gap.ms() - nc;
            let quiet = if to_gap > 0 {
                n.min((to_gap + len - 1) / len - 1)
            } else {
                0
            };
            let one_by_one = quiet.min(MAX_GAP_WINDOWS);
            for i in 0..one_by_one {
                self.close_window(nc + i * len, None, out);
            }
            if quiet > one_by_one {
                let rest = (quiet - one_by_one) as u64;
                let decay = self.decay;
                let params = self.params;
                for ws in &mut self.watches {
                    ws.terms.decay(decay.powf(rest as f64));
                    for k in ws.keys.values_mut() {
                        k.absorb_empty(&params, rest);
                    }
                }
            }
            if n > quiet {
                self.start_gap(nc + (quiet + 1) * len, out);
            }
            self.next_close = Some(gap_end);
        }
    }

    /// The stream has been silent for `baseline.gap`, up to `end`: open
    /// episodes resolve with reason `gap`.
    fn start_gap(&mut self, end: i64, out: &mut Vec<AggregateOutput>) {
        self.in_gap = true;
        let start = end - self.len_ms();
        for w in 0..self.watches.len() {
            let langs: Vec<u16> = self.watches[w].keys.keys().copied().collect();
            for lang in langs {
                let k = self.watches[w].keys.get_mut(&lang).expect("listed");
                let (t_neg, t_vol) = k.gap_started(end);
                for (t, kind) in [
                    (t_neg, AlertKind::NegativeShare),
                    (t_vol, AlertKind::Volume),
                ] {
                    if let Transition::Resolve(id, since, why) = t {
                        let alert = self.alert_record(
                            w,
                            lang,
                            kind,
                            AlertState::Resolved,
                            id,
                            (start, end, since),
                            &Counts::default(),
                            (0.0, 1.0, 0.0, 0.0),
                            None,
                            Some(why),
                        );
                        self.stats.alerts += 1;
                        out.push(AggregateOutput::Alert(alert));
                    }
                }
            }
            if let Some(a) = self.care.gap(w, start, end) {
                self.stats.alerts += 1;
                out.push(AggregateOutput::Alert(a));
            }
        }
    }

    /// Data resumes at `start` after a gap of `gap_ms`.
    fn end_gap(&mut self, gap_ms: i64, start: i64) {
        self.in_gap = false;
        for (ws, own) in self.watches.iter_mut().zip(&self.watch_cfg) {
            let (cfg, params) = own
                .as_deref()
                .map_or((&self.cfg, &self.params), |(c, p)| (c, p));
            for k in ws.keys.values_mut() {
                k.gap_ended(cfg, params, gap_ms, start);
            }
        }
    }

    fn close_window(
        &mut self,
        start: i64,
        slots: Option<Vec<Option<WatchWindow>>>,
        out: &mut Vec<AggregateOutput>,
    ) {
        let end = start + self.len_ms();
        let empty = WatchWindow::default();
        let mut slots = slots.unwrap_or_default();
        for w in 0..self.watches.len() {
            let ww = slots.get_mut(w).and_then(Option::take);
            let ww = ww.as_ref().unwrap_or(&empty);
            // Deterministic order whatever the arrival order: all first, then by language name.
            let mut langs: Vec<u16> = self.watches[w].keys.keys().copied().collect();
            langs.sort_by(|a, b| {
                (*a != 0, &self.lang_names[usize::from(*a)])
                    .cmp(&(*b != 0, &self.lang_names[usize::from(*b)]))
            });
            let mut absorb_terms = false;
            let (mut triage, mut alerts) = (Vec::new(), Vec::new());
            let mut care = self
                .care
                .close_window(w, start, end, &mut triage, &mut alerts);
            for lang in langs {
                let counts = if lang == 0 {
                    Some(&ww.all)
                } else {
                    ww.langs.get(&lang)
                };
                let zero = Counts::default();
                let counts = counts.unwrap_or(&zero);
                let calm_all = self.decide(w, lang, start, end, counts, &ww.negative_terms, out);
                if lang == 0 {
                    absorb_terms = calm_all;
                    if let (Some(AggregateOutput::Window(s)), Some((c, _))) =
                        (out.last_mut(), care.as_mut())
                    {
                        s.care = Some(std::mem::take(c));
                    }
                }
            }
            self.stats.alerts += alerts.len() as u64;
            out.extend(alerts.into_iter().map(AggregateOutput::Alert));
            out.extend(triage.into_iter().map(AggregateOutput::Triage));
            if let Some((_, report)) = care {
                out.push(AggregateOutput::Care(report));
            }
            if absorb_terms {
                self.watches[w].terms.absorb(&ww.negative_terms, self.decay);
            }
        }
    }

    /// Decides one key's window; returns whether its baseline absorbed the window.
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &mut self,
        w: usize,
        lang: u16,
        start: i64,
        end: i64,
        c: &Counts,
        terms: &WindowTerms,
        out: &mut Vec<AggregateOutput>,
    ) -> bool {
        let ks = self.watches[w]
            .keys
            .get_mut(&lang)
            .expect("key listed above");
        let watch = &self.watch_names[w];
        let lang_name = &self.lang_names[usize::from(lang)];
        let counts = WindowCounts {
            volume: c.volume,
            scored: c.scored,
            negative: c.negative,
        };
        let (cfg, params) = self.watch_cfg[w]
            .as_deref()
            .map_or((&self.cfg, &self.params), |(c, p)| (c, p));
        let d = ks.step(cfg, params, counts, start, end, |kind| {
            format!(
                "{watch}/{lang_name}/{}/{}",
                kind.as_str(),
                format_rfc3339(start)
            )
        });
        let summary = WindowSummary {
            v: output::version(),
            watch: watch.clone(),
            lang: lang_name.clone(),
            start_ms: start,
            end_ms: end,
            volume: c.volume,
            scored: c.scored,
            negative: c.negative,
            baseline_share: d.expected_share,
            baseline_volume: d.expected_volume,
            negative_firing: d.negative_firing,
            volume_firing: d.volume_firing,
            care: None,
        };
        let fires =
            matches!(d.negative, Transition::Fire(_)) || matches!(d.volume, Transition::Fire(_));
        let top_terms: Vec<String> = if fires {
            terms
                .top_against(&self.watches[w].terms, self.cfg.explain.top_terms)
                .into_iter()
                .map(|(t, _, _)| t)
                .collect()
        } else {
            Vec::new()
        };
        let absorb = d.absorbed;
        let p0 = d.expected_share.unwrap_or(0.0);
        for (t, kind, p, ev) in [
            (
                d.negative,
                AlertKind::NegativeShare,
                d.share_p,
                d.negative_evidence,
            ),
            (d.volume, AlertKind::Volume, d.volume_p, d.volume_evidence),
        ] {
            let (id, state, since, why) = match t {
                Transition::None => continue,
                Transition::Fire(id) => (id, AlertState::Firing, start, None),
                Transition::Resolve(id, since, why) => (id, AlertState::Resolved, since, Some(why)),
            };
            let p = ev.as_ref().map_or(p, |e| e.p_value);
            let mut alert = self.alert_record(
                w,
                lang,
                kind,
                state,
                id,
                (start, end, since),
                c,
                (d.share, p, p0, d.expected_volume),
                ev,
                why,
            );
            if state == AlertState::Firing {
                alert.top_terms = top_terms.clone();
            }
            self.stats.alerts += 1;
            out.push(AggregateOutput::Alert(alert));
        }
        self.stats.windows_closed += 1;
        out.push(AggregateOutput::Window(summary));
        absorb
    }

    /// One alert record. `span` is (window start, window end, episode start);
    /// `figures` is (negative share, p-value, expected share, expected volume).
    #[allow(clippy::too_many_arguments)]
    fn alert_record(
        &self,
        w: usize,
        lang: u16,
        kind: AlertKind,
        state: AlertState,
        alert_id: String,
        span: (i64, i64, i64),
        c: &Counts,
        figures: (f64, f64, f64, f64),
        evidence: Option<Evidence>,
        resolution: Option<Resolution>,
    ) -> Alert {
        let (start, end, since) = span;
        let (share, p_value, baseline_share, baseline_volume) = figures;
        let firing = state == AlertState::Firing;
        Alert {
            v: output::version(),
            alert_id,
            kind,
            watch: self.watch_names[w].clone(),
            lang: self.lang_names[usize::from(lang)].clone(),
            state,
            window_start: format_rfc3339(start),
            window_end: format_rfc3339(end),
            volume: c.volume,
            scored: c.scored,
            negative: c.negative,
            negative_share: share,
            baseline_share,
            baseline_volume,
            p_value,
            top_terms: Vec::new(),
            sample_ids: if firing {
                c.samples.iter().map(|s| s.id.clone()).collect()
            } else {
                Vec::new()
            },
            samples: if firing {
                c.samples.clone()
            } else {
                Vec::new()
            },
            episode_start: format_rfc3339(since),
            evidence: evidence.map(Box::new),
            resolution,
        }
    }
}
