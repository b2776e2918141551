//! Runs `update`'s effects as tasks that report back by message. Where a service runs is
//! resolved through `ops::backend::Target` for every effect, as the CLI commands do.

use std::collections::HashMap;
use std::io::Write;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::engine::logs::LogStart;
use crate::engine::stats::Stats;
use crate::engine::{ContainerId, ContainerState, ServiceStatus};
use crate::ops::actions::Action;
use crate::ops::backend::{Backend, NoShell, Target, shell_container};
use crate::ops::backup::Context;
use crate::ops::reload;
use crate::ops::run::{self, Place};
use crate::project::Project;
use crate::supervisor::control;
use crate::tui::msg::{Effect, Msg};
use crate::tui::replica_logs;
use crate::tui::state::State;

/// How early a stats sample may come and still count as due (the engine's once-a-second
/// period is not exact).
const STATS_JITTER: std::time::Duration = std::time::Duration::from_millis(250);

/// Which kind of stream a cancellation token ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Logs,
    Stats,
    /// Keyed by container id: a scaled service's other replicas.
    ReplicaStats,
}

/// Runs effects as tasks and keeps the cancellation token of every stream.
pub struct Runner {
    pub target: Target,
    tx: mpsc::Sender<Msg>,
    /// Stats samples, read by the loop only on the clock tick that shows them.
    stats_tx: mpsc::Sender<Msg>,
    pub root: CancellationToken,
    streams: HashMap<(Kind, String), CancellationToken>,
    /// The task that follows the native services another devtui runs for the project.
    elsewhere: Option<(String, tokio::task::JoinHandle<()>)>,
    /// The watchers of this devtui's own native services, by service (a mode switch adds
    /// and removes them).
    native_watchers: HashMap<
        String,
        (
            std::sync::Arc<crate::supervisor::observe::Native>,
            CancellationToken,
        ),
    >,
    /// What a mode switch needs, once the project model is loaded.
    switcher: Option<crate::ops::mode::Switcher>,
    /// What backups, restore and reset work with, once the project model is loaded (or why
    /// it cannot be had: a bad profile). Work asked for before then waits for it.
    data: watch::Sender<Option<Result<Context, String>>>,
    /// The devtui profile in force (a name or a path): its `backups:` section applies.
    pub profile: Option<String>,
    /// Where host commands of the profile run: the project's directory.
    pub working_dir: std::path::PathBuf,
    /// Ends hot reload's watchers.
    reload: Option<CancellationToken>,
}

/// How long data work waits for the project model before it gives up.
const MODEL_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

impl Runner {
    pub fn new(
        target: Target,
        tx: mpsc::Sender<Msg>,
        stats_tx: mpsc::Sender<Msg>,
        root: CancellationToken,
    ) -> Runner {
        Runner {
            target,
            tx,
            stats_tx,
            root,
            streams: HashMap::new(),
            elsewhere: None,
            native_watchers: HashMap::new(),
            switcher: None,
            data: watch::channel(None).0,
            profile: None,
            working_dir: std::path::PathBuf::from("."),
            reload: None,
        }
    }

    /// The project model arrived: backups get their context, with the `backups:` section of
    /// the profile the TUI was given (`up -P`, DEVTUI_PROFILE).
    pub fn set_project(&mut self, project: Project) {
        let profile = self
            .profile
            .as_deref()
            .and_then(|name| crate::project::profile::load(&project.location(), name, None).ok());
        self.switcher = Some(crate::ops::mode::Switcher {
            target: self.target.clone(),
            project: project.clone(),
            profile,
        });
        self.start_reload(&project);
        let context = Context::new(self.target.clone(), project, self.profile.as_deref());
        self.data.send_replace(Some(context));
    }

    /// Starts hot reload's watchers for the project (once): the TUI owns them.
    fn start_reload(&mut self, project: &Project) {
        if let Some(old) = self.reload.take() {
            old.cancel();
        }
        let settings = match &self.profile {
            Some(name) => crate::project::profile::load(&project.location(), name, None)
                .and_then(|p| Ok((p.reload_defaults(project)?, p.reload_commands(project)?)))
                .map_err(|e| e.to_string()),
            None => Ok(Default::default()),
        };
        let (defaults, commands) = settings.unwrap_or_else(|e| {
            let _ = self.tx.try_send(Msg::Reload(reload::Event::Line {
                service: "devtui".into(),
                text: format!("reload settings of the profile: {e}"),
                error: true,
            }));
            Default::default()
        });
        let ctx = reload::Context {
            target: self.target.clone(),
            project: project.clone(),
            defaults,
            commands,
        };
        let token = self.root.child_token();
        self.reload = Some(token.clone());
        tokio::spawn(reload::run(ctx, token, self.tx.clone(), Msg::Reload));
    }

    /// The context for data work, once the project model has arrived.
    fn data_context(&self) -> impl Future<Output = Result<Context, String>> + Send + 'static {
        let mut rx = self.data.subscribe();
        async move {
            let wait = rx.wait_for(Option::is_some);
            match tokio::time::timeout(MODEL_WAIT, wait).await {
                Ok(Ok(data)) => data.clone().unwrap_or_else(|| Err("no project".into())),
                _ => Err("the project model did not load (see `devtui doctor`)".into()),
            }
        }
    }

    /// The service's status as the TUI shows it, and where it runs.
    fn resolve(&self, state: &State, service: &str) -> (Backend, Option<ServiceStatus>) {
        let status = state.service(service).and_then(|r| r.status.clone());
        (self.target.resolve(service, status.as_ref()), status)
    }

    /// A new stream's token; the service's previous stream of that kind ends.
    fn stream_token(&mut self, kind: Kind, service: &str) -> CancellationToken {
        let token = self.root.child_token();
        if let Some(old) = self
            .streams
            .insert((kind, service.to_string()), token.clone())
        {
            old.cancel();
        }
        token
    }

    fn stop(&mut self, kind: Kind, service: String) {
        if let Some(token) = self.streams.remove(&(kind, service)) {
            token.cancel();
        }
    }

    /// Streams `backend`'s samples as `wrap` makes them, at most one per `stats_interval`.
    fn follow_stats<F>(
        &self,
        state: &State,
        backend: Backend,
        service: String,
        token: CancellationToken,
        wrap: F,
    ) where
        F: Fn(Stats) -> Msg + Send + Sync + 'static,
    {
        let (target, tx) = (self.target.clone(), self.stats_tx.clone());
        let interval = state.options.stats_interval;
        tokio::spawn(async move {
            if interval <= crate::config::DEFAULT_STATS_INTERVAL {
                target.follow_stats(backend, service, token, tx, wrap).await;
                return;
            }
            // A longer `stats_interval`: the samples in between are dropped here.
            let (every, mut samples) = mpsc::channel(1);
            tokio::spawn(async move {
                target
                    .follow_stats(backend, service, token, every, |s| s)
                    .await;
            });
            let mut last: Option<tokio::time::Instant> = None;
            while let Some(stats) = samples.recv().await {
                // The engine's period jitters: a sample a little early still counts.
                let due = last.is_none_or(|t| t.elapsed() + STATS_JITTER >= interval);
                if due {
                    last = Some(tokio::time::Instant::now());
                    if tx.send(wrap(stats)).await.is_err() {
                        return;
                    }
                }
            }
        });
    }

    /// Follows this devtui's own native services as the set is now (a watcher each, the
    /// watchers of those gone ended) and returns their statuses.
    pub fn watch_natives(&mut self) -> Vec<ServiceStatus> {
        let now = self.target.natives.all();
        self.native_watchers.retain(|service, (native, token)| {
            let kept = now.iter().any(|n| std::sync::Arc::ptr_eq(n, native));
            if !kept {
                tracing::debug!(%service, "native watcher ended");
                token.cancel();
            }
            kept
        });
        for native in &now {
            if self.native_watchers.contains_key(&native.service.name) {
                continue;
            }
            let token = self.root.child_token();
            crate::supervisor::observe::watch(
                native.clone(),
                token.clone(),
                self.tx.clone(),
                Msg::Native,
            );
            self.native_watchers
                .insert(native.service.name.clone(), (native.clone(), token));
        }
        now.iter()
            .map(crate::supervisor::lifecycle::status)
            .collect()
    }

    /// Follows the native services another devtui runs for the project, unless this one
    /// runs its own (one devtui per project does) or it already does. Called again on engine
    /// updates: an `up` in another terminal starts containers before its native services.
    pub fn watch_elsewhere(&mut self) {
        if !self.target.natives.is_empty() {
            return;
        }
        if let Some((project, task)) = &self.elsewhere {
            if project == &self.target.project && !task.is_finished() {
                return;
            }
            task.abort();
        }
        let task = tokio::spawn(control::watch(
            self.target.project.clone(),
            self.root.child_token(),
            self.tx.clone(),
            Msg::NativesElsewhere,
        ));
        self.elsewhere = Some((self.target.project.clone(), task));
    }

    /// Starts the work of `effect`, with `state` as it is now (what is known of the service).
    pub fn run(&mut self, effect: Effect, state: &State) {
        match effect {
            Effect::FollowLogs {
                service,
                tail,
                since,
            } => {
                let (backend, _) = self.resolve(state, &service);
                let replicas = replicas(state, &service);
                let token = self.stream_token(Kind::Logs, &service);
                let (target, tx) = (self.target.clone(), self.tx.clone());
                let name = service.clone();
                let wrap = move |event| Msg::Logs {
                    service: name.clone(),
                    event,
                };
                tokio::spawn(async move {
                    let start = LogStart {
                        tail,
                        since,
                        follow: true,
                    };
                    if replicas.len() > 1 {
                        replica_logs::follow(target, service, replicas, start, token, tx, wrap)
                            .await;
                    } else {
                        target
                            .follow_logs(backend, service, start, token, tx, wrap)
                            .await;
                    }
                });
            }
            Effect::StopLogs { service } => self.stop(Kind::Logs, service),
            Effect::JoinLogs {
                service,
                number,
                container,
            } => {
                let Some(stream) = self.streams.get(&(Kind::Logs, service.clone())) else {
                    return;
                };
                let token = stream.child_token();
                let (target, tx) = (self.target.clone(), self.tx.clone());
                let name = service.clone();
                let wrap = move |event| Msg::Logs {
                    service: name.clone(),
                    event,
                };
                tokio::spawn(replica_logs::join(
                    target, service, number, container, token, tx, wrap,
                ));
            }
            Effect::FollowStats { service } => {
                let (backend, _) = self.resolve(state, &service);
                let token = self.stream_token(Kind::Stats, &service);
                let name = service.clone();
                let wrap = move |stats| Msg::Stats {
                    service: name.clone(),
                    stats,
                };
                self.follow_stats(state, backend, service, token, wrap);
            }
            Effect::StopStats { service } => self.stop(Kind::Stats, service),
            Effect::FollowReplicaStats { service, container } => {
                let token = self.stream_token(Kind::ReplicaStats, container.as_str());
                let backend = Backend::Container(container.clone());
                let wrap = move |stats| Msg::ReplicaStats {
                    container: container.clone(),
                    stats,
                };
                self.follow_stats(state, backend, service, token, wrap);
            }
            Effect::StopReplicaStats { container } => {
                self.stop(Kind::ReplicaStats, container.0);
            }
            Effect::Mode { service, to } => {
                let tx = self.tx.clone();
                let own = !self.target.natives.is_empty();
                let project = self.target.project.clone();
                let switcher = self.switcher.clone();
                tokio::spawn(async move {
                    // The devtui that runs the project's native services switches it, so
                    // that it supervises the process; else this one does.
                    let peer = match own {
                        true => None,
                        false => crate::ops::mode::through_peer(&project, &service, to).await,
                    };
                    let result = match (peer, switcher) {
                        (Some(result), _) => result,
                        (None, Some(switcher)) => switcher.switch(&service, to).await,
                        (None, None) => Err("the project model is not loaded yet".into()),
                    };
                    let _ = tx.send(Msg::ModeDone { service, result }).await;
                });
            }
            Effect::Action { service, action } => {
                let (backend, status) = self.resolve(state, &service);
                let (target, tx) = (self.target.clone(), self.tx.clone());
                let replicas = replicas(state, &service);
                if replicas.len() > 1 && Target::acts_on_each_replica(action) {
                    tokio::spawn(async move {
                        let result = target.perform_each(&service, action, replicas).await;
                        action_done(&tx, service, action, result).await;
                    });
                    return;
                }
                tokio::spawn(async move {
                    let progress = tx.clone();
                    let svc = service.clone();
                    let result = target
                        .perform(&backend, &service, action, status.as_ref(), move |line| {
                            // Progress is best effort: a full channel drops a line.
                            let _ = progress.try_send(Msg::ActionOutput {
                                service: svc.clone(),
                                line,
                            });
                        })
                        .await
                        .map_err(|e| e.to_string());
                    action_done(&tx, service, action, result).await;
                });
            }
            Effect::SaveLogs { path, contents } => {
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    let result = save(&path, &contents)
                        .map(|()| path)
                        .map_err(|e| e.to_string());
                    let _ = tx.blocking_send(Msg::Saved(result));
                });
            }
            Effect::ListBackups { service } => {
                let (ctx, tx) = (self.data_context(), self.tx.clone());
                tokio::spawn(async move {
                    let result = match ctx.await {
                        Ok(ctx) => {
                            let name = service.clone();
                            // A directory listing and a few small manifests.
                            tokio::task::spawn_blocking(move || {
                                ctx.store.list(Some(&name)).map_err(|e| e.to_string())
                            })
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()))
                        }
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Msg::BackupsListed { service, result }).await;
                });
            }
            Effect::PlanData(op) => {
                let (backend, _) = self.resolve(state, op.service());
                let (ctx, tx) = (self.data_context(), self.tx.clone());
                tokio::spawn(async move {
                    let (op, result) = match ctx.await {
                        Ok(ctx) => crate::tui::data::plan(&ctx, op, backend).await,
                        Err(e) => (op, Err(e)),
                    };
                    let _ = tx.send(Msg::DataPlanned { op, result }).await;
                });
            }
            Effect::Data(op) => {
                let (backend, _) = self.resolve(state, op.service());
                let (ctx, tx) = (self.data_context(), self.tx.clone());
                tokio::spawn(async move {
                    let result = match ctx.await {
                        Ok(ctx) => crate::tui::data::run(&ctx, &op, backend, tx.clone()).await,
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Msg::DataDone { op, result }).await;
                });
            }
            Effect::RunCommand(cmd) => {
                let place = match &cmd.service {
                    None => Place::Host(self.working_dir.clone()),
                    Some(service) => {
                        let (backend, status) = self.resolve(state, service);
                        Place::Service {
                            name: service.clone(),
                            backend,
                            status: Box::new(status),
                        }
                    }
                };
                let (target, tx) = (self.target.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let name = cmd.name.clone();
                    let lines = tx.clone();
                    let mut dropped = 0usize;
                    let result = run::run_lines(&cmd, &place, &target, |stream, line| {
                        // Output is best effort: a full channel (a flood) drops a line, and
                        // the end says how many went.
                        let msg = Msg::CommandOutput {
                            name: name.clone(),
                            stream,
                            line,
                        };
                        if lines.try_send(msg).is_err() {
                            dropped += 1;
                        }
                    })
                    .await
                    .map_err(|e| e.to_string());
                    if dropped > 0 {
                        let _ = tx
                            .send(Msg::CommandOutput {
                                name: name.clone(),
                                stream: run::Output::Stderr,
                                line: format!("devtui: {dropped} lines of output were dropped"),
                            })
                            .await;
                    }
                    let _ = tx.send(Msg::CommandDone { name, result }).await;
                });
            }
            Effect::SetReload { service, on } => {
                let (project, tx) = (self.target.project.clone(), self.tx.clone());
                tokio::task::spawn_blocking(move || {
                    if let Err(text) = reload::save(&project, &service, on) {
                        let event = reload::Event::Line {
                            service,
                            text,
                            error: true,
                        };
                        let _ = tx.blocking_send(Msg::Reload(event));
                    }
                });
            }
            // The loop handles these itself: they need the terminal or end the loop.
            Effect::Exec { .. } | Effect::Quit => {}
        }
    }

    /// Where a shell for `service` opens: its running container, or why there is none.
    pub fn shell_container(&self, state: &State, service: &str) -> Result<ContainerId, String> {
        shell_container_for(&self.target, state, service)
    }
}

/// Where a shell for `service` opens, as the TUI knows the service: its running container, or
/// a sentence saying why there is none.
pub fn shell_container_for(
    target: &Target,
    state: &State,
    service: &str,
) -> Result<ContainerId, String> {
    let status = state.service(service).and_then(|r| r.status.as_ref());
    let backend = target.resolve(service, status);
    shell_container(&backend, status).map_err(|why| match why {
        NoShell::Native => format!("{service} runs natively: no container to open a shell in"),
        NoShell::NotRunning(state) => format!(
            "cannot open a shell: {service} is {}; start it with s",
            describe(state)
        ),
    })
}

fn describe(state: ContainerState) -> &'static str {
    match state {
        ContainerState::Missing => "not created",
        ContainerState::Exited => "exited",
        ContainerState::Created => "created, not started",
        ContainerState::Paused => "paused",
        ContainerState::Dead => "dead",
        ContainerState::Removing => "being removed",
        ContainerState::Restarting => "restarting",
        ContainerState::Running => "running",
    }
}

async fn action_done(
    tx: &mpsc::Sender<Msg>,
    service: String,
    action: Action,
    result: Result<String, String>,
) {
    let _ = tx
        .send(Msg::ActionDone {
            service,
            action,
            result,
        })
        .await;
}

/// Writes saved log lines whole or not at all, readable by the user only (they may hold
/// anything a container printed).
fn save(path: &str, contents: &str) -> std::io::Result<()> {
    crate::paths::write_atomic(std::path::Path::new(path), 0o600, |f| {
        f.write_all(contents.as_bytes())
    })
    .map(drop)
}

/// The containers of a scaled service, with compose's numbers (else their place), as the
/// dashboard shows them; empty for a native service.
fn replicas(state: &State, service: &str) -> Vec<(u32, ContainerId)> {
    if state.is_native(service) {
        return Vec::new();
    }
    let Some(row) = state.service(service) else {
        return Vec::new();
    };
    row.numbered_containers()
}
