//! One service's watcher: what a change does where the service runs, and the guard that keeps
//! a service writing into its own tree from restarting forever.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::changes::{self, Filter};
use super::{Context, Emit, Event};
use crate::engine::{ContainerId, Health};
use crate::ops::actions::Action;
use crate::ops::backend::Backend;
use crate::project::model::WatchRule;
use crate::supervisor::observe::{self, Native};

/// The loop guard of a native service, beyond ignoring what it writes while it restarts: a
/// service that writes into its own tree once it runs would restart forever, each change
/// arriving right after the last restart. `GUARD_RELOADS` such reloads in a row, each within
/// `GUARD_GAP` of the previous one's end, pause its watcher for `GUARD_PAUSE`. A developer
/// who saves now and then never trips it; one saving in a burst at most waits once.
const GUARD_RELOADS: usize = 5;
const GUARD_GAP: Duration = Duration::from_secs(2);
const GUARD_PAUSE: Duration = Duration::from_secs(30);
/// How long a reload waits for the service to be healthy again before it says so.
const HEALTHY_WAIT: Duration = Duration::from_secs(120);
/// Changed files named in a reload's line; the rest are counted.
const NAMED_FILES: usize = 3;

/// What a change does for one service.
enum Plan {
    /// A native process of this devtui: restart it.
    Native(Arc<Native>, Box<Filter>),
    /// A container with `develop.watch`: its rules, each with the files it takes.
    Rules(Vec<(WatchRule, Filter)>),
}

impl Plan {
    fn filters(&self) -> Vec<Filter> {
        match self {
            Plan::Native(_, f) => vec![(**f).clone()],
            Plan::Rules(rules) => rules.iter().map(|(_, f)| f.clone()).collect(),
        }
    }
}

/// Watches `service` until `cancel` fires, reloading it on changes.
pub(super) async fn watch_service(
    ctx: Arc<Context>,
    service: String,
    cancel: CancellationToken,
    emit: Emit,
) {
    // Another devtui runs it natively: its files and its restarts are that devtui's.
    if ctx.target.natives.find(&service).is_none()
        && let Ok((Backend::Peer(peer), _)) = ctx.target.locate(&service).await
    {
        let pid = peer
            .devtui_pid
            .map(|p| format!(" (pid {p})"))
            .unwrap_or_default();
        emit.line(
            &service,
            format!(
                "reload: {service} runs natively in another devtui{pid}: its TUI owns the reload (this one does not watch it)"
            ),
            true,
        );
        return;
    }
    if let Some(model) = ctx.overlay_service(&service) {
        // The service reloads itself through the mount: nothing for devtui to watch.
        return super::overlay::turn_on(&ctx, model, &emit).await;
    }
    let Some(plan) = plan(&ctx, &service, &emit) else {
        return;
    };
    let filters = plan.filters();
    let (_watcher, mut changes) = match changes::watch(&filters) {
        Ok(w) => w,
        Err(e) => {
            emit.line(&service, format!("reload: cannot watch files: {e}"), true);
            return;
        }
    };
    let roots: Vec<String> = filters.iter().map(|f| shown(&ctx, f.root())).collect();
    let how = match &plan {
        Plan::Native(..) => "restart".to_string(),
        Plan::Rules(rules) => {
            let mut a: Vec<&str> = rules.iter().map(|(r, _)| r.action.as_str()).collect();
            a.dedup();
            a.join(", ")
        }
    };
    emit.line(
        &service,
        format!("reload on: watching {} ({how})", roots.join(", ")),
        false,
    );
    if let Plan::Rules(rules) = &plan {
        initial_sync(&ctx, &service, rules, &emit).await;
    }
    // Reloads in a row that followed the previous one's end within GUARD_GAP, and when the
    // last ended.
    let mut quick = 0usize;
    let mut last_end: Option<Instant> = None;
    loop {
        let batch = tokio::select! {
            _ = cancel.cancelled() => return,
            batch = changes.batch(&filters) => match batch {
                Some(b) => b,
                None => return,
            },
        };
        let now = Instant::now();
        let native = matches!(plan, Plan::Native(..));
        let soon = last_end.is_some_and(|t| now.duration_since(t) < GUARD_GAP + changes::DEBOUNCE);
        quick = if native && soon { quick + 1 } else { 0 };
        if quick >= GUARD_RELOADS {
            emit.line(
                &service,
                format!(
                    "reload paused for {}s: {quick} reloads in a row, each changed within {}s of the last restart (does {service} write into its watched tree? last change: {})",
                    GUARD_PAUSE.as_secs(),
                    GUARD_GAP.as_secs(),
                    files(&ctx, &batch)
                ),
                true,
            );
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(GUARD_PAUSE) => {}
            }
            let dropped = changes.discard(&filters);
            quick = 0;
            last_end = None;
            emit.line(
                &service,
                format!("reload resumed ({dropped} changes while paused were dropped)"),
                false,
            );
            continue;
        }
        let mut own = 0;
        let (action, result) = match &plan {
            Plan::Native(native, _) => {
                let result = restart_native(&ctx, native).await;
                // What the process wrote while it restarted is its own doing, not an edit.
                tokio::time::sleep(changes::DEBOUNCE).await;
                own = changes.discard(&filters);
                ("restart".to_string(), result)
            }
            Plan::Rules(rules) => apply_rules(&ctx, &service, rules, &batch, &emit).await,
        };
        let took = now.elapsed();
        last_end = Some(Instant::now());
        let (summary, ok) = match result {
            Ok(state) => (
                format!(
                    "{} → {action} → {state} in {:.1}s",
                    files(&ctx, &batch),
                    took.as_secs_f64()
                ),
                true,
            ),
            Err(e) => (
                format!("{} → {action} failed: {e}", files(&ctx, &batch)),
                false,
            ),
        };
        emit.line(&service, format!("reload: {summary}"), !ok);
        if own > 0 {
            emit.line(
                &service,
                format!("reload: ignored {own} changes made while {service} restarted"),
                false,
            );
        }
        emit.send(Event::Reloaded {
            service: service.clone(),
            summary,
            ok,
        });
    }
}

/// What reload does for `service`, or `None` (said in its log) when it can do nothing.
fn plan(ctx: &Context, service: &str, emit: &Emit) -> Option<Plan> {
    if let Some(native) = ctx.target.natives.find(service) {
        let root = native.service.watch_root();
        let contexts: Vec<PathBuf> = ctx
            .project
            .service(service)
            .and_then(|s| s.build.as_ref())
            .map(|b| vec![b.context.clone()])
            .unwrap_or_default();
        return Some(Plan::Native(
            native.clone(),
            Box::new(Filter::new(root, &contexts, &[], &[])),
        ));
    }
    let Some(model) = ctx.project.service(service) else {
        emit.line(service, "reload: not a service of this project", true);
        return None;
    };
    if model.watch.is_empty() {
        emit.line(
            service,
            format!(
                "reload on, but {service} has no develop.watch rules and no build context: nothing to watch"
            ),
            true,
        );
        return None;
    }
    let contexts: Vec<PathBuf> = model.build.iter().map(|b| b.context.clone()).collect();
    let mut rules = Vec::new();
    for rule in &model.watch {
        let known = ["sync", "rebuild", "restart", "sync+restart", "sync+exec"];
        if !known.contains(&rule.action.as_str()) {
            emit.line(
                service,
                format!(
                    "reload: develop.watch action {:?} is not known: skipped",
                    rule.action
                ),
                true,
            );
            continue;
        }
        if rule.action.starts_with("sync") && rule.target.is_none() {
            emit.line(
                service,
                format!(
                    "reload: the {} rule on {} has no target: skipped",
                    rule.action,
                    rule.path.display()
                ),
                true,
            );
            continue;
        }
        let filter = Filter::new(&rule.path, &contexts, &rule.ignore, &rule.include);
        rules.push((rule.clone(), filter));
    }
    (!rules.is_empty()).then_some(Plan::Rules(rules))
}

/// Restarts a native service and waits until it is healthy (running, without a health URL).
async fn restart_native(ctx: &Context, native: &Arc<Native>) -> Result<String, String> {
    let backend = Backend::Native(native.clone());
    let name = &native.service.name;
    ctx.target
        .perform(&backend, name, Action::Restart, None, |_| {})
        .await
        .map_err(|e| e.to_string())?;
    if native.service.healthcheck.is_none() {
        return Ok("running".into());
    }
    let pid = observe::pid(&native.supervisor.status());
    let mut status = observe::subscribe(native);
    let healthy = status.wait_for(|s| s.runtime.pid() == pid && s.health == Health::Healthy);
    match tokio::time::timeout(HEALTHY_WAIT, healthy).await {
        Ok(Ok(_)) => Ok("healthy".into()),
        Ok(Err(_)) => Err(format!("{name}'s supervisor ended")),
        Err(_) => Err(format!("not healthy within {}s", HEALTHY_WAIT.as_secs())),
    }
}

/// The sync, restart, exec and rebuild the changed files call for, in compose's order:
/// a rebuild makes the rest moot; else every sync, then one restart, then the execs.
async fn apply_rules(
    ctx: &Context,
    service: &str,
    rules: &[(WatchRule, Filter)],
    batch: &BTreeSet<PathBuf>,
    emit: &Emit,
) -> (String, Result<String, String>) {
    // Each file goes to the first rule that takes it, as compose does.
    let mut taken: BTreeMap<usize, Vec<PathBuf>> = BTreeMap::new();
    for path in batch {
        if let Some(i) = rules.iter().position(|(_, f)| f.wants(path)) {
            taken.entry(i).or_default().push(path.clone());
        }
    }
    let actions: Vec<&str> = taken.keys().map(|&i| rules[i].0.action.as_str()).collect();
    if actions.contains(&"rebuild") {
        return ("rebuild".into(), rebuild(ctx, service, emit).await);
    }
    let result = async {
        let (docker, id) = container(ctx, service).await?;
        for (&i, files) in &taken {
            let rule = &rules[i].0;
            if rule.action.starts_with("sync") {
                sync(&docker, &id, rule, files).await?;
            }
        }
        let restart = actions
            .iter()
            .any(|a| *a == "restart" || *a == "sync+restart");
        if restart {
            let backend = Backend::Container(id.clone());
            ctx.target
                .perform(&backend, service, Action::Restart, None, |_| {})
                .await
                .map_err(|e| e.to_string())?;
        }
        for &i in taken.keys() {
            let rule = &rules[i].0;
            if rule.action == "sync+exec" && !rule.exec.is_empty() {
                exec(&docker, &id, service, &rule.exec, emit).await?;
            }
        }
        if restart {
            healthy(&docker, &id).await
        } else {
            Ok("synced".to_string())
        }
    }
    .await;
    let mut shown: Vec<&str> = Vec::new();
    for a in actions {
        if !shown.contains(&a) {
            shown.push(a);
        }
    }
    (shown.join(", "), result)
}

/// The service's running container, through the resolver.
async fn container(ctx: &Context, service: &str) -> Result<(Docker, ContainerId), String> {
    let (backend, status) = ctx
        .target
        .locate(service)
        .await
        .map_err(|e| e.to_string())?;
    match backend {
        Backend::Container(id) if status.is_some_and(|s| s.state.is_up()) => {
            let docker = ctx.target.engine.get().await.map_err(|e| e.to_string())?;
            Ok((docker, id))
        }
        Backend::Container(_) | Backend::Absent => {
            Err(format!("{service} is not running: start it first"))
        }
        Backend::Native(_) | Backend::Peer(_) => Err(format!(
            "{service} runs natively now: its develop.watch rules do not apply"
        )),
    }
}

/// Where a host file goes in the container under `rule`.
fn container_path(rule: &WatchRule, path: &Path) -> Option<String> {
    let target = rule.target.as_deref()?;
    let rel = path.strip_prefix(&rule.path).ok()?;
    let mut out = PathBuf::from(target);
    if !rel.as_os_str().is_empty() {
        out.push(rel);
    }
    Some(out.to_string_lossy().into_owned())
}

/// Copies `files` into the container at their places under the rule's target (one archive
/// upload), and deletes there those gone from the host.
async fn sync(
    docker: &Docker,
    id: &ContainerId,
    rule: &WatchRule,
    files: &[PathBuf],
) -> Result<(), String> {
    let mut present = Vec::new();
    let mut gone = Vec::new();
    for f in files {
        let Some(dest) = container_path(rule, f) else {
            continue;
        };
        if f.is_file() {
            present.push((f.clone(), dest.trim_start_matches('/').to_string()));
        } else if !f.exists() {
            gone.push(dest);
        }
    }
    if !present.is_empty() {
        let (tx, rx) = tokio::sync::mpsc::channel(crate::ops::backup::CHANNEL_CHUNKS);
        let builder = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let mut tar = tar::Builder::new(crate::ops::backup::ChannelWriter::new(tx));
            for (host, name) in &present {
                tar.append_path_with_name(host, name)?;
            }
            tar.into_inner()?.flush()
        });
        crate::ops::backup::load::upload_tar(docker, id, "/".into(), rx, builder, &rule.path)
            .await
            .map_err(|e| format!("sync: {e}"))?;
    }
    if !gone.is_empty() {
        let mut cmd = vec!["rm".to_string(), "-rf".into(), "--".into()];
        cmd.extend(gone);
        crate::engine::exec::stream(docker, id, cmd, Vec::new(), |_, _| {})
            .await
            .map_err(|e| format!("sync (delete): {e}"))?;
    }
    Ok(())
}

/// `sync+exec`'s command in the container, its output in the service's log.
async fn exec(
    docker: &Docker,
    id: &ContainerId,
    service: &str,
    cmd: &[String],
    emit: &Emit,
) -> Result<(), String> {
    let mut out = Vec::new();
    let code = crate::engine::exec::stream(docker, id, cmd.to_vec(), Vec::new(), |_, b| {
        out.extend_from_slice(b)
    })
    .await
    .map_err(|e| format!("exec: {e}"))?;
    for line in String::from_utf8_lossy(&out).lines() {
        emit.line(service, format!("reload exec: {line}"), false);
    }
    match code {
        Some(0) | None => Ok(()),
        Some(c) => Err(format!("`{}` exited with {c}", cmd.join(" "))),
    }
}

/// `rebuild`: compose builds the service's image and recreates its container, only it.
async fn rebuild(ctx: &Context, service: &str, emit: &Emit) -> Result<String, String> {
    let compose = &ctx.target.compose;
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut keep = |l: crate::engine::compose::Line| {
        if tail.len() == 5 {
            tail.pop_front();
        }
        tail.push_back(l.text);
    };
    let built = compose.build(&[service.to_string()], &mut keep).await;
    if let Err(e) = built {
        for line in &tail {
            emit.line(service, format!("reload build: {line}"), true);
        }
        return Err(e.to_string());
    }
    compose
        .run(&["up", "-d", "--no-deps", service], |_| {})
        .await
        .map_err(|e| e.to_string())?;
    let (docker, id) = container(ctx, service).await?;
    healthy(&docker, &id).await
}

/// Waits until the container is healthy (running, without a healthcheck), from the engine's
/// events.
async fn healthy(docker: &Docker, id: &ContainerId) -> Result<String, String> {
    let filters = std::collections::HashMap::from([
        ("container", vec![id.as_str().to_string()]),
        (
            "event",
            vec!["health_status".to_string(), "die".to_string()],
        ),
    ]);
    // Subscribed before the look, so a change between the two is not missed.
    let mut events = docker.events(Some(EventsOptionsBuilder::new().filters(&filters).build()));
    let inspect = docker
        .inspect_container(id.as_str(), None)
        .await
        .map_err(|e| e.to_string())?;
    let state = inspect.state.unwrap_or_default();
    if state.running != Some(true) {
        return Err("the container is not running".into());
    }
    let Some(health) = state.health.and_then(|h| h.status) else {
        return Ok("running".into());
    };
    if health.to_string() == "healthy" {
        return Ok("healthy".into());
    }
    let wait = async {
        while let Some(event) = events.next().await {
            let action = event.map_err(|e| e.to_string())?.action.unwrap_or_default();
            if action == "die" {
                return Err("the container exited".to_string());
            }
            if action.ends_with(": healthy") {
                return Ok("healthy".to_string());
            }
        }
        Err("the engine's events ended".to_string())
    };
    tokio::time::timeout(HEALTHY_WAIT, wait)
        .await
        .unwrap_or_else(|_| Err(format!("not healthy within {}s", HEALTHY_WAIT.as_secs())))
}

/// Syncs each `initial_sync` rule's whole tree once, as watching starts.
async fn initial_sync(ctx: &Context, service: &str, rules: &[(WatchRule, Filter)], emit: &Emit) {
    for (rule, filter) in rules {
        if !(rule.initial_sync && rule.action.starts_with("sync")) {
            continue;
        }
        let files: Vec<PathBuf> = if rule.path.is_dir() {
            ignore::WalkBuilder::new(&rule.path)
                .standard_filters(false)
                .build()
                .flatten()
                .map(|e| e.into_path())
                .filter(|p| filter.wants(p))
                .collect()
        } else if rule.path.is_file() {
            vec![rule.path.clone()]
        } else {
            // Nothing to copy: a missing source must not delete the container's file.
            emit.line(
                service,
                format!(
                    "reload: {} does not exist: nothing to sync yet",
                    shown(ctx, &rule.path)
                ),
                true,
            );
            continue;
        };
        let result = match container(ctx, service).await {
            Ok((docker, id)) => sync(&docker, &id, rule, &files).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => emit.line(
                service,
                format!(
                    "reload: initial sync of {} ({} file{})",
                    shown(ctx, &rule.path),
                    files.len(),
                    if files.len() == 1 { "" } else { "s" }
                ),
                false,
            ),
            Err(e) => emit.line(service, format!("reload: initial sync failed: {e}"), true),
        }
    }
}

/// A path as the user knows it: relative to the project's directory when under it.
fn shown(ctx: &Context, path: &Path) -> String {
    path.strip_prefix(&ctx.project.working_dir)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The changed files: the first few by name, then how many more.
fn files(ctx: &Context, batch: &BTreeSet<PathBuf>) -> String {
    let names: Vec<String> = batch
        .iter()
        .take(NAMED_FILES)
        .map(|p| shown(ctx, p))
        .collect();
    let more = batch.len().saturating_sub(NAMED_FILES);
    let noun = if batch.len() == 1 { "file" } else { "files" };
    if more > 0 {
        format!(
            "{} {noun} changed ({} +{more})",
            batch.len(),
            names.join(", ")
        )
    } else {
        format!("{} {noun} changed ({})", batch.len(), names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_land_under_the_target() {
        let rule = WatchRule {
            action: "sync".into(),
            path: "/p/src".into(),
            target: Some("/app/src".into()),
            ignore: vec![],
            include: vec![],
            initial_sync: false,
            exec: vec![],
        };
        assert_eq!(
            container_path(&rule, Path::new("/p/src/a/b.py")).as_deref(),
            Some("/app/src/a/b.py")
        );
        assert_eq!(container_path(&rule, Path::new("/q/x")), None);
        let file = WatchRule {
            path: "/p/rules.yaml".into(),
            target: Some("/etc/rules.yaml".into()),
            ..rule
        };
        assert_eq!(
            container_path(&file, Path::new("/p/rules.yaml")).as_deref(),
            Some("/etc/rules.yaml")
        );
    }
}
