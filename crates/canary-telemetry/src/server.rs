//! A minimal HTTP/1.1 endpoint for Prometheus scrapes: `GET /metrics`.
//!
//! Scrapes are small GETs from a known client, so a few dozen lines on a
//! tokio listener serve them without pulling an HTTP framework into the build.

use crate::{Error, Metrics};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running metrics endpoint.
pub struct MetricsServer {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    handle: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// Stops serving.
    pub fn stop(self) {
        self.handle.abort();
    }
}

/// Binds `addr` and serves `metrics` until stopped. Must run inside a tokio runtime.
pub async fn serve(addr: &str, metrics: Metrics) -> Result<MetricsServer, Error> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind {
            addr: addr.to_owned(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| Error::Bind {
        addr: addr.to_owned(),
        source,
    })?;
    let handle = tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let m = metrics.clone();
            tokio::spawn(async move {
                // A stuck client must not hold a task forever.
                let _ = tokio::time::timeout(Duration::from_secs(10), respond(sock, &m)).await;
            });
        }
    });
    Ok(MetricsServer {
        addr: bound,
        handle,
    })
}

async fn respond(mut sock: TcpStream, m: &Metrics) -> std::io::Result<()> {
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    loop {
        let r = sock.read(&mut buf[n..]).await?;
        if r == 0 {
            return Ok(());
        }
        n += r;
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") || n == buf.len() {
            break;
        }
    }
    let req = String::from_utf8_lossy(&buf[..n]);
    let mut parts = req.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            m.render(),
        ),
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
        ("GET", "/") => (
            "200 OK",
            "text/html",
            "<a href=\"/metrics\">/metrics</a>\n".to_owned(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_owned(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body.as_bytes()).await?;
    sock.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_metrics_over_loopback() {
        let m = Metrics::new().unwrap();
        m.notices.with_label_values(&["delete"]).inc();
        let s = serve("127.0.0.1:0", m).await.unwrap();
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK"));
        assert!(out.contains("canary_notices_total{kind=\"delete\"} 1"));
        s.stop();
    }
}
