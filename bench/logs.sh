#!/usr/bin/env bash
# Benchmark of `devtui logs -f` (issue 14) against `docker compose logs -f`, side by side in
# the same run on the same flood: a two-service stack where one service writes as fast as the
# engine takes it (`yes`) and one writes a line a second. Both followers start together with
# `--tail 100`, their output to /dev/null, and are measured over SECS seconds (after WARMUP):
# CPU (% of one core, the whole process tree: compose runs as a docker CLI plugin) and RSS
# growth (first sample to last). Also counts the lines each one wrote to its pipe.
# Not a test: machines are shared and noisy.
#
# Usage: bench/logs.sh        Env: SECS (30), WARMUP (3), DEVTUI_BIN (default: target/release/devtui)
set -euo pipefail

cd "$(dirname "$0")/.."
SECS=${SECS:-30}
WARMUP=${WARMUP:-3}
PROJECT="devtuilogsbench$$"
WORK=$(mktemp -d)
HZ=$(getconf CLK_TCK)
export DEVTUI_BASE_IMAGE=${DEVTUI_BASE_IMAGE:-devtui-standin/debian:bookworm}
BIN=${DEVTUI_BIN:-}
if [[ -z "$BIN" ]]; then
  cargo build --release --quiet
  BIN="${CARGO_TARGET_DIR:-target}/release/devtui"
fi
BIN=$(realpath "$BIN")

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  (cd "$WORK" && docker compose -p "$PROJECT" down -v -t 0 >/dev/null 2>&1) || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/compose.yaml" <<'EOF'
services:
  flood:
    image: ${DEVTUI_BASE_IMAGE}
    init: true
    command: ["yes", "flood 0123456789 abcdefghijklmnopqrstuvwxyz password=not-a-secret"]
  ticker:
    image: ${DEVTUI_BASE_IMAGE}
    init: true
    command: ["sh", "-c", "while true; do echo tick; sleep 1; done"]
EOF
(cd "$WORK" && docker compose -p "$PROJECT" up -d >/dev/null 2>&1)

# The process and its descendants.
tree() {
  local pids=("$1") i=0
  while ((i < ${#pids[@]})); do
    for c in $(cat /proc/"${pids[$i]}"/task/*/children 2>/dev/null); do pids+=("$c"); done
    i=$((i + 1))
  done
  echo "${pids[@]}"
}
ticks() { local t=0; for p in $(tree "$1"); do t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat 2>/dev/null || echo 0))); done; echo $t; }
rss_kb() { local r=0; for p in $(tree "$1"); do r=$((r + $(awk '/VmRSS/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0))); done; echo $r; }

# Lines each follower writes, counted by a reader of a FIFO (not part of the measured tree).
mkfifo "$WORK/devtui.fifo" "$WORK/compose.fifo"
wc -l <"$WORK/devtui.fifo" >"$WORK/devtui.lines" &
PIDS+=($!)
wc -l <"$WORK/compose.fifo" >"$WORK/compose.lines" &
PIDS+=($!)
(cd "$WORK" && exec "$BIN" -p "$PROJECT" logs -f --tail 100 >"$WORK/devtui.fifo") &
DEVTUI_PID=$!
(cd "$WORK" && exec docker compose -p "$PROJECT" logs -f --tail 100 >"$WORK/compose.fifo") &
COMPOSE_PID=$!
PIDS=("$DEVTUI_PID" "$COMPOSE_PID" "${PIDS[@]}")
sleep "$WARMUP"

declare -A T0 R0 T1 R1
for tool in devtui compose; do
  pid_var="${tool^^}_PID"; pid=${!pid_var}
  T0[$tool]=$(ticks "$pid"); R0[$tool]=$(rss_kb "$pid")
done
sleep "$SECS"
for tool in devtui compose; do
  pid_var="${tool^^}_PID"; pid=${!pid_var}
  T1[$tool]=$(ticks "$pid"); R1[$tool]=$(rss_kb "$pid")
done
kill "$DEVTUI_PID" "$COMPOSE_PID" 2>/dev/null || true
wait 2>/dev/null || true

printf '\n%-8s %10s %12s %12s %14s\n' tool "%CPU" "RSS start" "RSS end" "lines written"
for tool in devtui compose; do
  cpu=$(awk -v a="${T0[$tool]}" -v b="${T1[$tool]}" -v hz="$HZ" -v s="$SECS" 'BEGIN {printf "%.1f", (b - a) / hz / s * 100}')
  printf '%-8s %10s %9s MB %9s MB %14s\n' "$tool" "$cpu" "$((R0[$tool] / 1024))" "$((R1[$tool] / 1024))" \
    "$(cat "$WORK/$tool.lines" 2>/dev/null || echo '?')"
done
echo "RSS growth over ${SECS}s: devtui $(((R1[devtui] - R0[devtui]) / 1024)) MB, compose $(((R1[compose] - R0[compose]) / 1024)) MB"
