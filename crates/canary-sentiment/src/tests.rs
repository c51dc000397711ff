use super::*;

fn c(lang: &str, text: &str) -> f64 {
    Scorer::new().score(lang, text).unwrap().compound
}

#[test]
fn english_is_vader_exactly() {
    let mut s = Scorer::new();
    let mut v = Analyzer::new();
    for t in [
        "This is the worst service ever, I hate it",
        "Great flight :) 😍",
        "not bad at all!!",
    ] {
        assert_eq!(s.score("en", t), Some(v.polarity_scores(t)));
    }
}

#[test]
fn unknown_language_is_not_scored() {
    assert_eq!(Scorer::new().score("xx", "hola"), None);
    assert_eq!(Scorer::new().score("ja", "ひどい"), None);
}

#[test]
fn lexicon_words_score_in_each_language() {
    assert!(c("es", "el servicio es horrible") < -0.05);
    assert!(c("es", "me encanta este lugar") > 0.05);
    assert!(c("pt", "que serviço horrível") < -0.05);
    assert!(c("fr", "c'est vraiment nul et décevant") < -0.05);
    assert!(c("de", "das ist schrecklich") < -0.05);
    assert!(c("it", "che schifo di servizio") < -0.05);
    assert!(c("ar", "خدمة سيئة") < -0.05);
    assert_eq!(c("es", "el vuelo sale a las ocho"), 0.0);
}

#[test]
fn negation_flips_and_contrast_reweights() {
    assert!(c("es", "es bueno") > 0.05);
    assert!(c("es", "no es bueno") < -0.05);
    assert!(c("de", "das ist gut") > 0.05);
    assert!(c("de", "das ist nicht gut") < -0.05);
    assert!(c("fr", "je n'aime pas") < -0.05);
    // What follows "pero" weighs more than what precedes it.
    assert!(c("es", "la comida es buena pero el servicio es horrible") < -0.05);
}

#[test]
fn negation_and_boosters_stop_at_the_end_of_a_clause() {
    // VADER's three-word reach would turn "pésimo" positive after "no llega,".
    assert!(c("es", "mi paquete todavía no llega, pésimo servicio") < -0.05);
    assert!(c("es", "no llega, pésimo") < c("es", "no llega pésimo"));
    assert!(c("pt", "não chegou. horrível") < -0.05);
    assert_eq!(c("es", "muy, malo"), c("es", "malo"));
    assert!(c("ar", "لا، سيئة") < -0.05);
    // Without punctuation the negator still reaches three words ahead.
    assert!(c("es", "no es nada bueno") < -0.05);
}

#[test]
fn boosters_and_accents_and_runs() {
    assert!(c("es", "muy malo") < c("es", "malo"));
    assert_eq!(c("pt", "nao gostei"), c("pt", "não gostei"));
    assert_eq!(c("es", "malooo"), c("es", "malo"));
}

#[test]
fn emoji_and_emoticons_are_shared() {
    assert!(c("de", "😠") < -0.05);
    assert!(c("it", "grazie 😍") > 0.05);
    assert!(c("ar", ":(") < -0.05);
}

#[test]
fn arabic_clitics_are_stripped_when_missing() {
    let bare = c("ar", "سيئة");
    assert!(bare < -0.05);
    assert_eq!(c("ar", "والسيئة"), bare);
}

#[test]
fn output_shape_matches_vader() {
    let s = Scorer::new()
        .score("es", "odio este servicio, es horrible!!")
        .unwrap();
    assert!((s.neg + s.neu + s.pos - 1.0).abs() < 0.002, "{s:?}");
    assert!((-1.0..=1.0).contains(&s.compound));
    assert!(s.neg > 0.0 && s.pos == 0.0);
    let e = Scorer::new().score("fr", "").unwrap();
    assert_eq!(e.compound, 0.0);
}

#[test]
fn function_words_are_not_read_as_english() {
    // "die" (the article) and "war" ("was") are negative English words.
    assert_eq!(c("de", "die Katze war da"), 0.0);
    assert!(c("de", "die Katze war toll") > 0.05);
    // An English word in a post still counts where it is no function word.
    assert!(c("de", "epic fail") < -0.05);
}

#[test]
fn french_and_german_use_their_own_lexicons() {
    assert!(c("fr", "c'est génial") > 0.05);
    assert!(c("fr", "franchement déçu") < -0.05);
    assert!(c("de", "total enttäuschend") < -0.05);
    assert!(c("de", "einfach toll") > 0.05);
}

#[test]
fn verb_forms_and_diminutives_reach_the_listed_word() {
    // Only the infinitives are listed: "detestare", "odiar", "adorar".
    assert!(c("it", "detestano tutto") < -0.05);
    assert!(c("pt", "odiei o filme") < -0.05);
    assert!(c("pt", "adorei") > 0.05);
    assert!(c("pt", "bonitinho") > 0.05);
}

#[test]
fn everyday_words_take_the_valence_of_their_english_word() {
    let english = crate::tables::english();
    for lang in Lang::ALL {
        for &(w, en) in crate::colloquial::pairs(lang) {
            assert!(
                english.contains_key(en),
                "{w}: {en} is not in VADER's lexicon"
            );
        }
    }
    let vader = |w: &str| f64::from(english[w]);
    // Alone, a word's compound is its valence normalised as VADER does.
    let alone = |v: f64| v / (v * v + 15.0).sqrt();
    for (de, en) in [
        ("leider", "unfortunately"),
        ("danke", "thanks"),
        ("kaputt", "broken"),
    ] {
        assert!((c("de", de) - alone(vader(en))).abs() < 1e-3, "{de}");
    }
    assert!(c("de", "Zug wieder verspätet, leider kein Anschluss") < -0.05);
    assert!(c("de", "Danke, hat alles geklappt") > 0.05);
    // Where the lexicon lists the word, its own value stays: "chaos" is -1.0
    // there (×1.28), not VADER's -2.7.
    assert!((c("de", "chaos") - alone(-1.28)).abs() < 1e-3);
    // A lexicon's 0 is a gap: AFINN-ar lists "سيء" (bad) at 0.
    assert!((c("ar", "سيء") - alone(vader("bad"))).abs() < 1e-3);
    assert!(c("it", "servizio pessimo") < -0.05);
    assert!(c("pt", "amei, ótimo atendimento") > 0.05);
}

#[test]
fn false_friends_are_not_read_as_english() {
    // VADER rates "kind" +2.4, "pain" -2.3 and "fine" +0.8; in German, French
    // and Italian they are a child, bread and an end.
    assert_eq!(c("de", "das Kind"), 0.0);
    assert_eq!(c("fr", "du pain"), 0.0);
    assert_eq!(c("it", "alla fine"), 0.0);
    // Other English words still are.
    assert!(c("de", "epic fail") < -0.05);
}

#[test]
fn emoji_vader_reads_as_neutral_take_their_english_word_outside_english() {
    let english = crate::tables::english();
    for &(e, en) in crate::colloquial::EMOJI {
        assert!(
            english.contains_key(en),
            "{e}: {en} is not in VADER's lexicon"
        );
    }
    assert!(c("de", "👍") > 0.05);
    assert!(c("es", "otra vez 😡") < -0.05);
    assert!(c("pt", "🙄🙄") < -0.05);
    // English stays VADER's: "thumbs up" holds no word of its lexicon.
    assert_eq!(c("en", "👍"), 0.0);
    // An emoji VADER scores keeps its score: 😂 is +0.4404 alone in VADER.
    assert_eq!(c("de", "😂"), c("en", "😂"));
}
