//! Any text as pools and Services for the allocator. Line 1: pool addresses (`;` between pools,
//! `,` within one); then one Service per line, `|`-separated: loadBalancerIPs, address-pool,
//! allow-shared-ip, port, ipFamilyPolicy, status address. Checks: nothing panics; every address
//! handed out is usable in the pool named; an address is held by two Services only when they share
//! by key; a second pass fed the results as status (a restarted controller) changes nothing.
#![no_main]
use libfuzzer_sys::fuzz_target;

use frr_speaker::alloc::{request_for, Allocator, Pool, Request};
use frr_speaker::model::crds::IpAddressPool;
use k8s_openapi::api::core::v1::Service;
use serde_json::json;

fn pools(line: &str) -> Vec<Pool> {
    line.split(';')
        .enumerate()
        .filter_map(|(i, p)| {
            let addrs: Vec<&str> = p.split(',').collect();
            let obj: IpAddressPool = serde_json::from_value(json!({"metadata": {"name": format!("p{i}")},
                "spec": {"addresses": addrs, "avoidBuggyIPs": i % 2 == 1, "autoAssign": i != 2}}))
            .ok()?;
            Pool::from_object(&obj).ok()
        })
        .collect()
}

fn service(i: usize, line: &str, status: Option<Vec<String>>) -> Option<Request> {
    let f: Vec<&str> = line.split('|').collect();
    let get = |k: usize| f.get(k).copied().filter(|s| !s.is_empty());
    let mut ann = serde_json::Map::new();
    for (k, name) in [(0, "metallb.io/loadBalancerIPs"), (1, "metallb.io/address-pool"), (2, "metallb.io/allow-shared-ip")] {
        if let Some(v) = get(k) {
            ann.insert(name.into(), json!(v));
        }
    }
    let port: i32 = get(3).and_then(|p| p.parse().ok()).unwrap_or(80);
    let mut v = json!({"metadata": {"name": format!("s{i}"), "namespace": "default", "annotations": ann},
        "spec": {"type": "LoadBalancer", "ports": [{"port": port}], "ipFamilyPolicy": get(4).unwrap_or("SingleStack")}});
    let current = status.unwrap_or_else(|| get(5).map(|s| vec![s.to_string()]).unwrap_or_default());
    let ingress: Vec<_> = current.iter().map(|ip| json!({"ip": ip})).collect();
    v["status"] = json!({"loadBalancer": {"ingress": ingress}});
    let svc: Service = serde_json::from_value(v).ok()?;
    request_for(&svc, &Default::default(), None)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let Some(first) = lines.next() else { return };
    let ps = pools(first);
    let svc_lines: Vec<&str> = lines.take(64).collect();
    let reqs: Vec<Request> = svc_lines.iter().enumerate().filter_map(|(i, l)| service(i, l, None)).collect();
    let mut al = Allocator::new(ps.clone());
    let out = al.assign_all(&reqs);
    let mut holders: std::collections::HashMap<std::net::IpAddr, Vec<usize>> = Default::default();
    for (i, r) in out.iter().enumerate() {
        if let Ok(a) = r {
            let pool = al.pools().iter().find(|p| p.name == a.pool).expect("the pool named exists");
            for ip in &a.ips {
                assert!(pool.usable(*ip), "{ip} not usable in {}", a.pool);
                holders.entry(*ip).or_default().push(i);
            }
        }
    }
    for (ip, hs) in &holders {
        if hs.len() > 1 {
            let key = &reqs[hs[0]].sharing;
            assert!(key.is_some() && hs.iter().all(|&h| reqs[h].sharing == *key), "{ip} held by {hs:?} without a shared key");
        }
    }
    // A restarted controller: the same Services with their results as status.
    let again: Vec<Request> = reqs
        .iter()
        .zip(&out)
        .map(|(r, o)| {
            let mut r = r.clone();
            r.current = o.as_ref().map(|a| a.ips.clone()).unwrap_or_default();
            r
        })
        .collect();
    let mut al2 = Allocator::new(ps);
    let out2 = al2.assign_all(&again);
    for (a, b) in out.iter().zip(&out2) {
        if let Ok(a) = a {
            assert_eq!(Ok(a), b.as_ref(), "an assignment changed across a restart");
        }
    }
});
