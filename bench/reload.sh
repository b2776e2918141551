#!/usr/bin/env bash
# Hot reload latency: the time from a file save to the new response being served, devtui
# (its TUI in tmux, reload toggled with `devtui reload web on`) against `docker compose watch
# --no-up web`, on the same service with the same develop.watch rule, in one run.
#
# The service is a small HTTP responder (perl, in the Debian stand-in image) that reads
# /app/msg once at start and serves it: a new response needs the file synced and the
# process restarted (`sync+restart`), or the image rebuilt with the file in it (`rebuild`).
# For each action and each tool: N edits (default 10), each writing a new value and polling
# the published port every 10 ms until that value is served. Prints every edit, then the
# median and the worst per tool and action, and the ratio devtui / compose.
#
#   cargo build --release && bench/reload.sh [EDITS]
#
# Env: DEVTUI_BIN (default target/release/devtui), DEVTUI_BASE_IMAGE (default the offline
# stand-in devtui-standin/debian:bookworm).
set -euo pipefail
cd "$(dirname "$0")/.."
edits="${1:-10}"
bin="$(realpath "${DEVTUI_BIN:-target/release/devtui}")"
[ -x "$bin" ] || { echo "bench: build first: cargo build --release" >&2; exit 2; }
export DEVTUI_BASE_IMAGE="${DEVTUI_BASE_IMAGE:-devtui-standin/debian:bookworm}"
command -v tmux >/dev/null || { echo "bench: needs tmux" >&2; exit 2; }

work="$(mktemp -d)"
project="devtui-reload-bench-$$"
sock="devtui-reload-bench-$$"
export XDG_STATE_HOME="$work/state" XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config"
export PORT="$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1")->sockport')"
mkdir -p "$work/app/src"
cd "$work/app"
cat > Dockerfile <<'EOF'
ARG BASE
FROM ${BASE}
COPY src/ /app/
CMD ["perl", "-MIO::Socket::INET", "-e", "open my $f, '<', '/app/msg' or die $!; my $m = do { local $/; <$f> }; my $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 64, ReuseAddr => 1) or die $!; while (my $c = $s->accept) { while (<$c>) { last if /^\\r?\\n$/ } print $c \"HTTP/1.0 200 OK\\r\\nContent-Length: \" . length($m) . \"\\r\\n\\r\\n$m\"; close $c }"]
EOF
# ACTION picks the rule; both tools read the same file.
cat > compose.yaml <<'EOF'
services:
  web:
    build:
      context: .
      args:
        BASE: ${DEVTUI_BASE_IMAGE}
    init: true
    ports: ["127.0.0.1:${PORT}:8080"]
    develop:
      watch:
        - action: ${ACTION}
          path: ./src
          target: /app
  bystander:
    image: ${DEVTUI_BASE_IMAGE}
    init: true
    command: [sleep, infinity]
EOF
echo start > src/msg

watcher=""
cleanup() {
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null || true
  tmux -L "$sock" kill-server 2>/dev/null || true
  ACTION=sync docker compose -p "$project" down -v --rmi local >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# One edit: writes a new value, waits until it is served; prints the milliseconds.
edit() {
  local value="$1-$RANDOM$RANDOM" t0 got
  t0=$(now_ms)
  printf '%s' "$value" > src/msg
  while [ $(( $(now_ms) - t0 )) -lt 120000 ]; do
    got="$(curl -s --max-time 1 "http://127.0.0.1:$PORT/" 2>/dev/null || true)"
    if [ "$got" = "$value" ]; then
      echo $(( $(now_ms) - t0 ))
      return
    fi
    sleep 0.01
  done
  echo "bench: $value not served within 120 s" >&2
  exit 1
}

# Serves the current file before the next edit starts (a watcher's first sync, a rebuild).
settle() {
  local want
  want="$(cat src/msg)"
  for _ in $(seq 1 6000); do
    [ "$(curl -s --max-time 1 "http://127.0.0.1:$PORT/" 2>/dev/null || true)" = "$want" ] && return
    sleep 0.02
  done
  echo "bench: never settled" >&2
  exit 1
}

stats() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%d %d", m, a[NR]}'; }

declare -A result
for action in sync+restart rebuild; do
  export ACTION="$action"
  docker compose -p "$project" up -d --build --wait >/dev/null 2>&1
  bystander="$(docker inspect -f '{{.Id}} {{.State.StartedAt}}' "$project-bystander-1")"
  settle
  for tool in devtui compose; do
    : > "$work/times"
    if [ "$tool" = devtui ]; then
      "$bin" -p "$project" reload web off >/dev/null
      tmux -L "$sock" -f /dev/null new-session -d -s bench -x 160 -y 45 -c "$work/app" \
        "ACTION=$action PORT=$PORT $bin -p $project"
      sleep 2
      "$bin" -p "$project" reload web on >/dev/null
      sleep 1
    else
      docker compose -p "$project" watch --no-up web >"$work/compose-watch.log" 2>&1 &
      watcher=$!
      for _ in $(seq 1 100); do grep -qi "watch enabled" "$work/compose-watch.log" && break; sleep 0.1; done
      sleep 1
    fi
    for i in $(seq 1 "$edits"); do
      ms="$(edit "$tool$i")"
      echo "$action $tool edit $i: ${ms} ms"
      echo "$ms" >> "$work/times"
      sleep 1
      settle
    done
    result["$action $tool"]="$(stats < "$work/times")"
    if [ "$tool" = devtui ]; then
      "$bin" -p "$project" reload web off >/dev/null
      tmux -L "$sock" kill-server 2>/dev/null || true
    else
      kill "$watcher" 2>/dev/null || true
      wait "$watcher" 2>/dev/null || true
      watcher=""
    fi
  done
  after="$(docker inspect -f '{{.Id}} {{.State.StartedAt}}' "$project-bystander-1")"
  [ "$after" = "$bystander" ] || echo "note: $action: the bystander service was restarted ($bystander -> $after)"
done

echo
printf '%-14s %-8s %10s %10s\n' action tool median_ms worst_ms
for action in sync+restart rebuild; do
  for tool in devtui compose; do
    read -r med worst <<<"${result[$action $tool]}"
    printf '%-14s %-8s %10s %10s\n' "$action" "$tool" "$med" "$worst"
  done
  read -r d _ <<<"${result[$action devtui]}"
  read -r c _ <<<"${result[$action compose]}"
  awk -v d="$d" -v c="$c" -v a="$action" 'BEGIN { printf "%s: devtui / compose median ratio %.2f\n", a, d / c }'
done
