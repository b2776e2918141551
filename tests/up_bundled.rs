//! The bundled stack end to end: `up --no-tui` from a directory outside any checkout
//! materialises the embedded stack, creates `.env`, reaches healthy; `status --json` and
//! `doctor --json` agree; `down --volumes` leaves nothing with the project label.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn bundled_stack_up_status_doctor_down() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("bundled");
    let _cleanup = Cleanup::new(&project);
    let cwd = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let [pg, redis, gaian] = free_ports::<3>();
    let cmd = |args: &[&str]| {
        let mut c = devtui(cwd.path(), data.path());
        c.args(["-p", &project])
            .args(args)
            .env("POSTGRES_PORT", pg.to_string())
            .env("REDIS_PORT", redis.to_string())
            .env("GAIAN_PORT", gaian.to_string());
        c
    };

    let out = run(&mut cmd(&["up", "--no-tui"]));
    assert_eq!(out.status.code(), Some(0), "up failed: {}", stderr(&out));
    let table = stdout(&out);
    assert!(
        table.contains("postgres") && table.contains("healthy"),
        "{table}"
    );
    assert!(table.contains(&format!("127.0.0.1:{pg}")), "{table}");

    // .env was created from the embedded .env.example: 0600, secret generated.
    let env_path = data.path().join("devtui/stack/.env");
    let meta = std::fs::metadata(&env_path).expect(".env created");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let env = std::fs::read_to_string(&env_path).expect("read .env");
    let password = env
        .lines()
        .find_map(|l| l.strip_prefix("POSTGRES_PASSWORD="))
        .expect("POSTGRES_PASSWORD line");
    assert_eq!(password.len(), 32);
    assert!(
        env.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .all(|l| !l.contains("CHANGE_ME")),
        "{env}"
    );

    let out = run(&mut cmd(&["status", "--json"]));
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(report["project"], project.as_str());
    let services = report["services"].as_array().expect("services array");
    for name in ["postgres", "redis", "gaian"] {
        let s = services
            .iter()
            .find(|s| s["service"] == name)
            .unwrap_or_else(|| panic!("{name} in status"));
        assert_eq!(s["state"], "running", "{s}");
        assert_eq!(s["health"], "healthy", "{s}");
        assert_eq!(s["restarts"], 0);
        assert!(s["uptime_seconds"].is_u64(), "{s}");
    }
    let pg_entry = services
        .iter()
        .find(|s| s["service"] == "postgres")
        .expect("pg");
    assert_eq!(pg_entry["ports"][0]["host_port"], pg);
    assert!(
        pg_entry["last_probe_output"]
            .as_str()
            .is_some_and(|o| o.contains("accepting connections")),
        "{pg_entry}"
    );

    // A second `up` is a no-op that succeeds and leaves .env untouched; doctor sees the
    // ports as served by this project.
    let out = run(&mut cmd(&["up", "--no-tui"]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&env_path).expect("read .env"), env);
    let out = run(&mut cmd(&["doctor", "--json"]));
    let doctor: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    assert_eq!(doctor["ok"], true, "{doctor}");
    assert_eq!(out.status.code(), Some(0));

    let out = run(&mut cmd(&["down", "--volumes"]));
    assert_eq!(out.status.code(), Some(0));
    let (containers, networks, volumes) = leftovers(&project);
    assert!(containers.is_empty(), "containers left: {containers:?}");
    assert!(networks.is_empty(), "networks left: {networks:?}");
    assert!(volumes.is_empty(), "volumes left: {volumes:?}");

    let out = run(&mut cmd(&["status", "--json"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    for s in report["services"].as_array().expect("services") {
        assert_eq!(s["state"], "missing", "{s}");
    }
}
