//! What this node's status objects and Events should say (pure: facts in, objects and events out).
//! `status::kube` writes them, rate-limited, and only the difference from what the API holds.
//!
//! Objects (metallb.io/v1beta1, in the config namespace, owned by the Node so that they go away
//! with it):
//! - one ServiceBGPStatus per Service this node announces: the BGPPeers it goes to;
//! - one BGPSessionState per neighbor in FRR: BGP and BFD state as FRR reports them;
//! - one ConfigurationState `speaker-<node>`: is the input valid, does FRR run it.
//!
//! And, where frr-k8s's status CRDs are installed, what frr-k8s writes (frrk8s.metallb.io/v1beta1):
//! - one FRRNodeState named after the node (cluster-scoped): the configuration FRR runs,
//!   passwords redacted, and the results of the last conversion and reload (`success` or why not);
//! - one BGPSessionState per neighbor, in the frr-k8s namespace, labelled as frr-k8s labels it.
//!
//! Names are derived from what they describe (readable prefix + a stable hash), so a restarted
//! agent finds its objects again by name and label without keeping state anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

use imbl::ordmap::DiffItem;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::Value;

use crate::desired::fnv1a;
use crate::frr::outcome::ApplyError;
use crate::frr::show::NeighborStatus;
use crate::model::core::ObjKey;
use crate::model::crds::{BgpSessionStateStatus, ConfigurationStateStatus, ServiceBgpStatusStatus};
use crate::model::frrk8s::{BgpSessionStateStatus as FrrK8sSessionStatus, FrrNodeStateStatus};
use crate::problem::{Kind, Problem};

pub const NODE_LABEL: &str = "metallb.io/node";
pub const SERVICE_NAME_LABEL: &str = "metallb.io/service-name";
pub const SERVICE_NAMESPACE_LABEL: &str = "metallb.io/service-namespace";
pub const PEER_LABEL: &str = "metallb.io/peer";
pub const VRF_LABEL: &str = "metallb.io/vrf";
pub const COMPONENT_LABEL: &str = "metallb.io/component-type";
pub const NODE_NAME_LABEL: &str = "metallb.io/node-name";
pub const FRRK8S_NODE_LABEL: &str = "frrk8s.metallb.io/node";
pub const FRRK8S_PEER_LABEL: &str = "frrk8s.metallb.io/peer";
pub const FRRK8S_VRF_LABEL: &str = "frrk8s.metallb.io/vrf";
/// frr-k8s's word for a result without error.
pub const SUCCESS: &str = "success";
/// An FRRNodeState's running config is cut at this size (an object must stay well under etcd's
/// 1.5 MiB; at 10,000 Services the config is about that).
pub const RUNNING_CONFIG_MAX: usize = 256 * 1024;

/// The status kinds this agent writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusKind {
    ConfigurationState,
    /// frr-k8s's, in frrk8s.metallb.io (cluster-scoped).
    FrrNodeState,
    BgpSessionState,
    /// frr-k8s's BGPSessionState, in frrk8s.metallb.io (in the frr-k8s namespace).
    FrrK8sSessionState,
    ServiceBgpStatus,
}

impl StatusKind {
    pub const ALL: [StatusKind; 5] = [
        StatusKind::ConfigurationState,
        StatusKind::FrrNodeState,
        StatusKind::BgpSessionState,
        StatusKind::FrrK8sSessionState,
        StatusKind::ServiceBgpStatus,
    ];

    /// Its API resource, from its Rust type (model::crds).
    pub fn api_resource(self) -> kube::core::ApiResource {
        use crate::model::crds::{BgpSessionState, ConfigurationState, ServiceBgpStatus};
        use crate::model::frrk8s;
        use kube::core::ApiResource;
        match self {
            StatusKind::ConfigurationState => ApiResource::erase::<ConfigurationState>(&()),
            StatusKind::FrrNodeState => ApiResource::erase::<frrk8s::FrrNodeState>(&()),
            StatusKind::BgpSessionState => ApiResource::erase::<BgpSessionState>(&()),
            StatusKind::FrrK8sSessionState => ApiResource::erase::<frrk8s::BgpSessionState>(&()),
            StatusKind::ServiceBgpStatus => ApiResource::erase::<ServiceBgpStatus>(&()),
        }
    }

    /// Does its CRD have a (empty) `spec`? MetalLB's ConfigurationState has none (v0.16.1's
    /// config/crd/bases), and an apply that sends one is refused there.
    pub fn has_spec(self) -> bool {
        self != StatusKind::ConfigurationState
    }

    /// Cluster-scoped (the others live in a namespace).
    pub fn cluster_scoped(self) -> bool {
        self == StatusKind::FrrNodeState
    }

    /// frr-k8s's kinds (in the frr-k8s namespace); the others are in the config namespace.
    pub fn frrk8s(self) -> bool {
        matches!(self, StatusKind::FrrNodeState | StatusKind::FrrK8sSessionState)
    }

    /// Its kind (`ConfigurationState`).
    pub fn kind(self) -> String {
        self.api_resource().kind
    }

    /// The label selector that finds this node's objects of this kind.
    pub fn selector(self, node: &str) -> String {
        match self {
            StatusKind::ConfigurationState => {
                format!("{COMPONENT_LABEL}=speaker,{NODE_NAME_LABEL}={}", label_value(node))
            }
            StatusKind::FrrNodeState | StatusKind::FrrK8sSessionState => {
                format!("{FRRK8S_NODE_LABEL}={}", label_value(node))
            }
            _ => format!("{NODE_LABEL}={}", label_value(node)),
        }
    }
}

/// The parts of a status object this agent owns; equal parts mean nothing to write.
#[derive(Clone, Debug, PartialEq)]
pub struct Wanted {
    pub labels: BTreeMap<String, String>,
    /// `uid` of the Node that owns the object, when known.
    pub owner_uid: Option<String>,
    pub status: StatusBody,
}

impl Wanted {
    /// What the writer keeps of this object once the API holds it.
    pub fn held(&self) -> Held {
        let (service, config) = match &self.status {
            // (An empty status, as one edited by hand reads, names no Service.)
            StatusBody::Service(s) if s.service_name.is_empty() => (None, None),
            StatusBody::Service(s) => (Some(ObjKey::new(s.service_namespace.as_str(), s.service_name.as_str())), None),
            StatusBody::Config(c) => (None, Some(Box::new(c.clone()))),
            StatusBody::Session(_) | StatusBody::NodeState(_) | StatusBody::FrrK8sSession(_) => (None, None),
        };
        Held { digests: self.digests(), service, config }
    }

    pub fn digests(&self) -> Digests {
        Digests { meta: digest(|h| (&self.labels, &self.owner_uid).hash(h)), status: self.status.digest() }
    }
}

/// Digests of the parts of a status object this agent owns: equal digests, nothing to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digests {
    /// Labels and owner.
    pub meta: u64,
    pub status: u64,
}

/// What the status writer remembers of an object the API holds: not the object (at 10,000
/// Services those copies were most of the agent's heap) but digests of the parts this agent owns,
/// the Service a ServiceBGPStatus is about (events after a restart, deletes) and the
/// ConfigurationState's status (its conditions keep their transition times).
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    pub digests: Digests,
    pub service: Option<ObjKey>,
    pub config: Option<Box<ConfigurationStateStatus>>,
}

/// The writer's view of the API: each of this node's status objects by kind and name.
pub type HeldMap = BTreeMap<(StatusKind, String), Held>;

fn digest(f: impl FnOnce(&mut std::collections::hash_map::DefaultHasher)) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    f(&mut h);
    h.finish()
}

/// Feeds serialized bytes to a hasher (a status is hashed as the JSON it is written as, without
/// building that JSON).
struct HashWriter<'a>(&'a mut std::collections::hash_map::DefaultHasher);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A status as the generated CRDs type it (`model::crds`), so what is written cannot drift from
/// the schema the apiserver validates against.
#[derive(Clone, Debug, PartialEq)]
pub enum StatusBody {
    Service(ServiceBgpStatusStatus),
    Session(BgpSessionStateStatus),
    Config(ConfigurationStateStatus),
    NodeState(FrrNodeStateStatus),
    FrrK8sSession(FrrK8sSessionStatus),
}

impl StatusBody {
    /// A status read from the API; one that does not parse reads as empty (and is rewritten).
    pub fn read(kind: StatusKind, v: Option<&Value>) -> StatusBody {
        fn typed<T: serde::de::DeserializeOwned + Default>(v: Option<&Value>) -> T {
            v.and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
        }
        match kind {
            StatusKind::ServiceBgpStatus => StatusBody::Service(typed(v)),
            StatusKind::BgpSessionState => StatusBody::Session(typed(v)),
            StatusKind::ConfigurationState => StatusBody::Config(typed(v)),
            StatusKind::FrrNodeState => StatusBody::NodeState(typed(v)),
            StatusKind::FrrK8sSessionState => StatusBody::FrrK8sSession(typed(v)),
        }
    }

    /// A digest of the status as written: equal statuses (read back or built) have equal ones.
    pub fn digest(&self) -> u64 {
        digest(|h| {
            let w = HashWriter(h);
            let _ = match self {
                StatusBody::Service(s) => serde_json::to_writer(w, s),
                StatusBody::Session(s) => serde_json::to_writer(w, s),
                StatusBody::Config(s) => serde_json::to_writer(w, s),
                StatusBody::NodeState(s) => serde_json::to_writer(w, s),
                StatusBody::FrrK8sSession(s) => serde_json::to_writer(w, s),
            };
        })
    }

    pub fn to_json(&self) -> Value {
        let v = match self {
            StatusBody::Service(s) => serde_json::to_value(s),
            StatusBody::Session(s) => serde_json::to_value(s),
            StatusBody::Config(s) => serde_json::to_value(s),
            StatusBody::NodeState(s) => serde_json::to_value(s),
            StatusBody::FrrK8sSession(s) => serde_json::to_value(s),
        };
        v.unwrap_or(Value::Null)
    }
}

/// What happened on this node, as far as it is known. `None`: not known yet (before the first
/// apply, before FRR first answered): objects of that kind are left as they are.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub node: String,
    pub node_uid: Option<String>,
    /// What FRR runs: Service → prefix → BGPPeer names.
    pub announcements: Option<crate::desired::state::Announcements>,
    pub sessions: Option<Vec<SessionFact>>,
    pub config: Option<ConfigFacts>,
    /// The `bgpextras` ConfigMap, when there is one (events about its lines go to it).
    pub extras: Option<ObjKey>,
    /// The config FRR runs (passwords redacted, cut at `RUNNING_CONFIG_MAX`), for FRRNodeState;
    /// `None`: not applied yet, or that kind is not written.
    pub running: Option<String>,
}

/// The state of one session (the part of `NeighborStatus` that is status, not counters).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionFact {
    pub vrf: Option<String>,
    pub id: String,
    pub bgp: String,
    pub bfd: Option<String>,
}

impl From<&NeighborStatus> for SessionFact {
    fn from(n: &NeighborStatus) -> Self {
        SessionFact { vrf: n.vrf.clone(), id: n.id.clone(), bgp: n.bgp_state.clone(), bfd: n.bfd_status.clone() }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigFacts {
    /// Errors in the newest input (rendered problems, first is reported).
    pub errors: Vec<String>,
    /// `Some(true)`: FRR runs the config of the newest valid input; `Some(false)`: the last apply
    /// failed (`apply_error` says why); `None`: not applied yet.
    pub applied: Option<bool>,
    pub apply_error: Option<ApplyError>,
    /// FRR refused the `bgpextras` ConfigMap's lines (it runs the agent's config without them).
    pub extras_error: Option<String>,
}

/// A DNS-1123 subdomain name from parts: a readable, sanitized prefix and a hash of the exact
/// parts (two different identities never share a name, whatever characters they contain).
pub fn object_name(parts: &[&str]) -> String {
    let joined = parts.join("\0");
    let hash = fnv1a(joined.as_bytes());
    let mut readable: String = parts
        .join("-")
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(200)
        .collect();
    while readable.ends_with(['-', '.']) {
        readable.pop();
    }
    let readable = readable.trim_start_matches(['-', '.']);
    if readable.is_empty() {
        format!("s-{:08x}", hash as u32)
    } else {
        format!("{readable}-{:08x}", hash as u32)
    }
}

/// A valid label value (at most 63 characters of `[A-Za-z0-9-_.]`, alphanumeric at both ends)
/// that stands for `s`: `:` and `%` of IPv6 addresses become `-`.
pub fn label_value(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '-' })
        .take(63)
        .collect();
    mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

pub fn config_state_name(node: &str) -> String {
    format!("speaker-{node}")
}

/// Every object this node should have, for the kinds whose facts are known. `previous` is what
/// the API holds (to keep a condition's lastTransitionTime while its status stays); `now` is
/// whole seconds (the precision the apiserver keeps). (The writer goes through them one at a
/// time: `each_wanted`.)
pub fn wanted(facts: &Facts, previous: &HeldMap, now: &Time) -> BTreeMap<(StatusKind, String), Wanted> {
    let mut out = BTreeMap::new();
    each_wanted(facts, previous, now, |kind, name, w| {
        out.insert((kind, name), w);
    });
    out
}

/// The ServiceBGPStatus for one Service this node announces.
fn service_wanted(facts: &Facts, svc: &ObjKey, prefixes: &crate::desired::state::Prefixes) -> (String, Wanted) {
    let node = facts.node.as_str();
    let name = object_name(&[node, &svc.namespace, &svc.name]);
    let labels = BTreeMap::from([
        (NODE_LABEL.to_string(), label_value(node)),
        (SERVICE_NAME_LABEL.to_string(), label_value(&svc.name)),
        (SERVICE_NAMESPACE_LABEL.to_string(), label_value(&svc.namespace)),
    ]);
    let status = ServiceBgpStatusStatus {
        node: node.to_string(),
        service_name: svc.name.to_string(),
        service_namespace: svc.namespace.to_string(),
        peers: prefixes.peers().into_iter().map(str::to_string).collect(),
    };
    (name, Wanted { labels, owner_uid: facts.node_uid.clone(), status: StatusBody::Service(status) })
}

/// `wanted`, one object at a time, in the order of kind (none is kept: at 10,000 Services the
/// whole map was the agent's largest allocation).
pub fn each_wanted(facts: &Facts, previous: &HeldMap, now: &Time, mut f: impl FnMut(StatusKind, String, Wanted)) {
    each_other(facts, previous, now, &mut f);
    if let Some(ann) = &facts.announcements {
        for (svc, prefixes) in ann {
            let (name, w) = service_wanted(facts, svc, prefixes);
            f(StatusKind::ServiceBgpStatus, name, w);
        }
    }
}

/// The objects of `each_wanted` that are not about a Service (a handful).
fn each_other(facts: &Facts, previous: &HeldMap, now: &Time, f: &mut impl FnMut(StatusKind, String, Wanted)) {
    let node = facts.node.as_str();
    let label_map = |extra: &[(&str, String)]| -> BTreeMap<String, String> {
        extra.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    };
    let wanted = |labels, status| Wanted { labels, owner_uid: facts.node_uid.clone(), status };
    if let Some(cfg) = &facts.config {
        let name = config_state_name(node);
        let prev = previous.get(&(StatusKind::ConfigurationState, name.clone())).and_then(|h| h.config.as_deref());
        let labels = label_map(&[(COMPONENT_LABEL, "speaker".into()), (NODE_NAME_LABEL, label_value(node))]);
        f(StatusKind::ConfigurationState, name, wanted(labels, StatusBody::Config(config_status(cfg, prev, now))));
        let frrk8s_labels = label_map(&[(FRRK8S_NODE_LABEL, label_value(node))]);
        let status = StatusBody::NodeState(node_state(cfg, facts));
        f(StatusKind::FrrNodeState, node.to_string(), wanted(frrk8s_labels, status));
    }
    if let Some(sessions) = &facts.sessions {
        for s in sessions {
            let vrf = s.vrf.as_deref().unwrap_or("");
            let name = object_name(&[node, if vrf.is_empty() { "default" } else { vrf }, &s.id]);
            let mut labels = label_map(&[(NODE_LABEL, label_value(node)), (PEER_LABEL, label_value(&s.id))]);
            if !vrf.is_empty() {
                labels.insert(VRF_LABEL.into(), label_value(vrf));
            }
            let status = BgpSessionStateStatus {
                node: node.to_string(),
                peer: s.id.clone(),
                vrf: vrf.to_string(),
                bgp_status: s.bgp.clone(),
                bfd_status: s.bfd.clone().unwrap_or_else(|| "N/A".into()),
            };
            f(StatusKind::BgpSessionState, name.clone(), wanted(labels, StatusBody::Session(status)));
            // frr-k8s's: its labels (the default VRF as ""), its form of an IPv6 peer.
            let peer = frrk8s_peer(&s.id);
            let frrk8s_labels = label_map(&[
                (FRRK8S_NODE_LABEL, label_value(node)),
                (FRRK8S_PEER_LABEL, label_value(&peer)),
                (FRRK8S_VRF_LABEL, label_value(vrf)),
            ]);
            let status = FrrK8sSessionStatus {
                node: node.to_string(),
                peer,
                vrf: vrf.to_string(),
                bgp_status: s.bgp.clone(),
                bfd_status: s.bfd.clone().unwrap_or_else(|| "N/A".into()),
            };
            f(StatusKind::FrrK8sSessionState, name, wanted(frrk8s_labels, StatusBody::FrrK8sSession(status)));
        }
    }
}

/// A peer as frr-k8s names it in a BGPSessionState: an IPv4 address or an interface as it is,
/// an IPv6 address written out in full with `-` for `:` (a label value has no `:`).
pub fn frrk8s_peer(id: &str) -> String {
    match id.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(a)) => a.segments().map(|s| format!("{s:04x}")).join("-"),
        _ => id.to_string(),
    }
}

/// An FRRNodeState's status: `success` or `failed: <why>` for the conversion (are the
/// FRRConfigurations and metallb.io objects valid for this node), `success` or FRR's refusal for
/// the reload, and what FRR runs.
fn node_state(cfg: &ConfigFacts, facts: &Facts) -> FrrNodeStateStatus {
    let conversion = match cfg.errors.as_slice() {
        [] => SUCCESS.to_string(),
        [one] => format!("failed: {one}"),
        [first, rest @ ..] => format!("failed: {first} (and {} more)", rest.len()),
    };
    let reload = match (cfg.applied, &cfg.apply_error) {
        (Some(true), _) => SUCCESS.to_string(),
        (Some(false), Some(e)) => crate::frr::driver::redact(&e.to_string()),
        (Some(false), None) => "failed".to_string(),
        (None, _) => String::new(),
    };
    FrrNodeStateStatus {
        running_config: facts.running.clone().unwrap_or_default(),
        last_conversion_result: shorten(&conversion, 4096),
        last_reload_result: shorten(&reload, 4096),
    }
}

/// The config as an FRRNodeState shows it: passwords redacted, at most `RUNNING_CONFIG_MAX` bytes.
pub fn running_config(text: &str) -> String {
    let text = crate::frr::driver::redact(text);
    if text.len() <= RUNNING_CONFIG_MAX {
        return text;
    }
    let mut end = RUNNING_CONFIG_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text[..end].rfind('\n').unwrap_or(end);
    format!(
        "{}\n! ... {} more bytes: run `vtysh -c 'show running-config'` in the frr container\n",
        &text[..cut],
        text.len() - cut
    )
}

fn config_status(cfg: &ConfigFacts, prev: Option<&ConfigurationStateStatus>, now: &Time) -> ConfigurationStateStatus {
    let summary = |list: &[String]| match list {
        [] => String::new(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    };
    let valid = cfg.errors.is_empty();
    let (valid_status, valid_reason, valid_msg) = if valid {
        ("True", "Valid", "the configuration for this node is valid".to_string())
    } else {
        ("False", "InvalidConfig", format!("{}; FRR keeps the last valid configuration", summary(&cfg.errors)))
    };
    let (applied_status, applied_reason, applied_msg) = match (cfg.applied, &cfg.apply_error) {
        (Some(true), _) => ("True", "Applied", "FRR runs the configuration".to_string()),
        (Some(false), Some(ApplyError::Refused(e))) => ("False", "FRRRefused", e.clone()),
        (Some(false), Some(ApplyError::Unavailable(e))) => ("False", "FRRUnavailable", e.clone()),
        (Some(false), None) => ("False", "ApplyFailed", String::new()),
        (None, _) => ("Unknown", "Pending", "not applied yet".to_string()),
    };
    let last_error = if !valid {
        summary(&cfg.errors)
    } else if cfg.applied == Some(false) {
        cfg.apply_error.as_ref().map(ApplyError::to_string).unwrap_or_default()
    } else if let Some(e) = &cfg.extras_error {
        format!("bgpextras not applied: {e}")
    } else {
        String::new()
    };
    let condition = |ty: &str, status: &str, reason: &str, msg: String| {
        // The transition time stays while the condition's status does.
        let since = prev
            .and_then(|p| p.conditions.iter().find(|c| c.type_ == ty && c.status == status))
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.clone());
        Condition {
            type_: ty.into(),
            status: status.into(),
            reason: reason.into(),
            message: shorten(&msg, 1024),
            last_transition_time: since,
            observed_generation: None,
        }
    };
    ConfigurationStateStatus {
        result: if valid { "Valid" } else { "Invalid" }.into(),
        error_summary: shorten(&last_error, 1024),
        last_error: shorten(&last_error, 1024),
        conditions: {
            let mut c = vec![
                condition("ConfigValid", valid_status, valid_reason, valid_msg),
                condition("Applied", applied_status, applied_reason, applied_msg),
            ];
            // Only while the operator's extras are refused: FRR runs the agent's config without them.
            if let Some(e) = &cfg.extras_error {
                c.push(condition("ExtrasApplied", "False", "FRRRefusedExtras", e.clone()));
            }
            c
        },
    }
}

/// At most `max` bytes of `s` (the API limits messages), cut at a character boundary with `...`.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

mod events;
mod plan;

pub use events::*;
pub use plan::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_kinds_come_from_their_types() {
        let got: Vec<(String, String, String)> =
            StatusKind::ALL.iter().map(|k| k.api_resource()).map(|a| (a.kind, a.api_version, a.plural)).collect();
        let want = [
            ("ConfigurationState", "metallb.io/v1beta1", "configurationstates"),
            ("FRRNodeState", "frrk8s.metallb.io/v1beta1", "frrnodestates"),
            ("BGPSessionState", "frr-speaker.io/v1beta1", "bgpsessionstates"),
            ("BGPSessionState", "frrk8s.metallb.io/v1beta1", "bgpsessionstates"),
            ("ServiceBGPStatus", "metallb.io/v1beta1", "servicebgpstatuses"),
        ]
        .map(|(k, v, p)| (k.to_string(), v.to_string(), p.to_string()));
        assert_eq!(got, want);
    }

    fn ann(entries: &[(&str, &str, &[&str])]) -> crate::desired::state::Announcements {
        let mut m: BTreeMap<ObjKey, Vec<(ipnet::IpNet, Vec<&str>)>> = BTreeMap::new();
        for (svc, prefix, peers) in entries {
            m.entry(ObjKey::new("default", *svc)).or_default().push((prefix.parse().expect("prefix"), peers.to_vec()));
        }
        m.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect()
    }

    fn facts() -> Facts {
        Facts {
            node: "node1".into(),
            node_uid: Some("uid-1".into()),
            announcements: Some(ann(&[("web", "203.0.113.10/32", &["peer1", "peer2"])])),
            sessions: Some(vec![SessionFact {
                vrf: None,
                id: "2001:db8::1".into(),
                bgp: "Established".into(),
                bfd: None,
            }]),
            config: Some(ConfigFacts { errors: vec![], applied: Some(true), apply_error: None, extras_error: None }),
            extras: None,
            running: Some(running_config("router bgp 64512\n neighbor 2001:db8::1 password s3cret\nexit\n")),
        }
    }

    #[test]
    fn names_are_valid_stable_and_distinct() {
        let a = object_name(&["node1", "default", "web"]);
        assert_eq!(a, object_name(&["node1", "default", "web"]));
        assert!(a.starts_with("node1-default-web-"), "{a}");
        assert_ne!(object_name(&["a-b", "c"]), object_name(&["a", "b-c"]));
        let v6 = object_name(&["node1", "default", "2001:DB8::1"]);
        assert!(v6.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'), "{v6}");
        assert!(object_name(&[&"x".repeat(400)]).len() <= 253);
        assert_eq!(label_value("2001:db8::1"), "2001-db8--1");
        assert_eq!(label_value(&"n".repeat(100)).len(), 63);
    }

    #[test]
    fn wanted_objects_say_what_runs() {
        let w = wanted(&facts(), &BTreeMap::new(), &at(1));
        assert_eq!(w.len(), 5);
        let (_, svc) = w.iter().find(|((k, _), _)| *k == StatusKind::ServiceBgpStatus).expect("service status");
        let StatusBody::Service(status) = &svc.status else { panic!("{:?}", svc.status) };
        assert_eq!(status.peers, ["peer1", "peer2"]);
        assert_eq!(svc.status.to_json()["peers"], serde_json::json!(["peer1", "peer2"]));
        assert_eq!(svc.labels[SERVICE_NAME_LABEL], "web");
        assert_eq!(svc.owner_uid.as_deref(), Some("uid-1"));
        let (_, sess) = w.iter().find(|((k, _), _)| *k == StatusKind::BgpSessionState).expect("session");
        let json = sess.status.to_json();
        assert_eq!(json["bfdStatus"], "N/A");
        assert_eq!(sess.labels[PEER_LABEL], "2001-db8--1");
        assert!(json.get("vrf").is_none(), "the default VRF is left out: {json}");
        let cs = w[&(StatusKind::ConfigurationState, "speaker-node1".into())].status.to_json();
        assert_eq!(cs["result"], "Valid");
        assert!(cs.get("lastError").is_none());
        // What is read back from the API equals what was written: nothing to write again.
        for ((kind, _), want) in &w {
            assert_eq!(StatusBody::read(*kind, Some(&want.status.to_json())), want.status);
        }
    }

    fn at(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(1_790_000_000 + secs).expect("time"))
    }

    #[test]
    fn frrk8s_kinds_say_what_frr_k8s_says() {
        let w = wanted(&facts(), &BTreeMap::new(), &at(1));
        let StatusBody::NodeState(ns) = &w[&(StatusKind::FrrNodeState, "node1".into())].status else {
            panic!("an FRRNodeState")
        };
        assert_eq!((ns.last_conversion_result.as_str(), ns.last_reload_result.as_str()), ("success", "success"));
        assert_eq!(ns.running_config, "router bgp 64512\n neighbor 2001:db8::1 password <redacted>\nexit");
        let (_, sess) = w.iter().find(|((k, _), _)| *k == StatusKind::FrrK8sSessionState).expect("session");
        let StatusBody::FrrK8sSession(s) = &sess.status else { panic!("{:?}", sess.status) };
        assert_eq!(s.peer, "2001-0db8-0000-0000-0000-0000-0000-0001", "IPv6 written out as frr-k8s does");
        assert_eq!(sess.labels[FRRK8S_PEER_LABEL], s.peer);
        assert_eq!(sess.labels[FRRK8S_VRF_LABEL], "", "the default VRF is \"\"");
        assert_eq!(frrk8s_peer("192.0.2.1"), "192.0.2.1");
        assert_eq!(frrk8s_peer("eth0"), "eth0");
        // A refusal reads as frr-k8s's `failed: ...`; a reload FRR refused as its message.
        let mut f = facts();
        f.config = Some(ConfigFacts {
            errors: vec!["error: FRRConfiguration frr-k8s-system/a: spec.bgp.routers[0].asn: x".into(), "y".into()],
            applied: Some(false),
            apply_error: Some(ApplyError::Refused("neighbor 192.0.2.1 password hunter2".into())),
            extras_error: None,
        });
        let w = wanted(&f, &BTreeMap::new(), &at(1));
        let StatusBody::NodeState(ns) = &w[&(StatusKind::FrrNodeState, "node1".into())].status else {
            panic!("an FRRNodeState")
        };
        assert_eq!(
            ns.last_conversion_result,
            "failed: error: FRRConfiguration frr-k8s-system/a: spec.bgp.routers[0].asn: x (and 1 more)"
        );
        assert!(!ns.last_reload_result.contains("hunter2"), "{}", ns.last_reload_result);
        // A config too large for an object is cut at a line, and says so.
        let big: String = (0..40_000).map(|i| format!(" network 198.18.{}.{}/32\n", i / 256, i % 256)).collect();
        let cut = running_config(&big);
        assert!(cut.len() < RUNNING_CONFIG_MAX + 200, "{}", cut.len());
        assert!(cut.ends_with("in the frr container\n") && cut.contains("more bytes"), "{}", &cut[cut.len() - 200..]);
    }

    #[test]
    fn condition_time_moves_only_on_transition() {
        let mut f = facts();
        let first = wanted(&f, &BTreeMap::new(), &at(1));
        let again = wanted(&f, &held(&first), &at(2));
        assert_eq!(first, again, "nothing changed, nothing to write");
        f.config = Some(ConfigFacts {
            errors: vec!["error: BGPPeer metallb-system/bad: spec.holdTime: too short".into()],
            applied: Some(true),
            apply_error: None,
            extras_error: None,
        });
        let bad = wanted(&f, &held(&again), &at(3));
        let StatusBody::Config(cs) = &bad[&(StatusKind::ConfigurationState, "speaker-node1".into())].status else {
            panic!("a ConfigurationState")
        };
        assert_eq!(cs.result, "Invalid");
        assert!(cs.last_error.contains("spec.holdTime"));
        assert_eq!(cs.conditions[0].last_transition_time, at(3));
        assert_eq!(cs.conditions[1].last_transition_time, at(1), "Applied did not change");
        assert_eq!(cs.conditions.len(), 2, "no ExtrasApplied condition without refused extras");
    }

    #[test]
    fn refused_extras_show_as_a_condition_and_in_the_summary() {
        let mut f = facts();
        f.config = Some(ConfigFacts {
            errors: vec![],
            applied: Some(true),
            apply_error: None,
            extras_error: Some("FRR did not take 1 line(s): neighbor 192.0.2.1 bogus".into()),
        });
        let w = wanted(&f, &BTreeMap::new(), &at(1));
        let StatusBody::Config(cs) = &w[&(StatusKind::ConfigurationState, "speaker-node1".into())].status else {
            panic!("a ConfigurationState")
        };
        assert_eq!(cs.result, "Valid");
        assert_eq!(cs.conditions[1].status, "True", "the agent's own config runs");
        let c = &cs.conditions[2];
        assert_eq!(
            (c.type_.as_str(), c.status.as_str(), c.reason.as_str()),
            ("ExtrasApplied", "False", "FRRRefusedExtras")
        );
        assert!(cs.error_summary.starts_with("bgpextras not applied: FRR did not take"), "{}", cs.error_summary);
    }

    #[test]
    fn refusal_and_unavailability_read_differently() {
        let mut f = facts();
        let reason = |f: &Facts| {
            let w = wanted(f, &BTreeMap::new(), &at(1));
            let StatusBody::Config(cs) = &w[&(StatusKind::ConfigurationState, "speaker-node1".into())].status else {
                panic!("a ConfigurationState")
            };
            (cs.conditions[1].reason.clone(), cs.last_error.clone())
        };
        let mut cfg = ConfigFacts { errors: vec![], applied: Some(false), apply_error: None, extras_error: None };
        cfg.apply_error = Some(ApplyError::Refused("FRR did not take 1 line(s)".into()));
        f.config = Some(cfg.clone());
        let (r, e) = reason(&f);
        assert_eq!(r, "FRRRefused");
        assert!(e.starts_with("FRR refused the configuration"), "{e}");
        cfg.apply_error = Some(ApplyError::Unavailable("FRR apply timed out after 2s".into()));
        f.config = Some(cfg);
        let (r, e) = reason(&f);
        assert_eq!(r, "FRRUnavailable");
        assert!(e.starts_with("FRR did not answer"), "{e}");
    }

    fn held(w: &BTreeMap<(StatusKind, String), Wanted>) -> HeldMap {
        w.iter().map(|(k, w)| (k.clone(), w.held())).collect()
    }

    #[test]
    fn plan_writes_differences_and_leaves_unknown_kinds() {
        let f = facts();
        let want = wanted(&f, &BTreeMap::new(), &at(1));
        let known: BTreeSet<StatusKind> = StatusKind::ALL.into_iter().collect();
        let have = held(&want);
        assert_eq!(plan(&have, &f, &known, &at(1)), vec![]);
        let mut extra = have.clone();
        let svc = have.iter().find(|(k, _)| k.0 == StatusKind::ServiceBgpStatus).expect("one").1.clone();
        extra.insert((StatusKind::ServiceBgpStatus, "old".into()), svc);
        let p = plan(&extra, &f, &known, &at(1));
        assert_eq!(p, vec![Action::Delete { kind: StatusKind::ServiceBgpStatus, name: "old".into() }]);
        // Before the first apply the Services' objects are not known: nothing is deleted.
        let mut early = f.clone();
        early.announcements = None;
        let known2: BTreeSet<StatusKind> = [StatusKind::ConfigurationState, StatusKind::BgpSessionState].into();
        assert_eq!(plan(&extra, &early, &known2, &at(1)), vec![]);
        // Config first; a Service's object is made when written, equal to the planned one.
        let p = plan(&BTreeMap::new(), &f, &known, &at(1));
        assert!(matches!(p[0], Action::Put { kind: StatusKind::ConfigurationState, .. }));
        let Some(Action::Put { kind: StatusKind::ServiceBgpStatus, name, what, exists: None }) = p.last() else {
            panic!("{p:?}")
        };
        assert!(matches!(what, What::Service(_)));
        assert_eq!(Some(&what.wanted(&f).expect("made")), want.get(&(StatusKind::ServiceBgpStatus, name.clone())));
        // A changed label, owner or status is a write; the same object read back is not.
        let mut moved = f.clone();
        moved.node_uid = Some("uid-2".into());
        let p = plan(&have, &moved, &known, &at(1));
        assert_eq!(p.len(), 5, "every object has a new owner: {p:?}");
        assert!(p.iter().all(|a| matches!(a, Action::Put { exists: Some(_), .. })));
        for (k, w) in &want {
            let back = Wanted { status: StatusBody::read(k.0, Some(&w.status.to_json())), ..w.clone() };
            assert_eq!(back.held(), w.held(), "{k:?}");
        }
        // A ServiceBGPStatus whose Service is no longer announced is deleted, and only it.
        let mut fewer = f.clone();
        fewer.announcements = Some(Default::default());
        let p = plan(&have, &fewer, &known, &at(1));
        assert!(matches!(&p[..], [Action::Delete { kind: StatusKind::ServiceBgpStatus, .. }]), "{p:?}");
        // One held under another name (an older naming) is deleted and written anew.
        let mut renamed = have.clone();
        let key = renamed.keys().find(|k| k.0 == StatusKind::ServiceBgpStatus).expect("one").clone();
        let h = renamed.remove(&key).expect("held");
        renamed.insert((StatusKind::ServiceBgpStatus, "old-name".into()), h);
        let p = plan(&renamed, &f, &known, &at(1));
        assert_eq!(p.len(), 2, "{p:?}");
        // One whose status was emptied by hand is rewritten in place, not deleted.
        let mut emptied = have.clone();
        let h = emptied.get_mut(&key).expect("held");
        *h = Wanted { status: StatusBody::read(StatusKind::ServiceBgpStatus, None), ..want[&key].clone() }.held();
        assert_eq!(h.service, None);
        let p = plan(&emptied, &f, &known, &at(1));
        assert!(matches!(&p[..], [Action::Put { exists: Some(_), .. }]), "{p:?}");
    }

    #[test]
    fn events_for_start_change_stop() {
        let before: Announced = announced(&ann(&[("web", "203.0.113.10/32", &["peer1"])]));
        let after = ann(&[("web", "203.0.113.11/32", &["peer1"]), ("api", "203.0.113.20/32", &["peer1"])]);
        let ev = announcement_events("node1", &before, &after);
        let reasons: Vec<(&str, &str)> = ev.iter().map(|e| (&*e.object.name, e.reason)).collect();
        assert_eq!(reasons, vec![("api", "Announcing"), ("web", "AnnouncementChanged")]);
        assert_eq!(ev[0].note, "node node1 announces 203.0.113.20/32 to BGPPeer peer1");
        let gone = announcement_events("node1", &announced(&after), &Default::default());
        assert_eq!(gone.len(), 2);
        assert!(gone.iter().all(|e| e.reason == "Withdrawn"));
        // After a restart the prefixes are unknown: no event for what is still announced.
        let unknown = Announced::Found(after.keys().cloned().collect());
        assert_eq!(announcement_events("node1", &unknown, &after), vec![]);
    }

    #[test]
    fn a_mass_change_is_one_event_on_the_node() {
        let names: Vec<String> = (0..=SERVICE_EVENTS_MAX).map(|i| format!("s{i}")).collect();
        let prefixes: Vec<String> = (0..=SERVICE_EVENTS_MAX).map(|i| format!("203.0.113.{i}/32")).collect();
        let entries = |n: usize| -> Vec<(&str, &str, &[&str])> {
            (0..n).map(|i| (names[i].as_str(), prefixes[i].as_str(), &["peer1"][..])).collect()
        };
        let few = ann(&entries(SERVICE_EVENTS_MAX));
        assert_eq!(announcement_events("node1", &Announced::default(), &few).len(), SERVICE_EVENTS_MAX);
        let many = ann(&entries(SERVICE_EVENTS_MAX + 1));
        let ev = announcement_events("node1", &Announced::default(), &many);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!((ev[0].kind, &*ev[0].object.name, ev[0].reason), (Kind::Node, "node1", "AnnouncementsChanged"));
        assert!(
            ev[0].note.starts_with("node node1: 101 Service(s) announced, 0 changed, 0 withdrawn"),
            "{}",
            ev[0].note
        );
        let gone = announcement_events("node1", &announced(&many), &Default::default());
        assert!(gone[0].note.contains("0 changed, 101 withdrawn"), "{}", gone[0].note);
    }

    #[test]
    fn events_for_new_problems_only() {
        let peer = Problem::error(Kind::BGPPeer, &ObjKey::new("metallb-system", "bad"), "spec.holdTime", "too short");
        let svc = Problem::warning(Kind::Service, &ObjKey::new("default", "web"), "status", "no pool");
        let secret = Problem::error(Kind::Secret, &ObjKey::new("metallb-system", "s"), "data", "missing");
        let all = vec![peer.clone(), svc.clone(), secret];
        let ev = problem_events("node1", &BTreeSet::new(), &all);
        assert_eq!(ev.len(), 2, "no event on a Secret");
        assert!(ev.iter().all(|e| e.warning));
        assert!(ev[0].note.contains("spec.holdTime"));
        let seen: BTreeSet<Problem> = all.iter().cloned().collect();
        assert_eq!(problem_events("node1", &seen, &all), vec![]);
    }
}
