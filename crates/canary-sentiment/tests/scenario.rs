//! Alerts per language with the real scorer in the loop.
//!
//! Texts are the UMSAB test tweets of each language, drawn by their *human*
//! label (the reference, not shipped): a spike is a rise in the share of
//! reference-negative posts, and canary-sentiment decides which posts count as
//! negative. Streams are seeded, 5-minute windows, one watch, fed straight to
//! the aggregator as `canary run` feeds it.

use canary_core::aggregate::{AggregateConfig, AggregateOutput, Aggregator, AlertKind, AlertState};
use canary_core::record::{Post, Sentiment};
use canary_sentiment::Scorer;
use canary_testkit::demo::Rng;

const WINDOW_MS: i64 = 5 * 60_000;
const T0: i64 = 1_714_953_600_000;

/// Scored texts of one language, split by the human label.
struct Pool {
    lang: &'static str,
    negative: Vec<(String, Sentiment)>,
    other: Vec<(String, Sentiment)>,
}

fn pool(lang: &'static str, dir: &str) -> Option<Pool> {
    let base = format!("multilingual_sentiment_umsab/test/{dir}");
    let texts = std::fs::read_to_string(canary_testkit::shared_data(&format!(
        "{base}/test_text.txt"
    ))?)
    .ok()?;
    let labels = std::fs::read_to_string(canary_testkit::shared_data(&format!(
        "{base}/test_labels.txt"
    ))?)
    .ok()?;
    let mut s = Scorer::new();
    let mut p = Pool {
        lang,
        negative: Vec::new(),
        other: Vec::new(),
    };
    for (t, y) in texts.lines().zip(labels.lines()) {
        let e = (t.to_owned(), s.score(lang, t).expect("scorable"));
        if y.trim() == "0" {
            p.negative.push(e);
        } else {
            p.other.push(e);
        }
    }
    Some(p)
}

/// One language's stream: posts per window, base share of reference-negative
/// posts, and an optional spike (windows `[a, b)`, share then).
struct Plan<'a> {
    pool: &'a Pool,
    volume: fn(i64) -> u64,
    share: f64,
    spike: Option<(i64, i64, f64)>,
}

/// Alerts (lang, kind, state, window index) of a seeded run.
fn run(plans: &[Plan], windows: i64, seed: u64) -> Vec<(String, AlertKind, AlertState, i64)> {
    let mut agg = Aggregator::new(AggregateConfig::default(), &["acme".to_string()]);
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut seen = Vec::new();
    let mut id = 0u64;
    let mut batch = Vec::new();
    for w in 0..windows {
        batch.clear();
        for (pi, p) in plans.iter().enumerate() {
            // Each language draws from its own stream of the seed, so adding a
            // language does not change the posts of another.
            let mut r =
                Rng(seed ^ (pi as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (w as u64) << 20);
            let share = match p.spike {
                Some((a, b, s)) if (a..b).contains(&w) => s,
                _ => p.share,
            };
            for _ in 0..(p.volume)(w) {
                let neg = r.unit() < share;
                let n = if neg {
                    p.pool.negative.len()
                } else {
                    p.pool.other.len()
                };
                let t = T0 + w * WINDOW_MS + r.below(WINDOW_MS as usize) as i64;
                batch.push((t, pi, neg, r.below(n)));
            }
        }
        for i in (1..batch.len()).rev() {
            let j = rng.below(i + 1);
            batch.swap(i, j);
        }
        for &(t, pi, neg, k) in &batch {
            let p = plans[pi].pool;
            let (text, s) = if neg { &p.negative[k] } else { &p.other[k] };
            id += 1;
            let mut post = Post::new(id.to_string(), t, text.clone());
            post.lang = Some(p.lang.into());
            post.sentiment = Some(*s);
            post.watches = vec!["acme".into()];
            agg.on_post(&post, &mut out);
        }
        collect(&mut out, &mut seen);
    }
    agg.flush(&mut out);
    collect(&mut out, &mut seen);
    seen
}

fn collect(out: &mut Vec<AggregateOutput>, seen: &mut Vec<(String, AlertKind, AlertState, i64)>) {
    for o in out.drain(..) {
        if let AggregateOutput::Alert(a) = o {
            let start = canary_core::time::parse_rfc3339(&a.window_start).unwrap_or(T0);
            seen.push((a.lang, a.kind, a.state, (start - T0) / WINDOW_MS));
        }
    }
}

fn firing(seen: &[(String, AlertKind, AlertState, i64)], lang: &str, kind: AlertKind) -> Vec<i64> {
    seen.iter()
        .filter(|(l, k, s, _)| l == lang && *k == kind && *s == AlertState::Firing)
        .map(|a| a.3)
        .collect()
}

const DAY: i64 = 288;

fn pools() -> Option<(Pool, Pool, Pool, Pool)> {
    Some((
        pool("en", "english")?,
        pool("es", "spanish")?,
        pool("pt", "portuguese")?,
        pool("de", "german")?,
    ))
}

#[test]
fn spikes_alert_in_their_language_and_english_alerts_do_not_change() {
    let Some((en, es, pt, de)) = pools() else {
        return;
    };
    let windows = 3 * DAY;
    let spike_es = (2 * DAY + 10, 2 * DAY + 22, 0.85);
    let spike_pt = (2 * DAY + 150, 2 * DAY + 162, 0.85);
    let spike_en = (2 * DAY + 60, 2 * DAY + 72, 0.85);
    let en_plan = || Plan {
        pool: &en,
        volume: |_| 40,
        share: 0.1,
        spike: Some(spike_en),
    };
    let english_only = run(&[en_plan()], windows, 7);
    let mixed = run(
        &[
            en_plan(),
            Plan {
                pool: &es,
                volume: |_| 40,
                share: 0.1,
                spike: Some(spike_es),
            },
            Plan {
                pool: &pt,
                volume: |_| 40,
                share: 0.1,
                spike: Some(spike_pt),
            },
            Plan {
                pool: &de,
                volume: |_| 20,
                share: 0.1,
                spike: None,
            },
        ],
        windows,
        7,
    );
    let in_spike = |ws: &[i64], (a, b, _): (i64, i64, f64)| ws.iter().any(|w| (a..b).contains(w));
    let es_fired = firing(&mixed, "es", AlertKind::NegativeShare);
    let pt_fired = firing(&mixed, "pt", AlertKind::NegativeShare);
    assert!(in_spike(&es_fired, spike_es), "es: {mixed:?}");
    assert!(in_spike(&pt_fired, spike_pt), "pt: {mixed:?}");
    assert!(
        es_fired
            .iter()
            .all(|w| (spike_es.0..spike_es.1).contains(w)),
        "es outside its spike: {es_fired:?}"
    );
    assert!(
        pt_fired
            .iter()
            .all(|w| (spike_pt.0..spike_pt.1).contains(w)),
        "pt outside its spike: {pt_fired:?}"
    );
    assert!(
        firing(&mixed, "de", AlertKind::NegativeShare).is_empty(),
        "{mixed:?}"
    );
    let en_alerts = |s: &[(String, AlertKind, AlertState, i64)]| -> Vec<_> {
        s.iter().filter(|a| a.0 == "en").cloned().collect()
    };
    assert!(in_spike(
        &firing(&english_only, "en", AlertKind::NegativeShare),
        spike_en
    ));
    assert_eq!(en_alerts(&english_only), en_alerts(&mixed));
}

#[test]
fn a_language_mix_shift_alone_raises_no_alert() {
    let Some((en, es, pt, _)) = pools() else {
        return;
    };
    let windows = 3 * DAY;
    // Same total volume; from day 2 Spanish grows from a quarter of the
    // stream to a half, each language keeping its own composition.
    let seen = run(
        &[
            Plan {
                pool: &en,
                volume: |w| if w < 2 * DAY { 60 } else { 40 },
                share: 0.1,
                spike: None,
            },
            Plan {
                pool: &es,
                volume: |w| if w < 2 * DAY { 30 } else { 60 },
                share: 0.1,
                spike: None,
            },
            Plan {
                pool: &pt,
                volume: |w| if w < 2 * DAY { 30 } else { 20 },
                share: 0.1,
                spike: None,
            },
        ],
        windows,
        11,
    );
    let neg: Vec<_> = seen
        .iter()
        .filter(|a| a.1 == AlertKind::NegativeShare && a.2 == AlertState::Firing)
        .collect();
    assert!(neg.is_empty(), "{neg:?}");
}
