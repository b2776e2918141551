//! Where devtui keeps its files: data (bundled stack, Gaian's SQLite, training data) and state
//! (TUI logs), from the `directories` crate.

use std::path::PathBuf;

use directories::ProjectDirs;

fn dirs() -> Option<ProjectDirs> {
    ProjectDirs::from("dev", "devtui", "devtui")
}

/// The user's data directory for devtui (e.g. `~/.local/share/devtui`).
pub fn data_dir() -> PathBuf {
    dirs()
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("devtui-data"))
}

/// The user's state directory for devtui (e.g. `~/.local/state/devtui`), for log files.
pub fn state_dir() -> PathBuf {
    dirs()
        .and_then(|d| d.state_dir().map(|p| p.to_path_buf()))
        .unwrap_or_else(|| data_dir().join("state"))
}
