//! frr-speaker: a Kubernetes BGP load-balancer speaker that drives FRR.
//!
//! Data flows one way: sources -> index (snapshot) -> desired::compute (pure) -> frr::render (pure)
//! -> FRR. See README.md for the whole picture.
pub mod alloc;
pub mod app;
pub mod desired;
pub mod drain;
#[cfg(test)]
mod fake_api;
pub mod frr;
pub mod frrk8s;
pub mod grammar;
pub mod health;
pub mod index;
pub mod latest;
pub mod model;
pub mod pipeline;
pub mod problem;
pub mod retry;
pub mod sources;
pub mod status;
pub mod streak;
