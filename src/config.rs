//! The config file: watches and stage settings, TOML, unknown keys refused.

use anyhow::{Context, Result};
use canary_core::aggregate::{
    AggregateConfig, AlertConfig, BaselineConfig, ExplainConfig, VolumeAlertConfig, WindowConfig,
};
use canary_core::event_time::EventTimeConfig;
use canary_runtime::PipelineSpec;
use canary_sinks::SinkConfig;
use canary_stages::{LanguageConfig, SentimentConfig, WatchConfig};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// The whole config file. Every table but `[[watch]]` is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Brands, handles and keywords to watch.
    #[serde(default, rename = "watch")]
    pub watches: Vec<WatchConfig>,
    /// Language detection.
    #[serde(default)]
    pub language: LanguageConfig,
    /// Sentiment scoring.
    #[serde(default)]
    pub sentiment: SentimentConfig,
    /// Event-time windows.
    #[serde(default)]
    pub window: WindowConfig,
    /// Which event times may move the watermark (`future` posts).
    #[serde(default)]
    pub event_time: EventTimeConfig,
    /// Baselines.
    #[serde(default)]
    pub baseline: BaselineConfig,
    /// Negative-share alerts.
    #[serde(default)]
    pub alert: AlertConfig,
    /// Volume alerts.
    #[serde(default)]
    pub volume: VolumeAlertConfig,
    /// Alert explanations.
    #[serde(default)]
    pub explain: ExplainConfig,
    /// Social care: response times, response rate, triage queue.
    #[serde(default)]
    pub care: canary_core::care::CareConfig,
    /// Reading inputs (`[input.csv]`: a CSV column mapping).
    #[serde(default, skip_serializing_if = "InputConfig::is_default")]
    pub input: InputConfig,
    /// Live sources (`--source KIND`): `[source.jetstream]`, `[source.mastodon]`, `[source.x]`.
    #[serde(
        default,
        rename = "source",
        skip_serializing_if = "std::collections::BTreeMap::is_empty"
    )]
    pub sources: std::collections::BTreeMap<String, crate::sources::SourceSettings>,
    /// Alert delivery: Slack, PagerDuty, webhooks.
    #[serde(default, rename = "sink", skip_serializing_if = "Vec::is_empty")]
    pub sinks: Vec<SinkConfig>,
    /// Kafka mode (`canary stage`, `canary replay`): brokers, prefixes, librdkafka options.
    #[cfg(feature = "kafka")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<canary_kafka::KafkaConfig>,
}

/// `[input]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Which CSV columns hold what; `--csv-*` flags override each key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvConfig>,
}

impl InputConfig {
    fn is_default(&self) -> bool {
        self == &InputConfig::default()
    }
}

/// `[input.csv]`: column names as in the header row (any case). Keys left
/// out fall back to the usual names (`tweet_id`/`id_str`/`id`,
/// `text`/`full_text`/…, `tweet_created`/`created_at`/…).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// Column of the post id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Column of the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Column of the creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// `auto`, `twitter`, `rfc3339`, `epoch-seconds` or `epoch-millis`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_format: Option<String>,
    /// Column of the author handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// Column of the platform's language tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Column naming the brand a row is about: the row counts for the watch
    /// of that name (compared on letters and digits, any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// One-byte field delimiter (`","`, `";"`, `"\t"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Undo `&amp;`/`&lt;`/`&gt;` in the text (default true: exports of API
    /// text keep the API's escaping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_unescape: Option<bool>,
}

impl CsvConfig {
    /// `self` with every key `over` sets replaced.
    pub fn overlay(mut self, over: &CsvConfig) -> CsvConfig {
        macro_rules! take {
            ($($f:ident),*) => {$(if over.$f.is_some() { self.$f = over.$f.clone(); })*};
        }
        take!(
            id,
            text,
            time,
            time_format,
            handle,
            lang,
            brand,
            delimiter,
            html_unescape
        );
        self
    }

    /// The ingest mapping; the error names the key and what is wrong.
    pub fn mapping(&self) -> std::result::Result<canary_ingest::CsvMapping, (String, String)> {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let mut m = canary_ingest::CsvMapping::new(&s(&self.id), &s(&self.text), &s(&self.time));
        m.time_format = self
            .time_format
            .as_deref()
            .unwrap_or("auto")
            .parse()
            .map_err(|e| ("input.csv.time_format".to_owned(), e))?;
        m.delimiter = match self.delimiter.as_deref() {
            None => b',',
            Some("\\t" | "tab") => b'\t',
            Some(d) if d.len() == 1 && d.is_ascii() && d != "\"" && d != "\n" => d.as_bytes()[0],
            Some(d) => {
                return Err((
                    "input.csv.delimiter".into(),
                    format!(
                        "delimiter {d:?} must be one ASCII character other than a quote or newline"
                    ),
                ));
            }
        };
        m.handle = self.handle.clone();
        m.lang = self.lang.clone();
        m.brand = self.brand.clone();
        m.html_unescape = self.html_unescape.unwrap_or(true);
        Ok(m)
    }
}

/// A config error that names the file, line and key.
#[derive(Debug)]
pub struct ConfigError {
    /// File path.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key path, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(k) = &self.key {
            write!(f, ": key `{k}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key (`alert.floor`, `watch.2.name`) set on 1-based `line`,
/// in the form [`locate`] reads; `None` when the line sets no key.
fn key_at(text: &str, line: usize) -> Option<String> {
    let mut table: Option<String> = None;
    let mut arrays: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if i + 1 == line {
            let (k, _) = l.split_once('=')?;
            let k = k.trim().trim_matches('"');
            if k.is_empty() || l.starts_with('[') {
                return None;
            }
            return Some(match &table {
                Some(t) => format!("{t}.{k}"),
                None => k.to_owned(),
            });
        }
        if let Some(name) = l.strip_prefix("[[") {
            let name = name.split("]]").next().unwrap_or("").trim().to_owned();
            let n = arrays.entry(name.clone()).or_default();
            *n += 1;
            table = Some(format!("{name}.{n}"));
        } else if let Some(name) = l.strip_prefix('[') {
            table = Some(name.split(']').next().unwrap_or("").trim().to_owned());
        }
    }
    None
}

/// Finds the line where dotted `key` (e.g. `alert.floor`, `watch.2.match`) is set.
fn locate(text: &str, key: &str) -> Option<usize> {
    let parts: Vec<&str> = key.split('.').collect();
    // `input.csv.id` is key `id` of table `[input.csv]`; `watch.2.match` is
    // key `match` of the second `[[watch]]`.
    let (table, field) = match parts.as_slice() {
        [field] => (None, *field),
        [table, field] => (Some((*table, None)), *field),
        [_, sub, field] if sub.parse::<usize>().is_err() => {
            (Some((&key[..key.len() - field.len() - 1], None)), *field)
        }
        [table, idx, field] => (Some((*table, idx.parse::<usize>().ok())), *field),
        _ => return None,
    };
    let mut in_table = table.is_none();
    let mut seen = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('[') {
            let name = l.trim_matches(|c| c == '[' || c == ']').trim();
            in_table = match table {
                None => false,
                Some((t, None)) => name == t,
                Some((t, Some(n))) if name == t => {
                    seen += 1;
                    seen == n
                }
                Some((_, Some(_))) => false,
            };
            continue;
        }
        if in_table {
            let k = l.split('=').next().unwrap_or("").trim().trim_matches('"');
            if k == field && l.contains('=') {
                return Some(i + 1);
            }
        }
    }
    None
}

/// Watches refused beyond: a post matching them all would cost the
/// aggregate ~2 ms and each open window ~1.3 GB (measured figures scaled
/// from 501 watches, README).
pub const MAX_WATCHES: usize = 1000;

/// Watches beyond which `load` warns.
pub const WARN_WATCHES: usize = 100;

impl Config {
    /// Parses and validates config text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let message = e.message().trim().to_owned();
            // An unknown key's message names it already; a wrong value's
            // names only the type, so the key is read off the line.
            let key = line
                .filter(|_| !message.starts_with("unknown field"))
                .and_then(|l| key_at(text, l));
            ConfigError {
                file: file.to_owned(),
                line,
                key,
                message,
            }
        })?;
        cfg.validate().map_err(|(key, message)| ConfigError {
            file: file.to_owned(),
            line: locate(text, &key),
            key: Some(key),
            message,
        })?;
        Ok(cfg)
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let file = path.display().to_string();
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let valid = std::str::from_utf8(&e.as_bytes()[..at]).unwrap_or_default();
            let line_start = valid.rfind('\n').map_or(0, |i| i + 1);
            ConfigError {
                file: file.clone(),
                line: Some(line_of(valid, at)),
                key: None,
                message: format!(
                    "not UTF-8 (byte offset {at}, column {})",
                    valid[line_start..].chars().count() + 1
                ),
            }
        })?;
        let cfg = Config::parse(&text, &file)?;
        if let Some(w) = cfg.watch_count_warning() {
            tracing::warn!("{file}: {w}");
        }
        Ok(cfg)
    }

    /// A warning when there are more watches than [`WARN_WATCHES`].
    pub fn watch_count_warning(&self) -> Option<String> {
        let n = self.watches.len();
        (n > WARN_WATCHES).then(|| {
            format!(
                "{n} watches: a post costs the aggregate about 2 µs, and each open window \
                 about 1.3 MB, per watch it matches (at 501 watches matching every post: \
                 ~950 posts/s); above {WARN_WATCHES} watches, check that few match the same posts"
            )
        })
    }

    /// Checks what serde cannot: ranges, relations, and that each stage builds.
    pub fn validate(&self) -> std::result::Result<(), (String, String)> {
        if self.watches.is_empty() {
            return Err(("watch".into(), "at least one [[watch]] is required".into()));
        }
        if self.watches.len() > MAX_WATCHES {
            return Err((
                format!("watch.{}.name", MAX_WATCHES + 1),
                format!(
                    "{} watches; at most {MAX_WATCHES}: time and memory grow with the \
                     watches each post matches (see the README's configuration section)",
                    self.watches.len()
                ),
            ));
        }
        if let Err(e) = canary_stages::WatchMatcher::new(&self.watches) {
            let key = match &e {
                canary_stages::Error::Watch { index, field, .. } => {
                    format!("watch.{}.{field}", index + 1)
                }
                _ => "watch".into(),
            };
            return Err((key, e.to_string()));
        }
        if let Err(e) = canary_stages::LanguageStage::new(&self.language) {
            return Err(("language.languages".into(), e.to_string()));
        }
        if let Err(e) = canary_stages::SentimentStage::new(&self.sentiment) {
            return Err(("sentiment.languages".into(), e.to_string()));
        }
        self.aggregate().validate()?;
        self.care.validate()?;
        self.watch_overrides()?;
        for (key, span) in [
            ("event_time.max_ahead", self.event_time.max_ahead),
            ("event_time.max_jump", self.event_time.max_jump),
        ] {
            if span.ms() <= 0 {
                return Err((key.into(), "must be longer than 0s".into()));
            }
        }
        if let Some(c) = &self.input.csv {
            c.mapping()?;
        }
        crate::sources::validate(&self.sources)?;
        // Secrets are read here too, so a missing variable stops the run before any input is read.
        self.resolve_sinks().map(|_| ())
    }

    /// The `[[sink]]` tables with their URLs and keys read from env or files.
    pub fn resolve_sinks(&self) -> std::result::Result<Vec<canary_sinks::Sink>, (String, String)> {
        canary_sinks::resolve_all(&self.sinks).map_err(|(i, e)| match e {
            canary_sinks::Error::Config { key, message } => (format!("sink.{i}.{key}"), message),
        })
    }

    /// The aggregate stage's part, with the watches that set their own
    /// `alert`, `volume` or `baseline` keys (checked by [`Config::validate`]).
    pub fn aggregate(&self) -> AggregateConfig {
        let mut cfg = self.file_aggregate();
        cfg.watches = self.watch_overrides().unwrap_or_default();
        cfg
    }

    fn file_aggregate(&self) -> AggregateConfig {
        AggregateConfig {
            window: self.window.clone(),
            baseline: self.baseline.clone(),
            alert: self.alert.clone(),
            volume: self.volume.clone(),
            explain: self.explain.clone(),
            care: canary_core::care::CareConfig {
                accounts: self
                    .watches
                    .iter()
                    .filter(|w| !w.accounts.is_empty())
                    .map(|w| (w.name.clone(), w.accounts.clone()))
                    .collect(),
                ..self.care.clone()
            },
            watches: Default::default(),
        }
    }

    /// The whole aggregate config of each watch that sets keys of its own.
    fn watch_overrides(
        &self,
    ) -> std::result::Result<std::collections::BTreeMap<String, AggregateConfig>, (String, String)>
    {
        let base = self.file_aggregate();
        let mut out = std::collections::BTreeMap::new();
        for (i, w) in self.watches.iter().enumerate() {
            let sections: Vec<(&str, &canary_stages::normalize::SectionOverride)> = [
                ("alert", &w.alert),
                ("volume", &w.volume),
                ("baseline", &w.baseline),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect();
            if sections.is_empty() {
                continue;
            }
            let cfg = base
                .for_watch(&sections)
                .map_err(|(k, m)| (format!("watch.{}.{k}", i + 1), m))?;
            out.insert(w.name.clone(), cfg);
        }
        Ok(out)
    }

    /// Everything the pipeline needs.
    pub fn spec(&self) -> PipelineSpec {
        PipelineSpec {
            watches: self.watches.clone(),
            language: self.language.clone(),
            sentiment: self.sentiment.clone(),
            aggregate: self.aggregate(),
            event_time: self.event_time.clone(),
        }
    }

    /// The effective config, every default spelled out, as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_only_file_gets_defaults() {
        let c = Config::parse(
            "[[watch]]\nname = \"acme\"\nmatch = [\"@acme\", \"@acmehelp\", \"#acmefail\", \"acme corp\"]\n",
            "c.toml",
        )
        .unwrap();
        assert_eq!(c.watches[0].patterns.len(), 4);
        assert_eq!(c.window, WindowConfig::default());
        let again = Config::parse(&c.to_toml(), "printed").unwrap();
        assert_eq!(
            again, c,
            "the printed effective config parses back to itself"
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = Config::parse(
            "[[watch]]\nname = \"a\"\nmatch = [\"a\"]\n\n[alert]\nflor = 0.2\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("c.toml:6"), "{e}");
        assert!(e.contains("flor"), "{e}");
        let e = Config::parse(
            "[[watch]]\nname = \"a\"\nmatch = [\"a\"]\n[alert]\nfloor = 1.5\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "c.toml:5: key `alert.floor`: must be between 0 and 1");
        let e = Config::parse(
            "[[watch]]\nname = \"a\"\nmatch = [\"a\"]\n[volume]\nlong_factor = 0.5\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "c.toml:5: key `volume.long_factor`: must be at least 1");
        let e = Config::parse(
            "[[watch]]\nname = \"a\"\nmatch = [\"a\"]\n[[watch]]\nname = \"b\"\nmatch = []\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("c.toml:6: key `watch.2.match`"), "{e}");
        let e = Config::parse("[window]\nlength = \"5x\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("c.toml:2") && e.contains("unknown unit"),
            "{e}"
        );
        let e = Config::parse(
            "[[watch]]\nname = \"a\"\nmatch = [\"a\"]\n[[watch]]\nname = \"b\"\nmatch = \"b\"\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("c.toml:6: key `watch.2.match`: invalid type"),
            "{e}"
        );
        let e = Config::parse("", "c.toml").unwrap_err().to_string();
        assert!(e.contains("at least one [[watch]]"), "{e}");
    }

    #[test]
    fn watch_count_is_bounded() {
        let watches = |n: usize| {
            (0..n)
                .map(|i| format!("[[watch]]\nname = \"w{i}\"\nmatch = [\"@acme\"]\n"))
                .collect::<String>()
        };
        let c = Config::parse(&watches(WARN_WATCHES), "c.toml").unwrap();
        assert_eq!(c.watch_count_warning(), None);
        let c = Config::parse(&watches(WARN_WATCHES + 1), "c.toml").unwrap();
        assert!(c.watch_count_warning().unwrap().starts_with("101 watches"));
        assert!(Config::parse(&watches(MAX_WATCHES), "c.toml").is_ok());
        let e = Config::parse(&watches(MAX_WATCHES + 1), "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("c.toml:3002: key `watch.1001.name`: 1001 watches; at most 1000"),
            "{e}"
        );
    }

    #[test]
    fn a_watch_sets_its_own_alert_volume_and_baseline_keys() {
        let c = Config::parse(
            "[[watch]]\nname = \"big\"\nmatch = [\"@big\"]\n\n[[watch]]\nname = \"small\"\nmatch = [\"@small\"]\nalert = { min_volume = 10, slow_alpha = 1e-3 }\nvolume = { enabled = false }\n",
            "c.toml",
        )
        .unwrap();
        let a = c.aggregate();
        assert!(!a.watches.contains_key("big"));
        let small = &a.watches["small"];
        assert_eq!(small.alert.min_volume, 10);
        assert_eq!(small.alert.slow_alpha, 1e-3);
        assert!(!small.volume.enabled);
        assert_eq!(small.alert.floor, a.alert.floor, "the rest is the file's");
        let e = Config::parse(
            "[[watch]]\nname = \"a\"\nmatch = [\"a\"]\nalert = { flor = 0.2 }\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("watch.1.alert.flor"), "{e}");
        let e = Config::parse(
            "[[watch]]\nname = \"a\"\nmatch = [\"a\"]\nwindow = { length = \"1h\" }\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("window"), "{e}");
    }
}
