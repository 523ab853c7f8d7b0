//! The Events for what changed since the last round: a Service announced or withdrawn by this
//! node, a problem found or gone.

use super::*;

/// A Kubernetes Event to publish.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventSpec {
    pub kind: Kind,
    pub object: ObjKey,
    pub warning: bool,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
}

/// What this node announced at the last round: what it applied (a copy of the persistent map:
/// the next round's events come from diffing the two, in time proportional to the change), or,
/// after a restart, only the Services a ServiceBGPStatus was found for (their prefixes unknown).
#[derive(Clone, Debug)]
pub enum Announced {
    Known(crate::desired::state::Announcements),
    Found(BTreeSet<ObjKey>),
}

impl Default for Announced {
    fn default() -> Self {
        Announced::Known(Default::default())
    }
}

pub fn announced(ann: &crate::desired::state::Announcements) -> Announced {
    Announced::Known(ann.clone())
}

/// Above this many Services in one round (a node starting, a namespace deleted), one Event on the
/// Node stands for the per-Service events: thousands of Events at once help no one reading
/// `kubectl get events` and cost the apiserver as much as the status objects themselves.
pub const SERVICE_EVENTS_MAX: usize = 100;

/// Events for Services this node started or stopped announcing, or announces differently (one
/// Event on the Node when more than `SERVICE_EVENTS_MAX` Services changed).
pub fn announcement_events(
    node: &str,
    before: &Announced,
    after: &crate::desired::state::Announcements,
) -> Vec<EventSpec> {
    let out = service_events(node, before, after);
    if out.len() <= SERVICE_EVENTS_MAX {
        return out;
    }
    let count = |reason: &str| out.iter().filter(|e| e.reason == reason).count();
    let (announcing, changed, withdrawn) = (count("Announcing"), count("AnnouncementChanged"), count("Withdrawn"));
    vec![EventSpec {
        kind: Kind::Node,
        object: ObjKey::new("", node),
        warning: false,
        reason: "AnnouncementsChanged",
        action: "Announce",
        note: format!(
            "node {node}: {announcing} Service(s) announced, {changed} changed, {withdrawn} withdrawn \
             (one event for more than {SERVICE_EVENTS_MAX}; ServiceBGPStatus objects list each)"
        ),
    }]
}

/// One event per Service whose announcement began, changed or ended.
fn service_events(node: &str, before: &Announced, after: &crate::desired::state::Announcements) -> Vec<EventSpec> {
    let list = |prefixes: &crate::desired::state::Prefixes| {
        let ips: Vec<String> = prefixes.keys().map(|p| p.to_string()).collect();
        format!("{} to BGPPeer {}", ips.join(", "), prefixes.peers().join(", "))
    };
    let mut out = Vec::new();
    let announce = |svc: &ObjKey, prefixes, changed: bool| {
        let (reason, verb) =
            if changed { ("AnnouncementChanged", "now announces") } else { ("Announcing", "announces") };
        EventSpec {
            kind: Kind::Service,
            object: svc.clone(),
            warning: false,
            reason,
            action: "Announce",
            note: format!("node {node} {verb} {}", list(prefixes)),
        }
    };
    let mut withdrawn: Vec<&ObjKey> = Vec::new();
    match before {
        Announced::Known(before) => {
            for d in before.diff(after) {
                match d {
                    DiffItem::Add(svc, p) => out.push(announce(svc, p, false)),
                    DiffItem::Update { old: (_, o), new: (svc, p) } => {
                        if !o.keys().eq(p.keys()) {
                            out.push(announce(svc, p, true));
                        }
                    }
                    DiffItem::Remove(svc, _) => withdrawn.push(svc),
                }
            }
        }
        Announced::Found(before) => {
            out.extend(after.iter().filter(|(svc, _)| !before.contains(*svc)).map(|(svc, p)| announce(svc, p, false)));
            withdrawn.extend(before.iter().filter(|k| !after.contains_key(*k)));
        }
    }
    for svc in withdrawn {
        out.push(EventSpec {
            kind: Kind::Service,
            object: svc.clone(),
            warning: false,
            reason: "Withdrawn",
            action: "Withdraw",
            note: format!("node {node} stopped announcing the service"),
        });
    }
    out
}

/// Warning events for problems that appeared since `before`: on the Service for a Service's
/// problem, on the configuration object for a configuration error. Problems about objects that
/// cannot carry an event (files, Secrets: an event would name the Secret to everyone who can
/// read events) are left to the log and ConfigurationState.
pub fn problem_events(node: &str, before: &BTreeSet<Problem>, now: &[Problem]) -> Vec<EventSpec> {
    now.iter()
        .filter(|p| !before.contains(*p))
        .filter(|p| {
            p.kind == Kind::Service
                || p.kind == Kind::ConfigMap
                || (p.is_error() && p.kind.is_config() && p.kind != Kind::Secret)
        })
        .filter(|p| p.kind != Kind::Manifest)
        .map(|p| EventSpec {
            kind: p.kind,
            object: p.object.clone(),
            warning: true,
            reason: match (p.is_error(), p.kind) {
                (true, _) => "InvalidConfig",
                (false, Kind::ConfigMap) => "ExtrasNotApplied",
                (false, _) => "NotAnnounced",
            },
            action: "Validate",
            note: shorten(&format!("node {node}: {p}"), 1024),
        })
        .collect()
}
