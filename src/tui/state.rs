//! Everything the TUI shows, owned by the app loop and changed only by `update`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ratatui::layout::Rect;
use time::OffsetDateTime;

use crate::engine::logs::Timestamp;
use crate::engine::stats::Stats;
use crate::engine::{ContainerId, ContainerState, Health, ServiceStatus};
use crate::ops::actions::Action;
use crate::ops::backup::store::Entry;
use crate::project::env::Secrets;
use crate::project::profile::CustomCommand;
use crate::tui::logbuf::{DEFAULT_LOG_CAPACITY, LogStore};
use crate::tui::logview::LogPane;
use crate::tui::msg::DataOp;

/// Smallest terminal the layout works in; below it a message is shown instead.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;
/// Lines of history fetched when a log pane opens.
pub const DEFAULT_TAIL: usize = 1000;
/// How long a toast stays on screen.
pub const TOAST_FOR: Duration = Duration::from_secs(5);

/// User-tunable settings (`config::Config`, the environment winning over the file).
#[derive(Debug, Clone)]
pub struct Options {
    /// Lines kept per service.
    pub log_capacity: usize,
    /// Lines of history fetched when a pane opens.
    pub tail: usize,
    /// No colours (NO_COLOR): symbols, text and reverse video carry the meaning.
    pub no_color: bool,
    /// Shortest time between two CPU and memory figures of a service.
    pub stats_interval: Duration,
    /// Ask before restart, stop and rebuild.
    pub confirm: bool,
    /// The keys in force: `update` dispatches through them, the help shows them.
    pub keys: crate::keymap::Keymap,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            log_capacity: DEFAULT_LOG_CAPACITY,
            tail: DEFAULT_TAIL,
            no_color: false,
            stats_interval: crate::config::DEFAULT_STATS_INTERVAL,
            confirm: true,
            keys: crate::keymap::Keymap::default(),
        }
    }
}

impl Options {
    /// Settings from the environment alone (`NO_COLOR`, `DEVTUI_LOG_LINES`), no config file.
    pub fn from_env() -> Self {
        let mut config = crate::config::Config::default();
        crate::config::apply_env(&mut config, |var| std::env::var(var).ok());
        Self::from_config(&config)
    }

    /// The TUI's part of the settings in force.
    pub fn from_config(config: &crate::config::Config) -> Self {
        let log_capacity = config.log_lines.value.max(1);
        Self {
            log_capacity,
            tail: DEFAULT_TAIL.min(log_capacity),
            no_color: config.no_color(),
            stats_interval: config.stats_interval.value,
            confirm: config.confirm.value,
            keys: config.keys.map.clone(),
        }
    }
}

/// One dashboard row: a service, with every container (replica) it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub name: String,
    /// The service as a whole: `None` until the engine has reported on it. With replicas,
    /// the first running one's status with the state, health and restarts of them all
    /// (`summarise`); actions and streams go through its container.
    pub status: Option<ServiceStatus>,
    pub stats: Option<Stats>,
    /// The service's containers, by compose's container number; empty for a native
    /// service or one without a container.
    pub replicas: Vec<ServiceStatus>,
    /// The last sample of each replica but the row's own container (whose is `stats`).
    pub replica_stats: BTreeMap<ContainerId, Stats>,
}

impl ServiceRow {
    pub fn new(name: String) -> Self {
        Self {
            name,
            status: None,
            stats: None,
            replicas: Vec::new(),
            replica_stats: BTreeMap::new(),
        }
    }

    /// The row's own container: the one actions, logs and `stats` go through.
    pub fn primary(&self) -> Option<&ContainerId> {
        self.status.as_ref()?.container_id()
    }

    /// The service's containers with compose's replica numbers (else their place).
    pub fn numbered_containers(&self) -> Vec<(u32, ContainerId)> {
        self.replicas
            .iter()
            .zip(1..)
            .filter_map(|(r, place)| Some((r.replica.unwrap_or(place), r.container_id()?.clone())))
            .collect()
    }

    /// A replica's last sample.
    pub fn figures(&self, replica: &ServiceStatus) -> Option<&Stats> {
        let id = replica.container_id()?;
        if Some(id) == self.primary() {
            self.stats.as_ref()
        } else {
            self.replica_stats.get(id)
        }
    }

    /// CPU and memory of every running replica together; `None` before the row's own
    /// container has a sample.
    pub fn total_stats(&self) -> Option<Stats> {
        let mut total = self.stats?;
        for replica in self.replicas.iter().filter(|r| r.state.is_up()) {
            if replica.container_id() == self.primary() {
                continue;
            }
            if let Some(s) = replica
                .container_id()
                .and_then(|id| self.replica_stats.get(id))
            {
                total.cpu_percent += s.cpu_percent;
                total.memory_bytes = total.memory_bytes.saturating_add(s.memory_bytes);
                total.memory_limit = total.memory_limit.saturating_add(s.memory_limit);
            }
        }
        Some(total)
    }

    /// Replicas running (or restarting), and how many there are.
    pub fn running_replicas(&self) -> (usize, usize) {
        let running = self.replicas.iter().filter(|r| r.state.is_up()).count();
        (running, self.replicas.len())
    }

    /// Puts `status` among the replicas (replacing its container's previous one) and
    /// recomputes the summary.
    pub fn set_replica(&mut self, status: ServiceStatus) {
        match self
            .replicas
            .iter_mut()
            .find(|r| r.container_id() == status.container_id())
        {
            Some(r) => *r = status,
            None => self.replicas.push(status),
        }
        // Compose numbers replicas from 1; an unnumbered container (made by hand) goes last.
        self.replicas.sort_by(|a, b| {
            let key =
                |s: &ServiceStatus| (s.replica.unwrap_or(u32::MAX), s.container_id().cloned());
            key(a).cmp(&key(b))
        });
        self.summarise();
    }

    /// Drops the replica of `id`; the row stays while other replicas exist.
    pub fn remove_replica(&mut self, id: &ContainerId) {
        self.replicas.retain(|r| r.container_id() != Some(id));
        self.replica_stats.remove(id);
        self.summarise();
    }

    /// The row's status from its replicas: the first running one (else the first), running
    /// if any runs, the worst health, the restarts of all.
    fn summarise(&mut self) {
        let primary = self
            .replicas
            .iter()
            .find(|r| r.state.is_up())
            .or(self.replicas.first())
            .cloned();
        // A stopped replica's last figures are not shown again.
        let up: Vec<&ContainerId> = self
            .replicas
            .iter()
            .filter(|r| r.state.is_up())
            .filter_map(|r| r.container_id())
            .collect();
        self.replica_stats.retain(|id, _| up.contains(&id));
        let Some(mut summary) = primary else {
            self.status = None;
            self.stats = None;
            return;
        };
        summary.health = self
            .replicas
            .iter()
            .map(|r| r.health)
            .max_by_key(|h| health_rank(*h))
            .unwrap_or(summary.health);
        summary.restarts = self.replicas.iter().map(|r| r.restarts).sum();
        if self.status.as_ref().and_then(|s| s.container_id()) != summary.container_id()
            || !summary.state.is_up()
        {
            self.stats = None;
        }
        self.status = Some(summary);
    }

    /// Running (or restarting), container or native process alike.
    pub fn is_running(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.state.is_up())
    }

    pub fn running_container(&self) -> Option<&ContainerId> {
        let status = self.status.as_ref()?;
        match status.state {
            ContainerState::Running | ContainerState::Restarting => status.container_id(),
            _ => None,
        }
    }
}

/// How bad a health is, for the worst of a service's replicas.
fn health_rank(h: Health) -> u8 {
    match h {
        Health::None => 0,
        Health::Healthy => 1,
        Health::Starting => 2,
        Health::Unhealthy => 3,
    }
}

/// Whether the engine can be reached.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineLink {
    Connecting,
    Connected { api_version: String },
    Unreachable { error: String, retry_in: Duration },
}

/// Which part of the screen takes the navigation keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Services,
    Logs,
}

/// A line of input the user is typing, or a question waiting for an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    Search(String),
    Filter(String),
    Confirm {
        service: String,
        action: Action,
    },
    /// A `:` command being typed, with the candidates of the last Tab when it was ambiguous.
    Command {
        text: String,
        candidates: Vec<String>,
    },
    /// A question before a custom command with `confirm: true`.
    ConfirmCommand {
        name: String,
    },
    /// A question before data work (restore, delete, reset, stopping for a volume backup):
    /// `yes` runs on y or Enter; `no`, when set, runs on n (esc cancels).
    ConfirmData {
        question: String,
        yes: DataOp,
        no: Option<DataOp>,
    },
}

/// A short message in the status bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub text: String,
    pub error: bool,
    pub expires: OffsetDateTime,
}

/// What is drawn over the screen and takes the keys first.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Overlay {
    #[default]
    None,
    Help,
    Prompt(Prompt),
}

/// The dashboard's selection.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    /// The selected row.
    pub index: usize,
    /// First dashboard row on screen.
    pub offset: usize,
    /// Services marked with space, for a merged log view.
    pub marked: BTreeSet<String>,
    /// Services whose replicas are shown as sub-rows.
    pub expanded: BTreeSet<String>,
}

/// The log lines kept and the pane that shows some of them.
#[derive(Debug)]
pub struct LogView {
    pub store: LogStore,
    pub pane: Option<LogPane>,
}

/// What a stream reads from; a different one for the same service is a different stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamSource {
    Container(ContainerId),
    /// A native process: its output and figures outlive its restarts.
    Native,
}

/// A log stream the app loop runs for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStreamState {
    pub source: StreamSource,
    /// The stream ended (container stopped); restart when the container starts again.
    pub ended: bool,
    /// The container's start time when the stream ended.
    pub started_at: Option<String>,
    /// The containers whose output the stream follows: a scaled service's replicas as they
    /// were when it started, plus those that joined since.
    pub containers: Vec<ContainerId>,
}

/// The streams running for what is on screen.
#[derive(Debug, Default)]
pub struct Streams {
    /// Log streams, by service: the sources of the open pane.
    pub logs: BTreeMap<String, LogStreamState>,
    /// Stats streams, by service: running services whose rows are on screen.
    pub stats: BTreeMap<String, StreamSource>,
    /// Stats streams of the other running replicas of those services: container → service.
    pub replica_stats: BTreeMap<ContainerId, String>,
    /// Last timestamp seen per service, to resume after a container restart.
    pub last_log_ts: BTreeMap<String, Timestamp>,
}

/// The backups view of one service, and the data work (backup, restore, delete, reset) in
/// flight: one at a time.
#[derive(Debug, Default)]
pub struct Backups {
    pub view: Option<BackupsView>,
    pub job: Option<DataJob>,
}

/// The list of one service's backups (`B`).
#[derive(Debug, Clone, PartialEq)]
pub struct BackupsView {
    pub service: String,
    /// Newest first; `None` until the list has arrived.
    pub entries: Option<Vec<Entry>>,
    pub selected: usize,
    /// Why the list could not be read.
    pub error: Option<String>,
}

impl BackupsView {
    pub fn selected_entry(&self) -> Option<&Entry> {
        self.entries.as_ref()?.get(self.selected)
    }
}

/// Data work running for a service, with its last step and progress.
#[derive(Debug, Clone, PartialEq)]
pub struct DataJob {
    pub op: DataOp,
    pub step: Option<String>,
    pub bytes: u64,
    pub per_sec: u64,
}

/// When the next frame is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Redraw {
    /// Nothing changed since the last frame.
    None,
    /// Only figures (CPU, memory) changed: drawn with the next clock tick, so ten services'
    /// samples arriving across a second cost one frame, not ten.
    OnTick,
    /// Something changed: draw at the next frame.
    Soon,
}

/// The whole TUI state.
#[derive(Debug)]
pub struct State {
    pub project: String,
    /// Services in dependency order.
    pub services: Vec<ServiceRow>,
    pub selection: Selection,
    pub engine: EngineLink,
    pub width: u16,
    pub height: u16,
    pub now: OffsetDateTime,
    pub log: LogView,
    pub streams: Streams,
    pub focus: Focus,
    pub overlay: Overlay,
    pub toast: Option<Toast>,
    pub options: Options,
    /// Secret values from the project's `.env`, masked in every log line shown.
    pub secrets: Secrets,
    /// Services run natively (by this devtui or another): their rows follow the supervisor,
    /// not the engine.
    pub natives: BTreeSet<String>,
    pub backups: Backups,
    /// The devtui profile's custom commands (their keys, `:run NAME`, the help).
    pub commands: Vec<CustomCommand>,
    /// Hot reload per service, as the reloader last said.
    pub reload: BTreeMap<String, Reload>,
    pub redraw: Redraw,
}

/// A service's hot reload: on or off, and how its last reload went.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reload {
    pub on: bool,
    /// The last reload's line (files, action, time) and whether it worked.
    pub last: Option<(String, bool)>,
}

impl State {
    pub fn new(project: impl Into<String>, services: Vec<String>, options: Options) -> Self {
        Self {
            project: project.into(),
            services: services.into_iter().map(ServiceRow::new).collect(),
            selection: Selection::default(),
            engine: EngineLink::Connecting,
            width: MIN_WIDTH,
            height: MIN_HEIGHT,
            now: OffsetDateTime::UNIX_EPOCH,
            log: LogView {
                store: LogStore::new(options.log_capacity),
                pane: None,
            },
            streams: Streams::default(),
            focus: Focus::Services,
            overlay: Overlay::None,
            toast: None,
            options,
            secrets: Secrets::default(),
            natives: BTreeSet::new(),
            backups: Backups::default(),
            commands: Vec::new(),
            reload: BTreeMap::new(),
            redraw: Redraw::Soon,
        }
    }

    /// Marks `names` as native services; those the model does not list get rows at the end.
    pub fn with_natives(mut self, names: impl IntoIterator<Item = String>) -> Self {
        for name in names {
            self.mark_native(name);
        }
        self
    }

    /// Marks `name` as a native service, with a row at the end if the model does not list it.
    pub fn mark_native(&mut self, name: String) {
        if self.service(&name).is_none() {
            self.services.push(ServiceRow::new(name.clone()));
        }
        self.natives.insert(name);
    }

    pub fn is_native(&self, service: &str) -> bool {
        self.natives.contains(service)
    }

    /// Whether hot reload is on for `service`.
    pub fn reloads(&self, service: &str) -> bool {
        self.reload.get(service).is_some_and(|r| r.on)
    }

    /// Something changed: draw it with the next frame.
    pub fn changed(&mut self) {
        self.redraw = Redraw::Soon;
    }

    /// The question or line being typed, if any.
    pub fn prompt(&self) -> Option<&Prompt> {
        match &self.overlay {
            Overlay::Prompt(p) => Some(p),
            _ => None,
        }
    }

    pub fn help_shown(&self) -> bool {
        self.overlay == Overlay::Help
    }

    pub fn selected_service(&self) -> Option<&ServiceRow> {
        self.services.get(self.selection.index)
    }

    pub fn service(&self, name: &str) -> Option<&ServiceRow> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn too_small(&self) -> bool {
        self.width < MIN_WIDTH || self.height < MIN_HEIGHT
    }

    /// Where each part of the screen goes, shared by `update` (scrolling, mouse) and render.
    pub fn layout(&self) -> Layout {
        let full = Rect::new(0, 0, self.width, self.height);
        let banner_h = u16::from(matches!(self.engine, EngineLink::Unreachable { .. }));
        let banner = (banner_h > 0).then(|| Rect::new(0, 0, full.width, 1));
        let bar = Rect::new(0, full.height.saturating_sub(1), full.width, 1);
        let body_top = banner_h;
        let body_h = full.height.saturating_sub(banner_h + 1);
        let lines: usize = self
            .services
            .iter()
            .map(|r| 1 + self.replicas_shown(r).len())
            .sum();
        let rows_wanted = u16::try_from(lines).unwrap_or(u16::MAX).saturating_add(3);
        let (table_h, detail_h) = if self.log.pane.is_some() {
            (rows_wanted.min((body_h / 3).max(5)), 1)
        } else {
            let t = rows_wanted.min(body_h.saturating_sub(6));
            (t, body_h - t)
        };
        let table = Rect::new(0, body_top, full.width, table_h);
        let detail = Rect::new(0, body_top + table_h, full.width, detail_h);
        let logs = self.log.pane.as_ref().map(|_| {
            let top = body_top + table_h + detail_h;
            Rect::new(0, top, full.width, (body_top + body_h).saturating_sub(top))
        });
        Layout {
            banner,
            table,
            detail,
            logs,
            bar,
        }
    }

    /// Dashboard rows that fit on screen.
    pub fn table_rows(&self) -> usize {
        usize::from(self.layout().table.height.saturating_sub(3))
    }

    /// Rows and columns inside the log pane's border.
    pub fn log_area(&self) -> (usize, usize) {
        self.layout()
            .logs
            .map(|r| {
                (
                    usize::from(r.height.saturating_sub(2)),
                    usize::from(r.width.saturating_sub(2)),
                )
            })
            .unwrap_or((0, 0))
    }

    /// The services whose rows are on screen (stats are streamed for these only); an
    /// expanded service's sub-rows take lines too.
    pub fn services_on_screen(&self) -> impl Iterator<Item = &ServiceRow> {
        let mut left = self.table_rows();
        self.services
            .iter()
            .skip(self.selection.offset)
            .take_while(move |r| {
                let fits = left > 0;
                left = left.saturating_sub(1 + self.replicas_shown(r).len());
                fits
            })
    }

    /// The service drawn on the table's `line` (0: the first row under the header); a
    /// replica's sub-row counts as its service.
    pub fn service_at_line(&self, line: usize) -> Option<usize> {
        let mut top = 0;
        for (i, row) in self.services.iter().enumerate().skip(self.selection.offset) {
            top += 1 + self.replicas_shown(row).len();
            if line < top {
                return Some(i);
            }
        }
        None
    }

    /// The replicas shown as sub-rows under `row`: all of them when it is expanded.
    pub fn replicas_shown<'a>(&self, row: &'a ServiceRow) -> &'a [ServiceStatus] {
        if self.selection.expanded.contains(&row.name) {
            &row.replicas
        } else {
            &[]
        }
    }
}

/// The screen's regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub banner: Option<Rect>,
    pub table: Rect,
    /// The selected service's details (its last probe output).
    pub detail: Rect,
    pub logs: Option<Rect>,
    /// Status bar: key hints, prompt, toasts.
    pub bar: Rect,
}
