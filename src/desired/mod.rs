//! Pure computation of one node's BGP intent from the snapshot: which sessions it opens, which
//! prefixes it announces to which neighbor, with which attributes. No I/O: data in, data out.
//!
//! Announcement rules (MetalLB's semantics unless said otherwise):
//! - a Service is announced only if it is of type LoadBalancer, of our load-balancer class, has an
//!   ingress IP, that IP lies in an IPAddressPool, and a BGPAdvertisement selects that pool, the
//!   Service (serviceSelectors) and this node (nodeSelectors);
//! - externalTrafficPolicy Cluster needs a ready endpoint anywhere; Local needs a ready endpoint
//!   on this node;
//! - serving-but-terminating endpoints (our choice, mirroring kube-proxy's fallback): they count
//!   only when the Service has no ready endpoint anywhere. While a ready endpoint exists, a node
//!   whose endpoints are all terminating withdraws so the router moves new connections away; when
//!   every endpoint is terminating, nodes that still serve keep announcing instead of
//!   black-holing the Service;
//! - a node labelled node.kubernetes.io/exclude-from-external-load-balancers, or whose
//!   NetworkUnavailable condition is True, keeps its sessions but announces nothing;
//! - several advertisements selecting the same prefix for the same peer merge: communities are
//!   united; differing local preferences are a warning and the highest wins.

pub mod memo;
pub mod state;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::grammar::selector;
use crate::grammar::values::{self, standard_community_text, CommunityValue};
use crate::index::Snapshot;
use crate::model::core::{EndpointSliceInfo, NodeInfo, ObjKey, ServiceInfo};
use crate::problem::{Kind, Problem};
use state::{DesiredState, PolicyEntry, Router};
use validate::{AdConf, PeerConf, ValidConfig, MAX_COMMUNITIES};

/// What the computation needs besides the snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// This node's name.
    pub node: String,
    /// Namespace the metallb.io configuration is read from.
    pub namespace: String,
    /// Our spec.loadBalancerClass; `None` handles Services without a class.
    pub lb_class: Option<String>,
    /// Networks directly connected to this node, when known: enables the check that an eBGP peer
    /// off those networks has ebgpMultiHop.
    pub connected: Option<Vec<IpNet>>,
    /// Validate as MetalLB's controller does (`frr-speaker check` without `--node`): every object
    /// as if it selected this node, so every problem of every object is an error and the rules
    /// between peers (one myASN and routerID per VRF, no neighbor twice) cover all of them.
    pub whole_cluster: bool,
    /// Namespace the FRRConfigurations are read from (frr-k8s's); `None`: `namespace`.
    pub frrk8s_namespace: Option<String>,
    /// Prefixes denied inbound on every FRRConfiguration neighbor (frr-k8s's `--always-block`).
    pub always_block: Vec<IpNet>,
}

impl Options {
    pub fn new(node: impl Into<String>) -> Self {
        Options {
            node: node.into(),
            namespace: "metallb-system".into(),
            lb_class: None,
            connected: None,
            whole_cluster: false,
            frrk8s_namespace: None,
            always_block: Vec::new(),
        }
    }

    /// Where FRRConfigurations are read from.
    pub fn frrk8s_namespace(&self) -> &str {
        self.frrk8s_namespace.as_deref().unwrap_or(&self.namespace)
    }
}

/// The result: the desired state unless the configuration for this node is invalid, and every
/// problem found (sorted, errors first).
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub state: Option<DesiredState>,
    pub problems: Vec<Problem>,
}

impl Outcome {
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }
}

/// What every Service's computation depends on: the configuration as this node sees it.
pub(crate) struct Base {
    /// Problems of unreadable objects and of the configuration.
    pub(crate) problems: Vec<Problem>,
    pub(crate) cfg: ValidConfig,
    /// This node announces (not excluded, network available).
    pub(crate) announces: bool,
    /// The names of each set of peers (indexes in `cfg.peers`) a Service announces to, made once.
    peer_sets: std::sync::Mutex<BTreeMap<Vec<usize>, state::Peers>>,
}

impl Base {
    pub(crate) fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }

    /// The sorted names of the peers `idx` (sorted indexes in `cfg.peers`), shared.
    fn peer_set(&self, idx: &[usize]) -> state::Peers {
        let mut sets = self.peer_sets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = sets.get(idx) {
            return p.clone();
        }
        let mut names: Vec<std::sync::Arc<str>> =
            idx.iter().map(|i| std::sync::Arc::from(self.cfg.peers[*i].name.as_str())).collect();
        names.sort();
        names.dedup();
        let p: state::Peers = names.into();
        sets.insert(idx.to_vec(), p.clone());
        p
    }
}

pub(crate) fn base(snap: &Snapshot, opts: &Options) -> Base {
    let mut problems: Vec<Problem> = snap
        .unreadable
        .values()
        .map(|p| {
            let fatal =
                p.kind.is_config() && p.kind != Kind::Secret || (p.kind == Kind::Node && *p.object.name == *opts.node);
            if fatal {
                p.clone()
            } else {
                p.clone().into_warning()
            }
        })
        .collect();
    let node = snap
        .nodes
        .get(&opts.node)
        .cloned()
        .unwrap_or_else(|| NodeInfo { name: opts.node.clone(), ..Default::default() });
    let (cfg, probs) = validate::validate(snap, opts, &node.labels);
    problems.extend(probs.0);
    Base { problems, cfg, announces: node.announces(), peer_sets: Default::default() }
}

/// One Service's part of the desired state.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Part {
    /// (prefix, neighbor, advertisement) it asks for.
    pub(crate) routes: Vec<(IpNet, usize, usize)>,
    /// What it announces (prefix → BGPPeer names), if anything.
    pub(crate) announced: Option<state::Prefixes>,
    pub(crate) problems: Vec<Problem>,
}

pub(crate) fn service_part(opts: &Options, base: &Base, svc: &ServiceInfo, slices: &[&EndpointSliceInfo]) -> Part {
    let mut problems = Vec::new();
    if !base.announces {
        // Still check the Services' own fields, so problems do not depend on the node.
        ingress_ips(svc, &mut problems);
        return Part { problems, ..Default::default() };
    }
    let mut b = Builder::default();
    b.service(opts, base, svc, slices, &mut problems);
    // Exactly as long as needed: kept per Service (a collected Vec would hold room for 4).
    let mut routes = Vec::with_capacity(b.routes.values().map(Vec::len).sum());
    routes.extend(b.routes.into_iter().flat_map(|(p, v)| v.into_iter().map(move |(pi, ai)| (p, pi, ai))));
    Part { routes, announced: b.announcements.into_iter().next().map(|(_, a)| a), problems }
}

/// The final step, shared by the full and the incremental computation: `finish` unless the
/// problems so far include an error. Also returns what `finish` derived, for the next
/// incremental step.
pub(crate) fn outcome(
    base: &Base,
    problems: Vec<Problem>,
    routes: &BTreeMap<IpNet, Pairs>,
    announcements: state::Announcements,
) -> (Outcome, Option<Finished>) {
    if problems.iter().any(Problem::is_error) {
        return (conclude(problems, None), None);
    }
    match finish(routes, announcements, &base.cfg) {
        Ok(f) => (conclude(problems, Some(Ok(&f))), Some(f)),
        Err(errs) => (conclude(problems, Some(Err(&errs))), None),
    }
}

/// The outcome from the problems found so far and what `finish` gave, if it ran.
pub(crate) fn conclude(mut problems: Vec<Problem>, finished: Option<Result<&Finished, &[Problem]>>) -> Outcome {
    let mut state = None;
    match finished {
        Some(Ok(f)) => {
            problems.extend(f.warnings.iter().cloned());
            state = Some(f.state.clone());
        }
        Some(Err(errs)) => problems.extend(errs.iter().cloned()),
        None => {}
    }
    problems.sort();
    problems.dedup();
    if problems.iter().any(Problem::is_error) {
        state = None;
    }
    Outcome { state, problems }
}

/// Compute this node's desired state.
pub fn compute(snap: &Snapshot, opts: &Options) -> Outcome {
    let base = base(snap, opts);
    let mut problems = base.problems.clone();
    let mut routes: BTreeMap<IpNet, Pairs> = BTreeMap::new();
    let mut announcements = state::Announcements::new();
    if !base.has_errors() {
        let mut builder = Builder::default();
        if base.announces {
            // Services are visited in key order, the slices were sorted the same way: each
            // Service's slices are the run at the cursor.
            let slices = slices_by_service(snap);
            let mut at = 0;
            let mut eps: Vec<&EndpointSliceInfo> = Vec::new();
            for svc in snap.services.values() {
                let key = (&*svc.key.namespace, &*svc.key.name);
                while at < slices.len() && slices[at].0 < key {
                    at += 1;
                }
                eps.clear();
                while at < slices.len() && slices[at].0 == key {
                    eps.push(slices[at].1);
                    at += 1;
                }
                builder.service(opts, &base, svc, &eps, &mut problems);
            }
        } else {
            for svc in snap.services.values() {
                ingress_ips(svc, &mut problems);
            }
        }
        for (prefix, mut v) in builder.routes {
            v.sort_unstable();
            let mut pairs = Pairs::default();
            for pair in v {
                pairs.add(pair);
            }
            routes.insert(prefix, pairs);
        }
        announcements = builder.announcements.into_iter().collect();
    }
    outcome(&base, problems, &routes, announcements).0
}

/// The (neighbor, advertisement) pairs through which one prefix is announced, each with the
/// number of Services that ask for it (several Services may share an address).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Pairs {
    /// Sorted, distinct.
    pairs: Vec<(usize, usize)>,
    counts: Vec<u32>,
}

impl Pairs {
    pub(crate) fn add(&mut self, pair: (usize, usize)) {
        match self.pairs.binary_search(&pair) {
            Ok(i) => self.counts[i] += 1,
            Err(i) => {
                // Grown one at a time: a prefix has a pair per peer (and advertisement), often
                // one or two, and 100,000 of them must not each hold room for four.
                self.pairs.reserve_exact(1);
                self.counts.reserve_exact(1);
                self.pairs.insert(i, pair);
                self.counts.insert(i, 1);
            }
        }
    }

    /// Take one Service's claim back; true when nothing is left.
    pub(crate) fn remove(&mut self, pair: (usize, usize)) -> bool {
        if let Ok(i) = self.pairs.binary_search(&pair) {
            self.counts[i] -= 1;
            if self.counts[i] == 0 {
                self.pairs.remove(i);
                self.counts.remove(i);
            }
        }
        self.pairs.is_empty()
    }
}

/// A prefix class: neighbor (index in cfg.peers) -> advertisements (indexes in cfg.ads).
type Class = BTreeMap<usize, BTreeSet<usize>>;

/// Accumulates, per VRF and prefix, which neighbors receive it through which advertisements.
#[derive(Default)]
struct Builder {
    /// prefix -> (peer index in cfg.peers, advertisement index in cfg.ads) pairs, in the order
    /// found (sorted and made a `Class` in `finish`: one list per prefix, few allocations).
    routes: BTreeMap<IpNet, Vec<(usize, usize)>>,
    announcements: BTreeMap<ObjKey, state::Prefixes>,
}

/// The Service's ingress IPs that parse; a warning for each that does not.
fn ingress_ips(svc: &ServiceInfo, problems: &mut Vec<Problem>) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for (i, raw) in svc.ingress_ips.iter().enumerate() {
        match values::parse_unicast_ip(raw) {
            Ok(ip) => out.push(ip),
            Err(e) => problems.push(Problem::warning(
                Kind::Service,
                &svc.key,
                format!("status.loadBalancer.ingress[{i}].ip"),
                e,
            )),
        }
    }
    out
}

impl Builder {
    fn service(
        &mut self,
        opts: &Options,
        base: &Base,
        svc: &ServiceInfo,
        slices: &[&EndpointSliceInfo],
        problems: &mut Vec<Problem>,
    ) {
        let cfg = &base.cfg;
        if !svc.load_balancer || svc.load_balancer_class != opts.lb_class || svc.ingress_ips.is_empty() {
            return;
        }
        // Without any IPAddressPool no Service is this agent's to announce, and none is worth a
        // warning (metallb.io unused here: frr-k8s mode beside MetalLB's own speaker).
        if cfg.pools.is_empty() {
            return;
        }
        let ips = ingress_ips(svc, problems);
        if !has_endpoints(slices, svc.etp_local, &opts.node) {
            return;
        }
        // (prefix, peer index), for this Service only (names are copied once, at the end).
        let mut mine: Vec<(IpNet, usize)> = Vec::new();
        for ip in ips {
            let pool = svc
                .pool_annotation
                .as_ref()
                .and_then(|name| cfg.pools.iter().find(|p| *p.key.name == **name && p.contains(ip)))
                .or_else(|| cfg.pools.iter().find(|p| p.contains(ip)));
            let Some(pool) = pool else {
                problems.push(Problem::warning(
                    Kind::Service,
                    &svc.key,
                    "status.loadBalancer.ingress",
                    format!("{ip} is in no IPAddressPool: not announced"),
                ));
                continue;
            };
            if let Some(l2) = cfg.l2_only.get(&pool.key) {
                problems.push(Problem::warning(
                    Kind::Service,
                    &svc.key,
                    "status.loadBalancer.ingress",
                    format!(
                        "{ip} is from IPAddressPool {} which only L2Advertisement {} selects (layer 2 mode, not done by frr-speaker): not announced",
                        pool.key.name, l2.name
                    ),
                ));
                continue;
            }
            for (ai, ad) in cfg.ads.iter().enumerate() {
                if !ad.pools.contains(&pool.key)
                    || !selector::any_matches(&ad.service_selectors, &svc.labels).unwrap_or(false)
                {
                    continue;
                }
                let prefix = aggregate(ip, ad);
                for (pi, peer) in cfg.peers.iter().enumerate() {
                    let family_ok = if ip.is_ipv4() { peer.neighbor.ipv4 } else { peer.neighbor.ipv6 };
                    if family_ok && (ad.peers.is_empty() || ad.peers.contains(&peer.name)) {
                        self.routes.entry(prefix).or_default().push((pi, ai));
                        mine.push((prefix, pi));
                    }
                }
            }
        }
        if !mine.is_empty() {
            mine.sort_unstable();
            mine.dedup();
            let mut named = Vec::new();
            for run in mine.chunk_by(|a, b| a.0 == b.0) {
                let idx: Vec<usize> = run.iter().map(|(_, pi)| *pi).collect();
                named.push((run[0].0, base.peer_set(&idx)));
            }
            self.announcements.insert(svc.key.clone(), state::Prefixes::from_sorted(named));
        }
    }
}

/// What `finish` derived from the set of prefix classes. The incremental computation keeps it:
/// while no class comes or goes, tags, policies and warnings stay as they are, and a prefix that
/// changes class is one entry in the state's `network` maps (`update`).
#[derive(Clone, Debug)]
pub(crate) struct Finished {
    pub(crate) state: DesiredState,
    pub(crate) warnings: Vec<Problem>,
    /// Each class (its sorted (neighbor, advertisement) pairs) in use.
    classes: BTreeMap<Vec<(usize, usize)>, ClassUse>,
}

#[derive(Clone, Debug)]
struct ClassUse {
    tag: u16,
    /// Indexes in `state.routers` of the BGP instances (VRFs) of its neighbors.
    routers: Vec<usize>,
    /// How many prefixes are in it.
    prefixes: usize,
}

impl Finished {
    /// Move each prefix of `before` (prefix → its pairs before the change; `None`: it had none) to
    /// the class it has in `routes` now, and take the new announcements. `false`, changing
    /// nothing, when a class would come or go: then tags and policies change, and only `finish`
    /// gives the right ones.
    pub(crate) fn update(
        &mut self,
        before: &BTreeMap<IpNet, Option<Vec<(usize, usize)>>>,
        routes: &BTreeMap<IpNet, Pairs>,
        announcements: state::Announcements,
    ) -> bool {
        let moves = || {
            before.iter().filter_map(|(p, old)| {
                let new = routes.get(p).map(|x| x.pairs.as_slice());
                (old.as_deref() != new).then_some((p, old.as_deref(), new))
            })
        };
        let mut delta: BTreeMap<&[(usize, usize)], i64> = BTreeMap::new();
        for (_, old, new) in moves() {
            if let Some(o) = old {
                *delta.entry(o).or_default() -= 1;
            }
            if let Some(n) = new {
                *delta.entry(n).or_default() += 1;
            }
        }
        for (class, d) in &delta {
            match self.classes.get(*class) {
                Some(u) if u.prefixes as i64 + d > 0 => {}
                _ => return false,
            }
        }
        for (class, d) in delta {
            if let Some(u) = self.classes.get_mut(class) {
                u.prefixes = (u.prefixes as i64 + d) as usize;
            }
        }
        for (prefix, old, new) in moves() {
            let v4 = prefix.addr().is_ipv4();
            if let Some(u) = old.and_then(|o| self.classes.get(o)) {
                for ri in &u.routers {
                    self.state.routers[*ri].networks_mut(v4).remove(prefix);
                }
            }
            if let Some(u) = new.and_then(|n| self.classes.get(n)) {
                for ri in &u.routers {
                    self.state.routers[*ri].networks_mut(v4).insert(*prefix, u.tag);
                }
            }
        }
        self.state.announcements = announcements;
        true
    }
}

/// How many prefixes each distinct list of (peer, advertisement) pairs announces (`routes` in
/// prefix order: neighbouring prefixes mostly share their list, counted as a run).
fn class_counts(routes: &BTreeMap<IpNet, Pairs>) -> BTreeMap<&[(usize, usize)], usize> {
    let mut counts: BTreeMap<&[(usize, usize)], usize> = BTreeMap::new();
    let mut run: Option<(&[(usize, usize)], usize)> = None;
    for Pairs { pairs, .. } in routes.values() {
        match &mut run {
            Some((c, n)) if *c == pairs.as_slice() => *n += 1,
            _ => {
                if let Some((c, n)) = run.replace((pairs.as_slice(), 1)) {
                    *counts.entry(c).or_default() += n;
                }
            }
        }
    }
    if let Some((c, n)) = run {
        *counts.entry(c).or_default() += n;
    }
    counts
}

/// One BGP instance per VRF, with the neighbors of its peers (sorted by id); no networks yet.
fn routers_by_vrf(cfg: &ValidConfig) -> BTreeMap<Option<String>, Router> {
    let mut by_vrf: BTreeMap<Option<String>, Router> = BTreeMap::new();
    for p in &cfg.peers {
        let r = by_vrf.entry(p.vrf.as_ref().map(|v| v.to_string())).or_insert_with(|| Router {
            vrf: p.vrf.clone(),
            asn: p.my_asn,
            router_id: p.router_id,
            neighbors: Vec::new(),
            ipv4_networks: Default::default(),
            ipv6_networks: Default::default(),
        });
        r.neighbors.push(p.neighbor.clone());
    }
    for r in by_vrf.values_mut() {
        r.neighbors.sort_by(|a, b| a.id.cmp(&b.id));
    }
    by_vrf
}

/// Each prefix of `routes` as a `network` line (with its class's tag) in the instances of its
/// class.
fn fill_networks(
    routes: &BTreeMap<IpNet, Pairs>,
    classes: &BTreeMap<Vec<(usize, usize)>, ClassUse>,
    routers: &mut [Router],
) {
    let mut last: Option<(&[(usize, usize)], &ClassUse)> = None;
    for (prefix, Pairs { pairs, .. }) in routes {
        // Neighbouring prefixes mostly share their class: skip the lookup then.
        let u = match last {
            Some((c, u)) if c == pairs.as_slice() => u,
            _ => {
                let u = &classes[pairs.as_slice()];
                last = Some((pairs.as_slice(), u));
                u
            }
        };
        let v4 = prefix.addr().is_ipv4();
        for ri in &u.routers {
            routers[*ri].networks_mut(v4).insert(*prefix, u.tag);
        }
    }
}

/// The desired state from the routes and the valid configuration: classes and their tags, each
/// neighbor's policy, each BGP instance's networks; or the errors of the policies.
fn finish(
    routes: &BTreeMap<IpNet, Pairs>,
    announcements: state::Announcements,
    cfg: &ValidConfig,
) -> Result<Finished, Vec<Problem>> {
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    // A class is "these neighbors, through these advertisements each": one per distinct list.
    let counts = class_counts(routes);
    let interned: BTreeMap<&[(usize, usize)], Class> = counts
        .keys()
        .map(|pairs| {
            let mut class = Class::new();
            for (pi, ai) in pairs.iter() {
                class.entry(*pi).or_default().insert(*ai);
            }
            (*pairs, class)
        })
        .collect();
    let mut tags: BTreeMap<&Class, u16> = interned.values().map(|c| (c, 0)).collect();
    assign_tags(&mut tags, cfg);

    let mut by_vrf = routers_by_vrf(cfg);

    // Each neighbor's policy: one entry per class it belongs to.
    let mut policies: BTreeMap<usize, Vec<PolicyEntry>> = BTreeMap::new();
    for (class, tag) in &tags {
        for (pi, ads) in class.iter() {
            let peer = &cfg.peers[*pi];
            policies.entry(*pi).or_default().push(policy_entry(*tag, peer, ads, cfg, &mut warnings, &mut errors));
        }
    }
    for (pi, mut entries) in policies {
        entries.sort_by_key(|e| e.tag);
        let p = &cfg.peers[pi];
        if let Some(r) = by_vrf.get_mut(&p.vrf.as_ref().map(|v| v.to_string())) {
            if let Some(n) = r.neighbors.iter_mut().find(|n| n.id == p.neighbor.id) {
                n.policy = entries;
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Per class, once: its tag and the BGP instances of its neighbors (a handful of classes, many
    // prefixes).
    let router_index: BTreeMap<Option<String>, usize> =
        by_vrf.keys().cloned().enumerate().map(|(i, k)| (k, i)).collect();
    let classes: BTreeMap<Vec<(usize, usize)>, ClassUse> = interned
        .iter()
        .map(|(pairs, class)| {
            let routers: BTreeSet<usize> = class
                .keys()
                .filter_map(|pi| router_index.get(&cfg.peers[*pi].vrf.as_ref().map(|v| v.to_string())).copied())
                .collect();
            let u = ClassUse { tag: tags[class], routers: routers.into_iter().collect(), prefixes: counts[pairs] };
            (pairs.to_vec(), u)
        })
        .collect();
    let mut routers: Vec<Router> = by_vrf.into_values().collect();
    fill_networks(routes, &classes, &mut routers);
    let mut tag_list: Vec<u16> = tags.values().copied().collect();
    tag_list.sort_unstable();
    let state =
        DesiredState { bfd_profiles: cfg.profiles.values().cloned().collect(), tags: tag_list, routers, announcements };
    Ok(Finished { state, warnings, classes })
}

/// EndpointSlices sorted by (namespace, Service name), once per computation (a sort of
/// references costs a fraction of a map with a list per Service).
type SliceRef<'a> = ((&'a str, &'a str), &'a EndpointSliceInfo);

fn slices_by_service(snap: &Snapshot) -> Vec<SliceRef<'_>> {
    let mut v: Vec<SliceRef<'_>> = snap
        .endpoint_slices
        .values()
        .filter_map(|s| Some(((&*s.key.namespace, s.service.as_deref()?), &**s)))
        .collect();
    // Stable: a Service's slices stay in their key order.
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// ETP Cluster: a ready endpoint anywhere. ETP Local: a ready endpoint on this node. When no
/// endpoint is ready anywhere, serving (terminating) endpoints count instead.
fn has_endpoints(slices: &[&EndpointSliceInfo], etp_local: bool, node: &str) -> bool {
    let eps = slices.iter().flat_map(|s| s.endpoints.iter());
    let (mut ready_any, mut ready_here, mut serving_any, mut serving_here) = (false, false, false, false);
    for ep in eps {
        let here = ep.node.as_deref() == Some(node);
        let ready = ep.ready && !ep.terminating;
        ready_any |= ready;
        ready_here |= ready && here;
        serving_any |= ep.serving;
        serving_here |= ep.serving && here;
    }
    match (etp_local, ready_any) {
        (true, true) => ready_here,
        (true, false) => serving_here,
        (false, true) => true,
        (false, false) => serving_any,
    }
}

/// The prefix announced for `ip` under `ad`'s aggregation length.
fn aggregate(ip: IpAddr, ad: &AdConf) -> IpNet {
    let len = if ip.is_ipv4() { ad.agg_v4 } else { ad.agg_v6 };
    // The lengths were range-checked in `config`.
    IpNet::new(ip, len).map(|n| n.trunc()).unwrap_or_else(|_| IpNet::from(ip))
}

/// Tags 1..=65534 (65535 is the sequence number of each outbound route-map's final deny), by the
/// class's identity (`hashed_tags`).
fn assign_tags(classes: &mut BTreeMap<&Class, u16>, cfg: &ValidConfig) {
    let ids: Vec<(String, &Class)> = classes
        .keys()
        .map(|class| {
            let mut id = String::new();
            for (pi, ads) in class.iter() {
                let p = &cfg.peers[*pi];
                id.push_str(p.vrf.as_ref().map(|v| v.as_str()).unwrap_or(""));
                id.push('|');
                id.push_str(&p.neighbor.id);
                id.push('=');
                for ai in ads {
                    id.push_str(&cfg.ads[*ai].key.name);
                    id.push(',');
                }
                id.push(';');
            }
            (id, *class)
        })
        .collect();
    let tags = hashed_tags(ids.iter().map(|(id, _)| id.as_str()));
    for (id, class) in &ids {
        classes.insert(class, tags[id.as_str()]);
    }
}

/// A tag in 1..=65534 for each of `ids` (distinct identities): a hash of the identity, probing
/// upwards on a collision, so that a tag is stable while its identity exists (FRR mode's classes
/// and frr-k8s mode's).
pub(crate) fn hashed_tags<'a>(ids: impl IntoIterator<Item = &'a str>) -> BTreeMap<&'a str, u16> {
    const SLOTS: u64 = 65534;
    let mut wanted: Vec<(u64, &str)> = ids.into_iter().map(|id| (fnv1a(id.as_bytes()) % SLOTS, id)).collect();
    wanted.sort();
    let mut used = BTreeSet::new();
    let mut tags = BTreeMap::new();
    for (slot, id) in wanted {
        let mut s = slot;
        while !used.insert(s) {
            s = (s + 1) % SLOTS;
        }
        tags.insert(id, (s + 1) as u16);
    }
    tags
}

/// FNV-1a, 64 bit: a stable hash (std's hasher is randomly seeded per process).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn policy_entry(
    tag: u16,
    peer: &PeerConf,
    ads: &BTreeSet<usize>,
    cfg: &ValidConfig,
    warnings: &mut Vec<Problem>,
    errors: &mut Vec<Problem>,
) -> PolicyEntry {
    let mut comms: BTreeSet<CommunityValue> = BTreeSet::new();
    let mut local_pref: Option<(u32, &ObjKey)> = None;
    for ai in ads {
        let ad = &cfg.ads[*ai];
        comms.extend(ad.communities.iter().copied());
        if let (Some(lp), true) = (ad.local_pref, peer.neighbor.ibgp) {
            match local_pref {
                Some((cur, other)) if cur != lp => {
                    warnings.push(Problem::warning(Kind::BGPAdvertisement, &ad.key, "spec.localPref", format!(
                        "{lp} conflicts with {cur} of BGPAdvertisement {other} for the same prefixes to BGPPeer {}: using {}",
                        peer.name, lp.max(cur))));
                    if lp > cur {
                        local_pref = Some((lp, &ad.key));
                    }
                }
                Some(_) => {}
                None => local_pref = Some((lp, &ad.key)),
            }
        }
    }
    if comms.len() > MAX_COMMUNITIES {
        let names: Vec<String> = ads.iter().map(|ai| cfg.ads[*ai].key.to_string()).collect();
        errors.push(Problem::error(
            Kind::BGPAdvertisement,
            &cfg.ads[*ads.iter().next().unwrap_or(&0)].key,
            "spec.communities",
            format!(
            "together with BGPAdvertisements {} this makes {} communities for BGPPeer {}: at most {MAX_COMMUNITIES}",
            names.join(", "), comms.len(), peer.name),
        ));
    }
    let mut communities = Vec::new();
    let mut large_communities = Vec::new();
    let values: Vec<CommunityValue> = comms.iter().copied().collect();
    for c in comms {
        match c {
            CommunityValue::Standard(v) => communities.push(standard_community_text(v)),
            CommunityValue::Large(a, b, c) => large_communities.push(format!("{a}:{b}:{c}")),
        }
    }
    PolicyEntry { tag, communities, large_communities, local_pref: local_pref.map(|(v, _)| v), values }
}

#[cfg(test)]
mod tests;
