//! Gaian, the governance server: player actions to SILA rewards.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::cli::GaianCommand;
use crate::exit::Failure;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,
    /// Rules file (YAML); default: GAIAN_CONFIG, else the embedded rules.
    #[arg(long, env = "GAIAN_CONFIG")]
    pub config: Option<PathBuf>,
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
}

pub async fn run(_cmd: GaianCommand) -> anyhow::Result<i32> {
    Err(Failure::usage("gaian is not built yet").into())
}
