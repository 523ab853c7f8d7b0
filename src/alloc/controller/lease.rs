//! Leader election on a coordination.k8s.io Lease, and the tenure that says whether this replica
//! may still write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
use tracing::{debug, info, warn};

use super::ControllerConfig;

/// How long this replica may still write: until its last successful renewal (counted from when the
/// request was sent) plus the renew deadline, which is shorter than the lease duration another
/// replica waits before taking over. After a pause (a stopped process, a stalled machine) the
/// tenure has lapsed before the renew loop runs again: writes wait, and the renewal either
/// succeeds or ends the process.
pub struct Tenure {
    base: Instant,
    renewed_ms: AtomicU64,
    deadline: Duration,
}

impl Tenure {
    pub fn new(deadline: Duration) -> Tenure {
        Tenure { base: Instant::now(), renewed_ms: AtomicU64::new(0), deadline }
    }

    pub fn renewed(&self, sent: Instant) {
        let ms = sent.saturating_duration_since(self.base).as_millis() as u64;
        self.renewed_ms.fetch_max(ms, Ordering::SeqCst);
    }

    pub fn valid(&self) -> bool {
        self.valid_at(Instant::now())
    }

    /// May this replica write at `now`?
    fn valid_at(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.base)
            < Duration::from_millis(self.renewed_ms.load(Ordering::SeqCst)) + self.deadline
    }

    /// Wait until writing is allowed (the renew loop ends the process if it never is again).
    pub(super) async fn wait(&self) {
        let mut held = crate::streak::Streak::default();
        while !self.valid() {
            if held.began() {
                warn!("lease not renewed within the renew deadline: holding writes");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Leader election on a Lease, judged by local time: a lease whose record has not changed for its
/// duration, as this replica has watched it, is free (clock skew between nodes does not matter).
pub(super) struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    observed: Option<(Option<String>, Option<MicroTime>)>,
    observed_at: Instant,
}

/// Now, at the precision the apiserver stores (microseconds): a time read back equals the time
/// written, which is how a repeated request's first sending is recognised (`landed`).
fn now_micro() -> MicroTime {
    use k8s_openapi::jiff::Timestamp;
    let now = Timestamp::now();
    MicroTime(Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now))
}

impl Elector {
    pub(super) fn new(client: &Client, cfg: &ControllerConfig) -> Elector {
        Elector {
            api: Api::namespaced(client.clone(), &cfg.namespace),
            name: cfg.lease_name.clone(),
            identity: cfg.identity.clone(),
            duration: cfg.lease_duration,
            observed: None,
            observed_at: Instant::now(),
        }
    }

    /// Take the lease if it is free or ours, and renew it; false while another replica holds it.
    pub(super) async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let secs = self.duration.as_secs().max(1) as i32;
        let Some(lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.name.clone()), ..Default::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(now_micro()),
                    renew_time: Some(now_micro()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => self.landed(lease.spec.as_ref()).await,
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (holder.clone(), spec.renew_time.clone());
        if self.observed.as_ref() != Some(&record) {
            self.observed = Some(record);
            self.observed_at = Instant::now();
        }
        let mine = holder.as_deref() == Some(self.identity.as_str());
        let their_duration = Duration::from_secs(spec.lease_duration_seconds.unwrap_or(secs).max(1) as u64);
        if holder.is_some() && !mine && self.observed_at.elapsed() < their_duration {
            return Ok(false);
        }
        let mut next = lease.clone();
        next.spec = Some(LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(secs),
            acquire_time: if mine { spec.acquire_time.clone() } else { Some(now_micro()) },
            renew_time: Some(now_micro()),
            lease_transitions: Some(spec.lease_transitions.unwrap_or(0) + i32::from(!mine)),
            ..spec
        });
        // replace carries the resourceVersion read above: two replicas racing, one wins.
        match self.api.replace(&self.name, &PostParams::default(), &next).await {
            Ok(l) => {
                let s = l.spec.unwrap_or_default();
                self.observed = Some((s.holder_identity, s.renew_time));
                self.observed_at = Instant::now();
                if !mine {
                    info!(identity = %self.identity, "took the lease");
                }
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let ours = self.landed(next.spec.as_ref()).await?;
                if ours && !mine {
                    info!(identity = %self.identity, "took the lease");
                }
                Ok(ours)
            }
            Err(e) => Err(e),
        }
    }

    /// A create or replace answered 409 Conflict: another replica wrote first, or this request
    /// was sent twice and its first sending landed (kube's client repeats a request answered 504,
    /// which the apiserver gives when a write outlived its timeout yet may commit). The lease
    /// holding exactly what was sent (this identity, this renew time) tells the second case.
    async fn landed(&mut self, sent: Option<&LeaseSpec>) -> Result<bool, kube::Error> {
        let Some(lease) = self.api.get_opt(&self.name).await? else { return Ok(false) };
        let spec = lease.spec.unwrap_or_default();
        let record = (spec.holder_identity.clone(), spec.renew_time.clone());
        let ours = sent.is_some_and(|s| s.holder_identity == spec.holder_identity && s.renew_time == spec.renew_time);
        if ours || self.observed.as_ref() != Some(&record) {
            self.observed = Some(record);
            self.observed_at = Instant::now();
        }
        if ours {
            debug!("a repeated lease write met its own first sending");
        }
        Ok(ours)
    }

    pub(super) async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else { return Ok(()) };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(now_micro());
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(()),
            // Changed meanwhile (or this release sent twice): released unless it is still ours.
            Err(kube::Error::Api(e)) if e.code == 409 => match self.api.get_opt(&self.name).await? {
                Some(l)
                    if l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(self.identity.as_str()) =>
                {
                    Err(kube::Error::Api(e))
                }
                _ => Ok(()),
            },
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_api::{FakeApi, Fault};
    use http::Method;

    const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/metallb-system/leases/frr-speaker-controller";

    fn elector(fake: &FakeApi, identity: &str) -> Elector {
        Elector {
            api: Api::namespaced(fake.client(), "metallb-system"),
            name: "frr-speaker-controller".into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            observed: None,
            observed_at: Instant::now(),
        }
    }

    /// A rule that loses the answer of the `n`th request with `method` to the lease (1-based).
    fn lose(method: Method, n: usize) -> impl FnMut(&Method, &str) -> Option<Fault> + Send {
        let mut seen = 0;
        move |m, p| {
            if *m == method && p.starts_with("/apis/coordination.k8s.io/") {
                seen += 1;
                return (seen == n).then_some(Fault::LoseAnswer);
            }
            None
        }
    }

    #[tokio::test]
    async fn a_lease_write_whose_answer_was_lost_is_still_ours() {
        // The create's answer lost: its repeat meets the lease it made (409 AlreadyExists).
        let fake = FakeApi::new();
        fake.set_rule(lose(Method::POST, 1));
        let mut a = elector(&fake, "a");
        assert!(a.try_acquire_or_renew().await.expect("create"), "took the new lease");
        // A renewal's answer lost: its repeat carries a resourceVersion that is no longer current
        // (409 Conflict), yet the lease holds exactly this renewal.
        fake.set_rule(lose(Method::PUT, 1));
        assert!(a.try_acquire_or_renew().await.expect("renew"), "still leading after a lost answer");
        let puts = fake.requests().iter().filter(|r| r.starts_with("PUT")).count();
        assert_eq!(puts, 2, "the renewal was sent twice: {:?}", fake.requests());
        assert!(a.try_acquire_or_renew().await.expect("renew"), "and renews on");
        let lease = &fake.objects(LEASE)[0];
        assert_eq!(lease["spec"]["holderIdentity"], "a");
        assert_eq!(lease["spec"]["leaseTransitions"], 0);
    }

    #[tokio::test]
    async fn a_conflict_with_another_replica_is_not_taken_for_ours() {
        let fake = FakeApi::new();
        let mut a = elector(&fake, "a");
        assert!(a.try_acquire_or_renew().await.expect("create"));
        // b takes the lease between a's read and a's write: a's replace is refused (409).
        let taker = fake.clone();
        let mut done = false;
        fake.set_rule(move |m, p| {
            if *m == Method::PUT && p == LEASE && !std::mem::replace(&mut done, true) {
                let mut l = taker.objects(LEASE)[0].clone();
                l["spec"]["holderIdentity"] = "b".into();
                l["metadata"]["resourceVersion"] = "999".into();
                taker.put(LEASE, l);
            }
            None
        });
        assert!(!a.try_acquire_or_renew().await.expect("renew"), "b holds it now");
        assert_eq!(fake.objects(LEASE)[0]["spec"]["holderIdentity"], "b");
    }

    #[test]
    fn tenure_lapses_without_renewal() {
        let ms = Duration::from_millis;
        let t = Tenure::new(ms(200));
        let base = t.base;
        assert!(t.valid_at(base + ms(199)), "a new tenure counts from its creation");
        assert!(!t.valid_at(base + ms(200)), "no renewal for the whole deadline");
        t.renewed(base + ms(100));
        assert!(t.valid_at(base + ms(299)));
        assert!(!t.valid_at(base + ms(300)), "a renewal counts from when it was sent");
        // An older renewal never moves the tenure back.
        t.renewed(base + ms(50));
        assert!(t.valid_at(base + ms(299)));
        t.renewed(base + ms(400));
        assert!(t.valid_at(base + ms(599)) && !t.valid_at(base + ms(600)));
    }
}
