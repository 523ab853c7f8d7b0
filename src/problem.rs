//! What is wrong with the input, said so that an operator can find and fix it: the kind, namespace
//! and name of the object, the field, and the reason. Problems are data, not errors: the pure core
//! returns them next to its result, and each edge decides how to show them (stderr, log, status).

use std::fmt;

use serde::Serialize;

use crate::model::core::ObjKey;

/// The kinds of object the agent reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    BGPPeer,
    BGPAdvertisement,
    IPAddressPool,
    BFDProfile,
    Community,
    Service,
    EndpointSlice,
    Node,
    Secret,
    /// MetalLB's layer-2 advertisement: read only to say which Services nobody announces.
    L2Advertisement,
    /// The `bgpextras` ConfigMap of the config namespace (operator's raw FRR lines).
    ConfigMap,
    /// frr-k8s's FRRConfiguration (frrk8s.metallb.io).
    FRRConfiguration,
    /// A file or a document that could not be read as an object at all.
    Manifest,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BGPPeer => "BGPPeer",
            Kind::BGPAdvertisement => "BGPAdvertisement",
            Kind::IPAddressPool => "IPAddressPool",
            Kind::BFDProfile => "BFDProfile",
            Kind::Community => "Community",
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Node => "Node",
            Kind::Secret => "Secret",
            Kind::L2Advertisement => "L2Advertisement",
            Kind::ConfigMap => "ConfigMap",
            Kind::FRRConfiguration => "FRRConfiguration",
            Kind::Manifest => "Manifest",
        }
    }

    /// The kind named `name` (as in a manifest's `kind:`).
    pub fn from_name(name: &str) -> Option<Kind> {
        [
            Kind::BGPPeer,
            Kind::BGPAdvertisement,
            Kind::IPAddressPool,
            Kind::BFDProfile,
            Kind::Community,
            Kind::Service,
            Kind::EndpointSlice,
            Kind::Node,
            Kind::Secret,
            Kind::L2Advertisement,
            Kind::ConfigMap,
            Kind::FRRConfiguration,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    /// Kinds whose errors make the whole node configuration invalid (the driver keeps the last
    /// good one). A bad Service, EndpointSlice or Node only affects what it describes.
    pub fn is_config(self) -> bool {
        matches!(
            self,
            Kind::BGPPeer
                | Kind::BGPAdvertisement
                | Kind::IPAddressPool
                | Kind::BFDProfile
                | Kind::Community
                | Kind::Secret
                | Kind::FRRConfiguration
                | Kind::Manifest
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Severity {
    /// The configuration for this node is invalid: nothing from it may be applied.
    Error,
    /// Something is ignored (one Service, one unused object); the rest is applied.
    Warning,
}

/// One problem with one field of one object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Problem {
    pub severity: Severity,
    pub kind: Kind,
    pub object: ObjKey,
    /// JSON path of the field (`spec.holdTime`); empty when the object as a whole is at fault.
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn error(kind: Kind, object: &ObjKey, field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Error,
            kind,
            object: object.clone(),
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn warning(kind: Kind, object: &ObjKey, field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Warning,
            kind,
            object: object.clone(),
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The same problem, downgraded to a warning (an object that does not concern this node).
    pub fn into_warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }
}

impl fmt::Display for Problem {
    /// `error: BGPPeer metallb-system/peer1: spec.holdTime: must be 0 or at least 3s`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}: {} {}", self.kind, self.object)?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}
