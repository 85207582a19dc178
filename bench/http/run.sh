#!/usr/bin/env bash
# HTTP load benchmark of chatbotmgr-server, each scenario as a ratio to a bare Beast server
# (the ceiling) measured in the same run.
#
#   bench/http/run.sh                      # from a clean clone: installs, builds, measures
#   bench/http/run.sh --duration 30 --connections 128
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
#
# Prints "scenario rps p50_ms p99_ms errors ratio" per scenario. rps counts answers with
# a status below 400; errors counts socket errors, timeouts and answers with a status
# above 399 (with --check-responses, every non-2xx answer and every wrong body); ratio is
# rps over the ceiling's rps. With --repeat N the whole sequence (ceiling first) runs N
# times: each figure is the median over the rounds, each ratio the median of the ratios
# within a round, errors the sum. Exits 1 when any scenario had an error.
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
#   --server BIN, --ceiling BIN                       use these binaries instead of building
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
server_bin=
ceiling_bin=
hold_bin=unused
install=1
check=0

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
    --build-dir) build_dir=$2; shift 2 ;;
    --server) server_bin=$2; shift 2 ;;
    --ceiling) ceiling_bin=$2; shift 2 ;;
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
for s in ${scenarios//,/ }; do
  [ -f "$here/$s.lua" ] && [ "$s" != common ] && [ "$s" != ceiling ] ||
    { echo "bench: unknown scenario $s" >&2; exit 2; }
done

# shellcheck source=lib.sh
source "$here/lib.sh"
bench_scratch bench
bench_prepare

# Every connection wrk opens is a file descriptor of the server and of wrk.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- Servers ---
# Two users in two organizations, with passwords that only this run knows.
add_user() {
  python3 -c 'import secrets; print("bench-" + secrets.token_hex(12))' >"$tmp/$1.password"
  "$server_bin" user add --db "$tmp/bench.db" --email "$1@example.com" --org "$2" \
    <"$tmp/$1.password" >/dev/null
}
add_user bench "Bench Org"
add_user create "Bench Create Org"

bench_start ceiling "$ceiling_bin" --listen 127.0.0.1:0 --threads "$server_threads"
ceiling_pid=$started_pid
pids+=("$ceiling_pid")
ceiling_url=$started_url

bench_limit_flags "$connections"
bench_start server "$server_bin" serve --listen 127.0.0.1:0 --db "$tmp/bench.db" \
  --threads "$server_threads" --access-log "$access_log" "${limit_flags[@]}"
server_pid=$started_pid
pids+=("$server_pid")
server_url=$started_url
rss_start=$(bench_rss_kib "$server_pid")

setup_env=$(BENCH_BASE_URL=$server_url \
            BENCH_EMAIL=bench@example.com BENCH_PASSWORD=$(cat "$tmp/bench.password") \
            BENCH_CREATE_EMAIL=create@example.com \
            BENCH_CREATE_PASSWORD=$(cat "$tmp/create.password") \
            python3 "$here/setup.py" 20)
eval "$setup_env"
export BENCH_TOKEN BENCH_IDS BENCH_KEY BENCH_ROTATE_IDS BENCH_CREATE_TOKEN
[ "$check" = 1 ] && export BENCH_CHECK_RESPONSES=1

# --- Scenarios ---
echo "chatbotmgr HTTP benchmark: wrk -t$threads -c$connections -d${duration}s, $repeat round(s)," \
  "server --threads $server_threads, access log $access_log, SQLite synchronous=FULL"
bench_machine
echo "load average before: $(bench_load)"

results="$tmp/results"
: >"$results"

# run_scenario NAME URL ROUND: one wrk run; appends "NAME ROUND rps p50_ms p99_ms errors".
run_scenario() {
  local name=$1 url=$2 round=$3 out="$tmp/wrk-$1-$3.out" line
  if ! wrk -t"$threads" -c"$connections" -d"${duration}s" -s "$here/$name.lua" "$url" \
       >"$out" 2>&1; then
    echo "bench: wrk failed in scenario $name:" >&2
    cat "$out" >&2
    exit 1
  fi
  grep '^bench: ' "$out" >&2 || true
  line=$(grep '^BENCH_RESULT ' "$out") ||
    { echo "bench: no result from wrk in scenario $name:" >&2; cat "$out" >&2; exit 1; }
  # requests=N duration_us=N p50_us=N p99_us=N connect=N read=N write=N timeout=N status=N
  # unexpected=N
  local requests duration_us p50_us p99_us connect read write timeout status unexpected
  eval "${line#BENCH_RESULT }"
  local bad=$status
  [ "$unexpected" -gt "$bad" ] && bad=$unexpected
  awk -v name="$name" -v round="$round" -v n="$requests" -v s="$status" -v d="$duration_us" \
      -v p50="$p50_us" -v p99="$p99_us" -v e=$((connect + read + write + timeout + bad)) \
      'BEGIN {printf "%s %d %.0f %.2f %.2f %d\n", name, round, (n - s) / (d / 1e6), p50 / 1000,
              p99 / 1000, e}' >>"$results"
}

for round in $(seq 1 "$repeat"); do
  export BENCH_NONCE="$$-$round-$(date +%s)"  # capture: new message ids every round
  run_scenario ceiling "$ceiling_url" "$round"
  for s in ${scenarios//,/ }; do
    sleep 1  # let the WAL checkpoint and the previous scenario's connections close
    kill -0 "$server_pid" 2>/dev/null || { echo "bench: the server died" >&2; exit 1; }
    run_scenario "$s" "$server_url" "$round"
  done
done
rss_end=$(bench_rss_kib "$server_pid")
echo "load average after:  $(bench_load)"

python3 - "$results" ceiling ${scenarios//,/ } <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
order = sys.argv[2:]
target = {"list": 0.50, "get": 0.75, "patch": 0.40, "capture": 0.40, "create": 0.30,
          "rotate": 0.30}
by = {}
for name, rnd, rps, p50, p99, err in rows:
    by.setdefault(name, {})[int(rnd)] = (float(rps), float(p50), float(p99), int(err))
print()
print("%-9s %9s %8s %8s %7s %7s   %s" % ("scenario", "rps", "p50_ms", "p99_ms", "errors",
                                         "ratio", "target (ratio; p99 <= 5 ms)"))
for name in order:
    runs = by[name]
    med = lambda i: statistics.median(v[i] for v in runs.values())
    ratio = statistics.median(runs[r][0] / by["ceiling"][r][0] for r in runs)
    errors = sum(v[3] for v in runs.values())
    verdict = ""
    if name in target:
        verdict = ">= %.2f: %s; p99: %s" % (target[name],
                                            "met" if ratio >= target[name] else "NOT met",
                                            "met" if med(2) <= 5 else "NOT met")
    print("%-9s %9.0f %8.2f %8.2f %7d %7.3f   %s" % (name, med(0), med(1), med(2), errors,
                                                    ratio, verdict))
PY
echo
echo "server RSS: $((rss_start / 1024)) MiB idle after start, $((rss_end / 1024)) MiB after the run"
if awk '$6 > 0 {bad = 1} END {exit !bad}' "$results"; then
  echo "bench: some requests failed (errors column); see the lines starting with 'bench:' above" >&2
  exit 1
fi
