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
    /// Per-post latency from ingest to the aggregate stage, when posts got there.
    pub latency: Option<Latency>,
}

/// Percentiles of per-post latency, seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Posts measured.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
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
        )?;
        if let Some(l) = &self.latency {
            let ms = |s: f64| s * 1000.0;
            write!(
                f,
                "\nlatency ingest→aggregate over {} posts: p50 {:.3}ms p90 {:.3}ms p99 {:.3}ms max {:.3}ms",
                l.count,
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.max)
            )?;
        }
        Ok(())
    }
}
