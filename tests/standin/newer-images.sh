#!/usr/bin/env bash
# Build local stand-ins for NEWER database servers than ../shared/engine/standin-images.sh
# builds, for tests/restore_upgrade_e2e.rs (a backup of the older server restored into the
# newer one, and refused the other way round). Debian trixie's packages, no image registry:
#
#   devtui-standin/postgres:17    trixie minbase + postgresql-17, the postgres image's env
#                                 contract (the shared postgres entrypoint), port 5432
#   devtui-standin/mariadb:11.8   trixie minbase + mariadb-server/client 11.8, the mariadb
#                                 image's env contract (the shared mariadb entrypoint), 3306
#
# The entrypoints are the shared ones, copied in unchanged: each image's PATH and paths make
# them work for its version. They are found in $STANDIN_DIR, else in ../shared/engine/standin
# beside this repository.
#
# Idempotent: an image that exists is kept; FORCE=1 rebuilds both.
# Needs a running engine (ensure-engine.sh) and mmdebstrap (installed if missing, as the shared
# script does), and trixie's archive key in the host's debian-archive-keyring (a bookworm
# keyring too old to have it is upgraded from bookworm's own, signed, updates).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
standin="${STANDIN_DIR:-$repo/../shared/engine/standin}"
say() { echo "newer-images: $*"; }
have() { [ -z "${FORCE:-}" ] && docker image inspect "$1" >/dev/null 2>&1; }

PG=devtui-standin/postgres:17
MARIADB=devtui-standin/mariadb:11.8
if have "$PG" && have "$MARIADB"; then
  say "ready: $PG, $MARIADB (FORCE=1 rebuilds)"
  exit 0
fi

for f in postgres-entrypoint.sh mariadb-entrypoint.sh; do
  [ -f "$standin/$f" ] || { echo "newer-images: no $f in $standin (set STANDIN_DIR)" >&2; exit 1; }
done

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$@" >/dev/null
}
command -v mmdebstrap >/dev/null || apt_install mmdebstrap
# bookworm's first keyrings (before 2023.3+deb12u1) do not know trixie's key.
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
trixie_key() { [ -e /usr/share/keyrings/debian-archive-trixie-stable.gpg ]; }
if ! trixie_key; then
  say "upgrading debian-archive-keyring for trixie's key"
  apt_install debian-archive-keyring
  trixie_key || { echo "newer-images: no trixie key in $KEYRING even after an upgrade" >&2; exit 1; }
fi

# One minbase tarball of trixie with $2 (comma-separated packages) and the shared entrypoint $3,
# without apt lists or caches, imported as $1; then the Dockerfile lines $4 set its
# metadata (a build, not `docker import --change`, which refuses STOPSIGNAL; no layer added).
trixie_image() {
  local image="$1" include="$2" entrypoint="$3" meta="$4"
  local tar start ctx old
  old="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
  tar="$(mktemp --suffix=.tar)"
  start=$SECONDS
  say "building $image from trixie with mmdebstrap"
  # dpkg leaves out translations, docs (copyrights stay) and man pages, and LLVM (about
  # 150 MB, only for PostgreSQL's JIT: with no llvmjit.so PostgreSQL quietly runs without JIT;
  # a llvmjit.so without LLVM would fail every costly query).
  mmdebstrap --quiet --variant=minbase --keyring="$KEYRING" --include="$include" \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/lib/*/libLLVM*' --dpkgopt='path-exclude=/usr/lib/*/libz3*' \
    --dpkgopt='path-exclude=/usr/lib/postgresql/*/lib/llvmjit*' \
    --dpkgopt='path-exclude=/usr/lib/postgresql/*/lib/bitcode/*' \
    --customize-hook='mkdir -p "$1"/usr/local/bin' \
    --customize-hook="copy-in $standin/$entrypoint /usr/local/bin" \
    --customize-hook="chmod 0755 \"\$1\"/usr/local/bin/$entrypoint" \
    --customize-hook='rm -rf "$1"/var/lib/postgresql/17 "$1"/etc/postgresql/17 "$1"/var/lib/mysql/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    trixie "$tar"
  docker import "$tar" "$image" >/dev/null
  rm -f "$tar"
  ctx="$(mktemp -d)"
  printf 'FROM %s\n%s\n' "$image" "$meta" >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$image" "$ctx" >/dev/null 2>"$ctx/err" || { cat "$ctx/err" >&2; exit 1; }
  rm -rf "$ctx"
  # A FORCE=1 rebuild leaves no untagged copy of the image it replaced.
  [ -n "$old" ] && docker rmi "$old" >/dev/null 2>&1 || true
  say "built $image in $((SECONDS - start)) s, $(docker image ls --format '{{.Size}}' "$image")"
}

if ! have "$PG"; then
  trixie_image "$PG" postgresql-17,ca-certificates postgres-entrypoint.sh \
'ENV PATH=/usr/lib/postgresql/17/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENV PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]'
fi

if ! have "$MARIADB"; then
  trixie_image "$MARIADB" mariadb-server,mariadb-client,ca-certificates,procps,gzip \
    mariadb-entrypoint.sh \
'VOLUME /var/lib/mysql
EXPOSE 3306
ENTRYPOINT ["/usr/local/bin/mariadb-entrypoint.sh"]
CMD ["mariadbd"]'
fi

say "ready: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^devtui-standin/(postgres:17|mariadb:11\.8) ' | tr '\n' ' ')"
