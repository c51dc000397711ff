//! Generated social-care conversations with known reply delays, and what
//! canary must measure on them.
//!
//! One watch, `acme` (`match = ["@acme", "@acmehelp", "#acmefail"]`,
//! `accounts = ["@acmehelp"]`), and these conversations, three minutes apart:
//! - questions answered by `@acmehelp` within the SLA (10 to 59 minutes),
//!   and a burst of ten whose answers all fall in one window;
//! - complaints answered outside it (61 minutes, 2 hours);
//! - a complaint and a thank-you never answered;
//! - a question that only another user replies to;
//! - a question whose answer arrives 50 s of event time before it (out of
//!   order, within the lateness);
//! - `@acmehelp` mentioning itself; retweets of directed posts;
//! - a v1.1 reply chain: a follow-up to the brand's reply, answered in turn;
//! - replies that name only their parent's id, as v2 payloads without
//!   expansions and Bluesky give them, and mention no account: one to the
//!   brand's answer (directed, answered), one to another (directed, never
//!   answered, half an hour before the end: past a 15-minute SLA, not past
//!   an hour), and one to another user's post (not directed);
//! - with `conversation_ids`, a thread answered through its conversation id
//!   (the brand replies to another post of the thread).
//!
//! [`Conversations::truth`] derives every figure from the generator's own
//! knowledge (post and answer times, stream order, the documented rules),
//! not from canary's code.

use canary_core::{Post, Sentiment};

/// Window length, lateness and SLA the truth assumes.
pub const WINDOW_MS: i64 = 300_000;
/// Allowed lateness.
pub const LATENESS_MS: i64 = 120_000;
/// `care.sla`.
pub const SLA_MS: i64 = 3_600_000;
/// 2024-05-06T10:00:00Z.
pub const T0: i64 = 1_714_989_600_000;

/// The config the conversations are meant for.
pub const CONFIG: &str = r##"[[watch]]
name = "acme"
match = ["@acme", "@acmehelp", "#acmefail"]
accounts = ["@acmehelp"]

[care]
sla = "1h"
"##;

/// What the generator knows of one directed post.
#[derive(Debug, Clone, PartialEq)]
pub struct Directed {
    /// Post id.
    pub id: String,
    /// Event time.
    pub t: i64,
    /// Event time of the brand's first answer, if any.
    pub answer: Option<i64>,
    /// Index of the post in the stream.
    pub index: usize,
    /// Index of the answer in the stream.
    pub answer_index: Option<usize>,
    /// Asks something / complains, by construction.
    pub question: bool,
    /// Complains, by construction.
    pub complaint: bool,
    /// Compound score given to it.
    pub compound: f64,
    /// Followers of its author.
    pub followers: Option<u64>,
    /// Its author.
    pub author: String,
}

/// The stream, in arrival order, and the directed posts in it.
#[derive(Debug, Clone)]
pub struct Conversations {
    /// Posts as the aggregate receives them (watches, language and sentiment set).
    pub posts: Vec<Post>,
    /// Every directed post.
    pub directed: Vec<Directed>,
}

/// Care figures of one window, as the generator knows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowTruth {
    /// Directed posts made in the window.
    pub directed: u64,
    /// Answers given in the window.
    pub answered: u64,
    /// Of those, within the SLA.
    pub within: u64,
    /// Exact median response seconds.
    pub p50: Option<f64>,
    /// Nearest-rank 90th percentile.
    pub p90: Option<f64>,
}

/// One expected triage record: (status, id, score, reasons, response seconds).
pub type TriageTruth = (&'static str, String, f64, Vec<&'static str>, Option<f64>);

struct Builder {
    posts: Vec<(i64, Post)>,
    directed: Vec<(String, bool, bool)>,
    next: u64,
}

impl Builder {
    fn post(&mut self, t: i64, author: &str, text: &str, compound: f64) -> String {
        self.next += 1;
        let id = format!("{}", 1_000_000 + self.next);
        let mut p = Post::new(id.clone(), t, text);
        p.author = Some(author.to_owned());
        p.lang = Some("en".into());
        p.sentiment = Some(Sentiment {
            compound,
            ..Default::default()
        });
        p.watches = vec!["acme".into()];
        p.mentions = text
            .split_whitespace()
            .filter_map(|w| w.strip_prefix('@'))
            .map(|w| {
                w.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '_')
                    .to_owned()
            })
            .collect();
        self.posts.push((t, p));
        id
    }

    fn customer(&mut self, t: i64, who: &str, text: &str, c: f64, q: bool, k: bool) -> String {
        let id = self.post(t, who, text, c);
        let n = self.posts.len() as u64;
        self.posts.last_mut().expect("pushed").1.followers =
            (!n.is_multiple_of(3)).then_some(n * 37);
        self.directed.push((id.clone(), q, k));
        id
    }

    /// A reply that names only its parent's id.
    fn id_only_reply(&mut self, to: &str) {
        let p = &mut self.posts.last_mut().expect("pushed").1;
        p.reply_to = Some(to.to_owned());
        p.reply_to_author = None;
    }

    fn reply(&mut self, t: i64, author: &str, to: &str, to_author: &str, text: &str) -> String {
        let id = self.post(t, author, text, 0.4);
        let p = &mut self.posts.last_mut().expect("pushed").1;
        p.reply_to = Some(to.to_owned());
        p.reply_to_author = Some(to_author.to_owned());
        id
    }
}

/// Builds the stream. With `conversation_ids`, posts carry the thread's
/// first post id as v2 sources give it, and one more thread is answered
/// through it.
pub fn conversations(conversation_ids: bool) -> Conversations {
    let mut b = Builder {
        posts: Vec::new(),
        directed: Vec::new(),
        next: 0,
    };
    let min = 60_000;
    let mut t = T0 + 17_000;
    let mut step = || {
        t += 3 * min;
        t
    };
    // Answered within the SLA.
    for (i, d) in [10, 20, 45, 59].into_iter().enumerate() {
        let t = step();
        let who = format!("cust{i}");
        let text = format!("@acmehelp where is my order {i}?");
        let id = b.customer(t, &who, &text, 0.0, true, false);
        b.reply(
            t + d * min,
            "acmehelp",
            &id,
            &who,
            &format!("@{who} sorry, DM us"),
        );
    }
    // A burst of ten questions whose answers all fall in one window, so the
    // window's median and p90 are taken over ten response times.
    let t1 = step();
    let answers_from = (t1 / WINDOW_MS + 4) * WINDOW_MS + 30_000;
    for k in 0..10 {
        let who = format!("burst{k}");
        let t = t1 + k * 7_000;
        let text = format!("@acmehelp when does sale {k} start");
        let id = b.customer(t, &who, &text, 0.0, true, false);
        let a = answers_from + ((k * 7) % 10) * 20_000;
        b.reply(a, "acmehelp", &id, &who, &format!("@{who} monday"));
    }
    step();
    // Answered outside it.
    for (i, d) in [61, 120].into_iter().enumerate() {
        let t = step();
        let who = format!("late{i}");
        let id = b.customer(
            t,
            &who,
            "@acmehelp my refund is still missing",
            -0.4,
            false,
            true,
        );
        b.reply(
            t + d * min,
            "AcmeHelp",
            &id,
            &who,
            &format!("@{who} fixed now"),
        );
    }
    // Never answered: a complaint, and a thank-you that needs no answer.
    let t1 = step();
    b.customer(
        t1,
        "angry",
        "@acmehelp worst service ever",
        -0.6,
        false,
        true,
    );
    let t1 = step();
    b.customer(
        t1,
        "happy",
        "thanks @acmehelp, lovely staff",
        0.7,
        false,
        false,
    );
    // Only another user replies.
    let t1 = step();
    let q = b.customer(
        t1,
        "asker",
        "@acmehelp is the app working?",
        0.0,
        true,
        false,
    );
    b.reply(
        t1 + 5 * min,
        "bystander",
        &q,
        "asker",
        "@asker same here #acmefail",
    );
    // The answer arrives first (50 s of event time earlier, within the lateness).
    let t1 = step();
    let q = b.customer(
        t1,
        "early",
        "@acmehelp how do I reset my pin",
        0.0,
        true,
        false,
    );
    let early_answer = b.reply(
        t1 + 50_000,
        "acmehelp",
        &q,
        "early",
        "@early tap settings, then pin",
    );
    // The brand mentioning itself, and retweets of directed posts.
    let t1 = step();
    b.post(
        t1,
        "acmehelp",
        "@acmehelp here: our lines are open 24/7",
        0.0,
    );
    let t1 = step();
    for i in 0..2 {
        b.post(
            t1 + i * 1_000,
            &format!("rt{i}"),
            "@acmehelp worst service ever",
            -0.6,
        );
        b.posts.last_mut().expect("pushed").1.retweet = true;
    }
    // A v1.1 reply chain: follow-up to the brand's answer, answered too.
    let t1 = step();
    let x = b.customer(
        t1,
        "chain",
        "@acmehelp my flight got cancelled, what now?",
        -0.3,
        true,
        true,
    );
    let r1 = b.reply(
        t1 + 4 * min,
        "acmehelp",
        &x,
        "chain",
        "@chain we rebook you",
    );
    let z = b.customer(
        t1 + 8 * min,
        "chain",
        "@acmehelp still no rebooking?",
        0.0,
        true,
        false,
    );
    {
        let p = &mut b.posts.last_mut().expect("pushed").1;
        p.reply_to = Some(r1.clone());
        p.reply_to_author = Some("acmehelp".into());
    }
    b.reply(
        t1 + 30 * min,
        "acmehelp",
        &z,
        "chain",
        "@chain done, check your mail",
    );
    // Replies naming only their parent's id, with no mention of the account.
    let v = b.customer(
        t1 + 35 * min,
        "nodm",
        "#acmefail still waiting, nothing came",
        -0.2,
        false,
        true,
    );
    b.id_only_reply(&r1);
    b.reply(
        t1 + 47 * min,
        "acmehelp",
        &v,
        "nodm",
        "@nodm sent again, sorry",
    );
    b.id_only_reply(&v);
    // Half an hour before the stream's last post: past a 15-minute SLA at
    // the end, not past an hour.
    let last = b.posts.iter().map(|p| p.0).max().expect("built");
    b.customer(
        last - 30 * min,
        "menu",
        "#acmefail that menu is broken",
        -0.3,
        false,
        true,
    );
    b.id_only_reply(&early_answer);
    b.post(t1 + 37 * min, "metoo", "#acmefail me too", -0.1);
    b.id_only_reply(&q);
    if conversation_ids {
        let t1 = step();
        let x = b.customer(t1, "thread", "@acmehelp can you help me", 0.0, true, false);
        let y = b.reply(t1 + min, "thread", &x, "thread", "hello? #acmefail");
        b.reply(
            t1 + 20 * min,
            "acmehelp",
            &y,
            "thread",
            "@thread yes, DM us",
        );
        for p in b.posts.iter_mut().rev().take(3) {
            p.1.conversation = Some(x.clone());
        }
    }
    // Arrival order: event time, except the swapped pair above.
    let mut posts: Vec<Post> = Vec::new();
    {
        // Keep the swap: sort stably by a key that puts the early answer
        // just before its post.
        let mut keyed: Vec<(i64, usize, Post)> = b
            .posts
            .into_iter()
            .enumerate()
            .map(|(i, (t, p))| (t, i, p))
            .collect();
        let swapped_reply = keyed
            .iter()
            .find(|(_, _, p)| {
                p.author.as_deref() == Some("acmehelp") && p.text.starts_with("@early")
            })
            .map(|(_, i, _)| *i);
        let early_post_t = keyed
            .iter()
            .find(|(_, _, p)| p.author.as_deref() == Some("early"))
            .map(|(t, _, _)| *t)
            .expect("built");
        for k in &mut keyed {
            if Some(k.1) == swapped_reply {
                k.0 = early_post_t - 1;
            }
        }
        keyed.sort_by_key(|k| (k.0, k.1));
        posts.extend(keyed.into_iter().map(|k| k.2));
    }
    let index_of = |id: &str| posts.iter().position(|p| p.id == id).expect("present");
    let mut directed = Vec::new();
    for (id, question, complaint) in b.directed {
        let i = index_of(&id);
        let p = &posts[i];
        // The first brand reply to it, or later in its conversation.
        let conv = p.conversation.clone();
        let answer = posts
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.author
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case("acmehelp"))
            })
            .filter(|(_, r)| {
                r.reply_to.as_deref() == Some(id.as_str())
                    || (conv.is_some() && r.conversation == conv && r.event_ms > p.event_ms)
            })
            .min_by_key(|(k, r)| (r.event_ms, *k))
            .map(|(k, r)| (k, r.event_ms));
        directed.push(Directed {
            id,
            t: p.event_ms,
            answer: answer.map(|a| a.1),
            index: i,
            answer_index: answer.map(|a| a.0),
            question,
            complaint,
            compound: p.sentiment.map_or(0.0, |s| s.compound),
            followers: p.followers,
            author: p.author.clone().unwrap_or_default(),
        });
    }
    Conversations { posts, directed }
}

fn floor(t: i64) -> i64 {
    t.div_euclid(WINDOW_MS) * WINDOW_MS
}

/// Median (mean of the middle two) and nearest-rank p90, computed here.
fn quantiles(mut v: Vec<f64>) -> (Option<f64>, Option<f64>) {
    if v.is_empty() {
        return (None, None);
    }
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let n = v.len();
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let mut rank = (n * 9).div_ceil(10);
    if rank == 0 {
        rank = 1;
    }
    (Some(med), Some(v[rank - 1]))
}

/// The documented triage score.
pub fn expected_score(compound: f64, followers: Option<u64>, age_ms: i64) -> f64 {
    let s = (1.0 + (-compound).max(0.0))
        * (1.0 + (1.0 + followers.unwrap_or(0) as f64).log10())
        * (1.0 + age_ms as f64 / 3_600_000.0);
    (s * 1e4).round() / 1e4
}

impl Conversations {
    /// Care figures per window start, for every window holding a directed
    /// post or an answer.
    pub fn windows(&self) -> std::collections::BTreeMap<i64, WindowTruth> {
        let mut w: std::collections::BTreeMap<i64, (WindowTruth, Vec<f64>)> = Default::default();
        for d in &self.directed {
            w.entry(floor(d.t)).or_default().0.directed += 1;
            if let Some(a) = d.answer {
                let e = w.entry(floor(a)).or_default();
                e.0.answered += 1;
                e.0.within += u64::from(a - d.t <= SLA_MS);
                e.1.push((a - d.t) as f64 / 1000.0);
            }
        }
        w.into_iter()
            .map(|(k, (mut t, v))| {
                (t.p50, t.p90) = quantiles(v);
                (k, t)
            })
            .collect()
    }

    /// Stream index after which the window of event time `t` has closed
    /// (`None`: only the final flush closes it).
    fn closed_after(&self, t: i64) -> Option<usize> {
        let threshold = floor(t) + WINDOW_MS + LATENESS_MS;
        let mut max = i64::MIN;
        for (i, p) in self.posts.iter().enumerate() {
            max = max.max(p.event_ms);
            if max >= threshold {
                return Some(i);
            }
        }
        None
    }

    /// Triage records in the order canary must write them, as (status, id,
    /// score, reasons, response seconds): an actionable directed post is
    /// queued when its window closes unanswered; an `answered` record
    /// follows when the answer comes after that.
    pub fn triage(&self) -> Vec<(usize, i64, TriageTruth)> {
        let mut out = Vec::new();
        let end_of_stream = self.posts.len();
        for d in &self.directed {
            if !(d.question || d.complaint) {
                continue;
            }
            let closed = self.closed_after(d.t).unwrap_or(end_of_stream);
            let queued = match d.answer_index {
                None => true,
                Some(k) => k > closed,
            };
            if !queued {
                continue;
            }
            let mut reasons = Vec::new();
            if d.question {
                reasons.push("question");
            }
            if d.complaint {
                reasons.push("complaint");
            }
            let end = floor(d.t) + WINDOW_MS;
            out.push((
                closed,
                d.t,
                (
                    "open",
                    d.id.clone(),
                    expected_score(d.compound, d.followers, end - d.t),
                    reasons.clone(),
                    None,
                ),
            ));
            if let (Some(a), Some(k)) = (d.answer, d.answer_index) {
                out.push((
                    k,
                    d.t,
                    (
                        "answered",
                        d.id.clone(),
                        expected_score(d.compound, d.followers, a - d.t),
                        reasons,
                        Some((a - d.t) as f64 / 1000.0),
                    ),
                ));
            }
        }
        out.sort_by_key(|a| (a.0, a.1));
        out
    }

    /// End of the last window.
    fn last_end(&self) -> i64 {
        let last = self.posts.iter().map(|p| p.event_ms).max().unwrap_or(T0);
        floor(last) + WINDOW_MS
    }

    /// Directed posts never answered that are older than `sla_ms` at the
    /// end of the last window.
    pub fn unanswered_over(&self, sla_ms: i64) -> u64 {
        let end = self.last_end();
        self.directed
            .iter()
            .filter(|d| d.answer.is_none() && end - d.t > sla_ms)
            .count() as u64
    }

    /// Directed posts never answered, by age bucket at the end of the last
    /// window (`[<15m, <1h, <4h, <24h, older]`).
    pub fn unanswered_at_end(&self) -> [u64; 5] {
        let end = self.last_end();
        let mut b = [0u64; 5];
        for d in self.directed.iter().filter(|d| d.answer.is_none()) {
            let age = end - d.t;
            let i = [15 * 60_000, 3_600_000, 4 * 3_600_000, 24 * 3_600_000]
                .iter()
                .position(|&x| age < x)
                .unwrap_or(4);
            b[i] += 1;
        }
        b
    }
}
