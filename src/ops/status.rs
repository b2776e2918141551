//! `devtui status`: each service's state, health, last probe output, exit code, ports,
//! uptime, image and restarts, as a table or JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::engine::model::{ContainerState, Health, PublishedPort, Runtime, ServiceStatus};
use crate::engine::watch;
use crate::exit::{self, Failure};
use crate::project::{self, Discovery};

/// One service in `status --json`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusEntry {
    pub service: String,
    /// `container`, `native` or `absent`.
    pub runs: &'static str,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    /// A native process's id, while it runs.
    pub pid: Option<u32>,
    pub state: ContainerState,
    pub health: Health,
    pub last_probe_output: Option<String>,
    pub exit_code: Option<i64>,
    pub restarts: u64,
    pub ports: Vec<PublishedPort>,
    pub started_at: Option<String>,
    /// The image, or how the native process runs.
    pub image: String,
    /// Seconds since the container or process started (running ones only).
    pub uptime_seconds: Option<u64>,
    /// `host:port` URLs for the published ports.
    pub urls: Vec<String>,
}

/// The whole `status --json` document.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub project: String,
    pub services: Vec<StatusEntry>,
}

/// `devtui status [--json]`: prints the table or the JSON document; exit 0 unless the engine is unreachable.
pub async fn run(args: &Discovery, json: bool) -> anyhow::Result<i32> {
    let (engine, connected) = super::preflight::engine().await;
    let Some((docker, _)) = connected else {
        return Err(engine.into_failure().into());
    };
    let loc = project::discover(args).map_err(Failure::from)?;
    // The model adds services with no container yet; without it (e.g. no .env yet) the
    // containers alone are shown.
    let model = match project::load_at(&loc, &[]).await {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("devtui: showing containers only: {e}");
            None
        }
    };
    let name = match &model {
        Some(p) => p.name.clone(),
        None => project::name_hint(&loc),
    };
    let mut statuses = watch::snapshot(&docker, &name).await.map_err(|e| {
        Failure::new(
            exit::NO_ENGINE,
            format!("the engine failed to list containers: {e}"),
        )
    })?;
    // Services another devtui runs natively: the engine does not know them.
    if let Some(remote) = crate::supervisor::control::status(&name).await {
        statuses.extend(remote.services.into_iter().map(|mut s| {
            if let (Some(p), Runtime::Native { command, .. }) = (&model, &mut s.runtime) {
                *command = p.secrets.mask(command).into_owned();
            }
            s
        }));
    }
    let report = build_report(&name, model.as_ref(), statuses);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(exit::OK)
}

/// Merges the project's services (in dependency order) with the containers found.
pub fn build_report(
    name: &str,
    model: Option<&project::Project>,
    mut statuses: Vec<ServiceStatus>,
) -> StatusReport {
    let mut ordered = Vec::new();
    if let Some(p) = model {
        for s in &p.all_services {
            let mine: Vec<ServiceStatus> = statuses
                .iter()
                .filter(|st| st.service == s.name)
                .cloned()
                .collect();
            statuses.retain(|st| st.service != s.name);
            if mine.is_empty() {
                if s.enabled_by(&p.profiles) {
                    let image = s.image.clone().unwrap_or_default();
                    ordered.push(ServiceStatus::absent(&s.name, image));
                }
            } else {
                ordered.extend(mine);
            }
        }
    }
    ordered.extend(statuses);
    StatusReport {
        project: name.to_string(),
        services: ordered.into_iter().map(entry).collect(),
    }
}

fn entry(s: ServiceStatus) -> StatusEntry {
    StatusEntry {
        service: s.service.clone(),
        runs: match &s.runtime {
            Runtime::Container { .. } => "container",
            Runtime::Native { .. } => "native",
            Runtime::Absent { .. } => "absent",
        },
        container_id: s.container_id().map(|id| id.0.clone()),
        container_name: s.runtime.container_name().map(str::to_string),
        pid: s.runtime.pid(),
        state: s.state,
        health: s.health,
        last_probe_output: s.last_probe_output.clone(),
        exit_code: s.exit_code,
        restarts: s.restarts,
        ports: s.ports.clone(),
        started_at: s.started_at.clone(),
        image: s.runtime.describe(),
        uptime_seconds: s.started_at.as_deref().and_then(uptime),
        urls: s.ports.iter().map(PublishedPort::url).collect(),
    }
}

fn uptime(started_at: &str) -> Option<u64> {
    let started =
        time::OffsetDateTime::parse(started_at, &time::format_description::well_known::Rfc3339)
            .ok()?;
    let secs = (time::OffsetDateTime::now_utc() - started).whole_seconds();
    u64::try_from(secs).ok()
}

fn human_duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

fn state_name(s: ContainerState) -> &'static str {
    match s {
        ContainerState::Missing => "missing",
        ContainerState::Created => "created",
        ContainerState::Running => "running",
        ContainerState::Restarting => "restarting",
        ContainerState::Paused => "paused",
        ContainerState::Exited => "exited",
        ContainerState::Dead => "dead",
        ContainerState::Removing => "removing",
    }
}

fn health_name(h: Health) -> &'static str {
    match h {
        Health::None => "-",
        Health::Starting => "starting",
        Health::Healthy => "healthy",
        Health::Unhealthy => "unhealthy",
    }
}

/// The status table: one row per service, then the probe output and exit codes worth seeing.
pub fn table(report: &StatusReport) -> String {
    let headers = [
        "SERVICE", "STATE", "HEALTH", "UPTIME", "RESTARTS", "URLS", "IMAGE",
    ];
    let rows: Vec<[String; 7]> = report
        .services
        .iter()
        .map(|e| {
            let state = match e.exit_code {
                Some(code) => format!("{} ({code})", state_name(e.state)),
                None => state_name(e.state).to_string(),
            };
            [
                e.service.clone(),
                state,
                health_name(e.health).to_string(),
                e.uptime_seconds
                    .map(human_duration)
                    .unwrap_or_else(|| "-".into()),
                e.restarts.to_string(),
                if e.urls.is_empty() {
                    "-".into()
                } else {
                    e.urls.join(" ")
                },
                e.image.clone(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let text: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(&mut out, &headers.map(String::from));
    for row in &rows {
        line(&mut out, row);
    }
    if report.services.is_empty() {
        let _ = writeln!(out, "(no containers for project {})", report.project);
    }
    for e in &report.services {
        if e.health == Health::Unhealthy
            && let Some(probe) = &e.last_probe_output
        {
            let _ = writeln!(out, "{}: last health probe: {probe}", e.service);
        }
    }
    out
}
