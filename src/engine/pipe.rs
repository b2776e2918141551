//! Commands in a container whose input and output are byte streams (a database dump coming
//! out, a restore going in), moved through the Engine API in bounded chunks so that host
//! memory stays the same whatever the size. Secrets go in the exec's environment, never in
//! its command line.

use std::collections::VecDeque;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::model::ContainerId;

/// How much of a command's stderr is kept for its error message.
const STDERR_TAIL: usize = 8 * 1024;
/// Largest stdout kept by `capture` (answers to small queries).
const CAPTURE_LIMIT: usize = 1024 * 1024;
/// How long the input's writer may take to finish once the command has ended.
const FEEDER_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// Read buffer of the exec's output stream: large frames mean fewer wake-ups per gigabyte.
const OUTPUT_CAPACITY: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Engine(#[from] bollard::errors::Error),
    #[error("writing to the command's input: {0}")]
    Input(#[source] std::io::Error),
    /// Whoever took the output stopped taking it (the file could not be written).
    #[error("the command's output could not be stored")]
    OutputClosed,
    #[error("the engine did not attach to the command")]
    Detached,
}

/// A command to run in a container.
#[derive(Debug, Clone, Default)]
pub struct Command {
    pub cmd: Vec<String>,
    /// `KEY=VALUE` pairs: credentials go here, where `ps` does not show them.
    pub env: Vec<String>,
    /// User to run as (default: the container's).
    pub user: Option<String>,
    /// The command may stop reading its input early (`pg_restore --list` reads only the
    /// table of contents): the input's writer is stopped as soon as the command ends.
    pub reads_part_of_input: bool,
}

impl Command {
    pub fn new<S: Into<String>>(cmd: impl IntoIterator<Item = S>) -> Self {
        Self {
            cmd: cmd.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    pub fn env(mut self, env: Vec<String>) -> Self {
        self.env = env;
        self
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub exit_code: Option<i64>,
    /// The last few KiB of its stderr.
    pub stderr: String,
    /// Its input could not all be written (it ended before reading all of it, or the
    /// connection broke): whether that matters is the caller's to say.
    pub input_error: Option<String>,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// The stderr's last non-empty line, or the exit code when it printed nothing.
    pub fn reason(&self) -> String {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        match lines.as_slice() {
            [] => match self.exit_code {
                Some(code) => format!("exit code {code}"),
                None => "no exit code".into(),
            },
            // The first error line says what went wrong; later ones are often consequences.
            many => many
                .iter()
                .find(|l| l.to_lowercase().contains("error"))
                .unwrap_or(&many[many.len() - 1])
                .to_string(),
        }
    }
}

/// Runs `command` with `stdin` (chunks, until the channel closes) as its input and sends its
/// stdout to `stdout` chunk by chunk; both channels are bounded, so the slower side sets the
/// pace. Returns when the command has ended.
pub async fn pipe(
    docker: &Docker,
    container: &ContainerId,
    command: &Command,
    stdin: Option<mpsc::Receiver<Bytes>>,
    stdout: Option<mpsc::Sender<Bytes>>,
) -> Result<Outcome, Error> {
    let exec = docker
        .create_exec(
            container.as_str(),
            CreateExecOptions {
                attach_stdin: Some(stdin.is_some()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(false),
                cmd: Some(command.cmd.clone()),
                env: Some(command.env.clone()),
                user: command.user.clone(),
                ..Default::default()
            },
        )
        .await?;
    let started = docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: Some(OUTPUT_CAPACITY),
            }),
        )
        .await?;
    let StartExecResults::Attached { mut output, input } = started else {
        return Err(Error::Detached);
    };
    // The input is written while the output is read: a command that fills its stdout pipe
    // before reading all its stdin would otherwise wait forever.
    let feeder = stdin.map(|mut rx| {
        let mut input = input;
        tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                input.write_all(&chunk).await.map_err(Error::Input)?;
            }
            // End of input: the command sees EOF on its stdin.
            input.shutdown().await.map_err(Error::Input)
        })
    });
    let mut stderr: VecDeque<u8> = VecDeque::new();
    let mut result = Ok(());
    while let Some(chunk) = output.next().await {
        match chunk {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                if let Some(tx) = &stdout
                    && tx.send(message).await.is_err()
                {
                    result = Err(Error::OutputClosed);
                    break;
                }
            }
            Ok(LogOutput::StdErr { message }) => {
                stderr.extend(message.iter());
                let excess = stderr.len().saturating_sub(STDERR_TAIL);
                stderr.drain(..excess);
            }
            Ok(LogOutput::StdIn { .. }) => {}
            Err(e) => {
                result = Err(e.into());
                break;
            }
        }
    }
    drop(output);
    let mut input_error = None;
    if let Some(mut feeder) = feeder {
        // The output ended, so the command did; the connection closes with it, so a feeder
        // with input left fails its next write at once. It gets a moment to finish.
        let grace = if command.reads_part_of_input {
            std::time::Duration::ZERO
        } else {
            FEEDER_GRACE
        };
        match tokio::time::timeout(grace, &mut feeder).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => input_error = Some(e.to_string()),
            Ok(Err(e)) => input_error = Some(e.to_string()),
            Err(_) => {
                feeder.abort();
                input_error = Some("the command ended before reading all of its input".into());
            }
        }
    }
    result?;
    let exit_code = docker.inspect_exec(&exec.id).await?.exit_code;
    let (a, b) = stderr.as_slices();
    let stderr = String::from_utf8_lossy(&[a, b].concat()).into_owned();
    Ok(Outcome {
        exit_code,
        stderr,
        input_error,
    })
}

/// Runs `command` and returns its stdout (at most 1 MiB) with how it ended: for short
/// queries (a server version, a setting).
pub async fn capture(
    docker: &Docker,
    container: &ContainerId,
    command: &Command,
) -> Result<(Outcome, String), Error> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    let collect = tokio::spawn(async move {
        let mut out = Vec::new();
        while let Some(chunk) = rx.recv().await {
            let room = CAPTURE_LIMIT.saturating_sub(out.len());
            out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        out
    });
    let outcome = pipe(docker, container, command, None, Some(tx)).await?;
    let out = collect.await.unwrap_or_default();
    Ok((outcome, String::from_utf8_lossy(&out).into_owned()))
}
