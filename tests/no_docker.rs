//! devtui on a machine without Docker: no engine (DOCKER_HOST at a socket that does not
//! exist) and no `docker` binary (PATH holds none). `up` on the bundled stack says how to run
//! without it; `up -P minimal` runs Gaian natively on its SQLite file, in the TUI under tmux.

mod common;

use common::tmux::Tmux;
use common::*;

const DEAD_ENGINE: &str = "unix:///nonexistent/devtui-no-docker.sock";

/// A directory for PATH with no `docker` in it (nor anything else).
fn path_without_docker() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(!dir.path().join("docker").exists());
    dir
}

#[test]
fn up_without_an_engine_names_the_minimal_profile() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let path = path_without_docker();
    let out = run(devtui(cwd.path(), data.path())
        .args(["up", "--no-tui"])
        .env("DOCKER_HOST", DEAD_ENGINE)
        .env("PATH", path.path()));
    assert_eq!(out.status.code(), Some(3), "exit code: no engine");
    let err = stderr(&out);
    assert!(err.contains("cannot reach the Docker engine"), "{err}");
    assert!(err.contains("`devtui up -P minimal`"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn minimal_runs_gaian_natively_with_no_docker_at_all() {
    if !tmux_ready() {
        return;
    }
    let cwd = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let path = path_without_docker();
    let port = free_port();
    let project = unique_name("minimal");
    // `env` and `sleep` come from the shell's PATH; devtui gets the one without docker.
    let command = format!(
        "env PATH='{}' DOCKER_HOST={DEAD_ENGINE} GAIAN_PORT={port} XDG_DATA_HOME='{}' XDG_STATE_HOME=$PWD/state '{}' -p {project} up -P minimal; echo DEVTUI-EXIT=$?; sleep 600",
        path.path().display(),
        data.path().display(),
        env!("CARGO_BIN_EXE_devtui"),
    );
    let term = Tmux::start(format!("{project}-sock"), 130, 40, cwd.path(), &command);

    let screen = term.wait_for(
        "gaian's native row, healthy, and the engine unreachable",
        |s| {
            row(s, "gaian (native)").is_some_and(|r| r.contains("✔ healthy"))
                && s.contains("engine unreachable")
        },
    );
    assert!(row(&screen, "postgres").is_none(), "only gaian:\n{screen}");
    let body = health(port).expect("gaian answers on GAIAN_PORT");
    assert!(body.contains("\"database\":\"up\""), "{body}");
    assert!(body.contains("\"cache\":\"disabled\""), "no Redis: {body}");
    assert!(
        data.path().join("devtui/gaian/gaian.db").is_file(),
        "on its SQLite file under the data directory"
    );

    // Its log pane shows the supervisor's capture: on SQLite.
    term.keys(&["Enter"]);
    term.wait_for("gaian's log pane", |s| {
        s.contains("logs: gaian") && s.contains("database=SQLite")
    });

    // r restarts it with no engine anywhere: a new pid, healthy again.
    let pid_of = |s: &str| {
        s.lines()
            .find_map(|l| l.split("native: pid ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
    };
    let before = pid_of(&term.screen()).expect("pid in the details line");
    term.keys(&["Tab", "r"]);
    term.wait_for("the confirmation", |s| s.contains("Restart gaian?"));
    term.keys(&["y"]);
    term.wait_for("gaian restarted and healthy", |s| {
        pid_of(s).is_some_and(|p| p != before)
            && row(s, "gaian (native)").is_some_and(|r| r.contains("✔ healthy"))
    });

    term.keys(&["q"]);
    let screen = term.wait_for("devtui to exit", |s| s.contains("DEVTUI-EXIT="));
    assert!(screen.contains("DEVTUI-EXIT=0"), "{screen}");
    assert!(health(port).is_none(), "gaian stopped with devtui");
}
