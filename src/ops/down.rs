//! `devtui down`.

use crate::cli::{DownArgs, ProjectArgs};
use crate::exit::Failure;

pub async fn run(_project: &ProjectArgs, _args: DownArgs) -> anyhow::Result<i32> {
    Err(Failure::usage("down is not built yet").into())
}
