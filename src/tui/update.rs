//! `update`: the only place the TUI state changes. No I/O: work goes out as `Effect`s.

use std::collections::{BTreeMap, BTreeSet};

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use time::OffsetDateTime;

use crate::engine::logs::{LogEvent, LogStream};
use crate::engine::stats::Stats;
use crate::engine::{ContainerState, EngineUpdate, ServiceStatus};
use crate::ops::actions::Action;
use crate::tui::command::{self, Command};
use crate::tui::format;
use crate::tui::logbuf::Stream;
use crate::tui::logview::{LogPane, Pattern};
use crate::tui::msg::{Effect, Msg};
use crate::tui::state::{
    EngineLink, Focus, LogStreamState, Prompt, ServiceRow, State, TOAST_FOR, Toast,
};

/// Lines scrolled per mouse-wheel notch.
const WHEEL_LINES: usize = 3;

/// Applies one message to the state and returns the work it asks for.
pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    match msg {
        Msg::Key(key) => {
            // Key releases and repeats arrive only with keyboard enhancement; act on presses.
            if key.kind == KeyEventKind::Press {
                on_key(state, key, &mut fx);
                state.dirty = true;
            }
        }
        Msg::Mouse(mouse) => on_mouse(state, mouse, &mut fx),
        Msg::Resize { width, height } => {
            state.width = width;
            state.height = height;
            keep_selection_visible(state);
            state.dirty = true;
        }
        Msg::Engine(update) => {
            on_engine(state, update, &mut fx);
            state.dirty = true;
        }
        Msg::Native(status) => {
            if state.is_native(&status.service) {
                set_status(state, status);
                state.dirty = true;
            }
        }
        Msg::NativesElsewhere(statuses) => {
            on_natives_elsewhere(state, statuses, &mut fx);
            state.dirty = true;
        }
        Msg::Services {
            project,
            services,
            secrets,
        } => {
            state.secrets = secrets;
            set_services(state, project, services);
            state.dirty = true;
        }
        Msg::Logs { service, event } => on_logs(state, &service, event),
        Msg::Stats { service, stats } => {
            if let Some(row) = state.services.iter_mut().find(|r| r.name == service)
                && state.stats_streams.contains_key(&service)
            {
                // A frame only when a shown figure changes (samples arrive every second per
                // service and mostly repeat at idle), and then with the next tick.
                let shown =
                    |s: &Stats| (format::cpu(s.cpu_percent), format::memory(s.memory_bytes));
                if row.stats.as_ref().map(shown) != Some(shown(&stats)) {
                    state.figures_changed = true;
                }
                row.stats = Some(stats);
            }
        }
        Msg::Tick(now) => {
            if state.toast.as_ref().is_some_and(|t| t.expires <= now) {
                state.toast = None;
                state.dirty = true;
            }
            let uptime_moved = state
                .services
                .iter()
                .filter_map(|r| r.status.as_ref())
                .any(|s| format::uptime(s, state.now) != format::uptime(s, now));
            state.dirty |= uptime_moved || std::mem::take(&mut state.figures_changed);
            state.now = now;
        }
        Msg::ActionOutput { service, line } => {
            if state
                .pane
                .as_ref()
                .is_some_and(|p| p.sources.contains(&service))
            {
                let line = state.secrets.mask(&line).into_owned();
                let line = state.logs.push(&service, Stream::Devtui, None, line);
                if let Some(pane) = state.pane.as_mut() {
                    pane.on_line(&service, line);
                }
                state.dirty = true;
            }
        }
        Msg::ActionDone {
            service,
            action,
            result,
        } => {
            match result {
                Ok(text) => toast(state, text, false),
                Err(e) => toast(
                    state,
                    format!("{} {service} failed: {e}", action.verb()),
                    true,
                ),
            };
        }
        Msg::ExecDone { service, result } => {
            match result {
                Ok(Some(code)) => toast(
                    state,
                    format!("shell in {service} exited with code {code}"),
                    code != 0,
                ),
                Ok(None) => toast(state, format!("shell in {service} closed"), false),
                Err(e) => toast(state, format!("exec in {service} failed: {e}"), true),
            };
            state.dirty = true;
        }
        Msg::Saved(result) => match result {
            Ok(path) => toast(state, format!("logs saved to {path}"), false),
            Err(e) => toast(state, format!("could not save logs: {e}"), true),
        },
    }
    sync_streams(state, &mut fx);
    fx
}

fn toast(state: &mut State, text: String, error: bool) {
    state.toast = Some(Toast {
        text,
        error,
        expires: state.now + TOAST_FOR,
    });
    state.dirty = true;
}

fn on_key(state: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        quit(state, fx);
        return;
    }
    if let Some(prompt) = state.prompt.take() {
        on_prompt_key(state, prompt, key, fx);
        return;
    }
    if state.help {
        if matches!(
            key.code,
            KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q')
        ) {
            state.help = false;
        }
        return;
    }
    match key.code {
        KeyCode::Char('q') => return quit(state, fx),
        KeyCode::Char('?') => {
            state.help = true;
            return;
        }
        KeyCode::Char(':') => {
            state.prompt = Some(Prompt::Command {
                text: String::new(),
                candidates: Vec::new(),
            });
            return;
        }
        KeyCode::Tab | KeyCode::BackTab if state.pane.is_some() => {
            state.focus = match state.focus {
                Focus::Services => Focus::Logs,
                Focus::Logs => Focus::Services,
            };
            return;
        }
        KeyCode::Esc => {
            escape(state);
            return;
        }
        KeyCode::Char('e') => return exec(state, fx),
        KeyCode::Char('r') => return ask(state, Action::Restart, fx),
        KeyCode::Char('s') => {
            let running = state.selected_service().is_some_and(ServiceRow::is_running);
            return ask(
                state,
                if running { Action::Stop } else { Action::Start },
                fx,
            );
        }
        KeyCode::Char('b') => return ask(state, Action::Rebuild, fx),
        KeyCode::Char('o') => return open(state, fx),
        KeyCode::Char('L') => return open_merged(state),
        _ => {}
    }
    match state.focus {
        Focus::Services => services_key(state, key),
        Focus::Logs => logs_key(state, key, fx),
    }
}

fn quit(state: &mut State, fx: &mut Vec<Effect>) {
    state.quit = true;
    fx.push(Effect::Quit);
}

/// Esc peels one layer: search, then filter, then the log pane.
fn escape(state: &mut State) {
    let Some(pane) = state.pane.as_mut() else {
        return;
    };
    if pane.search.is_some() {
        pane.search = None;
        pane.current_match = None;
    } else if pane.filter.is_some() {
        pane.filter = None;
        pane.follow();
    } else {
        close_pane(state);
    }
}

fn services_key(state: &mut State, key: KeyEvent) {
    let last = state.services.len().saturating_sub(1);
    match key.code {
        KeyCode::Char('j') | KeyCode::Down => select(state, (state.selected + 1).min(last)),
        KeyCode::Char('k') | KeyCode::Up => select(state, state.selected.saturating_sub(1)),
        KeyCode::Char('g') | KeyCode::Home => select(state, 0),
        KeyCode::Char('G') | KeyCode::End => select(state, last),
        KeyCode::Char(' ') => {
            if let Some(name) = state.selected_service().map(|r| r.name.clone())
                && !state.marked.remove(&name)
            {
                state.marked.insert(name);
            }
        }
        KeyCode::Enter | KeyCode::Char('l') => {
            if let Some(name) = state.selected_service().map(|r| r.name.clone()) {
                open_pane(state, vec![name]);
            }
        }
        _ => {}
    }
}

fn logs_key(state: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    let (rows, _) = state.log_area();
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let Some(pane) = state.pane.as_mut() else {
        return;
    };
    let store = &state.logs;
    match key.code {
        KeyCode::Char('k') | KeyCode::Up => pane.scroll_up(store, 1, rows),
        KeyCode::Char('j') | KeyCode::Down => pane.scroll_down(store, 1),
        KeyCode::Char('u') if ctrl => pane.scroll_up(store, rows / 2, rows),
        KeyCode::Char('d') if ctrl => pane.scroll_down(store, rows / 2),
        KeyCode::PageUp => pane.scroll_up(store, rows.saturating_sub(1).max(1), rows),
        KeyCode::PageDown => pane.scroll_down(store, rows.saturating_sub(1).max(1)),
        KeyCode::Char('g') | KeyCode::Home => pane.scroll_top(store, rows),
        KeyCode::Char('G') | KeyCode::End => pane.follow(),
        KeyCode::Char('/') => {
            let text = pane
                .search
                .as_ref()
                .map(|p| p.text.clone())
                .unwrap_or_default();
            pane.pattern_error = None;
            state.prompt = Some(Prompt::Search(text));
        }
        KeyCode::Char('f') | KeyCode::Char('&') => {
            let text = pane
                .filter
                .as_ref()
                .map(|p| p.text.clone())
                .unwrap_or_default();
            pane.pattern_error = None;
            state.prompt = Some(Prompt::Filter(text));
        }
        KeyCode::Char('n') if pane.search.is_some() && !pane.search_older(store, rows) => {
            toast(state, "no older match".into(), false);
        }
        KeyCode::Char('N') if pane.search.is_some() && !pane.search_newer(store, rows) => {
            toast(state, "no newer match".into(), false);
        }
        KeyCode::Char('t') => pane.timestamps = !pane.timestamps,
        KeyCode::Char('w') => pane.wrap = !pane.wrap,
        KeyCode::Char('a') => pane.ansi = !pane.ansi,
        KeyCode::Char('S') => save_pane(state, fx),
        _ => {}
    }
}

/// Saves the pane's lines (as shown: filtered, masked) to a file in the current directory.
fn save_pane(state: &mut State, fx: &mut Vec<Effect>) {
    let Some(pane) = state.pane.as_ref() else {
        return toast(state, "no log pane to save".into(), true);
    };
    let contents = pane.export(&state.logs);
    let name = if pane.merged() {
        "merged".to_string()
    } else {
        pane.sources.join("-")
    };
    let stamp = state
        .now
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_default();
    fx.push(Effect::SaveLogs {
        path: format!("devtui-{name}-{stamp}.log"),
        contents,
    });
}

/// Edits a `:` command line: Tab completes, Enter runs.
fn edit_command(state: &mut State, mut text: String, key: KeyEvent, fx: &mut Vec<Effect>) {
    let mut candidates = Vec::new();
    match key.code {
        KeyCode::Esc => return,
        KeyCode::Enter => return run_command(state, &text, fx),
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Tab => (text, candidates) = command::complete(&text, &service_names(state)),
        KeyCode::Char(c) => text.push(c),
        _ => {}
    }
    state.prompt = Some(Prompt::Command { text, candidates });
}

fn service_names(state: &State) -> Vec<String> {
    state.services.iter().map(|r| r.name.clone()).collect()
}

fn select_named(state: &mut State, service: &str) {
    if let Some(i) = state.services.iter().position(|r| r.name == service) {
        select(state, i);
    }
}

/// Opens the selected service's log pane unless a pane is open.
fn ensure_pane(state: &mut State) {
    if state.pane.is_none()
        && let Some(name) = state.selected_service().map(|r| r.name.clone())
    {
        open_pane(state, vec![name]);
    }
}

/// Carries a `:` command out the way its key would.
fn run_command(state: &mut State, text: &str, fx: &mut Vec<Effect>) {
    let command = match command::parse(text, &service_names(state)) {
        Ok(c) => c,
        Err(e) => return toast(state, e, true),
    };
    match command {
        Command::Quit => quit(state, fx),
        Command::Help => state.help = true,
        Command::Logs(services) => {
            let services = if services.is_empty() {
                state.selected_service().map(|r| vec![r.name.clone()])
            } else {
                Some(services)
            };
            if let Some(services) = services {
                open_pane(state, services);
            }
        }
        Command::LogsAll => open_pane(state, service_names(state)),
        Command::Action(action, service) => {
            if let Some(service) = service {
                select_named(state, &service);
            }
            if action == Action::Open {
                open(state, fx);
            } else {
                ask(state, action, fx);
            }
        }
        Command::Exec(service) => {
            if let Some(service) = service {
                select_named(state, &service);
            }
            exec(state, fx);
        }
        Command::Search(pattern) => {
            ensure_pane(state);
            commit_search(state, pattern);
        }
        Command::Filter(pattern) => {
            ensure_pane(state);
            commit_filter(state, pattern);
        }
        Command::Save => save_pane(state, fx),
        Command::Select(service) => {
            select_named(state, &service);
            state.focus = Focus::Services;
        }
    }
}

fn on_prompt_key(state: &mut State, prompt: Prompt, key: KeyEvent, fx: &mut Vec<Effect>) {
    match prompt {
        Prompt::Confirm { service, action } => {
            if matches!(
                key.code,
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
            ) {
                toast(
                    state,
                    format!("{} {service}: running…", action.verb()),
                    false,
                );
                // A rebuild's build output streams into the service's log pane.
                let shown = state
                    .pane
                    .as_ref()
                    .is_some_and(|p| p.sources.contains(&service));
                if action == Action::Rebuild && !shown {
                    open_pane(state, vec![service.clone()]);
                }
                fx.push(Effect::Action { service, action });
            }
        }
        Prompt::Command { text, .. } => edit_command(state, text, key, fx),
        Prompt::Search(text) => edit_pattern(state, text, key, false),
        Prompt::Filter(text) => edit_pattern(state, text, key, true),
    }
}

/// Edits a search or filter pattern; the pattern is checked as it is typed.
fn edit_pattern(state: &mut State, mut text: String, key: KeyEvent, filter: bool) {
    match key.code {
        KeyCode::Esc => {
            if let Some(pane) = state.pane.as_mut() {
                pane.pattern_error = None;
            }
            return;
        }
        KeyCode::Enter if filter => return commit_filter(state, text),
        KeyCode::Enter => return commit_search(state, text),
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Char(c) => text.push(c),
        _ => {}
    }
    if let Some(pane) = state.pane.as_mut() {
        pane.pattern_error = if text.is_empty() {
            None
        } else {
            Pattern::new(&text).err()
        };
    }
    state.prompt = Some(if filter {
        Prompt::Filter(text)
    } else {
        Prompt::Search(text)
    });
}

fn commit_search(state: &mut State, text: String) {
    let (rows, _) = state.log_area();
    let Some(pane) = state.pane.as_mut() else {
        return;
    };
    pane.current_match = None;
    if text.is_empty() {
        pane.search = None;
        return;
    }
    match Pattern::new(&text) {
        Ok(pattern) => {
            pane.search = Some(pattern);
            pane.pattern_error = None;
            if !pane.search_older(&state.logs, rows) {
                toast(state, format!("pattern not found: {text}"), false);
            }
        }
        Err(e) => {
            pane.pattern_error = Some(e);
            state.prompt = Some(Prompt::Search(text));
        }
    }
}

fn commit_filter(state: &mut State, text: String) {
    let Some(pane) = state.pane.as_mut() else {
        return;
    };
    if text.is_empty() {
        pane.filter = None;
        pane.follow();
        return;
    }
    match Pattern::new(&text) {
        Ok(pattern) => {
            pane.filter = Some(pattern);
            pane.pattern_error = None;
            pane.follow();
        }
        Err(e) => {
            pane.pattern_error = Some(e);
            state.prompt = Some(Prompt::Filter(text));
        }
    }
}

fn on_mouse(state: &mut State, mouse: MouseEvent, fx: &mut Vec<Effect>) {
    let _ = fx;
    let layout = state.layout();
    let inside = |r: ratatui::layout::Rect| {
        mouse.column >= r.x
            && mouse.column < r.x + r.width
            && mouse.row >= r.y
            && mouse.row < r.y + r.height
    };
    let in_logs = layout.logs.is_some_and(inside);
    let in_table = inside(layout.table);
    let (rows, _) = state.log_area();
    match mouse.kind {
        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown if in_logs => {
            if let Some(pane) = state.pane.as_mut() {
                if mouse.kind == MouseEventKind::ScrollUp {
                    pane.scroll_up(&state.logs, WHEEL_LINES, rows);
                } else {
                    pane.scroll_down(&state.logs, WHEEL_LINES);
                }
            }
        }
        MouseEventKind::ScrollUp if in_table => select(state, state.selected.saturating_sub(1)),
        MouseEventKind::ScrollDown if in_table => select(
            state,
            (state.selected + 1).min(state.services.len().saturating_sub(1)),
        ),
        MouseEventKind::Down(MouseButton::Left) if in_table => {
            // Border and header take the first two rows.
            let row = usize::from(mouse.row.saturating_sub(layout.table.y + 2));
            let index = state.table_offset + row;
            if mouse.row >= layout.table.y + 2 && index < state.services.len() {
                select(state, index);
                state.focus = Focus::Services;
            }
        }
        MouseEventKind::Down(MouseButton::Left) if in_logs => state.focus = Focus::Logs,
        _ => return,
    }
    state.dirty = true;
}

fn select(state: &mut State, index: usize) {
    state.selected = index;
    keep_selection_visible(state);
}

fn keep_selection_visible(state: &mut State) {
    let rows = state.table_rows().max(1);
    if state.selected < state.table_offset {
        state.table_offset = state.selected;
    } else if state.selected >= state.table_offset + rows {
        state.table_offset = state.selected + 1 - rows;
    }
    let max_offset = state.services.len().saturating_sub(rows);
    state.table_offset = state.table_offset.min(max_offset);
}

fn open_merged(state: &mut State) {
    let sources: Vec<String> = if state.marked.is_empty() {
        service_names(state)
    } else {
        // Dependency order, as on the dashboard.
        state
            .services
            .iter()
            .filter(|r| state.marked.contains(&r.name))
            .map(|r| r.name.clone())
            .collect()
    };
    open_pane(state, sources);
}

fn open_pane(state: &mut State, sources: Vec<String>) {
    if let Some(old) = state.pane.take() {
        for s in old.sources.iter().filter(|s| !sources.contains(s)) {
            state.logs.clear(s);
        }
    }
    let mut pane = LogPane::new(sources);
    // Under NO_COLOR the containers' own colours are stripped too (`a` brings them back).
    pane.ansi = !state.options.no_color;
    state.pane = Some(pane);
    state.focus = Focus::Logs;
    keep_selection_visible(state);
}

fn close_pane(state: &mut State) {
    if let Some(pane) = state.pane.take() {
        for s in &pane.sources {
            state.logs.clear(s);
        }
    }
    state.focus = Focus::Services;
    keep_selection_visible(state);
}

fn exec(state: &mut State, fx: &mut Vec<Effect>) {
    let Some(row) = state.selected_service() else {
        return;
    };
    let service = row.name.clone();
    if state.is_native(&service) {
        toast(
            state,
            format!("{service} runs natively: no container to open a shell in"),
            true,
        );
        return;
    }
    match row.running_container() {
        Some(id) => fx.push(Effect::Exec {
            service,
            container_id: id.to_string(),
        }),
        None => {
            let what = describe_state(row);
            toast(
                state,
                format!("cannot open a shell: {service} is {what}; start it with s"),
                true,
            );
        }
    }
}

fn describe_state(row: &ServiceRow) -> &'static str {
    match row.status.as_ref().map(|s| s.state) {
        None | Some(ContainerState::Missing) => "not created",
        Some(ContainerState::Exited) => "exited",
        Some(ContainerState::Created) => "created, not started",
        Some(ContainerState::Paused) => "paused",
        Some(ContainerState::Dead) => "dead",
        Some(ContainerState::Removing) => "being removed",
        Some(ContainerState::Running) | Some(ContainerState::Restarting) => "running",
    }
}

fn ask(state: &mut State, action: Action, fx: &mut Vec<Effect>) {
    let Some(service) = state.selected_service().map(|r| r.name.clone()) else {
        return;
    };
    if action == Action::Rebuild && state.is_native(&service) {
        toast(
            state,
            format!("{service} runs natively: nothing to build; r restarts it"),
            true,
        );
        return;
    }
    if action.destructive() {
        state.prompt = Some(Prompt::Confirm { service, action });
    } else {
        toast(
            state,
            format!("{} {service}: running…", action.verb()),
            false,
        );
        fx.push(Effect::Action { service, action });
    }
}

fn open(state: &mut State, fx: &mut Vec<Effect>) {
    let Some(row) = state.selected_service() else {
        return;
    };
    let service = row.name.clone();
    if row.status.as_ref().is_some_and(|s| !s.ports.is_empty()) {
        fx.push(Effect::Action {
            service,
            action: Action::Open,
        });
    } else {
        toast(state, format!("{service} publishes no port"), true);
    }
}

fn on_engine(state: &mut State, update: EngineUpdate, fx: &mut Vec<Effect>) {
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
                }
            }
            state.engine = EngineLink::Connected { api_version };
        }
        EngineUpdate::Unreachable { error, retry_in } => {
            state.engine = EngineLink::Unreachable { error, retry_in };
            // Every container stream died with the engine; they restart from the snapshot on
            // reconnect. Native services go on.
            for service in remove_container_streams(&mut state.log_streams, &state.natives) {
                fx.push(Effect::StopLogs { service });
            }
            for service in remove_container_streams(&mut state.stats_streams, &state.natives) {
                fx.push(Effect::StopStats { service });
            }
        }
        // A native service's row follows its supervisor, whatever containers say.
        EngineUpdate::Service(status) if state.is_native(&status.service) => {}
        EngineUpdate::Removed { service } if state.is_native(&service) => {}
        EngineUpdate::Service(status) => set_status(state, status),
        EngineUpdate::Removed { service } => {
            if let Some(row) = state.services.iter_mut().find(|r| r.name == service) {
                row.status = None;
                row.stats = None;
            }
        }
    }
}

/// Services another devtui runs natively become native rows (only a TUI without native
/// services of its own is told of them); those it no longer runs are containers again.
fn on_natives_elsewhere(state: &mut State, statuses: Vec<ServiceStatus>, fx: &mut Vec<Effect>) {
    let now: BTreeSet<String> = statuses.iter().map(|s| s.service.clone()).collect();
    let changed: Vec<String> = state.natives.symmetric_difference(&now).cloned().collect();
    for service in changed {
        // Its streams come from elsewhere now; `sync_streams` starts the right ones.
        if state.log_streams.remove(&service).is_some() {
            fx.push(Effect::StopLogs {
                service: service.clone(),
            });
        }
        if state.stats_streams.remove(&service).is_some() {
            fx.push(Effect::StopStats {
                service: service.clone(),
            });
        }
        if let Some(row) = state.services.iter_mut().find(|r| r.name == service) {
            row.status = None;
            row.stats = None;
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
/// last. A different project name means the rows so far were another project's.
fn set_services(state: &mut State, project: String, services: Vec<String>) {
    if project != state.project {
        state.project = project;
        state.services.clear();
    }
    let selected = state.selected_service().map(|r| r.name.clone());
    let mut old = std::mem::take(&mut state.services);
    let mut rows: Vec<ServiceRow> = services
        .into_iter()
        .map(|name| match old.iter().position(|r| r.name == name) {
            Some(i) => old.remove(i),
            None => ServiceRow {
                name,
                status: None,
                stats: None,
            },
        })
        .collect();
    rows.append(&mut old);
    state.services = rows;
    state.selected = selected
        .and_then(|name| state.services.iter().position(|r| r.name == name))
        .unwrap_or(0);
    keep_selection_visible(state);
}

fn set_status(state: &mut State, status: ServiceStatus) {
    match state.services.iter_mut().find(|r| r.name == status.service) {
        Some(row) => {
            if row.status.as_ref().map(|s| &s.container_id) != Some(&status.container_id)
                || status.state != ContainerState::Running
            {
                row.stats = None;
            }
            row.status = Some(status);
        }
        // A service the project model did not list (e.g. started by hand): show it last.
        None => state.services.push(ServiceRow {
            name: status.service.clone(),
            status: Some(status),
            stats: None,
        }),
    }
}

fn on_logs(state: &mut State, service: &str, event: LogEvent) {
    let Some(stream) = state.log_streams.get_mut(service) else {
        // A late batch from a stream already stopped.
        return;
    };
    match event {
        LogEvent::Lines(lines) => {
            if let Some(ts) = lines.iter().rev().find_map(|l| l.ts.clone()) {
                state.last_log_ts.insert(service.to_string(), ts);
            }
            for entry in lines {
                let kind = match entry.stream {
                    LogStream::Stdout => Stream::Stdout,
                    LogStream::Stderr => Stream::Stderr,
                };
                let text = match state.secrets.mask(&entry.text) {
                    std::borrow::Cow::Borrowed(_) => entry.text,
                    std::borrow::Cow::Owned(masked) => masked,
                };
                let line = state.logs.push(service, kind, entry.ts, text);
                if let Some(pane) = state.pane.as_mut() {
                    pane.on_line(service, line);
                }
            }
            keep_anchor_in_buffer(state);
            state.dirty = true;
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
    let Some(pane) = state.pane.as_mut() else {
        return;
    };
    let Some(anchor) = pane.anchor else { return };
    let oldest = pane
        .sources
        .iter()
        .filter_map(|s| state.logs.rings.get(s))
        .filter_map(|r| r.lines.front().map(|l| l.seq))
        .min();
    if oldest.is_some_and(|oldest| anchor < oldest) {
        let new_lines = pane.new_lines;
        pane.anchor = None;
        pane.scroll_top(&state.logs, rows);
        pane.new_lines = new_lines;
    }
}

/// What a native service's log and stats streams are keyed by, where containers have an id.
const NATIVE_STREAM: &str = "native";

/// Starts and stops log and stats streams so that exactly what is on screen streams.
fn sync_streams(state: &mut State, fx: &mut Vec<Effect>) {
    let connected = matches!(state.engine, EngineLink::Connected { .. });
    // Logs: every source of the open pane that has a container (exited ones show their tail)
    // or is native (its supervisor keeps its output across restarts: one stream for good).
    let sources: Vec<String> = state
        .pane
        .as_ref()
        .map(|p| p.sources.clone())
        .unwrap_or_default();
    let streaming: Vec<String> = state.log_streams.keys().cloned().collect();
    for service in streaming.iter().filter(|s| !sources.contains(s)) {
        state.log_streams.remove(service);
        fx.push(Effect::StopLogs {
            service: service.clone(),
        });
    }
    let (native_sources, engine_sources): (Vec<String>, Vec<String>) =
        sources.into_iter().partition(|s| state.is_native(s));
    for service in &native_sources {
        if !state.log_streams.contains_key(service) {
            state.log_streams.insert(
                service.clone(),
                LogStreamState {
                    container_id: NATIVE_STREAM.into(),
                    ended: false,
                    started_at: None,
                },
            );
            fx.push(Effect::FollowNative {
                service: service.clone(),
                tail: state.options.tail,
            });
        }
    }
    for service in engine_sources.iter().filter(|_| connected) {
        let Some(status) = state.service(service).and_then(|r| r.status.clone()) else {
            continue;
        };
        let Some(container_id) = status.container_id.clone() else {
            continue;
        };
        let tail = state.options.tail;
        match state.log_streams.get_mut(service) {
            Some(s) if s.container_id == container_id => {
                let restarted = s.ended
                    && status.state == ContainerState::Running
                    && status.started_at != s.started_at;
                if restarted {
                    s.ended = false;
                    fx.push(Effect::StartLogs {
                        service: service.clone(),
                        container_id,
                        tail,
                        since: resume_from(state.last_log_ts.get(service)),
                    });
                }
            }
            existing => {
                if existing.is_some() {
                    fx.push(Effect::StopLogs {
                        service: service.clone(),
                    });
                }
                state.log_streams.insert(
                    service.clone(),
                    LogStreamState {
                        container_id: container_id.clone(),
                        ended: false,
                        started_at: None,
                    },
                );
                fx.push(Effect::StartLogs {
                    service: service.clone(),
                    container_id,
                    tail,
                    since: None,
                });
            }
        }
    }
    // Stats: running services whose rows are on screen.
    let wanted: Vec<(String, String)> = state
        .services_on_screen()
        .filter_map(|r| {
            if state.is_native(&r.name) {
                r.is_running()
                    .then(|| (r.name.clone(), NATIVE_STREAM.to_string()))
            } else {
                r.running_container()
                    .filter(|_| connected)
                    .map(|id| (r.name.clone(), id.to_string()))
            }
        })
        .collect();
    let current: Vec<(String, String)> = state
        .stats_streams
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (service, id) in &current {
        if !wanted.iter().any(|(s, i)| s == service && i == id) {
            state.stats_streams.remove(service);
            fx.push(Effect::StopStats {
                service: service.clone(),
            });
        }
    }
    for (service, id) in wanted {
        if !state.stats_streams.contains_key(&service) {
            state.stats_streams.insert(service.clone(), id.clone());
            fx.push(if state.is_native(&service) {
                Effect::NativeStats { service }
            } else {
                Effect::StartStats {
                    service,
                    container_id: id,
                }
            });
        }
    }
}

/// Resume a restarted container's logs from the second after the last line seen.
fn resume_from(ts: Option<&String>) -> Option<i64> {
    let ts = ts?;
    OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp() + 1)
}
