//! The engine layer against the real engine: version negotiation, and the watcher's
//! snapshot and event-driven updates (start, stop, removal) for one project.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use devtui::engine::{ContainerState, EngineUpdate, Health};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(60);

async fn next_matching(
    rx: &mut tokio::sync::mpsc::Receiver<EngineUpdate>,
    what: &str,
    pred: impl Fn(&EngineUpdate) -> bool,
) -> EngineUpdate {
    tokio::time::timeout(WAIT, async {
        loop {
            let u = rx.recv().await.expect("watcher alive");
            if pred(&u) {
                return u;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} update within {WAIT:?}"))
}

fn compose(dir: &std::path::Path, project: &str, args: &[&str]) {
    let image = std::env::var("DEVTUI_BASE_IMAGE")
        .unwrap_or_else(|_| "devtui-standin/debian:bookworm".into());
    let out = Command::new("docker")
        .args(["compose", "-p", project])
        .args(args)
        .current_dir(dir)
        .env("DEVTUI_BASE_IMAGE", image)
        .env("APP_SECRET", "x")
        .output()
        .expect("docker compose");
    assert!(
        out.status.success(),
        "compose {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// Single-threaded, and the compose calls below block it on purpose: events that happen before
// the watcher has sent its events request must still arrive (it replays from the engine clock).
#[tokio::test]
async fn watcher_follows_events_for_its_project() {
    if !engine_ready() {
        return;
    }
    let docker = devtui::engine::client::connect().await.expect("connect");
    assert!(!docker.client_version().to_string().is_empty());

    let project = unique_name("watch");
    let _cleanup = Cleanup::new(&project);
    let dir = fixture("envgen");
    compose(dir.path(), &project, &["up", "-d"]);

    let cancel = CancellationToken::new();
    let mut rx = devtui::engine::watch::watch(project.clone(), cancel.clone());
    assert!(matches!(
        next_matching(&mut rx, "Connected", |u| matches!(
            u,
            EngineUpdate::Connected { .. }
        ))
        .await,
        EngineUpdate::Connected { .. }
    ));
    // Snapshot: the running container.
    let EngineUpdate::Service(s) = next_matching(
        &mut rx,
        "snapshot",
        |u| matches!(u, EngineUpdate::Service(s) if s.service == "app"),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(s.state, ContainerState::Running);
    assert!(s.started_at.is_some());

    // Stop: an event-driven update to exited.
    compose(dir.path(), &project, &["stop", "-t", "1"]);
    let EngineUpdate::Service(s) = next_matching(&mut rx, "exited", |u| {
        matches!(u, EngineUpdate::Service(s) if s.service == "app" && s.state == ContainerState::Exited)
    })
    .await
    else {
        unreachable!()
    };
    assert!(s.exit_code.is_some());

    // Start again, then remove: Running, then Removed.
    compose(dir.path(), &project, &["start"]);
    next_matching(&mut rx, "running again", |u| {
        matches!(u, EngineUpdate::Service(s) if s.service == "app" && s.state == ContainerState::Running)
    })
    .await;
    compose(dir.path(), &project, &["down", "-t", "1"]);
    next_matching(
        &mut rx,
        "removed",
        |u| matches!(u, EngineUpdate::Removed { service, .. } if service == "app"),
    )
    .await;

    cancel.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
}

// The watcher asks the engine for the relevant actions only; health_status arrives with a
// suffix ("health_status: unhealthy"), which the engine matches by prefix when asked for it.
// The snapshot is taken before the container exists, so both updates come from events.
#[tokio::test]
async fn watcher_sees_health_turn_from_events() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("watchhealth");
    let _cleanup = Cleanup::new(&project);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        r#"services:
  sick:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm-slim}
    command: ["sleep", "infinity"]
    init: true
    healthcheck:
      test: ["CMD-SHELL", "echo probe-says-no; exit 1"]
      interval: 1s
      timeout: 2s
      retries: 4
"#,
    )
    .expect("compose file");

    let cancel = CancellationToken::new();
    let mut rx = devtui::engine::watch::watch(project.clone(), cancel.clone());
    next_matching(&mut rx, "Connected", |u| {
        matches!(u, EngineUpdate::Connected { .. })
    })
    .await;
    compose(dir.path(), &project, &["up", "-d"]);
    next_matching(&mut rx, "health starting", |u| {
        matches!(u, EngineUpdate::Service(s) if s.service == "sick" && s.health == Health::Starting)
    })
    .await;
    let EngineUpdate::Service(s) = next_matching(&mut rx, "unhealthy", |u| {
        matches!(u, EngineUpdate::Service(s) if s.service == "sick" && s.health == Health::Unhealthy)
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(s.last_probe_output.as_deref(), Some("probe-says-no"));
    cancel.cancel();
}

// The snapshot draws each row from the engine's list first, then from its inspect: both must
// tell the same state, health, exit code, ports and replica for every kind of container.
#[tokio::test]
async fn listed_rows_agree_with_their_inspects() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("watchlist");
    let _cleanup = Cleanup::new(&project);
    let dir = tempfile::tempdir().expect("tempdir");
    let [port] = free_ports::<1>();
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!(
            r#"services:
  well:
    image: ${{DEVTUI_BASE_IMAGE:-debian:bookworm-slim}}
    command: ["sleep", "infinity"]
    init: true
    ports: ["127.0.0.1:{port}:8080", "9000/udp"]
    healthcheck: {{ test: ["CMD", "true"], interval: 1s }}
  sick:
    image: ${{DEVTUI_BASE_IMAGE:-debian:bookworm-slim}}
    command: ["sleep", "infinity"]
    init: true
    healthcheck: {{ test: ["CMD", "false"], interval: 1s, retries: 1 }}
  plain:
    image: ${{DEVTUI_BASE_IMAGE:-debian:bookworm-slim}}
    command: ["sleep", "infinity"]
    init: true
    deploy: {{ replicas: 2 }}
  done:
    image: ${{DEVTUI_BASE_IMAGE:-debian:bookworm-slim}}
    command: ["sh", "-c", "exit 3"]
  fresh:
    image: ${{DEVTUI_BASE_IMAGE:-debian:bookworm-slim}}
    command: ["sleep", "infinity"]
"#
        ),
    )
    .expect("compose file");
    compose(
        dir.path(),
        &project,
        &["up", "-d", "--wait", "well", "plain"],
    );
    compose(dir.path(), &project, &["up", "-d", "sick", "done"]);
    compose(dir.path(), &project, &["create", "fresh"]);
    // Until the engine has seen "sick" fail its probe and "done" exit.
    let docker = devtui::engine::client::connect().await.expect("connect");
    let settled = tokio::time::timeout(WAIT, async {
        loop {
            let all = devtui::engine::watch::snapshot(&docker, &project)
                .await
                .expect("snapshot");
            let of = |name: &str| all.iter().find(|s| s.service == name).cloned();
            if of("sick").is_some_and(|s| s.health == Health::Unhealthy)
                && of("done").is_some_and(|s| s.state == ContainerState::Exited)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(settled.is_ok(), "sick never unhealthy or done never exited");

    let cancel = CancellationToken::new();
    let mut rx = devtui::engine::watch::watch(project.clone(), cancel.clone());
    let mut listed = Vec::new();
    let mut inspected = Vec::new();
    tokio::time::timeout(WAIT, async {
        while listed.is_empty() || inspected.len() < listed.len() {
            match rx.recv().await.expect("watcher alive") {
                EngineUpdate::Listed(s) => {
                    assert!(
                        inspected.is_empty(),
                        "a row listed after the inspects began"
                    );
                    listed.push(s);
                }
                EngineUpdate::Service(s) => inspected.push(s),
                EngineUpdate::Connected { .. } => {}
                other => panic!("during the snapshot: {other:?}"),
            }
        }
    })
    .await
    .expect("the snapshot within the wait");
    cancel.cancel();

    assert_eq!(listed.len(), 6, "{listed:#?}");
    for row in &listed {
        let full = inspected
            .iter()
            .find(|s| s.container_id() == row.container_id())
            .unwrap_or_else(|| panic!("no inspect for {row:?}"));
        // What only the inspect knows.
        let mut comparable = full.clone();
        comparable.started_at = None;
        comparable.restarts = 0;
        comparable.last_probe_output = None;
        assert_eq!(row, &comparable, "{} listed vs inspected", row.service);
    }
    let of = |name: &str| listed.iter().find(|s| s.service == name).expect(name);
    assert_eq!(of("well").health, Health::Healthy);
    assert_eq!(
        of("well")
            .ports
            .iter()
            .map(|p| p.host_port)
            .collect::<Vec<_>>()
            .first(),
        Some(&port)
    );
    assert_eq!(of("well").ports.len(), 2, "{:?}", of("well").ports);
    assert_eq!(of("sick").health, Health::Unhealthy);
    assert_eq!(of("done").exit_code, Some(3));
    assert_eq!(of("fresh").state, ContainerState::Created);
    let mut replicas: Vec<_> = listed
        .iter()
        .filter(|s| s.service == "plain")
        .map(|s| s.replica)
        .collect();
    replicas.sort();
    assert_eq!(replicas, vec![Some(1), Some(2)]);
}
