//! The bundled "Analog Economy" stack, embedded in the binary.
//!
//! Inside the devtui checkout the files are used in place (`.env` is `compose/.env`,
//! git-ignored). Anywhere else they are written to `<data dir>/stack/` and rewritten when the
//! binary's copy differs (the devtui profiles with it, in `profiles/`); the `.env` there is
//! created once and never overwritten.

use std::fs;
use std::io::Write;
use std::path::Path;

use super::{Error, Location, Origin};

/// The bundled compose file, as built into this binary.
pub const COMPOSE_YAML: &str = include_str!("../../compose/compose.yaml");
/// The bundled `.env.example`, as built into this binary.
pub const ENV_EXAMPLE: &str = include_str!("../../assets/.env.example");

/// Gaian's rules file beside the bundled compose file (Gaian's `--config` natively, the
/// `develop.watch` sync source for its container): the developer's to edit, so written once
/// from the built-in rules and never overwritten.
pub const RULES_FILE: &str = "gaian-rules.yaml";

fn ensure_rules(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(RULES_FILE);
    if path.symlink_metadata().is_ok() {
        return Ok(());
    }
    crate::paths::write_atomic(&path, 0o644, |f| {
        f.write_all(crate::gaian::rules::EMBEDDED.as_bytes())
    })
    .map(drop)
}

/// Whether `dir` is a devtui checkout (its bundled stack is then used in place).
pub fn is_checkout(dir: &Path) -> bool {
    dir.join("compose/compose.yaml").is_file()
        && dir.join("assets/.env.example").is_file()
        && fs::read_to_string(dir.join("Cargo.toml"))
            .is_ok_and(|t| t.lines().any(|l| l.trim() == "name = \"devtui\""))
}

/// The bundled stack in place in the checkout at `root`.
pub fn in_place(root: &Path, project_name: Option<String>) -> Location {
    let compose_dir = root.join("compose");
    // Best effort: without it Gaian's native start names the missing file.
    let _ = ensure_rules(&compose_dir);
    Location {
        files: vec![compose_dir.join("compose.yaml")],
        env_path: compose_dir.join(".env"),
        env_example: Some(root.join("assets/.env.example")),
        working_dir: compose_dir,
        origin: Origin::BundledInPlace,
        project_name,
    }
}

/// Writes the embedded stack to `<data_dir>/stack/` (only files whose content changed).
pub fn materialise(data_dir: &Path, project_name: Option<String>) -> Result<Location, Error> {
    let dir = data_dir.join("stack");
    let err = |source| Error::Bundled {
        dir: dir.clone(),
        source,
    };
    fs::create_dir_all(&dir).map_err(err)?;
    let compose = dir.join("compose.yaml");
    let example = dir.join(".env.example");
    refresh(&compose, COMPOSE_YAML).map_err(err)?;
    refresh(&example, ENV_EXAMPLE).map_err(err)?;
    ensure_rules(&dir).map_err(err)?;
    let profiles = dir.join("profiles");
    fs::create_dir_all(&profiles).map_err(err)?;
    for (name, text) in super::profile::BUNDLED {
        refresh(&profiles.join(name), text).map_err(err)?;
    }
    Ok(Location {
        files: vec![compose],
        env_path: dir.join(".env"),
        env_example: Some(example),
        working_dir: dir.clone(),
        origin: Origin::BundledMaterialised,
        project_name,
    })
}

/// Replaces `path` with `contents` (temp file, fsync, rename) unless it already matches.
fn refresh(path: &Path, contents: &str) -> std::io::Result<()> {
    if fs::read_to_string(path).is_ok_and(|c| c == contents) {
        return Ok(());
    }
    crate::paths::write_atomic(path, 0o644, |f| f.write_all(contents.as_bytes()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn materialise_writes_and_refreshes() {
        let data = tempfile::tempdir().expect("tempdir");
        let loc = materialise(data.path(), None).expect("materialise");
        assert_eq!(loc.origin, Origin::BundledMaterialised);
        assert_eq!(
            fs::read_to_string(&loc.files[0]).expect("read"),
            COMPOSE_YAML
        );
        fs::write(&loc.files[0], "stale").expect("write");
        fs::write(&loc.env_path, "KEEP=1\n").expect("write env");
        let again = materialise(data.path(), None).expect("materialise");
        assert_eq!(
            fs::read_to_string(&again.files[0]).expect("read"),
            COMPOSE_YAML
        );
        assert_eq!(
            fs::read_to_string(&again.env_path).expect("read"),
            "KEEP=1\n"
        );
    }

    #[test]
    fn this_repo_is_a_checkout() {
        assert!(is_checkout(Path::new(env!("CARGO_MANIFEST_DIR"))));
    }
}
