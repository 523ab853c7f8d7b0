//! `frr-speaker status`: this node's sessions, BFD state and announced prefixes as readable
//! tables (pure formatting; the command reads FRR through the vty sockets in `app`).

use std::collections::BTreeMap;

use crate::frr::show::{BfdPeer, NeighborStatus};

/// What the status command read from FRR.
#[derive(Clone, Debug, Default)]
pub struct NodeReport {
    pub neighbors: Vec<NeighborStatus>,
    pub bfd: Vec<BfdPeer>,
    /// Prefixes bgpd advertises, by (VRF, neighbor).
    pub advertised: BTreeMap<(Option<String>, String), Vec<String>>,
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  "));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

pub fn format(report: &NodeReport) -> String {
    let vrf = |v: &Option<String>| v.clone().unwrap_or_else(|| "default".into());
    let mut out = String::from("BGP sessions\n");
    if report.neighbors.is_empty() {
        out.push_str("  (none: bgpd has no neighbors)\n");
    } else {
        let rows: Vec<Vec<String>> = report
            .neighbors
            .iter()
            .map(|n| {
                let bfd = report
                    .bfd
                    .iter()
                    .find(|b| b.vrf == n.vrf && b.peer == n.id)
                    .map(|b| b.status.clone())
                    .or_else(|| n.bfd_status.as_ref().map(|s| s.to_lowercase()))
                    .unwrap_or_else(|| "-".into());
                let sent = report.advertised.get(&(n.vrf.clone(), n.id.clone())).map(Vec::len).unwrap_or(0);
                vec![
                    n.id.clone(),
                    vrf(&n.vrf),
                    n.bgp_state.clone(),
                    n.up_for.clone().unwrap_or_else(|| "-".into()),
                    bfd,
                    sent.to_string(),
                ]
            })
            .collect();
        out.push_str(&table(&["PEER", "VRF", "STATE", "UP FOR", "BFD", "PREFIXES SENT"], &rows));
    }
    out.push_str("\nBFD sessions\n");
    if report.bfd.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let rows: Vec<Vec<String>> = report
            .bfd
            .iter()
            .map(|b| {
                vec![
                    b.peer.clone(),
                    vrf(&b.vrf),
                    b.status.clone(),
                    b.counters.session_down.to_string(),
                    b.counters.control_in.to_string(),
                    b.counters.control_out.to_string(),
                ]
            })
            .collect();
        out.push_str(&table(&["PEER", "VRF", "STATUS", "DOWN EVENTS", "CONTROL IN", "CONTROL OUT"], &rows));
    }
    out.push_str("\nAnnounced prefixes\n");
    let mut by_prefix: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for ((v, peer), prefixes) in &report.advertised {
        for p in prefixes {
            by_prefix.entry((p.clone(), vrf(v))).or_default().push(peer.clone());
        }
    }
    if by_prefix.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let rows: Vec<Vec<String>> =
            by_prefix.into_iter().map(|((p, v), peers)| vec![p, v, peers.join(", ")]).collect();
        out.push_str(&table(&["PREFIX", "VRF", "ADVERTISED TO"], &rows));
    }
    out
}

/// `frr-speaker status`: sessions, BFD and advertised prefixes read from FRR, as a table.
pub async fn report(socket_dir: &std::path::Path) -> anyhow::Result<String> {
    let frr = crate::frr::driver::FrrVty::new(socket_dir);
    let reading = crate::frr::sessions::read(&frr)
        .await
        .map_err(|e| anyhow::anyhow!("asking FRR through {}: {e}", socket_dir.display()))?;
    let advertised = crate::frr::sessions::advertised(&frr, &reading.neighbors).await;
    Ok(format(&NodeReport { neighbors: reading.neighbors, bfd: reading.bfd, advertised }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frr::show::{parse_bfd, parse_neighbors};

    #[test]
    fn tables_show_sessions_bfd_and_prefixes() {
        let neighbors = parse_neighbors(
            r#"{"default":{"vrfName":"default","192.0.2.1":{"bgpState":"Established","bgpTimerUpString":"00:01:02",
            "peerBfdInfo":{"status":"Up"}},"2001:db8::1":{"bgpState":"Active"}}}"#,
        )
        .expect("neighbors");
        let bfd = parse_bfd(r#"[{"peer":"192.0.2.1","vrf":"default","status":"up"}]"#, "[]").expect("bfd");
        let mut advertised = BTreeMap::new();
        advertised.insert((None, "192.0.2.1".to_string()), vec!["203.0.113.10/32".to_string()]);
        let text = format(&NodeReport { neighbors, bfd, advertised });
        let expected = "\
BGP sessions
PEER         VRF      STATE        UP FOR    BFD  PREFIXES SENT
192.0.2.1    default  Established  00:01:02  up   1
2001:db8::1  default  Active       -         -    0

BFD sessions
PEER       VRF      STATUS  DOWN EVENTS  CONTROL IN  CONTROL OUT
192.0.2.1  default  up      0            0           0

Announced prefixes
PREFIX           VRF      ADVERTISED TO
203.0.113.10/32  default  192.0.2.1
";
        assert_eq!(text, expected);
    }
}
