//! The allocator's writer against the fake apiserver (crate::fake_api): the exact requests for an
//! assignment, a repeat, a Service changed meanwhile, and a failure.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::alloc::AllocError;
use crate::fake_api::FakeApi;

const WEB: &str = "/api/v1/namespaces/default/services/web";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

fn web(fake: &FakeApi) -> Arc<Service> {
    Arc::new(serde_json::from_value(fake.objects(WEB)[0].clone()).expect("service"))
}

fn writer(fake: &FakeApi) -> ServiceWriter {
    let tenure = Arc::new(Tenure::new(Duration::from_secs(3600)));
    ServiceWriter::new(fake.client(), tenure, "ctl-a")
}

fn assigned(ip: &str) -> Option<Result<Assigned, AllocError>> {
    Some(Ok(Assigned { pool: "public".into(), ips: vec![ip.parse::<IpAddr>().expect("ip")] }))
}

fn put_web(fake: &FakeApi) {
    let svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-web", "resourceVersion": "7"},
        "spec": {"type": "LoadBalancer"}});
    fake.put(WEB, svc);
}

fn event_reasons(fake: &FakeApi) -> Vec<Value> {
    fake.objects(EVENTS).iter().map(|e| e["reason"].clone()).collect()
}

#[tokio::test]
async fn an_assignment_is_an_annotation_a_status_and_one_event() {
    let fake = FakeApi::new();
    put_web(&fake);
    let mut w = writer(&fake);
    let plan = w.plan(web(&fake), assigned("203.0.113.1")).expect("a write");
    w.write_all(vec![plan]).await;
    assert_eq!(
        fake.requests(),
        [format!("PATCH {WEB}"), format!("PATCH {WEB}/status"), format!("POST {EVENTS}")],
        "the annotation (with the resourceVersion read), then the status, then the Event"
    );
    let svc = &fake.objects(WEB)[0];
    assert_eq!(svc["metadata"]["annotations"][POOL_ANNOTATION], "public");
    assert_eq!(svc["status"]["loadBalancer"]["ingress"], json!([{"ip": "203.0.113.1"}]));
    assert_eq!(event_reasons(&fake), [json!("IPAllocated")]);
    assert_eq!(fake.objects(EVENTS)[0]["reportingInstance"], "ctl-a");

    // The same outcome again, on the Service as now written: nothing to do.
    fake.clear_requests();
    assert!(w.plan(web(&fake), assigned("203.0.113.1")).is_none());
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_service_changed_meanwhile_is_not_overwritten() {
    let fake = FakeApi::new();
    put_web(&fake);
    let mut w = writer(&fake);
    let stale = web(&fake);
    // Someone changes the Service after the allocator read it.
    let mut newer = fake.objects(WEB)[0].clone();
    newer["metadata"]["resourceVersion"] = "8".into();
    newer["metadata"]["labels"] = json!({"team": "a"});
    fake.put(WEB, newer);
    let plan = w.plan(stale, assigned("203.0.113.1")).expect("a write");
    w.write_all(vec![plan]).await;
    let svc = &fake.objects(WEB)[0];
    assert!(svc["status"].is_null() && svc["metadata"]["annotations"].is_null(), "not overwritten: {svc:#}");
    assert_eq!(svc["metadata"]["labels"]["team"], "a");
    assert_eq!(fake.requests()[0], format!("PATCH {WEB}"), "one refused patch, no status write");
    assert!(!fake.requests().contains(&format!("PATCH {WEB}/status")), "{:?}", fake.requests());
}

#[tokio::test]
async fn a_failure_is_a_warning_event_once_per_reason() {
    let fake = FakeApi::new();
    put_web(&fake);
    let mut w = writer(&fake);
    let fail = || Some(Err(AllocError::PoolExhausted("public".into())));
    let plan = w.plan(web(&fake), fail()).expect("an event");
    w.write_all(vec![plan]).await;
    assert_eq!(fake.requests(), [format!("POST {EVENTS}")], "nothing to take back, one Event");
    assert_eq!(event_reasons(&fake), [json!("AllocationFailed")]);
    assert_eq!(fake.objects(EVENTS)[0]["type"], "Warning");
    assert!(w.plan(web(&fake), fail()).is_none(), "the same failure is not reported again");
}
