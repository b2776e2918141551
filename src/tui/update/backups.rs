//! The backups view (`B`) and the data work started from it and from the dashboard: back up
//! now, restore, delete, reset. What a restore or reset replaces is worked out by the runner
//! first (`Effect::PlanData`), so the confirmation names it; one piece of data work runs at
//! a time, its steps and result shown in the service's log pane and as a toast.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::keys::open_pane;
use super::{devtui_line, toast};
use crate::ops::backup::store::Entry;
use crate::ops::backup::{Report, human_bytes};
use crate::tui::msg::{DataOp, Effect, Question};
use crate::tui::state::{BackupsView, DataJob, Overlay, Prompt, Redraw, State};

/// Opens the backups view of `service` and asks for its list.
pub(super) fn open_view(state: &mut State, service: String, fx: &mut Vec<Effect>) {
    fx.push(Effect::ListBackups {
        service: service.clone(),
    });
    state.backups.view = Some(BackupsView {
        service,
        entries: None,
        selected: 0,
        error: None,
    });
}

/// Keys while the view is open; it takes them all (q and esc close it).
pub(super) fn view_key(state: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Some(view) = state.backups.view.as_mut() else {
        return;
    };
    let service = view.service.clone();
    let count = view.entries.as_ref().map_or(0, Vec::len);
    match key.code {
        KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('B') => state.backups.view = None,
        KeyCode::Char('j') | KeyCode::Down => {
            view.selected = (view.selected + 1).min(count.saturating_sub(1));
        }
        KeyCode::Char('k') | KeyCode::Up => view.selected = view.selected.saturating_sub(1),
        KeyCode::Char('g') | KeyCode::Home => view.selected = 0,
        KeyCode::Char('G') | KeyCode::End => view.selected = count.saturating_sub(1),
        KeyCode::Char('r') => fx.push(Effect::ListBackups { service }),
        KeyCode::Char('n') => plan(
            state,
            DataOp::Backup {
                service,
                stop: false,
            },
            fx,
        ),
        KeyCode::Enter | KeyCode::Char('R') => match view.selected_entry() {
            Some(e) => {
                let id = e.id.clone();
                plan(state, DataOp::Restore { service, id }, fx);
            }
            None => toast(state, format!("no backup of {service} selected"), true),
        },
        KeyCode::Char('d') | KeyCode::Delete => match view.selected_entry() {
            Some(e) => {
                let text = format!(
                    "Delete backup {} of {} ({}, {})?",
                    e.short_id(),
                    e.manifest.service,
                    e.manifest.file,
                    human_bytes(e.manifest.size)
                );
                let id = e.id.clone();
                state.overlay = Overlay::Prompt(Prompt::ConfirmData {
                    question: text,
                    yes: DataOp::Delete { service, id },
                    no: None,
                });
            }
            None => toast(state, format!("no backup of {service} selected"), true),
        },
        KeyCode::Char('X') => plan(state, DataOp::Reset { service }, fx),
        _ => {}
    }
}

/// Asks the runner what `op` will do (the answer comes back as `DataPlanned`), unless data
/// work is running already.
pub(super) fn plan(state: &mut State, op: DataOp, fx: &mut Vec<Effect>) {
    if busy(state) {
        return;
    }
    fx.push(Effect::PlanData(op));
}

fn busy(state: &mut State) -> bool {
    let Some(job) = &state.backups.job else {
        return false;
    };
    let text = format!(
        "{} of {} is running; wait for it to finish",
        job.op.verb(),
        job.op.service()
    );
    toast(state, text, true);
    true
}

/// The plan arrived: ask, or start at once when there is nothing to ask.
pub(super) fn on_planned(
    state: &mut State,
    op: DataOp,
    result: Result<Option<Question>, String>,
    fx: &mut Vec<Effect>,
) {
    match result {
        Ok(Some(Question { text, no })) => {
            state.overlay = Overlay::Prompt(Prompt::ConfirmData {
                question: text,
                yes: op,
                no,
            });
        }
        Ok(None) => start(state, op, fx),
        Err(e) => toast(state, format!("{} {}: {e}", op.verb(), op.service()), true),
    }
    state.changed();
}

/// The answer to a data confirmation: y or Enter runs `yes`, n runs `no` when there is one.
pub(super) fn on_confirm_key(
    state: &mut State,
    yes: DataOp,
    no: Option<DataOp>,
    key: KeyEvent,
    fx: &mut Vec<Effect>,
) {
    match key.code {
        KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => start(state, yes, fx),
        KeyCode::Char('n') | KeyCode::Char('N') if no.is_some() => {
            if let Some(no) = no {
                start(state, no, fx);
            }
        }
        // Anything else cancels, as every confirmation does.
        _ => toast(state, "nothing done".into(), false),
    }
}

/// Starts confirmed data work: its steps go to the service's log pane.
fn start(state: &mut State, op: DataOp, fx: &mut Vec<Effect>) {
    if busy(state) {
        return;
    }
    let service = op.service().to_string();
    if !matches!(op, DataOp::Delete { .. }) {
        let shown = state
            .log
            .pane
            .as_ref()
            .is_some_and(|p| p.sources.contains(&service));
        if !shown {
            open_pane(state, vec![service.clone()]);
        }
    }
    toast(state, format!("{} {service}: running…", op.verb()), false);
    state.backups.job = Some(DataJob {
        op: op.clone(),
        step: None,
        bytes: 0,
        per_sec: 0,
    });
    fx.push(Effect::Data(op));
}

pub(super) fn on_listed(state: &mut State, service: String, result: Result<Vec<Entry>, String>) {
    let Some(view) = state.backups.view.as_mut().filter(|v| v.service == service) else {
        return;
    };
    match result {
        Ok(entries) => {
            view.selected = view.selected.min(entries.len().saturating_sub(1));
            view.entries = Some(entries);
            view.error = None;
        }
        Err(e) => {
            view.entries = Some(Vec::new());
            view.error = Some(e);
        }
    }
    state.changed();
}

pub(super) fn on_progress(state: &mut State, service: String, report: Report) {
    let Some(job) = state.backups.job.as_mut() else {
        return;
    };
    match report {
        Report::Step(text) => {
            job.step = Some(text.clone());
            devtui_line(state, &service, text);
            state.changed();
        }
        Report::Bytes { bytes, per_sec } => {
            job.bytes = bytes;
            job.per_sec = per_sec;
            // Progress is drawn with the next tick, like the other figures.
            state.redraw = state.redraw.max(Redraw::OnTick);
        }
    }
}

pub(super) fn on_done(
    state: &mut State,
    op: DataOp,
    result: Result<String, String>,
    fx: &mut Vec<Effect>,
) {
    state.backups.job = None;
    let service = op.service().to_string();
    let (text, error) = match result {
        Ok(text) => (text, false),
        Err(e) => (format!("{} {service} failed: {e}", op.verb()), true),
    };
    devtui_line(state, &service, text.clone());
    toast(state, text, error);
    if state
        .backups
        .view
        .as_ref()
        .is_some_and(|v| v.service == service)
    {
        fx.push(Effect::ListBackups { service });
    }
}
