//! `devtui scale SERVICE N`: compose's scaling (`up -d --no-deps --scale`), with the one clash
//! compose leaves to the engine explained first: replicas cannot share a fixed host port.

use crate::engine::{ContainerState, client, watch};
use crate::exit::{self, Failure};
use crate::project::{self, Discovery};

/// Runs `service` as `replicas` containers; prints the replicas running afterwards.
pub async fn run(discovery: &Discovery, service: &str, replicas: u32) -> anyhow::Result<i32> {
    let project = project::load(discovery, &[]).await.map_err(Failure::from)?;
    let Some(svc) = project.service(service) else {
        return Err(Failure::usage(project.unknown_service(service)).into());
    };
    if replicas > 1 {
        let fixed: Vec<String> = svc
            .ports
            .iter()
            .filter_map(|p| p.published.map(|host| format!("{host}:{}", p.target)))
            .collect();
        if !fixed.is_empty() {
            return Err(Failure::usage(format!(
                "{service} publishes fixed host port(s) {}: {replicas} replicas would all ask \
                 for the same host port and only one can have it; publish a range \
                 (\"8000-8003:8000\") or the container port alone (\"8000\") in the compose \
                 file, then scale",
                fixed.join(", ")
            ))
            .into());
        }
    }
    if svc.container_name.is_some() && replicas > 1 {
        return Err(Failure::usage(format!(
            "{service} sets container_name, which only one container can have; remove it to \
             scale"
        ))
        .into());
    }
    let scale = format!("{service}={replicas}");
    crate::ops::compose_for(&project)
        .run(
            &[
                "up",
                "-d",
                "--no-deps",
                "--no-recreate",
                "--scale",
                &scale,
                service,
            ],
            |line| eprintln!("{}", line.text),
        )
        .await
        .map_err(|e| Failure::new(exit::FAILED, format!("scaling {service}: {e}")))?;
    let docker = client::connect()
        .await
        .map_err(|e| Failure::new(exit::NO_ENGINE, e.to_string()))?;
    let running = watch::snapshot(&docker, &project.name)
        .await
        .map_err(|e| Failure::new(exit::NO_ENGINE, e.to_string()))?
        .into_iter()
        .filter(|s| s.service == service && s.state == ContainerState::Running)
        .count();
    println!("{service}: {running} of {replicas} replicas running");
    Ok(if running == replicas as usize {
        exit::OK
    } else {
        exit::FAILED
    })
}
