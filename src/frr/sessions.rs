//! The sessions' state as FRR reports it (I/O over the vty sockets; parsing is in `show`): the
//! poller that feeds the metrics and the status writer, and `frr-speaker status`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::driver::{FrrControl, FrrVty};
use super::show::{parse_advertised, parse_bfd, parse_neighbors, BfdPeer, NeighborStatus};
use crate::latest::publish_if_changed;
use crate::status::metrics::FrrCollector;
use crate::status::objects::SessionFact;
use crate::status::table::{format, NodeReport};

/// How often bgpd is asked for its sessions' state (a local vty call of about a millisecond);
/// the status writer hears of a change only when a state changed.
const SESSION_POLL: Duration = Duration::from_secs(1);

/// Read the sessions' state from bgpd (and BFD's from bfdd) every `SESSION_POLL`: the FRR
/// metrics take every reading; the status writer hears of it only when a state changed. While
/// bgpd does not answer, the last known state stays (the applier reports FRR's reachability).
pub async fn poll<C: FrrControl>(frr: C, tx: watch::Sender<Option<Arc<Vec<SessionFact>>>>, metrics: FrrCollector) {
    let mut tick = tokio::time::interval(SESSION_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        if tx.is_closed() {
            return;
        }
        match read(&frr).await {
            Ok((neighbors, bfd)) => {
                failing = false;
                let facts: Vec<SessionFact> = neighbors.iter().map(SessionFact::from).collect();
                metrics.set_sessions(neighbors, bfd);
                publish_if_changed(&tx, facts);
            }
            Err(e) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::debug!(error = %e, "cannot read the sessions from bgpd");
                }
            }
        }
    }
}

/// bgpd's neighbors and bfdd's sessions. Without bfdd (or with its answer unreadable) there are
/// no BFD sessions to report; without bgpd there is nothing.
async fn read<C: FrrControl>(frr: &C) -> Result<(Vec<NeighborStatus>, Vec<BfdPeer>), String> {
    let text = frr.command("show bgp vrf all neighbors json").await.map_err(|e| e.to_string())?;
    let neighbors = parse_neighbors(&text).map_err(|e| e.to_string())?;
    let bfd =
        match (frr.bfd_command("show bfd peers json").await, frr.bfd_command("show bfd peers counters json").await) {
            (Ok(p), Ok(c)) => parse_bfd(&p, &c).unwrap_or_default(),
            _ => Vec::new(),
        };
    Ok((neighbors, bfd))
}

/// `frr-speaker status`: sessions, BFD and advertised prefixes read from FRR, as a table.
pub async fn report(socket_dir: &Path) -> anyhow::Result<String> {
    let frr = FrrVty::new(socket_dir);
    let (neighbors, bfd) =
        read(&frr).await.map_err(|e| anyhow::anyhow!("asking FRR through {}: {e}", socket_dir.display()))?;
    let mut advertised = BTreeMap::new();
    for n in &neighbors {
        let vrf = n.vrf.as_deref().unwrap_or("default");
        let mut prefixes = Vec::new();
        for afi in ["ipv4", "ipv6"] {
            let cmd = format!("show bgp vrf {vrf} {afi} unicast neighbors {} advertised-routes json", n.id);
            prefixes.extend(parse_advertised(&frr.command(&cmd).await.unwrap_or_default()).unwrap_or_default());
        }
        advertised.insert((n.vrf.clone(), n.id.clone()), prefixes);
    }
    Ok(format(&NodeReport { neighbors, bfd, advertised }))
}
