//! Preflight checks shared by `up` (stops at the first failure, before anything is touched)
//! and `doctor` (runs them all and prints a checklist).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;

use bollard::Docker;
use bollard::query_parameters::ListContainersOptionsBuilder;
use serde::Serialize;

use crate::engine::client::{self, Endpoint};
use crate::engine::compose;
use crate::engine::watch::PROJECT_LABEL;
use crate::exit;
use crate::project::{Location, Service, env};

/// Free space below this on the engine's data disk fails preflight.
pub const MIN_FREE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// One line of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `engine`, `compose`, `env`, `config`, `port`, `disk`.
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// The command or step that fixes a failed check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The exit code a failure of this check ends `up` with.
    #[serde(skip)]
    pub code: i32,
}

impl Check {
    fn pass(name: &str, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
            code: exit::OK,
        }
    }

    fn fail(name: &str, code: i32, detail: impl Into<String>, fix: Option<String>) -> Self {
        Self {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix,
            code,
        }
    }

    /// The check as a user-facing failure (one sentence, then the fix).
    pub fn into_failure(self) -> exit::Failure {
        let message = match self.fix {
            Some(fix) => format!("{}\n  fix: {fix}", self.detail),
            None => self.detail,
        };
        exit::Failure::new(self.code, message)
    }
}

/// Engine reachable: the client, version negotiated, or a failed check saying how to start it.
pub async fn engine() -> (Check, Option<(Docker, Endpoint)>) {
    let endpoint = match client::endpoint() {
        Ok(ep) => ep,
        Err(e) => {
            return (
                Check::fail("engine", exit::NO_ENGINE, e.to_string(), None),
                None,
            );
        }
    };
    match client::connect_to(&endpoint).await {
        Ok(docker) => {
            let answer = docker.version().await.ok();
            let kind = answer.as_ref().map_or("Docker", engine_kind);
            let version = answer.and_then(|v| v.version).unwrap_or_else(|| "?".into());
            let detail = format!(
                "{kind} engine {version} (API {}) at {} ({})",
                docker.client_version(),
                endpoint.host,
                endpoint.source
            );
            (Check::pass("engine", detail), Some((docker, endpoint)))
        }
        Err(e) => (
            Check::fail("engine", exit::NO_ENGINE, e.to_string(), None),
            None,
        ),
    }
}

/// Which engine answers: Podman's Docker-compatible API names itself among the version's
/// components ("Podman Engine"); anything else is Docker's.
fn engine_kind(version: &bollard::models::SystemVersion) -> &'static str {
    let podman = version
        .components
        .iter()
        .flatten()
        .any(|c| c.name.to_ascii_lowercase().contains("podman"));
    if podman { "Podman" } else { "Docker" }
}

/// Compose v2 present and at least `compose::MIN_VERSION`.
pub async fn compose_version() -> Check {
    let (a, b, c) = compose::MIN_VERSION;
    let min = format!("{a}.{b}.{c}");
    match compose::version().await {
        Ok(v) => match compose::parse_version(&v) {
            Some(parsed) if parsed >= compose::MIN_VERSION => {
                Check::pass("compose", format!("Docker Compose {v} (minimum {min})"))
            }
            _ => Check::fail(
                "compose",
                exit::PREFLIGHT,
                format!("Docker Compose {v} is older than the minimum {min}"),
                Some("upgrade the docker-compose-plugin package (or Docker Desktop)".into()),
            ),
        },
        Err(e) => Check::fail(
            "compose",
            exit::NO_ENGINE,
            e.to_string(),
            Some(format!("install Docker Compose v2 (≥ {min})")),
        ),
    }
}

/// `.env`: readable if present; created from `.env.example` (0600, secrets generated) when
/// `create` is set, else only reported.
pub fn env_file(loc: &Location, create: bool) -> Check {
    let path = &loc.env_path;
    if path.symlink_metadata().is_ok() {
        return match env::check_readable(path) {
            Ok(()) => Check::pass("env", format!("{} exists", path.display())),
            Err(e) => Check::fail(
                "env",
                exit::USAGE,
                e.to_string(),
                Some(format!("fix or remove {}", path.display())),
            ),
        };
    }
    let Some(example) = &loc.env_example else {
        return Check::pass("env", "no .env or .env.example (none needed)");
    };
    if !create {
        return Check::pass(
            "env",
            format!(
                "{} missing; `devtui up` creates it from {}",
                path.display(),
                example.display()
            ),
        );
    }
    match env::ensure(path, example) {
        Ok(env::Outcome::Created) => Check::pass(
            "env",
            format!(
                "created {} from {} (mode 0600, secrets generated)",
                path.display(),
                example.display()
            ),
        ),
        Ok(env::Outcome::Existing) => Check::pass("env", format!("{} exists", path.display())),
        Err(e) => Check::fail("env", exit::PREFLIGHT, e.to_string(), None),
    }
}

/// Every fixed published host port of `services` is free, or held by this project already.
/// Skipped for a remote engine (its ports are not on this machine).
pub async fn ports(
    docker: &Docker,
    endpoint: &Endpoint,
    project: &str,
    services: &[&Service],
) -> Vec<Check> {
    if !endpoint.is_local() {
        return vec![Check::pass(
            "port",
            format!("skipped: the engine at {} is remote", endpoint.host),
        )];
    }
    let mut checks = Vec::new();
    let mut containers: Option<HashMap<(u16, String), (String, String)>> = None;
    for service in services {
        for spec in &service.ports {
            let Some(port) = spec.published else { continue };
            let ip: IpAddr = spec
                .host_ip
                .as_deref()
                .and_then(|ip| ip.parse().ok())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            let what = format!("port {port}/{} ({})", spec.protocol, service.name);
            if bindable(ip, port, &spec.protocol) {
                checks.push(Check::pass("port", format!("{what} is free")));
                continue;
            }
            if containers.is_none() {
                containers = Some(container_ports(docker).await);
            }
            let holder = containers
                .as_ref()
                .and_then(|c| c.get(&(port, spec.protocol.clone())));
            let check = match holder {
                Some((owner_project, _)) if owner_project == project => {
                    Check::pass("port", format!("{what} is already served by this project"))
                }
                Some((_, container)) => Check::fail(
                    "port",
                    exit::PREFLIGHT,
                    format!("{what} is held by container {container}"),
                    Some(format!(
                        "stop it (`docker stop {container}`) or publish {} on another port in .env",
                        service.name
                    )),
                ),
                None => {
                    // Scanning every process's fds is blocking /proc I/O.
                    let owner = if spec.protocol == "tcp" {
                        tokio::task::spawn_blocking(move || tcp_port_owner(port))
                            .await
                            .ok()
                            .flatten()
                    } else {
                        None
                    };
                    let detail = match &owner {
                        Some((pid, name)) => {
                            format!("{what} is held by process {pid} ({name})")
                        }
                        None => format!(
                            "{what} is in use by a process devtui cannot see (another user or namespace)"
                        ),
                    };
                    let fix = match owner {
                        Some((pid, _)) => format!(
                            "stop process {pid} or publish {} on another port in .env",
                            service.name
                        ),
                        None => format!("publish {} on another port in .env", service.name),
                    };
                    Check::fail("port", exit::PREFLIGHT, detail, Some(fix))
                }
            };
            checks.push(check);
        }
    }
    checks
}

fn bindable(ip: IpAddr, port: u16, protocol: &str) -> bool {
    let addr = SocketAddr::new(ip, port);
    if protocol == "udp" {
        UdpSocket::bind(addr).is_ok()
    } else {
        TcpListener::bind(addr).is_ok()
    }
}

/// Published host port → (compose project, container name) for every running container.
async fn container_ports(docker: &Docker) -> HashMap<(u16, String), (String, String)> {
    let list = match docker
        .list_containers(Some(ListContainersOptionsBuilder::new().build()))
        .await
    {
        Ok(list) => list,
        Err(e) => {
            // The port is still reported as held; only its owner stays unknown.
            eprintln!("devtui: warning: cannot list containers to find a port's owner: {e}");
            return HashMap::new();
        }
    };
    let mut map = HashMap::new();
    for c in list {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        let project = c
            .labels
            .as_ref()
            .and_then(|l| l.get(PROJECT_LABEL))
            .cloned()
            .unwrap_or_default();
        for p in c.ports.iter().flatten() {
            if let Some(public) = p.public_port {
                let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
                map.insert((public, proto), (project.clone(), name.clone()));
            }
        }
    }
    map
}

/// The pid and name of the process listening on TCP `port`, from /proc.
pub fn tcp_port_owner(port: u16) -> Option<(i32, String)> {
    use procfs::net::TcpState;
    let mut inodes: Vec<u64> = procfs::net::tcp()
        .into_iter()
        .chain(procfs::net::tcp6())
        .flatten()
        .filter(|e| e.state == TcpState::Listen && e.local_address.port() == port)
        .map(|e| e.inode)
        .collect();
    inodes.retain(|i| *i != 0);
    if inodes.is_empty() {
        return None;
    }
    for process in procfs::process::all_processes().ok()?.flatten() {
        let Ok(fds) = process.fd() else { continue };
        let holds = fds.flatten().any(|fd| {
            matches!(fd.target, procfs::process::FDTarget::Socket(inode) if inodes.contains(&inode))
        });
        if holds {
            let name = process
                .stat()
                .map(|s| s.comm)
                .unwrap_or_else(|_| "?".into());
            return Some((process.pid, name));
        }
    }
    None
}

/// Free disk space where the engine keeps images and volumes (or `fallback` when its data
/// root is not visible here). Skipped for a remote engine: its disk is not on this machine.
pub async fn disk(docker: &Docker, endpoint: &Endpoint, fallback: &Path) -> Check {
    if !endpoint.is_local() {
        return Check::pass("disk", "skipped: the engine is remote".to_string());
    }
    let root = docker
        .info()
        .await
        .ok()
        .and_then(|i| i.docker_root_dir)
        .filter(|d| Path::new(d).exists());
    let path = root
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| fallback.to_path_buf());
    match rustix::fs::statvfs(&path) {
        Ok(st) => {
            let free = st.f_bavail.saturating_mul(st.f_frsize);
            let gib = free as f64 / (1024.0 * 1024.0 * 1024.0);
            let min_gib = MIN_FREE_BYTES / (1024 * 1024 * 1024);
            if free >= MIN_FREE_BYTES {
                Check::pass(
                    "disk",
                    format!(
                        "{gib:.1} GiB free at {} (minimum {min_gib} GiB)",
                        path.display()
                    ),
                )
            } else {
                Check::fail(
                    "disk",
                    exit::PREFLIGHT,
                    format!(
                        "only {gib:.1} GiB free at {} (minimum {min_gib} GiB)",
                        path.display()
                    ),
                    Some("free space, e.g. `docker system prune`".into()),
                )
            }
        }
        Err(e) => Check::pass(
            "disk",
            format!("cannot measure free space at {}: {e}", path.display()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_owner_of_a_listening_port() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert!(!bindable(IpAddr::V4(Ipv4Addr::LOCALHOST), port, "tcp"));
        let (pid, _name) = tcp_port_owner(port).expect("owner found");
        assert_eq!(pid, std::process::id() as i32);
    }
}
