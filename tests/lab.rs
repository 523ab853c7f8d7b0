//! End-to-end against real FRR in network namespaces: a router and two nodes, each node with its
//! own FRR and a `frr-speaker run` in file mode. Assertions read the router's vtysh JSON.
//! Each test builds its own lab (own namespace prefix) and tears it down, also on failure.

mod common;

use std::time::{Duration, Instant};

use common::{lab_sh, wait_for, Lab, RouterOpts};

const T: Duration = Duration::from_secs(30);

/// Peers to the router over IPv4 and IPv6 (3 s / 9 s timers), the pools and one advertisement.
fn config(extra_peer_spec: &str, ad_spec: &str) -> String {
    format!(
        r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: router-v4, namespace: metallb-system}}
spec: {{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.1, holdTime: 9s, keepaliveTime: 3s, connectTime: 2s{extra_peer_spec}}}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: router-v6, namespace: metallb-system}}
spec: {{myASN: 64512, peerASN: 64500, peerAddress: "2001:db8::1", holdTime: 9s, keepaliveTime: 3s, connectTime: 2s{extra_peer_spec}}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: public, namespace: metallb-system}}
spec: {{addresses: [203.0.113.0/24, "2001:db8:100::/120"]}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: public, namespace: metallb-system}}
spec: {{{ad_spec}}}
"#
    )
}

/// A Service with its ingress IPs and one ready endpoint on each of `nodes`.
fn service(name: &str, ips: &[&str], local: bool, nodes: &[usize]) -> String {
    let ingress: Vec<String> = ips.iter().map(|ip| format!("{{ip: \"{ip}\"}}")).collect();
    let eps: Vec<String> = nodes
        .iter()
        .map(|n| format!("{{addresses: [198.51.100.{n}], nodeName: node{n}, conditions: {{ready: true}}}}"))
        .collect();
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec: {{type: LoadBalancer, externalTrafficPolicy: {etp}}}
status: {{loadBalancer: {{ingress: [{ingress}]}}}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {name}-1, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: IPv4
endpoints: [{eps}]
"#,
        etp = if local { "Local" } else { "Cluster" },
        ingress = ingress.join(", "),
        eps = eps.join(", ")
    )
}

fn hops(n: &[usize]) -> Vec<String> {
    n.iter().map(|i| format!("192.0.2.{}", 10 + i)).collect()
}

#[test]
fn announce_ecmp_local_ipv6_restart_and_invalid_input() {
    let mut lab = Lab::new("fsl1", 2, &RouterOpts::default());
    lab.put("config.yaml", &config("", ""));
    lab.put("web.yaml", &service("web", &["203.0.113.10", "2001:db8:100::10"], false, &[1, 2]));
    lab.put("db.yaml", &service("db", &["203.0.113.20"], true, &[1]));
    lab.start_agents();

    // ECMP across both nodes (IPv4), one next hop for the Local Service.
    let took = wait_for(T, || lab.next_hops("203.0.113.10/32") == hops(&[1, 2]))
        .unwrap_or_else(|| panic!("no ECMP route: {:?}", lab.next_hops("203.0.113.10/32")));
    println!("first routes at the router after {took:?}");
    assert!(wait_for(T, || lab.next_hops("203.0.113.20/32") == hops(&[1])).is_some(), "ETP Local: only node1");
    // IPv6 over the IPv6 sessions, both nodes (link-local or global next hops).
    assert!(
        wait_for(T, || lab.next_hops("2001:db8:100::10/128").len() == 2).is_some(),
        "IPv6 ECMP: {:?}",
        lab.next_hops("2001:db8:100::10/128")
    );
    let v6_path = lab.bgp_path("2001:db8:100::10/128");
    assert_eq!(v6_path["aspath"]["string"], "64512");

    // The endpoint moves to node2: the Local Service follows.
    lab.put("db.yaml", &service("db", &["203.0.113.20"], true, &[2]));
    assert!(wait_for(T, || lab.next_hops("203.0.113.20/32") == hops(&[2])).is_some());

    // An invalid manifest changes nothing at the router and is logged.
    let before = lab.session("192.0.2.11");
    lab.put("bad.yaml", "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: bad, namespace: metallb-system}\nspec: {myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.1, holdTime: 2s}\n");
    lab.remove("web.yaml");
    assert!(
        wait_for(Duration::from_secs(10), || std::fs::read_to_string(lab.agent_log(1))
            .unwrap_or_default()
            .contains("spec.holdTime"))
        .is_some(),
        "the error is logged"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(lab.next_hops("203.0.113.10/32"), hops(&[1, 2]), "nothing withdrawn while the input is invalid");
    assert_eq!(lab.session("192.0.2.11"), before);
    // Fixed: the pending removal of web goes through.
    lab.remove("bad.yaml");
    assert!(wait_for(T, || lab.next_hops("203.0.113.10/32").is_empty()).is_some(), "web withdrawn");
    assert!(lab.next_hops("2001:db8:100::10/128").is_empty());

    // FRR restarted under a running agent: bgpd comes back with no config; the agent re-applies.
    lab.put("db.yaml", &service("db", &["203.0.113.20"], true, &[1]));
    assert!(wait_for(T, || lab.next_hops("203.0.113.20/32") == hops(&[1])).is_some());
    let node = lab.node(1);
    let pid: i32 =
        std::fs::read_to_string(format!("/var/run/frr/{node}/bgpd.pid")).expect("pid").trim().parse().expect("pid");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).expect("kill bgpd");
    assert!(wait_for(T, || lab.next_hops("203.0.113.20/32").is_empty()).is_some());
    let up = Instant::now();
    lab_sh(&["daemon-start", &node, "bgpd"]);
    // The agent's part: node1's bgpd runs the config again (restart detected, re-applied).
    let reapplied = wait_for(T, || {
        common::vtysh(&node, "show running-config bgpd").contains("network 203.0.113.20/32 route-map fs-tag-")
    })
    .expect("config re-applied after the restart");
    // The router's part: the session comes back (its reconnect timers) and the route with it.
    let back = wait_for(T, || lab.next_hops("203.0.113.20/32") == hops(&[1])).expect("routes back after the restart");
    println!(
        "bgpd restarted: config re-applied after {reapplied:?}, route back at the router after {back:?} ({:?} wall)",
        up.elapsed()
    );
    assert!(reapplied < Duration::from_secs(2), "re-applied too slowly: {reapplied:?}");
    let log = std::fs::read_to_string(lab.agent_log(1)).unwrap_or_default();
    assert!(log.contains("FRR restarted"), "restart detected and logged");
    assert!(!log.contains("hunter"), "sanity");
}
