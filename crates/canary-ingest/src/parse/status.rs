//! v1.1 statuses and v2 tweets: ids, event times, text, entities, deletes.

use super::*;

/// Digits of an id written as a JSON number or string, taken verbatim so that
/// ids above 2^53 never pass through a float.
pub(super) fn raw_id(raw: &RawValue) -> Option<String> {
    raw_id_str(raw.get())
}

/// [`raw_id`] on the raw JSON text of the value.
pub(super) fn raw_id_str(s: &str) -> Option<String> {
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
pub(super) fn id_text(s: &str) -> &str {
    let s = s.trim();
    if s.starts_with("tag:") || s.starts_with("object:") {
        s.rsplit(':').next().unwrap_or(s)
    } else {
        s
    }
}

/// `Some(Ok(id))`, `Some(Err(rejection))` for a present but unusable id, `None` if absent.
pub(super) fn tweet_id(d: &Doc<'_>) -> Option<Result<String, Rejection>> {
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

pub(super) fn clip(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub(super) fn epoch_ms(raw: &RawValue) -> Option<i64> {
    epoch_ms_str(raw.get())
}

pub(super) fn epoch_ms_str(s: &str) -> Option<i64> {
    let s = s.trim_matches('"');
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub(super) fn delete_record(d: &DeleteBody<'_>) -> Parsed {
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

pub(super) fn fill_entities(p: &mut Post, e: Option<&Entities<'_>>) {
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
pub(super) fn own_text<'d, 'a>(d: &'d Doc<'a>) -> (Option<&'d str>, Option<&'d Entities<'a>>) {
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

pub(super) fn event_time(
    d: &Doc<'_>,
    created: Option<&str>,
    opts: &ParseOptions,
) -> Result<i64, Rejection> {
    event_time_raw(created, d.timestamp_ms.map(RawValue::get), opts)
}

pub(super) fn event_time_raw(
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
pub(super) fn status(
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
        .or_else(|| expanded_user(exp, d.author_id.as_deref()?)?.handle())
        .map(str::to_owned);
    p.lang_hint = d.lang.as_deref().map(str::to_owned);
    let replied = d
        .referenced_tweets
        .as_ref()
        .and_then(|r| r.iter().find(|r| r.kind.as_deref() == Some("replied_to")));
    p.reply_to = d
        .in_reply_to_status_id_str
        .as_deref()
        .map(str::to_owned)
        .or_else(|| tweet_id(replied?).and_then(Result::ok));
    p.reply_to_author = d
        .in_reply_to_screen_name
        .as_deref()
        .or_else(|| parent_author(d, replied, exp))
        .map(str::to_owned);
    p.conversation = d.conversation_id.as_deref().map(str::to_owned);
    // A v1.1 `user` gives `followers_count` (the fast path reads only that);
    // a v2 author gives `public_metrics`, inline or in `includes.users`.
    p.followers =
        match &d.user {
            Some(u) => u.followers_count.and_then(|r| super::model::count(r.get())),
            None => d.author.as_ref().and_then(User::followers).or_else(|| {
                expanded_user(exp, d.author_id.as_deref()?).and_then(|u| u.followers())
            }),
        };
    fill_entities(&mut p, ents);
    Ok(p)
}

/// The user `id` of a v2 response's `includes.users`.
fn expanded_user<'d, 'a>(exp: Option<&Expansions<'d, 'a>>, id: &str) -> Option<&'d User<'a>> {
    exp?.users.get(id).copied()
}

/// The author of the post `d` replies to, where the payload names it: the
/// replied-to tweet's author (inlined by twarc's flattened form, else found
/// in `includes.tweets`, by `author_id` in `includes.users`), else
/// `in_reply_to_user` (flattened) or `in_reply_to_user_id` in `includes.users`.
fn parent_author<'d>(
    d: &'d Doc<'_>,
    replied: Option<&'d Doc<'_>>,
    exp: Option<&Expansions<'d, '_>>,
) -> Option<&'d str> {
    let author_of = |t: &'d Doc<'_>| {
        t.author
            .as_ref()
            .and_then(User::handle)
            .or_else(|| expanded_user(exp, t.author_id.as_deref()?)?.handle())
    };
    replied
        .and_then(|r| {
            author_of(r).or_else(|| {
                let id = tweet_id(r)?.ok()?;
                author_of(exp?.tweets.get(&id)?)
            })
        })
        .or_else(|| d.in_reply_to_user.as_ref().and_then(User::handle))
        .or_else(|| expanded_user(exp, &raw_id(d.in_reply_to_user_id?)?)?.handle())
}
