//! The command-line contract that scripts rely on: `render`, `check` and `crds`, their output
//! streams and exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_frr-speaker"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn crds_match_committed_yaml() {
    let out = bin(&["crds"]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/crds.yaml"))
        .expect("deploy/crds.yaml");
    assert!(text(&out.stdout) == committed, "deploy/crds.yaml drifted from src/model/crds.rs: run `make crds`");
    for kind in ["BGPPeer", "BGPAdvertisement", "IPAddressPool", "BFDProfile", "Community"] {
        assert!(committed.contains(&format!("kind: {kind}\n")), "{kind} missing");
    }
    let out = bin(&["crds", "--api", "frrk8s"]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/frrk8s/crds.yaml"))
        .expect("deploy/frrk8s/crds.yaml");
    assert!(
        text(&out.stdout) == committed,
        "deploy/frrk8s/crds.yaml drifted from src/model/frrk8s.rs: run `make crds`"
    );
    for kind in ["FRRConfiguration", "FRRNodeState", "BGPSessionState", "FRRK8sConfiguration"] {
        assert!(committed.contains(&format!("kind: {kind}\n")), "{kind} missing");
    }
}

#[test]
fn render_valid_prints_config_and_exits_zero() {
    let out = bin(&["render", "--node", "node1", "tests/golden/basic-ebgp"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/basic-ebgp/frr.conf"))
        .expect("golden");
    assert_eq!(text(&out.stdout), want);
    assert_eq!(text(&out.stderr), "");
}

/// frr-k8s mode offline, as docs/frrk8s.md shows it: the FRRConfigurations of the given namespace,
/// the always-blocked prefixes, and a conflict refused with both objects named.
#[test]
fn render_and_check_take_frrconfigurations() {
    let dir = "tests/golden/frrk8s-vrf-unnumbered";
    let out = bin(&[
        "render",
        "--node",
        "node1",
        "--frrk8s-namespace",
        "frr-k8s-system",
        "--always-block",
        "192.168.0.0/16,fd00::/8",
        dir,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join("frr.conf")).expect("golden");
    assert_eq!(text(&out.stdout), want);
    // In another namespace the objects are not this node's FRRConfigurations: nothing to run.
    let out = bin(&["render", "--node", "node1", dir]);
    assert!(out.status.success() && !text(&out.stdout).contains("router bgp"), "{}", text(&out.stdout));
    let out = bin(&["check", "tests/golden/frrk8s-conflict"]);
    assert_eq!(out.status.code(), Some(0), "each object alone is valid: {}", text(&out.stderr));
    let out = bin(&["check", "--node", "node1", "tests/golden/frrk8s-conflict"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("FRRConfiguration metallb-system/b") && err.contains("in metallb-system/a"), "{err}");
}

#[test]
fn render_with_warnings_exits_zero_and_reports_on_stderr() {
    let out = bin(&["render", "--node", "node1", "tests/golden/ip-not-in-pool/input.yaml"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("network 203.0.113.10/32"));
    assert_eq!(text(&out.stderr), "warning: Service default/stray: status.loadBalancer.ingress: 198.51.100.99 is in no IPAddressPool: not announced\n");
}

#[test]
fn render_invalid_prints_problems_and_no_config() {
    let out = bin(&["render", "--node", "node1", "tests/golden/timers-invalid"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "", "no partial config on stdout");
    let err = text(&out.stderr);
    // keepaliveTime equal to holdTime is accepted (as MetalLB does, with a warning that FRR uses a
    // third of the hold time): three errors of the four peers.
    assert_eq!(err.lines().filter(|l| l.starts_with("error: BGPPeer metallb-system/r")).count(), 3, "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("warning: BGPPeer metallb-system/r2: spec.keepaliveTime")).count(),
        1,
        "{err}"
    );
    assert_eq!(err.lines().count(), 4, "{err}");
}

#[test]
fn check_reports_and_sets_exit_code() {
    let bad = bin(&["check", "--node", "node1", "tests/golden/router-id-mismatch"]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(text(&bad.stdout), "");
    assert!(text(&bad.stderr).contains("spec.routerID"));
    let good = bin(&["check", "--node", "node1", "tests/golden/basic-ebgp"]);
    assert!(good.status.success());
    assert_eq!(text(&good.stdout), "");
}

#[test]
fn connected_flag_enables_the_multihop_rule() {
    let args = ["check", "--node", "node1", "tests/golden/multihop-required/input.yaml"];
    assert!(bin(&args).status.success(), "without --connected the rule cannot be checked");
    let out = bin(&[&args[..], &["--connected", "192.0.2.0/24"]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("needs ebgpMultiHop: true"));
}

#[test]
fn missing_path_is_an_error() {
    let out = bin(&["render", "--node", "node1", "does/not/exist.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("error: Manifest does/not/exist.yaml: cannot read"));
}

#[test]
fn controller_rejects_a_renew_deadline_not_below_the_lease_duration() {
    let out = bin(&["controller", "--lease-duration", "5", "--renew-deadline", "5", "--metrics-addr", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--renew-deadline must be less than --lease-duration"), "{}", text(&out.stderr));
}

#[test]
fn check_without_node_validates_the_whole_cluster_as_metallb_does() {
    // Two peers with different routerIDs and a BFD profile nobody uses with an invalid value.
    // Each node alone is fine (the profile only warns). Without --node, as MetalLB's webhook: the
    // profile is refused, and the routerIDs are refused where the two peers meet on a known Node,
    // or when no Node is known; peers whose selectors pick disjoint Nodes never meet.
    let dir = std::env::temp_dir().join(format!("frr-speaker-check-cluster-{}", std::process::id()));
    let peer = |name: &str, selector: &str, id: &str| {
        format!("---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.{}, routerID: {id}, nodeSelectors: [{{matchLabels: {{{selector}}}}}]}}\n", name.len())
    };
    let profile = "---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: unused, namespace: metallb-system}\nspec: {detectMultiplier: 1}\n";
    let node = |n: &str| {
        format!("---\napiVersion: v1\nkind: Node\nmetadata: {{name: {n}, labels: {{kubernetes.io/hostname: {n}, rack: r1}}}}\n")
    };
    let check = |docs: &[String]| {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("config.yaml"), docs.concat()).expect("write");
        let path = dir.to_string_lossy().to_string();
        let out = bin(&["check", &path]);
        (out.status.code(), text(&out.stderr), path)
    };
    let (a, b) = (
        peer("a", "kubernetes.io/hostname: node1", "192.0.2.101"),
        peer("bb", "kubernetes.io/hostname: node2", "192.0.2.102"),
    );
    let router_id = "error: BGPPeer metallb-system/bb: spec.routerID: 192.0.2.102 differs from 192.0.2.101";
    let profile_error = "error: BFDProfile metallb-system/unused: spec.detectMultiplier";
    // Disjoint known Nodes: only the profile is refused.
    let (code, err, path) = check(&[a.clone(), b.clone(), profile.into(), node("node1"), node("node2")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(profile_error) && !err.contains("spec.routerID"), "{err}");
    for n in ["node1", "node2"] {
        let one = bin(&["check", "--node", n, &path]);
        assert_eq!(one.status.code(), Some(0), "{n}: {}", text(&one.stderr));
        assert!(text(&one.stderr).contains("warning: BFDProfile metallb-system/unused: spec.detectMultiplier"));
    }
    let render = bin(&["render", &path]);
    assert_eq!(render.status.code(), Some(2), "render is per node");
    // Disjoint, nothing else wrong: accepted.
    let (code, err, _) = check(&[a.clone(), b.clone(), node("node1"), node("node2")]);
    assert_eq!(code, Some(0), "{err}");
    // No Node known: every pair counts.
    let (code, err, _) = check(&[a.clone(), b.clone()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(router_id), "{err}");
    // A peer that selects a rack meets the other on node1.
    let rack = peer("bb", "rack: r1", "192.0.2.102");
    let (code, err, _) = check(&[a, rack, node("node1"), node("node2")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(router_id), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The first log lines `run` writes in file mode, FRR absent (its sockets in an empty
/// directory), with `extra` arguments: it is stopped once it wrote `lines` lines or after 10 s.
fn run_log(extra: &[&str], lines: usize) -> Vec<String> {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("frr-speaker-cli-log-{}-{}", std::process::id(), extra.len()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("manifests")).expect("dir");
    std::fs::create_dir_all(dir.join("vty")).expect("dir");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/basic-ebgp/input.yaml"),
        dir.join("manifests/in.yaml"),
    )
    .expect("copy");
    let mut child = Command::new(env!("CARGO_BIN_EXE_frr-speaker"))
        .args(["run", "--node", "node1", "--metrics-addr", "127.0.0.1:0", "--manifests"])
        .arg(dir.join("manifests"))
        .arg("--vty-socket-dir")
        .arg(dir.join("vty"))
        .arg("--frr-config")
        .arg(dir.join("frr.conf"))
        .args(extra)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < lines {
        match rx.recv_timeout(end.saturating_duration_since(std::time::Instant::now())) {
            Ok(l) => got.push(l),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    got
}

#[test]
fn run_logs_text_by_default_and_json_objects_with_log_format_json() {
    let text_lines = run_log(&[], 2);
    assert!(!text_lines.is_empty(), "no log line in 10 s");
    assert!(text_lines.iter().all(|l| !l.starts_with('{')), "{text_lines:?}");
    assert!(text_lines.iter().any(|l| l.contains(" INFO ")), "{text_lines:?}");
    let json = run_log(&["--log-format", "json"], 2);
    assert!(json.len() >= 2, "{json:?}");
    for line in &json {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(v[key].is_string(), "no {key} in {line}");
        }
    }
    let bad = bin(&["run", "--node", "node1", "--log-format", "xml"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("possible values: text, json"), "{}", text(&bad.stderr));
}
