//! The normalize stage: which watches a post matches.
//!
//! A watch is a brand, handle or keyword set. Patterns:
//! - `@x` matches a mention of handle `x` (case-insensitive), in the text or
//!   the platform's mention entities;
//! - `#x` matches hashtag `x`, likewise;
//! - anything else matches a word or phrase on word boundaries,
//!   case-insensitive, with any run of whitespace between its words.
//!
//! All patterns of all watches go into one Aho-Corasick automaton over the
//! lowercased, whitespace-collapsed text, so matching costs one pass per post
//! whatever the number of watches.

use crate::{Error, PostStage, Verdict};
use aho_corasick::{AhoCorasick, MatchKind};
use canary_core::Post;
use serde::{Deserialize, Serialize};

/// Settings of one section that a watch sets differently from the file.
pub type SectionOverride = serde_json::Map<String, serde_json::Value>;

/// One watch in the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// Name used in alerts and metric labels.
    pub name: String,
    /// Patterns: `@handle`, `#hashtag`, or a word/phrase.
    #[serde(rename = "match")]
    pub patterns: Vec<String>,
    /// The brand's own accounts (`@handle`, or a Bluesky `did:plc:...`): their posts always belong to
    /// the watch, and posts mentioning or replying to them are measured for
    /// social care (`[care]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// `[alert]` keys this watch sets differently (e.g. `alert = { min_volume = 10 }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<SectionOverride>,
    /// `[volume]` keys this watch sets differently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<SectionOverride>,
    /// `[baseline]` keys this watch sets differently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<SectionOverride>,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A handle as the platforms write it: `acme` (X), `acme.bsky.social`
/// (Bluesky), `acme@mastodon.social` (Mastodon): word characters, with
/// inner dots, hyphens and at most one inner `@`.
fn is_handle(h: &str) -> bool {
    h.chars().next().is_some_and(is_word)
        && h.chars().next_back().is_some_and(is_word)
        && h.chars().all(|c| is_word(c) || ".-@".contains(c))
        && h.matches('@').count() <= 1
}

const HANDLE_FORMS: &str = "a handle is `@acme`, `@acme.bsky.social` or `@acme@mastodon.social` (letters, digits, '_', inner '.', '-' and one '@')";

/// A Bluesky DID (`did:plc:...`, `did:web:...`): Jetstream names authors
/// only by DID, so a brand account on Bluesky is given as one.
fn is_did(h: &str) -> bool {
    let Some((method, id)) = h.strip_prefix("did:").and_then(|r| r.split_once(':')) else {
        return false;
    };
    !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && !id.is_empty()
        && !id.ends_with(':')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:%-".contains(&b))
}

const ACCOUNT_FORMS: &str = "an account is a handle (`@acme`, `@acme.bsky.social`, `@acme@mastodon.social`) or a Bluesky DID (`did:plc:...`)";

/// Lowercases `text` into `out`, collapsing each whitespace run to one space.
fn fold(text: &str, out: &mut String) {
    out.clear();
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
}

/// Compiled patterns of every watch.
#[derive(Debug, Clone)]
pub struct WatchMatcher {
    names: Vec<String>,
    automaton: AhoCorasick,
    /// Watch index of each automaton pattern.
    owner: Vec<usize>,
    /// Whether each automaton pattern is a handle (`@...`).
    handle_pattern: Vec<bool>,
    /// Mentions (`@x` → x) and hashtags (`#x` → x) per watch, for entity lists.
    handles: Vec<(String, usize)>,
    tags: Vec<(String, usize)>,
    /// Each watch's own accounts (lowercased, without `@`).
    accounts: Vec<(String, usize)>,
}

impl WatchMatcher {
    /// Compiles `watches`, checking names and patterns.
    pub fn new(watches: &[WatchConfig]) -> Result<Self, Error> {
        let mut names = Vec::new();
        let mut accounts = Vec::new();
        let (mut pats, mut owner, mut handles, mut tags) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, w) in watches.iter().enumerate() {
            let err_at = |field: &'static str, m: String| Error::Watch {
                watch: if w.name.is_empty() {
                    format!("#{}", i + 1)
                } else {
                    w.name.clone()
                },
                index: i,
                field,
                message: m,
            };
            let err = |m: String| err_at("match", m);
            if w.name.is_empty()
                || !w
                    .name
                    .chars()
                    .all(|c| c.is_alphanumeric() || "_-.:".contains(c))
            {
                return Err(err_at(
                    "name",
                    "name must be non-empty letters, digits, '_', '-', '.' or ':'".into(),
                ));
            }
            // Matching ignores case, so `acme` and `ACME` would count the
            // same posts twice and page twice for one spike.
            if let Some(first) = names
                .iter()
                .find(|n: &&String| n.to_lowercase() == w.name.to_lowercase())
            {
                return Err(err_at(
                    "name",
                    if *first == w.name {
                        "defined twice".into()
                    } else {
                        format!(
                            "same name as watch {first:?} (names are compared ignoring case, as matching is)"
                        )
                    },
                ));
            }
            if w.patterns.is_empty() {
                return Err(err("`match` needs at least one pattern".into()));
            }
            for a in &w.accounts {
                let h = a.strip_prefix('@').unwrap_or(a);
                if !is_handle(h) && !is_did(h) {
                    return Err(err_at(
                        "accounts",
                        format!("account {a:?}: {ACCOUNT_FORMS}"),
                    ));
                }
                accounts.push((h.to_lowercase(), i));
            }
            for p in &w.patterns {
                let mut folded = String::new();
                fold(p, &mut folded);
                let body = folded.strip_prefix(['@', '#']).unwrap_or(&folded);
                if body.is_empty() {
                    return Err(err(format!("empty pattern {p:?}")));
                }
                if folded.starts_with('@') && !is_handle(body) {
                    return Err(err(format!("pattern {p:?}: {HANDLE_FORMS}")));
                }
                if folded.starts_with('#') && !body.chars().all(is_word) {
                    return Err(err(format!(
                        "pattern {p:?}: a hashtag holds only letters, digits and '_'"
                    )));
                }
                if folded.starts_with('@') {
                    handles.push((body.to_owned(), i));
                } else if folded.starts_with('#') {
                    tags.push((body.to_owned(), i));
                }
                pats.push(folded);
                owner.push(i);
            }
            names.push(w.name.clone());
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&pats)
            .map_err(|e| Error::Watch {
                watch: "*".into(),
                index: 0,
                field: "match",
                message: e.to_string(),
            })?;
        Ok(WatchMatcher {
            names,
            automaton,
            handle_pattern: pats.iter().map(|p| p.starts_with('@')).collect(),
            owner,
            handles,
            tags,
            accounts,
        })
    }

    fn is_handle_pattern(&self, i: usize) -> bool {
        self.handle_pattern.get(i).copied().unwrap_or(false)
    }

    /// Watch names, in config order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Sets `hits[i]` for each watch `i` that `post` matches. `scratch` is reused.
    pub fn matches(&self, post: &Post, scratch: &mut String, hits: &mut [bool]) {
        // A watch's own accounts belong to it whatever they write.
        if let Some(author) = &post.author {
            for (a, w) in &self.accounts {
                if a.eq_ignore_ascii_case(author) {
                    hits[*w] = true;
                }
            }
        }
        fold(&post.text, scratch);
        let text = scratch.as_str();
        for m in self.automaton.find_overlapping_iter(text) {
            let w = self.owner[m.pattern().as_usize()];
            if hits[w] {
                continue;
            }
            let before_ok = !text[..m.start()].chars().next_back().is_some_and(is_word);
            let mut after = text[m.end()..].chars();
            let after_ok = match after.next() {
                None => true,
                Some(c) if is_word(c) => false,
                // `@acme` is not `@acme.bsky.social` nor `@acme@mastodon.social`,
                // but it ends a sentence with `@acme.`
                Some(c) if ".-@".contains(c) && self.is_handle_pattern(m.pattern().as_usize()) => {
                    !after.next().is_some_and(is_word)
                }
                Some(_) => true,
            };
            if before_ok && after_ok {
                hits[w] = true;
            }
        }
        for (list, entities) in [
            (&self.handles, &post.mentions),
            (&self.tags, &post.hashtags),
        ] {
            for e in entities {
                for (h, w) in list.iter() {
                    if !hits[*w]
                        && (h.eq_ignore_ascii_case(e) || (!e.is_ascii() && *h == e.to_lowercase()))
                    {
                        hits[*w] = true;
                    }
                }
            }
        }
    }
}

/// The normalize stage.
#[derive(Debug, Clone)]
pub struct Normalizer {
    matcher: WatchMatcher,
    scratch: String,
    hits: Vec<bool>,
    /// Each watch name as [`brand_key`] writes it, computed once.
    brand_keys: Vec<String>,
    brand_scratch: String,
}

impl Normalizer {
    /// A normalizer for these watches.
    pub fn new(watches: &[WatchConfig]) -> Result<Self, Error> {
        let matcher = WatchMatcher::new(watches)?;
        let hits = vec![false; matcher.names.len()];
        let brand_keys = matcher
            .names
            .iter()
            .map(|n| {
                let mut k = String::new();
                brand_key(n, &mut k);
                k
            })
            .collect();
        Ok(Normalizer {
            matcher,
            scratch: String::new(),
            hits,
            brand_keys,
            brand_scratch: String::new(),
        })
    }

    /// The compiled watches.
    pub fn matcher(&self) -> &WatchMatcher {
        &self.matcher
    }
}

/// Writes `s`'s letters and digits, lowercased, into `out`: watch names and
/// brands compare on that, so `usairways` is the brand `US Airways`.
fn brand_key(s: &str, out: &mut String) {
    out.clear();
    out.extend(
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase),
    );
}

impl PostStage for Normalizer {
    const NAME: &'static str = "normalize";

    fn process(&mut self, post: &mut Post) -> Verdict {
        self.hits.fill(false);
        self.matcher
            .matches(post, &mut self.scratch, &mut self.hits);
        // A brand the source names (a CSV brand column) counts like a match.
        if let Some(b) = &post.brand {
            brand_key(b, &mut self.brand_scratch);
            if let Some(i) = self
                .brand_keys
                .iter()
                .position(|k| !k.is_empty() && *k == self.brand_scratch)
            {
                self.hits[i] = true;
            }
        }
        post.watches.clear();
        for (i, hit) in self.hits.iter().enumerate() {
            if *hit {
                post.watches.push(self.matcher.names[i].clone());
            }
        }
        if post.watches.is_empty() {
            Verdict::Drop("unwatched")
        } else {
            Verdict::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(name: &str, pats: &[&str]) -> WatchConfig {
        WatchConfig {
            name: name.into(),
            patterns: pats.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn matched(n: &mut Normalizer, text: &str) -> Vec<String> {
        let mut p = Post::new("1", 0, text);
        n.process(&mut p);
        p.watches
    }

    #[test]
    fn posts_of_a_watch_account_belong_to_it() {
        let mut w = watch("acme", &["#acmefail"]);
        w.accounts = vec!["@AcmeHelp".into()];
        let mut n = Normalizer::new(&[w, watch("zed", &["zed"])]).unwrap();
        let mut p = Post::new("1", 0, "Sorry to hear that, DM us");
        p.author = Some("acmehelp".into());
        n.process(&mut p);
        assert_eq!(p.watches, vec!["acme"]);
        let mut bad = watch("x", &["x"]);
        bad.accounts = vec!["@a b".into()];
        assert!(Normalizer::new(&[bad]).is_err());
        // Bluesky authors are DIDs.
        let mut w = watch("acme", &["#acmefail"]);
        w.accounts = vec!["did:plc:z72i7hdynmk6r22z27h6tvur".into()];
        let mut n = Normalizer::new(&[w]).unwrap();
        let mut p = Post::new("2", 0, "We're on it");
        p.author = Some("did:plc:z72i7hdynmk6r22z27h6tvur".into());
        n.process(&mut p);
        assert_eq!(p.watches, vec!["acme"]);
        for bad_did in [
            "did:plc:",
            "did::x",
            "did:PLC:x",
            "did:plc:a b",
            "did:plc:x:",
        ] {
            let mut bad = watch("x", &["x"]);
            bad.accounts = vec![bad_did.into()];
            assert!(Normalizer::new(&[bad]).is_err(), "{bad_did}");
        }
    }

    #[test]
    fn handles_tags_and_phrases_on_word_boundaries() {
        let mut n = Normalizer::new(&[
            watch("acme", &["@acme", "@acmehelp", "#acmefail", "acme corp"]),
            watch("zed", &["zed"]),
        ])
        .unwrap();
        assert_eq!(matched(&mut n, "Hey @ACME why"), vec!["acme"]);
        assert_eq!(
            matched(&mut n, "@acmehelpdesk is not us"),
            Vec::<String>::new()
        );
        assert_eq!(
            matched(&mut n, "write to me@acme.com"),
            Vec::<String>::new()
        );
        assert_eq!(matched(&mut n, "#AcmeFail again"), vec!["acme"]);
        assert_eq!(matched(&mut n, "#acmefailure"), Vec::<String>::new());
        assert_eq!(matched(&mut n, "ACME\n  Corp. is down"), vec!["acme"]);
        assert_eq!(matched(&mut n, "acme corporate"), Vec::<String>::new());
        assert_eq!(matched(&mut n, "zed and Acme Corp"), vec!["acme", "zed"]);
        assert_eq!(matched(&mut n, "zedd"), Vec::<String>::new());
    }

    #[test]
    fn bluesky_and_mastodon_handles_match_in_text_and_mentions() {
        let mut n = Normalizer::new(&[
            watch("bsky", &["@Acme.bsky.social"]),
            watch("masto", &["@acme@mastodon.social"]),
            watch("x", &["@acme"]),
        ])
        .unwrap();
        assert_eq!(matched(&mut n, "why @acme.bsky.social, why?"), vec!["bsky"]);
        assert_eq!(matched(&mut n, "cc @acme@mastodon.social"), vec!["masto"]);
        assert_eq!(matched(&mut n, "ask @acme."), vec!["x"]);
        assert_eq!(
            matched(&mut n, "@acme.bsky.socialite"),
            Vec::<String>::new()
        );
        let mut p = Post::new("1", 0, "no handle in the text");
        p.mentions = vec!["acme.bsky.social".into(), "acme@mastodon.social".into()];
        n.process(&mut p);
        assert_eq!(p.watches, vec!["bsky", "masto"]);
        for bad in ["@.acme", "@acme.", "@a@b@c", "@a b", "@"] {
            assert!(
                Normalizer::new(&[watch("w", &[bad])]).is_err(),
                "{bad} should be refused"
            );
        }
        assert!(Normalizer::new(&[watch("w", &["#acme.fail"])]).is_err());
    }

    #[test]
    fn entity_lists_match_too() {
        let mut n = Normalizer::new(&[watch("acme", &["@AcmeHelp"])]).unwrap();
        let mut p = Post::new("1", 0, "text without the handle");
        p.mentions = vec!["acmehelp".into()];
        assert_eq!(n.process(&mut p), Verdict::Keep);
        assert_eq!(p.watches, vec!["acme"]);
    }

    #[test]
    fn a_brand_named_by_the_source_counts_for_its_watch() {
        let mut n = Normalizer::new(&[
            watch("usairways", &["@usairways"]),
            watch("united", &["@united"]),
        ])
        .unwrap();
        let mut p = Post::new("1", 0, "no handle in this text");
        p.brand = Some("US Airways".into());
        assert_eq!(n.process(&mut p), Verdict::Keep);
        assert_eq!(p.watches, vec!["usairways"]);
        // The text still matches on its own; an unknown brand adds nothing.
        let mut p = Post::new("2", 0, "@united lost my bag");
        p.brand = Some("Virgin America".into());
        assert_eq!(n.process(&mut p), Verdict::Keep);
        assert_eq!(p.watches, vec!["united"]);
        let mut p = Post::new("3", 0, "nothing");
        p.brand = Some(" ".into());
        assert_eq!(n.process(&mut p), Verdict::Drop("unwatched"));
    }

    #[test]
    fn unicode_case_folding() {
        let mut n = Normalizer::new(&[watch("cafe", &["Café Noir"])]).unwrap();
        assert_eq!(matched(&mut n, "au CAFÉ NOIR ce matin"), vec!["cafe"]);
    }

    #[test]
    fn invalid_watches_are_refused_with_their_name() {
        for (w, msg) in [
            (watch("", &["x"]), "#1"),
            (watch("a b", &["x"]), "a b"),
            (watch("a", &[]), "at least one"),
            (watch("a", &["@"]), "empty pattern"),
            (watch("a", &["@a b"]), "a handle is"),
        ] {
            let e = Normalizer::new(&[w]).unwrap_err().to_string();
            assert!(e.contains(msg), "{e}");
        }
        let e = Normalizer::new(&[watch("a", &["x"]), watch("a", &["y"])]).unwrap_err();
        assert!(e.to_string().contains("defined twice"));
    }
}
