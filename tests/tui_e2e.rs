//! End to end: the real `devtui` binary in a real terminal (a detached tmux session of fixed
//! size) against the real engine, over a small compose stack of its own.
//!
//! With CI=true a missing engine or tmux fails the test; elsewhere it is skipped with a note.

mod common;

use common::tmux::Tmux;
use common::{engine_ready, require, tmux_ready, with_images};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const COMPOSE: &str = r#"
services:
  cache:
    image: ${DEVTUI_REDIS_IMAGE:-redis:7-alpine}
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 1s
      timeout: 3s
      retries: 60
  web:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm}
    init: true
    command: ["sh", "-c", "i=0; while true; do i=$$((i+1)); echo \"tick $$i\"; if [ $$((i % 5)) -eq 0 ]; then echo \"needle-$$i found\" >&2; fi; sleep 0.2; done"]
    depends_on:
      cache:
        condition: service_healthy
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      retries: 3
  # Never started by the test's stack: a row from the model alone, until `s` starts it.
  worker:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm}
    init: true
    command: ["sleep", "infinity"]
"#;

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// The compose stack; `down` on drop, also when the test fails.
struct Stack {
    project: String,
    dir: tempfile::TempDir,
}

impl Stack {
    fn up(project: String) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("compose.yaml"), COMPOSE).expect("write compose file");
        let stack = Stack { project, dir };
        let out = run(with_images(
            Command::new("docker")
                .args([
                    "compose",
                    "-p",
                    &stack.project,
                    "-f",
                    "compose.yaml",
                    "up",
                    "-d",
                    "--wait",
                    "cache",
                    "web",
                ])
                .current_dir(stack.dir()),
        ));
        assert!(
            out.status.success(),
            "docker compose up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stack
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = with_images(
            Command::new("docker")
                .args([
                    "compose",
                    "-p",
                    &self.project,
                    "-f",
                    "compose.yaml",
                    "down",
                    "-v",
                    "--remove-orphans",
                    "-t",
                    "0",
                ])
                .current_dir(self.dir.path()),
        )
        .output();
    }
}

fn row<'a>(screen: &'a str, service: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.starts_with("│") && l.split_whitespace().nth(1) == Some(service))
}

#[test]
fn tui_shows_health_searches_logs_execs_and_quits_cleanly() {
    if !engine_ready() {
        return;
    }
    if !tmux_ready() {
        return;
    }
    let id = format!("tuie2e{}", std::process::id());
    let stack = Stack::up(id.clone());
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_devtui"));
    // After devtui exits, print its status and the terminal modes, then keep the pane open.
    let command = format!(
        "XDG_STATE_HOME=$PWD/state DEVTUI_LOG=devtui=debug {} -p {} -f compose.yaml; echo DEVTUI-EXIT=$?; stty -a; sleep 600",
        bin.display(),
        stack.project
    );
    let term = Tmux::start(format!("{id}-sock"), 120, 40, stack.dir(), &command);

    // The services and their health appear, and the one without a container has its row too.
    term.wait_for("both services healthy", |s| {
        row(s, "cache").is_some_and(|r| r.contains("✔ healthy"))
            && row(s, "web").is_some_and(|r| r.contains("✔ healthy"))
            && row(s, "worker").is_some_and(|r| r.contains("not created"))
    });
    // Stats streamed for the rows on screen reach the table (with the clock tick).
    term.wait_for("memory figures from the stats streams", |s| {
        ["cache", "web"]
            .iter()
            .all(|svc| row(s, svc).is_some_and(|r| r.contains("iB") && r.contains('%')))
    });
    assert!(
        term.alternate_screen_on(),
        "the TUI runs on the alternate screen"
    );

    // Open web's log pane and search it.
    term.keys(&["j", "Enter"]);
    term.wait_for("web's log pane", |s| {
        s.contains("logs: web") && s.contains("tick ")
    });
    term.keys(&["/"]);
    term.type_text("needle");
    term.keys(&["Enter"]);
    term.wait_for("the search in the pane border", |s| {
        s.contains("search /needle/")
            && s.lines()
                .any(|l| l.contains("needle-") && l.contains("found"))
    });
    // An invalid filter is an inline error, and the TUI keeps running.
    term.keys(&["f"]);
    term.type_text("(oops");
    term.wait_for("the inline regex error", |s| s.contains("invalid regex"));
    // Esc peels one layer at a time: the prompt, the search, then the pane. Pause between
    // them, as a person would: ESC ESC in one read is a single key to the terminal parser.
    for _ in 0..3 {
        term.keys(&["Escape"]);
        std::thread::sleep(Duration::from_millis(300));
    }
    term.wait_for("the pane closed", |s| !s.contains("logs: web"));

    // A shell in web runs a command and returns with its exit code shown.
    term.keys(&["e"]);
    term.wait_for("the shell", |s| s.contains("shell in web"));
    std::thread::sleep(Duration::from_millis(500));
    term.type_text("echo \"e2e-$((40+2))\"; exit 7");
    term.keys(&["Enter"]);
    term.wait_for("the TUI back with the exit code", |s| {
        s.contains("shell in web exited with code 7") && row(s, "web").is_some()
    });

    // `s` on the service without a container creates and starts it.
    term.keys(&["j", "s"]);
    term.wait_for("worker started", |s| {
        row(s, "worker").is_some_and(|r| r.contains("● running"))
    });

    // q quits, leaving the terminal in normal mode.
    term.keys(&["q"]);
    let screen = term.wait_for("devtui to exit", |s| s.contains("DEVTUI-EXIT="));
    assert!(screen.contains("DEVTUI-EXIT=0"), "exit status:\n{screen}");
    assert!(
        screen.contains("e2e-42"),
        "the shell's output stays on the main screen:\n{screen}"
    );
    let modes = term.wait_for("stty output", |s| {
        s.contains("speed") && s.contains("icanon")
    });
    assert!(!term.alternate_screen_on(), "alternate screen left");
    assert!(
        modes.split_whitespace().any(|w| w == "icanon")
            && modes.split_whitespace().any(|w| w == "echo"),
        "raw mode must be off after quitting:\n{modes}"
    );
}

fn devtui(stack: &Stack, args: &[&str]) -> Output {
    let mut full = vec!["-p", stack.project.as_str(), "-f", "compose.yaml"];
    full.extend_from_slice(args);
    run(with_images(
        Command::new(env!("CARGO_BIN_EXE_devtui"))
            .args(&full)
            .current_dir(stack.dir())
            .stdin(std::process::Stdio::null()),
    ))
}

fn container_state(stack: &Stack, service: &str) -> String {
    let name = format!("{}-{service}-1", stack.project);
    let out = run(Command::new("docker").args([
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.StartedAt}}",
        &name,
    ]));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn cli_actions_and_exec_share_the_tui_code() {
    if !engine_ready() {
        return;
    }
    let stack = Stack::up(format!("tuicli{}", std::process::id()));
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };

    // exec passes output through and exits with the command's code.
    let out = devtui(
        &stack,
        &["exec", "web", "sh", "-c", "echo from-web; exit 4"],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-web\n");

    // Destructive actions need --yes without a terminal; unknown services are named.
    let out = devtui(&stack, &["restart", "web"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--yes"), "{}", text(&out));
    let out = devtui(&stack, &["restart", "nope", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("unknown service \"nope\""),
        "{}",
        text(&out)
    );

    let before = container_state(&stack, "web");
    let out = devtui(&stack, &["restart", "web", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let after = container_state(&stack, "web");
    assert!(
        after.starts_with("running") && after != before,
        "{before} -> {after}"
    );

    let out = devtui(&stack, &["stop", "web", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(container_state(&stack, "web").starts_with("exited"));
    let out = devtui(&stack, &["exec", "web", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("web is not running (exited)"),
        "{}",
        text(&out)
    );

    let out = devtui(&stack, &["start", "web"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(container_state(&stack, "web").starts_with("running"));

    // Rebuild = build + recreate: a new container.
    let id = |s: &Stack| {
        let name = format!("{}-web-1", s.project);
        String::from_utf8_lossy(
            &run(Command::new("docker").args(["inspect", "-f", "{{.Id}}", &name])).stdout,
        )
        .into_owned()
    };
    let old = id(&stack);
    let out = devtui(&stack, &["rebuild", "web", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_ne!(id(&stack), old, "rebuild recreates the container");

    // Without a terminal the TUI refuses with a pointer to the scriptable command.
    let out = devtui(&stack, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("needs a terminal"), "{}", text(&out));

    let out = devtui(&stack, &["open", "web"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("web publishes no port"),
        "{}",
        text(&out)
    );
}

#[test]
fn tui_restores_the_terminal_on_sigterm_and_sighup() {
    if !engine_ready() {
        return;
    }
    if !tmux_ready() {
        return;
    }
    let id = format!("tuisig{}", std::process::id());
    let stack = Stack::up(id.clone());
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_devtui"));
    for (n, signal) in ["TERM", "HUP"].iter().enumerate() {
        // The script execs devtui, so the pid it writes is devtui's; the shell around it
        // reports the exit status and the terminal modes afterwards.
        let script = format!(
            "echo $$ > devtui.pid\nexec {} -p {} -f compose.yaml\n",
            bin.display(),
            stack.project
        );
        std::fs::write(stack.dir().join("run.sh"), script).expect("write run.sh");
        let command = "sh run.sh; echo DEVTUI-EXIT=$?; stty -a; sleep 600";
        let term = Tmux::start(format!("{id}-{n}-sock"), 100, 30, stack.dir(), command);
        term.wait_for("the dashboard", |s| row(s, "web").is_some());
        // Open a pane and a prompt, so there is state to tear down.
        term.keys(&["j", "Enter"]);
        term.wait_for("the log pane", |s| s.contains("logs: web"));
        let pid = std::fs::read_to_string(stack.dir().join("devtui.pid")).expect("pid file");
        let out = run(Command::new("kill").args([&format!("-{signal}"), pid.trim()]));
        assert!(out.status.success(), "kill -{signal} failed");
        let screen = term.wait_for("devtui to exit", |s| {
            s.contains("DEVTUI-EXIT=") && s.contains("icanon")
        });
        assert!(
            !term.alternate_screen_on(),
            "SIG{signal}: alternate screen left"
        );
        let words: Vec<&str> = screen.split_whitespace().collect();
        assert!(
            words.contains(&"icanon") && words.contains(&"echo"),
            "SIG{signal}: raw mode must be off:\n{screen}"
        );
    }
}

#[test]
fn tui_on_a_broken_compose_file_exits_with_compose_message_and_code_2() {
    if !tmux_ready() {
        return;
    }
    let docker = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !require("docker compose", docker) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: [unclosed\n",
    )
    .expect("write");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_devtui"));
    let command = format!(
        "{} -p tuibroken{}; echo DEVTUI-EXIT=$?; stty -a; sleep 600",
        bin.display(),
        std::process::id()
    );
    let term = Tmux::start(
        format!("tuibroken{}-sock", std::process::id()),
        100,
        30,
        dir.path(),
        &command,
    );
    let screen = term.wait_for("devtui to exit", |s| {
        s.contains("DEVTUI-EXIT=") && s.contains("icanon")
    });
    assert!(screen.contains("DEVTUI-EXIT=2"), "{screen}");
    assert!(screen.contains("compose.yaml"), "names the file:\n{screen}");
    assert!(!term.alternate_screen_on());
    let words: Vec<&str> = screen.split_whitespace().collect();
    assert!(
        words.contains(&"icanon") && words.contains(&"echo"),
        "{screen}"
    );
}
