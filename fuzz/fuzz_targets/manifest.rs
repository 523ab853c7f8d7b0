//! Any bytes as a manifest file: parsing never panics, and every problem names an object kind.
#![no_main]
use libfuzzer_sys::fuzz_target;

use frr_speaker::sources::manifest::{parse_stream, Parsed};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for p in parse_stream(&text, "fuzz.yaml", "metallb-system") {
        if let Parsed::Unreadable(problem) = p {
            assert!(!problem.message.is_empty());
        }
    }
});
