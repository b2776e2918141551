//! Remote engines: `DOCKER_HOST=ssh://root@127.0.0.1:PORT` and a docker context, through a
//! real sshd started by the test (its own config, host key and client key in a temp dir;
//! nothing of the machine's ssh set-up is used or changed). `up`, `status`, `logs`, `exec`
//! and the TUI work over both; a lost connection shows the TUI's "engine unreachable"
//! banner and the TUI recovers when the connection comes back.
//!
//! The ssh client is found through PATH (bollard's ssh transport and the docker CLI both
//! run `ssh`): a wrapper first on PATH adds `-F` with the test's client config.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{
    Cleanup, devtui, engine_ready, free_port, require, run, stderr, stdout, tmux_ready, unique_name,
};

const SSHD: &str = "/usr/sbin/sshd";
/// The ssh config's name for the engine's host (for the docker context): URLs must name it.
const ALIAS: &str = "devtui-remote";

/// An sshd on 127.0.0.1:port that lets root in with the test's key only, stopped on drop.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Sshd {
    fn start() -> Option<Sshd> {
        let ok = Path::new(SSHD).exists() && Command::new("ssh-keygen").arg("-?").output().is_ok();
        if !require("openssh-server (sshd) and ssh-keygen", ok) {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        for key in ["client_key", "host_key"] {
            let out = run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "devtui-test", "-f"])
                .arg(d.join(key)));
            assert!(out.status.success(), "ssh-keygen failed");
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).expect("keys");
        let port = free_port();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n",
                d = d.display()
            ),
        )
        .expect("sshd_config");
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host {ALIAS} 127.0.0.1\n  HostName 127.0.0.1\n  Port {port}\n\
                 Host *\n  IdentityFile {d}/client_key\n  IdentitiesOnly yes\n\
                 StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n\
                 LogLevel ERROR\n  BatchMode yes\n",
                d = d.display()
            ),
        )
        .expect("ssh_config");
        let bin = d.join("bin");
        std::fs::create_dir(&bin).expect("bin");
        let wrapper = bin.join("ssh");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec /usr/bin/ssh -F {}/ssh_config \"$@\"\n",
                d.display()
            ),
        )
        .expect("wrapper");
        run(Command::new("chmod").arg("755").arg(&wrapper));
        // Debian's sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let mut sshd = Sshd {
            dir,
            port,
            child: None,
        };
        sshd.resume();
        Some(sshd)
    }

    /// Starts sshd (again, on the same port) and waits until a login works.
    fn resume(&mut self) {
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        self.child = Some(child);
        let start = Instant::now();
        loop {
            let out = self
                .env(&mut Command::new("ssh"))
                .args([&format!("root@{ALIAS}"), "true"])
                .output()
                .expect("ssh");
            if out.status.success() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "cannot log in through the test's sshd: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops sshd and every connection it serves (the engine becomes unreachable): the
    /// listener and the processes it forked, found by their parent ids.
    fn pause(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let mut pids = vec![child.id()];
        let mut i = 0;
        while i < pids.len() {
            pids.extend(children_of(pids[i]));
            i += 1;
        }
        for pid in pids.iter().rev() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .output();
        }
        let _ = child.wait();
    }

    fn path_var(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// `cmd` with the wrapper first on PATH.
    fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("PATH", self.path_var())
    }
}

/// The processes whose parent is `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let child: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`: comm may hold spaces, so read after the last ')'.
            let ppid: u32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.pause();
    }
}

/// A one-service project: a web server stand-in that logs, publishes a port, has a health
/// check.
fn project(dir: &Path, port: u16) {
    std::fs::write(
        dir.join("compose.yaml"),
        format!(
            r#"
services:
  web:
    image: ${{DEVTUI_BASE_IMAGE:-debian:bookworm-slim}}
    init: true
    command: ["sh", "-c", "echo hello-from-web; exec sleep infinity"]
    ports: ["127.0.0.1:{port}:8080"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
"#
        ),
    )
    .expect("compose.yaml");
}

/// Runs devtui with `env` against the project in `dir`.
fn remote(
    sshd: &Sshd,
    dir: &Path,
    data: &Path,
    env: &[(&str, String)],
    args: &[&str],
) -> std::process::Output {
    let mut cmd = devtui(dir, data);
    sshd.env(&mut cmd).env("XDG_CONFIG_HOME", data);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd.args(args).stdin(Stdio::null()))
}

/// up, doctor, status, logs and exec over the engine `env` points at; returns status --json.
fn up_status_logs_exec(
    sshd: &Sshd,
    dir: &Path,
    data: &Path,
    env: &[(&str, String)],
    name: &str,
    host: &str,
) -> serde_json::Value {
    let out = remote(sshd, dir, data, env, &["-p", name, "up", "--no-tui"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = remote(sshd, dir, data, env, &["-p", name, "doctor", "--json"]);
    let doctor: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("doctor --json");
    let checks = doctor["checks"].as_array().expect("checks");
    let detail = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["detail"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(detail("engine").starts_with("Docker engine "), "{doctor}");
    // The host-port check is skipped: those ports are not on this machine.
    assert!(
        detail("port").starts_with("skipped: the engine at ssh://"),
        "{doctor}"
    );
    let out = remote(sshd, dir, data, env, &["-p", name, "status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("status --json");
    let web = &status["services"][0];
    assert_eq!(web["state"], "running", "{status}");
    assert_eq!(web["health"], "healthy", "{status}");
    let url = web["urls"][0].as_str().expect("url");
    assert!(url.starts_with(&format!("http://{host}:")), "{status}");
    let out = remote(sshd, dir, data, env, &["-p", name, "logs", "web"]);
    assert_eq!(
        stdout(&out).trim(),
        "web | hello-from-web",
        "{}",
        stderr(&out)
    );
    let out = remote(
        sshd,
        dir,
        data,
        env,
        &[
            "-p",
            name,
            "exec",
            "web",
            "sh",
            "-c",
            "echo exec-ok; exit 7",
        ],
    );
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "exec-ok");
    status
}

#[test]
fn ssh_docker_host_runs_up_status_logs_and_exec() {
    if !engine_ready() {
        return;
    }
    let Some(sshd) = Sshd::start() else { return };
    let name = unique_name("sshhost");
    let _cleanup = Cleanup::new(&name);
    let dir = tempfile::tempdir().expect("dir");
    let data = tempfile::tempdir().expect("data");
    project(dir.path(), free_port());
    // bollard cannot take a port in an ssh:// address (devtui says so and how to name it in
    // the ssh config); the test's ssh config gives 127.0.0.1 the sshd's port.
    let with_port = [("DOCKER_HOST", format!("ssh://root@127.0.0.1:{}", sshd.port))];
    let out = remote(&sshd, dir.path(), data.path(), &with_port, &["status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("a port in an ssh:// address is not supported"));
    let env = [("DOCKER_HOST", "ssh://root@127.0.0.1".to_string())];
    up_status_logs_exec(&sshd, dir.path(), data.path(), &env, &name, "127.0.0.1");
    let out = remote(&sshd, dir.path(), data.path(), &env, &["-p", &name, "down"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A docker config of its own with a context for the test's engine, and the compose plugin
/// of the real one linked in.
fn docker_config(sshd: &Sshd, root: &Path) -> PathBuf {
    let config = root.join("docker-config");
    std::fs::create_dir_all(&config).expect("docker config");
    let home = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
    if let Some(plugins) = home.map(|h| h.join("cli-plugins")).filter(|p| p.is_dir()) {
        std::os::unix::fs::symlink(plugins, config.join("cli-plugins")).expect("link plugins");
    }
    for args in [
        vec![
            "context".to_string(),
            "create".into(),
            ALIAS.into(),
            "--docker".into(),
            format!("host=ssh://root@{ALIAS}"),
        ],
        vec!["context".into(), "use".into(), ALIAS.into()],
    ] {
        let out = run(sshd
            .env(&mut Command::new("docker"))
            .env("DOCKER_CONFIG", &config)
            .env_remove("DOCKER_HOST")
            .args(&args));
        assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
    }
    config
}

#[test]
fn docker_context_runs_the_cli_and_the_tui_which_survives_a_lost_connection() {
    if !engine_ready() || !tmux_ready() {
        return;
    }
    let Some(mut sshd) = Sshd::start() else {
        return;
    };
    let name = unique_name("sshctx");
    let _cleanup = Cleanup::new(&name);
    let dir = tempfile::tempdir().expect("dir");
    let data = tempfile::tempdir().expect("data");
    project(dir.path(), free_port());
    let config = docker_config(&sshd, dir.path());
    let env = [("DOCKER_CONFIG", config.display().to_string())];
    // URLs name the engine's host as the context names it, not 127.0.0.1.
    up_status_logs_exec(&sshd, dir.path(), data.path(), &env, &name, ALIAS);

    let command = format!(
        "env -u DOCKER_HOST DOCKER_CONFIG={} PATH={} XDG_STATE_HOME=$PWD/state XDG_CONFIG_HOME=$PWD/config DEVTUI_LOG=devtui=debug {} -p {name}; echo DEVTUI-EXIT=$?; sleep 600",
        config.display(),
        sshd.path_var(),
        env!("CARGO_BIN_EXE_devtui"),
    );
    let term = Tmux::start(format!("{name}-sock"), 120, 30, dir.path(), &command);
    let web_row = |s: &str| {
        s.lines()
            .find(|l| l.starts_with('│') && l.contains(" web "))
            .map(str::to_string)
    };
    term.wait_for("web healthy over ssh", |s| {
        web_row(s).is_some_and(|r| r.contains("healthy") && r.contains(ALIAS))
    });
    // The connection goes: the same banner as a local outage...
    sshd.pause();
    term.wait_for("the engine-unreachable banner", |s| {
        s.contains("engine unreachable, retrying")
    });
    // ...and the TUI recovers by itself when it comes back.
    sshd.resume();
    let screen = term.wait_for("the banner gone and web healthy again", |s| {
        !s.contains("engine unreachable") && web_row(s).is_some_and(|r| r.contains("healthy"))
    });
    assert!(!screen.contains("DEVTUI-EXIT"), "{screen}");
    term.keys(&["q"]);
    term.wait_for("devtui to quit", |s| s.contains("DEVTUI-EXIT=0"));
}
