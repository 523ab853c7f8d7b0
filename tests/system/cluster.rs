//! The speaker pod for real: `make images` built the images (buildah, Debian bases), a two-node
//! cluster of real parts runs in the namespace lab (e2e/cluster/cluster.sh: etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler, and per node a containerd and a kubelet), and the
//! operator's commands run as an operator types them: `kubectl apply -k`, `kubectl exec -c frr --
//! vtysh`, `kubectl logs`, `kubectl get`. The router is the lab's FRR.
//!
//! Which FRR image the pods run follows the FRR version matrix: Debian trixie's FRR 10 when
//! FRR_SPEAKER_FRR_ROOT is set (make test's second pass), else Debian bookworm's FRR 8.4.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{root, vtysh_json, wait_for};

const T: Duration = Duration::from_secs(120);

struct Cluster {
    prefix: String,
}

impl Cluster {
    fn up(prefix: &str, frr_tag: &str) -> Cluster {
        let c = Cluster { prefix: prefix.to_string() };
        let ok = Command::new(root().join("e2e/cluster/cluster.sh"))
            .args(["up", prefix, frr_tag])
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .status()
            .expect("cluster.sh runs")
            .success();
        assert!(ok, "the cluster did not come up (logs in /tmp/frr-speaker-cluster-{prefix})");
        c
    }

    /// kubectl ARGS as the cluster admin: (success, stdout, stderr).
    fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(root().join("e2e/cluster/cluster.sh"))
            .args(["kubectl", &self.prefix, "--"])
            .args(args)
            .current_dir(root())
            .output()
            .expect("kubectl runs");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    /// kubectl ARGS that must succeed: its stdout.
    fn k(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args);
        assert!(ok, "kubectl {}: {err}{out}", args.join(" "));
        out
    }

    /// What a failed rollout needs to be understood: the pods, the nodes' conditions, the events.
    fn diagnose(&self) -> String {
        let run = |args: &[&str]| {
            let (_, out, err) = self.kubectl(args);
            format!("$ kubectl {}\n{out}{err}", args.join(" "))
        };
        [
            run(&["-n", "metallb-system", "get", "pods", "-o", "wide"]),
            run(&[
                "get",
                "nodes",
                "-o",
                "custom-columns=NAME:.metadata.name,CONDITIONS:.status.conditions[?(@.status==\"True\")].type,TAINTS:.spec.taints[*].key",
            ]),
            {
                // The last 40 events.
                let events = run(&["get", "events", "-A", "--sort-by=.lastTimestamp"]);
                let lines: Vec<&str> = events.lines().collect();
                lines[lines.len().saturating_sub(40)..].join("\n")
            },
        ]
        .join("\n")
    }

    fn router(&self) -> String {
        format!("{}-router", self.prefix)
    }

    /// The router's installed next hops for `prefix`.
    fn next_hops(&self, prefix: &str) -> Vec<String> {
        let v = vtysh_json(&self.router(), &format!("show ip route {prefix} json"));
        let mut hops: Vec<String> = v[prefix]
            .as_array()
            .map(|routes| {
                routes
                    .iter()
                    .filter(|r| r["protocol"] == "bgp" && r["installed"] == true)
                    .flat_map(|r| r["nexthops"].as_array().cloned().unwrap_or_default())
                    .filter(|n| n["fib"] == true)
                    .filter_map(|n| n["ip"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        hops.sort();
        hops
    }

    /// The speaker pod on `node`.
    fn speaker_pod(&self, node: &str) -> String {
        let out = self.k(&[
            "-n",
            "metallb-system",
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/name=frr-speaker,app.kubernetes.io/component!=controller",
            "--field-selector",
            &format!("spec.nodeName={node}"),
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]);
        out.split_whitespace().next().unwrap_or_default().to_string()
    }
}

impl Cluster {
    /// One HTTP request from the client namespace to `ip`: the backend pod's name.
    fn curl(&self, ip: &str) -> Option<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &format!("{}-client", self.prefix), "curl", "-s", "--max-time", "3"])
            .arg(format!("http://{ip}/"))
            .output()
            .ok()?;
        let body = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !body.is_empty()).then_some(body)
    }

    /// How many times the router's session to `addr` was established.
    fn session_count(&self, addr: &str) -> u64 {
        let v = vtysh_json(&self.router(), &format!("show bgp neighbors {addr} json"));
        v[addr]["connectionsEstablished"].as_u64().unwrap_or(0)
    }

    /// The router's BGP paths for `prefix`.
    fn paths(&self, prefix: &str) -> Vec<serde_json::Value> {
        let v = vtysh_json(&self.router(), &format!("show bgp ipv4 unicast {prefix} json"));
        v["paths"].as_array().cloned().unwrap_or_default()
    }

    /// (container, working set MiB, CPU share over `window`) of each container of `pod`, from the
    /// cgroup (v1) the kubelet made for it: memory.usage_in_bytes less inactive_file, as the
    /// kubelet's working set; cpuacct.usage.
    fn container_usage(&self, pod: &str, window: Duration) -> Vec<(String, f64, f64)> {
        let q = |path: &str| self.k(&["-n", "metallb-system", "get", "pod", pod, "-o", &format!("jsonpath={path}")]);
        let uid = q("{.metadata.uid}");
        let node = q("{.spec.nodeName}");
        let ids = q("{range .status.containerStatuses[*]}{.name}={.containerID} {end}");
        let find = |hier: &str, cid: &str| -> Option<std::path::PathBuf> {
            let base = std::path::PathBuf::from(format!("/sys/fs/cgroup/{hier}/{}-{node}/kubepods", self.prefix));
            ["", "besteffort", "burstable"]
                .iter()
                .map(|q| base.join(q).join(format!("pod{uid}")).join(cid))
                .find(|p| p.exists())
        };
        let read = |p: std::path::PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        let mut out = Vec::new();
        let containers: Vec<(String, String)> = ids
            .split_whitespace()
            .filter_map(|e| e.split_once('='))
            .map(|(n, id)| (n.to_string(), id.trim_start_matches("containerd://").to_string()))
            .collect();
        let cpu = |cid: &str| -> u64 {
            find("cpuacct", cid).map(|p| read(p.join("cpuacct.usage")).trim().parse().unwrap_or(0)).unwrap_or(0)
        };
        let before: Vec<u64> = containers.iter().map(|(_, id)| cpu(id)).collect();
        std::thread::sleep(window);
        for ((name, id), b) in containers.iter().zip(before) {
            let Some(mem) = find("memory", id) else { continue };
            let usage: f64 = read(mem.join("memory.usage_in_bytes")).trim().parse().unwrap_or(0.0);
            let inactive: f64 = read(mem.join("memory.stat"))
                .lines()
                .find_map(|l| l.strip_prefix("total_inactive_file ").and_then(|v| v.trim().parse().ok()))
                .unwrap_or(0.0);
            let share = (cpu(id).saturating_sub(b)) as f64 / window.as_nanos() as f64;
            out.push((name.clone(), (usage - inactive) / 1048576.0, share));
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(root().join("e2e/cluster/cluster.sh")).args(["down", &self.prefix]).status();
    }
}

#[test]
fn speaker_pods_run_by_real_kubelets() {
    let tag = if common::frr_root().is_some() { "trixie" } else { "bookworm" };
    let pod_netns = || {
        std::fs::read_dir("/var/run/netns")
            .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("cni-")).count())
            .unwrap_or(0)
    };
    let netns_before = pod_netns();
    let c = Cluster::up("fspod", tag);
    check(&c, tag);
    // Nothing of the cluster outlives it: no namespace, process, mount or cgroup.
    drop(c);
    let netns =
        String::from_utf8_lossy(&Command::new("ip").args(["netns", "list"]).output().expect("ip").stdout).to_string();
    assert!(!netns.contains("fspod-"), "namespaces left: {netns}");
    assert!(pod_netns() <= netns_before, "pod network namespaces left in /var/run/netns: {netns}");
    let procs = Command::new("pgrep")
        .args(["-f", "frr-speaker-cluster/fspod|frr-speaker-cluster-fspod"])
        .output()
        .expect("pgrep");
    assert!(procs.stdout.is_empty(), "processes left: {}", String::from_utf8_lossy(&procs.stdout));
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains("frr-speaker-cluster"), "mounts left");
    for h in std::fs::read_dir("/sys/fs/cgroup").expect("cgroup").flatten() {
        for n in ["fspod-node1", "fspod-node2"] {
            assert!(!h.path().join(n).exists(), "cgroup left: {}", h.path().join(n).display());
        }
    }
}

/// An operator's FRRConfiguration receiving the router's prefix, for the router MetalLB's BGPPeer
/// `router` names (the same session settings).
const RECEIVE: &str = "apiVersion: frrk8s.metallb.io/v1beta1
kind: FRRConfiguration
metadata: {name: receive-from-router, namespace: metallb-system}
spec:
  bgp:
    routers:
    - asn: 64512
      neighbors:
      - asn: 64500
        address: 192.0.2.1
        holdTime: 9s
        keepaliveTime: 3s
        connectTime: 5s
        toReceive: {allowed: {prefixes: [{prefix: 198.51.100.0/24}]}}
";

/// frr-k8s mode beside MetalLB's objects in the real cluster (docs/frrk8s.md, use d): the
/// kustomize component builds (deploy/ plus the frrk8s.metallb.io CRDs); its CRDs go in while
/// the speakers run; an operator's FRRConfiguration joins MetalLB's on both nodes (FRR runs
/// frr-k8s's layout, the Service stays at the router); deleted, both go back to FRR mode's.
fn frrk8s_mode_beside_metallb(c: &Cluster, prefix: &str, both: &[String]) {
    let built = c.k(&["kustomize", "e2e/cluster/frrk8s"]);
    for crd in ["frrconfigurations", "frrnodestates", "bgpsessionstates", "frrk8sconfigurations"] {
        assert!(built.contains(&format!("name: {crd}.frrk8s.metallb.io")), "{crd} not in the component");
    }
    assert!(built.contains("kind: DaemonSet"), "the base is still there");
    c.k(&["apply", "-f", "deploy/frrk8s/crds.yaml"]);
    c.k(&["wait", "--for=condition=established", "crd/frrconfigurations.frrk8s.metallb.io", "--timeout=60s"]);
    c.k(&["apply", "-f", "deploy/frrk8s/rbac.yaml"]);
    let file = std::env::temp_dir().join(format!("frr-speaker-cluster-receive-{}.yaml", c.prefix));
    std::fs::write(&file, RECEIVE).expect("write");
    c.k(&["apply", "-f", &file.display().to_string()]);
    let _ = std::fs::remove_file(&file);
    let runs = |needle: &str| {
        ["node1", "node2"].iter().all(|n| {
            let pod = c.speaker_pod(n);
            let show = ["-n", "metallb-system", "exec", &pod, "-c", "frr", "--", "vtysh", "-c", "show running-config"];
            let (ok, out, _) = c.kubectl(&show);
            ok && out.contains(needle)
        })
    };
    // The speakers pick the kind up within their watch's backoff (at most 30 s).
    let t = Instant::now();
    let merged = wait_for(Duration::from_secs(90), || runs("route-map 192.0.2.1-in permit"));
    assert!(merged.is_some(), "frr-k8s's layout on both nodes\n{}", c.diagnose());
    assert_eq!(c.next_hops(prefix), both, "the Service stays at the router");
    println!("frr-k8s mode beside MetalLB's objects: both nodes after {:?}", t.elapsed());
    // The status frr-k8s writes, read as an operator reads it.
    let status = |n: &str, path: &str| {
        let (_, out, _) = c.kubectl(&["get", "frrnodestates.frrk8s.metallb.io", n, "-o", &format!("jsonpath={path}")]);
        out
    };
    let written = wait_for(T, || {
        ["node1", "node2"].iter().all(|n| {
            status(n, "{.status.lastReloadResult}/{.status.lastConversionResult}") == "success/success"
                && status(n, "{.status.runningConfig}").contains("route-map 192.0.2.1-in permit")
        })
    });
    assert!(written.is_some(), "FRRNodeState of both nodes\n{}", c.diagnose());
    let sessions = c.k(&[
        "-n",
        "metallb-system",
        "get",
        "bgpsessionstates.frrk8s.metallb.io",
        "-l",
        "frrk8s.metallb.io/peer=192.0.2.1",
        "-o",
        "jsonpath={range .items[*]}{.status.node}={.status.bgpStatus} {end}",
    ]);
    assert!(
        sessions.contains("node1=Established") && sessions.contains("node2=Established"),
        "frr-k8s's BGPSessionStates: {sessions}"
    );
    c.k(&["-n", "metallb-system", "delete", "frrconfiguration", "receive-from-router"]);
    let back = wait_for(T, || runs("route-map fs-out-192.0.2.1"));
    assert!(back.is_some(), "FRR mode's layout again on both nodes");
    assert_eq!(c.next_hops(prefix), both);
}

/// The manifests of `overlay` as the previous release laid them out: the speaker DaemonSet without
/// the app.kubernetes.io/component label (its selector matched the controller's pods too). A
/// file to `kubectl apply -f`.
fn previous_release(c: &Cluster, overlay: &str) -> std::path::PathBuf {
    let now = c.k(&["kustomize", overlay]);
    let before: String =
        now.lines().filter(|l| l.trim() != "app.kubernetes.io/component: speaker").map(|l| format!("{l}\n")).collect();
    assert_ne!(before, now, "the speaker's component label is in {overlay}");
    let file = std::env::temp_dir().join(format!("frr-speaker-cluster-previous-{}.yaml", c.prefix));
    std::fs::write(&file, before).expect("write");
    file
}

/// The `kubectl ...` lines of the first shell block under the heading `title` of `file` (README.md or
/// a page of docs/), as
/// words (single quotes group; a `#` word starts a comment).
fn doc_block(file: &str, title: &str) -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(root().join(file)).expect(file);
    let section = readme.split("\n## ").chain(readme.split("\n### ")).find(|s| s.starts_with(title)).expect("section");
    let block = section.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("a shell block");
    let mut cmds = Vec::new();
    let mut line = String::new();
    for l in block.lines() {
        line.push_str(l.trim_end_matches('\\'));
        if l.ends_with('\\') {
            continue;
        }
        let words = shell_words(&std::mem::take(&mut line));
        if words.first().is_some_and(|w| w == "kubectl")
            && words.iter().any(|w| w == "metallb-system" || w.starts_with("my-"))
        {
            cmds.push(words);
        }
    }
    cmds
}

fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for ch in line.chars() {
        match ch {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            '#' if !quoted && !any => break,
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

fn check(c: &Cluster, tag: &str) {
    let overlay = if tag == "trixie" { "e2e/cluster/frr10" } else { "e2e/cluster/frr8" };
    for n in ["node1", "node2"] {
        assert!(c.k(&["get", "node", n, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"]) == "True");
    }

    // Install as a user of the previous layout did (the speaker DaemonSet selecting every pod
    // labelled app.kubernetes.io/name: frr-speaker, the controller's too): one kustomization with
    // the CRDs, RBAC, the DaemonSet and the allocator. It is upgraded to this one's below.
    let t0 = Instant::now();
    let previous = previous_release(c, overlay);
    c.k(&["apply", "-f", &previous.display().to_string()]);
    let _ = std::fs::remove_file(&previous);
    c.k(&["apply", "-f", "e2e/cluster/config.yaml"]);
    let ds = c.kubectl(&["-n", "metallb-system", "rollout", "status", "ds/frr-speaker", "--timeout=180s"]);
    assert!(ds.0, "speaker DaemonSet not ready: {}{}\n{}", ds.1, ds.2, c.diagnose());
    let ready = t0.elapsed();
    let ctl =
        c.kubectl(&["-n", "metallb-system", "rollout", "status", "deploy/frr-speaker-controller", "--timeout=180s"]);
    assert!(ctl.0, "controller not ready: {}{}\n{}", ctl.1, ctl.2, c.diagnose());
    let pods = c.k(&["-n", "metallb-system", "get", "pods", "-o", "wide"]);
    println!("{pods}");
    // The allocator: two replicas Ready, one of them holds the Lease.
    let replicas = c.k(&[
        "-n",
        "metallb-system",
        "get",
        "deploy/frr-speaker-controller",
        "-o",
        "jsonpath={.status.readyReplicas}",
    ]);
    assert_eq!(replicas, "2");
    let mut holder = String::new();
    let led = wait_for(T, || {
        holder = c
            .kubectl(&[
                "-n",
                "metallb-system",
                "get",
                "lease",
                "frr-speaker-controller",
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ])
            .1;
        holder.starts_with("frr-speaker-controller-")
    });
    assert!(led.is_some() && pods.contains(&holder), "the Lease's holder is a running replica: {holder:?}");
    for node in ["node1", "node2"] {
        let pod = c.speaker_pod(node);
        assert!(!pod.is_empty(), "no speaker pod on {node}:\n{pods}");
        let statuses = c.k(&[
            "-n",
            "metallb-system",
            "get",
            "pod",
            &pod,
            "-o",
            "jsonpath={range .status.containerStatuses[*]}{.name}={.ready} {end}",
        ]);
        assert!(statuses.contains("speaker=true") && statuses.contains("frr=true"), "{pod}: {statuses}");
    }

    // A LoadBalancer Service: the controller assigns an address, both speakers announce it.
    c.k(&["apply", "-f", "e2e/cluster/workload.yaml"]);
    let web = c.kubectl(&["rollout", "status", "deploy/web", "--timeout=120s"]);
    assert!(web.0, "backends not ready: {}{}", web.1, web.2);
    let mut ip = String::new();
    let assigned = wait_for(T, || {
        ip = c.k(&["get", "svc", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"]);
        !ip.is_empty()
    });
    assert!(assigned.is_some(), "no address assigned:\n{}", c.k(&["get", "events", "-A"]));
    let prefix = format!("{ip}/32");
    let both = vec!["192.0.2.11".to_string(), "192.0.2.12".to_string()];
    let routed = wait_for(T, || c.next_hops(&prefix) == both);
    assert!(routed.is_some(), "router: {:?}\n{}", c.next_hops(&prefix), c.k(&["get", "pods", "-A", "-o", "wide"]));
    println!(
        "speaker pods Ready {ready:?} after kubectl apply -k; {prefix} via both nodes {:?} after that",
        t0.elapsed() - ready
    );

    // The operator's view: vtysh in the FRR container, the agent's status, logs, status objects.
    let pod = c.speaker_pod("node1");
    let summary =
        c.k(&["-n", "metallb-system", "exec", &pod, "-c", "frr", "--", "vtysh", "-c", "show bgp summary json"]);
    let v: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(v["ipv4Unicast"]["peers"]["192.0.2.1"]["state"], "Established", "{summary}");
    let status = c.k(&["-n", "metallb-system", "exec", &pod, "-c", "speaker", "--", "frr-speaker", "status"]);
    assert!(status.contains("192.0.2.1") && status.contains("Established"), "{status}");
    let log = c.k(&["-n", "metallb-system", "logs", &pod, "-c", "speaker"]);
    assert!(log.contains("applied"), "{log}");
    let frr_log = c.k(&["-n", "metallb-system", "logs", &pod, "-c", "frr"]);
    assert!(!frr_log.is_empty());
    // Status objects are written by a rate-limited writer: wait for them.
    let mut states = String::new();
    let valid = wait_for(T, || {
        states =
            c.k(&["-n", "metallb-system", "get", "configurationstates", "-o", "jsonpath={.items[*].status.result}"]);
        states.split_whitespace().collect::<Vec<_>>() == ["Valid", "Valid"]
    });
    assert!(valid.is_some(), "{states}");
    let mut sessions = String::new();
    let established = wait_for(T, || {
        sessions = c.k(&["-n", "metallb-system", "get", "bgpsessionstates.frr-speaker.io"]);
        sessions.matches("Established").count() == 4
    });
    assert!(established.is_some(), "both nodes, both families:\n{sessions}");
    let mut announced = String::new();
    let both_announce = wait_for(T, || {
        announced =
            c.k(&["-n", "metallb-system", "get", "servicebgpstatuses", "-o", "jsonpath={.items[*].status.node}"]);
        announced.split_whitespace().count() == 2
    });
    assert!(both_announce.is_some(), "web from both nodes: {announced}");
    let mut events = String::new();
    let announcing = wait_for(T, || {
        events = c.k(&["get", "events", "-n", "default", "--field-selector", "involvedObject.name=web"]);
        events.contains("Announcing")
    });
    assert!(announcing.is_some(), "{events}");

    // Traffic: TCP connections from the client network through the router's ECMP route and
    // kube-proxy reach both backends. The Deployment is Ready before each node's kube-proxy has
    // written the second endpoint into its rules (it syncs on its own schedule), so the requests
    // go on until both backends have answered.
    let mut backends = std::collections::BTreeSet::new();
    let (mut asked, mut failed) = (0, 0);
    let both_answer = wait_for(T, || {
        for _ in 0..4 {
            asked += 1;
            match c.curl(&ip) {
                Some(b) => {
                    backends.insert(b);
                }
                None => failed += 1,
            }
        }
        backends.len() == 2
    });
    assert!(
        both_answer.is_some(),
        "both backends answer through {prefix}: {backends:?} ({failed} of {asked} requests failed)"
    );
    println!("both backends answered through {prefix} after {asked} requests ({failed} failed)");

    // FRR's bgpd killed inside the FRR container: watchfrr restarts it, the agent re-applies.
    // With graceful restart the router keeps node1's route (stale) meanwhile: no next hop lost.
    let established = || c.session_count("192.0.2.11");
    let before = established();
    let t = Instant::now();
    c.k(&["-n", "metallb-system", "exec", &pod, "-c", "frr", "--", "sh", "-c", "kill -9 $(cat /var/run/frr/bgpd.pid)"]);
    let mut lost = false;
    let back = wait_for(T, || {
        lost |= c.next_hops(&prefix) != both;
        established() > before
            && c.paths(&prefix).iter().any(|p| p["peer"]["peerId"] == "192.0.2.11" && p["stale"] != true)
    });
    assert!(back.is_some(), "node1's session and route back after watchfrr restarted bgpd: {:?}", c.paths(&prefix));
    assert!(!lost, "the router lost node1's next hop while bgpd restarted (graceful restart is on)");
    println!("bgpd killed in the FRR container: session and fresh route back at the router after {:?}, next hops kept throughout", t.elapsed());
    let log = c.k(&["-n", "metallb-system", "logs", &pod, "-c", "speaker"]);
    assert!(log.contains("FRR restarted"), "the agent saw the restart:\n{log}");
    let restarts = c.k(&[
        "-n",
        "metallb-system",
        "get",
        "pod",
        &pod,
        "-o",
        "jsonpath={.status.containerStatuses[*].restartCount}",
    ]);
    assert_eq!(restarts.split_whitespace().collect::<Vec<_>>(), ["0", "0"], "no container restarted");

    // The upgrade to this layout, as docs/install.md "Upgrading" tells it: the old DaemonSet deleted with
    // its pods left running, its pods labelled as the new selector wants, the new one applied: it
    // adopts them and replaces them one node at a time (a rolling update). Long-lived flows
    // through the router meanwhile; the peers have graceful restart on.
    let mut flows = Command::new("ip")
        .args(["netns", "exec", &format!("{}-client", c.prefix), "python3"])
        .arg(root().join("e2e/cluster/flows.py"))
        .args([ip.as_str(), "9000", "40", "40"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flows");
    // Every flow open and echoing before anything changes: a flow that breaks from here on was
    // broken by the upgrade.
    let mut flows_out = std::io::BufReader::new(flows.stdout.take().expect("stdout"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut flows_out, &mut first).expect("flows report");
    assert_eq!(first.trim(), "established 40", "every flow open before the upgrade");
    let old: Vec<String> = ["node1", "node2"].iter().map(|n| c.speaker_pod(n)).collect();
    let t = Instant::now();
    for step in doc_block("docs/install.md", "Upgrading") {
        let args: Vec<String> =
            step.iter().skip(1).map(|a| if a == "my-speaker/" { overlay.to_string() } else { a.clone() }).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        println!("$ kubectl {}", args.join(" "));
        c.k(&args);
    }
    let ds = c.kubectl(&["-n", "metallb-system", "rollout", "status", "ds/frr-speaker", "--timeout=180s"]);
    assert!(ds.0, "rollout: {}{}\n{}", ds.1, ds.2, c.diagnose());
    let rolled = t.elapsed();
    let new: Vec<String> = ["node1", "node2"].iter().map(|n| c.speaker_pod(n)).collect();
    assert!(new.iter().zip(&old).all(|(n, o)| !n.is_empty() && n != o), "new pods on both nodes: {old:?} -> {new:?}");
    let mut summary = String::new();
    std::io::Read::read_to_string(&mut flows_out, &mut summary).expect("flows report");
    let out = flows.wait_with_output().expect("flows end");
    let summary = summary.trim().to_string();
    let report = format!("{summary}\n{}", String::from_utf8_lossy(&out.stderr).trim_end());
    assert!(wait_for(T, || c.next_hops(&prefix) == both).is_some(), "both nodes announce after the rollout");
    println!("rolling update of the speaker DaemonSet: {rolled:?}; long-lived flows through the router: {report}");
    let broken: usize = summary.rsplit(' ').next().and_then(|b| b.parse().ok()).expect("flows report");
    assert_eq!(broken, 0, "flows broken by the rollout with graceful restart: {report}");
    let pod = c.speaker_pod("node1");

    // The DaemonSet's selector matches its own pods and nothing else, so `kubectl exec
    // ds/frr-speaker` and `kubectl logs ds/...` land in a speaker pod: README "Debugging" run as
    // written, several times each (with four pods matching, kubectl picked any of them).
    let template = "go-template={{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}";
    let selector = c.k(&["-n", "metallb-system", "get", "ds/frr-speaker", "-o", template]);
    let selector = selector.trim_end_matches(',');
    assert!(selector.contains("app.kubernetes.io/component=speaker"), "{selector}");
    let matched =
        c.k(&["-n", "metallb-system", "get", "pods", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}"]);
    let mut matched: Vec<&str> = matched.split_whitespace().collect();
    matched.sort();
    let mut speakers: Vec<String> = ["node1", "node2"].iter().map(|n| c.speaker_pod(n)).collect();
    speakers.sort();
    assert_eq!(matched, speakers, "the DaemonSet's selector matches exactly the speaker pods");
    let commands = doc_block("README.md", "Debugging");
    assert!(commands.iter().filter(|a| a.iter().any(|w| w.starts_with("ds/"))).count() >= 4, "{commands:?}");
    for round in 0..4 {
        for cmd in &commands {
            let args: Vec<&str> = cmd.iter().skip(1).map(String::as_str).collect();
            let out = c.k(&args);
            match args.iter().find(|a| a.starts_with("show ")).copied() {
                Some("show bgp summary") => assert!(out.contains("192.0.2.1"), "round {round}: {args:?}: {out}"),
                Some(_) => assert!(out.contains("router bgp"), "round {round}: {args:?}: {out}"),
                None if args.contains(&"status") => {
                    assert!(out.contains("Established"), "round {round}: {args:?}: {out}")
                }
                None if args.contains(&"logs") => assert!(out.contains("applied"), "round {round}: {args:?}: {out}"),
                None => {}
            }
        }
    }

    frrk8s_mode_beside_metallb(c, &prefix, &both);

    // Maintenance: node1 cordoned and its speaker pod deleted. The router sees node1's route with
    // GRACEFUL_SHUTDOWN, moves to node2, then the withdrawal; never without a next hop.
    c.k(&["cordon", "node1"]);
    let t = Instant::now();
    let (ok, _, err) = c.kubectl(&["-n", "metallb-system", "delete", "pod", &pod, "--wait=false"]);
    assert!(ok, "{err}");
    let mut blackhole = false;
    let gshut = wait_for(T, || {
        blackhole |= c.next_hops(&prefix).is_empty();
        c.paths(&prefix).iter().any(|p| {
            p["peer"]["peerId"] == "192.0.2.11"
                && p["community"]["string"].as_str().is_some_and(|s| s.contains("graceful-shutdown"))
        })
    });
    assert!(gshut.is_some(), "GRACEFUL_SHUTDOWN from node1: {:?}", c.paths(&prefix));
    let t_gshut = t.elapsed();
    let withdrawn = wait_for(T, || {
        blackhole |= c.next_hops(&prefix).is_empty();
        c.paths(&prefix).iter().all(|p| p["peer"]["peerId"] != "192.0.2.11")
    });
    assert!(withdrawn.is_some(), "node1 withdraws: {:?}", c.paths(&prefix));
    let t_withdrawn = t.elapsed();
    assert!(!blackhole, "the router had no route to {prefix} during the drain");
    assert_eq!(c.next_hops(&prefix), both[1..]);
    // The DaemonSet's new pod on the cordoned node; uncordoned, node1 announces again.
    let replaced = wait_for(T, || {
        let p = c.speaker_pod("node1");
        !p.is_empty() && p != pod
    });
    assert!(replaced.is_some(), "the DaemonSet replaces the pod");
    c.k(&["uncordon", "node1"]);
    let again = wait_for(T, || c.next_hops(&prefix) == both);
    assert!(again.is_some(), "node1 announces again: {:?}", c.next_hops(&prefix));
    println!(
        "drain by pod deletion on a cordoned node: GRACEFUL_SHUTDOWN at the router after {t_gshut:?}, withdrawn after {t_withdrawn:?}, announced again {:?} after the deletion",
        t.elapsed()
    );

    // Memory and CPU of each container, from its cgroup.
    let pod = c.speaker_pod("node1");
    let ds = c.kubectl(&["-n", "metallb-system", "rollout", "status", "ds/frr-speaker", "--timeout=120s"]);
    assert!(ds.0, "{}", ds.2);
    std::thread::sleep(Duration::from_secs(5));
    for (name, mib, cpu) in c.container_usage(&pod, Duration::from_secs(10)) {
        println!("idle: container {name}: {mib:.1} MiB working set, {:.1}% of a CPU", cpu * 100.0);
    }
    let bad = c.k(&["get", "events", "-A", "--field-selector", "type=Warning"]);
    println!("warning events:\n{bad}");

    // 1,000 more LoadBalancer Services (from the `scale` pool): all at the router, then the same
    // measurement. Once, with the FRR 10 image (what clusters run today).
    if tag != "trixie" {
        return;
    }
    let mut yaml = String::new();
    for i in 0..1000 {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: default, annotations: {{metallb.io/address-pool: scale}}}}\nspec: {{type: LoadBalancer, selector: {{app: web}}, ports: [{{port: 80, targetPort: 8080}}]}}\n"
        ));
    }
    let file = std::env::temp_dir().join("frr-speaker-cluster-1000.yaml");
    std::fs::write(&file, yaml).expect("write");
    let t = Instant::now();
    c.k(&["apply", "-f", &file.display().to_string()]);
    let _ = std::fs::remove_file(&file);
    let applied = t.elapsed();
    let assigned = wait_for(Duration::from_secs(600), || {
        c.k(&["get", "svc", "-o", "jsonpath={.items[*].status.loadBalancer.ingress[0].ip}"]).split_whitespace().count()
            >= 1001
    });
    assert!(assigned.is_some(), "the allocator assigned every address");
    let assigned = t.elapsed();
    let count = || {
        let v = vtysh_json(&c.router(), "show bgp ipv4 unicast statistics json");
        v["ipv4Unicast"][0]["totalPrefixes"].as_u64().unwrap_or(0)
    };
    let all = wait_for(Duration::from_secs(600), || count() >= 1001);
    assert!(all.is_some(), "the router has {} of 1,001 prefixes", count());
    println!(
        "1,000 Services: kubectl apply returned after {applied:?}, every address assigned after {assigned:?}, all at the router after {:?}",
        t.elapsed()
    );
    std::thread::sleep(Duration::from_secs(5));
    for (name, mib, cpu) in c.container_usage(&pod, Duration::from_secs(10)) {
        println!("1,001 Services, idle: container {name}: {mib:.1} MiB working set, {:.1}% of a CPU", cpu * 100.0);
    }
}
