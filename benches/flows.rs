//! Bench (not a test): long-lived TCP flows through the router's ECMP to a service IP, and how
//! many break when something happens to the speakers. Prints a table.
//!
//! Lab: router + 2 nodes (FRR + agent in file mode each) + a client namespace behind the router
//! (198.51.100.0/24). The service IP 203.0.113.10 sits on the loopback of each node, where
//! this same binary serves TCP (`serve` mode: echo, plus which node answered). The client opens
//! 200 connections (the router hashes them per connection, on the 5-tuple: e2e/lab.sh) and
//! sends one byte every 100 ms on each; a connection breaks on a reset, EOF, or no answer within
//! 3 s. Scenarios: a config change, an agent restart, FRR restarted on node2 with and without BGP
//! graceful restart, a planned drain of node2 (cordon + SIGTERM: GRACEFUL_SHUTDOWN, withdraw)
//! and node2 coming back, with the router's plain ECMP (hash-threshold) and with a resilient
//! nexthop group (see `Resilient`). `FLOWS_DEBUG=1` logs the mirror's group changes and the
//! router's kernel route and nexthops after the last scenario.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::objects;
use common::{lab_sh, wait_for, Lab, RouterOpts};

const P: &str = "fsflow";
const SERVICE: &str = "203.0.113.10";
const PORT: u16 = 8080;
const FLOWS: usize = 200;
const T: Duration = Duration::from_secs(60);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve(args[2].parse().expect("node number"));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let mut lab = Lab::new(P, 2, &RouterOpts::default());
    setup_network(&lab);
    let exe = std::env::current_exe().expect("exe");
    let mut servers = Vec::new();
    for i in 1..=2 {
        servers.push(
            Command::new("ip")
                .args(["netns", "exec", &lab.node(i)])
                .arg(&exe)
                .args(["serve", &i.to_string()])
                .spawn()
                .expect("server"),
        );
    }
    lab.put("config.yaml", &config(true, serde_json::json!({})));
    lab.put("web.yaml", &web());
    lab.put("nodes.yaml", &nodes(false));
    lab.start_agents();
    assert!(wait_ecmp(&lab).is_some(), "ECMP");

    let mut rows: Vec<(String, Outcome)> = Vec::new();

    let o = scenario(&mut lab, |lab| {
        lab.put("config.yaml", &config(true, serde_json::json!({"communities": ["65000:7"]})));
        wait_for(T, || {
            lab.bgp_path(&format!("{SERVICE}/32"))["community"]["string"]
                .as_str()
                .is_some_and(|c| c.contains("65000:7"))
        });
    });
    rows.push(("config change (community added)".into(), o));

    // Both agents restart (a rolling update of the agent container; nodes not cordoned).
    let o = scenario(&mut lab, |lab| {
        for i in 1..=2 {
            lab.stop_agent(i);
            lab.start_agent(i);
        }
        std::thread::sleep(Duration::from_secs(2));
    });
    rows.push(("agent restart on both nodes".into(), o));

    let o = scenario(&mut lab, |lab| restart_frr(lab, 2));
    rows.push(("FRR restart on node2, graceful restart on".into(), o));

    lab.put("config.yaml", &config(false, serde_json::json!({"communities": ["65000:7"]})));
    settle_sessions(&lab);
    let o = scenario(&mut lab, |lab| restart_frr(lab, 2));
    rows.push(("FRR restart on node2, graceful restart off".into(), o));

    let o = scenario(&mut lab, drain_node2);
    rows.push(("planned drain of node2 (plain ECMP)".into(), o));

    let o = scenario(&mut lab, node2_back);
    rows.push(("node2 back after the drain (plain ECMP)".into(), o));

    // The same drain and return with a router that hashes through a resilient nexthop group.
    let mirror = Resilient::start(&lab);
    let o = scenario(&mut lab, drain_node2);
    rows.push(("planned drain of node2 (resilient nexthop group)".into(), o));
    let o = scenario(&mut lab, node2_back);
    rows.push(("node2 back after the drain (resilient nexthop group)".into(), o));
    if std::env::var_os("FLOWS_DEBUG").is_some() {
        for args in [&["route", "show", "203.0.113.10"][..], &["nexthop", "show"][..]] {
            let out = Command::new("ip").args(["-n", &lab.router()]).args(args).output().expect("ip");
            eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        }
    }
    mirror.stop(&lab);

    println!("\nLong-lived TCP flows through the router's ECMP ({FLOWS} connections, FRR 8.4, 2 nodes)");
    println!("| event | flows on node1 / node2 before | broken | broken on node1 / node2 |");
    println!("|---|---|---|---|");
    for (name, o) in &rows {
        println!(
            "| {name} | {} / {} | {} | {} / {} |",
            o.before[0], o.before[1], o.broken_total, o.broken[0], o.broken[1]
        );
    }
    for mut s in servers {
        let _ = s.kill();
        let _ = s.wait();
    }
    drop(lab);
}

/// A router hashing through a Linux resilient nexthop group (64 buckets, 60 s idle timer: a busy
/// bucket never moves) whose members follow BGP: FRR 8.4's zebra installs BGP multipath routes as
/// plain (hash-threshold) groups, so this thread mirrors the next hops of FRR's route into a
/// resilient group and a more preferred kernel route (metric 10 beats zebra's 20).
struct Resilient {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Resilient {
    fn start(lab: &Lab) -> Resilient {
        let r = lab.router();
        let ip = |args: &[&str]| {
            let st = Command::new("ip").args(["-n", &r]).args(args).status().expect("ip");
            assert!(st.success(), "ip {args:?}");
        };
        ip(&["nexthop", "add", "id", "901", "via", "192.0.2.11", "dev", "br0"]);
        ip(&["nexthop", "add", "id", "902", "via", "192.0.2.12", "dev", "br0"]);
        ip(&[
            "nexthop",
            "add",
            "id",
            "900",
            "group",
            "901/902",
            "type",
            "resilient",
            "buckets",
            "64",
            "idle_timer",
            "60",
        ]);
        ip(&["route", "add", &format!("{SERVICE}/32"), "nhid", "900", "metric", "10"]);
        let stop = Arc::new(AtomicBool::new(false));
        let (s, router) = (stop.clone(), r.clone());
        let thread = std::thread::spawn(move || {
            let mut last = String::from("901/902");
            while !s.load(Ordering::Relaxed) {
                // BGP's paths with the best local preference (zebra's RIB prefers the mirror's
                // kernel route, so its own selection says nothing; bgpd's best/multipath flags
                // are briefly incomplete while a path comes back, which would force buckets over).
                let v = common::vtysh_json(&router, &format!("show bgp ipv4 unicast {SERVICE}/32 json"));
                let paths: Vec<(u64, &str)> = v["paths"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter(|p| p["valid"] == true)
                            .filter_map(|p| {
                                Some((p["locPrf"].as_u64().unwrap_or(100), p["nexthops"][0]["ip"].as_str()?))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let best = paths.iter().map(|(lp, _)| *lp).max().unwrap_or(0);
                let mut hops: Vec<&str> = paths.iter().filter(|(lp, _)| *lp == best).map(|(_, h)| *h).collect();
                hops.sort();
                let ids: Vec<&str> = hops
                    .iter()
                    .filter_map(|h| match *h {
                        "192.0.2.11" => Some("901"),
                        "192.0.2.12" => Some("902"),
                        _ => None,
                    })
                    .collect();
                let group = ids.join("/");
                if !group.is_empty() && group != last {
                    if std::env::var_os("FLOWS_DEBUG").is_some() {
                        eprintln!("mirror: group {last} -> {group}");
                    }
                    let _ = Command::new("ip")
                        .args(["-n", &router, "nexthop", "replace", "id", "900", "group", &group, "type", "resilient"])
                        .args(["buckets", "64", "idle_timer", "60"])
                        .status();
                    last = group;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Resilient { stop, thread: Some(thread) }
    }

    fn stop(mut self, lab: &Lab) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let r = lab.router();
        let _ = Command::new("ip").args(["-n", &r, "route", "del", &format!("{SERVICE}/32"), "metric", "10"]).status();
        for id in ["900", "901", "902"] {
            let _ = Command::new("ip").args(["-n", &r, "nexthop", "del", "id", id]).status();
        }
    }
}

#[derive(Debug, Default)]
struct Outcome {
    before: [usize; 2],
    broken: [usize; 2],
    broken_total: usize,
}

/// Open the flows, act, let things settle for 3 s, count what broke.
fn scenario(lab: &mut Lab, act: impl FnOnce(&mut Lab)) -> Outcome {
    let flows = Flows::open();
    act(lab);
    std::thread::sleep(Duration::from_secs(3));
    flows.finish()
}

/// Cordon node2, then SIGTERM its agent: it drains (GRACEFUL_SHUTDOWN, withdraw) and exits.
fn drain_node2(lab: &mut Lab) {
    lab.put("nodes.yaml", &nodes(true));
    std::thread::sleep(Duration::from_secs(1));
    lab.signal_agent(2);
    lab.wait_agent(2, T);
}

/// Uncordon node2 and start its agent again; wait for ECMP over both nodes.
fn node2_back(lab: &mut Lab) {
    lab.put("nodes.yaml", &nodes(false));
    lab.start_agent(2);
    wait_ecmp(lab);
}

/// Wait until the router's route to the service IP goes to both nodes.
fn wait_ecmp(lab: &Lab) -> Option<Duration> {
    let both = vec!["192.0.2.11".to_string(), "192.0.2.12".to_string()];
    wait_for(T, || lab.next_hops(&format!("{SERVICE}/32")) == both)
}

/// Kill node i's FRR daemons (not the agent, not the TCP server) and start FRR again from the
/// frr.conf the agent keeps; wait until the router has the session and the route back.
fn restart_frr(lab: &mut Lab, i: usize) {
    let node = lab.node(i);
    for d in ["staticd", "bfdd", "bgpd", "zebra"] {
        let pidfile = common::socket_dir(&node).join(format!("{d}.pid"));
        if let Some(pid) = std::fs::read_to_string(&pidfile).ok().and_then(|p| p.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = std::fs::remove_file(pidfile);
    }
    std::thread::sleep(Duration::from_millis(500));
    lab_sh(&["frr-start", &node]);
    let addr = format!("192.0.2.{}", 10 + i);
    wait_for(T, || lab.session(&addr).2 == "Established");
    wait_ecmp(lab);
}

fn settle_sessions(lab: &Lab) {
    std::thread::sleep(Duration::from_secs(2));
    for a in ["192.0.2.11", "192.0.2.12"] {
        wait_for(T, || lab.session(a).2 == "Established");
    }
    wait_ecmp(lab);
}

/// The client namespace behind the router, routes back from the nodes, the service IP on each
/// node's loopback.
fn setup_network(lab: &Lab) {
    let client = format!("{P}-client");
    let router = lab.router();
    let sh = |args: &[&str]| {
        let st = Command::new("ip").args(args).status().expect("ip");
        assert!(st.success(), "ip {args:?}");
    };
    lab_sh(&["bare", &client]);
    sh(&["link", "add", &format!("{P}-c"), "netns", &router, "type", "veth", "peer", "name", "eth0", "netns", &client]);
    sh(&["-n", &router, "addr", "add", "198.51.100.1/24", "dev", &format!("{P}-c")]);
    sh(&["-n", &router, "link", "set", &format!("{P}-c"), "up"]);
    sh(&["-n", &client, "addr", "add", "198.51.100.2/24", "dev", "eth0"]);
    sh(&["-n", &client, "link", "set", "eth0", "up"]);
    sh(&["-n", &client, "route", "add", "default", "via", "198.51.100.1"]);
    for i in 1..=2 {
        let n = lab.node(i);
        sh(&["-n", &n, "route", "add", "198.51.100.0/24", "via", "192.0.2.1"]);
        // On the loopback (this kernel has no dummy interfaces); the same for local delivery.
        sh(&["-n", &n, "addr", "add", &format!("{SERVICE}/32"), "dev", "lo"]);
    }
}

/// `serve N`: accept on the service IP; echo each byte back together with the node number.
fn serve(node: u8) {
    let listener = TcpListener::bind((SERVICE, PORT)).expect("bind");
    for conn in listener.incoming() {
        let Ok(mut c) = conn else { continue };
        std::thread::spawn(move || {
            let mut b = [0u8; 1];
            while let Ok(1) = c.read(&mut b) {
                if c.write_all(&[b[0], node]).is_err() {
                    break;
                }
            }
        });
    }
}

struct Flows {
    stop: Arc<AtomicBool>,
    broken: Arc<[AtomicUsize; 2]>,
    before: [usize; 2],
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Flows {
    /// Open the connections from the client namespace and check each answers.
    fn open() -> Flows {
        let ns = std::fs::File::open(format!("/var/run/netns/{P}-client")).expect("client netns");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Network namespaces are per thread: sockets made here live in the client's.
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let addr: SocketAddr = format!("{SERVICE}:{PORT}").parse().expect("addr");
            let conns: Vec<TcpStream> = (0..FLOWS)
                .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect"))
                .collect();
            tx.send(conns).expect("send");
        });
        let conns = rx.recv().expect("connections");
        let stop = Arc::new(AtomicBool::new(false));
        let broken = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let mut before = [0usize; 2];
        let mut threads = Vec::new();
        for mut c in conns {
            c.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
            c.set_nodelay(true).expect("nodelay");
            let mut b = [0u8; 2];
            c.write_all(b"x").expect("write");
            c.read_exact(&mut b).expect("first answer");
            let node = (b[1] as usize).clamp(1, 2) - 1;
            before[node] += 1;
            let (stop, broken) = (stop.clone(), broken.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let ok = c.write_all(b"x").is_ok() && c.read_exact(&mut b).is_ok();
                    if !ok {
                        broken[node].fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }));
        }
        Flows { stop, broken, before, threads }
    }

    fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let broken = [self.broken[0].load(Ordering::Relaxed), self.broken[1].load(Ordering::Relaxed)];
        Outcome { before: self.before, broken, broken_total: broken[0] + broken[1] }
    }
}

fn config(graceful_restart: bool, ad_spec: serde_json::Value) -> String {
    let peer = objects::peer("router", "192.0.2.1", 64500).fast().set("enableGracefulRestart", graceful_restart);
    objects::yaml(&[
        peer.build(),
        objects::pool("public", &["203.0.113.0/24"]),
        objects::advertisement("public", ad_spec),
    ])
}

/// `web` with a ready endpoint on each node.
fn web() -> String {
    objects::service("web", &["203.0.113.10"])
        .endpoint("198.51.100.101", "node1", Some(true))
        .endpoint("198.51.100.102", "node2", Some(true))
        .yaml()
}

fn nodes(node2_cordoned: bool) -> String {
    objects::yaml(&[objects::node("node1", false), objects::node("node2", node2_cordoned)])
}
