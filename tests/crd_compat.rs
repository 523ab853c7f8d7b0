//! deploy/crds.yaml is a compatible superset of MetalLB's CRDs for every kind MetalLB defines:
//! each field of MetalLB's types (names and JSON types, facts read from MetalLB's api/ package) is
//! in our schema with the same type, so objects written for MetalLB validate here unchanged, and
//! status written here survives when MetalLB's CRDs are the ones installed. The same holds of
//! deploy/frrk8s/crds.yaml and frr-k8s v0.0.25's CRDs, with their bounds and enums too.

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

/// frr-k8s v0.0.25's CRDs (config/crd/bases/frrk8s.metallb.io_*.yaml), version v1beta1: (kind,
/// field path, `[]` for an array's items, OpenAPI type, bounds and enum values).
const FRRK8S_FIELDS: &[(&str, &str, &str, &str)] = &[
    ("FRRConfiguration", "spec", "object", ""),
    ("FRRConfiguration", "spec.bgp", "object", ""),
    ("FRRConfiguration", "spec.bgp.bfdProfiles", "array", ""),
    ("FRRConfiguration", "spec.bgp.bfdProfiles[]", "object", ""),
    ("FRRConfiguration", "spec.bgp.bfdProfiles[].detectMultiplier", "integer", "min=2 max=255"),
    ("FRRConfiguration", "spec.bgp.bfdProfiles[].echoInterval", "integer", "min=10 max=60000"),
    ("FRRConfiguration", "spec.bgp.bfdProfiles[].echoMode", "boolean", ""),
    ("FRRConfiguration", "spec.bgp.bfdProfiles[].minimumTtl", "integer", "min=1 max=254"),
    ("FRRConfiguration", "spec.bgp.bfdProfiles[].name", "string", ""),
    ("FRRConfiguration", "spec.bgp.bfdProfiles[].passiveMode", "boolean", ""),
    ("FRRConfiguration", "spec.bgp.bfdProfiles[].receiveInterval", "integer", "min=10 max=60000"),
    ("FRRConfiguration", "spec.bgp.bfdProfiles[].transmitInterval", "integer", "min=10 max=60000"),
    ("FRRConfiguration", "spec.bgp.routers", "array", ""),
    ("FRRConfiguration", "spec.bgp.routers[]", "object", ""),
    ("FRRConfiguration", "spec.bgp.routers[].asn", "integer", "min=0 max=4294967295"),
    ("FRRConfiguration", "spec.bgp.routers[].id", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].imports", "array", ""),
    ("FRRConfiguration", "spec.bgp.routers[].imports[]", "object", ""),
    ("FRRConfiguration", "spec.bgp.routers[].imports[].vrf", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors", "array", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[]", "object", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].address", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].asn", "integer", "min=0 max=4294967295"),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].bfdProfile", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].connectTime", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].disableMP", "boolean", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].dualStackAddressFamily", "boolean", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].dynamicASN", "string", "enum=internal|external"),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].ebgpMultiHop", "boolean", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].enableGracefulRestart", "boolean", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].holdTime", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].interface", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].keepaliveTime", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].localASN", "integer", "min=1 max=4294967295"),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].password", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].passwordSecret", "object", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].passwordSecret.name", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].passwordSecret.namespace", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].port", "integer", "min=0 max=16384"),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].sourceaddress", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise", "object", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.allowed", "object", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.allowed.mode", "string", "enum=all|filtered"),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.allowed.prefixes", "array", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.allowed.prefixes[]", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.withCommunity", "array", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.withCommunity[]", "object", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.withCommunity[].community", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.withCommunity[].prefixes", "array", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.withCommunity[].prefixes[]", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.withLocalPref", "array", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.withLocalPref[]", "object", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.withLocalPref[].localPref", "integer", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.withLocalPref[].prefixes", "array", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toAdvertise.withLocalPref[].prefixes[]", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toReceive", "object", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toReceive.allowed", "object", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toReceive.allowed.mode", "string", "enum=all|filtered"),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toReceive.allowed.prefixes", "array", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toReceive.allowed.prefixes[]", "object", ""),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toReceive.allowed.prefixes[].ge", "integer", "min=1 max=128"),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toReceive.allowed.prefixes[].le", "integer", "min=1 max=128"),
    ("FRRConfiguration", "spec.bgp.routers[].neighbors[].toReceive.allowed.prefixes[].prefix", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].prefixes", "array", ""),
    ("FRRConfiguration", "spec.bgp.routers[].prefixes[]", "string", ""),
    ("FRRConfiguration", "spec.bgp.routers[].vrf", "string", ""),
    ("FRRConfiguration", "spec.nodeSelector", "object", ""),
    ("FRRConfiguration", "spec.raw", "object", ""),
    ("FRRConfiguration", "spec.raw.priority", "integer", ""),
    ("FRRConfiguration", "spec.raw.rawConfig", "string", ""),
    ("FRRConfiguration", "status", "object", ""),
    ("FRRNodeState", "spec", "object", ""),
    ("FRRNodeState", "status", "object", ""),
    ("FRRNodeState", "status.lastConversionResult", "string", ""),
    ("FRRNodeState", "status.lastReloadResult", "string", ""),
    ("FRRNodeState", "status.runningConfig", "string", ""),
    ("BGPSessionState", "spec", "object", ""),
    ("BGPSessionState", "status", "object", ""),
    ("BGPSessionState", "status.bfdStatus", "string", ""),
    ("BGPSessionState", "status.bgpStatus", "string", ""),
    ("BGPSessionState", "status.node", "string", ""),
    ("BGPSessionState", "status.peer", "string", ""),
    ("BGPSessionState", "status.vrf", "string", ""),
    ("FRRK8sConfiguration", "spec", "object", ""),
    ("FRRK8sConfiguration", "spec.logLevel", "string", "enum=all|debug|info|warn|error|none"),
    ("FRRK8sConfiguration", "status", "object", ""),
];

/// Where deploy/frrk8s/crds.yaml deliberately differs from frr-k8s's schema, and why.
const FRRK8S_DIFFERENCES: &[(&str, &str, &str)] = &[(
    "spec.bgp.routers[].neighbors[].toAdvertise.withLocalPref[].localPref",
    "min=0",
    "frr-k8s's Go field is a uint32: the apiserver takes a negative value that its daemon then cannot read",
)];

fn crds() -> Vec<Value> {
    crds_of("deploy/crds.yaml")
}

fn crds_of(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).expect(file);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("a CRD"))
        .collect::<Vec<Value>>()
}

fn schema_type<'a>(crd: &'a Value, version: &str, path: &str) -> Option<&'a str> {
    let v = crd["spec"]["versions"].as_array()?.iter().find(|v| v["name"] == version)?;
    schema_at(v, path)?.get("type")?.as_str()
}

/// The schema of `path` (`a.b[].c`) in version `v`.
fn schema_at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut s = &v["schema"]["openAPIV3Schema"];
    for part in path.split('.') {
        let (name, items) = match part.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (part, false),
        };
        s = s.get("properties")?.get(name)?;
        if items {
            s = s.get("items")?;
        }
    }
    Some(s)
}

/// A schema's bounds and enum values, written as FRRK8S_FIELDS writes them.
fn constraints(s: &Value) -> String {
    let mut out = Vec::new();
    let num = |v: &Value| v.as_f64().map(|f| format!("{}", f as i64)).unwrap_or_default();
    if let Some(m) = s.get("minimum") {
        out.push(format!("min={}", num(m)));
    }
    if let Some(m) = s.get("maximum") {
        out.push(format!("max={}", num(m)));
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        let names: Vec<&str> = e.iter().filter_map(Value::as_str).collect();
        out.push(format!("enum={}", names.join("|")));
    }
    out.join(" ")
}

#[test]
fn every_frrk8s_field_is_here_with_its_type_bounds_and_values() {
    let crds = crds_of("deploy/frrk8s/crds.yaml");
    let mut differ = Vec::new();
    for (kind, path, ty, bounds) in FRRK8S_FIELDS {
        let crd = crds.iter().find(|c| c["spec"]["names"]["kind"] == *kind).expect("kind defined");
        assert_eq!(crd["spec"]["group"], "frrk8s.metallb.io", "{kind}");
        let v = crd["spec"]["versions"].as_array().and_then(|v| v.iter().find(|v| v["name"] == "v1beta1"));
        let Some(s) = v.and_then(|v| schema_at(v, path)) else {
            differ.push(format!("{kind} {path}: missing"));
            continue;
        };
        let (have_ty, have) = (s.get("type").and_then(Value::as_str).unwrap_or(""), constraints(s));
        let deliberate = FRRK8S_DIFFERENCES.iter().any(|(p, b, _)| p == path && *b == have);
        if have_ty != *ty || (have != *bounds && !deliberate) {
            differ.push(format!("{kind} {path}: want {ty} [{bounds}], have {have_ty} [{have}]"));
        }
    }
    assert!(differ.is_empty(), "not compatible with frr-k8s's CRDs:\n{}", differ.join("\n"));
    let scope = |k: &str| crds.iter().find(|c| c["spec"]["names"]["kind"] == k).map(|c| c["spec"]["scope"].clone());
    assert_eq!(scope("FRRNodeState"), Some("Cluster".into()));
    for k in ["FRRConfiguration", "BGPSessionState", "FRRK8sConfiguration"] {
        assert_eq!(scope(k), Some("Namespaced".into()), "{k}");
    }
    // The CEL rule of connectTime, and the field added after v0.0.25.
    let conf = crds.iter().find(|c| c["spec"]["names"]["kind"] == "FRRConfiguration").expect("defined");
    let v = &conf["spec"]["versions"][0];
    let connect = schema_at(v, "spec.bgp.routers[].neighbors[].connectTime").expect("connectTime");
    assert_eq!(connect["x-kubernetes-validations"].as_array().map(Vec::len), Some(2));
    assert!(schema_at(v, "spec.bgp.routers[].neighbors[].allowAsIn").is_some());
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
