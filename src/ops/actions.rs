//! One-service actions shared by the TUI and the CLI: restart, stop, start, rebuild, open.

use crate::cli::{ProjectArgs, ServiceArgs};
use crate::exit::Failure;

/// An action on one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Restart,
    Stop,
    Start,
    Rebuild,
    Open,
}

impl Action {
    /// The verb, for prompts and messages.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Restart => "restart",
            Action::Stop => "stop",
            Action::Start => "start",
            Action::Rebuild => "rebuild",
            Action::Open => "open",
        }
    }

    /// Whether the action interrupts a running service, so the user confirms it first.
    pub fn destructive(self) -> bool {
        matches!(self, Action::Restart | Action::Stop | Action::Rebuild)
    }
}

pub async fn run(
    _project: &ProjectArgs,
    _action: Action,
    _args: ServiceArgs,
) -> anyhow::Result<i32> {
    Err(Failure::usage("service actions are not built yet").into())
}
