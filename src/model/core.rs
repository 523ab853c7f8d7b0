//! The few fields of core Kubernetes objects that the agent acts on ("the parts that can change").
//! Conversion happens once at the edge (file loader, kube watchers); the pure core only ever sees
//! these types, so a change to an unrelated field of a Service cannot trigger a recompute.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Serialize;

/// Label on an EndpointSlice naming its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Node label that takes a node out of external load-balancing (announce nothing).
pub const EXCLUDE_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
/// Annotation set by MetalLB's controller (and ours) naming the pool an IP came from.
pub const POOL_ANNOTATION: &str = "metallb.io/ip-allocated-from-pool";

/// Namespace and name of an object; the key of every map in the snapshot and in what the agent
/// derives from it. Shared strings: a key is copied into a dozen maps per Service (snapshot,
/// file index, memo, announcements, status), and a copy costs two reference counts instead of
/// two allocations (measured: docs/benchmarks.md).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjKey {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}

impl ObjKey {
    pub fn new(namespace: impl Into<Arc<str>>, name: impl Into<Arc<str>>) -> Self {
        ObjKey { namespace: namespace.into(), name: name.into() }
    }
}

impl fmt::Display for ObjKey {
    /// `namespace/name`; control characters are escaped so that a hostile name in a manifest file
    /// cannot forge log lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clean = |s: &str| -> String {
            s.chars()
                .flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] })
                .collect()
        };
        if self.namespace.is_empty() {
            write!(f, "{}", clean(&self.name))
        } else {
            write!(f, "{}/{}", clean(&self.namespace), clean(&self.name))
        }
    }
}

/// A Service as the speaker sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceInfo {
    pub key: ObjKey,
    pub labels: BTreeMap<String, String>,
    /// `spec.type == LoadBalancer`.
    pub load_balancer: bool,
    pub load_balancer_class: Option<String>,
    /// `spec.externalTrafficPolicy == Local`.
    pub etp_local: bool,
    /// `status.loadBalancer.ingress[].ip`, unparsed (validated in `desired`).
    pub ingress_ips: Vec<String>,
    /// `metallb.io/ip-allocated-from-pool`.
    pub pool_annotation: Option<String>,
}

impl ServiceInfo {
    pub fn from_resource(svc: &Service) -> Self {
        let spec = svc.spec.as_ref();
        let ingress_ips = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|ing| ing.iter().filter_map(|i| i.ip.clone()).collect())
            .unwrap_or_default();
        ServiceInfo {
            key: ObjKey::new(
                svc.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
                svc.metadata.name.clone().unwrap_or_default(),
            ),
            labels: svc.metadata.labels.clone().unwrap_or_default(),
            load_balancer: spec.and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"),
            load_balancer_class: spec.and_then(|s| s.load_balancer_class.clone()),
            etp_local: spec.and_then(|s| s.external_traffic_policy.as_deref()) == Some("Local"),
            ingress_ips,
            pool_annotation: svc.metadata.annotations.as_ref().and_then(|a| a.get(POOL_ANNOTATION).cloned()),
        }
    }
}

/// One endpoint's conditions and location.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointInfo {
    pub node: Option<String>,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

/// An EndpointSlice reduced to its Service and its endpoints' conditions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointSliceInfo {
    pub key: ObjKey,
    /// From the `kubernetes.io/service-name` label; a slice without it belongs to no Service.
    pub service: Option<Arc<str>>,
    pub endpoints: Vec<EndpointInfo>,
}

impl EndpointSliceInfo {
    pub fn from_resource(slice: &EndpointSlice) -> Self {
        let endpoints = slice
            .endpoints
            .iter()
            .map(|ep| {
                let c = ep.conditions.as_ref();
                // API semantics: a nil `ready` or `serving` is an unknown state that consumers treat as
                // true; a nil `terminating` is false.
                let ready = c.and_then(|c| c.ready).unwrap_or(true);
                EndpointInfo {
                    node: ep.node_name.clone(),
                    ready,
                    serving: c.and_then(|c| c.serving).unwrap_or(ready),
                    terminating: c.and_then(|c| c.terminating).unwrap_or(false),
                }
            })
            .collect();
        EndpointSliceInfo {
            key: ObjKey::new(
                slice.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
                slice.metadata.name.clone().unwrap_or_default(),
            ),
            service: slice.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL)).map(|s| s.as_str().into()),
            endpoints,
        }
    }
}

/// A Node: its labels and whether its network is usable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The `NetworkUnavailable` condition is `True`.
    pub network_unavailable: bool,
    /// `spec.unschedulable` (cordoned; `kubectl drain` cordons first): on SIGTERM the agent
    /// drains gracefully instead of leaving FRR as it is (`--drain-on-exit auto`).
    pub unschedulable: bool,
    /// `metadata.uid`: the owner of this node's status objects (Kubernetes mode).
    pub uid: Option<String>,
}

impl NodeInfo {
    pub fn from_resource(node: &Node) -> Self {
        let network_unavailable = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .map(|cs| cs.iter().any(|c| c.type_ == "NetworkUnavailable" && c.status == "True"))
            .unwrap_or(false);
        NodeInfo {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            network_unavailable,
            unschedulable: node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false),
            uid: node.metadata.uid.clone(),
        }
    }

    /// The node takes part in external load-balancing.
    pub fn announces(&self) -> bool {
        !self.network_unavailable && !self.labels.contains_key(EXCLUDE_LB_LABEL)
    }
}

/// A password that never shows in Debug output or logs.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(s: String) -> Self {
        Redacted(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The Secret fields a BGPPeer's passwordSecret needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretInfo {
    pub key: ObjKey,
    pub type_: Option<String>,
    /// `data.password` (or `stringData.password`), if present and valid UTF-8.
    pub password: Option<Redacted>,
    /// `data.password` is present but not UTF-8.
    pub password_not_utf8: bool,
}

impl SecretInfo {
    pub fn from_resource(secret: &Secret) -> Self {
        let from_string = secret.string_data.as_ref().and_then(|d| d.get("password")).cloned();
        let from_data = secret.data.as_ref().and_then(|d| d.get("password")).map(|b| String::from_utf8(b.0.clone()));
        let (password, password_not_utf8) = match (from_string, from_data) {
            (Some(s), _) => (Some(s), false),
            (None, Some(Ok(s))) => (Some(s), false),
            (None, Some(Err(_))) => (None, true),
            (None, None) => (None, false),
        };
        SecretInfo {
            key: ObjKey::new(
                secret.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
                secret.metadata.name.clone().unwrap_or_default(),
            ),
            type_: secret.type_.clone(),
            password: password.map(Redacted::new),
            password_not_utf8,
        }
    }
}

/// bfdd's defaults (bfdd/bfd.h): a profile value equal to one is not shown by FRR, so the agent
/// does not write it either (the diff against the running config stays empty).
pub mod bfd_defaults {
    pub const RECEIVE_INTERVAL: u32 = 300;
    pub const TRANSMIT_INTERVAL: u32 = 300;
    pub const DETECT_MULTIPLIER: u32 = 3;
    pub const ECHO_INTERVAL: u32 = 50;
    pub const MINIMUM_TTL: u32 = 254;
}
