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

use super::config::Node;
pub use super::delta::{Delta, SoftOut};
use super::owned::{is_own_route_map, is_router, key, MANAGED_GLOBALS};

mod networks;
pub use networks::{network_delta, running_delta};

/// `router bgp 64512 vrf red` -> Some("red")
fn router_vrf(header: &str) -> Option<String> {
    let t: Vec<&str> = header.split(' ').collect();
    (t.len() >= 5 && t[3] == "vrf").then(|| t[4].to_string())
}

fn negate(line: &str) -> String {
    crate::frr::owned::removal(line)
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
    // A single-valued line (`ip prefix-list L seq N ...`) replaced by one with its key is
    // re-entered in `prepare`, not removed afterwards: the removal could take the new one along.
    let replaced: BTreeSet<Cow<'_, str>> =
        owned.iter().filter(|l| find(desired, l).is_some()).filter_map(|l| key(l)).collect();
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
            (Some(_), None) if key(line).is_some_and(|k| replaced.contains(&k)) => {}
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

#[cfg(test)]
mod tests;
