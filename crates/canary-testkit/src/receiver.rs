//! A local HTTP/1.1 receiver on 127.0.0.1 for delivery tests: records every
//! request and answers from a script (status codes, or never answering),
//! then 200 once the script is used up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How to answer one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Answer with this status.
    Status(u16),
    /// Read the request and never answer (the connection is held until the
    /// receiver is dropped, or for at most 60 s).
    Hang,
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method, e.g. `POST`.
    pub method: String,
    /// Request target, e.g. `/hooks/abc`.
    pub path: String,
    /// Header lines as (lower-cased name, value).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Request {
    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

struct State {
    script: Mutex<Vec<Reply>>,
    requests: Mutex<Vec<Request>>,
    arrived: Condvar,
    stop: AtomicBool,
}

/// A running receiver. Dropping it stops the accept loop.
pub struct Receiver {
    /// Bound address.
    pub addr: std::net::SocketAddr,
    state: Arc<State>,
}

impl Receiver {
    /// Starts a receiver answering `script` in order, then 200.
    pub fn start(script: &[Reply]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State {
            script: Mutex::new(script.iter().rev().copied().collect()),
            requests: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let st = state.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            // Bounded: a forgotten receiver stops by itself after 10 minutes.
            while !st.stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(600) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let st = st.clone();
                        std::thread::spawn(move || serve(conn, &st));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Receiver { addr, state }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived or `timeout` passed; returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        let mut g = self.state.requests.lock().unwrap();
        while g.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            g = self
                .state
                .arrived
                .wait_timeout(g, deadline - now)
                .unwrap()
                .0;
        }
        g.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(conn: TcpStream, st: &State) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut w = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(conn);
    // One request per connection: every answer says `Connection: close`.
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
            if k == "content-length" {
                len = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0; len.min(16 << 20)];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let reply = st
        .script
        .lock()
        .unwrap()
        .pop()
        .unwrap_or(Reply::Status(200));
    {
        let mut g = st.requests.lock().unwrap();
        g.push(Request {
            method,
            path,
            headers,
            body,
        });
        st.arrived.notify_all();
    }
    match reply {
        Reply::Hang => {
            let until = Instant::now() + Duration::from_secs(60);
            while !st.stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Reply::Status(code) => {
            let text = if code < 300 { "OK" } else { "Error" };
            let msg = format!(
                "HTTP/1.1 {code} {text}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            );
            let _ = w.write_all(msg.as_bytes());
            let _ = w.flush();
        }
    }
}
