//! Bench (not a test): the agent against real FRR in the namespace lab, 10,000 Services announced
//! (`BENCH_SERVICES=100000` for more; manifests of 5,000 Services each)
//! to 2 peers (the router's IPv4 session, dual-stack, and its IPv6 session). Prints a table:
//! cold start, one-Service change (agent vs frr-reload.py on the same before/after configs, and
//! end-to-end latency from the manifest change to the router), 5,000 withdrawals, agent peak RSS.
//!
//! The Services use IPv6 /128s from 2001:db8:1000::/104 (the IPv4 documentation ranges are too
//! small for 10,000), the added ones 2001:db8:2000::/112. `BENCH_FRR_RELOAD_BULK=1` also times frr-reload.py withdrawing 5,000 (minutes).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::objects;
use common::{wait_for, Lab, RouterOpts};
use frr_speaker::frr::conf::Conf;
use frr_speaker::frr::driver::{apply_change, reconcile, FrrVty};

/// Services per manifest file.
const PER_FILE: usize = 5_000;

/// How many Services (`BENCH_SERVICES`, default 10,000).
fn n() -> usize {
    std::env::var("BENCH_SERVICES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// 12345 -> "12,345"
fn thousands(v: usize) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn config() -> String {
    objects::yaml(&[
        objects::peer("router-v4", "192.0.2.1", 64500)
            .set("connectTime", "2s")
            .set("dualStackAddressFamily", true)
            .build(),
        objects::peer("router-v6", "2001:db8::1", 64500).set("connectTime", "2s").build(),
        objects::pool("pool", &["2001:db8:1000::/104", "2001:db8:2000::/112"]),
        objects::advertisement("ad", serde_json::json!({"communities": ["65000:1"]})),
    ])
}

/// One Service at `ip` with an endpoint on node1.
fn service(name: &str, ip: &str) -> String {
    objects::service(name, &[ip]).endpoint("2001:db8::99", "node1", None).yaml()
}

/// Services s<from>..s<to-1> at 2001:db8:1000::<i+1>.
fn services(from: usize, to: usize) -> String {
    let base = u128::from("2001:db8:1000::".parse::<std::net::Ipv6Addr>().expect("address"));
    (from..to).map(|i| service(&format!("s{i}"), &std::net::Ipv6Addr::from(base + i as u128 + 1).to_string())).collect()
}

/// The manifest files of the Services, in order: (name, first, end).
fn files(n: usize) -> Vec<(String, usize, usize)> {
    (0..n.div_ceil(PER_FILE)).map(|f| (format!("svc-{f:03}.yaml"), f * PER_FILE, ((f + 1) * PER_FILE).min(n))).collect()
}

fn router_prefixes(lab: &Lab) -> usize {
    let v = common::vtysh_json(&lab.router(), "show bgp ipv6 unicast statistics json");
    v["ipv6Unicast"][0]["totalPrefixes"].as_u64().unwrap_or(0) as usize
}

fn render(lab: &Lab) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_frr-speaker"))
        .args(["render", "--node", "node1"])
        .arg(&lab.manifests)
        .output()
        .expect("render");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

/// Run `cmd` in the node's namespace with its FRR's tools (the host's, or those in the FRR root).
fn node_tool(lab: &Lab, cmd: &[&str]) -> std::process::Output {
    let root = common::frr_root().unwrap_or_default();
    let node = lab.node(1);
    let mut args = vec!["run", node.as_str(), root.as_str(), "--"];
    args.extend_from_slice(cmd);
    Command::new(common::root().join("e2e/lab.sh")).args(&args).output().expect("lab.sh run")
}

/// A file the node's FRR tools can read (/etc/frr is the same path inside an FRR root).
fn node_file(lab: &Lab, name: &str, text: &str) -> String {
    let path = format!("/etc/frr/{}/{name}", lab.node(1));
    std::fs::write(&path, text).expect("write");
    path
}

fn frr_reload(lab: &Lab, conf: &str) -> Duration {
    let node = lab.node(1);
    let path = node_file(lab, "bench-reload.conf", conf);
    let (confdir, rundir) = (format!("/etc/frr/{node}"), format!("/var/run/frr/{node}"));
    let t = Instant::now();
    let out = node_tool(
        lab,
        &[
            "/usr/lib/frr/frr-reload.py",
            "--reload",
            "--stdout",
            "-N",
            &node,
            "--confdir",
            &confdir,
            "--rundir",
            &rundir,
            &path,
        ],
    );
    let d = t.elapsed();
    assert!(out.status.success(), "frr-reload.py failed: {}", String::from_utf8_lossy(&out.stderr));
    d
}

fn restart_node_frr(lab: &Lab) {
    let node = lab.node(1);
    let _ = std::fs::remove_file(format!("/etc/frr/{node}/frr.conf"));
    common::lab_sh(&["frr-stop", &node]);
    common::frr_start(&node);
    assert!(wait_for(Duration::from_secs(60), || router_prefixes(lab) == 0).is_some(), "router emptied");
}

/// One-Service add/remove cycles measured.
const RUNS: usize = 50;

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// Every measurement with the node on the FRR of `common::frr_root()`: (row, result).
fn measure() -> Vec<(String, String)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut lab = Lab::new("fsbench", 1, &RouterOpts { timers: (30, 90), ..RouterOpts::default() });
    lab.put("config.yaml", &config());
    let n = n();
    let files = files(n);
    for (name, from, to) in &files {
        lab.put(name, &services(*from, *to));
    }
    // The second half of the files, withdrawn at once below.
    let second_half = &files[files.len() / 2..];
    let kept = second_half.first().map(|f| f.1).unwrap_or(n);
    let (nn, kk) = (thousands(n), thousands(n - kept));
    let long = Duration::from_secs(300);
    let mut rows: Vec<(String, String)> = Vec::new();

    // Baseline: FRR loading the same config with vtysh -f, to all prefixes at the router.
    let full = render(&lab);
    let path = node_file(&lab, "bench-full.conf", &full);
    let t = Instant::now();
    let out = node_tool(&lab, &["vtysh", "-N", &lab.node(1), "-f", &path]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    wait_for(long, || router_prefixes(&lab) == n).expect("baseline: all prefixes at the router");
    let baseline = t.elapsed();
    rows.push((format!("cold start, `vtysh -f` of the rendered config: all {nn} at the router"), ms(baseline)));

    // The agent's cold start on an empty FRR.
    restart_node_frr(&lab);
    let t = Instant::now();
    lab.start_agent(1);
    wait_for(long, || router_prefixes(&lab) == n).expect("agent: all prefixes at the router");
    let cold = t.elapsed();
    rows.push((
        format!(
            "cold start, agent (read {} objects, compute, render, apply): all {nn} at the router",
            thousands(2 * n)
        ),
        format!("{} ({:.2}x vtysh -f)", ms(cold), cold.as_secs_f64() / baseline.as_secs_f64()),
    ));

    // One Service added, end to end: manifest written -> route in the router's kernel table,
    // observed with `ip monitor` (no polling: polling with vtysh would load the 2 cores). First
    // the very next change (FRR still digesting the cold start), then, once FRR is idle, RUNS
    // add/remove cycles.
    let monitor = common::RouteMonitor::start(&lab.router(), "-6");
    let first_mark = lab.agent_log_len(1);
    let ip = "2001:db8:2000::e000";
    monitor.drain();
    let t = Instant::now();
    lab.put("extra.yaml", &service("extra-first", ip));
    let first = monitor.wait_for(&format!("{ip} "), false, Duration::from_secs(60)).expect("route") - t;
    let first_share = lab.agent_shares(1, first_mark);
    lab.remove("extra.yaml");
    monitor.wait_for(&format!("{ip} "), true, Duration::from_secs(60)).expect("withdrawn");
    rows.push((
        "the first change right after the cold start: route in the router's kernel / the agent's share".into(),
        format!("{} / {:.0} ms", ms(first), first_share.last().copied().unwrap_or(f64::NAN)),
    ));
    assert!(lab.wait_frr_idle(Duration::from_secs(120)), "FRR did not settle after the cold start");
    let mut lat = Vec::new();
    let log_mark = lab.agent_log_len(1);
    for k in 0..RUNS {
        let ip = format!("2001:db8:2000::f{k:03x}");
        let svc = service(&format!("extra{k}"), &ip);
        monitor.drain();
        let t = Instant::now();
        lab.put("extra.yaml", &svc);
        let seen =
            monitor.wait_for(&format!("{ip} "), false, Duration::from_secs(30)).expect("new route at the router");
        lat.push(seen - t);
        lab.remove("extra.yaml");
        monitor.wait_for(&format!("{ip} "), true, Duration::from_secs(30)).expect("withdrawn");
        std::thread::sleep(Duration::from_millis(300));
    }
    lat.sort();
    rows.push((
        format!(
            "one Service added, FRR idle: manifest written -> route in the router's kernel ({RUNS} runs: min / median / max)"
        ),
        format!("{} / {} / {}", ms(lat[0]), ms(lat[RUNS / 2]), ms(lat[RUNS - 1])),
    ));
    // The agent's own share of each of those changes (added and removed), from its log: file
    // event -> FRR accepted the lines (`since_event_us` of each "applied").
    let share = lab.agent_shares(1, log_mark);
    assert!(share.len() >= RUNS, "an `applied` line with since_event_us per change: {share:?}");
    rows.push((
        format!(
            "agent's share of a change, FRR idle: file event -> FRR accepted it ({} changes: p50 / p99 / max)",
            share.len()
        ),
        common::percentiles(&share),
    ));

    // Agent path vs frr-reload.py on the same before/after configs (agent stopped meanwhile).
    lab.stop_agent(1);
    let before = render(&lab);
    lab.put("extra.yaml", &service("extra", "2001:db8:2000::fff0"));
    let after = render(&lab);
    lab.remove("extra.yaml");
    let frr = FrrVty::new(common::socket_dir(&lab.node(1)));
    rt.block_on(reconcile(&frr, &before)).expect("known state");
    std::thread::sleep(Duration::from_millis(500));
    monitor.drain();
    let t = Instant::now();
    let (b, a) = (Conf::from_text(before.clone()), Conf::from_text(after.clone()));
    let rep = rt.block_on(apply_change(&frr, &b, &a)).expect("agent apply");
    let agent_one = t.elapsed();
    let frr_part = monitor.wait_for("2001:db8:2000::fff0 ", false, Duration::from_secs(30)).expect("route") - t;
    rows.push((
        "FRR's share: one `network` line given to the node's FRR -> route in the router's kernel".into(),
        ms(frr_part),
    ));
    let t = Instant::now();
    rt.block_on(reconcile(&frr, &before)).expect("revert");
    let full_one = t.elapsed();
    // frr-reload.py takes minutes at 100,000 lines: only at the default size.
    let reload_one = (n <= 10_000).then(|| frr_reload(&lab, &after));
    let left = rt.block_on(reconcile(&frr, &after)).expect("check");
    rows.push((
        format!("one-Service change applied: agent fast path (diff + vty socket, {} line)", rep.changes),
        ms(agent_one),
    ));
    rows.push(("one-Service change applied: agent full reconcile (read + diff + apply + verify)".into(), ms(full_one)));
    rows.push((
        format!("one-Service change applied: frr-reload.py --reload (left {} line(s) for the agent)", left.changes),
        match reload_one {
            Some(d) => format!("{} ({:.0}x slower)", ms(d), d.as_secs_f64() / agent_one.as_secs_f64()),
            None => "not run at this size".into(),
        },
    ));
    rt.block_on(reconcile(&frr, &before)).expect("revert");

    // Half withdrawn at once (the second half of the manifests), through the agent, once it has
    // read everything and checked FRR (`/readyz`).
    lab.start_agent(1);
    wait_for(long, || lab.agent_ready(1)).expect("agent ready");
    wait_for(long, || router_prefixes(&lab) == n).expect("steady");
    std::thread::sleep(Duration::from_secs(1));
    let t = Instant::now();
    for (name, _, _) in second_half {
        lab.remove(name);
    }
    wait_for(long, || router_prefixes(&lab) == kept).expect("half withdrawn at the router");
    rows.push((format!("{kk} Services removed: manifests removed -> withdrawn at the router"), ms(t.elapsed())));
    let rss = std::fs::read_to_string(format!("/proc/{}/status", lab.agent_pid(1).expect("agent")))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
        })
        .unwrap_or_default();
    rows.push((
        format!("agent peak RSS (VmHWM) with {nn} Services"),
        format!("{} MiB", rss.parse::<u64>().unwrap_or(0) / 1024),
    ));

    if std::env::var_os("BENCH_FRR_RELOAD_BULK").is_some() {
        lab.stop_agent(1);
        for (name, from, to) in second_half {
            lab.put(name, &services(*from, *to));
        }
        let full = render(&lab);
        rt.block_on(reconcile(&frr, &full)).expect("back to all");
        for (name, _, _) in second_half {
            lab.remove(name);
        }
        let half = render(&lab);
        let d = frr_reload(&lab, &half);
        rows.push((format!("{kk} withdrawn by frr-reload.py --reload (same before/after)"), ms(d)));
    }

    rows
}

fn main() {
    // The FRR versions to measure side by side: the host's, and FRR 10 from the root that
    // `make frr10` builds (BENCH_FRR_ROOT, or the default cache path) when it exists.
    let cache =
        std::env::var("HOME").map(|h| format!("{h}/.cache/frr-speaker-testbin/frr-root-trixie")).unwrap_or_default();
    let root10 = std::env::var("BENCH_FRR_ROOT").unwrap_or(cache);
    let mut roots = vec![String::new()];
    if std::path::Path::new(&root10).join("usr/lib/frr/bgpd").exists() {
        roots.push(root10);
    } else {
        eprintln!("no FRR 10 root at {root10} (make frr10): measuring the host's FRR only");
    }
    let mut columns: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for root in roots {
        // Read by tests/common (the lab's nodes run this FRR); set before any thread starts.
        std::env::set_var("FRR_SPEAKER_FRR_ROOT", &root);
        let version = common::node_frr_version();
        eprintln!("== lab_apply with the node on FRR {version}");
        columns.push((version, measure()));
    }
    println!("\nlab_apply: {} Services (IPv6 /128), 1 node, 2 peers, router on FRR 8.4.4, 2 cores", thousands(n()));
    let heads: Vec<String> = columns.iter().map(|(v, _)| format!("node on FRR {v}")).collect();
    println!("| measurement | {} |\n|---|{}", heads.join(" | "), "---|".repeat(heads.len()));
    for (i, (k, _)) in columns[0].1.iter().enumerate() {
        let cells: Vec<&str> =
            columns.iter().map(|(_, rows)| rows.get(i).map(|r| r.1.as_str()).unwrap_or("-")).collect();
        println!("| {k} | {} |", cells.join(" | "));
    }
}
