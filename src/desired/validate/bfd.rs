//! BFDProfiles and the rule that echo mode needs an echo interval the peers can meet.

use super::*;

/// MetalLB: BFD echo mode cannot run on a session that carries IPv6 prefixes (FRR's echo is IPv4
/// only): an advertisement of a pool with IPv6 addresses to a peer whose BFD profile has echo
/// mode is refused.
pub(super) fn bfd_echo_rule(cfg: &ValidConfig, probs: &mut Problems) {
    for ad in &cfg.ads {
        let v6_pool = cfg.pools.iter().find(|p| ad.pools.contains(&p.key) && p.ranges.iter().any(|(a, _)| a.is_ipv6()));
        let Some(pool) = v6_pool else { continue };
        for p in cfg.peers.iter().filter(|p| ad.peers.is_empty() || ad.peers.contains(&p.name)) {
            let echo =
                p.neighbor.bfd_profile.as_ref().and_then(|b| cfg.profiles.get(b.as_str())).is_some_and(|b| b.echo_mode);
            if echo {
                let msg = format!(
                    "BFD echo mode cannot run with IPv6: BGPAdvertisement {} announces IPAddressPool {}'s IPv6 addresses to this peer",
                    ad.key, pool.key
                );
                probs.push(true, Problem::error(Kind::BGPPeer, &p.neighbor.peer, "spec.bfdProfile", msg));
            }
        }
    }
}

pub(super) fn bfd_profile(b: &Obj<BfdProfileSpec>) -> Result<BfdProfileConf, Vec<Problem>> {
    let mut f = Fields::new(Kind::BFDProfile, &b.key);
    let s = &b.spec;
    let name = f.check("metadata.name", ProfileName::parse(&b.key.name));
    // FRR's defaults: values equal to them are not written, as FRR does not show them.
    let mut range = |field: &str, v: Option<u32>, lo: u32, hi: u32, default: u32| -> Option<u32> {
        match v {
            Some(x) if x < lo || x > hi => {
                f.error(format!("spec.{field}"), format!("{x} is outside {lo}-{hi}"));
                None
            }
            Some(x) if x != default => Some(x),
            _ => None,
        }
    };
    use crate::model::core::bfd_defaults as d;
    let receive_interval = range("receiveInterval", s.receive_interval, 10, 60000, d::RECEIVE_INTERVAL);
    let transmit_interval = range("transmitInterval", s.transmit_interval, 10, 60000, d::TRANSMIT_INTERVAL);
    let detect_multiplier = range("detectMultiplier", s.detect_multiplier, 2, 255, d::DETECT_MULTIPLIER);
    let echo_interval = range("echoInterval", s.echo_interval, 10, 60000, d::ECHO_INTERVAL);
    let minimum_ttl = range("minimumTtl", s.minimum_ttl, 1, 254, d::MINIMUM_TTL);
    let conf = name.map(|name| BfdProfileConf {
        name,
        receive_interval,
        transmit_interval,
        detect_multiplier,
        echo_interval,
        minimum_ttl,
        echo_mode: s.echo_mode.unwrap_or(false),
        passive_mode: s.passive_mode.unwrap_or(false),
    });
    f.finish(conf).map(|(c, _)| c)
}
