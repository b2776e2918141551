//! `devtui gaian image`: the container image built from the running executable.

use std::path::Path;

use crate::exit::{self, Failure};

/// assets/gaian/Dockerfile, embedded so any copy of devtui can build its own image.
pub const DOCKERFILE: &str = include_str!("../../assets/gaian/Dockerfile");
/// The base image when neither `--base-image` nor `DEVTUI_BASE_IMAGE` is given.
pub const DEFAULT_BASE_IMAGE: &str = "debian:bookworm-slim";

/// Writes a build context into `dir`: the Dockerfile and a copy of the running executable
/// named `devtui`. The bundled compose stack builds its `gaian` service from such a directory.
pub fn prepare_context(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let exe = std::env::current_exe()?;
    let target = dir.join("devtui");
    // Copy to a temp name and rename, so a concurrent build never sees half a binary.
    let partial = dir.join(".devtui.partial");
    std::fs::copy(&exe, &partial)?;
    std::fs::rename(&partial, &target)?;
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE)?;
    Ok(())
}

/// Builds the image `tag` with `docker build`, output shown as it comes.
pub async fn build(tag: &str, base_image: Option<&str>) -> anyhow::Result<i32> {
    let base = base_image.unwrap_or(DEFAULT_BASE_IMAGE);
    let context = tempfile::Builder::new()
        .prefix("devtui-gaian-image-")
        .tempdir()?;
    prepare_context(context.path()).map_err(|e| {
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
