//! `devtui logs`: the output of a project's services, merged into one stream with a
//! `service |` prefix (or one JSON object a line), containers and native services alike.
//!
//! Order: the history (`--tail`, `--since`) of every service is merged by the engine's
//! timestamps, a k-way merge that holds one batch per service, so it is exact and its memory
//! does not grow with the history. With `-f` each service is read through one following
//! stream (no gap, no line twice); its history counts as read once the stream reaches the
//! last line the service had written before (asked first, `tail` 1), and from then on live
//! lines are printed as they arrive (lines that arrive together in timestamp order). A
//! reorder window over live lines would hold every line back by the window and still be
//! wrong for a slower stream; arrival order is what `docker compose logs -f` shows too.

use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::backend::{Backend, Target};
use crate::engine::compose::Compose;
use crate::engine::logs::{Line, LogEvent, LogStart, LogStream, Timestamp};
use crate::engine::{Runtime, client, watch};
use crate::exit::{self, Failure};
use crate::project::{self, Discovery, env::Secrets};

/// Batches in flight per service while histories are merged.
const HISTORY_BOUND: usize = 4;
/// Batches in flight from all services while following.
const LIVE_BOUND: usize = 32;
/// Batches taken at once while following, then written with one flush.
const LIVE_DRAIN: usize = 16;
/// Prefix colours, in compose's order.
const PALETTE: [&str; 10] = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

/// What `devtui logs` shows and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsOptions {
    /// Go on with live lines after the history.
    pub follow: bool,
    /// Only lines since this unix time (seconds).
    pub since: Option<i64>,
    /// Lines of each service's history (`LogStart::ALL`: all of it).
    pub tail: usize,
    /// Show each line's timestamp.
    pub timestamps: bool,
    /// Colour the `service |` prefixes.
    pub color: bool,
    /// One JSON object a line instead of text.
    pub json: bool,
    /// Services to show (none: all).
    pub services: Vec<String>,
}

/// Reads `--since`: a duration back from `now` (`10m`, `1h30m`), an RFC 3339 time, or unix
/// seconds. Returns unix seconds.
pub fn parse_since(text: &str, now: SystemTime) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs);
    }
    if let Ok(back) = humantime::parse_duration(text) {
        let at = now.checked_sub(back).unwrap_or(SystemTime::UNIX_EPOCH);
        let secs = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        return Ok(i64::try_from(secs).unwrap_or(i64::MAX));
    }
    Err(format!(
        "{text:?} is neither a duration (10m, 1h30m) nor a time (2024-05-01T10:00:00Z or unix seconds)"
    ))
}

/// Reads `--tail`: a number of lines, or `all`.
pub fn parse_tail(text: &str) -> Result<usize, String> {
    if text == "all" {
        return Ok(LogStart::ALL);
    }
    text.parse()
        .map_err(|_| format!("{text:?} is not a number of lines (or `all`)"))
}

/// One stream of output: a container, or a native process.
struct Source {
    /// What its lines are prefixed with: the service, or `service-N` for a replica.
    label: String,
    service: String,
    backend: Backend,
}

/// `devtui logs`: prints the merged output; exit 0, or 3 when the engine cannot be reached.
pub async fn run(discovery: &Discovery, options: LogsOptions) -> anyhow::Result<i32> {
    // The engine first, as `status` does: without it there is nothing to show.
    let engine = client::Lazy::default();
    let docker = engine
        .get()
        .await
        .map_err(|e| Failure::new(exit::NO_ENGINE, e.to_string()))?;
    let loc = project::discover(discovery).map_err(Failure::from)?;
    // Without the model (e.g. no .env yet) the containers alone are shown, as by `status`.
    let model = match project::load_at(&loc, &[]).await {
        Ok(p) => Some(p),
        Err(e) if options.services.is_empty() => {
            eprintln!("devtui: showing containers only: {e}");
            None
        }
        Err(e) => return Err(Failure::from(e).into()),
    };
    let name = match &model {
        Some(p) => p.name.clone(),
        None => project::name_hint(&loc),
    };
    let mut statuses = watch::snapshot(&docker, &name).await.map_err(|e| {
        Failure::new(
            exit::NO_ENGINE,
            format!("the engine failed to list containers: {e}"),
        )
    })?;
    if let Some(remote) = crate::supervisor::control::status(&name).await {
        statuses.extend(remote.services);
    }
    let known: Vec<String> = match &model {
        Some(p) => p
            .all_services
            .iter()
            .map(|s| s.name.clone())
            .chain(p.natives.iter().map(|n| n.name.clone()))
            .collect(),
        None => statuses.iter().map(|s| s.service.clone()).collect(),
    };
    // A native service is usually a compose service too: once each, in dependency order.
    let mut order: Vec<&str> = Vec::new();
    for service in &known {
        if !order.contains(&service.as_str()) {
            order.push(service);
        }
    }
    if let Some(unknown) = options
        .services
        .iter()
        .find(|s| !order.contains(&s.as_str()))
    {
        return Err(Failure::usage(format!(
            "unknown service {unknown:?} in project {name}; services: {}",
            order.join(", ")
        ))
        .into());
    }
    let (compose, secrets) = match &model {
        Some(p) => (super::compose_for(p), p.secrets.clone()),
        None => (
            Compose::by_name(&name),
            Secrets::load(
                Some(&loc.env_path)
                    .filter(|p| p.is_file())
                    .map(|p| p.as_path()),
            ),
        ),
    };
    let target = Target {
        engine,
        compose,
        project: name.clone(),
        natives: Default::default(),
    };
    let wanted =
        |name: &str| options.services.is_empty() || options.services.iter().any(|s| s == name);
    let mut sources = Vec::new();
    for service in order.into_iter().filter(|n| wanted(n)) {
        let mine: Vec<_> = statuses
            .iter()
            .filter(|s| s.service == service && !matches!(s.runtime, Runtime::Absent { .. }))
            .collect();
        if mine.is_empty() && !options.services.is_empty() {
            eprintln!("devtui: {service} has no container or native process: no output");
        }
        let replicas = mine.len() > 1;
        for status in mine {
            let label = match status.runtime.container_name() {
                Some(container) if replicas => replica_label(&name, container),
                _ => service.to_string(),
            };
            sources.push(Source {
                label,
                service: service.to_string(),
                backend: target.resolve(service, Some(status)),
            });
        }
    }
    sources.retain(|s| !matches!(s.backend, Backend::Absent));
    let mut printer = Printer::new(&sources, &options, secrets);
    let cancel = CancellationToken::new();
    let _stop = cancel.clone().drop_guard();
    let start = LogStart {
        tail: options.tail,
        since: options.since,
        follow: options.follow,
    };
    // Following: where each history ends, asked before the streams start so that the line
    // is in what they send first.
    let mut ends = Vec::with_capacity(sources.len());
    for source in &sources {
        ends.push(if options.follow && options.tail > 0 {
            last_line_at(&target, source).await
        } else {
            None
        });
    }
    let mut pending: Vec<Pending> = sources
        .iter()
        .zip(ends)
        .map(|(source, end)| {
            let (tx, rx) = mpsc::channel(HISTORY_BOUND);
            let (target, backend, service) = (
                target.clone(),
                source.backend.clone(),
                source.service.clone(),
            );
            let token = cancel.child_token();
            tokio::spawn(async move {
                target
                    .follow_logs(backend, service, start, token, tx, |e| e)
                    .await;
            });
            // With -f, a service that had written nothing (or nothing since --since) has
            // no history to wait for.
            let read = options.follow
                && end.is_none_or(|at| options.since.is_some_and(|s| at < i128::from(s) * NANOS));
            Pending {
                rx,
                lines: VecDeque::new(),
                last: i128::MIN,
                end,
                read,
                done: false,
            }
        })
        .collect();
    let outcome = match merge_history(&sources, &mut pending, &mut printer).await {
        Ok(()) if options.follow => follow_live(&sources, pending, &mut printer).await,
        other => other,
    };
    match outcome {
        Ok(()) | Err(Stop::Closed) => Ok(printer.finish()),
        Err(Stop::Failed(code)) => {
            printer.finish();
            Ok(code)
        }
    }
}

/// The timestamp of the last line `source` has written, if any.
async fn last_line_at(target: &Target, source: &Source) -> Option<i128> {
    let (tx, mut rx) = mpsc::channel(HISTORY_BOUND);
    let last = LogStart {
        tail: 1,
        since: None,
        follow: false,
    };
    let token = CancellationToken::new();
    let _stop = token.clone().drop_guard();
    let (target, backend, service) = (
        target.clone(),
        source.backend.clone(),
        source.service.clone(),
    );
    tokio::spawn(async move {
        target
            .follow_logs(backend, service, last, token, tx, |e| e)
            .await;
    });
    let mut at = None;
    while let Some(LogEvent::Lines(lines)) = rx.recv().await {
        at = lines.last_ts().map(nanos).or(at);
    }
    at
}

/// One line held for the merge (a batch's lines borrow its buffer; the merge outlives it).
struct LogEntry {
    stream: LogStream,
    ts: Option<Timestamp>,
    text: String,
}

impl From<Line<'_>> for LogEntry {
    fn from(line: Line<'_>) -> Self {
        LogEntry {
            stream: line.stream,
            ts: line.ts,
            text: line.text.to_string(),
        }
    }
}

fn nanos(ts: Timestamp) -> i128 {
    i128::from(ts.0)
}

/// `proj-web-2` → `web-2`, as compose labels replicas.
fn replica_label(project: &str, container: &str) -> String {
    container
        .strip_prefix(project)
        .and_then(|rest| rest.strip_prefix(['-', '_']))
        .unwrap_or(container)
        .to_string()
}

/// Why printing stopped early.
enum Stop {
    /// Whoever reads stdout went away (`devtui logs | head`): not an error.
    Closed,
    /// The output of a service could not be read; the exit code to end with.
    Failed(i32),
}

const NANOS: i128 = 1_000_000_000;

/// One service's lines waiting to be merged.
struct Pending {
    rx: mpsc::Receiver<LogEvent>,
    lines: VecDeque<(i128, LogEntry)>,
    /// Order key of the last line, for a line without a timestamp.
    last: i128,
    /// With -f: the timestamp of the service's last line before the stream started.
    end: Option<i128>,
    /// Its history is read: it may hold up the merge no longer.
    read: bool,
    /// Its stream has ended.
    done: bool,
}

impl Pending {
    /// Takes the next batch (or the end) from the stream; a line at or past `end` means the
    /// history is read.
    async fn fill(&mut self, label: &str, failed: &mut Option<i32>) {
        match self.rx.recv().await {
            Some(LogEvent::Lines(lines)) => {
                for entry in lines.iter().map(LogEntry::from) {
                    self.last = entry.ts.map(nanos).unwrap_or(self.last);
                    if self.end.is_some_and(|end| self.last >= end) {
                        self.read = true;
                    }
                    self.lines.push_back((self.last, entry));
                }
            }
            Some(LogEvent::Ended(error)) => {
                self.done = true;
                self.read = true;
                if let Some(error) = error {
                    eprintln!("devtui: cannot read the output of {label}: {error}");
                    *failed = Some(exit::FAILED);
                }
            }
            None => {
                self.done = true;
                self.read = true;
            }
        }
    }
}

/// Prints every source's history merged by timestamp: a line is printed once every source
/// whose history is not read yet has a line waiting, and it is the oldest waiting.
async fn merge_history(
    sources: &[Source],
    pending: &mut [Pending],
    printer: &mut Printer,
) -> Result<(), Stop> {
    let mut failed = None;
    loop {
        for (p, source) in pending.iter_mut().zip(sources) {
            while p.lines.is_empty() && !p.read {
                p.fill(&source.label, &mut failed).await;
            }
        }
        let next = pending
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.lines.front().map(|(at, _)| (*at, i)))
            .min();
        let Some((_, i)) = next else { break };
        if let Some((_, entry)) = pending[i].lines.pop_front() {
            printer
                .line(&sources[i], &entry)
                .map_err(|_| Stop::Closed)?;
        }
    }
    printer.flush().map_err(|_| Stop::Closed)?;
    match failed {
        Some(code) => Err(Stop::Failed(code)),
        None => Ok(()),
    }
}

/// Prints live lines as they arrive, until every source has ended.
async fn follow_live(
    sources: &[Source],
    pending: Vec<Pending>,
    printer: &mut Printer,
) -> Result<(), Stop> {
    let (tx, mut rx) = mpsc::channel::<(usize, LogEvent)>(LIVE_BOUND);
    let mut open = 0;
    for (i, p) in pending.into_iter().enumerate() {
        if p.done {
            continue;
        }
        open += 1;
        let (tx, mut from) = (tx.clone(), p.rx);
        tokio::spawn(async move {
            while let Some(event) = from.recv().await {
                if tx.send((i, event)).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut failed = None;
    let mut drained = Vec::with_capacity(LIVE_DRAIN);
    let mut batch: Vec<(i128, usize, LogEntry)> = Vec::new();
    while open > 0 {
        drained.clear();
        if rx.recv_many(&mut drained, LIVE_DRAIN).await == 0 {
            break;
        }
        batch.clear();
        let mut from: Option<usize> = None;
        let mut mixed = false;
        for (i, event) in drained.drain(..) {
            match event {
                LogEvent::Lines(lines) => {
                    mixed |= from.is_some_and(|f| f != i);
                    from = Some(i);
                    batch.extend(lines.iter().map(|line| (0, i, LogEntry::from(line))));
                }
                LogEvent::Ended(error) => {
                    open -= 1;
                    if let Some(error) = error {
                        eprintln!("devtui: lost the output of {}: {error}", sources[i].label);
                        failed = Some(exit::NO_ENGINE);
                    }
                }
            }
        }
        // Timestamps are parsed only to order lines of several services arriving together.
        if mixed {
            for (at, _, entry) in batch.iter_mut() {
                *at = entry.ts.map(nanos).unwrap_or(i128::MAX);
            }
            // Stable: lines of one service keep their order whatever their timestamps.
            batch.sort_by_key(|(at, _, _)| *at);
        }
        for (_, i, entry) in &batch {
            printer
                .line(&sources[*i], entry)
                .map_err(|_| Stop::Closed)?;
        }
        printer.flush().map_err(|_| Stop::Closed)?;
    }
    match failed {
        Some(code) => Err(Stop::Failed(code)),
        None => Ok(()),
    }
}

/// A line of `logs --json`.
#[derive(Serialize)]
struct JsonLine<'a> {
    service: &'a str,
    stream: &'static str,
    time: Option<String>,
    line: &'a str,
}

/// Writes lines to stdout: `label | text` (coloured, timestamped) or JSON, secrets masked.
struct Printer {
    out: std::io::BufWriter<std::io::Stdout>,
    width: usize,
    colors: Vec<(String, &'static str)>,
    options: LogsOptions,
    secrets: Secrets,
}

impl Printer {
    fn new(sources: &[Source], options: &LogsOptions, secrets: Secrets) -> Self {
        let mut labels: Vec<String> = sources.iter().map(|s| s.label.clone()).collect();
        labels.dedup();
        Printer {
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            width: labels.iter().map(|l| l.chars().count()).max().unwrap_or(0),
            colors: labels
                .into_iter()
                .enumerate()
                .map(|(i, l)| (l, PALETTE[i % PALETTE.len()]))
                .collect(),
            options: options.clone(),
            secrets,
        }
    }

    fn line(&mut self, source: &Source, entry: &LogEntry) -> std::io::Result<()> {
        let text = self.secrets.mask(&entry.text);
        if self.options.json {
            let line = JsonLine {
                service: &source.label,
                stream: match entry.stream {
                    LogStream::Stdout => "stdout",
                    LogStream::Stderr => "stderr",
                },
                time: entry.ts.map(Timestamp::rfc3339),
                line: &text,
            };
            serde_json::to_writer(&mut self.out, &line)?;
            return self.out.write_all(b"\n");
        }
        let width = self.width;
        let label = &source.label;
        if self.options.color {
            let color = self
                .colors
                .iter()
                .find(|(l, _)| l == label)
                .map_or(PALETTE[0], |(_, c)| c);
            write!(self.out, "\x1b[{color}m{label:<width$} |\x1b[0m ")?;
        } else {
            write!(self.out, "{label:<width$} | ")?;
        }
        if self.options.timestamps
            && let Some(ts) = entry.ts
        {
            write!(self.out, "{} ", ts.rfc3339())?;
        }
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// Flushes what is left; the exit code (0: a closed stdout is not an error).
    fn finish(mut self) -> i32 {
        let _ = self.out.flush();
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_times_and_unix_seconds() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(parse_since("10m", now), Ok(10_000 - 600));
        assert_eq!(parse_since("1h 30m", now), Ok(10_000 - 5_400));
        assert_eq!(parse_since("1970-01-01T00:01:40Z", now), Ok(100));
        assert_eq!(parse_since("1234", now), Ok(1234));
        assert!(parse_since("yesterday", now).is_err());
        assert_eq!(parse_tail("all"), Ok(LogStart::ALL));
        assert_eq!(parse_tail("20"), Ok(20));
        assert!(parse_tail("-3").is_err());
    }

    #[test]
    fn replicas_are_labelled_as_compose_does() {
        assert_eq!(replica_label("shop", "shop-web-2"), "web-2");
        assert_eq!(replica_label("shop", "shop_web_1"), "web_1");
        assert_eq!(replica_label("shop", "custom"), "custom");
    }
}
