//! Starting and stopping Gaian: rules, database, cache, health monitor, training writer and
//! the HTTP server, in that order; graceful shutdown in reverse.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::api::{self, AppState, Inner};
use super::cache::Cache;
use super::health::Health;
use super::rules::{Rules, RulesHandle};
use super::store::{Database, Store};
use super::training;
use crate::exit::{self, Failure};

/// How long start-up keeps retrying a database that is not reachable yet.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);
/// Shutdown (finish in-flight requests, flush) must end within this.
pub const SHUTDOWN_LIMIT: Duration = Duration::from_secs(9);

/// Everything Gaian needs to start, already resolved from flags, environment and defaults.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// A rules file to load and watch; `None` is the embedded rules.
    pub rules_path: Option<PathBuf>,
    pub database: Database,
    pub redis_url: Option<String>,
    /// Directory for the training-data files; `None` turns the writer off.
    pub training_dir: Option<PathBuf>,
}

/// A running Gaian.
pub struct Server {
    addr: SocketAddr,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    /// Starts Gaian and returns once it accepts connections.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let rules = match &config.rules_path {
            Some(path) => Rules::load(path).map_err(|e| Failure::usage(e.to_string()))?,
            None => Rules::embedded(),
        };
        let listener = tokio::net::TcpListener::bind(config.addr).await.map_err(|e| {
            Failure::new(
                exit::PREFLIGHT,
                format!(
                    "cannot listen on {}: {e} (another process holds the port? `ss -ltnp | grep :{}` shows it; pick another with --addr)",
                    config.addr,
                    config.addr.port()
                ),
            )
        })?;
        let addr = listener.local_addr()?;
        let store = connect(&config.database).await?;
        let cache = Cache::connect(config.redis_url.as_deref())
            .map_err(|e| Failure::usage(format!("REDIS_URL is not a valid Redis URL: {e}")))?;
        let cancel = CancellationToken::new();
        let health = Health::start(store.clone(), cache.clone(), cancel.child_token()).await;
        let handle = RulesHandle::new(rules);
        if let Some(path) = &config.rules_path {
            handle
                .watch(path.clone(), cancel.child_token())
                .with_context(|| format!("watching {}", path.display()))?;
        }
        let (sink, writer) = match &config.training_dir {
            Some(dir) => {
                let (s, w) = training::start(dir.clone());
                (Some(s), Some(w))
            }
            None => (None, None),
        };
        let state = AppState::new(Inner {
            store: store.clone(),
            rules: handle,
            cache: cache.clone(),
            health,
            training: sink,
        });
        let app = api::router(state);
        tracing::info!(
            %addr,
            database = %config.database.describe(),
            cache = if cache.enabled() { "redis" } else { "disabled" },
            rules = %config.rules_path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "embedded".into()),
            version = env!("CARGO_PKG_VERSION"),
            "gaian listening"
        );
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!("server failed: {e}");
            }
            // The router (and every training sink in it) is gone: drain and flush.
            if let Some(w) = writer {
                w.finish().await;
            }
            store.close().await;
        });
        Ok(Server { addr, cancel, task })
    }

    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cancelling this token starts a graceful shutdown.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops accepting, finishes in-flight requests, flushes, closes the database.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.wait().await;
    }

    /// Waits until the server has stopped (after a cancel), at most `SHUTDOWN_LIMIT`.
    pub async fn wait(mut self) {
        tokio::select! {
            _ = &mut self.task => {}
            _ = async { self.cancel.cancelled().await; tokio::time::sleep(SHUTDOWN_LIMIT).await } => {
                tracing::warn!("shutdown took longer than {SHUTDOWN_LIMIT:?}; exiting anyway");
                self.task.abort();
            }
        }
    }
}

async fn connect(db: &Database) -> anyhow::Result<Store> {
    let started = tokio::time::Instant::now();
    loop {
        match Store::connect(db).await {
            Ok(store) => return Ok(store),
            Err(e)
                if matches!(db, Database::Postgres(_)) && started.elapsed() < CONNECT_PATIENCE =>
            {
                tracing::warn!("waiting for {}: {e}", db.describe());
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                return Err(Failure::new(
                    exit::FAILED,
                    format!("cannot open the database ({}): {e}", db.describe()),
                )
                .into());
            }
        }
    }
}
