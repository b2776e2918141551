//! The watcher with no engine: it reports `Unreachable` (never an empty project) and retries
//! with growing backoff. Its own test binary, because it points DOCKER_HOST at a dead socket.

use std::time::Duration;

use devtui::engine::EngineUpdate;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn watcher_reports_unreachable_and_backs_off() {
    // SAFETY: the only test in this binary; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("DOCKER_HOST", "unix:///nonexistent/devtui-watch.sock") };
    let cancel = CancellationToken::new();
    let mut rx = devtui::engine::watch::watch("anything".into(), cancel.clone());
    let mut delays = Vec::new();
    while delays.len() < 3 {
        let update = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("an update in time")
            .expect("watcher alive");
        match update {
            EngineUpdate::Unreachable { error, retry_in } => {
                assert!(error.contains("cannot reach the Docker engine"), "{error}");
                delays.push(retry_in);
            }
            other => panic!("no engine, yet got {other:?}"),
        }
    }
    assert!(delays[0] < delays[1] && delays[1] < delays[2], "{delays:?}");
    cancel.cancel();
    // Cancelled: the channel closes.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while rx.recv().await.is_some() {}
    })
    .await;
    assert!(closed.is_ok(), "watcher stopped after cancel");
}
