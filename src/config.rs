//! devtui's own settings: `$XDG_CONFIG_HOME/devtui/config.yaml` (usually
//! `~/.config/devtui/config.yaml`), overridden by the environment variables that came
//! before it (`NO_COLOR`, `DEVTUI_LOG_LINES`).
//!
//! A missing file means the defaults. A file that does not parse, or holds a value devtui
//! cannot use, is an error naming `file:line:col`: nothing starts on half a config.
//!
//! ```yaml
//! log_lines: 10000        # lines kept per service in the TUI
//! theme: default          # or no-color
//! stats_interval: 1s      # how often CPU and memory figures refresh (1s or more)
//! profile: native         # devtui profile `up` uses when -P is not given
//! confirm: true           # ask before restart, stop and rebuild
//! keys:                   # TUI keys: action name (or run.NAME) -> key(s)
//!   restart: R
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::exit::{self, Failure};
use crate::keymap::{Action, Key, Keymap};

/// Lines kept per service when nothing says otherwise.
pub const DEFAULT_LOG_LINES: usize = 10_000;
/// How often figures refresh when nothing says otherwise: the engine's own stats period.
pub const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(1);
/// The engine samples stats about once a second; a shorter interval could not be honoured.
const MIN_STATS_INTERVAL: Duration = Duration::from_secs(1);

/// The TUI's colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Theme {
    Default,
    /// No colours: symbols, bold and reverse video carry the meaning (as with NO_COLOR).
    NoColor,
}

impl Theme {
    fn name(self) -> &'static str {
        match self {
            Theme::Default => "default",
            Theme::NoColor => "no-color",
        }
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "lowercase")]
pub enum Source {
    Default,
    File { line: u64, column: u64 },
    Env { var: &'static str },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { line, column } => write!(f, "config file, line {line}:{column}"),
            Source::Env { var } => write!(f, "environment, {var}"),
        }
    }
}

/// One setting and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Setting<T> {
    fn default(value: T) -> Self {
        Self {
            value,
            source: Source::Default,
        }
    }

    fn from_file<U>(value: T, at: &Spanned<U>) -> Self {
        Self {
            value,
            source: Source::File {
                line: at.referenced.line(),
                column: at.referenced.column(),
            },
        }
    }
}

/// The settings in force: the file's, with the environment's on top.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// The config file (it may not exist).
    pub file: PathBuf,
    pub exists: bool,
    pub log_lines: Setting<usize>,
    pub theme: Setting<Theme>,
    #[serde(serialize_with = "as_humantime")]
    pub stats_interval: Setting<Duration>,
    pub profile: Setting<Option<String>>,
    pub confirm: Setting<bool>,
    #[serde(serialize_with = "keys_json")]
    pub keys: Keys,
}

/// The TUI's keys in force, and where each binding came from (by action name or `run.NAME`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keys {
    pub map: Keymap,
    /// Only the bindings the file made; the others are defaults.
    pub from_file: BTreeMap<String, Source>,
}

impl Keys {
    /// Every binding as the file spells it: actions in their documented order, then the
    /// file's `run.NAME` ones. Several keys are separated by spaces.
    pub fn entries(&self) -> Vec<(String, String, Source)> {
        let spelled = |keys: &[Key]| {
            keys.iter()
                .map(Key::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        let source = |name: &str| self.from_file.get(name).cloned().unwrap_or(Source::Default);
        let actions = Action::ALL.iter().map(|a| {
            (
                a.name().to_string(),
                spelled(self.map.keys(*a)),
                source(a.name()),
            )
        });
        let commands = self.map.commands().iter().map(|(name, key)| {
            let name = format!("run.{name}");
            let source = source(&name);
            (name, key.to_string(), source)
        });
        actions.chain(commands).collect()
    }
}

fn keys_json<S: serde::Serializer>(keys: &Keys, s: S) -> Result<S::Ok, S::Error> {
    let map: BTreeMap<String, Setting<String>> = keys
        .entries()
        .into_iter()
        .map(|(name, value, source)| (name, Setting { value, source }))
        .collect();
    map.serialize(s)
}

fn as_humantime<S: serde::Serializer>(d: &Setting<Duration>, s: S) -> Result<S::Ok, S::Error> {
    Setting {
        value: humantime::format_duration(d.value).to_string(),
        source: d.source.clone(),
    }
    .serialize(s)
}

impl Default for Config {
    fn default() -> Self {
        Self {
            file: PathBuf::new(),
            exists: false,
            log_lines: Setting::default(DEFAULT_LOG_LINES),
            theme: Setting::default(Theme::Default),
            stats_interval: Setting::default(DEFAULT_STATS_INTERVAL),
            profile: Setting::default(None),
            confirm: Setting::default(true),
            keys: Keys::default(),
        }
    }
}

/// The file as written: every key optional, nothing unknown.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    log_lines: Option<Spanned<i64>>,
    theme: Option<Spanned<String>>,
    stats_interval: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
    confirm: Option<Spanned<bool>>,
    /// Action name (or `run.NAME`) to key(s).
    keys: Option<HashMap<Spanned<String>, Spanned<String>>>,
}

/// A config file devtui cannot use.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}; fix it with `devtui config edit`")]
    Invalid {
        file: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::new(exit::USAGE, e.to_string())
    }
}

/// The config file's path: `$XDG_CONFIG_HOME/devtui/config.yaml`.
pub fn path() -> PathBuf {
    directories::ProjectDirs::from("dev", "devtui", "devtui")
        .map(|d| d.config_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".config/devtui"))
        .join("config.yaml")
}

/// The settings in force: the config file (if any), then the environment.
pub fn load() -> Result<Config, Error> {
    let file = path();
    let mut config = load_file(&file)?;
    apply_env(&mut config, |var| std::env::var(var).ok());
    Ok(config)
}

/// The settings of `file` alone (defaults when it does not exist).
pub fn load_file(file: &Path) -> Result<Config, Error> {
    match std::fs::read_to_string(file) {
        Ok(text) => parse(&text, file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config {
            file: file.to_path_buf(),
            ..Config::default()
        }),
        Err(source) => Err(Error::Read {
            file: file.to_path_buf(),
            source,
        }),
    }
}

/// Parses the config file's text; `file` names it in errors.
pub fn parse(text: &str, file: &Path) -> Result<Config, Error> {
    let invalid = |line: u64, column: u64, message: String| Error::Invalid {
        file: file.to_path_buf(),
        line,
        column,
        message,
    };
    let at = |s: &serde_saphyr::Location, message: String| invalid(s.line(), s.column(), message);
    let raw: RawConfig = if text.trim().is_empty() {
        RawConfig::default()
    } else {
        serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            let text = e.to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid YAML")
                .trim();
            // The location is said once, in front: drop the parser's own copy of it.
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let message = match first.strip_prefix("line ") {
                Some(rest) => rest.split_once(": ").map_or(first, |(_, m)| m),
                None => first,
            }
            .to_string();
            invalid(line, column, message)
        })?
    };
    let mut config = Config {
        file: file.to_path_buf(),
        exists: true,
        ..Config::default()
    };
    if let Some(n) = raw.log_lines {
        let lines = usize::try_from(n.value)
            .ok()
            .filter(|&l| l > 0)
            .ok_or_else(|| {
                at(
                    &n.referenced,
                    format!("log_lines must be 1 or more, not {}", n.value),
                )
            })?;
        config.log_lines = Setting::from_file(lines, &n);
    }
    if let Some(t) = raw.theme {
        let theme = match t.value.as_str() {
            "default" => Theme::Default,
            "no-color" => Theme::NoColor,
            other => {
                return Err(at(
                    &t.referenced,
                    format!("unknown theme {other:?} (themes: default, no-color)"),
                ));
            }
        };
        config.theme = Setting::from_file(theme, &t);
    }
    if let Some(s) = raw.stats_interval {
        let interval = humantime::parse_duration(&s.value).map_err(|e| {
            at(
                &s.referenced,
                format!(
                    "stats_interval {:?} is not a duration like 2s ({e})",
                    s.value
                ),
            )
        })?;
        if interval < MIN_STATS_INTERVAL {
            return Err(at(
                &s.referenced,
                format!(
                    "stats_interval must be at least {} (the engine samples once a second)",
                    humantime::format_duration(MIN_STATS_INTERVAL)
                ),
            ));
        }
        config.stats_interval = Setting::from_file(interval, &s);
    }
    if let Some(p) = raw.profile {
        if p.value.trim().is_empty() {
            return Err(at(
                &p.referenced,
                "profile must name a devtui profile".into(),
            ));
        }
        config.profile = Setting::from_file(Some(p.value.clone()), &p);
    }
    if let Some(c) = raw.confirm {
        config.confirm = Setting::from_file(c.value, &c);
    }
    if let Some(keys) = raw.keys {
        config.keys = parse_keys(keys, &at)?;
    }
    Ok(config)
}

/// The `keys:` section: each entry replaces its action's default keys (freeing them), and no
/// key may end up with two actions.
fn parse_keys(
    keys: HashMap<Spanned<String>, Spanned<String>>,
    at: &impl Fn(&serde_saphyr::Location, String) -> Error,
) -> Result<Keys, Error> {
    // File order, so the first problem in the file is the one reported.
    let mut entries: Vec<_> = keys.into_iter().collect();
    entries.sort_by_key(|(name, _)| (name.referenced.line(), name.referenced.column()));
    let mut out = Keys::default();
    let mut bound_at: BTreeMap<Action, &Spanned<String>> = BTreeMap::new();
    for (name, value) in &entries {
        let mut parsed = Vec::new();
        for word in value.value.split_whitespace() {
            let key = Key::parse(word)
                .map_err(|e| at(&value.referenced, format!("keys.{}: {e}", name.value)))?;
            parsed.push(key);
        }
        if parsed.is_empty() {
            return Err(at(
                &value.referenced,
                format!("keys.{} needs a key, such as R or ctrl-r", name.value),
            ));
        }
        let clash = |e: crate::keymap::Clash| {
            at(&value.referenced, format!("keys.{}: {}", name.value, e.0))
        };
        if let Some(command) = name.value.strip_prefix("run.") {
            // One character, as the profile's own `key:`.
            let [key @ Key::Char(_)] = parsed[..] else {
                return Err(at(
                    &value.referenced,
                    format!(
                        "keys.{}: a profile command takes one character key",
                        name.value
                    ),
                ));
            };
            out.map.bind_command(command, key).map_err(clash)?;
        } else {
            let Some(action) = Action::by_name(&name.value) else {
                let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                return Err(at(
                    &name.referenced,
                    format!(
                        "unknown action {:?} in keys (actions: {}; run.NAME for a profile command)",
                        name.value,
                        names.join(", ")
                    ),
                ));
            };
            out.map.bind(action, parsed).map_err(clash)?;
            bound_at.insert(action, value);
        }
        out.from_file.insert(
            name.value.clone(),
            Source::File {
                line: value.referenced.line(),
                column: value.referenced.column(),
            },
        );
    }
    // A default kept by an action the file left alone, taken by one it remapped.
    if let Some((a, b, key)) = out.map.first_clash() {
        let (taker, keeper) = if bound_at.contains_key(&b) {
            (b, a)
        } else {
            (a, b)
        };
        if let Some(value) = bound_at.get(&taker) {
            return Err(at(
                &value.referenced,
                format!(
                    "keys.{}: {key} is already {}'s key (remap {} too to free it)",
                    taker.name(),
                    keeper.name(),
                    keeper.name()
                ),
            ));
        }
    }
    Ok(out)
}

/// The environment wins over the file: `NO_COLOR` (any non-empty value) and
/// `DEVTUI_LOG_LINES` (a positive number; anything else is ignored, as before the file).
pub fn apply_env(config: &mut Config, var: impl Fn(&str) -> Option<String>) {
    if var("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        config.theme = Setting {
            value: Theme::NoColor,
            source: Source::Env { var: "NO_COLOR" },
        };
    }
    if let Some(n) = var("DEVTUI_LOG_LINES")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        config.log_lines = Setting {
            value: n,
            source: Source::Env {
                var: "DEVTUI_LOG_LINES",
            },
        };
    }
}

impl Config {
    /// Whether colours are off (theme `no-color`, or NO_COLOR).
    pub fn no_color(&self) -> bool {
        self.theme.value == Theme::NoColor
    }

    /// The settings as a config file, each with where its value came from.
    pub fn show(&self) -> String {
        let mut out = String::new();
        let state = if self.exists {
            "in force"
        } else {
            "not found: defaults"
        };
        let _ = writeln!(out, "# {} ({state})", self.file.display());
        let mut line = |key: &str, value: String, source: &Source| {
            let entry = format!("{key}: {value}");
            let _ = writeln!(out, "{entry:<28} # {source}");
        };
        line(
            "log_lines",
            self.log_lines.value.to_string(),
            &self.log_lines.source,
        );
        line("theme", self.theme.value.name().into(), &self.theme.source);
        line(
            "stats_interval",
            humantime::format_duration(self.stats_interval.value).to_string(),
            &self.stats_interval.source,
        );
        line(
            "profile",
            self.profile.value.clone().unwrap_or_else(|| "null".into()),
            &self.profile.source,
        );
        line(
            "confirm",
            self.confirm.value.to_string(),
            &self.confirm.source,
        );
        let _ = writeln!(out, "keys:");
        for (name, value, source) in self.keys.entries() {
            let entry = format!("  {name}: {value:?}");
            let _ = writeln!(out, "{entry:<28} # {source}");
        }
        out
    }
}

/// What `devtui config edit` writes into a new file: every setting, commented out at its
/// default.
pub const TEMPLATE: &str = "\
# devtui settings. Environment variables win over this file: NO_COLOR, DEVTUI_LOG_LINES.
# `devtui config show` prints the settings in force and where each comes from.

# Lines kept per service in the TUI's log panes.
# log_lines: 10000

# Colours: default, or no-color (symbols, bold and reverse video carry the meaning).
# theme: default

# How often the TUI refreshes CPU and memory figures (1s or more).
# stats_interval: 1s

# The devtui profile `devtui up` uses when -P is not given (when the project has it).
# profile: native

# Ask before restart, stop and rebuild (in the TUI and the CLI).
# confirm: true

# The TUI's keys: an action's name (README, \"Remapping keys\") and its key or keys, separated
# by spaces. A remapped action loses its default keys, which become free. run.NAME gives a
# profile command a key. Ctrl-C always quits.
# keys:
#   restart: R
#   down: j down
#   run.psql: p
";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Config {
        parse(text, Path::new("config.yaml")).expect("parses")
    }

    fn parse_err(text: &str) -> String {
        parse(text, Path::new("config.yaml"))
            .expect_err("rejected")
            .to_string()
    }

    #[test]
    fn every_setting_is_read_with_its_location() {
        let c = parse_ok(
            "log_lines: 500\ntheme: no-color\nstats_interval: 3s\nprofile: native\nconfirm: false\nkeys: {}\n",
        );
        assert_eq!(c.log_lines.value, 500);
        assert_eq!(
            c.log_lines.source,
            Source::File {
                line: 1,
                column: 12
            }
        );
        assert!(c.no_color());
        assert_eq!(c.stats_interval.value, Duration::from_secs(3));
        assert_eq!(c.profile.value.as_deref(), Some("native"));
        assert!(!c.confirm.value);
        assert_eq!(parse_ok("").log_lines.value, DEFAULT_LOG_LINES);
        assert!(parse_ok("# only comments\n").confirm.value);
        // The template parses: every line is a comment.
        assert_eq!(
            parse_ok(TEMPLATE),
            Config {
                file: "config.yaml".into(),
                exists: true,
                ..Config::default()
            }
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse_err("log_lines: 10\nthem: dark\n");
        assert!(e.starts_with("config.yaml:2:1: "), "{e}");
        assert!(e.contains("them"), "{e}");
        let e = parse_err("confirm: true\ntheme: dark\n");
        assert!(
            e.starts_with("config.yaml:2:8: unknown theme \"dark\""),
            "{e}"
        );
        let e = parse_err("stats_interval: 200ms\n");
        assert!(
            e.starts_with("config.yaml:1:17: stats_interval must be at least 1s"),
            "{e}"
        );
        let e = parse_err("stats_interval: soon\n");
        assert!(e.starts_with("config.yaml:1:17: "), "{e}");
        let e = parse_err("log_lines: 0\n");
        assert!(
            e.starts_with("config.yaml:1:12: log_lines must be 1 or more"),
            "{e}"
        );
        let e = parse_err("log_lines: [\n");
        assert!(e.starts_with("config.yaml:"), "{e}");
        let e = parse_err("log_lines: [\n");
        assert!(e.ends_with("fix it with `devtui config edit`"), "{e}");
    }

    #[test]
    fn keys_remap_actions_and_free_their_defaults() {
        let c = parse_ok("keys:\n  restart: R\n  logs_merged: M\n  run.psql: p\n  exec: r\n");
        let map = &c.keys.map;
        assert_eq!(map.action(Key::Char('R')), Some(Action::Restart));
        assert_eq!(map.action(Key::Char('r')), Some(Action::Exec));
        assert_eq!(map.action(Key::Char('e')), None);
        assert_eq!(map.action(Key::Char('L')), None);
        assert_eq!(map.command_key("psql"), Some(Key::Char('p')));
        assert_eq!(
            c.keys.from_file.get("restart"),
            Some(&Source::File {
                line: 2,
                column: 12
            })
        );
        let c = parse_ok("keys:\n  down: J down\n  help: \"?\"\n");
        assert_eq!(c.keys.map.keys(Action::Down), &[Key::Char('J'), Key::Down]);
    }

    #[test]
    fn key_errors_name_file_line_and_column() {
        let e = parse_err("confirm: true\nkeys:\n  restrat: R\n");
        assert!(
            e.starts_with("config.yaml:3:3: unknown action \"restrat\" in keys"),
            "{e}"
        );
        let e = parse_err("keys:\n  restart: ctrl-rr\n");
        assert!(
            e.starts_with("config.yaml:2:12: keys.restart: \"ctrl-rr\" is not a key"),
            "{e}"
        );
        let e = parse_err("keys:\n  quit: ctrl-c\n");
        assert!(e.contains(":2:9: keys.quit: ctrl-c always quits"), "{e}");
        // Two remapped actions on one key.
        let e = parse_err("keys:\n  restart: R\n  exec: R\n");
        assert!(
            e.starts_with("config.yaml:3:9: keys.exec: R is already restart's key"),
            "{e}"
        );
        // A remapped action on a key another action still has by default.
        let e = parse_err("keys:\n  restart: s\n");
        assert!(
            e.starts_with("config.yaml:2:12: keys.restart: s is already start_stop's key"),
            "{e}"
        );
        let e = parse_err("keys:\n  restart: s\n  run.psql: s\n");
        assert!(
            e.starts_with("config.yaml:3:13: keys.run.psql: s is already"),
            "{e}"
        );
        assert!(e.ends_with("fix it with `devtui config edit`"), "{e}");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let mut c = parse_ok("log_lines: 500\ntheme: default\n");
        apply_env(&mut c, |v| match v {
            "NO_COLOR" => Some("1".into()),
            "DEVTUI_LOG_LINES" => Some("42".into()),
            _ => None,
        });
        assert_eq!(c.log_lines.value, 42);
        assert_eq!(
            c.log_lines.source,
            Source::Env {
                var: "DEVTUI_LOG_LINES"
            }
        );
        assert!(c.no_color());
        let mut c = parse_ok("log_lines: 500\n");
        apply_env(&mut c, |v| (v == "DEVTUI_LOG_LINES").then(|| "lots".into()));
        assert_eq!(c.log_lines.value, 500, "an unusable variable is ignored");
        apply_env(&mut c, |v| (v == "NO_COLOR").then(String::new));
        assert!(!c.no_color(), "an empty NO_COLOR does not count");
    }

    #[test]
    fn show_is_a_config_file_again() {
        let c = parse_ok("log_lines: 500\nprofile: native\n");
        let shown = c.show();
        let again = parse_ok(&shown);
        assert_eq!(again.log_lines.value, 500);
        assert_eq!(again.profile.value.as_deref(), Some("native"));
        assert!(shown.contains("# config file, line 1:12"), "{shown}");
        let c = parse_ok("keys:\n  restart: R\n  run.psql: p\n");
        let shown = c.show();
        assert!(shown.contains("  restart: \"R\""), "{shown}");
        assert!(shown.contains("  down: \"j down\""), "{shown}");
        assert!(shown.contains("  help: \"?\""), "{shown}");
        assert_eq!(parse_ok(&shown).keys.map, c.keys.map);
    }
}
