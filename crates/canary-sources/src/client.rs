//! The network clients: connect, read frames, decode them, and reconnect
//! with jittered backoff when the connection ends, fails or goes silent.
//!
//! A source runs on its own thread with blocking sockets whose reads wake
//! every [`POLL`](crate::conn::POLL): the pipeline's ingest side is threads
//! and bounded channels, one connection is read one frame at a time, and a
//! read that wakes on its own measures the silence (a dead connection) and
//! sees a stop request without any async runtime.

use crate::backoff::Backoff;
use crate::conn::{self, Dechunker, Stream, Url};
use crate::sse::SseParser;
use crate::{Error, jetstream, mastodon, x};
use canary_core::{DeadLetter, IngestRecord};
use canary_ingest::{Item, Origin};
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Which platform a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Bluesky Jetstream (websocket).
    Jetstream,
    /// Mastodon streaming API (server-sent events).
    Mastodon,
    /// X API v2 filtered stream (chunked HTTP, JSON lines).
    X,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 3] = [Kind::Jetstream, Kind::Mastodon, Kind::X];

    /// The name used on the command line, in the config and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Jetstream => "jetstream",
            Kind::Mastodon => "mastodon",
            Kind::X => "x",
        }
    }

    /// Parses a kind name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The URL used when none is given.
    pub fn default_url(self) -> &'static str {
        match self {
            Kind::Jetstream => {
                "wss://jetstream2.us-east.bsky.network/subscribe?wantedCollections=app.bsky.feed.post"
            }
            Kind::Mastodon => "https://mastodon.social/api/v1/streaming/public",
            // Replies' parent authors and authors' follower counts come
            // from the expansions; without them care sees fewer replies.
            Kind::X => {
                "https://api.x.com/2/tweets/search/stream?tweet.fields=created_at,lang,entities,referenced_tweets,conversation_id,in_reply_to_user_id&expansions=author_id,in_reply_to_user_id,referenced_tweets.id.author_id&user.fields=username,public_metrics"
            }
        }
    }

    /// Silence after which a connection counts as dead: X sends a
    /// keep-alive every 20 s, Mastodon a `:thump` comment about every 15 s;
    /// Jetstream sends nothing when nothing happens, but the whole network
    /// is never quiet for a minute.
    pub fn default_idle_timeout(self) -> Duration {
        match self {
            Kind::Jetstream => Duration::from_secs(60),
            Kind::Mastodon => Duration::from_secs(60),
            Kind::X => Duration::from_secs(60),
        }
    }
}

/// How one source connects.
#[derive(Clone)]
pub struct SourceConfig {
    /// The platform.
    pub kind: Kind,
    /// Where to connect.
    pub url: Url,
    /// Access token (Mastodon) or bearer token (X); never logged.
    pub token: Option<String>,
    /// Silence after which the connection is dropped and reopened.
    pub idle_timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// First reconnect delay.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Jetstream: how far before the last event a resume starts.
    pub rewind: Duration,
}

impl std::fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceConfig")
            .field("kind", &self.kind)
            .field("url", &self.url.to_url())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl SourceConfig {
    /// Defaults for `kind` at `url`: 1 s first delay doubling to 5 min, a
    /// 10 s connect timeout and a 3 s Jetstream rewind.
    pub fn new(kind: Kind, url: Url) -> SourceConfig {
        SourceConfig {
            kind,
            url,
            token: None,
            idle_timeout: kind.default_idle_timeout(),
            connect_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            rewind: Duration::from_secs(3),
        }
    }
}

/// What a source reports about its connection (the binary turns it into metrics).
pub trait Health: Send + Sync {
    /// The connection is up (streaming) or down.
    fn connected(&self, up: bool);
    /// A connection ended and another will be tried; `reason` is one of
    /// [`REASONS`].
    fn reconnect(&self, reason: &str);
    /// Bytes received.
    fn bytes(&self, n: u64);
    /// An event arrived, at this Unix time in seconds.
    fn event(&self, unix_s: f64);
}

/// Reconnect reasons: `closed` (the server ended the stream), `idle`
/// (silent longer than the idle timeout), `error` (connect or read failed,
/// TLS or protocol error), `http_429`, `http_5xx`, `http_4xx` (other
/// refusals: a bad token, a bad path).
pub const REASONS: [&str; 6] = [
    "closed", "idle", "error", "http_429", "http_5xx", "http_4xx",
];

/// Why a connection ended.
struct Ended {
    reason: &'static str,
    retry_after: Option<Duration>,
    /// Events were delivered: the backoff starts over.
    delivered: bool,
    detail: String,
}

/// Where decoded items go; `false` from the sink ends the source.
type Emit<'a> = dyn FnMut(Item) -> bool + 'a;

/// Runs the source until `stop` is set or `emit` returns `false`.
pub fn run(cfg: &SourceConfig, health: &dyn Health, stop: &AtomicBool, emit: &mut Emit<'_>) {
    let name: Arc<str> = Arc::from(cfg.kind.as_str());
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        ^ (cfg.kind as u64) << 32;
    let mut backoff = Backoff::new(cfg.backoff_initial, cfg.backoff_max, seed);
    let mut resume = jetstream::Resume::new(cfg.rewind.as_micros() as i64);
    let mut state = Session {
        cfg,
        health,
        stop,
        name,
        frame: 0,
        resume: &mut resume,
        hung_up: false,
    };
    health.connected(false);
    loop {
        let ended = state.connect_once(emit);
        health.connected(false);
        if stop.load(Ordering::Relaxed) || state.hung_up {
            return;
        }
        if ended.delivered {
            backoff.reset();
        }
        health.reconnect(ended.reason);
        let delay = backoff.next_delay(ended.retry_after);
        tracing::warn!(source = cfg.kind.as_str(), reason = ended.reason, detail = %ended.detail,
            retry_in_s = delay.as_secs_f64(), "source disconnected");
        sleep_unless_stopped(delay, stop);
        if stop.load(Ordering::Relaxed) {
            return;
        }
    }
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(conn::POLL));
    }
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

struct Session<'a> {
    cfg: &'a SourceConfig,
    health: &'a dyn Health,
    stop: &'a AtomicBool,
    name: Arc<str>,
    /// Frames read since the source started: the offset on dead letters.
    frame: u64,
    resume: &'a mut jetstream::Resume,
    hung_up: bool,
}

impl Session<'_> {
    fn ended(reason: &'static str, delivered: bool, detail: impl Into<String>) -> Ended {
        Ended {
            reason,
            retry_after: None,
            delivered,
            detail: detail.into(),
        }
    }

    fn connect_once(&mut self, emit: &mut Emit<'_>) -> Ended {
        let mut url = self.cfg.url.clone();
        if self.cfg.kind == Kind::Jetstream
            && let Some(c) = self.resume.cursor()
        {
            url = url.with_query("cursor", &c.to_string());
        }
        let stream = match conn::connect(&url, self.cfg.connect_timeout) {
            Ok(s) => s,
            Err(e) => return Self::ended("error", false, format!("connect: {e}")),
        };
        if url.websocket {
            self.websocket(stream, &url, emit)
        } else {
            self.http(stream, &url, emit)
        }
    }

    /// Passes one item on; `false` once the pipeline has hung up.
    fn pass(&mut self, item: Item, emit: &mut Emit<'_>) -> bool {
        if !emit(item) {
            self.hung_up = true;
        }
        !self.hung_up
    }

    fn dead(&mut self, d: DeadLetter, emit: &mut Emit<'_>) -> bool {
        self.pass(Item::DeadLetter(d), emit)
    }

    fn record(&mut self, r: IngestRecord, emit: &mut Emit<'_>) -> bool {
        self.health.event(now_s());
        let origin = Origin {
            source: self.name.clone(),
            line: self.frame,
        };
        self.pass(Item::Record(r, origin), emit)
    }

    fn websocket(&mut self, stream: Stream, url: &Url, emit: &mut Emit<'_>) -> Ended {
        let started = Instant::now();
        let mut hs = tungstenite::client::client(url.to_url(), stream);
        let mut ws = loop {
            match hs {
                Ok((ws, _)) => break ws,
                Err(tungstenite::HandshakeError::Interrupted(mid)) => {
                    if self.stop.load(Ordering::Relaxed) {
                        return Self::ended("closed", false, "stopped");
                    }
                    if started.elapsed() > self.cfg.connect_timeout {
                        return Self::ended("error", false, "websocket handshake timed out");
                    }
                    hs = mid.handshake();
                }
                Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
                    let status = r.status().as_u16();
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse().ok())
                        .map(Duration::from_secs);
                    return Ended {
                        reason: status_reason(status),
                        retry_after,
                        delivered: false,
                        detail: format!("HTTP {status}"),
                    };
                }
                Err(tungstenite::HandshakeError::Failure(e)) => {
                    return Self::ended("error", false, format!("websocket handshake: {e}"));
                }
            }
        };
        self.health.connected(true);
        let mut last = Instant::now();
        let mut delivered = false;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                let _ = ws.close(None);
                return Self::ended("closed", delivered, "stopped");
            }
            let msg = match ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e)) if conn::is_timeout(&e) => {
                    if last.elapsed() > self.cfg.idle_timeout {
                        return Self::ended("idle", delivered, "no frame within the idle timeout");
                    }
                    continue;
                }
                Err(
                    tungstenite::Error::ConnectionClosed
                    | tungstenite::Error::AlreadyClosed
                    | tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ),
                ) => return Self::ended("closed", delivered, "connection closed"),
                Err(e) => return Self::ended("error", delivered, e.to_string()),
            };
            last = Instant::now();
            let data = match msg {
                tungstenite::Message::Text(t) => t,
                tungstenite::Message::Binary(b) => {
                    self.health.bytes(b.len() as u64);
                    self.frame += 1;
                    let d = DeadLetter::new(
                        jetstream::STAGE,
                        "binary_frame",
                        "compressed frames are not requested and not read",
                        &self.name,
                        self.frame,
                        &b,
                    );
                    if !self.dead(d, emit) {
                        return Self::ended("closed", delivered, "pipeline ended");
                    }
                    continue;
                }
                tungstenite::Message::Close(_) => {
                    return Self::ended("closed", delivered, "server sent close");
                }
                _ => continue,
            };
            self.health.bytes(data.len() as u64);
            self.frame += 1;
            let ok = match jetstream::decode(data.as_bytes(), &self.name, self.frame) {
                jetstream::Decoded::Record(r, t) => {
                    // A delete names its post's id: it is de-duplicated
                    // apart from the create it removes.
                    let admitted = match &r {
                        IngestRecord::Delete { id, .. } => {
                            self.resume.admit(t, Some(&format!("{id}#delete")))
                        }
                        _ => self.resume.admit(t, jetstream::record_id(&r)),
                    };
                    if admitted {
                        delivered = true;
                        self.record(r, emit)
                    } else {
                        true
                    }
                }
                jetstream::Decoded::Skip(t) => {
                    if let Some(t) = t {
                        self.resume.admit(t, None);
                    }
                    true
                }
                jetstream::Decoded::Dead(d) => self.dead(d, emit),
            };
            if !ok {
                return Self::ended("closed", delivered, "pipeline ended");
            }
        }
    }

    fn http(&mut self, mut stream: Stream, url: &Url, emit: &mut Emit<'_>) -> Ended {
        let auth = self.cfg.token.as_ref().map(|t| format!("Bearer {t}"));
        let accept = match self.cfg.kind {
            Kind::Mastodon => "text/event-stream",
            _ => "application/json",
        };
        let mut headers = vec![("Accept", accept)];
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        if let Err(e) = conn::send_get(&mut stream, url, &headers) {
            return Self::ended("error", false, format!("request: {e}"));
        }
        let mut buf = vec![0u8; 16 * 1024];
        let mut pending: Vec<u8> = Vec::new();
        let mut last = Instant::now();
        let mut head = None;
        let mut dechunk = Dechunker::default();
        let mut body = Vec::new();
        let mut lines = Vec::new();
        let mut sse = SseParser::default();
        let mut delivered = false;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Self::ended("closed", delivered, "stopped");
            }
            let n = match stream.read(&mut buf) {
                Ok(0) => return Self::ended("closed", delivered, "server closed the stream"),
                Ok(n) => n,
                Err(e) if conn::is_timeout(&e) => {
                    let limit = if head.is_none() {
                        self.cfg.connect_timeout
                    } else {
                        self.cfg.idle_timeout
                    };
                    if last.elapsed() > limit {
                        return Self::ended("idle", delivered, "no bytes within the idle timeout");
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Self::ended("error", delivered, format!("read: {e}")),
            };
            last = Instant::now();
            self.health.bytes(n as u64);
            let mut input = &buf[..n];
            if head.is_none() {
                pending.extend_from_slice(input);
                let parsed = match conn::parse_head(&pending) {
                    Ok(p) => p,
                    Err(e) => return Self::ended("error", false, format!("response: {e}")),
                };
                let Some((h, len)) = parsed else {
                    if pending.len() > 64 * 1024 {
                        return Self::ended("error", false, "response head too long");
                    }
                    continue;
                };
                if h.status != 200 {
                    return Ended {
                        reason: status_reason(h.status),
                        retry_after: h.retry_after,
                        delivered: false,
                        detail: format!("HTTP {}", h.status),
                    };
                }
                self.health.connected(true);
                pending.drain(..len);
                head = Some(h);
                input = &pending;
            }
            let chunked = head.as_ref().is_some_and(|h| h.chunked);
            body.clear();
            if chunked {
                if let Err(e) = dechunk.push(input, &mut body) {
                    return Self::ended("error", delivered, e.to_string());
                }
            } else {
                body.extend_from_slice(input);
            }
            pending.clear();
            let ok = match self.cfg.kind {
                Kind::Mastodon => {
                    let mut ok = true;
                    for ev in sse.push(&body) {
                        self.frame += 1;
                        ok = match mastodon::decode(&ev, &url.host, &self.name, self.frame) {
                            mastodon::Decoded::Record(r) => {
                                delivered = true;
                                self.record(r, emit)
                            }
                            mastodon::Decoded::Skip => true,
                            mastodon::Decoded::Dead(d) => self.dead(d, emit),
                        };
                        if !ok {
                            break;
                        }
                    }
                    ok
                }
                _ => {
                    lines.extend_from_slice(&body);
                    let mut ok = true;
                    let mut start = 0;
                    while let Some(i) = lines[start..].iter().position(|&b| b == b'\n') {
                        let line = lines[start..start + i].to_vec();
                        start += i + 1;
                        let got = x::decode(&line, &self.name, self.frame + 1);
                        if got.is_empty() {
                            continue;
                        }
                        self.frame += 1;
                        for d in got {
                            ok = match d {
                                x::Decoded::Record(r) => {
                                    delivered = true;
                                    self.record(r, emit)
                                }
                                x::Decoded::Dead(d) => self.dead(d, emit),
                            };
                            if !ok {
                                break;
                            }
                        }
                        if !ok {
                            break;
                        }
                    }
                    lines.drain(..start);
                    if lines.len() > 16 << 20 {
                        return Self::ended("error", delivered, "line longer than 16 MiB");
                    }
                    ok
                }
            };
            if !ok {
                return Self::ended("closed", delivered, "pipeline ended");
            }
            if dechunk.done {
                return Self::ended("closed", delivered, "server ended the stream");
            }
        }
    }
}

fn status_reason(status: u16) -> &'static str {
    match status {
        429 => "http_429",
        500..=599 => "http_5xx",
        _ => "http_4xx",
    }
}

/// Reads a token: the named environment variable, else the first line of
/// the file. The error names where it looked, never the value.
pub fn read_token(
    env: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Option<String>, Error> {
    if let Some(var) = env {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_owned())),
            _ => Err(Error::Token(format!(
                "environment variable {var} is unset or empty"
            ))),
        };
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Token(format!("cannot read {}: {e}", path.display())))?;
        let t = text.lines().next().unwrap_or("").trim();
        if t.is_empty() {
            return Err(Error::Token(format!("{} is empty", path.display())));
        }
        return Ok(Some(t.to_owned()));
    }
    Ok(None)
}
