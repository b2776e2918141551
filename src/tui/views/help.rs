//! The help overlay: every key, in two columns so it fits an 80×24 terminal.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::keymap::{Action as A, Keymap};
use crate::project::profile::CustomCommand;
use crate::tui::views::theme::Theme;

/// A help line: its keys as written for the default keymap, what they do, and the actions
/// they are (the keys in force replace the text once one of them is remapped).
type Row = (&'static str, &'static str, &'static [A]);
type Section = (&'static str, &'static [Row]);

/// The keys of `actions` in `keys`: `fixed` when none is remapped (hand-written, compact),
/// else each action's keys, actions separated by `/`. `extra` names what no map holds.
fn label(keys: &Keymap, fixed: &str, actions: &[A], extra: &str) -> String {
    if actions.iter().all(|a| keys.is_default(*a)) {
        return fixed.to_string();
    }
    let names: Vec<String> = actions
        .iter()
        .map(|a| {
            let label = keys.label(*a);
            if label.is_empty() {
                "—".into()
            } else {
                label
            }
        })
        .collect();
    format!("{}{extra}", names.join("/"))
}

/// Left column.
const LEFT: &[Section] = &[
    (
        "Anywhere",
        &[
            ("q, Ctrl-C", "quit", &[A::Quit]),
            ("?", "this help", &[A::Help]),
            ("tab", "services ⇄ logs", &[A::SwitchFocus]),
            ("esc", "clear, then close", &[A::Back]),
            (":", "command, tab completes", &[A::CommandPrompt]),
        ],
    ),
    (
        "Services",
        &[
            ("j/k ↓/↑ wheel", "select", &[A::Down, A::Up]),
            ("g/G Home/End", "first / last", &[A::Top, A::Bottom]),
            ("enter, l", "follow its logs", &[A::OpenLogs]),
            ("space", "mark for merged view", &[A::Mark]),
            ("+", "replicas: show / hide", &[A::Expand]),
            ("L", "merged (marked or all)", &[A::LogsMerged]),
            ("e", "shell (bash, else sh)", &[A::Exec]),
            ("r", "restart (confirm)", &[A::Restart]),
            ("s", "stop (confirm) / start", &[A::StartStop]),
            ("b", "rebuild (confirm)", &[A::Rebuild]),
            ("o", "open URL in browser", &[A::OpenUrl]),
            ("B", "backups (n/enter/d)", &[A::Backups]),
            ("X", "wipe volumes (confirm)", &[A::Reset]),
        ],
    ),
];

/// Right column.
const RIGHT: &[Section] = &[
    (
        "Logs",
        &[
            ("j/k ↓/↑ wheel", "scroll, pauses follow", &[A::Down, A::Up]),
            (
                "PgUp/PgDn ^u/^d",
                "page / half page",
                &[A::PageUp, A::PageDown, A::HalfPageUp, A::HalfPageDown],
            ),
            ("g, Home", "oldest line held", &[A::Top]),
            ("G, End", "resume follow", &[A::Bottom]),
            ("/", "search (regex)", &[A::Search]),
            (
                "n / N",
                "older / newer match",
                &[A::NextMatch, A::PrevMatch],
            ),
            ("f, &", "filter lines (regex)", &[A::Filter]),
            (
                "t / w / a",
                "time / wrap / ansi",
                &[A::Timestamps, A::Wrap, A::Ansi],
            ),
            ("S", "save lines to a file", &[A::Save]),
            ("", "lowercase: any case", &[]),
        ],
    ),
    (
        "Commands",
        &[
            (":logs SVC…|all", "follow, merged", &[]),
            (":restart SVC", "stop, start, rebuild", &[]),
            (":open/:exec SVC", "URL / shell", &[]),
            (":filter RE", ":search RE, :save", &[]),
            (":backup SVC", ":restore, :reset SVC", &[]),
            (":SVC", "select it", &[]),
            (":q", "quit", &[]),
        ],
    ),
];

/// The profile's custom commands, under the right column: their key (or `:run NAME`), name
/// and where they run. On an 80×24 terminal the two columns fill the screen: the commands
/// show on a taller one.
fn custom(theme: Theme, commands: &[CustomCommand]) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::raw(""),
        Line::from(Span::styled("Profile commands (:run NAME)", theme.title())),
    ];
    for c in commands {
        let key = match c.key {
            Some(k) => k.to_string(),
            None => format!(":run {}", c.name),
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {key:<16}"), theme.title()),
            Span::raw(format!("{} ({})", c.name, c.place())),
        ]));
    }
    lines
}

fn column(theme: Theme, keys: &Keymap, sections: &[Section]) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for (section, rows) in sections {
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::from(Span::styled(*section, theme.title())));
        for (fixed, what, actions) in *rows {
            let extra = if actions == &[A::Quit] {
                ", Ctrl-C"
            } else {
                ""
            };
            let key = label(keys, fixed, actions, extra);
            lines.push(Line::from(vec![
                Span::styled(format!(" {key:<16}"), theme.title()),
                Span::raw(*what),
            ]));
        }
    }
    lines
}

pub fn render(
    theme: Theme,
    area: Rect,
    keys: &Keymap,
    commands: &[CustomCommand],
    frame: &mut Frame,
) {
    let left = column(theme, keys, LEFT);
    let mut right = column(theme, keys, RIGHT);
    if !commands.is_empty() {
        right.extend(custom(theme, commands));
    }
    let height = (left.len().max(right.len()) as u16 + 2).min(area.height);
    let width = 80.min(area.width);
    let rect = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(Span::styled(" keys (esc closes) ", theme.title()));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [l, r] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    frame.render_widget(Paragraph::new(left), l);
    frame.render_widget(Paragraph::new(right), r);
}
