//! Bench (not a test): compute + render 10,000 announced prefixes, then load the rendered config
//! into a throwaway FRR in its own network namespace and time how long FRR takes to take it in,
//! and how long a one-Service change takes to apply. Prints a table.
//!
//! The prefixes are IPv6 /128s from 2001:db8::/32: the IPv4 documentation ranges hold fewer than
//! 10,000 addresses. No session is established and no packet leaves the namespace.
//! Needs root and FRR (`make bench` installs it).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use frr_speaker::desired::{compute, Options};
use frr_speaker::frr::render::render;
use frr_speaker::index::Snapshot;

#[path = "support/snapshot.rs"]
mod objects;

const SERVICES: usize = 10_000;
const NS_PREFIX: &str = "fsbench";

fn snapshot(n: usize) -> Snapshot {
    objects::snapshot(n, "2001:db8::ff", "2001:db8:1000::/112", |i| format!("2001:db8:1000::{:x}", i + 1))
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Tears the lab namespace down however the bench ends.
struct Lab(String);
impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(lab_sh()).args(["down", NS_PREFIX]).status();
        let _ = &self.0;
    }
}

fn lab_sh() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/lab.sh").display().to_string()
}

/// Prefixes in bgpd's IPv6 unicast table.
fn rib_count(ns: &str) -> usize {
    let out = sh(Command::new("vtysh").args(["-N", ns, "-c", "show bgp ipv6 unicast statistics json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    v["ipv6Unicast"][0]["totalPrefixes"].as_u64().unwrap_or(0) as usize
}

fn main() {
    let opts = Options::new("node1");
    let snap = snapshot(SERVICES);
    let mut compute_t = Duration::MAX;
    let mut render_t = Duration::MAX;
    let mut conf = String::new();
    for _ in 0..5 {
        let (out, tc) = time(|| compute(&snap, &opts));
        let state = out.state.expect("valid");
        let (c, tr) = time(|| render(&state).expect("renders").text());
        compute_t = compute_t.min(tc);
        render_t = render_t.min(tr);
        conf = c;
    }
    let mut snap2 = snapshot(SERVICES);
    for o in objects::service("svc-extra", "2001:db8:1000::ffff".into()) {
        snap2.apply(o);
    }
    let conf2 = render(&compute(&snap2, &opts).state.expect("valid")).expect("renders").text();
    let before_lines: std::collections::HashSet<&str> = conf.lines().collect();
    let added: Vec<&str> = conf2.lines().filter(|l| !before_lines.contains(l)).collect();
    let mut diff_t = Duration::MAX;
    for _ in 0..5 {
        let (d, t) = time(|| {
            frr_speaker::frr::diff::diff(
                &frr_speaker::frr::config::parse(&conf),
                &frr_speaker::frr::config::parse(&conf2),
            )
        });
        assert_eq!(d.changes, 1);
        diff_t = diff_t.min(t);
    }

    let dir = std::env::temp_dir().join("frr-speaker-bench");
    std::fs::create_dir_all(&dir).expect("tmp");
    let path = dir.join("frr.conf");
    std::fs::write(&path, &conf).expect("write");
    let (_, dry_t) = time(|| sh(Command::new("vtysh").arg("--dryrun").arg("-f").arg(&path)));

    let ns = format!("{NS_PREFIX}-router");
    let _ = Command::new(lab_sh()).args(["down", NS_PREFIX]).status();
    sh(Command::new(lab_sh()).args(["up", "0", NS_PREFIX]));
    let _lab = Lab(ns.clone());
    sh(Command::new(lab_sh()).args(["frr-start", &ns]));
    let (_, load_t) = time(|| sh(Command::new("vtysh").args(["-N", &ns, "-f"]).arg(&path)));
    let t = Instant::now();
    while rib_count(&ns) < SERVICES && t.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let in_rib_t = load_t + t.elapsed();
    let rib = rib_count(&ns);

    // A one-Service change: the lines that differ, applied in their context.
    let mut delta = String::from("router bgp 64512\n address-family ipv6 unicast\n");
    for l in &added {
        delta.push_str(l.trim_start());
        delta.push('\n');
    }
    let dpath = dir.join("delta.conf");
    std::fs::write(&dpath, &delta).expect("write");
    let (_, delta_t) = time(|| sh(Command::new("vtysh").args(["-N", &ns, "-f"]).arg(&dpath)));
    let t = Instant::now();
    while rib_count(&ns) < SERVICES + 1 && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let delta_rib_t = delta_t + t.elapsed();
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
        })
        .unwrap_or_default();

    println!(
        "\nrender_load: {SERVICES} services, 1 peer, FRR {}",
        sh(Command::new("vtysh").args(["-N", &ns, "-c", "show version"])).lines().next().unwrap_or("?")
    );
    println!("| step | result |");
    println!("|---|---|");
    println!("| compute desired state (10,000 services) | {:.1} ms |", compute_t.as_secs_f64() * 1e3);
    println!(
        "| render frr.conf ({} lines, {} KiB) | {:.1} ms |",
        conf.lines().count(),
        conf.len() / 1024,
        render_t.as_secs_f64() * 1e3
    );
    println!("| parse both configs + diff (one Service added) | {:.1} ms |", diff_t.as_secs_f64() * 1e3);
    println!("| FRR parser check (vtysh --dryrun) | {:.2} s |", dry_t.as_secs_f64());
    println!("| cold load into FRR (vtysh -f) | {:.2} s |", load_t.as_secs_f64());
    println!("| all {rib} prefixes in bgpd's RIB | {:.2} s |", in_rib_t.as_secs_f64());
    println!(
        "| one-Service change: {} line(s) differ | applied in {:.1} ms, in RIB after {:.1} ms |",
        added.len(),
        delta_t.as_secs_f64() * 1e3,
        delta_rib_t.as_secs_f64() * 1e3
    );
    println!("| bench process peak RSS | {rss} KiB |");
    assert_eq!(rib, SERVICES, "FRR did not take in every prefix");
}
