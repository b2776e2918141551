//! The log pane of a scaled service: every replica's output merged into the service's one
//! stream, each line prefixed `#N | ` as `docker compose logs` prefixes `name-N |`.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::ContainerId;
use crate::engine::logs::{LogBatch, LogEvent, LogStart};
use crate::ops::backend::{Backend, Target};

/// Batches in flight from the replicas' streams to the merge.
const MERGE_BOUND: usize = 16;

/// Follows each of `replicas` (compose's number, container) and sends their lines, prefixed,
/// as `service`'s; `Ended` once every replica's stream has ended (the first error, if any).
pub async fn follow<M, F>(
    target: Target,
    service: String,
    replicas: Vec<(u32, ContainerId)>,
    start: LogStart,
    cancel: CancellationToken,
    tx: mpsc::Sender<M>,
    wrap: F,
) where
    F: Fn(LogEvent) -> M + Send + 'static,
    M: Send + 'static,
{
    let (merged, mut rx) = mpsc::channel(MERGE_BOUND);
    let mut open = replicas.len();
    for (number, id) in replicas {
        let (target, service, cancel, merged) = (
            target.clone(),
            service.clone(),
            cancel.clone(),
            merged.clone(),
        );
        tokio::spawn(async move {
            let backend = Backend::Container(id);
            let tag = move |event| (number, event);
            target
                .follow_logs(backend, service, start, cancel, merged, tag)
                .await;
        });
    }
    drop(merged);
    let mut error = None;
    while let Some((number, event)) = rx.recv().await {
        let event = match event {
            LogEvent::Lines(batch) => LogEvent::Lines(prefixed(&batch, number)),
            LogEvent::Ended(e) => {
                error = error.or(e);
                open -= 1;
                if open > 0 {
                    continue;
                }
                LogEvent::Ended(error.take())
            }
        };
        if tx.send(wrap(event)).await.is_err() {
            return;
        }
    }
}

/// Follows one replica that appeared while `service`'s pane was streaming: its lines, from
/// its first, join the pane's stream prefixed `#number | `. The pane's stream says when it
/// ends; this one's end (its container stopping) is not the pane's.
pub async fn join<M, F>(
    target: Target,
    service: String,
    number: u32,
    id: ContainerId,
    cancel: CancellationToken,
    tx: mpsc::Sender<M>,
    wrap: F,
) where
    F: Fn(LogEvent) -> M + Send + 'static,
    M: Send + 'static,
{
    let (lines, mut rx) = mpsc::channel(MERGE_BOUND);
    let start = LogStart {
        tail: LogStart::ALL,
        since: None,
        follow: true,
    };
    let follow = tokio::spawn(async move {
        target
            .follow_logs(Backend::Container(id), service, start, cancel, lines, |e| e)
            .await;
    });
    while let Some(event) = rx.recv().await {
        match event {
            LogEvent::Lines(batch) => {
                if tx
                    .send(wrap(LogEvent::Lines(prefixed(&batch, number))))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            LogEvent::Ended(Some(error)) => {
                tracing::warn!(number, %error, "a replica's log stream ended");
            }
            LogEvent::Ended(None) => {}
        }
    }
    follow.abort();
}

/// `batch` with `#number | ` before every line.
pub fn prefixed(batch: &LogBatch, number: u32) -> LogBatch {
    let tag = format!("#{number} | ");
    let mut out = LogBatch::default();
    for line in batch.iter() {
        out.push(line.stream, line.ts, &format!("{tag}{}", line.text));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::logs::LogStream;

    #[test]
    fn every_line_is_tagged_with_its_replica() {
        let mut batch = LogBatch::default();
        batch.push(LogStream::Stdout, None, "ready");
        batch.push(LogStream::Stderr, None, "oops");
        let out = prefixed(&batch, 2);
        let lines: Vec<(LogStream, &str)> = out.iter().map(|l| (l.stream, l.text)).collect();
        assert_eq!(
            lines,
            vec![
                (LogStream::Stdout, "#2 | ready"),
                (LogStream::Stderr, "#2 | oops")
            ]
        );
    }
}
