//! Keeps FRR running the latest rendered config: apply on change, after an FRR restart, and as a
//! slow periodic check; retry failures with a jittered exponential backoff.
//!
//! The decision is a pure function of a small state value (`Applier::decide`): nothing to do,
//! fast apply, full reconcile, or back off. `run` only executes it against an
//! `FrrControl` and records the outcome, so the decisions are unit-tested without FRR, and the loop
//! with a fake FRR under tokio's paused clock.
//!
//! A change is applied on the fast path (the difference from what FRR was last given, without
//! reading its config first). When only `network` lines changed, FRR's answer to each line is the
//! verification; any other change is verified against FRR's running config `VERIFY_AFTER` later.
//! A full reconcile (read, diff, apply, verify) runs at start, after an FRR restart or a failure,
//! and every `RECHECK_INTERVAL` (longer for a large config: at most 1% of the time goes to it).
//!
//! A check (verification or periodic recheck) holds a change back at most while it reads FRR's
//! running config: a pending change goes first, and a check that has read is dropped, instead of
//! diffing, when a change arrived meanwhile (it has sent nothing yet) — unless it is `YIELD_LIMIT`
//! overdue, so a steady stream of changes cannot postpone it for ever. At 100,000 Services a read
//! takes a few hundred milliseconds and the diff most of a second. The read is never cut short
//! (that crashes FRR 10.3's bgpd).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::runtime::utils::Backoff as _;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, error, info, info_span, warn, Instrument};

use super::conf::Conf;
use super::driver::{
    apply_change, diff_running, reconcile_from, write_config_file, FrrControl, FrrError, FrrIdentity, Report,
};
pub use super::outcome::{ApplyError, ApplyState};
use super::rendered::Rendered;
use crate::health::Health;
use crate::retry::{backoff, RetryBackoff};
use crate::streak::Streak;

/// How often FRR's daemons are probed (restart detection, readiness): a restart is re-applied
/// within this plus one reconcile.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// Even with no change, compare FRR's running config with the desired one this often, so that a
/// manual edit in vtysh is undone.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(30);
/// A change applied on the fast path (without reading FRR's config first) is verified against
/// the running config this long after, when no newer change is pending.
pub const VERIFY_AFTER: Duration = Duration::from_secs(1);
/// How long a due check may be postponed (or interrupted) by changes that keep coming.
pub const YIELD_LIMIT: Duration = Duration::from_secs(30);
/// The periodic recheck costs at most this share of the applier's time: 100 x its last duration.
const RECHECK_COST_SHARE: u32 = 100;
/// First retry after a failure (jittered up to twice this), doubling up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl From<&FrrError> for ApplyError {
    fn from(e: &FrrError) -> Self {
        if e.is_refusal() {
            ApplyError::Refused(e.to_string())
        } else {
            ApplyError::Unavailable(e.to_string())
        }
    }
}

/// Why a full reconcile runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Nothing applied yet (start), or the last attempt failed.
    Unknown,
    /// FRR's daemons are not the ones that took the last config.
    Restarted,
    /// A fast-path change is `VERIFY_AFTER` old.
    Verify,
    /// `RECHECK_INTERVAL` since the last full reconcile.
    Recheck,
}

/// One step of the loop.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// FRR runs the newest config (frr.conf follows what FRR was given: `keep_file`).
    UpToDate,
    /// Send the difference from `from` (what these daemons were last given).
    FastApply { from: Arc<Rendered> },
    /// Read FRR's running config, apply the difference, verify.
    Reconcile(Reason),
    /// This very config failed a moment ago: wait until `until`.
    BackOff { until: Instant },
}

/// How far a successful apply is known to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// Checked against FRR's running config.
    Reconciled,
    /// A fast apply of `network` lines only, every one answered with success.
    ByAnswers,
    /// A fast apply of other lines: to be checked `VERIFY_AFTER` later.
    Pending,
}

impl Verified {
    /// After a reconcile (`full`), or a fast apply whose answers verify it (`answers_verify`:
    /// only `network` lines changed) or not.
    fn after(full: bool, answers_verify: bool) -> Verified {
        match (full, answers_verify) {
            (true, _) => Verified::Reconciled,
            (false, true) => Verified::ByAnswers,
            (false, false) => Verified::Pending,
        }
    }
}

/// The loop's memory: everything `decide` looks at.
pub struct Applier {
    /// What FRR was last given successfully, and which daemons took it.
    applied: Option<(Arc<Rendered>, FrrIdentity)>,
    /// The daemons the last attempt ran against, whether it succeeded or not: a restart that
    /// makes an attempt fail (bgpd killed during a check) is still seen as a restart next time.
    seen: Option<FrrIdentity>,
    /// The config that failed last, and when it may be tried again (unless FRR restarts).
    failed: Option<(Arc<Rendered>, Instant)>,
    backoff: RetryBackoff,
    last_full: Instant,
    unverified_since: Option<Instant>,
    /// How long the last check of the running config took (paces the periodic recheck).
    check_cost: Duration,
}

impl Applier {
    pub fn new(now: Instant) -> Self {
        Applier {
            applied: None,
            seen: None,
            failed: None,
            backoff: backoff(MIN_BACKOFF, MAX_BACKOFF),
            last_full: now,
            unverified_since: None,
            check_cost: Duration::ZERO,
        }
    }

    /// Time between periodic rechecks: `RECHECK_INTERVAL`, or longer when one costs more than
    /// 1/`RECHECK_COST_SHARE` of it.
    pub fn recheck_every(&self) -> Duration {
        RECHECK_INTERVAL.max(self.check_cost * RECHECK_COST_SHARE)
    }

    /// The check due at `now` (a change pending postpones it by up to `YIELD_LIMIT`).
    fn check_due(&self, now: Instant, pending: bool) -> Option<Reason> {
        let grace = if pending { YIELD_LIMIT } else { Duration::ZERO };
        if self.unverified_since.is_some_and(|t| now - t >= VERIFY_AFTER + grace) {
            Some(Reason::Verify)
        } else if now - self.last_full >= self.recheck_every() + grace {
            Some(Reason::Recheck)
        } else {
            None
        }
    }

    /// Whether a check started now may still give way to a change that arrives while it reads.
    pub fn check_may_yield(&self, now: Instant) -> bool {
        self.check_due(now, true).is_none()
    }

    /// What to do about `want` while FRR's daemons are `id`.
    pub fn decide(&self, want: &Arc<Rendered>, id: &FrrIdentity, now: Instant) -> Decision {
        let restarted = self.seen.as_ref().is_some_and(|old| old != id);
        let fast_from = self.applied.as_ref().filter(|(_, old)| old == id).map(|(r, _)| r);
        let pending = fast_from.is_some_and(|f| f.conf != want.conf);
        let reason = match fast_from {
            None if restarted => Some(Reason::Restarted),
            None => Some(Reason::Unknown),
            Some(_) => self.check_due(now, pending),
        };
        if let (Some(from), None) = (fast_from, reason) {
            if from.conf == want.conf {
                return Decision::UpToDate;
            }
        }
        if let Some((f, until)) = &self.failed {
            if f.conf == want.conf && now < *until && !restarted {
                return Decision::BackOff { until: *until };
            }
        }
        match (fast_from, reason) {
            (Some(from), None) => Decision::FastApply { from: from.clone() },
            (_, Some(r)) => Decision::Reconcile(r),
            // `reason` is None only with a `fast_from`.
            (None, None) => Decision::Reconcile(Reason::Unknown),
        }
    }

    /// FRR took `want`, verified as `how`.
    pub fn succeeded(&mut self, want: &Arc<Rendered>, id: FrrIdentity, how: Verified, now: Instant) {
        match how {
            Verified::Reconciled => {
                self.last_full = now;
                self.unverified_since = None;
            }
            Verified::ByAnswers => {}
            Verified::Pending => {
                self.unverified_since.get_or_insert(now);
            }
        }
        self.seen = Some(id.clone());
        self.applied = Some((want.clone(), id));
        self.failed = None;
        self.backoff.reset();
    }

    /// A check of the running config took `cost` (found nothing to change or not).
    pub fn checked(&mut self, cost: Duration) {
        self.check_cost = cost;
    }

    /// Applying `want` failed: look at FRR afresh next time, not before the returned delay.
    /// `want` failed against the daemons `id`.
    pub fn failed(&mut self, want: &Arc<Rendered>, id: &FrrIdentity, now: Instant) -> Duration {
        self.seen = Some(id.clone());
        let delay = self.backoff.next().unwrap_or(MAX_BACKOFF);
        self.failed = Some((want.clone(), now + delay));
        self.applied = None;
        delay
    }
}

/// Extras FRR refused: the agent's config is applied without them until their text changes (a
/// retry with every Service change would cost a failed apply each time).
#[derive(Default)]
struct RefusedExtras {
    /// The refused extras text and why.
    refused: Option<(String, String)>,
    /// The last config given and its substitute without the extras (kept to avoid a copy per tick).
    substitute: Option<(Arc<Rendered>, Arc<Rendered>)>,
}

impl RefusedExtras {
    /// What to apply for `want`: `want`, or `want` without the extras FRR refused.
    fn target(&mut self, want: &Arc<Rendered>) -> Arc<Rendered> {
        match (&self.refused, want.conf.extras()) {
            (Some((r, _)), Some(e)) if r == e => {}
            _ => return want.clone(),
        }
        if let Some((w, base)) = &self.substitute {
            if Arc::ptr_eq(w, want) {
                return base.clone();
            }
        }
        let base = Arc::new(without_extras(want));
        self.substitute = Some((want.clone(), base.clone()));
        base
    }

    fn error(&self) -> Option<String> {
        self.refused.as_ref().map(|(_, e)| e.clone())
    }
}

/// `r` without its extras part.
fn without_extras(r: &Rendered) -> Rendered {
    Rendered {
        conf: r.conf.without_extras(),
        announcements: r.announcements.clone(),
        ports: r.ports.clone(),
        since: r.since,
    }
}

/// Keep frr.conf on disk holding the config FRR was last given (`ApplyState::applied`), so that
/// an FRR restart starts from it. Its own task: the applier never waits for the whole text to be
/// made and written (it grows with the Services), and a burst of changes is written once.
/// `holds` is what the file held at start (equal text: no rewrite). A failed write (disk full,
/// read-only) is logged once and retried every `PROBE_INTERVAL`; FRR itself already runs the
/// config.
async fn keep_file(path: PathBuf, mut rx: watch::Receiver<ApplyState>, mut holds: Option<Conf>) {
    let mut failing = Streak::default();
    loop {
        let want = rx.borrow_and_update().applied.clone();
        if let Some(r) = want.filter(|r| holds.as_ref() != Some(&r.conf)) {
            let (p, conf) = (path.clone(), r.conf.clone());
            let res = tokio::task::spawn_blocking(move || write_config_file(&p, &conf.text()))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            match res {
                Ok(()) => {
                    if failing.ended() {
                        info!(path = %path.display(), "frr.conf written again");
                    }
                    holds = Some(r.conf.clone());
                }
                Err(e) => {
                    if failing.began() {
                        warn!(path = %path.display(), error = %e, "cannot write frr.conf; retrying every probe");
                    }
                    holds = None;
                    tokio::select! {
                        r = rx.changed() => if r.is_err() { return },
                        _ = tokio::time::sleep(PROBE_INTERVAL) => {}
                    }
                    continue;
                }
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// The applier's metrics, registered into the agent's registry by `register`.
#[derive(Clone)]
pub struct ApplierMetrics {
    /// Applies by result: `ok` (FRR changed), `noop` (already equal), `error`.
    pub applies: IntCounterVec,
    pub apply_duration: Histogram,
    /// The agent's share of a change: the source learned of it → FRR accepted it.
    pub change_latency: Histogram,
    pub last_apply_timestamp: IntGauge,
    pub frr_restarts: IntCounter,
    /// Checks of FRR's running config dropped because a change arrived while they read.
    pub checks_yielded: IntCounter,
}

impl ApplierMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = ApplierMetrics {
            applies: IntCounterVec::new(
                Opts::new("frr_speaker_applies_total", "Reconciles of FRR's config, by result"),
                &["result"],
            )?,
            apply_duration: Histogram::with_opts(
                HistogramOpts::new("frr_speaker_apply_duration_seconds", "Time to diff, apply and verify FRR's config")
                    .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            )?,
            change_latency: Histogram::with_opts(
                HistogramOpts::new(
                    "frr_speaker_change_latency_seconds",
                    "A change of the inputs, from the source learning of it to FRR accepting the config that has it",
                )
                .buckets(vec![0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]),
            )?,
            last_apply_timestamp: IntGauge::new(
                "frr_speaker_last_apply_timestamp_seconds",
                "Unix time of the last successful reconcile",
            )?,
            frr_restarts: IntCounter::new("frr_speaker_frr_restarts_total", "FRR restarts detected")?,
            checks_yielded: IntCounter::new(
                "frr_speaker_checks_yielded_total",
                "Checks of FRR's running config dropped because a change arrived while they read",
            )?,
        };
        registry.register(Box::new(m.applies.clone()))?;
        registry.register(Box::new(m.apply_duration.clone()))?;
        registry.register(Box::new(m.change_latency.clone()))?;
        registry.register(Box::new(m.last_apply_timestamp.clone()))?;
        registry.register(Box::new(m.frr_restarts.clone()))?;
        registry.register(Box::new(m.checks_yielded.clone()))?;
        Ok(m)
    }
}

/// Where the loop reports.
pub struct Outputs {
    pub state: watch::Sender<ApplyState>,
    pub metrics: ApplierMetrics,
    pub health: Arc<Health>,
}

impl Outputs {
    /// FRR took `want`.
    fn applied(&self, want: &Arc<Rendered>, report: &Report, full: bool, secs: f64, extras_error: Option<String>) {
        let result = if report.changes > 0 { "ok" } else { "noop" };
        self.metrics.applies.with_label_values(&[result]).inc();
        self.metrics
            .last_apply_timestamp
            .set(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0));
        let first = !self.state.borrow().applied.as_ref().is_some_and(|a| Arc::ptr_eq(a, want));
        // The agent's share of a change, once per config: from its source event to FRR's answer.
        let since_event = want.since.filter(|_| first && report.changes > 0).map(|t| t.elapsed());
        if let Some(d) = since_event {
            self.metrics.change_latency.observe(d.as_secs_f64());
        }
        if report.changes > 0 {
            info!(
                changes = report.changes,
                full,
                passes = report.passes,
                soft_refreshes = report.soft_out,
                ms = (secs * 1e3) as u64,
                since_event_us = since_event.map(|d| d.as_micros() as u64),
                "applied"
            );
        }
        self.state.send_if_modified(|s| {
            let same = s.error.is_none()
                && s.applied.as_ref().is_some_and(|a| Arc::ptr_eq(a, want))
                && s.extras_error == extras_error;
            if !same {
                s.applied = Some(want.clone());
                s.error = None;
                s.extras_error = extras_error;
            }
            !same
        });
        self.health.applied_once.store(true, Ordering::Relaxed);
    }

    /// The apply failed with `e`; logged when the error differs from the last one.
    fn failed(&self, e: &FrrError, retry_in: Duration) {
        self.metrics.applies.with_label_values(&["error"]).inc();
        let err = ApplyError::from(e);
        if self.state.borrow().error.as_ref() != Some(&err) {
            error!(error = %e, retry_in_ms = retry_in.as_millis() as u64, "apply failed; FRR keeps what it runs");
        }
        self.state.send_if_modified(|s| {
            let changed = s.error.as_ref() != Some(&err);
            s.error = Some(err);
            changed
        });
    }
}

/// Keep FRR running the latest config from `rx` until the channel closes.
pub async fn run<C: FrrControl>(
    frr: C,
    mut rx: watch::Receiver<Option<Arc<Rendered>>>,
    conf_path: PathBuf,
    out: Outputs,
) {
    let mut applier = Applier::new(Instant::now());
    // What FRR was given last: extras it had and the next config lacks are removed. At start,
    // what an earlier agent (or FRR's own startup) left in frr.conf.
    let mut given: Conf = std::fs::read_to_string(&conf_path).map(Conf::from_text).unwrap_or_default();
    tokio::spawn(keep_file(conf_path, out.state.subscribe(), Some(given.clone()).filter(|g| *g != Conf::default())));
    let mut refused_extras = RefusedExtras::default();
    let mut waiting = Streak::default();
    let mut tick = tokio::time::interval(PROBE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A check gave way to a change: take it at once.
    let mut yielded = false;
    loop {
        if !std::mem::take(&mut yielded) {
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = tick.tick() => {}
            }
        }
        // Nothing is applied before the first complete, valid input.
        let Some(newest) = rx.borrow_and_update().clone() else { continue };
        let want = refused_extras.target(&newest);
        let Some(id) = probe(&frr, &out.health, &mut waiting).await else { continue };
        let decision = applier.decide(&want, &id, Instant::now());
        let full = match &decision {
            Decision::UpToDate | Decision::BackOff { .. } => continue,
            Decision::Reconcile(reason) => {
                if *reason == Reason::Restarted {
                    info!("FRR restarted: re-applying");
                    out.metrics.frr_restarts.inc();
                }
                true
            }
            Decision::FastApply { .. } => false,
        };
        let t0 = Instant::now();
        let span = info_span!("apply", full, reason = ?decision_reason(&decision));
        // A verification or recheck reads and diffs first (`check`): it sends nothing when FRR
        // runs `want`, and gives way to a change that arrives meanwhile (unless overdue).
        let mut checked_clean = false;
        if let Decision::Reconcile(reason @ (Reason::Verify | Reason::Recheck)) = decision {
            let may_yield = applier.check_may_yield(t0);
            match check(&frr, &mut rx, &want, &given, may_yield).instrument(span.clone()).await {
                Checked::Closed => return,
                Checked::GaveWay => {
                    debug!(?reason, "check gave way to a new change");
                    out.metrics.checks_yielded.inc();
                    yielded = true;
                    continue;
                }
                found => {
                    applier.checked(t0.elapsed());
                    checked_clean = found == Checked::Clean;
                }
            }
        }
        let mut res = if checked_clean {
            Ok(Report::default())
        } else {
            execute(&frr, &decision, &want.conf, &given).instrument(span.clone()).await
        };
        let mut applied = want.clone();
        if let Err(e) = &res {
            if e.is_refusal() && want.conf.extras().is_some() {
                let (again, base) = apply_without_extras(&frr, &want, e).instrument(span.clone()).await;
                if let (Ok(_), Some((base, why))) = (&again, base) {
                    refused_extras.refused = Some((want.conf.extras().unwrap_or("").to_string(), why));
                    refused_extras.substitute = Some((newest.clone(), base.clone()));
                    applied = base;
                }
                res = again;
            }
        }
        // The outcome is logged inside the apply's span (no await below).
        let _in_span = span.enter();
        let secs = t0.elapsed().as_secs_f64();
        out.metrics.apply_duration.observe(secs);
        match res {
            Ok(report) => {
                if Arc::ptr_eq(&applied, &want) && want.conf.extras().is_some() {
                    refused_extras.refused = None; // FRR took them
                }
                applier.succeeded(&applied, id, Verified::after(full, report.answers_verify), Instant::now());
                given = applied.conf.clone();
                out.applied(&applied, &report, full, secs, refused_extras.error());
            }
            Err(e) => {
                let retry_in = applier.failed(&want, &id, Instant::now());
                out.failed(&e, retry_in);
            }
        }
    }
}

/// Probe FRR's daemons: their identity, or `None` while they do not answer (logged once).
async fn probe<C: FrrControl>(frr: &C, health: &Health, waiting: &mut Streak) -> Option<FrrIdentity> {
    match frr.identity().await {
        Ok(id) => {
            health.frr_reachable.store(true, Ordering::Relaxed);
            waiting.ended();
            Some(id)
        }
        Err(e) => {
            health.frr_reachable.store(false, Ordering::Relaxed);
            if waiting.began() {
                warn!(error = %e, "waiting for FRR");
            }
            None
        }
    }
}

/// What a verification or recheck found.
#[derive(Debug, PartialEq, Eq)]
enum Checked {
    /// FRR runs `want`: nothing to send.
    Clean,
    /// FRR's config differs, or could not be read: apply.
    Differs,
    /// A change arrived: take it first.
    GaveWay,
    /// The config channel closed: the agent stops.
    Closed,
}

/// Read FRR's running config and diff it with `want`. With `may_yield`, a change arriving after
/// the read (or during the diff) wins. The read itself is never cut short: FRR 10.3's bgpd
/// crashes (use after free in `vty_out`) when the client closes its connection while bgpd still
/// writes a large `show running-config` (seen at 100,000 Services). So a change waits for the
/// read (bgpd is busy writing it anyway), and the diff gives way.
async fn check<C: FrrControl>(
    frr: &C,
    rx: &mut watch::Receiver<Option<Arc<Rendered>>>,
    want: &Rendered,
    given: &Conf,
    may_yield: bool,
) -> Checked {
    let result = match frr.running_config().await {
        Err(e) => Err(e),
        Ok(_) if may_yield && rx.has_changed().unwrap_or(false) => return Checked::GaveWay,
        Ok(running) => {
            let diffing = diff_running(running, want.conf.clone(), given.clone());
            if may_yield {
                tokio::select! {
                    c = diffing => c,
                    r = rx.changed() => return if r.is_err() { Checked::Closed } else { Checked::GaveWay },
                }
            } else {
                diffing.await
            }
        }
    };
    if result.is_ok_and(|d| d.is_empty()) {
        Checked::Clean
    } else {
        Checked::Differs
    }
}

/// FRR refused `want` (error `e`) with the operator's extras: reconcile to the agent's config
/// without them. The result, and when it went through, that config and why the extras are out.
async fn apply_without_extras<C: FrrControl>(
    frr: &C,
    want: &Arc<Rendered>,
    e: &FrrError,
) -> (Result<Report, FrrError>, Option<(Arc<Rendered>, String)>) {
    let base = Arc::new(without_extras(want));
    let again = reconcile_from(frr, &base.conf.text(), &want.conf.text()).await;
    if again.is_err() {
        return (again, None);
    }
    let why = format!(
        "{e} (a line FRR takes but shows in another form counts as refused: write the lines as `show running-config` prints them)"
    );
    error!(error = %why, "FRR refused the bgpextras lines: the agent's configuration runs without them");
    (again, Some((base, why)))
}

fn decision_reason(d: &Decision) -> Option<Reason> {
    match d {
        Decision::Reconcile(r) => Some(*r),
        _ => None,
    }
}

/// Carry out a fast apply or a reconcile. A fast apply FRR does not take falls back to a full
/// reconcile against the running config at once.
async fn execute<C: FrrControl>(
    frr: &C,
    decision: &Decision,
    want: &Conf,
    previous: &Conf,
) -> Result<Report, FrrError> {
    match decision {
        Decision::FastApply { from } => match apply_change(frr, &from.conf, want).await {
            Ok(r) => Ok(r),
            Err(e) => {
                warn!(error = %e, "fast apply failed; reconciling against the running config");
                reconcile_from(frr, &want.text(), &from.conf.text()).await
            }
        },
        _ => reconcile_from(frr, &want.text(), &previous.text()).await,
    }
}

#[cfg(test)]
mod tests;
