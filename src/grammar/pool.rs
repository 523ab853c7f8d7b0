//! The one validation of an IPAddressPool, for the speaker (which addresses it may announce) and
//! the allocator (which it may hand out): both must agree on what a pool holds. Overlaps between
//! pools are a relation between objects and are checked by each caller against the pools it keeps.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::range::{parse_range, ranges_overlap};
use super::selector::any_matches;
use super::values::excerpt;
use crate::model::crds::IpAddressPoolSpec;

/// A field error: (field path, message).
pub type FieldError = (String, String);

/// What a valid IPAddressPool says.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedPool {
    /// Inclusive ranges, in the order of spec.addresses; no two overlap.
    pub ranges: Vec<(IpAddr, IpAddr)>,
    pub auto_assign: bool,
    pub avoid_buggy_ips: bool,
    pub allocation: Option<Allocation>,
    /// What is accepted but worth knowing (a CIDR with host bits), by field.
    pub warnings: Vec<FieldError>,
}

/// MetalLB's `serviceAllocation`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Allocation {
    pub priority: Option<i32>,
    pub namespaces: Vec<String>,
    pub namespace_selectors: Vec<LabelSelector>,
    pub service_selectors: Vec<LabelSelector>,
}

/// Validate a pool's spec; every error names its field.
pub fn check(spec: &IpAddressPoolSpec) -> Result<CheckedPool, Vec<FieldError>> {
    let mut errs: Vec<FieldError> = Vec::new();
    if spec.addresses.is_empty() {
        errs.push(("spec.addresses".into(), "must list at least one CIDR or range".into()));
    }
    let mut ranges: Vec<(IpAddr, IpAddr)> = Vec::new();
    let mut warnings: Vec<FieldError> = Vec::new();
    for (i, a) in spec.addresses.iter().enumerate() {
        match parse_range(a) {
            Ok(((first, last), note)) => {
                warnings.extend(note.map(|n| (format!("spec.addresses[{i}]"), n)));
                if ranges.iter().any(|r| ranges_overlap(*r, (first, last))) {
                    errs.push(("spec.addresses".into(), format!("{first}-{last} overlaps another entry of this pool")));
                }
                ranges.push((first, last));
            }
            Err(e) => errs.push((format!("spec.addresses[{i}]"), e)),
        }
    }
    let allocation = spec.service_allocation.as_ref().map(|a| Allocation {
        priority: a.priority,
        namespaces: a.namespaces.clone(),
        namespace_selectors: a.namespace_selectors.clone(),
        service_selectors: a.service_selectors.clone(),
    });
    if let Some(a) = &allocation {
        for (i, ns) in a.namespaces.iter().enumerate() {
            if a.namespaces[..i].contains(ns) {
                errs.push((
                    format!("spec.serviceAllocation.namespaces[{i}]"),
                    format!("{:?} is listed twice", excerpt(ns)),
                ));
            }
        }
        let empty = BTreeMap::new();
        for (field, sels) in
            [("namespaceSelectors", &a.namespace_selectors), ("serviceSelectors", &a.service_selectors)]
        {
            if let Err((i, e)) = any_matches(sels, &empty) {
                errs.push((format!("spec.serviceAllocation.{field}[{i}]"), e));
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(CheckedPool {
        ranges,
        auto_assign: spec.auto_assign.unwrap_or(true),
        avoid_buggy_ips: spec.avoid_buggy_ips.unwrap_or(false),
        allocation,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(addresses: &[&str]) -> IpAddressPoolSpec {
        IpAddressPoolSpec { addresses: addresses.iter().map(|a| a.to_string()).collect(), ..Default::default() }
    }

    #[test]
    fn every_bad_entry_is_named() {
        let errs = check(&spec(&["203.0.113.0/24", "nonsense", "203.0.113.128-203.0.113.130"])).expect_err("invalid");
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(errs[0].0, "spec.addresses[1]");
        assert_eq!(
            errs[1],
            ("spec.addresses".into(), "203.0.113.128-203.0.113.130 overlaps another entry of this pool".into())
        );
        assert!(check(&spec(&[])).is_err());
        let ok = check(&spec(&["203.0.113.0/25", "2001:db8::/120"])).expect("valid");
        assert_eq!(ok.ranges.len(), 2);
        assert!(ok.auto_assign && !ok.avoid_buggy_ips);
    }
}
