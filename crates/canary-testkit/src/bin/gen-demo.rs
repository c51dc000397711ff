//! Writes the demo fixture: `cargo run -p canary-testkit --bin gen-demo -- fixtures/demo/stream.jsonl.gz`.

use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;

fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fixtures/demo/stream.jsonl.gz".into());
    let bytes = canary_testkit::demo_bytes();
    let file = std::fs::File::create(&path)?;
    let mut gz = GzEncoder::new(file, Compression::best());
    gz.write_all(&bytes)?;
    gz.finish()?;
    eprintln!(
        "wrote {path}: {} lines, {} bytes uncompressed",
        bytes.split(|&b| b == b'\n').count() - 1,
        bytes.len()
    );
    Ok(())
}
