//! Migrating from MetalLB: a configuration as MetalLB's tools write it
//! (tests/migration/metallb-objects.yaml: v1beta1 and v1beta2 peers, `passwordSecret: {}`, Community
//! aliases, node selectors on a peer and on an advertisement, several advertisements of one pool)
//! passes `frr-speaker check`, applies unchanged to a real apiserver carrying deploy/crds.yaml, and
//! two agents in Kubernetes mode give the lab router the sessions, prefixes and attributes that
//! MetalLB's FRR mode renders for it:
//!
//! - a neighbor per peer selected by the node (MetalLB's `neighbor X remote-as`, golden
//!   TestTwoSessions): node1 (rack a) peers with both, node2 with the IPv4 router only;
//! - a prefix per Service address and advertisement (`network P`, golden TestTwoAdvertisements),
//!   from every node with a ready endpoint (ETP Cluster: all nodes), only from the nodes the
//!   advertisement selects;
//! - communities added per advertisement (`set community C additive`, `set large-community L
//!   additive`, golden TestTwoAdvertisementsTwoSessions / TestLargeCommunities): a prefix carries the
//!   union over the advertisements that announce it to that peer, aliases resolved.

use crate::common;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde::Deserialize;

use common::controlplane::{apply_file, configuration_state, eventually, obj};
use common::{wait_for, Lab, RouterOpts};

const T: Duration = Duration::from_secs(30);
const OBJECTS: &str = "tests/migration/metallb-objects.yaml";

/// Create every object of a YAML stream as it is (any kind the apiserver serves, any version).
async fn create_all(client: &kube::Client, text: &str) {
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let v = serde_json::Value::deserialize(doc).expect("yaml");
        if v.is_null() {
            continue;
        }
        let api_version = v["apiVersion"].as_str().expect("apiVersion").to_string();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        let gvk = GroupVersionKind::gvk(group, version, v["kind"].as_str().expect("kind"));
        let (ar, _) = kube::discovery::pinned_kind(client, &gvk).await.unwrap_or_else(|e| panic!("{gvk:?}: {e}"));
        let ns = v["metadata"]["namespace"].as_str().unwrap_or("default").to_string();
        let o: DynamicObject = obj(v);
        Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &ar)
            .create(&PostParams::default(), &o)
            .await
            .unwrap_or_else(|e| panic!("{api_version} {:?}: {e}", o.metadata.name));
    }
}

/// A LoadBalancer Service with these addresses (as MetalLB's controller wrote them) and a ready
/// endpoint on each node.
async fn service(client: &kube::Client, name: &str, ips: &[&str], pool: &str) {
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let families = if ips.iter().any(|i| i.contains(':')) { "PreferDualStack" } else { "SingleStack" };
    svcs.create(
        &PostParams::default(),
        &obj(serde_json::json!({
            "metadata": {"name": name, "annotations": {"metallb.io/ip-allocated-from-pool": pool}},
            "spec": {"type": "LoadBalancer", "ipFamilyPolicy": families, "ports": [{"port": 80}]}
        })),
    )
    .await
    .expect("service");
    let ingress: Vec<serde_json::Value> = ips.iter().map(|ip| serde_json::json!({"ip": ip})).collect();
    svcs.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"status": {"loadBalancer": {"ingress": ingress}}})),
    )
    .await
    .expect("status");
    for (family, addr) in [("IPv4", "198.51.100.10"), ("IPv6", "2001:db8:200::10")] {
        Api::<EndpointSlice>::namespaced(client.clone(), "default")
            .create(
                &PostParams::default(),
                &obj(serde_json::json!({
                    "metadata": {"name": format!("{name}-{}", family.to_lowercase()), "labels": {"kubernetes.io/service-name": name}},
                    "addressType": family,
                    "endpoints": [
                        {"addresses": [addr], "nodeName": "node1", "conditions": {"ready": true}},
                        {"addresses": [addr], "nodeName": "node2", "conditions": {"ready": true}}
                    ]
                })),
            )
            .await
            .expect("endpointslice");
    }
}

/// (next hops, standard communities, large communities, AS path) of the router's path(s) to `prefix`.
fn route(lab: &Lab, prefix: &str) -> (Vec<String>, String, String, String) {
    let p = lab.bgp_path(prefix);
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    (lab.next_hops(prefix), s(&p["community"]["string"]), s(&p["largeCommunity"]["string"]), s(&p["aspath"]["string"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metallb_objects_give_metallbs_sessions_prefixes_and_attributes() {
    use tokio::task::block_in_place;
    // 1. The user's CI: `frr-speaker check` without --node validates it as MetalLB's controller.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_frr-speaker"))
        .current_dir(common::root())
        .args(["check", OBJECTS])
        .output()
        .expect("check runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "check refused MetalLB's objects:\n{said}");
    assert!(!said.contains("warning") && !said.contains("error"), "check complained:\n{said}");

    // 2. The objects, unchanged, on a real apiserver with our CRDs; two labelled nodes.
    let cp = block_in_place(|| common::controlplane::ControlPlane::start("mig"));
    let client = cp.client("admin-token").await;
    common::controlplane::install_crds(&client).await;
    apply_file(&client, "deploy/namespace.yaml", false).await;
    apply_file(&client, "deploy/rbac.yaml", false).await;
    let text = std::fs::read_to_string(common::root().join(OBJECTS)).expect("objects");
    create_all(&client, &text).await;
    for (node, rack) in [("node1", "a"), ("node2", "b")] {
        let n: Node =
            obj(serde_json::json!({"metadata": {"name": node, "labels": {"topology.example.com/rack": rack}}}));
        Api::<Node>::all(client.clone()).create(&PostParams::default(), &n).await.expect("node");
    }
    service(&client, "web", &["203.0.113.10"], "public").await;
    service(&client, "dual", &["203.0.113.20", "2001:db8:100::20"], "public").await;
    service(&client, "edge", &["203.0.113.130"], "rack-a").await;

    // 3. The speakers, as the speaker's ServiceAccount.
    let mut lab = block_in_place(|| Lab::new("fsm", 2, &RouterOpts::default()));
    let kubeconfig = cp.kubeconfig_for("speaker-token");
    lab.start_agent_kube(1, &kubeconfig, 17485);
    lab.start_agent_kube(2, &kubeconfig, 17486);
    let both = vec!["192.0.2.11".to_string(), "192.0.2.12".to_string()];

    // Prefixes: web from both nodes with the communities of both advertisements of its pool.
    let web = block_in_place(|| wait_for(T, || route(&lab, "203.0.113.10/32").0 == both));
    assert!(web.is_some(), "web: {:?}", route(&lab, "203.0.113.10/32"));
    let expect_web = (both.clone(), "65000:100 65000:200".into(), "64512:1:2".into(), "64512".into());
    assert!(
        block_in_place(|| wait_for(T, || route(&lab, "203.0.113.10/32") == expect_web)).is_some(),
        "{:?}",
        route(&lab, "203.0.113.10/32")
    );
    assert!(
        block_in_place(|| wait_for(T, || route(&lab, "203.0.113.20/32") == expect_web)).is_some(),
        "{:?}",
        route(&lab, "203.0.113.20/32")
    );
    // IPv6: only node1 peers with router-v6 (its node selector); public-large is for router-v4 only.
    let expect_v6 = (1, "65000:100 65000:200".to_string(), String::new(), "64512".to_string());
    let v6 = || {
        let (hops, c, l, a) = route(&lab, "2001:db8:100::20/128");
        (hops.len(), c, l, a)
    };
    assert!(block_in_place(|| wait_for(T, || v6() == expect_v6)).is_some(), "{:?}", v6());
    // The rack-a pool: only from node1, with the large-community alias and nothing else.
    let expect_edge = (vec!["192.0.2.11".to_string()], String::new(), "64512:7:7".to_string(), "64512".to_string());
    assert!(
        block_in_place(|| wait_for(T, || route(&lab, "203.0.113.130/32") == expect_edge)).is_some(),
        "{:?}",
        route(&lab, "203.0.113.130/32")
    );

    // Sessions: node1 over both families, node2 over IPv4 only.
    assert_eq!(lab.session("192.0.2.11").2, "Established");
    assert_eq!(lab.session("192.0.2.12").2, "Established");
    assert_eq!(lab.session("2001:db8::11").2, "Established");
    block_in_place(|| std::thread::sleep(Duration::from_secs(3)));
    assert_ne!(lab.session("2001:db8::12").2, "Established", "node2 is not selected by router-v6");
    // Exactly these prefixes, nothing else.
    let v4 = common::vtysh_json(&lab.router(), "show bgp ipv4 unicast json");
    let mut prefixes: Vec<String> = v4["routes"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    prefixes.sort();
    assert_eq!(prefixes, ["203.0.113.10/32", "203.0.113.130/32", "203.0.113.20/32"]);

    // Both speakers report a valid configuration, applied; neither logged a warning or error.
    let states_ns = "metallb-system";
    for node in ["node1", "node2"] {
        let ok = eventually(T, || async {
            let cs = configuration_state(&client, states_ns, &format!("speaker-{node}")).await;
            cs.is_some_and(|s| {
                s.result == "Valid" && s.conditions.iter().any(|c| c.type_ == "Applied" && c.status == "True")
            })
        })
        .await;
        assert!(
            ok.is_some(),
            "{node}: {:?}",
            configuration_state(&client, states_ns, &format!("speaker-{node}")).await
        );
    }
    lab.assert_clean_logs();

    // 4. The escape hatch, through the API: MetalLB's bgpextras ConfigMap. Lines FRR refuses are
    // reported on the node's ConfigurationState and as a Warning Event on the ConfigMap, while
    // the agent's own configuration keeps running; fixed lines are applied and the report clears.
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), "metallb-system");
    let extras = |text: &str| -> k8s_openapi::api::core::v1::ConfigMap {
        obj(serde_json::json!({"metadata": {"name": "bgpextras"}, "data": {"extras": text}}))
    };
    cms.create(&PostParams::default(), &extras("router bgp 64512\n neighbor 192.0.2.1 no-such-option\n"))
        .await
        .expect("configmap");
    let refused = eventually(T, || async {
        let cs = configuration_state(&client, states_ns, "speaker-node1").await;
        cs.is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "ExtrasApplied" && c.status == "False" && c.message.contains("no-such-option"))
                && s.conditions.iter().any(|c| c.type_ == "Applied" && c.status == "True")
                && s.error_summary.starts_with("bgpextras not applied")
        })
    })
    .await;
    assert!(refused.is_some(), "{:?}", configuration_state(&client, states_ns, "speaker-node1").await);
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), "metallb-system");
    let warned = eventually(T, || async {
        events.list(&Default::default()).await.expect("events").items.iter().any(|e| {
            e.reason.as_deref() == Some("ExtrasRefused")
                && e.type_.as_deref() == Some("Warning")
                && e.regarding
                    .as_ref()
                    .is_some_and(|r| r.kind.as_deref() == Some("ConfigMap") && r.name.as_deref() == Some("bgpextras"))
        })
    })
    .await;
    assert!(warned.is_some(), "a Warning Event on the ConfigMap");
    assert_eq!(route(&lab, "203.0.113.10/32").0, both, "ours keeps running");

    let good = "router bgp 64512\n address-family ipv4 unicast\n  neighbor 192.0.2.1 allowas-in origin\n exit-address-family\n";
    cms.replace("bgpextras", &PostParams::default(), &{
        let mut cm = cms.get("bgpextras").await.expect("get");
        cm.data = extras(good).data;
        cm
    })
    .await
    .expect("replace");
    let node1 = lab.node(1);
    let applied = block_in_place(|| {
        wait_for(T, || common::vtysh(&node1, "show running-config").contains("neighbor 192.0.2.1 allowas-in origin"))
    });
    assert!(applied.is_some(), "the fixed extras reach node1's FRR");
    let cleared = eventually(T, || async {
        let cs = configuration_state(&client, states_ns, "speaker-node1").await;
        cs.is_some_and(|s| s.error_summary.is_empty() && s.conditions.len() == 2)
    })
    .await;
    assert!(cleared.is_some(), "{:?}", configuration_state(&client, states_ns, "speaker-node1").await);

    // 5. A pool only an L2Advertisement selects (MetalLB's layer 2 mode, not done here): its
    // Service is announced by nobody, and says so with a Warning Event.
    create_all(
        &client,
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: lan, namespace: metallb-system}\nspec: {addresses: [198.51.100.64/26]}\n---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: lan, namespace: metallb-system}\nspec: {ipAddressPools: [lan]}\n",
    )
    .await;
    service(&client, "printer", &["198.51.100.70"], "lan").await;
    let svc_events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), "default");
    let not_announced = eventually(T, || async {
        svc_events.list(&Default::default()).await.expect("events").items.iter().any(|e| {
            e.reason.as_deref() == Some("NotAnnounced")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("printer")
                && e.note.as_deref().is_some_and(|n| n.contains("L2Advertisement lan"))
        })
    })
    .await;
    assert!(not_announced.is_some(), "a NotAnnounced Warning on the Service of an L2-only pool");
    assert!(lab.next_hops("198.51.100.70/32").is_empty());

    let text = std::fs::read_to_string(lab.agent_log(1)).unwrap_or_default();
    assert!(!text.to_lowercase().contains("forbidden"), "deploy/rbac.yaml refused something:\n{text}");
}
