//! Native services end to end, on the bundled stack: `devtui up -P native` runs PostgreSQL and
//! Redis in containers and Gaian natively (the devtui binary, supervised), in the TUI under
//! tmux and in the foreground without it. The real engine, the real binary, real processes.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::*;

/// The project's ports, free on this machine, as `up`'s environment.
struct Ports {
    pg: u16,
    redis: u16,
    gaian: u16,
}

impl Ports {
    fn new() -> Ports {
        let [pg, redis, gaian] = free_ports::<3>();
        Ports { pg, redis, gaian }
    }

    fn env(&self) -> [(&'static str, String); 3] {
        [
            ("POSTGRES_PORT", self.pg.to_string()),
            ("REDIS_PORT", self.redis.to_string()),
            ("GAIAN_PORT", self.gaian.to_string()),
        ]
    }
}

#[test]
fn native_gaian_in_the_tui_restarts_and_stops_with_it() {
    if !engine_ready() || !tmux_ready() {
        return;
    }
    let stack = Stack::new("nativetui");
    let ports = &stack.ports;
    let term = stack.in_tmux("up -P native");

    let screen = term.wait_for("gaian's native row, healthy", |s| {
        row(s, "gaian (native)").is_some_and(|r| r.contains("✔ healthy"))
            && row(s, "postgres").is_some_and(|r| r.contains("✔ healthy"))
    });
    // In dependency order, after the containers it needs.
    let order: Vec<usize> = ["postgres", "redis", "gaian (native)"]
        .iter()
        .map(|l| screen.find(&format!(" {l} ")).expect(l))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{screen}");
    let body = health(ports.gaian).expect("gaian answers on GAIAN_PORT");
    assert!(
        body.contains("\"database\":\"up\""),
        "on PostgreSQL: {body}"
    );
    // CPU and memory from /proc reach its row.
    term.wait_for("gaian's figures", |s| {
        row(s, "gaian (native)").is_some_and(|r| r.contains("iB") && r.contains('%'))
    });

    // Its log pane shows the supervisor's capture.
    term.keys(&["j", "j", "Enter"]);
    term.wait_for("gaian's log pane", |s| {
        s.contains("logs: gaian") && s.contains("gaian listening")
    });

    // r restarts it (after the question): a new pid, healthy again.
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
    let screen = term.wait_for("gaian restarted and healthy", |s| {
        s.contains("stopped for a restart")
            && pid_of(s).is_some_and(|p| p != before)
            && row(s, "gaian (native)").is_some_and(|r| r.contains("✔ healthy"))
    });
    assert!(
        row(&screen, "gaian (native)").is_some_and(|r| r.contains(" 0 ")),
        "a requested restart is not a crash restart:\n{screen}"
    );

    // The `:` prompt stops and starts it by name.
    term.keys(&[":"]);
    term.type_text("stop gaian");
    term.keys(&["Enter"]);
    term.wait_for("the confirmation", |s| s.contains("Stop gaian?"));
    term.keys(&["y"]);
    term.wait_for("gaian stopped", |s| {
        row(s, "gaian (native)").is_some_and(|r| r.contains("exited"))
    });
    assert!(
        health(ports.gaian).is_none(),
        "nothing listens once stopped"
    );
    term.keys(&[":"]);
    term.type_text("start gaian");
    term.keys(&["Enter"]);
    term.wait_for("gaian started and healthy", |s| {
        row(s, "gaian (native)").is_some_and(|r| r.contains("✔ healthy"))
    });

    // The CLI in another terminal reaches it through this devtui, and the row follows.
    stack.ok(&["stop", "gaian", "--yes"], "gaian stopped");
    term.wait_for("gaian stopped from the CLI", |s| {
        row(s, "gaian (native)").is_some_and(|r| r.contains("exited"))
    });

    // q ends devtui and the native process with it.
    term.keys(&["q"]);
    let screen = term.wait_for("devtui to exit", |s| s.contains("DEVTUI-EXIT="));
    assert!(screen.contains("DEVTUI-EXIT=0"), "{screen}");
    assert!(screen.contains("stopped gaian (native)"), "{screen}");
    assert!(health(ports.gaian).is_none(), "gaian stopped with devtui");
}

/// A test's own bundled stack: its project (taken down on drop), working and data
/// directories and free ports; and devtui run in that environment, as from another terminal.
struct Stack {
    // Dropped first: compose down while the stack's files are still there.
    _cleanup: Cleanup,
    project: String,
    cwd: tempfile::TempDir,
    data: tempfile::TempDir,
    ports: Ports,
}

impl Stack {
    fn new(test: &str) -> Stack {
        let project = unique_name(test);
        Stack {
            _cleanup: Cleanup::new(&project),
            project,
            cwd: tempfile::tempdir().expect("tempdir"),
            data: tempfile::tempdir().expect("tempdir"),
            ports: Ports::new(),
        }
    }

    /// devtui in this environment; its state (socket, TUI log) under `cwd/state`, where the
    /// tmux driver looks for the TUI's log.
    fn command(&self) -> Command {
        let mut cmd = devtui(self.cwd.path(), self.data.path());
        cmd.env("XDG_STATE_HOME", self.cwd.path().join("state"))
            .envs(self.ports.env());
        cmd
    }

    /// `devtui -p PROJECT ARGS` on a tmux terminal of 130x40, then its exit code on screen.
    fn in_tmux(&self, args: &str) -> Tmux {
        let env: Vec<String> = self
            .ports
            .env()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let command = format!(
            "env {} XDG_DATA_HOME='{}' XDG_STATE_HOME=$PWD/state '{}' -p {} {args}; echo DEVTUI-EXIT=$?; sleep 600",
            env.join(" "),
            self.data.path().display(),
            env!("CARGO_BIN_EXE_devtui"),
            self.project,
        );
        Tmux::start(
            format!("{}-sock", self.project),
            130,
            40,
            self.cwd.path(),
            &command,
        )
    }

    /// (exit code, stdout, stderr)
    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = self
            .command()
            .args(["-p", &self.project])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run devtui");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs `args`, which must succeed and print `said`.
    fn ok(&self, args: &[&str], said: &str) {
        let (code, stdout, stderr) = self.run(args);
        assert_eq!((code, stdout.trim()), (Some(0), said), "{args:?}: {stderr}");
    }

    /// Runs `args`, which must fail (exit 1) saying `why`.
    fn fails(&self, args: &[&str], why: &str) {
        let (code, _, stderr) = self.run(args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }

    /// gaian's entry in `devtui status --json`, once `ready` accepts it.
    fn gaian(&self, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (code, stdout, stderr) = self.run(&["status", "--json"]);
            assert_eq!(code, Some(0), "{stderr}");
            let report: serde_json::Value = serde_json::from_str(&stdout).expect("status JSON");
            let gaian = report["services"]
                .as_array()
                .and_then(|all| all.iter().find(|s| s["service"] == "gaian"))
                .cloned()
                .unwrap_or_default();
            if ready(&gaian) {
                return gaian;
            }
            assert!(
                Instant::now() < deadline,
                "gaian never as expected:\n{stdout}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// `devtui up -P native --no-tui` in the background, once Gaian listens; stopped with
/// SIGTERM on drop if a test fails first (a SIGKILL would leave Gaian running).
struct Foreground {
    child: Child,
    /// Its stdout so far, up to the `gaian | … listening` line.
    seen: Vec<String>,
}

impl Foreground {
    fn start(stack: &Stack) -> Foreground {
        let mut child = stack
            .command()
            .args(["-p", &stack.project, "up", "-P", "native", "--no-tui"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn devtui");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut up = Foreground {
            child,
            seen: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !up
            .seen
            .iter()
            .any(|l| l.starts_with("gaian | ") && l.contains("listening"))
        {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => up.seen.push(line),
                Err(_) => {
                    let (_, stderr) = up.stop();
                    panic!(
                        "no `gaian | … listening` line; stdout:\n{}\nstderr:\n{stderr}",
                        up.seen.join("\n"),
                    );
                }
            }
        }
        up
    }

    /// SIGTERM, then its exit code and stderr.
    fn stop(&mut self) -> (Option<i32>, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                _ if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    break self.child.wait().expect("wait");
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (status.code(), stderr)
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

#[test]
fn native_gaian_in_the_foreground_obeys_the_cli_until_sigterm() {
    if !engine_ready() {
        return;
    }
    let stack = Stack::new("nativefg");
    let ports = &stack.ports;
    let mut up = Foreground::start(&stack);
    // The summary table lists the native row before its output follows.
    let table = up.seen.join("\n");
    assert!(
        table.contains("native: pid") && table.contains(&format!("127.0.0.1:{}", ports.gaian)),
        "{table}"
    );
    assert!(health(ports.gaian).is_some_and(|b| b.contains("healthy")));
    // No secret from .env in its output.
    let env = std::fs::read_to_string(stack.data.path().join("devtui/stack/.env")).expect(".env");
    let password = env
        .lines()
        .find_map(|l| l.strip_prefix("POSTGRES_PASSWORD="))
        .expect("password");
    assert!(!table.contains(password), "secret leaked:\n{table}");

    // Other devtui commands see it and act on it through the devtui that runs it.
    let healthy = |s: &serde_json::Value| s["state"] == "running" && s["health"] == "healthy";
    let first = stack.gaian(healthy);
    assert_eq!(first["runs"], "native", "{first}");
    let pid = first["pid"]
        .as_u64()
        .expect("a running native service has a pid");
    let image = first["image"].as_str().unwrap_or_default();
    assert!(image.starts_with(&format!("native: pid {pid} ")), "{first}");
    stack.ok(&["restart", "gaian", "--yes"], "gaian restarted");
    let again = stack.gaian(|s| healthy(s) && s["pid"].as_u64().is_some_and(|p| p != pid));
    assert_eq!(
        again["restarts"], 0,
        "a requested restart is not a crash: {again}"
    );
    // `devtui logs` reads the native output through the same socket, merged by time with
    // the containers' output, secrets masked.
    let (code, stdout, stderr) = stack.run(&["logs", "--json", "postgres", "gaian"]);
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    for service in ["postgres", "gaian"] {
        assert!(
            lines.iter().any(|l| l["service"] == service),
            "no {service} lines:\n{stdout}"
        );
    }
    let times: Vec<&str> = lines.iter().filter_map(|l| l["time"].as_str()).collect();
    let parse = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
    };
    assert!(
        times.windows(2).all(|w| parse(w[0]) <= parse(w[1])),
        "not in time order:\n{stdout}"
    );
    assert!(!stdout.contains(password), "secret leaked:\n{stdout}");
    stack.fails(&["exec", "gaian", "true"], "gaian runs natively");
    stack.fails(&["rebuild", "gaian", "--yes"], "nothing to build");
    stack.ok(&["stop", "gaian", "--yes"], "gaian stopped");
    assert!(
        health(ports.gaian).is_none(),
        "nothing listens once stopped"
    );
    stack.gaian(|s| s["state"] == "exited");
    stack.ok(&["start", "gaian"], "gaian started");
    stack.gaian(healthy);
    // `down` stops it before the containers it needs go; its devtui stays.
    let (code, _, stderr) = stack.run(&["down"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("gaian stopped (native"), "{stderr}");
    assert!(health(ports.gaian).is_none(), "stopped by down");
    assert!(
        up.child.try_wait().expect("wait").is_none(),
        "its devtui is still there"
    );

    let (code, stderr) = up.stop();
    assert_eq!(code, Some(128 + 15), "{stderr}");
    assert!(stderr.contains("stopped gaian (native)"), "{stderr}");
    assert!(health(ports.gaian).is_none(), "gaian stopped with devtui");
}

/// `devtui` opened in another terminal while `up -P native` runs: gaian's row is the native
/// one, with its logs, its restart, and it turns back once that devtui ends.
#[test]
fn a_tui_in_another_terminal_shows_and_controls_the_native_service() {
    if !engine_ready() || !tmux_ready() {
        return;
    }
    let stack = Stack::new("nativeother");
    let ports = &stack.ports;
    let mut up = Foreground::start(&stack);
    let term = stack.in_tmux("");
    term.wait_for("gaian's native row, healthy", |s| {
        row(s, "gaian (native)").is_some_and(|r| r.contains("✔ healthy"))
            && row(s, "postgres").is_some_and(|r| r.contains("✔ healthy"))
    });
    term.wait_for("gaian's figures", |s| {
        row(s, "gaian (native)").is_some_and(|r| r.contains("iB") && r.contains('%'))
    });
    term.keys(&[":"]);
    term.type_text("logs gaian");
    term.keys(&["Enter"]);
    term.wait_for("gaian's log pane", |s| {
        s.contains("logs: gaian") && s.contains("gaian listening")
    });
    let pid = |s: &serde_json::Value| s["pid"].as_u64();
    let before = pid(&stack.gaian(|s| s["state"] == "running" && s["pid"].is_u64()));
    term.keys(&[":"]);
    term.type_text("restart gaian");
    term.keys(&["Enter"]);
    term.wait_for("the confirmation", |s| s.contains("Restart gaian?"));
    term.keys(&["y"]);
    term.wait_for("gaian restarted", |s| s.contains("gaian restarted"));
    stack.gaian(|s| s["state"] == "running" && pid(s) != before);

    // That devtui ends: the row is gaian's container's again (none).
    let (code, stderr) = up.stop();
    assert_eq!(code, Some(128 + 15), "{stderr}");
    let screen = term.wait_for("gaian's row without its native process", |s| {
        row(s, "gaian (native)").is_none() && row(s, "gaian").is_some()
    });
    assert!(health(ports.gaian).is_none(), "{screen}");
    term.keys(&["q"]);
    let screen = term.wait_for("devtui to exit", |s| s.contains("DEVTUI-EXIT="));
    assert!(screen.contains("DEVTUI-EXIT=0"), "{screen}");
}

#[test]
fn profile_errors_name_the_file_and_what_exists() {
    if !engine_ready() {
        return;
    }
    let stack = Stack::new("nativebad");
    let up = |profile: &str| stack.run(&["up", "--no-tui", "-P", profile]);
    let (code, _, err) = up("nosuch");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no devtui profile \"nosuch\"")
            && err.contains("profiles there: ci, dev, full, minimal, native"),
        "{err}"
    );

    let file = stack.cwd.path().join("mine.yaml");
    std::fs::write(
        &file,
        "# run postgres natively?\nnative: [gaian, postgres]\n",
    )
    .expect("write");
    let (code, _, err) = up(&file.to_string_lossy());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:2:17: \"postgres\" has no native definition",
            file.display()
        )) && err.contains("declares: gaian"),
        "{err}"
    );
    // The keys that shape the stack are checked against the project, located too.
    for (text, at, what) in [
        (
            "services:\n  - postgres\n  - nosuch\n",
            ":3:5: ",
            "unknown service \"nosuch\" (services in this project: gaian, postgres, qdrant, redis)",
        ),
        (
            "compose:\n  profiles: [vektor]\n",
            ":2:14: ",
            "unknown compose profile \"vektor\" (profiles in this project: vector)",
        ),
        (
            "native_env:\n  redis: {X: y}\n",
            ":2:10: ",
            "\"redis\" has no native definition",
        ),
        (
            "compose: {files: [nosuch.yaml]}\n",
            ":1:19: ",
            "compose file \"nosuch.yaml\" does not exist",
        ),
    ] {
        std::fs::write(&file, text).expect("write");
        let (code, _, err) = up(&file.to_string_lossy());
        assert_eq!(code, Some(2), "{text}: {err}");
        let located = format!("{}{at}{what}", file.display());
        assert!(err.contains(&located), "{text}: {err}");
    }
    // Nothing was started.
    assert!(leftovers(&stack.project).0.is_empty());
}

/// A native service that exits before it is healthy fails `up` with its own last lines, and
/// nothing of it is left running.
#[test]
fn a_native_service_that_exits_fails_up_with_its_output() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("nativefail");
    let _cleanup = Cleanup::new(&project);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        r#"
services:
  api:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm}
    command: ["sleep", "infinity"]
x-devtui:
  native:
    api:
      command: [sh, -c, "echo starting; echo boom-$$((40+2)) >&2; exit 3"]
      healthcheck: http://127.0.0.1:9/health
"#,
    )
    .expect("compose.yaml");
    std::fs::write(dir.path().join("native.yaml"), "native: [api]\n").expect("profile");
    let mut cmd = devtui(dir.path(), data.path());
    cmd.args(["-p", &project, "up", "--no-tui", "-P", "./native.yaml"]);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("api (native) failed: exit status: 3") && err.contains("boom-42"),
        "{err}"
    );
    assert!(leftovers(&project).0.is_empty(), "no container for api");
}
