//! Kubernetes mode: watch what the speaker needs and publish a snapshot. Every kind is watched as
//! a dynamic object and converted by the same parser as file mode, so a malformed object becomes
//! a problem naming its field and never breaks a watch. Nothing is published before every watch
//! has finished its initial list (a restarted agent must not apply a config that lacks Services it
//! simply has not seen yet). Watch errors are retried with backoff; the last snapshot stays.
//!
//! Cost: Services and EndpointSlices are watched cluster-wide (they decide what is announced);
//! Nodes only this node (field selector); metallb.io objects and Secrets only in the config
//! namespace, and of its ConfigMaps only `bgpextras`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, DefaultBackoff, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use kube::Resource;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::manifest::{parse_json, Parsed};
use super::Input;
use crate::index::{Snapshot, EXTRAS_CONFIGMAP};
use crate::model::core::ObjKey;
use crate::problem::Kind;

/// What to watch: kind, its API resource (from its Rust type), and whether it is namespaced to
/// the config namespace.
struct Watched {
    kind: Kind,
    ar: ApiResource,
    scope: Scope,
}

enum Scope {
    ConfigNamespace,
    /// frr-k8s's namespace (FRRConfigurations).
    FrrK8sNamespace,
    /// One object of the config namespace, by name.
    ConfigObject(&'static str),
    Cluster,
    ThisNode,
}

fn watch<K: Resource<DynamicType = ()>>(kind: Kind, scope: Scope) -> Watched {
    Watched { kind, ar: ApiResource::erase::<K>(&()), scope }
}

fn watched() -> Vec<Watched> {
    use crate::model::crds::{BfdProfile, BgpAdvertisement, BgpPeer, Community, IpAddressPool, L2Advertisement};
    use crate::model::frrk8s::FrrConfiguration;
    use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret, Service};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    vec![
        watch::<BgpPeer>(Kind::BGPPeer, Scope::ConfigNamespace),
        watch::<BgpAdvertisement>(Kind::BGPAdvertisement, Scope::ConfigNamespace),
        watch::<L2Advertisement>(Kind::L2Advertisement, Scope::ConfigNamespace),
        watch::<IpAddressPool>(Kind::IPAddressPool, Scope::ConfigNamespace),
        watch::<BfdProfile>(Kind::BFDProfile, Scope::ConfigNamespace),
        watch::<Community>(Kind::Community, Scope::ConfigNamespace),
        watch::<FrrConfiguration>(Kind::FRRConfiguration, Scope::FrrK8sNamespace),
        watch::<Secret>(Kind::Secret, Scope::ConfigNamespace),
        watch::<ConfigMap>(Kind::ConfigMap, Scope::ConfigObject(EXTRAS_CONFIGMAP)),
        watch::<Service>(Kind::Service, Scope::Cluster),
        watch::<EndpointSlice>(Kind::EndpointSlice, Scope::Cluster),
        watch::<Node>(Kind::Node, Scope::ThisNode),
    ]
}

/// kube-runtime's default backoff (client-go's: 0.8 s doubling to 30 s, jittered), except after
/// "410 Expired": the watch's resourceVersion is too old (as after an apiserver restart) and the
/// remedy is a relist, at once, as client-go's reflector does, not another 30 s wait.
struct RelistAtOnce {
    inner: DefaultBackoff,
    expired: Arc<AtomicBool>,
}

impl Iterator for RelistAtOnce {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.expired.swap(false, Ordering::Relaxed) {
            self.inner.reset();
            return Some(Duration::from_millis(100));
        }
        self.inner.next()
    }
}

impl Backoff for RelistAtOnce {
    fn reset(&mut self) {
        self.inner.reset();
    }
}

fn is_expired(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::WatchError(s) => s.code == 410,
        watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code == 410,
        _ => false,
    }
}

/// The namespaces the watches read: MetalLB's configuration, frr-k8s's FRRConfigurations.
#[derive(Clone, Debug)]
pub struct Namespaces {
    pub config: String,
    pub frrk8s: String,
}

/// A custom resource whose CRD is not installed (the list is answered 404): a cluster may run
/// metallb.io objects only, FRRConfigurations only, or both.
fn is_missing(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s)) => s.code == 404,
        _ => false,
    }
}

/// One watch event, tagged with its kind.
enum Change {
    /// The kind's CRD is not installed: it has no objects (and the first sync does not wait).
    Missing(Kind),
    Init(Kind),
    Item {
        kind: Kind,
        init: bool,
        obj: DynamicObject,
    },
    Delete(Kind, DynamicObject),
    InitDone(Kind),
}

fn to_parsed(obj: &DynamicObject, ar: &ApiResource, ns: &str) -> Vec<Parsed> {
    let mut v = serde_json::to_value(obj).unwrap_or_default();
    // Watch events carry no apiVersion/kind on some paths; the parser needs them.
    v["apiVersion"] = serde_json::Value::from(ar.api_version.clone());
    v["kind"] = serde_json::Value::from(ar.kind.clone());
    parse_json(v, ns)
}

/// The API resource of a watched kind: for an Event's reference to an object of it, and to read
/// the object's uid (the status writer).
pub fn api_resource(kind: Kind) -> Option<ApiResource> {
    watched().into_iter().find(|w| w.kind == kind).map(|w| w.ar)
}

fn object_key(obj: &DynamicObject, kind: Kind) -> ObjKey {
    let ns = if kind == Kind::Node { String::new() } else { obj.metadata.namespace.clone().unwrap_or_default() };
    ObjKey::new(ns, obj.metadata.name.clone().unwrap_or_default())
}

type Changes = futures::stream::SelectAll<futures::stream::BoxStream<'static, Change>>;

/// One watch per kind, merged; and each kind's API resource (for parsing).
fn watch_all(client: &Client, ns: &Namespaces, node: &str) -> (Changes, BTreeMap<Kind, ApiResource>) {
    let namespace = ns.config.as_str();
    let mut streams = Vec::new();
    let mut resources: BTreeMap<Kind, ApiResource> = BTreeMap::new();
    for w in watched() {
        let ar = w.ar;
        resources.insert(w.kind, ar.clone());
        let (api, cfg): (Api<DynamicObject>, watcher::Config) = match w.scope {
            Scope::ConfigNamespace => {
                (Api::namespaced_with(client.clone(), namespace, &ar), watcher::Config::default())
            }
            Scope::FrrK8sNamespace => {
                (Api::namespaced_with(client.clone(), &ns.frrk8s, &ar), watcher::Config::default())
            }
            Scope::ConfigObject(name) => (
                Api::namespaced_with(client.clone(), namespace, &ar),
                watcher::Config::default().fields(&format!("metadata.name={name}")),
            ),
            // Pages of 100, not 500: the watcher holds a page of whole objects (EndpointSlices
            // with their managedFields) until it has handed each on (docs/benchmarks.md).
            Scope::Cluster => (Api::all_with(client.clone(), &ar), watcher::Config::default().page_size(100)),
            Scope::ThisNode => (
                Api::all_with(client.clone(), &ar),
                watcher::Config::default().fields(&format!("metadata.name={node}")),
            ),
        };
        let kind = w.kind;
        let expired = Arc::new(AtomicBool::new(false));
        let flag = expired.clone();
        // Said once while the CRD stays missing, again after it appeared and went.
        let missing = Arc::new(AtomicBool::new(false));
        let s = watcher::watcher(api, cfg)
            .inspect_err(move |e| flag.store(is_expired(e), Ordering::Relaxed))
            .backoff(RelistAtOnce { inner: DefaultBackoff::default(), expired })
            .filter_map(move |ev| {
                let missing = missing.clone();
                async move {
                match ev {
                    Err(e) if is_missing(&e) => {
                        if !missing.swap(true, Ordering::Relaxed) {
                            // A normal setup (metallb.io only, or FRRConfigurations only): said, not warned.
                            info!(kind = %kind, error = %e, "not served (its CRD is not installed): none of these objects is read until it is");
                        }
                        Some(Change::Missing(kind))
                    }
                    Ok(Event::Init) => {
                        if missing.swap(false, Ordering::Relaxed) {
                            info!(kind = %kind, "served now: reading these objects");
                        }
                        Some(Change::Init(kind))
                    }
                    Ok(Event::InitApply(o)) => Some(Change::Item { kind, init: true, obj: o }),
                    Ok(Event::InitDone) => Some(Change::InitDone(kind)),
                    Ok(Event::Apply(o)) => Some(Change::Item { kind, init: false, obj: o }),
                    Ok(Event::Delete(o)) => Some(Change::Delete(kind, o)),
                    Err(e) => {
                        warn!(kind = %kind, error = %e, "watch error; retrying, the last state is kept");
                        None
                    }
                }
                }
            });
        streams.push(s.boxed());
    }
    (futures::stream::select_all(streams), resources)
}

/// What the watches have said so far: the snapshot (persistent maps, shared with the published
/// inputs), and the kinds being listed. No uid is kept per object: an Event reads its object's
/// when it is published (a map of every object's uid grows with the cluster: docs/benchmarks.md).
struct View {
    namespace: String,
    resources: BTreeMap<Kind, ApiResource>,
    snap: Arc<Snapshot>,
    relisting: BTreeMap<Kind, Relisting>,
    synced: BTreeSet<Kind>,
}

/// A (re)list in progress: its objects go into the snapshot as they come (a list held until its
/// end was the agent's largest allocation at 10,000 Services); at the end, the objects of the kind
/// it did not name are gone. (Nothing is published before every kind's first list; a relist's
/// objects are each as current as a watch event.)
#[derive(Default)]
struct Relisting {
    /// Keys of the parsed objects.
    seen: BTreeSet<ObjKey>,
}

impl View {
    /// Has every kind finished its first list?
    fn complete(&self) -> bool {
        self.synced.len() == self.resources.len()
    }

    fn input(&self, since: std::time::Instant) -> Input {
        Input { snapshot: self.snap.clone(), problems: Vec::new(), since: Some(since) }
    }

    fn parse(&self, kind: Kind, obj: &DynamicObject) -> Vec<Parsed> {
        to_parsed(obj, &self.resources[&kind], &self.namespace)
    }

    fn apply(&mut self, change: Change) {
        match change {
            // As a list that named nothing: its objects (if the CRD went) are gone.
            Change::Missing(kind) => {
                self.relisting.insert(kind, Relisting::default());
                self.listed(kind);
            }
            Change::Init(kind) => {
                self.relisting.insert(kind, Relisting::default());
            }
            Change::Item { kind, init: true, obj } => {
                let parsed = self.parse(kind, &obj);
                let r = self.relisting.entry(kind).or_default();
                for p in parsed {
                    r.seen.insert(apply(Arc::make_mut(&mut self.snap), p));
                }
            }
            Change::InitDone(kind) => self.listed(kind),
            Change::Item { kind, init: false, obj } => {
                for p in self.parse(kind, &obj) {
                    apply(Arc::make_mut(&mut self.snap), p);
                }
            }
            Change::Delete(kind, obj) => {
                let key = object_key(&obj, kind);
                debug!(kind = %kind, object = %key, "deleted");
                Arc::make_mut(&mut self.snap).delete(kind, &key);
            }
        }
    }

    /// A (re)list of `kind` is complete: what it did not name of this kind is gone.
    fn listed(&mut self, kind: Kind) {
        let Relisting { seen } = self.relisting.remove(&kind).unwrap_or_default();
        for k in self.snap.keys(kind) {
            if !seen.contains(&k) {
                Arc::make_mut(&mut self.snap).delete(kind, &k);
            }
        }
        let n = seen.len();
        if !self.synced.insert(kind) {
            debug!(kind = %kind, objects = n, "relisted");
        } else {
            debug!(kind = %kind, objects = n, "initial list done");
            if self.complete() {
                info!("every watch has listed: publishing the first snapshot");
            }
        }
    }
}

/// Watch everything and publish snapshots on `tx`.
pub async fn run(client: Client, namespaces: Namespaces, node: String, tx: watch::Sender<Option<Arc<Input>>>) {
    let (mut all, resources) = watch_all(&client, &namespaces, &node);
    let namespace = namespaces.config;
    let mut view =
        View { namespace, resources, snap: Arc::default(), relisting: BTreeMap::new(), synced: BTreeSet::new() };
    while let Some(change) = all.next().await {
        let since = std::time::Instant::now();
        view.apply(change);
        // Apply everything that is ready now, then publish once: a burst becomes one snapshot.
        while let Some(more) = futures::FutureExt::now_or_never(all.next()) {
            match more {
                Some(c) => view.apply(c),
                None => return,
            }
        }
        if view.complete() {
            let _ = tx.send(Some(Arc::new(view.input(since))));
        }
    }
}

fn apply(snap: &mut Snapshot, p: Parsed) -> ObjKey {
    match p {
        Parsed::Object(o) => {
            let k = o.key();
            snap.apply(o);
            k
        }
        Parsed::Unreadable(pr) => {
            let k = pr.object.clone();
            snap.apply_unreadable(pr);
            k
        }
        // The apiserver prunes fields its schema does not define: nothing to say here.
        Parsed::Note(pr) => pr.object,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watched_resources_are_the_ones_metallb_and_kubernetes_serve() {
        let got: Vec<(Kind, String, String)> =
            watched().into_iter().map(|w| (w.kind, w.ar.api_version, w.ar.plural)).collect();
        let want = [
            (Kind::BGPPeer, "metallb.io/v1beta2", "bgppeers"),
            (Kind::BGPAdvertisement, "metallb.io/v1beta1", "bgpadvertisements"),
            (Kind::L2Advertisement, "metallb.io/v1beta1", "l2advertisements"),
            (Kind::IPAddressPool, "metallb.io/v1beta1", "ipaddresspools"),
            (Kind::BFDProfile, "metallb.io/v1beta1", "bfdprofiles"),
            (Kind::Community, "metallb.io/v1beta1", "communities"),
            (Kind::FRRConfiguration, "frrk8s.metallb.io/v1beta1", "frrconfigurations"),
            (Kind::Secret, "v1", "secrets"),
            (Kind::ConfigMap, "v1", "configmaps"),
            (Kind::Service, "v1", "services"),
            (Kind::EndpointSlice, "discovery.k8s.io/v1", "endpointslices"),
            (Kind::Node, "v1", "nodes"),
        ]
        .map(|(k, v, p)| (k, v.to_string(), p.to_string()));
        assert_eq!(got, want);
        for w in watched() {
            assert_eq!(w.ar.kind, w.kind.as_str(), "problems name the kind as the API does");
        }
    }

    fn service(name: &str, uid: &str) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "default", "uid": uid},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}},
        }))
        .expect("object")
    }

    fn view() -> View {
        let w = watched().into_iter().find(|w| w.kind == Kind::Service).expect("watched");
        View {
            namespace: "metallb-system".into(),
            resources: [(Kind::Service, w.ar)].into(),
            snap: Arc::default(),
            relisting: BTreeMap::new(),
            synced: BTreeSet::new(),
        }
    }

    fn names(v: &View) -> Vec<String> {
        v.snap.services.keys().map(|k| k.name.to_string()).collect()
    }

    fn list(v: &mut View, items: &[(&str, &str)]) {
        v.apply(Change::Init(Kind::Service));
        for (name, uid) in items {
            v.apply(Change::Item { kind: Kind::Service, init: true, obj: service(name, uid) });
        }
        v.apply(Change::InitDone(Kind::Service));
    }

    #[test]
    fn a_relist_replaces_what_the_kind_had() {
        let mut v = view();
        list(&mut v, &[("a", "1"), ("b", "2"), ("c", "3")]);
        assert!(v.complete());
        assert_eq!(names(&v), ["a", "b", "c"]);
        let published = v.input(std::time::Instant::now());
        // `b` was deleted and `d` created while the watch was away: the relist says so.
        list(&mut v, &[("a", "1"), ("c", "3"), ("d", "4")]);
        assert_eq!(names(&v), ["a", "c", "d"]);
        // What was published before is unchanged (persistent maps, shared until written).
        let before: Vec<String> = published.snapshot.services.keys().map(|k| k.name.to_string()).collect();
        assert_eq!(before, ["a", "b", "c"]);
        // A relist that names nothing empties the kind.
        list(&mut v, &[]);
        assert!(names(&v).is_empty());
    }

    /// A kind whose CRD is not installed has no objects, and the first snapshot does not wait
    /// for it; a CRD that goes away takes its objects along.
    #[test]
    fn a_kind_not_served_counts_as_listed_and_empty() {
        let mut v = view();
        let w = watched().into_iter().find(|w| w.kind == Kind::FRRConfiguration).expect("watched");
        v.resources.insert(Kind::FRRConfiguration, w.ar);
        list(&mut v, &[("a", "1")]);
        assert!(!v.complete(), "FRRConfigurations not listed yet");
        v.apply(Change::Missing(Kind::FRRConfiguration));
        assert!(v.complete(), "not served: nothing to wait for");
        assert_eq!(names(&v), ["a"], "other kinds untouched");
        let crd: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "frrk8s.metallb.io/v1beta1", "kind": "FRRConfiguration",
            "metadata": {"name": "c", "namespace": "metallb-system"}, "spec": {}
        }))
        .expect("object");
        v.apply(Change::Init(Kind::FRRConfiguration));
        v.apply(Change::Item { kind: Kind::FRRConfiguration, init: true, obj: crd });
        v.apply(Change::InitDone(Kind::FRRConfiguration));
        assert_eq!(v.snap.frr_configurations.len(), 1);
        v.apply(Change::Missing(Kind::FRRConfiguration));
        assert!(v.snap.frr_configurations.is_empty() && v.complete());
    }
}
