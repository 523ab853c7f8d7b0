//! Every difference between the FRR versions the agent drives, in one value. Pure.
//!
//! Measured against Debian bookworm's FRR 8.4.4 and Debian trixie's FRR 10.3 over their vty
//! sockets (tests/system/frr_apply.rs and the lab run both):
//!
//! | | FRR 8.4 | FRR 10.x |
//! |---|---|---|
//! | configuration front end for zebra and the library (route-maps, `ip nht ...`) | zebra's own vty | mgmtd (`mgmtd.vty`); zebra's vty answers `% Unknown command` to them |
//! | where zebra's settings show | zebra's `show running-config` | the same (mgmtd's does not show them) |
//! | daemons whose restart loses configuration | zebra, bgpd, bfdd | mgmtd, zebra, bgpd, bfdd |
//! | `ip nht resolve-via-default`, `ipv6 nht resolve-via-default` | off unless configured; shown when on | on by default, so never shown (`no ... ` is shown when off) |
//! | BGP-only route-map lines (`set community`, ...) | bgpd only | bgpd only |
//! | `neighbor X ebgp-multihop` with the maximum TTL (255) | shown as `ebgp-multihop 255` | shown bare: `ebgp-multihop` |
//! | a configuration line while another transaction holds the datastore lock (mgmtd sending its configuration to a back end that just (re)connected, e.g. at start; another session's commit) | no such lock | refused, nothing done: `% command failed, could not lock running DS` (`mgmtd_busy`); sent again by the agent. Left alone, the line's node is not entered, so the block's `exit` leaves configuration mode and the next `exit` closes the session |
//!
//! A version newer than the newest known one is treated as the newest known one (and logged once
//! by the driver); an older one as FRR 8.

use std::fmt;

/// The zebra settings the agent manages (MetalLB's FRR mode writes both).
pub const NHT_LINES: [&str; 2] = ["ip nht resolve-via-default", "ipv6 nht resolve-via-default"];

/// A daemon's vty the agent writes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Daemon {
    Zebra,
    Bgpd,
    Bfdd,
    Mgmtd,
}

impl Daemon {
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Zebra => "zebra",
            Daemon::Bgpd => "bgpd",
            Daemon::Bfdd => "bfdd",
            Daemon::Mgmtd => "mgmtd",
        }
    }
}

/// The FRR generation the agent talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// FRR 8.x (and older): zebra takes its own configuration.
    Frr8,
    /// FRR 10.x (and, until known otherwise, newer): mgmtd is the configuration front end.
    Frr10,
}

/// What the driver needs to know about the running FRR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialect {
    /// As FRR reports it (`10.3`), or `unknown`.
    pub version: String,
    pub generation: Generation,
    /// The version is newer than the newest one tested.
    pub newer_than_known: bool,
}

/// FRR 10's mgmtd refused a command because another transaction held a datastore lock; it did
/// nothing, and the same command sent again a moment later is taken (`VtyConn::with_busy_retry`).
pub fn mgmtd_busy(output: &str) -> bool {
    output.contains("could not lock candidate DS")
        || output.contains("could not lock running DS")
        || output.contains("datastore locked by another session")
}

/// The newest major version tested.
const NEWEST_KNOWN_MAJOR: u32 = 10;

impl Default for Dialect {
    /// FRR 8: what the agent assumed before it could ask.
    fn default() -> Self {
        Dialect { version: "unknown".into(), generation: Generation::Frr8, newer_than_known: false }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FRR {}", self.version)
    }
}

impl Dialect {
    /// From bgpd's `show version` (`FRRouting 10.3 (node1) on Linux(...)`).
    pub fn detect(show_version: &str) -> Dialect {
        let version = show_version
            .lines()
            .find_map(|l| l.trim().strip_prefix("FRRouting "))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("unknown")
            .to_string();
        let major: Option<u32> = version.split(['.', '-']).next().and_then(|m| m.parse().ok());
        let generation = match major {
            Some(m) if m >= 10 => Generation::Frr10,
            _ => Generation::Frr8,
        };
        Dialect { newer_than_known: major.is_some_and(|m| m > NEWEST_KNOWN_MAJOR), version, generation }
    }

    /// Where configuration that zebra and the library own goes: route-map lines that are not
    /// BGP's (`match tag`, `set tag`), and zebra's settings (`ip nht ...`).
    pub fn config_front_end(&self) -> Daemon {
        match self.generation {
            Generation::Frr8 => Daemon::Zebra,
            Generation::Frr10 => Daemon::Mgmtd,
        }
    }

    /// The daemons whose restart means the configuration must be applied again.
    pub fn daemons(&self) -> &'static [Daemon] {
        match self.generation {
            Generation::Frr8 => &[Daemon::Zebra, Daemon::Bgpd, Daemon::Bfdd],
            Generation::Frr10 => &[Daemon::Mgmtd, Daemon::Zebra, Daemon::Bgpd, Daemon::Bfdd],
        }
    }

    /// bgpd's `show running-config` written as the rendered config writes it (FRR 8's forms).
    pub fn normalize_bgpd(&self, text: String) -> String {
        if self.generation == Generation::Frr8 {
            return text;
        }
        let mut out = String::with_capacity(text.len() + 64);
        for line in text.lines() {
            out.push_str(line);
            // FRR 10 prints the maximum TTL as the bare keyword.
            if line.starts_with(" neighbor ") && line.ends_with(" ebgp-multihop") {
                out.push_str(" 255");
            }
            out.push('\n');
        }
        out
    }

    /// The managed zebra settings in force, from zebra's `show running-config`, written as the
    /// rendered config writes them: a setting that is this version's default is in force unless
    /// its `no` form is shown.
    pub fn zebra_settings(&self, zebra_running: &str) -> Vec<&'static str> {
        let shown = |l: &str| zebra_running.lines().any(|x| x.trim_end() == l);
        NHT_LINES
            .into_iter()
            .filter(|l| match self.generation {
                Generation::Frr8 => shown(l),
                Generation::Frr10 => !shown(&format!("no {l}")),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_detected_and_future_ones_treated_as_the_newest() {
        let v8 = Dialect::detect("FRRouting 8.4.4 (node1) on Linux(6.1.0).\nCopyright 1996-2005\n");
        assert_eq!((v8.version.as_str(), v8.generation, v8.newer_than_known), ("8.4.4", Generation::Frr8, false));
        assert_eq!(v8.config_front_end(), Daemon::Zebra);
        let v10 = Dialect::detect("FRRouting 10.3 (t12-node1) on Linux(6.18.44).\n");
        assert_eq!((v10.version.as_str(), v10.generation), ("10.3", Generation::Frr10));
        assert_eq!(v10.config_front_end(), Daemon::Mgmtd);
        assert_eq!(v10.daemons()[0], Daemon::Mgmtd);
        let v12 = Dialect::detect("FRRouting 12.1-dev (n) on Linux\n");
        assert!(v12.newer_than_known && v12.generation == Generation::Frr10);
        let old = Dialect::detect("FRRouting 7.5.1 (n) on Linux\n");
        assert_eq!(old.generation, Generation::Frr8);
        assert_eq!(Dialect::detect("garbage").version, "unknown");
    }

    #[test]
    fn frr10_running_config_reads_as_frr8_writes_it() {
        let v10 = Dialect::detect("FRRouting 10.3 (n)");
        let text =
            "router bgp 1\n neighbor 2001:db8:2::1 ebgp-multihop\n neighbor 2001:db8:3::1 ebgp-multihop 10\nexit\n";
        assert_eq!(
            v10.normalize_bgpd(text.into()),
            "router bgp 1\n neighbor 2001:db8:2::1 ebgp-multihop 255\n neighbor 2001:db8:3::1 ebgp-multihop 10\nexit\n"
        );
        let v8 = Dialect::detect("FRRouting 8.4.4 (n)");
        assert_eq!(v8.normalize_bgpd(text.into()), text);
    }

    #[test]
    fn nht_defaults_differ_between_versions() {
        let v8 = Dialect::detect("FRRouting 8.4.4 (n)");
        let v10 = Dialect::detect("FRRouting 10.3 (n)");
        assert!(v8.zebra_settings("frr version 8.4.4\n!\nno ip forwarding\n").is_empty());
        assert_eq!(v8.zebra_settings("ip nht resolve-via-default\n"), ["ip nht resolve-via-default"]);
        assert_eq!(v10.zebra_settings("frr version 10.3\n!\n"), NHT_LINES, "on by default, not shown");
        assert_eq!(v10.zebra_settings("no ipv6 nht resolve-via-default\n"), ["ip nht resolve-via-default"]);
    }
}
