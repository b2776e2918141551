//! Gaian on a real PostgreSQL (and Redis) from the stand-in images through the engine. One
//! PostgreSQL container is shared by the tests here, each with its own database; the outage
//! test gets its own container to stop and start.

mod gaian_support;

use devtui::gaian::store::Database;
use gaian_support::*;
use serde_json::json;

async fn on_postgres(name: &str) -> Option<TestGaian> {
    if !engine_ready() {
        return None;
    }
    let pg = tokio::task::spawn_blocking(shared_postgres)
        .await
        .expect("container");
    let url = create_database(pg, name).await;
    Some(TestGaian::start(Some(Database::Postgres(url)), None, None).await)
}

#[tokio::test]
async fn postgres_rewards_replays_and_ledger() {
    let Some(g) = on_postgres("basic").await else {
        return;
    };
    scenario_basic(&g).await;
}

#[tokio::test]
async fn postgres_bad_input_gets_its_status_and_writes_nothing() {
    let Some(g) = on_postgres("bad_input").await else {
        return;
    };
    scenario_bad_input(&g).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fifty_concurrent_replays_reward_once() {
    let Some(g) = on_postgres("replays").await else {
        return;
    };
    scenario_concurrent_replays(&g).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_thousand_concurrent_actions_keep_balances_exact() {
    let Some(g) = on_postgres("thousand").await else {
        return;
    };
    scenario_thousand_actions(&g).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_while_postgres_is_stopped_and_200_after() {
    if !engine_ready() {
        return;
    }
    let pg = tokio::task::spawn_blocking(|| postgres_container(true))
        .await
        .expect("container");
    let url = create_database(&pg, "outage").await;
    let g = TestGaian::start(Some(Database::Postgres(url)), None, None).await;
    let (s, _) = g.get("/health").await;
    assert_eq!(s, 200);
    let (s, _) = g
        .post(&json!({"player_id": "o", "action": "plant_tree"}))
        .await;
    assert_eq!(s, 200);

    let name = pg.name.clone();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("docker")
            .args(["stop", "-t", "5", &name])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("docker stop")
    })
    .await
    .expect("stop");
    eventually("/health 503", || async {
        let (s, v) = g.get("/health").await;
        s == 503 && v["status"] == "degraded" && v["services"]["database"] == "down"
    })
    .await;
    // Requests fail cleanly meanwhile: a generic 503 body, no driver text.
    let (s, v) = g
        .post(&json!({"player_id": "o", "action": "plant_tree"}))
        .await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], "unavailable");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !message.to_lowercase().contains("sqlx") && !message.contains("os error"),
        "{v}"
    );

    let name = pg.name.clone();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("docker")
            .args(["start", &name])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("docker start")
    })
    .await
    .expect("start");
    eventually("/health 200 again", || async {
        g.get("/health").await.0 == 200
    })
    .await;
    eventually("actions again", || async {
        g.post(&json!({"player_id": "o", "action": "plant_tree"}))
            .await
            .0
            == 200
    })
    .await;
    let ledger = g.full_ledger("o").await;
    let sum: i64 = ledger.iter().map(|e| micro(&e["reward_sila"])).sum();
    let (_, p) = g.get("/api/v1/players/o").await;
    assert_eq!(micro(&p["balance_sila"]), sum);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_serves_today_and_its_outage_keeps_results_exact() {
    if !engine_ready() {
        return;
    }
    let (pg, redis) = tokio::task::spawn_blocking(|| (shared_postgres(), redis_container()))
        .await
        .expect("containers");
    let url = create_database(pg, "cache").await;
    let redis_url = format!("redis://127.0.0.1:{}/", redis.host_port);
    let g = TestGaian::start(Some(Database::Postgres(url)), Some(redis_url), None).await;
    eventually("cache up", || async {
        g.get("/health").await.1["services"]["cache"] == "up"
    })
    .await;
    for _ in 0..3 {
        let (s, _) = g
            .post(&json!({"player_id": "c", "action": "clean_beach", "quantity": 5}))
            .await;
        assert_eq!(s, 200);
    }
    // 50 + 40 → capped at 60, then 0.
    let (_, p) = g.get("/api/v1/players/c").await;
    let beach = p["today"]
        .as_array()
        .and_then(|t| t.iter().find(|x| x["action"] == "clean_beach").cloned());
    let beach = beach.expect("today has clean_beach");
    assert_eq!(beach["count"], 3);
    assert_eq!(beach["reward_sila"], "60.000000");
    // Served from Redis on the second read: the key exists there.
    let name = redis.name.clone();
    let keys = tokio::task::spawn_blocking(move || {
        std::process::Command::new("docker")
            .args([
                "exec",
                &name,
                "redis-cli",
                "--scan",
                "--pattern",
                "gaian:daily:*",
            ])
            .output()
            .expect("redis-cli")
    })
    .await
    .expect("scan");
    let keys = String::from_utf8_lossy(&keys.stdout).to_string();
    assert!(keys.contains(":c:clean_beach"), "cached counters: {keys}");

    redis.stop();
    eventually("cache down reported", || async {
        let (s, v) = g.get("/health").await;
        s == 200 && v["services"]["cache"] == "down" && v["status"] == "healthy"
    })
    .await;
    let (s, r) = g
        .post(&json!({"player_id": "c", "action": "plant_tree", "quantity": 2}))
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["reward_sila"], "10.000000");
    assert_eq!(r["balance_sila"], "70.000000");
    let (s, p) = g.get("/api/v1/players/c").await;
    assert_eq!(s, 200);
    assert_eq!(p["balance_sila"], "70.000000");
    let today = p["today"].as_array().cloned().unwrap_or_default();
    assert!(
        today
            .iter()
            .any(|t| t["action"] == "plant_tree" && t["count"] == 1),
        "{p}"
    );
}

/// gaian_reward (the reward in SQL, migration 0002) gives exactly what Rule::reward gives,
/// rounding, decay steps and caps included.
#[tokio::test]
async fn postgres_reward_function_matches_the_rust_rule() {
    use devtui::gaian::rules::{Reward, Rule};
    use devtui::gaian::store::Store;
    if !engine_ready() {
        return;
    }
    let pg = tokio::task::spawn_blocking(shared_postgres)
        .await
        .expect("container");
    let url = create_database(pg, "reward_function").await;
    let Store::Postgres { pool, .. } = Store::connect(&Database::Postgres(url))
        .await
        .expect("connect")
    else {
        panic!("not postgres");
    };
    let mut checked = 0;
    for base in [0, 1, 7, 333_333, 5_000_000, 1_000_000_000_000] {
        for multiplier in [0, 1, 250_000, 1_000_000, 3_333_333] {
            for decay in [1, 123_457, 900_000, 999_999, 1_000_000] {
                for cap in [
                    None,
                    Some(0),
                    Some(1),
                    Some(12_000_000),
                    Some(999_999_999_999),
                ] {
                    let rule = Rule {
                        description: String::new(),
                        base_reward: base,
                        quantity_multiplier: multiplier,
                        max_quantity: 1_000_000,
                        daily_cap: cap,
                        decay,
                    };
                    for (quantity, nth, earned) in [
                        (1, 1, 0),
                        (3, 2, 1),
                        (1_000, 7, 11_999_999),
                        (1_000_000, 300, 5),
                    ] {
                        let want = rule.reward(quantity, nth, earned);
                        let (micro, capped): (i64, bool) = sqlx::query_as(
                            "SELECT micro, capped FROM gaian_reward($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .bind(base)
                        .bind(multiplier)
                        .bind(decay)
                        .bind(cap)
                        .bind(quantity)
                        .bind(nth)
                        .bind(earned)
                        .fetch_one(&pool)
                        .await
                        .expect("gaian_reward");
                        assert_eq!(
                            Reward { micro, capped },
                            want,
                            "base {base} multiplier {multiplier} decay {decay} cap {cap:?} quantity {quantity} nth {nth} earned {earned}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 6 * 5 * 5 * 5 * 4);
    pool.close().await;
}
