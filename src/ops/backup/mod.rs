//! Backups, restore and reset of a project's data: PostgreSQL, MariaDB/MySQL, Redis and plain
//! volumes, shared by the CLI (`commands`) and the TUI's runner.
//!
//! Where a service runs is asked of `ops::backend` (a database must run in a container);
//! dumps and restores stream through Engine API execs and the archive API (`engine::pipe`),
//! in bounded chunks, to and from files of the `store`; lifecycle steps (stopping the
//! dependents, recreating a reset service) go through the compose CLI.

pub mod commands;
pub mod dump;
pub mod format;
pub mod kind;
pub mod load;
pub mod reset;
pub mod store;
pub mod version;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::engine::compose;
use crate::engine::{ContainerId, client, pipe};
use crate::exit;
use crate::ops::backend::{Backend, Target};
use crate::project::{Origin, Project};
pub use kind::Kind;
use kind::{Facts, Login};
use store::{Retention, Store};

/// Chunks in flight between the engine and a file: with the exec's 256 KiB frames, at most
/// a few MiB of a backup are ever in memory.
pub(crate) const CHANNEL_CHUNKS: usize = 16;
/// Size of the chunks a file is read in when it streams to the engine.
pub(crate) const CHUNK: usize = 256 * 1024;
/// How often progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Why a backup, restore or reset failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Store(#[from] store::Error),
    #[error("{0}")]
    Connect(#[from] client::Error),
    #[error("{0}")]
    Engine(#[from] bollard::errors::Error),
    #[error("{0}")]
    Pipe(#[from] pipe::Error),
    #[error("{0}")]
    Compose(#[from] compose::Error),
    #[error("unknown service {service:?} in project {project}; services: {known}")]
    UnknownService {
        service: String,
        project: String,
        known: String,
    },
    #[error(
        "{service} runs natively, not in a container: devtui backs up services that run in containers"
    )]
    Native { service: String },
    #[error("{service} has no container; start it with `devtui start {service}` and try again")]
    NoContainer { service: String },
    #[error("{service} is not running; start it with `devtui start {service}` and try again")]
    NotRunning { service: String },
    #[error(
        "{service} is neither a database nor a service with named volumes: nothing to back up (label it `{label}: postgres|mysql|redis|volume` to say what it holds)",
        label = kind::LABEL
    )]
    Nothing { service: String },
    #[error(
        "{service}: label {label}={value:?} names no backup kind; use postgres, mysql, redis or volume",
        label = kind::LABEL
    )]
    BadLabel { service: String, value: String },
    #[error(
        "project {project} has no database service to back up; name a service to back up its volumes"
    )]
    NoDatabases { project: String },
    #[error("{tool} in {service} failed: {reason}")]
    Tool {
        service: String,
        tool: String,
        reason: String,
    },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} is damaged: {reason}; nothing was changed", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{} is {what}, not a backup of {service} ({kind}); nothing was changed", path.display())]
    WrongKind {
        path: PathBuf,
        what: String,
        service: String,
        kind: Kind,
    },
    #[error("{0}")]
    TooNew(Box<TooNew>),
    #[error("no backups of {service} in {}; make one with `devtui backup {service}`", dir.display())]
    NoBackups { service: String, dir: PathBuf },
    #[error("{what} took longer than {}s", limit.as_secs())]
    Timeout { what: String, limit: Duration },
    #[error("{0}")]
    Other(String),
}

/// A logical dump of a newer server than the one it is to be restored into.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} is a backup from {product} {from}; {service} runs {product} {runs}: {why}. Restore it into {product} {needs} or newer; nothing was changed",
    path.display()
)]
pub struct TooNew {
    pub path: PathBuf,
    pub service: String,
    /// `PostgreSQL`, `MariaDB`, `MySQL`.
    pub product: &'static str,
    /// The dump's server version (and pg_dump's, when newer).
    pub from: String,
    pub runs: String,
    /// Why the older server cannot take it.
    pub why: String,
    /// The oldest version that can.
    pub needs: String,
}

impl Error {
    /// The exit code a CLI command ends with for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Connect(_) | Error::Compose(compose::Error::NotFound) => exit::NO_ENGINE,
            Error::UnknownService { .. }
            | Error::BadLabel { .. }
            | Error::Nothing { .. }
            | Error::NoDatabases { .. }
            | Error::WrongKind { .. }
            | Error::TooNew(_)
            | Error::Store(
                store::Error::NoSuchId { .. }
                | store::Error::Ambiguous { .. }
                | store::Error::TooShort { .. },
            ) => exit::USAGE,
            Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => exit::USAGE,
            _ => exit::FAILED,
        }
    }
}

impl From<Error> for exit::Failure {
    fn from(e: Error) -> Self {
        exit::Failure::new(e.exit_code(), e.to_string())
    }
}

/// What a long step reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// A step, in words ("stopping app", "restoring from …").
    Step(String),
    /// Bytes moved so far and the rate.
    Bytes { bytes: u64, per_sec: u64 },
}

/// Where reports go (the CLI's stderr, the TUI's messages).
pub type Reporter = Arc<dyn Fn(Report) + Send + Sync>;

/// A reporter that drops everything.
pub fn quiet() -> Reporter {
    Arc::new(|_| {})
}

/// Everything a backup, restore or reset works with: where services run (`target`), the
/// compose model (dependencies, volumes), and the backups directory.
#[derive(Clone)]
pub struct Context {
    pub target: Target,
    pub project: Project,
    pub store: Store,
    /// Whether a reset backs the databases up first (the profile's `backups.before_reset`).
    pub before_reset: bool,
}

/// Where a project's backups go and how many are kept, before the directory is opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub dir: PathBuf,
    pub retention: Retention,
    /// Whether a reset backs the databases up first (`backups.before_reset`, default yes).
    pub before_reset: bool,
}

impl Settings {
    /// `backups/` next to the compose file, or `<data dir>/backups/PROJECT` for the bundled
    /// stack; a devtui profile's `backups:` section says otherwise.
    pub fn for_project(
        project: &Project,
        profile: Option<&crate::project::profile::Profile>,
    ) -> Settings {
        let section = profile.and_then(|p| p.backups.as_ref());
        let dir = match section.and_then(|b| b.dir.as_deref()) {
            Some(dir) => expand(dir, &project.working_dir),
            None => match project.origin {
                Origin::BundledInPlace | Origin::BundledMaterialised => {
                    crate::paths::data_dir().join("backups").join(&project.name)
                }
                Origin::Explicit | Origin::Discovered => project.working_dir.join("backups"),
            },
        };
        let retention = Retention::new(
            section.and_then(|b| b.keep.as_ref()).map(|k| k.value),
            section.and_then(|b| b.keep_days),
        );
        Settings {
            dir,
            retention,
            before_reset: crate::project::profile::BackupSettings::backup_before_reset(section),
        }
    }
}

fn expand(dir: &str, base: &std::path::Path) -> PathBuf {
    if let Some(rest) = dir.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    base.join(dir)
}

impl Context {
    /// A context for `project`, acting through `target`, with the backup settings of the
    /// devtui profile `profile` (a name or a path), if any.
    pub fn new(target: Target, project: Project, profile: Option<&str>) -> Result<Self, String> {
        let profile = match profile {
            Some(name) => Some(
                crate::project::profile::load(&project.location(), name, None)
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let settings = Settings::for_project(&project, profile.as_ref());
        let store = Store::open(settings.dir, settings.retention).map_err(|e| e.to_string())?;
        Ok(Context {
            target,
            project,
            store,
            before_reset: settings.before_reset,
        })
    }

    /// Checks that `service` is one of the project's.
    pub fn check_service(&self, service: &str) -> Result<(), Error> {
        if self.project.service(service).is_some() {
            return Ok(());
        }
        Err(Error::UnknownService {
            service: service.into(),
            project: self.project.name.clone(),
            known: self
                .project
                .all_services
                .iter()
                .map(|s| s.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The services that depend on `service` (compose `depends_on`), directly or not, in
    /// dependency order.
    pub fn dependents(&self, service: &str) -> Vec<String> {
        let mut found: Vec<String> = vec![service.to_string()];
        let mut changed = true;
        while changed {
            changed = false;
            for s in &self.project.all_services {
                if !found.contains(&s.name)
                    && s.depends_on.iter().any(|d| found.contains(&d.service))
                {
                    found.push(s.name.clone());
                    changed = true;
                }
            }
        }
        self.project
            .all_services
            .iter()
            .filter(|s| s.name != service && found.contains(&s.name))
            .map(|s| s.name.clone())
            .collect()
    }
}

/// A service's container, as inspected: what it is, how to log in, what it mounts.
#[derive(Debug, Clone)]
pub struct Subject {
    pub service: String,
    pub container: ContainerId,
    pub running: bool,
    /// `None`: not a database (its volumes may be backed up).
    pub kind: Option<Kind>,
    pub image: String,
    pub login: Login,
    pub facts: Facts,
    /// Named volumes it mounts: (volume name, mount path).
    pub volumes: Vec<(String, String)>,
}

impl Subject {
    /// The kind a backup of it has: its database kind, else its volumes.
    pub fn backup_kind(&self) -> Result<Kind, Error> {
        match self.kind {
            Some(kind) => Ok(kind),
            None if !self.volumes.is_empty() => Ok(Kind::Volume),
            None => Err(Error::Nothing {
                service: self.service.clone(),
            }),
        }
    }
}

/// The container `backend` puts `service` in, or why there is none to back up.
pub fn container_of(backend: &Backend, service: &str) -> Result<ContainerId, Error> {
    match backend {
        Backend::Container(id) => Ok(id.clone()),
        Backend::Native(_) | Backend::Peer(_) => Err(Error::Native {
            service: service.into(),
        }),
        Backend::Absent => Err(Error::NoContainer {
            service: service.into(),
        }),
    }
}

/// Inspects `service`'s container (on `backend`) and tells what it holds.
pub async fn inspect(ctx: &Context, service: &str, backend: &Backend) -> Result<Subject, Error> {
    let container = container_of(backend, service)?;
    let docker = ctx.target.engine.get().await?;
    let info = docker.inspect_container(container.as_str(), None).await?;
    let config = info.config.unwrap_or_default();
    let model = ctx.project.service(service);
    let mut labels: BTreeMap<String, String> = model.map(|s| s.labels.clone()).unwrap_or_default();
    labels.extend(config.labels.unwrap_or_default());
    let env: BTreeMap<String, String> = config
        .env
        .unwrap_or_default()
        .into_iter()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.into(), v.into())))
        .collect();
    let image = config
        .image
        .or_else(|| model.and_then(|s| s.image.clone()))
        .unwrap_or_default();
    let command = config
        .entrypoint
        .unwrap_or_default()
        .into_iter()
        .chain(config.cmd.unwrap_or_default())
        .collect();
    let facts = Facts {
        image: image.clone(),
        labels,
        env,
        command,
    };
    let kind = kind::detect(&facts).map_err(|kind::BadLabel(value)| Error::BadLabel {
        service: service.into(),
        value,
    })?;
    let volumes = info
        .mounts
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.typ.as_deref() == Some("volume"))
        .filter_map(|m| Some((m.name?, m.destination?)))
        .collect();
    let running = info.state.and_then(|s| s.running).unwrap_or(false);
    let login = Login::from_env(kind.unwrap_or(Kind::Volume), &facts.env);
    Ok(Subject {
        service: service.into(),
        container,
        running,
        kind,
        image,
        login,
        facts,
        volumes,
    })
}

/// Counts bytes and reports them at most every `PROGRESS_EVERY`.
pub(crate) struct Meter {
    report: Reporter,
    start: Instant,
    last: Instant,
    pub bytes: u64,
}

impl Meter {
    pub fn new(report: Reporter) -> Self {
        let now = Instant::now();
        Self {
            report,
            start: now,
            last: now,
            bytes: 0,
        }
    }

    pub fn add(&mut self, n: usize) {
        self.bytes += n as u64;
        if self.last.elapsed() >= PROGRESS_EVERY {
            self.last = Instant::now();
            self.emit();
        }
    }

    pub fn emit(&self) {
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        (self.report)(Report::Bytes {
            bytes: self.bytes,
            per_sec: (self.bytes as f64 / secs) as u64,
        });
    }
}

/// Reads, on a blocking thread, what an async task sends over a channel.
pub(crate) struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChannelReader {
    pub fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Writes, on a blocking thread, into a channel an async task drains: in `CHUNK`s.
pub(crate) struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub fn new(tx: mpsc::Sender<Bytes>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the receiving side ended"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// `1.5 GB`, `12 MB`, `512 B`: sizes as people read them (powers of 1000, as `ls -h --si`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// `3s`, `5m`, `2h`, `4d`: how long ago.
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
        assert_eq!(human_bytes(123_000_000), "123 MB");
        assert_eq!(human_age(59), "59s");
        assert_eq!(human_age(7200), "2h");
        assert_eq!(human_age(3 * 86_400 + 5), "3d");
    }

    #[test]
    fn channel_reader_and_writer_move_bytes_across_threads() {
        let (tx, rx) = mpsc::channel(2);
        let writer = std::thread::spawn(move || {
            let mut w = ChannelWriter::new(tx);
            for i in 0..1000u32 {
                w.write_all(&i.to_le_bytes().repeat(100)).expect("write");
            }
        });
        let mut r = ChannelReader::new(rx);
        let mut all = Vec::new();
        r.read_to_end(&mut all).expect("read");
        writer.join().expect("join");
        assert_eq!(all.len(), 1000 * 400);
        assert_eq!(&all[..4], &0u32.to_le_bytes());
    }
}
