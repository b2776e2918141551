//! `devtui down`: stop and remove the stack's containers and networks (and, with
//! `--volumes`, its named volumes) through `docker compose down`.

use std::collections::HashMap;

use bollard::query_parameters::ListContainersOptionsBuilder;

use crate::cli::{DownArgs, ProjectArgs};
use crate::engine::compose::{self, Compose};
use crate::engine::watch::PROJECT_LABEL;
use crate::exit::{self, Failure};
use crate::project;

/// `devtui down [--volumes]`: returns the exit code, or a `Failure`.
pub async fn run(args: &ProjectArgs, down: DownArgs) -> anyhow::Result<i32> {
    let (engine, connected) = super::preflight::engine().await;
    let Some((docker, _)) = connected else {
        return Err(engine.into_failure().into());
    };
    let loc = project::discover(args).map_err(Failure::from)?;
    // Every profile, so services started under a profile go too. When the files no longer
    // parse (or .env is gone), compose finds the project's resources by label instead.
    let (driver, name) = match project::load_at(&loc, &[]).await {
        Ok(p) => {
            let mut d = Compose::for_project(&p);
            d.profiles = vec!["*".into()];
            (d, p.name)
        }
        Err(project::Error::Compose(e)) => {
            return Err(Failure::new(exit::NO_ENGINE, e.to_string()).into());
        }
        Err(_) => {
            let name = project::name_hint(&loc);
            (Compose::by_name(&name), name)
        }
    };
    let mut args = vec!["down", "--remove-orphans"];
    if down.volumes {
        args.push("--volumes");
    }
    driver
        .run(&args, |line| eprintln!("{}", line.text))
        .await
        .map_err(|e| match e {
            compose::Error::Failed { stderr, .. } => Failure::new(
                exit::FAILED,
                format!("docker compose down failed: {stderr}"),
            ),
            other => Failure::new(exit::NO_ENGINE, other.to_string()),
        })?;
    let filters = HashMap::from([("label", vec![format!("{PROJECT_LABEL}={name}")])]);
    let left = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map(|l| l.len())
        .unwrap_or(0);
    if left > 0 {
        return Err(Failure::new(
            exit::FAILED,
            format!(
                "{left} container(s) of project {name} are still there after `docker compose down`"
            ),
        )
        .into());
    }
    eprintln!(
        "devtui: {name} is down{}",
        if down.volumes {
            " (volumes removed)"
        } else {
            ""
        }
    );
    Ok(exit::OK)
}
