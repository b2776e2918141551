//! Hot reload for a built service without `develop.watch`: a generated compose override
//! bind-mounts its build context at the container's working directory, builds the
//! Dockerfile's `development` stage when there is one, and runs the reload command of the
//! profile's `reload_command:` or else of its `dev.devtui.reload.command` label. Turning reload on recreates the service with it
//! (`up -d --no-deps SERVICE` with an extra `-f`); off recreates it as the project has it.
//! The service's own reloader (uvicorn `--reload`, nodemon…) then sees every edit through
//! the mount: devtui watches nothing itself.

use std::path::{Path, PathBuf};

use super::{Context, Emit};
use crate::engine::compose::Compose;
use crate::project::model::Service;

/// The label giving the command the service runs with reload on.
pub const COMMAND_LABEL: &str = "dev.devtui.reload.command";
/// The label the override puts on the recreated container, so a later devtui knows it runs
/// with the override (and turns it back when reload is off).
pub const ON_LABEL: &str = "dev.devtui.reload";

/// Whether the Dockerfile has a `FROM … AS development` stage.
pub fn has_development_stage(dockerfile: &str) -> bool {
    dockerfile.lines().any(|l| {
        let words: Vec<String> = l.split_whitespace().map(str::to_ascii_lowercase).collect();
        words.first().is_some_and(|w| w == "from")
            && words.len() >= 4
            && words[words.len() - 2] == "as"
            && words[words.len() - 1] == "development"
    })
}

/// The override for `service`: the context mounted at `workdir`, the development target when
/// `development`, and the reload command: `command` (the profile's) or else the label's.
pub fn override_yaml(
    service: &Service,
    workdir: &str,
    development: bool,
    command: Option<&str>,
) -> Option<String> {
    let build = service.build.as_ref()?;
    let mut s = serde_json::Map::new();
    if development {
        s.insert(
            "build".into(),
            serde_json::json!({ "target": "development" }),
        );
    }
    s.insert(
        "volumes".into(),
        serde_json::json!([{
            "type": "bind",
            "source": build.context,
            "target": workdir,
        }]),
    );
    if let Some(cmd) = command.or(service.labels.get(COMMAND_LABEL).map(String::as_str)) {
        // Compose splits a string command as a shell would (no shell is added).
        s.insert("command".into(), serde_json::Value::String(cmd.to_string()));
    }
    s.insert("labels".into(), serde_json::json!({ ON_LABEL: "override" }));
    let doc = serde_json::json!({ "services": { service.name.clone(): s } });
    // JSON is YAML: compose reads it as an override file.
    serde_json::to_string_pretty(&doc).ok()
}

/// Where the override of `service` is written.
fn override_file(project: &str, service: &str) -> PathBuf {
    let file = super::state_file(project);
    file.with_file_name(format!(
        "{}-{service}.override.json",
        file.file_stem().and_then(|s| s.to_str()).unwrap_or(project)
    ))
}

fn dockerfile(service: &Service) -> Option<String> {
    let build = service.build.as_ref()?;
    let name = build.dockerfile.as_deref().unwrap_or("Dockerfile");
    std::fs::read_to_string(build.context.join(name)).ok()
}

/// The service's container: its id, working directory and whether it runs with the override.
async fn container(ctx: &Context, service: &str) -> Result<Option<(String, bool)>, String> {
    let (backend, _) = ctx
        .target
        .locate(service)
        .await
        .map_err(|e| e.to_string())?;
    let crate::ops::backend::Backend::Container(id) = backend else {
        return Ok(None);
    };
    let docker = ctx.target.engine.get().await.map_err(|e| e.to_string())?;
    let inspect = docker
        .inspect_container(id.as_str(), None)
        .await
        .map_err(|e| e.to_string())?;
    let config = inspect.config.unwrap_or_default();
    let on = config
        .labels
        .as_ref()
        .and_then(|l| l.get(ON_LABEL))
        .is_some();
    Ok(Some((config.working_dir.unwrap_or_default(), on)))
}

/// Recreates `service` with the override (`on`) or as the project has it; `development`
/// builds first (the image of the other stage would otherwise be reused).
async fn recreate(
    compose: &Compose,
    service: &str,
    extra: Option<&Path>,
    build: bool,
) -> Result<(), String> {
    let mut compose = compose.clone();
    if let Some(file) = extra {
        compose.files.push(file.to_path_buf());
    }
    let mut args = vec!["up", "-d", "--no-deps"];
    if build {
        args.push("--build");
    }
    args.push(service);
    let mut tail = Vec::new();
    compose
        .run(&args, |l| tail.push(l.text))
        .await
        .map_err(|e| {
            let last: Vec<&String> = tail.iter().rev().take(3).collect();
            format!(
                "{e} ({})",
                last.into_iter()
                    .rev()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" / ")
            )
        })
}

/// Reload on: recreates `service` with the override unless its container already runs with
/// it.
pub(super) async fn turn_on(ctx: &Context, service: &Service, emit: &Emit) {
    let name = &service.name;
    let started = std::time::Instant::now();
    let workdir = match container(ctx, name).await {
        Ok(Some((_, true))) => {
            emit.line(
                name,
                "reload on: runs with its build context mounted",
                false,
            );
            return;
        }
        Ok(Some((dir, false))) if !dir.is_empty() => dir,
        Ok(Some(_)) => {
            return emit.line(
                name,
                "reload: its image has no working directory (WORKDIR) to mount the build context at",
                true,
            );
        }
        Ok(None) => return emit.line(name, format!("reload: start {name} first"), true),
        Err(e) => return emit.line(name, format!("reload: {e}"), true),
    };
    let development = dockerfile(service).is_some_and(|d| has_development_stage(&d));
    let command = ctx.commands.get(name).map(String::as_str);
    let Some(yaml) = override_yaml(service, &workdir, development, command) else {
        return;
    };
    let file = override_file(&ctx.project.name, name);
    let written = crate::paths::write_atomic(&file, 0o600, |f| {
        std::io::Write::write_all(f, yaml.as_bytes())
    });
    if let Err(e) = written {
        return emit.line(
            name,
            format!("reload: cannot write {}: {e}", file.display()),
            true,
        );
    }
    let context = service
        .build
        .as_ref()
        .map(|b| b.context.display().to_string())
        .unwrap_or_default();
    match recreate(&ctx.target.compose, name, Some(&file), development).await {
        Ok(()) => {
            let command = service
                .labels
                .get(COMMAND_LABEL)
                .map(|c| format!(", command `{c}`"))
                .unwrap_or_default();
            let target = if development {
                ", target development"
            } else {
                ""
            };
            let summary = format!(
                "recreated with {context} mounted at {workdir}{target}{command} in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            emit.line(name, format!("reload on: {summary}"), false);
            emit.send(super::Event::Reloaded {
                service: name.clone(),
                summary,
                ok: true,
            });
        }
        Err(e) => emit.line(name, format!("reload on: recreate failed: {e}"), true),
    }
}

/// Reload off: recreates `service` as the project has it, when it runs with the override.
pub(super) async fn turn_off(ctx: &Context, service: &Service, emit: &Emit) {
    let name = &service.name;
    if !matches!(container(ctx, name).await, Ok(Some((_, true)))) {
        return;
    }
    let development = dockerfile(service).is_some_and(|d| has_development_stage(&d));
    match recreate(&ctx.target.compose, name, None, development).await {
        Ok(()) => emit.line(name, "reload off: recreated as the project has it", false),
        Err(e) => emit.line(name, format!("reload off: recreate failed: {e}"), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_development_stage() {
        assert!(has_development_stage(
            "FROM python:3 AS base\nFROM base as development\nRUN x\n"
        ));
        assert!(!has_development_stage(
            "FROM python:3 AS base\n# AS development\n"
        ));
        assert!(!has_development_stage("FROM development\n"));
    }

    #[test]
    fn the_profiles_command_wins_over_the_label() {
        let mut service = Service {
            name: "api".into(),
            image: None,
            build: Some(crate::project::model::Build {
                context: "/src/api".into(),
                dockerfile: None,
            }),
            has_healthcheck: false,
            depends_on: Vec::new(),
            ports: Vec::new(),
            volumes: Vec::new(),
            profiles: Vec::new(),
            labels: [(COMMAND_LABEL.to_string(), "label --reload".to_string())].into(),
            watch: Vec::new(),
            container_name: None,
        };
        let doc = |yaml: Option<String>| -> serde_json::Value {
            serde_json::from_str(&yaml.expect("built service")).expect("json")
        };
        let by_label = doc(override_yaml(&service, "/app", true, None));
        let api = &by_label["services"]["api"];
        assert_eq!(api["command"], "label --reload");
        assert_eq!(api["build"]["target"], "development");
        assert_eq!(api["volumes"][0]["source"], "/src/api");
        assert_eq!(api["volumes"][0]["target"], "/app");
        let by_profile = doc(override_yaml(
            &service,
            "/app",
            false,
            Some("profile --reload"),
        ));
        assert_eq!(by_profile["services"]["api"]["command"], "profile --reload");
        assert!(by_profile["services"]["api"].get("build").is_none());
        service.labels.clear();
        let neither = doc(override_yaml(&service, "/app", false, None));
        assert!(neither["services"]["api"].get("command").is_none());
    }
}
