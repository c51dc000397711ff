//! Records that cross stage boundaries.
//!
//! Every record carries a `v` field so that a stage reading a topic written by an
//! older or newer build can tell what it holds. A post is one type that each stage
//! enriches (`watches`, then `lang`, then `sentiment`), so the same record flows
//! through the in-memory channels and the Kafka topics alike.

use serde::{Deserialize, Serialize};

/// Version of the wire records defined here.
pub const RECORD_VERSION: u16 = 1;

fn default_version() -> u16 {
    RECORD_VERSION
}

/// One social post, as ingest produces it and later stages enrich it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    /// Record version ([`RECORD_VERSION`]).
    #[serde(default = "default_version")]
    pub v: u16,
    /// Platform id as a decimal string: tweet ids exceed 2^53 and must never pass through f64.
    pub id: String,
    /// Event time: when the post was created, milliseconds since the Unix epoch, UTC.
    pub event_ms: i64,
    /// The full text: for retweets the retweeted status' text, for truncated
    /// statuses the extended text.
    pub text: String,
    /// Author handle (screen name) without `@`, when the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The platform's language tag, as given (normalised by the language stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang_hint: Option<String>,
    /// Mentioned handles without `@`, as the platform's entities list them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// Hashtags without `#`, as the platform's entities list them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashtags: Vec<String>,
    /// A brand the source itself attributes the post to (a CSV export's brand
    /// column): normalize counts the post for the watch of that name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// Whether the post is a retweet (its text is the retweeted status' text).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retweet: bool,
    /// Id of the post this one replies to (v1.1 `in_reply_to_status_id_str`,
    /// v2 `referenced_tweets` of type `replied_to`, Bluesky `reply.parent`,
    /// Mastodon `in_reply_to_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Handle (without `@`) of the author of the post replied to, where the
    /// source names it (v1.1 `in_reply_to_screen_name`, v2 through `includes.users`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_author: Option<String>,
    /// Id of the conversation's first post (v2 `conversation_id`, Bluesky
    /// `reply.root`); absent where the source only gives the parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    /// The author's follower count, where the platform gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followers: Option<u64>,
    /// Names of the watches the post matches (set by normalize).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watches: Vec<String>,
    /// Language decided by the language stage: an ISO 639-1 code, `other` for a
    /// language outside the configured markets, or `und` when undecidable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// VADER scores, set by the sentiment stage for languages it supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<Sentiment>,
}

impl Post {
    /// A post with the required fields and nothing else.
    pub fn new(id: impl Into<String>, event_ms: i64, text: impl Into<String>) -> Self {
        Post {
            v: RECORD_VERSION,
            id: id.into(),
            event_ms,
            text: text.into(),
            author: None,
            lang_hint: None,
            mentions: Vec::new(),
            hashtags: Vec::new(),
            brand: None,
            retweet: false,
            reply_to: None,
            reply_to_author: None,
            conversation: None,
            followers: None,
            watches: Vec::new(),
            lang: None,
            sentiment: None,
        }
    }

    /// Whether the post counts as negative (compound <= -0.05). Posts without
    /// sentiment (unsupported language) are never negative.
    pub fn is_negative(&self) -> bool {
        self.sentiment.is_some_and(|s| s.is_negative())
    }
}

/// VADER polarity scores: neg/neu/pos rounded to 3 decimals, compound to 4.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Sentiment {
    /// Negative proportion.
    pub neg: f64,
    /// Neutral proportion.
    pub neu: f64,
    /// Positive proportion.
    pub pos: f64,
    /// Normalised, weighted composite score in [-1, 1].
    pub compound: f64,
}

/// Compound score at or below which a post counts as negative.
pub const NEGATIVE_COMPOUND: f64 = -0.05;

impl Sentiment {
    /// Whether these scores make a post negative.
    pub fn is_negative(&self) -> bool {
        self.compound <= NEGATIVE_COMPOUND
    }
}

/// Stream notices a dump may hold besides posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NoticeKind {
    /// A status deletion (`delete`), also v2 compliance `delete` events.
    Delete,
    /// Rate-limit notice (`limit`).
    Limit,
    /// Location deletion (`scrub_geo`).
    ScrubGeo,
    /// Status withheld in some countries (`status_withheld`).
    StatusWithheld,
    /// User withheld in some countries (`user_withheld`).
    UserWithheld,
    /// Stall warning (`warning`).
    Warning,
    /// Stream disconnect (`disconnect`).
    Disconnect,
    /// User-stream friends list preamble (`friends`).
    Friends,
    /// User-stream event (`event`: follow, favorite, ...).
    Event,
    /// Direct message on a user stream (`direct_message`).
    DirectMessage,
    /// Blank keep-alive line.
    KeepAlive,
    /// A response page or envelope holding no posts (e.g. a v2 page with only `errors`, counts).
    Envelope,
    /// Any other JSON object that is not a post.
    Other,
}

impl NoticeKind {
    /// Every kind, for metrics that start each series at 0.
    pub const ALL: [NoticeKind; 13] = [
        NoticeKind::Delete,
        NoticeKind::Limit,
        NoticeKind::ScrubGeo,
        NoticeKind::StatusWithheld,
        NoticeKind::UserWithheld,
        NoticeKind::Warning,
        NoticeKind::Disconnect,
        NoticeKind::Friends,
        NoticeKind::Event,
        NoticeKind::DirectMessage,
        NoticeKind::KeepAlive,
        NoticeKind::Envelope,
        NoticeKind::Other,
    ];

    /// Stable lowercase name, used in metrics labels and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Delete => "delete",
            NoticeKind::Limit => "limit",
            NoticeKind::ScrubGeo => "scrub_geo",
            NoticeKind::StatusWithheld => "status_withheld",
            NoticeKind::UserWithheld => "user_withheld",
            NoticeKind::Warning => "warning",
            NoticeKind::Disconnect => "disconnect",
            NoticeKind::Friends => "friends",
            NoticeKind::Event => "event",
            NoticeKind::DirectMessage => "direct_message",
            NoticeKind::KeepAlive => "keep_alive",
            NoticeKind::Envelope => "envelope",
            NoticeKind::Other => "other",
        }
    }
}

/// A record that ingest emits: a post, a deletion, or another notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// Posts are nearly every record; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum IngestRecord {
    /// A post to run through the pipeline.
    Post(Post),
    /// A deletion notice for the post with this id.
    Delete {
        /// Record version.
        #[serde(default = "default_version")]
        v: u16,
        /// Id of the deleted post.
        id: String,
        /// When the deletion happened, if the notice says (`timestamp_ms`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_ms: Option<i64>,
    },
    /// A notice that carries nothing for the pipeline; counted by kind.
    Notice {
        /// Record version.
        #[serde(default = "default_version")]
        v: u16,
        /// Which notice.
        kind: NoticeKind,
    },
}

/// A record that could not be processed, with the reason and the raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Record version.
    #[serde(default = "default_version")]
    pub v: u16,
    /// Stage that rejected the record (`ingest`, `normalize`, `aggregate`, ...).
    pub stage: String,
    /// Stable, low-cardinality reason code (e.g. `invalid_json`, `missing_created_at`).
    pub reason: String,
    /// Human-readable detail (parser message); never used as a metric label.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Where the record came from: a file path, `-` for stdin, or a topic/partition.
    pub source: String,
    /// 1-based line number (or message offset) within the source.
    pub offset: u64,
    /// The raw record: UTF-8 text as is, otherwise base64 (see `encoding`).
    pub raw: String,
    /// `utf8` or `base64`.
    pub encoding: String,
}

impl DeadLetter {
    /// Builds a dead letter, choosing the raw encoding from the bytes.
    pub fn new(
        stage: &str,
        reason: &str,
        detail: impl Into<String>,
        source: &str,
        offset: u64,
        raw: &[u8],
    ) -> Self {
        let (raw, encoding) = match std::str::from_utf8(raw) {
            Ok(s) => (s.to_owned(), "utf8"),
            Err(_) => (crate::base64::encode(raw), "base64"),
        };
        DeadLetter {
            v: RECORD_VERSION,
            stage: stage.to_owned(),
            reason: reason.to_owned(),
            detail: detail.into(),
            source: source.to_owned(),
            offset,
            raw,
            encoding: encoding.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_round_trips_and_keeps_big_ids_exact() {
        let mut p = Post::new("1234567890123456789", 1_500_000_000_000, "hello");
        p.sentiment = Some(Sentiment {
            neg: 0.5,
            neu: 0.5,
            pos: 0.0,
            compound: -0.4,
        });
        let s = serde_json::to_string(&p).unwrap();
        assert!(s.contains("\"id\":\"1234567890123456789\""));
        let back: Post = serde_json::from_str(&s).unwrap();
        assert_eq!(back, p);
        assert!(back.is_negative());
    }

    #[test]
    fn negative_threshold_is_inclusive() {
        let s = |c| Sentiment {
            compound: c,
            ..Default::default()
        };
        assert!(s(-0.05).is_negative());
        assert!(!s(-0.0499).is_negative());
    }

    #[test]
    fn dead_letter_encodes_invalid_utf8_as_base64() {
        let d = DeadLetter::new("ingest", "invalid_utf8", "", "f", 3, &[0xff, 0xfe, b'a']);
        assert_eq!(d.encoding, "base64");
        assert_eq!(d.raw, "//5h");
        let d = DeadLetter::new("ingest", "invalid_json", "", "f", 3, b"{x");
        assert_eq!((d.raw.as_str(), d.encoding.as_str()), ("{x", "utf8"));
    }
}
