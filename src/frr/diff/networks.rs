//! The fast paths for the commonest change, Services coming and going: the script of two
//! configs that differ only in their `network` lines, found without a tree of either. Pure.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::super::conf::{network_line, Conf};
use super::super::config::parse;
use super::super::extras;
use super::{block, diff_owned, leaf_diff, router_vrf, Delta};
use crate::desired::state::Networks;

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
/// diff held both texts and both trees at once (docs/benchmarks.md).
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
