//! Prints the detection table (seeded scenarios of real texts) and the NAB
//! realTweets volume table for the default configuration.
//!
//! `cargo run --release -p canary-testkit --example evaluate`

use canary_core::aggregate::{AggregateConfig, AlertKind};
use canary_testkit::{nab, scenario, shared_data};

fn main() {
    let cfg = AggregateConfig::default();
    if let Some(dir) = shared_data("vader") {
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
    if let Some(dir) = shared_data("nab_realTweets") {
        let (table, _) = nab::evaluate(&dir, &cfg).expect("load NAB realTweets");
        println!("NAB realTweets, volume alerts, default config:\n{table}");
    }
}
