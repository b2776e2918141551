//! Container log streaming through the Engine API: the last `tail` lines, then follow.
//!
//! Each stream runs until its `CancellationToken` is cancelled (its pane closed) or the
//! container's output ends; lines arriving together are sent as one batch, so a flood costs
//! one message per burst rather than one per line, and their text shares one buffer, so it
//! costs an allocation per burst rather than per line.

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::model::ContainerId;

/// Frames taken at most into one batch.
const MAX_BATCH: usize = 1024;
/// A batch at least this big means a flood: when it took all there was (fewer than
/// `MAX_BATCH` frames), the stream waits `FLOOD_GAP` before it reads again, so the engine's
/// output piles up in the socket and the next read takes a gulp of it instead of waking the
/// process for every few lines. A quiet stream never waits, nor one that is behind.
const FLOOD_BATCH: usize = 64;
/// Far below a frame (33 ms): a flood's lines still reach every frame.
const FLOOD_GAP: std::time::Duration = std::time::Duration::from_millis(10);

/// Which stream of the container a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// When a line was written: nanoseconds since the Unix epoch, as the engine stamped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Reads an RFC 3339 timestamp (`2024-05-01T10:00:00.123456789Z`).
    pub fn parse(text: &str) -> Option<Timestamp> {
        let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()?;
        u64::try_from(t.unix_timestamp_nanos()).ok().map(Timestamp)
    }

    pub fn now() -> Timestamp {
        Timestamp::from(std::time::SystemTime::now())
    }

    fn time(self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        i64::try_from(self.0 / 1_000_000_000).unwrap_or(i64::MAX)
    }

    /// RFC 3339 with nanoseconds, as the engine writes it.
    pub fn rfc3339(self) -> String {
        self.time()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    /// `HH:MM:SS.mmm` (UTC), what a log pane shows.
    pub fn clock(self) -> String {
        self.time()
            .format(time::macros::format_description!(
                "[hour]:[minute]:[second].[subsecond digits:3]"
            ))
            .unwrap_or_default()
    }
}

impl From<std::time::SystemTime> for Timestamp {
    fn from(t: std::time::SystemTime) -> Timestamp {
        let nanos = t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Timestamp(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Where one line of a batch ends in its text, and what else is known of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct LineMeta {
    end: u32,
    stream: LogStream,
    ts: Option<Timestamp>,
}

/// Log lines read together, their text in one buffer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogBatch {
    text: String,
    lines: Vec<LineMeta>,
}

/// One line of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub stream: LogStream,
    pub ts: Option<Timestamp>,
    pub text: &'a str,
}

impl LogBatch {
    pub fn with_capacity(lines: usize, bytes: usize) -> LogBatch {
        LogBatch {
            text: String::with_capacity(bytes),
            lines: Vec::with_capacity(lines),
        }
    }

    pub fn push(&mut self, stream: LogStream, ts: Option<Timestamp>, text: &str) {
        self.text.push_str(text);
        self.lines.push(LineMeta {
            end: u32::try_from(self.text.len()).unwrap_or(u32::MAX),
            stream,
            ts,
        });
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Line<'_>> + '_ {
        let starts = std::iter::once(0).chain(self.lines.iter().map(|m| m.end as usize));
        self.lines.iter().zip(starts).map(|(m, start)| Line {
            stream: m.stream,
            ts: m.ts,
            text: self.text.get(start..m.end as usize).unwrap_or_default(),
        })
    }

    /// The newest timestamp of the batch.
    pub fn last_ts(&self) -> Option<Timestamp> {
        self.lines.iter().rev().find_map(|m| m.ts)
    }
}

/// What a log stream reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LogEvent {
    Lines(LogBatch),
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
        let drained = chunk.len() < MAX_BATCH;
        let bytes = chunk
            .iter()
            .map(|item| item.as_ref().map_or(0, |o| o.as_ref().len()))
            .sum();
        let mut lines = LogBatch::with_capacity(chunk.len(), bytes);
        let mut error = None;
        for item in chunk {
            match item {
                Ok(output) => split_output(&output, &mut lines),
                Err(e) => error = Some(e.to_string()),
            }
        }
        let flood = drained && lines.len() >= FLOOD_BATCH;
        if !lines.is_empty() && tx.send(wrap(LogEvent::Lines(lines))).await.is_err() {
            return;
        }
        if error.is_some() {
            break error;
        }
        if flood {
            tokio::select! {
                _ = cancel.cancelled() => return,
                () = tokio::time::sleep(FLOOD_GAP) => {}
            }
        }
    };
    if !cancel.is_cancelled() {
        let _ = tx.send(wrap(LogEvent::Ended(end))).await;
    }
}

/// Splits one engine frame into lines, each with its timestamp prefix removed.
fn split_output(output: &LogOutput, out: &mut LogBatch) {
    let (stream, bytes) = match output {
        LogOutput::StdErr { message } => (LogStream::Stderr, message),
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            (LogStream::Stdout, message)
        }
        LogOutput::StdIn { .. } => return,
    };
    let text = String::from_utf8_lossy(bytes);
    for line in text.split_terminator('\n') {
        let (ts, text) = split_timestamp(line);
        out.push(stream, ts, text);
    }
}

/// Splits `2024-05-01T10:00:00.123456789Z message` into its timestamp and message.
pub fn split_timestamp(line: &str) -> (Option<Timestamp>, &str) {
    let line = line.strip_suffix('\r').unwrap_or(line);
    match line.split_once(' ') {
        Some((ts, rest)) if looks_like_timestamp(ts) => match Timestamp::parse(ts) {
            Some(ts) => (Some(ts), rest),
            None => (None, line),
        },
        _ => (None, line),
    }
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20 && b[4] == b'-' && b[10] == b'T' && b[0].is_ascii_digit()
}

/// The last `n` lines the container wrote (stdout and stderr), through the Engine API.
pub async fn last_lines(docker: &Docker, id: &ContainerId, n: usize) -> Vec<String> {
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail(&n.to_string())
        .build();
    let mut stream = docker.logs(id.as_str(), Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&chunk.to_string());
    }
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_timestamp_from_message() {
        let (ts, text) = split_timestamp("2024-05-01T10:00:00.123456789Z hello world\r");
        let ts = ts.expect("a timestamp");
        assert_eq!(ts.rfc3339(), "2024-05-01T10:00:00.123456789Z");
        assert_eq!(ts.clock(), "10:00:00.123");
        assert_eq!(ts.unix_seconds(), 1_714_557_600);
        assert_eq!(text, "hello world");
        assert_eq!(
            split_timestamp("no timestamp here"),
            (None, "no timestamp here")
        );
        assert_eq!(
            split_timestamp("2024-05-01Tnot a time"),
            (None, "2024-05-01Tnot a time")
        );
    }

    #[test]
    fn one_frame_can_hold_several_lines_and_a_batch_shares_one_buffer() {
        let mut out = LogBatch::default();
        let frame = LogOutput::StdOut {
            message: "2024-05-01T10:00:00Z a\n2024-05-01T10:00:01Z bc\n".into(),
        };
        split_output(&frame, &mut out);
        let err = LogOutput::StdErr {
            message: "plain\n".into(),
        };
        split_output(&err, &mut out);
        let lines: Vec<_> = out.iter().map(|l| (l.stream, l.text)).collect();
        assert_eq!(
            lines,
            [
                (LogStream::Stdout, "a"),
                (LogStream::Stdout, "bc"),
                (LogStream::Stderr, "plain")
            ]
        );
        assert_eq!(out.last_ts(), Timestamp::parse("2024-05-01T10:00:01Z"));
        let json = serde_json::to_string(&out).unwrap();
        assert_eq!(serde_json::from_str::<LogBatch>(&json).unwrap(), out);
    }
}
