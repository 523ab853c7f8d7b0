//! The metallb.io custom resources, field for field as MetalLB documents them, so that objects
//! written for MetalLB's speaker load here unchanged. These types are data only: what a field
//! means, and which values are valid, is decided in `desired`.
//!
//! The CRD YAML under deploy/ is generated from these types (`frr-speaker crds`); a test fails when
//! the committed file drifts from them.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion, JSONSchemaProps, JSONSchemaPropsOrArray, ValidationRule,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A BGP session this node's FRR opens (metallb.io/v1beta2 BGPPeer).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta2",
    kind = "BGPPeer",
    root = "BgpPeer",
    plural = "bgppeers",
    namespaced,
    status = "BgpPeerStatus",
    printcolumn = r#"{"name":"Address","type":"string","jsonPath":".spec.peerAddress"}"#,
    printcolumn = r#"{"name":"ASN","type":"string","jsonPath":".spec.peerASN"}"#,
    printcolumn = r#"{"name":"BFD Profile","type":"string","jsonPath":".spec.bfdProfile"}"#,
    printcolumn = r#"{"name":"Multi Hops","type":"string","jsonPath":".spec.ebgpMultiHop"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BgpPeerSpec {
    /// AS number this node uses for the session.
    #[serde(rename = "myASN")]
    pub my_asn: u32,
    /// AS number expected from the peer. Exactly one of peerASN and dynamicASN.
    #[serde(rename = "peerASN", default, skip_serializing_if = "Option::is_none")]
    pub peer_asn: Option<u32>,
    /// `internal` or `external`: the peer's AS is learnt from its OPEN message.
    #[serde(rename = "dynamicASN", default, skip_serializing_if = "Option::is_none")]
    pub dynamic_asn: Option<String>,
    /// Address of the peer. Exactly one of peerAddress and interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_address: Option<String>,
    /// Interface for an unnumbered (IPv6 link-local) session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// TCP port of the peer (default 179).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16384))]
    pub peer_port: Option<u32>,
    /// Source address for the session's TCP connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    /// BGP router ID (IPv4 form). Every peer of a node in one VRF must agree.
    #[serde(rename = "routerID", default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// Requested hold time (a duration such as `90s`; 0 or at least 3s). Without holdTime and
    /// keepaliveTime FRR's own defaults apply (as in MetalLB's FRR mode); alone, 3 × keepaliveTime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<String>,
    /// Keepalive interval (a duration; at most holdTime). Default holdTime/3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_time: Option<String>,
    /// How long to wait between connection attempts (a duration, 1s to 65535s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_time: Option<String>,
    /// TCP MD5 password, in clear. Mutually exclusive with passwordSecret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A Secret of type kubernetes.io/basic-auth holding the password under key `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<SecretRef>,
    /// Name of a BFDProfile to run BFD with this peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd_profile: Option<String>,
    /// The peer is more than one hop away (eBGP only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebgp_multi_hop: Option<bool>,
    /// VRF the session lives in (default: the default VRF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    /// Announce the graceful-restart capability (RFC 4724) to this peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_graceful_restart: Option<bool>,
    /// Nodes that open this session; empty means every node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_selectors: Vec<LabelSelector>,
    /// Exchange both IPv4 and IPv6 prefixes over this one session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dual_stack_address_family: Option<bool>,
    /// Accepted for compatibility with MetalLB and ignored (FRR always negotiates multiprotocol).
    #[serde(rename = "disableMP", default, skip_serializing_if = "Option::is_none")]
    pub disable_mp: Option<bool>,
    /// The AS number presented to this peer instead of myASN (MetalLB v0.16; rendered as
    /// `neighbor X local-as N no-prepend replace-as`, eBGP only).
    #[serde(rename = "localASN", default, skip_serializing_if = "Option::is_none")]
    pub local_asn: Option<u32>,
}

/// Reference to a Secret, as MetalLB's `passwordSecret` (namespace defaults to the peer's). An
/// empty reference (`passwordSecret: {}`, as MetalLB's own tools write it) means no Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SecretRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Per-node state of a BGPPeer as written by the agent (kept for the status issue; empty today).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct BgpPeerStatus {}

/// Which prefixes are announced, to whom, with which attributes (metallb.io/v1beta1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "BGPAdvertisement",
    root = "BgpAdvertisement",
    plural = "bgpadvertisements",
    namespaced,
    printcolumn = r#"{"name":"IPAddressPools","type":"string","jsonPath":".spec.ipAddressPools"}"#,
    printcolumn = r#"{"name":"Peers","type":"string","jsonPath":".spec.peers"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BgpAdvertisementSpec {
    /// Announce the IPv4 address's covering prefix of this length instead of the /32 (default 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 32))]
    pub aggregation_length: Option<i32>,
    /// The same for IPv6 (default 128).
    #[serde(rename = "aggregationLengthV6", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 128))]
    pub aggregation_length_v6: Option<i32>,
    /// LOCAL_PREF attached for iBGP peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,
    /// Communities: `a:b`, `large:a:b:c`, or the name of an alias from a Community object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
    /// Pools whose addresses this advertisement announces (by name).
    #[serde(rename = "ipAddressPools", default, skip_serializing_if = "Vec::is_empty")]
    pub ip_address_pools: Vec<String>,
    /// Pools whose addresses this advertisement announces (by label).
    #[serde(rename = "ipAddressPoolSelectors", default, skip_serializing_if = "Vec::is_empty")]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Nodes that announce; empty means every node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_selectors: Vec<LabelSelector>,
    /// BGPPeer names to announce to; empty means every peer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    /// Services announced; empty means every Service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_selectors: Vec<LabelSelector>,
}

/// MetalLB's layer-2 announcement of pools (metallb.io/v1beta1). frr-speaker does BGP only: it
/// reads these to warn about Services whose pool no BGPAdvertisement selects (so nobody announces
/// them) and defines the kind so that MetalLB's objects apply unchanged.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "L2Advertisement",
    root = "L2Advertisement",
    plural = "l2advertisements",
    namespaced,
    printcolumn = r#"{"name":"IPAddressPools","type":"string","jsonPath":".spec.ipAddressPools"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct L2AdvertisementSpec {
    /// Pools announced in layer-2 mode (by name).
    #[serde(rename = "ipAddressPools", default, skip_serializing_if = "Vec::is_empty")]
    pub ip_address_pools: Vec<String>,
    /// Pools announced in layer-2 mode (by label).
    #[serde(rename = "ipAddressPoolSelectors", default, skip_serializing_if = "Vec::is_empty")]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Nodes that announce; empty means every node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_selectors: Vec<LabelSelector>,
    /// Interfaces to announce from; empty means every interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
}

/// Addresses that LoadBalancer Services get their IPs from (metallb.io/v1beta1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "IPAddressPool",
    root = "IpAddressPool",
    plural = "ipaddresspools",
    namespaced,
    status = "IpAddressPoolStatus",
    printcolumn = r#"{"name":"Auto Assign","type":"boolean","jsonPath":".spec.autoAssign"}"#,
    printcolumn = r#"{"name":"Avoid Buggy IPs","type":"boolean","jsonPath":".spec.avoidBuggyIPs"}"#,
    printcolumn = r#"{"name":"Addresses","type":"string","jsonPath":".spec.addresses"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct IpAddressPoolSpec {
    /// CIDRs (`192.0.2.0/28`) and inclusive ranges (`192.0.2.10-192.0.2.20`).
    pub addresses: Vec<String>,
    /// Hand out addresses from this pool without an explicit request (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_assign: Option<bool>,
    /// Never hand out addresses ending in .0 or .255.
    #[serde(rename = "avoidBuggyIPs", default, skip_serializing_if = "Option::is_none")]
    pub avoid_buggy_ips: Option<bool>,
    /// Which Services may take addresses from this pool, and with what priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_allocation: Option<ServiceAllocation>,
}

/// MetalLB's `serviceAllocation` (used by the allocator, not by the speaker).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAllocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_selectors: Vec<LabelSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_selectors: Vec<LabelSelector>,
}

/// Pool usage counts, written by the allocator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpAddressPoolStatus {
    #[serde(rename = "assignedIPv4", default)]
    pub assigned_ipv4: u64,
    #[serde(rename = "assignedIPv6", default)]
    pub assigned_ipv6: u64,
    #[serde(rename = "availableIPv4", default)]
    pub available_ipv4: u64,
    #[serde(rename = "availableIPv6", default)]
    pub available_ipv6: u64,
}

/// BFD session parameters shared by peers that name it (metallb.io/v1beta1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "BFDProfile",
    root = "BfdProfile",
    plural = "bfdprofiles",
    namespaced,
    printcolumn = r#"{"name":"Passive Mode","type":"boolean","jsonPath":".spec.passiveMode"}"#,
    printcolumn = r#"{"name":"Transmit Interval","type":"integer","jsonPath":".spec.transmitInterval"}"#,
    printcolumn = r#"{"name":"Receive Interval","type":"integer","jsonPath":".spec.receiveInterval"}"#,
    printcolumn = r#"{"name":"Multiplier","type":"integer","jsonPath":".spec.detectMultiplier"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BfdProfileSpec {
    /// Minimum interval this system can receive control packets at, in ms (10-60000, default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub receive_interval: Option<u32>,
    /// Minimum transmission interval for control packets, in ms (10-60000, default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub transmit_interval: Option<u32>,
    /// Missed packets before the session is declared down (2-255, default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 255))]
    pub detect_multiplier: Option<u32>,
    /// Echo packet interval in ms (10-60000, default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub echo_interval: Option<u32>,
    /// Send echo packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_mode: Option<bool>,
    /// Wait for the peer to start the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive_mode: Option<bool>,
    /// For multi-hop sessions: the minimum incoming TTL (1-254, default 254).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 254))]
    pub minimum_ttl: Option<u32>,
}

/// Named community values that advertisements can use (metallb.io/v1beta1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "Community",
    root = "Community",
    plural = "communities",
    namespaced
)]
#[serde(rename_all = "camelCase")]
pub struct CommunitySpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<CommunityAlias>,
}

/// One alias: `name` may be used in a BGPAdvertisement's `communities` in place of `value`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CommunityAlias {
    pub name: String,
    pub value: String,
}

/// Status only: the BGP peers one node is configured to announce one Service to
/// (metallb.io/v1beta1 ServiceBGPStatus, as MetalLB's speaker writes it). Written by each node's
/// agent in the config namespace, labelled `metallb.io/node`, `metallb.io/service-name`,
/// `metallb.io/service-namespace`, owned by the Node.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "ServiceBGPStatus",
    root = "ServiceBgpStatus",
    plural = "servicebgpstatuses",
    namespaced,
    status = "ServiceBgpStatusStatus",
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".status.node"}"#,
    printcolumn = r#"{"name":"Service Name","type":"string","jsonPath":".status.serviceName"}"#,
    printcolumn = r#"{"name":"Service Namespace","type":"string","jsonPath":".status.serviceNamespace"}"#
)]
pub struct ServiceBgpStatusSpec {}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceBgpStatusStatus {
    /// The node announcing the Service.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_namespace: String,
    /// The BGPPeers the node's FRR is configured to announce the Service to (whether a peer
    /// actually receives it depends on the session: see BGPSessionState).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
}

/// Status only: one node's BGP and BFD session state with one peer, read from FRR
/// (frr-speaker.io/v1beta1 BGPSessionState: MetalLB defines no such kind in metallb.io, frr-k8s has
/// one in frrk8s.metallb.io; this project's own group keeps metallb.io to MetalLB's kinds).
/// Labelled `metallb.io/node`, `metallb.io/peer`, `metallb.io/vrf`, owned by the Node.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    version = "v1beta1",
    kind = "BGPSessionState",
    group = "frr-speaker.io",
    root = "BgpSessionState",
    plural = "bgpsessionstates",
    namespaced,
    status = "BgpSessionStateStatus",
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".status.node"}"#,
    printcolumn = r#"{"name":"Peer","type":"string","jsonPath":".status.peer"}"#,
    printcolumn = r#"{"name":"VRF","type":"string","jsonPath":".status.vrf"}"#,
    printcolumn = r#"{"name":"BGP","type":"string","jsonPath":".status.bgpStatus"}"#,
    printcolumn = r#"{"name":"BFD","type":"string","jsonPath":".status.bfdStatus"}"#
)]
pub struct BgpSessionStateSpec {}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BgpSessionStateStatus {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// The peer's address, or the interface of an unnumbered session.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub peer: String,
    /// Empty for the default VRF.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vrf: String,
    /// FRR's BGP FSM state (Idle, Connect, Active, OpenSent, OpenConfirm, Established).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bgp_status: String,
    /// BFD session state (Up, Down, Init, AdminDown), `N/A` without BFD.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bfd_status: String,
}

/// Status only: whether a component's configuration is valid (metallb.io/v1beta1
/// ConfigurationState, as MetalLB writes it). One per node for the speaker, named
/// `speaker-<node>`, labelled `metallb.io/component-type: speaker` and `metallb.io/node-name`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "ConfigurationState",
    root = "ConfigurationState",
    plural = "configurationstates",
    namespaced,
    status = "ConfigurationStateStatus",
    printcolumn = r#"{"name":"Result","type":"string","jsonPath":".status.result"}"#,
    printcolumn = r#"{"name":"LastError","type":"string","jsonPath":".status.lastError"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct ConfigurationStateSpec {}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationStateStatus {
    /// `Valid`, `Invalid` or `Unknown`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub result: String,
    /// The first error; empty when the result is Valid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_error: String,
    /// The same text under the name some MetalLB releases use (both are written, so whichever of
    /// MetalLB's CRDs is installed keeps one of them).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error_summary: String,
    /// `ConfigValid` (the input) and `Applied` (FRR runs the config computed from it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
}

/// Every CRD this project defines, in the order `frr-speaker crds` prints them.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    use kube::CustomResourceExt;
    let mut crds = vec![
        BgpPeer::crd(),
        BgpAdvertisement::crd(),
        L2Advertisement::crd(),
        IpAddressPool::crd(),
        BfdProfile::crd(),
        Community::crd(),
        ServiceBgpStatus::crd(),
        BgpSessionState::crd(),
        ConfigurationState::crd(),
    ];
    // As in MetalLB, objects whose spec fields are all optional may omit `spec` entirely (the
    // status kinds have no spec at all).
    let optional_spec = [
        "BGPAdvertisement",
        "L2Advertisement",
        "BFDProfile",
        "Community",
        "ServiceBGPStatus",
        "BGPSessionState",
        "ConfigurationState",
    ];
    for crd in crds.iter_mut().filter(|c| optional_spec.contains(&c.spec.names.kind.as_str())) {
        for v in crd.spec.versions.iter_mut() {
            if let Some(schema) = v.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()) {
                if let Some(req) = schema.required.as_mut() {
                    req.retain(|r| r != "spec");
                    if req.is_empty() {
                        schema.required = None;
                    }
                }
            }
        }
    }
    // MetalLB's CEL rule: graceful restart is negotiated at session start, so the apiserver
    // refuses a change of it on an existing BGPPeer (delete and create the peer instead).
    for crd in crds.iter_mut().filter(|c| c.spec.names.kind == "BGPPeer") {
        for v in crd.spec.versions.iter_mut() {
            if let Some(gr) = schema_at(v, &["spec", "enableGracefulRestart"]) {
                gr.x_kubernetes_validations = Some(vec![ValidationRule {
                    rule: "self == oldSelf".into(),
                    message: Some("EnableGracefulRestart cannot be changed after creation".into()),
                    ..Default::default()
                }]);
            }
        }
    }
    let mut crds = without_unsigned_formats(crds);
    // BGPPeer v1beta1 is served beside v1beta2 with the same schema, conversion None: MetalLB's
    // v1beta1 fields are a subset of v1beta2's with the same names and JSON shapes (its v1beta1
    // node selectors are label selectors in all but Go type), so an object written as v1beta1 reads
    // unchanged as v1beta2 and back. Storage stays v1beta2.
    for crd in crds.iter_mut().filter(|c| c.spec.names.kind == "BGPPeer") {
        if let Some(v2) = crd.spec.versions.first().cloned() {
            let mut v1 = v2;
            v1.name = "v1beta1".into();
            v1.storage = false;
            crd.spec.versions.push(v1);
        }
    }
    crds
}

/// The apiserver knows int32/int64, not schemars' uint32/uint64 (kubectl apply warns
/// "unrecognized format" for each): the unsigned ones keep their `minimum: 0` and lose the format.
pub(crate) fn without_unsigned_formats(crds: Vec<CustomResourceDefinition>) -> Vec<CustomResourceDefinition> {
    fn drop_unsigned_formats(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("format").and_then(|f| f.as_str()).is_some_and(|f| f.starts_with("uint")) {
                    m.remove("format");
                }
                m.values_mut().for_each(drop_unsigned_formats);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(drop_unsigned_formats),
            _ => {}
        }
    }
    crds.into_iter()
        .map(|crd| {
            let mut v = serde_json::to_value(&crd).expect("a CRD serializes");
            drop_unsigned_formats(&mut v);
            serde_json::from_value(v).expect("still a CRD")
        })
        .collect()
}

/// The schema of the field at `path` in a version's schema (`[]`: an array's items).
pub(crate) fn schema_at<'a>(
    v: &'a mut CustomResourceDefinitionVersion,
    path: &[&str],
) -> Option<&'a mut JSONSchemaProps> {
    let mut s = v.schema.as_mut()?.open_api_v3_schema.as_mut()?;
    for step in path {
        s = match *step {
            "[]" => match s.items.as_mut()? {
                JSONSchemaPropsOrArray::Schema(items) => items,
                JSONSchemaPropsOrArray::Schemas(_) => return None,
            },
            field => s.properties.as_mut()?.get_mut(field)?,
        };
    }
    Some(s)
}

/// The CRDs as one multi-document YAML stream (what deploy/crds.yaml holds).
pub fn crds_yaml() -> Result<String, serde_yaml_ng::Error> {
    let mut out = String::from("# Generated by `frr-speaker crds` from src/model/crds.rs. Do not edit.\n");
    for crd in all_crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&crd)?);
    }
    Ok(out)
}
