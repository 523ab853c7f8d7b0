//! Manifest files and directories to a snapshot (file mode, `render`, `check`). The only I/O here
//! is reading files; parsing is `manifest`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
    let (snap, problems, _) = FileCache::default().load(paths, default_ns);
    (snap, problems)
}

/// What one file held when last read.
#[derive(Clone)]
struct Entry {
    stamp: (Option<SystemTime>, u64),
    parsed: Result<Vec<Parsed>, Problem>,
}

/// Parsed files by path, re-read only when their modification time or size changes: file mode
/// re-reads a directory on every change, and 10,000 Services must not be parsed again for one.
#[derive(Default)]
pub struct FileCache {
    entries: BTreeMap<PathBuf, Entry>,
}

impl FileCache {
    /// Load as `load` does; the flag says whether any file was added, removed or changed since
    /// the previous call.
    pub fn load(&mut self, paths: &[PathBuf], default_ns: &str) -> (Snapshot, Vec<Problem>, bool) {
        let (files, mut problems) = manifest_files(paths);
        let mut changed = files.len() != self.entries.len();
        let mut next = BTreeMap::new();
        for f in files {
            let meta = std::fs::metadata(&f).ok();
            let stamp = (meta.as_ref().and_then(|m| m.modified().ok()), meta.as_ref().map(|m| m.len()).unwrap_or(0));
            let entry = match self.entries.remove(&f) {
                Some(e) if e.stamp == stamp => e,
                _ => {
                    changed = true;
                    let origin = f.display().to_string();
                    let parsed = match read_limited(&f) {
                        Ok(text) => Ok(parse_stream(&text, &origin, default_ns)),
                        // Removed between listing and reading: simply gone.
                        Err(_) if !f.exists() => continue,
                        Err(e) => Err(Problem::error(Kind::Manifest, &ObjKey::new("", origin), "", e)),
                    };
                    Entry { stamp, parsed }
                }
            };
            next.insert(f, entry);
        }
        self.entries = next;

        let mut snap = Snapshot::default();
        let mut seen: BTreeMap<(Kind, ObjKey), String> = BTreeMap::new();
        for (f, entry) in &self.entries {
            let origin = f.display().to_string();
            let parsed = match &entry.parsed {
                Ok(p) => p,
                Err(p) => {
                    problems.push(p.clone());
                    continue;
                }
            };
            for parsed in parsed {
                let (kind, key) = match parsed {
                    Parsed::Object(o) => (o.kind(), o.key()),
                    Parsed::Unreadable(p) => (p.kind, p.object.clone()),
                };
                if kind != Kind::Manifest {
                    if let Some(first) = seen.get(&(kind, key.clone())) {
                        problems.push(Problem::error(
                            kind,
                            &key,
                            "",
                            format!("defined twice: in {first} and in {origin}"),
                        ));
                        continue;
                    }
                    seen.insert((kind, key), origin.clone());
                }
                match parsed {
                    Parsed::Object(o) => snap.apply(o.clone()),
                    Parsed::Unreadable(p) if p.kind == Kind::Manifest => problems.push(p.clone()),
                    Parsed::Unreadable(p) => snap.apply_unreadable(p.clone()),
                }
            }
        }
        (snap, problems, changed)
    }
}

fn read_limited(f: &Path) -> Result<String, String> {
    let len = std::fs::metadata(f).map_err(|e| format!("cannot read: {e}"))?.len();
    if len > MAX_FILE_BYTES {
        return Err(format!("{len} bytes: larger than the {MAX_FILE_BYTES}-byte limit for one manifest file"));
    }
    let bytes = std::fs::read(f).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_notices_added_changed_and_removed_files() {
        let dir = std::env::temp_dir().join(format!("fs-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let node = |name: &str| format!("apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\n");
        std::fs::write(dir.join("a.yaml"), node("a")).expect("write");
        std::fs::write(dir.join("b.yaml"), node("b")).expect("write");
        let mut c = FileCache::default();
        let paths = [dir.clone()];
        let (s, p, changed) = c.load(&paths, "ns");
        assert!(changed && p.is_empty() && s.nodes.len() == 2);
        let (_, _, changed) = c.load(&paths, "ns");
        assert!(!changed, "nothing changed");
        std::fs::remove_file(dir.join("b.yaml")).expect("rm");
        let (s, _, changed) = c.load(&paths, "ns");
        assert!(changed && s.nodes.len() == 1, "removal noticed");
        std::fs::write(dir.join("a.yaml"), node("a2")).expect("write");
        let (s, _, changed) = c.load(&paths, "ns");
        assert!(changed && s.nodes.contains_key("a2"), "content change noticed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
