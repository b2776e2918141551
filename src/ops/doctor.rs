//! `devtui doctor`.

use crate::cli::ProjectArgs;
use crate::exit::Failure;

pub async fn run(_project: &ProjectArgs, _json: bool) -> anyhow::Result<i32> {
    Err(Failure::usage("doctor is not built yet").into())
}
