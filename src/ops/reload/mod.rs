//! Hot reload, toggled per service at runtime: `devtui reload SERVICE on|off`, the TUI's key
//! and `:reload`.
//!
//! The toggles are kept per project in devtui's state directory (`reload/PROJECT.json`); a
//! service without a saved toggle takes its devtui profile's `reload:` default, else off. The
//! TUI owns the watchers (`run`): it watches that file too, so a toggle from the CLI reaches a
//! running TUI the same way as its own key does (both only write the file).
//!
//! What a reload does depends on where the service runs (`ops::backend`):
//! - a native service restarts when a file of its tree changes (`x-devtui.native.NAME.watch`,
//!   else its working directory);
//! - a container with `develop.watch` gets its rules applied by devtui through the Engine
//!   API (sync = archive upload, restart, exec) and compose (rebuild = build +
//!   `up -d --no-deps`), for that service only;
//! - a built container without `develop.watch` is recreated with its build context mounted
//!   (`overlay`), and recreated as it was when reload goes off.
//!
//! Why not `docker compose watch`: it cannot toggle one service while running (its `w` key
//! toggles the whole project), it starts and restarts services it was not asked to
//! (docker/compose#11438, #12256), and its output would be a second process's text. Applying
//! the rules here keeps the toggle per service, every reload in the service's log pane and row,
//! and the latency in our hands.

mod apply;
pub mod changes;
pub mod overlay;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::Watcher;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::backend::Target;
use crate::exit::{self, Failure};
use crate::project::{Discovery, Project};

/// Where the toggles of `project` are kept.
pub fn state_file(project: &str) -> PathBuf {
    let safe: String = project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    crate::paths::state_dir()
        .join("reload")
        .join(format!("{safe}.json"))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    #[serde(default)]
    services: BTreeMap<String, bool>,
}

/// The toggles saved for `project` (none when there is no file yet).
pub fn saved(project: &str) -> Result<BTreeMap<String, bool>, String> {
    let file = state_file(project);
    match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice::<Saved>(&bytes)
            .map(|s| s.services)
            .map_err(|e| format!("{}: {e}", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(format!("cannot read {}: {e}", file.display())),
    }
}

/// Saves `service`'s toggle for `project` (atomically: a running TUI reads the file when it
/// changes).
pub fn save(project: &str, service: &str, on: bool) -> Result<(), String> {
    let file = state_file(project);
    let mut services = saved(project).unwrap_or_default();
    services.insert(service.to_string(), on);
    let dir = file.parent().unwrap_or(&file);
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = serde_json::to_vec_pretty(&Saved { services }).map_err(|e| e.to_string())?;
    crate::paths::write_atomic(&file, 0o600, |f| std::io::Write::write_all(f, &json))
        .map(drop)
        .map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// Reload on or off for each of `services`: the saved toggle, else the profile's default,
/// else off.
pub fn effective(
    services: &[String],
    saved: &BTreeMap<String, bool>,
    defaults: &BTreeMap<String, bool>,
) -> BTreeMap<String, bool> {
    services
        .iter()
        .map(|s| {
            let on = saved.get(s).or(defaults.get(s)).copied().unwrap_or(false);
            (s.clone(), on)
        })
        .collect()
}

/// What reloading reports, for the TUI's rows and log panes.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Reload on or off per service, now (at start and after every toggle).
    States(BTreeMap<String, bool>),
    /// A line for the service's log pane (what changed, what ran, errors).
    Line {
        service: String,
        text: String,
        error: bool,
    },
    /// A reload finished: one line for the service's row.
    Reloaded {
        service: String,
        summary: String,
        ok: bool,
    },
}

/// What the watchers work with: where services run, the project model, the profile's
/// defaults and reload commands.
#[derive(Clone)]
pub struct Context {
    pub target: Target,
    pub project: Project,
    pub defaults: BTreeMap<String, bool>,
    /// The profile's `reload_command:` per service (over the service's label).
    pub commands: BTreeMap<String, String>,
}

impl Context {
    /// The compose service of `name` when its reload is the override's (`overlay`): built,
    /// without `develop.watch`, not run natively here.
    pub(crate) fn overlay_service(&self, name: &str) -> Option<&crate::project::model::Service> {
        if self.target.natives.find(name).is_some() {
            return None;
        }
        self.project
            .service(name)
            .filter(|s| s.watch.is_empty() && s.build.is_some())
    }

    /// The services reload can be toggled for: the enabled compose services and the native
    /// ones.
    pub fn services(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .project
            .services
            .iter()
            .map(|s| s.name.clone())
            .chain(
                self.target
                    .natives
                    .all()
                    .iter()
                    .map(|n| n.service.name.clone()),
            )
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Sends reload events, wrapped for the receiver.
#[derive(Clone)]
pub(crate) struct Emit(Arc<dyn Fn(Event) + Send + Sync>);

impl Emit {
    fn send(&self, event: Event) {
        (self.0)(event)
    }

    fn line(&self, service: &str, text: impl Into<String>, error: bool) {
        self.send(Event::Line {
            service: service.to_string(),
            text: text.into(),
            error,
        });
    }
}

/// Runs the watchers of the services whose reload is on, following the toggles file, until
/// `cancel` fires. Events go to `tx` as `wrap` makes them, in order; a handful per reload, so
/// they queue unbounded rather than block a watcher on a receiver busy with a log flood.
pub async fn run<M, F>(ctx: Context, cancel: CancellationToken, tx: mpsc::Sender<M>, wrap: F)
where
    F: Fn(Event) -> M + Send + Sync + 'static,
    M: Send + 'static,
{
    let (queue, mut queued) = mpsc::unbounded_channel::<Event>();
    tokio::spawn(async move {
        while let Some(e) = queued.recv().await {
            if tx.send(wrap(e)).await.is_err() {
                return;
            }
        }
    });
    let emit = Emit(Arc::new(move |e| {
        let _ = queue.send(e);
    }));
    let file = state_file(&ctx.project.name);
    let (changed_tx, mut changed) = mpsc::unbounded_channel();
    let watched = file.clone();
    let dir = file.parent().map(PathBuf::from).unwrap_or_default();
    let _ = std::fs::create_dir_all(&dir);
    let watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        if e.is_ok_and(|e| e.paths.iter().any(|p| p == &watched)) {
            let _ = changed_tx.send(());
        }
    })
    .and_then(|mut w| {
        w.watch(&dir, notify::RecursiveMode::NonRecursive)
            .map(|()| w)
    });
    let _watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the reload toggles; CLI toggles need a restart");
            None
        }
    };
    let ctx = Arc::new(ctx);
    let services = ctx.services();
    // A service `devtui mode` moves between native and container needs the other side's
    // reload: its watcher is planned again.
    let mut natives = ctx.target.natives.subscribe();
    let native_names = |set: &[Arc<crate::supervisor::observe::Native>]| -> BTreeSet<String> {
        set.iter().map(|n| n.service.name.clone()).collect()
    };
    let mut native_now = native_names(&natives.borrow_and_update());
    let mut running: BTreeMap<String, CancellationToken> = BTreeMap::new();
    let mut last: Option<BTreeMap<String, bool>> = None;
    loop {
        let saved = saved(&ctx.project.name).unwrap_or_else(|e| {
            emit.line("devtui", format!("reload toggles: {e}"), true);
            BTreeMap::new()
        });
        let now = effective(&services, &saved, &ctx.defaults);
        if last.as_ref() != Some(&now) {
            for (service, on) in &now {
                let was = last.as_ref().and_then(|l| l.get(service)).copied();
                if *on && !running.contains_key(service) {
                    let token = cancel.child_token();
                    running.insert(service.clone(), token.clone());
                    tokio::spawn(apply::watch_service(
                        ctx.clone(),
                        service.clone(),
                        token,
                        emit.clone(),
                    ));
                }
                // Off, at the first look or just now: a container still running with the
                // override (reload turned off while no TUI ran) goes back as it was.
                if !*on && was != Some(false) {
                    if let Some(token) = running.remove(service) {
                        token.cancel();
                        emit.line(service, "reload off", false);
                    }
                    if ctx.overlay_service(service).is_some() {
                        let (ctx, emit, name) = (ctx.clone(), emit.clone(), service.clone());
                        tokio::spawn(async move {
                            if let Some(model) = ctx.overlay_service(&name) {
                                overlay::turn_off(&ctx, model, &emit).await;
                            }
                        });
                    }
                }
            }
            emit.send(Event::States(now.clone()));
            last = Some(now);
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            Some(()) = changed.recv() => {
                // The writer renames a whole file in: one read after the burst settles.
                tokio::time::sleep(Duration::from_millis(20)).await;
                while changed.try_recv().is_ok() {}
            }
            Ok(()) = natives.changed() => {
                let now = native_names(&natives.borrow_and_update());
                let moved: Vec<String> = running
                    .keys()
                    .filter(|s| native_now.contains(*s) != now.contains(*s))
                    .cloned()
                    .collect();
                native_now = now;
                for service in moved {
                    if let Some(token) = running.remove(&service) {
                        token.cancel();
                    }
                    let token = cancel.child_token();
                    running.insert(service.clone(), token.clone());
                    emit.line(&service, "reload: it moved; watching for its new side", false);
                    tokio::spawn(apply::watch_service(
                        ctx.clone(),
                        service,
                        token,
                        emit.clone(),
                    ));
                }
            }
        }
    }
}

/// What `devtui reload` needs: the project, and the devtui profile for its defaults.
#[derive(Debug, Clone)]
pub struct ReloadOptions {
    /// `SERVICE` and `on`/`off`; `None` lists the states.
    pub set: Option<(String, bool)>,
    pub profile: Option<String>,
    pub default_profile: Option<String>,
    pub keys: crate::keymap::Keymap,
    pub json: bool,
}

/// One service's state as `devtui reload` lists it.
#[derive(Debug, Serialize)]
struct Listed {
    service: String,
    reload: bool,
    /// `saved` (toggled), `profile` (its `reload:`), or `default` (off).
    from: &'static str,
    /// What a reload does: `restart` (native), the `develop.watch` actions, or `none`.
    how: String,
}

/// `devtui reload [SERVICE on|off] [--json]`.
pub async fn cli(discovery: &Discovery, opts: ReloadOptions) -> anyhow::Result<i32> {
    let project = crate::project::load(discovery, &[])
        .await
        .map_err(Failure::from)?;
    let loc = project.location();
    let profile = crate::ops::run::chosen_profile(
        &loc,
        opts.profile.as_deref(),
        opts.default_profile.as_deref(),
        &opts.keys,
    )
    .map_err(|e| Failure::usage(e.to_string()))?;
    let defaults = match &profile {
        Some(p) => {
            // The commands are the TUI's to use; a mistake in them is said here too.
            p.reload_commands(&project)
                .map_err(|e| Failure::usage(e.to_string()))?;
            p.reload_defaults(&project)
                .map_err(|e| Failure::usage(e.to_string()))?
        }
        None => BTreeMap::new(),
    };
    let natives: Vec<String> = profile
        .as_ref()
        .map(|p| p.natives(&project))
        .transpose()
        .map_err(|e| Failure::usage(e.to_string()))?
        .unwrap_or_default()
        .into_iter()
        .map(|n| n.name)
        .collect();
    let mut services: Vec<String> = project
        .services
        .iter()
        .map(|s| s.name.clone())
        .chain(natives.iter().cloned())
        .collect();
    services.sort();
    services.dedup();
    if let Some((service, on)) = &opts.set {
        if !services.contains(service) {
            return Err(Failure::usage(format!(
                "unknown service {service:?} in project {}; services: {}",
                project.name,
                services.join(", ")
            ))
            .into());
        }
        save(&project.name, service, *on).map_err(|e| Failure::new(exit::FAILED, e))?;
        if !opts.json {
            println!(
                "reload {} for {service} (saved for project {}; a running devtui TUI applies it now)",
                if *on { "on" } else { "off" },
                project.name
            );
            return Ok(exit::OK);
        }
    }
    let saved = saved(&project.name).map_err(|e| Failure::new(exit::FAILED, e))?;
    let states = effective(&services, &saved, &defaults);
    let listed: Vec<Listed> = states
        .into_iter()
        .filter(|(s, _)| opts.set.as_ref().is_none_or(|(one, _)| one == s))
        .map(|(service, reload)| {
            let from = if saved.contains_key(&service) {
                "saved"
            } else if defaults.contains_key(&service) {
                "profile"
            } else {
                "default"
            };
            let how = if natives.contains(&service) {
                "restart".to_string()
            } else {
                project
                    .service(&service)
                    .map(|s| {
                        let mut actions: Vec<&str> =
                            s.watch.iter().map(|w| w.action.as_str()).collect();
                        actions.dedup();
                        if actions.is_empty() && s.build.is_some() {
                            "recreate with its build context mounted".to_string()
                        } else if actions.is_empty() {
                            "none (no develop.watch, no build)".to_string()
                        } else {
                            actions.join(", ")
                        }
                    })
                    .unwrap_or_default()
            };
            Listed {
                service,
                reload,
                from,
                how,
            }
        })
        .collect();
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&listed)?);
    } else {
        let w = listed
            .iter()
            .map(|l| l.service.len())
            .max()
            .unwrap_or(7)
            .max(7);
        println!("{:w$}  RELOAD  FROM     ON CHANGE", "SERVICE");
        for l in &listed {
            let state = if l.reload { "on" } else { "off" };
            println!("{:w$}  {state:6}  {:7}  {}", l.service, l.from, l.how);
        }
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_toggles_win_over_the_profile() {
        let services = vec!["a".to_string(), "b".into(), "c".into()];
        let saved = BTreeMap::from([("a".to_string(), false)]);
        let defaults = BTreeMap::from([("a".to_string(), true), ("b".to_string(), true)]);
        let got = effective(&services, &saved, &defaults);
        assert_eq!(
            got,
            BTreeMap::from([("a".into(), false), ("b".into(), true), ("c".into(), false)])
        );
    }
}
