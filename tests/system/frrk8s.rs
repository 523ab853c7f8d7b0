//! frr-k8s mode in the namespace lab (file mode): FRRConfigurations, not metallb.io objects, say
//! what the node announces and what it accepts. The router advertises prefixes; the node's kernel
//! gets exactly what `toReceive` allows and never what `--always-block` denies; a change of what
//! is received or advertised, a community, a BFD profile or a raw line resets no session.

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
    let got = wait_for(T, || lab.kernel_bgp_routes(1) == want);
    assert!(got.is_some(), "node kernel has {:?}, want {want:?}", lab.kernel_bgp_routes(1));
    let session = lab.session("192.0.2.11");
    // frr-k8s's metric names: one prefix accepted from the router, one advertised to it.
    let accepted = r#"frrk8s_bgp_received_prefixes_total{peer="192.0.2.1",vrf="default"} 1"#;
    assert!(wait_for(T, || lab.metrics(1).contains(accepted)).is_some(), "{}", lab.metrics(1));
    assert!(lab.metrics(1).contains(r#"frrk8s_bgp_session_up{peer="192.0.2.1",vrf="default"} 1"#));

    // Receive everything: the /15 comes too; the always-blocked /25 still does not. One more
    // prefix advertised at the same time. Neither change resets the session.
    lab.put("frrk8s.yaml", &configs(&["203.0.113.30/32", "203.0.113.31/32"], "{allowed: {mode: all}}"));
    let want = ["198.18.0.0/15", "198.51.100.0/24"];
    let got = wait_for(T, || lab.kernel_bgp_routes(1) == want);
    assert!(got.is_some(), "node kernel has {:?}, want {want:?}", lab.kernel_bgp_routes(1));
    assert!(wait_for(T, || lab.next_hops("203.0.113.31/32") == ["192.0.2.11"]).is_some(), "second prefix");
    let after = lab.session("192.0.2.11");
    assert_eq!((after.0, after.1, after.2.as_str()), (session.0, session.1, "Established"), "the session was reset");

    // Nothing received any more, and the first prefix withdrawn.
    lab.put("frrk8s.yaml", &configs(&["203.0.113.31/32"], "{allowed: {prefixes: []}}"));
    assert!(wait_for(T, || lab.kernel_bgp_routes(1).is_empty()).is_some(), "{:?}", lab.kernel_bgp_routes(1));
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
    let got = wait_for(T, || lab.kernel_bgp_routes(1) == ["198.51.100.0/24"]);
    assert!(got.is_some(), "node kernel has {:?}", lab.kernel_bgp_routes(1));
    let session = lab.session("192.0.2.11");

    lab.remove("receive.yaml");
    assert!(wait_for(T, || lab.kernel_bgp_routes(1).is_empty()).is_some(), "{:?}", lab.kernel_bgp_routes(1));
    let frr_mode =
        wait_for(T, || common::vtysh(&lab.node(1), "show running-config").contains("route-map fs-out-192.0.2.1"));
    assert!(frr_mode.is_some(), "FRR mode's layout after the FRRConfiguration left");
    assert_eq!(lab.next_hops("203.0.113.40/32"), ["192.0.2.11"], "the Service stays announced");
    let after = lab.session("192.0.2.11");
    assert_eq!((after.0, after.1, after.2.as_str()), (session.0, session.1, "Established"), "the session was reset");
    lab.assert_clean_logs();
}

/// An FRRConfiguration for node1 for the change matrix: `receive` (toReceive prefixes as YAML),
/// `advertise_extra` (more of toAdvertise), `neighbor_extra` and `bgp_extra` (YAML lines at the
/// neighbor's and at spec.bgp's indentation), `raw` (spec.raw.rawConfig, or none).
fn matrix_config(receive: &str, advertise_extra: &str, neighbor_extra: &str, bgp_extra: &str, raw: &str) -> String {
    let raw = match raw {
        "" => String::new(),
        r => format!(
            "  raw:\n    priority: 5\n    rawConfig: |\n{}",
            r.lines().map(|l| format!("      {l}\n")).collect::<String>()
        ),
    };
    format!(
        "apiVersion: frrk8s.metallb.io/v1beta1
kind: FRRConfiguration
metadata: {{name: node1, namespace: metallb-system}}
spec:
{raw}  bgp:
{bgp_extra}    routers:
    - asn: 64512
      prefixes: [203.0.113.50/32, 203.0.113.51/32]
      neighbors:
      - asn: 64500
        address: 192.0.2.1
        holdTime: 9s
        keepaliveTime: 3s
        connectTime: 2s
{neighbor_extra}        toAdvertise:
          allowed: {{prefixes: [203.0.113.50/32]}}
{advertise_extra}        toReceive: {{allowed: {{prefixes: {receive}}}}}
"
    )
}

/// The change matrix of tests/system/lab.rs for FRRConfigurations: what is received, a
/// community and a large one, a BFD profile and its change, a raw entry added to frr-k8s's
/// `<address>-out` route-map (frr-k8s issue 469's workaround) and removed. Each reaches FRR and
/// the router, and none resets the session.
#[test]
fn frrconfiguration_changes_do_not_reset_the_session() {
    let router = RouterOpts { bfd: true, advertise: vec!["198.51.100.0/24", "198.18.0.0/15"], ..RouterOpts::default() };
    let mut lab = Lab::new("fsf3", 1, &router);
    let step = |lab: &Lab, name: &str, config: String, check: &dyn Fn(&Lab) -> bool| {
        let before = lab.session("192.0.2.11");
        lab.put("frrk8s.yaml", &config);
        let took =
            wait_for(T, || check(lab)).unwrap_or_else(|| panic!("{name}: never seen\n{}", lab.agent_log_text(1)));
        // Give a reset the chance to show up.
        std::thread::sleep(Duration::from_millis(300));
        let after = lab.session("192.0.2.11");
        println!("{name}: seen after {took:?}; session {before:?} -> {after:?}");
        assert_eq!(after.2, "Established", "{name}: session not established");
        assert_eq!((before.0, before.1), (after.0, after.1), "{name}: the session was reset");
    };
    let one = "[{prefix: 198.51.100.0/24}]";
    let two = "[{prefix: 198.51.100.0/24}, {prefix: 198.18.0.0/15}]";
    lab.put("frrk8s.yaml", &matrix_config(one, "", "", "", ""));
    lab.start_agents();
    assert!(wait_for(T, || lab.next_hops("203.0.113.50/32") == ["192.0.2.11"]).is_some(), "{}", lab.agent_log_text(1));
    assert!(
        wait_for(T, || lab.kernel_bgp_routes(1) == ["198.51.100.0/24"]).is_some(),
        "{:?}",
        lab.kernel_bgp_routes(1)
    );

    step(&lab, "toReceive prefixes", matrix_config(two, "", "", "", ""), &|l| {
        l.kernel_bgp_routes(1) == ["198.18.0.0/15", "198.51.100.0/24"]
    });
    let comm = |l: &Lab| l.bgp_path("203.0.113.50/32")["community"]["string"].as_str().unwrap_or("").to_string();
    let large = |l: &Lab| l.bgp_path("203.0.113.50/32")["largeCommunity"]["string"].as_str().unwrap_or("").to_string();
    let with = |c: &str| format!("          withCommunity: [{{community: '{c}', prefixes: [203.0.113.50/32]}}]\n");
    step(&lab, "community", matrix_config(two, &with("64500:7"), "", "", ""), &|l| comm(l) == "64500:7");
    step(&lab, "large community", matrix_config(two, &with("large:64512:1:2"), "", "", ""), &|l| {
        large(l) == "64512:1:2" && comm(l).is_empty()
    });
    let profile =
        |ms: u32| format!("    bfdProfiles: [{{name: fast, receiveInterval: {ms}, transmitInterval: {ms}}}]\n");
    let bfd = "        bfdProfile: fast\n";
    let interval = |l: &Lab| {
        let v = common::vtysh_json(&l.node(1), "show bfd peer 192.0.2.1 json");
        (v["status"].as_str().unwrap_or("").to_string(), v["receive-interval"].as_u64().unwrap_or(0))
    };
    step(&lab, "BFD profile", matrix_config(two, "", bfd, &profile(200), ""), &|l| interval(l) == ("up".into(), 200));
    step(&lab, "BFD profile change", matrix_config(two, "", bfd, &profile(300), ""), &|l| {
        interval(l) == ("up".into(), 300)
    });
    // A raw entry in the route-map frr-k8s binds to the neighbor: advertise a prefix of the
    // router's that toAdvertise does not name, with a MED.
    let raw = "ip prefix-list extra seq 5 permit 203.0.113.51/32\nroute-map 192.0.2.1-out permit 100\n match ip address prefix-list extra\n set metric 77\nexit\n";
    let med = |l: &Lab| l.bgp_path("203.0.113.51/32")["metric"].as_u64();
    step(&lab, "raw out entry", matrix_config(two, "", bfd, &profile(300), raw), &|l| med(l) == Some(77));
    assert_eq!(lab.next_hops("203.0.113.50/32"), ["192.0.2.11"], "the allowed prefix stays");
    step(&lab, "raw entry removed", matrix_config(two, "", bfd, &profile(300), ""), &|l| {
        l.next_hops("203.0.113.51/32").is_empty()
    });
    let running = common::vtysh(&lab.node(1), "show running-config");
    assert!(!running.contains("route-map 192.0.2.1-out permit 100"), "the raw entry is gone:\n{running}");
    lab.assert_clean_logs();
}

/// VRF leaking (`imports`): the default VRF's router imports VRF red and advertises red's prefix
/// to the router; red is a kernel VRF of the node. Without the import the object is refused and
/// the last good config keeps running. FRR leaks only from a VRF the kernel has: on a kernel
/// without VRF support (`ip link add red type vrf` → "Unknown device type", as on this project's
/// CI machine) the test checks what FRR runs and says that it could not check the router.
#[test]
fn an_imported_vrfs_prefix_reaches_the_router() {
    let mut lab = Lab::new("fsf4", 1, &RouterOpts::default());
    let node = lab.node(1);
    let ip = |args: &[&str]| std::process::Command::new("ip").arg("-n").arg(&node).args(args).output().expect("ip");
    let vrf = ip(&["link", "add", "red", "type", "vrf", "table", "10"]);
    let kernel_vrf = vrf.status.success();
    if kernel_vrf {
        assert!(ip(&["link", "set", "red", "up"]).status.success(), "set red up");
    } else {
        let why = String::from_utf8_lossy(&vrf.stderr);
        assert!(why.contains("Unknown device type"), "ip link add red type vrf: {why}");
    }
    let config = |imports: &str| {
        format!(
            "apiVersion: frrk8s.metallb.io/v1beta1
kind: FRRConfiguration
metadata: {{name: leak, namespace: metallb-system}}
spec:
  bgp:
    routers:
    - asn: 64512
      imports: {imports}
      neighbors:
      - asn: 64500
        address: 192.0.2.1
        holdTime: 9s
        keepaliveTime: 3s
        connectTime: 2s
        toAdvertise: {{allowed: {{prefixes: [198.18.5.0/24]}}}}
    - asn: 64512
      vrf: red
      prefixes: [198.18.5.0/24]
"
        )
    };
    lab.put("leak.yaml", &config("[{vrf: red}]"));
    lab.start_agents();
    let runs = |l: &Lab| {
        let r = common::vtysh(&l.node(1), "show running-config");
        r.contains("router bgp 64512 vrf red") && r.matches("  import vrf red").count() == 2
    };
    assert!(wait_for(T, || runs(&lab)).is_some(), "FRR runs the leak\n{}", lab.agent_log_text(1));
    if !kernel_vrf {
        eprintln!(
            "an_imported_vrfs_prefix_reaches_the_router: this kernel has no VRF support: the router was not checked"
        );
        return;
    }
    let leaked = wait_for(T, || lab.next_hops("198.18.5.0/24") == ["192.0.2.11"]);
    assert!(leaked.is_some(), "red's prefix never reached the router\n{}", lab.agent_log_text(1));
    let session = lab.session("192.0.2.11");
    // Without the import the prefix is red's alone: it is refused as an advertisement of a prefix
    // the default router has not, and the last good config keeps running.
    lab.put("leak.yaml", &config("[]"));
    let refused = wait_for(T, || lab.agent_log_text(1).contains("spec.bgp.routers[0].neighbors[0].toAdvertise"));
    assert!(refused.is_some(), "{}", lab.agent_log_text(1));
    assert_eq!(lab.next_hops("198.18.5.0/24"), ["192.0.2.11"], "the last good config keeps running");
    let after = lab.session("192.0.2.11");
    assert_eq!((after.0, after.1), (session.0, session.1), "the session was reset");
}

/// An unnumbered session (`interface`): the node peers with the router over its eth0 by IPv6
/// link-local address, no neighbor address given; both families run over it, and the node's
/// prefix reaches the router through it.
#[test]
fn an_unnumbered_session_carries_both_families() {
    let router = RouterOpts { unnumbered: true, ..RouterOpts::default() };
    let mut lab = Lab::new("fsf5", 1, &router);
    lab.put(
        "unnumbered.yaml",
        "apiVersion: frrk8s.metallb.io/v1beta1
kind: FRRConfiguration
metadata: {name: unnumbered, namespace: metallb-system}
spec:
  bgp:
    routers:
    - asn: 64512
      prefixes: [203.0.113.60/32, '2001:db8:60::/64']
      neighbors:
      - interface: eth0
        dynamicASN: external
        holdTime: 9s
        keepaliveTime: 3s
        connectTime: 2s
        toAdvertise: {allowed: {mode: all}}
",
    );
    lab.start_agents();
    let via_link_local = |l: &Lab, prefix: &str| {
        let hops = l.next_hops(prefix);
        hops.len() == 1 && hops[0].starts_with("fe80:")
    };
    let up = wait_for(T, || {
        common::vtysh_json(&lab.router(), "show bgp neighbors br0 json")["br0"]["bgpState"] == "Established"
    });
    assert!(up.is_some(), "the unnumbered session never came up\n{}", lab.agent_log_text(1));
    let v4 = wait_for(T, || lab.next_hops("203.0.113.60/32").len() == 1);
    assert!(v4.is_some(), "IPv4 over the unnumbered session: {:?}", lab.next_hops("203.0.113.60/32"));
    assert!(
        wait_for(T, || via_link_local(&lab, "2001:db8:60::/64")).is_some(),
        "{:?}",
        lab.next_hops("2001:db8:60::/64")
    );
    let running = common::vtysh(&lab.node(1), "show running-config");
    assert!(running.contains("neighbor eth0 interface remote-as external"), "{running}");
    lab.assert_clean_logs();
}
