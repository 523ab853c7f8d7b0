//! File mode: watch a directory of manifests and publish a new input whenever it changes.
//! `notify` gives the change within milliseconds; a cheap poll (file stamps only) every two
//! seconds is the safety net for what inotify misses (the directory removed and created again).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{watch, Notify};
use tracing::{debug, warn};

use super::files::FileCache;
use super::Input;

const POLL: Duration = Duration::from_secs(2);
/// Re-reads before a view is published even though events keep arriving (a directory that never
/// stops changing must still be served).
const MAX_SETTLE: usize = 10;

/// Publish the directory's content on `tx`: the first value once the whole directory has been
/// read, then one per change. Bursts of changes collapse into one read.
pub async fn run(dir: PathBuf, namespace: String, tx: watch::Sender<Option<Arc<Input>>>) {
    let wake = Arc::new(Notify::new());
    // Bumped by every file event. A directory listing taken while files are renamed may miss
    // one (readdir is unspecified there), so a view is published only when a second listing
    // after the load agrees with it and no event arrived meanwhile; otherwise it is read again.
    let generation = Arc::new(AtomicU64::new(0));
    let mut watcher: Option<notify::RecommendedWatcher> = None;
    let mut cache = FileCache::default();
    let mut first = true;
    let mut last_problems = Vec::new();
    loop {
        if watcher.is_none() {
            watcher = start_watcher(&dir, wake.clone(), generation.clone());
        }
        let t0 = std::time::Instant::now();
        let mut changed_any = false;
        let mut settled = 0;
        let (snapshot, problems) = loop {
            let before = generation.load(Ordering::SeqCst);
            let dir = dir.clone();
            let ns = namespace.clone();
            // Reading and parsing files is blocking work.
            let mut c = std::mem::take(&mut cache);
            let Ok(((res, current), c)) = tokio::task::spawn_blocking(move || {
                let paths = [dir];
                let r = c.load(&paths, &ns);
                let current = c.is_current(&paths);
                ((r, current), c)
            })
            .await
            else {
                // Cancelled at shutdown, or a panic in the loader (already reported by the runtime).
                return;
            };
            cache = c;
            let (snapshot, problems, changed) = res;
            changed_any |= changed;
            settled += 1;
            if (current && generation.load(Ordering::SeqCst) == before) || settled >= MAX_SETTLE {
                break (snapshot, problems);
            }
        };
        // A problem can also come and go without any file changing (a directory entry that
        // vanished while it was listed).
        let changed = changed_any || problems != last_problems;
        if changed || first {
            last_problems = problems.clone();
            debug!(
                services = snapshot.services.len(),
                peers = snapshot.peers.len(),
                problems = problems.len(),
                ms = t0.elapsed().as_millis() as u64,
                "manifests loaded"
            );
            let input = Input { snapshot, problems, since: Some(t0) };
            let _ = tx.send(Some(Arc::new(input)));
            first = false;
        }
        if !dir.is_dir() {
            // The watch died with the directory; start a new one when it is back.
            watcher = None;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

fn start_watcher(
    dir: &std::path::Path,
    wake: Arc<Notify>,
    generation: Arc<AtomicU64>,
) -> Option<notify::RecommendedWatcher> {
    let mut w = match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Opening and reading (Access events) changes nothing, and our own listing of the
        // directory causes them: counting them would make the loader chase its own tail.
        if res.is_ok_and(|ev| !matches!(ev.kind, notify::EventKind::Access(_))) {
            generation.fetch_add(1, Ordering::SeqCst);
            wake.notify_one();
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "cannot create a file watcher; polling only");
            return None;
        }
    };
    match w.watch(dir, RecursiveMode::Recursive) {
        Ok(()) => Some(w),
        Err(e) => {
            warn!(dir = %dir.display(), error = %e, "cannot watch the manifests directory; polling until it exists");
            None
        }
    }
}
