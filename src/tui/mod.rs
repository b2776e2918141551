//! The TUI: state, update, views and widgets.
//!
//! One task owns `State`; terminal input, engine updates, log batches, stats and timers arrive
//! as `Msg`s; `update` changes the state and returns `Effect`s; `views` draw the state.

pub mod app;
pub mod command;
pub mod data;
#[doc(hidden)]
pub mod fixtures;
pub mod format;
pub mod logbuf;
pub mod logview;
pub mod msg;
pub mod replica_logs;
pub mod runner;
pub mod state;
pub mod terminal;
pub mod update;
pub mod views;

use std::io::IsTerminal;

use crate::exit::Failure;
use crate::project::Discovery;

/// Which devtui profile the TUI uses (its custom commands, its `backups:` section): the one
/// named, else the default when the project has it.
#[derive(Debug, Clone, Default)]
pub struct ProfileChoice {
    pub named: Option<String>,
    pub default: Option<String>,
}

/// `devtui` with no subcommand: the TUI on the discovered project.
pub async fn run(
    args: &Discovery,
    options: state::Options,
    profile: ProfileChoice,
) -> anyhow::Result<i32> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "the TUI needs a terminal; in scripts use `devtui status` (or `--json`)",
        )
        .into());
    }
    // The first frame does not wait for `docker compose config`: the TUI opens on the
    // project's name and the engine's containers, and the model (dependency order, services
    // without containers) follows. A compose file that does not parse still fails as usual.
    let location = crate::project::discover(args).map_err(Failure::from)?;
    let profile = crate::ops::run::choose(
        &location,
        profile.named.as_deref(),
        profile.default.as_deref(),
    );
    app::run(
        app::Start::Located(location),
        Default::default(),
        options,
        profile,
    )
    .await
}

/// The TUI on an already loaded project (what `devtui up` opens once the stack is up), with
/// the native services `up` started and the devtui profile it used.
pub async fn run_with(
    project: crate::project::Project,
    natives: crate::supervisor::set::NativeSet,
    options: state::Options,
    profile: Option<String>,
) -> anyhow::Result<i32> {
    app::run(app::Start::Loaded(project), natives, options, profile).await
}
