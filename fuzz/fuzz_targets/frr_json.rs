//! Any bytes as FRR's JSON answers (neighbors, BFD peers and counters, advertised routes): the
//! parsers return data or an error, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

use frr_speaker::frr::show::{parse_advertised, parse_bfd, parse_neighbors};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map(|(i, _)| i).unwrap_or(0));
    let _ = parse_neighbors(&text);
    let _ = parse_bfd(a, b);
    let _ = parse_advertised(&text);
});
