//! Health of the database and the cache, refreshed in the background so `GET /health` never
//! touches either (it reads two atomics).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::cache::Cache;
use super::store::Store;

/// Time between probes.
pub const INTERVAL: Duration = Duration::from_millis(1000);
/// A probe slower than this failed.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Failed probes in a row that mark a database seen up as down: one slow probe on a busy
/// machine is not an outage worth answering every write with 503.
const DOWN_AFTER: u32 = 2;

const UP: u8 = 0;
const DOWN: u8 = 1;
const DISABLED: u8 = 2;

/// The last probe results, shared with the handlers.
#[derive(Clone, Default)]
pub struct Health {
    database: Arc<AtomicU8>,
    cache: Arc<AtomicU8>,
}

impl Health {
    pub fn database_up(&self) -> bool {
        self.database.load(Ordering::Relaxed) == UP
    }

    /// "up", "down" or "disabled".
    pub fn cache_state(&self) -> &'static str {
        match self.cache.load(Ordering::Relaxed) {
            UP => "up",
            DISABLED => "disabled",
            _ => "down",
        }
    }

    /// Probes once now, then every `INTERVAL` until `cancel` fires. The first probe decides
    /// at once; later, the database counts as down after `DOWN_AFTER` failures in a row.
    pub async fn start(store: Store, cache: Cache, cancel: CancellationToken) -> Health {
        let health = Health::default();
        health.set_database(probe_database(&store).await);
        health.probe_cache(&cache).await;
        let h = health.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failed = 0;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let up = probe_database(&store).await;
                failed = if up { 0 } else { failed + 1 };
                if up || failed >= DOWN_AFTER {
                    h.set_database(up);
                }
                h.probe_cache(&cache).await;
            }
        });
        health
    }

    fn set_database(&self, up: bool) {
        let db = if up { UP } else { DOWN };
        let before = self.database.swap(db, Ordering::Relaxed);
        if before != db {
            match db {
                UP => tracing::info!("database is up"),
                _ => tracing::warn!("database is unreachable"),
            }
        }
    }

    async fn probe_cache(&self, cache: &Cache) {
        let c = if !cache.enabled() {
            DISABLED
        } else {
            match cache.ping().await {
                Ok(()) => UP,
                Err(e) => {
                    tracing::debug!("cache probe failed: {e}");
                    DOWN
                }
            }
        };
        let before = self.cache.swap(c, Ordering::Relaxed);
        if before != c && c == DOWN {
            tracing::warn!("cache (Redis) is unreachable; results stay exact from the database");
        }
    }
}

/// Whether the database answers within `PROBE_TIMEOUT`.
async fn probe_database(store: &Store) -> bool {
    match tokio::time::timeout(PROBE_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!("database probe failed: {e}");
            false
        }
        Err(_) => {
            tracing::debug!("database probe took longer than {PROBE_TIMEOUT:?}");
            false
        }
    }
}
