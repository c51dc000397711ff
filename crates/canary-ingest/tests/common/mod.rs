//! Shared helpers: read an input fully and tally what came out.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use canary_ingest::{DeadLetter, IngestRecord, Item, NoticeKind, Options, Post, Reader};

/// Everything one read produced, in order.
#[derive(Debug, Default)]
pub struct Tally {
    pub posts: Vec<Post>,
    pub deletes: Vec<(String, Option<i64>)>,
    pub notices: BTreeMap<NoticeKind, usize>,
    pub dead: Vec<DeadLetter>,
}

impl Tally {
    pub fn from_items(items: impl IntoIterator<Item = Item>) -> Tally {
        let mut t = Tally::default();
        for item in items {
            match item {
                Item::Record(IngestRecord::Post(p), _) => t.posts.push(p),
                Item::Record(IngestRecord::Delete { id, at_ms, .. }, _) => {
                    t.deletes.push((id, at_ms))
                }
                Item::Record(IngestRecord::Notice { kind, .. }, _) => {
                    *t.notices.entry(kind).or_default() += 1
                }
                Item::DeadLetter(d) => t.dead.push(d),
            }
        }
        t
    }

    pub fn notice(&self, k: NoticeKind) -> usize {
        self.notices.get(&k).copied().unwrap_or(0)
    }

    pub fn reasons(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for d in &self.dead {
            *m.entry(d.reason.clone()).or_default() += 1;
        }
        m
    }

    pub fn retweets(&self) -> usize {
        self.posts.iter().filter(|p| p.retweet).count()
    }
}

pub fn read_path(p: &Path, opts: Options) -> Tally {
    Tally::from_items(Reader::open_path(p, opts).expect("open"))
}

/// A fresh, empty directory under the system temp dir for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("canary-ingest-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
