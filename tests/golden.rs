//! Golden tests: tests/golden/<case>/ holds input manifests (*.yaml), `args` (node=..., optional
//! connected=CIDR, lb_class=..., always_block=CIDR,..., frrk8s_namespace=...), and the expected `frr.conf` (absent when the input is invalid)
//! and `problems.txt`. `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the expectations; a
//! reviewer reads the diff. Every expected frr.conf must also pass FRR's own parser: a system test
//! (tests/system/golden_frr.rs), since it needs FRR.

use std::fs;
use std::path::{Path, PathBuf};

use frr_speaker::desired::Options;
use frr_speaker::pipeline;
use frr_speaker::sources::files;

fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut dirs: Vec<PathBuf> =
        fs::read_dir(&root).expect("tests/golden exists").flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

/// (frr.conf if valid, problems one per line)
fn run_case(dir: &Path) -> (Option<String>, String) {
    let mut opts = Options::new("node1");
    let args = fs::read_to_string(dir.join("args")).unwrap_or_default();
    for line in args.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line.split_once('=').expect("args lines are key=value");
        match k {
            "node" => opts.node = v.to_string(),
            "connected" => opts.connected = Some(v.split(',').map(|c| c.parse().expect("CIDR")).collect()),
            "lb_class" => opts.lb_class = Some(v.to_string()),
            "always_block" => opts.always_block = v.split(',').map(|c| c.parse().expect("CIDR")).collect(),
            "frrk8s_namespace" => opts.frrk8s_namespace = Some(v.to_string()),
            other => panic!("unknown args key {other}"),
        }
    }
    // Paths relative to the crate root, so problems name files the same on every machine.
    let rel = dir.strip_prefix(env!("CARGO_MANIFEST_DIR")).expect("under the crate").to_path_buf();
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("chdir");
    // Exactly what `frr-speaker render` and the agent run.
    let (snap, read_problems) = files::load(&[rel], &opts.namespace);
    let out = pipeline::run(&snap, &read_problems, &opts);
    let text: String = out.problems.iter().map(|p| format!("{p}\n")).collect();
    let conf = out.config.map(|c| c.expect("renders").conf.text());
    assert_eq!(
        conf.is_none(),
        out.problems.iter().any(|p| p.is_error()),
        "{}: a config exactly when valid",
        dir.display()
    );
    (conf, text)
}

#[test]
fn golden_cases_match() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let dirs = case_dirs();
    assert!(dirs.len() >= 30, "only {} golden cases", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let (conf, problems) = run_case(dir);
        let conf_path = dir.join("frr.conf");
        let prob_path = dir.join("problems.txt");
        if update {
            match &conf {
                Some(c) => fs::write(&conf_path, c).expect("write frr.conf"),
                None => drop(fs::remove_file(&conf_path)),
            }
            fs::write(&prob_path, &problems).expect("write problems.txt");
            continue;
        }
        let want_conf = fs::read_to_string(&conf_path).ok();
        let want_prob = fs::read_to_string(&prob_path).unwrap_or_default();
        if want_conf != conf {
            failures.push(format!(
                "{}: frr.conf differs\n--- want\n{}\n--- got\n{}",
                dir.display(),
                want_conf.unwrap_or_default(),
                conf.unwrap_or_default()
            ));
        }
        if want_prob != problems {
            failures.push(format!("{}: problems differ\n--- want\n{want_prob}--- got\n{problems}", dir.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches (UPDATE_GOLDEN=1 to accept):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
