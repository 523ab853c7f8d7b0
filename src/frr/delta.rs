//! What a diff produces: the vtysh script and the neighbors to refresh after it. Plain data,
//! shared by the diff (`diff`), the network-line shortcut (`conf`) and the driver.

/// A neighbor that needs `clear bgp ... soft out` after the script ran.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SoftOut {
    pub vrf: Option<String>,
    /// `ipv4` or `ipv6`.
    pub afi: String,
    pub neighbor: String,
}

impl SoftOut {
    /// The vtysh command (FRR 8.4 and later).
    pub fn command(&self) -> String {
        match &self.vrf {
            None => format!("clear bgp {} unicast {} soft out", self.afi, self.neighbor),
            Some(v) => format!("clear bgp vrf {v} {} unicast {} soft out", self.afi, self.neighbor),
        }
    }
}

/// The script that turns one config into another.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// Input for `vtysh -f`; empty when nothing differs.
    pub script: String,
    /// Number of configuration lines the script adds, changes or removes.
    pub changes: usize,
    pub soft_out: Vec<SoftOut>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.changes == 0
    }
}
