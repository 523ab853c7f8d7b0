//! Validation of the metallb.io objects into the checked forms the computation uses. Each check
//! names the object and field; whether a problem is an error or a warning depends on whether the
//! object concerns this node (a peer that does not select it, a profile nobody here uses).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::state::{BfdProfileConf, BgpTimers, Neighbor, RemoteAs};
use super::Options;
use crate::grammar::pool;
use crate::grammar::range::{ranges_contain, ranges_overlap};
use crate::grammar::selector::any_matches;
use crate::grammar::values::{self, excerpt, CommunityValue, IfName, ProfileName};
use crate::index::{Obj, Snapshot};
use crate::model::core::ObjKey;
use crate::model::crds::{BfdProfileSpec, BgpAdvertisementSpec, BgpPeerSpec, IpAddressPoolSpec};
use crate::problem::{Kind, Problem};

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

    fn extend(&mut self, relevant: bool, list: Vec<Problem>) {
        list.into_iter().for_each(|p| self.push(relevant, p));
    }
}

/// The problems of one object, each naming a field: what every check of an object reports into.
struct Fields<'a> {
    kind: Kind,
    key: &'a ObjKey,
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl<'a> Fields<'a> {
    fn new(kind: Kind, key: &'a ObjKey) -> Self {
        Fields { kind, key, errors: Vec::new(), warnings: Vec::new() }
    }

    fn error(&mut self, field: impl Into<String>, msg: impl Into<String>) {
        self.errors.push(Problem::error(self.kind, self.key, field, msg));
    }

    fn warning(&mut self, field: impl Into<String>, msg: impl Into<String>) {
        self.warnings.push(Problem::warning(self.kind, self.key, field, msg));
    }

    /// The value, or `None` with the error recorded against `field`.
    fn check<T>(&mut self, field: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.error(field, e)).ok()
    }

    /// `value` and the warnings if no error was recorded (and there is a value); every problem,
    /// errors first, otherwise.
    fn finish<T>(mut self, value: Option<T>) -> Result<(T, Vec<Problem>), Vec<Problem>> {
        match value {
            Some(v) if self.errors.is_empty() => Ok((v, self.warnings)),
            _ => {
                self.errors.append(&mut self.warnings);
                Err(self.errors)
            }
        }
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
}

/// The CIDRs that exactly cover one range.
fn range_cidrs(a: IpAddr, b: IpAddr) -> Vec<IpNet> {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) => Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect(),
        _ => Vec::new(),
    }
}

/// MetalLB's rule for an aggregation length over one entry of a pool (a CIDR, or a range that is
/// several CIDRs): refused when shorter than the entry's largest CIDR; otherwise accepted, with a
/// warning when the aggregates also cover addresses outside the entry (a range whose ends are not
/// aligned to the aggregation length).
fn aggregation_over((a, b): (IpAddr, IpAddr), agg: u8) -> Result<Option<String>, String> {
    let cidrs = range_cidrs(a, b);
    let Some(largest) = cidrs.iter().map(IpNet::prefix_len).min() else { return Ok(None) };
    let entry = if cidrs.len() == 1 { cidrs[0].to_string() } else { format!("{a}-{b}") };
    if agg < largest {
        return Err(format!(
            "{agg} is shorter than {entry} (a /{largest} at its largest): the aggregate would cover addresses outside"
        ));
    }
    let first = IpNet::new(a, agg).map(|n| n.trunc()).map_err(|e| e.to_string())?;
    let last = IpNet::new(b, agg).map(|n| n.trunc()).map_err(|e| e.to_string())?;
    let mut outside = Vec::new();
    if first.network() < a {
        outside.push(format!("{}-{}", first.network(), pred(a)));
    }
    if last.broadcast() > b {
        outside.push(format!("{}-{}", succ(b), last.broadcast()));
    }
    Ok((!outside.is_empty())
        .then(|| format!("{agg} over {entry}: the aggregates also cover {}, outside", outside.join(" and "))))
}

fn pred(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v) => IpAddr::V4(u32::from(v).saturating_sub(1).into()),
        IpAddr::V6(v) => IpAddr::V6(u128::from(v).saturating_sub(1).into()),
    }
}

fn succ(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v) => IpAddr::V4(u32::from(v).saturating_add(1).into()),
        IpAddr::V6(v) => IpAddr::V6(u128::from(v).saturating_add(1).into()),
    }
}

/// Everything that passed validation.
#[derive(Default)]
pub struct ValidConfig {
    pub peers: Vec<PeerConf>,
    pub ads: Vec<AdConf>,
    pub pools: Vec<PoolConf>,
    pub profiles: BTreeMap<String, BfdProfileConf>,
    /// Pools only L2Advertisements select → the first of them (see `l2_only_pools`).
    pub l2_only: BTreeMap<ObjKey, ObjKey>,
}

/// Validate every config object in the snapshot. `node_labels` are this node's labels.
pub fn validate(snap: &Snapshot, opts: &Options, node_labels: &BTreeMap<String, String>) -> (ValidConfig, Problems) {
    let mut probs = Problems::default();
    let mut cfg = ValidConfig::default();
    let ns = opts.namespace.as_str();
    let peers = in_namespace(&snap.peers, Kind::BGPPeer, ns, &mut probs);
    let ads = in_namespace(&snap.advertisements, Kind::BGPAdvertisement, ns, &mut probs);
    let pools = in_namespace(&snap.pools, Kind::IPAddressPool, ns, &mut probs);
    let bfds = in_namespace(&snap.bfd_profiles, Kind::BFDProfile, ns, &mut probs);
    let comms = in_namespace(&snap.communities, Kind::Community, ns, &mut probs);

    let aliases = community_aliases(&comms, opts.whole_cluster, &mut probs);
    // BFD profiles: validated now, kept only if a peer of this node uses them.
    let profiles: Profiles = bfds.iter().map(|b| (b.key.name.to_string(), (b.key.clone(), bfd_profile(b)))).collect();
    cfg.pools = valid_pools(&pools, &mut probs);
    cfg.l2_only = l2_only_pools(snap, ns, &pools, &mut probs);

    let mut used_profiles: BTreeSet<String> = BTreeSet::new();
    for p in &peers {
        let Some(relevant) =
            selects_node(Kind::BGPPeer, p.key.clone(), &p.spec.node_selectors, node_labels, opts, &mut probs)
        else {
            continue;
        };
        match peer(p, snap, opts, &profiles) {
            Ok((pc, warnings)) => {
                probs.extend(relevant, warnings);
                if relevant {
                    if let Some(bp) = &pc.neighbor.bfd_profile {
                        used_profiles.insert(bp.as_str().to_string());
                    }
                    cfg.peers.push(pc);
                }
            }
            Err(list) => probs.extend(relevant, list),
        }
    }
    for (name, (_, res)) in profiles {
        let relevant = used_profiles.contains(&name) || opts.whole_cluster;
        match res {
            Ok(conf) if relevant => drop(cfg.profiles.insert(name, conf)),
            Ok(_) => {}
            Err(list) => probs.extend(relevant, list),
        }
    }
    per_vrf_rules(&cfg.peers, &mut probs);

    for a in &ads {
        let Some(relevant) =
            selects_node(Kind::BGPAdvertisement, a.key.clone(), &a.spec.node_selectors, node_labels, opts, &mut probs)
        else {
            continue;
        };
        let refs = AdRefs { pools_in_ns: &pools, valid_pools: &cfg.pools, aliases: &aliases, peers: &snap.peers, ns };
        match advertisement(a, &refs) {
            Ok((ac, warnings)) => {
                probs.extend(relevant, warnings);
                if relevant {
                    cfg.ads.push(ac);
                }
            }
            Err(list) => probs.extend(relevant, list),
        }
    }
    bfd_echo_rule(&cfg, &mut probs);
    (cfg, probs)
}

/// MetalLB: BFD echo mode cannot run on a session that carries IPv6 prefixes (FRR's echo is IPv4
/// only): an advertisement of a pool with IPv6 addresses to a peer whose BFD profile has echo
/// mode is refused.
fn bfd_echo_rule(cfg: &ValidConfig, probs: &mut Problems) {
    for ad in &cfg.ads {
        let v6_pool = cfg.pools.iter().find(|p| ad.pools.contains(&p.key) && p.ranges.iter().any(|(a, _)| a.is_ipv6()));
        let Some(pool) = v6_pool else { continue };
        for p in cfg.peers.iter().filter(|p| ad.peers.is_empty() || ad.peers.contains(&p.name)) {
            let echo =
                p.neighbor.bfd_profile.as_ref().and_then(|b| cfg.profiles.get(b.as_str())).is_some_and(|b| b.echo_mode);
            if echo {
                let msg = format!(
                    "BFD echo mode cannot run with IPv6: BGPAdvertisement {} announces IPAddressPool {}'s IPv6 addresses to this peer",
                    ad.key, pool.key
                );
                probs.push(true, Problem::error(Kind::BGPPeer, &p.neighbor.peer, "spec.bfdProfile", msg));
            }
        }
    }
}

/// BFD profiles by name: the checked profile, or its problems.
type Profiles = BTreeMap<String, (ObjKey, Result<BfdProfileConf, Vec<Problem>>)>;

/// Objects outside the config namespace are not ours (MetalLB reads only its own namespace).
fn in_namespace<'a, T>(
    objs: &'a BTreeMap<ObjKey, Obj<T>>,
    kind: Kind,
    ns: &str,
    probs: &mut Problems,
) -> Vec<&'a Obj<T>> {
    objs.values()
        .filter(|o| {
            let ours = *o.key.namespace == *ns;
            if !ours {
                probs.push(
                    false,
                    Problem::warning(
                        kind,
                        &o.key,
                        "metadata.namespace",
                        format!("ignored: configuration is read from namespace {ns:?} only"),
                    ),
                );
            }
            ours
        })
        .collect()
}

/// Whether an object's nodeSelectors select this node; `None` (and an error) when they are invalid.
fn selects_node(
    kind: Kind,
    key: ObjKey,
    selectors: &[LabelSelector],
    node_labels: &BTreeMap<String, String>,
    opts: &Options,
    probs: &mut Problems,
) -> Option<bool> {
    match any_matches(selectors, node_labels) {
        Ok(m) => Some(m || opts.whole_cluster),
        Err((i, e)) => {
            probs.push(true, Problem::error(kind, &key, format!("spec.nodeSelectors[{i}]"), e));
            None
        }
    }
}

/// Community aliases: name -> value, or the reason it is unusable. Problems are warnings on a node
/// (an alias matters only where an advertisement uses it, which then reports it), errors for the
/// whole cluster (`strict`: MetalLB refuses an invalid or twice-defined alias).
fn community_aliases(
    comms: &[&Obj<crate::model::crds::CommunitySpec>],
    strict: bool,
    probs: &mut Problems,
) -> BTreeMap<String, Result<CommunityValue, String>> {
    let mut aliases: BTreeMap<String, Result<CommunityValue, String>> = BTreeMap::new();
    for c in comms {
        for (i, a) in c.spec.communities.iter().enumerate() {
            let field = format!("spec.communities[{i}]");
            let parsed = CommunityValue::parse(&a.value);
            if let Err(e) = &parsed {
                probs.push(strict, Problem::error(Kind::Community, &c.key, format!("{field}.value"), e.clone()));
            }
            if let Err(e) = values::check_alias_name(&a.name) {
                probs.push(strict, Problem::error(Kind::Community, &c.key, format!("{field}.name"), e.clone()));
                aliases.insert(a.name.clone(), Err(e));
                continue;
            }
            if aliases.contains_key(&a.name) {
                let msg = format!("alias {:?} is defined more than once", excerpt(&a.name));
                probs.push(strict, Problem::error(Kind::Community, &c.key, format!("{field}.name"), msg.clone()));
                aliases.insert(a.name.clone(), Err(msg));
            } else {
                aliases.insert(
                    a.name.clone(),
                    parsed.map_err(|e| format!("alias {:?} has an invalid value: {e}", excerpt(&a.name))),
                );
            }
        }
    }
    aliases
}

/// The pools that pass `grammar::pool`; a pool overlapping an earlier one is an error (the
/// speaker could not tell which pool an address belongs to).
fn valid_pools(pools: &[&Obj<IpAddressPoolSpec>], probs: &mut Problems) -> Vec<PoolConf> {
    let mut out: Vec<PoolConf> = Vec::new();
    for p in pools {
        let checked = match pool::check(&p.spec) {
            Ok(c) => {
                for (field, msg) in &c.warnings {
                    probs.push(false, Problem::warning(Kind::IPAddressPool, &p.key, field.clone(), msg.clone()));
                }
                c
            }
            Err(list) => {
                for (field, msg) in list {
                    probs.push(true, Problem::error(Kind::IPAddressPool, &p.key, field, msg));
                }
                continue;
            }
        };
        for (a, b) in &checked.ranges {
            let other = out.iter().find(|o| o.ranges.iter().any(|(x, y)| ranges_overlap((*x, *y), (*a, *b))));
            if let Some(other) = other {
                let msg = format!("{a}-{b} overlaps IPAddressPool {}", other.key);
                probs.push(true, Problem::error(Kind::IPAddressPool, &p.key, "spec.addresses", msg));
            }
        }
        out.push(PoolConf { key: p.key.clone(), ranges: checked.ranges });
    }
    out
}

fn bfd_profile(b: &Obj<BfdProfileSpec>) -> Result<BfdProfileConf, Vec<Problem>> {
    let mut f = Fields::new(Kind::BFDProfile, &b.key);
    let s = &b.spec;
    let name = f.check("metadata.name", ProfileName::parse(&b.key.name));
    // FRR's defaults (bfdd/bfd.h): values equal to them are not written, as FRR does not show them.
    let mut range = |field: &str, v: Option<u32>, lo: u32, hi: u32, default: u32| -> Option<u32> {
        match v {
            Some(x) if x < lo || x > hi => {
                f.error(format!("spec.{field}"), format!("{x} is outside {lo}-{hi}"));
                None
            }
            Some(x) if x != default => Some(x),
            _ => None,
        }
    };
    let receive_interval = range("receiveInterval", s.receive_interval, 10, 60000, 300);
    let transmit_interval = range("transmitInterval", s.transmit_interval, 10, 60000, 300);
    let detect_multiplier = range("detectMultiplier", s.detect_multiplier, 2, 255, 3);
    let echo_interval = range("echoInterval", s.echo_interval, 10, 60000, 50);
    let minimum_ttl = range("minimumTtl", s.minimum_ttl, 1, 254, 254);
    let conf = name.map(|name| BfdProfileConf {
        name,
        receive_interval,
        transmit_interval,
        detect_multiplier,
        echo_interval,
        minimum_ttl,
        echo_mode: s.echo_mode.unwrap_or(false),
        passive_mode: s.passive_mode.unwrap_or(false),
    });
    f.finish(conf).map(|(c, _)| c)
}

/// `spec.peerPort`: `None` for BGP's own port 179.
fn peer_port(s: &BgpPeerSpec, f: &mut Fields) -> Option<u16> {
    match s.peer_port {
        None | Some(179) => None,
        Some(x) if x == 0 || x > MAX_PEER_PORT => {
            f.error("spec.peerPort", format!("{x} is outside 1-{MAX_PEER_PORT}"));
            None
        }
        Some(x) => Some(x as u16),
    }
}

/// `spec.routerID`: a non-zero IPv4 address.
fn router_id(s: &BgpPeerSpec, f: &mut Fields) -> Option<Ipv4Addr> {
    let r = s.router_id.as_deref()?;
    match r.trim().parse::<Ipv4Addr>() {
        Ok(ip) if !ip.is_unspecified() => Some(ip),
        _ => {
            f.error("spec.routerID", format!("{:?} is not a non-zero IPv4 address", excerpt(r)));
            None
        }
    }
}

/// `spec.localASN`: an AS other than myASN, on eBGP sessions only (FRR refuses the rest).
fn local_as(s: &BgpPeerSpec, ibgp: bool, f: &mut Fields) -> Option<u32> {
    match s.local_asn? {
        0 => f.error("spec.localASN", "must be 1-4294967295"),
        n if n == s.my_asn => {
            f.error("spec.localASN", format!("{n} equals myASN: FRR refuses a local-as equal to its own AS"))
        }
        _ if ibgp => f.error("spec.localASN", "is for eBGP sessions only (FRR refuses local-as on an iBGP peer)"),
        n => return Some(n),
    }
    None
}

/// `spec.bfdProfile`: the FRR name of a valid BFDProfile.
fn peer_bfd_profile(s: &BgpPeerSpec, profiles: &Profiles, f: &mut Fields) -> Option<ProfileName> {
    let name = s.bfd_profile.as_deref().filter(|n| !n.is_empty())?;
    match profiles.get(name) {
        Some((_, Ok(conf))) => Some(conf.name.clone()),
        Some((k, Err(_))) => {
            f.error("spec.bfdProfile", format!("BFDProfile {k} is invalid"));
            None
        }
        None => {
            f.error("spec.bfdProfile", format!("BFDProfile {:?} not found", excerpt(name)));
            None
        }
    }
}

/// A checked peer and its warnings, or every problem.
fn peer(
    p: &Obj<BgpPeerSpec>,
    snap: &Snapshot,
    opts: &Options,
    profiles: &Profiles,
) -> Result<(PeerConf, Vec<Problem>), Vec<Problem>> {
    let s = &p.spec;
    let mut f = Fields::new(Kind::BGPPeer, &p.key);
    if s.my_asn == 0 {
        f.error("spec.myASN", "must be 1-4294967295");
    }
    let remote_as = remote_as(s, &mut f);
    let ibgp = match remote_as {
        Some(RemoteAs::Number(n)) => n == s.my_asn,
        Some(RemoteAs::Dynamic(d)) => d == "internal",
        None => false,
    };
    let (id, address, interface) = endpoint(s, &mut f);
    let port = peer_port(s, &mut f);
    let update_source = update_source(s, address, &mut f);
    let router_id = router_id(s, &mut f);
    let timers = timers(s, &mut f);
    let vrf = match s.vrf.as_deref() {
        None | Some("") | Some("default") => None,
        Some(v) => f.check("spec.vrf", IfName::parse(v, "vrf")),
    };
    let multihop = s.ebgp_multi_hop.unwrap_or(false);
    let local_as = local_as(s, ibgp, &mut f);
    let disable_connected_check = hop_rules(multihop, ibgp, address, opts.connected.as_deref(), &mut f);
    let password = password(p, snap, &mut f);
    let bfd_profile = peer_bfd_profile(s, profiles, &mut f);

    let dual = s.dual_stack_address_family.unwrap_or(false);
    let (ipv4, ipv6) = match address {
        _ if interface || dual => (true, true),
        Some(IpAddr::V4(_)) => (true, false),
        _ => (false, true),
    };
    let conf = id.zip(remote_as).map(|(id, remote_as)| PeerConf {
        name: p.key.name.to_string(),
        my_asn: s.my_asn,
        router_id,
        address,
        neighbor: Neighbor {
            peer: p.key.clone(),
            route_map_out: super::state::out_route_map(&id, vrf.as_ref()),
            id,
            interface,
            remote_as,
            ibgp,
            port,
            password,
            update_source,
            ebgp_multihop: multihop,
            disable_connected_check,
            local_as,
            timers: timers.bgp,
            connect: timers.connect,
            bfd_profile,
            graceful_restart: s.enable_graceful_restart.unwrap_or(false),
            ipv4,
            ipv6,
            policy: Vec::new(),
        },
        vrf,
    });
    f.finish(conf)
}

/// peerASN or dynamicASN, exactly one.
fn remote_as(s: &BgpPeerSpec, f: &mut Fields) -> Option<RemoteAs> {
    match (s.peer_asn, s.dynamic_asn.as_deref()) {
        (Some(0), _) => {
            f.error("spec.peerASN", "must be 1-4294967295");
            None
        }
        (Some(_), Some(_)) => {
            f.error("spec.dynamicASN", "peerASN and dynamicASN are mutually exclusive");
            None
        }
        (Some(n), None) => Some(RemoteAs::Number(n)),
        (None, Some("internal")) => Some(RemoteAs::Dynamic("internal")),
        (None, Some("external")) => Some(RemoteAs::Dynamic("external")),
        (None, Some(other)) => {
            f.error("spec.dynamicASN", format!("{:?} is not one of internal, external", excerpt(other)));
            None
        }
        (None, None) => {
            f.error("spec.peerASN", "one of peerASN and dynamicASN is required");
            None
        }
    }
}

/// Who the session is with: (neighbor id as FRR writes it, peer address, unnumbered?).
fn endpoint(s: &BgpPeerSpec, f: &mut Fields) -> (Option<String>, Option<IpAddr>, bool) {
    match (s.peer_address.as_deref(), s.interface.as_deref()) {
        (Some(_), Some(_)) => {
            f.error("spec.interface", "peerAddress and interface are mutually exclusive");
            (None, None, false)
        }
        (None, None) => {
            f.error("spec.peerAddress", "one of peerAddress and interface is required");
            (None, None, false)
        }
        (Some(a), None) => match values::parse_unicast_ip(a) {
            Ok(IpAddr::V6(v6)) if v6.is_unicast_link_local() => {
                f.error(
                    "spec.peerAddress",
                    format!("{a:?} is link-local: use spec.interface for an unnumbered session"),
                );
                (None, None, false)
            }
            Ok(ip) => (Some(ip.to_string()), Some(ip), false),
            Err(e) => {
                f.error("spec.peerAddress", e);
                (None, None, false)
            }
        },
        (None, Some(i)) => match f.check("spec.interface", IfName::parse(i, "interface")) {
            Some(n) => (Some(n.to_string()), None, true),
            None => (None, None, false),
        },
    }
}

fn update_source(s: &BgpPeerSpec, peer: Option<IpAddr>, f: &mut Fields) -> Option<IpAddr> {
    let ip = f.check("spec.sourceAddress", values::parse_unicast_ip(s.source_address.as_deref()?))?;
    if peer.is_some_and(|pa| pa.is_ipv4() != ip.is_ipv4()) {
        f.error("spec.sourceAddress", format!("{ip} is not of the peer address's family"));
        return None;
    }
    Some(ip)
}

/// Seconds, as rendered.
struct Timers {
    bgp: Option<BgpTimers>,
    connect: Option<u64>,
}

/// MetalLB's FRR mode: no timers leave FRR's own; a hold time alone gets a third of it as the
/// keepalive, a keepalive alone three times it as the hold time. RFC 4271: the hold time is 0 or
/// at least 3 s; the keepalive at most the hold time (equal is accepted, as MetalLB does).
fn timers(s: &BgpPeerSpec, f: &mut Fields) -> Timers {
    let mut dur = |field: &str, v: &Option<String>| -> Option<u64> {
        match f.check(field, values::parse_duration_secs(v.as_deref()?))? {
            x if x <= MAX_TIMER_SECS => Some(x),
            x => {
                f.error(field, format!("{x}s is more than {MAX_TIMER_SECS}s"));
                None
            }
        }
    };
    let hold = dur("spec.holdTime", &s.hold_time);
    let keepalive = dur("spec.keepaliveTime", &s.keepalive_time);
    let connect = dur("spec.connectTime", &s.connect_time);
    if connect == Some(0) {
        f.error("spec.connectTime", "must be at least 1s");
    }
    let (keepalive, hold, hold_field) = match (keepalive, hold) {
        (None, None) => return Timers { bgp: None, connect },
        (None, Some(h)) => (h / 3, h, "spec.holdTime"),
        (Some(k), None) => (k, k.saturating_mul(3), "spec.keepaliveTime"),
        (Some(k), Some(h)) => (k, h, "spec.holdTime"),
    };
    let derived = if s.hold_time.is_none() { " (three times keepaliveTime)" } else { "" };
    if hold != 0 && hold < 3 {
        f.error(hold_field, format!("{hold}s{derived}: the hold time must be 0 or at least 3s"));
    } else if hold > MAX_TIMER_SECS {
        f.error(hold_field, format!("{hold}s{derived} is more than {MAX_TIMER_SECS}s"));
    }
    if hold == 0 && keepalive != 0 {
        f.error("spec.keepaliveTime", "must be 0 when holdTime is 0");
    } else if keepalive > hold {
        f.error("spec.keepaliveTime", format!("{keepalive}s must be at most holdTime ({hold}s)"));
    } else if keepalive > hold / 3 {
        // FRR stores at most a third of the hold time (8.4 and 10 alike: `timers 9 9` shows as
        // `timers 3 9`); rendering what FRR keeps makes the diff against its running config empty.
        f.warning(
            "spec.keepaliveTime",
            format!(
                "{keepalive}s is more than a third of holdTime ({hold}s): FRR sends keepalives every {}s",
                hold / 3
            ),
        );
    }
    let keepalive = keepalive.min(hold / 3);
    Timers { bgp: Some(BgpTimers { keepalive, hold }), connect }
}

/// ebgpMultiHop is for eBGP only; a single-hop eBGP peer at an IPv4 address must be on a connected
/// network (FRR sends with TTL 1), when the node's networks are known. A single-hop eBGP peer at an
/// IPv6 address gets `disable-connected-check` instead (the returned value), as in MetalLB's and
/// frr-k8s' FRR configs: a node with only a DHCPv6 /128 has no connected route to its router.
fn hop_rules(multihop: bool, ibgp: bool, addr: Option<IpAddr>, connected: Option<&[IpNet]>, f: &mut Fields) -> bool {
    if multihop && ibgp {
        f.error("spec.ebgpMultiHop", "is for eBGP sessions only: this peer is iBGP (same ASN or dynamicASN internal)");
    }
    let single_hop_ebgp = !ibgp && !multihop;
    if addr.is_some_and(|a| a.is_ipv6()) && single_hop_ebgp {
        return true;
    }
    if let (Some(addr), Some(connected)) = (addr, connected) {
        if single_hop_ebgp && !connected.iter().any(|n| n.contains(&addr)) {
            f.error(
                "spec.ebgpMultiHop",
                format!("{addr} is not on a network directly connected to this node: an eBGP peer more than one hop away needs ebgpMultiHop: true"),
            );
        }
    }
    false
}

/// The session password, inline or from a basic-auth Secret in the peer's namespace.
fn password(p: &Obj<BgpPeerSpec>, snap: &Snapshot, f: &mut Fields) -> Option<crate::model::core::Redacted> {
    let s = &p.spec;
    // `passwordSecret: {}` (an empty reference, as MetalLB's types and tools write it) is no Secret.
    let secret = s.password_secret.as_ref().filter(|r| !r.name.is_empty());
    match (s.password.as_deref(), secret) {
        (Some(_), Some(_)) => {
            f.error("spec.passwordSecret", "password and passwordSecret are mutually exclusive");
            None
        }
        (Some(pw), None) => f.check("spec.password", values::parse_password(pw)),
        (None, Some(r)) => {
            let secret_ns = r.namespace.as_deref().unwrap_or(&p.key.namespace);
            let key = ObjKey::new(secret_ns, r.name.clone());
            let pw = if secret_ns != &*p.key.namespace {
                Err((
                    "spec.passwordSecret.namespace",
                    format!("the Secret must be in the peer's namespace {:?}", p.key.namespace),
                ))
            } else if let Some(sec) = snap.secrets.get(&key) {
                if sec.type_.as_deref() != Some("kubernetes.io/basic-auth") {
                    Err(("spec.passwordSecret", format!("Secret {key} must be of type kubernetes.io/basic-auth")))
                } else if sec.password_not_utf8 {
                    Err(("spec.passwordSecret", format!("Secret {key}: key \"password\" is not UTF-8 text")))
                } else if let Some(pw) = &sec.password {
                    values::parse_password(pw.expose())
                        .map_err(|e| ("spec.passwordSecret", format!("Secret {key}: {e}")))
                } else {
                    Err(("spec.passwordSecret", format!("Secret {key} has no key \"password\"")))
                }
            } else if snap.unreadable.contains_key(&(Kind::Secret, key.clone())) {
                Err(("spec.passwordSecret", format!("Secret {key} could not be read")))
            } else {
                Err(("spec.passwordSecret.name", format!("Secret {key} not found")))
            };
            pw.map_err(|(field, msg)| f.error(field, msg)).ok()
        }
        (None, None) => None,
    }
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

/// What an advertisement refers to.
struct AdRefs<'a> {
    pools_in_ns: &'a [&'a Obj<IpAddressPoolSpec>],
    valid_pools: &'a [PoolConf],
    aliases: &'a BTreeMap<String, Result<CommunityValue, String>>,
    peers: &'a BTreeMap<ObjKey, Obj<BgpPeerSpec>>,
    ns: &'a str,
}

/// A checked advertisement and its warnings (pools or peers it names that do not exist).
fn advertisement(a: &Obj<BgpAdvertisementSpec>, refs: &AdRefs) -> Result<(AdConf, Vec<Problem>), Vec<Problem>> {
    let s = &a.spec;
    let mut f = Fields::new(Kind::BGPAdvertisement, &a.key);
    let agg_v4 = aggregation_length(&mut f, "spec.aggregationLength", s.aggregation_length, 32);
    let agg_v6 = aggregation_length(&mut f, "spec.aggregationLengthV6", s.aggregation_length_v6, 128);
    let communities = communities(s, refs.aliases, &mut f);
    for (field, sels) in
        [("spec.serviceSelectors", &s.service_selectors), ("spec.ipAddressPoolSelectors", &s.ip_address_pool_selectors)]
    {
        if let Err((i, e)) = any_matches(sels, &BTreeMap::new()) {
            f.error(format!("{field}[{i}]"), e);
        }
    }
    let pools = selected_pools(&s.ip_address_pools, &s.ip_address_pool_selectors, refs.pools_in_ns);
    // MetalLB: serviceSelectors and a non-default aggregation length are mutually exclusive.
    if !s.service_selectors.is_empty() {
        for (field, agg, host) in [("spec.aggregationLength", agg_v4, 32), ("spec.aggregationLengthV6", agg_v6, 128)] {
            if agg != host {
                f.error(
                    field,
                    format!("{agg}: serviceSelectors and a non-default aggregation length are mutually exclusive"),
                );
            }
        }
    }
    // An aggregate shorter than a pool's entries would cover addresses outside the pool.
    for pc in refs.valid_pools.iter().filter(|pc| pools.contains(&pc.key)) {
        for &(a, b) in &pc.ranges {
            let (agg, field) =
                if a.is_ipv4() { (agg_v4, "spec.aggregationLength") } else { (agg_v6, "spec.aggregationLengthV6") };
            match aggregation_over((a, b), agg) {
                Ok(None) => {}
                Ok(Some(note)) => f.warning(field, format!("{note} of IPAddressPool {}", pc.key)),
                Err(e) => f.error(field, format!("{e} of IPAddressPool {}", pc.key)),
            }
        }
    }
    for (field, list) in
        [("spec.ipAddressPools", &s.ip_address_pools), ("spec.communities", &s.communities), ("spec.peers", &s.peers)]
    {
        for (i, v) in list.iter().enumerate() {
            if list[..i].contains(v) {
                f.error(format!("{field}[{i}]"), format!("{:?} is listed twice", excerpt(v)));
            }
        }
    }
    for name in &s.ip_address_pools {
        if !refs.pools_in_ns.iter().any(|p| *p.key.name == **name) {
            f.warning("spec.ipAddressPools", format!("IPAddressPool {:?} not found", excerpt(name)));
        }
    }
    for name in &s.peers {
        if !refs.peers.contains_key(&ObjKey::new(refs.ns, name.clone())) {
            f.warning("spec.peers", format!("BGPPeer {:?} not found", excerpt(name)));
        }
    }
    let conf = AdConf {
        key: a.key.clone(),
        agg_v4,
        agg_v6,
        local_pref: s.local_pref,
        communities,
        pools,
        peers: s.peers.clone(),
        service_selectors: s.service_selectors.clone(),
    };
    f.finish(Some(conf))
}

/// An aggregation length within 0..=`max` (the host length when unset).
fn aggregation_length(f: &mut Fields, field: &str, v: Option<i32>, max: u8) -> u8 {
    match v {
        None => max,
        Some(x) if (0..=max as i32).contains(&x) => x as u8,
        Some(x) => {
            f.error(field, format!("{x} is outside 0-{max}"));
            max
        }
    }
}

/// The advertisement's communities: values, or names of Community aliases.
fn communities(
    s: &BgpAdvertisementSpec,
    aliases: &BTreeMap<String, Result<CommunityValue, String>>,
    f: &mut Fields,
) -> BTreeSet<CommunityValue> {
    let mut out = BTreeSet::new();
    for (i, c) in s.communities.iter().enumerate() {
        let looks_numeric = c.starts_with("large:") || c.bytes().next().is_some_and(|b| b.is_ascii_digit());
        let v = if looks_numeric {
            CommunityValue::parse(c)
        } else {
            aliases.get(c).cloned().unwrap_or_else(|| {
                Err(format!(
                    "{:?} is neither a community value nor the name of an alias in a Community object",
                    excerpt(c)
                ))
            })
        };
        if let Some(v) = f.check(&format!("spec.communities[{i}]"), v) {
            out.insert(v);
        }
    }
    if out.len() > MAX_COMMUNITIES {
        f.error("spec.communities", format!("{} communities: at most {MAX_COMMUNITIES}", out.len()));
    }
    out
}

/// Selected pools: by name and by label; all of them when neither is given (BGP and L2
/// advertisements select pools alike).
fn selected_pools(
    names: &[String],
    selectors: &[LabelSelector],
    pools_in_ns: &[&Obj<IpAddressPoolSpec>],
) -> BTreeSet<ObjKey> {
    let by_name: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let all = by_name.is_empty() && selectors.is_empty();
    pools_in_ns
        .iter()
        .filter(|p| {
            let by_label = !selectors.is_empty() && any_matches(selectors, &p.labels).unwrap_or(false);
            all || by_name.contains(&*p.key.name) || by_label
        })
        .map(|p| p.key.clone())
        .collect()
}

/// Pools that an L2Advertisement selects and no BGPAdvertisement does (on any node): their
/// addresses are allocated, but frr-speaker (BGP only) announces them nowhere. Pool → the first
/// L2Advertisement selecting it. Each gets a warning on the pool here and on each of its
/// Services in `desired` (an Event in Kubernetes mode).
fn l2_only_pools(
    snap: &Snapshot,
    ns: &str,
    pools_in_ns: &[&Obj<IpAddressPoolSpec>],
    probs: &mut Problems,
) -> BTreeMap<ObjKey, ObjKey> {
    let bgp: BTreeSet<ObjKey> = snap
        .advertisements
        .values()
        .filter(|a| *a.key.namespace == *ns)
        .flat_map(|a| selected_pools(&a.spec.ip_address_pools, &a.spec.ip_address_pool_selectors, pools_in_ns))
        .collect();
    let mut out: BTreeMap<ObjKey, ObjKey> = BTreeMap::new();
    for l2 in snap.l2_advertisements.values().filter(|a| *a.key.namespace == *ns) {
        for pool in selected_pools(&l2.spec.ip_address_pools, &l2.spec.ip_address_pool_selectors, pools_in_ns) {
            if !bgp.contains(&pool) {
                out.entry(pool).or_insert_with(|| l2.key.clone());
            }
        }
    }
    for (pool, l2) in &out {
        let msg = format!(
            "selected only by L2Advertisement {} (layer 2 mode, which frr-speaker does not do) and by no BGPAdvertisement: its Services are announced by nobody",
            l2.name
        );
        probs.push(true, Problem::warning(Kind::IPAddressPool, pool, "metadata.name", msg));
    }
    out
}

#[cfg(test)]
mod tests;
