//! `.env` creation from `.env.example`: secrets randomised, mode 0600, never overwritten.

use std::borrow::Cow;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rand::Rng;
use rand::distr::Alphanumeric;

/// The placeholder a `.env.example` uses for a secret devtui must generate.
pub const PLACEHOLDER: &str = "CHANGE_ME";
const SECRET_LEN: usize = 32;
/// Key fragments that mark a variable as a secret, so an empty value gets generated too.
const SECRET_MARKERS: [&str; 6] = [
    "PASSWORD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "PRIVATE_KEY",
    "SALT",
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Whether `ensure` created the file or found one already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Existing,
}

fn is_secret_key(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    SECRET_MARKERS.iter().any(|m| upper.contains(m))
}

/// What replaces a secret value wherever devtui shows text (TUI, error output).
pub const MASK: &str = "••••••";
/// Shorter values are not masked: they would blank out ordinary words and numbers.
const MIN_MASKED_LEN: usize = 4;

/// The values of a project's secret variables (from its `.env` and the environment, which
/// compose lets override `.env`), so they can be masked in anything devtui shows.
#[derive(Clone, Default, PartialEq)]
pub struct Secrets(Vec<String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.0.len())
    }
}

impl Secrets {
    /// The secret-looking variables of `env_file` (if any) and of the process environment.
    /// An unreadable file adds nothing: `check_readable` reports it where it matters.
    pub fn load(env_file: Option<&Path>) -> Self {
        Self::from_pairs(read_pairs(env_file).into_iter().chain(std::env::vars()))
    }

    /// The secrets among `pairs` (key, value), longest first so that a secret containing
    /// another is masked whole.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut values: Vec<String> = pairs
            .into_iter()
            .filter(|(key, value)| is_secret_key(key) && value.len() >= MIN_MASKED_LEN)
            .map(|(_, value)| value)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self(values)
    }

    /// `text` with every secret value replaced by `MASK`; borrowed when there is none.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.0 {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        out
    }
}

/// The `KEY=value` pairs of an env file (none when there is no file or it cannot be read).
pub fn read_pairs(env_file: Option<&Path>) -> Vec<(String, String)> {
    let text = env_file
        .and_then(|p| fs::read_to_string(p).ok())
        .unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            if line.starts_with('#') {
                return None;
            }
            let (key, value) = line.split_once('=')?;
            let key = key.trim().trim_start_matches("export ").trim();
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

/// A variable as compose interpolates it: the environment's value, else the env file's.
pub fn lookup(pairs: &[(String, String)], key: &str) -> Option<String> {
    std::env::var(key).ok().or_else(|| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    })
}

fn random_secret() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect()
}

/// Renders `.env` content from `.env.example`: every `CHANGE_ME` value and every empty value
/// of a secret-looking key becomes a random 32-character secret; all else is kept verbatim.
pub fn render(example: &str) -> String {
    let mut out = String::with_capacity(example.len() + 64);
    for line in example.lines() {
        let trimmed = line.trim_start();
        let rendered = if trimmed.starts_with('#') {
            None
        } else {
            trimmed.split_once('=').and_then(|(key, value)| {
                let key = key.trim().trim_start_matches("export ").trim();
                let bare = value.trim().trim_matches(|c| c == '"' || c == '\'');
                let generate = bare == PLACEHOLDER || (bare.is_empty() && is_secret_key(key));
                generate.then(|| format!("{key}={}", random_secret()))
            })
        };
        out.push_str(rendered.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Writes `contents` to `path` with mode 0600 through a temp file in the same directory,
/// fsync and an atomic no-clobber rename. Returns `Existing` if `path` already exists.
pub fn write_new_secret_file(path: &Path, contents: &str) -> Result<Outcome, Error> {
    if path.symlink_metadata().is_ok() {
        return Ok(Outcome::Existing);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let werr = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".env.devtui-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(werr)?;
    tmp.write_all(contents.as_bytes()).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    match tmp.persist_noclobber(path) {
        Ok(_) => {}
        // Someone created it between our check and the rename: theirs wins, never overwrite.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Ok(Outcome::Existing);
        }
        Err(e) => return Err(werr(e.error)),
    }
    if let Ok(d) = fs::File::open(dir) {
        // Make the rename itself durable.
        let _ = d.sync_all();
    }
    Ok(Outcome::Created)
}

/// Creates `env_path` from `example_path` if it does not exist yet; never overwrites.
pub fn ensure(env_path: &Path, example_path: &Path) -> Result<Outcome, Error> {
    if env_path.symlink_metadata().is_ok() {
        return Ok(Outcome::Existing);
    }
    let example = fs::read_to_string(example_path).map_err(|source| Error::Read {
        path: example_path.to_path_buf(),
        source,
    })?;
    write_new_secret_file(env_path, &render(&example))
}

/// Checks that an existing `.env` can be read, so a broken one is named before anything starts.
pub fn check_readable(env_path: &Path) -> Result<(), Error> {
    fs::read_to_string(env_path)
        .map(|_| ())
        .map_err(|source| Error::Read {
            path: env_path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_generated_and_the_rest_kept() {
        let out = render(
            "# comment\nUSER=gaian\nPASSWORD=CHANGE_ME\nAPI_TOKEN=\nPORT=5432\nEMPTY_NAME=\n",
        );
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines[0], "# comment");
        assert_eq!(lines[1], "USER=gaian");
        let pw = lines[2].strip_prefix("PASSWORD=").expect("password line");
        assert_eq!(pw.len(), SECRET_LEN);
        assert_ne!(pw, PLACEHOLDER);
        assert_eq!(lines[3].len(), "API_TOKEN=".len() + SECRET_LEN);
        assert_eq!(lines[4], "PORT=5432");
        assert_eq!(lines[5], "EMPTY_NAME=");
        // Two renders never share a secret.
        assert_ne!(render("P=CHANGE_ME"), render("P=CHANGE_ME"));
    }

    #[test]
    fn ensure_creates_0600_and_never_overwrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let example = dir.path().join(".env.example");
        let env = dir.path().join(".env");
        fs::write(&example, "SECRET=CHANGE_ME\n").expect("write example");
        assert_eq!(ensure(&env, &example).expect("ensure"), Outcome::Created);
        let mode = fs::metadata(&env).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let first = fs::read_to_string(&env).expect("read");
        assert!(!first.contains(PLACEHOLDER));
        assert_eq!(ensure(&env, &example).expect("ensure"), Outcome::Existing);
        assert_eq!(fs::read_to_string(&env).expect("read"), first);
    }

    #[test]
    fn secrets_are_masked_and_other_values_are_not() {
        let secrets = Secrets::from_pairs([
            ("POSTGRES_PASSWORD".to_string(), "s3cretValue".to_string()),
            ("API_TOKEN".to_string(), "tok".to_string()), // too short to mask
            ("POSTGRES_USER".to_string(), "gaian".to_string()),
        ]);
        assert_eq!(
            secrets.mask("postgres://gaian:s3cretValue@db/gaian"),
            format!("postgres://gaian:{MASK}@db/gaian")
        );
        assert!(matches!(secrets.mask("nothing here"), Cow::Borrowed(_)));
        assert_eq!(format!("{secrets:?}"), "Secrets(1 values)");
    }
}
