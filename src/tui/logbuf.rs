//! Bounded per-service log buffers and the merged, filtered views over them.
//!
//! Every line gets a sequence number from its time (the engine's timestamp, else its
//! arrival), kept increasing within a service, so a merged view of several services is a
//! k-way merge of their rings by `seq` in time order (one service's backlog arriving after
//! another's newer lines still goes before them), and a paused pane anchors on a `seq` that
//! stays valid while new lines arrive.

use std::collections::{BTreeMap, VecDeque};
use std::sync::LazyLock;

use regex::Regex;

/// Default number of lines kept per service.
pub const DEFAULT_LOG_CAPACITY: usize = 10_000;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    /// Output of devtui's own work on the service (a rebuild's progress).
    Devtui,
}

/// One log line as received, with ANSI escapes kept.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Nanoseconds since the Unix epoch of the line (see the module docs).
    pub seq: u64,
    pub stream: Stream,
    /// Engine timestamp (RFC 3339), when the engine sent one.
    pub ts: Option<Box<str>>,
    pub text: Box<str>,
    /// Whether `text` holds escape sequences (most lines do not, and then need no stripping).
    pub has_ansi: bool,
}

impl LogLine {
    /// The text without ANSI escape sequences: what search and filter match against.
    pub fn plain(&self) -> std::borrow::Cow<'_, str> {
        if self.has_ansi {
            strip_ansi(&self.text)
        } else {
            std::borrow::Cow::Borrowed(&self.text)
        }
    }
}

static ANSI: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a constant pattern
    Regex::new(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])").unwrap()
});

/// Removes ANSI escape sequences (CSI, OSC and two-byte escapes).
pub fn strip_ansi(s: &str) -> std::borrow::Cow<'_, str> {
    ANSI.replace_all(s, "")
}

/// A service's ring buffer.
#[derive(Debug, Default)]
pub struct Ring {
    pub lines: VecDeque<LogLine>,
}

impl Ring {
    /// Index of the first line with `seq > after`.
    fn first_after(&self, after: u64) -> usize {
        self.lines.partition_point(|l| l.seq <= after)
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
        ts: Option<String>,
        text: String,
    ) -> &LogLine {
        let at = match ts.as_deref().and_then(unix_nanos) {
            Some(at) => at,
            None => {
                self.last_arrival = now_nanos().max(self.last_arrival + 1);
                self.last_arrival
            }
        };
        let capacity = self.capacity;
        let ring = self.rings.entry(service.to_string()).or_default();
        // Within a service, lines stay in arrival order whatever their timestamps say.
        let seq = match ring.lines.back() {
            Some(last) if last.seq >= at => last.seq + 1,
            _ => at,
        };
        while ring.lines.len() >= capacity {
            ring.lines.pop_front();
        }
        let has_ansi = text.contains('\x1b');
        ring.lines.push_back(LogLine {
            seq,
            stream,
            ts: ts.map(String::into_boxed_str),
            text: text.into_boxed_str(),
            has_ansi,
        });
        #[allow(clippy::unwrap_used)] // just pushed
        ring.lines.back().unwrap()
    }

    /// Drops a service's buffer (its pane closed).
    pub fn clear(&mut self, service: &str) {
        self.rings.remove(service);
    }

    /// Total lines held, for tests and the status line.
    pub fn len(&self) -> usize {
        self.rings.values().map(|r| r.lines.len()).sum()
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

/// An RFC 3339 timestamp as nanoseconds since the Unix epoch.
fn unix_nanos(ts: &str) -> Option<u64> {
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos()).ok()
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
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
    type Item = (&'a str, &'a LogLine);

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
        let line = if self.backward {
            c.pos -= 1;
            &ring.lines[c.pos]
        } else {
            c.pos += 1;
            &ring.lines[c.pos - 1]
        };
        Some((c.service, line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_orders_by_timestamp_even_when_a_backlog_arrives_late() {
        let mut store = LogStore::new(10);
        let ts = |s: &str| Some(format!("2026-01-02T08:11:{s}Z"));
        store.push("gaian", Stream::Stdout, ts("57.1"), "gaian 57.1".into());
        store.push("gaian", Stream::Stdout, ts("58"), "gaian 58".into());
        // postgres's backlog arrives after gaian's newer lines.
        store.push("postgres", Stream::Stdout, ts("56.5"), "pg 56.5".into());
        store.push("postgres", Stream::Stdout, ts("57.25"), "pg 57.25".into());
        // A line without a timestamp of its own is placed at its arrival.
        store.push("postgres", Stream::Devtui, None, "devtui now".into());
        // Out of order within a service: stays after the line it followed.
        store.push("gaian", Stream::Stdout, ts("50"), "gaian late".into());
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
            store.push("a", Stream::Stdout, None, format!("a{i}"));
            store.push("b", Stream::Stderr, None, format!("b{i}"));
        }
        assert_eq!(store.len(), 6);
        let sources = vec!["a".to_string(), "b".to_string()];
        let newest: Vec<_> = store
            .rev(&sources, None)
            .map(|(_, l)| l.text.to_string())
            .collect();
        assert_eq!(newest, ["b4", "a4", "b3", "a3", "b2", "a2"]);
        let seq_a3 = store.rings["a"].lines[1].seq;
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
    fn strips_ansi_sequences() {
        assert_eq!(strip_ansi("\x1b[1;31mERROR\x1b[0m done"), "ERROR done");
        assert_eq!(strip_ansi("\x1b]0;title\x07x"), "x");
    }
}
