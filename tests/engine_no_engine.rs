//! Without an engine every command says so in one sentence and exits with NO_ENGINE (3).
//! Needs no engine itself: it points DOCKER_HOST at a socket that does not exist.

mod common;

use common::*;

#[test]
fn every_command_names_the_missing_engine_in_one_sentence() {
    let data = tempfile::tempdir().expect("tempdir");
    let dir = fixture("exits");
    for args in [
        &["up", "--no-tui"][..],
        &["status"],
        &["status", "--json"],
        &["down"],
        &["doctor"],
    ] {
        let out = run(devtui(dir.path(), data.path())
            .args(args)
            .env("DOCKER_HOST", "unix:///nonexistent/devtui-test.sock"));
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = stderr(&out);
        let text = if args[0] == "doctor" {
            stdout(&out)
        } else {
            err.clone()
        };
        assert!(
            text.contains("cannot reach the Docker engine at unix:///nonexistent/devtui-test.sock"),
            "{args:?}: {text}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err}"
        );
        if args[0] != "doctor" {
            assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
        }
    }
    assert!(!dir.path().join(".env").exists(), "nothing written");
}

#[test]
fn the_current_docker_context_is_honoured() {
    // A real context made by the docker CLI (its on-disk format), made current, pointing at
    // a socket that does not exist: devtui must try exactly that endpoint.
    let config = tempfile::tempdir().expect("tempdir");
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .args(args)
            .env("DOCKER_CONFIG", config.path())
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .output()
            .expect("docker CLI");
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    docker(&[
        "context",
        "create",
        "devtui-dead",
        "--docker",
        "host=unix:///nonexistent/devtui-context.sock",
    ]);
    docker(&["context", "use", "devtui-dead"]);
    let data = tempfile::tempdir().expect("tempdir");
    let dir = fixture("exits");
    let out = run(devtui(dir.path(), data.path())
        .args(["status"])
        .env("DOCKER_CONFIG", config.path())
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT"));
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("unix:///nonexistent/devtui-context.sock"),
        "{}",
        stderr(&out)
    );
}
