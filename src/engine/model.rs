//! What the engine layer reports about a project's services.
//!
//! These types are the contract between the engine layer (which fills them from inspect and
//! the event stream) and its consumers (`ops::status`, `ops::up`, the TUI).

use serde::{Deserialize, Serialize};

/// Lifecycle state of a service's container, as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    /// No container exists for the service.
    Missing,
    Created,
    Running,
    Restarting,
    Paused,
    Exited,
    Dead,
    Removing,
}

impl ContainerState {
    /// Running or restarting: the container counts as up.
    pub fn is_up(self) -> bool {
        matches!(self, ContainerState::Running | ContainerState::Restarting)
    }
}

/// Health as reported by the container's healthcheck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// The service has no healthcheck.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

/// A port published on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
    /// The engine's host when the engine is remote: where a port bound to all addresses or
    /// to the engine's loopback is reached from here (URLs name it instead of 127.0.0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<String>,
}

impl PublishedPort {
    /// The port as a URL a developer can paste, with a scheme guessed from the well-known
    /// container port (`postgres://`, `redis://`, `http://`, ...); the one place every view
    /// (status table and JSON, TUI dashboard, `open`) gets it from.
    pub fn url(&self) -> String {
        let host = match (self.host_ip.as_str(), self.remote_host.as_deref()) {
            ("" | "0.0.0.0" | "::" | "127.0.0.1" | "::1", Some(remote)) => remote,
            ("" | "0.0.0.0" | "::", None) => "localhost",
            (ip, _) => ip,
        };
        let scheme = match (self.protocol.as_str(), self.container_port) {
            ("udp", _) => "udp",
            (_, 5432) => "postgres",
            (_, 6379) => "redis",
            (_, 443 | 8443) => "https",
            (_, 80 | 3000 | 5000 | 6333 | 8000 | 8080 | 8888 | 9000) => "http",
            _ => "tcp",
        };
        format!("{scheme}://{host}:{}", self.host_port)
    }

    /// Whether a browser can open `url()`.
    pub fn is_web(&self) -> bool {
        let url = self.url();
        url.starts_with("http://") || url.starts_with("https://")
    }
}

/// A container's id, as the engine knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContainerId(pub String);

impl ContainerId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What runs a service: a container, a native process, or nothing yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Runtime {
    /// A container of the engine.
    Container {
        id: ContainerId,
        name: String,
        image: String,
    },
    /// A process a devtui runs on this machine; `pid` while it runs.
    Native { pid: Option<u32>, command: String },
    /// No container exists for the compose service (`image` as compose names it).
    Absent { image: String },
}

impl Runtime {
    pub fn container_id(&self) -> Option<&ContainerId> {
        match self {
            Runtime::Container { id, .. } => Some(id),
            _ => None,
        }
    }

    pub fn container_name(&self) -> Option<&str> {
        match self {
            Runtime::Container { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The native process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Runtime::Native { pid, .. } => *pid,
            _ => None,
        }
    }

    pub fn is_native(&self) -> bool {
        matches!(self, Runtime::Native { .. })
    }

    /// What the IMAGE column says: the image, or how the native process runs.
    pub fn describe(&self) -> String {
        match self {
            Runtime::Container { image, .. } | Runtime::Absent { image } => image.clone(),
            Runtime::Native {
                pid: Some(pid),
                command,
            } => format!("native: pid {pid} · {command}"),
            Runtime::Native { pid: None, command } => format!("native: {command}"),
        }
    }
}

/// Everything devtui shows about one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub service: String,
    pub runtime: Runtime,
    pub state: ContainerState,
    pub health: Health,
    /// Output of the most recent health probe, trimmed.
    pub last_probe_output: Option<String>,
    pub exit_code: Option<i64>,
    pub restarts: u64,
    pub ports: Vec<PublishedPort>,
    /// RFC 3339 start time of the running container or process.
    pub started_at: Option<String>,
    /// Compose's number for the container among its service's replicas (`name-N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<u32>,
}

impl ServiceStatus {
    pub fn container_id(&self) -> Option<&ContainerId> {
        self.runtime.container_id()
    }

    /// A service that has no container (`image` as compose names it).
    pub fn absent(service: &str, image: String) -> ServiceStatus {
        ServiceStatus {
            service: service.to_string(),
            runtime: Runtime::Absent { image },
            state: ContainerState::Missing,
            health: Health::None,
            last_probe_output: None,
            exit_code: None,
            restarts: 0,
            ports: vec![],
            started_at: None,
            replica: None,
        }
    }
}

/// What the engine watcher sends: the engine's reachability and per-service changes.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineUpdate {
    /// Connected (again); a full snapshot of the project's services follows: a `Listed` for
    /// each container, then a `Service` for each as its inspect answers.
    Connected { api_version: String },
    /// A container as the engine's list shows it, before its inspect: no start time,
    /// restart count or probe output yet.
    Listed(ServiceStatus),
    /// The engine went away; the watcher retries after `retry_in`.
    Unreachable {
        error: String,
        retry_in: std::time::Duration,
    },
    /// A service's status changed (or is reported for the first time).
    Service(ServiceStatus),
    /// A container of a service was removed (one replica of a scaled service: the others
    /// stay); `container` is `None` when the watcher could not tell which.
    Removed {
        service: String,
        container: Option<ContainerId>,
    },
}
