//! Seeded detection scenarios built from real texts.
//!
//! Texts come from the shared VADER corpus, split by their *reference*
//! compound (`corpus.golden.jsonl`: negative when <= -0.05) and scored by
//! canary's own VADER, so the real scorer is in the loop. Each distinct text
//! is scored once. Streams are generated window by window (5-minute windows)
//! for many watches and fed straight to [`Aggregator`], so memory stays flat
//! over simulated weeks.

use crate::demo::Rng;
use canary_core::aggregate::{AggregateConfig, AggregateOutput, Aggregator, AlertKind, AlertState};
use canary_core::record::{Post, Sentiment};
use std::collections::HashMap;
use std::path::Path;

const WINDOW_MS: i64 = 5 * 60_000;
/// Monday 2024-05-06T00:00:00Z: simulated time starts here.
pub const T0: i64 = 1_714_953_600_000;

/// Real texts split by reference sentiment, with canary's scores.
pub struct Pools {
    /// Texts whose reference compound is <= -0.05.
    pub negative: Vec<(String, Sentiment)>,
    /// The others.
    pub other: Vec<(String, Sentiment)>,
    /// Texts whose canary score disagreed with the reference sign (expected 0).
    pub disagreements: usize,
}

impl Pools {
    /// Loads `corpus.jsonl` and `corpus.golden.jsonl` from the shared `vader` folder.
    pub fn load(vader_dir: &Path) -> std::io::Result<Pools> {
        let golden = std::fs::read_to_string(vader_dir.join("corpus.golden.jsonl"))?;
        let mut reference: HashMap<(String, String), f64> = HashMap::new();
        for l in golden.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(l).map_err(std::io::Error::other)?;
            let key = (
                v["set"].as_str().unwrap_or("").to_owned(),
                v["id"].to_string(),
            );
            reference.insert(key, v["compound"].as_f64().unwrap_or(0.0));
        }
        let corpus = std::fs::read_to_string(vader_dir.join("corpus.jsonl"))?;
        let mut an = canary_vader::Analyzer::new();
        let mut pools = Pools {
            negative: Vec::new(),
            other: Vec::new(),
            disagreements: 0,
        };
        for l in corpus.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(l).map_err(std::io::Error::other)?;
            let key = (
                v["set"].as_str().unwrap_or("").to_owned(),
                v["id"].to_string(),
            );
            let (Some(&c), Some(text)) = (reference.get(&key), v["text"].as_str()) else {
                continue;
            };
            let s = an.polarity_scores(text);
            if (s.compound <= -0.05) != (c <= -0.05) {
                pools.disagreements += 1;
            }
            let entry = (text.to_owned(), s);
            if c <= -0.05 {
                pools.negative.push(entry);
            } else {
                pools.other.push(entry);
            }
        }
        Ok(pools)
    }
}

/// One simulated watch.
#[derive(Debug, Clone)]
pub struct WatchPlan {
    /// Watch name.
    pub name: String,
    /// Posts in window `w` (0-based from [`T0`]).
    pub volume: fn(&WatchPlan, i64) -> u64,
    /// Base posts per window.
    pub base_volume: u64,
    /// Normal negative share.
    pub base_share: f64,
    /// Injected negative-share spike: windows `[start, end)` and the share then.
    pub spike: Option<(i64, i64, f64)>,
    /// Injected volume surge: windows `[start, end)` and the factor then.
    pub surge: Option<(i64, i64, f64)>,
}

impl WatchPlan {
    /// A watch at `base_volume` posts per window and `base_share` negative.
    pub fn steady(name: impl Into<String>, base_volume: u64, base_share: f64) -> WatchPlan {
        WatchPlan {
            name: name.into(),
            volume: |p, w| match p.surge {
                Some((a, b, f)) if (a..b).contains(&w) => (p.base_volume as f64 * f).round() as u64,
                _ => p.base_volume,
            },
            base_volume,
            base_share,
            spike: None,
            surge: None,
        }
    }

    fn share(&self, w: i64) -> f64 {
        match self.spike {
            Some((a, b, s)) if (a..b).contains(&w) => s,
            _ => self.base_share,
        }
    }
}

/// An alert seen in a scenario run (all-languages key only).
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// Watch.
    pub watch: String,
    /// Kind.
    pub kind: AlertKind,
    /// Firing or resolved.
    pub state: AlertState,
    /// Window index (from [`T0`]) of the deciding window.
    pub window: i64,
}

/// Runs `plans` for `windows` windows through an [`Aggregator`] with `cfg`.
/// Posts within a window arrive in random order (within the window, so
/// within the allowed lateness). Returns the all-languages alerts.
pub fn run(
    cfg: &AggregateConfig,
    pools: &Pools,
    plans: &[WatchPlan],
    windows: i64,
    seed: u64,
) -> Vec<Seen> {
    let names: Vec<String> = plans.iter().map(|p| p.name.clone()).collect();
    let mut agg = Aggregator::new(cfg.clone(), &names);
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut seen = Vec::new();
    let mut id: u64 = 1_000_000;
    // (event time, watch, negative?, pool index): posts are materialised one
    // at a time into a reused buffer, so a simulated week allocates little.
    let mut batch: Vec<(i64, usize, bool, usize)> = Vec::new();
    let mut post = Post::new(String::new(), 0, String::new());
    post.lang = Some("en".into());
    post.watches = vec![String::new()];
    for w in 0..windows {
        batch.clear();
        for (pi, p) in plans.iter().enumerate() {
            let n = (p.volume)(p, w);
            let share = p.share(w);
            for _ in 0..n {
                let neg = rng.unit() < share;
                let len = if neg {
                    pools.negative.len()
                } else {
                    pools.other.len()
                };
                let t = T0 + w * WINDOW_MS + rng.below(WINDOW_MS as usize) as i64;
                batch.push((t, pi, neg, rng.below(len)));
            }
        }
        // Shuffled: arrival order within a window is arbitrary.
        for i in (1..batch.len()).rev() {
            let j = rng.below(i + 1);
            batch.swap(i, j);
        }
        for &(t, pi, neg, k) in &batch {
            let (text, sent) = if neg {
                &pools.negative[k]
            } else {
                &pools.other[k]
            };
            id += 1;
            post.id.clear();
            post.id.push_str(&id.to_string());
            post.event_ms = t;
            post.text.clear();
            post.text.push_str(text);
            post.sentiment = Some(*sent);
            post.watches[0].clear();
            post.watches[0].push_str(&plans[pi].name);
            agg.on_post(&post, &mut out);
        }
        collect(&mut out, &mut seen);
    }
    agg.flush(&mut out);
    collect(&mut out, &mut seen);
    seen
}

fn collect(out: &mut Vec<AggregateOutput>, seen: &mut Vec<Seen>) {
    for o in out.drain(..) {
        if let AggregateOutput::Alert(a) = o {
            if a.lang != "all" {
                continue;
            }
            let start = canary_core::time::parse_rfc3339(&a.window_start).unwrap_or(T0);
            seen.push(Seen {
                watch: a.watch,
                kind: a.kind,
                state: a.state,
                window: (start - T0) / WINDOW_MS,
            });
        }
    }
}

/// How alerts matched the injected anomalies of one kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    /// Injected anomalies.
    pub injected: usize,
    /// Of those, fired on.
    pub detected: usize,
    /// Windows from anomaly start to the firing window (0 = the first window).
    pub delays: Vec<i64>,
    /// Windows from anomaly end to the resolve window (0 = the first window after).
    pub resolve_delays: Vec<i64>,
    /// Firings not inside an injected anomaly.
    pub false_alerts: usize,
}

impl Score {
    /// Anomalies missed.
    pub fn misses(&self) -> usize {
        self.injected - self.detected
    }
    /// Largest detection delay.
    pub fn max_delay(&self) -> Option<i64> {
        self.delays.iter().copied().max()
    }
    /// Mean detection delay.
    pub fn mean_delay(&self) -> Option<f64> {
        (!self.delays.is_empty())
            .then(|| self.delays.iter().sum::<i64>() as f64 / self.delays.len() as f64)
    }
}

/// Scores `seen` alerts of `kind` against the plans' spikes (negative share)
/// or surges (volume).
pub fn score(plans: &[WatchPlan], seen: &[Seen], kind: AlertKind) -> Score {
    let mut s = Score::default();
    for p in plans {
        let anomaly = match kind {
            AlertKind::NegativeShare => p.spike.map(|(a, b, _)| (a, b)),
            AlertKind::Volume => p.surge.map(|(a, b, _)| (a, b)),
            // Scenarios plan no care conversations.
            AlertKind::Response => None,
        };
        let mine = seen.iter().filter(|x| x.watch == p.name && x.kind == kind);
        let mut detected = false;
        for x in mine {
            match (x.state, anomaly) {
                (AlertState::Firing, Some((a, b))) if (a..b).contains(&x.window) => {
                    if !detected {
                        detected = true;
                        s.delays.push(x.window - a);
                    }
                }
                (AlertState::Firing, _) => s.false_alerts += 1,
                (AlertState::Resolved, Some((_, b))) if x.window >= b => {
                    s.resolve_delays.push(x.window - b)
                }
                (AlertState::Resolved, _) => {}
            }
        }
        if anomaly.is_some() {
            s.injected += 1;
            s.detected += usize::from(detected);
        }
    }
    s
}

/// One row of the detection table.
pub fn table_row(name: &str, s: &Score) -> String {
    let f = |v: Option<f64>| v.map_or("-".to_owned(), |d| format!("{d:.2}"));
    let max_resolve = s.resolve_delays.iter().copied().max();
    format!(
        "| {name} | {} | {} | {} | {} | {} | {} | {} |",
        s.injected,
        s.detected,
        s.misses(),
        f(s.mean_delay()),
        s.max_delay().map_or("-".into(), |d| d.to_string()),
        max_resolve.map_or("-".into(), |d| d.to_string()),
        s.false_alerts
    )
}

/// Header of the detection table.
pub const TABLE_HEADER: &str = "| scenario | injected | detected | misses | mean delay (windows) | max delay | max resolve delay | false alerts |\n|---|---|---|---|---|---|---|---|";

/// A named scenario: watches and how many windows to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name in the table.
    pub name: &'static str,
    /// Watches.
    pub plans: Vec<WatchPlan>,
    /// Windows to simulate (288 a day).
    pub windows: i64,
    /// Seed.
    pub seed: u64,
}

/// The scenarios the detection targets are stated on.
pub fn standard() -> Vec<Scenario> {
    let day = 288;
    // 2% -> 37% for an hour, at 100 to 190 posts per window, staggered starts.
    let spikes = (0..10)
        .map(|i| {
            let mut p = WatchPlan::steady(format!("spike{i}"), 100 + 10 * i as u64, 0.02);
            let start = 150 + 13 * i;
            p.spike = Some((start, start + 12, 0.37));
            p
        })
        .collect();
    // Stationary 1-3% negative for a week, 20 watches.
    let stationary = (0..20)
        .map(|i| WatchPlan::steady(format!("calm{i}"), 100, 0.01 + 0.02 * f64::from(i) / 19.0))
        .collect();
    // 5x volume for an hour with the normal share, once the watches have a
    // day of history (volume alerts wait for one).
    let surges = (0..5)
        .map(|i| {
            let mut p = WatchPlan::steady(format!("surge{i}"), 100, 0.02);
            let start = day + 150 + 17 * i;
            p.surge = Some((start, start + 12, 5.0));
            p
        })
        .collect();
    // 3 posts a window for a week, with hour-long runs at 100% negative.
    let tiny = (0..5)
        .map(|i| {
            let mut p = WatchPlan::steady(format!("tiny{i}"), 3, 0.02);
            let start = 300 + 200 * i;
            p.spike = Some((start, start + 12, 1.0));
            p
        })
        .collect();
    // A slow burn at 12 posts an hour: 2% -> 12% negative for 12 hours, on day 4.
    let burns = (0..5)
        .map(|i| {
            let mut p = WatchPlan::steady(format!("burn{i}"), 1, 0.02);
            let start = 3 * day + 24 * i;
            p.spike = Some((start, start + 144, 0.12));
            p
        })
        .collect();
    // 10,000 posts an hour, 1-3% negative, for three days.
    let busy = (0..3)
        .map(|i| WatchPlan::steady(format!("busy{i}"), 833, 0.01 + 0.01 * f64::from(i)))
        .collect();
    vec![
        Scenario {
            name: "spike 2%->37%, 100-190 posts/window",
            plans: spikes,
            windows: 2 * day,
            seed: 1,
        },
        Scenario {
            name: "stationary 1-3%, 20 watches x 7 days",
            plans: stationary,
            windows: 7 * day,
            seed: 2,
        },
        Scenario {
            name: "volume surge 5x, normal share",
            plans: surges,
            windows: 3 * day,
            seed: 3,
        },
        Scenario {
            name: "3 posts/window, 7 days, 100% negative hours",
            plans: tiny,
            windows: 7 * day,
            seed: 4,
        },
        Scenario {
            name: "slow burn 2%->12% for 12 h, 12 posts/hour, 7 days",
            plans: burns,
            windows: 7 * day,
            seed: 5,
        },
        Scenario {
            name: "stationary 1-3%, 10,000 posts/hour, 3 watches x 3 days",
            plans: busy,
            windows: 3 * day,
            seed: 6,
        },
    ]
}
