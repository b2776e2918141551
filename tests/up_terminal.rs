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

/// Kills the tmux session when dropped.
struct Tmux(String);

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

fn pane(session: &str) -> String {
    Command::new("tmux")
        .args(["capture-pane", "-p", "-t", session])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
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
    let exit_file = dir.path().join("exit-code");
    let session = format!("devtui-{project}");
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
    let script = format!(
        "cd '{}' && env {env} '{}' -p {project} up; echo $? > '{}.tmp' && mv '{}.tmp' '{}'",
        dir.path().display(),
        env!("CARGO_BIN_EXE_devtui"),
        exit_file.display(),
        exit_file.display(),
        exit_file.display()
    );
    let status = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "120",
            "-y",
            "30",
            &script,
        ])
        .status()
        .expect("tmux");
    assert!(status.success(), "tmux new-session");
    let _tmux = Tmux(session.clone());
    // The title shows the engine as soon as it answers; the snapshot's rows follow in the
    // next messages, so a frame may come in between.
    wait_for("the TUI showing app running", || {
        let screen = pane(&session);
        screen.contains("engine API") && screen.contains("app") && screen.contains("running")
    });
    Command::new("tmux")
        .args(["send-keys", "-t", &session, "q"])
        .status()
        .expect("send q");
    wait_for("devtui to exit", || exit_file.exists());
    let code = std::fs::read_to_string(&exit_file).expect("exit code");
    assert_eq!(code.trim(), "0");
}
