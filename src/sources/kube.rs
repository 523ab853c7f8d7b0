//! Kubernetes mode: watch what the speaker needs and publish a snapshot. Every kind is watched as
//! a dynamic object and converted by the same parser as file mode, so a malformed object becomes
//! a problem naming its field and never breaks a watch. Nothing is published before every watch
//! has finished its initial list (a restarted agent must not apply a config that lacks Services it
//! simply has not seen yet). Watch errors are retried with backoff; the last snapshot stays.
//!
//! Cost: Services and EndpointSlices are watched cluster-wide (they decide what is announced);
//! Nodes only this node (field selector); metallb.io objects and Secrets only in the config
//! namespace, and of its ConfigMaps only `bgpextras`; FRRConfigurations only in the frr-k8s
//! namespace, and Secrets there too when it is another (`passwordSecret` names one of those).

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
        // The frr-k8s namespace's (only when it is not the config namespace: `watch_all`).
        watch::<Secret>(Kind::Secret, Scope::FrrK8sNamespace),
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

/// One watch: a kind, in one namespace (`None`: all it watches, cluster-wide or this node).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Feed {
    kind: Kind,
    namespace: Option<String>,
}

impl Feed {
    /// Is `key` (an object of this feed's kind) one this watch lists?
    fn covers(&self, key: &ObjKey) -> bool {
        self.namespace.as_deref().is_none_or(|ns| *key.namespace == *ns)
    }
}

/// One watch event, tagged with its watch.
enum Change {
    /// The kind's CRD is not installed: it has no objects (and the first sync does not wait).
    Missing(Feed),
    Init(Feed),
    Item {
        feed: Feed,
        init: bool,
        obj: DynamicObject,
    },
    Delete(Feed, DynamicObject),
    InitDone(Feed),
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

/// One watch per kind and namespace, merged; each kind's API resource (for parsing); the watches.
fn watch_all(client: &Client, ns: &Namespaces, node: &str) -> (Changes, BTreeMap<Kind, ApiResource>, BTreeSet<Feed>) {
    let namespace = ns.config.as_str();
    let mut streams = Vec::new();
    let mut resources: BTreeMap<Kind, ApiResource> = BTreeMap::new();
    let mut feeds = BTreeSet::new();
    for w in watched() {
        let feed_ns = match w.scope {
            Scope::ConfigNamespace | Scope::ConfigObject(_) => Some(ns.config.clone()),
            Scope::FrrK8sNamespace => Some(ns.frrk8s.clone()),
            Scope::Cluster | Scope::ThisNode => None,
        };
        let feed = Feed { kind: w.kind, namespace: feed_ns };
        // One watch of a kind per namespace (the frr-k8s namespace is often the config one).
        if !feeds.insert(feed.clone()) {
            continue;
        }
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
                let feed = feed.clone();
                async move {
                match ev {
                    Err(e) if is_missing(&e) => {
                        if !missing.swap(true, Ordering::Relaxed) {
                            // A normal setup (metallb.io only, or FRRConfigurations only): said, not warned.
                            info!(kind = %kind, error = %e, "not served (its CRD is not installed): none of these objects is read until it is");
                        }
                        Some(Change::Missing(feed))
                    }
                    Ok(Event::Init) => Some(Change::Init(feed)),
                    Ok(Event::InitApply(o)) => Some(Change::Item { feed, init: true, obj: o }),
                    // Said when a list went through: a retry's Init comes before its list
                    // (which may be refused again).
                    Ok(Event::InitDone) => {
                        if missing.swap(false, Ordering::Relaxed) {
                            info!(kind = %kind, "served now: reading these objects");
                        }
                        Some(Change::InitDone(feed))
                    }
                    Ok(Event::Apply(o)) => Some(Change::Item { feed, init: false, obj: o }),
                    Ok(Event::Delete(o)) => Some(Change::Delete(feed, o)),
                    // "410 Expired": the watch's resourceVersion is older than the apiserver
                    // keeps; a relist follows at once (`RelistAtOnce`), as with client-go.
                    Err(e) if is_expired(&e) => {
                        info!(kind = %kind, error = %e, "watch expired; relisting");
                        None
                    }
                    Err(e) => {
                        warn!(kind = %kind, error = %e, "watch error; retrying, the last state is kept");
                        None
                    }
                }
                }
            });
        streams.push(s.boxed());
    }
    (futures::stream::select_all(streams), resources, feeds)
}

/// What the watches have said so far: the snapshot (persistent maps, shared with the published
/// inputs), and the kinds being listed. No uid is kept per object: an Event reads its object's
/// when it is published (a map of every object's uid grows with the cluster: docs/benchmarks.md).
struct View {
    namespace: String,
    resources: BTreeMap<Kind, ApiResource>,
    /// Every watch (the first snapshot waits for each to list).
    feeds: BTreeSet<Feed>,
    snap: Arc<Snapshot>,
    relisting: BTreeMap<Feed, Relisting>,
    synced: BTreeSet<Feed>,
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
    /// Has every watch finished its first list?
    fn complete(&self) -> bool {
        self.synced.len() == self.feeds.len()
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
            Change::Missing(feed) => {
                self.relisting.insert(feed.clone(), Relisting::default());
                self.listed(feed);
            }
            Change::Init(feed) => {
                self.relisting.insert(feed, Relisting::default());
            }
            Change::Item { feed, init: true, obj } => {
                let parsed = self.parse(feed.kind, &obj);
                let r = self.relisting.entry(feed).or_default();
                for p in parsed {
                    r.seen.insert(apply(Arc::make_mut(&mut self.snap), p));
                }
            }
            Change::InitDone(feed) => self.listed(feed),
            Change::Item { feed, init: false, obj } => {
                for p in self.parse(feed.kind, &obj) {
                    apply(Arc::make_mut(&mut self.snap), p);
                }
            }
            Change::Delete(feed, obj) => {
                let key = object_key(&obj, feed.kind);
                debug!(kind = %feed.kind, object = %key, "deleted");
                Arc::make_mut(&mut self.snap).delete(feed.kind, &key);
            }
        }
    }

    /// A (re)list of `feed` is complete: what it did not name of its kind and namespace is gone.
    fn listed(&mut self, feed: Feed) {
        let Relisting { seen } = self.relisting.remove(&feed).unwrap_or_default();
        let kind = feed.kind;
        for k in self.snap.keys(kind) {
            if !seen.contains(&k) && feed.covers(&k) {
                Arc::make_mut(&mut self.snap).delete(kind, &k);
            }
        }
        let n = seen.len();
        if !self.synced.insert(feed) {
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
    let (mut all, resources, feeds) = watch_all(&client, &namespaces, &node);
    let namespace = namespaces.config;
    let mut view =
        View { namespace, resources, feeds, snap: Arc::default(), relisting: BTreeMap::new(), synced: BTreeSet::new() };
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
            feeds: [SERVICES].into(),
            snap: Arc::default(),
            relisting: BTreeMap::new(),
            synced: BTreeSet::new(),
        }
    }

    fn names(v: &View) -> Vec<String> {
        v.snap.services.keys().map(|k| k.name.to_string()).collect()
    }

    const SERVICES: Feed = Feed { kind: Kind::Service, namespace: None };

    fn list(v: &mut View, items: &[(&str, &str)]) {
        v.apply(Change::Init(SERVICES));
        for (name, uid) in items {
            v.apply(Change::Item { feed: SERVICES, init: true, obj: service(name, uid) });
        }
        v.apply(Change::InitDone(SERVICES));
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
        let feed = Feed { kind: Kind::FRRConfiguration, namespace: Some("metallb-system".into()) };
        v.feeds.insert(feed.clone());
        list(&mut v, &[("a", "1")]);
        assert!(!v.complete(), "FRRConfigurations not listed yet");
        v.apply(Change::Missing(feed.clone()));
        assert!(v.complete(), "not served: nothing to wait for");
        assert_eq!(names(&v), ["a"], "other kinds untouched");
        let crd: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "frrk8s.metallb.io/v1beta1", "kind": "FRRConfiguration",
            "metadata": {"name": "c", "namespace": "metallb-system"}, "spec": {}
        }))
        .expect("object");
        v.apply(Change::Init(feed.clone()));
        v.apply(Change::Item { feed: feed.clone(), init: true, obj: crd });
        v.apply(Change::InitDone(feed.clone()));
        assert_eq!(v.snap.frr_configurations.len(), 1);
        v.apply(Change::Missing(feed));
        assert!(v.snap.frr_configurations.is_empty() && v.complete());
    }

    /// Secrets are watched in two namespaces when the frr-k8s namespace is another: a relist of
    /// one leaves the other's.
    #[test]
    fn a_relist_of_one_namespace_keeps_the_others() {
        let mut v = view();
        let w = watched().into_iter().find(|w| w.kind == Kind::Secret).expect("watched");
        v.resources.insert(Kind::Secret, w.ar);
        let feed = |ns: &str| Feed { kind: Kind::Secret, namespace: Some(ns.into()) };
        let (config, frrk8s) = (feed("metallb-system"), feed("frr-k8s-system"));
        v.feeds.extend([config.clone(), frrk8s.clone()]);
        let secret = |ns: &str, name: &str| -> DynamicObject {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
                "metadata": {"name": name, "namespace": ns}, "data": {"password": "cw=="}
            }))
            .expect("object")
        };
        let relist = |v: &mut View, f: &Feed, names: &[&str]| {
            v.apply(Change::Init(f.clone()));
            for n in names {
                let ns = f.namespace.clone().unwrap_or_default();
                v.apply(Change::Item { feed: f.clone(), init: true, obj: secret(&ns, n) });
            }
            v.apply(Change::InitDone(f.clone()));
        };
        list(&mut v, &[]);
        relist(&mut v, &config, &["peer-a"]);
        assert!(!v.complete(), "the frr-k8s namespace's Secrets not listed yet");
        relist(&mut v, &frrk8s, &["neighbor-b"]);
        assert!(v.complete());
        let keys = |v: &View| v.snap.secrets.keys().map(|k| k.to_string()).collect::<Vec<_>>();
        assert_eq!(keys(&v), ["frr-k8s-system/neighbor-b", "metallb-system/peer-a"]);
        relist(&mut v, &frrk8s, &[]);
        assert_eq!(keys(&v), ["metallb-system/peer-a"], "only the relisted namespace's are gone");
    }
}
