//! `update` driven by messages: state and effects out, no terminal, no engine.

use devtui::engine::logs::{LogBatch, LogEvent, LogStream, Timestamp};
use devtui::engine::stats::Stats;
use devtui::engine::{ContainerId, ContainerState, EngineUpdate, Health, Runtime};
use devtui::ops::actions::Action;
use devtui::ops::backend::Target;
use devtui::tui::fixtures::{self, running};
use devtui::tui::msg::{Effect, Msg};
use devtui::tui::runner::shell_container_for;
use devtui::tui::state::{EngineLink, Focus, Options, Prompt, Redraw, State};
use devtui::tui::update::update;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::Duration;

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

fn typed(state: &mut State, text: &str) {
    for c in text.chars() {
        update(state, ch(c));
    }
}

fn lines(service: &str, texts: &[&str]) -> Msg {
    let mut batch = LogBatch::default();
    for t in texts {
        batch.push(
            LogStream::Stdout,
            Timestamp::parse("2026-01-02T03:04:05.123456789Z"),
            t,
        );
    }
    Msg::Logs {
        service: service.to_string(),
        event: LogEvent::Lines(batch),
    }
}

fn stack() -> State {
    let mut s = fixtures::state(&["postgres", "redis", "api"], 100, 30);
    for svc in ["postgres", "redis", "api"] {
        update(
            &mut s,
            Msg::Engine(fixtures::update(running(svc, Health::Healthy))),
        );
    }
    s
}

fn visible_texts(s: &State) -> Vec<String> {
    let (rows, width) = s.log_area();
    s.log
        .pane
        .as_ref()
        .unwrap()
        .visible(&s.log.store, rows, width)
        .iter()
        .map(|(_, l)| l.text.to_string())
        .collect()
}

#[test]
fn engine_updates_fill_rows_and_stream_stats_for_running_services() {
    let mut s = fixtures::state(&["postgres", "worker"], 100, 30);
    let fx = update(
        &mut s,
        Msg::Engine(fixtures::update(running("postgres", Health::Starting))),
    );
    assert_eq!(
        fx,
        vec![Effect::FollowStats {
            service: "postgres".into()
        }]
    );
    let mut exited = running("worker", Health::None);
    exited.state = ContainerState::Exited;
    exited.exit_code = Some(1);
    let fx = update(&mut s, Msg::Engine(fixtures::update(exited)));
    assert!(fx.is_empty(), "no stats for an exited container: {fx:?}");
    assert_eq!(s.services[1].status.as_ref().unwrap().exit_code, Some(1));

    // Stats are kept only while streaming.
    let stats = Stats {
        cpu_percent: 12.5,
        memory_bytes: 1 << 20,
        memory_limit: 1 << 30,
    };
    update(
        &mut s,
        Msg::Stats {
            service: "postgres".into(),
            stats,
        },
    );
    assert_eq!(s.services[0].stats, Some(stats));

    // A service the project did not list shows up last.
    update(
        &mut s,
        Msg::Engine(fixtures::update(running("extra", Health::None))),
    );
    assert_eq!(s.services.last().unwrap().name, "extra");
}

#[test]
fn stats_stream_only_for_rows_on_screen() {
    let names: Vec<String> = (0..40).map(|i| format!("svc{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut s = fixtures::state(&refs, 100, 24);
    let mut started = Vec::new();
    for n in &refs {
        for fx in update(
            &mut s,
            Msg::Engine(fixtures::update(running(n, Health::None))),
        ) {
            if let Effect::FollowStats { service, .. } = fx {
                started.push(service);
            }
        }
    }
    let rows = s.table_rows();
    assert!(rows < 40);
    assert_eq!(started.len(), rows);
    assert_eq!(s.streams.stats.len(), rows);
    // Jump to the last row: the top rows leave the screen and stop streaming.
    let fx = update(&mut s, ch('G'));
    assert!(
        fx.iter()
            .any(|f| matches!(f, Effect::StopStats { service } if service == "svc00"))
    );
    assert!(
        fx.iter()
            .any(|f| matches!(f, Effect::FollowStats { service, .. } if service == "svc39"))
    );
    assert_eq!(s.streams.stats.len(), rows);
}

#[test]
fn opening_logs_streams_them_and_closing_stops_and_frees_them() {
    let mut s = stack();
    update(&mut s, key(KeyCode::Down)); // redis
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(fx.contains(&Effect::FollowLogs {
        service: "redis".into(),
        tail: 1000,
        since: None
    }));
    assert_eq!(s.focus, Focus::Logs);
    update(
        &mut s,
        lines("redis", &["Ready to accept connections", "second"]),
    );
    assert_eq!(visible_texts(&s), ["Ready to accept connections", "second"]);
    // A late batch of a service not shown is dropped.
    update(&mut s, lines("api", &["stray"]));
    assert_eq!(s.log.store.len(), 2);
    let fx = update(&mut s, key(KeyCode::Esc));
    assert_eq!(
        fx,
        vec![Effect::StopLogs {
            service: "redis".into()
        }]
    );
    assert!(s.log.pane.is_none());
    assert!(s.log.store.is_empty());
    assert_eq!(s.focus, Focus::Services);
}

#[test]
fn ring_buffers_are_bounded() {
    let mut s = State::new(
        "demo",
        vec!["api".into()],
        Options {
            log_capacity: 100,
            tail: 50,
            no_color: false,
            ..Options::default()
        },
    );
    s.engine = EngineLink::Connected {
        api_version: "1.41".into(),
    };
    update(
        &mut s,
        Msg::Engine(fixtures::update(running("api", Health::None))),
    );
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(
        fx.iter()
            .any(|f| matches!(f, Effect::FollowLogs { tail: 50, .. }))
    );
    for chunk in 0..100 {
        let texts: Vec<String> = (0..100).map(|i| format!("line {chunk}-{i}")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        update(&mut s, lines("api", &refs));
    }
    assert_eq!(s.log.store.len(), 100);
    assert_eq!(visible_texts(&s).last().unwrap(), "line 99-99");
}

#[test]
fn scrolling_pauses_follow_counts_new_lines_and_g_resumes() {
    let mut s = stack();
    update(&mut s, key(KeyCode::Enter));
    let texts: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    update(&mut s, lines("postgres", &refs));
    update(&mut s, ch('k'));
    update(&mut s, ch('k'));
    assert!(!s.log.pane.as_ref().unwrap().following());
    let bottom = visible_texts(&s).last().unwrap().clone();
    assert_eq!(bottom, "line 97");
    update(&mut s, lines("postgres", &["new a", "new b", "new c"]));
    assert_eq!(s.log.pane.as_ref().unwrap().new_lines, 3);
    assert_eq!(
        visible_texts(&s).last().unwrap(),
        "line 97",
        "a paused pane does not move"
    );
    update(&mut s, ch('G'));
    assert!(s.log.pane.as_ref().unwrap().following());
    assert_eq!(visible_texts(&s).last().unwrap(), "new c");
}

#[test]
fn search_highlights_and_moves_between_matches() {
    let mut s = stack();
    update(&mut s, key(KeyCode::Enter));
    let texts: Vec<String> = (0..200)
        .map(|i| {
            if i % 50 == 7 {
                format!("ERROR request {i} failed")
            } else {
                format!("ok {i}")
            }
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    update(&mut s, lines("postgres", &refs));
    update(&mut s, ch('/'));
    assert!(matches!(s.prompt(), Some(Prompt::Search(_))));
    typed(&mut s, "error");
    update(&mut s, key(KeyCode::Enter));
    assert!(s.prompt().is_none());
    let seq_of = |s: &State, text: &str| {
        let ring = &s.log.store.rings["postgres"];
        (0..ring.len())
            .filter_map(|i| ring.line(i))
            .find(|l| l.text == text)
            .unwrap()
            .seq
    };
    let pane = s.log.pane.as_ref().unwrap();
    assert_eq!(
        pane.current_match,
        Some(seq_of(&s, "ERROR request 157 failed"))
    );
    update(&mut s, ch('n'));
    assert_eq!(
        s.log.pane.as_ref().unwrap().current_match,
        Some(seq_of(&s, "ERROR request 107 failed"))
    );
    assert!(visible_texts(&s).contains(&"ERROR request 107 failed".to_string()));
    assert!(
        !s.log.pane.as_ref().unwrap().following(),
        "jumping to an old match pauses follow"
    );
    update(&mut s, ch('N'));
    assert_eq!(
        s.log.pane.as_ref().unwrap().current_match,
        Some(seq_of(&s, "ERROR request 157 failed"))
    );
    // Esc clears the search, then closes the pane.
    update(&mut s, key(KeyCode::Esc));
    assert!(s.log.pane.as_ref().unwrap().search.is_none());
}

#[test]
fn invalid_regex_is_an_inline_error_and_keeps_the_prompt() {
    let mut s = stack();
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, lines("postgres", &["a", "b"]));
    update(&mut s, ch('f'));
    typed(&mut s, "(unclosed");
    assert!(
        s.log.pane.as_ref().unwrap().pattern_error.is_some(),
        "checked while typing"
    );
    update(&mut s, key(KeyCode::Enter));
    assert!(matches!(s.prompt(), Some(Prompt::Filter(t)) if t == "(unclosed"));
    assert!(s.log.pane.as_ref().unwrap().filter.is_none());
    for _ in 0.."(unclosed".len() {
        update(&mut s, key(KeyCode::Backspace));
    }
    typed(&mut s, "^b$");
    assert!(s.log.pane.as_ref().unwrap().pattern_error.is_none());
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(visible_texts(&s), ["b"]);
    // New lines that do not match stay hidden.
    update(&mut s, lines("postgres", &["c", "b"]));
    assert_eq!(visible_texts(&s), ["b", "b"]);
}

#[test]
fn merged_view_of_marked_services_in_dependency_order() {
    let mut s = stack();
    update(&mut s, ch('G')); // api
    update(&mut s, ch(' '));
    update(&mut s, ch('g')); // postgres
    update(&mut s, ch(' '));
    let fx = update(&mut s, ch('L'));
    let pane = s.log.pane.as_ref().unwrap();
    assert_eq!(pane.sources, ["postgres", "api"]);
    assert_eq!(
        fx.iter()
            .filter(|f| matches!(f, Effect::FollowLogs { .. }))
            .count(),
        2
    );
    update(&mut s, lines("api", &["from api"]));
    update(&mut s, lines("postgres", &["from postgres"]));
    assert_eq!(visible_texts(&s), ["from api", "from postgres"]);
}

#[test]
fn with_confirm_off_destructive_actions_run_at_once() {
    let mut s = stack();
    s.options.confirm = false;
    let fx = update(&mut s, ch('r'));
    assert!(s.prompt().is_none(), "no question");
    assert_eq!(
        fx,
        vec![Effect::Action {
            service: "postgres".into(),
            action: Action::Restart
        }]
    );
}

#[test]
fn destructive_actions_ask_first() {
    let mut s = stack();
    assert!(update(&mut s, ch('r')).is_empty());
    assert!(matches!(
        s.prompt(),
        Some(&Prompt::Confirm {
            action: Action::Restart,
            ..
        })
    ));
    assert!(update(&mut s, ch('n')).is_empty(), "anything but y cancels");
    assert!(s.prompt().is_none());
    update(&mut s, ch('s'));
    let fx = update(&mut s, ch('y'));
    assert_eq!(
        fx,
        vec![Effect::Action {
            service: "postgres".into(),
            action: Action::Stop
        }]
    );
    // Start of a stopped service needs no confirmation.
    let mut stopped = running("postgres", Health::None);
    stopped.state = ContainerState::Exited;
    update(&mut s, Msg::Engine(fixtures::update(stopped)));
    let fx = update(&mut s, ch('s'));
    assert!(fx.contains(&Effect::Action {
        service: "postgres".into(),
        action: Action::Start
    }));
    update(
        &mut s,
        Msg::ActionDone {
            service: "postgres".into(),
            action: Action::Start,
            result: Err("no such container".into()),
        },
    );
    assert!(s.toast.as_ref().unwrap().error);
}

#[test]
fn exec_needs_a_running_container() {
    let mut s = stack();
    assert_eq!(
        update(&mut s, ch('e')),
        vec![Effect::Exec {
            service: "postgres".into()
        }]
    );
    update(
        &mut s,
        Msg::ExecDone {
            service: "postgres".into(),
            result: Ok(Some(3)),
        },
    );
    assert!(
        s.toast
            .as_ref()
            .unwrap()
            .text
            .contains("exited with code 3")
    );
    let mut stopped = running("postgres", Health::None);
    stopped.state = ContainerState::Exited;
    update(&mut s, Msg::Engine(fixtures::update(stopped)));
    // The runner asks the resolver, which finds no running container; its answer is the toast.
    let why = shell_container_for(&target(), &s, "postgres").unwrap_err();
    assert!(why.contains("postgres is exited"), "{why}");
    update(
        &mut s,
        Msg::ExecDone {
            service: "postgres".into(),
            result: Err(why),
        },
    );
    let toast = s.toast.as_ref().unwrap();
    assert!(toast.error && toast.text.contains("postgres is exited"));
}

/// What the TUI's runner resolves services through, for a project with no native services of
/// its own (the engine is never reached in these tests).
fn target() -> Target {
    Target {
        engine: devtui::engine::client::Lazy::default(),
        compose: devtui::engine::compose::Compose::by_name("demo"),
        project: "demo".into(),
        natives: Default::default(),
    }
}

#[test]
fn q_and_ctrl_c_quit_but_q_closes_help_first() {
    let mut s = stack();
    update(&mut s, ch('?'));
    assert!(s.help_shown());
    assert!(update(&mut s, ch('q')).is_empty());
    assert!(!s.help_shown());
    assert_eq!(update(&mut s, ch('q')), vec![Effect::Quit]);
    let mut s = stack();
    let fx = update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert_eq!(fx, vec![Effect::Quit]);
}

#[test]
fn engine_outage_stops_streams_and_recovery_restarts_them() {
    let mut s = stack();
    update(&mut s, key(KeyCode::Enter));
    let fx = update(
        &mut s,
        Msg::Engine(EngineUpdate::Unreachable {
            error: "connection refused".into(),
            retry_in: Duration::from_secs(2),
        }),
    );
    assert!(fx.contains(&Effect::StopLogs {
        service: "postgres".into()
    }));
    assert!(fx.iter().any(|f| matches!(f, Effect::StopStats { .. })));
    assert!(s.streams.logs.is_empty() && s.streams.stats.is_empty());
    assert!(s.layout().banner.is_some());
    let mut fx = update(
        &mut s,
        Msg::Engine(EngineUpdate::Connected {
            api_version: "1.41".into(),
        }),
    );
    fx.extend(update(
        &mut s,
        Msg::Engine(fixtures::update(running("postgres", Health::Healthy))),
    ));
    assert!(
        fx.iter()
            .any(|f| matches!(f, Effect::FollowLogs { service, .. } if service == "postgres"))
    );
    assert!(
        fx.iter()
            .any(|f| matches!(f, Effect::FollowStats { service, .. } if service == "postgres"))
    );
    assert!(s.layout().banner.is_none());
    // A service the snapshot did not report again (its container went away meanwhile) no
    // longer shows its stale state.
    assert!(
        s.services
            .iter()
            .find(|r| r.name == "redis")
            .unwrap()
            .status
            .is_none()
    );
}

#[test]
fn restarted_container_resumes_its_log_stream() {
    let mut s = stack();
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, lines("postgres", &["before"]));
    let fx = update(
        &mut s,
        Msg::Logs {
            service: "postgres".into(),
            event: LogEvent::Ended(None),
        },
    );
    assert!(fx.is_empty());
    let mut again = running("postgres", Health::Starting);
    again.started_at = Some("2026-01-02T03:10:00Z".into());
    let fx = update(&mut s, Msg::Engine(fixtures::update(again.clone())));
    let since = time::macros::datetime!(2026-01-02 03:04:06 UTC).unix_timestamp();
    assert!(
        fx.contains(&Effect::FollowLogs {
            service: "postgres".into(),
            tail: 1000,
            since: Some(since)
        }),
        "{fx:?}"
    );
    // A recreated container (new id) streams from its start.
    again.runtime = Runtime::Container {
        id: ContainerId("new-cid".into()),
        name: "demo-postgres-1".into(),
        image: "demo/postgres:latest".into(),
    };
    let fx = update(&mut s, Msg::Engine(fixtures::update(again)));
    assert!(fx.contains(&Effect::StopLogs {
        service: "postgres".into()
    }));
    assert!(fx.contains(&Effect::FollowLogs {
        service: "postgres".into(),
        tail: 1000,
        since: None
    }));
}

#[test]
fn save_exports_the_filtered_lines() {
    let mut s = stack();
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, lines("postgres", &["keep 1", "drop", "keep 2"]));
    update(&mut s, ch('f'));
    typed(&mut s, "keep");
    update(&mut s, key(KeyCode::Enter));
    let fx = update(&mut s, ch('S'));
    let Some(Effect::SaveLogs { path, contents }) = fx.into_iter().next() else {
        panic!("no save")
    };
    assert_eq!(path, "devtui-postgres-20260102-030405.log");
    assert_eq!(
        contents,
        "2026-01-02T03:04:05.123456789Z keep 1\n2026-01-02T03:04:05.123456789Z keep 2\n"
    );
}

#[test]
fn resize_reflows_and_keeps_selection_visible() {
    let names: Vec<String> = (0..30).map(|i| format!("svc{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut s = fixtures::state(&refs, 100, 50);
    update(&mut s, ch('G'));
    update(
        &mut s,
        Msg::Resize {
            width: 80,
            height: 24,
        },
    );
    assert!(
        s.selection.index >= s.selection.offset
            && s.selection.index < s.selection.offset + s.table_rows()
    );
    assert!(!s.too_small());
    update(
        &mut s,
        Msg::Resize {
            width: 70,
            height: 20,
        },
    );
    assert!(s.too_small());
}

#[test]
fn paused_pane_stays_on_the_oldest_lines_while_the_buffer_slides() {
    let mut s = State::new(
        "demo",
        vec!["api".into()],
        Options {
            log_capacity: 50,
            tail: 50,
            no_color: false,
            ..Options::default()
        },
    );
    s.width = 100;
    s.height = 30;
    s.engine = EngineLink::Connected {
        api_version: "1.41".into(),
    };
    update(
        &mut s,
        Msg::Engine(fixtures::update(running("api", Health::None))),
    );
    update(&mut s, key(KeyCode::Enter));
    let batch = |from: usize| {
        let texts: Vec<String> = (from..from + 50).map(|i| format!("line {i}")).collect();
        texts
    };
    let first = batch(0);
    update(
        &mut s,
        lines("api", &first.iter().map(String::as_str).collect::<Vec<_>>()),
    );
    update(&mut s, ch('g')); // oldest screenful, paused
    assert!(!s.log.pane.as_ref().unwrap().following());
    for from in [50, 100, 150] {
        let more = batch(from);
        update(
            &mut s,
            lines("api", &more.iter().map(String::as_str).collect::<Vec<_>>()),
        );
    }
    let (rows, _) = s.log_area();
    let shown = visible_texts(&s);
    assert_eq!(
        shown.len(),
        rows,
        "a full screen, not the few lines left below an evicted anchor"
    );
    assert_eq!(shown[0], "line 150");
    assert_eq!(s.log.pane.as_ref().unwrap().new_lines, 150);
}

#[test]
fn the_model_orders_rows_that_arrived_before_it() {
    let mut s = fixtures::state(&[], 100, 30);
    s.project = "demo".into();
    for svc in ["api", "extra", "postgres"] {
        update(
            &mut s,
            Msg::Engine(fixtures::update(running(svc, Health::Healthy))),
        );
    }
    update(&mut s, ch('j')); // "extra"
    update(
        &mut s,
        Msg::Services {
            project: "demo".into(),
            services: vec!["postgres".into(), "redis".into(), "api".into()],
            secrets: Default::default(),
        },
    );
    let names: Vec<&str> = s.services.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["postgres", "redis", "api", "extra"]);
    assert!(s.services[0].status.is_some() && s.services[1].status.is_none());
    assert_eq!(
        s.selected_service().unwrap().name,
        "extra",
        "the selection follows its service"
    );
    // A model naming another project drops the rows watched under the guessed name.
    update(
        &mut s,
        Msg::Services {
            project: "other".into(),
            services: vec!["web".into()],
            secrets: Default::default(),
        },
    );
    assert_eq!(s.project, "other");
    assert_eq!(s.services.len(), 1);
    assert!(s.services[0].status.is_none());
}

#[test]
fn an_idle_screen_is_not_redrawn() {
    let mut s = stack();
    let sample = Stats {
        cpu_percent: 0.04,
        memory_bytes: 10 << 20,
        memory_limit: 0,
    };
    update(
        &mut s,
        Msg::Stats {
            service: "postgres".into(),
            stats: sample,
        },
    );
    update(&mut s, Msg::Tick(fixtures::NOW)); // the first figures are drawn with the tick
    s.redraw = Redraw::None;
    // Same figures once rounded, and uptimes past the minute: nothing to draw.
    let again = Stats {
        cpu_percent: 0.02,
        ..sample
    };
    update(
        &mut s,
        Msg::Stats {
            service: "postgres".into(),
            stats: again,
        },
    );
    update(&mut s, Msg::Tick(fixtures::NOW + Duration::from_secs(1)));
    assert_ne!(s.redraw, Redraw::Soon);
    let busier = Stats {
        cpu_percent: 7.0,
        ..sample
    };
    update(
        &mut s,
        Msg::Stats {
            service: "postgres".into(),
            stats: busier,
        },
    );
    assert_ne!(
        s.redraw,
        Redraw::Soon,
        "a changed figure waits for the tick"
    );
    update(&mut s, Msg::Tick(fixtures::NOW + Duration::from_secs(2)));
    assert_eq!(s.redraw, Redraw::Soon, "and is drawn with it");
    s.redraw = Redraw::None;
    update(&mut s, Msg::Tick(fixtures::NOW + Duration::from_secs(60)));
    assert_eq!(s.redraw, Redraw::Soon, "uptimes moved to the next minute");
}

#[test]
fn secret_values_from_env_are_masked_in_log_lines() {
    let mut s = stack();
    let project = s.project.clone();
    update(
        &mut s,
        Msg::Services {
            project,
            services: vec!["postgres".into(), "redis".into(), "api".into()],
            secrets: devtui::project::env::Secrets::from_pairs([(
                "POSTGRES_PASSWORD".to_string(),
                "hunter2hunter2".to_string(),
            )]),
        },
    );
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        lines(
            "postgres",
            &[
                "connecting as postgres://app:hunter2hunter2@db/app",
                "plain",
            ],
        ),
    );
    let shown = visible_texts(&s);
    assert!(shown.iter().all(|t| !t.contains("hunter2")), "{shown:?}");
    assert!(
        shown.iter().any(|t| t.contains(devtui::project::env::MASK)),
        "{shown:?}"
    );
}

/// A native service's row follows its supervisor: engine reports about a container of the
/// same name, and engine outages, leave it alone; its logs and stats come from devtui's
/// supervisor; exec and rebuild say why they do not apply.
#[test]
fn native_service_rows_follow_the_supervisor_not_the_engine() {
    let mut s =
        fixtures::state(&["postgres", "gaian"], 100, 30).with_natives(["gaian".to_string()]);
    update(
        &mut s,
        Msg::Engine(fixtures::update(running("postgres", Health::Healthy))),
    );
    let fx = update(
        &mut s,
        Msg::Native(fixtures::native("gaian", Health::Healthy)),
    );
    assert!(
        fx.contains(&Effect::FollowStats {
            service: "gaian".into()
        }),
        "{fx:?}"
    );
    // A leftover container of the same name does not take the row over.
    let mut container = running("gaian", Health::None);
    container.state = ContainerState::Exited;
    update(&mut s, Msg::Engine(fixtures::update(container)));
    let row = s.service("gaian").unwrap();
    assert_eq!(row.status.as_ref().unwrap().state, ContainerState::Running);
    assert!(row.status.as_ref().unwrap().container_id().is_none());

    update(&mut s, key(KeyCode::Down));
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(
        fx.contains(&Effect::FollowLogs {
            service: "gaian".into(),
            tail: s.options.tail,
            since: None,
        }),
        "{fx:?}"
    );
    update(&mut s, lines("gaian", &["listening on 127.0.0.1:8000"]));
    assert_eq!(visible_texts(&s), vec!["listening on 127.0.0.1:8000"]);

    // The engine goes away: container streams stop, the native ones go on.
    let fx = update(
        &mut s,
        Msg::Engine(EngineUpdate::Unreachable {
            error: "connection refused".into(),
            retry_in: Duration::from_secs(2),
        }),
    );
    assert!(fx.contains(&Effect::StopStats {
        service: "postgres".into()
    }));
    assert!(
        !fx.iter().any(|f| matches!(f,
            Effect::StopLogs { service } | Effect::StopStats { service } if service == "gaian")),
        "{fx:?}"
    );
    assert!(s.streams.logs.contains_key("gaian") && s.streams.stats.contains_key("gaian"));
    update(
        &mut s,
        Msg::Engine(EngineUpdate::Connected {
            api_version: "1.41".into(),
        }),
    );
    assert!(s.service("gaian").unwrap().status.is_some(), "still shown");
    assert!(
        s.service("postgres").unwrap().status.is_none(),
        "awaits the snapshot"
    );

    // Exec and rebuild do not apply; stop asks first, like for a container.
    update(&mut s, key(KeyCode::Tab));
    let fx = update(&mut s, ch('e'));
    assert_eq!(
        fx,
        vec![Effect::Exec {
            service: "gaian".into()
        }]
    );
    let why = shell_container_for(&target(), &s, "gaian").unwrap_err();
    assert!(why.contains("gaian runs natively"), "{why}");
    update(&mut s, ch('b'));
    assert!(
        s.prompt().is_none(),
        "no rebuild prompt for a native service"
    );
    update(&mut s, ch('s'));
    assert_eq!(
        s.prompt(),
        Some(&Prompt::Confirm {
            service: "gaian".into(),
            action: Action::Stop
        })
    );
    let fx = update(&mut s, ch('y'));
    assert!(fx.contains(&Effect::Action {
        service: "gaian".into(),
        action: Action::Stop
    }));

    // Stopped: its stats stream ends and its figures go.
    let mut stopped = fixtures::native("gaian", Health::None);
    stopped.state = ContainerState::Exited;
    let fx = update(&mut s, Msg::Native(stopped));
    assert!(fx.contains(&Effect::StopStats {
        service: "gaian".into()
    }));
    assert!(s.service("gaian").unwrap().stats.is_none());
}

/// The `:` prompt runs every key's action by name, completes with Tab and answers a typo
/// with an error instead of doing something else.
#[test]
fn colon_commands_complete_and_run_like_their_keys() {
    let mut s = stack();
    update(&mut s, ch(':'));
    // "res" is restart, restore or reset: "resta" is restart.
    typed(&mut s, "resta");
    update(&mut s, key(KeyCode::Tab));
    typed(&mut s, "r");
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(
        s.prompt(),
        Some(&Prompt::Command {
            text: "restart redis ".into(),
            candidates: vec![]
        })
    );
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(fx.is_empty(), "destructive: asks first");
    assert_eq!(
        s.prompt(),
        Some(&Prompt::Confirm {
            service: "redis".into(),
            action: Action::Restart
        })
    );
    assert_eq!(s.selected_service().unwrap().name, "redis");
    update(&mut s, ch('n'));

    update(&mut s, ch(':'));
    typed(&mut s, "logs api postgres");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.log.pane.as_ref().unwrap().sources, ["api", "postgres"]);
    update(&mut s, ch(':'));
    typed(&mut s, "filter (oops");
    update(&mut s, key(KeyCode::Enter));
    assert!(
        s.log.pane.as_ref().unwrap().pattern_error.is_some(),
        "inline regex error"
    );
    update(&mut s, key(KeyCode::Esc));

    update(&mut s, ch(':'));
    typed(&mut s, "frobnicate");
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(fx.is_empty() && s.prompt().is_none());
    assert!(s.toast.as_ref().unwrap().text.contains("unknown command"));

    update(&mut s, ch(':'));
    typed(&mut s, "q");
    let fx = update(&mut s, key(KeyCode::Enter));
    assert_eq!(fx, vec![Effect::Quit]);
}

/// Another devtui runs gaian natively (`up -P native` in another terminal): its row becomes a
/// native one while that devtui answers, and a container row again once it is gone.
#[test]
fn native_services_of_another_devtui_come_and_go() {
    let mut s = fixtures::state(&["postgres", "gaian"], 100, 30);
    update(
        &mut s,
        Msg::Engine(fixtures::update(running("postgres", Health::Healthy))),
    );
    // The container gaian had, with its log pane open.
    update(
        &mut s,
        Msg::Engine(fixtures::update(running("gaian", Health::Healthy))),
    );
    update(&mut s, key(KeyCode::Down));
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(
        fx.iter()
            .any(|f| matches!(f, Effect::FollowLogs { service, .. } if service == "gaian"))
    );

    let fx = update(
        &mut s,
        Msg::NativesElsewhere(vec![fixtures::native("gaian", Health::Healthy)]),
    );
    assert!(s.is_native("gaian"));
    // The container's streams stop; the native process's start.
    assert!(fx.contains(&Effect::StopLogs {
        service: "gaian".into()
    }));
    assert!(
        fx.contains(&Effect::FollowLogs {
            service: "gaian".into(),
            tail: s.options.tail,
            since: None,
        }),
        "{fx:?}"
    );
    assert!(fx.contains(&Effect::FollowStats {
        service: "gaian".into()
    }));
    let row = s.service("gaian").unwrap();
    assert!(row.status.as_ref().unwrap().container_id().is_none());
    // Engine reports about a gaian container no longer move the row.
    let mut container = running("gaian", Health::None);
    container.state = ContainerState::Exited;
    update(&mut s, Msg::Engine(fixtures::update(container.clone())));
    assert_eq!(
        s.service("gaian").unwrap().status.as_ref().unwrap().state,
        ContainerState::Running
    );

    // That devtui is gone: the row waits for the engine again, and follows it.
    let fx = update(&mut s, Msg::NativesElsewhere(Vec::new()));
    assert!(!s.is_native("gaian"));
    assert!(s.service("gaian").unwrap().status.is_none());
    assert!(fx.contains(&Effect::StopStats {
        service: "gaian".into()
    }));
    update(&mut s, Msg::Engine(fixtures::update(container)));
    assert_eq!(
        s.service("gaian").unwrap().status.as_ref().unwrap().state,
        ContainerState::Exited
    );
    assert!(s.service("postgres").unwrap().status.is_some(), "untouched");
}

fn scaled(n: u32) -> State {
    let mut s = fixtures::state(&["postgres", "gaian"], 100, 30);
    update(
        &mut s,
        Msg::Engine(fixtures::update(running("postgres", Health::Healthy))),
    );
    for i in 1..=n {
        let mut r = fixtures::replica("gaian", i, Health::Healthy);
        r.restarts = u64::from(i);
        update(&mut s, Msg::Engine(fixtures::update(r)));
    }
    s
}

#[test]
fn replicas_of_a_service_share_its_row_and_sum_their_restarts() {
    let mut s = scaled(3);
    assert_eq!(s.services.len(), 2);
    let row = s.service("gaian").unwrap();
    assert_eq!(row.replicas.len(), 3);
    let numbers: Vec<_> = row.replicas.iter().map(|r| r.replica).collect();
    assert_eq!(numbers, vec![Some(1), Some(2), Some(3)]);
    let summary = row.status.as_ref().unwrap();
    assert_eq!(summary.restarts, 6);
    assert_eq!(summary.state, ContainerState::Running);

    // One replica unhealthy and one stopped: the row says so, and still runs.
    let mut sick = fixtures::replica("gaian", 2, Health::Unhealthy);
    sick.restarts = 2;
    update(&mut s, Msg::Engine(fixtures::update(sick)));
    let mut stopped = fixtures::replica("gaian", 1, Health::None);
    stopped.state = ContainerState::Exited;
    stopped.restarts = 1;
    update(&mut s, Msg::Engine(fixtures::update(stopped)));
    let row = s.service("gaian").unwrap();
    assert_eq!(row.running_replicas(), (2, 3));
    let summary = row.status.as_ref().unwrap();
    assert_eq!(summary.state, ContainerState::Running);
    assert_eq!(summary.health, Health::Unhealthy);

    // A destroyed replica leaves the others on the row.
    update(
        &mut s,
        Msg::Engine(EngineUpdate::Removed {
            service: "gaian".into(),
            container: Some(ContainerId("gaian-cid1".into())),
        }),
    );
    let row = s.service("gaian").unwrap();
    assert_eq!(row.running_replicas(), (2, 2));
    assert_eq!(row.status.as_ref().unwrap().restarts, 5);
    assert_eq!(
        row.status.as_ref().unwrap().container_id(),
        Some(&ContainerId("gaian-cid2".into()))
    );
}

#[test]
fn a_recreated_container_replaces_the_old_one_without_a_ghost() {
    let mut s = scaled(1);
    // Compose creates the new container (same number) before it removes the old one.
    let mut new = fixtures::replica("gaian", 1, Health::Starting);
    new.runtime = Runtime::Container {
        id: ContainerId("gaian-new".into()),
        name: "demo-gaian-1".into(),
        image: "demo/gaian:latest".into(),
    };
    update(&mut s, Msg::Engine(fixtures::update(new)));
    update(
        &mut s,
        Msg::Engine(EngineUpdate::Removed {
            service: "gaian".into(),
            container: Some(ContainerId("gaian-cid1".into())),
        }),
    );
    let row = s.service("gaian").unwrap();
    assert_eq!(row.replicas.len(), 1);
    assert_eq!(
        row.status.as_ref().unwrap().container_id(),
        Some(&ContainerId("gaian-new".into()))
    );
}

#[test]
fn the_expand_key_toggles_the_selected_services_replicas() {
    let mut s = scaled(3);
    update(&mut s, key(KeyCode::Down));
    update(&mut s, ch('+'));
    let row = s.service("gaian").unwrap();
    assert_eq!(s.replicas_shown(row).len(), 3);
    update(&mut s, ch('+'));
    let row = s.service("gaian").unwrap();
    assert!(s.replicas_shown(row).is_empty());
}

fn sample(cpu: f64, mib: u64) -> Stats {
    Stats {
        cpu_percent: cpu,
        memory_bytes: mib * 1024 * 1024,
        memory_limit: 0,
    }
}

#[test]
fn every_running_replica_streams_its_figures_and_the_row_sums_them() {
    let mut s = fixtures::state(&["gaian"], 100, 30);
    let mut fx = Vec::new();
    for n in 1..=3 {
        fx.extend(update(
            &mut s,
            Msg::Engine(fixtures::update(fixtures::replica(
                "gaian",
                n,
                Health::Healthy,
            ))),
        ));
    }
    let cid = |n: u32| ContainerId(format!("gaian-cid{n}"));
    assert!(fx.contains(&Effect::FollowStats {
        service: "gaian".into()
    }));
    for n in [2, 3] {
        assert!(fx.contains(&Effect::FollowReplicaStats {
            service: "gaian".into(),
            container: cid(n),
        }));
    }
    update(
        &mut s,
        Msg::Stats {
            service: "gaian".into(),
            stats: sample(1.0, 10),
        },
    );
    for n in [2, 3] {
        update(
            &mut s,
            Msg::ReplicaStats {
                container: cid(n),
                stats: sample(f64::from(n), 10 * u64::from(n)),
            },
        );
    }
    let row = s.service("gaian").unwrap();
    let total = row.total_stats().unwrap();
    assert_eq!(total.cpu_percent, 6.0);
    assert_eq!(total.memory_bytes, 60 * 1024 * 1024);
    assert_eq!(row.figures(&row.replicas[2]).unwrap().cpu_percent, 3.0);

    // The third replica goes: its stream stops, its figures leave the sum.
    let fx = update(
        &mut s,
        Msg::Engine(EngineUpdate::Removed {
            service: "gaian".into(),
            container: Some(cid(3)),
        }),
    );
    assert_eq!(fx, vec![Effect::StopReplicaStats { container: cid(3) }]);
    let total = s.service("gaian").unwrap().total_stats().unwrap();
    assert_eq!(total.cpu_percent, 3.0);
}

#[test]
fn a_click_on_a_replica_sub_row_selects_its_service() {
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut s = scaled(3);
    update(&mut s, key(KeyCode::Down));
    update(&mut s, ch('+'));
    update(&mut s, key(KeyCode::Up));
    assert_eq!(s.selection.index, 0);
    // Border and header, postgres, gaian, #1, then #2.
    let table_y = s.layout().table.y;
    update(
        &mut s,
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 3,
            row: table_y + 2 + 3,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert_eq!(s.selection.index, 1);
}

#[test]
fn m_moves_the_selected_service_to_the_other_side_and_its_row_follows() {
    use devtui::ops::mode::Mode;
    let mut s = stack();
    update(&mut s, ch('G'));
    // api runs in a container: m asks for it natively, with no question.
    let fx = update(&mut s, ch('m'));
    assert!(s.prompt().is_none());
    assert_eq!(
        fx,
        vec![Effect::Mode {
            service: "api".into(),
            to: Mode::Native
        }]
    );
    // The switch put it in this devtui's native set: the same row, native now.
    update(
        &mut s,
        Msg::NativesNow(vec![fixtures::native("api", Health::Healthy)]),
    );
    assert!(s.is_native("api"));
    assert_eq!(s.services.len(), 3, "the row changed in place");
    assert_eq!(s.selected_service().map(|r| r.name.as_str()), Some("api"));
    let fx = update(&mut s, ch('m'));
    assert_eq!(
        fx,
        vec![Effect::Mode {
            service: "api".into(),
            to: Mode::Container
        }]
    );
    // Back in its container: the engine's statuses drive the row again.
    update(&mut s, Msg::NativesNow(Vec::new()));
    assert!(!s.is_native("api"));
    update(
        &mut s,
        Msg::Engine(fixtures::update(running("api", Health::Healthy))),
    );
    let row = s.service("api").expect("row");
    assert!(
        row.status
            .as_ref()
            .and_then(|st| st.container_id())
            .is_some()
    );
    update(
        &mut s,
        Msg::ModeDone {
            service: "api".into(),
            result: Err("no native definition".into()),
        },
    );
    assert!(s.toast.as_ref().unwrap().error);

    // `:mode SERVICE native|container` by name.
    update(&mut s, ch(':'));
    typed(&mut s, "mode redis native");
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(fx.contains(&Effect::Mode {
        service: "redis".into(),
        to: Mode::Native
    }));
}

/// `W` and `:reload` ask for the toggle to be saved (the reloader follows the file); the
/// reloader's news land on the row and in the service's log, the pane closed or not.
#[test]
fn reload_toggles_and_its_news() {
    use devtui::ops::reload::Event;
    let mut s = stack();
    let fx = update(&mut s, ch('W'));
    assert!(
        fx.contains(&Effect::SetReload {
            service: "postgres".into(),
            on: true
        }),
        "{fx:?}"
    );
    update(
        &mut s,
        Msg::Reload(Event::States(
            [("postgres".to_string(), true)].into_iter().collect(),
        )),
    );
    assert!(s.reloads("postgres"));
    let fx = update(&mut s, ch('W'));
    assert!(fx.contains(&Effect::SetReload {
        service: "postgres".into(),
        on: false
    }));
    update(&mut s, ch(':'));
    typed(&mut s, "reload api on");
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(fx.contains(&Effect::SetReload {
        service: "api".into(),
        on: true
    }));
    update(&mut s, ch(':'));
    typed(&mut s, "reload api maybe");
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(!fx.iter().any(|e| matches!(e, Effect::SetReload { .. })));
    assert!(
        s.toast
            .as_ref()
            .is_some_and(|t| t.error && t.text.contains("on or off"))
    );
    update(
        &mut s,
        Msg::Reload(Event::Line {
            service: "api".into(),
            text: "reload: 1 file changed (a.py) → restart → running in 0.3s".into(),
            error: false,
        }),
    );
    update(&mut s, ch(':'));
    typed(&mut s, "logs api");
    update(&mut s, key(KeyCode::Enter));
    assert!(
        visible_texts(&s)
            .iter()
            .any(|l| l.contains("1 file changed (a.py)")),
        "{:?}",
        visible_texts(&s)
    );
}

/// A replica started while its service's log pane is open joins the pane's stream once it
/// runs: a container only created has no output to follow yet (its logs would end at once).
#[test]
fn a_replica_joins_the_open_log_pane_once_it_runs() {
    let mut s = scaled(2);
    update(&mut s, ch(':'));
    typed(&mut s, "logs gaian");
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::FollowLogs { service, .. } if service == "gaian")),
        "{fx:?}"
    );
    let joins = |fx: &[Effect]| {
        fx.iter()
            .filter(|e| matches!(e, Effect::JoinLogs { .. }))
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut created = fixtures::replica("gaian", 3, Health::None);
    created.state = ContainerState::Created;
    let fx = update(&mut s, Msg::Engine(fixtures::update(created)));
    assert!(joins(&fx).is_empty(), "not before it runs: {fx:?}");
    let fx = update(
        &mut s,
        Msg::Engine(fixtures::update(fixtures::replica(
            "gaian",
            3,
            Health::Healthy,
        ))),
    );
    assert_eq!(
        joins(&fx),
        [Effect::JoinLogs {
            service: "gaian".into(),
            number: 3,
            container: ContainerId("gaian-cid3".into()),
        }]
    );
    let fx = update(
        &mut s,
        Msg::Engine(fixtures::update(fixtures::replica(
            "gaian",
            3,
            Health::Healthy,
        ))),
    );
    assert!(joins(&fx).is_empty(), "once: {fx:?}");
}
