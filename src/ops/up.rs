//! `devtui up`.

use crate::cli::{ProjectArgs, UpArgs};
use crate::exit::Failure;

pub async fn run(_project: &ProjectArgs, _args: UpArgs) -> anyhow::Result<i32> {
    Err(Failure::usage("up is not built yet").into())
}
