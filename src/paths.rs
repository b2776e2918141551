//! Where devtui keeps its files: data (bundled stack, Gaian's SQLite, training data) and state
//! (TUI logs), from the `directories` crate.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// Replaces `path` with what `fill` writes: a unique temp file in the same directory (so
/// concurrent writers never share one), mode `mode`, fsync, rename, fsync of the directory.
/// Returns the new file's metadata.
pub fn write_atomic(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<fs::Metadata> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    fill(tmp.as_file_mut())?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    let file = tmp.persist(path).map_err(|e| e.error)?;
    // The rename is durable only once the directory entry is on disk.
    File::open(dir)?.sync_all()?;
    file.metadata()
}
