//! The language stage: decides each post's language from its text, with the
//! platform's tag as a hint (see `canary_lang` for the rule).

use crate::{Error, PostStage, Verdict};
use canary_core::Post;
use canary_lang::{Detector, DetectorConfig, Mode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[language]` in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LanguageConfig {
    /// `fast` (default) or `accurate`.
    pub mode: String,
    /// The brand's market languages (ISO 639-1). Posts in other languages get
    /// `other`, so they are not forced into a market language.
    pub languages: Vec<String>,
    /// Letters that must remain after stripping mentions, URLs and emoji for
    /// the detector to be asked; below it the platform hint decides, or `und`.
    pub min_chars: usize,
}

impl Default for LanguageConfig {
    fn default() -> Self {
        let d = DetectorConfig::default();
        LanguageConfig {
            mode: "fast".into(),
            languages: d.languages,
            min_chars: d.min_chars,
        }
    }
}

impl LanguageConfig {
    /// The detector configuration this describes.
    pub fn detector_config(&self) -> Result<DetectorConfig, Error> {
        let mode: Mode = self.mode.parse()?;
        Ok(DetectorConfig {
            mode,
            languages: self.languages.clone(),
            min_chars: self.min_chars,
        })
    }
}

/// Per-language counts for the hint-disagreement metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LangCounts {
    /// Posts decided as this language.
    pub posts: u64,
    /// Of these, posts whose platform hint named another language.
    pub hint_disagreed: u64,
}

/// The language stage.
pub struct LanguageStage {
    detector: Detector,
    scratch: String,
    counts: BTreeMap<&'static str, LangCounts>,
}

impl LanguageStage {
    /// Builds the detector.
    pub fn new(cfg: &LanguageConfig) -> Result<Self, Error> {
        Ok(LanguageStage {
            detector: Detector::new(&cfg.detector_config()?)?,
            scratch: String::new(),
            counts: BTreeMap::new(),
        })
    }

    /// Posts and hint disagreements per decided language so far.
    pub fn counts(&self) -> &BTreeMap<&'static str, LangCounts> {
        &self.counts
    }

    /// (language, posts, hint disagreements) since start, as metrics report them.
    pub fn totals(&self) -> Vec<(&'static str, u64, u64)> {
        self.counts
            .iter()
            .map(|(l, c)| (*l, c.posts, c.hint_disagreed))
            .collect()
    }
}

impl PostStage for LanguageStage {
    const NAME: &'static str = "language";

    fn process(&mut self, post: &mut Post) -> Verdict {
        let d = self
            .detector
            .detect(&post.text, post.lang_hint.as_deref(), &mut self.scratch);
        let c = self.counts.entry(d.lang).or_default();
        c.posts += 1;
        c.hint_disagreed += u64::from(d.hint_disagreed);
        match &mut post.lang {
            Some(l) if l == d.lang => {}
            Some(l) => {
                l.clear();
                l.push_str(d.lang);
            }
            None => post.lang = Some(d.lang.to_owned()),
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_and_counts_disagreement() {
        let mut s = LanguageStage::new(&LanguageConfig::default()).unwrap();
        let mut p = Post::new(
            "1",
            0,
            "@acme my order never arrived and nobody answers the phone",
        );
        p.lang_hint = Some("es".into());
        s.process(&mut p);
        assert_eq!(p.lang.as_deref(), Some("en"));
        let mut q = Post::new(
            "2",
            0,
            "@acme mi pedido nunca llegó y nadie contesta el teléfono",
        );
        s.process(&mut q);
        assert_eq!(q.lang.as_deref(), Some("es"));
        assert_eq!(
            s.counts()["en"],
            LangCounts {
                posts: 1,
                hint_disagreed: 1
            }
        );
    }

    #[test]
    fn bad_mode_or_language_is_an_error() {
        let cfg = LanguageConfig {
            mode: "quick".into(),
            ..Default::default()
        };
        assert!(LanguageStage::new(&cfg).is_err());
        let cfg = LanguageConfig {
            languages: vec!["xx".into()],
            ..Default::default()
        };
        assert!(LanguageStage::new(&cfg).is_err());
    }
}
