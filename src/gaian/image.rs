//! `devtui gaian image`: the container image built from the running executable.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::exit::{self, Failure};
use crate::paths;

/// assets/gaian/Dockerfile, embedded so any copy of devtui can build its own image.
pub const DOCKERFILE: &str = include_str!("../../assets/gaian/Dockerfile");
/// The base image when neither `--base-image` nor `DEVTUI_BASE_IMAGE` is given.
pub const DEFAULT_BASE_IMAGE: &str = "debian:bookworm-slim";
/// Records which executable the context's `devtui` was copied from, so an unchanged
/// executable is not copied again (it is hundreds of MB in a debug build).
const STAMP: &str = ".devtui.stamp";

/// Writes a build context into `dir`: the Dockerfile and a copy of the running executable
/// named `devtui`. The bundled compose stack builds its `gaian` service from such a directory.
///
/// Blocking (it may copy a large file): async callers use [`prepare_context_async`].
/// Each file is written whole or not at all (temp file in `dir`, fsync, rename), so
/// concurrent builds of the same context never see half a binary.
pub fn prepare_context(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let exe = std::env::current_exe()?;
    let target = dir.join("devtui");
    let stamp_path = dir.join(STAMP);
    let mut source = File::open(&exe)?;
    let source_id = FileId::of(&source.metadata()?);
    let current = fs::read_to_string(&stamp_path)
        .ok()
        .and_then(|s| Stamp::parse(&s));
    let target_id = fs::metadata(&target).ok().map(|m| FileId::of(&m));
    let up_to_date = current.is_some_and(|s| s.source == source_id && Some(s.target) == target_id);
    if !up_to_date {
        let copied =
            paths::write_atomic(&target, 0o755, |out| io::copy(&mut source, out).map(drop))?;
        let stamp = Stamp {
            source: source_id,
            target: FileId::of(&copied),
        };
        paths::write_atomic(&stamp_path, 0o644, |out| {
            out.write_all(stamp.render().as_bytes())
        })?;
    }
    let rules = super::rules::EMBEDDED.as_bytes();
    if !fs::read(dir.join("rules.yaml")).is_ok_and(|r| r == rules) {
        paths::write_atomic(&dir.join("rules.yaml"), 0o644, |out| out.write_all(rules))?;
    }
    if !fs::read(dir.join("Dockerfile")).is_ok_and(|d| d == DOCKERFILE.as_bytes()) {
        paths::write_atomic(&dir.join("Dockerfile"), 0o644, |out| {
            out.write_all(DOCKERFILE.as_bytes())
        })?;
    }
    Ok(())
}

/// [`prepare_context`] on the blocking pool, for async callers.
pub async fn prepare_context_async(dir: PathBuf) -> io::Result<()> {
    tokio::task::spawn_blocking(move || prepare_context(&dir))
        .await
        .map_err(io::Error::other)?
}

/// What identifies one version of a file cheaply: a rebuilt or replaced file gets a new
/// inode or a new mtime (nanoseconds), and usually a new size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl FileId {
    fn of(m: &fs::Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        }
    }

    fn render(&self) -> String {
        format!("{} {} {} {}", self.dev, self.ino, self.size, self.mtime_ns)
    }

    fn parse(s: &str) -> Option<FileId> {
        let mut parts = s.split_whitespace();
        let id = FileId {
            dev: parts.next()?.parse().ok()?,
            ino: parts.next()?.parse().ok()?,
            size: parts.next()?.parse().ok()?,
            mtime_ns: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(id)
    }
}

/// The executable the context's copy came from, and the copy as it was written: the copy is
/// current only while both are unchanged (a copy replaced by another devtui fails the
/// second check).
#[derive(Debug, PartialEq, Eq)]
struct Stamp {
    source: FileId,
    target: FileId,
}

impl Stamp {
    fn render(&self) -> String {
        format!(
            "source {}\ntarget {}\n",
            self.source.render(),
            self.target.render()
        )
    }

    fn parse(s: &str) -> Option<Stamp> {
        let mut source = None;
        let mut target = None;
        for line in s.lines() {
            match line.split_once(' ') {
                Some(("source", rest)) => source = FileId::parse(rest),
                Some(("target", rest)) => target = FileId::parse(rest),
                _ => return None,
            }
        }
        Some(Stamp {
            source: source?,
            target: target?,
        })
    }
}

/// Builds the image `tag` with `docker build`, output shown as it comes.
pub async fn build(tag: &str, base_image: Option<&str>) -> anyhow::Result<i32> {
    let base = base_image.unwrap_or(DEFAULT_BASE_IMAGE);
    let context = tempfile::Builder::new()
        .prefix("devtui-gaian-image-")
        .tempdir()?;
    prepare_context_async(context.path().to_path_buf())
        .await
        .map_err(|e| {
            Failure::new(
                exit::FAILED,
                format!("cannot prepare the build context: {e}"),
            )
        })?;
    eprintln!(
        "devtui: building {tag} from {} on {base}",
        std::env::current_exe()?.display()
    );
    let status = tokio::process::Command::new("docker")
        .arg("build")
        .arg("--build-arg")
        .arg(format!("BASE_IMAGE={base}"))
        .arg("--label")
        .arg(format!("dev.devtui.version={}", env!("CARGO_PKG_VERSION")))
        .arg("-t")
        .arg(tag)
        .arg(context.path())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| {
            Failure::new(
                exit::NO_ENGINE,
                format!("cannot run `docker build`: {e} (is the docker CLI installed?)"),
            )
        })?;
    if status.success() {
        eprintln!("devtui: built {tag}");
        Ok(exit::OK)
    } else {
        Err(Failure::new(
            exit::FAILED,
            format!("`docker build` failed for {tag} ({status})"),
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn context_is_written_then_reused_until_the_copy_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        prepare_context(dir.path()).expect("first write");
        let exe = fs::metadata(std::env::current_exe().expect("exe")).expect("exe metadata");
        let copy = fs::metadata(dir.path().join("devtui")).expect("copy");
        assert_eq!(copy.len(), exe.len());
        assert_eq!(copy.permissions().mode() & 0o777, 0o755);
        assert_eq!(
            fs::read_to_string(dir.path().join("Dockerfile")).expect("Dockerfile"),
            DOCKERFILE
        );

        // Unchanged executable: the copy is kept as it is (same inode, no new write).
        prepare_context(dir.path()).expect("second write");
        let again = fs::metadata(dir.path().join("devtui")).expect("copy");
        assert_eq!(again.ino(), copy.ino());

        // A copy changed behind our back is replaced.
        fs::write(dir.path().join("devtui"), b"not devtui").expect("clobber");
        prepare_context(dir.path()).expect("third write");
        let fixed = fs::metadata(dir.path().join("devtui")).expect("copy");
        assert_eq!(fixed.len(), exe.len());
        assert_ne!(fixed.ino(), copy.ino());
        assert_eq!(fixed.permissions().mode() & 0o777, 0o755);

        // No temp files are left behind.
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [STAMP, "Dockerfile", "devtui", "rules.yaml"]);
    }

    #[test]
    fn stamps_round_trip_and_reject_garbage() {
        let id = FileId {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 1_700_000_000_123_456_789,
        };
        let stamp = Stamp {
            source: id,
            target: FileId { ino: 9, ..id },
        };
        assert_eq!(Stamp::parse(&stamp.render()), Some(stamp));
        assert_eq!(Stamp::parse("source 1 2 3\ntarget 1 2 3 4\n"), None);
        assert_eq!(Stamp::parse("garbage"), None);
        assert_eq!(Stamp::parse(""), None);
    }
}
