//! BGPAdvertisements: their pools, communities (aliases resolved), aggregation lengths, and
//! the pools only an L2Advertisement announces.

use super::*;

/// Community aliases: name -> value, or the reason it is unusable. Problems are warnings on a node
/// (an alias matters only where an advertisement uses it, which then reports it), errors for the
/// whole cluster (`strict`: MetalLB refuses an invalid or twice-defined alias).
pub(super) fn community_aliases(
    comms: &[&Obj<crate::model::crds::CommunitySpec>],
    strict: bool,
    probs: &mut Problems,
) -> BTreeMap<String, Result<CommunityValue, String>> {
    let mut aliases: BTreeMap<String, Result<CommunityValue, String>> = BTreeMap::new();
    for c in comms {
        for (i, a) in c.spec.communities.iter().enumerate() {
            let field = format!("spec.communities[{i}]");
            let parsed = CommunityValue::parse(&a.value);
            if let Err(e) = &parsed {
                probs.push(strict, Problem::error(Kind::Community, &c.key, format!("{field}.value"), e.clone()));
            }
            if let Err(e) = values::check_alias_name(&a.name) {
                probs.push(strict, Problem::error(Kind::Community, &c.key, format!("{field}.name"), e.clone()));
                aliases.insert(a.name.clone(), Err(e));
                continue;
            }
            if aliases.contains_key(&a.name) {
                let msg = format!("alias {:?} is defined more than once", excerpt(&a.name));
                probs.push(strict, Problem::error(Kind::Community, &c.key, format!("{field}.name"), msg.clone()));
                aliases.insert(a.name.clone(), Err(msg));
            } else {
                aliases.insert(
                    a.name.clone(),
                    parsed.map_err(|e| format!("alias {:?} has an invalid value: {e}", excerpt(&a.name))),
                );
            }
        }
    }
    aliases
}

/// What an advertisement refers to.
pub(super) struct AdRefs<'a> {
    pub(super) pools_in_ns: &'a [&'a Obj<IpAddressPoolSpec>],
    pub(super) valid_pools: &'a [PoolConf],
    pub(super) aliases: &'a BTreeMap<String, Result<CommunityValue, String>>,
    pub(super) peers: &'a BTreeMap<ObjKey, Obj<BgpPeerSpec>>,
    pub(super) ns: &'a str,
}

/// A checked advertisement and its warnings (pools or peers it names that do not exist).
pub(super) fn advertisement(
    a: &Obj<BgpAdvertisementSpec>,
    refs: &AdRefs,
) -> Result<(AdConf, Vec<Problem>), Vec<Problem>> {
    let s = &a.spec;
    let mut f = Fields::new(Kind::BGPAdvertisement, &a.key);
    let agg_v4 = aggregation_length(&mut f, "spec.aggregationLength", s.aggregation_length, 32);
    let agg_v6 = aggregation_length(&mut f, "spec.aggregationLengthV6", s.aggregation_length_v6, 128);
    let communities = communities(s, refs.aliases, &mut f);
    for (field, sels) in
        [("spec.serviceSelectors", &s.service_selectors), ("spec.ipAddressPoolSelectors", &s.ip_address_pool_selectors)]
    {
        if let Err((i, e)) = any_matches(sels, &BTreeMap::new()) {
            f.error(format!("{field}[{i}]"), e);
        }
    }
    let pools = selected_pools(&s.ip_address_pools, &s.ip_address_pool_selectors, refs.pools_in_ns);
    // MetalLB: serviceSelectors and a non-default aggregation length are mutually exclusive.
    if !s.service_selectors.is_empty() {
        for (field, agg, host) in [("spec.aggregationLength", agg_v4, 32), ("spec.aggregationLengthV6", agg_v6, 128)] {
            if agg != host {
                f.error(
                    field,
                    format!("{agg}: serviceSelectors and a non-default aggregation length are mutually exclusive"),
                );
            }
        }
    }
    // An aggregate shorter than a pool's entries would cover addresses outside the pool.
    for pc in refs.valid_pools.iter().filter(|pc| pools.contains(&pc.key)) {
        for &(a, b) in &pc.ranges {
            let (agg, field) =
                if a.is_ipv4() { (agg_v4, "spec.aggregationLength") } else { (agg_v6, "spec.aggregationLengthV6") };
            match aggregation_over((a, b), agg) {
                Ok(None) => {}
                Ok(Some(note)) => f.warning(field, format!("{note} of IPAddressPool {}", pc.key)),
                Err(e) => f.error(field, format!("{e} of IPAddressPool {}", pc.key)),
            }
        }
    }
    for (field, list) in
        [("spec.ipAddressPools", &s.ip_address_pools), ("spec.communities", &s.communities), ("spec.peers", &s.peers)]
    {
        for (i, v) in list.iter().enumerate() {
            if list[..i].contains(v) {
                f.error(format!("{field}[{i}]"), format!("{:?} is listed twice", excerpt(v)));
            }
        }
    }
    for name in &s.ip_address_pools {
        if !refs.pools_in_ns.iter().any(|p| *p.key.name == **name) {
            f.warning("spec.ipAddressPools", format!("IPAddressPool {:?} not found", excerpt(name)));
        }
    }
    for name in &s.peers {
        if !refs.peers.contains_key(&ObjKey::new(refs.ns, name.clone())) {
            f.warning("spec.peers", format!("BGPPeer {:?} not found", excerpt(name)));
        }
    }
    let conf = AdConf {
        key: a.key.clone(),
        agg_v4,
        agg_v6,
        local_pref: s.local_pref,
        communities,
        pools,
        peers: s.peers.clone(),
        service_selectors: s.service_selectors.clone(),
    };
    f.finish(Some(conf))
}

/// An aggregation length within 0..=`max` (the host length when unset).
pub(super) fn aggregation_length(f: &mut Fields, field: &str, v: Option<i32>, max: u8) -> u8 {
    match v {
        None => max,
        Some(x) if (0..=max as i32).contains(&x) => x as u8,
        Some(x) => {
            f.error(field, format!("{x} is outside 0-{max}"));
            max
        }
    }
}

/// The advertisement's communities: values, or names of Community aliases.
pub(super) fn communities(
    s: &BgpAdvertisementSpec,
    aliases: &BTreeMap<String, Result<CommunityValue, String>>,
    f: &mut Fields,
) -> BTreeSet<CommunityValue> {
    let mut out = BTreeSet::new();
    for (i, c) in s.communities.iter().enumerate() {
        let looks_numeric = c.starts_with("large:") || c.bytes().next().is_some_and(|b| b.is_ascii_digit());
        let v = if looks_numeric {
            CommunityValue::parse(c)
        } else {
            aliases.get(c).cloned().unwrap_or_else(|| {
                Err(format!(
                    "{:?} is neither a community value nor the name of an alias in a Community object",
                    excerpt(c)
                ))
            })
        };
        if let Some(v) = f.check(&format!("spec.communities[{i}]"), v) {
            out.insert(v);
        }
    }
    if out.len() > MAX_COMMUNITIES {
        f.error("spec.communities", format!("{} communities: at most {MAX_COMMUNITIES}", out.len()));
    }
    out
}

/// Selected pools: by name and by label; all of them when neither is given (BGP and L2
/// advertisements select pools alike).
pub(super) fn selected_pools(
    names: &[String],
    selectors: &[LabelSelector],
    pools_in_ns: &[&Obj<IpAddressPoolSpec>],
) -> BTreeSet<ObjKey> {
    let by_name: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let all = by_name.is_empty() && selectors.is_empty();
    pools_in_ns
        .iter()
        .filter(|p| {
            let by_label = !selectors.is_empty() && any_matches(selectors, &p.labels).unwrap_or(false);
            all || by_name.contains(&*p.key.name) || by_label
        })
        .map(|p| p.key.clone())
        .collect()
}

/// Pools that an L2Advertisement selects and no BGPAdvertisement does (on any node): their
/// addresses are allocated, but frr-speaker (BGP only) announces them nowhere. Pool → the first
/// L2Advertisement selecting it. Each gets a warning on the pool here and on each of its
/// Services in `desired` (an Event in Kubernetes mode).
pub(super) fn l2_only_pools(
    snap: &Snapshot,
    ns: &str,
    pools_in_ns: &[&Obj<IpAddressPoolSpec>],
    probs: &mut Problems,
) -> BTreeMap<ObjKey, ObjKey> {
    let bgp: BTreeSet<ObjKey> = snap
        .advertisements
        .values()
        .filter(|a| *a.key.namespace == *ns)
        .flat_map(|a| selected_pools(&a.spec.ip_address_pools, &a.spec.ip_address_pool_selectors, pools_in_ns))
        .collect();
    let mut out: BTreeMap<ObjKey, ObjKey> = BTreeMap::new();
    for l2 in snap.l2_advertisements.values().filter(|a| *a.key.namespace == *ns) {
        for pool in selected_pools(&l2.spec.ip_address_pools, &l2.spec.ip_address_pool_selectors, pools_in_ns) {
            if !bgp.contains(&pool) {
                out.entry(pool).or_insert_with(|| l2.key.clone());
            }
        }
    }
    for (pool, l2) in &out {
        let msg = format!(
            "selected only by L2Advertisement {} (layer 2 mode, which frr-speaker does not do) and by no BGPAdvertisement: its Services are announced by nobody",
            l2.name
        );
        probs.push(true, Problem::warning(Kind::IPAddressPool, pool, "metadata.name", msg));
    }
    out
}
