//! The backups view: one service's backups (id, age, size, kind, label), the keys that act
//! on them, and the progress of the data work running.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::ops::backup::{human_age, human_bytes};
use crate::tui::state::{BackupsView, DataJob, State};
use crate::tui::views::theme::Theme;

/// The progress line of data work: `⟳ backup postgres: 120 MB · 45 MB/s`.
pub fn progress(job: &DataJob) -> String {
    let mut text = format!("⟳ {} {}", job.op.verb(), job.op.service());
    if job.bytes > 0 {
        text.push_str(&format!(
            ": {} · {}/s",
            human_bytes(job.bytes),
            human_bytes(job.per_sec)
        ));
    } else if let Some(step) = &job.step {
        text.push_str(&format!(": {step}"));
    }
    text
}

pub fn render(state: &State, view: &BackupsView, theme: Theme, area: Rect, frame: &mut Frame) {
    let rows = view.entries.as_ref().map_or(1, |e| e.len().max(1));
    let width = area.width.min(90);
    let height = (rows as u16 + 6).min(area.height.saturating_sub(2)).max(7);
    let rect = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + area.height.saturating_sub(height) / 2,
        width,
        height,
    );
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(Span::styled(
            format!(" backups of {} (esc closes) ", view.service),
            theme.title(),
        ));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let mut lines: Vec<Line> = Vec::new();
    lines.push(Line::from(Span::styled(
        format!(
            " {:<8}  {:>5}  {:>8}  {:<8}  {}",
            "ID", "AGE", "SIZE", "KIND", "LABEL"
        ),
        theme.dim(),
    )));
    // Rows that fit between the header and the two footer lines.
    let room = usize::from(inner.height.saturating_sub(3));
    match (&view.entries, &view.error) {
        (_, Some(e)) => lines.push(Line::from(Span::styled(format!(" ✘ {e}"), theme.error()))),
        (None, _) => lines.push(Line::raw(" loading…")),
        (Some(entries), _) if entries.is_empty() => {
            lines.push(Line::raw(" no backups yet: n makes one"));
        }
        (Some(entries), _) => {
            let first = view.selected.saturating_sub(room.saturating_sub(1));
            for (i, e) in entries.iter().enumerate().skip(first).take(room) {
                let text = format!(
                    " {:<8}  {:>5}  {:>8}  {:<8}  {}",
                    e.short_id(),
                    human_age((state.now - e.created).whole_seconds()),
                    human_bytes(e.manifest.size),
                    e.manifest.kind.name(),
                    e.manifest.label.as_deref().unwrap_or("")
                );
                let style = if i == view.selected {
                    theme.selected()
                } else {
                    ratatui::style::Style::default()
                };
                lines.push(Line::from(Span::styled(text, style)));
            }
        }
    }
    let body = Rect::new(
        inner.x,
        inner.y,
        inner.width,
        inner.height.saturating_sub(2),
    );
    frame.render_widget(Paragraph::new(lines), body);
    let footer = Rect::new(
        inner.x,
        inner.y + inner.height.saturating_sub(2),
        inner.width,
        2,
    );
    let status = match &state.backups.job {
        Some(job) => Line::from(Span::styled(format!(" {}", progress(job)), theme.ok())),
        None => Line::raw(""),
    };
    let keys = Line::from(vec![
        Span::styled(" n", theme.title()),
        Span::raw(" back up now · "),
        Span::styled("enter", theme.title()),
        Span::raw(" restore · "),
        Span::styled("d", theme.title()),
        Span::raw(" delete · "),
        Span::styled("X", theme.title()),
        Span::raw(" reset · "),
        Span::styled("j/k", theme.title()),
        Span::raw(" select"),
    ]);
    frame.render_widget(Paragraph::new(vec![status, keys]), footer);
}
