//! Training data: every accepted action becomes one JSON line in
//! `TRAINING_DATA_PATH/actions-YYYY-MM-DD.jsonl`, written by one background task through a
//! bounded channel. A request never waits on the disk: when the channel is full the line is
//! dropped and counted, and a failing disk is logged, never turned into a failed request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Lines buffered between requests and the writer.
const CAPACITY: usize = 16_384;
/// Lines written per batch before a flush.
const BATCH: usize = 512;
/// At most one "disk failing" log line per this interval.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One accepted action, as written to the training file.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingRecord {
    pub ts: String,
    pub day: String,
    pub action_id: i64,
    pub player_id: String,
    pub action: String,
    pub quantity: i64,
    pub reward_sila: String,
    pub capped: bool,
    pub metadata: Option<serde_json::Value>,
}

/// The sending side, held by the request handlers.
#[derive(Clone)]
pub struct TrainingSink {
    tx: mpsc::Sender<TrainingRecord>,
    dropped: Arc<AtomicU64>,
}

/// The writer task; `finish` drains the channel and flushes.
pub struct TrainingWriter {
    task: JoinHandle<()>,
}

impl TrainingSink {
    /// Queues a record without waiting.
    pub fn send(&self, record: TrainingRecord) {
        if self.tx.try_send(record).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "training data writer is behind; lines dropped");
            }
        }
    }
}

/// Starts the writer for `dir`; the channel closes when every sink is dropped.
pub fn start(dir: PathBuf) -> (TrainingSink, TrainingWriter) {
    let (tx, rx) = mpsc::channel(CAPACITY);
    let task = tokio::spawn(write_loop(dir, rx));
    (
        TrainingSink {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        },
        TrainingWriter { task },
    )
}

impl TrainingWriter {
    /// Waits until every queued line is on disk (call after dropping all sinks).
    pub async fn finish(self) {
        if let Err(e) = self.task.await {
            tracing::error!("training data writer failed: {e}");
        }
    }
}

struct OpenFile {
    day: String,
    file: tokio::io::BufWriter<tokio::fs::File>,
}

async fn open(dir: &Path, day: &str) -> std::io::Result<OpenFile> {
    tokio::fs::create_dir_all(dir).await?;
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("actions-{day}.jsonl")))
        .await?;
    Ok(OpenFile {
        day: day.to_string(),
        file: tokio::io::BufWriter::with_capacity(256 * 1024, file),
    })
}

async fn write_loop(dir: PathBuf, mut rx: mpsc::Receiver<TrainingRecord>) {
    let mut current: Option<OpenFile> = None;
    let mut batch = Vec::with_capacity(BATCH);
    let mut last_error: Option<tokio::time::Instant> = None;
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let result = write_batch(&dir, &mut current, &batch).await;
        batch.clear();
        if let Err(e) = result {
            current = None;
            if last_error.is_none_or(|t| t.elapsed() >= ERROR_LOG_INTERVAL) {
                tracing::error!(dir = %dir.display(), "cannot write training data: {e}");
                last_error = Some(tokio::time::Instant::now());
            }
        }
    }
    if let Some(mut f) = current
        && let Err(e) = f.file.flush().await
    {
        tracing::error!(dir = %dir.display(), "cannot flush training data: {e}");
    }
}

async fn write_batch(
    dir: &Path,
    current: &mut Option<OpenFile>,
    batch: &[TrainingRecord],
) -> std::io::Result<()> {
    for record in batch {
        if current.as_ref().is_none_or(|f| f.day != record.day) {
            if let Some(mut old) = current.take() {
                old.file.flush().await?;
            }
            *current = Some(open(dir, &record.day).await?);
        }
        let Some(f) = current.as_mut() else { continue };
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        f.file.write_all(&line).await?;
    }
    if let Some(f) = current.as_mut() {
        f.file.flush().await?;
    }
    Ok(())
}
