//! Any bytes as one line, under every format override: must never panic,
//! and every rejection must carry a known reason code.
#![no_main]

use canary_ingest::{Format, ParseOptions, Parsed, Reason, parse_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in [
        Format::Auto,
        Format::V1,
        Format::V2,
        Format::ActivityStreams,
    ] {
        for assume_time in [None, Some(0)] {
            let opts = ParseOptions {
                format,
                assume_time,
            };
            for p in parse_line(data, &opts) {
                if let Parsed::Rejected(r) = p {
                    assert!(Reason::ALL.contains(&r.reason));
                }
            }
        }
    }
});
