//! Kubernetes mode: write this node's status objects and Events (contents decided in `objects`).
//!
//! - Writes follow changes: the writer wakes when the driver applied something, the problems
//!   changed, or a session changed state; nothing is polled from the API except one listing of
//!   this node's objects at start (and every `RELIST_INTERVAL`, which also repairs objects edited
//!   or deleted by hand).
//! - Only differences are written (server-side apply, field manager `frr-speaker`), through a
//!   token bucket (`--status-qps`), so a thousand nodes reacting to one change do not flood the
//!   apiserver. When throttled the writer recomputes from the newest facts before writing again:
//!   an object that flapped is written once, in its final state.
//! - Before the first apply nothing about Services is written (and nothing deleted); a restarted
//!   agent finds its objects by label, and does not repeat "Announcing" events for Services whose
//!   ServiceBGPStatus already exists.
//! - A status kind whose CRD is not installed is skipped (logged once); the rest keeps working.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DynamicObject, GetParams, ListParams, Patch, PatchParams};
use kube::Client;
use prometheus::IntGauge;
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::{debug, debug_span, info, warn, Instrument};

use super::events::{Note, Publisher};
use super::objects::{
    announced, announcement_events, plan, problem_events, running_config, Action, Announced, ConfigFacts, EventSpec,
    Facts, HeldMap, SessionFact, StatusBody, StatusKind, Wanted, COMPONENT_LABEL, FRRK8S_NODE_LABEL, FRRK8S_PEER_LABEL,
    FRRK8S_VRF_LABEL, NODE_LABEL, NODE_NAME_LABEL, PEER_LABEL, SERVICE_NAMESPACE_LABEL, SERVICE_NAME_LABEL, VRF_LABEL,
};
use crate::frr::outcome::ApplyState;
use crate::problem::{Kind, Problem};
use crate::retry::{self, Backoff as _};
use crate::sources::Input;
use crate::streak::Streak;

const FIELD_MANAGER: &str = "frr-speaker";
const RELIST_INTERVAL: Duration = Duration::from_secs(600);
/// How often kinds whose CRD was missing are looked for again (one small list each).
const MISSING_PROBE_INTERVAL: Duration = Duration::from_secs(30);
/// An FRRNodeState's `runningConfig` follows the applied config at most this often (frr-k8s
/// reads FRR's every 30 s): a large config is not turned into text and written again for every
/// Service change.
const RUNNING_CONFIG_REFRESH: Duration = Duration::from_secs(30);
const MAX_QUEUED_EVENTS: usize = 1000;
/// First retry of a failed write (jittered up to twice this), doubling up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What the writer reads.
pub struct Sources {
    /// The Node (its uid owns the status objects) and the extras ConfigMap's key.
    pub input: watch::Receiver<Option<Arc<Input>>>,
    pub problems: watch::Receiver<Option<Arc<Vec<Problem>>>>,
    pub apply: watch::Receiver<ApplyState>,
    pub sessions: watch::Receiver<Option<Arc<Vec<SessionFact>>>>,
}

/// A token bucket: `rate` writes per second, bursts of `burst`.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64) -> Self {
        let rate = rate.max(0.1);
        let burst = (rate * 3.0).max(1.0);
        Bucket { tokens: burst, rate, burst, at: Instant::now() }
    }

    /// Take one token, or say when one will be there.
    fn take(&mut self) -> Result<(), Instant> {
        let now = Instant::now();
        self.tokens = (self.tokens + (now - self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(now + Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

fn now_seconds() -> Time {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    // Whole seconds: the apiserver stores metav1.Time at that precision, so the value read back
    // equals the value written.
    Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH))
}

/// The parts of a listed object that `Wanted` describes.
fn normalize(kind: StatusKind, obj: &DynamicObject) -> Wanted {
    const OURS: [&str; 10] = [
        NODE_LABEL,
        SERVICE_NAME_LABEL,
        SERVICE_NAMESPACE_LABEL,
        PEER_LABEL,
        VRF_LABEL,
        COMPONENT_LABEL,
        NODE_NAME_LABEL,
        FRRK8S_NODE_LABEL,
        FRRK8S_PEER_LABEL,
        FRRK8S_VRF_LABEL,
    ];
    let labels = obj
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| OURS.contains(&k.as_str()))
        .collect();
    let owner_uid = obj
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.iter().find(|r| r.kind == "Node" && r.api_version == "v1"))
        .map(|r| r.uid.clone());
    Wanted { labels, owner_uid, status: StatusBody::read(kind, obj.data.get("status")) }
}

/// Where each status kind is written.
pub struct Namespaces {
    /// metallb.io's kinds (`--namespace`).
    pub config: String,
    /// frr-k8s's namespaced kinds (`--frrk8s-namespace`).
    pub frrk8s: String,
}

impl Namespaces {
    /// The namespace of `kind`'s objects (`None`: cluster-scoped).
    fn of(&self, kind: StatusKind) -> Option<&str> {
        match kind {
            k if k.cluster_scoped() => None,
            k if k.frrk8s() => Some(&self.frrk8s),
            _ => Some(&self.config),
        }
    }
}

struct StatusWriter {
    node: String,
    namespaces: Namespaces,
    apis: BTreeMap<StatusKind, Api<DynamicObject>>,
    events: Publisher,
    /// Reads the uid of an Event's object.
    client: Client,
    /// What the API holds of ours (digests: `Held`); `None` until listed (and after a failed
    /// write).
    have: Option<HeldMap>,
    /// Kinds whose CRD is not installed (or that RBAC does not allow).
    missing: BTreeSet<StatusKind>,
    listed_at: Instant,
    probed_at: Instant,
}

impl StatusWriter {
    async fn list(&mut self) -> Result<(), kube::Error> {
        let mut have = BTreeMap::new();
        let mut missing = BTreeSet::new();
        for kind in StatusKind::ALL {
            let lp = ListParams::default().labels(&kind.selector(&self.node));
            match self.apis[&kind].list(&lp).await {
                Ok(list) => {
                    for o in list.items {
                        if let Some(name) = o.metadata.name.clone() {
                            have.insert((kind, name), normalize(kind, &o).held());
                        }
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 403 => {
                    if !self.missing.contains(&kind) {
                        let why = match s.code {
                            404 => "status CRD not installed: not writing this kind",
                            _ => "not allowed to list this status kind (RBAC): not writing it",
                        };
                        // Only metallb.io's kinds are expected wherever the agent runs. frr-k8s's
                        // come with frr-k8s mode (its CRDs and deploy/frrk8s/rbac.yaml; MetalLB
                        // v0.16's chart installs the CRDs in any mode). frr-speaker.io's
                        // BGPSessionState is left out where MetalLB's own CRDs are installed
                        // (frr-k8s mode's use (c)), frr-k8s's BGPSessionState then saying the same.
                        let expected = kind.api_resource().group == "metallb.io" || (s.code == 403 && !kind.frrk8s());
                        match expected {
                            true => warn!(kind = kind.kind(), "{why}"),
                            false => info!(kind = kind.kind(), group = kind.api_resource().group, "{why}"),
                        }
                    }
                    missing.insert(kind);
                }
                Err(e) => return Err(e),
            }
        }
        debug!(objects = have.len(), "listed this node's status objects");
        self.have = Some(have);
        self.missing = missing;
        self.listed_at = Instant::now();
        Ok(())
    }

    /// Is a kind that was missing served now? (Then everything is listed again.)
    async fn probe_missing(&mut self) -> bool {
        self.probed_at = Instant::now();
        for kind in self.missing.clone() {
            let lp = ListParams::default().labels(&kind.selector(&self.node)).limit(1);
            if self.apis[&kind].list_metadata(&lp).await.is_ok() {
                info!(kind = kind.kind(), "status kind served now: writing it");
                return true;
            }
        }
        false
    }

    fn owner(&self, uid: &Option<String>) -> Value {
        match uid {
            Some(uid) => json!([{"apiVersion": "v1", "kind": "Node", "name": self.node, "uid": uid}]),
            None => json!([]),
        }
    }

    /// Perform one action of a plan made from `facts` and record its result in `have`.
    async fn execute(&mut self, action: &Action, facts: &Facts) -> Result<(), kube::Error> {
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        match action {
            Action::Put { kind, name, what, exists } => {
                let Some(wanted) = what.wanted(facts) else {
                    debug!(name, "planned object not in its facts: skipped");
                    return Ok(());
                };
                let held = wanted.held();
                let api = &self.apis[kind];
                let ar = kind.api_resource();
                let namespace = self.namespaces.of(*kind);
                let head = |extra: Value| {
                    let mut v = json!({
                        "apiVersion": ar.api_version,
                        "kind": ar.kind,
                        "metadata": {"name": name},
                    });
                    if let Some(ns) = namespace {
                        v["metadata"]["namespace"] = json!(ns);
                    }
                    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
                        for (k, x) in e {
                            o.insert(k.clone(), x.clone());
                        }
                    }
                    v
                };
                let meta_differs = exists.as_ref().is_none_or(|e| e.meta != held.digests.meta);
                if meta_differs {
                    let mut meta = json!({
                        "name": name,
                        "labels": wanted.labels,
                        "ownerReferences": self.owner(&wanted.owner_uid),
                    });
                    if let Some(ns) = namespace {
                        meta["namespace"] = json!(ns);
                    }
                    // `spec: {}` where the kind has an empty spec (typed clients expect one);
                    // MetalLB's own ConfigurationState CRD has none and refuses it.
                    let body = match kind.has_spec() {
                        true => head(json!({"metadata": meta, "spec": {}})),
                        false => head(json!({"metadata": meta})),
                    };
                    api.patch(name, &pp, &Patch::Apply(body)).await?;
                }
                if exists.as_ref().is_none_or(|e| e.status != held.digests.status) {
                    let body = head(json!({"status": wanted.status.to_json()}));
                    api.patch_status(name, &pp, &Patch::Apply(body)).await?;
                }
                if let Some(have) = self.have.as_mut() {
                    have.insert((*kind, name.clone()), held);
                }
            }
            Action::Delete { kind, name } => {
                match self.apis[kind].delete(name, &Default::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(e),
                }
                if let Some(have) = self.have.as_mut() {
                    have.remove(&(*kind, name.clone()));
                }
            }
        }
        Ok(())
    }

    async fn publish(&self, ev: &EventSpec) -> Result<(), kube::Error> {
        let Some(ar) = crate::sources::kube::api_resource(ev.kind) else {
            debug!(object = %ev.object, reason = ev.reason, "event skipped: not a watched kind");
            return Ok(());
        };
        // The object's uid, read now from the apiserver's cache (resourceVersion 0): the agent keeps
        // none per object (such a map grows with the cluster). An object that
        // is gone gets no event: it would refer to nothing.
        let api: Api<DynamicObject> = match ev.object.namespace.is_empty() {
            true => Api::all_with(self.client.clone(), &ar),
            false => Api::namespaced_with(self.client.clone(), &ev.object.namespace, &ar),
        };
        let uid = api.get_metadata_opt_with(&ev.object.name, &GetParams::any()).await?.and_then(|m| m.metadata.uid);
        let Some(uid) = uid else {
            debug!(object = %ev.object, reason = ev.reason, "event skipped: object not found");
            return Ok(());
        };
        let reference = ObjectReference {
            api_version: Some(ar.api_version),
            kind: Some(ar.kind),
            name: Some(ev.object.name.to_string()),
            namespace: Some(ev.object.namespace.to_string()).filter(|n| !n.is_empty()),
            uid: Some(uid),
            ..Default::default()
        };
        let note =
            Note { warning: ev.warning, reason: ev.reason.into(), action: ev.action.into(), note: ev.note.clone() };
        self.events.publish(&note, &reference).await
    }
}

/// Events waiting to be published, and what they were computed against.
#[derive(Default)]
struct EventQueue {
    /// What this node announced at the last round (`None` before the first apply).
    announced_before: Option<Announced>,
    problems_before: BTreeSet<Problem>,
    /// The extras refusal last reported (one event per new reason).
    extras_error_before: Option<String>,
    queue: VecDeque<EventSpec>,
}

impl EventQueue {
    /// Queue the events for what changed since the last round. `have` is what the API holds: on
    /// the first round after a start, the Services this node already announced.
    fn observe(&mut self, node: &str, facts: &Facts, problems: Option<&[Problem]>, have: &HeldMap) {
        if let Some(ann) = &facts.announcements {
            let before = self.announced_before.get_or_insert_with(|| {
                Announced::Found(
                    have.iter()
                        .filter(|((k, _), _)| *k == StatusKind::ServiceBgpStatus)
                        .filter_map(|(_, h)| h.service.clone())
                        .collect(),
                )
            });
            self.queue.extend(announcement_events(node, before, ann));
            self.announced_before = Some(announced(ann));
        }
        let extras_error = facts.config.as_ref().and_then(|c| c.extras_error.clone());
        if let (Some(e), Some(key)) = (&extras_error, &facts.extras) {
            if self.extras_error_before.as_ref() != Some(e) {
                self.queue.push_back(EventSpec {
                    kind: Kind::ConfigMap,
                    object: key.clone(),
                    warning: true,
                    reason: "ExtrasRefused",
                    action: "Apply",
                    note: format!(
                        "node {node}: FRR refused these lines; it runs frr-speaker's configuration without them: {e}"
                    ),
                });
            }
        }
        self.extras_error_before = extras_error;
        if let Some(p) = problems {
            self.queue.extend(problem_events(node, &self.problems_before, p));
            self.problems_before = p.iter().cloned().collect();
        }
        let mut dropped = 0usize;
        while self.queue.len() > MAX_QUEUED_EVENTS {
            self.queue.pop_front();
            dropped += 1;
        }
        if dropped > 0 {
            warn!(dropped, "too many events queued: the oldest were dropped");
        }
    }
}

/// How a round of writes ended.
enum Round {
    /// Everything planned was written.
    Done,
    /// Out of tokens: go on at this time.
    Throttled(Instant),
    /// A write failed: list again, with backoff.
    Failed(kube::Error),
}

/// The running config an FRRNodeState shows: the applied config's text, taken again when the
/// applied config changed, but not sooner than `RUNNING_CONFIG_REFRESH` after the last time.
#[derive(Default)]
struct RunningConfig {
    of: Option<Arc<crate::frr::rendered::Rendered>>,
    text: Option<String>,
    at: Option<Instant>,
    /// When a deferred change is due.
    due: Option<Instant>,
}

impl RunningConfig {
    /// Brings the text up to `applied`, or says when it may be (a change came too soon after the
    /// last one).
    fn update(&mut self, applied: Option<&Arc<crate::frr::rendered::Rendered>>, now: Instant) -> Option<Instant> {
        let same = match (applied, &self.of) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same {
            return None;
        }
        if let (Some(at), Some(_)) = (self.at, &self.text) {
            let due = at + RUNNING_CONFIG_REFRESH;
            if now < due {
                self.due = Some(due);
                return self.due;
            }
        }
        self.of = applied.cloned();
        self.text = applied.map(|r| running_config(&r.conf.text()));
        self.at = Some(now);
        self.due = None;
        None
    }

    /// The text for the sources' applied config (see `update`).
    fn current(&mut self, src: &Sources) -> Option<String> {
        let applied = src.apply.borrow().applied.clone();
        self.update(applied.as_ref(), Instant::now());
        self.text.clone()
    }

    /// Is a deferred change due (then the facts are stale)?
    fn due_now(&mut self) -> bool {
        let due = self.due.is_some_and(|d| Instant::now() >= d);
        if due {
            self.due = None;
        }
        due
    }
}

/// The facts as known now, from the sources' latest values; `running`: the running config the
/// FRRNodeState shows (none when that kind is not written).
fn facts(src: &Sources, node: &str, running: Option<String>) -> Facts {
    let input = src.input.borrow().clone();
    let apply = src.apply.borrow().clone();
    let problems = src.problems.borrow().clone();
    let sessions = src.sessions.borrow().clone();
    let node_uid = input.as_ref().and_then(|i| i.snapshot.nodes.get(node)?.uid.clone());
    Facts {
        node: node.to_string(),
        node_uid,
        announcements: apply.applied.as_ref().map(|r| r.announcements.clone()),
        sessions: sessions.as_ref().map(|s| s.to_vec()),
        config: problems.as_ref().map(|p| ConfigFacts {
            errors: p.iter().filter(|p| p.is_error()).map(|p| p.to_string()).collect(),
            applied: match (&apply.applied, &apply.error) {
                (_, Some(_)) => Some(false),
                (Some(_), None) => Some(true),
                (None, None) => None,
            },
            apply_error: apply.error.clone(),
            extras_error: apply.extras_error.clone(),
        }),
        extras: input.as_ref().and_then(|i| i.snapshot.extras.keys().next().cloned()),
        running,
    }
}

impl StatusWriter {
    /// The writes that make the API say `facts`, for the kinds whose facts are known and whose
    /// CRD is installed.
    fn plan(&self, facts: &Facts, have: &HeldMap) -> Vec<Action> {
        let known: BTreeSet<StatusKind> = [
            (StatusKind::ConfigurationState, facts.config.is_some()),
            (StatusKind::FrrNodeState, facts.config.is_some()),
            (StatusKind::BgpSessionState, facts.sessions.is_some()),
            (StatusKind::FrrK8sSessionState, facts.sessions.is_some()),
            (StatusKind::ServiceBgpStatus, facts.announcements.is_some()),
        ]
        .into_iter()
        .filter(|(k, k_known)| *k_known && !self.missing.contains(k))
        .map(|(k, _)| k)
        .collect();
        plan(have, facts, &known, &now_seconds())
    }

    /// Events first (they are about now), then the objects; stop when out of tokens.
    async fn write(
        &mut self,
        bucket: &mut Bucket,
        events: &mut VecDeque<EventSpec>,
        actions: &[Action],
        facts: &Facts,
    ) -> (Round, usize) {
        while let Some(ev) = events.front() {
            if let Err(at) = bucket.take() {
                return (Round::Throttled(at), 0);
            }
            if let Err(e) = self.publish(ev).await {
                // An event is worth one try: it describes a moment.
                warn!(object = %ev.object, reason = ev.reason, error = %e, "cannot publish event");
            }
            events.pop_front();
        }
        let mut done = 0;
        let mut round = Round::Done;
        for a in actions {
            if let Err(at) = bucket.take() {
                round = Round::Throttled(at);
                break;
            }
            if let Err(e) = self.execute(a, facts).await {
                round = Round::Failed(e);
                break;
            }
            done += 1;
        }
        if done > 0 {
            debug!(done, pending = actions.len() - done, "status written");
        }
        (round, done)
    }
}

impl StatusWriter {
    fn new(client: Client, namespaces: Namespaces, node: &str) -> Self {
        let apis = StatusKind::ALL
            .into_iter()
            .map(|k| {
                let ar = k.api_resource();
                let api = match namespaces.of(k) {
                    Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                    None => Api::all_with(client.clone(), &ar),
                };
                (k, api)
            })
            .collect();
        StatusWriter {
            node: node.to_string(),
            namespaces,
            apis,
            events: Publisher::new(client.clone(), "frr-speaker", node),
            client,
            have: None,
            missing: BTreeSet::new(),
            listed_at: Instant::now(),
            probed_at: Instant::now(),
        }
    }
}

/// A backlog of this many writes or more is logged (with the time it will take) when it forms.
const BACKLOG_LOGGED: usize = 100;

/// Write status and Events until the sources close. `pending` shows the writes waiting for
/// tokens.
pub async fn run(client: Client, namespaces: Namespaces, node: String, qps: f64, mut src: Sources, pending: IntGauge) {
    let mut w = StatusWriter::new(client, namespaces, &node);
    let mut bucket = Bucket::new(qps);
    let mut events = EventQueue::default();
    let mut wake_at: Option<Instant> = None;
    let mut backoff = retry::backoff(MIN_BACKOFF, MAX_BACKOFF);
    let mut errors = Streak::default();
    // What is left of the last plan, and whether any fact changed since it was made: a wake-up for
    // tokens goes on with the plan instead of planning every object again (O(Services) per token).
    let mut backlog: Vec<Action> = Vec::new();
    // The facts the backlog was planned from (its ServiceBGPStatus objects are made from them).
    let mut planned = Facts::default();
    let mut stale = true;
    let mut backlog_logged = false;
    let mut running = RunningConfig::default();
    loop {
        let mut idle = running.due.map_or(w.listed_at + RELIST_INTERVAL, |d| d.min(w.listed_at + RELIST_INTERVAL));
        if !w.missing.is_empty() {
            idle = idle.min(w.probed_at + MISSING_PROBE_INTERVAL);
        }
        let sleep = tokio::time::sleep_until(wake_at.map_or(idle, |at| at.min(idle)).into());
        tokio::select! {
            r = src.problems.changed() => if r.is_err() { return } else { stale = true },
            r = src.apply.changed() => if r.is_err() { return } else { stale = true },
            r = src.sessions.changed() => if r.is_err() { return } else { stale = true },
            _ = sleep => {}
        }
        wake_at = None;
        stale |= running.due_now();
        let probe = w.have.is_some() && !w.missing.is_empty() && w.probed_at.elapsed() >= MISSING_PROBE_INTERVAL;
        if probe && w.probe_missing().await {
            w.have = None;
        }
        if w.have.is_none() || w.listed_at.elapsed() >= RELIST_INTERVAL {
            stale = true;
            if let Err(e) = w.list().await {
                if errors.failed(&e) {
                    warn!(error = %e, "cannot list this node's status objects; retrying");
                }
                w.have = None;
                wake_at = Some(Instant::now() + backoff.next().unwrap_or(MAX_BACKOFF));
                continue;
            }
        }
        let Some(have) = w.have.as_ref() else { continue };
        if std::mem::take(&mut stale) {
            let text = (!w.missing.contains(&StatusKind::FrrNodeState)).then(|| running.current(&src)).flatten();
            let facts = facts(&src, &node, text);
            let problems = src.problems.borrow().clone();
            events.observe(&node, &facts, problems.as_deref().map(Vec::as_slice), have);
            backlog = w.plan(&facts, have);
            planned = facts;
        }
        let span = debug_span!("status_write", actions = backlog.len(), events = events.queue.len());
        let (round, done) = w.write(&mut bucket, &mut events.queue, &backlog, &planned).instrument(span).await;
        backlog.drain(..done);
        let waiting = backlog.len() + events.queue.len();
        pending.set(waiting as i64);
        if waiting >= BACKLOG_LOGGED && !backlog_logged {
            backlog_logged = true;
            info!(
                pending = waiting,
                qps,
                minutes = format!("{:.1}", waiting as f64 / qps.max(0.1) / 60.0),
                "status writes queued behind --status-qps (routing does not wait for them)"
            );
        } else if waiting == 0 && std::mem::take(&mut backlog_logged) {
            info!("status objects up to date");
        }
        match round {
            Round::Done => {
                if errors.ended() {
                    info!("status writes work again");
                }
                backoff.reset();
            }
            Round::Throttled(at) => {
                wake_at = Some(at);
                backoff.reset();
            }
            Round::Failed(e) => {
                if errors.failed(&e) {
                    warn!(error = %e, "status write failed; re-listing and retrying");
                }
                w.have = None;
                wake_at = Some(Instant::now() + backoff.next().unwrap_or(MAX_BACKOFF));
            }
        }
    }
}

#[cfg(test)]
mod tests;
