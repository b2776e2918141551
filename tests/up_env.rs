//! `.env` generation through `up`: created from `.env.example` with mode 0600 and generated
//! secrets, the values reach the containers, and an existing `.env` is never touched.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

fn container_env(project: &str, var: &str) -> Option<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-q",
            "--filter",
            &format!("label={PROJECT_LABEL}={project}"),
        ])
        .output()
        .ok()?;
    let id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .to_string();
    let out = Command::new("docker")
        .args(["inspect", "--format", "{{json .Config.Env}}", &id])
        .output()
        .ok()?;
    let env: Vec<String> = serde_json::from_slice(&out.stdout).ok()?;
    env.iter()
        .find_map(|e| e.strip_prefix(&format!("{var}=")).map(str::to_string))
}

#[test]
fn env_is_generated_0600_with_secrets_and_never_overwritten() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("envgen");
    let _cleanup = Cleanup::new(&project);
    let dir = fixture("envgen");
    let data = tempfile::tempdir().expect("tempdir");
    let env_path = dir.path().join(".env");
    assert!(!env_path.exists());

    let out = run(devtui(dir.path(), data.path()).args(["-p", &project, "up", "--no-tui"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("created"), "{}", stderr(&out));
    let mode = std::fs::metadata(&env_path)
        .expect(".env")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let env = std::fs::read_to_string(&env_path).expect("read .env");
    let value = |key: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{key} in .env"))
    };
    let secret = value("APP_SECRET");
    assert_eq!(secret.len(), 32);
    assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(value("APP_TOKEN").len(), 32);
    assert_ne!(secret, value("APP_TOKEN"));
    assert_eq!(value("APP_NAME"), "envgen");
    assert!(
        env.contains("# Secret for the app (generated)."),
        "comments kept"
    );
    assert_eq!(
        container_env(&project, "APP_SECRET").as_deref(),
        Some(secret.as_str())
    );

    // An existing .env is left exactly as it is.
    let mine = "APP_SECRET=my-own-secret\n";
    std::fs::write(&env_path, mine).expect("write .env");
    std::fs::set_permissions(&env_path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let out = run(devtui(dir.path(), data.path()).args(["-p", &project, "up", "--no-tui"]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&env_path).expect("read"), mine);
    let mode = std::fs::metadata(&env_path)
        .expect(".env")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    assert_eq!(
        container_env(&project, "APP_SECRET").as_deref(),
        Some("my-own-secret")
    );
}
