//! What flows on the topics after `raw`: versioned JSON envelopes around the
//! core record types, several to a Kafka message.

use canary_core::{IngestRecord, Post};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// Header on a `raw` message that carries a control record instead of a line
/// (value `end`: the replay is over, close every window).
pub const CONTROL_HEADER: &str = "canary-control";

/// Header on a `raw` message whose payload is several lines (value
/// [`FORMAT_JSON_LINES`]); without it a message is one document, which may
/// span lines (a pretty-printed JSON object).
pub const FORMAT_HEADER: &str = "canary-format";

/// [`FORMAT_HEADER`] value: the payload is JSON lines, `\n`-separated, each
/// read as a line of a dump file is.
pub const FORMAT_JSON_LINES: &str = "jsonl";

/// [`FORMAT_HEADER`] value: `\n`-separated canary records (the core
/// `IngestRecord` JSON), as the replay writes what the reader parsed itself:
/// CSV rows, elements of whole JSON documents, sorted inputs.
pub const FORMAT_RECORDS: &str = "canary-records";

/// Version of [`Envelope`] and of the message around it: 2 packs several
/// envelopes into one message (`{"v":2,"recs":[...]}`); 1 was one envelope
/// per message, still read.
pub const ENVELOPE_VERSION: u16 = 2;

/// What an envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A post or delete notice (`rec`).
    Record,
    /// Only progress: the stream has reached event time `max_event_ms`.
    Watermark,
    /// End of a replay: close every window up to `max_event_ms`.
    End,
}

/// One record on `parsed`, `normalized`, `languaged` and `scored`; messages
/// carry them in order, as [`decode`] splits them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`ENVELOPE_VERSION`].
    pub v: u16,
    /// What this is.
    pub kind: Kind,
    /// The record, for [`Kind::Record`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "record"
    )]
    pub rec: Option<IngestRecord>,
    /// Newest event time of the whole stream before this message (stamped by
    /// normalize; absent upstream of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_event_ms: Option<i64>,
    /// When the line was written to `raw` (ms since the epoch), for latency.
    #[serde(default)]
    pub raw_ms: i64,
    /// Where on `raw` the record's line is, set by ingest and kept by every
    /// stage after it, so a stage that refuses the post later (a `late` post)
    /// points at the line itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<RawPos>,
}

/// A line's position on the `raw` topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawPos {
    /// Partition.
    pub p: i32,
    /// Offset of the message.
    pub o: i64,
    /// The line's position inside a packed message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i: Option<u32>,
}

impl Envelope {
    /// A record envelope.
    pub fn record(rec: IngestRecord, raw_ms: i64) -> Envelope {
        Envelope {
            v: ENVELOPE_VERSION,
            kind: Kind::Record,
            rec: Some(rec),
            max_event_ms: None,
            raw_ms,
            src: None,
        }
    }

    /// A control envelope.
    pub fn control(kind: Kind, max_event_ms: Option<i64>, raw_ms: i64) -> Envelope {
        Envelope {
            v: ENVELOPE_VERSION,
            kind,
            rec: None,
            max_event_ms,
            raw_ms,
            src: None,
        }
    }

    /// Parses an envelope; a newer version or a record-less record is an error.
    pub fn from_slice(b: &[u8]) -> Result<Envelope, String> {
        Envelope::from_json(utf8(b)?)
    }

    /// [`Envelope::from_slice`] on text already known to be UTF-8 (as
    /// [`decode`] gives it), which serde_json then does not check string by
    /// string.
    pub fn from_json(s: &str) -> Result<Envelope, String> {
        let e: Envelope = serde_json::from_str(s).map_err(|e| e.to_string())?;
        if e.v > ENVELOPE_VERSION {
            return Err(format!(
                "envelope version {} is newer than {ENVELOPE_VERSION}",
                e.v
            ));
        }
        if e.kind == Kind::Record && e.rec.is_none() {
            return Err("record envelope without a record".into());
        }
        Ok(e)
    }

    /// JSON bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("envelopes always serialize")
    }
}

/// Reads a record without serde's buffering of internally tagged enums
/// (every string copied into an intermediate tree first, which cost each
/// stage more than the record's own fields): when `type` comes first, as
/// canary writes it, a post is read straight into [`Post`]; anything else
/// takes the general path.
fn record<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IngestRecord>, D::Error> {
    d.deserialize_map(RecordVisitor).map(Some)
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = IngestRecord;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IngestRecord, A::Error> {
        let mut fields = serde_json::Map::new();
        if let Some(key) = map.next_key::<String>()? {
            if key == "type" {
                let t: String = map.next_value()?;
                if t == "post" {
                    return Post::deserialize(MapAccessDeserializer::new(map))
                        .map(IngestRecord::Post);
                }
                fields.insert(key, serde_json::Value::String(t));
            } else {
                fields.insert(key, map.next_value()?);
            }
        }
        while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
            fields.insert(k, v);
        }
        IngestRecord::deserialize(serde_json::Value::Object(fields)).map_err(de::Error::custom)
    }
}

#[derive(Deserialize)]
struct Head<'a> {
    v: u16,
    #[serde(borrow, default)]
    recs: Option<Vec<&'a RawValue>>,
}

/// One envelope's JSON within a message, with its position in a packed
/// message (None: the message is a version 1 envelope).
pub type EnvelopeJson<'a> = (Option<usize>, &'a str);

/// The message as text: one SIMD pass over the whole message instead of
/// serde_json's check of every string in it, twice (split, then parse).
fn utf8(b: &[u8]) -> Result<&str, String> {
    simdutf8::basic::from_utf8(b)
        .or_else(|_| std::str::from_utf8(b))
        .map_err(|e| e.to_string())
}

/// Splits a message into the JSON of its envelopes, in order: the elements of
/// a version 2 message, or the whole of a version 1 message.
pub fn decode(b: &[u8]) -> Result<Vec<EnvelopeJson<'_>>, String> {
    let b = utf8(b)?;
    let h: Head<'_> = serde_json::from_str(b).map_err(|e| e.to_string())?;
    if h.v > ENVELOPE_VERSION {
        return Err(format!(
            "envelope version {} is newer than {ENVELOPE_VERSION}",
            h.v
        ));
    }
    Ok(match h.recs {
        Some(recs) => recs
            .into_iter()
            .enumerate()
            .map(|(i, r)| (Some(i), r.get()))
            .collect(),
        None => vec![(None, b)],
    })
}

#[derive(Deserialize)]
struct Packed {
    v: u16,
    recs: Vec<Envelope>,
}

/// Every envelope of a version 2 message in one pass, when all of them are
/// good (the common case); None sends the caller to [`decode`] and
/// [`Envelope::from_json`], which find the bad ones. Same checks as those.
pub fn decode_all(b: &[u8]) -> Option<Vec<Envelope>> {
    let p: Packed = serde_json::from_str(utf8(b).ok()?).ok()?;
    let ok = p.v <= ENVELOPE_VERSION
        && p.recs
            .iter()
            .all(|e| e.v <= ENVELOPE_VERSION && (e.kind != Kind::Record || e.rec.is_some()));
    ok.then_some(p.recs)
}

/// Starts a version 2 message; envelopes follow [`pack_next`], [`pack_end`] closes it.
pub(crate) fn pack_start(buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(b"{\"v\":2,\"recs\":[");
}

/// Before appending an envelope's JSON (`first`: the message holds none yet).
pub(crate) fn pack_next(buf: &mut Vec<u8>, first: bool) {
    if !first {
        buf.push(b',');
    }
}

/// Closes a message started with [`pack_start`].
pub(crate) fn pack_end(buf: &mut Vec<u8>) {
    buf.extend_from_slice(b"]}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use canary_core::Post;

    #[test]
    fn round_trips_bit_exact() {
        let mut p = Post::new("1790000000000000001", 1_714_990_000_123, "acme is down");
        p.sentiment = Some(canary_core::record::Sentiment {
            neg: 0.437,
            neu: 0.563,
            pos: 0.0,
            compound: -0.4767000000000001,
        });
        let mut e = Envelope::record(IngestRecord::Post(p), 5);
        e.max_event_ms = Some(7);
        e.src = Some(RawPos {
            p: 0,
            o: 41,
            i: Some(3),
        });
        let back = Envelope::from_slice(&e.to_vec()).expect("parses");
        assert_eq!(back, e);
        assert!(Envelope::from_slice(br#"{"v":1,"kind":"record"}"#).is_err());
        assert!(Envelope::from_slice(br#"{"v":9,"kind":"end"}"#).is_err());
        assert!(Envelope::from_slice(b"not json").is_err());
    }

    #[test]
    fn reads_records_in_any_field_order() {
        let post = r#"{"v":2,"kind":"record","rec":{"type":"post","id":"7","event_ms":1,"text":"hi","lang":"en"},"raw_ms":3}"#;
        let late_tag = r#"{"v":2,"kind":"record","rec":{"id":"7","event_ms":1,"type":"post","text":"hi","lang":"en"},"raw_ms":3}"#;
        let a = Envelope::from_slice(post.as_bytes()).expect("parses");
        assert_eq!(
            a,
            Envelope::from_slice(late_tag.as_bytes()).expect("parses")
        );
        let mut p = Post::new("7", 1, "hi");
        p.lang = Some("en".into());
        assert_eq!(a.rec, Some(IngestRecord::Post(p)));
        let del =
            r#"{"v":2,"kind":"record","rec":{"type":"delete","id":"9","at_ms":5},"raw_ms":0}"#;
        let d = Envelope::from_slice(del.as_bytes()).expect("parses");
        assert!(
            matches!(d.rec, Some(IngestRecord::Delete { ref id, at_ms: Some(5), .. }) if id == "9")
        );
        let bad = r#"{"v":2,"kind":"record","rec":{"type":"post","id":"7"},"raw_ms":0}"#;
        assert!(Envelope::from_slice(bad.as_bytes()).is_err());
        let unknown = r#"{"v":2,"kind":"record","rec":{"type":"poll","id":"7"},"raw_ms":0}"#;
        assert!(Envelope::from_slice(unknown.as_bytes()).is_err());
    }

    #[test]
    fn packs_and_splits_messages() {
        let a = Envelope::control(Kind::Watermark, Some(3), 1).to_vec();
        let b = Envelope::control(Kind::End, Some(4), 2).to_vec();
        let mut m = Vec::new();
        pack_start(&mut m);
        pack_next(&mut m, true);
        m.extend_from_slice(&a);
        pack_next(&mut m, false);
        m.extend_from_slice(&b);
        pack_end(&mut m);
        let text = |v: &[u8]| String::from_utf8(v.to_vec()).expect("utf8");
        assert_eq!(
            decode(&m).expect("splits"),
            [(Some(0), text(&a).as_str()), (Some(1), text(&b).as_str())]
        );
        // Version 1: one envelope per message.
        let old = br#"{"v":1,"kind":"end","max_event_ms":4,"raw_ms":2}"#;
        let recs = decode(old).expect("old form");
        assert_eq!(recs, [(None, text(old).as_str())]);
        assert_eq!(
            Envelope::from_json(recs[0].1).expect("parses").max_event_ms,
            Some(4)
        );
        assert!(decode(br#"{"v":3,"recs":[]}"#).is_err());
        assert!(decode(b"not json").is_err());
        // A bad element is the element's problem, not the message's.
        let recs = decode(br#"{"v":2,"recs":[{"v":2,"kind":"nope"},{"v":2,"kind":"end"}]}"#)
            .expect("splits");
        assert!(Envelope::from_json(recs[0].1).is_err());
        assert!(Envelope::from_json(recs[1].1).is_ok());
        assert!(decode(b"{\"v\":2,\"recs\":[\"\xff\"]}").is_err());
        // One pass when every envelope is good; otherwise the caller splits.
        let all = decode_all(&m).expect("all good");
        assert_eq!(
            all,
            [
                Envelope::from_slice(&a).expect("a"),
                Envelope::from_slice(&b).expect("b")
            ]
        );
        assert!(
            decode_all(br#"{"v":2,"recs":[{"v":2,"kind":"nope"},{"v":2,"kind":"end"}]}"#).is_none()
        );
        assert!(decode_all(br#"{"v":2,"recs":[{"v":3,"kind":"end"}]}"#).is_none());
        assert!(decode_all(br#"{"v":2,"recs":[{"v":2,"kind":"record"}]}"#).is_none());
        assert!(decode_all(old).is_none());
    }
}
