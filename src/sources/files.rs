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

/// What one file held when last read: the keys of its objects, not the objects (the snapshot
/// holds those; a second copy of 10,000 Services would double the agent's memory).
struct Entry {
    stamp: Stamp,
    /// The objects (read or unreadable) the file defines, in order.
    keys: Vec<(Kind, ObjKey)>,
    /// What is wrong with the file itself, found once when it is read (a load looks at every
    /// file, and must not walk 100,000 objects for that).
    problems: Vec<Problem>,
}

impl Entry {
    /// The entry for file `f`, and the objects to put into the snapshot.
    fn new(stamp: Stamp, parsed: Result<Vec<Parsed>, Problem>, f: &Path) -> (Entry, Vec<Parsed>) {
        let mut problems = Vec::new();
        let parsed = match parsed {
            Err(p) => {
                problems.push(p);
                Vec::new()
            }
            Ok(list) => list,
        };
        let mut objects = Vec::with_capacity(parsed.len());
        for p in parsed {
            match p {
                Parsed::Unreadable(pr) if pr.kind == Kind::Manifest => problems.push(pr),
                Parsed::Note(pr) => problems.push(pr),
                p => objects.push(p),
            }
        }
        // The same object twice in one file: MetalLB refuses it (the apiserver would keep one
        // of them, silently). Across files, `owners` says it.
        let keys: Vec<(Kind, ObjKey)> = objects.iter().map(parsed_key).collect();
        let mut seen = BTreeSet::new();
        for (kind, key) in &keys {
            if !seen.insert((*kind, key)) {
                problems.push(Problem::error(*kind, key, "", format!("defined twice in {}", f.display())));
            }
        }
        (Entry { stamp, keys, problems }, objects)
    }
}

fn parsed_key(p: &Parsed) -> (Kind, ObjKey) {
    match p {
        Parsed::Object(o) => (o.kind(), o.key()),
        Parsed::Unreadable(p) | Parsed::Note(p) => (p.kind, p.object.clone()),
    }
}

/// Read and parse `files` on as many threads as there are cores (each takes the next file), and
/// hand each result to `apply` in the order given (`None`: the file is gone). A result waits only
/// for the files before it, so a few files' objects are held at a time, not all of them (at
/// 100,000 Services holding every parsed object until the last file was read doubled the peak).
fn read_all(
    files: &[(&PathBuf, Stamp)],
    default_ns: &str,
    mut apply: impl FnMut(usize, Option<Result<Vec<Parsed>, Problem>>),
) {
    let one = |f: &PathBuf| {
        let origin = f.display().to_string();
        match read_limited(f) {
            Ok(text) => Some(Ok(parse_stream(&text, &origin, default_ns))),
            Err(_) if !f.exists() => None,
            Err(e) => Some(Err(Problem::error(Kind::Manifest, &ObjKey::new("", origin), "", e))),
        }
    };
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(files.len());
    if threads <= 1 {
        for (i, (f, _)) in files.iter().enumerate() {
            apply(i, one(f));
        }
        return;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (tx, next, one) = (tx.clone(), &next, &one);
            s.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((f, _)) = files.get(i) else { return };
                if tx.send((i, one(f))).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        // Results in file order: the ones that come early wait here.
        let mut early = BTreeMap::new();
        let mut due = 0;
        for (i, r) in rx {
            early.insert(i, r);
            while let Some(r) = early.remove(&due) {
                apply(due, r);
                due += 1;
            }
        }
    });
}

/// File `f`'s objects, parsed again (or nothing if it cannot be read now).
fn read_objects(f: &Path, default_ns: &str) -> Vec<Parsed> {
    let origin = f.display().to_string();
    let parsed = read_limited(f)
        .map(|text| parse_stream(&text, &origin, default_ns))
        .map_err(|e| Problem::error(Kind::Manifest, &ObjKey::new("", origin), "", e));
    Entry::new(stamp(f), parsed, f).1
}

/// File mode's view of a directory, kept up to date incrementally: a file is read again only
/// when its modification time or size changes, and only its objects are replaced in the
/// snapshot (10,000 Services must not be parsed, nor copied, again for one changed file).
#[derive(Default)]
pub struct FileCache {
    entries: BTreeMap<PathBuf, Entry>,
    /// The file each object comes from: the first (by path) of the files that define it. (One
    /// shared path per object, not a list per object: docs/benchmarks.md.)
    owners: BTreeMap<(Kind, ObjKey), Arc<Path>>,
    /// The objects more than one file defines (an error), with all those files, sorted.
    twice: BTreeMap<(Kind, ObjKey), Vec<Arc<Path>>>,
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
            self.retract(&p, default_ns);
            self.entries.remove(&p);
            changed = true;
        }
        let stale: Vec<(&PathBuf, Stamp)> = files
            .iter()
            .map(|f| (f, stamp(f)))
            .filter(|(f, stamp)| self.entries.get(*f).is_none_or(|e| e.stamp != *stamp))
            .collect();
        // Reading and parsing (seconds at 100,000 Services) on every core; applying in file order.
        changed |= !stale.is_empty();
        read_all(&stale, default_ns, |i, parsed| {
            let (f, stamp) = stale[i];
            if self.entries.contains_key(f) {
                self.retract(f, default_ns);
                self.entries.remove(f);
            }
            // Removed between listing and reading: simply gone.
            let Some(parsed) = parsed else { return };
            let (entry, objects) = Entry::new(stamp, parsed, f);
            self.entries.insert(f.clone(), entry);
            self.assert(f, objects);
        });
        for e in self.entries.values() {
            problems.extend(e.problems.iter().cloned());
        }
        for ((kind, key), files) in &self.twice {
            if let [a, b, ..] = files.as_slice() {
                problems.push(Problem::error(
                    *kind,
                    key,
                    "",
                    format!("defined twice: in {} and in {}", a.display(), b.display()),
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

    /// Put file `f`'s objects into the snapshot, each one whose first file `f` is.
    fn assert(&mut self, f: &Path, objects: Vec<Parsed>) {
        let shared: Arc<Path> = Arc::from(f);
        for p in objects {
            let key = parsed_key(&p);
            let first = match self.owners.get_mut(&key) {
                None => {
                    self.owners.insert(key, shared.clone());
                    true
                }
                // Defined again in the same file (reported by `Entry::new`): the last one counts.
                Some(owner) if owner.as_ref() == f => true,
                Some(owner) => {
                    let files = self.twice.entry(key).or_insert_with(|| vec![owner.clone()]);
                    if let Err(i) = files.binary_search_by(|o| o.as_ref().cmp(f)) {
                        files.insert(i, shared.clone());
                    }
                    let first = files[0].as_ref() == f;
                    if first {
                        *owner = shared.clone();
                    }
                    first
                }
            };
            if first {
                apply(Arc::make_mut(&mut self.snap), p);
            }
        }
    }

    /// Take file `f`'s objects out of the snapshot (another file's copy takes over, if any: that
    /// file is read again, which happens only while an object is defined twice, an error).
    fn retract(&mut self, f: &PathBuf, default_ns: &str) {
        let Some(entry) = self.entries.get(f) else { return };
        let mut reread: BTreeMap<PathBuf, Vec<Parsed>> = BTreeMap::new();
        for k in &entry.keys {
            let Some(owner) = self.owners.get(k) else { continue };
            let was_first = owner.as_ref() == f.as_path();
            // The file that defines it after `f` is gone, if any.
            let next = match self.twice.get_mut(k) {
                Some(files) => {
                    files.retain(|o| o.as_ref() != f.as_path());
                    let next = files.first().cloned();
                    if files.len() < 2 {
                        self.twice.remove(k);
                    }
                    next
                }
                None if was_first => None,
                None => continue,
            };
            let snap = Arc::make_mut(&mut self.snap);
            match next {
                None => {
                    self.owners.remove(k);
                    snap.delete(k.0, &k.1);
                }
                Some(next) if was_first => {
                    let objects = reread.entry(next.to_path_buf()).or_insert_with(|| read_objects(&next, default_ns));
                    // The last definition in that file, as when it was read.
                    if let Some(other) = objects.iter().rev().find(|q| parsed_key(q) == *k) {
                        apply(snap, other.clone());
                    }
                    self.owners.insert(k.clone(), next);
                }
                Some(_) => {}
            }
        }
    }
}

fn apply(snap: &mut Snapshot, p: Parsed) {
    match p {
        Parsed::Object(o) => snap.apply(o),
        Parsed::Unreadable(pr) => snap.apply_unreadable(pr),
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

    /// One object in three files, the files coming and going in every order: the cache's
    /// snapshot and problems are always those of a fresh read (the first file by path wins).
    #[test]
    fn an_object_in_several_files_follows_the_first_file() {
        let dir = std::env::temp_dir().join(format!("fs-cache-twice-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let node =
            |zone: &str| format!("apiVersion: v1\nkind: Node\nmetadata: {{name: n, labels: {{zone: {zone}}}}}\n");
        let paths = [dir.clone()];
        let mut c = FileCache::default();
        let names = ["a.yaml", "b.yaml", "c.yaml"];
        // Each step flips one file: present with its own zone label, or absent.
        let steps = [1, 2, 0, 1, 0, 2, 1, 0, 2, 0, 1, 2];
        let mut present = [false; 3];
        for (n, &i) in steps.iter().enumerate() {
            present[i] = !present[i];
            let f = dir.join(names[i]);
            if present[i] {
                std::fs::write(&f, node(&names[i][..1])).expect("write");
            } else {
                std::fs::remove_file(&f).expect("rm");
            }
            let (s, p, _) = c.load(&paths, "ns");
            let (fresh, fresh_p) = load(&paths, "ns");
            assert_eq!(*s, fresh, "step {n}: {present:?}");
            assert_eq!(p, fresh_p, "step {n}: {present:?}");
            let first = (0..3).find(|&j| present[j]);
            let zone = s.nodes.get("n").and_then(|n| n.labels.get("zone").cloned());
            assert_eq!(zone, first.map(|j| names[j][..1].to_string()), "step {n}: {present:?}");
            assert_eq!(p.len(), usize::from(present.iter().filter(|x| **x).count() > 1), "step {n}: {p:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
