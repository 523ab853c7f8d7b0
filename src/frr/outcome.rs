//! What the applier last achieved, as the status writer and the metrics read it. Plain data.

use std::sync::Arc;

use super::rendered::Rendered;

/// Why the newest config is not running.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// FRR answered and did not take lines of this config: the same config would be refused
    /// again, so it is retried only with backoff (or after FRR restarts).
    #[error("FRR refused the configuration: {0}")]
    Refused(String),
    /// FRR did not answer (a daemon down, hung or restarting, a socket gone, a timeout): transient.
    #[error("FRR did not answer: {0}")]
    Unavailable(String),
}

/// What the applier last achieved (applier → status writer, metrics).
#[derive(Clone, Debug, Default)]
pub struct ApplyState {
    /// The config FRR runs, once an apply succeeded.
    pub applied: Option<Arc<Rendered>>,
    /// Why the newest config is not running (cleared by the next success).
    pub error: Option<ApplyError>,
    /// FRR refused the operator's extras (`bgpextras`): it runs the agent's config without them.
    pub extras_error: Option<String>,
}
