//! Command-line interface: argument parsing and dispatch to `ops`, `tui` and `gaian`.

pub mod complete;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use crate::exit::{self, Failure};
use crate::ops::actions::Action;
use crate::project::Discovery;

#[derive(Debug, Parser)]
#[command(
    name = "devtui",
    version,
    about = "A terminal dev-environment manager for Docker Compose stacks"
)]
pub struct Cli {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// How the compose project is found, as `docker compose` does it.
#[derive(Debug, Clone, Default, Args)]
pub struct ProjectArgs {
    /// Compose file (repeatable), before the command as with docker compose (`devtui -f
    /// FILE logs -f`: after `logs`, -f follows); default: compose.yaml etc. in this directory
    /// or a parent, else the bundled stack.
    #[arg(short = 'f', long = "file")]
    pub files: Vec<PathBuf>,
    /// Compose project name.
    #[arg(short = 'p', long = "project-name", global = true)]
    pub project_name: Option<String>,
}

impl ProjectArgs {
    fn discovery(&self) -> Discovery {
        Discovery {
            files: self.files.clone(),
            project_name: self.project_name.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the machine, build and start the stack, wait until healthy, then open the TUI.
    Up(UpArgs),
    /// Stop and remove the stack's containers and networks.
    Down(DownArgs),
    /// Show each service's state and health.
    Status(JsonArgs),
    /// Check the machine: engine, compose, ports, disk, .env.
    Doctor(JsonArgs),
    /// Open an interactive shell (or run CMD) in a service's container.
    Exec(ExecArgs),
    /// Restart a service.
    Restart(ServiceArgs),
    /// Stop a service.
    Stop(ServiceArgs),
    /// Start a stopped service.
    Start(ServiceArgs),
    /// Build a service's image and recreate its container.
    Rebuild(ServiceArgs),
    /// Open a service's published URL in the browser.
    Open(ServiceArgs),
    /// Run a service natively (supervised by devtui) or in its container, on the same port
    /// against the same data; remembered for the next `up`.
    Mode(ModeArgs),
    /// Hot reload per service: `reload SERVICE on|off`, or list each service's state.
    Reload(ReloadArgs),
    /// Run N replicas of a service (compose's --scale).
    Scale(ScaleArgs),
    /// Show the services' output, merged and ordered by time (containers and native services).
    Logs(LogsArgs),
    /// List the project's devtui profiles (profiles/NAME.yaml): description, custom commands.
    Profiles(JsonArgs),
    /// Run a custom command of a devtui profile (its `commands:`); exits with its exit code.
    Run(RunArgs),
    /// Print a shell completion script (service and profile names complete too).
    Completions(CompletionsArgs),
    /// devtui's settings file ($XDG_CONFIG_HOME/devtui/config.yaml).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Back up databases (all of the project's when no service is named), or a service's
    /// volumes.
    Backup(BackupArgs),
    /// List backups, or verify or delete one.
    Backups(BackupsArgs),
    /// Restore a service from a backup: an id, a file, or --latest.
    Restore(RestoreArgs),
    /// Delete services' volumes and create them again (databases are backed up first).
    Reset(ResetArgs),
    /// The embedded Gaian governance server.
    #[command(subcommand)]
    Gaian(crate::gaian::Command),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Each service's history (--tail, --since) is merged by the engine's timestamps; with -f, live
lines then follow as they arrive, until every followed service stops or Ctrl-C.")]
pub struct LogsArgs {
    /// Go on printing new lines.
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines since a time: a duration back from now (10m, 1h30m), an RFC 3339 time
    /// (2024-05-01T10:00:00Z) or unix seconds.
    #[arg(long, value_name = "DURATION|TIME", value_parser = since)]
    pub since: Option<i64>,
    /// Lines from the end of each service's output, or `all`.
    #[arg(short = 'n', long, value_name = "N", default_value = "all", value_parser = crate::ops::logs::parse_tail)]
    pub tail: usize,
    /// Show each line's timestamp.
    #[arg(short, long)]
    pub timestamps: bool,
    /// No colours in the `service |` prefixes (also: NO_COLOR, theme no-color, not a terminal).
    #[arg(long)]
    pub no_color: bool,
    /// One JSON object a line: service, stream, time, line.
    #[arg(long)]
    pub json: bool,
    /// Services to show (default: all).
    #[arg(add = ArgValueCandidates::new(complete::services))]
    pub services: Vec<String>,
}

fn since(text: &str) -> Result<i64, String> {
    crate::ops::logs::parse_since(text, std::time::SystemTime::now())
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The command's name in the profile.
    #[arg(add = ArgValueCandidates::new(complete::commands))]
    pub name: String,
    /// devtui profile (profiles/NAME.yaml, or a file path) with the command. Default: the
    /// config file's `profile`, when the project has it.
    #[arg(short = 'P', long = "devtui-profile", value_name = "NAME", env = "DEVTUI_PROFILE", add = ArgValueCandidates::new(complete::profiles))]
    pub devtui_profile: Option<String>,
    /// Do not ask for confirmation (`confirm: true`).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// One JSON object a line: {command, stream, line} for the output, then {command,
    /// exit_code}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
The toggle is kept per project across runs; a running devtui TUI applies it at once (it owns
the file watchers). Without a saved toggle, the devtui profile's `reload:` gives the default.")]
pub struct ReloadArgs {
    /// The service to toggle (with on|off); none: list every service's state.
    #[arg(add = ArgValueCandidates::new(complete::services), requires = "state")]
    pub service: Option<String>,
    /// on or off.
    #[arg(value_parser = ["on", "off"])]
    pub state: Option<String>,
    /// devtui profile (profiles/NAME.yaml, or a file path) whose `reload:` gives the defaults.
    #[arg(short = 'P', long = "devtui-profile", value_name = "NAME", env = "DEVTUI_PROFILE", add = ArgValueCandidates::new(complete::profiles))]
    pub devtui_profile: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the config file's path.
    Path,
    /// Print the settings in force and where each comes from (file, environment, default).
    Show(JsonArgs),
    /// Open the config file in $VISUAL / $EDITOR (created with every setting commented out),
    /// then check it.
    Edit,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Enable a compose profile (repeatable).
    #[arg(long = "profile")]
    pub profiles: Vec<String>,
    /// Use a devtui profile (profiles/NAME.yaml, or a file path): which services run
    /// natively on this machine instead of in a container. Default: `profile` in the config
    /// file, when the project has it.
    #[arg(short = 'P', long = "devtui-profile", value_name = "NAME", add = ArgValueCandidates::new(complete::profiles))]
    pub devtui_profile: Option<String>,
    /// Do not open the TUI once the stack is up.
    #[arg(long)]
    pub no_tui: bool,
    /// Seconds to wait for every service to be healthy (default: the devtui profile's
    /// `timeout`, else 120).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Services to start (default: all in the active profiles).
    #[arg(add = ArgValueCandidates::new(complete::services))]
    pub services: Vec<String>,
}

impl UpArgs {
    fn options(&self, config: &crate::config::Config) -> crate::ops::up::UpOptions {
        crate::ops::up::UpOptions {
            compose_profiles: self.profiles.clone(),
            devtui_profile: self.devtui_profile.clone(),
            default_profile: config.profile.value.clone(),
            timeout: self.timeout.map(Duration::from_secs),
            services: self.services.clone(),
            keys: config.keys.map.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove the stack's named volumes (deletes data).
    #[arg(short = 'v', long)]
    pub volumes: bool,
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Service name.
    #[arg(add = ArgValueCandidates::new(complete::services))]
    pub service: String,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ModeArgs {
    /// Service name.
    #[arg(add = ArgValueCandidates::new(complete::services))]
    pub service: String,
    /// Where it runs from now on.
    pub mode: ModeArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    Native,
    Container,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Service name.
    pub service: String,
    /// Number of replicas.
    pub replicas: u32,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Service name.
    #[arg(add = ArgValueCandidates::new(complete::services))]
    pub service: String,
    /// Command to run (default: bash, else sh).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The devtui profile whose `backups:` section applies (where backups go, how many stay).
#[derive(Debug, Clone, Default, Args)]
pub struct BackupProfileArgs {
    /// devtui profile (profiles/NAME.yaml, or a file path) with a `backups:` section.
    #[arg(
        short = 'P',
        long = "devtui-profile",
        value_name = "NAME",
        env = "DEVTUI_PROFILE"
    )]
    pub devtui_profile: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Services to back up (default: every database service).
    pub services: Vec<String>,
    /// A note kept with the backup (and, made safe, in its file name).
    #[arg(long)]
    pub label: Option<String>,
    /// Stop a volume service while its volumes are copied, without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Print the backups made as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub profile: BackupProfileArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupsArgs {
    #[command(subcommand)]
    pub command: Option<BackupsCommand>,
    /// Only this service's backups.
    pub service: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub profile: BackupProfileArgs,
}

#[derive(Debug, Subcommand)]
pub enum BackupsCommand {
    /// Check a backup whole: its sha256 and its structure.
    Verify(BackupIdArgs),
    /// Delete a backup.
    Rm(BackupIdArgs),
}

#[derive(Debug, Args)]
pub struct BackupIdArgs {
    /// The backup's id (a unique prefix of 4 characters or more) or file name.
    pub id: String,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub profile: BackupProfileArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Service to restore.
    pub service: String,
    /// A backup's id, or the path of a backup or SQL file (.sql, .sql.gz, .sql.zst).
    #[arg(conflicts_with = "latest", required_unless_present = "latest")]
    pub backup: Option<String>,
    /// The service's newest backup.
    #[arg(long)]
    pub latest: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Skip the safety backup taken before the restore.
    #[arg(long)]
    pub no_backup: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub profile: BackupProfileArgs,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Services to reset.
    #[arg(conflicts_with = "all", required_unless_present = "all")]
    pub services: Vec<String>,
    /// Every service of the project.
    #[arg(long)]
    pub all: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Do not back the databases up first.
    #[arg(long)]
    pub no_backup: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub profile: BackupProfileArgs,
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    // Gaian serves many clients at once and gets every core. Everything else is one user's
    // terminal: one thread, so a log line goes from the engine's socket to the screen
    // without waking another thread (in a profile of a log flood, a quarter of the time was
    // the kernel switching between threads).
    let serves = matches!(
        cli.command,
        Some(Command::Gaian(crate::gaian::Command::Serve(_)))
    );
    let runtime = if serves {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("devtui: cannot start the async runtime: {e}");
            return exit::FAILED;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(err) => report(&err),
    }
}

/// Prints an error the way a user should see it and picks the exit code.
fn report(err: &anyhow::Error) -> i32 {
    if let Some(failure) = err.downcast_ref::<Failure>() {
        eprintln!("devtui: {failure}");
        return failure.code;
    }
    eprintln!("devtui: {err:#}");
    exit::FAILED
}

/// The settings in force; a broken config file stops the command (exit 2) before it starts.
fn settings() -> anyhow::Result<crate::config::Config> {
    Ok(crate::config::load().map_err(Failure::from)?)
}

async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let project = cli.project.discovery();
    match cli.command {
        None => {
            let config = settings()?;
            let options = crate::tui::state::Options::from_config(&config);
            // As for `devtui run` and the backup commands: DEVTUI_PROFILE, else the config
            // file's default when this project has it.
            let named = std::env::var("DEVTUI_PROFILE")
                .ok()
                .filter(|p| !p.is_empty());
            let profile = crate::tui::ProfileChoice {
                named,
                default: config.profile.value.clone(),
            };
            crate::tui::run(&project, options, profile).await
        }
        Some(Command::Up(args)) => up(&project, &args, &settings()?).await,
        Some(Command::Down(args)) => {
            let options = crate::ops::down::DownOptions {
                volumes: args.volumes,
            };
            crate::ops::down::run(&project, options).await
        }
        Some(Command::Status(args)) => crate::ops::status::run(&project, args.json).await,
        Some(Command::Doctor(args)) => crate::ops::doctor::run(&project, args.json).await,
        Some(Command::Exec(args)) => {
            crate::ops::exec::run(&project, &args.service, args.command).await
        }
        Some(Command::Restart(args)) => act(&project, Action::Restart, &args).await,
        Some(Command::Stop(args)) => act(&project, Action::Stop, &args).await,
        Some(Command::Start(args)) => act(&project, Action::Start, &args).await,
        Some(Command::Rebuild(args)) => act(&project, Action::Rebuild, &args).await,
        Some(Command::Open(args)) => act(&project, Action::Open, &args).await,
        Some(Command::Mode(args)) => {
            let mode = match args.mode {
                ModeArg::Native => crate::ops::mode::Mode::Native,
                ModeArg::Container => crate::ops::mode::Mode::Container,
            };
            crate::ops::mode::run(&project, &args.service, mode).await
        }
        Some(Command::Reload(args)) => {
            let config = settings()?;
            let options = crate::ops::reload::ReloadOptions {
                set: args.service.zip(args.state.map(|s| s == "on")),
                profile: args.devtui_profile,
                default_profile: config.profile.value,
                keys: config.keys.map,
                json: args.json,
            };
            crate::ops::reload::cli(&project, options).await
        }
        Some(Command::Scale(args)) => {
            crate::ops::scale::run(&project, &args.service, args.replicas).await
        }
        Some(Command::Logs(args)) => {
            let config = settings()?;
            let color = !args.no_color
                && !args.json
                && !config.no_color()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal();
            let options = crate::ops::logs::LogsOptions {
                follow: args.follow,
                since: args.since,
                tail: args.tail,
                timestamps: args.timestamps,
                color,
                json: args.json,
                services: args.services,
            };
            crate::ops::logs::run(&project, options).await
        }
        Some(Command::Profiles(args)) => {
            crate::ops::profiles::run(&project, args.json, &settings()?.keys.map)
        }
        Some(Command::Run(args)) => {
            let config = settings()?;
            let options = crate::ops::run::RunOptions {
                name: args.name,
                profile: args.devtui_profile,
                default_profile: config.profile.value,
                json: args.json,
                keys: config.keys.map,
            };
            crate::ops::run::run(&project, options, &prompter(args.yes)).await
        }
        Some(Command::Completions(args)) => complete::registration(args.shell),
        Some(Command::Config(cmd)) => config(cmd).await,
        Some(Command::Gaian(cmd)) => crate::gaian::run(cmd).await,
        Some(Command::Backup(args)) => backup(&project, args).await,
        Some(Command::Backups(args)) => backups(&project, args).await,
        Some(Command::Restore(args)) => restore(&project, args).await,
        Some(Command::Reset(args)) => reset(&project, args).await,
    }
}

async fn backup(project: &Discovery, args: BackupArgs) -> anyhow::Result<i32> {
    use crate::ops::backup::commands;
    let cmd = commands::BackupCommand {
        services: args.services,
        label: args.label,
        profile: args.profile.devtui_profile,
        json: args.json,
    };
    commands::backup(project, cmd, &prompter(args.yes)).await
}

async fn backups(project: &Discovery, args: BackupsArgs) -> anyhow::Result<i32> {
    use crate::ops::backup::commands;
    match args.command {
        None => {
            let cmd = commands::ListCommand {
                service: args.service,
                profile: args.profile.devtui_profile,
                json: args.json,
            };
            commands::list(project, cmd).await
        }
        Some(BackupsCommand::Verify(a)) => {
            commands::verify(project, &a.id, a.profile.devtui_profile.as_deref(), a.json).await
        }
        Some(BackupsCommand::Rm(a)) => {
            let profile = a.profile.devtui_profile.as_deref();
            commands::remove(project, &a.id, profile, a.json, &prompter(a.yes)).await
        }
    }
}

async fn restore(project: &Discovery, args: RestoreArgs) -> anyhow::Result<i32> {
    use crate::ops::backup::commands;
    let source = match &args.backup {
        Some(arg) => commands::source_of(arg),
        None => crate::ops::backup::load::Source::Latest,
    };
    let cmd = commands::RestoreCommand {
        service: args.service,
        source,
        profile: args.profile.devtui_profile,
        no_backup: args.no_backup,
        json: args.json,
    };
    commands::restore(project, cmd, &prompter(args.yes)).await
}

async fn reset(project: &Discovery, args: ResetArgs) -> anyhow::Result<i32> {
    use crate::ops::backup::commands;
    let cmd = commands::ResetCommand {
        services: args.services,
        all: args.all,
        no_backup: args.no_backup,
        profile: args.profile.devtui_profile,
        json: args.json,
    };
    commands::reset(project, cmd, &prompter(args.yes)).await
}

/// How the backup commands ask: on the terminal when there is one; `--yes` answers all.
fn prompter(yes: bool) -> crate::ops::backup::commands::Prompter {
    let ask = std::io::stdin().is_terminal().then(|| {
        Box::new(|question: &str| ask_terminal(question)) as crate::ops::backup::commands::Ask
    });
    crate::ops::backup::commands::Prompter { yes, ask }
}

/// `devtui up`: the stack, then the TUI when both ends are a terminal; without it, native
/// services run in the foreground. Either way they stop when devtui ends.
async fn up(
    project: &Discovery,
    args: &UpArgs,
    config: &crate::config::Config,
) -> anyhow::Result<i32> {
    let stack = crate::ops::up::run(project, args.options(config)).await?;
    let tui = !args.no_tui
        && stack.tui != Some(false)
        && std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal();
    let code = if tui {
        let options = crate::tui::state::Options::from_config(config);
        crate::tui::run_with(
            stack.project.clone(),
            stack.natives.clone(),
            options,
            stack.profile.clone(),
        )
        .await
    } else {
        stack.foreground().await
    };
    stack.shutdown().await;
    code
}

/// One action on one service; destructive ones are confirmed first.
async fn act(project: &Discovery, action: Action, args: &ServiceArgs) -> anyhow::Result<i32> {
    let ask = action.destructive() && !args.yes && settings()?.confirm.value;
    if ask && !confirm(action, &args.service)? {
        eprintln!("devtui: nothing done");
        return Ok(exit::FAILED);
    }
    crate::ops::actions::run(project, action, &args.service).await
}

/// Asks on the terminal; without one, `--yes` is required.
fn confirm(action: Action, service: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "{} {service} needs confirmation: pass --yes when not on a terminal",
            action.verb()
        ))
        .into());
    }
    Ok(ask_terminal(&format!("{} {service}?", action.verb()))?)
}

/// Asks a y/N question on the terminal (stderr, so stdout stays the command's output).
fn ask_terminal(question: &str) -> std::io::Result<bool> {
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `devtui config path|show|edit`.
async fn config(cmd: ConfigCommand) -> anyhow::Result<i32> {
    match cmd {
        ConfigCommand::Path => {
            println!("{}", crate::config::path().display());
            Ok(exit::OK)
        }
        ConfigCommand::Show(args) => {
            let config = settings()?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&config)?);
            } else {
                print!("{}", config.show());
            }
            Ok(exit::OK)
        }
        ConfigCommand::Edit => edit_config().await,
    }
}

/// Opens the config file in the user's editor (creating it from the template), then checks
/// what was saved.
async fn edit_config() -> anyhow::Result<i32> {
    let file = crate::config::path();
    if !file.exists() {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                Failure::new(
                    exit::FAILED,
                    format!("cannot create {}: {e}", dir.display()),
                )
            })?;
        }
        std::fs::write(&file, crate::config::TEMPLATE).map_err(|e| {
            Failure::new(
                exit::FAILED,
                format!("cannot write {}: {e}", file.display()),
            )
        })?;
    }
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".into());
    // Through the shell, as git does: EDITOR may carry arguments (`code -w`).
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&file)
        .status()
        .await
        .map_err(|e| Failure::new(exit::FAILED, format!("cannot run {editor}: {e}")))?;
    if !status.success() {
        return Err(Failure::new(
            exit::FAILED,
            format!("{editor} exited with {status}; the file was not checked"),
        )
        .into());
    }
    crate::config::load_file(&file).map_err(Failure::from)?;
    eprintln!("devtui: {} is valid", file.display());
    Ok(exit::OK)
}
