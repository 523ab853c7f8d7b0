//! Bench (not a test): Kubernetes mode at scale. A real kube-apiserver + etcd (the test control
//! plane) holding `BENCH_SERVICES` (default 10,000) LoadBalancer Services with their EndpointSlices,
//! the namespace lab's router and one node, and the agent watching the apiserver. Prints a table:
//! agent start → every prefix at the router, one Service added through the API → its route in the
//! router's kernel, the agent's memory and CPU, and the status writer's progress (ServiceBGPStatus
//! objects written per second at `BENCH_STATUS_QPS`, default 5 like `--status-qps`; the rest of
//! the full write is projected, not waited for).
//!
//! The Services are IPv6 single-stack (cluster IPs from the control plane's 2001:db8:ffff::/112,
//! load-balancer IPs 2001:db8:1000::/104, the added ones 2001:db8:2000::/112), announced over the
//! router's dual-stack IPv4 session and its IPv6 session, as in `lab_apply`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};

use common::controlplane::{apply_file, install_crds, lab_peer, obj, ControlPlane};
use common::{Lab, RouteMonitor, RouterOpts};
use frr_speaker::model::crds::{
    BgpAdvertisement, BgpAdvertisementSpec, BgpPeer, IpAddressPool, IpAddressPoolSpec, ServiceBgpStatus,
};

const METRICS_PORT: u16 = 17495;

fn n() -> usize {
    std::env::var("BENCH_SERVICES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

fn status_qps() -> String {
    std::env::var("BENCH_STATUS_QPS").unwrap_or_else(|_| "5".into())
}

fn ip(base: &str, i: usize) -> String {
    let b = u128::from(base.parse::<Ipv6Addr>().expect("address"));
    Ipv6Addr::from(b + i as u128 + 1).to_string()
}

/// The peers (dual-stack IPv4 session and IPv6 session), the pool and the advertisement.
async fn install(client: &kube::Client) {
    install_crds(client).await;
    apply_file(client, "deploy/namespace.yaml", false).await;
    apply_file(client, "deploy/rbac.yaml", false).await;
    let pp = PostParams::default();
    let node: Node = obj(serde_json::json!({"metadata": {"name": "node1"}}));
    Api::<Node>::all(client.clone()).create(&pp, &node).await.expect("node");
    let ns = "metallb-system";
    let peers = Api::<BgpPeer>::namespaced(client.clone(), ns);
    let mut v4 = lab_peer("192.0.2.1");
    v4.dual_stack_address_family = Some(true);
    peers.create(&pp, &BgpPeer::new("router-v4", v4)).await.expect("peer");
    peers.create(&pp, &BgpPeer::new("router-v6", lab_peer("2001:db8::1"))).await.expect("peer");
    let pool = IpAddressPoolSpec {
        addresses: vec!["2001:db8:1000::/104".into(), "2001:db8:2000::/112".into()],
        ..Default::default()
    };
    Api::<IpAddressPool>::namespaced(client.clone(), ns)
        .create(&pp, &IpAddressPool::new("pool", pool))
        .await
        .expect("pool");
    Api::<BgpAdvertisement>::namespaced(client.clone(), ns)
        .create(&pp, &BgpAdvertisement::new("ad", BgpAdvertisementSpec::default()))
        .await
        .expect("advertisement");
}

/// A Service with its EndpointSlice (endpoint ready on node1), then its load-balancer address
/// (what the allocator would write). Returns when the address is written.
async fn create_service(client: kube::Client, name: String, lb_ip: String) {
    let pp = PostParams::default();
    Api::<EndpointSlice>::namespaced(client.clone(), "default")
        .create(
            &pp,
            &obj(serde_json::json!({
                "metadata": {"name": format!("{name}-1"), "labels": {"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "frr-speaker-bench"}},
                "addressType": "IPv6",
                "endpoints": [{"addresses": ["2001:db8::99"], "nodeName": "node1", "conditions": {"ready": true}}]
            })),
        )
        .await
        .expect("endpointslice");
    let svcs: Api<Service> = Api::namespaced(client, "default");
    let spec = serde_json::json!({"metadata": {"name": name}, "spec": {
        "type": "LoadBalancer", "ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
        "allocateLoadBalancerNodePorts": false, "ports": [{"port": 80}]}});
    svcs.create(&pp, &obj(spec)).await.expect("service");
    svcs.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"status": {"loadBalancer": {"ingress": [{"ip": lb_ip}]}}})),
    )
    .await
    .expect("status");
}

fn router_prefixes(lab: &Lab) -> usize {
    let v = common::vtysh_json(&lab.router(), "show bgp ipv6 unicast statistics json");
    v["ipv6Unicast"][0]["totalPrefixes"].as_u64().unwrap_or(0) as usize
}

async fn statuses(client: &kube::Client) -> usize {
    let api: Api<ServiceBgpStatus> = Api::namespaced(client.clone(), "metallb-system");
    api.list(&ListParams::default().labels("metallb.io/node=node1")).await.map(|l| l.items.len()).unwrap_or(0)
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().last()).and_then(|v| v.parse().ok())
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

async fn measure() -> Vec<(String, String)> {
    let n = n();
    let mut rows = Vec::new();
    let cp = tokio::task::spawn_blocking(|| ControlPlane::start("kscale")).await.expect("control plane");
    let client = cp.client("admin-token").await;
    install(&client).await;

    // The Services, 16 at a time.
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        if tasks.len() >= 16 {
            tasks.join_next().await.expect("task").expect("create");
        }
        tasks.spawn(create_service(client.clone(), format!("s{i}"), ip("2001:db8:1000::", i)));
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("create");
    }
    let created = t.elapsed();
    println!("created {n} Services with EndpointSlices and addresses in {:.1} s", created.as_secs_f64());
    rows.push((
        format!("{n} Services + EndpointSlices + addresses written to the apiserver (16 at a time)"),
        format!("{:.1} s ({:.0} objects/s)", created.as_secs_f64(), 2.0 * n as f64 / created.as_secs_f64()),
    ));

    let mut lab = tokio::task::spawn_blocking(|| Lab::new("fsks", 1, &RouterOpts::default())).await.expect("lab");
    lab.agent_args = vec!["--status-qps".into(), status_qps()];
    let t = Instant::now();
    lab.start_agent_kube(1, &cp.kubeconfig_for("speaker-token"), METRICS_PORT);
    let pid = lab.agent_pid(1).expect("agent pid");
    let lab = std::sync::Arc::new(lab);
    let l = lab.clone();
    let all = tokio::task::spawn_blocking(move || {
        common::wait_for(Duration::from_secs(600), || router_prefixes(&l) >= n).map(|_| t.elapsed())
    })
    .await
    .expect("join");
    let all = all.unwrap_or_else(|| panic!("the router has {} of {n} prefixes after 600 s", router_prefixes(&lab)));
    rows.push(("agent start → every prefix at the router".into(), format!("{:.2} s", all.as_secs_f64())));

    // One Service added through the API → its route in the router's kernel.
    let monitor = RouteMonitor::start(&lab.router(), "-6");
    let mut lat = Vec::new();
    let log_mark = lab.agent_log_len(1);
    for k in 0..10 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        monitor.drain();
        let addr = ip("2001:db8:2000::", k);
        let t = Instant::now();
        create_service(client.clone(), format!("add{k}"), addr.clone()).await;
        // Counted from the write of the address: the event the agent acts on.
        let written = Instant::now();
        let seen = monitor.wait_for(&format!("{addr} "), false, Duration::from_secs(30));
        let seen = seen.unwrap_or_else(|| panic!("{addr} did not reach the router"));
        lat.push(seen.saturating_duration_since(written));
        let _ = t;
    }
    lat.sort();
    rows.push((
        "one Service added: its address written → route in the router's kernel (min / median / max of 10)".into(),
        format!("{} / {} / {}", ms(lat[0]), ms(lat[lat.len() / 2]), ms(lat[lat.len() - 1])),
    ));
    let share = lab.agent_shares(1, log_mark);
    rows.push((
        format!("agent's share of a change: watch event -> FRR accepted it ({} changes: p50 / p99 / max)", share.len()),
        common::percentiles(&share),
    ));

    // The status writer: objects written over a minute, the backlog, the agent's CPU meanwhile.
    let s0 = statuses(&client).await;
    let cpu0 = lab.agent_cpu_seconds(1);
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let s1 = statuses(&client).await;
    let cpu = lab.agent_cpu_seconds(1) - cpu0;
    let secs = t.elapsed().as_secs_f64();
    let rate = (s1 - s0) as f64 / secs;
    let metrics = reqwest_metrics();
    let pending = metric(&metrics, "frr_speaker_status_writes_pending").unwrap_or(f64::NAN);
    rows.push((
        format!("ServiceBGPStatus objects written per second (--status-qps {})", status_qps()),
        format!("{rate:.1} ({s1} of {} after {:.0} s)", n + 10, all.as_secs_f64() + 20.0 + secs),
    ));
    rows.push((
        "status writes still pending (frr_speaker_status_writes_pending) → projected time to finish".into(),
        if rate > 0.0 { format!("{pending:.0} → {:.0} min", pending / rate / 60.0) } else { format!("{pending:.0}") },
    ));
    rows.push(("agent CPU while the status writer works".into(), format!("{:.1} %", cpu / secs * 100.0)));
    rows.push((
        "agent RSS now / peak".into(),
        format!(
            "{} / {} MiB",
            common::proc_status_kib(pid, "VmRSS:") / 1024,
            common::proc_status_kib(pid, "VmHWM:") / 1024
        ),
    ));
    let log = std::fs::read_to_string(lab.agent_log(1)).unwrap_or_default();
    if let Some(l) = log.lines().find(|l| l.contains("status writes queued")) {
        println!("agent log: {}", l.trim());
    }
    drop(monitor);
    drop(cp);
    rows
}

/// `/metrics` of the agent (plain HTTP on loopback, without an HTTP client dependency).
fn reqwest_metrics() -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", METRICS_PORT)) else { return String::new() };
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn main() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("kube_scale needs root (network namespaces); skipped");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let rows = rt.block_on(measure());
    println!("\nKubernetes mode, {} Services (FRR {}):", n(), common::node_frr_version());
    println!("| measure | value |\n|---|---|");
    for (k, v) in rows {
        println!("| {k} | {v} |");
    }
}
