//! Hostile input: newline / `!` / `exit` / control characters / unicode look-alikes in string
//! fields, huge, negative and overflowing numbers, ASN 0, IPv4-mapped IPv6, invalid CIDRs and
//! ranges, duplicate and conflicting peers, missing references, a 10 MB manifest. Each case must
//! produce a problem naming the object and the field; and, applied to a running agent and FRR, it
//! must leave FRR's running config byte-identical.

use crate::common;

use std::time::Duration;

/// A valid node configuration the cases are added to.
const BASE: &str = r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.1, bfdProfile: fast}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: 300, transmitInterval: 300}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: ad, namespace: metallb-system}
spec: {communities: ["65000:1"]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer}
status: {loadBalancer: {ingress: [{ip: 203.0.113.10}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [198.51.100.1], nodeName: node1, conditions: {ready: true}}]
"#;

/// A BGPPeer `bad` with `extra` spec fields (JSON/YAML flow syntax).
fn peer(extra: &str) -> String {
    let addr =
        if extra.contains("peerAddress") || extra.contains("interface") { "" } else { "peerAddress: 192.0.2.9, " };
    format!("apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: bad, namespace: metallb-system}}\nspec: {{myASN: 64512, peerASN: 64500, {addr}{extra}}}\n")
}

fn doc(kind: &str, api: &str, spec: &str) -> String {
    format!("apiVersion: {api}\nkind: {kind}\nmetadata: {{name: bad, namespace: metallb-system}}\nspec: {spec}\n")
}

fn ad(spec: &str) -> String {
    doc("BGPAdvertisement", "metallb.io/v1beta1", spec)
}

fn pool(addresses: &str) -> String {
    doc("IPAddressPool", "metallb.io/v1beta1", &format!("{{addresses: [{addresses}]}}"))
}

/// A Service `bad` with this ingress IP (and a ready endpoint on node1).
fn service(ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: bad, namespace: default}}\nspec: {{type: LoadBalancer}}\nstatus: {{loadBalancer: {{ingress: [{{ip: {ip}}}]}}}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: bad-1, namespace: default, labels: {{kubernetes.io/service-name: bad}}}}\naddressType: IPv4\nendpoints: [{{addresses: [198.51.100.2], nodeName: node1, conditions: {{ready: true}}}}]\n"
    )
}

/// (case, manifest, what the problem must say: "Kind namespace/name: field")
fn cases() -> Vec<(&'static str, String, &'static str)> {
    let big = "x".repeat(10 * 1024 * 1024);
    vec![
        (
            "password with newline and exit",
            peer(r#"password: "s3cret\nexit\nrouter bgp 1""#),
            "BGPPeer metallb-system/bad: spec.password",
        ),
        ("password with !", peer(r#"password: "s3cret!""#), "BGPPeer metallb-system/bad: spec.password"),
        ("password with a space", peer(r#"password: "two words""#), "BGPPeer metallb-system/bad: spec.password"),
        (
            "password with a control character",
            peer(r#"password: "bell\u0007""#),
            "BGPPeer metallb-system/bad: spec.password",
        ),
        (
            "password with a unicode look-alike",
            peer("password: \"p\u{0430}ss\""),
            "BGPPeer metallb-system/bad: spec.password",
        ),
        (
            "password of 81 characters",
            peer(&format!("password: {}", "a".repeat(81))),
            "BGPPeer metallb-system/bad: spec.password",
        ),
        ("password of 10 MB", peer(&format!("password: {big}")), "BGPPeer metallb-system/bad: spec.password"),
        ("vrf with newline", peer(r#"vrf: "red\nexit""#), "BGPPeer metallb-system/bad: spec.vrf"),
        ("vrf too long", peer("vrf: abcdefghijklmnopq"), "BGPPeer metallb-system/bad: spec.vrf"),
        ("vrf with a unicode look-alike", peer("vrf: \"r\u{0435}d\""), "BGPPeer metallb-system/bad: spec.vrf"),
        ("interface with newline", peer(r#"interface: "eth0\n!""#), "BGPPeer metallb-system/bad: spec.interface"),
        ("interface with a space", peer(r#"interface: "eth 0""#), "BGPPeer metallb-system/bad: spec.interface"),
        (
            "peerAddress with newline",
            peer(r#"peerAddress: "192.0.2.9\nexit""#),
            "BGPPeer metallb-system/bad: spec.peerAddress",
        ),
        (
            "peerAddress IPv4-mapped IPv6",
            peer(r#"peerAddress: "::ffff:192.0.2.9""#),
            "BGPPeer metallb-system/bad: spec.peerAddress",
        ),
        ("peerAddress out of range", peer("peerAddress: 999.0.2.9"), "BGPPeer metallb-system/bad: spec.peerAddress"),
        ("myASN 0", peer("myASN: 0").replacen("myASN: 64512, ", "", 1), "BGPPeer metallb-system/bad: spec.myASN"),
        (
            "peerASN 0",
            peer("peerASN: 0").replacen("peerASN: 64500, ", "", 1),
            "BGPPeer metallb-system/bad: spec.peerASN",
        ),
        (
            "myASN overflowing 32 bits",
            peer("myASN: 4294967296").replacen("myASN: 64512, ", "", 1),
            "BGPPeer metallb-system/bad: spec.myASN",
        ),
        (
            "negative peerASN",
            peer("peerASN: -1").replacen("peerASN: 64500, ", "", 1),
            "BGPPeer metallb-system/bad: spec.peerASN",
        ),
        (
            "4-byte ASN conflicting with the node's ASN",
            peer("myASN: 4200000000").replacen("myASN: 64512, ", "", 1),
            "spec.myASN: 64512 differs from 4200000000 of BGPPeer metallb-system/bad",
        ),
        ("negative holdTime", peer(r#"holdTime: "-5s""#), "BGPPeer metallb-system/bad: spec.holdTime"),
        ("huge holdTime", peer(r#"holdTime: "99999999999h""#), "BGPPeer metallb-system/bad: spec.holdTime"),
        (
            "keepalive above hold",
            peer(r#"holdTime: 9s, keepaliveTime: 30s"#),
            "BGPPeer metallb-system/bad: spec.keepaliveTime",
        ),
        ("port out of range", peer("peerPort: 70000"), "BGPPeer metallb-system/bad: spec.peerPort"),
        ("routerID with newline", peer(r#"routerID: "192.0.2.11\nexit""#), "BGPPeer metallb-system/bad: spec.routerID"),
        ("routerID IPv6", peer(r#"routerID: "2001:db8::1""#), "BGPPeer metallb-system/bad: spec.routerID"),
        (
            "sourceAddress with exit",
            peer(r#"sourceAddress: "192.0.2.11 exit""#),
            "BGPPeer metallb-system/bad: spec.sourceAddress",
        ),
        ("bfdProfile with newline", peer(r#"bfdProfile: "fast\nexit""#), "BGPPeer metallb-system/bad: spec.bfdProfile"),
        ("bfdProfile missing", peer("bfdProfile: nowhere"), "BGPPeer metallb-system/bad: spec.bfdProfile"),
        (
            "duplicate peer",
            peer("peerAddress: 192.0.2.1"),
            "spec.peerAddress: 192.0.2.1 in the default VRF is already the peer of BGPPeer metallb-system/bad",
        ),
        ("conflicting routerID", peer("routerID: 192.0.2.99"), "spec.routerID"),
        (
            "ebgpMultiHop on iBGP",
            peer("ebgpMultiHop: true, peerASN: 64512").replacen("peerASN: 64500, ", "", 1),
            "BGPPeer metallb-system/bad: spec.ebgpMultiHop",
        ),
        (
            "passwordSecret missing",
            peer("passwordSecret: {name: nope}"),
            "BGPPeer metallb-system/bad: spec.passwordSecret",
        ),
        (
            "dynamicASN unknown",
            peer("dynamicASN: sideways").replacen("peerASN: 64500, ", "", 1),
            "BGPPeer metallb-system/bad: spec.dynamicASN",
        ),
        (
            "name with newline",
            peer("").replace("name: bad", "name: \"bad\\nexit\""),
            "BGPPeer metallb-system/bad\\nexit: metadata.name",
        ),
        (
            "namespace with a unicode look-alike",
            peer("").replace("namespace: metallb-system", "namespace: \"metallb-syst\u{0435}m\""),
            "metadata.namespace",
        ),
        (
            "BFD interval 0",
            doc("BFDProfile", "metallb.io/v1beta1", "{receiveInterval: 0}") + "---\n" + &peer("bfdProfile: bad"),
            "BFDProfile metallb-system/bad: spec.receiveInterval",
        ),
        (
            "BFD multiplier overflowing",
            doc("BFDProfile", "metallb.io/v1beta1", "{detectMultiplier: 4294967296}")
                + "---\n"
                + &peer("bfdProfile: bad"),
            "BFDProfile metallb-system/bad: spec.detectMultiplier",
        ),
        (
            "object defined twice",
            doc("BFDProfile", "metallb.io/v1beta1", "{receiveInterval: 300}").replace("name: bad", "name: fast"),
            "BFDProfile metallb-system/fast: defined twice",
        ),
        (
            "community alias value with newline",
            doc("Community", "metallb.io/v1beta1", r#"{communities: [{name: a1, value: "65000:1\nexit"}]}"#)
                + "---\n"
                + &ad(r#"{communities: [a1]}"#),
            "metallb-system/bad: spec.communities",
        ),
        (
            "community out of range",
            ad(r#"{communities: ["65536:1"]}"#),
            "BGPAdvertisement metallb-system/bad: spec.communities",
        ),
        (
            "community with exit",
            ad(r#"{communities: ["65000:1 exit"]}"#),
            "BGPAdvertisement metallb-system/bad: spec.communities",
        ),
        (
            "unknown community alias",
            ad(r#"{communities: [nosuch]}"#),
            "BGPAdvertisement metallb-system/bad: spec.communities",
        ),
        (
            "large community malformed",
            ad(r#"{communities: ["large:1:2"]}"#),
            "BGPAdvertisement metallb-system/bad: spec.communities",
        ),
        (
            "large community overflowing",
            ad(r#"{communities: ["large:1:2:4294967296"]}"#),
            "BGPAdvertisement metallb-system/bad: spec.communities",
        ),
        (
            "64 communities",
            ad(&format!(
                "{{communities: [{}]}}",
                (0..64).map(|i| format!("\"65000:{i}\"")).collect::<Vec<_>>().join(", ")
            )),
            "BGPAdvertisement metallb-system/bad: spec.communities",
        ),
        ("negative localPref", ad("{localPref: -1}"), "BGPAdvertisement metallb-system/bad: spec.localPref"),
        (
            "aggregationLength 33",
            ad("{aggregationLength: 33}"),
            "BGPAdvertisement metallb-system/bad: spec.aggregationLength",
        ),
        ("pool CIDR /33", pool(r#""203.0.113.0/33""#), "IPAddressPool metallb-system/bad: spec.addresses"),
        (
            "pool reversed range",
            pool(r#""203.0.113.10-203.0.113.1""#),
            "IPAddressPool metallb-system/bad: spec.addresses",
        ),
        ("pool with newline", pool(r#""203.0.113.0/24\nexit""#), "IPAddressPool metallb-system/bad: spec.addresses"),
        (
            "Service ingress with newline",
            service(r#""203.0.113.20\nexit""#),
            "Service default/bad: status.loadBalancer.ingress",
        ),
        (
            "Service ingress IPv4-mapped",
            service(r#""::ffff:203.0.113.20""#),
            "Service default/bad: status.loadBalancer.ingress",
        ),
        ("invalid YAML", "apiVersion: v1\nkind: [Service\n".to_string(), "Manifest"),
    ]
}

/// Problems found in these manifests, loaded from files as `frr-speaker check` and file mode do.
fn problems(manifests: &[&str]) -> (Vec<String>, bool) {
    common::objects::check(manifests)
}

#[test]
fn every_case_names_object_and_field() {
    let (base, errors) = problems(&[BASE]);
    assert!(!errors && base.is_empty(), "the base config is clean: {base:?}");
    let all = cases();
    assert!(all.len() >= 40, "{} cases", all.len());
    let mut failed = Vec::new();
    for (name, manifest, expect) in &all {
        let (got, _) = problems(&[BASE, manifest]);
        if !got.iter().any(|p| p.contains(expect)) {
            failed.push(format!(
                "{name}: expected `{expect}`, got {:?}",
                got.iter().map(|p| p.chars().take(200).collect::<String>()).collect::<Vec<_>>()
            ));
        }
    }
    assert!(failed.is_empty(), "{} of {} cases:\n{}", failed.len(), all.len(), failed.join("\n"));
}

const T: Duration = Duration::from_secs(30);

/// Every case against a running agent and FRR (the router peering with the node): the agent
/// reports the problem and FRR's running config stays byte-identical.
#[test]
fn running_frr_config_is_untouched_by_every_case() {
    use common::{wait_for, Lab, RouterOpts};
    let mut lab = Lab::new("fsh", 1, &RouterOpts { bfd: true, ..RouterOpts::default() });
    lab.put("base.yaml", BASE);
    lab.start_agents();
    let hops = vec!["192.0.2.11".to_string()];
    assert!(wait_for(T, || lab.next_hops("203.0.113.10/32") == hops).is_some(), "base config announced");
    std::thread::sleep(Duration::from_secs(1));
    let running = || common::vtysh(&lab.node(1), "show running-config");
    let before = running();
    let log_len = || std::fs::metadata(lab.agent_log(1)).map(|m| m.len()).unwrap_or(0);
    let mut failed = Vec::new();
    for (name, manifest, expect) in cases() {
        let from = log_len() as usize;
        lab.put("case.yaml", &manifest);
        let reported = wait_for(T, || {
            let log = std::fs::read(lab.agent_log(1)).unwrap_or_default();
            String::from_utf8_lossy(&log[from.min(log.len())..]).contains(expect)
        });
        if reported.is_none() {
            failed.push(format!("{name}: `{expect}` not logged"));
        }
        let now = running();
        if now != before {
            failed.push(format!("{name}: FRR's running config changed"));
        }
        lab.remove("case.yaml");
        // Back to the clean base before the next case (a problem is logged when it appears).
        let clean = wait_for(T, || {
            let m = lab.metrics(1);
            m.contains("frr_speaker_config_problems{severity=\"error\"} 0")
                && m.contains("frr_speaker_config_problems{severity=\"warning\"} 0")
        });
        assert!(clean.is_some(), "{name}: the agent did not return to the clean base");
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert_eq!(lab.next_hops("203.0.113.10/32"), hops, "still announced");
    // The agent did not log a password, hostile or not.
    let log = std::fs::read_to_string(lab.agent_log(1)).unwrap_or_default();
    for secret in ["s3cret", "two words", "bell"] {
        assert!(!log.contains(secret), "a password reached the log: {secret}");
    }
}
