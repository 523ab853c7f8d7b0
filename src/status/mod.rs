//! What the agent tells the outside world: Prometheus metrics and the health endpoints.
pub mod http;
pub mod metrics;
