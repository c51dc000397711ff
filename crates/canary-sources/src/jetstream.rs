//! Bluesky Jetstream: one JSON event per websocket text frame
//! (<https://github.com/bluesky-social/jetstream>), subscribed with
//! `wantedCollections=app.bsky.feed.post`.
//!
//! A `commit` with `operation: create` becomes a [`Post`]; `delete` becomes
//! a delete notice for the same `at://` id, so a post deleted inside its
//! window stops counting as it does for a dump's delete notices. Identity
//! and account events carry nothing for the pipeline and are skipped.
//!
//! Authors are DIDs (`did:plc:...`): Jetstream names no handles and gives
//! no follower counts. A reply's parent author is the DID in its parent's
//! `at://` URI.
//!
//! Jetstream replays from a `cursor` (a `time_us`) on reconnect. Resuming a
//! few seconds before the last event seen means no gap even if events with
//! the same `time_us` straddled the cut; [`Resume`] drops the overlap by id.

use canary_core::{DeadLetter, IngestRecord, Post, RECORD_VERSION};
use serde::Deserialize;
use std::collections::{HashSet, VecDeque};

/// Stage name on this source's dead letters.
pub const STAGE: &str = "source";

/// A `createdAt` later than the event's `time_us` is a skewed client clock
/// (the relay cannot see a post before it exists); one much older is an
/// import or a backdated post, which in a live stream is news now. Either
/// way the event time is moved into `[time_us - MAX_BACKDATE, time_us]`.
pub const MAX_BACKDATE_MS: i64 = 10 * 60 * 1000;

/// What one frame gives.
#[derive(Debug, Clone, PartialEq)]
// Nearly every frame is a post; boxing it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum Decoded {
    /// A post or a delete notice, with the event's `time_us`.
    Record(IngestRecord, i64),
    /// A well-formed event the pipeline does not use, with its `time_us`
    /// when it has one (still worth remembering for the cursor).
    Skip(Option<i64>),
    /// A frame that cannot be used.
    Dead(DeadLetter),
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    did: &'a str,
    time_us: i64,
    kind: &'a str,
    #[serde(default, borrow)]
    commit: Option<Commit<'a>>,
}

#[derive(Deserialize)]
struct Commit<'a> {
    #[serde(borrow)]
    operation: &'a str,
    #[serde(borrow)]
    collection: &'a str,
    #[serde(borrow)]
    rkey: &'a str,
    #[serde(default)]
    record: Option<Record>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    text: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    langs: Vec<String>,
    #[serde(default)]
    facets: Vec<Facet>,
    #[serde(default)]
    reply: Option<Reply>,
}

/// `reply` of a post record: strong references to the parent and the thread's root.
#[derive(Deserialize)]
struct Reply {
    parent: StrongRef,
    root: StrongRef,
}

#[derive(Deserialize)]
struct StrongRef {
    uri: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Facet {
    index: ByteSlice,
    #[serde(default)]
    features: Vec<Feature>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ByteSlice {
    byte_start: usize,
    byte_end: usize,
}

#[derive(Deserialize)]
struct Feature {
    #[serde(rename = "$type")]
    kind: String,
    #[serde(default)]
    tag: Option<String>,
}

/// Decodes one frame; `source` and `offset` (the frame's number on this
/// connection) locate a dead letter.
pub fn decode(frame: &[u8], source: &str, offset: u64) -> Decoded {
    let dead = |reason: &str, detail: String| {
        Decoded::Dead(DeadLetter::new(
            STAGE, reason, detail, source, offset, frame,
        ))
    };
    let ev: Event = match serde_json::from_slice(frame) {
        Ok(e) => e,
        Err(e) => return dead("invalid_json", e.to_string()),
    };
    if ev.kind != "commit" {
        return Decoded::Skip(Some(ev.time_us));
    }
    let Some(c) = ev.commit else {
        return dead("missing_commit", "commit event without `commit`".into());
    };
    if c.collection != "app.bsky.feed.post" {
        return Decoded::Skip(Some(ev.time_us));
    }
    let id = format!("at://{}/{}/{}", ev.did, c.collection, c.rkey);
    let time_ms = ev.time_us / 1000;
    match c.operation {
        "delete" => Decoded::Record(
            IngestRecord::Delete {
                v: RECORD_VERSION,
                id,
                at_ms: Some(time_ms),
            },
            ev.time_us,
        ),
        "create" => {
            let Some(r) = c.record else {
                return dead("missing_record", "create without `record`".into());
            };
            let created = r
                .created_at
                .as_deref()
                .and_then(canary_core::time::parse_rfc3339);
            let event_ms = created
                .unwrap_or(time_ms)
                .clamp(time_ms - MAX_BACKDATE_MS, time_ms);
            let mut p = Post::new(id, event_ms, "");
            p.author = Some(ev.did.to_owned());
            p.lang_hint = r.langs.first().cloned();
            // Post ids are at:// URIs, as reply references are.
            if let Some(reply) = &r.reply {
                p.reply_to = Some(reply.parent.uri.clone());
                p.reply_to_author = uri_did(&reply.parent.uri).map(str::to_owned);
                p.conversation = Some(reply.root.uri.clone());
            }
            for f in &r.facets {
                for feat in &f.features {
                    match feat.kind.as_str() {
                        "app.bsky.richtext.facet#mention" => {
                            // The facet names a DID; watches name handles, which
                            // are the text the facet covers (`@acme.bsky.social`).
                            if let Some(h) = r
                                .text
                                .get(f.index.byte_start..f.index.byte_end)
                                .map(|s| s.trim_start_matches('@'))
                                .filter(|s| !s.is_empty())
                            {
                                p.mentions.push(h.to_owned());
                            }
                        }
                        "app.bsky.richtext.facet#tag" => {
                            if let Some(t) = &feat.tag {
                                p.hashtags.push(t.trim_start_matches('#').to_owned());
                            }
                        }
                        _ => {}
                    }
                }
            }
            p.text = r.text;
            Decoded::Record(IngestRecord::Post(p), ev.time_us)
        }
        _ => Decoded::Skip(Some(ev.time_us)),
    }
}

/// The author's DID of an `at://DID/collection/rkey` URI. Jetstream gives
/// DIDs, not handles, and no follower counts.
fn uri_did(uri: &str) -> Option<&str> {
    let did = uri.strip_prefix("at://")?.split('/').next()?;
    did.starts_with("did:").then_some(did)
}

/// Where to resume and which replayed events to drop.
#[derive(Debug, Clone)]
pub struct Resume {
    rewind_us: i64,
    last_time_us: Option<i64>,
    /// Ids seen within `rewind_us` of the newest event, oldest first.
    recent: VecDeque<(i64, String)>,
    seen: HashSet<String>,
}

impl Resume {
    /// Resumes `rewind_us` microseconds before the last event seen.
    pub fn new(rewind_us: i64) -> Resume {
        Resume {
            rewind_us,
            last_time_us: None,
            recent: VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    /// The `cursor` query value for the next connection, if any event was seen.
    pub fn cursor(&self) -> Option<i64> {
        self.last_time_us.map(|t| t - self.rewind_us)
    }

    /// Notes an event's time; for a record also its id. Returns `false` for
    /// a record already passed on (the overlap of a resume).
    pub fn admit(&mut self, time_us: i64, id: Option<&str>) -> bool {
        if let Some(id) = id {
            if self.seen.contains(id) {
                return false;
            }
            self.recent.push_back((time_us, id.to_owned()));
            self.seen.insert(id.to_owned());
        }
        let newest = self.last_time_us.map_or(time_us, |t| t.max(time_us));
        self.last_time_us = Some(newest);
        // Twice the rewind: a replay starts at most `rewind_us` back, and
        // events within one `time_us` may arrive slightly out of order.
        while let Some((t, _)) = self.recent.front() {
            if *t >= newest - 2 * self.rewind_us {
                break;
            }
            let (_, old) = self.recent.pop_front().expect("front exists");
            self.seen.remove(&old);
        }
        true
    }
}

/// The id a record carries, for [`Resume::admit`].
pub fn record_id(r: &IngestRecord) -> Option<&str> {
    match r {
        IngestRecord::Post(p) => Some(&p.id),
        IngestRecord::Delete { id, .. } => Some(id),
        IngestRecord::Notice { .. } => None,
    }
}

#[cfg(test)]
mod tests;
