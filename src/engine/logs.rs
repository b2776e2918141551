//! (TUI issue)
