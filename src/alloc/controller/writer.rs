//! What the leader writes: a Service's addresses (status.loadBalancer.ingress) and pool
//! annotation, pool status, Events; each only when it changes, and only within the tenure.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use serde_json::json;
use tracing::{debug, info, warn};

use super::lease::Tenure;
use super::ControllerMetrics;
use crate::alloc::{AllocError, Allocator, Assigned, PoolStats};
use crate::model::core::{ObjKey, POOL_ANNOTATION};
use crate::model::crds::IpAddressPool;
use crate::status::events::{Note, Publisher};

/// Services written at once (the apiserver's own default limit is 400 requests in flight).
const WRITES_IN_FLIGHT: usize = 32;

/// One Service's pending write: what it should show, and the Event to publish, if any.
pub(super) struct Write {
    svc: Arc<Service>,
    want: Shown,
    event: Option<(bool, &'static str, String)>,
}

pub(super) struct ServiceWriter {
    client: Client,
    tenure: Arc<Tenure>,
    events: Publisher,
    /// The last outcome reported per Service (an Event only when it changes).
    reported: HashMap<ObjKey, String>,
    /// Pool status last written.
    pool_status: BTreeMap<String, PoolStats>,
    invalid_reported: BTreeSet<(String, String)>,
}

/// A conditional write's result: None when the object changed since it was read (409 Conflict; its
/// newer version comes through the watch and is looked at again).
fn unchanged<T>(r: Result<T, kube::Error>) -> Result<Option<T>, kube::Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            debug!("changed meanwhile: not written");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A Service's key in the allocator's state.
pub(super) fn service_key(svc: &Service) -> ObjKey {
    ObjKey::new(svc.namespace().unwrap_or_default(), svc.name_any())
}

/// What a Service should show.
#[derive(PartialEq, Debug)]
pub(super) struct Shown {
    pub(super) ips: Vec<String>,
    pool: Option<String>,
}

/// What a Service shows now.
pub(super) fn shown(svc: &Service) -> Shown {
    Shown {
        ips: svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|ing| ing.iter().filter_map(|i| i.ip.clone()).collect())
            .unwrap_or_default(),
        pool: svc.annotations().get(POOL_ANNOTATION).cloned(),
    }
}

impl ServiceWriter {
    /// `instance`: this replica's identity, the Events' reportingInstance.
    pub(super) fn new(client: Client, tenure: Arc<Tenure>, instance: &str) -> Self {
        ServiceWriter {
            events: Publisher::new(client.clone(), "frr-speaker-controller", instance),
            client,
            tenure,
            reported: HashMap::new(),
            pool_status: BTreeMap::new(),
            invalid_reported: BTreeSet::new(),
        }
    }

    /// Report an invalid pool once per message: log and a Warning Event on it (if it still exists).
    pub(super) async fn invalid_pool(&mut self, pool: Option<&IpAddressPool>, name: &str, field: &str, msg: &str) {
        if self.invalid_reported.insert((name.to_string(), msg.to_string())) {
            warn!(pool = %name, field = %field, "invalid IPAddressPool: {msg}");
            if let Some(p) = pool {
                self.event(p, true, "InvalidConfig", format!("{field}: {msg}")).await;
            }
        }
    }

    /// Drop what was reported of a Service that is gone.
    pub(super) fn forget(&mut self, key: &ObjKey) {
        self.reported.remove(key);
    }

    /// Keep only what was reported of Services for which `exists` holds.
    pub(super) fn forget_except(&mut self, exists: impl Fn(&ObjKey) -> bool) {
        self.reported.retain(|k, _| exists(k));
    }

    /// Write what the Service should show. Each patch carries the resourceVersion it was computed
    /// from: a Service changed meanwhile (by a user, or by a new leader while this replica was
    /// paused mid-write) is not overwritten; its newer version comes through the watch and is
    /// looked at again.
    async fn show(&self, svc: &Service, want: &Shown) -> Result<(), kube::Error> {
        let have = shown(svc);
        if have == *want {
            return Ok(());
        }
        let ns = svc.namespace().unwrap_or_default();
        let api: Api<Service> = Api::namespaced(self.client.clone(), &ns);
        let name = svc.name_any();
        let mut version = svc.resource_version();
        if have.pool != want.pool {
            let patch = json!({"metadata": {"resourceVersion": version, "annotations": {POOL_ANNOTATION: want.pool}}});
            match unchanged(api.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await)? {
                Some(s) => version = s.resource_version(),
                None => return Ok(()),
            }
        }
        if have.ips != want.ips {
            let ingress: Vec<_> = want.ips.iter().map(|ip| json!({"ip": ip})).collect();
            let lb = if ingress.is_empty() { json!({"ingress": null}) } else { json!({"ingress": ingress}) };
            let patch = json!({"metadata": {"resourceVersion": version}, "status": {"loadBalancer": lb}});
            if unchanged(api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch)).await)?.is_none() {
                return Ok(());
            }
        }
        debug!(service = %format!("{ns}/{name}"), ips = ?want.ips, pool = ?want.pool, "written");
        Ok(())
    }

    /// An Event about `obj` (a Service or an IPAddressPool).
    async fn event<K: kube::Resource<DynamicType = ()>>(&self, obj: &K, warning: bool, reason: &str, note: String) {
        self.tenure.wait().await;
        let ev = Note { warning, reason: reason.into(), action: "Allocate".into(), note };
        if let Err(e) = self.events.publish(&ev, &obj.object_ref(&())).await {
            warn!(reason, error = %e, "cannot publish event");
        }
    }

    /// What one Service's outcome needs written and reported (`None`: not the allocator's
    /// business). Pure bookkeeping: the writes are done by `write_all`, many at once.
    pub(super) fn plan(&mut self, svc: Arc<Service>, outcome: Option<Result<Assigned, AllocError>>) -> Option<Write> {
        let key = service_key(&svc);
        let (want, report) = match &outcome {
            None => {
                // No longer ours: take back only what we gave (our annotation marks it). A
                // Service of another loadBalancerClass keeps its status: its controller owns it.
                if !svc.annotations().contains_key(POOL_ANNOTATION) {
                    self.reported.remove(&key);
                    return None;
                }
                let still_lb = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
                (Shown { ips: if still_lb { shown(&svc).ips } else { vec![] }, pool: None }, None)
            }
            Some(Ok(a)) => {
                let ips: Vec<String> = a.ips.iter().map(|i| i.to_string()).collect();
                let note = format!("Assigned IP {ips:?} from pool {:?}", a.pool);
                (Shown { ips, pool: Some(a.pool.clone()) }, Some((false, "IPAllocated", note)))
            }
            Some(Err(e)) => (
                Shown { ips: vec![], pool: None },
                Some((true, "AllocationFailed", format!("Failed to allocate IP for \"{key}\": {e}"))),
            ),
        };
        // An Event only when the outcome reported changes.
        let event = match report {
            Some(r) if self.reported.get(&key) != Some(&r.2) => {
                self.reported.insert(key, r.2.clone());
                Some(r)
            }
            Some(_) => None,
            None => {
                self.reported.remove(&key);
                None
            }
        };
        if event.is_none() && shown(&svc) == want {
            return None;
        }
        Some(Write { svc, want, event })
    }

    /// Do the writes, up to `WRITES_IN_FLIGHT` at once: each is two or three requests to the
    /// apiserver, and one after the other a thousand Services took minutes.
    pub(super) async fn write_all(&self, writes: Vec<Write>) {
        if writes.is_empty() {
            return;
        }
        futures::stream::iter(writes)
            .for_each_concurrent(WRITES_IN_FLIGHT, |w| async move {
                let key = service_key(&w.svc);
                self.tenure.wait().await;
                if let Err(e) = self.show(&w.svc, &w.want).await {
                    warn!(service = %key, error = %e, "cannot write the Service");
                }
                if let Some((warning, reason, note)) = w.event {
                    if warning {
                        warn!(service = %key, "{note}");
                    } else {
                        info!(service = %key, "{note}");
                    }
                    self.event(w.svc.as_ref(), warning, reason, note).await;
                }
            })
            .await;
    }

    /// Pool status and metrics, written when they change.
    pub(super) async fn publish_pools(
        &mut self,
        al: &Allocator,
        pools: &Store<IpAddressPool>,
        metrics: &ControllerMetrics,
    ) {
        let stats = al.stats();
        if stats == self.pool_status {
            return;
        }
        metrics.in_use.reset();
        metrics.total.reset();
        for p in al.pools() {
            let s = &stats[&p.name];
            metrics.in_use.with_label_values(&[&p.name]).set((s.assigned_v4 + s.assigned_v6) as f64);
            let total = p.size(true).saturating_add(p.size(false));
            metrics.total.with_label_values(&[&p.name]).set(total as f64);
        }
        for (name, s) in &stats {
            if self.pool_status.get(name) == Some(s) {
                continue;
            }
            self.tenure.wait().await;
            let Some(obj) = pools.find(|p| p.name_any() == *name) else { continue };
            let api: Api<IpAddressPool> = Api::namespaced(self.client.clone(), &obj.namespace().unwrap_or_default());
            let status = json!({"status": {"assignedIPv4": s.assigned_v4, "assignedIPv6": s.assigned_v6,
                "availableIPv4": s.available_v4, "availableIPv6": s.available_v6}});
            if let Err(e) = api.patch_status(name, &PatchParams::default(), &Patch::Merge(status)).await {
                warn!(pool = %name, error = %e, "cannot write pool status");
            }
        }
        self.pool_status = stats;
    }
}

#[cfg(test)]
mod tests;
