//! A profile's custom commands: a name, an argv, where it runs (a service's container or the
//! host), and optionally a key in the TUI that may not shadow one of the TUI's own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Error;
use crate::keymap::{Key, Keymap};

/// A custom command, as `devtui run NAME`, the TUI's key and `:run NAME` run it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CustomCommand {
    pub name: String,
    /// The TUI key that runs it.
    pub key: Option<char>,
    /// The argv: no shell in between (write `[sh, -c, "..."]` for one).
    pub run: Vec<String>,
    /// The service whose container it runs in; `None`: on the host, in the project directory.
    pub service: Option<String>,
    /// Ask before running it.
    pub confirm: bool,
    /// Added to the command's environment.
    pub env: BTreeMap<String, String>,
}

impl CustomCommand {
    /// Where it runs, for listings: the service, or `host`.
    pub fn place(&self) -> &str {
        self.service.as_deref().unwrap_or("host")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCommand {
    name: Spanned<String>,
    #[serde(default)]
    key: Option<Spanned<String>>,
    run: Spanned<Vec<String>>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    confirm: bool,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

impl RawCommand {
    pub(super) fn to_command(&self) -> CustomCommand {
        CustomCommand {
            name: self.name.value.clone(),
            key: self.key.as_ref().and_then(|k| k.value.chars().next()),
            run: self.run.value.clone(),
            service: self.service.clone(),
            confirm: self.confirm,
            env: self.env.clone(),
        }
    }
}

/// Checks one file's commands: names usable on a command line and unique, an argv, and keys
/// of one character that are not the TUI's own.
pub(super) fn check(commands: &[RawCommand], file: &Path) -> Result<(), Error> {
    for (i, cmd) in commands.iter().enumerate() {
        let name = &cmd.name;
        let usable = !name.value.is_empty()
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !usable {
            return Err(Error::at(
                file,
                name,
                format!(
                    "command name {:?}: use letters, digits, - and _ (it is typed as `devtui run NAME`)",
                    name.value
                ),
            ));
        }
        if commands[..i].iter().any(|c| c.name.value == name.value) {
            return Err(Error::at(
                file,
                name,
                format!("a second command named {:?} in this file", name.value),
            ));
        }
        if cmd.run.value.is_empty() || cmd.run.value[0].trim().is_empty() {
            return Err(Error::at(
                file,
                &cmd.run,
                format!(
                    "command {:?}: run needs a program and its arguments, e.g. [psql, -U, me]",
                    name.value
                ),
            ));
        }
        if let Some(key) = &cmd.key {
            let mut chars = key.value.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                return Err(Error::at(
                    file,
                    key,
                    format!("key {:?} must be one character", key.value),
                ));
            };
            if c.is_control() || c.is_whitespace() {
                return Err(Error::at(
                    file,
                    key,
                    format!(
                        "key {c:?} of command {:?} is not a printable character",
                        name.value
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Gives the merged profile's commands their keys in force (the config file's `run.NAME`
/// wins over the profile's `key:`), then checks that none is one of the TUI's keys in force
/// and no two commands share one (a child's key may clash with one its parent bound).
pub(super) fn check_keys(
    commands: &mut [(CustomCommand, PathBuf, &RawCommand)],
    keys: Option<&Keymap>,
) -> Result<(), Error> {
    let none = Keymap::empty();
    let keys = keys.unwrap_or(&none);
    for (cmd, _, _) in commands.iter_mut() {
        if let Some(Key::Char(c)) = keys.command_key(&cmd.name) {
            cmd.key = Some(c);
        }
    }
    for (i, (cmd, file, raw)) in commands.iter().enumerate() {
        // A key the config file gave was checked there.
        if keys.command_key(&cmd.name).is_some() {
            continue;
        }
        let Some(key) = cmd.key else { continue };
        let Some(at) = &raw.key else { continue };
        if keys.is_built_in(key) {
            return Err(Error::at(
                file,
                at,
                format!(
                    "key {key:?} of command {:?} is a built-in TUI key; free ones include {} \
                     (or give it another with run.{} in devtui's config file)",
                    cmd.name,
                    free_keys(keys),
                    cmd.name
                ),
            ));
        }
        // Each pair once: the later own key is at fault, or the own key of a pair where
        // the config file placed the other.
        if let Some((other, _, _)) = commands.iter().enumerate().find_map(|(j, o)| {
            let other_placed = keys.command_key(&o.0.name).is_some();
            (j != i && (j < i || other_placed) && o.0.key == Some(key)).then_some(o)
        }) {
            return Err(Error::at(
                file,
                at,
                format!(
                    "key {key:?} of command {:?} is already command {:?}'s",
                    cmd.name, other.name
                ),
            ));
        }
    }
    Ok(())
}

/// A few letters the TUI leaves free, for the error message.
fn free_keys(keys: &Keymap) -> String {
    ('A'..='Z')
        .chain('a'..='z')
        .filter(|c| !keys.is_built_in(*c))
        .take(12)
        .map(String::from)
        .collect::<Vec<_>>()
        .join(" ")
}
