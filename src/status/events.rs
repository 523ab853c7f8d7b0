//! Kubernetes Events (events.k8s.io/v1), published so that a request sent twice neither fails nor
//! makes a second Event. Used by the agent's status writer and by the allocator.
//!
//! kube's client sends a request again when the apiserver answers 429, 503 or 504
//! (`kube::Config::default_retry`), and the apiserver answers 504 when a request outlived its
//! timeout although storage may still commit it. The repeated create then meets the Event its
//! first sending made: 409 AlreadyExists. So a create answered 409 reads the Event of that name:
//! ours with this content is success; anything else is someone else's, and ours gets a new name.
//!
//! An Event repeated within `SERIES_WINDOW` updates the first one's series (count, last observed
//! time) instead of making another, as client-go's events recorder does; one that is gone by then
//! (expired by the apiserver's `--event-ttl`, or deleted) is created again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;
use tracing::debug;

/// How long after its last occurrence a repeat updates an Event's series (client-go's events
/// recorder: 6 minutes).
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// Names tried when another reporter's Event holds ours (names carry a nanosecond timestamp, so
/// a second try practically always succeeds).
const NAME_ATTEMPTS: usize = 3;
/// The Events API refuses a longer note (events.k8s.io/v1: at most 1 kB).
const MAX_NOTE_BYTES: usize = 1024;

/// One Event to publish.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Note {
    pub warning: bool,
    /// Why (CamelCase, e.g. `Announcing`).
    pub reason: String,
    /// What was done or failed (e.g. `Apply`).
    pub action: String,
    /// For people.
    pub note: String,
}

/// What makes two publications the same Event.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    namespace: String,
    kind: Option<String>,
    name: Option<String>,
    uid: Option<String>,
    note: Note,
}

/// An Event this publisher created: its name, and its series so far.
struct Sent {
    name: String,
    count: i32,
    at: Instant,
}

/// Publishes Events as one reporter (`reportingController`, `reportingInstance`).
pub struct Publisher {
    client: Client,
    controller: String,
    instance: String,
    sent: Mutex<HashMap<Key, Sent>>,
}

/// `note` cut to what the API takes, at a character boundary.
fn api_note(note: &str) -> String {
    let mut end = note.len().min(MAX_NOTE_BYTES);
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    note[..end].to_string()
}

/// The Event's namespace: its object's, or `default` for a cluster-scoped object (as kubectl and
/// client-go place them).
fn namespace(regarding: &ObjectReference) -> String {
    regarding.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into())
}

impl Publisher {
    pub fn new(client: Client, controller: &str, instance: &str) -> Publisher {
        Publisher {
            client,
            controller: controller.to_string(),
            instance: instance.to_string(),
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// Publish `note` about `regarding`: a new Event, or the next count of the same one.
    pub async fn publish(&self, note: &Note, regarding: &ObjectReference) -> Result<(), kube::Error> {
        let ns = namespace(regarding);
        let key = Key {
            namespace: ns.clone(),
            kind: regarding.kind.clone(),
            name: regarding.name.clone(),
            uid: regarding.uid.clone(),
            note: Note { note: api_note(&note.note), ..note.clone() },
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        if let Some((name, count)) = self.repeat_of(&key) {
            let patch = json!({"series": {"count": count, "lastObservedTime": MicroTime(Timestamp::now())}});
            match api.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await {
                Ok(_) => {
                    self.record(key, name, count);
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.code == 404 => debug!(event = %name, "repeated Event gone: created anew"),
                Err(e) => return Err(e),
            }
        }
        let name = self.create(&api, &key.note, regarding).await?;
        self.record(key, name, 1);
        Ok(())
    }

    /// The name and next count of an Event this publisher made for `key` within the window.
    fn repeat_of(&self, key: &Key) -> Option<(String, i32)> {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.retain(|_, s| s.at.elapsed() < SERIES_WINDOW);
        sent.get(key).map(|s| (s.name.clone(), s.count.saturating_add(1)))
    }

    fn record(&self, key: Key, name: String, count: i32) {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.insert(key, Sent { name, count, at: Instant::now() });
    }

    fn event(&self, note: &Note, regarding: &ObjectReference) -> Event {
        let now = Timestamp::now();
        let object = regarding.name.as_deref().unwrap_or(&self.controller);
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{object}.{:x}", now.as_nanosecond())),
                namespace: Some(namespace(regarding)),
                ..Default::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(if note.warning { "Warning" } else { "Normal" }.into()),
            reason: Some(note.reason.clone()),
            action: Some(note.action.clone()),
            note: Some(note.note.clone()),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        }
    }

    /// Create a new Event; its name.
    async fn create(&self, api: &Api<Event>, note: &Note, regarding: &ObjectReference) -> Result<String, kube::Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ev = self.event(note, regarding);
            let name = ev.metadata.name.clone().unwrap_or_default();
            let err = match api.create(&PostParams::default(), &ev).await {
                Ok(_) => return Ok(name),
                Err(kube::Error::Api(s)) if s.code == 409 => kube::Error::Api(s),
                Err(e) => return Err(e),
            };
            match api.get_opt(&name).await? {
                Some(found) if same_event(&found, &ev) => {
                    debug!(event = %name, "a repeated create met the Event its first sending made");
                    return Ok(name);
                }
                // Someone else's Event under this name (or ours already expired): a new name.
                _ if attempt < NAME_ATTEMPTS => debug!(event = %name, "name taken: another name"),
                _ => return Err(err),
            }
        }
    }
}

/// Is `found` the Event `sent` (the same reporter, object and content)?
fn same_event(found: &Event, sent: &Event) -> bool {
    let object = |e: &Event| e.regarding.as_ref().map(|r| (r.kind.clone(), r.name.clone(), r.uid.clone()));
    found.reporting_controller == sent.reporting_controller
        && found.reporting_instance == sent.reporting_instance
        && found.type_ == sent.type_
        && found.reason == sent.reason
        && found.action == sent.action
        && found.note == sent.note
        && object(found) == object(sent)
}

#[cfg(test)]
mod tests;
