//! End to end: `devtui up -P PROFILE` in a real terminal (tmux) opens the TUI with that
//! profile's custom commands: a host command's and a service command's output land in the
//! log pane, their exit codes in the status bar.
//!
//! With CI=true a missing engine or tmux fails the test; elsewhere it is skipped with a note.

mod common;

use std::path::PathBuf;
use std::process::Stdio;

use common::tmux::Tmux;
use common::{Cleanup, devtui, engine_ready, run, stderr, tmux_ready, unique_name};

const COMPOSE: &str = r#"
services:
  box:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm-slim}
    init: true
    command: ["sleep", "infinity"]
"#;

const PROFILE: &str = r#"description: custom commands in the TUI
commands:
  - name: hi
    key: H
    run: [sh, -c, 'echo "host-says-$GREETING"; exit 3']
    env: {GREETING: hello}
  - name: inbox
    key: I
    run: [sh, -c, 'echo "from-the-$WHERE"']
    service: box
    env: {WHERE: box}
"#;

#[test]
fn up_with_a_profile_opens_the_tui_with_its_commands() {
    if !engine_ready() || !tmux_ready() {
        return;
    }
    let project = unique_name("tui-run");
    let _cleanup = Cleanup::new(&project);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = tempfile::tempdir().expect("data dir");
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE).expect("compose file");
    let profiles = dir.path().join(".devtui/profiles");
    std::fs::create_dir_all(&profiles).expect("profiles dir");
    std::fs::write(profiles.join("t.yaml"), PROFILE).expect("profile");
    // The images first, outside the terminal; `up` in the terminal then has nothing to pull.
    let out = run(devtui(dir.path(), data.path())
        .stdin(Stdio::null())
        .args(["-p", &project, "up", "--no-tui"]));
    assert_eq!(out.status.code(), Some(0), "up: {}", stderr(&out));

    let image = std::env::var("DEVTUI_BASE_IMAGE")
        .unwrap_or_else(|_| "devtui-standin/debian:bookworm".into());
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_devtui"));
    let command = format!(
        "DEVTUI_BASE_IMAGE={image} XDG_DATA_HOME={data} XDG_CONFIG_HOME={data}/config \
         XDG_STATE_HOME=$PWD/state DEVTUI_LOG=devtui=debug {bin} -p {project} up -P t; \
         echo DEVTUI-EXIT=$?; sleep 600",
        data = data.path().display(),
        bin = bin.display()
    );
    let term = Tmux::start(format!("{project}-sock"), 120, 40, dir.path(), &command);
    term.wait_for("box running", |s| {
        s.lines()
            .any(|l| l.contains(" box ") && l.contains("running"))
    });
    term.keys(&["H"]);
    term.wait_for("the host command's output and exit code", |s| {
        s.contains("host-says-hello") && s.contains("hi exited with code 3")
    });
    term.keys(&["I"]);
    term.wait_for("the service command's output and exit code", |s| {
        s.contains("from-the-box") && s.contains("inbox exited with code 0")
    });
    term.keys(&["?"]);
    term.wait_for("the commands in the help", |s| {
        s.contains("Profile commands") && s.contains("inbox (box)")
    });
    term.keys(&["Escape"]);
    term.wait_for("the help closed", |s| !s.contains("Profile commands"));
    term.keys(&["q"]);
    let screen = term.wait_for("devtui to exit", |s| s.contains("DEVTUI-EXIT="));
    assert!(screen.contains("DEVTUI-EXIT=0"), "{screen}");
}
