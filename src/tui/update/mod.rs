//! `update`: the only place the TUI state changes. No I/O: work goes out as `Effect`s.
//!
//! By concern: `keys` (keys and the mouse), `prompt` (the `:` command line, search, filter,
//! confirmations), `engine` (the engine's and the supervisors' reports on services), and
//! `streams` (log and stats streams for what is on screen).

mod backups;
mod engine;
mod keys;
mod prompt;
mod streams;

use ratatui::crossterm::event::KeyEventKind;

use crate::engine::ContainerId;
use crate::engine::stats::Stats;
use crate::ops::run::Output;
use crate::tui::format;
use crate::tui::logbuf::Stream;
use crate::tui::msg::{Effect, Msg};
use crate::tui::state::{Redraw, State, TOAST_FOR, Toast};

/// Applies one message to the state and returns the work it asks for.
pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    // Log lines and samples change no stream: a flood is not worth a look at every stream.
    let streams_may_change = !matches!(
        msg,
        Msg::Logs { .. } | Msg::Stats { .. } | Msg::ReplicaStats { .. }
    );
    match msg {
        Msg::Key(key) => {
            // Key releases and repeats arrive only with keyboard enhancement; act on presses.
            if key.kind == KeyEventKind::Press {
                keys::on_key(state, key, &mut fx);
                state.changed();
            }
        }
        Msg::Mouse(mouse) => keys::on_mouse(state, mouse),
        Msg::Resize { width, height } => {
            state.width = width;
            state.height = height;
            keys::keep_selection_visible(state);
            state.changed();
        }
        Msg::Engine(update) => {
            engine::on_engine(state, update, &mut fx);
            state.changed();
        }
        Msg::Native(status) => {
            if state.is_native(&status.service) {
                engine::set_status(state, status);
                state.changed();
            }
        }
        Msg::NativesNow(statuses) => {
            engine::on_natives_elsewhere(state, statuses, &mut fx);
            state.changed();
        }
        // The loop turns it into `NativesNow`.
        Msg::NativesChanged => {}
        Msg::ModeDone { service, result } => match result {
            Ok(text) => toast(state, text, false),
            Err(e) => toast(state, format!("mode {service} failed: {e}"), true),
        },
        Msg::NativesElsewhere(statuses) => {
            engine::on_natives_elsewhere(state, statuses, &mut fx);
            state.changed();
        }
        Msg::Services {
            project,
            services,
            secrets,
        } => {
            state.secrets = secrets;
            engine::set_services(state, project, services);
            state.changed();
        }
        Msg::Logs { service, event } => streams::on_logs(state, &service, event),
        Msg::Stats { service, stats } => on_stats(state, &service, stats),
        Msg::ReplicaStats { container, stats } => on_replica_stats(state, container, stats),
        Msg::Tick(now) => {
            if state.toast.as_ref().is_some_and(|t| t.expires <= now) {
                state.toast = None;
                state.changed();
            }
            let uptime_moved = state
                .services
                .iter()
                .filter_map(|r| r.status.as_ref())
                .any(|s| format::uptime(s, state.now) != format::uptime(s, now));
            if uptime_moved || state.redraw == Redraw::OnTick {
                state.changed();
            }
            state.now = now;
        }
        Msg::ActionOutput { service, line } => devtui_line(state, &service, line),
        Msg::ActionDone {
            service,
            action,
            result,
        } => match result {
            Ok(text) => toast(state, text, false),
            Err(e) => toast(
                state,
                format!("{} {service} failed: {e}", action.verb()),
                true,
            ),
        },
        Msg::ExecDone { service, result } => match result {
            Ok(Some(code)) => toast(
                state,
                format!("shell in {service} exited with code {code}"),
                code != 0,
            ),
            Ok(None) => toast(state, format!("shell in {service} closed"), false),
            Err(why) => toast(state, why, true),
        },
        Msg::Saved(result) => match result {
            Ok(path) => toast(state, format!("logs saved to {path}"), false),
            Err(e) => toast(state, format!("could not save logs: {e}"), true),
        },
        Msg::Commands(Ok(commands)) => {
            state.commands = commands;
            state.changed();
        }
        Msg::Commands(Err(e)) => toast(state, format!("devtui profile: {e}"), true),
        Msg::CommandOutput { name, stream, line } => command_line(state, &name, stream, line),
        Msg::CommandDone { name, result } => match result {
            Ok(code) => toast(state, format!("{name} exited with code {code}"), code != 0),
            Err(e) => toast(state, format!("{name} failed: {e}"), true),
        },
        Msg::BackupsListed { service, result } => backups::on_listed(state, service, result),
        Msg::DataPlanned { op, result } => backups::on_planned(state, op, result, &mut fx),
        Msg::DataProgress { service, report } => backups::on_progress(state, service, report),
        Msg::DataDone { op, result } => backups::on_done(state, op, result, &mut fx),
        Msg::Reload(event) => on_reload(state, event),
    }
    if streams_may_change {
        streams::sync_streams(state, &mut fx);
    }
    fx
}

/// Keeps a sample for a row whose stats stream is wanted; a late one is dropped.
fn on_stats(state: &mut State, service: &str, stats: Stats) {
    if !state.streams.stats.contains_key(service) {
        return;
    }
    let Some(row) = state.services.iter_mut().find(|r| r.name == service) else {
        return;
    };
    // A frame only when a shown figure changes (samples arrive every second per service and
    // mostly repeat at idle), and then with the next tick.
    let shown = |s: &Stats| (format::cpu(s.cpu_percent), format::memory(s.memory_bytes));
    let moved = row.stats.as_ref().map(shown) != Some(shown(&stats));
    row.stats = Some(stats);
    if moved {
        state.redraw = state.redraw.max(Redraw::OnTick);
    }
}

/// Keeps a sample of a replica whose stats stream is wanted; a late one is dropped.
fn on_replica_stats(state: &mut State, container: ContainerId, stats: Stats) {
    let Some(service) = state.streams.replica_stats.get(&container) else {
        return;
    };
    let Some(row) = state.services.iter_mut().find(|r| &r.name == service) else {
        return;
    };
    let shown = |s: &Stats| (format::cpu(s.cpu_percent), format::memory(s.memory_bytes));
    let moved = row.replica_stats.get(&container).map(shown) != Some(shown(&stats));
    row.replica_stats.insert(container, stats);
    if moved {
        state.redraw = state.redraw.max(Redraw::OnTick);
    }
}

/// A line devtui itself writes into a service's log pane (an action's output, a backup's
/// steps), when the pane shows that service.
fn devtui_line(state: &mut State, service: &str, line: String) {
    let shown = state.log.pane.as_ref();
    if shown.is_some_and(|p| p.sources.iter().any(|s| s == service)) {
        let line = state.secrets.mask(&line);
        let line = state.log.store.push(service, Stream::Devtui, None, &line);
        if let Some(pane) = state.log.pane.as_mut() {
            pane.on_line(service, &line);
        }
        state.changed();
    }
}

/// Hot reload's news: the states go to the rows, every line to the service's log (kept even
/// when its pane is closed: the pane shows it when opened), a result to the row's details.
fn on_reload(state: &mut State, event: crate::ops::reload::Event) {
    use crate::ops::reload::Event;
    match event {
        Event::States(states) => {
            for (service, on) in states {
                state.reload.entry(service).or_default().on = on;
            }
            state.changed();
        }
        Event::Line {
            service,
            text,
            error,
        } => {
            if state.service(&service).is_none() {
                return toast(state, text, error);
            }
            let line = state.secrets.mask(&text);
            let kind = if error {
                Stream::Stderr
            } else {
                Stream::Devtui
            };
            let line = state.log.store.push(&service, kind, None, &line);
            if let Some(pane) = state.log.pane.as_mut() {
                pane.on_line(&service, &line);
            }
            if error {
                toast(state, format!("{service}: {text}"), true);
            }
            state.changed();
        }
        Event::Reloaded {
            service,
            summary,
            ok,
        } => {
            state.reload.entry(service).or_default().last = Some((summary, ok));
            state.changed();
        }
    }
}

/// A line of a custom command's output, kept under its pseudo-source (the command's name)
/// and shown when the pane shows it.
fn command_line(state: &mut State, name: &str, stream: Output, line: String) {
    let kind = match stream {
        Output::Stdout => Stream::Stdout,
        Output::Stderr => Stream::Stderr,
    };
    let line = state.secrets.mask(&line);
    let line = state.log.store.push(name, kind, None, &line);
    if let Some(pane) = state.log.pane.as_mut() {
        pane.on_line(name, &line);
    }
    state.changed();
}

fn toast(state: &mut State, text: String, error: bool) {
    state.toast = Some(Toast {
        text,
        error,
        expires: state.now + TOAST_FOR,
    });
    state.changed();
}
