//! What flows into the app loop (`Msg`) and what `update` asks it to do (`Effect`).

use ratatui::crossterm::event::{KeyEvent, MouseEvent};
use time::OffsetDateTime;

use crate::engine::logs::LogEvent;
use crate::engine::stats::Stats;
use crate::engine::{ContainerId, EngineUpdate, ServiceStatus};
use crate::ops::actions::Action;
use crate::ops::backup::Report;
use crate::ops::backup::store::Entry;
use crate::ops::run::Output;
use crate::project::env::Secrets;
use crate::project::profile::CustomCommand;

/// Everything that can change the TUI's state, from any source.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize {
        width: u16,
        height: u16,
    },
    Engine(EngineUpdate),
    /// A native service's status (devtui supervises it; the engine knows nothing of it).
    Native(ServiceStatus),
    /// The native services another devtui runs for this project (`up -P` in another
    /// terminal), now; an empty list once it is gone.
    NativesElsewhere(Vec<ServiceStatus>),
    /// This devtui's own native services changed (a mode switch); the loop turns it into
    /// `NativesNow` once the runner follows the new set.
    NativesChanged,
    /// This devtui's own native services, now.
    NativesNow(Vec<ServiceStatus>),
    /// A mode switch ended: `Ok` carries a message for the user.
    ModeDone {
        service: String,
        result: Result<String, String>,
    },
    /// The project model arrived: its name, its services in dependency order, and the
    /// secret values to mask in what the TUI shows.
    Services {
        project: String,
        services: Vec<String>,
        secrets: Secrets,
    },
    /// A batch of log lines from one service's stream, or its end.
    Logs {
        service: String,
        event: LogEvent,
    },
    Stats {
        service: String,
        stats: Stats,
    },
    /// A sample of a replica followed with `Effect::FollowReplicaStats`.
    ReplicaStats {
        container: ContainerId,
        stats: Stats,
    },
    /// The once-a-second clock (uptime, toasts expiring).
    Tick(OffsetDateTime),
    /// A line of an action's progress (a rebuild's build output).
    ActionOutput {
        service: String,
        line: String,
    },
    /// An action finished: `Ok` carries a message for the user.
    ActionDone {
        service: String,
        action: Action,
        result: Result<String, String>,
    },
    /// An interactive exec returned to the TUI (`Err`: a sentence saying why there was none).
    ExecDone {
        service: String,
        result: Result<Option<i64>, String>,
    },
    /// Something was written to disk (saved logs).
    Saved(Result<String, String>),
    /// The devtui profile's custom commands, or why the profile could not be read.
    Commands(Result<Vec<CustomCommand>, String>),
    /// A line of a custom command's output.
    CommandOutput {
        name: String,
        stream: Output,
        line: String,
    },
    /// A custom command ended: its exit code, or why it could not run.
    CommandDone {
        name: String,
        result: Result<i32, String>,
    },
    /// A service's backups, newest first.
    BackupsListed {
        service: String,
        result: Result<Vec<Entry>, String>,
    },
    /// What data work will do, worked out (`Effect::PlanData`): `Some` is the question that
    /// names it, `None` means nothing to ask.
    DataPlanned {
        op: DataOp,
        result: Result<Option<Question>, String>,
    },
    /// A step or the progress of data work.
    DataProgress {
        service: String,
        report: Report,
    },
    /// Data work finished: `Ok` carries a message for the user.
    DataDone {
        op: DataOp,
        result: Result<String, String>,
    },
    /// Hot reload's states, lines and results (`ops::reload`).
    Reload(crate::ops::reload::Event),
}

/// Data work on a service: backups, restore, reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataOp {
    /// Back up now; `stop`: stop a volume service while its volumes are copied.
    Backup {
        service: String,
        stop: bool,
    },
    Restore {
        service: String,
        id: String,
    },
    Delete {
        service: String,
        id: String,
    },
    Reset {
        service: String,
    },
}

impl DataOp {
    pub fn service(&self) -> &str {
        match self {
            DataOp::Backup { service, .. }
            | DataOp::Restore { service, .. }
            | DataOp::Delete { service, .. }
            | DataOp::Reset { service } => service,
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            DataOp::Backup { .. } => "backup",
            DataOp::Restore { .. } => "restore",
            DataOp::Delete { .. } => "delete",
            DataOp::Reset { .. } => "reset",
        }
    }
}

/// A question to confirm data work: `no`, when set, is what n does instead of cancelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub text: String,
    pub no: Option<DataOp>,
}

/// Work `update` hands to the app loop; `update` itself does no I/O. Each says what is wanted
/// for a service; the runner resolves where the service runs and how (`ops::backend`).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Follow a service's logs: the last `tail` lines, then live ones; `since` (unix seconds)
    /// resumes a restarted container's where its last stream stopped.
    FollowLogs {
        service: String,
        tail: usize,
        since: Option<i64>,
    },
    StopLogs {
        service: String,
    },
    /// A replica that appeared while its service's logs stream: its output joins that
    /// stream (prefixed `#N | `) until the stream stops.
    JoinLogs {
        service: String,
        number: u32,
        container: ContainerId,
    },
    /// Sample a service's CPU and memory while its row is on screen.
    FollowStats {
        service: String,
    },
    StopStats {
        service: String,
    },
    /// Sample one more replica of a scaled service (the row's own container has
    /// `FollowStats`), while the row is on screen.
    FollowReplicaStats {
        service: String,
        container: ContainerId,
    },
    StopReplicaStats {
        container: ContainerId,
    },
    /// Leave the TUI for an interactive shell in the service's container, then come back.
    Exec {
        service: String,
    },
    /// Move a service between native and container (`ops::mode`).
    Mode {
        service: String,
        to: crate::ops::mode::Mode,
    },
    Action {
        service: String,
        action: Action,
    },
    SaveLogs {
        path: String,
        contents: String,
    },
    /// Read a service's backups.
    ListBackups {
        service: String,
    },
    /// Work out what data work will do, to name it in a confirmation.
    PlanData(DataOp),
    /// Carry data work out (confirmed).
    Data(DataOp),
    /// Run a custom command of the profile (confirmed when it asks to be); its output comes
    /// back as `CommandOutput`, its end as `CommandDone`.
    RunCommand(CustomCommand),
    /// Save hot reload's toggle for a service; the reloader follows the saved file.
    SetReload {
        service: String,
        on: bool,
    },
    Quit,
}
