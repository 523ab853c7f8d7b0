//! One FRRConfiguration to its part of the node's configuration, with frr-k8s's rules
//! (`api_to_config.go` of v0.0.25): each object is self-contained (what a neighbor advertises
//! must be among its own router's prefixes, a BFD profile it names must be its own). Also the
//! CRD's bounds and enums, which a file in file mode has not been checked against. Pure.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::merge::{merge_neighbor, Conflict};
use super::model::*;
use crate::grammar::values::{
    excerpt, parse_duration_ms, parse_duration_secs, parse_password, parse_unicast_ip, CommunityValue, IfName,
    ProfileName,
};
use crate::model::core::{ObjKey, SecretInfo};
use crate::model::frrk8s::{self as api, AllowMode, DynamicAsn, FrrConfigurationSpec};
use crate::problem::{Kind, Problem};

/// What the conversion needs besides the object.
pub struct Context<'a> {
    /// The Secrets of frr-k8s's namespace (passwordSecret is looked up by name there).
    pub secrets: &'a BTreeMap<ObjKey, SecretInfo>,
    pub namespace: &'a str,
    /// Denied inbound on every neighbor.
    pub always_block: &'a [IpNet],
}

/// One object's contribution: its routers, BFD profiles and raw configuration.
#[derive(Debug, Default)]
pub struct Part {
    pub routers: Vec<(Router, String)>,
    pub bfd_profiles: Vec<(BfdProfile, String)>,
    pub raw: Option<(i64, String)>,
    pub warnings: Vec<Problem>,
}

/// A problem with a field of the object being converted.
pub(super) struct Fault {
    pub field: String,
    pub message: String,
}

fn fault(field: impl Into<String>, message: impl Into<String>) -> Fault {
    Fault { field: field.into(), message: message.into() }
}

pub fn convert(key: &ObjKey, spec: &FrrConfigurationSpec, ctx: &Context) -> Result<Part, Problem> {
    let problem = |f: Fault| Problem::error(Kind::FRRConfiguration, key, f.field, f.message);
    let mut part = Part::default();
    let mut profiles: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, p) in spec.bgp.bfd_profiles.iter().enumerate() {
        let field = format!("spec.bgp.bfdProfiles[{i}]");
        let profile = bfd_profile(p, &field).map_err(problem)?;
        if let Some(first) = profiles.insert(&p.name, i) {
            return Err(problem(fault(
                format!("{field}.name"),
                format!("BFD profile {:?} is defined twice (also spec.bgp.bfdProfiles[{first}])", p.name),
            )));
        }
        part.bfd_profiles.push((profile, field));
    }
    // Each VRF's prefixes, for `imports` (only the routers of this object).
    let mut vrf_prefixes: BTreeMap<&str, &[String]> = BTreeMap::new();
    for r in &spec.bgp.routers {
        vrf_prefixes.insert(&r.vrf, &r.prefixes);
    }
    for (i, r) in spec.bgp.routers.iter().enumerate() {
        let field = format!("spec.bgp.routers[{i}]");
        let router = router(key, r, &field, &vrf_prefixes, &profiles, ctx).map_err(problem)?;
        for (j, n) in r.neighbors.iter().enumerate() {
            if n.disable_mp {
                part.warnings.push(Problem::warning(
                    Kind::FRRConfiguration,
                    key,
                    format!("{field}.neighbors[{j}].disableMP"),
                    "deprecated and ignored: both address families are negotiated; see dualStackAddressFamily",
                ));
            }
            let nfield = format!("{field}.neighbors[{j}]");
            if let Ok(Some((hold, keepalive))) = timers(n, &nfield) {
                if keepalive > hold / 3 {
                    part.warnings.push(Problem::warning(
                        Kind::FRRConfiguration,
                        key,
                        format!("{nfield}.keepaliveTime"),
                        format!(
                            "{keepalive}s is more than a third of holdTime ({hold}s): FRR sends keepalives every {}s",
                            hold / 3
                        ),
                    ));
                }
            }
        }
        part.routers.push((router, field));
    }
    if !spec.raw.config.is_empty() {
        part.raw = Some((spec.raw.priority, spec.raw.config.clone()));
    }
    Ok(part)
}

fn bfd_profile(p: &api::BfdProfile, field: &str) -> Result<BfdProfile, Fault> {
    let name = ProfileName::parse(&p.name).map_err(|e| fault(format!("{field}.name"), e))?;
    let within = |v: Option<u32>, what: &str, lo: u32, hi: u32| match v {
        Some(x) if !(lo..=hi).contains(&x) => {
            Err(fault(format!("{field}.{what}"), format!("{x} is not within {lo}-{hi}")))
        }
        _ => Ok(v),
    };
    Ok(BfdProfile {
        name,
        receive_interval: within(p.receive_interval, "receiveInterval", 10, 60000)?,
        transmit_interval: within(p.transmit_interval, "transmitInterval", 10, 60000)?,
        detect_multiplier: within(p.detect_multiplier, "detectMultiplier", 2, 255)?,
        echo_interval: within(p.echo_interval, "echoInterval", 10, 60000)?,
        echo_mode: p.echo_mode.unwrap_or(false),
        passive_mode: p.passive_mode.unwrap_or(false),
        minimum_ttl: within(p.minimum_ttl, "minimumTtl", 1, 254)?,
    })
}

fn router(
    key: &ObjKey,
    r: &api::Router,
    field: &str,
    vrf_prefixes: &BTreeMap<&str, &[String]>,
    profiles: &BTreeMap<&str, usize>,
    ctx: &Context,
) -> Result<Router, Fault> {
    let vrf = match r.vrf.as_str() {
        "" => None,
        v => Some(IfName::parse(v, "VRF name").map_err(|e| fault(format!("{field}.vrf"), e))?),
    };
    let router_id = match r.id.as_str() {
        "" => None,
        id => Some(
            id.parse()
                .map_err(|_| fault(format!("{field}.id"), format!("{:?} is not an IPv4 address", excerpt(id))))?,
        ),
    };
    let mut prefixes = Vec::new();
    for (k, p) in r.prefixes.iter().enumerate() {
        prefixes.push(Prefix::parse(p).map_err(|e| fault(format!("{field}.prefixes[{k}]"), e))?);
    }
    // What the router may advertise: its prefixes and those of the VRFs it imports.
    let mut all: BTreeSet<&str> = r.prefixes.iter().map(String::as_str).collect();
    let mut imports = BTreeSet::new();
    for (k, imp) in r.imports.iter().enumerate() {
        let f = format!("{field}.imports[{k}].vrf");
        let from = if imp.vrf == "default" { "" } else { imp.vrf.as_str() };
        let Some(imported) = vrf_prefixes.get(from) else {
            return Err(fault(f, format!("imports VRF {:?}, which no router of this object defines", imp.vrf)));
        };
        all.extend(imported.iter().map(String::as_str));
        imports.insert(IfName::parse(&imp.vrf, "VRF name").map_err(|e| fault(f, e))?);
    }
    let mut out = Router {
        asn: r.asn,
        router_id,
        vrf: vrf.clone(),
        prefixes_v4: prefixes.iter().filter(|p| p.family() == Family::V4).cloned().collect(),
        prefixes_v6: prefixes.iter().filter(|p| p.family() == Family::V6).cloned().collect(),
        imports,
        neighbors: BTreeMap::new(),
        from: key.clone(),
    };
    for (j, n) in r.neighbors.iter().enumerate() {
        let nf = format!("{field}.neighbors[{j}]");
        let neighbor = neighbor(key, r, n, &nf, &vrf, &all, profiles, ctx)?;
        // Two neighbors of one router with one identity are merged by the same rules as
        // neighbors of two objects.
        match out.neighbors.remove(&neighbor.id()) {
            None => {
                out.neighbors.insert(neighbor.id(), neighbor);
            }
            Some(mut first) => {
                merge_neighbor(&mut first, neighbor).map_err(|Conflict(m, _)| fault(nf.clone(), m))?;
                out.neighbors.insert(first.id(), first);
            }
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn neighbor(
    key: &ObjKey,
    r: &api::Router,
    n: &api::Neighbor,
    field: &str,
    vrf: &Option<IfName>,
    router_prefixes: &BTreeSet<&str>,
    profiles: &BTreeMap<&str, usize>,
    ctx: &Context,
) -> Result<Neighbor, Fault> {
    let f = |name: &str| format!("{field}.{name}");
    let (peer, remote_as, local_asn) = identity(r, n, field)?;
    let bfd_profile = match n.bfd_profile.as_str() {
        "" => None,
        p if profiles.contains_key(p) => Some(ProfileName::parse(p).map_err(|e| fault(f("bfdProfile"), e))?),
        p => {
            return Err(fault(
                f("bfdProfile"),
                format!("{:?} is not a BFD profile of this object (spec.bgp.bfdProfiles)", excerpt(p)),
            ))
        }
    };
    let family = match &peer {
        Peer::Interface(_) => Family::Dual,
        _ if n.dual_stack_address_family => Family::Dual,
        Peer::Address(a) if a.is_ipv4() => Family::V4,
        Peer::Address(_) => Family::V6,
    };
    let s = session(n, field, ctx)?;
    Ok(Neighbor {
        peer,
        remote_as,
        local_asn,
        source: s.source,
        port: n.port,
        family,
        ebgp_multihop: n.ebgp_multi_hop,
        bfd_profile,
        graceful_restart: n.enable_graceful_restart,
        vrf: vrf.clone(),
        timers: timers(n, field)?,
        connect_time: s.connect_time,
        password: s.password,
        allow_as_in: s.allow_as_in.0,
        allow_as_in_none: s.allow_as_in.1,
        outgoing: outgoing(&n.to_advertise, family, router_prefixes, field)?,
        incoming: incoming(&n.to_receive, field)?,
        always_block: always_block(ctx.always_block),
        from: (key.clone(), field.to_string()),
    })
}

/// Where the session goes, the peer's AS, and the AS this node shows it.
fn identity(r: &api::Router, n: &api::Neighbor, field: &str) -> Result<(Peer, RemoteAs, Option<u32>), Fault> {
    let f = |name: &str| format!("{field}.{name}");
    let peer = match (n.address.as_str(), n.interface.as_str()) {
        ("", "") => return Err(fault(field, "neither address nor interface is set: one is needed")),
        (_, "") => Peer::Address(parse_unicast_ip(&n.address).map_err(|e| fault(f("address"), e))?),
        ("", i) => Peer::Interface(IfName::parse(i, "interface").map_err(|e| fault(f("interface"), e))?),
        _ => return Err(fault(field, "both address and interface are set: one only")),
    };
    let remote_as = match (n.asn, n.dynamic_asn) {
        (0, None) => return Err(fault(field, "neither asn nor dynamicASN is set: one is needed")),
        (a, None) => RemoteAs::Number(a),
        (0, Some(DynamicAsn::Internal)) => RemoteAs::Internal,
        (0, Some(DynamicAsn::External)) => RemoteAs::External,
        _ => return Err(fault(field, "both asn and dynamicASN are set: one only")),
    };
    let local_asn = match n.local_asn {
        0 => None,
        l if remote_as == RemoteAs::Number(r.asn) || remote_as == RemoteAs::Internal => {
            return Err(fault(
                f("localASN"),
                format!("{l}: local-as is for eBGP sessions; this one is iBGP (AS {})", r.asn),
            ));
        }
        l => Some(l),
    };
    Ok((peer, remote_as, local_asn))
}

/// The session's settings that are checked one by one.
struct Session {
    source: Option<Source>,
    password: Option<crate::model::core::Redacted>,
    connect_time: Option<u64>,
    /// The value, and whether `none` was asked explicitly.
    allow_as_in: (Option<AllowAsIn>, bool),
}

fn session(n: &api::Neighbor, field: &str, ctx: &Context) -> Result<Session, Fault> {
    let f = |name: &str| format!("{field}.{name}");
    let source = match n.source_address.as_str() {
        "" => None,
        s => Some(match s.parse() {
            Ok(ip) => Source::Address(ip),
            Err(_) => Source::Interface(
                IfName::parse(s, "source address or interface").map_err(|e| fault(f("sourceaddress"), e))?,
            ),
        }),
    };
    if let Some(p) = n.port {
        if p > 16384 {
            return Err(fault(f("port"), format!("{p} is not within 0-16384")));
        }
    }
    let password = match (n.password.as_str(), n.password_secret.name.as_str()) {
        ("", "") => None,
        (p, "") => Some(parse_password(p).map_err(|e| fault(f("password"), e))?),
        ("", name) => Some(secret_password(name, ctx).map_err(|e| fault(f("passwordSecret"), e))?),
        _ => return Err(fault(field, "both password and passwordSecret are set: one only")),
    };
    let connect_time = match &n.connect_time {
        None => None,
        Some(c) => {
            let s = parse_duration_secs(c).map_err(|e| fault(f("connectTime"), e))?;
            if !(1..=65535).contains(&s) {
                return Err(fault(f("connectTime"), format!("{c:?} is not within 1s-65535s")));
            }
            Some(s)
        }
    };
    let allow_as_in = match n.allow_as_in.as_str() {
        "" => (None, false),
        "none" => (None, true),
        "origin" => (Some(AllowAsIn::Origin), false),
        t => match t.parse::<u8>() {
            Ok(v @ 1..=10) => (Some(AllowAsIn::Times(v)), false),
            _ => return Err(fault(f("allowAsIn"), format!("{:?}: want none, origin or 1-10", excerpt(t)))),
        },
    };
    Ok(Session { source, password, connect_time, allow_as_in })
}

/// A basic-auth Secret of frr-k8s's namespace, by name, and its `password`.
fn secret_password(name: &str, ctx: &Context) -> Result<crate::model::core::Redacted, String> {
    let key = ObjKey::new(ctx.namespace, name);
    let Some(s) = ctx.secrets.get(&key) else {
        return Err(format!("Secret {key} does not exist"));
    };
    if s.type_.as_deref() != Some("kubernetes.io/basic-auth") {
        return Err(format!(
            "Secret {key} is of type {:?}, not kubernetes.io/basic-auth",
            s.type_.as_deref().unwrap_or("")
        ));
    }
    match &s.password {
        Some(p) => parse_password(p.expose()).map_err(|e| format!("Secret {key}: {e}")),
        None if s.password_not_utf8 => Err(format!("Secret {key}: its password is not UTF-8 text")),
        None => Err(format!("Secret {key} has no password key")),
    }
}

/// Hold time and keepalive: both or neither; the hold time 0 or at least 3 s; the keepalive at
/// most the hold time.
fn timers(n: &api::Neighbor, field: &str) -> Result<Option<(u64, u64)>, Fault> {
    let (ht, ka) = match (&n.hold_time, &n.keepalive_time) {
        (None, None) => return Ok(None),
        (Some(h), Some(k)) => (h, k),
        _ => return Err(fault(field, "holdTime and keepaliveTime are set together or not at all")),
    };
    let hold = parse_duration_ms(ht).map_err(|e| fault(format!("{field}.holdTime"), e))?;
    let keep = parse_duration_ms(ka).map_err(|e| fault(format!("{field}.keepaliveTime"), e))?;
    if hold / 1000 != 0 && hold / 1000 < 3 {
        return Err(fault(format!("{field}.holdTime"), format!("{ht:?}: must be 0 or at least 3s")));
    }
    if keep > hold {
        return Err(fault(format!("{field}.keepaliveTime"), format!("{ka:?} is longer than holdTime {ht:?}")));
    }
    if hold / 1000 > 65535 {
        return Err(fault(format!("{field}.holdTime"), format!("{ht:?} is longer than 65535s")));
    }
    Ok(Some((hold / 1000, keep / 1000)))
}

pub(super) fn always_block(cidrs: &[IpNet]) -> Vec<Filter> {
    cidrs
        .iter()
        .map(|c| Filter {
            prefix: Prefix { text: c.to_string(), net: c.trunc() },
            le: Some(if c.addr().is_ipv4() { 32 } else { 128 }),
            ge: None,
        })
        .collect()
}

fn incoming(r: &api::Receive, field: &str) -> Result<Incoming, Fault> {
    let mut out = Incoming::default();
    if r.allowed.mode == Some(AllowMode::All) {
        out.all = true;
        return Ok(out);
    }
    for (k, s) in r.allowed.prefixes.iter().enumerate() {
        let f = format!("{field}.toReceive.allowed.prefixes[{k}]");
        let prefix = Prefix::parse(&s.prefix).map_err(|e| fault(format!("{f}.prefix"), e))?;
        let (mask, max) = (prefix.net.prefix_len() as u32, prefix.net.max_prefix_len() as u32);
        let length = |v: u32, what: &str| -> Result<Option<u8>, Fault> {
            match v {
                0 => Ok(None),
                v if v > 128 => Err(fault(format!("{f}.{what}"), format!("{v} is not within 1-128"))),
                v if v < mask => {
                    Err(fault(format!("{f}.{what}"), format!("{v} is shorter than the prefix's length {mask}")))
                }
                v if v > max => Err(fault(format!("{f}.{what}"), format!("{v} is longer than an address ({max})"))),
                v => Ok(Some(v as u8)),
            }
        };
        let (le, ge) = (length(s.le, "le")?, length(s.ge, "ge")?);
        if let (Some(l), Some(g)) = (le, ge) {
            if g > l {
                return Err(fault(format!("{f}.ge"), format!("ge {g} is greater than le {l}")));
            }
        }
        let filter = Filter { prefix, le, ge };
        match filter.prefix.family() {
            Family::V4 => out.v4.insert(filter),
            _ => out.v6.insert(filter),
        };
    }
    Ok(out)
}

fn outgoing(a: &api::Advertise, family: Family, router: &BTreeSet<&str>, field: &str) -> Result<Outgoing, Fault> {
    let mut out = Outgoing::default();
    let parse_all = |list: &[String], f: &str| -> Result<Vec<Prefix>, Fault> {
        let mut v = Vec::new();
        for (k, p) in list.iter().enumerate() {
            let prefix = Prefix::parse(p).map_err(|e| fault(format!("{f}[{k}]"), e))?;
            if !family.carries(prefix.family()) {
                return Err(fault(
                    format!("{f}[{k}]"),
                    format!("{p:?} is {} and the session is {} only", prefix.family().name(), family.name()),
                ));
            }
            v.push(prefix);
        }
        Ok(v)
    };
    // The prefixes allowed out (all of the router's, or the listed ones, which it must have).
    let allowed: BTreeSet<Prefix> = if a.allowed.mode == Some(AllowMode::All) {
        let mut v = BTreeSet::new();
        for p in router {
            let prefix = Prefix::parse(p).map_err(|e| fault(field, e))?;
            if family.carries(prefix.family()) {
                v.insert(prefix);
            }
        }
        v
    } else {
        let f = format!("{field}.toAdvertise.allowed.prefixes");
        let listed = parse_all(&a.allowed.prefixes, &f)?;
        for (k, p) in listed.iter().enumerate() {
            if !router.contains(p.text.as_str()) {
                return Err(fault(
                    format!("{f}[{k}]"),
                    format!("{:?} is not among the router's prefixes (or an imported VRF's)", p.text),
                ));
            }
        }
        listed.into_iter().collect()
    };
    let allowed_texts: BTreeSet<&str> = allowed.iter().map(|p| p.text.as_str()).collect();
    let mut pref_of: BTreeMap<&str, u32> = BTreeMap::new();
    for (k, lp) in a.with_local_pref.iter().enumerate() {
        let f = format!("{field}.toAdvertise.withLocalPref[{k}]");
        if a.with_local_pref[..k].iter().any(|o| o.local_pref == lp.local_pref) {
            return Err(fault(format!("{f}.localPref"), format!("local preference {} is listed twice", lp.local_pref)));
        }
        for (m, p) in parse_all(&lp.prefixes, &format!("{f}.prefixes"))?.into_iter().enumerate() {
            if let Some(other) = pref_of.insert(lp.prefixes[m].as_str(), lp.local_pref) {
                if other != lp.local_pref {
                    return Err(fault(
                        format!("{f}.prefixes[{m}]"),
                        format!("{:?} has local preferences {other} and {}", p.text, lp.local_pref),
                    ));
                }
            }
            if !allowed_texts.contains(p.text.as_str()) {
                return Err(fault(
                    format!("{f}.prefixes[{m}]"),
                    format!("{:?} is not advertised to this neighbor (toAdvertise.allowed)", p.text),
                ));
            }
            let set = out.local_pref.entry((lp.local_pref, p.family())).or_default();
            if !set.insert(p.clone()) {
                return Err(fault(
                    format!("{f}.prefixes[{m}]"),
                    format!("{:?} is listed twice for local preference {}", p.text, lp.local_pref),
                ));
            }
        }
    }
    for (k, c) in a.with_community.iter().enumerate() {
        let f = format!("{field}.toAdvertise.withCommunity[{k}]");
        let community = CommunityValue::parse(&c.community).map_err(|e| fault(format!("{f}.community"), e))?;
        if a.with_community[..k].iter().any(|o| CommunityValue::parse(&o.community).ok() == Some(community)) {
            return Err(fault(format!("{f}.community"), format!("community {:?} is listed twice", c.community)));
        }
        for (m, p) in parse_all(&c.prefixes, &format!("{f}.prefixes"))?.into_iter().enumerate() {
            if !allowed_texts.contains(p.text.as_str()) {
                return Err(fault(
                    format!("{f}.prefixes[{m}]"),
                    format!("{:?} is not advertised to this neighbor (toAdvertise.allowed)", p.text),
                ));
            }
            let set = out.community.entry((community, p.family())).or_default();
            if !set.insert(p.clone()) {
                return Err(fault(
                    format!("{f}.prefixes[{m}]"),
                    format!("{:?} is listed twice for community {:?}", p.text, c.community),
                ));
            }
        }
    }
    for p in allowed {
        match p.family() {
            Family::V4 => out.v4.insert(p),
            _ => out.v6.insert(p),
        };
    }
    Ok(out)
}
