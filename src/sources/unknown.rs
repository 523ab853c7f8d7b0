//! Fields that the metallb.io CRDs do not define, found the way the apiserver's strict field
//! validation finds them: by walking the object against the CRD's own OpenAPI schema (generated
//! from `model::crds`). File mode, `render` and `check` have no apiserver in front of them, so a
//! typo such as `peerAdress` would otherwise be ignored without a word. Pure.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

/// One unknown field: its path (`spec.peerAdress`) and the known field it is closest to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unknown {
    pub path: String,
    pub suggestion: Option<String>,
}

/// The openAPIV3Schema of each metallb.io kind, by kind.
fn schemas() -> &'static BTreeMap<String, Value> {
    static SCHEMAS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        crate::model::crds::all_crds()
            .into_iter()
            .filter_map(|crd| {
                let kind = crd.spec.names.kind.clone();
                let schema = crd.spec.versions.first()?.schema.as_ref()?.open_api_v3_schema.as_ref()?;
                Some((kind, serde_json::to_value(schema).ok()?))
            })
            .collect()
    })
}

/// The unknown fields of one metallb.io object of `kind` (metadata is the apiserver's business).
pub fn unknown_fields(kind: &str, obj: &Value) -> Vec<Unknown> {
    let mut out = Vec::new();
    let Some(schema) = schemas().get(kind) else { return out };
    if let Some(m) = obj.as_object() {
        for (k, v) in m.iter().filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata")) {
            walk(k, v, schema, "", &mut out);
        }
    }
    out.sort();
    out
}

/// Check field `key` (with value `v`) of an object whose schema is `parent`.
fn walk(key: &str, v: &Value, parent: &Value, prefix: &str, out: &mut Vec<Unknown>) {
    let path = if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") };
    let Some(props) = parent.get("properties").and_then(Value::as_object) else {
        // additionalProperties (a map such as matchLabels) or preserve-unknown-fields: anything goes.
        return;
    };
    let Some(schema) = props.get(key) else {
        let suggestion =
            closest(key, props.keys()).map(|k| if prefix.is_empty() { k } else { format!("{prefix}.{k}") });
        out.push(Unknown { path, suggestion });
        return;
    };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                walk(k, x, schema, &path, out);
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = schema.get("items") else { return };
            for (i, item) in items.iter().enumerate() {
                if let Some(m) = item.as_object() {
                    for (k, x) in m {
                        walk(k, x, item_schema, &format!("{path}[{i}]"), out);
                    }
                }
            }
        }
        _ => {}
    }
}

/// The known name closest to `name`: the same but for case, or within a small edit distance.
fn closest<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let limit = (name.len() / 3).clamp(1, 3);
    known
        .map(|k| {
            let d = if k.to_ascii_lowercase() == lower { 0 } else { distance(&lower, &k.to_ascii_lowercase()) };
            (d, k)
        })
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k.clone())
}

/// Levenshtein distance (insertions, deletions, substitutions), by bytes: names are ASCII.
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typos_are_found_with_what_was_meant() {
        let peer = json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
            "metadata": {"name": "p", "whatever": 1},
            "spec": {"myASN": 64512, "peerASN": 64500, "peerAdress": "192.0.2.1", "holdtime": "9s",
                     "nodeSelectors": [{"matchLabels": {"any": "label"}, "matchExpresions": []}],
                     "passwordSecret": {}, "zzzz": true}});
        let found = unknown_fields("BGPPeer", &peer);
        let got: Vec<(&str, Option<&str>)> = found.iter().map(|u| (u.path.as_str(), u.suggestion.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                ("spec.holdtime", Some("spec.holdTime")),
                ("spec.nodeSelectors[0].matchExpresions", Some("spec.nodeSelectors[0].matchExpressions")),
                ("spec.peerAdress", Some("spec.peerAddress")),
                ("spec.zzzz", None),
            ]
        );
        let pool = json!({"kind": "IPAddressPool", "spec": {"addresses": ["192.0.2.0/24"], "autoAssign": true}});
        assert!(unknown_fields("IPAddressPool", &pool).is_empty());
        assert!(unknown_fields("Service", &pool).is_empty(), "only metallb.io kinds are checked");
    }
}
