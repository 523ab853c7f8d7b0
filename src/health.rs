//! The agent's health flags: set by the applier, read by `/readyz` and `/healthz`
//! (`status::http`).

use std::sync::atomic::AtomicBool;

/// Health flags the applier sets.
#[derive(Default)]
pub struct Health {
    /// A config was applied since the agent started.
    pub applied_once: AtomicBool,
    /// FRR's daemons answered the last probe.
    pub frr_reachable: AtomicBool,
}
