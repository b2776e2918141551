//! Restores across server versions, end to end: a logical backup of an older PostgreSQL or
//! MariaDB, made by the real binary, restored into a newer server of a project of its own
//! (a fresh volume), every table's rows and checksum and the other objects as before; and a
//! backup of the newer PostgreSQL refused by the older one, its data untouched.
//!
//! The newer servers are DEVTUI_POSTGRES_NEXT_IMAGE and DEVTUI_MARIADB_NEXT_IMAGE (default
//! `postgres:17-alpine` and `mariadb:11.8`; `.ci/run` builds stand-ins of both with
//! tests/standin/newer-images.sh); the older ones are the other tests' DEVTUI_POSTGRES_IMAGE
//! and DEVTUI_MARIADB_IMAGE. With CI=true a missing engine or image fails these tests;
//! elsewhere they are skipped with a note.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use common::stack::{PASSWORD, Stack, maria, pg_fingerprint, psql};
use common::{engine_ready, image, require, stderr, stdout};

fn postgres(image: &str) -> String {
    format!(
        r#"
services:
  db:
    image: {image}
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: {PASSWORD}
      POSTGRES_DB: shop
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "shop"]
      interval: 1s
      retries: 120
    volumes: [pgdata:/var/lib/postgresql/data]
volumes:
  pgdata:
"#
    )
}

fn mariadb(image: &str) -> String {
    format!(
        r#"
services:
  maria:
    image: {image}
    environment:
      MARIADB_ROOT_PASSWORD: {PASSWORD}
      MARIADB_DATABASE: shop
    healthcheck:
      test: ["CMD", "mariadb-admin", "ping", "-uroot", "-p{PASSWORD}", "--silent"]
      interval: 1s
      retries: 120
    volumes: [mariadata:/var/lib/mysql]
volumes:
  mariadata:
"#
    )
}

/// The newer server's image: `var`, else the official `default`. It must be on the engine
/// or pullable; without it the test is skipped, or with CI=true fails.
fn next_image(var: &str, default: &str) -> Option<String> {
    let image = std::env::var(var).unwrap_or_else(|_| default.to_string());
    let docker = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let there = docker(&["image", "inspect", &image]) || docker(&["pull", "-q", &image]);
    require(
        &format!(
            "the newer server's image {image} (set {var}, or run tests/standin/newer-images.sh)"
        ),
        there,
    )
    .then_some(image)
}

/// `(major, minor)` of a version string: `17.2 (Debian …)` → (17, 2), `11.8.9-MariaDB` → (11, 8).
fn version(text: &str) -> (u32, u32) {
    let mut n = text
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (n.next().unwrap_or(0), n.next().unwrap_or(0))
}

const PG_OBJECTS: &str = "
CREATE SCHEMA sales;
CREATE SEQUENCE sales.order_no START 1000;
CREATE TABLE sales.orders (
  id bigint PRIMARY KEY DEFAULT nextval('sales.order_no'),
  aid int NOT NULL,
  doc jsonb NOT NULL,
  placed timestamptz NOT NULL
);
INSERT INTO sales.orders (aid, doc, placed)
  SELECT g % 1000 + 1, jsonb_build_object('qty', g % 17, 'vip', g % 5 = 0, 'tags', jsonb_build_array('a', g)),
         timestamptz '2026-01-01 00:00+00' + g * interval '1 minute'
  FROM generate_series(1, 5000) g;
CREATE INDEX orders_doc ON sales.orders USING gin (doc);
CREATE INDEX orders_aid ON sales.orders (aid);
CREATE FUNCTION sales.quantity(account int) RETURNS bigint LANGUAGE sql STABLE
  AS $$ SELECT coalesce(sum((doc->>'qty')::int), 0) FROM sales.orders WHERE aid = account $$;
CREATE VIEW sales.vip_orders AS SELECT id, aid, doc FROM sales.orders WHERE doc @> '{\"vip\": true}';
";

/// What the tables do not show: the sequence's position, the function, the view, the
/// indexes and the jsonb operators.
const PG_CHECKS: &str = "SELECT concat_ws(' ',
  (SELECT last_value FROM sales.order_no),
  sales.quantity(7),
  (SELECT count(*) FROM sales.vip_orders),
  (SELECT count(*) FROM sales.orders WHERE doc->'tags' ? 'a'),
  (SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes
     WHERE schemaname NOT IN ('pg_catalog', 'information_schema')))";

fn pg_version(stack: &Stack) -> String {
    psql(stack, "app", "shop", "SHOW server_version")
        .trim()
        .to_string()
}

#[test]
fn postgres_backup_of_the_older_server_restores_into_the_newer_one() {
    if !engine_ready() {
        return;
    }
    let Some(next) = next_image("DEVTUI_POSTGRES_NEXT_IMAGE", "postgres:17-alpine") else {
        return;
    };
    let started = Instant::now();
    let old = Stack::up("pg-upgrade-old", &postgres(&image("DEVTUI_POSTGRES_IMAGE")));
    old.exec(
        "db",
        &["pgbench", "-i", "-q", "-s", "2", "-U", "app", "shop"],
    );
    psql(&old, "app", "shop", PG_OBJECTS);
    let tables = pg_fingerprint(&old, "app", "shop");
    assert!(
        tables.contains("public.pgbench_accounts=200000|") && tables.contains("sales.orders=5000|"),
        "{tables}"
    );
    let objects = psql(&old, "app", "shop", PG_CHECKS);
    let old_version = pg_version(&old);

    let made = old.ok_json(&["backup", "db", "--json"]);
    let id = made[0]["id"].as_str().expect("id").to_string();
    assert_eq!(made[0]["server_version"], old_version.as_str(), "{made}");
    let path = PathBuf::from(made[0]["path"].as_str().expect("path"));
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{}.json", path.display())).expect("manifest"),
    )
    .expect("manifest JSON");
    assert_eq!(manifest["server_version"], old_version.as_str());
    eprintln!("backed up {old_version} in {:?}", started.elapsed());

    // A project of its own on the newer server (its own, fresh volume) in the same
    // directory: the backup is restored by its id.
    let new = old.beside("pg-upgrade-new", "next.yaml", &postgres(&next));
    let new_version = pg_version(&new);
    assert!(
        version(&new_version).0 > version(&old_version).0,
        "the newer server runs {new_version}, the older {old_version}: point \
         DEVTUI_POSTGRES_NEXT_IMAGE at a newer major version than DEVTUI_POSTGRES_IMAGE"
    );
    let restored = new.ok_json(&["restore", "db", &id[..8], "--yes", "--json"]);
    assert!(restored["checked"].is_string(), "{restored}");
    assert_eq!(pg_fingerprint(&new, "app", "shop"), tables);
    assert_eq!(psql(&new, "app", "shop", PG_CHECKS), objects);
    // The sequence goes on where the old server left it.
    let next_id = psql(
        &new,
        "app",
        "shop",
        "INSERT INTO sales.orders (aid, doc, placed) VALUES (1, '{}', now()) RETURNING id",
    );
    assert_eq!(next_id.lines().next(), Some("6000"), "{next_id}");
    eprintln!(
        "{old_version} → {new_version} restored, {:?} in all",
        started.elapsed()
    );
}

const MARIA_OBJECTS: &str = "
CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, price DECIMAL(8,2), stock INT NOT NULL DEFAULT 100);
INSERT INTO items (id, name, price) SELECT seq, CONCAT('item ', seq), seq / 7 FROM seq_1_to_20000;
CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, item INT NOT NULL, qty INT NOT NULL,
  note JSON, placed DATETIME NOT NULL, FOREIGN KEY (item) REFERENCES items (id), KEY (placed));
CREATE TRIGGER take_stock AFTER INSERT ON orders FOR EACH ROW
  UPDATE items SET stock = stock - NEW.qty WHERE id = NEW.item;
INSERT INTO orders (item, qty, note, placed)
  SELECT seq % 500 + 1, seq % 7 + 1, JSON_OBJECT('n', seq), '2026-01-01' + INTERVAL seq MINUTE FROM seq_1_to_3000;
CREATE FUNCTION sold(i INT) RETURNS INT READS SQL DATA RETURN (SELECT COALESCE(SUM(qty), 0) FROM orders WHERE item = i);
CREATE PROCEDURE restock(i INT, n INT) MODIFIES SQL DATA UPDATE items SET stock = stock + n WHERE id = i;
CREATE VIEW low_stock AS SELECT id, name, stock FROM items WHERE stock < 90;
";

/// Rows and a checksum of every table of `shop` (its columns joined, CRC32 summed).
fn maria_tables(stack: &Stack) -> String {
    let tables = maria(
        stack,
        "SELECT TABLE_NAME, GROUP_CONCAT(CONCAT('`', COLUMN_NAME, '`') ORDER BY ORDINAL_POSITION) \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME IN \
         (SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop' AND TABLE_TYPE = 'BASE TABLE') \
         GROUP BY TABLE_NAME ORDER BY TABLE_NAME",
    );
    tables
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(table, columns)| {
            let sums = maria(
                stack,
                &format!(
                    "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', {columns}))), 0) FROM `{table}`"
                ),
            );
            format!("{table}={}", sums.trim().replace('\t', "|"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The tables, then the routines, triggers and views of `shop`, and what they compute.
fn maria_fingerprint(stack: &Stack) -> String {
    let objects = maria(
        stack,
        "SELECT CONCAT_WS(' ', \
           (SELECT GROUP_CONCAT(ROUTINE_NAME ORDER BY ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'shop'), \
           (SELECT GROUP_CONCAT(TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'shop'), \
           (SELECT GROUP_CONCAT(TABLE_NAME) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'shop'), \
           sold(7), (SELECT COUNT(*) FROM low_stock))",
    );
    format!("{} {}", maria_tables(stack), objects.trim())
}

fn maria_version(stack: &Stack) -> String {
    maria(stack, "SELECT VERSION()").trim().to_string()
}

#[test]
fn mariadb_backup_of_the_older_server_restores_into_the_newer_one() {
    if !engine_ready() {
        return;
    }
    let Some(next) = next_image("DEVTUI_MARIADB_NEXT_IMAGE", "mariadb:11.8") else {
        return;
    };
    let started = Instant::now();
    let old = Stack::up(
        "maria-upgrade-old",
        &mariadb(&image("DEVTUI_MARIADB_IMAGE")),
    );
    maria(&old, MARIA_OBJECTS);
    let original = maria_fingerprint(&old);
    assert!(
        original.contains("items=20000|")
            && original.contains("orders=3000|")
            && original.contains("restock,sold take_stock low_stock"),
        "{original}"
    );
    let old_version = maria_version(&old);
    let made = old.ok_json(&["backup", "maria", "--json"]);
    assert_eq!(made[0]["server_version"], old_version.as_str(), "{made}");
    let path = made[0]["path"].as_str().expect("path").to_string();

    // The newer server in a directory of its own: the file is restored by its path.
    let new = Stack::up("maria-upgrade-new", &mariadb(&next));
    let new_version = maria_version(&new);
    assert!(
        version(&new_version) > version(&old_version),
        "the newer server runs {new_version}, the older {old_version}: point \
         DEVTUI_MARIADB_NEXT_IMAGE at a newer version than DEVTUI_MARIADB_IMAGE"
    );
    new.ok_json(&["restore", "maria", &path, "--yes", "--json"]);
    assert_eq!(maria_fingerprint(&new), original);
    // The trigger still fires on the newer server.
    maria(
        &new,
        "INSERT INTO orders (item, qty, placed) VALUES (7, 5, NOW())",
    );
    let stock = maria(&new, "SELECT stock FROM items WHERE id = 7");
    let before = maria(&old, "SELECT stock FROM items WHERE id = 7");
    assert_eq!(
        stock.trim().parse::<i64>().expect("stock") + 5,
        before.trim().parse::<i64>().expect("stock")
    );
    eprintln!(
        "{old_version} → {new_version} restored, {:?} in all",
        started.elapsed()
    );
}

#[test]
fn a_postgres_backup_of_the_newer_server_is_refused_by_the_older_one() {
    if !engine_ready() {
        return;
    }
    let Some(next) = next_image("DEVTUI_POSTGRES_NEXT_IMAGE", "postgres:17-alpine") else {
        return;
    };
    let new = Stack::up("pg-downgrade-new", &postgres(&next));
    psql(
        &new,
        "app",
        "shop",
        "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'new ' || g FROM generate_series(1, 100) g",
    );
    let new_version = pg_version(&new);
    let made = new.ok_json(&["backup", "db", "--json"]);
    let id = made[0]["id"].as_str().expect("id").to_string();
    let path = PathBuf::from(made[0]["path"].as_str().expect("path"));
    // The same dump without its manifest, and a plain SQL dump of the newer pg_dump.
    let copy = new.path().join("copied.dump");
    std::fs::copy(&path, &copy).expect("copy");
    let plain = new.path().join("plain.sql");
    std::fs::write(&plain, new.exec("db", &["pg_dump", "-U", "app", "shop"])).expect("sql");

    let old = new.beside(
        "pg-downgrade-old",
        "old.yaml",
        &postgres(&image("DEVTUI_POSTGRES_IMAGE")),
    );
    let old_version = pg_version(&old);
    let (old_major, new_major) = (version(&old_version).0, version(&new_version).0);
    assert!(
        new_major > old_major,
        "{new_version} is not newer than {old_version}"
    );
    psql(
        &old,
        "app",
        "shop",
        "CREATE TABLE kept (x int); INSERT INTO kept SELECT generate_series(1, 50)",
    );
    let kept = pg_fingerprint(&old, "app", "shop");
    let backups = std::fs::read_dir(old.backups_dir())
        .expect("backups")
        .count();

    for source in [
        id[..8].to_string(),
        copy.display().to_string(),
        plain.display().to_string(),
    ] {
        let out = old.run(&["restore", "db", &source, "--yes"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{source}: {err}");
        for words in [
            format!("backup from PostgreSQL {new_version}"),
            format!("db runs PostgreSQL {old_version}"),
            format!("Restore it into PostgreSQL {new_major} or newer"),
            "nothing was changed".to_string(),
        ] {
            assert!(err.contains(&words), "{source}: no {words:?} in {err}");
        }
        let why = if source.ends_with(".sql") {
            format!("PostgreSQL {old_major} is not meant to load what pg_dump {new_major} writes")
        } else {
            format!("pg_restore {old_major} cannot read a dump of pg_dump {new_major}")
        };
        assert!(err.contains(&why), "{source}: no {why:?} in {err}");
        assert_eq!(pg_fingerprint(&old, "app", "shop"), kept, "{source}");
    }
    // Refused before the safety backup: no file was added.
    assert_eq!(
        std::fs::read_dir(old.backups_dir())
            .expect("backups")
            .count(),
        backups
    );
    // The older pg_restore cannot list the archive: verify says so, and does not call the
    // file damaged.
    let verified = old.run(&["backups", "verify", &id[..8]]);
    let said = stdout(&verified);
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{said}{}",
        stderr(&verified)
    );
    let skipped = format!(
        "pg_restore --list skipped: the archive needs pg_restore {new_major} or newer, db runs PostgreSQL {old_version}"
    );
    assert!(said.contains(&skipped), "no {skipped:?} in {said}");
}

#[test]
fn a_mariadb_backup_of_the_newer_server_is_refused_by_the_older_one() {
    if !engine_ready() {
        return;
    }
    let Some(next) = next_image("DEVTUI_MARIADB_NEXT_IMAGE", "mariadb:11.8") else {
        return;
    };
    let new = Stack::up("maria-downgrade-new", &mariadb(&next));
    maria(&new, MARIA_OBJECTS);
    let new_version = maria_version(&new);
    let made = new.ok_json(&["backup", "maria", "--json"]);
    let path = made[0]["path"].as_str().expect("path").to_string();

    let old = Stack::up(
        "maria-downgrade-old",
        &mariadb(&image("DEVTUI_MARIADB_IMAGE")),
    );
    let old_version = maria_version(&old);
    let (old_series, new_series) = (version(&old_version), version(&new_version));
    assert!(
        new_series > old_series,
        "{new_version} is not newer than {old_version}"
    );
    maria(
        &old,
        "CREATE TABLE kept (x INT); INSERT INTO kept VALUES (1), (2)",
    );
    let kept = maria_tables(&old);
    let out = old.run(&["restore", "maria", &path, "--yes"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for words in [
        format!("backup from MariaDB {new_version}"),
        format!("maria runs MariaDB {old_version}"),
        format!(
            "Restore it into MariaDB {}.{} or newer",
            new_series.0, new_series.1
        ),
        "nothing was changed".to_string(),
    ] {
        assert!(err.contains(&words), "no {words:?} in {err}");
    }
    assert_eq!(maria_tables(&old), kept);
    // Refused before the safety backup.
    assert_eq!(
        std::fs::read_dir(old.backups_dir()).map_or(0, |d| d.count()),
        0
    );
}
