//! `devtui exec SERVICE [CMD...]`: a shell (or CMD) in the service's running container,
//! through the Engine API. On a terminal it gets a TTY; otherwise output is passed through
//! for scripts. Exits with the command's exit code.

use std::io::IsTerminal;

use super::backend::{self, Backend, NoShell};
use crate::engine::exec;
use crate::exit::{self, Failure};
use crate::ops::actions::target_for;
use crate::project::Discovery;

/// Runs `command` (none: a shell) in `service`'s container; returns its exit code.
pub async fn run(project: &Discovery, service: &str, command: Vec<String>) -> anyhow::Result<i32> {
    let target = target_for(project, service).await?;
    let (backend, status) = target
        .locate(service)
        .await
        .map_err(|e| Failure::new(exit::NO_ENGINE, e.to_string()))?;
    let container = match backend::shell_container(&backend, status.as_ref()) {
        Ok(id) => id,
        Err(NoShell::Native) => {
            let how = status.map(|s| s.runtime.describe()).unwrap_or_default();
            let whose = match &backend {
                Backend::Peer(peer) => peer
                    .devtui_pid
                    .map(|pid| format!(" under the devtui with pid {pid}"))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            return Err(Failure::new(
                exit::FAILED,
                format!(
                    "{service} runs natively ({how}){whose}: there is no container to open a \
                     shell in"
                ),
            )
            .into());
        }
        Err(NoShell::NotRunning(state)) => {
            let state = match state {
                crate::engine::ContainerState::Missing => "not created".to_string(),
                other => format!("{other:?}").to_lowercase(),
            };
            return Err(Failure::new(
                exit::FAILED,
                format!(
                    "{service} is not running ({state}); start it with `devtui start {service}`"
                ),
            )
            .into());
        }
    };
    let docker = target
        .engine
        .get()
        .await
        .map_err(|e| Failure::new(exit::NO_ENGINE, e.to_string()))?;
    let cmd = if command.is_empty() {
        exec::default_command(&docker, &container).await
    } else {
        command
    };
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let code = if tty {
        ratatui::crossterm::terminal::enable_raw_mode()?;
        let result = exec::interactive(&docker, &container, cmd, Vec::new()).await;
        let _ = ratatui::crossterm::terminal::disable_raw_mode();
        result
    } else {
        exec::run(&docker, &container, cmd, !std::io::stdin().is_terminal()).await
    }
    .map_err(|e| Failure::new(exit::FAILED, format!("exec in {service}: {e}")))?;
    Ok(code
        .and_then(|c| i32::try_from(c).ok())
        .unwrap_or(exit::FAILED))
}
