//! Hot reload against the real engine and real processes: a toggled service's develop.watch
//! rules (sync, sync+restart, rebuild) applied to it alone, a native service restarted on a
//! change, and the loop guard holding when a service writes into its own tree.
//!
//! The reloader runs in the test (`ops::reload::run`, as the TUI runs it); toggles go through
//! the saved state file (`ops::reload::save`, what `devtui reload` and the TUI's key do).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use devtui::engine::client;
use devtui::ops::backend::Target;
use devtui::ops::reload::{self, Event};
use devtui::project::{Discovery, Project};
use devtui::supervisor::observe::{self, Native};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Each test process keeps its toggles in its own state directory.
fn private_state() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = std::env::temp_dir().join(format!("devtui-reload-e2e-{}", std::process::id()));
        // SAFETY: set once, before any thread of this test binary reads the environment for
        // the state directory (every test calls this first).
        unsafe { std::env::set_var("XDG_STATE_HOME", dir) };
    });
}

const COMPOSE: &str = r#"
services:
  app:
    build:
      context: .
      args:
        BASE: ${DEVTUI_BASE_IMAGE:-devtui-standin/debian:bookworm}
    init: true
    develop:
      watch:
        - {action: sync+restart, path: ./src, target: /app, ignore: ["*.tmp"]}
        - {action: rebuild, path: ./Dockerfile}
  synced:
    build:
      context: .
      args:
        BASE: ${DEVTUI_BASE_IMAGE:-devtui-standin/debian:bookworm}
    init: true
    develop:
      watch:
        - {action: sync, path: ./src, target: /app}
  other:
    image: ${DEVTUI_BASE_IMAGE:-devtui-standin/debian:bookworm}
    init: true
    command: [sleep, infinity]
"#;

const DOCKERFILE: &str = "ARG BASE\nFROM ${BASE}\nCOPY src/ /app/\nCMD [\"sleep\", \"infinity\"]\n";

async fn load(dir: &Path, project: &str) -> Project {
    let discovery = Discovery {
        files: vec![dir.join("compose.yaml")],
        project_name: Some(project.to_string()),
    };
    devtui::project::load(&discovery, &[])
        .await
        .expect("project loads")
}

/// Starts the reloader for `project`; its events arrive on the receiver.
fn start(
    project: Project,
    natives: Vec<Arc<Native>>,
    cancel: &CancellationToken,
) -> mpsc::Receiver<Event> {
    let target = Target {
        engine: client::Lazy::default(),
        compose: devtui::ops::compose_for(&project),
        project: project.name.clone(),
        natives: devtui::supervisor::set::NativeSet::new(natives),
    };
    let ctx = reload::Context {
        target,
        project,
        defaults: Default::default(),
        commands: Default::default(),
    };
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(reload::run(ctx, cancel.child_token(), tx, |e| e));
    rx
}

/// Waits for an event `want` accepts, printing every event on the way.
async fn wait_for(
    rx: &mut mpsc::Receiver<Event>,
    what: &str,
    want: impl Fn(&Event) -> bool,
) -> Event {
    let wait = async {
        loop {
            let event = rx.recv().await.expect("the reloader runs");
            eprintln!("event: {event:?}");
            if want(&event) {
                return event;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(180), wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// No event `unwanted` accepts within `within`.
async fn none_for(
    rx: &mut mpsc::Receiver<Event>,
    within: Duration,
    unwanted: impl Fn(&Event) -> bool,
) {
    let _ = tokio::time::timeout(within, async {
        while let Some(event) = rx.recv().await {
            eprintln!("event: {event:?}");
            assert!(!unwanted(&event), "unexpected {event:?}");
        }
    })
    .await;
}

fn reloaded(service: &str) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::Reloaded { service: s, .. } if s == service)
}

fn line(service: &'static str, text: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Line { service: s, text: t, .. } if s == service && t.contains(text))
}

/// A container's id and start time, by compose service.
fn started(project: &str, service: &str) -> (String, String) {
    let name = format!("{project}-{service}-1");
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", &name])
        .output()
        .expect("docker inspect");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (id, at) = text
        .split_once(' ')
        .unwrap_or_else(|| panic!("no container {name}"));
    (id.to_string(), at.to_string())
}

fn cat(project: &str, service: &str, file: &str) -> String {
    let out = Command::new("docker")
        .args(["exec", &format!("{project}-{service}-1"), "cat", file])
        .output()
        .expect("docker exec");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn develop_watch_rules_apply_to_the_toggled_service_only() {
    private_state();
    if !engine_ready() {
        return;
    }
    let project = unique_name("reload-rules");
    let _cleanup = Cleanup::new(&project);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("src")).expect("mkdir");
    std::fs::write(dir.path().join("src/msg"), "one\n").expect("write");
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE).expect("write");
    std::fs::write(dir.path().join("Dockerfile"), DOCKERFILE).expect("write");
    let mut up = Command::new("docker");
    up.args(["compose", "-p", &project, "up", "-d", "--build", "--wait"])
        .current_dir(dir.path());
    with_images(&mut up);
    let out = up.output().expect("compose up");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = load(dir.path(), &project).await;
    let cancel = CancellationToken::new();
    let _stop = cancel.clone().drop_guard();
    let mut events = start(model, Vec::new(), &cancel);
    wait_for(&mut events, "the first states", |e| {
        matches!(e, Event::States(_))
    })
    .await;
    let before = |s| started(&project, s);
    let (other0, synced0) = (before("other"), before("synced"));
    let app0 = before("app");

    // sync+restart: the file lands in the container and the container restarts.
    reload::save(&project, "app", true).expect("toggle");
    wait_for(&mut events, "app's watcher", line("app", "reload on")).await;
    std::fs::write(dir.path().join("src/msg"), "two\n").expect("edit");
    std::fs::write(dir.path().join("src/scratch.tmp"), "ignored\n").expect("edit");
    let done = wait_for(&mut events, "app's reload", reloaded("app")).await;
    let Event::Reloaded { summary, ok, .. } = done else {
        unreachable!()
    };
    assert!(ok, "{summary}");
    assert!(summary.contains("1 file changed (src/msg)"), "{summary}");
    assert!(summary.contains("sync+restart"), "{summary}");
    assert_eq!(cat(&project, "app", "/app/msg"), "two");
    let app1 = before("app");
    assert_eq!(app1.0, app0.0, "restarted, not recreated");
    assert_ne!(app1.1, app0.1, "restarted");
    assert_eq!(
        cat(&project, "synced", "/app/msg"),
        "one",
        "synced's reload is off"
    );
    assert_eq!(before("other"), other0, "other untouched");
    assert_eq!(before("synced"), synced0, "synced untouched");

    // sync: the file lands without a restart.
    reload::save(&project, "app", false).expect("toggle");
    reload::save(&project, "synced", true).expect("toggle");
    wait_for(&mut events, "synced's watcher", line("synced", "reload on")).await;
    std::fs::write(dir.path().join("src/msg"), "three\n").expect("edit");
    let done = wait_for(&mut events, "synced's reload", reloaded("synced")).await;
    assert!(
        matches!(&done, Event::Reloaded { ok: true, summary, .. } if summary.contains("sync →")),
        "{done:?}"
    );
    assert_eq!(cat(&project, "synced", "/app/msg"), "three");
    assert_eq!(before("synced"), synced0, "a sync does not restart");
    assert_eq!(
        cat(&project, "app", "/app/msg"),
        "two",
        "app's reload is off"
    );
    assert_eq!(before("app"), app1, "app untouched once off");

    // rebuild: only app's image is built and only its container recreated.
    reload::save(&project, "synced", false).expect("toggle");
    reload::save(&project, "app", true).expect("toggle");
    wait_for(&mut events, "app's watcher", line("app", "reload on")).await;
    let mut dockerfile = DOCKERFILE.to_string();
    dockerfile.push_str("RUN echo v2 > /v\n");
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).expect("edit");
    let done = wait_for(&mut events, "app's rebuild", reloaded("app")).await;
    assert!(
        matches!(&done, Event::Reloaded { ok: true, summary, .. } if summary.contains("rebuild")),
        "{done:?}"
    );
    assert_eq!(cat(&project, "app", "/v"), "v2");
    assert_ne!(before("app").0, app1.0, "recreated from the new image");
    assert_eq!(
        before("synced"),
        synced0,
        "synced untouched by app's rebuild"
    );
    assert_eq!(before("other"), other0, "other untouched by app's rebuild");
    none_for(&mut events, Duration::from_secs(1), reloaded("synced")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_service_restarts_on_change_and_the_loop_guard_holds() {
    private_state();
    // Native services need no engine, but loading the model runs `docker compose config`.
    if !engine_ready() {
        return;
    }
    let project = unique_name("reload-native");
    let dir = tempfile::tempdir().expect("tempdir");
    for d in ["api", "writer"] {
        std::fs::create_dir(dir.path().join(d)).expect("mkdir");
    }
    std::fs::write(dir.path().join("api/msg"), "one\n").expect("write");
    std::fs::create_dir(dir.path().join("api/node_modules")).expect("mkdir");
    let compose = r#"
services: {}
x-devtui:
  native:
    api:
      command: [sh, -c, 'cat api/msg > seen; exec sleep 600']
      watch: ./api
    writer:
      command: [sh, -c, 'date +%s%N > writer/boot; while :; do date +%s%N > writer/tick; sleep 1; done']
      watch: ./writer
"#;
    std::fs::write(dir.path().join("compose.yaml"), compose).expect("write");
    let model = load(dir.path(), &project).await;
    let natives: Vec<Arc<Native>> = model
        .natives
        .iter()
        .map(|n| Native::start(n.clone(), &model).expect("starts"))
        .collect();
    let api = natives
        .iter()
        .find(|n| n.service.name == "api")
        .expect("api")
        .clone();
    let cancel = CancellationToken::new();
    let _stop = cancel.clone().drop_guard();
    let mut events = start(model, natives.clone(), &cancel);
    wait_for(&mut events, "the first states", |e| {
        matches!(e, Event::States(_))
    })
    .await;
    let seen = dir.path().join("seen");
    for _ in 0..50 {
        if std::fs::read_to_string(&seen).is_ok_and(|s| s.trim() == "one") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid0 = observe::pid(&api.supervisor.status()).expect("running");

    reload::save(&project, "api", true).expect("toggle");
    wait_for(&mut events, "api's watcher", line("api", "reload on")).await;
    // Dependencies are not watched.
    std::fs::write(dir.path().join("api/node_modules/x.js"), "x\n").expect("edit");
    none_for(&mut events, Duration::from_millis(800), reloaded("api")).await;
    std::fs::write(dir.path().join("api/msg"), "two\n").expect("edit");
    let done = wait_for(&mut events, "api's restart", reloaded("api")).await;
    assert!(
        matches!(&done, Event::Reloaded { ok: true, summary, .. } if summary.contains("api/msg") && summary.contains("restart")),
        "{done:?}"
    );
    let pid1 = observe::pid(&api.supervisor.status()).expect("running");
    assert_ne!(pid0, pid1, "a new process");
    assert_eq!(std::fs::read_to_string(&seen).expect("seen").trim(), "two");

    // writer writes into its own tree every second: the guard stops the loop.
    reload::save(&project, "writer", true).expect("toggle");
    wait_for(&mut events, "the guard", line("writer", "reload paused")).await;
    let mut restarts = 0;
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = events.recv().await {
            restarts += usize::from(reloaded("writer")(&e));
        }
    })
    .await;
    assert_eq!(restarts, 0, "no reload while the guard holds");
    cancel.cancel();
    devtui::supervisor::lifecycle::stop_all(&natives).await;
}

const TUI_COMPOSE: &str = r#"
services:
  app:
    build:
      context: .
      args:
        BASE: ${DEVTUI_BASE_IMAGE:-devtui-standin/debian:bookworm}
    init: true
    develop:
      watch:
        - {action: sync+restart, path: ./src, target: /app}
  other:
    image: ${DEVTUI_BASE_IMAGE:-devtui-standin/debian:bookworm}
    init: true
    command: [sleep, infinity]
"#;

/// The real binary in a terminal: a `devtui reload` from another shell reaches the running
/// TUI (the row's mark), an edit reloads the service (the row's details and its log pane),
/// the key toggles it back off and `:reload` toggles by name.
#[test]
fn the_tui_follows_cli_toggles_and_shows_each_reload() {
    if !engine_ready() || !tmux_ready() {
        return;
    }
    let project = unique_name("reload-tui");
    let _cleanup = Cleanup::new(&project);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("data dir");
    std::fs::create_dir(dir.path().join("src")).expect("mkdir");
    std::fs::write(dir.path().join("src/msg"), "one\n").expect("write");
    std::fs::write(dir.path().join("compose.yaml"), TUI_COMPOSE).expect("write");
    std::fs::write(dir.path().join("Dockerfile"), DOCKERFILE).expect("write");
    let state = dir.path().join("state");
    let cli = |args: &[&str]| {
        let mut cmd = devtui(dir.path(), data.path());
        cmd.env("XDG_STATE_HOME", &state)
            .stdin(std::process::Stdio::null())
            .args(["-p", &project])
            .args(args);
        run(&mut cmd)
    };
    let out = cli(&["up", "--no-tui"]);
    assert_eq!(out.status.code(), Some(0), "up: {}", stderr(&out));
    let other0 = started(&project, "other");

    let bin = env!("CARGO_BIN_EXE_devtui");
    let command = format!(
        "XDG_DATA_HOME={data} XDG_CONFIG_HOME={data}/config XDG_STATE_HOME={state} \
         {bin} -p {project}; echo DEVTUI-EXIT=$?; sleep 600",
        data = data.path().display(),
        state = state.display(),
    );
    let term = common::tmux::Tmux::start(format!("{project}-sock"), 120, 40, dir.path(), &command);
    term.wait_for("app running", |s| {
        s.lines()
            .any(|l| l.contains(" app ") && l.contains("running"))
    });
    let out = cli(&["reload", "app", "on"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    term.wait_for("app's reload mark", |s| s.contains("app ⟳"));
    std::fs::write(dir.path().join("src/msg"), "two\n").expect("edit");
    term.wait_for("the reload in app's details", |s| {
        s.contains("reload: 1 file changed (src/msg) → sync+restart → running in")
    });
    term.keys(&["Enter"]);
    term.wait_for("the reload in app's log pane", |s| {
        s.contains("reload on: watching src (sync+restart)")
    });
    term.keys(&["Escape"]);
    assert_eq!(cat(&project, "app", "/app/msg"), "two");
    term.keys(&["W"]);
    term.wait_for("app's mark gone", |s| {
        s.contains("reload off for app") && !s.contains("app ⟳")
    });
    let out = cli(&["reload", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let app = listed
        .as_array()
        .and_then(|a| a.iter().find(|s| s["service"] == "app"))
        .expect("app listed");
    assert_eq!(app["reload"], false, "the key saved the toggle: {listed}");
    term.keys(&[":"]);
    term.type_text("reload other on");
    term.keys(&["Enter"]);
    term.wait_for("other's mark and why nothing is watched", |s| {
        s.contains("other ⟳") && s.contains("no develop.watch")
    });
    assert_eq!(started(&project, "other"), other0, "other never restarted");
    term.keys(&["q"]);
    let screen = term.wait_for("devtui to exit", |s| s.contains("DEVTUI-EXIT="));
    assert!(screen.contains("DEVTUI-EXIT=0"), "{screen}");
}

/// The bundled stack: with reload on for the gaian container, an edit of the stack's rules
/// file is synced over the container's and Gaian serves the new rules, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundled_gaian_rules_sync_into_its_container_live() {
    private_state();
    if !engine_ready() {
        return;
    }
    let project = unique_name("reload-gaian");
    let _cleanup = Cleanup::new(&project);
    let cwd = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let [pg, redis, gaian] = free_ports::<3>();
    let out = run(devtui(cwd.path(), data.path())
        .args(["-p", &project, "up", "--no-tui"])
        .env("POSTGRES_PORT", pg.to_string())
        .env("REDIS_PORT", redis.to_string())
        .env("GAIAN_PORT", gaian.to_string()));
    assert_eq!(out.status.code(), Some(0), "up: {}", stderr(&out));
    let stack = data.path().join("devtui/stack");
    let rules_file = stack.join("gaian-rules.yaml");
    let rules = std::fs::read_to_string(&rules_file).expect("the stack's rules file");
    let model = load(&stack, &project).await;
    let cancel = CancellationToken::new();
    let _stop = cancel.clone().drop_guard();
    let mut events = start(model, Vec::new(), &cancel);
    let gaian0 = started(&project, "gaian");
    reload::save(&project, "gaian", true).expect("toggle");
    wait_for(
        &mut events,
        "the initial sync",
        line("gaian", "initial sync"),
    )
    .await;
    let edited = rules.replacen("base_reward: \"5\"", "base_reward: \"7\"", 1);
    assert_ne!(edited, rules, "plant_tree's reward is in the file");
    std::fs::write(&rules_file, edited).expect("edit");
    let done = wait_for(&mut events, "gaian's sync", reloaded("gaian")).await;
    assert!(
        matches!(&done, Event::Reloaded { ok: true, summary, .. } if summary.contains("gaian-rules.yaml") && summary.contains("sync")),
        "{done:?}"
    );
    let url = format!("http://127.0.0.1:{gaian}/api/v1/rules");
    let mut served = String::new();
    for _ in 0..100 {
        let out = Command::new("curl")
            .args(["-fsS", &url])
            .output()
            .expect("curl");
        served = String::from_utf8_lossy(&out.stdout).into_owned();
        let rules: serde_json::Value = serde_json::from_str(&served).unwrap_or_default();
        let plant = rules["actions"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["action"] == "plant_tree"))
            .and_then(|r| r["base_reward_sila"].as_str())
            .unwrap_or_default()
            .to_string();
        if plant.starts_with('7') {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served.contains("/etc/gaian/rules.yaml"), "{served}");
    assert!(
        served.contains("\"base_reward_sila\":\"7"),
        "the new reward is served: {served}"
    );
    assert_eq!(started(&project, "gaian"), gaian0, "synced, not restarted");
}

const OVERLAY_COMPOSE: &str = r#"
services:
  api:
    build:
      context: ./api
      args:
        BASE: ${DEVTUI_BASE_IMAGE:-devtui-standin/debian:bookworm}
    init: true
    labels:
      dev.devtui.reload.command: sh -c 'echo reload-command; exec sleep infinity'
  other:
    image: ${DEVTUI_BASE_IMAGE:-devtui-standin/debian:bookworm}
    init: true
    command: [sleep, infinity]
"#;

const OVERLAY_DOCKERFILE: &str = "ARG BASE
FROM ${BASE} AS base
WORKDIR /srv
COPY msg /srv/msg
CMD [\"sleep\", \"infinity\"]
FROM base AS development
RUN echo development > /stage
FROM base AS production
RUN echo production > /stage
";

/// A built service without develop.watch: reload on recreates it with its build context
/// mounted at its working directory, the Dockerfile's development stage and the label's
/// command; off recreates it as the project has it. Other services are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_built_service_without_develop_watch_gets_its_context_mounted() {
    private_state();
    if !engine_ready() {
        return;
    }
    let project = unique_name("reload-overlay");
    let _cleanup = Cleanup::new(&project);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("api")).expect("mkdir");
    std::fs::write(dir.path().join("api/msg"), "one\n").expect("write");
    std::fs::write(dir.path().join("api/Dockerfile"), OVERLAY_DOCKERFILE).expect("write");
    std::fs::write(dir.path().join("compose.yaml"), OVERLAY_COMPOSE).expect("write");
    let mut up = Command::new("docker");
    up.args(["compose", "-p", &project, "up", "-d", "--build", "--wait"])
        .current_dir(dir.path());
    with_images(&mut up);
    let out = up.output().expect("compose up");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cat(&project, "api", "/stage"), "production");
    let other0 = started(&project, "other");
    let model = load(dir.path(), &project).await;
    let cancel = CancellationToken::new();
    let _stop = cancel.clone().drop_guard();
    let mut events = start(model, Vec::new(), &cancel);
    wait_for(&mut events, "the first states", |e| {
        matches!(e, Event::States(_))
    })
    .await;

    reload::save(&project, "api", true).expect("toggle");
    let done = wait_for(&mut events, "api recreated", reloaded("api")).await;
    assert!(
        matches!(&done, Event::Reloaded { ok: true, summary, .. } if summary.contains("mounted at /srv") && summary.contains("target development")),
        "{done:?}"
    );
    assert_eq!(cat(&project, "api", "/stage"), "development");
    std::fs::write(dir.path().join("api/msg"), "two\n").expect("edit");
    assert_eq!(
        cat(&project, "api", "/srv/msg"),
        "two",
        "the context is mounted"
    );
    let logs = Command::new("docker")
        .args(["logs", &format!("{project}-api-1")])
        .output()
        .expect("docker logs");
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("reload-command"),
        "the label's command runs"
    );
    assert_eq!(started(&project, "other"), other0, "other untouched");

    reload::save(&project, "api", false).expect("toggle");
    wait_for(
        &mut events,
        "api recreated as it was",
        line("api", "reload off: recreated"),
    )
    .await;
    assert_eq!(cat(&project, "api", "/stage"), "production");
    let mounts = Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{len .Mounts}}",
            &format!("{project}-api-1"),
        ])
        .output()
        .expect("docker inspect");
    assert_eq!(
        String::from_utf8_lossy(&mounts.stdout).trim(),
        "0",
        "no mount"
    );
    // Rebuilt from the production stage, which copies the edited file in.
    assert_eq!(cat(&project, "api", "/srv/msg"), "two");
    assert_eq!(started(&project, "other"), other0, "other untouched");
}
