//! `devtui mode SERVICE native|container` and the TUI's mode key: one service moves between
//! a native process (supervised by devtui) and its container, on the same published port and
//! against the same data: the container reaches its databases by service name
//! (`postgres:5432`), the native process by their published host ports, as the compose
//! file's `x-devtui.native` block says. One side stops, the other starts, and the switch ends
//! once the new side is healthy.
//!
//! The choice is remembered per project (`<state dir>/modes/PROJECT.json`), so the next
//! `devtui up` starts the service the same way whatever the profile says.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backend::Target;
use crate::exit::{self, Failure};
use crate::project::profile::Profile;
use crate::project::{Discovery, Project};
use crate::supervisor::{control, lifecycle};

/// How long the new side gets to be healthy (a container may be built first).
const SWITCH_TIMEOUT: Duration = Duration::from_secs(300);

/// Where a service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Native,
    Container,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Native => "native",
            Mode::Container => "container",
        }
    }
}

fn modes_file(project: &str) -> PathBuf {
    crate::paths::state_dir()
        .join("modes")
        .join(format!("{project}.json"))
}

/// The modes `devtui mode` set for `project`'s services (none when never set; a file that
/// does not parse counts as none, with a warning: it only ever holds what devtui wrote).
pub fn saved(project: &str) -> BTreeMap<String, Mode> {
    let file = modes_file(project);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return BTreeMap::new();
    };
    serde_json::from_str(&text).unwrap_or_else(|e| {
        tracing::warn!(file = %file.display(), error = %e, "ignoring unreadable modes file");
        BTreeMap::new()
    })
}

/// Remembers that `service` of `project` runs in `mode` (temp file, fsync, rename).
pub fn save(project: &str, service: &str, mode: Mode) -> std::io::Result<()> {
    let file = modes_file(project);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut all = saved(project);
    all.insert(service.to_string(), mode);
    let text = serde_json::to_string_pretty(&all).map_err(std::io::Error::other)?;
    crate::paths::write_atomic(&file, 0o644, |f| f.write_all(text.as_bytes())).map(drop)
}

/// What a switch needs: where services run now (`target`, whose native set it changes), the
/// project model, and the devtui profile in force (its `native_env`).
#[derive(Clone)]
pub struct Switcher {
    pub target: Target,
    pub project: Project,
    pub profile: Option<Profile>,
}

impl Switcher {
    /// Moves `service` to `mode` and waits until it is healthy there; returns a one-line
    /// message for the user.
    pub async fn switch(&self, service: &str, mode: Mode) -> Result<String, String> {
        let t0 = Instant::now();
        let done = match mode {
            Mode::Native => self.to_native(service).await?,
            Mode::Container => self.to_container(service).await?,
        };
        save(&self.project.name, service, mode)
            .map_err(|e| format!("{done}, but the mode could not be saved: {e}"))?;
        Ok(format!("{done} in {:.1}s", t0.elapsed().as_secs_f64()))
    }

    async fn to_native(&self, service: &str) -> Result<String, String> {
        let definition = match &self.profile {
            Some(p) => p.native_definition(&self.project, service),
            None => self
                .project
                .natives
                .iter()
                .find(|n| n.name == service)
                .cloned(),
        };
        let Some(definition) = definition else {
            let declared: Vec<&str> = self
                .project
                .natives
                .iter()
                .map(|n| n.name.as_str())
                .collect();
            return Err(format!(
                "{service} has no native definition (x-devtui.native in the compose file declares: {})",
                if declared.is_empty() {
                    "none".into()
                } else {
                    declared.join(", ")
                }
            ));
        };
        if self.target.natives.find(service).is_some() {
            return Ok(format!("{service} already runs natively"));
        }
        // The container holds the published port the native process binds; its volumes stay.
        if self.project.service(service).is_some() {
            self.target
                .compose
                .run(&["rm", "--stop", "--force", service], |_| {})
                .await
                .map_err(|e| format!("removing {service}'s container failed: {e}"))?;
        }
        match lifecycle::start_one(&self.project, &definition, SWITCH_TIMEOUT).await {
            Ok(native) => {
                self.target.natives.insert(native);
                Ok(format!("{service} runs natively now, healthy"))
            }
            Err(e) if self.project.service(service).is_some() => {
                // Not left with neither: the container comes back.
                let back = self.start_container(service).await;
                Err(match back {
                    Ok(()) => format!("{e}\n{service} is back in its container"),
                    Err(b) => format!("{e}\nand its container did not come back: {b}"),
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn to_container(&self, service: &str) -> Result<String, String> {
        if self.project.all_services.is_empty() {
            return Err(format!(
                "{} runs without compose here (a profile of native services only): \
                 quit and `devtui up` with another profile to use containers",
                self.project.name
            ));
        }
        if self.project.service(service).is_none() {
            return Err(format!(
                "{service} is not a compose service of {}: it can only run natively",
                self.project.name
            ));
        }
        if let Some(native) = self.target.natives.remove(service) {
            native.supervisor.shutdown().await;
        }
        self.start_container(service).await?;
        Ok(format!("{service} runs in its container now, healthy"))
    }

    /// `docker compose up -d --no-deps --wait SERVICE`: that service only (the databases it
    /// needs are up already), returning once compose says it is healthy. devtui writes the
    /// build context it owns first, as `start` does.
    async fn start_container(&self, service: &str) -> Result<(), String> {
        let compose = &self.target.compose;
        let mut args = vec!["up", "-d", "--no-deps", "--wait"];
        let timeout = SWITCH_TIMEOUT.as_secs().to_string();
        args.extend(["--wait-timeout", timeout.as_str()]);
        if compose.contexts.iter().any(|c| c.service == service) {
            compose
                .build(&[service.to_string()], |_| {})
                .await
                .map_err(|e| format!("building {service} failed: {e}"))?;
            args.push("--no-build");
        }
        args.push(service);
        compose
            .run(&args, |_| {})
            .await
            .map_err(|e| format!("starting {service}'s container failed: {e}"))
    }

    /// The switch as the control socket's handler, for `devtui mode` run elsewhere.
    pub fn handler(self) -> control::ModeHandler {
        let this = Arc::new(self);
        Arc::new(move |service: String, native: bool| {
            let this = this.clone();
            Box::pin(async move {
                let mode = if native {
                    Mode::Native
                } else {
                    Mode::Container
                };
                this.switch(&service, mode).await
            })
        })
    }
}

/// Asks the devtui that runs `project`'s native services to switch `service`; `None` when
/// no devtui answers for the project.
pub async fn through_peer(
    project: &str,
    service: &str,
    mode: Mode,
) -> Option<Result<String, String>> {
    control::mode(project, service, mode == Mode::Native).await
}

/// `devtui mode SERVICE native|container`. The devtui running the project (`up`) does the
/// switch, so that it supervises the native process; with none running, `container` starts
/// the container here, and `native` is remembered for the next `up`.
pub async fn run(discovery: &Discovery, service: &str, mode: Mode) -> anyhow::Result<i32> {
    let project = crate::project::load(discovery, &[])
        .await
        .map_err(Failure::from)?;
    let known =
        project.service(service).is_some() || project.natives.iter().any(|n| n.name == service);
    if !known {
        return Err(Failure::usage(project.unknown_service(service)).into());
    }
    let failed =
        |e: String| Failure::new(exit::FAILED, format!("mode {service} {}: {e}", mode.name()));
    if let Some(result) = through_peer(&project.name, service, mode).await {
        println!("{}", result.map_err(failed)?);
        return Ok(exit::OK);
    }
    match mode {
        Mode::Container => {
            let switcher = Switcher {
                target: Target {
                    engine: Default::default(),
                    compose: super::compose_for(&project),
                    project: project.name.clone(),
                    natives: Default::default(),
                },
                project,
                profile: None,
            };
            println!("{}", switcher.switch(service, mode).await.map_err(failed)?);
        }
        Mode::Native => {
            if !project.natives.iter().any(|n| n.name == service) {
                return Err(failed(format!(
                    "{service} has no native definition (x-devtui.native)"
                ))
                .into());
            }
            save(&project.name, service, mode).map_err(|e| failed(e.to_string()))?;
            println!(
                "{service} will run natively: no devtui runs project {} to supervise it now; the next `devtui up` starts it natively",
                project.name
            );
        }
    }
    Ok(exit::OK)
}
