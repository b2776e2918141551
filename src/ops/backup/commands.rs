//! The CLI commands: `backup`, `backups` (list, verify, rm), `restore`, `reset`. Each loads
//! the project, resolves where its services run through `ops::backend`, asks before anything
//! destructive (naming what goes), and prints a table or JSON.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;

use super::dump::{self, BackupOptions};
use super::kind::Kind;
use super::load::{self, RestoreOptions, Source};
use super::store::Entry;
use super::{Context, Error, Report, Reporter, human_age, human_bytes, inspect, reset};
use crate::engine::client;
use crate::exit::{self, Failure};
use crate::ops::backend::{Backend, Target};
use crate::project::Discovery;

/// Asks a y/N question and returns the answer.
pub type Ask = Box<dyn Fn(&str) -> std::io::Result<bool> + Send + Sync>;

/// How a command may ask the user.
pub struct Prompter {
    /// `--yes`: every question is answered yes.
    pub yes: bool,
    /// Asks on the terminal; `None` when there is no terminal.
    pub ask: Option<Ask>,
}

impl Prompter {
    /// A confirmation of something destructive: without a terminal, `--yes` is required.
    pub fn confirm(&self, question: &str) -> anyhow::Result<bool> {
        if self.yes {
            return Ok(true);
        }
        match &self.ask {
            Some(ask) => Ok(ask(question)?),
            None => Err(Failure::usage(format!(
                "{question} — this needs confirmation: pass --yes when not on a terminal"
            ))
            .into()),
        }
    }
}

/// Options of `devtui backup`.
#[derive(Debug, Clone, Default)]
pub struct BackupCommand {
    /// Services to back up; none: every database service of the project.
    pub services: Vec<String>,
    pub label: Option<String>,
    /// A devtui profile whose `backups:` section applies.
    pub profile: Option<String>,
    pub json: bool,
}

/// Options of `devtui backups [SERVICE]`.
#[derive(Debug, Clone, Default)]
pub struct ListCommand {
    pub service: Option<String>,
    pub profile: Option<String>,
    pub json: bool,
}

/// Options of `devtui restore`.
#[derive(Debug, Clone)]
pub struct RestoreCommand {
    pub service: String,
    pub source: Source,
    pub profile: Option<String>,
    /// Skip the safety backup.
    pub no_backup: bool,
    pub json: bool,
}

/// Options of `devtui reset`.
#[derive(Debug, Clone, Default)]
pub struct ResetCommand {
    pub services: Vec<String>,
    pub all: bool,
    pub no_backup: bool,
    pub profile: Option<String>,
    pub json: bool,
}

/// Loads the project and opens its backups directory.
pub async fn context(discovery: &Discovery, profile: Option<&str>) -> anyhow::Result<Context> {
    let project = crate::project::load(discovery, &[])
        .await
        .map_err(Failure::from)?;
    let target = Target {
        engine: client::Lazy::default(),
        compose: crate::ops::compose_for(&project),
        project: project.name.clone(),
        natives: Default::default(),
    };
    Ok(Context::new(target, project, profile).map_err(Failure::usage)?)
}

fn fail(e: Error) -> anyhow::Error {
    Failure::from(e).into()
}

/// Progress on stderr: steps as lines, bytes on one line rewritten in place on a terminal.
fn stderr_reporter() -> Reporter {
    let tty = std::io::stderr().is_terminal();
    Arc::new(move |report| match report {
        Report::Step(text) => {
            if tty {
                eprint!("\r\x1b[K");
            }
            eprintln!("devtui: {text}");
        }
        Report::Bytes { bytes, per_sec } if tty => {
            eprint!(
                "\r\x1b[K  {} · {}/s",
                human_bytes(bytes),
                human_bytes(per_sec)
            );
            let _ = std::io::stderr().flush();
        }
        Report::Bytes { .. } => {}
    })
}

async fn locate(ctx: &Context, service: &str) -> Result<Backend, Error> {
    ctx.check_service(service)?;
    let (backend, _) = ctx.target.locate(service).await.map_err(|e| match e {
        crate::ops::backend::Error::Connect(c) => Error::Connect(c),
        other => Error::Other(other.to_string()),
    })?;
    Ok(backend)
}

/// `devtui backup [SERVICE...] [--label TEXT]`.
pub async fn backup(
    discovery: &Discovery,
    cmd: BackupCommand,
    prompter: &Prompter,
) -> anyhow::Result<i32> {
    let ctx = context(discovery, cmd.profile.as_deref()).await?;
    let report = stderr_reporter();
    let named = !cmd.services.is_empty();
    let services: Vec<String> = if named {
        cmd.services.clone()
    } else {
        ctx.project
            .services
            .iter()
            .map(|s| s.name.clone())
            .collect()
    };
    let mut made: Vec<Entry> = Vec::new();
    let mut failures: Vec<Error> = Vec::new();
    for service in &services {
        let backend = match locate(&ctx, service).await {
            Ok(b) => b,
            Err(e) if named => return Err(fail(e)),
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        // With no service named, only databases: a service whose model says it is one but
        // has no running container is a failure; anything else is passed by.
        let subject = match inspect(&ctx, service, &backend).await {
            Ok(s) => s,
            Err(e @ (Error::NoContainer { .. } | Error::Native { .. })) if !named => {
                if model_is_database(&ctx, service) {
                    failures.push(e);
                }
                continue;
            }
            Err(e) if named => return Err(fail(e)),
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        if !named && !subject.kind.is_some_and(Kind::is_database) {
            continue;
        }
        let mut options = BackupOptions {
            label: cmd.label.clone(),
            stop: false,
        };
        if subject.backup_kind().map_err(fail)? == Kind::Volume && subject.running {
            let names: Vec<&str> = subject.volumes.iter().map(|(n, _)| n.as_str()).collect();
            let question = format!(
                "stop {service} while its volumes ({}) are copied, for consistent files? (no: copy them live)",
                names.join(", ")
            );
            options.stop = match &prompter.ask {
                _ if prompter.yes => true,
                Some(ask) => ask(&question)?,
                None => {
                    eprintln!(
                        "devtui: copying {service}'s volumes while it runs (pass --yes to stop it meanwhile)"
                    );
                    false
                }
            };
        }
        match dump::backup_subject(&ctx, &subject, &options, &report).await {
            Ok(entry) => {
                if std::io::stderr().is_terminal() {
                    eprint!("\r\x1b[K");
                }
                if !cmd.json {
                    println!(
                        "{}  {}  {}  {}",
                        entry.short_id(),
                        entry.manifest.service,
                        human_bytes(entry.manifest.size),
                        entry.path.display()
                    );
                }
                made.push(entry);
            }
            Err(e) if named && services.len() == 1 => return Err(fail(e)),
            Err(e) => failures.push(e),
        }
    }
    if cmd.json {
        let list: Vec<_> = made.iter().map(Entry::json).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    }
    if made.is_empty() && failures.is_empty() {
        return Err(fail(Error::NoDatabases {
            project: ctx.project.name.clone(),
        }));
    }
    for e in &failures {
        eprintln!("devtui: {e}");
    }
    Ok(if failures.is_empty() {
        exit::OK
    } else {
        failures
            .iter()
            .map(Error::exit_code)
            .max()
            .unwrap_or(exit::FAILED)
    })
}

/// Whether the compose model alone says `service` is a database (its container is gone).
fn model_is_database(ctx: &Context, service: &str) -> bool {
    ctx.project.service(service).is_some_and(|s| {
        let facts = super::kind::Facts {
            image: s.image.clone().unwrap_or_default(),
            labels: s.labels.clone(),
            ..Default::default()
        };
        matches!(super::kind::detect(&facts), Ok(Some(k)) if k.is_database())
    })
}

/// `devtui backups [SERVICE] [--json]`.
pub async fn list(discovery: &Discovery, cmd: ListCommand) -> anyhow::Result<i32> {
    let ctx = context(discovery, cmd.profile.as_deref()).await?;
    if let Some(s) = &cmd.service {
        ctx.check_service(s).map_err(fail)?;
    }
    let entries = ctx
        .store
        .list(cmd.service.as_deref())
        .map_err(|e| fail(e.into()))?;
    if cmd.json {
        let list: Vec<_> = entries.iter().map(Entry::json).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(exit::OK);
    }
    if entries.is_empty() {
        eprintln!("devtui: no backups in {}", ctx.store.dir.display());
        return Ok(exit::OK);
    }
    print!("{}", table(&entries, OffsetDateTime::now_utc()));
    Ok(exit::OK)
}

/// The backups as a table: id, service, kind, age, size, label.
pub fn table(entries: &[Entry], now: OffsetDateTime) -> String {
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            [
                e.short_id().to_string(),
                e.manifest.service.clone(),
                e.manifest.kind.to_string(),
                human_age((now - e.created).whole_seconds()),
                human_bytes(e.manifest.size),
                e.manifest.label.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["ID", "SERVICE", "KIND", "AGE", "SIZE", "LABEL"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `devtui backups verify ID`: the sha256 and the structure, plus `pg_restore --list` in
/// the service's container when it runs.
pub async fn verify(
    discovery: &Discovery,
    id: &str,
    profile: Option<&str>,
    json: bool,
) -> anyhow::Result<i32> {
    let ctx = context(discovery, profile).await?;
    let entry = ctx.store.find(id).map_err(|e| fail(e.into()))?;
    let mut checks = Vec::new();
    let result = async {
        let checked = load::verify_file(&entry.path, entry.manifest.format, Some(&entry)).await?;
        checks.push(format!(
            "sha256 {} matches its manifest",
            &checked.sha256[..16]
        ));
        checks.push(checked.structure.clone());
        if entry.manifest.format == super::format::Format::PgCustom {
            match running_subject(&ctx, &entry.manifest.service).await {
                Some(s) => {
                    let docker = ctx.target.engine.get().await?;
                    let format = entry.manifest.format;
                    // An older pg_restore calls a newer archive damaged: it is not.
                    match load::pg_version_gap(&docker, &s, &entry.path, format, &checked, Some(&entry))
                        .await?
                    {
                        Some(gap) => checks.push(format!(
                            "pg_restore --list skipped: the archive needs pg_restore {} or newer, {} runs PostgreSQL {}",
                            gap.needs, entry.manifest.service, gap.runs
                        )),
                        None => checks.push(load::pg_list(&docker, &s, &entry.path).await?),
                    }
                }
                None => checks.push(format!(
                    "pg_restore --list skipped: {} is not running",
                    entry.manifest.service
                )),
            }
        }
        Ok::<(), Error>(())
    }
    .await;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "id": entry.id,
                "path": entry.path,
                "ok": result.is_ok(),
                "checks": checks,
                "error": result.as_ref().err().map(ToString::to_string),
            }))?
        );
    } else {
        for c in &checks {
            println!("✓ {c}");
        }
    }
    match result {
        Ok(()) => {
            if !json {
                println!("{} ({}) is whole", entry.short_id(), entry.manifest.file);
            }
            Ok(exit::OK)
        }
        Err(e) => Err(fail(e)),
    }
}

async fn running_subject(ctx: &Context, service: &str) -> Option<super::Subject> {
    let backend = locate(ctx, service).await.ok()?;
    let s = inspect(ctx, service, &backend).await.ok()?;
    s.running.then_some(s)
}

/// `devtui backups rm ID`.
pub async fn remove(
    discovery: &Discovery,
    id: &str,
    profile: Option<&str>,
    json: bool,
    prompter: &Prompter,
) -> anyhow::Result<i32> {
    let ctx = context(discovery, profile).await?;
    let entry = ctx.store.find(id).map_err(|e| fail(e.into()))?;
    let question = format!(
        "delete backup {} of {} ({}, {})?",
        entry.short_id(),
        entry.manifest.service,
        entry.manifest.file,
        human_bytes(entry.manifest.size)
    );
    if !prompter.confirm(&question)? {
        eprintln!("devtui: nothing done");
        return Ok(exit::FAILED);
    }
    ctx.store.remove(&entry).map_err(|e| fail(e.into()))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "removed": entry.json() }))?
        );
    } else {
        println!("deleted {} ({})", entry.short_id(), entry.manifest.file);
    }
    Ok(exit::OK)
}

/// `devtui restore SERVICE [ID | PATH | --latest]`.
pub async fn restore(
    discovery: &Discovery,
    cmd: RestoreCommand,
    prompter: &Prompter,
) -> anyhow::Result<i32> {
    let ctx = context(discovery, cmd.profile.as_deref()).await?;
    let backend = locate(&ctx, &cmd.service).await.map_err(fail)?;
    let plan = load::plan(&ctx, &cmd.service, &backend, &cmd.source)
        .await
        .map_err(fail)?;
    let mut question = format!("{}?", plan.describe());
    if !cmd.no_backup {
        question.push_str(" (a safety backup is taken first)");
    }
    if !prompter.confirm(&question)? {
        eprintln!("devtui: nothing done");
        return Ok(exit::FAILED);
    }
    let options = RestoreOptions {
        safety_backup: !cmd.no_backup,
    };
    let done = load::restore(&ctx, &plan, options, &stderr_reporter())
        .await
        .map_err(fail)?;
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
    if cmd.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "service": done.service,
                "from": done.path,
                "checked": done.checked,
                "safety_backup": done.safety.as_ref().map(Entry::json),
            }))?
        );
    } else {
        println!(
            "{} restored from {} ({})",
            done.service,
            done.path.display(),
            done.checked
        );
        if let Some(s) = &done.safety {
            println!("safety backup: {} ({})", s.short_id(), s.path.display());
        }
    }
    Ok(exit::OK)
}

/// `devtui reset [SERVICE...|--all]`.
pub async fn reset(
    discovery: &Discovery,
    cmd: ResetCommand,
    prompter: &Prompter,
) -> anyhow::Result<i32> {
    if cmd.services.is_empty() && !cmd.all {
        return Err(
            Failure::usage("name the services to reset, or pass --all for every service").into(),
        );
    }
    let ctx = context(discovery, cmd.profile.as_deref()).await?;
    let plan = reset::plan(&ctx, &cmd.services, cmd.all)
        .await
        .map_err(fail)?;
    // `--no-backup` or the profile's `backups.before_reset: false` skip the backup.
    let backup_first = !cmd.no_backup && ctx.before_reset;
    let mut question = format!("{}?", plan.describe());
    if backup_first && !plan.backups.is_empty() {
        question.push_str(&format!(" ({} backed up first)", plan.backups.join(", ")));
    }
    if !prompter.confirm(&question)? {
        eprintln!("devtui: nothing done");
        return Ok(exit::FAILED);
    }
    let done = reset::reset(&ctx, &plan, backup_first, &stderr_reporter())
        .await
        .map_err(fail)?;
    if cmd.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "services": done.plan.services,
                "volumes": done.plan.volumes,
                "backups": done.backups.iter().map(Entry::json).collect::<Vec<_>>(),
            }))?
        );
    } else {
        for b in &done.backups {
            println!("backed up {} first: {}", b.manifest.service, b.short_id());
        }
        println!(
            "reset {} ({} volume{} deleted)",
            done.plan.services.join(", "),
            done.plan.volumes.len(),
            if done.plan.volumes.len() == 1 {
                ""
            } else {
                "s"
            }
        );
    }
    Ok(exit::OK)
}

/// Which backup `restore SERVICE ARG` means: a file that exists, or anything with a slash,
/// is a path; anything else an id (a unique prefix, or a file name in the store).
pub fn source_of(arg: &str) -> Source {
    let path = PathBuf::from(arg);
    if arg.contains('/') || path.is_file() {
        Source::Path(path)
    } else {
        Source::Id(arg.to_string())
    }
}
