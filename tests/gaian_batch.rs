//! Group commit on a real PostgreSQL: a batch gives exactly what one-action-per-transaction
//! processing gives (property test over random interleavings of players, actions and replayed
//! keys), a failing action does not fail its batch, and a SIGKILL of the server under load
//! loses no answered action and leaves none half-applied.

mod gaian_support;

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use devtui::gaian::batch::record_batch;
use devtui::gaian::rules::{Rule, Rules};
use devtui::gaian::store::{Database, NewAction, Outcome, Store};
use gaian_support::*;
use proptest::prelude::*;
use serde_json::{Value, json};
use sqlx::PgPool;

const DAY: &str = "2030-01-01";
const ACTIONS: [&str; 4] = ["plant_tree", "recycle", "clean_beach", "share_knowledge"];

/// Two databases in the shared container: one recorded action by action through the
/// one-commit-per-action function (`gaian_record_action`, migration 0003), one through
/// batches. Both migrated by Gaian itself.
struct Pair {
    sequential: PgPool,
    batched: PgPool,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

async fn pool_of(url: String) -> PgPool {
    let Store::Postgres { pool, .. } = Store::connect(&Database::Postgres(url))
        .await
        .expect("connect and migrate")
    else {
        panic!("not postgres");
    };
    pool
}

fn pair() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| {
        assert!(engine_ready(), "the property test needs the Docker engine");
        let pg = shared_postgres();
        runtime().block_on(async {
            Pair {
                sequential: pool_of(create_database(pg, "prop_seq").await).await,
                batched: pool_of(create_database(pg, "prop_batch").await).await,
            }
        })
    })
}

/// How an action uses an idempotency key.
#[derive(Debug, Clone)]
enum Key {
    None,
    Fresh,
    /// The key of an earlier action (index modulo the actions so far) with its body: a replay.
    Replay(usize),
    /// The key of an earlier action with another quantity: a conflict.
    Conflict(usize),
}

#[derive(Debug, Clone)]
struct Op {
    player: u8,
    action: usize,
    quantity: i64,
    key: Key,
}

fn op() -> impl Strategy<Value = Op> {
    let key = prop_oneof![
        3 => Just(Key::None),
        3 => Just(Key::Fresh),
        2 => any::<usize>().prop_map(Key::Replay),
        1 => any::<usize>().prop_map(Key::Conflict),
    ];
    (0u8..3, 0..ACTIONS.len(), 1i64..=4, key).prop_map(|(player, action, quantity, key)| Op {
        player,
        action,
        quantity,
        key,
    })
}

/// The actions of one case, their keys resolved; players and keys carry the case's prefix so
/// cases share the two databases without meeting.
fn actions(case: u32, ops: &[Op], rules: &Rules) -> Vec<(NewAction, Rule)> {
    let mut out: Vec<(NewAction, Rule)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let mut player = format!("c{case}-p{}", op.player);
        let mut action = ACTIONS[op.action].to_string();
        let mut quantity = op.quantity;
        let key = match op.key {
            Key::None => None,
            Key::Fresh => Some(format!("c{case}-k{i}")),
            Key::Replay(j) | Key::Conflict(j) if i > 0 => {
                let (earlier, _) = &out[j % i];
                if matches!(op.key, Key::Replay(_)) {
                    player = earlier.player_id.clone();
                    action = earlier.action.clone();
                    quantity = earlier.quantity;
                } else {
                    quantity = earlier.quantity % 4 + 1;
                }
                // An earlier action without a key gets its index as one: still a reuse when
                // that earlier action had none only if it is written with it, so fall back
                // to a fresh key then.
                Some(
                    earlier
                        .idempotency_key
                        .clone()
                        .unwrap_or_else(|| format!("c{case}-k{i}")),
                )
            }
            Key::Replay(_) | Key::Conflict(_) => Some(format!("c{case}-k{i}")),
        };
        let request =
            json!({"player_id": player, "action": action, "quantity": quantity, "metadata": null});
        let rule = rules.actions[&action].clone();
        out.push((
            NewAction {
                player_id: player,
                action,
                quantity,
                metadata: None,
                idempotency_key: key,
                request: request.to_string(),
                day: DAY.into(),
                created_at: format!("{DAY}T00:00:00Z"),
            },
            rule,
        ));
    }
    out
}

/// An outcome with ledger ids replaced by the index of the action that wrote the row, so the
/// two databases' answers compare.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Recorded {
        reward: i64,
        capped: bool,
        balance: i64,
        day_count: i64,
        day_reward: i64,
    },
    Replayed {
        of: usize,
        reward: i64,
        balance: i64,
    },
    Conflict,
}

fn seen(outcome: Outcome, index: usize, ids: &mut HashMap<i64, usize>) -> Seen {
    match outcome {
        Outcome::Recorded { row, daily } => {
            ids.insert(row.id, index);
            Seen::Recorded {
                reward: row.reward_micro,
                capped: row.capped,
                balance: row.balance_after_micro,
                day_count: daily.count,
                day_reward: daily.reward_micro,
            }
        }
        Outcome::Replayed(row) => Seen::Replayed {
            of: ids.get(&row.id).copied().unwrap_or(usize::MAX),
            reward: row.reward_micro,
            balance: row.balance_after_micro,
        },
        Outcome::Conflict => Seen::Conflict,
    }
}

/// The reference: each action its own transaction through migration 0003's function, a
/// reused key answered from the row that holds it (what Gaian did before group commit).
async fn sequential(pool: &PgPool, actions: &[(NewAction, Rule)]) -> Vec<Seen> {
    let mut ids = HashMap::new();
    let mut out = Vec::new();
    for (i, (new, rule)) in actions.iter().enumerate() {
        let called: Result<(i64, i64, i64, bool, i64, i64), sqlx::Error> = sqlx::query_as(
            "SELECT ledger_id, balance_after, reward, was_capped, day_count, day_reward \
             FROM gaian_record_action($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&new.player_id)
        .bind(&new.action)
        .bind(new.quantity)
        .bind(&new.day)
        .bind(&new.created_at)
        .bind(&new.idempotency_key)
        .bind(&new.request)
        .bind(&new.metadata)
        .bind(rule.base_reward)
        .bind(rule.quantity_multiplier)
        .bind(rule.decay)
        .bind(rule.daily_cap)
        .fetch_one(pool)
        .await;
        let s = match called {
            Ok((id, balance, reward, capped, day_count, day_reward)) => {
                ids.insert(id, i);
                Seen::Recorded {
                    reward,
                    capped,
                    balance,
                    day_count,
                    day_reward,
                }
            }
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                let (id, reward, balance, request): (i64, i64, i64, String) = sqlx::query_as(
                    "SELECT id, reward_micro, balance_after_micro, request FROM ledger WHERE idempotency_key = $1",
                )
                .bind(&new.idempotency_key)
                .fetch_one(pool)
                .await
                .expect("the row holding the key");
                let same = serde_json::from_str::<Value>(&request).ok()
                    == serde_json::from_str::<Value>(&new.request).ok();
                if same {
                    Seen::Replayed {
                        of: ids.get(&id).copied().unwrap_or(usize::MAX),
                        reward,
                        balance,
                    }
                } else {
                    Seen::Conflict
                }
            }
            Err(e) => panic!("sequential action {i} failed: {e}"),
        };
        out.push(s);
    }
    out
}

/// The candidate: the same actions cut into batches of the given sizes (cycled).
async fn batched(pool: &PgPool, actions: &[(NewAction, Rule)], sizes: &[usize]) -> Vec<Seen> {
    let mut ids = HashMap::new();
    let mut out = Vec::new();
    let mut start = 0;
    for size in sizes.iter().cycle() {
        if start >= actions.len() {
            break;
        }
        let end = (start + size).min(actions.len());
        for (offset, result) in record_batch(pool, &actions[start..end])
            .await
            .into_iter()
            .enumerate()
        {
            let outcome = result.unwrap_or_else(|e| panic!("batched action failed: {e}"));
            out.push(seen(outcome, start + offset, &mut ids));
        }
        start = end;
    }
    out
}

/// What the database holds for one case's players: balances, today's counters, and each
/// ledger row (everything but its id) in id order.
type State = (
    BTreeMap<String, i64>,
    BTreeMap<(String, String), (i64, i64)>,
    Vec<(String, String, i64, i64, i64, bool, Option<String>)>,
);

async fn state(pool: &PgPool, case: u32) -> State {
    let like = format!("c{case}-%");
    let balances = sqlx::query_as::<_, (String, i64)>(
        "SELECT player_id, balance_micro FROM players WHERE player_id LIKE $1",
    )
    .bind(&like)
    .fetch_all(pool)
    .await
    .expect("players")
    .into_iter()
    .collect();
    let daily = sqlx::query_as::<_, (String, String, i64, i64)>(
        "SELECT player_id, action, count, reward_micro FROM daily_totals WHERE player_id LIKE $1",
    )
    .bind(&like)
    .fetch_all(pool)
    .await
    .expect("daily")
    .into_iter()
    .map(|(p, a, c, r)| ((p, a), (c, r)))
    .collect();
    let ledger = sqlx::query_as(
        "SELECT player_id, action, quantity, reward_micro, balance_after_micro, capped, idempotency_key \
         FROM ledger WHERE player_id LIKE $1 ORDER BY id",
    )
    .bind(&like)
    .fetch_all(pool)
    .await
    .expect("ledger");
    (balances, daily, ledger)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Random players, actions, quantities and reused keys (replays and conflicts, also
    /// inside one batch), cut into random batches: every answer and the final state equal
    /// one-action-per-transaction processing in the same order.
    #[test]
    fn batches_give_what_sequential_processing_gives(
        ops in prop::collection::vec(op(), 1..48),
        sizes in prop::collection::vec(1usize..=24, 1..6),
    ) {
        static CASE: AtomicU32 = AtomicU32::new(0);
        let case = CASE.fetch_add(1, Ordering::Relaxed);
        let pair = pair();
        let rules = Rules::embedded();
        let actions = actions(case, &ops, &rules);
        let (want, got, want_state, got_state) = runtime().block_on(async {
            let want = sequential(&pair.sequential, &actions).await;
            let got = batched(&pair.batched, &actions, &sizes).await;
            (want, got, state(&pair.sequential, case).await, state(&pair.batched, case).await)
        });
        prop_assert_eq!(got, want);
        prop_assert_eq!(got_state, want_state);
    }
}

async fn on_postgres(name: &str) -> PgPool {
    assert!(engine_ready(), "needs the Docker engine");
    let pg = tokio::task::spawn_blocking(shared_postgres)
        .await
        .expect("container");
    pool_of(create_database(pg, name).await).await
}

fn action(player: &str, action: &str, rule: &Rule) -> (NewAction, Rule) {
    let request = json!({"player_id": player, "action": action, "quantity": 1, "metadata": null});
    (
        NewAction {
            player_id: player.into(),
            action: action.into(),
            quantity: 1,
            metadata: None,
            idempotency_key: None,
            request: request.to_string(),
            day: DAY.into(),
            created_at: format!("{DAY}T00:00:00Z"),
        },
        rule.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_action_fails_alone_and_leaves_nothing_behind() {
    let pool = on_postgres("batch_isolation").await;
    let rules = Rules::embedded();
    let tree = &rules.actions["plant_tree"];
    // A player whose next reward overflows the balance, and a rule that breaks the ledger's
    // CHECK (reward_micro >= 0): both fail inside the batch function.
    sqlx::query(
        "INSERT INTO players (player_id, balance_micro, created_at) VALUES ('rich', $1, 'x')",
    )
    .bind(i64::MAX - 1)
    .execute(&pool)
    .await
    .expect("rich player");
    let negative = Rule {
        base_reward: -5_000_000,
        daily_cap: None,
        ..tree.clone()
    };
    let batch = vec![
        action("ok", "plant_tree", tree),
        action("rich", "plant_tree", tree),
        action("ok", "plant_tree", tree),
        action("neg", "plant_tree", &negative),
        action("ok", "plant_tree", tree),
    ];
    let results = record_batch(&pool, &batch).await;
    let rewards: Vec<Option<i64>> = results
        .iter()
        .map(|r| match r {
            Ok(Outcome::Recorded { row, .. }) => Some(row.reward_micro),
            _ => None,
        })
        .collect();
    // The three good actions are recorded as in sequence (5, then ×0.9, then ×0.81).
    assert_eq!(
        rewards,
        [
            Some(5_000_000),
            None,
            Some(4_500_000),
            None,
            Some(4_050_000)
        ]
    );
    assert!(results[1].is_err() && results[3].is_err(), "{results:?}");
    // Nothing of the failed actions was written: no counter, no ledger row, no new player.
    let counters: Vec<(String, i64)> =
        sqlx::query_as("SELECT player_id, count FROM daily_totals ORDER BY player_id")
            .fetch_all(&pool)
            .await
            .expect("counters");
    assert_eq!(counters, [("ok".to_string(), 3)]);
    let ledger: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger")
        .fetch_one(&pool)
        .await
        .expect("ledger");
    assert_eq!(ledger, 3);
    let players: Vec<(String, i64)> =
        sqlx::query_as("SELECT player_id, balance_micro FROM players ORDER BY player_id")
            .fetch_all(&pool)
            .await
            .expect("players");
    assert_eq!(
        players,
        [
            ("ok".to_string(), 13_550_000),
            ("rich".to_string(), i64::MAX - 1)
        ]
    );
}

/// Gaian as a process on PostgreSQL, stopped by `signal` while 32 clients post actions:
/// every answered action is in the ledger as answered, and no action is half-applied
/// (balances, ledger and daily counters agree for every player). Returns the exit status.
async fn stop_under_load(signal: &str, name: &str) -> std::process::ExitStatus {
    assert!(engine_ready(), "needs the Docker engine");
    let pg = tokio::task::spawn_blocking(shared_postgres)
        .await
        .expect("container");
    let url = create_database(pg, name).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_devtui"))
        .args(["gaian", "serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &url)
        .env("TRAINING_DATA_PATH", dir.path().join("training"))
        .env_remove("REDIS_URL")
        .env_remove("GAIAN_CONFIG")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn gaian");
    let client = reqwest::Client::new();
    eventually("gaian healthy", || async {
        client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;

    let answers = std::sync::Arc::new(AtomicU32::new(0));
    let mut workers = Vec::new();
    for w in 0..32 {
        let client = client.clone();
        let answers = answers.clone();
        workers.push(tokio::spawn(async move {
            // (action_id, reward, balance after) of every answered action.
            let mut answered = Vec::new();
            for i in 0.. {
                let body = json!({
                    "player_id": format!("kill-{}", (w + i) % 8),
                    "action": ACTIONS[i % ACTIONS.len()],
                    "idempotency_key": format!("kill-{w}-{i}"),
                });
                let sent = client
                    .post(format!("http://127.0.0.1:{port}/api/v1/action"))
                    .json(&body)
                    .send()
                    .await;
                let Ok(r) = sent else { break };
                if r.status() == 503 {
                    // The health probe timed out on a busy machine: nothing was recorded,
                    // and the answer says to try again.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let Ok(v) = r.json::<Value>().await else {
                    break;
                };
                match v["action_id"].as_i64() {
                    Some(id) => {
                        answered.push((id, micro(&v["reward_sila"]), micro(&v["balance_sila"])));
                        answers.fetch_add(1, Ordering::Relaxed);
                    }
                    None => break,
                }
            }
            answered
        }));
    }
    // Stopped well into the load, however slow the (shared) machine is today.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while answers.load(Ordering::Relaxed) < 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} actions answered in 90 s",
            answers.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.id().expect("pid");
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("gaian exits within 10 s")
        .expect("wait");
    let mut answered = Vec::new();
    for w in workers {
        answered.extend(w.await.expect("worker"));
    }
    assert!(
        answered.len() >= 200,
        "load reached the server: {}",
        answered.len()
    );

    let pool = PgPool::connect(&url).await.expect("connect");
    let stored: HashMap<i64, (i64, i64)> = sqlx::query_as::<_, (i64, i64, i64)>(
        "SELECT id, reward_micro, balance_after_micro FROM ledger",
    )
    .fetch_all(&pool)
    .await
    .expect("ledger")
    .into_iter()
    .map(|(id, r, b)| (id, (r, b)))
    .collect();
    for (id, reward, balance) in &answered {
        assert_eq!(
            stored.get(id),
            Some(&(*reward, *balance)),
            "answered action {id} is stored as answered"
        );
    }
    let broken: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT p.player_id, p.balance_micro, CAST(COALESCE(SUM(l.reward_micro), 0) AS BIGINT) \
         FROM players p LEFT JOIN ledger l ON l.player_id = p.player_id \
         GROUP BY p.player_id, p.balance_micro HAVING p.balance_micro <> COALESCE(SUM(l.reward_micro), 0)",
    )
    .fetch_all(&pool)
    .await
    .expect("balances");
    assert!(broken.is_empty(), "balance != sum(ledger): {broken:?}");
    let counters: Vec<(String, String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT d.player_id, d.action, d.count, d.reward_micro, \
                CAST(COUNT(l.id) AS BIGINT), CAST(COALESCE(SUM(l.reward_micro), 0) AS BIGINT) \
         FROM daily_totals d LEFT JOIN ledger l \
           ON l.player_id = d.player_id AND l.day = d.day AND l.action = d.action \
         GROUP BY d.player_id, d.day, d.action, d.count, d.reward_micro",
    )
    .fetch_all(&pool)
    .await
    .expect("counters");
    assert!(!counters.is_empty());
    for (player, action, count, reward, rows, sum) in counters {
        assert_eq!(
            (count, reward),
            (rows, sum),
            "{player} {action}: daily counter == its ledger rows"
        );
    }
    pool.close().await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_loses_no_answered_action_and_leaves_none_half_applied() {
    let status = stop_under_load("KILL", "sigkill").await;
    assert!(!status.success(), "killed: {status}");
}

/// Graceful shutdown drains the writers: requests in flight get their answers (recorded as
/// answered) and Gaian exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_in_flight_actions_and_exits_cleanly() {
    let status = stop_under_load("TERM", "sigterm").await;
    assert!(status.success(), "clean exit: {status}");
}

/// The reward the batch function computes in place (migration 0005) is `Rule::reward`'s,
/// rounding, decay steps and caps included, over the grid the `gaian_reward` test uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_rewards_match_the_rust_rule() {
    use devtui::gaian::rules::Reward;
    let pool = on_postgres("batch_reward").await;
    let mut cases = Vec::new();
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
                        cases.push((rule.clone(), quantity, nth, earned));
                    }
                }
            }
        }
    }
    for (chunk_no, chunk) in cases.chunks(64).enumerate() {
        let players: Vec<String> = (0..chunk.len())
            .map(|i| format!("r{chunk_no}-{i}"))
            .collect();
        // The day so far: nth - 1 actions that earned `earned`.
        let counts: Vec<i64> = chunk.iter().map(|c| c.2 - 1).collect();
        let earned: Vec<i64> = chunk.iter().map(|c| c.3).collect();
        sqlx::query(
            "INSERT INTO daily_totals (player_id, day, action, count, reward_micro) \
             SELECT p, $4, 'grid', c, e FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS t(p, c, e) WHERE c > 0",
        )
        .bind(&players)
        .bind(&counts)
        .bind(&earned)
        .bind(DAY)
        .execute(&pool)
        .await
        .expect("the day so far");
        let batch: Vec<(NewAction, Rule)> = chunk
            .iter()
            .zip(&players)
            .map(|((rule, quantity, ..), player)| {
                let (mut new, rule) = action(player, "grid", rule);
                new.quantity = *quantity;
                (new, rule)
            })
            .collect();
        let results = record_batch(&pool, &batch).await;
        for ((rule, quantity, nth, earned), result) in chunk.iter().zip(results) {
            let Ok(Outcome::Recorded { row, daily }) = result else {
                panic!("not recorded: {result:?}");
            };
            assert_eq!(daily.count, *nth);
            assert_eq!(
                Reward {
                    micro: row.reward_micro,
                    capped: row.capped
                },
                rule.reward(*quantity, *nth, *earned),
                "{rule:?} quantity {quantity} nth {nth} earned {earned}"
            );
        }
    }
}
