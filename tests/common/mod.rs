#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn canary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_canary"));
    c.current_dir(repo())
        .env("CANARY_LOG", "warn")
        .env_remove("CANARY_METRICS_ADDR");
    c
}

pub fn run_ok(args: &[&str]) -> Output {
    let out = canary().args(args).output().expect("run canary");
    assert!(
        out.status.success(),
        "canary {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("canary-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

pub const DEMO_CONFIG: &str = "fixtures/demo/canary.toml";
pub const DEMO_STREAM: &str = "fixtures/demo/stream.jsonl.gz";
