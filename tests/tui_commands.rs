//! A devtui profile's custom commands in the TUI, driven through `update` and the runner's
//! message channel (no terminal): keys, `:run`, confirmation, the help, output in the log
//! pane and the exit code as a toast; and no key outside the default keymap does anything
//! built in, so the profile's key check misses none.

use std::path::Path;

use devtui::engine::Health;
use devtui::engine::client;
use devtui::engine::compose::Compose;
use devtui::keymap::Keymap;
use devtui::ops::backend::Target;
use devtui::project::profile::{self, CustomCommand};
use devtui::tui::fixtures::{self, running};
use devtui::tui::msg::{Effect, Msg};
use devtui::tui::runner::Runner;
use devtui::tui::state::{Focus, Overlay, Prompt, State};
use devtui::tui::update::update;
use devtui::tui::views::render;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

fn commands(yaml: &str) -> Vec<CustomCommand> {
    profile::parse(yaml, Path::new("t.yaml"), "t")
        .expect("valid profile")
        .commands
}

const PROFILE: &str = r#"
commands:
  - {name: hello, key: H, run: [sh, -c, 'echo one; echo two >&2; exit 4']}
  - {name: psql, key: P, run: [psql], service: postgres}
  - {name: wipe, key: U, run: ["true"], confirm: true}
  - {name: seed, run: ["true"]}
"#;

fn stack() -> State {
    let mut s = fixtures::state(&["postgres", "redis"], 100, 40);
    for svc in ["postgres", "redis"] {
        update(
            &mut s,
            Msg::Engine(fixtures::update(running(svc, Health::Healthy))),
        );
    }
    update(&mut s, Msg::Commands(Ok(commands(PROFILE))));
    s
}

fn run_effects(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::RunCommand(c) => Some(c.name.clone()),
            _ => None,
        })
        .collect()
}

fn pane_texts(s: &State) -> Vec<String> {
    let (rows, width) = s.log_area();
    s.log
        .pane
        .as_ref()
        .expect("a pane")
        .visible(&s.log.store, rows, width)
        .iter()
        .map(|(_, l)| l.text.to_string())
        .collect()
}

#[test]
fn a_key_runs_its_command_into_a_pane_of_its_own() {
    let mut s = stack();
    let fx = update(&mut s, ch('P'));
    assert_eq!(run_effects(&fx), ["psql"]);
    let pane = s.log.pane.as_ref().expect("pane");
    assert_eq!(pane.sources, ["psql"]);
    // The pseudo-source has no row: no log stream is started for it.
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::FollowLogs { service, .. } if service == "psql"))
    );
    for line in ["a", "b"] {
        update(
            &mut s,
            Msg::CommandOutput {
                name: "psql".into(),
                stream: devtui::ops::run::Output::Stdout,
                line: line.into(),
            },
        );
    }
    assert_eq!(pane_texts(&s), ["a", "b"]);
    update(
        &mut s,
        Msg::CommandDone {
            name: "psql".into(),
            result: Ok(2),
        },
    );
    let toast = s.toast.as_ref().expect("toast");
    assert_eq!(toast.text, "psql exited with code 2");
    assert!(toast.error);
}

#[test]
fn confirm_asks_and_run_completes_names() {
    let mut s = stack();
    let fx = update(&mut s, ch('U'));
    assert!(run_effects(&fx).is_empty());
    assert_eq!(
        s.prompt(),
        Some(&Prompt::ConfirmCommand {
            name: "wipe".into()
        })
    );
    let fx = update(&mut s, ch('n'));
    assert!(run_effects(&fx).is_empty());
    assert_eq!(s.overlay, Overlay::None);
    update(&mut s, ch('U'));
    assert_eq!(run_effects(&update(&mut s, ch('y'))), ["wipe"]);

    update(&mut s, ch(':'));
    for c in "run se".chars() {
        update(&mut s, ch(c));
    }
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(
        s.prompt(),
        Some(&Prompt::Command {
            text: "run seed ".into(),
            candidates: vec![]
        })
    );
    assert_eq!(run_effects(&update(&mut s, key(KeyCode::Enter))), ["seed"]);

    update(&mut s, ch(':'));
    for c in "run nosuch".chars() {
        update(&mut s, ch(c));
    }
    assert!(run_effects(&update(&mut s, key(KeyCode::Enter))).is_empty());
    let toast = s.toast.as_ref().expect("toast");
    assert!(
        toast.error && toast.text.contains("hello, psql, wipe, seed"),
        "{}",
        toast.text
    );
}

#[test]
fn the_help_lists_the_commands() {
    let mut s = stack();
    update(&mut s, ch('?'));
    let mut terminal = Terminal::new(TestBackend::new(s.width, s.height)).expect("terminal");
    terminal.draw(|f| render(&s, f)).expect("draw");
    let screen: String = terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    for text in [
        "Profile commands (:run NAME)",
        "P               psql (postgres)",
        "H               hello (host)",
        ":run seed       seed (host)",
    ] {
        assert!(screen.contains(text), "{text:?} not in the help");
    }
}

#[test]
fn keys_outside_the_built_in_list_do_nothing_built_in() {
    // What a key may change, for a state with the logs pane open and focused or not.
    let fingerprint = |s: &State| {
        format!(
            "{:?} {:?} {:?} {:?} {:?}",
            s.overlay, s.focus, s.selection, s.log.pane, s.backups.view
        )
    };
    for focus in [Focus::Services, Focus::Logs] {
        let mut s = fixtures::state(&["postgres", "redis"], 100, 40);
        for svc in ["postgres", "redis"] {
            update(
                &mut s,
                Msg::Engine(fixtures::update(running(svc, Health::Healthy))),
            );
        }
        update(&mut s, key(KeyCode::Enter));
        s.focus = focus;
        for c in (' '..='~').filter(|c| !Keymap::default().is_built_in(*c)) {
            let before = fingerprint(&s);
            let fx = update(&mut s, ch(c));
            assert!(fx.is_empty(), "{c:?} in {focus:?} asked for {fx:?}");
            assert_eq!(
                before,
                fingerprint(&s),
                "{c:?} in {focus:?} changed the state"
            );
            assert!(s.toast.is_none(), "{c:?} in {focus:?}: a toast");
        }
    }
}

#[tokio::test]
async fn the_runner_streams_a_host_command_into_the_pane() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tx, mut rx) = mpsc::channel(64);
    let (stats_tx, _stats_rx) = mpsc::channel(1);
    let target = Target {
        engine: client::Lazy::default(),
        compose: Compose::by_name("nothing"),
        project: "nothing".into(),
        natives: Default::default(),
    };
    let mut runner = Runner::new(target, tx, stats_tx, CancellationToken::new());
    runner.working_dir = dir.path().to_path_buf();
    let mut s = stack();
    for effect in update(&mut s, ch('H')) {
        runner.run(effect, &s);
    }
    let done = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(msg) = rx.recv().await {
            let last = matches!(msg, Msg::CommandDone { .. });
            update(&mut s, msg);
            if last {
                return;
            }
        }
    })
    .await;
    assert!(done.is_ok(), "the command did not end");
    let mut texts = pane_texts(&s);
    texts.sort();
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(
        s.toast.as_ref().map(|t| t.text.as_str()),
        Some("hello exited with code 4")
    );
}

#[test]
fn remapped_keys_act_and_their_old_keys_do_not() {
    let config = devtui::config::parse(
        "keys:\n  restart: R\n  logs_merged: M\n  help: h\n  run.psql: p\n",
        Path::new("config.yaml"),
    )
    .expect("config");
    let keys = config.keys.map;
    let mut s = fixtures::state(&["postgres", "redis"], 100, 40);
    s.options.keys = keys.clone();
    s.options.confirm = false;
    for svc in ["postgres", "redis"] {
        update(
            &mut s,
            Msg::Engine(fixtures::update(running(svc, Health::Healthy))),
        );
    }
    let profile = profile::parse_with(PROFILE, Path::new("t.yaml"), "t", &keys).expect("profile");
    update(&mut s, Msg::Commands(Ok(profile.commands)));

    // The old keys do nothing.
    for c in ['r', 'L', '?', 'P'] {
        assert!(update(&mut s, ch(c)).is_empty(), "{c:?} acted");
        assert!(s.overlay == Overlay::None && s.log.pane.is_none(), "{c:?}");
    }
    let fx = update(&mut s, ch('R'));
    assert_eq!(
        fx,
        vec![Effect::Action {
            service: "postgres".into(),
            action: devtui::ops::actions::Action::Restart
        }]
    );
    update(&mut s, ch('M'));
    let pane = s.log.pane.as_ref().expect("merged pane");
    assert_eq!(pane.sources, ["postgres", "redis"]);
    assert_eq!(run_effects(&update(&mut s, ch('p'))), ["psql"]);

    // The help shows the keys in force.
    update(&mut s, ch('h'));
    assert_eq!(s.overlay, Overlay::Help);
    let mut terminal = Terminal::new(TestBackend::new(s.width, s.height)).expect("terminal");
    terminal.draw(|f| render(&s, f)).expect("draw");
    let screen: String = terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    for text in [
        " R               restart (confirm)",
        " M               merged (marked or all)",
        " h               this help",
        " p               psql (postgres)",
    ] {
        assert!(screen.contains(text), "{text:?} not in the help");
    }
    update(&mut s, ch('h'));
    assert_eq!(s.overlay, Overlay::None, "the help key closes the help");
}
