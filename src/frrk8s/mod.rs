//! frr-k8s mode: the FRRConfigurations (`frrk8s.metallb.io/v1beta1`) that select a node, merged
//! into that node's configuration as the frr-k8s daemon v0.0.25 merges them. Pure.
//!
//! Each object is converted on its own (`convert`: its fields, and frr-k8s's rule that an object
//! is self-contained), then the parts are merged in the objects' order (`merge`). A problem names
//! the object and the field; a merge conflict also names the object it conflicts with. Any error
//! leaves no configuration: the node keeps the last good one.

mod convert;
mod merge;
pub mod metallb;
pub mod model;
pub mod render;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use convert::Context;
use merge::{merge_router, Conflict};
use model::Config;

use crate::model::core::ObjKey;
use crate::model::frrk8s::FrrConfigurationSpec;
use crate::problem::{Kind, Problem};

/// What the metallb.io objects ask of the node, as MetalLB v0.16's FRRConfiguration for it
/// (`metallb::part`), named after that object.
pub type MetallbPart = (ObjKey, convert::Part);

/// The configuration `configs` (the objects that select this node) add up to, with the
/// problems found; `None` when any is an error. `metallb` joins the merge first.
pub fn node_config(
    metallb: Option<MetallbPart>,
    configs: &[(&ObjKey, &FrrConfigurationSpec)],
    ctx: &Context,
) -> (Option<Config>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut parts = Vec::new();
    let metallb_key = metallb.as_ref().map(|(k, _)| k.clone());
    if let (Some((_, part)), Some(key)) = (metallb, metallb_key.as_ref()) {
        parts.push((key, part));
    }
    for (key, spec) in configs {
        match convert::convert(key, spec, ctx) {
            Ok(mut part) => {
                problems.append(&mut part.warnings);
                parts.push((*key, part));
            }
            Err(p) => problems.push(p),
        }
    }
    if problems.iter().any(Problem::is_error) {
        return (None, problems);
    }
    let mut config = Config::default();
    let mut profile_from: BTreeMap<String, &ObjKey> = BTreeMap::new();
    let mut raw: Vec<(i64, &ObjKey, String)> = Vec::new();
    for (key, part) in parts {
        let conflict = |field: &str, Conflict(m, at): Conflict| {
            Problem::error(Kind::FRRConfiguration, key, at.as_deref().unwrap_or(field), m)
        };
        for (profile, field) in part.bfd_profiles {
            let name = profile.name.as_str().to_string();
            match config.bfd_profiles.get(&name) {
                Some(first) if *first != profile => {
                    let m = format!(
                        "BFD profile {name:?} differs from the one of the same name in {}",
                        profile_from[&name]
                    );
                    problems.push(conflict(&field, Conflict(m, None)));
                    return (None, problems);
                }
                Some(_) => {}
                None => {
                    profile_from.insert(name.clone(), key);
                    config.bfd_profiles.insert(name, profile);
                }
            }
        }
        for (router, field) in part.routers {
            let vrf = router.vrf.as_ref().map_or(String::new(), |v| v.to_string());
            match config.routers.get_mut(&vrf) {
                Some(first) => {
                    if let Err(c) = merge_router(first, router) {
                        problems.push(conflict(&field, c));
                        return (None, problems);
                    }
                }
                None => {
                    config.routers.insert(vrf, router);
                }
            }
        }
        if let Some((priority, text)) = part.raw {
            raw.push((priority, key, text));
        }
    }
    // By priority, then by the object's name (as frr-k8s orders them), each followed by a newline.
    raw.sort_by(|a, b| (a.0, &a.1.name, &a.1.namespace).cmp(&(b.0, &b.1.name, &b.1.namespace)));
    for (_, _, text) in raw {
        config.raw.push_str(&text);
        config.raw.push('\n');
    }
    (Some(config), problems)
}
