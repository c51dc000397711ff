//! What flows on the topics after `raw`: versioned JSON envelopes around the
//! core record types.

use canary_core::IngestRecord;
use serde::{Deserialize, Serialize};

/// Header on a `raw` message that carries a control record instead of a line
/// (value `end`: the replay is over, close every window).
pub const CONTROL_HEADER: &str = "canary-control";

/// Version of [`Envelope`].
pub const ENVELOPE_VERSION: u16 = 1;

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

/// One message on `parsed`, `normalized`, `languaged` and `scored`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`ENVELOPE_VERSION`].
    pub v: u16,
    /// What this is.
    pub kind: Kind,
    /// The record, for [`Kind::Record`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rec: Option<IngestRecord>,
    /// Newest event time of the whole stream before this message (stamped by
    /// normalize; absent upstream of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_event_ms: Option<i64>,
    /// When the line was written to `raw` (ms since the epoch), for latency.
    #[serde(default)]
    pub raw_ms: i64,
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
        }
    }

    /// Parses an envelope; a newer version or a record-less record is an error.
    pub fn from_slice(b: &[u8]) -> Result<Envelope, String> {
        let e: Envelope = serde_json::from_slice(b).map_err(|e| e.to_string())?;
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
        let back = Envelope::from_slice(&e.to_vec()).expect("parses");
        assert_eq!(back, e);
        assert!(Envelope::from_slice(br#"{"v":1,"kind":"record"}"#).is_err());
        assert!(Envelope::from_slice(br#"{"v":9,"kind":"end"}"#).is_err());
        assert!(Envelope::from_slice(b"not json").is_err());
    }
}
