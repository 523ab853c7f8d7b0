//! The docs name only what exists: every `make` target the README and docs/ name is in the
//! Makefile, and every flag they give `frr-speaker` is one its subcommand takes (`--help`). The
//! paths they name are checked by tests/code_shape.rs (`paths_named_in_docs_and_comments_exist`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every page of docs/: (name, text).
fn docs() -> Vec<(String, String)> {
    let mut out = vec![("README.md".to_string(), std::fs::read_to_string(root().join("README.md")).expect("README"))];
    let mut pages: Vec<_> =
        std::fs::read_dir(root().join("docs")).expect("docs/").flatten().map(|e| e.path()).collect();
    pages.sort();
    for p in pages.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let name = format!("docs/{}", p.file_name().expect("name").to_string_lossy());
        out.push((name, std::fs::read_to_string(&p).expect("page")));
    }
    assert!(out.len() >= 8, "README and the docs pages: {}", out.len());
    out
}

/// The code spans of `text` (between single backticks) and the lines of its fenced blocks.
fn code(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            out.push(line.trim().to_string());
            continue;
        }
        out.extend(line.split('`').skip(1).step_by(2).map(str::to_string));
    }
    out
}

/// The words after `lead` in `s` that look like a name (letters, digits, `-`, `_`).
fn words_after(s: &str, lead: &str) -> Vec<String> {
    s.match_indices(lead)
        .filter(|(i, _)| *i == 0 || !s.as_bytes()[i - 1].is_ascii_alphanumeric())
        .map(|(i, _)| {
            s[i + lead.len()..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
        })
        .filter(|w: &String| !w.is_empty())
        .collect()
}

#[test]
fn every_make_target_the_docs_name_exists() {
    let makefile = std::fs::read_to_string(root().join("Makefile")).expect("Makefile");
    let targets: BTreeSet<&str> = makefile
        .lines()
        .filter(|l| !l.starts_with(['\t', '#', '.']) && l.contains(':') && !l.contains(":="))
        .filter_map(|l| l.split(':').next())
        .flat_map(|t| t.split_whitespace())
        .collect();
    assert!(targets.contains("test") && targets.contains("demo"), "{targets:?}");
    let mut missing = Vec::new();
    let mut seen = 0;
    for (name, text) in docs() {
        for span in code(&text) {
            for t in words_after(&span, "make ") {
                seen += 1;
                if !targets.contains(t.as_str()) {
                    missing.push(format!("{name}: make {t}"));
                }
            }
        }
    }
    assert!(seen >= 10, "only {seen} make targets named");
    assert!(missing.is_empty(), "not in the Makefile:\n{}", missing.join("\n"));
}

/// The long flags `frr-speaker SUB --help` lists.
fn flags_of(sub: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_frr-speaker")).args([sub, "--help"]).output().expect("runs");
    assert!(out.status.success(), "{sub} --help");
    words_after(&String::from_utf8_lossy(&out.stdout), "--").into_iter().collect()
}

#[test]
fn every_flag_the_docs_give_frr_speaker_exists() {
    let subs = ["run", "controller", "render", "check", "crds", "status"];
    let flags: BTreeMap<&str, BTreeSet<String>> = subs.iter().map(|s| (*s, flags_of(s))).collect();
    let any: BTreeSet<&String> = flags.values().flatten().collect();
    let mut missing = Vec::new();
    let mut seen = 0;
    for (name, text) in docs() {
        // `frr-speaker SUB ... --flag`, in code spans and fenced lines.
        for span in code(&text) {
            let Some(rest) = span.split("frr-speaker ").nth(1) else { continue };
            let Some(sub) = rest.split_whitespace().next().filter(|s| subs.contains(s)) else { continue };
            // Up to a pipe, a comment or the next command.
            let cmd = rest.split(['|', '#', ';']).next().unwrap_or(rest);
            for f in words_after(cmd, "--") {
                seen += 1;
                if !flags[sub].contains(&f) {
                    missing.push(format!("{name}: frr-speaker {sub} --{f}"));
                }
            }
        }
        // Flag tables: rows that start with a flag.
        for line in text.lines().filter(|l| l.starts_with("| `--")) {
            for f in words_after(line.split('|').nth(1).unwrap_or(""), "--") {
                seen += 1;
                if !any.contains(&f) {
                    missing.push(format!("{name}: table row --{f}"));
                }
            }
        }
    }
    assert!(seen >= 20, "only {seen} flags named");
    assert!(missing.is_empty(), "flags frr-speaker does not take:\n{}", missing.join("\n"));
}
