//! `down` still cleans up when the project's files no longer read (here: `.env` removed, so
//! compose cannot interpolate a required variable): compose finds the resources by label.

mod common;

use common::*;

#[test]
fn down_works_by_label_when_the_files_no_longer_parse() {
    if !engine_ready() {
        return;
    }
    let project = unique_name("downlabel");
    let _cleanup = Cleanup::new(&project);
    let dir = fixture("envgen");
    let data = tempfile::tempdir().expect("tempdir");
    let out = run(devtui(dir.path(), data.path()).args(["-p", &project, "up", "--no-tui"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(!leftovers(&project).0.is_empty(), "a container is up");

    std::fs::remove_file(dir.path().join(".env")).expect("remove .env");
    std::fs::remove_file(dir.path().join(".env.example")).expect("remove .env.example");
    let out = run(devtui(dir.path(), data.path()).args(["-p", &project, "down", "--volumes"]));
    assert_eq!(out.status.code(), Some(0));
    let (containers, networks, volumes) = leftovers(&project);
    assert!(
        containers.is_empty() && networks.is_empty() && volumes.is_empty(),
        "left: {containers:?} {networks:?} {volumes:?}"
    );
}
