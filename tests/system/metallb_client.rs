//! Use (c) of frr-k8s mode with the real client: MetalLB's own controller and speaker (v0.16.1,
//! built from their published Go module by e2e/peers/build.sh and cached like the control plane)
//! run in frr-k8s mode against the test apiserver, with MetalLB's own CRDs. MetalLB's controller
//! gives the Service its address, MetalLB's speaker writes `metallb-node1`, and frr-speaker, in
//! the frr-k8s daemon's place, applies it: the router gets the address with the advertisement's
//! community. Then an operator's FRRConfiguration adds `toReceive` for the same router, and the
//! node's kernel gets the router's prefix.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};

use common::controlplane::{apply_file, apply_file_in, obj};
use common::{wait_for, Lab, RouterOpts};
use frr_speaker::model::frrk8s::FrrConfiguration;

const T: Duration = Duration::from_secs(60);
/// MetalLB's namespace, where its speaker writes the FRRConfigurations (its frr-k8s namespace).
const METALLB_NS: &str = "metallb-system";
/// frr-speaker's own namespace: no metallb.io objects of its own there, so all it announces comes
/// from MetalLB's object (and its metallb.io status kinds do not meet MetalLB's).
const AGENT_NS: &str = "frr-speaker-system";

/// The directory holding MetalLB's `controller`, `speaker` and `crds/` (built on first use).
fn metallb() -> PathBuf {
    common::peer_binaries("metallb", "FRR_SPEAKER_METALLB")
}

/// A MetalLB process, stopped (and its log removed, unless the test fails) when dropped.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    /// `bin` with `args`, in network namespace `netns` when given.
    fn start(
        bin: &Path,
        netns: Option<&str>,
        args: &[&str],
        env: &[(&str, &str)],
        kubeconfig: &Path,
        log: PathBuf,
    ) -> Process {
        let out = std::fs::File::create(&log).expect("log");
        let mut cmd = match netns {
            // `ip netns exec` execs the program: the child is the program itself.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let child = cmd
            .args(args)
            .envs(env.iter().copied())
            .env("KUBECONFIG", kubeconfig)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        Process { child, log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A network namespace of the test's for MetalLB's speaker: its L2 announcer opens ARP and NDP
/// responders on every interface it sees, and those are to be the namespace's, not the host's.
/// A veth pair links it to the host (198.18.0.1/30 here, 198.18.0.2/30 there); the speaker
/// reaches the apiserver through `forward_apiserver`.
struct Netns {
    name: String,
    host_if: String,
}

impl Netns {
    fn new(prefix: &str) -> Netns {
        let n = Netns { name: format!("{prefix}-metallb"), host_if: format!("{prefix}-mlh") };
        n.remove();
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip");
            assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        };
        ip(&["netns", "add", &n.name]);
        ip(&["link", "add", &n.host_if, "type", "veth", "peer", "name", "ml0", "netns", &n.name]);
        ip(&["addr", "add", "198.18.0.1/30", "dev", &n.host_if]);
        ip(&["link", "set", &n.host_if, "up"]);
        ip(&["-n", &n.name, "addr", "add", "198.18.0.2/30", "dev", "ml0"]);
        ip(&["-n", &n.name, "link", "set", "ml0", "up"]);
        ip(&["-n", &n.name, "link", "set", "lo", "up"]);
        n
    }

    fn remove(&self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_if]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Forward 198.18.0.1:<port> on the host to the apiserver (which listens on loopback only);
/// the port, and the task to abort at the end.
async fn forward_apiserver(url: &str) -> (u16, tokio::task::JoinHandle<()>) {
    let target = url.trim_start_matches("https://").to_string();
    let listener = tokio::net::TcpListener::bind("198.18.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((mut a, _)) = listener.accept().await {
            let t = target.clone();
            tokio::spawn(async move {
                if let Ok(mut b) = tokio::net::TcpStream::connect(&t).await {
                    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                }
            });
        }
    });
    (port, task)
}

/// A free loopback port for a health probe.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Every CRD of MetalLB's module, as MetalLB publishes them.
async fn install_metallb_crds(client: &kube::Client, dir: &Path) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("crds"))
        .expect("MetalLB's crds/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no CRD in {}", dir.display());
    for f in files {
        common::controlplane::install_crds_from(client, &f.display().to_string()).await;
    }
}

const METALLB_OBJECTS: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: public, namespace: metallb-system}
spec: {addresses: [203.0.113.64/28]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.1, holdTime: 9s, keepaliveTime: 3s}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: public, namespace: metallb-system}
spec: {ipAddressPools: [public], communities: ['64500:60']}
";

/// The operator's object: receive the router's /24 from MetalLB's router (the frr-k8s README's
/// recipe for MetalLB).
const RECEIVE: &str = "apiVersion: frrk8s.metallb.io/v1beta1
kind: FRRConfiguration
metadata: {name: receive-from-router, namespace: metallb-system}
spec:
  nodeSelector: {matchLabels: {kubernetes.io/hostname: node1}}
  bgp:
    routers:
    - asn: 64512
      neighbors:
      - asn: 64500
        address: 192.0.2.1
        holdTime: 9s
        keepaliveTime: 3s
        toReceive: {allowed: {prefixes: [{prefix: 198.51.100.0/24}]}}
";

/// Create every document of `yaml` (metallb.io kinds and FRRConfigurations) as the admin.
async fn create_all(client: &kube::Client, yaml: &str) {
    use kube::api::DynamicObject;
    use kube::core::{ApiResource, GroupVersionKind};
    use serde::Deserialize;
    for doc in serde_yaml_ng::Deserializer::from_str(yaml) {
        let v = serde_json::Value::deserialize(doc).expect("yaml");
        let (group, version) = v["apiVersion"].as_str().expect("apiVersion").split_once('/').expect("group");
        let kind = v["kind"].as_str().expect("kind");
        let plural = format!("{}s", kind.to_lowercase());
        let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural);
        let ns = v["metadata"]["namespace"].as_str().expect("namespace").to_string();
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
        api.create(&PostParams::default(), &obj(v.clone())).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metallbs_own_speaker_in_frrk8s_mode_drives_the_agent() {
    let ml = tokio::task::spawn_blocking(metallb).await.expect("build");
    let cp = tokio::task::spawn_blocking(|| common::controlplane::ControlPlane::start("kml")).await.expect("start");
    let client = cp.client("admin-token").await;
    install_metallb_crds(&client, &ml).await;
    common::controlplane::install_crds_from(&client, "deploy/frrk8s/crds.yaml").await;
    apply_file(&client, "deploy/namespace.yaml", false).await;
    let agent_ns: Namespace = obj(serde_json::json!({"metadata": {"name": AGENT_NS}}));
    Api::all(client.clone()).create(&PostParams::default(), &agent_ns).await.expect("namespace");
    // The agent's RBAC as deploy/ writes it, its Roles where this placement needs them: the
    // base Role in its own namespace, the frr-k8s component's in MetalLB's.
    apply_file_in(&client, "deploy/rbac.yaml", false, Some(AGENT_NS)).await;
    apply_file_in(&client, "deploy/frrk8s/rbac.yaml", false, Some(METALLB_NS)).await;
    let node: Node =
        obj(serde_json::json!({"metadata": {"name": "node1", "labels": {"kubernetes.io/hostname": "node1"}}}));
    Api::<Node>::all(client.clone()).create(&PostParams::default(), &node).await.expect("node");

    // MetalLB, as its manifests run it in frr-k8s mode (no webhooks: no webhook service here).
    // Each reads its own Pod at start (for owner references): the Pods exist, nothing runs them.
    for (name, node) in [("controller", None), ("speaker-node1", Some("node1"))] {
        let pod: k8s_openapi::api::core::v1::Pod = obj(serde_json::json!({
            "metadata": {"name": name, "namespace": METALLB_NS},
            "spec": {"nodeName": node, "containers": [{"name": "main", "image": "metallb.invalid/none"}]}
        }));
        Api::namespaced(client.clone(), METALLB_NS).create(&PostParams::default(), &pod).await.expect("pod");
    }
    let admin = cp.kubeconfig_for("admin-token");
    let netns = Netns::new("fsml");
    let (fport, forwarder) = forward_apiserver(&cp.url).await;
    let speaker_kubeconfig = cp.dir.join("metallb-speaker.kubeconfig");
    std::fs::write(
        &speaker_kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://198.18.0.1:{fport}\n    certificate-authority: {}\n    tls-server-name: 127.0.0.1\nusers:\n- name: u\n  user:\n    token: admin-token\ncontexts:\n- name: test\n  context: {{cluster: test, user: u}}\ncurrent-context: test\n",
            cp.dir.join("ca.crt").display()
        ),
    )
    .expect("kubeconfig");
    let dir = std::env::temp_dir();
    let (cport, sport) = (free_port().to_string(), free_port().to_string());
    let controller = Process::start(
        &ml.join("controller"),
        None,
        &["--port=0", "--webhook-mode=disabled", "--disable-cert-rotation", "--health-probe-port", &cport],
        &[("METALLB_NAMESPACE", METALLB_NS), ("METALLB_POD_NAME", "controller")],
        &admin,
        dir.join("frr-speaker-kml-metallb-controller.log"),
    );
    let speaker = Process::start(
        &ml.join("speaker"),
        Some(&netns.name),
        &["--port=0", "--health-probe-port", &sport, "--frrk8s-namespace", METALLB_NS],
        &[
            ("METALLB_NAMESPACE", METALLB_NS),
            ("METALLB_NODE_NAME", "node1"),
            ("METALLB_POD_NAME", "speaker-node1"),
            ("METALLB_BGP_TYPE", "frr-k8s"),
        ],
        &speaker_kubeconfig,
        dir.join("frr-speaker-kml-metallb-speaker.log"),
    );
    let logs = || format!("--- controller\n{}\n--- speaker\n{}", controller.log_text(), speaker.log_text());

    let router = RouterOpts { advertise: vec!["198.51.100.0/24"], ..RouterOpts::default() };
    let mut lab = tokio::task::spawn_blocking(move || Lab::new("fsm1", 1, &router)).await.expect("lab");
    lab.agent_args =
        ["--namespace", AGENT_NS, "--frrk8s-namespace", METALLB_NS].into_iter().map(String::from).collect();
    lab.start_agent_kube(1, &cp.kubeconfig_for("speaker-token"), 17491);
    let lab = std::sync::Arc::new(lab);

    create_all(&client, METALLB_OBJECTS).await;
    // A Service without an address: MetalLB's controller gives it one of the pool.
    let svc: Service = obj(serde_json::json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]}
    }));
    Api::<Service>::namespaced(client.clone(), "default").create(&PostParams::default(), &svc).await.expect("svc");
    let slice: EndpointSlice = obj(serde_json::json!({
        "metadata": {"name": "web-a", "namespace": "default", "labels": {
            "kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "frr-speaker-tests"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["198.51.100.10"], "nodeName": "node1",
            "conditions": {"ready": true, "serving": true, "terminating": false}}],
        "ports": [{"port": 80, "protocol": "TCP"}]
    }));
    Api::<EndpointSlice>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &slice)
        .await
        .expect("slice");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let mut ip = None;
    for _ in 0..(T.as_secs() * 2) {
        let s = services.get("web").await.expect("get");
        ip = s.status.and_then(|s| s.load_balancer?.ingress?.first()?.ip.clone());
        if ip.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ip = ip.unwrap_or_else(|| panic!("MetalLB's controller gave the Service no address\n{}", logs()));
    let prefix = format!("{ip}/32");

    // MetalLB's speaker writes the node's FRRConfiguration; frr-speaker applies it.
    let configs: Api<FrrConfiguration> = Api::namespaced(client.clone(), METALLB_NS);
    let mut written = None;
    for _ in 0..(T.as_secs() * 2) {
        written = configs.get_opt("metallb-node1").await.expect("get");
        if written.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let written = written.unwrap_or_else(|| panic!("MetalLB's speaker wrote no metallb-node1\n{}", logs()));
    println!("MetalLB v0.16's object: {}", serde_json::to_string(&written.spec).unwrap_or_default());
    let l = lab.clone();
    let p = prefix.clone();
    let announced =
        tokio::task::spawn_blocking(move || wait_for(T, || l.next_hops(&p) == ["192.0.2.11"])).await.expect("join");
    assert!(announced.is_some(), "the router never got {prefix}\n{}\n{}", lab.agent_log_text(1), logs());
    let communities = lab.bgp_path(&prefix)["community"]["string"].as_str().unwrap_or("").to_string();
    assert_eq!(communities, "64500:60", "the BGPAdvertisement's community, through MetalLB's object");
    assert!(lab.kernel_bgp_routes(1).is_empty(), "nothing received before the operator asks");
    let session = lab.session("192.0.2.11");

    // The operator's FRRConfiguration: receive the router's prefix from the same neighbor.
    create_all(&client, RECEIVE).await;
    let l = lab.clone();
    let received = tokio::task::spawn_blocking(move || wait_for(T, || l.kernel_bgp_routes(1) == ["198.51.100.0/24"]))
        .await
        .expect("join");
    assert!(received.is_some(), "node kernel has {:?}\n{}", lab.kernel_bgp_routes(1), lab.agent_log_text(1));
    assert_eq!(lab.next_hops(&prefix), ["192.0.2.11"], "MetalLB's address stays");
    let after = lab.session("192.0.2.11");
    assert_eq!((after.0, after.1, after.2.as_str()), (session.0, session.1, "Established"), "the session was reset");

    // The Service goes: MetalLB's speaker takes the address out of its object; the router loses it.
    services.delete("web", &DeleteParams::default()).await.expect("delete");
    let l = lab.clone();
    let gone =
        tokio::task::spawn_blocking(move || wait_for(T, || l.next_hops(&prefix).is_empty())).await.expect("join");
    assert!(gone.is_some(), "withdrawn after the Service went\n{}", logs());
    assert_eq!(lab.kernel_bgp_routes(1), ["198.51.100.0/24"], "the operator's toReceive stays");
    assert!(!lab.agent_log_text(1).to_lowercase().contains("forbidden"), "the RBAC of deploy/ refused something");
    lab.assert_clean_logs();
    drop((speaker, controller));
    forwarder.abort();
    drop(netns);
}
