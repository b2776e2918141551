//! What is typed into the status bar: the `:` command line, search and filter patterns, and
//! the answer to a confirmation.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::keys::{self, ask, ensure_pane, exec, open, open_pane, quit, select_named};
use super::{backups, toast};
use crate::ops::actions::Action;
use crate::tui::command::{self, Command};
use crate::tui::logview::Pattern;
use crate::tui::msg::DataOp;
use crate::tui::msg::Effect;
use crate::tui::state::{Focus, Overlay, Prompt, State};

pub(super) fn on_prompt_key(
    state: &mut State,
    prompt: Prompt,
    key: KeyEvent,
    fx: &mut Vec<Effect>,
) {
    match prompt {
        Prompt::Confirm { service, action } => {
            if matches!(
                key.code,
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
            ) {
                keys::start_action(state, service, action, fx);
            }
        }
        Prompt::ConfirmCommand { name } => {
            if matches!(
                key.code,
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
            ) {
                keys::start_custom(state, &name, fx);
            }
        }
        Prompt::ConfirmData { yes, no, .. } => backups::on_confirm_key(state, yes, no, key, fx),
        Prompt::Command { text, .. } => edit_command(state, text, key, fx),
        Prompt::Search(text) => edit_pattern(state, text, key, false),
        Prompt::Filter(text) => edit_pattern(state, text, key, true),
    }
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
        KeyCode::Tab => {
            let custom: Vec<String> = state.commands.iter().map(|c| c.name.clone()).collect();
            (text, candidates) =
                command::complete_with(&text, &keys::service_names(state), &custom);
        }
        KeyCode::Char(c) => text.push(c),
        _ => {}
    }
    state.overlay = Overlay::Prompt(Prompt::Command { text, candidates });
}

/// Carries a `:` command out the way its key would.
fn run_command(state: &mut State, text: &str, fx: &mut Vec<Effect>) {
    let command = match command::parse(text, &keys::service_names(state)) {
        Ok(c) => c,
        Err(e) => return toast(state, e, true),
    };
    match command {
        Command::Quit => quit(fx),
        Command::Help => state.overlay = Overlay::Help,
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
        Command::LogsAll => open_pane(state, keys::service_names(state)),
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
        Command::Save => keys::save_pane(state, fx),
        Command::Backup(service) => {
            if let Some(service) = service {
                select_named(state, &service);
            }
            keys::backup(state, fx);
        }
        Command::Backups(service) => {
            if let Some(service) = service {
                select_named(state, &service);
            }
            keys::open_backups(state, fx);
        }
        Command::Restore(service, id) => {
            if let Some(service) = service {
                select_named(state, &service);
            }
            match (id, state.selected_service().map(|r| r.name.clone())) {
                (Some(id), Some(service)) => {
                    backups::plan(state, DataOp::Restore { service, id }, fx)
                }
                // Without an id: the list to pick one from.
                _ => keys::open_backups(state, fx),
            }
        }
        Command::Reset(service) => {
            if let Some(service) = service {
                select_named(state, &service);
            }
            keys::reset(state, fx);
        }
        Command::Run(name) => keys::run_custom(state, &name, fx),
        Command::Mode(service, to) => {
            if let Some(service) = service {
                select_named(state, &service);
            }
            keys::switch_mode(state, to, fx);
        }
        Command::Reload(service, on) => {
            if let Some(service) = service {
                select_named(state, &service);
            }
            keys::reload(state, on, fx);
        }
        Command::Select(service) => {
            select_named(state, &service);
            state.focus = Focus::Services;
        }
    }
}

/// Edits a search or filter pattern; the pattern is checked as it is typed.
fn edit_pattern(state: &mut State, mut text: String, key: KeyEvent, filter: bool) {
    match key.code {
        KeyCode::Esc => {
            if let Some(pane) = state.log.pane.as_mut() {
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
    if let Some(pane) = state.log.pane.as_mut() {
        pane.pattern_error = if text.is_empty() {
            None
        } else {
            Pattern::new(&text).err()
        };
    }
    state.overlay = Overlay::Prompt(if filter {
        Prompt::Filter(text)
    } else {
        Prompt::Search(text)
    });
}

fn commit_search(state: &mut State, text: String) {
    let (rows, _) = state.log_area();
    let Some(pane) = state.log.pane.as_mut() else {
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
            if !pane.search_older(&state.log.store, rows) {
                toast(state, format!("pattern not found: {text}"), false);
            }
        }
        Err(e) => {
            pane.pattern_error = Some(e);
            state.overlay = Overlay::Prompt(Prompt::Search(text));
        }
    }
}

fn commit_filter(state: &mut State, text: String) {
    let Some(pane) = state.log.pane.as_mut() else {
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
            state.overlay = Overlay::Prompt(Prompt::Filter(text));
        }
    }
}
