//! What of FRR's configuration the agent owns, and how its settings are told apart. Pure.
//!
//! The diff (`diff`), the extras merge (`extras`) and the extras check all decide by these rules:
//! every `router bgp` block, every `route-map` named `OWN_ROUTE_MAP_PREFIX`..., every `bfd` profile
//! and the top-level lines of `MANAGED_GLOBALS` are the agent's; everything else FRR runs is the
//! operator's (or the image's) and left alone. Within the agent's blocks a single-valued setting is
//! known by its key (`setting_key`): a line with the same key replaces it instead of adding to it.

use std::borrow::Cow;

use super::config::Node;

/// Top-level lines the agent owns besides its blocks: `bgp graceful-shutdown` is set only while a
/// node drains (see `drain`), so a later reconcile (an agent started on an uncordoned node) removes
/// it; zebra's next-hop tracking settings (`dialect::NHT_LINES`, as MetalLB's FRR mode sets them).
pub const MANAGED_GLOBALS: &[&str] =
    &["bgp graceful-shutdown", "ip nht resolve-via-default", "ipv6 nht resolve-via-default"];

/// Route-maps whose name starts with this are ours.
pub const OWN_ROUTE_MAP_PREFIX: &str = "fs-";

pub(super) fn is_router(n: &Node) -> bool {
    n.line.starts_with("router bgp ")
}

pub(super) fn is_own_route_map(n: &Node) -> bool {
    n.line.strip_prefix("route-map ").is_some_and(|r| r.starts_with(OWN_ROUTE_MAP_PREFIX))
}

/// Top-level nodes the diff always manages: BGP instances, `bfd`, our route-maps, our globals.
pub fn is_managed_top(n: &Node) -> bool {
    is_router(n) || n.line == "bfd" || is_own_route_map(n) || MANAGED_GLOBALS.contains(&n.line)
}

/// The identity of a single-valued setting: lines with the same key replace each other.
pub fn setting_key(line: &str) -> Option<Cow<'_, str>> {
    key(line)
}

/// A setting's key: its first words (a prefix of the line, not copied), or for a neighbor's
/// route-map the words without the map's name.
pub(super) fn key(line: &str) -> Option<Cow<'_, str>> {
    let mut t = [""; 5];
    let mut words = 0;
    for w in line.split(' ').take(t.len()) {
        t[words] = w;
        words += 1;
    }
    let t = &t[..words];
    // The first `n` words, as the line has them (single spaces: the parser trims, FRR and the
    // renderer write one space).
    let first_n = |n: usize| {
        let n = n.min(words);
        let end = t[..n].iter().map(|w| w.len()).sum::<usize>() + n.saturating_sub(1);
        Some(Cow::Borrowed(&line[..end]))
    };
    match t {
        ["neighbor", _, "interface", "remote-as", ..] => first_n(4),
        ["neighbor", _, "timers", "connect", ..] => first_n(4),
        ["neighbor", _, "bfd", "profile", ..] => first_n(4),
        ["neighbor", x, "route-map", _, dir] if line.split(' ').count() == 5 => {
            Some(Cow::Owned(format!("neighbor {x} route-map {dir}")))
        }
        ["neighbor", _, "remote-as" | "timers" | "password" | "port" | "ebgp-multihop" | "update-source" | "local-as", ..] => {
            first_n(3)
        }
        ["bgp", "router-id", ..] => first_n(2),
        ["network", ..] => first_n(2),
        ["set" | "match", _, ..] => first_n(2),
        ["echo", "transmit-interval" | "receive-interval", ..] => first_n(2),
        ["detect-multiplier" | "receive-interval" | "transmit-interval" | "minimum-ttl", ..] => first_n(1),
        _ => None,
    }
}
