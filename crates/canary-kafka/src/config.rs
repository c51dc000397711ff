//! Broker settings, topic names and consumer groups.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `[kafka]` table of the config file (command-line flags override it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    pub brokers: Option<String>,
    /// Prefix of every topic name.
    pub topic_prefix: String,
    /// Prefix of every consumer group id (the stage name follows).
    pub group_prefix: String,
    /// Partitions of the keyed topics (normalized, languaged, scored) when canary creates them.
    pub partitions: i32,
    /// librdkafka options passed through verbatim (e.g. `"security.protocol" = "SASL_SSL"`).
    pub options: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: None,
            topic_prefix: "canary.".into(),
            group_prefix: "canary-".into(),
            partitions: 4,
            options: BTreeMap::new(),
        }
    }
}

/// Secrets read from the environment rather than the config file.
const SECRET_ENV: [(&str, &str); 3] = [
    ("sasl.password", "CANARY_KAFKA_SASL_PASSWORD"),
    ("ssl.key.password", "CANARY_KAFKA_SSL_KEY_PASSWORD"),
    (
        "sasl.oauthbearer.client.secret",
        "CANARY_KAFKA_OAUTH_CLIENT_SECRET",
    ),
];

impl KafkaConfig {
    /// The librdkafka options to apply on top of canary's defaults: the
    /// config's `options`, then secrets from the environment, then `extra`
    /// (`--kafka-option key=value`), later ones winning.
    pub fn client_options(&self, extra: &[(String, String)]) -> BTreeMap<String, String> {
        let mut o = self.options.clone();
        for (key, env) in SECRET_ENV {
            if let Ok(v) = std::env::var(env) {
                o.insert(key.into(), v);
            }
        }
        for (k, v) in extra {
            o.insert(k.clone(), v.clone());
        }
        o
    }

    /// Topic names under this config's prefix.
    pub fn topics(&self) -> Topics {
        Topics::new(&self.topic_prefix)
    }

    /// The consumer group of a stage.
    pub fn group(&self, stage: StageName) -> String {
        format!("{}{}", self.group_prefix, stage.as_str())
    }
}

/// The stages that run as their own process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StageName {
    /// raw lines → parsed records.
    Ingest,
    /// parsed → normalized (watch matching, keyed by watch).
    Normalize,
    /// normalized → languaged.
    Language,
    /// languaged → scored.
    Sentiment,
    /// scored → alerts and windows.
    Aggregate,
    /// alerts → the `[[sink]]`s.
    Notify,
}

impl std::str::FromStr for StageName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        StageName::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown stage {s:?} (ingest, normalize, language, sentiment, aggregate, notify)"
                )
            })
    }
}

impl StageName {
    /// Every stage, upstream first.
    pub const ALL: [StageName; 6] = [
        StageName::Ingest,
        StageName::Normalize,
        StageName::Language,
        StageName::Sentiment,
        StageName::Aggregate,
        StageName::Notify,
    ];

    /// The name used in groups, metrics and dead-letter headers.
    pub fn as_str(self) -> &'static str {
        match self {
            StageName::Ingest => "ingest",
            StageName::Normalize => "normalize",
            StageName::Language => "language",
            StageName::Sentiment => "sentiment",
            StageName::Aggregate => "aggregate",
            StageName::Notify => "notify",
        }
    }

    /// The topic the stage consumes.
    pub fn input(self, t: &Topics) -> &str {
        match self {
            StageName::Ingest => &t.raw,
            StageName::Normalize => &t.parsed,
            StageName::Language => &t.normalized,
            StageName::Sentiment => &t.languaged,
            StageName::Aggregate => &t.scored,
            StageName::Notify => &t.alerts,
        }
    }
}

/// Topic names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Raw input lines (one partition).
    pub raw: String,
    /// Parsed records (one partition).
    pub parsed: String,
    /// Posts matched to watches, one message per (post, watch), keyed by watch.
    pub normalized: String,
    /// ... with a language.
    pub languaged: String,
    /// ... with sentiment scores.
    pub scored: String,
    /// Alert records, keyed by `alert_id/state`.
    pub alerts: String,
    /// Closed-window summaries, keyed by `watch/lang/start`.
    pub windows: String,
    /// Social-care triage records (`open`, then `answered`), keyed by `watch/post id`.
    pub triage: String,
    /// Dead letters of every stage, with `stage`, `reason` and `source_*` headers.
    pub dead_letters: String,
}

impl Topics {
    /// Names under `prefix`.
    pub fn new(prefix: &str) -> Topics {
        let t = |s: &str| format!("{prefix}{s}");
        Topics {
            raw: t("raw"),
            parsed: t("parsed"),
            normalized: t("normalized"),
            languaged: t("languaged"),
            scored: t("scored"),
            alerts: t("alerts"),
            windows: t("windows"),
            triage: t("triage"),
            dead_letters: t("dead-letters"),
        }
    }

    /// Every topic with the partition count canary creates it with.
    pub fn all(&self, keyed_partitions: i32) -> Vec<(&str, i32)> {
        vec![
            (self.raw.as_str(), 1),
            (self.parsed.as_str(), 1),
            (self.normalized.as_str(), keyed_partitions),
            (self.languaged.as_str(), keyed_partitions),
            (self.scored.as_str(), keyed_partitions),
            (self.alerts.as_str(), 1),
            (self.windows.as_str(), 1),
            (self.triage.as_str(), 1),
            (self.dead_letters.as_str(), 1),
        ]
    }
}

/// Partition of a watch on the keyed topics: FNV-1a of the name, so every
/// process (and every build) puts a watch in the same place.
pub(crate) fn watch_partition(watch: &str, partitions: i32) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in watch.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % partitions.max(1) as u64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_layer_in_order() {
        let mut c = KafkaConfig::default();
        c.options.insert("linger.ms".into(), "1".into());
        c.options.insert("acks".into(), "all".into());
        let o = c.client_options(&[("linger.ms".into(), "7".into())]);
        assert_eq!(o["linger.ms"], "7");
        assert_eq!(o["acks"], "all");
    }

    #[test]
    fn names_and_partitions_are_stable() {
        let t = Topics::new("x.");
        assert_eq!(t.scored, "x.scored");
        assert_eq!(StageName::Aggregate.input(&t), "x.scored");
        for n in StageName::ALL {
            assert_eq!(n.as_str().parse::<StageName>(), Ok(n));
        }
        let e = "nope".parse::<StageName>().unwrap_err();
        assert!(
            e.contains("unknown stage \"nope\"") && e.contains("notify"),
            "{e}"
        );
        let p = watch_partition("acme", 4);
        assert!((0..4).contains(&p));
        assert_eq!(p, watch_partition("acme", 4));
        assert_eq!(watch_partition("acme", 1), 0);
    }
}
