//! Gaian's API on the embedded SQLite database, in-process on a real socket.

mod gaian_support;

use std::time::Duration;

use gaian_support::*;
use serde_json::{Value, json};

#[tokio::test]
async fn sqlite_rewards_replays_and_ledger() {
    let g = TestGaian::sqlite().await;
    scenario_basic(&g).await;
}

#[tokio::test]
async fn sqlite_bad_input_gets_its_status_and_writes_nothing() {
    let g = TestGaian::sqlite().await;
    scenario_bad_input(&g).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fifty_concurrent_replays_reward_once() {
    let g = TestGaian::sqlite().await;
    scenario_concurrent_replays(&g).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_thousand_concurrent_actions_keep_balances_exact() {
    let g = TestGaian::sqlite().await;
    scenario_thousand_actions(&g).await;
}

#[tokio::test]
async fn health_and_openapi_describe_the_api() {
    let g = TestGaian::sqlite().await;
    let (s, health) = g.get("/health").await;
    assert_eq!(s, 200);
    assert_eq!(
        health,
        json!({"status": "healthy", "version": env!("CARGO_PKG_VERSION"),
               "services": {"database": "up", "cache": "disabled"}})
    );
    let (s, doc) = g.get("/openapi.json").await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/health",
        "/api/v1/action",
        "/api/v1/players/{player_id}",
        "/api/v1/players/{player_id}/ledger",
        "/api/v1/rules",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let post = &doc["paths"]["/api/v1/action"]["post"];
    for status in ["200", "400", "409", "413", "415", "422"] {
        assert!(
            post["responses"].get(status).is_some(),
            "POST {status} undocumented"
        );
    }
    assert!(doc["components"]["schemas"].get("ActionResponse").is_some());
    let (s, v) = g.get("/no/such/thing").await;
    assert_eq!((s, v["error"]["code"].clone()), (404, json!("not_found")));
}

#[tokio::test]
async fn training_data_gets_one_line_per_accepted_action() {
    let mut g = TestGaian::sqlite().await;
    for i in 0..5 {
        let (s, _) = g
            .post(&json!({"player_id": "trainer", "action": "recycle", "quantity": i + 1, "metadata": {"i": i}}))
            .await;
        assert_eq!(s, 200);
    }
    let (s, _) = g
        .post(&json!({"player_id": "trainer", "action": "nope"}))
        .await;
    assert_eq!(s, 422);
    g.stop().await;
    let dir = g.dir.path().join("training");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("training dir")
        .flatten()
        .collect();
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().to_string_lossy().to_string();
    assert!(
        name.starts_with("actions-") && name.ends_with(".jsonl"),
        "{name}"
    );
    let text = std::fs::read_to_string(files[0].path()).expect("read");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[4]["metadata"], json!({"i": 4}));
    assert_eq!(lines[0]["reward_sila"], "0.500000");
}

#[tokio::test]
async fn rules_file_reloads_live_and_rejects_a_broken_edit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rules.yaml");
    std::fs::write(&path, "actions:\n  dance:\n    base_reward: \"1.5\"\n").expect("write");
    let g = TestGaian::start(None, None, Some(path.clone())).await;
    let (s, rules) = g.get("/api/v1/rules").await;
    assert_eq!(s, 200);
    assert_eq!(rules["source"], path.display().to_string());
    assert_eq!(rules["actions"][0]["action"], "dance");
    let (_, r) = g.post(&json!({"player_id": "d", "action": "dance"})).await;
    assert_eq!(r["reward_sila"], "1.500000");

    // A valid edit takes effect without a restart.
    std::fs::write(
        &path,
        "actions:\n  dance:\n    base_reward: \"2\"\n  sing:\n    base_reward: 3\n",
    )
    .expect("write");
    eventually("the new rules", || async {
        let (_, r) = g.get("/api/v1/rules").await;
        r["actions"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    let (_, r) = g.post(&json!({"player_id": "d2", "action": "sing"})).await;
    assert_eq!(r["reward_sila"], "3.000000");

    // A broken edit is rejected with file:line:col and the old rules stay.
    std::fs::write(
        &path,
        "actions:\n  dance:\n    base_reward: \"2\"\n    decay: \"7\"\n",
    )
    .expect("write");
    eventually("the reload error", || async {
        let (_, r) = g.get("/api/v1/rules").await;
        r.get("reload_error").is_some()
    })
    .await;
    let (_, r) = g.get("/api/v1/rules").await;
    let error = r["reload_error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.starts_with(&format!("{}:4:12:", path.display())),
        "error names file:line:col: {error}"
    );
    assert_eq!(
        r["actions"].as_array().map(Vec::len),
        Some(2),
        "old rules in force"
    );
    let (s, _) = g.post(&json!({"player_id": "d3", "action": "sing"})).await;
    assert_eq!(s, 200);

    // A YAML syntax error too.
    std::fs::write(&path, "actions:\n  dance: [\n").expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await;
    eventually("the syntax error", || async {
        let (_, r) = g.get("/api/v1/rules").await;
        r["reload_error"].as_str().is_some_and(|e| e != error)
    })
    .await;
    let (s, _) = g.post(&json!({"player_id": "d4", "action": "sing"})).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_full_disk_for_training_data_is_logged_not_a_failed_request() {
    use devtui::gaian::server::{Config, Server};
    let dir = tempfile::tempdir().expect("tempdir");
    let training = dir.path().join("training");
    std::fs::create_dir_all(&training).expect("mkdir");
    // Today's file is /dev/full: every write fails with ENOSPC.
    let today = time::OffsetDateTime::now_utc().date();
    std::os::unix::fs::symlink("/dev/full", training.join(format!("actions-{today}.jsonl")))
        .expect("symlink");
    let server = Server::start(Config {
        addr: ([127, 0, 0, 1], 0).into(),
        rules_path: None,
        database: devtui::gaian::store::Database::Sqlite(dir.path().join("g.db")),
        redis_url: None,
        training_dir: Some(training),
    })
    .await
    .expect("start");
    let client = reqwest::Client::new();
    for i in 0..20 {
        let r = client
            .post(format!("http://{}/api/v1/action", server.addr()))
            .json(&json!({"player_id": "full", "action": "recycle", "quantity": i + 1}))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
    }
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("shutdown is not blocked by the failing disk");
}
