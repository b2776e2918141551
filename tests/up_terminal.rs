//! `up` on a real terminal (a PTY from `script`): live per-service progress redrawn in
//! place, then the summary table.

mod common;

use std::process::Command;

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
