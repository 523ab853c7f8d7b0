//! Validation of the metallb.io objects into the checked forms the computation uses. Each check
//! names the object and field; whether a problem is an error or a warning depends on whether the
//! object concerns this node (a peer that does not select it, a profile nobody here uses).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::state::{BfdProfileConf, BgpTimers, Neighbor, RemoteAs};
use super::Options;
use crate::grammar::range::{ranges_contain, ranges_overlap};
use crate::grammar::selector::any_matches;
use crate::grammar::values::{self, excerpt, CommunityValue, IfName, ProfileName};
use crate::index::{Obj, Snapshot};
use crate::model::core::ObjKey;
use crate::model::crds::{BfdProfileSpec, BgpAdvertisementSpec, BgpPeerSpec, IpAddressPoolSpec};
use crate::problem::{Kind, Problem};

mod advertisement;
mod bfd;
mod peer;
mod pools;

use advertisement::*;
use bfd::*;
use peer::*;
use pools::*;

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
    // Whole cluster: the known Nodes each valid peer selects (parallel to cfg.peers).
    let mut on_nodes: Vec<BTreeSet<&str>> = Vec::new();
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
                    on_nodes.push(
                        snap.nodes
                            .values()
                            .filter(|n| any_matches(&p.spec.node_selectors, &n.labels).unwrap_or(false))
                            .map(|n| n.name.as_str())
                            .collect(),
                    );
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
    if opts.whole_cluster && !snap.nodes.is_empty() {
        // As MetalLB's webhook: the rules hold between peers that share a known Node (they meet
        // in its FRR); peers whose selectors pick disjoint Nodes never do. Without Nodes, every
        // pair counts.
        for node in snap.nodes.keys() {
            let here: Vec<PeerConf> = cfg
                .peers
                .iter()
                .zip(&on_nodes)
                .filter(|(_, nodes)| nodes.contains(node.as_str()))
                .map(|(p, _)| p.clone())
                .collect();
            per_vrf_rules(&here, &mut probs);
        }
    } else {
        per_vrf_rules(&cfg.peers, &mut probs);
    }

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

#[cfg(test)]
mod tests;
