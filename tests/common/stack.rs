//! A started compose project of a test's own (the backup and restore tests), removed on drop,
//! and what those tests ask of its databases: SQL through `psql`/`mariadb` in the service,
//! and a fingerprint (rows and a checksum per table) to compare data before and after.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use super::{Cleanup, run, stderr, stdout, unique_name, with_images};

/// The database password the test stacks use; no devtui output may show it.
pub const PASSWORD: &str = "s3cret-Pw-7f1";

/// A compose project in a temp dir, started, removed on drop.
pub struct Stack {
    pub project: String,
    /// The compose file's name in `dir`.
    file: String,
    dir: Arc<tempfile::TempDir>,
    _cleanup: Cleanup,
}

impl Stack {
    /// `compose` as `compose.yaml` in a fresh temp dir, started (`up -d --wait`).
    pub fn up(test: &str, compose: &str) -> Stack {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        Stack::start(test, dir, "compose.yaml", compose)
    }

    /// Another project, `compose` as `file` in this one's directory: both see the same
    /// `backups/`, so a backup of one is restored into the other by its id.
    pub fn beside(&self, test: &str, file: &str, compose: &str) -> Stack {
        Stack::start(test, self.dir.clone(), file, compose)
    }

    fn start(test: &str, dir: Arc<tempfile::TempDir>, file: &str, compose: &str) -> Stack {
        let project = unique_name(test);
        std::fs::write(dir.path().join(file), compose).expect("compose file");
        let stack = Stack {
            _cleanup: Cleanup::new(&project),
            project,
            file: file.to_string(),
            dir,
        };
        let out = stack.compose(&["up", "-d", "--wait"]);
        assert!(out.status.success(), "compose up: {}", stderr(&out));
        stack
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.path().join("backups")
    }

    pub fn compose(&self, args: &[&str]) -> Output {
        run(with_images(
            Command::new("docker")
                .args(["compose", "-p", &self.project, "-f", &self.file])
                .args(args)
                .current_dir(self.path()),
        ))
    }

    pub fn devtui(&self, args: &[&str]) -> Command {
        let mut cmd = super::devtui(self.path(), &self.path().join("data"));
        cmd.args(["-p", &self.project, "-f", &self.file])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs devtui and checks that no output shows the password.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = run(&mut self.devtui(args));
        assert!(
            !stdout(&out).contains(PASSWORD) && !stderr(&out).contains(PASSWORD),
            "devtui printed a password"
        );
        out
    }

    pub fn ok_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        if !out.status.success() {
            // The services' own logs explain a failure the tool only saw from outside.
            let logs = self.compose(&["logs", "--no-color", "--tail", "40"]);
            panic!(
                "devtui {args:?}: {}\n--- the services' last log lines:\n{}",
                stderr(&out),
                stdout(&logs)
            );
        }
        serde_json::from_slice(&out.stdout).expect("JSON on stdout")
    }

    pub fn exec(&self, service: &str, cmd: &[&str]) -> String {
        let out = self.compose(&[&["exec", "-T", service], cmd].concat());
        assert!(out.status.success(), "exec {cmd:?}: {}", stderr(&out));
        stdout(&out)
    }

    pub fn container(&self, service: &str) -> String {
        stdout(&self.compose(&["ps", "-q", service]))
            .trim()
            .to_string()
    }

    pub fn started_at(&self, service: &str) -> String {
        let id = self.container(service);
        let out = run(Command::new("docker").args([
            "inspect",
            "-f",
            "{{.State.StartedAt}} {{.State.Running}}",
            &id,
        ]));
        stdout(&out).trim().to_string()
    }
}

/// `sql` through psql in the stack's `db` service, unaligned tuples only.
pub fn psql(stack: &Stack, user: &str, db: &str, sql: &str) -> String {
    stack.exec(
        "db",
        &[
            "psql",
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-tA",
            "-U",
            user,
            "-d",
            db,
            "-c",
            sql,
        ],
    )
}

/// Rows and an order-free checksum of every table outside the system schemas, as
/// `schema.table=rows|sum` in name order.
pub fn pg_fingerprint(stack: &Stack, user: &str, db: &str) -> String {
    let tables = psql(
        stack,
        user,
        db,
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    );
    tables
        .lines()
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let sums = psql(
                stack,
                user,
                db,
                &format!("SELECT count(*), coalesce(sum(hashtext(t::text)::bigint), 0) FROM {t} t"),
            );
            format!("{t}={}", sums.trim())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `sql` as root through mariadb in the stack's `maria` service, database `shop`, tab-separated
/// rows without column names.
pub fn maria(stack: &Stack, sql: &str) -> String {
    stack.exec(
        "maria",
        &[
            "mariadb",
            "-uroot",
            &format!("-p{PASSWORD}"),
            "-N",
            "-B",
            "shop",
            "-e",
            sql,
        ],
    )
}
