//! What FRR reports about its sessions, parsed from bgpd's `show bgp vrf all neighbors json`.
//! Pure: text in, data out; the poller in `frr::sessions` does the I/O.
//!
//! The keys read here (`bgpState`, `messageStats.*`, `peerBfdInfo.status`,
//! `addressFamilyInfo.*.sentPrefixCounter`, `connectionsEstablished`/`Dropped`) are the same in
//! FRR 8.4 (Debian) and FRR 9-10: the output is a map VRF name → {vrfId, vrfName, <neighbor> →
//! object}, where <neighbor> is an address or, for unnumbered sessions, an interface name. A key
//! whose value is not an object (`vrfId`, `vrfName`) is not a neighbor.

use serde_json::Value;

/// One BGP neighbor as FRR sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct NeighborStatus {
    /// `None` for the default VRF.
    pub vrf: Option<String>,
    /// Address or interface, as in the config (`neighbor X`).
    pub id: String,
    /// BGP FSM state: Idle, Connect, Active, OpenSent, OpenConfirm, Established (FRR's spelling).
    pub bgp_state: String,
    /// BFD session state as bgpd reports it (Up, Down, Init, AdminDown, Unknown); `None` when the
    /// neighbor has no BFD.
    pub bfd_status: Option<String>,
    /// How long the session has been established (FRR's `bgpTimerUpString`, e.g. `00:03:12`).
    pub up_for: Option<String>,
    pub counters: Counters,
}

impl NeighborStatus {
    pub fn established(&self) -> bool {
        self.bgp_state == "Established"
    }
}

/// Message and prefix counters of one neighbor (metrics only; not part of its state).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Counters {
    pub opens_sent: u64,
    pub opens_recv: u64,
    pub updates_sent: u64,
    pub updates_recv: u64,
    pub keepalives_sent: u64,
    pub keepalives_recv: u64,
    pub notifications_sent: u64,
    pub notifications_recv: u64,
    pub route_refresh_sent: u64,
    pub route_refresh_recv: u64,
    pub total_sent: u64,
    pub total_recv: u64,
    /// Prefixes sent, summed over the address families.
    pub prefixes_sent: u64,
    /// Prefixes received and accepted (past the inbound policy), summed over the families.
    pub prefixes_recv: u64,
    pub connections_established: u64,
    pub connections_dropped: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatusError {
    #[error("FRR's neighbor JSON does not parse: {0}")]
    Json(String),
    #[error("FRR's neighbor JSON is not a map of VRFs")]
    Shape,
}

/// FRR's JSON answer; `None` for an empty answer (bgpd gives one when no BGP instance exists).
fn json(text: &str) -> Result<Option<Value>, StatusError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text).map(Some).map_err(|e| StatusError::Json(e.to_string()))
}

/// Parse `show bgp vrf all neighbors json`. Neighbors come out sorted by VRF, then id.
pub fn parse_neighbors(text: &str) -> Result<Vec<NeighborStatus>, StatusError> {
    let Some(v) = json(text)? else { return Ok(Vec::new()) };
    let vrfs = v.as_object().ok_or(StatusError::Shape)?;
    let mut out = Vec::new();
    for (vrf_name, vrf) in vrfs {
        let Some(vrf) = vrf.as_object() else { continue };
        let name = vrf.get("vrfName").and_then(Value::as_str).unwrap_or(vrf_name);
        let vrf_opt = (name != "default").then(|| name.to_string());
        for (id, n) in vrf {
            let Some(n) = n.as_object() else { continue };
            let Some(state) = n.get("bgpState").and_then(Value::as_str) else { continue };
            let bfd = n.get("peerBfdInfo").and_then(|b| b.get("status")).and_then(Value::as_str).map(str::to_string);
            let num = |path: &[&str]| -> u64 {
                let Some((first, rest)) = path.split_first() else { return 0 };
                let mut cur = n.get(*first);
                for p in rest {
                    cur = cur.and_then(|c| c.get(*p));
                }
                cur.and_then(Value::as_u64).unwrap_or(0)
            };
            let ms = |k: &str| num(&["messageStats", k]);
            let per_family = |key: &str| {
                n.get("addressFamilyInfo")
                    .and_then(Value::as_object)
                    .map(|afs| afs.values().filter_map(|af| af.get(key).and_then(Value::as_u64)).sum::<u64>())
                    .unwrap_or(0)
            };
            let (prefixes_sent, prefixes_recv) = (per_family("sentPrefixCounter"), per_family("acceptedPrefixCounter"));
            out.push(NeighborStatus {
                vrf: vrf_opt.clone(),
                id: id.clone(),
                bgp_state: state.to_string(),
                bfd_status: bfd,
                up_for: (state == "Established")
                    .then(|| n.get("bgpTimerUpString").and_then(Value::as_str).map(str::to_string))
                    .flatten(),
                counters: Counters {
                    opens_sent: ms("opensSent"),
                    opens_recv: ms("opensRecv"),
                    updates_sent: ms("updatesSent"),
                    updates_recv: ms("updatesRecv"),
                    keepalives_sent: ms("keepalivesSent"),
                    keepalives_recv: ms("keepalivesRecv"),
                    notifications_sent: ms("notificationsSent"),
                    notifications_recv: ms("notificationsRecv"),
                    route_refresh_sent: ms("routeRefreshSent"),
                    route_refresh_recv: ms("routeRefreshRecv"),
                    total_sent: ms("totalSent"),
                    total_recv: ms("totalRecv"),
                    prefixes_sent,
                    prefixes_recv,
                    connections_established: num(&["connectionsEstablished"]),
                    connections_dropped: num(&["connectionsDropped"]),
                },
            });
        }
    }
    out.sort();
    Ok(out)
}

/// The prefixes bgpd advertises to one neighbor, from `show bgp vrf V (ipv4|ipv6) unicast
/// neighbors N advertised-routes json` (`advertisedRoutes` keys; FRR answers a `warning` object
/// when the address family is not active for the neighbor: no prefixes).
pub fn parse_advertised(text: &str) -> Result<Vec<String>, StatusError> {
    let Some(v) = json(text)? else { return Ok(Vec::new()) };
    let obj = v.as_object().ok_or(StatusError::Shape)?;
    Ok(obj.get("advertisedRoutes").and_then(Value::as_object).map(|r| r.keys().cloned().collect()).unwrap_or_default())
}

/// One BFD session as bfdd reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct BfdPeer {
    /// `None` for the default VRF.
    pub vrf: Option<String>,
    pub peer: String,
    /// bfdd's state: `up`, `down`, `init`, `shutdown` (lower case in both FRR 8.4 and 10).
    pub status: String,
    pub counters: BfdCounters,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct BfdCounters {
    pub control_in: u64,
    pub control_out: u64,
    pub echo_in: u64,
    pub echo_out: u64,
    pub session_up: u64,
    pub session_down: u64,
    pub zebra_notifications: u64,
}

/// Parse bfdd's `show bfd peers json` and `show bfd peers counters json` (both a list of objects
/// with `peer` and `vrf`; the same keys in FRR 8.4 and 9-10) into one list, sorted.
pub fn parse_bfd(peers: &str, counters: &str) -> Result<Vec<BfdPeer>, StatusError> {
    let list = |text: &str| -> Result<Vec<Value>, StatusError> {
        match json(text)? {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(StatusError::Shape),
        }
    };
    let key = |p: &Value| -> Option<(Option<String>, String)> {
        let vrf = p.get("vrf").and_then(Value::as_str).filter(|v| *v != "default").map(str::to_string);
        Some((vrf, p.get("peer")?.as_str()?.to_string()))
    };
    let mut out: Vec<BfdPeer> = Vec::new();
    for p in list(peers)? {
        let Some((vrf, peer)) = key(&p) else { continue };
        let status = p.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string();
        out.push(BfdPeer { vrf, peer, status, counters: BfdCounters::default() });
    }
    for c in list(counters)? {
        let Some((vrf, peer)) = key(&c) else { continue };
        let n = |k: &str| c.get(k).and_then(Value::as_u64).unwrap_or(0);
        if let Some(p) = out.iter_mut().find(|p| p.vrf == vrf && p.peer == peer) {
            p.counters = BfdCounters {
                control_in: n("control-packet-input"),
                control_out: n("control-packet-output"),
                echo_in: n("echo-packet-input"),
                echo_out: n("echo-packet-output"),
                session_up: n("session-up"),
                session_down: n("session-down"),
                zebra_notifications: n("zebra-notifications"),
            };
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from FRR 8.4.4's answer in the lab (one established IPv4 neighbor with BFD, one
    /// IPv6 neighbor still connecting, one neighbor in a VRF).
    const SAMPLE: &str = r#"{
"default":{
  "vrfId":0,
  "vrfName":"default",
  "192.0.2.1":{
    "remoteAs":64500,
    "bgpState":"Established",
    "messageStats":{"opensSent":1,"opensRecv":1,"notificationsSent":0,"notificationsRecv":0,
      "updatesSent":2,"updatesRecv":1,"keepalivesSent":7,"keepalivesRecv":6,
      "routeRefreshSent":0,"routeRefreshRecv":0},
    "addressFamilyInfo":{"ipv4Unicast":{"sentPrefixCounter":2},"ipv6Unicast":{"sentPrefixCounter":1}},
    "connectionsEstablished":1,
    "connectionsDropped":0,
    "peerBfdInfo":{"type":"single hop","detectMultiplier":3,"status":"Up"}
  },
  "2001:db8::1":{
    "remoteAs":64500,
    "bgpState":"Active",
    "messageStats":{"opensSent":0}
  }
},
"red":{
  "vrfId":5,
  "vrfName":"red",
  "198.51.100.1":{"bgpState":"Idle"}
}
}"#;

    #[test]
    fn neighbors_from_frr_json() {
        let n = parse_neighbors(SAMPLE).expect("parses");
        assert_eq!(n.len(), 3);
        let v4 = &n[0];
        assert_eq!((v4.vrf.as_deref(), v4.id.as_str()), (None, "192.0.2.1"));
        assert!(v4.established());
        assert_eq!(v4.bfd_status.as_deref(), Some("Up"));
        assert_eq!(v4.counters.updates_sent, 2);
        assert_eq!(v4.counters.keepalives_recv, 6);
        assert_eq!(v4.counters.prefixes_sent, 3);
        let v6 = &n[1];
        assert_eq!((v6.id.as_str(), v6.bgp_state.as_str(), v6.bfd_status.as_ref()), ("2001:db8::1", "Active", None));
        assert_eq!(n[2].vrf.as_deref(), Some("red"));
        assert_eq!(n[2].bgp_state, "Idle");
    }

    #[test]
    fn bfd_from_frr_json() {
        let peers = r#"[{"multihop":false,"peer":"192.0.2.1","local":"192.0.2.11","vrf":"default","status":"up"},
            {"peer":"198.51.100.1","vrf":"red","status":"down"}]"#;
        let counters = r#"[{"peer":"192.0.2.1","vrf":"default","control-packet-input":5,"control-packet-output":6,
            "echo-packet-input":0,"echo-packet-output":0,"session-up":1,"session-down":0,"zebra-notifications":2}]"#;
        let b = parse_bfd(peers, counters).expect("parses");
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].vrf.as_deref(), b[0].peer.as_str(), b[0].status.as_str()), (None, "192.0.2.1", "up"));
        assert_eq!((b[0].counters.control_in, b[0].counters.control_out, b[0].counters.session_up), (5, 6, 1));
        assert_eq!((b[1].vrf.as_deref(), b[1].status.as_str()), (Some("red"), "down"));
        assert_eq!(parse_bfd("", ""), Ok(vec![]));
        assert_eq!(parse_bfd("{}", ""), Err(StatusError::Shape));
    }

    #[test]
    fn advertised_routes() {
        let text = r#"{"bgpTableVersion":2,"advertisedRoutes":{"203.0.113.10/32":{"network":"203.0.113.10/32"},
            "203.0.113.20/32":{}},"totalPrefixCounter":2}"#;
        assert_eq!(parse_advertised(text), Ok(vec!["203.0.113.10/32".to_string(), "203.0.113.20/32".to_string()]));
        assert_eq!(parse_advertised(r#"{ "warning": "No such neighbor or address family" }"#), Ok(vec![]));
        assert!(parse_advertised("nonsense").is_err());
    }

    #[test]
    fn empty_and_broken_answers() {
        assert_eq!(parse_neighbors(""), Ok(vec![]));
        assert_eq!(parse_neighbors("{}"), Ok(vec![]));
        assert!(matches!(parse_neighbors("{\"default\":"), Err(StatusError::Json(_))));
        assert_eq!(parse_neighbors("[1]"), Err(StatusError::Shape));
    }
}
