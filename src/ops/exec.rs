//! `devtui exec`.

use crate::cli::{ExecArgs, ProjectArgs};
use crate::exit::Failure;

pub async fn run(_project: &ProjectArgs, _args: ExecArgs) -> anyhow::Result<i32> {
    Err(Failure::usage("exec is not built yet").into())
}
