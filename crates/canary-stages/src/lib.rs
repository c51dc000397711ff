//! canary's per-post stages, synchronous and I/O-free: the same values run in
//! the embedded pipeline, in Kafka stage processes, in benches and in tests.
//!
//! # Layout
//! - [`normalize`]: which watches a post matches (`@handle`, `#tag`, words and
//!   phrases on word boundaries); posts matching none leave the pipeline here.
//! - [`language`]: the post's language, from a detector with the platform's tag as a hint.
//! - [`sentiment`]: scores for the languages canary can score (VADER for English).
//! - [`Chain`]: all three in order, for tests and benches.
//!
//! - [`aggregate`]: the edge around `canary_core::aggregate::Aggregator` that
//!   every transport shares (typed outputs, drop counts, refusals).
#![deny(missing_docs)]

pub mod aggregate;
pub mod language;
pub mod normalize;
pub mod sentiment;

pub use aggregate::{AggregateStage, PostFate, StageBatch};
pub use language::{LanguageConfig, LanguageStage};
pub use normalize::{Normalizer, WatchConfig, WatchMatcher};
pub use sentiment::{SentimentConfig, SentimentStage};

use canary_core::Post;

/// Errors building a stage from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A watch definition is invalid.
    #[error("watch {watch:?}: {message}")]
    Watch {
        /// The watch's name (or index when unnamed).
        watch: String,
        /// 0-based position of the watch in the config.
        index: usize,
        /// The key at fault: `name` or `match`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The language detector refused its configuration.
    #[error("language")]
    Language(#[from] canary_lang::Error),
    /// A sentiment setting is invalid.
    #[error("sentiment: {0}")]
    Sentiment(String),
}

/// What a stage decided about one post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The post goes on to the next stage.
    Keep,
    /// The post leaves the pipeline here, for this (metric-label) reason. Not an
    /// error: e.g. a post that matches no watch.
    Drop(&'static str),
}

/// A stage that enriches posts in place.
pub trait PostStage: Send {
    /// Stage name, as in metrics and dead letters.
    const NAME: &'static str;
    /// Processes one post.
    fn process(&mut self, post: &mut Post) -> Verdict;
}

/// Normalize, language and sentiment in one value.
pub struct Chain {
    /// Watch matching.
    pub normalize: Normalizer,
    /// Language detection.
    pub language: LanguageStage,
    /// Sentiment scoring.
    pub sentiment: SentimentStage,
}

impl Chain {
    /// Runs the three stages on one post.
    pub fn process(&mut self, post: &mut Post) -> Verdict {
        match self.normalize.process(post) {
            Verdict::Keep => {}
            d => return d,
        }
        match self.language.process(post) {
            Verdict::Keep => {}
            d => return d,
        }
        self.sentiment.process(post)
    }
}
