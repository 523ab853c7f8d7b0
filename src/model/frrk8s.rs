//! frr-k8s's `frrk8s.metallb.io/v1beta1` custom resources, field for field as frr-k8s v0.0.25
//! defines them (plus `allowAsIn`, merged upstream after it), so that the FRRConfigurations
//! MetalLB v0.16 writes in frr-k8s mode, and those operators write for frr-k8s, load here
//! unchanged. Data only: what a field means and which values are valid is decided in `frrk8s`.
//!
//! deploy/frrk8s/crds.yaml is generated from these types (`frr-speaker crds --api frrk8s`); a test
//! fails when it drifts, and tests/crd_compat.rs checks it against frr-k8s's own schema.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{CustomResourceDefinition, ValidationRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group frr-k8s serves.
pub const GROUP: &str = "frrk8s.metallb.io";

/// BGP configuration for the nodes its `nodeSelector` picks; every FRRConfiguration that
/// selects a node is merged into that node's FRR configuration.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "frrk8s.metallb.io",
    version = "v1beta1",
    kind = "FRRConfiguration",
    root = "FrrConfiguration",
    plural = "frrconfigurations",
    namespaced,
    status = "FrrConfigurationStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct FrrConfigurationSpec {
    /// BGP routers (one per VRF) and BFD profiles.
    #[serde(default, skip_serializing_if = "BgpConfig::is_empty")]
    pub bgp: BgpConfig,
    /// FRR configuration text appended after the rendered configuration (no validation).
    #[serde(default, skip_serializing_if = "RawConfig::is_empty")]
    pub raw: RawConfig,
    /// The nodes this configuration applies to; empty: every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
}

/// Nothing is written to an FRRConfiguration's status (as in frr-k8s): see FRRNodeState.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct FrrConfigurationStatus {}

/// Raw FRR configuration: appended in order of priority (lowest first), then of the
/// FRRConfiguration's name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RawConfig {
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub priority: i64,
    #[serde(rename = "rawConfig", default, skip_serializing_if = "String::is_empty")]
    pub config: String,
}

impl RawConfig {
    fn is_empty(&self) -> bool {
        self.priority == 0 && self.config.is_empty()
    }
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BgpConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routers: Vec<Router>,
    #[serde(rename = "bfdProfiles", default, skip_serializing_if = "Vec::is_empty")]
    pub bfd_profiles: Vec<BfdProfile>,
}

impl BgpConfig {
    fn is_empty(&self) -> bool {
        self.routers.is_empty() && self.bfd_profiles.is_empty()
    }
}

/// One BGP instance (`router bgp ASN [vrf VRF]`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Router {
    /// This router's AS number.
    #[schemars(range(min = 0, max = 4294967295u32))]
    pub asn: u32,
    /// BGP router ID (IPv4 form); empty: FRR's choice.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The VRF of this router; empty: the default VRF.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vrf: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbors: Vec<Neighbor>,
    /// Prefixes (CIDRs) this router may advertise to its neighbors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// VRFs whose routes this router imports (`default` is the default VRF).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<Import>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Import {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vrf: String,
}

/// A BGP session of a router.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Neighbor {
    /// The peer's AS number. Exactly one of asn and dynamicASN.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    #[schemars(range(min = 0, max = 4294967295u32))]
    pub asn: u32,
    /// `internal` or `external`: the peer's AS is learnt from its OPEN message.
    #[serde(rename = "dynamicASN", default, skip_serializing_if = "Option::is_none")]
    pub dynamic_asn: Option<DynamicAsn>,
    /// Source address (or interface) of the session's TCP connection.
    #[serde(rename = "sourceaddress", default, skip_serializing_if = "String::is_empty")]
    pub source_address: String,
    /// The peer's address. Exactly one of address and interface.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub address: String,
    /// The interface of an unnumbered session (both address families).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface: String,
    /// The peer's TCP port (default 179).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 16384))]
    pub port: Option<u16>,
    /// TCP MD5 password, in clear. Not with passwordSecret.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// A `kubernetes.io/basic-auth` Secret in frr-k8s's namespace holding the password.
    #[serde(default, skip_serializing_if = "SecretReference::is_empty")]
    pub password_secret: SecretReference,
    /// Requested hold time (a duration; 0 or at least 3s). Set with keepaliveTime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<String>,
    /// Keepalive interval (a duration, at most holdTime). Set with holdTime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_time: Option<String>,
    /// Time between connection attempts (a duration in whole seconds, 1s to 65535s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_time: Option<String>,
    /// The peer is more than one hop away.
    #[serde(rename = "ebgpMultiHop", default, skip_serializing_if = "is_false")]
    pub ebgp_multi_hop: bool,
    /// A BFD profile of the same FRRConfiguration to run BFD with.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bfd_profile: String,
    /// Announce the graceful-restart capability (takes effect on the session's next start).
    #[serde(default, skip_serializing_if = "is_false")]
    pub enable_graceful_restart: bool,
    /// What this node advertises to the neighbor.
    #[serde(default, skip_serializing_if = "Advertise::is_empty")]
    pub to_advertise: Advertise,
    /// What this node accepts from the neighbor (nothing unless allowed).
    #[serde(default, skip_serializing_if = "Receive::is_empty")]
    pub to_receive: Receive,
    /// Deprecated and ignored (frr-k8s v0.0.19 on): see dualStackAddressFamily.
    #[serde(rename = "disableMP", default, skip_serializing_if = "is_false")]
    #[schemars(extend("default" = false))]
    pub disable_mp: bool,
    /// Exchange the other address family's prefixes over this session too.
    #[serde(default, skip_serializing_if = "is_false")]
    #[schemars(extend("default" = false))]
    pub dual_stack_address_family: bool,
    /// The AS number presented to this peer instead of the router's (eBGP only).
    #[serde(rename = "localASN", default, skip_serializing_if = "is_zero_u32")]
    #[schemars(range(min = 1, max = 4294967295u32))]
    pub local_asn: u32,
    /// Accept routes carrying this node's own AS: `none` (the default), `origin`, or `1`-`10`
    /// occurrences (frr-k8s after v0.0.25).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(regex(pattern = r"^(|none|origin|[1-9]|10)$"))]
    pub allow_as_in: String,
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !v
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DynamicAsn {
    Internal,
    External,
}

/// Reference to a Secret (looked up by name in frr-k8s's namespace; `namespace` is ignored there).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SecretReference {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

impl SecretReference {
    pub fn is_empty(&self) -> bool {
        self.name.is_empty() && self.namespace.is_empty()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Advertise {
    #[serde(default, skip_serializing_if = "AllowedOut::is_empty")]
    pub allowed: AllowedOut,
    /// Local preferences of advertised prefixes (iBGP).
    #[serde(rename = "withLocalPref", default, skip_serializing_if = "Vec::is_empty")]
    pub with_local_pref: Vec<LocalPrefPrefixes>,
    /// Communities (`A:B`, or `large:A:B:C`) of advertised prefixes.
    #[serde(rename = "withCommunity", default, skip_serializing_if = "Vec::is_empty")]
    pub with_community: Vec<CommunityPrefixes>,
}

impl Advertise {
    fn is_empty(&self) -> bool {
        self.allowed.is_empty() && self.with_local_pref.is_empty() && self.with_community.is_empty()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Receive {
    #[serde(default, skip_serializing_if = "AllowedIn::is_empty")]
    pub allowed: AllowedIn,
}

impl Receive {
    fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }
}

/// `all`, or only the listed prefixes (`filtered`, the default).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AllowMode {
    All,
    #[default]
    Filtered,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct AllowedOut {
    /// Prefixes of the router's `prefixes` to advertise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "filtered"))]
    pub mode: Option<AllowMode>,
}

impl AllowedOut {
    fn is_empty(&self) -> bool {
        self.prefixes.is_empty() && self.mode.is_none()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct AllowedIn {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<PrefixSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "filtered"))]
    pub mode: Option<AllowMode>,
}

impl AllowedIn {
    fn is_empty(&self) -> bool {
        self.prefixes.is_empty() && self.mode.is_none()
    }
}

/// A prefix to accept, and the prefix lengths of its more specific routes to accept with it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct PrefixSelector {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(extend("format" = "cidr"))]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    #[schemars(range(min = 1, max = 128))]
    pub le: u32,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    #[schemars(range(min = 1, max = 128))]
    pub ge: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalPrefPrefixes {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1))]
    pub prefixes: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub local_pref: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct CommunityPrefixes {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1))]
    pub prefixes: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub community: String,
}

/// A BFD profile (bfdd `profile NAME`); intervals in milliseconds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BfdProfile {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub receive_interval: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub transmit_interval: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 255))]
    pub detect_multiplier: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub echo_interval: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_mode: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive_mode: Option<bool>,
    #[serde(rename = "minimumTtl", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 254))]
    pub minimum_ttl: Option<u32>,
}

/// One node's FRR as the agent last left it (cluster-scoped, named after the node).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "frrk8s.metallb.io",
    version = "v1beta1",
    kind = "FRRNodeState",
    root = "FrrNodeState",
    plural = "frrnodestates",
    status = "FrrNodeStateStatus"
)]
pub struct FrrNodeStateSpec {}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrrNodeStateStatus {
    /// FRR's running configuration, passwords redacted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub running_config: String,
    /// `success`, or `failed: <why>`: whether the FRRConfigurations for the node could be merged.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_conversion_result: String,
    /// `success`, or what FRR refused when the configuration was applied.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_reload_result: String,
}

/// One BGP session of one node, as frr-k8s reports it (labels `frrk8s.metallb.io/node`,
/// `frrk8s.metallb.io/peer`, `frrk8s.metallb.io/vrf`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "frrk8s.metallb.io",
    version = "v1beta1",
    kind = "BGPSessionState",
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

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BgpSessionStateStatus {
    /// FRR's state of the BGP session (`Established`, `Active`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bgp_status: String,
    /// `Up`, `Down`, ..., or `N/A` without BFD.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bfd_status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// The peer's address (IPv6 with `-` for `:`), or the interface of an unnumbered session.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub peer: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vrf: String,
}

/// frr-k8s's own settings (one object named `config` in its namespace).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "frrk8s.metallb.io",
    version = "v1beta1",
    kind = "FRRK8sConfiguration",
    root = "FrrK8sConfiguration",
    plural = "frrk8sconfigurations",
    namespaced,
    status = "FrrK8sConfigurationStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct FrrK8sConfigurationSpec {
    /// The log level of the agent and of FRR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct FrrK8sConfigurationStatus {}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    All,
    Debug,
    Info,
    Warn,
    Error,
    None,
}

/// The frrk8s.metallb.io CRDs, as deploy/frrk8s/crds.yaml holds them.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    use kube::CustomResourceExt;
    let mut crds =
        vec![FrrConfiguration::crd(), FrrNodeState::crd(), BgpSessionState::crd(), FrrK8sConfiguration::crd()];
    for crd in crds.iter_mut() {
        for v in crd.spec.versions.iter_mut() {
            let Some(schema) = v.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()) else { continue };
            // Every spec field is optional, and the status kinds have none: `spec` may be left out.
            if let Some(req) = schema.required.as_mut() {
                req.retain(|r| r != "spec");
                if req.is_empty() {
                    schema.required = None;
                }
            }
        }
    }
    // frr-k8s's CEL rule on connectTime: whole seconds, 1 to 65535.
    for crd in crds.iter_mut().filter(|c| c.spec.names.kind == "FRRConfiguration") {
        for v in crd.spec.versions.iter_mut() {
            let path = ["spec", "bgp", "routers", "[]", "neighbors", "[]", "connectTime"];
            let connect = super::crds::schema_at(v, &path);
            if let Some(connect) = connect {
                connect.x_kubernetes_validations = Some(vec![
                    ValidationRule {
                        rule: "duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535".into(),
                        message: Some("connect time should be between 1 second to 65535".into()),
                        ..Default::default()
                    },
                    ValidationRule {
                        rule: "duration(self).getMilliseconds() % 1000 == 0".into(),
                        message: Some("connect time should contain a whole number of seconds".into()),
                        ..Default::default()
                    },
                ]);
            }
        }
    }
    super::crds::without_unsigned_formats(crds)
}

/// The CRDs as one multi-document YAML stream (what deploy/frrk8s/crds.yaml holds).
pub fn crds_yaml() -> Result<String, serde_yaml_ng::Error> {
    let mut out =
        String::from("# Generated by `frr-speaker crds --api frrk8s` from src/model/frrk8s.rs. Do not edit.\n");
    for crd in all_crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&crd)?);
    }
    Ok(out)
}
