//! The agent's metrics, in one struct. Labels are bounded (result, severity), never free text.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// Applies by result: `ok` (FRR changed), `noop` (already equal), `error`.
    pub applies: IntCounterVec,
    pub apply_duration: Histogram,
    pub last_apply_timestamp: IntGauge,
    /// 1 while the newest input is invalid and FRR keeps the last good config.
    pub config_stale: IntGauge,
    /// 1 once a valid config has been computed.
    pub config_loaded: IntGauge,
    /// Problems in the newest input, by severity.
    pub problems: IntGaugeVec,
    pub frr_restarts: IntCounter,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let applies = IntCounterVec::new(
            Opts::new("frr_speaker_applies_total", "Reconciles of FRR's config, by result"),
            &["result"],
        )?;
        let apply_duration = Histogram::with_opts(
            HistogramOpts::new("frr_speaker_apply_duration_seconds", "Time to diff, apply and verify FRR's config")
                .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )?;
        let last_apply_timestamp =
            IntGauge::new("frr_speaker_last_apply_timestamp_seconds", "Unix time of the last successful reconcile")?;
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
        let frr_restarts = IntCounter::new("frr_speaker_frr_restarts_total", "FRR restarts detected")?;
        registry.register(Box::new(applies.clone()))?;
        registry.register(Box::new(apply_duration.clone()))?;
        registry.register(Box::new(last_apply_timestamp.clone()))?;
        registry.register(Box::new(config_stale.clone()))?;
        registry.register(Box::new(config_loaded.clone()))?;
        registry.register(Box::new(problems.clone()))?;
        registry.register(Box::new(frr_restarts.clone()))?;
        Ok(Metrics {
            registry,
            applies,
            apply_duration,
            last_apply_timestamp,
            config_stale,
            config_loaded,
            problems,
            frr_restarts,
        })
    }

    pub fn encode(&self) -> String {
        use prometheus::Encoder;
        let mut buf = Vec::new();
        let enc = prometheus::TextEncoder::new();
        if enc.encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
