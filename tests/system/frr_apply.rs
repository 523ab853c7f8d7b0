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
                std::thread::sleep(Duration::from_millis(150));
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
    let (mut applies, mut previous) = (0, String::new());
    while t.elapsed() < Duration::from_secs(8) {
        for want in cases.iter().take_while(|_| t.elapsed() < Duration::from_secs(8)) {
            let report = reconcile_from(&frr, want, &previous).await.unwrap_or_else(|e| panic!("apply {applies}: {e}"));
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
    eprintln!("{applies} applies while staticd restarted {restarts} times and an operator committed {commits} lines");
}

/// An operator's vty session adding and removing a route-map of its own until `stop`; how many
/// of its lines were taken. (Its own refused lines are its business: it starts a new session
/// when the daemon closes this one.)
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
