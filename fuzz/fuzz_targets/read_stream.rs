//! Any bytes as a whole input stream (line splitting, whole-document
//! detection, decompression by magic bytes, CSV): must never panic.
#![no_main]

use std::io::Cursor;

use canary_ingest::{Format, Item, Options, Reader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in [Format::Auto, Format::Csv] {
        let opts = Options {
            format,
            max_line_bytes: 256,
            max_document_bytes: 1 << 16,
            ..Options::default()
        };
        let reader = Reader::from_reader("fuzz", Cursor::new(data.to_vec()), opts);
        for item in reader.take(10_000) {
            if let Item::DeadLetter(d) = item {
                assert!(!d.reason.is_empty());
            }
        }
    }
});
