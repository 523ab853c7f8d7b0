//! One node's merged frr-k8s configuration: what every FRRConfiguration that selects the node
//! adds up to, every value already checked against the grammar of what may reach frr.conf
//! (`grammar::values`). Pure data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::grammar::values::{CommunityValue, IfName, ProfileName};
use crate::model::core::{ObjKey, Redacted};

/// The node's configuration: routers by VRF (the default VRF, `""`, first), BFD profiles by
/// name, and the raw configuration (every object's `raw.rawConfig`, by priority then name).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    pub routers: BTreeMap<String, Router>,
    pub bfd_profiles: BTreeMap<String, BfdProfile>,
    pub raw: String,
}

/// An address family of a session or a prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
    /// Both, over one session (an unnumbered session, or `dualStackAddressFamily`).
    Dual,
}

impl Family {
    pub fn of(net: &IpNet) -> Family {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }

    /// Whether a session of this family carries prefixes of `f` (V4 or V6).
    pub fn carries(self, f: Family) -> bool {
        self == Family::Dual || self == f
    }

    /// frr-k8s's name of the family in its prefix-list names (`ipv4`, `ipv6`, `dual`).
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
            Family::Dual => "dual",
        }
    }
}

/// A prefix as an FRRConfiguration gives it: frr-k8s compares prefixes as written (`text`), and
/// FRR is given the network (`net`, host bits cleared: FRR shows it that way).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    pub text: String,
    pub net: IpNet,
}

impl Prefix {
    pub fn parse(s: &str) -> Result<Prefix, String> {
        let net: IpNet = s.trim().parse().map_err(|_| format!("{s:?} is not a CIDR prefix"))?;
        Ok(Prefix { text: s.to_string(), net: net.trunc() })
    }

    pub fn family(&self) -> Family {
        Family::of(&self.net)
    }
}

/// One BGP instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Router {
    pub asn: u32,
    /// The router ID, if any object set one.
    pub router_id: Option<std::net::Ipv4Addr>,
    /// `None`: the default VRF.
    pub vrf: Option<IfName>,
    /// The prefixes this router may advertise, each family apart.
    pub prefixes_v4: BTreeSet<Prefix>,
    pub prefixes_v6: BTreeSet<Prefix>,
    /// VRFs whose routes it imports (`default`: the default VRF).
    pub imports: BTreeSet<IfName>,
    /// Neighbors by `Neighbor::id`.
    pub neighbors: BTreeMap<String, Neighbor>,
    /// The object that defined this router first (for messages).
    pub from: ObjKey,
}

/// The peer's AS: a number, or learnt from its OPEN message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RemoteAs {
    Number(u32),
    Internal,
    External,
}

impl fmt::Display for RemoteAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteAs::Number(n) => write!(f, "{n}"),
            RemoteAs::Internal => f.write_str("internal"),
            RemoteAs::External => f.write_str("external"),
        }
    }
}

/// Where the session goes: an address, or an interface (unnumbered).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    Address(IpAddr),
    Interface(IfName),
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Address(a) => write!(f, "{a}"),
            Peer::Interface(i) => write!(f, "{i}"),
        }
    }
}

/// `neighbor X update-source`: an address or an interface.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Address(IpAddr),
    Interface(IfName),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Address(a) => write!(f, "{a}"),
            Source::Interface(i) => write!(f, "{i}"),
        }
    }
}

/// `neighbor X allowas-in`: how often this node's own AS may appear in a received path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AllowAsIn {
    /// Only as the origin.
    Origin,
    /// Up to this many times (1-10).
    Times(u8),
}

/// One BGP session.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbor {
    pub peer: Peer,
    pub remote_as: RemoteAs,
    pub local_asn: Option<u32>,
    pub source: Option<Source>,
    pub port: Option<u16>,
    pub family: Family,
    pub ebgp_multihop: bool,
    pub bfd_profile: Option<ProfileName>,
    pub graceful_restart: bool,
    /// The router's VRF (part of the neighbor's identity and names).
    pub vrf: Option<IfName>,
    /// Seconds: hold time and keepalive are set together or not at all.
    pub timers: Option<(u64, u64)>,
    pub connect_time: Option<u64>,
    pub password: Option<Redacted>,
    /// `None`: never (FRR's default; an object's `none`).
    pub allow_as_in: Option<AllowAsIn>,
    /// An object asked for `none` explicitly: no other may enable allowas-in.
    pub allow_as_in_none: bool,
    pub outgoing: Outgoing,
    pub incoming: Incoming,
    /// Prefixes denied inbound whatever the objects allow (`--always-block`).
    pub always_block: Vec<Filter>,
    /// The object that defined this neighbor first, and the field path of it (for messages).
    pub from: (ObjKey, String),
}

impl Neighbor {
    /// frr-k8s's identity and name stem of a neighbor: its address (or interface), with
    /// `-<vrf>` in a VRF. Route-maps `<id>-in` and `<id>-out` and prefix-lists `<id>-...` are
    /// named after it, as frr-k8s names them (raw configs add entries to them).
    pub fn id(&self) -> String {
        match &self.vrf {
            Some(v) => format!("{}-{v}", self.peer),
            None => self.peer.to_string(),
        }
    }
}

/// What is advertised to a neighbor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outgoing {
    pub v4: BTreeSet<Prefix>,
    pub v6: BTreeSet<Prefix>,
    /// (local preference, family V4 or V6) → prefixes.
    pub local_pref: BTreeMap<(u32, Family), BTreeSet<Prefix>>,
    /// (community, family V4 or V6) → prefixes.
    pub community: BTreeMap<(CommunityValue, Family), BTreeSet<Prefix>>,
}

/// What is accepted from a neighbor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Incoming {
    pub all: bool,
    pub v4: BTreeSet<Filter>,
    pub v6: BTreeSet<Filter>,
}

/// A prefix-list entry: a prefix, and the lengths of the more specific routes it admits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Filter {
    pub prefix: Prefix,
    pub le: Option<u8>,
    pub ge: Option<u8>,
}

/// A bfdd profile (intervals in milliseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdProfile {
    pub name: ProfileName,
    pub receive_interval: Option<u32>,
    pub transmit_interval: Option<u32>,
    pub detect_multiplier: Option<u32>,
    pub echo_interval: Option<u32>,
    pub echo_mode: bool,
    pub passive_mode: bool,
    pub minimum_ttl: Option<u32>,
}
