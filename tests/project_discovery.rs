//! Project discovery as docker compose does it: a parent directory's compose.yaml plus its
//! override file, explicit `-f`, and the bundled stack in place inside the checkout. Read
//! through `doctor --json`, which changes nothing.

mod common;

use common::*;

fn config_check(out: &std::process::Output) -> serde_json::Value {
    let doctor: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    doctor["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "config")
        .cloned()
        .expect("config check")
}

#[test]
fn parent_compose_file_and_its_override_are_found() {
    if !engine_ready() {
        return;
    }
    let dir = fixture("discover");
    let data = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("a/b");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let out = run(devtui(&sub, data.path()).args(["doctor", "--json"]));
    let check = config_check(&out);
    assert_eq!(check["ok"], true, "{check}");
    let detail = check["detail"].as_str().expect("detail");
    assert!(detail.contains("project discover-fixture"), "{detail}");
    assert!(
        detail.contains(&dir.path().join("compose.yaml").display().to_string()),
        "{detail}"
    );
    assert!(detail.contains("compose.override.yaml"), "{detail}");
    // `extra` sits behind a profile: known, but not enabled by default.
    assert!(detail.contains("(1 services)"), "{detail}");
    let out = run(devtui(&sub, data.path()).args(["up", "--no-tui", "--profile", "nope"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("profiles in this project: more"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explicit_missing_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let out = run(devtui(dir.path(), data.path()).args(["-f", "nope.yaml", "up", "--no-tui"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!(
            "compose file {} does not exist",
            dir.path().join("nope.yaml").display()
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bundled_stack_is_used_in_place_inside_the_checkout() {
    if !engine_ready() {
        return;
    }
    let root = repo_root();
    let data = tempfile::tempdir().expect("tempdir");
    let env_before = root.join("compose/.env").exists();
    let out = run(devtui(&root.join("src/engine"), data.path()).args(["doctor", "--json"]));
    let check = config_check(&out);
    assert_eq!(check["ok"], true, "{check}");
    let detail = check["detail"].as_str().expect("detail");
    assert!(
        detail.contains(&root.join("compose/compose.yaml").display().to_string()),
        "{detail}"
    );
    // doctor writes nothing: no .env in the checkout, no materialised copy.
    assert_eq!(root.join("compose/.env").exists(), env_before);
    assert!(!data.path().join("devtui/stack").exists());
}
