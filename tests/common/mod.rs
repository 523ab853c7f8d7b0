//! Test helpers shared by the FRR and lab tests: namespaces and FRR instances that are always
//! torn down (Drop runs on panic too), and vtysh access.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod controlplane;
pub mod objects;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn lab_sh(args: &[&str]) -> String {
    let out = Command::new(root().join("e2e/lab.sh")).args(args).output().expect("lab.sh runs");
    assert!(
        out.status.success(),
        "lab.sh {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Namespaces named `<prefix>-*`, removed with everything running in them when dropped.
pub struct Namespaces {
    pub prefix: String,
}

impl Namespaces {
    /// Removes leftovers of an earlier, killed run with the same prefix first.
    pub fn new(prefix: &str) -> Self {
        let _ = Command::new(root().join("e2e/lab.sh")).args(["down", prefix]).output();
        Namespaces { prefix: prefix.to_string() }
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        let _ = Command::new(root().join("e2e/lab.sh")).args(["down", &self.prefix]).output();
    }
}

/// The root file system the nodes' FRR runs from (`FRR_SPEAKER_FRR_ROOT`; `make test` runs the FRR
/// tests a second time with Debian trixie's FRR 10 from e2e/frr10/root.sh). `None`: the host's FRR
/// (Debian bookworm's 8.4). The lab's router always runs the host's.
pub fn frr_root() -> Option<String> {
    std::env::var("FRR_SPEAKER_FRR_ROOT").ok().filter(|r| !r.is_empty())
}

/// Which FRR the nodes run, for messages and bench columns: `8.4.4` or `10.3`, from bgpd -v.
pub fn node_frr_version() -> String {
    let out = match frr_root() {
        Some(root) => Command::new("chroot").args([root.as_str(), "/usr/lib/frr/bgpd", "-v"]).output(),
        None => Command::new("/usr/lib/frr/bgpd").arg("-v").output(),
    };
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    text.lines().next().and_then(|l| l.strip_prefix("bgpd version ")).unwrap_or("?").trim().to_string()
}

/// The FRR root for namespace `ns`: nodes run `frr_root()`, routers the host's FRR.
fn root_for(ns: &str) -> String {
    if ns.ends_with("-router") {
        String::new()
    } else {
        frr_root().unwrap_or_default()
    }
}

/// Start FRR in `ns` (the nodes' FRR, or the host's for a router).
pub fn frr_start(ns: &str) {
    lab_sh(&["frr-start", ns, &root_for(ns)]);
}

/// Start one FRR daemon in `ns` with an empty config.
pub fn daemon_start(ns: &str, daemon: &str) {
    lab_sh(&["daemon-start", ns, daemon, &root_for(ns)]);
}

/// `vtysh -N ns -c cmd` with the vtysh of the FRR that runs in `ns`.
pub fn vtysh(ns: &str, cmd: &str) -> String {
    let out = Command::new(root().join("e2e/lab.sh"))
        .args(["vtysh", ns, &root_for(ns), "--", "-c", cmd])
        .output()
        .expect("vtysh runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Check `file` with the nodes' FRR's own parser (`vtysh --dryrun`); Err holds FRR's message.
pub fn dryrun(file: &Path) -> Result<(), String> {
    let frr = frr_root().unwrap_or_default();
    let out = Command::new(root().join("e2e/lab.sh"))
        .args(["dryrun", &file.to_string_lossy(), &frr])
        .output()
        .expect("lab.sh runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

pub fn vtysh_json(ns: &str, cmd: &str) -> serde_json::Value {
    serde_json::from_str(&vtysh(ns, cmd)).unwrap_or(serde_json::Value::Null)
}

/// The pid of FRR daemon `daemon` in lab namespace `ns`, from its pid file.
pub fn daemon_pid(ns: &str, daemon: &str) -> i32 {
    let file = socket_dir(ns).join(format!("{daemon}.pid"));
    std::fs::read_to_string(&file).expect("pid file").trim().parse().expect("pid")
}

/// Send `sig` to FRR daemon `daemon` in lab namespace `ns`.
pub fn signal_daemon(ns: &str, daemon: &str, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon_pid(ns, daemon)), sig).expect("signal");
}

pub fn socket_dir(ns: &str) -> PathBuf {
    Path::new("/var/run/frr").join(ns)
}

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Options of the lab router (AS 64500 unless `router_asn` says otherwise).
#[derive(Clone)]
pub struct RouterOpts {
    pub asn: u32,
    pub bfd: bool,
    pub password: Option<String>,
    /// BGP keepalive/hold the router asks for.
    pub timers: (u32, u32),
    /// Prefixes the router advertises to the nodes (`network` lines; none by default).
    pub advertise: Vec<&'static str>,
    /// Also an unnumbered session on the router's side of the nodes' link (br0: with one node,
    /// a link to that node alone), any AS.
    pub unnumbered: bool,
}

impl Default for RouterOpts {
    fn default() -> Self {
        RouterOpts { asn: 64500, bfd: false, password: None, timers: (3, 9), advertise: Vec::new(), unnumbered: false }
    }
}

/// The router's frr.conf: a neighbor per node over IPv4 and IPv6, multipath; it exports only
/// `advertise`.
pub fn router_conf(nodes: usize, o: &RouterOpts) -> String {
    let mut c = format!(
        "frr defaults traditional\nrouter bgp {}\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n bgp bestpath as-path multipath-relax\n",
        o.asn
    );
    let mut v4 = String::new();
    let mut v6 = String::new();
    for i in 1..=nodes {
        for addr in [format!("192.0.2.{}", 10 + i), format!("2001:db8::{}", 10 + i)] {
            c.push_str(&format!(
                " neighbor {addr} remote-as {}\n",
                if o.asn == 64512 { "internal" } else { "external" }
            ));
            c.push_str(&format!(
                " neighbor {addr} timers {} {}\n neighbor {addr} timers connect 2\n",
                o.timers.0, o.timers.1
            ));
            if o.bfd {
                c.push_str(&format!(" neighbor {addr} bfd\n"));
            }
            if let Some(p) = &o.password {
                c.push_str(&format!(" neighbor {addr} password {p}\n"));
            }
            if addr.contains(':') {
                v6.push_str(&format!("  neighbor {addr} activate\n"));
                // IPv6 sessions also carry IPv4 for nodes that ask for dual-stack.
                v4.push_str(&format!("  neighbor {addr} activate\n"));
            } else {
                v4.push_str(&format!("  neighbor {addr} activate\n"));
            }
        }
    }
    if o.unnumbered {
        c.push_str(
            " neighbor br0 interface remote-as external\n neighbor br0 timers 3 9\n neighbor br0 timers connect 2\n",
        );
        v4.push_str("  neighbor br0 activate\n");
        v6.push_str("  neighbor br0 activate\n");
    }
    if !o.advertise.is_empty() {
        c.push_str(" no bgp network import-check\n");
    }
    for p in &o.advertise {
        match p.contains(':') {
            true => v6.push_str(&format!("  network {p}\n")),
            false => v4.push_str(&format!("  network {p}\n")),
        }
    }
    c.push_str(&format!(
        " address-family ipv4 unicast\n{v4}  maximum-paths 8\n  maximum-paths ibgp 8\n exit-address-family\n"
    ));
    c.push_str(&format!(
        " address-family ipv6 unicast\n{v6}  maximum-paths 8\n  maximum-paths ibgp 8\n exit-address-family\nexit\n"
    ));
    c
}

/// The cache directory of a peer project's binaries (`e2e/peers/build.sh <what>`, built on first
/// use), or the one environment variable `env` names.
pub fn peer_binaries(what: &str, env: &str) -> PathBuf {
    if let Some(d) = std::env::var_os(env) {
        return PathBuf::from(d);
    }
    let out = Command::new(root().join("e2e/peers/build.sh"))
        .arg(what)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("e2e/peers/build.sh");
    assert!(out.status.success(), "building {what} failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().last().expect("dir").trim())
}

/// A value in kB from /proc/<pid>/status (`VmRSS:`, `VmHWM:`), 0 if unreadable.
pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A profiler to start agents under, from LAB_AGENT_WRAPPER (e.g. "heaptrack -o /tmp/agent", as
/// the README's heap profiles of lab_apply and kube_scale were taken).
fn wrapper() -> Vec<String> {
    std::env::var("LAB_AGENT_WRAPPER").map(|w| w.split_whitespace().map(str::to_string).collect()).unwrap_or_default()
}

/// Router + N nodes with FRR each, an agent per node in file mode on one shared manifests
/// directory. Everything is torn down on drop.
pub struct Lab {
    pub prefix: String,
    pub nodes: usize,
    pub manifests: PathBuf,
    agents: Vec<Option<Child>>,
    /// Extra flags and environment for agents started from now on.
    pub agent_args: Vec<String>,
    pub agent_env: Vec<(String, String)>,
    _ns: Namespaces,
}

impl Lab {
    pub fn new(prefix: &str, nodes: usize, router: &RouterOpts) -> Lab {
        let ns = Namespaces::new(prefix);
        lab_sh(&["up", &nodes.to_string(), prefix]);
        let rconf = Path::new("/etc/frr").join(format!("{prefix}-router"));
        std::fs::create_dir_all(&rconf).expect("router conf dir");
        std::fs::write(rconf.join("frr.conf"), router_conf(nodes, router)).expect("router conf");
        frr_start(&format!("{prefix}-router"));
        for i in 1..=nodes {
            frr_start(&format!("{prefix}-node{i}"));
        }
        for i in 1..=nodes {
            // A log holds one test run (restarts within it append).
            let _ = std::fs::remove_file(std::env::temp_dir().join(format!("frr-speaker-{prefix}-agent{i}.log")));
        }
        let manifests = std::env::temp_dir().join(format!("frr-speaker-{prefix}-manifests"));
        let _ = std::fs::remove_dir_all(&manifests);
        std::fs::create_dir_all(&manifests).expect("manifests dir");
        Lab {
            prefix: prefix.to_string(),
            nodes,
            manifests,
            agents: (0..nodes).map(|_| None).collect(),
            agent_args: Vec::new(),
            agent_env: Vec::new(),
            _ns: ns,
        }
    }

    pub fn router(&self) -> String {
        format!("{}-router", self.prefix)
    }

    pub fn node(&self, i: usize) -> String {
        format!("{}-node{i}", self.prefix)
    }

    /// Node `i`'s kernel routes learnt by BGP (their destinations, sorted).
    pub fn kernel_bgp_routes(&self, i: usize) -> Vec<String> {
        let out = Command::new("ip").args(["-n", &self.node(i), "-j", "route", "show", "proto", "bgp"]).output();
        let v: serde_json::Value =
            out.ok().and_then(|o| serde_json::from_slice(&o.stdout).ok()).unwrap_or(serde_json::Value::Null);
        let mut routes: Vec<String> =
            v.as_array().into_iter().flatten().filter_map(|r| r["dst"].as_str().map(str::to_string)).collect();
        routes.sort();
        routes
    }

    pub fn agent_log(&self, i: usize) -> PathBuf {
        std::env::temp_dir().join(format!("frr-speaker-{}-agent{i}.log", self.prefix))
    }

    /// Node i's agent log so far.
    pub fn agent_log_text(&self, i: usize) -> String {
        std::fs::read_to_string(self.agent_log(i)).unwrap_or_default()
    }

    /// The length of node i's agent log now (a mark for `agent_shares`).
    pub fn agent_log_len(&self, i: usize) -> u64 {
        std::fs::metadata(self.agent_log(i)).map(|m| m.len()).unwrap_or(0)
    }

    /// The agent's share of each change it applied since byte `from` of its log, in ms: its
    /// source learned of the change -> FRR accepted it (`since_event_us` of each "applied"),
    /// sorted.
    pub fn agent_shares(&self, i: usize, from: u64) -> Vec<f64> {
        let log = std::fs::read(self.agent_log(i)).unwrap_or_default();
        let text = String::from_utf8_lossy(&log[(from as usize).min(log.len())..]).into_owned();
        let mut v: Vec<f64> = text
            .lines()
            .filter(|l| l.contains(" applied"))
            .filter_map(|l| l.split("since_event_us=").nth(1)?.split_whitespace().next()?.parse::<f64>().ok())
            .map(|us| us / 1e3)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// Start (or restart) node i's agent.
    pub fn start_agent(&mut self, i: usize) {
        self.stop_agent(i);
        let node = self.node(i);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &node]).args(wrapper());
        cmd.args([env!("CARGO_BIN_EXE_frr-speaker"), "run"]).arg("--manifests").arg(&self.manifests);
        self.launch(i, cmd, 7472);
    }

    /// Start node i's agent in Kubernetes mode. It runs in the root namespace (where the test's
    /// kube-apiserver listens on 127.0.0.1) and drives node i's FRR through its vty sockets.
    pub fn start_agent_kube(&mut self, i: usize, kubeconfig: &Path, metrics_port: u16) {
        self.stop_agent(i);
        let mut w = wrapper();
        let mut cmd = match w.is_empty() {
            true => Command::new(env!("CARGO_BIN_EXE_frr-speaker")),
            false => {
                let mut c = Command::new(w.remove(0));
                c.args(w).arg(env!("CARGO_BIN_EXE_frr-speaker"));
                c
            }
        };
        cmd.arg("run").env("KUBECONFIG", kubeconfig);
        self.launch(i, cmd, metrics_port);
    }

    /// Add the flags every agent of node i gets, start it, log to `agent_log(i)`.
    fn launch(&mut self, i: usize, mut cmd: Command, metrics_port: u16) {
        let node = self.node(i);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.agent_log(i)).expect("log");
        // Its own process group, signalled as one: under a LAB_AGENT_WRAPPER (heaptrack's script
        // does not pass signals on) the agent must stop with its wrapper.
        use std::os::unix::process::CommandExt;
        let child = cmd
            .process_group(0)
            .args(["--node", &format!("node{i}")])
            .arg("--frr-config")
            .arg(format!("/etc/frr/{node}/frr.conf"))
            .arg("--vty-socket-dir")
            .arg(socket_dir(&node))
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(&self.agent_args)
            .env("RUST_LOG", "info,frr_speaker=debug")
            .envs(image_env())
            .envs(self.agent_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("agent starts");
        self.agents[i - 1] = Some(child);
    }

    /// The WARN and ERROR lines of node `i`'s agent log so far.
    pub fn log_problems(&self, i: usize) -> Vec<String> {
        std::fs::read_to_string(self.agent_log(i))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .map(str::to_string)
            .collect()
    }

    /// A clean run logs no warning and no error on any node ("works through the fallback" must
    /// not pass).
    pub fn assert_clean_logs(&self) {
        for i in 1..=self.nodes {
            let bad = self.log_problems(i);
            assert!(bad.is_empty(), "node{i}'s agent (FRR {}) logged:\n{}", node_frr_version(), bad.join("\n"));
        }
    }

    /// Whether node i's file-mode agent answers `/readyz` with success (its first apply is done).
    pub fn agent_ready(&self, i: usize) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.node(i), "curl", "-sf", "-o", "/dev/null", "127.0.0.1:7472/readyz"])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Wait (up to `limit`) until the bgpd and zebra of the router and of every node used less
    /// than 2 % of a core over half a second: FRR has digested what it was given.
    pub fn wait_frr_idle(&self, limit: Duration) -> bool {
        let mut pids = Vec::new();
        for ns in std::iter::once(self.router()).chain((1..=self.nodes).map(|i| self.node(i))) {
            for d in ["bgpd", "zebra"] {
                if let Ok(p) = std::fs::read_to_string(socket_dir(&ns).join(format!("{d}.pid"))) {
                    pids.push(p.trim().to_string());
                }
            }
        }
        let ticks = |pid: &str| -> u64 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
                + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        };
        let total = || pids.iter().map(|p| ticks(p)).sum::<u64>();
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            let before = total();
            std::thread::sleep(Duration::from_millis(500));
            // Clock ticks are 10 ms: at most one tick in half a second is 2 %.
            if total() - before <= 1 {
                return true;
            }
        }
        false
    }

    /// `/metrics` of node i's file-mode agent (it listens on 127.0.0.1:7472 in the node's namespace).
    pub fn metrics(&self, i: usize) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.node(i), "curl", "-s", "127.0.0.1:7472/metrics"])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Send SIGTERM to node i's agent without waiting for it.
    pub fn signal_agent(&self, i: usize) {
        let pid = self.agents[i - 1].as_ref().expect("agent running").id();
        signal_group(pid, nix::sys::signal::Signal::SIGTERM);
    }

    /// Wait up to `limit` for node i's agent to exit: its exit status (None: still running).
    pub fn wait_agent(&mut self, i: usize, limit: Duration) -> Option<std::process::ExitStatus> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Some(c) = self.agents[i - 1].as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.agents[i - 1] = None;
                    return Some(st);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The router's BGP paths for `prefix` (`paths` of `show bgp ... json`).
    pub fn bgp_paths(&self, prefix: &str) -> Vec<serde_json::Value> {
        let afi = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        let v = vtysh_json(&self.router(), &format!("show bgp {afi} unicast {prefix} json"));
        v["paths"].as_array().cloned().unwrap_or_default()
    }

    /// CPU time (user + system, seconds) node i's agent has used so far.
    pub fn agent_cpu_seconds(&self, i: usize) -> f64 {
        let pid = self.agents[i - 1].as_ref().expect("agent running").id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        // Fields after the command name, which is in parentheses: utime is field 14, stime 15.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime");
        // USER_HZ is 100 on every Linux architecture Debian ships.
        ticks / 100.0
    }

    pub fn stop_agent(&mut self, i: usize) {
        if let Some(mut c) = self.agents[i - 1].take() {
            signal_group(c.id(), nix::sys::signal::Signal::SIGTERM);
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            signal_group(c.id(), nix::sys::signal::Signal::SIGKILL);
            let _ = c.wait();
        }
    }

    pub fn agent_pid(&self, i: usize) -> Option<u32> {
        self.agents[i - 1].as_ref().map(|c| c.id())
    }

    pub fn start_agents(&mut self) {
        for i in 1..=self.nodes {
            self.start_agent(i);
        }
    }

    /// Write one manifest file atomically (as a ConfigMap update or `mv` would).
    pub fn put(&self, name: &str, yaml: &str) {
        let tmp = self.manifests.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, yaml).expect("write manifest");
        std::fs::rename(&tmp, self.manifests.join(name)).expect("rename manifest");
    }

    pub fn remove(&self, name: &str) {
        let _ = std::fs::remove_file(self.manifests.join(name));
    }

    /// Next hops of `prefix` in the router's kernel-facing RIB (zebra), sorted.
    pub fn next_hops(&self, prefix: &str) -> Vec<String> {
        let cmd = if prefix.contains(':') {
            format!("show ipv6 route {prefix} json")
        } else {
            format!("show ip route {prefix} json")
        };
        let v = vtysh_json(&self.router(), &cmd);
        let mut hops: Vec<String> = v[prefix]
            .as_array()
            .and_then(|routes| routes.iter().find(|r| r["protocol"] == "bgp" && r["installed"] == true))
            .and_then(|r| r["nexthops"].as_array())
            .map(|nh| {
                nh.iter().filter(|h| h["active"] == true).filter_map(|h| h["ip"].as_str().map(str::to_string)).collect()
            })
            .unwrap_or_default();
        hops.sort();
        hops
    }

    /// The router's BGP path for `prefix` (first path), as JSON.
    pub fn bgp_path(&self, prefix: &str) -> serde_json::Value {
        let afi = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        let v = vtysh_json(&self.router(), &format!("show bgp {afi} unicast {prefix} json"));
        v["paths"][0].clone()
    }

    /// (established count, dropped count, state) of the router's session to `addr`.
    pub fn session(&self, addr: &str) -> (u64, u64, String) {
        let v = vtysh_json(&self.router(), &format!("show bgp neighbors {addr} json"));
        let n = &v[addr];
        (
            n["connectionsEstablished"].as_u64().unwrap_or(0),
            n["connectionsDropped"].as_u64().unwrap_or(0),
            n["bgpState"].as_str().unwrap_or("").to_string(),
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for i in 1..=self.nodes {
            self.stop_agent(i);
        }
        let _ = std::fs::remove_dir_all(&self.manifests);
        // The agents' logs are kept only for a test that failed (to be read).
        if !std::thread::panicking() {
            for i in 1..=self.nodes {
                let _ = std::fs::remove_file(self.agent_log(i));
            }
        }
    }
}

/// The environment the agent's image sets (its `ENV` lines: the allocator's settings), so that lab
/// agents, and the benches' figures, run as the image does.
pub fn image_env() -> Vec<(String, String)> {
    let dockerfile = std::fs::read_to_string(root().join("docker/agent.Dockerfile")).expect("agent.Dockerfile");
    dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .flat_map(|l| l.split_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Send `sig` to the process group an agent leads.
fn signal_group(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// Poll `f` every 20 ms until it holds or `timeout` passes; returns the time it took.
/// `/metrics` of a process on the host's loopback at `port` (an agent or controller started
/// outside the lab's namespaces); empty when nothing answers.
pub fn host_metrics(port: u16) -> String {
    let out = Command::new("curl").args(["-s", &format!("127.0.0.1:{port}/metrics")]).output().expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if f() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// `ip monitor route` in a namespace: route changes as they happen, timestamped on arrival.
pub struct RouteMonitor {
    child: std::process::Child,
    rx: std::sync::mpsc::Receiver<(Instant, String)>,
}

impl RouteMonitor {
    /// `family`: "-4" or "-6".
    pub fn start(ns: &str, family: &str) -> Self {
        use std::io::BufRead;
        let mut child = Command::new("ip")
            .args(["-n", ns, family, "monitor", "route"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("ip monitor");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        std::thread::sleep(Duration::from_millis(200));
        RouteMonitor { child, rx }
    }

    pub fn drain(&self) {
        while self.rx.try_recv().is_ok() {}
    }

    /// Drain the lines so far, adding the deletions among them to `deleted`.
    pub fn drain_counting(&self, deleted: &mut usize) {
        *deleted += std::iter::from_fn(|| self.rx.try_recv().ok()).filter(|(_, l)| l.starts_with("Deleted")).count();
    }

    /// `wait_for` an added route about `needle`, adding the deletions seen meanwhile to `deleted`.
    pub fn wait_counting(&self, needle: &str, timeout: Duration, deleted: &mut usize) -> Option<Instant> {
        let end = Instant::now() + timeout;
        while let Ok((t, line)) = self.rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
            if line.starts_with("Deleted") {
                *deleted += 1;
            } else if line.contains(needle) {
                return Some(t);
            }
        }
        None
    }

    /// When a line about `needle` arrived (a deletion if `deleted`).
    pub fn wait_for(&self, needle: &str, deleted: bool, timeout: Duration) -> Option<Instant> {
        let end = Instant::now() + timeout;
        while let Ok((t, line)) = self.rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
            if line.contains(needle) && line.starts_with("Deleted") == deleted {
                return Some(t);
            }
        }
        None
    }
}

impl Drop for RouteMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RouteMonitor {
    /// Every line received so far (drains the queue).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok((_, l)) = self.rx.try_recv() {
            out.push(l);
        }
        out
    }
}

/// "p50 / p99 / max ms" of sorted samples (ms).
pub fn percentiles(sorted: &[f64]) -> String {
    if sorted.is_empty() {
        return "no samples".into();
    }
    let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    format!("{:.1} / {:.1} / {:.1} ms", pct(0.5), pct(0.99), sorted[sorted.len() - 1])
}
