//! `/metrics` while `canary run` runs: names, types and labels.

mod common;
use common::*;

#[test]
fn metrics_are_served_while_running() {
    let body = scrape_demo_run();
    for (name, kind) in [
        ("canary_stage_records_total", "counter"),
        ("canary_posts_dropped_total", "counter"),
        ("canary_notices_total", "counter"),
        ("canary_stage_post_seconds", "histogram"),
        ("canary_pipeline_latency_seconds", "histogram"),
        ("canary_window_posts", "gauge"),
        ("canary_window_negative_share", "gauge"),
        ("canary_baseline_negative_share", "gauge"),
        ("canary_alert_firing", "gauge"),
        ("canary_alerts_total", "counter"),
        ("canary_watermark_timestamp_seconds", "gauge"),
        ("canary_language_posts_total", "counter"),
    ] {
        assert!(
            body.contains(&format!("# TYPE {name} {kind}")),
            "{name} {kind} missing:\n{body}"
        );
    }
    for stage in ["ingest", "normalize", "language", "sentiment", "aggregate"] {
        assert!(
            body.contains(&format!("canary_stage_records_total{{stage=\"{stage}\"}}")),
            "{stage}"
        );
    }
    assert!(
        body.contains("canary_notices_total{kind=\"delete\"} 82"),
        "{body}"
    );
    assert!(
        body.contains("canary_alert_firing{kind=\"negative_share\",lang=\"all\",watch=\"acme\"} 0")
    );
    assert!(body.contains("canary_window_posts{lang=\"all\",watch=\"globex\"}"));
    // Labels stay bounded: no post ids, users or terms.
    assert!(!body.contains("1787"), "a post id leaked into a label");
}
