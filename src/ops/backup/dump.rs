//! Making a backup of one service: a logical dump streamed out of an exec (PostgreSQL,
//! MariaDB/MySQL), the RDB after a BGSAVE (Redis), or a tar of its named volumes, each
//! copied out through the Engine API in bounded chunks and written by a blocking thread that
//! hashes (and for SQL and tar, zstd-compresses) as the bytes arrive.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{
    DownloadFromContainerOptions, StartContainerOptions, StopContainerOptions,
};
use bytes::Bytes;
use futures_util::StreamExt;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use super::format::Format;
use super::kind::Kind;
use super::store::{Entry, Manifest, Partial, VolumeEntry, rfc3339};
use super::{
    CHANNEL_CHUNKS, ChannelReader, Context, Error, Meter, Report, Reporter, Subject, inspect,
};
use crate::engine::logs;
use crate::engine::pipe::{self, Command};
use crate::ops::backend::{Backend, STOP_TIMEOUT_SECS};

/// zstd level for SQL and tar. Level 1, not zstd's default 3: on a 180 MB SQL dump here it
/// compressed 4.5× faster for 1 % more bytes, and the compressor shares the machine with the
/// dump tool and the server (level 3 made a MariaDB backup 0.61× the raw dump's speed).
const ZSTD_LEVEL: i32 = 1;
/// How long a Redis BGSAVE may take.
const BGSAVE_LIMIT: Duration = Duration::from_secs(600);
/// How often LASTSAVE is asked while a BGSAVE runs (Redis has no event for its end).
const BGSAVE_POLL: Duration = Duration::from_millis(200);

/// How to back a service up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupOptions {
    /// Free text kept in the manifest and, made safe, in the file name.
    pub label: Option<String>,
    /// Stop a volume service while its volumes are copied (consistent files), then start it.
    pub stop: bool,
}

/// Backs `service` (running on `backend`) up into the store, then applies the retention.
pub async fn backup(
    ctx: &Context,
    service: &str,
    backend: &Backend,
    options: &BackupOptions,
    report: &Reporter,
) -> Result<Entry, Error> {
    let subject = inspect(ctx, service, backend).await?;
    backup_subject(ctx, &subject, options, report).await
}

/// Backs an inspected service up.
pub async fn backup_subject(
    ctx: &Context,
    subject: &Subject,
    options: &BackupOptions,
    report: &Reporter,
) -> Result<Entry, Error> {
    let kind = subject.backup_kind()?;
    if kind.is_database() && !subject.running {
        return Err(Error::NotRunning {
            service: subject.service.clone(),
        });
    }
    let docker = ctx.target.engine.get().await?;
    let now = OffsetDateTime::now_utc();
    let label = options.label.as_deref();
    report(Report::Step(format!(
        "backing up {} ({kind}) to {}",
        subject.service,
        ctx.store.dir.display()
    )));
    let entry = match kind {
        Kind::Postgres => postgres(ctx, &docker, subject, label, now, report).await?,
        Kind::Mysql => mysql(ctx, &docker, subject, label, now, report).await?,
        Kind::Redis => redis(ctx, &docker, subject, label, now, report).await?,
        Kind::Volume => volumes(ctx, &docker, subject, options, now, report).await?,
    };
    let removed = ctx.store.prune(&subject.service, now, Some(&entry.id))?;
    if !removed.is_empty() {
        report(Report::Step(format!(
            "removed {} older backup{} of {} (keeping the newest {})",
            removed.len(),
            if removed.len() == 1 { "" } else { "s" },
            subject.service,
            ctx.store.retention.keep
        )));
    }
    Ok(entry)
}

/// The manifest of a backup of `subject`, but for what only the file knows.
fn manifest(
    ctx: &Context,
    subject: &Subject,
    kind: Kind,
    format: Format,
    server_version: Option<String>,
    label: Option<&str>,
    created: OffsetDateTime,
) -> impl FnOnce(u64, String) -> Manifest {
    let m = Manifest {
        service: subject.service.clone(),
        kind,
        format,
        database: subject.login.database.clone(),
        image: subject.image.clone(),
        server_version,
        size: 0,
        sha256: String::new(),
        devtui_version: env!("CARGO_PKG_VERSION").into(),
        project: ctx.project.name.clone(),
        created: rfc3339(created),
        label: label.map(str::to_string),
        file: String::new(),
        volumes: Vec::new(),
    };
    move |size, sha256| Manifest { size, sha256, ..m }
}

async fn postgres(
    ctx: &Context,
    docker: &Docker,
    s: &Subject,
    label: Option<&str>,
    now: OffsetDateTime,
    report: &Reporter,
) -> Result<Entry, Error> {
    let (user, db) = pg_names(s);
    let env = s.login.env(Kind::Postgres);
    let partial = ctx.store.begin(&s.service, label, Format::PgCustom, now)?;
    // -Fc: compressed by pg_dump, restorable into a newer server, listable by pg_restore.
    // -Z 1 (gzip level 1), not the default 6, for the reason ZSTD_LEVEL gives: on a 1 GB
    // pgbench database here the dump took 4.2-4.5 s instead of 5.3-6.0 s, for 1.8 % more
    // bytes.
    let cmd = Command::new(["pg_dump", "-Fc", "-Z", "1", "-U", &user, "-d", &db]).env(env);
    // The version is asked while the dump runs: an exec's start-up is a tenth of a second
    // on a small database's backup.
    let (partial, version) = tokio::join!(
        exec_to_file(docker, s, cmd, "pg_dump", partial, false, report),
        pg_server_version(docker, s)
    );
    let (partial, version) = (partial?, version?);
    let fill = manifest(
        ctx,
        s,
        Kind::Postgres,
        Format::PgCustom,
        Some(version),
        label,
        now,
    );
    Ok(partial.finish(fill)?)
}

/// `SHOW server_version` of a PostgreSQL service: `17.2 (Debian 17.2-1.pgdg120+1)`.
pub(crate) async fn pg_server_version(docker: &Docker, s: &Subject) -> Result<String, Error> {
    let (user, db) = pg_names(s);
    let cmd = Command::new([
        "psql",
        "-X",
        "-tA",
        "-U",
        &user,
        "-d",
        &db,
        "-c",
        "SHOW server_version",
    ])
    .env(s.login.env(Kind::Postgres));
    Ok(query(docker, s, cmd, "psql").await?.trim().to_string())
}

/// The user and database a PostgreSQL login names.
pub(crate) fn pg_names(s: &Subject) -> (String, String) {
    let user = s.login.user.clone().unwrap_or_else(|| "postgres".into());
    let db = s.login.database.clone().unwrap_or_else(|| user.clone());
    (user, db)
}

async fn mysql(
    ctx: &Context,
    docker: &Docker,
    s: &Subject,
    label: Option<&str>,
    now: OffsetDateTime,
    report: &Reporter,
) -> Result<Entry, Error> {
    let env = s.login.env(Kind::Mysql);
    let dumper = first_command(docker, s, &["mariadb-dump", "mysqldump"]).await?;
    let user = s.login.user.clone().unwrap_or_else(|| "root".into());
    let mut cmd = vec![
        dumper.clone(),
        "--single-transaction".into(),
        "--routines".into(),
        "--triggers".into(),
        "--hex-blob".into(),
        "--no-tablespaces".into(),
        "--default-character-set=utf8mb4".into(),
        "-u".into(),
        user,
    ];
    match &s.login.database {
        Some(db) => cmd.push(db.clone()),
        None => cmd.push("--all-databases".into()),
    }
    let partial = ctx.store.begin(&s.service, label, Format::SqlZst, now)?;
    let cmd = Command::new(cmd).env(env);
    let (partial, version) = tokio::join!(
        exec_to_file(docker, s, cmd, &dumper, partial, true, report),
        mysql_server_version(docker, s)
    );
    let (partial, version) = (partial?, version?);
    let fill = manifest(
        ctx,
        s,
        Kind::Mysql,
        Format::SqlZst,
        Some(version),
        label,
        now,
    );
    Ok(partial.finish(fill)?)
}

async fn redis(
    ctx: &Context,
    docker: &Docker,
    s: &Subject,
    label: Option<&str>,
    now: OffsetDateTime,
    report: &Reporter,
) -> Result<Entry, Error> {
    let before = redis_lastsave(docker, s).await?;
    let server_now: i64 = redis_cli(docker, s, &["TIME"])
        .await?
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    // LASTSAVE counts seconds: a save finishing in the second of the previous one would
    // not show.
    if before >= server_now {
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    report(Report::Step(format!("BGSAVE in {}", s.service)));
    let answer = redis_cli(docker, s, &["BGSAVE", "SCHEDULE"]).await?;
    if answer.starts_with("ERR") && !answer.contains("already in progress") {
        return Err(tool(s, "redis-cli BGSAVE", &answer));
    }
    let started = Instant::now();
    loop {
        tokio::time::sleep(BGSAVE_POLL).await;
        if redis_lastsave(docker, s).await? > before {
            break;
        }
        let info = redis_cli(docker, s, &["INFO", "persistence"]).await?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
                .map(str::to_string)
        };
        if field("rdb_bgsave_in_progress").as_deref() == Some("0")
            && field("rdb_last_bgsave_status").as_deref() == Some("err")
        {
            return Err(tool(
                s,
                "redis BGSAVE",
                "the background save failed (see its logs)",
            ));
        }
        if started.elapsed() > BGSAVE_LIMIT {
            return Err(Error::Timeout {
                what: format!("BGSAVE in {}", s.service),
                limit: BGSAVE_LIMIT,
            });
        }
    }
    let dir = redis_config(docker, s, "dir").await?;
    let file = redis_config(docker, s, "dbfilename").await?;
    let version = redis_cli(docker, s, &["INFO", "server"])
        .await?
        .lines()
        .find_map(|l| l.trim().strip_prefix("redis_version:").map(str::to_string));
    let path = format!("{}/{file}", dir.trim_end_matches('/'));
    let mut partial = ctx.store.begin(&s.service, label, Format::Rdb, now)?;
    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let mut meter = Meter::new(report.clone());
    let writer = tokio::task::spawn_blocking(move || -> io::Result<Partial> {
        let mut archive = tar::Archive::new(ChannelReader::new(rx));
        let mut found = false;
        for entry in archive.entries()? {
            let mut entry = entry?;
            if entry.header().entry_type().is_file() {
                copy_metered(&mut entry, partial.writer(), &mut meter)?;
                found = true;
                break;
            }
        }
        if !found {
            return Err(io::Error::other("the archive held no file"));
        }
        meter.emit();
        Ok(partial)
    });
    let pumped = pump_download(docker, s, &path, tx).await;
    let partial = join_writer(writer, s).await;
    pumped?;
    let partial = partial?;
    let fill = manifest(ctx, s, Kind::Redis, Format::Rdb, version, label, now);
    Ok(partial.finish(fill)?)
}

async fn volumes(
    ctx: &Context,
    docker: &Docker,
    s: &Subject,
    options: &BackupOptions,
    now: OffsetDateTime,
    report: &Reporter,
) -> Result<Entry, Error> {
    let label = options.label.as_deref();
    let stop = options.stop && s.running;
    if stop {
        report(Report::Step(format!(
            "stopping {} while its volumes are copied",
            s.service
        )));
        let opts = StopContainerOptions {
            t: Some(STOP_TIMEOUT_SECS),
            ..Default::default()
        };
        docker
            .stop_container(s.container.as_str(), Some(opts))
            .await?;
    }
    let result = copy_volumes(ctx, docker, s, label, now, report).await;
    if stop {
        report(Report::Step(format!("starting {}", s.service)));
        docker
            .start_container(s.container.as_str(), None::<StartContainerOptions>)
            .await?;
    }
    result
}

async fn copy_volumes(
    ctx: &Context,
    docker: &Docker,
    s: &Subject,
    label: Option<&str>,
    now: OffsetDateTime,
    report: &Reporter,
) -> Result<Entry, Error> {
    let mut partial = ctx.store.begin(&s.service, label, Format::TarZst, now)?;
    let (next_tx, mut next_rx) = mpsc::channel::<(usize, mpsc::Receiver<Bytes>)>(1);
    let mut meter = Meter::new(report.clone());
    // One tar of all the volumes: volume i's entries under `i/`, as the archive API gave
    // them (named after the mount point's last component).
    let writer = tokio::task::spawn_blocking(move || -> io::Result<Partial> {
        let mut encoder = zstd::Encoder::new(partial.writer(), ZSTD_LEVEL)?;
        encoder.include_checksum(true)?;
        let mut builder = tar::Builder::new(encoder);
        while let Some((index, rx)) = next_rx.blocking_recv() {
            let mut inner = tar::Archive::new(ChannelReader::new(rx));
            for entry in inner.entries()? {
                let mut entry = entry?;
                let mut header = entry.header().clone();
                let path = std::path::Path::new(&index.to_string()).join(entry.path()?);
                let size = entry.header().size()?;
                let kind = header.entry_type();
                if kind.is_symlink() || kind.is_hard_link() {
                    let target = entry
                        .link_name()?
                        .map(|t| t.into_owned())
                        .unwrap_or_default();
                    // A hard link names a path inside the archive, which moved under `i/`.
                    let target = if kind.is_hard_link() {
                        std::path::Path::new(&index.to_string()).join(target)
                    } else {
                        target
                    };
                    builder.append_link(&mut header, &path, &target)?;
                } else {
                    let mut counted = MeterReader {
                        inner: &mut entry,
                        meter: &mut meter,
                    };
                    header.set_size(size);
                    builder.append_data(&mut header, &path, &mut counted)?;
                }
            }
        }
        builder.into_inner()?.finish()?;
        meter.emit();
        Ok(partial)
    });
    let mut entries = Vec::new();
    let mut pumped = Ok(());
    for (index, (name, target)) in s.volumes.iter().enumerate() {
        report(Report::Step(format!("copying volume {name} ({target})")));
        let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
        if next_tx.send((index, rx)).await.is_err() {
            break;
        }
        pumped = pump_download(docker, s, target, tx).await;
        if pumped.is_err() {
            break;
        }
        entries.push(VolumeEntry {
            index,
            name: name.clone(),
            target: target.clone(),
        });
    }
    drop(next_tx);
    let partial = join_writer(writer, s).await;
    pumped?;
    let partial = partial?;
    let base = manifest(ctx, s, Kind::Volume, Format::TarZst, None, label, now);
    Ok(partial.finish(move |size, sha| Manifest {
        volumes: entries,
        database: None,
        ..base(size, sha)
    })?)
}

/// Streams the archive of `path` in `s`'s container into `tx`.
async fn pump_download(
    docker: &Docker,
    s: &Subject,
    path: &str,
    tx: mpsc::Sender<Bytes>,
) -> Result<(), Error> {
    let options = DownloadFromContainerOptions {
        path: path.to_string(),
    };
    let mut stream = docker.download_from_container(s.container.as_str(), Some(options));
    while let Some(chunk) = stream.next().await {
        // The writer stopped (a write error): it says why when joined.
        if tx.send(chunk?).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// Runs `cmd` in `s`'s container and writes its stdout into `partial` (zstd-compressed when
/// `zstd`), then checks how it ended.
async fn exec_to_file(
    docker: &Docker,
    s: &Subject,
    cmd: Command,
    tool_name: &str,
    mut partial: Partial,
    zstd: bool,
    report: &Reporter,
) -> Result<Partial, Error> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let mut meter = Meter::new(report.clone());
    let writer = tokio::task::spawn_blocking(move || -> io::Result<Partial> {
        if zstd {
            let mut encoder = zstd::Encoder::new(partial.writer(), ZSTD_LEVEL)?;
            encoder.include_checksum(true)?;
            while let Some(chunk) = rx.blocking_recv() {
                encoder.write_all(&chunk)?;
                meter.add(chunk.len());
            }
            encoder.finish()?;
        } else {
            while let Some(chunk) = rx.blocking_recv() {
                partial.writer().write_all(&chunk)?;
                meter.add(chunk.len());
            }
        }
        meter.emit();
        Ok(partial)
    });
    let outcome = pipe::pipe(docker, &s.container, &cmd, None, Some(tx)).await;
    // The writer's error explains an exec whose output could not be stored.
    let partial = join_writer(writer, s).await?;
    let outcome = outcome?;
    if !outcome.success() {
        return Err(server_tool(docker, s, tool_name, &outcome.reason()).await);
    }
    Ok(partial)
}

async fn join_writer(
    writer: tokio::task::JoinHandle<io::Result<Partial>>,
    s: &Subject,
) -> Result<Partial, Error> {
    match writer.await {
        Ok(Ok(partial)) => Ok(partial),
        Ok(Err(e)) => Err(Error::Other(format!(
            "cannot write the backup of {}: {e}",
            s.service
        ))),
        Err(e) => Err(Error::Other(format!("the backup writer failed: {e}"))),
    }
}

/// A tool that failed while a database server worked for it: the server's own log may say
/// why ("terminated by signal 9" from the kernel's OOM killer, a full disk) where the tool
/// only saw "server closed the connection unexpectedly".
pub(crate) async fn server_tool(
    docker: &Docker,
    s: &Subject,
    tool_name: &str,
    reason: &str,
) -> Error {
    let lines = logs::last_lines(docker, &s.container, SERVER_LOG_LINES).await;
    match lines
        .iter()
        .rev()
        .find(|l| SERVER_TROUBLE.iter().any(|m| l.contains(m)))
    {
        Some(why) => tool(
            s,
            tool_name,
            &format!("{}; the server's log says: {}", reason.trim(), why.trim()),
        ),
        None => tool(s, tool_name, reason),
    }
}

/// How far back the server's log is read for the cause of a failure.
const SERVER_LOG_LINES: usize = 100;
/// What PostgreSQL and MariaDB write when a process of theirs dies or the machine runs short.
const SERVER_TROUBLE: &[&str] = &[
    "terminated by signal",
    "out of memory",
    "Out of memory",
    "No space left on device",
    "PANIC:",
    "[ERROR]",
];

/// A tool's failure, its message masked of the service's password.
pub(crate) fn tool(s: &Subject, tool: &str, reason: &str) -> Error {
    Error::Tool {
        service: s.service.clone(),
        tool: tool.to_string(),
        reason: s.login.mask(reason.trim()),
    }
}

/// Runs a short command and returns its stdout; a failure is the tool's error.
pub(crate) async fn query(
    docker: &Docker,
    s: &Subject,
    cmd: Command,
    tool_name: &str,
) -> Result<String, Error> {
    let (outcome, out) = pipe::capture(docker, &s.container, &cmd).await?;
    if outcome.success() {
        Ok(out)
    } else {
        Err(tool(s, tool_name, &outcome.reason()))
    }
}

/// One SQL statement through the MariaDB/MySQL `client` as `user`: its rows, tab-separated,
/// without the column names.
pub(crate) async fn mysql_query(
    docker: &Docker,
    s: &Subject,
    client: &str,
    user: &str,
    sql: &str,
) -> Result<String, Error> {
    let cmd =
        Command::new([client, "-N", "-B", "-u", user, "-e", sql]).env(s.login.env(Kind::Mysql));
    query(docker, s, cmd, client).await
}

/// `SELECT VERSION()` of a MariaDB/MySQL service: `11.8.2-MariaDB-ubu2404`, `8.0.36`.
pub(crate) async fn mysql_server_version(docker: &Docker, s: &Subject) -> Result<String, Error> {
    let client = first_command(docker, s, &["mariadb", "mysql"]).await?;
    let user = s.login.user.clone().unwrap_or_else(|| "root".into());
    Ok(mysql_query(docker, s, &client, &user, "SELECT VERSION()")
        .await?
        .trim()
        .to_string())
}

/// The first of `names` the container has on its PATH.
pub(crate) async fn first_command(
    docker: &Docker,
    s: &Subject,
    names: &[&str],
) -> Result<String, Error> {
    let mut cmd = vec![
        "sh".to_string(),
        "-c".into(),
        r#"for c in "$@"; do command -v "$c" >/dev/null 2>&1 && { echo "$c"; exit 0; }; done; exit 1"#
            .into(),
        "sh".into(),
    ];
    cmd.extend(names.iter().map(|n| n.to_string()));
    let (outcome, out) = pipe::capture(docker, &s.container, &Command::new(cmd)).await?;
    match out.lines().next().map(str::trim) {
        Some(name) if outcome.success() && !name.is_empty() => Ok(name.to_string()),
        _ => Err(tool(
            s,
            names.join(" / ").as_str(),
            &format!("none of {} is installed in its container", names.join(", ")),
        )),
    }
}

/// `redis-cli ARGS` in the container; the password travels as REDISCLI_AUTH.
pub(crate) async fn redis_cli(
    docker: &Docker,
    s: &Subject,
    args: &[&str],
) -> Result<String, Error> {
    let mut cmd = vec!["redis-cli"];
    cmd.extend_from_slice(args);
    let out = query(
        docker,
        s,
        Command::new(cmd).env(s.login.env(Kind::Redis)),
        "redis-cli",
    )
    .await?;
    let first = out.trim_start();
    if ["NOAUTH", "WRONGPASS", "NOPERM"]
        .iter()
        .any(|e| first.starts_with(e))
    {
        return Err(tool(
            s,
            "redis-cli",
            &format!(
                "{}; set REDIS_PASSWORD in the service's environment",
                first.lines().next().unwrap_or_default()
            ),
        ));
    }
    Ok(out)
}

async fn redis_lastsave(docker: &Docker, s: &Subject) -> Result<i64, Error> {
    let out = redis_cli(docker, s, &["LASTSAVE"]).await?;
    out.trim()
        .parse()
        .map_err(|_| tool(s, "redis-cli LASTSAVE", &out))
}

/// `CONFIG GET name`: its value.
pub(crate) async fn redis_config(
    docker: &Docker,
    s: &Subject,
    name: &str,
) -> Result<String, Error> {
    let out = redis_cli(docker, s, &["CONFIG", "GET", name]).await?;
    let mut lines = out.lines();
    match (lines.next(), lines.next()) {
        (Some(key), Some(value)) if key.trim() == name => Ok(value.trim().to_string()),
        _ => Err(tool(s, &format!("redis-cli CONFIG GET {name}"), &out)),
    }
}

fn copy_metered(
    reader: &mut impl io::Read,
    writer: &mut impl Write,
    meter: &mut Meter,
) -> io::Result<u64> {
    let mut counted = MeterReader {
        inner: reader,
        meter,
    };
    io::copy(&mut counted, writer)
}

/// Counts what is read through it.
struct MeterReader<'a, R> {
    inner: &'a mut R,
    meter: &'a mut Meter,
}

impl<R: io::Read> io::Read for MeterReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.add(n);
        Ok(n)
    }
}
