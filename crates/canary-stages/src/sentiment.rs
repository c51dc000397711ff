//! The sentiment stage: scores for posts in a language canary can score.
//!
//! English is scored by VADER; es, pt, fr, de, it and ar by
//! [`canary_sentiment`]'s per-language lexicons. Scoring a language with
//! another language's lexicon yields mostly 0.0 (neutral), which would drag a
//! watch's negative share towards zero and hide a real spike. Posts in other
//! languages therefore flow on unscored: they count in a window's volume but
//! never in its negative share.

use crate::{Error, PostStage, Verdict};
use canary_core::Post;
use canary_sentiment::Scorer;
use serde::{Deserialize, Serialize};

/// Languages the scorer supports.
pub const SUPPORTED: &[&str] = canary_sentiment::LANGUAGES;

/// `[sentiment]` in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SentimentConfig {
    /// Languages to score. Each must be one the scorer supports
    /// (en es pt fr de it ar); all of them by default.
    pub languages: Vec<String>,
}

impl Default for SentimentConfig {
    fn default() -> Self {
        SentimentConfig {
            languages: SUPPORTED.iter().map(|&l| l.into()).collect(),
        }
    }
}

/// The sentiment stage.
pub struct SentimentStage {
    scorer: Scorer,
    languages: Vec<String>,
}

impl SentimentStage {
    /// Checks the language list against what the scorer supports.
    pub fn new(cfg: &SentimentConfig) -> Result<Self, Error> {
        for l in &cfg.languages {
            if !SUPPORTED.contains(&l.as_str()) {
                return Err(Error::Sentiment(format!(
                    "language {l:?} cannot be scored (supported: {})",
                    SUPPORTED.join(", ")
                )));
            }
        }
        Ok(SentimentStage {
            scorer: Scorer::new(),
            languages: cfg.languages.clone(),
        })
    }
}

impl PostStage for SentimentStage {
    const NAME: &'static str = "sentiment";

    fn process(&mut self, post: &mut Post) -> Verdict {
        post.sentiment = match post.lang.as_deref() {
            Some(l) if self.languages.iter().any(|x| x == l) => self.scorer.score(l, &post.text),
            _ => None,
        };
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_only_configured_languages() {
        let post = |lang: &str, text: &str| {
            let mut p = Post::new("1", 0, text);
            p.lang = Some(lang.into());
            p
        };
        let mut s = SentimentStage::new(&SentimentConfig::default()).unwrap();
        let mut p = post("en", "This is the worst service ever, I hate it");
        s.process(&mut p);
        assert!(p.is_negative());
        let mut p = post("es", "El peor servicio, lo odio");
        s.process(&mut p);
        assert!(p.is_negative());
        let mut p = post("ja", "最悪のサービス");
        s.process(&mut p);
        assert_eq!(p.sentiment, None);
        let mut only_en = SentimentStage::new(&SentimentConfig {
            languages: vec!["en".into()],
        })
        .unwrap();
        let mut p = post("es", "El peor servicio, lo odio");
        only_en.process(&mut p);
        assert_eq!(p.sentiment, None);
        let err = SentimentStage::new(&SentimentConfig {
            languages: vec!["ja".into()],
        });
        assert!(err.is_err());
    }
}
