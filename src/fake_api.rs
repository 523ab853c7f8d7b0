//! A fake apiserver for unit tests of the code that writes to Kubernetes: objects kept by path,
//! create / get / list (equality label selectors) / merge patch / server-side apply (creates; a
//! merge here) / replace / delete, the `/status` subresource, with the apiserver's answers (201,
//! 404, 409 AlreadyExists, 409 Conflict on a stale resourceVersion), every request recorded, and
//! faults injected by a rule. Its client has kube's own retry layer, as `kube::Client::try_from` builds
//! it, so a fault that answers 504 after doing the request shows what a real retry meets.
//!
//! The real apiserver tests (tests/*.rs) stay the reference; this one makes a writer's exact
//! requests and a fault's outcome testable in milliseconds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use kube::client::retry::RetryPolicy;
use kube::client::Body;
use serde_json::{json, Value};
use tower::retry::RetryLayer;
use tower::{BoxError, ServiceBuilder};

/// What a fault rule does to one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Do the request, then answer 504 Timeout (the apiserver's answer to a request that outlived
    /// its timeout, whose write may still have been committed).
    LoseAnswer,
    /// A create finds this object (someone else's) under the name it carries.
    NameTaken(Value),
}

type Rule = Box<dyn FnMut(&Method, &str) -> Option<Fault> + Send>;

#[derive(Default)]
struct State {
    /// Objects by their path (`/apis/.../namespaces/ns/plural/name`).
    objects: BTreeMap<String, Value>,
    /// Every request: method and path.
    requests: Vec<(Method, String)>,
    rule: Option<Rule>,
    version: u64,
}

/// The fake; cheap to clone (shared state).
#[derive(Clone, Default)]
pub struct FakeApi(Arc<Mutex<State>>);

fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()});
    answer(code, &body)
}

fn answer(code: StatusCode, body: &Value) -> Response<Body> {
    let mut r = Response::new(Body::from(body.to_string().into_bytes()));
    *r.status_mut() = code;
    r
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

impl FakeApi {
    pub fn new() -> FakeApi {
        FakeApi::default()
    }

    /// A client that talks to this fake through kube's default retry layer.
    pub fn client(&self) -> kube::Client {
        let fake = self.clone();
        let service = ServiceBuilder::new().layer(RetryLayer::new(RetryPolicy::server_retry())).service_fn(
            move |req: Request<Body>| {
                let fake = fake.clone();
                async move { Ok::<_, BoxError>(fake.serve(req).await) }
            },
        );
        kube::Client::new(service, "default")
    }

    /// Apply `rule` to every request from now on.
    pub fn set_rule(&self, rule: impl FnMut(&Method, &str) -> Option<Fault> + Send + 'static) {
        self.lock().rule = Some(Box::new(rule));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forget the requests so far.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// The requests so far, as `METHOD path`.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.iter().map(|(m, p)| format!("{m} {p}")).collect()
    }

    /// The objects whose path starts with `prefix`.
    pub fn objects(&self, prefix: &str) -> Vec<Value> {
        self.lock()
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Store an object as if someone else had created it.
    pub fn put(&self, path: &str, obj: Value) {
        self.lock().objects.insert(path.to_string(), obj);
    }

    /// Remove an object as if someone else had deleted it.
    pub fn remove(&self, path: &str) {
        self.lock().objects.remove(path);
    }

    async fn serve(&self, req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = body.collect_bytes().await.unwrap_or_default();
        let path = parts.uri.path().to_string();
        // The rule runs unlocked: it may read or change the objects itself.
        let mut rule = self.lock().rule.take();
        let fault = rule.as_mut().and_then(|r| r(&parts.method, &path));
        let path = path.trim_end_matches('/').to_string();
        let mut st = self.lock();
        if st.rule.is_none() {
            st.rule = rule;
        }
        st.requests.push((parts.method.clone(), path.clone()));
        if let Some(Fault::NameTaken(other)) = &fault {
            let name = serde_json::from_slice::<Value>(&body).unwrap_or_default()["metadata"]["name"].clone();
            let mut other = other.clone();
            merge(&mut other, &json!({"metadata": {"name": name}}));
            let key = format!("{path}/{}", name.as_str().unwrap_or_default());
            st.objects.insert(key, other);
        }
        let query = parts.uri.query().unwrap_or_default().to_string();
        let res = st.handle(&parts.method, &path, &query, &body);
        match fault {
            Some(Fault::LoseAnswer) => status(
                StatusCode::GATEWAY_TIMEOUT,
                "Timeout",
                "Timeout: request did not complete within requested timeout - context deadline exceeded",
            ),
            _ => res,
        }
    }
}

/// `/api/v1/namespaces/ns/services/web/status` → (`/api/v1/namespaces/ns/services`, Some("web"),
/// Some("status")); a collection has no name.
fn shape(path: &str) -> (String, Option<String>, Option<String>) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    // api/v1 or apis/group/version, then namespaces/ns (optional), then plural[/name[/sub]].
    let mut at = if segs.first() == Some(&"api") { 2 } else { 3 };
    if segs.get(at) == Some(&"namespaces") && segs.len() > at + 2 {
        at += 2;
    }
    let collection = format!("/{}", segs[..(at + 1).min(segs.len())].join("/"));
    (collection, segs.get(at + 1).map(|s| s.to_string()), segs.get(at + 2).map(|s| s.to_string()))
}

/// Does `obj` carry every `k=v` of `selector`?
fn selected(obj: &Value, selector: &str) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|t| match t.split_once('=') {
        Some((k, v)) => obj["metadata"]["labels"][k] == *v,
        None => false,
    })
}

impl State {
    fn handle(&mut self, method: &Method, path: &str, query: &str, body: &[u8]) -> Response<Body> {
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let not_found = || status(StatusCode::NOT_FOUND, "NotFound", &format!("{path} not found"));
        let (collection, name, sub) = shape(path);
        let key = name.as_ref().map(|n| format!("{collection}/{n}"));
        match (method.clone(), key) {
            (Method::POST, None) => {
                let name = parsed["metadata"]["name"].as_str().unwrap_or_default();
                let key = format!("{path}/{name}");
                if self.objects.contains_key(&key) {
                    return status(StatusCode::CONFLICT, "AlreadyExists", &format!("{name} already exists"));
                }
                let obj = self.stored(parsed);
                self.objects.insert(key, obj.clone());
                answer(StatusCode::CREATED, &obj)
            }
            (Method::GET, None) => {
                let selector = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("labelSelector="))
                    .map(|s| s.replace("%3D", "=").replace("%2C", ",").replace("%2F", "/"))
                    .unwrap_or_default();
                let prefix = format!("{collection}/");
                let items: Vec<Value> = self
                    .objects
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .filter(|(k, o)| !k[prefix.len()..].contains('/') && selected(o, &selector))
                    .map(|(_, o)| o.clone())
                    .collect();
                answer(
                    StatusCode::OK,
                    &json!({"kind": "List", "apiVersion": "v1",
                    "metadata": {"resourceVersion": self.version.to_string()}, "items": items}),
                )
            }
            (Method::GET, Some(key)) => match self.objects.get(&key) {
                Some(o) => answer(StatusCode::OK, o),
                None => not_found(),
            },
            (Method::PATCH, Some(key)) => {
                // Server-side apply (`fieldManager` in the query) creates the object; a merge
                // patch needs it.
                let apply = query.contains("fieldManager=");
                let Some(mut obj) = self.objects.get(&key).cloned().or(apply.then(|| json!({}))) else {
                    return not_found();
                };
                // A resourceVersion in a merge patch is a precondition.
                let sent = &parsed["metadata"]["resourceVersion"];
                if !apply && !sent.is_null() && *sent != obj["metadata"]["resourceVersion"] {
                    return status(StatusCode::CONFLICT, "Conflict", "the object has been modified");
                }
                match sub.as_deref() {
                    Some("status") => merge(&mut obj, &json!({"status": parsed["status"].clone()})),
                    _ => merge(&mut obj, &parsed),
                }
                let obj = self.stored(obj);
                self.objects.insert(key, obj.clone());
                answer(StatusCode::OK, &obj)
            }
            (Method::PUT, Some(key)) => {
                let Some(old) = self.objects.get(&key) else { return not_found() };
                let sent = &parsed["metadata"]["resourceVersion"];
                if !sent.is_null() && *sent != old["metadata"]["resourceVersion"] {
                    return status(StatusCode::CONFLICT, "Conflict", "the object has been modified");
                }
                let obj = self.stored(parsed);
                self.objects.insert(key, obj.clone());
                answer(StatusCode::OK, &obj)
            }
            (Method::DELETE, Some(key)) => match self.objects.remove(&key) {
                Some(o) => answer(StatusCode::OK, &o),
                None => not_found(),
            },
            _ => status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "not in the fake"),
        }
    }

    /// `obj` with a new resourceVersion.
    fn stored(&mut self, mut obj: Value) -> Value {
        self.version += 1;
        merge(&mut obj, &json!({"metadata": {"resourceVersion": self.version.to_string()}}));
        obj
    }
}
