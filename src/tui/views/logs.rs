//! A log pane: prefixed, coloured lines with search highlights, wrap and a follow indicator.

use std::sync::LazyLock;

use ansi_to_tui::IntoText;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use regex::Regex;

use crate::tui::logbuf::{LogLine, Stream};
use crate::tui::logview::{LogPane, text_width};
use crate::tui::state::{Focus, State};
use crate::tui::views::theme::Theme;

static ERROR_LEVEL: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a constant pattern
    Regex::new(r"(?i)\b(error|fatal|panic|critical)\b").unwrap()
});
static WARN_LEVEL: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a constant pattern
    Regex::new(r"(?i)\bwarn(ing)?\b").unwrap()
});

pub fn render(state: &State, pane: &LogPane, theme: Theme, area: Rect, frame: &mut Frame) {
    let focused = state.focus == Focus::Logs;
    let title = if pane.merged() {
        format!(" logs: {} ", pane.sources.join(", "))
    } else {
        format!(" logs: {} ", pane.sources.join(""))
    };
    let mut status = Vec::new();
    if pane.following() {
        status.push(Span::styled(" ● following ", theme.ok()));
    } else {
        let new = match pane.new_lines {
            0 => String::new(),
            1 => "1 new line · ".to_string(),
            n => format!("{n} new lines · "),
        };
        status.push(Span::styled(
            format!(
                " ‖ paused · {new}{} to resume ",
                state.options.keys.key_name(crate::keymap::Action::Bottom)
            ),
            theme.warn(),
        ));
    }
    if let Some(f) = &pane.filter {
        status.push(Span::styled(format!("filter /{}/ ", f.text), theme.title()));
    }
    if let Some(s) = &pane.search {
        status.push(Span::styled(format!("search /{}/ ", s.text), theme.title()));
    }
    let flags = [
        ("ts", pane.timestamps),
        ("wrap", pane.wrap),
        ("ansi", pane.ansi),
    ]
    .iter()
    .map(|(name, on)| {
        if *on {
            format!("[{name}]")
        } else {
            format!(" {name} ")
        }
    })
    .collect::<Vec<_>>()
    .join("");
    status.push(Span::styled(format!("{flags} "), theme.dim()));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(focused))
        .title(Span::styled(title, theme.title()))
        .title_bottom(Line::from(status).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = usize::from(inner.height);
    let width = usize::from(inner.width);
    let visible = pane.visible(&state.log.store, rows, width);
    let mut lines: Vec<Line> = Vec::with_capacity(rows);
    let name_w = if pane.merged() {
        pane.sources
            .iter()
            .map(|s| text_width(s))
            .max()
            .unwrap_or(0)
    } else {
        0
    };
    for (service, line) in visible {
        let index = pane.sources.iter().position(|s| s == service).unwrap_or(0);
        let built = build_line(pane, theme, service, index, name_w, line);
        if pane.wrap {
            lines.extend(wrap_line(built, width));
        } else {
            lines.push(built);
        }
    }
    if lines.len() > rows {
        lines.drain(..lines.len() - rows);
    }
    if lines.is_empty() {
        let hint = if pane.filter.is_some() {
            "no line matches the filter"
        } else {
            "waiting for output…"
        };
        lines.push(Line::from(Span::styled(hint, theme.dim())));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// One log line: timestamp, service prefix, then the text with ANSI colours or level colours,
/// and search matches highlighted.
fn build_line<'a>(
    pane: &LogPane,
    theme: Theme,
    service: &str,
    index: usize,
    name_w: usize,
    line: LogLine<'a>,
) -> Line<'a> {
    let mut spans: Vec<Span> = Vec::new();
    if pane.timestamps {
        let ts = line.ts.map(|t| t.clock()).unwrap_or_default();
        spans.push(Span::styled(format!("{ts:<12} "), theme.dim()));
    }
    if pane.merged() {
        spans.push(Span::styled(
            format!("{service:<name_w$} │ "),
            theme.service(index),
        ));
    }
    let body: Vec<Span<'a>> = if pane.ansi && line.has_ansi {
        match line.text.as_bytes().into_text() {
            Ok(text) => text.lines.into_iter().flat_map(|l| l.spans).collect(),
            Err(_) => vec![Span::raw(line.plain().into_owned())],
        }
    } else {
        let plain = line.plain();
        let style = level_style(theme, &line, &plain);
        vec![Span::styled(plain.into_owned(), style)]
    };
    let body = match &pane.search {
        Some(search) => {
            let text: String = body.iter().map(|s| s.content.as_ref()).collect();
            let ranges: Vec<(usize, usize)> = search
                .regex
                .find_iter(&text)
                .filter(|m| !m.is_empty())
                .map(|m| (m.start(), m.end()))
                .collect();
            let style = if pane.current_match == Some(line.seq) {
                theme.current()
            } else {
                theme.found()
            };
            highlight(body, &ranges, style)
        }
        None => body,
    };
    spans.extend(body);
    Line::from(spans)
}

fn level_style(theme: Theme, line: &LogLine<'_>, plain: &str) -> Style {
    if ERROR_LEVEL.is_match(plain) {
        theme.error()
    } else if WARN_LEVEL.is_match(plain) || line.stream == Stream::Stderr {
        theme.warn()
    } else if line.stream == Stream::Devtui {
        theme.dim()
    } else {
        Style::new()
    }
}

/// Splits spans at the byte `ranges` of their concatenated text and patches `style` onto the
/// parts inside a range.
pub fn highlight<'a>(
    spans: Vec<Span<'a>>,
    ranges: &[(usize, usize)],
    style: Style,
) -> Vec<Span<'a>> {
    if ranges.is_empty() {
        return spans;
    }
    let mut out = Vec::with_capacity(spans.len() + ranges.len() * 2);
    let mut offset = 0;
    for span in spans {
        let content = span.content.as_ref();
        let (start, end) = (offset, offset + content.len());
        offset = end;
        // Cut points inside this span.
        let mut cuts = vec![start];
        for &(a, b) in ranges {
            for p in [a, b] {
                if p > start && p < end {
                    cuts.push(p);
                }
            }
        }
        cuts.push(end);
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let piece = content[a - start..b - start].to_string();
            let inside = ranges.iter().any(|&(ra, rb)| a >= ra && b <= rb);
            let s = if inside {
                span.style.patch(style)
            } else {
                span.style
            };
            out.push(Span::styled(piece, s));
        }
    }
    out
}

/// Cuts a line into rows of at most `width` columns.
fn wrap_line(line: Line<'_>, width: usize) -> Vec<Line<'static>> {
    let mut rows = vec![Vec::new()];
    let mut used = 0;
    for span in line.spans {
        let mut piece = String::new();
        for ch in span.content.chars() {
            let w = text_width(ch.encode_utf8(&mut [0; 4]));
            if used + w > width && used > 0 {
                if let Some(row) = rows.last_mut() {
                    row.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                rows.push(Vec::new());
                used = 0;
            }
            piece.push(ch);
            used += w;
        }
        if let Some(row) = rows.last_mut() {
            row.push(Span::styled(piece, span.style));
        }
    }
    rows.into_iter().map(Line::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Color;

    #[test]
    fn highlight_splits_spans_across_ranges() {
        let spans = vec![
            Span::raw("hello "),
            Span::styled("world", Style::new().fg(Color::Red)),
        ];
        let out = highlight(spans, &[(4, 8)], Style::new().bg(Color::Yellow));
        let texts: Vec<_> = out.iter().map(|s| s.content.to_string()).collect();
        assert_eq!(texts, ["hell", "o ", "wo", "rld"]);
        assert_eq!(out[1].style.bg, Some(Color::Yellow));
        assert_eq!(out[2].style, Style::new().fg(Color::Red).bg(Color::Yellow));
        assert_eq!(out[3].style.bg, None);
    }

    #[test]
    fn wrap_cuts_at_width() {
        let rows = wrap_line(Line::from("abcdefghij"), 4);
        let texts: Vec<String> = rows.iter().map(|l| l.to_string()).collect();
        assert_eq!(texts, ["abcd", "efgh", "ij"]);
    }
}
