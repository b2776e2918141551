//! The bundled stack's shipped profiles against its real compose file: `full` turns on the
//! `vector` compose profile and its model resolves with `docker compose config` (no engine
//! needed; Qdrant's image is not here, so nothing is started); `minimal` runs only native
//! services, its model read without compose.

use devtui::project::{self, Origin, bundled, profile};

/// The bundled stack written to a fresh data directory, with a `.env`.
fn stack() -> (tempfile::TempDir, project::Location) {
    let data = tempfile::tempdir().expect("tempdir");
    let loc = bundled::materialise(data.path(), Some("dt-profiles".into())).expect("materialise");
    assert_eq!(loc.origin, Origin::BundledMaterialised);
    std::fs::write(
        &loc.env_path,
        "POSTGRES_PASSWORD=secret-for-test\nGAIAN_PORT=18123\n",
    )
    .expect(".env");
    (data, loc)
}

#[tokio::test]
async fn full_enables_qdrant_and_resolves_with_compose() {
    let (_data, loc) = stack();
    for name in ["native", "dev", "full", "ci", "minimal"] {
        assert!(
            profile::dir(&loc).join(format!("{name}.yaml")).is_file(),
            "{name} is written beside the stack"
        );
    }
    let full = profile::load(&loc, "full", None).expect("full parses");
    let mut model = project::load_at(&loc, &[]).await.expect("compose config");
    assert!(model.service("qdrant").is_some());
    assert!(
        !model.services.iter().any(|s| s.name == "qdrant"),
        "behind its profile"
    );
    let extra = full
        .compose_profiles(&model)
        .expect("vector is the project's");
    assert_eq!(extra, ["vector"]);
    model.enable_profiles(&extra);
    let names: Vec<&str> = model.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        names.contains(&"qdrant") && names.contains(&"gaian"),
        "{names:?}"
    );
    assert!(
        full.natives(&model).expect("natives").is_empty(),
        "everything in containers"
    );
    // Compose itself resolves the same model with the profile on.
    let vector = project::load_at(&loc, &["vector".into()])
        .await
        .expect("compose config");
    assert!(vector.services.iter().any(|s| s.name == "qdrant"));

    let ci = profile::load(&loc, "ci", None).expect("ci parses");
    assert_eq!((ci.tui, ci.timeout), (Some(false), Some(60)));
    assert!(!profile::BackupSettings::backup_before_reset(
        ci.backups.as_ref()
    ));
}

#[test]
fn minimal_reads_the_native_block_without_compose() {
    let (_data, loc) = stack();
    let minimal = profile::load(&loc, "minimal", None).expect("minimal parses");
    assert!(minimal.native_only());
    let model = project::load_native(&loc).expect("x-devtui.native");
    assert!(model.services.is_empty(), "no compose services");
    let natives = minimal.natives(&model).expect("gaian is declared");
    assert_eq!(natives.len(), 1);
    let gaian = &natives[0];
    assert_eq!(
        gaian.command[1..],
        [
            "gaian",
            "serve",
            "--addr",
            "127.0.0.1:18123",
            "--config",
            "./gaian-rules.yaml"
        ],
        "GAIAN_PORT from .env"
    );
    assert_eq!(
        gaian.healthcheck.as_deref(),
        Some("http://127.0.0.1:18123/health")
    );
    let env = |key: &str| {
        gaian
            .environment
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(env("DATABASE_URL"), Some(""), "the embedded SQLite file");
    assert_eq!(env("REDIS_URL"), Some(""), "no cache");
    // Without the profile's native_env it is the compose file's block, interpolated.
    let declared = &model.natives[0];
    let url = declared
        .environment
        .iter()
        .find(|(k, _)| k == "DATABASE_URL")
        .map(|(_, v)| v.as_str());
    assert_eq!(url, Some("postgres://gaian@127.0.0.1:5432/gaian"));
}
