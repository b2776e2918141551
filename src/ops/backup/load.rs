//! Restoring a service from a backup: the file is checked whole before anything is touched
//! (its sha256 against the manifest, its structure, its kind), a safety backup is taken, the
//! services that depend on it stop, the data is loaded through an exec's stdin or the
//! archive API (streamed, never held in memory), and the dependents start again and are
//! waited for.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::UploadToContainerOptions;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::dump::{
    self, BackupOptions, first_command, mysql_query, pg_names, query, redis_cli, redis_config,
};
use super::format::{self, Checked, Format};
use super::kind::Kind;
use super::store::Entry;
use super::version;
use super::{
    CHANNEL_CHUNKS, CHUNK, ChannelWriter, Context, Error, Meter, Report, Reporter, Subject, TooNew,
    human_bytes, inspect,
};
use crate::engine::pipe::{self, Command};
use crate::engine::{ContainerId, ContainerState, watch};
use crate::ops::backend::Backend;

/// Which backup to restore from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A backup's id (a unique prefix) or file name in the store.
    Id(String),
    /// A file anywhere: a backup, or a dump of another tool.
    Path(PathBuf),
    /// The service's newest backup.
    Latest,
}

/// What a restore will do, for the confirmation that names it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub service: String,
    pub kind: Kind,
    pub path: PathBuf,
    /// The store's entry, when the file is one of its backups.
    pub entry: Option<Entry>,
    pub format: Format,
    /// What is replaced, in words ("database app", "volumes x, y").
    pub replaces: String,
    /// Running services that depend on it: stopped during the restore, started after.
    pub dependents: Vec<String>,
    pub subject: Subject,
}

impl Plan {
    /// One sentence: what is replaced by what, and what else is stopped.
    pub fn describe(&self) -> String {
        let from = match &self.entry {
            Some(e) => format!(
                "backup {} ({}, {})",
                e.short_id(),
                e.manifest.file,
                human_bytes(e.manifest.size)
            ),
            None => format!("{} ({})", self.path.display(), self.format.describe()),
        };
        let mut text = format!("replace {} of {} with {from}", self.replaces, self.service);
        if !self.dependents.is_empty() {
            text.push_str(&format!(
                "; {} stop{} meanwhile",
                self.dependents.join(", "),
                if self.dependents.len() == 1 { "s" } else { "" }
            ));
        }
        text
    }
}

/// How to restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Back the service up first (the safety backup).
    pub safety_backup: bool,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub service: String,
    pub path: PathBuf,
    /// What the check before the restore found.
    pub checked: String,
    pub safety: Option<Entry>,
}

/// Works out what restoring `service` from `source` means, touching nothing.
pub async fn plan(
    ctx: &Context,
    service: &str,
    backend: &Backend,
    source: &Source,
) -> Result<Plan, Error> {
    ctx.check_service(service)?;
    let subject = inspect(ctx, service, backend).await?;
    let kind = subject.backup_kind()?;
    if kind.is_database() && !subject.running {
        return Err(Error::NotRunning {
            service: service.into(),
        });
    }
    let (path, entry) = match source {
        Source::Id(id) => {
            let e = ctx.store.find(id)?;
            (e.path.clone(), Some(e))
        }
        Source::Latest => {
            let e = ctx
                .store
                .list(Some(service))?
                .into_iter()
                .next()
                .ok_or_else(|| Error::NoBackups {
                    service: service.into(),
                    dir: ctx.store.dir.clone(),
                })?;
            (e.path.clone(), Some(e))
        }
        Source::Path(p) => {
            let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
            if !p.is_file() {
                return Err(Error::Io {
                    path: p,
                    source: io::Error::new(io::ErrorKind::NotFound, "no such file"),
                });
            }
            // A file of the store given by its path still has its manifest.
            let entry = ctx
                .store
                .list(None)?
                .into_iter()
                .find(|e| same_file(&e.path, &p));
            (p, entry)
        }
    };
    let format = match &entry {
        Some(e) => e.manifest.format,
        None => format::sniff(&path)
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?
            .ok_or_else(|| Error::WrongKind {
                path: path.clone(),
                what: "not a backup devtui can read (binary, unknown format)".into(),
                service: service.into(),
                kind,
            })?,
    };
    if !format.fits(kind) {
        return Err(Error::WrongKind {
            path,
            what: format.describe().into(),
            service: service.into(),
            kind,
        });
    }
    let replaces = match kind {
        Kind::Postgres | Kind::Mysql => match &subject.login.database {
            Some(db) => format!("database {db}"),
            None => "every database".into(),
        },
        Kind::Redis => "all keys".into(),
        Kind::Volume => {
            let names: Vec<&str> = subject.volumes.iter().map(|(n, _)| n.as_str()).collect();
            format!("volume{} {}", plural(names.len()), names.join(", "))
        }
    };
    let dependents = running_dependents(ctx, service).await?;
    Ok(Plan {
        service: service.into(),
        kind,
        path,
        entry,
        format,
        replaces,
        dependents,
        subject,
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The services depending on `service` whose containers run now.
async fn running_dependents(ctx: &Context, service: &str) -> Result<Vec<String>, Error> {
    let wanted = ctx.dependents(service);
    if wanted.is_empty() {
        return Ok(wanted);
    }
    let docker = ctx.target.engine.get().await?;
    let statuses = watch::snapshot(&docker, &ctx.project.name).await?;
    Ok(wanted
        .into_iter()
        .filter(|d| {
            statuses
                .iter()
                .any(|s| &s.service == d && s.state == ContainerState::Running)
        })
        .collect())
}

/// Checks the file whole, then restores: safety backup, dependents stopped, load,
/// dependents started and waited for. A file that fails the check changes nothing.
pub async fn restore(
    ctx: &Context,
    plan: &Plan,
    options: RestoreOptions,
    report: &Reporter,
) -> Result<Restored, Error> {
    let s = &plan.subject;
    let docker = ctx.target.engine.get().await?;
    report(Report::Step(format!("checking {}", plan.path.display())));
    // The file's own checks, the server's version and pg_restore's reading of the archive
    // run side by side (each exec starts a process in the container); their verdicts are
    // taken in the order below, and nothing is changed before all three are in.
    let pg_list_needed = plan.format == Format::PgCustom;
    let (checked, runs, listed) = tokio::join!(
        verify_file(&plan.path, plan.format, plan.entry.as_ref()),
        server_version(&docker, s, plan.kind),
        async {
            if pg_list_needed {
                Some(pg_list(&docker, s, &plan.path).await)
            } else {
                None
            }
        }
    );
    let checked = checked?;
    if let Some(dialect) = checked.dialect
        && dialect != plan.kind
    {
        return Err(Error::WrongKind {
            path: plan.path.clone(),
            what: format!("a {dialect} SQL dump"),
            service: plan.service.clone(),
            kind: plan.kind,
        });
    }
    match plan.kind {
        // Before pg_restore --list's verdict, which calls a newer archive damaged.
        Kind::Postgres => check_pg_version(plan, &checked, runs)?,
        Kind::Mysql => check_mysql_version(plan, &checked, runs)?,
        Kind::Redis | Kind::Volume => {}
    }
    let mut structure = checked.structure.clone();
    if let Some(listed) = listed {
        structure.push_str(&format!(", {}", listed?));
    }
    let safety = if options.safety_backup {
        report(Report::Step(format!("safety backup of {}", plan.service)));
        let options = BackupOptions {
            label: Some("before-restore".into()),
            stop: true,
        };
        Some(dump::backup_subject(ctx, s, &options, report).await?)
    } else {
        None
    };
    if !plan.dependents.is_empty() {
        report(Report::Step(format!(
            "stopping {}",
            plan.dependents.join(", ")
        )));
        let mut args = vec!["stop".to_string()];
        args.extend(plan.dependents.iter().cloned());
        ctx.target.compose.run(&args, |_| {}).await?;
    }
    report(Report::Step(format!(
        "restoring {} from {}",
        plan.service,
        plan.path.display()
    )));
    let loaded = match plan.kind {
        Kind::Postgres => load_postgres(&docker, s, plan, &checked, report).await,
        Kind::Mysql => load_mysql(&docker, s, plan, &checked, report).await,
        Kind::Redis => load_redis(ctx, &docker, s, plan, report).await,
        Kind::Volume => load_volumes(ctx, &docker, s, plan, report).await,
    };
    // The dependents come back whatever happened: a failed load rolled back or left the
    // safety backup to restore from.
    let restarted = if plan.dependents.is_empty() {
        Ok(())
    } else {
        report(Report::Step(format!(
            "starting {} and waiting until healthy",
            plan.dependents.join(", ")
        )));
        let mut args: Vec<String> = ["up", "-d", "--wait", "--no-deps", "--no-recreate"]
            .map(String::from)
            .to_vec();
        args.extend(plan.dependents.iter().cloned());
        ctx.target.compose.run(&args, |_| {}).await
    };
    if let Err(e) = loaded {
        return Err(match &safety {
            Some(b) => Error::Other(format!(
                "{e} (the safety backup {} holds the data from before)",
                b.short_id()
            )),
            None => e,
        });
    }
    restarted?;
    let keep = plan.entry.as_ref().map(|e| e.id.as_str());
    ctx.store
        .prune(&plan.service, time::OffsetDateTime::now_utc(), keep)?;
    Ok(Restored {
        service: plan.service.clone(),
        path: plan.path.clone(),
        checked: structure,
        safety,
    })
}

/// Reads the whole file: sha256 (against the manifest, when there is one) and structure.
pub async fn verify_file(
    path: &Path,
    format: Format,
    entry: Option<&Entry>,
) -> Result<Checked, Error> {
    let owned = path.to_path_buf();
    let checked = tokio::task::spawn_blocking(move || format::check(&owned, format))
        .await
        .map_err(|e| Error::Other(e.to_string()))?
        .map_err(|reason| Error::Corrupt {
            path: path.to_path_buf(),
            reason,
        })?;
    if let Some(e) = entry {
        if checked.size != e.manifest.size {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "it has {} bytes, its manifest says {} (truncated?)",
                    checked.size, e.manifest.size
                ),
            });
        }
        if checked.sha256 != e.manifest.sha256 {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: "its sha256 differs from its manifest's".into(),
            });
        }
    }
    Ok(checked)
}

/// Refuses a PostgreSQL dump whose server (or pg_dump) is of a newer major version than the
/// service runs: pg_restore cannot read a newer archive, and a newer pg_dump's SQL is not
/// meant for an older server. The dump's own header says where it came from (a file from
/// anywhere has no manifest); the manifest's server version is the fallback.
/// `runs` is the server's answer: it is needed (and its failure fails the restore) only when
/// the dump says where it came from.
fn check_pg_version(
    plan: &Plan,
    checked: &Checked,
    runs: Result<Option<String>, Error>,
) -> Result<(), Error> {
    let Some(origin) = pg_origin(&plan.path, plan.format, checked, plan.entry.as_ref())? else {
        return Ok(());
    };
    let Some(runs) = runs? else {
        return Ok(());
    };
    let Some(PgVersionGap {
        origin,
        needs,
        target,
        runs,
    }) = pg_gap(origin, runs)
    else {
        return Ok(());
    };
    let mut from = origin.server.clone();
    if let Some(tool) = &origin.pg_dump
        && version::Major::parse(tool) != version::Major::parse(&origin.server)
    {
        from.push_str(&format!(" (written by pg_dump {tool})"));
    }
    let why = match plan.format {
        Format::PgCustom => format!("pg_restore {target} cannot read a dump of pg_dump {needs}"),
        _ => format!("PostgreSQL {target} is not meant to load what pg_dump {needs} writes"),
    };
    Err(Error::TooNew(Box::new(TooNew {
        path: plan.path.clone(),
        service: plan.service.clone(),
        product: "PostgreSQL",
        from,
        runs,
        why,
        needs: needs.to_string(),
    })))
}

/// A PostgreSQL dump that needs a newer major version than the service runs.
pub struct PgVersionGap {
    pub origin: version::DumpOrigin,
    pub needs: version::Major,
    pub target: version::Major,
    /// The service's server version, as it reports it.
    pub runs: String,
}

/// Whether `path` needs a newer PostgreSQL than `s` runs. The dump's own header says where
/// it came from (a file from anywhere has no manifest); the manifest's server version is
/// the fallback. `None` when it fits, or when either version cannot be told.
pub async fn pg_version_gap(
    docker: &Docker,
    s: &Subject,
    path: &Path,
    format: Format,
    checked: &Checked,
    entry: Option<&Entry>,
) -> Result<Option<PgVersionGap>, Error> {
    let Some(origin) = pg_origin(path, format, checked, entry)? else {
        return Ok(None);
    };
    let runs = dump::pg_server_version(docker, s).await?;
    Ok(pg_gap(origin, runs))
}

/// Where a PostgreSQL dump came from: its own header, else the manifest's server version.
fn pg_origin(
    path: &Path,
    format: Format,
    checked: &Checked,
    entry: Option<&Entry>,
) -> Result<Option<version::DumpOrigin>, Error> {
    let from_file = match format {
        Format::PgCustom => {
            let mut head = Vec::with_capacity(HEADER_BYTES);
            std::fs::File::open(path)
                .and_then(|f| f.take(HEADER_BYTES as u64).read_to_end(&mut head))
                .map_err(|source| Error::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
            version::pg_custom(&head)
        }
        _ => version::pg_sql(&checked.head),
    };
    Ok(from_file.or_else(|| {
        let server = entry?.manifest.server_version.clone()?;
        Some(version::DumpOrigin {
            server,
            pg_dump: None,
        })
    }))
}

/// The gap between a dump's origin and the version the service runs, if it needs newer.
fn pg_gap(origin: version::DumpOrigin, runs: String) -> Option<PgVersionGap> {
    let (Some(needs), Some(target)) = (origin.needs(), version::Major::parse(&runs)) else {
        return None;
    };
    (needs > target).then_some(PgVersionGap {
        origin,
        needs,
        target,
        runs,
    })
}

/// The version a database service's server reports, for the restore's version check.
async fn server_version(docker: &Docker, s: &Subject, kind: Kind) -> Result<Option<String>, Error> {
    match kind {
        Kind::Postgres => dump::pg_server_version(docker, s).await.map(Some),
        Kind::Mysql => dump::mysql_server_version(docker, s).await.map(Some),
        Kind::Redis | Kind::Volume => Ok(None),
    }
}

/// Refuses a MariaDB/MySQL dump of a newer release series than the service runs: the load
/// drops the database first and is no transaction, so whatever the older server does not
/// know (a new type, collation or syntax) would fail it half-way.
/// `runs` as for [`check_pg_version`].
fn check_mysql_version(
    plan: &Plan,
    checked: &Checked,
    runs: Result<Option<String>, Error>,
) -> Result<(), Error> {
    let Some(from) = version::mysql_sql(&checked.head)
        .or_else(|| plan.entry.as_ref()?.manifest.server_version.clone())
    else {
        return Ok(());
    };
    let Some(runs) = runs? else {
        return Ok(());
    };
    let (Some(dump), Some(target)) = (version::Series::parse(&from), version::Series::parse(&runs))
    else {
        return Ok(());
    };
    if !dump.newer_than(target) {
        return Ok(());
    }
    Err(Error::TooNew(Box::new(TooNew {
        path: plan.path.clone(),
        service: plan.service.clone(),
        product: dump.product(),
        from,
        runs,
        why: format!(
            "{} {target} may lack what {dump} dumps (types, collations, syntax), and a load that fails half-way leaves the database half-restored",
            dump.product()
        ),
        needs: dump.to_string(),
    })))
}

/// Enough of a custom-format dump for its header (three short strings after 45 bytes).
const HEADER_BYTES: usize = 4096;

/// `pg_restore --list` of the file, in the service's container: the archive's table of
/// contents reads whole.
pub async fn pg_list(docker: &Docker, s: &Subject, path: &Path) -> Result<String, Error> {
    let (rx, reader) = stream_file(path.to_path_buf(), Vec::new(), Vec::new(), None, None);
    let (tx_out, mut rx_out) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let counter = tokio::spawn(async move {
        let mut lines = 0usize;
        while let Some(chunk) = rx_out.recv().await {
            lines += chunk.iter().filter(|b| **b == b'\n').count();
        }
        lines
    });
    let cmd = Command {
        reads_part_of_input: true,
        ..Command::new(["pg_restore", "--list"])
    };
    let outcome = pipe::pipe(docker, &s.container, &cmd, Some(rx), Some(tx_out)).await?;
    reader.abort();
    let lines = counter.await.unwrap_or(0);
    if !outcome.success() {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("pg_restore --list: {}", outcome.reason()),
        });
    }
    Ok(format!(
        "pg_restore --list read its {lines}-line table of contents"
    ))
}

/// Compression of a file that streams to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    Gzip,
    Zstd,
}

fn decode_for(format: Format) -> Option<Decode> {
    match format {
        Format::SqlGz => Some(Decode::Gzip),
        Format::SqlZst | Format::TarZst => Some(Decode::Zstd),
        _ => None,
    }
}

/// Streams `before`, the file (decompressed), then `after` into a channel, on a blocking
/// thread, counting through `meter`.
fn stream_file(
    path: PathBuf,
    before: Vec<u8>,
    after: Vec<u8>,
    decode: Option<Decode>,
    mut meter: Option<Meter>,
) -> (
    mpsc::Receiver<Bytes>,
    tokio::task::JoinHandle<io::Result<()>>,
) {
    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let task = tokio::task::spawn_blocking(move || -> io::Result<()> {
        let file = std::fs::File::open(&path)?;
        let file = io::BufReader::with_capacity(CHUNK, file);
        let mut reader: Box<dyn Read> = match decode {
            None => Box::new(file),
            Some(Decode::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(file)),
            Some(Decode::Zstd) => Box::new(zstd::stream::read::Decoder::with_buffer(file)?),
        };
        let mut out = ChannelWriter::new(tx);
        out.write_all(&before)?;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
            if let Some(m) = meter.as_mut() {
                m.add(n);
            }
        }
        out.write_all(&after)?;
        out.flush()?;
        if let Some(m) = &meter {
            m.emit();
        }
        Ok(())
    });
    (rx, task)
}

/// Runs `cmd` with the file (between `before` and `after`) as its stdin; a failure of the
/// tool, or input it did not read, is an error.
#[allow(clippy::too_many_arguments)]
async fn load_through(
    docker: &Docker,
    s: &Subject,
    cmd: Command,
    tool_name: &str,
    plan: &Plan,
    before: Vec<u8>,
    after: Vec<u8>,
    report: &Reporter,
) -> Result<(), Error> {
    let meter = Meter::new(report.clone());
    let (rx, reader) = stream_file(
        plan.path.clone(),
        before,
        after,
        decode_for(plan.format),
        Some(meter),
    );
    let outcome = pipe::pipe(docker, &s.container, &cmd, Some(rx), None).await?;
    let read = reader.await.map_err(|e| Error::Other(e.to_string()))?;
    if !outcome.success() {
        return Err(dump::server_tool(docker, s, tool_name, &outcome.reason()).await);
    }
    read.map_err(|source| Error::Io {
        path: plan.path.clone(),
        source,
    })?;
    if let Some(e) = outcome.input_error {
        return Err(dump::tool(
            s,
            tool_name,
            &format!("it did not read all of the file: {e}"),
        ));
    }
    Ok(())
}

async fn load_postgres(
    docker: &Docker,
    s: &Subject,
    plan: &Plan,
    checked: &Checked,
    report: &Reporter,
) -> Result<(), Error> {
    let (user, db) = pg_names(s);
    let env = s.login.env(Kind::Postgres);
    if plan.format == Format::PgCustom {
        // One transaction: an error anywhere leaves the database as it was.
        let cmd = Command::new([
            "pg_restore",
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "-U",
            &user,
            "-d",
            &db,
        ])
        .env(env);
        return load_through(
            docker,
            s,
            cmd,
            "pg_restore",
            plan,
            Vec::new(),
            Vec::new(),
            report,
        )
        .await;
    }
    // Plain SQL: in one transaction we open and close ourselves, so a file cut short never
    // commits; ON_ERROR_STOP makes the first error end it.
    let mut before = b"\\set ON_ERROR_STOP on\nBEGIN;\n".to_vec();
    if !cleans_itself(&checked.head) {
        before.extend_from_slice(PG_EMPTY_DATABASE.as_bytes());
    }
    let after = b"\nCOMMIT;\n".to_vec();
    let cmd = Command::new([
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        &user,
        "-d",
        &db,
        "-f",
        "-",
    ])
    .env(env);
    load_through(docker, s, cmd, "psql", plan, before, after, report).await
}

/// Empties the database before a plain SQL file that does not drop what it creates: every
/// schema but the system's goes, and `public` comes back as a new database has it.
const PG_EMPTY_DATABASE: &str = r#"DO $devtui$
DECLARE s record;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s.nspname);
  END LOOP;
  CREATE SCHEMA public;
  IF current_setting('server_version_num')::int >= 150000 THEN
    EXECUTE 'ALTER SCHEMA public OWNER TO pg_database_owner';
    EXECUTE 'GRANT USAGE ON SCHEMA public TO PUBLIC';
  ELSE
    EXECUTE 'GRANT ALL ON SCHEMA public TO PUBLIC';
  END IF;
END $devtui$;
"#;

/// Whether a SQL file drops its objects before creating them (`pg_dump --clean`): its first
/// DROP comes before its first CREATE.
fn cleans_itself(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let first = |word: &str| {
        text.lines()
            .position(|l| l.trim_start().to_ascii_uppercase().starts_with(word))
    };
    match (first("DROP "), first("CREATE ")) {
        (Some(d), Some(c)) => d < c,
        (Some(_), None) => true,
        _ => false,
    }
}

async fn load_mysql(
    docker: &Docker,
    s: &Subject,
    plan: &Plan,
    _checked: &Checked,
    report: &Reporter,
) -> Result<(), Error> {
    let env = s.login.env(Kind::Mysql);
    let client = first_command(docker, s, &["mariadb", "mysql"]).await?;
    let user = s.login.user.clone().unwrap_or_else(|| "root".into());
    let mut before = Vec::new();
    let mut cmd = vec![client.clone(), "-u".into(), user.clone()];
    if let Some(db) = &s.login.database {
        // The database is recreated empty (with its character set), so tables the backup
        // does not have do not survive the restore.
        let quoted = db.replace('\'', "''");
        let charset = mysql_query(
            docker,
            s,
            &client,
            &user,
            &format!(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{quoted}'"
            ),
        )
        .await?;
        let ident = format!("`{}`", db.replace('`', "``"));
        let mut create = format!("CREATE DATABASE {ident}");
        if let Some((cs, coll)) = charset.trim().split_once('\t') {
            create.push_str(&format!(" CHARACTER SET {cs} COLLATE {coll}"));
        }
        before =
            format!("DROP DATABASE IF EXISTS {ident};\n{create};\nUSE {ident};\n").into_bytes();
        cmd.push(db.clone());
    }
    let cmd = Command::new(cmd).env(env);
    load_through(docker, s, cmd, &client, plan, before, Vec::new(), report).await
}

async fn load_redis(
    ctx: &Context,
    docker: &Docker,
    s: &Subject,
    plan: &Plan,
    report: &Reporter,
) -> Result<(), Error> {
    let dir = redis_config(docker, s, "dir").await?;
    let file = redis_config(docker, s, "dbfilename").await?;
    let aof = redis_config(docker, s, "appendonly").await? == "yes";
    let major: u32 = redis_cli(docker, s, &["INFO", "server"])
        .await?
        .lines()
        .find_map(|l| l.trim().strip_prefix("redis_version:"))
        .and_then(|v| v.split('.').next()?.parse().ok())
        .unwrap_or(0);
    let owner = query(
        docker,
        s,
        Command::new(["stat", "-c", "%u:%g", &dir]),
        "stat",
    )
    .await?;
    let (uid, gid) = owner
        .trim()
        .split_once(':')
        .and_then(|(u, g)| Some((u.parse::<u64>().ok()?, g.parse::<u64>().ok()?)))
        .unwrap_or((0, 0));
    // Where Redis reads its data at start: the RDB, or with AOF on, the append-only file
    // (Redis 7: a directory whose manifest names a base file, which may be an RDB).
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut rdb_names = vec![file];
    if aof {
        let name = redis_config(docker, s, "appendfilename").await?;
        if major >= 7 {
            let aof_dir = redis_config(docker, s, "appenddirname").await?;
            // A sequence number no file of the directory has yet: Redis appends to the incr
            // file the manifest names, so an old one of the same name would be replayed on
            // the next start. The incr file goes in empty.
            let seq = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(1);
            let base = format!("{name}.{seq}.base.rdb");
            let incr = format!("{name}.{seq}.incr.aof");
            files.push((
                format!("{aof_dir}/{name}.manifest"),
                format!("file {base} seq {seq} type b\nfile {incr} seq {seq} type i\n")
                    .into_bytes(),
            ));
            files.push((format!("{aof_dir}/{incr}"), Vec::new()));
            rdb_names.push(format!("{aof_dir}/{base}"));
        } else {
            rdb_names.push(name);
        }
    }
    report(Report::Step(format!("stopping {}", s.service)));
    ctx.target
        .compose
        .run(&["stop", s.service.as_str()], |_| {})
        .await?;
    let uploaded = upload_files(docker, s, &dir, &plan.path, &rdb_names, files, (uid, gid)).await;
    report(Report::Step(format!(
        "starting {} and waiting until healthy",
        s.service
    )));
    let started = ctx
        .target
        .compose
        .run(
            &[
                "up",
                "-d",
                "--wait",
                "--no-deps",
                "--no-recreate",
                s.service.as_str(),
            ],
            |_| {},
        )
        .await;
    uploaded?;
    started?;
    Ok(())
}

/// Uploads into `dir` of the (stopped) container a tar of the file at `path` under each of
/// `names`, plus `extra` small files; owned by `owner`.
async fn upload_files(
    docker: &Docker,
    s: &Subject,
    dir: &str,
    path: &Path,
    names: &[String],
    extra: Vec<(String, Vec<u8>)>,
    owner: (u64, u64),
) -> Result<(), Error> {
    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let path_owned = path.to_path_buf();
    let names = names.to_vec();
    let builder = tokio::task::spawn_blocking(move || -> io::Result<()> {
        let mut tar = tar::Builder::new(ChannelWriter::new(tx));
        let header = |size: u64| {
            let mut h = tar::Header::new_gnu();
            h.set_size(size);
            h.set_mode(0o644);
            h.set_uid(owner.0);
            h.set_gid(owner.1);
            h.set_mtime(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
            );
            h.set_entry_type(tar::EntryType::Regular);
            h
        };
        for name in &names {
            let file = std::fs::File::open(&path_owned)?;
            let size = file.metadata()?.len();
            tar.append_data(
                &mut header(size),
                name,
                io::BufReader::with_capacity(CHUNK, file),
            )?;
        }
        for (name, body) in &extra {
            tar.append_data(&mut header(body.len() as u64), name, body.as_slice())?;
        }
        tar.into_inner()?.flush()
    });
    upload_tar(docker, &s.container, dir.to_string(), rx, builder, path).await
}

/// Uploads into `dir` of `container` the tar that `builder` (a blocking task reading `path`)
/// writes into `rx`'s channel; the builder's error, naming `path`, wins over the engine's.
pub(crate) async fn upload_tar(
    docker: &Docker,
    container: &ContainerId,
    dir: String,
    rx: mpsc::Receiver<Bytes>,
    builder: tokio::task::JoinHandle<io::Result<()>>,
    path: &Path,
) -> Result<(), Error> {
    let options = UploadToContainerOptions {
        path: dir,
        ..Default::default()
    };
    let uploaded = docker
        .upload_to_container(
            container.as_str(),
            Some(options),
            bollard::body_stream(channel_body(rx)),
        )
        .await;
    let built = builder.await.map_err(|e| Error::Other(e.to_string()))?;
    built.map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    uploaded?;
    Ok(())
}

/// A request body streamed from a channel (an upload built by a blocking thread).
fn channel_body(
    rx: mpsc::Receiver<Bytes>,
) -> impl futures_util::Stream<Item = Bytes> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    })
}

async fn load_volumes(
    ctx: &Context,
    docker: &Docker,
    s: &Subject,
    plan: &Plan,
    report: &Reporter,
) -> Result<(), Error> {
    let volumes = plan
        .entry
        .as_ref()
        .map(|e| e.manifest.volumes.clone())
        .unwrap_or_default();
    if volumes.is_empty() {
        return Err(Error::Corrupt {
            path: plan.path.clone(),
            reason: "its manifest names no volume (volume backups need their manifest)".into(),
        });
    }
    // Each volume of the backup goes back to the volume mounted where it was.
    let mut targets = Vec::new();
    for v in &volumes {
        let Some((name, _)) = s.volumes.iter().find(|(_, t)| *t == v.target) else {
            return Err(Error::Other(format!(
                "{} no longer mounts a volume at {} (the backup has one there); nothing was changed",
                s.service, v.target
            )));
        };
        targets.push((v.clone(), name.clone()));
    }
    // A fresh volume holds exactly what the backup has: the container and its volumes go,
    // compose creates them again (unstarted), the files go in, then it starts.
    report(Report::Step(format!("removing {}'s container", s.service)));
    ctx.target
        .compose
        .run(&["rm", "-s", "-f", s.service.as_str()], |_| {})
        .await?;
    for (_, name) in &targets {
        report(Report::Step(format!("removing volume {name}")));
        docker
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await?;
    }
    ctx.target
        .compose
        .run(
            &["up", "--no-start", "--no-deps", s.service.as_str()],
            |_| {},
        )
        .await?;
    let (backend, _) = ctx
        .target
        .locate(&s.service)
        .await
        .map_err(|e| Error::Other(e.to_string()))?;
    let container = super::container_of(&backend, &s.service)?;
    for (v, name) in &targets {
        report(Report::Step(format!(
            "restoring volume {name} ({})",
            v.target
        )));
        upload_volume(docker, &container, &plan.path, v.index, &v.target, report).await?;
    }
    report(Report::Step(format!(
        "starting {} and waiting until healthy",
        s.service
    )));
    ctx.target
        .compose
        .run(
            &["up", "-d", "--wait", "--no-deps", s.service.as_str()],
            |_| {},
        )
        .await?;
    Ok(())
}

/// Uploads volume `index` of the tar.zst at `path` to the parent of `target`: its entries
/// are `index/NAME/…`, NAME being `target`'s last component.
async fn upload_volume(
    docker: &Docker,
    container: &ContainerId,
    path: &Path,
    index: usize,
    target: &str,
    report: &Reporter,
) -> Result<(), Error> {
    let parent = Path::new(target)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".into());
    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let owned = path.to_path_buf();
    let mut meter = Meter::new(report.clone());
    let builder = tokio::task::spawn_blocking(move || -> io::Result<()> {
        let file = io::BufReader::with_capacity(CHUNK, std::fs::File::open(&owned)?);
        let mut outer = tar::Archive::new(zstd::stream::read::Decoder::with_buffer(file)?);
        let mut inner = tar::Builder::new(ChannelWriter::new(tx));
        let prefix = index.to_string();
        for entry in outer.entries()? {
            let mut entry = entry?;
            let full = entry.path()?.into_owned();
            let Ok(rel) = full.strip_prefix(&prefix) else {
                continue;
            };
            let rel = rel.to_path_buf();
            if rel.as_os_str().is_empty() {
                continue;
            }
            let mut header = entry.header().clone();
            let kind = header.entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                let link = entry
                    .link_name()?
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                let link = if kind.is_hard_link() {
                    link.strip_prefix(&prefix)
                        .map(Path::to_path_buf)
                        .unwrap_or(link)
                } else {
                    link
                };
                inner.append_link(&mut header, &rel, &link)?;
            } else {
                let size = entry.header().size()?;
                header.set_size(size);
                meter.add(usize::try_from(size).unwrap_or(usize::MAX));
                inner.append_data(&mut header, &rel, &mut entry)?;
            }
        }
        inner.into_inner()?.flush()?;
        meter.emit();
        Ok(())
    });
    upload_tar(docker, container, parent, rx, builder, path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cleaning_dump_is_told_from_a_plain_one() {
        assert!(cleans_itself(
            b"SET x = 1;\nDROP TABLE IF EXISTS public.a;\nCREATE TABLE public.a ();\n"
        ));
        assert!(!cleans_itself(b"SET x = 1;\nCREATE TABLE public.a ();\n"));
        assert!(!cleans_itself(b"-- nothing\n"));
    }
}
