//! The demo stream in `fixtures/demo/`: a seeded generator of Twitter API v1.1
//! stream lines for two watched brands, written by the project (no real posts).
//!
//! - `acme`: ~120 posts per 5 minutes, ~2% negative, then from 12:00 to 13:00 UTC
//!   a pricing change sends the negative share to ~37% (complaints about the
//!   discount program), then back to normal.
//! - `globex`: ~30 posts per 5 minutes at ~3% negative throughout.
//! - About one post in eight is Spanish (with `"lang":"es"`), some posts are
//!   retweets or truncated with `extended_tweet`, and the stream carries
//!   `delete` and `limit` notices as a real one does.

use canary_core::time::{DAY_MS, HOUR_MS, MINUTE_MS, civil_from_days};
use std::fmt::Write as _;

/// First event time of the demo: 2024-05-06T08:00:00Z.
pub const START_MS: i64 = 1_714_982_400_000;
/// The acme spike: 12:00–13:00 UTC.
pub const SPIKE_MS: (i64, i64) = (START_MS + 4 * HOUR_MS, START_MS + 5 * HOUR_MS);
/// End of the demo: 15:00 UTC.
pub const END_MS: i64 = START_MS + 7 * HOUR_MS;

const SNOWFLAKE_EPOCH_MS: i64 = 1_288_834_974_657;

/// A small seeded PRNG (SplitMix64): reproducible across platforms and releases.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform index below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const POSITIVE: &[&str] = &[
    "Thanks {h} for sorting out my order so quickly, great service!",
    "Love the new app from {h}, checkout is so smooth now",
    "Big thanks to the {h} support team, you made my day",
    "{h} delivery arrived early, really happy with it",
    "Shoutout to {h} for the friendly help today",
    "Really impressed with {h} this week, keep it up",
    "Just renewed with {h}, good value and nice people",
];
const NEUTRAL: &[&str] = &[
    "Does {h} ship to Canada? Asking for a friend",
    "Waiting for my {h} package, tracking says tomorrow",
    "{h} what time does the store on Main Street open on Sunday",
    "Switched my plan to {h} last month",
    "Is the {h} sale still on this weekend?",
    "Reading the {h} newsletter over coffee",
    "Ordered a blue one from {h}, we will see",
    "Anyone else using {h} for their phone contract?",
];
const NEGATIVE_USUAL: &[&str] = &[
    "{h} my parcel is late again, this is really annoying",
    "Still no refund from {h} after two weeks, terrible",
    "{h} your hold music is the worst, 40 minutes and counting",
    "Disappointed with {h} customer service today",
];
const NEGATIVE_SPIKE: &[&str] = &[
    "{h} cancelled my loyalty discount without warning, this is a ripoff #acmefail",
    "Furious that {h} killed the discount program, worst decision ever",
    "{h} the new discount program rules are a scam, I am cancelling",
    "Angry customer here, {h} doubled my price after the discount change #acmefail",
    "Shame on {h} for dropping the loyalty discount, terrible way to treat customers",
    "{h} you lost a 10 year customer over this discount program mess. Horrible",
    "Hate what {h} did to the discount program, so unfair #acmefail",
];
const SPANISH: &[&str] = &[
    "{h} gracias por la ayuda con mi pedido",
    "{h} mi paquete todavía no llega",
    "¿{h} tiene tienda en Madrid?",
    "Muy contenta con el servicio de {h}",
    "{h} el descuento ya no aparece en mi cuenta",
];
const USERS: &[&str] = &[
    "maria_k", "dan_ops", "jlee", "sam_r", "priya88", "tomasz", "chloe_b", "omar_h", "lucia_m",
    "ben_t", "aiko_s", "noah_w", "fatima_z", "li_wei", "kofi_a", "ines_p", "raj_v", "emma_j",
];

fn twitter_date(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wd} {mon} {d:02} {:02}:{:02}:{:02} +0000 {y}",
        rem / HOUR_MS,
        rem / MINUTE_MS % 60,
        rem / 1000 % 60
    )
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

struct Brand {
    handle: &'static str,
    per_window: f64,
    share: fn(i64) -> f64,
}

fn acme_share(t: i64) -> f64 {
    if (SPIKE_MS.0..SPIKE_MS.1).contains(&t) {
        0.37
    } else {
        0.02
    }
}

fn globex_share(_: i64) -> f64 {
    0.03
}

/// The demo stream, one v1.1 line per element.
pub fn generate(seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    let brands = [
        Brand {
            handle: "acme",
            per_window: 120.0,
            share: acme_share,
        },
        Brand {
            handle: "globex",
            per_window: 30.0,
            share: globex_share,
        },
    ];
    let mut events: Vec<(i64, String)> = Vec::new();
    let mut seq = 0u64;
    let mut recent: Vec<(u64, i64)> = Vec::new();
    let window = 5 * MINUTE_MS;
    let mut t0 = START_MS;
    while t0 < END_MS {
        for b in &brands {
            let mut n = b.per_window * (0.85 + 0.3 * rng.unit());
            if b.handle == "acme" && (SPIKE_MS.0..SPIKE_MS.1).contains(&t0) {
                n *= 1.5;
            }
            for _ in 0..n.round() as usize {
                let t = t0 + rng.below(window as usize) as i64;
                seq += 1;
                let id = (((t - SNOWFLAKE_EPOCH_MS) as u64) << 22) | (seq & 0x3f_ffff);
                let spanish = rng.unit() < 0.12;
                let negative = !spanish && rng.unit() < (b.share)(t);
                let h = format!("@{}", b.handle);
                let template = if spanish {
                    rng.pick(SPANISH)
                } else if negative {
                    if (b.share)(t) > 0.2 {
                        rng.pick(NEGATIVE_SPIKE)
                    } else {
                        rng.pick(NEGATIVE_USUAL)
                    }
                } else if rng.unit() < 0.5 {
                    rng.pick(POSITIVE)
                } else {
                    rng.pick(NEUTRAL)
                };
                let text = template.replace("{h}", &h);
                let user = rng.pick(USERS);
                let lang = if spanish { "es" } else { "en" };
                let line = status_line(&mut rng, id, t, &text, user, b.handle, lang);
                recent.push((id, t));
                events.push((t, line));
            }
        }
        // A few deletions of recent posts, and a rate-limit notice now and then.
        for _ in 0..rng.below(3) {
            if let Some(&(id, t)) = recent.get(rng.below(recent.len().max(1))) {
                let at = t + 30_000 + rng.below(60_000) as i64;
                events.push((
                    at,
                    format!(
                        "{{\"delete\":{{\"status\":{{\"id\":{id},\"id_str\":\"{id}\",\"user_id\":1,\"user_id_str\":\"1\"}},\"timestamp_ms\":\"{at}\"}}}}"
                    ),
                ));
            }
        }
        if rng.unit() < 0.1 {
            events.push((
                t0 + window - 1,
                format!(
                    "{{\"limit\":{{\"track\":{},\"timestamp_ms\":\"{}\"}}}}",
                    rng.below(500),
                    t0 + window - 1
                ),
            ));
        }
        recent.clear();
        t0 += window;
    }
    // A real stream arrives roughly in time order.
    events.sort_by_key(|(t, _)| *t);
    events.into_iter().map(|(_, l)| l).collect()
}

fn status_line(
    rng: &mut Rng,
    id: u64,
    t: i64,
    text: &str,
    user: &str,
    brand: &str,
    lang: &str,
) -> String {
    let mut s = String::with_capacity(512);
    let user_id = 1_000 + rng.below(USERS.len() * 7);
    let mention = format!(
        "{{\"screen_name\":\"{brand}\",\"name\":\"{}\",\"id\":{},\"id_str\":\"{}\",\"indices\":[0,{}]}}",
        brand.to_uppercase(),
        42 + brand.len(),
        42 + brand.len(),
        brand.len() + 1
    );
    let tags: Vec<String> = text
        .split_whitespace()
        .filter_map(|w| w.strip_prefix('#'))
        .map(|t| format!("{{\"text\":{},\"indices\":[0,0]}}", json_str(t)))
        .collect();
    let entities = format!(
        "{{\"hashtags\":[{}],\"urls\":[],\"user_mentions\":[{mention}],\"symbols\":[]}}",
        tags.join(",")
    );
    let user_json = format!(
        "{{\"id\":{user_id},\"id_str\":\"{user_id}\",\"name\":\"{user}\",\"screen_name\":\"{user}\",\"lang\":null,\"followers_count\":{}}}",
        rng.below(5000)
    );
    let style = rng.unit();
    let _ = write!(
        s,
        "{{\"created_at\":\"{}\",\"id\":{id},\"id_str\":\"{id}\",",
        twitter_date(t)
    );
    if style < 0.05 {
        // A retweet: the text to score is the original's.
        let oid = id - 1_000_000;
        let _ = write!(
            s,
            "\"text\":{},\"truncated\":false,\"user\":{user_json},\"retweeted_status\":{{\"created_at\":\"{}\",\"id\":{oid},\"id_str\":\"{oid}\",\"text\":{},\"truncated\":false,\"user\":{{\"id\":7,\"id_str\":\"7\",\"screen_name\":\"orig_{user}\"}},\"entities\":{entities},\"lang\":\"{lang}\"}},",
            json_str(&format!("RT @orig_{user}: {text}")),
            twitter_date(t - 60_000),
            json_str(text)
        );
    } else if style < 0.12 {
        // Truncated in compatibility mode, the full text in extended_tweet.
        let cut: String = text.chars().take(24).collect();
        let _ = write!(
            s,
            "\"text\":{},\"truncated\":true,\"user\":{user_json},\"extended_tweet\":{{\"full_text\":{},\"display_text_range\":[0,{}],\"entities\":{entities}}},",
            json_str(&format!("{cut}… https://t.co/x{}", id % 1000)),
            json_str(text),
            text.chars().count()
        );
    } else {
        let _ = write!(
            s,
            "\"text\":{},\"truncated\":false,\"user\":{user_json},",
            json_str(text)
        );
    }
    let _ = write!(
        s,
        "\"entities\":{entities},\"lang\":\"{lang}\",\"timestamp_ms\":\"{t}\"}}"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_valid_json() {
        let a = generate(1);
        assert_eq!(a, generate(1));
        for l in &a {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v.is_object());
        }
        assert!(a.len() > 10_000);
    }

    #[test]
    fn twitter_dates() {
        assert_eq!(twitter_date(START_MS), "Mon May 06 08:00:00 +0000 2024");
    }
}
