//! The desired state, computed incrementally: what the agent runs on every change.
//!
//! `compute` (the pure full computation) stays the reference; `Memo` remembers what it computed
//! from the previous snapshot, each Service's part of it, and the aggregate, and then:
//! - when anything but Services and EndpointSlices changed (a peer, an advertisement, a pool, a
//!   community, a node, a secret, an unreadable object, the options), it computes everything
//!   again, as `compute` does;
//! - otherwise it recomputes only the Services that changed or whose EndpointSlices changed
//!   (found by comparing the two snapshots' persistent maps, which skips what they share), and
//!   updates the aggregate by taking each such Service's old part out and putting its new one in.
//!
//! The last step (classes, tags, policies, the state's `network` maps) is `compute`'s own, run on
//! the aggregate, and kept (`Finished`): when no prefix class comes or goes, the next step only
//! moves the prefixes the recomputed Services touched (O(changes), the maps are persistent);
//! otherwise it runs `finish` again over every prefix. A property test checks that the result
//! equals `compute` after any sequence of changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use imbl::ordmap::DiffItem;
use ipnet::IpNet;

use super::state::Announcements;
use super::{base, conclude, outcome, service_part, Base, Finished, Options, Outcome, Pairs, Part};
use crate::index::Snapshot;
use crate::model::core::{EndpointSliceInfo, ObjKey};

/// How much one computation recomputed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Everything (first run, or a change that may affect every Service).
    Full,
    /// Only these many Services.
    Services(usize),
}

/// (namespace, Service name)
type SvcName = (Arc<str>, Arc<str>);

/// A Service's (prefix, neighbor, advertisement) routes, as `Part::routes`.
type Routes = Box<[(IpNet, usize, usize)]>;

/// The memory of the incremental computation.
#[derive(Default)]
pub struct Memo {
    last: Option<Last>,
}

struct Last {
    /// The snapshot the parts were computed from (its large maps share structure with the next).
    snap: Snapshot,
    opts: Options,
    base: Base,
    /// (namespace, Service name, the key of one of its EndpointSlices): a set of pairs, not a
    /// list per Service (most Services have one slice; docs/benchmarks.md).
    slices_of: BTreeSet<(SvcName, ObjKey)>,
    /// Each Service's routes, when it has any (what it announces is in `announcements`, its
    /// problems in `problems`: not a whole `Part` per Service; docs/benchmarks.md).
    parts: BTreeMap<ObjKey, Routes>,
    routes: BTreeMap<IpNet, Pairs>,
    announcements: Announcements,
    /// The problems of the Services that have any.
    problems: BTreeMap<ObjKey, Vec<crate::problem::Problem>>,
    /// The last `finish` (when it succeeded): updated in place while the classes stay.
    finished: Option<Finished>,
    /// The prefixes this step's recomputations touched, each with its pairs before the step
    /// (recorded only while there is a `finished` to update).
    before: BTreeMap<IpNet, Option<Vec<(usize, usize)>>>,
}

/// Everything but the Services and EndpointSlices is the same. Written as a destructuring, so a
/// new field of `Snapshot` cannot be forgotten here.
fn same_config(a: &Snapshot, b: &Snapshot) -> bool {
    let Snapshot {
        peers,
        advertisements,
        pools,
        bfd_profiles,
        communities,
        services: _,
        endpoint_slices: _,
        nodes,
        secrets,
        l2_advertisements,
        extras,
        frr_configurations,
        unreadable,
    } = a;
    *peers == b.peers
        && *advertisements == b.advertisements
        && *pools == b.pools
        && *bfd_profiles == b.bfd_profiles
        && *communities == b.communities
        && *nodes == b.nodes
        && *secrets == b.secrets
        && *l2_advertisements == b.l2_advertisements
        && *extras == b.extras
        && *frr_configurations == b.frr_configurations
        && *unreadable == b.unreadable
}

/// The Service an EndpointSlice belongs to.
fn owner(s: &EndpointSliceInfo) -> Option<SvcName> {
    Some((s.key.namespace.clone(), s.service.clone()?))
}

impl Last {
    fn new(snap: &Snapshot, opts: &Options) -> Last {
        let mut last = Last {
            snap: snap.clone(),
            opts: opts.clone(),
            base: base(snap, opts),
            slices_of: BTreeSet::new(),
            parts: BTreeMap::new(),
            routes: BTreeMap::new(),
            announcements: Announcements::new(),
            problems: BTreeMap::new(),
            finished: None,
            before: BTreeMap::new(),
        };
        // Built from sorted lists, not entry by entry: a B-tree filled in order leaves its nodes
        // half empty, and at 100,000 Services these maps are tens of MB.
        let mut owned: Vec<(SvcName, ObjKey)> =
            snap.endpoint_slices.values().filter_map(|s| Some((owner(s)?, s.key.clone()))).collect();
        owned.sort_unstable();
        owned.dedup();
        last.slices_of = owned.into_iter().collect();
        if !last.base.has_errors() {
            // Each Service's part on every core (pure), then put into the aggregate in order.
            let keys: Vec<&ObjKey> = snap.services.keys().collect();
            let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            let chunk = keys.len().div_ceil(threads).max(1);
            let parts: Vec<Part> = std::thread::scope(|s| {
                let handles: Vec<_> = keys
                    .chunks(chunk)
                    .map(|ks| {
                        let last = &last;
                        s.spawn(move || ks.iter().map(|k| last.part_of(k)).collect::<Vec<_>>())
                    })
                    .collect();
                handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
            });
            last.put_all(keys.into_iter().zip(parts));
        }
        last
    }

    /// Service `key`'s part, from the snapshot as it is now (nothing when it is gone).
    fn part_of(&self, key: &ObjKey) -> Part {
        let Some(svc) = self.snap.services.get(key) else { return Part::default() };
        let svc_name: SvcName = (key.namespace.clone(), key.name.clone());
        // (The empty key sorts before every other: the range starts at the Service's first slice.)
        let slices: Vec<&EndpointSliceInfo> = self
            .slices_of
            .range((svc_name.clone(), ObjKey::default())..)
            .take_while(|(s, _)| *s == svc_name)
            .filter_map(|(_, k)| self.snap.endpoint_slices.get(k).map(|s| &**s))
            .collect();
        service_part(&self.opts, &self.base, svc, &slices)
    }

    /// `put` of every Service's part, into empty maps (keys in order), each map built at once.
    fn put_all<'a>(&mut self, parts: impl Iterator<Item = (&'a ObjKey, Part)>) {
        let mut routes: Vec<(IpNet, (usize, usize))> = Vec::new();
        let mut kept: Vec<(ObjKey, Routes)> = Vec::new();
        let mut problems = Vec::new();
        for (key, part) in parts {
            routes.extend(part.routes.iter().map(|(prefix, pi, ai)| (*prefix, (*pi, *ai))));
            if let Some(a) = part.announced {
                self.announcements.insert(key.clone(), a);
            }
            if !part.problems.is_empty() {
                problems.push((key.clone(), part.problems));
            }
            if !part.routes.is_empty() {
                kept.push((key.clone(), part.routes.into_boxed_slice()));
            }
        }
        self.parts = kept.into_iter().collect();
        self.problems = problems.into_iter().collect();
        routes.sort_unstable();
        let mut grouped: Vec<(IpNet, Pairs)> = Vec::new();
        for (prefix, pair) in routes {
            match grouped.last_mut() {
                Some((p, pairs)) if *p == prefix => pairs.add(pair),
                _ => {
                    let mut pairs = Pairs::default();
                    pairs.add(pair);
                    grouped.push((prefix, pairs));
                }
            }
        }
        self.routes = grouped.into_iter().collect();
    }

    /// Put a Service's new part into the aggregate (its old one taken out before).
    fn put(&mut self, key: &ObjKey, part: Part) {
        for (prefix, pi, ai) in &part.routes {
            self.note(*prefix);
            self.routes.entry(*prefix).or_default().add((*pi, *ai));
        }
        // Kept once, in the aggregate (taken out of it by key).
        if let Some(a) = part.announced {
            self.announcements.insert(key.clone(), a);
        }
        if !part.problems.is_empty() {
            self.problems.insert(key.clone(), part.problems);
        }
        if !part.routes.is_empty() {
            self.parts.insert(key.clone(), part.routes.into_boxed_slice());
        }
    }

    /// Take the Service's old part out of the aggregate and put its new one in.
    fn recompute(&mut self, key: &ObjKey) {
        if let Some(old) = self.parts.remove(key) {
            for (prefix, pi, ai) in old {
                self.note(prefix);
                if let Some(p) = self.routes.get_mut(&prefix) {
                    if p.remove((pi, ai)) {
                        self.routes.remove(&prefix);
                    }
                }
            }
        }
        self.announcements.remove(key);
        self.problems.remove(key);
        let part = self.part_of(key);
        self.put(key, part);
    }

    /// Remember `prefix`'s pairs before this step changes them.
    fn note(&mut self, prefix: IpNet) {
        if self.finished.is_some() && !self.before.contains_key(&prefix) {
            let pairs = self.routes.get(&prefix).map(|p| p.pairs.clone());
            self.before.insert(prefix, pairs);
        }
    }

    fn problems(&self) -> Vec<crate::problem::Problem> {
        let mut problems = self.base.problems.clone();
        if !self.base.has_errors() {
            for p in self.problems.values() {
                problems.extend(p.iter().cloned());
            }
        }
        problems
    }

    /// The outcome: the last `finish` updated with the prefixes this step moved when the classes
    /// stay (O(changes)), `finish` over every prefix otherwise.
    fn outcome(&mut self) -> Outcome {
        let problems = self.problems();
        let before = std::mem::take(&mut self.before);
        if !problems.iter().any(crate::problem::Problem::is_error) {
            if let Some(f) = self.finished.as_mut() {
                if f.update(&before, &self.routes, self.announcements.clone()) {
                    return conclude(problems, Some(Ok(f)));
                }
            }
        }
        let (out, finished) = outcome(&self.base, problems, &self.routes, self.announcements.clone());
        self.finished = finished;
        out
    }
}

impl Memo {
    /// This node's desired state for `snap`: equal to `compute(snap, opts)`.
    pub fn compute(&mut self, snap: &Snapshot, opts: &Options) -> (Outcome, Mode) {
        let last = match self.last.take() {
            Some(l) if l.opts == *opts && same_config(&l.snap, snap) => l,
            _ => {
                let mut l = Last::new(snap, opts);
                let out = l.outcome();
                self.last = Some(l);
                return (out, Mode::Full);
            }
        };
        let mut last = last;
        let mut dirty: BTreeSet<ObjKey> = BTreeSet::new();
        for d in last.snap.services.diff(&snap.services) {
            match d {
                DiffItem::Add(k, _) | DiffItem::Remove(k, _) | DiffItem::Update { new: (k, _), .. } => {
                    dirty.insert(k.clone());
                }
            }
        }
        // (Service it belonged to, Service it belongs to, the slice)
        let mut moved: Vec<(Option<SvcName>, Option<SvcName>, ObjKey)> = Vec::new();
        for d in last.snap.endpoint_slices.diff(&snap.endpoint_slices) {
            match d {
                DiffItem::Add(k, s) => moved.push((None, owner(s), k.clone())),
                DiffItem::Remove(k, s) => moved.push((owner(s), None, k.clone())),
                DiffItem::Update { old: (k, o), new: (_, n) } => moved.push((owner(o), owner(n), k.clone())),
            }
        }
        for (from, to, key) in moved {
            if let Some(f) = from {
                last.slices_of.remove(&(f.clone(), key.clone()));
                dirty.insert(ObjKey::new(f.0, f.1));
            }
            if let Some(t) = to {
                last.slices_of.insert((t.clone(), key));
                dirty.insert(ObjKey::new(t.0, t.1));
            }
        }
        last.snap = snap.clone();
        let n = dirty.len();
        if !last.base.has_errors() {
            for k in &dirty {
                last.recompute(k);
            }
        }
        let out = last.outcome();
        self.last = Some(last);
        (out, Mode::Services(n))
    }
}
