//! Which files changed: notify watchers on a service's trees, the files that count (default
//! excludes, `.dockerignore`, a rule's `ignore` and `include`), debounced into batches.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Quiet time that ends a batch: an editor's save (write, rename, chmod) or a `git checkout`
/// arrives as a burst of events, and one reload serves them all.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// A batch ends after this long even if events keep coming (a tool writing non-stop).
const MAX_BATCH: Duration = Duration::from_secs(2);

/// Directories never watched, whatever the ignore files say: version control, build output
/// and dependencies change in bulk and never need a reload.
const DEFAULT_EXCLUDES: &[&str] = &[".git/", "target/", "node_modules/"];

/// Which files under `root` count.
#[derive(Debug, Clone)]
pub struct Filter {
    /// The watched file or directory.
    root: PathBuf,
    /// The default excludes and the `.dockerignore` found, rooted at their directories.
    excludes: Vec<Gitignore>,
    /// A rule's `ignore` patterns, relative to `root`.
    ignore: Option<Gitignore>,
    /// A rule's `include` patterns: when set, only files they match count.
    include: Option<Gitignore>,
}

impl Filter {
    /// Files under `root`, less the default excludes, the `.dockerignore` of `root` (when it
    /// is a directory) and of each of `contexts` (a build context's applies to what is synced
    /// into its image's container), and `ignore`; only `include`'s when it has patterns.
    pub fn new(root: &Path, contexts: &[PathBuf], ignore: &[String], include: &[String]) -> Filter {
        let base = if root.is_dir() {
            root
        } else {
            root.parent().unwrap_or(root)
        };
        let mut excludes = vec![patterns(base, DEFAULT_EXCLUDES.iter().copied())];
        let mut dirs: Vec<&Path> = contexts.iter().map(PathBuf::as_path).collect();
        if root.is_dir() {
            dirs.push(root);
        }
        dirs.sort();
        dirs.dedup();
        for dir in dirs {
            if let Ok(text) = std::fs::read_to_string(dir.join(".dockerignore")) {
                let lines: Vec<String> = text.lines().filter_map(dockerignore_line).collect();
                excludes.push(patterns(dir, lines.iter().map(String::as_str)));
            }
        }
        // Compose reads a rule's patterns as .dockerignore lines, relative to its path.
        let rel = |list: &[String]| {
            let lines: Vec<String> = list.iter().filter_map(|l| dockerignore_line(l)).collect();
            (!lines.is_empty()).then(|| patterns(base, lines.iter().map(String::as_str)))
        };
        Filter {
            root: root.to_path_buf(),
            excludes,
            ignore: rel(ignore),
            include: rel(include),
        }
    }

    /// The watched file or directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether a change to `path` counts.
    pub fn wants(&self, path: &Path) -> bool {
        if path == self.root {
            return true;
        }
        if !path.starts_with(&self.root) || self.root.is_file() {
            return false;
        }
        let is_dir = path.is_dir();
        let hit = |g: &Gitignore| {
            path.starts_with(g.path()) && g.matched_path_or_any_parents(path, is_dir).is_ignore()
        };
        if self.excludes.iter().any(hit) || self.ignore.as_ref().is_some_and(hit) {
            return false;
        }
        // A directory event is not a file to sync; the files in it come as their own events.
        self.include.as_ref().is_none_or(hit) && !is_dir
    }
}

/// Gitignore-style patterns rooted at `dir`; a bad pattern is skipped (compose warns too).
fn patterns<'a>(dir: &Path, lines: impl Iterator<Item = &'a str>) -> Gitignore {
    let mut builder = GitignoreBuilder::new(dir);
    for line in lines {
        let _ = builder.add_line(None, line);
    }
    builder.build().unwrap_or_else(|_| Gitignore::empty())
}

/// A `.dockerignore` line as a gitignore line: Docker matches every pattern from the
/// context's root, so it is anchored there (`*.log` is the root's only, as for `docker
/// build`); `!` keeps its meaning. `None` for blank lines and comments.
fn dockerignore_line(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (not, pattern) = match line.strip_prefix('!') {
        Some(p) => ("!", p.trim()),
        None => ("", line),
    };
    let pattern = pattern.trim_start_matches("./").trim_start_matches('/');
    Some(format!("{not}/{pattern}"))
}

/// Watches `filters`' roots; changed paths arrive on the receiver (unfiltered: `batch`
/// filters). The watcher stops when dropped.
pub fn watch(filters: &[Filter]) -> notify::Result<(notify::RecommendedWatcher, Changes)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    let mut roots: Vec<(PathBuf, RecursiveMode)> = filters
        .iter()
        .map(|f| {
            // A single file is watched through its directory: an editor that saves by
            // renaming a new file over it would end a watch on the file itself.
            if f.root.is_dir() {
                (f.root.clone(), RecursiveMode::Recursive)
            } else {
                let dir = f.root.parent().unwrap_or(&f.root).to_path_buf();
                (dir, RecursiveMode::NonRecursive)
            }
        })
        .collect();
    roots.sort();
    roots.dedup();
    for (root, mode) in roots {
        watcher.watch(&root, mode)?;
    }
    Ok((watcher, Changes { rx }))
}

/// Changed paths as notify reports them.
pub struct Changes {
    rx: mpsc::UnboundedReceiver<PathBuf>,
}

impl Changes {
    /// The next batch of paths some filter wants: waits for a first one, then until
    /// `DEBOUNCE` passes without another (at most `MAX_BATCH`). `None` when watching ended.
    pub async fn batch(&mut self, filters: &[Filter]) -> Option<BTreeSet<PathBuf>> {
        let wanted = |p: &Path| filters.iter().any(|f| f.wants(p));
        let mut batch = BTreeSet::new();
        while batch.is_empty() {
            let path = self.rx.recv().await?;
            if wanted(&path) {
                batch.insert(path);
            }
        }
        let end = tokio::time::Instant::now() + MAX_BATCH;
        loop {
            let quiet = tokio::time::Instant::now() + DEBOUNCE;
            match tokio::time::timeout_at(quiet.min(end), self.rx.recv()).await {
                Ok(Some(path)) => {
                    if wanted(&path) {
                        batch.insert(path);
                    }
                }
                Ok(None) | Err(_) => return Some(batch),
            }
        }
    }

    /// Drops what arrived meanwhile (a service's own writes while it restarted), returning
    /// how many of those paths counted.
    pub fn discard(&mut self, filters: &[Filter]) -> usize {
        let mut n = 0;
        while let Ok(path) = self.rx.try_recv() {
            if filters.iter().any(|f| f.wants(&path)) {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_follow_excludes_dockerignore_ignore_and_include() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for d in ["src/cache", ".git", "node_modules/x", "target"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::fs::write(root.join(".dockerignore"), "*.log\n# comment\nsecret/\n").expect("w");
        let f = Filter::new(root, &[], &["src/*.tmp".into(), "src/cache/".into()], &[]);
        assert!(f.wants(&root.join("src/app.py")));
        assert!(!f.wants(&root.join(".git/index")));
        assert!(!f.wants(&root.join("node_modules/x/y.js")));
        assert!(!f.wants(&root.join("target/debug/a")));
        assert!(!f.wants(&root.join("app.log")));
        assert!(
            f.wants(&root.join("src/deep.log")),
            "a .dockerignore pattern is anchored at the context's root"
        );
        assert!(!f.wants(&root.join("secret/key")));
        assert!(!f.wants(&root.join("src/a.tmp")));
        assert!(!f.wants(&root.join("src/cache/blob")));
        assert!(!f.wants(Path::new("/elsewhere/app.py")));
        assert!(
            !f.wants(&root.join("src")),
            "a directory is not a file to sync"
        );
        let only = Filter::new(
            &root.join("src"),
            &[],
            &[],
            &["*.py".into(), "**/*.rs".into()],
        );
        assert!(only.wants(&root.join("src/cache/lib.rs")));
        assert!(only.wants(&root.join("src/app.py")));
        assert!(!only.wants(&root.join("src/app.txt")));
        std::fs::write(root.join("Dockerfile"), "FROM x\n").expect("w");
        let file = Filter::new(&root.join("Dockerfile"), &[], &[], &[]);
        assert!(file.wants(&root.join("Dockerfile")));
        assert!(!file.wants(&root.join("src/app.py")));
    }
}
