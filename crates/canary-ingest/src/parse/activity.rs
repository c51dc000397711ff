//! Gnip Activity Streams activities.

use super::*;

/// A Gnip Activity Streams activity: `post`, `share` (a retweet whose
/// `object` is the original activity) or a compliance `delete`.
pub(super) fn activity(d: &Doc<'_>, opts: &ParseOptions) -> Parsed {
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

pub(super) fn activity_text<'d, 'a>(d: &'d Doc<'a>) -> (Option<&'d str>, Option<&'d Entities<'a>>) {
    if let Some(x) = &d.long_object
        && let Some(t) = x.text()
    {
        return (Some(t), x.entities().or(d.twitter_entities.as_ref()));
    }
    (d.body.as_deref(), d.twitter_entities.as_ref())
}

pub(super) fn activity_post(
    d: &Doc<'_>,
    share: bool,
    opts: &ParseOptions,
) -> Result<Post, Rejection> {
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
