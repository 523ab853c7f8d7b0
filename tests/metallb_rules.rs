//! MetalLB's validation rules for BGP mode, one case each, with the outcome MetalLB gives (read
//! from its config parsing and validation: internal/config in its public repository): refused
//! (an error naming object and field), accepted, or accepted with a warning where MetalLB accepts
//! something worth knowing. Each case is a small addition to a valid configuration, checked
//! through the pipeline that `frr-speaker check` and the agent run.

#[path = "common/objects.rs"]
mod objects;

use objects::check as problems;

/// A valid configuration the cases add to: a peer, a pool and a Service (each case adds an
/// advertisement, or gets a default one).
fn base() -> String {
    let mut objs =
        vec![objects::peer("router", "192.0.2.1", 64500).build(), objects::pool("pool", &["203.0.113.0/24"])];
    objs.extend(objects::service("web", &["203.0.113.10"]).on(1).build());
    objects::yaml(&objs)
}

/// What MetalLB does with a case, and what our problem must say (`Kind namespace/name: field` or
/// a part of the message).
enum Outcome {
    Refused(&'static str),
    Accepted,
    Warned(&'static str),
}
use Outcome::*;

fn doc(kind: &str, api: &str, name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {spec}\n"
    )
}

fn peer(name: &str, spec: &str) -> String {
    doc("BGPPeer", "metallb.io/v1beta2", name, spec)
}

fn ad(spec: &str) -> String {
    doc("BGPAdvertisement", "metallb.io/v1beta1", "ad", spec)
}

fn pool(name: &str, spec: &str) -> String {
    doc("IPAddressPool", "metallb.io/v1beta1", name, spec)
}

/// (rule, what is added to BASE, outcome). An added advertisement replaces the default one.
fn cases() -> Vec<(&'static str, String, Outcome)> {
    let default_ad = ad("{}");
    vec![
        // BGPPeer (peerFromCR, parseTimers, DiscardNativeOnly).
        ("myASN missing", peer("p", "{peerASN: 64500, peerAddress: 192.0.2.5}"), Refused("BGPPeer metallb-system/p: spec: missing field `myASN`")),
        ("neither peerASN nor dynamicASN", peer("p", "{myASN: 64512, peerAddress: 192.0.2.5}"), Refused("BGPPeer metallb-system/p: spec.peerASN")),
        ("both peerASN and dynamicASN", peer("p", "{myASN: 64512, peerASN: 1, dynamicASN: external, peerAddress: 192.0.2.5}"), Refused("BGPPeer metallb-system/p: spec.dynamicASN")),
        ("dynamicASN neither internal nor external", peer("p", "{myASN: 64512, dynamicASN: other, peerAddress: 192.0.2.5}"), Refused("BGPPeer metallb-system/p: spec.dynamicASN")),
        ("ebgpMultiHop on an iBGP peer", peer("p", "{myASN: 64512, peerASN: 64512, peerAddress: 192.0.2.5, ebgpMultiHop: true}"), Refused("BGPPeer metallb-system/p: spec.ebgpMultiHop")),
        ("neither peerAddress nor interface", peer("p", "{myASN: 64512, peerASN: 64500}"), Refused("BGPPeer metallb-system/p: spec.peerAddress")),
        ("both peerAddress and interface", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, interface: eth0}"), Refused("BGPPeer metallb-system/p: spec.interface")),
        ("peerAddress not an address", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: nowhere}"), Refused("BGPPeer metallb-system/p: spec.peerAddress")),
        ("sourceAddress not an address", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, sourceAddress: x}"), Refused("BGPPeer metallb-system/p: spec.sourceAddress")),
        ("hold time under 3s", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, holdTime: 2s}"), Refused("BGPPeer metallb-system/p: spec.holdTime")),
        ("keepalive over hold", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, holdTime: 9s, keepaliveTime: 10s}"), Refused("BGPPeer metallb-system/p: spec.keepaliveTime")),
        ("password and passwordSecret", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, password: a, passwordSecret: {name: s}}"), Refused("BGPPeer metallb-system/p: spec.passwordSecret")),
        ("passwordSecret: {} is no Secret", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, passwordSecret: {}}"), Accepted),
        ("passwordSecret naming a missing Secret", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, passwordSecret: {name: nope}}"), Refused("BGPPeer metallb-system/p: spec.passwordSecret.name")),
        ("bfdProfile naming a missing profile", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, bfdProfile: nope}"), Refused("BGPPeer metallb-system/p: spec.bfdProfile")),
        ("the same address twice", peer("p", "{myASN: 64512, peerASN: 64501, peerAddress: 192.0.2.1}"), Refused("192.0.2.1 in the default VRF is already the peer of BGPPeer")),
        ("two myASNs in one VRF", peer("p", "{myASN: 64513, peerASN: 64500, peerAddress: 192.0.2.5}"), Refused("must use one myASN")),
        ("two routerIDs", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, routerID: 192.0.2.99}"), Refused("must use one routerID")),
        ("a nodeSelectors expression without a key", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, nodeSelectors: [{matchExpressions: [{key: '', operator: Exists}]}]}"), Refused("BGPPeer metallb-system/p: spec.nodeSelectors[0]")),
        ("a nodeSelector listed twice", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, nodeSelectors: [{matchLabels: {a: b}}, {matchLabels: {a: b}}]}"), Refused("BGPPeer metallb-system/p: spec.nodeSelectors[1]")),
        ("a value listed twice in an expression", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, nodeSelectors: [{matchExpressions: [{key: a, operator: In, values: [x, x]}]}]}"), Refused("BGPPeer metallb-system/p: spec.nodeSelectors[0]")),
        ("localASN (MetalLB v0.16)", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, localASN: 64999}"), Accepted),
        // IPAddressPool (addressPoolFromCR, ParseCIDR, poolsFor).
        ("a pool without addresses", pool("p2", "{addresses: []}"), Refused("IPAddressPool metallb-system/p2: spec.addresses")),
        ("an address that is no CIDR or range", pool("p2", "{addresses: [bogus]}"), Refused("IPAddressPool metallb-system/p2: spec.addresses[0]")),
        ("a range that ends before it starts", pool("p2", "{addresses: [198.51.100.20-198.51.100.10]}"), Refused("IPAddressPool metallb-system/p2: spec.addresses[0]")),
        ("host bits in a CIDR (MetalLB uses the network)", pool("p2", "{addresses: [198.51.100.7/24]}"), Warned("IPAddressPool metallb-system/p2: spec.addresses[0]: \"198.51.100.7/24\" has host bits set")),
        ("pools overlapping", pool("p2", "{addresses: [203.0.113.128/25]}"), Refused("overlaps IPAddressPool")),
        ("entries of one pool overlapping", pool("p2", "{addresses: [198.51.100.0/24, 198.51.100.8/29]}"), Refused("overlaps another entry of this pool")),
        ("a namespace listed twice in serviceAllocation", pool("p2", "{addresses: [198.51.100.0/24], serviceAllocation: {namespaces: [a, a]}}"), Refused("IPAddressPool metallb-system/p2: spec.serviceAllocation.namespaces[1]")),
        // BGPAdvertisement (bgpAdvertisementFromCR, validateBGPAdvPerPool).
        ("aggregationLength over 32", ad("{aggregationLength: 33}"), Refused("BGPAdvertisement metallb-system/ad: spec.aggregationLength")),
        ("aggregationLengthV6 over 128", ad("{aggregationLengthV6: 129}"), Refused("BGPAdvertisement metallb-system/ad: spec.aggregationLengthV6")),
        ("aggregation shorter than the pool's CIDR", ad("{aggregationLength: 16}"), Refused("BGPAdvertisement metallb-system/ad: spec.aggregationLength: 16 is shorter than 203.0.113.0/24")),
        ("aggregation over a range: accepted, the covered addresses named", format!("{}{}", pool("p2", "{addresses: [198.51.100.10-198.51.100.20]}"), ad("{ipAddressPools: [p2], aggregationLength: 30}")), Warned("the aggregates also cover 198.51.100.8-198.51.100.9 and 198.51.100.21-198.51.100.23")),
        ("aggregation shorter than a range's largest block", format!("{}{}", pool("p2", "{addresses: [198.51.100.10-198.51.100.20]}"), ad("{ipAddressPools: [p2], aggregationLength: 28}")), Refused("spec.aggregationLength: 28 is shorter than 198.51.100.10-198.51.100.20")),
        ("serviceSelectors with a non-default aggregationLength", ad("{aggregationLength: 24, serviceSelectors: [{matchLabels: {a: b}}]}"), Refused("BGPAdvertisement metallb-system/ad: spec.aggregationLength")),
        ("a pool listed twice", ad("{ipAddressPools: [pool, pool]}"), Refused("BGPAdvertisement metallb-system/ad: spec.ipAddressPools[1]")),
        ("a community listed twice", ad("{communities: ['65000:1', '65000:1']}"), Refused("BGPAdvertisement metallb-system/ad: spec.communities[1]")),
        ("a peer listed twice", ad("{peers: [router, router]}"), Refused("BGPAdvertisement metallb-system/ad: spec.peers[1]")),
        ("a community that is neither value nor alias", ad("{communities: [nope]}"), Refused("BGPAdvertisement metallb-system/ad: spec.communities[0]")),
        ("a serviceSelector listed twice", ad("{serviceSelectors: [{matchLabels: {a: b}}, {matchLabels: {a: b}}]}"), Refused("BGPAdvertisement metallb-system/ad: spec.serviceSelectors[1]")),
        // BFDProfile (bfdProfileFromCR).
        // A deliberate difference: MetalLB refuses the whole configuration for an invalid object
        // that no peer of this node uses; each node here refuses only what concerns it (README).
        ("detectMultiplier out of range, profile unused here", format!("{}{default_ad}", doc("BFDProfile", "metallb.io/v1beta1", "b", "{detectMultiplier: 1}")), Warned("BFDProfile metallb-system/b: spec.detectMultiplier")),
        ("detectMultiplier out of range, profile in use", format!("{}{}{default_ad}", doc("BFDProfile", "metallb.io/v1beta1", "b", "{detectMultiplier: 1}"), peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, bfdProfile: b}")), Refused("BGPPeer metallb-system/p: spec.bfdProfile: BFDProfile metallb-system/b is invalid")),
        // Across objects (validateConfig).
        (
            "BFD echo mode on a peer receiving IPv6 prefixes",
            format!(
                "{}{}{}",
                doc("BFDProfile", "metallb.io/v1beta1", "echo", "{echoMode: true}"),
                peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, bfdProfile: echo}"),
                pool("v6", "{addresses: ['2001:db8:100::/120']}")
            ),
            Refused("BGPPeer metallb-system/p: spec.bfdProfile: BFD echo mode cannot run with IPv6"),
        ),
        // Objects.
        ("the same object twice in one file", format!("{}{}", pool("p2", "{addresses: [198.51.100.0/24]}"), pool("p2", "{addresses: [198.51.100.0/24]}")), Refused("IPAddressPool metallb-system/p2: defined twice")),
        ("an unknown field (apiserver: pruned; here: named)", peer("p", "{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.5, holdtime: 9s}"), Warned("spec.holdtime: unknown field: ignored (did you mean spec.holdTime?)")),
    ]
}

#[test]
fn every_metallb_rule_has_metallbs_outcome() {
    let (base_problems, errors) = problems(&[&format!("{}{}", base(), ad("{}"))]);
    assert!(!errors && base_problems.is_empty(), "the base is valid: {base_problems:?}");
    let mut failed = Vec::new();
    for (rule, extra, outcome) in cases() {
        let with_ad =
            if extra.contains("kind: BGPAdvertisement") { extra.clone() } else { format!("{extra}{}", ad("{}")) };
        // One file: "the same object twice in one file" needs the case in the same file.
        let (got, errors) = problems(&[&format!("{}{with_ad}", base())]);
        let ok = match &outcome {
            Refused(what) => errors && got.iter().any(|p| p.starts_with("error:") && p.contains(what)),
            Accepted => !errors && got.is_empty(),
            Warned(what) => !errors && got.iter().any(|p| p.starts_with("warning:") && p.contains(what)),
        };
        if !ok {
            failed.push(format!("{rule}: got {got:?}"));
        }
    }
    assert!(failed.is_empty(), "{} rules differ from MetalLB:\n{}", failed.len(), failed.join("\n"));
}

/// MetalLB's node-aware peer rules (TestValidateFRR in internal/config/validation_test.go,
/// v0.16.1: "duplicate address, ..." and "three peers same address, ..."), checked as
/// `frr-speaker check` without --node checks: two peers with one address are refused only when
/// they select a common known Node, or when no Node is known.
#[test]
fn duplicate_peers_are_refused_only_where_they_share_a_node() {
    let on = |name: &str, hosts: &[&str]| {
        let sels: Vec<String> =
            hosts.iter().map(|h| format!("{{matchLabels: {{kubernetes.io/hostname: {h}}}}}")).collect();
        let sels = if hosts.is_empty() { String::new() } else { format!(", nodeSelectors: [{}]", sels.join(", ")) };
        peer(name, &format!("{{myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.50{sels}}}"))
    };
    let node = |n: &str| {
        format!("---\napiVersion: v1\nkind: Node\nmetadata: {{name: {n}, labels: {{kubernetes.io/hostname: {n}}}}}\n")
    };
    let whole_cluster = |docs: &[String]| {
        let dir = std::env::temp_dir().join(format!("frr-speaker-metallb-nodes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("in.yaml"), docs.concat()).expect("write");
        let (snap, read) = frr_speaker::sources::files::load(std::slice::from_ref(&dir), "metallb-system");
        let _ = std::fs::remove_dir_all(&dir);
        let opts = frr_speaker::desired::Options { whole_cluster: true, ..frr_speaker::desired::Options::new("") };
        let out = frr_speaker::pipeline::run(&snap, &read, &opts);
        out.problems.iter().filter(|p| p.is_error()).map(|p| p.to_string()).collect::<Vec<_>>()
    };
    let nodes = |names: &[&str]| names.iter().map(|n| node(n)).collect::<Vec<_>>();
    let cases: Vec<(&str, Vec<String>, Vec<String>, bool)> = vec![
        (
            "disjoint hostname selectors",
            vec![on("a", &["node1"]), on("b", &["node2"])],
            nodes(&["node1", "node2"]),
            false,
        ),
        ("overlapping hostname selectors", vec![on("a", &["node1"]), on("b", &["node1"])], nodes(&["node1"]), true),
        (
            "one peer without nodeSelector matches all nodes",
            vec![on("a", &[]), on("b", &["node1"])],
            nodes(&["node1"]),
            true,
        ),
        ("disjoint selectors but no nodes known", vec![on("a", &["node1"]), on("b", &["node2"])], vec![], true),
        (
            "three peers same address, all on distinct nodes",
            vec![on("a", &["node1"]), on("b", &["node2"]), on("c", &["node3"])],
            nodes(&["node1", "node2", "node3"]),
            false,
        ),
        (
            "three peers same address, third overlaps with first",
            vec![on("a", &["node1"]), on("b", &["node2"]), on("c", &["node1"])],
            nodes(&["node1", "node2"]),
            true,
        ),
        (
            "multiple nodeSelectors (OR), disjoint",
            vec![on("a", &["node1", "node2"]), on("b", &["node3", "node4"])],
            nodes(&["node1", "node2", "node3", "node4"]),
            false,
        ),
        (
            "multiple nodeSelectors (OR), overlap via second selector",
            vec![on("a", &["node1", "node2"]), on("b", &["node3", "node2"])],
            nodes(&["node1", "node2", "node3"]),
            true,
        ),
    ];
    let mut failed = Vec::new();
    for (desc, peers, nodes, refused) in cases {
        let errors = whole_cluster(&[peers, nodes].concat());
        let duplicate = errors
            .iter()
            .any(|e| e.contains("spec.peerAddress: 192.0.2.50 in the default VRF is already the peer of BGPPeer"));
        if duplicate != refused || errors.len() != usize::from(refused) {
            failed.push(format!("{desc}: refused {refused} expected, got {errors:?}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
