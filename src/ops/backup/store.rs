//! Where backups live and how they are written, found and pruned.
//!
//! One file per backup, `SERVICE-UTC_TIMESTAMP[-label].EXT`, next to its manifest
//! `….EXT.json`. A backup is written as `….EXT.partial` (mode 0600, locked while it is being
//! written), fsynced, its manifest written atomically, then renamed into place: a file is a
//! backup only once both exist. A `.partial` whose writer is gone (a crash, `kill -9`) is
//! never listed and is removed by the next devtui that opens the store.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{FlockOperation, flock};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::format::{Format, HashWriter};
use super::kind::Kind;

const PARTIAL: &str = ".partial";
const MANIFEST: &str = ".json";
/// Shortest id prefix accepted (git's rule).
pub const MIN_PREFIX: usize = 4;
/// Length of the ids shown.
pub const SHORT_ID: usize = 8;
/// Backups kept per service when the profile says nothing.
pub const DEFAULT_KEEP: usize = 10;

/// How many backups are kept per service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The newest `keep` of a service are always kept.
    pub keep: usize,
    /// Also kept: those younger than this.
    pub keep_for: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep: DEFAULT_KEEP,
            keep_for: None,
        }
    }
}

impl Retention {
    /// From the profile's `keep` and `keep_days`: both set, a backup goes once it is past
    /// both; `keep_days` alone keeps that many days (and always the newest backup).
    pub fn new(keep: Option<usize>, keep_days: Option<u32>) -> Self {
        let keep_for = keep_days.map(|d| Duration::from_secs(u64::from(d) * 86_400));
        let keep = match (keep, keep_for) {
            (Some(n), _) => n.max(1),
            (None, Some(_)) => 1,
            (None, None) => DEFAULT_KEEP,
        };
        Self { keep, keep_for }
    }
}

/// A volume inside a volume backup: its entries are under `index/` in the tar.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VolumeEntry {
    pub index: usize,
    /// The volume's name on the engine.
    pub name: String,
    /// Where the service mounts it.
    pub target: String,
}

/// What a backup is, written next to it as JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub service: String,
    pub kind: Kind,
    pub format: Format,
    pub database: Option<String>,
    pub image: String,
    pub server_version: Option<String>,
    pub size: u64,
    pub sha256: String,
    pub devtui_version: String,
    pub project: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub label: Option<String>,
    /// The backup's file name (next to this manifest).
    pub file: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeEntry>,
}

/// A backup in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Hex sha256 of the file name: stable, unique, and any unique prefix finds it.
    pub id: String,
    pub path: PathBuf,
    pub manifest: Manifest,
    pub created: OffsetDateTime,
}

impl Entry {
    pub fn short_id(&self) -> &str {
        &self.id[..SHORT_ID.min(self.id.len())]
    }
}

/// The JSON shape of a backup in `devtui backups --json` and the other commands' output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EntryJson<'a> {
    pub id: &'a str,
    pub short_id: &'a str,
    pub service: &'a str,
    pub kind: Kind,
    pub format: Format,
    pub path: String,
    pub size: u64,
    pub sha256: &'a str,
    pub created: &'a str,
    pub label: Option<&'a str>,
    pub database: Option<&'a str>,
    pub image: &'a str,
    pub server_version: Option<&'a str>,
    pub project: &'a str,
    pub devtui_version: &'a str,
}

impl Entry {
    pub fn json(&self) -> EntryJson<'_> {
        let m = &self.manifest;
        EntryJson {
            id: &self.id,
            short_id: self.short_id(),
            service: &m.service,
            kind: m.kind,
            format: m.format,
            path: self.path.display().to_string(),
            size: m.size,
            sha256: &m.sha256,
            created: &m.created,
            label: m.label.as_deref(),
            database: m.database.as_deref(),
            image: &m.image,
            server_version: m.server_version.as_deref(),
            project: &m.project,
            devtui_version: &m.devtui_version,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot use the backups directory {}: {source}", dir.display())]
    Dir { dir: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("no backup has id {id:?} in {}; `devtui backups` lists them", dir.display())]
    NoSuchId { id: String, dir: PathBuf },
    #[error("id {id:?} is ambiguous: {}; type more of it", candidates.join(", "))]
    Ambiguous { id: String, candidates: Vec<String> },
    #[error("id {id:?} is too short: give at least {MIN_PREFIX} characters")]
    TooShort { id: String },
}

/// A project's backups directory.
#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
    pub retention: Retention,
}

impl Store {
    /// Opens the store and removes what crashed writers left. The directory is created
    /// (0700) by the first backup, not by looking.
    pub fn open(dir: PathBuf, retention: Retention) -> Result<Store, Error> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::Dir {
                source: io::Error::other("it is not a directory"),
                dir,
            });
        }
        let store = Store { dir, retention };
        store.sweep();
        Ok(store)
    }

    fn create_dir(&self) -> Result<(), Error> {
        if self.dir.is_dir() {
            return Ok(());
        }
        let err = |source| Error::Dir {
            dir: self.dir.clone(),
            source,
        };
        fs::create_dir_all(&self.dir).map_err(err)?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700)).map_err(err)
    }

    /// Removes `.partial` files no writer holds (their lock is free) and manifests whose
    /// file never arrived: what a crash between the two steps leaves.
    fn sweep(&self) {
        let Ok(read) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in read.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(PARTIAL) {
                let free = File::open(&path)
                    .is_ok_and(|f| flock(&f, FlockOperation::NonBlockingLockExclusive).is_ok());
                if free {
                    match fs::remove_file(&path) {
                        Ok(()) => {
                            tracing::info!(path = %path.display(), "removed an unfinished backup")
                        }
                        Err(e) => {
                            tracing::warn!(path = %path.display(), error = %e, "cannot remove an unfinished backup")
                        }
                    }
                }
            } else if let Some(file) = name.strip_suffix(MANIFEST)
                && is_backup_name(file)
                && !self.dir.join(file).exists()
                && !self.dir.join(format!("{file}{PARTIAL}")).exists()
            {
                let _ = fs::remove_file(&path);
            }
        }
    }

    /// Every backup (of `service`, when given), newest first. Unreadable manifests are
    /// skipped (and logged): one bad file does not hide the others.
    pub fn list(&self, service: Option<&str>) -> Result<Vec<Entry>, Error> {
        if !self.dir.exists() {
            return Ok(Vec::new());
        }
        let read = fs::read_dir(&self.dir).map_err(|source| Error::Dir {
            dir: self.dir.clone(),
            source,
        })?;
        let mut entries = Vec::new();
        for dirent in read.flatten() {
            let name = dirent.file_name().to_string_lossy().into_owned();
            let Some(file) = name.strip_suffix(MANIFEST) else {
                continue;
            };
            let path = self.dir.join(file);
            if !path.is_file() {
                continue;
            }
            let manifest: Manifest = match fs::read(dirent.path())
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(manifest = %dirent.path().display(), error = %e, "skipping an unreadable manifest");
                    continue;
                }
            };
            if service.is_some_and(|s| s != manifest.service) {
                continue;
            }
            let created = parse_time(&manifest.created).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            entries.push(Entry {
                id: id_of(file),
                path,
                manifest,
                created,
            });
        }
        entries.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        Ok(entries)
    }

    /// The backup an id names: a unique prefix of its id (at least 4 characters), or its
    /// file name.
    pub fn find(&self, id: &str) -> Result<Entry, Error> {
        let all = self.list(None)?;
        if let Some(e) = all.iter().find(|e| {
            e.path
                .file_name()
                .is_some_and(|n| n.to_string_lossy() == id)
        }) {
            return Ok(e.clone());
        }
        let wanted = id.to_ascii_lowercase();
        if wanted.len() < MIN_PREFIX {
            return Err(Error::TooShort { id: id.into() });
        }
        let matches: Vec<&Entry> = all.iter().filter(|e| e.id.starts_with(&wanted)).collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::NoSuchId {
                id: id.into(),
                dir: self.dir.clone(),
            }),
            many => Err(Error::Ambiguous {
                id: id.into(),
                candidates: many
                    .iter()
                    .map(|e| {
                        format!(
                            "{} ({})",
                            &e.id[..(wanted.len() + 2).min(e.id.len())],
                            e.manifest.file
                        )
                    })
                    .collect(),
            }),
        }
    }

    /// Starts writing a backup of `service`: a new `.partial` file, mode 0600, locked.
    pub fn begin(
        &self,
        service: &str,
        label: Option<&str>,
        format: Format,
        now: OffsetDateTime,
    ) -> Result<Partial, Error> {
        self.create_dir()?;
        let stamp = stamp(now);
        let label = label.map(slug).filter(|l| !l.is_empty());
        let base = match &label {
            Some(l) => format!("{service}-{stamp}-{l}"),
            None => format!("{service}-{stamp}"),
        };
        // Two backups of a service in the same second get -2, -3…
        let mut n = 1;
        loop {
            let name = if n == 1 {
                format!("{base}.{}", format.extension())
            } else {
                format!("{base}-{n}.{}", format.extension())
            };
            let path = self.dir.join(&name);
            let partial_path = self.dir.join(format!("{name}{PARTIAL}"));
            if path.exists() {
                n += 1;
                continue;
            }
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&partial_path)
            {
                Ok(file) => {
                    // Held until the file is renamed or removed: a sweeper passes it by.
                    flock(&file, FlockOperation::NonBlockingLockExclusive).map_err(|e| {
                        Error::Write {
                            path: partial_path.clone(),
                            source: e.into(),
                        }
                    })?;
                    return Ok(Partial {
                        writer: HashWriter::new(file),
                        guard: PartialGuard {
                            path: partial_path,
                            done: false,
                        },
                        path,
                        name,
                        created: now,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n += 1,
                Err(source) => {
                    return Err(Error::Write {
                        path: partial_path,
                        source,
                    });
                }
            }
        }
    }

    /// Removes a backup and its manifest.
    pub fn remove(&self, entry: &Entry) -> Result<(), Error> {
        let manifest = manifest_path(&entry.path);
        // The manifest first: a backup without one is no longer listed even if the second
        // removal fails.
        for path in [&manifest, &entry.path] {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Write {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Applies the retention to `service`'s backups; returns those removed. `keep` is never
    /// removed (the backup a restore is reading).
    pub fn prune(
        &self,
        service: &str,
        now: OffsetDateTime,
        keep: Option<&str>,
    ) -> Result<Vec<Entry>, Error> {
        let entries = self.list(Some(service))?;
        let mut removed = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            if i < self.retention.keep || keep == Some(entry.id.as_str()) {
                continue;
            }
            let age = (now - entry.created).unsigned_abs();
            if self.retention.keep_for.is_some_and(|d| age < d) {
                continue;
            }
            self.remove(&entry)?;
            removed.push(entry);
        }
        Ok(removed)
    }
}

/// A backup being written. Dropped before `finish`, its file is removed.
pub struct Partial {
    writer: HashWriter<File>,
    guard: PartialGuard,
    path: PathBuf,
    name: String,
    created: OffsetDateTime,
}

/// Removes the `.partial` file unless the backup was finished.
struct PartialGuard {
    path: PathBuf,
    done: bool,
}

impl Drop for PartialGuard {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Partial {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn created(&self) -> OffsetDateTime {
        self.created
    }

    pub fn partial_path(&self) -> &Path {
        &self.guard.path
    }

    /// The file, hashing and counting what is written.
    pub fn writer(&mut self) -> &mut HashWriter<File> {
        &mut self.writer
    }

    /// Makes it a backup: fsync, the manifest (atomically, 0600), the rename, the directory's
    /// fsync. `fill` completes the manifest from the file's size and hash.
    pub fn finish(self, fill: impl FnOnce(u64, String) -> Manifest) -> Result<Entry, Error> {
        let Partial {
            writer,
            mut guard,
            path,
            name,
            created,
        } = self;
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Write { path, source }
        };
        let (sha256, size, mut file) = writer.finish();
        file.flush().map_err(write_err(&guard.path))?;
        file.sync_all().map_err(write_err(&guard.path))?;
        let mut manifest = fill(size, sha256);
        manifest.file = name.clone();
        let manifest_file = manifest_path(&path);
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Write {
            path: manifest_file.clone(),
            source: io::Error::other(e),
        })?;
        crate::paths::write_atomic(&manifest_file, 0o600, |f| f.write_all(&json))
            .map_err(write_err(&manifest_file))?;
        fs::rename(&guard.path, &path).map_err(write_err(&path))?;
        guard.done = true;
        if let Some(dir) = path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(write_err(dir))?;
        }
        Ok(Entry {
            id: id_of(&name),
            path,
            manifest,
            created,
        })
    }
}

fn manifest_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(MANIFEST);
    PathBuf::from(s)
}

/// The id of a backup file: the hex sha256 of its name.
pub fn id_of(file_name: &str) -> String {
    hex::encode(Sha256::digest(file_name.as_bytes()))
}

/// Whether a name looks like one of ours (`SERVICE-YYYYMMDDTHHMMSSZ…`).
fn is_backup_name(name: &str) -> bool {
    name.split('-').any(|part| {
        part.len() == 16
            && part.ends_with('Z')
            && part.as_bytes().get(8) == Some(&b'T')
            && part[..8].bytes().all(|b| b.is_ascii_digit())
    })
}

/// `20261130T093321Z`.
pub fn stamp(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default()
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// A label as it may appear in a file name: letters, digits, `.`, `_`, `-`; at most 40.
fn slug(label: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    s.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn manifest(service: &str, size: u64, sha: String, created: OffsetDateTime) -> Manifest {
        Manifest {
            service: service.into(),
            kind: Kind::Postgres,
            format: Format::PgCustom,
            database: Some("app".into()),
            image: "postgres:16".into(),
            server_version: Some("16.1".into()),
            size,
            sha256: sha,
            devtui_version: "0".into(),
            project: "p".into(),
            created: rfc3339(created),
            label: None,
            file: String::new(),
            volumes: Vec::new(),
        }
    }

    fn write(store: &Store, service: &str, t: OffsetDateTime, label: Option<&str>) -> Entry {
        let mut p = store
            .begin(service, label, Format::PgCustom, t)
            .expect("begin");
        p.writer().write_all(b"PGDMP data").expect("write");
        p.finish(|size, sha| manifest(service, size, sha, t))
            .expect("finish")
    }

    #[test]
    fn written_backups_are_0600_listed_found_and_pruned() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path().join("b"), Retention::new(Some(2), None)).expect("open");
        let t0 = datetime!(2026-01-02 03:04:05 UTC);
        let a = write(&store, "db", t0, Some("before migration!"));
        assert_eq!(
            a.path.file_name().expect("name").to_string_lossy(),
            "db-20260102T030405Z-before-migration.dump"
        );
        let mode = fs::metadata(&a.path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mode = fs::metadata(manifest_path(&a.path))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(a.manifest.size, 10);
        let b = write(&store, "db", t0, None);
        let c = write(&store, "db", t0 + Duration::from_secs(60), None);
        let same_second = write(&store, "db", t0 + Duration::from_secs(60), None);
        assert!(same_second.manifest.file.ends_with("-2.dump"));
        let listed = store.list(Some("db")).expect("list");
        assert_eq!(listed.len(), 4);
        assert_eq!(store.find(&c.id[..6]).expect("found").id, c.id);
        assert_eq!(store.find(&a.manifest.file).expect("by name").id, a.id);
        assert!(matches!(store.find("ab"), Err(Error::TooShort { .. })));
        let removed = store
            .prune("db", t0 + Duration::from_secs(120), Some(&b.id))
            .expect("prune");
        let gone: Vec<&str> = removed.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(gone, [a.id.as_str()]);
        assert_eq!(store.list(None).expect("list").len(), 3);
    }

    #[test]
    fn unfinished_backups_are_never_listed_and_swept_once_their_writer_is_gone() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path().to_path_buf(), Retention::default()).expect("open");
        let t = datetime!(2026-01-02 03:04:05 UTC);
        let mut live = store.begin("db", None, Format::PgCustom, t).expect("begin");
        live.writer().write_all(b"half").expect("write");
        assert!(store.list(None).expect("list").is_empty());
        // Another devtui opening the store leaves a partial that is still being written…
        Store::open(dir.path().to_path_buf(), Retention::default()).expect("open");
        assert!(live.partial_path().exists());
        // …but not one whose writer died (the lock went with it).
        let crashed = dir.path().join("db-20260102T030405Z-2.dump.partial");
        fs::write(&crashed, b"half").expect("write");
        Store::open(dir.path().to_path_buf(), Retention::default()).expect("open");
        assert!(!crashed.exists());
        assert!(live.partial_path().exists());
        let path = live.partial_path().to_path_buf();
        drop(live);
        assert!(!path.exists());
    }

    #[test]
    fn retention_rules() {
        assert_eq!(Retention::new(None, None).keep, 10);
        assert_eq!(Retention::new(None, Some(7)).keep, 1);
        assert_eq!(Retention::new(Some(0), None).keep, 1);
    }
}
