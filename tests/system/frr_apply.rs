//! The driver against a real FRR (the nodes' FRR of the matrix: Debian's 8.4, or 10.x from
//! FRR_SPEAKER_FRR_ROOT): every golden config, applied one after the
//! other to one running FRR, is reached exactly (nothing refused, nothing left over), and the
//! running config then diffs empty against the rendered one, which proves that we render what
//! FRR's `show running-config` prints.

use crate::common;

use frr_speaker::frr::config::parse;
use frr_speaker::frr::diff::diff_owned;
use frr_speaker::frr::driver::{reconcile, reconcile_from, FrrControl, FrrVty};
use frr_speaker::frr::extras;

/// A namespace `<prefix>-frr` running the nodes' FRR, and the driver's client of it (answering).
async fn frr_in_namespace(prefix: &str) -> (common::Namespaces, String, FrrVty) {
    let lab = common::Namespaces::new(prefix);
    let ns = format!("{}-frr", lab.prefix);
    common::lab_sh(&["bare", &ns]);
    common::frr_start(&ns);
    let frr = FrrVty::new(common::socket_dir(&ns));
    frr.identity().await.expect("FRR is up");
    (lab, ns, frr)
}

/// Every tests/golden/*/frr.conf, in order.
fn golden_configs() -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(common::root().join("tests/golden"))
        .expect("golden")
        .flatten()
        .map(|e| e.path().join("frr.conf"))
        .filter(|p| p.exists())
        .collect();
    paths.sort();
    paths
}

#[tokio::test(flavor = "current_thread")]
async fn golden_configs_apply_and_converge() {
    let (_lab, _ns, frr) = frr_in_namespace("fsapply").await;
    let dirs = golden_configs();
    // Forwards, then backwards: every transition between neighbouring cases is exercised twice.
    let mut order = dirs.clone();
    order.extend(dirs.iter().rev().cloned());
    order.push(dirs[0].clone());
    let mut total = 0;
    let mut previous = String::new();
    for path in &order {
        let want = std::fs::read_to_string(path).expect("read");
        let report = reconcile_from(&frr, &want, &previous).await.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(report.passes <= 2, "{}: took {} passes", path.display(), report.passes);
        let running = frr.running_config().await.expect("running config");
        // The case's bgpextras (tests/golden/bgpextras) are part of what FRR must run, and the
        // previous case's leave it.
        let left = diff_owned(&parse(&running), &extras::desired(&want), &extras::owned(&want));
        assert!(left.is_empty(), "{}: still differs:\n{}", path.display(), left.script);
        let extras_left = extras::owned(&previous).into_iter().filter(|l| !want.contains(l.as_str()));
        for line in extras_left {
            assert!(
                !running.contains(&line),
                "{}: the previous case's extras line {line:?} is still there",
                path.display()
            );
        }
        previous = want.clone();
        let again = reconcile(&frr, &want).await.expect("second reconcile");
        assert_eq!(again.changes, 0, "{}: second reconcile changed something", path.display());
        total += 1;
    }
    assert!(total > 40);
}

/// FRR 10's mgmtd refuses a configuration line while another transaction holds its datastore
/// lock ("could not lock running DS"): its configuration sent to a back end that (re)connected,
/// or another session's commit. A driver that went on would leave the line's node unentered, and
/// the block's two `exit`s would close the session half way. Here staticd restarts over and over
/// and an operator's session writes a route-map of its own in a loop, while the driver moves
/// between the golden configs (their route-maps and `ip nht` lines go to mgmtd on FRR 10): every
/// apply goes through and converges. On FRR 8.4 (zebra takes those lines) the same churn must not
/// disturb the applies either.
///
/// An apply that fails is made again from the running config, as the applier does. One did, once
/// in CI on FRR 10.3: mgmtd kept its lock (or its answer) for the whole 120 s apply timeout while
/// staticd restarted. The driver now leaves a session mgmtd keeps waiting for
/// `FRONT_END_PATIENCE` (leaving it ends that session's transaction and frees its locks), and so
/// does the operator's session here; if an apply still cannot get through in a minute, the
/// failure shows what mgmtd says of its locks, transactions and back ends.
#[tokio::test(flavor = "current_thread")]
async fn applies_go_through_while_a_back_end_reconnects() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let (_lab, ns, frr) = frr_in_namespace("fsbusy").await;
    let cases: Vec<String> = golden_configs()
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .filter(|c| c.contains(" match tag ") || c.contains("ip nht"))
        .collect();
    assert!(cases.len() > 20, "golden configs with lines for the configuration front end");

    let stop = Arc::new(AtomicBool::new(false));
    let restarter = {
        let (stop, ns) = (stop.clone(), ns.clone());
        std::thread::spawn(move || {
            let mut restarts = 0;
            while !stop.load(SeqCst) {
                let pid = common::daemon_pid(&ns, "staticd");
                std::process::Command::new("kill").arg(pid.to_string()).status().expect("kill");
                let gone = Instant::now();
                while std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    assert!(gone.elapsed() < Duration::from_secs(10), "staticd did not stop");
                    std::thread::sleep(Duration::from_millis(10));
                }
                common::daemon_start(&ns, "staticd");
                restarts += 1;
                // Not faster: FRR 10.3's mgmtd itself fails under a back end that comes and goes
                // every few hundred milliseconds during commits (an assertion in
                // mgmt_txn_process_commit_cfg, seen in a stress run here), which no driver can
                // get through.
                std::thread::sleep(Duration::from_millis(400));
            }
            restarts
        })
    };
    let front_end = ["mgmtd", "zebra"]
        .iter()
        .map(|d| common::socket_dir(&ns).join(format!("{d}.vty")))
        .find(|p| p.exists())
        .expect("a configuration front end");
    let operator = {
        let stop = stop.clone();
        std::thread::spawn(move || operator_session(&front_end, &stop))
    };
    let t = Instant::now();
    let (mut applies, mut previous, mut failed) = (0, String::new(), Vec::new());
    while t.elapsed() < Duration::from_secs(8) {
        for want in cases.iter().take_while(|_| t.elapsed() < Duration::from_secs(8)) {
            let first = Instant::now();
            let report = loop {
                let attempt = match failed.last() {
                    // After a failure FRR's state is not known: from its running config.
                    Some((n, _)) if *n == applies => reconcile(&frr, want).await,
                    _ => reconcile_from(&frr, want, &previous).await,
                };
                match attempt {
                    Ok(r) => break r,
                    // FRR refusing a line is not a hiccup: it would refuse it again.
                    Err(e) if !e.is_refusal() && first.elapsed() < Duration::from_secs(60) => {
                        failed.push((applies, e.to_string()))
                    }
                    Err(e) => panic!("apply {applies} failed for a minute: {e}\n{}", mgmtd_state(&ns)),
                }
            };
            assert!(report.passes <= 2, "apply {applies}: took {} passes", report.passes);
            previous = want.clone();
            applies += 1;
        }
    }
    stop.store(true, SeqCst);
    let restarts = restarter.join().expect("restarter");
    let commits = operator.join().expect("operator");
    let running = frr.running_config().await.expect("running config");
    let left = diff_owned(&parse(&running), &extras::desired(&previous), &extras::owned(&previous));
    assert!(left.is_empty(), "still differs after the churn:\n{}", left.script);
    assert!(restarts >= 3, "staticd restarted {restarts} times");
    assert!(commits >= 100, "the operator's session committed {commits} lines");
    eprintln!(
        "{applies} applies while staticd restarted {restarts} times and an operator committed {commits} lines; \
         failed attempts (made again): {failed:?}"
    );
    assert!(failed.len() <= applies / 10, "failed attempts: {failed:?}");
}

/// What FRR 10's mgmtd says of its datastore locks, transactions and back ends, and the end of
/// its log (FRR 8 has no mgmtd: empty).
fn mgmtd_state(ns: &str) -> String {
    let log = std::path::Path::new("/tmp/frr-speaker-lab").join(format!("{ns}-mgmtd.log"));
    if !common::socket_dir(ns).join("mgmtd.pid").exists() {
        return String::new();
    }
    let pid = common::daemon_pid(ns, "mgmtd");
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        return format!("mgmtd is gone; its log ends:\n{}", lines[lines.len().saturating_sub(25)..].join("\n"));
    }
    let shows = ["show mgmt datastore all", "show mgmt transaction all", "show mgmt backend-adapter all"];
    let root = common::frr_root().unwrap_or_default();
    let show = |c: &str| {
        let lab = common::root().join("e2e/lab.sh");
        let out =
            std::process::Command::new("timeout").arg("10").arg(lab).args(["vtysh", ns, &root, "--", "-c", c]).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_else(|e| e.to_string())
    };
    let said: Vec<String> = shows.iter().map(|c| format!("{c}:\n{}", show(c))).collect();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
    format!("{}\nmgmtd's log:\n{}", said.join("\n"), tail.join("\n"))
}

/// An operator's vty session adding and removing a route-map of its own until `stop`; how many
/// of its lines were taken. (Its own refused lines are its business: it starts a new session
/// when the daemon closes this one, or keeps it waiting for 5 s: a session mgmtd keeps waiting
/// holds its locks until it leaves.)
fn operator_session(socket: &std::path::Path, stop: &std::sync::atomic::AtomicBool) -> usize {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    fn send(s: &mut UnixStream, cmd: &str) -> std::io::Result<u8> {
        s.write_all(format!("{cmd}\0").as_bytes())?;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !(got.len() >= 4 && got[got.len() - 4..got.len() - 1] == [0, 0, 0]) {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            got.extend_from_slice(&buf[..n]);
        }
        Ok(got[got.len() - 1])
    }
    let mut taken = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let Ok(mut s) = UnixStream::connect(socket) else { continue };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        let _ = send(&mut s, "enable").and_then(|_| send(&mut s, "configure terminal"));
        for cmd in ["route-map operator-own permit 10", "exit", "no route-map operator-own"].iter().cycle() {
            match send(&mut s, cmd) {
                Ok(0) => taken += usize::from(*cmd != "exit"),
                Ok(_) => {}
                Err(_) => break,
            }
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    taken
}
