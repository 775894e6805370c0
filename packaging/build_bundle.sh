#!/usr/bin/env bash
# Build the one-folder PyInstaller bundle (dist/tracet-gui/) and smoke-test the bundled binary:
#   1. --version and `parse --json` of a real packet,
#   2. `ingest` into a fresh SQLite file (runs the bundled Alembic migrations) and `events --json`,
#   3. `headless` against a local `twistd comet` broker for a few seconds: it subscribes, one packet sent to
#      the broker is stored and listed, and SIGTERM ends it with status 0,
#   4. with TRACET_TEST_PG_URL set (see .ci/postgres.sh): `ingest` into a new PostgreSQL database too.
# The smoke tests run from an empty directory outside the checkout, so nothing falls back to the source tree.
#
# Usage: packaging/build_bundle.sh [--smoke-only]
# Environment: PYTHON (default .venv/bin/python; needs the project installed, and installs PyInstaller into it
# if missing), DIST_DIR (default dist/), WORK_DIR (default build/pyinstaller).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")   # absolute: the smoke test runs in a temp dir
VENV_BIN=$(dirname "$PY")
DIST=${DIST_DIR:-$ROOT/dist}
WORK=${WORK_DIR:-$ROOT/build/pyinstaller}
APP_DIR=$DIST/tracet-gui
APP=$APP_DIR/tracet-gui
DATA=$ROOT/tests/data
READY_WAIT_S=120        # bound on waiting for the bundled daemon to start (a first start unpacks nothing,
                        # but imports Qt-free astropy/numpy from disk)
SUBSCRIBE_WAIT_S=60     # bound on waiting for the daemon to subscribe to the broker
STORE_WAIT_S=60         # bound on waiting for the sent packet to be stored

say() { printf '== %s\n' "$*"; }
fail() { printf 'SMOKE TEST FAILED: %s\n' "$*" >&2; exit 1; }

if [[ "${1:-}" != "--smoke-only" ]]; then
    if ! "$PY" -m PyInstaller --version >/dev/null 2>&1; then
        say "installing PyInstaller into $(dirname "$VENV_BIN")"
        "$PY" -m pip install --quiet 'pyinstaller>=6.10'  # the same requirement as the project's `bundle` extra
    fi
    say "building the bundle with PyInstaller $("$PY" -m PyInstaller --version)"
    started=$(date +%s)
    "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
        --distpath "$DIST" --workpath "$WORK" "$ROOT/packaging/tracet-gui.spec"
    say "built in $(( $(date +%s) - started )) s"
fi
[[ -x "$APP" ]] || fail "$APP was not built"
# Desktop integration files, laid out as under /usr (or ~/.local): copy share/ there to get a menu entry.
install -Dm644 "$ROOT/packaging/tracet-gui.desktop" "$APP_DIR/share/applications/tracet-gui.desktop"
install -Dm644 "$ROOT/packaging/io.github.tracet_gui.metainfo.xml" \
    "$APP_DIR/share/metainfo/io.github.tracet_gui.metainfo.xml"
install -Dm644 "$ROOT/resources/icons/tracet-gui.svg" "$APP_DIR/share/icons/hicolor/scalable/apps/io.github.tracet_gui.svg"
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$APP_DIR/share/applications/tracet-gui.desktop" || fail "invalid .desktop file"
fi
if command -v appstreamcli >/dev/null; then
    appstreamcli validate --no-net "$APP_DIR/share/metainfo/io.github.tracet_gui.metainfo.xml" >/dev/null \
        || fail "invalid AppStream metadata"
fi
size_h=$(du -sh "$APP_DIR" | cut -f1)
files=$(find "$APP_DIR" -type f | wc -l)
say "bundle: $APP_DIR — $size_h on disk, $files files"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tracet-bundle-smoke.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n "${KEEP_SMOKE_DIR:-}" ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
cd "$TMP"
export XDG_CONFIG_HOME=$TMP/config XDG_DATA_HOME=$TMP/data XDG_STATE_HOME=$TMP/state XDG_CACHE_HOME=$TMP/cache
export QT_QPA_PLATFORM=offscreen
unset PYTHONPATH PYTHONHOME

json_field() {  # json_field FIELD: read JSON objects (one a line) on stdin, print FIELD of each
    "$PY" -c 'import json, sys; [print(json.loads(l)[sys.argv[1]]) for l in sys.stdin if l.strip()]' "$1"
}

wait_until() {  # wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds, bounded
    local limit=$1 what=$2; shift 2
    local deadline=$(( $(date +%s) + limit ))
    until "$@"; do
        (( $(date +%s) < deadline )) || { echo "gave up after $limit s waiting for $what" >&2; return 1; }
        sleep 0.2
    done
}

say "1. version and parse"
"$APP" --version
trig=$("$APP" parse --json "$DATA/SWIFT00.xml" | json_field trig_id)
expected=$("$PY" -m tracet_gui parse --json "$DATA/SWIFT00.xml" | json_field trig_id)
[[ -n "$trig" && "$trig" == "$expected" ]] || fail "bundled parse gave trig_id '$trig', the source tree '$expected'"
echo "   trig_id $trig (same as the source tree)"

say "2. ingest into a new SQLite database (bundled migrations)"
DB="sqlite:///$TMP/smoke.sqlite3"
"$APP" ingest "$DATA"/group_02_SWIFT_0*.xml --db "$DB"
count=$("$APP" events --json --db "$DB" | json_field trig_id | sort -u)
[[ "$count" == "1101053" ]] || fail "events after ingest: '$count'"
"$APP" proposals list --db "$DB" >/dev/null
echo "   3 packets stored in one group 1101053"

if "$APP" --help | grep -q headless; then
    say "3. headless against a local comet broker"
    [[ -x "$VENV_BIN/twistd" && -x "$VENV_BIN/comet-sendvo" ]] || fail "twistd/comet-sendvo not in $VENV_BIN"
    free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
    RECEIVE_PORT=$(free_port); BROADCAST_PORT=$(free_port)
    mkdir -p "$TMP/broker"
    (cd "$TMP/broker" && exec "$VENV_BIN/twistd" -n --pidfile= comet --receive --receive-port="$RECEIVE_PORT" \
        --broadcast --broadcast-port="$BROADCAST_PORT" --local-ivo=ivo://test/smoke --eventdb="$TMP/broker" \
        --broadcast-test-interval=0 --author-whitelist=127.0.0.1/32) >"$TMP/broker.log" 2>&1 &
    PIDS+=($!)
    port_open() { "$PY" -c 'import socket, sys; s=socket.socket(); sys.exit(s.connect_ex(("127.0.0.1", int(sys.argv[1]))))' "$1"; }
    wait_until 30 "the comet broker" port_open "$BROADCAST_PORT" || fail "no broker"
    ENGINE_DB="$TMP/engine.sqlite3"
    "$APP" headless --db "sqlite:///$ENGINE_DB" --remote "127.0.0.1:$BROADCAST_PORT" \
        >"$TMP/headless.out" 2>"$TMP/headless.err" &
    HEADLESS=$!
    PIDS+=("$HEADLESS")
    wait_until "$READY_WAIT_S" "READY from the bundled daemon" grep -q '^READY' "$TMP/headless.out" \
        || { tail -n 40 "$TMP/headless.err" >&2; fail "the bundled daemon did not start"; }
    subscribed() {
        "$PY" -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);
sys.exit(0 if c.execute("select 1 from broker_log where state = ?", ("connected",)).fetchone() else 1)' "$ENGINE_DB"
    }
    wait_until "$SUBSCRIBE_WAIT_S" "the daemon's subscription" subscribed || fail "no subscription"
    "$VENV_BIN/comet-sendvo" --host=127.0.0.1 --port="$RECEIVE_PORT" -f "$DATA/SWIFT_short.xml" >/dev/null
    stored() { "$APP" events --json --db "sqlite:///$ENGINE_DB" | grep -q '"trig_id": "772006"'; }
    wait_until "$STORE_WAIT_S" "the packet to be stored by the daemon" stored \
        || { tail -n 40 "$TMP/headless.err" "$XDG_STATE_HOME"/tracet-gui/*.log >&2 || true; fail "not stored"; }
    kill -TERM "$HEADLESS"
    status=0; wait "$HEADLESS" || status=$?
    [[ $status -eq 0 ]] || { tail -n 40 "$TMP/headless.err" >&2; fail "headless exited with $status on SIGTERM"; }
    echo "   subscribed, stored the broker's packet (trig_id 772006), stopped cleanly on SIGTERM"
else
    # TODO(headless): this binary has no `headless` command yet; add the broker round trip when it does.
    say "3. SKIPPED: no headless command in this build"
fi

if [[ -n "${TRACET_TEST_PG_URL:-}" ]]; then
    say "4. ingest into a new PostgreSQL database (bundled psycopg)"
    PG_DB="tracet_bundle_smoke_$$"
    "$PY" - "$TRACET_TEST_PG_URL" "$PG_DB" <<'EOF'
import sys, psycopg
with psycopg.connect(sys.argv[1].replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
    c.execute(f'DROP DATABASE IF EXISTS "{sys.argv[2]}"')
    c.execute(f'CREATE DATABASE "{sys.argv[2]}"')
EOF
    base=${TRACET_TEST_PG_URL%/*}
    base=${base/postgresql:\/\//postgresql+psycopg://}
    "$APP" ingest "$DATA/SWIFT00.xml" --db "$base/$PG_DB"
    trig=$("$APP" events --json --db "$base/$PG_DB" | json_field trig_id)
    [[ "$trig" == "772006" ]] || fail "events on PostgreSQL: '$trig'"
    echo "   stored and listed on PostgreSQL"
fi

say "bundle OK: $APP_DIR ($size_h, $files files)"
