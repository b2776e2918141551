//! `devtui doctor`: the preflight checks of `up`, run alone, as a checklist (or JSON).

use serde::Serialize;

use super::preflight::{self, Check};
use crate::exit;
use crate::project::{self, Discovery, Location};

/// The `doctor --json` document.
#[derive(Debug, Serialize)]
pub struct DoctorReport {
    pub ok: bool,
    pub project: Option<String>,
    pub checks: Vec<Check>,
}

/// `devtui doctor [--json]`: prints the checklist; exit 0, or the code of the first failed check.
pub async fn run(args: &Discovery, json: bool) -> anyhow::Result<i32> {
    let report = checks(args).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for c in &report.checks {
            println!(
                "{} {:<8} {}",
                if c.ok { "✓" } else { "✗" },
                c.name,
                c.detail
            );
            if let Some(fix) = &c.fix {
                println!("  {:<8} fix: {fix}", "");
            }
        }
    }
    Ok(report
        .checks
        .iter()
        .find(|c| !c.ok)
        .map(|c| c.code)
        .unwrap_or(exit::OK))
}

/// Runs every check without changing anything (a missing `.env` is rendered to a temp file
/// so compose can still read the project).
pub async fn checks(args: &Discovery) -> DoctorReport {
    let mut checks = Vec::new();
    let ((engine, connected), compose) =
        tokio::join!(preflight::engine(), preflight::compose_version());
    checks.push(engine);
    checks.push(compose);
    let loc = match project::discover(args) {
        Ok(loc) => loc,
        Err(e) => {
            checks.push(failed("config", e.exit_code(), e.to_string()));
            return finish(None, checks);
        }
    };
    checks.push(preflight::env_file(&loc, false));
    let mut scratch = None;
    let mut read_loc: Location = loc.clone();
    if loc.env_path.symlink_metadata().is_err()
        && let Some(example) = &loc.env_example
        && let Ok(text) = std::fs::read_to_string(example)
        && let Ok(dir) = tempfile::tempdir()
    {
        let path = dir.path().join(".env");
        if project::env::write_new_secret_file(&path, &project::env::render(&text)).is_ok() {
            read_loc.env_path = path;
        }
        scratch = Some(dir);
    }
    let project = match project::load_at(&read_loc, &[]).await {
        Ok(p) => {
            checks.push(Check {
                name: "config".into(),
                ok: true,
                detail: format!(
                    "project {} from {} ({} services)",
                    p.name,
                    p.files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    p.services.len()
                ),
                fix: None,
                code: exit::OK,
            });
            Some(p)
        }
        Err(e) => {
            checks.push(failed("config", e.exit_code(), e.to_string()));
            None
        }
    };
    drop(scratch);
    if let (Some((docker, endpoint)), Some(p)) = (&connected, &project) {
        let selection: Vec<_> = p.services.iter().collect();
        checks.extend(preflight::ports(docker, endpoint, &p.name, &selection).await);
        checks.push(preflight::disk(docker, endpoint, &p.working_dir).await);
    }
    finish(project.map(|p| p.name), checks)
}

fn failed(name: &str, code: i32, detail: String) -> Check {
    Check {
        name: name.into(),
        ok: false,
        detail,
        fix: None,
        code,
    }
}

fn finish(project: Option<String>, checks: Vec<Check>) -> DoctorReport {
    DoctorReport {
        ok: checks.iter().all(|c| c.ok),
        project,
        checks,
    }
}
