//! `canary score`: reference scores, input order, threads, plain lines, bad lines.

mod common;
use common::*;
use std::io::Write;
use std::process::Stdio;

fn score(args: &[&str], input: &[u8]) -> (Vec<serde_json::Value>, String, bool) {
    let mut child = canary()
        .env("CANARY_LOG", "info")
        .arg("score")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    // A refused flag ends canary before it reads stdin; the feeder then meets
    // a closed pipe, which is not this test's failure.
    match feeder.join().unwrap() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("feeding stdin: {e}"),
        _ => {}
    }
    (
        json_lines(&out.stdout),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[test]
fn scores_equal_the_reference_in_input_order_on_any_thread_count() {
    let (Some(corpus), Some(golden)) = (
        canary_testkit::shared_data("vader/corpus.jsonl"),
        canary_testkit::shared_data("vader/corpus.golden.jsonl"),
    ) else {
        return;
    };
    // Ids repeat across the corpus' sets: number the lines instead, as ids.
    let texts: Vec<serde_json::Value> = json_lines(&std::fs::read(corpus).unwrap());
    let golden: Vec<serde_json::Value> = json_lines(&std::fs::read(golden).unwrap());
    let n = 3000;
    let mut input = Vec::new();
    for (i, t) in texts.iter().take(n).enumerate() {
        serde_json::to_writer(&mut input, &serde_json::json!({"id": i, "text": t["text"]}))
            .unwrap();
        input.push(b'\n');
    }
    let (one, _, ok) = score(&[], &input);
    assert!(ok);
    let (three, _, ok) = score(&["--threads", "3"], &input);
    assert!(ok);
    assert_eq!(one, three, "thread count changed the output");
    assert_eq!(one.len(), n);
    for (i, (got, want)) in one.iter().zip(&golden).enumerate() {
        assert_eq!(got["id"], i);
        for k in ["neg", "neu", "pos", "compound"] {
            assert_eq!(
                got[k].as_f64(),
                want[k].as_f64(),
                "line {i} {k}: {}",
                texts[i]["text"]
            );
        }
    }
}

#[test]
fn plain_lines_and_bad_lines() {
    let (out, _, ok) = score(&["--lines"], "I love it\nI hate it\n".as_bytes());
    assert!(ok);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["id"], 1);
    assert!(out[0]["compound"].as_f64().unwrap() > 0.5);
    assert!(out[1]["compound"].as_f64().unwrap() < -0.5);

    let input =
        b"{\"id\":\"a\",\"text\":\"good\"}\nnot json\n\xff\xfe\n{\"id\":\"b\",\"text\":\"bad\"}\n";
    let (out, log, ok) = score(&[], input);
    assert!(ok, "{log}");
    let ids: Vec<&str> = out.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["a", "b"]);
    assert!(
        log.contains("invalid_json") && log.contains("invalid_utf8"),
        "{log}"
    );
    assert!(
        log.contains("scored=2") && log.contains("skipped=2"),
        "{log}"
    );
}

#[test]
fn lang_flag_and_line_lang_choose_the_scorer() {
    let input = concat!(
        "{\"id\":1,\"text\":\"el servicio es horrible\"}\n",
        "{\"id\":2,\"text\":\"the service is horrible\",\"lang\":\"en\"}\n",
        "{\"id\":3,\"text\":\"das ist nicht gut\",\"lang\":\"de\"}\n",
        "{\"id\":4,\"text\":\"ひどい\",\"lang\":\"ja\"}\n",
    );
    // Without --lang, a line without `lang` is English: VADER knows "horrible".
    let (en, _, ok) = score(&[], input.as_bytes());
    assert!(ok);
    let (es, err, ok) = score(&["--lang", "es"], input.as_bytes());
    assert!(ok, "{err}");
    assert_eq!(es.len(), 3, "the ja line is skipped: {err}");
    assert!(err.contains("unsupported_lang"), "{err}");
    assert!(es[0]["compound"].as_f64().unwrap() < -0.05);
    // The `lang` field wins over --lang: line 2 scores as VADER does without --lang.
    assert_eq!(es[1], en[1]);
    assert!(es[2]["compound"].as_f64().unwrap() < -0.05);
    let (_, err, ok) = score(&["--lang", "ja"], input.as_bytes());
    assert!(!ok);
    assert!(err.contains("--lang"), "{err}");
}
