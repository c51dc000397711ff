//! Volume alerts scored against the Numenta Anomaly Benchmark's labelled
//! `realTweets` series (5-minute mention counts of ten tickers).
//!
//! Each series is stepped through [`KeyDetector`], the aggregator's own
//! per-key decision, one 5-minute count per window. A detection is a volume
//! episode firing. Scoring follows NAB's sweeper with the standard profile
//! (TP 1.0, FP 0.11, FN 1.0): the first detection in a window scores
//! `sigmoid(position)` (1.0 at the window's start, 0 at its end); a detection
//! outside every window costs `0.11 * sigmoid(distance past the previous
//! window)` (the full 0.11 when no window precedes it); each undetected
//! window costs 1.0; detections in the probationary period (the first 15% of
//! rows, at most 750) count for nothing. The normalised score is
//! `100 * (raw - null) / (perfect - null)` over the ten series, the null
//! detector being one that never fires.
//!
//! Simplification: the detector is binary, so NAB's threshold sweep has
//! nothing to optimise; the score is that of the configuration as given.

use canary_core::aggregate::{
    AggregateConfig, KeyDetector, Transition, WindowCounts, window_decay,
};
use std::path::Path;

const FIVE_MIN: i64 = 5 * 60_000;

/// The ten realTweets tickers.
pub const TICKERS: [&str; 10] = [
    "AAPL", "AMZN", "CRM", "CVS", "FB", "GOOG", "IBM", "KO", "PFE", "UPS",
];

/// One series with its labelled windows (row index ranges, inclusive).
#[derive(Debug, Clone)]
pub struct Series {
    /// Ticker.
    pub name: String,
    /// (epoch ms, count) per 5-minute row, gaps filled with zero counts.
    pub rows: Vec<(i64, u64)>,
    /// Labelled anomaly windows as inclusive row-index ranges.
    pub windows: Vec<(usize, usize)>,
}

fn parse_ts(s: &str) -> Option<i64> {
    let s = s.trim().trim_matches('"');
    let s = s.split('.').next()?;
    canary_core::time::parse_rfc3339(&format!("{}Z", s.replacen(' ', "T", 1)))
}

/// Loads one ticker from the shared `nab_realTweets` folder.
pub fn load(dir: &Path, ticker: &str) -> std::io::Result<Series> {
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let csv = std::fs::read_to_string(dir.join(format!("Twitter_volume_{ticker}.csv")))?;
    let mut rows: Vec<(i64, u64)> = Vec::new();
    for l in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let (t, v) = l
            .split_once(',')
            .ok_or_else(|| bad(format!("bad row {l:?}")))?;
        let t = parse_ts(t).ok_or_else(|| bad(format!("bad time {t:?}")))?;
        let v: u64 = v
            .trim()
            .parse()
            .map_err(|_| bad(format!("bad count {v:?}")))?;
        // Missing rows are windows in which nothing was counted.
        while let Some(&(last, _)) = rows.last() {
            if t - last <= FIVE_MIN {
                break;
            }
            rows.push((last + FIVE_MIN, 0));
        }
        rows.push((t, v));
    }
    let labels = std::fs::read_to_string(dir.join("labels/combined_windows.json"))?;
    let labels: serde_json::Value = serde_json::from_str(&labels).map_err(std::io::Error::other)?;
    let key = format!("realTweets/Twitter_volume_{ticker}.csv");
    let mut windows = Vec::new();
    for w in labels[&key].as_array().into_iter().flatten() {
        let (Some(a), Some(b)) = (
            w[0].as_str().and_then(parse_ts),
            w[1].as_str().and_then(parse_ts),
        ) else {
            return Err(bad(format!("bad window {w}")));
        };
        let first = rows.partition_point(|r| r.0 < a);
        let last = rows.partition_point(|r| r.0 <= b).saturating_sub(1);
        windows.push((first, last));
    }
    Ok(Series {
        name: ticker.to_owned(),
        rows,
        windows,
    })
}

/// Row indices where a volume episode fired, stepping `cfg`'s detector over the counts.
pub fn detections(cfg: &AggregateConfig, s: &Series) -> Vec<usize> {
    let decay = window_decay(cfg);
    let mut key = KeyDetector::default();
    let mut fired = Vec::new();
    for (i, &(t, v)) in s.rows.iter().enumerate() {
        let c = WindowCounts {
            volume: v,
            scored: 0,
            negative: 0,
        };
        let d = key.step(cfg, decay, c, t, t + FIVE_MIN, |k| k.as_str().to_owned());
        if matches!(d.volume, Transition::Fire(_)) {
            fired.push(i);
        }
    }
    fired
}

fn scaled_sigmoid(x: f64) -> f64 {
    if x > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * x).exp()) - 1.0
    }
}

/// NAB figures for one series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NabScore {
    /// Labelled windows.
    pub windows: usize,
    /// Windows with at least one detection.
    pub detected: usize,
    /// Detections outside every window (after the probationary period).
    pub false_positives: usize,
    /// Detections in total.
    pub detections: usize,
    /// Raw NAB score, standard profile.
    pub raw: f64,
}

/// Scores `fired` row indices against `s`'s windows (see the module docs).
pub fn score(s: &Series, fired: &[usize]) -> NabScore {
    let (tp_w, fp_w, fn_w) = (1.0, 0.11, 1.0);
    let probation = ((0.15 * s.rows.len() as f64).floor() as usize).min(750);
    let max_tp = scaled_sigmoid(-1.0);
    let mut hit = vec![false; s.windows.len()];
    let mut out = NabScore {
        windows: s.windows.len(),
        detections: fired.len(),
        ..Default::default()
    };
    for &i in fired {
        if i < probation {
            continue;
        }
        if let Some(w) = s.windows.iter().position(|&(a, b)| (a..=b).contains(&i)) {
            if !hit[w] {
                hit[w] = true;
                let (a, b) = s.windows[w];
                let width = (b - a + 1) as f64;
                let pos = -((b - i + 1) as f64) / width;
                out.raw += scaled_sigmoid(pos) * tp_w / max_tp;
            }
        } else {
            out.false_positives += 1;
            let prev = s.windows.iter().rev().find(|&&(_, b)| b < i);
            let unweighted = match prev {
                None => -1.0,
                Some(&(a, b)) => {
                    let width = (b - a + 1) as f64;
                    scaled_sigmoid((i - b) as f64 / (width - 1.0).max(1.0))
                }
            };
            out.raw += unweighted * fp_w;
        }
    }
    out.detected = hit.iter().filter(|&&h| h).count();
    out.raw -= fn_w * (out.windows - out.detected) as f64;
    out
}

/// Normalised NAB score over several series: 100 perfect, 0 the null detector.
pub fn normalised(scores: &[NabScore]) -> f64 {
    let windows: usize = scores.iter().map(|s| s.windows).sum();
    let raw: f64 = scores.iter().map(|s| s.raw).sum();
    let null = -(windows as f64);
    let perfect = windows as f64;
    100.0 * (raw - null) / (perfect - null)
}

/// Runs every ticker and returns a Markdown table plus the scores.
pub fn evaluate(dir: &Path, cfg: &AggregateConfig) -> std::io::Result<(String, Vec<NabScore>)> {
    let mut table = String::from(
        "| ticker | windows | detected | recall | detections | false positives | raw NAB score |\n|---|---|---|---|---|---|---|\n",
    );
    let mut all = Vec::new();
    for t in TICKERS {
        let s = load(dir, t)?;
        let sc = score(&s, &detections(cfg, &s));
        table.push_str(&format!(
            "| {t} | {} | {} | {:.2} | {} | {} | {:.3} |\n",
            sc.windows,
            sc.detected,
            sc.detected as f64 / sc.windows.max(1) as f64,
            sc.detections,
            sc.false_positives,
            sc.raw
        ));
        all.push(sc);
    }
    let w: usize = all.iter().map(|s| s.windows).sum();
    let d: usize = all.iter().map(|s| s.detected).sum();
    let fp: usize = all.iter().map(|s| s.false_positives).sum();
    let n: usize = all.iter().map(|s| s.detections).sum();
    table.push_str(&format!(
        "| **all** | {w} | {d} | {:.2} | {n} | {fp} | normalised score **{:.1}** |\n",
        d as f64 / w.max(1) as f64,
        normalised(&all)
    ));
    Ok((table, all))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize, windows: Vec<(usize, usize)>) -> Series {
        Series {
            name: "x".into(),
            rows: (0..n).map(|i| (i as i64 * FIVE_MIN, 10)).collect(),
            windows,
        }
    }

    #[test]
    fn nab_scoring_rewards_early_detection_and_charges_misses_and_false_positives() {
        let s = series(1000, vec![(500, 599), (800, 899)]);
        // Null detector: -1 per window; perfect is +1 per window.
        assert_eq!(score(&s, &[]).raw, -2.0);
        let early = score(&s, &[500, 800]);
        assert!((early.raw - 2.0).abs() < 1e-9, "{early:?}");
        let late = score(&s, &[599, 899]);
        assert!(late.raw > 0.0 && late.raw < 0.1, "{late:?}");
        // A second detection in the same window adds nothing.
        assert_eq!(score(&s, &[500, 510]).raw, score(&s, &[500]).raw);
        // A false positive long after a window costs the full FP weight; in
        // probation (first 150 rows) it costs nothing.
        let fp = score(&s, &[500, 800, 999]);
        assert_eq!(fp.false_positives, 1);
        assert!(fp.raw < 2.0 && fp.raw > 2.0 - 0.11 - 1e-9);
        assert_eq!(score(&s, &[500, 800, 10]).raw, early.raw);
        let all = [early.clone(), score(&s, &[])];
        assert!((normalised(&all) - 50.0).abs() < 1e-9);
    }

    #[test]
    fn a_tenfold_burst_in_a_flat_series_is_detected_at_its_start() {
        let mut s = series(600, vec![(400, 420)]);
        for r in &mut s.rows {
            r.1 = 100;
        }
        for r in &mut s.rows[405..410] {
            r.1 = 1000;
        }
        let cfg = AggregateConfig::default();
        assert_eq!(detections(&cfg, &s), vec![405]);
    }
}
