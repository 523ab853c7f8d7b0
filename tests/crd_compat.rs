//! deploy/crds.yaml is a compatible superset of MetalLB's CRDs for every kind MetalLB defines:
//! each field of MetalLB's types (names and JSON types, facts read from MetalLB's api/ package) is
//! in our schema with the same type, so objects written for MetalLB validate here unchanged, and
//! status written here survives when MetalLB's CRDs are the ones installed.

use serde_json::Value;

/// (kind, version, field path from the version's schema root, OpenAPI type).
const METALLB_FIELDS: &[(&str, &str, &str, &str)] = &[
    ("BGPPeer", "v1beta2", "spec.myASN", "integer"),
    ("BGPPeer", "v1beta2", "spec.peerASN", "integer"),
    ("BGPPeer", "v1beta2", "spec.dynamicASN", "string"),
    ("BGPPeer", "v1beta2", "spec.peerAddress", "string"),
    ("BGPPeer", "v1beta2", "spec.interface", "string"),
    ("BGPPeer", "v1beta2", "spec.sourceAddress", "string"),
    ("BGPPeer", "v1beta2", "spec.peerPort", "integer"),
    ("BGPPeer", "v1beta2", "spec.holdTime", "string"),
    ("BGPPeer", "v1beta2", "spec.keepaliveTime", "string"),
    ("BGPPeer", "v1beta2", "spec.connectTime", "string"),
    ("BGPPeer", "v1beta2", "spec.routerID", "string"),
    ("BGPPeer", "v1beta2", "spec.nodeSelectors", "array"),
    ("BGPPeer", "v1beta2", "spec.password", "string"),
    ("BGPPeer", "v1beta2", "spec.passwordSecret", "object"),
    ("BGPPeer", "v1beta2", "spec.passwordSecret.name", "string"),
    ("BGPPeer", "v1beta2", "spec.passwordSecret.namespace", "string"),
    ("BGPPeer", "v1beta2", "spec.bfdProfile", "string"),
    ("BGPPeer", "v1beta2", "spec.enableGracefulRestart", "boolean"),
    ("BGPPeer", "v1beta2", "spec.ebgpMultiHop", "boolean"),
    ("BGPPeer", "v1beta2", "spec.vrf", "string"),
    ("BGPPeer", "v1beta2", "spec.disableMP", "boolean"),
    ("BGPPeer", "v1beta2", "spec.dualStackAddressFamily", "boolean"),
    ("BGPPeer", "v1beta2", "spec.localASN", "integer"),
    // v1beta1 (MetalLB serves it through a conversion webhook; here conversion None).
    ("BGPPeer", "v1beta1", "spec.myASN", "integer"),
    ("BGPPeer", "v1beta1", "spec.peerASN", "integer"),
    ("BGPPeer", "v1beta1", "spec.peerAddress", "string"),
    ("BGPPeer", "v1beta1", "spec.sourceAddress", "string"),
    ("BGPPeer", "v1beta1", "spec.peerPort", "integer"),
    ("BGPPeer", "v1beta1", "spec.holdTime", "string"),
    ("BGPPeer", "v1beta1", "spec.keepaliveTime", "string"),
    ("BGPPeer", "v1beta1", "spec.routerID", "string"),
    ("BGPPeer", "v1beta1", "spec.nodeSelectors", "array"),
    ("BGPPeer", "v1beta1", "spec.password", "string"),
    ("BGPPeer", "v1beta1", "spec.bfdProfile", "string"),
    ("BGPPeer", "v1beta1", "spec.ebgpMultiHop", "boolean"),
    ("BGPAdvertisement", "v1beta1", "spec.aggregationLength", "integer"),
    ("BGPAdvertisement", "v1beta1", "spec.aggregationLengthV6", "integer"),
    ("BGPAdvertisement", "v1beta1", "spec.localPref", "integer"),
    ("BGPAdvertisement", "v1beta1", "spec.communities", "array"),
    ("BGPAdvertisement", "v1beta1", "spec.ipAddressPools", "array"),
    ("BGPAdvertisement", "v1beta1", "spec.ipAddressPoolSelectors", "array"),
    ("BGPAdvertisement", "v1beta1", "spec.nodeSelectors", "array"),
    ("BGPAdvertisement", "v1beta1", "spec.peers", "array"),
    ("IPAddressPool", "v1beta1", "spec.addresses", "array"),
    ("IPAddressPool", "v1beta1", "spec.autoAssign", "boolean"),
    ("IPAddressPool", "v1beta1", "spec.avoidBuggyIPs", "boolean"),
    ("IPAddressPool", "v1beta1", "spec.serviceAllocation", "object"),
    ("IPAddressPool", "v1beta1", "spec.serviceAllocation.priority", "integer"),
    ("IPAddressPool", "v1beta1", "spec.serviceAllocation.namespaces", "array"),
    ("IPAddressPool", "v1beta1", "spec.serviceAllocation.namespaceSelectors", "array"),
    ("IPAddressPool", "v1beta1", "spec.serviceAllocation.serviceSelectors", "array"),
    ("IPAddressPool", "v1beta1", "status.assignedIPv4", "integer"),
    ("IPAddressPool", "v1beta1", "status.assignedIPv6", "integer"),
    ("IPAddressPool", "v1beta1", "status.availableIPv4", "integer"),
    ("IPAddressPool", "v1beta1", "status.availableIPv6", "integer"),
    ("BFDProfile", "v1beta1", "spec.receiveInterval", "integer"),
    ("BFDProfile", "v1beta1", "spec.transmitInterval", "integer"),
    ("BFDProfile", "v1beta1", "spec.detectMultiplier", "integer"),
    ("BFDProfile", "v1beta1", "spec.echoInterval", "integer"),
    ("BFDProfile", "v1beta1", "spec.echoMode", "boolean"),
    ("BFDProfile", "v1beta1", "spec.passiveMode", "boolean"),
    ("BFDProfile", "v1beta1", "spec.minimumTtl", "integer"),
    ("L2Advertisement", "v1beta1", "spec.ipAddressPools", "array"),
    ("L2Advertisement", "v1beta1", "spec.ipAddressPoolSelectors", "array"),
    ("L2Advertisement", "v1beta1", "spec.nodeSelectors", "array"),
    ("L2Advertisement", "v1beta1", "spec.interfaces", "array"),
    ("Community", "v1beta1", "spec.communities", "array"),
    ("ServiceBGPStatus", "v1beta1", "status.node", "string"),
    ("ServiceBGPStatus", "v1beta1", "status.serviceName", "string"),
    ("ServiceBGPStatus", "v1beta1", "status.serviceNamespace", "string"),
    ("ServiceBGPStatus", "v1beta1", "status.peers", "array"),
    ("ConfigurationState", "v1beta1", "status.result", "string"),
    ("ConfigurationState", "v1beta1", "status.lastError", "string"),
    ("ConfigurationState", "v1beta1", "status.errorSummary", "string"),
    ("ConfigurationState", "v1beta1", "status.conditions", "array"),
];

fn crds() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/crds.yaml")).expect("crds.yaml");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("a CRD"))
        .collect::<Vec<Value>>()
}

fn schema_type<'a>(crd: &'a Value, version: &str, path: &str) -> Option<&'a str> {
    let v = crd["spec"]["versions"].as_array()?.iter().find(|v| v["name"] == version)?;
    let mut s = &v["schema"]["openAPIV3Schema"];
    for part in path.split('.') {
        s = s.get("properties")?.get(part)?;
    }
    s.get("type")?.as_str()
}

#[test]
fn every_metallb_field_is_here_with_its_type() {
    let crds = crds();
    let mut missing = Vec::new();
    for (kind, version, path, ty) in METALLB_FIELDS {
        let crd = crds.iter().find(|c| c["spec"]["names"]["kind"] == *kind).expect("kind defined");
        assert_eq!(crd["spec"]["group"], "metallb.io", "{kind}: MetalLB's kinds stay in metallb.io");
        match schema_type(crd, version, path) {
            Some(t) if t == *ty => {}
            other => missing.push(format!("{kind} {version} {path}: want {ty}, have {other:?}")),
        }
    }
    assert!(missing.is_empty(), "not compatible with MetalLB's CRDs:\n{}", missing.join("\n"));
    // A kind MetalLB does not define lives in this project's own group.
    let sessions = crds.iter().find(|c| c["spec"]["names"]["kind"] == "BGPSessionState").expect("defined");
    assert_eq!(sessions["spec"]["group"], "frr-speaker.io");
    // BGPPeer: v1beta2 stored, v1beta1 served beside it.
    let peer = crds.iter().find(|c| c["spec"]["names"]["kind"] == "BGPPeer").expect("defined");
    let versions: Vec<(&str, bool, bool)> = peer["spec"]["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| (v["name"].as_str().unwrap_or(""), v["served"] == true, v["storage"] == true))
        .collect();
    assert_eq!(versions, [("v1beta2", true, true), ("v1beta1", true, false)]);
}
