//! Which episodes fire under one config and not the other.
//!
//! Two episodes of the same watch, language and kind that overlap in event
//! time are the same episode: equal starts make no difference, other starts
//! make it `shifted` by a whole number of windows. An episode of A that
//! overlaps none of B's is `removed`; one of B that overlaps none of A's is
//! `added`.

use crate::collect::Episode;
use canary_core::aggregate::AlertKind;
use canary_core::time::format_rfc3339;
use serde::Serialize;
use std::fmt;

/// How an episode differs from A to B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Fires under B only.
    Added,
    /// Fires under A only.
    Removed,
    /// Fires under both, starting at a different window.
    Shifted,
}

impl Change {
    /// Stable name, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Shifted => "shifted",
        }
    }
}

/// One difference between the episodes of two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// What changed.
    pub change: Change,
    /// The episode's id: under B for `added` and `shifted`, under A for `removed`.
    pub alert_id: String,
    /// For `shifted`, the id of the same episode under A.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was_alert_id: Option<String>,
    /// Alert kind.
    pub kind: AlertKind,
    /// Watch name.
    pub watch: String,
    /// Language code or `all`.
    pub lang: String,
    /// Episode start (RFC 3339): under B for `added` and `shifted`, under A for `removed`.
    pub start: String,
    /// For `shifted`, windows from A's start to B's (negative: B fires earlier).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows: Option<i64>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8} {}  {} {} {}  start {}",
            self.change.as_str(),
            self.alert_id,
            self.watch,
            self.lang,
            self.kind.as_str(),
            self.start
        )?;
        if let (Some(n), Some(was)) = (self.windows, &self.was_alert_id) {
            write!(f, "  by {n:+} windows (was {was})")?;
        }
        Ok(())
    }
}

fn overlaps(a: &Episode, b: &Episode) -> bool {
    let end = |e: &Episode| e.end_ms.unwrap_or(i64::MAX);
    a.watch == b.watch
        && a.lang == b.lang
        && a.kind == b.kind
        && a.start_ms < end(b)
        && b.start_ms < end(a)
}

/// The differences from episodes `a` to episodes `b`, ordered by start time;
/// `window_ms` converts a shift into windows.
pub fn compare(a: &[Episode], b: &[Episode], window_ms: i64) -> Vec<Difference> {
    let mut taken = vec![false; b.len()];
    let mut out: Vec<(i64, Difference)> = Vec::new();
    let diff = |change, e: &Episode, was: Option<&Episode>| Difference {
        change,
        alert_id: e.alert_id.clone(),
        was_alert_id: was.map(|w| w.alert_id.clone()),
        kind: e.kind,
        watch: e.watch.clone(),
        lang: e.lang.clone(),
        start: format_rfc3339(e.start_ms),
        windows: was.map(|w| (e.start_ms - w.start_ms) / window_ms.max(1)),
    };
    for ea in a {
        let m = b
            .iter()
            .enumerate()
            .find(|(i, eb)| !taken[*i] && overlaps(ea, eb));
        match m {
            Some((i, eb)) => {
                taken[i] = true;
                if eb.start_ms != ea.start_ms {
                    out.push((eb.start_ms, diff(Change::Shifted, eb, Some(ea))));
                }
            }
            None => out.push((ea.start_ms, diff(Change::Removed, ea, None))),
        }
    }
    for (eb, _) in b.iter().zip(&taken).filter(|(_, t)| !**t) {
        out.push((eb.start_ms, diff(Change::Added, eb, None)));
    }
    out.sort_by(|x, y| (x.0, &x.1.alert_id).cmp(&(y.0, &y.1.alert_id)));
    out.into_iter().map(|(_, d)| d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(id: &str, watch: &str, start: i64, end: Option<i64>) -> Episode {
        Episode {
            alert_id: id.into(),
            kind: AlertKind::NegativeShare,
            watch: watch.into(),
            lang: "all".into(),
            start_ms: start * 300_000,
            end_ms: end.map(|e| e * 300_000),
        }
    }

    #[test]
    fn added_removed_and_shifted() {
        let a = vec![
            ep("same", "acme", 10, Some(14)),
            ep("early", "acme", 20, Some(30)),
            ep("gone", "globex", 5, Some(7)),
        ];
        let b = vec![
            ep("same", "acme", 10, Some(15)),
            ep("late", "acme", 22, None),
            ep("new", "globex", 40, Some(42)),
        ];
        let d = compare(&a, &b, 300_000);
        let lines: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(d.len(), 3, "{lines:#?}");
        assert_eq!(
            (d[0].change, d[0].alert_id.as_str()),
            (Change::Removed, "gone")
        );
        assert_eq!(
            (d[1].change, d[1].alert_id.as_str()),
            (Change::Shifted, "late")
        );
        assert_eq!(d[1].windows, Some(2));
        assert_eq!(d[1].was_alert_id.as_deref(), Some("early"));
        assert_eq!(
            (d[2].change, d[2].alert_id.as_str()),
            (Change::Added, "new")
        );
        assert!(
            lines[1].starts_with("shifted  late  acme all negative_share"),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].ends_with("by +2 windows (was early)"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn other_keys_never_match() {
        let a = vec![ep("x", "acme", 10, Some(14))];
        let mut other = ep("y", "acme", 10, Some(14));
        other.lang = "en".into();
        let d = compare(&a, &[other], 300_000);
        let changes: Vec<Change> = d.iter().map(|d| d.change).collect();
        assert_eq!(changes, vec![Change::Removed, Change::Added]);
        assert!(compare(&a, &a, 300_000).is_empty());
    }
}
