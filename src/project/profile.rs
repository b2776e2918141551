//! devtui profiles: named choices about how a stack runs, one YAML file each.
//!
//! ```yaml
//! # profiles/dev.yaml
//! description: Gaian native, with shortcuts   # one line, shown by `devtui profiles`
//! extends: native   # another profile of this directory; this file's keys win
//! compose:          # what compose is asked for (extends the command line's `--profile`)
//!   files: [compose.yaml, compose.dev.yaml]   # replace the discovered files (not `-f`)
//!   profiles: [vector]                        # compose profiles to enable
//! services: [gaian]  # the services `up` starts (SERVICE... on the command line wins)
//! native: [gaian]   # run these natively (see `x-devtui.native` in the compose file)
//! native_env:        # per native service: variables set over its x-devtui.native ones
//!   gaian: {DATABASE_URL: ""}   # an empty value: as if unset
//! tui: false         # `up` does not open the TUI (as `--no-tui`)
//! timeout: 60        # seconds `up` waits for health (`--timeout` wins)
//! backups:           # where `devtui backup` writes and how many it keeps
//!   dir: ../backups  # relative to the compose file's directory
//!   keep: 10         # the newest N per service (default 10)
//!   keep_days: 14    # and any younger than N days
//!   before_reset: true   # `devtui reset` backs databases up first (default true)
//! reload:            # hot reload's default per service, until toggled (`devtui reload`)
//!   gaian: true
//! reload_command:    # with reload on, a built service without develop.watch runs this
//!   api: uvicorn app:app --host 0.0.0.0 --reload
//! commands:          # custom commands: `devtui run NAME`, a key and `:run NAME` in the TUI
//!   - {name: psql, key: P, run: [psql, -U, gaian, gaian], service: postgres}
//! ```
//!
//! The bundled stack's profiles are in `profiles/` of the checkout (and written beside the
//! materialised stack); another project keeps them in `.devtui/profiles/` next to its compose
//! file. A path (`-P ./my.yaml`) names a file directly.

mod command;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

pub use self::command::CustomCommand;
use self::command::RawCommand;
use super::native::NativeService;
use super::{Location, Origin, Project};
use crate::keymap::Keymap;

/// The bundled profiles, built into the binary.
pub const BUNDLED: &[(&str, &str)] = &[
    ("native.yaml", include_str!("../../profiles/native.yaml")),
    ("dev.yaml", include_str!("../../profiles/dev.yaml")),
    ("minimal.yaml", include_str!("../../profiles/minimal.yaml")),
    ("full.yaml", include_str!("../../profiles/full.yaml")),
    ("ci.yaml", include_str!("../../profiles/ci.yaml")),
];

/// A loaded profile, its `extends:` chain merged in.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub file: PathBuf,
    /// What the profile is for, in one line (its own: a child does not inherit it).
    pub description: Option<String>,
    /// The profile this one extends, as written.
    pub extends: Option<String>,
    native: Vec<Located<String>>,
    /// Variables set over a native service's declared environment, by service.
    native_env: Vec<(Located<String>, BTreeMap<String, String>)>,
    /// Compose files replacing the discovered ones (as written, relative to the project).
    compose_files: Option<Vec<Located<String>>>,
    /// Compose profiles enabled besides the command line's.
    compose_profiles: Vec<Located<String>>,
    /// The services `up` starts, when the command line names none.
    services: Option<Vec<Located<String>>>,
    /// Whether `up` opens the TUI (`None`: as the command line says).
    pub tui: Option<bool>,
    /// Seconds `up` waits for health, unless `--timeout` is given.
    pub timeout: Option<u64>,
    /// `reload:`: hot reload on or off per service until it is toggled; a child's entry
    /// replaces its parent's for that service.
    reload: Vec<(Located<String>, bool)>,
    /// `reload_command:`: the command a built service without `develop.watch` runs with
    /// reload on (over its `dev.devtui.reload.command` label); a child's replaces its
    /// parent's for that service.
    reload_command: Vec<(Located<String>, String)>,
    /// The `backups:` section, if the profile has one.
    pub backups: Option<BackupSettings>,
    /// Custom commands, the parent's first; a child's command replaces its parent's of the
    /// same name.
    pub commands: Vec<CustomCommand>,
}

/// A value with the file, line and column it was written at: after `extends:` merges files,
/// an error must still name the right one.
#[derive(Debug, Clone, PartialEq)]
struct Located<T> {
    value: T,
    file: PathBuf,
    line: u64,
    column: u64,
}

impl<T: Clone> Located<T> {
    fn new(spanned: &Spanned<T>, file: &Path) -> Self {
        Self {
            value: spanned.value.clone(),
            file: file.to_path_buf(),
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    #[serde(default)]
    description: Option<Spanned<String>>,
    #[serde(default)]
    extends: Option<Spanned<String>>,
    #[serde(default)]
    native: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    native_env: Option<BTreeMap<String, Spanned<BTreeMap<String, String>>>>,
    #[serde(default)]
    compose: Option<RawCompose>,
    #[serde(default)]
    services: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    tui: Option<bool>,
    #[serde(default)]
    timeout: Option<Spanned<u64>>,
    #[serde(default)]
    backups: Option<BackupSettings>,
    #[serde(default)]
    reload: Option<std::collections::HashMap<Spanned<String>, bool>>,
    #[serde(default)]
    reload_command: Option<std::collections::HashMap<Spanned<String>, String>>,
    #[serde(default)]
    commands: Option<Vec<RawCommand>>,
}

/// A profile's `compose:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompose {
    #[serde(default)]
    files: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    profiles: Option<Vec<Spanned<String>>>,
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
    /// Whether `devtui reset` backs the databases up first (default: yes).
    pub before_reset: Option<bool>,
}

impl BackupSettings {
    /// Whether `reset` takes a backup first.
    pub fn backup_before_reset(section: Option<&BackupSettings>) -> bool {
        section.and_then(|b| b.before_reset).unwrap_or(true)
    }
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

impl Error {
    /// An error at the place `at` was written in `file`.
    fn at<T>(file: &Path, at: &Spanned<T>, message: impl Into<String>) -> Error {
        Error::Invalid {
            file: file.to_path_buf(),
            line: at.referenced.line(),
            column: at.referenced.column(),
            message: message.into(),
        }
    }
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

/// Loads profile `name` (a name in the project's profile directory, or a path to a file),
/// with the profiles it extends. `keys` are the TUI's keys in force: a command may not take
/// one, and the config file's `run.NAME` keys replace the profile's own. `None` for a caller
/// that uses no key (backups): a clash with the TUI's keys does not stop it.
pub fn load(loc: &Location, name: &str, keys: Option<&Keymap>) -> Result<Profile, Error> {
    let by_path = name.contains('/') || name.ends_with(".yaml") || name.ends_with(".yml");
    let file = if by_path {
        PathBuf::from(name)
    } else {
        dir(loc).join(format!("{name}.yaml"))
    };
    match read_file(&file)? {
        Some(text) => resolve(&text, &file, name, &read_file, keys),
        None if by_path => Err(Error::Read {
            file,
            source: std::io::ErrorKind::NotFound.into(),
        }),
        None => Err(Error::Unknown {
            name: name.to_string(),
            dir: dir(loc),
            known: known(&dir(loc)),
        }),
    }
}

/// Parses a profile's text; `file` names it in errors and its directory holds the profiles it
/// extends. Its keys are checked against the TUI's default keys.
pub fn parse(text: &str, file: &Path, name: &str) -> Result<Profile, Error> {
    parse_with(text, file, name, &Keymap::default())
}

/// As `parse`, with the TUI's keys in force.
pub fn parse_with(text: &str, file: &Path, name: &str, keys: &Keymap) -> Result<Profile, Error> {
    resolve(text, file, name, &read_file, Some(keys))
}

/// A profile file's text; `None` when there is no such file.
fn read_file(file: &Path) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(file) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            file: file.to_path_buf(),
            source,
        }),
    }
}

/// A file's text, `None` when there is no such file.
type Read<'a> = dyn Fn(&Path) -> Result<Option<String>, Error> + 'a;

/// Parses `text` and the chain of profiles it extends (read through `read`), then merges
/// them, the child's keys winning.
fn resolve(
    text: &str,
    file: &Path,
    name: &str,
    read: &Read<'_>,
    keys: Option<&Keymap>,
) -> Result<Profile, Error> {
    let mut chain: Vec<(PathBuf, RawProfile)> = Vec::new();
    let mut text = text.to_string();
    let mut file = file.to_path_buf();
    loop {
        let raw = parse_one(&text, &file)?;
        let parent = raw.extends.clone();
        chain.push((file.clone(), raw));
        let Some(parent) = parent else { break };
        let bad = |message: String| Err(Error::at(&file, &parent, message));
        let valid = !parent.value.is_empty()
            && !parent.value.contains(['/', '\\'])
            && !parent.value.ends_with(".yaml");
        if !valid {
            return bad(format!(
                "extends: {:?} must name another profile of this directory (NAME for NAME.yaml)",
                parent.value
            ));
        }
        let here = file.parent().unwrap_or(Path::new("."));
        let next = here.join(format!("{}.yaml", parent.value));
        if chain.iter().any(|(f, _)| same_file(f, &next)) {
            let names: Vec<String> = chain
                .iter()
                .map(|(f, _)| stem(f))
                .chain([parent.value.clone()])
                .collect();
            return bad(format!("extends makes a cycle: {}", names.join(" → ")));
        }
        match read(&next)? {
            Some(t) => text = t,
            None => {
                return bad(format!(
                    "extends {:?}: no such profile in {} (profiles there: {})",
                    parent.value,
                    here.display(),
                    known(here)
                ));
            }
        }
        file = next;
    }
    merge(name, chain, keys)
}

fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(a) == canon(b)
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Parses one file and checks what can be checked within it.
fn parse_one(text: &str, file: &Path) -> Result<RawProfile, Error> {
    let raw: RawProfile = if text.trim().is_empty() {
        RawProfile::default()
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
        return Err(Error::at(
            file,
            keep,
            "backups.keep must be at least 1 (the newest backup is always kept)",
        ));
    }
    if let Some(t) = &raw.timeout
        && t.value == 0
    {
        return Err(Error::at(file, t, "timeout must be at least 1 second"));
    }
    if let Some(files) = raw.compose.as_ref().and_then(|c| c.files.as_ref()) {
        if let Some(f) = files.iter().find(|f| f.value.trim().is_empty()) {
            return Err(Error::at(file, f, "compose.files: an empty file name"));
        }
        if files.is_empty() {
            return Err(Error::Invalid {
                file: file.to_path_buf(),
                line: 1,
                column: 1,
                message: "compose.files is empty: leave it out to use the discovered files".into(),
            });
        }
    }
    if let Some(d) = &raw.description
        && (d.value.contains('\n') || d.value.trim().is_empty())
    {
        return Err(Error::at(
            file,
            d,
            "description must be one line of text (`devtui profiles` lists it)",
        ));
    }
    command::check(raw.commands.as_deref().unwrap_or_default(), file)?;
    Ok(raw)
}

/// Merges a chain (the profile first, its furthest ancestor last): each key the child sets
/// replaces its parent's; commands merge by name.
fn merge(
    name: &str,
    chain: Vec<(PathBuf, RawProfile)>,
    keys: Option<&Keymap>,
) -> Result<Profile, Error> {
    let Some((file, own)) = chain.first() else {
        return Err(Error::Invalid {
            file: PathBuf::new(),
            line: 1,
            column: 1,
            message: "empty profile chain".into(),
        });
    };
    let mut profile = Profile {
        name: name.to_string(),
        file: file.clone(),
        description: own.description.as_ref().map(|d| d.value.trim().to_string()),
        extends: own.extends.as_ref().map(|e| e.value.clone()),
        native: Vec::new(),
        native_env: Vec::new(),
        compose_files: None,
        compose_profiles: Vec::new(),
        services: None,
        tui: None,
        timeout: None,
        reload: Vec::new(),
        reload_command: Vec::new(),
        backups: None,
        commands: Vec::new(),
    };
    let mut commands: Vec<(CustomCommand, PathBuf, &RawCommand)> = Vec::new();
    for (file, raw) in chain.iter().rev() {
        if let Some(native) = &raw.native {
            profile.native = native.iter().map(|n| Located::new(n, file)).collect();
        }
        if let Some(env) = &raw.native_env {
            profile.native_env = env
                .iter()
                .map(|(service, vars)| {
                    let at = Located {
                        value: service.clone(),
                        file: file.clone(),
                        line: vars.referenced.line(),
                        column: vars.referenced.column(),
                    };
                    (at, vars.value.clone())
                })
                .collect();
        }
        if let Some(compose) = &raw.compose {
            if let Some(files) = &compose.files {
                profile.compose_files = Some(files.iter().map(|f| Located::new(f, file)).collect());
            }
            if let Some(profiles) = &compose.profiles {
                profile.compose_profiles = profiles.iter().map(|p| Located::new(p, file)).collect();
            }
        }
        if let Some(services) = &raw.services {
            profile.services = Some(services.iter().map(|s| Located::new(s, file)).collect());
        }
        if let Some(tui) = raw.tui {
            profile.tui = Some(tui);
        }
        if let Some(timeout) = &raw.timeout {
            profile.timeout = Some(timeout.value);
        }
        if let Some(backups) = &raw.backups {
            profile.backups = Some(backups.clone());
        }
        let mut own: Vec<(Located<String>, bool)> = raw
            .reload
            .iter()
            .flatten()
            .map(|(name, on)| (Located::new(name, file), *on))
            .collect();
        own.sort_by_key(|(n, _)| (n.line, n.column));
        for (name, on) in own {
            profile.reload.retain(|(n, _)| n.value != name.value);
            profile.reload.push((name, on));
        }
        let mut own: Vec<(Located<String>, String)> = raw
            .reload_command
            .iter()
            .flatten()
            .map(|(name, cmd)| (Located::new(name, file), cmd.clone()))
            .collect();
        own.sort_by_key(|(n, _)| (n.line, n.column));
        for (name, cmd) in own {
            profile
                .reload_command
                .retain(|(n, _)| n.value != name.value);
            profile.reload_command.push((name, cmd));
        }
        for raw_cmd in raw.commands.iter().flatten() {
            let cmd = raw_cmd.to_command();
            match commands.iter_mut().find(|(c, _, _)| c.name == cmd.name) {
                Some(slot) => *slot = (cmd, file.clone(), raw_cmd),
                None => commands.push((cmd, file.clone(), raw_cmd)),
            }
        }
    }
    command::check_keys(&mut commands, keys)?;
    profile.commands = commands.into_iter().map(|(c, _, _)| c).collect();
    Ok(profile)
}

/// The names of the profiles in `dir` (its `*.yaml` files), sorted.
pub fn names(dir: &Path) -> Vec<String> {
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
    names
}

fn known(dir: &Path) -> String {
    let names = names(dir);
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// An error at `name` unless it is a service of `project` (compose's or a native one).
fn known_service(name: &Located<String>, project: &Project, key: &str) -> Result<(), Error> {
    let known = project.all_services.iter().any(|s| s.name == name.value)
        || project.natives.iter().any(|n| n.name == name.value);
    if known {
        return Ok(());
    }
    let mut names: Vec<&str> = project
        .all_services
        .iter()
        .map(|s| s.name.as_str())
        .chain(project.natives.iter().map(|n| n.name.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    Err(Error::Invalid {
        file: name.file.clone(),
        line: name.line,
        column: name.column,
        message: format!(
            "{key}: {:?} is not a service of project {} (services: {})",
            name.value,
            project.name,
            names.join(", ")
        ),
    })
}

impl Profile {
    /// Hot reload's default per service (`reload:`), checked against the project's services
    /// (compose's and the native ones).
    pub fn reload_defaults(
        &self,
        project: &Project,
    ) -> Result<std::collections::BTreeMap<String, bool>, Error> {
        self.reload
            .iter()
            .map(|(name, on)| {
                known_service(name, project, "reload")?;
                Ok((name.value.clone(), *on))
            })
            .collect()
    }

    /// The command each built service runs with reload on (`reload_command:`), checked
    /// against the project's services.
    pub fn reload_commands(
        &self,
        project: &Project,
    ) -> Result<std::collections::BTreeMap<String, String>, Error> {
        self.reload_command
            .iter()
            .map(|(name, cmd)| {
                known_service(name, project, "reload_command")?;
                Ok((name.value.clone(), cmd.clone()))
            })
            .collect()
    }

    /// The custom command called `name`.
    pub fn command(&self, name: &str) -> Option<&CustomCommand> {
        self.commands.iter().find(|c| c.name == name)
    }

    /// The native services this profile runs, checked against what the project declares,
    /// with the profile's `native_env` applied.
    pub fn natives(&self, project: &Project) -> Result<Vec<NativeService>, Error> {
        for (service, _) in &self.native_env {
            if !project.natives.iter().any(|n| n.name == service.value) {
                return Err(no_native(service, project));
            }
        }
        self.native
            .iter()
            .map(|name| {
                self.native_definition(project, &name.value)
                    .ok_or_else(|| no_native(name, project))
            })
            .collect()
    }

    /// How `service` runs natively under this profile: its `x-devtui.native` definition with
    /// the profile's `native_env` set over it.
    pub fn native_definition(&self, project: &Project, service: &str) -> Option<NativeService> {
        let mut native = project.natives.iter().find(|n| n.name == service)?.clone();
        let vars = self
            .native_env
            .iter()
            .filter(|(s, _)| s.value == service)
            .flat_map(|(_, vars)| vars);
        for (key, value) in vars {
            match native.environment.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value.clone(),
                None => native.environment.push((key.clone(), value.clone())),
            }
        }
        Some(native)
    }

    /// The names of the services this profile runs natively.
    pub fn native_names(&self) -> Vec<String> {
        self.native.iter().map(|n| n.value.clone()).collect()
    }

    /// The `services` key as written (`None`: every enabled service).
    pub fn service_names(&self) -> Option<Vec<String>> {
        self.services
            .as_ref()
            .map(|s| s.iter().map(|s| s.value.clone()).collect())
    }

    /// The compose profiles the profile enables, as written.
    pub fn compose_profile_names(&self) -> Vec<String> {
        self.compose_profiles
            .iter()
            .map(|p| p.value.clone())
            .collect()
    }

    /// Whether every service the profile starts runs natively: `up` then needs neither the
    /// engine nor compose.
    pub fn native_only(&self) -> bool {
        match &self.services {
            Some(services) if !services.is_empty() => services
                .iter()
                .all(|s| self.native.iter().any(|n| n.value == s.value)),
            _ => false,
        }
    }

    /// The compose files replacing the discovered ones (`None`: the discovered ones), each
    /// relative to `working_dir`; one that does not exist is an error where it is written.
    pub fn compose_files(&self, working_dir: &Path) -> Result<Option<Vec<PathBuf>>, Error> {
        let Some(files) = &self.compose_files else {
            return Ok(None);
        };
        files
            .iter()
            .map(|f| {
                let path = working_dir.join(&f.value);
                if path.is_file() {
                    Ok(path)
                } else {
                    Err(invalid(
                        f,
                        format!(
                            "compose file {:?} does not exist ({})",
                            f.value,
                            path.display()
                        ),
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The compose profiles this profile enables, checked against those the project has.
    pub fn compose_profiles(&self, project: &Project) -> Result<Vec<String>, Error> {
        let mut known: Vec<String> = project
            .all_services
            .iter()
            .flat_map(|s| s.profiles.clone())
            .collect();
        known.sort();
        known.dedup();
        self.compose_profiles
            .iter()
            .map(|p| {
                if known.contains(&p.value) {
                    Ok(p.value.clone())
                } else {
                    Err(invalid(
                        p,
                        format!(
                            "unknown compose profile {:?} (profiles in this project: {})",
                            p.value,
                            list(&known)
                        ),
                    ))
                }
            })
            .collect()
    }

    /// The services `up` starts by default (`None`: every enabled one), each checked
    /// against the project's services and native definitions.
    pub fn services(&self, project: &Project) -> Result<Option<Vec<String>>, Error> {
        let Some(services) = &self.services else {
            return Ok(None);
        };
        let mut known: Vec<String> = project
            .all_services
            .iter()
            .map(|s| s.name.clone())
            .collect();
        known.extend(project.natives.iter().map(|n| n.name.clone()));
        known.sort();
        known.dedup();
        services
            .iter()
            .map(|s| {
                if known.contains(&s.value) {
                    Ok(s.value.clone())
                } else {
                    Err(invalid(
                        s,
                        format!(
                            "unknown service {:?} (services in this project: {})",
                            s.value,
                            list(&known)
                        ),
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

fn invalid(at: &Located<String>, message: String) -> Error {
    Error::Invalid {
        file: at.file.clone(),
        line: at.line,
        column: at.column,
        message,
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn no_native(name: &Located<String>, project: &Project) -> Error {
    let declared: Vec<String> = project.natives.iter().map(|n| n.name.clone()).collect();
    invalid(
        name,
        format!(
            "{:?} has no native definition (x-devtui.native in the compose file declares: {})",
            name.value,
            list(&declared)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse("native: [gaian]\nservicez: [x]\n", Path::new("p.yaml"), "p")
            .expect_err("unknown field");
        let text = e.to_string();
        assert!(text.starts_with("p.yaml:2:1: "), "{text}");
        assert!(text.contains("servicez"), "{text}");
        let e = parse(
            "compose:\n  files: [a.yaml]\n  profile: [x]\n",
            Path::new("p.yaml"),
            "p",
        )
        .expect_err("unknown compose key");
        assert!(e.to_string().starts_with("p.yaml:3:3: "), "{e}");
        let e = parse("timeout: 0\n", Path::new("p.yaml"), "p").expect_err("zero");
        assert!(e.to_string().starts_with("p.yaml:1:10: "), "{e}");
        let e = parse("tui: maybe\n", Path::new("p.yaml"), "p").expect_err("not a bool");
        assert!(e.to_string().starts_with("p.yaml:1:"), "{e}");
    }

    #[test]
    fn reload_defaults_are_located_and_merged() {
        let dir = profiles(&[
            ("base.yaml", "reload:\n  api: true\n  worker: true\n"),
            (
                "child.yaml",
                "extends: base\nreload:\n  worker: false\n  nosuch: true\n",
            ),
        ]);
        let p = load_in(dir.path(), "child").expect("valid");
        let got: Vec<(&str, bool, u64)> = p
            .reload
            .iter()
            .map(|(n, on)| (n.value.as_str(), *on, n.line))
            .collect();
        assert_eq!(
            got,
            [("api", true, 2), ("worker", false, 3), ("nosuch", true, 4)]
        );
        assert_eq!(p.reload[2].0.column, 3);
        let e = parse("reload: [api]\n", Path::new("p.yaml"), "p").expect_err("a list");
        assert!(e.to_string().starts_with("p.yaml:1:"), "{e}");
        let e = parse("reload:\n  api: maybe\n", Path::new("p.yaml"), "p").expect_err("not a bool");
        assert!(e.to_string().starts_with("p.yaml:2:"), "{e}");
    }

    #[test]
    fn reload_commands_are_located_and_merged() {
        let dir = profiles(&[
            (
                "base.yaml",
                "reload_command:\n  api: uvicorn app:app --reload\n  web: npm run dev\n",
            ),
            (
                "child.yaml",
                "extends: base\nreload_command:\n  web: vite --host\n",
            ),
        ]);
        let p = load_in(dir.path(), "child").expect("valid");
        let got: Vec<(&str, &str, u64)> = p
            .reload_command
            .iter()
            .map(|(n, c)| (n.value.as_str(), c.as_str(), n.line))
            .collect();
        assert_eq!(
            got,
            [
                ("api", "uvicorn app:app --reload", 2),
                ("web", "vite --host", 3)
            ]
        );
        let e = parse(
            "reload_command:\n  api: [uvicorn]\n",
            Path::new("p.yaml"),
            "p",
        )
        .expect_err("a list");
        assert!(e.to_string().starts_with("p.yaml:2:"), "{e}");
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

    /// A project with no compose services, declaring `natives` natively, whose one
    /// service `qdrant` sits behind the compose profile `vector`.
    fn project_with(natives: &[&str]) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().expect("tempdir");
        let compose = dir.path().join("compose.yaml");
        let mut text = String::from("x-devtui:\n  native:\n");
        for n in natives {
            text.push_str(&format!(
                "    {n}:\n      command: [devtui, gaian, serve]\n      environment: {{DATABASE_URL: postgres://x, KEEP: k}}\n"
            ));
        }
        std::fs::write(&compose, text).expect("write");
        let loc = super::super::Location {
            files: vec![compose],
            working_dir: dir.path().to_path_buf(),
            env_path: dir.path().join(".env"),
            env_example: None,
            origin: super::super::Origin::Explicit,
            project_name: Some("t".into()),
        };
        let mut project = super::super::load_native(&loc).expect("natives");
        let json = r#"{"name":"t","services":{"qdrant":{"image":"q","profiles":["vector"]}}}"#;
        let cfg: super::super::model::ConfigJson = serde_json::from_str(json).expect("json");
        project.all_services = cfg
            .services
            .into_iter()
            .map(|(n, s)| super::super::Service::from_json(n, s))
            .collect();
        (dir, project)
    }

    #[test]
    fn stack_shape_keys_parse_and_are_checked_against_the_project() {
        let text = "description: d\ncompose:\n  profiles: [vector]\nservices: [gaian, qdrant]\nnative: [gaian]\nnative_env:\n  gaian: {DATABASE_URL: '', NEW: n}\ntui: false\ntimeout: 30\nbackups: {before_reset: false}\n";
        let p = parse(text, Path::new("p.yaml"), "p").expect("valid");
        let (_dir, project) = project_with(&["gaian"]);
        assert_eq!(p.compose_profiles(&project).expect("known"), ["vector"]);
        assert_eq!(
            p.services(&project).expect("known"),
            Some(vec!["gaian".to_string(), "qdrant".to_string()])
        );
        assert!(!p.native_only(), "qdrant is a container");
        assert_eq!((p.tui, p.timeout), (Some(false), Some(30)));
        assert!(!BackupSettings::backup_before_reset(p.backups.as_ref()));
        assert!(BackupSettings::backup_before_reset(None));
        let gaian = &p.natives(&project).expect("declared")[0];
        let env: std::collections::HashMap<&str, &str> = gaian
            .environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(env["DATABASE_URL"], "", "native_env wins");
        assert_eq!((env["KEEP"], env["NEW"]), ("k", "n"));

        let cases = [
            (
                "services: [gaian, nosuch]\n",
                "p.yaml:1:19: ",
                "unknown service \"nosuch\"",
            ),
            (
                "compose:\n  profiles: [vektor]\n",
                "p.yaml:2:14: ",
                "unknown compose profile",
            ),
            (
                "native_env:\n  redis: {X: y}\n",
                "p.yaml:2:10: ",
                "no native definition",
            ),
            ("native: [redis]\n", "p.yaml:1:10: ", "no native definition"),
        ];
        for (text, at, what) in cases {
            let p = parse(text, Path::new("p.yaml"), "p").expect(text);
            let e = p
                .services(&project)
                .and_then(|_| p.compose_profiles(&project))
                .and_then(|_| p.natives(&project))
                .expect_err(text)
                .to_string();
            assert!(e.starts_with(at) && e.contains(what), "{text:?}: {e}");
        }
        let p = parse(
            "compose:\n  files: [compose.yaml, nosuch.yaml]\n",
            Path::new("p.yaml"),
            "p",
        )
        .expect("parses");
        let e = p
            .compose_files(&project.working_dir)
            .expect_err("missing")
            .to_string();
        assert!(
            e.starts_with("p.yaml:2:25: ") && e.contains("nosuch.yaml"),
            "{e}"
        );
        let p = parse(
            "services: [gaian]\nnative: [gaian]\n",
            Path::new("p.yaml"),
            "p",
        )
        .expect("ok");
        assert!(p.native_only());
    }

    #[test]
    fn bundled_profiles_parse_with_their_parents() {
        let bundled = |f: &Path| {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            Ok(BUNDLED
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.to_string()))
        };
        for (file, text) in BUNDLED {
            let p = resolve(text, Path::new(file), file, &bundled, None).expect(file);
            assert!(p.description.is_some(), "{file} has no description");
        }
        let dev = BUNDLED.iter().find(|(n, _)| *n == "dev.yaml").expect("dev");
        let dev = resolve(dev.1, Path::new("dev.yaml"), "dev", &bundled, None).expect("dev");
        assert_eq!(dev.extends.as_deref(), Some("native"));
        assert_eq!(dev.native.len(), 1, "native inherited from native.yaml");
        let psql = dev.command("psql").expect("psql");
        assert_eq!(psql.service.as_deref(), Some("postgres"));
        assert_eq!(psql.key, Some('P'));
        let get = |name: &str| {
            let (file, text) = BUNDLED.iter().find(|(n, _)| *n == name).expect(name);
            resolve(text, Path::new(file), name, &bundled, None).expect(name)
        };
        let minimal = get("minimal.yaml");
        assert!(minimal.native_only(), "minimal needs no engine");
        let full = get("full.yaml");
        assert!(full.native.is_empty() && !full.native_only());
        assert_eq!(full.compose_profiles[0].value, "vector");
        assert!(full.command("seed").is_some(), "full has dev's commands");
        let ci = get("ci.yaml");
        assert_eq!((ci.tui, ci.timeout), (Some(false), Some(60)));
    }

    /// Writes `files` (name, text) into a fresh directory.
    fn profiles(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        dir
    }

    fn load_in(dir: &Path, name: &str) -> Result<Profile, Error> {
        let file = dir.join(format!("{name}.yaml"));
        let text = std::fs::read_to_string(&file).expect("read");
        parse(&text, &file, name)
    }

    #[test]
    fn extends_merges_with_the_child_winning() {
        let dir = profiles(&[
            (
                "base.yaml",
                "description: base\nnative: [gaian]\nbackups: {keep: 3}\ncommands:\n  - {name: a, run: [echo, parent-a], key: A}\n  - {name: b, run: [echo, b]}\n",
            ),
            (
                "child.yaml",
                "extends: base\nbackups: {keep: 5}\ncommands:\n  - {name: a, run: [echo, child-a], service: postgres}\n  - {name: c, run: [echo, c], confirm: true, env: {X: y}}\n",
            ),
        ]);
        let p = load_in(dir.path(), "child").expect("valid");
        assert_eq!(p.description, None, "a description is not inherited");
        assert_eq!(p.native.len(), 1);
        assert_eq!(p.native[0].file, dir.path().join("base.yaml"));
        assert_eq!(
            p.backups
                .as_ref()
                .and_then(|b| b.keep.as_ref())
                .map(|k| k.value),
            Some(5)
        );
        let names: Vec<&str> = p.commands.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let a = p.command("a").expect("a");
        assert_eq!(a.run, ["echo", "child-a"]);
        assert_eq!(
            a.key, None,
            "the child's command replaces the parent's whole"
        );
        assert_eq!(a.place(), "postgres");
        let c = p.command("c").expect("c");
        assert!(c.confirm);
        assert_eq!(c.env.get("X").map(String::as_str), Some("y"));
    }

    #[test]
    fn extends_cycles_and_unknown_parents_are_located() {
        let dir = profiles(&[
            ("a.yaml", "description: a\nextends: b\n"),
            ("b.yaml", "native: []\nextends: a\n"),
            ("orphan.yaml", "\n\nextends: nosuch\n"),
            ("self.yaml", "extends: self\n"),
        ]);
        let e = load_in(dir.path(), "a").expect_err("cycle").to_string();
        let b = dir.path().join("b.yaml");
        assert!(e.starts_with(&format!("{}:2:10: ", b.display())), "{e}");
        assert!(e.contains("a → b → a"), "{e}");
        let e = load_in(dir.path(), "self").expect_err("cycle").to_string();
        assert!(e.contains(":1:10: ") && e.contains("self → self"), "{e}");
        let e = load_in(dir.path(), "orphan")
            .expect_err("unknown")
            .to_string();
        assert!(e.contains("orphan.yaml:3:10: "), "{e}");
        assert!(
            e.contains("\"nosuch\"") && e.contains("a, b, orphan, self"),
            "{e}"
        );
    }

    #[test]
    fn command_keys_may_not_be_built_in_or_taken() {
        let text = "commands:\n  - name: psql\n    key: q\n    run: [psql]\n";
        let e = parse(text, Path::new("p.yaml"), "p")
            .expect_err("clash")
            .to_string();
        assert!(e.starts_with("p.yaml:3:10: "), "{e}");
        assert!(e.contains("built-in TUI key"), "{e}");
        let e = parse(
            "commands:\n  - {name: a, key: PP, run: [x]}\n",
            Path::new("p.yaml"),
            "p",
        )
        .expect_err("two characters");
        assert!(e.to_string().contains("one character"), "{e}");
        let dir = profiles(&[
            ("base.yaml", "commands:\n  - {name: a, key: P, run: [x]}\n"),
            (
                "child.yaml",
                "extends: base\ncommands:\n  - {name: b, key: P, run: [y]}\n",
            ),
        ]);
        let e = load_in(dir.path(), "child").expect_err("taken").to_string();
        assert!(e.contains("child.yaml:3:"), "{e}");
        assert!(e.contains("already command \"a\"'s"), "{e}");
    }

    #[test]
    fn command_keys_follow_the_keymap_in_force() {
        let mut keys = Keymap::default();
        keys.bind(
            crate::keymap::Action::Restart,
            vec![crate::keymap::Key::Char('R')],
        )
        .expect("free");
        keys.bind_command("shell", crate::keymap::Key::Char('Z'))
            .expect("free");
        let text = "commands:\n  - {name: psql, key: r, run: [psql]}\n  - {name: shell, key: r, run: [sh]}\n";
        let file = Path::new("p.yaml");
        // `r` is restart's by default, free once restart moves; run.shell moves shell off it.
        let e = resolve(text, file, "p", &read_file, Some(&Keymap::default()))
            .expect_err("built-in")
            .to_string();
        assert!(e.contains("built-in TUI key"), "{e}");
        let p = resolve(text, file, "p", &read_file, Some(&keys)).expect("free");
        assert_eq!(p.commands[0].key, Some('r'));
        assert_eq!(p.commands[1].key, Some('Z'));
        // A key the file took is the TUI's: the profile may not bind it.
        let e = resolve(
            "commands:\n  - {name: psql, key: R, run: [psql]}\n",
            file,
            "p",
            &read_file,
            Some(&keys),
        )
        .expect_err("remapped restart")
        .to_string();
        assert!(
            e.starts_with("p.yaml:2:23: ") && e.contains("built-in TUI key"),
            "{e}"
        );
        let e = resolve(
            "commands:\n  - {name: psql, key: Z, run: [psql]}\n  - {name: shell, run: [sh]}\n",
            file,
            "p",
            &read_file,
            Some(&keys),
        )
        .expect_err("run.shell's key")
        .to_string();
        assert!(e.contains("already command \"shell\"'s"), "{e}");
    }

    #[test]
    fn commands_are_checked_where_they_are_written() {
        let cases = [
            (
                "commands:\n  - {name: a, run: [x], shell: bash}\n",
                "p.yaml:2:",
                "shell",
            ),
            (
                "commands:\n  - {name: a, run: []}\n",
                "p.yaml:2:",
                "needs a program",
            ),
            (
                "commands:\n  - {name: 'a b', run: [x]}\n",
                "p.yaml:2:",
                "letters",
            ),
            (
                "commands:\n  - {name: a, run: [x]}\n  - {name: a, run: [y]}\n",
                "p.yaml:3:",
                "second command",
            ),
            ("description: |\n  two\n  lines\n", "p.yaml:2:", "one line"),
        ];
        for (text, at, what) in cases {
            let e = parse(text, Path::new("p.yaml"), "p")
                .expect_err(text)
                .to_string();
            assert!(e.starts_with(at) && e.contains(what), "{text:?}: {e}");
        }
    }
}
