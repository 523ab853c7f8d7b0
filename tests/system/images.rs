//! docker/ and frr/ without a container engine (none runs here): the Dockerfiles copy files that
//! exist, the scripts and FRR's startup config parse, deploy/ agrees with the images, and the pod's
//! layout runs for real: the FRR container's entrypoint in its own network and mount namespace
//! (tmpfs volumes for /etc/frr and /var/run/frr, as the pod's emptyDirs), the agent as uid 65532
//! with only the frrvty group, then an FRR "container" restart that comes back from the agent's
//! frr.conf on its own. With the FRR version matrix's root file system (common::frr_root: Debian
//! trixie's FRR 10), the FRR "container" runs chrooted in it, as the default image would.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{objects, root, wait_for};

const T: Duration = Duration::from_secs(30);
const NS: &str = "fsimg";

#[test]
fn dockerfiles_scripts_and_deploy_agree() {
    for file in ["docker/agent.Dockerfile", "docker/frr.Dockerfile"] {
        let text = std::fs::read_to_string(root().join(file)).expect("dockerfile");
        for line in text.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from=")) {
            let words: Vec<&str> = line.split_whitespace().collect();
            for src in &words[1..words.len() - 1] {
                assert!(root().join(src).exists(), "{file}: {line}: {src} does not exist");
            }
        }
        assert!(text.lines().any(|l| l.starts_with("FROM ")), "{file}: no FROM");
    }
    let sh = Command::new("sh").arg("-n").arg(root().join("docker/frr-entrypoint.sh")).output().expect("sh");
    assert!(sh.status.success(), "entrypoint syntax: {}", String::from_utf8_lossy(&sh.stderr));
    if let Err(msg) = common::dryrun(&root().join("frr/frr.conf")) {
        panic!("frr/frr.conf: {msg}");
    }
    // The gid that owns FRR's vty sockets in the image is the one the pod gives the agent.
    let frr_image = std::fs::read_to_string(root().join("docker/frr.Dockerfile")).expect("read");
    let ds = std::fs::read_to_string(root().join("deploy/daemonset.yaml")).expect("read");
    assert!(frr_image.contains("groupadd -r -g 192 frrvty"));
    assert!(ds.contains("supplementalGroups: [192]"));
    assert!(
        ds.contains("runAsUser: 65532")
            && std::fs::read_to_string(root().join("docker/agent.Dockerfile")).expect("read").contains("USER 65532")
    );
    // The FRR container waits for the marker the agent keeps while it drains.
    assert!(ds.contains(&format!("/var/run/frr/{}", frr_speaker::drain::DRAIN_MARKER)));
    // The controller runs the agent's image as the same user; its args parse.
    let ctl = std::fs::read_to_string(root().join("deploy/controller.yaml")).expect("read");
    assert!(ctl.contains("image: frr-speaker:dev") && ctl.contains("runAsUser: 65532"));
    let args = ctl.lines().find_map(|l| l.trim().strip_prefix("args: [")).expect("controller args");
    let args: Vec<&str> = args.trim_end_matches(']').split(',').map(str::trim).collect();
    assert_eq!(args[0], "controller");
    let mut help = vec!["--help"];
    help.splice(0..0, args.iter().copied());
    let out = Command::new(env!("CARGO_BIN_EXE_frr-speaker")).args(&help).output().expect("runs");
    assert!(out.status.success(), "deploy/controller.yaml args: {}", String::from_utf8_lossy(&out.stderr));
    let daemons = std::fs::read_to_string(root().join("frr/daemons")).expect("read");
    assert!(daemons.contains("bgpd=yes") && daemons.contains("bfdd=yes"));
}

/// Run `cmd` inside the namespaces of process `holder`.
fn inside(holder: u32, cmd: &[&str]) -> Command {
    let mut c = Command::new("nsenter");
    c.args(["-t", &holder.to_string(), "-m", "-n", "--"]).args(cmd);
    c
}

fn output(holder: u32, cmd: &[&str]) -> String {
    let out = inside(holder, cmd).output().expect("nsenter");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cmd` as the FRR container runs it: chrooted in the matrix's FRR root when there is one.
fn in_frr(cmd: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = match common::frr_root() {
        Some(r) => vec!["chroot".into(), r],
        None => vec![],
    };
    v.extend(cmd.iter().map(|s| s.to_string()));
    v
}

fn frr_output(holder: u32, cmd: &[&str]) -> String {
    let v = in_frr(cmd);
    output(holder, &v.iter().map(String::as_str).collect::<Vec<_>>())
}

struct Pod {
    holder: Child,
    frr: Option<Child>,
    agent: Option<Child>,
}

impl Pod {
    fn start_frr(&mut self) {
        // In the FRR root, the repository is bound at /mnt (see the holder).
        let src = if common::frr_root().is_some() { "/mnt".into() } else { root() };
        let share = src.join("frr");
        let entry = src.join("docker/frr-entrypoint.sh");
        let log = std::fs::File::create(std::env::temp_dir().join("frr-speaker-fsimg-frr.log")).expect("log");
        let env = in_frr(&["env", &format!("FRR_SPEAKER_SHARE={}", share.display())]);
        let child = inside(self.holder.id(), &env.iter().map(String::as_str).collect::<Vec<_>>())
            .arg(&entry)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("entrypoint");
        self.frr = Some(child);
        let h = self.holder.id();
        let up = wait_for(T, || {
            let d = frr_output(h, &["vtysh", "-c", "show daemons"]);
            d.contains("bgpd") && d.contains("bfdd") && d.contains("zebra")
        });
        assert!(up.is_some(), "watchfrr started the daemons");
    }

    /// The FRR container stops: watchfrr and every daemon.
    fn stop_frr(&mut self) {
        if let Some(mut c) = self.frr.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in ["mgmtd", "zebra", "bgpd", "bfdd", "staticd"] {
            let pid = output(self.holder.id(), &["cat", &format!("/var/run/frr/{d}.pid")]);
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
        let h = self.holder.id();
        assert!(
            wait_for(T, || !frr_output(h, &["vtysh", "-c", "show daemons"]).contains("bgpd")).is_some(),
            "FRR stopped"
        );
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if let Some(mut a) = self.agent.take() {
            let _ = a.kill();
            let _ = a.wait();
        }
        self.stop_frr();
        if let Ok(out) = Command::new("ip").args(["netns", "pids", NS]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(p) = pid.parse::<i32>() {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        let _ = Command::new("ip").args(["netns", "del", NS]).status();
    }
}

#[test]
fn frr_container_layout_with_a_non_root_agent() {
    let _ = Command::new("ip").args(["netns", "del", NS]).status();
    assert!(Command::new("ip").args(["netns", "add", NS]).status().expect("ip").success());
    let _ = Command::new("ip").args(["-n", NS, "link", "set", "lo", "up"]).status();
    // Holds the pod's mount namespace: /etc/frr and /var/run/frr are fresh tmpfs volumes in it (and,
    // with an FRR root, the same volumes, /dev, /proc, /sys and the repository at /mnt in the root).
    let mut script = "mount -t tmpfs none /etc/frr && mount -t tmpfs none /var/run/frr".to_string();
    if let Some(r) = common::frr_root() {
        script.push_str(&format!(
            " && mount --bind /etc/frr {r}/etc/frr && mount --bind /var/run/frr {r}/run/frr && mount --rbind /dev {r}/dev \
             && mount -t proc proc {r}/proc && mount --rbind /sys {r}/sys && mount --bind {} {r}/mnt",
            root().display()
        ));
    }
    script.push_str(" && exec sleep 3600");
    let holder = Command::new("ip")
        .args(["netns", "exec", NS, "unshare", "-m", "--propagation", "private", "sh", "-c"])
        .arg(&script)
        .stdin(Stdio::null())
        .spawn()
        .expect("holder");
    let mut pod = Pod { holder, frr: None, agent: None };
    let h = pod.holder.id();
    assert!(
        wait_for(T, || output(h, &["findmnt", "-n", "/var/run/frr"]).contains("tmpfs")).is_some(),
        "volumes mounted"
    );
    pod.start_frr();

    // The agent: uid 65532, group 65532 plus frrvty only (what deploy/daemonset.yaml gives it).
    let manifests = std::env::temp_dir().join("frr-speaker-fsimg-manifests");
    let _ = std::fs::remove_dir_all(&manifests);
    std::fs::create_dir_all(&manifests).expect("dir");
    std::fs::write(manifests.join("config.yaml"), config()).expect("write");
    for p in [&manifests, &manifests.join("config.yaml")] {
        let mode = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode)).expect("chmod");
    }
    // The group that owns the vty sockets: the FRR container's (its root's /etc/group).
    let frrvty = match common::frr_root() {
        Some(_) => frr_output(h, &["getent", "group", "frrvty"]).split(':').nth(2).unwrap_or_default().to_string(),
        None => nix::unistd::Group::from_name("frrvty").expect("group").expect("frrvty exists").gid.to_string(),
    };
    let bin = env!("CARGO_BIN_EXE_frr-speaker");
    let as_agent = ["setpriv", "--reuid", "65532", "--regid", "65532", "--groups", &frrvty, bin];
    let log = std::fs::File::create(std::env::temp_dir().join("frr-speaker-fsimg-agent.log")).expect("log");
    let agent = inside(h, &as_agent)
        .args(["run", "--node", "node1", "--metrics-addr", "127.0.0.1:17990", "--manifests"])
        .arg(&manifests)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("agent");
    pod.agent = Some(agent);
    let applied = wait_for(T, || {
        frr_output(h, &["vtysh", "-c", "show running-config"]).contains("network 203.0.113.10/32 route-map fs-tag-")
    });
    assert!(applied.is_some(), "the non-root agent drives FRR over the vty sockets");
    let written = wait_for(T, || output(h, &["stat", "-c", "%u %a", "/etc/frr/frr.conf"]).trim() == "65532 600");
    assert!(written.is_some(), "frr.conf written by the agent, mode 0600");
    let status = inside(h, &as_agent).arg("status").output().expect("status");
    assert!(status.status.success(), "frr-speaker status as the agent: {}", String::from_utf8_lossy(&status.stderr));
    // The peer is not there (no session), so it is listed with nothing advertised.
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("127.0.0.2  default"),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );

    // The agent goes away and the FRR container restarts: FRR comes back from the agent's file.
    if let Some(mut a) = pod.agent.take() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(a.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let _ = a.wait();
    }
    pod.stop_frr();
    pod.start_frr();
    let back =
        wait_for(T, || frr_output(h, &["vtysh", "-c", "show running-config"]).contains("network 203.0.113.10/32"));
    assert!(back.is_some(), "the restarted FRR container loads the agent's frr.conf");
    // Passed: its logs and manifests go (a failing run keeps them to be read).
    let _ = std::fs::remove_dir_all(&manifests);
    for f in ["frr-speaker-fsimg-frr.log", "frr-speaker-fsimg-agent.log"] {
        let _ = std::fs::remove_file(std::env::temp_dir().join(f));
    }
}

/// A peer on the loopback network (the only one in this namespace: no multi-hop needed), and
/// `web` with a ready endpoint on node1.
fn config() -> String {
    let mut objs = vec![
        objects::peer("router", "127.0.0.2", 64500).build(),
        objects::pool("public", &["203.0.113.0/24"]),
        objects::advertisement("public", serde_json::json!({})),
    ];
    objs.extend(objects::service("web", &["203.0.113.10"]).on(1).build());
    objects::yaml(&objs)
}
