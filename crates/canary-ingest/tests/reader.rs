//! The reader: compression, archives, directories, globs, long lines,
//! bad inputs and progress.

mod common;

use std::fs;
use std::io::{Cursor, Write};
use std::path::Path;

use canary_ingest::{IngestRecord, Item, NoticeKind, Options, Reader, Source};
use canary_testkit::shared_data;
use common::{Tally, read_path, temp_dir};

fn status_line(id: &str, text: &str) -> String {
    format!(
        r#"{{"created_at":"Sat Mar 10 14:03:15 +0000 2018","id_str":"{id}","text":"{text}","user":{{"screen_name":"u{id}"}}}}"#
    )
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn bz2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zst(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(Cursor::new(data), 3).unwrap()
}

fn records(p: &Path) -> (Vec<IngestRecord>, Vec<(String, u64)>) {
    let mut recs = Vec::new();
    let mut dead = Vec::new();
    for item in Reader::open_path(p, Options::default()).unwrap() {
        match item {
            Item::Record(r, _) => recs.push(r),
            Item::DeadLetter(d) => dead.push((d.reason, d.offset)),
        }
    }
    (recs, dead)
}

#[test]
fn plain_gzip_bzip2_and_zstd_give_identical_records() {
    let dir = temp_dir("codecs");
    let mut checked = 0;
    for rel in [
        "twitter_api_json/v1_1/python-twitter_streaming_lines_2018.jsonl",
        "twitter_api_json/v1_1/simdjson_twitter_search.json",
        "twitter_api_json/v2/twarc-csv_streaming_output_with_error.jsonl",
        "airline_2015/Tweets.csv",
    ] {
        let Some(src) = shared_data(rel) else {
            return;
        };
        let data = fs::read(&src).unwrap();
        let name = src.file_name().unwrap().to_string_lossy().into_owned();
        let plain = dir.join(&name);
        fs::write(&plain, &data).unwrap();
        let (want, want_dead) = records(&plain);
        assert!(!want.is_empty(), "{rel}");
        for (ext, bytes) in [("gz", gz(&data)), ("bz2", bz2(&data)), ("zst", zst(&data))] {
            let p = dir.join(format!("{name}.{ext}"));
            fs::write(&p, bytes).unwrap();
            let (got, got_dead) = records(&p);
            assert_eq!(got.len(), want.len(), "{rel}.{ext}");
            assert!(got == want, "{rel}.{ext}: records differ");
            assert_eq!(got_dead, want_dead, "{rel}.{ext}");
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
    // Magic bytes decide, not the name: a gzip stream without `.gz`.
    let p = dir.join("no_extension");
    fs::write(&p, gz(format!("{}\n", status_line("5", "x")).as_bytes())).unwrap();
    assert_eq!(read_path(&p, Options::default()).posts.len(), 1);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_compressed_file_is_a_dead_letter_and_reading_goes_on() {
    let dir = temp_dir("corrupt");
    let body: String = (0..2000)
        .map(|i| status_line(&i.to_string(), "t") + "\n")
        .collect();
    let mut bad = gz(body.as_bytes());
    let n = bad.len();
    for b in &mut bad[n / 2..n - 8] {
        *b = 0x55;
    }
    fs::write(dir.join("a.jsonl.gz"), &bad).unwrap();
    let mut bad_bz = bz2(body.as_bytes());
    let n = bad_bz.len();
    bad_bz.truncate(n / 2);
    fs::write(dir.join("b.jsonl.bz2"), &bad_bz).unwrap();
    fs::write(dir.join("c.jsonl"), status_line("9", "after") + "\n").unwrap();
    let t = read_path(&dir, Options::default());
    let reasons = t.reasons();
    assert_eq!(reasons.get("read_error"), Some(&2), "{:?}", t.dead);
    assert_eq!(t.posts.last().unwrap().id, "9", "the next file is read");
    assert!(t.posts.len() < 4001);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn directories_and_globs_read_in_sorted_order() {
    let dir = temp_dir("order");
    fs::create_dir_all(dir.join("b/inner")).unwrap();
    fs::create_dir_all(dir.join("a")).unwrap();
    fs::write(dir.join("b/inner/2.jsonl"), status_line("4", "x") + "\n").unwrap();
    fs::write(dir.join("b/1.jsonl"), status_line("3", "x") + "\n").unwrap();
    fs::write(dir.join("a/z.jsonl"), status_line("2", "x") + "\n").unwrap();
    fs::write(dir.join("0.jsonl"), status_line("1", "x") + "\n").unwrap();
    fs::write(dir.join(".hidden"), "junk\n").unwrap();
    let ids = |t: Tally| t.posts.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(
        ids(read_path(&dir, Options::default())),
        ["1", "2", "3", "4"]
    );
    let pattern = format!("{}/b/**/*.jsonl", dir.display());
    let r = Reader::from_sources([Source::Glob(pattern)], Options::default()).unwrap();
    assert_eq!(ids(Tally::from_items(r)), ["3", "4"]);
    assert!(Reader::open([format!("{}/nothing*", dir.display())], Options::default()).is_err());
    assert!(Reader::open_path(dir.join("missing"), Options::default()).is_err());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stream_grab_tar_members_are_read_in_time_order() {
    let dir = temp_dir("tar");
    let tar_path = dir.join("twitter-stream-2018-03-10.tar");
    let mut b = tar::Builder::new(fs::File::create(&tar_path).unwrap());
    // Added out of order, as an archiver might; reading must sort by name.
    for (name, id) in [
        ("10/14/01.json.bz2", "3"),
        ("10/13/59.json.bz2", "1"),
        ("10/14/00.json.bz2", "2"),
    ] {
        let body = bz2(format!(
            "{}\n{{\"delete\":{{\"status\":{{\"id\":1,\"id_str\":\"1\"}}}}}}\n",
            status_line(id, "x")
        )
        .as_bytes());
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, body.as_slice()).unwrap();
    }
    b.into_inner().unwrap().flush().unwrap();
    let size = fs::metadata(&tar_path).unwrap().len();
    let mut r = Reader::open_path(&tar_path, Options::default()).unwrap();
    let mut items = Vec::new();
    for it in r.by_ref() {
        items.push(it);
    }
    let t = Tally::from_items(items);
    assert_eq!(
        t.posts.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    assert_eq!(t.deletes.len(), 3);
    let p = r.progress();
    assert_eq!((p.bytes_read, p.bytes_total), (size, Some(size)));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compressed_tars_are_streamed_in_stored_order() {
    let dir = temp_dir("tar-compressed");
    let mut b = tar::Builder::new(Vec::new());
    for (name, id) in [
        ("10/14/01.json.bz2", "3"),
        ("10/13/59.json.bz2", "1"),
        (".hidden.json", "0"),
        ("10/14/00.json", "2"),
    ] {
        let plain = format!("{}\n", status_line(id, "x"));
        let body = if name.ends_with(".bz2") {
            bz2(plain.as_bytes())
        } else {
            plain.into_bytes()
        };
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, body.as_slice()).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let zst = zstd::stream::encode_all(tar.as_slice(), 3).unwrap();
    let mut ids = Vec::new();
    for (name, bytes) in [
        ("a.tar.gz", gz(&tar)),
        ("a.tgz", gz(&tar)),
        ("a.tar.bz2", bz2(&tar)),
        ("a.tar.zst", zst),
    ] {
        let p = dir.join(name);
        fs::write(&p, &bytes).unwrap();
        let mut r = Reader::open_path(&p, Options::default()).unwrap();
        let t = Tally::from_items(r.by_ref());
        assert!(t.dead.is_empty(), "{name}: {:?}", t.dead);
        ids.push(t.posts.iter().map(|p| p.id.clone()).collect::<Vec<_>>());
        let pr = r.progress();
        assert_eq!(pr.bytes_read, bytes.len() as u64, "{name}");
        assert_eq!(pr.inputs_done, 1, "{name}");
    }
    assert!(ids.iter().all(|v| v == &["3", "1", "2"]), "{ids:?}");

    // A cut-off archive: the members before the cut are read, the cut is a
    // dead letter, and the next input is read as usual.
    let cut = dir.join("cut.tar.gz");
    let whole = gz(&tar);
    fs::write(&cut, &whole[..whole.len() * 2 / 3]).unwrap();
    let next = dir.join("next.jsonl");
    fs::write(&next, status_line("9", "y") + "\n").unwrap();
    let r = Reader::open(
        [cut.display().to_string(), next.display().to_string()],
        Options::default(),
    )
    .unwrap();
    let t = Tally::from_items(r);
    assert_eq!(t.dead.len(), 1, "{:?}", t.dead);
    assert_eq!(t.dead[0].reason, "read_error");
    assert_eq!(t.posts.last().map(|p| p.id.as_str()), Some("9"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_17_mb_line_is_rejected_without_stopping() {
    let mut data = Vec::with_capacity(18 << 20);
    data.extend_from_slice(br#"{"text":""#);
    data.resize(17 << 20, b'a');
    data.extend_from_slice(b"\"}\n");
    data.extend_from_slice(status_line("7", "ok").as_bytes());
    data.push(b'\n');
    let t = Tally::from_items(Reader::from_reader(
        "mem",
        Cursor::new(data),
        Options::default(),
    ));
    assert_eq!(t.dead.len(), 1);
    let d = &t.dead[0];
    assert_eq!((d.reason.as_str(), d.offset), ("line_too_long", 1));
    assert!(
        d.raw.len() <= 4096 && d.raw.starts_with("{\"text\""),
        "{}",
        d.raw.len()
    );
    assert_eq!(t.posts.len(), 1);
    assert_eq!(t.posts[0].id, "7");

    // A 2 MB line is fine under the default limit, and rejected under a smaller one.
    let long = status_line("8", &"b".repeat(2 << 20)) + "\n";
    let t = Tally::from_items(Reader::from_reader(
        "mem",
        Cursor::new(long.clone()),
        Options::default(),
    ));
    assert_eq!(t.posts.len(), 1);
    let small = Options {
        max_line_bytes: 1 << 20,
        ..Options::default()
    };
    let t = Tally::from_items(Reader::from_reader("mem", Cursor::new(long), small));
    assert_eq!(t.reasons().get("line_too_long"), Some(&1));
}

#[test]
fn bad_records_get_their_reason_codes_and_line_numbers() {
    let mut data = Vec::new();
    data.extend_from_slice(status_line("1", "fine").as_bytes());
    data.extend_from_slice(b"\n{\"text\": \"caf\xe9\"}\n");
    data.extend_from_slice(b"{\"created_at\": oops}\n");
    data.extend_from_slice(br#"{"id_str":"4","text":"no time","user":{"screen_name":"x"}}"#);
    data.extend_from_slice(b"\r\n\n");
    data.extend_from_slice(br#"{"id_str":"6","created_at":"yesterday","text":"t"}"#);
    data.extend_from_slice(b"\n");
    data.extend_from_slice(br#"{"created_at":"Sat Mar 10 14:03:15 +0000 2018","id":12345678901234567890123,"text":"big"}"#);
    let items: Vec<Item> =
        Reader::from_reader("mem", Cursor::new(data), Options::default()).collect();
    let got: Vec<(String, u64)> = items
        .iter()
        .filter_map(|i| match i {
            Item::DeadLetter(d) => Some((d.reason.clone(), d.offset)),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [
            ("invalid_utf8".to_owned(), 2),
            ("invalid_json".to_owned(), 3),
            ("missing_created_at".to_owned(), 4),
            ("bad_created_at".to_owned(), 6),
        ]
    );
    let t = Tally::from_items(items);
    assert_eq!(t.notice(NoticeKind::KeepAlive), 1);
    assert_eq!(
        t.posts.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["1", "12345678901234567890123"],
        "ids above 2^53 (and above u64) keep every digit"
    );
    let d = Tally::from_items(Reader::from_reader(
        "mem",
        Cursor::new(b"{\"text\": \"caf\xe9\"}\n".to_vec()),
        Options::default(),
    ))
    .dead;
    assert_eq!(
        (d[0].encoding.as_str(), d[0].source.as_str()),
        ("base64", "mem")
    );
}

#[test]
fn pretty_printed_documents_are_read_whole() {
    let doc = format!(
        "{{\n  \"statuses\": [\n    {},\n    {}\n  ],\n  \"search_metadata\": {{}}\n}}\n{{\n \"limit\": {{\"track\": 3}}\n}}\n",
        status_line("1", "a"),
        status_line("2", "b")
    );
    let t = Tally::from_items(Reader::from_reader(
        "mem",
        Cursor::new(doc),
        Options::default(),
    ));
    assert_eq!(t.posts.len(), 2);
    assert_eq!(t.notice(NoticeKind::Limit), 1);
    assert!(t.dead.is_empty());

    // A JSON-lines file whose first line is cut off is still read as lines.
    let lines = format!(
        "{{\"text\": \"cut\n{}\n{}\n",
        status_line("1", "a"),
        status_line("2", "b")
    );
    let t = Tally::from_items(Reader::from_reader(
        "mem",
        Cursor::new(lines),
        Options::default(),
    ));
    assert_eq!(t.posts.len(), 2);
    assert_eq!(t.dead.len(), 1);
    assert_eq!(
        (t.dead[0].reason.as_str(), t.dead[0].offset),
        ("truncated_json", 1)
    );

    // A pretty document cut short dead-letters what is left.
    let cut = "{\n \"statuses\": [\n".to_owned() + &status_line("1", "a") + ",\n";
    let t = Tally::from_items(Reader::from_reader(
        "mem",
        Cursor::new(cut),
        Options::default(),
    ));
    assert_eq!(t.posts.len(), 0);
    assert_eq!(
        t.reasons().into_iter().collect::<Vec<_>>(),
        [("truncated_json".to_owned(), 1)]
    );
}

#[test]
fn progress_reaches_the_total_for_plain_files() {
    let Some(p) = shared_data("twitter_api_json/v1_1") else {
        return;
    };
    let mut r = Reader::open_path(&p, Options::default()).unwrap();
    let total = r.progress().bytes_total.unwrap();
    assert!(total > 2_000_000);
    let mut last = 0;
    let mut n = 0;
    while let Some(_item) = r.next() {
        let now = r.progress().bytes_read;
        assert!(now >= last, "monotonic");
        last = now;
        n += 1;
    }
    assert!(n > 300);
    let end = r.progress();
    assert_eq!((end.bytes_read, end.inputs_done), (total, end.inputs_total));
}
