//! Folding: the one form in which lexicon keys and text words are compared.
//!
//! Lowercase, Latin accents removed (posts often drop them: "nao", "tres"),
//! Arabic diacritics and tatweel removed and the alef, yeh and teh marbuta
//! variants unified, and a letter repeated three or more times kept once
//! ("buenooo" → "bueno", "ههههه" → "ه").

/// Calls `emit` with each char of the folded form of `c` (none for marks
/// that fold away).
fn fold_char(c: char, mut emit: impl FnMut(char)) {
    if c.is_ascii() {
        emit(c.to_ascii_lowercase());
        return;
    }
    match c {
        // Arabic harakat, superscript alef and tatweel carry no meaning for the lexicon.
        '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}' => {}
        'أ' | 'إ' | 'آ' | 'ٱ' => emit('ا'),
        'ى' => emit('ي'),
        'ة' => emit('ه'),
        // Arabic script has no case and no accents to strip.
        '\u{0600}'..='\u{06FF}' => emit(c),
        _ => {
            for l in c.to_lowercase() {
                emit(strip_accent(l));
            }
        }
    }
}

fn strip_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        _ => c,
    }
}

/// Folds `word` into `out` (cleared first), collapsing runs of three or more
/// equal folded letters to one, in one pass: nothing is allocated once `out`
/// has grown to the longest word.
pub(crate) fn fold_word(word: &str, out: &mut String) {
    out.clear();
    // The last char pushed and how many times in a row it came.
    let (mut last, mut n) = (None, 0u32);
    for c in word.chars() {
        fold_char(c, |f| {
            if last == Some(f) {
                n += 1;
            } else {
                (last, n) = (Some(f), 1);
            }
            match n {
                1 | 2 => out.push(f),
                // A third in a row: the run keeps one.
                3 => {
                    out.pop();
                }
                _ => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(w: &str) -> String {
        let mut s = String::new();
        fold_word(w, &mut s);
        s
    }

    /// Folding then collapsing runs in two passes, as the rule is stated.
    fn two_pass(w: &str) -> String {
        let mut folded = Vec::new();
        for c in w.chars() {
            fold_char(c, |f| folded.push(f));
        }
        let mut out = String::new();
        let mut i = 0;
        while i < folded.len() {
            let n = folded[i..].iter().take_while(|&&c| c == folded[i]).count();
            for _ in 0..if n >= 3 { 1 } else { n } {
                out.push(folded[i]);
            }
            i += n;
        }
        out
    }

    #[test]
    fn one_pass_equals_fold_then_collapse() {
        let mut words: Vec<String> = [
            "NÃO",
            "nãããão",
            "AAAaaa",
            "ÀÁàá",
            "aaé",
            "xxxyyyzzz",
            "مُمُمُمتاز",
            "ههههه",
            "ـــة",
            "İİİ",
            "ǅǅǅ",
            "ßSS",
            "Ⅻⅻⅻ",
            "a",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for dir in [
            "arabic",
            "french",
            "german",
            "italian",
            "portuguese",
            "spanish",
        ] {
            let path = format!("multilingual_sentiment_umsab/test/{dir}/test_text.txt");
            if let Some(p) = canary_testkit::shared_data(&path) {
                let t = std::fs::read_to_string(p).expect("texts");
                words.extend(t.split_whitespace().map(str::to_owned));
            }
        }
        for w in &words {
            assert_eq!(f(w), two_pass(w), "{w:?}");
        }
    }

    #[test]
    fn folds_case_accents_arabic_variants_and_runs() {
        assert_eq!(f("NÃO"), "nao");
        assert_eq!(f("Très"), "tres");
        assert_eq!(f("Übel"), "ubel");
        assert_eq!(f("buenooo"), "bueno");
        assert_eq!(f("bello"), "bello");
        assert_eq!(f("أحمد"), "احمد");
        assert_eq!(f("جميلة"), "جميله");
        assert_eq!(f("مُمتاز"), "ممتاز");
        assert_eq!(f("رائعـــة"), "رائعه");
    }
}
