//! Render: draws the state and reads it only (no I/O, no awaits, no mutation).

mod backups;
mod dashboard;
mod help;
mod logs;
pub mod theme;

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::tui::state::{EngineLink, MIN_HEIGHT, MIN_WIDTH, Prompt, State};
use theme::Theme;

/// Draws the whole screen.
pub fn render(state: &State, frame: &mut Frame) {
    let theme = Theme::new(state.options.no_color);
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return too_small(area, &state.options.keys, frame);
    }
    let layout = state.layout();
    if let Some(banner) = layout.banner {
        engine_banner(state, theme, banner, frame);
    }
    dashboard::render(state, theme, layout.table, layout.detail, frame);
    if let (Some(area), Some(pane)) = (layout.logs, state.log.pane.as_ref()) {
        logs::render(state, pane, theme, area, frame);
    }
    if let Some(view) = &state.backups.view {
        let body = Rect::new(0, 0, area.width, layout.bar.y);
        backups::render(state, view, theme, body, frame);
    }
    status_bar(state, theme, layout.bar, frame);
    if state.help_shown() {
        help::render(theme, area, &state.options.keys, &state.commands, frame);
    }
}

fn too_small(area: Rect, keys: &crate::keymap::Keymap, frame: &mut Frame) {
    let text = format!(
        "Terminal too small: {}×{}\nneeds at least {MIN_WIDTH}×{MIN_HEIGHT}\n\nenlarge the window, or {} to quit",
        area.width,
        area.height,
        keys.key_name(crate::keymap::Action::Quit)
    );
    let top = area.height.saturating_sub(4) / 2;
    let rect = Rect::new(
        area.x,
        area.y + top,
        area.width,
        area.height.saturating_sub(top),
    );
    frame.render_widget(
        Paragraph::new(text)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        rect,
    );
}

fn engine_banner(state: &State, theme: Theme, area: Rect, frame: &mut Frame) {
    let EngineLink::Unreachable { error, retry_in } = &state.engine else {
        return;
    };
    let text = format!(
        " ⚠ engine unreachable, retrying in {}s: {error}",
        retry_in.as_secs().max(1)
    );
    frame.render_widget(Paragraph::new(text).style(theme.banner()), area);
}

fn status_bar(state: &State, theme: Theme, area: Rect, frame: &mut Frame) {
    let error = state
        .log
        .pane
        .as_ref()
        .and_then(|p| p.pattern_error.as_deref());
    let line = match state.prompt() {
        Some(Prompt::Search(text)) | Some(Prompt::Filter(text)) => {
            let label = if matches!(state.prompt(), Some(Prompt::Search(_))) {
                "/"
            } else {
                "filter: "
            };
            let mut spans = vec![
                Span::styled(label, theme.title()),
                Span::raw(text.clone()),
                Span::raw("█"),
            ];
            if let Some(e) = error {
                spans.push(Span::styled(
                    format!("  ✘ invalid regex: {e}"),
                    theme.error(),
                ));
            } else {
                spans.push(Span::styled("  enter apply · esc cancel", theme.dim()));
            }
            Line::from(spans)
        }
        Some(Prompt::Command { text, candidates }) => {
            let mut spans = vec![
                Span::styled(":", theme.title()),
                Span::raw(text.clone()),
                Span::raw("█"),
            ];
            if candidates.is_empty() {
                spans.push(Span::styled(
                    "  tab complete · enter run · esc cancel · :help",
                    theme.dim(),
                ));
            } else {
                spans.push(Span::styled(
                    format!("  {}", candidates.join(" ")),
                    theme.dim(),
                ));
            }
            Line::from(spans)
        }
        Some(Prompt::Confirm { service, action }) => Line::from(vec![
            Span::styled(
                format!(
                    "{} {service}? ",
                    crate::tui::format::capitalise(action.verb())
                ),
                theme.title(),
            ),
            Span::raw("[y/N]"),
        ]),
        Some(Prompt::ConfirmCommand { name }) => Line::from(vec![
            Span::styled(format!("Run {name}? "), theme.title()),
            Span::raw("[y/N]"),
        ]),
        Some(Prompt::ConfirmData { question, no, .. }) => Line::from(vec![
            Span::styled(format!("{question} "), theme.title()),
            Span::raw(if no.is_some() { "[y/n/esc]" } else { "[y/N]" }),
        ]),
        None => match (&state.toast, &state.backups.job) {
            (Some(t), _) => Line::from(Span::styled(
                format!("{} {}", if t.error { "✘" } else { "✔" }, t.text),
                if t.error { theme.error() } else { theme.ok() },
            )),
            // Data work running: its progress where the hints were.
            (None, Some(job)) => Line::from(Span::styled(backups::progress(job), theme.ok())),
            (None, None) => hints(state, theme),
        },
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn hints(state: &State, theme: Theme) -> Line<'static> {
    use crate::keymap::Action as A;
    let keys: &[(&str, &str, &[A])] = match (&state.log.pane, state.focus) {
        (Some(_), crate::tui::state::Focus::Logs) => &[
            ("q", "quit", &[A::Quit]),
            ("?", "help", &[A::Help]),
            ("/", "search", &[A::Search]),
            ("n/N", "next/prev", &[A::NextMatch, A::PrevMatch]),
            ("f", "filter", &[A::Filter]),
            ("G", "follow", &[A::Bottom]),
            (
                "t/w/a",
                "time/wrap/ansi",
                &[A::Timestamps, A::Wrap, A::Ansi],
            ),
            ("S", "save", &[A::Save]),
            ("tab", "services", &[A::SwitchFocus]),
            ("esc", "close", &[A::Back]),
        ],
        _ => &[
            ("q", "quit", &[A::Quit]),
            ("?", "help", &[A::Help]),
            ("enter", "logs", &[A::OpenLogs]),
            ("L", "merged", &[A::LogsMerged]),
            ("e", "shell", &[A::Exec]),
            ("r", "restart", &[A::Restart]),
            ("s", "stop/start", &[A::StartStop]),
            ("b", "rebuild", &[A::Rebuild]),
            ("o", "open", &[A::OpenUrl]),
        ],
    };
    // The first key of each action in force: the hints stay one line.
    let map = &state.options.keys;
    let keys: Vec<(String, &str)> = keys
        .iter()
        .map(|(fixed, what, actions)| {
            let first = |a: &A| map.keys(*a).first().map_or("—".into(), |k| k.to_string());
            let key = if actions.iter().all(|a| map.is_default(*a)) {
                fixed.to_string()
            } else {
                actions.iter().map(first).collect::<Vec<_>>().join("/")
            };
            (key, *what)
        })
        .collect();
    let mut spans = Vec::new();
    for (i, (k, v)) in keys.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.dim()));
        }
        spans.push(Span::styled(k.clone(), theme.title()));
        spans.push(Span::raw(format!(" {v}")));
    }
    Line::from(spans)
}
