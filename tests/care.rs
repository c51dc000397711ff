//! `canary run --triage-out` on generated conversations written as v1.1
//! statuses: the reply fields are read, and the triage records and the
//! window records' care fields equal what the generator knows.

mod common;
use common::*;

use canary_core::Post;
use canary_core::time::civil_from_days;
use canary_testkit::care::{CONFIG, conversations};
use serde_json::{Value, json};

fn created_at(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][m as usize - 1];
    format!(
        "{wd} {mon} {d:02} {:02}:{:02}:{:02} +0000 {y}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn status(p: &Post) -> Value {
    let body = |p: &Post, id: &str| {
        json!({
            "id_str": id,
            "created_at": created_at(p.event_ms),
            "timestamp_ms": p.event_ms.to_string(),
            "text": p.text,
            "lang": "en",
            "user": {"screen_name": p.author},
            "entities": {"hashtags": [], "user_mentions":
                p.mentions.iter().map(|m| json!({"screen_name": m})).collect::<Vec<_>>()},
            "in_reply_to_status_id_str": p.reply_to,
            "in_reply_to_screen_name": p.reply_to_author,
        })
    };
    let mut v = body(p, &p.id);
    if p.retweet {
        let mut original = p.clone();
        original.author = Some("angry".into());
        v["retweeted_status"] = body(&original, "1");
        v["text"] = json!(format!("RT @angry: {}", p.text));
    }
    v
}

#[test]
fn triage_out_and_window_fields_equal_what_the_generator_knows() {
    let conv = conversations(false);
    let dir = tmp("care");
    let cfg = write(&dir, "canary.toml", CONFIG.as_bytes());
    let lines: String = conv
        .posts
        .iter()
        .map(|p| status(p).to_string() + "\n")
        .collect();
    let input = write(&dir, "conversations.jsonl", lines.as_bytes());
    let triage = dir.join("triage.jsonl");
    let out = run_ok(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--triage-out",
        triage.to_str().unwrap(),
        "--emit-windows",
        "--metrics-addr",
        "off",
    ]);
    let records = json_lines(&std::fs::read(&triage).unwrap());
    let mut got: Vec<(String, String, Option<f64>)> = records
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
                r["response_seconds"].as_f64(),
            )
        })
        .collect();
    let mut want: Vec<(String, String, Option<f64>)> = conv
        .triage()
        .into_iter()
        .map(|(_, _, (s, id, _, _, secs))| (s.to_owned(), id, secs))
        .collect();
    got.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    want.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    assert!(!want.is_empty());
    assert_eq!(got, want);

    let truth = conv.windows();
    let mut seen = 0;
    for w in json_lines(&out.stdout) {
        if w["type"] != "window" || w["lang"] != "all" {
            continue;
        }
        let start = w["start_ms"].as_i64().unwrap();
        let t = truth.get(&start).cloned().unwrap_or_default();
        assert_eq!(
            (
                w["directed"].as_u64(),
                w["answered"].as_u64(),
                w["answered_within_sla"].as_u64(),
                w["response_p50_seconds"].as_f64(),
                w["response_p90_seconds"].as_f64(),
            ),
            (
                Some(t.directed),
                Some(t.answered),
                Some(t.within),
                t.p50,
                t.p90
            ),
            "window {start}"
        );
        seen += usize::from(truth.contains_key(&start));
    }
    assert_eq!(seen, truth.len());
}
