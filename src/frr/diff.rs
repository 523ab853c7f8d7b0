//! The smallest vtysh script that turns the config FRR runs into the config it should run. Pure.
//!
//! Why not frr-reload.py: it runs one vtysh process per removed line (minutes for thousands of
//! withdrawals), ignores route-map sequence numbers, and needed two runs to remove BFD from a
//! neighbor (../shared/notes/frr-lab.md). This diff works on the structure of the two configs and
//! produces one script (what one `vtysh -f` would take):
//!
//! - Managed: every `router bgp` block, every `route-map fs-*` entry and every `bfd` profile.
//!   Anything else FRR runs (hostname, logging, interfaces, other route-maps) is left alone.
//! - A setting that changes value is re-entered, never removed first (`neighbor X remote-as` would
//!   delete the neighbor, `neighbor X timers` would fall back to defaults in between).
//! - A neighbor that disappears is removed with one `no neighbor X`.
//! - Order: new and changed route-maps and BFD profiles first (so references resolve at once),
//!   then the BGP instances (removed ones first), then route-maps and profiles nothing uses any more.
//! - Route-map entries whose `set` lines changed are reported, so the driver can ask FRR for an
//!   outbound soft refresh of the neighbors using them instead of waiting for FRR's route-map
//!   timer (5 s by default).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::conf::{network_line, Conf};
use super::config::{parse, Node};
pub use super::delta::{Delta, SoftOut};
use super::extras;
use super::owned::{is_own_route_map, is_router, key, MANAGED_GLOBALS};
use crate::desired::state::Networks;

/// `router bgp 64512 vrf red` -> Some("red")
fn router_vrf(header: &str) -> Option<String> {
    let t: Vec<&str> = header.split(' ').collect();
    (t.len() >= 5 && t[3] == "vrf").then(|| t[4].to_string())
}

fn negate(line: &str) -> String {
    match line.strip_prefix("no ") {
        Some(rest) => rest.to_string(),
        None => format!("no {line}"),
    }
}

/// The neighbor a line of a router block is about (`neighbor X ...`).
fn neighbor_of(line: &str) -> Option<&str> {
    let mut t = line.split(' ');
    (t.next() == Some("neighbor")).then(|| t.next()).flatten()
}

/// Neighbors defined in a router block (by a remote-as line).
fn neighbors(router: &Node) -> BTreeSet<String> {
    router
        .children
        .iter()
        .filter(|c| c.line.contains(" remote-as "))
        .filter_map(|c| neighbor_of(c.line).map(str::to_string))
        .collect()
}

/// Lines to turn leaf list `have` into `want` (removals first, then additions in `want`'s order).
fn leaf_diff(have: &[&str], want: &[&str], skip: &dyn Fn(&str) -> bool) -> Vec<String> {
    // Sorted lists rather than sets: an address family may hold 100,000 `network` lines.
    fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
        v.sort_unstable();
        v
    }
    let want_set = sorted(want.to_vec());
    let have_set = sorted(have.to_vec());
    let want_keys = sorted(want.iter().filter_map(|l| key(l)).collect::<Vec<Cow<'_, str>>>());
    let mut out = Vec::new();
    for h in have {
        if skip(h) || want_set.binary_search(h).is_ok() {
            continue;
        }
        if key(h).is_some_and(|k| want_keys.binary_search(&k).is_ok()) {
            continue; // replaced below
        }
        out.push(negate(h));
    }
    for w in want {
        if have_set.binary_search(w).is_err() {
            out.push((*w).to_string());
        }
    }
    out
}

/// A block's own lines. An address-family is a block even when it is empty (FRR prints an empty
/// one as header + `exit-address-family`): it never counts as a line of its router.
fn leaves<'a>(n: &Node<'a>) -> Vec<&'a str> {
    n.children.iter().filter(|c| !c.is_block() && !is_address_family(c)).map(|c| c.line).collect()
}

fn is_address_family(n: &Node) -> bool {
    n.line.starts_with("address-family ")
}

/// Write `header` + indented `body` + terminator.
fn block(out: &mut String, indent: usize, header: &str, body: &[String], terminator: &str) {
    let pad = " ".repeat(indent);
    out.push_str(&format!("{pad}{header}\n"));
    for l in body {
        out.push_str(&format!("{pad} {l}\n"));
    }
    out.push_str(&format!("{pad}{terminator}\n"));
}

/// Render a node (and its children) back to text, for blocks added whole.
fn whole(n: &Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    out.push_str(&format!("{pad}{}\n", n.line));
    for c in &n.children {
        if c.is_block() {
            whole(c, indent + 1, out);
        } else {
            out.push_str(&format!("{pad} {}\n", c.line));
        }
    }
    if n.is_block() || indent == 0 {
        let term = if n.line.starts_with("address-family") { "exit-address-family" } else { "exit" };
        out.push_str(&format!("{pad}{term}\n"));
    }
}

fn count_lines(n: &Node) -> usize {
    1 + n.children.iter().map(count_lines).sum::<usize>()
}

/// Compute the script that makes `running` equal to `desired` in what we manage.
pub fn diff(running: &[Node], desired: &[Node]) -> Delta {
    diff_owned(running, desired, &BTreeSet::new())
}

/// `diff`, also managing the top-level lines in `owned` (the operator's extras, see `extras`):
/// added or changed before the BGP lines that may use them, removed after.
pub fn diff_owned(running: &[Node], desired: &[Node], owned: &BTreeSet<String>) -> Delta {
    let mut d = Delta::default();
    // Script parts in the order they run: what others refer to, BGP, then what nothing uses.
    let mut prepare = String::new();
    let mut bgp = String::new();
    let mut cleanup = String::new();
    bfd_profiles(running, desired, &mut d, &mut prepare, &mut cleanup);
    let changed_maps = route_maps(running, desired, &mut d, &mut prepare, &mut cleanup);
    let want_r = routers(running, desired, &mut d, &mut bgp);
    d.soft_out = soft_outs(&want_r, &changed_maps);
    let top = |cfg: &[Node], l: &str| cfg.iter().any(|n| n.line == l && n.children.is_empty());
    for g in MANAGED_GLOBALS {
        match (top(running, g), top(desired, g)) {
            (false, true) => prepare.insert_str(0, &format!("{g}\n")),
            (true, false) => cleanup.push_str(&format!("no {g}\n")),
            _ => continue,
        }
        d.changes += 1;
    }
    owned_lines(running, desired, owned, &mut d, &mut prepare, &mut cleanup);
    d.script = format!("{prepare}{bgp}{cleanup}");
    d
}

/// The top-level nodes in `owned`: added whole, changed line by line, removed with `no`.
fn owned_lines(
    running: &[Node],
    desired: &[Node],
    owned: &BTreeSet<String>,
    d: &mut Delta,
    prepare: &mut String,
    cleanup: &mut String,
) {
    fn find<'d, 'a>(cfg: &'d [Node<'a>], line: &str) -> Option<&'d Node<'a>> {
        cfg.iter().find(|n| n.line == line)
    }
    for line in owned {
        match (find(running, line), find(desired, line)) {
            (None, Some(w)) => {
                if w.is_block() || w.line.starts_with("route-map ") {
                    whole(w, 0, prepare);
                } else {
                    prepare.push_str(&format!("{}\n", w.line));
                }
                d.changes += count_lines(w);
            }
            (Some(h), Some(w)) => {
                let lines = leaf_diff(&leaves(h), &leaves(w), &|_| false);
                if !lines.is_empty() {
                    d.changes += lines.len();
                    block(prepare, 0, line, &lines, "exit");
                }
            }
            (Some(_), None) => {
                cleanup.push_str(&format!("{}\n", negate(line)));
                d.changes += 1;
            }
            (None, None) => {}
        }
    }
}

/// BFD profiles: new and changed ones into `prepare`, removed ones into `cleanup`.
fn bfd_profiles(running: &[Node], desired: &[Node], d: &mut Delta, prepare: &mut String, cleanup: &mut String) {
    fn profiles<'d, 'a>(cfg: &'d [Node<'a>]) -> BTreeMap<&'a str, &'d Node<'a>> {
        cfg.iter()
            .filter(|n| n.line == "bfd")
            .flat_map(|n| n.children.iter())
            .filter(|c| c.line.starts_with("profile "))
            .map(|c| (c.line, c))
            .collect()
    }
    let (have_p, want_p) = (profiles(running), profiles(desired));
    let mut bfd_add = Vec::new();
    for (h, w) in &want_p {
        match have_p.get(h) {
            None => {
                let mut s = String::new();
                whole(w, 1, &mut s);
                // `whole` closes indented leaves only for blocks; an empty profile still needs `exit`.
                if !w.is_block() {
                    s.push_str(" exit\n");
                }
                d.changes += count_lines(w);
                bfd_add.push(s);
            }
            Some(hn) => {
                let lines = leaf_diff(&leaves(hn), &leaves(w), &|_| false);
                if !lines.is_empty() {
                    d.changes += lines.len();
                    let mut s = String::new();
                    block(&mut s, 1, h, &lines, "exit");
                    bfd_add.push(s);
                }
            }
        }
    }
    if !bfd_add.is_empty() {
        prepare.push_str("bfd\n");
        bfd_add.iter().for_each(|s| prepare.push_str(s));
        prepare.push_str("exit\n");
    }
    let bfd_del: Vec<&&str> = have_p.keys().filter(|k| !want_p.contains_key(*k)).collect();
    if !bfd_del.is_empty() {
        cleanup.push_str("bfd\n");
        for k in bfd_del {
            cleanup.push_str(&format!(" no {k}\n"));
            d.changes += 1;
        }
        cleanup.push_str("exit\n");
    }
}

/// Our route-map entries: new and changed ones into `prepare`, removed ones into `cleanup`.
/// Returns the names of the maps whose entries changed in place (their users need a soft refresh).
fn route_maps(
    running: &[Node],
    desired: &[Node],
    d: &mut Delta,
    prepare: &mut String,
    cleanup: &mut String,
) -> BTreeSet<String> {
    fn rmaps<'d, 'a>(cfg: &'d [Node<'a>]) -> BTreeMap<&'a str, &'d Node<'a>> {
        cfg.iter().filter(|n| is_own_route_map(n)).map(|n| (n.line, n)).collect()
    }
    let (have_rm, want_rm) = (rmaps(running), rmaps(desired));
    let mut changed_maps: BTreeSet<String> = BTreeSet::new();
    for (h, w) in &want_rm {
        match have_rm.get(h) {
            None => {
                whole(w, 0, prepare);
                d.changes += count_lines(w);
            }
            Some(hn) => {
                let lines = leaf_diff(&leaves(hn), &leaves(w), &|_| false);
                if !lines.is_empty() {
                    d.changes += lines.len();
                    block(prepare, 0, h, &lines, "exit");
                    if let Some(name) = h.split(' ').nth(1) {
                        changed_maps.insert(name.to_string());
                    }
                }
            }
        }
    }
    for h in have_rm.keys().filter(|k| !want_rm.contains_key(*k)) {
        cleanup.push_str(&format!("no {h}\n"));
        d.changes += 1;
    }
    changed_maps
}

/// BGP instances into `bgp`: the default one is created first and removed last. Returns the
/// desired instances.
fn routers<'d, 'a>(running: &[Node], desired: &'d [Node<'a>], d: &mut Delta, bgp: &mut String) -> Vec<&'d Node<'a>> {
    // (Borrowed: at 100,000 Services a router block is 100,000 nodes.)
    fn routers<'d, 'a>(cfg: &'d [Node<'a>]) -> Vec<&'d Node<'a>> {
        let mut r: Vec<&Node> = cfg.iter().filter(|n| is_router(n)).collect();
        r.sort_by_key(|n| (router_vrf(n.line).is_some(), n.line));
        r
    }
    let (have_r, want_r) = (routers(running), routers(desired));
    // Removals first: a default instance whose ASN changes must be gone before the new one exists
    // (FRR runs one per VRF), and VRF instances go before the default one.
    for h in have_r.iter().rev().filter(|h| !want_r.iter().any(|w| w.line == h.line)) {
        bgp.push_str(&format!("no {}\n", h.line));
        d.changes += 1;
    }
    for w in &want_r {
        match have_r.iter().find(|h| h.line == w.line) {
            None => {
                whole(w, 0, bgp);
                d.changes += count_lines(w);
            }
            Some(h) => router_diff(h, w, bgp, d),
        }
    }
    want_r
}

/// Neighbors whose outbound route-map entries changed in place.
fn soft_outs(want_r: &[&Node], changed_maps: &BTreeSet<String>) -> Vec<SoftOut> {
    let mut out = Vec::new();
    for w in want_r {
        let vrf = router_vrf(w.line);
        for af in w.children.iter().filter(|c| is_address_family(c)) {
            let afi = af.line.split(' ').nth(1).unwrap_or("ipv4").to_string();
            for l in leaves(af) {
                let t: Vec<&str> = l.split(' ').collect();
                if let ["neighbor", n, "route-map", m, "out"] = t.as_slice() {
                    if changed_maps.contains(*m) {
                        out.push(SoftOut { vrf: vrf.clone(), afi: afi.clone(), neighbor: n.to_string() });
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn router_diff(have: &Node, want: &Node, out: &mut String, d: &mut Delta) {
    let gone: BTreeSet<String> = neighbors(have).difference(&neighbors(want)).cloned().collect();
    let skip = |l: &str| neighbor_of(l).is_some_and(|n| gone.contains(n));
    let mut body: Vec<String> = gone.iter().map(|n| format!("no neighbor {n}")).collect();
    body.extend(leaf_diff(&leaves(have), &leaves(want), &skip));
    let mut sub = String::new();
    for w in want.children.iter().filter(|c| c.is_block()) {
        let have_leaves = have.child(w.line).map(leaves).unwrap_or_default();
        let lines = leaf_diff(&have_leaves, &leaves(w), &skip);
        if !lines.is_empty() {
            d.changes += lines.len();
            block(&mut sub, 1, w.line, &lines, "exit-address-family");
        }
    }
    // Address families that are gone, or empty, in `want`.
    for h in have.children.iter().filter(|c| c.is_block() && want.child(c.line).is_none_or(|w| !w.is_block())) {
        let lines = leaf_diff(&leaves(h), &[], &skip);
        if !lines.is_empty() {
            d.changes += lines.len();
            block(&mut sub, 1, h.line, &lines, "exit-address-family");
        }
    }
    if body.is_empty() && sub.is_empty() {
        return;
    }
    d.changes += body.len();
    out.push_str(&format!("{}\n", want.line));
    for l in &body {
        out.push_str(&format!(" {l}\n"));
    }
    out.push_str(&sub);
    out.push_str("exit\n");
}

type Context<'a> = (&'a str, &'a str, usize);

/// The `network` lines of one address family of one BGP instance, and the rest of a config.
struct Split<'a> {
    /// Every line that is not a `network` line, in order.
    skeleton: Vec<&'a str>,
    /// (router header, address-family header, the header's index in `skeleton`) → its `network`
    /// lines (trimmed), in order.
    networks: Vec<(Context<'a>, Vec<&'a str>)>,
}

/// Split a config rendered by the agent; `None` when its shape is not the rendered one (a
/// `network` line outside an address family).
fn split_networks(text: &str) -> Option<Split<'_>> {
    let mut out = Split { skeleton: Vec::new(), networks: Vec::new() };
    let (mut router, mut af): (Option<&str>, Option<(&str, usize)>) = (None, None);
    for line in text.lines() {
        let body = line.trim_start();
        if let Some(rest) = body.strip_prefix("network ") {
            let (Some(r), Some((a, i))) = (router, af) else { return None };
            if rest.is_empty() {
                return None;
            }
            match out.networks.last_mut() {
                Some((ctx, v)) if *ctx == (r, a, i) => v.push(body),
                _ => out.networks.push(((r, a, i), vec![body])),
            }
            continue;
        }
        out.skeleton.push(line);
        if line.starts_with("router bgp ") {
            (router, af) = (Some(line), None);
        } else if line == "exit" {
            (router, af) = (None, None);
        } else if router.is_some() && body.starts_with("address-family ") {
            af = Some((body, out.skeleton.len() - 1));
        } else if body == "exit-address-family" {
            af = None;
        }
    }
    Some(out)
}

/// The fast path for the commonest change, Services coming and going: when two rendered configs
/// differ only in `network` lines, the script `diff` would produce, found without parsing either
/// config into a tree (a few milliseconds at 100,000 lines instead of a second). `None` when
/// anything else differs: use `diff`.
pub fn network_delta(from: &str, to: &str) -> Option<Delta> {
    let (a, b) = (split_networks(from)?, split_networks(to)?);
    if a.skeleton != b.skeleton {
        return None;
    }
    // The skeletons are equal, so a context means the same block in both. Routers in the order
    // `routers` handles them (the default instance first, then by header), address families in
    // the order of the text.
    let contexts: BTreeSet<(bool, &str, usize, &str)> = a
        .networks
        .iter()
        .chain(b.networks.iter())
        .map(|((r, af, i), _)| (router_vrf(r).is_some(), *r, *i, *af))
        .collect();
    fn lines_of<'a>(s: &Split<'a>, i: usize) -> Vec<&'a str> {
        s.networks.iter().filter(|((_, _, k), _)| *k == i).flat_map(|(_, v)| v.iter().copied()).collect()
    }
    type Afs<'a> = Vec<(&'a str, Vec<String>)>;
    let mut per_router: BTreeMap<(bool, &str), Afs<'_>> = BTreeMap::new();
    let mut d = Delta::default();
    for (vrf, router, i, af) in contexts {
        let (have, want) = (lines_of(&a, i), lines_of(&b, i));
        // Common head and tail first: at 100,000 lines only the middle is put in sets.
        let head = have.iter().zip(&want).take_while(|(x, y)| x == y).count();
        let tail = have[head..].iter().rev().zip(want[head..].iter().rev()).take_while(|(x, y)| x == y).count();
        let lines = leaf_diff(&have[head..have.len() - tail], &want[head..want.len() - tail], &|_| false);
        if lines.is_empty() {
            continue;
        }
        d.changes += lines.len();
        per_router.entry((vrf, router)).or_default().push((af, lines));
    }
    let mut script = String::new();
    for ((_, router), afs) in per_router {
        script.push_str(router);
        script.push('\n');
        for (af, lines) in afs {
            block(&mut script, 1, af, &lines, "exit-address-family");
        }
        script.push_str("exit\n");
    }
    d.script = script;
    Some(d)
}

/// The script that makes FRR's running config (`running`) run `desired`, when the two differ at
/// most in their `network` lines: everything else (the skeletons) has an empty diff, and the
/// lines are compared prefix by prefix with `desired`'s maps, without making `desired`'s text or
/// a tree of either config's `network` lines. That is the periodic check's usual case; its full
/// diff held both texts and both trees at once (~4 MB at 10,000 Services, ~30 MB at 100,000).
/// `None` when anything else differs, or when `desired` has `network` lines outside its maps (in
/// extras, or a config known only as text): then only the full diff knows, and the caller takes
/// it. Where this answers, its script is the full diff's (tests/properties.rs).
pub fn running_delta(running: &str, desired: &Conf, owned: &BTreeSet<String>) -> Option<Delta> {
    let skeleton = desired.skeleton();
    if skeleton.lines().any(|l| l.trim_start().trim_start_matches("no ").starts_with("network ")) {
        return None;
    }
    let have = split_networks(running)?;
    let mut have_skeleton = String::with_capacity(have.skeleton.iter().map(|l| l.len() + 1).sum());
    for l in &have.skeleton {
        have_skeleton.push_str(l);
        have_skeleton.push('\n');
    }
    if !diff_owned(&parse(&have_skeleton), &extras::desired(&skeleton), owned).is_empty() {
        return None;
    }
    drop(have_skeleton);
    // The running lines of each (router, address family), with their prefixes.
    let mut lines: BTreeMap<(&str, &str), Vec<(IpNet, &str)>> = BTreeMap::new();
    let mut order: Vec<(&str, &str)> = Vec::new();
    for ((router, af, _), found) in &have.networks {
        let ctx = (router.trim(), af.trim());
        let v = lines.entry(ctx).or_insert_with(|| {
            order.push(ctx);
            Vec::new()
        });
        for l in found {
            let l = l.trim_end();
            let prefix = l.strip_prefix("network ")?.split(' ').next()?.parse::<IpNet>().ok()?;
            v.push((prefix, l));
        }
    }
    drop(have);
    // Each block of `desired`, then the contexts only FRR has.
    let none = Networks::default();
    let mut contexts: Vec<((&str, &str), &Networks)> =
        desired.blocks().iter().map(|b| ((b.router.as_str(), b.af.as_str()), &b.networks)).collect();
    contexts.extend(
        order
            .into_iter()
            .filter(|c| !desired.blocks().iter().any(|b| (b.router.as_str(), b.af.as_str()) == *c))
            .map(|c| (c, &none)),
    );
    type Afs<'a> = Vec<(&'a str, Vec<String>)>;
    let mut per_router: BTreeMap<(bool, &str), Afs<'_>> = BTreeMap::new();
    let mut d = Delta::default();
    let mut line = String::new();
    for ((router, af), want) in contexts {
        let mut have = lines.remove(&(router, af)).unwrap_or_default();
        have.sort_unstable();
        // A line FRR shows twice is one line (as the parser takes it).
        have.dedup();
        let (mut gone, mut added): (Vec<&str>, Vec<String>) = (Vec::new(), Vec::new());
        let mut i = 0;
        for (prefix, tag) in want.iter() {
            while i < have.len() && have[i].0 < *prefix {
                gone.push(have[i].1);
                i += 1;
            }
            line.clear();
            network_line(&mut line, prefix, *tag);
            let mut found = false;
            while i < have.len() && have[i].0 == *prefix {
                match have[i].1 == line {
                    true => found = true,
                    false => gone.push(have[i].1),
                }
                i += 1;
            }
            if !found {
                added.push(line.clone());
            }
        }
        gone.extend(have[i..].iter().map(|(_, l)| *l));
        if gone.is_empty() && added.is_empty() {
            continue;
        }
        let added: Vec<&str> = added.iter().map(String::as_str).collect();
        let body = leaf_diff(&gone, &added, &|_| false);
        d.changes += body.len();
        per_router.entry((router_vrf(router).is_some(), router)).or_default().push((af, body));
    }
    for ((_, router), afs) in per_router {
        d.script.push_str(router);
        d.script.push('\n');
        for (af, body) in afs {
            block(&mut d.script, 1, af, &body, "exit-address-family");
        }
        d.script.push_str("exit\n");
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::super::config::parse;
    use super::*;

    #[test]
    fn an_address_family_left_empty_loses_its_lines() {
        let have = "router bgp 64512\n neighbor 192.0.2.1 remote-as 64500\n address-family ipv4 unicast\n  network 203.0.113.1/32\n exit-address-family\nexit\n";
        let want = "router bgp 64512\n neighbor 192.0.2.1 remote-as 64500\n address-family ipv4 unicast\n exit-address-family\nexit\n";
        let d = diff(&parse(have), &parse(want));
        assert_eq!(
            d.script,
            "router bgp 64512\n address-family ipv4 unicast\n  no network 203.0.113.1/32\n exit-address-family\nexit\n"
        );
        assert!(diff(&parse(want), &parse(want)).is_empty());
        let back = diff(&parse(want), &parse(have));
        assert_eq!(back.changes, 1, "{}", back.script);
    }

    #[test]
    fn graceful_shutdown_is_managed() {
        let base = "router bgp 64512\n neighbor 192.0.2.1 remote-as 64500\nexit\n";
        let drained = format!("bgp graceful-shutdown\n{base}");
        let d = diff(&parse(&drained), &parse(base));
        assert_eq!((d.script.as_str(), d.changes), ("no bgp graceful-shutdown\n", 1));
        let d = diff(&parse(base), &parse(&drained));
        assert_eq!((d.script.as_str(), d.changes), ("bgp graceful-shutdown\n", 1));
        assert!(diff(&parse(&drained), &parse(&drained)).is_empty());
    }

    fn delta(have: &str, want: &str) -> Delta {
        diff(&parse(have), &parse(want))
    }

    const BASE: &str = "route-map fs-tag-7 permit 10\n set tag 7\nexit\nroute-map fs-out-192.0.2.1 permit 7\n match tag 7\n set community 65000:1\nexit\nroute-map fs-out-192.0.2.1 deny 65535\nexit\nrouter bgp 64512\n no bgp default ipv4-unicast\n neighbor 192.0.2.1 remote-as 64500\n neighbor 192.0.2.1 timers 30 90\n !\n address-family ipv4 unicast\n  network 203.0.113.1/32 route-map fs-tag-7\n  neighbor 192.0.2.1 activate\n  neighbor 192.0.2.1 route-map fs-out-192.0.2.1 out\n exit-address-family\nexit\n";

    #[test]
    fn identical_configs_need_nothing() {
        let running = format!("frr version 8.4.4\nhostname x\nlog syslog\n{BASE}route-map other permit 1\nexit\n");
        assert!(delta(&running, BASE).is_empty(), "unmanaged lines are left alone");
    }

    #[test]
    fn added_network_is_one_line_in_context() {
        let want = BASE.replace(
            "  neighbor 192.0.2.1 activate",
            "  network 203.0.113.2/32 route-map fs-tag-7\n  neighbor 192.0.2.1 activate",
        );
        let d = delta(BASE, &want);
        assert_eq!(d.changes, 1);
        assert_eq!(
            d.script,
            "router bgp 64512\n address-family ipv4 unicast\n  network 203.0.113.2/32 route-map fs-tag-7\n exit-address-family\nexit\n"
        );
        let back = delta(&want, BASE);
        assert!(back.script.contains("  no network 203.0.113.2/32 route-map fs-tag-7\n"), "{}", back.script);
    }

    #[test]
    fn changed_value_is_re_entered_not_removed() {
        let want = BASE.replace("timers 30 90", "timers 3 9").replace("remote-as 64500", "remote-as 64501");
        let d = delta(BASE, &want);
        assert_eq!(d.changes, 2);
        assert!(!d.script.contains("no neighbor"), "{}", d.script);
        assert!(d.script.contains(" neighbor 192.0.2.1 timers 3 9\n"));
    }

    #[test]
    fn community_change_asks_for_soft_out() {
        let want = BASE.replace("set community 65000:1", "set community 65000:2");
        let d = delta(BASE, &want);
        assert_eq!(d.script, "route-map fs-out-192.0.2.1 permit 7\n set community 65000:2\nexit\n");
        assert_eq!(d.soft_out.len(), 1);
        assert_eq!(d.soft_out[0].command(), "clear bgp ipv4 unicast 192.0.2.1 soft out");
    }

    #[test]
    fn removed_neighbor_is_one_no_neighbor() {
        let two = BASE
            .replace(
                " neighbor 192.0.2.1 timers 30 90\n",
                " neighbor 192.0.2.1 timers 30 90\n neighbor 192.0.2.2 remote-as 64500\n neighbor 192.0.2.2 bfd\n",
            )
            .replace(
                "  neighbor 192.0.2.1 activate\n",
                "  neighbor 192.0.2.1 activate\n  neighbor 192.0.2.2 activate\n",
            );
        let d = delta(&two, BASE);
        assert_eq!(d.script, "router bgp 64512\n no neighbor 192.0.2.2\nexit\n");
    }

    #[test]
    fn route_maps_first_and_unused_ones_last() {
        let want = BASE.replace("fs-tag-7", "fs-tag-8").replace("set tag 7", "set tag 8");
        let d = delta(BASE, &want);
        let new_map = d.script.find("route-map fs-tag-8 permit 10").expect("new map");
        let network = d.script.find("network 203.0.113.1/32 route-map fs-tag-8").expect("network moves");
        let old_map = d.script.find("no route-map fs-tag-7 permit 10").expect("old map removed");
        assert!(new_map < network && network < old_map, "{}", d.script);
    }

    #[test]
    fn bfd_profiles() {
        let have = "bfd\n profile a\n  detect-multiplier 5\n exit\n !\n profile gone\n exit\nexit\n";
        let want = "bfd\n profile a\n  detect-multiplier 4\n exit\n !\n profile new\n exit\nexit\n";
        let d = delta(have, want);
        assert_eq!(
            d.script,
            "bfd\n profile a\n  detect-multiplier 4\n exit\n profile new\n exit\nexit\nbfd\n no profile gone\nexit\n"
        );
    }

    #[test]
    fn negated_lines_are_un_negated_on_removal() {
        let have = "router bgp 1\n no bgp network import-check\nexit\n";
        let want = "router bgp 1\nexit\n";
        assert_eq!(delta(have, want).script, "router bgp 1\n bgp network import-check\nexit\n");
    }
}
