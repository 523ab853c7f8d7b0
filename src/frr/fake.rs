//! A fake FRR for unit tests of the driver and the applier: it records what it is sent and
//! behaves as told (take the config, refuse it, or not answer).

use std::sync::Mutex;

use super::driver::{FrrControl, FrrError, FrrIdentity};

/// How the fake answers an apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every line takes: the running config becomes `target`.
    Accept,
    /// FRR answers, but refuses the lines (`% Unknown command`); the running config stays.
    Refuse,
    /// The daemon does not answer (hung, restarting).
    Silent,
}

pub struct FakeFrr {
    pub identity: Mutex<Option<u64>>,
    pub running: Mutex<String>,
    /// What a successful apply makes the running config.
    pub target: Mutex<String>,
    pub mode: Mutex<Mode>,
    pub scripts: Mutex<Vec<String>>,
    pub commands: Mutex<Vec<String>>,
    /// `running_config` calls.
    pub reads: Mutex<usize>,
    /// A script containing this is refused even in `Mode::Accept` (a line FRR does not know).
    pub refuse_containing: Mutex<Option<String>>,
    /// How long `running_config` takes (a large config).
    pub read_delay: Mutex<std::time::Duration>,
}

impl FakeFrr {
    pub fn new(running: &str, target: &str, mode: Mode) -> Self {
        FakeFrr {
            identity: Mutex::new(Some(1)),
            running: Mutex::new(running.into()),
            target: Mutex::new(target.into()),
            mode: Mutex::new(mode),
            scripts: Mutex::new(vec![]),
            commands: Mutex::new(vec![]),
            reads: Mutex::new(0),
            refuse_containing: Mutex::new(None),
            read_delay: Mutex::new(std::time::Duration::ZERO),
        }
    }

    pub fn set<T>(field: &Mutex<T>, v: T) {
        *field.lock().expect("lock") = v;
    }

    pub fn get<T: Clone>(field: &Mutex<T>) -> T {
        field.lock().expect("lock").clone()
    }
}

impl FrrControl for FakeFrr {
    async fn identity(&self) -> Result<FrrIdentity, FrrError> {
        match Self::get(&self.identity) {
            Some(id) => Ok(FrrIdentity(vec![id])),
            None => Err(FrrError::NotReady("bgpd.vty: no such file".into())),
        }
    }

    async fn running_config(&self) -> Result<String, FrrError> {
        *self.reads.lock().expect("lock") += 1;
        let delay = Self::get(&self.read_delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if Self::get(&self.mode) == Mode::Silent {
            return Err(FrrError::Timeout { what: "show running-config", secs: 2 });
        }
        Ok(Self::get(&self.running))
    }

    async fn apply(&self, script: &str) -> Result<(bool, String), FrrError> {
        self.scripts.lock().expect("lock").push(script.to_string());
        if Self::get(&self.refuse_containing).is_some_and(|w| script.contains(&w)) {
            return Ok((false, "% Unknown command".into()));
        }
        match Self::get(&self.mode) {
            Mode::Accept => {
                Self::set(&self.running, Self::get(&self.target));
                Ok((true, String::new()))
            }
            Mode::Refuse => Ok((false, "% Unknown command".into())),
            Mode::Silent => Err(FrrError::Timeout { what: "apply", secs: 2 }),
        }
    }

    async fn command(&self, cmd: &str) -> Result<String, FrrError> {
        self.commands.lock().expect("lock").push(cmd.to_string());
        Ok(String::new())
    }

    async fn bfd_command(&self, cmd: &str) -> Result<String, FrrError> {
        self.command(cmd).await
    }
}
