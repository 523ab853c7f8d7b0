//! Keeps the co-located FRR running the rendered config: the `FrrControl` trait (the I/O edge,
//! implemented by `Vtysh` over FRR's vty sockets) and `reconcile`, which diffs what FRR runs
//! against what it should run, applies the difference over FRR's vty sockets (`vty`), and
//! verifies the result.

use std::future::Future;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::{debug, info, warn};

use super::conf::Conf;
use super::config::parse;
use super::dialect::{mgmtd_busy, Daemon, Dialect};
use super::diff::{diff_owned, network_delta, running_delta, Delta, SoftOut};
use super::extras;
use super::owned::{takes, Takes};
use super::vty::{Answer, Gate, VtyConn, VtyError};

/// How long a daemon may take to answer before the agent gives up on the connection (a hung or
/// stopped daemon: the agent then retries with backoff and reconciles once it answers again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// A `show` or `clear`; bgpd answers `show running-config` for 10,000 prefixes in a few
    /// milliseconds.
    pub show: Duration,
    /// One apply script; 10,000 lines take about a second in FRR 8.4, this leaves room for a
    /// loaded machine.
    pub apply: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { show: Duration::from_secs(20), apply: Duration::from_secs(120) }
    }
}
/// Commands sent to bgpd before their answers are read (`vty`): about 8 KiB of `network` lines.
const BGPD_WINDOW: usize = 128;
/// How long FRR 10's mgmtd may take over one configuration line, refusing it while another
/// transaction holds its datastore lock or not answering while its commit runs (milliseconds,
/// normally). Past that the agent leaves the session, which ends its transaction and frees its
/// locks in mgmtd, and the apply fails, to be retried; bgpd's lines of the same apply are in by
/// then (they go first).
const FRONT_END_PATIENCE: Duration = Duration::from_secs(15);
/// Passes of diff + apply before a difference is reported as refused by FRR (removing BFD from a
/// neighbor can take two).
const MAX_PASSES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum FrrError {
    #[error("FRR is not ready: {0}")]
    NotReady(String),
    #[error("FRR {what} timed out after {secs}s")]
    Timeout { what: &'static str, secs: u64 },
    #[error("FRR {what}: {msg}")]
    Vtysh { what: &'static str, msg: String },
    #[error(
        "FRR did not take {lines} line(s) after {MAX_PASSES} passes; still differing: {remaining}; FRR said: {output}"
    )]
    Refused { lines: usize, remaining: String, output: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl FrrError {
    /// Bad config FRR refuses will be refused again: retry only slowly.
    pub fn is_refusal(&self) -> bool {
        matches!(self, FrrError::Refused { .. })
    }
}

/// Identity of the running FRR daemons: changes when any of them restarts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrrIdentity(pub Vec<u64>);

/// The operations the agent needs from FRR.
pub trait FrrControl: Send + Sync {
    /// The daemons' identity; an error while any of them does not answer.
    fn identity(&self) -> impl Future<Output = Result<FrrIdentity, FrrError>> + Send;
    fn running_config(&self) -> impl Future<Output = Result<String, FrrError>> + Send;
    /// Run a config script (what `vtysh -f` would take). Returns whether every line took, and
    /// FRR's messages for those that did not.
    fn apply(&self, script: &str) -> impl Future<Output = Result<(bool, String), FrrError>> + Send;
    /// Run one exec-mode command (`clear ...`, `show ...`) in bgpd.
    fn command(&self, cmd: &str) -> impl Future<Output = Result<String, FrrError>> + Send;
    /// Run one `show` command in bfdd.
    fn bfd_command(&self, cmd: &str) -> impl Future<Output = Result<String, FrrError>> + Send;
}

/// `FrrControl` over the daemons' vty sockets in `socket_dir` (see `vty`): no vtysh process per
/// call. Config goes to the daemon that owns it, as vtysh would send it: `router bgp` to bgpd,
/// `bfd` to bfdd, route-maps to bgpd and (their library lines) to the configuration front end of
/// the running version, zebra's settings to that front end (`dialect`).
pub struct FrrVty {
    pub socket_dir: PathBuf,
    zebra: VtyConn,
    bgpd: VtyConn,
    bfdd: VtyConn,
    mgmtd: VtyConn,
    timeouts: Timeouts,
    /// The running version's dialect, with the identity of the daemons it was read from: asked
    /// again when they change (a restart may be an upgrade).
    dialect: std::sync::Mutex<Option<(Vec<u64>, Dialect)>>,
}

impl FrrVty {
    pub fn new(socket_dir: impl Into<PathBuf>) -> Self {
        Self::with_timeouts(socket_dir, Timeouts::default())
    }

    pub fn with_timeouts(socket_dir: impl Into<PathBuf>, timeouts: Timeouts) -> Self {
        let socket_dir = socket_dir.into();
        FrrVty {
            zebra: VtyConn::new(&socket_dir, "zebra"),
            // Nearly every line goes to bgpd (a `network` line per Service): pipelined.
            bgpd: VtyConn::new(&socket_dir, "bgpd").with_window(BGPD_WINDOW),
            bfdd: VtyConn::new(&socket_dir, "bfdd"),
            // FRR 10 only; refuses a line while a transaction holds its lock (see `dialect`).
            mgmtd: VtyConn::new(&socket_dir, "mgmtd").with_busy_retry(mgmtd_busy, FRONT_END_PATIENCE),
            socket_dir,
            timeouts,
            dialect: std::sync::Mutex::new(None),
        }
    }

    /// Every command of this client under `gate` (`vty::Gate`: the agent lets them finish before
    /// it exits).
    pub fn with_gate(mut self, gate: &Gate) -> Self {
        for c in [&mut self.zebra, &mut self.bgpd, &mut self.bfdd, &mut self.mgmtd] {
            c.set_gate(gate.clone());
        }
        self
    }

    fn conn(&self, d: Daemon) -> &VtyConn {
        match d {
            Daemon::Zebra => &self.zebra,
            Daemon::Bgpd => &self.bgpd,
            Daemon::Bfdd => &self.bfdd,
            Daemon::Mgmtd => &self.mgmtd,
        }
    }

    /// The socket's and pid file's identity of one daemon; an error while it does not answer.
    async fn daemon_id(&self, d: Daemon) -> Result<[u64; 4], FrrError> {
        let name = d.name();
        let path = self.socket_dir.join(format!("{name}.vty"));
        let meta = std::fs::metadata(&path).map_err(|e| FrrError::NotReady(format!("{}: {e}", path.display())))?;
        // A stale socket file outlives a killed daemon: only an accepted connection counts.
        tokio::time::timeout(Duration::from_secs(2), tokio::net::UnixStream::connect(&path))
            .await
            .map_err(|_| FrrError::NotReady(format!("{name} does not accept connections")))?
            .map_err(|e| FrrError::NotReady(format!("{name}: {e}")))?;
        // A restarted daemon creates its socket anew; on tmpfs the inode number is often reused,
        // the creation time (ns) and the pid file are not.
        let pid = std::fs::read_to_string(self.socket_dir.join(format!("{name}.pid")))
            .ok()
            .and_then(|p| p.trim().parse::<u64>().ok())
            .unwrap_or(0);
        Ok([meta.ino(), meta.ctime() as u64, meta.ctime_nsec() as u64, pid])
    }

    /// The dialect of the daemons now running: cached while zebra, bgpd and bfdd are the same
    /// processes, read from bgpd's `show version` otherwise (and logged).
    async fn dialect_for(&self, base: &[u64]) -> Result<Dialect, FrrError> {
        if let Some((ids, d)) = self.dialect.lock().map_err(|_| poisoned())?.as_ref() {
            if ids == base {
                return Ok(d.clone());
            }
        }
        let d = Dialect::detect(&one_command(&self.bgpd, "show version", self.timeouts.show).await?);
        if d.newer_than_known {
            info!(version = %d.version, "FRR is newer than the newest version tested (10.x): driving it as FRR 10");
        } else {
            info!(version = %d.version, front_end = d.config_front_end().name(), "FRR version detected");
        }
        *self.dialect.lock().map_err(|_| poisoned())? = Some((base.to_vec(), d.clone()));
        Ok(d)
    }

    /// The dialect detected last (FRR 8's before any detection).
    async fn dialect(&self) -> Result<Dialect, FrrError> {
        let known = self.dialect.lock().map_err(|_| poisoned())?.as_ref().map(|(_, d)| d.clone());
        match known {
            Some(d) => Ok(d),
            None => {
                let mut base = Vec::new();
                for d in BASE_DAEMONS {
                    base.extend(self.daemon_id(d).await?);
                }
                self.dialect_for(&base).await
            }
        }
    }
}

fn poisoned() -> FrrError {
    FrrError::NotReady("dialect cache poisoned".into())
}

/// The daemons every version runs; the dialect adds its own (mgmtd).
const BASE_DAEMONS: [Daemon; 3] = [Daemon::Zebra, Daemon::Bgpd, Daemon::Bfdd];

/// Split a config script into per-daemon command lists, by `owned::takes` of each line (a
/// top-level line opens a block whose lines go where it goes, unless their row says otherwise).
/// `front_end` takes what zebra and the library own (see `dialect`).
fn split_script(script: &str, front_end: Daemon) -> Vec<(Daemon, Vec<&str>)> {
    let mut out: Vec<(Daemon, Vec<&str>)> = vec![(Daemon::Bgpd, vec![]), (front_end, vec![]), (Daemon::Bfdd, vec![])];
    let both = [Daemon::Bgpd, front_end];
    let daemons = |t: Takes| -> &[Daemon] {
        match t {
            Takes::Block | Takes::Bgpd => &both[..1],
            Takes::Bfdd => &[Daemon::Bfdd],
            Takes::FrontEnd => &both[1..],
            Takes::BgpdAndFrontEnd => &both,
        }
    };
    let mut block: &[Daemon] = &both[..1];
    for line in script.lines().filter(|l| !l.trim().is_empty()) {
        let top = !line.starts_with(' ');
        let targets = match takes(line) {
            Takes::Block if !top || line == "exit" => block,
            t if top => {
                block = daemons(t);
                block
            }
            t => daemons(t),
        };
        for t in targets {
            if let Some((_, v)) = out.iter_mut().find(|(d, _)| d == t) {
                v.push(line.trim_start());
            }
        }
    }
    out.retain(|(_, v)| !v.is_empty());
    out
}

impl FrrControl for FrrVty {
    async fn identity(&self) -> Result<FrrIdentity, FrrError> {
        let mut ids = Vec::new();
        for d in BASE_DAEMONS {
            ids.extend(self.daemon_id(d).await?);
        }
        let dialect = self.dialect_for(&ids).await?;
        for d in dialect.daemons().iter().filter(|d| !BASE_DAEMONS.contains(d)) {
            ids.extend(self.daemon_id(*d).await?);
        }
        Ok(FrrIdentity(ids))
    }

    async fn running_config(&self) -> Result<String, FrrError> {
        // Per daemon, not vtysh's merged view: route-maps live in several daemons, and a restarted
        // bgpd has none while the front end's copies would still show in the merged config.
        let dialect = self.dialect().await?;
        let mut text = dialect.normalize_bgpd(show_running(&self.bgpd, self.timeouts.show).await?);
        let bfdd = show_running(&self.bfdd, self.timeouts.show).await?;
        let zebra = show_running(&self.zebra, self.timeouts.show).await?;
        let zebra = dialect.zebra_settings(&zebra);
        // bgpd's part is nearly all of it: room for the rest at once, not a doubling of that.
        text.reserve_exact(2 + bfdd.len() + zebra.iter().map(|l| l.len() + 1).sum::<usize>());
        text.push('\n');
        text.push_str(&bfdd);
        text.push('\n');
        // Of zebra's settings, only those the agent manages, as the rendered config writes them.
        for l in zebra {
            text.push_str(l);
            text.push('\n');
        }
        Ok(text)
    }

    async fn apply(&self, script: &str) -> Result<(bool, String), FrrError> {
        let front_end = self.dialect().await?.config_front_end();
        let mut ok = true;
        let mut report = String::new();
        for (target, lines) in split_script(script, front_end) {
            let mut cmds = Vec::with_capacity(lines.len() + 2);
            cmds.push("configure terminal");
            cmds.extend(lines.iter().copied());
            cmds.push("end");
            let conn = self.conn(target);
            let answers = match conn.run(&cmds, self.timeouts.apply).await {
                Ok(a) => a,
                Err(e) => {
                    conn.reset().await;
                    return Err(vty_err("apply")(e));
                }
            };
            for (cmd, a) in cmds.iter().zip(&answers) {
                if a.status != 0 {
                    ok = false;
                    report.push_str(&format!("{}: {}: {}\n", conn.daemon(), redact(cmd), first_line(&a.output)));
                }
            }
        }
        Ok((ok, report))
    }

    async fn command(&self, cmd: &str) -> Result<String, FrrError> {
        one_command(&self.bgpd, cmd, self.timeouts.show).await
    }

    async fn bfd_command(&self, cmd: &str) -> Result<String, FrrError> {
        one_command(&self.bfdd, cmd, self.timeouts.show).await
    }
}

async fn show_running(conn: &VtyConn, timeout: Duration) -> Result<String, FrrError> {
    let a = conn.run(&["show running-config"], timeout).await.map_err(vty_err("show running-config"))?;
    let a = a.into_iter().next().unwrap_or(Answer { status: 1, output: String::new() });
    if a.status != 0 {
        return Err(FrrError::Vtysh { what: "show running-config", msg: first_line(&a.output) });
    }
    Ok(a.output)
}

async fn one_command(conn: &VtyConn, cmd: &str, timeout: Duration) -> Result<String, FrrError> {
    let a = conn.run(&[cmd], timeout).await.map_err(vty_err("command"))?;
    let a = a.into_iter().next().unwrap_or(Answer { status: 1, output: String::new() });
    if a.status != 0 {
        return Err(FrrError::Vtysh { what: "command", msg: first_line(&a.output) });
    }
    Ok(a.output)
}

fn vty_err(what: &'static str) -> impl Fn(VtyError) -> FrrError {
    move |e| match e {
        VtyError::Timeout { secs, .. } => FrrError::Timeout { what, secs },
        e => FrrError::Vtysh { what, msg: e.to_string() },
    }
}

fn first_line(s: &str) -> String {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").chars().take(300).collect()
}

/// Write frr.conf atomically (temp file in the same directory, fsync, rename), mode 0600, so
/// that an FRR restart always starts from a complete config.
pub fn write_config_file(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("frr.conf"),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let res = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Hide passwords in text that may be logged.
pub fn redact(text: &str) -> String {
    text.lines()
        .map(|l| match l.find(" password ") {
            Some(i) => format!("{} password <redacted>", &l[..i]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What one reconcile did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Lines applied (0: FRR already ran the desired config).
    pub changes: usize,
    pub passes: usize,
    pub soft_out: usize,
    /// Only `network` lines changed and FRR answered every one with success: its answers are the
    /// verification (such a line is shown exactly as given), no read-back is needed.
    pub answers_verify: bool,
}

/// The fast path for a change while FRR is known to run `from` (verified earlier, same daemons):
/// apply the difference to `to` without reading the running config first. Any line FRR
/// refuses is an error, and the caller falls back to `reconcile`; a later `reconcile` verifies.
pub async fn apply_change<C: FrrControl>(frr: &C, from: &Conf, to: &Conf) -> Result<Report, FrrError> {
    let (delta, networks_only) = conf_delta(from, to);
    if delta.is_empty() {
        return Ok(Report { answers_verify: true, ..Report::default() });
    }
    let (ok, output) = frr.apply(&delta.script).await?;
    if !ok {
        return Err(FrrError::Vtysh { what: "-f", msg: redact(&output).replace('\n', " | ") });
    }
    soft_refresh(frr, &delta.soft_out).await;
    Ok(Report { changes: delta.changes, passes: 1, soft_out: delta.soft_out.len(), answers_verify: networks_only })
}

/// `change_delta` of two rendered configs: when only their `network` lines differ, from their
/// maps without making either text (`Conf::network_delta`).
pub fn conf_delta(from: &Conf, to: &Conf) -> (Delta, bool) {
    match Conf::network_delta(from, to) {
        Some(d) => (d, true),
        None => change_delta(&from.text(), &to.text()),
    }
}

/// The script from `from` to `to`: Services coming and going (only `network` lines differ, no
/// extras) without parsing either config; anything else through the structural diff. The flag
/// says which: true for `network` lines only.
pub fn change_delta(from: &str, to: &str) -> (Delta, bool) {
    let no_extras = extras::split(from).1.is_none() && extras::split(to).1.is_none();
    if let Some(d) = no_extras.then(|| network_delta(from, to)).flatten() {
        return (d, true);
    }
    let mut owned = extras::owned(from);
    owned.extend(extras::owned(to));
    (diff_owned(&extras::desired(from), &extras::desired(to), &owned), false)
}

/// An outbound soft refresh resends a neighbor's routes with their new attributes now rather than
/// when FRR's route-map timer fires; it never resets the session. A failure is only logged.
async fn soft_refresh<C: FrrControl>(frr: &C, neighbors: &[SoftOut]) {
    for s in neighbors {
        if let Err(e) = frr.command(&s.command()).await {
            warn!(neighbor = %s.neighbor, error = %e, "soft refresh failed; FRR's route-map timer will catch up");
        }
    }
}

/// The read-only part of a reconcile after reading FRR's config: the difference between `running`
/// and `desired` (`previous` as in `reconcile_from`). Making the texts, parsing and diffing run on
/// a blocking thread, so the caller may drop this future when something more urgent arrives:
/// nothing was sent. (Reading the running config must not be dropped half way: see `applier`.)
pub async fn diff_running(running: String, desired: Conf, previous: Conf) -> Result<Delta, FrrError> {
    tokio::task::spawn_blocking(move || {
        let mut owned = extras::owned(&desired.skeleton());
        owned.extend(extras::owned(&previous.skeleton()));
        drop(previous);
        // When at most `network` lines differ (the usual check): no text of `desired`, no trees.
        if let Some(d) = running_delta(&running, &desired, &owned) {
            debug!(changes = d.changes, "check: at most network lines differ");
            return d;
        }
        debug!("check: the full diff");
        // The trees borrow their texts' lines (no copy of a large config).
        let have = parse(&running);
        let desired = desired.text();
        let want = extras::desired(&desired);
        diff_owned(&have, &want, &owned)
    })
    .await
    .map_err(|e| FrrError::Vtysh { what: "diff", msg: e.to_string() })
}

/// Make FRR run `desired` (full frr.conf text): diff against the running config, apply, verify.
pub async fn reconcile<C: FrrControl>(frr: &C, desired: &str) -> Result<Report, FrrError> {
    reconcile_from(frr, desired, "").await
}

/// `reconcile`, where `previous` is the config FRR was given before (extras it had and `desired`
/// lacks are removed).
pub async fn reconcile_from<C: FrrControl>(frr: &C, desired: &str, previous: &str) -> Result<Report, FrrError> {
    let want = extras::desired(desired);
    let mut owned = extras::owned(desired);
    owned.extend(extras::owned(previous));
    let mut report = Report::default();
    let mut last_output = String::new();
    let mut pass = 0;
    loop {
        let running = frr.running_config().await?;
        let delta = diff_owned(&parse(&running), &want, &owned);
        if delta.is_empty() {
            report.passes = pass;
            return Ok(report);
        }
        if pass == MAX_PASSES {
            return Err(FrrError::Refused {
                lines: delta.changes,
                remaining: redact(&delta.script).replace('\n', " | "),
                output: redact(&last_output).replace('\n', " | "),
            });
        }
        debug!(changes = delta.changes, pass, "applying");
        let (ok, output) = frr.apply(&delta.script).await?;
        if !ok {
            warn!(output = %redact(&output), "FRR refused lines while applying");
        }
        last_output = output;
        report.changes += delta.changes;
        soft_refresh(frr, &delta.soft_out).await;
        report.soft_out += delta.soft_out.len();
        pass += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::Daemon;

    #[test]
    fn bgp_only_route_map_lines_go_to_bgpd_only() {
        let script = "route-map fs-out-x permit 7\n match tag 7\n set community 65000:7\n no set large-community\nexit\nbfd\n profile p\nexit\nrouter bgp 64512\n network 203.0.113.1/32\nexit\n";
        let split = super::split_script(script, Daemon::Zebra);
        let of = |t: Daemon| split.iter().find(|(d, _)| *d == t).map(|(_, l)| l.clone()).unwrap_or_default();
        assert_eq!(of(Daemon::Zebra), vec!["route-map fs-out-x permit 7", "match tag 7", "exit"]);
        assert_eq!(
            of(Daemon::Bgpd),
            vec![
                "route-map fs-out-x permit 7",
                "match tag 7",
                "set community 65000:7",
                "no set large-community",
                "exit",
                "router bgp 64512",
                "network 203.0.113.1/32",
                "exit"
            ]
        );
        assert_eq!(of(Daemon::Bfdd), vec!["bfd", "profile p", "exit"]);
        // FRR 10: the same lines go to mgmtd, and zebra's settings too.
        let with_settings = format!("ip nht resolve-via-default\n{script}no ipv6 nht resolve-via-default\n");
        let split = super::split_script(&with_settings, Daemon::Mgmtd);
        let of = |t: Daemon| split.iter().find(|(d, _)| *d == t).map(|(_, l)| l.clone()).unwrap_or_default();
        assert_eq!(
            of(Daemon::Mgmtd),
            vec![
                "ip nht resolve-via-default",
                "route-map fs-out-x permit 7",
                "match tag 7",
                "exit",
                "no ipv6 nht resolve-via-default"
            ]
        );
        assert!(of(Daemon::Zebra).is_empty());
        assert!(!of(Daemon::Bgpd).iter().any(|l| l.contains("nht")));
    }

    use super::*;
    use crate::frr::fake::{FakeFrr, Mode};

    const HAVE: &str = "route-map fs-out-192.0.2.1 permit 7\n match tag 7\n set community 65000:1\nexit\nrouter bgp 64512\n neighbor 192.0.2.1 remote-as 64500\n neighbor 192.0.2.1 password old-secret\n address-family ipv4 unicast\n  neighbor 192.0.2.1 route-map fs-out-192.0.2.1 out\n exit-address-family\nexit\n";

    fn fake(accept: bool, want: &str) -> FakeFrr {
        FakeFrr::new(HAVE, want, if accept { Mode::Accept } else { Mode::Refuse })
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(f)
    }

    #[test]
    fn reconcile_applies_once_and_soft_refreshes_changed_policy() {
        let want = HAVE.replace("65000:1", "65000:2");
        let f = fake(true, &want);
        let r = block_on(reconcile(&f, &want)).expect("converges");
        assert_eq!((r.changes, r.passes, r.soft_out), (1, 1, 1));
        assert_eq!(f.commands.lock().expect("lock").as_slice(), ["clear bgp ipv4 unicast 192.0.2.1 soft out"]);
        // Nothing left to do: no further apply.
        let again = block_on(reconcile(&f, &want)).expect("converges");
        assert_eq!(again.changes, 0);
        assert_eq!(f.scripts.lock().expect("lock").len(), 1);
    }

    #[test]
    fn refused_lines_end_in_an_error_after_bounded_passes_without_leaking_passwords() {
        let want = HAVE.replace("old-secret", "new-secret");
        let f = fake(false, &want);
        let err = block_on(reconcile(&f, &want)).expect_err("FRR refuses");
        assert!(err.is_refusal());
        assert_eq!(f.scripts.lock().expect("lock").len(), MAX_PASSES, "bounded retries, no spinning");
        let msg = err.to_string();
        assert!(msg.contains("password <redacted>") && !msg.contains("new-secret"), "{msg}");
    }

    #[test]
    fn fast_path_reports_refusal_so_the_caller_can_reconcile() {
        let want = HAVE.replace("65000:1", "65000:3");
        let (have, want_c) = (Conf::from_text(HAVE), Conf::from_text(want.clone()));
        let f = fake(false, &want);
        assert!(block_on(apply_change(&f, &have, &want_c)).is_err());
        let f = fake(true, &want);
        let r = block_on(apply_change(&f, &have, &want_c)).expect("applied");
        assert_eq!(r.changes, 1);
        // Identical configs: nothing is sent at all.
        let f = fake(true, HAVE);
        assert_eq!(block_on(apply_change(&f, &have, &have)).expect("noop").changes, 0);
        assert!(f.scripts.lock().expect("lock").is_empty());
    }
}
