//! The TUI: state, update, views and widgets.
//!
//! One task owns `State`; terminal input, engine updates, log batches, stats and timers arrive
//! as `Msg`s; `update` changes the state and returns `Effect`s; `views` draw the state.

#[doc(hidden)]
pub mod fixtures;
pub mod logbuf;
pub mod logview;
pub mod msg;
pub mod state;
pub mod update;
pub mod views;

use crate::cli::ProjectArgs;
use crate::exit::Failure;

pub async fn run(_project: &ProjectArgs) -> anyhow::Result<i32> {
    Err(Failure::usage("the TUI is not built yet").into())
}
