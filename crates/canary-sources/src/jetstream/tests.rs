use super::*;

/// A create event as the Jetstream README shows it, with a mention, a tag
/// and a link facet.
const CREATE: &str = r#"{"did":"did:plc:eygmaihciaxprqvxpfvl6flk","time_us":1725911162329308,"kind":"commit","commit":{"rev":"3l3qo2vutsw2b","operation":"create","collection":"app.bsky.feed.post","rkey":"3l3qo2vuowo2b","record":{"$type":"app.bsky.feed.post","createdAt":"2024-09-09T19:46:02.102Z","langs":["en"],"text":"@acme.bsky.social refund please #acmefail https://x.y","facets":[{"index":{"byteStart":0,"byteEnd":17},"features":[{"$type":"app.bsky.richtext.facet#mention","did":"did:plc:acme"}]},{"index":{"byteStart":32,"byteEnd":41},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"acmefail"}]},{"index":{"byteStart":42,"byteEnd":53},"features":[{"$type":"app.bsky.richtext.facet#link","uri":"https://x.y"}]}]},"cid":"bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi"}}"#;

const DELETE: &str = r#"{"did":"did:plc:eygmaihciaxprqvxpfvl6flk","time_us":1725911162999999,"kind":"commit","commit":{"rev":"3l3qo2vutsw2c","operation":"delete","collection":"app.bsky.feed.post","rkey":"3l3qo2vuowo2b"}}"#;

const IDENTITY: &str = r#"{"did":"did:plc:ufbl4k27gp6kzas5glhz7fim","time_us":1725516665234703,"kind":"identity","identity":{"did":"did:plc:ufbl4k27gp6kzas5glhz7fim","handle":"yohenrique.bsky.social","seq":1409752997,"time":"2024-09-05T06:11:04.870Z"}}"#;

#[test]
fn a_create_becomes_a_post_with_handle_mentions_tags_and_hint() {
    let Decoded::Record(IngestRecord::Post(p), t) = decode(CREATE.as_bytes(), "jetstream", 1)
    else {
        panic!("not a post");
    };
    assert_eq!(t, 1_725_911_162_329_308);
    assert_eq!(
        p.id,
        "at://did:plc:eygmaihciaxprqvxpfvl6flk/app.bsky.feed.post/3l3qo2vuowo2b"
    );
    assert_eq!(
        p.author.as_deref(),
        Some("did:plc:eygmaihciaxprqvxpfvl6flk")
    );
    assert_eq!(p.lang_hint.as_deref(), Some("en"));
    assert_eq!(p.mentions, ["acme.bsky.social"]);
    assert_eq!(p.hashtags, ["acmefail"]);
    assert_eq!(p.event_ms, 1_725_911_162_102);
    assert!(p.text.starts_with("@acme.bsky.social refund"));
}

#[test]
fn created_at_is_bounded_by_time_us() {
    let future = CREATE.replace("2024-09-09T19:46:02.102Z", "2030-01-01T00:00:00Z");
    let old = CREATE.replace("2024-09-09T19:46:02.102Z", "2001-01-01T00:00:00Z");
    let missing = CREATE.replace(r#""createdAt":"2024-09-09T19:46:02.102Z","#, "");
    let t_ms = 1_725_911_162_329;
    for (frame, want) in [
        (future, t_ms),
        (old, t_ms - MAX_BACKDATE_MS),
        (missing, t_ms),
    ] {
        let Decoded::Record(IngestRecord::Post(p), _) = decode(frame.as_bytes(), "j", 1) else {
            panic!("not a post: {frame}");
        };
        assert_eq!(p.event_ms, want, "{frame}");
    }
}

#[test]
fn a_delete_names_the_same_id_as_its_create() {
    let Decoded::Record(IngestRecord::Delete { id, .. }, _) = decode(DELETE.as_bytes(), "j", 2)
    else {
        panic!("not a delete");
    };
    let Decoded::Record(IngestRecord::Post(p), _) = decode(CREATE.as_bytes(), "j", 1) else {
        panic!("not a post");
    };
    assert_eq!(id, p.id);
}

#[test]
fn other_kinds_are_skipped_and_bad_frames_dead_lettered() {
    assert_eq!(
        decode(IDENTITY.as_bytes(), "j", 1),
        Decoded::Skip(Some(1_725_516_665_234_703))
    );
    for (frame, reason) in [
        ("{not json".to_owned(), "invalid_json"),
        (r#"{"did":"d","time_us":1,"kind":"commit"}"#.to_owned(), "missing_commit"),
        (
            CREATE.replace(r#""text":"#, r#""txt":"#),
            "invalid_json",
        ),
        (
            r#"{"did":"d","time_us":1,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","rkey":"r"}}"#.to_owned(),
            "missing_record",
        ),
    ] {
        match decode(frame.as_bytes(), "jetstream", 7) {
            Decoded::Dead(d) => {
                assert_eq!((d.reason.as_str(), d.offset, d.stage.as_str()), (reason, 7, STAGE));
                assert_eq!(d.raw, frame);
            }
            other => panic!("{frame}: {other:?}"),
        }
    }
}

#[test]
fn a_resume_replays_the_overlap_once_and_nothing_is_lost() {
    let mut r = Resume::new(3_000_000);
    assert_eq!(r.cursor(), None);
    let first: Vec<(i64, String)> = (0..10).map(|i| (i * 1_000_000, format!("p{i}"))).collect();
    for (t, id) in &first {
        assert!(r.admit(*t, Some(id)));
    }
    // The server replays from the cursor: 6 s on, the last 4 are repeats.
    assert_eq!(r.cursor(), Some(6_000_000));
    let replay: Vec<(i64, String)> = (6..14).map(|i| (i * 1_000_000, format!("p{i}"))).collect();
    let passed: Vec<&str> = replay
        .iter()
        .filter(|(t, id)| r.admit(*t, Some(id)))
        .map(|(_, id)| id.as_str())
        .collect();
    assert_eq!(passed, ["p10", "p11", "p12", "p13"]);
}

#[test]
fn resume_memory_stays_bounded() {
    let mut r = Resume::new(1_000);
    for i in 0..100_000i64 {
        r.admit(i * 100, Some(&format!("p{i}")));
    }
    assert!(r.seen.len() <= 21, "{}", r.seen.len());
}

#[test]
fn a_reply_names_its_parent_and_root() {
    assert!(matches!(
        decode(CREATE.as_bytes(), "jetstream", 1),
        Decoded::Record(IngestRecord::Post(ref p), _) if p.reply_to.is_none() && p.conversation.is_none()
    ));
    let reply = CREATE.replace(
        r#""langs":["en"],"#,
        r#""langs":["en"],"reply":{"parent":{"cid":"bafyp","uri":"at://did:plc:acme/app.bsky.feed.post/3parent"},"root":{"cid":"bafyr","uri":"at://did:plc:cust/app.bsky.feed.post/3root"}},"#,
    );
    let Decoded::Record(IngestRecord::Post(p), _) = decode(reply.as_bytes(), "jetstream", 1) else {
        panic!("not a post");
    };
    assert_eq!(
        p.reply_to.as_deref(),
        Some("at://did:plc:acme/app.bsky.feed.post/3parent")
    );
    assert_eq!(
        p.conversation.as_deref(),
        Some("at://did:plc:cust/app.bsky.feed.post/3root")
    );
    // The parent's author is the DID its URI names; Jetstream gives no reach.
    assert_eq!(p.reply_to_author.as_deref(), Some("did:plc:acme"));
    assert_eq!(p.followers, None);
    let odd = reply.replace("at://did:plc:acme/", "https://example.com/");
    let Decoded::Record(IngestRecord::Post(p), _) = decode(odd.as_bytes(), "jetstream", 1) else {
        panic!("not a post");
    };
    assert_eq!(p.reply_to_author, None);
}
