//! `frr-speaker run`: the long-lived tasks and the channels between them.
//!
//! ```text
//!  file source ──watch<Input>──► compute ──watch<Rendered>──► driver ──vty──► FRR
//!  or kube source     │           (pure core:       │           (diff, apply, verify,  │
//!                     │            desired+render)  │            restart detection)    │
//!                     │                 │ watch<problems>          │ watch<ApplyState>  │
//!                     ▼                 ▼                          ▼                    │
//!                   status writer (Kubernetes mode) ◄── watch<sessions> ── session poller
//!                   (status objects + Events, rate-limited)           (bgpd's neighbor JSON)
//!        metrics / health  ◄── every task publishes; the HTTP server only reads
//! ```
//!
//! Latest-state channels (`tokio::sync::watch`) between the stages: a burst of changes collapses
//! into one compute and one apply, without a fixed debounce delay. Nothing is applied before the
//! first complete read of the inputs, and an invalid input never replaces the last good config.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use ipnet::IpNet;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::desired::{self, Options};
use crate::frr::driver::{apply_change, reconcile, write_config_file, FrrControl, FrrIdentity, FrrVty, Timeouts};
use crate::frr::render::render;
use crate::frr::status::{parse_bfd, parse_neighbors, BfdPeer, NeighborStatus};
use crate::problem::{Problem, Severity};
use crate::sources::{self, Input};
use crate::status::http::{self, Health};
use crate::status::metrics::FrrCollector;
use crate::status::metrics::Metrics;
use crate::status::objects::SessionFact;
use crate::status::{ApplyState, Rendered};

/// How often FRR's daemons are probed (restart detection, readiness): a restart is re-applied
/// within this plus one reconcile.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// Even with no change, compare FRR's running config with the desired one this often, so that a
/// manual edit in vtysh is undone.
const RECHECK_INTERVAL: Duration = Duration::from_secs(30);
/// A change applied on the fast path (without reading FRR's config first) is verified against
/// the running config this long after, when no newer change is pending.
const VERIFY_AFTER: Duration = Duration::from_secs(1);
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often bgpd is asked for its sessions' state (a local vty call of about a millisecond);
/// the status writer hears of a change only when a state changed.
const SESSION_POLL: Duration = Duration::from_secs(1);

pub struct RunConfig {
    pub node: String,
    pub manifests: Option<PathBuf>,
    pub frr_config: PathBuf,
    pub vty_socket_dir: PathBuf,
    pub metrics_addr: SocketAddr,
    pub namespace: String,
    pub lb_class: Option<String>,
    pub status_qps: f64,
    pub drain: DrainMode,
    pub drain_gshut_wait: Duration,
    pub drain_withdraw_wait: Duration,
    pub timeouts: Timeouts,
}

pub async fn run(cfg: RunConfig) -> anyhow::Result<()> {
    let metrics = Metrics::new().context("registering metrics")?;
    let health = Arc::new(Health::default());
    let listener = tokio::net::TcpListener::bind(cfg.metrics_addr)
        .await
        .with_context(|| format!("listening on --metrics-addr {}", cfg.metrics_addr))?;

    let (input_tx, input_rx) = watch::channel::<Option<Arc<Input>>>(None);
    let node_rx = input_rx.clone();
    let (conf_tx, conf_rx) = watch::channel::<Option<Arc<Rendered>>>(None);
    let (problems_tx, problems_rx) = watch::channel::<Option<Arc<Vec<Problem>>>>(None);
    let (apply_tx, apply_rx) = watch::channel(ApplyState::default());
    let metrics_apply_rx = apply_rx.clone();
    let (sessions_tx, sessions_rx) = watch::channel::<Option<Arc<Vec<SessionFact>>>>(None);
    let opts = Options {
        node: cfg.node.clone(),
        namespace: cfg.namespace.clone(),
        lb_class: cfg.lb_class.clone(),
        connected: None,
    };
    let mut tasks = tokio::task::JoinSet::new();
    match cfg.manifests.clone() {
        Some(dir) => {
            info!(node = %cfg.node, manifests = %dir.display(), vty = %cfg.vty_socket_dir.display(), "starting in file mode");
            tasks.spawn(sources::watch::run(dir, cfg.namespace.clone(), input_tx));
        }
        None => {
            // In-cluster config, or KUBECONFIG.
            let client = kube::Client::try_default().await.context("connecting to Kubernetes")?;
            info!(node = %cfg.node, namespace = %cfg.namespace, vty = %cfg.vty_socket_dir.display(), "starting in Kubernetes mode");
            tasks.spawn(sources::kube::run(client.clone(), cfg.namespace.clone(), cfg.node.clone(), input_tx));
            let status_sources = crate::status::kube::Sources {
                input: input_rx.clone(),
                problems: problems_rx,
                apply: apply_rx,
                sessions: sessions_rx,
            };
            tasks.spawn(crate::status::kube::run(
                client,
                cfg.namespace.clone(),
                cfg.node.clone(),
                cfg.status_qps,
                status_sources,
            ));
        }
    }
    tasks.spawn(compute_task(input_rx, conf_tx, problems_tx, opts, metrics.clone()));
    tasks.spawn(drive(
        FrrVty::with_timeouts(&cfg.vty_socket_dir, cfg.timeouts),
        conf_rx,
        apply_tx,
        cfg.frr_config.clone(),
        metrics.clone(),
        health.clone(),
    ));
    // Its own vty connections: a slow answer never delays an apply.
    tasks.spawn(poll_sessions(
        FrrVty::with_timeouts(&cfg.vty_socket_dir, cfg.timeouts),
        sessions_tx,
        metrics.frr.clone(),
    ));
    tasks.spawn(announced_metric(metrics_apply_rx, cfg.node.clone(), metrics.frr.clone()));
    // Outside `tasks`: /metrics and the health endpoints keep answering while the node drains.
    let server = tokio::spawn(http::serve(listener, metrics, health));

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let terminated = tokio::select! {
        _ = term.recv() => true,
        _ = tokio::signal::ctrl_c() => false,
        r = tasks.join_next() => bail!("a task ended unexpectedly: {r:?}"),
    };
    // Nothing may re-apply the normal config from here on.
    tasks.abort_all();
    let cordoned = node_rx
        .borrow()
        .as_ref()
        .and_then(|i| i.snapshot.nodes.get(&cfg.node).map(|n| n.unschedulable))
        .unwrap_or(false);
    let drain = terminated
        && match cfg.drain {
            DrainMode::Always => true,
            DrainMode::Never => false,
            DrainMode::Auto => cordoned,
        };
    if !drain {
        info!(cordoned, "exiting; FRR keeps running its config (no drain: an agent-only restart changes nothing)");
        server.abort();
        return Ok(());
    }
    // In a pod, the FRR container's preStop hook waits while this file exists, so FRR keeps
    // forwarding until the drain is done (deploy/daemonset.yaml).
    let marker = cfg.vty_socket_dir.join(DRAIN_MARKER);
    if let Err(e) = std::fs::write(&marker, b"") {
        warn!(path = %marker.display(), error = %e, "cannot write the drain marker");
    }
    let res = drain_node(
        &FrrVty::with_timeouts(&cfg.vty_socket_dir, cfg.timeouts),
        cfg.drain_gshut_wait,
        cfg.drain_withdraw_wait,
    )
    .await;
    let _ = std::fs::remove_file(&marker);
    server.abort();
    match res {
        Ok(()) => {
            info!("drained: every prefix withdrawn; exiting");
            Ok(())
        }
        Err(e) => bail!("drain failed: {e}"),
    }
}

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

/// A planned drain: announce GRACEFUL_SHUTDOWN (RFC 8326: community 65535:0 on every route, and
/// local preference 0 to iBGP peers; FRR's global `bgp graceful-shutdown`, the same in FRR 8.4 and
/// 9-10) so routers move traffic to the other nodes while this one still forwards, wait, withdraw
/// every prefix (sessions stay up), wait, return. The next agent started on an uncordoned node
/// removes `bgp graceful-shutdown` again (a managed line in `frr::diff`).
async fn drain_node<C: FrrControl>(
    frr: &C,
    gshut_wait: Duration,
    withdraw_wait: Duration,
) -> Result<(), crate::frr::driver::FrrError> {
    info!(wait_s = gshut_wait.as_secs_f64(), "draining: announcing GRACEFUL_SHUTDOWN (65535:0) on every session");
    let (ok, output) = frr.apply("bgp graceful-shutdown\n").await?;
    if !ok {
        warn!(output = %output, "FRR refused bgp graceful-shutdown; withdrawing directly");
    } else {
        tokio::time::sleep(gshut_wait).await;
    }
    let running = frr.running_config().await?;
    let withdrawn = crate::frr::render::without_networks(&running);
    let report = apply_change(frr, &running, &withdrawn).await?;
    info!(withdrawn = report.changes, wait_s = withdraw_wait.as_secs_f64(), "draining: prefixes withdrawn");
    tokio::time::sleep(withdraw_wait).await;
    Ok(())
}

/// `frr-speaker status`: read sessions, BFD and advertised prefixes from FRR and format them.
pub async fn status_report(socket_dir: &std::path::Path) -> anyhow::Result<String> {
    use crate::frr::status::parse_advertised;
    use crate::status::table::{format, NodeReport};
    let frr = FrrVty::new(socket_dir);
    let (neighbors, bfd) =
        read_sessions(&frr).await.map_err(|e| anyhow::anyhow!("asking FRR through {}: {e}", socket_dir.display()))?;
    let mut advertised = std::collections::BTreeMap::new();
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

/// The networks directly connected to this node (for the ebgp-multihop rule).
fn connected_networks() -> Option<Vec<IpNet>> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    let mut nets = Vec::new();
    for a in addrs {
        let (Some(addr), Some(mask)) = (a.address, a.netmask) else { continue };
        if let (Some(ip), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
            let len = u32::from(m.ip()).count_ones() as u8;
            nets.extend(IpNet::new(ip.ip().into(), len).ok().map(|n| n.trunc()));
        } else if let (Some(ip), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
            let len = u128::from(m.ip()).count_ones() as u8;
            nets.extend(IpNet::new(ip.ip().into(), len).ok().map(|n| n.trunc()));
        }
    }
    Some(nets)
}

async fn compute_task(
    mut rx: watch::Receiver<Option<Arc<Input>>>,
    tx: watch::Sender<Option<Arc<Rendered>>>,
    problems_tx: watch::Sender<Option<Arc<Vec<Problem>>>>,
    opts: Options,
    metrics: Metrics,
) {
    let mut reported: BTreeSet<Problem> = BTreeSet::new();
    let mut last: Option<Arc<Rendered>> = None;
    while rx.changed().await.is_ok() {
        let Some(input) = rx.borrow_and_update().clone() else { continue };
        let mut opts = opts.clone();
        opts.connected = connected_networks();
        let computed = tokio::task::spawn_blocking(move || {
            let t0 = Instant::now();
            let outcome = desired::compute(&input.snapshot, &opts);
            let t1 = Instant::now();
            let mut problems: Vec<Problem> = input.problems.iter().chain(outcome.problems.iter()).cloned().collect();
            problems.sort();
            problems.dedup();
            let text = match (outcome.state, problems.iter().any(Problem::is_error)) {
                (Some(state), false) => {
                    let ports = state
                        .routers
                        .iter()
                        .flat_map(|r| {
                            let vrf = r.vrf.as_ref().map(|v| v.to_string());
                            r.neighbors.iter().filter_map(move |n| Some(((vrf.clone(), n.id.clone()), n.port?)))
                        })
                        .collect();
                    Some(render(&state).map(|text| Rendered { text, announcements: state.announcements, ports }))
                }
                _ => None,
            };
            tracing::debug!(
                compute_ms = (t1 - t0).as_millis() as u64,
                render_ms = t1.elapsed().as_millis() as u64,
                "computed"
            );
            (problems, text)
        })
        .await;
        let Ok((problems, text)) = computed else {
            error!("compute panicked; keeping the last good config");
            continue;
        };
        // Log each problem once, when it appears.
        let now: BTreeSet<Problem> = problems.iter().cloned().collect();
        for p in now.difference(&reported) {
            match p.severity {
                Severity::Error => error!(problem = %p, "invalid input: keeping the last good config"),
                Severity::Warning => warn!(problem = %p, "input ignored"),
            }
        }
        reported = now;
        publish_if_changed(&problems_tx, problems.clone());
        let errors = problems.iter().filter(|p| p.is_error()).count() as i64;
        metrics.problems.with_label_values(&["error"]).set(errors);
        metrics.problems.with_label_values(&["warning"]).set(problems.len() as i64 - errors);
        match text {
            Some(Ok(rendered)) => {
                metrics.config_stale.set(0);
                metrics.config_loaded.set(1);
                if last.as_deref() != Some(&rendered) {
                    let rendered = Arc::new(rendered);
                    last = Some(rendered.clone());
                    let _ = tx.send(Some(rendered));
                }
            }
            Some(Err(e)) => {
                error!(error = %e, "rendering failed; keeping the last good config");
                metrics.config_stale.set(1);
            }
            None => metrics.config_stale.set(1),
        }
    }
}

/// Keep FRR running the latest rendered config: apply on change, after an FRR restart, and as a
/// slow periodic check; retry failures with backoff.
///
/// A change is applied on the fast path (the difference from what FRR was last given, without
/// reading its config first) and verified against FRR's running config a second later; a full
/// reconcile (read, diff, apply, verify) runs at start, after an FRR restart or a failure, and
/// every `RECHECK_INTERVAL`.
async fn drive<C: FrrControl>(
    frr: C,
    mut rx: watch::Receiver<Option<Arc<Rendered>>>,
    state_tx: watch::Sender<ApplyState>,
    conf_path: PathBuf,
    metrics: Metrics,
    health: Arc<Health>,
) {
    // What FRR was last given successfully, and which daemons took it.
    let mut applied: Option<(Arc<Rendered>, FrrIdentity)> = None;
    // What frr.conf holds (shared with the channel, not copied).
    let mut written: Option<Arc<Rendered>> =
        std::fs::read_to_string(&conf_path).ok().map(|text| Arc::new(Rendered { text, ..Default::default() }));
    let mut failed: Option<(Arc<Rendered>, Instant)> = None;
    let mut backoff = MIN_BACKOFF;
    let mut last_error = String::new();
    let mut waiting_logged = false;
    let mut last_full = Instant::now();
    let mut unverified_since: Option<Instant> = None;
    let mut tick = tokio::time::interval(PROBE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            r = rx.changed() => if r.is_err() { return },
            _ = tick.tick() => {}
        }
        // Nothing is applied before the first complete, valid input.
        let Some(want_r) = rx.borrow_and_update().clone() else { continue };
        let want = &want_r.text;
        let id = match frr.identity().await {
            Ok(id) => {
                health.frr_reachable.store(true, Ordering::Relaxed);
                waiting_logged = false;
                id
            }
            Err(e) => {
                health.frr_reachable.store(false, Ordering::Relaxed);
                if !waiting_logged {
                    warn!(error = %e, "waiting for FRR");
                    waiting_logged = true;
                }
                continue;
            }
        };
        let restarted = applied.as_ref().is_some_and(|(_, old)| *old != id);
        if restarted {
            info!("FRR restarted: re-applying");
            metrics.frr_restarts.inc();
        }
        let fast_from = applied.as_ref().filter(|(_, old)| *old == id).map(|(r, _)| r.clone());
        let verify_due = unverified_since.is_some_and(|t| t.elapsed() >= VERIFY_AFTER);
        let full = fast_from.is_none() || verify_due || last_full.elapsed() >= RECHECK_INTERVAL;
        let up_to_date = fast_from.as_ref().is_some_and(|r| r.text == *want);
        if up_to_date && !full {
            if written.as_ref().map(|w| &w.text) != Some(want) {
                written = write_file(&conf_path, &want_r);
            }
            continue;
        }
        if let Some((f, at)) = &failed {
            if f.text == *want && Instant::now() < *at && !restarted {
                continue;
            }
        }
        let t0 = Instant::now();
        let res = match (&fast_from, full) {
            (Some(from), false) => match apply_change(&frr, &from.text, want).await {
                Ok(r) => Ok(r),
                Err(e) => {
                    warn!(error = %e, "fast apply failed; reconciling against the running config");
                    reconcile(&frr, want).await
                }
            },
            _ => reconcile(&frr, want).await,
        };
        let secs = t0.elapsed().as_secs_f64();
        metrics.apply_duration.observe(secs);
        match res {
            Ok(report) => {
                if full {
                    last_full = Instant::now();
                    unverified_since = None;
                } else {
                    unverified_since.get_or_insert_with(Instant::now);
                }
                let result = if report.changes > 0 { "ok" } else { "noop" };
                metrics.applies.with_label_values(&[result]).inc();
                metrics
                    .last_apply_timestamp
                    .set(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0));
                if report.changes > 0 {
                    info!(
                        changes = report.changes,
                        full,
                        passes = report.passes,
                        soft_refreshes = report.soft_out,
                        ms = (secs * 1e3) as u64,
                        "applied"
                    );
                }
                if written.as_ref().map(|w| &w.text) != Some(want) {
                    written = write_file(&conf_path, &want_r);
                }
                state_tx.send_if_modified(|s| {
                    let same = s.error.is_none() && s.applied.as_ref().is_some_and(|a| Arc::ptr_eq(a, &want_r));
                    if !same {
                        s.applied = Some(want_r.clone());
                        s.error = None;
                    }
                    !same
                });
                applied = Some((want_r.clone(), id));
                failed = None;
                backoff = MIN_BACKOFF;
                last_error.clear();
                health.applied_once.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                metrics.applies.with_label_values(&["error"]).inc();
                let msg = e.to_string();
                if msg != last_error {
                    error!(error = %msg, retry_in_ms = backoff.as_millis() as u64, "apply failed; FRR keeps what it runs");
                    last_error = msg.clone();
                }
                state_tx.send_if_modified(|s| {
                    let changed = s.error.as_deref() != Some(&msg);
                    s.error = Some(msg);
                    changed
                });
                failed = Some((want_r.clone(), Instant::now() + backoff));
                backoff = (backoff * 2).min(MAX_BACKOFF);
                // Look at FRR afresh next time.
                applied = None;
            }
        }
    }
}

/// `metallb_speaker_announced`: what FRR runs, by Service and IP.
async fn announced_metric(mut rx: watch::Receiver<ApplyState>, node: String, frr: FrrCollector) {
    while rx.changed().await.is_ok() {
        let Some(applied) = rx.borrow_and_update().applied.clone() else { continue };
        let list = applied
            .announcements
            .iter()
            .flat_map(|(svc, prefixes)| prefixes.keys().map(move |p| (svc.to_string(), p.addr().to_string())));
        frr.set_announced(&node, list.collect::<Vec<_>>());
        frr.set_ports(applied.ports.clone());
    }
}

/// Read the sessions' state from bgpd (and BFD's from bfdd) every `SESSION_POLL`: the FRR
/// metrics take every reading; the status writer hears of it only when a state changed. While
/// bgpd does not answer, the last known state stays (the driver reports FRR's reachability).
async fn poll_sessions<C: FrrControl>(frr: C, tx: watch::Sender<Option<Arc<Vec<SessionFact>>>>, metrics: FrrCollector) {
    let mut tick = tokio::time::interval(SESSION_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        if tx.is_closed() {
            return;
        }
        match read_sessions(&frr).await {
            Ok((neighbors, bfd)) => {
                failing = false;
                let facts: Vec<SessionFact> = neighbors.iter().map(SessionFact::from).collect();
                metrics.set_sessions(neighbors, bfd);
                publish_if_changed(&tx, facts);
            }
            Err(e) => {
                if !failing {
                    tracing::debug!(error = %e, "cannot read the sessions from bgpd");
                    failing = true;
                }
            }
        }
    }
}

/// bgpd's neighbors and bfdd's sessions. Without bfdd (or with its answer unreadable) there are
/// no BFD sessions to report; without bgpd there is nothing.
async fn read_sessions<C: FrrControl>(frr: &C) -> Result<(Vec<NeighborStatus>, Vec<BfdPeer>), String> {
    let text = frr.command("show bgp vrf all neighbors json").await.map_err(|e| e.to_string())?;
    let neighbors = parse_neighbors(&text).map_err(|e| e.to_string())?;
    let bfd =
        match (frr.bfd_command("show bfd peers json").await, frr.bfd_command("show bfd peers counters json").await) {
            (Ok(p), Ok(c)) => parse_bfd(&p, &c).unwrap_or_default(),
            _ => Vec::new(),
        };
    Ok((neighbors, bfd))
}

/// Send `value` on a latest-state channel unless it holds an equal one (receivers wake on change only).
fn publish_if_changed<T: PartialEq>(tx: &watch::Sender<Option<Arc<T>>>, value: T) {
    tx.send_if_modified(|old| {
        let changed = old.as_deref() != Some(&value);
        if changed {
            *old = Some(Arc::new(value));
        }
        changed
    });
}

/// Write frr.conf; on failure (disk full, read-only) log once and report "not written" so the
/// next probe tries again. FRR itself already runs the config.
fn write_file(path: &std::path::Path, rendered: &Arc<Rendered>) -> Option<Arc<Rendered>> {
    static FAILING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    match write_config_file(path, &rendered.text) {
        Ok(()) => {
            if FAILING.swap(false, Ordering::Relaxed) {
                info!(path = %path.display(), "frr.conf written again");
            }
            Some(rendered.clone())
        }
        Err(e) => {
            if !FAILING.swap(true, Ordering::Relaxed) {
                warn!(path = %path.display(), error = %e, "cannot write frr.conf; retrying every probe");
            }
            None
        }
    }
}
