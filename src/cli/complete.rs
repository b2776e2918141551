//! Shell completion through clap_complete's dynamic completer: the script `devtui
//! completions SHELL` prints registers devtui itself as the completer, so each Tab runs
//! `DEVTUI_COMPLETE=SHELL devtui -- <the words typed>`, and clap answers from the same
//! command definition the parser uses. Service and profile names come from the project the
//! typed line points at (`-f`, `-p`, else the one found from the current directory).

use std::ffi::OsString;
use std::io::Write;

use clap::CommandFactory;
use clap::ValueEnum;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{CompleteEnv, Shells};

use crate::exit::{self, Failure};
use crate::project::Discovery;

/// The environment variable that turns a run of devtui into a completion request.
pub const VAR: &str = "DEVTUI_COMPLETE";

/// Answers a completion request and exits, when this run is one (`VAR` set); otherwise
/// returns at once. Called first thing in `main`, before anything is written to stdout.
pub fn answer_if_asked() {
    CompleteEnv::with_factory(super::Cli::command)
        .var(VAR)
        .complete();
}

/// `devtui completions SHELL`: the script that registers the completer with `shell`.
pub fn registration(shell: clap_complete::Shell) -> anyhow::Result<i32> {
    let name = shell
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let shells = Shells::builtins();
    let completer = shells
        .completer(&name)
        .ok_or_else(|| Failure::usage(format!("no completion support for {name}")))?;
    // The program the shell runs on Tab: this executable when called by path (so a build
    // that is not on PATH completes too), else its name looked up on PATH.
    let program = std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .map(|p| {
            if p.components().count() > 1 {
                std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
            } else {
                p
            }
        })
        .unwrap_or_else(|| "devtui".into());
    let mut script = Vec::new();
    completer.write_registration(
        VAR,
        "devtui",
        "devtui",
        &program.to_string_lossy(),
        &mut script,
    )?;
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(exit::FAILED, format!("cannot write the script: {e}")))?;
    Ok(exit::OK)
}

/// The project the line being completed points at: its `-f` and `-p`.
fn typed_project(words: &[OsString]) -> Discovery {
    let mut discovery = Discovery::default();
    let mut words = words.iter().filter_map(|w| w.to_str());
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => (word, None),
        };
        let mut value = || inline.clone().or_else(|| words.next().map(str::to_string));
        match flag {
            "-f" | "--file" => discovery.files.extend(value().map(Into::into)),
            "-p" | "--project-name" => discovery.project_name = value(),
            _ => {}
        }
    }
    discovery
}

/// The devtui profile the line being completed names (`-P`, `--devtui-profile`).
fn typed_profile(words: &[OsString]) -> Option<String> {
    let mut words = words.iter().filter_map(|w| w.to_str());
    let mut found = None;
    while let Some(word) = words.next() {
        match word.split_once('=') {
            Some(("--devtui-profile", value)) => found = Some(value.to_string()),
            _ if word == "-P" || word == "--devtui-profile" => {
                found = words.next().map(str::to_string)
            }
            _ => {}
        }
    }
    found.filter(|p| !p.is_empty())
}

/// The words of the line being completed (after the `--` the registration script passes).
fn typed_words() -> Vec<OsString> {
    std::env::args_os()
        .skip_while(|a| a != "--")
        .skip(1)
        .collect()
}

/// The project's service names (compose's and native ones), for completion; none when the
/// project cannot be read.
pub fn services() -> Vec<CompletionCandidate> {
    let discovery = typed_project(&typed_words());
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let Ok(project) = runtime.block_on(crate::project::load(&discovery, &[])) else {
        return Vec::new();
    };
    let mut names: Vec<String> = project
        .all_services
        .iter()
        .map(|s| s.name.clone())
        .collect();
    for native in &project.natives {
        if !names.contains(&native.name) {
            names.push(native.name.clone());
        }
    }
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// The project's devtui profile names, for completion.
pub fn profiles() -> Vec<CompletionCandidate> {
    let Ok(loc) = crate::project::discover(&typed_project(&typed_words())) else {
        return Vec::new();
    };
    crate::project::profile::names(&crate::project::profile::dir(&loc))
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// The custom command names of the profile the line names (else DEVTUI_PROFILE, else the
/// config file's default), for `devtui run`.
pub fn commands() -> Vec<CompletionCandidate> {
    let words = typed_words();
    let Ok(loc) = crate::project::discover(&typed_project(&words)) else {
        return Vec::new();
    };
    let named = typed_profile(&words).or_else(|| std::env::var("DEVTUI_PROFILE").ok());
    let config = crate::config::load().unwrap_or_default();
    let Ok(Some(profile)) = crate::ops::run::chosen_profile(
        &loc,
        named.as_deref(),
        config.profile.value.as_deref(),
        &config.keys.map,
    ) else {
        return Vec::new();
    };
    profile
        .commands
        .into_iter()
        .map(|c| CompletionCandidate::new(c.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typed_line_names_the_project() {
        let words: Vec<OsString> = [
            "devtui",
            "-f",
            "a.yaml",
            "--file=b.yaml",
            "-p",
            "shop",
            "logs",
            "",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let d = typed_project(&words);
        assert_eq!(
            d.files,
            vec![std::path::PathBuf::from("a.yaml"), "b.yaml".into()]
        );
        assert_eq!(d.project_name.as_deref(), Some("shop"));
        assert_eq!(typed_profile(&words), None);
        let words: Vec<OsString> = ["devtui", "run", "-P", "dev", ""]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(typed_profile(&words).as_deref(), Some("dev"));
        let words = [OsString::from("run"), "--devtui-profile=x.yaml".into()];
        assert_eq!(typed_profile(&words).as_deref(), Some("x.yaml"));
    }
}
