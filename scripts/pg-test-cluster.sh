#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests and CI. No mocks: a real server.
#
#   scripts/pg-test-cluster.sh start <dir>    create (if needed) and start a cluster in <dir>;
#                                             prints the conninfo, also written to
#                                             <dir>/conninfo (and <dir>/env for `source`)
#   scripts/pg-test-cluster.sh stop <dir>     stop it and remove <dir>
#   scripts/pg-test-cluster.sh status <dir>   exit 0 when it is running and ready
#   scripts/pg-test-cluster.sh run -- CMD...  start one in a fresh temporary directory,
#                                             run CMD with CHATBOTMGR_TEST_PG exported,
#                                             then stop and remove it; exits with CMD's status
#
# The server listens on a Unix socket inside <dir> and on 127.0.0.1 at a free port. The
# conninfo names the database "chatbotmgr" as superuser "postgres" (trust auth, loopback
# only). When /usr/lib/postgresql/15/bin/initdb is missing, the Debian "postgresql-15"
# package is installed (needs root). initdb refuses to run as root, so as root the
# cluster belongs to the "postgres" system user (created by the package).
set -euo pipefail

PG_VERSION=15
PG_BIN=${PG_BIN:-/usr/lib/postgresql/${PG_VERSION}/bin}
MARKER=.chatbotmgr-pg-test-cluster
DB_NAME=chatbotmgr
DB_USER=postgres

die() { echo "pg-test-cluster: $*" >&2; exit 1; }
log() { echo "pg-test-cluster: $*" >&2; }

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

ensure_server_binaries() {
    [[ -x "$PG_BIN/initdb" ]] && return 0
    [[ $(id -u) -eq 0 ]] || die "$PG_BIN/initdb is missing; install postgresql-$PG_VERSION (needs root)"
    log "installing postgresql-$PG_VERSION from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "postgresql-$PG_VERSION" >&2
    [[ -x "$PG_BIN/initdb" ]] || die "installed postgresql-$PG_VERSION but $PG_BIN/initdb is still missing"
}

# Runs a command as the cluster owner: ourselves, or "postgres" when we are root.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$DB_USER" -- "$@"
    else
        "$@"
    fi
}

ensure_owner() {
    [[ $(id -u) -eq 0 ]] || return 0
    if ! id -u "$DB_USER" >/dev/null 2>&1; then
        log "creating system user $DB_USER"
        useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash "$DB_USER"
    fi
}

port_in_use() {
    # bash's /dev/tcp: connecting succeeds only when something listens.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
    local port _
    for _ in $(seq 1 200); do
        port=$((20000 + (RANDOM % 30000)))
        if ! port_in_use "$port" && [[ ! -e "$DIR/.s.PGSQL.$port" ]]; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}

is_running() {
    [[ -f "$DIR/data/PG_VERSION" ]] && as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

wait_ready() {
    local port=$1 _
    for _ in $(seq 1 120); do
        if "$PG_BIN/pg_isready" -q -h "$DIR" -p "$port" -d postgres -U "$DB_USER"; then
            return 0
        fi
        sleep 0.5
    done
    die "server in $DIR did not become ready; see $DIR/server.log"
}

write_conninfo() {
    local port=$1
    # Keyword form; the socket directory holds no spaces or quotes (checked in cmd_start).
    local socket="host=$DIR port=$port user=$DB_USER dbname=$DB_NAME"
    local tcp="host=127.0.0.1 port=$port user=$DB_USER dbname=$DB_NAME"
    echo "$socket" >"$DIR/conninfo"
    echo "$tcp" >"$DIR/conninfo_tcp"
    printf 'export CHATBOTMGR_TEST_PG=%q\n' "$socket" >"$DIR/env"
    echo "$socket"
}

cmd_start() {
    [[ -n "${DIR:-}" ]] || usage
    [[ "$DIR" != *[[:space:]\'\"\\]* ]] || die "the directory path must not contain spaces or quotes"
    ensure_server_binaries
    ensure_owner
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd -P)
    # A Unix socket path is limited to 107 bytes.
    (( ${#DIR} <= 80 )) || die "directory path too long for a Unix socket: $DIR"
    if [[ -f "$DIR/port" ]] && is_running; then
        local port
        port=$(cat "$DIR/port")
        wait_ready "$port"
        write_conninfo "$port"
        return 0
    fi
    if [[ ! -f "$DIR/data/PG_VERSION" ]]; then
        [[ -z "$(ls -A "$DIR")" || -f "$DIR/$MARKER" ]] ||
            die "$DIR is not empty and is not a test cluster directory"
        touch "$DIR/$MARKER"
        rm -rf "$DIR/data"
        if [[ $(id -u) -eq 0 ]]; then
            chown "$DB_USER:" "$DIR"
            # Every parent must be searchable by the cluster owner.
            runuser -u "$DB_USER" -- test -x "$DIR" ||
                die "user $DB_USER cannot reach $DIR; pick a directory under /tmp"
        fi
        log "initdb in $DIR/data"
        as_owner "$PG_BIN/initdb" -D "$DIR/data" -U "$DB_USER" --auth=trust -E UTF8 \
            --locale=C --no-sync >"$DIR/initdb.log" 2>&1 ||
            { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    fi
    local port attempt
    for attempt in 1 2 3 4 5; do
        port=$(pick_port)
        if as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$DIR -c max_connections=300 -c shared_buffers=64MB" \
            start >/dev/null; then
            echo "$port" >"$DIR/port"
            break
        fi
        log "start on port $port failed (attempt $attempt); retrying"
        port=
    done
    [[ -n "$port" ]] || { tail -n 20 "$DIR/server.log" >&2 || true; die "could not start the server"; }
    wait_ready "$port"
    if [[ -z "$(as_owner "$PG_BIN/psql" -h "$DIR" -p "$port" -U "$DB_USER" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" ]]; then
        as_owner "$PG_BIN/createdb" -h "$DIR" -p "$port" -U "$DB_USER" "$DB_NAME"
    fi
    log "running on $DIR (socket) and 127.0.0.1:$port"
    write_conninfo "$port"
}

cmd_stop() {
    [[ -n "${DIR:-}" ]] || usage
    [[ -d "$DIR" ]] || return 0
    DIR=$(cd "$DIR" && pwd -P)
    [[ -f "$DIR/$MARKER" ]] || die "$DIR is not a test cluster directory; not touching it"
    if [[ -f "$DIR/data/PG_VERSION" ]]; then
        as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
}

cmd_status() {
    [[ -n "${DIR:-}" && -f "$DIR/port" ]] || return 1
    DIR=$(cd "$DIR" && pwd -P)
    is_running && "$PG_BIN/pg_isready" -q -h "$DIR" -p "$(cat "$DIR/port")"
}

cmd_run() {
    [[ "${1:-}" == "--" ]] && shift
    [[ $# -gt 0 ]] || usage
    DIR=$(mktemp -d /tmp/cbm-pg.XXXXXX)
    chmod 755 "$DIR"
    touch "$DIR/$MARKER"
    trap 'cmd_stop' EXIT
    CHATBOTMGR_TEST_PG=$(cmd_start)
    export CHATBOTMGR_TEST_PG
    local rc=0
    "$@" || rc=$?
    return "$rc"
}

cmd=${1:-}
shift || true
case "$cmd" in
start) DIR=${1:-}; cmd_start ;;
stop) DIR=${1:-}; cmd_stop ;;
status) DIR=${1:-}; cmd_status ;;
run) cmd_run "$@" ;;
*) usage ;;
esac
