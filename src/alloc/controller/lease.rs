//! Leader election on a coordination.k8s.io Lease, and the tenure that says whether this replica
//! may still write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
use tracing::{info, warn};

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
        let mut logged = false;
        while !self.valid() {
            if !logged {
                warn!("lease not renewed within the renew deadline: holding writes");
                logged = true;
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

fn now_micro() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
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
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
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
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else { return Ok(()) };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(now_micro());
        self.api.replace(&self.name, &PostParams::default(), &lease).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
