//! A client of FRR's vty sockets (`<dir>/<daemon>.vty`), the protocol vtysh itself speaks: each
//! command is sent NUL-terminated; the daemon answers with its output followed by three NUL bytes
//! and one status byte (0: success). One persistent connection per daemon, reconnected when it
//! breaks (a restarted daemon): no vtysh process per call (docs/benchmarks.md).
//!
//! Commands may be pipelined (`with_window`): up to a window of them is sent in one write, then
//! their answers are read. The daemon runs them one after the other in the order received and
//! answers each, exactly as when each waits for the previous answer; what is saved is a round
//! trip per command.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::Mutex;

/// Retries of a command whose new connection the daemon closes before answering anything.
const FRESH_RETRIES: usize = 4;

/// A command refused because the daemon was busy is sent again after this, doubling up to
/// `BUSY_MAX_WAIT`, until it is taken or the connection's patience ends (`with_busy_retry`).
const BUSY_FIRST_WAIT: Duration = Duration::from_millis(5);
const BUSY_MAX_WAIT: Duration = Duration::from_millis(100);

/// Largest answer accepted: far above a running config with 100,000 prefixes.
const MAX_ANSWER: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum VtyError {
    #[error("{daemon}: {source}")]
    Io { daemon: String, source: std::io::Error },
    #[error("{daemon}: no answer within {secs}s")]
    Timeout { daemon: String, secs: u64 },
    #[error("{daemon}: answer larger than {MAX_ANSWER} bytes")]
    TooLarge { daemon: String },
    #[error("{daemon}: still busy after {secs}s (another transaction holds its datastore lock)")]
    Busy { daemon: String, secs: u64 },
}

/// A command's result: FRR's status code (0 is success) and its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u8,
    pub output: String,
}

/// Shared by connections whose commands an exiting agent lets finish: FRR 10.3's bgpd crashes
/// (SIGSEGV in `vty_out`) when a client closes its connection while bgpd still writes an answer
/// (a `show running-config` of 100,000 `network` lines takes a few hundred milliseconds).
#[derive(Clone, Debug, Default)]
pub struct Gate(std::sync::Arc<tokio::sync::RwLock<()>>);

impl Gate {
    /// Wait until no command of these connections is under way, and start none until the guard
    /// is dropped.
    pub async fn close(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.0.write().await
    }
}

/// One daemon's vty socket.
pub struct VtyConn {
    gate: Gate,
    daemon: String,
    path: PathBuf,
    stream: Mutex<Option<UnixStream>>,
    /// Whether the last attempt used a new connection (then a failure is not a stale one).
    was_fresh: std::sync::atomic::AtomicBool,
    /// Commands sent before their answers are read (1: each waits for the previous answer).
    window: usize,
    /// Which refusals mean "busy, nothing done: send it again", and how long one command may
    /// take, refusals and answer together (`with_busy_retry`).
    busy: Option<(IsBusy, Duration)>,
}

/// Recognizes a refusal that means "busy, nothing done".
type IsBusy = fn(&str) -> bool;

impl VtyConn {
    pub fn new(dir: &Path, daemon: &str) -> Self {
        VtyConn {
            gate: Gate::default(),
            daemon: daemon.to_string(),
            path: dir.join(format!("{daemon}.vty")),
            stream: Mutex::new(None),
            was_fresh: std::sync::atomic::AtomicBool::new(false),
            window: 1,
            busy: None,
        }
    }

    /// Put this connection's commands under `gate`.
    pub fn set_gate(&mut self, gate: Gate) {
        self.gate = gate;
    }

    /// Send up to `window` commands before reading their answers (not with `with_busy_retry`).
    pub fn with_window(mut self, window: usize) -> Self {
        debug_assert!(self.busy.is_none(), "a busy retry needs window 1");
        self.window = window.max(1);
        self
    }

    /// A command answered with an error whose output `busy` recognizes (the daemon did nothing
    /// and says so, e.g. FRR 10's mgmtd while another transaction holds its datastore lock) is
    /// sent again a moment later, on the same connection, until taken. Commands then go one at a
    /// time (window 1): none may run before the refused one is taken.
    ///
    /// `patience` bounds one command, its refusals and its answer together: a daemon that keeps
    /// refusing or stops answering is left (`Busy`, `Timeout`) and the connection closed. Closing
    /// it ends this session's own transaction in the daemon and frees any lock it holds (an
    /// apply waiting for a commit that never completes must not hold the datastore for others).
    pub fn with_busy_retry(mut self, busy: IsBusy, patience: Duration) -> Self {
        self.busy = Some((busy, patience));
        self.window = 1;
        self
    }

    pub fn daemon(&self) -> &str {
        &self.daemon
    }

    fn io(&self, source: std::io::Error) -> VtyError {
        VtyError::Io { daemon: self.daemon.clone(), source }
    }

    /// Run `commands` in order on one connection (a new session starts in enable mode). Stops at
    /// the first transport error; FRR's own errors are in the answers.
    pub async fn run(&self, commands: &[&str], timeout: Duration) -> Result<Vec<Answer>, VtyError> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut res = self.run_once(commands, timeout).await;
        if matches!(res, Err((VtyError::Io { .. }, _))) && !self.was_fresh.load(Relaxed) {
            // A kept connection to a daemon that has since restarted fails at once: try a new one.
            res = self.run_once(commands, timeout).await;
        }
        // A new connection closed before it answered anything (a daemon that is restarting, also
        // right after a kept connection failed): nothing of `commands` can have taken but at most
        // the first, so try again a moment later, up to `FRESH_RETRIES` times (after 0.1, 0.2,
        // 0.4, 0.8 s).
        let mut wait = Duration::from_millis(100);
        for _ in 0..FRESH_RETRIES {
            if !(matches!(res, Err((VtyError::Io { .. }, 0))) && self.was_fresh.load(Relaxed)) {
                break;
            }
            tokio::time::sleep(wait).await;
            res = self.run_once(commands, timeout).await;
            wait *= 2;
        }
        res.map_err(|(e, _)| e)
    }

    /// Cancel-safe: the connection is out of its slot while a command is under way, so a caller
    /// that drops this future drops the connection with it, and no half-read answer is left for
    /// the next command. (Callers still let a large `show` finish: FRR 10.3's bgpd crashes when a
    /// client leaves while it writes one; only a timeout drops a read.)
    /// On error, also how many of `commands` were answered.
    async fn run_once(&self, commands: &[&str], timeout: Duration) -> Result<Vec<Answer>, (VtyError, usize)> {
        let _under_way = self.gate.0.read().await;
        let mut guard = self.stream.lock().await;
        let fresh = guard.is_none();
        self.was_fresh.store(fresh, std::sync::atomic::Ordering::Relaxed);
        let timed_out = || VtyError::Timeout { daemon: self.daemon.clone(), secs: timeout.as_secs() };
        let mut stream = match guard.take() {
            Some(s) => s,
            None => tokio::time::timeout(timeout, UnixStream::connect(&self.path))
                .await
                .map_err(|_| (timed_out(), 0))?
                .map_err(|e| (self.io(e), 0))?,
        };
        let mut out = Vec::with_capacity(commands.len());
        let res = async {
            let mut reader = Answers::default();
            if fresh {
                let mut enable = Vec::new();
                exchange(&mut stream, &mut reader, &["enable"], &self.daemon, &mut enable).await?;
            }
            for window in commands.chunks(self.window) {
                let Some((busy, patience)) = self.busy else {
                    exchange(&mut stream, &mut reader, window, &self.daemon, &mut out).await?;
                    continue;
                };
                let gave_up = || VtyError::Timeout { daemon: self.daemon.clone(), secs: patience.as_secs() };
                let deadline = tokio::time::Instant::now() + patience;
                let answer = exchange(&mut stream, &mut reader, window, &self.daemon, &mut out);
                tokio::time::timeout_at(deadline, answer).await.map_err(|_| gave_up())??;
                // Window 1 here: the refused command is the last one sent.
                let mut wait = BUSY_FIRST_WAIT;
                while out.last().is_some_and(|a| a.status != 0 && busy(&a.output)) {
                    let refused = out.pop().map(|a| a.output).unwrap_or_default();
                    tracing::debug!(daemon = %self.daemon, answer = refused.trim(), "busy; sending the command again");
                    if tokio::time::Instant::now() + wait >= deadline {
                        return Err(VtyError::Busy { daemon: self.daemon.clone(), secs: patience.as_secs() });
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(BUSY_MAX_WAIT);
                    let answer = exchange(&mut stream, &mut reader, window, &self.daemon, &mut out);
                    tokio::time::timeout_at(deadline, answer).await.map_err(|_| gave_up())??;
                }
            }
            Ok::<(), VtyError>(())
        };
        let res = tokio::time::timeout(timeout, res).await;
        match res {
            Ok(Ok(())) => {
                *guard = Some(stream);
                Ok(out)
            }
            Ok(Err(e)) => Err((e, out.len())),
            Err(_) => Err((timed_out(), out.len())),
        }
    }

    /// Drop the connection (the next `run` connects afresh).
    pub async fn reset(&self) {
        *self.stream.lock().await = None;
    }
}

/// What has been read of the daemon's answers and not yet taken.
#[derive(Default)]
struct Answers {
    buf: Vec<u8>,
    /// Where the next answer starts in `buf`.
    start: usize,
    /// How far `buf` was searched for the next answer's end.
    scanned: usize,
}

impl Answers {
    /// The next complete answer, if `buf` holds one. An answer is its output (no NUL byte in it)
    /// followed by three NUL bytes and the status byte.
    fn next(&mut self) -> Option<Answer> {
        let from = self.start.max(self.scanned);
        let Some(nul) = self.buf[from..].iter().position(|b| *b == 0).map(|i| from + i) else {
            self.scanned = self.buf.len();
            return None;
        };
        self.scanned = nul;
        if self.buf.len() < nul + 4 {
            return None;
        }
        let status = self.buf[nul + 3];
        if self.start == 0 && nul + 4 == self.buf.len() {
            // The answer is the whole buffer (a large `show` always is): it becomes the output
            // without a copy (a large running config is megabytes), and the buffer's
            // memory goes with it.
            let mut bytes = std::mem::take(&mut self.buf);
            bytes.truncate(nul);
            bytes.shrink_to_fit();
            self.scanned = 0;
            let output =
                String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            return Some(Answer { status, output });
        }
        let answer = Answer { status, output: String::from_utf8_lossy(&self.buf[self.start..nul]).into_owned() };
        self.start = nul + 4;
        self.scanned = self.start;
        if self.start == self.buf.len() {
            self.buf.clear();
            (self.start, self.scanned) = (0, 0);
        }
        Some(answer)
    }
}

/// Send `commands` in one write, then read one answer for each into `out`.
async fn exchange(
    stream: &mut UnixStream,
    reader: &mut Answers,
    commands: &[&str],
    daemon: &str,
    out: &mut Vec<Answer>,
) -> Result<(), VtyError> {
    let io = |source| VtyError::Io { daemon: daemon.to_string(), source };
    let mut msg = Vec::with_capacity(commands.iter().map(|c| c.len() + 1).sum());
    for c in commands {
        msg.extend_from_slice(c.as_bytes());
        msg.push(0);
    }
    stream.write_all(&msg).await.map_err(io)?;
    let mut pending = commands.len();
    let mut chunk = [0u8; 16 * 1024];
    while pending > 0 {
        if let Some(a) = reader.next() {
            out.push(a);
            pending -= 1;
            continue;
        }
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed")));
        }
        reader.buf.extend_from_slice(&chunk[..n]);
        if reader.buf.len() - reader.start > MAX_ANSWER {
            return Err(VtyError::TooLarge { daemon: daemon.to_string() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A daemon that answers each command with its own text, `slow ...` after 200 ms; with
    /// `close_first`, it closes its first `close_first` connections at once (as a starting mgmtd
    /// may). The first `restart N` closes its connection unanswered and then the next N new ones,
    /// as a daemon that restarts (later ones are answered). `lockedN ...` is refused N times on
    /// its connection as mgmtd refuses a line while its datastore is locked; `fail ...` is refused.
    fn daemon(dir: &Path, close_first: usize) {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
        let listener = UnixListener::bind(dir.join("bgpd.vty")).expect("bind");
        let to_close = std::sync::Arc::new(AtomicUsize::new(close_first));
        let restarted = std::sync::Arc::new(AtomicBool::new(false));
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                if to_close.load(SeqCst) > 0 {
                    to_close.fetch_sub(1, SeqCst);
                    drop(s);
                    continue;
                }
                let (to_close, restarted) = (to_close.clone(), restarted.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut byte = [0u8; 1];
                    let mut refused = std::collections::HashMap::<String, usize>::new();
                    while s.read_exact(&mut byte).await.is_ok() {
                        if byte[0] != 0 {
                            buf.push(byte[0]);
                            continue;
                        }
                        let cmd = String::from_utf8_lossy(&std::mem::take(&mut buf)).into_owned();
                        if cmd.starts_with("slow") {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        if let Some(n) = cmd.strip_prefix("restart ") {
                            if !restarted.swap(true, SeqCst) {
                                to_close.store(n.parse().expect("count"), SeqCst);
                                return;
                            }
                        }
                        let times = cmd.strip_prefix("locked").and_then(|r| r.split(' ').next()?.parse().ok());
                        let seen = refused.entry(cmd.clone()).or_insert(0);
                        let answer = if times.is_some_and(|n: usize| *seen < n) {
                            *seen += 1;
                            b"% command failed, could not lock running DS\n\0\0\0\x01".to_vec()
                        } else if cmd.starts_with("fail") {
                            b"% [MGMTD] Unknown command: fail\n\0\0\0\x02".to_vec()
                        } else {
                            let mut a = cmd.into_bytes();
                            a.extend_from_slice(&[0, 0, 0, 0]);
                            a
                        };
                        if s.write_all(&answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    }

    /// A fresh directory `frr-speaker-vty-<name>-<pid>` with `daemon` listening in it.
    fn fake_daemon(name: &str, close_first: usize) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("frr-speaker-vty-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        daemon(&dir, close_first);
        dir
    }

    #[tokio::test]
    async fn a_command_dropped_half_way_leaves_no_answer_for_the_next_one() {
        let dir = fake_daemon("drop", 0);
        let conn = VtyConn::new(&dir, "bgpd");
        let t = Duration::from_secs(5);
        assert_eq!(conn.run(&["show one"], t).await.expect("answer")[0].output, "show one");
        // The caller gives up on a slow answer (a check giving way to a change).
        let dropped = tokio::time::timeout(Duration::from_millis(50), conn.run(&["slow show"], t)).await;
        assert!(dropped.is_err(), "dropped before the answer came");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let next = conn.run(&["show two"], t).await.expect("answer");
        assert_eq!(next[0].output, "show two", "not the dropped command's late answer");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// What an exiting agent does (`app`): close the gate, then abort the task that was
    /// reading. The answer under way is read to its end first, and no command starts after.
    #[tokio::test]
    async fn closing_the_gate_waits_for_the_answer_under_way() {
        let dir = fake_daemon("gate", 0);
        let gate = Gate::default();
        let mut conn = VtyConn::new(&dir, "bgpd");
        conn.set_gate(gate.clone());
        let conn = std::sync::Arc::new(conn);
        let c = conn.clone();
        let reading = tokio::spawn(async move { c.run(&["slow show running-config"], Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = std::time::Instant::now();
        let closed = gate.close().await;
        assert!(t.elapsed() >= Duration::from_millis(100), "waited for the slow answer: {:?}", t.elapsed());
        assert!(reading.is_finished(), "the read ended before the gate closed");
        reading.abort();
        let answer = reading.await.expect("not aborted half way").expect("answered");
        assert_eq!(answer[0].output, "slow show running-config");
        // Closed: a new command waits.
        let late = tokio::time::timeout(Duration::from_millis(100), conn.run(&["show"], Duration::from_secs(5))).await;
        assert!(late.is_err(), "no command while the gate is closed");
        drop(closed);
        assert_eq!(conn.run(&["show"], Duration::from_secs(5)).await.expect("answer")[0].output, "show");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A new connection closed before any answer is tried again (up to `FRESH_RETRIES` times): as
    /// the first connection (a starting mgmtd), and after a kept connection failed because the
    /// daemon restarted and, for a moment, closes the new ones too (mgmtd in the FRR 10 lab).
    #[tokio::test]
    async fn a_new_connection_closed_before_any_answer_is_tried_again() {
        for restart in [false, true] {
            for (closes, answered) in [(1, true), (FRESH_RETRIES, true), (FRESH_RETRIES + 1, false)] {
                let dir = fake_daemon(&format!("closed-{restart}-{closes}"), if restart { 0 } else { closes });
                let conn = VtyConn::new(&dir, "bgpd");
                let cmd = match restart {
                    true => {
                        conn.run(&["show version"], Duration::from_secs(5)).await.expect("kept connection");
                        format!("restart {closes}")
                    }
                    false => "configure terminal".to_string(),
                };
                let answers = conn.run(&[&cmd, "end"], Duration::from_secs(5)).await;
                assert_eq!(answers.is_ok(), answered, "restart {restart}, {closes} closed: {answers:?}");
                if let Ok(answers) = answers {
                    assert_eq!(answers.len(), 2);
                    assert_eq!(answers[0].output, cmd);
                }
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }

    #[tokio::test]
    async fn pipelined_commands_get_their_own_answers_in_order() {
        let dir = fake_daemon("window", 0);
        let conn = VtyConn::new(&dir, "bgpd").with_window(64);
        // Answers of every size, some empty, across windows and reads.
        let cmds: Vec<String> = (0..1000)
            .map(|i| if i % 7 == 0 { String::new() } else { format!("network {i} {}", "x".repeat(i * 37 % 5000)) })
            .collect();
        let refs: Vec<&str> = cmds.iter().map(String::as_str).collect();
        // A bound, not a measure: 2.5 MB echoed by a fake daemon in a debug build took over 5 s
        // on a machine whose two cores were busy with other builds.
        let answers = conn.run(&refs, Duration::from_secs(60)).await.expect("answered");
        assert_eq!(answers.len(), cmds.len());
        for (c, a) in cmds.iter().zip(&answers) {
            assert_eq!((&a.output, a.status), (c, 0));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn answers_split_at_their_terminators_whatever_the_reads() {
        let stream: Vec<u8> = [&b"one\0\0\0\0"[..], b"\0\0\0\x01", b"% Unknown command: x\n\0\0\0\x02"].concat();
        for cut in 0..stream.len() {
            let mut r = Answers::default();
            let mut got = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                r.buf.extend_from_slice(part);
                while let Some(a) = r.next() {
                    got.push((a.status, a.output));
                }
            }
            assert_eq!(
                got,
                vec![(0, "one".to_string()), (1, String::new()), (2, "% Unknown command: x\n".to_string())],
                "cut at {cut}"
            );
        }
    }

    #[tokio::test]
    async fn a_command_refused_while_the_datastore_is_locked_is_sent_again_and_nothing_else_is() {
        let dir = fake_daemon("busy", 0);
        let t = Duration::from_secs(5);
        let script = ["configure terminal", "locked3 route-map a permit 1", "exit", "fail x", "end"];
        let conn = VtyConn::new(&dir, "bgpd").with_busy_retry(crate::frr::dialect::mgmtd_busy, t);
        let a = conn.run(&script, t).await.expect("answers");
        let got: Vec<(u8, &str)> = a.iter().map(|a| (a.status, a.output.as_str())).collect();
        assert_eq!(
            got,
            [
                (0, "configure terminal"),
                (0, "locked3 route-map a permit 1"),
                (0, "exit"),
                (2, "% [MGMTD] Unknown command: fail\n"),
                (0, "end")
            ],
            "the refused line taken on its fourth sending, in its place; another error left as it is"
        );
        // Without the retry, the refusal is the answer.
        let plain = VtyConn::new(&dir, "bgpd");
        let a = plain.run(&["locked1 x"], t).await.expect("answer");
        assert_eq!((a[0].status, a[0].output.as_str()), (1, "% command failed, could not lock running DS\n"));
        // A lock that is never released: the run's timeout ends the retries.
        let a = conn.run(&["locked1000 y"], Duration::from_millis(400)).await;
        assert!(matches!(a, Err(VtyError::Timeout { .. })), "{a:?}");
        // So does the connection's patience, well before a long run's timeout: the daemon is
        // left, and the next command starts a new session.
        let patient =
            VtyConn::new(&dir, "bgpd").with_busy_retry(crate::frr::dialect::mgmtd_busy, Duration::from_millis(300));
        let started = std::time::Instant::now();
        let a = patient.run(&["locked1000 z"], Duration::from_secs(60)).await;
        assert!(matches!(a, Err(VtyError::Busy { .. })), "{a:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        let a = patient.run(&["slow show"], Duration::from_secs(60)).await;
        assert_eq!(a.expect("answer")[0].output, "slow show");
        // An answer that does not come within the patience: left too.
        let a = patient.run(&["slow show", "slow show"], Duration::from_secs(60)).await;
        assert!(a.is_ok(), "each within its own patience: {a:?}");
        let hung =
            VtyConn::new(&dir, "bgpd").with_busy_retry(crate::frr::dialect::mgmtd_busy, Duration::from_millis(100));
        let a = hung.run(&["slow show"], Duration::from_secs(60)).await;
        assert!(matches!(a, Err(VtyError::Timeout { secs: 0, .. })), "{a:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
