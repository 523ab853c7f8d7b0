//! What metallb.io objects ask of a node, as the FRRConfiguration MetalLB v0.16 writes for it in
//! frr-k8s mode (`metallb-<node>`: its speaker's `internal/bgp/frrk8s`), so that it joins the
//! merge with the operator's FRRConfigurations as it would in front of the frr-k8s daemon. Pure.
//!
//! Per BGPPeer of the node a neighbor: its session settings, and toAdvertise = the prefixes its
//! advertisements give it, each with their communities and local preference; toReceive nothing
//! (MetalLB never sets it: an operator's FRRConfiguration does). The routers' prefixes are those
//! advertised to any neighbor. Unlike MetalLB v0.16, a BGPPeer's sourceAddress and localASN are
//! kept (MetalLB's translation drops them).

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::convert::{always_block, Part};
use super::model::*;
use crate::desired::state::{self, DesiredState, RemoteAs as MetallbAs};
use crate::model::core::ObjKey;

/// The name MetalLB v0.16 gives its object for `node`.
pub fn object_name(node: &str) -> String {
    format!("metallb-{node}")
}

/// The part `state` (computed from the metallb.io objects) adds to the merge, as from object `key`.
pub fn part(state: &DesiredState, key: &ObjKey, block: &[IpNet]) -> Part {
    let mut part = Part::default();
    for p in &state.bfd_profiles {
        let profile = BfdProfile {
            name: p.name.clone(),
            receive_interval: p.receive_interval,
            transmit_interval: p.transmit_interval,
            detect_multiplier: p.detect_multiplier,
            echo_interval: p.echo_interval,
            echo_mode: p.echo_mode,
            passive_mode: p.passive_mode,
            minimum_ttl: p.minimum_ttl,
        };
        part.bfd_profiles.push((profile, format!("BFDProfile {}", p.name.as_str())));
    }
    for (i, r) in state.routers.iter().enumerate() {
        part.routers.push((router(r, key, block), format!("spec.bgp.routers[{i}]")));
    }
    part
}

fn prefix(net: &IpNet) -> Prefix {
    Prefix { text: net.to_string(), net: *net }
}

fn router(r: &state::Router, key: &ObjKey, block: &[IpNet]) -> Router {
    // The prefixes of each class (tag), per family.
    let mut by_tag: BTreeMap<u16, Vec<&IpNet>> = BTreeMap::new();
    for (net, tag) in r.ipv4_networks.iter().chain(r.ipv6_networks.iter()) {
        by_tag.entry(*tag).or_default().push(net);
    }
    let mut out = Router {
        asn: r.asn,
        router_id: r.router_id,
        vrf: r.vrf.clone(),
        prefixes_v4: BTreeSet::new(),
        prefixes_v6: BTreeSet::new(),
        imports: BTreeSet::new(),
        neighbors: BTreeMap::new(),
        from: key.clone(),
    };
    for n in &r.neighbors {
        let neighbor = neighbor(n, r, &by_tag, key, block);
        out.prefixes_v4.extend(neighbor.outgoing.v4.iter().cloned());
        out.prefixes_v6.extend(neighbor.outgoing.v6.iter().cloned());
        out.neighbors.insert(neighbor.id(), neighbor);
    }
    out
}

fn neighbor(
    n: &state::Neighbor,
    r: &state::Router,
    by_tag: &BTreeMap<u16, Vec<&IpNet>>,
    key: &ObjKey,
    block: &[IpNet],
) -> Neighbor {
    let peer = match n.id.parse() {
        Ok(ip) if !n.interface => Peer::Address(ip),
        _ => Peer::Interface(crate::grammar::values::IfName::parse(&n.id, "interface").expect("checked by desired")),
    };
    let family = match (n.ipv4, n.ipv6) {
        (true, true) => Family::Dual,
        (false, true) => Family::V6,
        _ => Family::V4,
    };
    let mut outgoing = Outgoing::default();
    for entry in &n.policy {
        for net in by_tag.get(&entry.tag).into_iter().flatten() {
            let f = Family::of(net);
            if !family.carries(f) {
                continue;
            }
            match f {
                Family::V4 => outgoing.v4.insert(prefix(net)),
                _ => outgoing.v6.insert(prefix(net)),
            };
            for c in &entry.values {
                outgoing.community.entry((*c, f)).or_default().insert(prefix(net));
            }
            if let Some(lp) = entry.local_pref {
                outgoing.local_pref.entry((lp, f)).or_default().insert(prefix(net));
            }
        }
    }
    Neighbor {
        peer,
        remote_as: match n.remote_as {
            MetallbAs::Number(a) => RemoteAs::Number(a),
            MetallbAs::Dynamic("internal") => RemoteAs::Internal,
            MetallbAs::Dynamic(_) => RemoteAs::External,
        },
        local_asn: n.local_as,
        source: n.update_source.map(Source::Address),
        port: n.port,
        family,
        ebgp_multihop: n.ebgp_multihop,
        bfd_profile: n.bfd_profile.clone(),
        graceful_restart: n.graceful_restart,
        vrf: r.vrf.clone(),
        timers: n.timers.map(|t| (t.hold, t.keepalive)),
        connect_time: n.connect,
        password: n.password.clone(),
        allow_as_in: None,
        allow_as_in_none: false,
        outgoing,
        incoming: Incoming::default(),
        always_block: always_block(block),
        from: (key.clone(), format!("BGPPeer {}", n.peer)),
    }
}
