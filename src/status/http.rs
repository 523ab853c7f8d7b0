//! `/metrics`, `/healthz` (the agent's loop is alive) and `/readyz` (first apply done and FRR
//! reachable), on --metrics-addr. Served from state the other tasks publish; a scrape never waits
//! for FRR or for an apply.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::{debug, warn};

use super::metrics::Metrics;

pub use crate::health::Health;

pub async fn serve(listener: TcpListener, metrics: Metrics, health: Arc<Health>) {
    serve_with(listener, Arc::new(move |path: &str| respond(path, &metrics, &health))).await
}

/// What a path answers: status code and body.
pub type Responder = Arc<dyn Fn(&str) -> (StatusCode, String) + Send + Sync>;

/// Serve `respond` over HTTP/1 until the task is dropped.
pub async fn serve_with(listener: TcpListener, respond: Responder) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "metrics listener accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let respond = respond.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let (code, body) = respond(req.uri().path());
                let mut r = Response::new(Full::new(Bytes::from(body)));
                *r.status_mut() = code;
                async move { Ok::<_, Infallible>(r) }
            });
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await {
                debug!(peer = %peer, error = %e, "metrics connection");
            }
        });
    }
}

fn respond(path: &str, metrics: &Metrics, health: &Health) -> (StatusCode, String) {
    match path {
        "/metrics" => (StatusCode::OK, metrics.encode()),
        "/healthz" => (StatusCode::OK, "ok\n".to_string()),
        "/readyz" => {
            let applied = health.applied_once.load(Ordering::Relaxed);
            let reachable = health.frr_reachable.load(Ordering::Relaxed);
            if applied && reachable {
                (StatusCode::OK, "ready\n".to_string())
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, format!("applied_once={applied} frr_reachable={reachable}\n"))
            }
        }
        _ => (StatusCode::NOT_FOUND, "not found\n".to_string()),
    }
}

pub fn bind_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|e| format!("--metrics-addr {s:?}: {e}"))
}
