//! The help overlay: every key, in two columns so it fits an 80×24 terminal.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::project::profile::CustomCommand;
use crate::tui::views::theme::Theme;

type Section = (&'static str, &'static [(&'static str, &'static str)]);

/// Left column.
const LEFT: &[Section] = &[
    (
        "Anywhere",
        &[
            ("q, Ctrl-C", "quit"),
            ("?", "this help"),
            ("tab", "services ⇄ logs"),
            ("esc", "clear, then close"),
            (":", "command, tab completes"),
        ],
    ),
    (
        "Services",
        &[
            ("j/k ↓/↑ wheel", "select"),
            ("g/G Home/End", "first / last"),
            ("enter, l", "follow its logs"),
            ("space", "mark for merged view"),
            ("L", "merged (marked or all)"),
            ("e", "shell (bash, else sh)"),
            ("r", "restart (confirm)"),
            ("s", "stop (confirm) / start"),
            ("b", "rebuild (confirm)"),
            ("o", "open URL in browser"),
            ("B", "backups (n/enter/d)"),
            ("X", "wipe volumes (confirm)"),
        ],
    ),
];

/// Right column.
const RIGHT: &[Section] = &[
    (
        "Logs",
        &[
            ("j/k ↓/↑ wheel", "scroll, pauses follow"),
            ("PgUp/PgDn ^u/^d", "page / half page"),
            ("g, Home", "oldest line held"),
            ("G, End", "resume follow"),
            ("/", "search (regex)"),
            ("n / N", "older / newer match"),
            ("f, &", "filter lines (regex)"),
            ("t / w / a", "time / wrap / ansi"),
            ("S", "save lines to a file"),
            ("", "lowercase: any case"),
        ],
    ),
    (
        "Commands",
        &[
            (":logs SVC…|all", "follow, merged"),
            (":restart SVC", "stop, start, rebuild"),
            (":open/:exec SVC", "URL / shell"),
            (":filter RE", ":search RE, :save"),
            (":backup SVC", ":restore, :reset SVC"),
            (":SVC", "select it"),
            (":q", "quit"),
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

fn column(theme: Theme, sections: &[Section]) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for (section, keys) in sections {
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::from(Span::styled(*section, theme.title())));
        for (key, what) in *keys {
            lines.push(Line::from(vec![
                Span::styled(format!(" {key:<16}"), theme.title()),
                Span::raw(*what),
            ]));
        }
    }
    lines
}

pub fn render(theme: Theme, area: Rect, commands: &[CustomCommand], frame: &mut Frame) {
    let left = column(theme, LEFT);
    let mut right = column(theme, RIGHT);
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
