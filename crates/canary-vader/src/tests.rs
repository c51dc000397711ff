//! Quirks of the reference, pinned with its own answers (vaderSentiment 3.3.2
//! on CPython 3.12.1, `polarity_scores` as `[neg, neu, pos, compound]`).

use super::*;

const CASES: &[(&str, [f64; 4])] = &[
    // but: equal values, list.index rescales the first one twice
    ("good good but bad", [0.492, 0.104, 0.404, -0.431]),
    // but: repeated values around 'but'
    ("good bad good but good good", [0.152, 0.067, 0.781, 0.8537]),
    // but: values after 'but' equal one before it
    ("nice but nice nice nice", [0.0, 0.071, 0.929, 0.9186]),
    // ':D'.isupper() is true: counts as an all-caps token
    ("GOOD :D movie", [0.0, 0.115, 0.885, 0.8256]),
    // emoticon without cased chars is not all-caps
    ("great :) movie", [0.0, 0.123, 0.877, 0.7964]),
    // 'no' before a lexicon word
    ("no good", [0.706, 0.294, 0.0, -0.3412]),
    // 'no' negates the next word
    ("no problem", [0.0, 0.307, 0.693, 0.3089]),
    // 'no' three back with 'or'
    ("no ugly or bad", [0.0, 0.265, 0.735, 0.6759]),
    // idiom with a Python int value
    ("you are the shit", [0.0, 0.429, 0.571, 0.6124]),
    // idiom check needs three words before: not applied
    ("yeah right", [0.0, 0.312, 0.688, 0.296]),
    // three-word idiom
    ("that movie is to die for", [0.438, 0.562, 0.0, -0.5994]),
    // 'at least' does not negate
    ("at least good", [0.0, 0.408, 0.592, 0.4404]),
    // 'least' negates
    ("the least good", [0.546, 0.454, 0.0, -0.3412]),
    // 'very least' does not negate
    ("very least good", [0.0, 0.386, 0.614, 0.4902]),
    // 'least' at position 1
    ("least good", [0.706, 0.294, 0.0, -0.3412]),
    // \x1c is whitespace to str.split()
    ("good\u{1c}bad", [0.547, 0.0, 0.453, -0.1531]),
    // zero-width space is not whitespace
    ("good\u{200b}bad", [0.0, 1.0, 0.0, 0.0]),
    // KELVIN SIGN lowercases to ASCII 'k'
    ("Kind of good", [0.0, 0.408, 0.592, 0.4404]),
    // emoji description glued to the following text
    ("😀abc", [0.0, 0.286, 0.714, 0.3612]),
    // red heart scores through 'heart'
    ("I ❤ you", [0.0, 0.417, 0.583, 0.6369]),
    // one '?' adds nothing
    ("good?", [0.0, 0.0, 1.0, 0.4404]),
    // two '?' add emphasis
    ("good??", [0.0, 0.0, 1.0, 0.504]),
    // four or more '?' add a fixed 0.96
    ("good????", [0.0, 0.0, 1.0, 0.594]),
    // caps emphasis on a zeroed valence goes negative
    ("no GOOD thing", [0.611, 0.389, 0.0, -0.4835]),
    // 'never so' boosts
    ("never so good", [0.0, 0.348, 0.652, 0.5777]),
    // 'so' right before boosts too (precedence quirk)
    ("it was so good", [0.0, 0.445, 0.555, 0.5777]),
    // 'without doubt' does not negate
    ("without doubt good", [0.0, 0.166, 0.834, 0.6136]),
    // all tokens caps: no cap differential
    ("GOOD", [0.0, 0.0, 1.0, 0.4404]),
    // empty text
    ("", [0.0, 0.0, 0.0, 0.0]),
    // whitespace only
    ("   ", [0.0, 0.0, 0.0, 0.0]),
    // 'bus stop' sets 0.0
    ("bus stop good", [0.361, 0.164, 0.475, 0.1779]),
    // titlecase letter: not all-caps
    ("ǅemal GOOD bad", [0.43, 0.123, 0.447, 0.0343]),
    // Greek capitals are all-caps
    ("ΣΑΣ GOOD bad", [0.43, 0.123, 0.447, 0.0343]),
    // mixed-case lexicon key never matches
    (":-Þ", [0.0, 1.0, 0.0, 0.0]),
    // lowercased ':p' is the key that matches
    (":P", [0.0, 0.0, 1.0, 0.25]),
    // at most four '!' count
    ("good!!!!!!", [0.0, 0.0, 1.0, 0.6209]),
    // "n't" negates in any case
    ("He ISN'T good", [0.546, 0.454, 0.0, -0.3412]),
    // 'kind of' and caps dampener
    ("kinda good but KIND OF bad", [0.472, 0.364, 0.164, -0.6582]),
];

#[test]
fn reference_quirks() {
    let mut vader = Analyzer::new();
    let mut bad = Vec::new();
    for &(text, want) in CASES {
        let s = vader.polarity_scores(text);
        let got = [s.neg, s.neu, s.pos, s.compound];
        if got != want {
            bad.push(format!("{text:?}: got {got:?}, reference {want:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn but_check_rescales_by_first_equal_value() {
    // The reference gives [0.5, 0.5, 0, 1.0, 2.25] for these values: halving
    // position 0 makes it equal to position 1, so list.index later picks
    // position 1 for the 1.0 after "but", which is halved instead of scaled up.
    let tok = |word| Tok {
        word,
        ..Tok::default()
    };
    let toks = [tok(0), tok(0), tok(w::BUT), tok(0), tok(0)];
    let mut s = [
        Val::float(2.0),
        Val::float(1.0),
        Val::ZERO,
        Val::float(1.0),
        Val::float(1.5),
    ];
    but_check(&toks, &mut s);
    assert_eq!(s.map(|v| v.v), [0.5, 0.5, 0.0, 1.0, 2.25]);
}

#[test]
fn analyzer_is_send_and_reusable() {
    fn is_send<T: Send>() {}
    is_send::<Analyzer>();
    let mut a = Analyzer::default();
    let first = a.polarity_scores("The book was good.");
    a.polarity_scores("😀 ǅemal\u{3000}x");
    assert_eq!(a.polarity_scores("The book was good."), first);
}
