//! The agent's metrics (the applier registers its own into the same registry:
//! `frr::applier::ApplierMetrics`). Labels are bounded (result, severity, peer, service), never
//! free text. FRR's session metrics carry MetalLB's names and labels (its FRR-mode exporter's), so
//! existing dashboards and alerts keep working; they are rendered at scrape time from what the
//! session poller last read (`FrrCollector`), so a scrape never talks to FRR and never waits for an
//! apply, and a peer that went away simply stops being reported.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};

use crate::desired::state::Announcements;
use crate::frr::outcome::ApplyState;
use crate::frr::show::{BfdPeer, NeighborStatus};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// 1 while the newest input is invalid and FRR keeps the last good config.
    pub config_stale: IntGauge,
    /// 1 once a valid config has been computed.
    pub config_loaded: IntGauge,
    /// Problems in the newest input, by severity.
    pub problems: IntGaugeVec,
    /// Status objects and Events waiting for `--status-qps` tokens (Kubernetes mode).
    pub status_pending: IntGauge,
    pub frr: FrrCollector,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let config_stale = IntGauge::new(
            "metallb_k8s_client_config_stale_bool",
            "1 if the newest configuration is invalid and the last good one is still running",
        )?;
        let config_loaded =
            IntGauge::new("metallb_k8s_client_config_loaded_bool", "1 if a valid configuration has been loaded")?;
        let problems = IntGaugeVec::new(
            Opts::new("frr_speaker_config_problems", "Problems found in the newest input, by severity"),
            &["severity"],
        )?;
        registry.register(Box::new(config_stale.clone()))?;
        registry.register(Box::new(config_loaded.clone()))?;
        registry.register(Box::new(problems.clone()))?;
        let status_pending = IntGauge::new(
            "frr_speaker_status_writes_pending",
            "Status objects and Events waiting for --status-qps tokens",
        )?;
        registry.register(Box::new(status_pending.clone()))?;
        let frr = FrrCollector::new()?;
        registry.register(Box::new(frr.clone()))?;
        Ok(Metrics { registry, config_stale, config_loaded, problems, status_pending, frr })
    }

    pub fn encode(&self) -> String {
        use prometheus::Encoder;
        let mut buf = Vec::new();
        let enc = prometheus::TextEncoder::new();
        if enc.encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        let mut text = String::from_utf8(buf).unwrap_or_default();
        self.frr.write_announced(&mut text);
        text
    }
}

/// The latest view of FRR's sessions and of what this node announces.
#[derive(Clone, Debug, Default)]
struct FrrView {
    neighbors: Arc<Vec<NeighborStatus>>,
    bfd: Arc<Vec<BfdPeer>>,
    /// This node's name and what it announces (a persistent map shared with the applied config:
    /// the samples are made when scraped, not per change).
    announced: Arc<(String, Announcements)>,
    /// Configured ports other than 179, by (VRF, neighbor).
    ports: Arc<BTreeMap<(Option<String>, String), u16>>,
}

/// Renders FRR's session metrics and `metallb_speaker_announced` from the latest view.
#[derive(Clone)]
pub struct FrrCollector {
    view: Arc<RwLock<FrrView>>,
    descs: Arc<Vec<Desc>>,
}

type Sample = (Vec<(&'static str, String)>, f64);

const PEER_LABELS: [&str; 2] = ["peer", "vrf"];
/// One per-session metric: name, help, whether it is a counter, and where its value comes from.
type Def<T> = (&'static str, &'static str, bool, fn(&T) -> u64);

const BGP_METRICS: [Def<NeighborStatus>; 12] = [
    ("metallb_bgp_session_up", "BGP session state (1 is up, 0 is down)", false, |n| u64::from(n.established())),
    (
        "metallb_bgp_announced_prefixes_total",
        "Number of prefixes currently being advertised on the BGP session",
        false,
        |n| n.counters.prefixes_sent,
    ),
    ("metallb_bgp_opens_sent", "Number of BGP open messages sent", true, |n| n.counters.opens_sent),
    ("metallb_bgp_opens_received", "Number of BGP open messages received", true, |n| n.counters.opens_recv),
    ("metallb_bgp_notifications_sent", "Number of BGP notification messages sent", true, |n| {
        n.counters.notifications_sent
    }),
    ("metallb_bgp_updates_total", "Number of BGP UPDATE messages sent", true, |n| n.counters.updates_sent),
    ("metallb_bgp_updates_total_received", "Number of BGP UPDATE messages received", true, |n| n.counters.updates_recv),
    ("metallb_bgp_keepalives_sent", "Number of BGP keepalive messages sent", true, |n| n.counters.keepalives_sent),
    ("metallb_bgp_keepalives_received", "Number of BGP keepalive messages received", true, |n| {
        n.counters.keepalives_recv
    }),
    ("metallb_bgp_route_refresh_sent", "Number of BGP route refresh messages sent", true, |n| {
        n.counters.route_refresh_sent
    }),
    ("metallb_bgp_total_sent", "Number of total BGP messages sent", true, |n| n.counters.total_sent),
    ("metallb_bgp_total_received", "Number of total BGP messages received", true, |n| n.counters.total_recv),
];
const BFD_METRICS: [Def<BfdPeer>; 8] = [
    ("metallb_bfd_session_up", "BFD session state (1 is up, 0 is down)", false, |p| u64::from(p.status == "up")),
    ("metallb_bfd_control_packet_input", "Number of received BFD control packets", true, |p| p.counters.control_in),
    ("metallb_bfd_control_packet_output", "Number of sent BFD control packets", true, |p| p.counters.control_out),
    ("metallb_bfd_echo_packet_input", "Number of received BFD echo packets", true, |p| p.counters.echo_in),
    ("metallb_bfd_echo_packet_output", "Number of sent BFD echo packets", true, |p| p.counters.echo_out),
    ("metallb_bfd_session_up_events", "Number of BFD session up events", true, |p| p.counters.session_up),
    ("metallb_bfd_session_down_events", "Number of BFD session down events", true, |p| p.counters.session_down),
    ("metallb_bfd_zebra_notifications", "Number of BFD zebra notifications", true, |p| p.counters.zebra_notifications),
];
/// frr-k8s's names of the same facts, beside MetalLB's (frr-k8s's cmd/metrics/collector): the
/// same suffixes under `frrk8s_`, one more (prefixes received), and its labels: the peer as FRR
/// names it (address or interface, no port) and the VRF.
const FRRK8S_RECEIVED: Def<NeighborStatus> = (
    "frrk8s_bgp_received_prefixes_total",
    "Number of prefixes currently being received on the BGP session",
    false,
    |n| n.counters.prefixes_recv,
);

fn frrk8s_name(metallb: &str) -> String {
    metallb.replacen("metallb_", "frrk8s_", 1)
}

const ANNOUNCED: (&str, &str) =
    ("metallb_speaker_announced", "Services being announced from this node (1 per service IP)");
const ANNOUNCED_LABELS: [&str; 4] = ["ip", "node", "protocol", "service"];

impl FrrCollector {
    fn new() -> Result<Self, prometheus::Error> {
        let mut descs = Vec::new();
        let names = BGP_METRICS.iter().map(|m| (m.0, m.1)).chain(BFD_METRICS.iter().map(|m| (m.0, m.1)));
        let names = names.flat_map(|(name, help)| [(name.to_string(), help), (frrk8s_name(name), help)]);
        let names = names.chain(std::iter::once((FRRK8S_RECEIVED.0.to_string(), FRRK8S_RECEIVED.1)));
        for (name, help) in names {
            descs.push(Desc::new(name, help.to_string(), PEER_LABELS.map(String::from).to_vec(), Default::default())?);
        }
        Ok(FrrCollector { view: Arc::default(), descs: Arc::new(descs) })
    }

    pub fn set_sessions(&self, neighbors: Vec<NeighborStatus>, bfd: Vec<BfdPeer>) {
        if let Ok(mut v) = self.view.write() {
            v.neighbors = Arc::new(neighbors);
            v.bfd = Arc::new(bfd);
        }
    }

    /// What `node` announces: Service → prefix → peers.
    pub fn set_announced(&self, node: &str, announced: Announcements) {
        if let Ok(mut v) = self.view.write() {
            v.announced = Arc::new((node.to_string(), announced));
        }
    }

    pub fn set_ports(&self, ports: BTreeMap<(Option<String>, String), u16>) {
        if let Ok(mut v) = self.view.write() {
            v.ports = Arc::new(ports);
        }
    }

    /// Keep `metallb_speaker_announced` and the peer ports equal to what FRR runs, until the
    /// applier's channel closes.
    pub async fn follow_applied(self, mut rx: tokio::sync::watch::Receiver<ApplyState>, node: String) {
        while rx.changed().await.is_ok() {
            let Some(applied) = rx.borrow_and_update().applied.clone() else { continue };
            self.set_announced(&node, applied.announcements.clone());
            self.set_ports(applied.ports.clone());
        }
    }

    fn snapshot(&self) -> FrrView {
        self.view.read().map(|v| v.clone()).unwrap_or_default()
    }
}

fn family(name: &str, help: &str, counter: bool, samples: Vec<Sample>) -> MetricFamily {
    let mut mf = MetricFamily::default();
    mf.set_name(name.to_string());
    mf.set_help(help.to_string());
    mf.set_field_type(if counter { MetricType::COUNTER } else { MetricType::GAUGE });
    for (labels, value) in samples {
        let mut m = Metric::default();
        m.set_label(
            labels
                .into_iter()
                .map(|(k, v)| {
                    let mut l = LabelPair::default();
                    l.set_name(k.to_string());
                    l.set_value(v);
                    l
                })
                .collect(),
        );
        if counter {
            let mut c = Counter::default();
            c.set_value(value);
            m.set_counter(c);
        } else {
            let mut g = Gauge::default();
            g.set_value(value);
            m.set_gauge(g);
        }
        mf.mut_metric().push(m);
    }
    mf
}

impl Collector for FrrCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let view = self.snapshot();
        let mut out = Vec::new();
        let vrf = |v: &Option<String>| v.clone().unwrap_or_else(|| "default".into());
        // MetalLB's labels, computed once per session: address:port of the peer (the configured
        // port, stable across reconnections) and the VRF.
        let bgp: Vec<(&NeighborStatus, Vec<(&'static str, String)>)> = view
            .neighbors
            .iter()
            .map(|n| {
                let port = view.ports.get(&(n.vrf.clone(), n.id.clone())).copied().unwrap_or(179);
                let peer = match n.id.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V6(a)) => format!("[{a}]:{port}"),
                    _ => format!("{}:{port}", n.id),
                };
                (n, vec![("peer", peer), ("vrf", vrf(&n.vrf))])
            })
            .collect();
        let bfd: Vec<(&BfdPeer, Vec<(&'static str, String)>)> =
            view.bfd.iter().map(|p| (p, vec![("peer", p.peer.clone()), ("vrf", vrf(&p.vrf))])).collect();
        for (name, help, counter, value) in BGP_METRICS {
            let samples = bgp.iter().map(|(n, labels)| (labels.clone(), value(n) as f64)).collect();
            out.push(family(name, help, counter, samples));
        }
        for (name, help, counter, value) in BFD_METRICS {
            let samples = bfd.iter().map(|(p, labels)| (labels.clone(), value(p) as f64)).collect();
            out.push(family(name, help, counter, samples));
        }
        // frr-k8s's: the peer as FRR names it, the same VRF label.
        let frrk8s: Vec<(&NeighborStatus, Vec<(&'static str, String)>)> =
            view.neighbors.iter().map(|n| (n, vec![("peer", n.id.clone()), ("vrf", vrf(&n.vrf))])).collect();
        for (name, help, counter, value) in BGP_METRICS.into_iter().chain([FRRK8S_RECEIVED]) {
            let samples = frrk8s.iter().map(|(n, labels)| (labels.clone(), value(n) as f64)).collect();
            out.push(family(&frrk8s_name(name), help, counter, samples));
        }
        for (name, help, counter, value) in BFD_METRICS {
            let samples = bfd.iter().map(|(p, labels)| (labels.clone(), value(p) as f64)).collect();
            out.push(family(&frrk8s_name(name), help, counter, samples));
        }
        out
    }
}

/// A label value as the text format writes it.
fn escape_label(v: &str) -> std::borrow::Cow<'_, str> {
    match v.contains(['\\', '"', '\n']) {
        true => v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").into(),
        false => v.into(),
    }
}

impl FrrCollector {
    /// `metallb_speaker_announced` (one sample per Service IP), written straight as text after the
    /// registry's families (its name sorts last, where the encoder would put it). Made as the
    /// registry's samples it took heap per Service IP at every scrape (docs/benchmarks.md).
    fn write_announced(&self, out: &mut String) {
        use std::fmt::Write as _;
        let view = self.snapshot();
        let (node, announced) = view.announced.as_ref();
        let node = escape_label(node);
        let mut head = true;
        for (svc, prefixes) in announced.iter() {
            let service = svc.to_string();
            let service = escape_label(&service);
            for p in prefixes.keys() {
                if std::mem::take(&mut head) {
                    let _ = writeln!(out, "# HELP {} {}\n# TYPE {} gauge", ANNOUNCED.0, ANNOUNCED.1, ANNOUNCED.0);
                }
                let _ = writeln!(
                    out,
                    "{}{{{}=\"{}\",{}=\"{node}\",{}=\"bgp\",{}=\"{service}\"}} 1",
                    ANNOUNCED.0,
                    ANNOUNCED_LABELS[0],
                    p.addr(),
                    ANNOUNCED_LABELS[1],
                    ANNOUNCED_LABELS[2],
                    ANNOUNCED_LABELS[3],
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frr::show::{parse_bfd, parse_neighbors};

    #[test]
    fn frr_metrics_carry_metallb_names_and_labels() {
        let m = Metrics::new().expect("metrics");
        let n = parse_neighbors(
            r#"{"default":{"vrfName":"default","192.0.2.1":{"bgpState":"Established","portForeign":179,
            "messageStats":{"updatesSent":4,"totalSent":9},"addressFamilyInfo":{"ipv4Unicast":{"sentPrefixCounter":2,"acceptedPrefixCounter":3}}},
            "2001:db8::1":{"bgpState":"Active"}}}"#,
        )
        .expect("neighbors");
        let b = parse_bfd(r#"[{"peer":"192.0.2.1","vrf":"default","status":"up"}]"#, "[]").expect("bfd");
        m.frr.set_sessions(n, b);
        let web = crate::model::core::ObjKey::new("default", "web");
        let prefixes: crate::desired::state::Prefixes =
            [("203.0.113.10/32".parse().expect("prefix"), vec!["p1"])].into_iter().collect();
        m.frr.set_announced("node1", [(web, prefixes)].into_iter().collect());
        let text = m.encode();
        for line in [
            r#"metallb_bgp_session_up{peer="192.0.2.1:179",vrf="default"} 1"#,
            r#"metallb_bgp_session_up{peer="[2001:db8::1]:179",vrf="default"} 0"#,
            r#"metallb_bgp_announced_prefixes_total{peer="192.0.2.1:179",vrf="default"} 2"#,
            r#"metallb_bgp_updates_total{peer="192.0.2.1:179",vrf="default"} 4"#,
            r#"metallb_bgp_total_sent{peer="192.0.2.1:179",vrf="default"} 9"#,
            r#"metallb_bfd_session_up{peer="192.0.2.1",vrf="default"} 1"#,
            r#"metallb_speaker_announced{ip="203.0.113.10",node="node1",protocol="bgp",service="default/web"} 1"#,
            "# TYPE metallb_bgp_opens_sent counter",
            // frr-k8s's names and labels beside them.
            r#"frrk8s_bgp_session_up{peer="192.0.2.1",vrf="default"} 1"#,
            r#"frrk8s_bgp_session_up{peer="2001:db8::1",vrf="default"} 0"#,
            r#"frrk8s_bgp_announced_prefixes_total{peer="192.0.2.1",vrf="default"} 2"#,
            r#"frrk8s_bgp_received_prefixes_total{peer="192.0.2.1",vrf="default"} 3"#,
            r#"frrk8s_bgp_updates_total_received{peer="192.0.2.1",vrf="default"} 0"#,
            r#"frrk8s_bfd_session_up{peer="192.0.2.1",vrf="default"} 1"#,
            "# TYPE frrk8s_bgp_opens_sent counter",
        ] {
            assert!(text.contains(line), "missing {line} in:\n{text}");
        }
        // The configured port, not the connection's.
        m.frr.set_ports([((None, "2001:db8::1".to_string()), 1179)].into_iter().collect());
        assert!(m.encode().contains(r#"metallb_bgp_session_up{peer="[2001:db8::1]:1179",vrf="default"} 0"#));
        assert!(text.ends_with(
            "# HELP metallb_speaker_announced Services being announced from this node (1 per service IP)\n# TYPE metallb_speaker_announced gauge\nmetallb_speaker_announced{ip=\"203.0.113.10\",node=\"node1\",protocol=\"bgp\",service=\"default/web\"} 1\n"
        ));
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        m.frr.set_announced("node1", Default::default());
        assert!(!m.encode().contains("metallb_speaker_announced"), "no family without samples");
        // A peer that is gone is no longer reported.
        m.frr.set_sessions(vec![], vec![]);
        assert!(!m.encode().contains("metallb_bgp_session_up{"));
        assert!(!m.encode().contains("frrk8s_bgp_session_up{"));
    }
}
