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

/// frr-k8s's FRRConfiguration CRD (deploy/frrk8s/crds.yaml) on a real apiserver: what frr-k8s
/// v0.0.25's schema refuses (its bounds, enums and the CEL rule on connectTime; frr-k8s's
/// `frrconfiguration_crd_validation_test.go` holds the allowAsIn cases) is refused at
/// `kubectl apply`, and what it accepts is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frrk8s_crds_validate_against_a_real_apiserver() {
    let cp = tokio::task::spawn_blocking(|| common::controlplane::ControlPlane::start("crdf")).await.expect("start");
    let client = cp.client("admin-token").await;
    let names = common::controlplane::install_crds_from(&client, "deploy/frrk8s/crds.yaml").await;
    assert_eq!(names.len(), 4, "FRRConfiguration, FRRNodeState, BGPSessionState, FRRK8sConfiguration: {names:?}");
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "frr-k8s-system"}})).expect("ns");
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.expect("namespace");
    let gvk = GroupVersionKind::gvk("frrk8s.metallb.io", "v1beta1", "FRRConfiguration");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "frr-k8s-system", &ApiResource::from_gvk(&gvk));
    // A neighbor with `extra` fields merged in; the BFD profile list gets `profile`.
    let object = |name: &str, neighbor: serde_json::Value, profile: serde_json::Value| {
        let mut n = serde_json::json!({"asn": 64500, "address": "192.0.2.1"});
        if let (Some(o), Some(e)) = (n.as_object_mut(), neighbor.as_object()) {
            o.extend(e.clone());
        }
        let mut d = DynamicObject::new(name, &ApiResource::from_gvk(&gvk));
        let mut bgp = serde_json::json!({"routers": [{"asn": 64512, "neighbors": [n]}]});
        if !profile.is_null() {
            bgp["bfdProfiles"] = serde_json::json!([profile]);
        }
        d.data = serde_json::json!({"spec": {"bgp": bgp}});
        d
    };
    let none = serde_json::Value::Null;
    let refused: Vec<(&str, serde_json::Value, serde_json::Value)> = vec![
        ("connect-zero", serde_json::json!({"connectTime": "0s"}), none.clone()),
        ("connect-too-long", serde_json::json!({"connectTime": "65536s"}), none.clone()),
        ("connect-fraction", serde_json::json!({"connectTime": "1500ms"}), none.clone()),
        ("dynamic-asn-enum", serde_json::json!({"asn": 0, "dynamicASN": "sideways"}), none.clone()),
        ("advertise-mode-enum", serde_json::json!({"toAdvertise": {"allowed": {"mode": "some"}}}), none.clone()),
        ("port-too-high", serde_json::json!({"port": 16385}), none.clone()),
        ("local-asn-zero", serde_json::json!({"localASN": 0, "asn": 64501}), none.clone()),
        (
            "receive-ge-129",
            serde_json::json!({"toReceive": {"allowed": {"prefixes": [{"prefix": "198.51.100.0/24", "ge": 129}]}}}),
            none.clone(),
        ),
        ("allow-as-in-11", serde_json::json!({"allowAsIn": "11"}), none.clone()),
        ("asn-string", serde_json::json!({"asn": "sixty-four"}), none.clone()),
        ("bfd-rx-too-short", serde_json::json!({}), serde_json::json!({"name": "p", "receiveInterval": 5})),
        ("bfd-multiplier-1", serde_json::json!({}), serde_json::json!({"name": "p", "detectMultiplier": 1})),
        ("bfd-ttl-255", serde_json::json!({}), serde_json::json!({"name": "p", "minimumTtl": 255})),
    ];
    for (name, neighbor, profile) in refused {
        let err = api.create(&PostParams::default(), &object(name, neighbor.clone(), profile)).await;
        assert!(err.is_err(), "{name}: the apiserver accepted {neighbor}");
        let e = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("Invalid") || e.contains("invalid") || e.contains("422"), "{name}: {e}");
    }
    let accepted: Vec<(&str, serde_json::Value, serde_json::Value)> = vec![
        ("plain", serde_json::json!({}), none.clone()),
        ("connect-5s", serde_json::json!({"connectTime": "5s"}), none.clone()),
        ("dynamic-external", serde_json::json!({"asn": 0, "dynamicASN": "external"}), none.clone()),
        ("allow-as-in-origin", serde_json::json!({"allowAsIn": "origin"}), none.clone()),
        ("allow-as-in-none", serde_json::json!({"allowAsIn": "none"}), none.clone()),
        ("allow-as-in-3", serde_json::json!({"allowAsIn": "3"}), none.clone()),
        (
            "receive-le-32",
            serde_json::json!({"toReceive": {"allowed": {"prefixes": [{"prefix": "198.51.100.0/24", "le": 32}]}}}),
            none.clone(),
        ),
        (
            "bfd-profile",
            serde_json::json!({"bfdProfile": "p"}),
            serde_json::json!({"name": "p", "receiveInterval": 300, "detectMultiplier": 3, "minimumTtl": 254}),
        ),
    ];
    for (name, neighbor, profile) in accepted {
        let r = api.create(&PostParams::default(), &object(name, neighbor.clone(), profile)).await;
        assert!(r.is_ok(), "{name}: refused {neighbor}: {:?}", r.err());
    }
}
