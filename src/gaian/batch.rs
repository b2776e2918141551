//! Group commit on PostgreSQL: writer tasks collect the actions that are waiting, record them
//! in one transaction (one call of `gaian_record_actions`, migrations 0004-0005) and answer each
//! request only after that transaction has committed. One commit then carries many actions,
//! so the commit rate no longer caps the action rate.
//!
//! Actions are spread over the writers by player, so one player's actions stay in arrival
//! order in one queue and two writers never lock the same player's rows (no deadlocks between
//! batches, no waiting on each other's commits). A writer takes whatever is queued, up to
//! [`MAX_BATCH`], without waiting for more: under load the next batch fills while the current
//! one commits, and a lone request is not delayed.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use sqlx::postgres::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::rules::{Reward, Rule};
use super::store::{LedgerRow, NewAction, Outcome, recorded, replay_or_conflict};

/// Most actions in one transaction: each runs in its own subtransaction, and a backend
/// tracks 64 of those before it overflows into a slower path for every snapshot taken in
/// the cluster.
pub const MAX_BATCH: usize = 64;
/// Writer tasks (each uses one pooled connection while it records a batch): two keep one
/// batch executing while the other commits.
pub const WRITERS: usize = 2;
/// Actions queued per writer before a request waits to enqueue (back-pressure).
const QUEUE: usize = 1024;
/// A batch that fails as a whole on a transient error (deadlock, serialization) is retried
/// this many times before its actions get the error.
const RETRIES: usize = 3;

const RECORD_BATCH: &str = "SELECT o_outcome, o_ledger_id, o_balance_after, o_reward, o_capped, o_day_count, o_day_reward, o_error \
     FROM gaian_record_actions($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
const SELECT_BY_KEYS: &str = "SELECT id, player_id, action, quantity, reward_micro, balance_after_micro, capped, day, created_at, idempotency_key, request, metadata \
     FROM ledger WHERE idempotency_key = ANY($1)";

type Reply = oneshot::Sender<Result<Outcome, sqlx::Error>>;

/// One action waiting for its batch.
struct Job {
    new: NewAction,
    rule: Rule,
    reply: Reply,
}

/// The writers' queues; cheap to clone. [`Writer::close`] drains them.
#[derive(Clone)]
pub struct Writer {
    queues: Arc<Mutex<Option<Vec<mpsc::Sender<Job>>>>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

/// The error a caller gets once the writers have stopped (shutdown): the same class as a
/// closed pool, so it is answered 503.
fn closed() -> sqlx::Error {
    sqlx::Error::PoolClosed
}

impl Writer {
    /// Starts [`WRITERS`] writer tasks on `pool`.
    pub fn start(pool: PgPool) -> Writer {
        let mut queues = Vec::with_capacity(WRITERS);
        let mut tasks = Vec::with_capacity(WRITERS);
        for _ in 0..WRITERS {
            let (tx, rx) = mpsc::channel(QUEUE);
            queues.push(tx);
            tasks.push(tokio::spawn(run(pool.clone(), rx)));
        }
        Writer {
            queues: Arc::new(Mutex::new(Some(queues))),
            tasks: Arc::new(Mutex::new(tasks)),
        }
    }

    /// Records one action in the next batch of its player's writer; returns once that batch
    /// has committed (or failed).
    pub async fn record(&self, new: NewAction, rule: Rule) -> Result<Outcome, sqlx::Error> {
        let queue = {
            let queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            let Some(queues) = queues.as_ref() else {
                return Err(closed());
            };
            let mut h = DefaultHasher::new();
            new.player_id.hash(&mut h);
            queues[(h.finish() % queues.len() as u64) as usize].clone()
        };
        let (reply, answer) = oneshot::channel();
        queue
            .send(Job { new, rule, reply })
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Stops taking actions, records every queued one, and waits for the writers to finish.
    pub async fn close(&self) {
        // Dropping the senders ends each writer's loop once its queue is empty.
        drop(self.queues.lock().unwrap_or_else(|p| p.into_inner()).take());
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// One writer: take what is queued (at least one action), record it, answer, repeat.
async fn run(pool: PgPool, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (batch, replies): (Vec<_>, Vec<_>) =
            jobs.drain(..).map(|j| ((j.new, j.rule), j.reply)).unzip();
        let started = tokio::time::Instant::now();
        let results = record_batch(&pool, &batch).await;
        tracing::debug!(
            target: "gaian::batch",
            actions = batch.len(),
            latency_us = started.elapsed().as_micros() as u64,
            "batch committed"
        );
        for (reply, result) in replies.into_iter().zip(results) {
            // The requester may have gone (client hung up): its action is recorded anyway.
            let _ = reply.send(result);
        }
    }
}

/// A copy of a batch-wide error for each of its actions, of the same class (unavailable or
/// internal), since `sqlx::Error` cannot be cloned.
fn copy_error(e: &sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// Deadlock or serialization failure: nothing was committed and a new try may succeed.
fn transient(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "40P01" || c == "40001")
}

/// Records `batch` in one transaction, in order, and returns one result per action, all
/// known only after the commit. Public for the tests that compare it with one-by-one
/// recording; requests go through [`Writer::record`].
pub async fn record_batch(
    pool: &PgPool,
    batch: &[(NewAction, Rule)],
) -> Vec<Result<Outcome, sqlx::Error>> {
    let mut tries = 0;
    let rows = loop {
        match commit_batch(pool, batch).await {
            Ok(rows) => break rows,
            Err(e) if transient(&e) && tries < RETRIES => {
                tries += 1;
                tracing::warn!("batch of {} actions retried: {e}", batch.len());
            }
            Err(e) => {
                tracing::error!("batch of {} actions failed: {e}", batch.len());
                return batch.iter().map(|_| Err(copy_error(&e))).collect();
            }
        }
    };
    // Duplicates are answered from the rows that hold their keys, now committed (an earlier
    // action of this batch, or of another transaction).
    let keys: Vec<String> = rows
        .iter()
        .zip(batch)
        .filter(|(row, _)| row.0 == "duplicate")
        .filter_map(|(_, (new, _))| new.idempotency_key.clone())
        .collect();
    let holders: HashMap<String, LedgerRow> = if keys.is_empty() {
        HashMap::new()
    } else {
        let found = sqlx::query_as::<_, LedgerRow>(SELECT_BY_KEYS)
            .bind(&keys)
            .fetch_all(pool)
            .await;
        match found {
            Ok(rows) => rows
                .into_iter()
                .filter_map(|row| row.idempotency_key.clone().map(|k| (k, row)))
                .collect(),
            Err(e) => {
                tracing::error!("looking up {} replayed keys failed: {e}", keys.len());
                HashMap::new()
            }
        }
    };
    rows.into_iter()
        .zip(batch)
        .map(|(row, (new, _))| outcome(row, new, &holders))
        .collect()
}

type BatchRow = (
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<bool>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// One transaction: the batch function's row per action, returned after the commit.
async fn commit_batch(
    pool: &PgPool,
    batch: &[(NewAction, Rule)],
) -> Result<Vec<BatchRow>, sqlx::Error> {
    let column = |f: fn(&(NewAction, Rule)) -> String| batch.iter().map(f).collect::<Vec<_>>();
    let optional =
        |f: fn(&(NewAction, Rule)) -> Option<String>| batch.iter().map(f).collect::<Vec<_>>();
    let number = |f: fn(&(NewAction, Rule)) -> i64| batch.iter().map(f).collect::<Vec<_>>();
    // One statement outside an explicit transaction: PostgreSQL commits it (synchronously,
    // to disk) before it reports the statement done, and `fetch_all` returns only after that
    // report, with the commit's error if it failed. So the rows below are durable, at one
    // round trip per batch instead of three (BEGIN, the call, COMMIT).
    let rows: Vec<BatchRow> = sqlx::query_as(RECORD_BATCH)
        .bind(column(|(n, _)| n.player_id.clone()))
        .bind(column(|(n, _)| n.action.clone()))
        .bind(number(|(n, _)| n.quantity))
        .bind(column(|(n, _)| n.day.clone()))
        .bind(column(|(n, _)| n.created_at.clone()))
        .bind(optional(|(n, _)| n.idempotency_key.clone()))
        .bind(column(|(n, _)| n.request.clone()))
        .bind(optional(|(n, _)| n.metadata.clone()))
        .bind(number(|(_, r)| r.base_reward))
        .bind(number(|(_, r)| r.quantity_multiplier))
        .bind(number(|(_, r)| r.decay))
        .bind(batch.iter().map(|(_, r)| r.daily_cap).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    if rows.len() != batch.len() {
        return Err(sqlx::Error::Protocol(format!(
            "gaian_record_actions returned {} rows for {} actions",
            rows.len(),
            batch.len()
        )));
    }
    Ok(rows)
}

fn outcome(
    row: BatchRow,
    new: &NewAction,
    holders: &HashMap<String, LedgerRow>,
) -> Result<Outcome, sqlx::Error> {
    match row {
        (kind, Some(id), Some(balance), Some(micro), Some(capped), Some(count), Some(day), _)
            if kind == "recorded" =>
        {
            Ok(recorded(
                new,
                id,
                balance,
                Reward { micro, capped },
                count,
                day,
            ))
        }
        (kind, ..) if kind == "duplicate" => {
            let holder = new
                .idempotency_key
                .as_ref()
                .and_then(|k| holders.get(k))
                .cloned();
            holder
                .map(|h| replay_or_conflict(h, new))
                .ok_or_else(|| sqlx::Error::Protocol("duplicate key without its row".into()))
        }
        (kind, .., error) => Err(sqlx::Error::Protocol(format!(
            "action {kind} in its batch: {}",
            error.unwrap_or_default()
        ))),
    }
}
