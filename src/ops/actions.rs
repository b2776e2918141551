//! One-service actions shared by the TUI and the CLI: restart, stop, start, rebuild, open.
//!
//! Restart, stop and start control the service's container through the Engine API; start of
//! a service with no container and rebuild (build + `up -d --force-recreate --no-deps`) go
//! through the compose CLI, like all lifecycle work.

use std::io::IsTerminal;

use bollard::Docker;
use bollard::query_parameters::{
    RestartContainerOptions, StartContainerOptions, StopContainerOptions,
};

use crate::cli::{ProjectArgs, ServiceArgs};
use crate::engine::compose::Compose;
use crate::engine::{ContainerState, ServiceStatus, watch};
use crate::exit::{self, Failure};

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

/// Why an action failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Engine(#[from] bollard::errors::Error),
    #[error("{0}")]
    Compose(#[from] crate::engine::compose::Error),
    #[error("{service} has no container; start it with `devtui start {service}`")]
    NoContainer { service: String },
    #[error("{service} publishes no port")]
    NoPort { service: String },
    #[error("cannot open {url}: {reason}")]
    Open { url: String, reason: String },
}

/// Seconds a container gets to stop before it is killed (compose's default).
const STOP_TIMEOUT_SECS: i32 = 10;

/// What an action needs: the engine, compose for the project, and the project's name.
#[derive(Clone)]
pub struct Target {
    pub docker: Docker,
    pub compose: Compose,
    pub project: String,
}

impl Target {
    /// The service's status, from the engine (its container if any).
    pub async fn status(&self, service: &str) -> Result<Option<ServiceStatus>, Error> {
        let all = watch::snapshot(&self.docker, &self.project).await?;
        // Prefer a running container when several exist (scaled services).
        let mut mine: Vec<ServiceStatus> =
            all.into_iter().filter(|s| s.service == service).collect();
        mine.sort_by_key(|s| s.state != ContainerState::Running);
        Ok(mine.into_iter().next())
    }

    /// Performs `action` on `service`; `on_line` gets the progress output of compose (rebuild).
    /// Returns a one-line message for the user.
    pub async fn perform(
        &self,
        service: &str,
        action: Action,
        mut on_line: impl FnMut(String),
    ) -> Result<String, Error> {
        let status = self.status(service).await?;
        let container = status.as_ref().and_then(|s| s.container_id.clone());
        match action {
            Action::Restart => {
                let id = container.ok_or_else(|| Error::NoContainer {
                    service: service.into(),
                })?;
                let opts = RestartContainerOptions {
                    t: Some(STOP_TIMEOUT_SECS),
                    ..Default::default()
                };
                self.docker.restart_container(&id, Some(opts)).await?;
                Ok(format!("{service} restarted"))
            }
            Action::Stop => {
                let id = container.ok_or_else(|| Error::NoContainer {
                    service: service.into(),
                })?;
                let opts = StopContainerOptions {
                    t: Some(STOP_TIMEOUT_SECS),
                    ..Default::default()
                };
                self.docker.stop_container(&id, Some(opts)).await?;
                Ok(format!("{service} stopped"))
            }
            Action::Start => {
                match container {
                    Some(id) => {
                        self.docker
                            .start_container(&id, None::<StartContainerOptions>)
                            .await?
                    }
                    // No container yet: compose creates it (and what it depends on).
                    None => {
                        self.compose
                            .run(&["up", "-d", service], |l| on_line(l.text))
                            .await?
                    }
                }
                Ok(format!("{service} started"))
            }
            Action::Rebuild => {
                self.compose
                    .build(&[service.to_string()], |l| on_line(l.text))
                    .await?;
                self.compose
                    .run(
                        &["up", "-d", "--force-recreate", "--no-deps", service],
                        |l| on_line(l.text),
                    )
                    .await?;
                Ok(format!("{service} rebuilt and recreated"))
            }
            Action::Open => {
                let url =
                    status
                        .as_ref()
                        .and_then(|s| url(&s.ports))
                        .ok_or_else(|| Error::NoPort {
                            service: service.into(),
                        })?;
                open_url(&url).await?;
                Ok(format!("opened {url}"))
            }
        }
    }
}

/// The URL `open` goes to: the first published port a browser can open, else the first
/// published port at all (the desktop may have a handler for its scheme).
pub fn url(ports: &[crate::engine::PublishedPort]) -> Option<String> {
    ports
        .iter()
        .find(|p| p.is_web())
        .or_else(|| ports.first())
        .map(crate::engine::PublishedPort::url)
}

/// Opens a URL with the desktop's opener, its output discarded (the TUI owns the terminal).
pub async fn open_url(url: &str) -> Result<(), Error> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let status = tokio::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| Error::Open {
            url: url.into(),
            reason: format!("{opener}: {e}"),
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Open {
            url: url.into(),
            reason: format!("{opener} exited with {status}"),
        })
    }
}

/// Loads the project, checks the service name and connects: what every CLI action needs.
pub async fn target_for(project: &ProjectArgs, service: &str) -> anyhow::Result<Target> {
    let project = crate::project::load(project, &[])
        .await
        .map_err(Failure::from)?;
    if project.service(service).is_none() && !project.all_services.iter().any(|s| s.name == service)
    {
        let names: Vec<&str> = project
            .all_services
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        return Err(Failure::usage(format!(
            "unknown service {service:?} in project {}; services: {}",
            project.name,
            names.join(", ")
        ))
        .into());
    }
    let docker = crate::engine::client::connect()
        .await
        .map_err(|e| Failure::new(exit::NO_ENGINE, e.to_string()))?;
    Ok(Target {
        docker,
        compose: Compose::for_project(&project),
        project: project.name,
    })
}

/// `devtui restart|stop|start|rebuild|open SERVICE`.
pub async fn run(project: &ProjectArgs, action: Action, args: ServiceArgs) -> anyhow::Result<i32> {
    let target = target_for(project, &args.service).await?;
    if action.destructive() && !args.yes && !confirm(action, &args.service)? {
        eprintln!("devtui: nothing done");
        return Ok(exit::FAILED);
    }
    let failed = |e: String| {
        Failure::new(
            exit::FAILED,
            format!("{} {}: {e}", action.verb(), args.service),
        )
    };
    if let Some(result) = super::native_control::act(&target.project, &args.service, action).await {
        println!("{}", result.map_err(failed)?);
        return Ok(exit::OK);
    }
    let message = target
        .perform(&args.service, action, |line| eprintln!("{line}"))
        .await
        .map_err(|e| match e {
            Error::NoContainer { .. } | Error::NoPort { .. } => {
                Failure::new(exit::FAILED, e.to_string())
            }
            other => failed(other.to_string()),
        })?;
    println!("{message}");
    Ok(exit::OK)
}

/// Asks on the terminal; without one, `--yes` is required.
fn confirm(action: Action, service: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "{} {service} needs confirmation: pass --yes when not on a terminal",
            action.verb()
        ))
        .into());
    }
    eprint!("{} {service}? [y/N] ", action.verb());
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
