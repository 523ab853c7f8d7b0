//! Bench (not a test): the allocator's pure core with 10,000 Services. A first pass that gives
//! every Service an address, the pass a restarted controller makes (every Service keeps what its
//! status says), one new Service and one deleted Service against the 10,000, and the pool counts.
//! Prints a table. IPv6 /128s from 2001:db8::/32 (the IPv4 documentation ranges are too small);
//! a tenth of the Services share an address in pairs.

use std::time::Instant;

use frr_speaker::alloc::{request_for, Allocator, Pool, Request};
use frr_speaker::model::core::ObjKey;
use frr_speaker::model::crds::IpAddressPool;
use k8s_openapi::api::core::v1::Service;
use serde_json::json;

const N: usize = 10_000;

fn service(i: usize, ip: Option<String>) -> Request {
    let mut annotations = json!({});
    if i % 10 < 2 {
        annotations["metallb.io/allow-shared-ip"] = json!(format!("pair{}", i / 10));
    }
    let mut v = json!({"metadata": {"name": format!("s{i}"), "namespace": "default", "annotations": annotations},
        "spec": {"type": "LoadBalancer", "ipFamilies": ["IPv6"], "ports": [{"port": 80 + (i % 10) as i32}]}});
    if let Some(ip) = ip {
        v["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
    }
    let svc: Service = serde_json::from_value(v).expect("service");
    request_for(&svc, &Default::default(), None).expect("a LoadBalancer Service")
}

fn pools() -> Vec<Pool> {
    let p: IpAddressPool = serde_json::from_value(json!({"metadata": {"name": "v6", "namespace": "metallb-system"},
        "spec": {"addresses": ["2001:db8:100::/112", "2001:db8:200::/112"]}}))
    .expect("pool");
    vec![Pool::from_object(&p).expect("valid")]
}

fn main() {
    let reqs: Vec<Request> = (0..N).map(|i| service(i, None)).collect();
    let mut al = Allocator::new(pools());
    let t = Instant::now();
    let first = al.assign_all(&reqs);
    let t_first = t.elapsed();
    assert!(first.iter().all(|r| r.is_ok()));

    let held: Vec<Request> =
        first.iter().enumerate().map(|(i, r)| service(i, r.as_ref().ok().map(|a| a.ips[0].to_string()))).collect();
    let mut restarted = Allocator::new(pools());
    let t = Instant::now();
    let again = restarted.assign_all(&held);
    let t_restart = t.elapsed();
    assert_eq!(again, first, "a restarted controller keeps every assignment");

    let t = Instant::now();
    let new = restarted.assign(&service(N, None)).expect("room");
    let t_new = t.elapsed();
    let t = Instant::now();
    restarted.release(&ObjKey::new("default", "s17"));
    let t_release = t.elapsed();
    let t = Instant::now();
    let stats = restarted.stats();
    let t_stats = t.elapsed();
    let distinct = stats["v6"].assigned_v6;

    println!("| step ({N} Services, IPv6, 10% sharing in pairs) | time |");
    println!("|---|---|");
    println!("| first pass: every Service gets an address | {:.1} ms |", t_first.as_secs_f64() * 1e3);
    println!("| restart pass: every Service keeps its status address | {:.1} ms |", t_restart.as_secs_f64() * 1e3);
    println!("| one new Service ({}) | {:.1} µs |", new.ips[0], t_new.as_secs_f64() * 1e6);
    println!("| one Service deleted | {:.1} µs |", t_release.as_secs_f64() * 1e6);
    println!("| pool counts ({distinct} distinct addresses in use) | {:.1} ms |", t_stats.as_secs_f64() * 1e3);
}
