//! The sentiment stage: VADER scores for posts in a language VADER supports.
//!
//! VADER's lexicon, idioms and negation rules are English. Scoring Spanish or
//! Arabic with it yields mostly 0.0 (neutral) and a few accidental hits on
//! shared words, which would drag a watch's negative share towards zero and
//! hide a real spike. Posts in other languages therefore flow on unscored:
//! they count in a window's volume but never in its negative share.

use crate::{Error, PostStage, Verdict};
use canary_core::Post;
use canary_vader::Analyzer;
use serde::{Deserialize, Serialize};

/// Languages the scorer supports.
pub const SUPPORTED: &[&str] = &["en"];

/// `[sentiment]` in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SentimentConfig {
    /// Languages to score. Each must be one the scorer supports (`en`).
    pub languages: Vec<String>,
}

impl Default for SentimentConfig {
    fn default() -> Self {
        SentimentConfig {
            languages: vec!["en".into()],
        }
    }
}

/// The sentiment stage.
pub struct SentimentStage {
    analyzer: Analyzer,
    languages: Vec<String>,
}

impl SentimentStage {
    /// Checks the language list against what VADER supports.
    pub fn new(cfg: &SentimentConfig) -> Result<Self, Error> {
        for l in &cfg.languages {
            if !SUPPORTED.contains(&l.as_str()) {
                return Err(Error::Sentiment(format!(
                    "language {l:?} is not supported by the VADER scorer (supported: {})",
                    SUPPORTED.join(", ")
                )));
            }
        }
        Ok(SentimentStage {
            analyzer: Analyzer::new(),
            languages: cfg.languages.clone(),
        })
    }
}

impl PostStage for SentimentStage {
    const NAME: &'static str = "sentiment";

    fn process(&mut self, post: &mut Post) -> Verdict {
        post.sentiment = match post.lang.as_deref() {
            Some(l) if self.languages.iter().any(|x| x == l) => {
                Some(self.analyzer.polarity_scores(&post.text))
            }
            _ => None,
        };
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_only_supported_languages() {
        let mut s = SentimentStage::new(&SentimentConfig::default()).unwrap();
        let mut p = Post::new("1", 0, "This is the worst service ever, I hate it");
        p.lang = Some("en".into());
        s.process(&mut p);
        assert!(p.is_negative());
        let mut q = Post::new("2", 0, "This is the worst service ever, I hate it");
        q.lang = Some("es".into());
        s.process(&mut q);
        assert_eq!(q.sentiment, None);
        assert!(
            SentimentStage::new(&SentimentConfig {
                languages: vec!["es".into()]
            })
            .is_err()
        );
    }
}
