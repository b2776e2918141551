//! A real terminal for end-to-end tests: a detached tmux session of fixed size on a server
//! of its own (its own socket), killed on drop, its socket file removed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::with_images;

/// How long a test waits for the screen to show what it expects.
pub const WAIT: Duration = Duration::from_secs(90);

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// A tmux server of our own (its own socket), killed on drop.
pub struct Tmux {
    socket: String,
    session: String,
    /// XDG_STATE_HOME of the devtui under test, where its log goes.
    state_home: PathBuf,
    /// The server's socket file, which `kill-server` leaves behind (tmux 3.3).
    socket_path: Option<PathBuf>,
}

impl Tmux {
    pub fn start(socket: String, width: u16, height: u16, dir: &Path, command: &str) -> Self {
        let mut tmux = Tmux {
            socket,
            session: "devtui".into(),
            state_home: dir.join("state"),
            socket_path: None,
        };
        let out = run(with_images(Command::new("tmux").args([
            "-L",
            &tmux.socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "-c",
            &dir.to_string_lossy(),
            command,
        ])));
        assert!(
            out.status.success(),
            "tmux failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = run(Command::new("tmux").args([
            "-L",
            &tmux.socket,
            "display-message",
            "-p",
            "#{socket_path}",
        ]));
        tmux.socket_path = Some(PathBuf::from(String::from_utf8_lossy(&path.stdout).trim()))
            .filter(|p| !p.as_os_str().is_empty());
        tmux
    }

    pub fn log_file(&self) -> PathBuf {
        self.state_home.join("devtui").join("tui.log")
    }

    pub fn tmux(&self, args: &[&str]) -> Output {
        let mut full = vec!["-L", self.socket.as_str()];
        full.extend_from_slice(args);
        run(Command::new("tmux").args(&full))
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.session.as_str()];
        args.extend_from_slice(keys);
        let out = self.tmux(&args);
        assert!(out.status.success(), "send-keys failed");
    }

    /// Types text literally (no key-name lookup).
    pub fn type_text(&self, text: &str) {
        let out = self.tmux(&["send-keys", "-t", &self.session, "-l", text]);
        assert!(out.status.success(), "send-keys -l failed");
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["capture-pane", "-p", "-t", &self.session])
                .stdout,
        )
        .into_owned()
    }

    pub fn alternate_screen_on(&self) -> bool {
        let out = self.tmux(&[
            "display-message",
            "-p",
            "-t",
            &self.session,
            "#{alternate_on}",
        ]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Waits until the screen satisfies `ok`, else fails showing the screen.
    pub fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            if start.elapsed() > WAIT {
                let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "timed out waiting for {what}; screen:\n{screen}\ndevtui log (tail):\n{}",
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}
