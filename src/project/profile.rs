//! devtui profiles: named choices about how a stack runs, one YAML file each.
//!
//! ```yaml
//! # profiles/native.yaml
//! native: [gaian]   # run these natively (see `x-devtui.native` in the compose file)
//! backups:           # where `devtui backup` writes and how many it keeps
//!   dir: ../backups  # relative to the compose file's directory
//!   keep: 10         # the newest N per service (default 10)
//!   keep_days: 14    # and any younger than N days
//! ```
//!
//! The bundled stack's profiles are in `profiles/` of the checkout (and written beside the
//! materialised stack); another project keeps them in `.devtui/profiles/` next to its compose
//! file. A path (`-P ./my.yaml`) names a file directly.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::native::NativeService;
use super::{Location, Origin, Project};

/// The bundled profiles, built into the binary.
pub const BUNDLED: &[(&str, &str)] = &[("native.yaml", include_str!("../../profiles/native.yaml"))];

/// A loaded profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub file: PathBuf,
    native: Vec<Spanned<String>>,
    /// The `backups:` section, if the profile has one.
    pub backups: Option<BackupSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    #[serde(default)]
    native: Vec<Spanned<String>>,
    #[serde(default)]
    backups: Option<BackupSettings>,
}

/// A profile's `backups:` section: where backups go and how many are kept.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// The backups directory; relative to the project's directory (`~/` is the home).
    pub dir: Option<String>,
    /// The newest N backups of each service are kept (at least 1).
    pub keep: Option<Spanned<usize>>,
    /// Backups younger than this many days are kept too.
    pub keep_days: Option<u32>,
}

/// A profile that cannot be used, located in its file where that helps.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no devtui profile {name:?} in {dir} (profiles there: {known})")]
    Unknown {
        name: String,
        dir: PathBuf,
        known: String,
    },
    #[error("cannot read {file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },
}

/// Where a project's profiles live.
pub fn dir(loc: &Location) -> PathBuf {
    match loc.origin {
        Origin::BundledInPlace => loc
            .working_dir
            .parent()
            .unwrap_or(&loc.working_dir)
            .join("profiles"),
        Origin::BundledMaterialised => loc.working_dir.join("profiles"),
        Origin::Explicit | Origin::Discovered => loc.working_dir.join(".devtui/profiles"),
    }
}

/// Loads profile `name` (a name in the project's profile directory, or a path to a file).
pub fn load(loc: &Location, name: &str) -> Result<Profile, Error> {
    let by_path = name.contains('/') || name.ends_with(".yaml") || name.ends_with(".yml");
    let file = if by_path {
        PathBuf::from(name)
    } else {
        dir(loc).join(format!("{name}.yaml"))
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !by_path => {
            return Err(Error::Unknown {
                name: name.to_string(),
                dir: dir(loc),
                known: known(&dir(loc)),
            });
        }
        Err(source) => return Err(Error::Read { file, source }),
    };
    parse(&text, &file, name)
}

/// Parses a profile's text; `file` names it in errors.
pub fn parse(text: &str, file: &Path, name: &str) -> Result<Profile, Error> {
    let raw: RawProfile = if text.trim().is_empty() {
        RawProfile {
            native: Vec::new(),
            backups: None,
        }
    } else {
        serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            Error::Invalid {
                file: file.to_path_buf(),
                line,
                column,
                message: e
                    .to_string()
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid YAML")
                    .trim()
                    .to_string(),
            }
        })?
    };
    if let Some(keep) = raw.backups.as_ref().and_then(|b| b.keep.as_ref())
        && keep.value == 0
    {
        return Err(Error::Invalid {
            file: file.to_path_buf(),
            line: keep.referenced.line(),
            column: keep.referenced.column(),
            message: "backups.keep must be at least 1 (the newest backup is always kept)".into(),
        });
    }
    Ok(Profile {
        name: name.to_string(),
        file: file.to_path_buf(),
        native: raw.native,
        backups: raw.backups,
    })
}

fn known(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".yaml"))
                .map(str::to_string)
        })
        .collect();
    names.sort();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

impl Profile {
    /// The native services this profile runs, checked against what the project declares.
    pub fn natives(&self, project: &Project) -> Result<Vec<NativeService>, Error> {
        self.native
            .iter()
            .map(|name| {
                project
                    .natives
                    .iter()
                    .find(|n| n.name == name.value)
                    .cloned()
                    .ok_or_else(|| {
                        let declared: Vec<&str> =
                            project.natives.iter().map(|n| n.name.as_str()).collect();
                        Error::Invalid {
                            file: self.file.clone(),
                            line: name.referenced.line(),
                            column: name.referenced.column(),
                            message: format!(
                                "{:?} has no native definition (x-devtui.native in the compose file declares: {})",
                                name.value,
                                if declared.is_empty() {
                                    "none".to_string()
                                } else {
                                    declared.join(", ")
                                }
                            ),
                        }
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse("native: [gaian]\nservices: [x]\n", Path::new("p.yaml"), "p")
            .expect_err("unknown field");
        let text = e.to_string();
        assert!(text.starts_with("p.yaml:2:1: "), "{text}");
        assert!(text.contains("services"), "{text}");
    }

    #[test]
    fn backups_section_parses_and_is_checked() {
        let p = parse(
            "backups:\n  dir: ../bk\n  keep: 3\n  keep_days: 7\n",
            Path::new("p.yaml"),
            "p",
        )
        .expect("valid");
        let b = p.backups.expect("section");
        assert_eq!(b.dir.as_deref(), Some("../bk"));
        assert_eq!(b.keep.map(|k| k.value), Some(3));
        assert_eq!(b.keep_days, Some(7));
        let e = parse("backups:\n  keep: 0\n", Path::new("p.yaml"), "p").expect_err("zero");
        assert!(e.to_string().starts_with("p.yaml:2:"), "{e}");
        let e = parse("backups:\n  kept: 3\n", Path::new("p.yaml"), "p").expect_err("typo");
        assert!(e.to_string().starts_with("p.yaml:2:"), "{e}");
    }

    #[test]
    fn bundled_profiles_parse() {
        for (file, text) in BUNDLED {
            parse(text, Path::new(file), file).expect(file);
        }
    }
}
