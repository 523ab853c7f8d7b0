//! A client of FRR's vty sockets (`<dir>/<daemon>.vty`), the protocol vtysh itself speaks: each
//! command is sent NUL-terminated; the daemon answers with its output followed by three NUL bytes
//! and one status byte (0: success). One persistent connection per daemon, reconnected when it
//! breaks (a restarted daemon). Measured with FRR 8.4: well under a millisecond per command,
//! against 20-50 ms for starting a vtysh process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::Mutex;

/// Largest answer accepted (a running config with 10,000 prefixes is about 600 KB).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum VtyError {
    #[error("{daemon}: {source}")]
    Io { daemon: String, source: std::io::Error },
    #[error("{daemon}: no answer within {secs}s")]
    Timeout { daemon: String, secs: u64 },
    #[error("{daemon}: answer larger than {MAX_ANSWER} bytes")]
    TooLarge { daemon: String },
}

/// A command's result: FRR's status code (0 is success) and its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u8,
    pub output: String,
}

/// One daemon's vty socket.
pub struct VtyConn {
    daemon: String,
    path: PathBuf,
    stream: Mutex<Option<UnixStream>>,
    /// Whether the last attempt used a new connection (then a failure is not a stale one).
    was_fresh: std::sync::atomic::AtomicBool,
}

impl VtyConn {
    pub fn new(dir: &Path, daemon: &str) -> Self {
        VtyConn {
            daemon: daemon.to_string(),
            path: dir.join(format!("{daemon}.vty")),
            stream: Mutex::new(None),
            was_fresh: std::sync::atomic::AtomicBool::new(false),
        }
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
        match self.run_once(commands, timeout).await {
            // A kept connection to a daemon that has since restarted fails at once: try a new one.
            Err((VtyError::Io { .. }, _)) if !self.was_fresh.load(std::sync::atomic::Ordering::Relaxed) => {
                self.run_once(commands, timeout).await.map_err(|(e, _)| e)
            }
            // A new connection closed before it answered anything (FRR 10's mgmtd does this now
            // and then right after it starts): nothing of `commands` can have taken but at most
            // the first, so try once more, a moment later.
            Err((VtyError::Io { .. }, 0)) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.run_once(commands, timeout).await.map_err(|(e, _)| e)
            }
            other => other.map_err(|(e, _)| e),
        }
    }

    /// Cancel-safe: the connection is out of its slot while a command is under way, so a caller
    /// that drops this future (a check that yields to a new change) drops the connection with it,
    /// and no half-read answer is left for the next command.
    /// On error, also how many of `commands` were answered.
    async fn run_once(&self, commands: &[&str], timeout: Duration) -> Result<Vec<Answer>, (VtyError, usize)> {
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
            if fresh {
                exchange(&mut stream, "enable", &self.daemon).await?;
            }
            for c in commands {
                out.push(exchange(&mut stream, c, &self.daemon).await?);
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

async fn exchange(stream: &mut UnixStream, cmd: &str, daemon: &str) -> Result<Answer, VtyError> {
    let io = |source| VtyError::Io { daemon: daemon.to_string(), source };
    let mut msg = Vec::with_capacity(cmd.len() + 1);
    msg.extend_from_slice(cmd.as_bytes());
    msg.push(0);
    stream.write_all(&msg).await.map_err(io)?;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed")));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() >= 4 && buf[buf.len() - 4..buf.len() - 1] == [0, 0, 0] {
            let status = buf[buf.len() - 1];
            buf.truncate(buf.len() - 4);
            return Ok(Answer { status, output: String::from_utf8_lossy(&buf).into_owned() });
        }
        if buf.len() > MAX_ANSWER {
            return Err(VtyError::TooLarge { daemon: daemon.to_string() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A daemon that answers each command with its own text, `slow ...` after 200 ms; with
    /// `close_first`, it closes its first connection at once (as a starting mgmtd may).
    fn daemon(dir: &Path, close_first: bool) {
        let listener = UnixListener::bind(dir.join("bgpd.vty")).expect("bind");
        tokio::spawn(async move {
            let mut first = close_first;
            while let Ok((mut s, _)) = listener.accept().await {
                if std::mem::take(&mut first) {
                    drop(s);
                    continue;
                }
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut byte = [0u8; 1];
                    while s.read_exact(&mut byte).await.is_ok() {
                        if byte[0] != 0 {
                            buf.push(byte[0]);
                            continue;
                        }
                        let cmd = String::from_utf8_lossy(&std::mem::take(&mut buf)).into_owned();
                        if cmd.starts_with("slow") {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        let mut answer = cmd.into_bytes();
                        answer.extend_from_slice(&[0, 0, 0, 0]);
                        if s.write_all(&answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    }

    #[tokio::test]
    async fn a_command_dropped_half_way_leaves_no_answer_for_the_next_one() {
        let dir = std::env::temp_dir().join(format!("frr-speaker-vty-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        daemon(&dir, false);
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

    #[tokio::test]
    async fn a_new_connection_closed_before_any_answer_is_tried_once_more() {
        let dir = std::env::temp_dir().join(format!("frr-speaker-vty-closed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        daemon(&dir, true);
        let conn = VtyConn::new(&dir, "bgpd");
        let answers = conn.run(&["configure terminal", "end"], Duration::from_secs(5)).await.expect("answered");
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].output, "configure terminal");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
