//! The end-of-run summary.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// What a run did, for the log and for tests.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Records read (posts, notices, deletes and dead letters).
    pub read: u64,
    /// Posts parsed.
    pub posts: u64,
    /// Posts skipped by `--from`/`--to`.
    pub out_of_range: u64,
    /// Notices by kind (deletes included).
    pub notices: BTreeMap<String, u64>,
    /// Dead letters by `stage/reason`.
    pub dead_letters: BTreeMap<String, u64>,
    /// Posts matching no watch.
    pub unwatched: u64,
    /// Duplicate posts dropped.
    pub duplicates: u64,
    /// Posts removed or dropped because of delete notices.
    pub deleted: u64,
    /// Posts counted in windows.
    pub counted: u64,
    /// Window summaries emitted.
    pub windows: u64,
    /// Alert records emitted.
    pub alerts: u64,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = if self.seconds > 0.0 {
            self.posts as f64 / self.seconds
        } else {
            0.0
        };
        writeln!(
            f,
            "read {} records: {} posts ({rate:.0} posts/s over {:.2}s)",
            self.read, self.posts, self.seconds
        )?;
        let join = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_owned()
            } else {
                m.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        writeln!(f, "notices: {}", join(&self.notices))?;
        writeln!(f, "dead letters: {}", join(&self.dead_letters))?;
        writeln!(
            f,
            "counted {} posts in windows; unwatched {}, duplicates {}, deleted {}, out of range {}",
            self.counted, self.unwatched, self.duplicates, self.deleted, self.out_of_range
        )?;
        write!(
            f,
            "{} window summaries, {} alert records",
            self.windows, self.alerts
        )
    }
}
