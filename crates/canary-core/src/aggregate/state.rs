//! Snapshots of an aggregator's state, so that a process can stop (or be
//! killed) and resume with exactly the windows, baselines and episodes it had.

use super::{
    AggregateConfig, AggregateOutput, AggregateStats, Aggregator, WatchState, WatchWindow,
};
use crate::time::floor_to;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Version of [`AggregatorState`]; a snapshot of another version is refused.
pub const STATE_VERSION: u16 = 2;

/// Why a snapshot cannot be restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The snapshot was written by an incompatible build.
    #[error("aggregator state version {found} is not supported (expected {STATE_VERSION})")]
    Version {
        /// The version found.
        found: u16,
    },
    /// The snapshot does not hold together (hand-edited or truncated).
    #[error("aggregator state is inconsistent: {0}")]
    Inconsistent(&'static str),
}

/// Everything an [`Aggregator`] holds beyond its configuration: open windows
/// with their post ids, baselines, episodes, pending deletes, watermark and
/// counters. Serializable (serde), so it can be checkpointed together with
/// input offsets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AggregatorState {
    v: u16,
    watch_names: Vec<String>,
    lang_names: Vec<String>,
    watches: Vec<WatchState>,
    windows: BTreeMap<i64, Vec<Option<WatchWindow>>>,
    max_event: Option<i64>,
    next_close: Option<i64>,
    tombstones: HashMap<u64, i64>,
    idle_ref: Option<(i64, Option<i64>)>,
    last_data_end: Option<i64>,
    in_gap: bool,
    stats: AggregateStats,
    /// Social-care state per watch (absent in snapshots of older builds).
    #[serde(default)]
    care: Vec<crate::care::WatchCare>,
}

impl AggregatorState {
    /// Watch names the snapshot was taken with, in that aggregator's order.
    pub fn watch_names(&self) -> &[String] {
        &self.watch_names
    }

    /// Newest event time the snapshot had seen.
    pub fn max_event(&self) -> Option<i64> {
        self.max_event
    }
}

impl Aggregator {
    /// A copy of the state, for checkpoints.
    pub fn snapshot(&self) -> AggregatorState {
        AggregatorState {
            v: STATE_VERSION,
            watch_names: self.watch_names.clone(),
            lang_names: self.lang_names.clone(),
            watches: self.watches.clone(),
            windows: self.windows.clone(),
            max_event: self.max_event,
            next_close: self.next_close,
            tombstones: self.tombstones.clone(),
            idle_ref: self.idle_ref,
            last_data_end: self.last_data_end,
            in_gap: self.in_gap,
            stats: self.stats.clone(),
            care: self.care.states().to_vec(),
        }
    }

    /// An aggregator for `watches` that resumes from `state`.
    ///
    /// Watches are matched by name: a watch the snapshot does not know starts
    /// empty, and state of a watch no longer configured is dropped.
    pub fn restore(
        cfg: AggregateConfig,
        watches: &[String],
        state: AggregatorState,
    ) -> Result<Self, StateError> {
        if state.v != STATE_VERSION {
            return Err(StateError::Version { found: state.v });
        }
        if state.watches.len() != state.watch_names.len() {
            return Err(StateError::Inconsistent("watch count"));
        }
        if state.lang_names.first().map(String::as_str) != Some(super::ALL_LANGS) {
            return Err(StateError::Inconsistent("language table"));
        }
        let n_langs = state.lang_names.len();
        let lang_ok = |l: u16| usize::from(l) < n_langs;
        for ws in &state.watches {
            if !ws.keys.keys().all(|&l| lang_ok(l)) {
                return Err(StateError::Inconsistent("language index"));
            }
        }
        let mut agg = Aggregator::new(cfg, watches);
        // Old index of each new watch, by name.
        let old_of: Vec<Option<usize>> = watches
            .iter()
            .map(|w| state.watch_names.iter().position(|o| o == w))
            .collect();
        let mut old_watches: Vec<Option<WatchState>> =
            state.watches.into_iter().map(Some).collect();
        let mut old_care: Vec<Option<crate::care::WatchCare>> =
            state.care.into_iter().map(Some).collect();
        for (i, old) in old_of.iter().enumerate() {
            if let Some(o) = old {
                agg.watches[i] = old_watches[*o].take().unwrap_or_default();
                if let Some(c) = old_care.get_mut(*o).and_then(Option::take) {
                    agg.care.restore(i, c);
                }
            }
        }
        for (start, mut slots) in state.windows {
            if slots.len() != state.watch_names.len() {
                return Err(StateError::Inconsistent("window slots"));
            }
            for ww in slots.iter().flatten() {
                let langs_ok = ww.langs.keys().all(|&l| lang_ok(l))
                    && ww.seen.values().all(|m| lang_ok(m.lang));
                if !langs_ok {
                    return Err(StateError::Inconsistent("language index"));
                }
            }
            let new_slots: Vec<Option<WatchWindow>> = old_of
                .iter()
                .map(|o| o.and_then(|o| slots[o].take()))
                .collect();
            agg.windows.insert(start, new_slots);
        }
        agg.lang_index = state
            .lang_names
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), i as u16))
            .collect();
        agg.lang_names = state.lang_names;
        agg.max_event = state.max_event;
        agg.next_close = state.next_close;
        agg.tombstones = state.tombstones;
        agg.idle_ref = state.idle_ref;
        agg.last_data_end = state.last_data_end;
        agg.in_gap = state.in_gap;
        agg.stats = state.stats;
        Ok(agg)
    }

    /// Advances the newest event time to `max_event_ms` (if it is newer) and
    /// closes the windows the watermark passes, as if a post with that event
    /// time had arrived. For a stage that sees only part of a stream: the
    /// upstream tells it how far the whole stream has got, so its windows
    /// close (and its late posts are refused) exactly as in one process.
    pub fn advance_to(&mut self, max_event_ms: i64, out: &mut Vec<AggregateOutput>) {
        if self.max_event.is_none_or(|m| max_event_ms > m) {
            self.max_event = Some(max_event_ms);
            self.advance(out);
        }
    }

    /// End of input for a stage that sees part of a stream whose newest event
    /// time is `max_event_ms`: closes every window up to the one holding
    /// `max_event_ms`, including empty ones of quiet watches, as [`flush`]
    /// would in a process that saw the whole stream.
    ///
    /// [`flush`]: Aggregator::flush
    pub fn flush_through(&mut self, max_event_ms: i64, out: &mut Vec<AggregateOutput>) {
        self.advance_to(max_event_ms, out);
        let len = self.len_ms();
        let mut end = floor_to(max_event_ms, len) + len;
        if let Some(&last) = self.windows.keys().next_back() {
            end = end.max(last + len);
        }
        if self.next_close.is_none() && self.windows.is_empty() {
            return;
        }
        self.close_until(end, out);
    }
}
