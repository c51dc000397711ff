use super::*;
use crate::record::{Post, Sentiment};
use crate::time::DAY_MS;

const MIN: i64 = 60_000;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn post(id: u64, t: i64, watch: &str, lang: &str, negative: bool, text: &str) -> Post {
    let mut p = Post::new(id.to_string(), t, text);
    p.watches = vec![watch.to_owned()];
    p.lang = Some(lang.to_owned());
    if lang == "en" {
        let c = if negative { -0.6 } else { 0.4 };
        p.sentiment = Some(Sentiment {
            neg: 0.0,
            neu: 0.0,
            pos: 0.0,
            compound: c,
        });
    }
    p
}

/// Posts for `windows` 5-minute windows from `t0`, `per_window` each, negative
/// with probability `share(window)`.
fn stream(
    rng: &mut Rng,
    next_id: &mut u64,
    watch: &str,
    t0: i64,
    windows: i64,
    per_window: impl Fn(i64) -> u64,
    share: impl Fn(i64) -> f64,
) -> Vec<Post> {
    let mut v = Vec::new();
    for w in 0..windows {
        let n = per_window(w);
        for _ in 0..n {
            let t = t0 + w * 5 * MIN + (rng.unit() * 5.0 * MIN as f64) as i64;
            let neg = rng.unit() < share(w);
            let text = match (neg, share(w) > 0.2) {
                (true, true) => "discount program cancelled, terrible",
                (true, false) => "slow delivery, terrible",
                (false, _) => "thanks great service",
            };
            *next_id += 1;
            v.push(post(*next_id, t, watch, "en", neg, text));
        }
    }
    v.sort_by_key(|p| p.event_ms);
    v
}

fn run(agg: &mut Aggregator, posts: &[Post]) -> Vec<AggregateOutput> {
    let mut out = Vec::new();
    for p in posts {
        agg.on_post(p, &mut out);
    }
    agg.flush(&mut out);
    out
}

fn alerts(out: &[AggregateOutput]) -> Vec<&Alert> {
    out.iter()
        .filter_map(|o| match o {
            AggregateOutput::Alert(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn watches(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("w{i}")).collect()
}

#[test]
fn spike_fires_in_first_window_and_resolves_after() {
    let mut rng = Rng(7);
    let mut id = 1_000;
    // 12 h of 2% baseline, 1 h at 37%, 2 h back to 2%.
    let spike = 144..156;
    let posts = stream(
        &mut rng,
        &mut id,
        "w0",
        0,
        180,
        |_| 120,
        |w| if spike.contains(&w) { 0.37 } else { 0.02 },
    );
    let mut agg = Aggregator::new(AggregateConfig::default(), &watches(1));
    let out = run(&mut agg, &posts);
    let neg: Vec<_> = alerts(&out)
        .into_iter()
        .filter(|a| a.kind == AlertKind::NegativeShare && a.lang == "all")
        .collect();
    assert_eq!(neg.len(), 2, "{neg:#?}");
    assert_eq!(neg[0].state, AlertState::Firing);
    assert_eq!(
        neg[0].window_start,
        crate::time::format_rfc3339(144 * 5 * MIN)
    );
    assert!(neg[0].negative_share > 0.25 && neg[0].baseline_share < 0.04);
    assert!(
        neg[0].top_terms.iter().any(|t| t == "discount"),
        "{:?}",
        neg[0].top_terms
    );
    // Every spike post has the same text: one sample per distinct text.
    assert_eq!(neg[0].sample_ids.len(), 1);
    assert_eq!(neg[1].state, AlertState::Resolved);
    assert_eq!(neg[1].alert_id, neg[0].alert_id);
    let resolved_at = crate::time::parse_rfc3339(&neg[1].window_start).unwrap();
    assert!(
        (156 * 5 * MIN..=160 * 5 * MIN).contains(&resolved_at),
        "{}",
        neg[1].window_start
    );
    // The per-language key fires too, with its own id.
    let en: Vec<_> = alerts(&out)
        .into_iter()
        .filter(|a| a.lang == "en" && a.kind == AlertKind::NegativeShare)
        .collect();
    assert_eq!(en.len(), 2);
    assert_ne!(en[0].alert_id, neg[0].alert_id);
}

#[test]
fn no_false_alerts_over_a_stationary_week_for_20_watches() {
    let mut rng = Rng(42);
    let mut id = 0;
    let mut agg = Aggregator::new(AggregateConfig::default(), &watches(20));
    let mut all = Vec::new();
    for w in 0..20 {
        let share = 0.01 + 0.02 * (w as f64 / 19.0);
        all.extend(stream(
            &mut rng,
            &mut id,
            &format!("w{w}"),
            0,
            7 * 288,
            |_| 100,
            |_| share,
        ));
    }
    all.sort_by_key(|p| p.event_ms);
    let out = run(&mut agg, &all);
    let neg: Vec<_> = alerts(&out)
        .into_iter()
        .filter(|a| a.kind == AlertKind::NegativeShare)
        .collect();
    assert!(
        neg.is_empty(),
        "{} false alerts, first {:?}",
        neg.len(),
        neg.first()
    );
    assert_eq!(agg.stats().counted, all.len() as u64);
}

#[test]
fn volume_surge_with_normal_share_raises_only_a_volume_alert() {
    let mut rng = Rng(3);
    let mut id = 0;
    // Volume alerts wait for a day of history.
    let surge = 388..400;
    let posts = stream(
        &mut rng,
        &mut id,
        "w0",
        0,
        450,
        |w| if surge.contains(&w) { 500 } else { 100 },
        |_| 0.02,
    );
    let mut agg = Aggregator::new(AggregateConfig::default(), &watches(1));
    let out = run(&mut agg, &posts);
    let a = alerts(&out);
    assert!(a.iter().all(|a| a.kind == AlertKind::Volume), "{a:#?}");
    let all: Vec<_> = a.iter().filter(|a| a.lang == "all").collect();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[0].window_start,
        crate::time::format_rfc3339(388 * 5 * MIN)
    );
    assert_eq!(all[1].state, AlertState::Resolved);
}

#[test]
fn a_watch_with_three_posts_per_window_never_alerts() {
    let mut rng = Rng(9);
    let mut id = 0;
    let posts = stream(
        &mut rng,
        &mut id,
        "w0",
        0,
        7 * 288,
        |_| 3,
        |w| if w % 50 < 3 { 1.0 } else { 0.02 },
    );
    let mut agg = Aggregator::new(AggregateConfig::default(), &watches(1));
    let out = run(&mut agg, &posts);
    assert!(alerts(&out).is_empty());
}

fn window_counts(out: &[AggregateOutput]) -> Vec<(String, String, i64, u64, u64, u64)> {
    let mut v: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            AggregateOutput::Window(w) => Some((
                w.watch.clone(),
                w.lang.clone(),
                w.start_ms,
                w.volume,
                w.scored,
                w.negative,
            )),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

#[test]
fn window_counts_equal_input_counts_for_any_arrival_order_within_lateness() {
    for seed in 0..20 {
        let mut rng = Rng(seed);
        let mut id = 0;
        let mut posts = stream(&mut rng, &mut id, "w0", 0, 40, |_| 50, |_| 0.1);
        posts.extend(stream(&mut rng, &mut id, "w1", 0, 40, |_| 20, |_| 0.3));
        posts.sort_by_key(|p| p.event_ms);
        let mut reference = Aggregator::new(AggregateConfig::default(), &watches(2));
        let expected = run(&mut reference, &posts);
        // Shuffle by a random delay below the lateness: a post may arrive up to
        // 2 minutes after later posts.
        let mut keyed: Vec<(i64, Post)> = posts
            .iter()
            .map(|p| (p.event_ms + (rng.unit() * 119_000.0) as i64, p.clone()))
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        let shuffled: Vec<Post> = keyed.into_iter().map(|(_, p)| p).collect();
        let mut agg = Aggregator::new(AggregateConfig::default(), &watches(2));
        let got = run(&mut agg, &shuffled);
        assert_eq!(agg.stats().late, 0, "seed {seed}");
        assert_eq!(window_counts(&got), window_counts(&expected), "seed {seed}");
        let total: u64 = window_counts(&got)
            .iter()
            .filter(|w| w.1 == "all")
            .map(|w| w.3)
            .sum();
        assert_eq!(total, posts.len() as u64);
    }
}

#[test]
fn late_duplicate_and_deleted_posts() {
    let mut agg = Aggregator::new(AggregateConfig::default(), &watches(1));
    let mut out = Vec::new();
    let p = |id: u64, t: i64| post(id, t, "w0", "en", true, "bad");
    assert_eq!(agg.on_post(&p(1, 0), &mut out), PostOutcome::Counted);
    assert_eq!(agg.on_post(&p(1, 0), &mut out), PostOutcome::Duplicate);
    assert_eq!(agg.on_delete("2"), DeleteOutcome::Pending);
    assert_eq!(agg.on_post(&p(2, MIN), &mut out), PostOutcome::Deleted);
    assert_eq!(agg.on_post(&p(3, MIN), &mut out), PostOutcome::Counted);
    assert_eq!(agg.on_delete("3"), DeleteOutcome::Removed);
    // Watermark passes the first window's end (5 min + 2 min lateness).
    assert_eq!(agg.on_post(&p(4, 8 * MIN), &mut out), PostOutcome::Counted);
    assert_eq!(agg.on_post(&p(5, 4 * MIN), &mut out), PostOutcome::Late);
    let mut unwatched = p(6, 8 * MIN);
    unwatched.watches = vec!["nope".into()];
    assert_eq!(agg.on_post(&unwatched, &mut out), PostOutcome::Unwatched);
    agg.flush(&mut out);
    let w = window_counts(&out);
    assert_eq!(w[0], ("w0".into(), "all".into(), 0, 1, 1, 1), "{w:?}");
    let s = agg.stats();
    assert_eq!(
        (
            s.counted,
            s.duplicates,
            s.late,
            s.deleted,
            s.deleted_before,
            s.unwatched
        ),
        (3, 1, 1, 1, 1, 1)
    );
}

#[test]
fn same_alerts_whatever_the_chunking_and_idle_ticks() {
    let mut rng = Rng(11);
    let mut id = 0;
    let posts = stream(
        &mut rng,
        &mut id,
        "w0",
        0,
        120,
        |_| 100,
        |w| if (80..90).contains(&w) { 0.4 } else { 0.02 },
    );
    let mut a = Aggregator::new(AggregateConfig::default(), &watches(1));
    let expected = run(&mut a, &posts);
    let mut b = Aggregator::new(AggregateConfig::default(), &watches(1));
    let mut got = Vec::new();
    for chunk in posts.chunks(37) {
        let mut part = Vec::new();
        for p in chunk {
            b.on_post(p, &mut part);
        }
        got.extend(part);
    }
    b.flush(&mut got);
    assert_eq!(got, expected);
}

#[test]
fn idle_timeout_closes_windows_of_a_quiet_stream() {
    let mut agg = Aggregator::new(AggregateConfig::default(), &watches(1));
    let mut out = Vec::new();
    agg.on_post(&post(1, 0, "w0", "en", false, "ok"), &mut out);
    agg.tick(1_000, &mut out);
    assert!(out.is_empty());
    agg.tick(1_000 + 30_000, &mut out);
    assert!(out.is_empty(), "idle timeout not reached");
    agg.tick(1_000 + 8 * MIN, &mut out);
    assert_eq!(window_counts(&out).len(), 2, "all and en closed: {out:?}");
}

#[test]
fn a_long_gap_keeps_state_bounded_and_resolves_episodes() {
    let mut rng = Rng(5);
    let mut id = 0;
    let mut posts = stream(
        &mut rng,
        &mut id,
        "w0",
        0,
        100,
        |_| 100,
        |w| if w >= 90 { 0.4 } else { 0.02 },
    );
    // A year later, one more post.
    posts.push(post(999_999, 365 * 24 * 60 * MIN, "w0", "en", false, "ok"));
    let mut agg = Aggregator::new(AggregateConfig::default(), &watches(1));
    let out = run(&mut agg, &posts);
    let a: Vec<_> = alerts(&out)
        .into_iter()
        .filter(|a| a.lang == "all")
        .collect();
    assert_eq!(
        a.iter().map(|a| a.state).collect::<Vec<_>>(),
        vec![AlertState::Firing, AlertState::Resolved]
    );
    assert_eq!(agg.open_windows(), 0);
    assert!(out.len() < 2_000, "gap emitted {} records", out.len());
}

/// A day of calm posts, a gap of `gap_days`, then a calm day with an
/// hour-long spike at 12:00 (40% negative): the spike after the gap is
/// alerted, every episode resolves, and the gap itself raises nothing.
fn spike_after_gap(gap_days: i64, far_back_first: bool) -> Vec<Alert> {
    let mut rng = Rng(11 + gap_days as u64);
    let mut id = 0;
    let day = 288;
    let t0 = 1_700_000_000_000 / (24 * 60 * MIN) * (24 * 60 * MIN);
    let mut posts = Vec::new();
    if far_back_first {
        posts.push(post(1, 0, "w0", "en", false, "hello from 1970"));
        id = 1;
    }
    // Posting pauses for the last 4 hours of the first day (a live collector
    // stopped), then a gap of whole days.
    posts.extend(stream(
        &mut rng,
        &mut id,
        "w0",
        t0,
        day - 48,
        |_| 60,
        |_| 0.02,
    ));
    let t1 = t0 + (1 + gap_days) * 24 * 60 * MIN;
    posts.extend(stream(
        &mut rng,
        &mut id,
        "w0",
        t1,
        day,
        |_| 60,
        |w| if (144..156).contains(&w) { 0.4 } else { 0.02 },
    ));
    let mut agg = Aggregator::new(AggregateConfig::default(), &watches(1));
    let out = run(&mut agg, &posts);
    alerts(&out)
        .into_iter()
        .filter(|a| a.lang == "all")
        .cloned()
        .collect()
}

fn check_gap_alerts(a: &[Alert], t1_noon: i64) {
    let firing: Vec<_> = a.iter().filter(|a| a.state == AlertState::Firing).collect();
    assert_eq!(
        firing
            .iter()
            .map(|a| (a.kind, a.window_start.clone()))
            .collect::<Vec<_>>(),
        vec![(AlertKind::NegativeShare, format_rfc3339(t1_noon))],
        "only the spike fires: {a:#?}"
    );
    for f in &firing {
        assert!(
            a.iter()
                .any(|r| r.alert_id == f.alert_id && r.state == AlertState::Resolved),
            "every episode resolves: {a:#?}"
        );
    }
    let ev = firing[0].evidence.as_ref().expect("evidence");
    assert!(ev.observed > ev.expected + 0.2, "{ev:?}");
}

#[test]
fn a_one_day_gap_neither_fires_nor_blinds() {
    let t0 = 1_700_000_000_000 / (24 * 60 * MIN) * (24 * 60 * MIN);
    let a = spike_after_gap(1, false);
    check_gap_alerts(&a, t0 + 2 * 24 * 60 * MIN + 12 * 60 * MIN);
}

#[test]
fn a_three_day_gap_neither_fires_nor_blinds() {
    let t0 = 1_700_000_000_000 / (24 * 60 * MIN) * (24 * 60 * MIN);
    let a = spike_after_gap(3, false);
    check_gap_alerts(&a, t0 + 4 * 24 * 60 * MIN + 12 * 60 * MIN);
}

#[test]
fn a_far_back_first_record_neither_fires_nor_blinds() {
    let t0 = 1_700_000_000_000 / (24 * 60 * MIN) * (24 * 60 * MIN);
    let a = spike_after_gap(1, true);
    check_gap_alerts(&a, t0 + 2 * 24 * 60 * MIN + 12 * 60 * MIN);
}

#[test]
fn an_episode_open_when_the_stream_stops_resolves_with_reason_gap() {
    let mut rng = Rng(21);
    let mut id = 0;
    let mut posts = stream(
        &mut rng,
        &mut id,
        "w0",
        0,
        100,
        |_| 100,
        |w| if w >= 90 { 0.4 } else { 0.02 },
    );
    // Data resumes two days later.
    posts.extend(stream(
        &mut rng,
        &mut id,
        "w0",
        2 * 24 * 60 * MIN,
        20,
        |_| 100,
        |_| 0.02,
    ));
    let mut agg = Aggregator::new(AggregateConfig::default(), &watches(1));
    let out = run(&mut agg, &posts);
    let a: Vec<_> = alerts(&out)
        .into_iter()
        .filter(|a| a.lang == "all")
        .collect();
    assert_eq!(
        a.iter()
            .map(|a| (a.state, a.resolution))
            .collect::<Vec<_>>(),
        vec![
            (AlertState::Firing, None),
            (AlertState::Resolved, Some(Resolution::Gap))
        ],
        "{a:#?}"
    );
    // Resolved three hours (`baseline.gap`) into the silence, not when data resumed.
    let resolved_at = crate::time::parse_rfc3339(&a[1].window_end).unwrap();
    assert_eq!(resolved_at, 100 * 5 * MIN + 3 * 60 * MIN);
}

#[test]
fn an_episode_that_outlives_max_duration_expires_and_the_level_becomes_normal() {
    let mut rng = Rng(31);
    let mut id = 0;
    // A week at 50 posts per window, then the brand doubles... tenfold, for good.
    let posts = stream(
        &mut rng,
        &mut id,
        "w0",
        0,
        288 * 4,
        |w| if w >= 288 * 2 { 500 } else { 50 },
        |_| 0.02,
    );
    let mut agg = Aggregator::new(AggregateConfig::default(), &watches(1));
    let out = run(&mut agg, &posts);
    let a: Vec<_> = alerts(&out)
        .into_iter()
        .filter(|a| a.lang == "all" && a.kind == AlertKind::Volume)
        .collect();
    assert_eq!(
        a.iter()
            .map(|a| (a.state, a.resolution))
            .collect::<Vec<_>>(),
        vec![
            (AlertState::Firing, None),
            (AlertState::Resolved, Some(Resolution::Expired))
        ],
        "one episode, expired after a day, no re-fire: {a:#?}"
    );
}

#[test]
fn a_watch_can_set_its_own_alert_settings() {
    let mut rng = Rng(3);
    let mut id = 0;
    let surge = 388..400;
    let mut posts = Vec::new();
    for w in ["loud", "quiet"] {
        posts.extend(stream(
            &mut rng,
            &mut id,
            w,
            0,
            450,
            |i| if surge.contains(&i) { 500 } else { 100 },
            |_| 0.02,
        ));
    }
    posts.sort_by_key(|p| p.event_ms);
    let base = AggregateConfig::default();
    let mut off = serde_json::Map::new();
    off.insert("enabled".into(), serde_json::Value::Bool(false));
    let mut cfg = base.clone();
    cfg.watches
        .insert("quiet".into(), base.for_watch(&[("volume", &off)]).unwrap());
    let mut agg = Aggregator::new(cfg, &["loud".to_owned(), "quiet".to_owned()]);
    let out = run(&mut agg, &posts);
    let fired: Vec<_> = alerts(&out)
        .into_iter()
        .filter(|a| a.lang == "all" && a.state == AlertState::Firing)
        .map(|a| (a.watch.clone(), a.kind))
        .collect();
    assert_eq!(fired, vec![("loud".to_owned(), AlertKind::Volume)]);

    let mut bad = serde_json::Map::new();
    bad.insert("flor".into(), serde_json::json!(0.2));
    assert_eq!(
        base.for_watch(&[("alert", &bad)]).unwrap_err().0,
        "alert.flor"
    );
    bad.clear();
    bad.insert("floor".into(), serde_json::json!(2.0));
    assert_eq!(
        base.for_watch(&[("alert", &bad)]).unwrap_err().0,
        "alert.floor"
    );
    assert!(base.for_watch(&[("window", &bad)]).is_err());
}

mod snapshot {
    use super::super::*;
    use crate::record::{Post, Sentiment};

    fn post(id: u64, t: i64, neg: bool, lang: &str) -> Post {
        let mut p = Post::new(id.to_string(), t, format!("acme broke again {id}"));
        p.watches = vec!["acme".into()];
        p.lang = Some(lang.into());
        p.sentiment = Some(Sentiment {
            neg: 0.0,
            neu: 0.5,
            pos: 0.0,
            compound: if neg { -0.6 } else { 0.3 },
        });
        p
    }

    fn posts() -> Vec<Post> {
        let t0 = 1_714_990_000_000;
        (0..6000u64)
            .map(|i| {
                let t = t0 + i as i64 * 3_000;
                // A spike of negatives well after the baseline is ready.
                let neg = if (3000..3600).contains(&i) {
                    i % 3 != 0
                } else {
                    i % 50 == 0
                };
                post(1_000_000 + i, t, neg, if i % 4 == 0 { "es" } else { "en" })
            })
            .collect()
    }

    fn run_all(agg: &mut Aggregator, ps: &[Post], out: &mut Vec<AggregateOutput>) {
        for p in ps {
            agg.on_post(p, out);
        }
    }

    #[test]
    fn restore_through_json_continues_exactly() {
        let cfg = AggregateConfig::default();
        let watches = vec!["acme".to_string(), "globex".to_string()];
        let ps = posts();
        let mut whole = Aggregator::new(cfg.clone(), &watches);
        let mut expected = Vec::new();
        run_all(&mut whole, &ps, &mut expected);
        whole.flush(&mut expected);
        assert!(
            expected
                .iter()
                .any(|o| matches!(o, AggregateOutput::Alert(_))),
            "the fixture must fire an alert"
        );

        for cut in [1, 1234, 3100, 5999] {
            let mut first = Aggregator::new(cfg.clone(), &watches);
            let mut got = Vec::new();
            run_all(&mut first, &ps[..cut], &mut got);
            let json = serde_json::to_string(&first.snapshot()).expect("serialize");
            let state: AggregatorState = serde_json::from_str(&json).expect("deserialize");
            // Config order changed: watches are matched by name.
            let reordered = vec!["globex".to_string(), "acme".to_string()];
            let mut second = Aggregator::restore(cfg.clone(), &reordered, state).expect("restore");
            run_all(&mut second, &ps[cut..], &mut got);
            second.flush(&mut got);
            let first_diff = got.iter().zip(&expected).position(|(a, b)| a != b);
            assert!(
                got.len() == expected.len() && first_diff.is_none(),
                "cut at {cut}: {} outputs vs {}, first difference at {first_diff:?}: {:?}",
                got.len(),
                expected.len(),
                first_diff.map(|i| (&got[i], &expected[i]))
            );
            assert_eq!(second.stats(), whole.stats());
        }
    }

    #[test]
    fn flush_through_closes_quiet_watches_like_a_whole_stream() {
        let cfg = AggregateConfig::default();
        let watches = vec!["acme".to_string(), "globex".to_string()];
        let t0 = 1_714_990_000_000;
        let mut g = post(7, t0, false, "en");
        g.watches = vec!["globex".into()];
        let a = post(8, t0 + 3_600_000, false, "en");
        let mut whole = Aggregator::new(cfg.clone(), &watches);
        let mut expected = Vec::new();
        whole.on_post(&g, &mut expected);
        whole.on_post(&a, &mut expected);
        whole.flush(&mut expected);
        let only_globex: Vec<_> = expected
            .iter()
            .filter(|o| matches!(o, AggregateOutput::Window(w) if w.watch == "globex"))
            .cloned()
            .collect();

        let mut part = Aggregator::new(cfg, &watches);
        let mut got = Vec::new();
        part.on_post(&g, &mut got);
        part.flush_through(a.event_ms, &mut got);
        assert_eq!(got, only_globex);
    }

    #[test]
    fn refuses_other_versions_and_broken_tables() {
        let cfg = AggregateConfig::default();
        let watches = vec!["acme".to_string()];
        let agg = Aggregator::new(cfg.clone(), &watches);
        let mut v: serde_json::Value = serde_json::to_value(agg.snapshot()).expect("value");
        v["v"] = 99.into();
        let s: AggregatorState = serde_json::from_value(v.clone()).expect("shape");
        assert!(matches!(
            Aggregator::restore(cfg.clone(), &watches, s),
            Err(StateError::Version { found: 99 })
        ));
        v["v"] = 1.into();
        v["lang_names"] = serde_json::json!([]);
        let s: AggregatorState = serde_json::from_value(v).expect("shape");
        assert!(Aggregator::restore(cfg, &watches, s).is_err());
    }
}

/// Seeded property: for random streams (spikes, surges, several watches),
/// random arrival order within the lateness, random chunkings and periodic
/// ticks that never reach the idle timeout, the outputs are identical to an
/// in-order, single-pass run, and window counts add up to the input.
#[test]
fn outputs_are_independent_of_order_chunking_and_short_ticks() {
    for seed in 0..12u64 {
        let mut rng = Rng(1000 + seed);
        let mut id = 0;
        let spike_at = 40 + (rng.unit() * 30.0) as i64;
        let surge_at = 40 + (rng.unit() * 30.0) as i64;
        let mut posts = stream(
            &mut rng,
            &mut id,
            "w0",
            0,
            90,
            |_| 60,
            move |w| {
                if (spike_at..spike_at + 6).contains(&w) {
                    0.4
                } else {
                    0.02
                }
            },
        );
        posts.extend(stream(
            &mut rng,
            &mut id,
            "w1",
            0,
            90,
            move |w| {
                if (surge_at..surge_at + 4).contains(&w) {
                    400
                } else {
                    70
                }
            },
            |_| 0.03,
        ));
        posts.extend(stream(&mut rng, &mut id, "w2", 0, 90, |_| 3, |_| 0.5));
        posts.sort_by_key(|p| (p.event_ms, p.id.clone()));
        let cfg = AggregateConfig::default();
        let mut reference = Aggregator::new(cfg.clone(), &watches(3));
        let expected = run(&mut reference, &posts);
        assert!(
            !alerts(&expected).is_empty(),
            "seed {seed}: the stream should alert"
        );

        let lateness = cfg.window.lateness.ms() as f64;
        let mut keyed: Vec<(i64, Post)> = posts
            .iter()
            .map(|p| {
                (
                    p.event_ms + (rng.unit() * (lateness - 1.0)) as i64,
                    p.clone(),
                )
            })
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        let shuffled: Vec<Post> = keyed.into_iter().map(|(_, p)| p).collect();

        let mut agg = Aggregator::new(cfg.clone(), &watches(3));
        let mut got = Vec::new();
        let mut i = 0;
        // Processing time advances 1 ms per post: the whole replay takes less
        // processing time than the idle timeout, so ticks must change nothing.
        let mut now = 0i64;
        while i < shuffled.len() {
            let n = 1 + (rng.unit() * 200.0) as usize;
            let mut part = Vec::new();
            for p in &shuffled[i..(i + n).min(shuffled.len())] {
                agg.on_post(p, &mut part);
                now += 1;
            }
            agg.tick(now, &mut part);
            got.extend(part);
            i += n;
        }
        assert!(now < cfg.window.idle_timeout.ms());
        agg.flush(&mut got);
        assert_eq!(agg.stats().late, 0, "seed {seed}");
        assert_eq!(
            window_counts(&got),
            window_counts(&expected),
            "seed {seed}: window counts"
        );
        assert_eq!(
            alerts(&got),
            alerts(&expected),
            "seed {seed}: alerts differ"
        );
        let total: u64 = window_counts(&got)
            .iter()
            .filter(|w| w.1 == "all")
            .map(|w| w.3)
            .sum();
        assert_eq!(total, posts.len() as u64, "seed {seed}");
    }
}

/// Steps one key through `days` days of 5-minute windows whose expected
/// count follows a daily rhythm around `mean`, with a day-level multiplier
/// (log-normal, sd 0.2), a 5× burst in about one window a day, and
/// `boost(day)` on every window of that day (a boosted day has no burst,
/// so that no single window of it stands out). Returns each volume firing's
/// (event time, evidence test).
fn volume_fires(seed: u64, days: i64, mean: f64, boost: impl Fn(i64) -> f64) -> Vec<(i64, String)> {
    let cfg = AggregateConfig::default();
    let p = Params::new(&cfg);
    let mut rng = Rng(seed);
    let mut normal = move || {
        let (u, v) = (rng.unit().max(1e-12), rng.unit());
        (
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos(),
            rng.unit(),
        )
    };
    let len = 5 * MIN;
    let mut key = KeyDetector::default();
    let mut fires = Vec::new();
    for day in 0..days {
        let (z, _) = normal();
        let boosted = boost(day) != 1.0;
        let day_mult = (0.2 * z).exp() * boost(day);
        for w in 0..288 {
            let start = day * DAY_MS + w * len;
            let hour = w as f64 / 12.0;
            let rhythm = 1.0 + 0.6 * (std::f64::consts::TAU * (hour - 8.0) / 24.0).sin();
            let (z, u) = normal();
            let burst = if u < 1.0 / 288.0 && !boosted {
                5.0
            } else {
                1.0
            };
            let mu = mean * rhythm * day_mult * burst;
            let volume = (mu + mu.sqrt() * z).round().max(0.0) as u64;
            let c = WindowCounts {
                volume,
                scored: 0,
                negative: 0,
            };
            let d = key.step(&cfg, &p, c, start, start + len, |k| k.as_str().into());
            if let Transition::Fire(_) = d.volume {
                let test = d.volume_evidence.map(|e| e.test).unwrap_or_default();
                fires.push((start, test));
            }
        }
    }
    fires
}

#[test]
fn a_record_day_pages_on_the_long_scale_though_no_window_stands_out() {
    for seed in 0..4 {
        let fires = volume_fires(seed, 21, 20.0, |d| if d == 20 { 3.0 } else { 1.0 });
        let on_day = |(t, _): &&(i64, String)| *t >= 20 * DAY_MS;
        let long: Vec<_> = fires.iter().filter(on_day).collect();
        assert!(
            long.iter().any(|(_, test)| test == "long"),
            "seed {seed}: the day at 3x should page on the long scale: {fires:?}"
        );
        assert_eq!(
            long.len(),
            1,
            "seed {seed}: the record day should page once: {fires:?}"
        );
        assert!(
            fires.iter().all(|f| on_day(&f) || f.1 != "long"),
            "seed {seed}: ordinary days must not page on the long scale: {fires:?}"
        );
    }
}

#[test]
fn ordinary_days_never_page_on_the_long_scale() {
    for seed in 10..14 {
        let fires = volume_fires(seed, 60, 20.0, |_| 1.0);
        assert!(
            fires.iter().all(|(_, test)| test != "long"),
            "seed {seed}: {fires:?}"
        );
    }
}
