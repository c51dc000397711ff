//! The Mastodon streaming API (<https://docs.joinmastodon.org/methods/streaming/>):
//! `update` events carry a Status entity, `delete` events a status id.
//!
//! Ids are the instance's own status ids, as `delete` events name them. A
//! boost (`reblog`) is counted as a retweet is: its text is the boosted
//! status's. Mentions of accounts on the instance itself come as a bare
//! `acct`; they are qualified with the instance's host so that a watch term
//! `@acme@mastodon.social` matches wherever the post was written.

use crate::sse::SseEvent;
use canary_core::{DeadLetter, IngestRecord, Post, RECORD_VERSION};
use serde::Deserialize;

/// Stage name on this source's dead letters.
pub const STAGE: &str = "source";

/// What one event gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A post or a delete notice.
    Record(IngestRecord),
    /// An event the pipeline does not use (`notification`, `status.update`, ...).
    Skip,
    /// An event that cannot be used.
    Dead(DeadLetter),
}

#[derive(Deserialize)]
struct Status {
    id: String,
    created_at: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    language: Option<String>,
    account: Account,
    #[serde(default)]
    mentions: Vec<Account>,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    reblog: Option<Box<Status>>,
    #[serde(default)]
    in_reply_to_id: Option<String>,
    #[serde(default)]
    in_reply_to_account_id: Option<String>,
}

#[derive(Deserialize)]
struct Account {
    #[serde(default)]
    id: Option<String>,
    acct: String,
    /// Kept as any JSON value: an odd one (negative, a string) is no count,
    /// not a bad status.
    #[serde(default)]
    followers_count: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Tag {
    name: String,
}

/// Decodes one event of the stream of instance `host` (`mastodon.social`).
pub fn decode(ev: &SseEvent, host: &str, source: &str, offset: u64) -> Decoded {
    let dead = |reason: &str, detail: String| {
        Decoded::Dead(DeadLetter::new(
            STAGE,
            reason,
            detail,
            source,
            offset,
            ev.data.as_bytes(),
        ))
    };
    match ev.event.as_str() {
        "delete" => {
            let id = ev.data.trim().trim_matches('"');
            if id.is_empty() {
                return dead("missing_id", "delete without a status id".into());
            }
            Decoded::Record(IngestRecord::Delete {
                v: RECORD_VERSION,
                id: id.to_owned(),
                at_ms: None,
            })
        }
        "update" => {
            let s: Status = match serde_json::from_str(&ev.data) {
                Ok(s) => s,
                Err(e) => return dead("invalid_json", e.to_string()),
            };
            let Some(event_ms) = canary_core::time::parse_rfc3339(&s.created_at) else {
                return dead("invalid_created_at", s.created_at);
            };
            let qualify = |acct: &str| {
                if acct.contains('@') {
                    acct.to_owned()
                } else {
                    format!("{acct}@{host}")
                }
            };
            let shown = s.reblog.as_deref().unwrap_or(&s);
            let mut p = Post::new(s.id.clone(), event_ms, html_to_text(&shown.content));
            p.author = Some(qualify(&s.account.acct));
            p.lang_hint = shown.language.clone();
            p.mentions = shown.mentions.iter().map(|m| qualify(&m.acct)).collect();
            p.hashtags = shown.tags.iter().map(|t| t.name.clone()).collect();
            p.retweet = s.reblog.is_some();
            p.reply_to = s.in_reply_to_id.clone();
            // The parent's author is named only by account id; a reply
            // mentions the account it answers, which gives its `acct`.
            p.reply_to_author = s.in_reply_to_account_id.as_deref().and_then(|id| {
                std::iter::once(&s.account)
                    .chain(&s.mentions)
                    .find(|a| a.id.as_deref() == Some(id))
                    .map(|a| qualify(&a.acct))
            });
            p.followers = s
                .account
                .followers_count
                .as_ref()
                .and_then(serde_json::Value::as_u64);
            Decoded::Record(IngestRecord::Post(p))
        }
        _ => Decoded::Skip,
    }
}

/// The text of a status's HTML `content`: tags dropped, paragraphs and line
/// breaks kept as line breaks, character references decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('<') {
            let end = rest.find('>').map_or(rest.len(), |e| e + 1);
            let tag = rest[..end].to_ascii_lowercase();
            if tag.starts_with("<br") || (tag.starts_with("<p") && !out.is_empty()) {
                out.push('\n');
            }
            rest = &rest[end..];
        } else {
            let end = rest[..rest.len().min(12)].find(';');
            let decoded = end.and_then(|e| entity(&rest[1..e]).map(|c| (c, e + 1)));
            match decoded {
                Some((c, len)) => {
                    out.push(c);
                    rest = &rest[len..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        _ => {
            let n = name.strip_prefix('#')?;
            let code = match n.strip_prefix(['x', 'X']) {
                Some(h) => u32::from_str_radix(h, 16).ok()?,
                None => n.parse().ok()?,
            };
            char::from_u32(code)?
        }
    })
}

#[cfg(test)]
mod tests;
