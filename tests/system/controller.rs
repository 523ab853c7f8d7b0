//! `frr-speaker controller` against a real kube-apiserver + etcd, running as the ServiceAccount of
//! deploy/controller.yaml: allocation, explicit addresses, sharing, exhaustion, release, pool
//! shrink, pool status and metrics, restart stability, two replicas with leader election, and the
//! whole path: the controller allocates, the speaker announces, the router has the route.

use crate::common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use common::controlplane::{apply_file, eventually, lab_peer, obj, ControlPlane};
use common::{wait_for, Lab, RouterOpts};
use frr_speaker::model::crds::{
    BgpAdvertisement, BgpAdvertisementSpec, BgpPeer, BgpPeerSpec, IpAddressPool, IpAddressPoolSpec,
};

const T: Duration = Duration::from_secs(30);
const POOL: &str = "metallb.io/ip-allocated-from-pool";

/// A controller process, killed on drop.
struct Controller {
    child: Option<Child>,
    log: std::path::PathBuf,
}

impl Controller {
    fn start(kubeconfig: &std::path::Path, identity: &str, port: u16) -> Controller {
        let log = std::env::temp_dir().join(format!("frr-speaker-controller-{identity}.log"));
        let _ = std::fs::remove_file(&log);
        let child = Command::new(env!("CARGO_BIN_EXE_frr-speaker"))
            .args(["controller", "--identity", identity, "--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(["--lease-duration", "4", "--renew-deadline", "3", "--retry-period", "1"])
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,frr_speaker=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("controller starts");
        Controller { child: Some(child), log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn send(&self, sig: nix::sys::signal::Signal) {
        if let Some(c) = self.child.as_ref() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), sig);
        }
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn signal(&mut self, sig: nix::sys::signal::Signal) {
        if let Some(c) = self.child.as_mut() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), sig);
            let _ = c.wait();
        }
        self.child = None;
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        // Its log is kept only for a test that failed (to be read).
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

async fn create_service(client: &kube::Client, name: &str, annotations: serde_json::Value, ports: serde_json::Value) {
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc = json!({"metadata": {"name": name, "annotations": annotations},
        "spec": {"type": "LoadBalancer", "ports": ports, "selector": {"app": name}}});
    svcs.create(&PostParams::default(), &obj(svc)).await.expect("service");
    let slice = json!({
        "metadata": {"name": format!("{name}-1"), "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["198.51.100.200"], "nodeName": "node1", "conditions": {"ready": true}}]
    });
    Api::<EndpointSlice>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &obj(slice))
        .await
        .expect("endpointslice");
}

fn tcp(port: i32) -> serde_json::Value {
    json!([{"port": port, "protocol": "TCP"}])
}

/// (ingress IPs, pool annotation) of every Service.
async fn assignments(client: &kube::Client) -> BTreeMap<String, (Vec<String>, Option<String>)> {
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let mut out = BTreeMap::new();
    for s in svcs.list(&ListParams::default()).await.expect("list").items {
        let ips = s
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|lb| lb.ingress)
            .map(|i| i.into_iter().filter_map(|i| i.ip).collect())
            .unwrap_or_default();
        let pool = s.metadata.annotations.and_then(|a| a.get(POOL).cloned());
        out.insert(s.metadata.name.unwrap_or_default(), (ips, pool));
    }
    out
}

async fn ips_of(client: &kube::Client, name: &str) -> Vec<String> {
    assignments(client).await.remove(name).map(|(ips, _)| ips).unwrap_or_default()
}

async fn notes(client: &kube::Client, name: &str, reason: &str) -> Vec<String> {
    let evs: Api<Event> = Api::namespaced(client.clone(), "default");
    let lp = ListParams::default().fields(&format!("regarding.name={name}"));
    evs.list(&lp)
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter_map(|e| e.note)
        .collect()
}

async fn holder(client: &kube::Client) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "metallb-system");
    leases.get_opt("frr-speaker-controller").await.ok().flatten().and_then(|l| l.spec?.holder_identity)
}

async fn pool_status(client: &kube::Client, name: &str) -> Option<(u64, u64)> {
    let pools: Api<IpAddressPool> = Api::namespaced(client.clone(), "metallb-system");
    let s = pools.get(name).await.ok()?.status?;
    Some((s.assigned_ipv4, s.available_ipv4))
}

/// A control plane with deploy/'s CRDs, RBAC and controller objects, these pools, and the
/// speaker's side: node1, a BGPPeer `router` (the lab's), an advertisement of every pool.
async fn start_with_pools<const N: usize>(
    name: &str,
    pools: [(&str, IpAddressPoolSpec); N],
) -> (ControlPlane, kube::Client) {
    let cp = tokio::task::block_in_place(|| ControlPlane::start(name));
    let client = cp.client("admin-token").await;
    common::controlplane::install_crds(&client).await;
    for f in ["deploy/namespace.yaml", "deploy/rbac.yaml", "deploy/controller.yaml"] {
        apply_file(&client, f, false).await;
    }
    let ns = "metallb-system";
    let pp = PostParams::default();
    for (name, spec) in pools {
        Api::<IpAddressPool>::namespaced(client.clone(), ns)
            .create(&pp, &IpAddressPool::new(name, spec))
            .await
            .expect("pool");
    }
    Api::<Node>::all(client.clone()).create(&pp, &obj(json!({"metadata": {"name": "node1"}}))).await.expect("node");
    Api::<BgpPeer>::namespaced(client.clone(), ns)
        .create(&pp, &BgpPeer::new("router", lab_peer("192.0.2.1")))
        .await
        .expect("peer");
    Api::<BgpAdvertisement>::namespaced(client.clone(), ns)
        .create(&pp, &BgpAdvertisement::new("all", BgpAdvertisementSpec::default()))
        .await
        .expect("ad");
    (cp, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_allocates_and_the_router_sees_it() {
    use tokio::task::block_in_place;
    let public = IpAddressPoolSpec {
        addresses: vec!["203.0.113.0/26".into()],
        avoid_buggy_ips: Some(true),
        ..Default::default()
    };
    let tiny =
        IpAddressPoolSpec { addresses: vec!["198.51.100.0/31".into()], auto_assign: Some(false), ..Default::default() };
    let (cp, client) = start_with_pools("ctl", [("public", public), ("tiny", tiny)]).await;
    let ns = "metallb-system";
    let pp = PostParams::default();
    let pools: Api<IpAddressPool> = Api::namespaced(client.clone(), ns);
    let mut lab = block_in_place(|| Lab::new("fsc", 1, &RouterOpts::default()));
    lab.start_agent_kube(1, &cp.kubeconfig_for("speaker-token"), 17490);
    let kubeconfig = cp.kubeconfig_for("controller-token");
    let mut a = Controller::start(&kubeconfig, "ctl-a", 17491);

    // Allocation, and the whole path to the router.
    let t0 = Instant::now();
    create_service(&client, "web", json!({}), tcp(80)).await;
    let got = eventually(T, || async { ips_of(&client, "web").await == ["203.0.113.1"] }).await;
    assert!(got.is_some(), "web got the first usable address: {:?}", assignments(&client).await);
    let routed = block_in_place(|| wait_for(T, || lab.next_hops("203.0.113.1/32") == ["192.0.2.11"]));
    assert!(routed.is_some(), "the router has web's address via node1");
    println!("Service created → ingress {got:?}, → router route {:?} after creation", t0.elapsed());
    assert_eq!(assignments(&client).await["web"].1.as_deref(), Some("public"));
    assert!(
        eventually(T, || async { !notes(&client, "web", "IPAllocated").await.is_empty() }).await.is_some(),
        "an IPAllocated event"
    );

    // Explicit addresses, from a pool that does not auto-assign; a second claim conflicts.
    create_service(&client, "fixed", json!({"metallb.io/loadBalancerIPs": "198.51.100.1"}), tcp(80)).await;
    create_service(&client, "clash", json!({"metallb.universe.tf/loadBalancerIPs": "198.51.100.1"}), tcp(80)).await;
    assert!(eventually(T, || async { ips_of(&client, "fixed").await == ["198.51.100.1"] }).await.is_some());
    let conflict = eventually(T, || async {
        notes(&client, "clash", "AllocationFailed")
            .await
            .iter()
            .any(|n| n.contains("198.51.100.1 is already in use by default/fixed"))
    })
    .await;
    assert!(conflict.is_some(), "conflict reported: {:?}", notes(&client, "clash", "AllocationFailed").await);
    assert!(ips_of(&client, "clash").await.is_empty());

    // Sharing: same key, other protocol on the same port.
    create_service(
        &client,
        "dns-tcp",
        json!({"metallb.io/allow-shared-ip": "dns"}),
        json!([{"port": 53, "protocol": "TCP"}]),
    )
    .await;
    create_service(
        &client,
        "dns-udp",
        json!({"metallb.io/allow-shared-ip": "dns"}),
        json!([{"port": 53, "protocol": "UDP"}]),
    )
    .await;
    let shared = eventually(T, || async {
        let a = ips_of(&client, "dns-tcp").await;
        !a.is_empty() && a == ips_of(&client, "dns-udp").await
    })
    .await;
    assert!(shared.is_some(), "one address for both: {:?}", assignments(&client).await);
    let dns_ip = ips_of(&client, "dns-tcp").await;

    // Exhaustion of a named pool, then release on delete hands the address on.
    create_service(&client, "t1", json!({"metallb.io/address-pool": "tiny"}), tcp(80)).await;
    assert!(eventually(T, || async { ips_of(&client, "t1").await == ["198.51.100.0"] }).await.is_some());
    create_service(&client, "t2", json!({"metallb.io/address-pool": "tiny"}), tcp(80)).await;
    let full = eventually(T, || async {
        notes(&client, "t2", "AllocationFailed").await.iter().any(|n| n.contains("no available IPs in pool \"tiny\""))
    })
    .await;
    assert!(full.is_some(), "exhaustion reported: {:?}", notes(&client, "t2", "AllocationFailed").await);
    let counted = eventually(T, || async { pool_status(&client, "tiny").await == Some((2, 0)) }).await;
    assert!(counted.is_some(), "pool status of tiny: {:?}", pool_status(&client, "tiny").await);
    let m = block_in_place(|| common::host_metrics(17491));
    assert!(m.contains("metallb_allocator_addresses_in_use_total{pool=\"tiny\"} 2"), "{m}");
    assert!(m.contains("metallb_allocator_addresses_total{pool=\"public\"} 63"), "{m}");
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    svcs.delete("t1", &DeleteParams::default()).await.expect("delete");
    let handed_on = eventually(T, || async { ips_of(&client, "t2").await == ["198.51.100.0"] }).await;
    assert!(handed_on.is_some(), "t2 gets the released address");

    // Type change: the address and the annotation go.
    svcs.patch(
        "dns-udp",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"type": "ClusterIP", "ports": [{"port": 53, "protocol": "UDP"}]}})),
    )
    .await
    .expect("patch");
    let cleared = eventually(T, || async {
        assignments(&client).await.get("dns-udp").is_some_and(|(ips, pool)| ips.is_empty() && pool.is_none())
    })
    .await;
    assert!(cleared.is_some(), "ClusterIP Service released: {:?}", assignments(&client).await);
    assert_eq!(ips_of(&client, "dns-tcp").await, dns_ip, "the other sharer keeps it");

    // The pool shrinks under web's address: web moves, nobody else does, the router follows.
    let before = assignments(&client).await;
    pools
        .patch(
            "public",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"addresses": ["203.0.113.2-203.0.113.62"]}})),
        )
        .await
        .expect("shrink");
    let moved = eventually(T, || async {
        let w = ips_of(&client, "web").await;
        !w.is_empty() && w != ["203.0.113.1"]
    })
    .await;
    assert!(moved.is_some(), "web moved into the pool");
    let after = assignments(&client).await;
    for (name, v) in &before {
        if name != "web" {
            assert_eq!(after.get(name), Some(v), "{name} untouched by the shrink");
        }
    }
    let web_ip = after["web"].0[0].clone();
    assert!(!after.iter().any(|(n, (ips, _))| n != "web" && ips.contains(&web_ip)), "no address taken from another");
    let followed = block_in_place(|| {
        wait_for(T, || {
            lab.next_hops(&format!("{web_ip}/32")) == ["192.0.2.11"] && lab.next_hops("203.0.113.1/32").is_empty()
        })
    });
    assert!(followed.is_some(), "the router moved with web");

    // A crashed controller's successor keeps every assignment.
    let snapshot = assignments(&client).await;
    a.signal(nix::sys::signal::Signal::SIGKILL);
    let mut b = Controller::start(&kubeconfig, "ctl-b", 17492);
    let t_kill = Instant::now();
    let led = eventually(T, || async { holder(&client).await.as_deref() == Some("ctl-b") }).await;
    assert!(led.is_some(), "ctl-b took the lease");
    println!("after a SIGKILLed leader, the next took the lease in {:?}", t_kill.elapsed());
    let passed = eventually(T, || async { b.log().contains("allocation pass") }).await;
    assert!(passed.is_some());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(assignments(&client).await, snapshot, "nothing changed across the restart");

    // Two replicas: the second waits; Services created in a burst get distinct addresses.
    let mut a = Controller::start(&kubeconfig, "ctl-a", 17491);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(holder(&client).await.as_deref(), Some("ctl-b"));
    let passes = |log: &str| log.matches("allocation pass").count();
    let passes_before = passes(&b.log());
    let mut burst = Vec::new();
    for i in 0..20 {
        let c = client.clone();
        burst.push(tokio::spawn(async move { create_service(&c, &format!("burst{i}"), json!({}), tcp(80)).await }));
    }
    for h in burst {
        h.await.expect("create");
    }
    let all = eventually(T, || async {
        let a = assignments(&client).await;
        (0..20).all(|i| a.get(&format!("burst{i}")).is_some_and(|(ips, _)| ips.len() == 1))
    })
    .await;
    assert!(all.is_some(), "every burst Service got an address");
    assert!(!a.log().contains("leading"), "the second replica only waits while the first leads");
    // Quiet first: every burst Service written by the leader, nothing in flight.
    let quiet = eventually(T, || async {
        let log = b.log();
        (0..20).all(|i| log.contains(&format!("service=default/burst{i} ips=")))
    })
    .await;
    assert!(quiet.is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Each burst Service was given one address once (writes run concurrently; a Service whose
    // write is still in flight keeps its address), and the pool status the leader writes
    // triggers no full pass.
    let log = b.log();
    for i in 0..20 {
        let given =
            log.lines().filter(|l| l.contains("Assigned IP") && l.ends_with(&format!("service=default/burst{i}")));
        assert_eq!(given.count(), 1, "burst{i} assigned once:\n{log}");
    }
    assert_eq!(passes(&log), passes_before, "no full allocation pass for the burst:\n{log}");
    // The leader freezes (SIGSTOP) past the lease: the other takes over and allocates; the old
    // leader, thawed, writes nothing and exits.
    use nix::sys::signal::Signal;
    b.send(Signal::SIGSTOP);
    let t_stop = Instant::now();
    let took = eventually(T, || async { holder(&client).await.as_deref() == Some("ctl-a") }).await;
    assert!(took.is_some(), "ctl-a took over from the frozen leader");
    println!("leader frozen: the other took the lease after {:?}", t_stop.elapsed());
    create_service(&client, "during", json!({}), tcp(80)).await;
    assert!(eventually(T, || async { ips_of(&client, "during").await.len() == 1 }).await.is_some());
    let writes = |log: &str| log.lines().filter(|l| l.contains("written")).count();
    let before = writes(&b.log());
    b.send(Signal::SIGCONT);
    let exited = block_in_place(|| b.wait_exit(Duration::from_secs(10)));
    assert!(exited.is_some_and(|st| !st.success()), "the thawed leader exits: {exited:?}");
    assert_eq!(writes(&b.log()), before, "and writes nothing after the thaw");
    assert!(b.log().contains("no longer leading"), "{}", b.log());
    // A clean stop hands over at once.
    let mut b = Controller::start(&kubeconfig, "ctl-b", 17492);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t_term = Instant::now();
    a.signal(Signal::SIGTERM);
    let took = eventually(T, || async { holder(&client).await.as_deref() == Some("ctl-b") }).await;
    assert!(took.is_some(), "ctl-b took over");
    println!("after SIGTERM of the leader, the other took the lease in {:?}", t_term.elapsed());
    let t_late = Instant::now();
    create_service(&client, "late", json!({}), tcp(80)).await;
    assert!(eventually(T, || async { ips_of(&client, "late").await.len() == 1 }).await.is_some());
    let late = ips_of(&client, "late").await.remove(0);
    let routed = block_in_place(|| wait_for(T, || lab.next_hops(&format!("{late}/32")) == ["192.0.2.11"]));
    assert!(routed.is_some(), "the new leader's allocation reaches the router");
    println!("Service created (sessions up) → route at the router: {:?}", t_late.elapsed());
    // Dual-stack: one address per family from a pool that has both; the router gets both.
    let dual = IpAddressPoolSpec {
        addresses: vec!["203.0.113.128/28".into(), "2001:db8:1000::/120".into()],
        auto_assign: Some(false),
        ..Default::default()
    };
    pools.create(&pp, &IpAddressPool::new("dual", dual)).await.expect("pool");
    // The agent runs in the root namespace here (next to the apiserver), where 2001:db8::/64 is
    // not a connected network, so the multihop rule would (rightly) refuse the peer without it.
    let peer6 = BgpPeerSpec { ebgp_multi_hop: Some(true), ..lab_peer("2001:db8::1") };
    Api::<BgpPeer>::namespaced(client.clone(), ns).create(&pp, &BgpPeer::new("router-v6", peer6)).await.expect("peer");
    let svc = json!({"metadata": {"name": "ds", "annotations": {"metallb.io/address-pool": "dual"}},
        "spec": {"type": "LoadBalancer", "ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"],
                 "ports": [{"port": 80}], "selector": {"app": "ds"}}});
    svcs.create(&pp, &obj(svc)).await.expect("dual-stack service");
    for (family, addr) in [("IPv4", "198.51.100.201"), ("IPv6", "2001:db8:ffff::201")] {
        let slice = json!({"metadata": {"name": format!("ds-{}", family.to_lowercase()), "labels": {"kubernetes.io/service-name": "ds"}},
            "addressType": family, "endpoints": [{"addresses": [addr], "nodeName": "node1", "conditions": {"ready": true}}]});
        Api::<EndpointSlice>::namespaced(client.clone(), "default").create(&pp, &obj(slice)).await.expect("slice");
    }
    let both = eventually(T, || async { ips_of(&client, "ds").await == ["203.0.113.128", "2001:db8:1000::"] }).await;
    assert!(both.is_some(), "one address per family: {:?}", ips_of(&client, "ds").await);
    let routed = block_in_place(|| {
        wait_for(T, || {
            lab.next_hops("203.0.113.128/32") == ["192.0.2.11"] && !lab.next_hops("2001:db8:1000::/128").is_empty()
        })
    });
    assert!(routed.is_some(), "both families at the router: {:?}", lab.next_hops("2001:db8:1000::/128"));
    assert_eq!(
        pools.get("dual").await.ok().and_then(|p| p.status).map(|s| (
            s.assigned_ipv4,
            s.assigned_ipv6,
            s.available_ipv6
        )),
        Some((1, 1, 255))
    );

    let a_all = assignments(&client).await;
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, (ips, _)) in &a_all {
        for ip in ips {
            seen.entry(ip.clone()).or_default().push(name.clone());
        }
    }
    // dns-udp became a ClusterIP Service: no address is shared any more.
    let dup: Vec<_> = seen.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(dup.is_empty(), "an address held by two Services: {dup:?}");
    assert_eq!(seen.len(), a_all.values().map(|(ips, _)| ips.len()).sum::<usize>());
    for log in [a.log(), b.log()] {
        assert!(!log.to_lowercase().contains("forbidden"), "refused by RBAC:\n{log}");
    }
    b.signal(Signal::SIGTERM);
}

/// The apiserver did a request but its answer was lost (504 after the write, as an apiserver gives
/// when a request outlives its timeout): kube's client sends the same request again. A repeated
/// Event create (409 AlreadyExists) and a repeated lease renewal (409 Conflict) are the agent's
/// and the controller's own first sendings: no warning, no duplicate Event, no lost leadership.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_lost_after_the_apiserver_did_the_request() {
    use common::proxy::{LoseAnswers, Proxy};
    use tokio::task::block_in_place;
    let public = IpAddressPoolSpec { addresses: vec!["203.0.113.0/26".into()], ..Default::default() };
    let (cp, client) = start_with_pools("lost", [("public", public)]).await;

    // The first two Event creates in `default` (the controller's IPAllocated and the agent's
    // Announcing, both about web), the lease's create and every second renewal (three times) lose
    // their answers.
    let proxy = Proxy::start(
        &cp.url,
        &cp.dir.join("ca.crt"),
        vec![
            LoseAnswers { method: "POST", path_contains: "/namespaces/default/events", every: 1, times: 2 },
            LoseAnswers { method: "POST", path_contains: "/leases", every: 1, times: 1 },
            LoseAnswers { method: "PUT", path_contains: "/leases/frr-speaker-controller", every: 2, times: 3 },
        ],
    );
    let mut lab = block_in_place(|| Lab::new("fsl", 1, &RouterOpts::default()));
    lab.start_agent_kube(1, &proxy.kubeconfig(&cp.dir, "speaker-token"), 17495);
    let mut a = Controller::start(&proxy.kubeconfig(&cp.dir, "controller-token"), "ctl-a", 17496);

    create_service(&client, "web", json!({}), tcp(80)).await;
    let got = eventually(T, || async { ips_of(&client, "web").await == ["203.0.113.0"] }).await;
    assert!(got.is_some(), "web got an address: {:?}\n{}", assignments(&client).await, a.log());
    let routed = block_in_place(|| wait_for(T, || lab.next_hops("203.0.113.0/32") == ["192.0.2.11"]));
    assert!(routed.is_some(), "the router has web's address via node1");
    let announced = eventually(T, || async { !notes(&client, "web", "Announcing").await.is_empty() }).await;
    assert!(announced.is_some(), "an Announcing event");
    // Renewals every second: six more, three of them with lost answers.
    let renewed = eventually(T, || async { proxy.lost() >= 6 }).await;
    assert!(renewed.is_some(), "answers lost: {} of 6", proxy.lost());
    assert_eq!((proxy.lost_by(0), proxy.lost_by(1), proxy.lost_by(2)), (2, 1, 3));
    block_in_place(|| std::thread::sleep(Duration::from_secs(2)));

    // One Event each, though each create was sent twice; no other Event in `default`.
    let all: Api<Event> = Api::namespaced(client.clone(), "default");
    let reasons: Vec<_> =
        all.list(&ListParams::default()).await.expect("events").items.into_iter().map(|e| e.reason).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(notes(&client, "web", "IPAllocated").await.len(), 1, "{:?}", notes(&client, "web", "IPAllocated").await);
    assert_eq!(notes(&client, "web", "Announcing").await.len(), 1, "{:?}", notes(&client, "web", "Announcing").await);
    // The controller leads on, and nobody logged a warning or an error.
    assert!(a.wait_exit(Duration::from_millis(100)).is_none(), "the controller exited:\n{}", a.log());
    assert_eq!(holder(&client).await.as_deref(), Some("ctl-a"));
    let log = a.log();
    let bad: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).collect();
    assert!(bad.is_empty(), "the controller logged:\n{}", bad.join("\n"));
    lab.assert_clean_logs();
    println!(
        "answers lost after the apiserver did the request: {}; no warning, one Event each, still leading",
        proxy.lost()
    );
}
