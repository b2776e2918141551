//! Container log streaming through the Engine API: the last `tail` lines, then follow.
//!
//! Each stream runs until its `CancellationToken` is cancelled (its pane closed) or the
//! container's output ends; lines arriving together are sent as one batch, so a flood costs
//! one message per burst rather than one per line.

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::model::ContainerId;

/// Lines taken at most into one batch.
const MAX_BATCH: usize = 1024;

/// Which stream of the container a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One log line, split from the engine's timestamp.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogEntry {
    pub stream: LogStream,
    /// RFC 3339 timestamp from the engine.
    pub ts: Option<String>,
    pub text: String,
}

/// What a log stream reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LogEvent {
    Lines(Vec<LogEntry>),
    /// The stream ended: the container stopped (`None`) or the engine failed (`Some`).
    Ended(Option<String>),
}

/// Where to start reading a container's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStart {
    /// Lines of history to fetch first (`ALL`: every line kept).
    pub tail: usize,
    /// Only lines after this unix time (seconds), to resume after a restart.
    pub since: Option<i64>,
    /// Go on with live lines after the history; without it the stream ends (`Ended(None)`)
    /// once the history is sent.
    pub follow: bool,
}

impl LogStart {
    /// As `tail`: the whole history.
    pub const ALL: usize = usize::MAX;
}

/// Follows `container_id`'s logs (or reads its history alone, `start.follow` unset), sending
/// batches through `tx` (wrapped by `wrap`) until `cancel` fires or the output ends.
pub async fn follow<M, F>(
    docker: Docker,
    container_id: ContainerId,
    start: LogStart,
    cancel: CancellationToken,
    tx: mpsc::Sender<M>,
    wrap: F,
) where
    F: Fn(LogEvent) -> M,
{
    let tail = match start.tail {
        LogStart::ALL => "all".to_string(),
        n => n.to_string(),
    };
    let mut options = LogsOptionsBuilder::new()
        .follow(start.follow)
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .tail(&tail);
    if let Some(since) = start.since {
        options = options.since(i32::try_from(since).unwrap_or(i32::MAX));
    }
    let mut stream = docker
        .logs(container_id.as_str(), Some(options.build()))
        .ready_chunks(MAX_BATCH);
    let end = loop {
        let chunk = tokio::select! {
            _ = cancel.cancelled() => return,
            chunk = stream.next() => chunk,
        };
        let Some(chunk) = chunk else { break None };
        let mut lines = Vec::with_capacity(chunk.len());
        let mut error = None;
        for item in chunk {
            match item {
                Ok(output) => split_output(&output, &mut lines),
                Err(e) => error = Some(e.to_string()),
            }
        }
        if !lines.is_empty() && tx.send(wrap(LogEvent::Lines(lines))).await.is_err() {
            return;
        }
        if error.is_some() {
            break error;
        }
    };
    if !cancel.is_cancelled() {
        let _ = tx.send(wrap(LogEvent::Ended(end))).await;
    }
}

/// Splits one engine frame into lines, each with its timestamp prefix removed.
fn split_output(output: &LogOutput, out: &mut Vec<LogEntry>) {
    let (stream, bytes) = match output {
        LogOutput::StdErr { message } => (LogStream::Stderr, message),
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            (LogStream::Stdout, message)
        }
        LogOutput::StdIn { .. } => return,
    };
    let text = String::from_utf8_lossy(bytes);
    for line in text.split_terminator('\n') {
        out.push(parse_line(stream, line));
    }
}

/// Splits `2024-05-01T10:00:00.123456789Z message` into its timestamp and message.
pub fn parse_line(stream: LogStream, line: &str) -> LogEntry {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (ts, text) = match line.split_once(' ') {
        Some((ts, rest)) if looks_like_timestamp(ts) => (Some(ts.to_string()), rest),
        _ => (None, line),
    };
    LogEntry {
        stream,
        ts,
        text: text.to_string(),
    }
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20 && b[4] == b'-' && b[10] == b'T' && b[0].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_timestamp_from_message() {
        let e = parse_line(
            LogStream::Stderr,
            "2024-05-01T10:00:00.123456789Z hello world\r",
        );
        assert_eq!(e.ts.as_deref(), Some("2024-05-01T10:00:00.123456789Z"));
        assert_eq!(e.text, "hello world");
        let e = parse_line(LogStream::Stdout, "no timestamp here");
        assert_eq!(e.ts, None);
        assert_eq!(e.text, "no timestamp here");
    }

    #[test]
    fn one_frame_can_hold_several_lines() {
        let mut out = Vec::new();
        let frame = LogOutput::StdOut {
            message: "2024-05-01T10:00:00Z a\n2024-05-01T10:00:01Z b\n".into(),
        };
        split_output(&frame, &mut out);
        assert_eq!(
            out.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }
}
