//! Structure-aware, frr-k8s mode: the input's NUL-separated pieces fill the string fields of two
//! FRRConfigurations that select node1 (router ID, VRF, prefixes, imports, neighbor address or
//! interface, source address, password, communities, toReceive prefixes, BFD profile, durations,
//! raw config), a basic-auth Secret and a Node; the rest of the bytes pick numbers (ASNs, ports,
//! lengths, local preferences, BFD intervals, flags). Whatever they hold: the conversion and
//! the merge never panic, and an accepted merge always renders (the line grammar holds, so no
//! input bytes become an FRR command) and renders the same twice (its tags are stable).
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

use frr_speaker::desired::Options;
use frr_speaker::index::Snapshot;
use frr_speaker::pipeline;
use frr_speaker::sources::manifest::{parse_json, Parsed};

const NS: &str = "frr-k8s-system";

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0).map(|p| String::from_utf8_lossy(p).into_owned());
    let mut s = |default: &str| parts.next().filter(|p| !p.is_empty()).unwrap_or_else(|| default.to_string());
    let num = |i: usize| data.get(i).copied().unwrap_or(0) as u64;
    let flag = |i: usize| num(i) % 2 == 1;
    let mut neighbor = json!({
        "asn": 64500 + num(0) * 300, "port": 179 + num(1), "password": s(""), "holdTime": s("9s"),
        "keepaliveTime": s("3s"), "connectTime": s("5s"), "ebgpMultiHop": flag(2), "bfdProfile": s("fast"),
        "enableGracefulRestart": flag(3), "sourceaddress": s(""), "dualStackAddressFamily": flag(4),
        "toAdvertise": {
            "allowed": if flag(5) { json!({"mode": "all"}) } else { json!({"prefixes": [s("203.0.113.0/24")]}) },
            "withCommunity": [{"community": s("65000:1"), "prefixes": [s("203.0.113.0/24")]},
                              {"community": s("large:1:2:3"), "prefixes": [s("2001:db8::/64")]}],
            "withLocalPref": [{"localPref": num(6) * 10, "prefixes": [s("203.0.113.0/24")]}],
        },
        "toReceive": {"allowed": if flag(7) { json!({"mode": "all"}) } else {
            json!({"prefixes": [{"prefix": s("198.51.100.0/24"), "le": num(8) % 40, "ge": num(9) % 40}]})
        }},
    });
    let iface = s("");
    if iface.is_empty() {
        neighbor["address"] = json!(s("192.0.2.1"));
    } else {
        neighbor["interface"] = json!(iface);
    }
    if flag(10) {
        neighbor["passwordSecret"] = json!({"name": "pw", "namespace": NS});
        neighbor["password"] = Value::Null;
    }
    let mut router = json!({
        "asn": 64512 + num(11), "id": s("192.0.2.11"),
        "prefixes": [s("203.0.113.0/24"), s("2001:db8::/64"), s("198.18.0.0/15")],
        "imports": [{"vrf": s("red")}], "neighbors": [neighbor],
    });
    let vrf = s("");
    if !vrf.is_empty() {
        router["vrf"] = json!(vrf);
    }
    let profile = json!({"name": s("fast"), "receiveInterval": num(12) * 10, "transmitInterval": num(13) * 10,
                         "detectMultiplier": num(14), "echoMode": flag(15), "passiveMode": flag(16), "minimumTtl": num(17)});
    let config = |name: &str, router: &Value, raw: &str, priority: u64| {
        json!({"apiVersion": "frrk8s.metallb.io/v1beta1", "kind": "FRRConfiguration",
               "metadata": {"name": name, "namespace": NS},
               "spec": {"bgp": {"routers": [router], "bfdProfiles": [profile]},
                        "raw": {"priority": priority, "rawConfig": raw},
                        "nodeSelector": {"matchLabels": {"kubernetes.io/hostname": "node1"}}}})
    };
    // The second object: the same router, its neighbor receiving more (a merge).
    let mut second = router.clone();
    second["prefixes"] = json!([s("198.18.0.0/15")]);
    if let Some(n) = second["neighbors"].get_mut(0) {
        n["toReceive"] = json!({"allowed": {"prefixes": [{"prefix": s("198.51.100.128/25")}]}});
        n["toAdvertise"] = json!({"allowed": {"prefixes": [s("198.18.0.0/15")]}});
    }
    let docs = vec![
        config(&s("a"), &router, &s(""), num(18)),
        config(&s("b"), &second, &s(""), num(19)),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pw", "namespace": NS},
               "type": s("kubernetes.io/basic-auth"), "stringData": {"password": s("pw")}}),
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1", "labels": {"kubernetes.io/hostname": "node1", s("zone"): s("a")}}}),
    ];
    let mut snap = Snapshot::default();
    for d in docs {
        for p in parse_json(d, NS) {
            match p {
                Parsed::Object(o) => snap.apply(o),
                Parsed::Unreadable(p) => snap.apply_unreadable(p),
                Parsed::Note(_) => {}
            }
        }
    }
    let mut opts = Options::new("node1");
    opts.frrk8s_namespace = Some(NS.to_string());
    let out = pipeline::run(&snap, &[], &opts);
    if let (Some(config), false) = (&out.config, out.has_errors()) {
        let first = match config {
            Ok(r) => r.conf.text(),
            Err(e) => panic!("an accepted configuration failed to render: {e}"),
        };
        let again = pipeline::run(&snap, &[], &opts);
        let second = again.config.and_then(Result::ok).map(|r| r.conf.text());
        assert_eq!(second.as_deref(), Some(first.as_str()), "the same input rendered twice differently");
    }
});
