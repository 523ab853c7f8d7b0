//! The one transformation from a snapshot of the inputs to what FRR must run: desired state
//! (`desired::compute`) then frr.conf (`frr::render`), with every problem found on the way merged,
//! sorted and deduplicated. Pure: the agent, `frr-speaker render` / `check` and the golden tests
//! all call `run`, so the tests test exactly what the agent applies.

use crate::desired::memo::{Memo, Mode};
use crate::desired::{self, Options};
use crate::frr::extras;
use crate::frr::render::{render, RenderError};
pub use crate::frr::rendered::Rendered;
use crate::index::{Snapshot, EXTRAS_CONFIGMAP};
use crate::model::core::ObjKey;
use crate::problem::Problem;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Kind;

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
