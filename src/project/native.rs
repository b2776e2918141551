//! Services devtui can run natively on this machine instead of in a container.
//!
//! They are declared in the compose file, under the top-level extension `x-devtui.native`,
//! so that compose interpolates them from `.env` like everything else (ports, passwords):
//!
//! ```yaml
//! x-devtui:
//!   native:
//!     gaian:
//!       command: [devtui, gaian, serve, --addr, "127.0.0.1:${GAIAN_PORT:-8000}"]
//!       environment:
//!         REDIS_URL: redis://127.0.0.1:${REDIS_PORT:-6379}/
//!       healthcheck: http://127.0.0.1:${GAIAN_PORT:-8000}/health
//!       watch: ../src   # hot reload's tree (default: its working directory)
//! ```
//!
//! A devtui profile (`profiles/NAME.yaml`) picks which of them run natively. A native service
//! that is also a compose service replaces its container (same name, same row, same place in
//! the dependency order). `devtui` as the program means the running devtui executable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The program name that stands for the running devtui executable.
pub const SELF_PROGRAM: &str = "devtui";

/// One natively run service, as compose interpolated it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NativeService {
    pub name: String,
    /// Program and arguments (no shell).
    pub command: Vec<String>,
    pub environment: Vec<(String, String)>,
    /// An http(s) URL answering 2xx when the service is healthy.
    pub healthcheck: Option<String>,
    /// Where the process runs: the project's working directory unless set (relative to it).
    pub working_dir: PathBuf,
    /// The tree hot reload watches (`watch:`, relative to the project's directory); its
    /// working directory when not set.
    pub watch: Option<PathBuf>,
}

/// `x-devtui` in compose's normalised JSON.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DevtuiJson {
    #[serde(default)]
    native: BTreeMap<String, NativeJson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeJson {
    command: Vec<serde_json::Value>,
    #[serde(default)]
    environment: BTreeMap<String, serde_json::Value>,
    healthcheck: Option<String>,
    working_dir: Option<PathBuf>,
    watch: Option<PathBuf>,
}

/// A scalar from YAML as the text a process sees (`8000`, `true`, `x`). `docker compose
/// config` keeps a literal dollar escaped as `$$` (its output is compose input again); the
/// process gets the single `$` that compose would give a container.
fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.replace("$$", "$"),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl DevtuiJson {
    /// The declared native services; `working_dir` is the project's.
    pub(crate) fn into_services(self, working_dir: &Path) -> Result<Vec<NativeService>, String> {
        self.native
            .into_iter()
            .map(|(name, n)| {
                if n.command.is_empty() {
                    return Err(format!("x-devtui.native.{name}.command is empty"));
                }
                if let Some(url) = &n.healthcheck
                    && !(url.starts_with("http://") || url.starts_with("https://"))
                {
                    return Err(format!(
                        "x-devtui.native.{name}.healthcheck must be an http(s) URL, not {url:?}"
                    ));
                }
                Ok(NativeService {
                    command: n.command.iter().map(text).collect(),
                    environment: n
                        .environment
                        .iter()
                        .map(|(k, v)| (k.clone(), text(v)))
                        .collect(),
                    healthcheck: n.healthcheck.map(|h| h.replace("$$", "$")),
                    watch: n.watch.map(|w| working_dir.join(w)),
                    working_dir: match n.working_dir {
                        Some(dir) => working_dir.join(dir),
                        None => working_dir.to_path_buf(),
                    },
                    name,
                })
            })
            .collect()
    }
}

/// A compose file's `x-devtui` block, the rest ignored.
#[derive(Debug, Default, Deserialize)]
struct FileJson {
    #[serde(rename = "x-devtui", default)]
    devtui: Option<DevtuiJson>,
}

/// The native services declared in `files` read without compose (for a profile that runs
/// only native services: no engine, no `docker` binary needed), interpolated through
/// `lookup` as compose would. A later file's definition of a service replaces an earlier
/// one's. Errors name the file.
pub(crate) fn from_files(
    files: &[PathBuf],
    working_dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<NativeService>, String> {
    let mut all = DevtuiJson::default();
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let parsed: FileJson = serde_saphyr::from_str(&text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            let first = e.to_string();
            let first = first
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid YAML");
            format!("{}{at}: {}", file.display(), first.trim())
        })?;
        for (name, mut native) in parsed.devtui.unwrap_or_default().native {
            let at = |e: String| format!("{}: x-devtui.native.{name}: {e}", file.display());
            for v in native
                .command
                .iter_mut()
                .chain(native.environment.values_mut())
            {
                interpolate_value(v, lookup).map_err(at)?;
            }
            if let Some(h) = &mut native.healthcheck {
                *h = super::interpolate::interpolate(h, lookup).map_err(at)?;
            }
            all.native.insert(name, native);
        }
    }
    all.into_services(working_dir)
        .map_err(|e| match files.first() {
            Some(f) => format!("{}: {e}", f.display()),
            None => e,
        })
}

fn interpolate_value(
    v: &mut serde_json::Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    if let serde_json::Value::String(s) = v {
        *s = super::interpolate::interpolate(s, lookup)?;
    }
    Ok(())
}

impl NativeService {
    /// The command line as shown to the user.
    pub fn command_line(&self) -> String {
        self.command.join(" ")
    }

    /// The tree hot reload watches for it.
    pub fn watch_root(&self) -> &Path {
        self.watch.as_deref().unwrap_or(&self.working_dir)
    }
}
