//! Validation of the metallb.io objects into the checked forms the computation uses. Each check
//! names the object and field; whether a problem is an error or a warning depends on whether the
//! object concerns this node (a peer that does not select it, a profile nobody here uses).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::selector::any_matches;
use super::state::{BfdProfileConf, Neighbor, RemoteAs};
use super::values::{self, truncate, CommunityValue, IfName, ProfileName};
use super::Options;
use crate::index::{Obj, Snapshot};
use crate::model::core::ObjKey;
use crate::model::crds::{BfdProfileSpec, BgpAdvertisementSpec, BgpPeerSpec, IpAddressPoolSpec};
use crate::problem::{Kind, Problem};

/// MetalLB's defaults: hold time 90 s, keepalive a third of it.
const DEFAULT_HOLD_SECS: u64 = 90;
/// RFC 4271 §4.2: a non-zero hold time is at least 3 s; FRR's limit is 65535.
const MAX_TIMER_SECS: u64 = 65535;
/// MetalLB's limit for peerPort.
const MAX_PEER_PORT: u32 = 16384;
/// At most this many communities (standard and large together) per advertisement and per route.
pub const MAX_COMMUNITIES: usize = 63;

/// Problems collected while validating; `relevant` decides error or warning.
#[derive(Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    fn push(&mut self, relevant: bool, p: Problem) {
        self.0.push(if relevant { p } else { p.into_warning() });
    }
}

/// A validated BGPPeer that selects this node.
#[derive(Clone, Debug)]
pub struct PeerConf {
    pub name: String,
    pub vrf: Option<IfName>,
    pub my_asn: u32,
    pub router_id: Option<Ipv4Addr>,
    pub address: Option<IpAddr>,
    pub neighbor: Neighbor,
}

/// A validated BGPAdvertisement that selects this node.
#[derive(Clone, Debug)]
pub struct AdConf {
    pub key: ObjKey,
    pub agg_v4: u8,
    pub agg_v6: u8,
    pub local_pref: Option<u32>,
    pub communities: BTreeSet<CommunityValue>,
    pub pools: BTreeSet<ObjKey>,
    pub peers: Vec<String>,
    pub service_selectors: Vec<LabelSelector>,
}

/// A validated IPAddressPool: inclusive address ranges.
#[derive(Clone, Debug)]
pub struct PoolConf {
    pub key: ObjKey,
    pub ranges: Vec<(IpAddr, IpAddr)>,
}

impl PoolConf {
    pub fn contains(&self, ip: IpAddr) -> bool {
        ranges_contain(&self.ranges, ip)
    }

    /// The CIDRs that exactly cover the pool.
    fn cidrs(&self) -> Vec<IpNet> {
        let mut out = Vec::new();
        for (a, b) in &self.ranges {
            match (a, b) {
                (IpAddr::V4(a), IpAddr::V4(b)) => out.extend(Ipv4Subnets::new(*a, *b, 0).map(IpNet::V4)),
                (IpAddr::V6(a), IpAddr::V6(b)) => out.extend(Ipv6Subnets::new(*a, *b, 0).map(IpNet::V6)),
                _ => {}
            }
        }
        out
    }
}

/// Everything that passed validation.
#[derive(Default)]
pub struct ValidConfig {
    pub peers: Vec<PeerConf>,
    pub ads: Vec<AdConf>,
    pub pools: Vec<PoolConf>,
    pub profiles: BTreeMap<String, BfdProfileConf>,
}

/// Validate every config object in the snapshot. `node_labels` are this node's labels.
pub fn validate(snap: &Snapshot, opts: &Options, node_labels: &BTreeMap<String, String>) -> (ValidConfig, Problems) {
    let mut probs = Problems::default();
    let mut cfg = ValidConfig::default();
    let ns = opts.namespace.as_str();

    // Objects outside the config namespace are not ours (MetalLB reads only its own namespace).
    macro_rules! in_ns {
        ($map:expr, $kind:expr) => {
            $map.values()
                .filter(|o| {
                    if o.key.namespace == ns {
                        true
                    } else {
                        probs.push(
                            false,
                            Problem::warning(
                                $kind,
                                &o.key,
                                "metadata.namespace",
                                format!("ignored: configuration is read from namespace {ns:?} only"),
                            ),
                        );
                        false
                    }
                })
                .collect::<Vec<_>>()
        };
    }
    let peers = in_ns!(snap.peers, Kind::BGPPeer);
    let ads = in_ns!(snap.advertisements, Kind::BGPAdvertisement);
    let pools = in_ns!(snap.pools, Kind::IPAddressPool);
    let bfds = in_ns!(snap.bfd_profiles, Kind::BFDProfile);
    let comms = in_ns!(snap.communities, Kind::Community);

    // Community aliases: name -> value, or the reason it is unusable.
    let mut aliases: BTreeMap<String, Result<CommunityValue, String>> = BTreeMap::new();
    for c in &comms {
        for (i, a) in c.spec.communities.iter().enumerate() {
            let field = format!("spec.communities[{i}]");
            let parsed = CommunityValue::parse(&a.value);
            if let Err(e) = &parsed {
                probs.push(false, Problem::warning(Kind::Community, &c.key, format!("{field}.value"), e.clone()));
            }
            if let Err(e) = values::check_alias_name(&a.name) {
                probs.push(false, Problem::warning(Kind::Community, &c.key, format!("{field}.name"), e.clone()));
                aliases.insert(a.name.clone(), Err(e));
                continue;
            }
            if aliases.contains_key(&a.name) {
                let msg = format!("alias {:?} is defined more than once", truncate(&a.name));
                probs.push(false, Problem::warning(Kind::Community, &c.key, format!("{field}.name"), msg.clone()));
                aliases.insert(a.name.clone(), Err(msg));
            } else {
                aliases.insert(
                    a.name.clone(),
                    parsed.map_err(|e| format!("alias {:?} has an invalid value: {e}", truncate(&a.name))),
                );
            }
        }
    }

    // BFD profiles: validated now, kept only if a peer of this node uses them.
    let mut profiles: BTreeMap<String, (ObjKey, Result<BfdProfileConf, Vec<Problem>>)> = BTreeMap::new();
    for b in &bfds {
        profiles.insert(b.key.name.clone(), (b.key.clone(), bfd_profile(b)));
    }

    // Pools.
    let mut all_ranges: Vec<(IpAddr, IpAddr, ObjKey)> = Vec::new();
    for p in &pools {
        match pool(p) {
            Ok(pc) => {
                for (a, b) in &pc.ranges {
                    if let Some((_, _, other)) = all_ranges.iter().find(|(x, y, _)| ranges_overlap((*x, *y), (*a, *b)))
                    {
                        let what = if *other == p.key {
                            "another entry of this pool".to_string()
                        } else {
                            format!("IPAddressPool {other}")
                        };
                        probs.push(
                            true,
                            Problem::error(
                                Kind::IPAddressPool,
                                &p.key,
                                "spec.addresses",
                                format!("{a}-{b} overlaps {what}"),
                            ),
                        );
                    }
                }
                all_ranges.extend(pc.ranges.iter().map(|(a, b)| (*a, *b, p.key.clone())));
                cfg.pools.push(pc);
            }
            Err(list) => list.into_iter().for_each(|x| probs.push(true, x)),
        }
    }

    // Peers.
    let mut used_profiles: BTreeSet<String> = BTreeSet::new();
    for p in &peers {
        let relevant = match any_matches(&p.spec.node_selectors, node_labels) {
            Ok(m) => m,
            Err((i, e)) => {
                probs.push(true, Problem::error(Kind::BGPPeer, &p.key, format!("spec.nodeSelectors[{i}]"), e));
                continue;
            }
        };
        match peer(p, snap, opts, &profiles) {
            Ok(pc) => {
                if relevant {
                    if let Some(bp) = &pc.neighbor.bfd_profile {
                        used_profiles.insert(bp.as_str().to_string());
                    }
                    cfg.peers.push(pc);
                }
            }
            Err(list) => list.into_iter().for_each(|x| probs.push(relevant, x)),
        }
    }
    for (name, (_, res)) in profiles {
        let relevant = used_profiles.contains(&name);
        match res {
            Ok(conf) if relevant => drop(cfg.profiles.insert(name, conf)),
            Ok(_) => {}
            Err(list) => list.into_iter().for_each(|x| probs.push(relevant, x)),
        }
    }
    per_vrf_rules(&cfg.peers, &mut probs);

    // Advertisements.
    for a in &ads {
        let relevant = match any_matches(&a.spec.node_selectors, node_labels) {
            Ok(m) => m,
            Err((i, e)) => {
                probs.push(true, Problem::error(Kind::BGPAdvertisement, &a.key, format!("spec.nodeSelectors[{i}]"), e));
                continue;
            }
        };
        let (conf, list) = advertisement(a, &pools, &cfg.pools, &aliases, &snap.peers, ns);
        list.into_iter().for_each(|x| probs.push(relevant, x));
        if let (Some(ac), true) = (conf, relevant) {
            cfg.ads.push(ac);
        }
    }
    (cfg, probs)
}

fn bfd_profile(b: &Obj<BfdProfileSpec>) -> Result<BfdProfileConf, Vec<Problem>> {
    let mut errs = Vec::new();
    let s = &b.spec;
    let name = ProfileName::parse(&b.key.name)
        .map_err(|e| errs.push(Problem::error(Kind::BFDProfile, &b.key, "metadata.name", e)))
        .ok();
    // FRR's defaults (bfdd/bfd.h): values equal to them are not written, as FRR does not show them.
    let mut range = |field: &str, v: Option<u32>, lo: u32, hi: u32, default: u32| -> Option<u32> {
        match v {
            Some(x) if x < lo || x > hi => {
                errs.push(Problem::error(
                    Kind::BFDProfile,
                    &b.key,
                    format!("spec.{field}"),
                    format!("{x} is outside {lo}-{hi}"),
                ));
                None
            }
            Some(x) if x != default => Some(x),
            _ => None,
        }
    };
    let conf = BfdProfileConf {
        name: name.unwrap_or_else(|| ProfileName::parse("invalid").expect("constant is a valid name")),
        receive_interval: range("receiveInterval", s.receive_interval, 10, 60000, 300),
        transmit_interval: range("transmitInterval", s.transmit_interval, 10, 60000, 300),
        detect_multiplier: range("detectMultiplier", s.detect_multiplier, 2, 255, 3),
        echo_interval: range("echoInterval", s.echo_interval, 10, 60000, 50),
        minimum_ttl: range("minimumTtl", s.minimum_ttl, 1, 254, 254),
        echo_mode: s.echo_mode.unwrap_or(false),
        passive_mode: s.passive_mode.unwrap_or(false),
    };
    if errs.is_empty() {
        Ok(conf)
    } else {
        Err(errs)
    }
}

fn pool(p: &Obj<IpAddressPoolSpec>) -> Result<PoolConf, Vec<Problem>> {
    let mut errs = Vec::new();
    let mut ranges = Vec::new();
    if p.spec.addresses.is_empty() {
        errs.push(Problem::error(
            Kind::IPAddressPool,
            &p.key,
            "spec.addresses",
            "must list at least one CIDR or range",
        ));
    }
    for (i, a) in p.spec.addresses.iter().enumerate() {
        match parse_range(a) {
            Ok(r) => ranges.push(r),
            Err(e) => errs.push(Problem::error(Kind::IPAddressPool, &p.key, format!("spec.addresses[{i}]"), e)),
        }
    }
    if errs.is_empty() {
        Ok(PoolConf { key: p.key.clone(), ranges })
    } else {
        Err(errs)
    }
}

/// Is `ip` in one of the inclusive `ranges` (of its own family)?
pub fn ranges_contain(ranges: &[(IpAddr, IpAddr)], ip: IpAddr) -> bool {
    ranges.iter().any(|(a, b)| a.is_ipv4() == ip.is_ipv4() && *a <= ip && ip <= *b)
}

/// Do two inclusive ranges share an address?
pub fn ranges_overlap((a, b): (IpAddr, IpAddr), (c, d): (IpAddr, IpAddr)) -> bool {
    a.is_ipv4() == c.is_ipv4() && a <= d && c <= b
}

/// `192.0.2.0/28` or `192.0.2.10-192.0.2.20` (spaces around `-` allowed).
pub fn parse_range(s: &str) -> Result<(IpAddr, IpAddr), String> {
    if let Some((a, b)) = s.split_once('-') {
        let (Ok(a), Ok(b)) = (values::parse_unicast_ip(a.trim()), values::parse_unicast_ip(b.trim())) else {
            return Err(format!("{:?} is neither a CIDR nor a range of two addresses", truncate(s)));
        };
        if a.is_ipv4() != b.is_ipv4() {
            return Err(format!("range {:?} mixes IPv4 and IPv6", truncate(s)));
        }
        if a > b {
            return Err(format!("range {:?} ends before it starts", truncate(s)));
        }
        return Ok((a, b));
    }
    let net: IpNet = s.trim().parse().map_err(|_| format!("{:?} is neither a CIDR nor an a-b range", truncate(s)))?;
    if net.trunc() != net {
        return Err(format!("{s:?} has host bits set (did you mean {}?)", net.trunc()));
    }
    if let IpNet::V6(v6) = net {
        if v6.addr().to_ipv4_mapped().is_some() && v6.prefix_len() >= 96 {
            return Err(format!("{s:?} is an IPv4-mapped IPv6 prefix: write the IPv4 CIDR"));
        }
    }
    Ok((net.network(), net.broadcast()))
}

fn peer(
    p: &Obj<BgpPeerSpec>,
    snap: &Snapshot,
    opts: &Options,
    profiles: &BTreeMap<String, (ObjKey, Result<BfdProfileConf, Vec<Problem>>)>,
) -> Result<PeerConf, Vec<Problem>> {
    let s = &p.spec;
    let mut errs = Vec::new();
    let mut err = |field: &str, msg: String| errs.push(Problem::error(Kind::BGPPeer, &p.key, field, msg));

    if s.my_asn == 0 {
        err("spec.myASN", "must be 1-4294967295".into());
    }
    let remote_as = match (s.peer_asn, s.dynamic_asn.as_deref()) {
        (Some(0), _) => {
            err("spec.peerASN", "must be 1-4294967295".into());
            None
        }
        (Some(_), Some(_)) => {
            err("spec.dynamicASN", "peerASN and dynamicASN are mutually exclusive".into());
            None
        }
        (Some(n), None) => Some(RemoteAs::Number(n)),
        (None, Some("internal")) => Some(RemoteAs::Dynamic("internal")),
        (None, Some("external")) => Some(RemoteAs::Dynamic("external")),
        (None, Some(other)) => {
            err("spec.dynamicASN", format!("{:?} is not one of internal, external", truncate(other)));
            None
        }
        (None, None) => {
            err("spec.peerASN", "one of peerASN and dynamicASN is required".into());
            None
        }
    };
    let ibgp = match remote_as {
        Some(RemoteAs::Number(n)) => n == s.my_asn,
        Some(RemoteAs::Dynamic(d)) => d == "internal",
        None => false,
    };

    let (id, address, interface) = match (s.peer_address.as_deref(), s.interface.as_deref()) {
        (Some(_), Some(_)) => {
            err("spec.interface", "peerAddress and interface are mutually exclusive".into());
            (None, None, false)
        }
        (None, None) => {
            err("spec.peerAddress", "one of peerAddress and interface is required".into());
            (None, None, false)
        }
        (Some(a), None) => match values::parse_unicast_ip(a) {
            Ok(IpAddr::V6(v6)) if v6.is_unicast_link_local() => {
                err("spec.peerAddress", format!("{a:?} is link-local: use spec.interface for an unnumbered session"));
                (None, None, false)
            }
            Ok(ip) => (Some(ip.to_string()), Some(ip), false),
            Err(e) => {
                err("spec.peerAddress", e);
                (None, None, false)
            }
        },
        (None, Some(i)) => match IfName::parse(i, "interface") {
            Ok(n) => (Some(n.to_string()), None, true),
            Err(e) => {
                err("spec.interface", e);
                (None, None, false)
            }
        },
    };

    let port = match s.peer_port {
        None | Some(179) => None,
        Some(x) if x == 0 || x > MAX_PEER_PORT => {
            err("spec.peerPort", format!("{x} is outside 1-{MAX_PEER_PORT}"));
            None
        }
        Some(x) => Some(x as u16),
    };

    let update_source = match s.source_address.as_deref() {
        None => None,
        Some(a) => match values::parse_unicast_ip(a) {
            Ok(ip) if address.is_some_and(|pa| pa.is_ipv4() != ip.is_ipv4()) => {
                err("spec.sourceAddress", format!("{ip} is not of the peer address's family"));
                None
            }
            Ok(ip) => Some(ip),
            Err(e) => {
                err("spec.sourceAddress", e);
                None
            }
        },
    };

    let router_id = match s.router_id.as_deref() {
        None => None,
        Some(r) => match r.trim().parse::<Ipv4Addr>() {
            Ok(ip) if !ip.is_unspecified() => Some(ip),
            _ => {
                err("spec.routerID", format!("{:?} is not a non-zero IPv4 address", truncate(r)));
                None
            }
        },
    };

    // Timers: RFC 4271 hold time is 0 or >= 3 s; keepalive below it.
    let dur = |field: &str, v: &Option<String>, errs: &mut Vec<Problem>| -> Option<u64> {
        let v = v.as_deref()?;
        match values::parse_duration_secs(v) {
            Ok(x) if x <= MAX_TIMER_SECS => Some(x),
            Ok(x) => {
                errs.push(Problem::error(Kind::BGPPeer, &p.key, field, format!("{x}s is more than {MAX_TIMER_SECS}s")));
                None
            }
            Err(e) => {
                errs.push(Problem::error(Kind::BGPPeer, &p.key, field, e));
                None
            }
        }
    };
    let hold = dur("spec.holdTime", &s.hold_time, &mut errs);
    let keepalive = dur("spec.keepaliveTime", &s.keepalive_time, &mut errs);
    let connect = dur("spec.connectTime", &s.connect_time, &mut errs);
    let hold = hold.unwrap_or(DEFAULT_HOLD_SECS);
    let mut err = |field: &str, msg: String| errs.push(Problem::error(Kind::BGPPeer, &p.key, field, msg));
    if hold != 0 && hold < 3 {
        err("spec.holdTime", format!("{hold}s: must be 0 or at least 3s"));
    }
    let keepalive = keepalive.unwrap_or(hold / 3);
    if hold == 0 && keepalive != 0 {
        err("spec.keepaliveTime", "must be 0 when holdTime is 0".into());
    } else if hold != 0 && keepalive >= hold {
        err("spec.keepaliveTime", format!("{keepalive}s must be less than holdTime ({hold}s)"));
    }
    if connect == Some(0) {
        err("spec.connectTime", "must be at least 1s".into());
    }

    let vrf = match s.vrf.as_deref() {
        None | Some("") | Some("default") => None,
        Some(v) => match IfName::parse(v, "vrf") {
            Ok(n) => Some(n),
            Err(e) => {
                err("spec.vrf", e);
                None
            }
        },
    };

    let multihop = s.ebgp_multi_hop.unwrap_or(false);
    if multihop && ibgp {
        err(
            "spec.ebgpMultiHop",
            "is for eBGP sessions only: this peer is iBGP (same ASN or dynamicASN internal)".into(),
        );
    }
    // A directly connected network is a prerequisite of single-hop eBGP (FRR sends with TTL 1).
    if let (Some(addr), Some(connected)) = (address, opts.connected.as_ref()) {
        if !ibgp && !multihop && !connected.iter().any(|n| n.contains(&addr)) {
            err(
                "spec.ebgpMultiHop",
                format!("{addr} is not on a network directly connected to this node: an eBGP peer more than one hop away needs ebgpMultiHop: true"),
            );
        }
    }

    let password = match (s.password.as_deref(), s.password_secret.as_ref()) {
        (Some(_), Some(_)) => {
            err("spec.passwordSecret", "password and passwordSecret are mutually exclusive".into());
            None
        }
        (Some(pw), None) => values::parse_password(pw).map_err(|e| err("spec.password", e)).ok(),
        (None, Some(r)) => {
            let secret_ns = r.namespace.as_deref().unwrap_or(&p.key.namespace);
            let key = ObjKey::new(secret_ns, r.name.clone());
            if secret_ns != p.key.namespace {
                err(
                    "spec.passwordSecret.namespace",
                    format!("the Secret must be in the peer's namespace {:?}", p.key.namespace),
                );
                None
            } else if let Some(sec) = snap.secrets.get(&key) {
                if sec.type_.as_deref() != Some("kubernetes.io/basic-auth") {
                    err("spec.passwordSecret", format!("Secret {key} must be of type kubernetes.io/basic-auth"));
                    None
                } else if sec.password_not_utf8 {
                    err("spec.passwordSecret", format!("Secret {key}: key \"password\" is not UTF-8 text"));
                    None
                } else if let Some(pw) = &sec.password {
                    values::parse_password(pw.expose())
                        .map_err(|e| err("spec.passwordSecret", format!("Secret {key}: {e}")))
                        .ok()
                } else {
                    err("spec.passwordSecret", format!("Secret {key} has no key \"password\""));
                    None
                }
            } else if snap.unreadable.contains_key(&(Kind::Secret, key.clone())) {
                err("spec.passwordSecret", format!("Secret {key} could not be read"));
                None
            } else {
                err("spec.passwordSecret.name", format!("Secret {key} not found"));
                None
            }
        }
        (None, None) => None,
    };

    let bfd_profile = match s.bfd_profile.as_deref() {
        None | Some("") => None,
        Some(name) => match profiles.get(name) {
            Some((_, Ok(conf))) => Some(conf.name.clone()),
            Some((k, Err(_))) => {
                err("spec.bfdProfile", format!("BFDProfile {k} is invalid"));
                None
            }
            None => {
                err("spec.bfdProfile", format!("BFDProfile {:?} not found", truncate(name)));
                None
            }
        },
    };

    let (Some(id), Some(remote_as), true) = (id, remote_as, errs.is_empty()) else {
        return Err(errs);
    };
    let dual = s.dual_stack_address_family.unwrap_or(false);
    let (ipv4, ipv6) = match address {
        _ if interface || dual => (true, true),
        Some(IpAddr::V4(_)) => (true, false),
        _ => (false, true),
    };
    let route_map_out = super::state::out_route_map(&id, vrf.as_ref());
    Ok(PeerConf {
        name: p.key.name.clone(),
        vrf,
        my_asn: s.my_asn,
        router_id,
        address,
        neighbor: Neighbor {
            peer: p.key.clone(),
            id,
            interface,
            remote_as,
            ibgp,
            port,
            password,
            update_source,
            ebgp_multihop: multihop,
            keepalive,
            hold,
            connect,
            bfd_profile,
            graceful_restart: s.enable_graceful_restart.unwrap_or(false),
            ipv4,
            ipv6,
            route_map_out,
            policy: Vec::new(),
        },
    })
}

/// FRR mode: one myASN and one routerID per VRF on a node; no neighbor twice.
fn per_vrf_rules(peers: &[PeerConf], probs: &mut Problems) {
    let mut first: BTreeMap<Option<&IfName>, &PeerConf> = BTreeMap::new();
    let mut seen: BTreeMap<(Option<&IfName>, &str), &PeerConf> = BTreeMap::new();
    for p in peers {
        let key = &p.neighbor.peer;
        let vrf_txt = p.vrf.as_ref().map(|v| format!("VRF {v:?}")).unwrap_or_else(|| "the default VRF".into());
        if let Some(f) = first.get(&p.vrf.as_ref()) {
            if f.my_asn != p.my_asn {
                probs.push(
                    true,
                    Problem::error(
                        Kind::BGPPeer,
                        key,
                        "spec.myASN",
                        format!(
                            "{} differs from {} of BGPPeer {}: all peers of a node in {vrf_txt} must use one myASN",
                            p.my_asn, f.my_asn, f.neighbor.peer
                        ),
                    ),
                );
            }
            if f.router_id != p.router_id {
                let show = |r: Option<Ipv4Addr>| r.map(|r| r.to_string()).unwrap_or_else(|| "unset".into());
                probs.push(
                    true,
                    Problem::error(
                        Kind::BGPPeer,
                        key,
                        "spec.routerID",
                        format!(
                            "{} differs from {} of BGPPeer {}: all peers of a node in {vrf_txt} must use one routerID",
                            show(p.router_id),
                            show(f.router_id),
                            f.neighbor.peer
                        ),
                    ),
                );
            }
        } else {
            first.insert(p.vrf.as_ref(), p);
        }
        if let Some(other) = seen.get(&(p.vrf.as_ref(), p.neighbor.id.as_str())) {
            probs.push(
                true,
                Problem::error(
                    Kind::BGPPeer,
                    key,
                    if p.neighbor.interface { "spec.interface" } else { "spec.peerAddress" },
                    format!("{} in {vrf_txt} is already the peer of BGPPeer {}", p.neighbor.id, other.neighbor.peer),
                ),
            );
        } else {
            seen.insert((p.vrf.as_ref(), p.neighbor.id.as_str()), p);
        }
    }
}

fn advertisement(
    a: &Obj<BgpAdvertisementSpec>,
    pools_in_ns: &[&Obj<IpAddressPoolSpec>],
    valid_pools: &[PoolConf],
    aliases: &BTreeMap<String, Result<CommunityValue, String>>,
    all_peers: &BTreeMap<ObjKey, Obj<BgpPeerSpec>>,
    ns: &str,
) -> (Option<AdConf>, Vec<Problem>) {
    let s = &a.spec;
    let mut errs = Vec::new();
    let mut err = |field: String, msg: String| errs.push(Problem::error(Kind::BGPAdvertisement, &a.key, field, msg));

    let agg_v4 = match s.aggregation_length {
        None => 32,
        Some(x) if (0..=32).contains(&x) => x as u8,
        Some(x) => {
            err("spec.aggregationLength".into(), format!("{x} is outside 0-32"));
            32
        }
    };
    let agg_v6 = match s.aggregation_length_v6 {
        None => 128,
        Some(x) if (0..=128).contains(&x) => x as u8,
        Some(x) => {
            err("spec.aggregationLengthV6".into(), format!("{x} is outside 0-128"));
            128
        }
    };

    let mut communities = BTreeSet::new();
    for (i, c) in s.communities.iter().enumerate() {
        let field = format!("spec.communities[{i}]");
        let looks_numeric = c.starts_with("large:") || c.bytes().next().is_some_and(|b| b.is_ascii_digit());
        let v = if looks_numeric {
            CommunityValue::parse(c)
        } else {
            match aliases.get(c) {
                Some(r) => r.clone(),
                None => Err(format!(
                    "{:?} is neither a community value nor the name of an alias in a Community object",
                    truncate(c)
                )),
            }
        };
        match v {
            Ok(v) => drop(communities.insert(v)),
            Err(e) => err(field, e),
        }
    }
    if communities.len() > MAX_COMMUNITIES {
        err("spec.communities".into(), format!("{} communities: at most {MAX_COMMUNITIES}", communities.len()));
    }

    for (field, sels) in
        [("spec.serviceSelectors", &s.service_selectors), ("spec.ipAddressPoolSelectors", &s.ip_address_pool_selectors)]
    {
        if let Err((i, e)) = any_matches(sels, &BTreeMap::new()) {
            err(format!("{field}[{i}]"), e);
        }
    }

    // Selected pools: by name and by label; all of them when neither is given.
    let mut pools = BTreeSet::new();
    let by_name: BTreeSet<&str> = s.ip_address_pools.iter().map(String::as_str).collect();
    for p in pools_in_ns {
        let by_label = !s.ip_address_pool_selectors.is_empty()
            && any_matches(&s.ip_address_pool_selectors, &p.labels).unwrap_or(false);
        if (by_name.is_empty() && s.ip_address_pool_selectors.is_empty())
            || by_name.contains(p.key.name.as_str())
            || by_label
        {
            pools.insert(p.key.clone());
        }
    }
    // An aggregate shorter than a pool's own CIDRs would cover addresses outside the pool.
    for pc in valid_pools.iter().filter(|pc| pools.contains(&pc.key)) {
        for net in pc.cidrs() {
            let (agg, field) = if net.addr().is_ipv4() {
                (agg_v4, "spec.aggregationLength")
            } else {
                (agg_v6, "spec.aggregationLengthV6")
            };
            if agg < net.prefix_len() {
                err(field.into(), format!(
                    "{agg} is shorter than {net} of IPAddressPool {}: the aggregate would cover addresses outside the pool",
                    pc.key));
                break;
            }
        }
    }

    let mut warnings = Vec::new();
    for name in &by_name {
        if !pools_in_ns.iter().any(|p| p.key.name == *name) {
            warnings.push(Problem::warning(
                Kind::BGPAdvertisement,
                &a.key,
                "spec.ipAddressPools",
                format!("IPAddressPool {:?} not found", truncate(name)),
            ));
        }
    }
    for name in &s.peers {
        if !all_peers.contains_key(&ObjKey::new(ns, name.clone())) {
            warnings.push(Problem::warning(
                Kind::BGPAdvertisement,
                &a.key,
                "spec.peers",
                format!("BGPPeer {:?} not found", truncate(name)),
            ));
        }
    }
    let ok = errs.is_empty();
    errs.extend(warnings);
    let conf = ok.then(|| AdConf {
        key: a.key.clone(),
        agg_v4,
        agg_v6,
        local_pref: s.local_pref,
        communities,
        pools,
        peers: s.peers.clone(),
        service_selectors: s.service_selectors.clone(),
    });
    (conf, errs)
}
