//! The node's complete BGP intent: what `frr::render` turns into frr.conf. Every string in here has
//! passed the grammar of `values` (or is generated from numbers and addresses), every collection is
//! sorted, so equal intent always renders to equal bytes.
//!
//! How per-prefix attributes reach FRR (design; measured in docs/benchmarks.md):
//! - Each announced prefix is one `network P route-map fs-tag-N` line. `fs-tag-N` only sets the
//!   route's tag to N; N names the prefix's *class*: which neighbors receive it and through which
//!   advertisements.
//! - Each neighbor has one outbound route-map `fs-out-<neighbor>` with one entry per class it
//!   receives: `match tag N`, then that class's communities, large communities and local
//!   preference for this neighbor. Everything else is denied.
//! - The number of classes is the number of distinct advertisement/peer combinations (a handful),
//!   not the number of prefixes, so route-maps stay small and no per-prefix filter list exists
//!   (FRR 8.4 loads per-prefix prefix-list entries quadratically, ../shared/notes/frr-lab.md).
//!   Adding or removing a service is one `network` line; changing an advertisement's communities
//!   is one `set` line.
//! - A class's tag is a hash of its identity, so it does not move when other classes come and go.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;
use serde::Serialize;

use crate::grammar::values::{IfName, ProfileName};
use crate::model::core::{ObjKey, Redacted};

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DesiredState {
    /// BFD profiles used by this node's neighbors, by name.
    pub bfd_profiles: Vec<BfdProfileConf>,
    /// Tags of the prefix classes in use; each gets a `route-map fs-tag-N`.
    pub tags: Vec<u16>,
    /// One BGP instance per VRF: the default VRF first, then by VRF name.
    pub routers: Vec<Router>,
    /// What this node announces for each Service: prefix → BGPPeer names (for status and events).
    #[serde(skip)]
    pub announcements: Announcements,
}

/// Service → prefix → BGPPeer names. A persistent map: the incremental computation hands out a
/// copy per change, in O(1).
pub type Announcements = imbl::OrdMap<ObjKey, Prefixes>;

/// BGPPeer names, sorted. Shared: there are as many lists as combinations of peers (a handful),
/// not one per Service.
pub type Peers = Arc<[Arc<str>]>;

/// What one Service announces: its prefixes, sorted, each with the peers it goes to. One small
/// allocation per Service (a map per Service cost ten times as much at 100,000 Services).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prefixes(Arc<[(IpNet, Peers)]>);

impl Prefixes {
    /// From (prefix, peers) sorted by prefix, each prefix once.
    pub fn from_sorted(v: Vec<(IpNet, Peers)>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0].0 < w[1].0));
        Prefixes(v.into())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&IpNet, &Peers)> {
        self.0.iter().map(|(p, n)| (p, n))
    }

    pub fn keys(&self) -> impl Iterator<Item = &IpNet> {
        self.0.iter().map(|(p, _)| p)
    }

    /// Every peer name, once, sorted.
    pub fn peers(&self) -> Vec<&str> {
        let set: std::collections::BTreeSet<&str> = self.0.iter().flat_map(|(_, n)| n.iter().map(|s| &**s)).collect();
        set.into_iter().collect()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// For tests and tools: from any (prefix, names) pairs.
impl<S: AsRef<str>> FromIterator<(IpNet, Vec<S>)> for Prefixes {
    fn from_iter<I: IntoIterator<Item = (IpNet, Vec<S>)>>(iter: I) -> Self {
        let mut m: BTreeMap<IpNet, Vec<Arc<str>>> = BTreeMap::new();
        for (p, names) in iter {
            m.entry(p).or_default().extend(names.iter().map(|n| Arc::from(n.as_ref())));
        }
        Prefixes::from_sorted(
            m.into_iter()
                .map(|(p, mut n)| {
                    n.sort();
                    n.dedup();
                    (p, n.into())
                })
                .collect(),
        )
    }
}

/// A `bfd` / `profile NAME` block. `None` means FRR's default, which FRR does not show in its
/// running config, so it is not written either.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BfdProfileConf {
    pub name: ProfileName,
    pub detect_multiplier: Option<u32>,
    pub receive_interval: Option<u32>,
    pub transmit_interval: Option<u32>,
    pub passive_mode: bool,
    pub echo_mode: bool,
    pub echo_interval: Option<u32>,
    pub minimum_ttl: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Router {
    /// `None` for the default VRF.
    pub vrf: Option<IfName>,
    pub asn: u32,
    pub router_id: Option<Ipv4Addr>,
    pub neighbors: Vec<Neighbor>,
    #[serde(skip)]
    pub ipv4_networks: Networks,
    #[serde(skip)]
    pub ipv6_networks: Networks,
}

/// `network` lines: prefix → the tag of its class. A persistent map, like `Announcements`: the
/// incremental computation changes a few entries of the previous state's map, and two states
/// that share most of it compare and diff in time proportional to what differs.
pub type Networks = imbl::OrdMap<IpNet, u16>;

impl Router {
    /// The networks of one address family.
    pub fn networks(&self, ipv4: bool) -> &Networks {
        if ipv4 {
            &self.ipv4_networks
        } else {
            &self.ipv6_networks
        }
    }

    pub fn networks_mut(&mut self, ipv4: bool) -> &mut Networks {
        if ipv4 {
            &mut self.ipv4_networks
        } else {
            &mut self.ipv6_networks
        }
    }
}

/// `remote-as` of a neighbor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RemoteAs {
    Number(u32),
    /// `internal` / `external` (MetalLB's dynamicASN).
    Dynamic(&'static str),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Neighbor {
    /// The BGPPeer this neighbor comes from.
    pub peer: ObjKey,
    /// Peer address, or interface name for an unnumbered session.
    pub id: String,
    pub interface: bool,
    pub remote_as: RemoteAs,
    pub ibgp: bool,
    /// `None` for 179.
    pub port: Option<u16>,
    pub password: Option<Redacted>,
    pub update_source: Option<IpAddr>,
    /// `neighbor X ebgp-multihop 255` (FRR prints the bare form with its TTL of 255).
    pub ebgp_multihop: bool,
    /// Single-hop eBGP to an IPv6 address: FRR's connected check is off, as MetalLB and frr-k8s
    /// render it (a node whose only address in the peer's network is a DHCPv6 /128 has no
    /// connected route to the peer; FRR issue 11185).
    pub disable_connected_check: bool,
    /// `neighbor X local-as N no-prepend replace-as` (MetalLB's localASN): the peer sees AS N.
    pub local_as: Option<u32>,
    /// `neighbor X timers KEEPALIVE HOLD`; `None`: FRR's own defaults, as MetalLB's FRR mode
    /// leaves them when a BGPPeer sets no timers.
    pub timers: Option<BgpTimers>,
    pub connect: Option<u64>,
    pub bfd_profile: Option<ProfileName>,
    pub graceful_restart: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    pub route_map_out: String,
    /// One entry per prefix class this neighbor receives, by tag.
    pub policy: Vec<PolicyEntry>,
}

/// Keepalive and hold time, seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BgpTimers {
    pub keepalive: u64,
    pub hold: u64,
}

/// What a neighbor's outbound route-map does for one class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyEntry {
    pub tag: u16,
    /// Standard communities in FRR's own order and spelling (numeric order, well-known by name).
    pub communities: Vec<String>,
    /// Large communities, numerically sorted.
    pub large_communities: Vec<String>,
    /// iBGP only.
    pub local_pref: Option<u32>,
    /// Both kinds of community as values (frr-k8s mode writes them its own way).
    #[serde(skip)]
    pub values: Vec<crate::grammar::values::CommunityValue>,
}

/// Name of a neighbor's outbound route-map. `@` cannot occur in an interface, VRF or address, so
/// names never collide across VRFs.
pub fn out_route_map(id: &str, vrf: Option<&IfName>) -> String {
    match vrf {
        None => format!("fs-out-{id}"),
        Some(v) => format!("fs-out-{id}@{v}"),
    }
}
