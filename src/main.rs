//! The `frr-speaker` command: parse arguments, set up logging, run the chosen subcommand.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

use frr_speaker::app;
use frr_speaker::desired::Options;
use frr_speaker::drain::{DrainMode, Waits};
use frr_speaker::model::{crds, frrk8s};
use frr_speaker::pipeline;
use frr_speaker::sources::files;

/// Kubernetes BGP load-balancer speaker driving FRR (metallb.io compatible).
#[derive(Parser)]
#[command(name = "frr-speaker", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args)]
struct CrdsArgs {
    /// Which API's CRDs: metallb (metallb.io) or frrk8s (frrk8s.metallb.io).
    #[arg(long, value_enum, default_value = "metallb")]
    api: Api,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Api {
    Metallb,
    Frrk8s,
}

impl Api {
    fn yaml(self) -> Result<String, serde_yaml_ng::Error> {
        match self {
            Api::Metallb => crds::crds_yaml(),
            Api::Frrk8s => frrk8s::crds_yaml(),
        }
    }
}

/// How log lines are written (to stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, the event's fields with its
    /// `message`, and its spans), for log aggregators.
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the frr.conf NODE must run for the given manifests (offline; --node is required).
    ///
    /// Problems go to stderr, one per line. Exit 0 with warnings; exit 1 (and no config) on errors.
    Render(Offline),
    /// Validate the manifests: print every problem; exit 1 on any error (for users' CI).
    ///
    /// Without --node, as MetalLB's controller validates: every object, whether or not a node uses
    /// it, and the rules between peers (one myASN and routerID per VRF, no neighbor twice) between
    /// peers that select a common Node of the files (all peers when the files have no Node). With
    /// --node, what that node would run (objects it does not use only warn).
    Check(Offline),
    /// Print the CustomResourceDefinitions of one API as YAML (deploy/crds.yaml: metallb.io;
    /// deploy/frrk8s/crds.yaml: frrk8s.metallb.io).
    Crds(CrdsArgs),
    /// Run the agent: keep the co-located FRR running this node's config.
    ///
    /// File mode (--manifests DIR) watches a directory of manifests; without it the agent watches
    /// Kubernetes (in-cluster config, or KUBECONFIG). Logging: RUST_LOG (default info), to stderr,
    /// as text or JSON (--log-format).
    Run(RunArgs),
    /// Run the IP allocator: give Services of type LoadBalancer their addresses from the
    /// IPAddressPools (MetalLB's semantics and annotations). Safe with several replicas: one
    /// leads (a coordination.k8s.io Lease), the others wait. Logging: RUST_LOG (default info), to
    /// stderr, as text or JSON (--log-format).
    Controller(ControllerArgs),
    /// Print this node's BGP sessions, BFD sessions and announced prefixes, read from the
    /// co-located FRR through its vty sockets (run it where the agent runs, e.g. with
    /// `kubectl exec -c frr-speaker`). Exit 1 if FRR does not answer.
    Status(StatusArgs),
}

#[derive(Args)]
struct ControllerArgs {
    /// Namespace of the IPAddressPools and of the Lease.
    #[arg(long, default_value = "metallb-system")]
    namespace: String,
    /// Handle only Services with this spec.loadBalancerClass (default: Services without one).
    #[arg(long)]
    lb_class: Option<String>,
    /// This replica's name in the Lease (default: the host name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Name of the coordination.k8s.io Lease the replicas compete for.
    #[arg(long, default_value = "frr-speaker-controller")]
    lease_name: String,
    /// Seconds a lease holds without renewal before another replica takes it.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(2..=3600))]
    lease_duration: u64,
    /// Seconds the leader keeps trying to renew before it gives up and exits (less than
    /// --lease-duration).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    renew_deadline: u64,
    /// Seconds between attempts to take or renew the lease.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=600))]
    retry_period: u64,
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:7473")]
    metrics_addr: std::net::SocketAddr,
    /// Log format: text, or json (one object per line, for log aggregators).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Args)]
struct StatusArgs {
    /// Directory of FRR's vty sockets.
    #[arg(long, default_value = "/var/run/frr")]
    vty_socket_dir: PathBuf,
}

#[derive(Args)]
struct RunArgs {
    /// Name of this node.
    #[arg(long, env = "NODE_NAME")]
    node: String,
    /// Log format: text, or json (one object per line, for log aggregators).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// File mode: watch this directory of YAML manifests and re-read it on any change.
    #[arg(long, value_name = "DIR")]
    manifests: Option<PathBuf>,
    /// frr.conf to keep equal to what was applied (written atomically, mode 0600), so that an FRR
    /// restart starts from the right config.
    #[arg(long, default_value = "/etc/frr/frr.conf")]
    frr_config: PathBuf,
    /// Directory of FRR's vty sockets (zebra.vty, bgpd.vty, bfdd.vty).
    #[arg(long, default_value = "/var/run/frr")]
    vty_socket_dir: PathBuf,
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:7472")]
    metrics_addr: std::net::SocketAddr,
    /// Namespace the metallb.io configuration objects are read from.
    #[arg(long, default_value = "metallb-system")]
    namespace: String,
    /// Handle only Services with this spec.loadBalancerClass (default: Services without one).
    #[arg(long)]
    lb_class: Option<String>,
    /// Namespace the FRRConfigurations (frrk8s.metallb.io) are read from (default: --namespace).
    /// Kubernetes mode reads passwordSecrets from --namespace: give both the same value.
    #[arg(long)]
    frrk8s_namespace: Option<String>,
    /// A prefix denied inbound on every FRRConfiguration neighbor, whatever toReceive allows
    /// (repeatable, or comma-separated; frr-k8s's --always-block).
    #[arg(long = "always-block", value_name = "CIDR", value_delimiter = ',')]
    always_block: Vec<IpNet>,
    /// Kubernetes mode: at most this many status and Event writes per second (bursts of three
    /// times as many). Writes happen on change only; throttled writes are coalesced.
    #[arg(long, default_value_t = 5.0, value_parser = parse_qps)]
    status_qps: f64,
    /// On SIGTERM: `auto` drains when this node is cordoned (spec.unschedulable, as `kubectl
    /// drain` does first) and otherwise leaves FRR untouched (an agent-only restart changes
    /// nothing); `always`; `never`. Draining = GRACEFUL_SHUTDOWN (65535:0) on every route, wait,
    /// withdraw every prefix, wait, exit.
    #[arg(long, value_enum, default_value = "auto")]
    drain_on_exit: DrainMode,
    /// Seconds routes carry GRACEFUL_SHUTDOWN before they are withdrawn.
    #[arg(long, default_value_t = 5)]
    drain_gshut_wait: u64,
    /// Seconds to wait after the withdrawal before exiting (the pod's terminationGracePeriodSeconds
    /// must cover both waits, plus up to 5 s for a command to FRR under way to finish).
    #[arg(long, default_value_t = 2)]
    drain_withdraw_wait: u64,
    /// Seconds a FRR daemon may take to answer a `show` over its vty socket. A daemon that does
    /// not answer (hung, stopped) counts as an error: the agent retries with backoff and
    /// reconciles against the running config once the daemon answers again.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    frr_timeout: u64,
    /// Seconds one apply script may take (10,000 lines take about a second in FRR 8.4).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    apply_timeout: u64,
}

fn parse_qps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=1000.0).contains(&v) => Ok(v),
        _ => Err("must be a number from 0.1 to 1000".into()),
    }
}

#[derive(Args)]
struct Offline {
    /// Name of the node to compute for (its Node object, if given, supplies labels).
    #[arg(long, env = "NODE_NAME")]
    node: Option<String>,
    /// Namespace the metallb.io configuration objects are read from; objects without a
    /// namespace are taken to be in it.
    #[arg(long, default_value = "metallb-system")]
    namespace: String,
    /// Handle only Services with this spec.loadBalancerClass (default: Services without one).
    #[arg(long)]
    lb_class: Option<String>,
    /// A network directly connected to the node (repeatable). When given, an eBGP peer outside
    /// every such network must have ebgpMultiHop.
    #[arg(long = "connected", value_name = "CIDR")]
    connected: Vec<IpNet>,
    /// Namespace the FRRConfigurations (frrk8s.metallb.io) are read from (default: --namespace).
    #[arg(long)]
    frrk8s_namespace: Option<String>,
    /// A prefix denied inbound on every FRRConfiguration neighbor, whatever toReceive allows
    /// (repeatable; frr-k8s's --always-block).
    #[arg(long = "always-block", value_name = "CIDR", value_delimiter = ',')]
    always_block: Vec<IpNet>,
    /// YAML files or directories of them (multi-document; unknown kinds ignored).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Render(o) => offline(o, true),
        Cmd::Check(o) => offline(o, false),
        Cmd::Run(a) => run(a),
        Cmd::Controller(a) => controller(a),
        Cmd::Status(a) => status(a),
        Cmd::Crds(a) => match a.api.yaml() {
            Ok(y) => {
                print!("{y}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn status(a: StatusArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(frr_speaker::status::table::report(&a.vty_socket_dir)) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn offline(o: Offline, print_config: bool) -> ExitCode {
    if print_config && o.node.is_none() {
        eprintln!("error: render needs --node (or NODE_NAME): the config is per node");
        return ExitCode::from(2);
    }
    let (snap, read_problems) = files::load(&o.paths, &o.namespace);
    let opts = Options {
        whole_cluster: o.node.is_none(),
        node: o.node.unwrap_or_default(),
        namespace: o.namespace,
        lb_class: o.lb_class,
        connected: (!o.connected.is_empty()).then_some(o.connected),
        frrk8s_namespace: o.frrk8s_namespace,
        always_block: o.always_block,
    };
    let out = pipeline::run(&snap, &read_problems, &opts);
    for p in &out.problems {
        eprintln!("{p}");
    }
    match out.config {
        _ if out.has_errors() => ExitCode::FAILURE,
        Some(Ok(rendered)) => {
            if print_config {
                print!("{}", rendered.conf.text());
            }
            ExitCode::SUCCESS
        }
        Some(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        None => {
            eprintln!("error: no configuration computed");
            ExitCode::FAILURE
        }
    }
}

/// kube's client logs every 5xx answer at ERROR (target `kube_client::client::builder`), also one
/// its retry layer then repeats with success; a request that finally fails reaches the agent's
/// code, which logs it once, with what it was for. So that target is off, unless RUST_LOG names
/// kube_client itself.
const KUBE_CLIENT_ATTEMPTS_OFF: &str = "kube_client::client::builder=off";

/// The log filter's directives from RUST_LOG (`env`; default `info`).
fn log_directives(env: Option<&str>) -> String {
    let base = env.map(str::trim).filter(|e| !e.is_empty()).unwrap_or("info");
    if base.contains("kube_client") {
        base.to_string()
    } else {
        format!("{base},{KUBE_CLIENT_ATTEMPTS_OFF}")
    }
}

fn init_logging(format: LogFormat) {
    let env = std::env::var("RUST_LOG").ok();
    let filter = tracing_subscriber::EnvFilter::try_new(log_directives(env.as_deref()))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_directives(None)));
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => fmt.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        // The event's fields (its message among them) at the top level of each object.
        LogFormat::Json => fmt.json().flatten_event(true).init(),
    }
}

fn block_on(what: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(what) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn controller(a: ControllerArgs) -> ExitCode {
    init_logging(a.log_format);
    if a.renew_deadline >= a.lease_duration {
        eprintln!("error: --renew-deadline must be less than --lease-duration");
        return ExitCode::FAILURE;
    }
    let identity = a.identity.unwrap_or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "frr-speaker-controller".into())
    });
    let cfg = frr_speaker::alloc::controller::ControllerConfig {
        namespace: a.namespace,
        lb_class: a.lb_class,
        identity,
        lease_name: a.lease_name,
        lease_duration: std::time::Duration::from_secs(a.lease_duration),
        renew_deadline: std::time::Duration::from_secs(a.renew_deadline),
        retry_period: std::time::Duration::from_secs(a.retry_period),
        metrics_addr: a.metrics_addr,
    };
    block_on(frr_speaker::alloc::controller::run(cfg))
}

fn run(a: RunArgs) -> ExitCode {
    init_logging(a.log_format);
    let cfg = app::RunConfig {
        node: a.node,
        manifests: a.manifests,
        frr_config: a.frr_config,
        vty_socket_dir: a.vty_socket_dir,
        metrics_addr: a.metrics_addr,
        namespace: a.namespace,
        lb_class: a.lb_class,
        frrk8s_namespace: a.frrk8s_namespace,
        always_block: a.always_block,
        status_qps: a.status_qps,
        drain: a.drain_on_exit,
        drain_waits: Waits {
            gshut: std::time::Duration::from_secs(a.drain_gshut_wait),
            withdraw: std::time::Duration::from_secs(a.drain_withdraw_wait),
        },
        timeouts: frr_speaker::frr::driver::Timeouts {
            show: std::time::Duration::from_secs(a.frr_timeout),
            apply: std::time::Duration::from_secs(a.apply_timeout),
        },
    };
    block_on(app::run(cfg))
}

#[cfg(test)]
mod tests {
    use super::log_directives;

    #[test]
    fn kube_clients_per_attempt_errors_are_off_unless_asked_for() {
        assert_eq!(log_directives(None), "info,kube_client::client::builder=off");
        assert_eq!(log_directives(Some("")), "info,kube_client::client::builder=off");
        assert_eq!(
            log_directives(Some("info,frr_speaker=debug")),
            "info,frr_speaker=debug,kube_client::client::builder=off"
        );
        assert_eq!(log_directives(Some("debug,kube_client=trace")), "debug,kube_client=trace");
        for d in [None, Some("warn,frr_speaker=trace")] {
            assert!(tracing_subscriber::EnvFilter::try_new(log_directives(d)).is_ok());
        }
    }
}
