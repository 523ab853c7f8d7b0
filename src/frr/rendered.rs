//! One rendered configuration and what it announces: what the pipeline makes, the applier
//! applies and the status writer reports. Plain data.

use std::collections::BTreeMap;

use super::conf::Conf;

/// One rendered configuration and what it announces (compute → driver → status).
#[derive(Debug, Default)]
pub struct Rendered {
    /// frr.conf (`conf.text()`), with its `network` lines kept apart.
    pub conf: Conf,
    /// Service → prefix → BGPPeer names.
    pub announcements: crate::desired::state::Announcements,
    /// Neighbors with a TCP port other than 179, by (VRF, address) (for metrics labels).
    pub ports: BTreeMap<(Option<String>, String), u16>,
    /// When the source learned of the first change this config has (`Input::since`).
    pub since: Option<std::time::Instant>,
}

/// Equal configs: `since` is when, not what.
impl PartialEq for Rendered {
    fn eq(&self, other: &Rendered) -> bool {
        self.conf == other.conf && self.announcements == other.announcements && self.ports == other.ports
    }
}
