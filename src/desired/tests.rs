//! The steps of `finish` on small inputs: classes counted by runs, one BGP instance per VRF,
//! networks placed in their class's instances; and a Pairs claim counted per Service.

use super::*;

fn pairs(list: &[(usize, usize)]) -> Pairs {
    let mut p = Pairs::default();
    for pair in list {
        p.add(*pair);
    }
    p
}

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

#[test]
fn a_pair_claimed_twice_stays_until_both_claims_are_taken_back() {
    let mut p = pairs(&[(0, 1), (0, 0), (0, 1)]);
    assert_eq!(p.pairs, [(0, 0), (0, 1)], "sorted, distinct");
    assert!(!p.remove((0, 1)), "one claim of (0, 1) left");
    assert!(!p.remove((0, 0)));
    assert_eq!(p.pairs, [(0, 1)]);
    assert!(p.remove((0, 1)), "nothing left");
    assert!(!pairs(&[(1, 1)]).remove((9, 9)), "an unknown pair changes nothing");
}

#[test]
fn classes_are_counted_across_runs_of_prefixes() {
    let mut routes = BTreeMap::new();
    routes.insert(net("192.0.2.1/32"), pairs(&[(0, 0)]));
    routes.insert(net("192.0.2.2/32"), pairs(&[(0, 0)]));
    routes.insert(net("192.0.2.3/32"), pairs(&[(0, 0), (1, 0)]));
    routes.insert(net("192.0.2.4/32"), pairs(&[(0, 0)]));
    let counts = class_counts(&routes);
    let got: Vec<(Vec<(usize, usize)>, usize)> = counts.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
    assert_eq!(got, [(vec![(0, 0)], 3), (vec![(0, 0), (1, 0)], 1)]);
}

#[test]
fn networks_go_to_the_instances_of_their_class_with_its_tag() {
    let router = |vrf: Option<&str>| Router {
        vrf: vrf.map(|v| crate::grammar::values::IfName::parse(v, "vrf").expect("vrf")),
        asn: 64512,
        router_id: None,
        neighbors: Vec::new(),
        ipv4_networks: Default::default(),
        ipv6_networks: Default::default(),
    };
    let mut routers = vec![router(None), router(Some("red"))];
    let mut routes = BTreeMap::new();
    routes.insert(net("192.0.2.1/32"), pairs(&[(0, 0)]));
    routes.insert(net("2001:db8::1/128"), pairs(&[(0, 0)]));
    routes.insert(net("192.0.2.9/32"), pairs(&[(0, 0), (1, 0)]));
    let mut classes = BTreeMap::new();
    classes.insert(vec![(0, 0)], ClassUse { tag: 7, routers: vec![0], prefixes: 2 });
    classes.insert(vec![(0, 0), (1, 0)], ClassUse { tag: 8, routers: vec![0, 1], prefixes: 1 });
    fill_networks(&routes, &classes, &mut routers);
    let v4 = |r: &Router| r.ipv4_networks.iter().map(|(p, t)| (p.to_string(), *t)).collect::<Vec<_>>();
    let v6 = |r: &Router| r.ipv6_networks.iter().map(|(p, t)| (p.to_string(), *t)).collect::<Vec<_>>();
    assert_eq!(v4(&routers[0]), [("192.0.2.1/32".to_string(), 7), ("192.0.2.9/32".to_string(), 8)]);
    assert_eq!(v6(&routers[0]), [("2001:db8::1/128".to_string(), 7)]);
    assert_eq!(v4(&routers[1]), [("192.0.2.9/32".to_string(), 8)], "only the class with a neighbor in red");
    assert!(v6(&routers[1]).is_empty());
}
