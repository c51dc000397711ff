//! The self-contained HTML page.
//!
//! The page carries its data as one JSON block
//! (`<script type="application/json" id="canary-data">`), which a test or a
//! user can read back, and draws it with an inline script into hand-drawn
//! SVG. A Content-Security-Policy of `default-src 'none'` forbids every
//! network request, so an opened report cannot fetch anything, and a change
//! that tried would show as a console error.

use crate::collect::{Collector, Episode, WatchTotals, episodes};
use crate::compare::Difference;
use crate::series::{MAX_BUCKETS, Series, downsample};
use canary_core::aggregate::Alert;
use serde::Serialize;
use std::collections::BTreeMap;

const STYLE: &str = include_str!("../assets/report.css");
const SCRIPT: &str = include_str!("../assets/report.js");

/// The alert threshold the share chart draws as a band above the baseline:
/// a window's share must reach both `floor` and baseline + `min_rise`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Threshold {
    /// `alert.floor`.
    pub floor: f64,
    /// `alert.min_rise`.
    pub min_rise: f64,
}

/// What was read, from the run summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InputSummary {
    /// The input arguments, as given.
    pub files: Vec<String>,
    /// Posts parsed.
    pub posts: u64,
    /// Posts counted in windows.
    pub counted: u64,
    /// Notices by kind.
    pub notices: BTreeMap<String, u64>,
    /// Dead letters by `stage/reason`.
    pub dead_letters: BTreeMap<String, u64>,
    /// Posts that arrived after their window closed.
    pub late: u64,
    /// Posts dated too far in the future.
    pub future: u64,
    /// The run summary as logged.
    pub summary: String,
}

/// A second run over the same input, for the backtest's comparison view.
#[derive(Debug, Clone, Copy)]
pub struct Comparison<'a> {
    /// The second config's name (its path).
    pub label_b: &'a str,
    /// The first config's name.
    pub label_a: &'a str,
    /// The second config, effective.
    pub config_b: &'a str,
    /// What the second run collected.
    pub run_b: &'a Collector,
    /// The differences from the first run's episodes to the second's.
    pub differences: &'a [Difference],
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    /// Page title.
    pub title: String,
    /// What was read.
    pub input: InputSummary,
    /// The effective config (TOML).
    pub config: String,
    /// The alert threshold.
    pub threshold: Threshold,
    /// Watches whose `[watch.alert]` section sets another threshold.
    pub watch_thresholds: BTreeMap<String, Threshold>,
    /// What the run collected (with series kept).
    pub run: &'a Collector,
    /// The backtest's second run, if any.
    pub comparison: Option<Comparison<'a>>,
}

#[derive(Serialize)]
struct Data<'a> {
    v: u16,
    title: &'a str,
    generated_by: String,
    input: &'a InputSummary,
    config: &'a str,
    threshold: Threshold,
    window_ms: i64,
    span: Option<(i64, i64)>,
    max_buckets: usize,
    watches: Vec<WatchData>,
    alerts: &'a [Alert],
    episodes: Vec<Episode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comparison: Option<ComparisonData<'a>>,
}

#[derive(Serialize)]
struct WatchData {
    name: String,
    threshold: Threshold,
    totals: WatchTotals,
    series: Vec<Series>,
}

#[derive(Serialize)]
struct ComparisonData<'a> {
    a: &'a str,
    b: &'a str,
    config_b: &'a str,
    alerts_b: &'a [Alert],
    episodes_b: Vec<Episode>,
    differences: &'a [Difference],
}

impl Report<'_> {
    /// The data block, as the page embeds it (before escaping).
    pub fn data_json(&self) -> String {
        let c = self.run;
        let window_ms = c.window_ms();
        let mut span: Option<(i64, i64)> = None;
        let watches = c
            .watches()
            .iter()
            .map(|w| {
                let series = c
                    .series(w)
                    .into_iter()
                    .map(|(lang, ws)| {
                        if let (Some(f), Some(l)) = (ws.first(), ws.last()) {
                            let (a, b) = span.unwrap_or((f.start_ms, l.start_ms + window_ms));
                            span = Some((a.min(f.start_ms), b.max(l.start_ms + window_ms)));
                        }
                        downsample(lang, ws, window_ms, MAX_BUCKETS)
                    })
                    .collect();
                WatchData {
                    name: w.clone(),
                    threshold: self
                        .watch_thresholds
                        .get(w)
                        .copied()
                        .unwrap_or(self.threshold),
                    totals: c.totals(w),
                    series,
                }
            })
            .collect();
        let data = Data {
            v: 1,
            title: &self.title,
            generated_by: format!("canary {}", env!("CARGO_PKG_VERSION")),
            input: &self.input,
            config: &self.config,
            threshold: self.threshold,
            window_ms,
            span,
            max_buckets: MAX_BUCKETS,
            watches,
            alerts: c.alerts(),
            episodes: c.episodes(),
            comparison: self.comparison.map(|k| ComparisonData {
                a: k.label_a,
                b: k.label_b,
                config_b: k.config_b,
                alerts_b: k.run_b.alerts(),
                episodes_b: episodes(k.run_b.alerts()),
                differences: k.differences,
            }),
        };
        serde_json::to_string(&data).expect("report data serialises: plain structs and maps")
    }

    /// The whole page.
    pub fn render(&self) -> String {
        let json = self.data_json();
        let mut page = String::with_capacity(json.len() + STYLE.len() + SCRIPT.len() + 1024);
        page.push_str(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
        );
        push_escaped(&mut page, &self.title);
        page.push_str("</title>\n<style>\n");
        page.push_str(STYLE);
        page.push_str("</style>\n</head>\n<body>\n<main id=\"main\"><h1>");
        push_escaped(&mut page, &self.title);
        page.push_str(
            "</h1><noscript>This report draws its charts with JavaScript; \
             its data is in the canary-data block of the page source.</noscript></main>\n\
             <script type=\"application/json\" id=\"canary-data\">",
        );
        // Inside a script element only `</script` (and `<!--`) could end or
        // confuse the block; `<`, `>` and `&` appear in JSON only inside
        // strings, where their \u escapes mean the same.
        for ch in json.chars() {
            match ch {
                '<' => page.push_str("\\u003c"),
                '>' => page.push_str("\\u003e"),
                '&' => page.push_str("\\u0026"),
                c => page.push(c),
            }
        }
        page.push_str("</script>\n<script>\n");
        page.push_str(SCRIPT);
        page.push_str("</script>\n</body>\n</html>\n");
        page
    }
}

fn push_escaped(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use canary_core::aggregate::{AggregateOutput, AlertKind, AlertState, Sample, WindowSummary};
    use canary_core::time::format_rfc3339;

    pub(crate) fn window(
        watch: &str,
        lang: &str,
        start_ms: i64,
        volume: u64,
        scored: u64,
        negative: u64,
    ) -> AggregateOutput {
        AggregateOutput::Window(WindowSummary {
            v: 1,
            watch: watch.into(),
            lang: lang.into(),
            start_ms,
            end_ms: start_ms + 300_000,
            volume,
            scored,
            negative,
            baseline_share: Some(0.02),
            baseline_volume: 50.0,
            negative_firing: false,
            volume_firing: false,
            care: None,
        })
    }

    pub(crate) fn alert(
        id: &str,
        watch: &str,
        lang: &str,
        state: AlertState,
        start_ms: i64,
    ) -> AggregateOutput {
        AggregateOutput::Alert(Alert {
            v: 1,
            alert_id: id.into(),
            kind: AlertKind::NegativeShare,
            watch: watch.into(),
            lang: lang.into(),
            state,
            window_start: format_rfc3339(start_ms),
            window_end: format_rfc3339(start_ms + 300_000),
            volume: 200,
            scored: 180,
            negative: 70,
            negative_share: 0.39,
            baseline_share: 0.02,
            baseline_volume: 50.0,
            p_value: 1e-12,
            top_terms: vec!["refund".into(), "#acmefail".into()],
            sample_ids: vec!["1".into()],
            samples: vec![Sample {
                id: "1".into(),
                text: "</script><script>alert(1)</script> & worst".into(),
                compound: -0.8,
            }],
            episode_start: format_rfc3339(start_ms),
            evidence: None,
            resolution: None,
        })
    }

    fn report(c: &Collector) -> Report<'_> {
        Report {
            title: "replay <of> march".into(),
            input: InputSummary::default(),
            config: "[alert]\nfloor = 0.1\n".into(),
            threshold: Threshold {
                floor: 0.1,
                min_rise: 0.05,
            },
            watch_thresholds: BTreeMap::new(),
            run: c,
            comparison: None,
        }
    }

    fn data_block(page: &str) -> serde_json::Value {
        let open = "<script type=\"application/json\" id=\"canary-data\">";
        let start = page.find(open).expect("data block") + open.len();
        let end = start + page[start..].find("</script>").expect("block end");
        serde_json::from_str(&page[start..end]).expect("the block is JSON")
    }

    #[test]
    fn the_data_block_reads_back_and_post_text_cannot_end_it() {
        let mut c = Collector::new(&["acme".into()], true);
        c.observe(&window("acme", "all", 0, 10, 8, 2));
        c.observe(&alert("a1", "acme", "all", AlertState::Firing, 0));
        let page = report(&c).render();
        assert_eq!(page.matches("</script>").count(), 2, "only the page's own");
        assert!(page.contains("<title>replay &lt;of&gt; march</title>"));
        let d = data_block(&page);
        assert_eq!(
            d["alerts"][0]["samples"][0]["text"],
            "</script><script>alert(1)</script> & worst"
        );
        assert_eq!(d["watches"][0]["series"][0]["volume_max"][0], 10);
        assert_eq!(d["span"], serde_json::json!([0, 300_000]));
        assert_eq!(d["episodes"][0]["alert_id"], "a1");
    }

    #[test]
    fn the_page_requests_nothing() {
        let c = Collector::new(&["acme".into()], true);
        let page = report(&c).render();
        assert!(page.contains("default-src 'none'"));
        for needle in [
            "http://",
            "https://",
            "src=",
            "fetch(",
            "XMLHttpRequest",
            "@import",
            "url(",
        ] {
            // The SVG namespace is an identifier, never fetched.
            let n = page.matches(needle).count()
                - usize::from(needle == "http://")
                    * page.matches("http://www.w3.org/2000/svg").count();
            assert_eq!(n, 0, "{needle} in the page");
        }
    }

    /// A month of 20 watches, each with three languages, in 5-minute
    /// windows, with an episode a day per watch.
    #[test]
    fn a_month_of_twenty_watches_stays_under_5_mb() {
        let names: Vec<String> = (0..20).map(|i| format!("brand-{i:02}")).collect();
        let mut c = Collector::new(&names, true);
        let windows = 30 * 24 * 12;
        for i in 0..windows {
            let t = 1_700_000_000_000 + i * 300_000;
            for w in &names {
                for (lang, k) in [("all", 3), ("en", 2), ("es", 1)] {
                    let v = 40 * k + (i as u64 * 7) % 23;
                    c.observe(&window(w, lang, t, v, v - 3, (i as u64 * 13) % 9));
                }
                if i % 288 == 100 {
                    c.observe(&alert(&format!("{w}-{i}"), w, "all", AlertState::Firing, t));
                }
                if i % 288 == 112 {
                    let s = t - 12 * 300_000;
                    c.observe(&alert(
                        &format!("{w}-{}", i - 12),
                        w,
                        "all",
                        AlertState::Resolved,
                        s,
                    ));
                }
            }
        }
        let page = report(&c).render();
        let d = data_block(&page);
        let s = &d["watches"][19]["series"][2];
        assert_eq!(s["windows"], windows);
        assert!(s["t"].as_array().unwrap().len() <= MAX_BUCKETS);
        assert_eq!(d["episodes"].as_array().unwrap().len(), 20 * 30);
        let mb = page.len() as f64 / 1e6;
        println!("a month of 20 watches × 3 languages: {mb:.2} MB");
        assert!(mb < 5.0, "{mb:.2} MB");
    }
}
