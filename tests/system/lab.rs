//! End-to-end against real FRR in network namespaces: a router and two nodes, each node with its
//! own FRR and a `frr-speaker run` in file mode. Assertions read the router's vtysh JSON.
//! Each test builds its own lab (own namespace prefix) and tears it down, also on failure.

use crate::common;

use std::time::{Duration, Instant};

use common::objects::{self, lab_config};
use common::{wait_for, Lab, RouterOpts};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(30);

/// The lab's configuration (`objects::lab_config`) with nothing added.
fn config() -> String {
    lab_config(&[], json!({}))
}

/// A Service with its ingress IPs and one ready endpoint on each of `nodes`.
fn service(name: &str, ips: &[&str], local: bool, nodes: &[usize]) -> String {
    let mut s = objects::service(name, ips);
    if local {
        s = s.local();
    }
    nodes.iter().fold(s, |s, n| s.on(*n)).yaml()
}

fn hops(n: &[usize]) -> Vec<String> {
    n.iter().map(|i| format!("192.0.2.{}", 10 + i)).collect()
}

#[test]
fn announce_ecmp_local_ipv6_restart_and_invalid_input() {
    let mut lab = Lab::new("fsl1", 2, &RouterOpts::default());
    lab.put("config.yaml", &config());
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

    // Nothing changes: the agent is idle (its own reads of the manifests must not wake it).
    let cpu0 = lab.agent_cpu_seconds(1);
    std::thread::sleep(Duration::from_secs(3));
    let busy = (lab.agent_cpu_seconds(1) - cpu0) / 3.0;
    assert!(busy < 0.1, "an idle agent used {:.0}% of a CPU", busy * 100.0);

    // The endpoint moves to node2: the Local Service follows.
    lab.put("db.yaml", &service("db", &["203.0.113.20"], true, &[2]));
    assert!(wait_for(T, || lab.next_hops("203.0.113.20/32") == hops(&[2])).is_some());

    // So far a clean run: the agents logged no warning and no error (on every FRR version).
    lab.assert_clean_logs();

    // bgpd listens on no TCP port on a node (`-p 0`, as in MetalLB's FRR mode and frr/daemons):
    // another BGP speaker on the node (Calico's BIRD, hostNetwork) can have :179, and the
    // sessions, opened by the node, stay up.
    let mut other = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.node(1), "python3", "-c"])
        .arg("import socket,time; s=socket.socket(); s.bind(('0.0.0.0', 179)); s.listen(); time.sleep(30)")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("listener");
    std::thread::sleep(Duration::from_millis(500));
    assert!(other.try_wait().expect("wait").is_none(), "another speaker could not bind :179 on node1");
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(lab.next_hops("203.0.113.10/32"), hops(&[1, 2]), "sessions untouched");

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
    common::signal_daemon(&node, "bgpd", nix::sys::signal::Signal::SIGKILL);
    assert!(wait_for(T, || lab.next_hops("203.0.113.20/32").is_empty()).is_some());
    let up = Instant::now();
    common::daemon_start(&node, "bgpd");
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
    // From starting bgpd to the route at the router, session set-up included. The node opens the
    // session (its bgpd listens on no port, `-p 0`), at its first connect attempt: measured 3.2 s
    // with FRR 8.4 and 5.1 s with FRR 10.3 (1.8-2.0 s while the router could connect to the node).
    // The bound leaves room for a loaded CI machine.
    assert!(back < Duration::from_secs(8), "route back too slowly: {back:?}");
    let log = std::fs::read_to_string(lab.agent_log(1)).unwrap_or_default();
    assert!(log.contains("FRR restarted"), "restart detected and logged");
    assert!(!log.contains("hunter"), "sanity");
}

/// iBGP (so LOCAL_PREF reaches the router, which runs BFD) to the router: the IPv4 peer with `v4_extra` spec fields (and, with `v6_peer`, an IPv6
/// peer carrying both families), the BFD profile `fast` with `bfd`, the pools `public` and
/// `second`, the advertisement `public` with `ad_extra` fields and `only-v4` for the IPv4 peer.
fn ibgp_config(v6_peer: bool, v4_extra: &[(&str, Value)], ad_extra: Value, bfd: Value) -> String {
    let v4 = v4_extra
        .iter()
        .fold(objects::peer("router-v4", "192.0.2.1", 64512).set("connectTime", "2s"), |p, (k, v)| p.set(k, v.clone()));
    let mut ad = json!({"ipAddressPools": ["public"]});
    if let (Some(a), Some(extra)) = (ad.as_object_mut(), ad_extra.as_object()) {
        a.extend(extra.clone());
    }
    let mut objs = vec![
        v4.build(),
        objects::bfd_profile("fast", bfd),
        objects::pool("public", &["203.0.113.0/24"]),
        objects::pool("second", &["198.51.100.0/24"]),
        objects::advertisement("public", ad),
        objects::advertisement("only-v4", json!({"ipAddressPools": ["second"], "peers": ["router-v4"]})),
    ];
    if v6_peer {
        let v6 = objects::peer("router-v6", "2001:db8::1", 64512)
            .set("connectTime", "2s")
            .set("dualStackAddressFamily", true);
        objs.push(v6.build());
    }
    objects::yaml(&objs)
}

/// Peers (by router-side neighbor address) that sent the router a path for `prefix`.
fn path_sources(lab: &Lab, prefix: &str) -> Vec<String> {
    let v = common::vtysh_json(&lab.router(), &format!("show bgp ipv4 unicast {prefix} json"));
    let mut out: Vec<String> = v["paths"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["peer"]["peerId"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn config_changes_do_not_reset_sessions() {
    let mut lab = Lab::new("fsl2", 1, &RouterOpts { asn: 64512, bfd: true, ..RouterOpts::default() });
    let step = |lab: &Lab, name: &str, config: String, check: &dyn Fn(&Lab) -> bool, watch: &[&str]| {
        let before: Vec<_> = watch.iter().map(|a| lab.session(a)).collect();
        lab.put("config.yaml", &config);
        let took = wait_for(T, || check(lab)).unwrap_or_else(|| panic!("{name}: the router never saw the change"));
        // Give a reset the chance to show up.
        std::thread::sleep(Duration::from_millis(300));
        let after: Vec<_> = watch.iter().map(|a| lab.session(a)).collect();
        println!("{name}: at the router after {took:?}; sessions {before:?} -> {after:?}");
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(a.2, "Established", "{name}: session not established");
            assert_eq!((b.0, b.1), (a.0, a.1), "{name}: the session was reset");
        }
    };
    lab.put("web.yaml", &service("web", &["203.0.113.10"], false, &[1]));
    lab.put("config.yaml", &ibgp_config(false, &[], json!({}), json!({})));
    lab.start_agents();
    assert!(wait_for(T, || lab.next_hops("203.0.113.10/32") == hops(&[1])).is_some(), "first route");
    let v4 = ["192.0.2.11"];
    let both = ["192.0.2.11", "2001:db8::11"];

    // Services come and go.
    lab.put("api.yaml", &service("api", &["203.0.113.11"], false, &[1]));
    step(
        &lab,
        "add service",
        ibgp_config(false, &[], json!({}), json!({})),
        &|l| l.next_hops("203.0.113.11/32") == hops(&[1]),
        &v4,
    );
    lab.remove("api.yaml");
    step(
        &lab,
        "remove service",
        ibgp_config(false, &[], json!({}), json!({})),
        &|l| l.next_hops("203.0.113.11/32").is_empty(),
        &v4,
    );

    // A second peer (IPv6 session carrying both families), then a prefix for one peer only.
    step(
        &lab,
        "add a second peer",
        ibgp_config(true, &[], json!({}), json!({})),
        &|l| path_sources(l, "203.0.113.10/32").len() == 2,
        &v4,
    );
    lab.put("solo.yaml", &service("solo", &["198.51.100.77"], false, &[1]));
    step(
        &lab,
        "prefix to one peer only",
        ibgp_config(true, &[], json!({}), json!({})),
        &|l| path_sources(l, "198.51.100.77/32") == vec!["192.0.2.11".to_string()],
        &both,
    );
    lab.remove("solo.yaml");
    step(
        &lab,
        "remove that prefix",
        ibgp_config(true, &[], json!({}), json!({})),
        &|l| path_sources(l, "198.51.100.77/32").is_empty(),
        &both,
    );

    // Attributes.
    let comm = |l: &Lab| l.bgp_path("203.0.113.10/32")["community"]["string"].as_str().unwrap_or("").to_string();
    step(
        &lab,
        "community",
        ibgp_config(true, &[], json!({"communities": ["65000:1"]}), json!({})),
        &|l| comm(l) == "65000:1",
        &both,
    );
    step(
        &lab,
        "community change",
        ibgp_config(true, &[], json!({"communities": ["65000:2", "65535:65281"]}), json!({})),
        &|l| comm(l) == "65000:2 no-export",
        &both,
    );
    let large = |l: &Lab| l.bgp_path("203.0.113.10/32")["largeCommunity"]["string"].as_str().unwrap_or("").to_string();
    step(
        &lab,
        "large community",
        ibgp_config(true, &[], json!({"communities": ["large:64512:1:2"]}), json!({})),
        &|l| large(l) == "64512:1:2",
        &both,
    );
    let lp = |l: &Lab| l.bgp_path("203.0.113.10/32")["locPrf"].as_u64().unwrap_or(0);
    step(
        &lab,
        "local preference",
        ibgp_config(true, &[], json!({"localPref": 250}), json!({})),
        &|l| lp(l) == 250,
        &both,
    );
    step(
        &lab,
        "local preference change",
        ibgp_config(true, &[], json!({"localPref": 120}), json!({})),
        &|l| lp(l) == 120,
        &both,
    );
    step(
        &lab,
        "aggregation",
        ibgp_config(true, &[], json!({"aggregationLength": 24}), json!({})),
        &|l| l.next_hops("203.0.113.0/24") == hops(&[1]) && l.next_hops("203.0.113.10/32").is_empty(),
        &both,
    );
    step(
        &lab,
        "aggregation removed",
        ibgp_config(true, &[], json!({}), json!({})),
        &|l| l.next_hops("203.0.113.10/32") == hops(&[1]) && l.next_hops("203.0.113.0/24").is_empty(),
        &both,
    );

    // Timers and BFD.
    step(
        &lab,
        "hold/keepalive timers",
        ibgp_config(true, &[("holdTime", json!("30s")), ("keepaliveTime", json!("10s"))], json!({}), json!({})),
        &|l| common::vtysh(&l.node(1), "show running-config bgpd").contains("timers 10 30"),
        &both,
    );
    let bfd_up = |l: &Lab| {
        let v = common::vtysh_json(&l.router(), "show bfd peers json");
        v.as_array().is_some_and(|ps| ps.iter().any(|p| p["peer"] == "192.0.2.11" && p["status"] == "up"))
    };
    step(
        &lab,
        "add a BFD profile",
        ibgp_config(
            true,
            &[("bfdProfile", json!("fast"))],
            json!({}),
            json!({"receiveInterval": 300, "transmitInterval": 300}),
        ),
        &bfd_up,
        &both,
    );
    let rx200 = |l: &Lab| {
        let v = common::vtysh_json(&l.router(), "show bfd peers json");
        v.as_array().is_some_and(|ps| {
            ps.iter().any(|p| p["peer"] == "192.0.2.11" && p["status"] == "up" && p["remote-receive-interval"] == 200)
        })
    };
    step(
        &lab,
        "change BFD timers",
        ibgp_config(
            true,
            &[("bfdProfile", json!("fast"))],
            json!({}),
            json!({"receiveInterval": 200, "transmitInterval": 300}),
        ),
        &rx200,
        &both,
    );

    // Removing BFD from the node while the router keeps it: report what FRR does.
    let before = lab.session("192.0.2.11");
    lab.put("config.yaml", &ibgp_config(true, &[], json!({}), json!({})));
    wait_for(T, || !common::vtysh(&lab.node(1), "show running-config bgpd").contains(" bfd"))
        .expect("BFD removed on the node");
    std::thread::sleep(Duration::from_secs(2));
    println!("remove BFD (router keeps BFD): session {before:?} -> {:?}", lab.session("192.0.2.11"));

    // Remove one peer: the other is untouched.
    let v4_before = lab.session("192.0.2.11");
    step(
        &lab,
        "remove one peer",
        ibgp_config(false, &[], json!({}), json!({})),
        &|l| l.session("2001:db8::11").2 != "Established",
        &[],
    );
    assert_eq!(lab.session("192.0.2.11"), v4_before, "the other peer was touched");
    // Every change went through the fast path or a clean reconcile: nothing was refused.
    lab.assert_clean_logs();
}

/// Freeze node2's bgpd and bfdd (a silent failure: the kernel keeps the TCP session open) and
/// time how long the router keeps sending traffic to it.
fn silent_failure(lab: &Lab) -> Duration {
    let node = lab.node(2);
    let pids: Vec<i32> = ["bgpd", "bfdd"].iter().map(|d| common::daemon_pid(&node, d)).collect();
    let sig = |s| {
        for p in &pids {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(*p), s).expect("signal");
        }
    };
    sig(nix::sys::signal::Signal::SIGSTOP);
    let took = wait_for(T, || lab.next_hops("203.0.113.10/32") == hops(&[1]));
    sig(nix::sys::signal::Signal::SIGCONT);
    took.expect("the router dropped the frozen node")
}

#[test]
fn bfd_detects_a_silent_node_within_a_second() {
    let profile = objects::yaml(&[objects::bfd_profile(
        "fast",
        json!({"receiveInterval": 300, "transmitInterval": 300, "detectMultiplier": 3}),
    )]);
    let with_bfd = {
        let mut lab = Lab::new("fsl3", 2, &RouterOpts { bfd: true, ..RouterOpts::default() });
        lab.put("config.yaml", &format!("{}{profile}", lab_config(&[("bfdProfile", json!("fast"))], json!({}))));
        lab.put("web.yaml", &service("web", &["203.0.113.10"], false, &[1, 2]));
        lab.start_agents();
        assert!(wait_for(T, || lab.next_hops("203.0.113.10/32") == hops(&[1, 2])).is_some());
        let bfd_up = || {
            let v = common::vtysh_json(&lab.router(), "show bfd peers json");
            v.as_array().is_some_and(|ps| ps.iter().filter(|p| p["status"] == "up").count() >= 4)
        };
        assert!(wait_for(T, bfd_up).is_some(), "BFD sessions up");
        silent_failure(&lab)
    };
    let without_bfd = {
        let mut lab = Lab::new("fsl4", 2, &RouterOpts::default());
        lab.put("config.yaml", &config());
        lab.put("web.yaml", &service("web", &["203.0.113.10"], false, &[1, 2]));
        lab.start_agents();
        assert!(wait_for(T, || lab.next_hops("203.0.113.10/32") == hops(&[1, 2])).is_some());
        silent_failure(&lab)
    };
    println!("silent node dropped by the router: with BFD 300ms x 3 after {with_bfd:?}, without BFD (hold 9s) after {without_bfd:?}");
    // 3 x 300 ms detection; the measurement adds up to ~100 ms of vtysh polling.
    assert!(with_bfd < Duration::from_millis(1200), "BFD took {with_bfd:?}");
    assert!(without_bfd > Duration::from_secs(3), "without BFD the hold time decides: {without_bfd:?}");
}

fn sh(args: &[&str]) {
    let out = std::process::Command::new(args[0]).args(&args[1..]).output().expect("runs");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn router_cmds(lab: &Lab, cmds: &[&str]) {
    let mut args = vec!["-N".to_string(), lab.router(), "-c".into(), "configure terminal".into()];
    for c in cmds {
        args.push("-c".into());
        args.push(c.to_string());
    }
    let out = std::process::Command::new("vtysh").args(&args).output().expect("vtysh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn multihop_toggle_and_password_change() {
    let mut lab = Lab::new("fsl5", 1, &RouterOpts::default());
    // A multi-hop peer: the router's loopback 198.51.100.1, which the node reaches only through its
    // default route. FRR 8.4 tracks such a next hop only with `ip nht resolve-via-default` (which
    // the agent renders, as MetalLB does; FRR 10 has it on by default): without it the session
    // would wait for NHT for ever.
    sh(&["ip", "-n", &lab.router(), "addr", "add", "198.51.100.1/32", "dev", "lo"]);
    sh(&["ip", "-n", &lab.node(1), "route", "add", "default", "via", "192.0.2.1"]);
    router_cmds(
        &lab,
        &[
            "router bgp 64500",
            "neighbor 192.0.2.11 ebgp-multihop 2",
            "neighbor 192.0.2.11 update-source 198.51.100.1",
            "neighbor 192.0.2.11 password s3cret",
        ],
    );
    let peers3 = |mh: &str, pw: &str, v6mh: &str| {
        format!(
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: far, namespace: metallb-system}}
spec: {{myASN: 64512, peerASN: 64500, peerAddress: 198.51.100.1, connectTime: 2s, password: {pw}{mh}}}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: router-v6, namespace: metallb-system}}
spec: {{myASN: 64512, peerASN: 64500, peerAddress: "2001:db8::1", connectTime: 2s{v6mh}}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: public, namespace: metallb-system}}
spec: {{addresses: [203.0.113.0/24]}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: public, namespace: metallb-system}}
"#
        )
    };
    let peers = |mh: &str, pw: &str| peers3(mh, pw, "");
    lab.put("web.yaml", &service("web", &["203.0.113.10"], false, &[1]));
    lab.put("config.yaml", &peers(", ebgpMultiHop: true", "s3cret"));
    lab.start_agents();
    assert!(wait_for(T, || lab.next_hops("203.0.113.10/32") == hops(&[1])).is_some(), "multi-hop session with MD5 up");
    let v6 = lab.session("2001:db8::11");

    // ebgpMultiHop off for the multi-hop peer is refused (it is not on a connected network): the
    // error is logged, the running config and the session stay as they are.
    let far = lab.session("192.0.2.11");
    let running = |l: &Lab| common::vtysh(&l.node(1), "show running-config bgpd");
    lab.put("config.yaml", &peers("", "s3cret"));
    let log_has = |s: &str| std::fs::read_to_string(lab.agent_log(1)).unwrap_or_default().contains(s);
    assert!(wait_for(T, || log_has("needs ebgpMultiHop: true")).is_some(), "the rule is enforced");
    std::thread::sleep(Duration::from_secs(1));
    // FRR 8.4 shows the maximum TTL as `ebgp-multihop 255`, FRR 10 as a bare `ebgp-multihop`.
    let multihop = |l: &Lab, peer: &str| {
        running(l).lines().any(|x| {
            x == format!(" neighbor {peer} ebgp-multihop 255") || x == format!(" neighbor {peer} ebgp-multihop")
        })
    };
    assert!(multihop(&lab, "198.51.100.1"));
    assert_eq!(lab.session("192.0.2.11"), far);

    // Toggling ebgpMultiHop on and off for the directly connected IPv6 peer: FRR 8.4 resets that
    // session itself (it re-opens it with the new TTL); we check that it comes back and that no
    // other session is touched, and report the reset.
    let v6_peer = |mh: &str| peers3(", ebgpMultiHop: true", "s3cret", mh);
    let established = |l: &Lab| l.session("2001:db8::11").2 == "Established";
    lab.put("config.yaml", &v6_peer(", ebgpMultiHop: true"));
    assert!(wait_for(T, || multihop(&lab, "2001:db8::1")).is_some(), "multihop on");
    std::thread::sleep(Duration::from_millis(500));
    assert!(wait_for(T, || established(&lab)).is_some());
    let on = lab.session("2001:db8::11");
    lab.put("config.yaml", &v6_peer(""));
    assert!(wait_for(T, || !running(&lab).contains("neighbor 2001:db8::1 ebgp-multihop")).is_some(), "multihop off");
    std::thread::sleep(Duration::from_millis(500));
    assert!(wait_for(T, || established(&lab)).is_some());
    println!(
        "ebgp-multihop toggled on/off on a direct eBGP peer (FRR resets it): {v6:?} -> {on:?} -> {:?}",
        lab.session("2001:db8::11")
    );
    assert_eq!(lab.session("192.0.2.11"), far, "the multi-hop session was untouched");

    // Password change on both sides: FRR re-keys the TCP MD5 signature; report what happens.
    let before = lab.session("192.0.2.11");
    router_cmds(&lab, &["router bgp 64500", "neighbor 192.0.2.11 password n3w-key"]);
    lab.put("config.yaml", &peers(", ebgpMultiHop: true", "n3w-key"));
    assert!(
        wait_for(T, || common::vtysh(&lab.node(1), "show running-config bgpd").contains("password n3w-key")).is_some()
    );
    let back =
        wait_for(T, || lab.session("192.0.2.11").2 == "Established" && lab.next_hops("203.0.113.10/32") == hops(&[1]));
    println!(
        "password change: session {before:?} -> {:?}, established again after {back:?}",
        lab.session("192.0.2.11")
    );
    assert!(back.is_some(), "the session comes back with the new password");
    let log = std::fs::read_to_string(lab.agent_log(1)).unwrap_or_default();
    assert!(!log.contains("s3cret") && !log.contains("n3w-key"), "a password reached the log");
}

/// The node's Node object, cordoned or not.
fn node(name: &str, unschedulable: bool) -> String {
    format!("apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\nspec: {{unschedulable: {unschedulable}}}\n")
}

/// SIGTERM on an uncordoned node (an agent-only restart) changes nothing at the router; on a
/// cordoned node it announces GRACEFUL_SHUTDOWN, so the router moves traffic to the other node
/// while node2 still forwards, then withdraws, then exits; uncordoned, the next agent brings the
/// routes back and removes graceful-shutdown from FRR.
#[test]
fn drain_on_cordon_and_plain_restart() {
    let mut lab = Lab::new("fsl6", 2, &RouterOpts::default());
    let prefix = "203.0.113.10/32";
    lab.put("config.yaml", &config());
    lab.put("web.yaml", &service("web", &["203.0.113.10"], false, &[1, 2]));
    lab.put("nodes.yaml", &format!("{}---\n{}", node("node1", false), node("node2", false)));
    lab.start_agents();
    assert!(wait_for(T, || lab.next_hops(prefix) == hops(&[1, 2])).is_some(), "ECMP");

    // MetalLB's metrics, read from FRR by the agent.
    let scrape = || lab.metrics(1);
    for line in [
        r#"metallb_bgp_session_up{peer="192.0.2.1:179",vrf="default"} 1"#,
        r#"metallb_bgp_announced_prefixes_total{peer="192.0.2.1:179",vrf="default"} 1"#,
        r#"metallb_speaker_announced{ip="203.0.113.10",node="node1",protocol="bgp",service="default/web"} 1"#,
    ] {
        assert!(wait_for(T, || scrape().contains(line)).is_some(), "metric {line} in:\n{}", scrape());
    }

    // Agent-only restart: nothing withdrawn, no session touched.
    let monitor = common::RouteMonitor::start(&lab.router(), "-4");
    std::thread::sleep(Duration::from_millis(500));
    monitor.drain();
    let before = lab.session("192.0.2.12");
    lab.stop_agent(2);
    lab.start_agent(2);
    std::thread::sleep(Duration::from_secs(3));
    let changes: Vec<String> = monitor.lines().into_iter().filter(|l| l.contains("203.0.113.10")).collect();
    assert!(changes.is_empty(), "an agent restart changed the router's route: {changes:?}");
    assert_eq!(lab.session("192.0.2.12"), before);
    assert!(lab.bgp_paths(prefix).iter().all(|p| p["community"]["string"].as_str().is_none()));

    // Cordon node2, then SIGTERM: graceful shutdown, withdrawal, exit.
    lab.put("nodes.yaml", &format!("{}---\n{}", node("node1", false), node("node2", true)));
    std::thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    lab.signal_agent(2);
    let gshut = wait_for(T, || {
        lab.bgp_paths(prefix).iter().any(|p| {
            p["peer"]["peerId"] == "192.0.2.12"
                && p["community"]["string"].as_str().is_some_and(|c| c.contains("graceful-shutdown"))
        })
    });
    assert!(gshut.is_some(), "node2's route carries GRACEFUL_SHUTDOWN: {:?}", lab.bgp_paths(prefix));
    let marker = common::socket_dir(&lab.node(2)).join("frr-speaker-draining");
    assert!(marker.exists(), "the drain marker tells the FRR container to wait");
    let moved = wait_for(T, || lab.next_hops(prefix) == hops(&[1]));
    assert!(moved.is_some(), "the router prefers node1");
    let t_moved = t0.elapsed();
    assert_eq!(lab.bgp_paths(prefix).len(), 2, "node2 still announces (and forwards) while traffic moves");
    let withdrawn = wait_for(T, || lab.bgp_paths(prefix).len() == 1);
    assert!(withdrawn.is_some(), "node2 withdraws");
    let t_withdrawn = t0.elapsed();
    let status = lab.wait_agent(2, Duration::from_secs(15));
    assert!(status.is_some_and(|s| s.success()), "the agent exits cleanly after draining: {status:?}");
    let t_exit = t0.elapsed();
    assert_eq!(lab.session("192.0.2.12").2, "Established", "sessions stay up");
    assert!(!marker.exists(), "the drain marker is gone once drained");
    println!("drain: traffic moved after {t_moved:?}, withdrawn after {t_withdrawn:?}, exited after {t_exit:?}");

    // Uncordoned: the next agent announces again and takes graceful-shutdown back.
    lab.put("nodes.yaml", &format!("{}---\n{}", node("node1", false), node("node2", false)));
    lab.start_agent(2);
    assert!(wait_for(T, || lab.next_hops(prefix) == hops(&[1, 2])).is_some(), "ECMP again");
    let running = common::vtysh(&lab.node(2), "show running-config");
    assert!(!running.contains("graceful-shutdown"), "graceful-shutdown removed:\n{running}");
}

/// MetalLB's `bgpextras` ConfigMap: its lines reach the node's FRR after ours and survive the
/// agent's reconciles; removed lines leave FRR; lines FRR refuses are reported while the agent's
/// own configuration keeps being applied.
#[test]
fn bgpextras_are_applied_kept_removed_and_refusals_reported() {
    let extras = |text: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: bgpextras, namespace: metallb-system}}\ndata:\n  extras: |\n{}",
            text.lines().map(|l| format!("    {l}\n")).collect::<String>()
        )
    };
    let mut lab = Lab::new("fsx", 1, &RouterOpts::default());
    let node = lab.node(1);
    let running = |node: &str| common::vtysh(node, "show running-config");
    lab.put("config.yaml", &config());
    lab.put("web.yaml", &service("web", &["203.0.113.10"], false, &[1]));
    lab.put(
        "extras.yaml",
        &extras(
            "ip prefix-list from-router seq 5 permit 198.51.100.0/24 le 32\nroute-map accept-router permit 10\n match ip address prefix-list from-router\nexit\nrouter bgp 64512\n  address-family ipv4 unicast\n    neighbor 192.0.2.1 allowas-in origin\n    neighbor 192.0.2.1 route-map accept-router in\n  exit-address-family\n",
        ),
    );
    lab.start_agents();
    assert!(wait_for(T, || lab.next_hops("203.0.113.10/32") == hops(&[1])).is_some(), "announced");
    let has_extras = |c: &str| {
        c.contains("ip prefix-list from-router seq 5 permit 198.51.100.0/24 le 32")
            && c.contains("route-map accept-router permit 10")
            && c.contains("neighbor 192.0.2.1 allowas-in origin")
            && c.contains("neighbor 192.0.2.1 route-map accept-router in")
    };
    assert!(wait_for(T, || has_extras(&running(&node))).is_some(), "extras applied:\n{}", running(&node));
    assert!(
        !running(&node).contains("neighbor 192.0.2.1 route-map fs-deny-in in"),
        "the extras' inbound policy replaces ours"
    );
    let session = lab.session("192.0.2.11");

    // A change of ours goes through the fast path and its verification; the extras stay.
    lab.put("db.yaml", &service("db", &["203.0.113.20"], false, &[1]));
    assert!(wait_for(T, || lab.next_hops("203.0.113.20/32") == hops(&[1])).is_some());
    std::thread::sleep(Duration::from_secs(3));
    assert!(has_extras(&running(&node)), "kept across the verification:\n{}", running(&node));
    lab.assert_clean_logs();

    // Lines dropped from the ConfigMap leave FRR; our inbound policy comes back.
    lab.put(
        "extras.yaml",
        &extras("router bgp 64512\n address-family ipv4 unicast\n  neighbor 192.0.2.1 allowas-in origin\n exit-address-family\n"),
    );
    let dropped = |c: &str| {
        !c.contains("ip prefix-list from-router")
            && !c.contains("route-map accept-router")
            && c.contains("neighbor 192.0.2.1 route-map fs-deny-in in")
            && c.contains("neighbor 192.0.2.1 allowas-in origin")
    };
    assert!(wait_for(T, || dropped(&running(&node))).is_some(), "removed:\n{}", running(&node));

    // Lines FRR refuses: reported, nothing of them runs, and changes of ours still go through.
    lab.put("extras.yaml", &extras("router bgp 64512\n  neighbor 192.0.2.1 no-such-option\n"));
    let log = || std::fs::read_to_string(lab.agent_log(1)).unwrap_or_default();
    assert!(wait_for(T, || log().contains("FRR refused the bgpextras lines")).is_some(), "refusal logged:\n{}", log());
    assert!(log().contains("no-such-option"), "the log names the line");
    assert!(
        wait_for(T, || !running(&node).contains("allowas-in")).is_some(),
        "the previous extras are gone too:\n{}",
        running(&node)
    );
    lab.put("db.yaml", &service("db", &["203.0.113.20", "203.0.113.21"], false, &[1]));
    assert!(wait_for(T, || lab.next_hops("203.0.113.21/32") == hops(&[1])).is_some(), "ours keeps going");
    let refusals = log().matches("FRR refused the bgpextras lines").count();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(log().matches("FRR refused the bgpextras lines").count(), refusals, "not retried per change");
    assert!(lab.metrics(1).contains("frr_speaker"), "agent alive");

    // No ConfigMap: nothing of it left.
    lab.remove("extras.yaml");
    assert!(
        wait_for(T, || !running(&node).contains("allowas-in") && !running(&node).contains("no-such-option")).is_some()
    );
    let (established, _, state) = lab.session("192.0.2.11");
    assert_eq!(state, "Established");
    assert_eq!(established, session.0, "no session reset along the way");
}
