//! `devtui run NAME` and `devtui profiles`: a profile's custom commands on the host and in a
//! service's container (real engine), their output and exit codes, confirmation, JSON.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{Cleanup, devtui, engine_ready, run, stderr, stdout, unique_name};

/// A one-service project whose `.devtui/profiles/` has `base` and `t` (extends base).
fn project(dir: &Path) {
    std::fs::write(
        dir.join("compose.yaml"),
        r#"
services:
  box:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm-slim}
    init: true
    command: ["sleep", "infinity"]
"#,
    )
    .expect("compose.yaml");
    let profiles = dir.join(".devtui/profiles");
    std::fs::create_dir_all(&profiles).expect("profiles dir");
    std::fs::write(
        profiles.join("base.yaml"),
        "description: the base\ncommands:\n  - {name: ok, run: [echo, fine], service: box}\n",
    )
    .expect("base.yaml");
    std::fs::write(
        profiles.join("t.yaml"),
        r#"description: for the test
extends: base
commands:
  - name: hello
    key: H
    run: [sh, -c, 'echo "host:$GREETING:$(pwd)"; echo oops >&2; exit 3']
    env: {GREETING: hi}
  - name: inside
    run: [sh, -c, 'echo "in:$WHO:$(hostname)"; echo warn >&2; exit 5']
    service: box
    env: {WHO: box}
  - name: careful
    run: [echo, done]
    confirm: true
"#,
    )
    .expect("t.yaml");
}

fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn host_commands_stream_output_and_exit_with_its_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("data");
    project(dir.path());
    let devtui = || {
        let mut c = devtui(dir.path(), data.path());
        c.stdin(Stdio::null()).env_remove("DEVTUI_PROFILE");
        c
    };

    let out = run(devtui().args(["run", "hello", "-P", "t"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let here = std::fs::canonicalize(dir.path()).expect("canonical");
    assert_eq!(stdout(&out).trim(), format!("host:hi:{}", here.display()));
    assert!(stderr(&out).contains("oops"), "{}", stderr(&out));

    let out = run(devtui()
        .args(["run", "hello", "--json"])
        .env("DEVTUI_PROFILE", "t"));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let lines = json_lines(&out);
    let streams: Vec<(&str, &str)> = lines[..2]
        .iter()
        .map(|o| (o["stream"].as_str().unwrap(), o["line"].as_str().unwrap()))
        .collect();
    assert!(streams.contains(&("stderr", "oops")), "{lines:?}");
    assert_eq!(
        lines[2],
        serde_json::json!({"command": "hello", "exit_code": 3})
    );

    // Without a terminal, a command that asks first needs --yes.
    let out = run(devtui().args(["run", "careful", "-P", "t"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let out = run(devtui().args(["run", "careful", "-P", "t", "--yes"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "done");

    let out = run(devtui().args(["run", "nosuch", "-P", "t"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("its commands: ok, hello, inside, careful"),
        "{}",
        stderr(&out)
    );

    let out = run(devtui().args(["profiles", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["base", "t"]);
    assert_eq!(listed[1]["description"], "for the test");
    assert_eq!(listed[1]["extends"], "base");
    assert_eq!(listed[1]["commands"][1]["key"], "H");
    assert_eq!(listed[1]["commands"][2]["service"], "box");

    // Bash completion of `devtui run -P t ` offers the profile's commands, parent's first.
    let script = stdout(&run(devtui().args(["completions", "bash"])));
    let bash = format!(
        "{script}\nCOMP_WORDS=(devtui run -P t ''); COMP_CWORD=4; COMP_TYPE=9; \
         _clap_complete_devtui devtui '' t; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let out = run(std::process::Command::new("bash")
        .args(["-c", &bash])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", data.path().join("config"))
        .env_remove("DEVTUI_PROFILE"));
    let offered: Vec<String> = stdout(&out).lines().map(|l| l.trim().to_string()).collect();
    // (The flags follow.)
    assert_eq!(
        offered[..4],
        ["ok", "hello", "inside", "careful"],
        "{}",
        stderr(&out)
    );

    // A broken profile is listed with its error, located; the others still are.
    std::fs::write(
        dir.path().join(".devtui/profiles/z.yaml"),
        "commands:\n  - {name: q, key: q, run: [x]}\n",
    )
    .expect("z.yaml");
    let out = run(devtui().arg("profiles"));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("t     for the test"), "{text}");
    assert!(
        text.contains("z.yaml:2:") && text.contains("built-in TUI key"),
        "{text}"
    );
}

#[test]
fn service_commands_exec_in_the_container_and_exit_with_its_code() {
    if !engine_ready() {
        return;
    }
    let name = unique_name("run");
    let _cleanup = Cleanup::new(&name);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("data");
    project(dir.path());
    let devtui = || {
        let mut c = devtui(dir.path(), data.path());
        c.stdin(Stdio::null())
            .env_remove("DEVTUI_PROFILE")
            .args(["-p", &name]);
        c
    };
    let out = run(devtui().args(["run", "inside", "-P", "t"]));
    assert_eq!(out.status.code(), Some(1), "not up yet: {}", stderr(&out));
    assert!(stderr(&out).contains("box"), "{}", stderr(&out));

    let out = run(devtui().args(["up", "--no-tui"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = run(devtui().args(["run", "inside", "-P", "t"]));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(line.starts_with("in:box:"), "{line}");
    assert!(stderr(&out).contains("warn"), "{}", stderr(&out));

    let out = run(devtui().args(["run", "inside", "-P", "t", "--json"]));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l["stream"] == "stderr" && l["line"] == "warn")
    );
    assert_eq!(
        lines[2],
        serde_json::json!({"command": "inside", "exit_code": 5})
    );

    // Inherited from base.yaml.
    let out = run(devtui().args(["run", "ok", "-P", "t"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "fine\n");
}

/// The bundled stack's `dev` profile: its commands work against the stack's real services
/// (user and database as the containers were created with).
#[test]
fn the_bundled_dev_profile_commands_reach_postgres_and_redis() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("run-dev");
    let _cleanup = Cleanup::new(&project);
    let cwd = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("data");
    let [pg, redis, gaian] = common::free_ports::<3>();
    let cmd = |args: &[&str]| {
        let mut c = devtui(cwd.path(), data.path());
        c.stdin(Stdio::null())
            .env_remove("DEVTUI_PROFILE")
            .args(["-p", &project])
            .args(args)
            .env("POSTGRES_PORT", pg.to_string())
            .env("REDIS_PORT", redis.to_string())
            .env("GAIAN_PORT", gaian.to_string());
        c
    };
    let out = run(&mut cmd(&["profiles", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["ci", "dev", "full", "minimal", "native"]);
    assert_eq!(listed[1]["extends"], "native");
    assert_eq!(listed[2]["extends"], "dev");
    assert_eq!(listed[2]["compose_profiles"][0], "vector");
    assert_eq!(listed[3]["without_engine"], true, "minimal needs no engine");
    assert_eq!(listed[4]["native"][0], "gaian");
    assert!(
        listed
            .as_array()
            .expect("array")
            .iter()
            .all(|p| p["description"].as_str().is_some_and(|d| !d.is_empty())),
        "every shipped profile says what it is for"
    );

    let out = run(&mut cmd(&["up", "--no-tui", "postgres", "redis"]));
    assert_eq!(out.status.code(), Some(0), "up: {}", stderr(&out));
    let out = run(&mut cmd(&["run", "tables", "-P", "dev"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(&mut cmd(&["run", "psql", "-P", "dev"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "psql without input: {}",
        stderr(&out)
    );
    let out = run(&mut cmd(&["run", "redis-cli", "-P", "dev"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("# Keyspace"), "{}", stdout(&out));
}
