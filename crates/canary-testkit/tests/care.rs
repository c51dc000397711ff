//! Social care on generated conversations with known reply delays: every
//! window figure, triage record and metric equals what the generator knows.

use canary_core::aggregate::{AggregateConfig, AggregateOutput, Aggregator, WindowSummary};
use canary_core::care::{CareReport, TriageRecord, TriageStatus};
use canary_testkit::care::{Conversations, SLA_MS, conversations};

/// (status, id, score, reasons, response seconds) of a triage record.
type Row = (String, String, f64, Vec<String>, Option<f64>);

fn config() -> AggregateConfig {
    let mut cfg = AggregateConfig::default();
    cfg.care
        .accounts
        .insert("acme".into(), vec!["@acmehelp".into()]);
    cfg
}

fn run(conv: &Conversations, snapshot_at: Option<usize>) -> Vec<AggregateOutput> {
    let watches = vec!["acme".to_string()];
    let mut agg = Aggregator::new(config(), &watches);
    let mut out = Vec::new();
    for (i, p) in conv.posts.iter().enumerate() {
        if snapshot_at == Some(i) {
            let json = serde_json::to_string(&agg.snapshot()).unwrap();
            agg = Aggregator::restore(config(), &watches, serde_json::from_str(&json).unwrap())
                .unwrap();
        }
        agg.on_post(p, &mut out);
    }
    agg.flush(&mut out);
    out
}

fn windows(out: &[AggregateOutput]) -> Vec<&WindowSummary> {
    out.iter()
        .filter_map(|o| match o {
            AggregateOutput::Window(w) if w.lang == "all" => Some(w),
            _ => None,
        })
        .collect()
}

fn triage(out: &[AggregateOutput]) -> Vec<&TriageRecord> {
    out.iter()
        .filter_map(|o| match o {
            AggregateOutput::Triage(t) => Some(t),
            _ => None,
        })
        .collect()
}

fn reports(out: &[AggregateOutput]) -> Vec<&CareReport> {
    out.iter()
        .filter_map(|o| match o {
            AggregateOutput::Care(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn check(conv: &Conversations, out: &[AggregateOutput]) {
    // Window records.
    let truth = conv.windows();
    let ws = windows(out);
    assert!(!ws.is_empty());
    for w in &ws {
        let c = w.care.as_ref().expect("care fields on the all record");
        let t = truth.get(&w.start_ms).cloned().unwrap_or_default();
        assert_eq!(
            (
                c.directed,
                c.answered,
                c.answered_within_sla,
                c.response_p50_seconds,
                c.response_p90_seconds
            ),
            (t.directed, t.answered, t.within, t.p50, t.p90),
            "window {}",
            w.start_ms
        );
    }
    let covered: Vec<i64> = ws.iter().map(|w| w.start_ms).collect();
    for k in truth.keys() {
        assert!(covered.contains(k), "window {k} was not closed");
    }

    // Triage records, as a set, and every `answered` after its `open`.
    let got = triage(out);
    let mut got_set: Vec<Row> = got
        .iter()
        .map(|t| {
            (
                format!("{:?}", t.status).to_lowercase(),
                t.id.clone(),
                t.score,
                t.reasons.clone(),
                t.response_seconds,
            )
        })
        .collect();
    let mut want: Vec<Row> = conv
        .triage()
        .into_iter()
        .map(|(_, _, (s, id, score, r, secs))| {
            (
                s.to_owned(),
                id,
                score,
                r.into_iter().map(String::from).collect(),
                secs,
            )
        })
        .collect();
    got_set.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    want.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    assert_eq!(got_set, want);
    for (i, t) in got.iter().enumerate() {
        if t.status == TriageStatus::Answered {
            assert!(
                got[..i]
                    .iter()
                    .any(|o| o.id == t.id && o.status == TriageStatus::Open)
            );
            let d = conv.directed.iter().find(|d| d.id == t.id).unwrap();
            assert_eq!(t.within_sla, Some(d.answer.unwrap() - d.t <= SLA_MS));
        }
        assert_eq!(t.watch, "acme");
        let d = conv.directed.iter().find(|d| d.id == t.id).unwrap();
        assert_eq!(
            (t.author.as_deref(), t.reach, t.event_ms),
            (Some(d.author.as_str()), d.followers, d.t)
        );
    }

    // Metric reports.
    let rs = reports(out);
    let directed: u64 = rs.iter().map(|r| r.directed).sum();
    assert_eq!(directed, conv.directed.len() as u64);
    let mut secs: Vec<f64> = rs
        .iter()
        .flat_map(|r| r.responses.iter().map(|x| x.seconds))
        .collect();
    let mut want_secs: Vec<f64> = conv
        .directed
        .iter()
        .filter_map(|d| d.answer.map(|a| (a - d.t) as f64 / 1000.0))
        .collect();
    secs.sort_by(f64::total_cmp);
    want_secs.sort_by(f64::total_cmp);
    assert_eq!(secs, want_secs);
    let last = rs.last().unwrap();
    assert_eq!(last.unanswered, conv.unanswered_at_end());
    assert_eq!(last.over_sla, conv.unanswered_over(SLA_MS));
    assert_eq!(
        rs.iter()
            .map(|r| r.evicted_horizon + r.evicted_cap + r.evicted_brand)
            .sum::<u64>(),
        0
    );
}

#[test]
fn measures_equal_what_the_generator_knows() {
    for ids in [false, true] {
        let conv = conversations(ids);
        // The cases the generator promises are there.
        assert!(conv.directed.iter().any(|d| d.answer.is_none()));
        assert!(conv.directed.iter().any(|d| d.answer_index < Some(d.index)));
        assert!(
            conv.directed
                .iter()
                .any(|d| d.answer.is_some_and(|a| a - d.t > SLA_MS))
        );
        // Replies that name only their parent's id, to the brand's posts,
        // answered and not.
        let id_only = |d: &&canary_testkit::care::Directed| {
            let p = &conv.posts[d.index];
            p.reply_to.is_some() && p.reply_to_author.is_none() && p.mentions.is_empty()
        };
        assert!(
            conv.directed
                .iter()
                .filter(id_only)
                .any(|d| d.answer.is_some())
        );
        assert!(
            conv.directed
                .iter()
                .filter(id_only)
                .any(|d| d.answer.is_none())
        );
        let out = run(&conv, None);
        check(&conv, &out);
    }
}

/// The care part of the outputs: triage records, metric reports and the
/// care fields of window records. (The rest of the aggregate state is
/// checkpointed through JSON, whose float round trip may move a baseline's
/// last bit; care state holds integers and exact times.)
fn care_part(out: &[AggregateOutput]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            AggregateOutput::Window(w) => w
                .care
                .as_ref()
                .map(|c| format!("{} {} {c:?}", w.start_ms, w.lang)),
            AggregateOutput::Triage(t) => Some(format!("{t:?}")),
            AggregateOutput::Care(c) => Some(format!("{c:?}")),
            AggregateOutput::Alert(_) => None,
        })
        .collect()
}

#[test]
fn a_restored_snapshot_gives_the_same_records() {
    let conv = conversations(true);
    let whole = care_part(&run(&conv, None));
    for at in [3, conv.posts.len() / 2, conv.posts.len() - 2] {
        assert_eq!(
            care_part(&run(&conv, Some(at))),
            whole,
            "snapshot at post {at}"
        );
    }
}

#[test]
fn metrics_equal_what_the_generator_knows() {
    let conv = conversations(true);
    let out = run(&conv, None);
    let m = canary_telemetry::Metrics::new().unwrap();
    m.emit(&canary_telemetry::Batch {
        stage: "aggregate",
        outputs: &out,
        ..Default::default()
    });
    let text = m.render();
    let line = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} missing in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let answered: Vec<f64> = conv
        .directed
        .iter()
        .filter_map(|d| d.answer.map(|a| (a - d.t) as f64))
        .collect();
    let within = answered.iter().filter(|&&ms| ms <= SLA_MS as f64).count();
    assert_eq!(
        line("canary_care_directed_posts_total{watch=\"acme\"}"),
        conv.directed.len() as f64
    );
    assert_eq!(
        line("canary_care_answered_total{watch=\"acme\",within_sla=\"true\"}"),
        within as f64
    );
    assert_eq!(
        line("canary_care_answered_total{watch=\"acme\",within_sla=\"false\"}"),
        (answered.len() - within) as f64
    );
    assert_eq!(
        line("canary_care_response_seconds_count{watch=\"acme\"}"),
        answered.len() as f64
    );
    assert_eq!(
        line("canary_care_response_seconds_sum{watch=\"acme\"}"),
        answered.iter().sum::<f64>() / 1000.0
    );
    let le_3600 = answered.iter().filter(|&&ms| ms <= 3_600_000.0).count();
    assert_eq!(
        line("canary_care_response_seconds_bucket{watch=\"acme\",le=\"3600\"}"),
        le_3600 as f64
    );
    let ages = canary_core::care::AGE_LABELS;
    let want = conv.unanswered_at_end();
    for (i, age) in ages.iter().enumerate() {
        assert_eq!(
            line(&format!(
                "canary_care_unanswered{{age=\"{age}\",watch=\"acme\"}}"
            )),
            want[i] as f64,
            "{age}"
        );
    }
    assert_eq!(
        line("canary_care_unanswered_over_sla{watch=\"acme\"}"),
        conv.unanswered_over(SLA_MS) as f64
    );
    // The queue holds the unanswered actionable posts.
    let queued: f64 = ages
        .iter()
        .map(|age| {
            line(&format!(
                "canary_care_triage_queue{{age=\"{age}\",watch=\"acme\"}}"
            ))
        })
        .sum();
    let want_queued = conv
        .directed
        .iter()
        .filter(|d| d.answer.is_none() && (d.question || d.complaint))
        .count();
    assert_eq!(queued, want_queued as f64);
}

#[test]
fn a_collapse_of_the_on_time_rate_raises_a_response_episode() {
    use canary_core::aggregate::{AlertKind, AlertState};
    let watches = vec!["acme".to_string()];
    let mut agg = Aggregator::new(config(), &watches);
    let mut out = Vec::new();
    let t0 = canary_testkit::care::T0;
    let (w, min) = (300_000, 60_000);
    let mut posts = Vec::new();
    for k in 0..60i64 {
        let start = t0 + k * w;
        for i in 0..12i64 {
            let id = format!("{}", 10_000 + k * 100 + i);
            let mut p =
                canary_core::Post::new(id.clone(), start + 10_000 + i * 1_000, "@acmehelp where?");
            p.author = Some(format!("c{i}"));
            p.watches = watches.clone();
            posts.push(p);
            // Windows 30 to 32 go unanswered.
            if !(30..33).contains(&k) {
                let mut r = canary_core::Post::new(
                    format!("{id}9"),
                    start + 10_000 + i * 1_000 + 5 * min,
                    "@c on it",
                );
                r.author = Some("acmehelp".into());
                r.reply_to = Some(id);
                r.watches = watches.clone();
                posts.push(r);
            }
        }
    }
    posts.sort_by_key(|p| p.event_ms);
    for p in &posts {
        agg.on_post(p, &mut out);
    }
    agg.flush(&mut out);
    let alerts: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            AggregateOutput::Alert(a) if a.kind == AlertKind::Response => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[0].state, AlertState::Firing);
    assert_eq!(alerts[1].state, AlertState::Resolved);
    assert_eq!(alerts[0].alert_id, alerts[1].alert_id);
    // The first missed deadline: window 30's posts, an hour later.
    let fired = canary_core::time::parse_rfc3339(&alerts[0].window_start).unwrap();
    assert_eq!(fired, t0 + 30 * w + 3_600_000);
    let ev = alerts[0].evidence.as_ref().unwrap();
    assert_eq!(
        (ev.test.as_str(), ev.observed, ev.expected),
        ("response_rate", 0.5, 1.0)
    );
    assert!(
        windows(&out)
            .iter()
            .any(|s| s.care.as_ref().is_some_and(|c| c.response_firing))
    );
}
