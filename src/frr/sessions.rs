//! The sessions' state as FRR reports it (I/O over the vty sockets; parsing is in `show`): the
//! poller whose readings feed the metrics and the status writer (`status::sessions` maps them),
//! and what `frr-speaker status` reads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::driver::FrrControl;
use super::show::{parse_advertised, parse_bfd, parse_neighbors, BfdPeer, NeighborStatus};

/// How often bgpd is asked for its sessions' state (a local vty call of about a millisecond);
/// the status writer hears of a change only when a state changed.
const SESSION_POLL: Duration = Duration::from_secs(1);

/// One reading of the sessions: bgpd's neighbors and bfdd's sessions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sessions {
    pub neighbors: Vec<NeighborStatus>,
    pub bfd: Vec<BfdPeer>,
}

/// Read the sessions' state from bgpd (and BFD's from bfdd) every `SESSION_POLL` and publish every
/// reading. While bgpd does not answer, nothing is published: the last reading stays (the applier
/// reports FRR's reachability).
pub async fn poll<C: FrrControl>(frr: C, tx: watch::Sender<Option<Arc<Sessions>>>) {
    let mut tick = tokio::time::interval(SESSION_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = crate::streak::Streak::default();
    loop {
        tick.tick().await;
        if tx.is_closed() {
            return;
        }
        match read(&frr).await {
            Ok(reading) => {
                failing.ended();
                tx.send_replace(Some(Arc::new(reading)));
            }
            Err(e) => {
                if failing.began() {
                    tracing::debug!(error = %e, "cannot read the sessions from bgpd");
                }
            }
        }
    }
}

/// bgpd's neighbors and bfdd's sessions. Without bfdd (or with its answer unreadable) there are
/// no BFD sessions to report; without bgpd there is nothing.
pub async fn read<C: FrrControl>(frr: &C) -> Result<Sessions, String> {
    let text = frr.command("show bgp vrf all neighbors json").await.map_err(|e| e.to_string())?;
    let neighbors = parse_neighbors(&text).map_err(|e| e.to_string())?;
    let bfd =
        match (frr.bfd_command("show bfd peers json").await, frr.bfd_command("show bfd peers counters json").await) {
            (Ok(p), Ok(c)) => parse_bfd(&p, &c).unwrap_or_default(),
            _ => Vec::new(),
        };
    Ok(Sessions { neighbors, bfd })
}

/// The prefixes bgpd advertises to each of `neighbors`, by (VRF, neighbor).
pub async fn advertised<C: FrrControl>(
    frr: &C,
    neighbors: &[NeighborStatus],
) -> BTreeMap<(Option<String>, String), Vec<String>> {
    let mut advertised = BTreeMap::new();
    for n in neighbors {
        let vrf = n.vrf.as_deref().unwrap_or("default");
        let mut prefixes = Vec::new();
        for afi in ["ipv4", "ipv6"] {
            let cmd = format!("show bgp vrf {vrf} {afi} unicast neighbors {} advertised-routes json", n.id);
            prefixes.extend(parse_advertised(&frr.command(&cmd).await.unwrap_or_default()).unwrap_or_default());
        }
        advertised.insert((n.vrf.clone(), n.id.clone()), prefixes);
    }
    advertised
}
