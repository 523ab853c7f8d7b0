//! Kubernetes YAML (one or many documents, `kind: List` too) to typed objects. Pure: text in,
//! objects and problems out. Kinds the agent does not read are skipped; an object that does not
//! parse becomes a problem naming its kind, namespace/name and the exact field.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_yaml_ng::Value;

use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::ObjectMeta;

use crate::index::{Extras, Obj, Object, EXTRAS_CONFIGMAP, EXTRAS_KEY};
use crate::model::core::{EndpointSliceInfo, NodeInfo, ObjKey, SecretInfo, ServiceInfo};
use crate::model::crds::{BfdProfile, BgpAdvertisement, BgpPeer, Community, IpAddressPool, L2Advertisement};
use crate::model::frrk8s::FrrConfiguration;
use crate::problem::{Kind, Problem};

/// What one document (or List item) turned into.
// Parsed once per document and consumed at once: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Parsed {
    Object(Object),
    /// A kind the agent reads, but the object is malformed.
    Unreadable(Problem),
    /// Something about an object that was read (a field the schema does not define): a warning.
    Note(Problem),
}

/// Parse a YAML stream. `origin` names the file in problems about the stream itself; `default_ns`
/// is the namespace of namespaced objects that do not say one (as `kubectl apply -n` would).
pub fn parse_stream(text: &str, origin: &str, default_ns: &str) -> Vec<Parsed> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        match Value::deserialize(doc) {
            Ok(v) => parse_value(v, default_ns, &mut out),
            Err(e) => {
                out.push(Parsed::Unreadable(Problem::error(
                    Kind::Manifest,
                    &ObjKey::new("", origin),
                    format!("document {}", i + 1),
                    format!("not valid YAML: {e}"),
                )));
                // The YAML parser cannot resume inside a broken stream.
                break;
            }
        }
    }
    out
}

/// One object in JSON form (as a Kubernetes watch delivers it), with the same rules as a document.
pub fn parse_json(v: serde_json::Value, default_ns: &str) -> Vec<Parsed> {
    let mut out = Vec::new();
    match serde_yaml_ng::to_value(v) {
        Ok(y) => parse_value(y, default_ns, &mut out),
        Err(e) => out.push(Parsed::Unreadable(Problem::error(Kind::Manifest, &ObjKey::default(), "", e.to_string()))),
    }
    out
}

fn parse_value(v: Value, default_ns: &str, out: &mut Vec<Parsed>) {
    if v.is_null() {
        return;
    }
    let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_string();
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    if kind == "List" || (kind.ends_with("List") && v.get("items").is_some()) {
        if let Some(Value::Sequence(items)) = v.get("items").cloned() {
            for item in items {
                parse_value(item, default_ns, out);
            }
        }
        return;
    }
    // MetalLB's objects whose spec fields are all optional may omit `spec` (its documented
    // minimal BGPAdvertisement has none).
    let mut v = v;
    let spec_optional = [is::<BgpAdvertisement>, is::<L2Advertisement>, is::<BfdProfile>, is::<Community>];
    if spec_optional.iter().any(|is_kind| is_kind(group, &kind)) {
        if let Value::Mapping(m) = &mut v {
            m.entry(Value::from("spec")).or_insert_with(|| Value::Mapping(Default::default()));
        }
    }
    let notes = if group == <BgpPeer as kube::Resource>::group(&()) {
        unknown_field_notes(&v, &kind, default_ns)
    } else {
        Vec::new()
    };
    let parsed = match (group, kind.as_str()) {
        (g, k) if is::<BgpPeer>(g, k) => {
            typed::<BgpPeer>(v, Kind::BGPPeer, default_ns).map(|o| Object::Peer(obj(&o.metadata, o.spec, default_ns)))
        }
        (g, k) if is::<BgpAdvertisement>(g, k) => typed::<BgpAdvertisement>(v, Kind::BGPAdvertisement, default_ns)
            .map(|o| Object::Advertisement(obj(&o.metadata, o.spec, default_ns))),
        (g, k) if is::<IpAddressPool>(g, k) => typed::<IpAddressPool>(v, Kind::IPAddressPool, default_ns)
            .map(|o| Object::Pool(obj(&o.metadata, o.spec, default_ns))),
        (g, k) if is::<BfdProfile>(g, k) => typed::<BfdProfile>(v, Kind::BFDProfile, default_ns)
            .map(|o| Object::BfdProfile(obj(&o.metadata, o.spec, default_ns))),
        (g, k) if is::<Community>(g, k) => typed::<Community>(v, Kind::Community, default_ns)
            .map(|o| Object::Community(obj(&o.metadata, o.spec, default_ns))),
        (g, k) if is::<L2Advertisement>(g, k) => typed::<L2Advertisement>(v, Kind::L2Advertisement, default_ns)
            .map(|o| Object::L2Advertisement(obj(&o.metadata, o.spec, default_ns))),
        (g, k) if is::<FrrConfiguration>(g, k) => typed::<FrrConfiguration>(v, Kind::FRRConfiguration, default_ns)
            .map(|o| Object::FrrConfiguration(obj(&o.metadata, o.spec, default_ns))),
        // Of ConfigMaps only MetalLB's `bgpextras` (in the config namespace) is the agent's.
        (g, k) if is::<ConfigMap>(g, k) && is_extras(&v, default_ns) => {
            typed::<ConfigMap>(v, Kind::ConfigMap, default_ns).map(|c| {
                let text = c.data.as_ref().and_then(|d| d.get(EXTRAS_KEY)).cloned().unwrap_or_default();
                Object::Extras(Extras { key: meta_key(&c.metadata, default_ns), text })
            })
        }
        (g, k) if is::<Service>(g, k) => typed::<Service>(v, Kind::Service, "default").map(|mut s| {
            s.metadata.namespace.get_or_insert_with(|| "default".into());
            Object::Service(ServiceInfo::from_resource(&s))
        }),
        (g, k) if is::<EndpointSlice>(g, k) => {
            typed::<EndpointSlice>(v, Kind::EndpointSlice, "default").map(|mut s| {
                s.metadata.namespace.get_or_insert_with(|| "default".into());
                Object::EndpointSlice(EndpointSliceInfo::from_resource(&s))
            })
        }
        (g, k) if is::<Node>(g, k) => {
            typed::<Node>(v, Kind::Node, "").map(|n| Object::Node(NodeInfo::from_resource(&n)))
        }
        (g, k) if is::<Secret>(g, k) => typed::<Secret>(v, Kind::Secret, default_ns).map(|mut s| {
            s.metadata.namespace.get_or_insert_with(|| default_ns.into());
            Object::Secret(SecretInfo::from_resource(&s))
        }),
        // Kinds the agent does not read (Deployments, Namespaces, ...) are not its business.
        _ => return,
    };
    out.push(match parsed {
        Ok(o) => Parsed::Object(o),
        Err(p) => Parsed::Unreadable(p),
    });
    out.extend(notes.into_iter().map(Parsed::Note));
}

/// A warning for each field of a metallb.io object that its CRD does not define (the apiserver
/// would prune it; here it would be ignored without a word), naming what was probably meant.
fn unknown_field_notes(v: &Value, kind: &str, default_ns: &str) -> Vec<Problem> {
    let Some(k) = crate::problem::Kind::from_name(kind) else { return Vec::new() };
    let Ok(json) = serde_json::to_value(v) else { return Vec::new() };
    let meta = json.get("metadata");
    let field = |f: &str| meta.and_then(|m| m.get(f)).and_then(serde_json::Value::as_str).map(str::to_string);
    let key =
        ObjKey::new(field("namespace").unwrap_or_else(|| default_ns.to_string()), field("name").unwrap_or_default());
    super::unknown::unknown_fields(kind, &json)
        .into_iter()
        .map(|u| {
            let hint = u.suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default();
            Problem::warning(k, &key, u.path, format!("unknown field: ignored{hint}"))
        })
        .collect()
}

/// Is (`group`, `kind`) the API's name of `K`? The names come from the Rust types (kube's
/// `Resource`), not from a table beside them.
fn is<K: kube::Resource<DynamicType = ()>>(group: &str, kind: &str) -> bool {
    K::group(&()) == group && K::kind(&()) == kind
}

/// A ConfigMap named `bgpextras` in the config namespace (or without a namespace, in a file).
fn is_extras(v: &Value, default_ns: &str) -> bool {
    let meta = v.get("metadata");
    let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str);
    let ns = meta.and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or(default_ns);
    name == Some(EXTRAS_CONFIGMAP) && ns == default_ns
}

fn meta_key(meta: &ObjectMeta, default_ns: &str) -> ObjKey {
    ObjKey::new(meta.namespace.clone().unwrap_or_else(|| default_ns.to_string()), meta.name.clone().unwrap_or_default())
}

fn labels(meta: &ObjectMeta) -> std::collections::BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

/// Deserialize into `T`, naming the field that failed (`spec.holdTime`).
/// A custom resource's key, labels and spec.
fn obj<S>(meta: &ObjectMeta, spec: S, default_ns: &str) -> Obj<S> {
    Obj { key: meta_key(meta, default_ns), labels: labels(meta), spec }
}

fn typed<T: DeserializeOwned + HasMeta>(v: Value, kind: Kind, default_ns: &str) -> Result<T, Problem> {
    // Name the object from its metadata even when the rest does not parse.
    let meta_key = ObjKey::new(
        v.get("metadata").and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or(default_ns),
        v.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or(""),
    );
    // Directly first; only a failure is deserialized again to name the field (tracking the path
    // of every field costs a third of the parse at 200,000 objects).
    let t: T = match T::deserialize(&v) {
        Ok(t) => t,
        Err(direct) => {
            let field = match serde_path_to_error::deserialize::<_, T>(&v) {
                Err(e) => Some(e.path().to_string()).filter(|p| p != ".").unwrap_or_default(),
                Ok(_) => String::new(),
            };
            return Err(Problem::error(kind, &meta_key, field, direct.to_string()));
        }
    };
    let name = t.meta().name.as_deref().unwrap_or("");
    if name.is_empty() {
        return Err(Problem::error(kind, &meta_key, "metadata.name", "is required"));
    }
    // What the apiserver would refuse: in file mode nothing else stops a name with a newline from
    // reaching logs, metrics labels or status.
    if let Some(why) = invalid_subdomain(name) {
        return Err(Problem::error(kind, &meta_key, "metadata.name", format!("not a valid Kubernetes name: {why}")));
    }
    if let Some(ns) = t.meta().namespace.as_deref() {
        if let Some(why) = invalid_label(ns) {
            return Err(Problem::error(kind, &meta_key, "metadata.namespace", format!("not a valid namespace: {why}")));
        }
    }
    Ok(t)
}

/// Why `s` is not a DNS-1123 subdomain (object names), if it is not.
fn invalid_subdomain(s: &str) -> Option<&'static str> {
    if s.len() > 253 {
        return Some("longer than 253 characters");
    }
    s.split('.').find_map(|part| {
        invalid_label(part).map(|_| "lower-case letters, digits, '-' and '.' only, alphanumeric at both ends")
    })
}

/// Why `s` is not a DNS-1123 label (namespaces), if it is not.
fn invalid_label(s: &str) -> Option<&'static str> {
    let ok_chars = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_ends = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    if s.is_empty() || s.len() > 63 {
        Some("1 to 63 characters")
    } else if !ok_chars || !ok_ends {
        Some("lower-case letters, digits and '-' only, alphanumeric at both ends")
    } else {
        None
    }
}

/// Objects whose metadata `typed` checks.
trait HasMeta {
    fn meta(&self) -> &ObjectMeta;
}

macro_rules! has_meta {
    ($($t:ty),*) => { $(impl HasMeta for $t { fn meta(&self) -> &ObjectMeta { &self.metadata } })* };
}
has_meta!(
    BgpPeer,
    BgpAdvertisement,
    L2Advertisement,
    IpAddressPool,
    BfdProfile,
    Community,
    Service,
    EndpointSlice,
    Node,
    Secret,
    FrrConfiguration,
    ConfigMap
);

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(text: &str) -> Vec<Parsed> {
        parse_stream(text, "test.yaml", "metallb-system")
    }

    #[test]
    fn multi_document_and_lists() {
        let text = r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: a}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.1}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: node1, labels: {zone: a}}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: ignored}
---
"#;
        let got = objects(text);
        assert_eq!(got.len(), 2, "{got:?}");
        match &got[0] {
            Parsed::Object(Object::Peer(p)) => {
                assert_eq!(p.key, ObjKey::new("metallb-system", "a"));
                assert_eq!(p.spec.peer_asn, Some(64500));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(&got[1], Parsed::Object(Object::Node(n)) if n.name == "node1"));
    }

    #[test]
    fn malformed_field_is_named() {
        let text = r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: bad, namespace: metallb-system}
spec: {myASN: -1, peerASN: 64500, peerAddress: 192.0.2.1}
"#;
        let got = objects(text);
        match &got[0] {
            Parsed::Unreadable(p) => {
                assert_eq!(p.kind, Kind::BGPPeer);
                assert_eq!(p.object, ObjKey::new("metallb-system", "bad"));
                assert_eq!(p.field, "spec.myASN");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn broken_yaml_is_a_manifest_problem() {
        let got = objects("a: [1, 2\n");
        assert!(matches!(&got[0], Parsed::Unreadable(p) if p.kind == Kind::Manifest));
    }

    #[test]
    fn secret_password_from_data_and_string_data() {
        let text = r#"
apiVersion: v1
kind: Secret
metadata: {name: s1}
type: kubernetes.io/basic-auth
data: {password: aHVudGVyMg==}
---
apiVersion: v1
kind: Secret
metadata: {name: s2}
type: kubernetes.io/basic-auth
stringData: {password: plain}
"#;
        let got = objects(text);
        let pw: Vec<String> = got
            .iter()
            .map(|p| match p {
                Parsed::Object(Object::Secret(s)) => {
                    s.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default()
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(pw, vec!["hunter2".to_string(), "plain".to_string()]);
        assert!(!format!("{got:?}").contains("hunter2"), "Debug output must not show passwords");
    }
}
