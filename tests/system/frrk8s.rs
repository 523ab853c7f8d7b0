//! frr-k8s mode in the namespace lab (file mode): FRRConfigurations, not metallb.io objects, say
//! what the node announces and what it accepts. The router advertises prefixes; the node's kernel
//! gets exactly what `toReceive` allows and never what `--always-block` denies; a change of what
//! is received or advertised resets no session.

use crate::common;

use std::time::Duration;

use common::{wait_for, Lab, RouterOpts};

const T: Duration = Duration::from_secs(30);

/// The FRRConfiguration MetalLB v0.16 would write for node1 (advertising `advertise`), and an
/// operator's object receiving from the same router (`receive`: the toReceive block).
fn configs(advertise: &[&str], receive: &str) -> String {
    let prefixes = serde_json::to_string(advertise).expect("json");
    format!(
        "apiVersion: frrk8s.metallb.io/v1beta1
kind: FRRConfiguration
metadata: {{name: metallb-node1, namespace: metallb-system}}
spec:
  nodeSelector: {{matchLabels: {{kubernetes.io/hostname: node1}}}}
  bgp:
    routers:
    - asn: 64512
      prefixes: {prefixes}
      neighbors:
      - asn: 64500
        address: 192.0.2.1
        holdTime: 9s
        keepaliveTime: 3s
        connectTime: 2s
        toAdvertise: {{allowed: {{prefixes: {prefixes}}}}}
---
apiVersion: frrk8s.metallb.io/v1beta1
kind: FRRConfiguration
metadata: {{name: receive, namespace: metallb-system}}
spec:
  bgp:
    routers:
    - asn: 64512
      neighbors:
      - asn: 64500
        address: 192.0.2.1
        holdTime: 9s
        keepaliveTime: 3s
        connectTime: 2s
        toReceive: {receive}
"
    )
}

/// The node's kernel routes learnt by BGP (destinations).
fn kernel_bgp_routes(lab: &Lab) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["-n", &lab.node(1), "-j", "route", "show", "proto", "bgp"])
        .output()
        .expect("ip route");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    let mut routes: Vec<String> =
        v.as_array().into_iter().flatten().filter_map(|r| r["dst"].as_str().map(str::to_string)).collect();
    routes.sort();
    routes
}

#[test]
fn received_routes_follow_to_receive_and_always_block() {
    let router = RouterOpts {
        advertise: vec!["198.51.100.0/24", "198.51.100.128/25", "198.18.0.0/15"],
        ..RouterOpts::default()
    };
    let mut lab = Lab::new("fsf1", 1, &router);
    lab.agent_args = vec!["--always-block".into(), "198.51.100.128/25".into()];
    let filtered = "{allowed: {prefixes: [{prefix: 198.51.100.0/24, le: 32}]}}";
    lab.put("frrk8s.yaml", &configs(&["203.0.113.30/32"], filtered));
    lab.start_agents();
    let announced = wait_for(T, || lab.next_hops("203.0.113.30/32") == ["192.0.2.11"]);
    assert!(announced.is_some(), "the router never got the node's prefix:\n{}", lab.agent_log_text(1));
    // Allowed: the /24 and its more specific routes, except the always-blocked /25.
    let want = ["198.51.100.0/24"];
    let got = wait_for(T, || kernel_bgp_routes(&lab) == want);
    assert!(got.is_some(), "node kernel has {:?}, want {want:?}", kernel_bgp_routes(&lab));
    let session = lab.session("192.0.2.11");
    // frr-k8s's metric names: one prefix accepted from the router, one advertised to it.
    let accepted = r#"frrk8s_bgp_received_prefixes_total{peer="192.0.2.1",vrf="default"} 1"#;
    assert!(wait_for(T, || lab.metrics(1).contains(accepted)).is_some(), "{}", lab.metrics(1));
    assert!(lab.metrics(1).contains(r#"frrk8s_bgp_session_up{peer="192.0.2.1",vrf="default"} 1"#));

    // Receive everything: the /15 comes too; the always-blocked /25 still does not. One more
    // prefix advertised at the same time. Neither change resets the session.
    lab.put("frrk8s.yaml", &configs(&["203.0.113.30/32", "203.0.113.31/32"], "{allowed: {mode: all}}"));
    let want = ["198.18.0.0/15", "198.51.100.0/24"];
    let got = wait_for(T, || kernel_bgp_routes(&lab) == want);
    assert!(got.is_some(), "node kernel has {:?}, want {want:?}", kernel_bgp_routes(&lab));
    assert!(wait_for(T, || lab.next_hops("203.0.113.31/32") == ["192.0.2.11"]).is_some(), "second prefix");
    let after = lab.session("192.0.2.11");
    assert_eq!((after.0, after.1, after.2.as_str()), (session.0, session.1, "Established"), "the session was reset");

    // Nothing received any more, and the first prefix withdrawn.
    lab.put("frrk8s.yaml", &configs(&["203.0.113.31/32"], "{allowed: {prefixes: []}}"));
    assert!(wait_for(T, || kernel_bgp_routes(&lab).is_empty()).is_some(), "{:?}", kernel_bgp_routes(&lab));
    assert!(wait_for(T, || lab.next_hops("203.0.113.30/32").is_empty()).is_some(), "withdrawn");
    assert_eq!(lab.next_hops("203.0.113.31/32"), ["192.0.2.11"]);
    lab.assert_clean_logs();
}

/// MetalLB's objects for the node (a BGPPeer, a pool, an advertisement, a Service with an
/// endpoint on node1).
const METALLB: &str = "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.1, holdTime: 9s, keepaliveTime: 3s, connectTime: 2s}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: public, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: public, namespace: metallb-system}
spec: {communities: ['64500:40']}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer, externalTrafficPolicy: Cluster, ports: [{port: 80, protocol: TCP}]}
status: {loadBalancer: {ingress: [{ip: 203.0.113.40}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-a, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- addresses: [198.51.100.10]
  nodeName: node1
  conditions: {ready: true, serving: true, terminating: false}
";

/// Use (d) of frr-k8s mode: metallb.io objects, and an operator's FRRConfiguration that receives
/// the router's prefixes from the same neighbor (the frr-k8s README's recipe for MetalLB). The
/// router gets the Service's address with its community, the node's kernel the router's prefix.
/// Removing the operator's object goes back to FRR mode's own layout without resetting the
/// session.
#[test]
fn metallb_objects_and_an_operators_receive_config_merge() {
    let router = RouterOpts { advertise: vec!["198.51.100.0/24"], ..RouterOpts::default() };
    let mut lab = Lab::new("fsf2", 1, &router);
    lab.put("metallb.yaml", METALLB);
    let receive = "{allowed: {prefixes: [{prefix: 198.51.100.0/24}]}}";
    let operator = configs(&[], receive);
    let operator = operator.split("---\n").nth(1).expect("the receive object");
    lab.put("receive.yaml", operator);
    lab.start_agents();
    let announced = wait_for(T, || lab.next_hops("203.0.113.40/32") == ["192.0.2.11"]);
    assert!(announced.is_some(), "the router never got the Service:\n{}", lab.agent_log_text(1));
    let communities = lab.bgp_path("203.0.113.40/32")["community"]["string"].as_str().unwrap_or("").to_string();
    assert_eq!(communities, "64500:40", "the advertisement's community");
    let got = wait_for(T, || kernel_bgp_routes(&lab) == ["198.51.100.0/24"]);
    assert!(got.is_some(), "node kernel has {:?}", kernel_bgp_routes(&lab));
    let session = lab.session("192.0.2.11");

    lab.remove("receive.yaml");
    assert!(wait_for(T, || kernel_bgp_routes(&lab).is_empty()).is_some(), "{:?}", kernel_bgp_routes(&lab));
    let frr_mode =
        wait_for(T, || common::vtysh(&lab.node(1), "show running-config").contains("route-map fs-out-192.0.2.1"));
    assert!(frr_mode.is_some(), "FRR mode's layout after the FRRConfiguration left");
    assert_eq!(lab.next_hops("203.0.113.40/32"), ["192.0.2.11"], "the Service stays announced");
    let after = lab.session("192.0.2.11");
    assert_eq!((after.0, after.1, after.2.as_str()), (session.0, session.1, "Established"), "the session was reset");
    lab.assert_clean_logs();
}
