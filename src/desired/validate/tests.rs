//! One case (or a few) per BGPPeer field rule, through the rule's own function: each refusal names
//! the field and says why; a valid value passes untouched.

use std::net::IpAddr;

use super::*;

const KEY: &str = "router";

fn spec() -> BgpPeerSpec {
    BgpPeerSpec { my_asn: 64512, peer_asn: Some(64500), peer_address: Some("192.0.2.1".into()), ..Default::default() }
}

/// Run `rule` on a fresh field collector: its value and (field, message) of every problem,
/// errors first, each with its severity's initial (`E`, `W`).
fn run<T>(rule: impl FnOnce(&mut Fields) -> T) -> (T, Vec<(char, String, String)>) {
    let key = ObjKey::new("metallb-system", KEY);
    let mut f = Fields::new(Kind::BGPPeer, &key);
    let v = rule(&mut f);
    let mut out: Vec<_> = f.errors.iter().map(|p| ('E', p.field.clone(), p.message.clone())).collect();
    out.extend(f.warnings.iter().map(|p| ('W', p.field.clone(), p.message.clone())));
    (v, out)
}

fn fields(problems: &[(char, String, String)]) -> Vec<(char, &str)> {
    problems.iter().map(|(s, f, _)| (*s, f.as_str())).collect()
}

#[test]
fn peer_port_leaves_179_to_frr_and_refuses_0_and_beyond_16_bits() {
    let with = |p: Option<u32>| run(|f| peer_port(&BgpPeerSpec { peer_port: p, ..spec() }, f));
    assert_eq!(with(None), (None, vec![]));
    assert_eq!(with(Some(179)), (None, vec![]));
    assert_eq!(with(Some(1179)), (Some(1179), vec![]));
    for bad in [0, 65536] {
        let (v, p) = with(Some(bad));
        assert_eq!((v, fields(&p)), (None, vec![('E', "spec.peerPort")]), "{bad}");
    }
}

#[test]
fn router_id_is_a_non_zero_ipv4_address() {
    let with = |r: &str| run(|f| router_id(&BgpPeerSpec { router_id: Some(r.into()), ..spec() }, f));
    assert_eq!(with("192.0.2.254"), (Some("192.0.2.254".parse().expect("ip")), vec![]));
    for bad in ["0.0.0.0", "2001:db8::1", "not-an-address", "192.0.2.1\nexit"] {
        let (v, p) = with(bad);
        assert_eq!((v, fields(&p)), (None, vec![('E', "spec.routerID")]), "{bad:?}");
    }
}

#[test]
fn local_as_is_for_ebgp_and_differs_from_my_asn() {
    let with = |n: u32, ibgp: bool| run(|f| local_as(&BgpPeerSpec { local_asn: Some(n), ..spec() }, ibgp, f));
    assert_eq!(with(64999, false), (Some(64999), vec![]));
    for (n, ibgp, why) in [(0, false, "must be"), (64512, false, "equals myASN"), (64999, true, "eBGP sessions only")] {
        let (v, p) = with(n, ibgp);
        assert_eq!((v, fields(&p)), (None, vec![('E', "spec.localASN")]));
        assert!(p[0].2.contains(why), "{n} {ibgp}: {}", p[0].2);
    }
}

#[test]
fn remote_as_is_one_of_peer_asn_and_dynamic_asn() {
    let with = |asn: Option<u32>, dynamic: Option<&str>| {
        run(|f| remote_as(&BgpPeerSpec { peer_asn: asn, dynamic_asn: dynamic.map(Into::into), ..spec() }, f))
    };
    assert_eq!(with(Some(64500), None).0, Some(RemoteAs::Number(64500)));
    assert_eq!(with(None, Some("internal")).0, Some(RemoteAs::Dynamic("internal")));
    assert_eq!(with(None, Some("external")).0, Some(RemoteAs::Dynamic("external")));
    for (asn, dynamic, field) in [
        (Some(0), None, "spec.peerASN"),
        (Some(64500), Some("external"), "spec.dynamicASN"),
        (None, Some("sideways"), "spec.dynamicASN"),
        (None, None, "spec.peerASN"),
    ] {
        let (v, p) = with(asn, dynamic);
        assert_eq!((v, fields(&p)), (None, vec![('E', field)]), "{asn:?} {dynamic:?}");
    }
}

#[test]
fn endpoint_is_an_address_or_an_interface() {
    let with = |addr: Option<&str>, iface: Option<&str>| {
        run(|f| {
            endpoint(&BgpPeerSpec { peer_address: addr.map(Into::into), interface: iface.map(Into::into), ..spec() }, f)
        })
    };
    let ip: IpAddr = "2001:db8::1".parse().expect("ip");
    assert_eq!(with(Some("2001:db8::1"), None), ((Some("2001:db8::1".into()), Some(ip), false), vec![]));
    assert_eq!(with(None, Some("eth1")), ((Some("eth1".into()), None, true), vec![]));
    for (addr, iface, field) in [
        (Some("192.0.2.1"), Some("eth1"), "spec.interface"),
        (None, None, "spec.peerAddress"),
        (Some("fe80::1"), None, "spec.peerAddress"),
        (Some("192.0.2.0/24"), None, "spec.peerAddress"),
        (None, Some("eth1 remote-as 1"), "spec.interface"),
    ] {
        let (v, p) = with(addr, iface);
        assert_eq!((v, fields(&p)), ((None, None, false), vec![('E', field)]), "{addr:?} {iface:?}");
    }
}

#[test]
fn source_address_is_of_the_peer_addresss_family() {
    let v4: IpAddr = "192.0.2.1".parse().expect("ip");
    let with =
        |src: &str| run(|f| update_source(&BgpPeerSpec { source_address: Some(src.into()), ..spec() }, Some(v4), f));
    assert_eq!(with("192.0.2.11"), (Some("192.0.2.11".parse().expect("ip")), vec![]));
    for bad in ["2001:db8::11", "nonsense"] {
        let (v, p) = with(bad);
        assert_eq!((v, fields(&p)), (None, vec![('E', "spec.sourceAddress")]), "{bad}");
    }
}

#[test]
fn timers_follow_metallb_and_rfc_4271() {
    let with = |hold: Option<&str>, keep: Option<&str>| {
        run(|f| {
            let t = timers(
                &BgpPeerSpec { hold_time: hold.map(Into::into), keepalive_time: keep.map(Into::into), ..spec() },
                f,
            );
            t.bgp.map(|b| (b.keepalive, b.hold))
        })
    };
    assert_eq!(with(None, None), (None, vec![]), "FRR's own timers");
    assert_eq!(with(Some("90s"), None), (Some((30, 90)), vec![]), "a third of the hold time");
    assert_eq!(with(None, Some("10s")), (Some((10, 30)), vec![]), "three times the keepalive");
    assert_eq!(with(Some("0s"), Some("0s")), (Some((0, 0)), vec![]), "no keepalives at all");
    let (v, p) = with(Some("9s"), Some("9s"));
    assert_eq!((v, fields(&p)), (Some((3, 9)), vec![('W', "spec.keepaliveTime")]), "FRR keeps a third");
    for (hold, keep, field) in [
        (Some("2s"), None, "spec.holdTime"),
        (Some("10s"), Some("20s"), "spec.keepaliveTime"),
        (Some("0s"), Some("3s"), "spec.keepaliveTime"),
        (Some("ten"), None, "spec.holdTime"),
    ] {
        let (_, p) = with(hold, keep);
        assert!(fields(&p).contains(&('E', field)), "{hold:?} {keep:?}: {p:?}");
    }
}

#[test]
fn hop_rules_ask_multihop_for_a_peer_off_the_connected_networks() {
    let v4: IpAddr = "198.51.100.1".parse().expect("ip");
    let v6: IpAddr = "2001:db8::1".parse().expect("ip");
    let connected: Vec<IpNet> = vec!["192.0.2.0/24".parse().expect("net")];
    // Single-hop eBGP to an address off the connected networks: refused (FRR sends with TTL 1).
    let (_, p) = run(|f| hop_rules(false, false, Some(v4), Some(&connected), f));
    assert_eq!(fields(&p), [('E', "spec.ebgpMultiHop")]);
    // With ebgpMultiHop, or networks unknown (render without --connected): accepted.
    assert_eq!(run(|f| hop_rules(true, false, Some(v4), Some(&connected), f)), (false, vec![]));
    assert_eq!(run(|f| hop_rules(false, false, Some(v4), None, f)), (false, vec![]));
    // iBGP may not have it.
    let (_, p) = run(|f| hop_rules(true, true, Some(v4), None, f));
    assert_eq!(fields(&p), [('E', "spec.ebgpMultiHop")]);
    // IPv6 single-hop eBGP: disable-connected-check instead of a refusal.
    assert_eq!(run(|f| hop_rules(false, false, Some(v6), Some(&connected), f)), (true, vec![]));
}
