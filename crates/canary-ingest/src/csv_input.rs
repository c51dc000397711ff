//! CSV exports: a column mapping from header names to post fields.

use canary_core::{IngestRecord, Post};
use csv::ByteRecord;

use crate::parse::{Parsed, Reason, Rejection, unescape_html};
use crate::timefmt::TimeFormat;

/// Which CSV columns hold a post's fields, by header name (matched ignoring
/// ASCII case). An empty `id`, `text` or `time` and a `None` `handle` or
/// `lang` mean the usual names (`DEFAULT_*_COLUMNS`); `brand` is used only
/// when named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvMapping {
    /// Column of the post id (kept as text, never through a float).
    pub id: String,
    /// Column of the post text.
    pub text: String,
    /// Column of the creation time.
    pub time: String,
    /// How the time column is written.
    pub time_format: TimeFormat,
    /// Column of the author handle, if any.
    pub handle: Option<String>,
    /// Column of the platform's language tag, if any.
    pub lang: Option<String>,
    /// Column naming the brand a row is about, if any (the 2015 airline
    /// export's `airline`): the post counts for the watch of that name.
    pub brand: Option<String>,
    /// Field delimiter (`b','`; `b'\t'` for TSV).
    pub delimiter: u8,
    /// Whether to undo the API's `&amp;`/`&lt;`/`&gt;` escaping of the text
    /// (exports built from API text, like the 2015 airline set, keep it).
    pub html_unescape: bool,
}

impl CsvMapping {
    /// A mapping with the given id, text and time columns and defaults otherwise.
    pub fn new(id: &str, text: &str, time: &str) -> Self {
        CsvMapping {
            id: id.to_owned(),
            text: text.to_owned(),
            time: time.to_owned(),
            time_format: TimeFormat::Auto,
            handle: None,
            lang: None,
            brand: None,
            delimiter: b',',
            html_unescape: true,
        }
    }
}

/// Header names tried, in order, when no mapping is given.
pub const DEFAULT_ID_COLUMNS: &[&str] = &["tweet_id", "id_str", "id"];
/// Text columns tried by the default mapping.
pub const DEFAULT_TEXT_COLUMNS: &[&str] = &["text", "full_text", "body", "tweet"];
/// Time columns tried by the default mapping.
pub const DEFAULT_TIME_COLUMNS: &[&str] = &[
    "tweet_created",
    "created_at",
    "postedtime",
    "timestamp",
    "date",
    "time",
];
/// Handle columns tried by the default mapping (`name` is the handle in
/// the 2015 airline export).
pub const DEFAULT_HANDLE_COLUMNS: &[&str] = &[
    "screen_name",
    "user_screen_name",
    "username",
    "handle",
    "author",
    "name",
];
/// Language columns tried by the default mapping.
pub const DEFAULT_LANG_COLUMNS: &[&str] = &["lang", "language", "twitter_lang"];

/// A mapping resolved against one file's header.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    id: usize,
    text: usize,
    time: usize,
    handle: Option<usize>,
    lang: Option<usize>,
    brand: Option<usize>,
    time_format: TimeFormat,
    html_unescape: bool,
}

fn find(header: &ByteRecord, names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| {
        header.iter().position(|h| {
            let h = h.strip_prefix(b"\xef\xbb\xbf").unwrap_or(h);
            h.trim_ascii().eq_ignore_ascii_case(n.as_bytes())
        })
    })
}

/// `name`, or the usual names when it is empty.
fn or_usual<'a>(name: &'a str, usual: &[&'a str]) -> Vec<&'a str> {
    if name.is_empty() {
        usual.to_vec()
    } else {
        vec![name]
    }
}

impl Columns {
    /// Resolves `mapping` (or the default candidates) against `header`;
    /// the error names the missing column.
    pub(crate) fn resolve(
        header: &ByteRecord,
        mapping: Option<&CsvMapping>,
    ) -> Result<Self, String> {
        let need = |names: &[&str], what: &str| {
            find(header, names).ok_or_else(|| format!("no {what} column (tried {names:?})"))
        };
        match mapping {
            Some(m) => Ok(Columns {
                id: need(or_usual(&m.id, DEFAULT_ID_COLUMNS).as_slice(), "id")?,
                text: need(or_usual(&m.text, DEFAULT_TEXT_COLUMNS).as_slice(), "text")?,
                time: need(or_usual(&m.time, DEFAULT_TIME_COLUMNS).as_slice(), "time")?,
                handle: match &m.handle {
                    Some(h) => Some(need(&[h], "handle")?),
                    None => find(header, DEFAULT_HANDLE_COLUMNS),
                },
                lang: match &m.lang {
                    Some(l) => Some(need(&[l], "lang")?),
                    None => find(header, DEFAULT_LANG_COLUMNS),
                },
                brand: match &m.brand {
                    Some(b) => Some(need(&[b], "brand")?),
                    None => None,
                },
                time_format: m.time_format,
                html_unescape: m.html_unescape,
            }),
            None => Ok(Columns {
                id: need(DEFAULT_ID_COLUMNS, "id")?,
                text: need(DEFAULT_TEXT_COLUMNS, "text")?,
                time: need(DEFAULT_TIME_COLUMNS, "time")?,
                handle: find(header, DEFAULT_HANDLE_COLUMNS),
                lang: find(header, DEFAULT_LANG_COLUMNS),
                // A brand column changes what is counted: only when asked for.
                brand: None,
                time_format: TimeFormat::Auto,
                html_unescape: true,
            }),
        }
    }

    /// One data row to a post or a rejection.
    pub(crate) fn row(&self, rec: &ByteRecord) -> Parsed {
        match self.post(rec) {
            Ok(p) => Parsed::Record(IngestRecord::Post(p)),
            Err(r) => Parsed::Rejected(r),
        }
    }

    fn post(&self, rec: &ByteRecord) -> Result<Post, Rejection> {
        let field = |i: usize| -> Result<Option<&str>, Rejection> {
            match rec.get(i) {
                None => Ok(None),
                Some(b) => std::str::from_utf8(b).map(Some).map_err(|e| Rejection {
                    reason: Reason::InvalidUtf8,
                    detail: format!("column {}: {e}", i + 1),
                    raw: None,
                }),
            }
        };
        let rej = |reason, detail: String| Rejection {
            reason,
            detail,
            raw: None,
        };
        let id = field(self.id)?.map(str::trim).unwrap_or("");
        if id.is_empty() {
            return Err(rej(Reason::MissingId, "empty id".into()));
        }
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            // Spreadsheet round trips turn ids into `5.69686E+17`: the digits are gone.
            return Err(rej(Reason::BadId, format!("id {id:?} is not an integer")));
        }
        let time = field(self.time)?.map(str::trim).unwrap_or("");
        if time.is_empty() {
            return Err(rej(Reason::MissingCreatedAt, "empty time".into()));
        }
        let event_ms = self.time_format.parse(time).ok_or_else(|| {
            rej(
                Reason::BadCreatedAt,
                format!("time {time:?} does not parse"),
            )
        })?;
        let Some(text) = field(self.text)? else {
            return Err(rej(Reason::MissingText, "row has no text column".into()));
        };
        let text = if self.html_unescape {
            unescape_html(text).into_owned()
        } else {
            text.to_owned()
        };
        let mut p = Post::new(id, event_ms, text);
        let opt = |i: Option<usize>| -> Result<Option<String>, Rejection> {
            Ok(match i {
                Some(i) => field(i)?
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| s.trim_start_matches('@').to_owned()),
                None => None,
            })
        };
        p.author = opt(self.handle)?;
        p.lang_hint = opt(self.lang)?;
        p.brand = opt(self.brand)?;
        Ok(p)
    }
}

/// A row written back as CSV, for a dead letter's raw bytes.
pub(crate) fn row_bytes(rec: &ByteRecord, delimiter: u8) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    if w.write_byte_record(rec).is_err() {
        return rec.as_slice().to_vec();
    }
    let mut v = w.into_inner().unwrap_or_default();
    if v.last() == Some(&b'\n') {
        v.pop();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fields: &[&str]) -> ByteRecord {
        ByteRecord::from(fields.to_vec())
    }

    #[test]
    fn default_mapping_reads_the_airline_layout() {
        let h = rec(&["tweet_id", "airline", "name", "text", "tweet_created"]);
        let c = Columns::resolve(&h, None).unwrap();
        let p = match c.row(&rec(&[
            "570306133677760513",
            "Virgin America",
            "someone",
            "a &amp; b",
            "2015-02-24 11:35:52 -0800",
        ])) {
            Parsed::Record(IngestRecord::Post(p)) => p,
            o => panic!("{o:?}"),
        };
        assert_eq!(p.id, "570306133677760513");
        assert_eq!(p.text, "a & b");
        assert_eq!(p.author.as_deref(), Some("someone"));
        assert_eq!(
            canary_core::time::format_rfc3339(p.event_ms),
            "2015-02-24T19:35:52Z"
        );
    }

    #[test]
    fn explicit_mapping_and_reasons() {
        let h = rec(&["ID", "when", "body", "lang"]);
        let mut m = CsvMapping::new("id", "body", "when");
        m.lang = Some("lang".into());
        m.time_format = TimeFormat::EpochMillis;
        let c = Columns::resolve(&h, Some(&m)).unwrap();
        let reason = |f: &[&str]| match c.row(&rec(f)) {
            Parsed::Rejected(r) => r.reason,
            o => panic!("{o:?}"),
        };
        assert_eq!(reason(&["5.69686E+17", "1", "t", "en"]), Reason::BadId);
        assert_eq!(reason(&["1", "", "t", "en"]), Reason::MissingCreatedAt);
        assert_eq!(reason(&["1", "x", "t", "en"]), Reason::BadCreatedAt);
        assert_eq!(reason(&["1", "2"]), Reason::MissingText);
        let Parsed::Record(IngestRecord::Post(p)) = c.row(&rec(&["1", "2", "t", "en"])) else {
            panic!()
        };
        assert_eq!((p.event_ms, p.lang_hint.as_deref()), (2, Some("en")));
        m.handle = Some("user".into());
        assert!(
            Columns::resolve(&h, Some(&m))
                .unwrap_err()
                .contains("handle")
        );
        assert_eq!(row_bytes(&rec(&["a,b", "c"]), b','), b"\"a,b\",c");
    }
}
