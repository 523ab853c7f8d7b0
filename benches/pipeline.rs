//! Bench (not a test): the agent's own share of a change, without FRR. For 10,000 and 100,000
//! IPv4 Services (198.18.0.0/15) on one node: the full pipeline (desired state + frr.conf), then
//! one Service added: the pipeline again and the diff the driver sends to FRR. Prints a table of
//! each step (min / median of runs), how far a full reconcile raises the RSS at its peak (FRR
//! replaced by an in-process stand-in that runs whatever it was given), and the process's peak RSS.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use frr_speaker::desired::{compute, Options};
use frr_speaker::frr::render::render;
use frr_speaker::index::{Object, Snapshot};
use frr_speaker::pipeline;

#[path = "support/snapshot.rs"]
mod objects;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The process's peak RSS before the last reset of VmHWM.
static PROCESS_PEAK: AtomicU64 = AtomicU64::new(0);

/// `f`'s result and how far the process's RSS rose above where it was before `f` (the peak,
/// reset through /proc/self/clear_refs). Glibc keeps freed memory a while: the rise is what `f`
/// needed at its peak beyond what was free, the figure that counts for the agent's peak RSS.
fn peak_rise<T>(f: impl FnOnce() -> T) -> (T, u64) {
    PROCESS_PEAK.fetch_max(status_kib("VmHWM:"), Ordering::Relaxed);
    let base = status_kib("VmRSS:");
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let out = f();
    let peak = status_kib("VmHWM:");
    (out, if reset { peak.saturating_sub(base) } else { 0 })
}

/// FRR for a reconcile, in process: empty until a script is applied, then running `config`
/// (made before the measurement: FRR's memory is not the agent's).
struct StandIn {
    config: String,
    applied: AtomicBool,
}

impl frr_speaker::frr::driver::FrrControl for StandIn {
    async fn identity(&self) -> Result<frr_speaker::frr::driver::FrrIdentity, frr_speaker::frr::driver::FrrError> {
        Ok(frr_speaker::frr::driver::FrrIdentity(vec![1]))
    }
    async fn running_config(&self) -> Result<String, frr_speaker::frr::driver::FrrError> {
        // What the agent reads from FRR's socket is the agent's allocation.
        Ok(if self.applied.load(Ordering::Relaxed) { self.config.clone() } else { String::new() })
    }
    async fn apply(&self, _script: &str) -> Result<(bool, String), frr_speaker::frr::driver::FrrError> {
        self.applied.store(true, Ordering::Relaxed);
        Ok((true, String::new()))
    }
    async fn command(&self, _cmd: &str) -> Result<String, frr_speaker::frr::driver::FrrError> {
        Ok(String::new())
    }
    async fn bfd_command(&self, _cmd: &str) -> Result<String, frr_speaker::frr::driver::FrrError> {
        Ok(String::new())
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

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
        // A full reconcile's heap at its peak, as the applier runs one (the desired config's text
        // made from its maps, FRR's running config read, both parsed and diffed).
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let frr = StandIn { config: after_text.clone(), applied: AtomicBool::new(false) };
        let empty = frr_speaker::frr::conf::Conf::default();
        let (report, cold) = peak_rise(|| {
            rt.block_on(frr_speaker::frr::driver::reconcile_from(&frr, &after.conf.text(), &empty.text()))
        });
        let report = report.expect("reconciles");
        assert!(report.changes > n && report.passes == 1, "{report:?}");
        let (delta, check) = peak_rise(|| {
            rt.block_on(frr_speaker::frr::driver::diff_running(
                frr.config.clone(),
                after.conf.clone(),
                after.conf.clone(),
            ))
        });
        assert!(delta.expect("diffs").is_empty());
        // The check's diff alone (FRR's config already read): at most `network` lines differ, so
        // they are compared with the maps (`diff::running_delta`), not parsed into trees.
        let (delta, c_min, c_med) = time(runs, || {
            rt.block_on(frr_speaker::frr::driver::diff_running(
                frr.config.clone(),
                after.conf.clone(),
                after.conf.clone(),
            ))
        });
        assert!(delta.expect("diffs").is_empty());
        row("a check: FRR's running config (the same config) diffed against the maps", c_min, c_med);
        println!(
            "| {n} | RSS rise: first reconcile (FRR empty: apply every line, read back, verify) | {} | |",
            mib(cold)
        );
        println!("| {n} | RSS rise: a check (FRR runs the same config: read, diff) | {} | |", mib(check));
    }
    println!(
        "| | bench process peak RSS | {} MiB | |",
        status_kib("VmHWM:").max(PROCESS_PEAK.load(Ordering::Relaxed)) / 1024
    );
}
