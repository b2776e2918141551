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
    // The request schema is the type the body is checked against: its fields, no more.
    let request = &doc["components"]["schemas"]["ActionRequest"];
    let mut fields: Vec<&str> = request["properties"]
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "action",
            "idempotency_key",
            "metadata",
            "player_id",
            "quantity"
        ],
        "{request}"
    );
    assert_eq!(
        request["required"],
        json!(["player_id", "action"]),
        "{request}"
    );
    assert_eq!(
        request["properties"]["player_id"]["type"], "string",
        "{request}"
    );
    assert_eq!(request["properties"]["quantity"]["minimum"], 1, "{request}");
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

/// Every malformed-input answer of `POST /api/v1/action`, pinned whole (status, code, message,
/// field): clients match on them, so a refactor of the body handling must keep them byte for
/// byte. Cases with two faults pin which one wins.
#[tokio::test]
async fn action_error_responses_are_pinned_exactly() {
    let g = TestGaian::sqlite().await;
    let url = format!("{}/api/v1/action", g.base);
    let json_ct = Some("application/json");
    let big = format!(
        r#"{{"player_id":"p","action":"plant_tree","metadata":{{"pad":"{}"}}}}"#,
        "x".repeat(70 * 1024)
    );
    // body, content type, Idempotency-Key header (raw bytes), status, code, message, field.
    type Case<'a> = (
        String,
        Option<&'a str>,
        Option<&'a [u8]>,
        u16,
        &'a str,
        &'a str,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            r#"{"player_id":"p","action":"fly"}"#.into(),
            json_ct,
            None,
            422,
            "unknown_action",
            "unknown action `fly`; GET /api/v1/rules lists the actions",
            Some("action"),
        ),
        (
            r#"{"action":"plant_tree"}"#.into(),
            json_ct,
            None,
            422,
            "missing_field",
            "`player_id` is required",
            Some("player_id"),
        ),
        (
            r#"{"player_id":null,"action":"plant_tree"}"#.into(),
            json_ct,
            None,
            422,
            "missing_field",
            "`player_id` is required",
            Some("player_id"),
        ),
        (
            r#"{"player_id":"p"}"#.into(),
            json_ct,
            None,
            422,
            "missing_field",
            "`action` is required",
            Some("action"),
        ),
        (
            r#"{"player_id":7,"action":"plant_tree"}"#.into(),
            json_ct,
            None,
            422,
            "invalid_type",
            "`player_id` must be a string",
            Some("player_id"),
        ),
        (
            r#"{"player_id":"p","action":["plant_tree"]}"#.into(),
            json_ct,
            None,
            422,
            "invalid_type",
            "`action` must be a string",
            Some("action"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","quantity":"2"}"#.into(),
            json_ct,
            None,
            422,
            "invalid_type",
            "`quantity` must be an integer",
            Some("quantity"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","quantity":1.5}"#.into(),
            json_ct,
            None,
            422,
            "invalid_type",
            "`quantity` must be an integer",
            Some("quantity"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","quantity":1.0}"#.into(),
            json_ct,
            None,
            422,
            "invalid_type",
            "`quantity` must be an integer",
            Some("quantity"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","quantity":18446744073709551615}"#.into(),
            json_ct,
            None,
            422,
            "invalid_type",
            "`quantity` must be an integer",
            Some("quantity"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","quantity":0}"#.into(),
            json_ct,
            None,
            422,
            "invalid_quantity",
            "`quantity` must be at least 1",
            Some("quantity"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","quantity":-3}"#.into(),
            json_ct,
            None,
            422,
            "invalid_quantity",
            "`quantity` must be at least 1",
            Some("quantity"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","quantity":101}"#.into(),
            json_ct,
            None,
            422,
            "invalid_quantity",
            "`quantity` must be at most 100 for `plant_tree`",
            Some("quantity"),
        ),
        (
            r#"{"player_id":"","action":"plant_tree"}"#.into(),
            json_ct,
            None,
            422,
            "invalid_player_id",
            "`player_id` must be 1-64 characters of A-Z a-z 0-9 _ . : -",
            Some("player_id"),
        ),
        (
            r#"{"player_id":"a b","action":"fly"}"#.into(),
            json_ct,
            None,
            422,
            "invalid_player_id",
            "`player_id` must be 1-64 characters of A-Z a-z 0-9 _ . : -",
            Some("player_id"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","metadata":[1]}"#.into(),
            json_ct,
            None,
            422,
            "invalid_type",
            "`metadata` must be a JSON object",
            Some("metadata"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","metadata":"x"}"#.into(),
            json_ct,
            None,
            422,
            "invalid_type",
            "`metadata` must be a JSON object",
            Some("metadata"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","extra":1,"zzz":2}"#.into(),
            json_ct,
            None,
            422,
            "unknown_field",
            "unknown field `extra`; expected one of player_id, action, quantity, metadata, idempotency_key",
            None,
        ),
        (
            r#"{"zeta":1,"player_id":7,"alpha":2}"#.into(),
            json_ct,
            None,
            422,
            "unknown_field",
            "unknown field `alpha`; expected one of player_id, action, quantity, metadata, idempotency_key",
            None,
        ),
        (
            r#"[1,2]"#.into(),
            json_ct,
            None,
            422,
            "invalid_body",
            "the body must be a JSON object",
            None,
        ),
        (
            r#""text""#.into(),
            json_ct,
            None,
            422,
            "invalid_body",
            "the body must be a JSON object",
            None,
        ),
        (
            r#"null"#.into(),
            json_ct,
            None,
            422,
            "invalid_body",
            "the body must be a JSON object",
            None,
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","idempotency_key":""}"#.into(),
            json_ct,
            None,
            422,
            "invalid_idempotency_key",
            "the idempotency key must be 1-128 visible ASCII characters",
            Some("idempotency_key"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","idempotency_key":5}"#.into(),
            json_ct,
            None,
            422,
            "invalid_type",
            "`idempotency_key` must be a string",
            Some("idempotency_key"),
        ),
        (
            format!(
                r#"{{"player_id":"p","action":"plant_tree","idempotency_key":"{}"}}"#,
                "k".repeat(129)
            ),
            json_ct,
            None,
            422,
            "invalid_idempotency_key",
            "the idempotency key must be 1-128 visible ASCII characters",
            Some("idempotency_key"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","idempotency_key":"a"}"#.into(),
            json_ct,
            Some(b"b"),
            422,
            "idempotency_key_mismatch",
            "the Idempotency-Key header and the body's idempotency_key differ",
            Some("idempotency_key"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree"}"#.into(),
            json_ct,
            Some(b"has space"),
            422,
            "invalid_idempotency_key",
            "the idempotency key must be 1-128 visible ASCII characters",
            Some("idempotency_key"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree"}"#.into(),
            json_ct,
            Some(b"caf\xc3\xa9"),
            422,
            "invalid_idempotency_key",
            "the idempotency key must be 1-128 visible ASCII characters",
            Some("idempotency_key"),
        ),
        // The header is checked before the body's shape.
        (
            r#"[1]"#.into(),
            json_ct,
            Some(b"caf\xc3\xa9"),
            422,
            "invalid_idempotency_key",
            "the idempotency key must be 1-128 visible ASCII characters",
            Some("idempotency_key"),
        ),
        (
            r#"{"player_id":"p","action":"#.into(),
            json_ct,
            None,
            400,
            "malformed_json",
            "malformed JSON: EOF while parsing a value at line 1 column 26",
            None,
        ),
        (
            r#"not json"#.into(),
            json_ct,
            None,
            400,
            "malformed_json",
            "malformed JSON: expected ident at line 1 column 2",
            None,
        ),
        (
            r#"{"player_id":"p","player_id":"q","action":"plant_tree","quantity":0}"#.into(),
            json_ct,
            None,
            422,
            "invalid_quantity",
            "`quantity` must be at least 1",
            Some("quantity"),
        ),
        (
            String::new(),
            json_ct,
            None,
            400,
            "malformed_json",
            "malformed JSON: EOF while parsing a value at line 1 column 0",
            None,
        ),
        (
            r#"not json"#.into(),
            json_ct,
            Some(b"caf\xc3\xa9"),
            400,
            "malformed_json",
            "malformed JSON: expected ident at line 1 column 2",
            None,
        ),
        (
            r#"{"player_id":"p","action":"plant_tree"}"#.into(),
            None,
            None,
            415,
            "unsupported_media_type",
            "Content-Type must be application/json",
            None,
        ),
        (
            r#"{"player_id":"p","action":"plant_tree"}"#.into(),
            Some("text/plain"),
            None,
            415,
            "unsupported_media_type",
            "Content-Type must be application/json",
            None,
        ),
        (
            "not json".into(),
            Some("text/json"),
            None,
            415,
            "unsupported_media_type",
            "Content-Type must be application/json",
            None,
        ),
        (
            big.clone(),
            json_ct,
            None,
            413,
            "payload_too_large",
            "request body is larger than 64 KiB",
            None,
        ),
        (
            big,
            Some("text/plain"),
            None,
            415,
            "unsupported_media_type",
            "Content-Type must be application/json",
            None,
        ),
    ];
    for (body, ct, key, status, code, message, field) in cases {
        let shown: String = body.chars().take(60).collect();
        let mut r = g.client.post(&url).body(body);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        if let Some(k) = key {
            r = r.header(
                "idempotency-key",
                reqwest::header::HeaderValue::from_bytes(k).expect("header bytes"),
            );
        }
        let resp = r.send().await.expect("post");
        let got_status = resp.status().as_u16();
        let got: Value = resp.json().await.unwrap_or(Value::Null);
        let mut want = json!({"error": {"code": code, "message": message}});
        if let Some(f) = field {
            want["error"]["field"] = json!(f);
        }
        assert_eq!((got_status, &got), (status, &want), "{shown}");
    }
    // Accepted variants of the content type and a key given twice alike.
    for ct in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.api+json",
    ] {
        let r = g
            .client
            .post(&url)
            .header("content-type", ct)
            .header("idempotency-key", format!("ct-{ct}").replace(' ', "_"))
            .body(format!(
                r#"{{"player_id":"p","action":"plant_tree","idempotency_key":"ct-{}"}}"#,
                ct.replace(' ', "_")
            ))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 200, "{ct}");
    }
}
