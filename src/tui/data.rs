//! The runner's side of data work (backups, restore, delete, reset): what an operation will
//! do, worked out to be named in a confirmation, and the operation itself, both through
//! `ops::backup` with the service resolved by the runner (`ops::backend::Target::resolve`).

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::ops::backend::Backend;
use crate::ops::backup::dump::{self, BackupOptions};
use crate::ops::backup::load::{self, RestoreOptions, Source};
use crate::ops::backup::{Context, Kind, Reporter, human_bytes, inspect, reset};
use crate::tui::format::capitalise;
use crate::tui::msg::{DataOp, Msg, Question};

/// Works out what `op` does: `Some` is the question naming it, `None` nothing to ask.
/// Returns the op to run on yes (a volume backup becomes one that stops the service).
pub async fn plan(
    ctx: &Context,
    op: DataOp,
    backend: Backend,
) -> (DataOp, Result<Option<Question>, String>) {
    let result = match &op {
        DataOp::Backup { service, .. } => match inspect(ctx, service, &backend).await {
            Ok(s) => match s.backup_kind() {
                Ok(Kind::Volume) if s.running => {
                    let names: Vec<&str> = s.volumes.iter().map(|(n, _)| n.as_str()).collect();
                    let question = Question {
                        text: format!(
                            "Stop {service} while its volumes ({}) are copied? y stop · n copy live",
                            names.join(", ")
                        ),
                        no: Some(DataOp::Backup {
                            service: service.clone(),
                            stop: false,
                        }),
                    };
                    let yes = DataOp::Backup {
                        service: service.clone(),
                        stop: true,
                    };
                    return (yes, Ok(Some(question)));
                }
                Ok(_) => Ok(None),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        },
        DataOp::Restore { service, id } => {
            load::plan(ctx, service, &backend, &Source::Id(id.clone()))
                .await
                .map(|p| {
                    Some(Question {
                        text: format!(
                            "{}? (a safety backup is taken first)",
                            capitalise(&p.describe())
                        ),
                        no: None,
                    })
                })
                .map_err(|e| e.to_string())
        }
        DataOp::Reset { service } => reset::plan(ctx, std::slice::from_ref(service), false)
            .await
            .map(|p| {
                let mut text = format!("{}?", capitalise(&p.describe()));
                if ctx.before_reset && !p.backups.is_empty() {
                    text.push_str(&format!(" ({} backed up first)", p.backups.join(", ")));
                }
                Some(Question { text, no: None })
            })
            .map_err(|e| e.to_string()),
        DataOp::Delete { .. } => Ok(None),
    };
    (op, result)
}

/// Carries `op` out; steps and progress go to `tx` as they happen.
pub async fn run(
    ctx: &Context,
    op: &DataOp,
    backend: Backend,
    tx: mpsc::Sender<Msg>,
) -> Result<String, String> {
    let service = op.service().to_string();
    let report: Reporter = Arc::new(move |report| {
        // Progress is best effort: a full channel drops a report, never blocks the copy.
        let _ = tx.try_send(Msg::DataProgress {
            service: service.clone(),
            report,
        });
    });
    match op {
        DataOp::Backup { service, stop } => {
            let options = BackupOptions {
                label: None,
                stop: *stop,
            };
            let e = dump::backup(ctx, service, &backend, &options, &report)
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "backed up {service}: {} ({}) in {}",
                e.short_id(),
                human_bytes(e.manifest.size),
                ctx.store.dir.display()
            ))
        }
        DataOp::Restore { service, id } => {
            let plan = load::plan(ctx, service, &backend, &Source::Id(id.clone()))
                .await
                .map_err(|e| e.to_string())?;
            let options = RestoreOptions {
                safety_backup: true,
            };
            let done = load::restore(ctx, &plan, options, &report)
                .await
                .map_err(|e| e.to_string())?;
            let safety = done
                .safety
                .map(|s| format!("; safety backup {}", s.short_id()))
                .unwrap_or_default();
            Ok(format!(
                "{service} restored from {}{safety}",
                plan.entry
                    .as_ref()
                    .map(|e| e.short_id().to_string())
                    .unwrap_or_else(|| plan.path.display().to_string())
            ))
        }
        DataOp::Delete { id, .. } => {
            let entry = ctx.store.find(id).map_err(|e| e.to_string())?;
            ctx.store.remove(&entry).map_err(|e| e.to_string())?;
            Ok(format!(
                "deleted backup {} of {}",
                entry.short_id(),
                entry.manifest.service
            ))
        }
        DataOp::Reset { service } => {
            let plan = reset::plan(ctx, std::slice::from_ref(service), false)
                .await
                .map_err(|e| e.to_string())?;
            let done = reset::reset(ctx, &plan, ctx.before_reset, &report)
                .await
                .map_err(|e| e.to_string())?;
            let backups: Vec<String> = done
                .backups
                .iter()
                .map(|b| b.short_id().to_string())
                .collect();
            let mut text = format!(
                "reset {}: {} volume{} deleted",
                done.plan.services.join(", "),
                done.plan.volumes.len(),
                if done.plan.volumes.len() == 1 {
                    ""
                } else {
                    "s"
                }
            );
            if !backups.is_empty() {
                text.push_str(&format!("; backed up first: {}", backups.join(", ")));
            }
            Ok(text)
        }
    }
}
