//! Everything that speaks FRR. Pure: rendering the configuration (`render`, kept as `conf::Conf`), parsing and comparing
//! configurations (`config`, `diff`, producing a `delta`), what the agent owns in FRR (`owned`), parsing FRR's `show` output (`show`). I/O: the vty protocol
//! (`vty`), the `FrrControl` trait with apply and reconcile (`driver`), the loop that keeps FRR
//! running the newest config (`applier`), and the session poller (`sessions`).
pub mod applier;
pub mod conf;
pub mod config;
pub mod delta;
pub mod dialect;
pub mod diff;
pub mod driver;
pub mod extras;
#[cfg(test)]
pub mod fake;
pub mod outcome;
pub mod owned;
pub mod render;
pub mod rendered;
pub mod sessions;
pub mod show;
pub mod vty;
