//! Container log streaming through the Engine API: the last `tail` lines, then follow.
//!
//! Each stream runs until its `CancellationToken` is cancelled (its pane closed) or the
//! container's output ends; lines arriving together are sent as one batch, so a flood costs
//! one message per burst rather than one per line, and their text shares one buffer, so it
//! costs an allocation per burst rather than per line. Logs are read on a thread of their
//! own (see `READER`).

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::{FutureExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::model::ContainerId;
use super::reading_thread::ReadingThread;

/// Frames taken at most into one batch.
const MAX_BATCH: usize = 1024;
/// How often the reader thread reads at most. The engine writes a flood one line at a
/// time, and each write wakes a thread waiting on the socket: read at once, a flood of
/// 100k lines/s woke the process thousands of times a second for a few lines each. Held off
/// for the rest of this interval, the lines pile up in the socket and the next read takes
/// them together. The interval must stay short: the socket holds only a few hundred lines
/// (the kernel counts each write's overhead against its buffer), and once it is full the
/// engine stops sending, so a longer gap caps how fast a flood can be shown (10 ms held it
/// to about 30k lines/s here).
const READ_INTERVAL: std::time::Duration = std::time::Duration::from_millis(1);

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
        if let Some(ts) = Timestamp::parse_utc(text.as_bytes()) {
            return Some(ts);
        }
        let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()?;
        u64::try_from(t.unix_timestamp_nanos()).ok().map(Timestamp)
    }

    /// The engine's own form, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, read without the general
    /// parser: every log line carries one, and in a flood the general parser cost more than
    /// the rest of a line's handling together. Anything else (an offset, a leap second) is
    /// left to the general parser.
    fn parse_utc(b: &[u8]) -> Option<Timestamp> {
        let digits = |range: std::ops::Range<usize>| -> Option<u64> {
            b.get(range)?.iter().try_fold(0u64, |n, c| {
                c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
            })
        };
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b.last() != Some(&b'Z')
        {
            return None;
        }
        let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        let nanos = match b[19] {
            b'Z' if b.len() == 20 => 0,
            b'.' if (22..=30).contains(&b.len()) => {
                let fraction = &b[20..b.len() - 1];
                digits(20..b.len() - 1)? * 10u64.pow(9 - fraction.len() as u32)
            }
            _ => return None,
        };
        if !(1970..=9999).contains(&year)
            || !(1..=12).contains(&month)
            || !(1..=days_in_month(year, month)).contains(&day)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
        Some(Timestamp(seconds * 1_000_000_000 + nanos))
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

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar, from 1970 on
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
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
///
/// The reading runs on the log reader thread (see `READER`), not on the caller's runtime:
/// there it may sleep between the gulps of a flood without holding up anything else.
pub async fn follow<M, F>(
    container_id: ContainerId,
    start: LogStart,
    cancel: CancellationToken,
    tx: mpsc::Sender<M>,
    wrap: F,
) where
    F: Fn(LogEvent) -> M + Send + 'static,
    M: Send + 'static,
{
    READER
        .run(move |engine| async move {
            match engine {
                Ok(docker) => read(docker, container_id, start, cancel, tx, wrap).await,
                Err(e) => {
                    let _ = tx.send(wrap(LogEvent::Ended(Some(e)))).await;
                }
            }
        })
        .await;
}

/// The thread that reads container logs. A flood reaches the process as one HTTP chunk per
/// line (the engine flushes each); sleeping between gulps (see `read`) lets it pile up in the
/// socket, so that one wake-up reads hundreds of lines.
static READER: ReadingThread = ReadingThread::new("devtui-logs", |runtime| {
    runtime.block_on(std::future::pending::<()>())
});

async fn read<M, F>(
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
        .fuse();
    let mut chunk = Vec::with_capacity(MAX_BATCH);
    let end = loop {
        let first = tokio::select! {
            _ = cancel.cancelled() => return,
            first = stream.next() => first,
        };
        let Some(first) = first else { break None };
        let woke = std::time::Instant::now();
        chunk.push(first);
        let dry = take_ready(&mut stream, &mut chunk).await;
        let bytes = chunk
            .iter()
            .map(|item| item.as_ref().map_or(0, |o| o.as_ref().len()))
            .sum();
        let mut lines = LogBatch::with_capacity(chunk.len(), bytes);
        let mut error = None;
        for item in chunk.drain(..) {
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
        // Blocking on purpose, on this thread of its own (see `READER`): a timer would be
        // woken by every line that arrives meanwhile. A batch that filled up reads on at once.
        let wait = READ_INTERVAL.saturating_sub(woke.elapsed());
        if dry && !wait.is_zero() && !cancel.is_cancelled() {
            std::thread::sleep(wait);
        }
    };
    if !cancel.is_cancelled() {
        let _ = tx.send(wrap(LogEvent::Ended(end))).await;
    }
}

/// Moves what the engine connection holds now into `chunk`, up to `MAX_BATCH` items, and
/// says whether it ran dry (rather than the batch filling up). "Now" includes what the
/// connection's task can read without waiting: hyper hands over one HTTP chunk per turn of
/// that task, so a `Pending` counts as dry only once that task has had its turn.
async fn take_ready<S: Stream + Unpin>(stream: &mut S, chunk: &mut Vec<S::Item>) -> bool {
    while chunk.len() < MAX_BATCH {
        if let Some(item) = stream.next().now_or_never() {
            match item {
                Some(item) => chunk.push(item),
                None => return true,
            }
            continue;
        }
        YieldOnce(false).await;
        match stream.next().now_or_never() {
            Some(Some(item)) => chunk.push(item),
            Some(None) | None => return true,
        }
    }
    false
}

/// Lets the runtime run the tasks already woken (the connection's) before this one goes on.
/// Unlike `tokio::task::yield_now`, it does not wait for a turn of the I/O driver (a
/// syscall per line in a flood).
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

fn split_output(output: &LogOutput, out: &mut LogBatch) {
    let (stream, bytes) = match output {
        LogOutput::StdErr { message } => (LogStream::Stderr, message),
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            (LogStream::Stdout, message)
        }
        LogOutput::StdIn { .. } => return,
    };
    // Checked the fast way first (a word at a time): almost every line is valid UTF-8, and
    // the lossy reading, which walks it a byte at a time, was 3% of a flood's profile.
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    };
    for line in text.split_terminator('\n') {
        let (ts, text) = split_timestamp(line);
        out.push(stream, ts, text);
    }
}

/// Splits `2024-05-01T10:00:00.123456789Z message` into its timestamp and message.
pub fn split_timestamp(line: &str) -> (Option<Timestamp>, &str) {
    let line = line.strip_suffix('\r').unwrap_or(line);
    // A timestamp is at most 35 bytes (nanoseconds and an offset): the space is looked for
    // there only, not along a long line that has none.
    let head = &line.as_bytes()[..line.len().min(36)];
    let split = head
        .iter()
        .position(|&c| c == b' ')
        .map(|i| (&line[..i], &line[i + 1..]));
    match split {
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

    /// The fast path reads exactly what the general RFC 3339 parser reads, over dates that
    /// cross months, leap days, centuries and fractions of every length.
    #[test]
    fn the_engine_form_parses_as_the_general_parser_does() {
        let general = |text: &str| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .ok()
                .and_then(|t| u64::try_from(t.unix_timestamp_nanos()).ok())
        };
        let mut seconds: u64 = 0;
        let mut checked = 0;
        while seconds < 4_200_000_000 {
            let t = time::OffsetDateTime::from_unix_timestamp(seconds as i64).expect("in range");
            for fraction in ["", ".1", ".12", ".000123", ".123456789", ".5000"] {
                let text = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}Z",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                );
                assert_eq!(
                    Timestamp::parse_utc(text.as_bytes()).map(|t| t.0),
                    general(&text),
                    "{text}"
                );
                checked += 1;
            }
            seconds += 997_003;
        }
        assert!(checked > 20_000);
        for odd in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00.1234567890Z",
            "2024-01-01T00:00:00+02:00",
            "2024-01-01 00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse_utc(odd.as_bytes()), None, "{odd}");
        }
        assert_eq!(
            Timestamp::parse("2024-01-01T02:00:00+02:00"),
            Timestamp::parse("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            Timestamp::parse("2024-02-29T00:00:00Z").map(|t| t.unix_seconds()),
            Some(1_709_164_800)
        );
    }

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
