//! Native processes supervised by devtui (Gaian run from the current executable).
//!
//! A [`Supervisor`] owns one child process: it starts it, captures stdout and stderr line by
//! line into a bounded ring (and a broadcast channel for live followers), restarts it with
//! exponential backoff when it exits on its own, and stops it with SIGTERM (SIGKILL after a
//! grace period). The TUI and profiles use it to run `devtui gaian serve` natively.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::engine::compose::read_line_capped;

/// Lines kept per process when not configured otherwise.
pub const DEFAULT_LOG_LINES: usize = 2000;
/// A run that lasted this long resets the backoff: the crash is not a crash loop.
const HEALTHY_RUN: Duration = Duration::from_secs(30);
/// After the process exits, its output is read for at most this long (a grandchild may
/// still hold the pipe open).
const DRAIN_LIMIT: Duration = Duration::from_secs(1);
/// Longest captured line; longer ones are cut, so one process cannot eat the memory.
/// Invalid UTF-8 is replaced, never a reason to stop reading (the child would block).
const MAX_LINE: usize = 8 * 1024;

/// What to run and how to look after it.
#[derive(Debug, Clone)]
pub struct Spec {
    /// A short name for logs and the TUI ("gaian").
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// Lines kept in the ring buffer.
    pub log_lines: usize,
    /// First restart delay; doubles per crash up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Time between SIGTERM and SIGKILL on stop.
    pub stop_grace: Duration,
}

impl Spec {
    /// `devtui gaian serve ARGS…` from the running executable.
    pub fn gaian(args: &[&str]) -> std::io::Result<Spec> {
        let mut all: Vec<OsString> = vec!["gaian".into(), "serve".into()];
        all.extend(args.iter().map(OsString::from));
        Ok(Spec {
            name: "gaian".into(),
            program: std::env::current_exe()?,
            args: all,
            env: Vec::new(),
            log_lines: DEFAULT_LOG_LINES,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            stop_grace: Duration::from_secs(10),
        })
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Spec {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    /// A line written by the supervisor itself (started, exited, restarting).
    Supervisor,
}

/// One captured line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: SystemTime,
    pub stream: Stream,
    pub text: String,
}

/// Where the process is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Starting,
    Running {
        pid: u32,
    },
    /// Exited on its own; restarting after `delay`.
    Backoff {
        last_exit: String,
        delay: Duration,
    },
    /// Could not be started at all (binary missing…); retried with backoff too.
    SpawnFailed {
        error: String,
        delay: Duration,
    },
    /// Stopped by [`Supervisor::stop`].
    Stopped {
        exit: String,
    },
}

/// A snapshot of the supervised process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    /// Restarts after crashes so far.
    pub restarts: u32,
}

struct Shared {
    logs: Mutex<VecDeque<LogLine>>,
    capacity: usize,
    lines: broadcast::Sender<LogLine>,
}

impl Shared {
    fn push(&self, stream: Stream, text: String) {
        let line = LogLine {
            at: SystemTime::now(),
            stream,
            text,
        };
        {
            let mut logs = match self.logs.lock() {
                Ok(l) => l,
                Err(p) => p.into_inner(),
            };
            if logs.len() == self.capacity {
                logs.pop_front();
            }
            logs.push_back(line.clone());
        }
        // No followers is fine: the ring keeps the history.
        let _ = self.lines.send(line);
    }
}

/// A supervised child process. Dropping it without `stop` kills the child.
pub struct Supervisor {
    shared: Arc<Shared>,
    status: watch::Receiver<Status>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Supervisor {
    /// Starts the process and its supervision loop.
    pub fn start(spec: Spec) -> Supervisor {
        let (lines, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            logs: Mutex::new(VecDeque::with_capacity(spec.log_lines.min(4096))),
            capacity: spec.log_lines.max(1),
            lines,
        });
        let (status_tx, status) = watch::channel(Status {
            state: State::Starting,
            restarts: 0,
        });
        let cancel = CancellationToken::new();
        let task = tokio::spawn(supervise(spec, shared.clone(), status_tx, cancel.clone()));
        Supervisor {
            shared,
            status,
            cancel,
            task,
        }
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change (for the TUI's message loop).
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// The captured lines, oldest first (at most the configured number).
    pub fn logs(&self) -> Vec<LogLine> {
        match self.shared.logs.lock() {
            Ok(l) => l.iter().cloned().collect(),
            Err(p) => p.into_inner().iter().cloned().collect(),
        }
    }

    /// Live lines from now on; a slow follower skips lines (`Lagged`) rather than block.
    pub fn follow(&self) -> broadcast::Receiver<LogLine> {
        self.shared.lines.subscribe()
    }

    /// Sends SIGTERM, waits up to the grace period, then SIGKILL; no restart after this.
    pub async fn stop(mut self) -> Status {
        self.cancel.cancel();
        let _ = (&mut self.task).await;
        self.status.borrow().clone()
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // The loop kills the child when cancelled; `kill_on_drop` covers an aborted task.
        self.cancel.cancel();
    }
}

fn describe(status: &std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("wait failed: {e}"),
    }
}

fn spawn(spec: &Spec) -> std::io::Result<Child> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own process group, so a stop reaches the children it started too.
    #[cfg(unix)]
    cmd.process_group(0);
    cmd.spawn()
}

fn capture<R: AsyncRead + Unpin + Send + 'static>(
    reader: R,
    stream: Stream,
    shared: Arc<Shared>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(reader);
        let mut buf = Vec::new();
        while let Ok(Some(line)) = read_line_capped(&mut reader, &mut buf, MAX_LINE).await {
            shared.push(stream, line);
        }
    })
}

async fn drain(readers: [Option<JoinHandle<()>>; 2]) {
    for mut r in readers.into_iter().flatten() {
        if tokio::time::timeout(DRAIN_LIMIT, &mut r).await.is_err() {
            r.abort();
        }
    }
}

fn terminate(child: &Child) {
    if let Some(pid) = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
    }
}

async fn supervise(
    spec: Spec,
    shared: Arc<Shared>,
    status: watch::Sender<Status>,
    cancel: CancellationToken,
) {
    let mut restarts = 0u32;
    let mut delay = spec.backoff_initial;
    loop {
        status.send_replace(Status {
            state: State::Starting,
            restarts,
        });
        let started = tokio::time::Instant::now();
        let mut child = match spawn(&spec) {
            Ok(c) => c,
            Err(e) => {
                let error = format!("cannot start {}: {e}", spec.program.display());
                shared.push(Stream::Supervisor, error.clone());
                status.send_replace(Status {
                    state: State::SpawnFailed { error, delay },
                    restarts,
                });
                if stopped_during(&cancel, delay).await {
                    status.send_replace(Status {
                        state: State::Stopped {
                            exit: "never started".into(),
                        },
                        restarts,
                    });
                    return;
                }
                delay = (delay * 2).min(spec.backoff_max);
                continue;
            }
        };
        let pid = child.id().unwrap_or_default();
        shared.push(
            Stream::Supervisor,
            format!("{} started (pid {pid})", spec.name),
        );
        status.send_replace(Status {
            state: State::Running { pid },
            restarts,
        });
        let readers = [
            child
                .stdout
                .take()
                .map(|o| capture(o, Stream::Stdout, shared.clone())),
            child
                .stderr
                .take()
                .map(|e| capture(e, Stream::Stderr, shared.clone())),
        ];
        let exited = tokio::select! {
            s = child.wait() => Some(s),
            _ = cancel.cancelled() => None,
        };
        let Some(exit) = exited else {
            terminate(&child);
            let exit = match tokio::time::timeout(spec.stop_grace, child.wait()).await {
                Ok(s) => describe(&s),
                Err(_) => {
                    let _ = child.kill().await;
                    format!(
                        "killed after {:?} without exiting on SIGTERM",
                        spec.stop_grace
                    )
                }
            };
            drain(readers).await;
            shared.push(Stream::Supervisor, format!("{} stopped: {exit}", spec.name));
            status.send_replace(Status {
                state: State::Stopped { exit },
                restarts,
            });
            return;
        };
        drain(readers).await;
        let last_exit = describe(&exit);
        if started.elapsed() >= HEALTHY_RUN {
            delay = spec.backoff_initial;
        }
        shared.push(
            Stream::Supervisor,
            format!(
                "{} exited ({last_exit}); restarting in {delay:?}",
                spec.name
            ),
        );
        status.send_replace(Status {
            state: State::Backoff { last_exit, delay },
            restarts,
        });
        if stopped_during(&cancel, delay).await {
            status.send_replace(Status {
                state: State::Stopped {
                    exit: "stopped while restarting".into(),
                },
                restarts,
            });
            return;
        }
        delay = (delay * 2).min(spec.backoff_max);
        restarts += 1;
    }
}

/// Waits out a restart backoff; true when the supervisor was stopped meanwhile.
async fn stopped_during(cancel: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(delay) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Invalid UTF-8 and an over-long line must not stop the readers: the child writes far
    /// more than a pipe holds after them, and would block forever if nobody read on.
    #[tokio::test]
    async fn output_after_bad_utf8_and_long_lines_is_still_read() {
        let script = r"printf 'bad \377\376 bytes\n'; head -c 100000 /dev/zero | tr '\0' x; echo;
            i=0; while [ $i -lt 3000 ]; do echo filler $i; echo err $i >&2; i=$((i+1)); done;
            printf 'bad \377 again\n' >&2; echo done";
        let spec = Spec {
            name: "sh".into(),
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: Vec::new(),
            log_lines: 10_000,
            backoff_initial: Duration::from_secs(60),
            backoff_max: Duration::from_secs(60),
            stop_grace: Duration::from_secs(1),
        };
        let sup = Supervisor::start(spec);
        let mut status = sup.watch_status();
        tokio::time::timeout(
            Duration::from_secs(30),
            status.wait_for(|s| matches!(s.state, State::Backoff { .. })),
        )
        .await
        .expect("the child exited (it did not block on a full pipe)")
        .expect("status");
        let logs = sup.logs();
        let text = |stream: Stream| -> Vec<String> {
            logs.iter()
                .filter(|l| l.stream == stream)
                .map(|l| l.text.clone())
                .collect()
        };
        let out = text(Stream::Stdout);
        let err = text(Stream::Stderr);
        assert_eq!(
            out.first().map(String::as_str),
            Some("bad \u{fffd}\u{fffd} bytes")
        );
        assert_eq!(out[1], "x".repeat(MAX_LINE));
        assert_eq!(out.last().map(String::as_str), Some("done"));
        assert_eq!(out.len(), 3 + 3000);
        assert_eq!(err.len(), 3000 + 1);
        assert_eq!(err.last().map(String::as_str), Some("bad \u{fffd} again"));
        sup.stop().await;
    }
}
