//! Bounded per-service log buffers and the merged, filtered views over them.
//!
//! Every line gets a sequence number from its time (the engine's timestamp, else its
//! arrival), kept increasing within a service, so a merged view of several services is a
//! k-way merge of their rings by `seq` in time order (one service's backlog arriving after
//! another's newer lines still goes before them), and a paused pane anchors on a `seq` that
//! stays valid while new lines arrive.
//!
//! A ring keeps its lines' text in large chunks rather than a string each: a flood of lines
//! costs a copy per line and an allocation per chunk, and evicting old lines frees whole
//! chunks.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::LazyLock;

use regex::Regex;

use crate::engine::logs::Timestamp;

/// Default number of lines kept per service.
pub const DEFAULT_LOG_CAPACITY: usize = 10_000;
/// Bytes of text per chunk; a longer line gets a chunk of its own.
const CHUNK: usize = 64 * 1024;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    /// Output of devtui's own work on the service (a rebuild's progress).
    Devtui,
}

/// One log line as kept, with ANSI escapes.
#[derive(Debug, Clone, Copy)]
pub struct LogLine<'a> {
    /// Nanoseconds since the Unix epoch of the line (see the module docs).
    pub seq: u64,
    pub stream: Stream,
    /// The engine's timestamp, when it sent one.
    pub ts: Option<Timestamp>,
    pub text: &'a str,
    /// Whether `text` holds escape sequences (most lines do not, and then need no stripping).
    pub has_ansi: bool,
}

impl<'a> LogLine<'a> {
    /// The text without ANSI escape sequences: what search and filter match against.
    pub fn plain(&self) -> Cow<'a, str> {
        if self.has_ansi {
            strip_ansi(self.text)
        } else {
            Cow::Borrowed(self.text)
        }
    }
}

static ANSI: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a constant pattern
    Regex::new(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])").unwrap()
});

/// Removes ANSI escape sequences (CSI, OSC and two-byte escapes).
pub fn strip_ansi(s: &str) -> Cow<'_, str> {
    ANSI.replace_all(s, "")
}

/// What a ring keeps of a line besides its text.
#[derive(Debug, Clone, Copy)]
struct Meta {
    seq: u64,
    ts: Option<Timestamp>,
    /// The id of the chunk that holds the text, and where in it.
    chunk: u64,
    start: u32,
    len: u32,
    stream: Stream,
    has_ansi: bool,
}

/// A service's ring buffer: its lines, oldest first, and the chunks holding their text.
#[derive(Debug, Default)]
pub struct Ring {
    lines: VecDeque<Meta>,
    chunks: VecDeque<String>,
    /// The id of `chunks[0]`.
    first_chunk: u64,
}

impl Ring {
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The `i`-th line held, oldest first.
    pub fn line(&self, i: usize) -> Option<LogLine<'_>> {
        self.lines.get(i).map(|m| self.view(m))
    }

    /// The `seq` of the oldest line held.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.lines.front().map(|m| m.seq)
    }

    fn view(&self, m: &Meta) -> LogLine<'_> {
        let text = usize::try_from(m.chunk - self.first_chunk)
            .ok()
            .and_then(|i| self.chunks.get(i))
            .and_then(|c| c.get(m.start as usize..(m.start + m.len) as usize))
            .unwrap_or_default();
        LogLine {
            seq: m.seq,
            stream: m.stream,
            ts: m.ts,
            text,
            has_ansi: m.has_ansi,
        }
    }

    /// Index of the first line with `seq > after`.
    fn first_after(&self, after: u64) -> usize {
        self.lines.partition_point(|l| l.seq <= after)
    }

    /// Copies `text` into the last chunk, or a new one when it does not fit; returns where.
    fn store(&mut self, text: &str) -> (u64, u32) {
        let start = match self.chunks.back_mut() {
            Some(chunk) if chunk.capacity() - chunk.len() >= text.len() => {
                let start = chunk.len();
                chunk.push_str(text);
                start
            }
            _ => {
                let mut chunk = String::with_capacity(CHUNK.max(text.len()));
                chunk.push_str(text);
                self.chunks.push_back(chunk);
                0
            }
        };
        let id = self.first_chunk + self.chunks.len() as u64 - 1;
        (id, u32::try_from(start).unwrap_or(u32::MAX))
    }

    /// Drops the oldest line, and the chunks no line refers to any more.
    fn evict(&mut self) {
        self.lines.pop_front();
        let keep_from = self.lines.front().map_or(u64::MAX, |m| m.chunk);
        // The newest chunk stays even when empty: the next line goes there.
        while self.chunks.len() > 1 && self.first_chunk < keep_from {
            self.chunks.pop_front();
            self.first_chunk += 1;
        }
    }
}

/// All log buffers, one bounded ring per service.
#[derive(Debug)]
pub struct LogStore {
    pub capacity: usize,
    pub rings: BTreeMap<String, Ring>,
    /// The time given to the last line that had no timestamp: such lines keep their order
    /// however coarse the clock.
    last_arrival: u64,
}

impl LogStore {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            rings: BTreeMap::new(),
            last_arrival: 0,
        }
    }

    /// Appends a line to a service's ring, dropping the oldest past capacity.
    pub fn push(
        &mut self,
        service: &str,
        stream: Stream,
        ts: Option<Timestamp>,
        text: &str,
    ) -> LogLine<'_> {
        let at = match ts {
            Some(ts) => ts.0,
            None => {
                self.last_arrival = Timestamp::now().0.max(self.last_arrival + 1);
                self.last_arrival
            }
        };
        let capacity = self.capacity;
        // Looked up by `&str` first: a key is allocated only for a new service.
        if !self.rings.contains_key(service) {
            self.rings.insert(service.to_string(), Ring::default());
        }
        let ring = self
            .rings
            .get_mut(service)
            .expect("the ring exists: inserted above");
        while ring.lines.len() >= capacity {
            ring.evict();
        }
        // Within a service, lines stay in arrival order whatever their timestamps say.
        let seq = match ring.lines.back() {
            Some(last) if last.seq >= at => last.seq + 1,
            _ => at,
        };
        let (chunk, start) = ring.store(text);
        let meta = Meta {
            seq,
            ts,
            chunk,
            start,
            len: u32::try_from(text.len()).unwrap_or(u32::MAX),
            stream,
            has_ansi: text.contains('\x1b'),
        };
        ring.lines.push_back(meta);
        ring.view(&meta)
    }

    /// Drops a service's buffer (its pane closed).
    pub fn clear(&mut self, service: &str) {
        self.rings.remove(service);
    }

    /// Total lines held, for tests and the status line.
    pub fn len(&self) -> usize {
        self.rings.values().map(Ring::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lines of `sources` newest first, with `seq <= at_or_below` (all when `None`).
    pub fn rev<'a>(&'a self, sources: &[String], at_or_below: Option<u64>) -> Merge<'a> {
        let cursors = sources
            .iter()
            .filter_map(|s| self.rings.get_key_value(s))
            .map(|(name, ring)| {
                let end = match at_or_below {
                    Some(seq) => ring.first_after(seq),
                    None => ring.lines.len(),
                };
                Cursor {
                    service: name.as_str(),
                    ring,
                    pos: end,
                }
            })
            .collect();
        Merge {
            cursors,
            backward: true,
        }
    }

    /// Lines of `sources` oldest first, with `seq > after`.
    pub fn fwd<'a>(&'a self, sources: &[String], after: u64) -> Merge<'a> {
        let cursors = sources
            .iter()
            .filter_map(|s| self.rings.get_key_value(s))
            .map(|(name, ring)| Cursor {
                service: name.as_str(),
                ring,
                pos: ring.first_after(after),
            })
            .collect();
        Merge {
            cursors,
            backward: false,
        }
    }
}

struct Cursor<'a> {
    service: &'a str,
    ring: &'a Ring,
    /// Backward: one past the next line to yield. Forward: the next line to yield.
    pos: usize,
}

/// A k-way merge by `seq` over several rings, in either direction.
pub struct Merge<'a> {
    cursors: Vec<Cursor<'a>>,
    backward: bool,
}

impl<'a> Iterator for Merge<'a> {
    type Item = (&'a str, LogLine<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, u64)> = None;
        for (i, c) in self.cursors.iter().enumerate() {
            let line = if self.backward {
                c.pos.checked_sub(1).and_then(|p| c.ring.lines.get(p))
            } else {
                c.ring.lines.get(c.pos)
            };
            if let Some(line) = line {
                let better = match best {
                    None => true,
                    Some((_, seq)) if self.backward => line.seq > seq,
                    Some((_, seq)) => line.seq < seq,
                };
                if better {
                    best = Some((i, line.seq));
                }
            }
        }
        let (i, _) = best?;
        let c = &mut self.cursors[i];
        let ring = c.ring;
        let meta = if self.backward {
            c.pos -= 1;
            &ring.lines[c.pos]
        } else {
            c.pos += 1;
            &ring.lines[c.pos - 1]
        };
        Some((c.service, ring.view(meta)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_orders_by_timestamp_even_when_a_backlog_arrives_late() {
        let mut store = LogStore::new(10);
        let ts = |s: &str| Timestamp::parse(&format!("2026-01-02T08:11:{s}Z"));
        store.push("gaian", Stream::Stdout, ts("57.1"), "gaian 57.1");
        store.push("gaian", Stream::Stdout, ts("58"), "gaian 58");
        // postgres's backlog arrives after gaian's newer lines.
        store.push("postgres", Stream::Stdout, ts("56.5"), "pg 56.5");
        store.push("postgres", Stream::Stdout, ts("57.25"), "pg 57.25");
        // A line without a timestamp of its own is placed at its arrival.
        store.push("postgres", Stream::Devtui, None, "devtui now");
        // Out of order within a service: stays after the line it followed.
        store.push("gaian", Stream::Stdout, ts("50"), "gaian late");
        let sources = vec!["gaian".to_string(), "postgres".to_string()];
        let oldest_first: Vec<String> = store
            .fwd(&sources, 0)
            .map(|(_, l)| l.text.to_string())
            .collect();
        assert_eq!(
            oldest_first,
            [
                "pg 56.5",
                "gaian 57.1",
                "pg 57.25",
                "gaian 58",
                "gaian late",
                "devtui now"
            ]
        );
    }

    #[test]
    fn ring_is_bounded_and_merge_orders_by_arrival() {
        let mut store = LogStore::new(3);
        for i in 0..5 {
            store.push("a", Stream::Stdout, None, &format!("a{i}"));
            store.push("b", Stream::Stderr, None, &format!("b{i}"));
        }
        assert_eq!(store.len(), 6);
        let sources = vec!["a".to_string(), "b".to_string()];
        let newest: Vec<_> = store
            .rev(&sources, None)
            .map(|(_, l)| l.text.to_string())
            .collect();
        assert_eq!(newest, ["b4", "a4", "b3", "a3", "b2", "a2"]);
        let seq_a3 = store.rings["a"].line(1).unwrap().seq;
        let after: Vec<_> = store
            .fwd(&sources, seq_a3)
            .map(|(s, l)| format!("{s}:{}", l.text))
            .collect();
        assert_eq!(after, ["b:b3", "a:a4", "b:b4"]);
        let below: Vec<_> = store
            .rev(&sources, Some(seq_a3))
            .map(|(_, l)| l.text.to_string())
            .collect();
        assert_eq!(below, ["a3", "b2", "a2"]);
    }

    #[test]
    fn text_lives_in_chunks_that_go_with_their_last_line() {
        let mut store = LogStore::new(100);
        let line = "x".repeat(1000);
        for i in 0..1000 {
            store.push("a", Stream::Stdout, None, &format!("{i:04}{line}"));
        }
        let ring = &store.rings["a"];
        assert_eq!(ring.len(), 100);
        // 100 lines of ~1 KB fit in 2-3 chunks of 64 KiB: old chunks were freed.
        assert!(ring.chunks.len() <= 3, "{} chunks", ring.chunks.len());
        assert!(ring.line(0).unwrap().text.starts_with("0900x"));
        assert!(ring.line(99).unwrap().text.starts_with("0999x"));
        // A line longer than a chunk gets one of its own.
        let long = "y".repeat(CHUNK * 2);
        store.push("a", Stream::Stdout, None, &long);
        assert_eq!(store.rings["a"].line(99).unwrap().text, long);
        assert_eq!(store.rings["a"].line(98).unwrap().text.len(), 1004);
    }

    #[test]
    fn strips_ansi_sequences() {
        assert_eq!(strip_ansi("\x1b[1;31mERROR\x1b[0m done"), "ERROR done");
        assert_eq!(strip_ansi("\x1b]0;title\x07x"), "x");
    }
}
