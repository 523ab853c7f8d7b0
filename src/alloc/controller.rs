//! `frr-speaker controller`: the Kubernetes side of the allocator. One replica leads (a
//! coordination.k8s.io Lease); the leader watches Services, Namespaces and IPAddressPools, feeds
//! them to the `Allocator`, and writes what changed: `status.loadBalancer.ingress`, the
//! `metallb.io/ip-allocated-from-pool` annotation, pool status counts, Events. Replicas that do not
//! lead only wait; a leader that cannot renew its lease exits (the Deployment restarts it), so two
//! replicas never write at once for longer than the renew deadline allows.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{FutureExt, StreamExt};
use hyper::StatusCode;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Client, ResourceExt};
use prometheus::{Encoder, GaugeVec, IntGauge, Opts, Registry, TextEncoder};
use serde_json::json;
use tracing::{debug, error, info, warn};

use super::{request_for, AllocError, Allocator, Assigned, Pool, PoolStats, Request};
use crate::model::core::{ObjKey, POOL_ANNOTATION};
use crate::model::crds::IpAddressPool;

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

#[derive(Clone)]
struct Metrics {
    registry: Registry,
    in_use: GaugeVec,
    total: GaugeVec,
    leader: IntGauge,
}

impl Metrics {
    fn new() -> Result<Metrics, prometheus::Error> {
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
        Ok(Metrics { registry, in_use, total, leader })
    }

    fn encode(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

pub async fn run(cfg: ControllerConfig) -> anyhow::Result<()> {
    let metrics = Metrics::new().context("registering metrics")?;
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
    let work = tokio::spawn(allocate(
        client.clone(),
        cfg.namespace.clone(),
        cfg.lb_class.clone(),
        metrics.clone(),
        tenure.clone(),
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

/// How long this replica may still write: until its last successful renewal (counted from when the
/// request was sent) plus the renew deadline, which is shorter than the lease duration another
/// replica waits before taking over. After a pause (a stopped process, a stalled machine) the
/// tenure has lapsed before the renew loop runs again: writes wait, and the renewal either
/// succeeds or ends the process.
pub struct Tenure {
    base: Instant,
    renewed_ms: AtomicU64,
    deadline: Duration,
}

impl Tenure {
    pub fn new(deadline: Duration) -> Tenure {
        Tenure { base: Instant::now(), renewed_ms: AtomicU64::new(0), deadline }
    }

    pub fn renewed(&self, sent: Instant) {
        let ms = sent.saturating_duration_since(self.base).as_millis() as u64;
        self.renewed_ms.fetch_max(ms, Ordering::SeqCst);
    }

    pub fn valid(&self) -> bool {
        self.base.elapsed() < Duration::from_millis(self.renewed_ms.load(Ordering::SeqCst)) + self.deadline
    }

    /// Wait until writing is allowed (the renew loop ends the process if it never is again).
    async fn wait(&self) {
        let mut logged = false;
        while !self.valid() {
            if !logged {
                warn!("lease not renewed within the renew deadline: holding writes");
                logged = true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Leader election on a Lease, judged by local time: a lease whose record has not changed for its
/// duration, as this replica has watched it, is free (clock skew between nodes does not matter).
struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    observed: Option<(Option<String>, Option<MicroTime>)>,
    observed_at: Instant,
}

fn now_micro() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

impl Elector {
    fn new(client: &Client, cfg: &ControllerConfig) -> Elector {
        Elector {
            api: Api::namespaced(client.clone(), &cfg.namespace),
            name: cfg.lease_name.clone(),
            identity: cfg.identity.clone(),
            duration: cfg.lease_duration,
            observed: None,
            observed_at: Instant::now(),
        }
    }

    /// Take the lease if it is free or ours, and renew it; false while another replica holds it.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let secs = self.duration.as_secs().max(1) as i32;
        let Some(lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.name.clone()), ..Default::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(now_micro()),
                    renew_time: Some(now_micro()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (holder.clone(), spec.renew_time.clone());
        if self.observed.as_ref() != Some(&record) {
            self.observed = Some(record);
            self.observed_at = Instant::now();
        }
        let mine = holder.as_deref() == Some(self.identity.as_str());
        let their_duration = Duration::from_secs(spec.lease_duration_seconds.unwrap_or(secs).max(1) as u64);
        if holder.is_some() && !mine && self.observed_at.elapsed() < their_duration {
            return Ok(false);
        }
        let mut next = lease.clone();
        next.spec = Some(LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(secs),
            acquire_time: if mine { spec.acquire_time.clone() } else { Some(now_micro()) },
            renew_time: Some(now_micro()),
            lease_transitions: Some(spec.lease_transitions.unwrap_or(0) + i32::from(!mine)),
            ..spec
        });
        // replace carries the resourceVersion read above: two replicas racing, one wins.
        match self.api.replace(&self.name, &PostParams::default(), &next).await {
            Ok(l) => {
                let s = l.spec.unwrap_or_default();
                self.observed = Some((s.holder_identity, s.renew_time));
                self.observed_at = Instant::now();
                if !mine {
                    info!(identity = %self.identity, "took the lease");
                }
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else { return Ok(()) };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(now_micro());
        self.api.replace(&self.name, &PostParams::default(), &lease).await.map(|_| ())
    }
}

/// A change from one of the watches.
enum Msg {
    Service(Box<watcher::Event<Service>>),
    Namespace(Box<watcher::Event<Namespace>>),
    Pool(Box<watcher::Event<IpAddressPool>>),
}

/// A map kept equal to what a watch reports (relists swap in whole).
struct Mirror<T> {
    items: BTreeMap<ObjKey, T>,
    building: Option<BTreeMap<ObjKey, T>>,
    synced: bool,
}

impl<T: kube::Resource> Mirror<T> {
    fn new() -> Self {
        Mirror { items: BTreeMap::new(), building: None, synced: false }
    }

    fn key(o: &T) -> ObjKey {
        ObjKey::new(o.meta().namespace.clone().unwrap_or_default(), o.meta().name.clone().unwrap_or_default())
    }

    /// Apply one event; returns the keys that changed (None: everything may have).
    fn apply(&mut self, mut ev: watcher::Event<T>) -> Option<Vec<ObjKey>> {
        // managedFields are often the larger part of an object, and never read here.
        if let watcher::Event::Apply(o) | watcher::Event::Delete(o) | watcher::Event::InitApply(o) = &mut ev {
            o.meta_mut().managed_fields = None;
        }
        match ev {
            watcher::Event::Apply(o) => {
                let k = Self::key(&o);
                self.items.insert(k.clone(), o);
                Some(vec![k])
            }
            watcher::Event::Delete(o) => {
                let k = Self::key(&o);
                self.items.remove(&k);
                Some(vec![k])
            }
            watcher::Event::Init => {
                self.building = Some(BTreeMap::new());
                Some(vec![])
            }
            watcher::Event::InitApply(o) => {
                self.building.get_or_insert_with(BTreeMap::new).insert(Self::key(&o), o);
                Some(vec![])
            }
            watcher::Event::InitDone => {
                if let Some(b) = self.building.take() {
                    self.items = b;
                }
                self.synced = true;
                None
            }
        }
    }
}

struct Writer {
    client: Client,
    tenure: Arc<Tenure>,
    recorder: Recorder,
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

/// What a Service should show.
#[derive(PartialEq, Debug)]
struct Shown {
    ips: Vec<String>,
    pool: Option<String>,
}

fn shown(svc: &Service) -> Shown {
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

impl Writer {
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
        let ev = Event {
            type_: if warning { EventType::Warning } else { EventType::Normal },
            reason: reason.into(),
            note: Some(note),
            action: "Allocate".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            warn!(reason, error = %e, "cannot publish event");
        }
    }

    /// Write and report one Service's outcome (`None`: not the allocator's business).
    async fn settle(&mut self, svc: &Service, outcome: Option<Result<Assigned, AllocError>>) {
        let key = Mirror::<Service>::key(svc);
        let (want, report) = match &outcome {
            None => {
                // No longer ours: take back only what we gave (our annotation marks it). A
                // Service of another loadBalancerClass keeps its status: its controller owns it.
                if !svc.annotations().contains_key(POOL_ANNOTATION) {
                    self.reported.remove(&key);
                    return;
                }
                let still_lb = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
                (Shown { ips: if still_lb { shown(svc).ips } else { vec![] }, pool: None }, None)
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
        self.tenure.wait().await;
        if let Err(e) = self.show(svc, &want).await {
            warn!(service = %key, error = %e, "cannot write the Service");
        }
        match report {
            Some((warning, reason, note)) => {
                if self.reported.get(&key) != Some(&note) {
                    if warning {
                        warn!(service = %key, "{note}");
                    } else {
                        info!(service = %key, "{note}");
                    }
                    self.event(svc, warning, reason, note.clone()).await;
                    self.reported.insert(key, note);
                }
            }
            None => {
                self.reported.remove(&key);
            }
        }
    }
}

/// The Service's request, with its namespace's labels (None: not the allocator's business).
fn request(svc: &Service, namespaces: &Mirror<Namespace>, lb_class: Option<&str>) -> Option<Request> {
    let ns = svc.namespace().unwrap_or_default();
    let labels = namespaces.items.get(&ObjKey::new("", ns)).and_then(|n| n.metadata.labels.clone()).unwrap_or_default();
    request_for(svc, &labels, lb_class)
}

fn assign(
    al: &mut Allocator,
    svc: &Service,
    namespaces: &Mirror<Namespace>,
    lb_class: Option<&str>,
) -> Option<Result<Assigned, AllocError>> {
    match request(svc, namespaces, lb_class) {
        Some(req) => Some(al.assign(&req)),
        None => {
            al.release(&Mirror::<Service>::key(svc));
            None
        }
    }
}

fn failed_now(failed: &mut BTreeSet<ObjKey>, key: &ObjKey, o: &Option<Result<Assigned, AllocError>>) {
    if matches!(o, Some(Err(_))) {
        failed.insert(key.clone());
    } else {
        failed.remove(key);
    }
}

/// Order of a full pass: Services holding addresses first, oldest first (so that an address
/// claimed twice stays with the Service that had it first), then the rest, oldest first.
fn pass_order(services: &BTreeMap<ObjKey, Service>) -> Vec<&Service> {
    let mut v: Vec<&Service> = services.values().collect();
    v.sort_by_key(|s| {
        (
            shown(s).ips.is_empty(),
            s.metadata.creation_timestamp.as_ref().map(|t| t.0),
            s.metadata.namespace.clone(),
            s.metadata.name.clone(),
        )
    });
    v
}

async fn allocate(client: Client, namespace: String, lb_class: Option<String>, metrics: Metrics, tenure: Arc<Tenure>) {
    let wc = watcher::Config::default();
    let services = watcher(Api::<Service>::all(client.clone()), wc.clone())
        .default_backoff()
        .map(|e| e.map(|e| Msg::Service(Box::new(e))));
    let namespaces = watcher(Api::<Namespace>::all(client.clone()), wc.clone())
        .default_backoff()
        .map(|e| e.map(|e| Msg::Namespace(Box::new(e))));
    let pools = watcher(Api::<IpAddressPool>::namespaced(client.clone(), &namespace), wc)
        .default_backoff()
        .map(|e| e.map(|e| Msg::Pool(Box::new(e))));
    let mut stream = futures::stream::select_all([services.boxed(), namespaces.boxed(), pools.boxed()]);
    let reporter = Reporter { controller: "frr-speaker-controller".into(), instance: None };
    let mut w = Writer {
        client: client.clone(),
        tenure,
        recorder: Recorder::new(client.clone(), reporter),
        reported: HashMap::new(),
        pool_status: BTreeMap::new(),
        invalid_reported: BTreeSet::new(),
    };
    let mut svcs: Mirror<Service> = Mirror::new();
    let mut nss: Mirror<Namespace> = Mirror::new();
    let mut pls: Mirror<IpAddressPool> = Mirror::new();
    let mut al = Allocator::default();
    let mut full = true;
    let mut dirty: BTreeSet<ObjKey> = BTreeSet::new();
    let lb_class = lb_class.as_deref();
    // Services that got no addresses.
    let mut failed: BTreeSet<ObjKey> = BTreeSet::new();
    loop {
        let Some(msg) = stream.next().await else { return };
        let mut batch = vec![msg];
        while let Some(Some(m)) = stream.next().now_or_never() {
            batch.push(m);
        }
        for m in batch {
            match m {
                Ok(Msg::Service(ev)) => match svcs.apply(*ev) {
                    Some(keys) => dirty.extend(keys),
                    None => full = true,
                },
                Ok(Msg::Namespace(ev)) => {
                    nss.apply(*ev);
                    full = true;
                }
                Ok(Msg::Pool(ev)) => {
                    pls.apply(*ev);
                    full = true;
                }
                Err(e) => warn!(error = %e, "watch error (retrying)"),
            }
        }
        if !(svcs.synced && nss.synced && pls.synced) {
            continue;
        }
        let t0 = Instant::now();
        if full {
            // Invalid pools, and pools overlapping an earlier one, are left out and reported once.
            let mut pools = Vec::new();
            let mut invalid = Vec::new();
            for p in pls.items.values() {
                match Pool::from_object(p) {
                    Ok(pool) => pools.push(pool),
                    Err(errs) => invalid.extend(errs.into_iter().map(|(field, msg)| (p.name_any(), field, msg))),
                }
            }
            al = Allocator::new(pools);
            invalid.extend(al.invalid.iter().cloned());
            for (name, field, msg) in invalid {
                if w.invalid_reported.insert((name.clone(), msg.clone())) {
                    warn!(pool = %name, field = %field, "invalid IPAddressPool: {msg}");
                    if let Some(p) = pls.items.get(&ObjKey::new(namespace.clone(), name)) {
                        w.event(p, true, "InvalidConfig", format!("{field}: {msg}")).await;
                    }
                }
            }
            let (mut ours, mut reqs, mut others) = (Vec::new(), Vec::new(), Vec::new());
            for s in pass_order(&svcs.items) {
                match request(s, &nss, lb_class) {
                    Some(r) => {
                        ours.push(s);
                        reqs.push(r);
                    }
                    None => others.push(s),
                }
            }
            let results = al.assign_all(&reqs);
            let outcomes =
                ours.into_iter().zip(results.into_iter().map(Some)).chain(others.into_iter().map(|s| (s, None)));
            failed.clear();
            for (s, o) in outcomes {
                failed_now(&mut failed, &Mirror::<Service>::key(s), &o);
                w.settle(s, o).await;
            }
            w.reported.retain(|k, _| svcs.items.contains_key(k));
        } else {
            // Addresses let go of here may be what a failed Service waits for: retry those after.
            let mut freed = false;
            let mut keys: Vec<ObjKey> = std::mem::take(&mut dirty).into_iter().collect();
            let mut retried = false;
            while let Some(key) = keys.pop() {
                let before = al.assigned(&key).cloned();
                match svcs.items.get(&key) {
                    Some(s) => {
                        let o = assign(&mut al, s, &nss, lb_class);
                        failed_now(&mut failed, &key, &o);
                        w.settle(s, o).await;
                    }
                    None => {
                        al.release(&key);
                        failed.remove(&key);
                        w.reported.remove(&key);
                    }
                }
                freed |= before.is_some() && al.assigned(&key) != before.as_ref();
                if keys.is_empty() && freed && !retried {
                    retried = true;
                    keys.extend(failed.iter().cloned());
                }
            }
        }
        if full {
            info!(
                services = svcs.items.len(),
                pools = al.pools().len(),
                ms = t0.elapsed().as_millis() as u64,
                "allocation pass"
            );
        }
        full = false;
        dirty.clear();
        publish_pools(&mut w, &al, &pls, &metrics).await;
    }
}

/// Pool status and metrics, written when they change.
async fn publish_pools(w: &mut Writer, al: &Allocator, pools: &Mirror<IpAddressPool>, metrics: &Metrics) {
    let stats = al.stats();
    if stats == w.pool_status {
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
        if w.pool_status.get(name) == Some(s) {
            continue;
        }
        w.tenure.wait().await;
        let Some(obj) = pools.items.values().find(|p| p.name_any() == *name) else { continue };
        let api: Api<IpAddressPool> = Api::namespaced(w.client.clone(), &obj.namespace().unwrap_or_default());
        let status = json!({"status": {"assignedIPv4": s.assigned_v4, "assignedIPv6": s.assigned_v6,
            "availableIPv4": s.available_v4, "availableIPv6": s.available_v6}});
        if let Err(e) = api.patch_status(name, &PatchParams::default(), &Patch::Merge(status)).await {
            warn!(pool = %name, error = %e, "cannot write pool status");
        }
    }
    w.pool_status = stats;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenure_lapses_without_renewal() {
        let t = Tenure::new(Duration::from_millis(200));
        assert!(!t.valid() || t.base.elapsed() < Duration::from_millis(200));
        let sent = Instant::now();
        t.renewed(sent);
        assert!(t.valid());
        std::thread::sleep(Duration::from_millis(250));
        assert!(!t.valid(), "no renewal for longer than the deadline");
        // A renewal counts from when it was sent, and an older one never moves it back.
        t.renewed(Instant::now());
        t.renewed(sent);
        assert!(t.valid());
    }
}
