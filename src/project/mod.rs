//! The compose project: discovery, the model from `docker compose config`, profiles and `.env`.
//!
//! Discovery follows docker compose: `-f/--file` (repeatable) and `-p/--project-name`; else
//! `COMPOSE_FILE`; else compose.yaml / compose.yml / docker-compose.yaml / docker-compose.yml
//! (plus its override file) in the current directory or a parent; else the bundled stack.
//! The bundled stack is used in place inside the devtui checkout (its `.env` is
//! `compose/.env`, git-ignored) and otherwise materialised under `paths::data_dir()/stack`
//! (its `.env` lives there too).

/// The embedded default stack.
pub mod bundled;
/// `.env` creation.
pub mod env;
mod interpolate;
/// The service model read from compose.
pub mod model;
pub mod native;
pub mod profile;

use std::path::{Path, PathBuf};

pub use model::{
    Build, Dependency, DependsCondition, Mount, PortSpec, Service, WatchRule, dependency_order,
};

use crate::engine::compose::{self, Compose};
use crate::exit;

/// File names compose looks for, in its order of preference.
pub const COMPOSE_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
const OVERRIDE_FILE_NAMES: [&str; 4] = [
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// How the project is found, as `docker compose` takes it: `-f` files and `-p` name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovery {
    /// Compose files (relative to the current directory); none: look for them.
    pub files: Vec<PathBuf>,
    pub project_name: Option<String>,
}

/// Where a project's files came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `-f` or `COMPOSE_FILE`.
    Explicit,
    /// Found in the current directory or a parent.
    Discovered,
    /// The bundled stack, in place in the devtui checkout.
    BundledInPlace,
    /// The bundled stack, materialised under the data directory.
    BundledMaterialised,
}

/// A found project, before compose has read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub files: Vec<PathBuf>,
    pub working_dir: PathBuf,
    /// Where the project's `.env` is or would be created.
    pub env_path: PathBuf,
    /// The `.env.example` to create `.env` from, when there is one.
    pub env_example: Option<PathBuf>,
    pub origin: Origin,
    /// `-p`, if given.
    pub project_name: Option<String>,
}

/// A compose project as compose resolved it.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub name: String,
    pub files: Vec<PathBuf>,
    pub working_dir: PathBuf,
    /// The `.env` passed to compose, if it exists.
    pub env_file: Option<PathBuf>,
    /// Active compose profiles (as given).
    pub profiles: Vec<String>,
    /// Services enabled by the active profiles, each after the services it depends on.
    pub services: Vec<Service>,
    /// Every service of every profile, in dependency order.
    pub all_services: Vec<Service>,
    pub origin: Origin,
    pub env_example: Option<PathBuf>,
    /// Values to mask wherever devtui shows text from this project.
    pub secrets: env::Secrets,
    /// Services declared runnable natively (`x-devtui.native`); a profile picks which run so.
    pub natives: Vec<native::NativeService>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("compose file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("cannot prepare the bundled stack in {dir}: {source}")]
    Bundled {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the current directory: {0}")]
    Cwd(std::io::Error),
    #[error(transparent)]
    Env(#[from] env::Error),
    /// Compose rejected the files; the message is compose's own, located where we can.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Compose(compose::Error),
    #[error("cannot read `docker compose config` output: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown profile {name:?} (profiles in this project: {known})")]
    UnknownProfile { name: String, known: String },
    #[error("unknown service {name:?} (services in this project: {known})")]
    UnknownService { name: String, known: String },
    #[error("{}: {message}", files.first().map(|f| f.display().to_string()).unwrap_or_default())]
    Native {
        files: Vec<PathBuf>,
        message: String,
    },
    #[error(transparent)]
    Profile(#[from] profile::Error),
}

impl Error {
    /// The exit code a command should end with for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Compose(_) => exit::NO_ENGINE,
            Error::Bundled { .. } | Error::Cwd(_) => exit::FAILED,
            _ => exit::USAGE,
        }
    }
}

impl From<Error> for exit::Failure {
    fn from(e: Error) -> Self {
        exit::Failure::new(e.exit_code(), e.to_string())
    }
}

/// Finds the project's compose files the way docker compose does (see the module docs).
pub fn discover(args: &Discovery) -> Result<Location, Error> {
    let cwd = std::env::current_dir().map_err(Error::Cwd)?;
    let explicit: Vec<PathBuf> = if !args.files.is_empty() {
        args.files.iter().map(|f| cwd.join(f)).collect()
    } else if let Ok(list) = std::env::var("COMPOSE_FILE")
        && !list.is_empty()
    {
        let sep = std::env::var("COMPOSE_PATH_SEPARATOR").unwrap_or_else(|_| ":".into());
        list.split(sep.as_str())
            .filter(|s| !s.is_empty())
            .map(|f| cwd.join(f))
            .collect()
    } else {
        Vec::new()
    };
    if !explicit.is_empty() {
        for f in &explicit {
            if !f.is_file() {
                return Err(Error::MissingFile(f.clone()));
            }
        }
        let working_dir = explicit[0]
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or(cwd.clone());
        return Ok(located(
            explicit,
            working_dir,
            Origin::Explicit,
            args.project_name.clone(),
        ));
    }
    for dir in cwd.ancestors() {
        if let Some(file) = first_existing(dir, &COMPOSE_FILE_NAMES) {
            let mut files = vec![file];
            files.extend(first_existing(dir, &OVERRIDE_FILE_NAMES));
            return Ok(located(
                files,
                dir.to_path_buf(),
                Origin::Discovered,
                args.project_name.clone(),
            ));
        }
        if bundled::is_checkout(dir) {
            return Ok(bundled::in_place(dir, args.project_name.clone()));
        }
    }
    bundled::materialise(&crate::paths::data_dir(), args.project_name.clone())
}

fn located(
    files: Vec<PathBuf>,
    working_dir: PathBuf,
    origin: Origin,
    project_name: Option<String>,
) -> Location {
    let example = working_dir.join(".env.example");
    Location {
        files,
        env_path: working_dir.join(".env"),
        env_example: example.is_file().then_some(example),
        working_dir,
        origin,
        project_name,
    }
}

fn first_existing(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Discovers the project and reads it with `docker compose config --format json`.
pub async fn load(args: &Discovery, profiles: &[String]) -> Result<Project, Error> {
    load_at(&discover(args)?, profiles).await
}

/// Reads a discovered project with `docker compose config --format json`.
///
/// Compose runs once with every profile enabled, so unknown profiles can be named and the
/// enabled set is computed here. An existing `.env` that cannot be read is named first.
pub async fn load_at(loc: &Location, profiles: &[String]) -> Result<Project, Error> {
    let env_file = if loc.env_path.symlink_metadata().is_ok() {
        env::check_readable(&loc.env_path)?;
        Some(loc.env_path.clone())
    } else {
        None
    };
    let driver = Compose {
        project_name: loc.project_name.clone(),
        files: loc.files.clone(),
        env_file: env_file.clone(),
        profiles: vec!["*".into()],
        working_dir: Some(loc.working_dir.clone()),
        ..Compose::default()
    };
    let json = match driver.output(&["config", "--format", "json"]).await {
        Ok(json) => json,
        Err(compose::Error::Failed { stderr, .. }) => {
            return Err(Error::Config(locate_config_error(&loc.files, &stderr)));
        }
        Err(e) => return Err(Error::Compose(e)),
    };
    let config: model::ConfigJson = serde_json::from_str(&json)?;
    let natives = config
        .devtui
        .into_services(&loc.working_dir)
        .map_err(|message| Error::Native {
            files: loc.files.clone(),
            message,
        })?;
    let all: Vec<Service> = config
        .services
        .into_iter()
        .map(|(name, s)| Service::from_json(name, s))
        .collect();
    let known: Vec<String> = {
        let mut p: Vec<String> = all.iter().flat_map(|s| s.profiles.clone()).collect();
        p.sort();
        p.dedup();
        p
    };
    if let Some(unknown) = profiles.iter().find(|p| !known.contains(p)) {
        return Err(Error::UnknownProfile {
            name: unknown.clone(),
            known: list_or_none(&known),
        });
    }
    let all_services = dependency_order(all);
    let services = all_services
        .iter()
        .filter(|s| s.enabled_by(profiles))
        .cloned()
        .collect();
    Ok(Project {
        name: config.name,
        files: loc.files.clone(),
        working_dir: loc.working_dir.clone(),
        env_file: env_file.clone(),
        profiles: profiles.to_vec(),
        services,
        all_services,
        origin: loc.origin,
        env_example: loc.env_example.clone(),
        secrets: env::Secrets::load(env_file.as_deref()),
        natives,
    })
}

/// A project whose services all run natively, read without compose (no engine, no `docker`
/// binary): only the files' `x-devtui.native` blocks, interpolated from the environment and
/// `.env` as compose would. It has no compose services.
pub fn load_native(loc: &Location) -> Result<Project, Error> {
    let env_file = if loc.env_path.symlink_metadata().is_ok() {
        env::check_readable(&loc.env_path)?;
        Some(loc.env_path.clone())
    } else {
        None
    };
    let pairs = env::read_pairs(env_file.as_deref());
    let lookup = |key: &str| env::lookup(&pairs, key);
    let natives =
        native::from_files(&loc.files, &loc.working_dir, &lookup).map_err(Error::Config)?;
    Ok(Project {
        name: name_hint(loc),
        files: loc.files.clone(),
        working_dir: loc.working_dir.clone(),
        env_file: env_file.clone(),
        profiles: Vec::new(),
        services: Vec::new(),
        all_services: Vec::new(),
        origin: loc.origin,
        env_example: loc.env_example.clone(),
        secrets: env::Secrets::load(env_file.as_deref()),
        natives,
    })
}

/// The project name without asking compose (for when the files do not parse): `-p`, else
/// COMPOSE_PROJECT_NAME, else the top-level `name:` of the first file, else the directory name
/// normalised as compose does.
pub fn name_hint(loc: &Location) -> String {
    #[derive(serde::Deserialize)]
    struct Named {
        name: Option<String>,
    }
    if let Some(name) = &loc.project_name {
        return name.clone();
    }
    if let Ok(name) = std::env::var("COMPOSE_PROJECT_NAME")
        && !name.is_empty()
    {
        return name;
    }
    let from_file = loc
        .files
        .first()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|t| serde_saphyr::from_str::<Named>(&t).ok())
        .and_then(|n| n.name);
    from_file.unwrap_or_else(|| {
        loc.working_dir
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .to_lowercase()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect()
            })
            .unwrap_or_else(|| "default".into())
    })
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

impl Project {
    /// Where the project was found (its profiles directory and backups follow from it).
    pub fn location(&self) -> Location {
        Location {
            files: self.files.clone(),
            working_dir: self.working_dir.clone(),
            env_path: self
                .env_file
                .clone()
                .unwrap_or_else(|| self.working_dir.join(".env")),
            env_example: self.env_example.clone(),
            origin: self.origin,
            project_name: Some(self.name.clone()),
        }
    }

    /// Enables `extra` compose profiles besides those the project was loaded with (they must
    /// be the project's: a devtui profile checks its own first).
    pub fn enable_profiles(&mut self, extra: &[String]) {
        for p in extra {
            if !self.profiles.contains(p) {
                self.profiles.push(p.clone());
            }
        }
        self.services = self
            .all_services
            .iter()
            .filter(|s| s.enabled_by(&self.profiles))
            .cloned()
            .collect();
    }

    /// Looks a service up by name among all services.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.all_services.iter().find(|s| s.name == name)
    }

    /// What a command says of a service name the project does not have: the names it has.
    pub fn unknown_service(&self, name: &str) -> String {
        let names: Vec<&str> = self.all_services.iter().map(|s| s.name.as_str()).collect();
        format!(
            "unknown service {name:?} in project {}; services: {}",
            self.name,
            names.join(", ")
        )
    }

    /// The services `up` starts: the named ones and everything they depend on, or, with no
    /// names, every service the active profiles enable. Unknown names are an error.
    pub fn selection(&self, names: &[String]) -> Result<Vec<&Service>, Error> {
        if names.is_empty() {
            return Ok(self.services.iter().collect());
        }
        let mut wanted: Vec<String> = Vec::new();
        let mut stack: Vec<String> = Vec::new();
        for name in names {
            if self.service(name).is_none() {
                return Err(Error::UnknownService {
                    name: name.clone(),
                    known: list_or_none(
                        &self
                            .all_services
                            .iter()
                            .map(|s| s.name.clone())
                            .collect::<Vec<_>>(),
                    ),
                });
            }
            stack.push(name.clone());
        }
        while let Some(name) = stack.pop() {
            if wanted.contains(&name) {
                continue;
            }
            if let Some(s) = self.service(&name) {
                stack.extend(s.depends_on.iter().map(|d| d.service.clone()));
                wanted.push(name);
            }
        }
        Ok(self
            .all_services
            .iter()
            .filter(|s| wanted.contains(&s.name))
            .collect())
    }
}

/// Turns compose's message for a broken file into `file:line:col: message` when one of the
/// files fails to parse as YAML (compose's own YAML errors name neither file nor column).
fn locate_config_error(files: &[PathBuf], compose_message: &str) -> String {
    let message = compose_message.trim();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        if let Err(e) = serde_saphyr::from_str::<serde::de::IgnoredAny>(&text)
            && let Some(loc) = e.location()
        {
            return format!(
                "{}:{}:{}: {message}",
                file.display(),
                loc.line(),
                loc.column()
            );
        }
    }
    if let Some(located) = locate_schema_error(message) {
        return located;
    }
    if files.len() == 1
        && !message.contains(&*files[0].to_string_lossy())
        && let Some(rest) = message.strip_prefix("yaml: line ")
        && let Some((line, _)) = rest.split_once(':')
    {
        return format!("{}:{line}: {message}", files[0].display());
    }
    message.to_string()
}

/// Compose's schema errors name the file and a key path (`validating FILE: services.web
/// additional properties 'portz' not allowed`); this finds that key's line and column.
fn locate_schema_error(message: &str) -> Option<String> {
    let rest = message.strip_prefix("validating ")?;
    let (file, detail) = rest.split_once(": ")?;
    let (path, what) = detail.split_once(' ').unwrap_or((detail, ""));
    let mut keys: Vec<&str> = path
        .split('.')
        .filter(|k| !k.is_empty() && k.parse::<usize>().is_err())
        .collect();
    let what = what.trim_start();
    if let Some(prop) = what
        .strip_prefix("additional properties '")
        .and_then(|p| p.split('\'').next())
    {
        keys.push(prop);
    }
    if keys.is_empty() {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let (mut from, mut min_indent, mut found) = (0, 0, None);
    for key in keys {
        let (idx, indent) = lines.iter().enumerate().skip(from).find_map(|(i, l)| {
            let body = l.trim_start();
            let indent = l.len() - body.len();
            let named = body
                .strip_prefix(key)
                .or_else(|| body.strip_prefix(&format!("\"{key}\"")))
                .is_some_and(|after| after.trim_start().starts_with(':'));
            (named && indent >= min_indent).then_some((i, indent))
        })?;
        from = idx + 1;
        min_indent = indent + 1;
        found = Some((idx + 1, indent + 1));
    }
    let (line, col) = found?;
    Some(format!("{file}:{line}:{col}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_errors_get_the_key_line_and_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("compose.yaml");
        std::fs::write(
            &file,
            "services:\n  b:\n    portz: 2\n  a:\n    image: x\n    portz: 1\n",
        )
        .expect("write");
        let msg = format!(
            "validating {}: services.a additional properties 'portz' not allowed",
            file.display()
        );
        let located = locate_config_error(std::slice::from_ref(&file), &msg);
        assert_eq!(located, format!("{}:6:5: {msg}", file.display()));
        let top = format!(
            "validating {}:  additional properties 'servicez' not allowed",
            file.display()
        );
        // Not in the file: left as compose said it.
        assert_eq!(locate_config_error(std::slice::from_ref(&file), &top), top);
    }

    #[test]
    fn yaml_errors_get_file_line_and_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, "services:\n  a:\n    image: x\n    ports: [\n").expect("write");
        let msg = locate_config_error(
            std::slice::from_ref(&file),
            "yaml: line 4: did not find expected node content",
        );
        let prefix = format!("{}:", file.display());
        assert!(msg.starts_with(&prefix), "{msg}");
        let rest = &msg[prefix.len()..];
        let mut parts = rest.splitn(3, ':');
        let line: u64 = parts.next().and_then(|l| l.parse().ok()).expect("line");
        let col: u64 = parts.next().and_then(|c| c.parse().ok()).expect("col");
        assert!(line >= 4 && col >= 1, "{msg}");
        assert!(msg.ends_with("did not find expected node content"));
    }
}
