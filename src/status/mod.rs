//! What the agent tells the outside world: Prometheus metrics, the health endpoints, and (in
//! Kubernetes mode) status objects and Events.
pub mod events;
pub mod http;
pub mod kube;
pub mod metrics;
pub mod objects;
pub mod sessions;
pub mod table;
