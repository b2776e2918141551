//! One-service actions shared by the TUI and the CLI: restart, stop, start, rebuild, open.

use crate::cli::{ProjectArgs, ServiceArgs};
use crate::exit::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Restart,
    Stop,
    Start,
    Rebuild,
    Open,
}

pub async fn run(
    _project: &ProjectArgs,
    _action: Action,
    _args: ServiceArgs,
) -> anyhow::Result<i32> {
    Err(Failure::usage("service actions are not built yet").into())
}
