//! `devtui mode`, end to end on the bundled stack (real engine, stand-in images, the real
//! binary in tmux): Gaian moves from native to its container with the TUI's key and back with
//! the CLI (through the devtui that runs the stack), on the same port, and a player's balance
//! survives both moves: both sides use the same PostgreSQL. Hot reload, on while Gaian ran
//! natively, follows it into the container: an edit of the rules file is synced there.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use common::tmux::Tmux;
use common::*;

/// One HTTP/1.0 exchange with 127.0.0.1:`port`: the response body, `None` when nothing
/// answers.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{method} {path}: {response}"
    );
    Some(body.to_string())
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Plants a tree for `player`; returns the balance the answer reports.
fn act(port: u16, player: &str) -> String {
    let body = format!(r#"{{"player_id":"{player}","action":"plant_tree","quantity":1}}"#);
    let answer = http(port, "POST", "/api/v1/action", &body).expect("gaian answers");
    json(&answer)["balance_sila"]
        .as_str()
        .expect("balance")
        .to_string()
}

fn balance(port: u16, player: &str) -> String {
    let answer =
        http(port, "GET", &format!("/api/v1/players/{player}"), "").expect("gaian answers");
    json(&answer)["balance_sila"]
        .as_str()
        .expect("balance")
        .to_string()
}

#[test]
fn gaian_switches_between_native_and_container_keeping_its_data_and_port() {
    if !engine_ready() || !tmux_ready() {
        return;
    }
    let project = unique_name("mode");
    let _cleanup = Cleanup::new(&project);
    let cwd = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let [pg, redis, gaian] = free_ports::<3>();
    let ports = [
        ("POSTGRES_PORT", pg.to_string()),
        ("REDIS_PORT", redis.to_string()),
        ("GAIAN_PORT", gaian.to_string()),
    ];
    let state = cwd.path().join("state");
    let command = format!(
        "env {} XDG_DATA_HOME='{}' XDG_STATE_HOME='{}' '{}' -p {project} up -P native; echo DEVTUI-EXIT=$?; sleep 600",
        ports
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        data.path().display(),
        state.display(),
        env!("CARGO_BIN_EXE_devtui"),
    );
    let term = Tmux::start(format!("{project}-sock"), 130, 40, cwd.path(), &command);
    term.wait_for("gaian's native row, healthy", |s| {
        row(s, "gaian (native)").is_some_and(|r| r.contains("✔ healthy"))
    });
    // A second TUI, in another terminal, follows the stack through the devtui running it.
    let watcher = Tmux::start(
        format!("{project}-sock2"),
        130,
        40,
        cwd.path(),
        &command.replace(" up -P native;", ";"),
    );
    watcher.wait_for("the other TUI: gaian native", |s| {
        row(s, "gaian (native)").is_some_and(|r| r.contains("✔ healthy"))
    });
    // Reload on while gaian runs natively (saved by the CLI, applied by the running TUI).
    let out = run(devtui(cwd.path(), data.path())
        .args(["-p", &project, "reload", "gaian", "on"])
        .envs(ports.iter().cloned())
        .env("XDG_STATE_HOME", &state)
        .stdin(Stdio::null()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    term.wait_for("gaian's row marked for reload", |s| {
        row(s, "gaian (native)").is_some_and(|r| r.contains('⟳'))
    });
    let player = "mode-player";
    let first = act(gaian, player);
    assert_eq!(balance(gaian, player), first);

    // m on gaian's row: it moves into its container (built from this devtui), same port.
    term.keys(&["G", "m"]);
    // The switch says it is done once compose has seen the container healthy.
    term.wait_for("gaian in its container, healthy", |s| {
        s.contains("gaian runs in its container now")
            && row(s, "gaian").is_some_and(|r| r.contains("✔ healthy") && !r.contains("(native)"))
    });
    watcher.wait_for("the other TUI: gaian in its container", |s| {
        row(s, "gaian").is_some_and(|r| r.contains("✔ healthy") && !r.contains("(native)"))
    });
    assert_eq!(
        balance(gaian, player),
        first,
        "the container sees the native process's data"
    );
    // Reload moved with it: the rules file is a develop.watch sync target of the container.
    let rules_file = data.path().join("devtui/stack/gaian-rules.yaml");
    let rules = std::fs::read_to_string(&rules_file).expect("the stack's rules file");
    let edited = rules.replacen("base_reward: \"5\"", "base_reward: \"7\"", 1);
    assert_ne!(edited, rules, "plant_tree's reward is in the file");
    std::fs::write(&rules_file, edited).expect("edit the rules");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let served = loop {
        let served = http(gaian, "GET", "/api/v1/rules", "").unwrap_or_default();
        if served.contains("/etc/gaian/rules.yaml") && served.contains("\"base_reward_sila\":\"7") {
            break served;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the container serves the edited rules: {served}\n{}",
            term.screen()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(served.contains("/etc/gaian/rules.yaml"), "{served}");
    let second = act(gaian, player);
    assert_ne!(second, first, "a second reward");

    // `devtui mode` from another terminal: the devtui running the stack moves it back.
    let out = run(devtui(cwd.path(), data.path())
        .args(["-p", &project, "mode", "gaian", "native"])
        .envs(ports.iter().cloned())
        .env("XDG_STATE_HOME", &state)
        .stdin(Stdio::null()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("gaian runs natively now"),
        "{}",
        stdout(&out)
    );
    term.wait_for("gaian's native row again, healthy", |s| {
        row(s, "gaian (native)").is_some_and(|r| r.contains("✔ healthy"))
    });
    watcher.wait_for("the other TUI: gaian native again", |s| {
        row(s, "gaian (native)").is_some_and(|r| r.contains("✔ healthy"))
    });
    watcher.keys(&["q"]);
    assert_eq!(
        balance(gaian, player),
        second,
        "the native process sees the container's data"
    );
    let modes = std::fs::read_to_string(state.join("devtui/modes").join(format!("{project}.json")))
        .expect("the mode is remembered");
    assert!(modes.contains(r#""gaian": "native""#), "{modes}");

    term.keys(&["q"]);
    let screen = term.wait_for("devtui to exit", |s| s.contains("DEVTUI-EXIT="));
    assert!(screen.contains("DEVTUI-EXIT=0"), "{screen}");

    // With no devtui running: `mode gaian container` starts the container here, and the
    // next `up -P native` keeps it there.
    let cli = |args: &[&str]| {
        run(devtui(cwd.path(), data.path())
            .args(["-p", &project])
            .args(args)
            .envs(ports.iter().cloned())
            .env("XDG_STATE_HOME", &state)
            .stdin(Stdio::null()))
    };
    let out = cli(&["mode", "gaian", "container"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(balance(gaian, player), second, "same data in the container");
    let out = cli(&["up", "-P", "native", "--no-tui"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("gaian runs in its container, as `devtui mode` set it"),
        "{}",
        stderr(&out)
    );
    let table = stdout(&out);
    let gaian_line = table
        .lines()
        .find(|l| l.starts_with("gaian "))
        .expect("gaian in the summary");
    assert!(!gaian_line.contains("native:"), "{table}");
    assert_eq!(balance(gaian, player), second);
}
