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
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::io::read_line_capped;
use crate::project::native::{NativeService, SELF_PROGRAM};

pub mod control;
pub mod lifecycle;
pub mod observe;
pub mod set;

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
    /// Directory the process runs in (devtui's own when `None`).
    pub working_dir: Option<PathBuf>,
}

impl Spec {
    /// `program ARGS…` with the default buffer, backoff and grace period.
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>, args: Vec<OsString>) -> Spec {
        Spec {
            name: name.into(),
            program: program.into(),
            args,
            env: Vec::new(),
            log_lines: DEFAULT_LOG_LINES,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            stop_grace: Duration::from_secs(10),
            working_dir: None,
        }
    }

    /// `devtui gaian serve ARGS…` from the running executable.
    pub fn gaian(args: &[&str]) -> std::io::Result<Spec> {
        let mut all: Vec<OsString> = vec!["gaian".into(), "serve".into()];
        all.extend(args.iter().map(OsString::from));
        Ok(Spec::new("gaian", std::env::current_exe()?, all))
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Spec {
        self.env.push((key.into(), value.into()));
        self
    }

    /// How a declared native service runs: `devtui` resolves to the running executable, the
    /// environment is devtui's own plus the declared variables.
    pub fn native(service: &NativeService) -> std::io::Result<Spec> {
        let (program, args) = service
            .command
            .split_first()
            .unwrap_or((&service.name, &[]));
        let program = if program == SELF_PROGRAM {
            std::env::current_exe()?
        } else {
            PathBuf::from(program)
        };
        let mut spec = Spec::new(
            &service.name,
            program,
            args.iter().map(Into::into).collect(),
        );
        spec.env = service
            .environment
            .iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        spec.working_dir = Some(service.working_dir.clone());
        Ok(spec)
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

/// What the user asks of a supervised process (the TUI's and CLI's stop, start, restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Control {
    /// SIGTERM (SIGKILL after the grace period); no restart until `Start`.
    Stop,
    /// Start a stopped process, or one waiting out a restart backoff, now.
    Start,
    /// Stop the process and start it again at once (not counted as a crash restart).
    Restart,
}

impl Control {
    /// The verb, for messages.
    pub fn verb(self) -> &'static str {
        match self {
            Control::Stop => "stop",
            Control::Start => "start",
            Control::Restart => "restart",
        }
    }

    /// What the process is once the control has taken effect.
    pub fn done(self) -> &'static str {
        match self {
            Control::Stop => "stopped",
            Control::Start => "started",
            Control::Restart => "restarted",
        }
    }
}

/// A supervised child process. Dropping it without `stop` kills the child.
pub struct Supervisor {
    shared: Arc<Shared>,
    status: watch::Receiver<Status>,
    control: mpsc::UnboundedSender<Control>,
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
        let (control, control_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(supervise(
            spec,
            shared.clone(),
            status_tx,
            control_rx,
            cancel.clone(),
        ));
        Supervisor {
            shared,
            status,
            control,
            cancel,
            task,
        }
    }

    /// Asks for a stop, start or restart; the status reports when it has happened.
    pub fn control(&self, control: Control) {
        // The loop only ends on `stop`/drop, which also drops this handle.
        let _ = self.control.send(control);
    }

    /// Stops the process for good (like [`Supervisor::stop`]) through a shared handle.
    pub async fn shutdown(&self) -> Status {
        self.cancel.cancel();
        let mut status = self.status.clone();
        let _ = status
            .wait_for(|s| matches!(s.state, State::Stopped { .. }))
            .await;
        self.status()
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
    if let Some(dir) = &spec.working_dir {
        cmd.current_dir(dir);
    }
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

/// What ended a wait: the process or backoff ran its course, or the user or shutdown spoke.
enum Wake {
    Control(Control),
    Shutdown,
}

async fn next_wake(
    control: &mut mpsc::UnboundedReceiver<Control>,
    cancel: &CancellationToken,
) -> Wake {
    tokio::select! {
        _ = cancel.cancelled() => Wake::Shutdown,
        c = control.recv() => match c {
            Some(c) => Wake::Control(c),
            None => Wake::Shutdown,
        },
    }
}

/// Terminates the child (SIGTERM to its group, SIGKILL after the grace period) and says how
/// it ended.
async fn end_child(child: &mut Child, grace: Duration) -> String {
    terminate(child);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(s) => describe(&s),
        Err(_) => {
            let _ = child.kill().await;
            format!("killed after {grace:?} without exiting on SIGTERM")
        }
    }
}

/// Stays stopped until the user starts the process again (`Now`) or the supervisor shuts
/// down (`Shutdown`).
async fn stay_stopped(
    control: &mut mpsc::UnboundedReceiver<Control>,
    cancel: &CancellationToken,
) -> Next {
    loop {
        match next_wake(control, cancel).await {
            Wake::Shutdown => return Next::Shutdown,
            Wake::Control(Control::Stop) => {}
            Wake::Control(Control::Start | Control::Restart) => return Next::Now,
        }
    }
}

async fn supervise(
    spec: Spec,
    shared: Arc<Shared>,
    status: watch::Sender<Status>,
    mut control: mpsc::UnboundedReceiver<Control>,
    cancel: CancellationToken,
) {
    let mut restarts = 0u32;
    let mut delay = spec.backoff_initial;
    let set = |state: State, restarts: u32| {
        status.send_replace(Status { state, restarts });
    };
    let shut_down = |exit: String, restarts: u32| {
        set(State::Stopped { exit }, restarts);
    };
    loop {
        set(State::Starting, restarts);
        let started = tokio::time::Instant::now();
        let mut child = match spawn(&spec) {
            Ok(c) => c,
            Err(e) => {
                let error = format!("cannot start {}: {e}", spec.program.display());
                shared.push(Stream::Supervisor, error.clone());
                set(State::SpawnFailed { error, delay }, restarts);
                let stopped = || shut_down("never started".into(), restarts);
                match between_runs(&mut control, &cancel, delay, &stopped).await {
                    Next::Elapsed => delay = (delay * 2).min(spec.backoff_max),
                    Next::Now => delay = spec.backoff_initial,
                    Next::Shutdown => return,
                }
                continue;
            }
        };
        let pid = child.id().unwrap_or_default();
        shared.push(
            Stream::Supervisor,
            format!("{} started (pid {pid})", spec.name),
        );
        set(State::Running { pid }, restarts);
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
        // Runs until the child exits on its own or someone asks for it to end.
        let asked = loop {
            tokio::select! {
                s = child.wait() => break Err(s),
                wake = next_wake(&mut control, &cancel) => match wake {
                    Wake::Control(Control::Start) => continue,
                    Wake::Control(c) => break Ok(Some(c)),
                    Wake::Shutdown => break Ok(None),
                },
            }
        };
        let exit = match asked {
            Ok(request) => {
                let exit = end_child(&mut child, spec.stop_grace).await;
                drain(readers).await;
                match request {
                    None => {
                        shared.push(Stream::Supervisor, format!("{} stopped: {exit}", spec.name));
                        return shut_down(exit, restarts);
                    }
                    Some(Control::Restart) => {
                        shared.push(
                            Stream::Supervisor,
                            format!("{} stopped for a restart: {exit}", spec.name),
                        );
                        delay = spec.backoff_initial;
                        continue;
                    }
                    Some(_) => {
                        shared.push(Stream::Supervisor, format!("{} stopped: {exit}", spec.name));
                        shut_down(exit, restarts);
                        match stay_stopped(&mut control, &cancel).await {
                            Next::Shutdown => return,
                            Next::Now | Next::Elapsed => {
                                delay = spec.backoff_initial;
                                continue;
                            }
                        }
                    }
                }
            }
            Err(exit) => exit,
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
        set(State::Backoff { last_exit, delay }, restarts);
        let stopped = || shut_down("stopped while restarting".into(), restarts);
        match between_runs(&mut control, &cancel, delay, &stopped).await {
            Next::Elapsed => {
                delay = (delay * 2).min(spec.backoff_max);
                restarts += 1;
            }
            Next::Now => delay = spec.backoff_initial,
            Next::Shutdown => return,
        }
    }
}

/// What follows a wait between runs.
enum Next {
    /// The backoff ran out: restart (a crash restart).
    Elapsed,
    /// The user asked for a start: now, with the backoff reset.
    Now,
    Shutdown,
}

/// Waits out a restart backoff, unless the user or a shutdown cuts it short. A stop request
/// keeps the process down (`stopped` reports it) until a start; a shutdown ends supervision
/// (`stopped` reports that too).
async fn between_runs(
    control: &mut mpsc::UnboundedReceiver<Control>,
    cancel: &CancellationToken,
    delay: Duration,
    stopped: &(dyn Fn() + Sync),
) -> Next {
    let wake = tokio::select! {
        _ = tokio::time::sleep(delay) => return Next::Elapsed,
        wake = next_wake(control, cancel) => wake,
    };
    match wake {
        Wake::Control(Control::Start | Control::Restart) => Next::Now,
        Wake::Control(Control::Stop) => {
            stopped();
            stay_stopped(control, cancel).await
        }
        Wake::Shutdown => {
            stopped();
            Next::Shutdown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper() -> Spec {
        Spec {
            backoff_initial: Duration::from_secs(60),
            backoff_max: Duration::from_secs(60),
            stop_grace: Duration::from_secs(5),
            ..Spec::new(
                "sleeper",
                "/bin/sh",
                vec!["-c".into(), "echo up; exec sleep 600".into()],
            )
        }
    }

    async fn wait_state(sup: &Supervisor, what: &str, f: impl Fn(&State) -> bool) -> Status {
        let mut status = sup.watch_status();
        tokio::time::timeout(Duration::from_secs(30), status.wait_for(|s| f(&s.state)))
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}: {:?}", sup.status()))
            .expect("status")
            .clone()
    }

    /// Waits until the process has printed "up" `n` times in all (it is ready for a signal).
    async fn wait_ups(sup: &Supervisor, n: usize) {
        let ups = || sup.logs().iter().filter(|l| l.text == "up").count();
        for _ in 0..300 {
            if ups() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the process printed \"up\" {} times, not {n}", ups());
    }

    fn pid_of(s: &Status) -> u32 {
        match s.state {
            State::Running { pid } => pid,
            _ => panic!("not running: {s:?}"),
        }
    }

    /// Stop keeps the process down (no crash restart), start and restart bring it back with
    /// a new pid, and none of them counts as a crash restart.
    #[tokio::test]
    async fn stop_start_and_restart_on_request() {
        let sup = Supervisor::start(sleeper());
        let first =
            pid_of(&wait_state(&sup, "running", |s| matches!(s, State::Running { .. })).await);
        wait_ups(&sup, 1).await;
        sup.control(Control::Stop);
        wait_state(&sup, "stopped", |s| matches!(s, State::Stopped { .. })).await;
        // Waited for, so reaped: no zombie left behind.
        assert!(!std::path::Path::new(&format!("/proc/{first}")).exists());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            matches!(sup.status().state, State::Stopped { .. }),
            "stays stopped"
        );
        sup.control(Control::Start);
        let second =
            pid_of(&wait_state(&sup, "started", |s| matches!(s, State::Running { .. })).await);
        assert_ne!(first, second);
        wait_ups(&sup, 2).await;
        sup.control(Control::Restart);
        let third = wait_state(
            &sup,
            "restarted",
            |s| matches!(s, State::Running { pid } if *pid != second),
        )
        .await;
        assert_eq!(third.restarts, 0, "requested restarts are not crashes");
        wait_ups(&sup, 3).await;
        let end = sup.shutdown().await;
        assert!(matches!(end.state, State::Stopped { .. }), "{end:?}");
    }

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
            working_dir: None,
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
