//! Exec in a container through the Engine API: an interactive shell with a TTY (size sent at
//! start and on every resize), or a plain command for scripts.

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::model::ContainerId;

/// The container label naming the shell (or command) devtui opens for a service.
pub const SHELL_LABEL: &str = "dev.devtui.shell";
/// How often the stdin reader checks whether the exec has ended.
const STDIN_POLL: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Engine(#[from] bollard::errors::Error),
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
}

/// The command run when the user gives none: the service's `dev.devtui.shell` label, else the
/// first of bash and sh that exists.
pub async fn default_command(docker: &Docker, container_id: &ContainerId) -> Vec<String> {
    let configured = docker
        .inspect_container(container_id.as_str(), None)
        .await
        .ok()
        .and_then(|c| c.config)
        .and_then(|c| c.labels)
        .and_then(|l| l.get(SHELL_LABEL).cloned())
        .filter(|s| !s.trim().is_empty());
    match configured {
        Some(shell) => vec!["sh".into(), "-c".into(), format!("exec {shell}")],
        None => vec![
            "sh".into(),
            "-c".into(),
            "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi".into(),
        ],
    }
}

/// Runs `cmd` in the container with a TTY wired to this terminal, which the caller has put in
/// raw mode. Returns the command's exit code.
pub async fn interactive(
    docker: &Docker,
    container_id: &ContainerId,
    cmd: Vec<String>,
    mut env: Vec<String>,
) -> Result<Option<i64>, Error> {
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into());
    env.push(format!("TERM={term}"));
    let exec = docker
        .create_exec(
            container_id.as_str(),
            CreateExecOptions {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(true),
                env: Some(env),
                cmd: Some(cmd),
                ..Default::default()
            },
        )
        .await?;
    let started = docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: false,
                tty: true,
                output_capacity: None,
            }),
        )
        .await?;
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = started
    else {
        return Ok(None);
    };
    resize(docker, &exec.id).await;
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;
    let (stdin_tx, mut stdin_rx) = mpsc::channel::<Vec<u8>>(64);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || pump_stdin(&stop, &stdin_tx))
    };
    let mut stdout = std::io::stdout();
    let result: Result<(), Error> = async {
        loop {
            tokio::select! {
                chunk = output.next() => match chunk {
                    Some(Ok(out)) => {
                        stdout.write_all(out.as_ref())?;
                        stdout.flush()?;
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => return Ok(()),
                },
                Some(bytes) = stdin_rx.recv() => {
                    // The shell may be gone already; its output end tells us.
                    let _ = input.write_all(&bytes).await;
                    let _ = input.flush().await;
                }
                _ = winch.recv() => resize(docker, &exec.id).await,
            }
        }
    }
    .await;
    // Stop the reader before the TUI reads the terminal again, so it eats no keypress.
    stop.store(true, Ordering::Relaxed);
    drop(stdin_rx);
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    result?;
    Ok(docker.inspect_exec(&exec.id).await?.exit_code)
}

async fn resize(docker: &Docker, exec_id: &str) {
    if let Ok((width, height)) = ratatui::crossterm::terminal::size() {
        let _ = docker
            .resize_exec(exec_id, ResizeExecOptions { width, height })
            .await;
    }
}

/// Forwards stdin to `tx` until `stop` is set, polling so that it never blocks in `read`
/// past the end of the exec (a blocked read would swallow the next key meant for the TUI).
fn pump_stdin(stop: &AtomicBool, tx: &mpsc::Sender<Vec<u8>>) {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let timeout = Timespec {
        tv_sec: 0,
        tv_nsec: i64::try_from(STDIN_POLL.as_nanos()).unwrap_or(50_000_000),
    };
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if tx.blocking_send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
            Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => continue,
            Err(_) => return,
        }
    }
}

/// Runs `cmd` without a TTY (for scripts): stdout and stderr go to ours, our stdin (when it is
/// not a terminal) goes to the command. Returns the exit code.
pub async fn run(
    docker: &Docker,
    container_id: &ContainerId,
    cmd: Vec<String>,
    stdin: bool,
) -> Result<Option<i64>, Error> {
    let exec = docker
        .create_exec(
            container_id.as_str(),
            CreateExecOptions {
                attach_stdin: Some(stdin),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(false),
                cmd: Some(cmd),
                ..Default::default()
            },
        )
        .await?;
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = docker.start_exec(&exec.id, None).await?
    else {
        return Ok(None);
    };
    let feeder = stdin.then(|| {
        tokio::spawn(async move {
            let mut ours = tokio::io::stdin();
            let _ = tokio::io::copy(&mut ours, &mut input).await;
            let _ = input.shutdown().await;
        })
    });
    let mut out = tokio::io::stdout();
    let mut err = tokio::io::stderr();
    while let Some(chunk) = output.next().await {
        match chunk? {
            LogOutput::StdErr { message } => err.write_all(&message).await?,
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                out.write_all(&message).await?
            }
            LogOutput::StdIn { .. } => {}
        }
    }
    out.flush().await?;
    err.flush().await?;
    if let Some(feeder) = feeder {
        feeder.abort();
    }
    Ok(docker.inspect_exec(&exec.id).await?.exit_code)
}

/// Which of a command's outputs a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Stdout,
    Stderr,
}

/// Runs `cmd` with `env` (`KEY=VALUE`), no input and no TTY, handing each chunk of its output
/// to `on_output` as it arrives. Returns the exit code.
pub async fn stream(
    docker: &Docker,
    container_id: &ContainerId,
    cmd: Vec<String>,
    env: Vec<String>,
    mut on_output: impl FnMut(Output, &[u8]),
) -> Result<Option<i64>, Error> {
    let exec = docker
        .create_exec(
            container_id.as_str(),
            CreateExecOptions {
                attach_stdin: Some(false),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(false),
                cmd: Some(cmd),
                env: Some(env),
                ..Default::default()
            },
        )
        .await?;
    let StartExecResults::Attached { mut output, .. } = docker.start_exec(&exec.id, None).await?
    else {
        return Ok(None);
    };
    while let Some(chunk) = output.next().await {
        match chunk? {
            LogOutput::StdErr { message } => on_output(Output::Stderr, &message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                on_output(Output::Stdout, &message)
            }
            LogOutput::StdIn { .. } => {}
        }
    }
    Ok(docker.inspect_exec(&exec.id).await?.exit_code)
}
