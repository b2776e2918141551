//! A log pane: which services it shows, its filter and search, and where it is scrolled.
//!
//! The pane follows the newest line until the user scrolls; then it is anchored on the `seq`
//! of its bottom line, counts the matching lines that arrive below, and `G` resumes.

use regex::{Regex, RegexBuilder};

use crate::tui::logbuf::{LogLine, LogStore};

/// Display width in terminal columns.
pub fn text_width(s: &str) -> usize {
    ratatui::text::Span::raw(s).width()
}

/// A compiled search or filter pattern and the text the user typed.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub text: String,
    pub regex: Regex,
}

impl Pattern {
    /// Compiles a regex; all-lowercase patterns match case-insensitively (smart case).
    pub fn new(text: &str) -> Result<Self, String> {
        let insensitive = !text.chars().any(char::is_uppercase);
        RegexBuilder::new(text)
            .case_insensitive(insensitive)
            .size_limit(1 << 20)
            .build()
            .map(|regex| Self {
                text: text.to_string(),
                regex,
            })
            .map_err(|e| first_line(&e.to_string()))
    }
}

/// The regex crate's errors span several lines with a caret diagram; the last line says why.
fn first_line(msg: &str) -> String {
    msg.lines()
        .rev()
        .find(|l| l.trim_start().starts_with("error:"))
        .map(|l| l.trim().trim_start_matches("error:").trim().to_string())
        .unwrap_or_else(|| msg.lines().next().unwrap_or("invalid pattern").to_string())
}

/// One log pane.
#[derive(Debug, Clone)]
pub struct LogPane {
    /// Services shown, merged in time order when more than one.
    pub sources: Vec<String>,
    /// `None` follows the newest line; `Some(seq)` pins the bottom line (follow paused).
    pub anchor: Option<u64>,
    /// Matching lines that arrived below the anchor while paused.
    pub new_lines: usize,
    pub filter: Option<Pattern>,
    pub search: Option<Pattern>,
    /// The search match `n`/`N` last moved to.
    pub current_match: Option<u64>,
    /// The last invalid pattern's error, shown inline until the next edit.
    pub pattern_error: Option<String>,
    pub timestamps: bool,
    pub wrap: bool,
    pub ansi: bool,
}

impl LogPane {
    pub fn new(sources: Vec<String>) -> Self {
        Self {
            sources,
            anchor: None,
            new_lines: 0,
            filter: None,
            search: None,
            current_match: None,
            pattern_error: None,
            timestamps: false,
            wrap: false,
            ansi: true,
        }
    }

    /// Whether lines of several services are shown (then each is prefixed by its service).
    pub fn merged(&self) -> bool {
        self.sources.len() > 1
    }

    pub fn following(&self) -> bool {
        self.anchor.is_none()
    }

    /// Whether a line passes the filter.
    pub fn shows(&self, line: &LogLine<'_>) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| f.regex.is_match(&line.plain()))
    }

    fn is_match(&self, line: &LogLine<'_>) -> bool {
        self.shows(line)
            && self
                .search
                .as_ref()
                .is_some_and(|s| s.regex.is_match(&line.plain()))
    }

    /// Called for every new line of any service.
    pub fn on_line(&mut self, service: &str, line: &LogLine<'_>) {
        if self.anchor.is_some() && self.sources.iter().any(|s| s == service) && self.shows(line) {
            self.new_lines += 1;
        }
    }

    /// The width of the prefix (service name, timestamp) in front of each line.
    pub fn prefix_width(&self) -> usize {
        let service = if self.merged() {
            self.sources
                .iter()
                .map(|s| text_width(s))
                .max()
                .unwrap_or(0)
                + 3
        } else {
            0
        };
        service + if self.timestamps { 13 } else { 0 }
    }

    /// Rows a line takes in a pane `width` columns wide.
    pub fn rows_for(&self, line: &LogLine<'_>, width: usize) -> usize {
        if !self.wrap || width == 0 {
            return 1;
        }
        let w = self.prefix_width() + text_width(&line.plain());
        w.div_ceil(width).max(1)
    }

    /// The seq of the bottom line shown: the anchor, or the newest line that passes the filter.
    pub fn bottom(&self, store: &LogStore) -> Option<u64> {
        match self.anchor {
            Some(seq) => Some(seq),
            None => store
                .rev(&self.sources, None)
                .find(|(_, l)| self.shows(l))
                .map(|(_, l)| l.seq),
        }
    }

    /// The lines that fill `rows` rows of a `width`-wide pane, oldest first.
    pub fn visible<'a>(
        &self,
        store: &'a LogStore,
        rows: usize,
        width: usize,
    ) -> Vec<(&'a str, LogLine<'a>)> {
        let mut out = Vec::new();
        let mut used = 0;
        for (service, line) in store.rev(&self.sources, self.anchor) {
            if used >= rows {
                break;
            }
            if self.shows(&line) {
                used += self.rows_for(&line, width);
                out.push((service, line));
            }
        }
        out.reverse();
        out
    }

    /// Scrolls `n` lines towards older output, pausing follow.
    pub fn scroll_up(&mut self, store: &LogStore, n: usize, rows: usize) {
        let Some(bottom) = self.bottom(store) else {
            return;
        };
        let below: Vec<u64> = store
            .rev(&self.sources, Some(bottom))
            .filter(|(_, l)| self.shows(l))
            .map(|(_, l)| l.seq)
            .collect();
        if below.len() <= rows {
            // Everything already fits on screen: nothing older to show.
            return;
        }
        let max_step = below.len() - rows;
        let target = below[n.min(max_step)];
        if self.anchor.is_none() {
            self.new_lines = 0;
        }
        self.anchor = Some(target);
    }

    /// Scrolls `n` lines towards newer output; reaching the end resumes follow.
    pub fn scroll_down(&mut self, store: &LogStore, n: usize) {
        let Some(anchor) = self.anchor else { return };
        let newer: Vec<u64> = store
            .fwd(&self.sources, anchor)
            .filter(|(_, l)| self.shows(l))
            .map(|(_, l)| l.seq)
            .collect();
        if n >= newer.len() {
            self.follow();
        } else {
            self.anchor = Some(newer[n.saturating_sub(1)]);
            self.new_lines = newer.len() - n;
        }
    }

    /// Scrolls to the oldest line held.
    pub fn scroll_top(&mut self, store: &LogStore, rows: usize) {
        self.scroll_up(store, usize::MAX, rows);
    }

    /// Resumes following the newest line.
    pub fn follow(&mut self) {
        self.anchor = None;
        self.new_lines = 0;
    }

    /// Moves to the next match towards older lines (from the bottom of the view at first).
    pub fn search_older(&mut self, store: &LogStore, rows: usize) -> bool {
        let start = match self.current_match {
            Some(seq) => seq.checked_sub(1),
            None => self.bottom(store),
        };
        let Some(start) = start else { return false };
        let found = store
            .rev(&self.sources, Some(start))
            .find(|(_, l)| self.is_match(l))
            .map(|(_, l)| l.seq);
        self.land_on(store, found, rows)
    }

    /// Moves to the next match towards newer lines.
    pub fn search_newer(&mut self, store: &LogStore, rows: usize) -> bool {
        let start = match self.current_match {
            Some(seq) => seq,
            None => match self.bottom(store) {
                Some(seq) => seq,
                None => return false,
            },
        };
        let found = store
            .fwd(&self.sources, start)
            .find(|(_, l)| self.is_match(l))
            .map(|(_, l)| l.seq);
        self.land_on(store, found, rows)
    }

    fn land_on(&mut self, store: &LogStore, found: Option<u64>, rows: usize) -> bool {
        let Some(seq) = found else { return false };
        self.current_match = Some(seq);
        self.reveal(store, seq, rows);
        true
    }

    /// Scrolls so that the line `seq` is on screen, about mid-pane when it was not.
    fn reveal(&mut self, store: &LogStore, seq: u64, rows: usize) {
        let Some(bottom) = self.bottom(store) else {
            return;
        };
        let top = store
            .rev(&self.sources, Some(bottom))
            .filter(|(_, l)| self.shows(l))
            .take(rows.max(1))
            .last()
            .map(|(_, l)| l.seq)
            .unwrap_or(bottom);
        if (top..=bottom).contains(&seq) {
            return;
        }
        let after: Vec<u64> = store
            .fwd(&self.sources, seq)
            .filter(|(_, l)| self.shows(l))
            .take(rows / 2 + 1)
            .map(|(_, l)| l.seq)
            .collect();
        if after.len() <= rows / 2 {
            self.follow();
        } else {
            let was_following = self.anchor.is_none();
            let anchor = if rows / 2 == 0 {
                seq
            } else {
                after[rows / 2 - 1]
            };
            self.anchor = Some(anchor);
            self.new_lines = store
                .fwd(&self.sources, anchor)
                .filter(|(_, l)| self.shows(l))
                .count();
            if was_following {
                // Lines below the anchor are not "new": they were on screen before.
                self.new_lines = 0;
            }
        }
    }

    /// The pane's lines as plain text, for saving to a file.
    pub fn export(&self, store: &LogStore) -> String {
        let mut lines: Vec<_> = store
            .rev(&self.sources, None)
            .filter(|(_, l)| self.shows(l))
            .collect();
        lines.reverse();
        let mut out = String::new();
        for (service, line) in lines {
            if let Some(ts) = line.ts {
                out.push_str(&ts.rfc3339());
                out.push(' ');
            }
            if self.merged() {
                out.push_str(service);
                out.push_str(" | ");
            }
            out.push_str(&line.plain());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::logbuf::Stream;

    fn store_with(n: usize) -> LogStore {
        let mut store = LogStore::new(1000);
        for i in 0..n {
            store.push("api", Stream::Stdout, None, &format!("line {i}"));
        }
        store
    }

    fn texts(v: &[(&str, LogLine<'_>)]) -> Vec<String> {
        v.iter().map(|(_, l)| l.text.to_string()).collect()
    }

    #[test]
    fn scrolling_pauses_and_reaching_the_end_resumes() {
        let store = store_with(20);
        let mut pane = LogPane::new(vec!["api".into()]);
        assert_eq!(
            texts(&pane.visible(&store, 3, 80)),
            ["line 17", "line 18", "line 19"]
        );
        pane.scroll_up(&store, 2, 3);
        assert!(!pane.following());
        assert_eq!(
            texts(&pane.visible(&store, 3, 80)),
            ["line 15", "line 16", "line 17"]
        );
        pane.scroll_down(&store, 1);
        assert_eq!(
            texts(&pane.visible(&store, 3, 80)),
            ["line 16", "line 17", "line 18"]
        );
        assert_eq!(pane.new_lines, 1);
        pane.scroll_down(&store, 5);
        assert!(pane.following());
    }

    #[test]
    fn scroll_up_stops_at_the_oldest_screenful() {
        let store = store_with(5);
        let mut pane = LogPane::new(vec!["api".into()]);
        pane.scroll_top(&store, 3);
        assert_eq!(
            texts(&pane.visible(&store, 3, 80)),
            ["line 0", "line 1", "line 2"]
        );
    }

    #[test]
    fn invalid_pattern_is_an_error_not_a_panic() {
        let err = Pattern::new("a(b").unwrap_err();
        assert!(err.contains("unclosed group"), "{err}");
        assert!(Pattern::new("Err").unwrap().regex.is_match("Err"));
        assert!(!Pattern::new("Err").unwrap().regex.is_match("err"));
        assert!(Pattern::new("err").unwrap().regex.is_match("ERR"));
    }

    #[test]
    fn search_moves_between_matches_and_reveals_them() {
        let store = store_with(100);
        let mut pane = LogPane::new(vec!["api".into()]);
        pane.search = Some(Pattern::new(r"line [15]0$").unwrap());
        let seq_of = |i: usize| store.rings["api"].line(i).map(|l| l.seq);
        assert!(pane.search_older(&store, 10));
        assert_eq!(pane.current_match, seq_of(50));
        let shown = texts(&pane.visible(&store, 10, 80));
        assert!(shown.contains(&"line 50".to_string()), "{shown:?}");
        assert!(pane.search_older(&store, 10));
        assert_eq!(pane.current_match, seq_of(10));
        assert!(!pane.search_older(&store, 10));
        assert!(pane.search_newer(&store, 10));
        assert_eq!(pane.current_match, seq_of(50));
    }
}
