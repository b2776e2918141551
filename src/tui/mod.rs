//! The TUI: state, update, views and widgets.

use crate::cli::ProjectArgs;
use crate::exit::Failure;

pub async fn run(_project: &ProjectArgs) -> anyhow::Result<i32> {
    Err(Failure::usage("the TUI is not built yet").into())
}
