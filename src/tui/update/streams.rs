//! Log and stats streams: exactly what is on screen streams, and what arrives from a stream
//! lands in the log buffers.

use crate::engine::logs::{LogEvent, LogStream, Timestamp};
use crate::engine::{ContainerId, ContainerState};
use crate::tui::logbuf::Stream;
use crate::tui::msg::Effect;
use crate::tui::state::{EngineLink, LogStreamState, ServiceRow, State, StreamSource};

pub(super) fn on_logs(state: &mut State, service: &str, event: LogEvent) {
    let Some(stream) = state.streams.logs.get_mut(service) else {
        // A late batch from a stream already stopped.
        return;
    };
    match event {
        LogEvent::Lines(lines) => {
            if let Some(ts) = lines.last_ts() {
                state.streams.last_log_ts.insert(service.to_string(), ts);
            }
            for entry in lines.iter() {
                let kind = match entry.stream {
                    LogStream::Stdout => Stream::Stdout,
                    LogStream::Stderr => Stream::Stderr,
                };
                let text = state.secrets.mask(entry.text);
                let line = state.log.store.push(service, kind, entry.ts, &text);
                if let Some(pane) = state.log.pane.as_mut() {
                    pane.on_line(service, &line);
                }
            }
            keep_anchor_in_buffer(state);
            state.changed();
        }
        LogEvent::Ended(error) => {
            if let Some(error) = error {
                tracing::warn!(service, %error, "log stream ended");
            }
            stream.ended = true;
            stream.started_at = state
                .services
                .iter()
                .find(|r| r.name == service)
                .and_then(|r| r.status.as_ref())
                .and_then(|s| s.started_at.clone());
        }
    }
}

/// A paused pane whose bottom line has left the ring buffers shows the oldest screenful left.
fn keep_anchor_in_buffer(state: &mut State) {
    let (rows, _) = state.log_area();
    let Some(pane) = state.log.pane.as_mut() else {
        return;
    };
    let Some(anchor) = pane.anchor else { return };
    let oldest = pane
        .sources
        .iter()
        .filter_map(|s| state.log.store.rings.get(s))
        .filter_map(|r| r.oldest_seq())
        .min();
    if oldest.is_some_and(|oldest| anchor < oldest) {
        let new_lines = pane.new_lines;
        pane.anchor = None;
        pane.scroll_top(&state.log.store, rows);
        pane.new_lines = new_lines;
    }
}

/// What the row's streams read from: its native process (one stream for good: the
/// supervisor keeps the output across restarts), or its container while the engine answers.
fn source(state: &State, row: &ServiceRow) -> Option<StreamSource> {
    if state.is_native(&row.name) {
        return Some(StreamSource::Native);
    }
    let connected = matches!(state.engine, EngineLink::Connected { .. });
    let id = row.status.as_ref()?.container_id()?;
    connected.then(|| StreamSource::Container(id.clone()))
}

/// Starts and stops log and stats streams so that exactly what is on screen streams.
pub(super) fn sync_streams(state: &mut State, fx: &mut Vec<Effect>) {
    sync_logs(state, fx);
    sync_stats(state, fx);
}

/// Logs: every source of the open pane that has a container (exited ones show their tail) or
/// runs natively.
fn sync_logs(state: &mut State, fx: &mut Vec<Effect>) {
    let sources: Vec<String> = state
        .log
        .pane
        .as_ref()
        .map(|p| p.sources.clone())
        .unwrap_or_default();
    let streaming: Vec<String> = state.streams.logs.keys().cloned().collect();
    for service in streaming.iter().filter(|s| !sources.contains(s)) {
        state.streams.logs.remove(service);
        fx.push(Effect::StopLogs {
            service: service.clone(),
        });
    }
    let tail = state.options.tail;
    for service in sources {
        let Some(row) = state.service(&service) else {
            continue;
        };
        let Some(source) = source(state, row) else {
            continue;
        };
        let status = row.status.clone();
        let containers = if state.is_native(&service) {
            Vec::new()
        } else {
            row.numbered_containers()
        };
        let up: Vec<ContainerId> = row
            .replicas
            .iter()
            .filter(|r| r.state.is_up())
            .filter_map(|r| r.container_id().cloned())
            .collect();
        match state.streams.logs.get_mut(&service) {
            Some(s) if s.source == source => {
                // A replica started while the pane streams (`scale`): its output joins, once
                // it runs (the logs of a container only created end at once).
                if !s.ended {
                    for (number, container) in &containers {
                        if !s.containers.contains(container) && up.contains(container) {
                            s.containers.push(container.clone());
                            fx.push(Effect::JoinLogs {
                                service: service.clone(),
                                number: *number,
                                container: container.clone(),
                            });
                        }
                    }
                }
                // A stopped container's stream ended; it resumes when the container starts.
                let restarted = s.ended
                    && status.as_ref().is_some_and(|st| {
                        st.state == ContainerState::Running && st.started_at != s.started_at
                    });
                if restarted {
                    s.ended = false;
                    s.containers = containers.into_iter().map(|(_, id)| id).collect();
                    let since = resume_from(state.streams.last_log_ts.get(&service));
                    fx.push(Effect::FollowLogs {
                        service,
                        tail,
                        since,
                    });
                }
            }
            existing => {
                if existing.is_some() {
                    fx.push(Effect::StopLogs {
                        service: service.clone(),
                    });
                }
                state.streams.logs.insert(
                    service.clone(),
                    LogStreamState {
                        source,
                        ended: false,
                        started_at: None,
                        containers: containers.into_iter().map(|(_, id)| id).collect(),
                    },
                );
                fx.push(Effect::FollowLogs {
                    service,
                    tail,
                    since: None,
                });
            }
        }
    }
}

/// Stats: running services whose rows are on screen.
fn sync_stats(state: &mut State, fx: &mut Vec<Effect>) {
    let wanted: Vec<(String, StreamSource)> = state
        .services_on_screen()
        .filter(|r| r.is_running())
        .filter_map(|r| Some((r.name.clone(), source(state, r)?)))
        .collect();
    let stale: Vec<String> = state
        .streams
        .stats
        .iter()
        .filter(|(service, source)| !wanted.iter().any(|(s, w)| s == *service && w == *source))
        .map(|(service, _)| service.clone())
        .collect();
    for service in stale {
        state.streams.stats.remove(&service);
        fx.push(Effect::StopStats { service });
    }
    for (service, source) in wanted {
        if !state.streams.stats.contains_key(&service) {
            state.streams.stats.insert(service.clone(), source);
            fx.push(Effect::FollowStats { service });
        }
    }
    sync_replica_stats(state, fx);
}

/// The other running replicas of the services streamed above, one stream each.
fn sync_replica_stats(state: &mut State, fx: &mut Vec<Effect>) {
    let wanted: Vec<(ContainerId, String)> = state
        .services_on_screen()
        .filter(|r| state.streams.stats.contains_key(&r.name) && !state.is_native(&r.name))
        .flat_map(|r| {
            r.replicas
                .iter()
                .filter(|s| s.state.is_up())
                .filter_map(|s| s.container_id())
                .filter(|id| Some(*id) != r.primary())
                .map(|id| (id.clone(), r.name.clone()))
        })
        .collect();
    let stale: Vec<ContainerId> = state
        .streams
        .replica_stats
        .keys()
        .filter(|id| !wanted.iter().any(|(w, _)| w == *id))
        .cloned()
        .collect();
    for container in stale {
        state.streams.replica_stats.remove(&container);
        fx.push(Effect::StopReplicaStats { container });
    }
    for (container, service) in wanted {
        if !state.streams.replica_stats.contains_key(&container) {
            state
                .streams
                .replica_stats
                .insert(container.clone(), service.clone());
            fx.push(Effect::FollowReplicaStats { service, container });
        }
    }
}

/// Resume a restarted container's logs from the second after the last line seen.
fn resume_from(ts: Option<&Timestamp>) -> Option<i64> {
    ts.map(|t| t.unix_seconds() + 1)
}
