# Install PostgreSQL from the distribution packages if needed, start a throwaway cluster on 127.0.0.1 and
# export TRACET_TEST_PG_URL (admin URL: superuser `tracet`, trust auth, database `postgres`) for the tests.
#
#   source .ci/postgres.sh          # then: trap tracet_pg_stop EXIT   (stops the server, deletes its files)
#
# Sourced, so it sets no shell options of its own; every failure returns non-zero with a message.
# Test data only: fsync is off. The server runs as the `postgres` user when started by root (initdb refuses
# root). Re-sourcing while the server is up reuses it.

tracet_pg_start() {
    local bin_dir root port runas=()
    if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
        if [[ $(id -u) -ne 0 ]]; then
            echo "postgres.sh: PostgreSQL is not installed and we are not root to apt-get it" >&2
            return 1
        fi
        echo "postgres.sh: installing postgresql (Debian packages)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            postgresql >/dev/null || { echo "postgres.sh: apt-get install postgresql failed" >&2; return 1; }
    fi
    bin_dir=$(ls -d /usr/lib/postgresql/*/bin | sort -t/ -k5 -n | tail -n 1)
    root=${TRACET_PG_DIR:-/tmp/tracet-ci-postgres}
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres \
            || { echo "postgres.sh: no postgres user" >&2; return 1; }
        runas=(runuser -u postgres --)
    fi
    if [[ -f "$root/port" ]] && "${runas[@]}" "$bin_dir/pg_ctl" -D "$root/data" status >/dev/null 2>&1; then
        port=$(cat "$root/port")
    else
        rm -rf "$root" && mkdir -p "$root" || return 1
        [[ ${#runas[@]} -eq 0 ]] || chown postgres: "$root"
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
            2>/dev/null || echo 55432)
        echo "$port" >"$root/port"
        "${runas[@]}" "$bin_dir/initdb" -D "$root/data" -U tracet --auth=trust -E UTF8 --no-sync --no-instructions \
            >"$root/initdb.log" 2>&1 || { cat "$root/initdb.log" >&2; return 1; }
        "${runas[@]}" "$bin_dir/pg_ctl" -D "$root/data" -l "$root/server.log" -w -t 60 start \
            -o "-p $port -k $root -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            >/dev/null || { cat "$root/server.log" >&2; return 1; }
    fi
    "$bin_dir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30 || { echo "postgres.sh: server not ready" >&2; return 1; }
    export TRACET_TEST_PG_URL="postgresql+psycopg://tracet@127.0.0.1:$port/postgres"
    export TRACET_PG_BIN_DIR=$bin_dir TRACET_PG_ROOT=$root
    echo "postgres.sh: PostgreSQL $("$bin_dir/postgres" --version | awk '{print $3}') at $TRACET_TEST_PG_URL"
}

tracet_pg_stop() {
    [[ -n "${TRACET_PG_ROOT:-}" && -d "$TRACET_PG_ROOT/data" ]] || return 0
    local runas=()
    [[ $(id -u) -ne 0 ]] || runas=(runuser -u postgres --)
    "${runas[@]}" "$TRACET_PG_BIN_DIR/pg_ctl" -D "$TRACET_PG_ROOT/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$TRACET_PG_ROOT"
    unset TRACET_TEST_PG_URL
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    echo "postgres.sh: source it (source .ci/postgres.sh) so that TRACET_TEST_PG_URL reaches the tests" >&2
    exit 2
fi
tracet_pg_start
