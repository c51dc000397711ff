//! Prints the detection table (seeded scenarios of real texts) and the NAB
//! realTweets volume table for the default configuration.
//!
//! `cargo run --release -p canary-testkit --example evaluate`

use canary_core::aggregate::{AggregateConfig, AlertKind};
use canary_testkit::{airline, nab, scenario, shared_data};

fn main() {
    let mut cfg = AggregateConfig::default();
    // Overrides for exploring the defaults: CANARY_EVAL_SET="volume.min_volume=10,...".
    if let Ok(set) = std::env::var("CANARY_EVAL_SET") {
        let mut doc = serde_json::json!({});
        for kv in set.split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').expect("key=value");
            let (section, field) = k.split_once('.').expect("section.field");
            let v = serde_json::from_str(v).unwrap_or(serde_json::Value::String(v.into()));
            doc[section][field] = v;
        }
        cfg = serde_json::from_value(doc).expect("valid overrides");
    }
    let only = std::env::args().nth(1);
    let want = |s: &str| only.as_deref().is_none_or(|o| o == s);
    if want("scenarios")
        && let Some(dir) = shared_data("vader")
    {
        let pools = scenario::Pools::load(&dir).expect("load the VADER corpus");
        println!(
            "texts: {} negative, {} other (reference/canary sign disagreements: {})\n",
            pools.negative.len(),
            pools.other.len(),
            pools.disagreements
        );
        println!("{}", scenario::TABLE_HEADER);
        for sc in scenario::standard() {
            let seen = scenario::run(&cfg, &pools, &sc.plans, sc.windows, sc.seed);
            if std::env::var("CANARY_EVAL_SHOW").is_ok_and(|v| sc.name.contains(&v)) {
                for x in &seen {
                    println!("{x:?}");
                }
            }
            for kind in [AlertKind::NegativeShare, AlertKind::Volume] {
                let s = scenario::score(&sc.plans, &seen, kind);
                println!(
                    "{}",
                    scenario::table_row(&format!("{} [{}]", sc.name, kind.as_str()), &s)
                );
            }
        }
        println!();
    }
    if want("nab")
        && let Some(dir) = shared_data("nab_realTweets")
    {
        let series = nab::load_all(&dir).expect("load NAB realTweets");
        if let Ok(t) = std::env::var("CANARY_EVAL_TRACE") {
            let s = series.iter().find(|s| s.name == t).expect("ticker");
            let params = canary_core::aggregate::Params::new(&cfg);
            let mut key = canary_core::aggregate::KeyDetector::default();
            let mut best: Vec<(u64, String)> = vec![(0, String::new()); s.windows.len()];
            for &(ts, v) in &s.rows {
                let c = canary_core::aggregate::WindowCounts {
                    volume: v,
                    scored: 0,
                    negative: 0,
                };
                let d = key.step(&cfg, &params, c, ts, ts + 300_000, |k| k.as_str().into());
                let inw = s.windows.iter().any(|&(a, b)| (a..=b).contains(&ts));
                if let Some(w) = s.windows.iter().position(|&(a, b)| (a..=b).contains(&ts))
                    && v > best[w].0
                {
                    best[w] = (
                        v,
                        format!(
                            "{} v={v} mu={:.1} resid={:.2} tail={:?} p={:.2e} {:?}",
                            canary_core::time::format_rfc3339(ts),
                            d.expected_volume,
                            d.volume_residual,
                            d.volume_tail,
                            d.volume_p,
                            d.volume
                        ),
                    );
                }
                let from = std::env::var("CANARY_EVAL_FROM")
                    .ok()
                    .and_then(|f| canary_core::time::parse_rfc3339(&f));
                let near = from.is_some_and(|f| ts >= f && ts < f + 6 * 3_600_000);
                if near
                    || (std::env::var("CANARY_EVAL_FIRES").is_ok()
                        && !matches!(d.volume, canary_core::aggregate::Transition::None))
                {
                    println!(
                        "{} {} v={v} mu={:.1} level={:.1} p={:.2e} {:?} win={inw} resid={:.2} tail={:?} firing={}",
                        canary_core::time::format_rfc3339(ts),
                        s.name,
                        d.expected_volume,
                        d.baseline_volume,
                        d.volume_p,
                        d.volume,
                        d.volume_residual,
                        d.volume_tail,
                        d.volume_firing
                    );
                }
            }
            for (_, b) in best {
                println!("window peak: {b}");
            }
            return;
        }
        let (table, _) = nab::evaluate(&series, &cfg, nab::STANDARD);
        println!("NAB realTweets, volume alerts, default config, standard profile:\n{table}");
        println!("{}", nab::comparison(&series, &cfg));
        let mut key = canary_core::aggregate::KeyDetector::default();
        let params = canary_core::aggregate::Params::new(&cfg);
        for &(t, v) in &series[0].rows {
            let c = canary_core::aggregate::WindowCounts {
                volume: v,
                scored: v / 2,
                negative: v / 20,
            };
            key.step(&cfg, &params, c, t, t + 300_000, |k| k.as_str().into());
        }
        println!(
            "State of one (watch, language) key after {} windows: {} bytes\n",
            series[0].rows.len(),
            key.state_bytes()
        );
        // Decision cost: every NAB series stepped through a fresh key, five
        // times; the median run, per key-window.
        let windows: usize = series.iter().map(|s| s.rows.len()).sum();
        let mut runs: Vec<f64> = (0..5)
            .map(|_| {
                let t = std::time::Instant::now();
                for s in &series {
                    let mut key = canary_core::aggregate::KeyDetector::default();
                    for &(ts, v) in &s.rows {
                        let c = canary_core::aggregate::WindowCounts {
                            volume: v,
                            scored: v / 2,
                            negative: v / 20,
                        };
                        std::hint::black_box(
                            key.step(&cfg, &params, c, ts, ts + 300_000, |k| k.as_str().into()),
                        );
                    }
                }
                t.elapsed().as_nanos() as f64 / windows as f64
            })
            .collect();
        runs.sort_by(f64::total_cmp);
        println!(
            "Decision cost: {:.0} ns per key and window (median of 5 runs over {windows} key-windows)\n",
            runs[2]
        );
    }
    if want("airline")
        && let Some(p) = shared_data("airline_2015/Tweets.csv")
    {
        let tweets = airline::load(&p).expect("load the airline export");
        let firings = airline::replay(&cfg, &tweets);
        let s = airline::score(&tweets, &firings);
        println!(
            "Airline export, default config: negative shifts alerted {} of {}, volume surges alerted {} of {}, false negative-share alerts {}, false volume alerts {}\n",
            s.shifts.1, s.shifts.0, s.surges.1, s.surges.0, s.false_negative_share, s.false_volume
        );
        println!("{}", s.detail);
    }
}
