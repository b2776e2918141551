//! Operations shared by the CLI and the TUI.

pub mod actions;
pub mod backend;
pub mod backup;
pub mod doctor;
pub mod down;
pub mod exec;
pub mod logs;
pub mod mode;
pub mod preflight;
pub mod profiles;
pub mod reload;
pub mod run;
pub mod scale;
pub mod status;
pub mod up;

use crate::engine::compose::{Compose, ContextStep};
use crate::project::Project;

/// A service label saying devtui writes the service's build context itself (its own
/// executable plus the Gaian Dockerfile) before every build, so the image runs exactly the
/// code the developer has. Value: `devtui-executable`.
pub const BUILD_CONTEXT_LABEL: &str = "dev.devtui.build-context";

/// Compose for a loaded project (its name, files, env file and active profiles), with the
/// build contexts devtui writes (`BUILD_CONTEXT_LABEL`).
pub fn compose_for(project: &Project) -> Compose {
    let contexts = project
        .services
        .iter()
        .filter(|s| {
            s.labels.get(BUILD_CONTEXT_LABEL).map(String::as_str) == Some("devtui-executable")
        })
        .filter_map(|s| {
            Some(ContextStep {
                service: s.name.clone(),
                dir: s.build.as_ref()?.context.clone(),
                write: |dir| Box::pin(crate::gaian::image::prepare_context_async(dir)),
            })
        })
        .collect();
    Compose {
        project_name: Some(project.name.clone()),
        files: project.files.clone(),
        env_file: project.env_file.clone(),
        profiles: project.profiles.clone(),
        working_dir: Some(project.working_dir.clone()),
        contexts,
    }
}
