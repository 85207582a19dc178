#!/usr/bin/env bash
# HTTP load benchmark of chatbotmgr-server, each scenario as a ratio to a bare Beast server
# (the ceiling) measured in the same run.
#
#   bench/http/run.sh                      # from a clean clone: installs, builds, measures
#   bench/http/run.sh --duration 30 --connections 128
#   bench/http/run.sh --peer               # also the Fastify + better-sqlite3 peer
#   bench/http/run.sh --storage postgres --peer   # postgres.sh, one instance, + node-postgres peer
#
# Steps: installs wrk and the build dependencies when missing (scripts/install-deps.sh
# bench), builds chatbotmgr-server and the ceiling server (Release), adds two users in
# two organizations to a fresh SQLite file in a temporary directory (chatbotmgr-server user
# add), starts both servers on free ports of 127.0.0.1 -- the real one with its defaults
# (WAL, synchronous=FULL) -- logs in, creates 20 chatbots, then runs every scenario with
# the same wrk settings:
#
#   ceiling  GET /                                  bare Beast, fixed ~200-byte JSON
#   list     GET /api/v1/chatbots                   20 chatbots
#   get      GET /api/v1/chatbots/{id}
#   patch    PATCH /api/v1/chatbots/{id}            one settings member, a new value each time
#   capture  POST /api/v1/capture                   one new message per request (API key)
#   create   POST /api/v1/chatbots                  in the second organization
#   rotate   POST /api/v1/chatbots/{id}/rotate-key
#   mixed    nine GETs of a chatbot to one PATCH of it  (not in the default list)
#
# With --peer the same scenarios also run against the Node.js peer server of
# bench/http/peers (Fastify + better-sqlite3, WAL, synchronous=NORMAL, one process;
# sessions and keys read from the database on every request) in the same run: its own
# SQLite file, the same two users (added by the peer's add-user.js, a direct insert), the
# same 20 chatbots (setup.py, over HTTP). Each scenario runs against chatbotmgr, then the
# peer; the ceiling is shared.
#
# --storage postgres runs bench/http/postgres.sh with one instance (--pg-pool 8 unless
# BENCH_PG_POOL says otherwise) and the options given here; with --peer it also runs the
# Fastify + node-postgres peer on its own fresh database in the same throwaway cluster.
#
# Prints "scenario rps p50_ms p99_ms errors ratio" per scenario; with --peer
# "server scenario rps p50_ms p99_ms errors ratio vs_peer", where server is beast (the
# ceiling), chatbotmgr or peer, and vs_peer is chatbotmgr's rps over the peer's. rps counts
# answers with a status below 400; errors counts socket errors, timeouts and answers with a
# status above 399 (with --check-responses, every non-2xx answer and every wrong body);
# ratio is rps over the ceiling's rps. With --repeat N the whole sequence (ceiling first)
# runs N times: each figure is the median over the rounds, each ratio (and vs_peer) the
# median of the ratios within a round, errors the sum. Exits 1 when any scenario had an
# error.
#
# Options (each also from the environment variable in brackets):
#   --duration SECONDS        [BENCH_DURATION]        per scenario, 1..300; default 10
#   --connections N           [BENCH_CONNECTIONS]     wrk -c; default 64
#   --threads N               [BENCH_THREADS]         wrk -t; default 2
#   --server-threads N        [BENCH_SERVER_THREADS]  I/O threads of both servers; default 2
#   --scenarios LIST          [BENCH_SCENARIOS]       default list,get,patch,capture,create,rotate
#   --repeat N                [BENCH_REPEAT]          rounds; default 1
#   --access-log on|off       [BENCH_ACCESS_LOG]      the server's access log (to a file); default off
#   --build-dir DIR           [BENCH_BUILD_DIR]       default <repo>/build-bench
#   --storage sqlite|postgres [BENCH_STORAGE]         default sqlite; postgres: see above
#   --peer                    [BENCH_PEER=1]          also measure the Node.js peer
#   --server BIN, --ceiling BIN                       use these binaries instead of building
#   --server-arg ARG                                  one more argument of chatbotmgr-server serve
#                                                     (repeatable; e.g. --grouped-writes off)
#   --busy N                  [BENCH_BUSY]            N processes that spin on the CPU for the
#                                                     whole run (a busy machine); default 0
#   --check-responses                                 check every answer (costs wrk CPU)
#   --no-install                                      never call apt-get
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

duration=${BENCH_DURATION:-10}
connections=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
server_threads=${BENCH_SERVER_THREADS:-2}
scenarios=${BENCH_SCENARIOS:-list,get,patch,capture,create,rotate}
repeat=${BENCH_REPEAT:-1}
access_log=${BENCH_ACCESS_LOG:-off}
build_dir=${BENCH_BUILD_DIR:-$repo/build-bench}
build_dir_given=${BENCH_BUILD_DIR:+1}
storage=${BENCH_STORAGE:-sqlite}
peer=${BENCH_PEER:-0}
server_args=()
server_bin=
ceiling_bin=
hold_bin=unused
install=1
check=0
busy=${BENCH_BUSY:-0}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --server-threads) server_threads=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --access-log) access_log=$2; shift 2 ;;
    --build-dir) build_dir=$2; build_dir_given=1; shift 2 ;;
    --storage) storage=$2; shift 2 ;;
    --peer) peer=1; shift ;;
    --server) server_bin=$2; shift 2 ;;
    --server-arg) server_args+=("$2"); shift 2 ;;
    --ceiling) ceiling_bin=$2; shift 2 ;;
    --busy) busy=$2; shift 2 ;;
    --check-responses) check=1; shift ;;
    --no-install) install=0; shift ;;
    -h|--help) usage ;;
    *) echo "bench: unknown option $1" >&2; usage ;;
  esac
done

is_count() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
is_count "$duration" 1 300 || { echo "bench: --duration: 1 to 300 seconds" >&2; exit 2; }
is_count "$connections" 1 10000 || { echo "bench: --connections: 1 to 10000" >&2; exit 2; }
is_count "$threads" 1 64 || { echo "bench: --threads: 1 to 64" >&2; exit 2; }
[ "$threads" -le "$connections" ] || { echo "bench: --threads must not exceed --connections" >&2; exit 2; }
is_count "$repeat" 1 20 || { echo "bench: --repeat: 1 to 20" >&2; exit 2; }
is_count "$server_threads" 1 256 || { echo "bench: --server-threads: 1 to 256" >&2; exit 2; }
[[ "$access_log" =~ ^(on|off)$ ]] || { echo "bench: --access-log: on or off" >&2; exit 2; }
[[ "$storage" =~ ^(sqlite|postgres)$ ]] || { echo "bench: --storage: sqlite or postgres" >&2; exit 2; }
[[ "$peer" =~ ^[01]$ ]] || { echo "bench: BENCH_PEER: 0 or 1" >&2; exit 2; }
is_count "$busy" 0 64 || { echo "bench: --busy: 0 to 64" >&2; exit 2; }
IFS=, read -ra scenario_list <<<"$scenarios"
for s in "${scenario_list[@]}"; do
  if [ ! -f "$here/$s.lua" ] || [ "$s" = common ] || [ "$s" = ceiling ]; then
    echo "bench: unknown scenario $s" >&2
    exit 2
  fi
done

# --- PostgreSQL: postgres.sh with one instance does it all ---
if [ "$storage" = postgres ]; then
  [ "$access_log" = off ] ||
    { echo "bench: --access-log on is not supported with --storage postgres" >&2; exit 2; }
  args=(--instances 1 --duration "$duration" --connections "$connections" --threads "$threads"
        --server-threads "$server_threads" --scenarios "$scenarios" --repeat "$repeat")
  [ -n "$build_dir_given" ] && args+=(--build-dir "$build_dir")
  [ -n "$server_bin" ] && args+=(--server "$server_bin")
  for a in "${server_args[@]}"; do args+=(--server-arg "$a"); done
  [ -n "$ceiling_bin" ] && args+=(--ceiling "$ceiling_bin")
  [ "$peer" = 1 ] && args+=(--peer)
  [ "$check" = 1 ] && args+=(--check-responses)
  [ "$install" = 0 ] && args+=(--no-install)
  [ "$busy" = 0 ] || { echo "bench: --busy is not supported with --storage postgres" >&2; exit 2; }
  exec "$here/postgres.sh" "${args[@]}"
fi

# shellcheck source=lib.sh
source "$here/lib.sh"
bench_scratch bench
bench_prepare
[ "$peer" = 0 ] || bench_peer_install

# Every connection wrk opens is a file descriptor of the server and of wrk.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- Servers ---
# Two users in two organizations, with passwords that only this run knows.
bench_add_users "$server_bin" user add --db "$tmp/bench.db"

bench_start ceiling "$ceiling_bin" --listen 127.0.0.1:0 --threads "$server_threads"
ceiling_pid=$started_pid
pids+=("$ceiling_pid")
ceiling_url=$started_url

bench_limit_flags "$connections"
bench_start server "$server_bin" serve --listen 127.0.0.1:0 --db "$tmp/bench.db" \
  --threads "$server_threads" --access-log "$access_log" "${limit_flags[@]}" "${server_args[@]}"
server_pid=$started_pid
pids+=("$server_pid")
server_url=$started_url
rss_start=$(bench_rss_kib "$server_pid")

# Each server's tokens and ids for the wrk scripts, in $tmp/SERVER.env (the ceiling
# uses none of them).
declare -A urls=([beast]=$ceiling_url [chatbotmgr]=$server_url)
servers=(chatbotmgr)
bench_setup "$server_url" "$tmp/chatbotmgr.env"
cp "$tmp/chatbotmgr.env" "$tmp/beast.env"

if [ "$peer" = 1 ]; then
  bench_peer_add_users "sqlite:$tmp/peer.db"
  bench_peer_start peer "sqlite:$tmp/peer.db"
  peer_pid=$started_pid
  pids+=("$peer_pid")
  urls[peer]=$started_url
  peer_rss_start=$(bench_rss_kib "$peer_pid")
  bench_setup "${urls[peer]}" "$tmp/peer.env"
  servers+=(peer)
fi
[ "$check" = 1 ] && export BENCH_CHECK_RESPONSES=1

# --- Scenarios ---
echo "chatbotmgr HTTP benchmark: wrk -t$threads -c$connections -d${duration}s, $repeat round(s)," \
  "server --threads $server_threads, access log $access_log, SQLite synchronous=FULL"
[ "$peer" = 0 ] || bench_peer_describe sqlite
bench_machine
echo "load average before: $(bench_load)"

# A busy machine: processes that spin for the whole run (killed with the servers).
for _ in $(seq 1 "$busy"); do
  bash -c 'while :; do :; done' &
  pids+=($!)
done
[ "$busy" = 0 ] || echo "busy: $busy spinning processes"

results="$tmp/results"
: >"$results"

# run_scenario SERVER NAME ROUND: one wrk run against SERVER (beast: the ceiling,
# chatbotmgr or peer); appends "SERVER NAME ROUND rps p50_ms p99_ms errors".
run_scenario() {
  local server=$1 name=$2 round=$3 out="$tmp/wrk-$1-$2-$3.out" line
  if ! bench_wrk "$tmp/$server.env" -t"$threads" -c"$connections" -d"${duration}s" \
       -s "$here/$name.lua" "${urls[$server]}" >"$out" 2>&1; then
    echo "bench: wrk failed in scenario $name ($server):" >&2
    cat "$out" >&2
    exit 1
  fi
  if [ "$peer" = 1 ]; then
    grep '^bench: ' "$out" | sed "s/^bench: /bench: $server: /" >&2 || true
  else
    grep '^bench: ' "$out" >&2 || true
  fi
  line=$(grep '^BENCH_RESULT ' "$out") ||
    { echo "bench: no result from wrk in scenario $name ($server):" >&2; cat "$out" >&2; exit 1; }
  # requests=N duration_us=N p50_us=N p99_us=N connect=N read=N write=N timeout=N status=N
  # unexpected=N
  local requests duration_us p50_us p99_us connect read write timeout status unexpected
  eval "${line#BENCH_RESULT }"
  local bad=$status
  [ "$unexpected" -gt "$bad" ] && bad=$unexpected
  awk -v server="$server" -v name="$name" -v round="$round" -v n="$requests" -v s="$status" \
      -v d="$duration_us" -v p50="$p50_us" -v p99="$p99_us" \
      -v e=$((connect + read + write + timeout + bad)) \
      'BEGIN {printf "%s %s %d %.0f %.2f %.2f %d\n", server, name, round, (n - s) / (d / 1e6),
              p50 / 1000, p99 / 1000, e}' >>"$results"
}

for round in $(seq 1 "$repeat"); do
  BENCH_NONCE="$$-$round-$(date +%s)"  # capture: new message ids every round
  export BENCH_NONCE
  run_scenario beast ceiling "$round"
  for s in "${scenario_list[@]}"; do
    for server in "${servers[@]}"; do
      sleep 1  # let the WAL checkpoint and the previous scenario's connections close
      kill -0 "$server_pid" 2>/dev/null || { echo "bench: the server died" >&2; exit 1; }
      [ "$peer" = 0 ] || kill -0 "$peer_pid" 2>/dev/null ||
        { echo "bench: the peer died:" >&2; tail -20 "$tmp/peer.log" >&2; exit 1; }
      run_scenario "$server" "$s" "$round"
    done
  done
done
rss_end=$(bench_rss_kib "$server_pid")
[ "$peer" = 0 ] || peer_rss_end=$(bench_rss_kib "$peer_pid")
echo "load average after:  $(bench_load)"

python3 - "$results" "$peer" ceiling "${scenario_list[@]}" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
with_peer = sys.argv[2] == "1"
order = sys.argv[3:]
target = {"list": 0.50, "get": 0.75, "patch": 0.40, "capture": 0.40, "create": 0.30,
          "rotate": 0.30}
by = {}  # (server, scenario) -> {round: (rps, p50, p99, errors)}
for server, name, rnd, rps, p50, p99, err in rows:
    by.setdefault((server, name), {})[int(rnd)] = (float(rps), float(p50), float(p99), int(err))
ceiling = by[("beast", "ceiling")]
print()
if with_peer:
    print("%-10s %-9s %9s %8s %8s %7s %7s %7s   %s" % (
        "server", "scenario", "rps", "p50_ms", "p99_ms", "errors", "ratio", "vs_peer",
        "target (ratio; p99 <= 5 ms)"))
else:
    print("%-9s %9s %8s %8s %7s %7s   %s" % ("scenario", "rps", "p50_ms", "p99_ms", "errors",
                                             "ratio", "target (ratio; p99 <= 5 ms)"))
for name in order:
    for server in (["beast"] if name == "ceiling" else
                   ["chatbotmgr", "peer"] if with_peer else ["chatbotmgr"]):
        runs = by[(server, name)]
        med = lambda i: statistics.median(v[i] for v in runs.values())
        ratio = statistics.median(runs[r][0] / ceiling[r][0] for r in runs)
        errors = sum(v[3] for v in runs.values())
        verdict = ""
        if name in target and server == "chatbotmgr":
            verdict = ">= %.2f: %s; p99: %s" % (target[name],
                                                "met" if ratio >= target[name] else "NOT met",
                                                "met" if med(2) <= 5 else "NOT met")
        figures = "%9.0f %8.2f %8.2f %7d %7.3f" % (med(0), med(1), med(2), errors, ratio)
        if not with_peer:
            print("%-9s %s   %s" % (name, figures, verdict))
            continue
        vs_peer = "-"
        if server == "chatbotmgr":
            other = by[("peer", name)]
            vs_peer = "%.2f" % statistics.median(runs[r][0] / other[r][0] for r in runs)
        print("%-10s %-9s %s %7s   %s" % (server, name, figures, vs_peer, verdict))
PY
echo
echo "server RSS: $((rss_start / 1024)) MiB idle after start, $((rss_end / 1024)) MiB after the run"
[ "$peer" = 0 ] ||
  echo "peer RSS: $((peer_rss_start / 1024)) MiB idle after start, $((peer_rss_end / 1024)) MiB after the run"
if awk '$7 > 0 {bad = 1} END {exit !bad}' "$results"; then
  echo "bench: some requests failed (errors column); see the lines starting with 'bench:' above" >&2
  exit 1
fi
