//! Latest-state channels between the agent's tasks (`tokio::sync::watch` holding an
//! `Option<Arc<T>>`: `None` until the first value). Receivers wake only on a real change.

use std::sync::Arc;

use tokio::sync::watch;

/// Send `value` unless the channel holds an equal one.
pub fn publish_if_changed<T: PartialEq>(tx: &watch::Sender<Option<Arc<T>>>, value: T) {
    tx.send_if_modified(|old| {
        let changed = old.as_deref() != Some(&value);
        if changed {
            *old = Some(Arc::new(value));
        }
        changed
    });
}
