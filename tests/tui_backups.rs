//! The backups view and the data work of the TUI (backup, restore, delete, reset), driven
//! through `update` by messages, plus a snapshot of the view: no terminal, no engine.

use devtui::engine::Health;
use devtui::ops::backup::format::Format;
use devtui::ops::backup::store::{Entry, Manifest, id_of};
use devtui::ops::backup::{Kind, Report};
use devtui::tui::fixtures::{self, running};
use devtui::tui::msg::{DataOp, Effect, Msg, Question};
use devtui::tui::state::{Prompt, State};
use devtui::tui::update::update;
use devtui::tui::views::render;
use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::Duration;

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

fn typed(state: &mut State, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| update(state, ch(c))).collect()
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

fn entry(service: &str, age: Duration, size: u64, label: Option<&str>) -> Entry {
    let created = fixtures::NOW - age;
    let file = format!(
        "{service}-{}.dump",
        devtui::ops::backup::store::stamp(created)
    );
    Entry {
        id: id_of(&file),
        path: format!("/tmp/backups/{file}").into(),
        manifest: Manifest {
            service: service.into(),
            kind: Kind::Postgres,
            format: Format::PgCustom,
            database: Some("shop".into()),
            image: "postgres:16".into(),
            server_version: Some("16.1".into()),
            size,
            sha256: "ab".repeat(32),
            devtui_version: "0.1.0".into(),
            project: "demo".into(),
            created: devtui::ops::backup::store::rfc3339(created),
            label: label.map(str::to_string),
            file,
            volumes: Vec::new(),
        },
        created,
    }
}

fn listed() -> Vec<Entry> {
    vec![
        entry(
            "postgres",
            Duration::from_secs(120),
            12_400_000,
            Some("before migration"),
        ),
        entry("postgres", Duration::from_secs(7200), 11_900_000, None),
        entry(
            "postgres",
            Duration::from_secs(3 * 86_400),
            9_000_000,
            Some("seeded"),
        ),
    ]
}

/// `B` on postgres, and its list arrived.
fn open_view() -> State {
    let mut s = stack();
    let fx = update(&mut s, ch('B'));
    assert_eq!(
        fx,
        vec![Effect::ListBackups {
            service: "postgres".into()
        }]
    );
    update(
        &mut s,
        Msg::BackupsListed {
            service: "postgres".into(),
            result: Ok(listed()),
        },
    );
    s
}

#[test]
fn b_opens_the_selected_services_backups_and_esc_closes_them() {
    let mut s = open_view();
    let view = s.backups.view.as_ref().expect("view open");
    assert_eq!(view.service, "postgres");
    assert_eq!(view.entries.as_ref().map(Vec::len), Some(3));
    update(&mut s, ch('j'));
    update(&mut s, ch('j'));
    update(&mut s, ch('j'));
    assert_eq!(s.backups.view.as_ref().expect("view").selected, 2);
    update(&mut s, ch('k'));
    assert_eq!(s.backups.view.as_ref().expect("view").selected, 1);
    // q closes the view, it does not quit.
    let fx = update(&mut s, ch('q'));
    assert!(fx.is_empty(), "{fx:?}");
    assert!(s.backups.view.is_none());
    // A list for a view that is no longer open is dropped.
    update(
        &mut s,
        Msg::BackupsListed {
            service: "postgres".into(),
            result: Ok(listed()),
        },
    );
    assert!(s.backups.view.is_none());
}

#[test]
fn restore_is_planned_confirmed_by_name_and_reports_progress_then_a_toast() {
    let mut s = open_view();
    update(&mut s, ch('j'));
    let id = listed()[1].id.clone();
    let op = DataOp::Restore {
        service: "postgres".into(),
        id: id.clone(),
    };
    assert_eq!(
        update(&mut s, key(KeyCode::Enter)),
        vec![Effect::PlanData(op.clone())]
    );
    let question = "Replace database shop of postgres with backup 1234abcd (…)? (a safety backup is taken first)";
    update(
        &mut s,
        Msg::DataPlanned {
            op: op.clone(),
            result: Ok(Some(Question {
                text: question.into(),
                no: None,
            })),
        },
    );
    assert!(matches!(
        s.prompt(),
        Some(Prompt::ConfirmData { question: q, .. }) if q == question
    ));
    let fx = update(&mut s, ch('y'));
    assert_eq!(fx[0], Effect::Data(op.clone()));
    let job = s.backups.job.as_ref().expect("job running");
    assert_eq!(job.op, op);
    // Its steps go to the service's log pane, opened for it.
    let pane = s.log.pane.as_ref().expect("log pane");
    assert_eq!(pane.sources, ["postgres"]);
    assert!(fx.contains(&Effect::FollowLogs {
        service: "postgres".into(),
        tail: 1000,
        since: None
    }));
    update(
        &mut s,
        Msg::DataProgress {
            service: "postgres".into(),
            report: Report::Step("stopping api".into()),
        },
    );
    update(
        &mut s,
        Msg::DataProgress {
            service: "postgres".into(),
            report: Report::Bytes {
                bytes: 120_000_000,
                per_sec: 45_000_000,
            },
        },
    );
    let job = s.backups.job.as_ref().expect("job");
    assert_eq!((job.bytes, job.per_sec), (120_000_000, 45_000_000));
    assert_eq!(job.step.as_deref(), Some("stopping api"));
    // Another piece of data work waits for this one.
    assert!(update(&mut s, ch('n')).is_empty());
    assert!(s.toast.as_ref().expect("toast").error);
    let fx = update(
        &mut s,
        Msg::DataDone {
            op,
            result: Ok("postgres restored from 1234abcd; safety backup 9f8e7d6c".into()),
        },
    );
    assert!(s.backups.job.is_none());
    let toast = s.toast.as_ref().expect("toast");
    assert!(!toast.error);
    assert!(toast.text.contains("restored"));
    // The list is read again for the open view.
    assert!(fx.contains(&Effect::ListBackups {
        service: "postgres".into()
    }));
    let lines: Vec<String> = s
        .log
        .store
        .fwd(&["postgres".to_string()], 0)
        .map(|(_, l)| l.text.to_string())
        .collect();
    assert!(lines.iter().any(|l| l == "stopping api"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("restored from")),
        "{lines:?}"
    );
}

#[test]
fn delete_asks_naming_the_backup_and_anything_but_yes_cancels() {
    let mut s = open_view();
    let e = &listed()[0];
    assert!(update(&mut s, ch('d')).is_empty());
    let Some(Prompt::ConfirmData { question, yes, no }) = s.prompt().cloned() else {
        panic!("no confirmation: {:?}", s.overlay);
    };
    assert!(question.contains(e.short_id()), "{question}");
    assert!(question.contains("12 MB"), "{question}");
    assert_eq!(
        yes,
        DataOp::Delete {
            service: "postgres".into(),
            id: e.id.clone()
        }
    );
    assert_eq!(no, None);
    assert!(update(&mut s, ch('n')).is_empty());
    assert!(s.prompt().is_none());
    assert!(s.backups.job.is_none());
    update(&mut s, ch('d'));
    assert_eq!(update(&mut s, key(KeyCode::Enter)), vec![Effect::Data(yes)]);
}

#[test]
fn reset_on_x_names_the_volumes_and_a_failure_is_a_red_toast() {
    let mut s = stack();
    let op = DataOp::Reset {
        service: "postgres".into(),
    };
    assert_eq!(update(&mut s, ch('X')), vec![Effect::PlanData(op.clone())]);
    update(
        &mut s,
        Msg::DataPlanned {
            op: op.clone(),
            result: Ok(Some(Question {
                text: "Reset postgres: delete demo_pgdata, recreate it? (postgres backed up first)"
                    .into(),
                no: None,
            })),
        },
    );
    let Some(Prompt::ConfirmData { question, .. }) = s.prompt() else {
        panic!("no confirmation");
    };
    assert!(question.contains("demo_pgdata"));
    assert_eq!(update(&mut s, ch('y'))[0], Effect::Data(op.clone()));
    update(
        &mut s,
        Msg::DataDone {
            op,
            result: Err("docker compose up failed".into()),
        },
    );
    let toast = s.toast.as_ref().expect("toast");
    assert!(toast.error);
    assert_eq!(
        toast.text,
        "reset postgres failed: docker compose up failed"
    );
    // A plan that cannot be made is said at once, nothing asked.
    let op = DataOp::Reset {
        service: "api".into(),
    };
    update(
        &mut s,
        Msg::DataPlanned {
            op,
            result: Err("api runs natively: it has no container or volumes to reset".into()),
        },
    );
    assert!(s.prompt().is_none());
    assert!(
        s.toast
            .as_ref()
            .expect("toast")
            .text
            .contains("runs natively")
    );
}

#[test]
fn a_volume_backup_asks_whether_to_stop_and_n_copies_live() {
    let mut s = open_view();
    let live = DataOp::Backup {
        service: "postgres".into(),
        stop: false,
    };
    assert_eq!(
        update(&mut s, ch('n')),
        vec![Effect::PlanData(live.clone())]
    );
    let stopped = DataOp::Backup {
        service: "postgres".into(),
        stop: true,
    };
    update(
        &mut s,
        Msg::DataPlanned {
            op: stopped,
            result: Ok(Some(Question {
                text:
                    "Stop postgres while its volumes (demo_pgdata) are copied? y stop · n copy live"
                        .into(),
                no: Some(live.clone()),
            })),
        },
    );
    assert_eq!(update(&mut s, ch('n'))[0], Effect::Data(live));
    // A database backup asks nothing: it starts when planned.
    s.backups.job = None;
    let op = DataOp::Backup {
        service: "redis".into(),
        stop: false,
    };
    let fx = update(
        &mut s,
        Msg::DataPlanned {
            op: op.clone(),
            result: Ok(None),
        },
    );
    assert_eq!(fx[0], Effect::Data(op));
}

#[test]
fn the_prompt_knows_backup_restore_and_reset() {
    let mut s = stack();
    update(&mut s, ch(':'));
    let fx = typed(&mut s, "backup redis");
    assert!(fx.is_empty());
    assert_eq!(
        update(&mut s, key(KeyCode::Enter)),
        vec![Effect::PlanData(DataOp::Backup {
            service: "redis".into(),
            stop: false
        })]
    );
    update(&mut s, ch(':'));
    typed(&mut s, "restore postgres 1a2b3c");
    assert_eq!(
        update(&mut s, key(KeyCode::Enter)),
        vec![Effect::PlanData(DataOp::Restore {
            service: "postgres".into(),
            id: "1a2b3c".into()
        })]
    );
    update(&mut s, ch(':'));
    typed(&mut s, "restore api");
    assert_eq!(
        update(&mut s, key(KeyCode::Enter)),
        vec![Effect::ListBackups {
            service: "api".into()
        }]
    );
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, ch(':'));
    typed(&mut s, "reset redis");
    assert_eq!(
        update(&mut s, key(KeyCode::Enter)),
        vec![Effect::PlanData(DataOp::Reset {
            service: "redis".into()
        })]
    );
}

#[test]
fn backups_view_snapshot() {
    let mut s = open_view();
    s.width = 100;
    s.height = 24;
    update(&mut s, ch('j'));
    update(
        &mut s,
        Msg::DataPlanned {
            op: DataOp::Backup {
                service: "postgres".into(),
                stop: false,
            },
            result: Ok(None),
        },
    );
    update(
        &mut s,
        Msg::DataProgress {
            service: "postgres".into(),
            report: Report::Bytes {
                bytes: 120_000_000,
                per_sec: 45_000_000,
            },
        },
    );
    s.toast = None;
    let mut terminal = Terminal::new(TestBackend::new(s.width, s.height)).expect("terminal");
    terminal.draw(|f| render(&s, f)).expect("draw");
    assert_snapshot!(terminal.backend());
}
