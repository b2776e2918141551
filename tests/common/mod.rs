//! Shared helpers for the end-to-end tests: the engine check (a failure, never a skip, when
//! CI=true), unique project names, free ports, the devtui binary, and a cleanup guard that
//! removes everything a test's compose project left behind, even when the test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

pub mod stack;
pub mod tmux;

pub const PROJECT_LABEL: &str = "com.docker.compose.project";

/// Whether the tests run under CI (`CI` set to anything but empty, `false` or `0`): there a
/// missing prerequisite is a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether a prerequisite (`what`) is there; with CI set its absence fails the test.
pub fn require(what: &str, ok: bool) -> bool {
    if !ok {
        assert!(
            !in_ci(),
            "CI=true but {what} is not available: this end-to-end test cannot run"
        );
        eprintln!("skipping: {what} is not available (set CI=true to make this a failure)");
    }
    ok
}

/// Whether tmux is installed (the TUI's end-to-end tests drive the real binary in it);
/// with CI set its absence fails the test.
pub fn tmux_ready() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    require("tmux", ok)
}

/// Whether end-to-end tests can run. Without an engine: with CI=true the test fails with a
/// clear message; otherwise it is skipped with a note.
pub fn engine_ready() -> bool {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let state = READY.get_or_init(|| match Command::new("docker").arg("info").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Err(format!("cannot run `docker info`: {e}")),
    });
    match state {
        Ok(()) => true,
        Err(e) if in_ci() => {
            panic!("CI=true but the Docker engine is unreachable: {e}")
        }
        Err(e) => {
            eprintln!("skipping: no Docker engine ({e})");
            false
        }
    }
}

/// A compose project name no other test or engineer uses.
pub fn unique_name(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let clean: String = test
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!(
        "dt-{clean}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A TCP port that was free a moment ago, on every address.
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct TCP ports that were free a moment ago, on every address.
///
/// Not `bind(0)`: a port the kernel hands out is released again before compose publishes
/// it, and the kernel may hand it to a test running alongside, whose stack then holds it
/// first. These come from below Linux's ephemeral range (32768-60999), which `bind(0)` and
/// outgoing connections never use, each handed out once per process, from a start that
/// differs between processes.
pub fn free_ports<const N: usize>() -> [u16; N] {
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(2_654_435_761) % SPAN;
    std::array::from_fn(|_| {
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            assert!(n < SPAN, "no free TCP port left in {LOW}..{}", LOW + SPAN);
            let port = (LOW + (start + n) % SPAN) as u16;
            // 0.0.0.0 conflicts with a listener on any address, 127.0.0.1 or a docker-proxy's.
            if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
                break port;
            }
        }
    })
}

/// A copy of `tests/fixtures/<name>` in a fresh temp dir (tests may write `.env` there).
pub fn fixture(name: &str) -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(&src).expect("fixture dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy fixture");
    }
    dir
}

/// The devtui binary, run in `cwd` with the stand-in images (unless the caller's env names
/// others) and its data dir under `data` so the bundled stack is materialised privately.
pub fn devtui(cwd: &Path, data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_devtui"));
    // The user's own config file (~/.config/devtui) must not change what a test sees.
    cmd.current_dir(cwd)
        .env("XDG_DATA_HOME", data)
        .env("XDG_CONFIG_HOME", data.join("config"));
    with_images(&mut cmd);
    cmd.env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME");
    cmd
}

/// The stand-in image for each image variable the tests read.
const STANDINS: [(&str, &str); 4] = [
    ("DEVTUI_POSTGRES_IMAGE", "devtui-standin/postgres:15"),
    ("DEVTUI_REDIS_IMAGE", "devtui-standin/redis:7"),
    ("DEVTUI_MARIADB_IMAGE", "devtui-standin/mariadb:10.11"),
    ("DEVTUI_BASE_IMAGE", "devtui-standin/debian:bookworm"),
];

/// Stand-in images unless the environment names others.
pub fn with_images(cmd: &mut Command) -> &mut Command {
    for (var, image) in STANDINS {
        if std::env::var_os(var).is_none() {
            cmd.env(var, image);
        }
    }
    cmd
}

/// The image `var` names, else its stand-in (as `with_images` gives devtui).
pub fn image(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        STANDINS
            .iter()
            .find(|(v, _)| *v == var)
            .map(|(_, image)| image.to_string())
            .unwrap_or_else(|| panic!("no stand-in for {var}"))
    })
}

/// Runs and returns the output, printing it so a failing test shows what devtui said.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run devtui");
    eprintln!(
        "--- {:?} exit {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
        cmd.get_args().collect::<Vec<_>>(),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn docker_lines(args: &[&str]) -> Vec<String> {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Containers, networks and volumes that carry the project's label.
pub fn leftovers(project: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let label = format!("label={PROJECT_LABEL}={project}");
    (
        docker_lines(&["ps", "-aq", "--filter", &label]),
        docker_lines(&["network", "ls", "-q", "--filter", &label]),
        docker_lines(&["volume", "ls", "-q", "--filter", &label]),
    )
}

/// Removes everything of a compose project when dropped (test passed or not).
pub struct Cleanup {
    pub project: String,
}

impl Cleanup {
    pub fn new(project: &str) -> Self {
        Self {
            project: project.to_string(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args([
                "compose",
                "-p",
                &self.project,
                "down",
                "-v",
                "--remove-orphans",
                // Images the project built (e.g. the bundled gaian image) go too.
                "--rmi",
                "local",
            ])
            .current_dir(std::env::temp_dir())
            .output();
        let (containers, networks, volumes) = leftovers(&self.project);
        if !containers.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v"])
                .args(&containers)
                .output();
        }
        if !networks.is_empty() {
            let _ = Command::new("docker")
                .args(["network", "rm"])
                .args(&networks)
                .output();
        }
        if !volumes.is_empty() {
            let _ = Command::new("docker")
                .args(["volume", "rm", "-f"])
                .args(&volumes)
                .output();
        }
    }
}

/// The repository root (where the bundled stack lives in place).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The body of GET /health on 127.0.0.1:`port`, or `None` when nothing answers.
pub fn health(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

/// The dashboard row (a line of the table) that shows `label` (`gaian (native)`, `gaian ⟳`).
pub fn row<'a>(screen: &'a str, label: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.starts_with('│') && l.contains(&format!(" {label} ")))
}
