//! What devtui shows about a native service: its supervisor's state, its health (an HTTP
//! probe) and its resource use, in the same `ServiceStatus` and `Stats` shapes the engine
//! layer reports for containers, so the dashboard and `up` treat both alike.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{State, Status, Supervisor};
use crate::engine::logs::{LogBatch, LogEvent, LogStream, Timestamp};
use crate::engine::stats::Stats;
use crate::engine::{ContainerState, Health, PublishedPort, Runtime, ServiceStatus};
use crate::project::native::NativeService;
use crate::project::{Project, model::Service};

/// Time between two health probes, as the bundled stack's container healthchecks.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// A probe that takes longer than this failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// A native service and the supervisor running it.
pub struct Native {
    pub service: NativeService,
    pub supervisor: Supervisor,
    /// The host ports it publishes (those of the compose service it replaces).
    pub ports: Vec<PublishedPort>,
    /// Its status as its one observer keeps it (`subscribe`).
    observed: OnceLock<watch::Receiver<ServiceStatus>>,
}

impl Native {
    /// Starts `service` under supervision.
    pub fn start(service: NativeService, project: &Project) -> std::io::Result<Arc<Native>> {
        let ports = project
            .service(&service.name)
            .map(published)
            .unwrap_or_default();
        Native::start_with_ports(service, ports)
    }

    /// Starts `service` under supervision, publishing `ports`.
    pub fn start_with_ports(
        service: NativeService,
        ports: Vec<PublishedPort>,
    ) -> std::io::Result<Arc<Native>> {
        let supervisor = Supervisor::start(super::Spec::native(&service)?);
        Ok(Arc::new(Native {
            service,
            supervisor,
            ports,
            observed: OnceLock::new(),
        }))
    }
}

fn published(service: &Service) -> Vec<PublishedPort> {
    service
        .ports
        .iter()
        .filter_map(|p| {
            Some(PublishedPort {
                // A native process runs on this machine, whatever the engine.
                remote_host: None,
                host_ip: p.host_ip.clone().unwrap_or_default(),
                host_port: p.published?,
                container_port: p.target,
                protocol: p.protocol.clone(),
            })
        })
        .collect()
}

/// What the health probe has seen since the process last started.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Probe {
    health: Health,
    output: Option<String>,
}

impl Probe {
    /// Nothing probed (a process that is not running).
    const NONE: Probe = Probe {
        health: Health::None,
        output: None,
    };
}

/// The native service as a dashboard row sees a container.
fn status_of(
    native: &Native,
    status: &Status,
    probe: &Probe,
    started_at: Option<&str>,
) -> ServiceStatus {
    // What the supervisor says of a process that is not running, in the probe's place.
    let (state, note) = match &status.state {
        State::Starting => (ContainerState::Created, None),
        State::Running { .. } => (ContainerState::Running, None),
        State::Backoff { last_exit, delay } => (
            ContainerState::Restarting,
            Some(format!("{last_exit}; restarting in {delay:?}")),
        ),
        State::SpawnFailed { error, delay } => (
            ContainerState::Restarting,
            Some(format!("{error}; retrying in {delay:?}")),
        ),
        State::Stopped { exit } => (ContainerState::Exited, Some(exit.clone())),
    };
    let running = state == ContainerState::Running;
    ServiceStatus {
        service: native.service.name.clone(),
        runtime: Runtime::Native {
            pid: pid(status),
            command: native.service.command_line(),
        },
        state,
        health: if running { probe.health } else { Health::None },
        last_probe_output: note.or_else(|| probe.output.clone().filter(|_| running)),
        exit_code: None,
        restarts: u64::from(status.restarts),
        ports: native.ports.clone(),
        started_at: if running {
            started_at.map(str::to_string)
        } else {
            None
        },
        replica: None,
    }
}

/// The native service's status, kept up to date by one observer for every viewer (`up`, the
/// TUI, other devtui commands), so the process is probed once however many look. The first
/// call starts the observer; it ends with the supervisor.
pub fn subscribe(native: &Arc<Native>) -> watch::Receiver<ServiceStatus> {
    native
        .observed
        .get_or_init(|| {
            let (tx, rx) = watch::channel(status_of(
                native,
                &native.supervisor.status(),
                &Probe::NONE,
                None,
            ));
            tokio::spawn(observe(native.clone(), tx));
            rx
        })
        .clone()
}

/// Sends the native service's status through `tx` now and whenever it changes, until `cancel`
/// fires.
pub fn watch<M, F>(
    native: Arc<Native>,
    cancel: CancellationToken,
    tx: mpsc::Sender<M>,
    wrap: F,
) -> tokio::task::JoinHandle<()>
where
    M: Send + 'static,
    F: Fn(ServiceStatus) -> M + Send + 'static,
{
    tokio::spawn(async move {
        let mut status = subscribe(&native);
        loop {
            let now = status.borrow_and_update().clone();
            if tx.send(wrap(now)).await.is_err() {
                return;
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                changed = status.changed() => if changed.is_err() { return },
            }
        }
    })
}

/// Follows a supervisor transition or a probe with a different outcome into `tx`.
async fn observe(native: Arc<Native>, tx: watch::Sender<ServiceStatus>) {
    let mut supervisor = native.supervisor.watch_status();
    let client = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .no_proxy()
        .build()
        .ok();
    let mut probe = Probe::NONE;
    let mut started_at: Option<String> = None;
    // A restart can go by between two looks at the status: a new pid is a new start.
    let mut started_pid: Option<u32> = None;
    let mut probe_tick = tokio::time::interval(PROBE_INTERVAL);
    probe_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let status = supervisor.borrow_and_update().clone();
        let running_pid = pid(&status);
        let running = running_pid.is_some();
        if !running {
            started_at = None;
            started_pid = None;
            probe = Probe::NONE;
        } else if started_pid != running_pid {
            started_pid = running_pid;
            started_at = OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .ok();
            probe = Probe {
                health: if native.service.healthcheck.is_some() {
                    Health::Starting
                } else {
                    Health::None
                },
                output: None,
            };
            probe_tick.reset_immediately();
        }
        let now = status_of(&native, &status, &probe, started_at.as_deref());
        tx.send_if_modified(|last| {
            let changed = *last != now;
            if changed {
                *last = now;
            }
            changed
        });
        let url = native.service.healthcheck.as_deref().filter(|_| running);
        tokio::select! {
            changed = supervisor.changed() => if changed.is_err() { return },
            _ = probe_tick.tick(), if url.is_some() => {
                if let (Some(url), Some(client)) = (url, &client) {
                    probe = next_probe(&probe, check(client, url).await);
                }
            }
        }
    }
}

/// One probe's result folded into what was known: `starting` until the first success, then
/// `healthy` or `unhealthy` with each probe.
fn next_probe(before: &Probe, result: Result<String, String>) -> Probe {
    match result {
        Ok(output) => Probe {
            health: Health::Healthy,
            output: Some(output),
        },
        Err(output) => Probe {
            health: if before.health == Health::Starting {
                Health::Starting
            } else {
                Health::Unhealthy
            },
            output: Some(output),
        },
    }
}

async fn check(client: &reqwest::Client, url: &str) -> Result<String, String> {
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => Ok(format!("{url}: {}", r.status())),
        Ok(r) => Err(format!("{url}: {}", r.status())),
        Err(e) => Err(format!("{url}: {}", without_url(e))),
    }
}

/// reqwest's error text without the URL it already repeats.
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// CPU and memory of a native process and its descendants, sampled from /proc (the engine's
/// stats stream is for containers only).
pub struct Usage {
    last: Option<(u32, u64, Instant)>,
}

impl Default for Usage {
    fn default() -> Self {
        Self::new()
    }
}

impl Usage {
    pub fn new() -> Usage {
        Usage { last: None }
    }

    /// A sample for the running process `pid`; `None` on the first call for a pid (CPU needs
    /// two readings) or when /proc cannot say.
    pub fn sample(&mut self, pid: u32) -> Option<Stats> {
        let tree = tree(i32::try_from(pid).ok()?);
        if tree.is_empty() {
            return None;
        }
        let stats: Vec<_> = tree.iter().filter_map(|p| p.stat().ok()).collect();
        let ticks: u64 = stats.iter().map(|s| s.utime + s.stime).sum();
        let page = rustix::param::page_size() as u64;
        let memory_bytes: u64 = stats.iter().map(|s| s.rss * page).sum();
        let now = Instant::now();
        let before = self.last.replace((pid, ticks, now));
        let (last_pid, last_ticks, at) = before?;
        if last_pid != pid {
            return None;
        }
        let secs = now.duration_since(at).as_secs_f64();
        let per_sec = procfs::ticks_per_second() as f64;
        let cpu_percent = if secs > 0.0 {
            ticks.saturating_sub(last_ticks) as f64 / per_sec / secs * 100.0
        } else {
            0.0
        };
        Some(Stats {
            cpu_percent,
            memory_bytes,
            // No cgroup limit (0, as for a container without one); nothing shows it.
            memory_limit: 0,
        })
    }
}

/// Processes counted at most in one native service's figures.
const MAX_TREE: usize = 256;

/// `pid` and its descendants: a dev server's workers (`npm run dev` and its node) count with
/// it. Read from each thread's `children` list, so only the tree is visited, not all of /proc.
fn tree(pid: i32) -> Vec<procfs::process::Process> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(next) = queue.pop() {
        if found.len() >= MAX_TREE {
            break;
        }
        let Ok(process) = procfs::process::Process::new(next) else {
            continue;
        };
        for task in process.tasks().into_iter().flatten().flatten() {
            let children = task.children().unwrap_or_default();
            queue.extend(children.into_iter().filter_map(|c| i32::try_from(c).ok()));
        }
        found.push(process);
    }
    found
}

/// The pid of a running native process.
pub fn pid(status: &Status) -> Option<u32> {
    match status.state {
        State::Running { pid } => Some(pid),
        _ => None,
    }
}

/// Lines taken at most into one batch, as for container logs.
const MAX_BATCH: usize = 1024;
/// Time between two CPU and memory samples, as the engine's stats stream.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

fn push(batch: &mut LogBatch, line: &super::LogLine) {
    let stream = match line.stream {
        super::Stream::Stdout => LogStream::Stdout,
        // The supervisor's own lines (exited, restarting) stand out like stderr.
        super::Stream::Stderr | super::Stream::Supervisor => LogStream::Stderr,
    };
    batch.push(stream, Some(Timestamp::from(line.at)), &line.text);
}

/// The last `tail` kept lines of the native service's output.
pub fn history(native: &Native, tail: usize) -> LogBatch {
    let history = native.supervisor.logs();
    let skip = history.len().saturating_sub(tail);
    let mut batch = LogBatch::default();
    for line in history.iter().skip(skip) {
        push(&mut batch, line);
    }
    batch
}

/// Sends the last `tail` kept lines of the native service, then its live lines in batches,
/// until `cancel` fires: the native counterpart of `engine::logs::follow`.
pub async fn follow_logs<M, F>(
    native: Arc<Native>,
    tail: usize,
    cancel: CancellationToken,
    tx: mpsc::Sender<M>,
    wrap: F,
) where
    F: Fn(LogEvent) -> M,
{
    // Subscribe before reading the history, so no line falls between the two.
    let mut live = native.supervisor.follow();
    let history = native.supervisor.logs();
    // Lines already in the history may arrive again on the live channel.
    let last_seen = history.last().map(|l| l.at);
    let seen = |l: &super::LogLine| last_seen.is_some_and(|at| l.at <= at);
    let skip = history.len().saturating_sub(tail);
    let mut first = LogBatch::default();
    for line in history.iter().skip(skip) {
        push(&mut first, line);
    }
    if !first.is_empty() && tx.send(wrap(LogEvent::Lines(first))).await.is_err() {
        return;
    }
    loop {
        let line = tokio::select! {
            _ = cancel.cancelled() => return,
            line = live.recv() => line,
        };
        let mut batch = LogBatch::default();
        match line {
            Ok(l) => {
                if seen(&l) {
                    continue;
                }
                push(&mut batch, &l);
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => batch.push(
                LogStream::Stderr,
                None,
                &format!("devtui: {n} lines skipped (output faster than the screen)"),
            ),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                let _ = tx.send(wrap(LogEvent::Ended(None))).await;
                return;
            }
        }
        while batch.len() < MAX_BATCH {
            match live.try_recv() {
                Ok(l) if seen(&l) => {}
                Ok(l) => push(&mut batch, &l),
                Err(_) => break,
            }
        }
        if tx.send(wrap(LogEvent::Lines(batch))).await.is_err() {
            return;
        }
    }
}

/// Samples the native service's CPU and memory once a second while it runs, until `cancel`
/// fires: the native counterpart of `engine::stats::follow`.
pub async fn follow_stats<M, F>(
    native: Arc<Native>,
    cancel: CancellationToken,
    tx: mpsc::Sender<M>,
    wrap: F,
) where
    F: Fn(Stats) -> M,
{
    let mut usage = Usage::new();
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        let Some(pid) = pid(&native.supervisor.status()) else {
            continue;
        };
        let sample = tokio::task::spawn_blocking(move || {
            let stats = usage.sample(pid);
            (usage, stats)
        })
        .await;
        let Ok((back, stats)) = sample else { return };
        usage = back;
        if let Some(stats) = stats
            && tx.send(wrap(stats)).await.is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_starts_then_follows_each_probe() {
        let starting = Probe {
            health: Health::Starting,
            output: None,
        };
        let failed = next_probe(&starting, Err("refused".into()));
        assert_eq!(
            failed.health,
            Health::Starting,
            "not unhealthy before it was up"
        );
        let ok = next_probe(&failed, Ok("200 OK".into()));
        assert_eq!(ok.health, Health::Healthy);
        let down = next_probe(&ok, Err("refused".into()));
        assert_eq!(down.health, Health::Unhealthy);
        assert_eq!(down.output.as_deref(), Some("refused"));
    }

    /// The busy loop runs in a child of the watched shell: descendants count.
    #[tokio::test]
    async fn usage_of_a_busy_process_tree() {
        let mut child = tokio::process::Command::new("/bin/sh")
            .args(["-c", "sh -c 'while :; do :; done'; true"])
            // The shell reports its child's end ("Terminated") there.
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let pid = child.id().expect("pid");
        let mut usage = Usage::new();
        assert_eq!(
            usage.sample(pid),
            None,
            "the first reading has nothing to compare"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stats = usage.sample(pid).expect("sample");
        assert!(stats.cpu_percent > 10.0, "a busy loop uses CPU: {stats:?}");
        assert!(stats.memory_bytes > 0);
        // The grandchild is not ours to reap: end it through its parent's group.
        let _ = std::process::Command::new("pkill")
            .args(["-P", &pid.to_string()])
            .status();
        let _ = child.kill().await;
    }
}
