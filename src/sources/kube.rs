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
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, DefaultBackoff, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::manifest::{parse_json, Parsed};
use super::{Input, Uids};
use crate::index::{Snapshot, EXTRAS_CONFIGMAP};
use crate::model::core::ObjKey;
use crate::problem::Kind;

/// What to watch: kind, group/version, and whether it is namespaced to the config namespace.
struct Watched {
    kind: Kind,
    gvk: GroupVersionKind,
    plural: &'static str,
    scope: Scope,
}

enum Scope {
    ConfigNamespace,
    /// One object of the config namespace, by name.
    ConfigObject(&'static str),
    Cluster,
    ThisNode,
}

fn watched() -> Vec<Watched> {
    let w = |kind, g: &str, v: &str, k: &str, plural, scope| Watched {
        kind,
        gvk: GroupVersionKind::gvk(g, v, k),
        plural,
        scope,
    };
    vec![
        w(Kind::BGPPeer, "metallb.io", "v1beta2", "BGPPeer", "bgppeers", Scope::ConfigNamespace),
        w(
            Kind::BGPAdvertisement,
            "metallb.io",
            "v1beta1",
            "BGPAdvertisement",
            "bgpadvertisements",
            Scope::ConfigNamespace,
        ),
        w(
            Kind::L2Advertisement,
            "metallb.io",
            "v1beta1",
            "L2Advertisement",
            "l2advertisements",
            Scope::ConfigNamespace,
        ),
        w(Kind::IPAddressPool, "metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools", Scope::ConfigNamespace),
        w(Kind::BFDProfile, "metallb.io", "v1beta1", "BFDProfile", "bfdprofiles", Scope::ConfigNamespace),
        w(Kind::Community, "metallb.io", "v1beta1", "Community", "communities", Scope::ConfigNamespace),
        w(Kind::Secret, "", "v1", "Secret", "secrets", Scope::ConfigNamespace),
        w(Kind::ConfigMap, "", "v1", "ConfigMap", "configmaps", Scope::ConfigObject(EXTRAS_CONFIGMAP)),
        w(Kind::Service, "", "v1", "Service", "services", Scope::Cluster),
        w(Kind::EndpointSlice, "discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", Scope::Cluster),
        w(Kind::Node, "", "v1", "Node", "nodes", Scope::ThisNode),
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

/// One watch event, tagged with its kind.
enum Change {
    Init(Kind),
    Item { kind: Kind, init: bool, obj: DynamicObject },
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

fn object_key(obj: &DynamicObject, kind: Kind) -> ObjKey {
    let ns = if kind == Kind::Node { String::new() } else { obj.metadata.namespace.clone().unwrap_or_default() };
    ObjKey::new(ns, obj.metadata.name.clone().unwrap_or_default())
}

type Changes = futures::stream::SelectAll<futures::stream::BoxStream<'static, Change>>;

/// One watch per kind, merged; and each kind's API resource (for parsing).
fn watch_all(client: &Client, namespace: &str, node: &str) -> (Changes, BTreeMap<Kind, ApiResource>) {
    let mut streams = Vec::new();
    let mut resources: BTreeMap<Kind, ApiResource> = BTreeMap::new();
    for w in watched() {
        let ar = ApiResource::from_gvk_with_plural(&w.gvk, w.plural);
        resources.insert(w.kind, ar.clone());
        let (api, cfg): (Api<DynamicObject>, watcher::Config) = match w.scope {
            Scope::ConfigNamespace => {
                (Api::namespaced_with(client.clone(), namespace, &ar), watcher::Config::default())
            }
            Scope::ConfigObject(name) => (
                Api::namespaced_with(client.clone(), namespace, &ar),
                watcher::Config::default().fields(&format!("metadata.name={name}")),
            ),
            Scope::Cluster => (Api::all_with(client.clone(), &ar), watcher::Config::default()),
            Scope::ThisNode => (
                Api::all_with(client.clone(), &ar),
                watcher::Config::default().fields(&format!("metadata.name={node}")),
            ),
        };
        let kind = w.kind;
        let expired = Arc::new(AtomicBool::new(false));
        let flag = expired.clone();
        let s = watcher::watcher(api, cfg)
            .inspect_err(move |e| flag.store(is_expired(e), Ordering::Relaxed))
            .backoff(RelistAtOnce { inner: DefaultBackoff::default(), expired })
            .filter_map(move |ev| async move {
                match ev {
                    Ok(Event::Init) => Some(Change::Init(kind)),
                    Ok(Event::InitApply(o)) => Some(Change::Item { kind, init: true, obj: o }),
                    Ok(Event::InitDone) => Some(Change::InitDone(kind)),
                    Ok(Event::Apply(o)) => Some(Change::Item { kind, init: false, obj: o }),
                    Ok(Event::Delete(o)) => Some(Change::Delete(kind, o)),
                    Err(e) => {
                        warn!(kind = %kind, error = %e, "watch error; retrying, the last state is kept");
                        None
                    }
                }
            });
        streams.push(s.boxed());
    }
    (futures::stream::select_all(streams), resources)
}

/// What the watches have said so far: the snapshot and uids (shared with the published inputs;
/// copied only if compute still holds the previous one), and the lists in progress.
struct View {
    namespace: String,
    resources: BTreeMap<Kind, ApiResource>,
    snap: Arc<Snapshot>,
    uids: Arc<Uids>,
    relisting: BTreeMap<Kind, Vec<Parsed>>,
    relisting_uids: BTreeMap<Kind, Vec<(ObjKey, String)>>,
    synced: BTreeSet<Kind>,
}

impl View {
    /// Has every kind finished its first list?
    fn complete(&self) -> bool {
        self.synced.len() == self.resources.len()
    }

    fn input(&self, since: std::time::Instant) -> Input {
        Input { snapshot: self.snap.clone(), problems: Vec::new(), uids: self.uids.clone(), since: Some(since) }
    }

    fn parse(&self, kind: Kind, obj: &DynamicObject) -> Vec<Parsed> {
        to_parsed(obj, &self.resources[&kind], &self.namespace)
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Init(kind) => {
                self.relisting.insert(kind, Vec::new());
                self.relisting_uids.insert(kind, Vec::new());
            }
            Change::Item { kind, init: true, obj } => {
                let parsed = self.parse(kind, &obj);
                self.relisting.entry(kind).or_default().extend(parsed);
                if let Some(uid) = obj.metadata.uid.clone() {
                    self.relisting_uids.entry(kind).or_default().push((object_key(&obj, kind), uid));
                }
            }
            Change::InitDone(kind) => self.listed(kind),
            Change::Item { kind, init: false, obj } => {
                if let Some(uid) = obj.metadata.uid.clone() {
                    Arc::make_mut(&mut self.uids).insert((kind, object_key(&obj, kind)), uid);
                }
                for p in self.parse(kind, &obj) {
                    apply(Arc::make_mut(&mut self.snap), p);
                }
            }
            Change::Delete(kind, obj) => {
                let key = object_key(&obj, kind);
                debug!(kind = %kind, object = %key, "deleted");
                Arc::make_mut(&mut self.uids).remove(&(kind, key.clone()));
                Arc::make_mut(&mut self.snap).delete(kind, &key);
            }
        }
    }

    /// A (re)list of `kind` is complete: it replaces everything known of this kind.
    fn listed(&mut self, kind: Kind) {
        let items = self.relisting.remove(&kind).unwrap_or_default();
        let listed = self.relisting_uids.remove(&kind).unwrap_or_default();
        let u = Arc::make_mut(&mut self.uids);
        let stale: Vec<(Kind, ObjKey)> = u.keys().filter(|(k, _)| *k == kind).cloned().collect();
        for k in stale {
            u.remove(&k);
        }
        u.extend(listed.into_iter().map(|(key, uid)| ((kind, key), uid)));
        let mut seen = BTreeSet::new();
        for p in items {
            seen.insert(apply(Arc::make_mut(&mut self.snap), p));
        }
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
pub async fn run(client: Client, namespace: String, node: String, tx: watch::Sender<Option<Arc<Input>>>) {
    let (mut all, resources) = watch_all(&client, &namespace, &node);
    let mut view = View {
        namespace,
        resources,
        snap: Arc::default(),
        uids: Arc::default(),
        relisting: BTreeMap::new(),
        relisting_uids: BTreeMap::new(),
        synced: BTreeSet::new(),
    };
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
