//! The session poller's readings (`frr::sessions`) as status sees them: every reading goes to the
//! FRR metrics; the status writer hears of one only when a session's state changed.

use std::sync::Arc;

use tokio::sync::watch;

use super::metrics::FrrCollector;
use super::objects::SessionFact;
use crate::frr::sessions::Sessions;
use crate::latest::publish_if_changed;

/// Follow the poller's readings until it stops.
pub async fn follow(
    mut rx: watch::Receiver<Option<Arc<Sessions>>>,
    tx: watch::Sender<Option<Arc<Vec<SessionFact>>>>,
    metrics: FrrCollector,
) {
    while rx.changed().await.is_ok() {
        let Some(reading) = rx.borrow_and_update().clone() else { continue };
        let facts: Vec<SessionFact> = reading.neighbors.iter().map(SessionFact::from).collect();
        metrics.set_sessions(reading.neighbors.clone(), reading.bfd.clone());
        publish_if_changed(&tx, facts);
    }
}
