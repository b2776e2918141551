//! Shared by the gaian_* test binaries: the real engine, a PostgreSQL (and Redis) container
//! from the stand-in images, Gaian started in-process, and scenarios run on every database.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use devtui::gaian::server::{Config, Server};

#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)] // not every gaian test binary needs each
pub use common::{engine_ready, free_port, unique_name};
use devtui::gaian::store::Database;
use serde_json::{Value, json};

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A container removed on drop, and by a watcher process if this test process dies first
/// (killed, aborted): the watcher polls our pid and removes the container when it is gone.
pub struct Container {
    pub name: String,
    pub host_port: u16,
}

impl Container {
    fn start(
        image: &str,
        container_port: u16,
        host_port: Option<u16>,
        env: &[&str],
        cmd: &[&str],
    ) -> Container {
        let name = unique_name("devtui-gaian-test");
        let publish = match host_port {
            Some(p) => format!("127.0.0.1:{p}:{container_port}"),
            None => format!("127.0.0.1::{container_port}"),
        };
        let mut args = vec![
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            "dev.devtui.test=gaian",
            "-p",
            &publish,
        ];
        for e in env {
            args.push("-e");
            args.push(e);
        }
        args.push(image);
        args.extend_from_slice(cmd);
        docker(&args);
        let watcher = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; docker rm -f -v {name} >/dev/null 2>&1",
            pid = std::process::id()
        );
        let _ = Command::new("sh")
            .args(["-c", &watcher])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mapped = docker(&["port", &name, &format!("{container_port}/tcp")]);
        let host_port = mapped
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("cannot read the port of {name}: {mapped}"));
        Container { name, host_port }
    }

    pub fn stop(&self) {
        docker(&["stop", "-t", "5", &self.name]);
    }

    pub fn start_again(&self) {
        docker(&["start", &self.name]);
    }

    fn wait_for(&self, check: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let mut args = vec!["exec", self.name.as_str()];
            args.extend_from_slice(check);
            let ok = Command::new("docker")
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            if Instant::now() >= deadline {
                let logs = Command::new("docker")
                    .args(["logs", "--tail", "30", &self.name])
                    .output()
                    .map(|o| {
                        format!(
                            "{}{}",
                            String::from_utf8_lossy(&o.stdout),
                            String::from_utf8_lossy(&o.stderr)
                        )
                    })
                    .unwrap_or_default();
                panic!(
                    "{} did not become ready ({check:?}); its log:\n{logs}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

pub const PG_PASSWORD: &str = "gaian-test-pw";

/// A PostgreSQL container from DEVTUI_POSTGRES_IMAGE, ready for connections.
pub fn postgres_container(fixed_port: bool) -> Container {
    let image = std::env::var("DEVTUI_POSTGRES_IMAGE")
        .unwrap_or_else(|_| "devtui-standin/postgres:15".into());
    let pw = format!("POSTGRES_PASSWORD={PG_PASSWORD}");
    // A fixed host port survives `docker stop`/`docker start`; a random one would change.
    let port = fixed_port.then(free_port);
    let c = Container::start(&image, 5432, port, &[&pw], &[]);
    c.wait_for(&["pg_isready", "-h", "127.0.0.1", "-U", "postgres"]);
    // pg_isready can pass during the init restart; a real query over TCP settles it.
    let check = format!("PGPASSWORD={PG_PASSWORD} psql -h 127.0.0.1 -U postgres -c 'SELECT 1'");
    c.wait_for(&["sh", "-c", &check]);
    c
}

/// A Redis container from DEVTUI_REDIS_IMAGE.
pub fn redis_container() -> Container {
    let image =
        std::env::var("DEVTUI_REDIS_IMAGE").unwrap_or_else(|_| "devtui-standin/redis:7".into());
    let c = Container::start(&image, 6379, Some(free_port()), &[], &["redis-server"]);
    c.wait_for(&["redis-cli", "ping"]);
    c
}

/// One PostgreSQL container per test binary, shared by its tests (each gets a database).
/// Statics are never dropped: the watcher process removes it when the binary exits.
pub fn shared_postgres() -> &'static Container {
    static PG: OnceLock<Container> = OnceLock::new();
    PG.get_or_init(|| postgres_container(false))
}

/// A fresh database in `container`, as a DATABASE_URL.
pub async fn create_database(container: &Container, name: &str) -> String {
    use sqlx::Connection;
    let admin = format!(
        "postgres://postgres:{PG_PASSWORD}@127.0.0.1:{}/postgres",
        container.host_port
    );
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to postgres");
    let db = format!("{name}_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}")))
        .execute(&mut conn)
        .await
        .expect("drop database");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    format!(
        "postgres://postgres:{PG_PASSWORD}@127.0.0.1:{}/{db}",
        container.host_port
    )
}

/// Gaian running in this process on a free port.
pub struct TestGaian {
    pub server: Option<Server>,
    pub base: String,
    pub database: Database,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

impl TestGaian {
    pub async fn start(
        database: Option<Database>,
        redis_url: Option<String>,
        rules: Option<PathBuf>,
    ) -> TestGaian {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn,gaian::http=off"))
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("tempdir");
        let database = database.unwrap_or_else(|| Database::Sqlite(dir.path().join("gaian.db")));
        let config = Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            rules_path: rules,
            database: database.clone(),
            redis_url,
            training_dir: Some(dir.path().join("training")),
        };
        let server = Server::start(config).await.expect("gaian starts");
        let base = format!("http://{}", server.addr());
        TestGaian {
            server: Some(server),
            base,
            database,
            dir,
            client: reqwest::Client::new(),
        }
    }

    pub async fn sqlite() -> TestGaian {
        Self::start(None, None, None).await
    }

    pub async fn post(&self, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}/api/v1/action", self.base))
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }

    /// (players rows, ledger rows) straight from the database.
    pub async fn row_counts(&self) -> (i64, i64) {
        let q1 = "SELECT CAST(COUNT(*) AS BIGINT) FROM players";
        let q2 = "SELECT CAST(COUNT(*) AS BIGINT) FROM ledger";
        match &self.database {
            Database::Sqlite(path) => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .expect("open sqlite");
                let a = sqlx::query_scalar(q1)
                    .fetch_one(&pool)
                    .await
                    .expect("count");
                let b = sqlx::query_scalar(q2)
                    .fetch_one(&pool)
                    .await
                    .expect("count");
                pool.close().await;
                (a, b)
            }
            Database::Postgres(url) => {
                let pool = sqlx::PgPool::connect(url).await.expect("open postgres");
                let a = sqlx::query_scalar(q1)
                    .fetch_one(&pool)
                    .await
                    .expect("count");
                let b = sqlx::query_scalar(q2)
                    .fetch_one(&pool)
                    .await
                    .expect("count");
                pool.close().await;
                (a, b)
            }
        }
    }

    /// Every ledger entry of a player, through the paginated API.
    pub async fn full_ledger(&self, player: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let q = match before {
                Some(b) => format!("/api/v1/players/{player}/ledger?limit=37&before={b}"),
                None => format!("/api/v1/players/{player}/ledger?limit=37"),
            };
            let (status, page) = self.get(&q).await;
            assert_eq!(status, 200, "{page}");
            all.extend(page["entries"].as_array().cloned().unwrap_or_default());
            match page["next_before"].as_i64() {
                Some(b) => before = Some(b),
                None => return all,
            }
        }
    }
}

impl Drop for TestGaian {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.cancel_token().cancel();
        }
    }
}

/// "12.500000" → 12_500_000.
pub fn micro(sila: &Value) -> i64 {
    devtui::gaian::money::parse_micro(sila.as_str().expect("sila string")).expect("sila")
}

// ---- scenarios run on SQLite and on PostgreSQL ----

/// The happy path: reward, decay, cap, replay, ledger pages, player totals.
pub async fn scenario_basic(g: &TestGaian) {
    let (s, first) = g
        .post(&json!({"player_id": "alice", "action": "plant_tree", "quantity": 2, "metadata": {"zone": "north"}}))
        .await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["reward_sila"], "10.000000");
    assert_eq!(first["balance_sila"], "10.000000");
    assert_eq!(first["capped"], false);
    // Second plant_tree of the day: ×0.9.
    let (_, second) = g
        .post(&json!({"player_id": "alice", "action": "plant_tree", "quantity": 2}))
        .await;
    assert_eq!(second["reward_sila"], "9.000000");
    assert_eq!(second["balance_sila"], "19.000000");
    // clean_beach: 10 × q, decay 0.8, cap 60: 50, then 8×5=40 → capped at 10.
    let (_, b1) = g
        .post(&json!({"player_id": "alice", "action": "clean_beach", "quantity": 5}))
        .await;
    assert_eq!(b1["reward_sila"], "50.000000");
    let (_, b2) = g
        .post(&json!({"player_id": "alice", "action": "clean_beach", "quantity": 5}))
        .await;
    assert_eq!(b2["reward_sila"], "10.000000");
    assert_eq!(b2["capped"], true);
    let (_, b3) = g
        .post(&json!({"player_id": "alice", "action": "clean_beach", "quantity": 1}))
        .await;
    assert_eq!(b3["reward_sila"], "0.000000");
    assert_eq!(b3["capped"], true);
    assert_eq!(b3["balance_sila"], "79.000000");

    // Idempotency through the header and through the body are the same key.
    let body = json!({"player_id": "bob", "action": "recycle", "quantity": 3});
    let r1 = g
        .client
        .post(format!("{}/api/v1/action", g.base))
        .header("Idempotency-Key", "bob-1")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r1.status(), 200);
    let v1: Value = r1.json().await.expect("json");
    let (s2, v2) = g
        .post(&json!({"player_id": "bob", "action": "recycle", "quantity": 3, "idempotency_key": "bob-1"}))
        .await;
    assert_eq!(s2, 200);
    assert_eq!(v1, v2, "a replay returns the original response");
    let (s3, v3) = g
        .post(&json!({"player_id": "bob", "action": "recycle", "quantity": 4, "idempotency_key": "bob-1"}))
        .await;
    assert_eq!(s3, 409, "{v3}");
    assert_eq!(v3["error"]["code"], "idempotency_conflict");
    // The same key from another player is a different request too.
    let (s4, _) = g
        .post(&json!({"player_id": "carol", "action": "recycle", "quantity": 3, "idempotency_key": "bob-1"}))
        .await;
    assert_eq!(s4, 409);

    let (s, player) = g.get("/api/v1/players/alice").await;
    assert_eq!(s, 200, "{player}");
    assert_eq!(player["balance_sila"], "79.000000");
    let totals: HashMap<String, Value> = player["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap_or_default().to_string(),
                a.clone(),
            )
        })
        .collect();
    assert_eq!(totals["clean_beach"]["count"], 3);
    assert_eq!(totals["clean_beach"]["reward_sila"], "60.000000");
    assert_eq!(totals["plant_tree"]["quantity"], 4);
    let today = player["today"].as_array().expect("today");
    let beach = today
        .iter()
        .find(|t| t["action"] == "clean_beach")
        .expect("beach today");
    assert_eq!(beach["cap_remaining_sila"], "0.000000");

    let ledger = g.full_ledger("alice").await;
    assert_eq!(ledger.len(), 5);
    let ids: Vec<i64> = ledger
        .iter()
        .map(|e| e["action_id"].as_i64().unwrap_or_default())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let (s, page) = g.get("/api/v1/players/alice/ledger?limit=2").await;
    assert_eq!(s, 200);
    assert_eq!(page["entries"].as_array().map(Vec::len), Some(2));
    let next = page["next_before"].as_i64().expect("next page");
    let (_, page2) = g
        .get(&format!(
            "/api/v1/players/alice/ledger?limit=2&before={next}"
        ))
        .await;
    assert!(
        page2["entries"][0]["action_id"]
            .as_i64()
            .unwrap_or(i64::MAX)
            < next
    );

    let (s, missing) = g.get("/api/v1/players/nobody").await;
    assert_eq!(s, 404, "{missing}");
}

/// body, content type, expected status, error code, field.
type BadCase = (
    String,
    Option<&'static str>,
    u16,
    &'static str,
    Option<&'static str>,
);

/// Every bad input: its status and code, and nothing written.
pub async fn scenario_bad_input(g: &TestGaian) {
    // One good action first, so "nothing written" compares non-empty tables.
    let (s, _) = g
        .post(&json!({"player_id": "p", "action": "plant_tree"}))
        .await;
    assert_eq!(s, 200);
    let before = g.row_counts().await;
    let url = format!("{}/api/v1/action", g.base);
    let send = |body: String, content_type: Option<&'static str>| {
        let mut r = g.client.post(&url).body(body);
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        async move {
            let resp = r.send().await.expect("post");
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            (status, v)
        }
    };
    let json_ct = Some("application/json");
    let cases: Vec<BadCase> = vec![
        (
            r#"{"player_id":"p","action":"fly"}"#.into(),
            json_ct,
            422,
            "unknown_action",
            Some("action"),
        ),
        (
            r#"{"action":"plant_tree"}"#.into(),
            json_ct,
            422,
            "missing_field",
            Some("player_id"),
        ),
        (
            r#"{"player_id":"p"}"#.into(),
            json_ct,
            422,
            "missing_field",
            Some("action"),
        ),
        (
            r#"{"player_id":7,"action":"plant_tree"}"#.into(),
            json_ct,
            422,
            "invalid_type",
            Some("player_id"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","quantity":"2"}"#.into(),
            json_ct,
            422,
            "invalid_type",
            Some("quantity"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","quantity":1.5}"#.into(),
            json_ct,
            422,
            "invalid_type",
            Some("quantity"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","quantity":0}"#.into(),
            json_ct,
            422,
            "invalid_quantity",
            Some("quantity"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","quantity":-3}"#.into(),
            json_ct,
            422,
            "invalid_quantity",
            Some("quantity"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","quantity":101}"#.into(),
            json_ct,
            422,
            "invalid_quantity",
            Some("quantity"),
        ),
        (
            r#"{"player_id":"","action":"plant_tree"}"#.into(),
            json_ct,
            422,
            "invalid_player_id",
            Some("player_id"),
        ),
        (
            format!(
                r#"{{"player_id":"{}","action":"plant_tree"}}"#,
                "x".repeat(65)
            ),
            json_ct,
            422,
            "invalid_player_id",
            Some("player_id"),
        ),
        (
            r#"{"player_id":"a b","action":"plant_tree"}"#.into(),
            json_ct,
            422,
            "invalid_player_id",
            Some("player_id"),
        ),
        (
            r#"{"player_id":"p/../x","action":"plant_tree"}"#.into(),
            json_ct,
            422,
            "invalid_player_id",
            Some("player_id"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","metadata":[1]}"#.into(),
            json_ct,
            422,
            "invalid_type",
            Some("metadata"),
        ),
        (
            r#"{"player_id":"p","action":"plant_tree","extra":1}"#.into(),
            json_ct,
            422,
            "unknown_field",
            None,
        ),
        (r#"[1,2]"#.into(), json_ct, 422, "invalid_body", None),
        (
            r#"{"player_id":"p","action":"plant_tree","idempotency_key":""}"#.into(),
            json_ct,
            422,
            "invalid_idempotency_key",
            Some("idempotency_key"),
        ),
        (
            r#"{"player_id":"p","action":"#.into(),
            json_ct,
            400,
            "malformed_json",
            None,
        ),
        (r#"not json"#.into(), json_ct, 400, "malformed_json", None),
        (
            r#"{"player_id":"p","action":"plant_tree"}"#.into(),
            None,
            415,
            "unsupported_media_type",
            None,
        ),
        (
            r#"{"player_id":"p","action":"plant_tree"}"#.into(),
            Some("text/plain"),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            format!(
                r#"{{"player_id":"p","action":"plant_tree","metadata":{{"pad":"{}"}}}}"#,
                "x".repeat(70 * 1024)
            ),
            json_ct,
            413,
            "payload_too_large",
            None,
        ),
    ];
    for (body, ct, status, code, field) in cases {
        let shown: String = body.chars().take(60).collect();
        let (s, v) = send(body, ct).await;
        assert_eq!(s, status, "{shown}: {v}");
        assert_eq!(v["error"]["code"], code, "{shown}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        match field {
            Some(f) => assert_eq!(v["error"]["field"], f, "{shown}: {v}"),
            None => assert!(v["error"].get("field").is_none(), "{shown}: {v}"),
        }
    }
    let (s, v) = g.get("/api/v1/players/bad%20id").await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = g.get("/api/v1/players/p/ledger?limit=0").await;
    assert_eq!((s, v["error"]["field"].clone()), (422, json!("limit")));
    let (s, v) = g.get("/api/v1/players/p/ledger?before=abc").await;
    assert_eq!((s, v["error"]["field"].clone()), (422, json!("before")));
    assert_eq!(g.row_counts().await, before, "bad input must write nothing");
}

/// 50 concurrent requests with one idempotency key: one ledger row, identical answers.
pub async fn scenario_concurrent_replays(g: &TestGaian) {
    let body = json!({"player_id": "replayer", "action": "plant_tree", "quantity": 3, "idempotency_key": "same-key-50"});
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let client = g.client.clone();
        let url = format!("{}/api/v1/action", g.base);
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let r = client.post(url).json(&body).send().await.expect("post");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("task"));
    }
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert!(
        answers.windows(2).all(|w| w[0].1 == w[1].1),
        "identical responses: {answers:?}"
    );
    let ledger = g.full_ledger("replayer").await;
    assert_eq!(ledger.len(), 1, "exactly one ledger row");
    let (_, player) = g.get("/api/v1/players/replayer").await;
    assert_eq!(player["balance_sila"], "15.000000");
}

/// 1,000 concurrent actions over 10 players: balance == sum(ledger), caps never exceeded.
pub async fn scenario_thousand_actions(g: &TestGaian) {
    let actions = ["plant_tree", "recycle", "clean_beach", "share_knowledge"];
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for i in 0..1000usize {
        let client = g.client.clone();
        let url = format!("{}/api/v1/action", g.base);
        let body = json!({
            "player_id": format!("load-{}", i % 10),
            "action": actions[i % actions.len()],
            "quantity": if i % actions.len() == 3 { 1 } else { 1 + (i / 4 % 3) as i64 },
            "idempotency_key": format!("load-key-{i}"),
        });
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.expect("permit");
            let r = client.post(url).json(&body).send().await.expect("post");
            r.status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), 200);
    }
    let (_, rules) = g.get("/api/v1/rules").await;
    let caps: HashMap<String, Option<i64>> = rules["actions"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            let cap = r.get("daily_cap_sila").map(micro);
            (r["action"].as_str().unwrap_or_default().to_string(), cap)
        })
        .collect();
    let mut rows = 0;
    for p in 0..10 {
        let player = format!("load-{p}");
        let ledger = g.full_ledger(&player).await;
        rows += ledger.len();
        let sum: i64 = ledger.iter().map(|e| micro(&e["reward_sila"])).sum();
        let (_, view) = g.get(&format!("/api/v1/players/{player}")).await;
        assert_eq!(
            micro(&view["balance_sila"]),
            sum,
            "{player}: balance == sum(ledger)"
        );
        // Each ledger row's balance_after is the running sum in id order.
        let mut running = 0;
        for e in ledger.iter().rev() {
            running += micro(&e["reward_sila"]);
            assert_eq!(
                micro(&e["balance_sila"]),
                running,
                "{player}: running balance"
            );
        }
        let mut per_action: HashMap<&str, i64> = HashMap::new();
        for e in &ledger {
            *per_action
                .entry(e["action"].as_str().unwrap_or_default())
                .or_default() += micro(&e["reward_sila"]);
        }
        for (action, total) in per_action {
            if let Some(Some(cap)) = caps.get(action) {
                assert!(
                    total <= *cap,
                    "{player} {action}: {total} over the cap {cap}"
                );
            }
        }
    }
    assert_eq!(rows, 1000);
}

/// Waits until `check` holds, up to 15 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
