//! One report per batch, and the one function that turns it into metrics.
//!
//! Every transport (the embedded pipeline's threads, each Kafka stage
//! process) fills a [`Batch`] and calls [`Metrics::emit`]: a metric set in one
//! deployment is then set in the other, which hand-written updates at each
//! call site did not guarantee.

use crate::Metrics;
use canary_core::NoticeKind;
use canary_core::aggregate::{AggregateOutput, AlertState};
use canary_core::care::AGE_LABELS;
use std::time::Duration;

/// What one stage did with one batch of input.
#[derive(Debug, Default)]
pub struct Batch<'a> {
    /// Stage name (`ingest`, `normalize`, ..., `notify`).
    pub stage: &'a str,
    /// Records taken in.
    pub records: u64,
    /// Time spent on the batch, divided over `records` for the per-post histogram.
    pub busy: Duration,
    /// Processing time at the end of the batch, Unix ms (injected: tests pin it).
    pub now_ms: i64,
    /// Posts left on purpose, by reason.
    pub dropped: &'a [(&'static str, u64)],
    /// Dead letters, by reason.
    pub dead_letters: &'a [(&'static str, u64)],
    /// Stream notices taken in, deletes among them, by kind.
    pub notices: &'a [(&'static str, u64)],
    /// Language stage: posts and hint disagreements per language, since start.
    pub languages: &'a [(&'a str, u64, u64)],
    /// Aggregate: windows and alerts emitted, in order.
    pub outputs: &'a [AggregateOutput],
    /// Aggregate: the watermark after the batch, Unix ms.
    pub watermark_ms: Option<i64>,
}

/// Drop and dead-letter reasons each stage itself decides, so that a
/// dashboard shows 0 rather than "no data" before the first one. Ingest's
/// parse reasons belong to the reader and come from the caller.
const KNOWN: &[(&str, &[&str], &[&str])] = &[
    ("ingest", &[], &["bad_record", "unknown_format"]),
    ("normalize", &["unwatched"], &["bad_envelope", "future"]),
    ("language", &[], &["bad_envelope"]),
    ("sentiment", &[], &["bad_envelope"]),
    (
        "aggregate",
        &["duplicate", "deleted"],
        &["bad_envelope", "future", "late"],
    ),
    ("notify", &["duplicate"], &["bad_alert", "bad_envelope"]),
];

/// Alert kinds, as in `canary_alert_firing{kind}` and `canary_alerts_total{kind}`.
pub const ALERT_KINDS: [&str; 3] = ["negative_share", "volume", "response"];

impl Metrics {
    /// Sets every metric `b` concerns: stage throughput and last-batch time,
    /// drops, languages, window and baseline gauges, the firing gauge, alert
    /// and window counters, the watermark and its lag.
    pub fn emit(&self, b: &Batch<'_>) {
        let stage = [b.stage];
        self.stage_records
            .with_label_values(&stage)
            .inc_by(b.records);
        self.stage_last_record
            .with_label_values(&stage)
            .set(b.now_ms as f64 / 1000.0);
        if b.records > 0 {
            self.stage_seconds
                .with_label_values(&stage)
                .observe(b.busy.as_secs_f64() / b.records as f64);
        }
        for (reason, n) in b.dropped {
            self.posts_dropped
                .with_label_values(&[b.stage, reason])
                .inc_by(*n);
        }
        for (reason, n) in b.dead_letters {
            self.dead_letters
                .with_label_values(&[b.stage, reason])
                .inc_by(*n);
        }
        for (kind, n) in b.notices {
            self.notices.with_label_values(&[kind]).inc_by(*n);
        }
        for (lang, posts, disagreed) in b.languages {
            // Totals since start: counters follow them, whoever reports.
            let p = self.lang_posts.with_label_values(&[lang]);
            p.inc_by(posts.saturating_sub(p.get()));
            let h = self.lang_hint_disagreements.with_label_values(&[lang]);
            h.inc_by(disagreed.saturating_sub(h.get()));
        }
        for o in b.outputs {
            match o {
                AggregateOutput::Window(w) => {
                    let l = [w.watch.as_str(), w.lang.as_str()];
                    self.window_volume
                        .with_label_values(&l)
                        .set(w.volume as i64);
                    self.window_negative_share
                        .with_label_values(&l)
                        .set(w.negative_share());
                    if let Some(s) = w.baseline_share {
                        self.baseline_negative_share.with_label_values(&l).set(s);
                    }
                    self.baseline_volume
                        .with_label_values(&l)
                        .set(w.baseline_volume);
                    self.windows_closed.with_label_values(&[&w.watch]).inc();
                    let response = w.care.as_ref().map(|c| c.response_firing);
                    for (kind, firing) in ALERT_KINDS
                        .into_iter()
                        .zip([Some(w.negative_firing), Some(w.volume_firing), response])
                        .filter_map(|(k, f)| Some((k, f?)))
                    {
                        self.alert_firing
                            .with_label_values(&[&w.watch, &w.lang, kind])
                            .set(i64::from(firing));
                    }
                }
                AggregateOutput::Alert(a) => {
                    let state = if a.state == AlertState::Firing {
                        "firing"
                    } else {
                        "resolved"
                    };
                    self.alerts
                        .with_label_values(&[a.kind.as_str(), state])
                        .inc();
                }
                AggregateOutput::Triage(_) => {}
                AggregateOutput::Care(c) => {
                    let w = [c.watch.as_str()];
                    self.care_directed.with_label_values(&w).inc_by(c.directed);
                    let h = self.care_response_seconds.with_label_values(&w);
                    for r in &c.responses {
                        h.observe(r.seconds);
                        let within = if r.within_sla { "true" } else { "false" };
                        self.care_answered
                            .with_label_values(&[c.watch.as_str(), within])
                            .inc();
                    }
                    for (i, age) in AGE_LABELS.iter().enumerate() {
                        self.care_unanswered
                            .with_label_values(&[c.watch.as_str(), age])
                            .set(c.unanswered[i] as i64);
                        self.care_triage_queue
                            .with_label_values(&[c.watch.as_str(), age])
                            .set(c.queued[i] as i64);
                    }
                    self.care_unanswered_over_sla
                        .with_label_values(&w)
                        .set(c.over_sla as i64);
                    for (reason, n) in [
                        ("horizon", c.evicted_horizon),
                        ("cap", c.evicted_cap),
                        ("brand_cap", c.evicted_brand),
                    ] {
                        self.care_evicted
                            .with_label_values(&[c.watch.as_str(), reason])
                            .inc_by(n);
                    }
                }
            }
        }
        if let Some(wm) = b.watermark_ms {
            self.watermark_timestamp
                .with_label_values(&stage)
                .set(wm as f64 / 1000.0);
            self.watermark_lag
                .with_label_values(&stage)
                .set((b.now_ms - wm) as f64 / 1000.0);
        }
    }

    /// Creates the series `stage` can set at 0 (and, for the aggregate,
    /// those of `watches`), so that dashboards and rules read 0 rather than
    /// "no data" before the first record. `extra_dead_letters` adds reasons
    /// the stage's caller knows (the reader's parse reasons for ingest).
    /// `canary_alert_firing` of each watch's `all` series starts at 0: after a
    /// restart a held page then resolves on the next calm window rather than
    /// on staleness.
    pub fn preset(&self, stage: &str, extra_dead_letters: &[&str], watches: &[String]) {
        let (drops, dead) = KNOWN
            .iter()
            .find(|k| k.0 == stage)
            .map_or((&[][..], &[][..]), |k| (k.1, k.2));
        self.stage_records.with_label_values(&[stage]);
        self.stage_seconds.with_label_values(&[stage]);
        for r in drops {
            self.posts_dropped.with_label_values(&[stage, r]);
        }
        for r in dead.iter().chain(extra_dead_letters) {
            self.dead_letters.with_label_values(&[stage, r]);
        }
        match stage {
            "ingest" => {
                for k in NoticeKind::ALL {
                    self.notices.with_label_values(&[k.as_str()]);
                }
            }
            "aggregate" => {
                for state in ["firing", "resolved"] {
                    for kind in ALERT_KINDS {
                        self.alerts.with_label_values(&[kind, state]);
                    }
                }
                for w in watches {
                    self.windows_closed.with_label_values(&[w]);
                    for kind in ALERT_KINDS {
                        self.alert_firing.with_label_values(&[w, "all", kind]);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canary_core::aggregate::WindowSummary;

    fn window(firing: bool) -> AggregateOutput {
        AggregateOutput::Window(WindowSummary {
            v: 1,
            watch: "acme".into(),
            lang: "en".into(),
            start_ms: 0,
            end_ms: 300_000,
            volume: 40,
            scored: 40,
            negative: 10,
            baseline_share: Some(0.05),
            baseline_volume: 38.0,
            negative_firing: firing,
            volume_firing: false,
            care: None,
        })
    }

    #[test]
    fn one_batch_sets_every_aggregate_metric() {
        let m = Metrics::new().unwrap();
        let outputs = [window(true)];
        m.emit(&Batch {
            stage: "aggregate",
            records: 4,
            busy: Duration::from_millis(4),
            now_ms: 1_000_000,
            dropped: &[("duplicate", 2)],
            outputs: &outputs,
            watermark_ms: Some(400_000),
            ..Batch::default()
        });
        let t = m.render();
        for line in [
            "canary_alert_firing{kind=\"negative_share\",lang=\"en\",watch=\"acme\"} 1",
            "canary_alert_firing{kind=\"volume\",lang=\"en\",watch=\"acme\"} 0",
            "canary_window_posts{lang=\"en\",watch=\"acme\"} 40",
            "canary_window_negative_share{lang=\"en\",watch=\"acme\"} 0.25",
            "canary_baseline_negative_share{lang=\"en\",watch=\"acme\"} 0.05",
            "canary_baseline_posts{lang=\"en\",watch=\"acme\"} 38",
            "canary_watermark_lag_seconds{stage=\"aggregate\"} 600",
            "canary_stage_last_record_timestamp_seconds{stage=\"aggregate\"} 1000",
            "canary_stage_post_seconds_count{stage=\"aggregate\"} 1",
            "canary_posts_dropped_total{reason=\"duplicate\",stage=\"aggregate\"} 2",
        ] {
            assert!(t.contains(line), "{line} missing from\n{t}");
        }
    }

    #[test]
    fn language_totals_are_followed_not_added() {
        let m = Metrics::new().unwrap();
        for total in [3, 5, 5] {
            m.emit(&Batch {
                stage: "language",
                languages: &[("en", total, 1)],
                ..Batch::default()
            });
        }
        assert_eq!(m.lang_posts.with_label_values(&["en"]).get(), 5);
        assert_eq!(
            m.lang_hint_disagreements.with_label_values(&["en"]).get(),
            1
        );
    }

    #[test]
    fn preset_shows_known_series_at_zero() {
        let m = Metrics::new().unwrap();
        m.preset("aggregate", &[], &["acme".into()]);
        let t = m.render();
        for line in [
            "canary_alert_firing{kind=\"negative_share\",lang=\"all\",watch=\"acme\"} 0",
            "canary_dead_letters_total{reason=\"late\",stage=\"aggregate\"} 0",
            "canary_posts_dropped_total{reason=\"deleted\",stage=\"aggregate\"} 0",
            "canary_alerts_total{kind=\"volume\",state=\"firing\"} 0",
        ] {
            assert!(t.contains(line), "{line} missing from\n{t}");
        }
        assert!(!t.contains("stage=\"ingest\""), "only the stages asked for");
        m.preset("notify", &[], &[]);
        let t = m.render();
        for line in [
            "canary_dead_letters_total{reason=\"bad_alert\",stage=\"notify\"} 0",
            "canary_posts_dropped_total{reason=\"duplicate\",stage=\"notify\"} 0",
        ] {
            assert!(t.contains(line), "{line} missing from\n{t}");
        }
    }

    #[test]
    fn dead_letters_and_notices_add_up_per_batch() {
        let m = Metrics::new().unwrap();
        for _ in 0..2 {
            m.emit(&Batch {
                stage: "normalize",
                records: 3,
                dead_letters: &[("future", 2), ("bad_envelope", 1)],
                notices: &[("delete", 4)],
                ..Default::default()
            });
        }
        let t = m.render();
        for line in [
            "canary_dead_letters_total{reason=\"future\",stage=\"normalize\"} 4",
            "canary_dead_letters_total{reason=\"bad_envelope\",stage=\"normalize\"} 2",
            "canary_notices_total{kind=\"delete\"} 8",
        ] {
            assert!(t.contains(line), "{line} missing from\n{t}");
        }
    }
}
