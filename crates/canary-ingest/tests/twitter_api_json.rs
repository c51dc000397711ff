//! Every file of the shared Twitter API samples, read through the reader.
//!
//! Expected counts come from inspecting each file (and SOURCE.md beside
//! them); texts and ids of v1.1 statuses are also checked against an
//! independent reading of the same lines through `serde_json::Value`.

mod common;

use std::path::Path;

use canary_core::time::{format_rfc3339, parse_rfc3339};
use canary_ingest::{Item, NoticeKind, Options, Reader};
use canary_testkit::shared_data;
use common::{Tally, read_path};
use serde_json::Value;

/// One file's expected tally.
struct Expect {
    file: &'static str,
    posts: usize,
    retweets: usize,
    deletes: usize,
    notices: &'static [(NoticeKind, usize)],
    dead: &'static [(&'static str, usize)],
}

const fn e(file: &'static str, posts: usize, retweets: usize) -> Expect {
    Expect {
        file,
        posts,
        retweets,
        deletes: 0,
        notices: &[],
        dead: &[],
    }
}

const EXPECTED: &[Expect] = &[
    e(
        "v1_1/python-twitter_extended_tweet_in_compat_mode.json",
        1,
        0,
    ),
    e(
        "v1_1/python-twitter_extended_tweet_in_extended_mode.json",
        1,
        0,
    ),
    e("v1_1/python-twitter_streaming_extended_tweet.json", 1, 0),
    e("v1_1/python-twitter_streaming_lines_2018.jsonl", 72, 0),
    e("v1_1/simdjson_twitter_search.json", 100, 73),
    e("v1_1/tweepy_search_tweets_2019.json", 15, 6),
    e("v1_1/tweet_parser_activity_streams_examples.jsonl", 25, 3),
    e("v1_1/tweet_parser_original_format_examples.jsonl", 25, 3),
    e("v1_1/tweet_parser_public_api_sample.jsonl", 20, 3),
    e("v1_1/twitter-ruby_premium_search_emoji.json", 100, 51),
    e("v1_1/twitter-ruby_search.json", 3, 1),
    Expect {
        notices: &[
            (NoticeKind::Friends, 1),
            (NoticeKind::DirectMessage, 1),
            (NoticeKind::Event, 1),
            (NoticeKind::Warning, 1),
        ],
        deletes: 1,
        ..e("v1_1/twitter-ruby_track_streaming_user.jsonl", 1, 0)
    },
    Expect {
        notices: &[(NoticeKind::Warning, 1)],
        ..e("v1_1/twitter4j_stallwarning.json", 0, 0)
    },
    Expect {
        notices: &[(NoticeKind::Limit, 1), (NoticeKind::ScrubGeo, 1)],
        deletes: 1,
        ..e("v1_1/twitter4j_streamingapi-testcase_2009.jsonl", 3, 0)
    },
    e("v2/twarc-csv_2sets.jsonl", 200, 145),
    Expect {
        notices: &[(NoticeKind::Envelope, 1)],
        ..e("v2/twarc-csv_counts.jsonl", 0, 0)
    },
    e("v2/twarc-csv_edited_after.jsonl", 1, 0),
    e("v2/twarc-csv_edited_before.jsonl", 1, 0),
    e("v2/twarc-csv_flat.jsonl", 100, 47),
    e("v2/twarc-csv_geo_tweets.jsonl", 2, 0),
    e("v2/twarc-csv_media_policy_violation_off.jsonl", 100, 42),
    e("v2/twarc-csv_quoted_edit.jsonl", 1, 0),
    Expect {
        dead: &[("truncated_json", 1)],
        ..e("v2/twarc-csv_streaming_output_with_error.jsonl", 7, 0)
    },
    Expect {
        notices: &[(NoticeKind::KeepAlive, 1)],
        deletes: 2,
        ..e("v2/twarc-csv_tweets_compliance.jsonl", 0, 0)
    },
    e("v2/twarc-csv_two_tweets.jsonl", 1, 1),
    e("v2/twarc-csv_withheld.jsonl", 215, 83),
    Expect {
        dead: &[("missing_created_at", 226)],
        ..e("v2/tweepy_cassettes_v2_responses.jsonl", 0, 0)
    },
];

#[test]
fn every_sample_file_gives_its_expected_records() {
    let Some(root) = shared_data("twitter_api_json") else {
        return;
    };
    let mut seen = Vec::new();
    for dir in ["v1_1", "v2"] {
        for f in std::fs::read_dir(root.join(dir)).unwrap() {
            seen.push(format!(
                "{dir}/{}",
                f.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    seen.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|x| x.file.to_owned()).collect();
    listed.sort();
    assert_eq!(seen, listed, "every sample file has an expectation");

    for x in EXPECTED {
        let t = read_path(&root.join(x.file), Options::default());
        let f = x.file;
        assert_eq!(t.posts.len(), x.posts, "{f}: posts");
        assert_eq!(t.retweets(), x.retweets, "{f}: retweets");
        assert_eq!(t.deletes.len(), x.deletes, "{f}: deletes");
        let notices: Vec<(NoticeKind, usize)> = t.notices.iter().map(|(k, v)| (*k, *v)).collect();
        let mut want = x.notices.to_vec();
        want.sort();
        assert_eq!(notices, want, "{f}: notices");
        let dead: Vec<(String, usize)> = t.reasons().into_iter().collect();
        let want: Vec<(String, usize)> = x.dead.iter().map(|(r, n)| (r.to_string(), *n)).collect();
        assert_eq!(dead, want, "{f}: dead letters {:?}", t.dead.first());
        for p in &t.posts {
            assert!(
                !p.id.is_empty() && p.id.bytes().all(|b| b.is_ascii_digit()),
                "{f}: id {:?}",
                p.id
            );
            assert!(!p.text.contains("&amp;"), "{f}: text is unescaped");
            assert!(
                p.event_ms > parse_rfc3339("2006-03-21T00:00:00Z").unwrap(),
                "{f}"
            );
        }
    }
}

fn times(t: &Tally) -> (String, String) {
    let min = t.posts.iter().map(|p| p.event_ms).min().unwrap();
    let max = t.posts.iter().map(|p| p.event_ms).max().unwrap();
    (format_rfc3339(min), format_rfc3339(max))
}

#[test]
fn event_times_match_the_documented_ranges() {
    let cases = [
        (
            "v1_1/python-twitter_streaming_lines_2018.jsonl",
            "2018-03-10T14:03:15",
            "2018-03-10T14:03:47",
        ),
        (
            "v1_1/twitter-ruby_premium_search_emoji.json",
            "2017-11-19T23:12",
            "2017-11-19T23:15",
        ),
        (
            "v1_1/simdjson_twitter_search.json",
            "2014-08-31T00:28",
            "2014-08-31T00:29",
        ),
        ("v2/twarc-csv_2sets.jsonl", "2021-09-22", "2021-09-22"),
        ("v2/twarc-csv_flat.jsonl", "2021-04-08", "2021-04-08"),
    ];
    for (file, lo, hi) in cases {
        let Some(p) = shared_data(&format!("twitter_api_json/{file}")) else {
            return;
        };
        let (min, max) = times(&read_path(&p, Options::default()));
        assert!(min.starts_with(lo), "{file}: earliest {min}, want {lo}");
        assert!(max.starts_with(hi), "{file}: latest {max}, want {hi}");
    }
}

/// The text a v1.1 status shows in full, read independently through `Value`.
fn value_text(v: &Value) -> String {
    if let Some(rt) = v.get("retweeted_status").filter(|r| r.is_object()) {
        return value_text(rt);
    }
    let t = v
        .pointer("/extended_tweet/full_text")
        .or_else(|| v.get("full_text"))
        .or_else(|| v.get("text"))
        .and_then(Value::as_str)
        .unwrap();
    t.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn value_statuses(p: &Path) -> Vec<Value> {
    let s = std::fs::read_to_string(p).unwrap();
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_str(&s).into_iter::<Value>() {
        let v = v.unwrap();
        match v.get("statuses").or_else(|| v.get("results")) {
            Some(Value::Array(a)) => out.extend(a.iter().cloned()),
            _ => out.push(v),
        }
    }
    out.retain(|v| v.get("text").is_some() || v.get("full_text").is_some());
    out
}

#[test]
fn v1_texts_and_ids_agree_with_an_independent_reading() {
    for file in [
        "v1_1/python-twitter_streaming_lines_2018.jsonl",
        "v1_1/python-twitter_extended_tweet_in_compat_mode.json",
        "v1_1/python-twitter_extended_tweet_in_extended_mode.json",
        "v1_1/simdjson_twitter_search.json",
        "v1_1/tweepy_search_tweets_2019.json",
        "v1_1/tweet_parser_original_format_examples.jsonl",
        "v1_1/twitter-ruby_premium_search_emoji.json",
    ] {
        let Some(p) = shared_data(&format!("twitter_api_json/{file}")) else {
            return;
        };
        let t = read_path(&p, Options::default());
        let vals = value_statuses(&p);
        assert_eq!(t.posts.len(), vals.len(), "{file}");
        for (post, v) in t.posts.iter().zip(&vals) {
            assert_eq!(post.id, v["id_str"].as_str().unwrap(), "{file}");
            assert_eq!(post.text, value_text(v), "{file}: {}", post.id);
            assert_eq!(
                post.author.as_deref(),
                v.pointer("/user/screen_name").and_then(Value::as_str),
                "{file}"
            );
        }
    }
}

#[test]
fn truncated_statuses_take_the_extended_text_and_entities() {
    let Some(p) = shared_data("twitter_api_json/v1_1/python-twitter_streaming_extended_tweet.json")
    else {
        return;
    };
    let t = read_path(&p, Options::default());
    let raw: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert_eq!(raw["truncated"], Value::Bool(true));
    let full = raw
        .pointer("/extended_tweet/full_text")
        .and_then(Value::as_str)
        .unwrap();
    assert_ne!(raw["text"].as_str().unwrap(), full);
    assert_eq!(t.posts[0].text, full.replace("&amp;", "&"));
    let tags: Vec<&str> = raw
        .pointer("/extended_tweet/entities/hashtags")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|h| h["text"].as_str().unwrap())
        .collect();
    assert_eq!(t.posts[0].hashtags, tags);

    // REST compat mode has no extended text to take: the cut text stays, while
    // extended mode of the same tweet gives the whole `full_text`.
    let (Some(c), Some(x)) = (
        shared_data("twitter_api_json/v1_1/python-twitter_extended_tweet_in_compat_mode.json"),
        shared_data("twitter_api_json/v1_1/python-twitter_extended_tweet_in_extended_mode.json"),
    ) else {
        return;
    };
    let (c, x) = (
        read_path(&c, Options::default()),
        read_path(&x, Options::default()),
    );
    assert_eq!(c.posts[0].id, x.posts[0].id);
    assert!(c.posts[0].text.contains('…'));
    assert!(!x.posts[0].text.contains('…'));
}

#[test]
fn streaming_lines_languages_and_millisecond_times() {
    let Some(p) = shared_data("twitter_api_json/v1_1/python-twitter_streaming_lines_2018.jsonl")
    else {
        return;
    };
    let t = read_path(&p, Options::default());
    let en = t
        .posts
        .iter()
        .filter(|p| p.lang_hint.as_deref() == Some("en"))
        .count();
    let ja = t
        .posts
        .iter()
        .filter(|p| p.lang_hint.as_deref() == Some("ja"))
        .count();
    assert_eq!((en, ja), (36, 6), "SOURCE.md: en 36, ja 6");
    // timestamp_ms agrees with created_at to the second in this file, so times carry ms.
    let lines = std::fs::read_to_string(&p).unwrap();
    for (post, line) in t.posts.iter().zip(lines.lines()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let ts: i64 = v["timestamp_ms"].as_str().unwrap().parse().unwrap();
        assert_eq!(post.event_ms, ts);
    }
    assert!(t.posts.iter().any(|p| p.event_ms % 1000 != 0));
}

#[test]
fn old_stream_lines_without_id_str_or_lang() {
    let Some(p) = shared_data("twitter_api_json/v1_1/twitter4j_streamingapi-testcase_2009.jsonl")
    else {
        return;
    };
    let t = read_path(&p, Options::default());
    let s = std::fs::read_to_string(&p).unwrap();
    let first: Value = serde_json::from_str(s.lines().next().unwrap()).unwrap();
    let del_id = first.pointer("/delete/status/id").unwrap().to_string();
    assert_eq!(t.deletes, vec![(del_id, None)]);
    for (post, line) in t
        .posts
        .iter()
        .zip(s.lines().filter(|l| l.contains("\"text\"")))
    {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(post.id, v["id"].to_string(), "numeric id taken verbatim");
        assert_eq!(post.lang_hint, None);
        assert!(format_rfc3339(post.event_ms).starts_with("2009-"));
    }
}

#[test]
fn v2_pages_resolve_authors_and_retweet_texts() {
    let Some(p) = shared_data("twitter_api_json/v2/twarc-csv_2sets.jsonl") else {
        return;
    };
    let t = read_path(&p, Options::default());
    assert!(
        t.posts.iter().all(|p| p.author.is_some()),
        "authors from includes.users"
    );
    let s = std::fs::read_to_string(&p).unwrap();
    let mut full = std::collections::HashMap::new();
    for line in s.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        for tw in v
            .pointer("/includes/tweets")
            .and_then(Value::as_array)
            .unwrap()
        {
            full.insert(
                tw["id"].as_str().unwrap().to_owned(),
                tw["text"].as_str().unwrap().to_owned(),
            );
        }
        for tw in v["data"].as_array().unwrap() {
            let rt = tw["referenced_tweets"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["type"] == "retweeted"));
            let post = t
                .posts
                .iter()
                .find(|p| p.id == tw["id"].as_str().unwrap())
                .unwrap();
            let want = match rt {
                Some(r) => full[r["id"].as_str().unwrap()].clone(),
                None => tw["text"].as_str().unwrap().to_owned(),
            };
            assert_eq!(
                post.text,
                want.replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
            );
            assert_eq!(post.lang_hint.as_deref(), tw["lang"].as_str());
        }
    }
}

#[test]
fn flattened_and_streamed_v2_lines() {
    let Some(p) = shared_data("twitter_api_json/v2/twarc-csv_flat.jsonl") else {
        return;
    };
    let t = read_path(&p, Options::default());
    let s = std::fs::read_to_string(&p).unwrap();
    for (post, line) in t.posts.iter().zip(s.lines()) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            post.author.as_deref(),
            v.pointer("/author/username").and_then(Value::as_str)
        );
        if post.retweet {
            assert!(
                !post.text.starts_with("RT @"),
                "flattened retweets carry the full text"
            );
        }
    }
    let Some(p) = shared_data("twitter_api_json/v2/twarc-csv_streaming_output_with_error.jsonl")
    else {
        return;
    };
    let items: Vec<Item> = Reader::open_path(&p, Options::default()).unwrap().collect();
    let Some(Item::DeadLetter(d)) = items.last() else {
        panic!("last item {:?}", items.last())
    };
    assert_eq!((d.reason.as_str(), d.offset), ("truncated_json", 8));
    assert!(d.raw.starts_with("{\"data\""), "raw line kept");
}

#[test]
fn compliance_deletes_and_default_field_responses() {
    let Some(p) = shared_data("twitter_api_json/v2/twarc-csv_tweets_compliance.jsonl") else {
        return;
    };
    let t = read_path(&p, Options::default());
    let s = std::fs::read_to_string(&p).unwrap();
    let want: Vec<(String, Option<i64>)> = s
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_owned(),
                parse_rfc3339(v["created_at"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(t.deletes, want);

    let Some(p) = shared_data("twitter_api_json/v2/tweepy_cassettes_v2_responses.jsonl") else {
        return;
    };
    let opts = Options {
        assume_time: Some(1_665_000_000_000),
        ..Options::default()
    };
    let t = read_path(&p, opts);
    assert_eq!((t.posts.len(), t.dead.len()), (226, 0));
    assert!(t.posts.iter().all(|p| p.event_ms == 1_665_000_000_000));
}

#[test]
fn v1_replies_name_their_parent_and_its_author() {
    let Some(p) = shared_data("twitter_api_json/v1_1/python-twitter_streaming_lines_2018.jsonl")
    else {
        return;
    };
    let t = read_path(&p, Options::default());
    let lines = std::fs::read_to_string(&p).unwrap();
    let mut replies = 0;
    for (post, line) in t.posts.iter().zip(lines.lines()) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(post.id, v["id_str"].as_str().unwrap());
        let parent = v["in_reply_to_status_id_str"].as_str();
        assert_eq!(post.reply_to.as_deref(), parent, "{}", post.id);
        assert_eq!(
            post.reply_to_author.as_deref(),
            v["in_reply_to_screen_name"].as_str()
        );
        replies += usize::from(parent.is_some());
        assert_eq!(post.followers, v["user"]["followers_count"].as_u64());
        assert!(post.followers.is_some());
        // v1.1 gives no thread id: only the parent.
        assert_eq!(post.conversation, None);
    }
    assert!(replies > 0, "the sample holds replies");
    // The same through the serde path.
    let strict = read_path(
        &p,
        Options {
            strict_json: true,
            ..Default::default()
        },
    );
    assert_eq!(strict.posts, t.posts);
}

#[test]
fn v2_replies_name_their_parent_and_thread() {
    let Some(p) = shared_data("twitter_api_json/v2/twarc-csv_flat.jsonl") else {
        return;
    };
    let t = read_path(&p, Options::default());
    let lines = std::fs::read_to_string(&p).unwrap();
    let mut by_id = std::collections::HashMap::new();
    for line in lines.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if let Some(id) = v["id"].as_str() {
            by_id.insert(id.to_owned(), v);
        }
    }
    let mut replies = 0;
    for post in &t.posts {
        let Some(v) = by_id.get(&post.id) else {
            continue;
        };
        let parent = v["referenced_tweets"].as_array().and_then(|r| {
            r.iter()
                .find(|x| x["type"] == "replied_to")
                .and_then(|x| x["id"].as_str())
        });
        assert_eq!(post.reply_to.as_deref(), parent, "{}", post.id);
        assert_eq!(post.conversation.as_deref(), v["conversation_id"].as_str());
        replies += usize::from(parent.is_some());
    }
    assert!(replies > 0, "the sample holds replies");
}

/// The parent author and reach every v2 post should carry, read
/// independently through `serde_json::Value`: a page's `includes` resolve
/// the replied-to tweet's `author_id`, else `in_reply_to_user_id`, and the
/// author's `public_metrics.followers_count`; twarc's flattened form
/// inlines `author` and `in_reply_to_user`.
fn v2_expectations(line: &str) -> Vec<(String, Option<String>, Option<u64>)> {
    let Ok(d) = serde_json::from_str::<Value>(line) else {
        return Vec::new();
    };
    let (data, flat) = match &d["data"] {
        Value::Array(a) => (a.clone(), false),
        o @ Value::Object(_) => (vec![o.clone()], false),
        _ if d["text"].is_string() => (vec![d.clone()], true),
        _ => return Vec::new(),
    };
    let by_id = |list: &Value| -> std::collections::HashMap<String, Value> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| Some((x["id"].as_str()?.to_owned(), x.clone())))
            .collect()
    };
    let users = by_id(&d["includes"]["users"]);
    let tweets = by_id(&d["includes"]["tweets"]);
    let username = |id: &Value| {
        users
            .get(id.as_str()?)
            .and_then(|u| u["username"].as_str())
            .map(str::to_owned)
    };
    let mut out = Vec::new();
    for t in data.iter().filter(|t| t["text"].is_string()) {
        let replied = t["referenced_tweets"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["type"] == "replied_to"));
        let parent = replied
            .and_then(|r| {
                r["author"]["username"]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| username(&r["author_id"]))
                    .or_else(|| username(&tweets.get(r["id"].as_str()?)?["author_id"]))
            })
            .or_else(|| {
                t["in_reply_to_user"]["username"]
                    .as_str()
                    .map(str::to_owned)
            })
            .or_else(|| username(&t["in_reply_to_user_id"]));
        let author = if flat {
            t["author"].clone()
        } else {
            t["author_id"]
                .as_str()
                .and_then(|a| users.get(a).cloned())
                .unwrap_or(Value::Null)
        };
        let followers = author["public_metrics"]["followers_count"].as_u64();
        out.push((t["id"].as_str().unwrap().to_owned(), parent, followers));
    }
    out
}

#[test]
fn v2_replies_name_their_parent_author_and_posts_their_reach() {
    let Some(dir) = shared_data("twitter_api_json/v2") else {
        return;
    };
    let opts = Options {
        assume_time: Some(1_665_000_000_000),
        ..Options::default()
    };
    let (mut posts, mut parents, mut reach) = (0, 0, 0);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    for path in files {
        let t = read_path(&path, opts.clone());
        let want: Vec<_> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .flat_map(v2_expectations)
            .collect();
        let got: Vec<_> = t
            .posts
            .iter()
            .map(|p| (p.id.clone(), p.reply_to_author.clone(), p.followers))
            .collect();
        assert_eq!(got, want, "{}", path.display());
        posts += got.len();
        parents += got.iter().filter(|g| g.1.is_some()).count();
        reach += got.iter().filter(|g| g.2.is_some()).count();
        // The serde path alone reads the same.
        let strict = read_path(
            &path,
            Options {
                strict_json: true,
                ..opts.clone()
            },
        );
        assert_eq!(strict.posts, t.posts, "{}", path.display());
    }
    // From inspecting the files: 114 replies, 111 of them with the parent's
    // author in the payload, and 6 more posts opening with a mention that v2
    // marks with `in_reply_to_user_id`; 622 posts with their author's
    // follower count. The shared files hold 854 posts.
    assert_eq!((posts, parents, reach), (854, 117, 622));
}

#[test]
fn v1_lines_read_the_same_reach_and_parent_on_both_paths() {
    // A v1.1 `user` gives its reach in `followers_count` only; a stray
    // `public_metrics` there is not read by either path.
    let line = r#"{"created_at":"Sat Mar 10 14:03:15 +0000 2018","id_str":"2","text":"@acmehelp hi","in_reply_to_status_id_str":"1","in_reply_to_user_id":42,"in_reply_to_screen_name":"AcmeHelp","user":{"screen_name":"u","public_metrics":{"followers_count":9}}}"#;
    let read = |strict_json| {
        let t = Tally::from_items(Reader::from_reader(
            "line",
            std::io::Cursor::new(line.as_bytes().to_vec()),
            Options {
                strict_json,
                ..Options::default()
            },
        ));
        t.posts
    };
    let (fast, strict) = (read(false), read(true));
    assert_eq!(fast, strict);
    assert_eq!(fast[0].reply_to_author.as_deref(), Some("AcmeHelp"));
    assert_eq!(fast[0].followers, None);
}
