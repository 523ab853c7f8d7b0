//! Kubernetes label selectors (metav1.LabelSelector) as MetalLB uses them: a list of selectors
//! matches when any one matches; an empty list matches everything.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// Does one selector match `labels`? An invalid selector is an error naming the bad part.
pub fn matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    let mut ok = true;
    if let Some(ml) = &sel.match_labels {
        for (k, v) in ml {
            ok &= labels.get(k) == Some(v);
        }
    }
    let exprs = sel.match_expressions.as_deref().unwrap_or(&[]);
    for (i, expr) in exprs.iter().enumerate() {
        let values = expr.values.as_deref().unwrap_or(&[]);
        let here = |msg: &str| format!("matchExpressions[{i}]: {msg}");
        // As MetalLB (the apiserver's selector parsing) refuses them.
        if expr.key.is_empty() {
            return Err(here("key must not be empty"));
        }
        if let Some(j) = exprs[..i].iter().position(|e| same_expression(e, expr)) {
            return Err(here(&format!("the same expression as matchExpressions[{j}]")));
        }
        if let Some(v) = values.iter().enumerate().find_map(|(k, v)| values[..k].contains(v).then_some(v)) {
            return Err(here(&format!("value {:?} is listed twice", super::values::excerpt(v))));
        }
        let present = labels.get(&expr.key);
        let hit = match expr.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(here(&format!("operator {} needs at least one value", expr.operator)))
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(here(&format!("operator {} takes no values", expr.operator)))
            }
            "In" => present.is_some_and(|v| values.contains(v)),
            "NotIn" => !present.is_some_and(|v| values.contains(v)),
            "Exists" => present.is_some(),
            "DoesNotExist" => present.is_none(),
            other => {
                return Err(here(&format!(
                    "unknown operator {:?} (want In, NotIn, Exists or DoesNotExist)",
                    super::values::excerpt(other)
                )))
            }
        };
        ok &= hit;
    }
    Ok(ok)
}

/// Any of `sels` matches (all when empty). The error names the index of the bad selector.
pub fn any_matches(sels: &[LabelSelector], labels: &BTreeMap<String, String>) -> Result<bool, (usize, String)> {
    if sels.is_empty() {
        return Ok(true);
    }
    let mut any = false;
    // Evaluate every selector so that an invalid one is reported even after a match.
    for (i, s) in sels.iter().enumerate() {
        any |= matches(s, labels).map_err(|e| (i, e))?;
        // A selector listed twice is refused, as MetalLB does.
        if let Some(j) = sels[..i].iter().position(|o| same_selector(o, s)) {
            return Err((i, format!("the same selector as [{j}]")));
        }
    }
    Ok(any)
}

/// Equal expressions, whatever the order of their values.
fn same_expression(a: &LabelSelectorRequirement, b: &LabelSelectorRequirement) -> bool {
    let sorted = |r: &LabelSelectorRequirement| {
        let mut v = r.values.clone().unwrap_or_default();
        v.sort();
        v
    };
    a.key == b.key && a.operator == b.operator && sorted(a) == sorted(b)
}

/// Equal selectors, whatever the order of their expressions and values.
fn same_selector(a: &LabelSelector, b: &LabelSelector) -> bool {
    let exprs = |s: &LabelSelector| s.match_expressions.clone().unwrap_or_default();
    let (ea, eb) = (exprs(a), exprs(b));
    a.match_labels.clone().unwrap_or_default() == b.match_labels.clone().unwrap_or_default()
        && ea.len() == eb.len()
        && ea.iter().all(|x| eb.iter().any(|y| same_expression(x, y)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: if values.is_empty() { None } else { Some(values.iter().map(|s| s.to_string()).collect()) },
            }]),
            match_labels: None,
        }
    }

    #[test]
    fn operators() {
        let l = labels(&[("zone", "a"), ("role", "edge")]);
        assert_eq!(matches(&expr("zone", "In", &["a", "b"]), &l), Ok(true));
        assert_eq!(matches(&expr("zone", "NotIn", &["a"]), &l), Ok(false));
        assert_eq!(matches(&expr("missing", "NotIn", &["a"]), &l), Ok(true));
        assert_eq!(matches(&expr("role", "Exists", &[]), &l), Ok(true));
        assert_eq!(matches(&expr("role", "DoesNotExist", &[]), &l), Ok(false));
        assert!(matches(&expr("role", "Exists", &["x"]), &l).is_err());
        assert!(matches(&expr("role", "In", &[]), &l).is_err());
        assert!(matches(&expr("role", "Gt", &["1"]), &l).is_err());
        let ml = LabelSelector { match_labels: Some(labels(&[("zone", "a")])), match_expressions: None };
        assert_eq!(matches(&ml, &l), Ok(true));
        assert_eq!(matches(&ml, &labels(&[])), Ok(false));
        assert_eq!(any_matches(&[], &l), Ok(true));
        assert_eq!(any_matches(&[ml.clone(), expr("zone", "Bad", &[])], &l).map_err(|e| e.0), Err(1));
    }

    #[test]
    fn what_metallb_refuses() {
        let l = labels(&[]);
        assert!(matches(&expr("", "Exists", &[]), &l).expect_err("refused").contains("key must not be empty"));
        assert!(matches(&expr("zone", "In", &["a", "a"]), &l).expect_err("refused").contains("listed twice"));
        let mut twice = expr("zone", "In", &["a", "b"]);
        let again = expr("zone", "In", &["b", "a"]).match_expressions.expect("one");
        twice.match_expressions.as_mut().expect("one").extend(again);
        assert!(matches(&twice, &l).expect_err("refused").contains("the same expression as matchExpressions[0]"));
        let dup = [expr("zone", "In", &["a", "b"]), expr("role", "Exists", &[]), expr("zone", "In", &["b", "a"])];
        assert_eq!(any_matches(&dup, &l), Err((2, "the same selector as [0]".to_string())));
    }
}
