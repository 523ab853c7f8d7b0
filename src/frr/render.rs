//! Desired state to frr.conf text, through the Tera template in templates/. Pure and
//! deterministic: the state's collections are sorted and the template adds nothing that varies.

use std::sync::OnceLock;

use tera::{Context, Tera};

use serde::Serialize;

use super::conf::{Block, Conf};
use crate::desired::state::{BfdProfileConf, DesiredState, Neighbor, Networks, Router};
use crate::grammar::values::IfName;

const TEMPLATE_NAME: &str = "frr.conf.tera";
const TEMPLATE: &str = include_str!("../../templates/frr.conf.tera");

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("rendering frr.conf: {0}")]
    Template(String),
    #[error("rendered frr.conf line {line} is outside the config grammar: {reason}")]
    Grammar { line: usize, reason: String },
}

/// First words a rendered line may start with: exactly the commands the templates write.
const KEYWORDS: &[&str] = &[
    "!",
    "frr",
    "ip",
    "ipv6",
    "bfd",
    "profile",
    "exit",
    "coalesce-time",
    "detect-multiplier",
    "receive-interval",
    "transmit-interval",
    "passive-mode",
    "echo-mode",
    "echo",
    "minimum-ttl",
    "route-map",
    "set",
    "match",
    "router",
    "bgp",
    "no",
    "neighbor",
    "address-family",
    "network",
    "exit-address-family",
    // frr-k8s mode (src/frrk8s/render.rs).
    "on-match",
    "import",
];

/// Defence in depth behind the value grammar: every line of a rendered config is printable ASCII,
/// starts with a command the template writes, and carries no `!` except as a whole comment line.
/// A config that fails this is never handed to FRR.
pub fn check_grammar(text: &str) -> Result<(), RenderError> {
    for (i, line) in text.lines().enumerate() {
        let fail = |reason: &str| Err(RenderError::Grammar { line: i + 1, reason: reason.to_string() });
        if let Some(c) = line.chars().find(|c| !(c.is_ascii_graphic() || *c == ' ')) {
            return fail(&format!("character {c:?}"));
        }
        let body = line.trim_start();
        if body.starts_with('!') {
            if body != "!" && !(i == 0 && body.starts_with("! frr.conf rendered by frr-speaker")) {
                return fail("comment");
            }
            continue;
        }
        if body.contains('!') {
            return fail("'!' inside a command");
        }
        let first = body.split(' ').next().unwrap_or("");
        if !KEYWORDS.contains(&first) {
            return fail(&format!("unexpected command {first:?}"));
        }
    }
    Ok(())
}

fn tera() -> Result<&'static Tera, RenderError> {
    static TERA: OnceLock<Result<Tera, String>> = OnceLock::new();
    TERA.get_or_init(|| {
        let mut t = Tera::default();
        // frr.conf is not HTML: nothing is escaped (values are safe by construction).
        t.autoescape_on(vec![]);
        t.add_raw_template(TEMPLATE_NAME, TEMPLATE).map_err(|e| format!("{e:?}"))?;
        Ok(t)
    })
    .as_ref()
    .map_err(|e| RenderError::Template(e.clone()))
}

/// What the template sees: the state, with a placeholder line where each address family's
/// `network` lines go. They are nearly all of a large config and are kept apart (`conf::Conf`):
/// the template renders the rest, which is small whatever the number of Services.
#[derive(Serialize)]
struct View<'a> {
    bfd_profiles: &'a [BfdProfileConf],
    tags: &'a [u16],
    routers: Vec<RouterView<'a>>,
}

#[derive(Serialize)]
struct RouterView<'a> {
    vrf: &'a Option<IfName>,
    asn: u32,
    router_id: Option<std::net::Ipv4Addr>,
    neighbors: &'a [Neighbor],
    /// The placeholder line of each address family's `network` lines, indented for the
    /// address-family block, without the newline.
    ipv4_networks: String,
    ipv6_networks: String,
}

/// bgpd's update-group coalesce time (ms), in both modes' `router bgp` blocks. A session that
/// comes up gets its first routes after it: FRR's default, 1 s plus 50 ms per peer, made every
/// cold start, FRR restart and new session a second slower at the router (the frr-k8s
/// side-by-side bench: cold start 2.11 s at 100 prefixes, 1.14 s with 100 ms). 100 ms still
/// puts the sessions of a node, which come up together after an FRR restart, in one update
/// group; it does not touch routes on sessions that are up.
pub const COALESCE_TIME_MS: u32 = 100;

/// A placeholder line is this followed by the index of its block in `render`'s list.
const PLACEHOLDER: &str = "network fs-networks-";

impl<'a> RouterView<'a> {
    fn new(r: &'a Router, i: usize) -> Self {
        RouterView {
            vrf: &r.vrf,
            asn: r.asn,
            router_id: r.router_id,
            neighbors: &r.neighbors,
            ipv4_networks: format!("  {PLACEHOLDER}{}", 2 * i),
            ipv6_networks: format!("  {PLACEHOLDER}{}", 2 * i + 1),
        }
    }
}

/// Render the node's frr.conf.
pub fn render(state: &DesiredState) -> Result<Conf, RenderError> {
    let view = View {
        bfd_profiles: &state.bfd_profiles,
        tags: &state.tags,
        routers: state.routers.iter().enumerate().map(|(i, r)| RouterView::new(r, i)).collect(),
    };
    let mut ctx = Context::new();
    ctx.insert("state", &view);
    ctx.insert("coalesce_time", &COALESCE_TIME_MS);
    let text = tera()?.render(TEMPLATE_NAME, &ctx).map_err(|e| RenderError::Template(format!("{e:?}")))?;
    // The template's leading comment leaves blank lines behind.
    let mut out = text.trim_start().to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    check_grammar(&out)?;
    let maps: Vec<&Networks> = state.routers.iter().flat_map(|r| [&r.ipv4_networks, &r.ipv6_networks]).collect();
    split_blocks(&out, &maps)
}

/// Cut the rendered text at its placeholder lines; each becomes its block (`maps[i]` for
/// placeholder i), named by the router and address-family header lines above it.
fn split_blocks(text: &str, maps: &[&Networks]) -> Result<Conf, RenderError> {
    let (mut pieces, mut blocks) = (Vec::new(), Vec::new());
    let (mut piece, mut router, mut previous) = (String::new(), "", "");
    for line in text.split_inclusive('\n') {
        if let Some(i) = line.trim().strip_prefix(PLACEHOLDER) {
            let networks = i.parse::<usize>().ok().and_then(|i| maps.get(i));
            let af = previous.trim();
            let (Some(networks), true) = (networks, af.starts_with("address-family ")) else {
                return Err(RenderError::Template(format!("misplaced `network` placeholder: {line:?}")));
            };
            pieces.push(std::mem::take(&mut piece));
            blocks.push(Block { router: router.to_string(), af: af.to_string(), networks: (*networks).clone() });
            continue;
        }
        if line.starts_with("router bgp ") {
            router = line.trim_end();
        }
        previous = line;
        piece.push_str(line);
    }
    pieces.push(piece);
    Ok(Conf::new(pieces, blocks))
}

/// `text` without any `network` statement: what a node runs once it has withdrawn everything
/// (sessions, policies and BFD unchanged).
pub fn without_networks(text: &str) -> String {
    text.lines().filter(|l| !l.trim_start().starts_with("network ")).map(|l| format!("{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_rejects_injected_lines() {
        assert!(check_grammar("frr defaults traditional\n!\nrouter bgp 1\n neighbor 192.0.2.1 remote-as 2\n").is_ok());
        for bad in [
            "router bgp 1\n write memory\n",
            "router bgp 1 ! x\n",
            "! hello\n",
            "neighbor x password a\tb\n",
            "neighbor \u{430}\n",
        ] {
            assert!(check_grammar(&format!("frr defaults traditional\n{bad}")).is_err(), "{bad:?} accepted");
        }
    }
}
