//! The clients against servers on 127.0.0.1 written here, serving events as
//! each platform documents them: a websocket (Jetstream), server-sent events
//! (Mastodon) and a chunked JSON-lines stream (X).

use canary_core::IngestRecord;
use canary_ingest::Item;
use canary_sources::client::{self, Kind, SourceConfig};
use canary_sources::conn::Url;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Recorded {
    reasons: Mutex<Vec<String>>,
    bytes: AtomicU64,
    events: AtomicU64,
    ups: AtomicU64,
}

impl canary_sources::Health for Recorded {
    fn connected(&self, up: bool) {
        if up {
            self.ups.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn reconnect(&self, reason: &str) {
        self.reasons.lock().unwrap().push(reason.to_owned());
    }
    fn bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }
    fn event(&self, _unix_s: f64) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a test reads of an item.
fn describe(i: &Item) -> String {
    match i {
        Item::Record(IngestRecord::Post(p), _) => format!("post {}", p.id),
        Item::Record(IngestRecord::Delete { id, .. }, _) => format!("delete {id}"),
        Item::Record(IngestRecord::Notice { .. }, _) => "notice".into(),
        Item::DeadLetter(d) => format!("dead {}", d.reason),
    }
}

fn config(kind: Kind, url: &str) -> SourceConfig {
    let mut c = SourceConfig::new(kind, Url::parse(url).unwrap());
    c.backoff_initial = Duration::from_millis(20);
    c.backoff_max = Duration::from_millis(100);
    c.connect_timeout = Duration::from_secs(5);
    c.idle_timeout = Duration::from_secs(5);
    c
}

/// Runs the source until it has given `want` items, or fails after 20 s.
fn collect(cfg: &SourceConfig, health: &Recorded, want: usize) -> Vec<Item> {
    let stop = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let stop = stop.clone();
        thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(20);
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(20));
            }
            stop.store(true, Ordering::Relaxed);
        })
    };
    let mut got = Vec::new();
    client::run(cfg, health, &stop, &mut |i| {
        got.push(i);
        got.len() < want
    });
    stop.store(true, Ordering::Relaxed);
    watchdog.join().unwrap();
    assert_eq!(
        got.len(),
        want,
        "{:?}",
        got.iter().map(describe).collect::<Vec<_>>()
    );
    got
}

const T0: i64 = 1_733_486_400_000_000; // 2024-12-06T12:00:00Z in µs

/// A Jetstream commit event as the Jetstream README shows it.
fn jet_post(n: i64) -> String {
    let t = T0 + n * 1_000_000;
    format!(
        r#"{{"did":"did:plc:eygmaihciaxprqvxpfvl6flk","time_us":{t},"kind":"commit","commit":{{"rev":"3l3qo2vutsw2b","operation":"create","collection":"app.bsky.feed.post","rkey":"r{n}","record":{{"$type":"app.bsky.feed.post","createdAt":"2024-12-06T12:00:{n:02}.000Z","langs":["en"],"text":"post {n} about @acme.bsky.social"}},"cid":"bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi"}}}}"#
    )
}

fn jet_delete(n: i64, at: i64) -> String {
    let t = T0 + at * 1_000_000;
    format!(
        r#"{{"did":"did:plc:eygmaihciaxprqvxpfvl6flk","time_us":{t},"kind":"commit","commit":{{"rev":"3l3f6nzl3cv2s","operation":"delete","collection":"app.bsky.feed.post","rkey":"r{n}"}}}}"#
    )
}

fn at_id(n: i64) -> String {
    format!("at://did:plc:eygmaihciaxprqvxpfvl6flk/app.bsky.feed.post/r{n}")
}

#[test]
fn jetstream_resumes_by_cursor_after_a_cut_with_no_gap_and_no_duplicate() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let paths = Arc::new(Mutex::new(Vec::new()));
    let server = {
        let paths = paths.clone();
        thread::spawn(move || {
            for conn in 0..2 {
                let (tcp, _) = listener.accept().unwrap();
                let seen = paths.clone();
                // tungstenite's callback signature fixes the error type.
                #[allow(clippy::result_large_err)]
                let cb = move |req: &tungstenite::handshake::server::Request, resp| {
                    seen.lock().unwrap().push(req.uri().to_string());
                    Ok(resp)
                };
                let mut ws = tungstenite::accept_hdr(tcp, cb).unwrap();
                let frames: Vec<String> = if conn == 0 {
                    (1..=3).map(jet_post).collect()
                } else {
                    // Jetstream replays from the cursor: the overlap comes again.
                    let mut f: Vec<String> = (1..=3).map(jet_post).collect();
                    f.push("{\"did\":\"did:plc:x\",\"time_us\":".into());
                    f.push(jet_post(4));
                    f.push(jet_delete(1, 5));
                    f
                };
                for f in frames {
                    ws.send(tungstenite::Message::text(f)).unwrap();
                }
                ws.flush().unwrap();
                if conn == 0 {
                    // Cut mid-stream: no close frame.
                    drop(ws);
                } else {
                    thread::sleep(Duration::from_millis(500));
                }
            }
        })
    };
    let mut cfg = config(
        Kind::Jetstream,
        &format!("ws://127.0.0.1:{port}/subscribe?wantedCollections=app.bsky.feed.post"),
    );
    cfg.rewind = Duration::from_secs(3);
    let health = Recorded::default();
    let got = collect(&cfg, &health, 6);
    server.join().unwrap();
    let got: Vec<String> = got.iter().map(describe).collect();
    assert_eq!(
        got,
        [
            format!("post {}", at_id(1)),
            format!("post {}", at_id(2)),
            format!("post {}", at_id(3)),
            "dead invalid_json".into(),
            format!("post {}", at_id(4)),
            format!("delete {}", at_id(1)),
        ]
    );
    let paths = paths.lock().unwrap();
    assert_eq!(paths[0], "/subscribe?wantedCollections=app.bsky.feed.post");
    // The last event seen was post 3; the resume starts 3 s before it.
    let cursor = T0 + 3_000_000 - 3_000_000;
    assert_eq!(
        paths[1],
        format!("/subscribe?wantedCollections=app.bsky.feed.post&cursor={cursor}")
    );
    assert_eq!(*health.reasons.lock().unwrap(), ["closed"]);
    assert_eq!(health.ups.load(Ordering::Relaxed), 2);
    assert_eq!(health.events.load(Ordering::Relaxed), 5);
    assert!(health.bytes.load(Ordering::Relaxed) > 1000);
}

/// Reads a request head; returns its request line and Authorization value.
fn read_request(tcp: &TcpStream) -> (String, Option<String>) {
    let mut r = BufReader::new(tcp.try_clone().unwrap());
    let mut first = String::new();
    r.read_line(&mut first).unwrap();
    let mut auth = None;
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        if l.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            auth = Some(v.trim().to_owned());
        }
    }
    (first.trim().to_owned(), auth)
}

fn chunk(w: &mut TcpStream, data: &str) {
    write!(w, "{:x}\r\n{data}\r\n", data.len()).unwrap();
    w.flush().unwrap();
}

/// A filtered-stream line as the X documentation shows it.
fn x_line(id: u64) -> String {
    format!(
        r#"{{"data":{{"author_id":"2244994945","created_at":"2024-12-06T12:00:01.000Z","edit_history_tweet_ids":["{id}"],"id":"{id}","lang":"en","text":"@acme where is my refund"}},"includes":{{"users":[{{"id":"2244994945","name":"X Dev","username":"XDevelopers"}}]}},"matching_rules":[{{"id":"1","tag":"acme"}}]}}"#
    )
}

#[test]
fn x_backs_off_on_429_with_retry_after_then_503_and_drops_a_silent_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let server = {
        let accepted = accepted.clone();
        thread::spawn(move || {
            for conn in 0..4 {
                let (mut tcp, _) = listener.accept().unwrap();
                let (line, auth) = read_request(&tcp);
                accepted.lock().unwrap().push((Instant::now(), line, auth));
                match conn {
                    0 => tcp.write_all(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n").unwrap(),
                    1 => tcp.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").unwrap(),
                    2 => {
                        tcp.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
                        chunk(&mut tcp, "\r\n");
                        let l = x_line(101);
                        // A line split across chunks, a keep-alive, a broken line.
                        chunk(&mut tcp, &l[..40]);
                        chunk(&mut tcp, &format!("{}\r\n", &l[40..]));
                        chunk(&mut tcp, "\r\n{\"data\":{\"id\":\r\n");
                        chunk(&mut tcp, &format!("{}\r\n", x_line(102)));
                        // Then silence, connection open, until the client gives up.
                        let mut sink = [0u8; 16];
                        let _ = tcp.read(&mut sink);
                    }
                    _ => {
                        tcp.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
                        chunk(&mut tcp, &format!("{}\r\n", x_line(103)));
                        thread::sleep(Duration::from_millis(300));
                    }
                }
            }
        })
    };
    let mut cfg = config(
        Kind::X,
        &format!("http://127.0.0.1:{port}/2/tweets/search/stream?expansions=author_id"),
    );
    cfg.token = Some("sekrit-bearer".into());
    cfg.idle_timeout = Duration::from_millis(400);
    assert!(!format!("{cfg:?}").contains("sekrit"));
    let health = Recorded::default();
    let got = collect(&cfg, &health, 4);
    server.join().unwrap();
    let got: Vec<String> = got.iter().map(describe).collect();
    assert_eq!(got[0], "post 101");
    assert!(got[1].starts_with("dead "), "{got:?}");
    assert_eq!(got[2..], ["post 102", "post 103"]);
    assert_eq!(
        *health.reasons.lock().unwrap(),
        ["http_429", "http_5xx", "idle"]
    );
    let acc = accepted.lock().unwrap();
    // Retry-After is a floor under the backoff's 20 ms.
    assert!(acc[1].0 - acc[0].0 >= Duration::from_secs(1));
    for (_, line, auth) in acc.iter() {
        assert_eq!(
            line,
            "GET /2/tweets/search/stream?expansions=author_id HTTP/1.1"
        );
        assert_eq!(auth.as_deref(), Some("Bearer sekrit-bearer"));
    }
}

/// A Status entity as the Mastodon documentation shows it, trimmed.
fn status(id: &str, html: &str) -> String {
    format!(
        r#"{{"id":"{id}","created_at":"2024-12-06T12:00:00.000Z","language":"en","content":"{html}","account":{{"acct":"carol"}},"mentions":[{{"acct":"acme"}}],"tags":[{{"name":"acmefail"}}],"reblog":null}}"#
    )
}

#[test]
fn mastodon_reads_a_slow_server_byte_by_byte_and_reconnects_when_it_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        for conn in 0..2 {
            let (mut tcp, _) = listener.accept().unwrap();
            let (line, auth) = read_request(&tcp);
            assert_eq!(line, "GET /api/v1/streaming/hashtag?tag=acme HTTP/1.1");
            assert_eq!(auth.as_deref(), Some("Bearer masto-token"));
            let body = if conn == 0 {
                format!(
                    ":thump\n\nevent: update\ndata: {}\n\nevent: update\ndata: {{broken\n\nevent: delete\ndata: 1001\n\n",
                    status("1001", "<p>@<span>acme</span> refund &amp; now</p>")
                )
            } else {
                format!(
                    "event: update\ndata: {}\n\n",
                    status("1002", "<p>still waiting</p>")
                )
            };
            tcp.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
                .unwrap();
            // A slow server: the body a few bytes at a time.
            for piece in body.as_bytes().chunks(7) {
                tcp.write_all(piece).unwrap();
                tcp.flush().unwrap();
                thread::sleep(Duration::from_millis(2));
            }
            if conn == 1 {
                thread::sleep(Duration::from_millis(300));
            }
        }
    });
    let mut cfg = config(
        Kind::Mastodon,
        &format!("http://127.0.0.1:{port}/api/v1/streaming/hashtag?tag=acme"),
    );
    cfg.token = Some("masto-token".into());
    let health = Recorded::default();
    let got = collect(&cfg, &health, 4);
    server.join().unwrap();
    let Item::Record(IngestRecord::Post(p), _) = &got[0] else {
        panic!("{}", describe(&got[0]));
    };
    assert_eq!(p.text, "@acme refund & now");
    assert_eq!(p.mentions, ["acme@127.0.0.1"]);
    assert_eq!(p.author.as_deref(), Some("carol@127.0.0.1"));
    let got: Vec<String> = got.iter().map(describe).collect();
    assert_eq!(got[1..], ["dead invalid_json", "delete 1001", "post 1002"]);
    assert_eq!(*health.reasons.lock().unwrap(), ["closed"]);
}

#[test]
fn a_refused_connection_is_retried_until_stopped() {
    // A port with nothing listening: every attempt fails at connect.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(Kind::X, &format!("http://127.0.0.1:{port}/"));
    let health = Recorded::default();
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            while health.reasons.lock().unwrap().len() < 3 {
                thread::sleep(Duration::from_millis(10));
            }
            stop.store(true, Ordering::Relaxed);
        });
        client::run(&cfg, &health, &stop, &mut |_| true);
    });
    assert!(health.reasons.lock().unwrap().iter().all(|r| r == "error"));
    assert_eq!(health.ups.load(Ordering::Relaxed), 0);
}
