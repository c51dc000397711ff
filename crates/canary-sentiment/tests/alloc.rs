//! Scoring allocates nothing once a scorer's scratch space is warm, in every
//! language it scores.

use canary_sentiment::{LANGUAGES, Scorer};
use canary_testkit::alloc::{CountingAlloc, allocs};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Posts of each kind the scorer handles: clitics, endings, phrases,
/// negation, emoji, emoticons, URLs, mentions, letter runs, mixed scripts.
const TEXTS: &[&str] = &[
    "el servicio es horrible, no es bueno pero la comida sí!!! 😡",
    "que serviço horrível, não gostei nada :( @cia http://x.co",
    "c'est vraiment nul et décevant mais le personnel était génial ?? <3",
    "das ist nicht gut, aber echt super 👍 Übel!!!",
    "che schifo di servizio, davvero bellissima invece 😍😍",
    "والخدمة سيئة جدا لكن الطاقم رائعـــة ههههه 😠",
    "buenooooo FAIL love جميلة naïve ǅemal İyi 日本語 ！",
    "",
];

/// Texts in `code` to score: the UMSAB test texts of that language when the
/// shared data is present, and the posts above in every case.
fn texts(code: &str) -> Vec<String> {
    let dir = match code {
        "en" => "english",
        "es" => "spanish",
        "pt" => "portuguese",
        "fr" => "french",
        "de" => "german",
        "it" => "italian",
        _ => "arabic",
    };
    let path = format!("multilingual_sentiment_umsab/test/{dir}/test_text.txt");
    let mut v: Vec<String> = TEXTS.iter().map(|s| s.to_string()).collect();
    if let Some(p) = canary_testkit::shared_data(&path) {
        let all = std::fs::read_to_string(p).expect("read texts");
        v.extend(all.lines().map(str::to_owned));
    }
    v
}

#[test]
fn scoring_allocates_nothing_after_warm_up() {
    let mut scorer = Scorer::new();
    let sets: Vec<(&str, Vec<String>)> = LANGUAGES.iter().map(|&c| (c, texts(c))).collect();
    let mut check = 0.0;
    // Warm-up: the tables are built and the scratch space grows to the
    // longest text of any language.
    for (code, texts) in &sets {
        for t in texts {
            check += scorer.score(code, t).expect("scored").compound;
        }
    }
    for (code, texts) in &sets {
        let before = allocs();
        for _ in 0..2 {
            for t in texts {
                check += std::hint::black_box(scorer.score(code, t).expect("scored")).compound;
            }
        }
        let n = allocs() - before;
        assert_eq!(
            n,
            0,
            "{code}: {n} allocations over {} texts",
            2 * texts.len()
        );
        println!("{code}: 0 allocations over {} texts", 2 * texts.len());
    }
    assert!(check.is_finite());
}
