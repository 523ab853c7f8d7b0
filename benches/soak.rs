//! Soak (a bench, not a test; `make soak`): SOAK_CHANGES (default 10,000) random valid changes
//! against one agent and FRR peering with the router: Services added, removed and moved between
//! IPs, endpoints made ready and not ready, advertisement communities changed. Prints the agent's
//! RSS after warm-up and at the end, its open file descriptors, zombie processes, and whether the
//! router ends with exactly what the last manifests announce.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::objects;
use common::{wait_for, Lab, RouterOpts};

/// The peer, the pool and the advertisement with these communities.
fn config(communities: &[String]) -> String {
    objects::yaml(&[
        objects::peer("router", "192.0.2.1", 64500).fast().build(),
        objects::pool("public", &["203.0.113.0/24"]),
        objects::advertisement("public", serde_json::json!({"communities": communities})),
    ])
}

/// A small deterministic generator (xorshift), so a run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn service(name: &str, ip: u8, ready: bool) -> String {
    objects::service(name, &[&format!("203.0.113.{ip}")]).endpoint("198.51.100.1", "node1", Some(ready)).yaml()
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

fn zombies() -> usize {
    let out = std::process::Command::new("ps").args(["-eo", "stat="]).output().expect("ps");
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with('Z')).count()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let changes: usize = std::env::var("SOAK_CHANGES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let mut lab = Lab::new("fssoak", 1, &RouterOpts::default());
    lab.put("config.yaml", &config(&[]));
    lab.start_agent(1);
    let pid = lab.agent_pid(1).expect("agent running");
    let zombies_before = zombies();
    // name -> (ip, ready)
    let mut svcs: BTreeMap<String, (u8, bool)> = BTreeMap::new();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let warmup = changes / 5;
    let (mut rss_warm, mut fds_warm) = (0, 0);
    let t0 = Instant::now();
    for n in 0..changes {
        match rng.below(10) {
            0..=3 => {
                let name = format!("s{}", rng.below(120));
                let ip = 1 + rng.below(250) as u8;
                svcs.insert(name.clone(), (ip, true));
                lab.put(&format!("{name}.yaml"), &service(&name, ip, true));
            }
            4..=5 => {
                if let Some(name) = svcs.keys().nth(rng.below(svcs.len().max(1) as u64) as usize).cloned() {
                    svcs.remove(&name);
                    lab.remove(&format!("{name}.yaml"));
                }
            }
            6..=7 => {
                if let Some(name) = svcs.keys().nth(rng.below(svcs.len().max(1) as u64) as usize).cloned() {
                    let e = svcs.get_mut(&name).expect("present");
                    e.1 = !e.1;
                    lab.put(&format!("{name}.yaml"), &service(&name, e.0, e.1));
                }
            }
            _ => {
                let c = rng.below(65536);
                lab.put("config.yaml", &config(&[format!("65000:{c}")]));
            }
        }
        // About 100 changes a second: most are applied one by one (an apply takes a few ms),
        // some arrive together and collapse.
        if n % 2 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        if n + 1 == warmup {
            std::thread::sleep(Duration::from_secs(2));
            rss_warm = common::proc_status_kib(pid, "VmRSS:");
            fds_warm = fds(pid);
        }
    }
    let elapsed = t0.elapsed();
    // The router ends with exactly the announced set: distinct IPs of ready Services.
    let mut want: Vec<String> =
        svcs.values().filter(|(_, ready)| *ready).map(|(ip, _)| format!("203.0.113.{ip}/32")).collect();
    want.sort();
    want.dedup();
    let got = || {
        let v = common::vtysh_json(&lab.router(), "show bgp ipv4 unicast json");
        let mut p: Vec<String> = v["routes"].as_object().map(|r| r.keys().cloned().collect()).unwrap_or_default();
        p.sort();
        p
    };
    let converged = wait_for(Duration::from_secs(60), || got() == want);
    std::thread::sleep(Duration::from_secs(2));
    let (rss_end, fds_end, hwm) =
        (common::proc_status_kib(pid, "VmRSS:"), fds(pid), common::proc_status_kib(pid, "VmHWM:"));
    let growth = (rss_end as f64 - rss_warm as f64) / rss_warm.max(1) as f64 * 100.0;
    println!("\nSoak: {changes} random changes in {:.1} s, FRR 8.4, 1 node", elapsed.as_secs_f64());
    println!("| measurement | result |");
    println!("|---|---|");
    println!("| agent RSS after warm-up ({warmup} changes) | {} KiB |", rss_warm);
    println!("| agent RSS at the end | {} KiB ({growth:+.1}%) |", rss_end);
    println!("| agent peak RSS (VmHWM) | {hwm} KiB |");
    println!("| open fds after warm-up / at the end | {fds_warm} / {fds_end} |");
    println!("| zombie processes before / after | {zombies_before} / {} |", zombies());
    println!(
        "| router matches the last manifests ({} prefixes) | {} |",
        want.len(),
        match converged {
            Some(t) => format!("yes, {:.2} s after the last change", t.as_secs_f64()),
            None => format!("NO: router has {}", got().len()),
        }
    );
}
