//! Bench (not a test): the agent's own share of a change, without FRR. For 10,000 and 100,000
//! IPv4 Services (198.18.0.0/15) on one node: the full pipeline (desired state + frr.conf), then
//! one Service added: the pipeline again and the diff the driver sends to FRR. Prints a table of
//! each step (min / median of runs) and the process's peak RSS.

use std::time::{Duration, Instant};

use frr_speaker::desired::{compute, Options};
use frr_speaker::frr::render::render;
use frr_speaker::index::{Object, Snapshot};
use frr_speaker::pipeline;

#[path = "support/snapshot.rs"]
mod objects;

/// The i-th address of 198.18.0.0/15.
fn ip(i: usize) -> String {
    let n = 0xc612_0000u32 + i as u32 + 1;
    std::net::Ipv4Addr::from(n).to_string()
}

fn service(i: usize) -> [Object; 2] {
    objects::service(&format!("svc-{i}"), ip(i))
}

fn snapshot(n: usize) -> Snapshot {
    objects::snapshot(n, "192.0.2.1", "198.18.0.0/15", ip)
}

/// Min and median of `runs` timings of `f`.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (T, Duration, Duration) {
    let mut ts = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        ts.push(t.elapsed());
    }
    ts.sort();
    (last.expect("runs > 0"), ts[0], ts[ts.len() / 2])
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let opts = Options::new("node1");
    println!("\npipeline: the agent's own work per change, no FRR (min / median ms)");
    println!("| Services | step | min | median |");
    println!("|---|---|---|---|");
    for n in [10_000, 100_000] {
        let runs = if n > 10_000 { 5 } else { 11 };
        let mut snap = snapshot(n);
        let (state, c_min, c_med) = time(runs, || compute(&snap, &opts).state.expect("valid"));
        let (before_conf, r_min, r_med) = time(runs, || render(&state).expect("renders"));
        let (before, t_min, t_med) = time(runs, || before_conf.text());
        let row = |step: &str, min: Duration, med: Duration| println!("| {n} | {step} | {} | {} |", ms(min), ms(med));
        row("compute desired state", c_min, c_med);
        row("render frr.conf (all but the `network` lines, which stay maps)", r_min, r_med);
        row(&format!("the whole text of frr.conf ({} KiB: file, reconcile)", before.len() / 1024), t_min, t_med);
        // A source publishes a snapshot per change: copy-on-write of what the pipeline still reads.
        let (_copy, s_min, s_med) = time(runs, || snap.clone());
        row("snapshot copy (a source event while the last one is held)", s_min, s_med);
        for o in service(n) {
            snap.apply(o);
        }
        let (after, p_min, p_med) =
            time(runs, || pipeline::run(&snap, &[], &opts).config.expect("valid").expect("renders"));
        row("one Service added: full pipeline (compute + render)", p_min, p_med);
        // The agent's pipeline: incremental desired state, then render. Each timed run adds the
        // Service to a snapshot without it (taken out again, untimed).
        let mut pipe = pipeline::Pipeline::default();
        let mut ts = Vec::new();
        let remove = |snap: &mut Snapshot| {
            for o in service(n) {
                snap.delete(o.kind(), &o.key());
            }
        };
        let rendered = |(out, _): (pipeline::Output, _)| out.config.expect("valid").expect("renders");
        remove(&mut snap);
        let mut prev = rendered(pipe.run(&snap, &[], &opts));
        let mut ds = Vec::new();
        for _ in 0..runs {
            for o in service(n) {
                snap.apply(o);
            }
            let t = Instant::now();
            let (out, mode) = pipe.run(&snap, &[], &opts);
            ts.push(t.elapsed());
            assert_eq!(mode, frr_speaker::desired::memo::Mode::Services(1));
            let out = out.config.expect("valid").expect("renders");
            let t = Instant::now();
            let (d, networks_only) = frr_speaker::frr::driver::conf_delta(&prev.conf, &out.conf);
            ds.push(t.elapsed());
            assert!(networks_only && d.changes == 1, "{}", d.script);
            assert_eq!(out.conf, after.conf);
            remove(&mut snap);
            prev = rendered(pipe.run(&snap, &[], &opts));
        }
        for o in service(n) {
            snap.apply(o);
        }
        ts.sort();
        row("one Service added: the agent's incremental pipeline (compute + render)", ts[0], ts[ts.len() / 2]);
        ds.sort();
        row("one Service added: the driver's fast path (from the maps)", ds[0], ds[ds.len() / 2]);
        let (delta, d_min, d_med) = time(runs, || {
            frr_speaker::frr::diff::diff(
                &frr_speaker::frr::config::parse(&before),
                &frr_speaker::frr::config::parse(&after.conf.text()),
            )
        });
        assert_eq!(delta.changes, 1, "{}", delta.script);
        row("one Service added: parse + structural diff (reconcile)", d_min, d_med);
        let after_text = after.conf.text();
        let (fast, f_min, f_med) = time(runs, || frr_speaker::frr::driver::change_delta(&before, &after_text).0);
        assert_eq!(fast, delta, "the fast path's script is the structural diff's");
        row("one Service added: the texts' `network` line walk (a config known only as text)", f_min, f_med);
    }
    println!("| | bench process peak RSS | {} MiB | |", peak_rss_kib() / 1024);
}
