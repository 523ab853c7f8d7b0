//! `frr-speaker run`: the long-lived tasks and the channels between them. Wiring only: each task
//! lives in the module that owns its job.
//!
//! ```text
//!  file source ──watch<Input>──► compute ──watch<Rendered>──► applier ──vty──► FRR
//!  (sources::file_watch)        (pipeline::run,  │           (frr::applier:        │
//!  or kube source                pure)           │            diff, apply, verify, │
//!  (sources::kube)                  │ watch<problems>         restart detection)   │
//!        │                          ▼                          │ watch<ApplyState>  │
//!        └──────────────────► status writer (Kubernetes mode) ◄┘                   │
//!                             (status::kube: objects + Events)  ◄── watch<sessions> ── session poller
//!                                                 (status::sessions maps its readings)  (frr::sessions)
//!        metrics / health  ◄── every task publishes; the HTTP server only reads
//! ```
//!
//! Latest-state channels (`tokio::sync::watch`) between the stages: a burst of changes collapses
//! into one compute and one apply, without a fixed debounce delay. Nothing is applied before the
//! first complete read of the inputs, and an invalid input never replaces the last good config.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::sync::watch;
use tracing::{error, info, info_span, warn};

use crate::desired::Options;
use crate::drain::{self, DrainMode};
use crate::frr::applier::{self, ApplyState};
use crate::frr::driver::{FrrVty, Timeouts};
use crate::frr::sessions;
use crate::latest::publish_if_changed;
use crate::pipeline::{self, Rendered};
use crate::problem::{Problem, Severity};
use crate::sources::{self, interfaces::connected_networks, Input};
use crate::status::http::{self, Health};
use crate::status::metrics::Metrics;

/// How long an exiting agent waits for a command to FRR under way (see `run`); the pod's
/// terminationGracePeriodSeconds covers this and the drain's waits.
pub const EXIT_WAIT: Duration = Duration::from_secs(5);
use crate::status::objects::SessionFact;

pub struct RunConfig {
    pub node: String,
    pub manifests: Option<PathBuf>,
    pub frr_config: PathBuf,
    pub vty_socket_dir: PathBuf,
    pub metrics_addr: SocketAddr,
    pub namespace: String,
    pub lb_class: Option<String>,
    /// Where FRRConfigurations are read from (`None`: `namespace`).
    pub frrk8s_namespace: Option<String>,
    pub always_block: Vec<ipnet::IpNet>,
    pub status_qps: f64,
    pub drain: DrainMode,
    pub drain_waits: drain::Waits,
    pub timeouts: Timeouts,
}

impl RunConfig {
    /// What the computation needs of the configuration.
    fn options(&self) -> Options {
        Options {
            node: self.node.clone(),
            namespace: self.namespace.clone(),
            lb_class: self.lb_class.clone(),
            connected: None,
            whole_cluster: false,
            frrk8s_namespace: self.frrk8s_namespace.clone(),
            always_block: self.always_block.clone(),
        }
    }
}

pub async fn run(cfg: RunConfig) -> anyhow::Result<()> {
    let metrics = Metrics::new().context("registering metrics")?;
    let health = Arc::new(Health::default());
    let listener = tokio::net::TcpListener::bind(cfg.metrics_addr)
        .await
        .with_context(|| format!("listening on --metrics-addr {}", cfg.metrics_addr))?;

    let (input_tx, input_rx) = watch::channel::<Option<Arc<Input>>>(None);
    let (conf_tx, conf_rx) = watch::channel::<Option<Arc<Rendered>>>(None);
    let (problems_tx, problems_rx) = watch::channel::<Option<Arc<Vec<Problem>>>>(None);
    let (apply_tx, apply_rx) = watch::channel(ApplyState::default());
    let (sessions_tx, sessions_rx) = watch::channel::<Option<Arc<Vec<SessionFact>>>>(None);
    let opts = cfg.options();
    // Every vty client of the agent: at exit, a command under way finishes first.
    let gate = crate::frr::vty::Gate::default();
    let frr = || FrrVty::with_timeouts(&cfg.vty_socket_dir, cfg.timeouts).with_gate(&gate);
    let mut tasks = tokio::task::JoinSet::new();
    match cfg.manifests.clone() {
        Some(dir) => {
            info!(node = %cfg.node, manifests = %dir.display(), vty = %cfg.vty_socket_dir.display(), "starting in file mode");
            tasks.spawn(sources::file_watch::run(dir, cfg.namespace.clone(), input_tx));
        }
        None => {
            // In-cluster config, or KUBECONFIG.
            let client = kube::Client::try_default().await.context("connecting to Kubernetes")?;
            info!(node = %cfg.node, namespace = %cfg.namespace, vty = %cfg.vty_socket_dir.display(), "starting in Kubernetes mode");
            let namespaces = sources::kube::Namespaces {
                config: cfg.namespace.clone(),
                frrk8s: opts.frrk8s_namespace().to_string(),
            };
            tasks.spawn(sources::kube::run(client.clone(), namespaces, cfg.node.clone(), input_tx));
            let status_sources = crate::status::kube::Sources {
                input: input_rx.clone(),
                problems: problems_rx,
                apply: apply_rx.clone(),
                sessions: sessions_rx,
            };
            let status_namespaces = crate::status::kube::Namespaces {
                config: cfg.namespace.clone(),
                frrk8s: opts.frrk8s_namespace().to_string(),
            };
            tasks.spawn(crate::status::kube::run(
                client,
                status_namespaces,
                cfg.node.clone(),
                cfg.status_qps,
                status_sources,
                metrics.status_pending.clone(),
            ));
        }
    }
    tasks.spawn(compute_task(input_rx.clone(), conf_tx, problems_tx, opts, metrics.clone()));
    let applier_metrics = applier::ApplierMetrics::register(&metrics.registry).context("registering metrics")?;
    let outputs = applier::Outputs { state: apply_tx, metrics: applier_metrics, health: health.clone() };
    tasks.spawn(applier::run(frr(), conf_rx, cfg.frr_config.clone(), outputs));
    // Its own vty connections: a slow answer never delays an apply.
    let (readings_tx, readings_rx) = watch::channel(None);
    tasks.spawn(sessions::poll(frr(), readings_tx));
    tasks.spawn(crate::status::sessions::follow(readings_rx, sessions_tx, metrics.frr.clone()));
    tasks.spawn(metrics.frr.clone().follow_applied(apply_rx, cfg.node.clone()));
    // Outside `tasks`: /metrics and the health endpoints keep answering while the node drains.
    let server = tokio::spawn(http::serve(listener, metrics, health));

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let terminated = tokio::select! {
        _ = term.recv() => true,
        _ = tokio::signal::ctrl_c() => false,
        r = tasks.join_next() => bail!("a task ended unexpectedly: {r:?}"),
    };
    // A vty command under way finishes first (FRR 10.3's bgpd crashes when a client leaves
    // while it writes an answer, such as a check's `show running-config`: a few hundred
    // milliseconds at 100,000 Services), bounded so that a drain still fits the pod's grace
    // period; then nothing may re-apply the normal config.
    let limit = cfg.timeouts.show.min(EXIT_WAIT);
    let quiet = tokio::time::timeout(limit, gate.close()).await;
    if quiet.is_err() {
        warn!(secs = limit.as_secs(), "a command to FRR still under way at exit; leaving it");
    }
    tasks.abort_all();
    drop(quiet);
    let cordoned = input_rx
        .borrow()
        .as_ref()
        .and_then(|i| i.snapshot.nodes.get(&cfg.node).map(|n| n.unschedulable))
        .unwrap_or(false);
    if !cfg.drain.drains(terminated, cordoned) {
        info!(cordoned, "exiting; FRR keeps running its config (no drain: an agent-only restart changes nothing)");
        server.abort();
        return Ok(());
    }
    let res = drain::drain(&frr(), &cfg.vty_socket_dir, cfg.drain_waits).await;
    server.abort();
    match res {
        Ok(()) => {
            info!("drained: every prefix withdrawn; exiting");
            Ok(())
        }
        Err(e) => bail!("drain failed: {e}"),
    }
}

/// Input → `pipeline::Pipeline::run` (incremental) → rendered config for the applier, problems for the status writer.
/// Each problem is logged once, when it appears; an invalid input keeps the last good config.
async fn compute_task(
    mut rx: watch::Receiver<Option<Arc<Input>>>,
    tx: watch::Sender<Option<Arc<Rendered>>>,
    problems_tx: watch::Sender<Option<Arc<Vec<Problem>>>>,
    opts: Options,
    metrics: Metrics,
) {
    let mut reported: BTreeSet<Problem> = BTreeSet::new();
    let mut last: Option<Arc<Rendered>> = None;
    let mut incremental = pipeline::Pipeline::default();
    while rx.changed().await.is_ok() {
        let Some(input) = rx.borrow_and_update().clone() else { continue };
        let input_since = input.since;
        let mut opts = opts.clone();
        opts.connected = connected_networks();
        let span = info_span!(
            "compute",
            services = input.snapshot.services.len(),
            recomputed = tracing::field::Empty,
            ms = tracing::field::Empty
        );
        let mut pipe = std::mem::take(&mut incremental);
        let computed = tokio::task::spawn_blocking(move || {
            let _enter = span.enter();
            let t0 = Instant::now();
            let (out, mode) = pipe.run(&input.snapshot, &input.problems, &opts);
            span.record("ms", t0.elapsed().as_millis() as u64);
            span.record("recomputed", tracing::field::debug(mode));
            tracing::debug!(problems = out.problems.len(), "computed");
            (out, pipe)
        })
        .await;
        let Ok((out, pipe)) = computed else {
            // The incremental memory is gone with the task: the next computation is a full one.
            error!("compute panicked; keeping the last good config");
            continue;
        };
        incremental = pipe;
        // Log each problem once, when it appears.
        let now: BTreeSet<Problem> = out.problems.iter().cloned().collect();
        for p in now.difference(&reported) {
            match p.severity {
                Severity::Error => error!(problem = %p, "invalid input: keeping the last good config"),
                Severity::Warning => warn!(problem = %p, "input ignored"),
            }
        }
        reported = now;
        let errors = out.problems.iter().filter(|p| p.is_error()).count() as i64;
        metrics.problems.with_label_values(&["error"]).set(errors);
        metrics.problems.with_label_values(&["warning"]).set(out.problems.len() as i64 - errors);
        publish_if_changed(&problems_tx, out.problems);
        match out.config {
            Some(Ok(mut rendered)) => {
                rendered.since = input_since;
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
