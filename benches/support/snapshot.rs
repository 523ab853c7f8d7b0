//! The snapshot the pure benches compute from: one peer, one pool, one advertisement with a
//! community, and Services with a ready endpoint on node1 each.

use frr_speaker::index::{Obj, Object, Snapshot};
use frr_speaker::model::core::{EndpointInfo, EndpointSliceInfo, ObjKey, ServiceInfo};
use frr_speaker::model::crds::{BgpAdvertisementSpec, BgpPeerSpec, IpAddressPoolSpec};

const NS: &str = "metallb-system";

/// Service `name` in `default` at `ip`, and its EndpointSlice `<name>-1`.
pub fn service(name: &str, ip: String) -> [Object; 2] {
    let key = ObjKey::new("default", name);
    [
        Object::Service(ServiceInfo {
            key: key.clone(),
            load_balancer: true,
            ingress_ips: vec![ip],
            ..Default::default()
        }),
        Object::EndpointSlice(EndpointSliceInfo {
            key: ObjKey::new("default", format!("{name}-1")),
            service: Some(key.name),
            endpoints: vec![EndpointInfo {
                node: Some("node1".into()),
                ready: true,
                serving: true,
                terminating: false,
            }],
        }),
    ]
}

/// A peer at `peer`, the pool `pool`, and Services `svc-0` .. `svc-<n-1>` at `ip(i)`.
pub fn snapshot(n: usize, peer: &str, pool: &str, ip: impl Fn(usize) -> String) -> Snapshot {
    let mut s = Snapshot::default();
    let obj = |name: &str| (ObjKey::new(NS, name), Default::default());
    let (key, labels) = obj("router");
    s.apply(Object::Peer(Obj {
        key,
        labels,
        spec: BgpPeerSpec {
            my_asn: 64512,
            peer_asn: Some(64500),
            peer_address: Some(peer.into()),
            ..Default::default()
        },
    }));
    let (key, labels) = obj("pool");
    s.apply(Object::Pool(Obj {
        key,
        labels,
        spec: IpAddressPoolSpec { addresses: vec![pool.into()], ..Default::default() },
    }));
    let (key, labels) = obj("ad");
    s.apply(Object::Advertisement(Obj {
        key,
        labels,
        spec: BgpAdvertisementSpec { communities: vec!["65000:1".into()], ..Default::default() },
    }));
    for i in 0..n {
        for o in service(&format!("svc-{i}"), ip(i)) {
            s.apply(o);
        }
    }
    s
}
