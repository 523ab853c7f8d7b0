//! The IP allocator of `frr-speaker controller`, with MetalLB's semantics: which pool a Service
//! may take addresses from, which addresses it asks for, when two Services may share one. Pure: no
//! I/O (the Kubernetes side is `controller`).
//!
//! An `Allocator` is built from the pools and fed Services one by one (`assign`, `release`). A
//! Service that already holds addresses (its `status.loadBalancer.ingress`) keeps them while they
//! stay valid, so assignments survive controller restarts and pool edits; a full pass feeds the
//! Services holding addresses first, oldest first, so that an address claimed twice goes to the
//! older Service and is never taken from a Service that uses it.

pub mod controller;
pub mod request;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use crate::grammar::pool::{self, Allocation, FieldError};
use crate::grammar::range::{ranges_contain, ranges_overlap};
use crate::grammar::selector;
use crate::model::core::ObjKey;
use crate::model::crds::IpAddressPool;

pub use request::{request_for, Families, Request, LOAD_BALANCER_IPS, SHARED_IP};

/// A validated IPAddressPool.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub name: String,
    pub ranges: Vec<(IpAddr, IpAddr)>,
    pub auto_assign: bool,
    pub avoid_buggy_ips: bool,
    pub allocation: Option<Allocation>,
}

impl Pool {
    /// Validate a pool object (`grammar::pool`, as the speaker does); the errors name the field.
    pub fn from_object(p: &IpAddressPool) -> Result<Pool, Vec<FieldError>> {
        let c = pool::check(&p.spec)?;
        Ok(Pool {
            name: p.metadata.name.clone().unwrap_or_default(),
            ranges: c.ranges,
            auto_assign: c.auto_assign,
            avoid_buggy_ips: c.avoid_buggy_ips,
            allocation: c.allocation,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ranges_contain(&self.ranges, ip)
    }

    /// An address this pool may hand out (inside it, and not .0/.255 when it avoids those).
    pub fn usable(&self, ip: IpAddr) -> bool {
        self.contains(ip) && !(self.avoid_buggy_ips && buggy(ip))
    }

    fn overlaps(&self, other: &Pool) -> bool {
        self.ranges.iter().any(|r| other.ranges.iter().any(|o| ranges_overlap(*r, *o)))
    }

    /// May `req`'s Service use this pool (its serviceAllocation namespaces and selectors)?
    fn allows(&self, req: &Request) -> bool {
        let Some(a) = &self.allocation else { return true };
        let ns_open = a.namespaces.is_empty() && a.namespace_selectors.is_empty();
        let ns_ok = ns_open
            || a.namespaces.iter().any(|n| **n == *req.key.namespace)
            || (!a.namespace_selectors.is_empty()
                && selector::any_matches(&a.namespace_selectors, &req.namespace_labels).unwrap_or(false));
        ns_ok && selector::any_matches(&a.service_selectors, &req.labels).unwrap_or(false)
    }

    /// The ranges of one family, as numbers.
    fn family(&self, v4: bool) -> impl Iterator<Item = (u128, u128)> + '_ {
        self.ranges.iter().filter(move |(a, _)| a.is_ipv4() == v4).map(|(a, b)| (num(*a), num(*b)))
    }

    /// Addresses of one family, before the buggy-IP filter.
    fn span(&self, v4: bool) -> u128 {
        self.family(v4).fold(0u128, |s, (a, b)| s.saturating_add(len(a, b)))
    }

    /// Usable addresses of one family (saturating: ::/0 counts as u128::MAX).
    pub fn size(&self, v4: bool) -> u128 {
        let buggy = if v4 && self.avoid_buggy_ips {
            self.family(v4).map(|(a, b)| count_mod256(a, b, 0) + count_mod256(a, b, 255)).sum()
        } else {
            0
        };
        self.span(v4) - buggy
    }

    /// The `offset`-th address of one family (ranges in order), before the buggy-IP filter.
    fn nth(&self, v4: bool, mut offset: u128) -> Option<IpAddr> {
        for (a, b) in self.family(v4) {
            if offset < len(a, b) {
                return Some(from_num(a + offset, v4));
            }
            offset -= len(a, b);
        }
        None
    }

    /// Inverse of `nth`.
    fn offset(&self, v4: bool, ip: IpAddr) -> Option<u128> {
        let (n, mut acc) = (num(ip), 0u128);
        for (a, b) in self.family(v4) {
            if a <= n && n <= b {
                return Some(acc + n - a);
            }
            acc = acc.saturating_add(len(a, b));
        }
        None
    }
}

/// Addresses in [a, b], saturating (the whole IPv6 space has one more than u128::MAX).
fn len(a: u128, b: u128) -> u128 {
    (b - a).saturating_add(1)
}

fn num(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_num(n: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4((n as u32).into())
    } else {
        IpAddr::V6(n.into())
    }
}

/// How many x in [a, b] have x % 256 == r.
fn count_mod256(a: u128, b: u128, r: u128) -> u128 {
    let upto = |x: u128| if x < r { 0 } else { (x - r) / 256 + 1 };
    upto(b) - if a == 0 { 0 } else { upto(a - 1) }
}

fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

/// An IPv4 address ending in .0 or .255 (some old clients treat them as broadcast).
pub fn buggy(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(a) if matches!(a.octets()[3], 0 | 255))
}

/// What a Service holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assigned {
    pub pool: String,
    pub ips: Vec<IpAddr>,
}

/// Why a Service got no addresses. The text is what the Event says.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    #[error("{0}")]
    Invalid(String),
    #[error("pool {0:?} does not exist")]
    UnknownPool(String),
    #[error("no available IPs in pool {0:?}")]
    PoolExhausted(String),
    #[error("no available IPs{0}")]
    NoneAvailable(String),
    #[error("{ip} is not in any IPAddressPool this Service may use")]
    NotInPool { ip: IpAddr },
    #[error("{ip} is already in use by {other}{why}")]
    InUse { ip: IpAddr, other: String, why: String },
}

/// A Service on an address, with what decides whether another may share it.
#[derive(Clone, Debug)]
struct Holder {
    key: ObjKey,
    sharing: Option<String>,
    ports: Vec<(String, i32)>,
    etp_local: bool,
    selector: BTreeMap<String, String>,
}

impl Holder {
    fn of(req: &Request) -> Holder {
        Holder {
            key: req.key.clone(),
            sharing: req.sharing.clone(),
            ports: req.ports.clone(),
            etp_local: req.etp_local,
            selector: req.selector.clone(),
        }
    }

    /// Why `req` may not share this holder's address (None: it may). MetalLB's rules: the same
    /// sharing key, no protocol+port used by both, and both externalTrafficPolicy Cluster or both
    /// Local with the same pod selector (so the same nodes announce it).
    fn conflict(&self, req: &Request) -> Option<String> {
        let mine = self.sharing.as_deref();
        match (mine, req.sharing.as_deref()) {
            (Some(a), Some(b)) if a == b => {}
            (Some(_), Some(_)) => return Some(" (different metallb.io/allow-shared-ip keys)".into()),
            _ => return Some(String::new()),
        }
        if let Some((proto, port)) = self.ports.iter().find(|p| req.ports.contains(p)) {
            return Some(format!(" (both use {proto} port {port})"));
        }
        if self.etp_local != req.etp_local {
            return Some(" (externalTrafficPolicy differs)".into());
        }
        if self.etp_local && self.selector != req.selector {
            return Some(" (externalTrafficPolicy Local with different pod selectors)".into());
        }
        None
    }
}

/// Usage of one pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub assigned_v4: u64,
    pub assigned_v6: u64,
    pub available_v4: u64,
    pub available_v6: u64,
}

/// The address book: pools, and who holds which address.
#[derive(Default)]
pub struct Allocator {
    pools: Vec<Pool>,
    /// Pools left out, with the field at fault and why.
    pub invalid: Vec<(String, String, String)>,
    by_ip: HashMap<IpAddr, Vec<Holder>>,
    by_svc: HashMap<ObjKey, Assigned>,
    /// Addresses held under each sharing key (where a Service with that key looks first).
    by_key: HashMap<String, BTreeSet<IpAddr>>,
    /// Where the next search for a free address starts, per (pool, IPv4?).
    cursors: HashMap<(usize, bool), u128>,
}

impl Allocator {
    /// Pools in name order; one that overlaps an earlier pool is left out (and listed in `invalid`).
    pub fn new(mut pools: Vec<Pool>) -> Allocator {
        pools.sort_by(|a, b| a.name.cmp(&b.name));
        let mut kept: Vec<Pool> = Vec::new();
        let mut invalid = Vec::new();
        for p in pools {
            if let Some(o) = kept.iter().find(|k| k.overlaps(&p)) {
                invalid.push((p.name.clone(), "spec.addresses".into(), format!("overlaps IPAddressPool {:?}", o.name)));
            } else {
                kept.push(p);
            }
        }
        Allocator { pools: kept, invalid, ..Default::default() }
    }

    pub fn pools(&self) -> &[Pool] {
        &self.pools
    }

    pub fn assigned(&self, key: &ObjKey) -> Option<&Assigned> {
        self.by_svc.get(key)
    }

    /// Forget what `key` holds.
    pub fn release(&mut self, key: &ObjKey) {
        if let Some(a) = self.by_svc.remove(key) {
            for ip in a.ips {
                if let Some(hs) = self.by_ip.get_mut(&ip) {
                    let sharing = hs.iter().find(|h| h.key == *key).and_then(|h| h.sharing.clone());
                    hs.retain(|h| h.key != *key);
                    if let Some(k) = sharing {
                        if !hs.iter().any(|h| h.sharing.as_ref() == Some(&k)) {
                            if let Some(set) = self.by_key.get_mut(&k) {
                                set.remove(&ip);
                                if set.is_empty() {
                                    self.by_key.remove(&k);
                                }
                            }
                        }
                    }
                    if hs.is_empty() {
                        self.by_ip.remove(&ip);
                    }
                }
            }
        }
    }

    /// Give `req`'s Service its addresses: the ones it asks for, else the ones it holds while
    /// still valid, else free (or shareable) ones from the first pool that has them.
    ///
    /// What this allocator gave the Service before counts first, its status second: the status
    /// read back may predate the allocator's own write.
    pub fn assign(&mut self, req: &Request) -> Result<Assigned, AllocError> {
        let held = self.by_svc.get(&req.key).map(|a| a.ips.clone());
        self.release(&req.key);
        if let Some(e) = &req.invalid {
            return Err(AllocError::Invalid(e.clone()));
        }
        let candidates = self.candidates(req)?;
        let result = if !req.requested.is_empty() {
            self.take_given(req, &req.requested, &candidates)
        } else if let Some(a) =
            held.into_iter().chain([req.current.clone()]).find_map(|ips| self.keep_current(req, &ips, &candidates).ok())
        {
            Ok(a)
        } else {
            self.take_free(req, &candidates)
        };
        let a = result?;
        self.hold(req, &a);
        Ok(a)
    }

    /// A full pass over `reqs` (in the order given: oldest first). First every Service that holds
    /// valid addresses keeps them, then the others get theirs: a Service whose address left the
    /// pool never takes one that a later Service in the list still holds.
    pub fn assign_all(&mut self, reqs: &[Request]) -> Vec<Result<Assigned, AllocError>> {
        let mut out: Vec<Option<Result<Assigned, AllocError>>> = vec![None; reqs.len()];
        for (i, req) in reqs.iter().enumerate() {
            if req.invalid.is_some() || req.current.is_empty() {
                continue;
            }
            if !req.requested.is_empty() && !same_set(&req.requested, &req.current) {
                continue;
            }
            self.release(&req.key);
            let Ok(candidates) = self.candidates(req) else { continue };
            if let Ok(a) = self.keep_current(req, &req.current, &candidates) {
                self.hold(req, &a);
                out[i] = Some(Ok(a));
            }
        }
        for (i, req) in reqs.iter().enumerate() {
            if out[i].is_none() {
                out[i] = Some(self.assign(req));
            }
        }
        out.into_iter().map(|o| o.unwrap_or_else(|| Err(AllocError::Invalid("not assigned".into())))).collect()
    }

    fn hold(&mut self, req: &Request, a: &Assigned) {
        for ip in &a.ips {
            self.by_ip.entry(*ip).or_default().push(Holder::of(req));
            if let Some(k) = &req.sharing {
                self.by_key.entry(k.clone()).or_default().insert(*ip);
            }
        }
        self.by_svc.insert(req.key.clone(), a.clone());
    }

    /// Pools the Service may use, best first: the named one; else those whose serviceAllocation
    /// selects it by priority (lower first, unset last), then those without serviceAllocation.
    fn candidates(&self, req: &Request) -> Result<Vec<usize>, AllocError> {
        if let Some(name) = &req.pool {
            let i = self
                .pools
                .iter()
                .position(|p| p.name == *name)
                .ok_or_else(|| AllocError::UnknownPool(crate::grammar::values::excerpt(name)))?;
            return Ok(vec![i]);
        }
        let mut c: Vec<usize> = (0..self.pools.len()).filter(|&i| self.pools[i].allows(req)).collect();
        c.sort_by_key(|&i| match &self.pools[i].allocation {
            Some(a) => (0, a.priority.unwrap_or(i32::MAX)),
            None => (1, 0),
        });
        Ok(c)
    }

    fn check_free(&self, ip: IpAddr, req: &Request) -> Result<(), AllocError> {
        for h in self.by_ip.get(&ip).into_iter().flatten() {
            if let Some(why) = h.conflict(req) {
                return Err(AllocError::InUse { ip, other: h.key.to_string(), why });
            }
        }
        Ok(())
    }

    fn take_given(&self, req: &Request, ips: &[IpAddr], candidates: &[usize]) -> Result<Assigned, AllocError> {
        let mut pool = None;
        for ip in ips {
            let Some(&i) = candidates.iter().find(|&&i| self.pools[i].usable(*ip)) else {
                return Err(AllocError::NotInPool { ip: *ip });
            };
            self.check_free(*ip, req)?;
            pool.get_or_insert(i);
        }
        let i = pool.ok_or_else(|| AllocError::Invalid("no addresses".into()))?;
        Ok(Assigned { pool: self.pools[i].name.clone(), ips: ips.to_vec() })
    }

    /// The addresses the Service holds, if they are still valid for it.
    fn keep_current(&self, req: &Request, current: &[IpAddr], candidates: &[usize]) -> Result<Assigned, AllocError> {
        if current.is_empty() || !req.families.accepts(current) {
            return Err(AllocError::Invalid("nothing to keep".into()));
        }
        let a = self.take_given(req, current, candidates)?;
        // All from one pool (a dual-stack Service's two addresses come from the same pool).
        let one_pool = current.iter().all(|ip| self.pools.iter().any(|p| p.name == a.pool && p.usable(*ip)));
        if one_pool {
            Ok(a)
        } else {
            Err(AllocError::Invalid("addresses from different pools".into()))
        }
    }

    fn take_free(&mut self, req: &Request, candidates: &[usize]) -> Result<Assigned, AllocError> {
        let auto: Vec<usize> =
            candidates.iter().copied().filter(|&i| req.pool.is_some() || self.pools[i].auto_assign).collect();
        for option in req.families.options() {
            for &i in &auto {
                let mut ips = Vec::new();
                for &v4 in &option {
                    match self.find(i, v4, req) {
                        Some(ip) => ips.push(ip),
                        None => break,
                    }
                }
                if ips.len() == option.len() {
                    for (&v4, ip) in option.iter().zip(&ips) {
                        // A fresh address moves the cursor on; a shared one does not.
                        if !self.by_ip.contains_key(ip) {
                            if let Some(off) = self.pools[i].offset(v4, *ip) {
                                self.cursors.insert((i, v4), off.saturating_add(1));
                            }
                        }
                    }
                    return Ok(Assigned { pool: self.pools[i].name.clone(), ips });
                }
            }
        }
        Err(match (&req.pool, auto.as_slice()) {
            (Some(name), _) => AllocError::PoolExhausted(crate::grammar::values::excerpt(name)),
            (None, [i]) => AllocError::PoolExhausted(self.pools[*i].name.clone()),
            (None, []) => AllocError::NoneAvailable(": no IPAddressPool with autoAssign may serve this Service".into()),
            (None, _) => AllocError::NoneAvailable(String::new()),
        })
    }

    /// An address of pool `i` for `req`: one it can share (same sharing key, compatible), else
    /// the first free one from the pool's cursor on.
    fn find(&self, i: usize, v4: bool, req: &Request) -> Option<IpAddr> {
        let p = &self.pools[i];
        if let Some(key) = &req.sharing {
            // Addresses in order: the lowest one this Service may share.
            let shared = self.by_key.get(key).into_iter().flatten().find(|ip| {
                ip.is_ipv4() == v4
                    && p.usable(**ip)
                    && self.by_ip.get(ip).into_iter().flatten().all(|h| h.conflict(req).is_none())
            });
            if let Some(ip) = shared {
                return Some(*ip);
            }
        }
        let span = p.span(v4);
        let start = self.cursors.get(&(i, v4)).copied().unwrap_or(0) % span.max(1);
        let mut k: u128 = 0;
        while k < span {
            // (start + k) mod span, without overflowing near u128::MAX.
            let off = if k >= span - start { k - (span - start) } else { start + k };
            k += 1;
            let ip = p.nth(v4, off)?;
            if p.avoid_buggy_ips && buggy(ip) {
                continue;
            }
            if !self.by_ip.contains_key(&ip) {
                return Some(ip);
            }
        }
        None
    }

    /// Usage of every pool (addresses held by at least one Service, and those left).
    pub fn stats(&self) -> BTreeMap<String, PoolStats> {
        let mut out: BTreeMap<String, PoolStats> = BTreeMap::new();
        for p in &self.pools {
            out.insert(p.name.clone(), PoolStats::default());
        }
        for ip in self.by_ip.keys() {
            if let Some(p) = self.pools.iter().find(|p| p.contains(*ip)) {
                let s = out.entry(p.name.clone()).or_default();
                if ip.is_ipv4() {
                    s.assigned_v4 += 1;
                } else {
                    s.assigned_v6 += 1;
                }
            }
        }
        for p in &self.pools {
            if let Some(s) = out.get_mut(&p.name) {
                // Counts are int64 in the API: an IPv6 /64 shows as i64::MAX.
                let cap = |n: u128| n.min(i64::MAX as u128) as u64;
                s.available_v4 = cap(p.size(true).saturating_sub(s.assigned_v4 as u128));
                s.available_v6 = cap(p.size(false).saturating_sub(s.assigned_v6 as u128));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
