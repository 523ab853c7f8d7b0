//! Keeps the co-located FRR running the rendered config: the `FrrControl` trait (the I/O edge,
//! implemented by `Vtysh` over FRR's vty sockets) and `reconcile`, which diffs what FRR runs
//! against what it should run, applies the difference in one `vtysh -f`, and verifies the result.

use std::future::Future;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tracing::{debug, warn};

use super::config::parse;
use super::diff::diff;

/// Daemons the agent needs (their vty sockets are `<dir>/<daemon>.vty`).
pub const DAEMONS: &[&str] = &["zebra", "bgpd", "bfdd"];
/// A `show` or `clear` must answer within this; bgpd answers `show running-config` for 10,000
/// prefixes in about 50 ms.
const SHOW_TIMEOUT: Duration = Duration::from_secs(20);
/// Applying 10,000 lines takes about a second in FRR 8.4; this leaves room for a loaded machine.
const APPLY_TIMEOUT: Duration = Duration::from_secs(120);
/// Passes of diff + apply before a difference is reported as refused by FRR (removing BFD from a
/// neighbor can take two).
const MAX_PASSES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum FrrError {
    #[error("FRR is not ready: {0}")]
    NotReady(String),
    #[error("vtysh {what} timed out after {secs}s")]
    Timeout { what: &'static str, secs: u64 },
    #[error("vtysh {what}: {msg}")]
    Vtysh { what: &'static str, msg: String },
    #[error("FRR did not take {lines} line(s) after {MAX_PASSES} passes; still differing: {remaining}; vtysh said: {output}")]
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
    /// Run a config script (as `vtysh -f`). Returns vtysh's output and whether every line took.
    fn apply(&self, script: &str) -> impl Future<Output = Result<(bool, String), FrrError>> + Send;
    /// Run one exec-mode command (`clear ...`, `show ...`).
    fn command(&self, cmd: &str) -> impl Future<Output = Result<String, FrrError>> + Send;
}

/// `FrrControl` through the vtysh binary and the daemons' vty sockets in `socket_dir`.
#[derive(Clone, Debug)]
pub struct Vtysh {
    pub vtysh: PathBuf,
    pub socket_dir: PathBuf,
    /// Private directory for the scripts handed to `vtysh -f` (they can hold passwords).
    pub scratch_dir: PathBuf,
}

impl Vtysh {
    pub fn new(socket_dir: impl Into<PathBuf>) -> Self {
        Vtysh {
            vtysh: PathBuf::from("vtysh"),
            socket_dir: socket_dir.into(),
            scratch_dir: std::env::temp_dir().join(format!("frr-speaker-{}", std::process::id())),
        }
    }

    async fn run(&self, what: &'static str, args: &[&str], timeout: Duration) -> Result<(bool, String), FrrError> {
        let mut cmd = Command::new(&self.vtysh);
        cmd.arg("--vty_socket").arg(&self.socket_dir).args(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| FrrError::Vtysh { what, msg: format!("cannot start vtysh: {e}") })?;
        let t0 = std::time::Instant::now();
        let out = tokio::time::timeout(timeout, child.wait_with_output())
            .await
            .map_err(|_| FrrError::Timeout { what, secs: timeout.as_secs() })??;
        debug!(what, ms = t0.elapsed().as_millis() as u64, ok = out.status.success(), "vtysh");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok((out.status.success(), text))
    }
}

impl FrrControl for Vtysh {
    async fn identity(&self) -> Result<FrrIdentity, FrrError> {
        let mut ids = Vec::new();
        for d in DAEMONS {
            let path = self.socket_dir.join(format!("{d}.vty"));
            let meta = std::fs::metadata(&path).map_err(|e| FrrError::NotReady(format!("{}: {e}", path.display())))?;
            // A stale socket file outlives a killed daemon: only an accepted connection counts.
            tokio::time::timeout(Duration::from_secs(2), tokio::net::UnixStream::connect(&path))
                .await
                .map_err(|_| FrrError::NotReady(format!("{d} does not accept connections")))?
                .map_err(|e| FrrError::NotReady(format!("{d}: {e}")))?;
            // A restarted daemon creates its socket anew; on tmpfs the inode number is often reused,
            // the creation time (ns) and the pid file are not.
            let pid = std::fs::read_to_string(self.socket_dir.join(format!("{d}.pid")))
                .ok()
                .and_then(|p| p.trim().parse::<u64>().ok())
                .unwrap_or(0);
            ids.extend([meta.ino(), meta.ctime() as u64, meta.ctime_nsec() as u64, pid]);
        }
        Ok(FrrIdentity(ids))
    }

    async fn running_config(&self) -> Result<String, FrrError> {
        // Per daemon, not vtysh's merged view: route-maps live in every daemon, and a restarted
        // bgpd has none while zebra's copies would still show in the merged config.
        let args = ["-c", "show running-config bgpd", "-c", "show running-config bfdd"];
        let (ok, text) = self.run("show running-config", &args, SHOW_TIMEOUT).await?;
        if !ok {
            return Err(FrrError::Vtysh { what: "show running-config", msg: first_line(&text) });
        }
        Ok(text)
    }

    async fn apply(&self, script: &str) -> Result<(bool, String), FrrError> {
        let path = write_private(&self.scratch_dir, "apply.conf", script)?;
        let res = self.run("-f", &["-f", &path.display().to_string()], APPLY_TIMEOUT).await;
        let _ = std::fs::remove_file(&path);
        res
    }

    async fn command(&self, cmd: &str) -> Result<String, FrrError> {
        let (ok, text) = self.run("command", &["-c", cmd], SHOW_TIMEOUT).await?;
        if !ok {
            return Err(FrrError::Vtysh { what: "command", msg: first_line(&text) });
        }
        Ok(text)
    }
}

fn first_line(s: &str) -> String {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").chars().take(300).collect()
}

/// Write `contents` to a new file only the agent can read, in `dir` (created 0700).
fn write_private(dir: &Path, name: &str, contents: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    f.write_all(contents.as_bytes())?;
    Ok(path)
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
}

/// The fast path for a change while FRR is known to run `from` (verified earlier, same daemons):
/// apply the difference to `to` without reading the running config first. Any line vtysh
/// refuses is an error, and the caller falls back to `reconcile`; a later `reconcile` verifies.
pub async fn apply_change<C: FrrControl>(frr: &C, from: &str, to: &str) -> Result<Report, FrrError> {
    let delta = diff(&parse(from), &parse(to));
    if delta.is_empty() {
        return Ok(Report::default());
    }
    let (ok, output) = frr.apply(&delta.script).await?;
    if !ok {
        return Err(FrrError::Vtysh { what: "-f", msg: redact(&output).replace('\n', " | ") });
    }
    for s in &delta.soft_out {
        if let Err(e) = frr.command(&s.command()).await {
            warn!(neighbor = %s.neighbor, error = %e, "soft refresh failed; FRR's route-map timer will catch up");
        }
    }
    Ok(Report { changes: delta.changes, passes: 1, soft_out: delta.soft_out.len() })
}

/// Make FRR run `desired` (full frr.conf text): diff against the running config, apply, verify.
pub async fn reconcile<C: FrrControl>(frr: &C, desired: &str) -> Result<Report, FrrError> {
    let want = parse(desired);
    let mut report = Report::default();
    let mut last_output = String::new();
    let mut pass = 0;
    loop {
        let running = frr.running_config().await?;
        let delta = diff(&parse(&running), &want);
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
            warn!(output = %redact(&output), "vtysh reported errors while applying");
        }
        last_output = output;
        report.changes += delta.changes;
        for s in &delta.soft_out {
            // An outbound soft refresh resends the neighbor's routes with the new attributes now
            // rather than when FRR's route-map timer fires; it never resets the session.
            if let Err(e) = frr.command(&s.command()).await {
                warn!(neighbor = %s.neighbor, error = %e, "soft refresh failed; FRR's route-map timer will catch up");
            }
            report.soft_out += 1;
        }
        pass += 1;
    }
}
