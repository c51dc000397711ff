//! Series as the report draws them: every window while they fit, else the
//! minimum and maximum of each bucket of windows, so a one-window spike in a
//! month of data still reaches its full height.

use crate::collect::Window;
use serde::Serialize;

/// Points per series the report draws at most: about one per pixel column of
/// a chart, and what keeps a month of 20 watches well under 5 MB.
pub const MAX_BUCKETS: usize = 600;

/// One (watch, language) series, column by column.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Series {
    /// Language code or `all`.
    pub lang: String,
    /// Span of a bucket, ms: the window size when nothing is merged.
    pub bucket_ms: i64,
    /// Windows the series holds before downsampling.
    pub windows: usize,
    /// Each bucket's start, epoch ms (its first window's start).
    pub t: Vec<i64>,
    /// Smallest window volume in the bucket.
    pub volume_min: Vec<u64>,
    /// Largest window volume in the bucket.
    pub volume_max: Vec<u64>,
    /// Scored posts, summed over the bucket.
    pub scored: Vec<u64>,
    /// Negative posts, summed over the bucket.
    pub negative: Vec<u64>,
    /// Smallest window negative share in the bucket (4 decimals).
    pub share_min: Vec<f64>,
    /// Largest window negative share in the bucket (4 decimals).
    pub share_max: Vec<f64>,
    /// The baseline share before the bucket's last window, where known.
    pub baseline: Vec<Option<f64>>,
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

fn share(w: &Window) -> f64 {
    if w.scored == 0 {
        0.0
    } else {
        w.negative as f64 / w.scored as f64
    }
}

/// The series of `windows` (in time order, each `window_ms` long) in at
/// most `max_buckets` buckets of whole windows.
pub fn downsample(lang: &str, windows: &[Window], window_ms: i64, max_buckets: usize) -> Series {
    let mut s = Series {
        lang: lang.to_owned(),
        windows: windows.len(),
        ..Default::default()
    };
    let (Some(first), Some(last)) = (windows.first(), windows.last()) else {
        s.bucket_ms = window_ms;
        return s;
    };
    let window_ms = window_ms.max(1);
    let span = (last.start_ms - first.start_ms) / window_ms + 1;
    let per_bucket = (span as u64).div_ceil(max_buckets.max(1) as u64).max(1) as i64;
    s.bucket_ms = window_ms * per_bucket;
    let mut current = None;
    for w in windows {
        let b = (w.start_ms - first.start_ms).div_euclid(s.bucket_ms);
        let sh = round4(share(w));
        if current == Some(b) {
            let i = s.t.len() - 1;
            s.volume_min[i] = s.volume_min[i].min(w.volume);
            s.volume_max[i] = s.volume_max[i].max(w.volume);
            s.scored[i] += w.scored;
            s.negative[i] += w.negative;
            s.share_min[i] = s.share_min[i].min(sh);
            s.share_max[i] = s.share_max[i].max(sh);
            s.baseline[i] = w.baseline_share.map(round4);
        } else {
            current = Some(b);
            s.t.push(w.start_ms);
            s.volume_min.push(w.volume);
            s.volume_max.push(w.volume);
            s.scored.push(w.scored);
            s.negative.push(w.negative);
            s.share_min.push(sh);
            s.share_max.push(sh);
            s.baseline.push(w.baseline_share.map(round4));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(i: i64, volume: u64, negative: u64) -> Window {
        Window {
            start_ms: i * 300_000,
            volume,
            scored: volume,
            negative,
            baseline_share: Some(0.02),
        }
    }

    #[test]
    fn short_series_keep_every_window() {
        let ws: Vec<Window> = (0..10).map(|i| w(i, 10 + i as u64, 1)).collect();
        let s = downsample("all", &ws, 300_000, 600);
        assert_eq!(s.bucket_ms, 300_000);
        assert_eq!(s.t.len(), 10);
        assert_eq!(s.volume_max, s.volume_min);
        assert_eq!(s.volume_max[3], 13);
        assert_eq!(s.share_max[0], 0.1);
    }

    #[test]
    fn a_one_window_spike_survives_downsampling() {
        // A month of 5-minute windows, 2% negative, with one window at 60%.
        let mut ws: Vec<Window> = (0..8640).map(|i| w(i, 100, 2)).collect();
        ws[4321] = w(4321, 900, 540);
        let s = downsample("all", &ws, 300_000, 600);
        assert!(s.t.len() <= 600, "{}", s.t.len());
        assert_eq!(s.windows, 8640);
        let top = s.share_max.iter().cloned().fold(0.0, f64::max);
        assert_eq!(top, 0.6, "the spike is not averaged away");
        assert_eq!(s.volume_max.iter().max(), Some(&900));
        assert_eq!(s.volume_min.iter().min(), Some(&100));
        let total: u64 = s.negative.iter().sum();
        assert_eq!(total, 8639 * 2 + 540, "sums keep every post");
    }

    #[test]
    fn gaps_leave_no_empty_buckets() {
        let ws = vec![w(0, 5, 0), w(1000, 7, 1)];
        let s = downsample("en", &ws, 300_000, 600);
        assert_eq!(s.t, vec![0, 1000 * 300_000]);
        assert_eq!(s.volume_max, vec![5, 7]);
    }
}
