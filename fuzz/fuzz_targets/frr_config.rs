//! Any text as FRR's running config (what the driver reads back): the parser and the diff against
//! another config never panic, and diffing a config against itself yields nothing.
#![no_main]
use libfuzzer_sys::fuzz_target;

use frr_speaker::frr::config::parse;
use frr_speaker::frr::diff::diff;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map(|(i, _)| i).unwrap_or(0));
    let (pa, pb) = (parse(a), parse(b));
    let _ = diff(&pa, &pb);
    let _ = diff(&pb, &pa);
    assert!(diff(&pa, &pa).is_empty(), "a config differs from itself:\n{a}");
});
