//! Kubernetes mode end to end: a real kube-apiserver + etcd, the namespace lab's router and node,
//! and the agent watching the apiserver. Objects created through the API reach the router,
//! changes follow, deletes withdraw, and an invalid object changes nothing.

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_created_through_the_api_reach_the_router() {
    let cp = tokio::task::spawn_blocking(|| common::controlplane::ControlPlane::start("kube")).await.expect("start");
    let client = cp.client("admin-token").await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let text = std::fs::read_to_string(common::root().join("deploy/crds.yaml")).expect("crds");
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        crds.create(&PostParams::default(), &CustomResourceDefinition::deserialize(doc).expect("crd"))
            .await
            .expect("crd");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pp = PostParams::default();
    Api::<Namespace>::all(client.clone())
        .create(&pp, &obj(serde_json::json!({"metadata": {"name": "metallb-system"}})))
        .await
        .expect("ns");

    let mut lab = tokio::task::spawn_blocking(|| Lab::new("fsk1", 1, &RouterOpts::default())).await.expect("lab");
    let ns = "metallb-system";
    let peers: Api<BgpPeer> = Api::namespaced(client.clone(), ns);
    let spec = BgpPeerSpec {
        my_asn: 64512,
        peer_asn: Some(64500),
        peer_address: Some("192.0.2.1".into()),
        hold_time: Some("9s".into()),
        keepalive_time: Some("3s".into()),
        connect_time: Some("2s".into()),
        ..Default::default()
    };
    peers.create(&pp, &BgpPeer::new("router", spec)).await.expect("peer");
    let pool_spec = IpAddressPoolSpec { addresses: vec!["203.0.113.0/24".into()], ..Default::default() };
    Api::<IpAddressPool>::namespaced(client.clone(), ns)
        .create(&pp, &IpAddressPool::new("public", pool_spec))
        .await
        .expect("pool");
    let ads: Api<BgpAdvertisement> = Api::namespaced(client.clone(), ns);
    ads.create(&pp, &BgpAdvertisement::new("public", BgpAdvertisementSpec::default())).await.expect("ad");

    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    svcs.create(
        &pp,
        &obj(
            serde_json::json!({"metadata": {"name": "web"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
        ),
    )
    .await
    .expect("service");
    svcs.patch_status(
        "web",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}})),
    )
    .await
    .expect("status");
    Api::<EndpointSlice>::namespaced(client.clone(), "default")
        .create(
            &pp,
            &obj(serde_json::json!({
                "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "frr-speaker-test"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["198.51.100.10"], "nodeName": "node1", "conditions": {"ready": true}}]
            })),
        )
        .await
        .expect("endpointslice");

    lab.start_agent_kube(1, &cp.kubeconfig, 17481);
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

    // Deleting the Service withdraws it.
    svcs.delete("web", &DeleteParams::default()).await.expect("delete");
    let l = lab.clone();
    let gone = tokio::task::spawn_blocking(move || wait_for(T, || l.next_hops("203.0.113.10/32").is_empty()))
        .await
        .expect("join");
    assert!(gone.is_some(), "withdrawn on delete");
}
