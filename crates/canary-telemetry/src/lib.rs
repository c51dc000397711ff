//! canary's metrics: one typed registry, and a small HTTP endpoint that serves
//! it to Prometheus.
//!
//! Names follow Prometheus conventions: base units (`_seconds`, ratios as
//! 0..1), `_total` for counters. Labels are bounded by configuration: `stage`,
//! `reason` (fixed codes), `kind`, `watch` and `lang` (watches and market
//! languages come from the config file). Never post ids, users or terms.
#![deny(missing_docs)]

mod emit;
mod server;

pub use emit::{ALERT_KINDS, Batch};

pub use server::{MetricsServer, serve};

use prometheus::core::Collector;
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::cell::RefCell;
use std::sync::Arc;

/// Errors of the telemetry crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A metric could not be registered (a programming error: duplicate name).
    #[error("metrics registry")]
    Registry(#[from] prometheus::Error),
    /// The metrics endpoint could not bind its address.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// One exported metric family as Prometheus sees it: name, `# TYPE` and
/// label names. Dashboards and rules are checked against this list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricInfo {
    /// Family name (for histograms, without `_bucket`/`_sum`/`_count`).
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    /// Label names, in declaration order.
    pub labels: Vec<String>,
}

/// The exposition type of a collector, so registration can record it.
trait Kind {
    const KIND: &'static str;
}
impl Kind for IntCounterVec {
    const KIND: &'static str = "counter";
}
impl Kind for GaugeVec {
    const KIND: &'static str = "gauge";
}
impl Kind for IntGaugeVec {
    const KIND: &'static str = "gauge";
}
impl Kind for IntGauge {
    const KIND: &'static str = "gauge";
}
impl Kind for HistogramVec {
    const KIND: &'static str = "histogram";
}
impl Kind for Histogram {
    const KIND: &'static str = "histogram";
}

/// A registry that also records what was registered: a label vector with no
/// children yet renders nothing, so the catalog cannot come from `gather()`.
struct Catalogued {
    registry: Registry,
    infos: RefCell<Vec<MetricInfo>>,
}

impl Catalogued {
    fn register<C: Collector + Kind + 'static>(&self, c: Box<C>) -> prometheus::Result<()> {
        let infos: Vec<MetricInfo> = c
            .desc()
            .into_iter()
            .map(|d| MetricInfo {
                name: d.fq_name.clone(),
                kind: C::KIND,
                labels: d.variable_labels.clone(),
            })
            .collect();
        self.registry.register(c)?;
        self.infos.borrow_mut().extend(infos);
        Ok(())
    }
}

/// Every metric canary exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    catalog: Arc<[MetricInfo]>,
    /// Records each stage took in (`stage`).
    pub stage_records: IntCounterVec,
    /// Posts that left the pipeline on purpose (`stage`, `reason`: unwatched, duplicate, deleted).
    pub posts_dropped: IntCounterVec,
    /// Records dead-lettered (`stage`, `reason`).
    pub dead_letters: IntCounterVec,
    /// Stream notices by kind (`kind`).
    pub notices: IntCounterVec,
    /// Seconds a stage spent on one batch, per post (`stage`).
    pub stage_seconds: HistogramVec,
    /// Seconds from ingest to the aggregate stage, per post.
    pub pipeline_latency: Histogram,
    /// Posts per language decided by the language stage (`lang`).
    pub lang_posts: IntCounterVec,
    /// Posts whose platform language tag disagreed with the detector (`lang`).
    pub lang_hint_disagreements: IntCounterVec,
    /// Posts in the last closed window (`watch`, `lang`).
    pub window_volume: IntGaugeVec,
    /// Negative share of the last closed window (`watch`, `lang`).
    pub window_negative_share: GaugeVec,
    /// Baseline negative share before the last closed window (`watch`, `lang`).
    pub baseline_negative_share: GaugeVec,
    /// Baseline mean volume per window (`watch`, `lang`).
    pub baseline_volume: GaugeVec,
    /// 1 while an alert is firing, else 0 (`watch`, `lang`, `kind`).
    pub alert_firing: IntGaugeVec,
    /// Alert records emitted (`kind`, `state`).
    pub alerts: IntCounterVec,
    /// Windows closed (summaries per watch and language).
    pub windows_closed: IntCounterVec,
    /// Event time of the aggregate's watermark, Unix seconds.
    pub watermark_timestamp: GaugeVec,
    /// Processing time minus watermark, seconds (meaningful for live streams).
    pub watermark_lag: GaugeVec,
    /// Alert deliveries by sink and outcome (`sink`, `outcome`: ok, retry, failed, dropped).
    pub sink_deliveries: IntCounterVec,
    /// Input bytes read.
    pub input_bytes: IntGauge,
    /// Records waiting in a stage's input channel (`stage`).
    pub queue_depth: IntGaugeVec,
    /// Unix time at which each stage last finished a batch (`stage`), for stall alerts.
    pub stage_last_record: GaugeVec,
    /// Kafka mode: messages a stage's consumer group has yet to read
    /// (`stage`, `topic`, `partition`): the partition's high watermark minus
    /// the next offset the stage will read.
    pub kafka_consumer_lag: IntGaugeVec,
    /// Social care: seconds from a directed post to the brand's first answer (`watch`).
    pub care_response_seconds: HistogramVec,
    /// Social care: posts directed at a watch's accounts (`watch`).
    pub care_directed: IntCounterVec,
    /// Social care: answered posts (`watch`, `within_sla`: true, false).
    pub care_answered: IntCounterVec,
    /// Social care: unanswered posts held, by age (`watch`, `age`).
    pub care_unanswered: IntGaugeVec,
    /// Social care: posts in the triage queue, by age (`watch`, `age`).
    pub care_triage_queue: IntGaugeVec,
    /// Social care: unanswered posts older than the watch's `care.sla` (`watch`).
    pub care_unanswered_over_sla: IntGaugeVec,
    /// Social care: state evicted (`watch`, `reason`: horizon, cap for
    /// unanswered posts; brand_cap for the accounts' own posts).
    pub care_evicted: IntCounterVec,
    /// Live sources: 1 while the source's connection is streaming, else 0 (`source`).
    pub source_connected: IntGaugeVec,
    /// Live sources: connections ended and retried (`source`, `reason`:
    /// closed, idle, error, http_429, http_5xx, http_4xx).
    pub source_reconnects: IntCounterVec,
    /// Live sources: Unix time at which the source last delivered an event (`source`).
    pub source_last_event: GaugeVec,
    /// Live sources: bytes received, keep-alives included (`source`).
    pub source_bytes: IntCounterVec,
}

/// Response-time buckets from 30 s to 24 h.
fn care_buckets() -> Vec<f64> {
    vec![
        30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
    ]
}

/// Latency buckets from 0.1 ms to ~10 s.
fn latency_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.000_1, 2.5, 14).expect("static buckets")
}

/// Per-post stage time buckets from 100 ns to ~1 ms.
fn stage_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(1e-7, 2.5, 12).expect("static buckets")
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Result<Self, Error> {
        let r = Catalogued {
            registry: Registry::new(),
            infos: RefCell::new(Vec::new()),
        };
        fn counter(
            r: &Catalogued,
            name: &str,
            help: &str,
            labels: &[&str],
        ) -> Result<IntCounterVec, Error> {
            let m = IntCounterVec::new(Opts::new(name, help), labels)?;
            r.register(Box::new(m.clone()))?;
            Ok(m)
        }
        fn gauge(
            r: &Catalogued,
            name: &str,
            help: &str,
            labels: &[&str],
        ) -> Result<GaugeVec, Error> {
            let m = GaugeVec::new(Opts::new(name, help), labels)?;
            r.register(Box::new(m.clone()))?;
            Ok(m)
        }
        fn igauge(
            r: &Catalogued,
            name: &str,
            help: &str,
            labels: &[&str],
        ) -> Result<IntGaugeVec, Error> {
            let m = IntGaugeVec::new(Opts::new(name, help), labels)?;
            r.register(Box::new(m.clone()))?;
            Ok(m)
        }
        fn hist(
            r: &Catalogued,
            name: &str,
            help: &str,
            labels: &[&str],
            b: Vec<f64>,
        ) -> Result<HistogramVec, Error> {
            let m = HistogramVec::new(HistogramOpts::new(name, help).buckets(b), labels)?;
            r.register(Box::new(m.clone()))?;
            Ok(m)
        }
        let input_bytes = IntGauge::new(
            "canary_input_bytes",
            "Input bytes read so far (compressed size on disk).",
        )?;
        r.register(Box::new(input_bytes.clone()))?;
        let m = Metrics {
            stage_records: counter(
                &r,
                "canary_stage_records_total",
                "Records taken in by each stage.",
                &["stage"],
            )?,
            posts_dropped: counter(
                &r,
                "canary_posts_dropped_total",
                "Posts that left the pipeline on purpose, by stage and reason.",
                &["stage", "reason"],
            )?,
            dead_letters: counter(
                &r,
                "canary_dead_letters_total",
                "Records sent to the dead-letter output, by stage and reason.",
                &["stage", "reason"],
            )?,
            notices: counter(
                &r,
                "canary_notices_total",
                "Stream notices (delete, limit, ...) read, by kind.",
                &["kind"],
            )?,
            stage_seconds: hist(
                &r,
                "canary_stage_post_seconds",
                "Processing time per post in each stage (batch time divided by batch size).",
                &["stage"],
                stage_buckets(),
            )?,
            pipeline_latency: {
                let opts = HistogramOpts::new(
                    "canary_pipeline_latency_seconds",
                    "Time from ingest to the aggregate stage, per post.",
                )
                .buckets(latency_buckets());
                let h = Histogram::with_opts(opts)?;
                r.register(Box::new(h.clone()))?;
                h
            },
            lang_posts: counter(
                &r,
                "canary_language_posts_total",
                "Posts by decided language.",
                &["lang"],
            )?,
            lang_hint_disagreements: counter(
                &r,
                "canary_language_hint_disagreements_total",
                "Posts whose platform language tag disagreed with the detector, by decided language.",
                &["lang"],
            )?,
            window_volume: igauge(
                &r,
                "canary_window_posts",
                "Posts in the last closed window.",
                &["watch", "lang"],
            )?,
            window_negative_share: gauge(
                &r,
                "canary_window_negative_share",
                "Negative share (0..1) of the scored posts in the last closed window.",
                &["watch", "lang"],
            )?,
            baseline_negative_share: gauge(
                &r,
                "canary_baseline_negative_share",
                "Baseline negative share (0..1) the last closed window was judged against.",
                &["watch", "lang"],
            )?,
            baseline_volume: gauge(
                &r,
                "canary_baseline_posts",
                "Baseline mean posts per window.",
                &["watch", "lang"],
            )?,
            alert_firing: igauge(
                &r,
                "canary_alert_firing",
                "1 while canary's alert for this watch, language and kind is firing, else 0.",
                &["watch", "lang", "kind"],
            )?,
            alerts: counter(
                &r,
                "canary_alerts_total",
                "Alert records emitted, by kind and state.",
                &["kind", "state"],
            )?,
            windows_closed: counter(
                &r,
                "canary_windows_closed_total",
                "Windows closed, by watch.",
                &["watch"],
            )?,
            watermark_timestamp: gauge(
                &r,
                "canary_watermark_timestamp_seconds",
                "Event time of the aggregate stage's watermark (Unix seconds).",
                &["stage"],
            )?,
            watermark_lag: gauge(
                &r,
                "canary_watermark_lag_seconds",
                "Processing time minus the watermark, in seconds.",
                &["stage"],
            )?,
            sink_deliveries: counter(
                &r,
                "canary_sink_deliveries_total",
                "Alert deliveries by sink and outcome.",
                &["sink", "outcome"],
            )?,
            input_bytes,
            queue_depth: igauge(
                &r,
                "canary_queue_depth",
                "Batches waiting in a stage's input channel.",
                &["stage"],
            )?,
            stage_last_record: gauge(
                &r,
                "canary_stage_last_record_timestamp_seconds",
                "Unix time at which the stage last finished a batch of records.",
                &["stage"],
            )?,
            kafka_consumer_lag: igauge(
                &r,
                "canary_kafka_consumer_lag",
                "Messages behind the partition's high watermark, from consumed offsets.",
                &["stage", "topic", "partition"],
            )?,
            care_response_seconds: hist(
                &r,
                "canary_care_response_seconds",
                "Event-time seconds from a post directed at a watch's accounts to their first answer.",
                &["watch"],
                care_buckets(),
            )?,
            care_directed: counter(
                &r,
                "canary_care_directed_posts_total",
                "Posts directed at a watch's own accounts (mentions or replies, not by them, not retweets).",
                &["watch"],
            )?,
            care_answered: counter(
                &r,
                "canary_care_answered_total",
                "Directed posts answered by the watch's accounts, by whether within care.sla.",
                &["watch", "within_sla"],
            )?,
            care_unanswered: igauge(
                &r,
                "canary_care_unanswered",
                "Directed posts not answered yet, by age (event time) at the last closed window.",
                &["watch", "age"],
            )?,
            care_triage_queue: igauge(
                &r,
                "canary_care_triage_queue",
                "Unanswered actionable posts in the triage queue, by age.",
                &["watch", "age"],
            )?,
            care_unanswered_over_sla: igauge(
                &r,
                "canary_care_unanswered_over_sla",
                "Directed posts not answered yet and older (event time) than care.sla, at the last closed window.",
                &["watch"],
            )?,
            care_evicted: counter(
                &r,
                "canary_care_evicted_total",
                "Care state dropped: unanswered posts past care.horizon (horizon) or beyond care.max_pending (cap); the accounts' own posts beyond care.max_pending (brand_cap).",
                &["watch", "reason"],
            )?,
            source_connected: igauge(
                &r,
                "canary_source_connected",
                "1 while the live source's connection is streaming, else 0.",
                &["source"],
            )?,
            source_reconnects: counter(
                &r,
                "canary_source_reconnects_total",
                "Live source connections ended and retried, by reason.",
                &["source", "reason"],
            )?,
            source_last_event: gauge(
                &r,
                "canary_source_last_event_timestamp_seconds",
                "Unix time at which the live source last delivered an event.",
                &["source"],
            )?,
            source_bytes: counter(
                &r,
                "canary_source_bytes_total",
                "Bytes received from the live source, keep-alives included.",
                &["source"],
            )?,
            catalog: r.infos.take().into(),
            registry: r.registry,
        };
        Ok(m)
    }

    /// Every registered metric family, including label vectors that have no
    /// series yet.
    pub fn catalog(&self) -> &[MetricInfo] {
        &self.catalog
    }

    /// The registry, for exporting.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The metrics in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let enc = TextEncoder::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = enc.encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_renders() {
        let m = Metrics::new().unwrap();
        m.stage_records.with_label_values(&["ingest"]).inc_by(3);
        m.alert_firing
            .with_label_values(&["acme", "all", "negative_share"])
            .set(1);
        let text = m.render();
        assert!(text.contains("# TYPE canary_stage_records_total counter"));
        assert!(text.contains("canary_stage_records_total{stage=\"ingest\"} 3"));
        assert!(text.contains(
            "canary_alert_firing{kind=\"negative_share\",lang=\"all\",watch=\"acme\"} 1"
        ));
    }

    #[test]
    fn catalog_lists_every_family_with_type_and_labels() {
        let m = Metrics::new().unwrap();
        let cat = m.catalog();
        let find = |n: &str| {
            cat.iter()
                .find(|i| i.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        assert_eq!(find("canary_stage_records_total").kind, "counter");
        assert_eq!(find("canary_pipeline_latency_seconds").kind, "histogram");
        assert_eq!(find("canary_input_bytes").kind, "gauge");
        assert_eq!(
            find("canary_alert_firing").labels,
            ["watch", "lang", "kind"].map(String::from)
        );
        assert_eq!(
            find("canary_stage_last_record_timestamp_seconds").labels,
            ["stage"]
        );
        // Nothing is touched yet, so nothing renders; the catalog still has all.
        let rendered = m.render();
        assert!(!rendered.contains("canary_alert_firing"));
        let mut names: Vec<&str> = cat.iter().map(|i| i.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), cat.len(), "a family is listed twice");
    }
}
