//! The shape of src/ that keeps it easy to change, checked on the text of the sources:
//! - no cycle between modules, neither between files (`frr::diff` ↔ `frr::conf`) nor between the
//!   top-level modules (`frr` ↔ `status`): a leaf module holds what two sides share;
//! - no function over 100 lines.
//!
//! A module's dependencies are the `crate::…` and `super::…` paths its file names outside its unit
//! tests (`mod tests`, `tests.rs`, test-only modules), resolved to the longest module they name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/frr/driver.rs` → `frr::driver`, `src/frr/mod.rs` → `frr`; `None` for the binary and for
/// unit-test files.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|l| l == "tests") || parts == ["main"] {
        return None;
    }
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    Some(parts.join("::"))
}

/// The file's text without its unit tests (everything from `#[cfg(test)] mod tests` on).
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests").map_or(text, |i| &text[..i])
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path that starts with `crate::` or `super::` in `text`, braces expanded
/// (`use super::{a, b::c}` → `super::a`, `super::b::c`).
fn paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let starts = (rest.starts_with("crate::") || rest.starts_with("super::"))
            && (i == 0 || !is_ident(text[..i].chars().next_back().unwrap_or(' ')));
        if !starts {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let mut j = i;
        while j < text.len() && (is_ident(b[j] as char) || b[j] == b':') {
            j += 1;
        }
        let head = text[i..j].trim_end_matches(':').to_string();
        if text[j..].starts_with('{') {
            // A group: split its items at depth 1.
            let mut depth = 0;
            let mut item = String::new();
            let mut k = j;
            for c in text[j..].chars() {
                k += c.len_utf8();
                match c {
                    '{' => {
                        depth += 1;
                        if depth == 1 {
                            continue;
                        }
                    }
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        out.push(format!("{head}::{}", item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            if !item.trim().is_empty() {
                out.push(format!("{head}::{}", item.trim()));
            }
            j = k;
        } else {
            out.push(head);
        }
        i = j.max(i + 1);
    }
    out
}

/// The module a path names, seen from module `from`: the longest prefix that is a module.
fn resolve(modules: &BTreeSet<String>, from: &str, path: &str) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").map(|s| s.split(|c: char| !is_ident(c)).next().unwrap_or("")).collect();
    let mut base: Vec<&str> = if from.is_empty() { Vec::new() } else { from.split("::").collect() };
    match segs.first() {
        Some(&"crate") => {
            base.clear();
            segs.remove(0);
        }
        Some(&"super") => {
            while segs.first() == Some(&"super") {
                base.pop();
                segs.remove(0);
            }
        }
        _ => return None,
    }
    let mut best = None;
    for n in 0..=segs.len() {
        let cand: Vec<&str> = base.iter().chain(&segs[..n]).copied().filter(|s| !s.is_empty()).collect();
        let cand = cand.join("::");
        if modules.contains(&cand) {
            best = Some(cand);
        }
    }
    best
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut texts = BTreeMap::new();
    for f in &files {
        if let Some(m) = module_of(&src, f) {
            texts.insert(m, std::fs::read_to_string(f).expect("read"));
        }
    }
    let modules: BTreeSet<String> = texts.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (m, text) in &texts {
        let deps: BTreeSet<String> = paths(without_tests(text))
            .iter()
            .filter_map(|p| resolve(&modules, m, p))
            // A module and its own parent or children are one unit (`mod.rs` re-exports).
            .filter(|t| t != m && !m.starts_with(&format!("{t}::")) && !t.starts_with(&format!("{m}::")))
            .filter(|t| !t.is_empty())
            .collect();
        edges.insert(m.clone(), deps);
    }
    edges
}

/// A cycle in `edges`, as the modules on it, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for t in edges.get(n).into_iter().flatten() {
            match state.get(t.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == t).unwrap_or(0);
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(t.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(t, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, edges, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn modules_depend_on_each_other_without_cycles() {
    let files = graph();
    assert!(files.len() > 40, "modules found: {}", files.len());
    assert!(files["frr::applier"].contains("frr::driver"), "the graph sees dependencies: {:?}", files["frr::applier"]);
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let first = |m: &str| m.split("::").next().unwrap_or("").to_string();
    for (m, deps) in &files {
        let e = top.entry(first(m)).or_default();
        e.extend(deps.iter().map(|d| first(d)).filter(|d| *d != first(m)));
    }
    // `CODE_SHAPE_GRAPH=1 cargo test --test code_shape -- --nocapture` prints the graph.
    if std::env::var_os("CODE_SHAPE_GRAPH").is_some() {
        for (m, deps) in &top {
            println!("{m} -> {}", deps.iter().cloned().collect::<Vec<_>>().join(", "));
        }
        println!("{} modules, {} edges", files.len(), files.values().map(BTreeSet::len).sum::<usize>());
    }
    if let Some(c) = find_cycle(&files) {
        panic!("a cycle between modules: {}", c.join(" -> "));
    }
    if let Some(c) = find_cycle(&top) {
        panic!("a cycle between top-level modules: {}", c.join(" -> "));
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&g), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    g.get_mut("c").expect("c").clear();
    assert_eq!(find_cycle(&g), None);
    let modules: BTreeSet<String> =
        ["frr", "frr::diff", "frr::owned", "status"].iter().map(|s| s.to_string()).collect();
    let found: Vec<_> = paths("use super::{owned::{key, X}, diff};\nlet x = crate::status::y;")
        .iter()
        .filter_map(|p| resolve(&modules, "frr::conf", p))
        .collect();
    assert_eq!(found, ["frr::owned", "frr::diff", "status"]);
}

/// Functions of src/ longer than `limit` lines: (lines, file, first line, name).
fn long_functions(limit: usize) -> Vec<(usize, String, usize, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            let indent = l.len() - t.len();
            let t = t.trim_start_matches("pub(crate) ").trim_start_matches("pub(super) ").trim_start_matches("pub ");
            let t = t.trim_start_matches("async ").trim_start_matches("const ");
            let Some(rest) = t.strip_prefix("fn ") else { continue };
            if l.trim_end().ends_with(';') {
                continue;
            }
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            let close = format!("{}}}", " ".repeat(indent));
            let end = lines[i + 1..].iter().position(|x| x.trim_end() == close).map(|p| i + 1 + p);
            if let Some(end) = end {
                if end - i + 1 > limit {
                    out.push((end - i + 1, f.display().to_string(), i + 1, name));
                }
            }
        }
    }
    out
}

#[test]
fn no_function_is_over_100_lines() {
    let long = long_functions(100);
    assert!(long.is_empty(), "split these: {long:?}");
    assert!(!long_functions(40).is_empty(), "the check sees functions");
}

/// Paths of this repository that `text` names (`src/…`, `tests/…`, `deploy/…`, …), without
/// patterns (`*`, `<case>`, `{a,b}`).
fn named_paths(text: &str) -> Vec<String> {
    const ROOTS: [&str; 12] = [
        "src/",
        "tests/",
        "deploy/",
        "docker/",
        "e2e/",
        "frr/",
        "benches/",
        "templates/",
        "fuzz/",
        "charts/",
        "docs/",
        ".ci/",
    ];
    let is_path = |c: char| c.is_alphanumeric() || "_./-".contains(c);
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let before = text[..i].chars().next_back();
        if before.is_none_or(|c| !is_path(c) && c != '$' && c != '~') {
            if let Some(root) = ROOTS.iter().find(|r| rest.starts_with(**r)) {
                let end = rest.find(|c: char| !is_path(c)).unwrap_or(rest.len());
                let p = rest[..end].trim_end_matches(['.', '-']);
                let next = rest[end..].chars().next();
                let pattern = matches!(next, Some('*' | '<' | '{' | '$'));
                // `deploy/web` in a kubectl command is a Deployment; fuzz/target/ is cargo-fuzz's output.
                let kubectl = *root == "deploy/" && !p[root.len()..].contains(['.', '/']);
                let generated = p.starts_with("fuzz/target") || p.starts_with("fuzz/artifacts");
                if !pattern
                    && !kubectl
                    && !generated
                    && p.len() > root.len()
                    && !p.contains("..")
                    && !p.starts_with("tests/golden/")
                {
                    out.push(p.to_string());
                }
                i += end.max(1);
                continue;
            }
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    out
}

#[test]
fn paths_named_in_docs_and_comments_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("Makefile"), root.join("Cargo.toml")];
    for dir in
        ["src", "tests", "benches", "e2e", "deploy", "docker", "frr", "fuzz/fuzz_targets", ".ci", "docs", "charts"]
    {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    if !p.ends_with("golden") && !p.ends_with("target") {
                        stack.push(p);
                    }
                } else {
                    files.push(p);
                }
            }
        }
    }
    let mut missing = Vec::new();
    let mut seen = 0;
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        for p in named_paths(&text) {
            seen += 1;
            if !root.join(&p).exists() {
                missing.push(format!("{}: {p}", f.strip_prefix(root).unwrap_or(f).display()));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(seen > 100, "paths found: {seen}");
    assert!(missing.is_empty(), "named but not in the repository:\n{}", missing.join("\n"));
}

#[test]
fn named_paths_are_found_and_patterns_left_out() {
    let text = "see src/frr/vty.rs, tests/system/lab.rs and deploy/crds.yaml. Not /etc/frr/frr.conf, \
        tests/golden/<case>/, docker/*.Dockerfile or `kubectl rollout status deploy/web`";
    assert_eq!(named_paths(text), ["src/frr/vty.rs", "tests/system/lab.rs", "deploy/crds.yaml"]);
}
