//! The whole embedded pipeline, end to end, on a generated v1.1 firehose dump.
//!
//! `cargo bench --bench pipeline` (options after `--`, see `usage()`):
//! 1. generates a realistic v1.1 JSON-lines dump (default 1M statuses, ~4 KB
//!    each: full `user` objects, url/mention/hashtag entities, extended tweets,
//!    retweets, quotes, deletes, 11 languages with the platform `lang`) from the
//!    shared tweet texts, with watch handles, hashtags and phrases inserted so
//!    that about half the statuses match a watch, plus near misses that must not;
//! 2. runs the release `canary run --metrics-addr off` over it several times at
//!    max speed: statuses/s, per-thread CPU (from `/proc/<pid>/task/*/stat`),
//!    peak RSS (`VmHWM`) and the ingest→aggregate latency percentiles that
//!    canary prints in its run summary;
//! 3. runs it paced (`--speed`) at about half the measured maximum rate, for
//!    latency under a steady load;
//! 4. replays the dump N times (ids and times shifted per pass) through stdin,
//!    for peak RSS at 10x the posts;
//! 5. runs `benches/pipeline_baseline.py` (vaderSentiment + langid) over the
//!    first lines of the same dump and prints the throughput ratio.
//! 6. `--only report`: runs it once with `--report` and prints how long the
//!    run took to build the page against the run's own time (with
//!    `--rate 0.386` the million statuses span a month of event time).
//!
//! The dump is written to a temporary directory (`--dir`, default
//! `$TMPDIR/canary-pipeline-bench`) and reused while its parameters match.
//! Figures are medians of the runs; the machine is shared, so single runs vary.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use canary_testkit::demo::Rng;

/// First status: 2024-05-06T12:00:00Z.
const BASE_MS: i64 = 1_714_996_800_000;
const FIRST_ID: u64 = 1_787_000_000_000_000_000;
/// Ids of replay pass k are shifted by k times this (keeps 19 digits).
const PASS_ID_SHIFT: u64 = 10_000_000_000_000_000;

struct Args {
    statuses: usize,
    rate: f64,
    runs: usize,
    replays: usize,
    baseline_lines: usize,
    dir: PathBuf,
    only: Vec<String>,
}

fn usage() -> &'static str {
    "options: --statuses N (1000000) --rate STATUSES_PER_EVENT_SECOND (5700) --runs N (3) \
     --replays N (10) --baseline-lines N (20000) --dir PATH --only gen,max,paced,replay,baseline,report"
}

fn args() -> Args {
    let mut a = Args {
        statuses: 1_000_000,
        rate: 5_700.0,
        runs: 3,
        replays: 10,
        baseline_lines: 20_000,
        dir: std::env::temp_dir().join("canary-pipeline-bench"),
        only: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| panic!("{k} needs a value; {}", usage()))
        };
        match k.as_str() {
            "--statuses" => a.statuses = val().parse().expect("--statuses"),
            "--rate" => a.rate = val().parse().expect("--rate"),
            "--runs" => a.runs = val().parse().expect("--runs"),
            "--replays" => a.replays = val().parse().expect("--replays"),
            "--baseline-lines" => a.baseline_lines = val().parse().expect("--baseline-lines"),
            "--dir" => a.dir = val().into(),
            "--only" => a.only = val().split(',').map(str::to_owned).collect(),
            "--bench" => {}
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => panic!("unknown option {other}; {}", usage()),
        }
    }
    a
}

// ---------------------------------------------------------------- texts

struct Pool {
    /// Platform `lang` for these texts.
    lang: &'static str,
    weight: f64,
    texts: Vec<String>,
}

fn load_pools() -> Option<Vec<Pool>> {
    let vader = canary_testkit::shared_data("vader/tweets_GroundTruth.txt")?;
    let umsab = canary_testkit::shared_data("multilingual_sentiment_umsab/umsab_test_all.tsv")?;
    let tweetlid = canary_testkit::shared_data("langid/tweetlid/train_complete_clean.txt")?;
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

fn config_toml() -> String {
    let mut s = String::from("# Generated by benches/pipeline.rs\n");
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
fn created_at(ms: i64) -> String {
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

struct Dump {
    path: PathBuf,
    config: PathBuf,
    bytes: u64,
    lines: u64,
    span_ms: i64,
}

fn generate(a: &Args, pools: &[Pool]) -> Dump {
    fs::create_dir_all(&a.dir).expect("create bench dir");
    let path = a.dir.join("dump.jsonl");
    let config = a.dir.join("bench.toml");
    let stamp = a.dir.join("dump.params");
    let want = format!("v4 statuses={} rate={}\n", a.statuses, a.rate);
    fs::write(&config, config_toml()).expect("write config");
    let span_ms = (a.statuses as f64 * 1000.0 / a.rate) as i64 + 1000;
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
            lines: a.statuses as u64,
            span_ms,
        };
    }
    let _ = fs::remove_file(&stamp);
    let t = Instant::now();
    let mut w = BufWriter::with_capacity(1 << 20, fs::File::create(&path).expect("create dump"));
    let mut g = Gen::new(pools, 0x5eed_cafe);
    let mut trng = Rng(7);
    let mut bytes = 0u64;
    for i in 0..a.statuses as u64 {
        let ms = event_ms(i, a.rate, &mut trng);
        let l = g.line(i, ms);
        w.write_all(l.as_bytes()).expect("write dump");
        w.write_all(b"\n").expect("write dump");
        bytes += l.len() as u64 + 1;
    }
    w.flush().expect("flush dump");
    fs::write(&stamp, want).expect("write stamp");
    println!(
        "dump: generated {} lines, {:.2} GB ({:.0} bytes/line) in {:.1}s at {}",
        a.statuses,
        bytes as f64 / 1e9,
        bytes as f64 / a.statuses as f64,
        t.elapsed().as_secs_f64(),
        path.display()
    );
    Dump {
        path,
        config,
        bytes,
        lines: a.statuses as u64,
        span_ms,
    }
}

// ---------------------------------------------------------------- running canary

#[derive(Default, Clone)]
struct RunResult {
    wall: f64,
    posts: u64,
    /// CPU seconds per thread name.
    cpu: BTreeMap<String, f64>,
    hwm_kb: u64,
    /// Resident set size, sampled every 50 ms: (seconds since start, kB).
    rss: Vec<(f64, u64)>,
    summary: String,
    latency: Option<[f64; 4]>,
    alerts: usize,
}

fn clk_tck() -> f64 {
    // Linux's USER_HZ is 100 on every architecture canary targets.
    100.0
}

/// Samples per-thread CPU and peak RSS of `child` until it exits.
type Watched = (
    std::process::ExitStatus,
    BTreeMap<u32, (String, f64)>,
    u64,
    Vec<(f64, u64)>,
);

fn watch(mut child: Child) -> Watched {
    let pid = child.id();
    let mut threads: BTreeMap<u32, (String, f64)> = BTreeMap::new();
    let mut hwm = 0u64;
    let mut rss = Vec::new();
    let t0 = Instant::now();
    let kb = |v: &str| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0);
    loop {
        if let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) {
            for e in dir.flatten() {
                let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
                    continue;
                };
                let (Some(o), Some(c)) = (stat.find('('), stat.rfind(')')) else {
                    continue;
                };
                let name = stat[o + 1..c].to_owned();
                let f: Vec<&str> = stat[c + 2..].split(' ').collect();
                // Fields 14 and 15 (utime, stime), counted from the state field as 3.
                let cpu = (f[11].parse::<f64>().unwrap_or(0.0)
                    + f[12].parse::<f64>().unwrap_or(0.0))
                    / clk_tck();
                let tid: u32 = e.file_name().to_string_lossy().parse().unwrap_or(0);
                threads.insert(tid, (name, cpu));
            }
        }
        if let Ok(s) = fs::read_to_string(format!("/proc/{pid}/status")) {
            for l in s.lines() {
                if let Some(v) = l.strip_prefix("VmHWM:") {
                    hwm = hwm.max(kb(v));
                } else if let Some(v) = l.strip_prefix("VmRSS:") {
                    rss.push((t0.elapsed().as_secs_f64(), kb(v)));
                }
            }
        }
        if let Some(st) = child.try_wait().expect("wait canary") {
            return (st, threads, hwm, rss);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn canary_cmd(d: &Dump, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_canary"));
    c.args(["run", "--metrics-addr", "off", "--config"])
        .arg(&d.config)
        .args(extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn finish(child: Child, t: Instant) -> RunResult {
    let mut child = child;
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let (st, threads, hwm, rss) = watch(child);
    let wall = t.elapsed().as_secs_f64();
    let (stdout, stderr) = (o.join().expect("stdout"), e.join().expect("stderr"));
    assert!(st.success(), "canary failed: {st}\n{stderr}");
    let mut cpu = BTreeMap::new();
    for (name, c) in threads.values() {
        *cpu.entry(name.clone()).or_insert(0.0) += c;
    }
    let summary: String = stderr
        .lines()
        .filter(|l| !l.contains("starting") && !l.contains(" alert") && !l.contains("progress"))
        .map(|l| l.split_once("canary: ").map_or(l, |x| x.1))
        .collect::<Vec<_>>()
        .join("\n");
    let posts = stderr
        .lines()
        .find_map(|l| {
            let i = l.find("records: ")?;
            l[i + 9..].split(' ').next()?.parse().ok()
        })
        .unwrap_or(0);
    let latency = stderr.lines().find_map(|l| {
        let i = l.find("latency ingest→aggregate")?;
        let v: Vec<f64> = l[i..]
            .split_whitespace()
            .filter_map(|w| w.strip_suffix("ms").and_then(|n| n.parse().ok()))
            .collect();
        (v.len() >= 4).then(|| [v[0], v[1], v[2], v[3]])
    });
    RunResult {
        wall,
        posts,
        cpu,
        hwm_kb: hwm,
        rss,
        summary,
        latency,
        alerts: stdout.lines().count(),
    }
}

fn run_file(d: &Dump, extra: &[&str]) -> RunResult {
    let mut c = canary_cmd(d, extra);
    c.arg("--input").arg(&d.path).stdin(Stdio::null());
    let t = Instant::now();
    finish(c.spawn().expect("spawn canary"), t)
}

/// Replays the dump `passes` times through stdin, each pass shifted in ids and time.
fn run_replay(d: &Dump, passes: u64) -> RunResult {
    let mut c = canary_cmd(d, &["--input", "-"]);
    c.stdin(Stdio::piped());
    let t = Instant::now();
    let mut child = c.spawn().expect("spawn canary");
    let stdin = child.stdin.take().expect("stdin");
    let (path, span) = (d.path.clone(), d.span_ms);
    let feeder = std::thread::spawn(move || {
        let mut w = BufWriter::with_capacity(1 << 20, stdin);
        let mut buf = Vec::with_capacity(16 * 1024);
        for k in 0..passes {
            let mut r =
                BufReader::with_capacity(1 << 20, fs::File::open(&path).expect("open dump"));
            loop {
                buf.clear();
                if r.read_until(b'\n', &mut buf).expect("read dump") == 0 {
                    break;
                }
                if k > 0 {
                    shift_line(&mut buf, k, span);
                }
                if w.write_all(&buf).is_err() {
                    return;
                }
            }
        }
        let _ = w.flush();
    });
    let r = finish(child, t);
    feeder.join().expect("feeder");
    r
}

fn digits_at(b: &[u8], key: &[u8]) -> Option<(usize, usize)> {
    let i = b.windows(key.len()).position(|w| w == key)? + key.len();
    let n = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    Some((i, i + n))
}

fn patch_num(b: &mut Vec<u8>, key: &[u8], add: u64) {
    if let Some((s, e)) = digits_at(b, key) {
        let v: u64 = std::str::from_utf8(&b[s..e]).unwrap().parse().unwrap();
        b.splice(s..e, (v + add).to_string().into_bytes());
    }
}

/// Shifts the first (top-level) id, id_str, created_at and timestamp_ms of a
/// line into replay pass `k`; a delete notice's ids and time likewise.
fn shift_line(b: &mut Vec<u8>, k: u64, span_ms: i64) {
    let dt = k as i64 * span_ms;
    patch_num(b, b"\"id\":", k * PASS_ID_SHIFT);
    patch_num(b, b"\"id_str\":\"", k * PASS_ID_SHIFT);
    patch_num(b, b"\"timestamp_ms\":\"", dt as u64);
    if b.starts_with(b"{\"created_at\":\"") {
        let s = 15;
        let e = s + 30;
        let ts = digits_at(b, b"\"timestamp_ms\":\"").unwrap();
        let ms: i64 = std::str::from_utf8(&b[ts.0..ts.1])
            .unwrap()
            .parse()
            .unwrap();
        b.splice(s..e, created_at(ms).into_bytes());
    }
}

// ---------------------------------------------------------------- reporting

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

/// `canary run --report`: how long building the page takes against the run
/// it reports on, both as the run logs them.
fn report_cost(d: &Dump) {
    let page = d.path.with_file_name("report.html");
    let r = run_file(d, &["--report", page.to_str().expect("UTF-8 path")]);
    let line = r
        .summary
        .lines()
        .find(|l| l.contains("report written"))
        .expect("the run logs the report");
    let field = |k: &str| -> f64 {
        let i = line.find(&format!(" {k}=")).expect("field") + k.len() + 2;
        line[i..]
            .split(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("a number")
    };
    let (build, run, bytes) = (field("build_seconds"), field("run_seconds"), field("bytes"));
    println!(
        "\n== report: {} posts over {:.1} days of event time; page built in {build:.3}s, \
         {:.2}% of the run's {run:.1}s (the reference, same process); {:.2} MB",
        r.posts,
        d.span_ms as f64 / 86_400_000.0,
        100.0 * build / run,
        bytes / 1e6
    );
}

fn report(label: &str, runs: &[RunResult]) -> f64 {
    let rates: Vec<f64> = runs.iter().map(|r| r.posts as f64 / r.wall).collect();
    let rate = median(rates.clone());
    println!("\n== {label}: {} run(s)", runs.len());
    println!(
        "statuses/s per run: {}  → median {:.0}",
        rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        rate
    );
    let mid = runs
        .iter()
        .min_by(|a, b| {
            (a.posts as f64 / a.wall - rate)
                .abs()
                .total_cmp(&(b.posts as f64 / b.wall - rate).abs())
        })
        .expect("a run");
    let total: f64 = mid.cpu.values().sum();
    println!(
        "median run: {} statuses in {:.2}s wall, {:.2}s CPU ({:.2} cores busy), peak RSS {:.1} MB, {} alert lines",
        mid.posts,
        mid.wall,
        total,
        total / mid.wall,
        mid.hwm_kb as f64 / 1024.0,
        mid.alerts
    );
    // Flat memory means the later tenths of a long run peak no higher than
    // the earlier ones once the first windows have filled.
    if let Some(&(end, _)) = mid.rss.last() {
        let tenths: Vec<String> = (0..10)
            .map(|k| {
                let (a, b) = (end * k as f64 / 10.0, end * (k + 1) as f64 / 10.0);
                let m = mid
                    .rss
                    .iter()
                    .filter(|(t, _)| *t >= a && *t <= b)
                    .map(|(_, r)| *r)
                    .max()
                    .unwrap_or(0);
                format!("{:.0}", m as f64 / 1024.0)
            })
            .collect();
        println!(
            "RSS by tenth of the run (max MB in each): {}",
            tenths.join(" ")
        );
    }
    let mut cpu: Vec<_> = mid.cpu.iter().collect();
    cpu.sort_by(|a, b| b.1.total_cmp(a.1));
    println!(
        "CPU by thread: {}",
        cpu.iter()
            .map(|(n, c)| format!("{n} {:.2}s ({:.0}%)", c, 100.0 * *c / total.max(1e-9)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(l) = runs
        .iter()
        .filter_map(|r| r.latency)
        .map(|l| l[2])
        .collect::<Vec<_>>()
        .first()
    {
        let _ = l;
        let p = |i: usize| {
            median(
                runs.iter()
                    .filter_map(|r| r.latency)
                    .map(|l| l[i])
                    .collect(),
            )
        };
        println!(
            "latency ingest→aggregate (median over runs): p50 {:.2}ms p90 {:.2}ms p99 {:.2}ms max {:.2}ms",
            p(0),
            p(1),
            p(2),
            p(3)
        );
    }
    println!(
        "canary summary (median run):\n  {}",
        mid.summary.replace('\n', "\n  ")
    );
    rate
}

fn python_baseline(d: &Dump, lines: usize) -> Option<f64> {
    let root = canary_testkit::repo_root();
    let py = root.join(".tools/vader-venv/bin/python");
    if !py.exists() {
        println!(
            "\n== baseline: {} absent (scripts/setup-vader-reference.sh, then pip install langid)",
            py.display()
        );
        return None;
    }
    let out = Command::new(&py)
        .arg(root.join("benches/pipeline_baseline.py"))
        .arg(&d.path)
        .arg(lines.to_string())
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    println!(
        "\n== Python baseline (json.loads, regex watch match, langid, vaderSentiment, 5-min counts)"
    );
    print!("{s}");
    if !out.status.success() {
        println!("{}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    s.lines()
        .find_map(|l| l.strip_prefix("statuses/s: ")?.trim().parse().ok())
}

fn main() {
    let a = args();
    let on = |s: &str| a.only.is_empty() || a.only.iter().any(|x| x == s);
    let Some(pools) = load_pools() else {
        println!("pipeline bench: shared data absent, nothing to measure");
        return;
    };
    let d = generate(&a, &pools);
    let dump_path = d.path.display().to_string();
    println!(
        "dump: {} lines, {:.2} GB, {:.0} bytes/line; event time spans {:.0}s ({:.0} statuses per event second)",
        d.lines,
        d.bytes as f64 / 1e9,
        d.bytes as f64 / d.lines as f64,
        d.span_ms as f64 / 1000.0,
        a.rate
    );
    let mut max_rate = None;
    if on("max") {
        let runs: Vec<RunResult> = (0..a.runs).map(|_| run_file(&d, &[])).collect();
        max_rate = Some(report(&format!("max speed, {dump_path}"), &runs));
    }
    if on("report") {
        report_cost(&d);
    }
    if on("paced") {
        let target = max_rate.unwrap_or(150_000.0) / 2.0;
        let speed = target / a.rate;
        let s = format!("{speed:.3}");
        let runs: Vec<RunResult> = (0..a.runs.min(3))
            .map(|_| run_file(&d, &["--speed", &s]))
            .collect();
        report(
            &format!("paced at ~50% of max: --speed {s} (≈{target:.0} statuses/s)"),
            &runs,
        );
    }
    if on("replay") && a.replays > 1 {
        let r = run_replay(&d, a.replays as u64);
        report(
            &format!(
                "replay: the dump {}x through stdin, ids and times shifted per pass",
                a.replays
            ),
            &[r],
        );
    }
    if on("baseline")
        && let Some(py) = python_baseline(&d, a.baseline_lines)
        && let Some(m) = max_rate
    {
        println!(
            "ratio: canary {m:.0} statuses/s / Python {py:.0} statuses/s = {:.0}x",
            m / py
        );
    }
}
