//! Backups, restore and reset end to end: the real binary against real databases on the real
//! engine (PostgreSQL with pgbench data, MariaDB, Redis, plain volumes), each test on a
//! compose project of its own, cleaned up even when it fails.
//!
//! With CI=true a missing engine fails these tests; elsewhere they are skipped with a note.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::stack::{PASSWORD, Stack, maria, pg_fingerprint, psql};
use common::{engine_ready, run, stderr, stdout};

const POSTGRES: &str = r#"
services:
  db:
    image: ${DEVTUI_POSTGRES_IMAGE:-postgres:16-alpine}
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: s3cret-Pw-7f1
      POSTGRES_DB: shop
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "shop"]
      interval: 1s
      retries: 120
    volumes: [pgdata:/var/lib/postgresql/data]
  app:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm}
    init: true
    command: ["sleep", "infinity"]
    depends_on:
      db: { condition: service_healthy }
volumes:
  pgdata:
"#;

const MARIADB: &str = r#"
services:
  maria:
    image: ${DEVTUI_MARIADB_IMAGE:-mariadb:10.11}
    environment:
      MARIADB_ROOT_PASSWORD: s3cret-Pw-7f1
      MARIADB_DATABASE: shop
      MARIADB_USER: shopper
      MARIADB_PASSWORD: other-pw-2
    healthcheck:
      test: ["CMD", "mariadb-admin", "ping", "-uroot", "-ps3cret-Pw-7f1", "--silent"]
      interval: 1s
      retries: 120
"#;

const MIXED: &str = r#"
services:
  db:
    image: ${DEVTUI_POSTGRES_IMAGE:-postgres:16-alpine}
    environment:
      POSTGRES_PASSWORD: s3cret-Pw-7f1
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres"]
      interval: 1s
      retries: 120
    volumes: [pgdata:/var/lib/postgresql/data]
  cache:
    image: ${DEVTUI_REDIS_IMAGE:-redis:7-alpine}
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 1s
      retries: 60
    volumes: [cachedata:/data]
  files:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm}
    init: true
    command: ["sleep", "infinity"]
    volumes: [filedata:/srv/files]
volumes:
  pgdata:
  cachedata:
  filedata:
"#;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn partials(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(".partial"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn postgres_round_trip_with_pgbench_data_and_a_killed_backup() {
    if !engine_ready() {
        return;
    }
    let started = Instant::now();
    let stack = Stack::up("pg-roundtrip", POSTGRES);
    stack.exec(
        "db",
        &["pgbench", "-i", "-q", "-s", "20", "-U", "app", "shop"],
    );
    let original = pg_fingerprint(&stack, "app", "shop");
    assert!(original.contains("pgbench_accounts=2000000|"), "{original}");
    eprintln!("data ready in {:?}", started.elapsed());

    let made = stack.ok_json(&["backup", "db", "--label", "before change", "--json"]);
    let made = made.as_array().expect("a list");
    assert_eq!(made.len(), 1);
    let b = &made[0];
    for key in [
        "id", "service", "kind", "path", "size", "sha256", "created", "label",
    ] {
        assert!(b.get(key).is_some(), "no {key} in {b}");
    }
    assert_eq!(b["service"], "db");
    assert_eq!(b["kind"], "postgres");
    assert_eq!(b["label"], "before change");
    assert_eq!(b["database"], "shop");
    let path = PathBuf::from(b["path"].as_str().expect("path"));
    assert!(path.starts_with(stack.backups_dir()), "{path:?}");
    assert!(
        path.file_name()
            .expect("name")
            .to_string_lossy()
            .ends_with("-before-change.dump")
    );
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        mode(&PathBuf::from(format!("{}.json", path.display()))),
        0o600
    );
    eprintln!("backed up in {:?}", started.elapsed());

    psql(
        &stack,
        "app",
        "shop",
        "DROP TABLE pgbench_branches; UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid % 3 = 0; DELETE FROM pgbench_tellers WHERE tid < 50",
    );
    assert_ne!(pg_fingerprint(&stack, "app", "shop"), original);
    let app_before = stack.started_at("app");

    let id = &b["id"].as_str().expect("id")[..6];
    let restored = stack.ok_json(&["restore", "db", id, "--yes", "--json"]);
    assert!(restored["safety_backup"]["id"].is_string(), "{restored}");
    assert_eq!(pg_fingerprint(&stack, "app", "shop"), original);
    // The dependent was stopped for the restore and is running again.
    let app_after = stack.started_at("app");
    assert_ne!(app_after, app_before);
    assert!(app_after.ends_with("true"), "{app_after}");
    eprintln!("restored in {:?}", started.elapsed());

    let listed = stack.ok_json(&["backups", "db", "--json"]);
    assert_eq!(listed.as_array().expect("list").len(), 2, "{listed}");
    let verified = stack.ok_json(&["backups", "verify", id, "--json"]);
    assert_eq!(verified["ok"], true, "{verified}");

    // A backup killed half-way leaves no backup, and the next run removes its file.
    let mut child = stack.devtui(&["backup", "db"]).spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while partials(&stack.backups_dir()).is_empty() {
        assert!(Instant::now() < deadline, "no .partial appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Meanwhile nothing in the container's process list shows the password.
    let top = run(Command::new("docker").args(["top", &stack.container("db"), "-eo", "pid,args"]));
    assert!(!stdout(&top).contains(PASSWORD), "{}", stdout(&top));
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    assert_eq!(partials(&stack.backups_dir()).len(), 1);
    let listed = stack.ok_json(&["backups", "--json"]);
    assert_eq!(listed.as_array().expect("list").len(), 2, "{listed}");
    assert!(
        partials(&stack.backups_dir()).is_empty(),
        "the partial stayed"
    );
    eprintln!("done in {:?}", started.elapsed());
}

#[test]
fn plain_sql_files_load_and_bad_files_change_nothing() {
    if !engine_ready() {
        return;
    }
    let stack = Stack::up("pg-files", POSTGRES);
    psql(
        &stack,
        "app",
        "shop",
        "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 5000) g; CREATE TABLE notes (body text); INSERT INTO notes VALUES ('a'), ('b')",
    );
    let original = pg_fingerprint(&stack, "app", "shop");

    // A plain dump written the way the seeds' wiki says, and its gzip.
    let plain = stack.exec("db", &["pg_dump", "-U", "app", "shop"]);
    let sql = stack.path().join("seed.sql");
    std::fs::write(&sql, &plain).expect("write sql");
    let gz = stack.path().join("seed.sql.gz");
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).expect("create"),
            flate2::Compression::default(),
        );
        e.write_all(plain.as_bytes()).expect("gzip");
        e.finish().expect("finish");
    }
    let change = "DROP TABLE notes; UPDATE items SET name = 'changed' WHERE id < 100; CREATE TABLE extra (x int)";
    for file in [&sql, &gz] {
        psql(&stack, "app", "shop", change);
        let out = stack.run(&[
            "restore",
            "db",
            &file.to_string_lossy(),
            "--yes",
            "--no-backup",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(pg_fingerprint(&stack, "app", "shop"), original, "{file:?}");
    }

    // A truncated backup is refused before anything is dropped, from the store (its sha256)
    // and as a copy without its manifest (the load fails and rolls back).
    let made = stack.ok_json(&["backup", "db", "--json"]);
    let path = PathBuf::from(made[0]["path"].as_str().expect("path"));
    let id = made[0]["id"].as_str().expect("id").to_string();
    let bytes = std::fs::read(&path).expect("read backup");
    let copy = stack.path().join("cut.dump");
    std::fs::write(&copy, &bytes[..bytes.len() / 2]).expect("write copy");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    psql(
        &stack,
        "app",
        "shop",
        "UPDATE items SET name = 'kept' WHERE id = 1",
    );
    let kept = pg_fingerprint(&stack, "app", "shop");
    let out = stack.run(&["restore", "db", &id[..8], "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is damaged"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing was changed"),
        "{}",
        stderr(&out)
    );
    let out = stack.run(&[
        "restore",
        "db",
        &copy.to_string_lossy(),
        "--yes",
        "--no-backup",
    ]);
    assert!(!out.status.success());
    assert_eq!(pg_fingerprint(&stack, "app", "shop"), kept);
    let out = stack.run(&["backups", "verify", &id[..8]]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // Backups of another kind are refused by name.
    let rdb = stack.path().join("dump.rdb");
    std::fs::write(
        &rdb,
        b"REDIS0011\xfa\x09redis-ver\x057.0.0\xff\0\0\0\0\0\0\0\0",
    )
    .expect("rdb");
    let maria = stack.path().join("other.sql");
    std::fs::write(
        &maria,
        "-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n/*!40101 SET NAMES utf8mb4 */;\nDROP TABLE IF EXISTS `items`;\n",
    )
    .expect("sql");
    for file in [&rdb, &maria] {
        let out = stack.run(&[
            "restore",
            "db",
            &file.to_string_lossy(),
            "--yes",
            "--no-backup",
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("not a backup of db"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(pg_fingerprint(&stack, "app", "shop"), kept);

    // A service that holds nothing to back up says so.
    let out = stack.run(&["backup", "app"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing to back up"),
        "{}",
        stderr(&out)
    );
    // Without a terminal, destructive commands need --yes.
    let out = stack.run(&["restore", "db", "--latest"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
}

#[test]
fn mariadb_round_trip() {
    if !engine_ready() {
        return;
    }
    let stack = Stack::up("maria", MARIADB);
    maria(
        &stack,
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(8,2)); \
         INSERT INTO items SELECT seq, CONCAT('item ', seq), seq / 7 FROM seq_1_to_20000; \
         CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('a'), ('b');",
    );
    let fingerprint = |stack: &Stack| {
        let tables = maria(
            stack,
            "SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop'",
        );
        let sums = maria(stack, "CHECKSUM TABLE items, notes EXTENDED");
        format!("{tables} {sums}")
    };
    let original = fingerprint(&stack);
    let made = stack.ok_json(&["backup", "--json"]);
    assert_eq!(made[0]["kind"], "mysql", "{made}");
    assert!(
        made[0]["path"]
            .as_str()
            .expect("path")
            .ends_with(".sql.zst")
    );
    assert!(
        made[0]["server_version"]
            .as_str()
            .expect("version")
            .contains("MariaDB")
    );
    maria(
        &stack,
        "DROP TABLE notes; UPDATE items SET price = 0 WHERE id < 500; CREATE TABLE extra (x INT);",
    );
    assert_ne!(fingerprint(&stack), original);
    stack.ok_json(&["restore", "maria", "--latest", "--yes", "--json"]);
    assert_eq!(fingerprint(&stack), original);
}

#[test]
fn redis_and_volume_round_trips_and_reset_removes_exactly_the_named_volumes() {
    if !engine_ready() {
        return;
    }
    let stack = Stack::up("mixed", MIXED);
    // Redis: BGSAVE, the RDB out, back in.
    stack.exec(
        "cache",
        &[
            "redis-cli",
            "EVAL",
            "for i=1,2000 do redis.call('SET','k'..i,i) end",
            "0",
        ],
    );
    let made = stack.ok_json(&["backup", "cache", "--json"]);
    assert_eq!(made[0]["kind"], "redis", "{made}");
    stack.exec("cache", &["redis-cli", "FLUSHALL"]);
    stack.exec("cache", &["redis-cli", "SET", "new", "1"]);
    stack.ok_json(&["restore", "cache", "--latest", "--yes", "--json"]);
    assert_eq!(stack.exec("cache", &["redis-cli", "DBSIZE"]).trim(), "2000");
    assert_eq!(stack.exec("cache", &["redis-cli", "GET", "k7"]).trim(), "7");

    // A plain volume: a tar of it out, and back into a fresh volume.
    stack.exec("files", &["sh", "-c", "mkdir -p /srv/files/a && echo one > /srv/files/a/one.txt && ln -s a/one.txt /srv/files/link"]);
    let made = stack.ok_json(&["backup", "files", "--yes", "--json"]);
    assert_eq!(made[0]["kind"], "volume", "{made}");
    stack.exec(
        "files",
        &[
            "sh",
            "-c",
            "rm -r /srv/files/a && echo two > /srv/files/two.txt",
        ],
    );
    stack.ok_json(&["restore", "files", "--latest", "--yes", "--json"]);
    let listing = stack.exec("files", &["sh", "-c", "cd /srv/files && ls -A && cat link"]);
    assert_eq!(
        listing.split_whitespace().collect::<Vec<_>>(),
        ["a", "link", "one"]
    );

    // Every database, with no service named: postgres and redis, not the plain volume.
    let made = stack.ok_json(&["backup", "--json"]);
    let mut services: Vec<&str> = made
        .as_array()
        .expect("list")
        .iter()
        .map(|b| b["service"].as_str().expect("service"))
        .collect();
    services.sort();
    assert_eq!(services, ["cache", "db"]);

    // Reset db: its volume goes (and comes back empty), the others stay as they were.
    psql(
        &stack,
        "postgres",
        "postgres",
        "CREATE TABLE marker (x int)",
    );
    let volume = |name: &str| {
        let out = run(Command::new("docker").args([
            "volume",
            "inspect",
            "-f",
            "{{.CreatedAt}}",
            &format!("{}_{name}", stack.project),
        ]));
        stdout(&out).trim().to_string()
    };
    let (pg_before, cache_before, files_before) =
        (volume("pgdata"), volume("cachedata"), volume("filedata"));
    let done = stack.ok_json(&["reset", "db", "--yes", "--json"]);
    let wiped: Vec<&str> = done["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .map(|v| v["name"].as_str().expect("name"))
        .collect();
    assert_eq!(wiped, [format!("{}_pgdata", stack.project)]);
    assert_eq!(done["backups"].as_array().expect("backups").len(), 1);
    assert_eq!(volume("cachedata"), cache_before);
    assert_eq!(volume("filedata"), files_before);
    assert_ne!(volume("pgdata"), pg_before);
    let tables = psql(
        &stack,
        "postgres",
        "postgres",
        "SELECT count(*) FROM pg_tables WHERE tablename = 'marker'",
    );
    assert_eq!(tables.trim(), "0");
    assert_eq!(stack.exec("cache", &["redis-cli", "DBSIZE"]).trim(), "2000");

    // A profile's `backups.before_reset: false` skips the safety backup, as --no-backup.
    let profiles = stack.path().join(".devtui/profiles");
    std::fs::create_dir_all(&profiles).expect("profiles dir");
    std::fs::write(
        profiles.join("nobk.yaml"),
        "backups:\n  before_reset: false\n",
    )
    .expect("profile");
    let done = stack.ok_json(&["reset", "db", "--yes", "--json", "-P", "nobk"]);
    assert_eq!(
        done["backups"].as_array().expect("backups").len(),
        0,
        "{done}"
    );
    assert_ne!(volume("pgdata"), pg_before);
}
