//! Every expected frr.conf of the golden cases (tests/golden/*/frr.conf) passes FRR's own parser
//! (`vtysh --dryrun`) of the nodes' FRR, on each version of the matrix (common::frr_root).

use crate::common;

#[test]
fn golden_configs_pass_frr_parser() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut confs: Vec<_> = std::fs::read_dir(&root)
        .expect("tests/golden")
        .flatten()
        .map(|e| e.path().join("frr.conf"))
        .filter(|p| p.exists())
        .collect();
    confs.sort();
    for conf in &confs {
        if let Err(msg) = common::dryrun(conf) {
            panic!("FRR {} rejects {}:\n{msg}", common::node_frr_version(), conf.display());
        }
    }
    assert!(confs.len() >= 20, "only {} golden configs were checked by FRR", confs.len());
}
