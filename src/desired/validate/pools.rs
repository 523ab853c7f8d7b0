//! IPAddressPools: their ranges, as CIDRs, and whether they overlap or fit an aggregation length.

use super::*;

/// The CIDRs that exactly cover one range.
pub(super) fn range_cidrs(a: IpAddr, b: IpAddr) -> Vec<IpNet> {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) => Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect(),
        _ => Vec::new(),
    }
}

/// MetalLB's rule for an aggregation length over one entry of a pool (a CIDR, or a range that is
/// several CIDRs): refused when shorter than the entry's largest CIDR; otherwise accepted, with a
/// warning when the aggregates also cover addresses outside the entry (a range whose ends are not
/// aligned to the aggregation length).
pub(super) fn aggregation_over((a, b): (IpAddr, IpAddr), agg: u8) -> Result<Option<String>, String> {
    let cidrs = range_cidrs(a, b);
    let Some(largest) = cidrs.iter().map(IpNet::prefix_len).min() else { return Ok(None) };
    let entry = if cidrs.len() == 1 { cidrs[0].to_string() } else { format!("{a}-{b}") };
    if agg < largest {
        return Err(format!(
            "{agg} is shorter than {entry} (a /{largest} at its largest): the aggregate would cover addresses outside"
        ));
    }
    let first = IpNet::new(a, agg).map(|n| n.trunc()).map_err(|e| e.to_string())?;
    let last = IpNet::new(b, agg).map(|n| n.trunc()).map_err(|e| e.to_string())?;
    let mut outside = Vec::new();
    if first.network() < a {
        outside.push(format!("{}-{}", first.network(), pred(a)));
    }
    if last.broadcast() > b {
        outside.push(format!("{}-{}", succ(b), last.broadcast()));
    }
    Ok((!outside.is_empty())
        .then(|| format!("{agg} over {entry}: the aggregates also cover {}, outside", outside.join(" and "))))
}

pub(super) fn pred(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v) => IpAddr::V4(u32::from(v).saturating_sub(1).into()),
        IpAddr::V6(v) => IpAddr::V6(u128::from(v).saturating_sub(1).into()),
    }
}

pub(super) fn succ(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v) => IpAddr::V4(u32::from(v).saturating_add(1).into()),
        IpAddr::V6(v) => IpAddr::V6(u128::from(v).saturating_add(1).into()),
    }
}

/// The pools that pass `grammar::pool`; a pool overlapping an earlier one is an error (the
/// speaker could not tell which pool an address belongs to).
pub(super) fn valid_pools(pools: &[&Obj<IpAddressPoolSpec>], probs: &mut Problems) -> Vec<PoolConf> {
    let mut out: Vec<PoolConf> = Vec::new();
    for p in pools {
        let checked = match crate::grammar::pool::check(&p.spec) {
            Ok(c) => {
                for (field, msg) in &c.warnings {
                    probs.push(false, Problem::warning(Kind::IPAddressPool, &p.key, field.clone(), msg.clone()));
                }
                c
            }
            Err(list) => {
                for (field, msg) in list {
                    probs.push(true, Problem::error(Kind::IPAddressPool, &p.key, field, msg));
                }
                continue;
            }
        };
        for (a, b) in &checked.ranges {
            let other = out.iter().find(|o| o.ranges.iter().any(|(x, y)| ranges_overlap((*x, *y), (*a, *b))));
            if let Some(other) = other {
                let msg = format!("{a}-{b} overlaps IPAddressPool {}", other.key);
                probs.push(true, Problem::error(Kind::IPAddressPool, &p.key, "spec.addresses", msg));
            }
        }
        out.push(PoolConf { key: p.key.clone(), ranges: checked.ranges });
    }
    out
}
