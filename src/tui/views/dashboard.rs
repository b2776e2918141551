//! The services table and the selected service's details.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use crate::engine::{ContainerState, Health, PublishedPort, ServiceStatus};
use crate::tui::state::{EngineLink, Focus, ServiceRow, State};
use crate::tui::views::theme::Theme;

pub fn render(state: &State, theme: Theme, table_area: Rect, detail: Rect, frame: &mut Frame) {
    let focused = state.focus == Focus::Services;
    let engine = match &state.engine {
        EngineLink::Connected { api_version } => format!(" engine API {api_version} "),
        EngineLink::Connecting => " connecting… ".to_string(),
        EngineLink::Unreachable { .. } => " engine unreachable ".to_string(),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(focused))
        .title(Span::styled(format!(" {} ", state.project), theme.title()))
        .title_top(Line::from(engine).right_aligned());
    let header = Row::new([
        "", "SERVICE", "STATE", "HEALTH", "PORTS", "CPU", "MEM", "RESTARTS", "UPTIME",
    ])
    .style(theme.title());
    let name_w = state
        .services
        .iter()
        .map(|r| label(state, r).chars().count())
        .max()
        .unwrap_or(7)
        .clamp(7, 24) as u16;
    // Every column but PORTS has a fixed width; PORTS takes the rest.
    let fixed = [1, name_w, 13, 12, 6, 9, 8, 7];
    let spacing = fixed.len() as u16;
    let ports_w = table_area
        .width
        .saturating_sub(2 + spacing + fixed.iter().sum::<u16>());
    let widths = [
        Constraint::Length(1),
        Constraint::Length(name_w),
        Constraint::Length(13),
        Constraint::Length(12),
        Constraint::Fill(1),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(7),
    ];
    let rows = state
        .services
        .iter()
        .enumerate()
        .skip(state.selection.offset)
        .flat_map(|(i, row)| {
            let r = service_row(state, theme, row, usize::from(ports_w));
            let r = if i == state.selection.index {
                r.style(theme.selected())
            } else {
                r
            };
            let subs = state
                .replicas_shown(row)
                .iter()
                .enumerate()
                .map(move |(n, replica)| {
                    replica_row(state, theme, row, n, replica, usize::from(ports_w))
                });
            std::iter::once(r).chain(subs)
        })
        .take(state.table_rows());
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1);
    frame.render_widget(table, table_area);
    details(state, theme, detail, frame);
}

/// The service's name, marked when devtui runs it natively, with its replicas' count when
/// it runs more than one.
fn label(state: &State, row: &ServiceRow) -> String {
    let name = if state.is_native(&row.name) {
        format!("{} (native)", row.name)
    } else if row.replicas.len() > 1 {
        format!("{} ×{}", row.name, row.replicas.len())
    } else {
        row.name.clone()
    };
    // Hot reload on: a mark that reads without colour.
    if state.reloads(&row.name) {
        format!("{name} ⟳")
    } else {
        name
    }
}

/// A sub-row of an expanded service: its replica `#N` (compose's number, else the place).
fn replica_row<'a>(
    state: &State,
    theme: Theme,
    row: &ServiceRow,
    place: usize,
    replica: &'a ServiceStatus,
    ports_w: usize,
) -> Row<'a> {
    let number = replica.replica.map_or(place + 1, |n| n as usize);
    let (cpu, mem) = figures(row.figures(replica), replica.state);
    Row::new(vec![
        Cell::from(""),
        Cell::from(Span::styled(format!("  #{number}"), theme.dim())),
        Cell::from(state_span(theme, replica, None)),
        Cell::from(health_span(theme, replica.health)),
        Cell::from(ports(&replica.ports, ports_w)),
        Cell::from(cpu),
        Cell::from(mem),
        Cell::from(replica.restarts.to_string()),
        Cell::from(crate::tui::format::uptime(replica, state.now)),
    ])
}

fn figures(stats: Option<&crate::engine::stats::Stats>, st: ContainerState) -> (String, String) {
    match (stats, st) {
        (Some(s), ContainerState::Running) => (
            crate::tui::format::cpu(s.cpu_percent),
            crate::tui::format::memory(s.memory_bytes),
        ),
        _ => (String::new(), String::new()),
    }
}

fn service_row<'a>(state: &State, theme: Theme, row: &'a ServiceRow, ports_w: usize) -> Row<'a> {
    let mark = if state.selection.marked.contains(&row.name) {
        "+"
    } else {
        " "
    };
    let Some(status) = &row.status else {
        // Only in the model: dimmed, `s` creates and starts it.
        return Row::new(vec![
            Cell::from(mark),
            Cell::from(Span::styled(label(state, row), theme.dim())),
            Cell::from(Span::styled("· not created", theme.dim())),
            Cell::from(""),
            Cell::from(""),
            Cell::from(""),
            Cell::from(""),
            Cell::from(""),
            Cell::from(""),
        ]);
    };
    let (cpu, mem) = figures(row.total_stats().as_ref(), status.state);
    let (running, total) = row.running_replicas();
    let partly = (total > 1 && running < total).then_some((running, total));
    Row::new(vec![
        Cell::from(mark),
        Cell::from(label(state, row)),
        Cell::from(state_span(theme, status, partly)),
        Cell::from(health_span(theme, status.health)),
        Cell::from(ports(&status.ports, ports_w)),
        Cell::from(cpu),
        Cell::from(mem),
        Cell::from(status.restarts.to_string()),
        Cell::from(crate::tui::format::uptime(status, state.now)),
    ])
}

/// State with a symbol, so it reads without colour; `partly`: replicas running of all, when
/// some are not.
fn state_span(theme: Theme, s: &ServiceStatus, partly: Option<(usize, usize)>) -> Span<'static> {
    let (text, style) = match s.state {
        ContainerState::Running => match partly {
            Some((up, all)) => (format!("● running {up}/{all}"), theme.warn()),
            None => ("● running".to_string(), theme.ok()),
        },
        ContainerState::Restarting => ("↻ restarting".to_string(), theme.warn()),
        ContainerState::Created => ("◌ created".to_string(), theme.dim()),
        ContainerState::Paused => ("‖ paused".to_string(), theme.warn()),
        ContainerState::Exited => match s.exit_code {
            Some(0) | None => ("○ exited".to_string(), theme.dim()),
            Some(code) => (format!("✖ exited ({code})"), theme.error()),
        },
        ContainerState::Dead => ("✖ dead".to_string(), theme.error()),
        ContainerState::Removing => ("… removing".to_string(), theme.dim()),
        ContainerState::Missing => ("· not created".to_string(), theme.dim()),
    };
    Span::styled(text, style)
}

fn health_span(theme: Theme, h: Health) -> Span<'static> {
    match h {
        Health::None => Span::styled("-", theme.dim()),
        Health::Starting => Span::styled("… starting", theme.warn()),
        Health::Healthy => Span::styled("✔ healthy", theme.ok()),
        Health::Unhealthy => Span::styled("✘ unhealthy", theme.error()),
    }
}

/// Published ports as URLs a developer can paste, in `width` columns: the first URL (and how
/// many more), else without its scheme, else the bare port; the port is never cut off.
pub fn ports(ports: &[PublishedPort], width: usize) -> String {
    let mut seen: Vec<&PublishedPort> = Vec::new();
    for p in ports {
        if !seen.iter().any(|s| s.url() == p.url()) {
            seen.push(p);
        }
    }
    let Some(first) = seen.first() else {
        return String::new();
    };
    let more = match seen.len() {
        1 => String::new(),
        n => format!(" +{}", n - 1),
    };
    let url = first.url();
    let without_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    [
        format!("{url}{more}"),
        format!("{without_scheme}{more}"),
        format!(":{}{more}", first.host_port),
    ]
    .into_iter()
    .find(|text| text.chars().count() <= width)
    .unwrap_or_else(|| format!(":{}", first.host_port))
}

/// The selected service's container, image and last health-probe output.
fn details(state: &State, theme: Theme, area: Rect, frame: &mut Frame) {
    if area.height == 0 {
        return;
    }
    let Some(row) = state.selected_service() else {
        return;
    };
    let mut head = vec![Span::styled(format!("▸ {}", row.name), theme.title())];
    let mut probe_line = None;
    if let Some(s) = &row.status {
        if let Some(name) = s.runtime.container_name() {
            head.push(Span::styled(format!("  {name}"), theme.dim()));
        }
        head.push(Span::styled(
            format!("  {}", s.runtime.describe()),
            theme.dim(),
        ));
        if let Some(probe) = s.last_probe_output.as_deref().filter(|p| !p.is_empty()) {
            let style = if s.health == Health::Unhealthy {
                theme.error()
            } else {
                Style::new()
            };
            probe_line = Some(Span::styled(
                format!("probe: {}", probe.replace('\n', " ⏎ ")),
                style,
            ));
        }
    }
    // The last reload stands in for the probe line: it is what just happened to the service.
    if let Some((summary, ok)) = state.reload.get(&row.name).and_then(|r| r.last.as_ref()) {
        let style = if *ok { theme.dim() } else { theme.error() };
        probe_line = Some(Span::styled(format!("reload: {summary}"), style));
    }
    let lines = match probe_line {
        Some(probe) if area.height == 1 => {
            head.push(Span::raw("  "));
            head.push(probe);
            vec![Line::from(head)]
        }
        Some(probe) => vec![Line::from(head), Line::from(probe)],
        None => vec![Line::from(head)],
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures::port;

    #[test]
    fn ports_shorten_but_keep_the_port() {
        let both = [port(5432, 5432), port(8080, 80)];
        assert_eq!(ports(&both, 40), "postgres://localhost:5432 +1");
        assert_eq!(ports(&both, 20), "localhost:5432 +1");
        assert_eq!(ports(&both, 8), ":5432 +1");
        assert_eq!(ports(&both, 3), ":5432");
        assert_eq!(ports(&[], 10), "");
    }
}
