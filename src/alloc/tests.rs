#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

fn pool(v: serde_json::Value) -> Pool {
    let p: IpAddressPool = serde_json::from_value(v).unwrap();
    Pool::from_object(&p).unwrap()
}

fn simple(name: &str, addrs: &[&str]) -> Pool {
    pool(json!({"metadata": {"name": name, "namespace": "metallb-system"}, "spec": {"addresses": addrs}}))
}

fn svc(v: serde_json::Value) -> Service {
    let mut v = v;
    if v["metadata"]["namespace"].is_null() {
        v["metadata"]["namespace"] = json!("default");
    }
    if v["spec"]["type"].is_null() {
        v["spec"]["type"] = json!("LoadBalancer");
    }
    serde_json::from_value(v).unwrap()
}

use k8s_openapi::api::core::v1::Service;

fn req(v: serde_json::Value) -> Request {
    request_for(&svc(v), &BTreeMap::new(), None).unwrap()
}

fn named(name: &str) -> Request {
    req(json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}))
}

fn ips(a: &Assigned) -> Vec<String> {
    a.ips.iter().map(|i| i.to_string()).collect()
}

#[test]
fn hands_out_addresses_in_order_and_reuses_released_ones() {
    let mut al = Allocator::new(vec![simple("p", &["192.0.2.0/30"])]);
    let got: Vec<Vec<String>> = ["a", "b", "c", "d"].iter().map(|n| ips(&al.assign(&named(n)).unwrap())).collect();
    assert_eq!(got, [["192.0.2.0"], ["192.0.2.1"], ["192.0.2.2"], ["192.0.2.3"]]);
    assert_eq!(al.assign(&named("e")).unwrap_err().to_string(), "no available IPs in pool \"p\"");
    al.release(&ObjKey::new("default", "b"));
    assert_eq!(ips(&al.assign(&named("e")).unwrap()), ["192.0.2.1"]);
    let s = al.stats()["p"].clone();
    assert_eq!(s, PoolStats { assigned_v4: 4, available_v4: 0, ..Default::default() });
}

#[test]
fn avoid_buggy_ips_and_sizes() {
    let p = pool(
        json!({"metadata": {"name": "p"}, "spec": {"addresses": ["192.0.2.0/24", "198.51.100.255-198.51.101.0", "2001:db8::/64"], "avoidBuggyIPs": true}}),
    );
    assert_eq!(p.size(true), 254);
    assert_eq!(p.size(false), 1u128 << 64);
    let mut al = Allocator::new(vec![p]);
    assert_eq!(ips(&al.assign(&named("a")).unwrap()), ["192.0.2.1"]);
    let explicit =
        req(json!({"metadata": {"name": "x", "annotations": {"metallb.io/loadBalancerIPs": "192.0.2.255"}}}));
    assert!(matches!(al.assign(&explicit), Err(AllocError::NotInPool { .. })));
    let s = al.stats()["p"].clone();
    assert_eq!((s.assigned_v4, s.available_v4, s.available_v6), (1, 253, i64::MAX as u64));
}

#[test]
fn auto_assign_false_serves_only_explicit_requests() {
    let mut al = Allocator::new(vec![
        pool(json!({"metadata": {"name": "manual"}, "spec": {"addresses": ["198.51.100.0/30"], "autoAssign": false}})),
        simple("auto", &["192.0.2.0/30"]),
    ]);
    assert_eq!(al.assign(&named("a")).unwrap().pool, "auto");
    let by_pool = req(json!({"metadata": {"name": "b", "annotations": {"metallb.io/address-pool": "manual"}}}));
    assert_eq!(
        al.assign(&by_pool).unwrap(),
        Assigned { pool: "manual".into(), ips: vec!["198.51.100.0".parse().unwrap()] }
    );
    let by_ip = req(json!({"metadata": {"name": "c"}, "spec": {"loadBalancerIP": "198.51.100.2"}}));
    assert_eq!(al.assign(&by_ip).unwrap().pool, "manual");
    let deprecated =
        req(json!({"metadata": {"name": "d", "annotations": {"metallb.universe.tf/address-pool": "nope"}}}));
    assert_eq!(al.assign(&deprecated).unwrap_err().to_string(), "pool \"nope\" does not exist");
}

#[test]
fn explicit_addresses_and_conflicts() {
    let mut al = Allocator::new(vec![simple("p", &["192.0.2.0/24", "2001:db8::/120"])]);
    let a = req(json!({"metadata": {"name": "a", "annotations": {"metallb.io/loadBalancerIPs": "192.0.2.7"}}}));
    assert_eq!(ips(&al.assign(&a).unwrap()), ["192.0.2.7"]);
    let b =
        req(json!({"metadata": {"name": "b", "annotations": {"metallb.universe.tf/loadBalancerIPs": "192.0.2.7"}}}));
    assert_eq!(al.assign(&b).unwrap_err().to_string(), "192.0.2.7 is already in use by default/a");
    // Automatic allocation skips the taken address.
    for n in 0..8 {
        let got = al.assign(&named(&format!("n{n}"))).unwrap();
        assert_ne!(ips(&got), ["192.0.2.7"]);
    }
    let outside = req(json!({"metadata": {"name": "c"}, "spec": {"loadBalancerIP": "203.0.113.1"}}));
    assert_eq!(
        al.assign(&outside).unwrap_err().to_string(),
        "203.0.113.1 is not in any IPAddressPool this Service may use"
    );
    let both = req(
        json!({"metadata": {"name": "d", "annotations": {"metallb.io/loadBalancerIPs": "192.0.2.9"}}, "spec": {"loadBalancerIP": "192.0.2.9"}}),
    );
    assert!(al.assign(&both).unwrap_err().to_string().contains("both set"));
    let garbage =
        req(json!({"metadata": {"name": "e", "annotations": {"metallb.io/loadBalancerIPs": "192.0.2.9\nexit"}}}));
    assert!(al
        .assign(&garbage)
        .unwrap_err()
        .to_string()
        .starts_with("metadata.annotations[metallb.io/loadBalancerIPs]: "));
    let two_v4 = req(
        json!({"metadata": {"name": "f", "annotations": {"metallb.io/loadBalancerIPs": "192.0.2.9,192.0.2.10"}}, "spec": {"ipFamilyPolicy": "RequireDualStack"}}),
    );
    assert!(al.assign(&two_v4).unwrap_err().to_string().contains("at most one IPv4"));
    let dual = req(
        json!({"metadata": {"name": "g", "annotations": {"metallb.io/loadBalancerIPs": "192.0.2.9, 2001:db8::9"}}, "spec": {"ipFamilyPolicy": "RequireDualStack"}}),
    );
    assert_eq!(ips(&al.assign(&dual).unwrap()), ["192.0.2.9", "2001:db8::9"]);
    let single = req(
        json!({"metadata": {"name": "h", "annotations": {"metallb.io/loadBalancerIPs": "192.0.2.11,2001:db8::11"}}}),
    );
    assert!(al.assign(&single).unwrap_err().to_string().contains("do not fit ipFamilyPolicy SingleStack"));
}

fn shared(name: &str, key: &str, port: i32, etp: &str) -> Request {
    req(json!({"metadata": {"name": name, "annotations": {"metallb.io/allow-shared-ip": key}},
        "spec": {"ports": [{"port": port}], "externalTrafficPolicy": etp, "selector": {"app": name}}}))
}

#[test]
fn sharing_rules() {
    let mut al = Allocator::new(vec![simple("p", &["192.0.2.0/28"])]);
    let a = al.assign(&shared("a", "k", 80, "Cluster")).unwrap();
    let b = al.assign(&shared("b", "k", 443, "Cluster")).unwrap();
    assert_eq!(a.ips, b.ips, "same key, other port: shared");
    // Same key and port: a new address (automatic), a conflict (explicit).
    let c = al.assign(&shared("c", "k", 80, "Cluster")).unwrap();
    assert_ne!(c.ips, a.ips);
    let mut d = shared("d", "k", 80, "Cluster");
    d.requested = a.ips.clone();
    assert_eq!(
        al.assign(&d).unwrap_err().to_string(),
        "192.0.2.0 is already in use by default/a (both use TCP port 80)"
    );
    let mut e = shared("e", "other", 8080, "Cluster");
    e.requested = a.ips.clone();
    assert!(al.assign(&e).unwrap_err().to_string().contains("different metallb.io/allow-shared-ip keys"));
    let mut f = shared("f", "k", 8080, "Local");
    f.requested = a.ips.clone();
    assert!(al.assign(&f).unwrap_err().to_string().contains("externalTrafficPolicy differs"));
    // Local with Local: only with the same pod selector.
    let g = al.assign(&shared("g", "loc", 80, "Local")).unwrap();
    let mut h = shared("h", "loc", 81, "Local");
    h.requested = g.ips.clone();
    assert!(al.assign(&h).unwrap_err().to_string().contains("different pod selectors"));
    h.selector = shared("g", "loc", 80, "Local").selector;
    assert_eq!(al.assign(&h).unwrap().ips, g.ips);
    // An address is free again only when the last sharer lets go.
    al.release(&ObjKey::new("default", "a"));
    assert_eq!(al.stats()["p"].assigned_v4, 3);
    al.release(&ObjKey::new("default", "b"));
    assert_eq!(al.stats()["p"].assigned_v4, 2);
}

#[test]
fn held_addresses_survive_a_restart_and_the_older_service_wins() {
    let pools = || vec![simple("p", &["192.0.2.0/29"])];
    let mut al = Allocator::new(pools());
    let mut held = Vec::new();
    for n in ["a", "b", "c"] {
        held.push((n, al.assign(&named(n)).unwrap()));
    }
    // A new allocator (a restarted controller) fed the Services with their status.
    let mut al = Allocator::new(pools());
    let with_status = |n: &str, ip: &str| {
        req(
            json!({"metadata": {"name": n}, "spec": {"ports": [{"port": 80}]}, "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}),
        )
    };
    for (n, a) in held.iter().rev() {
        assert_eq!(&al.assign(&with_status(n, &a.ips[0].to_string())).unwrap(), a);
    }
    // A Service whose status claims an address another holds gets a different one.
    let dup = al.assign(&with_status("dup", "192.0.2.0")).unwrap();
    assert_ne!(ips(&dup), ["192.0.2.0"]);
    assert_eq!(al.assigned(&ObjKey::new("default", "a")).unwrap().ips, held[0].1.ips);
}

#[test]
fn pool_shrink_moves_only_the_services_outside_it() {
    let mut al = Allocator::new(vec![simple("p", &["192.0.2.0/29"])]);
    let a = al.assign(&named("a")).unwrap();
    let b = al.assign(&named("b")).unwrap();
    let mut al = Allocator::new(vec![simple("p", &["192.0.2.1-192.0.2.3"])]);
    let status = |n: &str, a: &Assigned| {
        req(
            json!({"metadata": {"name": n}, "spec": {"ports": [{"port": 80}]}, "status": {"loadBalancer": {"ingress": [{"ip": a.ips[0].to_string()}]}}}),
        )
    };
    let b2 = al.assign(&status("b", &b)).unwrap();
    assert_eq!(b2, b, "still inside: kept");
    let a2 = al.assign(&status("a", &a)).unwrap();
    assert_ne!(a2.ips, b.ips, "never the address b holds");
    assert!(al.pools()[0].contains(a2.ips[0]));
}

#[test]
fn what_the_allocator_gave_counts_before_a_stale_status() {
    let mut al = Allocator::new(vec![simple("p", &["192.0.2.0/29"])]);
    assert_eq!(ips(&al.assign(&named("a")).unwrap()), ["192.0.2.0"]);
    // The Service read back before its status was written: same address again.
    assert_eq!(ips(&al.assign(&named("a")).unwrap()), ["192.0.2.0"]);
}

#[test]
fn a_full_pass_keeps_every_valid_address_before_moving_anyone() {
    let mut al = Allocator::new(vec![simple("p", &["192.0.2.0/29"])]);
    let a = al.assign(&named("a")).unwrap();
    let b = al.assign(&named("b")).unwrap();
    assert_eq!((ips(&a), ips(&b)), (vec!["192.0.2.0".to_string()], vec!["192.0.2.1".to_string()]));
    let status = |n: &str, a: &Assigned| {
        req(
            json!({"metadata": {"name": n}, "spec": {"ports": [{"port": 80}]}, "status": {"loadBalancer": {"ingress": [{"ip": a.ips[0].to_string()}]}}}),
        )
    };
    // The pool loses a's address; a comes first in the pass (older) and must not take b's.
    let mut al = Allocator::new(vec![simple("p", &["192.0.2.1-192.0.2.3"])]);
    let got = al.assign_all(&[status("a", &a), status("b", &b), named("c")]);
    assert_eq!(got[1], Ok(b.clone()), "b keeps its address");
    assert_eq!(ips(got[0].as_ref().unwrap()), ["192.0.2.2"]);
    assert_eq!(ips(got[2].as_ref().unwrap()), ["192.0.2.3"]);
    // A Service that now asks for another address gets it (or an error), not its old one.
    let mut moved = status("b", &b);
    moved.requested = vec!["192.0.2.3".parse().unwrap()];
    let mut al = Allocator::new(vec![simple("p", &["192.0.2.0/29"])]);
    assert_eq!(ips(al.assign_all(&[moved]).remove(0).as_ref().unwrap()), ["192.0.2.3"]);
}

#[test]
fn service_allocation_priority_namespaces_and_selectors() {
    let mut al = Allocator::new(vec![
        simple("any", &["192.0.2.0/30"]),
        pool(
            json!({"metadata": {"name": "low"}, "spec": {"addresses": ["198.51.100.0/30"], "serviceAllocation": {"priority": 20, "namespaces": ["team"]}}}),
        ),
        pool(
            json!({"metadata": {"name": "high"}, "spec": {"addresses": ["198.51.100.8/30"], "serviceAllocation": {"priority": 10, "namespaceSelectors": [{"matchLabels": {"tier": "gold"}}]}}}),
        ),
        pool(
            json!({"metadata": {"name": "web"}, "spec": {"addresses": ["203.0.113.0/30"], "serviceAllocation": {"serviceSelectors": [{"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}]}}}),
        ),
    ]);
    assert_eq!(al.assign(&named("plain")).unwrap().pool, "any");
    let in_team = req(json!({"metadata": {"name": "t", "namespace": "team"}}));
    assert_eq!(al.assign(&in_team).unwrap().pool, "low");
    let mut gold = in_team.clone();
    gold.key = ObjKey::new("team", "g");
    gold.namespace_labels = [("tier".to_string(), "gold".to_string())].into();
    assert_eq!(al.assign(&gold).unwrap().pool, "high", "priority 10 before 20");
    let web = req(json!({"metadata": {"name": "w", "labels": {"app": "web"}}}));
    assert_eq!(al.assign(&web).unwrap().pool, "web", "a selecting pool before the open ones");
    // A pool restricted to other namespaces is not used even when it is the only one with room.
    let mut only = Allocator::new(vec![pool(
        json!({"metadata": {"name": "low"}, "spec": {"addresses": ["198.51.100.0/30"], "serviceAllocation": {"namespaces": ["team"]}}}),
    )]);
    assert!(matches!(only.assign(&named("x")), Err(AllocError::NoneAvailable(_))));
    let bad = IpAddressPool::new(
        "bad",
        serde_json::from_value(json!({"addresses": ["192.0.2.0/30"], "serviceAllocation": {"serviceSelectors": [{"matchExpressions": [{"key": "a", "operator": "Near"}]}]}})).unwrap(),
    );
    assert_eq!(Pool::from_object(&bad).unwrap_err()[0].0, "spec.serviceAllocation.serviceSelectors[0]");
}

#[test]
fn dual_stack() {
    let mut al =
        Allocator::new(vec![simple("v4", &["192.0.2.0/30"]), simple("both", &["198.51.100.0/30", "2001:db8::/126"])]);
    let require = req(
        json!({"metadata": {"name": "r"}, "spec": {"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv6", "IPv4"]}}),
    );
    let got = al.assign(&require).unwrap();
    assert_eq!((got.pool.as_str(), ips(&got)), ("both", vec!["2001:db8::".to_string(), "198.51.100.0".to_string()]));
    let prefer =
        req(json!({"metadata": {"name": "p"}, "spec": {"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv4"]}}));
    assert_eq!(ips(&al.assign(&prefer).unwrap()), ["198.51.100.1", "2001:db8::1"]);
    let v6 = req(json!({"metadata": {"name": "six"}, "spec": {"ipFamilies": ["IPv6"]}}));
    assert_eq!(al.assign(&v6).unwrap().pool, "both");
    // Without a pool that has IPv6 left, PreferDualStack falls back to one address.
    al.assign(&req(json!({"metadata": {"name": "x"}, "spec": {"ipFamilies": ["IPv6"]}}))).unwrap();
    let prefer2 = req(json!({"metadata": {"name": "p2"}, "spec": {"ipFamilyPolicy": "PreferDualStack"}}));
    assert_eq!(
        ips(&al.assign(&prefer2).unwrap()),
        ["198.51.100.2"],
        "one IPv4 address, from the first pool in name order"
    );
    let require2 = req(json!({"metadata": {"name": "r2"}, "spec": {"ipFamilyPolicy": "RequireDualStack"}}));
    assert!(matches!(al.assign(&require2), Err(AllocError::NoneAvailable(_))));
    let s = al.stats();
    assert_eq!((s["both"].assigned_v6, s["both"].available_v6), (4, 0));
}

#[test]
fn overlapping_pools_and_classes() {
    let al = Allocator::new(vec![simple("b", &["192.0.2.0/29"]), simple("a", &["192.0.2.4/30"])]);
    assert_eq!(al.pools().len(), 1);
    assert_eq!(al.invalid[0].0, "b");
    let s = svc(json!({"metadata": {"name": "c"}, "spec": {"loadBalancerClass": "other"}}));
    assert!(request_for(&s, &BTreeMap::new(), None).is_none());
    assert!(request_for(&s, &BTreeMap::new(), Some("other")).is_some());
    let plain = svc(json!({"metadata": {"name": "c"}}));
    assert!(request_for(&plain, &BTreeMap::new(), Some("other")).is_none());
    let cluster_ip = svc(json!({"metadata": {"name": "c"}, "spec": {"type": "ClusterIP"}}));
    assert!(request_for(&cluster_ip, &BTreeMap::new(), None).is_none());
}

#[test]
fn a_large_pool_is_searched_from_a_cursor() {
    let mut al = Allocator::new(vec![simple("p", &["2001:db8::/64", "10.0.0.0/16"])]);
    let v6 = |n: usize| req(json!({"metadata": {"name": format!("s{n}")}, "spec": {"ipFamilies": ["IPv6"]}}));
    for n in 0..5000 {
        al.assign(&v6(n)).unwrap();
    }
    assert_eq!(al.stats()["p"].assigned_v6, 5000);
    // The next search starts after the last address handed out, not at the pool's start.
    al.release(&ObjKey::new("default", "s10"));
    assert_eq!(ips(&al.assign(&v6(5000)).unwrap()), ["2001:db8::1388"]);
    assert_eq!(ips(&al.assign(&v6(5001)).unwrap()), ["2001:db8::1389"]);
}

#[test]
fn hostile_annotations_are_reported_short_and_escaped() {
    let mut al = Allocator::new(vec![simple("p", &["192.0.2.0/30"])]);
    let huge = "x\n".repeat(100_000);
    let by_pool = req(json!({"metadata": {"name": "a", "annotations": {"metallb.io/address-pool": huge}}}));
    let msg = al.assign(&by_pool).unwrap_err().to_string();
    assert!(msg.len() < 200 && !msg.contains('\n'), "{msg:.300}");
    let by_ip = req(json!({"metadata": {"name": "b", "annotations": {"metallb.io/loadBalancerIPs": huge}}}));
    let msg = al.assign(&by_ip).unwrap_err().to_string();
    assert!(msg.len() < 300 && !msg.contains('\n'), "{msg:.400}");
}

#[test]
fn the_whole_ipv6_space_as_a_pool() {
    // 2^128 addresses do not fit a u128 count: sizes saturate instead of overflowing.
    let mut al = Allocator::new(vec![simple("all", &["::/0"])]);
    assert_eq!(al.pools()[0].size(false), u128::MAX);
    let v6 = req(json!({"metadata": {"name": "a"}, "spec": {"ipFamilies": ["IPv6"]}}));
    let got = al.assign(&v6).unwrap();
    assert!(al.pools()[0].contains(got.ips[0]));
    assert_eq!(al.stats()["all"].available_v6, i64::MAX as u64);
}

#[test]
fn the_cursor_wraps_at_the_end_of_the_address_space() {
    let mut al = Allocator::new(vec![simple("top", &["ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"])]);
    let v6 = |n: &str| req(json!({"metadata": {"name": n}, "spec": {"ipFamilies": ["IPv6"]}}));
    assert_eq!(ips(&al.assign(&v6("a")).unwrap()), ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"]);
    assert_eq!(ips(&al.assign(&v6("b")).unwrap()), ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]);
    al.release(&ObjKey::new("default", "a"));
    assert_eq!(ips(&al.assign(&v6("c")).unwrap()), ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"]);
    let mut all = Allocator::new(vec![simple("all", &["::/0"])]);
    let mut last = v6("z");
    last.requested = vec!["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap()];
    all.assign(&last).unwrap();
    assert!(all.assign(&v6("y")).is_ok());
}
