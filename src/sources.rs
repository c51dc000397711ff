//! Live sources in the binary: `[source.KIND]` settings, `--source
//! KIND[=URL]` flags, the source threads and their health metrics.

use anyhow::{Result, anyhow};
use canary_ingest::Item;
use canary_sources::{Kind, SourceConfig, conn::Url};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// `[source.KIND]`: how one live source connects. Every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// Where to connect (a `--source KIND=URL` overrides it); the
    /// platform's public endpoint by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Environment variable holding the token (Mastodon access token, X bearer token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// File whose first line is the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Mastodon: stream this hashtag (`/api/v1/streaming/hashtag?tag=...`)
    /// instead of the public timeline. Ignored when `url` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashtag: Option<String>,
    /// Seconds of silence after which the connection counts as dead (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<f64>,
    /// First reconnect delay in seconds (default 1), doubling per failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_initial: Option<f64>,
    /// Longest reconnect delay in seconds (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_max: Option<f64>,
    /// Jetstream: seconds before the last event a resume starts (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewind: Option<f64>,
}

/// Checks `[source.*]` without reading tokens: kind names, URLs, numbers.
pub fn validate(
    sources: &BTreeMap<String, SourceSettings>,
) -> std::result::Result<(), (String, String)> {
    for (kind, s) in sources {
        let Some(k) = Kind::parse(kind) else {
            return Err((
                format!("source.{kind}"),
                format!("unknown source {kind:?} (jetstream, mastodon, x)"),
            ));
        };
        build(k, None, s, false)?;
    }
    Ok(())
}

fn seconds(
    key: String,
    v: Option<f64>,
    min: f64,
) -> std::result::Result<Option<Duration>, (String, String)> {
    match v {
        None => Ok(None),
        Some(v) if v.is_finite() && v >= min && v < 1e7 => Ok(Some(Duration::from_secs_f64(v))),
        Some(_) => Err((key, format!("must be a number of seconds, at least {min}"))),
    }
}

/// The client settings for `kind`, with `url` (from `--source KIND=URL`)
/// over the config's; tokens are read when `tokens` is set.
fn build(
    kind: Kind,
    url: Option<&str>,
    s: &SourceSettings,
    tokens: bool,
) -> std::result::Result<SourceConfig, (String, String)> {
    let k = |f: &str| format!("source.{}.{f}", kind.as_str());
    let hashtag_url;
    let url = match (url, &s.url, &s.hashtag) {
        (Some(u), ..) => u,
        (None, Some(u), _) => u.as_str(),
        (None, None, Some(tag)) if kind == Kind::Mastodon => {
            let tag = tag.trim_start_matches('#');
            if tag.is_empty() || !tag.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err((k("hashtag"), format!("{tag:?} is not a hashtag")));
            }
            hashtag_url = format!("https://mastodon.social/api/v1/streaming/hashtag?tag={tag}");
            &hashtag_url
        }
        (None, None, Some(_)) => {
            return Err((
                k("hashtag"),
                "only a mastodon source follows a hashtag".into(),
            ));
        }
        (None, None, None) => kind.default_url(),
    };
    let parsed = Url::parse(url).map_err(|e| (k("url"), e.to_string()))?;
    let want_ws = kind == Kind::Jetstream;
    if parsed.websocket != want_ws {
        return Err((
            k("url"),
            format!(
                "{} streams over {}, not {url:?}",
                kind.as_str(),
                if want_ws {
                    "ws:// or wss://"
                } else {
                    "http:// or https://"
                }
            ),
        ));
    }
    if s.token_env.is_some() && s.token_file.is_some() {
        return Err((
            k("token_env"),
            "set token_env or token_file, not both".into(),
        ));
    }
    let mut c = SourceConfig::new(kind, parsed);
    if let Some(d) = seconds(k("idle_timeout"), s.idle_timeout, 0.1)? {
        c.idle_timeout = d;
    }
    if let Some(d) = seconds(k("backoff_initial"), s.backoff_initial, 0.01)? {
        c.backoff_initial = d;
    }
    if let Some(d) = seconds(k("backoff_max"), s.backoff_max, 0.01)? {
        c.backoff_max = d;
    }
    if let Some(d) = seconds(k("rewind"), s.rewind, 0.0)? {
        c.rewind = d;
    }
    if tokens {
        c.token =
            canary_sources::client::read_token(s.token_env.as_deref(), s.token_file.as_deref())
                .map_err(|e| {
                    let key = if s.token_env.is_some() {
                        "token_env"
                    } else {
                        "token_file"
                    };
                    (k(key), e.to_string())
                })?;
        if kind == Kind::X && c.token.is_none() {
            return Err((
                k("token_env"),
                "the X filtered stream needs a bearer token".into(),
            ));
        }
    }
    Ok(c)
}

/// The sources `--source KIND[=URL]` names, checked and with their tokens
/// read: everything wrong is an error before anything starts.
pub fn resolve(
    flags: &[String],
    settings: &BTreeMap<String, SourceSettings>,
) -> Result<Vec<SourceConfig>> {
    let mut out: Vec<SourceConfig> = Vec::new();
    for f in flags {
        let (name, url) = match f.split_once('=') {
            Some((n, u)) => (n, Some(u)),
            None => (f.as_str(), None),
        };
        let kind = Kind::parse(name).ok_or_else(|| {
            anyhow!("--source {f:?}: unknown source {name:?} (jetstream, mastodon, x)")
        })?;
        if out.iter().any(|c| c.kind == kind) {
            return Err(anyhow!("--source {name} is given twice"));
        }
        let s = settings.get(name).cloned().unwrap_or_default();
        let c = build(kind, url, &s, true)
            .map_err(|(k, m)| anyhow!("--source {name}: key `{k}`: {m}"))?;
        out.push(c);
    }
    Ok(out)
}

/// A source's health as metrics.
struct MetricsHealth {
    connected: prometheus::IntGauge,
    reconnects: prometheus::IntCounterVec,
    last_event: prometheus::Gauge,
    bytes: prometheus::IntCounter,
    name: &'static str,
}

impl canary_sources::Health for MetricsHealth {
    fn connected(&self, up: bool) {
        self.connected.set(i64::from(up));
    }
    fn reconnect(&self, reason: &str) {
        self.reconnects
            .with_label_values(&[self.name, reason])
            .inc();
    }
    fn bytes(&self, n: u64) {
        self.bytes.inc_by(n);
    }
    fn event(&self, unix_s: f64) {
        self.last_event.set(unix_s);
    }
}

/// Starts one thread per source; they feed `tx` until `stop` is set or
/// the receiver is gone.
pub fn spawn(
    sources: Vec<SourceConfig>,
    tx: std::sync::mpsc::SyncSender<(Item, Instant)>,
    metrics: &canary_telemetry::Metrics,
    stop: Arc<AtomicBool>,
) {
    for cfg in sources {
        let name = cfg.kind.as_str();
        for r in canary_sources::client::REASONS {
            metrics.source_reconnects.with_label_values(&[name, r]);
        }
        let health = MetricsHealth {
            connected: metrics.source_connected.with_label_values(&[name]),
            reconnects: metrics.source_reconnects.clone(),
            last_event: metrics.source_last_event.with_label_values(&[name]),
            bytes: metrics.source_bytes.with_label_values(&[name]),
            name,
        };
        let (tx, stop) = (tx.clone(), stop.clone());
        // The host only: a query string may carry an access token.
        tracing::info!(source = name, host = %cfg.url.host, "starting live source");
        std::thread::Builder::new()
            .name(format!("source-{name}"))
            .spawn(move || {
                canary_sources::client::run(&cfg, &health, &stop, &mut |item| {
                    tx.send((item, Instant::now())).is_ok()
                });
            })
            .expect("spawn source thread");
    }
}
