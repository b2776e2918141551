//! The engine watcher: a snapshot of a project's containers (the engine's list at once, then
//! each one's inspect), then the Docker events stream (no polling). Each relevant event
//! re-inspects its container. When the engine goes away the
//! watcher reports `Unreachable` and reconnects with backoff.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, ContainerSummary, PortMap, PortSummary};
use bollard::query_parameters::{EventsOptionsBuilder, ListContainersOptionsBuilder};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client;
use super::model::{
    ContainerId, ContainerState, EngineUpdate, Health, PublishedPort, Runtime, ServiceStatus,
};

/// The label compose puts on every container, network and volume of a project.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label naming a container's compose service.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
/// The label numbering a container among its service's replicas.
pub const NUMBER_LABEL: &str = "com.docker.compose.container-number";

const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// Updates are small and the consumer drains them at once; the bound keeps a stuck
/// consumer from growing memory.
const CHANNEL_BOUND: usize = 256;

/// Inspects a snapshot keeps in flight at once.
const SNAPSHOT_CONCURRENCY: usize = 8;
/// How far before the engine's clock reading the event replay starts: the reading runs
/// beside the snapshot, and may be taken a little after the container list.
const REPLAY_MARGIN: time::Duration = time::Duration::seconds(2);

/// Container event actions that can change what `ServiceStatus` shows.
const RELEVANT: [&str; 12] = [
    "create",
    "start",
    "restart",
    "die",
    "stop",
    "kill",
    "pause",
    "unpause",
    "oom",
    "rename",
    "destroy",
    "health_status",
];

/// Watches `project_name`'s containers until `cancel` fires (or the receiver is dropped).
///
/// Sends `Connected`, then one `Service` per existing container, then a `Service` (or
/// `Removed`) for each relevant event. On engine loss sends `Unreachable` and reconnects.
pub fn watch(project_name: String, cancel: CancellationToken) -> mpsc::Receiver<EngineUpdate> {
    let (tx, rx) = mpsc::channel(CHANNEL_BOUND);
    tokio::spawn(async move {
        tokio::select! {
            () = cancel.cancelled() => {}
            () = run(&project_name, &tx) => {}
        }
    });
    rx
}

async fn run(project: &str, tx: &mpsc::Sender<EngineUpdate>) {
    let mut retry = FIRST_RETRY;
    // The first session starts without waiting for the version negotiation; if it fails,
    // the next one, at once, negotiates first and says what is wrong.
    let mut quick = true;
    loop {
        let error = match session(project, tx, &mut retry, quick).await {
            Ok(()) => return, // receiver gone
            Err(_) if quick => {
                quick = false;
                continue;
            }
            Err(error) => error,
        };
        if tx
            .send(EngineUpdate::Unreachable {
                error,
                retry_in: retry,
            })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// One connection's life: returns Ok when the receiver is gone, Err(reason) on engine loss.
async fn session(
    project: &str,
    tx: &mpsc::Sender<EngineUpdate>,
    retry: &mut Duration,
    quick: bool,
) -> Result<(), String> {
    let docker = if quick {
        client::connect_quick().await
    } else {
        client::connect().await
    }
    .map_err(|e| e.to_string())?;
    let api_version = docker.client_version().to_string();
    // The events request is only sent when the stream is first polled, after the snapshot;
    // asking the engine to replay from its own clock's "now" closes that gap. The clock
    // (`/info`, the slowest request here) is read beside the snapshot, and the snapshot is
    // sent without waiting for it: the first frame waits for the containers only. The replay
    // starts `REPLAY_MARGIN` earlier to cover the overlap; an event seen twice only costs an
    // inspect that finds the same state.
    let clock = tokio::spawn({
        let docker = docker.clone();
        async move { engine_now(&docker).await }
    });
    let listed = list(&docker, project).await.map_err(|e| e.to_string())?;
    *retry = FIRST_RETRY;
    if tx
        .send(EngineUpdate::Connected { api_version })
        .await
        .is_err()
    {
        return Ok(());
    }
    // The list answers from the engine's in-memory view at once, but an inspect waits for
    // its container's lock, which a healthcheck result or a state change can hold for
    // hundreds of milliseconds. So the rows come from the list first, and each inspect then
    // completes its row as it answers.
    let mut rows: Vec<ServiceStatus> = listed.iter().filter_map(status_from_summary).collect();
    in_service_order(&mut rows);
    // Which service each container belongs to, so a destroy can be attributed.
    let mut services: HashMap<String, String> = HashMap::new();
    for status in rows {
        if let Some(id) = status.container_id() {
            services.insert(id.0.clone(), status.service.clone());
        }
        if tx.send(EngineUpdate::Listed(status)).await.is_err() {
            return Ok(());
        }
    }
    let ids = listed.into_iter().filter_map(|c| c.id.map(ContainerId));
    let mut inspected = std::pin::pin!(inspect_each(&docker, ids.collect()));
    while let Some(status) = inspected.next().await {
        let Some(status) = status.map_err(|e| e.to_string())? else {
            continue;
        };
        if tx.send(EngineUpdate::Service(status)).await.is_err() {
            return Ok(());
        }
    }
    let since = clock
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    // The engine filters by action too: every healthcheck probe also emits exec_create,
    // exec_start and exec_die, which would otherwise reach us (and be decoded) for nothing.
    // With health_status in the list the engine prefix-matches the actions (moby#25798).
    let filters = HashMap::from([
        ("type", vec!["container".to_string()]),
        ("label", vec![format!("{PROJECT_LABEL}={project}")]),
        ("event", RELEVANT.iter().map(|a| a.to_string()).collect()),
    ]);
    let mut options = EventsOptionsBuilder::new().filters(&filters);
    if let Some(since) = &since {
        options = options.since(since);
    }
    let mut events = docker.events(Some(options.build()));
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| e.to_string())?;
        let action = event.action.unwrap_or_default();
        let verb = action.split(':').next().unwrap_or_default().trim();
        if !RELEVANT.contains(&verb) {
            continue;
        }
        let Some(actor) = event.actor else { continue };
        let Some(id) = actor.id else { continue };
        let service = actor
            .attributes
            .as_ref()
            .and_then(|a| a.get(SERVICE_LABEL).cloned());
        let update = if verb == "destroy" {
            services.remove(&id);
            let Some(service) = service else { continue };
            // Only this container went: a recreate's new container, or the service's other
            // replicas, were (or will be) reported on their own events.
            EngineUpdate::Removed {
                service,
                container: Some(ContainerId(id)),
            }
        } else {
            match inspect_status(&docker, &id).await {
                Ok(Some(status)) => {
                    services.insert(id.clone(), status.service.clone());
                    EngineUpdate::Service(status)
                }
                Ok(None) => continue,
                // Gone between the event and the inspect; its destroy event follows.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => continue,
                Err(e) => return Err(e.to_string()),
            }
        };
        if tx.send(update).await.is_err() {
            return Ok(());
        }
    }
    Err("the engine closed the event stream".into())
}

/// The engine's clock less `REPLAY_MARGIN`, as `seconds.nanoseconds` (what the events API
/// takes for `since`).
async fn engine_now(docker: &Docker) -> Result<Option<String>, bollard::errors::Error> {
    let info = docker.info().await?;
    Ok(info.system_time.and_then(|t| {
        let t =
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()?;
        let t = t - REPLAY_MARGIN;
        Some(format!("{}.{:09}", t.unix_timestamp(), t.nanosecond()))
    }))
}

/// Every container of `project` (by the compose project label), stopped ones too, as the
/// engine's list shows them.
async fn list(
    docker: &Docker,
    project: &str,
) -> Result<Vec<ContainerSummary>, bollard::errors::Error> {
    let filters = HashMap::from([("label", vec![format!("{PROJECT_LABEL}={project}")])]);
    docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
}

/// The ids of every container of `project` (by the compose project label), stopped ones too.
pub async fn container_ids(
    docker: &Docker,
    project: &str,
) -> Result<Vec<ContainerId>, bollard::errors::Error> {
    Ok(list(docker, project)
        .await?
        .into_iter()
        .filter_map(|c| c.id.map(ContainerId))
        .collect())
}

/// Every container of `project` (by the compose project label), inspected, in service order.
pub async fn snapshot(
    docker: &Docker,
    project: &str,
) -> Result<Vec<ServiceStatus>, bollard::errors::Error> {
    let containers = container_ids(docker, project).await?;
    let mut inspected = std::pin::pin!(inspect_each(docker, containers));
    let mut out = Vec::new();
    while let Some(status) = inspected.next().await {
        out.extend(status?);
    }
    in_service_order(&mut out);
    Ok(out)
}

/// By service, then replica number: the order the rows have before the model gives one.
fn in_service_order(statuses: &mut [ServiceStatus]) {
    statuses.sort_by(|a, b| (&a.service, a.replica).cmp(&(&b.service, b.replica)));
}

/// Inspects `ids`, a few at once (a 10-service project waits for the slowest inspect, not
/// for the sum), in the order they answer; a container gone meanwhile is `None`.
fn inspect_each(
    docker: &Docker,
    ids: Vec<ContainerId>,
) -> impl Stream<Item = Result<Option<ServiceStatus>, bollard::errors::Error>> + '_ {
    futures_util::stream::iter(ids)
        .map(move |id| async move {
            match inspect_status(docker, id.as_str()).await {
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(None),
                other => other,
            }
        })
        .buffer_unordered(SNAPSHOT_CONCURRENCY)
}

/// Inspects one container; `None` when it is not a compose service container.
pub async fn inspect_status(
    docker: &Docker,
    id: &str,
) -> Result<Option<ServiceStatus>, bollard::errors::Error> {
    let resp = docker.inspect_container(id, None).await?;
    Ok(status_from_inspect(resp))
}

/// Builds devtui's view of a container from its inspect data.
pub fn status_from_inspect(resp: ContainerInspectResponse) -> Option<ServiceStatus> {
    let config = resp.config.as_ref();
    let labels = config.and_then(|c| c.labels.as_ref());
    let service = labels.and_then(|l| l.get(SERVICE_LABEL))?.clone();
    let replica = labels
        .and_then(|l| l.get(NUMBER_LABEL))
        .and_then(|n| n.parse().ok());
    let state = resp.state.as_ref();
    let container_state = state_named(state.and_then(|s| s.status).as_ref().map(AsRef::as_ref));
    let health_info = state.and_then(|s| s.health.as_ref());
    let health = health_info
        .and_then(|h| h.status)
        .and_then(|h| health_named(h.as_ref()))
        .unwrap_or(Health::None);
    let last_probe_output = health_info
        .and_then(|h| h.log.as_ref())
        .and_then(|log| log.last())
        .and_then(|r| r.output.as_ref())
        .map(|o| o.trim().to_string())
        .filter(|o| !o.is_empty());
    let exit_code = match container_state {
        ContainerState::Exited | ContainerState::Dead | ContainerState::Restarting => {
            state.and_then(|s| s.exit_code)
        }
        _ => None,
    };
    let started_at = match container_state {
        ContainerState::Running | ContainerState::Paused | ContainerState::Restarting => {
            state.and_then(|s| s.started_at.clone())
        }
        _ => None,
    };
    let ports = resp
        .network_settings
        .as_ref()
        .and_then(|n| n.ports.as_ref())
        .map(published_ports)
        .unwrap_or_default();
    Some(ServiceStatus {
        service,
        runtime: Runtime::Container {
            id: ContainerId(resp.id?),
            name: resp
                .name
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            image: config.and_then(|c| c.image.clone()).unwrap_or_default(),
        },
        state: container_state,
        health,
        last_probe_output,
        exit_code,
        restarts: resp.restart_count.unwrap_or(0).max(0) as u64,
        ports,
        started_at,
        replica,
    })
}

/// devtui's view of a container from the engine's list: state, health, exit code and ports.
/// The list has no start time, restart count or probe output; the inspect that follows does.
pub fn status_from_summary(c: &ContainerSummary) -> Option<ServiceStatus> {
    let labels = c.labels.as_ref()?;
    let service = labels.get(SERVICE_LABEL)?.clone();
    let replica = labels.get(NUMBER_LABEL).and_then(|n| n.parse().ok());
    let text = c.status.as_deref().unwrap_or_default();
    let state = state_named(c.state.as_ref().map(AsRef::as_ref));
    let health = c
        .health
        .as_ref()
        .and_then(|h| h.status)
        .and_then(|h| health_named(h.as_ref()))
        // Engines before API 1.52 say it in the status text only.
        .unwrap_or_else(|| health_in_status(text));
    let exit_code = match state {
        ContainerState::Exited | ContainerState::Restarting => code_in_status(text),
        _ => None,
    };
    let mut ports: Vec<PublishedPort> = c
        .ports
        .iter()
        .flatten()
        .filter_map(|p: &PortSummary| {
            Some(PublishedPort {
                remote_host: client::remote_host().map(str::to_string),
                host_ip: p.ip.clone().unwrap_or_default(),
                host_port: p.public_port?,
                container_port: p.private_port,
                protocol: p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into()),
            })
        })
        .collect();
    tidy_ports(&mut ports);
    Some(ServiceStatus {
        service,
        runtime: Runtime::Container {
            id: ContainerId(c.id.clone()?),
            name: c
                .names
                .iter()
                .flatten()
                .next()
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            image: c.image.clone().unwrap_or_default(),
        },
        state,
        health,
        last_probe_output: None,
        exit_code,
        restarts: 0,
        ports,
        started_at: None,
        replica,
    })
}

/// A container's state by the engine's name for it, in the inspect and the list alike.
fn state_named(name: Option<&str>) -> ContainerState {
    match name {
        Some("running" | "stopping") => ContainerState::Running,
        Some("restarting") => ContainerState::Restarting,
        Some("paused") => ContainerState::Paused,
        Some("exited") => ContainerState::Exited,
        Some("dead") => ContainerState::Dead,
        Some("removing") => ContainerState::Removing,
        // "created", or none given.
        _ => ContainerState::Created,
    }
}

/// A healthcheck's status by the engine's name for it, in the inspect and the list alike;
/// `None` when the name is empty.
fn health_named(name: &str) -> Option<Health> {
    match name {
        "starting" => Some(Health::Starting),
        "healthy" => Some(Health::Healthy),
        "unhealthy" => Some(Health::Unhealthy),
        "none" => Some(Health::None),
        _ => None,
    }
}

/// The health in the engine's status text: "Up 5 minutes (healthy)", "(unhealthy)",
/// "(health: starting)".
fn health_in_status(text: &str) -> Health {
    if text.ends_with("(healthy)") {
        Health::Healthy
    } else if text.ends_with("(unhealthy)") {
        Health::Unhealthy
    } else if text.ends_with("(health: starting)") {
        Health::Starting
    } else {
        Health::None
    }
}

/// The exit code in the engine's status text: "Exited (137) 5 minutes ago",
/// "Restarting (1) 2 seconds ago".
fn code_in_status(text: &str) -> Option<i64> {
    let (_, rest) = text.split_once('(')?;
    rest.split_once(')')?.0.parse().ok()
}

fn published_ports(map: &PortMap) -> Vec<PublishedPort> {
    let mut out: Vec<PublishedPort> = map
        .iter()
        .flat_map(|(key, bindings)| {
            let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
            let container_port = port.parse().unwrap_or(0);
            bindings.iter().flatten().filter_map(move |b| {
                Some(PublishedPort {
                    remote_host: client::remote_host().map(str::to_string),
                    host_ip: b.host_ip.clone().unwrap_or_default(),
                    host_port: b.host_port.as_deref()?.parse().ok()?,
                    container_port,
                    protocol: proto.to_string(),
                })
            })
        })
        .collect();
    tidy_ports(&mut out);
    out
}

/// In port order, one row per published port: Docker publishes a "0.0.0.0" and a "::"
/// binding of the same port.
fn tidy_ports(ports: &mut Vec<PublishedPort>) {
    ports.sort_by(|a, b| (a.container_port, &a.host_ip).cmp(&(b.container_port, &b.host_ip)));
    ports.dedup_by(|a, b| a.container_port == b.container_port && a.host_port == b.host_port);
}

#[cfg(test)]
mod tests {
    use super::*;

    // Both the inspect's and the list's enums, by the names bollard gives them.
    #[test]
    fn engine_names_map_to_states_and_healths() {
        use bollard::models::{
            ContainerStateStatusEnum as S, ContainerSummaryHealthStatusEnum as LH,
            ContainerSummaryStateEnum as L, HealthStatusEnum as H,
        };
        let states = [
            (S::EMPTY, L::EMPTY, ContainerState::Created),
            (S::CREATED, L::CREATED, ContainerState::Created),
            (S::RUNNING, L::RUNNING, ContainerState::Running),
            (S::STOPPING, L::STOPPING, ContainerState::Running),
            (S::RESTARTING, L::RESTARTING, ContainerState::Restarting),
            (S::PAUSED, L::PAUSED, ContainerState::Paused),
            (S::EXITED, L::EXITED, ContainerState::Exited),
            (S::DEAD, L::DEAD, ContainerState::Dead),
            (S::REMOVING, L::REMOVING, ContainerState::Removing),
        ];
        for (inspected, listed, want) in states {
            assert_eq!(state_named(Some(inspected.as_ref())), want, "{inspected}");
            assert_eq!(state_named(Some(listed.as_ref())), want, "{listed}");
        }
        assert_eq!(state_named(None), ContainerState::Created);
        let healths = [
            (H::EMPTY, LH::EMPTY, None),
            (H::NONE, LH::NONE, Some(Health::None)),
            (H::STARTING, LH::STARTING, Some(Health::Starting)),
            (H::HEALTHY, LH::HEALTHY, Some(Health::Healthy)),
            (H::UNHEALTHY, LH::UNHEALTHY, Some(Health::Unhealthy)),
        ];
        for (inspected, listed, want) in healths {
            assert_eq!(health_named(inspected.as_ref()), want, "{inspected}");
            assert_eq!(health_named(listed.as_ref()), want, "{listed}");
        }
    }

    // What engines before API 1.52 put in the list's Status (moby's State.String()).
    #[test]
    fn status_text_tells_health_and_exit_code() {
        assert_eq!(health_in_status("Up 5 minutes (healthy)"), Health::Healthy);
        assert_eq!(
            health_in_status("Up 2 seconds (health: starting)"),
            Health::Starting
        );
        assert_eq!(
            health_in_status("Up 1 second (unhealthy)"),
            Health::Unhealthy
        );
        assert_eq!(health_in_status("Up 3 hours"), Health::None);
        assert_eq!(health_in_status("Up 3 hours (Paused)"), Health::None);
        assert_eq!(code_in_status("Exited (137) 5 minutes ago"), Some(137));
        assert_eq!(code_in_status("Restarting (1) 2 seconds ago"), Some(1));
        assert_eq!(code_in_status("Created"), None);
    }
}
