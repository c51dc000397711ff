//! Social care: how fast and how often a brand's own accounts answer the
//! posts directed at them, and the queue of posts still waiting.
//!
//! # Definitions
//! - A post is **directed** at a watch when it mentions one of the watch's
//!   `accounts` (entities, or `@handle` in the text) or replies to a post by
//!   one of them, is not by one of them, and is not a retweet or boost. The
//!   parent's author is the one the payload names, or, when it names none,
//!   one of the accounts if the parent is a post of theirs seen within
//!   `care.horizon`.
//! - It is **answered** by the first post of one of those accounts that
//!   replies to it, or that replies later (event time) anywhere in the same
//!   conversation. The conversation is the source's (`conversation`), else
//!   the one of the parent post where that parent was seen, else the parent
//!   itself: v1.1 reply chains are followed through the posts canary holds.
//! - An answer may arrive before the post it answers (out of order within
//!   the window lateness): brand replies are remembered for `care.horizon`.
//!
//! # Time
//! Everything is event time. `directed` counts in the window of the post;
//! `answered` and its response times in the window of the answer. Triage
//! records of a window's posts are written when that window closes, so an
//! answer that arrives within the lateness suppresses them.
//!
//! # State
//! Per watch: unanswered posts (at most `care.max_pending`, for at most
//! `care.horizon`; evictions counted), the ids of the accounts' own posts
//! (the same bounds; the oldest evicted first, counted), and for the same
//! horizon the thread of each directed or brand post and the brand's
//! replies. Nothing grows with the number of posts beyond those bounds.

mod config;
mod detector;
mod output;
mod rules;

pub use config::{CareConfig, ResponseAlertConfig};
pub use detector::{ResponseDecision, ResponseDetector, ResponseWindow};
pub use output::{
    AGE_BOUNDS_MS, AGE_LABELS, CareCounts, CareReport, Response, TriageRecord, TriageStatus,
    age_bucket, median_p90,
};
pub use rules::{Actionable, actionable, score};

use crate::aggregate::{Alert, AlertKind, AlertState, Evidence, Resolution, Transition};
use crate::record::{Post, RECORD_VERSION};
use crate::time::{floor_to, format_rfc3339};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Maps and lists besides the pending posts hold at most this many times
/// `care.max_pending` entries.
const SIDE_FACTOR: usize = 4;

/// An unanswered directed post.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    key: u64,
    id: String,
    conv: u64,
    author: Option<String>,
    followers: Option<u64>,
    compound: Option<f64>,
    snippet: String,
    question: bool,
    complaint: bool,
    queued: bool,
}

/// Sums of one open window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct WindowAcc {
    directed: u64,
    responses: Vec<f64>,
    within: u64,
    /// Outcomes against the SLA that became known here, and the on-time ones.
    due: u64,
    on_time: u64,
}

/// One watch's care state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WatchCare {
    /// Unanswered posts by event time.
    pending: BTreeMap<i64, Vec<Pending>>,
    /// Event time of each pending post, by id key.
    pending_at: HashMap<u64, i64>,
    /// Pending posts by conversation.
    by_conv: HashMap<u64, Vec<u64>>,
    /// Conversation and event time of directed and brand posts.
    threads: HashMap<u64, (u64, i64)>,
    /// Earliest brand reply to a post, by the replied-to id key.
    replies: HashMap<u64, i64>,
    /// Brand reply times by conversation.
    conv_replies: HashMap<u64, Vec<i64>>,
    /// Event time of the accounts' own posts, by id key: a reply naming
    /// only its parent's id is directed when the parent is one of these.
    #[serde(default)]
    brand_posts: HashMap<u64, i64>,
    /// The same posts by event time, to evict the oldest.
    #[serde(default)]
    brand_by_time: BTreeSet<(i64, u64)>,
    windows: BTreeMap<i64, WindowAcc>,
    /// Windows before this are closed.
    closed_until: Option<i64>,
    /// Evictions since the last report.
    evicted_horizon: u64,
    evicted_cap: u64,
    #[serde(default)]
    evicted_brand: u64,
    detector: ResponseDetector,
}

impl WatchCare {
    /// Unanswered posts held.
    pub fn unanswered(&self) -> usize {
        self.pending_at.len()
    }

    /// Entries held in all maps (for state-size checks).
    pub fn held(&self) -> usize {
        self.pending_at.len()
            + self.threads.len()
            + self.replies.len()
            + self.conv_replies.values().map(Vec::len).sum::<usize>()
            + self.brand_posts.len()
    }

    /// Remembers a post by one of the accounts, evicting the oldest beyond `cap`.
    fn remember_brand_post(&mut self, key: u64, t: i64, cap: usize) {
        if self.brand_posts.contains_key(&key) {
            return;
        }
        if self.brand_posts.len() >= cap
            && let Some(old) = self.brand_by_time.pop_first()
        {
            self.brand_posts.remove(&old.1);
            self.evicted_brand += 1;
        }
        self.brand_posts.insert(key, t);
        self.brand_by_time.insert((t, key));
    }
}

/// The care measures of every watch.
#[derive(Debug, Clone)]
pub struct Care {
    cfg: CareConfig,
    names: Vec<String>,
    /// Lowercased accounts per watch index.
    accounts: Vec<Vec<String>>,
    watches: Vec<WatchCare>,
    len_ms: i64,
}

fn is_account(accounts: &[String], handle: &str) -> bool {
    let h = handle.strip_prefix('@').unwrap_or(handle);
    accounts.iter().any(|a| a.eq_ignore_ascii_case(h))
}

/// Whether `post` names one of `accounts` (entities or `@handle` in the text).
fn mentions_account(post: &Post, accounts: &[String]) -> bool {
    if post.mentions.iter().any(|m| is_account(accounts, m)) {
        return true;
    }
    let b = post.text.as_bytes();
    let mut i = 0;
    while let Some(at) = post.text[i..].find('@') {
        let s = i + at + 1;
        let e = s + b[s..]
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
            .unwrap_or(b.len() - s);
        let before_ok = i + at == 0 || !(b[i + at - 1].is_ascii_alphanumeric());
        if before_ok && e > s && is_account(accounts, &post.text[s..e]) {
            return true;
        }
        i = e.max(s);
    }
    false
}

impl Care {
    /// Care measures for `watches` (names, in the aggregator's order).
    pub fn new(cfg: CareConfig, watches: &[String], window_len_ms: i64) -> Self {
        let accounts = watches
            .iter()
            .map(|w| {
                cfg.accounts
                    .get(w)
                    .map(|a| {
                        a.iter()
                            .map(|h| h.trim_start_matches('@').to_lowercase())
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        Care {
            cfg,
            names: watches.to_vec(),
            accounts,
            watches: watches.iter().map(|_| WatchCare::default()).collect(),
            len_ms: window_len_ms,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &CareConfig {
        &self.cfg
    }

    /// Whether watch `w` has accounts.
    pub fn measures(&self, w: usize) -> bool {
        !self.accounts[w].is_empty()
    }

    /// State of watch `w`.
    pub fn watch(&self, w: usize) -> &WatchCare {
        &self.watches[w]
    }

    /// Every watch's state, for snapshots.
    pub fn states(&self) -> &[WatchCare] {
        &self.watches
    }

    /// Puts back watch `w`'s state from a snapshot.
    pub fn restore(&mut self, w: usize, state: WatchCare) {
        self.watches[w] = state;
    }

    /// Whether a `response` episode of watch `w` is open.
    pub fn firing(&self, w: usize) -> bool {
        self.watches[w].detector.is_firing()
    }

    /// Takes in a post counted for watch `w` (its window is open). Triage
    /// records of posts answered after they were queued go to `out`.
    pub fn on_post(&mut self, w: usize, post: &Post, key: u64, out: &mut Vec<TriageRecord>) {
        let accounts = &self.accounts[w];
        if accounts.is_empty() || post.retweet {
            return;
        }
        let by_brand = post
            .author
            .as_deref()
            .is_some_and(|a| is_account(accounts, a));
        let parent = post.reply_to.as_deref().map(crate::aggregate::id_key);
        let wc = &self.watches[w];
        let directed = !by_brand
            && (match post.reply_to_author.as_deref() {
                Some(a) => is_account(accounts, a),
                None => parent.is_some_and(|p| wc.brand_posts.contains_key(&p)),
            } || mentions_account(post, accounts));
        if !by_brand && !directed {
            return;
        }
        let cap = self.cfg.max_pending;
        let wc = &mut self.watches[w];
        let conv = match (&post.conversation, parent) {
            (Some(c), _) => crate::aggregate::id_key(c),
            (None, Some(p)) => wc.threads.get(&p).map_or(p, |t| t.0),
            (None, None) => key,
        };
        let t = post.event_ms;
        if wc.threads.len() < cap * SIDE_FACTOR {
            wc.threads.insert(key, (conv, t));
        }
        if by_brand {
            wc.remember_brand_post(key, t, cap);
            let Some(parent) = parent else { return };
            self.answer(w, parent, conv, t, out);
            let wc = &mut self.watches[w];
            if wc.replies.len() < cap * SIDE_FACTOR {
                let r = wc.replies.entry(parent).or_insert(t);
                *r = (*r).min(t);
            }
            if wc.conv_replies.len() < cap * SIDE_FACTOR {
                wc.conv_replies.entry(conv).or_default().push(t);
            }
            return;
        }
        let len = self.len_ms;
        let sla = self.cfg.sla.ms();
        wc.windows.entry(floor_to(t, len)).or_default().directed += 1;
        // An answer that arrived first (out of order).
        let early = wc
            .replies
            .get(&key)
            .copied()
            .filter(|&a| a >= t)
            .into_iter()
            .chain(
                wc.conv_replies
                    .get(&conv)
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|&a| a > t),
            )
            .min();
        if let Some(a) = early {
            Self::record(wc, len, sla, t, a);
            return;
        }
        if wc.pending_at.contains_key(&key) {
            return;
        }
        if wc.pending_at.len() >= cap
            && let Some((&old_t, _)) = wc.pending.iter().next()
        {
            let old = wc.pending.get_mut(&old_t).expect("listed").remove(0);
            Self::forget(wc, old_t, &old);
            wc.evicted_cap += 1;
        }
        let act = actionable(post);
        let p = Pending {
            key,
            id: post.id.clone(),
            conv,
            author: post.author.clone(),
            followers: post.followers,
            compound: post.sentiment.map(|s| s.compound),
            snippet: post.text.chars().take(self.cfg.snippet_chars).collect(),
            question: act.question,
            complaint: act.complaint,
            queued: false,
        };
        wc.pending.entry(t).or_default().push(p);
        wc.pending_at.insert(key, t);
        wc.by_conv.entry(conv).or_default().push(key);
    }

    /// Removes `p` (already taken out of `pending`) from the indexes.
    fn forget(wc: &mut WatchCare, t: i64, p: &Pending) {
        if wc.pending.get(&t).is_some_and(Vec::is_empty) {
            wc.pending.remove(&t);
        }
        wc.pending_at.remove(&p.key);
        if let Some(v) = wc.by_conv.get_mut(&p.conv) {
            v.retain(|k| *k != p.key);
            if v.is_empty() {
                wc.by_conv.remove(&p.conv);
            }
        }
    }

    /// Counts an answer at `a` to a post made at `t`.
    fn record(wc: &mut WatchCare, len: i64, sla: i64, t: i64, a: i64) {
        let on_time = a - t <= sla;
        let acc = wc.windows.entry(floor_to(a, len)).or_default();
        acc.responses.push((a - t) as f64 / 1000.0);
        if on_time {
            acc.within += 1;
            acc.due += 1;
            acc.on_time += 1;
            return;
        }
        // Late: the miss counts in the deadline's window, unless that window
        // has closed (then it was counted when it closed).
        let deadline = t + sla;
        if wc.closed_until.is_none_or(|c| deadline >= c) {
            wc.windows.entry(floor_to(deadline, len)).or_default().due += 1;
        }
    }

    /// A brand post at `a` replying to `parent` in `conv`: answers the pending
    /// posts it replies to, and those made earlier in the conversation.
    fn answer(&mut self, w: usize, parent: u64, conv: u64, a: i64, out: &mut Vec<TriageRecord>) {
        let (len, sla) = (self.len_ms, self.cfg.sla.ms());
        let watch_name = self.cfg_watch_name(w);
        let wc = &mut self.watches[w];
        let mut keys: Vec<u64> = wc.by_conv.get(&conv).cloned().unwrap_or_default();
        if !keys.contains(&parent) && wc.pending_at.contains_key(&parent) {
            keys.push(parent);
        }
        for k in keys {
            let Some(&t) = wc.pending_at.get(&k) else {
                continue;
            };
            if t > a || (t == a && k != parent) {
                continue;
            }
            let list = wc.pending.get_mut(&t).expect("indexed");
            let i = list.iter().position(|p| p.key == k).expect("indexed");
            let p = list.remove(i);
            Self::forget(wc, t, &p);
            Self::record(wc, len, sla, t, a);
            if p.queued {
                let secs = (a - t) as f64 / 1000.0;
                out.push(TriageRecord {
                    v: RECORD_VERSION,
                    status: TriageStatus::Answered,
                    id: p.id,
                    watch: watch_name.clone(),
                    text: p.snippet,
                    author: p.author,
                    reach: p.followers,
                    score: score(p.compound, p.followers, a - t),
                    reasons: Actionable {
                        question: p.question,
                        complaint: p.complaint,
                    }
                    .reasons(),
                    time: format_rfc3339(t),
                    event_ms: t,
                    at: format_rfc3339(a),
                    response_seconds: Some(secs),
                    within_sla: Some(a - t <= sla),
                });
            }
        }
    }

    fn cfg_watch_name(&self, w: usize) -> String {
        self.names.get(w).cloned().unwrap_or_default()
    }

    /// Closes window `[start, end)` of watch `w`: posts reaching their
    /// deadline unanswered count as missed, the window's actionable posts are
    /// queued (`open` triage records, highest score first), posts past the
    /// horizon are evicted, and the `response` alert is judged. Returns the
    /// window record's care fields and the metrics report.
    pub fn close_window(
        &mut self,
        w: usize,
        start: i64,
        end: i64,
        triage: &mut Vec<TriageRecord>,
        alerts: &mut Vec<Alert>,
    ) -> Option<(CareCounts, CareReport)> {
        if !self.measures(w) {
            return None;
        }
        let (sla, horizon) = (self.cfg.sla.ms(), self.cfg.horizon.ms());
        let name = self.names[w].clone();
        let wc = &mut self.watches[w];
        let from = wc.closed_until.unwrap_or(i64::MIN).min(start);
        let mut acc = WindowAcc::default();
        // Windows left open by a skipped stretch are folded into this one.
        let keys: Vec<i64> = wc.windows.range(..end).map(|(k, _)| *k).collect();
        for k in keys {
            let a = wc.windows.remove(&k).expect("listed");
            acc.directed += a.directed;
            acc.responses.extend(a.responses);
            acc.within += a.within;
            acc.due += a.due;
            acc.on_time += a.on_time;
        }
        // Deadlines that passed in [from, end).
        let lo = from.saturating_sub(sla);
        let hi = end - sla;
        if lo < hi {
            acc.due += wc
                .pending
                .range(lo..hi)
                .map(|(_, v)| v.len() as u64)
                .sum::<u64>();
        }
        // Queue this window's actionable posts.
        let mut queued = Vec::new();
        for (&t, list) in wc.pending.range_mut(from.min(start)..end) {
            for p in list
                .iter_mut()
                .filter(|p| !p.queued && (p.question || p.complaint))
            {
                p.queued = true;
                queued.push(TriageRecord {
                    v: RECORD_VERSION,
                    status: TriageStatus::Open,
                    id: p.id.clone(),
                    watch: name.clone(),
                    text: p.snippet.clone(),
                    author: p.author.clone(),
                    reach: p.followers,
                    score: score(p.compound, p.followers, end - t),
                    reasons: Actionable {
                        question: p.question,
                        complaint: p.complaint,
                    }
                    .reasons(),
                    time: format_rfc3339(t),
                    event_ms: t,
                    at: format_rfc3339(end),
                    response_seconds: None,
                    within_sla: None,
                });
            }
        }
        queued.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        triage.extend(queued);
        // Evict what is past the horizon.
        let cut = end - horizon;
        let old: Vec<i64> = wc.pending.range(..=cut).map(|(k, _)| *k).collect();
        for t in old {
            let list = wc.pending.remove(&t).expect("listed");
            for p in &list {
                Self::forget(wc, t, p);
                wc.evicted_horizon += 1;
            }
        }
        wc.threads.retain(|_, v| v.1 > cut);
        wc.replies.retain(|_, a| *a > cut);
        wc.conv_replies.retain(|_, v| {
            v.retain(|a| *a > cut);
            !v.is_empty()
        });
        while let Some(&(t, k)) = wc.brand_by_time.first()
            && t <= cut
        {
            wc.brand_by_time.pop_first();
            wc.brand_posts.remove(&k);
        }
        wc.closed_until = Some(end);
        let over_sla = wc
            .pending
            .range(..end - sla)
            .map(|(_, v)| v.len() as u64)
            .sum();
        let mut unanswered = [0u64; 5];
        let mut in_queue = [0u64; 5];
        for (&t, list) in &wc.pending {
            let b = age_bucket(end - t);
            unanswered[b] += list.len() as u64;
            in_queue[b] += list.iter().filter(|p| p.queued).count() as u64;
        }
        let mut sorted = acc.responses.clone();
        let q = median_p90(&mut sorted);
        let win = ResponseWindow {
            due: acc.due,
            on_time: acc.on_time,
            answered: acc.responses.len() as u64,
            p90: q.map(|x| x.1),
        };
        let d = wc.detector.step(&self.cfg.alert, win, start, end, || {
            format!("{name}/all/response/{}", format_rfc3339(start))
        });
        if let Some(a) = response_alert(&name, start, end, &win, d.transition, d.evidence) {
            alerts.push(a);
        }
        let counts = CareCounts {
            directed: acc.directed,
            answered: acc.responses.len() as u64,
            answered_within_sla: acc.within,
            response_p50_seconds: q.map(|x| x.0),
            response_p90_seconds: q.map(|x| x.1),
            response_firing: d.firing,
        };
        let report = CareReport {
            v: RECORD_VERSION,
            watch: name,
            end_ms: end,
            directed: acc.directed,
            responses: acc
                .responses
                .iter()
                .map(|&s| Response {
                    seconds: s,
                    within_sla: s * 1000.0 <= sla as f64,
                })
                .collect(),
            unanswered,
            queued: in_queue,
            evicted_horizon: std::mem::take(&mut wc.evicted_horizon),
            evicted_cap: std::mem::take(&mut wc.evicted_cap),
            evicted_brand: std::mem::take(&mut wc.evicted_brand),
            over_sla,
        };
        Some((counts, report))
    }

    /// The stream stopped: an open `response` episode of watch `w` resolves (`gap`).
    pub fn gap(&mut self, w: usize, start: i64, end: i64) -> Option<Alert> {
        let t = self.watches[w].detector.end_for_gap(end);
        let win = ResponseWindow::default();
        let ev = Evidence {
            test: "response_rate".into(),
            scale: crate::duration::Span(end - start).to_string(),
            since_ms: start,
            observed: 0.0,
            expected: 0.0,
            baseline: 0.0,
            seasonal_factor: None,
            posts: 0,
            statistic: 0.0,
            p_value: 1.0,
            dispersion: 1.0,
        };
        response_alert(&self.names[w], start, end, &win, t, ev)
    }
}

/// A `response` alert record for a transition, if any. `volume` holds the
/// posts due in the window; the rates and times are in `evidence`.
fn response_alert(
    watch: &str,
    start: i64,
    end: i64,
    win: &ResponseWindow,
    t: Transition,
    evidence: Evidence,
) -> Option<Alert> {
    let (id, state, since, why): (String, AlertState, i64, Option<Resolution>) = match t {
        Transition::None => return None,
        Transition::Fire(id) => (id, AlertState::Firing, start, None),
        Transition::Resolve(id, since, why) => (id, AlertState::Resolved, since, Some(why)),
    };
    Some(Alert {
        v: RECORD_VERSION,
        alert_id: id,
        kind: AlertKind::Response,
        watch: watch.to_owned(),
        lang: crate::aggregate::ALL_LANGS.to_owned(),
        state,
        window_start: format_rfc3339(start),
        window_end: format_rfc3339(end),
        volume: win.due,
        scored: 0,
        negative: 0,
        negative_share: 0.0,
        baseline_share: 0.0,
        baseline_volume: 0.0,
        p_value: evidence.p_value,
        top_terms: Vec::new(),
        sample_ids: Vec::new(),
        samples: Vec::new(),
        episode_start: format_rfc3339(since),
        evidence: Some(Box::new(evidence)),
        resolution: why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Span;

    fn care(max_pending: usize) -> Care {
        let mut cfg = CareConfig {
            horizon: Span::hours(2),
            max_pending,
            ..CareConfig::default()
        };
        cfg.accounts.insert("acme".into(), vec!["@AcmeHelp".into()]);
        Care::new(cfg, &["acme".to_string()], 300_000)
    }

    fn post(id: &str, t: i64, author: &str, text: &str) -> Post {
        let mut p = Post::new(id, t, text);
        p.author = Some(author.into());
        p
    }

    #[test]
    fn state_is_bounded_by_the_cap_and_the_horizon() {
        let mut c = care(2);
        let mut out = Vec::new();
        for i in 0..3 {
            let p = post(&format!("{i}"), i * 60_000, "u", "@acmehelp where?");
            c.on_post(0, &p, i as u64, &mut out);
        }
        assert_eq!(c.watch(0).unanswered(), 2);
        let (mut tr, mut al) = (Vec::new(), Vec::new());
        let (_, r) = c.close_window(0, 0, 300_000, &mut tr, &mut al).unwrap();
        assert_eq!((r.evicted_cap, r.evicted_horizon), (1, 0));
        assert_eq!(tr.len(), 2);
        assert_eq!(r.unanswered, [2, 0, 0, 0, 0]);
        let end = 2 * 3_600_000 + 300_000;
        let (_, r) = c
            .close_window(0, end - 300_000, end, &mut tr, &mut al)
            .unwrap();
        assert_eq!((r.evicted_cap, r.evicted_horizon), (0, 2));
        assert_eq!(r.unanswered, [0; 5]);
        assert_eq!(c.watch(0).held(), 0);
    }

    #[test]
    fn directed_means_at_the_accounts_not_by_them_not_retweeted() {
        let mut c = care(10);
        let mut out = Vec::new();
        let cases = [
            (post("1", 0, "u", "hi @AcmeHelp!"), 1),
            (post("2", 0, "acmehelp", "@acmehelp here for you"), 0),
            (post("3", 0, "u", "mail me@acmehelp.com"), 0),
            (post("4", 0, "u", "@acmehelpdesk is not acme"), 0),
            (
                {
                    let mut p = post("5", 0, "u", "@acmehelp hi");
                    p.retweet = true;
                    p
                },
                0,
            ),
            (
                {
                    let mut p = post("6", 0, "u", "no mention, a reply");
                    p.reply_to = Some("99".into());
                    p.reply_to_author = Some("ACMEHELP".into());
                    p
                },
                1,
            ),
        ];
        for (p, want) in cases {
            let before = c.watch(0).unanswered();
            c.on_post(0, &p, crate::aggregate::id_key(&p.id), &mut out);
            assert_eq!(c.watch(0).unanswered() - before, want, "{}", p.text);
        }
    }
    fn reply(id: &str, t: i64, author: &str, parent: &str) -> Post {
        let mut p = post(id, t, author, "#acmefail no mention here");
        p.reply_to = Some(parent.into());
        p
    }

    fn on(c: &mut Care, p: &Post) {
        c.on_post(0, p, crate::aggregate::id_key(&p.id), &mut Vec::new());
    }

    #[test]
    fn a_reply_naming_only_a_brand_post_as_parent_is_directed() {
        let mut c = care(10);
        on(&mut c, &post("b1", 0, "AcmeHelp", "we are here"));
        on(&mut c, &post("u1", 0, "bob", "lunch"));
        on(&mut c, &reply("r1", 60_000, "u", "b1"));
        assert_eq!(c.watch(0).unanswered(), 1);
        // Another user's parent, or an unknown one, is not the brand's.
        on(&mut c, &reply("r2", 60_000, "u", "u1"));
        on(&mut c, &reply("r3", 60_000, "u", "unseen"));
        assert_eq!(c.watch(0).unanswered(), 1);
        // A parent author named by the payload is taken as given.
        let mut named = reply("r4", 60_000, "u", "b1");
        named.reply_to_author = Some("bob".into());
        on(&mut c, &named);
        assert_eq!(c.watch(0).unanswered(), 1);
        // A brand reply naming only the parent's id answers it.
        on(&mut c, &reply("b2", 120_000, "acmehelp", "r1"));
        assert_eq!(c.watch(0).unanswered(), 0);
    }

    #[test]
    fn brand_posts_are_bounded_by_the_cap_and_the_horizon() {
        let mut c = care(2);
        for i in 0..3 {
            on(
                &mut c,
                &post(&format!("b{i}"), i * 60_000, "acmehelp", "hi"),
            );
        }
        // The oldest was evicted: a reply to it is no longer known as directed.
        on(&mut c, &reply("r0", 200_000, "u", "b0"));
        on(&mut c, &reply("r2", 200_000, "u", "b2"));
        assert_eq!(c.watch(0).unanswered(), 1);
        let (mut tr, mut al) = (Vec::new(), Vec::new());
        let (_, r) = c.close_window(0, 0, 300_000, &mut tr, &mut al).unwrap();
        assert_eq!((r.evicted_brand, r.evicted_cap), (1, 0));
        let end = 2 * 3_600_000 + 300_000;
        let (_, r) = c
            .close_window(0, end - 300_000, end, &mut tr, &mut al)
            .unwrap();
        assert_eq!(r.evicted_brand, 0);
        assert_eq!(c.watch(0).held(), 0);
        on(&mut c, &reply("r1", end, "u", "b1"));
        assert_eq!(c.watch(0).unanswered(), 0);
    }

    #[test]
    fn snapshots_without_brand_posts_still_restore() {
        let mut c = care(10);
        on(&mut c, &post("b1", 0, "acmehelp", "hi"));
        let mut v = serde_json::to_value(c.watch(0)).unwrap();
        assert!(!v["brand_posts"].as_object().unwrap().is_empty());
        let m = v.as_object_mut().unwrap();
        for k in ["brand_posts", "brand_by_time", "evicted_brand"] {
            m.remove(k).unwrap();
        }
        let old: WatchCare = serde_json::from_value(v).unwrap();
        c.restore(0, old);
        on(&mut c, &reply("r1", 60_000, "u", "b1"));
        assert_eq!(c.watch(0).unanswered(), 0);
    }

    #[test]
    fn unanswered_over_the_sla_follows_the_configured_sla() {
        let mut cfg = CareConfig {
            sla: Span::minutes(15),
            ..CareConfig::default()
        };
        cfg.accounts.insert("acme".into(), vec!["acmehelp".into()]);
        let mut c = Care::new(cfg, &["acme".to_string()], 300_000);
        // Ages at the window's end (40 min): 40, 25, 16, 15 and 5 minutes.
        for (i, m) in [0, 15, 24, 25, 35].into_iter().enumerate() {
            on(
                &mut c,
                &post(&format!("{i}"), m * 60_000, "u", "@acmehelp hi?"),
            );
        }
        let (mut tr, mut al) = (Vec::new(), Vec::new());
        let end = 40 * 60_000;
        let (_, r) = c
            .close_window(0, end - 300_000, end, &mut tr, &mut al)
            .unwrap();
        // Exactly 15 minutes old is still within the SLA.
        assert_eq!(r.over_sla, 3);
        assert_eq!(r.unanswered.iter().sum::<u64>(), 5);
    }
}
