//! Manifest builders for tests and benches: each builds one object as JSON and `yaml` turns a list
//! into the multi-document YAML that file mode reads, so a test reads as its scenario instead of
//! as YAML. Defaults are the lab's: config in metallb-system, Services in default, endpoints in
//! 198.51.100.0/24 on `node<N>`.
#![allow(dead_code)] // Each test binary uses a different part.

use serde_json::{json, Value};

/// Several objects as one YAML stream.
pub fn yaml(objects: &[Value]) -> String {
    objects.iter().map(|o| format!("---\n{}", serde_yaml_ng::to_string(o).expect("serializable"))).collect()
}

fn meta(name: &str, namespace: &str) -> Value {
    json!({"name": name, "namespace": namespace})
}

/// A BGPPeer (metallb.io/v1beta2) of the node's AS 64512.
pub struct Peer(Value);

pub fn peer(name: &str, address: &str, peer_asn: u32) -> Peer {
    Peer(json!({
        "apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
        "metadata": meta(name, "metallb-system"),
        "spec": {"myASN": 64512, "peerASN": peer_asn, "peerAddress": address},
    }))
}

impl Peer {
    /// Any spec field, e.g. `.set("holdTime", "9s")`.
    pub fn set(mut self, field: &str, v: impl Into<Value>) -> Self {
        self.0["spec"][field] = v.into();
        self
    }

    /// The lab's fast timers: hold 9 s, keepalive 3 s, connect 2 s.
    pub fn fast(self) -> Self {
        self.set("holdTime", "9s").set("keepaliveTime", "3s").set("connectTime", "2s")
    }

    pub fn build(self) -> Value {
        self.0
    }
}

/// An IPAddressPool.
pub fn pool(name: &str, addresses: &[&str]) -> Value {
    json!({
        "apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
        "metadata": meta(name, "metallb-system"),
        "spec": {"addresses": addresses},
    })
}

/// A BGPAdvertisement with the given spec (`json!({})` for all pools to all peers).
pub fn advertisement(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement",
        "metadata": meta(name, "metallb-system"),
        "spec": spec,
    })
}

/// A BFDProfile with the given spec.
pub fn bfd_profile(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "metallb.io/v1beta1", "kind": "BFDProfile",
        "metadata": meta(name, "metallb-system"),
        "spec": spec,
    })
}

/// A Node, cordoned or not.
pub fn node(name: &str, cordoned: bool) -> Value {
    let mut n = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
    if cordoned {
        n["spec"] = json!({"unschedulable": true});
    }
    n
}

/// A Service of type LoadBalancer with its ingress IPs, and its EndpointSlice.
pub struct Service {
    name: String,
    ips: Vec<String>,
    local: bool,
    ipv6_endpoints: bool,
    /// (address, node, ready)
    endpoints: Vec<(String, Option<String>, Option<bool>)>,
}

pub fn service(name: &str, ips: &[&str]) -> Service {
    Service {
        name: name.into(),
        ips: ips.iter().map(|s| s.to_string()).collect(),
        local: false,
        ipv6_endpoints: false,
        endpoints: Vec::new(),
    }
}

impl Service {
    /// externalTrafficPolicy: Local.
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// A ready endpoint on node<N> (address 198.51.100.N).
    pub fn on(self, n: usize) -> Self {
        self.endpoint(&format!("198.51.100.{n}"), &format!("node{n}"), Some(true))
    }

    /// An endpoint; `ready: None` leaves the condition out.
    pub fn endpoint(mut self, address: &str, node: &str, ready: Option<bool>) -> Self {
        self.ipv6_endpoints = address.contains(':');
        self.endpoints.push((address.into(), Some(node.into()), ready));
        self
    }

    /// The Service and, if it has endpoints, its EndpointSlice `<name>-1`.
    pub fn build(self) -> Vec<Value> {
        let mut spec = json!({"type": "LoadBalancer"});
        if self.local {
            spec["externalTrafficPolicy"] = json!("Local");
        }
        let ingress: Vec<Value> = self.ips.iter().map(|ip| json!({"ip": ip})).collect();
        let mut out = vec![json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": meta(&self.name, "default"),
            "spec": spec,
            "status": {"loadBalancer": {"ingress": ingress}},
        })];
        if !self.endpoints.is_empty() {
            let eps: Vec<Value> = self
                .endpoints
                .iter()
                .map(|(addr, node, ready)| {
                    let mut e = json!({"addresses": [addr]});
                    if let Some(n) = node {
                        e["nodeName"] = json!(n);
                    }
                    if let Some(r) = ready {
                        e["conditions"] = json!({"ready": r});
                    }
                    e
                })
                .collect();
            let mut m = meta(&format!("{}-1", self.name), "default");
            m["labels"] = json!({"kubernetes.io/service-name": self.name});
            out.push(json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": m,
                "addressType": if self.ipv6_endpoints { "IPv6" } else { "IPv4" },
                "endpoints": eps,
            }));
        }
        out
    }

    pub fn yaml(self) -> String {
        yaml(&self.build())
    }
}

/// Problems of `manifests` (one file each) for node1, loaded from files and run through the
/// pipeline exactly as `frr-speaker check --node node1` and file mode do: (problems as text,
/// whether any is an error).
pub fn check(manifests: &[&str]) -> (Vec<String>, bool) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("frr-speaker-check-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    for (i, m) in manifests.iter().enumerate() {
        std::fs::write(dir.join(format!("{i}.yaml")), m).expect("write");
    }
    let (snap, read) = frr_speaker::sources::files::load(std::slice::from_ref(&dir), "metallb-system");
    let _ = std::fs::remove_dir_all(&dir);
    let out = frr_speaker::pipeline::run(&snap, &read, &frr_speaker::desired::Options::new("node1"));
    (out.problems.iter().map(|p| p.to_string()).collect(), out.has_errors())
}

/// The lab's standard configuration: peers to the router (192.0.2.1 and 2001:db8::1, AS 64500,
/// fast timers) with `peer_extra` spec fields, the pool `public` (203.0.113.0/24 and
/// 2001:db8:100::/120) and the advertisement `public` with `ad_spec`.
pub fn lab_config(peer_extra: &[(&str, Value)], ad_spec: Value) -> String {
    let mut objs = Vec::new();
    for (name, addr) in [("router-v4", "192.0.2.1"), ("router-v6", "2001:db8::1")] {
        let mut p = peer(name, addr, 64500).fast();
        for (k, v) in peer_extra {
            p = p.set(k, v.clone());
        }
        objs.push(p.build());
    }
    objs.push(pool("public", &["203.0.113.0/24", "2001:db8:100::/120"]));
    objs.push(advertisement("public", ad_spec));
    yaml(&objs)
}
