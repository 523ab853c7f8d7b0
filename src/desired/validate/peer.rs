//! BGPPeers, field by field, and the rules between the peers of one VRF (one routerID and one
//! myASN per VRF; a peer more than one hop away needs ebgp-multihop, which iBGP may not have).

use super::*;

/// RFC 4271 §4.2: a non-zero hold time is at least 3 s; FRR's limit is 65535.
pub(super) const MAX_TIMER_SECS: u64 = 65535;
/// MetalLB's limit for peerPort.
pub(super) const MAX_PEER_PORT: u32 = 16384;
/// `spec.peerPort`: `None` for BGP's own port 179.
pub(super) fn peer_port(s: &BgpPeerSpec, f: &mut Fields) -> Option<u16> {
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
pub(super) fn router_id(s: &BgpPeerSpec, f: &mut Fields) -> Option<Ipv4Addr> {
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
pub(super) fn local_as(s: &BgpPeerSpec, ibgp: bool, f: &mut Fields) -> Option<u32> {
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
pub(super) fn peer_bfd_profile(s: &BgpPeerSpec, profiles: &Profiles, f: &mut Fields) -> Option<ProfileName> {
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
pub(super) fn peer(
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
            route_map_out: crate::desired::state::out_route_map(&id, vrf.as_ref()),
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
pub(super) fn remote_as(s: &BgpPeerSpec, f: &mut Fields) -> Option<RemoteAs> {
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
pub(super) fn endpoint(s: &BgpPeerSpec, f: &mut Fields) -> (Option<String>, Option<IpAddr>, bool) {
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

pub(super) fn update_source(s: &BgpPeerSpec, peer: Option<IpAddr>, f: &mut Fields) -> Option<IpAddr> {
    let ip = f.check("spec.sourceAddress", values::parse_unicast_ip(s.source_address.as_deref()?))?;
    if peer.is_some_and(|pa| pa.is_ipv4() != ip.is_ipv4()) {
        f.error("spec.sourceAddress", format!("{ip} is not of the peer address's family"));
        return None;
    }
    Some(ip)
}

/// Seconds, as rendered.
pub(super) struct Timers {
    pub(super) bgp: Option<BgpTimers>,
    pub(super) connect: Option<u64>,
}

/// MetalLB's FRR mode: no timers leave FRR's own; a hold time alone gets a third of it as the
/// keepalive, a keepalive alone three times it as the hold time. RFC 4271: the hold time is 0 or
/// at least 3 s; the keepalive at most the hold time (equal is accepted, as MetalLB does).
pub(super) fn timers(s: &BgpPeerSpec, f: &mut Fields) -> Timers {
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
pub(super) fn hop_rules(
    multihop: bool,
    ibgp: bool,
    addr: Option<IpAddr>,
    connected: Option<&[IpNet]>,
    f: &mut Fields,
) -> bool {
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
pub(super) fn password(p: &Obj<BgpPeerSpec>, snap: &Snapshot, f: &mut Fields) -> Option<crate::model::core::Redacted> {
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
pub(super) fn per_vrf_rules(peers: &[PeerConf], probs: &mut Problems) {
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
