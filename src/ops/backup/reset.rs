//! Reset: a service back to a fresh start. Its databases are backed up first (unless told
//! not to), then its containers and exactly its volumes go, and compose creates them again
//! and waits until they are healthy. `rebuild` is the sibling that keeps the data.

use std::collections::HashMap;

use bollard::query_parameters::{ListVolumesOptions, RemoveVolumeOptions};

use super::dump::{BackupOptions, backup_subject};
use super::store::Entry;
use super::{Context, Error, Report, Reporter, inspect};
use crate::ops::backend::Backend;

/// Compose's labels on the volumes it creates.
const PROJECT_LABEL: &str = "com.docker.compose.project";
const VOLUME_LABEL: &str = "com.docker.compose.volume";

/// A volume a reset wipes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Wiped {
    /// Its name on the engine.
    pub name: String,
    /// The services that mount it.
    pub used_by: Vec<String>,
    /// An anonymous volume (no name in the compose file), with where it is mounted.
    pub anonymous_at: Option<String>,
}

/// What a reset will do, for the confirmation that names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResetPlan {
    /// Services whose containers are removed and created again: those asked for and those
    /// that share a volume with them.
    pub services: Vec<String>,
    pub volumes: Vec<Wiped>,
    /// Database services backed up first.
    pub backups: Vec<String>,
}

impl ResetPlan {
    /// One sentence: what goes.
    pub fn describe(&self) -> String {
        let volumes = if self.volumes.is_empty() {
            "no volumes (none exist yet)".to_string()
        } else {
            self.volumes
                .iter()
                .map(|v| match &v.anonymous_at {
                    Some(at) => format!("{} (anonymous, {at})", v.name),
                    None => v.name.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "reset {}: delete {volumes}, recreate {}",
            self.services.join(", "),
            if self.services.len() == 1 {
                "it"
            } else {
                "them"
            }
        )
    }
}

/// What a reset did.
#[derive(Debug, Clone)]
pub struct ResetDone {
    pub plan: ResetPlan,
    pub backups: Vec<Entry>,
}

/// Works out what resetting `services` (or every service, `all`) wipes, touching nothing.
pub async fn plan(ctx: &Context, services: &[String], all: bool) -> Result<ResetPlan, Error> {
    let mut selected: Vec<String> = if all {
        ctx.project
            .services
            .iter()
            .map(|s| s.name.clone())
            .collect()
    } else {
        for s in services {
            ctx.check_service(s)?;
        }
        services.to_vec()
    };
    let docker = ctx.target.engine.get().await?;
    // The project's named volumes that exist, by their compose key.
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{PROJECT_LABEL}={}", ctx.project.name)],
    )]);
    let listed = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await?;
    let existing: HashMap<String, String> = listed
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| Some((v.labels.get(VOLUME_LABEL)?.clone(), v.name)))
        .collect();
    let keys_of = |service: &str| -> Vec<String> {
        ctx.project
            .service(service)
            .map(|s| {
                s.volumes
                    .iter()
                    .filter(|m| m.kind == "volume")
                    .filter_map(|m| m.source.clone())
                    .collect()
            })
            .unwrap_or_default()
    };
    // Services sharing a volume with one being reset are reset with it: the volume cannot go
    // while a container holds it.
    let mut keys: Vec<String> = selected.iter().flat_map(|s| keys_of(s)).collect();
    loop {
        let more: Vec<String> = ctx
            .project
            .all_services
            .iter()
            .filter(|s| !selected.contains(&s.name))
            .filter(|s| keys_of(&s.name).iter().any(|k| keys.contains(k)))
            .map(|s| s.name.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        for s in more {
            keys.extend(keys_of(&s));
            selected.push(s);
        }
    }
    keys.sort();
    keys.dedup();
    let order: Vec<String> = ctx
        .project
        .all_services
        .iter()
        .filter(|s| selected.contains(&s.name))
        .map(|s| s.name.clone())
        .collect();
    let mut volumes: Vec<Wiped> = keys
        .iter()
        .filter_map(|k| {
            let name = existing.get(k)?.clone();
            let used_by = order
                .iter()
                .filter(|s| keys_of(s).contains(k))
                .cloned()
                .collect();
            Some(Wiped {
                name,
                used_by,
                anonymous_at: None,
            })
        })
        .collect();
    let mut backups = Vec::new();
    for service in &order {
        let (backend, _) = ctx
            .target
            .locate(service)
            .await
            .map_err(|e| Error::Other(e.to_string()))?;
        match backend {
            Backend::Native(_) | Backend::Peer(_) => {
                return Err(Error::Other(format!(
                    "{service} runs natively: it has no container or volumes to reset"
                )));
            }
            Backend::Absent => continue,
            Backend::Container(_) => {}
        }
        let subject = inspect(ctx, service, &backend).await?;
        // Volumes the container has that the compose file does not name: anonymous ones
        // (an image's VOLUME), which `rm -v` removes with the container.
        for (name, target) in &subject.volumes {
            if !volumes.iter().any(|v| &v.name == name) && !existing.values().any(|n| n == name) {
                volumes.push(Wiped {
                    name: name.clone(),
                    used_by: vec![service.clone()],
                    anonymous_at: Some(target.clone()),
                });
            }
        }
        if subject.running && subject.kind.is_some_and(|k| k.is_database()) {
            backups.push(service.clone());
        }
    }
    Ok(ResetPlan {
        services: order,
        volumes,
        backups,
    })
}

/// Carries a reset out (the caller has confirmed `plan`).
pub async fn reset(
    ctx: &Context,
    plan: &ResetPlan,
    backup_first: bool,
    report: &Reporter,
) -> Result<ResetDone, Error> {
    let mut backups = Vec::new();
    if backup_first {
        for service in &plan.backups {
            let (backend, _) = ctx
                .target
                .locate(service)
                .await
                .map_err(|e| Error::Other(e.to_string()))?;
            let subject = inspect(ctx, service, &backend).await?;
            let options = BackupOptions {
                label: Some("before-reset".into()),
                stop: false,
            };
            backups.push(backup_subject(ctx, &subject, &options, report).await?);
        }
    }
    let docker = ctx.target.engine.get().await?;
    report(Report::Step(format!(
        "removing the containers of {}",
        plan.services.join(", ")
    )));
    let mut args: Vec<String> = ["rm", "-s", "-f", "-v"].map(String::from).to_vec();
    args.extend(plan.services.iter().cloned());
    ctx.target.compose.run(&args, |_| {}).await?;
    for v in plan.volumes.iter().filter(|v| v.anonymous_at.is_none()) {
        report(Report::Step(format!("removing volume {}", v.name)));
        match docker
            .remove_volume(&v.name, None::<RemoveVolumeOptions>)
            .await
        {
            Ok(()) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    report(Report::Step(format!(
        "creating {} again and waiting until healthy",
        plan.services.join(", ")
    )));
    let mut args: Vec<String> = ["up", "-d", "--wait"].map(String::from).to_vec();
    args.extend(plan.services.iter().cloned());
    ctx.target.compose.run(&args, |_| {}).await?;
    Ok(ResetDone {
        plan: plan.clone(),
        backups,
    })
}
