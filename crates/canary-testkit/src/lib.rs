//! Test and bench helpers. Never a dependency of a runtime crate.
#![deny(missing_docs)]

use std::path::PathBuf;

/// Env var that turns a missing `../shared/data` from a skip into a failure (CI sets it).
pub const REQUIRE_ENV: &str = "CANARY_REQUIRE_SHARED";

/// Root of the repository this crate lives in.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether missing shared data must fail rather than skip.
pub fn shared_required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// Path of `rel` under the shared data folder (`$CANARY_SHARED_DATA`, else
/// `../shared/data` beside the repository).
///
/// Returns `None` after printing a skip message when it is absent, so a test
/// can `let Some(p) = shared_data("vader/corpus.jsonl") else { return };`.
///
/// # Panics
/// When the path is absent and `CANARY_REQUIRE_SHARED=1`.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let base = std::env::var_os("CANARY_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data"));
    let p = base.join(rel);
    if p.exists() {
        return Some(p);
    }
    if shared_required() {
        panic!(
            "shared test data {} is missing and {REQUIRE_ENV}=1",
            p.display()
        );
    }
    eprintln!(
        "skipping: shared test data {} is absent (set {REQUIRE_ENV}=1 to fail instead)",
        p.display()
    );
    None
}

pub mod airline;
pub mod alloc;
pub mod care;
pub mod demo;
pub mod firehose;
pub mod nab;
pub mod receiver;
pub mod scenario;

/// Seed of the committed demo fixture (`fixtures/demo/stream.jsonl.gz`).
pub const DEMO_SEED: u64 = 20_240_506;

/// The demo fixture's bytes (uncompressed): the generated lines, newline-terminated.
pub fn demo_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    for l in demo::generate(DEMO_SEED) {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out
}
