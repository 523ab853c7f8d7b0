//! frr-k8s's conversion and merge cases (TestConversion and TestFilterForSelector in
//! internal/controller/api_to_config_test.go, merge_test.go, v0.0.25): the same inputs, and the
//! same outcome, accepted with the same content or refused. Each test names its frr-k8s case.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::model::*;
use super::{node_config, Context};
use crate::model::core::{ObjKey, Redacted, SecretInfo};
use crate::model::frrk8s::FrrConfigurationSpec;
use crate::problem::Problem;

const NS: &str = "frr-k8s-system";

/// An FRRConfiguration as a test writes it: `metadata` only when a name matters.
#[derive(serde::Deserialize)]
struct Doc {
    #[serde(default)]
    metadata: Meta,
    spec: FrrConfigurationSpec,
}

#[derive(serde::Deserialize, Default)]
struct Meta {
    name: Option<String>,
}

/// The objects of a YAML stream (names `a`, `b`, ... unless given), merged.
fn run_with(yaml: &str, secrets: &[(&str, &str, &str)], block: &[&str]) -> (Option<Config>, Vec<Problem>) {
    let objects: Vec<Doc> = serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| serde::Deserialize::deserialize(d).expect("an FRRConfiguration"))
        .collect();
    let keys: Vec<ObjKey> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            ObjKey::new(NS, o.metadata.name.clone().unwrap_or_else(|| ((b'a' + i as u8) as char).to_string()))
        })
        .collect();
    let secrets: BTreeMap<ObjKey, SecretInfo> = secrets
        .iter()
        .map(|(name, ty, pw)| {
            let key = ObjKey::new(NS, *name);
            let info = SecretInfo {
                key: key.clone(),
                type_: Some(ty.to_string()),
                password: (!pw.is_empty()).then(|| Redacted::new(pw.to_string())),
                password_not_utf8: false,
            };
            (key, info)
        })
        .collect();
    let always_block: Vec<IpNet> = block.iter().map(|b| b.parse().expect("cidr")).collect();
    let ctx = Context { secrets: &secrets, namespace: NS, always_block: &always_block };
    let configs: Vec<(&ObjKey, _)> = keys.iter().zip(objects.iter().map(|o| &o.spec)).collect();
    node_config(None, &configs, &ctx)
}

fn run(yaml: &str) -> (Option<Config>, Vec<Problem>) {
    run_with(yaml, &[], &[])
}

fn accepted(yaml: &str) -> Config {
    let (config, problems) = run(yaml);
    assert!(problems.iter().all(|p| !p.is_error()), "refused: {problems:?}");
    config.expect("a config")
}

/// Refused, with one error whose text contains each of `words`.
fn refused(yaml: &str, words: &[&str]) -> Problem {
    refused_with(run(yaml), words)
}

fn refused_with((config, problems): (Option<Config>, Vec<Problem>), words: &[&str]) -> Problem {
    assert!(config.is_none(), "accepted, expected a refusal naming {words:?}");
    let errors: Vec<&Problem> = problems.iter().filter(|p| p.is_error()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0].to_string();
    for w in words {
        assert!(text.contains(w), "{text:?} does not contain {w:?}");
    }
    errors[0].clone()
}

fn texts(set: &std::collections::BTreeSet<Prefix>) -> Vec<&str> {
    set.iter().map(|p| p.text.as_str()).collect()
}

const TWO_NEIGHBORS: &str = "
spec:
  bgp:
    routers:
    - asn: 65040
      id: 192.0.2.20
      prefixes: [192.0.2.0/24, 192.0.3.0/24, 192.0.4.0/24, 192.0.5.0/24]
      neighbors:
      - asn: 65041
        address: 192.0.2.21
        toAdvertise:
          allowed:
            prefixes: [192.0.2.0/24, 192.0.3.0/24]
      - asn: 65042
        address: 192.0.2.22
        toAdvertise:
          allowed:
            mode: all
";

#[test]
fn single_router_and_neighbor_with_src_addr() {
    let c = accepted(
        "
spec:
  bgp:
    routers:
    - asn: 65001
      id: 192.0.2.1
      neighbors:
      - asn: 65002
        address: 192.0.2.2
        sourceaddress: 192.1.1.1
        port: 179
",
    );
    let r = &c.routers[""];
    assert_eq!((r.asn, r.router_id.map(|i| i.to_string())), (65001, Some("192.0.2.1".into())));
    let n = &r.neighbors["192.0.2.2"];
    assert_eq!(n.remote_as, RemoteAs::Number(65002));
    assert_eq!(n.source.as_ref().map(|s| s.to_string()).as_deref(), Some("192.1.1.1"));
    assert_eq!((n.family, n.port), (Family::V4, Some(179)));
    assert!(n.outgoing.v4.is_empty() && !n.incoming.all, "nothing in or out unless allowed");
}

#[test]
fn empty_configuration() {
    let c = accepted("spec: {}\n");
    assert!(c.routers.is_empty() && c.bfd_profiles.is_empty() && c.raw.is_empty());
}

#[test]
fn non_default_vrf_and_ids() {
    let c = accepted(
        "
spec:
  bgp:
    routers:
    - asn: 65010
      vrf: red
      prefixes: [192.0.2.0/24]
      neighbors:
      - {asn: 65011, address: 192.0.2.7, toAdvertise: {allowed: {mode: all}}}
",
    );
    let n = &c.routers["red"].neighbors["192.0.2.7-red"];
    assert_eq!(n.id(), "192.0.2.7-red", "frr-k8s names a VRF's neighbor <address>-<vrf>");
    assert_eq!(texts(&n.outgoing.v4), ["192.0.2.0/24"]);
}

#[test]
fn two_neighbors_with_to_advertise_one_advertise_all() {
    let c = accepted(TWO_NEIGHBORS);
    let r = &c.routers[""];
    assert_eq!(texts(&r.prefixes_v4), ["192.0.2.0/24", "192.0.3.0/24", "192.0.4.0/24", "192.0.5.0/24"]);
    assert_eq!(texts(&r.neighbors["192.0.2.21"].outgoing.v4), ["192.0.2.0/24", "192.0.3.0/24"]);
    assert_eq!(r.neighbors["192.0.2.22"].outgoing.v4.len(), 4);
}

#[test]
fn communities_and_local_pref_dual_stack() {
    let c = accepted(
        "
spec:
  bgp:
    routers:
    - asn: 65040
      prefixes: [192.0.2.0/24, 192.0.3.0/24, 2001:db8::/64]
      neighbors:
      - asn: 65040
        address: 192.0.2.21
        dualStackAddressFamily: true
        toAdvertise:
          allowed: {mode: all}
          withCommunity:
          - {community: '10:100', prefixes: [192.0.2.0/24, 2001:db8::/64]}
          - {community: 'large:123:456:7890', prefixes: [192.0.3.0/24]}
          withLocalPref:
          - {localPref: 100, prefixes: [192.0.2.0/24, 2001:db8::/64]}
",
    );
    let n = &c.routers[""].neighbors["192.0.2.21"];
    assert_eq!(n.family, Family::Dual);
    assert_eq!((texts(&n.outgoing.v4).len(), texts(&n.outgoing.v6)), (2, vec!["2001:db8::/64"]));
    let standard = crate::grammar::values::CommunityValue::parse("10:100").expect("community");
    assert_eq!(texts(&n.outgoing.community[&(standard, Family::V6)]), ["2001:db8::/64"]);
    assert_eq!(texts(&n.outgoing.local_pref[&(100, Family::V4)]), ["192.0.2.0/24"]);
    assert_eq!(n.outgoing.community.len(), 3, "10:100 v4, v6, and the large one v4");
}

#[test]
fn one_neighbor_invalid_address() {
    let p = refused(
        "spec: {bgp: {routers: [{asn: 65040, neighbors: [{asn: 65041, address: 192.0.2.300}]}]}}\n",
        &["FRRConfiguration frr-k8s-system/a", "spec.bgp.routers[0].neighbors[0].address", "not an IP address"],
    );
    assert_eq!(p.kind, crate::problem::Kind::FRRConfiguration);
}

#[test]
fn advertising_a_prefix_not_in_the_router_is_refused() {
    refused(
        "
spec:
  bgp:
    routers:
    - asn: 65040
      prefixes: [192.0.2.0/24]
      neighbors:
      - {asn: 65041, address: 192.0.2.21, toAdvertise: {allowed: {prefixes: [192.0.3.0/24]}}}
",
        &["toAdvertise.allowed.prefixes[0]", "192.0.3.0/24", "not among the router's prefixes"],
    );
}

#[test]
fn community_or_local_pref_on_an_unallowed_prefix_is_refused() {
    let base = "
spec:
  bgp:
    routers:
    - asn: 65040
      prefixes: [192.0.2.0/24, 192.0.10.10/32]
      neighbors:
      - asn: 65041
        address: 192.0.2.21
        toAdvertise:
          allowed: {prefixes: [192.0.2.0/24]}
";
    refused(
        &format!("{base}          withCommunity: [{{community: '10:100', prefixes: [192.0.10.10/32]}}]\n"),
        &["withCommunity[0].prefixes[0]", "192.0.10.10/32", "not advertised to this neighbor"],
    );
    refused(
        &format!("{base}          withLocalPref: [{{localPref: 200, prefixes: [192.0.10.10/32]}}]\n"),
        &["withLocalPref[0].prefixes[0]", "not advertised"],
    );
    refused(
        &format!("{base}          withCommunity: [{{community: '10:100000', prefixes: [192.0.2.0/24]}}]\n"),
        &["withCommunity[0].community", "is not a community"],
    );
}

#[test]
fn one_prefix_with_two_local_prefs_or_one_local_pref_twice_is_refused() {
    let base = "
spec:
  bgp:
    routers:
    - asn: 65040
      prefixes: [192.0.2.0/24, 192.0.4.0/24]
      neighbors:
      - asn: 65040
        address: 192.0.2.21
        toAdvertise:
          allowed: {mode: all}
          withLocalPref:
";
    refused(
        &format!("{base}          - {{localPref: 100, prefixes: [192.0.4.0/24]}}\n          - {{localPref: 200, prefixes: [192.0.4.0/24]}}\n"),
        &["withLocalPref[1].prefixes[0]", "local preferences 100 and 200"],
    );
    refused(
        &format!("{base}          - {{localPref: 100, prefixes: [192.0.4.0/24]}}\n          - {{localPref: 100, prefixes: [192.0.2.0/24]}}\n"),
        &["withLocalPref[1].localPref", "listed twice"],
    );
    refused(
        &format!("{base}          - {{localPref: 100, prefixes: [192.0.4.0/24, 192.0.4.0/24]}}\n"),
        &["listed twice for local preference 100"],
    );
}

#[test]
fn to_receive_all_some_and_lengths() {
    let c = accepted(
        "
spec:
  bgp:
    routers:
    - asn: 65040
      neighbors:
      - asn: 65041
        address: 192.0.2.21
        toReceive: {allowed: {mode: all}}
      - asn: 65042
        address: 192.0.2.22
        toReceive:
          allowed:
            prefixes:
            - {prefix: 192.0.2.0/24}
            - {prefix: 192.0.100.0/24, le: 32, ge: 26}
            - {prefix: 2001:db8::/64}
",
    );
    let r = &c.routers[""];
    assert!(r.neighbors["192.0.2.21"].incoming.all);
    let n = &r.neighbors["192.0.2.22"].incoming;
    assert_eq!(n.v4.len(), 2);
    let f = n.v4.iter().find(|f| f.prefix.text == "192.0.100.0/24").expect("filter");
    assert_eq!((f.le, f.ge), (Some(32), Some(26)));
    assert_eq!(n.v6.len(), 1, "an IPv6 filter on an IPv4 session is kept, as frr-k8s keeps it");
    refused(
        "spec: {bgp: {routers: [{asn: 65040, neighbors: [{asn: 65041, address: 192.0.2.21, toReceive: {allowed: {prefixes: [{prefix: 192.0.2.0/24, le: 10, ge: 12}]}}}]}]}}\n",
        &["toReceive.allowed.prefixes[0]", "shorter than the prefix"],
    );
}

#[test]
fn filter_for_selector_lengths() {
    let case = |le: u32, ge: u32| {
        run(&format!(
            "spec: {{bgp: {{routers: [{{asn: 1, neighbors: [{{asn: 2, address: 192.0.2.1, toReceive: {{allowed: {{prefixes: [{{prefix: 192.0.2.0/24, le: {le}, ge: {ge}}}]}}}}}}]}}]}}}}\n"
        ))
        .0
        .is_some()
    };
    // TestFilterForSelector: prefix only; valid modifiers; le < mask; ge < mask (with and
    // without le); ge > le.
    assert!(case(0, 0));
    assert!(case(32, 26));
    assert!(!case(20, 0));
    assert!(!case(32, 20));
    assert!(!case(0, 20));
    assert!(!case(26, 28));
}

#[test]
fn multiple_configurations_one_for_advertising_the_other_for_receiving() {
    let c = accepted(
        "
spec:
  bgp:
    routers:
    - asn: 65040
      prefixes: [192.0.2.0/24]
      neighbors:
      - {asn: 65041, address: 192.0.2.21, toAdvertise: {allowed: {prefixes: [192.0.2.0/24]}}}
---
spec:
  bgp:
    routers:
    - asn: 65040
      neighbors:
      - asn: 65041
        address: 192.0.2.21
        toReceive: {allowed: {prefixes: [{prefix: 192.0.100.0/24}, {prefix: 192.0.100.0/24, le: 32}]}}
---
spec:
  bgp:
    routers:
    - asn: 65040
      neighbors:
      - asn: 65041
        address: 192.0.2.21
        toReceive: {allowed: {prefixes: [{prefix: 192.0.100.0/24, le: 32}, {prefix: 192.0.101.0/24}]}}
",
    );
    let n = &c.routers[""].neighbors["192.0.2.21"];
    assert_eq!(texts(&n.outgoing.v4), ["192.0.2.0/24"]);
    assert_eq!(n.incoming.v4.len(), 3, "union of the filters, each (prefix, le, ge) once: {:?}", n.incoming.v4);
}

#[test]
fn receive_all_wins_in_a_merge() {
    let c = accepted(
        "
spec: {bgp: {routers: [{asn: 65040, neighbors: [{asn: 65041, address: 192.0.2.21, toReceive: {allowed: {prefixes: [{prefix: 192.0.100.0/24}]}}}]}]}}
---
spec: {bgp: {routers: [{asn: 65040, neighbors: [{asn: 65041, address: 192.0.2.21, toReceive: {allowed: {mode: all}}}]}]}}
",
    );
    let n = &c.routers[""].neighbors["192.0.2.21"].incoming;
    assert!(n.all && n.v4.is_empty());
}

#[test]
fn passwords_and_secrets() {
    let yaml = |n: &str| {
        format!("spec: {{bgp: {{routers: [{{asn: 65010, neighbors: [{{asn: 65012, address: 192.0.2.7, {n}}}]}}]}}}}\n")
    };
    let (c, _) =
        run_with(&yaml("passwordSecret: {name: secret1}"), &[("secret1", "kubernetes.io/basic-auth", "s3cr3t")], &[]);
    let n = &c.expect("accepted").routers[""].neighbors["192.0.2.7"];
    assert_eq!(n.password.as_ref().map(|p| p.expose()), Some("s3cr3t"));
    // Non existing secret ref; a Secret of another type; no password key.
    refused(&yaml("passwordSecret: {name: secret1}"), &["passwordSecret", "does not exist"]);
    let wrong_type = run_with(&yaml("passwordSecret: {name: s}"), &[("s", "Opaque", "x")], &[]);
    refused_with(wrong_type, &["not kubernetes.io/basic-auth"]);
    let empty = run_with(&yaml("passwordSecret: {name: s}"), &[("s", "kubernetes.io/basic-auth", "")], &[]);
    refused_with(empty, &["no password key"]);
    // Specifying both cleartext password and secret ref.
    refused(&yaml("password: p, passwordSecret: {name: s}"), &["both password and passwordSecret"]);
    // A password that would end the line in frr.conf, and the message does not echo it.
    let p = refused(&yaml("password: \"x\\nrouter bgp 1\""), &["spec.bgp.routers[0].neighbors[0].password"]);
    assert!(!p.message.contains("router bgp"), "{p}");
}

#[test]
fn raw_configs_by_priority_then_name() {
    // Single Router and double injection.
    let c = accepted(
        "
metadata: {name: a}
spec: {bgp: {routers: [{asn: 65001, id: 192.0.2.1}]}, raw: {rawConfig: foo, priority: 5}}
---
metadata: {name: b}
spec: {raw: {rawConfig: \"bar\\nbaz\", priority: 10}}
---
metadata: {name: c}
spec: {bgp: {routers: [{asn: 65001, id: 192.0.2.1}]}, raw: {rawConfig: bar}}
",
    );
    assert_eq!(c.raw, "bar\nfoo\nbar\nbaz\n");
}

#[test]
fn bfd_profiles_within_and_across_configs() {
    let profile = "bfdProfiles: [{name: bfd1, receiveInterval: 60, transmitInterval: 70}]";
    let c = accepted(&format!(
        "
spec:
  bgp:
    {profile}
    routers: [{{asn: 65040, neighbors: [{{asn: 65041, address: 192.0.2.21, bfdProfile: bfd1}}]}}]
---
spec:
  bgp:
    {profile}
"
    ));
    assert_eq!(c.bfd_profiles["bfd1"].transmit_interval, Some(70));
    assert_eq!(c.routers[""].neighbors["192.0.2.21"].bfd_profile.as_ref().map(|p| p.as_str()), Some("bfd1"));
    // Neighbor with BFDProfile does not exist / in a different config.
    refused(
        "spec: {bgp: {bfdProfiles: [{name: bfd1}], routers: [{asn: 65040, neighbors: [{asn: 65041, address: 192.0.2.21, bfdProfile: bfd2}]}]}}\n---\nspec: {bgp: {bfdProfiles: [{name: bfd2}]}}\n",
        &["bfdProfile", "\"bfd2\" is not a BFD profile of this object"],
    );
    // Two BFDProfiles, but identical, in one config.
    refused("spec: {bgp: {bfdProfiles: [{name: bfd1}, {name: bfd1}]}}\n", &["bfdProfiles[1].name", "defined twice"]);
    // The same name with other values in another config.
    refused(
        "spec: {bgp: {bfdProfiles: [{name: bfd1, receiveInterval: 60}]}}\n---\nspec: {bgp: {bfdProfiles: [{name: bfd1, receiveInterval: 61}]}}\n",
        &["frr-k8s-system/b", "spec.bgp.bfdProfiles[0]", "differs from the one of the same name in frr-k8s-system/a"],
    );
    // Bounds the CRD would enforce, for files that never met an apiserver.
    refused(
        "spec: {bgp: {bfdProfiles: [{name: bfd1, detectMultiplier: 1}]}}\n",
        &["detectMultiplier", "not within 2-255"],
    );
}

#[test]
fn timers() {
    let yaml = |t: &str| {
        format!("spec: {{bgp: {{routers: [{{asn: 65001, neighbors: [{{asn: 65002, address: 192.0.2.2, {t}}}]}}]}}}}\n")
    };
    refused(&yaml("holdTime: 90s"), &["holdTime and keepaliveTime are set together"]);
    refused(&yaml("keepaliveTime: 30s"), &["holdTime and keepaliveTime are set together"]);
    refused(&yaml("holdTime: 40s, keepaliveTime: 50s"), &["keepaliveTime", "longer than holdTime"]);
    refused(&yaml("holdTime: 2s, keepaliveTime: 1s"), &["must be 0 or at least 3s"]);
    refused(&yaml("connectTime: 1500ms"), &["connectTime", "whole number of seconds"]);
    // frr-k8s drops a value equal to FRR's default and then renders no timers at all (its
    // merge bug); the documented meaning is kept here.
    let c = accepted(&yaml("holdTime: 90s, keepaliveTime: 60s, connectTime: 60s"));
    let n = &c.routers[""].neighbors["192.0.2.2"];
    assert_eq!((n.timers, n.connect_time), (Some((90, 60)), Some(60)));
}

#[test]
fn imported_vrfs() {
    let c = accepted(
        "
spec:
  bgp:
    routers:
    - asn: 65010
      prefixes: [192.0.2.0/24]
      imports: [{vrf: red}]
      neighbors:
      - {asn: 65011, address: 192.0.2.7, toAdvertise: {allowed: {prefixes: [192.0.2.0/24, 192.0.5.0/24]}}}
    - asn: 65010
      vrf: red
      prefixes: [192.0.5.0/24]
      imports: [{vrf: default}]
",
    );
    assert_eq!(c.routers[""].imports.iter().map(|v| v.as_str()).collect::<Vec<_>>(), ["red"]);
    assert_eq!(c.routers["red"].imports.iter().map(|v| v.as_str()).collect::<Vec<_>>(), ["default"]);
    assert_eq!(texts(&c.routers[""].neighbors["192.0.2.7"].outgoing.v4), ["192.0.2.0/24", "192.0.5.0/24"]);
    // Multiple Routers import non existing VRFs.
    refused(
        "spec: {bgp: {routers: [{asn: 65010, imports: [{vrf: blue}]}]}}\n",
        &["spec.bgp.routers[0].imports[0].vrf", "\"blue\""],
    );
}

#[test]
fn asn_dynamic_asn_and_local_asn() {
    let n = |fields: &str| {
        run(&format!("spec: {{bgp: {{routers: [{{asn: 65010, neighbors: [{{address: 192.0.2.22, {fields}}}]}}]}}}}\n"))
    };
    refused_with(n("port: 179"), &["neither asn nor dynamicASN"]);
    refused_with(n("asn: 65011, dynamicASN: internal"), &["both asn and dynamicASN"]);
    refused_with(n("asn: 65010, localASN: 65100"), &["localASN", "iBGP"]);
    let (c, _) = n("dynamicASN: external, localASN: 65100");
    let nb = &c.expect("accepted").routers[""].neighbors["192.0.2.22"];
    assert_eq!((nb.remote_as, nb.local_asn), (RemoteAs::External, Some(65100)));
}

#[test]
fn interfaces_and_addresses() {
    let c = accepted(
        "spec: {bgp: {routers: [{asn: 65010, neighbors: [{asn: 65011, interface: net0}, {asn: 65012, interface: net1}]}]}}\n",
    );
    let r = &c.routers[""];
    assert_eq!(r.neighbors.keys().collect::<Vec<_>>(), ["net0", "net1"]);
    assert_eq!(r.neighbors["net0"].family, Family::Dual, "an unnumbered session carries both families");
    refused("spec: {bgp: {routers: [{asn: 65010, neighbors: [{asn: 65011}]}]}}\n", &["neither address nor interface"]);
    refused(
        "spec: {bgp: {routers: [{asn: 65010, neighbors: [{asn: 65011, interface: net0, address: 192.0.2.1}]}]}}\n",
        &["both address and interface"],
    );
    // Single router two neighbors same address (or interface) different ASN.
    refused(
        "spec: {bgp: {routers: [{asn: 65010, neighbors: [{asn: 65011, address: 192.0.2.1}, {asn: 65012, address: 192.0.2.1}]}]}}\n",
        &["neighbors[1]", "AS 65012 differs from 65011"],
    );
    refused(
        "spec: {bgp: {routers: [{asn: 65010, neighbors: [{asn: 65011, interface: net0}]}, {asn: 65010, neighbors: [{asn: 65012, interface: net0}]}]}}\n",
        &["AS 65012 differs"],
    );
    // An interface name that would break frr.conf.
    refused(
        "spec: {bgp: {routers: [{asn: 65010, neighbors: [{asn: 65011, interface: \"eth0 remote-as 1\"}]}]}}\n",
        &["interface"],
    );
}

#[test]
fn families_of_what_is_advertised() {
    let base = "spec: {bgp: {routers: [{asn: 65010, prefixes: [192.0.2.0/24, 2001:db8::/64], neighbors: [{asn: 65011, address: 192.0.2.1";
    refused(
        &format!("{base}, toAdvertise: {{allowed: {{prefixes: [2001:db8::/64]}}}}}}]}}]}}}}\n"),
        &["2001:db8::/64", "ipv6 and the session is ipv4 only"],
    );
    refused(
        &format!("{base}, toAdvertise: {{allowed: {{mode: all}}, withCommunity: [{{community: '1:1', prefixes: [2001:db8::/64]}}]}}}}]}}]}}}}\n"),
        &["withCommunity[0].prefixes[0]", "ipv4 only"],
    );
    let c =
        accepted(&format!("{base}, dualStackAddressFamily: true, toAdvertise: {{allowed: {{mode: all}}}}}}]}}]}}}}\n"));
    let n = &c.routers[""].neighbors["192.0.2.1"];
    assert_eq!((n.outgoing.v4.len(), n.outgoing.v6.len()), (1, 1));
    // Advertise all to an IPv4-only session: only the IPv4 prefixes.
    let c = accepted(&format!("{base}, toAdvertise: {{allowed: {{mode: all}}}}}}]}}]}}}}\n"));
    assert_eq!((c.routers[""].neighbors["192.0.2.1"].outgoing.v6.len()), 0);
}

#[test]
fn merging_routers_and_neighbors() {
    // TestMergeRouters: different ASNs or router IDs for one VRF are refused.
    refused(
        "spec: {bgp: {routers: [{asn: 65010}]}}\n---\nspec: {bgp: {routers: [{asn: 65011}]}}\n",
        &[
            "frr-k8s-system/b",
            "spec.bgp.routers[0]",
            "AS 65011 differs from AS 65010 of VRF default in frr-k8s-system/a",
        ],
    );
    refused(
        "spec: {bgp: {routers: [{asn: 65010, id: 192.0.2.1}]}}\n---\nspec: {bgp: {routers: [{asn: 65010, id: 192.0.2.2}]}}\n",
        &["router ID 192.0.2.2 differs from 192.0.2.1"],
    );
    let c = accepted(
        "spec: {bgp: {routers: [{asn: 65010, prefixes: [192.0.2.0/24]}]}}\n---\nspec: {bgp: {routers: [{asn: 65010, id: 192.0.2.2, prefixes: [192.0.3.0/24]}]}}\n",
    );
    let r = &c.routers[""];
    assert_eq!((r.prefixes_v4.len(), r.router_id.map(|i| i.to_string())), (2, Some("192.0.2.2".into())));
    // TestMergeNeighbors: each setting that must agree.
    let pair = |a: &str, b: &str| {
        run(&format!(
            "spec: {{bgp: {{routers: [{{asn: 65010, neighbors: [{{asn: 65011, address: 192.0.2.1, {a}}}]}}]}}}}\n---\nspec: {{bgp: {{routers: [{{asn: 65010, neighbors: [{{asn: 65011, address: 192.0.2.1, {b}}}]}}]}}}}\n"
        ))
    };
    refused_with(pair("port: 180", "port: 179"), &["port 179 differs from 180"]);
    assert!(pair("port: 179", "ebgpMultiHop: false").0.is_some(), "an unset port is 179");
    refused_with(pair("ebgpMultiHop: true", "ebgpMultiHop: false"), &["ebgpMultiHop"]);
    refused_with(pair("password: a", "password: b"), &["password differs"]);
    refused_with(pair("sourceaddress: 192.0.2.9", "port: 179"), &["source address"]);
    refused_with(
        pair("holdTime: 90s, keepaliveTime: 30s", "holdTime: 60s, keepaliveTime: 20s"),
        &["hold time 60s differs from 90s"],
    );
    assert!(pair("holdTime: 180s, keepaliveTime: 60s", "port: 179").0.is_some(), "FRR's defaults equal unset timers");
    refused_with(pair("connectTime: 5s", "port: 179"), &["connect time 60s differs from 5s"]);
    refused_with(pair("dualStackAddressFamily: true", "port: 179"), &["address families"]);
    refused(
        "spec: {bgp: {routers: [{asn: 65010, neighbors: [{dynamicASN: external, address: 192.0.2.1}]}]}}\n---\nspec: {bgp: {routers: [{asn: 65010, neighbors: [{asn: 65011, address: 192.0.2.1}]}]}}\n",
        &["AS 65011 differs from external"],
    );
    refused_with(pair("localASN: 65100", "localASN: 65101"), &["localASN 65101 differs from 65100"]);
    let c = pair("bfdProfile: ''", "enableGracefulRestart: true").0.expect("merged");
    assert!(c.routers[""].neighbors["192.0.2.1"].graceful_restart, "on if any object asks");
}

#[test]
fn merging_bfd_profiles_of_a_neighbor() {
    let cfg = |p: &str| {
        format!("spec: {{bgp: {{bfdProfiles: [{{name: {p}}}], routers: [{{asn: 65010, neighbors: [{{asn: 65011, address: 192.0.2.1, bfdProfile: {p}}}]}}]}}}}\n")
    };
    let plain = "spec: {bgp: {routers: [{asn: 65010, neighbors: [{asn: 65011, address: 192.0.2.1}]}]}}\n";
    let c = accepted(&format!("{plain}---\n{}", cfg("bfd1")));
    assert_eq!(c.routers[""].neighbors["192.0.2.1"].bfd_profile.as_ref().map(|p| p.as_str()), Some("bfd1"));
    refused(&format!("{}---\n{}", cfg("bfd1"), cfg("bfd2")), &["BFD profile bfd2 differs from bfd1"]);
}

#[test]
fn local_prefs_of_one_prefix_across_configs() {
    let cfg = |lp: u32| {
        format!(
            "spec: {{bgp: {{routers: [{{asn: 65010, prefixes: [192.0.2.0/24], neighbors: [{{asn: 65010, address: 192.0.2.1, toAdvertise: {{allowed: {{mode: all}}, withLocalPref: [{{localPref: {lp}, prefixes: [192.0.2.0/24]}}]}}}}]}}]}}}}\n"
        )
    };
    refused(
        &format!("{}---\n{}", cfg(100), cfg(200)),
        &["\"192.0.2.0/24\" has local preference 200 here and 100 in neighbor 192.0.2.1", "frr-k8s-system/a"],
    );
    let c = accepted(&format!("{}---\n{}", cfg(100), cfg(100)));
    assert_eq!(c.routers[""].neighbors["192.0.2.1"].outgoing.local_pref.len(), 1);
}

#[test]
fn allow_as_in_merges_to_the_least_restrictive_unless_none() {
    let pair = |a: &str, b: &str| {
        let (c, _) = run(&format!(
            "spec: {{bgp: {{routers: [{{asn: 65010, neighbors: [{{asn: 65011, address: 192.0.2.1, allowAsIn: '{a}'}}]}}]}}}}\n---\nspec: {{bgp: {{routers: [{{asn: 65010, neighbors: [{{asn: 65011, address: 192.0.2.1, allowAsIn: '{b}'}}]}}]}}}}\n"
        ));
        c.expect("merged").routers[""].neighbors["192.0.2.1"].allow_as_in
    };
    assert_eq!(pair("3", "5"), Some(AllowAsIn::Times(5)));
    assert_eq!(pair("origin", "2"), Some(AllowAsIn::Times(2)));
    assert_eq!(pair("origin", ""), Some(AllowAsIn::Origin));
    assert_eq!(pair("none", "5"), None, "none keeps it off");
    refused(
        "spec: {bgp: {routers: [{asn: 65010, neighbors: [{asn: 65011, address: 192.0.2.1, allowAsIn: '11'}]}]}}\n",
        &["allowAsIn", "want none, origin or 1-10"],
    );
}

#[test]
fn always_block_is_on_every_neighbor() {
    let (c, _) = run_with(
        "spec: {bgp: {routers: [{asn: 65040, neighbors: [{asn: 65041, address: 192.0.2.21, toReceive: {allowed: {mode: all}}}]}]}}\n",
        &[],
        &["192.168.1.0/24", "fc00:f853:ccd:e799::/64"],
    );
    let n = &c.expect("accepted").routers[""].neighbors["192.0.2.21"];
    let blocked: Vec<(String, Option<u8>)> = n.always_block.iter().map(|f| (f.prefix.text.clone(), f.le)).collect();
    assert_eq!(blocked, [("192.168.1.0/24".to_string(), Some(32)), ("fc00:f853:ccd:e799::/64".to_string(), Some(128))]);
}

#[test]
fn disable_mp_is_warned_and_errors_in_several_objects_are_all_reported() {
    let (c, problems) =
        run("spec: {bgp: {routers: [{asn: 65010, neighbors: [{asn: 65011, address: 192.0.2.1, disableMP: true}]}]}}\n");
    assert!(c.is_some());
    assert_eq!(problems.len(), 1);
    assert!(!problems[0].is_error() && problems[0].field.ends_with("disableMP"), "{problems:?}");
    let (c, problems) =
        run("spec: {bgp: {routers: [{asn: 1, id: nope}]}}\n---\nspec: {bgp: {routers: [{asn: 1, vrf: \"a b\"}]}}\n");
    assert!(c.is_none());
    let fields: Vec<(&str, &str)> = problems.iter().map(|p| (&*p.object.name, p.field.as_str())).collect();
    assert_eq!(fields, [("a", "spec.bgp.routers[0].id"), ("b", "spec.bgp.routers[0].vrf")]);
}

/// The rendered frr.conf of an accepted configuration.
fn rendered(yaml: &str) -> String {
    super::render::render(&accepted(yaml)).expect("renders")
}

/// `network P route-map fs-tag-N` lines: P → N.
fn network_tags(conf: &str) -> BTreeMap<String, String> {
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("network "))
        .filter_map(|l| l.split_once(" route-map fs-tag-"))
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

/// The lines of route-map `name`'s entries, each entry's lines joined by `; `.
fn entries(conf: &str, name: &str) -> Vec<String> {
    let head = format!("route-map {name} ");
    conf.split("\nexit\n")
        .map(|block| block.lines().skip_while(|l| !l.starts_with(&head)).map(str::trim).collect::<Vec<_>>())
        .filter(|lines| !lines.is_empty())
        .map(|lines| lines.join("; "))
        .collect()
}

#[test]
fn own_prefixes_are_tagged_classes_not_prefix_list_entries() {
    let conf = rendered(TWO_NEIGHBORS);
    // No prefix of the router's is a prefix-list entry; each is a network line with its class.
    assert!(!conf.lines().any(|l| l.contains("prefix-list") && l.contains(" permit 192.0.")), "{conf}");
    let tags = network_tags(&conf);
    assert_eq!(tags.len(), 4, "{conf}");
    // 192.0.2.0/24 and 192.0.3.0/24 go to both neighbors, the other two to .22 only.
    assert_eq!(tags["192.0.2.0/24"], tags["192.0.3.0/24"]);
    assert_eq!(tags["192.0.4.0/24"], tags["192.0.5.0/24"]);
    let (both, only22) = (&tags["192.0.2.0/24"], &tags["192.0.4.0/24"]);
    assert_ne!(both, only22);
    for t in [both, only22] {
        assert!(conf.contains(&format!("route-map fs-tag-{t} permit 10\n set tag {t}\nexit")), "{conf}");
    }
    let out21 = entries(&conf, "192.0.2.21-out");
    assert_eq!(out21[0], format!("route-map 192.0.2.21-out permit 1; match tag {both}"), "{out21:?}");
    assert!(!out21.iter().any(|e| e.contains(&format!("match tag {only22}"))), "{out21:?}");
    // Then frr-k8s's allowed lists, empty of the router's prefixes, as raw configs may name them.
    assert_eq!(out21[1], "route-map 192.0.2.21-out permit 2; match ip address prefix-list 192.0.2.21-allowed-ipv4");
    assert!(conf.contains("ip prefix-list 192.0.2.21-allowed-ipv4 seq 1 deny any"), "{conf}");
    let out22 = entries(&conf, "192.0.2.22-out");
    let tagged: Vec<&String> = out22.iter().filter(|e| e.contains("match tag")).collect();
    assert_eq!(tagged.len(), 2, "{out22:?}");
}

#[test]
fn classes_carry_each_neighbors_attributes_and_keep_their_tags() {
    let yaml = |extra: &str| {
        format!(
            "
spec:
  bgp:
    routers:
    - asn: 65040
      prefixes: [192.0.2.0/24, 192.0.3.0/24, 198.51.100.0/24{extra}]
      neighbors:
      - asn: 65041
        address: 192.0.2.21
        toAdvertise:
          allowed: {{mode: all}}
          withCommunity:
          - {{community: '10:100', prefixes: [192.0.2.0/24]}}
          - {{community: '65535:65281', prefixes: [192.0.2.0/24]}}
          - {{community: 'large:123:456:7890', prefixes: [192.0.2.0/24]}}
          withLocalPref:
          - {{localPref: 150, prefixes: [192.0.2.0/24]}}
      - asn: 65041
        address: 192.0.2.22
        toAdvertise:
          allowed: {{mode: all}}
          withCommunity:
          - {{community: '10:200', prefixes: [192.0.2.0/24, 192.0.3.0/24]}}
"
        )
    };
    let conf = rendered(&yaml(""));
    let tags = network_tags(&conf);
    let (a, b, c) = (&tags["192.0.2.0/24"], &tags["192.0.3.0/24"], &tags["198.51.100.0/24"]);
    assert!(a != b && b != c && a != c, "three classes: {tags:?}");
    let out21 = entries(&conf, "192.0.2.21-out");
    let entry = out21.iter().find(|e| e.contains(&format!("match tag {a}"))).expect("192.0.2.0/24's entry");
    // Communities sorted as FRR keeps them (numerically: 10:100 before no-export), all at once.
    assert!(
        entry.ends_with(&format!(
            "match tag {a}; set community 10:100 no-export additive; set large-community 123:456:7890 additive; set local-preference 150"
        )),
        "{entry}"
    );
    let out22 = entries(&conf, "192.0.2.22-out");
    let entry = out22.iter().find(|e| e.contains(&format!("match tag {a}"))).expect("entry");
    assert!(entry.ends_with(&format!("match tag {a}; set community 10:200 additive")), "{entry}");
    let entry = out22.iter().find(|e| e.contains(&format!("match tag {c}"))).expect("entry");
    assert!(entry.ends_with(&format!("match tag {c}")), "no attributes: {entry}");
    // A prefix joining an existing class moves no tag; a new class leaves the others' tags.
    let more = network_tags(&rendered(&yaml(", 198.51.100.128/25")));
    assert_eq!((&more["192.0.2.0/24"], &more["192.0.3.0/24"], &more["198.51.100.128/25"]), (a, b, c));
}

#[test]
fn a_prefix_no_neighbor_receives_is_a_plain_network_line() {
    let conf = rendered(
        "spec: {bgp: {routers: [{asn: 65010, prefixes: [192.0.2.0/24], neighbors: [{asn: 65011, address: 192.0.2.1}]}]}}\n",
    );
    assert!(conf.contains("\n  network 192.0.2.0/24\n"), "{conf}");
    assert!(!conf.contains("fs-tag"), "{conf}");
}
