//! The system tests: real FRR in network namespaces (root), a real kube-apiserver and etcd built
//! from their Go modules, kubelets and containerd running the speaker pod. One binary with one
//! shared harness (tests/common), left out of a plain `cargo test` (Cargo.toml: `test = false`):
//! `make test` runs it after the fast tier that `cargo test` runs anywhere, one test at a time, on
//! both FRR versions.
//!
//! Each module is one area; `cargo test --test system -- lab::` runs one.

#[path = "../common/mod.rs"]
mod common;

mod cluster;
mod controller;
mod controlplane;
mod faults;
mod frr_apply;
mod frrk8s;
mod golden_frr;
mod hostile;
mod images;
mod kube_mode;
mod lab;
mod metallb_client;
mod migration;
