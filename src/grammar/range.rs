//! Address ranges as IPAddressPools write them: a CIDR (`192.0.2.0/28`) or two addresses
//! (`192.0.2.10-192.0.2.20`), held as inclusive (first, last) pairs of one family.

use std::net::IpAddr;

use ipnet::IpNet;

use super::values::{excerpt, parse_unicast_ip};

/// Is `ip` in one of the inclusive `ranges` (of its own family)?
pub fn ranges_contain(ranges: &[(IpAddr, IpAddr)], ip: IpAddr) -> bool {
    ranges.iter().any(|(a, b)| a.is_ipv4() == ip.is_ipv4() && *a <= ip && ip <= *b)
}

/// Do two inclusive ranges share an address?
pub fn ranges_overlap((a, b): (IpAddr, IpAddr), (c, d): (IpAddr, IpAddr)) -> bool {
    a.is_ipv4() == c.is_ipv4() && a <= d && c <= b
}

/// `192.0.2.0/28` or `192.0.2.10-192.0.2.20` (spaces around `-` allowed). A CIDR with host bits
/// (`192.0.2.7/24`) is its network, as MetalLB reads it: the second value says so.
pub fn parse_range(s: &str) -> Result<((IpAddr, IpAddr), Option<String>), String> {
    if let Some((a, b)) = s.split_once('-') {
        let (Ok(a), Ok(b)) = (parse_unicast_ip(a.trim()), parse_unicast_ip(b.trim())) else {
            return Err(format!("{:?} is neither a CIDR nor a range of two addresses", excerpt(s)));
        };
        if a.is_ipv4() != b.is_ipv4() {
            return Err(format!("range {:?} mixes IPv4 and IPv6", excerpt(s)));
        }
        if a > b {
            return Err(format!("range {:?} ends before it starts", excerpt(s)));
        }
        return Ok(((a, b), None));
    }
    let net: IpNet = s.trim().parse().map_err(|_| format!("{:?} is neither a CIDR nor an a-b range", excerpt(s)))?;
    if let IpNet::V6(v6) = net {
        if v6.addr().to_ipv4_mapped().is_some() && v6.prefix_len() >= 96 {
            return Err(format!("{s:?} is an IPv4-mapped IPv6 prefix: write the IPv4 CIDR"));
        }
    }
    let note = (net.trunc() != net).then(|| {
        format!("{:?} has host bits set: the pool holds all of {} (as MetalLB reads it)", excerpt(s), net.trunc())
    });
    Ok(((net.network(), net.broadcast()), note))
}
