//! The Gaian container image (built from the devtui binary) and the bundled stack's `gaian`
//! service, on the real engine with the stand-in images.

mod gaian_support;

use std::path::Path;
use std::process::{Command, Stdio};

use gaian_support::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_devtui");

fn base_image() -> String {
    std::env::var("DEVTUI_BASE_IMAGE").unwrap_or_else(|_| "devtui-standin/debian:bookworm".into())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Removes an image on drop.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn gaian_image_builds_from_the_binary_and_runs_as_non_root() {
    if !engine_ready() {
        return;
    }
    let tag = format!("devtui-gaian-test:{}", std::process::id());
    let image = Image(tag.clone());
    run(Command::new(BIN).args([
        "gaian",
        "image",
        "--tag",
        &tag,
        "--base-image",
        &base_image(),
    ]));
    let uid = run(Command::new("docker").args(["run", "--rm", "--entrypoint", "id", &tag, "-u"]));
    assert_eq!(uid, "10001", "runs as a non-root user");
    let version = run(Command::new("docker").args([
        "run",
        "--rm",
        "--entrypoint",
        "devtui",
        &tag,
        "--version",
    ]));
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    let health = run(Command::new("docker").args([
        "inspect",
        "--format",
        "{{json .Config.Healthcheck.Test}}",
        &tag,
    ]));
    assert!(health.contains("healthcheck"), "{health}");
    drop(image);
}

/// `docker compose down -v` on drop, and by a watcher process if the test process dies.
struct Stack {
    project: String,
    dir: tempfile::TempDir,
}

impl Stack {
    fn compose(&self) -> Command {
        let mut c = Command::new("docker");
        c.current_dir(self.dir.path())
            .args(["compose", "-p", &self.project]);
        c
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self
            .compose()
            .args([
                "down",
                "-v",
                "--remove-orphans",
                "--rmi",
                "local",
                "-t",
                "5",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn watch_project(project: &str) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 2; done; \
         docker rm -f -v $(docker ps -aq --filter label=com.docker.compose.project={project}) >/dev/null 2>&1; \
         docker volume rm $(docker volume ls -q --filter label=com.docker.compose.project={project}) >/dev/null 2>&1; \
         docker network rm {project}_default >/dev/null 2>&1",
        pid = std::process::id()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

#[test]
fn bundled_stack_builds_gaian_and_it_turns_healthy() {
    if !engine_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("compose/compose.yaml"),
        dir.path().join("compose.yaml"),
    )
    .expect("copy compose");
    let gaian_port = free_port();
    let env = format!(
        "POSTGRES_USER=gaian\nPOSTGRES_PASSWORD=test-{pid}\nPOSTGRES_DB=gaian\nPOSTGRES_PORT={}\nREDIS_PORT={}\nQDRANT_PORT={}\nGAIAN_PORT={gaian_port}\n",
        free_port(),
        free_port(),
        free_port(),
        pid = std::process::id()
    );
    let images = [
        ("DEVTUI_POSTGRES_IMAGE", "devtui-standin/postgres:15"),
        ("DEVTUI_REDIS_IMAGE", "devtui-standin/redis:7"),
        ("DEVTUI_BASE_IMAGE", "devtui-standin/debian:bookworm"),
    ];
    let images: String = images
        .iter()
        .map(|(k, default)| {
            format!(
                "{k}={}\n",
                std::env::var(k).unwrap_or_else(|_| default.to_string())
            )
        })
        .collect();
    std::fs::write(dir.path().join(".env"), env + &images).expect("write .env");
    run(Command::new(BIN)
        .args(["gaian", "image", "--context"])
        .arg(dir.path().join("gaian-context")));
    let project = format!("gaian-stack-{}", std::process::id());
    watch_project(&project);
    let stack = Stack { project, dir };
    let up = stack
        .compose()
        .args([
            "up",
            "-d",
            "--build",
            "--wait",
            "--wait-timeout",
            "180",
            "gaian",
        ])
        .output()
        .expect("compose up");
    if !up.status.success() {
        let logs = stack
            .compose()
            .args(["logs", "--no-color", "--tail", "40"])
            .output()
            .expect("logs");
        panic!(
            "compose up failed: {}\n{}",
            String::from_utf8_lossy(&up.stderr),
            String::from_utf8_lossy(&logs.stdout)
        );
    }
    let health = run(stack.compose().args(["ps", "--format", "json", "gaian"]));
    assert!(health.contains("\"Health\":\"healthy\""), "{health}");
    let uid = run(stack.compose().args(["exec", "-T", "gaian", "id", "-u"]));
    assert_eq!(uid, "10001");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{gaian_port}");
        let v: Value = client
            .get(format!("{base}/health"))
            .send()
            .await
            .expect("health")
            .json()
            .await
            .expect("json");
        assert_eq!(v["status"], "healthy", "{v}");
        assert_eq!(v["services"], json!({"database": "up", "cache": "up"}));
        let r = client
            .post(format!("{base}/api/v1/action"))
            .json(&json!({"player_id": "stack", "action": "plant_tree"}))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["reward_sila"], "5.000000");
    });
    let rows = run(stack.compose().args([
        "exec",
        "-T",
        "postgres",
        "psql",
        "-U",
        "gaian",
        "-d",
        "gaian",
        "-tAc",
        "SELECT count(*) FROM ledger",
    ]));
    assert_eq!(rows, "1", "the action is in the stack's PostgreSQL");
    drop(stack);
}
