//! The writes that make the API hold what this node's facts say: the difference between the
//! objects wanted and the digests of those held.

use super::*;

/// One write to the API.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Create or update (`exists`: the digests of what the API holds; only what differs is
    /// written).
    Put {
        kind: StatusKind,
        name: String,
        what: What,
        exists: Option<Digests>,
    },
    Delete {
        kind: StatusKind,
        name: String,
    },
}

/// The object a `Put` writes: a ServiceBGPStatus is made from the plan's facts when it is written
/// (a backlog of 10,000 is 10,000 keys, not 10,000 objects); the few others are kept made.
#[derive(Clone, Debug, PartialEq)]
pub enum What {
    Service(ObjKey),
    Object(Box<Wanted>),
}

impl What {
    /// The object to write, from the facts the plan was made from (`None`: not among them).
    pub fn wanted(&self, facts: &Facts) -> Option<Wanted> {
        match self {
            What::Object(w) => Some((**w).clone()),
            What::Service(svc) => {
                let prefixes = facts.announcements.as_ref()?.get(svc)?;
                Some(service_wanted(facts, svc, prefixes).1)
            }
        }
    }
}

/// The writes that turn `have` into what `facts` say, for the kinds in `known` only; the
/// configuration state first, then sessions, then Services. (One pass over each side; of the
/// wanted objects only what differs is kept, and a ServiceBGPStatus only as its Service's key.)
pub fn plan(have: &HeldMap, facts: &Facts, known: &BTreeSet<StatusKind>, now: &Time) -> Vec<Action> {
    // A ServiceBGPStatus is wanted while its Service is announced (under the name it was written
    // with); the few other objects are compared by name.
    let mut others: BTreeSet<(StatusKind, String)> = BTreeSet::new();
    each_other(facts, have, now, &mut |kind, name, _| {
        others.insert((kind, name));
    });
    // An object whose status does not say its Service (edited by hand) is looked up by name.
    let by_name: BTreeSet<String> = match &facts.announcements {
        Some(ann) if have.iter().any(|(k, h)| k.0 == StatusKind::ServiceBgpStatus && h.service.is_none()) => {
            ann.keys().map(|svc| object_name(&[&facts.node, &svc.namespace, &svc.name])).collect()
        }
        _ => BTreeSet::new(),
    };
    let wanted = |kind: &StatusKind, name: &String, h: &Held| match kind {
        StatusKind::ServiceBgpStatus => match (&h.service, &facts.announcements) {
            (Some(svc), Some(ann)) => {
                ann.contains_key(svc) && object_name(&[&facts.node, &svc.namespace, &svc.name]) == *name
            }
            (None, Some(_)) => by_name.contains(name),
            (_, None) => false,
        },
        _ => others.contains(&(*kind, name.clone())),
    };
    let mut out: Vec<Action> = have
        .iter()
        .filter(|((kind, name), h)| known.contains(kind) && !wanted(kind, name, h))
        .map(|((kind, name), _)| Action::Delete { kind: *kind, name: name.clone() })
        .collect();
    each_wanted(facts, have, now, |kind, name, w| {
        if !known.contains(&kind) {
            return;
        }
        let key = (kind, name);
        let old = have.get(&key).map(|h| h.digests);
        if old != Some(w.digests()) {
            let what = match &w.status {
                StatusBody::Service(s) => {
                    What::Service(ObjKey::new(s.service_namespace.as_str(), s.service_name.as_str()))
                }
                _ => What::Object(Box::new(w)),
            };
            out.push(Action::Put { kind, name: key.1, what, exists: old });
        }
    });
    out.sort_by_key(|a| match a {
        Action::Put { kind, .. } | Action::Delete { kind, .. } => *kind,
    });
    out.shrink_to_fit();
    out
}
