//! Properties of the pure core over generated inputs:
//! - input order never changes the output (documents shuffled inside a YAML stream);
//! - a hostile string in any user-supplied field never appears in the rendered config, and every
//!   rendered line stays inside the config grammar.

use proptest::prelude::*;
use serde_json::{json, Value};

use frr_speaker::desired::Options;
use frr_speaker::frr::render::check_grammar;
use frr_speaker::index::Snapshot;
use frr_speaker::pipeline;
use frr_speaker::sources::manifest::{parse_stream, Parsed};

fn to_yaml(docs: &[Value]) -> String {
    docs.iter().map(|d| format!("---\n{}", serde_yaml_ng::to_string(d).expect("serializable"))).collect()
}

/// (rendered config or None, problems as text)
fn run(yaml: &str, opts: &Options) -> (Option<String>, Vec<String>) {
    let mut snap = Snapshot::default();
    for p in parse_stream(yaml, "gen.yaml", "metallb-system") {
        match p {
            Parsed::Object(o) => snap.apply(o),
            Parsed::Unreadable(p) => snap.apply_unreadable(p),
            Parsed::Note(_) => {}
        }
    }
    let out = pipeline::run(&snap, &[], opts);
    let conf = out.config.map(|c| c.expect("a computed state always renders").conf.text());
    (conf, out.problems.iter().map(|p| p.to_string()).collect())
}

fn peer(i: usize, vrf: bool, ibgp: bool, bfd: bool) -> Value {
    let mut spec = json!({"myASN": if vrf {64600} else {64512}, "peerASN": if ibgp {64512} else {64500 + i},
        "peerAddress": format!("192.0.2.{}", i + 1), "holdTime": "9s", "keepaliveTime": "3s"});
    if vrf {
        spec["vrf"] = json!("red");
        spec["myASN"] = json!(64600);
        spec["peerASN"] = json!(64601);
    }
    if bfd {
        spec["bfdProfile"] = json!("fast");
    }
    json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": {"name": format!("p{i}"), "namespace": "metallb-system"}, "spec": spec})
}

prop_compose! {
    /// A valid configuration of several peers, pools, advertisements and Services.
    fn config()(
        peers in prop::collection::vec((any::<bool>(), any::<bool>(), any::<bool>()), 1..5),
        ads in prop::collection::vec((prop::option::of(24i32..=32), prop::collection::vec((0u16..5, 0u16..5), 0..3), prop::option::of(50u32..300), prop::collection::vec(0usize..5, 0..3), any::<bool>()), 1..4),
        svcs in prop::collection::vec((0u8..250, any::<bool>(), prop::collection::vec((0usize..3, any::<bool>(), any::<bool>()), 0..4), any::<bool>()), 0..12),
    ) -> Vec<Value> {
        let mut docs = Vec::new();
        for (i, (vrf, ibgp, bfd)) in peers.iter().enumerate() {
            docs.push(peer(i, *vrf, *ibgp && !*vrf, *bfd));
        }
        docs.push(json!({"apiVersion": "metallb.io/v1beta1", "kind": "BFDProfile", "metadata": {"name": "fast", "namespace": "metallb-system"}, "spec": {"receiveInterval": 300, "transmitInterval": 200, "detectMultiplier": 3}}));
        docs.push(json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "a", "namespace": "metallb-system", "labels": {"tier": "a"}}, "spec": {"addresses": ["203.0.113.0/24"]}}));
        docs.push(json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "b", "namespace": "metallb-system"}, "spec": {"addresses": ["2001:db8:100::/120"]}}));
        for (i, (agg, comms, lp, to, only_labelled)) in ads.iter().enumerate() {
            // Lists without repeats, and no aggregation with serviceSelectors: MetalLB refuses both.
            let comms: std::collections::BTreeSet<String> = comms.iter().map(|(a, b)| format!("{}:{}", 65000 + a, b)).collect();
            let to: std::collections::BTreeSet<String> = to.iter().filter(|p| **p < peers.len()).map(|p| format!("p{p}")).collect();
            let mut spec = json!({"communities": comms, "peers": to});
            if let (Some(agg), false) = (agg, only_labelled) { spec["aggregationLength"] = json!(agg); }
            if let Some(lp) = lp { spec["localPref"] = json!(lp); }
            if *only_labelled { spec["serviceSelectors"] = json!([{"matchLabels": {"expose": "yes"}}]); }
            docs.push(json!({"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": {"name": format!("ad{i}"), "namespace": "metallb-system"}, "spec": spec}));
        }
        for (i, (host, local, eps, labelled)) in svcs.iter().enumerate() {
            let ip = if host % 3 == 0 { format!("2001:db8:100::{host:x}") } else { format!("203.0.113.{host}") };
            docs.push(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("s{i}"), "namespace": "default", "labels": if *labelled { json!({"expose": "yes"}) } else { json!({}) }},
                "spec": {"type": "LoadBalancer", "externalTrafficPolicy": if *local {"Local"} else {"Cluster"}},
                "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}));
            let endpoints: Vec<Value> = eps.iter().map(|(n, ready, term)| json!({"addresses": ["198.51.100.1"], "nodeName": format!("node{n}"), "conditions": {"ready": ready, "serving": true, "terminating": term}})).collect();
            docs.push(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": format!("s{i}-x"), "namespace": "default", "labels": {"kubernetes.io/service-name": format!("s{i}")}}, "addressType": "IPv4", "endpoints": endpoints}));
        }
        docs.push(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1", "labels": {"zone": "a"}}}));
        docs
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn input_order_never_changes_output(docs in config(), seed in any::<u64>()) {
        let opts = Options::new("node1");
        let a = run(&to_yaml(&docs), &opts);
        // Shuffle deterministically from the seed (Fisher-Yates with a small LCG).
        let mut shuffled = docs.clone();
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let b = run(&to_yaml(&shuffled), &opts);
        prop_assert!(a.0.is_some(), "generated configs are valid: {:?}", a.1);
        prop_assert_eq!(a, b);
    }
}

/// Strings an attacker would try: line breaks, FRR's comment marker, control characters,
/// Unicode look-alikes and line separators, and over-long values. Each carries the marker `INJ`
/// (which the rendered config never contains), so "reached the config" is a plain substring test
/// even when the rest of the string looks like config (`\nexit`).
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9:.]{0,6}[\n\r!\t\u{0}-\u{1f}\u{7f}\u{2028}\u{ff01}\u{0430}\u{00a0} ]INJ[a-z0-9 :.!]{0,12}",
        "[a-z0-9]{0,4}\n(exit|end|router bgp 1|neighbor 192.0.2.99 remote-as 1|write memory) INJ\n?[a-z]{0,4}",
        "INJ[a-z]{90,200}",
    ]
}

/// Every place a string from the user can go, as a function that plants it in the base config.
const FIELDS: &[&str] = &[
    "interface",
    "vrf",
    "password",
    "peerAddress",
    "sourceAddress",
    "routerID",
    "holdTime",
    "connectTime",
    "dynamicASN",
    "bfdProfile",
    "community",
    "communityAlias",
    "communityAliasValue",
    "poolAddress",
    "ingressIP",
    "secretPassword",
    "peerName",
    "lbClass",
];

fn base_with(field: &str, v: &str) -> Vec<Value> {
    let mut p = peer(0, false, false, false);
    let mut bfd = json!({"apiVersion": "metallb.io/v1beta1", "kind": "BFDProfile", "metadata": {"name": "fast", "namespace": "metallb-system"}, "spec": {}});
    let mut pool = json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "a", "namespace": "metallb-system"}, "spec": {"addresses": ["203.0.113.0/24"]}});
    let mut ad = json!({"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": {"name": "ad", "namespace": "metallb-system"}, "spec": {"communities": ["65000:1"]}});
    let mut comm = json!({"apiVersion": "metallb.io/v1beta1", "kind": "Community", "metadata": {"name": "c", "namespace": "metallb-system"}, "spec": {"communities": [{"name": "alias", "value": "65000:7"}]}});
    let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "metallb-system"}, "type": "kubernetes.io/basic-auth", "stringData": {"password": "fine"}});
    let mut svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"}, "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}});
    let eps = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "web-x", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4", "endpoints": [{"addresses": ["198.51.100.1"], "nodeName": "node1"}]});
    match field {
        "interface" => {
            p["spec"].as_object_mut().expect("object").remove("peerAddress");
            p["spec"]["interface"] = json!(v);
        }
        "vrf" => p["spec"]["vrf"] = json!(v),
        "password" => p["spec"]["password"] = json!(v),
        "peerAddress" => p["spec"]["peerAddress"] = json!(v),
        "sourceAddress" => p["spec"]["sourceAddress"] = json!(v),
        "routerID" => p["spec"]["routerID"] = json!(v),
        "holdTime" => p["spec"]["holdTime"] = json!(v),
        "connectTime" => p["spec"]["connectTime"] = json!(v),
        "dynamicASN" => {
            p["spec"].as_object_mut().expect("object").remove("peerASN");
            p["spec"]["dynamicASN"] = json!(v);
        }
        "bfdProfile" => {
            p["spec"]["bfdProfile"] = json!(v);
            bfd["metadata"]["name"] = json!(v);
        }
        "community" => ad["spec"]["communities"] = json!([v]),
        "communityAlias" => {
            comm["spec"]["communities"][0]["name"] = json!(v);
            ad["spec"]["communities"] = json!([v]);
        }
        "communityAliasValue" => {
            comm["spec"]["communities"][0]["value"] = json!(v);
            ad["spec"]["communities"] = json!(["alias"]);
        }
        "poolAddress" => pool["spec"]["addresses"] = json!([v]),
        "ingressIP" => svc["status"]["loadBalancer"]["ingress"][0]["ip"] = json!(v),
        "secretPassword" => {
            p["spec"]["passwordSecret"] = json!({"name": "s"});
            secret["stringData"]["password"] = json!(v);
        }
        "peerName" => {
            p["metadata"]["name"] = json!(v);
            ad["spec"]["peers"] = json!([v]);
        }
        "lbClass" => svc["spec"]["loadBalancerClass"] = json!(v),
        other => panic!("unknown field {other}"),
    }
    vec![p, bfd, pool, ad, comm, secret, svc, eps]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn hostile_strings_never_reach_the_config(field in 0..FIELDS.len(), v in hostile()) {
        let field = FIELDS[field];
        let (conf, problems) = run(&to_yaml(&base_with(field, &v)), &Options::new("node1"));
        if let Some(conf) = conf {
            prop_assert!(!conf.contains("INJ"), "{field}={v:?} reached the config:\n{conf}");
            prop_assert!(check_grammar(&conf).is_ok());
            // The config is the one a harmless value would give, or the field was refused loudly.
            let fields_that_only_select = ["peerName", "lbClass", "ingressIP"];
            if !fields_that_only_select.contains(&field) && !problems.iter().any(|p| p.contains("warning")) {
                prop_assert!(false, "{field}={v:?} was accepted silently:\n{conf}");
            }
        } else {
            prop_assert!(problems.iter().any(|p| p.starts_with("error: ")), "no config and no error for {field}={v:?}");
        }
        for p in &problems {
            prop_assert!(!p.contains('\n') && !p.contains('\r'), "a problem line was split: {p:?}");
            if field.contains("assword") {
                prop_assert!(v.len() < 4 || !p.contains(v.as_str()), "a password was echoed: {p}");
            }
        }
    }
}

/// A rendered-shape config: two BGP instances (the default one and VRF red), both address
/// families, and the `network` lines chosen by `pick` (prefix index → tag 7 or 8, or absent).
fn shaped(pick: &[Option<bool>], timers: &str) -> String {
    let mut t = String::from(
        "frr defaults traditional\n!\nroute-map fs-tag-7 permit 10\n set tag 7\nexit\n!\nroute-map fs-tag-8 permit 10\n set tag 8\nexit\n!\n",
    );
    for (r, router) in ["router bgp 64512", "router bgp 64512 vrf red"].iter().enumerate() {
        t.push_str(&format!("{router}\n no bgp default ipv4-unicast\n neighbor 192.0.2.{} remote-as 64500\n", r + 1));
        t.push_str(&format!(" neighbor 192.0.2.{} timers {timers}\n", r + 1));
        for (f, af) in ["ipv4", "ipv6"].iter().enumerate() {
            t.push_str(&format!(" !\n address-family {af} unicast\n"));
            for (i, p) in pick.iter().enumerate() {
                // Each (router, family) gets its own quarter of the prefixes.
                if i % 4 != r * 2 + f {
                    continue;
                }
                if let Some(tag8) = p {
                    let prefix =
                        if *af == "ipv4" { format!("203.0.113.{i}/32") } else { format!("2001:db8:1::{i:x}/128") };
                    t.push_str(&format!("  network {prefix} route-map fs-tag-{}\n", if *tag8 { 8 } else { 7 }));
                }
            }
            t.push_str(&format!("  neighbor 192.0.2.{} activate\n exit-address-family\n", r + 1));
        }
        t.push_str("exit\n!\n");
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// The driver's fast path for `network`-only changes gives exactly the script of the full
    /// structural diff, and declines when anything else differs.
    #[test]
    fn network_fast_path_equals_the_full_diff(
        a in proptest::collection::vec(proptest::option::of(any::<bool>()), 0..64),
        b in proptest::collection::vec(proptest::option::of(any::<bool>()), 0..64),
        other_timers in any::<bool>(),
    ) {
        use frr_speaker::frr::config::parse;
        use frr_speaker::frr::diff::{diff, network_delta};
        let from = shaped(&a, "30 90");
        let to = shaped(&b, if other_timers { "3 9" } else { "30 90" });
        let full = diff(&parse(&from), &parse(&to));
        match network_delta(&from, &to) {
            Some(fast) => {
                prop_assert!(!other_timers, "the fast path took a timer change:\n{}", fast.script);
                prop_assert_eq!(fast, full);
            }
            None => prop_assert!(other_timers, "the fast path declined a network-only change"),
        }
    }
}

mod incremental_equals_full {
    use super::*;
    use frr_speaker::desired::compute;
    use frr_speaker::desired::memo::{Memo, Mode};
    use frr_speaker::frr::conf::Conf;
    use frr_speaker::frr::config::parse;
    use frr_speaker::frr::diff::{diff_owned, network_delta, running_delta};
    use frr_speaker::frr::extras;
    use frr_speaker::index::{Obj, Object};
    use frr_speaker::model::core::{EndpointInfo, EndpointSliceInfo, NodeInfo, ObjKey, ServiceInfo};
    use frr_speaker::model::crds::{BgpAdvertisementSpec, BgpPeerSpec, IpAddressPoolSpec};
    use frr_speaker::pipeline;
    use frr_speaker::problem::Kind;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    const NS: &str = "metallb-system";
    const IPS: &[&str] = &["203.0.113.1", "203.0.113.2", "203.0.113.3", "2001:db8::1", "2001:db8::2", "not-an-ip"];

    fn obj<T>(name: &str, spec: T) -> Obj<T> {
        Obj { key: ObjKey::new(NS, name), labels: Default::default(), spec }
    }

    fn selector(tier: &str) -> LabelSelector {
        LabelSelector { match_labels: Some([("tier".to_string(), tier.to_string())].into()), ..Default::default() }
    }

    fn base() -> Snapshot {
        let mut s = Snapshot::default();
        let peer = |addr: &str| BgpPeerSpec {
            my_asn: 64512,
            peer_asn: Some(64500),
            peer_address: Some(addr.into()),
            ..Default::default()
        };
        s.apply(Object::Peer(obj("p1", peer("192.0.2.1"))));
        s.apply(Object::Peer(obj("p2", peer("2001:db8::ff"))));
        s.apply(Object::Pool(obj(
            "pool",
            IpAddressPoolSpec {
                addresses: vec!["203.0.113.0/24".into(), "2001:db8::/120".into()],
                ..Default::default()
            },
        )));
        s.apply(Object::Advertisement(obj("ad1", BgpAdvertisementSpec::default())));
        s
    }

    /// One change: (what, which, a few choices).
    fn change(s: &mut Snapshot, (what, i, a, b, c): (u8, usize, usize, bool, bool)) {
        let svc = |i: usize| ObjKey::new("default", format!("s{}", i % 6));
        match what {
            0 => s.apply(Object::Service(ServiceInfo {
                key: svc(i),
                labels: [("tier".to_string(), if b { "a" } else { "b" }.to_string())].into(),
                load_balancer: a % 5 != 0,
                etp_local: c,
                ingress_ips: vec![IPS[a % IPS.len()].to_string()],
                ..Default::default()
            })),
            1 => s.delete(Kind::Service, &svc(i)),
            2 => s.apply(Object::EndpointSlice(EndpointSliceInfo {
                key: ObjKey::new("default", format!("e{}", i % 9)),
                service: Some(svc(i + a).name),
                endpoints: vec![EndpointInfo {
                    node: Some(if a % 2 == 0 { "node1" } else { "node2" }.into()),
                    ready: b,
                    serving: b || c,
                    terminating: !b && c,
                }],
            })),
            3 => s.delete(Kind::EndpointSlice, &ObjKey::new("default", format!("e{}", i % 9))),
            4 => s.apply(Object::Advertisement(obj(
                "ad2",
                BgpAdvertisementSpec {
                    communities: vec![if b { "65000:1" } else { "65000:2" }.into()],
                    service_selectors: if c { vec![selector("a")] } else { vec![] },
                    peers: if a % 2 == 0 { vec![] } else { vec!["p1".into()] },
                    ..Default::default()
                },
            ))),
            5 => s.delete(Kind::BGPAdvertisement, &ObjKey::new(NS, "ad2")),
            _ => {
                let mut labels = std::collections::BTreeMap::new();
                if b {
                    labels.insert("node.kubernetes.io/exclude-from-external-load-balancers".to_string(), String::new());
                }
                s.apply(Object::Node(NodeInfo { name: "node1".into(), labels, ..Default::default() }))
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// After any sequence of changes, the incremental computation equals the full one, and
        /// a change of Services or EndpointSlices only recomputes the Services it touches. The
        /// agent's pipeline renders the same text, and the script its fast path finds from the
        /// `network` maps of two successive configs is the one found from their texts.
        #[test]
        fn after_any_sequence_of_changes(
            changes in proptest::collection::vec((0u8..7, 0usize..12, 0usize..12, any::<bool>(), any::<bool>()), 1..40)
        ) {
            let opts = Options::new("node1");
            let mut snap = base();
            let mut memo = Memo::default();
            let (first, mode) = memo.compute(&snap, &opts);
            prop_assert_eq!(mode, Mode::Full);
            prop_assert_eq!(first, compute(&snap, &opts));
            let mut pipe = pipeline::Pipeline::default();
            let rendered = |out: pipeline::Output| out.config.and_then(Result::ok).map(|r| r.conf);
            let mut last = rendered(pipe.run(&snap, &[], &opts).0);
            for c in changes {
                change(&mut snap, c);
                let (got, mode) = memo.compute(&snap, &opts);
                prop_assert_eq!(&got, &compute(&snap, &opts), "after {:?} ({:?})", c, mode);
                if c.0 <= 3 {
                    prop_assert!(matches!(mode, Mode::Services(n) if n <= 2), "{:?} for {:?}", mode, c);
                }
                let now = rendered(pipe.run(&snap, &[], &opts).0);
                let full = rendered(pipeline::run(&snap, &[], &opts));
                prop_assert_eq!(now.as_ref().map(Conf::text), full.as_ref().map(Conf::text));
                if let (Some(a), Some(b)) = (&last, &now) {
                    prop_assert_eq!(Conf::network_delta(a, b), network_delta(&a.text(), &b.text()), "after {:?}", c);
                }
                last = now;
            }
        }

        /// The check's shortcut (`running_delta`: FRR's running config against a rendered one,
        /// when at most `network` lines differ) gives the full diff's lines, and takes every case
        /// where only `network` lines differ, also after hand edits to them in FRR.
        #[test]
        fn the_checks_shortcut_equals_the_full_diff(
            changes in proptest::collection::vec((0u8..7, 0usize..12, 0usize..12, any::<bool>(), any::<bool>()), 1..30),
            edits in proptest::collection::vec((0u8..6, 0usize..64), 30),
        ) {
            let opts = Options::new("node1");
            let mut snap = base();
            let mut pipe = pipeline::Pipeline::default();
            let rendered = |out: pipeline::Output| out.config.and_then(Result::ok).map(|r| r.conf);
            let mut last = rendered(pipe.run(&snap, &[], &opts).0);
            for (c, (edit, k)) in changes.into_iter().zip(edits) {
                change(&mut snap, c);
                let now = rendered(pipe.run(&snap, &[], &opts).0);
                if let (Some(a), Some(b)) = (&last, &now) {
                    let running = edited(&a.text(), edit, k);
                    let owned = std::collections::BTreeSet::new();
                    let full = diff_owned(&parse(&running), &extras::desired(&b.text()), &owned);
                    match running_delta(&running, b, &owned) {
                        Some(fast) => {
                            prop_assert!(edit != 5, "a neighbor's change took the shortcut");
                            prop_assert_eq!(fast.changes, full.changes, "{}\n--- full:\n{}", fast.script, full.script);
                            prop_assert_eq!(in_context(&fast.script), in_context(&full.script));
                        }
                        None => prop_assert!(
                            edit == 5 || Conf::network_delta(a, b).is_none(),
                            "declined a network-only difference ({}):\n{}", edit, full.script
                        ),
                    }
                }
                last = now;
            }
        }
    }

    /// `text` with one edit, as by hand in vtysh: 0 none, 1 a `network` line dropped, 2 one
    /// repeated, 3 one with another route-map, 4 a foreign prefix added, 5 a neighbor changed.
    fn edited(text: &str, edit: u8, k: usize) -> String {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let nets: Vec<usize> = (0..lines.len()).filter(|i| lines[*i].trim_start().starts_with("network ")).collect();
        let afs: Vec<usize> =
            (0..lines.len()).filter(|i| lines[*i].trim_start().starts_with("address-family ")).collect();
        match edit {
            1 if !nets.is_empty() => {
                lines.remove(nets[k % nets.len()]);
            }
            2 if !nets.is_empty() => {
                let i = nets[k % nets.len()];
                lines.insert(i, lines[i].clone());
            }
            3 if !nets.is_empty() => {
                let i = nets[k % nets.len()];
                lines[i] = format!("{} route-map fs-tag-99", lines[i].split(" route-map").next().unwrap_or_default());
            }
            4 if !afs.is_empty() => {
                let i = afs[k % afs.len()];
                let p = if lines[i].contains("ipv6") { "2001:db8:ff::7/128" } else { "198.51.100.7/32" };
                lines.insert(i + 1, format!("  network {p}"));
            }
            5 => {
                for l in lines.iter_mut().filter(|l| l.contains(" remote-as ")) {
                    *l = format!("{l}0");
                }
            }
            _ => {}
        }
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// A script's lines, each with the blocks it is in, sorted: the same changes in any order of
    /// address families.
    fn in_context(script: &str) -> Vec<(String, String, String)> {
        let (mut router, mut af) = (String::new(), String::new());
        let mut out = Vec::new();
        for l in script.lines() {
            let body = l.trim_start();
            if l.starts_with("router bgp ") {
                router = l.to_string();
            } else if body.starts_with("address-family ") {
                af = body.to_string();
            } else if body == "exit-address-family" {
                af.clear();
            } else if l == "exit" {
                router.clear();
            } else {
                out.push((router.clone(), af.clone(), body.to_string()));
            }
        }
        out.sort();
        out
    }
}
