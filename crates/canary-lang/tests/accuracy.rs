//! Accuracy floors on the shared language-ID sets (deterministic: no
//! randomness in stripping or either library). Floors are the targets the
//! modes were built for; the measured figures are in the crate README. Skips without shared data unless CANARY_REQUIRE_SHARED=1.
use canary_lang::{Detector, DetectorConfig, Mode, OTHER};

mod common;
use common::sets::{self, Sample, Scores, TWEETLID, XLMT};

fn macro_acc(det: &Detector, samples: &[Sample], langs: &[&str]) -> f64 {
    let mut buf = String::new();
    let markets = det.markets().to_vec();
    Scores::run(
        samples,
        |t| det.detect(t, None, &mut buf).lang,
        |g| if markets.contains(&g) { g } else { OTHER },
    )
    .macro_avg(langs)
}

fn check(mode: Mode, xlmt_floor: f64, tweetlid_floor: f64) {
    let (Some(x), Some(t)) = (sets::xlmt(), sets::tweetlid()) else {
        return;
    };
    let det = Detector::new(&DetectorConfig {
        mode,
        ..DetectorConfig::default()
    })
    .unwrap();
    let langs: Vec<&str> = XLMT.iter().map(|(_, c)| *c).collect();
    let xa = macro_acc(&det, &x, &langs);
    let ta = macro_acc(&det, &t, &TWEETLID);
    eprintln!("{mode:?}: XLM-T {xa:.2}%, TweetLID {ta:.2}%");
    assert!(xa >= xlmt_floor, "{mode:?} XLM-T {xa:.2}% < {xlmt_floor}%");
    assert!(
        ta >= tweetlid_floor,
        "{mode:?} TweetLID {ta:.2}% < {tweetlid_floor}%"
    );
}

#[test]
fn fast_mode_accuracy() {
    check(Mode::Fast, 96.0, 88.0);
}

#[test]
fn accurate_mode_accuracy() {
    check(Mode::Accurate, 97.5, 91.0);
}

#[test]
fn stripping_beats_raw_whichlang() {
    let Some(x) = sets::xlmt() else { return };
    let langs: Vec<&str> = XLMT.iter().map(|(_, c)| *c).collect();
    let raw = Scores::run(&x, canary_lang::whichlang_reference, |g| g).macro_avg(&langs);
    let fast = macro_acc(
        &Detector::new(&DetectorConfig::default()).unwrap(),
        &x,
        &langs,
    );
    assert!(
        fast > raw + 0.5,
        "fast {fast:.2}% vs raw whichlang {raw:.2}%"
    );
}
