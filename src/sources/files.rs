//! Manifest files and directories to a snapshot (file mode, `render`, `check`). The only I/O here
//! is reading files; parsing is `manifest`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::manifest::{parse_stream, Parsed};
use crate::index::Snapshot;
use crate::model::core::ObjKey;
use crate::problem::{Kind, Problem};

/// Largest manifest file read; a bigger one is refused rather than loaded into memory.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Every YAML/JSON file under `paths` (files as given, directories recursively), sorted.
pub fn manifest_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        collect(p, true, &mut files, &mut problems);
    }
    files.sort();
    files.dedup();
    (files, problems)
}

fn collect(p: &Path, explicit: bool, files: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) {
    let origin = ObjKey::new("", p.display().to_string());
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => match std::fs::read_dir(p) {
            Ok(rd) => {
                for e in rd.flatten() {
                    let name = e.file_name();
                    // Editors' and Kubernetes ConfigMap mounts' hidden entries (..data, .swp).
                    if name.to_string_lossy().starts_with('.') {
                        continue;
                    }
                    collect(&e.path(), false, files, problems);
                }
            }
            Err(e) => problems.push(Problem::error(Kind::Manifest, &origin, "", format!("cannot read directory: {e}"))),
        },
        Ok(_) => {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if explicit || matches!(ext, "yaml" | "yml" | "json") {
                files.push(p.to_path_buf());
            }
        }
        Err(e) => problems.push(Problem::error(Kind::Manifest, &origin, "", format!("cannot read: {e}"))),
    }
}

/// Read every manifest under `paths` into a snapshot. Problems: unreadable files, malformed
/// objects (also recorded in the snapshot), and objects defined twice.
pub fn load(paths: &[PathBuf], default_ns: &str) -> (Snapshot, Vec<Problem>) {
    let (files, mut problems) = manifest_files(paths);
    let mut snap = Snapshot::default();
    let mut seen: BTreeMap<(Kind, ObjKey), String> = BTreeMap::new();
    for f in files {
        let origin = f.display().to_string();
        let text = match read_limited(&f) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem::error(Kind::Manifest, &ObjKey::new("", origin.clone()), "", e));
                continue;
            }
        };
        for parsed in parse_stream(&text, &origin, default_ns) {
            let (kind, key) = match &parsed {
                Parsed::Object(o) => (o.kind(), o.key()),
                Parsed::Unreadable(p) => (p.kind, p.object.clone()),
            };
            if kind != Kind::Manifest {
                if let Some(first) = seen.get(&(kind, key.clone())) {
                    problems.push(Problem::error(kind, &key, "", format!("defined twice: in {first} and in {origin}")));
                    continue;
                }
                seen.insert((kind, key), origin.clone());
            }
            match parsed {
                Parsed::Object(o) => snap.apply(o),
                Parsed::Unreadable(p) if p.kind == Kind::Manifest => problems.push(p),
                Parsed::Unreadable(p) => snap.apply_unreadable(p),
            }
        }
    }
    (snap, problems)
}

fn read_limited(f: &Path) -> Result<String, String> {
    let len = std::fs::metadata(f).map_err(|e| format!("cannot read: {e}"))?.len();
    if len > MAX_FILE_BYTES {
        return Err(format!("{len} bytes: larger than the {MAX_FILE_BYTES}-byte limit for one manifest file"));
    }
    let bytes = std::fs::read(f).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}
