//! Gathering what a report needs from the aggregate's outputs.

use canary_core::aggregate::{AggregateOutput, Alert, AlertKind, AlertState, WindowSummary};
use canary_core::time::parse_rfc3339;
use serde::Serialize;
use std::collections::BTreeMap;

/// The counts of one closed window, as the report keeps them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Window start, epoch ms.
    pub start_ms: i64,
    /// Posts.
    pub volume: u64,
    /// Posts with a sentiment score.
    pub scored: u64,
    /// Negative posts.
    pub negative: u64,
    /// The baseline's negative share before this window.
    pub baseline_share: Option<f64>,
}

impl From<&WindowSummary> for Window {
    fn from(w: &WindowSummary) -> Self {
        Window {
            start_ms: w.start_ms,
            volume: w.volume,
            scored: w.scored,
            negative: w.negative,
            baseline_share: w.baseline_share,
        }
    }
}

/// One watch's totals over the run, from its all-languages windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct WatchTotals {
    /// Posts counted in windows.
    pub posts: u64,
    /// Of those, posts with a sentiment score.
    pub scored: u64,
    /// Of those, negative posts.
    pub negative: u64,
    /// Alert episodes that fired (every kind and language).
    pub episodes: u64,
}

impl WatchTotals {
    /// negative / scored, 0 when nothing was scored.
    pub fn negative_share(&self) -> f64 {
        if self.scored == 0 {
            0.0
        } else {
            self.negative as f64 / self.scored as f64
        }
    }
}

/// One alert episode: from its firing window's start to its resolving
/// window's end, or open at the end of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Episode {
    /// The episode's id (the same on its firing and resolved records).
    pub alert_id: String,
    /// What kind of change.
    pub kind: AlertKind,
    /// Watch name.
    pub watch: String,
    /// Language code or `all`.
    pub lang: String,
    /// Start of the firing window, epoch ms.
    pub start_ms: i64,
    /// End of the resolving window, epoch ms; `None` while still firing.
    pub end_ms: Option<i64>,
}

/// Takes the aggregate's outputs one at a time and keeps what the report
/// and the end-of-run table need.
///
/// With series kept, memory is one small entry per window and key (a month
/// of 20 watches × 3 languages in 5-minute windows is about 35 MB); without,
/// only per-watch totals and the alert records. Never anything per post.
#[derive(Debug, Clone, Default)]
pub struct Collector {
    keep_series: bool,
    watches: Vec<String>,
    series: BTreeMap<String, BTreeMap<String, Vec<Window>>>,
    totals: BTreeMap<String, WatchTotals>,
    alerts: Vec<Alert>,
    window_ms: i64,
}

impl Collector {
    /// A collector for these watches (in config order; a watch that never
    /// matched a post still gets its row). `keep_series`: keep every window
    /// for the report, not just the totals for the table.
    pub fn new(watches: &[String], keep_series: bool) -> Self {
        Collector {
            keep_series,
            watches: watches.to_vec(),
            totals: watches
                .iter()
                .map(|w| (w.clone(), WatchTotals::default()))
                .collect(),
            ..Default::default()
        }
    }

    /// Takes one output of the aggregate stage.
    pub fn observe(&mut self, o: &AggregateOutput) {
        match o {
            AggregateOutput::Window(w) => self.window(w),
            AggregateOutput::Alert(a) => {
                if a.state == AlertState::Firing {
                    self.total(&a.watch).episodes += 1;
                }
                self.alerts.push(a.clone());
            }
            // Care measures are reported through their own outputs.
            AggregateOutput::Triage(_) | AggregateOutput::Care(_) => {}
        }
    }

    fn total(&mut self, watch: &str) -> &mut WatchTotals {
        if !self.totals.contains_key(watch) {
            self.watches.push(watch.to_owned());
            self.totals.insert(watch.to_owned(), WatchTotals::default());
        }
        self.totals.get_mut(watch).expect("inserted above")
    }

    fn window(&mut self, w: &WindowSummary) {
        self.window_ms = self.window_ms.max(w.end_ms - w.start_ms);
        if w.lang == "all" {
            let t = self.total(&w.watch);
            t.posts += w.volume;
            t.scored += w.scored;
            t.negative += w.negative;
        }
        if !self.keep_series {
            return;
        }
        let langs = match self.series.get_mut(&w.watch) {
            Some(l) => l,
            None => self.series.entry(w.watch.clone()).or_default(),
        };
        match langs.get_mut(&w.lang) {
            Some(s) => s.push(w.into()),
            None => {
                langs.insert(w.lang.clone(), vec![w.into()]);
            }
        }
    }

    /// Watch names: the configured ones in config order, then any other seen.
    pub fn watches(&self) -> &[String] {
        &self.watches
    }

    /// A watch's totals.
    pub fn totals(&self, watch: &str) -> WatchTotals {
        self.totals.get(watch).copied().unwrap_or_default()
    }

    /// A watch's series by language (`all` first), empty unless kept.
    pub fn series(&self, watch: &str) -> Vec<(&str, &[Window])> {
        let mut v: Vec<(&str, &[Window])> = self
            .series
            .get(watch)
            .map(|m| m.iter().map(|(l, s)| (l.as_str(), s.as_slice())).collect())
            .unwrap_or_default();
        v.sort_by_key(|(l, _)| *l != "all");
        v
    }

    /// The alert records, in the order they were emitted.
    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    /// The widest window seen, ms (0 before any window).
    pub fn window_ms(&self) -> i64 {
        self.window_ms
    }

    /// The episodes, in the order they fired.
    pub fn episodes(&self) -> Vec<Episode> {
        episodes(&self.alerts)
    }
}

/// The episodes of a run's alert records, in the order they fired. A
/// resolved record without its firing one (a run cut by `--from`) is ignored.
pub fn episodes(alerts: &[Alert]) -> Vec<Episode> {
    let mut out: Vec<Episode> = Vec::new();
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    for a in alerts {
        let ms = |s: &str| parse_rfc3339(s).unwrap_or_default();
        match a.state {
            AlertState::Firing => {
                open.insert(&a.alert_id, out.len());
                out.push(Episode {
                    alert_id: a.alert_id.clone(),
                    kind: a.kind,
                    watch: a.watch.clone(),
                    lang: a.lang.clone(),
                    start_ms: ms(&a.window_start),
                    end_ms: None,
                });
            }
            AlertState::Resolved => {
                if let Some(i) = open.remove(a.alert_id.as_str()) {
                    out[i].end_ms = Some(ms(&a.window_end));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::tests::{alert, window};

    #[test]
    fn totals_come_from_all_language_windows_and_episodes_from_firings() {
        let mut c = Collector::new(&["acme".into(), "quiet".into()], true);
        c.observe(&window("acme", "all", 0, 10, 8, 2));
        c.observe(&window("acme", "en", 0, 7, 7, 2));
        c.observe(&window("acme", "all", 300_000, 20, 10, 5));
        c.observe(&alert("a1", "acme", "all", AlertState::Firing, 300_000));
        c.observe(&alert("a1", "acme", "all", AlertState::Resolved, 600_000));
        let t = c.totals("acme");
        assert_eq!((t.posts, t.scored, t.negative, t.episodes), (30, 18, 7, 1));
        assert_eq!(c.totals("quiet"), WatchTotals::default());
        assert_eq!(c.watches(), ["acme", "quiet"]);
        let s = c.series("acme");
        assert_eq!(s[0].0, "all");
        assert_eq!(s[0].1.len(), 2);
        assert_eq!(s[1].0, "en");
        assert_eq!(c.window_ms(), 300_000);
        let e = c.episodes();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].start_ms, e[0].end_ms), (300_000, Some(900_000)));
    }

    #[test]
    fn without_series_only_totals_are_kept() {
        let mut c = Collector::new(&["acme".into()], false);
        c.observe(&window("acme", "all", 0, 10, 8, 2));
        assert!(c.series("acme").is_empty());
        assert_eq!(c.totals("acme").posts, 10);
    }
}
