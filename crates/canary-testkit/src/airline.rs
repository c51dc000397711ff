//! The 2015 airline export (`airline_2015/Tweets.csv`) replayed through the
//! aggregator with canary's own VADER scores, against a ground truth derived
//! from the export's human `airline_sentiment` labels.
//!
//! # Watches
//! Six watches, one per airline handle, matched on the text's mentions as a
//! `[[watch]] match = ["@handle"]` would (case-insensitive). The rows labelled
//! `Delta` address @JetBlue, so they land in the `jetblue` watch by their
//! mentions. The replay runs canary's own stages at their defaults (watch
//! matching, language detection, VADER for English); each tweet id counts once.
//!
//! # Ground truth
//! Per watch, time is cut into 6-hour blocks (UTC). With the human labels:
//! - a **negative shift** is a block with at least [`MIN_BLOCK`] tweets whose
//!   negative share is at least 10 points above, and significantly above
//!   (one-sided binomial, p < 0.001), the share of all the watch's *other*
//!   tweets;
//! - a **volume surge** is a block with at least [`MIN_BLOCK`] tweets and at
//!   least three times the watch's median volume of the blocks at the same
//!   time of day, whose human negative share is not a negative shift.
//!
//! Consecutive blocks of one kind make one shift (or surge). A firing alert
//! (all-languages key) counts for it when its window starts within it, or
//! within one block before (a shift may begin before the 6-hour grid says)
//! or after (evidence of a modest shift at tens of posts an hour takes hours
//! to accumulate); the table gives the delay from the shift's start. Every
//! other firing is a false alert of its kind.

use canary_core::aggregate::{AggregateConfig, AggregateOutput, Aggregator, AlertKind, AlertState};
use canary_core::record::{Post, Sentiment};
use canary_core::stats::binomial_upper_tail;
use canary_core::time::format_rfc3339;
use canary_stages::{
    Chain, LanguageConfig, LanguageStage, Normalizer, SentimentConfig, SentimentStage, Verdict,
    WatchConfig,
};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// The six watches and the handle each matches.
pub const WATCHES: [(&str, &str); 6] = [
    ("united", "@united"),
    ("usairways", "@usairways"),
    ("american", "@americanair"),
    ("southwest", "@southwestair"),
    ("jetblue", "@jetblue"),
    ("virgin", "@virginamerica"),
];

/// Tweets a block needs before it is judged at all.
pub const MIN_BLOCK: u64 = 20;
const BLOCK_MS: i64 = 6 * 3_600_000;

/// One labelled tweet.
#[derive(Debug, Clone)]
pub struct Tweet {
    /// Tweet id.
    pub id: String,
    /// Event time, epoch ms (UTC).
    pub event_ms: i64,
    /// Text.
    pub text: String,
    /// The human label is `negative`.
    pub human_negative: bool,
    /// canary's VADER score.
    pub sentiment: Sentiment,
    /// Watches whose handle the text mentions.
    pub watches: Vec<usize>,
}

fn parse_time(s: &str) -> Option<i64> {
    // `2015-02-24 11:35:52 -0800`
    let (local, off) = s.trim().rsplit_once(' ')?;
    let t = canary_core::time::parse_rfc3339(&format!("{}Z", local.replacen(' ', "T", 1)))?;
    let sign = if off.starts_with('-') { 1 } else { -1 };
    let h: i64 = off.get(1..3)?.parse().ok()?;
    let m: i64 = off.get(3..5)?.parse().ok()?;
    Some(t + sign * (h * 3_600_000 + m * 60_000))
}

/// Loads the export, one row per tweet id (the first), in time order.
pub fn load(path: &Path) -> std::io::Result<Vec<Tweet>> {
    let mut rdr = csv::Reader::from_path(path).map_err(std::io::Error::other)?;
    let h = rdr.headers().map_err(std::io::Error::other)?.clone();
    let col = |n: &str| {
        h.iter()
            .position(|c| c == n)
            .ok_or_else(|| std::io::Error::other(format!("no column {n}")))
    };
    let (id, sent, text, created) = (
        col("tweet_id")?,
        col("airline_sentiment")?,
        col("text")?,
        col("tweet_created")?,
    );
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut an = canary_vader::Analyzer::new();
    for rec in rdr.records() {
        let rec = rec.map_err(std::io::Error::other)?;
        if !seen.insert(rec[id].to_owned()) {
            continue;
        }
        let t = parse_time(&rec[created])
            .ok_or_else(|| std::io::Error::other(format!("bad time {:?}", &rec[created])))?;
        let lower = rec[text].to_lowercase();
        let watches = WATCHES
            .iter()
            .enumerate()
            .filter(|(_, (_, handle))| mentions(&lower, handle))
            .map(|(i, _)| i)
            .collect();
        let text = rec[text]
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
        let v = an.polarity_scores(&text);
        out.push(Tweet {
            id: rec[id].to_owned(),
            event_ms: t,
            human_negative: &rec[sent] == "negative",
            sentiment: Sentiment {
                neg: v.neg,
                neu: v.neu,
                pos: v.pos,
                compound: v.compound,
            },
            text,
            watches,
        });
    }
    out.sort_by_key(|t| t.event_ms);
    Ok(out)
}

/// `handle` as a whole mention (not a prefix of a longer one).
fn mentions(lower: &str, handle: &str) -> bool {
    lower.match_indices(handle).any(|(i, _)| {
        let next = lower[i + handle.len()..].chars().next();
        !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// A labelled block of one watch (consecutive blocks of one kind merged).
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Watch index.
    pub watch: usize,
    /// Block start, epoch ms.
    pub start: i64,
    /// End of the last merged block, epoch ms.
    pub end: i64,
    /// Tweets.
    pub volume: u64,
    /// Human-negative tweets.
    pub negative: u64,
    /// Tweets canary's VADER scores negative.
    pub vader_negative: u64,
    /// The same share outside this block.
    pub vader_other_share: f64,
    /// The watch's human negative share outside this block.
    pub other_share: f64,
}

/// The ground truth: (negative shifts, volume surges).
pub fn ground_truth(tweets: &[Tweet]) -> (Vec<Block>, Vec<Block>) {
    let mut counts: BTreeMap<(usize, i64), (u64, u64, u64)> = BTreeMap::new();
    for t in tweets {
        let b = t.event_ms.div_euclid(BLOCK_MS) * BLOCK_MS;
        for &w in &t.watches {
            let c = counts.entry((w, b)).or_default();
            c.0 += 1;
            c.1 += u64::from(t.human_negative);
            c.2 += u64::from(t.sentiment.is_negative());
        }
    }
    let mut shifts = Vec::new();
    let mut surges = Vec::new();
    for w in 0..WATCHES.len() {
        let blocks: Vec<(i64, u64, u64, u64)> = counts
            .range((w, i64::MIN)..=(w, i64::MAX))
            .map(|(&(_, b), &(v, n, m))| (b, v, n, m))
            .collect();
        let (tv, tn, tm) = blocks
            .iter()
            .fold((0, 0, 0), |(a, b, c), &(_, v, n, m)| (a + v, b + n, c + m));
        for &(start, v, n, m) in &blocks {
            if v < MIN_BLOCK {
                continue;
            }
            let other = (tn - n) as f64 / (tv - v).max(1) as f64;
            let share = n as f64 / v as f64;
            let block = Block {
                watch: w,
                start,
                end: start + BLOCK_MS,
                volume: v,
                negative: n,
                other_share: other,
                vader_negative: m,
                vader_other_share: (tm - m) as f64 / (tv - v).max(1) as f64,
            };
            let shifted =
                share >= other + 0.10 && binomial_upper_tail(n, v, other.clamp(1e-4, 0.999)) < 1e-3;
            if shifted {
                push_merged(&mut shifts, block);
                continue;
            }
            let hour = start.rem_euclid(86_400_000);
            let mut same: Vec<u64> = blocks
                .iter()
                .filter(|(b, _, _, _)| b.rem_euclid(86_400_000) == hour && *b != start)
                .map(|&(_, v, _, _)| v)
                .collect();
            same.sort_unstable();
            let median = same.get(same.len() / 2).copied().unwrap_or(0);
            // A watch whose export has no history at this hour (American
            // before 22 February) has no surge to speak of.
            if same.len() >= 2 && median >= MIN_BLOCK / 2 && v >= 3 * median {
                push_merged(&mut surges, block);
            }
        }
    }
    (shifts, surges)
}

fn push_merged(v: &mut Vec<Block>, b: Block) {
    if let Some(last) = v.last_mut()
        && last.watch == b.watch
        && last.end == b.start
    {
        last.end = b.end;
        last.volume += b.volume;
        last.negative += b.negative;
        last.vader_negative += b.vader_negative;
        return;
    }
    v.push(b);
}

/// An alert firing seen in the replay.
#[derive(Debug, Clone)]
pub struct Firing {
    /// Watch index.
    pub watch: usize,
    /// Kind.
    pub kind: AlertKind,
    /// Window start, epoch ms.
    pub start: i64,
    /// The alert's evidence test (`window` or `sequential`).
    pub test: String,
}

/// Replays the tweets through canary's own per-post stages (watch matching,
/// language detection, VADER for English, all at their defaults) and an
/// aggregator with `cfg`, as `canary run` does. Returns the all-languages
/// firings.
pub fn replay(cfg: &AggregateConfig, tweets: &[Tweet]) -> Vec<Firing> {
    let names: Vec<String> = WATCHES.iter().map(|(n, _)| (*n).to_owned()).collect();
    let watches: Vec<WatchConfig> = WATCHES
        .iter()
        .map(|(n, h)| WatchConfig {
            name: (*n).to_owned(),
            patterns: vec![(*h).to_owned()],
            ..Default::default()
        })
        .collect();
    let mut chain = Chain {
        normalize: Normalizer::new(&watches).expect("valid watches"),
        language: LanguageStage::new(&LanguageConfig::default()).expect("default language"),
        sentiment: SentimentStage::new(&SentimentConfig::default()).expect("default sentiment"),
    };
    let mut agg = Aggregator::new(cfg.clone(), &names);
    let mut out = Vec::new();
    let mut firings = Vec::new();
    for t in tweets {
        let mut p = Post::new(t.id.clone(), t.event_ms, t.text.clone());
        if chain.process(&mut p) != Verdict::Keep {
            continue;
        }
        agg.on_post(&p, &mut out);
        collect(&mut out, &names, &mut firings);
    }
    agg.flush(&mut out);
    collect(&mut out, &names, &mut firings);
    firings
}

fn collect(out: &mut Vec<AggregateOutput>, names: &[String], firings: &mut Vec<Firing>) {
    for o in out.drain(..) {
        if let AggregateOutput::Alert(a) = o
            && a.lang == "all"
            && a.state == AlertState::Firing
        {
            firings.push(Firing {
                watch: names.iter().position(|n| *n == a.watch).unwrap_or(0),
                kind: a.kind,
                start: canary_core::time::parse_rfc3339(&a.window_start).unwrap_or(0),
                test: a.evidence.map(|e| e.test).unwrap_or_default(),
            });
        }
    }
}

/// How the firings matched the ground truth.
#[derive(Debug, Clone, Default)]
pub struct AirlineScore {
    /// Negative shifts in the ground truth, and how many were alerted.
    pub shifts: (usize, usize),
    /// Volume surges, and how many were alerted.
    pub surges: (usize, usize),
    /// Negative-share firings outside every shift.
    pub false_negative_share: usize,
    /// Volume firings outside every surge.
    pub false_volume: usize,
    /// Markdown rows, one per shift, surge and false alert.
    pub detail: String,
}

fn covers(b: &Block, f: &Firing) -> bool {
    f.watch == b.watch && f.start >= b.start - BLOCK_MS && f.start < b.end + BLOCK_MS
}

/// Scores `firings` against the ground truth.
pub fn score(tweets: &[Tweet], firings: &[Firing]) -> AirlineScore {
    let (shifts, surges) = ground_truth(tweets);
    let mut s = AirlineScore {
        shifts: (shifts.len(), 0),
        surges: (surges.len(), 0),
        ..Default::default()
    };
    let mut detail = String::from(
        "| watch | blocks (UTC) | ground truth | tweets | human negative (other blocks) | VADER negative (other blocks) | canary |\n|---|---|---|---|---|---|---|\n",
    );
    for (blocks, kind, label) in [
        (&shifts, AlertKind::NegativeShare, "negative shift"),
        (&surges, AlertKind::Volume, "volume surge"),
    ] {
        for b in blocks.iter() {
            let hit = firings.iter().find(|f| f.kind == kind && covers(b, f));
            if hit.is_some() {
                if kind == AlertKind::NegativeShare {
                    s.shifts.1 += 1;
                } else {
                    s.surges.1 += 1;
                }
            }
            detail.push_str(&format!(
                "| {} | {} – {} | {label} | {} | {:.0}% ({:.0}%) | {:.0}% ({:.0}%) | {} |\n",
                WATCHES[b.watch].0,
                format_rfc3339(b.start),
                format_rfc3339(b.end),
                b.volume,
                100.0 * b.negative as f64 / b.volume as f64,
                100.0 * b.other_share,
                100.0 * b.vader_negative as f64 / b.volume as f64,
                100.0 * b.vader_other_share,
                hit.map_or("missed".to_owned(), |f| format!(
                    "alerted {} ({}, {:.1} h after the start)",
                    format_rfc3339(f.start),
                    f.test,
                    (f.start - b.start) as f64 / 3_600_000.0
                )),
            ));
        }
    }
    for f in firings {
        let truth = match f.kind {
            AlertKind::NegativeShare => &shifts,
            AlertKind::Volume => &surges,
            // The export holds no brand replies: no response alert can fire.
            AlertKind::Response => continue,
        };
        if truth.iter().any(|b| covers(b, f)) {
            continue;
        }
        match f.kind {
            AlertKind::NegativeShare => s.false_negative_share += 1,
            AlertKind::Volume | AlertKind::Response => s.false_volume += 1,
        }
        detail.push_str(&format!(
            "| {} | {} | - | | | | false {} alert ({}) |\n",
            WATCHES[f.watch].0,
            format_rfc3339(f.start),
            f.kind.as_str(),
            f.test
        ));
    }
    s.detail = detail;
    s
}
