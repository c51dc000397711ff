//! The detector: whichlang scores, an optional lingua fallback, market mapping
//! and the platform-hint rule.

use crate::hint::normalize_hint;
use crate::strip::strip_for_detection;
use crate::whichlang_weights::{INTERCEPTS, WEIGHTS};
use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};

/// Output for a post in a language outside the configured set.
pub const OTHER: &str = "other";
/// Output for a post with too little text and no usable hint.
pub const UND: &str = "und";

const N_WHICH: usize = 16;
/// whichlang's class order (`whichlang::LANGUAGES`), as ISO 639-1.
const WHICH_CODES: [&str; N_WHICH] = [
    "ar", "zh", "de", "en", "fr", "hi", "it", "ja", "ko", "nl", "pt", "ru", "es", "sv", "tr", "vi",
];
/// Languages lingua is built with (the crate's lingua cargo features). Adding
/// one means adding its feature in Cargo.toml: each adds a few MB of binary.
const LINGUA: [(&str, Language); 15] = [
    ("ar", Language::Arabic),
    ("de", Language::German),
    ("en", Language::English),
    ("es", Language::Spanish),
    ("fr", Language::French),
    ("hi", Language::Hindi),
    ("id", Language::Indonesian),
    ("it", Language::Italian),
    ("ja", Language::Japanese),
    ("ko", Language::Korean),
    ("nl", Language::Dutch),
    ("pt", Language::Portuguese),
    ("ru", Language::Russian),
    ("tr", Language::Turkish),
    ("zh", Language::Chinese),
];

/// Speed/accuracy trade-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// whichlang only (16 languages, no Indonesian): ~0.3 M+ posts/s per core.
    #[default]
    Fast,
    /// whichlang when its score margin is wide, else lingua (high accuracy,
    /// 15 languages including Indonesian): fewer errors, ~10x slower.
    Accurate,
}

impl Mode {
    /// `fast` or `accurate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Fast => "fast",
            Mode::Accurate => "accurate",
        }
    }

    /// Languages this mode can recognise (the "wider set"): results outside the
    /// configured markets map to [`OTHER`].
    pub fn repertoire(self) -> &'static [&'static str] {
        const ACCURATE: [&str; 15] = {
            let mut out = [""; 15];
            let mut i = 0;
            while i < 15 {
                out[i] = LINGUA[i].0;
                i += 1;
            }
            out
        };
        match self {
            Mode::Fast => &WHICH_CODES,
            Mode::Accurate => &ACCURATE,
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fast" => Ok(Mode::Fast),
            "accurate" => Ok(Mode::Accurate),
            _ => Err(crate::Error::UnknownMode(s.to_owned())),
        }
    }
}

/// How a detector is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectorConfig {
    /// Speed/accuracy trade-off.
    pub mode: Mode,
    /// The brand's market languages (ISO 639-1). Anything else detected is
    /// reported as [`OTHER`].
    pub languages: Vec<String>,
    /// Minimum letters left after stripping for the detector to be asked;
    /// below it the hint decides, or the result is [`UND`].
    pub min_chars: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Fast,
            languages: ["en", "es", "pt", "fr", "de", "it", "ar", "ja"]
                .map(String::from)
                .to_vec(),
            min_chars: 3,
        }
    }
}

/// What decided a [`Detection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The detector's own answer.
    Detector,
    /// The platform hint (detector unsure, too little text, or a language the
    /// detector cannot recognise).
    Hint,
    /// Too little text and no usable hint: [`UND`].
    TooShort,
}

/// Result of [`Detector::detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    /// A configured market code, [`OTHER`] or [`UND`].
    pub lang: &'static str,
    /// The detector's raw answer from its repertoire, before market mapping;
    /// `None` when there was too little text to ask it.
    pub detected: Option<&'static str>,
    /// The normalised platform hint, if it named a language.
    pub hint: Option<&'static str>,
    /// Whether the detector's answer cleared its confidence threshold.
    pub confident: bool,
    /// Hint and detector both named a language and they differ (whichever
    /// won): the per-language disagreement-rate metric counts this.
    pub hint_disagreed: bool,
    /// What decided `lang`.
    pub source: Source,
}

/// Language detector for short posts. `Send + Sync`: share one per process.
pub struct Detector {
    mode: Mode,
    min_chars: usize,
    markets: Vec<&'static str>,
    /// whichlang classes that may win (the mode's repertoire).
    which_allowed: [bool; N_WHICH],
    /// whichlang classes whose wide-margin answer may skip lingua.
    shortcut_ok: [bool; N_WHICH],
    shortcut_margin: f32,
    lingua: Option<LanguageDetector>,
}

/// whichlang score margin (top1 - top2, logit units) above which its answer
/// counts as confident. Chosen on the eval sets (see README).
pub(crate) const FAST_CONFIDENT_MARGIN: f32 = 1.0;
/// In accurate mode, margin above which whichlang's answer is taken without
/// asking lingua. Trades speed for accuracy (see README sweep).
pub(crate) const ACCURATE_SHORTCUT_MARGIN: f32 = 3.0;
/// whichlang answers that Indonesian text (which whichlang lacks) gets with a
/// wide margin: on lingua's 1000 Indonesian test sentences, 425 are called
/// Turkish with margin >= 3, 39 English, under 10 any other. Turkish answers
/// always go to lingua; excluding English too would send every English post
/// there.
const WHICH_BLIND_SPOTS: &[&str] = &["tr"];
/// lingua confidence gap (top1 - top2, 0..1) above which it counts as confident.
pub(crate) const LINGUA_CONFIDENT_GAP: f64 = 0.2;

impl Detector {
    /// Builds a detector. Errors name the offending code: unknown ISO 639-1
    /// codes, and languages the chosen mode cannot recognise (e.g. `id` in
    /// [`Mode::Fast`]).
    pub fn new(config: &DetectorConfig) -> Result<Detector, crate::Error> {
        if config.languages.is_empty() {
            return Err(crate::Error::NoLanguages);
        }
        let repertoire = config.mode.repertoire();
        let mut markets = Vec::with_capacity(config.languages.len());
        for code in &config.languages {
            let Some(iso) = crate::hint::iso_639_1(code) else {
                return Err(crate::Error::UnknownLanguage(code.clone()));
            };
            let Some(known) = repertoire.iter().find(|&&r| r == iso) else {
                return Err(crate::Error::Unsupported {
                    code: code.clone(),
                    mode: config.mode.as_str(),
                });
            };
            if !markets.contains(known) {
                markets.push(*known);
            }
        }
        let which_allowed = WHICH_CODES.map(|c| repertoire.contains(&c));
        // whichlang cannot say Indonesian and mostly calls it Turkish with a
        // wide margin, so that answer must not skip lingua.
        let shortcut_ok = WHICH_CODES.map(|c| !WHICH_BLIND_SPOTS.contains(&c));
        let lingua = match config.mode {
            Mode::Fast => None,
            Mode::Accurate => {
                let langs: Vec<Language> = LINGUA.iter().map(|(_, l)| *l).collect();
                Some(
                    LanguageDetectorBuilder::from_languages(&langs)
                        .with_preloaded_language_models()
                        .build(),
                )
            }
        };
        Ok(Detector {
            mode: config.mode,
            min_chars: config.min_chars,
            markets,
            which_allowed,
            shortcut_ok,
            shortcut_margin: ACCURATE_SHORTCUT_MARGIN,
            lingua,
        })
    }

    /// Overrides the whichlang margin above which accurate mode skips lingua
    /// (for measuring the speed/accuracy trade-off; `f32::INFINITY` = always
    /// lingua).
    #[doc(hidden)]
    pub fn with_shortcut_margin(mut self, margin: f32) -> Self {
        self.shortcut_margin = margin;
        self
    }

    /// Whether accurate mode would ask lingua about this post (measurement).
    #[doc(hidden)]
    pub fn uses_fallback(&self, text: &str, scratch: &mut String) -> bool {
        if self.lingua.is_none() || strip_for_detection(text, scratch) < self.min_chars {
            return false;
        }
        let (best, margin) = self.whichlang_best(scratch);
        !(margin >= self.shortcut_margin && self.shortcut_ok[best])
    }

    /// whichlang's answer (over the whole whichlang set) and margin on
    /// stripped text (measurement).
    #[doc(hidden)]
    pub fn whichlang_margin(stripped: &str) -> (&'static str, f32) {
        let scores = whichlang_scores(stripped);
        let mut order: [usize; N_WHICH] = std::array::from_fn(|i| i);
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        (WHICH_CODES[order[0]], scores[order[0]] - scores[order[1]])
    }

    /// The mode this detector was built with.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The configured market languages, normalised.
    pub fn markets(&self) -> &[&'static str] {
        &self.markets
    }

    /// Detects the language of a raw post. `hint` is the platform's tag as
    /// given (normalised here); `scratch` is a caller-owned buffer reused
    /// across calls (fast mode allocates nothing once it is warm).
    ///
    /// Hint rule, in order:
    /// 1. fewer than `min_chars` letters after stripping: the hint if it names
    ///    a language, else [`UND`];
    /// 2. the hint names a language outside the detector's repertoire (e.g.
    ///    `ca`): the hint, since the detector could not have said it;
    /// 3. the detector is not confident and there is a hint: the hint;
    /// 4. otherwise the detector.
    ///
    /// The winner is then mapped to a market code or [`OTHER`].
    pub fn detect(&self, text: &str, hint: Option<&str>, scratch: &mut String) -> Detection {
        let letters = strip_for_detection(text, scratch);
        self.detect_stripped(scratch, letters, hint)
    }

    /// [`Detector::detect`] for text already passed through
    /// [`strip_for_detection`](crate::strip_for_detection), with the letter
    /// count it returned.
    pub fn detect_stripped(&self, stripped: &str, letters: usize, hint: Option<&str>) -> Detection {
        let hint = hint.and_then(normalize_hint);
        if letters < self.min_chars {
            return match hint {
                Some(h) => self.decided(h, None, hint, false, false, Source::Hint),
                None => Detection {
                    lang: UND,
                    detected: None,
                    hint,
                    confident: false,
                    hint_disagreed: false,
                    source: Source::TooShort,
                },
            };
        }
        let (detected, confident) = self.raw(stripped);
        let disagreed = hint.is_some_and(|h| h != detected);
        match hint {
            Some(h) if disagreed && (!confident || !self.mode.repertoire().contains(&h)) => {
                self.decided(h, Some(detected), hint, confident, true, Source::Hint)
            }
            _ => self.decided(
                detected,
                Some(detected),
                hint,
                confident,
                disagreed,
                Source::Detector,
            ),
        }
    }

    fn decided(
        &self,
        winner: &'static str,
        detected: Option<&'static str>,
        hint: Option<&'static str>,
        confident: bool,
        hint_disagreed: bool,
        source: Source,
    ) -> Detection {
        Detection {
            lang: self.market_or_other(winner),
            detected,
            hint,
            confident,
            hint_disagreed,
            source,
        }
    }

    /// Maps a language code to the configured market code or [`OTHER`].
    pub fn market_or_other(&self, code: &str) -> &'static str {
        self.markets
            .iter()
            .find(|&&m| m == code)
            .copied()
            .unwrap_or(OTHER)
    }

    /// The detector's own answer on stripped text and whether it is confident.
    fn raw(&self, stripped: &str) -> (&'static str, bool) {
        let (best, margin) = self.whichlang_best(stripped);
        match &self.lingua {
            None => (WHICH_CODES[best], margin >= FAST_CONFIDENT_MARGIN),
            Some(_) if margin >= self.shortcut_margin && self.shortcut_ok[best] => {
                (WHICH_CODES[best], true)
            }
            Some(lingua) => {
                let values = lingua.compute_language_confidence_values(stripped);
                match values.as_slice() {
                    [(top, p1), rest @ ..] if *p1 > 0.0 => {
                        let p2 = rest.first().map_or(0.0, |(_, p)| *p);
                        (lingua_code(*top), p1 - p2 >= LINGUA_CONFIDENT_GAP)
                    }
                    // lingua found nothing it knows: keep whichlang's guess.
                    _ => (WHICH_CODES[best], false),
                }
            }
        }
    }

    /// whichlang's best allowed class and its margin over the runner-up.
    fn whichlang_best(&self, text: &str) -> (usize, f32) {
        let scores = whichlang_scores(text);
        let (mut best, mut s1, mut s2) = (3usize, f32::NEG_INFINITY, f32::NEG_INFINITY);
        for (i, &s) in scores.iter().enumerate() {
            if !self.which_allowed[i] {
                continue;
            }
            if s > s1 {
                (s2, s1, best) = (s1, s, i);
            } else if s > s2 {
                s2 = s;
            }
        }
        (best, s1 - s2)
    }
}

fn lingua_code(lang: Language) -> &'static str {
    LINGUA
        .iter()
        .find(|(_, l)| *l == lang)
        .map_or(OTHER, |(c, _)| c)
}

/// Per-class scores of whichlang's linear model, computed exactly as
/// `whichlang::detect_language` does (which returns only the argmax).
fn whichlang_scores(text: &str) -> [f32; N_WHICH] {
    let mut scores = [0f32; N_WHICH];
    let mut n = 0u32;
    whichlang::emit_tokens(text, |feature| {
        n += 1;
        let bucket = feature.to_hash() % whichlang::DIMENSION as u32;
        let idx = bucket as usize * N_WHICH;
        let row: &[f32; N_WHICH] = WEIGHTS[idx..idx + N_WHICH].try_into().expect("row");
        for (s, w) in scores.iter_mut().zip(row) {
            *s += w;
        }
    });
    if n == 0 {
        return scores;
    }
    let inv = 1.0 / (n as f32).sqrt();
    for (s, b) in scores.iter_mut().zip(INTERCEPTS) {
        *s = *s * inv + b;
    }
    scores
}

/// Plain `whichlang::detect_language` as an ISO 639-1 code: the reference
/// the crate is measured against (no stripping, no markets).
pub fn whichlang_reference(text: &str) -> &'static str {
    let lang = whichlang::detect_language(text);
    let i = whichlang::LANGUAGES
        .iter()
        .position(|&l| l == lang)
        .expect("whichlang returns one of its LANGUAGES");
    WHICH_CODES[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_weights_match_whichlang() {
        let all = [true; N_WHICH];
        let d = Detector {
            mode: Mode::Fast,
            min_chars: 0,
            markets: vec![],
            which_allowed: all,
            shortcut_ok: all,
            shortcut_margin: 0.0,
            lingua: None,
        };
        for t in [
            "the parcel never arrived and support is useless",
            "el paquete nunca llegó",
            "o pacote nunca chegou",
            "das Paket ist nie angekommen",
            "le colis n'est jamais arrivé",
            "il pacco non è mai arrivato",
            "الطرد لم يصل أبدا",
            "荷物が届きません",
            "pakket is nooit aangekomen",
        ] {
            assert_eq!(
                WHICH_CODES[d.whichlang_best(t).0],
                whichlang_reference(t),
                "{t}"
            );
        }
    }
}
