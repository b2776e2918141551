//! End to end: `B` in the real TUI (a tmux terminal) against a real PostgreSQL: the view
//! opens, `n` backs the database up, the new backup is listed, and the result is a toast.
//!
//! With CI=true a missing engine or tmux fails the test; elsewhere it is skipped with a note.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::tmux::Tmux;
use common::{Cleanup, engine_ready, run, stderr, tmux_ready, unique_name, with_images};

const COMPOSE: &str = r#"
services:
  db:
    image: ${DEVTUI_POSTGRES_IMAGE:-postgres:16-alpine}
    environment:
      POSTGRES_PASSWORD: tui-secret-pw
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres"]
      interval: 1s
      retries: 120
"#;

#[test]
fn b_opens_the_backups_view_and_n_backs_up() {
    if !engine_ready() || !tmux_ready() {
        return;
    }
    let project = unique_name("backup-tui");
    let _cleanup = Cleanup::new(&project);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE).expect("compose file");
    let out = run(with_images(
        Command::new("docker")
            .args([
                "compose",
                "-p",
                &project,
                "-f",
                "compose.yaml",
                "up",
                "-d",
                "--wait",
            ])
            .current_dir(dir.path()),
    ));
    assert!(out.status.success(), "compose up: {}", stderr(&out));

    let bin = PathBuf::from(env!("CARGO_BIN_EXE_devtui"));
    let command = format!(
        "XDG_STATE_HOME=$PWD/state DEVTUI_LOG=devtui=debug {} -p {project} -f compose.yaml; echo DEVTUI-EXIT=$?; sleep 600",
        bin.display()
    );
    let term = Tmux::start(format!("{project}-sock"), 120, 40, dir.path(), &command);
    term.wait_for("db healthy", |s| {
        s.lines()
            .any(|l| l.contains(" db ") && l.contains("✔ healthy"))
    });
    term.keys(&["B"]);
    term.wait_for("the empty backups view", |s| {
        s.contains("backups of db") && s.contains("no backups yet")
    });
    term.keys(&["n"]);
    let screen = term.wait_for("the new backup, listed", |s| {
        s.contains("backed up db")
            && s.lines()
                .any(|l| l.contains("postgres") && l.contains("kB"))
    });
    assert!(!screen.contains("tui-secret-pw"));
    let files: Vec<String> = std::fs::read_dir(dir.path().join("backups"))
        .expect("backups dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("db-") && f.ends_with(".dump")),
        "{files:?}"
    );
    // Esc closes the view; q quits.
    term.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(300));
    term.wait_for("the view closed", |s| !s.contains("backups of db"));
    term.keys(&["q"]);
    let screen = term.wait_for("devtui to exit", |s| s.contains("DEVTUI-EXIT="));
    assert!(screen.contains("DEVTUI-EXIT=0"), "{screen}");
}
