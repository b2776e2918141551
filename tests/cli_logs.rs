//! `devtui logs` against the real engine: merged in time order, `service |` prefixes, JSON
//! lines, --tail, -t, masking, and -f going on from the history without a gap or a repeat.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Cleanup, devtui, engine_ready, run, stderr, stdout, unique_name};

const SECRET: &str = "hunter2-but-longer";

/// Two services that write interleaved lines (one on stderr), one that counts forever.
fn project(dir: &Path) {
    std::fs::write(
        dir.join("compose.yaml"),
        r#"
services:
  a:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm-slim}
    init: true
    command: ["sh", "-c", "for i in 1 2 3 4; do echo a-$$i; sleep 0.2; done; echo token=$$APP_SECRET; echo a-done; exec sleep infinity"]
    environment:
      APP_SECRET: ${APP_SECRET:-}
  bb:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm-slim}
    init: true
    command: ["sh", "-c", "sleep 0.1; for i in 1 2 3 4; do echo b-$$i >&2; sleep 0.2; done; echo b-done; exec sleep infinity"]
  counter:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm-slim}
    init: true
    command: ["sh", "-c", "i=0; while true; do i=$$((i+1)); echo n=$$i; sleep 0.01; done"]
"#,
    )
    .expect("compose.yaml");
    std::fs::write(dir.join(".env"), format!("APP_SECRET={SECRET}\n")).expect(".env");
}

fn logs(dir: &Path, data: &Path, name: &str, args: &[&str]) -> std::process::Output {
    run(devtui(dir, data).args(["-p", name, "logs"]).args(args))
}

#[test]
fn logs_merge_by_time_mask_secrets_and_follow_without_gaps() {
    if !engine_ready() {
        return;
    }
    let name = unique_name("logs");
    let _cleanup = Cleanup::new(&name);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("data");
    project(dir.path());
    let out = run(devtui(dir.path(), data.path()).args(["-p", &name, "up", "--no-tui"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Wait until both services have written everything (a readiness wait, not a timing).
    let mut text = String::new();
    for _ in 0..300 {
        text = stdout(&logs(dir.path(), data.path(), &name, &["a", "bb"]));
        if text.contains("a-done") && text.contains("b-done") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // JSON: one object a line, stderr named, and the same lines in the same order as text.
    let out = logs(dir.path(), data.path(), &name, &["--json", "bb", "a"]);
    assert_eq!(out.status.code(), Some(0));
    let objects: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let as_text: Vec<String> = objects
        .iter()
        .map(|o| {
            let service = o["service"].as_str().expect("service");
            format!("{service:<2} | {}", o["line"].as_str().expect("line"))
        })
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), as_text, "{text}");
    // Ordered by the engine's timestamps across services...
    let time = |o: &serde_json::Value| {
        let t = o["time"].as_str().expect("time");
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
    };
    assert!(
        objects.windows(2).all(|w| time(&w[0]) <= time(&w[1])),
        "not in time order:\n{text}"
    );
    // ...each service's lines complete and in their order, secrets masked.
    let of = |service: &str| -> Vec<&str> {
        objects
            .iter()
            .filter(|o| o["service"] == service)
            .map(|o| o["line"].as_str().expect("line"))
            .collect()
    };
    assert_eq!(
        of("a"),
        ["a-1", "a-2", "a-3", "a-4", "token=••••••", "a-done"]
    );
    assert_eq!(of("bb"), ["b-1", "b-2", "b-3", "b-4", "b-done"]);
    let streams_of_bb: Vec<&str> = objects
        .iter()
        .filter(|o| o["service"] == "bb")
        .map(|o| o["stream"].as_str().expect("stream"))
        .collect();
    assert_eq!(
        streams_of_bb,
        ["stderr", "stderr", "stderr", "stderr", "stdout"]
    );
    assert!(
        objects
            .iter()
            .filter(|o| o["service"] == "a")
            .all(|o| o["stream"] == "stdout")
    );
    assert!(!text.contains(SECRET) && !stdout(&out).contains(SECRET));

    // --tail and -t.
    let out = logs(dir.path(), data.path(), &name, &["--tail", "1", "-t", "bb"]);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    let rest = text.strip_prefix("bb | ").expect("prefix");
    let (ts, line) = rest.trim_end().split_once(' ').expect("timestamp first");
    assert!(ts.contains('T') && ts.ends_with('Z'), "{text}");
    assert_eq!(line, "b-done");

    // Not a service of the project: exit 2, naming the ones there are.
    let out = logs(dir.path(), data.path(), &name, &["nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("services: a, bb, counter"),
        "{}",
        stderr(&out)
    );
    let out = logs(dir.path(), data.path(), &name, &["--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));

    // -f: the last 5 lines of history, then live ones, every number once and in order.
    let mut child = devtui(dir.path(), data.path())
        .args(["-p", &name, "logs", "-f", "--tail", "5", "counter"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("logs -f");
    let reader = BufReader::new(child.stdout.take().expect("stdout"));
    let numbers: Vec<u64> = reader
        .lines()
        .take(200)
        .map(|l| {
            let l = l.expect("line");
            l.strip_prefix("counter | n=")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {l:?}"))
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(numbers.len(), 200);
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "a gap or a repeat: {numbers:?}"
    );

    // A stopped service ends -f once its output ends.
    let out = run(Command::new("docker").args([
        "compose", "-p", &name, "stop", "-t", "0", "a", "bb", "counter",
    ]));
    assert!(out.status.success());
    let out = logs(dir.path(), data.path(), &name, &["-f", "--tail", "1", "a"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "a | a-done");
}
