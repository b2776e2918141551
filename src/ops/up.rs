//! `devtui up`: preflight, build, start in dependency order (through `docker compose`), then
//! wait, driven by engine events, until every started service is healthy or running. A
//! service that exits or turns unhealthy fails the command at once.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use tokio_util::sync::CancellationToken;

use super::preflight::{self, Check};
use crate::engine::compose;
use crate::engine::model::{ContainerId, ContainerState, EngineUpdate, Health, ServiceStatus};
use crate::engine::{logs, watch};
use crate::exit::{self, Failure};
use crate::project::native::NativeService;
use crate::project::{self, DependsCondition, Discovery, Project, Service};
use crate::supervisor::set::NativeSet;

/// How many log lines a failure shows.
const FAILURE_LOG_LINES: usize = 20;
/// Redraw period of the live progress on a terminal (elapsed times move).
const REDRAW: Duration = Duration::from_millis(100);
/// How long a service without a healthcheck must stay running to count as up: one that
/// crashes right after it starts fails `up` instead of being reported up.
const SETTLE: Duration = Duration::from_secs(1);

/// How long services get to be healthy when neither `--timeout` nor the profile says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// What `up` starts and how.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Compose profiles to enable.
    pub compose_profiles: Vec<String>,
    /// A devtui profile (a name in the project's profile directory, or a file path).
    pub devtui_profile: Option<String>,
    /// The profile to use when `devtui_profile` is not given and the project has it (the
    /// config file's `profile`).
    pub default_profile: Option<String>,
    /// How long every service gets to be healthy (`None`: the profile's `timeout`, else
    /// `DEFAULT_TIMEOUT`).
    pub timeout: Option<Duration>,
    /// Services to start (none: all the active profiles enable).
    pub services: Vec<String>,
    /// The TUI's keys in force: the profile's command keys are checked against them.
    pub keys: crate::keymap::Keymap,
}

/// A stack `up` brought up: the project, and the native services this devtui now runs
/// (they live as long as it does; `shutdown` stops them).
pub struct Stack {
    pub project: Project,
    /// Shared with the TUI and the control socket: `devtui mode` changes it.
    pub natives: NativeSet,
    /// The devtui profile in force (a name or a path), for the TUI that follows.
    pub profile: Option<String>,
    /// The profile's `tui:` (`Some(false)`: no TUI, as `--no-tui`).
    pub tui: Option<bool>,
    /// Answers other devtui commands about the native services while it lives.
    control: Option<crate::supervisor::control::Server>,
}

impl Stack {
    /// Runs the native services in the foreground (their output on stdout) until a signal;
    /// returns 128 + the signal. Nothing to run: returns at once with 0.
    pub async fn foreground(&self) -> anyhow::Result<i32> {
        if self.natives.is_empty() {
            return Ok(exit::OK);
        }
        crate::supervisor::lifecycle::foreground(&self.natives.all(), &self.project.secrets).await
    }

    /// Stops answering other devtui commands, then stops the native services.
    pub async fn shutdown(self) {
        drop(self.control);
        crate::supervisor::lifecycle::stop_all(&self.natives.all()).await;
    }
}

/// `devtui up`: returns the running stack, or a `Failure` carrying the code and the message.
///
/// The devtui profile shapes what starts: its compose files replace the discovered ones
/// (unless `-f` named them), its compose profiles add to `--profile`, its `services` are the
/// default when no SERVICE is named. A profile whose services all run natively needs no
/// engine and no compose (`run_native_only`).
pub async fn run(args: &Discovery, up: UpOptions) -> anyhow::Result<Stack> {
    let started = Instant::now();
    let mut loc = project::discover(args).map_err(Failure::from)?;
    let chosen = up
        .devtui_profile
        .clone()
        .or_else(|| default_profile(&loc, up.default_profile.as_deref()?));
    let profile = match chosen.as_deref() {
        Some(name) => {
            Some(project::profile::load(&loc, name, Some(&up.keys)).map_err(profile_failure)?)
        }
        None => None,
    };
    if let Some(p) = &profile
        && loc.origin != project::Origin::Explicit
        && let Some(files) = p.compose_files(&loc.working_dir).map_err(profile_failure)?
    {
        loc.files = files;
    }
    let timeout = up
        .timeout
        .or_else(|| profile.as_ref()?.timeout.map(Duration::from_secs))
        .unwrap_or(DEFAULT_TIMEOUT);
    if let Some(p) = &profile
        && p.native_only()
        && up.compose_profiles.is_empty()
        && up.services.iter().all(|s| p.native_names().contains(s))
    {
        return run_native_only(loc, p, chosen.clone(), &up.services, timeout, started).await;
    }
    let ((engine, connected), compose_check) =
        tokio::join!(preflight::engine(), preflight::compose_version());
    let Some((docker, endpoint)) = connected else {
        let mut failure = engine.into_failure();
        if let Some(hint) = without_docker_hint(&loc) {
            failure.message.push('\n');
            failure.message.push_str(&hint);
        }
        return Err(failure.into());
    };
    fail_on(compose_check)?;
    ensure_env(&loc)?;
    let mut project = project::load_at(&loc, &up.compose_profiles)
        .await
        .map_err(Failure::from)?;
    let (natives, wanted) = match &profile {
        Some(p) => {
            let extra = p.compose_profiles(&project).map_err(profile_failure)?;
            project.enable_profiles(&extra);
            let natives = p.natives(&project).map_err(profile_failure)?;
            let wanted = match up.services.is_empty() {
                true => p.services(&project).map_err(profile_failure)?,
                false => None,
            };
            (natives, wanted.unwrap_or_else(|| up.services.clone()))
        }
        None => (Vec::new(), up.services.clone()),
    };
    let natives = with_saved_modes(&project, profile.as_ref(), natives);
    let mut selection = project.selection(&wanted).map_err(Failure::from)?;
    // Native services asked for by name, or all of the profile's when no name is given.
    let natives: Vec<NativeService> = natives
        .into_iter()
        .filter(|n| wanted.is_empty() || selection.iter().any(|s| s.name == n.name))
        .collect();
    let is_native = |name: &str| natives.iter().any(|n| n.name == name);
    // Their compose services' ports are checked too: the native process will bind them.
    let port_owners: Vec<&Service> = selection.clone();
    selection.retain(|s| !is_native(&s.name));
    if selection.is_empty() && natives.is_empty() {
        return Err(Failure::usage(format!(
            "no services to start in project {} (are they all behind a profile? use --profile)",
            project.name
        ))
        .into());
    }
    // Before anything is touched: a second devtui for the same project stops here.
    let control = if natives.is_empty() {
        None
    } else {
        Some(crate::supervisor::control::claim(&project.name)?)
    };
    let (ports, disk) = tokio::join!(
        preflight::ports(&docker, &endpoint, &project.name, &port_owners),
        preflight::disk(&docker, &endpoint, &project.working_dir)
    );
    for check in ports.into_iter().chain([disk]) {
        fail_on(check)?;
    }

    let selected: Vec<Service> = selection.into_iter().cloned().collect();
    let containers = if natives.is_empty() {
        wanted.clone()
    } else {
        replace_containers(&project, &natives).await?;
        selected.iter().map(|s| s.name.clone()).collect()
    };
    let mut statuses = if selected.is_empty() {
        Vec::new()
    } else {
        bring_up(&docker, &project, &selected, &containers, timeout)
            .await
            // The failure quotes container logs and compose output: no secret values in them.
            .map_err(|f| Failure::new(f.code, project.secrets.mask(&f.message)))?
    };
    let left = timeout.saturating_sub(started.elapsed());
    let running = crate::supervisor::lifecycle::start_all(&project, &natives, left).await?;
    statuses.extend(running.iter().map(crate::supervisor::lifecycle::status));
    let running = NativeSet::new(running);
    // Other devtui commands (status, restart, down, mode...) reach them through it.
    let control = control.map(|c| {
        let switcher = super::mode::Switcher {
            target: super::backend::Target {
                engine: crate::engine::client::Lazy::connected(docker.clone()),
                compose: crate::ops::compose_for(&project),
                project: project.name.clone(),
                natives: running.clone(),
            },
            project: project.clone(),
            profile: profile.clone(),
        };
        c.serve(running.clone(), switcher.handler())
    });

    announce(&project.name, statuses, "services", started);
    Ok(Stack {
        project,
        natives: running,
        profile: chosen,
        tui: profile.as_ref().and_then(|p| p.tui),
        control,
    })
}

/// `up` with a profile whose services all run natively: no engine, no compose. The model is
/// the compose file's `x-devtui.native` block read by devtui itself.
async fn run_native_only(
    loc: project::Location,
    profile: &project::profile::Profile,
    chosen: Option<String>,
    names: &[String],
    timeout: Duration,
    started: Instant,
) -> anyhow::Result<Stack> {
    ensure_env(&loc)?;
    let project = project::load_native(&loc).map_err(Failure::from)?;
    let natives: Vec<NativeService> = profile
        .natives(&project)
        .map_err(profile_failure)?
        .into_iter()
        .filter(|n| names.is_empty() || names.contains(&n.name))
        .collect();
    let control = crate::supervisor::control::claim(&project.name)?;
    let running = crate::supervisor::lifecycle::start_all(&project, &natives, timeout).await?;
    let statuses = running
        .iter()
        .map(crate::supervisor::lifecycle::status)
        .collect();
    let running = NativeSet::new(running);
    // No engine: nothing to switch to.
    let no_mode: crate::supervisor::control::ModeHandler = Arc::new(|_, _| {
        Box::pin(async {
            Err("this devtui runs a native-only profile without an engine: no containers".into())
        })
    });
    let control = control.serve(running.clone(), no_mode);
    announce(
        &project.name,
        statuses,
        "native services, no container engine used",
        started,
    );
    Ok(Stack {
        project,
        natives: running,
        profile: chosen,
        tui: profile.tui,
        control: Some(control),
    })
}

/// The profile's native services, changed by what `devtui mode` remembered for the project:
/// a service set to `native` runs natively (if it is declared so), one set to `container`
/// in its container.
fn with_saved_modes(
    project: &Project,
    profile: Option<&project::profile::Profile>,
    mut natives: Vec<NativeService>,
) -> Vec<NativeService> {
    use super::mode::Mode;
    for (service, mode) in super::mode::saved(&project.name) {
        let is_native = natives.iter().any(|n| n.name == service);
        match mode {
            Mode::Native if !is_native => {
                let definition = match profile {
                    Some(p) => p.native_definition(project, &service),
                    None => project.natives.iter().find(|n| n.name == service).cloned(),
                };
                if let Some(definition) = definition {
                    eprintln!(
                        "devtui: {service} runs natively, as `devtui mode` set it (`devtui mode {service} container` changes it)"
                    );
                    natives.push(definition);
                }
            }
            Mode::Container if is_native && project.service(&service).is_some() => {
                eprintln!(
                    "devtui: {service} runs in its container, as `devtui mode` set it (`devtui mode {service} native` changes it)"
                );
                natives.retain(|n| n.name != service);
            }
            _ => {}
        }
    }
    natives
}

/// When the engine cannot be reached: the project's profiles that run without it, as the
/// command to use (`devtui up -P minimal` for the bundled stack).
fn without_docker_hint(loc: &project::Location) -> Option<String> {
    let dir = project::profile::dir(loc);
    let usable: Vec<String> = project::profile::names(&dir)
        .into_iter()
        .filter(|name| project::profile::load(loc, name, None).is_ok_and(|p| p.native_only()))
        .collect();
    let first = usable.first()?;
    Some(format!(
        "  to run without Docker: `devtui up -P {first}` (its services run natively on this machine)"
    ))
}

/// The config file's default profile, if this project has it (a note says when it does not:
/// one default serves every project, and not all of them have that profile).
fn default_profile(loc: &project::Location, name: &str) -> Option<String> {
    let by_path = name.contains('/') || name.ends_with(".yaml") || name.ends_with(".yml");
    let file = if by_path {
        std::path::PathBuf::from(name)
    } else {
        project::profile::dir(loc).join(format!("{name}.yaml"))
    };
    if file.is_file() {
        eprintln!("devtui: using devtui profile {name} (the config file's default)");
        Some(name.to_string())
    } else {
        eprintln!(
            "devtui: the config file's profile {name} is not in this project ({}); starting without it",
            file.display()
        );
        None
    }
}

fn profile_failure(e: project::profile::Error) -> Failure {
    Failure::usage(e.to_string())
}

/// Removes the containers of services that now run natively: one still running would hold
/// the ports the native process needs, and its row would not be the native one.
async fn replace_containers(project: &Project, natives: &[NativeService]) -> Result<(), Failure> {
    let names: Vec<&str> = natives
        .iter()
        .filter(|n| project.service(&n.name).is_some())
        .map(|n| n.name.as_str())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let mut args = vec!["rm", "--stop", "--force"];
    args.extend(names);
    crate::ops::compose_for(project)
        .run(&args, |_| {})
        .await
        .map_err(|e| compose_failure("removing the containers of native services failed", e))
}

/// Creates `.env` from the project's example when it is missing (secrets generated), and
/// says so.
fn ensure_env(loc: &project::Location) -> Result<(), Failure> {
    let env = preflight::env_file(loc, true);
    let created = env.ok && env.detail.starts_with("created");
    fail_on(env)?;
    if created {
        eprintln!(
            "devtui: created {} (mode 0600, secrets generated)",
            loc.env_path.display()
        );
    }
    Ok(())
}

/// Prints the services' table and how long `up` took; `what` names what is counted.
fn announce(project: &str, statuses: Vec<ServiceStatus>, what: &str, started: Instant) {
    let report = super::status::build_report(project, None, statuses);
    print!("{}", super::status::table(&report));
    eprintln!(
        "devtui: {project} is up ({} {what}) in {:.1}s",
        report.services.len(),
        started.elapsed().as_secs_f64()
    );
}

fn fail_on(check: Check) -> Result<(), Failure> {
    if check.ok {
        Ok(())
    } else {
        Err(check.into_failure())
    }
}

/// Builds (if needed), starts and waits for `selected`; returns their final statuses in
/// dependency order, or a `Failure` naming the service that exited or turned unhealthy.
/// `containers` are the names given to `docker compose up` (none: every enabled service).
pub async fn bring_up(
    docker: &Docker,
    project: &Project,
    selected: &[Service],
    containers: &[String],
    timeout: Duration,
) -> Result<Vec<ServiceStatus>, Failure> {
    let driver = crate::ops::compose_for(project);
    let mut progress = Progress::new(selected);
    let names: Vec<String> = selected.iter().map(|s| s.name.clone()).collect();

    let to_build: Vec<String> = selected
        .iter()
        .filter(|s| s.build.is_some())
        .map(|s| s.name.clone())
        .collect();
    if !to_build.is_empty() {
        for name in &to_build {
            progress.set(name, Phase::Building);
        }
        progress.draw();
        let build = driver.build(&to_build, |_| {});
        tokio::pin!(build);
        let mut tick = tokio::time::interval(REDRAW);
        // Keep the elapsed times moving on a terminal while images build.
        let built = loop {
            tokio::select! {
                result = &mut build => break result,
                _ = tick.tick(), if progress.tty => progress.draw(),
            }
        };
        built.map_err(|e| compose_failure("building the images failed", e))?;
    }

    // Containers that exist before we start may be stale (an old exit); they count only
    // once compose has (re)started them.
    let baseline: HashSet<ContainerId> = watch::container_ids(docker, &project.name)
        .await
        .map(HashSet::from_iter)
        .map_err(|e| {
            Failure::new(
                exit::NO_ENGINE,
                format!(
                    "the engine failed to list the containers of {}: {e}",
                    project.name
                ),
            )
        })?;
    let cancel = CancellationToken::new();
    let _stop_watch = cancel.clone().drop_guard();
    let mut updates = watch::watch(project.name.clone(), cancel);

    let mut args = vec!["up".to_string(), "-d".to_string()];
    if !to_build.is_empty() {
        args.push("--no-build".into());
    }
    args.extend(containers.iter().cloned());
    let (mut lines, mut child) = driver
        .spawn(&args)
        .map_err(|e| compose_failure("docker compose up failed", e))?;
    let mut compose_tail: Vec<String> = Vec::new();
    let mut lines_open = true;
    let mut compose_done = false;
    let mut updates_open = true;

    let completes: HashSet<String> = selected
        .iter()
        .flat_map(|s| &s.depends_on)
        .filter(|d| d.condition == DependsCondition::ServiceCompletedSuccessfully)
        .map(|d| d.service.clone())
        .collect();
    let mut containers: HashMap<ContainerId, ServiceStatus> = HashMap::new();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut redraw = tokio::time::interval(REDRAW);
    // When each running container (by id) was first seen running, for `SETTLE`.
    let mut running_since: HashMap<ContainerId, Instant> = HashMap::new();
    let mut settle_at: Option<Instant> = None;

    loop {
        tokio::select! {
            line = lines.recv(), if lines_open => match line {
                Some(line) => {
                    compose_tail.push(line.text);
                    if compose_tail.len() > FAILURE_LOG_LINES {
                        compose_tail.remove(0);
                    }
                }
                None => lines_open = false,
            },
            status = child.wait(), if !compose_done && !lines_open => {
                let ok = status.map(|s| s.success()).unwrap_or(false);
                // Fresh truth for every container, whatever events are still in flight.
                if let Ok(all) = watch::snapshot(docker, &project.name).await {
                    containers = all
                        .into_iter()
                        .filter_map(|s| Some((s.container_id().cloned()?, s)))
                        .collect();
                }
                if !ok {
                    // Compose itself gave up (e.g. a dependency failed its healthcheck):
                    // name the service we can see failing, else show compose's words.
                    if let Some(f) = first_failure(&containers, &names, &completes, None) {
                        progress.finish();
                        return Err(service_failure(docker, f).await);
                    }
                    progress.finish();
                    return Err(Failure::new(
                        exit::FAILED,
                        format!("docker compose up failed:\n{}", indent(&compose_tail.join("\n"))),
                    ));
                }
                compose_done = true;
            },
            update = updates.recv(), if updates_open => match update {
                Some(EngineUpdate::Service(s)) => {
                    if let Some(id) = s.container_id().cloned() {
                        containers.insert(id, s);
                    }
                }
                Some(EngineUpdate::Removed { service, container }) => match container {
                    Some(id) => {
                        containers.remove(&id);
                    }
                    None => containers.retain(|_, s| s.service != service),
                },
                Some(EngineUpdate::Unreachable { error, retry_in }) => {
                    progress.note(&format!("engine unreachable ({error}); retrying in {retry_in:?}"));
                }
                // The crash guard runs from each container's start, which only the inspect
                // that follows a listed container tells.
                Some(EngineUpdate::Connected { .. } | EngineUpdate::Listed(_)) => {}
                None => updates_open = false,
            },
            _ = redraw.tick(), if progress.tty => {}
            () = sleep_until_opt(settle_at), if settle_at.is_some() => {}
            () = tokio::time::sleep_until(deadline) => {
                progress.finish();
                return Err(timeout_failure(docker, &containers, &names, timeout).await);
            }
        }

        let fresh = if compose_done { None } else { Some(&baseline) };
        if let Some(f) = first_failure(&containers, &names, &completes, fresh) {
            progress.set(&f.service, Phase::Failed);
            progress.finish();
            return Err(service_failure(docker, f).await);
        }
        running_since.retain(|id, _| {
            containers
                .get(id)
                .is_some_and(|s| s.state == ContainerState::Running)
        });
        for (id, s) in &containers {
            if s.state == ContainerState::Running {
                running_since
                    .entry(id.clone())
                    .or_insert_with(|| started(s).unwrap_or_else(Instant::now));
            }
        }
        let settled = |s: &ServiceStatus| {
            s.container_id()
                .and_then(|id| running_since.get(id))
                .is_some_and(|since| since.elapsed() >= SETTLE)
        };
        // The loop wakes when the next container without a healthcheck has run for `SETTLE`.
        settle_at = containers
            .values()
            .filter(|s| s.state == ContainerState::Running && s.health == Health::None)
            .filter_map(|s| running_since.get(s.container_id()?))
            .map(|since| *since + SETTLE)
            .filter(|at| *at > Instant::now())
            .min();
        let mut all_ready = compose_done;
        for name in &names {
            let mine: Vec<&ServiceStatus> =
                containers.values().filter(|s| &s.service == name).collect();
            let phase = phase_of(&mine, completes.contains(name), &settled);
            all_ready &= matches!(phase, Phase::Healthy | Phase::Running | Phase::Completed);
            progress.set(name, phase);
        }
        progress.draw();
        if all_ready {
            progress.finish();
            let mut out: Vec<ServiceStatus> = Vec::new();
            for name in &names {
                let mut mine: Vec<ServiceStatus> = containers
                    .values()
                    .filter(|s| &s.service == name)
                    .cloned()
                    .collect();
                mine.sort_by(|a, b| a.runtime.container_name().cmp(&b.runtime.container_name()));
                out.extend(mine);
            }
            return Ok(out);
        }
    }
}

/// When the container started, by the engine's clock: the crash guard counts from there, so
/// it overlaps the wait for the services with healthchecks.
fn started(s: &ServiceStatus) -> Option<Instant> {
    let at = time::OffsetDateTime::parse(
        s.started_at.as_deref()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    let age = time::OffsetDateTime::now_utc() - at;
    Instant::now().checked_sub(age.try_into().ok()?)
}

async fn sleep_until_opt(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

/// Why a service failed.
struct ServiceFailure {
    service: String,
    container_id: Option<ContainerId>,
    reason: String,
    probe: Option<String>,
}

fn judge(s: &ServiceStatus, may_complete: bool) -> Option<String> {
    match s.state {
        ContainerState::Running if s.health == Health::Unhealthy => Some("turned unhealthy".into()),
        ContainerState::Exited | ContainerState::Dead => match s.exit_code {
            Some(0) if may_complete => None,
            Some(code) => Some(format!("exited with code {code}")),
            None => Some("exited".into()),
        },
        ContainerState::Restarting => Some(match s.exit_code {
            Some(code) => format!("keeps restarting (last exit code {code})"),
            None => "keeps restarting".into(),
        }),
        _ => None,
    }
}

/// The first selected service whose container failed. Before compose is done, containers
/// in `stale` (those that existed before `up`) are not judged yet.
fn first_failure(
    containers: &HashMap<ContainerId, ServiceStatus>,
    names: &[String],
    completes: &HashSet<String>,
    stale: Option<&HashSet<ContainerId>>,
) -> Option<ServiceFailure> {
    names.iter().find_map(|name| {
        containers.iter().find_map(|(id, s)| {
            if &s.service != name || stale.is_some_and(|b| b.contains(id)) {
                return None;
            }
            judge(s, completes.contains(name)).map(|reason| ServiceFailure {
                service: name.clone(),
                container_id: Some(id.clone()),
                reason,
                probe: s.last_probe_output.clone(),
            })
        })
    })
}

async fn service_failure(docker: &Docker, f: ServiceFailure) -> Failure {
    let mut message = format!("service {} {}", f.service, f.reason);
    if let Some(probe) = &f.probe {
        message.push_str(&format!("\n  last health probe output:\n{}", indent(probe)));
    }
    if let Some(id) = &f.container_id {
        let logs = logs::last_lines(docker, id, FAILURE_LOG_LINES).await;
        if logs.is_empty() {
            message.push_str("\n  (no log output)");
        } else {
            message.push_str(&format!(
                "\n  last {} log lines:\n{}",
                logs.len(),
                indent(&logs.join("\n"))
            ));
        }
    }
    message.push_str(
        "
  the other services are left running; `devtui down` stops them",
    );
    Failure::new(exit::FAILED, message)
}

async fn timeout_failure(
    docker: &Docker,
    containers: &HashMap<ContainerId, ServiceStatus>,
    names: &[String],
    timeout: Duration,
) -> Failure {
    let waiting: Vec<&String> = names
        .iter()
        .filter(|n| {
            !containers
                .values()
                .any(|s| &s.service == *n && judge_ready(s))
        })
        .collect();
    let mut message = format!(
        "timed out after {}s waiting for {}",
        timeout.as_secs(),
        waiting
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(first) = waiting.first()
        && let Some(s) = containers.values().find(|s| &s.service == *first)
    {
        if let Some(probe) = &s.last_probe_output {
            message.push_str(&format!(
                "\n  {first}: last health probe output:\n{}",
                indent(probe)
            ));
        }
        if let Some(id) = s.container_id() {
            let logs = logs::last_lines(docker, id, FAILURE_LOG_LINES).await;
            if !logs.is_empty() {
                message.push_str(&format!(
                    "\n  {first}: last {} log lines:\n{}",
                    logs.len(),
                    indent(&logs.join("\n"))
                ));
            }
        }
    }
    message.push_str("\n  raise --timeout if the stack is just slow to start");
    Failure::new(exit::FAILED, message)
}

fn judge_ready(s: &ServiceStatus) -> bool {
    s.state == ContainerState::Running && matches!(s.health, Health::None | Health::Healthy)
}

fn compose_failure(what: &str, e: compose::Error) -> Failure {
    match e {
        compose::Error::Failed { stderr, .. } => {
            Failure::new(exit::FAILED, format!("{what}:\n{}", indent(&stderr)))
        }
        compose::Error::NotFound | compose::Error::NoCompose(_) => {
            Failure::new(exit::NO_ENGINE, e.to_string())
        }
        other => Failure::new(exit::FAILED, format!("{what}: {other}")),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where a service is on its way up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Building,
    Created,
    WaitingHealth,
    Healthy,
    Running,
    Completed,
    Failed,
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Building => "building",
            Phase::Created => "starting",
            Phase::WaitingHealth => "waiting for health",
            Phase::Healthy => "healthy",
            Phase::Running => "running",
            Phase::Completed => "completed",
            Phase::Failed => "failed",
        }
    }

    fn is_final(self) -> bool {
        matches!(
            self,
            Phase::Healthy | Phase::Running | Phase::Completed | Phase::Failed
        )
    }
}

fn phase_of(
    containers: &[&ServiceStatus],
    may_complete: bool,
    settled: &dyn Fn(&ServiceStatus) -> bool,
) -> Phase {
    if containers.is_empty() {
        return Phase::Pending;
    }
    // The slowest container sets the service's phase.
    containers
        .iter()
        .map(|s| match (s.state, s.health) {
            (ContainerState::Running, Health::Healthy) => Phase::Healthy,
            (ContainerState::Running, Health::None) if settled(s) => Phase::Running,
            (ContainerState::Running, Health::Starting) => Phase::WaitingHealth,
            (ContainerState::Exited, _) if may_complete && s.exit_code == Some(0) => {
                Phase::Completed
            }
            _ => Phase::Created,
        })
        .min_by_key(|p| match p {
            Phase::Created => 0,
            Phase::WaitingHealth => 1,
            _ => 2,
        })
        .unwrap_or(Phase::Pending)
}

/// Live per-service progress on stderr: redrawn in place on a terminal, one plain line per
/// change otherwise.
struct Progress {
    tty: bool,
    start: Instant,
    rows: Vec<(String, Phase, Option<Duration>)>,
    drawn: usize,
}

impl Progress {
    fn new(services: &[Service]) -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            start: Instant::now(),
            rows: services
                .iter()
                .map(|s| (s.name.clone(), Phase::Pending, None))
                .collect(),
            drawn: 0,
        }
    }

    fn set(&mut self, service: &str, phase: Phase) {
        let elapsed = self.start.elapsed();
        let Some(row) = self.rows.iter_mut().find(|r| r.0 == service) else {
            return;
        };
        if row.1 == phase {
            return;
        }
        row.1 = phase;
        row.2 = phase.is_final().then_some(elapsed);
        if !self.tty {
            eprintln!(
                "{service}: {} ({:.1}s)",
                phase.label(),
                elapsed.as_secs_f64()
            );
        }
    }

    fn note(&mut self, text: &str) {
        self.clear();
        eprintln!("devtui: {text}");
    }

    fn clear(&mut self) {
        if self.tty && self.drawn > 0 {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\x1b[{}A\x1b[J", self.drawn);
            self.drawn = 0;
        }
    }

    fn draw(&mut self) {
        if !self.tty {
            return;
        }
        self.clear();
        let now = self.start.elapsed();
        let width = self.rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let mut err = std::io::stderr().lock();
        for (name, phase, done) in &self.rows {
            let mark = match phase {
                Phase::Healthy | Phase::Running | Phase::Completed => "✓",
                Phase::Failed => "✗",
                _ => "…",
            };
            let t = done.unwrap_or(now).as_secs_f64();
            let _ = writeln!(
                err,
                " {mark} {name:<width$}  {:<18} {t:>5.1}s",
                phase.label()
            );
        }
        self.drawn = self.rows.len();
    }

    /// Leaves the last frame on screen.
    fn finish(&mut self) {
        if self.tty {
            self.draw();
            self.drawn = 0;
        }
    }
}
