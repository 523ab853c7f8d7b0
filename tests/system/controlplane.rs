//! The generated CRDs against a real kube-apiserver (built from its Go module, see
//! e2e/controlplane/build.sh): they install, reach Established, accept MetalLB-style objects
//! (including a spec-less BGPAdvertisement) and reject what the schema forbids.

use crate::common;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};

use frr_speaker::model::crds::{BgpPeer, BgpPeerSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_install_and_validate_against_a_real_apiserver() {
    let cp = tokio::task::spawn_blocking(|| common::controlplane::ControlPlane::start("crds")).await.expect("start");
    let client = cp.client("admin-token").await;

    let names = common::controlplane::install_crds(&client).await;
    assert_eq!(names.len(), 9, "5 configuration kinds, L2Advertisement (read to warn) and 3 status kinds");

    let ns_api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "metallb-system"}})).expect("ns");
    ns_api.create(&PostParams::default(), &ns).await.expect("namespace");

    // A typed BGPPeer round-trips.
    let peers: Api<BgpPeer> = Api::namespaced(client.clone(), "metallb-system");
    let spec = BgpPeerSpec {
        my_asn: 64512,
        peer_asn: Some(64500),
        peer_address: Some("192.0.2.1".into()),
        hold_time: Some("9s".into()),
        ..Default::default()
    };
    peers.create(&PostParams::default(), &BgpPeer::new("router", spec.clone())).await.expect("create BGPPeer");
    assert_eq!(peers.get("router").await.expect("get").spec, spec);

    // A BGPPeer written as MetalLB's v1beta1 (as older manifests and MetalLB's own tools have it)
    // is served and reads unchanged as v1beta2 (conversion None: the same fields and shapes).
    let v1 = GroupVersionKind::gvk("metallb.io", "v1beta1", "BGPPeer");
    let old: Api<DynamicObject> = Api::namespaced_with(client.clone(), "metallb-system", &ApiResource::from_gvk(&v1));
    let mut legacy = DynamicObject::new("legacy", &ApiResource::from_gvk(&v1));
    legacy.data = serde_json::json!({"spec": {"myASN": 64512, "peerASN": 64500, "peerAddress": "192.0.2.2",
        "holdTime": "90s", "nodeSelectors": [{"matchLabels": {"rack": "a"}}], "passwordSecret": {}}});
    old.create(&PostParams::default(), &legacy).await.expect("v1beta1 BGPPeer accepted");
    let read = peers.get("legacy").await.expect("read as v1beta2").spec;
    assert_eq!((read.my_asn, read.peer_asn, read.peer_address.as_deref()), (64512, Some(64500), Some("192.0.2.2")));
    assert_eq!(read.node_selectors.len(), 1);
    let back = old.get("legacy").await.expect("read as v1beta1");
    assert_eq!(back.types.as_ref().map(|t| t.api_version.as_str()), Some("metallb.io/v1beta1"));
    assert_eq!(back.data["spec"]["peerAddress"], "192.0.2.2");

    // MetalLB's CEL rule: enableGracefulRestart cannot change on an existing peer.
    let gr =
        BgpPeerSpec { enable_graceful_restart: Some(true), peer_address: Some("192.0.2.3".into()), ..spec.clone() };
    peers.create(&PostParams::default(), &BgpPeer::new("gr", gr)).await.expect("create with GR");
    let flip = serde_json::json!({"spec": {"enableGracefulRestart": false}});
    let err = peers.patch("gr", &PatchParams::default(), &Patch::Merge(&flip)).await.expect_err("refused");
    assert!(err.to_string().contains("EnableGracefulRestart cannot be changed after creation"), "{err}");
    let other = serde_json::json!({"spec": {"holdTime": "30s"}});
    peers.patch("gr", &PatchParams::default(), &Patch::Merge(&other)).await.expect("other fields still change");

    // BGPSessionState (no MetalLB kind) lives in this project's own group.
    let gvk = GroupVersionKind::gvk("frr-speaker.io", "v1beta1", "BGPSessionState");
    let st: Api<DynamicObject> = Api::namespaced_with(client.clone(), "metallb-system", &ApiResource::from_gvk(&gvk));
    assert!(st.list(&Default::default()).await.is_ok(), "bgpsessionstates.frr-speaker.io served");

    // MetalLB's minimal BGPAdvertisement has no spec.
    let gvk = GroupVersionKind::gvk("metallb.io", "v1beta1", "BGPAdvertisement");
    let ads: Api<DynamicObject> = Api::namespaced_with(client.clone(), "metallb-system", &ApiResource::from_gvk(&gvk));
    ads.create(&PostParams::default(), &DynamicObject::new("everything", &ApiResource::from_gvk(&gvk)))
        .await
        .expect("a spec-less BGPAdvertisement is accepted");

    // The schema rejects wrong types and out-of-range values.
    let gvk = GroupVersionKind::gvk("metallb.io", "v1beta2", "BGPPeer");
    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), "metallb-system", &ApiResource::from_gvk(&gvk));
    let mut bad = DynamicObject::new("bad", &ApiResource::from_gvk(&gvk));
    bad.data = serde_json::json!({"spec": {"myASN": "sixty-four", "peerAddress": "192.0.2.1"}});
    assert!(raw.create(&PostParams::default(), &bad).await.is_err(), "a string myASN must be rejected");
    let gvk = GroupVersionKind::gvk("metallb.io", "v1beta1", "BFDProfile");
    let bfd: Api<DynamicObject> = Api::namespaced_with(client.clone(), "metallb-system", &ApiResource::from_gvk(&gvk));
    let mut bad = DynamicObject::new("bad", &ApiResource::from_gvk(&gvk));
    bad.data = serde_json::json!({"spec": {"detectMultiplier": 1}});
    assert!(
        bfd.create(&PostParams::default(), &bad).await.is_err(),
        "detectMultiplier 1 is below the schema's minimum"
    );

    // RBAC is on: the speaker's ServiceAccount identity has no rights until deploy/ grants them.
    let as_speaker: Api<BgpPeer> = Api::namespaced(cp.client("speaker-token").await, "metallb-system");
    let err = as_speaker.list(&Default::default()).await.expect_err("forbidden without a Role");
    assert!(err.to_string().contains("forbidden") || err.to_string().contains("403"), "{err}");
}
