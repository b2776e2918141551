//! `up` failing the way the user needs: fast and specific, with nothing started on bad input.

mod common;

use common::*;

fn nothing_started(project: &str) {
    let (containers, networks, volumes) = leftovers(project);
    assert!(
        containers.is_empty() && networks.is_empty() && volumes.is_empty(),
        "something was started: {containers:?} {networks:?} {volumes:?}"
    );
}

#[test]
fn unhealthy_service_fails_fast_with_probe_output_and_logs() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("unhealthy");
    let _cleanup = Cleanup::new(&project);
    let dir = fixture("unhealthy");
    let data = tempfile::tempdir().expect("tempdir");
    // A timeout far longer than the test could wait: failing at all proves it failed fast
    // on the event, not on the timeout.
    let out = run(devtui(dir.path(), data.path())
        .args(["-p", &project, "up", "--no-tui", "--timeout", "3600"])
        .env("APP_SECRET", "s3cr3t-value-xyz"));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("service sick turned unhealthy"), "{err}");
    assert!(!err.contains("s3cr3t-value-xyz"), "secret shown: {err}");
    assert!(err.contains("token=••••••"), "{err}");
    assert!(err.contains("probe-says-no"), "{err}");
    assert!(err.contains("last 20 log lines"), "{err}");
    assert!(err.contains("sick-log-line-30"), "{err}");
    assert!(
        !err.contains("sick-log-line-10\n"),
        "more than 20 lines: {err}"
    );
    assert!(!err.contains("timed out"), "{err}");
}

#[test]
fn exiting_service_fails_fast_with_exit_code_and_logs() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("exits");
    let _cleanup = Cleanup::new(&project);
    let dir = fixture("exits");
    let data = tempfile::tempdir().expect("tempdir");
    let out = run(devtui(dir.path(), data.path()).args([
        "-p",
        &project,
        "up",
        "--no-tui",
        "--timeout",
        "3600",
    ]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("service crasher exited with code 3"), "{err}");
    assert!(err.contains("crasher-says-bye"), "{err}");
}

#[test]
fn held_port_is_caught_in_preflight_with_its_owner() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("held");
    let _cleanup = Cleanup::new(&project);
    let dir = fixture("held");
    let data = tempfile::tempdir().expect("tempdir");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let out = run(devtui(dir.path(), data.path())
        .args(["-p", &project, "up", "--no-tui"])
        .env("HELD_PORT", port.to_string()));
    assert_eq!(out.status.code(), Some(4), "preflight exit code");
    let err = stderr(&out);
    assert!(err.contains(&format!("port {port}/tcp (web)")), "{err}");
    assert!(
        err.contains(&format!("held by process {} (", std::process::id())),
        "{err}"
    );
    nothing_started(&project);

    // doctor reports the same, as a failed check in JSON.
    let out = run(devtui(dir.path(), data.path())
        .args(["-p", &project, "doctor", "--json"])
        .env("HELD_PORT", port.to_string()));
    assert_eq!(out.status.code(), Some(4));
    let doctor: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    assert_eq!(doctor["ok"], false);
    let port_check = doctor["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "port")
        .expect("port check");
    assert_eq!(port_check["ok"], false);
    assert!(port_check["fix"].is_string());
    drop(listener);
}

#[test]
fn broken_compose_file_gives_file_line_col_and_starts_nothing() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("broken");
    let _cleanup = Cleanup::new(&project);
    let dir = fixture("broken");
    let data = tempfile::tempdir().expect("tempdir");
    let out = run(devtui(dir.path(), data.path()).args(["-p", &project, "up", "--no-tui"]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let file = dir.path().join("compose.yaml");
    assert!(err.contains(&format!("{}:4:", file.display())), "{err}");
    assert!(err.contains("did not find expected node content"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear message: {err}");
    nothing_started(&project);

    // A schema error (valid YAML, unknown key) is located at the key.
    let dir = fixture("invalid");
    let out = run(devtui(dir.path(), data.path()).args(["-p", &project, "up", "--no-tui"]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let file = dir.path().join("compose.yaml");
    assert!(err.contains(&format!("{}:4:5:", file.display())), "{err}");
    assert!(err.contains("'portz' not allowed"), "{err}");
    nothing_started(&project);
}

#[test]
fn unknown_service_profile_and_unreadable_env_are_named() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("unknown");
    let _cleanup = Cleanup::new(&project);
    let dir = fixture("exits");
    let data = tempfile::tempdir().expect("tempdir");
    let up = |extra: &[&str]| {
        let mut c = devtui(dir.path(), data.path());
        c.args(["-p", &project, "up", "--no-tui"]).args(extra);
        run(&mut c)
    };

    let out = up(&["nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown service \"nosuch\""),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("crasher"));

    let out = up(&["--profile", "nosuchprofile"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown profile \"nosuchprofile\""),
        "{}",
        stderr(&out)
    );

    // A .env that cannot be read (a directory here; the tests may run as root, where
    // permissions do not stop reads).
    std::fs::create_dir(dir.path().join(".env")).expect("mkdir .env");
    let out = up(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "cannot read {}",
            dir.path().join(".env").display()
        )),
        "{err}"
    );
    nothing_started(&project);
}
