//! The typed snapshot of everything the agent reads, keyed by namespace/name so that the order in
//! which objects arrive (watch events, files in a directory) can never change the result.
//! Sources `apply` and `delete` objects; `desired::compute` reads the snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::core::{EndpointSliceInfo, NodeInfo, ObjKey, SecretInfo, ServiceInfo};
use crate::model::crds::{
    BfdProfileSpec, BgpAdvertisementSpec, BgpPeerSpec, CommunitySpec, IpAddressPoolSpec, L2AdvertisementSpec,
};
use crate::model::frrk8s::FrrConfigurationSpec;
use crate::problem::{Kind, Problem};

/// A metallb.io (or frrk8s.metallb.io) object reduced to what the core needs: its key, labels (pools are selected by
/// label) and spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Obj<T> {
    pub key: ObjKey,
    pub labels: BTreeMap<String, String>,
    pub spec: T,
}

/// One object of any kind the agent reads.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Peer(Obj<BgpPeerSpec>),
    Advertisement(Obj<BgpAdvertisementSpec>),
    Pool(Obj<IpAddressPoolSpec>),
    BfdProfile(Obj<BfdProfileSpec>),
    Community(Obj<CommunitySpec>),
    Service(ServiceInfo),
    EndpointSlice(EndpointSliceInfo),
    Node(NodeInfo),
    Secret(SecretInfo),
    L2Advertisement(Obj<L2AdvertisementSpec>),
    /// The config namespace's `bgpextras` ConfigMap: its `extras` text (see `frr::extras`).
    Extras(Extras),
    /// frr-k8s's FRRConfiguration.
    FrrConfiguration(Obj<FrrConfigurationSpec>),
}

/// The operator's raw FRR lines (MetalLB's `bgpextras` ConfigMap, key `extras`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    pub key: ObjKey,
    pub text: String,
}

/// The ConfigMap MetalLB's FRR mode appends to the FRR configuration, and its key.
pub const EXTRAS_CONFIGMAP: &str = "bgpextras";
pub const EXTRAS_KEY: &str = "extras";

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Peer(_) => Kind::BGPPeer,
            Object::Advertisement(_) => Kind::BGPAdvertisement,
            Object::Pool(_) => Kind::IPAddressPool,
            Object::BfdProfile(_) => Kind::BFDProfile,
            Object::Community(_) => Kind::Community,
            Object::Service(_) => Kind::Service,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::Node(_) => Kind::Node,
            Object::Secret(_) => Kind::Secret,
            Object::L2Advertisement(_) => Kind::L2Advertisement,
            Object::Extras(_) => Kind::ConfigMap,
            Object::FrrConfiguration(_) => Kind::FRRConfiguration,
        }
    }

    pub fn key(&self) -> ObjKey {
        match self {
            Object::Peer(o) => o.key.clone(),
            Object::Advertisement(o) => o.key.clone(),
            Object::Pool(o) => o.key.clone(),
            Object::BfdProfile(o) => o.key.clone(),
            Object::Community(o) => o.key.clone(),
            Object::Service(s) => s.key.clone(),
            Object::EndpointSlice(s) => s.key.clone(),
            Object::Node(n) => ObjKey::new("", n.name.clone()),
            Object::Secret(s) => s.key.clone(),
            Object::L2Advertisement(o) => o.key.clone(),
            Object::Extras(e) => e.key.clone(),
            Object::FrrConfiguration(o) => o.key.clone(),
        }
    }
}

/// Everything the agent knows, as of now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub peers: BTreeMap<ObjKey, Obj<BgpPeerSpec>>,
    pub advertisements: BTreeMap<ObjKey, Obj<BgpAdvertisementSpec>>,
    pub pools: BTreeMap<ObjKey, Obj<IpAddressPoolSpec>>,
    pub bfd_profiles: BTreeMap<ObjKey, Obj<BfdProfileSpec>>,
    pub communities: BTreeMap<ObjKey, Obj<CommunitySpec>>,
    /// Persistent maps (shared structure): a copy of the snapshot costs O(1), a change O(log n).
    /// Their values are shared: a node holds 16 entries in place whether full or not, and a
    /// B-tree filled as a load fills it is about half full, so values in place would cost more
    /// than the pointers (docs/benchmarks.md).
    pub services: imbl::OrdMap<ObjKey, Arc<ServiceInfo>>,
    pub endpoint_slices: imbl::OrdMap<ObjKey, Arc<EndpointSliceInfo>>,
    pub nodes: BTreeMap<String, NodeInfo>,
    pub secrets: BTreeMap<ObjKey, SecretInfo>,
    pub l2_advertisements: BTreeMap<ObjKey, Obj<L2AdvertisementSpec>>,
    /// `bgpextras` ConfigMaps (only the config namespace's one is used).
    pub extras: BTreeMap<ObjKey, Extras>,
    /// FRRConfigurations (only those of the frr-k8s namespace are used).
    pub frr_configurations: BTreeMap<ObjKey, Obj<FrrConfigurationSpec>>,
    /// Objects that exist but could not be read (a malformed field), by kind and key. Replaced
    /// when the object is applied again in a valid form, dropped when it is deleted.
    pub unreadable: BTreeMap<(Kind, ObjKey), Problem>,
}

impl Snapshot {
    /// Insert or replace one object.
    pub fn apply(&mut self, obj: Object) {
        self.unreadable.remove(&(obj.kind(), obj.key()));
        match obj {
            Object::Peer(o) => {
                self.peers.insert(o.key.clone(), o);
            }
            Object::Advertisement(o) => {
                self.advertisements.insert(o.key.clone(), o);
            }
            Object::Pool(o) => {
                self.pools.insert(o.key.clone(), o);
            }
            Object::BfdProfile(o) => {
                self.bfd_profiles.insert(o.key.clone(), o);
            }
            Object::Community(o) => {
                self.communities.insert(o.key.clone(), o);
            }
            Object::Service(s) => {
                self.services.insert(s.key.clone(), Arc::new(s));
            }
            Object::EndpointSlice(s) => {
                self.endpoint_slices.insert(s.key.clone(), Arc::new(s));
            }
            Object::Node(n) => {
                self.nodes.insert(n.name.clone(), n);
            }
            Object::Secret(s) => {
                self.secrets.insert(s.key.clone(), s);
            }
            Object::L2Advertisement(o) => {
                self.l2_advertisements.insert(o.key.clone(), o);
            }
            Object::Extras(e) => {
                self.extras.insert(e.key.clone(), e);
            }
            Object::FrrConfiguration(o) => {
                self.frr_configurations.insert(o.key.clone(), o);
            }
        }
    }

    /// Record an object that exists but could not be read; any earlier valid version is removed,
    /// so that stale content is never acted on.
    pub fn apply_unreadable(&mut self, problem: Problem) {
        self.delete(problem.kind, &problem.object);
        self.unreadable.insert((problem.kind, problem.object.clone()), problem);
    }

    /// Keys of every object of `kind` (readable or not).
    pub fn keys(&self, kind: Kind) -> Vec<ObjKey> {
        let mut out: Vec<ObjKey> = match kind {
            Kind::BGPPeer => self.peers.keys().cloned().collect(),
            Kind::BGPAdvertisement => self.advertisements.keys().cloned().collect(),
            Kind::IPAddressPool => self.pools.keys().cloned().collect(),
            Kind::BFDProfile => self.bfd_profiles.keys().cloned().collect(),
            Kind::Community => self.communities.keys().cloned().collect(),
            Kind::Service => self.services.keys().cloned().collect(),
            Kind::EndpointSlice => self.endpoint_slices.keys().cloned().collect(),
            Kind::Node => self.nodes.keys().map(|n| ObjKey::new("", n.clone())).collect(),
            Kind::Secret => self.secrets.keys().cloned().collect(),
            Kind::L2Advertisement => self.l2_advertisements.keys().cloned().collect(),
            Kind::ConfigMap => self.extras.keys().cloned().collect(),
            Kind::FRRConfiguration => self.frr_configurations.keys().cloned().collect(),
            Kind::Manifest => Vec::new(),
        };
        out.extend(self.unreadable.keys().filter(|(k, _)| *k == kind).map(|(_, key)| key.clone()));
        out
    }

    /// Remove one object (and any record of it being unreadable).
    pub fn delete(&mut self, kind: Kind, key: &ObjKey) {
        self.unreadable.remove(&(kind, key.clone()));
        match kind {
            Kind::BGPPeer => drop(self.peers.remove(key)),
            Kind::BGPAdvertisement => drop(self.advertisements.remove(key)),
            Kind::IPAddressPool => drop(self.pools.remove(key)),
            Kind::BFDProfile => drop(self.bfd_profiles.remove(key)),
            Kind::Community => drop(self.communities.remove(key)),
            Kind::Service => drop(self.services.remove(key)),
            Kind::EndpointSlice => drop(self.endpoint_slices.remove(key)),
            Kind::Node => drop(self.nodes.remove(&*key.name)),
            Kind::Secret => drop(self.secrets.remove(key)),
            Kind::L2Advertisement => drop(self.l2_advertisements.remove(key)),
            Kind::ConfigMap => drop(self.extras.remove(key)),
            Kind::FRRConfiguration => drop(self.frr_configurations.remove(key)),
            Kind::Manifest => {}
        }
    }
}
