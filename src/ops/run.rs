//! Custom commands of a devtui profile (`commands:`), shared by `devtui run NAME` and the
//! TUI: on the host, a child process in the project's directory; in a service, an exec in its
//! running container through the Engine API (where the service runs is `backend`'s answer).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use bollard::Docker;
use serde_json::json;
use tokio::io::{AsyncRead, BufReader};

use super::backend::{Backend, NoShell, Target, shell_container};
use super::backup::commands::Prompter;
use crate::engine::{ServiceStatus, exec};
use crate::exit::{self, Failure};
use crate::project::profile::{self, CustomCommand, Profile};
use crate::project::{Discovery, Location};

/// The longest line of a command's output kept whole: a host command's rest of the line is
/// dropped, a container's goes on as the next line.
const MAX_LINE: usize = 64 * 1024;

/// Which output of the command a line came from.
pub use crate::engine::exec::Output;

/// Why a custom command could not run (its own failure is its exit code, not an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Backend(#[from] super::backend::Error),
    #[error("{0}")]
    Exec(#[from] exec::Error),
    /// The service has no running container (a sentence saying why).
    #[error("{0}")]
    NoContainer(String),
    #[error("cannot run {program:?} in {dir}: {source}")]
    Spawn {
        program: String,
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the output of {program:?}: {source}")]
    Output {
        program: String,
        source: std::io::Error,
    },
    #[error("the engine did not say how the command ended")]
    NoExitCode,
}

/// Where a custom command runs, resolved by the caller (the CLI asks the engine, the TUI
/// knows its rows).
pub enum Place {
    /// A child process in this directory.
    Host(PathBuf),
    /// An exec in the service's container.
    Service {
        name: String,
        backend: Backend,
        /// What is known of it (its state: a shell needs a running container).
        status: Box<Option<ServiceStatus>>,
    },
}

/// Runs `cmd` without a terminal at `place`; each line of its output goes to `on_line` as it
/// comes. Returns the command's exit code (128 + N when a signal ended a host command).
pub async fn run_lines(
    cmd: &CustomCommand,
    place: &Place,
    target: &Target,
    mut on_line: impl FnMut(Output, String) + Send,
) -> Result<i32, Error> {
    match place {
        Place::Host(dir) => {
            let mut child = host_command(cmd, dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|source| spawn_error(cmd, dir, source))?;
            let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
                return Err(spawn_error(cmd, dir, std::io::ErrorKind::BrokenPipe.into()));
            };
            let (mut out, mut err) = (BufReader::new(out), BufReader::new(err));
            let (mut out_buf, mut err_buf) = (Vec::new(), Vec::new());
            let (mut out_open, mut err_open) = (true, true);
            let read_error = |source| Error::Output {
                program: cmd.run[0].clone(),
                source,
            };
            while out_open || err_open {
                tokio::select! {
                    line = read_line(&mut out, &mut out_buf), if out_open => {
                        match line.map_err(read_error)? {
                            Some(l) => on_line(Output::Stdout, l),
                            None => out_open = false,
                        }
                    }
                    line = read_line(&mut err, &mut err_buf), if err_open => {
                        match line.map_err(read_error)? {
                            Some(l) => on_line(Output::Stderr, l),
                            None => err_open = false,
                        }
                    }
                }
            }
            let status = child
                .wait()
                .await
                .map_err(|source| spawn_error(cmd, dir, source))?;
            Ok(code_of(status))
        }
        Place::Service {
            name,
            backend,
            status,
        } => {
            let (docker, container) =
                service_container(name, backend, status.as_ref().as_ref(), target).await?;
            let mut splitter = [Lines::default(), Lines::default()];
            let code = exec::stream(&docker, &container, cmd.run.clone(), env_of(cmd), |o, b| {
                let at = usize::from(o == Output::Stderr);
                for line in splitter[at].push(b) {
                    on_line(o, line);
                }
            })
            .await?;
            for (at, o) in [(0, Output::Stdout), (1, Output::Stderr)] {
                if let Some(rest) = splitter[at].finish() {
                    on_line(o, rest);
                }
            }
            code.and_then(|c| i32::try_from(c).ok())
                .ok_or(Error::NoExitCode)
        }
    }
}

/// Runs `cmd` on this terminal (the caller checked there is one): a host command inherits it;
/// a service's gets a TTY in its container. Returns the exit code.
pub async fn run_terminal(
    cmd: &CustomCommand,
    place: &Place,
    target: &Target,
) -> Result<i32, Error> {
    match place {
        Place::Host(dir) => {
            let status = host_command(cmd, dir)
                .status()
                .await
                .map_err(|source| spawn_error(cmd, dir, source))?;
            Ok(code_of(status))
        }
        Place::Service {
            name,
            backend,
            status,
        } => {
            let (docker, container) =
                service_container(name, backend, status.as_ref().as_ref(), target).await?;
            ratatui::crossterm::terminal::enable_raw_mode().map_err(exec::Error::from)?;
            let result = exec::interactive(&docker, &container, cmd.run.clone(), env_of(cmd)).await;
            let _ = ratatui::crossterm::terminal::disable_raw_mode();
            result?
                .and_then(|c| i32::try_from(c).ok())
                .ok_or(Error::NoExitCode)
        }
    }
}

fn host_command(cmd: &CustomCommand, dir: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(&cmd.run[0]);
    c.args(&cmd.run[1..])
        .current_dir(dir)
        .envs(&cmd.env)
        .kill_on_drop(true);
    c
}

fn spawn_error(cmd: &CustomCommand, dir: &Path, source: std::io::Error) -> Error {
    Error::Spawn {
        program: cmd.run[0].clone(),
        dir: dir.to_path_buf(),
        source,
    }
}

fn env_of(cmd: &CustomCommand) -> Vec<String> {
    cmd.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

async fn read_line<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<String>> {
    crate::io::read_line_capped(r, buf, MAX_LINE).await
}

/// The exit code as a shell reports it: 128 + the signal when one ended the process.
fn code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(exit::FAILED)
}

/// The container a service command runs in, and the engine to reach it.
async fn service_container(
    service: &str,
    backend: &Backend,
    status: Option<&ServiceStatus>,
    target: &Target,
) -> Result<(Docker, crate::engine::ContainerId), Error> {
    let container = container(service, backend, status)?;
    let docker = target
        .engine
        .get()
        .await
        .map_err(super::backend::Error::from)?;
    Ok((docker, container))
}

fn container(
    service: &str,
    backend: &Backend,
    status: Option<&ServiceStatus>,
) -> Result<crate::engine::ContainerId, Error> {
    shell_container(backend, status).map_err(|why| {
        Error::NoContainer(match why {
            NoShell::Native => {
                format!("{service} runs natively: there is no container to run the command in")
            }
            NoShell::NotRunning(_) => {
                format!("{service} is not running; start it with `devtui start {service}`")
            }
        })
    })
}

/// Splits a byte stream into lines (a chunk may end mid-line; invalid UTF-8 is replaced); a
/// line longer than `MAX_LINE` is cut, so a container that never writes a newline cannot
/// grow the buffer without bound.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            let line = &line[..line.len() - 1];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            out.push(String::from_utf8_lossy(line).into_owned());
        }
        while self.partial.len() > MAX_LINE {
            let cut: Vec<u8> = self.partial.drain(..MAX_LINE).collect();
            out.push(String::from_utf8_lossy(&cut).into_owned());
        }
        out
    }

    fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty())
            .then(|| String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned())
    }
}

/// What `devtui run` was asked.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub name: String,
    /// The devtui profile (a name or a path).
    pub profile: Option<String>,
    /// The config file's `profile`, used when `profile` is not given and the project has it.
    pub default_profile: Option<String>,
    /// One JSON object a line: the output lines, then the exit code.
    pub json: bool,
    /// The TUI's keys in force: the profile's command keys are checked against them.
    pub keys: crate::keymap::Keymap,
}

/// The profile `devtui run` and the TUI take their commands from: the one named, else the
/// config file's default when the project has it (one default serves every project).
pub fn choose(loc: &Location, named: Option<&str>, default: Option<&str>) -> Option<String> {
    named
        .or_else(|| {
            default.filter(|d| {
                d.contains('/') || profile::dir(loc).join(format!("{d}.yaml")).is_file()
            })
        })
        .map(str::to_string)
}

/// Loads the profile `choose` picks, if any.
pub fn chosen_profile(
    loc: &Location,
    named: Option<&str>,
    default: Option<&str>,
    keys: &crate::keymap::Keymap,
) -> Result<Option<Profile>, profile::Error> {
    choose(loc, named, default)
        .map(|n| profile::load(loc, &n, Some(keys)))
        .transpose()
}

/// `devtui run NAME`: runs the profile's command, its output streamed, and returns its exit
/// code. `confirm: true` asks first (`prompter`).
pub async fn run(
    discovery: &Discovery,
    opts: RunOptions,
    prompter: &Prompter,
) -> anyhow::Result<i32> {
    let loc = crate::project::discover(discovery).map_err(Failure::from)?;
    let profile = chosen_profile(
        &loc,
        opts.profile.as_deref(),
        opts.default_profile.as_deref(),
        &opts.keys,
    )
        .map_err(|e| Failure::usage(e.to_string()))?
        .ok_or_else(|| {
            Failure::usage(format!(
                "no devtui profile: pass -P NAME (or set DEVTUI_PROFILE); `devtui profiles` lists them ({})",
                profile::dir(&loc).display()
            ))
        })?;
    let Some(cmd) = profile.command(&opts.name).cloned() else {
        let names: Vec<&str> = profile.commands.iter().map(|c| c.name.as_str()).collect();
        return Err(Failure::usage(format!(
            "no command {:?} in profile {} (its commands: {})",
            opts.name,
            profile.file.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
        .into());
    };
    if cmd.confirm && !prompter.confirm(&format!("run {} ({})", cmd.name, cmd.run.join(" ")))? {
        eprintln!("devtui: nothing done");
        return Ok(exit::FAILED);
    }
    let (target, place) = match &cmd.service {
        None => {
            // Not used by a host command; the type wants one.
            let project = crate::project::name_hint(&loc);
            let target = Target {
                engine: crate::engine::client::Lazy::default(),
                compose: crate::engine::compose::Compose::by_name(&project),
                project,
                natives: Default::default(),
            };
            (target, Place::Host(loc.working_dir.clone()))
        }
        Some(service) => {
            let target = super::actions::target_for(discovery, service).await?;
            let (backend, status) = target
                .locate(service)
                .await
                .map_err(|e| Failure::new(exit::NO_ENGINE, e.to_string()))?;
            let place = Place::Service {
                name: service.clone(),
                backend,
                status: Box::new(status),
            };
            (target, place)
        }
    };
    let failed = |e: Error| Failure::new(exit::FAILED, format!("{}: {e}", cmd.name));
    let terminal = !opts.json && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let code = if terminal {
        run_terminal(&cmd, &place, &target).await.map_err(failed)?
    } else {
        let (name, json) = (cmd.name.clone(), opts.json);
        let code = run_lines(&cmd, &place, &target, move |output, line| {
            if json {
                let stream = match output {
                    Output::Stdout => "stdout",
                    Output::Stderr => "stderr",
                };
                println!(
                    "{}",
                    json!({"command": name, "stream": stream, "line": line})
                );
            } else if output == Output::Stdout {
                println!("{line}");
            } else {
                eprintln!("{line}");
            }
        })
        .await
        .map_err(failed)?;
        if json {
            let obj = json!({"command": cmd.name, "exit_code": code});
            let _ = writeln!(std::io::stdout(), "{obj}");
        }
        code
    };
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_splits_into_lines_across_chunks_with_a_bound() {
        let mut lines = Lines::default();
        assert!(lines.push(b"par").is_empty());
        assert_eq!(lines.push(b"t one\r\ntwo\n\nthr"), ["part one", "two", ""]);
        assert_eq!(lines.finish().as_deref(), Some("thr"));
        assert_eq!(lines.finish(), None);
        let long = vec![b'x'; MAX_LINE * 2 + 5];
        let cut = lines.push(&long);
        assert_eq!(cut.len(), 2);
        assert!(cut.iter().all(|l| l.len() == MAX_LINE));
        assert_eq!(lines.finish().map(|l| l.len()), Some(5));
    }
}
