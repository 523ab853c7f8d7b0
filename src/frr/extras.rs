//! The operator's escape hatch: raw FRR lines from MetalLB's `bgpextras` ConfigMap (key `extras`),
//! applied after the agent's own configuration. Pure.
//!
//! The rendered frr.conf is the agent's config, then `MARKER`, then the extras as written (what
//! FRR reads at startup, in that order). For the diff the two are merged into one tree
//! (`desired`): blocks with the same header are one block, and a single-valued setting in the
//! extras (`neighbor X route-map M in`) replaces the agent's own, as it would in FRR, which applies
//! the later line. So a reconcile keeps the extras instead of removing them. Top-level lines of the
//! extras outside the blocks the agent owns (prefix-lists, other route-maps) are owned while they
//! are listed (`owned`), and removed from FRR when they leave the ConfigMap.
//!
//! Unsafe by design: FRR may refuse them, or they may change what the agent announces. Lines that
//! would break the agent are left out with a warning (`check`); the applier applies the agent's
//! config alone when FRR refuses them, and reports why.

use std::collections::BTreeSet;

use super::config::{parse, Node};
use super::owned::{is_managed_top, setting_key, MANAGED_GLOBALS, OWN_ROUTE_MAP_PREFIX};
use crate::model::core::ObjKey;
use crate::problem::{Kind, Problem};

/// The line that separates the agent's config from the extras in frr.conf.
pub const MARKER: &str = "! bgpextras:";

/// Largest extras text accepted (MetalLB's users keep a few lines here).
const MAX_BYTES: usize = 64 * 1024;

/// The agent's part and the extras part of a rendered config.
pub fn split(text: &str) -> (&str, Option<&str>) {
    let at = if text.starts_with(MARKER) { Some(0) } else { text.find(&format!("\n{MARKER}")).map(|i| i + 1) };
    match at {
        Some(i) => {
            let rest = &text[i..];
            let extras = rest.split_once('\n').map(|(_, e)| e).unwrap_or("");
            (&text[..i], Some(extras))
        }
        None => (text, None),
    }
}

/// `base` followed by the extras of ConfigMap `key`, as frr.conf holds them.
pub fn append(base: &str, key: &ObjKey, extras: &str) -> String {
    append_from(base, &format!("ConfigMap {key}, key extras"), extras)
}

/// `base` followed by raw lines, their source (`from`) named on the marker line.
pub fn append_from(base: &str, from: &str, extras: &str) -> String {
    let mut out = String::with_capacity(base.len() + extras.len() + 100);
    out.push_str(base);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("{MARKER} {from}, applied as written\n"));
    out.push_str(extras);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// The config tree a rendered text asks for: the agent's part with the extras merged in.
pub fn desired(text: &str) -> Vec<Node<'_>> {
    let (base, extras) = split(text);
    let mut tree = parse(base);
    if let Some(e) = extras {
        for n in parse(e) {
            merge_into(&mut tree, n);
        }
    }
    tree
}

/// Merge `n` into `level`: the same header merges children; a setting with the key of an existing
/// one replaces it.
fn merge_into<'a>(level: &mut Vec<Node<'a>>, n: Node<'a>) {
    if let Some(existing) = level.iter_mut().find(|c| c.line == n.line) {
        for c in n.children {
            merge_into(&mut existing.children, c);
        }
        return;
    }
    if !n.is_block() {
        if let Some(k) = setting_key(n.line) {
            if let Some(existing) = level.iter_mut().find(|c| !c.is_block() && setting_key(c.line).as_ref() == Some(&k))
            {
                *existing = n;
                return;
            }
        }
    }
    level.push(n);
}

/// Top-level lines of `text` that the agent does not manage anyway, but owns while they are
/// listed (added, changed and removed like its own blocks): those of the extras, and the
/// prefix-lists and route-maps of the agent's part that are not `fs-*` (frr-k8s's names, in
/// frr-k8s mode).
pub fn owned(text: &str) -> BTreeSet<String> {
    let (base, extras) = split(text);
    let mut out = owned_extras(extras);
    let policy = |l: &str| ["ip prefix-list ", "ipv6 prefix-list ", "route-map "].iter().any(|p| l.starts_with(p));
    out.extend(parse(base).into_iter().filter(|n| !is_managed_top(n) && policy(n.line)).map(|n| n.line.to_string()));
    out
}

/// `owned` of the extras part alone (`Conf::extras`).
pub fn owned_extras(extras: Option<&str>) -> BTreeSet<String> {
    match extras {
        Some(e) => parse(e).into_iter().filter(|n| !is_managed_top(n)).map(|n| n.line.to_string()).collect(),
        None => BTreeSet::new(),
    }
}

/// What is wrong with an extras text: each problem is a warning on the ConfigMap's `data.extras`,
/// and with any of them the extras are left out (the agent's own configuration never waits for
/// its escape hatch; a ConfigMap that was ignored before it was read must not stop anything).
pub fn check(key: &ObjKey, text: &str) -> Vec<Problem> {
    check_as(Kind::ConfigMap, key, "data.extras", "the extras are", text)
}

/// `check` of raw lines in field `field` of object `key` of `kind`; `what` names them in the
/// message (`the extras are`: not applied).
pub fn check_as(kind: Kind, key: &ObjKey, field: &str, what: &str, text: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut err = |msg: String| out.push(Problem::warning(kind, key, field, format!("{msg}: {what} not applied")));
    if text.len() > MAX_BYTES {
        err(format!("{} bytes: at most {MAX_BYTES}", text.len()));
        return out;
    }
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if line.chars().any(|c| c.is_control() && c != '\t') {
            err(format!("line {n}: control characters"));
            continue;
        }
        let cmd = t.strip_prefix("no ").unwrap_or(t);
        if t.starts_with(MARKER) {
            err(format!("line {n}: the marker line {MARKER:?} is the agent's"));
        } else if cmd == "do" || cmd.starts_with("do ") {
            err(format!("line {n}: `do` runs commands, not configuration"));
        } else if cmd.strip_prefix("route-map ").is_some_and(|m| m.starts_with(OWN_ROUTE_MAP_PREFIX)) {
            err(format!("line {n}: route-maps named {OWN_ROUTE_MAP_PREFIX}* are the agent's; use another name"));
        } else if MANAGED_GLOBALS.contains(&cmd) {
            err(format!("line {n}: {cmd:?} is set by the agent"));
        } else if !line.starts_with(' ') && (cmd.starts_with("hostname") || cmd.starts_with("frr ")) {
            err(format!("line {n}: {cmd:?} belongs to the FRR container's own configuration"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::diff::diff_owned;
    use super::*;

    const OURS: &str = "router bgp 64512\n neighbor 192.0.2.1 remote-as 64500\n address-family ipv4 unicast\n  neighbor 192.0.2.1 activate\n  neighbor 192.0.2.1 route-map fs-deny-in in\n exit-address-family\nexit\n";
    const EXTRAS: &str = "ip prefix-list from-router seq 5 permit 198.51.100.0/24\nroute-map accept permit 10\n match ip address prefix-list from-router\nexit\nrouter bgp 64512\n  neighbor 192.0.2.1 allowas-in origin\n  address-family ipv4 unicast\n    neighbor 192.0.2.1 route-map accept in\n  exit-address-family\n";

    fn key() -> ObjKey {
        ObjKey::new("metallb-system", "bgpextras")
    }

    #[test]
    fn split_and_append_round_trip() {
        let text = append(OURS, &key(), EXTRAS);
        let (base, extras) = split(&text);
        assert_eq!((base, extras), (OURS, Some(EXTRAS)));
        assert_eq!(split(OURS), (OURS, None));
        assert!(text.contains("! bgpextras: ConfigMap metallb-system/bgpextras"));
    }

    #[test]
    fn extras_merge_into_our_blocks_and_replace_our_settings() {
        let text = append(OURS, &key(), EXTRAS);
        let tree = desired(&text);
        let router = tree.iter().find(|n| n.line == "router bgp 64512").expect("one router block");
        assert_eq!(tree.iter().filter(|n| n.line.starts_with("router bgp")).count(), 1);
        assert!(router.child("neighbor 192.0.2.1 allowas-in origin").is_some());
        let af = router.child("address-family ipv4 unicast").expect("af");
        let lines: Vec<&str> = af.children.iter().map(|c| c.line).collect();
        assert_eq!(lines, vec!["neighbor 192.0.2.1 activate", "neighbor 192.0.2.1 route-map accept in"]);
        assert_eq!(
            owned(&append(OURS, &key(), EXTRAS)),
            ["ip prefix-list from-router seq 5 permit 198.51.100.0/24", "route-map accept permit 10"]
                .into_iter()
                .map(String::from)
                .collect()
        );
    }

    /// Running = what FRR shows after taking ours + extras: no difference, so a reconcile keeps
    /// the extras; dropping them from the ConfigMap removes exactly their lines.
    #[test]
    fn the_diff_keeps_and_removes_extras() {
        let with = append(OURS, &key(), EXTRAS);
        let running_with = "frr version 8.4.4\nip prefix-list from-router seq 5 permit 198.51.100.0/24\nroute-map accept permit 10\n match ip address prefix-list from-router\nexit\nroute-map unrelated permit 1\nexit\nrouter bgp 64512\n neighbor 192.0.2.1 remote-as 64500\n neighbor 192.0.2.1 allowas-in origin\n address-family ipv4 unicast\n  neighbor 192.0.2.1 activate\n  neighbor 192.0.2.1 route-map accept in\n exit-address-family\nexit\n";
        let d = diff_owned(&parse(running_with), &desired(&with), &owned(&with));
        assert!(d.is_empty(), "{}", d.script);

        let d = diff_owned(&parse(running_with), &desired(OURS), &owned(&with));
        assert_eq!(
            d.script,
            "router bgp 64512\n no neighbor 192.0.2.1 allowas-in origin\n address-family ipv4 unicast\n  neighbor 192.0.2.1 route-map fs-deny-in in\n exit-address-family\nexit\nno ip prefix-list from-router seq 5 permit 198.51.100.0/24\nno route-map accept permit 10\n"
        );
        assert!(!d.script.contains("unrelated"), "lines never listed stay: {}", d.script);

        // Added from nothing: the prefix-list and route-map before the BGP lines that use them.
        let d = diff_owned(&parse(OURS), &desired(&with), &owned(&with));
        let pl = d.script.find("ip prefix-list from-router").expect("prefix-list");
        let rm = d.script.find("route-map accept permit 10\n match ip address").expect("route-map");
        let use_ = d.script.find("neighbor 192.0.2.1 route-map accept in").expect("use");
        assert!(pl < use_ && rm < use_, "{}", d.script);
    }

    /// frr-k8s mode names its prefix-lists and route-maps as frr-k8s does: they are the agent's
    /// while it renders them (removed when they leave), like the extras' own.
    #[test]
    fn the_agents_own_policy_lines_are_owned() {
        let ours = "ip prefix-list 192.0.2.1-allowed-ipv4 seq 1 deny any\nroute-map 192.0.2.1-out permit 1\n match ip address prefix-list 192.0.2.1-allowed-ipv4\nexit\nroute-map fs-deny-in deny 10\nexit\nrouter bgp 64512\nexit\n";
        let mine = owned(ours);
        assert_eq!(
            mine,
            ["ip prefix-list 192.0.2.1-allowed-ipv4 seq 1 deny any", "route-map 192.0.2.1-out permit 1"]
                .into_iter()
                .map(String::from)
                .collect(),
            "managed blocks (router bgp, fs-*) are not in the set; the rest is"
        );
        let running = "ip prefix-list 192.0.2.1-allowed-ipv4 seq 1 deny any\nip prefix-list 192.0.2.1-allowed-ipv4 seq 2 permit 10.0.0.0/8\nip prefix-list someone-elses seq 5 permit any\n";
        let d = diff_owned(&parse(running), &desired(ours), &mine);
        assert!(d.script.contains("route-map 192.0.2.1-out permit 1"), "{}", d.script);
        assert!(!d.script.contains("seq 2"), "a line never rendered is not the agent's: {}", d.script);
        assert!(!d.script.contains("someone-elses"), "{}", d.script);
        // An entry that changes is re-entered under its sequence number, never removed after:
        // FRR replaces it in place, and a removal by sequence number could take the new one.
        let before = "ip prefix-list L seq 1 permit 10.0.0.0/8\n";
        let after = "ip prefix-list L seq 1 permit 11.0.0.0/8\n";
        let mut both = owned(before);
        both.extend(owned(after));
        let d = diff_owned(&parse(before), &desired(after), &both);
        assert_eq!((d.script.as_str(), d.changes), ("ip prefix-list L seq 1 permit 11.0.0.0/8\n", 1));
    }

    #[test]
    fn check_refuses_what_would_break_the_agent() {
        let bad = [
            ("do write memory", "`do`"),
            ("route-map fs-deny-in permit 5", "fs-*"),
            ("bgp graceful-shutdown", "set by the agent"),
            ("hostname evil", "FRR container"),
            ("ip prefix-list a seq 5 permit 10.0.0.0/8\u{7}", "control"),
            ("! bgpextras: again", "marker"),
        ];
        for (text, why) in bad {
            let p = check(&key(), text);
            assert_eq!(p.len(), 1, "{text}: {p:?}");
            assert!(!p[0].is_error() && p[0].to_string().contains(why), "{text}: {}", p[0]);
            assert!(p[0].to_string().contains("data.extras"), "{}", p[0]);
        }
        assert!(check(&key(), EXTRAS).is_empty());
        assert!(check(&key(), &"x".repeat(MAX_BYTES + 1))[0].to_string().contains("at most"));
    }
}
