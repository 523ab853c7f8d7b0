//! A proxy in front of the real kube-apiserver that loses answers: a request a rule picks is
//! forwarded, the apiserver's answer read in full (the request is done: an object created, a
//! lease renewed), and the client is told 504 Timeout instead, as the apiserver itself answers a
//! request that outlived its timeout while storage may still commit it. Everything else passes
//! through unchanged, streamed (watches too). Clients reach it over plain HTTP on loopback; it
//! passes their own Authorization header on, so RBAC is the apiserver's as usual.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};

/// Which requests lose their answer: method, a path fragment, and how many times.
#[derive(Clone, Debug)]
pub struct LoseAnswers {
    pub method: &'static str,
    pub path_contains: &'static str,
    /// Lose the answer of every `every`th matching request (1: each one)...
    pub every: usize,
    /// ...this many times in all.
    pub times: usize,
}

struct Rule {
    lose: LoseAnswers,
    seen: usize,
    lost: usize,
}

pub struct Proxy {
    pub url: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Answers lost so far.
    lost: Arc<AtomicUsize>,
}

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

const TIMEOUT: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Timeout: request did not complete within requested timeout - context deadline exceeded","reason":"Timeout","details":{},"code":504}"#;

/// Headers about one connection, not the request: each side's HTTP stack writes its own.
const HOP_BY_HOP: [hyper::header::HeaderName; 5] = [
    hyper::header::HOST,
    hyper::header::CONNECTION,
    hyper::header::TRANSFER_ENCODING,
    hyper::header::CONTENT_LENGTH,
    hyper::header::UPGRADE,
];

fn full(code: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_string())).map_err(|e| match e {}).boxed_unsync());
    *r.status_mut() = code;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

impl Proxy {
    /// A proxy to the apiserver at `url` (its CA in `ca`), losing the answers `rules` pick.
    pub fn start(url: &str, ca: &Path, rules: Vec<LoseAnswers>) -> Proxy {
        let rules = Arc::new(Mutex::new(rules.into_iter().map(|lose| Rule { lose, seen: 0, lost: 0 }).collect()));
        let lost = Arc::new(AtomicUsize::new(0));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (url, ca, r, l) = (url.to_string(), ca.to_path_buf(), rules.clone(), lost.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
            rt.block_on(serve(listener, &url, &ca, r, l, stopped));
        });
        Proxy { url: format!("http://{addr}"), rules, stop: Some(stop), thread: Some(thread), lost }
    }

    /// A kubeconfig that reaches the apiserver through this proxy as `token`.
    pub fn kubeconfig(&self, dir: &Path, token: &str) -> PathBuf {
        let p = dir.join(format!("{token}-proxied.kubeconfig"));
        let text = super::controlplane::kubeconfig_yaml_with(&self.url, None, Some(token));
        std::fs::write(&p, text).expect("kubeconfig");
        p
    }

    /// How many answers were lost so far.
    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }

    /// How many answers rule `i` (in the order given to `start`) lost so far.
    pub fn lost_by(&self, i: usize) -> usize {
        self.rules.lock().expect("rules").get(i).map_or(0, |r| r.lost)
    }

    /// Lose no more answers.
    pub fn heal(&self) {
        self.rules.lock().expect("rules").clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Does this request lose its answer?
fn picked(rules: &Mutex<Vec<Rule>>, method: &str, path: &str) -> bool {
    let mut rules = rules.lock().expect("rules");
    for r in rules.iter_mut() {
        if r.lose.method == method && path.contains(r.lose.path_contains) && r.lost < r.lose.times {
            r.seen += 1;
            if r.seen % r.lose.every.max(1) == 0 {
                r.lost += 1;
                return true;
            }
        }
    }
    false
}

async fn serve(
    listener: std::net::TcpListener,
    url: &str,
    ca: &Path,
    rules: Arc<Mutex<Vec<Rule>>>,
    lost: Arc<AtomicUsize>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    // The upstream client: the apiserver's CA, no credentials of its own (the caller's header
    // passes through), and no retries (the caller's client decides that).
    let kc = super::controlplane::kubeconfig_yaml_with(url, Some(ca), None);
    let kc: kube::config::Kubeconfig = serde_yaml_ng::from_str(&kc).expect("kubeconfig");
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
    cfg.default_retry = false;
    cfg.read_timeout = None;
    let upstream = kube::Client::try_from(cfg).expect("client");
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
            _ = &mut stopped => return,
        };
        let (upstream, rules, lost) = (upstream.clone(), rules.clone(), lost.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (upstream, rules, lost) = (upstream.clone(), rules.clone(), lost.clone());
                async move { Ok::<_, std::convert::Infallible>(forward(&upstream, &rules, &lost, req).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
        });
    }
}

async fn forward(
    upstream: &kube::Client,
    rules: &Mutex<Vec<Rule>>,
    lost: &AtomicUsize,
    req: Request<Incoming>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let lose = picked(rules, parts.method.as_str(), &path);
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return full(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let mut up =
        Request::builder().method(parts.method.clone()).uri(parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    for (k, v) in parts.headers.iter() {
        if !HOP_BY_HOP.contains(k) {
            up = up.header(k, v);
        }
    }
    let up = up.body(kube::client::Body::from(body.to_vec())).expect("request");
    let res = match upstream.send(up).await {
        Ok(r) => r,
        Err(e) => return full(StatusCode::BAD_GATEWAY, &e.to_string()),
    };
    if lose {
        // The apiserver has done the request; its answer is read to the end, then dropped.
        let _ = res.into_body().collect_bytes().await;
        lost.fetch_add(1, Ordering::SeqCst);
        return full(StatusCode::GATEWAY_TIMEOUT, TIMEOUT);
    }
    let (mut parts, body) = res.into_parts();
    for h in HOP_BY_HOP {
        parts.headers.remove(h);
    }
    Response::from_parts(
        parts,
        body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>).boxed_unsync(),
    )
}
