//! The TUI's built-in single-character keys, in one list below the layers that use it: the
//! TUI dispatches them before anything else, and a profile's custom command may not bind one
//! (`project::profile` checks against this list; `project` cannot import `tui`).

/// Every character key the TUI gives a meaning, in any focus or view (dashboard, log pane,
/// backups view); a test in the TUI checks that no other character does anything.
pub const BUILT_IN: &[char] = &[
    'q', '?', ':', 'j', 'k', 'g', 'G', 'l', ' ', 'L', 'e', 'r', 's', 'b', 'o', 'B', 'X', '/', 'f',
    '&', 'n', 'N', 't', 'w', 'a', 'S', 'd', 'R',
];

/// Whether `c` is one of the TUI's own keys.
pub fn is_built_in(c: char) -> bool {
    BUILT_IN.contains(&c)
}
