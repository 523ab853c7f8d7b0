//! frr-k8s's merge of several objects' parts for one node (`merge.go` of v0.0.25): routers by
//! VRF, neighbors by identity (address or interface, and VRF). Objects only extend one another:
//! sets are unioned, the more permissive filter wins, and a setting two objects give different
//! values is a conflict. Pure.
//!
//! Deliberate differences from frr-k8s v0.0.25 (docs/frrk8s.md):
//! - a timer equal to FRR's default is kept, not dropped: `holdTime: 90s, keepaliveTime: 60s`
//!   renders `timers 60 90` (frr-k8s drops the 60 and then renders no timers at all);
//! - graceful restart: on if any object asks (frr-k8s takes the first object's);
//! - a neighbor's identity is its address as an address (`2001:DB8::1` is `2001:db8::1`).

use super::model::*;

/// Why two parts cannot be merged: the message, and the field of the later object at fault when
/// it is not the router's (a neighbor's).
#[derive(Debug, PartialEq, Eq)]
pub struct Conflict(pub String, pub Option<String>);

/// FRR's defaults, which an unset value equals.
const DEFAULT_PORT: u16 = 179;
const DEFAULT_HOLD: u64 = 180;
const DEFAULT_KEEPALIVE: u64 = 60;
const DEFAULT_CONNECT: u64 = 60;

/// Merge `other` into `into` (both routers of one VRF).
pub fn merge_router(into: &mut Router, other: Router) -> Result<(), Conflict> {
    let vrf = into.vrf.as_ref().map_or("default".to_string(), |v| v.to_string());
    if into.asn != other.asn {
        return Err(Conflict(
            format!("AS {} differs from AS {} of VRF {vrf} in {}", other.asn, into.asn, into.from),
            None,
        ));
    }
    match (into.router_id, other.router_id) {
        (Some(a), Some(b)) if a != b => {
            return Err(Conflict(format!("router ID {b} differs from {a} of VRF {vrf} in {}", into.from), None));
        }
        (None, b) => into.router_id = b,
        _ => {}
    }
    into.prefixes_v4.extend(other.prefixes_v4);
    into.prefixes_v6.extend(other.prefixes_v6);
    into.imports.extend(other.imports);
    for (id, n) in other.neighbors {
        match into.neighbors.get_mut(&id) {
            Some(first) => merge_neighbor(first, n)?,
            None => {
                into.neighbors.insert(id, n);
            }
        }
    }
    Ok(())
}

/// Merge `other` into `into`, two neighbors with one identity.
pub fn merge_neighbor(into: &mut Neighbor, other: Neighbor) -> Result<(), Conflict> {
    let at = format!("neighbor {} ({} in {})", into.id(), into.from.1, into.from.0);
    let field = Some(other.from.1.clone());
    let differ =
        |what: &str, a: String, b: String| Conflict(format!("{what} {b} differs from {a} of {at}"), field.clone());
    if into.remote_as != other.remote_as {
        return Err(differ("AS", into.remote_as.to_string(), other.remote_as.to_string()));
    }
    let port = |p: Option<u16>| p.unwrap_or(DEFAULT_PORT);
    if port(into.port) != port(other.port) {
        return Err(differ("port", port(into.port).to_string(), port(other.port).to_string()));
    }
    if into.source != other.source {
        let show = |s: &Option<Source>| s.as_ref().map_or("(none)".to_string(), |s| s.to_string());
        return Err(differ("source address", show(&into.source), show(&other.source)));
    }
    if into.password != other.password {
        return Err(Conflict(format!("password differs from the one of {at}"), field));
    }
    match (&into.bfd_profile, &other.bfd_profile) {
        (Some(a), Some(b)) if a != b => return Err(differ("BFD profile", a.as_str().into(), b.as_str().into())),
        (None, Some(_)) => into.bfd_profile = other.bfd_profile.clone(),
        _ => {}
    }
    if into.ebgp_multihop != other.ebgp_multihop {
        return Err(differ("ebgpMultiHop", into.ebgp_multihop.to_string(), other.ebgp_multihop.to_string()));
    }
    if into.family != other.family {
        return Err(differ("address families", into.family.name().into(), other.family.name().into()));
    }
    let hold_of = |t: Option<(u64, u64)>| t.map_or(DEFAULT_HOLD, |t| t.0);
    let keep_of = |t: Option<(u64, u64)>| t.map_or(DEFAULT_KEEPALIVE, |t| t.1);
    if hold_of(into.timers) != hold_of(other.timers) {
        return Err(differ("hold time", format!("{}s", hold_of(into.timers)), format!("{}s", hold_of(other.timers))));
    }
    if keep_of(into.timers) != keep_of(other.timers) {
        return Err(differ(
            "keepalive time",
            format!("{}s", keep_of(into.timers)),
            format!("{}s", keep_of(other.timers)),
        ));
    }
    if into.timers.is_none() {
        into.timers = other.timers;
    }
    let connect = |c: Option<u64>| c.unwrap_or(DEFAULT_CONNECT);
    if connect(into.connect_time) != connect(other.connect_time) {
        return Err(differ(
            "connect time",
            format!("{}s", connect(into.connect_time)),
            format!("{}s", connect(other.connect_time)),
        ));
    }
    into.connect_time = into.connect_time.or(other.connect_time);
    if into.local_asn != other.local_asn {
        let show = |l: Option<u32>| l.map_or("(none)".to_string(), |l| l.to_string());
        return Err(differ("localASN", show(into.local_asn), show(other.local_asn)));
    }
    // allowas-in: an explicit `none` keeps it off; otherwise the least restrictive value.
    into.allow_as_in_none |= other.allow_as_in_none;
    into.allow_as_in = match (into.allow_as_in, other.allow_as_in) {
        _ if into.allow_as_in_none => None,
        (Some(AllowAsIn::Times(a)), Some(AllowAsIn::Times(b))) => Some(AllowAsIn::Times(a.max(b))),
        (Some(AllowAsIn::Times(a)), _) | (_, Some(AllowAsIn::Times(a))) => Some(AllowAsIn::Times(a)),
        (a, b) => a.or(b),
    };
    into.graceful_restart |= other.graceful_restart;
    merge_outgoing(&mut into.outgoing, other.outgoing, &at).map_err(|m| Conflict(m, field))?;
    merge_incoming(&mut into.incoming, other.incoming);
    Ok(())
}

fn merge_outgoing(into: &mut Outgoing, other: Outgoing, at: &str) -> Result<(), String> {
    for ((pref, _), prefixes) in &other.local_pref {
        for p in prefixes {
            let before = into.local_pref.iter().find(|((lp, _), set)| lp != pref && set.contains(p));
            if let Some(((lp, _), _)) = before {
                return Err(format!("{:?} has local preference {pref} here and {lp} in {at}", p.text));
            }
        }
    }
    into.v4.extend(other.v4);
    into.v6.extend(other.v6);
    for (k, set) in other.local_pref {
        into.local_pref.entry(k).or_default().extend(set);
    }
    for (k, set) in other.community {
        into.community.entry(k).or_default().extend(set);
    }
    Ok(())
}

fn merge_incoming(into: &mut Incoming, other: Incoming) {
    if into.all || other.all {
        *into = Incoming { all: true, ..Incoming::default() };
        return;
    }
    into.v4.extend(other.v4);
    into.v6.extend(other.v6);
}
