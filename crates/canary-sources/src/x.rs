//! The X API v2 filtered stream
//! (<https://docs.x.com/x-api/posts/filtered-stream/introduction>): one JSON
//! object per line of a long-lived chunked response, `\r\n`-separated, with
//! blank lines as keep-alives (every 20 s; a stream silent for much longer
//! is dead). Each line is a v2 single-post response, `data` plus
//! `includes.users` from `expansions=author_id`, which is the v2 shape dumps
//! have too, so it is read by `canary-ingest`'s own v2 parser: a live post
//! and the same post in a dump give the same record.

use canary_core::{DeadLetter, IngestRecord};
use canary_ingest::{Format, ParseOptions, Parsed};

/// Stage name on this source's dead letters.
pub const STAGE: &str = "source";

/// What one line gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A post, deletion or notice.
    Record(IngestRecord),
    /// A line that cannot be used.
    Dead(DeadLetter),
}

/// Decodes one line of the stream (without its line break); a keep-alive
/// gives nothing.
pub fn decode(line: &[u8], source: &str, offset: u64) -> Vec<Decoded> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Vec::new();
    }
    let opts = ParseOptions {
        format: Format::V2,
        ..ParseOptions::default()
    };
    canary_ingest::parse_line(line, &opts)
        .into_iter()
        .map(|p| match p {
            Parsed::Record(r) => Decoded::Record(r),
            Parsed::Rejected(r) => {
                let raw = r.raw.as_deref().map_or(line, str::as_bytes);
                Decoded::Dead(DeadLetter::new(
                    STAGE,
                    r.reason.as_str(),
                    r.detail,
                    source,
                    offset,
                    raw,
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line as the filtered stream documentation shows it, with
    /// `tweet.fields=created_at,lang,entities` and `expansions=author_id`.
    const LINE: &str = r#"{"data":{"author_id":"2244994945","created_at":"2024-05-06T12:00:01.000Z","edit_history_tweet_ids":["1787391854644297813"],"id":"1787391854644297813","lang":"en","text":"@acme where is my refund #acmefail","entities":{"mentions":[{"start":0,"end":5,"username":"acme","id":"46"}],"hashtags":[{"start":25,"end":34,"tag":"acmefail"}]}},"includes":{"users":[{"id":"2244994945","name":"X Dev","username":"XDevelopers"}]},"matching_rules":[{"id":"1166916266197536768","tag":"acme"}]}"#;

    #[test]
    fn a_stream_line_is_the_post_a_dump_line_gives() {
        let got = decode(format!("{LINE}\r").as_bytes(), "x", 1);
        let [Decoded::Record(IngestRecord::Post(p))] = got.as_slice() else {
            panic!("{got:?}");
        };
        assert_eq!(p.id, "1787391854644297813");
        assert_eq!(p.event_ms, 1_714_996_801_000);
        assert_eq!(p.mentions, ["acme"]);
        assert_eq!(p.hashtags, ["acmefail"]);
        assert_eq!(p.lang_hint.as_deref(), Some("en"));
        assert_eq!(p.author.as_deref(), Some("XDevelopers"));
    }

    #[test]
    fn keepalives_give_nothing_and_bad_lines_are_dead_letters() {
        assert!(decode(b"", "x", 1).is_empty());
        assert!(decode(b"\r", "x", 1).is_empty());
        let got = decode(b"{\"data\":{\"id\":", "x", 9);
        let [Decoded::Dead(d)] = got.as_slice() else {
            panic!("{got:?}");
        };
        assert_eq!((d.stage.as_str(), d.offset), (STAGE, 9));
    }
}
