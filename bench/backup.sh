#!/usr/bin/env bash
# Backup and restore throughput: devtui against the raw `docker exec` commands people copy
# from wikis, on the same databases, in one run, rounds alternating which side goes first.
#
#   PostgreSQL (pgbench -s 68, about 1 GB on disk):
#     backup   devtui backup db              vs  docker exec pg_dump -Fc > file
#              devtui dumps with -Z 1 (gzip level 1, the default is 6): the row "pg_backup -Z1"
#              also compares it with the raw command at that level, devtui's own overhead
#     restore  devtui restore db FILE --yes --no-backup
#                                            vs  docker exec -i pg_restore --clean --if-exists
#                                                --single-transaction < FILE   (same FILE)
#   MariaDB (MARIA_ROWS rows of ~250 bytes):
#     backup   devtui backup maria (zstd on the host)
#                                            vs  docker exec mariadb-dump --single-transaction
#                                                --routines --triggers > file
#     restore  devtui restore maria FILE --yes --no-backup  vs  docker exec -i mariadb < FILE
#
# Ratio = raw time / devtui time (medians): 1.0 is as fast as the raw command, the target is
# ≥ 0.95. devtui's peak RSS is its process's VmHWM, sampled from /proc while it runs (the
# compose CLI it starts to read the project is a child, not counted).
#
#   cargo build --release && bench/backup.sh [ROUNDS]      (default 3)
#
# Env: DEVTUI_BIN (default target/release/devtui), PG_SCALE (68), MARIA_ROWS (1000000),
# WAIT_FOR_BUILD=1 (fill the databases first, then wait for DEVTUI_BIN to appear),
# images DEVTUI_POSTGRES_IMAGE / DEVTUI_MARIADB_IMAGE (default: the offline stand-ins).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
bin="$(realpath -m "${DEVTUI_BIN:-${CARGO_TARGET_DIR:-target}/release/devtui}")"
# WAIT_FOR_BUILD=1: prepare the databases while a release build finishes, then wait for it.
[ -x "$bin" ] || [ -n "${WAIT_FOR_BUILD:-}" ] || { echo "bench: build first: cargo build --release" >&2; exit 2; }
export DEVTUI_POSTGRES_IMAGE="${DEVTUI_POSTGRES_IMAGE:-devtui-standin/postgres:15}"
export DEVTUI_MARIADB_IMAGE="${DEVTUI_MARIADB_IMAGE:-devtui-standin/mariadb:10.11}"
pg_scale="${PG_SCALE:-68}"
maria_rows="${MARIA_ROWS:-1000000}"

work="$(mktemp -d)"
project="devtui-bench-backup-$$"
cat >"$work/compose.yaml" <<'EOF'
services:
  db:
    image: ${DEVTUI_POSTGRES_IMAGE:-postgres:16-alpine}
    environment: { POSTGRES_USER: app, POSTGRES_PASSWORD: bench-pw, POSTGRES_DB: shop }
    healthcheck: { test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "shop"], interval: 1s, retries: 120 }
  maria:
    image: ${DEVTUI_MARIADB_IMAGE:-mariadb:10.11}
    environment: { MARIADB_ROOT_PASSWORD: bench-pw, MARIADB_DATABASE: shop }
    healthcheck: { test: ["CMD", "mariadb-admin", "ping", "-uroot", "-pbench-pw", "--silent"], interval: 1s, retries: 120 }
EOF
compose() { docker compose -p "$project" -f "$work/compose.yaml" "$@"; }
cleanup() { compose down -v --remove-orphans >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v raw="$1" -v dt="$2" 'BEGIN { printf "%.3f", raw / dt }'; }

# Every measured operation starts from the same quiet state. Without this, the side that
# went first in a round paid for what the step before had left running: autovacuum and the
# checkpoint after a 1 GB restore or the initial load (that side was 0.6-0.9 s slower).
settle() {
  docker exec -e PGPASSWORD=bench-pw "$db" psql -q -U app -d shop -c 'VACUUM ANALYZE' -c CHECKPOINT >/dev/null
  docker exec -e MYSQL_PWD=bench-pw "$maria" mariadb -uroot -e 'FLUSH TABLES' >/dev/null
  sync
}
# devtui ARGS...: runs devtui, sets $t (seconds) and $rss (peak KiB of its own process).
devtui_timed() {
  local t0 pid hwm=0 key value _ tick
  settle
  t0=$(now)
  (cd "$work" && exec "$bin" -p "$project" -f compose.yaml "$@" </dev/null >/dev/null 2>"$work/devtui.err") &
  pid=$!
  # devtui's own high-water mark (GNU time's would be its largest child's, compose's Go
  # binary), read with shell builtins alone: a sampling loop that forked awk or sleep
  # would compete with the dump for the same two cores, on devtui's side only.
  exec {tick}<> <(:)
  while kill -0 "$pid" 2>/dev/null; do
    while read -r key value _; do
      [ "$key" = VmHWM: ] && [ "$value" -gt "$hwm" ] && hwm=$value
    done <"/proc/$pid/status" 2>/dev/null || true
    read -r -t 0.1 -u "$tick" _ || true
  done
  exec {tick}>&-
  wait "$pid" || { echo "bench: devtui $* failed:" >&2; cat "$work/devtui.err" >&2; exit 1; }
  t=$(elapsed "$t0" "$(now)")
  rss=$hwm
}
raw_timed() {
  local t0
  settle
  t0=$(now)
  bash -c "$1" || { echo "bench: $1 failed" >&2; exit 1; }
  t=$(elapsed "$t0" "$(now)")
}

echo "bench: starting PostgreSQL and MariaDB ($DEVTUI_POSTGRES_IMAGE, $DEVTUI_MARIADB_IMAGE)"
compose up -d --wait >/dev/null 2>&1
db=$(compose ps -q db)
maria=$(compose ps -q maria)
echo "bench: pgbench -i -s $pg_scale"
docker exec "$db" pgbench -i -q -s "$pg_scale" -U app shop >/dev/null 2>&1
pg_size=$(docker exec "$db" psql -U app -d shop -tAc "SELECT pg_size_pretty(pg_database_size('shop'))")
echo "bench: MariaDB, $maria_rows rows"
docker exec "$maria" mariadb -uroot -pbench-pw shop -e "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64), price DECIMAL(10,2), body VARCHAR(200)); INSERT INTO items SELECT seq, CONCAT('item ', seq), seq / 7, REPEAT(MD5(seq), 5) FROM seq_1_to_$maria_rows; ANALYZE TABLE items;" >/dev/null
maria_size=$(docker exec "$maria" mariadb -uroot -pbench-pw -N -B -e "SELECT CONCAT(ROUND(SUM(data_length + index_length) / 1e6), ' MB') FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop'")
echo "bench: PostgreSQL database $pg_size, MariaDB database $maria_size; $rounds rounds"
while [ ! -x "$bin" ]; do sleep 5; done

pg_raw="docker exec -e PGPASSWORD=bench-pw $db pg_dump -Fc -U app -d shop > $work/raw.dump"
pg_raw_z1="docker exec -e PGPASSWORD=bench-pw $db pg_dump -Fc -Z 1 -U app -d shop > $work/raw-z1.dump"
pg_raw_restore="docker exec -i -e PGPASSWORD=bench-pw $db pg_restore --clean --if-exists --single-transaction --exit-on-error -U app -d shop < $work/raw.dump"
my_raw="docker exec -e MYSQL_PWD=bench-pw $maria mariadb-dump --single-transaction --routines --triggers -uroot shop > $work/raw.sql"
my_raw_restore="docker exec -i -e MYSQL_PWD=bench-pw $maria mariadb -uroot shop < $work/raw.sql"

declare -A times rsses
add() { times[$1]="${times[$1]:-} $2"; }
add_rss() { rsses[$1]="${rsses[$1]:-} $2"; }

for round in $(seq 1 "$rounds"); do
  for side in $( ((round % 2)) && echo "devtui raw" || echo "raw devtui"); do
    if [ "$side" = devtui ]; then
      devtui_timed backup db; add pg_backup_devtui "$t"; add pg_backup_z1_devtui "$t"; add_rss pg_backup "$rss"; a=$t
      devtui_timed backup maria; add my_backup_devtui "$t"; add_rss my_backup "$rss"; b=$t
      echo "round $round devtui: pg backup ${a}s, maria backup ${b}s (peak RSS ${rss} KiB)"
    else
      raw_timed "$pg_raw"; add pg_backup_raw "$t"; a=$t
      raw_timed "$pg_raw_z1"; add pg_backup_z1_raw "$t"; z=$t
      raw_timed "$my_raw"; add my_backup_raw "$t"; b=$t
      echo "round $round raw:    pg backup ${a}s (-Z 1: ${z}s), maria backup ${b}s"
    fi
  done
  # Restores read the raw dumps (the same file for both sides).
  for side in $( ((round % 2)) && echo "devtui raw" || echo "raw devtui"); do
    if [ "$side" = devtui ]; then
      devtui_timed restore db "$work/raw.dump" --yes --no-backup; add pg_restore_devtui "$t"; add_rss pg_restore "$rss"; a=$t
      devtui_timed restore maria "$work/raw.sql" --yes --no-backup; add my_restore_devtui "$t"; add_rss my_restore "$rss"; b=$t
      echo "round $round devtui: pg restore ${a}s, maria restore ${b}s (peak RSS ${rss} KiB)"
    else
      raw_timed "$pg_raw_restore"; add pg_restore_raw "$t"; a=$t
      raw_timed "$my_raw_restore"; add my_restore_raw "$t"; b=$t
      echo "round $round raw:    pg restore ${a}s, maria restore ${b}s"
    fi
  done
  # devtui's own backups are not needed between rounds.
  rm -f "$work"/backups/*
done

echo
printf '%-18s %10s %10s %8s %14s\n' "" "devtui s" "raw s" "ratio" "devtui peak RSS"
rsses[pg_backup_z1]=${rsses[pg_backup]}
for op in pg_backup pg_backup_z1 pg_restore my_backup my_restore; do
  d=$(echo "${times[${op}_devtui]}" | median)
  r=$(echo "${times[${op}_raw]}" | median)
  m=$(echo "${rsses[$op]}" | tr ' ' '\n' | sort -g | tail -n 1)
  printf '%-18s %10s %10s %8s %11s MB\n' "$op" "$d" "$r" "$(ratio "$r" "$d")" "$(awk -v k="$m" 'BEGIN { printf "%.1f", k / 1024 }')"
done
echo "(ratio = raw time / devtui time, medians; ≥ 0.95 is the target; RSS: the highest round)"
echo "sizes: raw pg_dump -Fc $(stat -c %s "$work/raw.dump") bytes, -Z 1 $(stat -c %s "$work/raw-z1.dump") bytes"
