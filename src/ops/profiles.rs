//! `devtui profiles`: the devtui profiles the project has, each with its one-line
//! description, what it extends and its custom commands. A broken profile is listed with its
//! error rather than hiding the others.

use serde::Serialize;

use crate::exit::{self, Failure};
use crate::project::profile::{self, CustomCommand};
use crate::project::{Discovery, Location};

/// One profile of the listing.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub name: String,
    pub file: String,
    pub description: Option<String>,
    pub extends: Option<String>,
    pub commands: Vec<CustomCommand>,
    /// Services run natively.
    pub native: Vec<String>,
    /// The services `up` starts (`null`: every enabled one).
    pub services: Option<Vec<String>>,
    /// Compose profiles it enables.
    pub compose_profiles: Vec<String>,
    /// Whether `up` with it needs no container engine (its services all run natively).
    pub without_engine: bool,
    /// Why the profile cannot be used (`file:line:col: ...`).
    pub error: Option<String>,
}

/// The profiles in the project's profile directory, by name.
pub fn list(loc: &Location, keys: &crate::keymap::Keymap) -> Vec<Listed> {
    let dir = profile::dir(loc);
    profile::names(&dir)
        .into_iter()
        .map(|name| {
            let file = dir.join(format!("{name}.yaml")).display().to_string();
            match profile::load(loc, &name, Some(keys)) {
                Ok(p) => Listed {
                    name,
                    file,
                    native: p.native_names(),
                    services: p.service_names(),
                    compose_profiles: p.compose_profile_names(),
                    without_engine: p.native_only(),
                    description: p.description,
                    extends: p.extends,
                    commands: p.commands,
                    error: None,
                },
                Err(e) => Listed {
                    name,
                    file,
                    description: None,
                    extends: None,
                    commands: Vec::new(),
                    native: Vec::new(),
                    services: None,
                    compose_profiles: Vec::new(),
                    without_engine: false,
                    error: Some(e.to_string()),
                },
            }
        })
        .collect()
}

/// `devtui profiles [--json]`; exits 1 when a profile is broken (after listing them all).
pub fn run(discovery: &Discovery, json: bool, keys: &crate::keymap::Keymap) -> anyhow::Result<i32> {
    let loc = crate::project::discover(discovery).map_err(Failure::from)?;
    let listed = list(&loc, keys);
    if json {
        println!("{}", serde_json::to_string_pretty(&listed)?);
    } else if listed.is_empty() {
        println!(
            "no devtui profiles (they go in {})",
            profile::dir(&loc).display()
        );
    } else {
        let width = listed.iter().map(|l| l.name.len()).max().unwrap_or(0);
        for l in &listed {
            let about = match (&l.error, &l.description) {
                (Some(e), _) => format!("BROKEN: {e}"),
                (None, Some(d)) => d.clone(),
                (None, None) => "(no description)".into(),
            };
            println!("{:<width$}  {about}", l.name);
            for c in &l.commands {
                let key = c.key.map(|k| format!(" [{k}]")).unwrap_or_default();
                println!(
                    "{:<width$}    run {}{key} ({}): {}",
                    "",
                    c.name,
                    c.place(),
                    c.run.join(" ")
                );
            }
        }
    }
    Ok(if listed.iter().any(|l| l.error.is_some()) {
        exit::FAILED
    } else {
        exit::OK
    })
}
