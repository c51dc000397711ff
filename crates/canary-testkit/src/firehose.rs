//! A realistic API v1.1 firehose dump for benches: full `user` objects,
//! url/mention/hashtag entities, extended tweets, retweets, quotes, deletes,
//! 11 languages with the platform `lang`, from the shared tweet texts, with
//! watch handles, hashtags and phrases inserted so that about half the
//! statuses match a watch, plus near misses that must not.

use crate::demo::Rng;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// First status: 2024-05-06T12:00:00Z.
pub const BASE_MS: i64 = 1_714_996_800_000;
/// Id of the first status.
pub const FIRST_ID: u64 = 1_787_000_000_000_000_000;

/// Texts of one language, and its share of the statuses.
pub struct Pool {
    /// Platform `lang` for these texts.
    lang: &'static str,
    weight: f64,
    texts: Vec<String>,
}

/// The shared tweet texts by platform `lang`, weighted like the firehose's
/// language mix; `None` (after a skip message) when the shared data is absent.
pub fn load_pools() -> Option<Vec<Pool>> {
    let vader = crate::shared_data("vader/tweets_GroundTruth.txt")?;
    let umsab = crate::shared_data("multilingual_sentiment_umsab/umsab_test_all.tsv")?;
    let tweetlid = crate::shared_data("langid/tweetlid/train_complete_clean.txt")?;
    let mut by: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let clean = |s: &str| s.trim().replace(['\t', '\r', '\n'], " ");
    for l in fs::read_to_string(vader).ok()?.lines() {
        if let Some(t) = l.splitn(3, '\t').nth(2) {
            by.entry("en").or_default().push(clean(t));
        }
    }
    for l in fs::read_to_string(umsab).ok()?.lines().skip(1) {
        let f: Vec<&str> = l.splitn(4, '\t').collect();
        let lang: &'static str = match f[0] {
            "ar" => "ar",
            "de" => "de",
            "en" => "en",
            "es" => "es",
            "fr" => "fr",
            "hi" => "hi",
            "it" => "it",
            "pt" => "pt",
            _ => continue,
        };
        if f.len() == 4 {
            // UMSAB anonymises handles and links; real dumps have both.
            let t = clean(f[3])
                .replace("@user", "@someone")
                .replace("http", "https://t.co/x1");
            by.entry(lang).or_default().push(t);
        }
    }
    for l in fs::read_to_string(tweetlid).ok()?.lines() {
        let f: Vec<&str> = l.splitn(4, '\t').collect();
        if f.len() < 4 {
            continue;
        }
        // Twitter tagged Catalan and Basque; Galician came as `und` or a neighbour.
        let lang: &'static str = match f[2] {
            "es" => "es",
            "pt" => "pt",
            "ca" => "ca",
            "eu" => "eu",
            "gl" => "und",
            "en" => "en",
            _ => continue,
        };
        by.entry(lang).or_default().push(clean(f[3]));
    }
    // Roughly the language mix of the 2020s firehose, limited to the sets we have.
    let weights: &[(&'static str, f64)] = &[
        ("en", 0.46),
        ("es", 0.13),
        ("pt", 0.09),
        ("ar", 0.07),
        ("fr", 0.06),
        ("de", 0.04),
        ("it", 0.03),
        ("hi", 0.04),
        ("ca", 0.03),
        ("eu", 0.01),
        ("und", 0.04),
    ];
    let pools = weights
        .iter()
        .filter_map(|&(lang, weight)| {
            let texts = by.remove(lang)?;
            (!texts.is_empty()).then_some(Pool {
                lang,
                weight,
                texts,
            })
        })
        .collect();
    Some(pools)
}

// ---------------------------------------------------------------- watches

struct Watch {
    name: &'static str,
    handles: &'static [&'static str],
    tags: &'static [&'static str],
    phrases: &'static [&'static str],
}

const WATCHES: &[Watch] = &[
    Watch {
        name: "acme",
        handles: &["acme", "AcmeHelp"],
        tags: &["acmefail"],
        phrases: &["acme corp"],
    },
    Watch {
        name: "globex",
        handles: &["globex"],
        tags: &["globex"],
        phrases: &[],
    },
    Watch {
        name: "initech",
        handles: &["initech"],
        tags: &["initech", "tpsreport"],
        phrases: &["initech"],
    },
    Watch {
        name: "umbrella",
        handles: &["umbrellacorp"],
        tags: &["umbrella"],
        phrases: &["umbrella corporation"],
    },
    Watch {
        name: "hooli",
        handles: &["hooli", "hoolisupport"],
        tags: &["hooli"],
        phrases: &["hooli phone"],
    },
    Watch {
        name: "stark",
        handles: &["starkindustries"],
        tags: &["stark"],
        phrases: &["stark industries"],
    },
    Watch {
        name: "wayne",
        handles: &["wayneent"],
        tags: &[],
        phrases: &["wayne enterprises"],
    },
    Watch {
        name: "soylent",
        handles: &["soylent"],
        tags: &["soylentgreen"],
        phrases: &["soylent"],
    },
    Watch {
        name: "cyberdyne",
        handles: &["cyberdyne"],
        tags: &["skynet"],
        phrases: &["cyberdyne systems"],
    },
    Watch {
        name: "tyrell",
        handles: &["tyrellcorp"],
        tags: &["moreHumanThanHuman"],
        phrases: &["tyrell"],
    },
    Watch {
        name: "wonka",
        handles: &["wonka"],
        tags: &["wonkabar"],
        phrases: &["wonka"],
    },
    Watch {
        name: "oscorp",
        handles: &["oscorp"],
        tags: &["oscorp"],
        phrases: &["oscorp"],
    },
];

/// The `[[watch]]` tables the generated statuses are written to match.
pub fn config_toml() -> String {
    let mut s = String::from("# Generated by canary_testkit::firehose\n");
    for w in WATCHES {
        let pats: Vec<String> = w
            .handles
            .iter()
            .map(|h| format!("\"@{h}\""))
            .chain(w.tags.iter().map(|t| format!("\"#{t}\"")))
            .chain(w.phrases.iter().map(|p| format!("\"{p}\"")))
            .collect();
        let _ = writeln!(
            s,
            "\n[[watch]]\nname = \"{}\"\nmatch = [{}]",
            w.name,
            pats.join(", ")
        );
    }
    s
}

// ---------------------------------------------------------------- JSON writing

/// Writes `s` as a JSON string the way the v1.1 API does: `/` escaped,
/// non-ASCII as `\uXXXX` (surrogate pairs above the BMP).
fn jstr(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if c.is_ascii() => out.push(c),
            c => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", u);
                }
            }
        }
    }
    out.push('"');
}

/// Text as the API sends it: `&`, `<`, `>` HTML-escaped.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mon May 06 12:00:00 +0000 2024`.
pub fn created_at(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} +0000 {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        y
    )
}

struct Gen<'a> {
    rng: Rng,
    pools: &'a [Pool],
    cum: Vec<f64>,
    line: String,
    recent: Vec<(u64, u64)>,
}

struct Ents {
    mentions: Vec<(String, usize, usize)>,
    tags: Vec<(String, usize, usize)>,
    urls: Vec<(String, usize, usize)>,
}

const FIRST: &[&str] = &[
    "maria", "john", "lucas", "ana", "ahmed", "sofia", "kenji", "lea", "omar", "emma", "raj",
    "giulia", "pedro", "fatima", "noah", "chloe",
];
const SECOND: &[&str] = &[
    "_smith", "silva", "_88", "dev", "official", "_rt", "news", "fan", "2009", "_x", "lopez", "_k",
    "music", "daily",
];
const TAGS: &[&str] = &[
    "news", "music", "football", "love", "photo", "travel", "tbt", "gaming", "politics", "food",
    "kpop", "crypto", "art", "F1",
];
const PLACES: &[&str] = &[
    "London",
    "São Paulo, Brasil",
    "Madrid",
    "Riyadh",
    "Paris, France",
    "Berlin",
    "Mumbai",
    "New York, NY",
    "Barcelona",
    "",
    "Milano",
    "Lisboa",
];

impl<'a> Gen<'a> {
    fn new(pools: &'a [Pool], seed: u64) -> Self {
        let total: f64 = pools.iter().map(|p| p.weight).sum();
        let mut acc = 0.0;
        let cum = pools
            .iter()
            .map(|p| {
                acc += p.weight / total;
                acc
            })
            .collect();
        Gen {
            rng: Rng(seed),
            pools,
            cum,
            line: String::with_capacity(16 * 1024),
            recent: Vec::new(),
        }
    }

    fn pool(&mut self) -> &'a Pool {
        let u = self.rng.unit();
        let i = self
            .cum
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.cum.len() - 1);
        &self.pools[i]
    }

    fn text_from(&mut self, p: &'a Pool) -> &'a str {
        &p.texts[self.rng.below(p.texts.len())]
    }

    fn screen_name(&mut self) -> String {
        let (a, b) = (self.rng.pick(FIRST), self.rng.pick(SECOND));
        format!("{a}{b}{}", self.rng.below(1000))
    }

    /// The status text with watch terms (or near misses) and entities.
    fn compose(&mut self, pool: &'a Pool) -> (String, Ents) {
        let mut text = self.text_from(pool).to_owned();
        if self.rng.unit() < 0.18 {
            // A longer post: two sentences, often over 140 characters.
            text.push(' ');
            text.push_str(self.text_from(pool));
        }
        let mut lead = Vec::new();
        let mut tail = Vec::new();
        let r = self.rng.unit();
        // Watches are skewed: a few brands get most of the traffic.
        let w = &WATCHES[(self.rng.unit().powi(2) * WATCHES.len() as f64) as usize % WATCHES.len()];
        if r < 0.55 {
            let how = self.rng.below(3);
            if how == 0 || (w.tags.is_empty() && w.phrases.is_empty()) {
                lead.push(format!("@{}", w.handles[self.rng.below(w.handles.len())]));
            } else if how == 1 && !w.tags.is_empty() {
                tail.push(format!("#{}", w.tags[self.rng.below(w.tags.len())]));
            } else if !w.phrases.is_empty() {
                let ph = w.phrases[self.rng.below(w.phrases.len())];
                let words: Vec<&str> = text.split(' ').collect();
                let at = self.rng.below(words.len() + 1);
                let cap = if self.rng.unit() < 0.5 {
                    ph.to_uppercase()
                } else {
                    ph.to_owned()
                };
                let mut v: Vec<&str> = words[..at].to_vec();
                v.push(&cap);
                v.extend_from_slice(&words[at..]);
                text = v.join(" ");
            } else {
                tail.push(format!("#{}", w.tags[0]));
            }
        } else if r < 0.62 {
            // Near misses: longer handles, longer tags, e-mail addresses.
            match self.rng.below(3) {
                0 => lead.push(format!("@{}desk", w.handles[0])),
                1 => tail.push(format!("#{}s", w.tags.first().copied().unwrap_or("brand"))),
                _ => text.push_str(&format!(" mail me@{}.com", w.name)),
            }
        }
        if self.rng.unit() < 0.25 {
            lead.push(format!("@{}", self.screen_name()));
        }
        if self.rng.unit() < 0.2 {
            tail.push(format!("#{}", self.rng.pick(TAGS)));
        }
        let mut full = String::new();
        let mut ents = Ents {
            mentions: vec![],
            tags: vec![],
            urls: vec![],
        };
        let mut pos = 0usize;
        for m in &lead {
            ents.mentions
                .push((m[1..].to_owned(), pos, pos + m.chars().count()));
            full.push_str(m);
            full.push(' ');
            pos += m.chars().count() + 1;
        }
        full.push_str(&text);
        pos += text.chars().count();
        for t in &tail {
            full.push(' ');
            pos += 1;
            ents.tags
                .push((t[1..].to_owned(), pos, pos + t.chars().count()));
            full.push_str(t);
            pos += t.chars().count();
        }
        if self.rng.unit() < 0.3 {
            let u = format!("https://t.co/{:010x}", self.rng.next_u64() >> 24);
            full.push(' ');
            pos += 1;
            ents.urls.push((u.clone(), pos, pos + u.chars().count()));
            full.push_str(&u);
        }
        (full, ents)
    }

    fn entities(&mut self, e: &Ents, upto: usize) {
        let l = &mut self.line;
        l.push_str("{\"hashtags\":[");
        for (i, (t, a, b)) in e.tags.iter().filter(|x| x.2 <= upto).enumerate() {
            if i > 0 {
                l.push(',');
            }
            l.push_str("{\"text\":");
            jstr(l, t);
            let _ = write!(l, ",\"indices\":[{a},{b}]}}");
        }
        l.push_str("],\"urls\":[");
        for (i, (u, a, b)) in e.urls.iter().filter(|x| x.2 <= upto).enumerate() {
            if i > 0 {
                l.push(',');
            }
            l.push_str("{\"url\":");
            jstr(l, u);
            l.push_str(",\"expanded_url\":");
            jstr(l, &format!("https://example.com/article/{}", &u[13..]));
            l.push_str(",\"display_url\":");
            jstr(l, &format!("example.com/article/{}\u{2026}", &u[13..17]));
            let _ = write!(l, ",\"indices\":[{a},{b}]}}");
        }
        l.push_str("],\"user_mentions\":[");
        for (i, (m, a, b)) in e.mentions.iter().filter(|x| x.2 <= upto).enumerate() {
            if i > 0 {
                l.push(',');
            }
            l.push_str("{\"screen_name\":");
            jstr(l, m);
            l.push_str(",\"name\":");
            jstr(l, &m.to_uppercase());
            let id = 10_000_000 + (m.len() as u64 * 7919) % 90_000_000;
            let _ = write!(
                l,
                ",\"id\":{id},\"id_str\":\"{id}\",\"indices\":[{a},{b}]}}"
            );
        }
        l.push_str("],\"symbols\":[]}");
    }

    fn user(&mut self, pool: &'a Pool) {
        let sn = self.screen_name();
        let uid = 100_000 + self.rng.next_u64() % 1_500_000_000_000;
        let desc = self.text_from(pool);
        let place = self.rng.pick(PLACES);
        let joined = created_at(1_230_000_000_000 + (self.rng.next_u64() % 450_000_000_000) as i64);
        let (followers, friends, statuses) = (
            self.rng.below(50_000),
            self.rng.below(5_000),
            self.rng.below(200_000),
        );
        let img = self.rng.next_u64() >> 20;
        let verified = self.rng.unit() < 0.01;
        let l = &mut self.line;
        let _ = write!(l, "{{\"id\":{uid},\"id_str\":\"{uid}\",\"name\":");
        jstr(l, &sn.replace('_', " "));
        l.push_str(",\"screen_name\":");
        jstr(l, &sn);
        l.push_str(",\"location\":");
        jstr(l, place);
        l.push_str(",\"url\":null,\"description\":");
        jstr(l, desc);
        l.push_str(",\"translator_type\":\"none\",\"protected\":false,");
        let _ = write!(
            l,
            "\"verified\":{verified},\"followers_count\":{followers},\"friends_count\":{friends},\
             \"listed_count\":{},\"favourites_count\":{},\"statuses_count\":{statuses},\"created_at\":\"{joined}\",\
             \"utc_offset\":null,\"time_zone\":null,\"geo_enabled\":false,\"lang\":null,\
             \"contributors_enabled\":false,\"is_translator\":false,\
             \"profile_background_color\":\"F5F8FA\",\"profile_background_image_url\":\"\",\
             \"profile_background_image_url_https\":\"\",\"profile_background_tile\":false,\
             \"profile_link_color\":\"1DA1F2\",\"profile_sidebar_border_color\":\"C0DEED\",\
             \"profile_sidebar_fill_color\":\"DDEEF6\",\"profile_text_color\":\"333333\",\
             \"profile_use_background_image\":true,\
             \"profile_image_url\":\"http:\\/\\/pbs.twimg.com\\/profile_images\\/{img}\\/a_normal.jpg\",\
             \"profile_image_url_https\":\"https:\\/\\/pbs.twimg.com\\/profile_images\\/{img}\\/a_normal.jpg\",\
             \"profile_banner_url\":\"https:\\/\\/pbs.twimg.com\\/profile_banners\\/{uid}\\/{img}\",\
             \"default_profile\":true,\"default_profile_image\":false,\"following\":null,\
             \"follow_request_sent\":null,\"notifications\":null}}",
            followers / 50,
            friends * 3,
        );
    }

    /// One status object (no trailing newline). `nested` statuses carry no
    /// retweet or quote of their own.
    fn status(&mut self, id: u64, ms: i64, pool: &'a Pool, nested: bool) -> u64 {
        let (full, ents) = self.compose(pool);
        let chars: Vec<char> = full.chars().collect();
        let truncated = chars.len() > 140;
        let src = [
            "Twitter for iPhone",
            "Twitter for Android",
            "Twitter Web App",
        ][self.rng.below(3)];
        self.line.push('{');
        if !nested {
            self.line.push_str("\"created_at\":");
            let c = created_at(ms);
            jstr(&mut self.line, &c);
            let _ = write!(
                self.line,
                ",\"id\":{id},\"id_str\":\"{id}\",\"timestamp_ms\":\"{ms}\","
            );
        } else {
            self.line.push_str("\"created_at\":");
            let c = created_at(ms);
            jstr(&mut self.line, &c);
            let _ = write!(self.line, ",\"id\":{id},\"id_str\":\"{id}\",");
        }
        self.line.push_str("\"text\":");
        if truncated {
            let cut: String = chars[..113].iter().collect();
            let t = format!(
                "{}\u{2026} https://t.co/{:010x}",
                html(&cut),
                id & 0xff_ffff_ffff
            );
            jstr(&mut self.line, &t);
        } else {
            jstr(&mut self.line, &html(&full));
        }
        self.line.push_str(",\"source\":");
        jstr(
            &mut self.line,
            &format!("<a href=\"http://twitter.com/download\" rel=\"nofollow\">{src}</a>"),
        );
        let _ = write!(
            self.line,
            ",\"truncated\":{truncated},\"in_reply_to_status_id\":null,\"in_reply_to_status_id_str\":null,\
             \"in_reply_to_user_id\":null,\"in_reply_to_user_id_str\":null,\"in_reply_to_screen_name\":"
        );
        match ents.mentions.first() {
            Some((m, 0, _)) => jstr(&mut self.line, m),
            _ => self.line.push_str("null"),
        }
        self.line.push_str(",\"user\":");
        self.user(pool);
        self.line
            .push_str(",\"geo\":null,\"coordinates\":null,\"place\":null,\"contributors\":null,");
        let quote = !nested && self.rng.unit() < 0.08;
        if quote {
            let qid = id - 1_000_000 - (self.rng.next_u64() % 1_000_000_000);
            let _ = write!(
                self.line,
                "\"quoted_status_id\":{qid},\"quoted_status_id_str\":\"{qid}\",\"quoted_status\":"
            );
            let qp = self.pool();
            self.status(qid, ms - 3_600_000, qp, true);
            let _ = write!(
                self.line,
                ",\"quoted_status_permalink\":{{\"url\":\"https:\\/\\/t.co\\/q{qid}\",\"expanded\":\"https:\\/\\/twitter.com\\/x\\/status\\/{qid}\",\"display\":\"twitter.com\\/x\\/status\\/{qid}\"}},"
            );
        }
        let _ = write!(self.line, "\"is_quote_status\":{quote},");
        if truncated {
            self.line.push_str("\"extended_tweet\":{\"full_text\":");
            jstr(&mut self.line, &html(&full));
            let _ = write!(
                self.line,
                ",\"display_text_range\":[0,{}],\"entities\":",
                chars.len()
            );
            self.entities(&ents, usize::MAX);
            self.line.push_str("},");
        }
        let (q, rc, rt, fav) = (
            self.rng.below(5),
            self.rng.below(20),
            self.rng.below(100),
            self.rng.below(300),
        );
        let _ = write!(
            self.line,
            "\"quote_count\":{q},\"reply_count\":{rc},\"retweet_count\":{rt},\"favorite_count\":{fav},\"entities\":"
        );
        self.entities(&ents, if truncated { 113 } else { usize::MAX });
        if self.rng.unit() < 0.2 {
            // A photo: the media entity as the API repeats it in extended_entities.
            let m = self.rng.next_u64() >> 4;
            let _ = write!(
                self.line,
                ",\"extended_entities\":{{\"media\":[{{\"id\":{m},\"id_str\":\"{m}\",\"indices\":[141,164],\
                 \"media_url\":\"http:\\/\\/pbs.twimg.com\\/media\\/E{m:x}.jpg\",\
                 \"media_url_https\":\"https:\\/\\/pbs.twimg.com\\/media\\/E{m:x}.jpg\",\
                 \"url\":\"https:\\/\\/t.co\\/m{m:x}\",\"display_url\":\"pic.twitter.com\\/m{m:x}\",\
                 \"expanded_url\":\"https:\\/\\/twitter.com\\/x\\/status\\/{id}\\/photo\\/1\",\"type\":\"photo\",\
                 \"sizes\":{{\"thumb\":{{\"w\":150,\"h\":150,\"resize\":\"crop\"}},\"medium\":{{\"w\":1200,\"h\":900,\"resize\":\"fit\"}},\
                 \"small\":{{\"w\":680,\"h\":510,\"resize\":\"fit\"}},\"large\":{{\"w\":2048,\"h\":1536,\"resize\":\"fit\"}}}},\
                 \"ext_alt_text\":null}}]}}"
            );
        }
        self.line
            .push_str(",\"favorited\":false,\"retweeted\":false,");
        if ents.urls.is_empty() {
            self.line.push_str("\"possibly_sensitive\":false,");
        }
        self.line.push_str("\"filter_level\":\"low\",\"lang\":");
        jstr(&mut self.line, pool.lang);
        self.line.push('}');
        id
    }

    /// One line of the dump for status number `i`.
    fn line(&mut self, i: u64, ms: i64) -> &str {
        self.line.clear();
        let id = FIRST_ID + i * 1000 + self.rng.below(1000) as u64;
        let uid = 1000 + self.rng.next_u64() % 1_000_000_000;
        let r = self.rng.unit();
        if r < 0.02 && !self.recent.is_empty() {
            let (did, duid) = self.recent[self.rng.below(self.recent.len())];
            let _ = write!(
                self.line,
                "{{\"delete\":{{\"status\":{{\"id\":{did},\"id_str\":\"{did}\",\"user_id\":{duid},\"user_id_str\":\"{duid}\"}},\"timestamp_ms\":\"{ms}\"}}}}"
            );
        } else if r < 0.021 {
            let _ = write!(
                self.line,
                "{{\"limit\":{{\"track\":{},\"timestamp_ms\":\"{ms}\"}}}}",
                i / 7
            );
        } else if r < 0.33 {
            // A retweet: text "RT @x: ..." and the original status nested.
            let pool = self.pool();
            let sn = self.screen_name();
            let orig = id - 1_000_000 - (self.rng.next_u64() % 100_000_000_000);
            self.line.push_str("{\"created_at\":");
            jstr(&mut self.line, &created_at(ms));
            let _ = write!(
                self.line,
                ",\"id\":{id},\"id_str\":\"{id}\",\"timestamp_ms\":\"{ms}\",\"text\":"
            );
            let shown: String = self.text_from(pool).chars().take(100).collect();
            jstr(
                &mut self.line,
                &format!("RT @{sn}: {}\u{2026}", html(&shown)),
            );
            self.line.push_str(",\"source\":\"<a href=\\\"http:\\/\\/twitter.com\\/download\\/android\\\" rel=\\\"nofollow\\\">Twitter for Android<\\/a>\",\"truncated\":false,\"in_reply_to_status_id\":null,\"in_reply_to_status_id_str\":null,\"in_reply_to_user_id\":null,\"in_reply_to_user_id_str\":null,\"in_reply_to_screen_name\":null,\"user\":");
            self.user(pool);
            self.line.push_str(",\"geo\":null,\"coordinates\":null,\"place\":null,\"contributors\":null,\"retweeted_status\":");
            self.status(orig, ms - 600_000, pool, true);
            let _ = write!(
                self.line,
                ",\"is_quote_status\":false,\"quote_count\":0,\"reply_count\":0,\"retweet_count\":0,\"favorite_count\":0,\
                 \"entities\":{{\"hashtags\":[],\"urls\":[],\"user_mentions\":[{{\"screen_name\":\"{sn}\",\"name\":\"{sn}\",\"id\":{uid},\"id_str\":\"{uid}\",\"indices\":[3,{}]}}],\"symbols\":[]}},\
                 \"favorited\":false,\"retweeted\":false,\"filter_level\":\"low\",\"lang\":\"{}\"}}",
                4 + sn.len(),
                pool.lang
            );
            self.remember(id, uid);
        } else {
            let pool = self.pool();
            self.status(id, ms, pool, false);
            self.remember(id, uid);
        }
        &self.line
    }

    fn remember(&mut self, id: u64, uid: u64) {
        if self.recent.len() < 4096 {
            self.recent.push((id, uid));
        } else {
            let k = self.rng.below(4096);
            self.recent[k] = (id, uid);
        }
    }
}

fn event_ms(i: u64, rate: f64, rng: &mut Rng) -> i64 {
    // Arrival order with up to a second of disorder, as a stream delivers.
    BASE_MS + (i as f64 * 1000.0 / rate) as i64 + rng.below(1000) as i64 - 500
}

/// A generated dump and its config.
pub struct Dump {
    /// The JSON-lines dump.
    pub path: PathBuf,
    /// A config whose watches the dump's statuses match.
    pub config: PathBuf,
    /// Size of the dump.
    pub bytes: u64,
    /// Statuses in it, one a line.
    pub lines: u64,
    /// Event time from the first status to the last, plus a second.
    pub span_ms: i64,
}

/// Writes `statuses` statuses at `rate` a second of event time into `dir`
/// (`dump.jsonl`, `bench.toml`), or reuses the dump there when it was
/// written with the same parameters.
pub fn generate(dir: &Path, statuses: usize, rate: f64, pools: &[Pool]) -> Dump {
    fs::create_dir_all(dir).expect("create bench dir");
    let path = dir.join("dump.jsonl");
    let config = dir.join("bench.toml");
    let stamp = dir.join("dump.params");
    let want = format!("v4 statuses={} rate={}\n", statuses, rate);
    fs::write(&config, config_toml()).expect("write config");
    let span_ms = (statuses as f64 * 1000.0 / rate) as i64 + 1000;
    if fs::read_to_string(&stamp).ok().as_deref() == Some(&want) && path.exists() {
        let bytes = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "dump: reusing {} ({:.2} GB)",
            path.display(),
            bytes as f64 / 1e9
        );
        return Dump {
            path,
            config,
            bytes,
            lines: statuses as u64,
            span_ms,
        };
    }
    let _ = fs::remove_file(&stamp);
    let t = Instant::now();
    let mut w = BufWriter::with_capacity(1 << 20, fs::File::create(&path).expect("create dump"));
    let mut g = Gen::new(pools, 0x5eed_cafe);
    let mut trng = Rng(7);
    let mut bytes = 0u64;
    for i in 0..statuses as u64 {
        let ms = event_ms(i, rate, &mut trng);
        let l = g.line(i, ms);
        w.write_all(l.as_bytes()).expect("write dump");
        w.write_all(b"\n").expect("write dump");
        bytes += l.len() as u64 + 1;
    }
    w.flush().expect("flush dump");
    fs::write(&stamp, want).expect("write stamp");
    println!(
        "dump: generated {} lines, {:.2} GB ({:.0} bytes/line) in {:.1}s at {}",
        statuses,
        bytes as f64 / 1e9,
        bytes as f64 / statuses as f64,
        t.elapsed().as_secs_f64(),
        path.display()
    );
    Dump {
        path,
        config,
        bytes,
        lines: statuses as u64,
        span_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_dump_is_json_lines_with_its_config() {
        let Some(pools) = load_pools() else { return };
        let dir = std::env::temp_dir().join(format!("canary-firehose-{}", std::process::id()));
        let d = generate(&dir, 300, 50.0, &pools);
        let text = fs::read_to_string(&d.path).expect("dump");
        assert_eq!(text.lines().count(), 300);
        assert_eq!(d.lines, 300);
        assert_eq!(d.bytes, text.len() as u64);
        for l in text.lines() {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            assert!(
                v.get("id_str").is_some() || v.get("delete").is_some(),
                "{l}"
            );
        }
        assert!(
            fs::read_to_string(&d.config)
                .expect("config")
                .contains("[[watch]]")
        );
        // The same parameters reuse the dump as written.
        let again = generate(&dir, 300, 50.0, &pools);
        assert_eq!(again.bytes, d.bytes);
        fs::remove_dir_all(&dir).ok();
    }
}
