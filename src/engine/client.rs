//! The bollard client: which engine to talk to (DOCKER_HOST, else the current docker
//! context, else the local socket) and API version negotiation.

use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;

/// The local engine when neither DOCKER_HOST nor a context says otherwise.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
/// How long the first exchange with the engine may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// bollard's own request timeout, for the clients built without `connect_with_host`.
const CLIENT_TIMEOUT_SECS: u64 = 120;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("DOCKER_HOST / docker context endpoint {host:?} is not supported: {source}")]
    Unsupported {
        host: String,
        source: bollard::errors::Error,
    },
    #[error(
        "docker context {0:?} was not found in ~/.docker/contexts; run `docker context use default` or create it"
    )]
    UnknownContext(String),
    /// bollard hands an ssh address's authority to `ssh` as the host name, so a port in it
    /// cannot work (`ssh` looks up `host:port` as a name).
    #[error(
        "{host}: a port in an ssh:// address is not supported; name it in ~/.ssh/config \
         (`Host {name}` / `HostName {hostname}` / `Port {port}`) and use ssh://{user}{name}"
    )]
    SshPort {
        host: String,
        user: String,
        name: String,
        hostname: String,
        port: String,
    },
    #[error("cannot reach the Docker engine at {host} ({reason}); {hint}")]
    Unreachable {
        host: String,
        reason: String,
        hint: &'static str,
    },
}

/// Where the engine is, and what told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    /// `DOCKER_HOST`, `context NAME` or `default`.
    pub source: String,
}

impl Endpoint {
    /// Whether the engine runs on this machine, so host ports and disk can be checked here.
    pub fn is_local(&self) -> bool {
        let h = self.host.as_str();
        h.starts_with("unix://")
            || [
                "tcp://127.0.0.1",
                "tcp://localhost",
                "http://127.0.0.1",
                "http://localhost",
            ]
            .iter()
            .any(|p| h.starts_with(p))
    }
}

impl Endpoint {
    /// The engine's host name or address when it is remote (`ssh://user@box:22` → `box`).
    pub fn remote_host(&self) -> Option<String> {
        if self.is_local() {
            return None;
        }
        let rest = self
            .host
            .split_once("://")
            .map_or(self.host.as_str(), |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or(rest);
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => host_port.split(':').next().unwrap_or(host_port),
        };
        (!host.is_empty()).then(|| host.to_string())
    }
}

/// The remote engine's host for this process (the endpoint does not change while devtui
/// runs), or `None` for a local engine.
pub fn remote_host() -> Option<&'static str> {
    static HOST: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    HOST.get_or_init(|| endpoint().ok()?.remote_host())
        .as_deref()
}

fn docker_config_dir() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
}

/// The engine endpoint the docker CLI would use: DOCKER_HOST, else DOCKER_CONTEXT or the
/// config's `currentContext` (looked up in `~/.docker/contexts/meta/*/meta.json`), else the
/// local socket.
pub fn endpoint() -> Result<Endpoint, Error> {
    endpoint_from(
        std::env::var("DOCKER_HOST").ok(),
        std::env::var("DOCKER_CONTEXT").ok(),
        docker_config_dir(),
    )
}

/// `endpoint` with its inputs explicit: DOCKER_HOST, DOCKER_CONTEXT and the docker config dir.
pub fn endpoint_from(
    docker_host: Option<String>,
    docker_context: Option<String>,
    config_dir: Option<PathBuf>,
) -> Result<Endpoint, Error> {
    if let Some(host) = docker_host.filter(|h| !h.is_empty()) {
        return Ok(Endpoint {
            host,
            source: "DOCKER_HOST".into(),
        });
    }
    let context = docker_context
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let dir = config_dir.as_ref()?;
            let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
            let json: serde_json::Value = serde_json::from_str(&text).ok()?;
            json.get("currentContext")?.as_str().map(str::to_string)
        })
        .filter(|c| !c.is_empty() && c != "default");
    let Some(context) = context else {
        return Ok(Endpoint {
            host: DEFAULT_HOST.into(),
            source: "default".into(),
        });
    };
    // Context directories are named by a hash of the name; the name is inside meta.json.
    let host = config_dir
        .and_then(|dir| std::fs::read_dir(dir.join("contexts/meta")).ok())
        .into_iter()
        .flatten()
        .flatten()
        .find_map(|entry| {
            let text = std::fs::read_to_string(entry.path().join("meta.json")).ok()?;
            let json: serde_json::Value = serde_json::from_str(&text).ok()?;
            if json.get("Name")?.as_str()? != context {
                return None;
            }
            json.pointer("/Endpoints/docker/Host")?
                .as_str()
                .map(str::to_string)
        })
        .ok_or_else(|| Error::UnknownContext(context.clone()))?;
    Ok(Endpoint {
        host,
        source: format!("context {context}"),
    })
}

fn hint_for(host: &str) -> &'static str {
    if host.starts_with("unix://") {
        "start it (`sudo systemctl start docker`, or open Docker Desktop) and try again"
    } else if host.starts_with("ssh://") {
        "check that the remote host is up, that `ssh` to it works without a prompt, and that Docker runs there"
    } else {
        "check that the engine is running and that DOCKER_HOST / the docker context point at it"
    }
}

/// Connects to `endpoint` and negotiates the API version (the engine may be older than
/// bollard's default, e.g. API 1.41 on engine 20.10).
pub async fn connect_to(endpoint: &Endpoint) -> Result<Docker, Error> {
    let unreachable = |reason: String| Error::Unreachable {
        host: endpoint.host.clone(),
        reason,
        hint: hint_for(&endpoint.host),
    };
    if let Some(e) = ssh_port(&endpoint.host) {
        return Err(e);
    }
    let docker = match Docker::connect_with_host(&endpoint.host) {
        Ok(docker) => docker,
        // bollard checks that a unix socket exists before any request: no socket, no engine.
        Err(bollard::errors::Error::SocketNotFoundError(path)) => {
            return Err(unreachable(format!("no socket at {path}")));
        }
        Err(source) => {
            return Err(Error::Unsupported {
                host: endpoint.host.clone(),
                source,
            });
        }
    };
    let docker = match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(docker)) => docker,
        Ok(Err(e)) => return Err(unreachable(short_reason(&e))),
        Err(_) => {
            return Err(unreachable(format!(
                "no answer within {}s",
                CONNECT_TIMEOUT.as_secs()
            )));
        }
    };
    known_versions::remember(&endpoint.host, &docker.client_version());
    Ok(docker)
}

/// `connect`, but for a local engine seen before, a client at the API version it answered
/// last time, with the negotiation done beside the first requests rather than before them:
/// the engine takes 10-20 ms over `/version` (it asks containerd and runc for theirs), which
/// the TUI's first frame used to wait for. Such a client is not known to work: a caller
/// whose first request fails connects again with `connect`, whose error says why (by then
/// the negotiation beside has corrected the remembered version if the engine changed).
pub async fn connect_quick() -> Result<Docker, Error> {
    let endpoint = endpoint()?;
    if let Some(docker) = at_known_version(&endpoint) {
        return Ok(docker);
    }
    connect_to(&endpoint).await
}

fn at_known_version(endpoint: &Endpoint) -> Option<Docker> {
    let path = endpoint.host.strip_prefix("unix://")?;
    let version = known_versions::recall(&endpoint.host)?;
    let docker = Docker::connect_with_unix(path, CLIENT_TIMEOUT_SECS, &version).ok()?;
    static CHECKED: std::sync::Once = std::sync::Once::new();
    CHECKED.call_once(|| {
        // A negotiated connection remembers what the engine answers now.
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let _ = connect_to(&endpoint).await;
        });
    });
    Some(docker)
}

/// The API version each local engine answered last, by host, in the state directory.
mod known_versions {
    use std::collections::BTreeMap;
    use std::io::Write;

    use bollard::ClientVersion;

    fn path() -> std::path::PathBuf {
        crate::paths::state_dir().join("engine-api.json")
    }

    fn read() -> BTreeMap<String, String> {
        std::fs::read(path())
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn recall(host: &str) -> Option<ClientVersion> {
        let known = read();
        let (major, minor) = known.get(host)?.split_once('.')?;
        Some(ClientVersion {
            major_version: major.parse().ok()?,
            minor_version: minor.parse().ok()?,
        })
    }

    /// Best effort: without the file, the next start negotiates first, as it always did.
    pub fn remember(host: &str, version: &ClientVersion) {
        let mut known = read();
        let version = version.to_string();
        if known.get(host) == Some(&version) {
            return;
        }
        known.insert(host.to_string(), version);
        let path = path();
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = crate::paths::write_atomic(&path, 0o600, |file| {
            file.write_all(&serde_json::to_vec(&known).map_err(std::io::Error::other)?)
        });
    }
}

/// The error for an `ssh://` address with a port, which bollard cannot use.
fn ssh_port(host: &str) -> Option<Error> {
    let authority = host.strip_prefix("ssh://")?.split('/').next()?;
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, rest)) => (format!("{user}@"), rest),
        None => (String::new(), authority),
    };
    let (hostname, port) = host_port.rsplit_once(':')?;
    if hostname.contains(']') && !hostname.ends_with(']') {
        return None;
    }
    port.parse::<u16>().ok()?;
    let hostname = hostname.trim_start_matches('[').trim_end_matches(']');
    Some(Error::SshPort {
        host: host.to_string(),
        user,
        name: "docker-engine".into(),
        hostname: hostname.to_string(),
        port: port.to_string(),
    })
}

/// Connects to the engine the docker CLI would use (see `endpoint`), version negotiated.
pub async fn connect() -> Result<Docker, Error> {
    connect_to(&endpoint()?).await
}

/// An engine client connected on first use and forgotten after an outage, so the next use
/// reconnects; shared by everything that acts on containers (the TUI's tasks, CLI commands).
#[derive(Clone, Default)]
pub struct Lazy {
    docker: std::sync::Arc<tokio::sync::Mutex<Option<Docker>>>,
}

impl Lazy {
    /// A client that is already connected.
    pub fn connected(docker: Docker) -> Lazy {
        Lazy {
            docker: std::sync::Arc::new(tokio::sync::Mutex::new(Some(docker))),
        }
    }

    pub async fn get(&self) -> Result<Docker, Error> {
        let mut guard = self.docker.lock().await;
        if let Some(docker) = guard.as_ref() {
            return Ok(docker.clone());
        }
        let docker = connect().await?;
        *guard = Some(docker.clone());
        Ok(docker)
    }

    /// Forgets the client after the engine went away.
    pub fn reset(&self) {
        let docker = self.docker.clone();
        tokio::spawn(async move { *docker.lock().await = None });
    }
}

/// The innermost cause of a bollard error, which is the part a user can act on.
fn short_reason(e: &bollard::errors::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_then_context_then_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = dir.path().join("contexts/meta/0123abcd");
        std::fs::create_dir_all(&meta).expect("mkdir");
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"ssh://me@box","SkipTLSVerify":false}}}"#,
        )
        .expect("write meta");
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"remote"}"#,
        )
        .expect("write config");
        let cfg = Some(dir.path().to_path_buf());

        let ep = endpoint_from(Some("tcp://1.2.3.4:2375".into()), None, cfg.clone()).expect("ok");
        assert_eq!(ep.host, "tcp://1.2.3.4:2375");
        assert_eq!(ep.source, "DOCKER_HOST");

        let ep = endpoint_from(None, None, cfg.clone()).expect("ok");
        assert_eq!(ep.host, "ssh://me@box");
        assert_eq!(ep.source, "context remote");
        assert!(!ep.is_local());

        let ep = endpoint_from(None, Some("default".into()), cfg.clone()).expect("ok");
        assert_eq!(ep.host, DEFAULT_HOST);

        assert!(matches!(
            endpoint_from(None, Some("nosuch".into()), cfg),
            Err(Error::UnknownContext(name)) if name == "nosuch"
        ));
        let ep = endpoint_from(None, None, None).expect("ok");
        assert_eq!(ep.host, DEFAULT_HOST);
    }

    #[test]
    fn locality() {
        let ep = |h: &str| Endpoint {
            host: h.into(),
            source: String::new(),
        };
        assert!(ep("unix:///var/run/docker.sock").is_local());
        assert!(ep("tcp://127.0.0.1:2375").is_local());
        assert!(!ep("ssh://user@box").is_local());
        assert!(!ep("tcp://10.0.0.5:2376").is_local());
    }

    #[test]
    fn an_ssh_port_is_refused_with_the_way_around_it() {
        let e = ssh_port("ssh://root@127.0.0.1:2222")
            .expect("refused")
            .to_string();
        assert!(e.contains("`Port 2222`"), "{e}");
        assert!(e.contains("`HostName 127.0.0.1`"), "{e}");
        assert!(e.ends_with("use ssh://root@docker-engine"), "{e}");
        assert!(ssh_port("ssh://root@box").is_none());
        assert!(ssh_port("ssh://box").is_none());
        assert!(ssh_port("tcp://box:2375").is_none());
    }

    #[test]
    fn a_remote_engine_names_its_host() {
        let ep = |h: &str| Endpoint {
            host: h.into(),
            source: String::new(),
        };
        assert_eq!(
            ep("ssh://root@box:2222").remote_host().as_deref(),
            Some("box")
        );
        assert_eq!(ep("ssh://box").remote_host().as_deref(), Some("box"));
        assert_eq!(
            ep("tcp://10.0.0.5:2376").remote_host().as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(
            ep("tcp://[fd00::5]:2376").remote_host().as_deref(),
            Some("fd00::5")
        );
        assert_eq!(ep("unix:///var/run/docker.sock").remote_host(), None);
        assert_eq!(ep("tcp://127.0.0.1:2375").remote_host(), None);
    }
}
