//! `devtui scale`: replicas through compose, and a clear refusal where replicas would clash
//! on a fixed host port.

mod common;

use common::*;

const COMPOSE: &str = r#"
services:
  web:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm}
    init: true
    command: ["sleep", "infinity"]
  api:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm}
    init: true
    command: ["sleep", "infinity"]
    ports: ["127.0.0.1:${API_PORT}:80"]
"#;

#[test]
fn scale_runs_replicas_and_explains_a_fixed_host_port() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("scale");
    let _cleanup = Cleanup::new(&project);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE).expect("compose file");
    std::fs::write(
        dir.path().join(".env"),
        format!("API_PORT={}\n", free_port()),
    )
    .expect(".env");
    let devtui = |args: &[&str]| {
        let mut all = vec!["-p", project.as_str()];
        all.extend_from_slice(args);
        run(common::devtui(dir.path(), data.path()).args(&all))
    };

    let out = devtui(&["scale", "web", "3"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("web: 3 of 3 replicas running"));
    let out = devtui(&["scale", "web", "1"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("web: 1 of 1 replicas running"));

    let out = devtui(&["scale", "api", "2"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("api publishes fixed host port"), "{err}");
    assert!(err.contains("publish a range"), "{err}");
    assert!(
        !leftovers(&project).0.iter().any(|c| c.contains("api")),
        "nothing started for api"
    );

    let out = devtui(&["scale", "nope", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown service \"nope\""));
}
