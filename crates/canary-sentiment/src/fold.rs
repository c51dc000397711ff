//! Folding: the one form in which lexicon keys and text words are compared.
//!
//! Lowercase, Latin accents removed (posts often drop them: "nao", "tres"),
//! Arabic diacritics and tatweel removed and the alef, yeh and teh marbuta
//! variants unified, and a letter repeated three or more times kept once
//! ("buenooo" → "bueno", "ههههه" → "ه").

/// Pushes the folded form of `c` onto `out` (nothing for marks that fold away).
pub(crate) fn push_folded(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    match c {
        // Arabic harakat, superscript alef and tatweel carry no meaning for the lexicon.
        '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}' => {}
        'أ' | 'إ' | 'آ' | 'ٱ' => out.push('ا'),
        'ى' => out.push('ي'),
        'ة' => out.push('ه'),
        // Arabic script has no case and no accents to strip.
        '\u{0600}'..='\u{06FF}' => out.push(c),
        _ => {
            for l in c.to_lowercase() {
                out.push(strip_accent(l));
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
/// equal letters to one. `scratch` is reused space, so nothing is allocated
/// once both have grown to the longest word.
pub(crate) fn fold_word(word: &str, out: &mut String, scratch: &mut String) {
    scratch.clear();
    for c in word.chars() {
        push_folded(c, scratch);
    }
    out.clear();
    let mut chars = scratch.chars().peekable();
    while let Some(c) = chars.next() {
        let mut n = 1;
        while chars.next_if_eq(&c).is_some() {
            n += 1;
        }
        for _ in 0..if n >= 3 { 1 } else { n } {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(w: &str) -> String {
        let mut s = String::new();
        fold_word(w, &mut s, &mut String::new());
        s
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
