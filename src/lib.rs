//! frr-speaker: a Kubernetes BGP load-balancer speaker that drives FRR.
//!
//! Data flows one way: sources -> index (snapshot) -> desired::compute (pure) -> frr::render (pure)
//! -> FRR. See README.md for the whole picture.
pub mod alloc;
pub mod app;
pub mod desired;
pub mod frr;
pub mod index;
pub mod model;
pub mod problem;
pub mod sources;
pub mod status;
