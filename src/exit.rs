//! Process exit codes, one per kind of failure, so scripts can tell them apart.

/// Everything worked.
pub const OK: i32 = 0;
/// A command ran and failed (a service exited, turned unhealthy, timed out).
pub const FAILED: i32 = 1;
/// Bad input: malformed compose file, unknown service or profile, bad flag.
pub const USAGE: i32 = 2;
/// The Docker engine (or compose CLI) is not reachable.
pub const NO_ENGINE: i32 = 3;
/// Preflight found a problem on the machine (port held, disk full, compose too old).
pub const PREFLIGHT: i32 = 4;

/// A failure that carries its own exit code and a message meant for the user.
///
/// Commands return it (inside `anyhow::Error`) for every expected failure; `cli::run` prints
/// the message alone, with no backtrace, and exits with the code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(USAGE, message)
    }
}
