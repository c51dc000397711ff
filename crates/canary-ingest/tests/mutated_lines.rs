//! The line parser and the reader over a large, seeded corpus of mutated
//! lines: whatever the bytes, no panic, and every outcome is a record or a
//! rejection with a reason code. (The cargo-fuzz targets in `fuzz/` explore
//! further; this runs in every `cargo test`.)

use std::io::Cursor;

use canary_ingest::{Format, Options, ParseOptions, Parsed, Reader, parse_line};
use canary_testkit::shared_data;

/// Synthetic seeds covering every shape, beside the shared samples.
const SEEDS: &[&str] = &[
    r#"{"created_at":"Sat Mar 10 14:03:15 +0000 2018","id":1,"id_str":"1","text":"a &amp; b","truncated":true,"extended_tweet":{"full_text":"a #c","entities":{"hashtags":[{"text":"c"}],"user_mentions":[{"screen_name":"d"}]}},"user":{"screen_name":"u"},"timestamp_ms":"1520690595000"}"#,
    r#"{"created_at":"Sat Mar 10 14:03:15 +0000 2018","id_str":"2","text":"RT","retweeted_status":{"id_str":"1","full_text":"x","user":{"screen_name":"u"}}}"#,
    r#"{"delete":{"status":{"id":1,"user_id":2},"timestamp_ms":"1467998788211"}}"#,
    r#"{"statuses":[{"created_at":"Sat Mar 10 14:03:15 +0000 2018","id_str":"1","text":"t"}],"search_metadata":{}}"#,
    r#"{"id":"tag:search.twitter.com,2005:1","verb":"share","postedTime":"2017-01-01T00:00:00.000Z","body":"RT","actor":{"preferredUsername":"u"},"object":{"body":"b","long_object":{"body":"l"}}}"#,
    r#"{"data":[{"id":"3","author_id":"9","created_at":"2021-09-22T14:03:15.000Z","text":"RT","referenced_tweets":[{"type":"retweeted","id":"4"}]}],"includes":{"users":[{"id":"9","username":"u"}],"tweets":[{"id":"4","text":"f"}]}}"#,
    r#"{"data":{"id":"5","created_at":"2021-04-01T15:52:31.000Z","text":"t"},"matching_rules":[]}"#,
    r#"{"id":"6","action":"delete","created_at":"2019-09-06T17:25:54.667Z"}"#,
    r#"[{"limit":{"track":1}},{"warning":{}},3,"x"]"#,
];

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b",",
    b":",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"\\u0000",
    b"\\ud800",
    b"\xff",
    b"\xc3",
    b"\n",
    b"\"text\":",
    b"\"id\":",
    b"\"created_at\":",
    b"\"data\":",
    b"\"statuses\":[",
    b"&amp;",
    b"18446744073709551616",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 => v.truncate(at),
            1 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            3 => {
                let end = (at + rng.below(64)).min(v.len());
                v.drain(at..end);
            }
            4 => {
                let end = (at + rng.below(256)).min(v.len());
                let chunk = v[at..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, chunk);
            }
            _ => v.reverse(),
        }
    }
    v
}

/// The corpus, or `None` (a skip) without the shared samples: the synthetic
/// seeds alone do not reach the outcome mix these tests assert.
fn seeds() -> Option<Vec<Vec<u8>>> {
    let dir = shared_data("twitter_api_json")?;
    let mut out: Vec<Vec<u8>> = SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
    for sub in ["v1_1", "v2"] {
        for f in std::fs::read_dir(dir.join(sub)).unwrap() {
            let data = std::fs::read(f.unwrap().path()).unwrap();
            // Keep the corpus varied but bounded: short lines whole, long ones cut.
            for l in data
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .take(5)
            {
                out.push(l[..l.len().min(16 << 10)].to_vec());
            }
        }
    }
    Some(out)
}

#[test]
fn mutated_lines_never_panic() {
    let Some(seeds) = seeds() else { return };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let formats = [
        Format::Auto,
        Format::V1,
        Format::V2,
        Format::ActivityStreams,
    ];
    let (mut records, mut rejected) = (0usize, 0usize);
    for i in 0..20_000 {
        let seed = &seeds[rng.below(seeds.len())];
        let line = mutate(&mut rng, seed);
        let opts = ParseOptions {
            format: formats[i % formats.len()],
            assume_time: (i % 3 == 0).then_some(0),
            strict_json: false,
        };
        let got = parse_line(&line, &opts);
        for p in got {
            match p {
                Parsed::Record(_) => records += 1,
                Parsed::Rejected(r) => {
                    assert!(!r.reason.as_str().is_empty());
                    rejected += 1;
                }
            }
        }
    }
    // The corpus must exercise both outcomes, or it tests nothing.
    assert!(
        records > 1_000 && rejected > 1_000,
        "{records} records, {rejected} rejected"
    );
}

/// Wherever the strict serde path accepts a line, the fast path must read
/// exactly the same records from it.
#[test]
fn fast_path_agrees_with_strict_serde() {
    let Some(seeds) = seeds() else { return };
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut compared = 0;
    for i in 0..20_000 {
        let seed = &seeds[rng.below(seeds.len())];
        let line = if i % 4 == 0 {
            seed.clone()
        } else {
            mutate(&mut rng, seed)
        };
        let strict = ParseOptions {
            strict_json: true,
            ..ParseOptions::default()
        };
        let want = parse_line(&line, &strict);
        if want.iter().any(|p| matches!(p, Parsed::Rejected(_))) {
            continue;
        }
        compared += 1;
        let got = parse_line(&line, &ParseOptions::default());
        assert_eq!(got, want, "{}", String::from_utf8_lossy(&line));
    }
    assert!(compared > 2_000, "{compared} lines compared");
}

#[test]
fn mutated_streams_never_panic() {
    let Some(seeds) = seeds() else { return };
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for i in 0..300 {
        let mut stream = Vec::new();
        for _ in 0..1 + rng.below(8) {
            let seed = &seeds[rng.below(seeds.len())];
            stream.extend(mutate(&mut rng, seed));
            stream.push(b'\n');
        }
        let opts = Options {
            format: if i % 10 == 0 {
                Format::Csv
            } else {
                Format::Auto
            },
            max_line_bytes: 512,
            ..Options::default()
        };
        let n = Reader::from_reader("m", Cursor::new(stream), opts).count();
        assert!(n > 0);
    }
}
