//! A real kube-apiserver + etcd for tests, built once by e2e/controlplane/build.sh and cached
//! outside the repo. Certificates are made with openssl; authentication is a static token file
//! with an admin (system:masters); authorization is RBAC. Both processes and the data directory
//! go away when the `ControlPlane` is dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ControlPlane {
    pub dir: PathBuf,
    pub url: String,
    pub kubeconfig: PathBuf,
    bin: PathBuf,
    etcd: Option<Child>,
    apiserver: Option<Child>,
    apiserver_args: Vec<String>,
}

/// How often `start` launches etcd + kube-apiserver on new ports before it gives up: a port
/// picked free can be taken (by any process's outgoing connection) before the server binds it.
const ATTEMPTS: u32 = 3;

/// Three distinct free loopback ports (held open together while picked, so never the same one twice).
fn free_ports() -> [u16; 3] {
    let held: Vec<TcpListener> = (0..3).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind")).collect();
    let port = |i: usize| held[i].local_addr().expect("addr").port();
    [port(0), port(1), port(2)]
}

/// The last lines of a log file, for a failure's message.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()));
    let all: Vec<&str> = text.lines().collect();
    format!("--- {} (last {} lines)\n{}", path.display(), lines, all[all.len().saturating_sub(lines)..].join("\n"))
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("runs");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The directory holding `kube-apiserver` and `etcd` (built on first use; cached).
pub fn binaries() -> PathBuf {
    if let Some(d) = std::env::var_os("FRR_SPEAKER_CONTROLPLANE") {
        return PathBuf::from(d);
    }
    let out = Command::new(super::root().join("e2e/controlplane/build.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("build.sh");
    assert!(out.status.success(), "building the control plane failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().last().expect("dir").trim())
}

/// A non-loopback address of this machine for --advertise-address (nothing is sent to it).
fn advertise_address() -> String {
    let out = Command::new("ip").args(["-4", "-o", "addr", "show", "scope", "global"]).output().expect("ip");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next().map(str::to_string))
        .unwrap_or_else(|| "192.0.2.2".into())
}

impl ControlPlane {
    pub fn start(name: &str) -> ControlPlane {
        let bin = binaries();
        let dir = std::env::temp_dir().join(format!("frr-speaker-cp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let d = |f: &str| dir.join(f).display().to_string();
        run(Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=frr-speaker-test-ca",
            "-keyout",
            &d("ca.key"),
            "-out",
            &d("ca.crt"),
        ]));
        run(Command::new("openssl").args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=kube-apiserver",
            "-keyout",
            &d("server.key"),
            "-out",
            &d("server.csr"),
        ]));
        std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("ext");
        run(Command::new("openssl").args([
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &d("server.csr"),
            "-CA",
            &d("ca.crt"),
            "-CAkey",
            &d("ca.key"),
            "-CAcreateserial",
            "-extfile",
            &d("san.ext"),
            "-out",
            &d("server.crt"),
        ]));
        run(Command::new("openssl").args(["genrsa", "-out", &d("sa.key"), "2048"]));
        run(Command::new("openssl").args(["rsa", "-in", &d("sa.key"), "-pubout", "-out", &d("sa.pub")]));
        std::fs::write(
            dir.join("tokens.csv"),
            "admin-token,admin,admin-uid,\"system:masters\"\nspeaker-token,system:serviceaccount:metallb-system:frr-speaker,speaker-uid,\"system:serviceaccounts,system:serviceaccounts:metallb-system\"\ncontroller-token,system:serviceaccount:metallb-system:frr-speaker-controller,controller-uid,\"system:serviceaccounts,system:serviceaccounts:metallb-system\"\n",
        )
        .expect("tokens");

        let kubeconfig = dir.join("admin.kubeconfig");
        let mut cp = ControlPlane {
            dir,
            url: String::new(),
            kubeconfig,
            bin,
            etcd: None,
            apiserver: None,
            apiserver_args: Vec::new(),
        };
        let mut failures = Vec::new();
        for attempt in 1..=ATTEMPTS {
            cp.launch_etcd(attempt);
            match cp.try_start_apiserver() {
                Ok(()) => return cp,
                Err(e) => {
                    eprintln!("control plane {name}, attempt {attempt} of {ATTEMPTS} failed: {e}");
                    failures.push(format!("attempt {attempt}: {e}"));
                    cp.stop_apiserver();
                    cp.stop_etcd();
                }
            }
        }
        panic!("the control plane {name} did not start:\n{}", failures.join("\n"));
    }

    /// etcd on new ports, with its own data directory; sets the apiserver's flags and the URL.
    fn launch_etcd(&mut self, attempt: u32) {
        let [client, peer, secure] = free_ports();
        let d = |f: &str| self.dir.join(f).display().to_string();
        let etcd = Command::new(self.bin.join("etcd"))
            .args(["--data-dir", &d(&format!("etcd-{attempt}")), "--unsafe-no-fsync", "--log-level", "error"])
            .args([
                "--listen-client-urls",
                &format!("http://127.0.0.1:{client}"),
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{client}"),
            ])
            .args([
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
            ])
            .args(["--initial-cluster", &format!("default=http://127.0.0.1:{peer}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("etcd.log")).expect("log"))
            .spawn()
            .expect("etcd starts");
        self.etcd = Some(etcd);
        self.apiserver_args = [
            "--etcd-servers",
            &format!("http://127.0.0.1:{client}"),
            "--secure-port",
            &secure.to_string(),
            "--bind-address",
            "127.0.0.1",
            "--advertise-address",
            &advertise_address(),
            "--tls-cert-file",
            &d("server.crt"),
            "--tls-private-key-file",
            &d("server.key"),
            "--client-ca-file",
            &d("ca.crt"),
            "--service-cluster-ip-range",
            // Dual-stack: Services may ask for both families (tests/system/controller.rs does).
            "198.51.100.0/24,2001:db8:ffff::/112",
            "--service-account-issuer",
            "https://kubernetes.default.svc",
            "--service-account-key-file",
            &d("sa.pub"),
            "--service-account-signing-key-file",
            &d("sa.key"),
            "--token-auth-file",
            &d("tokens.csv"),
            "--authorization-mode",
            "RBAC",
            "--disable-admission-plugins",
            "ServiceAccount",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        self.url = format!("https://127.0.0.1:{secure}");
        std::fs::write(&self.kubeconfig, kubeconfig_yaml(&self.url, &self.dir.join("ca.crt"), "admin-token"))
            .expect("kubeconfig");
    }

    /// Start kube-apiserver (again) with the same flags, and wait until it serves.
    pub fn start_apiserver(&mut self) {
        if let Err(e) = self.try_start_apiserver() {
            panic!("{e}");
        }
    }

    fn try_start_apiserver(&mut self) -> Result<(), String> {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("apiserver.log")).expect("log");
        let child = Command::new(self.bin.join("kube-apiserver"))
            .args(&self.apiserver_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kube-apiserver starts");
        self.apiserver = Some(child);
        self.wait_ready()
    }

    /// Stop kube-apiserver (etcd keeps the data).
    pub fn stop_apiserver(&mut self) {
        if let Some(mut c) = self.apiserver.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn stop_etcd(&mut self) {
        if let Some(mut c) = self.etcd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Until kube-apiserver answers (Ok), or it or etcd exits, or 120 s pass (Err with both logs' ends).
    fn wait_ready(&mut self) -> Result<(), String> {
        let logs =
            |dir: &Path| format!("{}\n{}", tail(&dir.join("apiserver.log"), 20), tail(&dir.join("etcd.log"), 10));
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(120) {
            let ok = Command::new("curl")
                .args([
                    "-sf",
                    "--max-time",
                    "5",
                    "--cacert",
                    &self.dir.join("ca.crt").display().to_string(),
                    "-H",
                    "Authorization: Bearer admin-token",
                ])
                .arg(format!("{}/api/v1/namespaces/default", self.url))
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            for (what, child) in [("kube-apiserver", &mut self.apiserver), ("etcd", &mut self.etcd)] {
                if let Some(Ok(Some(status))) = child.as_mut().map(|c| c.try_wait()) {
                    return Err(format!("{what} exited ({status}) before kube-apiserver served\n{}", logs(&self.dir)));
                }
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        Err(format!("kube-apiserver not ready after 120 s at {}\n{}", self.url, logs(&self.dir)))
    }

    /// A kubeconfig for `token` (admin-token or speaker-token).
    pub fn kubeconfig_for(&self, token: &str) -> PathBuf {
        let p = self.dir.join(format!("{token}.kubeconfig"));
        std::fs::write(&p, kubeconfig_yaml(&self.url, &self.dir.join("ca.crt"), token)).expect("kubeconfig");
        p
    }

    pub async fn client(&self, token: &str) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(self.kubeconfig_for(token)).expect("kubeconfig");
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
        kube::Client::try_from(cfg).expect("client")
    }
}

/// A kubeconfig for the server at `url`: its CA when it speaks TLS, a bearer token when the
/// client has one (without: no credentials of its own).
pub fn kubeconfig_yaml_with(url: &str, ca: Option<&Path>, token: Option<&str>) -> String {
    let ca = ca.map(|c| format!("\n    certificate-authority: {}", c.display())).unwrap_or_default();
    let user = token.map(|t| format!("\n    token: {t}")).unwrap_or_else(|| " {}".into());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}{ca}\nusers:\n- name: u\n  user:{user}\ncontexts:\n- name: test\n  context: {{cluster: test, user: u}}\ncurrent-context: test\n"
    )
}

fn kubeconfig_yaml(url: &str, ca: &Path, token: &str) -> String {
    kubeconfig_yaml_with(url, Some(ca), Some(token))
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop_apiserver();
        self.stop_etcd();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Create every CRD of deploy/crds.yaml and wait until each is Established; returns their names.
pub async fn install_crds(client: &kube::Client) -> Vec<String> {
    install_crds_from(client, "deploy/crds.yaml").await
}

/// `install_crds` of another file of CRDs (deploy/frrk8s/crds.yaml).
pub async fn install_crds_from(client: &kube::Client, file: &str) -> Vec<String> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, PostParams};
    use serde::Deserialize;
    let text = std::fs::read_to_string(super::root().join(file)).expect(file);
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let crd = CustomResourceDefinition::deserialize(doc).expect("a CRD");
        names.push(crd.metadata.name.clone().expect("name"));
        api.create(&PostParams::default(), &crd).await.unwrap_or_else(|e| panic!("{:?}: {e}", crd.metadata.name));
    }
    for name in &names {
        let mut established = false;
        for _ in 0..100 {
            let c = api.get(name).await.expect("get crd");
            established = c
                .status
                .and_then(|s| s.conditions)
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"));
            if established {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(established, "{name} never became Established");
    }
    names
}

/// Create every object of a deploy/ file through its typed API (`dry_run`: server-side only).
pub async fn apply_file(client: &kube::Client, file: &str, dry_run: bool) {
    apply_file_in(client, file, dry_run, None).await
}

/// `apply_file`, with its Roles and RoleBindings in `roles_in` when given (as an operator moves
/// them to another namespace).
pub async fn apply_file_in(client: &kube::Client, file: &str, dry_run: bool, roles_in: Option<&str>) {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    use kube::api::{Api, PostParams};
    use serde::Deserialize;
    let text = std::fs::read_to_string(super::root().join(file)).expect("deploy file");
    let pp = PostParams { dry_run, ..Default::default() };
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let mut v = serde_json::Value::deserialize(doc).expect("yaml");
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        if let (Some(to), "Role" | "RoleBinding") = (roles_in, kind.as_str()) {
            v["metadata"]["namespace"] = serde_json::json!(to);
        }
        let ns = v["metadata"]["namespace"].as_str().unwrap_or("default").to_string();
        let c = client.clone();
        let res = match kind.as_str() {
            "Namespace" => Api::<Namespace>::all(c).create(&pp, &obj(v)).await.map(|_| ()),
            "ServiceAccount" => Api::<ServiceAccount>::namespaced(c, &ns).create(&pp, &obj(v)).await.map(|_| ()),
            "ClusterRole" => Api::<ClusterRole>::all(c).create(&pp, &obj(v)).await.map(|_| ()),
            "ClusterRoleBinding" => Api::<ClusterRoleBinding>::all(c).create(&pp, &obj(v)).await.map(|_| ()),
            "Role" => Api::<Role>::namespaced(c, &ns).create(&pp, &obj(v)).await.map(|_| ()),
            "RoleBinding" => Api::<RoleBinding>::namespaced(c, &ns).create(&pp, &obj(v)).await.map(|_| ()),
            "DaemonSet" => Api::<DaemonSet>::namespaced(c, &ns).create(&pp, &obj(v)).await.map(|_| ()),
            "Deployment" => Api::<Deployment>::namespaced(c, &ns).create(&pp, &obj(v)).await.map(|_| ()),
            other => panic!("{file}: unexpected kind {other}"),
        };
        res.unwrap_or_else(|e| panic!("{file}: {kind}: {e}"));
    }
}

/// The status of a ConfigurationState (read as a dynamic object: MetalLB's CRD of the kind has no
/// `spec`, which the typed struct requires).
pub async fn configuration_state(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Option<frr_speaker::model::crds::ConfigurationStateStatus> {
    use kube::api::{Api, DynamicObject};
    use kube::core::ApiResource;
    let ar = ApiResource::erase::<frr_speaker::model::crds::ConfigurationState>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let o = api.get_opt(name).await.expect("get ConfigurationState")?;
    serde_json::from_value(o.data.get("status")?.clone()).ok()
}

/// A typed object from JSON.
pub fn obj<K: serde::de::DeserializeOwned>(v: serde_json::Value) -> K {
    serde_json::from_value(v).expect("object")
}

/// Poll an async condition every 50 ms until it holds (Some(time taken)) or `limit` passes.
pub async fn eventually<F, Fut>(limit: std::time::Duration, mut f: F) -> Option<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = std::time::Instant::now();
    while t0.elapsed() < limit {
        if f().await {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}

/// A BGPPeer from node AS 64512 to the lab router (AS 64500) at `addr`, with the lab's short timers.
pub fn lab_peer(addr: &str) -> frr_speaker::model::crds::BgpPeerSpec {
    frr_speaker::model::crds::BgpPeerSpec {
        my_asn: 64512,
        peer_asn: Some(64500),
        peer_address: Some(addr.into()),
        hold_time: Some("9s".into()),
        keepalive_time: Some("3s".into()),
        connect_time: Some("2s".into()),
        ..Default::default()
    }
}
