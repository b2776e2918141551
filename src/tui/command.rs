//! The `:` prompt: every key's action by name, with Tab completion of commands and services.
//!
//! `:restart redis`, `:logs api worker`, `:logs all`, `:filter ERROR`, `:redis` (select it),
//! `:q`. Parsing and completion are pure; `update` carries the command out.

use crate::ops::actions::Action;

/// What a command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Quit,
    Help,
    /// Follow these services' logs (merged when several); none: the selected service.
    Logs(Vec<String>),
    /// Every service's logs, merged.
    LogsAll,
    /// A service action (confirmed first when destructive); `None`: the selected service.
    Action(Action, Option<String>),
    Exec(Option<String>),
    Search(String),
    Filter(String),
    Save,
    Select(String),
    /// Back a service up now (`None`: the selected one).
    Backup(Option<String>),
    /// A service's backups view.
    Backups(Option<String>),
    /// Restore a service: from the backup with this id, else pick one in its backups view.
    Restore(Option<String>, Option<String>),
    /// Reset a service (confirmed, naming its volumes).
    Reset(Option<String>),
    /// Run the profile's custom command of this name.
    Run(String),
    /// Run a service natively or in its container (`None`: the other one than now).
    Mode(Option<String>, Option<crate::ops::mode::Mode>),
    /// Hot reload on or off (`None`: toggle) for a service (`None`: the selected one).
    Reload(Option<String>, Option<bool>),
}

/// Command names, for completion and `:help`; aliases after the name.
pub const COMMANDS: &[(&str, &[&str], &str)] = &[
    (
        "logs",
        &["l"],
        "[SERVICE…|all]  follow logs (merged when several)",
    ),
    ("restart", &[], "[SERVICE]  restart (confirm)"),
    ("stop", &[], "[SERVICE]  stop (confirm)"),
    ("start", &[], "[SERVICE]  start"),
    ("rebuild", &[], "[SERVICE]  build and recreate (confirm)"),
    ("open", &[], "[SERVICE]  open its URL"),
    (
        "exec",
        &["sh", "shell"],
        "[SERVICE]  shell in its container",
    ),
    ("backup", &[], "[SERVICE]  back it up now"),
    ("backups", &[], "[SERVICE]  its backups (restore, delete)"),
    ("restore", &[], "[SERVICE [ID]]  restore (confirm)"),
    (
        "reset",
        &[],
        "[SERVICE]  delete its volumes, recreate (confirm)",
    ),
    ("run", &[], "NAME  a custom command of the devtui profile"),
    (
        "mode",
        &[],
        "[SERVICE [native|container]]  run it natively or in its container",
    ),
    ("reload", &[], "[SERVICE] [on|off]  hot reload (toggle)"),
    ("search", &[], "REGEX  search the log pane"),
    ("filter", &[], "REGEX  show matching lines only"),
    ("save", &[], "save the log pane's lines"),
    ("help", &[], "every key"),
    ("quit", &["q"], "quit devtui"),
];

/// Parses a command line; `services` are the dashboard's rows (for `:SERVICE` and checks).
pub fn parse(line: &str, services: &[String]) -> Result<Command, String> {
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else {
        return Err("empty command (:help lists them)".into());
    };
    let rest: Vec<String> = words.map(str::to_string).collect();
    let name = COMMANDS
        .iter()
        .find(|(name, aliases, _)| *name == first || aliases.contains(&first))
        .map(|(name, _, _)| *name);
    let one_service = |rest: &[String]| -> Result<Option<String>, String> {
        match rest {
            [] => Ok(None),
            [service] => known(service, services).map(Some),
            _ => Err(format!("{first} takes one service")),
        }
    };
    let pattern = |rest: &[String]| -> Result<String, String> {
        if rest.is_empty() {
            Err(format!("{first} needs a pattern"))
        } else {
            // The pattern is the rest of the line as typed, spaces included.
            Ok(line.trim_start()[first.len()..].trim().to_string())
        }
    };
    let action = |a: Action| one_service(&rest).map(|s| Command::Action(a, s));
    match name {
        Some("quit") => Ok(Command::Quit),
        Some("help") => Ok(Command::Help),
        Some("logs") if rest.len() == 1 && rest[0] == "all" => Ok(Command::LogsAll),
        Some("logs") => rest
            .iter()
            .map(|s| known(s, services))
            .collect::<Result<Vec<_>, _>>()
            .map(Command::Logs),
        Some("restart") => action(Action::Restart),
        Some("stop") => action(Action::Stop),
        Some("start") => action(Action::Start),
        Some("rebuild") => action(Action::Rebuild),
        Some("open") => action(Action::Open),
        Some("exec") => one_service(&rest).map(Command::Exec),
        Some("search") => pattern(&rest).map(Command::Search),
        Some("filter") => pattern(&rest).map(Command::Filter),
        Some("save") => Ok(Command::Save),
        Some("backup") => one_service(&rest).map(Command::Backup),
        Some("backups") => one_service(&rest).map(Command::Backups),
        Some("restore") => match rest.as_slice() {
            [service, id] => Ok(Command::Restore(
                Some(known(service, services)?),
                Some(id.clone()),
            )),
            _ => one_service(&rest).map(|s| Command::Restore(s, None)),
        },
        Some("reset") => one_service(&rest).map(Command::Reset),
        Some("mode") => match rest.as_slice() {
            [service, mode] => {
                let mode = match mode.as_str() {
                    "native" => crate::ops::mode::Mode::Native,
                    "container" => crate::ops::mode::Mode::Container,
                    other => return Err(format!("mode {other:?}: native or container")),
                };
                Ok(Command::Mode(Some(known(service, services)?), Some(mode)))
            }
            _ => one_service(&rest).map(|s| Command::Mode(s, None)),
        },
        Some("reload") => {
            let on_off = |w: &str| match w {
                "on" => Ok(true),
                "off" => Ok(false),
                _ => Err(format!("reload takes on or off, not {w:?}")),
            };
            match rest.as_slice() {
                [] => Ok(Command::Reload(None, None)),
                [w] if w == "on" || w == "off" => Ok(Command::Reload(None, Some(on_off(w)?))),
                [s] => Ok(Command::Reload(Some(known(s, services)?), None)),
                [s, w] => Ok(Command::Reload(Some(known(s, services)?), Some(on_off(w)?))),
                _ => Err("reload takes a service and on|off".into()),
            }
        }
        // The name is checked against the profile's commands where they are known.
        Some("run") => match rest.as_slice() {
            [name] => Ok(Command::Run(name.clone())),
            _ => Err("run takes a command's name (:help lists them)".into()),
        },
        _ if rest.is_empty() && services.iter().any(|s| s == first) => {
            Ok(Command::Select(first.to_string()))
        }
        _ => Err(format!("unknown command {first:?} (:help lists them)")),
    }
}

fn known(service: &str, services: &[String]) -> Result<String, String> {
    if services.iter().any(|s| s == service) {
        Ok(service.to_string())
    } else {
        Err(format!(
            "no service {service:?} (services: {})",
            services.join(", ")
        ))
    }
}

/// Completes the word being typed: a command or service name first, a service after a
/// command. Returns the new line and, when the word is still ambiguous, the candidates.
pub fn complete(line: &str, services: &[String]) -> (String, Vec<String>) {
    complete_with(line, services, &[])
}

/// `complete`, with the profile's custom commands completed after `run`.
pub fn complete_with(line: &str, services: &[String], custom: &[String]) -> (String, Vec<String>) {
    let start = line.rfind(' ').map_or(0, |i| i + 1);
    let (head, word) = line.split_at(start);
    let candidates: Vec<String> = if head.trim().is_empty() {
        COMMANDS
            .iter()
            .map(|(name, _, _)| name.to_string())
            .chain(services.iter().cloned())
            .filter(|c| c.starts_with(word))
            .collect()
    } else if head.trim() == "run" {
        custom
            .iter()
            .filter(|c| c.starts_with(word))
            .cloned()
            .collect()
    } else {
        let mut names: Vec<String> = services.to_vec();
        if head.trim() == "logs" || head.trim() == "l" {
            names.push("all".into());
        }
        names.into_iter().filter(|c| c.starts_with(word)).collect()
    };
    match candidates.as_slice() {
        [] => (line.to_string(), Vec::new()),
        [one] => (format!("{head}{one} "), Vec::new()),
        many => {
            let common = many.iter().skip(1).fold(many[0].clone(), |acc, c| {
                acc.chars()
                    .zip(c.chars())
                    .take_while(|(a, b)| a == b)
                    .map(|(a, _)| a)
                    .collect()
            });
            (format!("{head}{common}"), candidates)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services() -> Vec<String> {
        ["postgres", "redis", "api"].map(String::from).to_vec()
    }

    #[test]
    fn commands_parse_with_aliases_and_checked_services() {
        let s = services();
        assert_eq!(parse("q", &s), Ok(Command::Quit));
        assert_eq!(
            parse(" restart redis ", &s),
            Ok(Command::Action(Action::Restart, Some("redis".into())))
        );
        assert_eq!(parse("stop", &s), Ok(Command::Action(Action::Stop, None)));
        assert_eq!(
            parse("l api redis", &s),
            Ok(Command::Logs(vec!["api".into(), "redis".into()]))
        );
        assert_eq!(parse("logs all", &s), Ok(Command::LogsAll));
        assert_eq!(
            parse("filter level=(warn|error) x", &s),
            Ok(Command::Filter("level=(warn|error) x".into()))
        );
        assert_eq!(parse("api", &s), Ok(Command::Select("api".into())));
        assert!(
            parse("restart nosuch", &s)
                .unwrap_err()
                .contains("no service \"nosuch\"")
        );
        assert!(
            parse("frobnicate", &s)
                .unwrap_err()
                .contains("unknown command")
        );
        assert!(parse("search", &s).unwrap_err().contains("needs a pattern"));
    }

    #[test]
    fn tab_completes_commands_then_services() {
        let s = services();
        assert_eq!(complete("resta", &s), ("restart ".into(), vec![]));
        assert_eq!(complete("restart r", &s), ("restart redis ".into(), vec![]));
        let (line, options) = complete("s", &s);
        assert_eq!(line, "s");
        assert_eq!(options, ["stop", "start", "search", "save"]);
        assert_eq!(
            parse("restore postgres 3f2a", &s),
            Ok(Command::Restore(
                Some("postgres".into()),
                Some("3f2a".into())
            ))
        );
        assert_eq!(parse("reset", &s), Ok(Command::Reset(None)));
        assert_eq!(complete("backu", &s).1, ["backup", "backups"]);
        assert_eq!(complete("st", &s).0, "st");
        assert_eq!(complete("sta", &s).0, "start ");
        assert_eq!(complete("logs a", &s).1, ["api", "all"]);
        assert_eq!(complete("zzz", &s), ("zzz".into(), vec![]));
        let custom = ["psql", "seed", "tables"].map(String::from);
        assert_eq!(complete_with("run ps", &s, &custom).0, "run psql ");
        assert_eq!(complete_with("run ", &s, &custom).1, custom);
        assert_eq!(parse("run seed", &s), Ok(Command::Run("seed".into())));
        assert!(parse("run", &s).is_err());
    }
}
