//! The one transformation from a snapshot of the inputs to what FRR must run: desired state
//! (`desired::compute`) then frr.conf (`frr::render`), with every problem found on the way merged,
//! sorted and deduplicated. Pure: the agent, `frr-speaker render` / `check` and the golden tests
//! all call `run`, so the tests test exactly what the agent applies.

use crate::desired::memo::{Memo, Mode};
use crate::desired::{self, Options};
use crate::frr::conf::Conf;
use crate::frr::extras;
use crate::frr::render::{render, RenderError};
pub use crate::frr::rendered::Rendered;
use crate::frrk8s;
use crate::grammar::selector;
use crate::index::{Snapshot, EXTRAS_CONFIGMAP};
use crate::model::core::ObjKey;
use crate::problem::{Kind, Problem};
use std::collections::BTreeMap;

/// The pipeline's result.
#[derive(Debug)]
pub struct Output {
    /// Problems of the input and of the computation: sorted (errors first), no duplicates.
    pub problems: Vec<Problem>,
    /// `None` when any problem is an error: nothing from an invalid input may be applied.
    pub config: Option<Result<Rendered, RenderError>>,
}

impl Output {
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }
}

/// Snapshot → desired state → frr.conf. `read_problems` are those found while reading the input
/// (unparsable manifests, unknown fields); they count like the computation's own.
pub fn run(snap: &Snapshot, read_problems: &[Problem], opts: &Options) -> Output {
    assemble(snap, read_problems, opts, desired::compute(snap, opts))
}

/// The agent's pipeline: `run`, with the desired state computed incrementally (`desired::memo`;
/// equal to `desired::compute` by a property test), so that a Service change recomputes that
/// Service only.
#[derive(Default)]
pub struct Pipeline {
    memo: Memo,
}

impl Pipeline {
    /// `run(snap, read_problems, opts)`, and how much of the desired state was recomputed.
    pub fn run(&mut self, snap: &Snapshot, read_problems: &[Problem], opts: &Options) -> (Output, Mode) {
        let (outcome, mode) = self.memo.compute(snap, opts);
        (assemble(snap, read_problems, opts, outcome), mode)
    }
}

fn assemble(snap: &Snapshot, read_problems: &[Problem], opts: &Options, outcome: desired::Outcome) -> Output {
    if let Some(out) = frrk8s_mode(snap, read_problems, opts, &outcome) {
        return out;
    }
    let mut problems: Vec<Problem> = read_problems.iter().chain(outcome.problems.iter()).cloned().collect();
    // The operator's raw lines (MetalLB's `bgpextras` ConfigMap), appended as written.
    let extras =
        snap.extras.get(&ObjKey::new(opts.namespace.as_str(), EXTRAS_CONFIGMAP)).filter(|e| !e.text.trim().is_empty());
    let extras = extras.filter(|e| {
        let bad = extras::check(&e.key, &e.text);
        let ok = bad.is_empty();
        problems.extend(bad);
        ok
    });
    problems.sort();
    problems.dedup();
    let config = match outcome.state {
        Some(state) if !problems.iter().any(Problem::is_error) => {
            let ports = state
                .routers
                .iter()
                .flat_map(|r| {
                    let vrf = r.vrf.as_ref().map(|v| v.to_string());
                    r.neighbors.iter().filter_map(move |n| Some(((vrf.clone(), n.id.clone()), n.port?)))
                })
                .collect();
            Some(render(&state).map(|conf| Rendered {
                conf: match extras {
                    Some(e) => conf.with_extras(&e.key, &e.text),
                    None => conf,
                },
                announcements: state.announcements,
                ports,
                since: None,
            }))
        }
        _ => None,
    };
    Output { problems, config }
}

/// frr-k8s mode: when FRRConfigurations of the frr-k8s namespace select this node, their merge
/// (`frrk8s::node_config`) is what FRR runs, with their raw configurations appended as written.
/// `None` when none does. (With `check` and no node: each object on its own.)
fn frrk8s_mode(
    snap: &Snapshot,
    read_problems: &[Problem],
    opts: &Options,
    outcome: &desired::Outcome,
) -> Option<Output> {
    let ns = opts.frrk8s_namespace();
    let in_ns = snap.frr_configurations.values().filter(|o| &*o.key.namespace == ns);
    // The node's labels; without its Node object, the label every kubelet sets.
    let default_labels = BTreeMap::from([("kubernetes.io/hostname".to_string(), opts.node.clone())]);
    let labels = snap.nodes.get(&opts.node).map_or(&default_labels, |n| &n.labels);
    let mut problems: Vec<Problem> = read_problems.to_vec();
    let mut selected = Vec::new();
    for o in in_ns {
        let picks = match &o.spec.node_selector {
            _ if opts.whole_cluster => Ok(true),
            None => Ok(true),
            Some(sel) => selector::matches(sel, labels),
        };
        match picks {
            Ok(true) => selected.push((&o.key, &o.spec)),
            Ok(false) => {}
            Err(e) => problems.push(Problem::error(Kind::FRRConfiguration, &o.key, "spec.nodeSelector", e)),
        }
    }
    if selected.is_empty() && !problems.iter().any(|p| p.kind == Kind::FRRConfiguration) {
        return None;
    }
    let ctx = frrk8s::Context { secrets: &snap.secrets, namespace: ns, always_block: &opts.always_block };
    // What the metallb.io objects ask of the node joins the merge, as the FRRConfiguration
    // MetalLB v0.16 writes for it would (their own problems count as always).
    problems.extend(outcome.problems.iter().cloned());
    // When MetalLB's own speaker (v0.16, frr-k8s mode) wrote that object, it is MetalLB's
    // translation that counts: the agent's steps aside.
    let key = ObjKey::new(ns, frrk8s::metallb::object_name(&opts.node));
    let written_by_metallb = selected.iter().any(|(k, _)| **k == key);
    let metallb = outcome.state.as_ref().filter(|s| !s.routers.is_empty() && !written_by_metallb).map(|s| {
        let part = frrk8s::metallb::part(s, &key, &opts.always_block);
        (key.clone(), part)
    });
    let config = if opts.whole_cluster {
        // As frr-k8s's webhook would for a node each object selects alone.
        for one in &selected {
            problems.extend(frrk8s::node_config(None, std::slice::from_ref(one), &ctx).1);
        }
        // No node: nothing to run, only the problems (`check`).
        Some(frrk8s::model::Config::default())
    } else {
        let (config, found) = frrk8s::node_config(metallb, &selected, &ctx);
        problems.extend(found);
        config
    };
    // MetalLB's raw lines have no place in frr-k8s mode (MetalLB refuses them there too).
    if let Some(e) = snap.extras.get(&ObjKey::new(opts.namespace.as_str(), EXTRAS_CONFIGMAP)) {
        if !e.text.trim().is_empty() {
            let msg =
                "not applied while FRRConfigurations select this node: put raw lines in an FRRConfiguration's spec.raw";
            problems.push(Problem::warning(Kind::ConfigMap, &e.key, "data.extras", msg));
        }
    }
    // The raw configurations, unless one has what would break the agent (then none is applied).
    let mut raw_ok = true;
    for (key, spec) in &selected {
        let bad = extras::check_as(
            Kind::FRRConfiguration,
            key,
            "spec.raw.rawConfig",
            "the raw configurations are",
            &spec.raw.config,
        );
        raw_ok &= bad.is_empty();
        problems.extend(bad);
    }
    problems.sort();
    problems.dedup();
    let config = config.filter(|_| !problems.iter().any(Problem::is_error)).map(|c| {
        frrk8s::render::render(&c).map(|text| {
            let conf = Conf::from_text(text);
            let conf = match c.raw.is_empty() || !raw_ok {
                true => conf,
                false => conf.with_raw(&format!("spec.raw of the FRRConfigurations in {ns}"), &c.raw),
            };
            Rendered { conf, ..Rendered::default() }
        })
    });
    Some(Output { problems, config })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Kind;

    fn frr_configuration(name: &str, yaml: &str) -> crate::index::Object {
        let spec: crate::model::frrk8s::FrrConfigurationSpec = serde_yaml_ng::from_str(yaml).expect("spec");
        crate::index::Object::FrrConfiguration(crate::index::Obj {
            key: ObjKey::new("metallb-system", name),
            labels: Default::default(),
            spec,
        })
    }

    #[test]
    fn frr_configurations_select_nodes_by_label() {
        let mut snap = Snapshot::default();
        let opts = Options::new("node1");
        let other = "nodeSelector: {matchLabels: {kubernetes.io/hostname: node2}}\nbgp: {routers: [{asn: 64512}]}";
        snap.apply(frr_configuration("for-node2", other));
        let out = run(&snap, &[], &opts);
        let text = out.config.expect("valid").expect("renders").conf.text();
        assert!(!text.contains("router bgp"), "another node's object is not used: {text}");
        // Without a Node object the node has the label every kubelet sets.
        snap.apply(frr_configuration("for-node1", &other.replace("node2", "node1").replace("64512", "64513")));
        let text = run(&snap, &[], &opts).config.expect("valid").expect("renders").conf.text();
        assert!(text.contains("router bgp 64513") && !text.contains("router bgp 64512"), "{text}");
        // A selector that cannot be read is an error on that object's field.
        snap.apply(frr_configuration("bad", "nodeSelector: {matchExpressions: [{key: a, operator: Nope}]}"));
        let out = run(&snap, &[], &opts);
        assert!(out.config.is_none());
        assert!(
            out.problems.iter().any(|p| p.object.name.as_ref() == "bad" && p.field == "spec.nodeSelector"),
            "{:?}",
            out.problems
        );
        // `check` without a node: every object on its own, as if it selected a node.
        let whole = Options { whole_cluster: true, ..Options::new("") };
        snap.delete(Kind::FRRConfiguration, &ObjKey::new("metallb-system", "bad"));
        snap.apply(frr_configuration("broken", "bgp: {routers: [{asn: 1, id: not-an-ip}]}"));
        let out = run(&snap, &[], &whole);
        let names: Vec<&str> = out.problems.iter().filter(|p| p.is_error()).map(|p| p.object.name.as_ref()).collect();
        assert_eq!(names, ["broken"], "{:?}", out.problems);
        // MetalLB's raw lines are not applied in frr-k8s mode, and that is said.
        snap.delete(Kind::FRRConfiguration, &ObjKey::new("metallb-system", "broken"));
        let extras = crate::index::Extras {
            key: ObjKey::new("metallb-system", "bgpextras"),
            text: "ip prefix-list x seq 5 permit any\n".into(),
        };
        snap.apply(crate::index::Object::Extras(extras));
        let out = run(&snap, &[], &opts);
        let text = out.config.expect("valid").expect("renders").conf.text();
        assert!(!text.contains("prefix-list x"), "{text}");
        assert!(
            out.problems.iter().any(|p| p.kind == Kind::ConfigMap && p.message.contains("spec.raw")),
            "{:?}",
            out.problems
        );
    }

    #[test]
    fn read_problems_that_are_errors_withhold_the_config() {
        let snap = Snapshot::default();
        let opts = Options::new("node1");
        let ok = run(&snap, &[], &opts);
        assert!(ok.problems.is_empty());
        assert!(matches!(ok.config, Some(Ok(_))), "an empty input renders an empty config");

        let key = ObjKey::new("metallb-system", "broken");
        let bad = Problem::error(Kind::Manifest, &key, "", "not YAML");
        let dup = [bad.clone(), bad.clone(), Problem::warning(Kind::Service, &key, "spec", "ignored")];
        let out = run(&snap, &dup, &opts);
        assert_eq!(out.problems.len(), 2, "duplicates merged: {:?}", out.problems);
        assert!(out.problems[0].is_error(), "errors sort first");
        assert!(out.has_errors() && out.config.is_none());
    }
}
