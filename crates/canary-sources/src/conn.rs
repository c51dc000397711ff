//! One connection: a URL taken apart, a TCP stream (TLS for `https`/`wss`)
//! whose reads time out after [`POLL`], so a reader blocked on a silent
//! server still sees a stop request and measures the silence itself, and a
//! minimal HTTP/1.1 GET whose response body is read as it arrives.

use crate::Error;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// How long one read waits before the caller gets to look at the clock and
/// the stop flag.
pub const POLL: Duration = Duration::from_millis(100);

/// A `ws`, `wss`, `http` or `https` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https` or `wss`.
    pub tls: bool,
    /// Whether the scheme is `ws`/`wss`.
    pub websocket: bool,
    /// Host name or address.
    pub host: String,
    /// Port (the scheme's default when the URL has none).
    pub port: u16,
    /// Path and query, at least `/`.
    pub target: String,
}

impl Url {
    /// Parses `url`; the error says what is wrong with it.
    pub fn parse(url: &str) -> Result<Url, Error> {
        let bad = |m: &str| Error::Url(format!("{url:?}: {m}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let (tls, websocket) = match scheme {
            "http" => (false, false),
            "https" => (true, false),
            "ws" => (false, true),
            "wss" => (true, true),
            _ => return Err(bad("scheme must be http, https, ws or wss")),
        };
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return Err(bad(
                "credentials in the URL are not supported (use a token)",
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h,
                p.parse::<u16>().map_err(|_| bad("port is not a number"))?,
            ),
            _ => (authority, if tls { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Url {
            tls,
            websocket,
            host: host.to_owned(),
            port,
            target,
        })
    }

    /// `target` with `key=value` appended to its query.
    pub fn with_query(&self, key: &str, value: &str) -> Url {
        let sep = if self.target.contains('?') { '&' } else { '?' };
        Url {
            target: format!("{}{sep}{key}={value}", self.target),
            ..self.clone()
        }
    }

    /// The URL written out again.
    pub fn to_url(&self) -> String {
        let scheme = match (self.websocket, self.tls) {
            (true, true) => "wss",
            (true, false) => "ws",
            (false, true) => "https",
            (false, false) => "http",
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}{}", self.port, self.target)
    }
}

/// A connected stream, plain or TLS.
pub enum Stream {
    /// `http`/`ws`.
    Plain(TcpStream),
    /// `https`/`wss`.
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Whether a read error only means "nothing arrived within [`POLL`]".
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Connects within `timeout`, with TLS checked against the Mozilla roots
/// (webpki-roots) for `https`/`wss`.
pub fn connect(url: &Url, timeout: Duration) -> io::Result<Stream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
    for addr in (url.host.as_str(), url.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(tcp) => {
                tcp.set_nodelay(true)?;
                tcp.set_read_timeout(Some(POLL))?;
                tcp.set_write_timeout(Some(timeout))?;
                if !url.tls {
                    return Ok(Stream::Plain(tcp));
                }
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(io::Error::other)?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let name = rustls::pki_types::ServerName::try_from(url.host.clone())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let conn = rustls::ClientConnection::new(Arc::new(config), name)
                    .map_err(io::Error::other)?;
                return Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The head of an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// `Retry-After` in seconds, when given as a number.
    pub retry_after: Option<Duration>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

/// Sends a GET for `url` with `headers`; a header value is never logged.
pub fn send_get(s: &mut Stream, url: &Url, headers: &[(&str, &str)]) -> io::Result<()> {
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: canary/{}\r\n",
        url.target,
        url.host,
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in headers {
        req.push_str(k);
        req.push_str(": ");
        req.push_str(v);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.flush()
}

/// Parses a response head from the start of `buf`: the head and its length,
/// or `None` while incomplete.
pub fn parse_head(buf: &[u8]) -> io::Result<Option<(Head, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
    };
    let mut head = Head {
        status: resp.code.unwrap_or(0),
        retry_after: None,
        chunked: false,
    };
    for h in resp.headers.iter() {
        let v = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = v.trim().parse::<u64>().ok().map(Duration::from_secs);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = v.to_ascii_lowercase().contains("chunked");
        }
    }
    Ok(Some((head, n)))
}

/// Decodes a chunked body fed in pieces of any size.
#[derive(Debug, Default)]
pub struct Dechunker {
    /// Bytes of the current chunk still to come.
    left: usize,
    /// A chunk-size line (or the CRLF after a chunk) cut between pieces.
    line: Vec<u8>,
    /// The CRLF after the chunk's data is still to skip.
    crlf: bool,
    /// The zero-length chunk was seen.
    pub done: bool,
}

impl Dechunker {
    /// Appends the data in `input` to `out`.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        while !input.is_empty() && !self.done {
            if self.left > 0 {
                let n = self.left.min(input.len());
                out.extend_from_slice(&input[..n]);
                self.left -= n;
                input = &input[n..];
                if self.left == 0 {
                    self.crlf = true;
                }
                continue;
            }
            let Some(nl) = input.iter().position(|&b| b == b'\n') else {
                self.line.extend_from_slice(input);
                if self.line.len() > 1024 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "chunk size line too long",
                    ));
                }
                return Ok(());
            };
            self.line.extend_from_slice(&input[..nl]);
            input = &input[nl + 1..];
            let line = std::mem::take(&mut self.line);
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if self.crlf {
                self.crlf = false;
                if text.is_empty() {
                    continue;
                }
            }
            let size = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size line"))?;
            if size == 0 {
                self.done = true;
            }
            self.left = size;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports_and_queries() {
        let u = Url::parse(
            "wss://jetstream2.us-east.bsky.network/subscribe?wantedCollections=app.bsky.feed.post",
        )
        .unwrap();
        assert_eq!((u.tls, u.websocket, u.port), (true, true, 443));
        assert_eq!(u.target, "/subscribe?wantedCollections=app.bsky.feed.post");
        let u = Url::parse("http://127.0.0.1:8080")
            .unwrap()
            .with_query("cursor", "5");
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("127.0.0.1", 8080, "/?cursor=5")
        );
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("http://u:p@x/").is_err());
        assert!(Url::parse("http://x:99999/").is_err());
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_cut() {
        let body = b"5\r\nhello\r\n2;ext=1\r\n\r\n\r\n0\r\n\r\n";
        for cut in 0..body.len() {
            let (mut d, mut out) = (Dechunker::default(), Vec::new());
            d.push(&body[..cut], &mut out).unwrap();
            d.push(&body[cut..], &mut out).unwrap();
            assert_eq!(out, b"hello\r\n", "cut at {cut}");
            assert!(d.done);
        }
        let mut out = Vec::new();
        assert!(Dechunker::default().push(b"zz\r\n", &mut out).is_err());
    }

    #[test]
    fn response_heads_give_status_retry_after_and_chunking() {
        let raw = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nTransfer-Encoding: chunked\r\n\r\nrest";
        let (h, n) = parse_head(raw).unwrap().unwrap();
        assert_eq!(h.status, 429);
        assert_eq!(h.retry_after, Some(Duration::from_secs(7)));
        assert!(h.chunked);
        assert_eq!(&raw[n..], b"rest");
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
    }
}
