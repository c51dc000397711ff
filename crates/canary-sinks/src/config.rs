//! `[[sink]]` tables and their resolution into ready-to-use sinks.
//!
//! Webhook URLs carry their credentials in the path (Slack) and routing keys
//! are credentials, so both are held as [`Secret`]s: read from an environment
//! variable or a file (or, discouraged, inline), never printed.

use crate::Error;
use canary_core::duration::Span;
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// A credential or a URL that embeds one. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    // The effective config is printed by `check-config`: an inline secret must
    // not leak through it.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

/// A kind of record a sink can be sent (`events = [...]` in its table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Alert records, firing then resolved.
    Alert,
    /// Social-care triage records, `open` then `answered`.
    Triage,
}

/// The kinds of record a resolved sink is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Events {
    /// Alert records.
    pub alert: bool,
    /// Triage records.
    pub triage: bool,
}

impl Default for Events {
    /// Alerts only, as a table without `events` asks.
    fn default() -> Self {
        Events {
            alert: true,
            triage: false,
        }
    }
}

/// Queueing and retry settings, the same for every sink type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery {
    /// Records held per sink while its endpoint is slow or down.
    pub queue: usize,
    /// Attempts per record, the first included.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled after each failed attempt.
    pub backoff: Duration,
    /// Cap on the wait between attempts.
    pub max_backoff: Duration,
    /// Whole-request timeout (connect, send, answer).
    pub timeout: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            queue: 1000,
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }
}

impl Delivery {
    /// Wait after failed attempt number `attempt` (1-based).
    pub fn backoff_after(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

fn default_pagerduty_url() -> String {
    PAGERDUTY_URL.to_owned()
}

fn default_severity() -> String {
    "error".to_owned()
}

macro_rules! sink_struct {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Label in metrics and logs; defaults to the sink type.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<String>,
            /// What the sink is sent: `"alert"`, `"triage"` or both
            /// (default `["alert"]`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub events: Option<Vec<EventKind>>,
            $($(#[$fm])* pub $field: $ty,)*
            /// Records held while the endpoint is slow or down (default 1000).
            /// When full, the oldest queued record is dropped and counted.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub queue: Option<usize>,
            /// Attempts per record, the first included (default 5).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub max_attempts: Option<u32>,
            /// Wait before the first retry, doubled each time (default "500ms").
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub backoff: Option<Span>,
            /// Cap on the wait between attempts (default "30s").
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub max_backoff: Option<Span>,
            /// Whole-request timeout (default "10s").
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub timeout: Option<Span>,
        }

        impl $name {
            fn delivery(&self) -> Result<Delivery, Error> {
                delivery(self.queue, self.max_attempts, self.backoff, self.max_backoff, self.timeout)
            }
        }
    };
}

sink_struct! {
    /// A Slack incoming webhook.
    SlackConfig {
        /// The webhook URL inline (discouraged: prefer `url_env` or `url_file`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<Secret>,
        /// Environment variable holding the webhook URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_env: Option<String>,
        /// File holding the webhook URL (surrounding whitespace ignored).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_file: Option<String>,
    }
}

sink_struct! {
    /// PagerDuty Events API v2.
    PagerDutyConfig {
        /// Integration routing key inline (discouraged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        routing_key: Option<Secret>,
        /// Environment variable holding the routing key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        routing_key_env: Option<String>,
        /// File holding the routing key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        routing_key_file: Option<String>,
        /// Events endpoint (overridable for tests and EU accounts).
        #[serde(default = "default_pagerduty_url")]
        url: String,
        /// Event severity: critical, error, warning or info.
        #[serde(default = "default_severity")]
        severity: String,
    }
}

sink_struct! {
    /// A generic JSON webhook: the alert or triage record is POSTed as is.
    WebhookConfig {
        /// The URL inline.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<Secret>,
        /// Environment variable holding the URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_env: Option<String>,
        /// File holding the URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_file: Option<String>,
    }
}

fn default_am_severity() -> String {
    "page".to_owned()
}

fn default_team() -> String {
    "comms".to_owned()
}

fn default_resend() -> Span {
    Span::minutes(1)
}

sink_struct! {
    /// Prometheus Alertmanager's v2 API (`POST <url>/api/v2/alerts`).
    AlertmanagerConfig {
        /// Alertmanager's base URL inline, e.g. `http://alertmanager:9093`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<Secret>,
        /// Environment variable holding the base URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_env: Option<String>,
        /// File holding the base URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_file: Option<String>,
        /// `severity` label of every alert (routes match on it).
        #[serde(default = "default_am_severity")]
        severity: String,
        /// `team` label of every alert (routes match on it).
        #[serde(default = "default_team")]
        team: String,
        /// How often a firing alert is sent again (default "1m"). Each send
        /// sets `endsAt` to four intervals ahead, as Prometheus does, so an
        /// alert whose sender died expires instead of firing forever.
        #[serde(default = "default_resend")]
        resend: Span,
    }
}

/// One `[[sink]]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    /// `type = "slack"`.
    Slack(SlackConfig),
    /// `type = "pagerduty"`.
    #[serde(rename = "pagerduty")]
    PagerDuty(PagerDutyConfig),
    /// `type = "webhook"`.
    Webhook(WebhookConfig),
    /// `type = "alertmanager"`.
    Alertmanager(AlertmanagerConfig),
}

/// Where a resolved sink sends, and how it formats.
#[derive(Debug, Clone)]
pub enum Target {
    /// Slack mrkdwn message.
    Slack {
        /// Webhook URL.
        url: Secret,
    },
    /// PagerDuty event.
    PagerDuty {
        /// Events endpoint.
        url: Secret,
        /// Routing key.
        routing_key: Secret,
        /// Severity of trigger events.
        severity: String,
    },
    /// The record as JSON.
    Webhook {
        /// URL.
        url: Secret,
    },
    /// Alertmanager v2 alerts.
    Alertmanager {
        /// The alerts endpoint (`<base>/api/v2/alerts`).
        url: Secret,
        /// `severity` label.
        severity: String,
        /// `team` label.
        team: String,
        /// Interval between sends of a firing alert.
        resend: Duration,
    },
}

impl Target {
    /// The URL requests go to.
    pub fn url(&self) -> &Secret {
        match self {
            Target::Slack { url }
            | Target::PagerDuty { url, .. }
            | Target::Webhook { url }
            | Target::Alertmanager { url, .. } => url,
        }
    }

    /// Every secret value, for redaction of error texts.
    pub fn secrets(&self) -> Vec<&str> {
        let mut v = vec![self.url().expose()];
        if let Target::PagerDuty { routing_key, .. } = self {
            v.push(routing_key.expose());
        }
        v
    }
}

/// A sink ready to run: secrets read, settings checked.
#[derive(Debug, Clone)]
pub struct Sink {
    /// Label in metrics and logs.
    pub name: String,
    /// Destination and format.
    pub target: Target,
    /// Queue and retry settings.
    pub delivery: Delivery,
    /// What it is sent.
    pub events: Events,
}

fn cfg_err(key: &str, message: impl Into<String>) -> Error {
    Error::Config {
        key: key.to_owned(),
        message: message.into(),
    }
}

fn delivery(
    queue: Option<usize>,
    max_attempts: Option<u32>,
    backoff: Option<Span>,
    max_backoff: Option<Span>,
    timeout: Option<Span>,
) -> Result<Delivery, Error> {
    let d = Delivery::default();
    let ms = |key: &str, s: Option<Span>, dflt: Duration, min_ms: i64| match s {
        None => Ok(dflt),
        Some(s) if s.ms() >= min_ms => Ok(Duration::from_millis(s.ms() as u64)),
        Some(_) => Err(cfg_err(key, format!("must be at least {min_ms}ms"))),
    };
    let out = Delivery {
        queue: queue.unwrap_or(d.queue),
        max_attempts: max_attempts.unwrap_or(d.max_attempts),
        backoff: ms("backoff", backoff, d.backoff, 1)?,
        max_backoff: ms("max_backoff", max_backoff, d.max_backoff, 1)?,
        timeout: ms("timeout", timeout, d.timeout, 100)?,
    };
    if out.queue == 0 {
        return Err(cfg_err("queue", "must be at least 1"));
    }
    if out.max_attempts == 0 {
        return Err(cfg_err("max_attempts", "must be at least 1"));
    }
    if out.max_backoff < out.backoff {
        return Err(cfg_err("max_backoff", "must not be below backoff"));
    }
    Ok(out)
}

/// Reads exactly one of inline / env / file. `base` names the keys (`url`, `routing_key`).
fn one_secret(
    base: &str,
    inline: &Option<Secret>,
    env: &Option<String>,
    file: &Option<String>,
) -> Result<Secret, Error> {
    let given = [inline.is_some(), env.is_some(), file.is_some()]
        .iter()
        .filter(|&&b| b)
        .count();
    if given != 1 {
        return Err(cfg_err(
            base,
            format!("set exactly one of `{base}_env`, `{base}_file` or `{base}`"),
        ));
    }
    let value = if let Some(s) = inline {
        s.expose().trim().to_owned()
    } else if let Some(var) = env {
        let key = format!("{base}_env");
        match std::env::var(var) {
            Ok(v) => v.trim().to_owned(),
            Err(std::env::VarError::NotPresent) => {
                return Err(cfg_err(
                    &key,
                    format!("environment variable {var} is not set"),
                ));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(cfg_err(
                    &key,
                    format!("environment variable {var} is not valid UTF-8"),
                ));
            }
        }
    } else {
        let path = file.as_deref().unwrap_or_default();
        let key = format!("{base}_file");
        std::fs::read_to_string(path)
            .map_err(|e| cfg_err(&key, format!("cannot read {path}: {e}")))?
            .trim()
            .to_owned()
    };
    if value.is_empty() {
        return Err(cfg_err(base, "is empty"));
    }
    Ok(Secret(value))
}

fn check_url(key: &str, url: &Secret) -> Result<(), Error> {
    let u = url.expose();
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    // The message must not quote the URL: it may carry a token.
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !u.contains(char::is_whitespace) => {
            Ok(())
        }
        _ => Err(cfg_err(key, "is not an http:// or https:// URL")),
    }
}

impl SinkConfig {
    /// The type name, as written in `type = ...`.
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkConfig::Slack(_) => "slack",
            SinkConfig::PagerDuty(_) => "pagerduty",
            SinkConfig::Webhook(_) => "webhook",
            SinkConfig::Alertmanager(_) => "alertmanager",
        }
    }

    /// The `events` list as written, if it is.
    fn events_given(&self) -> Option<&[EventKind]> {
        match self {
            SinkConfig::Slack(c) => c.events.as_deref(),
            SinkConfig::PagerDuty(c) => c.events.as_deref(),
            SinkConfig::Webhook(c) => c.events.as_deref(),
            SinkConfig::Alertmanager(c) => c.events.as_deref(),
        }
    }

    /// Checks `events` against what this sink type can carry.
    fn events(&self) -> Result<Events, Error> {
        let Some(given) = self.events_given() else {
            return Ok(Events::default());
        };
        if given.is_empty() {
            return Err(cfg_err(
                "events",
                "must name at least one of \"alert\" and \"triage\" (or be left out: alerts only)",
            ));
        }
        let ev = Events {
            alert: given.contains(&EventKind::Alert),
            triage: given.contains(&EventKind::Triage),
        };
        // An incident per post to answer, or an alert per post in
        // Alertmanager, would bury the pages: triage goes to chat or webhooks.
        if ev.triage && matches!(self, SinkConfig::PagerDuty(_) | SinkConfig::Alertmanager(_)) {
            return Err(cfg_err(
                "events",
                format!(
                    "{} sinks take alerts only: send \"triage\" records to a slack or webhook sink",
                    self.type_name()
                ),
            ));
        }
        Ok(ev)
    }

    /// The label used in metrics and logs.
    pub fn name(&self) -> &str {
        let n = match self {
            SinkConfig::Slack(c) => &c.name,
            SinkConfig::PagerDuty(c) => &c.name,
            SinkConfig::Webhook(c) => &c.name,
            SinkConfig::Alertmanager(c) => &c.name,
        };
        n.as_deref().unwrap_or(self.type_name())
    }

    /// Reads the secrets and checks every setting. Errors name the key within the table.
    pub fn resolve(&self) -> Result<Sink, Error> {
        let events = self.events()?;
        let (target, delivery) = match self {
            SinkConfig::Slack(c) => {
                let url = one_secret("url", &c.url, &c.url_env, &c.url_file)?;
                check_url(url_key(&c.url, &c.url_env), &url)?;
                (Target::Slack { url }, c.delivery()?)
            }
            SinkConfig::Webhook(c) => {
                let url = one_secret("url", &c.url, &c.url_env, &c.url_file)?;
                check_url(url_key(&c.url, &c.url_env), &url)?;
                (Target::Webhook { url }, c.delivery()?)
            }
            SinkConfig::Alertmanager(c) => {
                let base = one_secret("url", &c.url, &c.url_env, &c.url_file)?;
                check_url(url_key(&c.url, &c.url_env), &base)?;
                for (key, v) in [("severity", &c.severity), ("team", &c.team)] {
                    if v.is_empty() {
                        return Err(cfg_err(key, "must not be empty"));
                    }
                }
                if c.resend.ms() < 1000 {
                    return Err(cfg_err("resend", "must be at least 1s"));
                }
                let url = Secret(format!(
                    "{}/api/v2/alerts",
                    base.expose().trim_end_matches('/')
                ));
                (
                    Target::Alertmanager {
                        url,
                        severity: c.severity.clone(),
                        team: c.team.clone(),
                        resend: Duration::from_millis(c.resend.ms() as u64),
                    },
                    c.delivery()?,
                )
            }
            SinkConfig::PagerDuty(c) => {
                let routing_key = one_secret(
                    "routing_key",
                    &c.routing_key,
                    &c.routing_key_env,
                    &c.routing_key_file,
                )?;
                let url = Secret(c.url.clone());
                check_url("url", &url)?;
                if !["critical", "error", "warning", "info"].contains(&c.severity.as_str()) {
                    return Err(cfg_err(
                        "severity",
                        "must be one of critical, error, warning, info",
                    ));
                }
                (
                    Target::PagerDuty {
                        url,
                        routing_key,
                        severity: c.severity.clone(),
                    },
                    c.delivery()?,
                )
            }
        };
        let name = self.name().to_owned();
        if name.is_empty() {
            return Err(cfg_err("name", "must not be empty"));
        }
        Ok(Sink {
            name,
            target,
            delivery,
            events,
        })
    }
}

fn url_key(inline: &Option<Secret>, env: &Option<String>) -> &'static str {
    if inline.is_some() {
        "url"
    } else if env.is_some() {
        "url_env"
    } else {
        "url_file"
    }
}

/// Resolves every table; errors carry the 1-based table index and the key.
pub fn resolve_all(configs: &[SinkConfig]) -> Result<Vec<Sink>, (usize, Error)> {
    let mut out: Vec<Sink> = Vec::with_capacity(configs.len());
    for (i, c) in configs.iter().enumerate() {
        let s = c.resolve().map_err(|e| (i + 1, e))?;
        if out.iter().any(|o| o.name == s.name) {
            return Err((
                i + 1,
                cfg_err(
                    "name",
                    format!(
                        "sink name {:?} is used twice: set `name` to tell them apart",
                        s.name
                    ),
                ),
            ));
        }
        out.push(s);
    }
    Ok(out)
}
