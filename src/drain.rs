//! A planned drain on SIGTERM: announce GRACEFUL_SHUTDOWN, wait, withdraw every prefix, wait,
//! exit; FRR keeps forwarding meanwhile (the FRR container's preStop waits on `DRAIN_MARKER`).

use std::path::Path;
use std::time::Duration;

use tracing::{info, warn};

use crate::frr::conf::Conf;
use crate::frr::driver::{apply_change, FrrControl, FrrError};
use crate::frr::render::without_networks;

/// Exists in --vty-socket-dir while the agent drains the node.
pub const DRAIN_MARKER: &str = "frr-speaker-draining";

/// When SIGTERM drains the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DrainMode {
    /// Drain when this node's Node object is cordoned (`spec.unschedulable`, which `kubectl drain`
    /// sets first); an agent-only restart (rolling update) leaves FRR as it is.
    Auto,
    Always,
    Never,
}

impl DrainMode {
    /// Whether an agent that got SIGTERM (`terminated`; Ctrl-C is not a drain) drains the node.
    pub fn drains(self, terminated: bool, cordoned: bool) -> bool {
        terminated
            && match self {
                DrainMode::Always => true,
                DrainMode::Never => false,
                DrainMode::Auto => cordoned,
            }
    }
}

/// How long each phase lasts.
#[derive(Clone, Copy, Debug)]
pub struct Waits {
    /// Routes carry GRACEFUL_SHUTDOWN this long before they are withdrawn.
    pub gshut: Duration,
    /// After the withdrawal, before exiting.
    pub withdraw: Duration,
}

/// Drain through `frr`, with the marker file in `vty_dir` for the FRR container's preStop hook.
pub async fn drain<C: FrrControl>(frr: &C, vty_dir: &Path, waits: Waits) -> Result<(), FrrError> {
    // In a pod, the FRR container's preStop hook waits while this file exists, so FRR keeps
    // forwarding until the drain is done (deploy/daemonset.yaml).
    let marker = vty_dir.join(DRAIN_MARKER);
    if let Err(e) = std::fs::write(&marker, b"") {
        warn!(path = %marker.display(), error = %e, "cannot write the drain marker");
    }
    let res = drain_node(frr, waits).await;
    let _ = std::fs::remove_file(&marker);
    res
}

/// GRACEFUL_SHUTDOWN (RFC 8326: community 65535:0 on every route, and local preference 0 to iBGP
/// peers; FRR's global `bgp graceful-shutdown`, the same in FRR 8.4 and 9-10) so routers move
/// traffic to the other nodes while this one still forwards, wait, withdraw every prefix
/// (sessions stay up), wait, return. The next agent started on an uncordoned node removes
/// `bgp graceful-shutdown` again (a managed line in `frr::diff`).
async fn drain_node<C: FrrControl>(frr: &C, waits: Waits) -> Result<(), FrrError> {
    info!(wait_s = waits.gshut.as_secs_f64(), "draining: announcing GRACEFUL_SHUTDOWN (65535:0) on every session");
    let (ok, output) = frr.apply("bgp graceful-shutdown\n").await?;
    if !ok {
        warn!(output = %output, "FRR refused bgp graceful-shutdown; withdrawing directly");
    } else {
        tokio::time::sleep(waits.gshut).await;
    }
    let running = frr.running_config().await?;
    let withdrawn = Conf::from_text(without_networks(&running));
    let report = apply_change(frr, &Conf::from_text(running), &withdrawn).await?;
    info!(withdrawn = report.changes, wait_s = waits.withdraw.as_secs_f64(), "draining: prefixes withdrawn");
    tokio::time::sleep(waits.withdraw).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frr::fake::{FakeFrr, Mode};

    #[test]
    fn only_sigterm_drains_and_auto_follows_the_cordon() {
        for (mode, terminated, cordoned, want) in [
            (DrainMode::Auto, true, true, true),
            (DrainMode::Auto, true, false, false),
            (DrainMode::Auto, false, true, false),
            (DrainMode::Always, true, false, true),
            (DrainMode::Always, false, false, false),
            (DrainMode::Never, true, true, false),
        ] {
            assert_eq!(mode.drains(terminated, cordoned), want, "{mode:?} terminated={terminated} cordoned={cordoned}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn drain_shuts_down_gracefully_then_withdraws_every_network_and_removes_the_marker() {
        let running = "router bgp 64512\n neighbor 192.0.2.1 remote-as 64500\n address-family ipv4 unicast\n  network 203.0.113.1/32\n  network 203.0.113.2/32\n  neighbor 192.0.2.1 activate\n exit-address-family\nexit\n";
        // The fake keeps its config across applies: what is withdrawn is read from the script.
        let frr = FakeFrr::new(running, running, Mode::Accept);
        let dir = std::env::temp_dir().join(format!("frr-speaker-drain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let waits = Waits { gshut: Duration::from_secs(5), withdraw: Duration::from_secs(2) };
        let t0 = tokio::time::Instant::now();
        drain(&frr, &dir, waits).await.expect("drained");
        assert_eq!(t0.elapsed(), Duration::from_secs(7), "both waits, nothing more");
        let scripts = FakeFrr::get(&frr.scripts);
        assert_eq!(scripts[0], "bgp graceful-shutdown\n");
        assert!(
            scripts[1].contains("no network 203.0.113.1/32") && scripts[1].contains("no network 203.0.113.2/32"),
            "{}",
            scripts[1]
        );
        assert!(!scripts[1].contains("neighbor"), "sessions stay: {}", scripts[1]);
        assert!(!dir.join(DRAIN_MARKER).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
