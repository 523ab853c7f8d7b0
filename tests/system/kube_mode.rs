//! Kubernetes mode end to end: a real kube-apiserver + etcd, the namespace lab's router and node,
//! and the agent watching the apiserver. Objects created through the API reach the router,
//! changes follow, deletes withdraw, and an invalid object changes nothing.

use crate::common;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};

use common::{wait_for, Lab, RouterOpts};
use frr_speaker::model::crds::{
    BgpAdvertisement, BgpAdvertisementSpec, BgpPeer, BgpPeerSpec, BgpSessionState, IpAddressPool, IpAddressPoolSpec,
    ServiceBgpStatus,
};

const T: Duration = Duration::from_secs(30);

use common::controlplane::{apply_file, configuration_state, eventually, lab_peer, obj};

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

    // Status: what this node announces to whom, its sessions, its configuration state.
    let node_uid = Api::<Node>::all(client.clone()).get("node1").await.expect("node").metadata.uid;
    let sbs: Api<ServiceBgpStatus> = Api::namespaced(client.clone(), ns);
    let by_service = ListParams::default().labels("metallb.io/node=node1,metallb.io/service-name=web");
    let found = eventually(T, || async {
        let l = sbs.list(&by_service).await.expect("list");
        l.items.first().and_then(|o| o.status.clone()).is_some_and(|s| s.peers == ["router"])
    })
    .await
    .is_some();
    assert!(found, "ServiceBGPStatus for web: {:?}", sbs.list(&by_service).await.map(|l| l.items));
    let web_status = sbs.list(&by_service).await.expect("list").items.remove(0);
    let st = web_status.status.clone().expect("status");
    assert_eq!(
        (st.node.as_str(), st.service_name.as_str(), st.service_namespace.as_str()),
        ("node1", "web", "default")
    );
    let owner = web_status.metadata.owner_references.clone().unwrap_or_default();
    assert_eq!(owner.len(), 1, "owned by the Node");
    assert_eq!((owner[0].kind.as_str(), owner[0].name.as_str()), ("Node", "node1"));
    assert_eq!(Some(owner[0].uid.clone()), node_uid);
    let sessions: Api<BgpSessionState> = Api::namespaced(client.clone(), ns);
    let established = eventually(T, || async {
        let l = sessions.list(&ListParams::default().labels("metallb.io/node=node1")).await.expect("list");
        l.items.iter().filter_map(|o| o.status.as_ref()).any(|s| {
            s.peer == "192.0.2.1" && s.bgp_status == "Established" && s.bfd_status == "N/A" && s.node == "node1"
        })
    })
    .await
    .is_some();
    assert!(established, "BGPSessionState says Established");
    let states_ns = ns;
    let valid = eventually(T, || async {
        let cs = configuration_state(&client, states_ns, "speaker-node1").await;
        cs.is_some_and(|s| {
            s.result == "Valid"
                && s.last_error.is_empty()
                && s.conditions.iter().any(|c| c.type_ == "Applied" && c.status == "True")
        })
    })
    .await
    .is_some();
    assert!(
        valid,
        "ConfigurationState Valid and Applied: {:?}",
        configuration_state(&client, states_ns, "speaker-node1").await
    );
    assert!(
        eventually(T, || async { !events_for(&client, "default", "web", "Announcing").await.is_empty() })
            .await
            .is_some(),
        "an Announcing event on the Service"
    );
    let ev = events_for(&client, "default", "web", "Announcing").await.remove(0);
    assert_eq!(ev.type_.as_deref(), Some("Normal"));
    assert_eq!(ev.note.as_deref(), Some("node node1 announces 203.0.113.10/32 to BGPPeer router"));
    assert_eq!(ev.reporting_instance.as_deref(), Some("node1"));

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
    // ... in the node's ConfigurationState and as a Warning event on the BGPPeer.
    let invalid = eventually(T, || async {
        let cs = configuration_state(&client, states_ns, "speaker-node1").await;
        cs.is_some_and(|s| {
            s.result == "Invalid"
                && s.last_error.contains("BGPPeer metallb-system/bad: spec.holdTime")
                && s.conditions.iter().any(|c| c.type_ == "ConfigValid" && c.status == "False")
        })
    })
    .await
    .is_some();
    assert!(
        invalid,
        "ConfigurationState shows the error: {:?}",
        configuration_state(&client, states_ns, "speaker-node1").await
    );
    let warned =
        eventually(T, || async { !events_for(&client, ns, "bad", "InvalidConfig").await.is_empty() }).await.is_some();
    assert!(warned, "a Warning event on the invalid BGPPeer");
    let ev = events_for(&client, ns, "bad", "InvalidConfig").await.remove(0);
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert!(ev.note.as_deref().is_some_and(|n| n.contains("spec.holdTime")), "{:?}", ev.note);
    peers.delete("bad", &DeleteParams::default()).await.expect("delete bad");
    let valid_again = eventually(T, || async {
        let cs = configuration_state(&client, states_ns, "speaker-node1").await;
        cs.is_some_and(|s| s.result == "Valid")
    })
    .await
    .is_some();
    assert!(valid_again, "Valid again once the bad peer is gone");

    // externalTrafficPolicy Local, driven through the EndpointSlice API.
    etp_local_transitions(&client, &lab).await;
    // Every call the agent made so far was allowed by deploy/rbac.yaml.
    let text = std::fs::read_to_string(lab.agent_log(1)).unwrap_or_default();
    assert!(!text.to_lowercase().contains("forbidden"), "the agent was refused something:\n{text}");

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

/// events.k8s.io Events about the object `name` in `ns` with this reason.
/// frr-k8s mode through the API, in a frr-k8s namespace of its own: the FRRConfiguration CRD
/// installed after the agent started (until then the agent runs without it), an object that
/// selects this node (its password from a Secret of that namespace) reaches the router, the
/// status frr-k8s writes follows, a change follows, a conflicting second object changes nothing
/// (and the FRRNodeState says why), and a delete withdraws.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frr_configurations_through_the_api_reach_the_router() {
    use frr_speaker::model::frrk8s::{
        BgpSessionState as FrrK8sSession, FrrConfiguration, FrrNodeState, FrrNodeStateStatus,
    };
    let cp = tokio::task::spawn_blocking(|| common::controlplane::ControlPlane::start("kfk")).await.expect("start");
    let client = cp.client("admin-token").await;
    common::controlplane::install_crds(&client).await;
    apply_file(&client, "deploy/namespace.yaml", false).await;
    apply_file(&client, "deploy/rbac.yaml", false).await;
    // frr-k8s's own namespace, not the config one: the component's Role moved there, the
    // neighbor's password from a Secret of that namespace.
    let ns = "frr-k8s-system";
    let namespace: k8s_openapi::api::core::v1::Namespace = obj(serde_json::json!({"metadata": {"name": ns}}));
    Api::all(client.clone()).create(&PostParams::default(), &namespace).await.expect("namespace");
    common::controlplane::apply_file_in(&client, "deploy/frrk8s/rbac.yaml", false, Some(ns)).await;
    let secret: k8s_openapi::api::core::v1::Secret = obj(serde_json::json!({
        "metadata": {"name": "router-password", "namespace": ns},
        "type": "kubernetes.io/basic-auth", "stringData": {"password": "frrk8s-Secret"}
    }));
    Api::namespaced(client.clone(), ns).create(&PostParams::default(), &secret).await.expect("secret");
    let node: Node =
        obj(serde_json::json!({"metadata": {"name": "node1", "labels": {"kubernetes.io/hostname": "node1"}}}));
    Api::<Node>::all(client.clone()).create(&PostParams::default(), &node).await.expect("node");
    let opts = RouterOpts { password: Some("frrk8s-Secret".into()), ..RouterOpts::default() };
    let mut lab = tokio::task::spawn_blocking(move || Lab::new("fsk4", 1, &opts)).await.expect("lab");
    lab.agent_args = vec!["--frrk8s-namespace".into(), ns.into()];
    lab.start_agent_kube(1, &cp.kubeconfig_for("speaker-token"), 17484);
    let lab = std::sync::Arc::new(lab);
    // Without the CRD the agent lists the rest and applies: an empty configuration, FRR running.
    let l = lab.clone();
    let ready = tokio::task::spawn_blocking(move || {
        wait_for(T, || {
            // An apply happened (one with nothing to change logs no line: FRR 10 starts with
            // what the empty configuration holds): the agent's own metric, on the host.
            let applied = common::host_metrics(17484).contains("frr_speaker_last_apply_timestamp_seconds ");
            let log = l.agent_log_text(1);
            applied && log.contains("kind=FRRConfiguration") && log.contains("not served")
        })
    })
    .await
    .expect("join");
    assert!(ready.is_some(), "the agent never applied without the FRRConfiguration CRD:\n{}", lab.agent_log_text(1));
    common::controlplane::install_crds_from(&client, "deploy/frrk8s/crds.yaml").await;

    let api: Api<FrrConfiguration> = Api::namespaced(client.clone(), ns);
    let config = |prefixes: &[&str]| -> FrrConfiguration {
        obj(serde_json::json!({
            "metadata": {"name": "metallb-node1", "namespace": ns},
            "spec": {
                "nodeSelector": {"matchLabels": {"kubernetes.io/hostname": "node1"}},
                "bgp": {"routers": [{"asn": 64512, "prefixes": prefixes, "neighbors": [{
                    "asn": 64500, "address": "192.0.2.1", "holdTime": "9s", "keepaliveTime": "3s",
                    "passwordSecret": {"name": "router-password", "namespace": ns},
                    "connectTime": "2s", "toAdvertise": {"allowed": {"prefixes": prefixes}}}]}]}
            }
        }))
    };
    let hop = |prefix: &'static str| {
        let l = lab.clone();
        tokio::task::spawn_blocking(move || wait_for(T, || l.next_hops(prefix) == vec!["192.0.2.11".to_string()]))
    };
    api.create(&PostParams::default(), &config(&["203.0.113.20/32"])).await.expect("create");
    // The watch of a kind not served retries with backoff (up to 30 s) before it lists.
    let l = lab.clone();
    let first = tokio::task::spawn_blocking(move || {
        wait_for(2 * T, || l.next_hops("203.0.113.20/32") == vec!["192.0.2.11".to_string()])
    });
    assert!(first.await.expect("join").is_some(), "{}", lab.agent_log_text(1));
    // The status frr-k8s writes: the node's FRRNodeState (written once the status writer finds
    // the CRD: within its 30 s probe) and the session's BGPSessionState with frr-k8s's labels.
    let node_state = |want: fn(&FrrNodeStateStatus) -> bool| {
        let states: Api<FrrNodeState> = Api::all(client.clone());
        async move {
            for _ in 0..(2 * T.as_secs() * 2) {
                let got = states.get_opt("node1").await.expect("get").and_then(|s| s.status);
                if got.as_ref().is_some_and(want) {
                    return got;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            panic!("FRRNodeState node1: {:?}", states.get_opt("node1").await)
        }
    };
    let st = node_state(|s| s.last_reload_result == "success" && s.running_config.contains("203.0.113.20/32")).await;
    let st = st.expect("status");
    assert_eq!(st.last_conversion_result, "success");
    assert!(st.running_config.contains("neighbor 192.0.2.1 remote-as 64500"), "{}", st.running_config);
    assert!(
        st.running_config.contains("neighbor 192.0.2.1 password <redacted>")
            && !st.running_config.contains("frrk8s-Secret"),
        "the password is redacted: {}",
        st.running_config
    );
    let sessions: Api<FrrK8sSession> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels("frrk8s.metallb.io/node=node1,frrk8s.metallb.io/peer=192.0.2.1");
    let mut established = false;
    for _ in 0..(T.as_secs() * 2) {
        let l = sessions.list(&lp).await.expect("list");
        established =
            l.items.iter().filter_map(|o| o.status.as_ref()).any(|s| {
                s.bgp_status == "Established" && s.bfd_status == "N/A" && s.node == "node1" && s.vrf.is_empty()
            });
        if established {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(established, "frr-k8s's BGPSessionState: {:?}", sessions.list(&lp).await);
    let patch = Patch::Merge(serde_json::json!({"spec": config(&["203.0.113.20/32", "203.0.113.21/32"]).spec}));
    api.patch("metallb-node1", &PatchParams::default(), &patch).await.expect("patch");
    assert!(hop("203.0.113.21/32").await.expect("join").is_some(), "{}", lab.agent_log_text(1));
    // A second object with another AS for the same VRF: refused, the running config stays.
    let mut other = config(&["203.0.113.22/32"]);
    other.metadata.name = Some("operator".into());
    other.spec.bgp.routers[0].asn = 64513;
    api.create(&PostParams::default(), &other).await.expect("create");
    let l = lab.clone();
    let refused = tokio::task::spawn_blocking(move || wait_for(T, || l.agent_log_text(1).contains("AS 64513 differs")))
        .await
        .expect("join");
    assert!(refused.is_some(), "{}", lab.agent_log_text(1));
    assert_eq!(lab.next_hops("203.0.113.21/32"), ["192.0.2.11"], "the last good config keeps running");
    // runningConfig follows at most every 30 s: the change to .21 may show up to 30 s after it.
    let st = node_state(|s| {
        s.last_conversion_result.starts_with("failed: ") && s.running_config.contains("203.0.113.21/32")
    })
    .await
    .expect("status: the conversion failed, and FRR still runs the last good config");
    assert!(st.last_conversion_result.contains("AS 64513 differs"), "{}", st.last_conversion_result);
    api.delete("operator", &DeleteParams::default()).await.expect("delete");
    api.delete("metallb-node1", &DeleteParams::default()).await.expect("delete");
    let l = lab.clone();
    let gone = tokio::task::spawn_blocking(move || wait_for(T, || l.next_hops("203.0.113.20/32").is_empty()))
        .await
        .expect("join");
    assert!(gone.is_some(), "withdrawn after the delete: {:?}", lab.next_hops("203.0.113.20/32"));
    assert!(!lab.agent_log_text(1).to_lowercase().contains("forbidden"), "deploy/rbac.yaml refused something");
}

async fn events_for(client: &kube::Client, ns: &str, name: &str, reason: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let list = events.list(&ListParams::default()).await.expect("events");
    list.items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

/// A Service with externalTrafficPolicy Local follows its endpoint on node1 through ready,
/// terminating (while another node still has a ready one), ready again, and gone; each step is
/// an EndpointSlice update through the API, timed to the route at the router.
async fn etp_local_transitions(client: &kube::Client, lab: &std::sync::Arc<Lab>) {
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let prefix = "203.0.113.30/32";
    create_service(client, "local", "203.0.113.30").await;
    svcs.patch(
        "local",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"externalTrafficPolicy": "Local"}})),
    )
    .await
    .expect("etp local");
    let endpoint = |node: &str, addr: &str, ready: bool, terminating: bool| {
        serde_json::json!({"addresses": [addr], "nodeName": node,
            "conditions": {"ready": ready, "serving": true, "terminating": terminating}})
    };
    let set = |eps: Vec<serde_json::Value>| {
        let slices = slices.clone();
        async move {
            slices
                .patch("local-1", &PatchParams::default(), &Patch::Merge(serde_json::json!({"endpoints": eps})))
                .await
                .expect("patch slice");
        }
    };
    let node1 = vec!["192.0.2.11".to_string()];
    let wait_hops = |want: Vec<String>| {
        let l = lab.clone();
        tokio::task::spawn_blocking(move || {
            let t = std::time::Instant::now();
            wait_for(T, || l.next_hops(prefix) == want).map(|_| t.elapsed())
        })
    };
    // Ready on node1 (and on node2, which is not in the lab).
    set(vec![endpoint("node1", "198.51.100.10", true, false), endpoint("node2", "198.51.100.20", true, false)]).await;
    let t = wait_hops(node1.clone()).await.expect("join");
    assert!(t.is_some(), "announced while the local endpoint is ready");
    // node1's endpoint terminates while node2's is ready: withdraw so new connections go there.
    set(vec![endpoint("node1", "198.51.100.10", false, true), endpoint("node2", "198.51.100.20", true, false)]).await;
    let terminating = wait_hops(vec![]).await.expect("join");
    assert!(terminating.is_some(), "withdrawn when the local endpoint terminates");
    let withdrawn = eventually(T, || async { !events_for(client, "default", "local", "Withdrawn").await.is_empty() })
        .await
        .is_some();
    assert!(withdrawn, "a Withdrawn event on the Service");
    // It refers to the Service by uid (read when published): `kubectl describe service` finds it.
    let uid = svcs.get("local").await.expect("service").metadata.uid;
    let ev = events_for(client, "default", "local", "Withdrawn").await;
    assert_eq!(ev[0].regarding.as_ref().and_then(|r| r.uid.clone()), uid, "the Event names the Service's uid");
    // The status object goes with the announcement.
    let sbs: Api<ServiceBgpStatus> = Api::namespaced(client.clone(), "metallb-system");
    let by_service = ListParams::default().labels("metallb.io/node=node1,metallb.io/service-name=local");
    assert!(
        eventually(T, || async { sbs.list(&by_service).await.expect("list").items.is_empty() }).await.is_some(),
        "ServiceBGPStatus deleted once not announced"
    );
    // Ready again, then gone from the slice altogether.
    set(vec![endpoint("node1", "198.51.100.11", true, false), endpoint("node2", "198.51.100.20", true, false)]).await;
    let ready = wait_hops(node1.clone()).await.expect("join");
    assert!(ready.is_some(), "announced again when a local endpoint is ready");
    set(vec![endpoint("node2", "198.51.100.20", true, false)]).await;
    let gone = wait_hops(vec![]).await.expect("join");
    assert!(gone.is_some(), "withdrawn when the last local endpoint is gone");
    // The same event again is one Event with a series (a patch), not a new object.
    let series = eventually(T, || async {
        let ev = events_for(client, "default", "local", "Withdrawn").await;
        ev.len() == 1 && ev[0].series.as_ref().is_some_and(|s| s.count == 2)
    })
    .await
    .is_some();
    assert!(
        series,
        "second Withdrawn counted in the event's series: {:?}",
        events_for(client, "default", "local", "Withdrawn").await
    );
    println!(
        "ETP Local via the API, update to router: terminating→withdrawn {:?}, ready→announced {:?}, gone→withdrawn {:?}",
        terminating.unwrap_or_default(),
        ready.unwrap_or_default(),
        gone.unwrap_or_default()
    );
    svcs.delete("local", &DeleteParams::default()).await.expect("delete");
}

/// CRDs, deploy/, this node's Node object, and a peer, a pool and an advertisement.
async fn install(client: &kube::Client) {
    common::controlplane::install_crds(client).await;
    apply_file(client, "deploy/namespace.yaml", false).await;
    apply_file(client, "deploy/rbac.yaml", false).await;
    let node: Node = obj(serde_json::json!({"metadata": {"name": "node1"}}));
    Api::<Node>::all(client.clone()).create(&PostParams::default(), &node).await.expect("node");
    let pp = PostParams::default();
    let ns = "metallb-system";
    Api::<BgpPeer>::namespaced(client.clone(), ns)
        .create(&pp, &BgpPeer::new("router", lab_peer("192.0.2.1")))
        .await
        .expect("peer");
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
    // BGP's table changes a moment before zebra removes the kernel route: wait for it, and a
    // second more for anything else.
    let mut deleted: Vec<String> = Vec::new();
    block_in_place(|| {
        wait_for(T, || {
            deleted.extend(monitor.lines().into_iter().filter(|l| l.starts_with("Deleted")));
            !deleted.is_empty()
        });
        std::thread::sleep(Duration::from_secs(1));
    });
    deleted.extend(monitor.lines().into_iter().filter(|l| l.starts_with("Deleted")));
    assert_eq!(deleted.len(), 1, "only s7 was withdrawn: {deleted:?}");
    assert!(deleted[0].contains("203.0.113.7 "), "{deleted:?}");
}

/// Where a BGP password could leak, checked with the agent logging at `trace`: its log, /metrics,
/// every status object, every Event, and the command line of every process on the machine. A
/// password later replaced by an invalid one is reported by field, never by value, and the
/// session keeps the last good one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_stay_out_of_logs_metrics_status_and_events() {
    use k8s_openapi::api::core::v1::Secret;
    use tokio::task::block_in_place;
    const GOOD: &str = "Zq7-secret-Kx9#w";
    const BAD: &str = "Yp4 leaked!pass";
    let cp = block_in_place(|| common::controlplane::ControlPlane::start("kube3"));
    let client = cp.client("admin-token").await;
    install(&client).await;
    let ns = "metallb-system";
    let pp = PostParams::default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = serde_json::json!({"metadata": {"name": "bgp-auth"}, "type": "kubernetes.io/basic-auth",
        "stringData": {"password": GOOD}});
    secrets.create(&pp, &obj(secret)).await.expect("secret");
    let peers: Api<BgpPeer> = Api::namespaced(client.clone(), ns);
    peers
        .patch(
            "router",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"passwordSecret": {"name": "bgp-auth"}}})),
        )
        .await
        .expect("peer");
    create_service(&client, "web", "203.0.113.10").await;
    let opts = RouterOpts { password: Some(GOOD.into()), ..Default::default() };
    let mut lab = block_in_place(|| Lab::new("fsk3", 1, &opts));
    lab.agent_env = vec![("RUST_LOG".into(), "trace".into())];
    lab.start_agent_kube(1, &cp.kubeconfig_for("speaker-token"), 17483);
    let hops = vec!["192.0.2.11".to_string()];
    let up = block_in_place(|| wait_for(T, || lab.next_hops("203.0.113.10/32") == hops));
    assert!(up.is_some(), "the MD5-protected session carries the route");

    // The Secret changes to a password FRR's config cannot hold: reported, nothing applied.
    secrets
        .patch("bgp-auth", &PatchParams::default(), &Patch::Merge(serde_json::json!({"stringData": {"password": BAD}})))
        .await
        .expect("patch secret");
    let states_ns = ns;
    let invalid = eventually(T, || async {
        let cs = configuration_state(&client, states_ns, "speaker-node1").await;
        cs.is_some_and(|s| s.result == "Invalid" && s.last_error.contains("spec.passwordSecret"))
    })
    .await
    .is_some();
    assert!(
        invalid,
        "the bad password is reported by field: {:?}",
        configuration_state(&client, states_ns, "speaker-node1").await
    );
    let warned = eventually(T, || async { !events_for(&client, ns, "router", "InvalidConfig").await.is_empty() })
        .await
        .is_some();
    assert!(warned, "a Warning event on the BGPPeer");
    let before = lab.session("192.0.2.11");
    block_in_place(|| std::thread::sleep(Duration::from_secs(2)));
    assert_eq!(lab.session("192.0.2.11"), before, "the session keeps the last good password");
    assert_eq!(lab.next_hops("203.0.113.10/32"), hops);

    // Everything the agent wrote or shows, and every process's command line.
    let mut seen: Vec<(String, String)> = Vec::new();
    seen.push(("agent log".into(), std::fs::read_to_string(lab.agent_log(1)).unwrap_or_default()));
    seen.push(("metrics".into(), block_in_place(|| common::host_metrics(17483))));
    let all = ListParams::default();
    let s1 = Api::<ServiceBgpStatus>::namespaced(client.clone(), ns).list(&all).await.expect("list");
    let s2 = Api::<BgpSessionState>::namespaced(client.clone(), ns).list(&all).await.expect("list");
    let cs_resource = kube::core::ApiResource::erase::<frr_speaker::model::crds::ConfigurationState>(&());
    let s3 = Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), states_ns, &cs_resource)
        .list(&all)
        .await
        .expect("list");
    let ev = Api::<Event>::all(client.clone()).list(&all).await.expect("events");
    for (what, items) in [
        ("ServiceBGPStatus", serde_json::to_string(&s1.items)),
        ("BGPSessionState", serde_json::to_string(&s2.items)),
        ("ConfigurationState", serde_json::to_string(&s3.items)),
        ("Events", serde_json::to_string(&ev.items)),
    ] {
        seen.push((what.into(), items.expect("json")));
    }
    for p in std::fs::read_dir("/proc").expect("proc").flatten() {
        if let Ok(cmd) = std::fs::read(p.path().join("cmdline")) {
            seen.push((format!("{}/cmdline", p.path().display()), String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
    }
    assert!(seen.len() > 10 && seen[0].1.contains("TRACE"), "the log is at trace level");
    assert!(s3.items.len() == 1 && !ev.items.is_empty(), "there is status and there are Events to look at");
    for pw in [GOOD, BAD] {
        // k8s-openapi serializes bytes as base64, as a Secret's data.
        let b64 = serde_json::to_string(&k8s_openapi::ByteString(pw.as_bytes().to_vec())).expect("b64");
        let b64 = b64.trim_matches('"').to_string();
        for (what, text) in &seen {
            assert!(!text.contains(pw), "{what} contains the password {pw:?}");
            assert!(!text.contains(&b64), "{what} contains the password {pw:?} in base64");
        }
    }
    // The one place it belongs: frr.conf, mode 0600.
    use std::os::unix::fs::PermissionsExt;
    let conf = std::path::Path::new("/etc/frr").join(lab.node(1)).join("frr.conf");
    let meta = std::fs::metadata(&conf).expect("frr.conf");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&conf).expect("read").contains(&format!("password {GOOD}")));
}
