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

use canary_core::aggregate::{AggregateConfig, KeyDetector, Params, Transition, WindowCounts};
use std::path::Path;

const FIVE_MIN: i64 = 5 * 60_000;

/// The ten realTweets tickers.
pub const TICKERS: [&str; 10] = [
    "AAPL", "AMZN", "CRM", "CVS", "FB", "GOOG", "IBM", "KO", "PFE", "UPS",
];

/// One series with its labelled windows.
#[derive(Debug, Clone)]
pub struct Series {
    /// Ticker.
    pub name: String,
    /// (epoch ms, count) per 5-minute row, gaps filled with zero counts: what
    /// a detector sees, window by window.
    pub rows: Vec<(i64, u64)>,
    /// Timestamps of the file's own rows, without the filled gaps: what NAB scores.
    pub times: Vec<i64>,
    /// Labelled anomaly windows as inclusive (start, end) timestamps, each on a row.
    pub windows: Vec<(i64, i64)>,
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
    let mut times = Vec::new();
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
        times.push(t);
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
        if times.binary_search(&a).is_err() || times.binary_search(&b).is_err() {
            return Err(bad(format!("window {w} does not start and end on rows")));
        }
        windows.push((a, b));
    }
    Ok(Series {
        name: ticker.to_owned(),
        rows,
        times,
        windows,
    })
}

/// Steps `cfg`'s detector over the counts and keeps the timestamps of the
/// windows whose decision `keep` accepts.
fn step_series(
    cfg: &AggregateConfig,
    s: &Series,
    keep: impl Fn(&canary_core::aggregate::Decision) -> bool,
) -> Vec<i64> {
    let mut key = KeyDetector::default();
    let params = Params::new(cfg);
    let mut out = Vec::new();
    for &(t, v) in &s.rows {
        let c = WindowCounts {
            volume: v,
            scored: 0,
            negative: 0,
        };
        let d = key.step(cfg, &params, c, t, t + FIVE_MIN, |k| k.as_str().to_owned());
        if keep(&d) {
            out.push(t);
        }
    }
    out
}

/// Timestamps of the windows during which a volume episode was open (its
/// firing window included): the anomaly score is 1 while canary says
/// "firing", 0 otherwise.
pub fn firing_windows(cfg: &AggregateConfig, s: &Series) -> Vec<i64> {
    step_series(cfg, s, |d| {
        d.volume_firing || matches!(d.volume, Transition::Resolve(..))
    })
}

/// Timestamps at which a volume episode fired.
pub fn detections(cfg: &AggregateConfig, s: &Series) -> Vec<i64> {
    step_series(cfg, s, |d| matches!(d.volume, Transition::Fire(_)))
}

fn scaled_sigmoid(x: f64) -> f64 {
    if x > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * x).exp()) - 1.0
    }
}

/// A NAB cost profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Name as in NAB's `config/profiles.json`.
    pub name: &'static str,
    /// Weight of a true positive.
    pub tp: f64,
    /// Weight of a false positive.
    pub fp: f64,
    /// Weight of a missed window.
    pub fn_: f64,
}

/// NAB's standard profile.
pub const STANDARD: Profile = Profile {
    name: "standard",
    tp: 1.0,
    fp: 0.11,
    fn_: 1.0,
};

/// NAB's profile that rewards a low false-positive rate.
pub const REWARD_LOW_FP: Profile = Profile {
    name: "reward_low_FP_rate",
    tp: 1.0,
    fp: 0.22,
    fn_: 1.0,
};

/// NAB figures for one series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NabScore {
    /// Labelled windows scored (those not wholly in the probationary period).
    pub windows: usize,
    /// Windows with at least one detection.
    pub detected: usize,
    /// Detections outside every window (after the probationary period).
    pub false_positives: usize,
    /// Detections in total.
    pub detections: usize,
    /// Raw NAB score under the profile.
    pub raw: f64,
}

/// Scores detections (timestamps; one that falls between rows counts on the
/// next row) against `s`'s windows, as NAB's sweeper does at one threshold:
/// rows are walked in order; a row in a window scores the scaled sigmoid of
/// its position (1 at the window's start, 0 at its end) and only a window's
/// best (first) detection counts; a row outside every window costs
/// `fp * sigmoid(distance past the previous window / its width)`, the full `fp`
/// before any window; an undetected window costs `fn`; the probationary
/// period (15% of rows, at most 750) is not scored at all.
pub fn score(s: &Series, fired: &[i64], p: Profile) -> NabScore {
    let n = s.times.len();
    let probation = ((0.15 * n as f64).floor() as usize).min(750);
    let max_tp = scaled_sigmoid(-1.0);
    let mut flagged = vec![false; n];
    for &t in fired {
        let i = s.times.partition_point(|&x| x < t);
        if i < n {
            flagged[i] = true;
        }
    }
    let mut parts: Vec<Option<f64>> = vec![None; s.windows.len()];
    let mut out = NabScore {
        detections: fired.len(),
        ..Default::default()
    };
    let mut pending = s.windows.iter().enumerate().peekable();
    let mut cur: Option<(usize, usize, f64, i64)> = None;
    let mut prev: Option<(usize, f64)> = None;
    for (i, &t) in s.times.iter().enumerate() {
        if let Some(&(w, &(a, b))) = pending.peek()
            && t == a
        {
            pending.next();
            let right = s.times.partition_point(|&x| x < b);
            cur = Some((w, right, (right - i + 1) as f64, b));
        }
        let (sweep, window) = match cur {
            Some((w, right, width, _)) => {
                let pos = -((right as f64 - i as f64 + 1.0) / width);
                (scaled_sigmoid(pos) * p.tp / max_tp, Some(w))
            }
            None => {
                let u = match prev {
                    None => -1.0,
                    Some((right, width)) => {
                        scaled_sigmoid((i - right) as f64 / (width - 1.0).max(1.0))
                    }
                };
                (u * p.fp, None)
            }
        };
        if i >= probation {
            match window {
                Some(w) => {
                    let part = parts[w].get_or_insert(-p.fn_);
                    if flagged[i] {
                        *part = part.max(sweep);
                    }
                }
                None if flagged[i] => {
                    out.false_positives += 1;
                    out.raw += sweep;
                }
                None => {}
            }
        }
        if let Some((_, right, width, b)) = cur
            && t == b
        {
            prev = Some((right, width));
            cur = None;
        }
    }
    for part in parts.into_iter().flatten() {
        out.windows += 1;
        if part > -p.fn_ {
            out.detected += 1;
        }
        out.raw += part;
    }
    out
}

/// Normalised NAB score over several series: 100 perfect, 0 the null detector.
pub fn normalised(scores: &[NabScore], p: Profile) -> f64 {
    let windows: usize = scores.iter().map(|s| s.windows).sum();
    let raw: f64 = scores.iter().map(|s| s.raw).sum();
    let null = -(windows as f64) * p.fn_;
    let perfect = windows as f64 * p.tp;
    100.0 * (raw - null) / (perfect - null)
}

/// Every ticker's series.
pub fn load_all(dir: &Path) -> std::io::Result<Vec<Series>> {
    TICKERS.iter().map(|t| load(dir, t)).collect()
}

/// One published detector's detections under one profile: (detector,
/// profile name, per ticker the timestamps).
pub type Published = (String, String, Vec<(String, Vec<i64>)>);

/// The published NAB detectors' detections on realTweets at their published
/// thresholds (`data/nab_published.json`, extracted from NAB's result files
/// by `data/nab_published.py`): (detector, profile name, ticker → timestamps).
pub fn published() -> Vec<Published> {
    let raw = include_str!("../data/nab_published.json");
    let v: serde_json::Value = serde_json::from_str(raw).expect("valid JSON");
    let mut out = Vec::new();
    for (det, profiles) in v.as_object().expect("object") {
        for (prof, body) in profiles.as_object().expect("object") {
            let mut series = Vec::new();
            for t in TICKERS {
                let ts = body["detections"][t]
                    .as_array()
                    .expect("array")
                    .iter()
                    .map(|x| parse_ts(x.as_str().expect("string")).expect("timestamp"))
                    .collect();
                series.push((t.to_owned(), ts));
            }
            out.push((det.clone(), prof.clone(), series));
        }
    }
    out
}

/// Runs every ticker and returns a Markdown table plus the scores under `p`.
pub fn evaluate(series: &[Series], cfg: &AggregateConfig, p: Profile) -> (String, Vec<NabScore>) {
    let mut table = String::from(
        "| ticker | windows | detected | recall | detections | false positives | raw NAB score |\n|---|---|---|---|---|---|---|\n",
    );
    let mut all = Vec::new();
    for s in series {
        let sc = score(s, &detections(cfg, s), p);
        table.push_str(&format!(
            "| {} | {} | {} | {:.2} | {} | {} | {:.3} |\n",
            s.name,
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
        normalised(&all, p)
    ));
    (table, all)
}

/// Normalised scores of canary (default detections) and of every published
/// detector, under the standard and reward-low-FP profiles, as a Markdown
/// table sorted by the standard score.
pub fn comparison(series: &[Series], cfg: &AggregateConfig) -> String {
    let profiles = [STANDARD, REWARD_LOW_FP];
    let mut rows: Vec<(String, [f64; 2], [usize; 2])> = Vec::new();
    for (label, f) in [
        (
            "**canary**, every window of an open episode",
            firing_windows as fn(&AggregateConfig, &Series) -> Vec<i64>,
        ),
        ("**canary**, the window each episode fires", detections),
    ] {
        let mine: Vec<Vec<i64>> = series.iter().map(|s| f(cfg, s)).collect();
        let mut canary = ([0.0; 2], [0; 2]);
        for (k, p) in profiles.iter().enumerate() {
            let sc: Vec<NabScore> = series
                .iter()
                .zip(&mine)
                .map(|(s, d)| score(s, d, *p))
                .collect();
            canary.0[k] = normalised(&sc, *p);
            canary.1[k] = sc.iter().map(|s| s.false_positives).sum();
        }
        rows.push((label.into(), canary.0, canary.1));
    }
    let published = published();
    let mut names: Vec<&String> = published.iter().map(|(d, _, _)| d).collect();
    names.dedup();
    for name in names {
        let mut figs = ([0.0; 2], [0; 2]);
        for (k, p) in profiles.iter().enumerate() {
            let Some((_, _, det)) = published
                .iter()
                .find(|(d, prof, _)| d == name && prof == p.name)
            else {
                continue;
            };
            let sc: Vec<NabScore> = series
                .iter()
                .map(|s| {
                    let d = det
                        .iter()
                        .find(|(t, _)| *t == s.name)
                        .map_or(&[][..], |(_, d)| &d[..]);
                    score(s, d, *p)
                })
                .collect();
            figs.0[k] = normalised(&sc, *p);
            figs.1[k] = sc.iter().map(|s| s.false_positives).sum();
        }
        rows.push((name.clone(), figs.0, figs.1));
    }
    rows.sort_by(|a, b| b.1[0].total_cmp(&a.1[0]));
    let mut t = String::from(
        "| detector | standard | reward low FP | false positives (standard) |\n|---|---|---|---|\n",
    );
    for (name, s, fp) in rows {
        t.push_str(&format!(
            "| {name} | {:.1} | {:.1} | {} |\n",
            s[0], s[1], fp[0]
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize, windows: Vec<(usize, usize)>) -> Series {
        let t = |i: usize| i as i64 * FIVE_MIN;
        Series {
            name: "x".into(),
            rows: (0..n).map(|i| (t(i), 10)).collect(),
            times: (0..n).map(t).collect(),
            windows: windows.into_iter().map(|(a, b)| (t(a), t(b))).collect(),
        }
    }

    fn at(rows: &[usize]) -> Vec<i64> {
        rows.iter().map(|&i| i as i64 * FIVE_MIN).collect()
    }

    #[test]
    fn nab_scoring_rewards_early_detection_and_charges_misses_and_false_positives() {
        let s = series(1000, vec![(500, 599), (800, 899)]);
        // Null detector: -1 per window; perfect is +1 per window.
        assert_eq!(score(&s, &at(&[]), STANDARD).raw, -2.0);
        let early = score(&s, &at(&[500, 800]), STANDARD);
        assert!((early.raw - 2.0).abs() < 1e-9, "{early:?}");
        let late = score(&s, &at(&[599, 899]), STANDARD);
        assert!(late.raw > 0.0 && late.raw < 0.1, "{late:?}");
        // A second detection in the same window adds nothing.
        assert_eq!(
            score(&s, &at(&[500, 510]), STANDARD).raw,
            score(&s, &at(&[500]), STANDARD).raw
        );
        // A false positive long after a window costs the full FP weight; in
        // probation (first 150 rows) it costs nothing.
        let fp = score(&s, &at(&[500, 800, 999]), STANDARD);
        assert_eq!(fp.false_positives, 1);
        assert!(fp.raw < 2.0 && fp.raw > 2.0 - 0.11 - 1e-9);
        assert_eq!(score(&s, &at(&[500, 800, 10]), STANDARD).raw, early.raw);
        let all = [early.clone(), score(&s, &at(&[]), STANDARD)];
        // The reward-low-FP profile charges twice as much per false positive.
        let fp2 = score(&s, &at(&[500, 800, 999]), REWARD_LOW_FP);
        assert!((2.0 - fp2.raw - 2.0 * (2.0 - fp.raw)).abs() < 1e-9);
        assert!((normalised(&all, STANDARD) - 50.0).abs() < 1e-9);
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
        assert_eq!(detections(&cfg, &s), at(&[405]));
    }
}
