//! Builders of services and states for the TUI's tests (unit, snapshot, headless).

use time::OffsetDateTime;
use time::macros::datetime;

use crate::engine::{
    ContainerId, ContainerState, EngineUpdate, Health, PublishedPort, Runtime, ServiceStatus,
};
use crate::tui::state::{Options, State};

/// The fixed "now" of test states, so uptimes are stable in snapshots.
pub const NOW: OffsetDateTime = datetime!(2026-01-02 03:04:05 UTC);

/// A running service with the given health, started 90 minutes before `NOW`.
pub fn running(service: &str, health: Health) -> ServiceStatus {
    ServiceStatus {
        service: service.to_string(),
        runtime: Runtime::Container {
            id: ContainerId(format!("{service}-cid")),
            name: format!("demo-{service}-1"),
            image: format!("demo/{service}:latest"),
        },
        state: ContainerState::Running,
        health,
        last_probe_output: None,
        exit_code: None,
        restarts: 0,
        ports: Vec::new(),
        started_at: Some("2026-01-02T01:34:05Z".to_string()),
        replica: Some(1),
    }
}

/// Replica `n` of a scaled service, running (container `{service}-cid{n}`, `demo-{service}-{n}`).
pub fn replica(service: &str, n: u32, health: Health) -> ServiceStatus {
    ServiceStatus {
        runtime: Runtime::Container {
            id: ContainerId(format!("{service}-cid{n}")),
            name: format!("demo-{service}-{n}"),
            image: format!("demo/{service}:latest"),
        },
        replica: Some(n),
        ..running(service, health)
    }
}

pub fn port(host_port: u16, container_port: u16) -> PublishedPort {
    PublishedPort {
        remote_host: None,
        host_ip: "0.0.0.0".to_string(),
        host_port,
        container_port,
        protocol: "tcp".to_string(),
    }
}

/// A state of `width`×`height` for the given services, connected, clock at `NOW`.
pub fn state(services: &[&str], width: u16, height: u16) -> State {
    let mut s = State::new(
        "demo",
        services.iter().map(|s| s.to_string()).collect(),
        Options {
            no_color: false,
            ..Options::default()
        },
    );
    s.width = width;
    s.height = height;
    s.now = NOW;
    s.engine = crate::tui::state::EngineLink::Connected {
        api_version: "1.41".to_string(),
    };
    s
}

/// The engine update that reports `status`.
pub fn update(status: ServiceStatus) -> EngineUpdate {
    EngineUpdate::Service(status)
}

/// A service devtui runs natively, as its supervisor reports it (no container).
pub fn native(service: &str, health: Health) -> ServiceStatus {
    ServiceStatus {
        runtime: Runtime::Native {
            pid: Some(4242),
            command: format!("devtui {service} serve"),
        },
        replica: None,
        ..running(service, health)
    }
}
