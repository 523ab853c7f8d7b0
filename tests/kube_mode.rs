//! Kubernetes mode end to end: a real kube-apiserver + etcd, the namespace lab's router and node,
//! and the agent watching the apiserver. Objects created through the API reach the router,
//! changes follow, deletes withdraw, and an invalid object changes nothing.

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde::Deserialize;

use common::{wait_for, Lab, RouterOpts};
use frr_speaker::model::crds::{
    BgpAdvertisement, BgpAdvertisementSpec, BgpPeer, BgpPeerSpec, IpAddressPool, IpAddressPoolSpec,
};

const T: Duration = Duration::from_secs(30);

fn obj<K: serde::de::DeserializeOwned>(v: serde_json::Value) -> K {
    serde_json::from_value(v).expect("object")
}

/// Create every object of a deploy/ file through its typed API (`dry_run`: server-side only).
async fn apply_file(client: &kube::Client, file: &str, dry_run: bool) {
    use k8s_openapi::api::apps::v1::DaemonSet;
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    let text = std::fs::read_to_string(common::root().join(file)).expect("deploy file");
    let pp = PostParams { dry_run, ..Default::default() };
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let v = serde_json::Value::deserialize(doc).expect("yaml");
        let ns = v["metadata"]["namespace"].as_str().unwrap_or("default").to_string();
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        let c = client.clone();
        let res = match kind.as_str() {
            "Namespace" => Api::<Namespace>::all(c).create(&pp, &obj(v)).await.map(|_| ()),
            "ServiceAccount" => Api::<ServiceAccount>::namespaced(c, &ns).create(&pp, &obj(v)).await.map(|_| ()),
            "ClusterRole" => Api::<ClusterRole>::all(c).create(&pp, &obj(v)).await.map(|_| ()),
            "ClusterRoleBinding" => Api::<ClusterRoleBinding>::all(c).create(&pp, &obj(v)).await.map(|_| ()),
            "Role" => Api::<Role>::namespaced(c, &ns).create(&pp, &obj(v)).await.map(|_| ()),
            "RoleBinding" => Api::<RoleBinding>::namespaced(c, &ns).create(&pp, &obj(v)).await.map(|_| ()),
            "DaemonSet" => Api::<DaemonSet>::namespaced(c, &ns).create(&pp, &obj(v)).await.map(|_| ()),
            other => panic!("{file}: unexpected kind {other}"),
        };
        res.unwrap_or_else(|e| panic!("{file}: {kind}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_created_through_the_api_reach_the_router() {
    let cp = tokio::task::spawn_blocking(|| common::controlplane::ControlPlane::start("kube")).await.expect("start");
    let client = cp.client("admin-token").await;
    install(&client).await;
    // The DaemonSet is validated server-side only (no kubelet runs here).
    apply_file(&client, "deploy/daemonset.yaml", true).await;

    let mut lab = tokio::task::spawn_blocking(|| Lab::new("fsk1", 1, &RouterOpts::default())).await.expect("lab");
    let ns = "metallb-system";
    let peers: Api<BgpPeer> = Api::namespaced(client.clone(), ns);
    let ads: Api<BgpAdvertisement> = Api::namespaced(client.clone(), ns);
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    create_service(&client, "web", "203.0.113.10").await;
    // The agent runs as the speaker's ServiceAccount, with only what deploy/rbac.yaml grants.
    lab.start_agent_kube(1, &cp.kubeconfig_for("speaker-token"), 17481);
    let hops = vec!["192.0.2.11".to_string()];
    let lab = std::sync::Arc::new(lab);
    let l = lab.clone();
    let got = tokio::task::spawn_blocking(move || {
        wait_for(T, || l.next_hops("203.0.113.10/32") == vec!["192.0.2.11".to_string()])
    })
    .await
    .expect("join");
    assert!(got.is_some(), "announced through the API: {:?}", lab.next_hops("203.0.113.10/32"));

    // A change: communities on the advertisement.
    ads.patch(
        "public",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"communities": ["65000:7"]}})),
    )
    .await
    .expect("patch");
    let l = lab.clone();
    let got = tokio::task::spawn_blocking(move || {
        wait_for(T, || l.bgp_path("203.0.113.10/32")["community"]["string"].as_str() == Some("65000:7"))
    })
    .await
    .expect("join");
    assert!(got.is_some(), "community change reached the router");

    // An invalid object: the last good config stays, the session is not touched.
    let before = lab.session("192.0.2.11");
    let bad = BgpPeerSpec {
        my_asn: 64512,
        peer_asn: Some(64500),
        peer_address: Some("192.0.2.9".into()),
        hold_time: Some("2s".into()),
        ..Default::default()
    };
    peers.create(&pp, &BgpPeer::new("bad", bad)).await.expect("the schema accepts it; the agent does not");
    let log = lab.agent_log(1);
    let found = tokio::task::spawn_blocking(move || {
        wait_for(T, || {
            std::fs::read_to_string(&log).unwrap_or_default().contains("BGPPeer metallb-system/bad: spec.holdTime")
        })
    })
    .await
    .expect("join");
    assert!(found.is_some(), "the invalid peer is reported");
    assert_eq!(lab.next_hops("203.0.113.10/32"), hops);
    assert_eq!(lab.session("192.0.2.11"), before);
    peers.delete("bad", &DeleteParams::default()).await.expect("delete bad");

    // Take "list" on Services and Nodes away from the role: a restarted agent cannot finish its
    // initial sync, so it applies nothing (and withdraws nothing), and says why.
    use k8s_openapi::api::rbac::v1::ClusterRole;
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let mut role = roles.get("frr-speaker").await.expect("role");
    if let Some(rules) = role.rules.as_mut() {
        rules[0].verbs.retain(|v| v != "list");
    }
    roles.replace("frr-speaker", &PostParams::default(), &role).await.expect("replace role");
    let mut lab = std::sync::Arc::try_unwrap(lab).unwrap_or_else(|_| panic!("lab still shared"));
    lab.stop_agent(1);
    lab.start_agent_kube(1, &cp.kubeconfig_for("speaker-token"), 17481);
    let log = lab.agent_log(1);
    let forbidden = tokio::task::spawn_blocking(move || {
        wait_for(T, || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let last_start = text.rfind("starting in Kubernetes mode").unwrap_or(0);
            text[last_start..].contains("forbidden")
        })
    })
    .await
    .expect("join");
    assert!(forbidden.is_some(), "the missing verb shows in the log");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let text = std::fs::read_to_string(lab.agent_log(1)).unwrap_or_default();
    let last_start = text.rfind("starting in Kubernetes mode").unwrap_or(0);
    assert!(!text[last_start..].contains("every watch has listed"), "no snapshot without a complete sync");
    assert_eq!(lab.next_hops("203.0.113.10/32"), hops, "nothing withdrawn because of a client-side error");
    let mut role = roles.get("frr-speaker").await.expect("role");
    if let Some(rules) = role.rules.as_mut() {
        rules[0].verbs.push("list".into());
    }
    roles.replace("frr-speaker", &PostParams::default(), &role).await.expect("restore role");
    let lab = std::sync::Arc::new(lab);

    // Deleting the Service withdraws it.
    svcs.delete("web", &DeleteParams::default()).await.expect("delete");
    let l = lab.clone();
    let gone = tokio::task::spawn_blocking(move || wait_for(T, || l.next_hops("203.0.113.10/32").is_empty()))
        .await
        .expect("join");
    assert!(gone.is_some(), "withdrawn on delete");
}

/// CRDs, deploy/, and a peer, a pool and an advertisement.
async fn install(client: &kube::Client) {
    common::controlplane::install_crds(client).await;
    apply_file(client, "deploy/namespace.yaml", false).await;
    apply_file(client, "deploy/rbac.yaml", false).await;
    let pp = PostParams::default();
    let ns = "metallb-system";
    let spec = BgpPeerSpec {
        my_asn: 64512,
        peer_asn: Some(64500),
        peer_address: Some("192.0.2.1".into()),
        hold_time: Some("9s".into()),
        keepalive_time: Some("3s".into()),
        connect_time: Some("2s".into()),
        ..Default::default()
    };
    Api::<BgpPeer>::namespaced(client.clone(), ns).create(&pp, &BgpPeer::new("router", spec)).await.expect("peer");
    let pool_spec = IpAddressPoolSpec { addresses: vec!["203.0.113.0/24".into()], ..Default::default() };
    Api::<IpAddressPool>::namespaced(client.clone(), ns)
        .create(&pp, &IpAddressPool::new("public", pool_spec))
        .await
        .expect("pool");
    Api::<BgpAdvertisement>::namespaced(client.clone(), ns)
        .create(&pp, &BgpAdvertisement::new("public", BgpAdvertisementSpec::default()))
        .await
        .expect("ad");
}

async fn create_service(client: &kube::Client, name: &str, ip: &str) {
    let pp = PostParams::default();
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    svcs.create(
        &pp,
        &obj(
            serde_json::json!({"metadata": {"name": name}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
        ),
    )
    .await
    .expect("service");
    svcs.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})),
    )
    .await
    .expect("status");
    Api::<EndpointSlice>::namespaced(client.clone(), "default")
        .create(
            &pp,
            &obj(serde_json::json!({
                "metadata": {"name": format!("{name}-1"), "labels": {"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "frr-speaker-test"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["198.51.100.10"], "nodeName": "node1", "conditions": {"ready": true}}]
            })),
        )
        .await
        .expect("endpointslice");
}

fn router_prefixes(lab: &Lab) -> u64 {
    let v = common::vtysh_json(&lab.router(), "show bgp ipv4 unicast statistics json");
    v["ipv4Unicast"][0]["totalPrefixes"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_restart_and_apiserver_outage_withdraw_nothing() {
    use tokio::task::block_in_place;
    let mut cp = block_in_place(|| common::controlplane::ControlPlane::start("kube2"));
    let client = cp.client("admin-token").await;
    install(&client).await;
    let mut lab = block_in_place(|| Lab::new("fsk2", 1, &RouterOpts::default()));
    for i in 1..=200 {
        create_service(&client, &format!("s{i}"), &format!("203.0.113.{i}")).await;
    }
    let kubeconfig = cp.kubeconfig_for("speaker-token");
    lab.start_agent_kube(1, &kubeconfig, 17482);
    assert!(block_in_place(|| wait_for(T, || router_prefixes(&lab) == 200)).is_some(), "200 Services at the router");
    let monitor = common::RouteMonitor::start(&lab.router(), "-4");
    block_in_place(|| std::thread::sleep(Duration::from_secs(1)));
    monitor.drain();

    // The agent restarts (a rolling update): nothing is withdrawn at any time.
    lab.stop_agent(1);
    lab.start_agent_kube(1, &kubeconfig, 17482);
    let log = lab.agent_log(1);
    let synced = block_in_place(|| {
        wait_for(T, || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let last = text.rfind("starting in Kubernetes mode").unwrap_or(0);
            text[last..].contains("every watch has listed")
        })
    });
    assert!(synced.is_some(), "the restarted agent synced");
    block_in_place(|| std::thread::sleep(Duration::from_secs(3)));
    let deleted: Vec<String> = monitor.lines().into_iter().filter(|l| l.starts_with("Deleted")).collect();
    assert!(deleted.is_empty(), "withdrawn during the agent restart: {deleted:?}");
    assert_eq!(router_prefixes(&lab), 200);

    // The apiserver goes away for 30 s: the agent keeps announcing.
    cp.stop_apiserver();
    block_in_place(|| std::thread::sleep(Duration::from_secs(30)));
    let deleted: Vec<String> = monitor.lines().into_iter().filter(|l| l.starts_with("Deleted")).collect();
    assert!(deleted.is_empty(), "withdrawn while the apiserver was down: {deleted:?}");
    assert_eq!(router_prefixes(&lab), 200);

    // It comes back; a change made now is applied.
    block_in_place(|| cp.start_apiserver());
    let client = cp.client("admin-token").await;
    Api::<Service>::namespaced(client.clone(), "default").delete("s7", &DeleteParams::default()).await.expect("delete");
    let gone = block_in_place(|| wait_for(Duration::from_secs(60), || router_prefixes(&lab) == 199));
    assert!(gone.is_some(), "the change after the outage reached the router");
    let deleted: Vec<String> = monitor.lines().into_iter().filter(|l| l.starts_with("Deleted")).collect();
    assert_eq!(deleted.len(), 1, "only s7 was withdrawn: {deleted:?}");
    assert!(deleted[0].contains("203.0.113.7 "), "{deleted:?}");
}
