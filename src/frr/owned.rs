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

/// How the diff tells a setting's lines apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Single-valued: the first `n` words name the setting, and a line with the same first words
    /// replaces it in place (re-entered, never removed first: `no neighbor X remote-as` would
    /// delete the neighbor, `no neighbor X timers` fall back to defaults in between).
    Words(usize),
    /// `neighbor X route-map M in|out`: one map per neighbor and direction, the map's name is the
    /// value.
    NeighborRouteMap,
    /// A block, a flag, or a line of which several coexist: the whole line is its identity
    /// (added or removed, never replaced).
    Line,
}

/// Which daemons take a line over their vty sockets (vtysh sends a line to every daemon that
/// knows it). The configuration front end is zebra on FRR 8 and mgmtd on FRR 10 (`dialect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takes {
    /// The daemons of the block the line is in (a top-level line: bgpd).
    Block,
    Bgpd,
    Bfdd,
    FrontEnd,
    /// Route-maps: bgpd uses them, and the library of the front end keeps its own copy; the
    /// front end takes only the library's own lines of their entries (`match tag`, `set tag`).
    BgpdAndFrontEnd,
}

/// One kind of line FRR takes: its shape (words; `*` is any one word, a trailing `...` any rest,
/// `!...` any line starting with `!`), its identity and the daemons that take it.
#[derive(Debug)]
pub struct Setting {
    pub shape: &'static str,
    pub identity: Identity,
    pub takes: Takes,
}

const fn words(shape: &'static str, n: usize) -> Setting {
    Setting { shape, identity: Identity::Words(n), takes: Takes::Block }
}

const fn line(shape: &'static str) -> Setting {
    Setting { shape, identity: Identity::Line, takes: Takes::Block }
}

impl Setting {
    const fn to(self, takes: Takes) -> Setting {
        Setting { takes, ..self }
    }
}

/// Every line the agent writes into frr.conf, first match wins (specific shapes first). A line
/// that matches none (the operator's extras may hold any) is its own identity, as `Line`. A new
/// setting in the template needs its row here: a test checks every line of every golden frr.conf.
/// Which daemon the front end is and how each FRR version prints a line: `dialect`.
pub const SETTINGS: &[Setting] = &[
    // First the line that a large config is nearly all of (one per prefix).
    words("network ...", 2),
    // Top level.
    line("!..."),
    line("frr defaults *"),
    line("ip nht resolve-via-default").to(Takes::FrontEnd),
    line("ipv6 nht resolve-via-default").to(Takes::FrontEnd),
    line("bgp graceful-shutdown").to(Takes::Bgpd),
    line("exit"),
    // BFD profiles (bfdd).
    line("bfd").to(Takes::Bfdd),
    line("profile *"),
    words("detect-multiplier ...", 1),
    words("receive-interval ...", 1),
    words("transmit-interval ...", 1),
    words("minimum-ttl ...", 1),
    words("echo transmit-interval ...", 2),
    words("echo receive-interval ...", 2),
    line("passive-mode"),
    line("echo-mode"),
    // Prefix-lists (frr-k8s mode): an entry is known by its list and sequence number.
    words("ip prefix-list * seq ...", 5).to(Takes::Bgpd),
    words("ipv6 prefix-list * seq ...", 5).to(Takes::Bgpd),
    // Route-maps: an entry is a block; its match and set lines are single-valued by kind.
    line("route-map * permit *").to(Takes::BgpdAndFrontEnd),
    line("route-map * deny *").to(Takes::BgpdAndFrontEnd),
    // Every entry of a map at once (`no route-map NAME`: the operator's extras may remove one).
    line("route-map *").to(Takes::BgpdAndFrontEnd),
    words("match tag ...", 2),
    words("set tag ...", 2),
    // The rest are BGP's (`set community`, `set local-preference`, ...): the front end would
    // refuse them, and a refused line turns a fast apply into a full reconcile.
    words("match * ...", 2).to(Takes::Bgpd),
    words("set * ...", 2).to(Takes::Bgpd),
    line("on-match next").to(Takes::Bgpd),
    // BGP instances (bgpd).
    line("router bgp *").to(Takes::Bgpd),
    line("router bgp * vrf *").to(Takes::Bgpd),
    words("bgp router-id ...", 2),
    line("no bgp default ipv4-unicast"),
    line("no bgp network import-check"),
    words("coalesce-time ...", 1),
    line("bgp graceful-restart preserve-fw-state"),
    words("neighbor * interface remote-as ...", 4),
    words("neighbor * timers connect ...", 4),
    words("neighbor * bfd profile ...", 4),
    Setting { shape: "neighbor * route-map * *", identity: Identity::NeighborRouteMap, takes: Takes::Block },
    words("neighbor * remote-as ...", 3),
    words("neighbor * timers ...", 3),
    words("neighbor * password ...", 3),
    words("neighbor * port ...", 3),
    words("neighbor * ebgp-multihop ...", 3),
    words("neighbor * update-source ...", 3),
    words("neighbor * local-as ...", 3),
    words("neighbor * allowas-in ...", 3),
    line("neighbor * bfd"),
    line("neighbor * disable-connected-check"),
    line("neighbor * graceful-restart"),
    line("neighbor * activate"),
    line("import vrf *"),
    line("address-family * unicast"),
    line("exit-address-family"),
];

/// A shape, split: its words, and whether it takes any rest.
struct Shape {
    words: Vec<&'static str>,
    rest: bool,
    setting: &'static Setting,
}

impl Shape {
    fn new(setting: &'static Setting) -> Shape {
        let mut words: Vec<&'static str> = setting.shape.split(' ').collect();
        // `...` alone: any rest; `!...` (a word's prefix) ends the shape too.
        let rest = words.last().is_some_and(|w| w.ends_with("..."));
        if words.last() == Some(&"...") {
            words.pop();
        }
        Shape { words, rest, setting }
    }

    /// Does `line` have this shape? (Its words are read only as far as the shape needs.)
    fn fits(&self, line: &str) -> bool {
        let mut words = line.split(' ');
        for s in &self.words {
            let Some(w) = words.next() else { return false };
            let ok = match s.strip_suffix("...") {
                Some(prefix) => w.starts_with(prefix),
                None => *s == "*" || *s == w,
            };
            if !ok {
                return false;
            }
        }
        self.rest || words.next().is_none()
    }
}

/// `SETTINGS` grouped by their shape's first word (`!...` under `!`), groups and rows in table
/// order: a line is compared with the few rows of its first word only (the diff asks for every
/// line of a large config, nearly all `network` lines: the first group).
static BY_FIRST_WORD: std::sync::LazyLock<Vec<(&'static str, Vec<Shape>)>> = std::sync::LazyLock::new(|| {
    let mut groups: Vec<(&'static str, Vec<Shape>)> = Vec::new();
    for s in SETTINGS {
        let shape = Shape::new(s);
        let first = shape.words[0].trim_end_matches("...");
        match groups.iter_mut().find(|(f, _)| *f == first) {
            Some((_, g)) => g.push(shape),
            None => groups.push((first, vec![shape])),
        }
    }
    groups
});

/// The setting `line` is one of, if the agent writes such lines.
/// Lines without a `no` form in FRR 8.4 (bfdd's profile timers: `no receive-interval 200` is an
/// unknown command there): one is removed by setting FRR's default, which `show running-config`
/// then leaves out, on every version (FRR 10.3 also takes the `no` form). Defaults from bfdd
/// (`BFD_DEFREQUIREDMINRX` and its neighbors in bfdd/bfd.h).
const RESET_TO_DEFAULT: &[(&str, &str)] = &[
    ("receive-interval", "300"),
    ("transmit-interval", "300"),
    ("detect-multiplier", "3"),
    ("echo transmit-interval", "50"),
    ("echo receive-interval", "50"),
];

/// The line that takes `line` out of FRR's configuration: its `no` form (a negated line: the
/// line without `no`), or for a line without one its default value.
pub fn removal(line: &str) -> String {
    if let Some(rest) = line.strip_prefix("no ") {
        return rest.to_string();
    }
    let default = RESET_TO_DEFAULT
        .iter()
        .find(|(key, _)| line.strip_prefix(key).is_some_and(|v| v.starts_with(' ') && !v[1..].contains(' ')));
    match default {
        Some((key, value)) => format!("{key} {value}"),
        None => format!("no {line}"),
    }
}

pub fn setting(line: &str) -> Option<&'static Setting> {
    let first = if line.starts_with('!') { "!" } else { line.split(' ').next().unwrap_or("") };
    let (_, group) = BY_FIRST_WORD.iter().find(|(f, _)| *f == first)?;
    group.iter().find(|s| s.fits(line)).map(|s| s.setting)
}

/// The daemons that take `line` (a `no` form: those of the line it removes). A line without a row
/// (the operator's extras) goes where its block goes; a top-level one to bgpd.
pub fn takes(line: &str) -> Takes {
    let line = line.trim_start();
    setting(line.strip_prefix("no ").unwrap_or(line)).map_or(Takes::Block, |s| s.takes)
}

/// The identity of a single-valued setting: lines with the same key replace each other.
pub fn setting_key(line: &str) -> Option<Cow<'_, str>> {
    key(line)
}

/// A setting's key (`setting`'s identity): its first words (a prefix of the line, not copied),
/// or for a neighbor's route-map the words without the map's name.
pub(super) fn key(line: &str) -> Option<Cow<'_, str>> {
    match setting(line)?.identity {
        Identity::Line => None,
        Identity::Words(n) => {
            // The first `n` words, as the line has them (single spaces: the parser trims, FRR
            // and the renderer write one space).
            let end = line.match_indices(' ').nth(n - 1).map_or(line.len(), |(i, _)| i);
            Some(Cow::Borrowed(&line[..end]))
        }
        Identity::NeighborRouteMap => {
            let w: Vec<&str> = line.split(' ').collect();
            Some(Cow::Owned(format!("neighbor {} route-map {}", w[1], w[4])))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_shape(line: &str, shape: &'static str) -> bool {
        let setting: &'static Setting = Box::leak(Box::new(super::line(shape)));
        Shape::new(setting).fits(line)
    }

    #[test]
    fn every_line_of_every_golden_config_is_a_known_setting() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
        let mut checked = 0;
        let mut unknown = Vec::new();
        for case in std::fs::read_dir(dir).expect("tests/golden").flatten() {
            let Ok(text) = std::fs::read_to_string(case.path().join("frr.conf")) else { continue };
            // The operator's extras (after the marker) may be any FRR line.
            let ours = super::super::extras::split(&text).0;
            for l in ours.lines().map(str::trim).filter(|l| !l.is_empty()) {
                checked += 1;
                if setting(l).is_none() {
                    unknown.push(format!("{}: {l}", case.file_name().to_string_lossy()));
                }
            }
        }
        assert!(checked > 1000, "lines checked: {checked}");
        assert!(unknown.is_empty(), "lines without a row in SETTINGS:\n{}", unknown.join("\n"));
    }

    #[test]
    fn keys_follow_the_table() {
        let k = |l: &'static str| key(l).map(|c| c.into_owned());
        assert_eq!(k("neighbor 192.0.2.1 remote-as 64500").as_deref(), Some("neighbor 192.0.2.1 remote-as"));
        assert_eq!(k("neighbor 192.0.2.1 timers 3 9").as_deref(), Some("neighbor 192.0.2.1 timers"));
        assert_eq!(k("neighbor 192.0.2.1 timers connect 5").as_deref(), Some("neighbor 192.0.2.1 timers connect"));
        assert_eq!(k("neighbor 192.0.2.1 route-map fs-out-a out").as_deref(), Some("neighbor 192.0.2.1 route-map out"));
        assert_eq!(k("neighbor 192.0.2.1 route-map fs-out-a out x"), None, "not the route-map setting");
        assert_eq!(k("network 203.0.113.1/32 route-map fs-tag-1").as_deref(), Some("network 203.0.113.1/32"));
        assert_eq!(k("set community 65000:1 additive").as_deref(), Some("set community"));
        assert_eq!(k("detect-multiplier 3").as_deref(), Some("detect-multiplier"));
        assert_eq!(k("neighbor 192.0.2.1 activate"), None, "a flag");
        assert_eq!(
            k("ip prefix-list p seq 5 permit any").as_deref(),
            Some("ip prefix-list p seq 5"),
            "one entry per seq"
        );
        assert_eq!(k("access-list a permit any"), None, "not the agent's: its own identity");
        assert!(has_shape("! a comment", "!..."));
        assert!(!has_shape("router bgp 64512 vrf red", "router bgp *"));
        assert!(has_shape("router bgp 64512 vrf red", "router bgp * vrf *"));
        assert!(setting("router bgp 64512 vrf red").is_some());
    }

    #[test]
    fn daemons_follow_the_table() {
        assert_eq!(takes("no route-map fs-out-a"), Takes::BgpdAndFrontEnd);
        assert_eq!(takes("route-map fs-out-a permit 7"), Takes::BgpdAndFrontEnd);
        assert_eq!(takes(" match tag 7"), Takes::Block, "the library's: both daemons of the map");
        assert_eq!(takes(" no set large-community"), Takes::Bgpd);
        assert_eq!(takes(" set local-preference 50"), Takes::Bgpd);
        assert_eq!(takes("no ipv6 nht resolve-via-default"), Takes::FrontEnd);
        assert_eq!(takes("no bfd"), Takes::Bfdd);
        assert_eq!(takes(" neighbor 192.0.2.1 remote-as 64500"), Takes::Block);
        assert_eq!(takes("access-list a permit any"), Takes::Block, "no row: bgpd at the top");
        assert_eq!(takes("ipv6 prefix-list p seq 5 permit any"), Takes::Bgpd);
    }

    #[test]
    fn every_top_level_line_of_the_golden_configs_names_its_daemon() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
        let mut unnamed = std::collections::BTreeSet::new();
        for case in std::fs::read_dir(dir).expect("tests/golden").flatten() {
            let Ok(text) = std::fs::read_to_string(case.path().join("frr.conf")) else { continue };
            let ours = super::super::extras::split(&text).0;
            let top = ours.lines().filter(|l| !l.starts_with(' ') && !l.starts_with('!') && !l.is_empty());
            let named = |l: &&str| ["exit", "frr defaults traditional"].contains(l) || takes(l) != Takes::Block;
            unnamed.extend(top.filter(|l| !named(l)).map(str::to_string));
        }
        assert!(unnamed.is_empty(), "top-level lines whose row says no daemon: {unnamed:?}");
    }
}
