#!/usr/bin/env bash
# Starts a private PostgreSQL for the store's conformance tests and prints ONE line on stdout:
#   export TILLIT_TEST_POSTGRES_URL=postgres://tillit@127.0.0.1:55432/tillit_test
# Usage: eval "$(bash .ci/postgres.sh)"
# Installs Debian's `postgresql` package when no server binaries are present (needs root or
# sudo), then runs a throw-away cluster as a non-root user: initdb into $TILLIT_PG_DIR
# (default /tmp/tillit-pg-$PORT), trust authentication on 127.0.0.1 only, port $TILLIT_PG_PORT
# (default 55432). Running it again reuses a cluster that is already up.
# Stop it with: pg_ctl -D "$TILLIT_PG_DIR" stop   (as the user that owns the directory)
set -euo pipefail

port="${TILLIT_PG_PORT:-55432}"
dir="${TILLIT_PG_DIR:-/tmp/tillit-pg-$port}"
db=tillit_test
user=tillit
url="postgres://$user@127.0.0.1:$port/$db"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

find_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; fi
}

bindir=$(find_bindir)
if [ -z "$bindir" ]; then
    log "installing PostgreSQL from Debian's packages"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
    bindir=$(find_bindir)
    if [ -z "$bindir" ]; then
        log "apt-get install postgresql gave no /usr/lib/postgresql/*/bin/initdb"
        exit 1
    fi
fi
log "using $bindir"

# initdb and postgres refuse to run as root: run them as an unprivileged user.
if [ "$(id -u)" = 0 ]; then
    runas=postgres
    if ! id "$runas" >/dev/null 2>&1; then
        runas=tillit-pg
        id "$runas" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$runas"
    fi
    run() { runuser -u "$runas" -- "$@"; }
else
    runas=$(id -un)
    run() { "$@"; }
fi

if run "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    log "a server already answers on 127.0.0.1:$port; reusing it"
else
    if [ ! -f "$dir/PG_VERSION" ]; then
        log "initdb into $dir (as $runas)"
        mkdir -p "$dir"
        if [ "$(id -u)" = 0 ]; then chown "$runas" "$dir"; fi
        chmod 700 "$dir"
        run "$bindir/initdb" -D "$dir" -U "$user" -A trust -E UTF8 --no-locale >&2
    fi
    log "starting on 127.0.0.1:$port"
    # A test cluster: durability off for speed (the store's durability is tested on SQLite).
    run "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >&2 || {
        log "pg_ctl start failed; server log follows"
        tail -n 50 "$dir/server.log" >&2 || true
        exit 1
    }
fi

exists=$(run "$bindir/psql" -h 127.0.0.1 -p "$port" -U "$user" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$db'")
if [ "$exists" != 1 ]; then
    run "$bindir/psql" -h 127.0.0.1 -p "$port" -U "$user" -d postgres -qc "CREATE DATABASE $db" >&2
fi

echo "export TILLIT_TEST_POSTGRES_URL=$url"
