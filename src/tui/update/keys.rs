//! Keys and the mouse: navigation, the log pane, and the keys that ask for work.

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::backups;
use super::prompt;
use super::toast;
use crate::keymap::{Action as KeyAction, Key};
use crate::ops::actions::Action;
use crate::tui::logview::LogPane;
use crate::tui::msg::DataOp;
use crate::tui::msg::Effect;
use crate::tui::state::{Focus, Overlay, Prompt, ServiceRow, State};

/// Lines scrolled per mouse-wheel notch.
const WHEEL_LINES: usize = 3;

pub(super) fn on_key(state: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    // In no keymap: a config file cannot take away the way out.
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        return quit(fx);
    }
    let pressed = pressed(key);
    let action = pressed.and_then(|k| state.options.keys.action(k));
    match std::mem::take(&mut state.overlay) {
        Overlay::Prompt(p) => return prompt::on_prompt_key(state, p, key, fx),
        Overlay::Help => {
            let closes = key.code == KeyCode::Esc
                || matches!(action, Some(KeyAction::Help | KeyAction::Quit));
            if !closes {
                state.overlay = Overlay::Help;
            }
            return;
        }
        Overlay::None => {}
    }
    if state.backups.view.is_some() {
        return backups::view_key(state, key, fx);
    }
    let Some(action) = action else {
        // A profile's key: never one of the keymap's (the profile's check refuses those).
        if let Some(Key::Char(c)) = pressed
            && let Some(name) = state
                .commands
                .iter()
                .find(|cmd| cmd.key == Some(c))
                .map(|cmd| cmd.name.clone())
        {
            run_custom(state, &name, fx);
        }
        return;
    };
    match action {
        KeyAction::Quit => return quit(fx),
        KeyAction::Help => {
            state.overlay = Overlay::Help;
            return;
        }
        KeyAction::CommandPrompt => {
            state.overlay = Overlay::Prompt(Prompt::Command {
                text: String::new(),
                candidates: Vec::new(),
            });
            return;
        }
        KeyAction::SwitchFocus if state.log.pane.is_some() => {
            state.focus = match state.focus {
                Focus::Services => Focus::Logs,
                Focus::Logs => Focus::Services,
            };
            return;
        }
        KeyAction::Back => {
            escape(state);
            return;
        }
        KeyAction::Exec => return exec(state, fx),
        KeyAction::Restart => return ask(state, Action::Restart, fx),
        KeyAction::StartStop => {
            let running = state.selected_service().is_some_and(ServiceRow::is_running);
            return ask(
                state,
                if running { Action::Stop } else { Action::Start },
                fx,
            );
        }
        KeyAction::Rebuild => return ask(state, Action::Rebuild, fx),
        KeyAction::Mode => return switch_mode(state, None, fx),
        KeyAction::Reload => return reload(state, None, fx),
        KeyAction::OpenUrl => return open(state, fx),
        KeyAction::LogsMerged => return open_merged(state),
        KeyAction::Backups => return open_backups(state, fx),
        KeyAction::Reset => return reset(state, fx),
        _ => {}
    }
    match state.focus {
        Focus::Services => services_key(state, action),
        Focus::Logs => logs_key(state, action, fx),
    }
}

/// The key as the keymap names it: shift is in the character, other modifiers but Ctrl are
/// ignored (as before the keymap).
fn pressed(key: KeyEvent) -> Option<Key> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char(c) if ctrl => Key::Ctrl(c.to_ascii_lowercase()),
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Delete => Key::Delete,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Insert => Key::Insert,
        KeyCode::F(n) => Key::F(n),
        _ => return None,
    })
}

pub(super) fn quit(fx: &mut Vec<Effect>) {
    fx.push(Effect::Quit);
}

/// Esc peels one layer: search, then filter, then the log pane.
fn escape(state: &mut State) {
    let Some(pane) = state.log.pane.as_mut() else {
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

fn services_key(state: &mut State, action: KeyAction) {
    let last = state.services.len().saturating_sub(1);
    let index = state.selection.index;
    match action {
        KeyAction::Down => select(state, (index + 1).min(last)),
        KeyAction::Up => select(state, index.saturating_sub(1)),
        KeyAction::Top => select(state, 0),
        KeyAction::Bottom => select(state, last),
        KeyAction::Mark => {
            if let Some(name) = state.selected_service().map(|r| r.name.clone())
                && !state.selection.marked.remove(&name)
            {
                state.selection.marked.insert(name);
            }
        }
        KeyAction::Expand => {
            if let Some(name) = state.selected_service().map(|r| r.name.clone())
                && !state.selection.expanded.remove(&name)
            {
                state.selection.expanded.insert(name);
            }
            keep_selection_visible(state);
        }
        KeyAction::OpenLogs => {
            if let Some(name) = state.selected_service().map(|r| r.name.clone()) {
                open_pane(state, vec![name]);
            }
        }
        _ => {}
    }
}

fn logs_key(state: &mut State, action: KeyAction, fx: &mut Vec<Effect>) {
    let (rows, _) = state.log_area();
    let Some(pane) = state.log.pane.as_mut() else {
        return;
    };
    let store = &state.log.store;
    match action {
        KeyAction::Up => pane.scroll_up(store, 1, rows),
        KeyAction::Down => pane.scroll_down(store, 1),
        KeyAction::HalfPageUp => pane.scroll_up(store, rows / 2, rows),
        KeyAction::HalfPageDown => pane.scroll_down(store, rows / 2),
        KeyAction::PageUp => pane.scroll_up(store, rows.saturating_sub(1).max(1), rows),
        KeyAction::PageDown => pane.scroll_down(store, rows.saturating_sub(1).max(1)),
        KeyAction::Top => pane.scroll_top(store, rows),
        KeyAction::Bottom => pane.follow(),
        KeyAction::Search => {
            let text = pane.search.as_ref().map(|p| p.text.clone());
            pane.pattern_error = None;
            state.overlay = Overlay::Prompt(Prompt::Search(text.unwrap_or_default()));
        }
        KeyAction::Filter => {
            let text = pane.filter.as_ref().map(|p| p.text.clone());
            pane.pattern_error = None;
            state.overlay = Overlay::Prompt(Prompt::Filter(text.unwrap_or_default()));
        }
        KeyAction::NextMatch if pane.search.is_some() && !pane.search_older(store, rows) => {
            toast(state, "no older match".into(), false);
        }
        KeyAction::PrevMatch if pane.search.is_some() && !pane.search_newer(store, rows) => {
            toast(state, "no newer match".into(), false);
        }
        KeyAction::Timestamps => pane.timestamps = !pane.timestamps,
        KeyAction::Wrap => pane.wrap = !pane.wrap,
        KeyAction::Ansi => pane.ansi = !pane.ansi,
        KeyAction::Save => save_pane(state, fx),
        _ => {}
    }
}

/// Saves the pane's lines (as shown: filtered, masked) to a file in the current directory.
pub(super) fn save_pane(state: &mut State, fx: &mut Vec<Effect>) {
    let Some(pane) = state.log.pane.as_ref() else {
        return toast(state, "no log pane to save".into(), true);
    };
    let contents = pane.export(&state.log.store);
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

pub(super) fn on_mouse(state: &mut State, mouse: MouseEvent) {
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
    let index = state.selection.index;
    match mouse.kind {
        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown if in_logs => {
            if let Some(pane) = state.log.pane.as_mut() {
                if mouse.kind == MouseEventKind::ScrollUp {
                    pane.scroll_up(&state.log.store, WHEEL_LINES, rows);
                } else {
                    pane.scroll_down(&state.log.store, WHEEL_LINES);
                }
            }
        }
        MouseEventKind::ScrollUp if in_table => select(state, index.saturating_sub(1)),
        MouseEventKind::ScrollDown if in_table => select(
            state,
            (index + 1).min(state.services.len().saturating_sub(1)),
        ),
        MouseEventKind::Down(MouseButton::Left) if in_table => {
            // Border and header take the first two rows.
            let line = usize::from(mouse.row.saturating_sub(layout.table.y + 2));
            let clicked = state.service_at_line(line);
            if mouse.row >= layout.table.y + 2
                && let Some(clicked) = clicked
            {
                select(state, clicked);
                state.focus = Focus::Services;
            }
        }
        MouseEventKind::Down(MouseButton::Left) if in_logs => state.focus = Focus::Logs,
        _ => return,
    }
    state.changed();
}

fn select(state: &mut State, index: usize) {
    state.selection.index = index;
    keep_selection_visible(state);
}

pub(super) fn select_named(state: &mut State, service: &str) {
    if let Some(i) = state.services.iter().position(|r| r.name == service) {
        select(state, i);
    }
}

pub(super) fn keep_selection_visible(state: &mut State) {
    let rows = state.table_rows().max(1);
    let sel = &mut state.selection;
    if sel.index < sel.offset {
        sel.offset = sel.index;
    } else if sel.index >= sel.offset + rows {
        sel.offset = sel.index + 1 - rows;
    }
    sel.offset = sel.offset.min(state.services.len().saturating_sub(rows));
    // Expanded services' sub-rows take lines too: scroll on until the selected service and
    // its sub-rows fit.
    let lines = |state: &State, from: usize| -> usize {
        state.services[from..=state.selection.index]
            .iter()
            .map(|r| 1 + state.replicas_shown(r).len())
            .sum()
    };
    while state.selection.offset < state.selection.index
        && state.selection.index < state.services.len()
        && lines(state, state.selection.offset) > rows
    {
        state.selection.offset += 1;
    }
}

pub(super) fn service_names(state: &State) -> Vec<String> {
    state.services.iter().map(|r| r.name.clone()).collect()
}

fn open_merged(state: &mut State) {
    let sources: Vec<String> = if state.selection.marked.is_empty() {
        service_names(state)
    } else {
        // Dependency order, as on the dashboard.
        state
            .services
            .iter()
            .filter(|r| state.selection.marked.contains(&r.name))
            .map(|r| r.name.clone())
            .collect()
    };
    open_pane(state, sources);
}

pub(super) fn open_pane(state: &mut State, sources: Vec<String>) {
    if let Some(old) = state.log.pane.take() {
        for s in old.sources.iter().filter(|s| !sources.contains(s)) {
            state.log.store.clear(s);
        }
    }
    let mut pane = LogPane::new(sources);
    // Under NO_COLOR the containers' own colours are stripped too (`a` brings them back).
    pane.ansi = !state.options.no_color;
    state.log.pane = Some(pane);
    state.focus = Focus::Logs;
    keep_selection_visible(state);
}

/// Opens the selected service's log pane unless a pane is open.
pub(super) fn ensure_pane(state: &mut State) {
    if state.log.pane.is_none()
        && let Some(name) = state.selected_service().map(|r| r.name.clone())
    {
        open_pane(state, vec![name]);
    }
}

fn close_pane(state: &mut State) {
    if let Some(pane) = state.log.pane.take() {
        for s in &pane.sources {
            state.log.store.clear(s);
        }
    }
    state.focus = Focus::Services;
    keep_selection_visible(state);
}

/// A shell in the selected service; the runner finds out whether it has a container to open
/// one in.
pub(super) fn exec(state: &mut State, fx: &mut Vec<Effect>) {
    if let Some(row) = state.selected_service() {
        fx.push(Effect::Exec {
            service: row.name.clone(),
        });
    }
}

pub(super) fn ask(state: &mut State, action: Action, fx: &mut Vec<Effect>) {
    let Some(service) = state.selected_service().map(|r| r.name.clone()) else {
        return;
    };
    // Not asked for confirmation of what cannot be done.
    if action == Action::Rebuild && state.is_native(&service) {
        toast(
            state,
            format!(
                "{service} runs natively: nothing to build; {} restarts it",
                state.options.keys.key_name(KeyAction::Restart)
            ),
            true,
        );
        return;
    }
    // `confirm: false` in the config file: destructive actions run without the question.
    if action.destructive() && state.options.confirm {
        state.overlay = Overlay::Prompt(Prompt::Confirm { service, action });
    } else {
        start_action(state, service, action, fx);
    }
}

/// Moves the selected service to the other side: native ⇄ container. No question: nothing
/// is lost (the data stays where both sides reach it), and the same key moves it back.
pub(super) fn switch_mode(
    state: &mut State,
    to: Option<crate::ops::mode::Mode>,
    fx: &mut Vec<Effect>,
) {
    let Some(service) = state.selected_service().map(|r| r.name.clone()) else {
        return;
    };
    let to = to.unwrap_or(if state.is_native(&service) {
        crate::ops::mode::Mode::Container
    } else {
        crate::ops::mode::Mode::Native
    });
    toast(
        state,
        format!("mode {service} {}: switching…", to.name()),
        false,
    );
    fx.push(Effect::Mode { service, to });
}

/// Runs an action that needs no more confirmation.
pub(super) fn start_action(
    state: &mut State,
    service: String,
    action: Action,
    fx: &mut Vec<Effect>,
) {
    toast(
        state,
        format!("{} {service}: running…", action.verb()),
        false,
    );
    // A rebuild's build output streams into the service's log pane.
    let pane = state.log.pane.as_ref();
    let shown = pane.is_some_and(|p| p.sources.contains(&service));
    if action == Action::Rebuild && !shown {
        open_pane(state, vec![service.clone()]);
    }
    fx.push(Effect::Action { service, action });
}

pub(super) fn open(state: &mut State, fx: &mut Vec<Effect>) {
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

/// A custom command of the profile, by name: asked first when it says `confirm: true`.
pub(super) fn run_custom(state: &mut State, name: &str, fx: &mut Vec<Effect>) {
    let Some(cmd) = state.commands.iter().find(|c| c.name == name) else {
        let names: Vec<&str> = state.commands.iter().map(|c| c.name.as_str()).collect();
        let known = if names.is_empty() {
            "the devtui profile has none".to_string()
        } else {
            names.join(", ")
        };
        return toast(state, format!("no command {name:?} ({known})"), true);
    };
    if cmd.confirm {
        state.overlay = Overlay::Prompt(Prompt::ConfirmCommand {
            name: name.to_string(),
        });
    } else {
        start_custom(state, name, fx);
    }
}

/// Runs a custom command: its output goes to a log pane of its own (a pseudo-source named
/// after it), replacing what that pane held from an earlier run.
pub(super) fn start_custom(state: &mut State, name: &str, fx: &mut Vec<Effect>) {
    let Some(cmd) = state.commands.iter().find(|c| c.name == name).cloned() else {
        return;
    };
    state.log.store.clear(name);
    open_pane(state, vec![name.to_string()]);
    toast(state, format!("{name}: running…"), false);
    fx.push(Effect::RunCommand(cmd));
}

/// `B`: the selected service's backups.
pub(super) fn open_backups(state: &mut State, fx: &mut Vec<Effect>) {
    if let Some(service) = state.selected_service().map(|r| r.name.clone()) {
        backups::open_view(state, service, fx);
    }
}

/// Hot reload of the selected service on or off (`None`: the other way round).
pub(super) fn reload(state: &mut State, on: Option<bool>, fx: &mut Vec<Effect>) {
    let Some(service) = state.selected_service().map(|r| r.name.clone()) else {
        return;
    };
    let on = on.unwrap_or(!state.reloads(&service));
    fx.push(Effect::SetReload {
        service: service.clone(),
        on,
    });
    let word = if on { "on" } else { "off" };
    super::toast(state, format!("reload {word} for {service}"), false);
}

/// `X`: reset the selected service (the confirmation names its volumes).
pub(super) fn reset(state: &mut State, fx: &mut Vec<Effect>) {
    if let Some(service) = state.selected_service().map(|r| r.name.clone()) {
        backups::plan(state, DataOp::Reset { service }, fx);
    }
}

/// Back the selected service up now.
pub(super) fn backup(state: &mut State, fx: &mut Vec<Effect>) {
    if let Some(service) = state.selected_service().map(|r| r.name.clone()) {
        backups::plan(
            state,
            DataOp::Backup {
                service,
                stop: false,
            },
            fx,
        );
    }
}
