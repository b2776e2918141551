//! `up` builds services that have a `build:` section before starting them.

mod common;

use std::process::Command;

use common::*;

/// Removes the test's image when dropped.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

#[test]
fn services_with_build_are_built_then_started() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("build");
    let _cleanup = Cleanup::new(&project);
    let tag = project.clone();
    let _image = Image(format!("devtui-test/built:{tag}"));
    let dir = fixture("build");
    let data = tempfile::tempdir().expect("tempdir");
    let out = run(devtui(dir.path(), data.path())
        .args(["-p", &project, "up", "--no-tui"])
        .env("BUILD_TAG", &tag));
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("built: building"), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("devtui-test/built:{tag}")));
    // The container runs the image we just built.
    let out = Command::new("docker")
        .args(["exec", &format!("{project}-built-1"), "cat", "/built"])
        .output()
        .expect("docker exec");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "built-by-devtui"
    );
}
