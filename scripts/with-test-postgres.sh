#!/usr/bin/env bash
# Run a command with a throw-away PostgreSQL server on 127.0.0.1 (a free port, a temporary data
# folder) and SECURITYNET_TEST_POSTGRES_URL pointing at it; the server and its folder are removed
# when the command ends. The store tests then run against PostgreSQL as well as SQLite.
#
#   scripts/with-test-postgres.sh .venv/bin/python -m pytest -q
#
# Without PostgreSQL's server programs the command runs without the variable (those tests skip with
# a reason), except under CI (CI=true), where a missing or failing server is an error.
set -euo pipefail

fail_or_skip() {
    local problem="$1"
    shift
    if [ "${CI:-}" = "true" ]; then
        echo "with-test-postgres: $problem" >&2
        exit 1
    fi
    echo "with-test-postgres: $problem; PostgreSQL tests will be skipped" >&2
    if declare -F cleanup >/dev/null; then
        cleanup
        trap - EXIT
    fi
    exec "$@"
}

bindir=""
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    bindir="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
else
    # Debian keeps the server programs under /usr/lib/postgresql/<version>/bin; take the newest.
    bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    fail_or_skip "PostgreSQL server programs (initdb, pg_ctl) not found" "$@"
fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
datadir="$(mktemp -d /tmp/securitynet-test-pg.XXXXXX)"

# initdb and the server refuse to run as root: run them as the postgres account Debian creates.
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    chown postgres "$datadir"
    as_owner=(runuser -u postgres --)
fi

cleanup() {
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$datadir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$datadir"
}
trap cleanup EXIT

if ! "${as_owner[@]}" "$bindir/initdb" -D "$datadir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
        >"$datadir/initdb.log" 2>&1; then
    cat "$datadir/initdb.log" >&2
    fail_or_skip "initdb failed" "$@"
fi
if ! "${as_owner[@]}" "$bindir/pg_ctl" -D "$datadir/data" -l "$datadir/server.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $datadir -c fsync=off -c full_page_writes=off" \
        start >/dev/null; then
    cat "$datadir/server.log" >&2
    fail_or_skip "the PostgreSQL server did not start" "$@"
fi

export SECURITYNET_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
echo "with-test-postgres: PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port"
"$@"
