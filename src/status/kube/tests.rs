//! The status writer against the fake apiserver (crate::fake_api): the exact requests of a start,
//! of a change, and the objects and Events they leave.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;

use super::*;
use crate::desired::state::{Announcements, Prefixes};
use crate::fake_api::FakeApi;
use crate::frr::rendered::Rendered;
use crate::index::Snapshot;
use crate::model::core::{NodeInfo, ObjKey};

const NS: &str = "/apis/metallb.io/v1beta1/namespaces/metallb-system";
const SESSIONS: &str = "/apis/frr-speaker.io/v1beta1/namespaces/metallb-system/bgpsessionstates";
const FRRK8S_SESSIONS: &str = "/apis/frrk8s.metallb.io/v1beta1/namespaces/frr-k8s-system/bgpsessionstates";
const NODE_STATE: &str = "/apis/frrk8s.metallb.io/v1beta1/frrnodestates/node1";

fn input() -> Arc<Input> {
    let mut snapshot = Snapshot::default();
    let node = NodeInfo { name: "node1".into(), uid: Some("uid-node1".into()), ..Default::default() };
    snapshot.nodes.insert("node1".into(), node);
    Arc::new(Input { snapshot: Arc::new(snapshot), ..Default::default() })
}

fn applied() -> ApplyState {
    let peers: crate::desired::state::Peers = vec![Arc::<str>::from("router")].into();
    let prefixes = Prefixes::from_sorted(vec![("203.0.113.10/32".parse().expect("net"), peers)]);
    let mut announcements = Announcements::new();
    announcements.insert(ObjKey::new("default", "web"), prefixes);
    let conf = crate::frr::conf::Conf::from_text(
        "router bgp 64512\n neighbor 192.0.2.1 remote-as 64513\n neighbor 192.0.2.1 password s3cret\nexit\n"
            .to_string(),
    );
    let rendered = Rendered { announcements, conf, ..Default::default() };
    ApplyState { applied: Some(Arc::new(rendered)), ..Default::default() }
}

fn session(state: &str) -> Option<Arc<Vec<SessionFact>>> {
    Some(Arc::new(vec![SessionFact { vrf: None, id: "192.0.2.1".into(), bgp: state.into(), bfd: None }]))
}

/// Wait until `done` holds of the fake (at most 5 s).
async fn until(fake: &FakeApi, done: impl Fn(&FakeApi) -> bool) {
    for _ in 0..500 {
        if done(fake) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not reached; requests: {:#?}", fake.requests());
}

fn one(fake: &FakeApi, path: &str) -> Value {
    fake.objects(path).into_iter().next().unwrap_or_else(|| panic!("no {path}: {:#?}", fake.requests()))
}

#[tokio::test]
async fn the_writer_lists_once_writes_what_differs_and_then_only_that() {
    let fake = FakeApi::new();
    // The Service an Event will be about (its uid is read when the Event is published).
    fake.put(
        "/api/v1/namespaces/default/services/web",
        json!({"metadata": {"name": "web", "namespace": "default", "uid": "uid-web"}}),
    );
    let (_input_tx, input) = watch::channel(Some(input()));
    let (problems_tx, problems) = watch::channel(None);
    let (apply_tx, apply) = watch::channel(ApplyState::default());
    let (sessions_tx, sessions) = watch::channel(None);
    let pending = IntGauge::new("pending", "pending").expect("gauge");
    let writer = tokio::spawn(run(
        fake.client(),
        Namespaces { config: "metallb-system".into(), frrk8s: "frr-k8s-system".into() },
        "node1".into(),
        100.0,
        Sources { input, problems, apply, sessions },
        pending,
    ));
    problems_tx.send_replace(Some(Arc::new(Vec::new())));
    apply_tx.send_replace(applied());
    sessions_tx.send_replace(session("Established"));

    until(&fake, |f| !f.objects(&format!("{NS}/servicebgpstatuses/")).is_empty() && !f.objects(SESSIONS).is_empty())
        .await;
    let cs = one(&fake, &format!("{NS}/configurationstates/speaker-node1"));
    assert_eq!(cs["status"]["result"], "Valid", "{cs:#}");
    assert_eq!(cs["metadata"]["ownerReferences"][0]["uid"], "uid-node1");
    let bgp = one(&fake, SESSIONS);
    assert_eq!(bgp["status"]["bgpStatus"], "Established", "{bgp:#}");
    assert_eq!(bgp["metadata"]["labels"]["metallb.io/node"], "node1");
    // frr-k8s's kinds: the node's FRRNodeState (cluster-scoped, no password), its sessions in
    // the frr-k8s namespace with frr-k8s's labels.
    until(&fake, |f| !f.objects(NODE_STATE).is_empty() && !f.objects(FRRK8S_SESSIONS).is_empty()).await;
    let ns = one(&fake, NODE_STATE);
    assert_eq!(ns["status"]["lastConversionResult"], "success", "{ns:#}");
    assert_eq!(ns["status"]["lastReloadResult"], "success", "{ns:#}");
    let running = ns["status"]["runningConfig"].as_str().expect("running config");
    assert!(running.contains("neighbor 192.0.2.1 remote-as 64513"), "{running}");
    assert!(!running.contains("s3cret") && running.contains("password <redacted>"), "{running}");
    assert!(ns["metadata"].get("namespace").is_none(), "{ns:#}");
    let fs = one(&fake, FRRK8S_SESSIONS);
    assert_eq!(fs["metadata"]["labels"]["frrk8s.metallb.io/node"], "node1", "{fs:#}");
    assert_eq!(fs["metadata"]["labels"]["frrk8s.metallb.io/peer"], "192.0.2.1");
    assert_eq!(fs["metadata"]["labels"]["frrk8s.metallb.io/vrf"], "");
    assert_eq!(fs["status"]["bfdStatus"], "N/A");
    let svc = one(&fake, &format!("{NS}/servicebgpstatuses/"));
    assert_eq!(svc["status"]["serviceName"], "web", "{svc:#}");
    assert_eq!(svc["status"]["node"], "node1");
    // The start: one listing per kind, then an apply of each object's metadata and one of its
    // status; an Event for the newly announced Service (its object read first).
    let reqs = fake.requests();
    let lists: Vec<&String> = reqs.iter().filter(|r| r.starts_with("GET /apis/")).collect();
    assert_eq!(lists.len(), 5, "{reqs:#?}");
    let events_about_web = || {
        fake.objects("/apis/events.k8s.io/v1/namespaces/default/events")
            .into_iter()
            .filter(|e| e["regarding"]["uid"] == "uid-web" && e["reason"] == "Announcing")
            .count()
    };
    until(&fake, |_| events_about_web() == 1).await;
    assert!(reqs.iter().all(|r| !r.starts_with("DELETE")), "{reqs:#?}");

    // A session goes down: exactly one write of each session kind, its status.
    tokio::time::sleep(Duration::from_millis(100)).await;
    fake.clear_requests();
    sessions_tx.send_replace(session("Active"));
    until(&fake, |f| {
        one(f, SESSIONS)["status"]["bgpStatus"] == "Active"
            && one(f, FRRK8S_SESSIONS)["status"]["bgpStatus"] == "Active"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let name = one(&fake, SESSIONS)["metadata"]["name"].as_str().expect("name").to_string();
    let frrk8s_name = one(&fake, FRRK8S_SESSIONS)["metadata"]["name"].as_str().expect("name").to_string();
    assert_eq!(
        fake.requests(),
        [format!("PATCH {SESSIONS}/{name}/status"), format!("PATCH {FRRK8S_SESSIONS}/{frrk8s_name}/status")]
    );

    // The Service is withdrawn: its ServiceBGPStatus is deleted, nothing else is written.
    fake.clear_requests();
    apply_tx.send_replace(ApplyState { applied: Some(Arc::new(Rendered::default())), ..Default::default() });
    until(&fake, |f| f.objects(&format!("{NS}/servicebgpstatuses/")).is_empty()).await;
    let reqs = fake.requests();
    assert!(reqs.iter().any(|r| r.starts_with(&format!("DELETE {NS}/servicebgpstatuses/"))), "{reqs:#?}");
    assert!(!reqs.iter().any(|r| r.contains("bgpsessionstates")), "{reqs:#?}");
    assert_eq!(events_about_web(), 1, "Withdrawn is another reason");
    writer.abort();
}

#[test]
fn running_config_follows_the_applied_config_at_most_every_refresh_interval() {
    let mut running = RunningConfig::default();
    let t0 = Instant::now();
    let first = applied().applied;
    assert_eq!(running.update(first.as_ref(), t0), None, "the first config is taken at once");
    let text = running.text.clone().expect("a text");
    assert!(text.contains("password <redacted>") && !text.contains("s3cret"), "{text}");
    assert_eq!(running.update(first.as_ref(), t0 + Duration::from_secs(1)), None, "the same config: nothing to do");
    let conf = crate::frr::conf::Conf::from_text("router bgp 64512\nexit\n".to_string());
    let second = Some(Arc::new(Rendered { conf, ..Default::default() }));
    let due = running.update(second.as_ref(), t0 + Duration::from_secs(5));
    assert_eq!(due, Some(t0 + RUNNING_CONFIG_REFRESH), "a change 5 s later waits");
    assert_eq!(running.text.as_deref(), Some(text.as_str()));
    assert_eq!(running.update(second.as_ref(), t0 + RUNNING_CONFIG_REFRESH), None);
    assert_eq!(running.text.as_deref(), Some("router bgp 64512\nexit"));
}
