//! `frr-speaker controller`: the Kubernetes side of the allocator. One replica leads (a
//! coordination.k8s.io Lease); the leader watches Services, Namespaces and IPAddressPools, feeds
//! them to the `Allocator`, and writes what changed: `status.loadBalancer.ingress`, the
//! `metallb.io/ip-allocated-from-pool` annotation, pool status counts, Events. Replicas that do not
//! lead only wait; a leader that cannot renew its lease exits (the Deployment restarts it), so two
//! replicas never write at once for longer than the renew deadline allows.
//!
//! - `lease`: the Lease-based election and the tenure that gates every write;
//! - `allocation`: the watches (kube-runtime reflector stores) and the allocation passes;
//! - `writer`: Service status and annotation, pool status, Events.

mod allocation;
mod lease;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::StatusCode;
use kube::Client;
use prometheus::{Encoder, GaugeVec, IntGauge, Opts, Registry, TextEncoder};
use tracing::{error, info, warn};

use lease::{Elector, Tenure};

pub struct ControllerConfig {
    pub namespace: String,
    pub lb_class: Option<String>,
    /// This replica's name in the Lease.
    pub identity: String,
    pub lease_name: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
    pub metrics_addr: SocketAddr,
}

/// The controller's metrics (the agent's are `status::metrics::Metrics`).
#[derive(Clone)]
pub(super) struct ControllerMetrics {
    registry: Registry,
    pub(super) in_use: GaugeVec,
    pub(super) total: GaugeVec,
    leader: IntGauge,
}

impl ControllerMetrics {
    fn new() -> Result<ControllerMetrics, prometheus::Error> {
        let registry = Registry::new();
        let in_use = GaugeVec::new(
            Opts::new("metallb_allocator_addresses_in_use_total", "Number of IP addresses in use, by pool"),
            &["pool"],
        )?;
        let total = GaugeVec::new(
            Opts::new("metallb_allocator_addresses_total", "Number of usable IP addresses, by pool"),
            &["pool"],
        )?;
        let leader = IntGauge::new("frr_speaker_controller_leader", "1 while this replica holds the lease")?;
        registry.register(Box::new(in_use.clone()))?;
        registry.register(Box::new(total.clone()))?;
        registry.register(Box::new(leader.clone()))?;
        Ok(ControllerMetrics { registry, in_use, total, leader })
    }

    fn encode(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

pub async fn run(cfg: ControllerConfig) -> anyhow::Result<()> {
    let metrics = ControllerMetrics::new().context("registering metrics")?;
    let listener = tokio::net::TcpListener::bind(cfg.metrics_addr)
        .await
        .with_context(|| format!("listening on --metrics-addr {}", cfg.metrics_addr))?;
    let m = metrics.clone();
    let server = tokio::spawn(crate::status::http::serve_with(
        listener,
        Arc::new(move |path: &str| match path {
            "/metrics" => (StatusCode::OK, m.encode()),
            "/healthz" | "/readyz" => (StatusCode::OK, "ok\n".into()),
            _ => (StatusCode::NOT_FOUND, "not found\n".into()),
        }),
    ));
    let client = Client::try_default().await.context("connecting to Kubernetes")?;
    let mut elector = Elector::new(&client, &cfg);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    info!(identity = %cfg.identity, lease = %format!("{}/{}", cfg.namespace, cfg.lease_name), "waiting to lead");
    let tenure = Arc::new(Tenure::new(cfg.renew_deadline));
    loop {
        let sent = Instant::now();
        match elector.try_acquire_or_renew().await {
            Ok(true) => {
                tenure.renewed(sent);
                break;
            }
            Ok(false) => {}
            Err(e) => warn!(error = %e, "cannot read or take the lease"),
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.retry_period) => {}
            _ = term.recv() => { server.abort(); return Ok(()) }
        }
    }
    info!(identity = %cfg.identity, "leading");
    metrics.leader.set(1);
    let work = tokio::spawn(allocation::run(
        client.clone(),
        cfg.namespace.clone(),
        cfg.lb_class.clone(),
        metrics.clone(),
        tenure.clone(),
        cfg.identity.clone(),
    ));
    let result = loop {
        tokio::select! {
            _ = tokio::time::sleep(cfg.retry_period) => {}
            _ = term.recv() => {
                work.abort();
                // Hand over at once instead of making the next leader wait out the lease.
                if let Err(e) = elector.release().await {
                    warn!(error = %e, "cannot release the lease");
                }
                info!("stopped; lease released");
                break Ok(());
            }
        }
        let sent = Instant::now();
        match elector.try_acquire_or_renew().await {
            Ok(true) => tenure.renewed(sent),
            Ok(false) => {
                break Err(anyhow::anyhow!("another replica took the lease"));
            }
            Err(e) => {
                warn!(error = %e, "cannot renew the lease");
                if !tenure.valid() {
                    break Err(anyhow::anyhow!("lease not renewed within {:?}", cfg.renew_deadline));
                }
            }
        }
        if work.is_finished() {
            break Err(anyhow::anyhow!("the allocator stopped"));
        }
    };
    work.abort();
    metrics.leader.set(0);
    server.abort();
    if let Err(e) = &result {
        error!(error = %e, "no longer leading: exiting so that only the leader writes");
    }
    result
}
