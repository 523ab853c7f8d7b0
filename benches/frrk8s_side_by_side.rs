//! Bench (not a test): frr-speaker against frr-k8s v0.0.25's own daemon with its reloader, side
//! by side in one run, on the same FRRConfigurations and the same lab (FRR on the node and the
//! router in network namespaces, one node, the test control plane). frr-k8s's daemon is built
//! from its Go module (`e2e/peers/build.sh frrk8s`, cached); its reloader is frr-k8s's own
//! `frr-reloader.sh` with Debian's `frr-reload.py`, run in a mount namespace where /var/run/frr and
//! /etc/frr are the node's (in a pod they are the FRR container's).
//!
//! For each size (`BENCH_FRRK8S_SIZES`, default `100,1000,10000` prefixes), each implementation:
//! - cold start: the FRRConfiguration with all prefixes exists, the process starts, until the
//!   router has every prefix;
//! - one change: one prefix added to the object, until the route is in the router's kernel
//!   (median of `BENCH_FRRK8S_CHANGES`, default 3);
//! - during those changes: sessions reset (the router's count of dropped connections) and routes
//!   withdrawn at the router (its kernel's deletions);
//! - peak RSS (VmHWM) of the agent, or of frr-k8s's daemon (its reloader's python not counted).
//!
//! A step that has not happened after `BENCH_FRRK8S_LIMIT` seconds (default 180) is reported as
//! such, and that implementation's remaining steps at that size are skipped.
//! `BENCH_FRRK8S_ONLY=speaker` (or `frrk8s`) runs one side only.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use common::controlplane::{install_crds_from, obj, ControlPlane};
use common::{Lab, RouteMonitor, RouterOpts};

const NS: &str = "frr-k8s-system";
const METRICS_PORT: u16 = 17496;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn sizes() -> Vec<usize> {
    std::env::var("BENCH_FRRK8S_SIZES")
        .unwrap_or_else(|_| "100,1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn limit() -> Duration {
    Duration::from_secs(env_or("BENCH_FRRK8S_LIMIT", 180))
}

/// The directory with frr-k8s's daemon, its reloader script and its CRDs (built on first use).
fn frrk8s() -> PathBuf {
    common::peer_binaries("frrk8s", "FRR_SPEAKER_FRRK8S")
}

/// Prefix i: 198.18.0.0/15 host routes (10,000 fit many times over).
fn prefix(i: usize) -> String {
    format!("198.18.{}.{}/32", i / 256, i % 256)
}

/// The FRRConfiguration: router AS 64512 with `prefixes`, advertised to the router (all of them).
fn config(prefixes: &[String]) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "frrk8s.metallb.io/v1beta1",
        "kind": "FRRConfiguration",
        "metadata": {"name": "bench", "namespace": NS},
        "spec": {"bgp": {"routers": [{
            "asn": 64512,
            "prefixes": prefixes,
            "neighbors": [{"asn": 64500, "address": "192.0.2.1", "holdTime": "9s", "keepaliveTime": "3s",
                "toAdvertise": {"allowed": {"mode": "all"}}}]
        }]}}
    })
}

fn api(client: &kube::Client) -> Api<kube::api::DynamicObject> {
    let ar = kube::core::ApiResource::erase::<frr_speaker::model::frrk8s::FrrConfiguration>(&());
    Api::namespaced_with(client.clone(), NS, &ar)
}

/// IPv4 prefixes in the router's BGP table.
fn router_prefixes(lab: &Lab) -> usize {
    let v = common::vtysh_json(&lab.router(), "show bgp ipv4 unicast statistics json");
    v["ipv4Unicast"][0]["totalPrefixes"].as_u64().unwrap_or(0) as usize
}

#[derive(Clone, Copy, PartialEq)]
enum Impl {
    Speaker,
    FrrK8s,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Speaker => "frr-speaker",
            Impl::FrrK8s => "frr-k8s v0.0.25",
        }
    }
}

/// frr-k8s's daemon and reloader for node1 of `lab`; stopped on drop.
struct FrrK8s {
    daemon: Child,
    reloader: Child,
    shared: PathBuf,
}

impl FrrK8s {
    fn start(dir: &Path, lab: &Lab, kubeconfig: &Path) -> FrrK8s {
        let shared = std::env::temp_dir().join(format!("frr-speaker-bench-frrk8s-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&shared);
        std::fs::create_dir_all(&shared).expect("shared dir");
        let node = lab.node(1);
        let log = |name: &str| std::fs::File::create(shared.join(name)).expect("log");
        // The reloader as in frr-k8s's pod: vtysh and frr-reload.py see the node's FRR.
        let script = format!(
            "mount --make-rprivate / && mount --bind /var/run/frr/{node} /var/run/frr && mount --bind /etc/frr/{node} /etc/frr && exec bash {}",
            dir.join("frr-reloader.sh").display()
        );
        let reloader = Command::new("unshare")
            .args(["-m", "bash", "-c", &script])
            .env("SHARED_VOLUME", &shared)
            .stdin(Stdio::null())
            .stdout(log("reloader.log"))
            .stderr(log("reloader.err"))
            .spawn()
            .expect("reloader");
        let pid_file = shared.join("reloader.pid");
        assert!(common::wait_for(Duration::from_secs(10), || pid_file.exists()).is_some(), "reloader pid file");
        let daemon = Command::new(dir.join("frr-k8s-controller"))
            .args(["--node-name", "node1", "--namespace", NS, "--metrics-bind-address", "0"])
            .args(["--health-probe-bind-address", "127.0.0.1:0"])
            .env("KUBECONFIG", kubeconfig)
            .env("FRR_CONFIG_FILE", shared.join("frr.conf"))
            .env("FRR_RELOADER_PID_FILE", &pid_file)
            .stdin(Stdio::null())
            .stdout(log("daemon.log"))
            .stderr(log("daemon.err"))
            .spawn()
            .expect("frr-k8s daemon");
        FrrK8s { daemon, reloader, shared }
    }
}

impl Drop for FrrK8s {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // The reloader's bash and its children (a `sleep infinity`, maybe a frr-reload.py).
        let _ = Command::new("pkill").args(["-KILL", "-P", &self.reloader.id().to_string()]).status();
        let _ = self.reloader.kill();
        let _ = self.reloader.wait();
        let _ = std::fs::remove_dir_all(&self.shared);
        let _ = std::fs::remove_file("/tmp/current.conf"); // the reloader's scratch file
    }
}

/// One implementation's figures at one size.
#[derive(Default)]
struct Figures {
    /// When the router saw the session Established (part of the cold start that is FRR's).
    session: Option<Duration>,
    cold: Option<Duration>,
    changes: Vec<Duration>,
    /// A change that did not reach the router within the limit.
    change_missing: bool,
    resets: u64,
    withdrawn: usize,
    rss_mib: u64,
}

async fn run(which: Impl, n: usize, cp: &ControlPlane, client: &kube::Client, frrk8s_dir: &Path) -> Figures {
    let prefixes: Vec<String> = (0..n).map(prefix).collect();
    let objects = api(client);
    let _ = objects.delete("bench", &DeleteParams::default()).await;
    objects.create(&PostParams::default(), &obj(config(&prefixes))).await.expect("FRRConfiguration");
    let tag = if which == Impl::Speaker { "fsb1" } else { "fsb2" };
    let mut lab = tokio::task::spawn_blocking(move || Lab::new(tag, 1, &RouterOpts::default())).await.expect("lab");
    let admin = cp.kubeconfig_for("admin-token");
    let mut figures = Figures::default();
    let t0 = Instant::now();
    let mut frrk8s = None;
    let pid = match which {
        Impl::Speaker => {
            lab.agent_args = ["--frrk8s-namespace", NS].into_iter().map(String::from).collect();
            lab.start_agent_kube(1, &admin, METRICS_PORT);
            lab.agent_pid(1).expect("agent")
        }
        Impl::FrrK8s => {
            let f = FrrK8s::start(frrk8s_dir, &lab, &admin);
            let pid = f.daemon.id();
            frrk8s = Some(f);
            pid
        }
    };
    let lab = std::sync::Arc::new(lab);
    let l = lab.clone();
    let cold = tokio::task::spawn_blocking(move || {
        let mut session = None;
        let all = common::wait_for(limit(), || {
            if session.is_none() && l.session("192.0.2.11").2 == "Established" {
                session = Some(t0.elapsed());
            }
            router_prefixes(&l) >= n
        });
        (session, all)
    })
    .await
    .expect("join");
    figures.session = cold.0;
    figures.cold = cold.1.map(|_| t0.elapsed());
    if figures.cold.is_some() {
        let monitor = RouteMonitor::start(&lab.router(), "-4");
        let before = lab.session("192.0.2.11");
        let mut now = prefixes.clone();
        let mut withdrawn = 0;
        for k in 0..env_or("BENCH_FRRK8S_CHANGES", 3usize) {
            let added = format!("198.19.0.{}/32", k + 1);
            now.push(added.clone());
            monitor.drain_counting(&mut withdrawn);
            let t = Instant::now();
            let spec = config(&now)["spec"].clone();
            objects
                .patch("bench", &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": spec})))
                .await
                .expect("patch");
            let needle = added.trim_end_matches("/32").to_string();
            let seen = monitor.wait_counting(&needle, limit(), &mut withdrawn);
            match seen {
                Some(at) => figures.changes.push(at.saturating_duration_since(t)),
                None => {
                    figures.change_missing = true;
                    break;
                }
            }
            // Let what follows a change (a reload's second pass) happen before the next one.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let after = lab.session("192.0.2.11");
        figures.resets = after.1.saturating_sub(before.1);
        monitor.drain_counting(&mut withdrawn);
        figures.withdrawn = withdrawn;
    }
    figures.rss_mib = common::proc_status_kib(pid, "VmHWM:") / 1024;
    drop(frrk8s);
    let _ = objects.delete("bench", &DeleteParams::default()).await;
    drop(lab);
    figures
}

fn show(d: Option<Duration>) -> String {
    d.map_or_else(|| format!("none after {} s", limit().as_secs()), |d| format!("{:.2} s", d.as_secs_f64()))
}

fn median(v: &[Duration]) -> Option<Duration> {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let frrk8s_dir = tokio::task::spawn_blocking(frrk8s).await.expect("build");
        let cp = tokio::task::spawn_blocking(|| ControlPlane::start("kbf")).await.expect("control plane");
        let client = cp.client("admin-token").await;
        // frr-k8s's own CRDs, as published in its module: both implementations read them.
        for f in std::fs::read_dir(frrk8s_dir.join("crds")).expect("frr-k8s's crds/").flatten() {
            install_crds_from(&client, &f.path().display().to_string()).await;
        }
        let ns: Namespace = obj(serde_json::json!({"metadata": {"name": NS}}));
        Api::all(client.clone()).create(&PostParams::default(), &ns).await.expect("namespace");
        let mns: Namespace = obj(serde_json::json!({"metadata": {"name": "metallb-system"}}));
        Api::all(client.clone()).create(&PostParams::default(), &mns).await.expect("namespace");
        let node: Node =
            obj(serde_json::json!({"metadata": {"name": "node1", "labels": {"kubernetes.io/hostname": "node1"}}}));
        Api::<Node>::all(client.clone()).create(&PostParams::default(), &node).await.expect("node");

        let mut rows = Vec::new();
        for n in sizes() {
            let only = std::env::var("BENCH_FRRK8S_ONLY").unwrap_or_default();
            for which in [Impl::FrrK8s, Impl::Speaker] {
                if !only.is_empty() && (only == "speaker") != (which == Impl::Speaker) {
                    continue;
                }
                eprintln!("== {} at {n} prefixes", which.name());
                let f = run(which, n, &cp, &client, &frrk8s_dir).await;
                rows.push((n, which, f));
            }
        }
        println!("\nfrr-k8s v0.0.25's daemon + reloader vs frr-speaker, one node, FRR {}", common::node_frr_version());
        println!(
            "| prefixes | implementation | cold start → all at the router (session up at) | one change → router kernel (median) | sessions reset | routes withdrawn | peak RSS |"
        );
        println!("|---:|---|---:|---:|---:|---:|---:|");
        for (n, which, f) in &rows {
            let change = match (median(&f.changes), f.change_missing, f.cold) {
                (_, _, None) => "(no cold start)".to_string(),
                (_, true, _) => show(None),
                (m, false, _) => show(m),
            };
            println!(
                "| {n} | {} | {} ({}) | {change} | {} | {} | {} MiB |",
                which.name(),
                show(f.cold),
                show(f.session),
                f.resets,
                f.withdrawn,
                f.rss_mib
            );
        }
        println!("\n| prefixes | cold start: frr-k8s / frr-speaker | one change: frr-k8s / frr-speaker |");
        println!("|---:|---:|---:|");
        for n in sizes() {
            let of = |w: Impl| rows.iter().find(|(m, i, _)| *m == n && *i == w).map(|(_, _, f)| f);
            let (Some(k), Some(s)) = (of(Impl::FrrK8s), of(Impl::Speaker)) else { continue };
            let ratio = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
                (Some(a), Some(b)) => format!("{:.0}×", a.as_secs_f64() / b.as_secs_f64().max(1e-3)),
                (None, Some(b)) => format!("> {:.0}×", limit().as_secs_f64() / b.as_secs_f64().max(1e-3)),
                _ => "-".into(),
            };
            let kc = if k.change_missing { None } else { median(&k.changes) };
            println!("| {n} | {} | {} |", ratio(k.cold, s.cold), ratio(kc, median(&s.changes)));
        }
    });
}
