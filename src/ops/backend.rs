//! Where a service runs, decided in one place, and every action on a service carried out
//! through that answer: a container of the engine, a native process of this devtui, or a
//! native process of another devtui (reached through its socket). The TUI's runner and the
//! CLI commands both resolve here; nothing else tells the kinds apart.

use std::sync::Arc;

use bollard::query_parameters::{
    RestartContainerOptions, StartContainerOptions, StopContainerOptions,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::actions::Action;
use crate::engine::compose::Compose;
use crate::engine::logs::{LogEvent, LogStart};
use crate::engine::stats::Stats;
use crate::engine::{
    ContainerId, ContainerState, PublishedPort, Runtime, ServiceStatus, client, logs, stats, watch,
};
use crate::supervisor::observe::{self, Native};
use crate::supervisor::set::NativeSet;
use crate::supervisor::{Control, control, lifecycle};

/// Seconds a container gets to stop before it is killed (compose's default).
pub(crate) const STOP_TIMEOUT_SECS: i32 = 10;

/// Where a service runs.
#[derive(Clone)]
pub enum Backend {
    /// A container of the engine.
    Container(ContainerId),
    /// A native process this devtui supervises.
    Native(Arc<Native>),
    /// A native process another devtui supervises, reached through its socket.
    Peer(Peer),
    /// Nothing runs it: compose creates its container on start.
    Absent,
}

/// The devtui that runs a service natively for the project.
#[derive(Debug, Clone)]
pub struct Peer {
    pub project: String,
    /// That devtui's process id, when it has said.
    pub devtui_pid: Option<u32>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Container(id) => f.debug_tuple("Container").field(id).finish(),
            Backend::Native(n) => f.debug_tuple("Native").field(&n.service.name).finish(),
            Backend::Peer(p) => f.debug_tuple("Peer").field(p).finish(),
            Backend::Absent => f.write_str("Absent"),
        }
    }
}

/// Why an action on a service failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Connect(#[from] client::Error),
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
    #[error("{service} runs natively: nothing to build; restart it instead")]
    NothingToBuild { service: String },
    /// The native process's supervisor (here or in the other devtui) answered with an error.
    #[error("{0}")]
    Native(String),
}

/// What acting on a project's services needs: the engine (connected on first use), compose
/// for the project, its name, and the native services this devtui runs.
#[derive(Clone)]
pub struct Target {
    pub engine: client::Lazy,
    pub compose: Compose,
    pub project: String,
    pub natives: NativeSet,
}

impl Target {
    /// The one answer to "where does `service` run", from what is known of it: its row in the
    /// TUI, or what the engine and the other devtui said (`locate`).
    pub fn resolve(&self, service: &str, status: Option<&ServiceStatus>) -> Backend {
        if let Some(native) = self.natives.find(service) {
            return Backend::Native(native);
        }
        match status.map(|s| &s.runtime) {
            Some(Runtime::Container { id, .. }) => Backend::Container(id.clone()),
            Some(Runtime::Native { .. }) => Backend::Peer(Peer {
                project: self.project.clone(),
                devtui_pid: None,
            }),
            Some(Runtime::Absent { .. }) | None => Backend::Absent,
        }
    }

    /// Asks where `service` runs now: this devtui's own native services, another devtui's,
    /// else the engine's containers (a running one first when the service is scaled).
    pub async fn locate(&self, service: &str) -> Result<(Backend, Option<ServiceStatus>), Error> {
        if let Some(native) = self.natives.find(service) {
            let status = lifecycle::status(&native);
            return Ok((Backend::Native(native), Some(status)));
        }
        if let Some(remote) = control::status(&self.project).await
            && let Some(status) = remote.get(service)
        {
            let peer = Peer {
                project: self.project.clone(),
                devtui_pid: Some(remote.pid),
            };
            return Ok((Backend::Peer(peer), Some(status.clone())));
        }
        let mut mine = self.containers(service).await?;
        mine.sort_by_key(|s| s.state != ContainerState::Running);
        let status = mine.into_iter().next();
        Ok((self.resolve(service, status.as_ref()), status))
    }

    /// The statuses of `service`'s containers, as the engine lists them now.
    async fn containers(&self, service: &str) -> Result<Vec<ServiceStatus>, Error> {
        let docker = self.engine.get().await?;
        Ok(watch::snapshot(&docker, &self.project)
            .await?
            .into_iter()
            .filter(|s| s.service == service)
            .collect())
    }

    /// The containers of `service` in the engine, with compose's replica numbers (else
    /// their place), in that order.
    pub async fn replicas(&self, service: &str) -> Result<Vec<(u32, ContainerId)>, Error> {
        let mut mine = self.containers(service).await?;
        mine.sort_by_key(|s| (s.replica.unwrap_or(u32::MAX), s.container_id().cloned()));
        Ok(mine
            .iter()
            .zip(1..)
            .filter_map(|(s, place)| Some((s.replica.unwrap_or(place), s.container_id()?.clone())))
            .collect())
    }

    /// Restarts, stops or starts every replica of a scaled service at once: the service is
    /// what the user named, not one of its containers. An error names the replica (`#N`).
    pub async fn perform_each(
        &self,
        service: &str,
        action: Action,
        replicas: Vec<(u32, ContainerId)>,
    ) -> Result<String, String> {
        let count = replicas.len();
        let results =
            futures_util::future::join_all(replicas.into_iter().map(|(n, id)| async move {
                let backend = Backend::Container(id);
                let result = self.perform(&backend, service, action, None, |_| {}).await;
                result.map_err(|e| format!("#{n}: {e}"))
            }))
            .await;
        let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        let done = match action {
            Action::Stop => "stopped",
            Action::Start => "started",
            _ => "restarted",
        };
        Ok(format!("{service}: {count} replicas {done}"))
    }

    /// Whether `action` on a scaled service acts on each replica (`perform_each`) rather
    /// than on the service as a whole.
    pub fn acts_on_each_replica(action: Action) -> bool {
        matches!(action, Action::Restart | Action::Stop | Action::Start)
    }

    /// Performs `action` on `service`, which runs on `backend` with `status` (its ports, for
    /// open); `on_line` gets compose's progress (a rebuild's build output). Returns a
    /// one-line message for the user.
    pub async fn perform(
        &self,
        backend: &Backend,
        service: &str,
        action: Action,
        status: Option<&ServiceStatus>,
        mut on_line: impl FnMut(String),
    ) -> Result<String, Error> {
        let no_container = || Error::NoContainer {
            service: service.into(),
        };
        if action == Action::Open {
            let ports = status.map(|s| s.ports.as_slice()).unwrap_or_default();
            let url = url(ports)
                .or_else(|| match backend {
                    Backend::Native(n) => n.service.healthcheck.clone(),
                    _ => None,
                })
                .ok_or_else(|| Error::NoPort {
                    service: service.into(),
                })?;
            open_url(&url).await?;
            return Ok(format!("opened {url}"));
        }
        if action == Action::Rebuild {
            if matches!(backend, Backend::Native(_) | Backend::Peer(_)) {
                return Err(Error::NothingToBuild {
                    service: service.into(),
                });
            }
            self.compose
                .build(&[service.to_string()], |l| on_line(l.text))
                .await?;
            self.compose
                .run(
                    &["up", "-d", "--force-recreate", "--no-deps", service],
                    |l| on_line(l.text),
                )
                .await?;
            return Ok(format!("{service} rebuilt and recreated"));
        }
        let control = match action {
            Action::Stop => Control::Stop,
            Action::Start => Control::Start,
            _ => Control::Restart,
        };
        match backend {
            Backend::Native(native) => lifecycle::perform(native, control)
                .await
                .map_err(Error::Native),
            Backend::Peer(peer) => control::act(&peer.project, service, control)
                .await
                .unwrap_or_else(|| Err(format!("{service} is no longer run natively")))
                .map_err(Error::Native),
            Backend::Container(id) => {
                let docker = self.engine.get().await?;
                match control {
                    Control::Restart => {
                        let opts = RestartContainerOptions {
                            t: Some(STOP_TIMEOUT_SECS),
                            ..Default::default()
                        };
                        docker.restart_container(id.as_str(), Some(opts)).await?;
                    }
                    Control::Stop => {
                        let opts = StopContainerOptions {
                            t: Some(STOP_TIMEOUT_SECS),
                            ..Default::default()
                        };
                        docker.stop_container(id.as_str(), Some(opts)).await?;
                    }
                    Control::Start => {
                        docker
                            .start_container(id.as_str(), None::<StartContainerOptions>)
                            .await?;
                    }
                }
                Ok(format!("{service} {}", control.done()))
            }
            // No container yet: compose creates it (and what it depends on), after devtui has
            // written the build context it owns, if any.
            Backend::Absent if control == Control::Start => {
                if self.compose.contexts.iter().any(|c| c.service == service) {
                    self.compose
                        .build(&[service.to_string()], |l| on_line(l.text))
                        .await?;
                }
                self.compose
                    .run(&["up", "-d", service], |l| on_line(l.text))
                    .await?;
                Ok(format!("{service} started"))
            }
            Backend::Absent => Err(no_container()),
        }
    }

    /// Follows `service`'s output through `tx`: the last `start.tail` lines, then live ones
    /// (with `start.follow`; else it ends there), until `cancel` fires or the output ends (an
    /// `Ended` event says so). A native process's output outlives its restarts; `start.since`
    /// matters for containers only.
    pub async fn follow_logs<M, F>(
        &self,
        backend: Backend,
        service: String,
        start: LogStart,
        cancel: CancellationToken,
        tx: mpsc::Sender<M>,
        wrap: F,
    ) where
        F: Fn(LogEvent) -> M + Send + 'static,
        M: Send + 'static,
    {
        match backend {
            Backend::Container(id) => logs::follow(id, start, cancel, tx, wrap).await,
            Backend::Native(native) if !start.follow => {
                let lines = observe::history(&native, start.tail);
                if tx.send(wrap(LogEvent::Lines(lines))).await.is_ok() {
                    let _ = tx.send(wrap(LogEvent::Ended(None))).await;
                }
            }
            Backend::Native(native) => {
                observe::follow_logs(native, start.tail, cancel, tx, wrap).await;
            }
            Backend::Peer(peer) => {
                control::follow_logs(peer.project, service, start, cancel, tx, wrap).await;
            }
            Backend::Absent => {}
        }
    }

    /// Samples `service`'s CPU and memory through `tx` until `cancel` fires or it stops.
    pub async fn follow_stats<M, F>(
        &self,
        backend: Backend,
        service: String,
        cancel: CancellationToken,
        tx: mpsc::Sender<M>,
        wrap: F,
    ) where
        F: Fn(Stats) -> M + Send + 'static,
        M: Send + 'static,
    {
        match backend {
            Backend::Container(id) => stats::follow(id, cancel, tx, wrap).await,
            Backend::Native(native) => observe::follow_stats(native, cancel, tx, wrap).await,
            Backend::Peer(peer) => {
                control::follow_stats(peer.project, service, cancel, tx, wrap).await;
            }
            Backend::Absent => {}
        }
    }
}

/// Why a shell cannot be opened in a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoShell {
    /// It runs natively: there is no container.
    Native,
    /// Its container is not running (or does not exist).
    NotRunning(ContainerState),
}

/// The container a shell opens in: a running container of `backend`.
pub fn shell_container(
    backend: &Backend,
    status: Option<&ServiceStatus>,
) -> Result<ContainerId, NoShell> {
    match backend {
        Backend::Native(_) | Backend::Peer(_) => Err(NoShell::Native),
        Backend::Container(id) => match status.map(|s| s.state) {
            Some(ContainerState::Running) => Ok(id.clone()),
            Some(state) => Err(NoShell::NotRunning(state)),
            None => Err(NoShell::NotRunning(ContainerState::Missing)),
        },
        Backend::Absent => Err(NoShell::NotRunning(ContainerState::Missing)),
    }
}

/// The URL `open` goes to: the first published port a browser can open, else the first
/// published port at all (the desktop may have a handler for its scheme).
pub fn url(ports: &[PublishedPort]) -> Option<String> {
    ports
        .iter()
        .find(|p| p.is_web())
        .or_else(|| ports.first())
        .map(PublishedPort::url)
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
