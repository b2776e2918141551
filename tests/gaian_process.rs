//! The real `devtui` binary: graceful shutdown under load, healthcheck exit codes, start-up
//! errors, and the supervisor that runs Gaian natively.

mod gaian_support;

use std::collections::{BTreeSet, HashMap};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use devtui::supervisor::{Spec, State, Stream, Supervisor};
use gaian_support::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_devtui");

fn gaian_command(dir: &std::path::Path, port: u16) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["gaian", "serve", "--addr", &format!("127.0.0.1:{port}")])
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("gaian.db").display()),
        )
        .env("TRAINING_DATA_PATH", dir.join("training"))
        .env_remove("REDIS_URL")
        .env_remove("GAIAN_CONFIG")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    cmd
}

async fn wait_healthy(client: &reqwest::Client, port: u16) {
    eventually("gaian healthy", || async {
        client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_loses_no_accepted_action() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut child = gaian_command(dir.path(), port)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gaian");
    let client = reqwest::Client::new();
    wait_healthy(&client, port).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..16 {
        let client = client.clone();
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            for i in 0..10_000 {
                if stop.load(Ordering::Relaxed) && i > 0 && accepted.is_empty() {
                    break;
                }
                let body = json!({"player_id": format!("term-{}", w % 4), "action": "recycle", "quantity": 1});
                let sent = client
                    .post(format!("http://127.0.0.1:{port}/api/v1/action"))
                    .json(&body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                        Ok(v) => accepted.push(v["action_id"].as_i64().expect("id")),
                        Err(_) => break,
                    },
                    _ => break,
                }
            }
            accepted
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pid = child.id().expect("pid");
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    stop.store(true, Ordering::Relaxed);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("gaian exits within 10 s of SIGTERM")
        .expect("wait");
    assert!(status.success(), "clean exit: {status}");
    let mut accepted = BTreeSet::new();
    for w in workers {
        accepted.extend(w.await.expect("worker"));
    }
    assert!(
        accepted.len() > 10,
        "load reached the server: {}",
        accepted.len()
    );

    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("gaian.db").display()
    ))
    .await
    .expect("open db");
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM ledger")
        .fetch_all(&pool)
        .await
        .expect("ids");
    let stored: BTreeSet<i64> = ids.into_iter().collect();
    let lost: Vec<_> = accepted.difference(&stored).collect();
    assert!(lost.is_empty(), "accepted but not stored: {lost:?}");
    let balances: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT p.player_id, p.balance_micro, CAST(COALESCE(SUM(l.reward_micro), 0) AS BIGINT) \
         FROM players p LEFT JOIN ledger l ON l.player_id = p.player_id GROUP BY p.player_id, p.balance_micro",
    )
    .fetch_all(&pool)
    .await
    .expect("balances");
    for (player, balance, sum) in balances {
        assert_eq!(balance, sum, "{player}: balance == sum(ledger)");
    }
    // Every stored action reached the training data, flushed on shutdown.
    let mut trained = BTreeSet::new();
    for entry in std::fs::read_dir(dir.path().join("training"))
        .expect("training dir")
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).expect("read");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).expect("json line");
            trained.insert(v["action_id"].as_i64().expect("id"));
        }
    }
    assert_eq!(
        trained, stored,
        "training data has every stored action once"
    );
}

#[tokio::test]
async fn healthcheck_exits_zero_only_when_healthy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _child = gaian_command(dir.path(), port)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gaian");
    wait_healthy(&reqwest::Client::new(), port).await;
    let ok = tokio::process::Command::new(BIN)
        .args([
            "gaian",
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/health"),
        ])
        .output()
        .await
        .expect("healthcheck");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let closed = free_port();
    let down = tokio::process::Command::new(BIN)
        .args([
            "gaian",
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{closed}/health"),
        ])
        .output()
        .await
        .expect("healthcheck");
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("not reachable"));
}

#[tokio::test]
async fn a_broken_rules_file_stops_start_up_with_file_line_col() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, "actions:\n  a:\n    base_reward: \"1.1234567\"\n").expect("write");
    let out = gaian_command(dir.path(), free_port())
        .env("GAIAN_CONFIG", &rules)
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:18: base_reward", rules.display())),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    assert!(!dir.path().join("gaian.db").exists(), "nothing created");

    let bad_url = gaian_command(dir.path(), free_port())
        .env("DATABASE_URL", "mysql://x")
        .output()
        .await
        .expect("run");
    assert_eq!(bad_url.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_url.stderr).contains("DATABASE_URL must start with"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_restarts_a_crashed_gaian_and_stops_it_with_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut spec = Spec::gaian(&["--addr", &format!("127.0.0.1:{port}")]).expect("spec");
    spec.program = BIN.into();
    spec.backoff_initial = Duration::from_millis(200);
    let spec = spec
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("gaian.db").display()),
        )
        .env("TRAINING_DATA_PATH", dir.path().join("training"))
        .env("RUST_LOG", "info");
    let sup = Supervisor::start(spec);
    let client = reqwest::Client::new();
    wait_healthy(&client, port).await;
    let State::Running { pid: first } = sup.status().state else {
        panic!("running: {:?}", sup.status());
    };
    eventually("captured start-up log", || async {
        sup.logs()
            .iter()
            .any(|l| l.stream == Stream::Stderr && l.text.contains("gaian listening"))
    })
    .await;

    // A crash: SIGKILL, so the server gets no chance to shut down.
    std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .expect("kill");
    eventually("restarted", || async {
        let s = sup.status();
        s.restarts >= 1 && matches!(s.state, State::Running { pid } if pid != first)
    })
    .await;
    wait_healthy(&client, port).await;
    assert!(
        sup.logs()
            .iter()
            .any(|l| l.stream == Stream::Supervisor && l.text.contains("restarting"))
    );

    let end = sup.stop().await;
    match end.state {
        State::Stopped { exit } => {
            assert!(exit.contains("exit status: 0"), "graceful SIGTERM: {exit}")
        }
        other => panic!("stopped: {other:?}"),
    }
    assert!(
        client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .is_err(),
        "nothing listens after stop"
    );
}

#[tokio::test]
async fn supervisor_log_buffer_is_bounded() {
    let spec = Spec {
        log_lines: 50,
        backoff_initial: Duration::from_secs(1),
        backoff_max: Duration::from_secs(1),
        stop_grace: Duration::from_secs(2),
        ..Spec::new(
            "counter",
            "sh",
            vec![
                "-c".into(),
                "i=0; while [ $i -lt 500 ]; do i=$((i+1)); echo line $i; done; sleep 30".into(),
            ],
        )
    };
    let sup = Supervisor::start(spec);
    eventually("all lines read", || async {
        sup.logs().last().is_some_and(|l| l.text == "line 500")
    })
    .await;
    let logs = sup.logs();
    assert_eq!(logs.len(), 50);
    assert_eq!(logs[0].text, "line 451");
    let counts: HashMap<_, usize> = logs.iter().fold(HashMap::new(), |mut m, l| {
        *m.entry(format!("{:?}", l.stream)).or_default() += 1;
        m
    });
    assert_eq!(counts.get("Stdout"), Some(&50));
    let end = sup.stop().await;
    assert!(matches!(end.state, State::Stopped { .. }));
}

/// Runs the real binary with `RUST_LOG` (None: its default filter) and JSON logs, sends three
/// health probes and one action, stops it with SIGTERM and returns its log lines.
async fn log_lines_for_health_and_action(rust_log: Option<&str>) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut cmd = gaian_command(dir.path(), port);
    cmd.env_remove("RUST_LOG").env("LOG_FORMAT", "json");
    if let Some(filter) = rust_log {
        cmd.env("RUST_LOG", filter);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gaian");
    let client = reqwest::Client::new();
    wait_healthy(&client, port).await;
    for _ in 0..3 {
        let r = client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .expect("health");
        assert_eq!(r.status(), 200);
    }
    let r = client
        .post(format!("http://127.0.0.1:{port}/api/v1/action"))
        .json(&json!({"player_id": "logged", "action": "recycle"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let pid = child.id().expect("pid");
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("gaian exits within 10 s of SIGTERM")
        .expect("wait");
    assert!(out.status.success(), "clean exit: {}", out.status);
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect()
}

fn requests_to<'a>(lines: &'a [Value], path: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["target"] == "gaian::http" && l["fields"]["path"] == path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probes_log_at_debug_and_actions_at_info() {
    // The default filter (info): the action is logged, the probes are not.
    let lines = log_lines_for_health_and_action(None).await;
    let actions = requests_to(&lines, "/api/v1/action");
    assert_eq!(actions.len(), 1, "{lines:#?}");
    assert_eq!(actions[0]["level"], "INFO");
    let health = requests_to(&lines, "/health");
    assert!(health.is_empty(), "health probes at info: {health:#?}");
    // At debug the probes are there, each at debug.
    let lines = log_lines_for_health_and_action(Some("debug,sqlx=warn")).await;
    let health = requests_to(&lines, "/health");
    assert!(health.len() >= 3, "{lines:#?}");
    assert!(health.iter().all(|l| l["level"] == "DEBUG"), "{health:#?}");
}
