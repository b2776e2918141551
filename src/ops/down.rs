//! `devtui down`: stop and remove the stack's containers and networks (and, with
//! `--volumes`, its named volumes) through `docker compose down`.

use crate::engine::compose::{self, Compose};
use crate::engine::watch;
use crate::exit::{self, Failure};
use crate::project::{self, Discovery};
use crate::supervisor::{Control, control};

/// What `down` removes besides containers and networks.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// Also the named volumes (deletes data).
    pub volumes: bool,
}

/// `devtui down [--volumes]`: returns the exit code, or a `Failure`.
pub async fn run(args: &Discovery, down: DownOptions) -> anyhow::Result<i32> {
    let (engine, connected) = super::preflight::engine().await;
    let Some((docker, _)) = connected else {
        return Err(engine.into_failure().into());
    };
    let loc = project::discover(args).map_err(Failure::from)?;
    // Every profile, so services started under a profile go too. When the files no longer
    // parse (or .env is gone), compose finds the project's resources by label instead.
    let (driver, name) = match project::load_at(&loc, &[]).await {
        Ok(p) => {
            let mut d = crate::ops::compose_for(&p);
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
    // Native services would lose what they depend on: their devtui stops them first (and
    // stays open, showing them stopped).
    if let Some(remote) = control::status(&name).await {
        for native in &remote.services {
            match control::act(&name, &native.service, Control::Stop).await {
                Some(Ok(message)) => {
                    eprintln!(
                        "devtui: {message} (native, in the devtui with pid {})",
                        remote.pid
                    )
                }
                Some(Err(e)) => {
                    return Err(Failure::new(
                        exit::FAILED,
                        format!("cannot stop {} (native): {e}", native.service),
                    )
                    .into());
                }
                None => {}
            }
        }
    }
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
    let left = watch::container_ids(&docker, &name)
        .await
        .map_err(|e| {
            Failure::new(
                exit::NO_ENGINE,
                format!("cannot list the containers of {name} after `docker compose down`: {e}"),
            )
        })?
        .len();
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
