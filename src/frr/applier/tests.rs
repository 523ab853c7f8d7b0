//! The applier's decisions, pure; then the loop against a fake FRR under tokio's paused clock.

use super::*;
use crate::frr::fake::{FakeFrr, Mode};

fn conf(networks: &[&str]) -> String {
    let mut s = String::from("router bgp 64512\n neighbor 192.0.2.1 remote-as 64500\n address-family ipv4 unicast\n");
    for n in networks {
        s.push_str(&format!("  network {n}\n"));
    }
    s.push_str(" exit-address-family\nexit\n");
    s
}

fn rendered(networks: &[&str]) -> Arc<Rendered> {
    Arc::new(Rendered { conf: Conf::from_text(conf(networks)), ..Default::default() })
}

const ID: u64 = 1;

fn id(n: u64) -> FrrIdentity {
    FrrIdentity(vec![n])
}

#[test]
fn start_reconciles_then_changes_go_the_fast_path_and_are_verified() {
    let t0 = Instant::now();
    let mut a = Applier::new(t0);
    let (one, two) = (rendered(&["203.0.113.1/32"]), rendered(&["203.0.113.1/32", "203.0.113.2/32"]));
    assert_eq!(a.decide(&one, &id(ID), t0), Decision::Reconcile(Reason::Unknown), "nothing applied yet");
    a.succeeded(&one, id(ID), Verified::Reconciled, t0);
    assert_eq!(a.decide(&one, &id(ID), t0), Decision::UpToDate, "FRR runs it");
    assert_eq!(a.decide(&two, &id(ID), t0), Decision::FastApply { from: one.clone() });
    a.succeeded(&two, id(ID), Verified::Pending, t0);
    let soon = t0 + VERIFY_AFTER / 2;
    assert_eq!(a.decide(&two, &id(ID), soon), Decision::UpToDate, "verification waits for quiet");
    assert_eq!(a.decide(&two, &id(ID), t0 + VERIFY_AFTER), Decision::Reconcile(Reason::Verify));
    a.succeeded(&two, id(ID), Verified::Reconciled, t0 + VERIFY_AFTER);
    let later = t0 + VERIFY_AFTER + RECHECK_INTERVAL;
    assert_eq!(a.decide(&two, &id(ID), later - Duration::from_millis(1)), Decision::UpToDate);
    assert_eq!(a.decide(&two, &id(ID), later), Decision::Reconcile(Reason::Recheck), "periodic check");
}

#[test]
fn network_lines_answered_need_no_read_back_and_checks_let_changes_go_first() {
    let t0 = Instant::now();
    let mut a = Applier::new(t0);
    let (one, two, three) =
        (rendered(&["203.0.113.1/32"]), rendered(&["203.0.113.1/32", "203.0.113.2/32"]), rendered(&["203.0.113.3/32"]));
    a.succeeded(&one, id(ID), Verified::Reconciled, t0);
    a.succeeded(&two, id(ID), Verified::ByAnswers, t0);
    assert_eq!(a.decide(&two, &id(ID), t0 + VERIFY_AFTER), Decision::UpToDate, "FRR's answers verified it");
    let due = t0 + RECHECK_INTERVAL;
    assert_eq!(a.decide(&two, &id(ID), due), Decision::Reconcile(Reason::Recheck));
    assert!(a.check_may_yield(due), "a recheck on time gives way to changes");
    // A change pending when a check is due goes first...
    assert_eq!(a.decide(&three, &id(ID), due), Decision::FastApply { from: two.clone() });
    // ...for at most YIELD_LIMIT.
    let overdue = due + YIELD_LIMIT;
    assert_eq!(a.decide(&three, &id(ID), overdue), Decision::Reconcile(Reason::Recheck));
    assert!(!a.check_may_yield(overdue), "an overdue check runs to its end");
    // Same for a verification.
    a.succeeded(&three, id(ID), Verified::Pending, due);
    assert_eq!(a.decide(&three, &id(ID), due + VERIFY_AFTER), Decision::Reconcile(Reason::Verify));
    assert_eq!(a.decide(&one, &id(ID), due + VERIFY_AFTER), Decision::FastApply { from: three.clone() });
    assert_eq!(a.decide(&one, &id(ID), due + VERIFY_AFTER + YIELD_LIMIT), Decision::Reconcile(Reason::Verify));
}

#[test]
fn a_costly_check_is_paced_to_a_hundredth_of_the_time() {
    let t0 = Instant::now();
    let mut a = Applier::new(t0);
    let one = rendered(&["203.0.113.1/32"]);
    a.succeeded(&one, id(ID), Verified::Reconciled, t0);
    assert_eq!(a.recheck_every(), RECHECK_INTERVAL, "a cheap check: every RECHECK_INTERVAL");
    a.checked(Duration::from_millis(800));
    assert_eq!(a.recheck_every(), Duration::from_secs(80));
    assert_eq!(a.decide(&one, &id(ID), t0 + RECHECK_INTERVAL), Decision::UpToDate);
    assert_eq!(a.decide(&one, &id(ID), t0 + Duration::from_secs(80)), Decision::Reconcile(Reason::Recheck));
}

#[test]
fn other_daemons_mean_a_restart_even_while_backing_off() {
    let t0 = Instant::now();
    let mut a = Applier::new(t0);
    let (one, two) = (rendered(&["203.0.113.1/32"]), rendered(&["203.0.113.2/32"]));
    a.succeeded(&one, id(ID), Verified::Reconciled, t0);
    assert_eq!(a.decide(&one, &id(ID + 1), t0), Decision::Reconcile(Reason::Restarted));
    assert_eq!(a.decide(&two, &id(ID + 1), t0), Decision::Reconcile(Reason::Restarted), "never a fast path");
}

#[test]
fn a_restart_that_failed_an_attempt_is_still_a_restart_and_counted_once() {
    let t0 = Instant::now();
    let mut a = Applier::new(t0);
    let one = rendered(&["203.0.113.1/32"]);
    a.succeeded(&one, id(ID), Verified::Pending, t0);
    // bgpd killed while the verification read its config: the attempt fails against the old
    // daemons; the next probe sees new ones.
    a.failed(&one, &id(ID), t0);
    assert_eq!(a.decide(&one, &id(ID + 1), t0), Decision::Reconcile(Reason::Restarted), "no backoff either");
    // The reconcile against the new daemons fails too (still starting): a plain retry, not a
    // second restart.
    let d = a.failed(&one, &id(ID + 1), t0);
    assert_eq!(a.decide(&one, &id(ID + 1), t0), Decision::BackOff { until: t0 + d });
    assert_eq!(a.decide(&one, &id(ID + 1), t0 + d), Decision::Reconcile(Reason::Unknown));
}

#[test]
fn a_failed_config_backs_off_with_growing_delays_and_a_new_one_goes_at_once() {
    let t0 = Instant::now();
    let mut a = Applier::new(t0);
    let (one, two) = (rendered(&["203.0.113.1/32"]), rendered(&["203.0.113.2/32"]));
    let d1 = a.failed(&one, &id(ID), t0);
    assert!(d1 >= MIN_BACKOFF && d1 < 2 * MIN_BACKOFF, "{d1:?}");
    assert_eq!(a.decide(&one, &id(ID), t0), Decision::BackOff { until: t0 + d1 });
    assert_eq!(a.decide(&one, &id(ID), t0 + d1), Decision::Reconcile(Reason::Unknown), "retried when due");
    assert_eq!(a.decide(&two, &id(ID), t0), Decision::Reconcile(Reason::Unknown), "a newer config is not held back");
    let d2 = a.failed(&one, &id(ID), t0 + d1);
    assert!(d2 >= 2 * MIN_BACKOFF, "the second delay doubles: {d1:?} then {d2:?}");
    a.succeeded(&one, id(ID), Verified::Reconciled, t0 + d1 + d2);
    let d3 = a.failed(&two, &id(ID), t0 + d1 + d2);
    assert!(d3 < 2 * MIN_BACKOFF, "a success resets the backoff: {d3:?}");
}

#[test]
fn frr_errors_split_into_refused_and_unavailable() {
    let refused = FrrError::Refused { lines: 1, remaining: "x".into(), output: "% Unknown command".into() };
    assert!(matches!(ApplyError::from(&refused), ApplyError::Refused(_)));
    for e in [
        FrrError::Timeout { what: "apply", secs: 2 },
        FrrError::NotReady("bgpd".into()),
        FrrError::Vtysh { what: "apply", msg: "Broken pipe".into() },
    ] {
        assert!(matches!(ApplyError::from(&e), ApplyError::Unavailable(_)), "{e}");
    }
}

/// A running loop over a fake FRR, with its channels.
struct Harness {
    frr: Arc<FakeFrr>,
    input: watch::Sender<Option<Arc<Rendered>>>,
    state: watch::Receiver<ApplyState>,
    metrics: ApplierMetrics,
    conf: PathBuf,
}

/// The test's frr.conf directory goes with it.
impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(dir) = self.conf.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl FrrControl for Arc<FakeFrr> {
    async fn identity(&self) -> Result<FrrIdentity, FrrError> {
        self.as_ref().identity().await
    }
    async fn running_config(&self) -> Result<String, FrrError> {
        self.as_ref().running_config().await
    }
    async fn apply(&self, script: &str) -> Result<(bool, String), FrrError> {
        self.as_ref().apply(script).await
    }
    async fn command(&self, cmd: &str) -> Result<String, FrrError> {
        self.as_ref().command(cmd).await
    }
    async fn bfd_command(&self, cmd: &str) -> Result<String, FrrError> {
        self.as_ref().bfd_command(cmd).await
    }
}

fn start(name: &str, mode: Mode) -> Harness {
    let frr = Arc::new(FakeFrr::new("", "", mode));
    let dir = std::env::temp_dir().join(format!("frr-speaker-applier-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("frr.conf");
    let (input, rx) = watch::channel(None);
    let (state_tx, state) = watch::channel(ApplyState::default());
    let metrics = ApplierMetrics::register(&prometheus::Registry::new()).expect("metrics");
    let out = Outputs { state: state_tx, metrics: metrics.clone(), health: Arc::new(Health::default()) };
    tokio::spawn(run(frr.clone(), rx, conf.clone(), out));
    Harness { frr, input, state, metrics, conf }
}

impl Harness {
    fn send(&self, networks: &[&str]) -> Arc<Rendered> {
        self.send_text(conf(networks))
    }
    fn send_text(&self, text: String) -> Arc<Rendered> {
        let r = Arc::new(Rendered { conf: Conf::from_text(text.clone()), ..Default::default() });
        FakeFrr::set(&self.frr.target, text);
        self.input.send_replace(Some(r.clone()));
        r
    }
    fn scripts(&self) -> usize {
        FakeFrr::get(&self.frr.scripts).len()
    }
    fn reads(&self) -> usize {
        FakeFrr::get(&self.frr.reads)
    }
    fn applied(&self) -> Option<String> {
        self.state.borrow().applied.as_ref().map(|r| r.conf.text())
    }
    fn error(&self) -> Option<ApplyError> {
        self.state.borrow().error.clone()
    }
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await
}

#[tokio::test(start_paused = true)]
async fn the_loop_applies_fast_then_verifies_and_keeps_frr_conf() {
    let h = start("fast", Mode::Accept);
    sleep_ms(2000).await;
    assert_eq!((h.scripts(), h.reads()), (0, 0), "nothing happens before the first input");

    let one = h.send(&["203.0.113.1/32"]);
    sleep_ms(100).await;
    assert_eq!(h.applied(), Some(one.conf.text()), "first input applied");
    assert_eq!(h.scripts(), 1);
    assert!(h.reads() >= 2, "the first apply is a reconcile: read, apply, verify");
    assert_eq!(std::fs::read_to_string(&h.conf).expect("frr.conf written"), one.conf.text());

    let reads = h.reads();
    let two = h.send(&["203.0.113.1/32", "203.0.113.2/32"]);
    sleep_ms(100).await;
    assert_eq!(h.applied(), Some(two.conf.text()));
    assert_eq!(h.scripts(), 2);
    assert!(FakeFrr::get(&h.frr.scripts)[1].contains("network 203.0.113.2/32"));
    assert_eq!(h.reads(), reads, "the fast path does not read the running config");
    assert_eq!(std::fs::read_to_string(&h.conf).expect("frr.conf"), two.conf.text());

    sleep_ms(VERIFY_AFTER.as_millis() as u64 + PROBE_INTERVAL.as_millis() as u64).await;
    assert_eq!(h.reads(), reads, "FRR's answers to network lines are their verification");

    // Any other change is verified against the running config a second later.
    let three = h.send_text(two.conf.text().replace("remote-as 64500", "remote-as 64501"));
    sleep_ms(100).await;
    assert_eq!(h.applied(), Some(three.conf.text()));
    assert_eq!(h.scripts(), 3);
    assert_eq!(h.reads(), reads, "the fast path does not read the running config");
    sleep_ms(VERIFY_AFTER.as_millis() as u64 + PROBE_INTERVAL.as_millis() as u64).await;
    assert!(h.reads() > reads, "verified against the running config a second later");
    assert_eq!(h.scripts(), 3, "verification found nothing to change");
    assert_eq!(h.metrics.applies.with_label_values(&["ok"]).get(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_change_during_a_slow_check_is_applied_once_read_and_the_check_runs_later() {
    let h = start("yield", Mode::Accept);
    h.send(&["203.0.113.1/32"]);
    sleep_ms(100).await;
    let (scripts, reads) = (h.scripts(), h.reads());
    // A large config: reading it takes 800 ms.
    FakeFrr::set(&h.frr.read_delay, Duration::from_millis(800));
    sleep_ms(RECHECK_INTERVAL.as_millis() as u64).await;
    assert_eq!(h.reads(), reads + 1, "the periodic recheck is reading");
    let two = h.send(&["203.0.113.1/32", "203.0.113.2/32"]);
    sleep_ms(10).await;
    assert_ne!(h.applied(), Some(two.conf.text()), "the read is not cut short");
    sleep_ms(800).await;
    assert_eq!(h.applied(), Some(two.conf.text()), "applied once read, without waiting for the diff");
    assert_eq!(h.scripts(), scripts + 1);
    assert_eq!(h.metrics.checks_yielded.get(), 1);
    // The recheck starts again at the next probe and, left alone, completes.
    sleep_ms(PROBE_INTERVAL.as_millis() as u64 + 900).await;
    assert_eq!(h.reads(), reads + 2);
    assert_eq!(h.metrics.checks_yielded.get(), 1);
    assert_eq!(h.scripts(), scripts + 1, "the check found FRR runs the config");
    // Paced by its cost now: not again before 100 x 800 ms.
    sleep_ms(RECHECK_INTERVAL.as_millis() as u64 + 1000).await;
    assert_eq!(h.reads(), reads + 2, "a check costing 800 ms runs every 80 s");
    sleep_ms(50_000).await;
    assert_eq!(h.reads(), reads + 3);
}

#[tokio::test(start_paused = true)]
async fn a_restart_is_detected_counted_and_reapplied() {
    let h = start("restart", Mode::Accept);
    let one = h.send(&["203.0.113.1/32"]);
    sleep_ms(100).await;
    assert_eq!(h.scripts(), 1);
    // A new bgpd with an empty config.
    FakeFrr::set(&h.frr.identity, Some(ID + 1));
    FakeFrr::set(&h.frr.running, String::new());
    sleep_ms(PROBE_INTERVAL.as_millis() as u64 + 100).await;
    assert_eq!(h.metrics.frr_restarts.get(), 1);
    assert_eq!(h.scripts(), 2, "re-applied");
    assert_eq!(FakeFrr::get(&h.frr.running), one.conf.text());
    sleep_ms(5000).await;
    assert_eq!(h.metrics.frr_restarts.get(), 1, "counted once");
}

#[tokio::test(start_paused = true)]
async fn refusal_and_silence_are_reported_apart_and_retried_with_backoff() {
    let h = start("errors", Mode::Refuse);
    h.send(&["203.0.113.1/32"]);
    sleep_ms(100).await;
    assert!(matches!(h.error(), Some(ApplyError::Refused(_))), "{:?}", h.error());
    assert_eq!(h.applied(), None);
    let tries = h.scripts();
    // Refused: not retried within the first backoff (at least MIN_BACKOFF).
    sleep_ms(MIN_BACKOFF.as_millis() as u64 - 150).await;
    assert_eq!(h.scripts(), tries, "backing off");
    sleep_ms(3 * MIN_BACKOFF.as_millis() as u64).await;
    assert!(h.scripts() > tries, "retried after the backoff");

    FakeFrr::set(&h.frr.mode, Mode::Silent);
    sleep_ms(MAX_BACKOFF.as_millis() as u64 * 2).await;
    assert!(matches!(h.error(), Some(ApplyError::Unavailable(_))), "{:?}", h.error());

    FakeFrr::set(&h.frr.mode, Mode::Accept);
    sleep_ms(MAX_BACKOFF.as_millis() as u64 * 2 + 1000).await;
    assert_eq!(h.error(), None, "cleared by the next success");
    assert!(h.applied().is_some());
    // Backoff reset: a new config that fails is retried within a second again.
    FakeFrr::set(&h.frr.mode, Mode::Refuse);
    h.send(&["203.0.113.9/32"]);
    sleep_ms(100).await;
    let tries = h.scripts();
    sleep_ms(2 * MIN_BACKOFF.as_millis() as u64 + PROBE_INTERVAL.as_millis() as u64).await;
    assert!(h.scripts() > tries, "first retry after at most {:?}", 2 * MIN_BACKOFF);
}

#[tokio::test(start_paused = true)]
async fn frr_not_answering_holds_everything_until_it_does() {
    let h = start("down", Mode::Accept);
    FakeFrr::set(&h.frr.identity, None);
    let one = h.send(&["203.0.113.1/32"]);
    sleep_ms(3000).await;
    assert_eq!((h.scripts(), h.reads()), (0, 0), "no apply while the daemons are missing");
    assert!(!h.conf.exists(), "frr.conf is written only for what FRR took");
    FakeFrr::set(&h.frr.identity, Some(ID));
    sleep_ms(PROBE_INTERVAL.as_millis() as u64 + 100).await;
    assert_eq!(h.applied(), Some(one.conf.text()));
}

/// Extras FRR refuses: ours runs without them (frr.conf too), the refusal is reported, it is not
/// retried with every change, and fixed extras are applied and clear the report.
#[tokio::test(start_paused = true)]
async fn refused_extras_fall_back_to_ours_until_they_change() {
    let h = start("extras", Mode::Accept);
    let key = crate::model::core::ObjKey::new("metallb-system", "bgpextras");
    FakeFrr::set(&h.frr.refuse_containing, Some("bogus".to_string()));
    let with = |base: &str, extras: &str| {
        Arc::new(Rendered { conf: Conf::from_text(base).with_extras(&key, extras), ..Default::default() })
    };
    let (one, two) = (conf(&["203.0.113.1/32"]), conf(&["203.0.113.1/32", "203.0.113.2/32"]));

    FakeFrr::set(&h.frr.target, one.clone());
    h.input.send_replace(Some(with(&one, "router bgp 64512\n neighbor 192.0.2.1 bogus-option\n")));
    sleep_ms(100).await;
    assert_eq!(h.applied(), Some(one.clone()), "ours runs");
    assert_eq!(h.error(), None);
    let why = h.state.borrow().extras_error.clone().expect("extras refusal reported");
    assert!(why.contains("bogus-option"), "names the line: {why}");
    assert_eq!(std::fs::read_to_string(&h.conf).expect("frr.conf"), one, "frr.conf holds what runs");
    let bogus = || FakeFrr::get(&h.frr.scripts).iter().filter(|s| s.contains("bogus")).count();
    let tries = bogus();
    assert!(tries >= 1);

    // A Service change with the same extras goes straight to ours, and so does every check.
    FakeFrr::set(&h.frr.target, two.clone());
    h.input.send_replace(Some(with(&two, "router bgp 64512\n neighbor 192.0.2.1 bogus-option\n")));
    sleep_ms(RECHECK_INTERVAL.as_millis() as u64 + 2000).await;
    assert_eq!(h.applied(), Some(two.clone()));
    assert_eq!(bogus(), tries, "refused extras are not retried until they change");
    assert!(h.state.borrow().extras_error.is_some());

    // Fixed extras: applied, report cleared.
    let good = with(&two, "ip prefix-list ok seq 5 permit 198.51.100.0/24\n");
    FakeFrr::set(&h.frr.target, format!("ip prefix-list ok seq 5 permit 198.51.100.0/24\n{two}"));
    h.input.send_replace(Some(good.clone()));
    sleep_ms(100).await;
    assert_eq!(h.applied(), Some(good.conf.text()));
    assert_eq!(h.state.borrow().extras_error, None);
    assert!(FakeFrr::get(&h.frr.scripts).last().expect("script").contains("ip prefix-list ok seq 5"));
}
