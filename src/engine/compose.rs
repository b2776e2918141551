//! The `docker compose` v2 CLI driver: every lifecycle action (config, build, up, down)
//! goes through the real CLI so every compose-spec feature works on every project.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncBufRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

/// The oldest compose we support (`config --format json`, `--profile "*"`, `down` by label).
pub const MIN_VERSION: (u64, u64, u64) = (2, 20, 0);
/// How many trailing stderr lines a failure keeps.
const ERROR_TAIL: usize = 20;
/// Longest line kept from compose output; the rest of a longer line is dropped.
const MAX_LINE: usize = 64 * 1024;
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the `docker` CLI was not found on PATH; install Docker Engine with the Compose v2 plugin"
    )]
    NotFound,
    #[error(
        "`docker compose` is not available ({0}); install the Compose v2 plugin (docker-compose-plugin)"
    )]
    NoCompose(String),
    #[error("cannot run docker compose: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("cannot write the build context of {service} to {}: {source}", dir.display())]
    Context {
        service: String,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`docker compose {args}` failed{}: {stderr}", code.map(|c| format!(" (exit {c})")).unwrap_or_default())]
    Failed {
        args: String,
        code: Option<i32>,
        stderr: String,
    },
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of compose output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub stream: Stream,
    pub text: String,
}

/// How to invoke compose for one project: `docker compose -p NAME -f ... [--env-file]
/// [--profile ...] <args>`.
#[derive(Debug, Clone, Default)]
pub struct Compose {
    pub project_name: Option<String>,
    pub files: Vec<PathBuf>,
    pub env_file: Option<PathBuf>,
    pub profiles: Vec<String>,
    /// Where compose runs (the project directory).
    pub working_dir: Option<PathBuf>,
    /// Build contexts the caller writes before compose builds from them.
    pub contexts: Vec<ContextStep>,
}

/// A build context written before compose builds `service` from `dir`: some images are made
/// of what the caller has (devtui's own executable), which this layer need not know.
#[derive(Clone)]
pub struct ContextStep {
    pub service: String,
    pub dir: PathBuf,
    pub write: fn(PathBuf) -> BoxFuture<'static, std::io::Result<()>>,
}

impl std::fmt::Debug for ContextStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextStep")
            .field("service", &self.service)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Compose {
    /// A driver that knows only the project name: compose finds the resources by label
    /// (enough for `down` when the files no longer parse).
    pub fn by_name(name: &str) -> Self {
        Self {
            project_name: Some(name.to_string()),
            // An empty directory, so compose does not pick up an unrelated compose.yaml.
            working_dir: Some(std::env::temp_dir()),
            ..Self::default()
        }
    }

    /// The full command line, ready to spawn; the child dies with its handle.
    pub fn command<S: AsRef<str>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new("docker");
        // Output is piped, so compose prints plain lines; `--ansi never` drops colour codes.
        cmd.arg("compose").args(["--ansi", "never"]);
        if let Some(name) = &self.project_name {
            cmd.arg("-p").arg(name);
        }
        for file in &self.files {
            cmd.arg("-f").arg(file);
        }
        if let Some(env) = &self.env_file {
            cmd.arg("--env-file").arg(env);
        }
        for profile in &self.profiles {
            cmd.arg("--profile").arg(profile);
        }
        cmd.args(args.iter().map(AsRef::as_ref));
        if let Some(dir) = &self.working_dir {
            cmd.current_dir(dir);
        }
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }

    /// Runs compose and returns its stdout; a non-zero exit becomes `Error::Failed` with stderr.
    pub async fn output<S: AsRef<str>>(&self, args: &[S]) -> Result<String, Error> {
        let out = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(spawn_error)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(Error::Failed {
                args: join(args),
                code: out.status.code(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    /// Runs compose, handing each output line to `on_line` as it arrives. On failure the
    /// error carries the last stderr lines.
    /// `docker compose build SERVICES...`, after writing the build contexts devtui owns.
    pub async fn build(&self, services: &[String], on_line: impl FnMut(Line)) -> Result<(), Error> {
        for step in self
            .contexts
            .iter()
            .filter(|c| services.contains(&c.service))
        {
            (step.write)(step.dir.clone())
                .await
                .map_err(|source| Error::Context {
                    service: step.service.clone(),
                    dir: step.dir.clone(),
                    source,
                })?;
        }
        let mut args = vec!["build".to_string()];
        args.extend(services.iter().cloned());
        self.run(&args, on_line).await
    }

    pub async fn run<S: AsRef<str>>(
        &self,
        args: &[S],
        mut on_line: impl FnMut(Line),
    ) -> Result<(), Error> {
        let (mut rx, mut child) = self.spawn(args)?;
        let mut tail: VecDeque<String> = VecDeque::with_capacity(ERROR_TAIL);
        while let Some(line) = rx.recv().await {
            if tail.len() == ERROR_TAIL {
                tail.pop_front();
            }
            tail.push_back(line.text.clone());
            on_line(line);
        }
        let status = child.wait().await.map_err(Error::Spawn)?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Failed {
                args: join(args),
                code: status.code(),
                stderr: Vec::from(tail).join("\n"),
            })
        }
    }

    /// Spawns compose and streams its stdout and stderr lines over a channel that closes
    /// when both streams end. Dropping the child kills compose.
    pub fn spawn<S: AsRef<str>>(
        &self,
        args: &[S],
    ) -> Result<(mpsc::Receiver<Line>, tokio::process::Child), Error> {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        let (tx, rx) = mpsc::channel(256);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward(BufReader::new(out), Stream::Stdout, tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward(BufReader::new(err), Stream::Stderr, tx));
        }
        Ok((rx, child))
    }
}

async fn forward<R: AsyncBufRead + Unpin>(mut reader: R, stream: Stream, tx: mpsc::Sender<Line>) {
    let mut buf = Vec::new();
    while let Ok(Some(text)) = crate::io::read_line_capped(&mut reader, &mut buf, MAX_LINE).await {
        if tx.send(Line { stream, text }).await.is_err() {
            break;
        }
    }
}

fn spawn_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound
    } else {
        Error::Spawn(e)
    }
}

fn join<S: AsRef<str>>(args: &[S]) -> String {
    args.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ")
}

/// The installed compose version (`docker compose version --short`), e.g. `2.40.3`.
pub async fn version() -> Result<String, Error> {
    let out = Command::new("docker")
        .args(["compose", "version", "--short"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(spawn_error)?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Error::NoCompose(msg));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches('v')
        .to_string())
}

/// Parses `2.40.3` (or `2.40.3-desktop.1`) into a comparable triple.
pub fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>());
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_compare() {
        assert_eq!(parse_version("2.40.3"), Some((2, 40, 3)));
        assert_eq!(parse_version("v2.24.6-desktop.1"), Some((2, 24, 6)));
        assert!(parse_version("2.19.1") < Some(MIN_VERSION));
        assert_eq!(parse_version("garbage"), None);
    }
}
