//! Redis cache of the daily counters (what daily caps are checked against). The database is
//! the source of truth: rewards are always computed inside the database transaction, and the
//! cache only serves the "today" view of a player. A failed cache write moves the cache to a
//! new key generation, so a value that may have missed an update is never read again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::store::DailyTotal;

/// Redis must answer within this, or the request goes on without it.
const TIMEOUT: Duration = Duration::from_millis(250);
/// Daily counters outlive their day by a day, then expire.
const TTL_SECONDS: u64 = 2 * 24 * 3600;
/// Sets the counter only if it moves forward, so out-of-order writes never go back in time.
const SET_IF_NEWER: &str = "local c = redis.call('GET', KEYS[1]) \
    local n = tonumber(ARGV[1]) \
    if (not c) or tonumber(string.match(c, '^(%d+):')) < n then \
      redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'EX', ARGV[3]) end return 1";

/// The cache, or `Disabled` when `REDIS_URL` is unset.
#[derive(Clone)]
pub enum Cache {
    Disabled,
    Redis(Arc<RedisCache>),
}

pub struct RedisCache {
    conn: ConnectionManager,
    generation: AtomicU64,
}

impl Cache {
    /// Connects lazily: Gaian starts even when Redis is down, and reconnects by itself.
    pub fn connect(url: Option<&str>) -> Result<Cache, redis::RedisError> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Cache::Disabled);
        };
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        let start = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
        Ok(Cache::Redis(Arc::new(RedisCache {
            conn,
            generation: AtomicU64::new(start),
        })))
    }

    pub fn enabled(&self) -> bool {
        matches!(self, Cache::Redis(_))
    }

    /// PING, for the health monitor.
    pub async fn ping(&self) -> Result<(), String> {
        let Cache::Redis(c) = self else {
            return Ok(());
        };
        let mut conn = c.conn.clone();
        let reply: Result<Result<String, _>, _> =
            tokio::time::timeout(TIMEOUT, redis::cmd("PING").query_async(&mut conn)).await;
        match reply {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    fn key(c: &RedisCache, player: &str, day: &str, action: &str) -> String {
        let generation = c.generation.load(Ordering::Relaxed);
        format!("gaian:daily:{generation}:{day}:{player}:{action}")
    }

    /// Records a day's counters after the transaction that produced them committed.
    pub async fn store(&self, player: &str, day: &str, totals: &[DailyTotal]) {
        let Cache::Redis(c) = self else { return };
        let mut pipe = redis::pipe();
        for t in totals {
            pipe.cmd("EVAL")
                .arg(SET_IF_NEWER)
                .arg(1)
                .arg(Self::key(c, player, day, &t.action))
                .arg(t.count)
                .arg(t.reward_micro)
                .arg(TTL_SECONDS)
                .ignore();
        }
        let mut conn = c.conn.clone();
        let done: Result<Result<(), _>, _> =
            tokio::time::timeout(TIMEOUT, pipe.query_async(&mut conn)).await;
        if !matches!(done, Ok(Ok(()))) {
            // This write may be lost: never trust the current keys again.
            c.generation.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("cache write failed; cache generation moved on");
        }
    }

    /// A day's counters for the given actions, or `None` when any is not cached (then the
    /// caller reads the database).
    pub async fn load(
        &self,
        player: &str,
        day: &str,
        actions: &[String],
    ) -> Option<Vec<DailyTotal>> {
        let Cache::Redis(c) = self else { return None };
        if actions.is_empty() {
            return Some(Vec::new());
        }
        let keys: Vec<String> = actions
            .iter()
            .map(|a| Self::key(c, player, day, a))
            .collect();
        let mut conn = c.conn.clone();
        let values: Vec<Option<String>> = match tokio::time::timeout(
            TIMEOUT,
            redis::cmd("MGET").arg(&keys).query_async(&mut conn),
        )
        .await
        {
            Ok(Ok(v)) => v,
            _ => return None,
        };
        let mut out = Vec::new();
        for (action, value) in actions.iter().zip(values) {
            let (count, reward) = value?
                .split_once(':')
                .and_then(|(c, r)| Some((c.parse::<i64>().ok()?, r.parse::<i64>().ok()?)))?;
            if count > 0 {
                out.push(DailyTotal {
                    action: action.clone(),
                    count,
                    reward_micro: reward,
                });
            }
        }
        Some(out)
    }
}
