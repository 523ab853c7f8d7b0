//! What the agent tells the outside world: Prometheus metrics, the health endpoints, and (in
//! Kubernetes mode) status objects and Events.
pub mod http;
pub mod kube;
pub mod metrics;
pub mod objects;
pub mod table;

use std::collections::BTreeMap;
use std::sync::Arc;

use ipnet::IpNet;

use crate::model::core::ObjKey;

/// One rendered configuration and what it announces (compute → driver → status).
#[derive(Debug, Default, PartialEq)]
pub struct Rendered {
    pub text: String,
    /// Service → prefix → BGPPeer names.
    pub announcements: BTreeMap<ObjKey, BTreeMap<IpNet, Vec<String>>>,
    /// Neighbors with a TCP port other than 179, by (VRF, address) (for metrics labels).
    pub ports: BTreeMap<(Option<String>, String), u16>,
}

/// What the driver last achieved (driver → status).
#[derive(Clone, Debug, Default)]
pub struct ApplyState {
    /// The config FRR runs, once an apply succeeded.
    pub applied: Option<Arc<Rendered>>,
    /// Why the newest config is not running (cleared by the next success).
    pub error: Option<String>,
}
