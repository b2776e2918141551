//! Gaian, the governance server: player actions to SILA rewards.
//!
//! `rules` (YAML, hot reload) · `store` (sqlx: SQLite or PostgreSQL) · `cache` (Redis) ·
//! `training` (JSON-lines writer) · `health` (background probes) · `api` (axum routes,
//! errors, OpenAPI) · `server` (start/stop) · `image` (container image) · `healthcheck`.

pub mod api;
pub mod batch;
pub mod cache;
pub mod health;
pub mod healthcheck;
pub mod image;
pub mod money;
pub mod rules;
pub mod server;
pub mod store;
pub mod training;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::exit::{self, Failure};

/// `devtui gaian ...`: Gaian's own commands, with its own argument types.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the governance server.
    Serve(ServeArgs),
    /// Exit 0 only when the server's /health says healthy (for container HEALTHCHECKs).
    Healthcheck(HealthcheckArgs),
    /// Build the Gaian container image from the running executable.
    Image(ImageArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,
    /// Rules file (YAML); default: GAIAN_CONFIG, else the embedded rules.
    #[arg(long, env = "GAIAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// postgres://… or sqlite:PATH; default: an SQLite file under the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// redis://…; default: no cache.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Directory for actions-YYYY-MM-DD.jsonl; default: under the data directory.
    #[arg(long, env = "TRAINING_DATA_PATH")]
    pub training_data_path: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Health URL to probe.
    #[arg(long, default_value = "http://127.0.0.1:8000/health")]
    pub url: String,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Image tag.
    #[arg(long, default_value = "devtui/gaian:latest")]
    pub tag: String,
    /// Base image for the runtime stage.
    #[arg(long, env = "DEVTUI_BASE_IMAGE")]
    pub base_image: Option<String>,
    /// Only write the build context (Dockerfile + this executable) into DIR, do not build;
    /// the bundled compose stack builds `gaian` from such a directory.
    #[arg(long, value_name = "DIR")]
    pub context: Option<PathBuf>,
}

pub async fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Serve(args) => serve(args).await,
        Command::Healthcheck(args) => healthcheck::run(&args.url).await,
        Command::Image(args) => match args.context {
            Some(dir) => {
                image::prepare_context_async(dir.clone())
                    .await
                    .map_err(|e| {
                        Failure::new(
                            exit::FAILED,
                            format!("cannot write the build context to {}: {e}", dir.display()),
                        )
                    })?;
                eprintln!("devtui: build context written to {}", dir.display());
                Ok(exit::OK)
            }
            None => image::build(&args.tag, args.base_image.as_deref()).await,
        },
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Resolves flags, then environment (clap reads both), then defaults.
pub fn config_from(args: &ServeArgs) -> anyhow::Result<server::Config> {
    let database =
        store::Database::from_url(args.database_url.as_deref()).map_err(Failure::usage)?;
    Ok(server::Config {
        addr: args.addr,
        rules_path: args.config.clone(),
        database,
        redis_url: args.redis_url.clone(),
        training_dir: Some(
            args.training_data_path
                .clone()
                .unwrap_or_else(|| crate::paths::data_dir().join("gaian").join("training")),
        ),
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<i32> {
    init_logging(args.log_format);
    let config = config_from(&args)?;
    let server = server::Server::start(config).await?;
    let cancel = server.cancel_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        cancel.cancel();
    });
    server.wait().await;
    tracing::info!("stopped");
    Ok(exit::OK)
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}
