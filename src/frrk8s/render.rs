//! A node's merged frr-k8s configuration as frr.conf (templates/frrk8s.conf.tera), with frr-k8s's
//! names and sequence numbers (raw configs add entries to them: `<id>-in`, `<id>-out`, the
//! prefix-lists `<id>-allowed-ipv4`, ...) in the form FRR's `show running-config` prints, so that
//! the diff against the running config is empty when nothing changed. Pure.
//!
//! Per neighbor, as frr-k8s's prefixlists.tmpl: one counter for the entries of `<id>-out` and
//! `<id>-in` together, from 1; one per prefix-list name, from 1 (`ip` and `ipv6` lists of one
//! name share it). First each community and local-preference list with its `<id>-out` entry
//! (`on-match next`), then the allowed lists and their two entries, then the inbound lists: the
//! always-blocked prefixes (two `deny` entries) and the allowed ones (two `permit` entries).
//!
//! One deliberate difference: the router's own prefixes are not listed prefix by prefix. frr-k8s
//! writes each advertised prefix into `<id>-allowed-ipv4` (and into a list per community and
//! local preference) for every neighbor; FRR spends milliseconds per prefix-list entry (FRR 8.4:
//! ~6 ms, so 1,000 prefixes took 6 s to load), while a `network` line costs microseconds. Here, as in
//! FRR mode, each of the router's prefixes is one `network P route-map fs-tag-N` line: N names the
//! prefix's *class* (which neighbors receive it, with which communities and local preference), and
//! `<id>-out` opens with one entry per class its neighbor receives (`match tag N`, that class's
//! attributes). The lists keep only what is not the router's own (prefixes of imported VRFs), so
//! `<id>-allowed-ipv4` still exists for raw configs to name, and what each neighbor receives, with
//! which attributes, is frr-k8s's.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde::Serialize;

use super::model::*;
use crate::desired::hashed_tags;
use crate::frr::render::{check_grammar, RenderError};
use crate::grammar::values::{standard_community_text, CommunityValue};

/// The template, compiled in.
const TEMPLATE: &str = include_str!("../../templates/frrk8s.conf.tera");

#[derive(Serialize)]
struct View {
    prefix_lists: Vec<String>,
    route_maps: Vec<RouteMap>,
    bfd_profiles: Vec<ProfileView>,
    routers: Vec<RouterView>,
}

#[derive(Serialize)]
struct RouteMap {
    name: String,
    action: &'static str,
    seq: u32,
    lines: Vec<String>,
}

#[derive(Serialize)]
struct ProfileView {
    name: String,
    lines: Vec<String>,
}

#[derive(Serialize)]
struct RouterView {
    header: String,
    lines: Vec<String>,
    /// (address-family header, its lines).
    afs: Vec<(String, Vec<String>)>,
}

/// frr.conf for `config` (without its raw configuration: the caller appends it), checked against
/// the rendered config's grammar (`frr::render::check_grammar`).
pub fn render(config: &Config) -> Result<String, RenderError> {
    let mut view =
        View { prefix_lists: Vec::new(), route_maps: Vec::new(), bfd_profiles: Vec::new(), routers: Vec::new() };
    let classes = Classes::of(config);
    for tag in classes.tags() {
        let lines = vec![format!("set tag {tag}")];
        view.route_maps.push(RouteMap { name: format!("fs-tag-{tag}"), action: "permit", seq: 10, lines });
    }
    for (vrf, r) in &config.routers {
        let own: BTreeSet<IpNet> = r.prefixes_v4.iter().chain(&r.prefixes_v6).map(|p| p.net).collect();
        for n in r.neighbors.values() {
            policy(n, &own, classes.entries.get(&n.id()).map_or(&[][..], Vec::as_slice), &mut view);
        }
        let tags = classes.tag_of.get(vrf);
        view.routers.push(router(r, |net| tags.and_then(|t| t.get(net)).copied()));
    }
    view.bfd_profiles = config.bfd_profiles.values().map(profile).collect();
    let template = |e: &dyn std::fmt::Debug| RenderError::Template(format!("{e:?}"));
    let context = tera::Context::from_serialize(&view).map_err(|e| template(&e))?;
    let text = tera()?.render("frrk8s.conf", &context).map_err(|e| template(&e))?;
    // The template's leading comment leaves blank lines behind.
    let mut out = text.trim_start().to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    check_grammar(&out)?;
    Ok(out)
}

fn tera() -> Result<&'static tera::Tera, RenderError> {
    static TERA: std::sync::OnceLock<Result<tera::Tera, String>> = std::sync::OnceLock::new();
    TERA.get_or_init(|| {
        let mut t = tera::Tera::default();
        // frr.conf is not HTML: nothing is escaped (values are safe by construction).
        t.autoescape_on(vec![]);
        t.add_raw_template("frrk8s.conf", TEMPLATE).map_err(|e| format!("{e:?}"))?;
        Ok(t)
    })
    .as_ref()
    .map_err(|e| RenderError::Template(e.clone()))
}

/// `ip` or `ipv6`, as prefix-list and match lines name a family.
fn ip(f: Family) -> &'static str {
    if f == Family::V6 {
        "ipv6"
    } else {
        "ip"
    }
}

/// How FRR prints a prefix-list entry's prefix and lengths.
fn entry(f: &Filter) -> String {
    let mut s = f.prefix.net.to_string();
    if let Some(ge) = f.ge {
        s.push_str(&format!(" ge {ge}"));
    }
    if let Some(le) = f.le {
        s.push_str(&format!(" le {le}"));
    }
    s
}

fn community_text(c: &CommunityValue) -> String {
    match c {
        CommunityValue::Standard(v) => format!("{}:{}", v >> 16, v & 0xFFFF),
        CommunityValue::Large(a, b, c) => format!("{a}:{b}:{c}"),
    }
}

/// The classes of the routers' own prefixes: which neighbors receive a prefix, with which
/// attributes. A class's tag is a hash of its identity (`desired::hashed_tags`, as in FRR mode), so
/// it stays while the class exists however other prefixes come and go.
struct Classes {
    /// Router's VRF key → prefix → the tag of its class; a prefix no neighbor receives has none.
    tag_of: BTreeMap<String, BTreeMap<IpNet, u16>>,
    /// Neighbor id → (tag, the `set` lines of its entry), by tag.
    entries: BTreeMap<String, Vec<(u16, Vec<String>)>>,
}

impl Classes {
    fn of(config: &Config) -> Classes {
        // A class: per receiving neighbor, its id and the entry's `set` lines.
        type Class = Vec<(String, Vec<String>)>;
        let mut members: BTreeMap<Class, Vec<(String, IpNet)>> = BTreeMap::new();
        for (vrf, r) in &config.routers {
            // Per neighbor: its id, the `set` lines per prefix, the prefixes it receives.
            type Attrs = (String, BTreeMap<IpNet, Vec<String>>, BTreeSet<IpNet>);
            let attrs: Vec<Attrs> =
                r.neighbors.values().map(|n| (n.id(), set_lines(&n.outgoing), allowed(&n.outgoing))).collect();
            let nets: BTreeSet<IpNet> = r.prefixes_v4.iter().chain(&r.prefixes_v6).map(|p| p.net).collect();
            for net in nets {
                let class: Class = attrs
                    .iter()
                    .filter(|(_, _, allowed)| allowed.contains(&net))
                    .map(|(id, sets, _)| (id.clone(), sets.get(&net).cloned().unwrap_or_default()))
                    .collect();
                if !class.is_empty() {
                    members.entry(class).or_default().push((vrf.clone(), net));
                }
            }
        }
        let ids: Vec<(String, &Class)> = members
            .keys()
            .map(|class| (class.iter().map(|(n, sets)| format!("{n}={};", sets.join(","))).collect(), class))
            .collect();
        let tags = hashed_tags(ids.iter().map(|(id, _)| id.as_str()));
        let mut classes = Classes { tag_of: BTreeMap::new(), entries: BTreeMap::new() };
        for (id, class) in &ids {
            let tag = tags[id.as_str()];
            for (vrf, net) in &members[*class] {
                classes.tag_of.entry(vrf.clone()).or_default().insert(*net, tag);
            }
            for (n, sets) in *class {
                classes.entries.entry(n.clone()).or_default().push((tag, sets.clone()));
            }
        }
        for e in classes.entries.values_mut() {
            e.sort();
        }
        classes
    }

    fn tags(&self) -> BTreeSet<u16> {
        self.tag_of.values().flat_map(|m| m.values().copied()).collect()
    }
}

/// The prefixes a neighbor receives.
fn allowed(out: &Outgoing) -> BTreeSet<IpNet> {
    out.v4.iter().chain(&out.v6).map(|p| p.net).collect()
}

/// Per prefix, the `set` lines its route gets towards the neighbor: its communities and large
/// communities (FRR keeps them sorted, and so are they here), and its local preference (with
/// several, the one frr-k8s's entries, ordered by list name, apply last).
fn set_lines(out: &Outgoing) -> BTreeMap<IpNet, Vec<String>> {
    let mut comms: BTreeMap<IpNet, BTreeSet<CommunityValue>> = BTreeMap::new();
    for ((c, _), prefixes) in &out.community {
        for p in prefixes {
            comms.entry(p.net).or_default().insert(*c);
        }
    }
    let mut pref: BTreeMap<IpNet, u32> = BTreeMap::new();
    for ((lp, _), prefixes) in &out.local_pref {
        for p in prefixes {
            let e = pref.entry(p.net).or_insert(*lp);
            if lp.to_string() > e.to_string() {
                *e = *lp;
            }
        }
    }
    let mut lines: BTreeMap<IpNet, Vec<String>> = BTreeMap::new();
    for (net, set) in comms {
        let standard: Vec<String> = set
            .iter()
            .filter_map(|c| match c {
                CommunityValue::Standard(v) => Some(standard_community_text(*v)),
                CommunityValue::Large(..) => None,
            })
            .collect();
        let large: Vec<String> =
            set.iter().filter(|c| matches!(c, CommunityValue::Large(..))).map(community_text).collect();
        let l = lines.entry(net).or_default();
        if !standard.is_empty() {
            l.push(format!("set community {} additive", standard.join(" ")));
        }
        if !large.is_empty() {
            l.push(format!("set large-community {} additive", large.join(" ")));
        }
    }
    for (net, lp) in pref {
        lines.entry(net).or_default().push(format!("set local-preference {lp}"));
    }
    lines
}

/// frr-k8s's numbering: one counter per name (a prefix-list's, or the neighbor id's for the
/// entries of `<id>-out` and `<id>-in` together), each from 1.
#[derive(Default)]
struct Numbering(BTreeMap<String, u32>);

impl Numbering {
    fn next(&mut self, name: &str) -> u32 {
        let c = self.0.entry(name.to_string()).or_insert(0);
        *c += 1;
        *c
    }
}

/// The neighbor's prefix-lists and route-map entries, numbered as frr-k8s numbers them.
/// `own` are the router's own prefixes (advertised through `classes`, this neighbor's entries by
/// tag), left out of the lists.
fn policy(n: &Neighbor, own: &BTreeSet<IpNet>, classes: &[(u16, Vec<String>)], view: &mut View) {
    let id = n.id();
    let mut num = Numbering::default();
    for (tag, sets) in classes {
        let mut lines = vec![format!("match tag {tag}")];
        lines.extend(sets.iter().cloned());
        view.route_maps.push(RouteMap { name: format!("{id}-out"), action: "permit", seq: num.next(&id), lines });
    }
    outbound_lists(&id, &foreign(&n.outgoing, own), &mut num, view);
    inbound(n, &id, &mut num, view);
}

/// What of `out` is not among `own`.
fn foreign(out: &Outgoing, own: &BTreeSet<IpNet>) -> Outgoing {
    let keep = |set: &BTreeSet<Prefix>| -> BTreeSet<Prefix> {
        set.iter().filter(|p| !own.contains(&p.net)).cloned().collect()
    };
    Outgoing {
        v4: keep(&out.v4),
        v6: keep(&out.v6),
        local_pref: out.local_pref.iter().map(|(k, set)| (*k, keep(set))).filter(|(_, set)| !set.is_empty()).collect(),
        community: out.community.iter().map(|(k, set)| (*k, keep(set))).filter(|(_, set)| !set.is_empty()).collect(),
    }
}

/// frr-k8s's outbound lists of `outgoing` and their `<id>-out` entries: each community and
/// local-preference list (`on-match next`), then the allowed lists.
fn outbound_lists(id: &str, outgoing: &Outgoing, num: &mut Numbering, view: &mut View) {
    // The community and local-preference lists, by name.
    let mut property: Vec<(String, Family, &std::collections::BTreeSet<Prefix>, String)> = Vec::new();
    for ((c, f), prefixes) in &outgoing.community {
        let (name, set) = match c {
            CommunityValue::Standard(v) => (
                format!("{id}-{}-{}-community-prefixes", community_text(c), ip(*f)),
                format!("set community {} additive", standard_community_text(*v)),
            ),
            CommunityValue::Large(..) => (
                format!("{id}-large:{}-{}-community-prefixes", community_text(c), ip(*f)),
                format!("set large-community {} additive", community_text(c)),
            ),
        };
        property.push((name, *f, prefixes, set));
    }
    for ((lp, f), prefixes) in &outgoing.local_pref {
        property.push((
            format!("{id}-{lp}-{}-localpref-prefixes", ip(*f)),
            *f,
            prefixes,
            format!("set local-preference {lp}"),
        ));
    }
    property.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, f, prefixes, set) in property {
        for p in sorted(prefixes) {
            view.prefix_lists.push(format!("{} prefix-list {name} seq {} permit {}", ip(f), num.next(&name), p.net));
        }
        let lines = vec![format!("match {} address prefix-list {name}", ip(f)), set, "on-match next".into()];
        view.route_maps.push(RouteMap { name: format!("{id}-out"), action: "permit", seq: num.next(id), lines });
    }
    for (f, set) in [(Family::V4, &outgoing.v4), (Family::V6, &outgoing.v6)] {
        let name = format!("{id}-allowed-{}", f.name());
        if set.is_empty() {
            view.prefix_lists.push(format!("{} prefix-list {name} seq {} deny any", ip(f), num.next(&name)));
        }
        for p in sorted(set) {
            view.prefix_lists.push(format!("{} prefix-list {name} seq {} permit {}", ip(f), num.next(&name), p.net));
        }
    }
    for f in [Family::V4, Family::V6] {
        let lines = vec![format!("match {} address prefix-list {id}-allowed-{}", ip(f), f.name())];
        view.route_maps.push(RouteMap { name: format!("{id}-out"), action: "permit", seq: num.next(id), lines });
    }
}

/// The inbound lists and `<id>-in` entries: the always-blocked prefixes (two `deny` entries),
/// then the allowed ones (two `permit` entries).
fn inbound(n: &Neighbor, id: &str, num: &mut Numbering, view: &mut View) {
    // Inbound: frr-k8s names both lists after the session's family.
    let allowed = format!("{id}-inpl-{}", n.family.name());
    for filter in n.incoming.v4.iter().chain(&n.incoming.v6) {
        view.prefix_lists.push(format!(
            "{} prefix-list {allowed} seq {} permit {}",
            ip(filter.prefix.family()),
            num.next(&allowed),
            entry(filter)
        ));
    }
    if n.incoming.all {
        view.prefix_lists.push(format!("ip prefix-list {allowed} seq {} permit any", num.next(&allowed)));
        view.prefix_lists.push(format!("ipv6 prefix-list {allowed} seq {} permit any", num.next(&allowed)));
    } else {
        if n.incoming.v4.is_empty() {
            view.prefix_lists.push(format!("ip prefix-list {allowed} seq {} deny any", num.next(&allowed)));
        }
        if n.incoming.v6.is_empty() {
            view.prefix_lists.push(format!("ipv6 prefix-list {allowed} seq {} deny any", num.next(&allowed)));
        }
    }
    if !n.always_block.is_empty() {
        let denied = format!("{id}-denied-inpl-{}", n.family.name());
        for filter in &n.always_block {
            view.prefix_lists.push(format!(
                "{} prefix-list {denied} seq {} permit {}",
                ip(filter.prefix.family()),
                num.next(&denied),
                entry(filter)
            ));
        }
        for f in [Family::V4, Family::V6] {
            let lines = vec![format!("match {} address prefix-list {denied}", ip(f))];
            view.route_maps.push(RouteMap { name: format!("{id}-in"), action: "deny", seq: num.next(id), lines });
        }
    }
    for f in [Family::V4, Family::V6] {
        let lines = vec![format!("match {} address prefix-list {allowed}", ip(f))];
        view.route_maps.push(RouteMap { name: format!("{id}-in"), action: "permit", seq: num.next(id), lines });
    }
}

/// Prefixes in frr-k8s's order (as written, sorted as strings).
fn sorted(set: &std::collections::BTreeSet<Prefix>) -> Vec<&Prefix> {
    let mut v: Vec<&Prefix> = set.iter().collect();
    v.sort_by(|a, b| a.text.cmp(&b.text));
    v
}

/// A BFD profile's lines; a value equal to bfdd's default is not written (FRR does not show it).
fn profile(p: &BfdProfile) -> ProfileView {
    use crate::model::core::bfd_defaults as d;
    let set = |v: Option<u32>, default: u32| v.filter(|v| *v != default);
    let mut lines = Vec::new();
    let mut opt = |what: &str, v: Option<u32>| {
        if let Some(v) = v {
            lines.push(format!("{what} {v}"));
        }
    };
    opt("detect-multiplier", set(p.detect_multiplier, d::DETECT_MULTIPLIER));
    opt("receive-interval", set(p.receive_interval, d::RECEIVE_INTERVAL));
    opt("transmit-interval", set(p.transmit_interval, d::TRANSMIT_INTERVAL));
    if p.passive_mode {
        lines.push("passive-mode".into());
    }
    if p.echo_mode {
        lines.push("echo-mode".into());
    }
    if let Some(e) = set(p.echo_interval, d::ECHO_INTERVAL) {
        lines.push(format!("echo transmit-interval {e}"));
        lines.push(format!("echo receive-interval {e}"));
    }
    if let Some(t) = set(p.minimum_ttl, d::MINIMUM_TTL) {
        lines.push(format!("minimum-ttl {t}"));
    }
    ProfileView { name: p.name.as_str().to_string(), lines }
}

/// The router's lines; `tag` gives the class tag of one of its own prefixes.
fn router(r: &Router, tag: impl Fn(&IpNet) -> Option<u16>) -> RouterView {
    let header = match &r.vrf {
        Some(v) => format!("router bgp {} vrf {v}", r.asn),
        None => format!("router bgp {}", r.asn),
    };
    let mut lines = Vec::new();
    if let Some(id) = r.router_id {
        lines.push(format!("bgp router-id {id}"));
    }
    lines.push("no bgp default ipv4-unicast".into());
    lines.push(format!("coalesce-time {}", crate::frr::render::COALESCE_TIME_MS));
    lines.push("bgp graceful-restart preserve-fw-state".into());
    lines.push("no bgp network import-check".into());
    for n in r.neighbors.values() {
        lines.extend(session(n, r.asn));
    }
    let mut afs = Vec::new();
    for (f, prefixes) in [(Family::V4, &r.prefixes_v4), (Family::V6, &r.prefixes_v6)] {
        let mut af = Vec::new();
        let nets: BTreeSet<IpNet> = prefixes.iter().map(|p| p.net).collect();
        af.extend(nets.iter().map(|net| match tag(net) {
            Some(t) => format!("network {net} route-map fs-tag-{t}"),
            None => format!("network {net}"),
        }));
        af.extend(r.imports.iter().map(|v| format!("import vrf {v}")));
        for n in r.neighbors.values().filter(|n| n.family.carries(f)) {
            let (peer, id) = (n.peer.to_string(), n.id());
            af.push(format!("neighbor {peer} activate"));
            af.push(format!("neighbor {peer} route-map {id}-in in"));
            af.push(format!("neighbor {peer} route-map {id}-out out"));
            match n.allow_as_in {
                Some(AllowAsIn::Origin) => af.push(format!("neighbor {peer} allowas-in origin")),
                Some(AllowAsIn::Times(3)) => af.push(format!("neighbor {peer} allowas-in")),
                Some(AllowAsIn::Times(t)) => af.push(format!("neighbor {peer} allowas-in {t}")),
                None => {}
            }
        }
        if !af.is_empty() {
            afs.push((format!("address-family {} unicast", f.name()), af));
        }
    }
    RouterView { header, lines, afs }
}

/// A neighbor's session lines, as FRR prints them.
fn session(n: &Neighbor, router_asn: u32) -> Vec<String> {
    let p = n.peer.to_string();
    let mut out = vec![match n.peer {
        Peer::Interface(_) => format!("neighbor {p} interface remote-as {}", n.remote_as),
        Peer::Address(_) => format!("neighbor {p} remote-as {}", n.remote_as),
    }];
    if let Some(l) = n.local_asn {
        out.push(format!("neighbor {p} local-as {l} no-prepend replace-as"));
    }
    if n.bfd_profile.is_some() {
        out.push(format!("neighbor {p} bfd"));
    }
    if let Some(b) = &n.bfd_profile {
        out.push(format!("neighbor {p} bfd profile {}", b.as_str()));
    }
    if let Some(pw) = &n.password {
        out.push(format!("neighbor {p} password {}", pw.expose()));
    }
    // FRR shows the port only when it is not 179.
    if let Some(port) = n.port.filter(|p| *p != 179) {
        out.push(format!("neighbor {p} port {port}"));
    }
    if n.ebgp_multihop {
        out.push(format!("neighbor {p} ebgp-multihop 255"));
    }
    // frr-k8s's rule: an IPv6 single-hop eBGP session whose peer is not on a connected network
    // would not come up.
    let ebgp = match n.remote_as {
        RemoteAs::Number(a) => a != router_asn,
        RemoteAs::External => true,
        RemoteAs::Internal => false,
    };
    if n.family == Family::V6 && !n.ebgp_multihop && ebgp {
        out.push(format!("neighbor {p} disable-connected-check"));
    }
    if let Some(s) = &n.source {
        out.push(format!("neighbor {p} update-source {s}"));
    }
    if let Some((hold, keepalive)) = n.timers {
        // FRR keeps at most a third of the hold time (`timers 20 40` shows as `timers 13 40`):
        // rendered as FRR keeps it, the diff against its running config is empty.
        out.push(format!("neighbor {p} timers {} {hold}", keepalive.min(hold / 3)));
    }
    if let Some(c) = n.connect_time {
        out.push(format!("neighbor {p} timers connect {c}"));
    }
    if n.graceful_restart {
        out.push(format!("neighbor {p} graceful-restart"));
    }
    out
}
