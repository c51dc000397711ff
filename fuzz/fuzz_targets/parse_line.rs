//! Any bytes as one line, under every format override: must never panic,
//! every rejection must carry a known reason code, and wherever the strict
//! serde path accepts the line the fast path reads the same records.
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
            let strict = ParseOptions {
                format,
                assume_time,
                strict_json: true,
            };
            let want = parse_line(data, &strict);
            let mut accepted = true;
            for p in &want {
                if let Parsed::Rejected(r) = p {
                    assert!(Reason::ALL.contains(&r.reason));
                    accepted = false;
                }
            }
            let fast = ParseOptions {
                strict_json: false,
                ..strict
            };
            let got = parse_line(data, &fast);
            for p in &got {
                if let Parsed::Rejected(r) = p {
                    assert!(Reason::ALL.contains(&r.reason));
                }
            }
            if accepted {
                assert_eq!(got, want);
            }
        }
    }
});
