use super::super::config::parse;
use super::*;

#[test]
fn an_address_family_left_empty_loses_its_lines() {
    let have = "router bgp 64512\n neighbor 192.0.2.1 remote-as 64500\n address-family ipv4 unicast\n  network 203.0.113.1/32\n exit-address-family\nexit\n";
    let want = "router bgp 64512\n neighbor 192.0.2.1 remote-as 64500\n address-family ipv4 unicast\n exit-address-family\nexit\n";
    let d = diff(&parse(have), &parse(want));
    assert_eq!(
        d.script,
        "router bgp 64512\n address-family ipv4 unicast\n  no network 203.0.113.1/32\n exit-address-family\nexit\n"
    );
    assert!(diff(&parse(want), &parse(want)).is_empty());
    let back = diff(&parse(want), &parse(have));
    assert_eq!(back.changes, 1, "{}", back.script);
}

#[test]
fn graceful_shutdown_is_managed() {
    let base = "router bgp 64512\n neighbor 192.0.2.1 remote-as 64500\nexit\n";
    let drained = format!("bgp graceful-shutdown\n{base}");
    let d = diff(&parse(&drained), &parse(base));
    assert_eq!((d.script.as_str(), d.changes), ("no bgp graceful-shutdown\n", 1));
    let d = diff(&parse(base), &parse(&drained));
    assert_eq!((d.script.as_str(), d.changes), ("bgp graceful-shutdown\n", 1));
    assert!(diff(&parse(&drained), &parse(&drained)).is_empty());
}

fn delta(have: &str, want: &str) -> Delta {
    diff(&parse(have), &parse(want))
}

const BASE: &str = "route-map fs-tag-7 permit 10\n set tag 7\nexit\nroute-map fs-out-192.0.2.1 permit 7\n match tag 7\n set community 65000:1\nexit\nroute-map fs-out-192.0.2.1 deny 65535\nexit\nrouter bgp 64512\n no bgp default ipv4-unicast\n neighbor 192.0.2.1 remote-as 64500\n neighbor 192.0.2.1 timers 30 90\n !\n address-family ipv4 unicast\n  network 203.0.113.1/32 route-map fs-tag-7\n  neighbor 192.0.2.1 activate\n  neighbor 192.0.2.1 route-map fs-out-192.0.2.1 out\n exit-address-family\nexit\n";

#[test]
fn identical_configs_need_nothing() {
    let running = format!("frr version 8.4.4\nhostname x\nlog syslog\n{BASE}route-map other permit 1\nexit\n");
    assert!(delta(&running, BASE).is_empty(), "unmanaged lines are left alone");
}

#[test]
fn added_network_is_one_line_in_context() {
    let want = BASE.replace(
        "  neighbor 192.0.2.1 activate",
        "  network 203.0.113.2/32 route-map fs-tag-7\n  neighbor 192.0.2.1 activate",
    );
    let d = delta(BASE, &want);
    assert_eq!(d.changes, 1);
    assert_eq!(
        d.script,
        "router bgp 64512\n address-family ipv4 unicast\n  network 203.0.113.2/32 route-map fs-tag-7\n exit-address-family\nexit\n"
    );
    let back = delta(&want, BASE);
    assert!(back.script.contains("  no network 203.0.113.2/32 route-map fs-tag-7\n"), "{}", back.script);
}

#[test]
fn changed_value_is_re_entered_not_removed() {
    let want = BASE.replace("timers 30 90", "timers 3 9").replace("remote-as 64500", "remote-as 64501");
    let d = delta(BASE, &want);
    assert_eq!(d.changes, 2);
    assert!(!d.script.contains("no neighbor"), "{}", d.script);
    assert!(d.script.contains(" neighbor 192.0.2.1 timers 3 9\n"));
}

#[test]
fn community_change_asks_for_soft_out() {
    let want = BASE.replace("set community 65000:1", "set community 65000:2");
    let d = delta(BASE, &want);
    assert_eq!(d.script, "route-map fs-out-192.0.2.1 permit 7\n set community 65000:2\nexit\n");
    assert_eq!(d.soft_out.len(), 1);
    assert_eq!(d.soft_out[0].command(), "clear bgp ipv4 unicast 192.0.2.1 soft out");
}

#[test]
fn removed_neighbor_is_one_no_neighbor() {
    let two = BASE
        .replace(
            " neighbor 192.0.2.1 timers 30 90\n",
            " neighbor 192.0.2.1 timers 30 90\n neighbor 192.0.2.2 remote-as 64500\n neighbor 192.0.2.2 bfd\n",
        )
        .replace("  neighbor 192.0.2.1 activate\n", "  neighbor 192.0.2.1 activate\n  neighbor 192.0.2.2 activate\n");
    let d = delta(&two, BASE);
    assert_eq!(d.script, "router bgp 64512\n no neighbor 192.0.2.2\nexit\n");
}

#[test]
fn route_maps_first_and_unused_ones_last() {
    let want = BASE.replace("fs-tag-7", "fs-tag-8").replace("set tag 7", "set tag 8");
    let d = delta(BASE, &want);
    let new_map = d.script.find("route-map fs-tag-8 permit 10").expect("new map");
    let network = d.script.find("network 203.0.113.1/32 route-map fs-tag-8").expect("network moves");
    let old_map = d.script.find("no route-map fs-tag-7 permit 10").expect("old map removed");
    assert!(new_map < network && network < old_map, "{}", d.script);
}

#[test]
fn bfd_profiles() {
    let have = "bfd\n profile a\n  detect-multiplier 5\n exit\n !\n profile gone\n exit\nexit\n";
    let want = "bfd\n profile a\n  detect-multiplier 4\n exit\n !\n profile new\n exit\nexit\n";
    let d = delta(have, want);
    assert_eq!(
        d.script,
        "bfd\n profile a\n  detect-multiplier 4\n exit\n profile new\n exit\nexit\nbfd\n no profile gone\nexit\n"
    );
}

/// FRR 8.4's bfdd has no `no receive-interval`: a timer that goes back to the default (which
/// FRR does not print) is set to it.
#[test]
fn bfd_timers_without_a_no_form_are_reset_to_the_default() {
    let have = "bfd\n profile a\n  detect-multiplier 5\n  receive-interval 200\n  transmit-interval 200\n  echo transmit-interval 80\n  echo receive-interval disabled\n  minimum-ttl 250\n exit\nexit\n";
    let want = "bfd\n profile a\n exit\nexit\n";
    assert_eq!(
        delta(have, want).script,
        "bfd\n profile a\n  detect-multiplier 3\n  receive-interval 300\n  transmit-interval 300\n  echo transmit-interval 50\n  echo receive-interval 50\n  no minimum-ttl 250\n exit\nexit\n"
    );
}

#[test]
fn negated_lines_are_un_negated_on_removal() {
    let have = "router bgp 1\n no bgp network import-check\nexit\n";
    let want = "router bgp 1\nexit\n";
    assert_eq!(delta(have, want).script, "router bgp 1\n bgp network import-check\nexit\n");
}
