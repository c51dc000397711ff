//! API v2 pages, stream lines and compliance events.

use super::*;

/// A v2 response page (`data` array) or stream line / lookup (`data` object).
pub(super) fn parse_v2(doc: &Doc<'_>, data: &RawValue, opts: &ParseOptions, out: &mut Vec<Parsed>) {
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
        if let Some(id) = u.id.and_then(raw_id) {
            exp.users.insert(id, u);
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

/// v2 compliance events: `{"id":…,"action":"delete","created_at":…}`.
pub(super) fn compliance(doc: &Doc<'_>, action: &str) -> Parsed {
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
