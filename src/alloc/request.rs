//! What a Service asks of the allocator, read from its spec and MetalLB's annotations (both the
//! `metallb.io/` names and the deprecated `metallb.universe.tf/` ones).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;

use crate::model::core::ObjKey;

pub const LOAD_BALANCER_IPS: [&str; 2] = ["metallb.io/loadBalancerIPs", "metallb.universe.tf/loadBalancerIPs"];
pub const ADDRESS_POOL: [&str; 2] = ["metallb.io/address-pool", "metallb.universe.tf/address-pool"];
pub const SHARED_IP: [&str; 2] = ["metallb.io/allow-shared-ip", "metallb.universe.tf/allow-shared-ip"];

/// Address families a Service wants (`true` = IPv4), from spec.ipFamilyPolicy and spec.ipFamilies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Families {
    Single(bool),
    /// Both when one pool has both, else the first family.
    PreferDual(bool),
    RequireDual(bool),
}

impl Families {
    /// Family lists to try, best first.
    pub fn options(&self) -> Vec<Vec<bool>> {
        match *self {
            Families::Single(v4) => vec![vec![v4]],
            Families::PreferDual(v4) => vec![vec![v4, !v4], vec![v4]],
            Families::RequireDual(v4) => vec![vec![v4, !v4]],
        }
    }

    /// Do these addresses fit (one per family, a set this Service accepts)?
    pub fn accepts(&self, ips: &[IpAddr]) -> bool {
        let mut fams: Vec<bool> = ips.iter().map(|ip| ip.is_ipv4()).collect();
        fams.sort();
        if fams.windows(2).any(|w| w[0] == w[1]) {
            return false;
        }
        self.options().iter().any(|o| {
            let mut o = o.clone();
            o.sort();
            o == fams
        })
    }
}

/// One Service's request.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub key: ObjKey,
    pub labels: BTreeMap<String, String>,
    pub namespace_labels: BTreeMap<String, String>,
    pub families: Families,
    /// Addresses asked for by annotation or spec.loadBalancerIP.
    pub requested: Vec<IpAddr>,
    /// `metallb.io/address-pool`.
    pub pool: Option<String>,
    /// `metallb.io/allow-shared-ip`.
    pub sharing: Option<String>,
    /// (protocol, port) of spec.ports.
    pub ports: Vec<(String, i32)>,
    pub etp_local: bool,
    pub selector: BTreeMap<String, String>,
    /// What status.loadBalancer.ingress holds now.
    pub current: Vec<IpAddr>,
    /// The request itself is wrong (the message names the field).
    pub invalid: Option<String>,
}

fn annotation<'a>(svc: &'a Service, names: &[&str]) -> Option<(&'a str, String)> {
    let a = svc.metadata.annotations.as_ref()?;
    names.iter().find_map(|n| a.get(*n).map(|v| (v.as_str(), n.to_string())))
}

/// Is this Service the allocator's business? Type LoadBalancer, and spec.loadBalancerClass equal to
/// `lb_class` (or unset when no class is configured).
pub fn handles(svc: &Service, lb_class: Option<&str>) -> bool {
    let spec = svc.spec.as_ref();
    spec.and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
        && spec.and_then(|s| s.load_balancer_class.as_deref()) == lb_class
}

/// The Service's request, or None when it is not the allocator's business.
pub fn request_for(
    svc: &Service,
    namespace_labels: &BTreeMap<String, String>,
    lb_class: Option<&str>,
) -> Option<Request> {
    if !handles(svc, lb_class) {
        return None;
    }
    let spec = svc.spec.clone().unwrap_or_default();
    let key = ObjKey::new(
        svc.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    // The first problem found is the one reported.
    let mut errs: Vec<String> = Vec::new();
    let v4_first = spec.ip_families.as_ref().and_then(|f| f.first()).map(|f| f != "IPv6").unwrap_or(true);
    let mut families = match spec.ip_family_policy.as_deref() {
        None | Some("SingleStack") => Families::Single(v4_first),
        Some("PreferDualStack") => Families::PreferDual(v4_first),
        Some("RequireDualStack") => Families::RequireDual(v4_first),
        Some(other) => {
            errs.push(format!("spec.ipFamilyPolicy: unknown policy {:?}", crate::grammar::values::excerpt(other)));
            Families::Single(v4_first)
        }
    };
    let mut requested = Vec::new();
    let by_annotation = annotation(svc, &LOAD_BALANCER_IPS);
    let by_spec = spec.load_balancer_ip.as_deref().filter(|s| !s.is_empty());
    let (text, field) = match (&by_annotation, by_spec) {
        (Some(_), Some(_)) => {
            errs.push(format!(
                "spec.loadBalancerIP and metadata.annotations[{}] are both set: use only the annotation",
                LOAD_BALANCER_IPS[0]
            ));
            (None, String::new())
        }
        (Some((v, name)), None) => (Some(*v), format!("metadata.annotations[{name}]")),
        (None, Some(v)) => (Some(v), "spec.loadBalancerIP".to_string()),
        (None, None) => (None, String::new()),
    };
    if let Some(text) = text {
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match crate::grammar::values::parse_unicast_ip(part) {
                Ok(ip) => requested.push(ip),
                Err(e) => errs.push(format!("{field}: {e}")),
            }
        }
        if errs.is_empty() {
            let v4 = requested.iter().filter(|ip| ip.is_ipv4()).count();
            let v6 = requested.len() - v4;
            if requested.is_empty() {
                errs.push(format!("{field}: no address given"));
            } else if v4 > 1 || v6 > 1 {
                errs.push(format!("{field}: at most one IPv4 and one IPv6 address"));
            } else if !families.accepts(&requested) {
                let policy = spec.ip_family_policy.as_deref().unwrap_or("SingleStack");
                errs.push(format!("{field}: {} address(es) do not fit ipFamilyPolicy {policy}", requested.len()));
            } else {
                families = match requested.len() {
                    1 => Families::Single(v4 == 1),
                    _ => Families::RequireDual(requested[0].is_ipv4()),
                };
            }
        }
    }
    let pool = annotation(svc, &ADDRESS_POOL).map(|(v, _)| v.to_string());
    let sharing = annotation(svc, &SHARED_IP).map(|(v, _)| v.to_string());
    let ports =
        spec.ports.iter().flatten().map(|p| (p.protocol.clone().unwrap_or_else(|| "TCP".into()), p.port)).collect();
    let current = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|ing| ing.iter().filter_map(|i| i.ip.as_deref()?.parse().ok()).collect())
        .unwrap_or_default();
    Some(Request {
        key,
        labels: svc.metadata.labels.clone().unwrap_or_default(),
        namespace_labels: namespace_labels.clone(),
        families,
        requested,
        pool,
        sharing,
        ports,
        etp_local: spec.external_traffic_policy.as_deref() == Some("Local"),
        selector: spec.selector.clone().unwrap_or_default(),
        current,
        invalid: errs.into_iter().next(),
    })
}
