//! `devtui exec SERVICE [CMD...]`: a shell (or CMD) in the service's running container,
//! through the Engine API. On a terminal it gets a TTY; otherwise output is passed through
//! for scripts. Exits with the command's exit code.

use std::io::IsTerminal;

use crate::cli::{ExecArgs, ProjectArgs};
use crate::engine::ContainerState;
use crate::engine::exec;
use crate::exit::{self, Failure};
use crate::ops::actions::target_for;

pub async fn run(project: &ProjectArgs, args: ExecArgs) -> anyhow::Result<i32> {
    let target = target_for(project, &args.service).await?;
    let status = target
        .status(&args.service)
        .await
        .map_err(|e| Failure::new(exit::NO_ENGINE, e.to_string()))?;
    let container = match &status {
        Some(s) if s.state == ContainerState::Running => s.container_id.clone(),
        _ => None,
    };
    let Some(container) = container else {
        if let Some(remote) = super::native_control::status(&target.project).await
            && let Some(native) = remote.get(&args.service)
        {
            return Err(Failure::new(
                exit::FAILED,
                format!(
                    "{} runs natively ({}) under the devtui with pid {}: there is no container \
                     to open a shell in",
                    args.service, native.image, remote.pid
                ),
            )
            .into());
        }
        let state = status
            .map(|s| format!("{:?}", s.state).to_lowercase())
            .unwrap_or_else(|| "not created".into());
        return Err(Failure::new(
            exit::FAILED,
            format!(
                "{} is not running ({state}); start it with `devtui start {}`",
                args.service, args.service
            ),
        )
        .into());
    };
    let cmd = if args.command.is_empty() {
        exec::default_command(&target.docker, &container).await
    } else {
        args.command.clone()
    };
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let code = if tty {
        ratatui::crossterm::terminal::enable_raw_mode()?;
        let result = exec::interactive(&target.docker, &container, cmd).await;
        let _ = ratatui::crossterm::terminal::disable_raw_mode();
        result
    } else {
        exec::run(
            &target.docker,
            &container,
            cmd,
            !std::io::stdin().is_terminal(),
        )
        .await
    }
    .map_err(|e| Failure::new(exit::FAILED, format!("exec in {}: {e}", args.service)))?;
    Ok(code
        .and_then(|c| i32::try_from(c).ok())
        .unwrap_or(exit::FAILED))
}
