use http::Method;
use k8s_openapi::api::core::v1::ObjectReference;
use serde_json::json;

use super::{Note, Publisher};
use crate::fake_api::{FakeApi, Fault};

const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

fn web() -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Service".into()),
        name: Some("web".into()),
        namespace: Some("default".into()),
        uid: Some("uid-web".into()),
        ..Default::default()
    }
}

fn announcing() -> Note {
    Note { warning: false, reason: "Announcing".into(), action: "Apply".into(), note: "to 192.0.2.1".into() }
}

fn count(fake: &FakeApi, prefix: &str) -> usize {
    fake.requests().iter().filter(|r| r.starts_with(prefix)).count()
}

/// A rule that applies `fault` to the first request with `method` to `path`.
fn first(method: Method, path: &'static str, fault: Fault) -> impl FnMut(&Method, &str) -> Option<Fault> + Send {
    let mut left = Some(fault);
    move |m, p| if *m == method && p == path { left.take() } else { None }
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_published_once_without_error() {
    // The apiserver stores the first create and answers 504; kube's retry layer sends the same
    // create again, which meets the stored Event (409 AlreadyExists).
    let fake = FakeApi::new();
    fake.set_rule(first(Method::POST, EVENTS, Fault::LoseAnswer));
    let publisher = Publisher::new(fake.client(), "frr-speaker", "node1");
    publisher.publish(&announcing(), &web()).await.expect("a repeated create that had landed is success");
    let events = fake.objects(EVENTS);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["reason"], "Announcing");
    assert_eq!(events[0]["note"], "to 192.0.2.1");
    assert_eq!(events[0]["type"], "Normal");
    assert_eq!(events[0]["reportingController"], "frr-speaker");
    assert_eq!(events[0]["reportingInstance"], "node1");
    assert_eq!(events[0]["regarding"]["uid"], "uid-web");
    // Two creates (the second by the retry layer), one read of the Event found.
    assert_eq!(count(&fake, "POST"), 2, "{:?}", fake.requests());
    assert_eq!(count(&fake, "GET"), 1, "{:?}", fake.requests());
}

#[tokio::test]
async fn someone_elses_event_under_our_name_gets_ours_a_new_name() {
    let fake = FakeApi::new();
    let theirs = json!({"reason": "Other", "note": "not ours", "reportingController": "someone-else"});
    fake.set_rule(first(Method::POST, EVENTS, Fault::NameTaken(theirs)));
    let publisher = Publisher::new(fake.client(), "frr-speaker", "node1");
    publisher.publish(&announcing(), &web()).await.expect("published under another name");
    let events = fake.objects(EVENTS);
    assert_eq!(events.len(), 2, "theirs kept, ours added: {events:?}");
    let ours: Vec<_> = events.iter().filter(|e| e["reportingController"] == "frr-speaker").collect();
    assert_eq!(ours.len(), 1, "{events:?}");
    assert_eq!(ours[0]["note"], "to 192.0.2.1");
    assert!(events.iter().any(|e| e["note"] == "not ours"), "the other Event is untouched");
    assert_eq!(count(&fake, "POST"), 2, "{:?}", fake.requests());
}

#[tokio::test]
async fn a_repeat_counts_on_the_first_event_and_one_gone_is_created_again() {
    let fake = FakeApi::new();
    let publisher = Publisher::new(fake.client(), "frr-speaker", "node1");
    publisher.publish(&announcing(), &web()).await.expect("first");
    publisher.publish(&announcing(), &web()).await.expect("repeat");
    let events = fake.objects(EVENTS);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["series"]["count"], 2);
    assert!(events[0]["series"]["lastObservedTime"].is_string());
    assert_eq!(count(&fake, "PATCH"), 1);
    // Another note is another Event.
    let other = Note { note: "to 192.0.2.2".into(), ..announcing() };
    publisher.publish(&other, &web()).await.expect("other");
    assert_eq!(fake.objects(EVENTS).len(), 2);
    // The repeated Event expired (or was deleted): the next repeat creates it again.
    let name = events[0]["metadata"]["name"].as_str().expect("name").to_string();
    fake.remove(&format!("{EVENTS}/{name}"));
    publisher.publish(&announcing(), &web()).await.expect("created again");
    let after = fake.objects(EVENTS);
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after.iter().all(|e| e["series"].is_null()), "a new Event, no series: {after:?}");
}

#[tokio::test]
async fn a_note_longer_than_the_api_takes_is_cut_at_a_character() {
    let fake = FakeApi::new();
    let publisher = Publisher::new(fake.client(), "frr-speaker", "node1");
    let long = Note { note: "é".repeat(600), ..announcing() };
    publisher.publish(&long, &web()).await.expect("published");
    let note = fake.objects(EVENTS)[0]["note"].as_str().expect("note").to_string();
    assert_eq!(note.len(), 1024);
    assert_eq!(note, "é".repeat(512));
}

#[tokio::test]
async fn an_event_about_a_cluster_scoped_object_goes_to_default() {
    let fake = FakeApi::new();
    let publisher = Publisher::new(fake.client(), "frr-speaker", "node1");
    let node = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Node".into()),
        name: Some("node1".into()),
        uid: Some("uid-node1".into()),
        ..Default::default()
    };
    publisher.publish(&announcing(), &node).await.expect("published");
    let events = fake.objects(EVENTS);
    assert_eq!(events.len(), 1, "{:?}", fake.requests());
    assert!(events[0]["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("node1.")));
}
