//! Platform language tags (`lang` on a post) to ISO 639-1 codes.

/// ISO 639-1 codes, sorted, so a hint can be returned as `&'static str`.
const ISO_639_1: &[&str] = &[
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bh",
    "bi", "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da",
    "de", "dv", "dz", "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr",
    "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz",
    "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka", "kg", "ki", "kj",
    "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln",
    "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb",
    "nd", "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi",
    "pl", "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk",
    "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv", "sw", "ta", "te", "tg", "th", "ti",
    "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur", "uz", "ve", "vi", "vo",
    "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

/// Looks `code` up among ISO 639-1 codes (exact, lowercase).
pub(crate) fn iso_639_1(code: &str) -> Option<&'static str> {
    ISO_639_1.binary_search(&code).ok().map(|i| ISO_639_1[i])
}

/// Normalises a platform language tag to an ISO 639-1 code.
///
/// Case-insensitive; region or script suffixes are dropped (`zh-cn`, `zh-TW`,
/// `pt_BR`, `en-gb`); deprecated codes are mapped (`in` -> `id`, `iw` -> `he`,
/// `ji` -> `yi`, `fil` -> `tl`, `nb`/`nn` stay). Returns `None` for tags that
/// say "unknown" (`und`, `zxx` no linguistic content, Twitter's `qme` media
/// link, `qst` very short, `qht` hashtags only, `qam` mentions only, `qct`
/// cashtags only, `art`, empty) and for anything unrecognised.
pub fn normalize_hint(code: &str) -> Option<&'static str> {
    let code = code.trim();
    let base = code.split(['-', '_']).next().unwrap_or("");
    if base.is_empty() || base.len() > 3 || !base.is_ascii() {
        return None;
    }
    let mut buf = [0u8; 3];
    let lower = &mut buf[..base.len()];
    lower.copy_from_slice(base.as_bytes());
    lower.make_ascii_lowercase();
    let lower = std::str::from_utf8(lower).ok()?;
    let mapped = match lower {
        "in" => "id",
        "iw" => "he",
        "ji" => "yi",
        "fil" => "tl",
        "jw" => "jv",
        "mo" => "ro",
        _ => lower,
    };
    iso_639_1(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(ISO_639_1.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn normalises_platform_tags() {
        assert_eq!(normalize_hint("in"), Some("id"));
        assert_eq!(normalize_hint("iw"), Some("he"));
        assert_eq!(normalize_hint("zh-cn"), Some("zh"));
        assert_eq!(normalize_hint("zh-TW"), Some("zh"));
        assert_eq!(normalize_hint("pt_BR"), Some("pt"));
        assert_eq!(normalize_hint("EN"), Some("en"));
        assert_eq!(normalize_hint("ca"), Some("ca"));
        for unknown in [
            "und", "zxx", "qme", "qst", "qht", "qam", "qct", "art", "", "x", "xx", "engl",
        ] {
            assert_eq!(normalize_hint(unknown), None, "{unknown}");
        }
    }
}
