//! One-service actions shared by the TUI and the CLI: restart, stop, start, rebuild, open.
//!
//! Where the service runs decides how (`backend`): a container's restart, stop and start go
//! through the Engine API; start of a service with no container and rebuild (build +
//! `up -d --force-recreate --no-deps`) through the compose CLI, like all lifecycle work; a
//! native service's through its supervisor.

use super::backend::{Backend, Error, Target};
use crate::engine::client;
use crate::exit::{self, Failure};
use crate::project::Discovery;

/// An action on one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Restart,
    Stop,
    Start,
    Rebuild,
    Open,
}

impl Action {
    /// The verb, for prompts and messages.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Restart => "restart",
            Action::Stop => "stop",
            Action::Start => "start",
            Action::Rebuild => "rebuild",
            Action::Open => "open",
        }
    }

    /// Whether the action interrupts a running service, so the user confirms it first.
    pub fn destructive(self) -> bool {
        matches!(self, Action::Restart | Action::Stop | Action::Rebuild)
    }
}

/// Loads the project and checks the service name: what every CLI action needs. The engine is
/// connected when an action needs it (a native service's does not).
pub async fn target_for(project: &Discovery, service: &str) -> anyhow::Result<Target> {
    let project = crate::project::load(project, &[])
        .await
        .map_err(Failure::from)?;
    if project.service(service).is_none() {
        return Err(Failure::usage(project.unknown_service(service)).into());
    }
    Ok(Target {
        engine: client::Lazy::default(),
        compose: crate::ops::compose_for(&project),
        project: project.name,
        natives: Default::default(),
    })
}

/// `devtui restart|stop|start|rebuild|open SERVICE` (the caller has confirmed it).
pub async fn run(project: &Discovery, action: Action, service: &str) -> anyhow::Result<i32> {
    let target = target_for(project, service).await?;
    let failed = |e: Error| match e {
        Error::NoContainer { .. } | Error::NoPort { .. } => {
            Failure::new(exit::FAILED, e.to_string())
        }
        Error::Connect(_) => Failure::new(exit::NO_ENGINE, e.to_string()),
        other => Failure::new(
            exit::FAILED,
            format!("{} {service}: {other}", action.verb()),
        ),
    };
    let (backend, status) = target.locate(service).await.map_err(failed)?;
    if matches!(backend, Backend::Container(_)) && Target::acts_on_each_replica(action) {
        let replicas = target.replicas(service).await.map_err(failed)?;
        if replicas.len() > 1 {
            let message = target
                .perform_each(service, action, replicas)
                .await
                .map_err(|e| {
                    Failure::new(exit::FAILED, format!("{} {service}: {e}", action.verb()))
                })?;
            println!("{message}");
            return Ok(exit::OK);
        }
    }
    let message = target
        .perform(&backend, service, action, status.as_ref(), |line| {
            eprintln!("{line}")
        })
        .await
        .map_err(failed)?;
    println!("{message}");
    Ok(exit::OK)
}
