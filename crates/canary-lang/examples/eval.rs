//! Accuracy of canary-lang on the shared language-ID sets, as markdown.
//!
//! `cargo run --release -p canary-lang --example eval -- [--mode fast|accurate]`
use std::time::Instant;

use canary_lang::{
    Detector, DetectorConfig, HashtagPolicy, Mode, OTHER, strip_for_detection_with,
    whichlang_reference,
};

#[path = "../tests/common/sets.rs"]
mod sets;
use sets::{LINGUA15, Sample, Scores, TWEETLID, XLMT};

fn main() {
    let mut mode = Mode::Fast;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mode" => mode = args.next().expect("--mode VALUE").parse().expect("mode"),
            other => panic!("unknown argument {other:?}"),
        }
    }
    let (Some(xlmt), Some(tlid)) = (sets::xlmt(), sets::tweetlid()) else {
        println!("shared data absent: nothing to evaluate");
        return;
    };
    let xlmt_langs: Vec<&str> = XLMT.iter().map(|(_, c)| *c).collect();
    let cfg = DetectorConfig {
        mode,
        ..DetectorConfig::default()
    };
    let t0 = Instant::now();
    let det = Detector::new(&cfg).expect("detector");
    println!(
        "# canary-lang eval, mode `{}` (markets {:?}; build {:.1} ms)\n",
        mode.as_str(),
        det.markets(),
        t0.elapsed().as_secs_f64() * 1e3
    );

    // Main table.
    let mut buf = String::new();
    let expect_for = |d: &Detector| {
        let markets: Vec<&'static str> = d.markets().to_vec();
        move |gold: &'static str| if markets.contains(&gold) { gold } else { OTHER }
    };
    let x = Scores::run(
        &xlmt,
        |t| det.detect(t, None, &mut buf).lang,
        expect_for(&det),
    );
    let tl = Scores::run(
        &tlid,
        |t| det.detect(t, None, &mut buf).lang,
        expect_for(&det),
    );
    println!("| set | macro acc % | per language % |\n|---|---|---|");
    println!(
        "| XLM-T tweets (7, no romanised hi) | {:.1} | {} |",
        x.macro_avg(&xlmt_langs),
        per(&x, &xlmt_langs)
    );
    println!(
        "| TweetLID (en es pt) | {:.1} | {} ; ca->other {:.1} |",
        tl.macro_avg(&TWEETLID),
        per(&tl, &TWEETLID),
        tl.lang("ca").unwrap_or(f64::NAN)
    );
    let l15: Vec<&str> = LINGUA15
        .iter()
        .copied()
        .filter(|c| mode.repertoire().contains(c))
        .collect();
    let det15 = Detector::new(&DetectorConfig {
        mode,
        languages: l15.iter().map(|s| s.to_string()).collect(),
        ..cfg.clone()
    })
    .expect("detector over lingua's languages");
    for kind in ["sentences", "word-pairs", "single-words"] {
        let Some(s) = sets::lingua(kind, &l15) else {
            return;
        };
        let sc = Scores::run(&s, |t| det15.detect(t, None, &mut buf).lang, |g| g);
        println!(
            "| lingua {kind} ({}) | {:.1} | {} |",
            l15.len(),
            sc.macro_avg(&l15),
            per(&sc, &l15)
        );
    }

    // Where TweetLID errors go (raw detector answer before market mapping).
    let mut confusion: Vec<((&str, &str), usize)> = Vec::new();
    for s in &tlid {
        let got = det
            .detect(&s.text, None, &mut buf)
            .detected
            .unwrap_or("und");
        if got != s.lang {
            match confusion.iter_mut().find(|(k, _)| *k == (s.lang, got)) {
                Some(e) => e.1 += 1,
                None => confusion.push(((s.lang, got), 1)),
            }
        }
    }
    confusion.sort_by_key(|e| std::cmp::Reverse(e.1));
    confusion.truncate(8);
    let top: Vec<String> = confusion
        .iter()
        .map(|((g, p), n)| format!("{g}->{p} {n}"))
        .collect();
    println!(
        "| TweetLID top confusions (gold->detected) | | {} |",
        top.join(", ")
    );

    // Reference: plain whichlang, unstripped.
    let rx = Scores::run(&xlmt, whichlang_reference, |g| g);
    let rt = Scores::run(&tlid, whichlang_reference, |g| g);
    println!(
        "| reference: whichlang, raw text | XLM-T {:.1} / TweetLID {:.1} | |",
        rx.macro_avg(&xlmt_langs),
        rt.macro_avg(&TWEETLID)
    );

    // Hashtag policy.
    println!(
        "\n## Hashtag words: keep vs drop (macro %)\n\n| policy | XLM-T | TweetLID |\n|---|---|---|"
    );
    for policy in [HashtagPolicy::KeepWord, HashtagPolicy::Drop] {
        let mut run = |s: &[Sample]| {
            Scores::run(
                s,
                |t| {
                    let n = strip_for_detection_with(t, &mut buf, policy);
                    det.detect_stripped(&buf, n, None).lang
                },
                expect_for(&det),
            )
        };
        let (a, b) = (run(&xlmt), run(&tlid));
        println!(
            "| {policy:?} | {:.1} | {:.1} |",
            a.macro_avg(&xlmt_langs),
            b.macro_avg(&TWEETLID)
        );
    }

    // Confidence: what the hint rule leans on.
    println!("\n## Confidence split (XLM-T + TweetLID en/es/pt, micro)\n");
    println!("| subset | share % | accuracy % |\n|---|---|---|");
    let mut conf = [(0usize, 0usize); 2];
    let mut und = 0usize;
    for s in xlmt.iter().chain(tlid.iter().filter(|s| s.lang != "ca")) {
        let d = det.detect(&s.text, None, &mut buf);
        if d.lang == canary_lang::UND {
            und += 1;
        }
        let c = &mut conf[d.confident as usize];
        c.0 += (d.lang == s.lang) as usize;
        c.1 += 1;
    }
    let total = (conf[0].1 + conf[1].1) as f64;
    for (name, (ok, n)) in ["not confident", "confident"].iter().zip(conf) {
        println!(
            "| {name} | {:.1} | {:.1} |",
            100.0 * n as f64 / total,
            100.0 * ok as f64 / n.max(1) as f64
        );
    }
    println!(
        "\n`und` (fewer than {} letters after stripping): {und} of {total} posts",
        cfg.min_chars
    );

    // Throughput, single thread.
    let tps = |d: &Detector, buf: &mut String| {
        let t = Instant::now();
        let mut n = 0usize;
        while t.elapsed().as_secs_f64() < 2.0 {
            for s in &xlmt {
                std::hint::black_box(d.detect(&s.text, None, buf));
            }
            n += xlmt.len();
        }
        n as f64 / t.elapsed().as_secs_f64()
    };
    println!("\n## Speed (XLM-T tweets, one thread, wall clock)\n");
    println!("- `{}`: {:.0} tweets/s", mode.as_str(), tps(&det, &mut buf));

    if mode == Mode::Accurate {
        println!("\n## Cascade sweep: whichlang margin above which lingua is skipped\n");
        println!(
            "| margin | lingua share XLM-T % | XLM-T | TweetLID | tweets/s |\n|---|---|---|---|---|"
        );
        for m in [0.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, f32::INFINITY] {
            let d = Detector::new(&cfg)
                .expect("detector")
                .with_shortcut_margin(m);
            let a = Scores::run(&xlmt, |t| d.detect(t, None, &mut buf).lang, expect_for(&d));
            let b = Scores::run(&tlid, |t| d.detect(t, None, &mut buf).lang, expect_for(&d));
            let f = fallback_share(&d, &xlmt, &mut buf);
            println!(
                "| {m} | {f:.1} | {:.1} | {:.1} | {:.0} |",
                a.macro_avg(&xlmt_langs),
                b.macro_avg(&TWEETLID),
                tps(&d, &mut buf)
            );
        }
        // Indonesian: what whichlang (which lacks it) says with a wide margin.
        if let Some(id) = sets::lingua("sentences", &["id"]) {
            let mut counts: Vec<(&str, usize)> = Vec::new();
            for s in &id {
                canary_lang::strip_for_detection(&s.text, &mut buf);
                let (w, m) = Detector::whichlang_margin(&buf);
                if m >= 3.0 {
                    match counts.iter_mut().find(|(c, _)| *c == w) {
                        Some(e) => e.1 += 1,
                        None => counts.push((w, 1)),
                    }
                }
            }
            counts.sort_by_key(|e| std::cmp::Reverse(e.1));
            println!(
                "\nIndonesian sentences that whichlang answers with margin >= 3: {counts:?} of {}",
                id.len()
            );
        }
    }
}

fn fallback_share(d: &Detector, s: &[Sample], buf: &mut String) -> f64 {
    let n = s.iter().filter(|x| d.uses_fallback(&x.text, buf)).count();
    100.0 * n as f64 / s.len() as f64
}

fn per(s: &Scores, langs: &[&str]) -> String {
    langs
        .iter()
        .map(|l| format!("{l} {:.1}", s.lang(l).unwrap_or(f64::NAN)))
        .collect::<Vec<_>>()
        .join(", ")
}
