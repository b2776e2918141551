//! The life of native services: `up` starts them under supervision once the containers they
//! need are up and waits for their health; actions stop, start and restart them; without a
//! TUI they run in the foreground.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::logs::LogEvent;
use crate::engine::{ContainerState, Health, ServiceStatus};
use crate::exit::{self, Failure};
use crate::project::Project;
use crate::project::env::Secrets;
use crate::project::native::NativeService;
use crate::supervisor::observe::{self, Native};
use crate::supervisor::{Control, State};

/// How many of a failed native service's last lines a failure shows.
const FAILURE_LOG_LINES: usize = 20;
/// A native service not ready after this long gets a line saying what `up` waits for.
const SLOW_START: Duration = Duration::from_secs(5);
/// A native action waits this long for the process to reach the asked state.
const ACTION_WAIT: Duration = Duration::from_secs(30);

/// Starts `services` one after the other (each once the previous is healthy), and returns
/// them running and healthy, or a failure with the last lines of the one that was not.
pub async fn start_all(
    project: &Project,
    services: &[NativeService],
    timeout: Duration,
) -> Result<Vec<Arc<Native>>, Failure> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut started = Vec::new();
    let notice = |text: &str| eprintln!("devtui: {text}");
    for service in services {
        let t0 = Instant::now();
        let native = Native::start(service.clone(), project).map_err(|e| {
            Failure::new(
                exit::FAILED,
                format!("cannot start {} natively: {e}", service.name),
            )
        })?;
        started.push(native.clone());
        if let Err(reason) = wait_ready(&native, deadline, &notice).await {
            let tail = last_lines(&native);
            for n in &started {
                n.supervisor.shutdown().await;
            }
            return Err(Failure::new(
                exit::FAILED,
                project.secrets.mask(&format!(
                    "{} (native) {reason}; its last lines:\n{tail}",
                    service.name
                )),
            ));
        }
        eprintln!(
            "devtui: {} (native) is {} in {:.1}s",
            service.name,
            if service.healthcheck.is_some() {
                "healthy"
            } else {
                "running"
            },
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(started)
}

/// Starts one native service and waits until it is healthy (or running, without a health
/// URL), saying nothing on the terminal (the TUI may own it); on failure it is stopped and
/// the error carries its last lines.
pub async fn start_one(
    project: &Project,
    service: &NativeService,
    timeout: Duration,
) -> Result<Arc<Native>, String> {
    let native = Native::start(service.clone(), project)
        .map_err(|e| format!("cannot start {} natively: {e}", service.name))?;
    let deadline = tokio::time::Instant::now() + timeout;
    if let Err(reason) = wait_ready(&native, deadline, &|_| {}).await {
        let tail = last_lines(&native);
        native.supervisor.shutdown().await;
        return Err(project
            .secrets
            .mask(&format!(
                "{} (native) {reason}; its last lines:\n{tail}",
                service.name
            ))
            .into_owned());
    }
    Ok(native)
}

/// Waits until the native service is healthy (or running, without a health URL); `notice`
/// hears once when that takes long.
async fn wait_ready(
    native: &Arc<Native>,
    deadline: tokio::time::Instant,
    notice_slow: &(dyn Fn(&str) + Sync),
) -> Result<(), String> {
    let mut status = observe::subscribe(native);
    // Ready, or crashed / unable to start: `up` fails rather than wait out the backoff.
    let settled = |s: &ServiceStatus| {
        matches!(
            (s.state, s.health),
            (ContainerState::Running, Health::Healthy | Health::None)
                | (ContainerState::Restarting, _)
        )
    };
    let last_probe = |status: &ServiceStatus| {
        status
            .last_probe_output
            .as_ref()
            .map(|p| format!(" (last probe: {p})"))
            .unwrap_or_default()
    };
    // A slow start says what it waits for, once, rather than nothing until the deadline.
    let mut notice = Some(tokio::time::Instant::now() + SLOW_START);
    let crashed = loop {
        let until = notice.map_or(deadline, |n| n.min(deadline));
        let outcome = tokio::time::timeout_at(until, status.wait_for(settled))
            .await
            .map(|settled| settled.map(|now| now.state == ContainerState::Restarting));
        match outcome {
            Ok(Ok(crashed)) => break crashed,
            Ok(Err(_)) => return Err("stopped being watched".into()),
            Err(_) if notice.take().is_some() && until < deadline => {
                let left = deadline - tokio::time::Instant::now();
                notice_slow(&format!(
                    "{} (native) is not healthy yet; waiting up to {}s more{}",
                    native.service.name,
                    left.as_secs(),
                    last_probe(&status.borrow())
                ));
            }
            Err(_) => {
                let probe = last_probe(&status.borrow());
                return Err(format!("was not healthy in time{probe}"));
            }
        }
    };
    if !crashed {
        return Ok(());
    }
    Err(match native.supervisor.status().state {
        State::SpawnFailed { error, .. } => error,
        State::Backoff { last_exit, .. } => format!("failed: {last_exit}"),
        _ => "failed".into(),
    })
}

fn last_lines(native: &Native) -> String {
    let logs = native.supervisor.logs();
    let skip = logs.len().saturating_sub(FAILURE_LOG_LINES);
    logs.iter()
        .skip(skip)
        .map(|l| format!("    {}", l.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Stops every native service (SIGTERM, then SIGKILL after the grace period).
pub async fn stop_all(natives: &[Arc<Native>]) {
    for native in natives {
        let status = native.supervisor.shutdown().await;
        if let State::Stopped { exit } = status.state {
            eprintln!("devtui: stopped {} (native): {exit}", native.service.name);
        }
    }
}

/// Stops, starts or restarts a native service; returns a message for the user once the
/// process is where it was asked to be.
pub async fn perform(native: &Native, control: Control) -> Result<String, String> {
    let name = &native.service.name;
    let sup = &native.supervisor;
    let before = observe::pid(&sup.status());
    let done = |s: &State| match control {
        Control::Stop => matches!(s, State::Stopped { .. }),
        Control::Start => matches!(s, State::Running { .. }),
        Control::Restart => matches!(s, State::Running { pid } if Some(*pid) != before),
    };
    let mut status = sup.watch_status();
    sup.control(control);
    match tokio::time::timeout(ACTION_WAIT, status.wait_for(|s| done(&s.state))).await {
        Ok(Ok(_)) => Ok(format!("{name} {}", control.done())),
        Ok(Err(_)) => Err(format!("{name}'s supervisor ended")),
        Err(_) => Err(format!(
            "{name} did not {} within {ACTION_WAIT:?}",
            control.verb()
        )),
    }
}

/// The native service's row, as its observer last saw it.
pub fn status(native: &Arc<Native>) -> ServiceStatus {
    observe::subscribe(native).borrow().clone()
}

/// Without the TUI, native services run in the foreground, their output on stdout
/// (`SERVICE | line`, secrets masked), until a signal stops them; returns 128 + the signal.
pub async fn foreground(natives: &[Arc<Native>], secrets: &Secrets) -> anyhow::Result<i32> {
    use tokio::signal::unix::{SignalKind, signal};
    let names: Vec<&str> = natives.iter().map(|n| n.service.name.as_str()).collect();
    eprintln!(
        "devtui: {} running natively in the foreground; Ctrl-C stops {}",
        names.join(", "),
        if names.len() == 1 { "it" } else { "them" }
    );
    let cancel = tokio_util::sync::CancellationToken::new();
    let _stop = cancel.clone().drop_guard();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    for native in natives {
        let name = native.service.name.clone();
        // From their first line: they were started just now.
        tokio::spawn(observe::follow_logs(
            native.clone(),
            usize::MAX,
            cancel.child_token(),
            tx.clone(),
            move |event| (name.clone(), event),
        ));
    }
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut out = std::io::stdout();
    loop {
        let (name, event) = tokio::select! {
            _ = sigint.recv() => return Ok(128 + 2),
            _ = sigterm.recv() => return Ok(128 + 15),
            _ = sighup.recv() => return Ok(128 + 1),
            Some(batch) = rx.recv() => batch,
        };
        if let LogEvent::Lines(lines) = event {
            for line in lines.iter() {
                let _ = writeln!(out, "{name:width$} | {}", secrets.mask(line.text));
            }
            let _ = out.flush();
        }
    }
}
