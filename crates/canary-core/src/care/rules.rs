//! Which directed posts are actionable, and how the triage queue ranks them.
//!
//! The rules are deliberately simple and documented in the README, so a care
//! team can predict what lands in its queue:
//! - a **question**: a question mark (`?`, `¿`, `؟`, `？`), or one of a short
//!   list of interrogative words as the post's first word, for the languages
//!   canary scores or detects (en, es, pt, fr, de, it);
//! - a **complaint**: a negative compound (≤ −0.05), or one of a short list
//!   of complaint words anywhere in the post;
//! - never a retweet or boost (checked by the caller).

use crate::record::Post;

/// Interrogative first words per language (lowercase).
const QUESTION_WORDS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "how", "why", "when", "where", "what", "who", "which", "can", "could", "is", "are",
            "do", "does", "did", "will", "would", "should", "any", "anyone",
        ],
    ),
    (
        "es",
        &[
            "qué", "que", "cómo", "como", "cuándo", "dónde", "por", "quién", "cuál", "puedo",
            "pueden",
        ],
    ),
    (
        "pt",
        &[
            "como", "quando", "onde", "porque", "por", "quem", "qual", "posso", "podem",
        ],
    ),
    (
        "fr",
        &[
            "comment", "pourquoi", "quand", "où", "qui", "quel", "quelle", "est-ce", "pouvez",
        ],
    ),
    (
        "de",
        &[
            "wie", "warum", "wann", "wo", "wer", "was", "welche", "kann", "können", "könnt",
        ],
    ),
    (
        "it",
        &[
            "come", "perché", "quando", "dove", "chi", "quale", "posso", "potete",
        ],
    ),
];

/// Complaint words (lowercase; a post containing one as a word complains).
const COMPLAINT_WORDS: &[&str] = &[
    "refund",
    "broken",
    "cancelled",
    "canceled",
    "delayed",
    "delay",
    "lost",
    "missing",
    "complaint",
    "complain",
    "issue",
    "problem",
    "waiting",
    "worst",
    "terrible",
    "awful",
    "unacceptable",
    "outage",
    "down",
    "error",
    "fail",
    "failed",
    "reembolso",
    "queja",
    "reclamação",
    "remboursement",
    "erstattung",
    "rimborso",
];

/// Why a post is in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actionable {
    /// It asks something.
    pub question: bool,
    /// It complains.
    pub complaint: bool,
}

impl Actionable {
    /// Whether either rule holds.
    pub fn any(self) -> bool {
        self.question || self.complaint
    }

    /// The reasons, as written in triage records.
    pub fn reasons(self) -> Vec<String> {
        let mut r = Vec::new();
        if self.question {
            r.push("question".to_owned());
        }
        if self.complaint {
            r.push("complaint".to_owned());
        }
        r
    }
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
}

/// The first word that is not a mention, a hashtag or a link.
fn first_word(text: &str) -> Option<&str> {
    text.split_whitespace()
        .find(|w| !w.starts_with(['@', '#']) && !w.starts_with("http"))
        .and_then(|w| words(w).next())
}

/// Applies the rules to `post` (its `lang` and `sentiment` as the stages set them).
pub fn actionable(post: &Post) -> Actionable {
    let text = post.text.as_str();
    let question = text.contains(['?', '¿', '؟', '？']) || {
        let lang = post.lang.as_deref().unwrap_or("en");
        let list = QUESTION_WORDS
            .iter()
            .find(|(l, _)| *l == lang)
            .map_or(QUESTION_WORDS[0].1, |(_, w)| *w);
        first_word(text).is_some_and(|w| list.iter().any(|q| w.to_lowercase() == *q))
    };
    let complaint = post.is_negative()
        || words(text).any(|w| {
            COMPLAINT_WORDS
                .iter()
                .any(|c| w.len() == c.len() && w.to_lowercase() == *c)
        });
    Actionable {
        question,
        complaint,
    }
}

/// Rank of a queued post: negativity × reach × age, each at least 1, so a
/// neutral question from an account with no followers still ranks by age.
/// - negativity: `1 + max(0, −compound)` (1..2);
/// - reach: `1 + log10(1 + followers)` (1 when the platform gives none);
/// - age: `1 + hours waited`.
pub fn score(compound: Option<f64>, followers: Option<u64>, age_ms: i64) -> f64 {
    let neg = 1.0 + (-compound.unwrap_or(0.0)).max(0.0);
    let reach = 1.0 + (1.0 + followers.unwrap_or(0) as f64).log10();
    let age = 1.0 + age_ms.max(0) as f64 / 3_600_000.0;
    let s = neg * reach * age;
    (s * 1e4).round() / 1e4
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Sentiment;

    fn post(text: &str, compound: f64) -> Post {
        let mut p = Post::new("1", 0, text);
        p.lang = Some("en".into());
        p.sentiment = Some(Sentiment {
            compound,
            ..Default::default()
        });
        p
    }

    #[test]
    fn questions_and_complaints() {
        assert!(actionable(&post("@acme where is my parcel", 0.0)).question);
        assert!(actionable(&post("@acme parcel arrived?", 0.0)).question);
        assert!(!actionable(&post("@acme thanks, parcel arrived", 0.6)).any());
        let c = actionable(&post("@acme still waiting for my refund", 0.0));
        assert!(c.complaint && !c.question);
        assert!(actionable(&post("@acme you ruined my day", -0.5)).complaint);
        // A word containing a complaint word is not one.
        assert!(!actionable(&post("@acme downloaded it, lovely", 0.6)).any());
        let mut es = post("@acme cómo cambio mi vuelo", 0.0);
        es.lang = Some("es".into());
        es.sentiment = None;
        assert!(actionable(&es).question);
    }

    #[test]
    fn score_grows_with_each_factor() {
        let base = score(Some(0.0), None, 0);
        assert_eq!(base, 1.0);
        assert!(score(Some(-0.8), None, 0) > base);
        assert!(score(Some(0.0), Some(10_000), 0) > base);
        assert!(score(Some(0.0), None, 3_600_000) > base);
        assert_eq!(score(Some(-1.0), Some(9), 3_600_000), 2.0 * 2.0 * 2.0);
    }
}
