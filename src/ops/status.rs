//! `devtui status`.

use crate::cli::ProjectArgs;
use crate::exit::Failure;

pub async fn run(_project: &ProjectArgs, _json: bool) -> anyhow::Result<i32> {
    Err(Failure::usage("status is not built yet").into())
}
