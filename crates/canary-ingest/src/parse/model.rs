//! The serde model: one borrowed union of every shape canary reads.

use super::*;

pub(super) type Text<'a> = Option<Cow<'a, str>>;

/// Every field of every shape we read; the rest is skipped unbuilt.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Doc<'a> {
    #[serde(borrow)]
    pub(super) id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(super) id_str: Text<'a>,
    #[serde(borrow)]
    pub(super) created_at: Text<'a>,
    #[serde(borrow)]
    pub(super) timestamp_ms: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(super) text: Text<'a>,
    #[serde(borrow)]
    pub(super) full_text: Text<'a>,
    #[serde(borrow)]
    pub(super) extended_tweet: Option<Extended<'a>>,
    #[serde(borrow)]
    pub(super) retweeted_status: Option<Box<Doc<'a>>>,
    #[serde(borrow)]
    pub(super) user: Option<User<'a>>,
    #[serde(borrow)]
    pub(super) entities: Option<Entities<'a>>,
    #[serde(borrow)]
    pub(super) lang: Text<'a>,

    // v1.1 stream notices.
    #[serde(borrow)]
    pub(super) delete: Option<DeleteBody<'a>>,
    pub(super) limit: Option<IgnoredAny>,
    pub(super) scrub_geo: Option<IgnoredAny>,
    pub(super) status_withheld: Option<IgnoredAny>,
    pub(super) user_withheld: Option<IgnoredAny>,
    pub(super) warning: Option<IgnoredAny>,
    pub(super) disconnect: Option<IgnoredAny>,
    pub(super) friends: Option<IgnoredAny>,
    pub(super) friends_str: Option<IgnoredAny>,
    pub(super) event: Option<IgnoredAny>,
    pub(super) direct_message: Option<IgnoredAny>,
    pub(super) control: Option<IgnoredAny>,

    // Search envelopes.
    #[serde(borrow)]
    pub(super) statuses: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(super) results: Option<&'a RawValue>,
    pub(super) search_metadata: Option<IgnoredAny>,

    // Activity Streams.
    #[serde(borrow)]
    pub(super) verb: Text<'a>,
    #[serde(borrow, rename = "postedTime")]
    pub(super) posted_time: Text<'a>,
    #[serde(borrow)]
    pub(super) body: Text<'a>,
    #[serde(borrow)]
    pub(super) twitter_lang: Text<'a>,
    #[serde(borrow)]
    pub(super) actor: Option<User<'a>>,
    #[serde(borrow)]
    pub(super) object: Option<Box<Doc<'a>>>,
    #[serde(borrow)]
    pub(super) long_object: Option<Extended<'a>>,
    #[serde(borrow)]
    pub(super) twitter_entities: Option<Entities<'a>>,

    // API v2.
    #[serde(borrow)]
    pub(super) data: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(super) includes: Option<&'a RawValue>,
    pub(super) errors: Option<IgnoredAny>,
    pub(super) meta: Option<IgnoredAny>,
    pub(super) matching_rules: Option<IgnoredAny>,
    #[serde(borrow)]
    pub(super) author_id: Text<'a>,
    #[serde(borrow)]
    pub(super) author: Option<User<'a>>,
    #[serde(borrow)]
    pub(super) referenced_tweets: Option<Vec<Doc<'a>>>,
    #[serde(borrow)]
    pub(super) note_tweet: Option<Extended<'a>>,
    #[serde(borrow, rename = "type")]
    pub(super) kind: Text<'a>,
    #[serde(borrow)]
    pub(super) action: Text<'a>,
    pub(super) tweet_count: Option<IgnoredAny>,
    pub(super) edit_history_tweet_ids: Option<IgnoredAny>,

    // Replies: v1.1 names the parent and its author, v2 the thread.
    #[serde(borrow)]
    pub(super) in_reply_to_status_id_str: Text<'a>,
    #[serde(borrow)]
    pub(super) in_reply_to_screen_name: Text<'a>,
    #[serde(borrow)]
    pub(super) conversation_id: Text<'a>,
    /// v2 (a string) and v1.1 (a number): the parent's author, by id.
    #[serde(borrow)]
    pub(super) in_reply_to_user_id: Option<&'a RawValue>,
    /// twarc's flattened form inlines that author.
    #[serde(borrow)]
    pub(super) in_reply_to_user: Option<User<'a>>,
}

/// `extended_tweet`, v2 `note_tweet` and Activity Streams `long_object`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Extended<'a> {
    #[serde(borrow)]
    pub(super) full_text: Text<'a>,
    #[serde(borrow)]
    pub(super) text: Text<'a>,
    #[serde(borrow)]
    pub(super) body: Text<'a>,
    #[serde(borrow)]
    pub(super) entities: Option<Entities<'a>>,
    #[serde(borrow)]
    pub(super) twitter_entities: Option<Entities<'a>>,
}

impl<'a> Extended<'a> {
    pub(super) fn text(&self) -> Option<&Cow<'a, str>> {
        self.full_text
            .as_ref()
            .or(self.text.as_ref())
            .or(self.body.as_ref())
    }
    pub(super) fn entities(&self) -> Option<&Entities<'a>> {
        self.entities.as_ref().or(self.twitter_entities.as_ref())
    }
}

/// v1.1 `user`, v2 `author` / `includes.users[]`, Activity Streams `actor`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct User<'a> {
    #[serde(borrow)]
    pub(super) id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(super) screen_name: Text<'a>,
    #[serde(borrow)]
    pub(super) username: Text<'a>,
    #[serde(borrow, rename = "preferredUsername")]
    pub(super) preferred_username: Text<'a>,
    /// Kept raw: an odd value (a float, a string) means no count, not a bad post.
    #[serde(borrow)]
    pub(super) followers_count: Option<&'a RawValue>,
    /// v2 users carry their follower count here.
    #[serde(borrow)]
    pub(super) public_metrics: Option<UserMetrics<'a>>,
}

/// v2 `public_metrics` of a user.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct UserMetrics<'a> {
    #[serde(borrow)]
    pub(super) followers_count: Option<&'a RawValue>,
}

/// A follower count written as a plain non-negative JSON integer.
pub(super) fn count(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

impl<'a> User<'a> {
    /// v1.1 `followers_count`, else v2 `public_metrics.followers_count`.
    pub(super) fn followers(&self) -> Option<u64> {
        self.followers_count
            .or_else(|| self.public_metrics.as_ref()?.followers_count)
            .and_then(|r| count(r.get()))
    }

    pub(super) fn handle(&self) -> Option<&str> {
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
    pub(super) text: Text<'a>,
    #[serde(borrow)]
    pub(super) tag: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Mention<'a> {
    #[serde(borrow)]
    pub(super) screen_name: Text<'a>,
    #[serde(borrow)]
    pub(super) username: Text<'a>,
}

/// `delete` of a v1.1 stream, or of a v2 compliance stream (`tweet`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct DeleteBody<'a> {
    #[serde(borrow)]
    pub(super) status: Option<IdRef<'a>>,
    #[serde(borrow)]
    pub(super) tweet: Option<IdRef<'a>>,
    #[serde(borrow)]
    pub(super) timestamp_ms: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(super) event_at: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct IdRef<'a> {
    #[serde(borrow)]
    pub(super) id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(super) id_str: Text<'a>,
}

/// `includes` of a v2 page or stream line.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Includes<'a> {
    #[serde(borrow)]
    pub(super) users: Vec<User<'a>>,
    #[serde(borrow)]
    pub(super) tweets: Vec<Doc<'a>>,
}

/// Expansions of a v2 response, keyed by id.
#[derive(Default)]
pub(super) struct Expansions<'d, 'a> {
    pub(super) users: HashMap<String, &'d User<'a>>,
    pub(super) tweets: HashMap<String, &'d Doc<'a>>,
}
