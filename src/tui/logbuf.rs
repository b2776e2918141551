//! Bounded per-service log buffers and the merged, filtered views over them.
//!
//! Every line gets a global sequence number when it arrives, so a merged view of several
//! services is a k-way merge of their rings by `seq`, and a paused pane anchors on a `seq`
//! that stays valid while new lines arrive.

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
    next_seq: u64,
    pub rings: BTreeMap<String, Ring>,
}

impl LogStore {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            next_seq: 1,
            rings: BTreeMap::new(),
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
        let seq = self.next_seq;
        self.next_seq += 1;
        let capacity = self.capacity;
        let ring = self.rings.entry(service.to_string()).or_default();
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
