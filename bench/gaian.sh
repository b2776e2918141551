#!/usr/bin/env bash
# Gaian throughput against its ceiling, in one run on one machine:
#   1. pgbench: the equivalent transaction (insert a ledger row, update the balance) straight
#      on PostgreSQL at the same concurrency: the commit-rate ceiling;
#   2. wrk: POST /api/v1/action with distinct actions (unique players and idempotency keys)
#      to Gaian on the same PostgreSQL;
#   3. wrk: GET /health (answered from the background probe, no query per request).
# Prints the figures and the ratios (POST tps / pgbench tps, POST p99 / pgbench p99), and per
# round the WAL each side wrote per action (bytes, full-page images) and the checkpoints that
# ran: the costs that grow with the data show there first.
#
# Needs: docker (stand-in or official postgres image), wrk, pgbench, python3, a release build.
#   apt-get install -y wrk postgresql-client      # pgbench ships with the client on Debian 12
#   cargo build --release && bench/gaian.sh
# Knobs: CONNECTIONS (64), DURATION seconds per step (15), ROUNDS (3), GAIAN_BIN (target/release/devtui),
#        DEVTUI_POSTGRES_IMAGE (devtui-standin/postgres:15 here, postgres:16-alpine elsewhere).
# Traffic goes to 127.0.0.1 only; every step is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-15}"
ROUNDS="${ROUNDS:-3}"
GAIAN_BIN="${GAIAN_BIN:-target/release/devtui}"
IMAGE="${DEVTUI_POSTGRES_IMAGE:-postgres:16-alpine}"
PW="bench-$$"
NAME="devtui-gaian-bench-$$"

for tool in docker wrk pgbench python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (see the header of $0)"; exit 2; }
done
[ -x "$GAIAN_BIN" ] || { echo "bench: $GAIAN_BIN not found; run cargo build --release"; exit 2; }

work="$(mktemp -d)"
gaian_pid=""
cleanup() {
  [ -n "$gaian_pid" ] && kill -TERM "$gaian_pid" 2>/dev/null && wait "$gaian_pid" 2>/dev/null || true
  docker rm -f -v "$NAME" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "bench: PostgreSQL from $IMAGE"
docker run -d --rm --name "$NAME" --label dev.devtui.test=gaian-bench -p 127.0.0.1::5432 \
  -e POSTGRES_PASSWORD="$PW" "$IMAGE" postgres -c max_connections=200 >/dev/null
PORT="$(docker port "$NAME" 5432/tcp | head -1 | sed 's/.*://')"
export PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=postgres PGPASSWORD="$PW"
for _ in $(seq 120); do
  psql -d postgres -tAc 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.5
done
psql -d postgres -qc 'CREATE DATABASE gaian' >/dev/null

echo "bench: starting Gaian ($GAIAN_BIN)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
DATABASE_URL="postgres://postgres:$PW@127.0.0.1:$PORT/gaian" TRAINING_DATA_PATH="$work/training" \
  "$GAIAN_BIN" gaian serve --addr "127.0.0.1:$port" 2>"$work/gaian.log" &
gaian_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/health" >/dev/null || { cat "$work/gaian.log"; exit 1; }

# Players the pgbench transaction updates (Gaian creates its own on first action).
psql -d gaian -qc "INSERT INTO players SELECT 'pgb-' || g, 0, now()::text FROM generate_series(1, 10000) g" >/dev/null
cat > "$work/tx.sql" <<'SQL'
\set pid random(1, 10000)
BEGIN;
INSERT INTO ledger (player_id, action, quantity, reward_micro, balance_after_micro, capped, day, created_at, request)
  VALUES ('pgb-' || :pid, 'plant_tree', 1, 5000000, 0, false, '2026-01-01', now()::text, '{}');
UPDATE players SET balance_micro = balance_micro + 5000000 WHERE player_id = 'pgb-' || :pid;
END;
SQL
# WAL bytes, full-page images and checkpoints so far (pg_stat_wal: PostgreSQL 14 and later).
wal_now() {
  psql -d gaian -tAc "SELECT wal_bytes::bigint || '|' || wal_fpi || '|' || (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) FROM pg_stat_wal" 2>/dev/null || echo "0|0|0"
}
to_ms() { python3 -c "
import sys; v=sys.argv[1]
for unit, f in (('us',0.001),('ms',1),('s',1000)):
    if v.endswith(unit) and (unit != 's' or not v.endswith('ms') and not v.endswith('us')):
        print('%.1f' % (float(v[:-len(unit)]) * f)); break" "$1"; }
cat > "$work/post.lua" <<'LUA'
-- Distinct actions: every idempotency key is new (the run's tag from the command line, the
-- thread, a counter) and players are spread over 10,000. wrk seeds Lua's generator the same
-- way in every run and thread, so without the tag each round would replay the keys of the
-- round before, and both threads would post the same players in step.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  tag = args[1] .. "-" .. tid
  math.randomseed(tonumber(args[2]) + tid * 7919)
  counter = 0
end
local actions = {"plant_tree", "recycle", "clean_beach", "share_knowledge"}
request = function()
  counter = counter + 1
  local body = string.format(
    '{"player_id":"wrk-%d","action":"%s","quantity":1,"idempotency_key":"%s-%d"}',
    math.random(1, 10000), actions[(counter % 4) + 1], tag, counter)
  return wrk.format("POST", "/api/v1/action", {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("non2xx_or_errors %d\n", bad))
end
LUA
# Alternate the two in rounds, so load from elsewhere on a shared machine hits both alike;
# the medians of the rounds are reported.
: > "$work/rounds"
: > "$work/posted"
for round in $(seq "$ROUNDS"); do
  echo "bench: round $round/$ROUNDS: pgbench, then wrk POST /api/v1/action ($CONNECTIONS connections, ${DURATION}s each)"
  rm -f "$work"/pgb.*
  wal0="$(wal_now)"
  (cd "$work" && pgbench -n -c "$CONNECTIONS" -j 2 -T "$DURATION" -f tx.sql -l --log-prefix=pgb gaian > pgbench.out 2>&1)
  pg_tps="$(grep -oP 'tps = \K[0-9.]+' "$work/pgbench.out" | head -1)"
  pg_n="$(grep -oP 'number of transactions actually processed: \K[0-9]+' "$work/pgbench.out" | head -1)"
  wal1="$(wal_now)"
  pg_p99="$(cat "$work"/pgb.* | python3 -c '
import sys
lat = sorted(int(l.split()[2]) for l in sys.stdin if l.strip())
print("%.1f" % (lat[int(len(lat) * 0.99) - 1] / 1000.0))')"
  wrk -t2 -c "$CONNECTIONS" -d "${DURATION}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port" \
    -- "r$round-$$" "$RANDOM" > "$work/post.out"
  post_rps="$(grep -oP 'Requests/sec:\s+\K[0-9.]+' "$work/post.out")"
  post_p99="$(to_ms "$(grep -P '^\s+99%' "$work/post.out" | awk '{print $2}')")"
  post_bad="$(grep -oP 'non2xx_or_errors \K[0-9]+' "$work/post.out" || echo 0)"
  post_n="$(grep -oP '^\s+\K[0-9]+(?= requests in)' "$work/post.out")"
  echo "$post_n" >> "$work/posted"
  wal2="$(wal_now)"
  echo "$pg_tps $pg_p99 $post_rps $post_p99 $post_bad" | tee -a "$work/rounds"
  python3 - "$wal0" "$wal1" "$wal2" "$pg_n" "$post_n" <<'PY2' | tee -a "$work/wal"
import sys
w0, w1, w2 = (list(map(int, a.split("|"))) for a in sys.argv[1:4])
pg_n, post_n = max(int(sys.argv[4]), 1), max(int(sys.argv[5]), 1)
def side(a, b, n):
    return f"{(b[0] - a[0]) / n:6.0f} WAL bytes/action, {(b[1] - a[1]) / n:5.2f} full-page images/action, checkpoints {b[2] - a[2]}"
print(f"  WAL: pgbench {side(w0, w1, pg_n)} | POST {side(w1, w2, post_n)}")
PY2
done
echo "bench: wrk GET /health, $CONNECTIONS connections, ${DURATION}s"
wrk -t2 -c "$CONNECTIONS" -d "${DURATION}s" --latency "http://127.0.0.1:$port/health" > "$work/health.out"

health_rps="$(grep -oP 'Requests/sec:\s+\K[0-9.]+' "$work/health.out")"
health_p99="$(to_ms "$(grep -P '^\s+99%' "$work/health.out" | awk '{print $2}')")"
rows="$(psql -d gaian -tAc "SELECT count(*) FROM ledger WHERE player_id LIKE 'wrk-%'")"
# Every POST is a new action: a replayed key is answered 200 without a new row, so rows
# below the answered POSTs would mean the rounds measured replays.
posted="$(awk '{n += $1} END {print n + 0}' "$work/posted")"
exact="$(psql -d gaian -tAc "SELECT count(*) FROM players p WHERE balance_micro <> (SELECT COALESCE(SUM(reward_micro),0) FROM ledger l WHERE l.player_id = p.player_id) AND p.player_id LIKE 'wrk-%'")"

echo
echo "== results ($CONNECTIONS connections, $ROUNDS rounds of ${DURATION}s, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)) =="
python3 - "$work/rounds" "$health_rps" "$health_p99" "$rows" "$posted" <<'PY'
import statistics, sys
rounds = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
health, health99, rows, posted = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
for i, (pg, pg99, post, post99, bad) in enumerate(rounds, 1):
    print(f"round {i}: pgbench {pg:8.0f} tps p99 {pg99:6.1f} ms | POST {post:8.0f} req/s p99 {post99:6.1f} ms (errors {bad:.0f}) | ratio {post / pg:.2f}, p99 ratio {post99 / pg99:.2f}")
med = lambda k: statistics.median(r[k] for r in rounds)
print(f"median pgbench ledger+balance tx: {med(0):.0f} tps, p99 {med(1):.1f} ms")
print(f"median Gaian POST /api/v1/action: {med(2):.0f} req/s, p99 {med(3):.1f} ms (ledger rows written: {rows} for {posted} answered POSTs)")
print(f"Gaian GET /health:                {health:.0f} req/s, p99 {health99:.1f} ms")
print(f"POST/pgbench throughput ratio (median of rounds): {statistics.median(r[2] / r[0] for r in rounds):.2f} (range {min(r[2] / r[0] for r in rounds):.2f}-{max(r[2] / r[0] for r in rounds):.2f}; target >= 2)")
print(f"POST/pgbench p99 ratio (median of rounds):        {statistics.median(r[3] / r[1] for r in rounds):.2f} (range {min(r[3] / r[1] for r in rounds):.2f}-{max(r[3] / r[1] for r in rounds):.2f}; target <= 1)")
print(f"GET /health: {health:.0f} req/s (target >= 40000)")
PY
echo "players whose balance != sum(ledger): $exact"
