use super::*;

/// An `update` payload shaped as the Status entity documentation shows it.
const UPDATE: &str = r##"{"id":"103270115826048975","created_at":"2019-12-08T03:48:33.901Z","in_reply_to_id":null,"sensitive":false,"spoiler_text":"","visibility":"public","language":"en","uri":"https://mastodon.social/users/Gargron/statuses/103270115826048975","url":"https://mastodon.social/@Gargron/103270115826048975","content":"<p><span class=\"h-card\"><a href=\"https://mastodon.social/@acme\" class=\"u-url mention\">@<span>acme</span></a></span> refund &amp; apology please <a href=\"https://mastodon.social/tags/acmefail\" class=\"mention hashtag\" rel=\"tag\">#<span>acmefail</span></a></p><p>second&#39;s line</p>","account":{"id":"1","username":"Gargron","acct":"Gargron"},"mentions":[{"id":"2","username":"acme","url":"https://mastodon.social/@acme","acct":"acme"},{"id":"3","username":"bob","url":"https://other.example/@bob","acct":"bob@other.example"}],"tags":[{"name":"acmefail","url":"https://mastodon.social/tags/acmefail"}],"reblog":null}"##;

fn ev(event: &str, data: &str) -> SseEvent {
    SseEvent {
        event: event.into(),
        data: data.into(),
    }
}

#[test]
fn an_update_becomes_a_post_with_qualified_handles() {
    let Decoded::Record(IngestRecord::Post(p)) =
        decode(&ev("update", UPDATE), "mastodon.social", "mastodon", 1)
    else {
        panic!("not a post");
    };
    assert_eq!(p.id, "103270115826048975");
    assert_eq!(p.event_ms, 1_575_776_913_901);
    assert_eq!(
        p.text,
        "@acme refund & apology please #acmefail\nsecond's line"
    );
    assert_eq!(p.lang_hint.as_deref(), Some("en"));
    assert_eq!(p.author.as_deref(), Some("Gargron@mastodon.social"));
    assert_eq!(p.mentions, ["acme@mastodon.social", "bob@other.example"]);
    assert_eq!(p.hashtags, ["acmefail"]);
    assert!(!p.retweet);
}

#[test]
fn a_boost_counts_as_a_retweet_with_the_boosted_text() {
    let boost = format!(
        r#"{{"id":"9","created_at":"2019-12-08T04:00:00Z","content":"","account":{{"acct":"carol"}},"reblog":{UPDATE}}}"#
    );
    let Decoded::Record(IngestRecord::Post(p)) =
        decode(&ev("update", &boost), "mastodon.social", "m", 1)
    else {
        panic!("not a post");
    };
    assert!(p.retweet);
    assert_eq!(p.id, "9");
    assert!(p.text.starts_with("@acme refund"));
    assert_eq!(p.author.as_deref(), Some("carol@mastodon.social"));
}

#[test]
fn deletes_other_events_and_bad_payloads() {
    assert_eq!(
        decode(&ev("delete", "103270115826048975"), "h", "m", 1),
        Decoded::Record(IngestRecord::Delete {
            v: RECORD_VERSION,
            id: "103270115826048975".into(),
            at_ms: None
        })
    );
    assert_eq!(
        decode(&ev("notification", "{}"), "h", "m", 1),
        Decoded::Skip
    );
    for (data, reason) in [
        ("{not json", "invalid_json"),
        (
            r#"{"id":"1","created_at":"yesterday","account":{"acct":"a"}}"#,
            "invalid_created_at",
        ),
    ] {
        match decode(&ev("update", data), "h", "mastodon", 4) {
            Decoded::Dead(d) => assert_eq!((d.reason.as_str(), d.offset), (reason, 4)),
            other => panic!("{data}: {other:?}"),
        }
    }
    assert!(matches!(
        decode(&ev("delete", ""), "h", "m", 1),
        Decoded::Dead(_)
    ));
}

#[test]
fn html_entities_and_stray_ampersands() {
    assert_eq!(
        html_to_text("a &amp b &#x1F600; &lt;3 &bogus;"),
        "a &amp b 😀 <3 &bogus;"
    );
    assert_eq!(html_to_text("<p>x</p><p>y<br>z</p>"), "x\ny\nz");
}

#[test]
fn a_reply_names_its_parent() {
    let Decoded::Record(IngestRecord::Post(p)) =
        decode(&ev("update", UPDATE), "mastodon.social", "mastodon", 1)
    else {
        panic!("not a post");
    };
    assert_eq!(p.reply_to, None);
    let reply = UPDATE.replace(
        r#""in_reply_to_id":null"#,
        r#""in_reply_to_id":"103270115826040000""#,
    );
    let Decoded::Record(IngestRecord::Post(p)) =
        decode(&ev("update", &reply), "mastodon.social", "mastodon", 1)
    else {
        panic!("not a post");
    };
    assert_eq!(p.reply_to.as_deref(), Some("103270115826040000"));
}

#[test]
fn a_reply_names_its_parent_author_through_the_mentions_and_the_reach() {
    let reply = UPDATE
        .replace(
            r#""in_reply_to_id":null"#,
            r#""in_reply_to_id":"103270000000000000","in_reply_to_account_id":"2""#,
        )
        .replace(
            r#""acct":"Gargron"}"#,
            r#""acct":"Gargron","followers_count":318}"#,
        );
    let Decoded::Record(IngestRecord::Post(p)) =
        decode(&ev("update", &reply), "mastodon.social", "m", 1)
    else {
        panic!("not a post");
    };
    assert_eq!(p.reply_to.as_deref(), Some("103270000000000000"));
    assert_eq!(p.reply_to_author.as_deref(), Some("acme@mastodon.social"));
    assert_eq!(p.followers, Some(318));
    // A reply to the author's own status (a thread) names the author.
    let own = reply.replace(
        r#""in_reply_to_account_id":"2""#,
        r#""in_reply_to_account_id":"1""#,
    );
    let Decoded::Record(IngestRecord::Post(p)) =
        decode(&ev("update", &own), "mastodon.social", "m", 1)
    else {
        panic!("not a post");
    };
    assert_eq!(
        p.reply_to_author.as_deref(),
        Some("Gargron@mastodon.social")
    );
    // An account the status does not mention stays unknown; an odd count is none.
    let unknown = reply
        .replace(
            r#""in_reply_to_account_id":"2""#,
            r#""in_reply_to_account_id":"77""#,
        )
        .replace(r#""followers_count":318"#, r#""followers_count":-1"#);
    let Decoded::Record(IngestRecord::Post(p)) =
        decode(&ev("update", &unknown), "mastodon.social", "m", 1)
    else {
        panic!("not a post");
    };
    assert_eq!((p.reply_to_author, p.followers), (None, None));
    // The documentation's status has no reply and no count.
    let Decoded::Record(IngestRecord::Post(p)) =
        decode(&ev("update", UPDATE), "mastodon.social", "m", 1)
    else {
        panic!("not a post");
    };
    assert_eq!((p.reply_to_author, p.followers), (None, None));
}
