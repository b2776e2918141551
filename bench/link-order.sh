#!/usr/bin/env bash
# Regenerates assets/link/hot-functions.txt, the functions a TUI session runs, which the
# release link places first (src/build.rs passes the file to lld as --symbol-ordering-file).
# Why: the kernel maps a binary's code 64 KB at a time around each page touched, so code a
# session runs, scattered through 19 MB of .text among code it never runs (Gaian's server,
# sqlx, backups), costs ~10 MB of resident memory; laid out together it costs ~3 MB (the
# figures are in README, Benchmarks). A stale entry only costs locality: lld skips names it
# does not find, so regenerate after large changes, not on every commit. Generic and
# ThinLTO-promoted names change with the code around them: one day's changes left 811 of
# 1,934 names (idle RSS 10 MB -> 17 MB); bench/tui.sh prints how many the binary still has.
#
# The session: a stack shaped like an application's (PostgreSQL and Redis, the services'
# probes and healthchecks, a service that has exited), the dashboard, a log pane, the help
# overlay, the second service's log pane, quit; run under valgrind's callgrind, which lists
# every function run. A function a session runs that the list lacks costs 64 KB of resident
# code wherever it lies: a two-service stack without databases left ~35 such chunks (2.2 MB)
# in bench/tui.sh's session.
#
#   bench/link-order.sh        (needs valgrind, tmux and the engine; builds the release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "link-order: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
command -v tmux >/dev/null || { echo "link-order: needs tmux" >&2; exit 2; }
cargo build --release --locked
bin="$(realpath "${CARGO_TARGET_DIR:-target}/release/devtui")"
export DEVTUI_BASE_IMAGE="${DEVTUI_BASE_IMAGE:-devtui-standin/debian:bookworm}"
export DEVTUI_POSTGRES_IMAGE="${DEVTUI_POSTGRES_IMAGE:-devtui-standin/postgres:15}"
export DEVTUI_REDIS_IMAGE="${DEVTUI_REDIS_IMAGE:-devtui-standin/redis:7}"

work="$(mktemp -d)"
project="devtui-link-order-$$"
sock="devtui-link-order-$$"
cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null || true
  (cd "$work" && docker compose -p "$project" down -v -t 0 >/dev/null 2>&1) || true
  rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/compose.yaml" <<'YAML'
services:
  chatty:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm}
    init: true
    command: ["sh", "-c", "while true; do echo chatty $$(date); sleep 0.1; done"]
    healthcheck: { test: ["CMD", "true"], interval: 2s }
  quiet:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm}
    init: true
    command: ["sh", "-c", "while true; do echo quiet; sleep 5; done"]
  cache:
    image: ${DEVTUI_REDIS_IMAGE:-redis:7-alpine}
    healthcheck: { test: ["CMD", "redis-cli", "ping"], interval: 2s }
  db:
    image: ${DEVTUI_POSTGRES_IMAGE:-postgres:16-alpine}
    environment: { POSTGRES_PASSWORD: link-order }
  once:
    image: ${DEVTUI_BASE_IMAGE:-debian:bookworm}
    command: ["true"]
YAML
(cd "$work" && docker compose -p "$project" up -d --wait chatty quiet cache db >/dev/null &&
  docker compose -p "$project" up -d once >/dev/null)
# A command first, so the session below starts as every later one does: with the engine's
# API version known (the first start on a machine negotiates before anything else).
XDG_STATE_HOME="$work/state" "$bin" -p "$project" -f "$work/compose.yaml" status >/dev/null

tmux -L "$sock" new-session -d -x 200 -y 50 -c "$work" \
  "XDG_STATE_HOME=$work/state valgrind --tool=callgrind --demangle=no --compress-strings=no --callgrind-out-file=$work/callgrind.out $bin -p $project -f compose.yaml 2>$work/valgrind.log; touch $work/done; sleep 600"
# Under valgrind everything is ~50x slower: generous pauses between keys.
sleep 30
for keys in Enter Escape '?' Escape Down Enter Escape; do
  tmux -L "$sock" send-keys "$keys"
  sleep 8
done
tmux -L "$sock" send-keys q
for _ in $(seq 120); do [ -e "$work/done" ] && break; sleep 1; done
[ -s "$work/callgrind.out" ] || { echo "link-order: no profile; valgrind said:" >&2; cat "$work/valgrind.log" >&2; exit 1; }

# The functions run, in callgrind's order, that the binary defines.
nm --defined-only "$bin" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | sort -u >"$work/defined"
mkdir -p assets/link
grep '^fn=' "$work/callgrind.out" | sed 's/^fn=//' | awk 'NR == FNR { d[$0] = 1; next } ($0 in d) && !seen[$0]++' "$work/defined" - \
  >assets/link/hot-functions.txt.tmp
mv assets/link/hot-functions.txt.tmp assets/link/hot-functions.txt
echo "link-order: $(wc -l <assets/link/hot-functions.txt) functions in assets/link/hot-functions.txt"
