//! Language detection for short social posts.
//!
//! Language decides which sentiment scorer applies (VADER is English-only) and
//! how alert windows split per watch x language, so a spike among Spanish
//! speakers is not drowned by English volume.
//!
//! # Design
//! * **Tweet-aware stripping** ([`strip_for_detection`]): @mentions, URLs,
//!   `RT`, hashtag marks, emoji, digits and HTML entities are removed before
//!   detection. Measured on real tweets this matters more than the choice of
//!   library for the slower ones, and it removes the English bias that
//!   `@brand ... https://...` gives every post.
//! * **Two modes** ([`Mode`]): `fast` is whichlang (a hashed n-gram linear
//!   model, pure Rust, no model loading) at several hundred thousand posts/s
//!   per core. `accurate` is a cascade: whichlang's answer is kept when its
//!   score margin is wide, otherwise lingua (high-accuracy mode, built with
//!   only 15 language models through its cargo features) decides. The
//!   margin threshold was chosen on the evaluation sets so that lingua sees
//!   only the hard minority of posts. whichlang's per-class scores are not
//!   public, so its weights are vendored (MIT) and a unit test checks that
//!   the argmax matches the crate's.
//! * **Markets and `other`**: detection runs over the mode's whole
//!   [`Mode::repertoire`], then anything outside the configured markets is
//!   reported as [`OTHER`], so e.g. a Dutch post is not forced into German.
//!   Languages neither library knows (Catalan, Galician) still land in the
//!   nearest known language; a platform hint naming them wins (see below).
//! * **Platform hints** ([`normalize_hint`] and the rule on
//!   [`Detector::detect`]): the hint decides when there is too little text,
//!   when the detector is not confident, or when it names a language the
//!   detector cannot produce; otherwise the detector wins. Every disagreement
//!   is flagged in [`Detection::hint_disagreed`] so the caller can export a
//!   disagreement rate per language.
//! * **Hot path**: [`Detector::detect`] takes a caller-owned scratch buffer.
//!   Fast mode allocates nothing once the buffer is warm; the lingua fallback
//!   allocates internally (its API takes owned strings).
//!
//! No model is downloaded at run time: whichlang's weights and lingua's models
//! are compiled in. Figures (accuracy per set, speed, RSS, binary size) and
//! the commands that produce them are in the crate README.
#![deny(missing_docs)]

mod detector;
mod hint;
mod strip;
mod whichlang_weights;

pub use detector::{
    Detection, Detector, DetectorConfig, Mode, OTHER, Source, UND, whichlang_reference,
};
pub use hint::normalize_hint;
pub use strip::{HashtagPolicy, strip_for_detection, strip_for_detection_with};

/// Errors building a [`Detector`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not an ISO 639-1 code.
    #[error("unknown language code {0:?} (expected ISO 639-1, e.g. \"en\")")]
    UnknownLanguage(String),
    /// A real language the chosen mode cannot recognise.
    #[error("language {code:?} is not supported in {mode} mode (see Mode::repertoire)")]
    Unsupported {
        /// The code as configured.
        code: String,
        /// The mode's name.
        mode: &'static str,
    },
    /// The language set is empty.
    #[error("no languages configured")]
    NoLanguages,
    /// Not `fast` or `accurate`.
    #[error("unknown mode {0:?} (expected \"fast\" or \"accurate\")")]
    UnknownMode(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mode: Mode, langs: &[&str]) -> DetectorConfig {
        DetectorConfig {
            mode,
            languages: langs.iter().map(|s| s.to_string()).collect(),
            ..DetectorConfig::default()
        }
    }

    #[test]
    fn config_errors_name_the_code() {
        let e = Detector::new(&cfg(Mode::Fast, &["en", "xx"]))
            .err()
            .unwrap();
        assert_eq!(e, Error::UnknownLanguage("xx".into()));
        assert!(e.to_string().contains("\"xx\""));
        let e = Detector::new(&cfg(Mode::Fast, &["id"])).err().unwrap();
        assert!(matches!(e, Error::Unsupported { ref code, .. } if code == "id"));
        assert_eq!(
            Detector::new(&cfg(Mode::Fast, &[])).err(),
            Some(Error::NoLanguages)
        );
    }

    #[test]
    fn detector_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Detector>();
    }

    #[test]
    fn markets_other_und_and_hints() {
        let d = Detector::new(&cfg(Mode::Fast, &["en", "es"])).unwrap();
        let mut buf = String::new();
        let r = d.detect(
            "@brand el pedido llegó roto y nadie responde https://t.co/x",
            None,
            &mut buf,
        );
        assert_eq!((r.lang, r.source), ("es", Source::Detector));
        let r = d.detect(
            "de bestelling is kapot aangekomen en niemand reageert",
            None,
            &mut buf,
        );
        assert_eq!((r.lang, r.detected), (OTHER, Some("nl")));
        let r = d.detect("@brand 👍 http://x", None, &mut buf);
        assert_eq!((r.lang, r.source), (UND, Source::TooShort));
        let r = d.detect("@brand 👍 http://x", Some("es"), &mut buf);
        assert_eq!((r.lang, r.source), ("es", Source::Hint));
        // A language the detector cannot produce: the hint wins, maps to other.
        let r = d.detect("la comanda ha arribat trencada", Some("ca"), &mut buf);
        assert_eq!(
            (r.lang, r.source, r.hint_disagreed),
            (OTHER, Source::Hint, true)
        );
        // A confident detector beats a wrong hint, and the disagreement is flagged.
        let r = d.detect(
            "the order arrived broken and nobody answers my emails",
            Some("es"),
            &mut buf,
        );
        assert_eq!((r.lang, r.hint_disagreed, r.confident), ("en", true, true));
        let r = d.detect("the order arrived broken", Some("und"), &mut buf);
        assert_eq!((r.lang, r.hint, r.hint_disagreed), ("en", None, false));
    }

    #[test]
    fn accurate_mode_knows_indonesian() {
        let d = Detector::new(&cfg(Mode::Accurate, &["en", "id"])).unwrap();
        let mut buf = String::new();
        let r = d.detect(
            "pesanan saya belum sampai dan tidak ada yang membalas",
            None,
            &mut buf,
        );
        assert_eq!(r.lang, "id");
    }
}
