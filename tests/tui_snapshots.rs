//! Snapshots of the TUI's panels on ratatui's TestBackend.

use devtui::engine::logs::{LogBatch, LogEvent, LogStream, Timestamp};
use devtui::engine::stats::Stats;
use devtui::engine::{ContainerState, EngineUpdate, Health};
use devtui::tui::fixtures::{self, port, running};
use devtui::tui::msg::Msg;
use devtui::tui::state::State;
use devtui::tui::update::update;
use devtui::tui::views::render;
use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier};
use std::time::Duration;

fn draw(state: &State) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(state.width, state.height)).unwrap();
    terminal.draw(|f| render(state, f)).unwrap();
    terminal
}

fn ch(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Lines stamped a millisecond apart, in the order the test sends them (merged panes order
/// lines by their timestamps).
fn log(service: &str, lines: &[(&str, LogStream)]) -> Msg {
    static SENT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut batch = LogBatch::default();
    for (t, stream) in lines {
        let i = SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ts = format!(
            "2026-01-02T03:04:{:02}.{:03}000000Z",
            i / 1000 % 60,
            i % 1000
        );
        batch.push(*stream, Timestamp::parse(&ts), t);
    }
    Msg::Logs {
        service: service.into(),
        event: LogEvent::Lines(batch),
    }
}

/// Postgres healthy with a port, redis starting, api unhealthy with a probe output,
/// worker exited with 1, cache never created.
fn mixed(width: u16, height: u16) -> State {
    let mut s = fixtures::state(
        &["postgres", "redis", "api", "worker", "cache"],
        width,
        height,
    );
    let mut pg = running("postgres", Health::Healthy);
    pg.ports = vec![port(5432, 5432)];
    let mut redis = running("redis", Health::Starting);
    redis.restarts = 2;
    redis.started_at = Some("2026-01-02T03:03:50Z".into());
    let mut api = running("api", Health::Unhealthy);
    api.ports = vec![port(8080, 80), port(8443, 443)];
    api.last_probe_output =
        Some("curl: (7) Failed to connect to localhost port 80: Connection refused".into());
    let mut worker = running("worker", Health::None);
    worker.state = ContainerState::Exited;
    worker.exit_code = Some(1);
    for st in [pg, redis, api, worker] {
        update(&mut s, Msg::Engine(fixtures::update(st)));
    }
    update(
        &mut s,
        Msg::Stats {
            service: "postgres".into(),
            stats: Stats {
                cpu_percent: 3.25,
                memory_bytes: 48 * 1024 * 1024,
                memory_limit: 0,
            },
        },
    );
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Down)); // api selected: its probe output shows
    s
}

#[test]
fn dashboard_with_mixed_health() {
    let s = mixed(110, 24);
    assert_snapshot!(draw(&s).backend());
}

/// A native service (devtui supervises it) among containers: marked as such, with its
/// figures, and its command line in the details.
#[test]
fn dashboard_with_a_native_service() {
    let mut s = fixtures::state(&["postgres", "gaian"], 100, 24).with_natives(["gaian".into()]);
    let mut pg = running("postgres", Health::Healthy);
    pg.ports = vec![port(5432, 5432)];
    update(&mut s, Msg::Engine(fixtures::update(pg)));
    let mut gaian = fixtures::native("gaian", Health::Healthy);
    gaian.ports = vec![port(8000, 8000)];
    update(&mut s, Msg::Native(gaian));
    update(
        &mut s,
        Msg::Stats {
            service: "gaian".into(),
            stats: Stats {
                cpu_percent: 0.5,
                memory_bytes: 21 * 1024 * 1024,
                memory_limit: 0,
            },
        },
    );
    update(&mut s, Msg::Tick(fixtures::NOW));
    update(&mut s, key(KeyCode::Down));
    assert_snapshot!(draw(&s).backend());
}

#[test]
fn dashboard_without_colour_reads_from_symbols() {
    let mut s = mixed(110, 24);
    s.options.no_color = true;
    let terminal = draw(&s);
    for cell in terminal.backend().buffer().content() {
        assert_eq!(
            cell.fg,
            Color::Reset,
            "NO_COLOR: no foreground colour at {cell:?}"
        );
        assert_eq!(
            cell.bg,
            Color::Reset,
            "NO_COLOR: no background colour at {cell:?}"
        );
    }
    let text = format!("{}", terminal.backend());
    for symbol in [
        "✔ healthy",
        "… starting",
        "✘ unhealthy",
        "✖ exited (1)",
        "· not created",
    ] {
        assert!(text.contains(symbol), "{symbol} missing");
    }
}

fn logs_state() -> State {
    let mut s = mixed(100, 30);
    update(&mut s, key(KeyCode::Enter)); // api
    let lines: Vec<(String, LogStream)> = (0..200)
        .map(|i| match i % 10 {
            3 => (
                format!("GET /health 500 error: upstream timeout ({i})"),
                LogStream::Stderr,
            ),
            6 => (format!("WARN slow query took {i}ms"), LogStream::Stdout),
            _ => (format!("GET /api/items/{i} 200 OK"), LogStream::Stdout),
        })
        .collect();
    let refs: Vec<(&str, LogStream)> = lines.iter().map(|(t, s)| (t.as_str(), *s)).collect();
    update(&mut s, log("api", &refs));
    s
}

#[test]
fn logs_with_search_highlights() {
    let mut s = logs_state();
    update(&mut s, ch('/'));
    for c in "error|slow".chars() {
        update(&mut s, ch(c));
    }
    update(&mut s, key(KeyCode::Enter));
    for _ in 0..4 {
        update(&mut s, ch('n')); // far enough back to pause follow
    }
    assert!(!s.log.pane.as_ref().unwrap().following());
    let terminal = draw(&s);
    assert_snapshot!(terminal.backend());
    // Matches are highlighted; the current one differently.
    let buf = terminal.backend().buffer();
    let styled: Vec<(u16, u16, Color)> = (0..buf.area.height)
        .flat_map(|y| (0..buf.area.width).map(move |x| (x, y)))
        .filter_map(|(x, y)| {
            let c = &buf[(x, y)];
            matches!(c.bg, Color::Yellow | Color::LightMagenta).then_some((x, y, c.bg))
        })
        .collect();
    assert!(
        styled.iter().any(|(_, _, c)| *c == Color::Yellow),
        "other matches highlighted"
    );
    assert!(
        styled.iter().any(|(_, _, c)| *c == Color::LightMagenta),
        "current match highlighted"
    );
}

#[test]
fn logs_with_filter_timestamps_and_paused_follow() {
    let mut s = logs_state();
    update(&mut s, ch('f'));
    for c in "warn|error".chars() {
        update(&mut s, ch(c));
    }
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, ch('t'));
    update(&mut s, ch('k'));
    assert!(!s.log.pane.as_ref().unwrap().following());
    update(
        &mut s,
        log(
            "api",
            &[
                ("WARN disk almost full", LogStream::Stderr),
                ("GET / 200", LogStream::Stdout),
            ],
        ),
    );
    assert_snapshot!(draw(&s).backend());
}

#[test]
fn logs_invalid_filter_shows_inline_error() {
    let mut s = logs_state();
    update(&mut s, ch('f'));
    for c in "[oops".chars() {
        update(&mut s, ch(c));
    }
    update(&mut s, key(KeyCode::Enter));
    let text = format!("{}", draw(&s).backend());
    assert!(
        text.contains("filter: [oops█  ✘ invalid regex: unclosed character class"),
        "{text}"
    );
}

#[test]
fn merged_logs_prefix_each_line_with_its_service() {
    let mut s = mixed(100, 30);
    update(&mut s, ch('L'));
    update(
        &mut s,
        log(
            "postgres",
            &[(
                "database system is ready to accept connections",
                LogStream::Stdout,
            )],
        ),
    );
    update(
        &mut s,
        log(
            "redis",
            &[(
                "\x1b[32mReady\x1b[0m to accept connections tcp",
                LogStream::Stdout,
            )],
        ),
    );
    update(
        &mut s,
        log("api", &[("listening on :80", LogStream::Stderr)]),
    );
    assert_snapshot!(draw(&s).backend());
}

#[test]
fn help_overlay() {
    let mut s = mixed(80, 24);
    update(&mut s, ch('?'));
    assert_snapshot!(draw(&s).backend());
}

#[test]
fn small_terminal() {
    let s = mixed(60, 20);
    assert_snapshot!(draw(&s).backend());
}

#[test]
fn engine_down_banner() {
    let mut s = mixed(100, 24);
    update(
        &mut s,
        Msg::Engine(EngineUpdate::Unreachable {
            error: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock".into(),
            retry_in: Duration::from_secs(4),
        }),
    );
    let terminal = draw(&s);
    assert_snapshot!(terminal.backend());
    assert!(
        terminal.backend().buffer()[(1, 0)]
            .modifier
            .contains(Modifier::BOLD)
    );
}

/// A service scaled to three replicas, one stopped: one row `gaian ×3` running 2/3, its
/// replicas as sub-rows once expanded.
#[test]
fn dashboard_with_a_scaled_service_expanded() {
    let mut s = fixtures::state(&["postgres", "gaian"], 100, 24);
    update(
        &mut s,
        Msg::Engine(fixtures::update(running("postgres", Health::Healthy))),
    );
    for n in 1..=3 {
        let mut r = fixtures::replica("gaian", n, Health::Healthy);
        if n == 3 {
            r.state = ContainerState::Exited;
            r.health = Health::None;
            r.exit_code = Some(2);
            r.restarts = 1;
        }
        update(&mut s, Msg::Engine(fixtures::update(r)));
    }
    let sample = |mib: u64| Stats {
        cpu_percent: 1.5,
        memory_bytes: mib * 1024 * 1024,
        memory_limit: 0,
    };
    update(
        &mut s,
        Msg::Stats {
            service: "gaian".into(),
            stats: sample(20),
        },
    );
    update(
        &mut s,
        Msg::ReplicaStats {
            container: devtui::engine::ContainerId("gaian-cid2".into()),
            stats: sample(30),
        },
    );
    update(&mut s, Msg::Tick(fixtures::NOW));
    update(&mut s, key(KeyCode::Down));
    assert_snapshot!("scaled_collapsed", draw(&s).backend());
    update(&mut s, ch('+'));
    assert_snapshot!("scaled_expanded", draw(&s).backend());
}

/// Hot reload on for one service: its row is marked, and its details show the last reload.
#[test]
fn dashboard_with_reload_on() {
    use devtui::ops::reload::Event;
    let mut s = fixtures::state(&["postgres", "api"], 100, 24);
    update(
        &mut s,
        Msg::Engine(fixtures::update(running("postgres", Health::Healthy))),
    );
    update(
        &mut s,
        Msg::Engine(fixtures::update(running("api", Health::Healthy))),
    );
    let states = [("api".to_string(), true), ("postgres".to_string(), false)];
    update(
        &mut s,
        Msg::Reload(Event::States(states.into_iter().collect())),
    );
    update(
        &mut s,
        Msg::Reload(Event::Reloaded {
            service: "api".into(),
            summary: "2 files changed (src/app.py, src/db.py) → sync+restart → healthy in 1.4s"
                .into(),
            ok: true,
        }),
    );
    update(&mut s, Msg::Tick(fixtures::NOW));
    update(&mut s, key(KeyCode::Down));
    assert_snapshot!(draw(&s).backend());
}
