//! What the engine and the supervisors report on services: reachability, each service's
//! status, which services run natively, and the project model's order.

use std::collections::{BTreeMap, BTreeSet};

use super::keys::keep_selection_visible;
use crate::engine::{ContainerState, EngineUpdate, ServiceStatus};
use crate::tui::msg::Effect;
use crate::tui::state::{EngineLink, ServiceRow, State};

pub(super) fn on_engine(state: &mut State, update: EngineUpdate, fx: &mut Vec<Effect>) {
    match update {
        EngineUpdate::Connected { api_version } => {
            if matches!(state.engine, EngineLink::Unreachable { .. }) {
                // Anything may have changed during the outage; the snapshot that follows
                // reports every container that still exists.
                let natives = &state.natives;
                for row in state
                    .services
                    .iter_mut()
                    .filter(|r| !natives.contains(&r.name))
                {
                    row.status = None;
                    row.stats = None;
                    row.replicas.clear();
                }
            }
            state.engine = EngineLink::Connected { api_version };
        }
        EngineUpdate::Unreachable { error, retry_in } => {
            state.engine = EngineLink::Unreachable { error, retry_in };
            // Every container stream died with the engine; they restart from the snapshot on
            // reconnect. Native services go on.
            for service in remove_container_streams(&mut state.streams.logs, &state.natives) {
                fx.push(Effect::StopLogs { service });
            }
            for service in remove_container_streams(&mut state.streams.stats, &state.natives) {
                fx.push(Effect::StopStats { service });
            }
            // Replica streams are container streams all.
            for container in std::mem::take(&mut state.streams.replica_stats).into_keys() {
                fx.push(Effect::StopReplicaStats { container });
            }
        }
        // A native service's row follows its supervisor, whatever containers say.
        EngineUpdate::Listed(status) | EngineUpdate::Service(status)
            if state.is_native(&status.service) => {}
        EngineUpdate::Removed { service, .. } if state.is_native(&service) => {}
        EngineUpdate::Listed(status) | EngineUpdate::Service(status) => set_status(state, status),
        EngineUpdate::Removed { service, container } => {
            if let Some(row) = state.services.iter_mut().find(|r| r.name == service) {
                match container {
                    Some(id) => row.remove_replica(&id),
                    None => *row = ServiceRow::new(service),
                }
            }
        }
    }
}

/// Services another devtui runs natively become native rows (only a TUI without native
/// services of its own is told of them); those it no longer runs are containers again.
pub(super) fn on_natives_elsewhere(
    state: &mut State,
    statuses: Vec<ServiceStatus>,
    fx: &mut Vec<Effect>,
) {
    let now: BTreeSet<String> = statuses.iter().map(|s| s.service.clone()).collect();
    let changed: Vec<String> = state.natives.symmetric_difference(&now).cloned().collect();
    for service in changed {
        // Its streams come from elsewhere now; `sync_streams` starts the right ones.
        if state.streams.logs.remove(&service).is_some() {
            fx.push(Effect::StopLogs {
                service: service.clone(),
            });
        }
        if state.streams.stats.remove(&service).is_some() {
            fx.push(Effect::StopStats {
                service: service.clone(),
            });
        }
        if let Some(row) = state.services.iter_mut().find(|r| r.name == service) {
            *row = ServiceRow::new(service.clone());
        }
        if now.contains(&service) {
            state.mark_native(service);
        } else {
            // The engine's next event for it shows its container, if one comes back.
            state.natives.remove(&service);
        }
    }
    for status in statuses {
        set_status(state, status);
    }
}

/// Removes the streams of containers from `streams` (native services' go on) and returns
/// their services.
fn remove_container_streams<V>(
    streams: &mut BTreeMap<String, V>,
    natives: &BTreeSet<String>,
) -> Vec<String> {
    let gone: Vec<String> = streams
        .keys()
        .filter(|s| !natives.contains(*s))
        .cloned()
        .collect();
    for service in &gone {
        streams.remove(service);
    }
    gone
}

/// Puts the rows in the model's dependency order; containers the model does not list stay,
/// last, and so do native services. A different project name means the rows so far were
/// another project's.
pub(super) fn set_services(state: &mut State, project: String, services: Vec<String>) {
    if project != state.project {
        state.project = project;
        state.services.retain(|r| state.natives.contains(&r.name));
    }
    let selected = state.selected_service().map(|r| r.name.clone());
    let mut old = std::mem::take(&mut state.services);
    let mut rows: Vec<ServiceRow> = services
        .into_iter()
        .map(|name| match old.iter().position(|r| r.name == name) {
            Some(i) => old.remove(i),
            None => ServiceRow::new(name),
        })
        .collect();
    rows.append(&mut old);
    state.services = rows;
    state.selection.index = selected
        .and_then(|name| state.services.iter().position(|r| r.name == name))
        .unwrap_or(0);
    keep_selection_visible(state);
}

pub(super) fn set_status(state: &mut State, status: ServiceStatus) {
    let row = match state
        .services
        .iter_mut()
        .position(|r| r.name == status.service)
    {
        Some(i) => &mut state.services[i],
        // A service the project model did not list (e.g. started by hand): show it last.
        None => {
            state.services.push(ServiceRow::new(status.service.clone()));
            state.services.last_mut().expect("just pushed")
        }
    };
    if status.container_id().is_some() {
        row.set_replica(status);
        return;
    }
    // A native process (or no container): one status, no replicas.
    row.replicas.clear();
    let same_runtime = row
        .status
        .as_ref()
        .is_some_and(|s| s.container_id() == status.container_id());
    if !same_runtime || status.state != ContainerState::Running {
        row.stats = None;
    }
    row.status = Some(status);
}
