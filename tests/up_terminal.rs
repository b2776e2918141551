//! `up` on a real terminal (a PTY from `script`): live per-service progress redrawn in
//! place, then the summary table.

mod common;

use std::process::Command;

use common::tmux::Tmux;
use common::*;

#[test]
fn progress_is_live_on_a_terminal() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("tty");
    let _cleanup = Cleanup::new(&project);
    let dir = fixture("envgen");
    let data = tempfile::tempdir().expect("tempdir");
    let bin = env!("CARGO_BIN_EXE_devtui");
    let inner = devtui(dir.path(), data.path());
    let mut cmd = Command::new("script");
    cmd.args([
        "-qec",
        &format!("{bin} -p {project} up --no-tui"),
        "/dev/null",
    ])
    .current_dir(dir.path());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(0));
    let screen = stdout(&out);
    assert!(screen.contains("\x1b["), "redrawn in place: {screen:?}");
    assert!(screen.contains("✓ app"), "{screen}");
    assert!(screen.contains("SERVICE"), "summary table: {screen}");
    assert!(
        !screen.contains("app: running ("),
        "no plain lines on a terminal: {screen}"
    );
}

#[test]
fn up_without_no_tui_opens_the_tui_once_healthy() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("uptui");
    let _cleanup = Cleanup::new(&project);
    let dir = fixture("envgen");
    let data = tempfile::tempdir().expect("tempdir");
    let inner = devtui(dir.path(), data.path());
    let mut env = String::new();
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            env.push_str(&format!(
                "{}='{}' ",
                k.to_string_lossy(),
                v.to_string_lossy()
            ));
        }
    }
    let command = format!(
        "env {env} XDG_STATE_HOME=$PWD/state '{}' -p {project} up; echo DEVTUI-EXIT=$?; sleep 600",
        env!("CARGO_BIN_EXE_devtui"),
    );
    let term = Tmux::start(format!("{project}-sock"), 120, 30, dir.path(), &command);
    // The title shows the engine as soon as it answers; the snapshot's rows follow in the
    // next messages, so a frame may come in between.
    term.wait_for("the TUI showing app running", |s| {
        s.contains("engine API") && s.contains("app") && s.contains("running")
    });
    term.keys(&["q"]);
    let screen = term.wait_for("devtui to exit", |s| s.contains("DEVTUI-EXIT="));
    assert!(screen.contains("DEVTUI-EXIT=0"), "{screen}");
}
