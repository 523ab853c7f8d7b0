//! The driver against a real FRR (the nodes' FRR of the matrix: Debian's 8.4, or 10.x from
//! FRR_SPEAKER_FRR_ROOT): every golden config, applied one after the
//! other to one running FRR, is reached exactly (nothing refused, nothing left over), and the
//! running config then diffs empty against the rendered one, which proves that we render what
//! FRR's `show running-config` prints.

mod common;

use frr_speaker::frr::config::parse;
use frr_speaker::frr::diff::diff_owned;
use frr_speaker::frr::driver::{reconcile, reconcile_from, FrrControl, FrrVty};
use frr_speaker::frr::extras;

#[tokio::test(flavor = "current_thread")]
async fn golden_configs_apply_and_converge() {
    let lab = common::Namespaces::new("fsapply");
    let ns = format!("{}-frr", lab.prefix);
    common::lab_sh(&["bare", &ns]);
    common::frr_start(&ns);
    let frr = FrrVty::new(common::socket_dir(&ns));
    frr.identity().await.expect("FRR is up");

    let mut dirs: Vec<_> = std::fs::read_dir(common::root().join("tests/golden"))
        .expect("golden")
        .flatten()
        .map(|e| e.path().join("frr.conf"))
        .filter(|p| p.exists())
        .collect();
    dirs.sort();
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
