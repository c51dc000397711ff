//! The 2015 airline CSV export through the default column mapping.

mod common;

use std::collections::HashSet;

use canary_core::time::format_rfc3339;
use canary_ingest::{CsvMapping, Format, Options, TimeFormat};
use canary_testkit::shared_data;
use common::read_path;

#[test]
fn tweets_csv_replays_every_row_with_utc_times() {
    let Some(p) = shared_data("airline_2015/Tweets.csv") else {
        return;
    };
    let t = read_path(&p, Options::default());
    assert!(t.dead.is_empty(), "{:?}", t.dead.first());
    assert_eq!(t.posts.len(), 14_640);
    let ids: HashSet<&str> = t.posts.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), 14_485);

    // Read the same file independently with the csv crate and compare rows.
    let mut rdr = csv::Reader::from_path(&p).unwrap();
    let h = rdr.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (id, name, created, text) = (
        col("tweet_id"),
        col("name"),
        col("tweet_created"),
        col("text"),
    );
    let mut n = 0;
    for (rec, post) in rdr.records().zip(&t.posts) {
        let rec = rec.unwrap();
        assert_eq!(post.id, &rec[id]);
        assert_eq!(post.author.as_deref(), Some(&rec[name]));
        // Every row is `YYYY-MM-DD HH:MM:SS -0800`: UTC is eight hours later.
        let local = &rec[created];
        assert!(local.ends_with(" -0800"), "{local}");
        let utc_local = canary_core::time::parse_rfc3339(&local[..19]).unwrap();
        assert_eq!(post.event_ms, utc_local + 8 * 3_600_000, "{local}");
        assert_eq!(
            post.text,
            rec[text]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        );
        n += 1;
    }
    assert_eq!(n, 14_640);

    let first = &t.posts[0];
    assert_eq!(format_rfc3339(first.event_ms), "2015-02-24T19:35:52Z");
    let min = t.posts.iter().map(|p| p.event_ms).min().unwrap();
    let max = t.posts.iter().map(|p| p.event_ms).max().unwrap();
    assert_eq!(format_rfc3339(min), "2015-02-17T07:36:05Z");
    assert_eq!(format_rfc3339(max), "2015-02-24T19:53:37Z");
    assert!(
        t.posts.iter().any(|p| p.text.contains('\n')),
        "multi-line quoted texts stay whole"
    );
}

#[test]
fn explicit_mapping_and_missing_columns() {
    let Some(p) = shared_data("airline_2015/Tweets.csv") else {
        return;
    };
    let mut m = CsvMapping::new("tweet_id", "text", "tweet_created");
    m.handle = Some("airline".into());
    m.time_format = TimeFormat::Rfc3339;
    let t = read_path(
        &p,
        Options {
            format: Format::Csv,
            csv: Some(m),
            ..Options::default()
        },
    );
    assert_eq!(t.posts.len(), 14_640);
    assert_eq!(t.posts[0].author.as_deref(), Some("Virgin America"));

    let t = read_path(
        &p,
        Options {
            csv: Some(CsvMapping::new("tweet_id", "text", "no_such_column")),
            ..Options::default()
        },
    );
    assert_eq!(t.posts.len(), 0);
    assert_eq!(t.dead.len(), 1);
    assert_eq!(t.dead[0].reason, "missing_column");
}

fn csv_file(name: &str, rows: &[String]) -> std::path::PathBuf {
    let d = common::temp_dir(name);
    let p = d.join("t.csv");
    std::fs::write(&p, rows.join("\n") + "\n").unwrap();
    p
}

#[test]
fn a_stray_quote_costs_one_row_not_the_rest_of_the_file() {
    let mut rows = vec!["tweet_id,text,tweet_created".to_owned()];
    rows.push(r#"1,"never closed,2015-02-24 11:35:52 -0800"#.to_owned());
    for i in 2..=1_500 {
        rows.push(format!("{i},row {i},2015-02-24 11:35:52 -0800"));
    }
    // Quoting the csv crate accepts: a multi-line field, a doubled quote, a
    // quote inside an unquoted field.
    rows.push("1501,\"two\nlines \"\"quoted\"\"\",2015-02-24 11:35:52 -0800".to_owned());
    rows.push(r#"1502,a 5" screen,2015-02-24 11:35:52 -0800"#.to_owned());
    rows.push(r#"1503,"ends open"#.to_owned());
    let t = read_path(&csv_file("stray-quote", &rows), Options::default());
    let reasons: Vec<(&str, u64)> = t
        .dead
        .iter()
        .map(|d| (d.reason.as_str(), d.offset))
        .collect();
    // The open quote on line 2 and the one on the last line (open at the end of the file).
    assert_eq!(
        reasons,
        [("unterminated_quote", 2), ("unterminated_quote", 1505)]
    );
    assert_eq!(t.dead[0].raw, rows[1]);
    assert_eq!(t.posts.len(), 1_501);
    assert_eq!(t.posts[0].id, "2");
    assert_eq!(t.posts[1_499].text, "two\nlines \"quoted\"");
    assert_eq!(t.posts[1_500].text, "a 5\" screen");
}

#[test]
fn a_quoted_field_may_span_lines_up_to_the_bound() {
    let body: Vec<String> = (0..5).map(|i| format!("line {i}")).collect();
    let rows = vec![
        "tweet_id,text,tweet_created".to_owned(),
        format!("1,\"{}\",2015-02-24 11:35:52 -0800", body.join("\n")),
        "2,after,2015-02-24 11:35:52 -0800".to_owned(),
    ];
    let p = csv_file("span", &rows);
    let t = read_path(&p, Options::default());
    assert!(t.dead.is_empty(), "{:?}", t.dead);
    assert_eq!(t.posts[0].text, body.join("\n"));
    // With a bound of 3 lines the same field is cut, and every line after
    // the first is read again as a row of its own: `line 1`..`line 4"…` are
    // not rows with three columns, the last one is.
    let t = read_path(
        &p,
        Options {
            csv_max_record_lines: 3,
            ..Options::default()
        },
    );
    assert_eq!(t.dead[0].reason, "unterminated_quote");
    assert_eq!(t.dead[0].offset, 2);
    assert_eq!(t.posts.last().map(|p| p.id.as_str()), Some("2"));
}
