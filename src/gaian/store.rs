//! Storage: sqlx on PostgreSQL or an embedded SQLite file, migrations embedded and run at
//! start. Each action is applied in order: count it in today's counter row (which locks that
//! row), compute the reward from the counter, then add it to the balance, insert the ledger
//! row and add it to the counter. On PostgreSQL many actions share one transaction: the
//! group-commit writer (`batch`, migration 0004) applies them one after the other in one call
//! and answers after the commit. On SQLite each action is one transaction on the single
//! writer connection. A replayed idempotency key is answered from the row that holds it
//! before anything is locked or written.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::batch::Writer;
use super::rules::{Reward, Rule};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("src/gaian/migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("src/gaian/migrations/postgres");

/// How long a request waits for a pooled connection before it is answered 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// SQLite readers wait this long for the writer instead of failing with SQLITE_BUSY.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the data lives, from `DATABASE_URL` (unset: the SQLite file under the data dir).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Database {
    /// Reads a `DATABASE_URL` value; `None` is the default SQLite file.
    pub fn from_url(url: Option<&str>) -> Result<Database, String> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            None => Ok(Database::Sqlite(
                crate::paths::data_dir().join("gaian").join("gaian.db"),
            )),
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                Ok(Database::Postgres(u.to_string()))
            }
            Some(u) if u.starts_with("sqlite:") => {
                let path = u
                    .trim_start_matches("sqlite:")
                    .trim_start_matches("//")
                    .split('?')
                    .next()
                    .unwrap_or_default();
                if path.is_empty() || path == ":memory:" {
                    return Err("DATABASE_URL sqlite: needs a file path, e.g. sqlite:///var/lib/gaian/gaian.db".into());
                }
                Ok(Database::Sqlite(PathBuf::from(path)))
            }
            Some(_) => Err(
                "DATABASE_URL must start with postgres://, postgresql:// or sqlite: (or be unset for the embedded SQLite file)"
                    .into(),
            ),
        }
    }

    /// A description safe for logs (no password).
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(p) => format!("SQLite {}", p.display()),
            Database::Postgres(url) => {
                let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
                let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
                format!("PostgreSQL {}", host.split('?').next().unwrap_or(host))
            }
        }
    }
}

/// An action to record, validated and with its canonical request text.
#[derive(Debug, Clone)]
pub struct NewAction {
    pub player_id: String,
    pub action: String,
    pub quantity: i64,
    pub metadata: Option<String>,
    pub idempotency_key: Option<String>,
    /// Canonical JSON of the request, compared on idempotent replays.
    pub request: String,
    pub day: String,
    pub created_at: String,
}

/// A recorded action: one ledger row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LedgerRow {
    pub id: i64,
    pub player_id: String,
    pub action: String,
    pub quantity: i64,
    pub reward_micro: i64,
    pub balance_after_micro: i64,
    pub capped: bool,
    pub day: String,
    pub created_at: String,
    pub idempotency_key: Option<String>,
    pub request: String,
    pub metadata: Option<String>,
}

/// What recording an action did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A new ledger row; `daily` is the action's counters for the day after it.
    Recorded { row: LedgerRow, daily: DailyTotal },
    /// The idempotency key was seen with the same request: the original row.
    Replayed(LedgerRow),
    /// The idempotency key was seen with a different request.
    Conflict,
}

/// A player's balance.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Player {
    pub player_id: String,
    pub balance_micro: i64,
    pub created_at: String,
}

/// Totals of one action for one player (all time or one day).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ActionTotal {
    pub action: String,
    pub count: i64,
    pub quantity: i64,
    pub reward_micro: i64,
}

/// One action's counters for one player and day (what daily caps are checked against).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DailyTotal {
    pub action: String,
    pub count: i64,
    pub reward_micro: i64,
}

/// The database, with pools sized for its engine.
#[derive(Debug, Clone)]
pub enum Store {
    /// SQLite allows one writer: a one-connection pool serialises writes without
    /// SQLITE_BUSY retries, while readers use WAL snapshots in parallel.
    Sqlite { write: SqlitePool, read: SqlitePool },
    /// `probe` is a separate one-connection pool for the health monitor, so a busy request
    /// pool never makes a healthy database look down. Actions go through `writer`'s group
    /// commit.
    Postgres {
        pool: PgPool,
        probe: PgPool,
        writer: Writer,
    },
}

/// Runs one query body on the store's pool for `read`, `write` or `probe`, whichever engine
/// it is: the body is written once and sqlx still type-checks it for each engine (the arms
/// bind different pool types, so binds and rows are checked for each), which a shared
/// `sqlx::Any` pool would only find out at run time.
macro_rules! on_pool {
    ($store:expr, read, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite { read: $pool, .. } => $body,
            Store::Postgres { pool: $pool, .. } => $body,
        }
    };
    ($store:expr, write, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite { write: $pool, .. } => $body,
            Store::Postgres { pool: $pool, .. } => $body,
        }
    };
    // SQLite has no separate probe pool: its readers never wait behind a busy writer.
    ($store:expr, probe, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite { read: $pool, .. } => $body,
            Store::Postgres { probe: $pool, .. } => $body,
        }
    };
}

const SELECT_BY_KEY: &str = "SELECT id, player_id, action, quantity, reward_micro, balance_after_micro, capped, day, created_at, idempotency_key, request, metadata \
     FROM ledger WHERE idempotency_key = $1";
/// SQLite: counts the action and locks its (player, day, action) counter row until commit, so the
/// same action of one player is serialised; returns the position today and what was earned
/// before it (the newest values even after waiting for the lock).
const BUMP_DAILY: &str = "INSERT INTO daily_totals (player_id, day, action, count, reward_micro) VALUES ($1, $2, $3, 1, 0) \
     ON CONFLICT (player_id, day, action) DO UPDATE SET count = daily_totals.count + 1 \
     RETURNING count, reward_micro";
/// SQLite (one writer, no server-side functions): the same as steps of one transaction.
const ADD_BALANCE: &str = "INSERT INTO players (player_id, balance_micro, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT (player_id) DO UPDATE SET balance_micro = players.balance_micro + excluded.balance_micro \
     RETURNING balance_micro";
const INSERT_LEDGER: &str = "INSERT INTO ledger (player_id, action, quantity, reward_micro, balance_after_micro, capped, day, created_at, idempotency_key, request, metadata) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";
const ADD_DAILY_REWARD: &str = "UPDATE daily_totals SET reward_micro = reward_micro + $1 WHERE player_id = $2 AND day = $3 AND action = $4";
const SELECT_PLAYER: &str =
    "SELECT player_id, balance_micro, created_at FROM players WHERE player_id = $1";
const SELECT_TOTALS: &str = "SELECT action, CAST(COUNT(*) AS BIGINT) AS count, CAST(COALESCE(SUM(quantity), 0) AS BIGINT) AS quantity, \
     CAST(COALESCE(SUM(reward_micro), 0) AS BIGINT) AS reward_micro FROM ledger WHERE player_id = $1 GROUP BY action ORDER BY action";
const SELECT_DAY: &str = "SELECT action, count, reward_micro FROM daily_totals WHERE player_id = $1 AND day = $2 ORDER BY action";
const SELECT_LEDGER_PAGE: &str = "SELECT id, player_id, action, quantity, reward_micro, balance_after_micro, capped, day, created_at, idempotency_key, request, metadata \
     FROM ledger WHERE player_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";

/// What one recorded action returns: its ledger row and the day's counter after it.
pub(super) fn recorded(
    new: &NewAction,
    id: i64,
    balance_after: i64,
    reward: Reward,
    count: i64,
    day_reward: i64,
) -> Outcome {
    let row = LedgerRow {
        id,
        player_id: new.player_id.clone(),
        action: new.action.clone(),
        quantity: new.quantity,
        reward_micro: reward.micro,
        balance_after_micro: balance_after,
        capped: reward.capped,
        day: new.day.clone(),
        created_at: new.created_at.clone(),
        idempotency_key: new.idempotency_key.clone(),
        request: new.request.clone(),
        metadata: new.metadata.clone(),
    };
    let daily = DailyTotal {
        action: new.action.clone(),
        count,
        reward_micro: day_reward,
    };
    Outcome::Recorded { row, daily }
}

async fn record_sqlite(
    pool: &SqlitePool,
    new: &NewAction,
    rule: &Rule,
) -> Result<Outcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // A replay is answered before anything is written (one writer: nobody can take the key
    // between this look-up and the insert).
    if let Some(key) = &new.idempotency_key
        && let Some(row) = sqlx::query_as(SELECT_BY_KEY)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?
    {
        return Ok(replay_or_conflict(row, new));
    }
    let (count, earned): (i64, i64) = sqlx::query_as(BUMP_DAILY)
        .bind(&new.player_id)
        .bind(&new.day)
        .bind(&new.action)
        .fetch_one(&mut *tx)
        .await?;
    let reward = rule.reward(new.quantity, count, earned);
    let balance_after: i64 = sqlx::query_scalar(ADD_BALANCE)
        .bind(&new.player_id)
        .bind(reward.micro)
        .bind(&new.created_at)
        .fetch_one(&mut *tx)
        .await?;
    // A reused idempotency key fails here on the unique constraint: the caller answers from
    // the row that holds it.
    let id: i64 = sqlx::query_scalar(INSERT_LEDGER)
        .bind(&new.player_id)
        .bind(&new.action)
        .bind(new.quantity)
        .bind(reward.micro)
        .bind(balance_after)
        .bind(reward.capped)
        .bind(&new.day)
        .bind(&new.created_at)
        .bind(&new.idempotency_key)
        .bind(&new.request)
        .bind(&new.metadata)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(ADD_DAILY_REWARD)
        .bind(reward.micro)
        .bind(&new.player_id)
        .bind(&new.day)
        .bind(&new.action)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(recorded(
        new,
        id,
        balance_after,
        reward,
        count,
        earned + reward.micro,
    ))
}

pub(super) fn replay_or_conflict(row: LedgerRow, new: &NewAction) -> Outcome {
    let same = match (
        serde_json::from_str::<serde_json::Value>(&row.request),
        serde_json::from_str::<serde_json::Value>(&new.request),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => row.request == new.request,
    };
    if same {
        Outcome::Replayed(row)
    } else {
        Outcome::Conflict
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

impl Store {
    /// Opens the database and runs the embedded migrations.
    pub async fn connect(db: &Database) -> Result<Store, sqlx::Error> {
        match db {
            Database::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let opts = SqliteConnectOptions::from_str("sqlite://")?
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT);
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(opts.clone())
                    .await?;
                SQLITE_MIGRATIONS.run(&write).await?;
                let read = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(opts.read_only(true))
                    .await?;
                Ok(Store::Sqlite { write, read })
            }
            Database::Postgres(url) => {
                // The writer answers once its statement has committed: that is durable only
                // with synchronous commit, whatever the server's default says.
                let opts = PgConnectOptions::from_str(url)?.options([("synchronous_commit", "on")]);
                let pool = PgPoolOptions::new()
                    .max_connections(32)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(opts)
                    .await?;
                POSTGRES_MIGRATIONS.run(&pool).await?;
                let probe = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(1))
                    .connect_lazy(url)?;
                let writer = Writer::start(pool.clone());
                Ok(Store::Postgres {
                    pool,
                    probe,
                    writer,
                })
            }
        }
    }

    /// "postgres" or "sqlite".
    pub fn engine(&self) -> &'static str {
        match self {
            Store::Sqlite { .. } => "sqlite",
            Store::Postgres { .. } => "postgres",
        }
    }

    /// A cheap round trip, for the health monitor.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(self, probe, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop))
    }

    /// Records one action, durably, before returning. A reused idempotency key is caught by
    /// the unique constraint (also between concurrent requests): the action is not applied
    /// and the answer comes from the row that holds the key (a replay, or 409 for another
    /// body).
    pub async fn record_action(
        &self,
        new: &NewAction,
        rule: &Rule,
    ) -> Result<Outcome, sqlx::Error> {
        match self.record_once(new, rule).await {
            Err(e) if is_unique_violation(&e) && new.idempotency_key.is_some() => {
                // Another player's request holds the key: answer from the row that won.
                let key = new.idempotency_key.as_deref().unwrap_or_default();
                match self.by_key(key).await? {
                    Some(row) => Ok(replay_or_conflict(row, new)),
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    async fn record_once(&self, new: &NewAction, rule: &Rule) -> Result<Outcome, sqlx::Error> {
        match self {
            Store::Sqlite { write, .. } => record_sqlite(write, new, rule).await,
            Store::Postgres { writer, .. } => writer.record(new.clone(), rule.clone()).await,
        }
    }

    async fn by_key(&self, key: &str) -> Result<Option<LedgerRow>, sqlx::Error> {
        // SQLite: through the writer, which has just seen the row that holds the key.
        on_pool!(self, write, |pool| sqlx::query_as(SELECT_BY_KEY)
            .bind(key)
            .fetch_optional(pool)
            .await)
    }

    /// A player's balance, if the player has ever acted.
    pub async fn player(&self, player_id: &str) -> Result<Option<Player>, sqlx::Error> {
        on_pool!(self, read, |pool| sqlx::query_as(SELECT_PLAYER)
            .bind(player_id)
            .fetch_optional(pool)
            .await)
    }

    /// All-time totals per action for a player.
    pub async fn totals(&self, player_id: &str) -> Result<Vec<ActionTotal>, sqlx::Error> {
        on_pool!(self, read, |pool| sqlx::query_as(SELECT_TOTALS)
            .bind(player_id)
            .fetch_all(pool)
            .await)
    }

    /// One day's counters per action for a player.
    pub async fn day(&self, player_id: &str, day: &str) -> Result<Vec<DailyTotal>, sqlx::Error> {
        on_pool!(self, read, |pool| sqlx::query_as(SELECT_DAY)
            .bind(player_id)
            .bind(day)
            .fetch_all(pool)
            .await)
    }

    /// Ledger rows newest first, with ids below `before`.
    pub async fn ledger(
        &self,
        player_id: &str,
        limit: i64,
        before: i64,
    ) -> Result<Vec<LedgerRow>, sqlx::Error> {
        on_pool!(self, read, |pool| sqlx::query_as(SELECT_LEDGER_PAGE)
            .bind(player_id)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await)
    }

    /// Closes every connection (shutdown).
    pub async fn close(&self) {
        match self {
            Store::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Store::Postgres {
                pool,
                probe,
                writer,
            } => {
                // Queued actions are recorded and answered before the pool goes.
                writer.close().await;
                probe.close().await;
                pool.close().await;
            }
        }
    }
}
