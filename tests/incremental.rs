//! The rendered config is designed so that a small change of intent is a small change of text
//! (what the driver will apply): adding a Service is one `network` line, changing an
//! advertisement's communities is one `set` line, and the tags of untouched classes never move.

use std::collections::BTreeSet;

use frr_speaker::desired::Options;
use frr_speaker::index::Snapshot;
use frr_speaker::pipeline;
use frr_speaker::sources::manifest::{parse_stream, Parsed};
use serde_json::json;

#[path = "common/objects.rs"]
mod objects;

const BASE: &str = include_str!("golden/many-services/input.yaml");

fn conf(yaml: &str) -> String {
    let mut snap = Snapshot::default();
    for p in parse_stream(yaml, "t.yaml", "metallb-system") {
        match p {
            Parsed::Object(o) => snap.apply(o),
            Parsed::Unreadable(p) | Parsed::Note(p) => panic!("{p}"),
        }
    }
    let out = pipeline::run(&snap, &[], &Options::new("node1"));
    out.config.unwrap_or_else(|| panic!("{:?}", out.problems)).expect("renders").conf.text()
}

/// Lines only in `a`, lines only in `b` (the configs have no meaningful duplicate lines apart
/// from `!`/`exit`, which never differ in count without another change).
fn line_diff(a: &str, b: &str) -> (Vec<String>, Vec<String>) {
    let sa: BTreeSet<&str> = a.lines().collect();
    let sb: BTreeSet<&str> = b.lines().collect();
    (sa.difference(&sb).map(|s| s.to_string()).collect(), sb.difference(&sa).map(|s| s.to_string()).collect())
}

/// `extra` at 203.0.113.200 with an endpoint on node2.
fn extra_service() -> String {
    objects::service("extra", &["203.0.113.200"]).endpoint("198.51.100.1", "node2", None).yaml()
}

#[test]
fn adding_a_service_is_one_network_line() {
    let before = conf(BASE);
    let after = conf(&format!("{BASE}{}", extra_service()));
    let (removed, added) = line_diff(&before, &after);
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(added.len(), 1, "{added:?}");
    assert!(added[0].starts_with("  network 203.0.113.200/32 route-map fs-tag-"), "{added:?}");
}

#[test]
fn changing_communities_is_one_set_line() {
    let before = conf(BASE);
    let after = conf(&BASE.replace("spec: {}", "spec:\n  communities: ['65000:42']"));
    assert_ne!(before, after, "the advertisement edit must change something");
    let (removed, added) = line_diff(&before, &after);
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(added, vec![" set community 65000:42".to_string()]);
}

#[test]
fn a_new_class_does_not_move_existing_tags() {
    let before = conf(BASE);
    // A second pool with its own advertisement (and so its own class) and one Service in it.
    let mut objs = vec![
        objects::pool("second", &["198.51.100.0/24"]),
        objects::advertisement("second", json!({"ipAddressPools": ["second"], "communities": ["65000:9"]})),
    ];
    objs.extend(objects::service("other", &["198.51.100.7"]).endpoint("198.51.100.1", "node1", None).build());
    let extra = format!("{BASE}{}", objects::yaml(&objs));
    // `public` no longer selects every pool by default once `second` exists, so pin it to its pool.
    let extra = extra.replace("spec: {}", "spec: {ipAddressPools: [public]}");
    let after = conf(&extra);
    let tag_of = |c: &str, prefix: &str| -> String {
        c.lines()
            .find(|l| l.contains(&format!("network {prefix} ")))
            .and_then(|l| l.rsplit(' ').next())
            .expect("prefix present")
            .to_string()
    };
    let old = tag_of(&before, "203.0.113.100/32");
    assert_eq!(tag_of(&after, "203.0.113.100/32"), old, "the existing class kept its tag");
    assert_ne!(tag_of(&after, "198.51.100.7/32"), old, "the new class has a tag of its own");
    let (removed, _) = line_diff(&before, &after);
    assert!(removed.is_empty(), "nothing of the old config changed: {removed:?}");
}
