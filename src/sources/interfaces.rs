//! This node's directly connected networks, read from its interfaces (for the rule that an eBGP
//! peer off every connected network needs ebgpMultiHop).

use ipnet::IpNet;

/// The networks of every address on this host's interfaces; `None` if they cannot be read.
pub fn connected_networks() -> Option<Vec<IpNet>> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    let mut nets = Vec::new();
    for a in addrs {
        let (Some(addr), Some(mask)) = (a.address, a.netmask) else { continue };
        if let (Some(ip), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
            let len = u32::from(m.ip()).count_ones() as u8;
            nets.extend(IpNet::new(ip.ip().into(), len).ok().map(|n| n.trunc()));
        } else if let (Some(ip), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
            let len = u128::from(m.ip()).count_ones() as u8;
            nets.extend(IpNet::new(ip.ip().into(), len).ok().map(|n| n.trunc()));
        }
    }
    Some(nets)
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_is_connected() {
        let nets = super::connected_networks().expect("interfaces readable");
        let lo: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
        assert!(nets.iter().any(|n| n.contains(&lo)), "{nets:?}");
    }
}
