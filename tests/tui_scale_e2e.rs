//! End to end: a service scaled to three replicas while the TUI runs shows as one row
//! `web ×3`, expands to its replicas, loses one on a scale down, and its log pane merges
//! the replicas' lines tagged `#N` (a replica started while the pane is open joins it);
//! `s` stops every replica, and so does the CLI's `start` start them all.

mod common;

use common::tmux::Tmux;
use common::{Cleanup, engine_ready, run, tmux_ready, unique_name};
use std::path::PathBuf;
use std::process::Command;

const COMPOSE: &str = r#"
services:
  web:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm}
    init: true
    command: ["sh", "-c", "while true; do echo \"hello from $$HOSTNAME\"; sleep 0.5; done"]
"#;

/// The dashboard row whose service column starts with `service`.
fn row<'a>(screen: &'a str, service: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.starts_with("│") && l.split_whitespace().nth(1) == Some(service))
}

#[test]
fn tui_groups_replicas_under_their_service() {
    if !engine_ready() || !tmux_ready() {
        return;
    }
    let project = unique_name("tuiscale");
    let _cleanup = Cleanup::new(&project);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE).expect("compose file");
    let scale = |n: &str| {
        let out =
            run(common::devtui(dir.path(), data.path()).args(["-p", &project, "scale", "web", n]));
        assert_eq!(out.status.code(), Some(0), "scale web {n}");
    };
    scale("3");

    let bin = PathBuf::from(env!("CARGO_BIN_EXE_devtui"));
    let command = format!(
        "XDG_STATE_HOME=$PWD/state XDG_CONFIG_HOME=$PWD/config {} -p {project} -f compose.yaml; echo DEVTUI-EXIT=$?; sleep 600",
        bin.display(),
    );
    let term = Tmux::start(format!("{project}-sock"), 120, 40, dir.path(), &command);

    term.wait_for("one row for three replicas, with figures", |s| {
        row(s, "web")
            .is_some_and(|r| r.contains("web ×3") && r.contains("● running") && r.contains('%'))
    });
    term.keys(&["+"]);
    term.wait_for("a sub-row per replica", |s| {
        ["#1", "#2", "#3"]
            .iter()
            .all(|n| s.lines().any(|l| l.split_whitespace().nth(1) == Some(*n)))
    });

    scale("2");
    term.wait_for("two replicas left, the row stays", |s| {
        row(s, "web").is_some_and(|r| r.contains("web ×2") && r.contains("● running"))
            && !s.lines().any(|l| l.split_whitespace().nth(1) == Some("#3"))
    });

    term.keys(&["Enter"]);
    term.wait_for("the replicas' lines merged in the pane", |s| {
        s.contains("#1 | hello from") && s.contains("#2 | hello from")
    });

    // Scaled up while the pane streams: the new replica's lines join the pane.
    scale("3");
    term.wait_for("the new replica's lines in the open pane", |s| {
        s.contains("#3 | hello from")
    });

    term.keys(&["Escape"]);
    std::thread::sleep(std::time::Duration::from_millis(300));

    // `s` (confirmed) stops the service: every replica, not the one the row shows.
    term.keys(&["s"]);
    term.wait_for("the stop question", |s| s.contains("top web"));
    term.keys(&["y"]);
    term.wait_for("every replica stopped", |s| {
        row(s, "web").is_some_and(|r| r.contains("web ×3") && !r.contains("running"))
    });
    let running = || {
        let out = run(Command::new("docker").args([
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
        ]));
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert_eq!(running(), 0, "no replica left running");

    // The CLI acts on the service too: every replica starts.
    let out = run(common::devtui(dir.path(), data.path()).args(["-p", &project, "start", "web"]));
    assert_eq!(out.status.code(), Some(0), "start web: {out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("3 replicas started"),
        "start web said: {out:?}"
    );
    assert_eq!(
        running(),
        3,
        "every replica running after `devtui start web`"
    );
    term.wait_for("the row running again", |s| {
        row(s, "web").is_some_and(|r| r.contains("web ×3") && r.contains("● running"))
    });

    term.keys(&["q"]);
    let screen = term.wait_for("devtui to exit", |s| s.contains("DEVTUI-EXIT="));
    assert!(screen.contains("DEVTUI-EXIT=0"), "exit status:\n{screen}");
}
