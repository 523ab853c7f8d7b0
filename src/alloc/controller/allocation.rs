//! The leader's work: watch Services, Namespaces and IPAddressPools into kube-runtime reflector
//! stores, feed them to the `Allocator` (a full pass after a (re)list or any Namespace or pool
//! change; only the changed Services otherwise), and hand each outcome to the writer.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use tracing::{info, info_span, warn};

use super::lease::Tenure;
use super::writer::{service_key, shown, ServiceWriter};
use super::ControllerMetrics;
use crate::alloc::{request_for, AllocError, Allocator, Assigned, Pool, Request};
use crate::model::core::ObjKey;
use crate::model::crds::IpAddressPool;

/// What one batch of watch events changed.
#[derive(Default)]
struct Changed {
    /// A (re)list, or a Namespace or pool change: every Service may be affected.
    everything: bool,
    services: BTreeSet<ObjKey>,
}

/// Which kind an event was about, and whether it ended a (re)list.
enum Msg {
    Service {
        key: Option<ObjKey>,
        listed: bool,
    },
    /// A Namespace or pool event; for a pool, its name, generation and whether it is gone.
    Other {
        listed: bool,
        pool: Option<(String, Option<i64>, bool)>,
    },
}

/// The three watches, each feeding its reflector store; the stream says what changed.
struct Watches {
    services: Store<Service>,
    namespaces: Store<Namespace>,
    pools: Store<IpAddressPool>,
    /// Kinds whose first list is complete (services, namespaces, pools).
    listed: [bool; 3],
}

/// The key the allocator knows a Service by.
fn msg<K: Resource>(ev: &watcher::Event<K>, service: bool) -> Msg {
    let listed = matches!(ev, watcher::Event::InitDone);
    if !service {
        let pool = match ev {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                Some((o.meta().name.clone().unwrap_or_default(), o.meta().generation, false))
            }
            watcher::Event::Delete(o) => Some((o.meta().name.clone().unwrap_or_default(), o.meta().generation, true)),
            _ => None,
        };
        return Msg::Other { listed, pool };
    }
    let key = match ev {
        watcher::Event::Apply(o) | watcher::Event::Delete(o) => {
            Some(ObjKey::new(o.meta().namespace.clone().unwrap_or_default(), o.meta().name.clone().unwrap_or_default()))
        }
        _ => None,
    };
    Msg::Service { key, listed }
}

/// A watch of `api` into a new store; `which` tags its events (0 Services, 1 Namespaces, 2 pools).
fn watch<K>(api: Api<K>, which: usize) -> (Store<K>, futures::stream::BoxStream<'static, (usize, Msg)>)
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        // managedFields are often the larger part of an object, and never read here.
        .modify(|o| o.meta_mut().managed_fields = None)
        .reflect(writer)
        .filter_map(move |ev| async move {
            match ev {
                Ok(ev) => Some((which, msg(&ev, which == 0))),
                Err(e) => {
                    warn!(error = %e, "watch error (retrying)");
                    None
                }
            }
        })
        .boxed();
    (store, stream)
}

impl Watches {
    fn ready(&self) -> bool {
        self.listed.iter().all(|l| *l)
    }

    /// The Service's request, with its namespace's labels (None: not the allocator's business).
    fn request(&self, svc: &Service, lb_class: Option<&str>) -> Option<Request> {
        let ns = svc.namespace().unwrap_or_default();
        let labels =
            self.namespaces.get(&ObjectRef::new(&ns)).and_then(|n| n.metadata.labels.clone()).unwrap_or_default();
        request_for(svc, &labels, lb_class)
    }

    fn service(&self, key: &ObjKey) -> Option<Arc<Service>> {
        self.services.get(&ObjectRef::new(&key.name).within(&key.namespace))
    }
}

/// The allocator's state across batches.
struct Allocation {
    al: Allocator,
    lb_class: Option<String>,
    namespace: String,
    /// Services that got no addresses.
    failed: BTreeSet<ObjKey>,
}

type Outcome = Option<Result<Assigned, AllocError>>;

impl Allocation {
    fn assign(&mut self, w: &Watches, svc: &Service) -> Outcome {
        match w.request(svc, self.lb_class.as_deref()) {
            Some(req) => Some(self.al.assign(&req)),
            None => {
                self.al.release(&service_key(svc));
                None
            }
        }
    }

    fn record(&mut self, key: &ObjKey, o: &Outcome) {
        if matches!(o, Some(Err(_))) {
            self.failed.insert(key.clone());
        } else {
            self.failed.remove(key);
        }
    }

    /// Rebuild the allocator from the pools and feed it every Service, in `pass_order`.
    async fn full_pass(&mut self, w: &Watches, out: &mut ServiceWriter) {
        // Invalid pools, and pools overlapping an earlier one, are left out and reported once.
        let mut pools = Vec::new();
        let mut invalid = Vec::new();
        for p in w.pools.state() {
            match Pool::from_object(&p) {
                Ok(pool) => pools.push(pool),
                Err(errs) => invalid.extend(errs.into_iter().map(|(field, msg)| (p.name_any(), field, msg))),
            }
        }
        // Addresses this leader assigned whose write is not back through the watch yet: the
        // Service keeps them (a rebuild must not hand it another one).
        let pending: HashMap<ObjKey, Vec<std::net::IpAddr>> = w
            .services
            .state()
            .iter()
            .filter(|s| shown(s).ips.is_empty())
            .filter_map(|s| {
                let key = service_key(s);
                let a = self.al.assigned(&key)?;
                Some((key, a.ips.clone()))
            })
            .collect();
        self.al = Allocator::new(pools);
        invalid.extend(self.al.invalid.iter().cloned());
        for (name, field, msg) in invalid {
            let pool = w.pools.get(&ObjectRef::new(&name).within(&self.namespace));
            out.invalid_pool(pool.as_deref(), &name, &field, &msg).await;
        }
        let services = w.services.state();
        let (mut ours, mut reqs, mut others) = (Vec::new(), Vec::new(), Vec::new());
        for s in pass_order(&services, &pending) {
            match w.request(&s, self.lb_class.as_deref()) {
                Some(mut r) => {
                    if r.current.is_empty() {
                        r.current = pending.get(&r.key).cloned().unwrap_or_default();
                    }
                    ours.push(s);
                    reqs.push(r);
                }
                None => others.push(s),
            }
        }
        let results = self.al.assign_all(&reqs);
        let outcomes = ours.into_iter().zip(results.into_iter().map(Some)).chain(others.into_iter().map(|s| (s, None)));
        self.failed.clear();
        let mut writes = Vec::new();
        for (s, o) in outcomes {
            self.record(&service_key(&s), &o);
            writes.extend(out.plan(s, o));
        }
        out.forget_except(|k| w.service(k).is_some());
        out.write_all(writes).await;
    }

    /// Feed the changed Services. Addresses let go of here may be what a failed Service waits
    /// for: those are retried after, once.
    async fn changed_services(&mut self, w: &Watches, keys: BTreeSet<ObjKey>, out: &mut ServiceWriter) {
        let mut freed = false;
        let mut keys: Vec<ObjKey> = keys.into_iter().collect();
        let mut retried = false;
        // The last outcome per Service (a failed one may be tried twice).
        let mut outcomes = BTreeMap::new();
        while let Some(key) = keys.pop() {
            let before = self.al.assigned(&key).cloned();
            match w.service(&key) {
                Some(s) => {
                    let o = self.assign(w, &s);
                    self.record(&key, &o);
                    outcomes.insert(key.clone(), (s, o));
                }
                None => {
                    self.al.release(&key);
                    self.failed.remove(&key);
                    outcomes.remove(&key);
                    out.forget(&key);
                }
            }
            freed |= before.is_some() && self.al.assigned(&key) != before.as_ref();
            if keys.is_empty() && freed && !retried {
                retried = true;
                keys.extend(self.failed.iter().cloned());
            }
        }
        let writes = outcomes.into_values().filter_map(|(s, o)| out.plan(s, o)).collect();
        out.write_all(writes).await;
    }
}

/// Order of a full pass: Services holding addresses (shown, or assigned and being written) first,
/// oldest first (so that an address claimed twice stays with the Service that had it first), then
/// the rest, oldest first.
fn pass_order(services: &[Arc<Service>], pending: &HashMap<ObjKey, Vec<std::net::IpAddr>>) -> Vec<Arc<Service>> {
    let mut v: Vec<Arc<Service>> = services.to_vec();
    v.sort_by_key(|s| {
        (
            shown(s).ips.is_empty() && !pending.contains_key(&service_key(s)),
            s.metadata.creation_timestamp.as_ref().map(|t| t.0),
            s.metadata.namespace.clone(),
            s.metadata.name.clone(),
        )
    });
    v
}

/// Allocate until the watches end (the task is aborted when leadership ends).
pub(super) async fn run(
    client: Client,
    namespace: String,
    lb_class: Option<String>,
    metrics: ControllerMetrics,
    tenure: Arc<Tenure>,
    identity: String,
) {
    let (services, s1) = watch(Api::<Service>::all(client.clone()), 0);
    let (namespaces, s2) = watch(Api::<Namespace>::all(client.clone()), 1);
    let (pools, s3) = watch(Api::<IpAddressPool>::namespaced(client.clone(), &namespace), 2);
    let mut stream = futures::stream::select_all([s1, s2, s3]);
    let mut w = Watches { services, namespaces, pools, listed: [false; 3] };
    let mut out = ServiceWriter::new(client, tenure, &identity);
    let mut state = Allocation { al: Allocator::default(), lb_class, namespace, failed: BTreeSet::new() };
    let mut changed = Changed { everything: true, ..Default::default() };
    let mut pool_generations: HashMap<String, Option<i64>> = HashMap::new();
    while let Some(first) = stream.next().await {
        // Everything ready now is one batch.
        let mut batch = vec![first];
        while let Some(Some(m)) = stream.next().now_or_never() {
            batch.push(m);
        }
        for (which, m) in batch {
            match m {
                Msg::Service { key, listed } => {
                    changed.services.extend(key);
                    changed.everything |= listed;
                    w.listed[which] |= listed;
                }
                // The pool status this controller writes is no reason for a full pass: only a
                // pool's spec (its generation), a new or deleted pool, or a Namespace change.
                Msg::Other { listed, pool: Some((name, generation, gone)) } if which == 2 && !listed => {
                    let same = !gone && pool_generations.get(&name) == Some(&generation);
                    if gone {
                        pool_generations.remove(&name);
                    } else {
                        pool_generations.insert(name, generation);
                    }
                    changed.everything |= !same;
                }
                Msg::Other { listed, .. } => {
                    changed.everything = true;
                    w.listed[which] |= listed;
                }
            }
        }
        if !w.ready() {
            continue;
        }
        let t0 = Instant::now();
        let batch = std::mem::take(&mut changed);
        if batch.everything {
            let span = info_span!("allocation_pass", services = w.services.len());
            tracing::Instrument::instrument(state.full_pass(&w, &mut out), span).await;
            info!(
                services = w.services.len(),
                pools = state.al.pools().len(),
                ms = t0.elapsed().as_millis() as u64,
                "allocation pass"
            );
        } else {
            state.changed_services(&w, batch.services, &mut out).await;
        }
        out.publish_pools(&state.al, &w.pools, &metrics).await;
    }
}
