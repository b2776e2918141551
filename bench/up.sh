#!/usr/bin/env bash
# Cold start of the bundled stack: `devtui up --no-tui` against `docker compose up -d
# --build --wait`, same stack, same .env, same images, in one run. Rounds alternate which
# goes first and every start is cold: `down -v --rmi local` before it (no containers, no
# volumes, so PostgreSQL runs initdb each time, and no gaian image).
#
# Both sides build gaian every round: devtui up writes the gaian build context and runs
# `compose build`; the compose side gets the same context from `devtui gaian image
# --context` (untimed: it is what devtui up does first, and counting it would favour
# devtui) and builds with `up --build`. Any build cache the engine keeps serves both.
# Prints each round, the medians and the ratio devtui / compose (target ≤ 1.05, preflight
# included).
#
# STACK=mixed measures instead a 10-service stack of stand-in images with no build: db
# (PostgreSQL) and cache (Redis) with healthchecks, api (healthcheck) after both are
# healthy, and 7 services without a healthcheck (4 standalone, 3 started after api), against
# `docker compose up -d --wait`. devtui counts a service without a healthcheck as up after 1 s
# of running (a crash right after start fails `up`); compose counts it at once.
#
#   cargo build --release && bench/up.sh [ROUNDS]      (default 6 rounds)
#   STACK=mixed bench/up.sh [ROUNDS]
#
# Env: DEVTUI_BIN (default target/release/devtui). Images: DEVTUI_POSTGRES_IMAGE,
# DEVTUI_REDIS_IMAGE, DEVTUI_BASE_IMAGE, by default the offline stand-ins
# (/work/shared/engine). Host ports are picked free for every run.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-6}"
bin="$(realpath "${DEVTUI_BIN:-target/release/devtui}")"
[ -x "$bin" ] || { echo "bench: build first: cargo build --release" >&2; exit 2; }
export DEVTUI_POSTGRES_IMAGE="${DEVTUI_POSTGRES_IMAGE:-devtui-standin/postgres:15}"
export DEVTUI_REDIS_IMAGE="${DEVTUI_REDIS_IMAGE:-devtui-standin/redis:7}"
export DEVTUI_BASE_IMAGE="${DEVTUI_BASE_IMAGE:-devtui-standin/debian:bookworm}"

work="$(mktemp -d)"
project="devtui-bench-$$"
export XDG_DATA_HOME="$work/data"
mkdir -p "$work/cwd"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export POSTGRES_PORT="$(free_port)" REDIS_PORT="$(free_port)" GAIAN_PORT="$(free_port)"
stack="$XDG_DATA_HOME/devtui/stack"
if [ "${STACK:-bundled}" = mixed ]; then
  stack="$work/mixed"
  mkdir -p "$stack"
  {
    cat <<'EOF'
services:
  db:
    image: ${DEVTUI_POSTGRES_IMAGE}
    environment: { POSTGRES_PASSWORD: bench }
    healthcheck: { test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U postgres"], interval: 1s, retries: 60 }
  cache:
    image: ${DEVTUI_REDIS_IMAGE}
    healthcheck: { test: ["CMD", "redis-cli", "ping"], interval: 1s, retries: 60 }
  api:
    image: ${DEVTUI_BASE_IMAGE}
    init: true
    command: ["sleep", "infinity"]
    healthcheck: { test: ["CMD", "true"], interval: 1s, retries: 60 }
    depends_on:
      db: { condition: service_healthy }
      cache: { condition: service_healthy }
EOF
    for i in 1 2 3 4 5 6 7; do
      printf '  w%d:\n    image: ${DEVTUI_BASE_IMAGE}\n    init: true\n    command: ["sleep", "infinity"]\n' "$i"
      if ((i > 4)); then printf '    depends_on: [api]\n'; fi
    done
  } > "$stack/compose.yaml"
  : > "$stack/.env"
fi

compose() { docker compose -p "$project" -f "$stack/compose.yaml" --env-file "$stack/.env" "$@"; }
# Removes the containers, volumes and the images compose built (gaian), not the tagged base
# images the stack pulls.
down() { [ ! -f "$stack/compose.yaml" ] || compose down -v --rmi local --remove-orphans >/dev/null 2>&1 || true; }
cleanup() { down; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
if [ "${STACK:-bundled}" = mixed ]; then
  run_devtui() { (cd "$stack" && "$bin" -p "$project" -f compose.yaml up --no-tui >/dev/null 2>&1); }
  write_context() { :; }
  run_compose() { compose up -d --wait >/dev/null 2>&1; }
else
  run_devtui() { (cd "$work/cwd" && "$bin" -p "$project" up --no-tui >/dev/null 2>&1); }
  write_context() { "$bin" gaian image --context "$stack/gaian-context" >/dev/null 2>&1; }
  run_compose() { compose up -d --build --wait >/dev/null 2>&1; }
fi
# timed VAR CMD...: runs CMD, stores its wall time in seconds in VAR, stops the bench if it fails.
timed() {
  local var=$1 t0 t1; shift
  t0=$(now)
  "$@" || { echo "bench: $* failed" >&2; exit 1; }
  t1=$(now)
  printf -v "$var" '%s' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')"
}
compose_round() { write_context; timed tc run_compose; down; }
devtui_round() { timed td run_devtui; down; }

# Warm-up (not timed): materialises the stack and creates .env, so both sides then read the
# same files; warms the page cache for the images.
run_devtui || { echo "bench: warm-up devtui up failed" >&2; exit 1; }
down
write_context
run_compose || { echo "bench: warm-up compose up failed" >&2; exit 1; }
down

declare -a d c
for ((i = 1; i <= rounds; i++)); do
  if ((i % 2)); then
    devtui_round; compose_round
  else
    compose_round; devtui_round
  fi
  d+=("$td"); c+=("$tc")
  printf 'round %d: devtui %.3fs  compose %.3fs\n' "$i" "$td" "$tc"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
md=$(median "${d[@]}"); mc=$(median "${c[@]}")
printf 'median (%s stack): devtui %.3fs  compose up --wait %.3fs  ratio %.3f (target <= 1.05)\n' "${STACK:-bundled}" \
  "$md" "$mc" "$(awk -v a="$md" -v b="$mc" 'BEGIN { print a / b }')"
