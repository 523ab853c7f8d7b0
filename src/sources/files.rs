//! Manifest files and directories to a snapshot (file mode, `render`, `check`). The only I/O here
//! is reading files; parsing is `manifest`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
        // Found while walking a directory and gone before it could be looked at: not an error.
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => problems.push(Problem::error(Kind::Manifest, &origin, "", format!("cannot read: {e}"))),
    }
}

/// Read every manifest under `paths` into a snapshot. Problems: unreadable files, malformed
/// objects (also recorded in the snapshot), and objects defined twice.
pub fn load(paths: &[PathBuf], default_ns: &str) -> (Snapshot, Vec<Problem>) {
    let (snap, problems, _) = FileCache::default().load(paths, default_ns);
    (Arc::unwrap_or_clone(snap), problems)
}

/// What tells a file's versions apart: modification time and size.
type Stamp = (Option<SystemTime>, u64);

fn stamp(f: &Path) -> Stamp {
    let meta = std::fs::metadata(f).ok();
    (meta.as_ref().and_then(|m| m.modified().ok()), meta.as_ref().map(|m| m.len()).unwrap_or(0))
}

/// What one file held when last read.
#[derive(Clone)]
struct Entry {
    stamp: Stamp,
    parsed: Result<Vec<Parsed>, Problem>,
    /// What is wrong with the file itself, found once when it is read (a load looks at every
    /// file, and must not walk 100,000 objects for that).
    problems: Vec<Problem>,
}

impl Entry {
    fn new(stamp: Stamp, parsed: Result<Vec<Parsed>, Problem>, f: &Path) -> Entry {
        let mut e = Entry { stamp, parsed, problems: Vec::new() };
        let mut problems = Vec::new();
        match &e.parsed {
            Err(p) => problems.push(p.clone()),
            Ok(list) => problems.extend(list.iter().filter_map(|p| match p {
                Parsed::Unreadable(pr) if pr.kind == Kind::Manifest => Some(pr.clone()),
                Parsed::Note(pr) => Some(pr.clone()),
                _ => None,
            })),
        }
        // The same object twice in one file: MetalLB refuses it (the apiserver would keep one
        // of them, silently). Across files, `owners` says it.
        let mut seen = BTreeSet::new();
        for p in e.objects() {
            let (kind, key) = parsed_key(p);
            if !seen.insert((kind, key.clone())) {
                problems.push(Problem::error(kind, &key, "", format!("defined twice in {}", f.display())));
            }
        }
        e.problems = problems;
        e
    }

    /// The objects (read or unreadable) the file defines; not problems about the file itself, nor
    /// notes about its objects.
    fn objects(&self) -> impl Iterator<Item = &Parsed> {
        self.parsed.iter().flatten().filter(|p| match p {
            Parsed::Object(_) => true,
            Parsed::Unreadable(pr) => pr.kind != Kind::Manifest,
            Parsed::Note(_) => false,
        })
    }
}

fn parsed_key(p: &Parsed) -> (Kind, ObjKey) {
    match p {
        Parsed::Object(o) => (o.kind(), o.key()),
        Parsed::Unreadable(p) | Parsed::Note(p) => (p.kind, p.object.clone()),
    }
}

/// File mode's view of a directory, kept up to date incrementally: a file is read again only
/// when its modification time or size changes, and only its objects are replaced in the
/// snapshot (10,000 Services must not be parsed, nor copied, again for one changed file).
#[derive(Default)]
pub struct FileCache {
    entries: BTreeMap<PathBuf, Entry>,
    /// Which files define each object; more than one is an error, and the first file wins.
    owners: BTreeMap<(Kind, ObjKey), BTreeSet<PathBuf>>,
    snap: Arc<Snapshot>,
}

impl FileCache {
    /// The current snapshot and problems; the flag says whether any file was added, removed or
    /// changed since the previous call.
    pub fn load(&mut self, paths: &[PathBuf], default_ns: &str) -> (Arc<Snapshot>, Vec<Problem>, bool) {
        let (files, mut problems) = manifest_files(paths);
        let mut changed = false;
        let listed: BTreeSet<&PathBuf> = files.iter().collect();
        let gone: Vec<PathBuf> = self.entries.keys().filter(|p| !listed.contains(p)).cloned().collect();
        for p in gone {
            self.retract(&p);
            self.entries.remove(&p);
            changed = true;
        }
        for f in &files {
            let stamp = stamp(f);
            if self.entries.get(f).is_some_and(|e| e.stamp == stamp) {
                continue;
            }
            changed = true;
            if self.entries.contains_key(f) {
                self.retract(f);
                self.entries.remove(f);
            }
            let origin = f.display().to_string();
            let parsed = match read_limited(f) {
                Ok(text) => Ok(parse_stream(&text, &origin, default_ns)),
                // Removed between listing and reading: simply gone.
                Err(_) if !f.exists() => continue,
                Err(e) => Err(Problem::error(Kind::Manifest, &ObjKey::new("", origin), "", e)),
            };
            self.entries.insert(f.clone(), Entry::new(stamp, parsed, f));
            self.assert(f);
        }
        for e in self.entries.values() {
            problems.extend(e.problems.iter().cloned());
        }
        for ((kind, key), files) in &self.owners {
            if files.len() > 1 {
                let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                problems.push(Problem::error(
                    *kind,
                    key,
                    "",
                    format!("defined twice: in {} and in {}", names[0], names[1]),
                ));
            }
        }
        (self.snap.clone(), problems, changed)
    }

    /// Whether a fresh listing of `paths` still matches what was loaded (same files, same stamps).
    /// A listing taken while files are renamed may miss one; a second look after the load tells.
    pub fn is_current(&self, paths: &[PathBuf]) -> bool {
        let (files, _) = manifest_files(paths);
        files.len() == self.entries.len()
            && files.iter().all(|f| {
                let stamp = stamp(f);
                self.entries.get(f).is_some_and(|e| e.stamp == stamp)
            })
    }

    /// Put the object `p` from file `f` into the snapshot if `f` is the object's first file.
    fn assert(&mut self, f: &PathBuf) {
        let Some(entry) = self.entries.get(f) else { return };
        for p in entry.objects() {
            let k = parsed_key(p);
            let owners = self.owners.entry(k).or_default();
            owners.insert(f.clone());
            if owners.iter().next() == Some(f) {
                apply(Arc::make_mut(&mut self.snap), p);
            }
        }
    }

    /// Take file `f`'s objects out of the snapshot (another file's copy takes over, if any).
    fn retract(&mut self, f: &PathBuf) {
        let Some(entry) = self.entries.get(f) else { return };
        for p in entry.objects() {
            let k = parsed_key(p);
            let Some(owners) = self.owners.get_mut(&k) else { continue };
            let was_first = owners.iter().next() == Some(f);
            owners.remove(f);
            let snap = Arc::make_mut(&mut self.snap);
            match owners.iter().next() {
                None => {
                    self.owners.remove(&k);
                    snap.delete(k.0, &k.1);
                }
                Some(next) if was_first => {
                    if let Some(other) = self.entries.get(next).and_then(|e| e.objects().find(|q| parsed_key(q) == k)) {
                        apply(snap, other);
                    }
                }
                Some(_) => {}
            }
        }
    }
}

fn apply(snap: &mut Snapshot, p: &Parsed) {
    match p {
        Parsed::Object(o) => snap.apply(o.clone()),
        Parsed::Unreadable(pr) => snap.apply_unreadable(pr.clone()),
        Parsed::Note(_) => {}
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
        // The same object in two files: an error while both exist; the other copy takes over.
        std::fs::write(dir.join("c.yaml"), node("a2")).expect("write");
        let (s, p, _) = c.load(&paths, "ns");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.starts_with("defined twice"), "{p:?}");
        assert!(s.nodes.contains_key("a2"));
        std::fs::remove_file(dir.join("a.yaml")).expect("rm");
        let (s, p, _) = c.load(&paths, "ns");
        assert!(p.is_empty() && s.nodes.contains_key("a2") && s.nodes.len() == 1, "{p:?} {:?}", s.nodes.keys());
        // The incremental snapshot equals a fresh read.
        let (fresh, _) = load(&paths, "ns");
        assert_eq!(*s, fresh);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
