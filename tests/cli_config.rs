//! The config file (`devtui config path|show|edit`, broken files, the environment winning),
//! shell completions (the registration script and the dynamic service names), and the exit
//! codes of the README's table for the commands that print data.

mod common;

use std::path::Path;
use std::process::Command;

use common::{devtui, engine_ready, fixture, run, stderr, stdout};

/// devtui with its config home in `home` (and NO_COLOR / DEVTUI_LOG_LINES unset).
fn with_config(dir: &Path, home: &Path) -> Command {
    let mut cmd = devtui(dir, &home.join("data"));
    cmd.env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("NO_COLOR")
        .env_remove("DEVTUI_LOG_LINES")
        .env_remove("VISUAL");
    cmd
}

fn write_config(home: &Path, text: &str) -> std::path::PathBuf {
    let file = home.join("config/devtui/config.yaml");
    std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
    std::fs::write(&file, text).expect("write config");
    file
}

#[test]
fn config_path_show_and_the_environment() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let out = run(with_config(dir.path(), home.path()).args(["config", "path"]));
    let file = home.path().join("config/devtui/config.yaml");
    assert_eq!(stdout(&out).trim(), file.display().to_string());

    // No file: today's defaults.
    let out = run(with_config(dir.path(), home.path()).args(["config", "show", "--json"]));
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json["exists"], false);
    assert_eq!(json["log_lines"]["value"], 10000);
    assert_eq!(json["theme"]["value"], "default");
    assert_eq!(json["confirm"]["value"], true);
    assert_eq!(json["stats_interval"]["value"], "1s");

    write_config(
        home.path(),
        "log_lines: 500\ntheme: default\nstats_interval: 2s\nconfirm: false\nkeys: {}\n",
    );
    let out = run(with_config(dir.path(), home.path())
        .env("NO_COLOR", "1")
        .args(["config", "show", "--json"]));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json["log_lines"]["value"], 500);
    assert_eq!(json["log_lines"]["source"]["line"], 1);
    // The environment wins over the file.
    assert_eq!(json["theme"]["value"], "no-color");
    assert_eq!(json["theme"]["source"]["var"], "NO_COLOR");
    assert_eq!(json["stats_interval"]["value"], "2s");
    assert_eq!(json["confirm"]["value"], false);
    let out = run(with_config(dir.path(), home.path())
        .env("DEVTUI_LOG_LINES", "42")
        .args(["config", "show"]));
    let text = stdout(&out);
    assert!(text.contains("log_lines: 42"), "{text}");
    assert!(text.contains("environment, DEVTUI_LOG_LINES"), "{text}");

    // The keymap in force: every action, the file's bindings located.
    write_config(home.path(), "keys:\n  restart: R\n  run.psql: p\n");
    let out = run(with_config(dir.path(), home.path()).args(["config", "show", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json["keys"]["restart"]["value"], "R");
    assert_eq!(json["keys"]["restart"]["source"]["line"], 2);
    assert_eq!(json["keys"]["run.psql"]["value"], "p");
    assert_eq!(json["keys"]["down"]["value"], "j down");
    assert_eq!(json["keys"]["down"]["source"]["from"], "default");
    let out = run(with_config(dir.path(), home.path()).args(["config", "show"]));
    let text = stdout(&out);
    assert!(text.contains("  restart: \"R\""), "{text}");
    assert!(text.contains("  quit: \"q\""), "{text}");
    assert!(text.contains("  run.psql: \"p\""), "{text}");
}

#[test]
fn a_broken_config_names_file_line_and_column_and_stops_every_command() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let file = write_config(home.path(), "log_lines: 500\ntheme: dark\n");
    let expected = format!("{}:2:8: unknown theme \"dark\"", file.display());
    for args in [
        &["config", "show"][..],
        &["config", "show", "--json"],
        &["logs"],
        &["up", "--no-tui"],
        &[],
    ] {
        let out = run(with_config(dir.path(), home.path()).args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains(&expected),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("panicked"));
    }
    // Not a YAML mapping, an unknown key, an unknown action, a bad key, a clash.
    for (text, at) in [
        ("log_lines: [1,\n", ":"),
        ("confirm: true\nlog_line: 3\n", ":2:1: "),
        ("keys:\n  restrat: R\n", ":2:3: unknown action \"restrat\""),
        (
            "keys:\n  restart: hyper-r\n",
            ":2:12: keys.restart: \"hyper-r\" is not a key",
        ),
        (
            "keys:\n  restart: R\n  exec: R\n",
            ":3:9: keys.exec: R is already restart's key",
        ),
    ] {
        write_config(home.path(), text);
        let out = run(with_config(dir.path(), home.path()).args(["config", "show"]));
        assert_eq!(out.status.code(), Some(2), "{text}");
        let said = stderr(&out);
        assert!(said.contains(&format!("{}{at}", file.display())), "{said}");
    }

    // `config edit` opens the editor on the file, then checks it.
    std::fs::remove_file(&file).expect("rm");
    let out = run(with_config(dir.path(), home.path())
        .env("EDITOR", "sed -i 's/^# log_lines: 10000/log_lines: 77/'")
        .args(["config", "edit"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(with_config(dir.path(), home.path()).args(["config", "show"]));
    assert!(stdout(&out).contains("log_lines: 77"), "{}", stdout(&out));
    let out = run(with_config(dir.path(), home.path())
        .env("EDITOR", "sed -i 's/^log_lines: 77/log_lines: lots/'")
        .args(["config", "edit"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(":5:12: "), "{}", stderr(&out));
}

#[test]
fn completion_scripts_load_and_complete_service_names() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(Command::new(env!("CARGO_BIN_EXE_devtui")).args(["completions", shell]));
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(stdout(&out).contains("DEVTUI_COMPLETE"), "{shell}");
    }
    let out = run(Command::new(env!("CARGO_BIN_EXE_devtui")).args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));

    // Bash: the script loads, and a Tab after `devtui logs ` offers the project's services,
    // after `devtui lo` the subcommand.
    let dir = fixture("discover");
    let script = stdout(&run(
        Command::new(env!("CARGO_BIN_EXE_devtui")).args(["completions", "bash"])
    ));
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let bash = format!(
            "{script}\nCOMP_WORDS=({words}); COMP_CWORD={cword}; COMP_TYPE=9; \
             _clap_complete_devtui devtui '{last}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words = words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
            cword = words.len() - 1,
            last = words[words.len() - 1],
            prev = words[words.len() - 2],
        );
        let out = run(Command::new("bash")
            .args(["-c", &bash])
            .current_dir(dir.path())
            .env_remove("COMPOSE_FILE"));
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let subcommands = complete("devtui lo");
    assert!(
        subcommands.lines().any(|l| l.trim() == "logs"),
        "{subcommands}"
    );
    if engine_ready() {
        // Service names come from `docker compose config` of the project found here.
        let services = complete("devtui logs ");
        assert!(services.lines().any(|l| l.trim() == "base"), "{services}");
    }
}

#[test]
fn exit_codes_and_json_of_the_data_commands() {
    let dir = tempfile::tempdir().expect("dir");
    let data = tempfile::tempdir().expect("data");
    // No engine: 3, for every command that needs one; JSON still parses where asked for.
    let none = |args: &[&str]| {
        let mut cmd = devtui(dir.path(), data.path());
        cmd.env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("XDG_CONFIG_HOME", data.path())
            .args(args);
        run(&mut cmd)
    };
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["logs"],
        &["logs", "--json"],
    ] {
        let out = none(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(
            stderr(&out).contains("cannot reach the Docker engine"),
            "{args:?}"
        );
    }
    let out = none(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("doctor --json");
    assert_eq!(json["ok"], false);
    assert_eq!(json["checks"][0]["name"], "engine");
    // Bad input: 2.
    let out = none(&["logs", "--tail", "many"]);
    assert_eq!(out.status.code(), Some(2));
    let out = none(&["nosuchcommand"]);
    assert_eq!(out.status.code(), Some(2));
    if !engine_ready() {
        return;
    }
    let out = run(devtui(dir.path(), data.path())
        .env("XDG_CONFIG_HOME", data.path())
        .args(["-f", "missing.yaml", "status", "--json"]));
    assert_eq!(out.status.code(), Some(2));
    // With an engine: doctor names it and its version; status --json is the documented shape.
    let out = run(devtui(dir.path(), data.path())
        .env("XDG_CONFIG_HOME", data.path())
        .args(["doctor", "--json"]));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("doctor --json");
    let engine = json["checks"][0]["detail"].as_str().expect("detail");
    assert!(engine.starts_with("Docker engine "), "{engine}");
    let out = run(devtui(dir.path(), data.path())
        .env("XDG_CONFIG_HOME", data.path())
        .args(["-p", "dt-nothing-here", "status", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("status --json");
    assert_eq!(json["project"], "dt-nothing-here");
    assert!(json["services"].is_array());
}

#[test]
fn the_config_files_profile_is_ups_default_when_the_project_has_it() {
    if !engine_ready() {
        return;
    }
    let home = tempfile::tempdir().expect("home");
    let dir = fixture("discover");
    // A profile the project has: `up` uses it (this one names a service with no native
    // definition, so `up` stops there, before anything starts, naming the profile's file).
    let profiles = dir.path().join(".devtui/profiles");
    std::fs::create_dir_all(&profiles).expect("profiles dir");
    std::fs::write(profiles.join("mine.yaml"), "native: [base]\n").expect("profile");
    write_config(home.path(), "profile: mine\n");
    let out = run(with_config(dir.path(), home.path()).args(["up", "--no-tui"]));
    assert_eq!(out.status.code(), Some(2));
    let said = stderr(&out);
    assert!(
        said.contains("using devtui profile mine (the config file's default)"),
        "{said}"
    );
    assert!(
        said.contains("mine.yaml:1:10: \"base\" has no native definition"),
        "{said}"
    );
    // -P wins over the config file.
    let out = run(with_config(dir.path(), home.path()).args(["up", "--no-tui", "-P", "nosuch"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no devtui profile \"nosuch\""),
        "{}",
        stderr(&out)
    );
    // A profile the project does not have: a note, and `up` goes on without one (here it
    // stops at the malformed compose file, before anything starts).
    write_config(home.path(), "profile: elsewhere\n");
    let broken = fixture("invalid");
    let out = run(with_config(broken.path(), home.path()).args(["up", "--no-tui"]));
    assert_eq!(out.status.code(), Some(2));
    let said = stderr(&out);
    assert!(
        said.contains("the config file's profile elsewhere is not in this project"),
        "{said}"
    );
    assert!(said.contains("portz"), "{said}");
}
