//! Where objects come from: manifest files (file mode, `render`, `check`) or Kubernetes.
pub mod file_watch;
pub mod files;
pub mod interfaces;
pub mod kube;
pub mod manifest;
pub mod unknown;

use crate::index::Snapshot;
use crate::problem::Problem;

/// One complete view of the inputs, with the problems found while reading them.
#[derive(Clone, Debug, Default)]
pub struct Input {
    pub snapshot: std::sync::Arc<Snapshot>,
    pub problems: Vec<Problem>,
    /// When the source learned of the first change this input has (a file event, a watch
    /// event): the start of the agent's share of a change (`frr_speaker_change_latency_seconds`).
    pub since: Option<std::time::Instant>,
}
