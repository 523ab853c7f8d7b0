//! Faults in the lab, one agent and FRR against the router: the disk under --frr-config full, the
//! manifests directory removed and created again, bgpd killed in the middle of a large apply, bgpd
//! hanging (stopped) while a change is applied, the wall clock jumping a year forward and a day
//! back. Nothing announced is lost, and the agent recovers without being restarted.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::objects;
use common::{wait_for, Lab, RouteMonitor, RouterOpts};

const T: Duration = Duration::from_secs(60);

/// Peers to the router over both families, one pool for both, one advertisement.
fn config() -> String {
    objects::yaml(&[
        objects::peer("router-v4", "192.0.2.1", 64500).fast().build(),
        objects::peer("router-v6", "2001:db8::1", 64500).fast().build(),
        objects::pool("public", &["203.0.113.0/24", "2001:db8:1000::/116"]),
        objects::advertisement("public", serde_json::json!({})),
    ])
}

/// Services `prefix`1..=n with one ingress IP each from `ip(i)`, each with a ready endpoint on node1.
fn services(prefix: &str, n: usize, ip: impl Fn(usize) -> String) -> String {
    (1..=n).map(|i| objects::service(&format!("{prefix}{i}"), &[&ip(i)]).on(1).yaml()).collect()
}

fn v4(lab: &Lab) -> u64 {
    let v = common::vtysh_json(&lab.router(), "show bgp ipv4 unicast statistics json");
    v["ipv4Unicast"][0]["totalPrefixes"].as_u64().unwrap_or(0)
}

fn v6(lab: &Lab) -> u64 {
    let v = common::vtysh_json(&lab.router(), "show bgp ipv6 unicast statistics json");
    v["ipv6Unicast"][0]["totalPrefixes"].as_u64().unwrap_or(0)
}

/// A small tmpfs over the node's FRR config directory (where --frr-config points), unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: std::path::PathBuf, size: &str) -> SmallDisk {
        let st = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "none"]).arg(&dir).status();
        assert!(st.is_ok_and(|s| s.success()), "mount tmpfs");
        SmallDisk(dir)
    }

    fn resize(&self, size: &str) {
        let st = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status();
        assert!(st.is_ok_and(|s| s.success()), "remount");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn disk_full_manifests_dir_gone_and_bgpd_killed_mid_apply() {
    let mut lab = Lab::new("fsf", 1, &RouterOpts::default());
    let conf_dir = std::path::Path::new("/etc/frr").join(lab.node(1));
    // 4 KiB: the rendered config for 200 Services (about 12 KiB) does not fit.
    let disk = SmallDisk::mount(conf_dir.clone(), "4k");
    lab.put("config.yaml", &config());
    lab.put("a.yaml", &services("a", 200, |i| format!("203.0.113.{i}")));
    lab.start_agent(1);

    // Disk full: FRR gets the config all the same; frr.conf follows once there is room.
    assert!(wait_for(T, || v4(&lab) == 200).is_some(), "200 routes although frr.conf cannot be written");
    let log = std::fs::read_to_string(lab.agent_log(1)).unwrap_or_default();
    assert!(log.contains("cannot write frr.conf"), "the write failure is logged");
    let conf = conf_dir.join("frr.conf");
    assert!(!std::fs::read_to_string(&conf).unwrap_or_default().contains("network 203.0.113.200/32"));
    assert!(
        std::fs::read_dir(&conf_dir).map(|d| d.count()).unwrap_or(0) == 0,
        "no temp file left behind on the full disk"
    );
    disk.resize("1m");
    let written =
        wait_for(T, || std::fs::read_to_string(&conf).unwrap_or_default().contains("network 203.0.113.200/32"));
    assert!(written.is_some(), "frr.conf written once the disk has room, without a restart");

    // The manifests directory disappears (a ConfigMap volume remounted, say), then comes back.
    let monitor = RouteMonitor::start(&lab.router(), "-4");
    std::thread::sleep(Duration::from_millis(500));
    monitor.drain();
    let aside = lab.manifests.with_extension("aside");
    let _ = std::fs::remove_dir_all(&aside);
    std::fs::rename(&lab.manifests, &aside).expect("move the directory away");
    std::thread::sleep(Duration::from_secs(4));
    let deleted: Vec<String> = monitor.lines().into_iter().filter(|l| l.starts_with("Deleted")).collect();
    assert!(deleted.is_empty(), "withdrawn while the directory was gone: {deleted:?}");
    assert_eq!(v4(&lab), 200);
    std::fs::create_dir_all(&lab.manifests).expect("recreate");
    lab.put("config.yaml", &config());
    lab.put("a.yaml", &services("a", 199, |i| format!("203.0.113.{i}")));
    std::fs::remove_dir_all(&aside).expect("cleanup");
    assert!(wait_for(T, || v4(&lab) == 199).is_some(), "the recreated directory is read");
    let mut deleted: Vec<String> = Vec::new();
    wait_for(T, || {
        deleted.extend(monitor.lines().into_iter().filter(|l| l.starts_with("Deleted")));
        !deleted.is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    deleted.extend(monitor.lines().into_iter().filter(|l| l.starts_with("Deleted")));
    assert_eq!(deleted.len(), 1, "only the removed Service was withdrawn: {deleted:?}");

    // bgpd killed while it takes 3,000 new prefixes; started again, it gets everything.
    lab.put("b.yaml", &services("b", 3000, |i| format!("2001:db8:1000::{i:x}")));
    let node = lab.node(1);
    let started = wait_for(T, || v6(&lab) > 0);
    let pid = common::daemon_pid(&node, "bgpd");
    let partial = v6(&lab);
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    println!("bgpd killed when the router had {partial} of 3000 IPv6 prefixes ({started:?} after the change)");
    std::thread::sleep(Duration::from_millis(500));
    common::daemon_start(&node, "bgpd");
    let all = wait_for(T, || v6(&lab) == 3000 && v4(&lab) == 199);
    assert!(all.is_some(), "after bgpd's restart: {} IPv6, {} IPv4 at the router", v6(&lab), v4(&lab));
    drop(disk);
}

/// The agent's frr_speaker_last_apply_timestamp_seconds: the wall clock as the agent sees it.
fn last_apply_stamp(lab: &Lab) -> i64 {
    let m = lab.metrics(1);
    let line = m.lines().find(|l| l.starts_with("frr_speaker_last_apply_timestamp_seconds ")).unwrap_or("");
    line.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) as i64
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

#[test]
fn hanging_bgpd_and_clock_jumps() {
    let mut lab = Lab::new("hng", 1, &RouterOpts::default());
    // Short timeouts so that a stopped bgpd is given up on within the test.
    lab.agent_args = ["--frr-timeout", "2", "--apply-timeout", "3"].map(String::from).to_vec();
    // The agent's wall clock comes from this file (libfaketime); its monotonic clock is the real
    // one, as on a host whose clock is stepped (NTP, an operator's `date -s`).
    let clock = std::env::temp_dir().join("frr-speaker-hng-clock");
    std::fs::write(&clock, "+0\n").expect("clock file");
    lab.agent_env = vec![
        ("LD_PRELOAD".into(), FAKETIME.into()),
        ("FAKETIME_TIMESTAMP_FILE".into(), clock.display().to_string()),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ];
    assert!(std::path::Path::new(FAKETIME).exists(), "libfaketime installed (make deps)");
    lab.put("config.yaml", &config());
    lab.put("a.yaml", &services("a", 20, |i| format!("203.0.113.{i}")));
    lab.start_agent(1);
    assert!(wait_for(T, || v4(&lab) == 20).is_some(), "20 routes at the router");
    assert!(wait_for(T, || last_apply_stamp(&lab) > 0).is_some(), "an apply recorded");
    let pid = lab.agent_pid(1).expect("agent");
    let monitor = RouteMonitor::start(&lab.router(), "-4");
    std::thread::sleep(Duration::from_millis(500));
    monitor.drain();
    let sessions = lab.session("192.0.2.11");

    // bgpd stops answering (SIGSTOP: its socket still accepts connections) while a Service is added.
    common::signal_daemon(&lab.node(1), "bgpd", nix::sys::signal::Signal::SIGSTOP);
    std::thread::sleep(Duration::from_millis(300));
    lab.put("b.yaml", &services("b", 1, |_| "203.0.113.100".into()));
    // The fast apply times out (3 s), then the reconcile's `show running-config` (2 s): the
    // apply fails and is retried with backoff (bgpd's hold time at the router is 9 s).
    let timed_out = wait_for(Duration::from_secs(7), || {
        let log = std::fs::read_to_string(lab.agent_log(1)).unwrap_or_default();
        log.lines().any(|l| l.contains("FRR keeps what it runs") && l.contains("timed out after 2s"))
    });
    common::signal_daemon(&lab.node(1), "bgpd", nix::sys::signal::Signal::SIGCONT);
    assert!(timed_out.is_some(), "the agent gives up on the stopped bgpd and says so");
    let back = wait_for(T, || v4(&lab) == 21);
    println!(
        "apply failed on the stopped bgpd after {timed_out:?}; after SIGCONT the route reached the router in {back:?}"
    );
    assert!(back.is_some(), "the change is applied once bgpd answers again, without an agent restart");
    assert_eq!(lab.agent_pid(1), Some(pid), "same agent process");
    assert_eq!(lab.session("192.0.2.11"), sessions, "the BGP session did not reset");
    // A later change takes the fast path again (the agent is not stuck in backoff).
    lab.put("c.yaml", &services("c", 1, |_| "203.0.113.101".into()));
    let quick = wait_for(T, || v4(&lab) == 22);
    println!("next change after recovery: {quick:?}");
    assert!(quick.is_some_and(|d| d < Duration::from_secs(3)), "next change applied promptly: {quick:?}");

    // The wall clock jumps a year forward, then a day back: changes still land at once.
    for (offset, secs, n, ip) in
        [("+31536000", 31_536_000i64, 23, "203.0.113.102"), ("-86400", -86_400, 24, "203.0.113.103")]
    {
        std::fs::write(&clock, format!("{offset}\n")).expect("clock file");
        std::thread::sleep(Duration::from_millis(200));
        lab.put(&format!("jump{n}.yaml"), &services(&format!("j{n}-"), 1, |_| ip.to_string()));
        let took = wait_for(T, || v4(&lab) == n);
        println!("clock {offset}s: change at the router in {took:?}");
        assert!(took.is_some_and(|d| d < Duration::from_secs(3)), "change after a clock jump of {offset}s: {took:?}");
        let stamp = last_apply_stamp(&lab);
        assert!((stamp - (unix_now() + secs)).abs() < 60, "the agent's clock moved by {offset}s (stamp {stamp})");
    }

    // A manifest replaced by one with the same size and an older modification time (written
    // while the clock was behind) is read all the same: the cache compares stamps, never orders them.
    let staged = std::env::temp_dir().join("frr-speaker-hng-staged.yaml");
    let old = services("b", 1, |_| "203.0.113.100".into());
    let new = services("b", 1, |_| "203.0.113.200".into());
    assert_eq!(old.len(), new.len());
    std::fs::write(&staged, &new).expect("staged");
    let st = Command::new("touch").args(["-d", "2 days ago"]).arg(&staged).status().expect("touch");
    assert!(st.success());
    std::fs::rename(&staged, lab.manifests.join("b.yaml")).expect("same filesystem (temp dir)");
    let replaced = wait_for(T, || lab.next_hops("203.0.113.200/32").len() == 1 && v4(&lab) == 24);
    assert!(replaced.is_some(), "the older-stamped file was read");

    let deleted: Vec<String> = monitor.lines().into_iter().filter(|l| l.starts_with("Deleted")).collect();
    assert_eq!(deleted.len(), 1, "only the replaced address was withdrawn: {deleted:?}");
    assert!(deleted[0].contains("203.0.113.100"), "{deleted:?}");
    assert_eq!(lab.agent_pid(1), Some(pid), "never restarted");
    let _ = std::fs::remove_file(&clock);
}
