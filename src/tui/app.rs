//! The live app loop: one task owns `State`; terminal input, engine updates, stream batches,
//! action results and the clock arrive as `Msg`s through one `tokio::select!`; effects run as
//! tasks that report back by message. Frames are drawn only when something changed, at most
//! once per `FRAME`, inside a synchronized update.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt;
use ratatui::crossterm::event::{Event, EventStream};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use time::OffsetDateTime;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::engine::compose::Compose;
use crate::engine::{ContainerId, EngineUpdate, client, exec, watch};
use crate::exit::Failure;
use crate::ops::backend::Target;
use crate::project::{Location, Project};
use crate::supervisor::set::NativeSet;
use crate::tui::msg::{Effect, Msg};
use crate::tui::runner::Runner;
use crate::tui::state::{Options, Redraw, State};
use crate::tui::terminal::TerminalGuard;
use crate::tui::update::update;
use crate::tui::views::render;

/// Shortest time between two frames that only streams changed (~30 fps): a log flood
/// coalesces into one frame. What the user did (a key, the mouse, a resize) is drawn at once.
const FRAME: Duration = Duration::from_millis(33);
/// The clock that moves uptimes and expires toasts.
const TICK: Duration = Duration::from_secs(1);
/// Messages handled before the loop looks at the screen and the keyboard again...
const MAX_BURST: usize = 512;
/// ...or time spent on them, whichever ends first (a quarter of a frame).
const DRAIN_BUDGET: Duration = Duration::from_millis(8);
/// Bound of the channel the stream tasks report through.
const CHANNEL_BOUND: usize = 256;
/// Bound of the stats channel: a second of samples from every service on screen.
const STATS_BOUND: usize = 256;
/// Bound of the terminal input channel (a paste arrives as a burst of keys).
const INPUT_BOUND: usize = 64;

/// How the loop ended.
enum Exit {
    Quit,
    Signal(i32),
}

/// Sends the TUI's own logs to a file under the state directory: nothing may reach stdout
/// while the TUI is up.
fn init_logging() {
    let dir = crate::paths::state_dir();
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("tui.log"))
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEVTUI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}

/// What the TUI starts from.
pub enum Start {
    /// A loaded project (after `devtui up`).
    Loaded(Project),
    /// A found project whose model is loaded while the TUI already shows its containers.
    Located(Location),
}

/// The watcher of one project name, restarted if the model names the project differently.
struct Watcher {
    token: CancellationToken,
    rx: mpsc::Receiver<EngineUpdate>,
}

impl Watcher {
    fn start(root: &CancellationToken, project: &str) -> Self {
        let token = root.child_token();
        let rx = watch::watch(project.to_string(), token.clone());
        Self { token, rx }
    }
}

/// Opens the TUI until the user quits (or a signal ends it). `natives` are the native
/// services devtui supervises; they keep running when the TUI ends (the caller stops them).
/// `profile` (a name or a path) gives the custom commands and the backups settings.
pub async fn run(
    start: Start,
    natives: NativeSet,
    options: Options,
    profile: Option<String>,
) -> anyhow::Result<i32> {
    init_logging();
    let root = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(CHANNEL_BOUND);
    let (stats_tx, mut stats_rx) = mpsc::channel(STATS_BOUND);
    let mut loaded = None;
    let location = match &start {
        Start::Loaded(project) => project.location(),
        Start::Located(location) => location.clone(),
    };
    // Read now, so the first frame's help and keys know the commands; a broken profile is
    // a toast, not the end of the TUI.
    let commands = match &profile {
        Some(name) => crate::project::profile::load(&location, name, Some(&options.keys))
            .map(|p| p.commands)
            .map_err(|e| e.to_string()),
        None => Ok(Vec::new()),
    };
    let _ = tx.try_send(Msg::Commands(commands));
    let (name, services, compose, model) = match start {
        Start::Loaded(project) => {
            let services = project.services.iter().map(|s| s.name.clone()).collect();
            let compose = crate::ops::compose_for(&project);
            let name = project.name.clone();
            loaded = Some(project);
            (name, services, compose, Model::Loaded)
        }
        Start::Located(location) => {
            let name = crate::project::name_hint(&location);
            (
                name.clone(),
                Vec::new(),
                Compose::by_name(&name),
                Model::Waiting {
                    location,
                    answered: false,
                },
            )
        }
    };
    let mut state = State::new(name.clone(), services, options)
        .with_natives(natives.all().iter().map(|n| n.service.name.clone()));
    let mut watcher = Watcher::start(&root, &name);
    // A mode switch (a key here, or `devtui mode` through the socket) changes the set.
    let mut changes = natives.subscribe();
    let changed_tx = tx.clone();
    tokio::spawn(root.child_token().run_until_cancelled_owned(async move {
        while changes.changed().await.is_ok() {
            if changed_tx.send(Msg::NativesChanged).await.is_err() {
                return;
            }
        }
    }));
    let target = Target {
        engine: client::Lazy::default(),
        compose,
        project: name.clone(),
        natives,
    };
    let mut runner = Runner::new(target, tx, stats_tx, root.clone());
    runner.watch_natives();
    runner.profile = profile;
    runner.working_dir = location.working_dir.clone();
    if let Some(project) = loaded {
        runner.set_project(project);
    }
    let mut term = TerminalGuard::enter()?;
    tracing::info!(project = %name, "tui started");
    let exit = event_loop(
        &mut state,
        &mut term,
        &mut runner,
        &mut watcher,
        model,
        &mut rx,
        &mut stats_rx,
    )
    .await;
    root.cancel();
    drop(term);
    tracing::info!("tui stopped");
    match exit? {
        Exit::Quit => Ok(crate::exit::OK),
        Exit::Signal(code) => Ok(code),
    }
}

async fn event_loop(
    state: &mut State,
    term: &mut TerminalGuard,
    runner: &mut Runner,
    watcher: &mut Watcher,
    mut model: Model,
    rx: &mut mpsc::Receiver<Msg>,
    stats_rx: &mut mpsc::Receiver<Msg>,
) -> anyhow::Result<Exit> {
    let size = term.terminal.size()?;
    state.width = size.width;
    state.height = size.height;
    state.now = OffsetDateTime::now_utc();
    let mut input = Input::start();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut next_frame = Instant::now();
    // The last message came from the user, or is the engine's (rare) news of a container:
    // its answer is not held back for the frame clock.
    let mut urgent = false;
    loop {
        if state.redraw == Redraw::Soon && (urgent || Instant::now() >= next_frame) {
            draw(state, term)?;
            next_frame = Instant::now() + FRAME;
            model.drawn();
        }
        let msg = tokio::select! {
            ev = input.rx.recv() => match ev {
                Some(Ok(Event::Key(k))) => {
                    tracing::debug!(key = ?k.code, modifiers = ?k.modifiers, "key");
                    Msg::Key(k)
                }
                Some(Ok(Event::Mouse(m))) => Msg::Mouse(m),
                Some(Ok(Event::Resize(width, height))) => Msg::Resize { width, height },
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(anyhow::Error::new(e).context("reading the terminal")),
                None => return Ok(Exit::Quit),
            },
            Some(update) = watcher.rx.recv() => model.engine_answered(update),
            loaded = model.loaded() => {
                model = Model::Loaded;
                match loaded {
                    Ok(project) => {
                        runner.target.compose = crate::ops::compose_for(&project);
                        runner.target.project = project.name.clone();
                        runner.set_project(project.clone());
                        if project.name != state.project {
                            watcher.token.cancel();
                            *watcher = Watcher::start(&runner.root, &project.name);
                        }
                        let services = project.services.iter().map(|s| s.name.clone()).collect();
                        Msg::Services { project: project.name, services, secrets: project.secrets }
                    }
                    // A compose file that does not parse ends the TUI with compose's message.
                    Err(e) => return Err(Failure::from(e).into()),
                }
            }
            Some(msg) = rx.recv() => msg,
            _ = tick.tick() => Msg::Tick(OffsetDateTime::now_utc()),
            _ = tokio::time::sleep_until(next_frame), if state.redraw == Redraw::Soon => continue,
            _ = sigterm.recv() => return Ok(Exit::Signal(128 + 15)),
            _ = sighup.recv() => return Ok(Exit::Signal(128 + 1)),
            _ = sigint.recv() => return Ok(Exit::Signal(128 + 2)),
        };
        urgent = matches!(
            msg,
            Msg::Key(_) | Msg::Mouse(_) | Msg::Resize { .. } | Msg::Engine(_)
        );
        if matches!(msg, Msg::Tick(_)) {
            // Samples wait for the tick that draws them: the loop wakes once a second for
            // every stats stream together, not once per sample.
            while let Ok(sample) = stats_rx.try_recv() {
                if let Some(exit) = handle(state, term, runner, &mut input, sample).await? {
                    return Ok(exit);
                }
            }
        }
        if let Some(exit) = handle(state, term, runner, &mut input, msg).await? {
            return Ok(exit);
        }
        // Drain what is already queued (a log burst) before the next frame, but only for
        // so long: a full channel of 1,024-line batches takes hundreds of milliseconds, and
        // a key pressed meanwhile would wait for all of it.
        let drain_until = Instant::now() + DRAIN_BUDGET;
        for _ in 0..MAX_BURST {
            if Instant::now() >= drain_until {
                break;
            }
            let queued = match watcher.rx.try_recv() {
                Ok(update) => model.engine_answered(update),
                Err(_) => match rx.try_recv() {
                    Ok(msg) => msg,
                    Err(_) => break,
                },
            };
            if let Some(exit) = handle(state, term, runner, &mut input, queued).await? {
                return Ok(exit);
            }
        }
    }
}

/// Applies one message and runs the effects it asks for, at once, with the state they were
/// asked from. Returns how the loop ends, when it does.
async fn handle(
    state: &mut State,
    term: &mut TerminalGuard,
    runner: &mut Runner,
    input: &mut Input,
    msg: Msg,
) -> anyhow::Result<Option<Exit>> {
    // Own native services changed: their watchers follow, and the rows get their statuses.
    let msg = match msg {
        Msg::NativesChanged => Msg::NativesNow(runner.watch_natives()),
        other => other,
    };
    if let Msg::Engine(update) = &msg {
        if let EngineUpdate::Unreachable { .. } = update {
            runner.target.engine.reset();
        }
        runner.watch_elsewhere();
    }
    let mut effects: VecDeque<Effect> = update(state, msg).into();
    while let Some(effect) = effects.pop_front() {
        match effect {
            Effect::Quit => return Ok(Some(Exit::Quit)),
            Effect::Exec { service } => {
                let result = match runner.shell_container(state, &service) {
                    Ok(container) => {
                        // One reader of stdin at a time: the shell's, then the TUI's again.
                        input.stop().await;
                        let result = shell(term, &runner.target.engine, &service, &container)
                            .await
                            .map_err(|e| format!("exec in {service} failed: {e}"));
                        *input = Input::start();
                        let size = term.terminal.size()?;
                        let (width, height) = (size.width, size.height);
                        effects.extend(update(state, Msg::Resize { width, height }));
                        // The clock stood still during the shell; the exit-code toast lives
                        // from now.
                        effects.extend(update(state, Msg::Tick(OffsetDateTime::now_utc())));
                        result
                    }
                    Err(why) => Err(why),
                };
                effects.extend(update(state, Msg::ExecDone { service, result }));
            }
            other => runner.run(other, state),
        }
    }
    Ok(None)
}

/// The project model (`docker compose config`) behind the rows' order.
enum Model {
    Loaded,
    /// Not asked for yet: compose's CPU time (and the spawn itself, on the loop's thread)
    /// would hold back the first frame that lists the containers. `answered`: the engine
    /// has answered (snapshot sent or engine unreachable), so the next frame shows it.
    Waiting {
        location: Location,
        answered: bool,
    },
    Loading(oneshot::Receiver<Result<Project, crate::project::Error>>),
}

impl Model {
    /// Every engine update goes through here, the ones drained from the queue too: the first
    /// may well arrive in a drain, and a quiet engine sends no second one.
    fn engine_answered(&mut self, update: EngineUpdate) -> Msg {
        if let Model::Waiting { answered, .. } = self {
            *answered = true;
        }
        Msg::Engine(update)
    }

    /// Asks compose for the model once a frame shows the engine's answer: the first frame
    /// lists the containers without waiting for compose.
    fn drawn(&mut self) {
        // Only the first such frame starts it: a load under way must not be dropped.
        let Model::Waiting {
            location,
            answered: true,
        } = self
        else {
            return;
        };
        let location = location.clone();
        let (done, loading) = oneshot::channel();
        tokio::spawn(async move {
            let _ = done.send(crate::project::load_at(&location, &[]).await);
        });
        *self = Model::Loading(loading);
    }

    async fn loaded(&mut self) -> Result<Project, crate::project::Error> {
        match self {
            Model::Loading(rx) => match rx.await {
                Ok(result) => result,
                // The loader cannot vanish without answering; wait for nothing if it did.
                Err(_) => std::future::pending().await,
            },
            Model::Loaded | Model::Waiting { .. } => std::future::pending().await,
        }
    }
}

/// Terminal input, read by a task of its own so that crossterm's reader is polled only when
/// its waker fires. Polled from the loop instead, it ran on every wake-up (each log batch,
/// engine update or tick), and each such poll spins on the lock that crossterm's reader
/// thread holds while it waits: about seven `sched_yield`s per wake-up.
struct Input {
    task: tokio::task::JoinHandle<()>,
    rx: mpsc::Receiver<std::io::Result<Event>>,
}

impl Input {
    fn start() -> Input {
        let (tx, rx) = mpsc::channel(INPUT_BOUND);
        let task = tokio::spawn(async move {
            let mut events = EventStream::new();
            while let Some(event) = events.next().await {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        });
        Input { task, rx }
    }

    /// Ends the reader (and crossterm's thread with it) before something else reads stdin.
    async fn stop(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Input {
    /// The reader ends with the loop, on every exit path, not when the runtime goes.
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn draw(state: &mut State, term: &mut TerminalGuard) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    execute!(out, BeginSynchronizedUpdate)?;
    let drawn = term.terminal.draw(|frame| render(state, frame));
    execute!(out, EndSynchronizedUpdate)?;
    drawn?;
    state.redraw = Redraw::None;
    Ok(())
}

/// Leaves the TUI for an interactive shell in the container and comes back.
async fn shell(
    term: &mut TerminalGuard,
    engine: &client::Lazy,
    service: &str,
    container_id: &ContainerId,
) -> Result<Option<i64>, String> {
    let docker = engine.get().await.map_err(|e| e.to_string())?;
    term.suspend().map_err(|e| e.to_string())?;
    // Raw mode is on: lines need an explicit carriage return.
    print!("\x1b[2J\x1b[H devtui: shell in {service}; type `exit` to return\r\n");
    let _ = std::io::stdout().flush();
    let cmd = exec::default_command(&docker, container_id).await;
    let result = exec::interactive(&docker, container_id, cmd, Vec::new())
        .await
        .map_err(|e| e.to_string());
    term.resume().map_err(|e| e.to_string())?;
    result
}
