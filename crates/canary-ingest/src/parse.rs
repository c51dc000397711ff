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

mod fast;
mod surrogate;

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

type Text<'a> = Option<Cow<'a, str>>;

/// Every field of every shape we read; the rest is skipped unbuilt.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Doc<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    id_str: Text<'a>,
    #[serde(borrow)]
    created_at: Text<'a>,
    #[serde(borrow)]
    timestamp_ms: Option<&'a RawValue>,
    #[serde(borrow)]
    text: Text<'a>,
    #[serde(borrow)]
    full_text: Text<'a>,
    #[serde(borrow)]
    extended_tweet: Option<Extended<'a>>,
    #[serde(borrow)]
    retweeted_status: Option<Box<Doc<'a>>>,
    #[serde(borrow)]
    user: Option<User<'a>>,
    #[serde(borrow)]
    entities: Option<Entities<'a>>,
    #[serde(borrow)]
    lang: Text<'a>,

    // v1.1 stream notices.
    #[serde(borrow)]
    delete: Option<DeleteBody<'a>>,
    limit: Option<IgnoredAny>,
    scrub_geo: Option<IgnoredAny>,
    status_withheld: Option<IgnoredAny>,
    user_withheld: Option<IgnoredAny>,
    warning: Option<IgnoredAny>,
    disconnect: Option<IgnoredAny>,
    friends: Option<IgnoredAny>,
    friends_str: Option<IgnoredAny>,
    event: Option<IgnoredAny>,
    direct_message: Option<IgnoredAny>,
    control: Option<IgnoredAny>,

    // Search envelopes.
    #[serde(borrow)]
    statuses: Option<&'a RawValue>,
    #[serde(borrow)]
    results: Option<&'a RawValue>,
    search_metadata: Option<IgnoredAny>,

    // Activity Streams.
    #[serde(borrow)]
    verb: Text<'a>,
    #[serde(borrow, rename = "postedTime")]
    posted_time: Text<'a>,
    #[serde(borrow)]
    body: Text<'a>,
    #[serde(borrow)]
    twitter_lang: Text<'a>,
    #[serde(borrow)]
    actor: Option<User<'a>>,
    #[serde(borrow)]
    object: Option<Box<Doc<'a>>>,
    #[serde(borrow)]
    long_object: Option<Extended<'a>>,
    #[serde(borrow)]
    twitter_entities: Option<Entities<'a>>,

    // API v2.
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    includes: Option<&'a RawValue>,
    errors: Option<IgnoredAny>,
    meta: Option<IgnoredAny>,
    matching_rules: Option<IgnoredAny>,
    #[serde(borrow)]
    author_id: Text<'a>,
    #[serde(borrow)]
    author: Option<User<'a>>,
    #[serde(borrow)]
    referenced_tweets: Option<Vec<Doc<'a>>>,
    #[serde(borrow)]
    note_tweet: Option<Extended<'a>>,
    #[serde(borrow, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow)]
    action: Text<'a>,
    tweet_count: Option<IgnoredAny>,
    edit_history_tweet_ids: Option<IgnoredAny>,
}

/// `extended_tweet`, v2 `note_tweet` and Activity Streams `long_object`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Extended<'a> {
    #[serde(borrow)]
    full_text: Text<'a>,
    #[serde(borrow)]
    text: Text<'a>,
    #[serde(borrow)]
    body: Text<'a>,
    #[serde(borrow)]
    entities: Option<Entities<'a>>,
    #[serde(borrow)]
    twitter_entities: Option<Entities<'a>>,
}

impl<'a> Extended<'a> {
    fn text(&self) -> Option<&Cow<'a, str>> {
        self.full_text
            .as_ref()
            .or(self.text.as_ref())
            .or(self.body.as_ref())
    }
    fn entities(&self) -> Option<&Entities<'a>> {
        self.entities.as_ref().or(self.twitter_entities.as_ref())
    }
}

/// v1.1 `user`, v2 `author` / `includes.users[]`, Activity Streams `actor`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct User<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    screen_name: Text<'a>,
    #[serde(borrow)]
    username: Text<'a>,
    #[serde(borrow, rename = "preferredUsername")]
    preferred_username: Text<'a>,
}

impl<'a> User<'a> {
    fn handle(&self) -> Option<&str> {
        self.screen_name
            .as_deref()
            .or(self.username.as_deref())
            .or(self.preferred_username.as_deref())
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Entities<'a> {
    #[serde(borrow)]
    pub(crate) hashtags: Option<Vec<Tag<'a>>>,
    #[serde(borrow)]
    pub(crate) user_mentions: Option<Vec<Mention<'a>>>,
    #[serde(borrow)]
    pub(crate) mentions: Option<Vec<Mention<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Tag<'a> {
    #[serde(borrow)]
    text: Text<'a>,
    #[serde(borrow)]
    tag: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Mention<'a> {
    #[serde(borrow)]
    screen_name: Text<'a>,
    #[serde(borrow)]
    username: Text<'a>,
}

/// `delete` of a v1.1 stream, or of a v2 compliance stream (`tweet`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct DeleteBody<'a> {
    #[serde(borrow)]
    status: Option<IdRef<'a>>,
    #[serde(borrow)]
    tweet: Option<IdRef<'a>>,
    #[serde(borrow)]
    timestamp_ms: Option<&'a RawValue>,
    #[serde(borrow)]
    event_at: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct IdRef<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    id_str: Text<'a>,
}

/// `includes` of a v2 page or stream line.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Includes<'a> {
    #[serde(borrow)]
    users: Vec<User<'a>>,
    #[serde(borrow)]
    tweets: Vec<Doc<'a>>,
}

/// Expansions of a v2 response, keyed by id.
#[derive(Default)]
struct Expansions<'d, 'a> {
    users: HashMap<String, &'d str>,
    tweets: HashMap<String, &'d Doc<'a>>,
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

/// A v2 response page (`data` array) or stream line / lookup (`data` object).
fn parse_v2(doc: &Doc<'_>, data: &RawValue, opts: &ParseOptions, out: &mut Vec<Parsed>) {
    let includes: Includes<'_> = match doc.includes {
        Some(raw) => match serde_json::from_str(raw.get()) {
            Ok(i) => i,
            Err(e) => {
                out.push(Parsed::Rejected(json_error(&e)));
                return;
            }
        },
        None => Includes::default(),
    };
    let mut exp = Expansions::default();
    for u in &includes.users {
        if let (Some(id), Some(h)) = (u.id.and_then(raw_id), u.handle()) {
            exp.users.insert(id, h);
        }
    }
    for t in &includes.tweets {
        if let Some(Ok(id)) = tweet_id(t) {
            exp.tweets.insert(id, t);
        }
    }
    let start = out.len();
    match data.get().as_bytes().first() {
        Some(b'[') => parse_list(data, opts, Some(&exp), out),
        Some(b'{') => match serde_json::from_str::<Doc<'_>>(data.get()) {
            Ok(d) if d.delete.is_some() => out.push(delete_record(d.delete.as_ref().unwrap())),
            Ok(d) if is_tweet(&d) => out.push(to_parsed(status(&d, opts, Some(&exp)))),
            Ok(_) => out.push(Parsed::Rejected(Rejection::new(
                Reason::UnknownShape,
                "v2 data object is not a post",
            ))),
            Err(e) => out.push(Parsed::Rejected(json_error(&e))),
        },
        _ => {}
    }
    if out.len() == start {
        // Counts, an empty page, or a page with only `errors`.
        out.push(notice(NoticeKind::Envelope));
    }
}

/// Digits of an id written as a JSON number or string, taken verbatim so that
/// ids above 2^53 never pass through a float.
fn raw_id(raw: &RawValue) -> Option<String> {
    raw_id_str(raw.get())
}

/// [`raw_id`] on the raw JSON text of the value.
pub(crate) fn raw_id_str(s: &str) -> Option<String> {
    if s.starts_with('"') {
        let v: Cow<'_, str> = serde_json::from_str(s).ok()?;
        Some(id_text(&v).to_owned())
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        Some(s.to_owned())
    } else {
        None
    }
}

/// Activity Streams ids are `tag:search.twitter.com,2005:NNN`; keep the number.
pub(crate) fn id_text(s: &str) -> &str {
    let s = s.trim();
    if s.starts_with("tag:") || s.starts_with("object:") {
        s.rsplit(':').next().unwrap_or(s)
    } else {
        s
    }
}

/// `Some(Ok(id))`, `Some(Err(rejection))` for a present but unusable id, `None` if absent.
fn tweet_id(d: &Doc<'_>) -> Option<Result<String, Rejection>> {
    if let Some(s) = d.id_str.as_deref()
        && !s.trim().is_empty()
    {
        return Some(Ok(id_text(s).to_owned()));
    }
    let raw = d.id?;
    if raw.get() == "null" {
        return None;
    }
    Some(raw_id(raw).filter(|s| !s.is_empty()).ok_or_else(|| {
        Rejection::new(
            Reason::BadId,
            format!("id {} is not an integer", clip(raw.get())),
        )
    }))
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn epoch_ms(raw: &RawValue) -> Option<i64> {
    epoch_ms_str(raw.get())
}

pub(crate) fn epoch_ms_str(s: &str) -> Option<i64> {
    let s = s.trim_matches('"');
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn delete_record(d: &DeleteBody<'_>) -> Parsed {
    let target = d.status.as_ref().or(d.tweet.as_ref());
    let id = target.and_then(|t| match t.id_str.as_deref() {
        Some(s) if !s.is_empty() => Some(s.to_owned()),
        _ => t.id.and_then(raw_id),
    });
    let Some(id) = id else {
        return Parsed::Rejected(Rejection::new(
            Reason::MissingId,
            "delete without a status id",
        ));
    };
    let at_ms = d
        .timestamp_ms
        .and_then(epoch_ms)
        .or_else(|| d.event_at.as_deref().and_then(parse_created_at));
    Parsed::Record(IngestRecord::Delete {
        v: canary_core::RECORD_VERSION,
        id,
        at_ms,
    })
}

/// v2 compliance events: `{"id":…,"action":"delete","created_at":…}`.
fn compliance(doc: &Doc<'_>, action: &str) -> Parsed {
    if action != "delete" {
        return notice(NoticeKind::Other);
    }
    match tweet_id(doc) {
        Some(Ok(id)) => Parsed::Record(IngestRecord::Delete {
            v: canary_core::RECORD_VERSION,
            id,
            at_ms: doc.created_at.as_deref().and_then(parse_created_at),
        }),
        Some(Err(r)) => Parsed::Rejected(r),
        None => Parsed::Rejected(Rejection::new(
            Reason::MissingId,
            "compliance event without id",
        )),
    }
}

/// Replaces the three entities the Twitter APIs escape in tweet text.
/// One pass, so `&amp;lt;` becomes `&lt;` as the author typed it.
pub fn unescape_html(s: &str) -> Cow<'_, str> {
    let Some(first) = memchr::memchr(b'&', s.as_bytes()) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..first]);
    let mut rest = &s[first..];
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let r = &rest[i..];
        let (ch, n) = if r.starts_with("&amp;") {
            ('&', 5)
        } else if r.starts_with("&lt;") {
            ('<', 4)
        } else if r.starts_with("&gt;") {
            ('>', 4)
        } else {
            ('&', 1)
        };
        out.push(ch);
        rest = &r[n..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

pub(crate) fn fill_entities(p: &mut Post, e: Option<&Entities<'_>>) {
    let Some(e) = e else { return };
    if let Some(tags) = &e.hashtags {
        p.hashtags = tags
            .iter()
            .filter_map(|t| t.text.as_deref().or(t.tag.as_deref()))
            .map(str::to_owned)
            .collect();
    }
    let mentions = e.user_mentions.as_ref().or(e.mentions.as_ref());
    if let Some(ms) = mentions {
        p.mentions = ms
            .iter()
            .filter_map(|m| m.screen_name.as_deref().or(m.username.as_deref()))
            .map(str::to_owned)
            .collect();
    }
}

/// The text a status shows in full and the entities that index it: the
/// extended text of a truncated status, else `full_text`, else `text`.
fn own_text<'d, 'a>(d: &'d Doc<'a>) -> (Option<&'d str>, Option<&'d Entities<'a>>) {
    if let Some(x) = &d.extended_tweet
        && let Some(t) = x.text()
    {
        return (Some(t), x.entities().or(d.entities.as_ref()));
    }
    if let Some(x) = &d.note_tweet
        && let Some(t) = x.text()
    {
        return (Some(t), x.entities().or(d.entities.as_ref()));
    }
    let t = d.full_text.as_deref().or(d.text.as_deref());
    (t, d.entities.as_ref())
}

fn event_time(d: &Doc<'_>, created: Option<&str>, opts: &ParseOptions) -> Result<i64, Rejection> {
    event_time_raw(created, d.timestamp_ms.map(RawValue::get), opts)
}

pub(crate) fn event_time_raw(
    created: Option<&str>,
    timestamp_ms: Option<&str>,
    opts: &ParseOptions,
) -> Result<i64, Rejection> {
    let Some(c) = created else {
        return opts.assume_time.ok_or_else(|| {
            Rejection::new(Reason::MissingCreatedAt, "no created_at and no assume_time")
        });
    };
    let secs_ms = parse_created_at(c).ok_or_else(|| {
        Rejection::new(
            Reason::BadCreatedAt,
            format!("created_at {:?} does not parse", clip(c)),
        )
    })?;
    // `timestamp_ms` of a stream status carries the same instant with
    // millisecond precision; it is used only when it agrees with `created_at`
    // to the second, so `created_at` stays the authority on event time.
    if let Some(ts) = timestamp_ms.and_then(epoch_ms_str)
        && ts.div_euclid(1000) * 1000 == secs_ms
    {
        return Ok(ts);
    }
    Ok(secs_ms)
}

/// A v1.1 status or a v2 tweet (page element, stream `data`, flattened line).
fn status(
    d: &Doc<'_>,
    opts: &ParseOptions,
    exp: Option<&Expansions<'_, '_>>,
) -> Result<Post, Rejection> {
    let id = match tweet_id(d) {
        Some(r) => r?,
        None => return Err(Rejection::new(Reason::MissingId, "no id or id_str")),
    };
    let event_ms = event_time(d, d.created_at.as_deref(), opts)?;

    let mut retweet = false;
    let (mut text, mut ents) = own_text(d);
    if let Some(rt) = &d.retweeted_status {
        retweet = true;
        let (t, e) = own_text(rt);
        if t.is_some() {
            (text, ents) = (t, e);
        }
    } else if let Some(refs) = &d.referenced_tweets
        && let Some(r) = refs.iter().find(|r| r.kind.as_deref() == Some("retweeted"))
    {
        retweet = true;
        // twarc's flattened form inlines the referenced tweet; a raw page
        // carries it in `includes.tweets`.
        let full = if r.text.is_some() || r.note_tweet.is_some() {
            Some(r)
        } else {
            let rid = tweet_id(r).and_then(Result::ok);
            rid.and_then(|rid| exp.and_then(|x| x.tweets.get(&rid).copied()))
        };
        if let Some(full) = full {
            let (t, e) = own_text(full);
            if t.is_some() {
                (text, ents) = (t, e);
            }
        }
    }
    let Some(text) = text else {
        return Err(Rejection::new(Reason::MissingText, "no text"));
    };
    let mut p = Post::new(id, event_ms, unescape_html(text).into_owned());
    p.retweet = retweet;
    p.author = d
        .user
        .as_ref()
        .and_then(User::handle)
        .or_else(|| d.author.as_ref().and_then(User::handle))
        .or_else(|| {
            let aid = d.author_id.as_deref()?;
            exp?.users.get(aid).copied()
        })
        .map(str::to_owned);
    p.lang_hint = d.lang.as_deref().map(str::to_owned);
    fill_entities(&mut p, ents);
    Ok(p)
}

/// A Gnip Activity Streams activity: `post`, `share` (a retweet whose
/// `object` is the original activity) or a compliance `delete`.
fn activity(d: &Doc<'_>, opts: &ParseOptions) -> Parsed {
    let verb = d.verb.as_deref().unwrap_or("post");
    if verb == "delete" {
        let id = d.object.as_deref().and_then(tweet_id).and_then(Result::ok);
        return match id {
            Some(id) => Parsed::Record(IngestRecord::Delete {
                v: canary_core::RECORD_VERSION,
                id,
                at_ms: d.posted_time.as_deref().and_then(parse_created_at),
            }),
            None => Parsed::Rejected(Rejection::new(
                Reason::MissingId,
                "delete without object id",
            )),
        };
    }
    if verb != "post" && verb != "share" {
        return notice(NoticeKind::Other);
    }
    to_parsed(activity_post(d, verb == "share", opts))
}

fn activity_text<'d, 'a>(d: &'d Doc<'a>) -> (Option<&'d str>, Option<&'d Entities<'a>>) {
    if let Some(x) = &d.long_object
        && let Some(t) = x.text()
    {
        return (Some(t), x.entities().or(d.twitter_entities.as_ref()));
    }
    (d.body.as_deref(), d.twitter_entities.as_ref())
}

fn activity_post(d: &Doc<'_>, share: bool, opts: &ParseOptions) -> Result<Post, Rejection> {
    let id = match tweet_id(d) {
        Some(r) => r?,
        None => return Err(Rejection::new(Reason::MissingId, "activity without id")),
    };
    let event_ms = event_time(d, d.posted_time.as_deref(), opts)?;
    let (mut text, mut ents) = activity_text(d);
    if share && let Some(orig) = &d.object {
        let (t, e) = activity_text(orig);
        if t.is_some() {
            (text, ents) = (t, e);
        }
    }
    let Some(text) = text else {
        return Err(Rejection::new(Reason::MissingText, "activity without body"));
    };
    let mut p = Post::new(id, event_ms, unescape_html(text).into_owned());
    p.retweet = share;
    p.author = d.actor.as_ref().and_then(User::handle).map(str::to_owned);
    p.lang_hint = d
        .twitter_lang
        .as_deref()
        .or(d.lang.as_deref())
        .map(str::to_owned);
    fill_entities(&mut p, ents);
    Ok(p)
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
