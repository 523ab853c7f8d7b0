//! Structure-aware: the input's NUL-separated pieces fill the string fields of a full configuration
//! (names, password, VRF, interface, communities, aliases, addresses, labels, durations, router ID),
//! the rest of the bytes pick numbers. Whatever they hold: computing never panics, a valid result
//! always renders, and the rendered config passes the line grammar (`render` refuses otherwise), so
//! no input bytes can become an FRR command.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::json;

use frr_speaker::desired::{compute, Options};
use frr_speaker::frr::render::render;
use frr_speaker::index::Snapshot;
use frr_speaker::sources::manifest::{parse_json, Parsed};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0).map(|p| String::from_utf8_lossy(p).into_owned());
    let mut s = |default: &str| parts.next().filter(|p| !p.is_empty()).unwrap_or_else(|| default.to_string());
    let num = |i: usize| data.get(i).copied().unwrap_or(0) as u32;
    let vrf = s("");
    let iface = s("");
    let mut peer = json!({
        "myASN": 64512 + num(0), "peerASN": 64500 + num(1) * 300,
        "password": s("secret"), "bfdProfile": s("fast"), "holdTime": s("9s"), "keepaliveTime": s("3s"),
        "routerID": s("192.0.2.11"), "sourceAddress": s("192.0.2.11"), "ebgpMultiHop": num(2) % 2 == 1,
        "enableGracefulRestart": num(3) % 2 == 1, "port": 179 + num(4),
    });
    if iface.is_empty() {
        peer["peerAddress"] = json!(s("192.0.2.1"));
    } else {
        peer["interface"] = json!(iface);
    }
    if !vrf.is_empty() {
        peer["vrf"] = json!(vrf);
    }
    let docs = vec![
        json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": {"name": s("peer"), "namespace": "metallb-system"}, "spec": peer}),
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "BFDProfile", "metadata": {"name": s("fast"), "namespace": "metallb-system"},
               "spec": {"receiveInterval": num(5) * 10, "detectMultiplier": num(6)}}),
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "Community", "metadata": {"name": "c", "namespace": "metallb-system"},
               "spec": {"communities": [{"name": s("alias"), "value": s("65000:1")}]}}),
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": s("pool"), "namespace": "metallb-system"},
               "spec": {"addresses": [s("203.0.113.0/24")]}}),
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": {"name": "ad", "namespace": "metallb-system"},
               "spec": {"communities": [s("65000:2"), s("alias")], "largeCommunities": [s("1:2:3")], "localPref": num(7),
                        "aggregationLength": 24 + num(8) % 9, "peers": [s("peer")]}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": s("web"), "namespace": "default", "labels": {s("app"): s("web")}},
               "spec": {"type": "LoadBalancer", "externalTrafficPolicy": if num(9) % 2 == 1 { "Local" } else { "Cluster" }},
               "status": {"loadBalancer": {"ingress": [{"ip": s("203.0.113.10")}]}}}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "web-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
               "addressType": "IPv4", "endpoints": [{"addresses": ["198.51.100.1"], "nodeName": s("node1"), "conditions": {"ready": true}}]}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pw", "namespace": "metallb-system"},
               "type": "kubernetes.io/basic-auth", "stringData": {"password": s("pw")}}),
    ];
    let mut snap = Snapshot::default();
    for d in docs {
        for p in parse_json(d, "metallb-system") {
            match p {
                Parsed::Object(o) => snap.apply(o),
                Parsed::Unreadable(p) => snap.apply_unreadable(p),
                Parsed::Note(_) => {}
            }
        }
    }
    let out = compute(&snap, &Options::new("node1"));
    if let (Some(state), false) = (&out.state, out.has_errors()) {
        if let Err(e) = render(state) {
            panic!("a valid state failed to render: {e}");
        }
    }
});
