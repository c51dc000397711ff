//! Pure parsing of one JSON line or document into ingest records (no I/O).
//!
//! A line is deserialised once into [`Doc`], a borrowed union of every shape
//! we read (v1.1 statuses and stream notices, search envelopes, Activity
//! Streams, API v2 pages, stream lines, flattened tweets and compliance
//! events). Strings borrow from the line unless they hold escapes, and every
//! field we do not need is skipped without being built, which is what keeps
//! the hot v1.1 path fast. The shape is then decided from which keys are
//! present.

use std::borrow::Cow;
use std::collections::HashMap;

use canary_core::{IngestRecord, NoticeKind, Post};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::timefmt::parse_created_at;

mod activity;
mod fast;
mod model;
mod status;
mod surrogate;
mod v2;

use activity::*;
use model::*;
pub use status::unescape_html;
use status::*;
use v2::*;

pub use surrogate::replace_lone_surrogates;

/// Which input format to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Format {
    /// Detect per line (JSON shapes) and per file (`.csv` is CSV).
    #[default]
    Auto,
    /// API v1.1 only: statuses, stream notices, search responses.
    V1,
    /// Gnip Activity Streams only (also inside premium `results`).
    ActivityStreams,
    /// API v2 only: pages, stream lines, flattened tweets, compliance events.
    V2,
    /// CSV with a column mapping (see [`crate::CsvMapping`]).
    Csv,
}

impl std::str::FromStr for Format {
    type Err = String;
    /// The names the command line and the config use: `auto`, `v1` (or
    /// `v1.1`), `v2`, `activity-streams` (or `gnip`), `csv`.
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => Format::Auto,
            "v1" | "v1.1" => Format::V1,
            "v2" => Format::V2,
            "activity-streams" | "gnip" => Format::ActivityStreams,
            "csv" => Format::Csv,
            _ => {
                return Err(format!(
                    "unknown format {s:?} (auto, v1, v2, activity-streams, csv)"
                ));
            }
        })
    }
}

/// Options for [`parse_line`].
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Format override; [`Format::Auto`] detects per line.
    pub format: Format,
    /// Event time (epoch ms) for posts that carry no creation time at all,
    /// such as v2 responses requested with default fields. Without it those
    /// posts are dead-lettered as `missing_created_at`.
    pub assume_time: Option<i64>,
    /// Check the full JSON grammar of every line, also inside the fields
    /// canary does not read. Off by default: v1.1 statuses are then read by
    /// a fast path that checks encoding, strings and bracket structure of
    /// the skipped fields but not their grammar (see `parse/fast.rs`).
    pub strict_json: bool,
}

/// Why a record was rejected: a stable, low-cardinality code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// The bytes are not UTF-8.
    InvalidUtf8,
    /// Not JSON (a syntax error before the end of the input).
    InvalidJson,
    /// JSON that stops in the middle of a value (a cut-off line).
    TruncatedJson,
    /// A field we read has the wrong JSON type (e.g. `"text": 5`).
    BadField,
    /// A post without any creation time (and no `assume_time`).
    MissingCreatedAt,
    /// A creation time that does not parse.
    BadCreatedAt,
    /// A post without an id.
    MissingId,
    /// An id that is not an integer (e.g. a float that lost digits).
    BadId,
    /// A post without text.
    MissingText,
    /// A line longer than the reader's limit.
    LineTooLong,
    /// Valid JSON that is none of the shapes we know (or not of the forced format).
    UnknownShape,
    /// A CSV file lacks a column its mapping needs.
    MissingColumn,
    /// A CSV quoted field that does not close within the record bounds.
    UnterminatedQuote,
    /// Reading failed (I/O error, corrupt compressed stream, bad archive).
    ReadError,
}

impl Reason {
    /// The reason code, as written into dead letters and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::InvalidJson => "invalid_json",
            Reason::TruncatedJson => "truncated_json",
            Reason::BadField => "bad_field",
            Reason::MissingCreatedAt => "missing_created_at",
            Reason::BadCreatedAt => "bad_created_at",
            Reason::MissingId => "missing_id",
            Reason::BadId => "bad_id",
            Reason::MissingText => "missing_text",
            Reason::LineTooLong => "line_too_long",
            Reason::UnknownShape => "unknown_shape",
            Reason::MissingColumn => "missing_column",
            Reason::UnterminatedQuote => "unterminated_quote",
            Reason::ReadError => "read_error",
        }
    }

    /// Every reason, for documentation and exhaustive tests.
    pub const ALL: [Reason; 14] = [
        Reason::InvalidUtf8,
        Reason::InvalidJson,
        Reason::TruncatedJson,
        Reason::BadField,
        Reason::MissingCreatedAt,
        Reason::BadCreatedAt,
        Reason::MissingId,
        Reason::BadId,
        Reason::MissingText,
        Reason::LineTooLong,
        Reason::UnknownShape,
        Reason::MissingColumn,
        Reason::UnterminatedQuote,
        Reason::ReadError,
    ];
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected record or element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The reason code.
    pub reason: Reason,
    /// Human-readable detail (parser message, offending value).
    pub detail: String,
    /// The rejected element's own JSON when it is one element of a larger
    /// document (a search page); `None` when the whole input is rejected.
    pub raw: Option<String>,
}

impl Rejection {
    fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
            raw: None,
        }
    }
}

/// One outcome of parsing: a record, or a rejection.
// Nearly every outcome is a post: boxing it to shrink the rare rejection
// would cost an allocation per post.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A post, deletion or notice.
    Record(IngestRecord),
    /// Something that must be dead-lettered.
    Rejected(Rejection),
}

/// Parses one line (or whole document) into zero or more outcomes.
///
/// A status gives one post; a search or v2 page gives one per element (each
/// element rejected on its own); a notice gives one notice; a blank line is a
/// keep-alive. Never panics, whatever the bytes.
pub fn parse_line(line: &[u8], opts: &ParseOptions) -> Vec<Parsed> {
    let mut out = Vec::with_capacity(1);
    parse_line_into(line, opts, &mut out);
    out
}

/// Like [`parse_line`], appending to `out` to reuse its allocation.
pub fn parse_line_into(line: &[u8], opts: &ParseOptions, out: &mut Vec<Parsed>) {
    // simdutf8 checks a 5 KB status in a fraction of std's time; its error
    // carries no position, so std describes the bad bytes.
    let s = match simdutf8::basic::from_utf8(line) {
        Ok(s) => s,
        Err(_) => match std::str::from_utf8(line) {
            Ok(s) => s,
            Err(e) => {
                out.push(Parsed::Rejected(Rejection::new(
                    Reason::InvalidUtf8,
                    e.to_string(),
                )));
                return;
            }
        },
    };
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    if t.is_empty() {
        out.push(notice(NoticeKind::KeepAlive));
        return;
    }
    let start = out.len();
    parse_document(t, opts, out);
    // serde_json refuses lone surrogates wherever the line nests them; read
    // again with U+FFFD in their place. Only lines already refused pay for it.
    let refused = out[start..]
        .iter()
        .any(|o| matches!(o, Parsed::Rejected(r) if r.reason == Reason::InvalidJson));
    if refused && let Some(fixed) = replace_lone_surrogates(t) {
        out.truncate(start);
        parse_document(&fixed, opts, out);
    }
}

fn parse_document(t: &str, opts: &ParseOptions, out: &mut Vec<Parsed>) {
    if t.starts_with('[') {
        parse_array(t, opts, out);
    } else {
        parse_value(t, opts, out);
    }
}

fn parse_value(t: &str, opts: &ParseOptions, out: &mut Vec<Parsed>) {
    if !t.starts_with('{') {
        // Valid JSON that is not an object (a number, a string) is a shape
        // problem; anything else is a syntax one.
        out.push(Parsed::Rejected(
            match serde_json::from_str::<IgnoredAny>(t) {
                Ok(_) => Rejection::new(Reason::UnknownShape, "not a JSON object"),
                Err(e) => json_error(&e),
            },
        ));
        return;
    }
    if !opts.strict_json {
        let mut doc = Doc::default();
        if fast::status(t, &mut doc) {
            dispatch(&doc, opts, out);
            return;
        }
    }
    match serde_json::from_str::<Doc<'_>>(t) {
        Ok(doc) => dispatch(&doc, opts, out),
        Err(e) => out.push(Parsed::Rejected(json_error(&e))),
    }
}

fn json_error(e: &serde_json::Error) -> Rejection {
    use serde_json::error::Category;
    let reason = match e.classify() {
        Category::Eof => Reason::TruncatedJson,
        Category::Data => Reason::BadField,
        Category::Syntax | Category::Io => Reason::InvalidJson,
    };
    Rejection::new(reason, e.to_string())
}

/// A top-level JSON array: each element is a document of its own.
fn parse_array(t: &str, opts: &ParseOptions, out: &mut Vec<Parsed>) {
    match serde_json::from_str::<Vec<&RawValue>>(t) {
        Ok(elems) => {
            for raw in elems {
                let start = out.len();
                parse_value(raw.get(), opts, out);
                attach_raw(&mut out[start..], raw);
            }
        }
        Err(e) => out.push(Parsed::Rejected(json_error(&e))),
    }
}

fn attach_raw(outs: &mut [Parsed], raw: &RawValue) {
    for o in outs {
        if let Parsed::Rejected(r) = o
            && r.raw.is_none()
        {
            r.raw = Some(raw.get().to_owned());
        }
    }
}

fn notice(kind: NoticeKind) -> Parsed {
    Parsed::Record(IngestRecord::Notice {
        v: canary_core::RECORD_VERSION,
        kind,
    })
}

/// The API family a shape belongs to, for the [`Format`] override.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    V1,
    Activity,
    V2,
    /// A bare tweet that both v1.1 and v2 could have written.
    V1OrV2,
}

fn allowed(format: Format, fam: Family) -> bool {
    matches!(
        (format, fam),
        (Format::Auto, _)
            | (Format::V1, Family::V1 | Family::V1OrV2)
            | (Format::V2, Family::V2 | Family::V1OrV2)
            | (Format::ActivityStreams, Family::Activity)
    )
}

fn check(format: Format, fam: Family, out: &mut Vec<Parsed>) -> bool {
    if allowed(format, fam) {
        return true;
    }
    out.push(Parsed::Rejected(Rejection::new(
        Reason::UnknownShape,
        format!("a {fam:?} shape where {format:?} was required"),
    )));
    false
}

fn dispatch(doc: &Doc<'_>, opts: &ParseOptions, out: &mut Vec<Parsed>) {
    let f = opts.format;
    if let Some(d) = &doc.delete {
        if check(f, Family::V1, out) {
            out.push(delete_record(d));
        }
        return;
    }
    let notice_kind = if doc.limit.is_some() {
        Some(NoticeKind::Limit)
    } else if doc.scrub_geo.is_some() {
        Some(NoticeKind::ScrubGeo)
    } else if doc.status_withheld.is_some() {
        Some(NoticeKind::StatusWithheld)
    } else if doc.user_withheld.is_some() {
        Some(NoticeKind::UserWithheld)
    } else if doc.warning.is_some() {
        Some(NoticeKind::Warning)
    } else if doc.disconnect.is_some() {
        Some(NoticeKind::Disconnect)
    } else if doc.friends.is_some() || doc.friends_str.is_some() {
        Some(NoticeKind::Friends)
    } else if doc.direct_message.is_some() {
        Some(NoticeKind::DirectMessage)
    } else if doc.event.is_some() {
        Some(NoticeKind::Event)
    } else if doc.control.is_some() {
        Some(NoticeKind::Other)
    } else {
        None
    };
    if let Some(kind) = notice_kind {
        if check(f, Family::V1, out) {
            out.push(notice(kind));
        }
        return;
    }
    if let Some(list) = doc.statuses.or(doc.results) {
        let fam = if doc.statuses.is_some() {
            Family::V1
        } else {
            // Premium/enterprise `results` hold v1.1 statuses or activities.
            match f {
                Format::ActivityStreams => Family::Activity,
                _ => Family::V1,
            }
        };
        if check(f, fam, out) {
            parse_list(list, opts, None, out);
        }
        return;
    }
    if let Some(data) = doc.data {
        if check(f, Family::V2, out) {
            parse_v2(doc, data, opts, out);
        }
        return;
    }
    if let Some(action) = &doc.action {
        if check(f, Family::V2, out) {
            out.push(compliance(doc, action));
        }
        return;
    }
    if doc.verb.is_some() || doc.posted_time.is_some() || doc.actor.is_some() {
        if check(f, Family::Activity, out) {
            out.push(activity(doc, opts));
        }
        return;
    }
    if is_tweet(doc) {
        let fam = tweet_family(doc);
        if check(f, fam, out) {
            out.push(to_parsed(status(doc, opts, None)));
        }
        return;
    }
    if doc.errors.is_some() || doc.meta.is_some() || doc.search_metadata.is_some() {
        out.push(notice(NoticeKind::Envelope));
        return;
    }
    out.push(Parsed::Rejected(Rejection::new(
        Reason::UnknownShape,
        "no known keys",
    )));
}

fn is_tweet(d: &Doc<'_>) -> bool {
    d.text.is_some()
        || d.full_text.is_some()
        || d.extended_tweet.is_some()
        || d.note_tweet.is_some()
        || d.retweeted_status.is_some()
        || d.created_at.is_some()
        || d.id_str.is_some()
        || d.id.is_some()
}

fn tweet_family(d: &Doc<'_>) -> Family {
    if d.user.is_some()
        || d.id_str.is_some()
        || d.retweeted_status.is_some()
        || d.extended_tweet.is_some()
        || d.full_text.is_some()
    {
        Family::V1
    } else if d.author_id.is_some()
        || d.author.is_some()
        || d.edit_history_tweet_ids.is_some()
        || d.referenced_tweets.is_some()
        || d.note_tweet.is_some()
    {
        Family::V2
    } else {
        Family::V1OrV2
    }
}

fn to_parsed(r: Result<Post, Rejection>) -> Parsed {
    match r {
        Ok(p) => Parsed::Record(IngestRecord::Post(p)),
        Err(e) => Parsed::Rejected(e),
    }
}

/// Elements of `statuses` / `results`: each a status or an activity.
fn parse_list(
    list: &RawValue,
    opts: &ParseOptions,
    exp: Option<&Expansions<'_, '_>>,
    out: &mut Vec<Parsed>,
) {
    let elems: Vec<&RawValue> = match serde_json::from_str(list.get()) {
        Ok(v) => v,
        Err(e) => {
            out.push(Parsed::Rejected(json_error(&e)));
            return;
        }
    };
    for raw in elems {
        let start = out.len();
        match serde_json::from_str::<Doc<'_>>(raw.get()) {
            Ok(d) => {
                if d.verb.is_some() || d.posted_time.is_some() {
                    if check(opts.format, Family::Activity, out) {
                        out.push(activity(&d, opts));
                    }
                } else if d.tweet_count.is_some() {
                    // A `tweets/counts` bucket: the page becomes one envelope.
                } else if is_tweet(&d) {
                    out.push(to_parsed(status(&d, opts, exp)));
                } else {
                    out.push(Parsed::Rejected(Rejection::new(
                        Reason::UnknownShape,
                        "list element is not a post",
                    )));
                }
            }
            Err(e) => out.push(Parsed::Rejected(json_error(&e))),
        }
        attach_raw(&mut out[start..], raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_and_aliases_parse() {
        for (name, f) in [
            ("auto", Format::Auto),
            ("v1", Format::V1),
            ("v1.1", Format::V1),
            ("v2", Format::V2),
            ("activity-streams", Format::ActivityStreams),
            ("gnip", Format::ActivityStreams),
            ("csv", Format::Csv),
        ] {
            assert_eq!(name.parse::<Format>(), Ok(f), "{name}");
        }
        let e = "tsv".parse::<Format>().unwrap_err();
        assert!(
            e.contains("unknown format \"tsv\"") && e.contains("activity-streams"),
            "{e}"
        );
    }

    fn one(line: &str) -> Parsed {
        let mut v = parse_line(line.as_bytes(), &ParseOptions::default());
        assert_eq!(v.len(), 1, "{v:?}");
        v.pop().unwrap()
    }

    fn post(line: &str) -> Post {
        match one(line) {
            Parsed::Record(IngestRecord::Post(p)) => p,
            other => panic!("not a post: {other:?}"),
        }
    }

    fn reason(line: &[u8]) -> Reason {
        match parse_line(line, &ParseOptions::default()).as_slice() {
            [Parsed::Rejected(r)] => r.reason,
            other => panic!("not one rejection: {other:?}"),
        }
    }

    const CREATED: &str = "Sat Mar 10 14:03:15 +0000 2018";

    #[test]
    fn v1_status_basics() {
        let p = post(&format!(
            r#"{{"created_at":"{CREATED}","id":973, "id_str":"973","text":"a &amp;lt; b &gt; c","user":{{"screen_name":"ann","id":1}},"lang":"en","entities":{{"hashtags":[{{"text":"x","indices":[0,1]}}],"user_mentions":[{{"screen_name":"bob"}}]}}}}"#
        ));
        assert_eq!(p.id, "973");
        assert_eq!(p.text, "a &lt; b > c");
        assert_eq!(p.author.as_deref(), Some("ann"));
        assert_eq!(p.lang_hint.as_deref(), Some("en"));
        assert_eq!(p.hashtags, ["x"]);
        assert_eq!(p.mentions, ["bob"]);
        assert_eq!(
            canary_core::time::format_rfc3339(p.event_ms),
            "2018-03-10T14:03:15Z"
        );
        assert!(!p.retweet);
    }

    #[test]
    fn timestamp_ms_refines_only_when_it_agrees() {
        let line = |ts: &str| {
            format!(r#"{{"created_at":"{CREATED}","id_str":"1","text":"t","timestamp_ms":"{ts}"}}"#)
        };
        assert_eq!(post(&line("1520690595658")).event_ms, 1_520_690_595_658);
        assert_eq!(
            post(&line("1520690999999")).event_ms,
            1_520_690_595_000,
            "a timestamp_ms from another second is ignored"
        );
    }

    #[test]
    fn numeric_ids_keep_their_digits() {
        let p = post(&format!(
            r#"{{"created_at":"{CREATED}","id":9007199254740993123,"text":"t"}}"#
        ));
        assert_eq!(p.id, "9007199254740993123");
        let r =
            reason(format!(r#"{{"created_at":"{CREATED}","id":1.5e17,"text":"t"}}"#).as_bytes());
        assert_eq!(r, Reason::BadId);
    }

    #[test]
    fn truncated_retweet_takes_full_text_and_its_entities() {
        let p = post(&format!(
            r#"{{"created_at":"{CREATED}","id_str":"2","text":"RT @a: short…","truncated":false,
            "entities":{{"user_mentions":[{{"screen_name":"a"}}]}},
            "retweeted_status":{{"id_str":"1","text":"short…","truncated":true,
              "extended_tweet":{{"full_text":"the full text #tag","entities":{{"hashtags":[{{"text":"tag"}}]}}}}}}}}"#
        ));
        assert!(p.retweet);
        assert_eq!(p.text, "the full text #tag");
        assert_eq!(p.hashtags, ["tag"]);
        assert_eq!(p.id, "2", "the retweet keeps its own id");
    }

    #[test]
    fn notices_and_deletes() {
        let kind = |l: &str| match one(l) {
            Parsed::Record(IngestRecord::Notice { kind, .. }) => kind,
            o => panic!("{o:?}"),
        };
        assert_eq!(kind(r#"{"limit":{"track":5}} "#), NoticeKind::Limit);
        assert_eq!(
            kind(r#"{"warning":{"code":"FALLING_BEHIND"}}"#),
            NoticeKind::Warning
        );
        assert_eq!(
            kind(r#"{"event":"follow","source":{},"target":{}}"#),
            NoticeKind::Event
        );
        assert_eq!(kind("  \r"), NoticeKind::KeepAlive);
        assert_eq!(kind(r#"{"errors":[{"title":"x"}]}"#), NoticeKind::Envelope);
        match one(
            r#"{"delete":{"status":{"id":18446744073709551615,"user_id":3},"timestamp_ms":"1467998788211"}}"#,
        ) {
            Parsed::Record(IngestRecord::Delete { id, at_ms, .. }) => {
                assert_eq!(id, "18446744073709551615");
                assert_eq!(at_ms, Some(1_467_998_788_211));
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn reason_codes() {
        assert_eq!(reason(b"{\"text\":\"\xff\"}"), Reason::InvalidUtf8);
        assert_eq!(reason(b"{text}"), Reason::InvalidJson);
        assert_eq!(
            reason(b"{\"data\": {\"author_id\": \"1\""),
            Reason::TruncatedJson
        );
        assert_eq!(
            reason(br#"{"id_str":"1","text":"t"}"#),
            Reason::MissingCreatedAt
        );
        assert_eq!(
            reason(br#"{"id_str":"1","text":"t","created_at":"soon"}"#),
            Reason::BadCreatedAt
        );
        assert_eq!(
            reason(br#"{"created_at":"2020-01-01T00:00:00Z","text":"t"}"#),
            Reason::MissingId
        );
        assert_eq!(
            reason(br#"{"created_at":"2020-01-01T00:00:00Z","id":"1"}"#),
            Reason::MissingText
        );
        assert_eq!(reason(br#"{"text":5,"id":"1"}"#), Reason::BadField);
        assert_eq!(reason(br#"{"foo":1}"#), Reason::UnknownShape);
        assert_eq!(reason(b"42"), Reason::UnknownShape);
        assert_eq!(reason(b"[1]"), Reason::UnknownShape);
    }

    #[test]
    fn assume_time_fills_missing_created_at() {
        let opts = ParseOptions {
            assume_time: Some(7),
            ..Default::default()
        };
        let v = parse_line(
            br#"{"data":[{"id":"1","text":"a"},{"id":"2","text":"b"}]}"#,
            &opts,
        );
        assert_eq!(v.len(), 2);
        for p in v {
            let Parsed::Record(IngestRecord::Post(p)) = p else {
                panic!()
            };
            assert_eq!(p.event_ms, 7);
        }
    }

    #[test]
    fn lone_surrogates_read_as_replacement_characters() {
        let status = format!(
            r#"{{"created_at":"{CREATED}","id_str":"1","text":"\ud83d oops \ud83d\ude02 \ude02","user":{{"screen_name":"ann"}}}}"#
        );
        let want = "\u{fffd} oops 😂 \u{fffd}";
        assert_eq!(post(&status).text, want, "fast path");
        let strict = ParseOptions {
            strict_json: true,
            ..ParseOptions::default()
        };
        match parse_line(status.as_bytes(), &strict).as_slice() {
            [Parsed::Record(IngestRecord::Post(p))] => assert_eq!(p.text, want, "serde path"),
            other => panic!("strict: {other:?}"),
        }
        let page = r#"{"data":[{"id":"10","created_at":"2021-09-22T14:03:15.000Z","text":"v2 \udbff!"}],"meta":{}}"#;
        assert_eq!(post(page).text, "v2 \u{fffd}!", "v2 page");
        let array = format!(r#"[{status}]"#);
        match parse_line(array.as_bytes(), &ParseOptions::default()).as_slice() {
            [Parsed::Record(IngestRecord::Post(p))] => assert_eq!(p.text, want, "array"),
            other => panic!("array: {other:?}"),
        }
        assert_eq!(
            reason(br#"{"text":"\ud83d\u12g4"}"#),
            Reason::InvalidJson,
            "a bad escape after a lone surrogate is still bad"
        );
    }

    #[test]
    fn v2_page_resolves_expansions() {
        let line = r#"{"data":[{"id":"10","author_id":"7","created_at":"2021-09-22T14:03:15.000Z","text":"RT @b: cut…","lang":"en",
            "referenced_tweets":[{"type":"retweeted","id":"9"}]},
            {"id":"11","author_id":"8","text":"no time"}],
          "includes":{"users":[{"id":"7","username":"ann"}],"tweets":[{"id":"9","text":"full &amp; long","entities":{"mentions":[{"username":"c"}],"hashtags":[{"tag":"h"}]}}]},
          "meta":{"result_count":2}}"#;
        let v = parse_line(line.as_bytes(), &ParseOptions::default());
        assert_eq!(v.len(), 2);
        let Parsed::Record(IngestRecord::Post(p)) = &v[0] else {
            panic!("{v:?}")
        };
        assert_eq!(p.text, "full & long");
        assert!(p.retweet);
        assert_eq!(p.author.as_deref(), Some("ann"));
        assert_eq!(
            (p.mentions.as_slice(), p.hashtags.as_slice()),
            (&["c".to_owned()][..], &["h".to_owned()][..])
        );
        let Parsed::Rejected(r) = &v[1] else { panic!() };
        assert_eq!(r.reason, Reason::MissingCreatedAt);
        assert!(
            r.raw.as_deref().unwrap().contains("no time"),
            "element raw kept"
        );
    }

    #[test]
    fn activity_share_is_a_retweet() {
        let p = post(
            r#"{"id":"tag:search.twitter.com,2005:123","verb":"share","postedTime":"2017-01-01T00:00:00.000Z",
            "body":"RT @x: cut","actor":{"preferredUsername":"ann"},"twitter_lang":"en",
            "object":{"id":"tag:search.twitter.com,2005:99","verb":"post","body":"short",
              "long_object":{"body":"the long body","twitter_entities":{"hashtags":[{"text":"h"}]}}}}"#,
        );
        assert_eq!(p.id, "123");
        assert!(p.retweet);
        assert_eq!(p.text, "the long body");
        assert_eq!(p.hashtags, ["h"]);
        assert_eq!(p.author.as_deref(), Some("ann"));
        assert_eq!(p.event_ms, 1_483_228_800_000);
    }

    #[test]
    fn format_override_rejects_other_families() {
        let opts = ParseOptions {
            format: Format::V2,
            ..Default::default()
        };
        let v = parse_line(br#"{"limit":{"track":1}}"#, &opts);
        assert!(matches!(&v[..], [Parsed::Rejected(r)] if r.reason == Reason::UnknownShape));
    }

    #[test]
    fn unescape_is_single_pass() {
        assert_eq!(unescape_html("a&amp;amp;&lt;&gt;&foo;&"), "a&amp;<>&foo;&");
        assert!(matches!(unescape_html("plain"), Cow::Borrowed(_)));
    }
}
