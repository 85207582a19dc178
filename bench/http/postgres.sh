#!/usr/bin/env bash
# The HTTP scenarios of run.sh on PostgreSQL, with one and with two server instances
# sharing the database.
#
#   bench/http/postgres.sh                     # from a clean clone: installs, builds, measures
#   bench/http/postgres.sh --duration 30 --instances 2
#
# Steps: installs what is missing (scripts/install-deps.sh bench, and PostgreSQL 15 through
# scripts/pg-test-cluster.sh), builds chatbotmgr-server with the PostgreSQL adapter and the
# ceiling server (Release), starts a throwaway PostgreSQL cluster (fsync on; the store
# commits with synchronous_commit=on), and then for each instance count:
#   - a fresh database; two users in two organizations (chatbotmgr-server user add
#     --storage), as run.sh does;
#   - N servers (serve --storage postgresql://...@127.0.0.1:PORT/DB, TCP) and N ceiling
#     servers, each on a free port of 127.0.0.1;
#   - logs in and creates 20 chatbots through the first instance (setup.py);
#   - runs the ceiling and every scenario (the wrk scripts of run.sh).
#
# wrk cannot spread one run over two addresses, so with two instances each scenario is two
# wrk processes started together, one per instance, each with half the connections and
# half the wrk threads (at least one) and its own BENCH_NONCE. rps is the sum of both;
# p50 and p99 are the larger of the two; errors the sum. The ceiling is measured the same
# way (two ceiling servers, two wrk processes), so ratio compares like with like.
#
# Prints "instances scenario rps p50_ms p99_ms errors ratio" per scenario. With --repeat N
# the ceiling and every scenario run N times per instance count: each figure is the median
# over the rounds, each ratio the median of the ratios within a round, errors the sum.
# The servers, PostgreSQL and wrk all share this machine's CPUs: on a small machine the
# two-instance figures show the cost of sharing one database, not added capacity.
#
# Options (each also from the environment variable in brackets):
#   --duration SECONDS        [BENCH_DURATION]        per scenario, 1..300; default 10
#   --connections N           [BENCH_CONNECTIONS]     total wrk connections; default 64
#   --threads N               [BENCH_THREADS]         total wrk threads; default 2
#   --server-threads N        [BENCH_SERVER_THREADS]  I/O threads of each server; default 2
#   --pg-pool N               [BENCH_PG_POOL]         PostgreSQL connections per server; default 8
#   --scenarios LIST          [BENCH_SCENARIOS]       default list,get,patch,capture,create,rotate
#   --instances LIST          [BENCH_INSTANCES]       instance counts, 1 and/or 2; default 1,2
#   --repeat N                [BENCH_REPEAT]          rounds; default 1
#   --build-dir DIR           [BENCH_BUILD_DIR]       default <repo>/build-bench-pg
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
pg_pool=${BENCH_PG_POOL:-8}
scenarios=${BENCH_SCENARIOS:-list,get,patch,capture,create,rotate}
instance_counts=${BENCH_INSTANCES:-1,2}
repeat=${BENCH_REPEAT:-1}
build_dir=${BENCH_BUILD_DIR:-$repo/build-bench-pg}
server_bin=
ceiling_bin=
hold_bin=unused
install=1
check=0
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --server-threads) server_threads=$2; shift 2 ;;
    --pg-pool) pg_pool=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    --instances) instance_counts=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
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
is_count "$connections" 2 10000 || { echo "bench: --connections: 2 to 10000" >&2; exit 2; }
is_count "$threads" 1 64 || { echo "bench: --threads: 1 to 64" >&2; exit 2; }
[ "$threads" -le "$connections" ] || { echo "bench: --threads must not exceed --connections" >&2; exit 2; }
is_count "$server_threads" 1 256 || { echo "bench: --server-threads: 1 to 256" >&2; exit 2; }
is_count "$pg_pool" 1 100 || { echo "bench: --pg-pool: 1 to 100" >&2; exit 2; }
is_count "$repeat" 1 20 || { echo "bench: --repeat: 1 to 20" >&2; exit 2; }
for s in ${scenarios//,/ }; do
  [ -f "$here/$s.lua" ] && [ "$s" != common ] && [ "$s" != ceiling ] ||
    { echo "bench: unknown scenario $s" >&2; exit 2; }
done
for n in ${instance_counts//,/ }; do
  [[ "$n" =~ ^[12]$ ]] || { echo "bench: --instances: 1 and/or 2" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/cbm-bench-pg.XXXXXX)
chmod 755 "$tmp"  # the cluster below belongs to the postgres user when we are root
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do bench_stop "$pid"; done
  "$repo/scripts/pg-test-cluster.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=lib.sh
source "$here/lib.sh"

# --- Build (lib.sh's bench_prepare builds without PostgreSQL, so build here first) ---
if [ -z "$server_bin" ] || [ -z "$ceiling_bin" ]; then
  [ "$install" = 1 ] && "$repo/scripts/install-deps.sh" bench
  echo "bench: building (Release, with PostgreSQL) in $build_dir ..." >&2
  cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCHATBOTMGR_BUILD_BENCH=ON -DCHATBOTMGR_BUILD_EXAMPLES=ON -DCHATBOTMGR_BUILD_TESTS=OFF \
    -DCHATBOTMGR_BUILD_TESTING_KIT=OFF -DCHATBOTMGR_BUILD_POSTGRES=ON \
    -DCHATBOTMGR_INSTALL=OFF >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log" >&2; exit 1; }
  cmake --build "$build_dir" -j "$(nproc)" --target chatbotmgr-server \
    chatbotmgr_ceiling_server >"$tmp/build.log" 2>&1 ||
    { tail -50 "$tmp/build.log" >&2; exit 1; }
  server_bin=${server_bin:-$build_dir/examples/server/chatbotmgr-server}
  ceiling_bin=${ceiling_bin:-$build_dir/bench/http/chatbotmgr_ceiling_server}
fi
bench_prepare  # with both binaries given: only installs (unless --no-install) and checks tools

# Every connection wrk opens is a file descriptor of the server and of wrk.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- PostgreSQL ---
[ "$install" = 1 ] || [ -x "$pg_bin/initdb" ] ||
  { echo "bench: $pg_bin/initdb is missing (and --no-install)" >&2; exit 1; }
"$repo/scripts/pg-test-cluster.sh" start "$tmp/pg" >/dev/null
pg_port=$(cat "$tmp/pg/port")
pg_admin=$(cat "$tmp/pg/conninfo")
pg_version=$("$pg_bin/psql" -X -qAt -d "$pg_admin" -c "SHOW server_version")
pg_settings=$("$pg_bin/psql" -X -qAt -d "$pg_admin" -F= -c \
  "SELECT name, current_setting(name) FROM pg_settings WHERE name IN ('fsync', 'shared_buffers', 'max_connections') ORDER BY name" |
  tr '\n' ' ')

echo "chatbotmgr HTTP benchmark on PostgreSQL: wrk -t$threads -c$connections -d${duration}s in" \
  "total, $repeat round(s), servers --threads $server_threads --pg-pool $pg_pool, access log off"
echo "PostgreSQL $pg_version on this machine, TCP 127.0.0.1, ${pg_settings}synchronous_commit=on"
bench_machine
echo "load average before: $(bench_load)"

results="$tmp/results"
: >"$results"

# wrk_run NAME URL CONNECTIONS THREADS NONCE OUT: one wrk process (foreground).
wrk_run() {
  BENCH_NONCE=$5 wrk -t"$4" -c"$3" -d"${duration}s" -s "$here/$1.lua" "$2" >"$6" 2>&1
}

# result_of OUT: prints "requests duration_us p50_us p99_us errors" of one wrk output.
result_of() {
  local line
  grep '^bench: ' "$1" >&2 || true
  line=$(grep '^BENCH_RESULT ' "$1") ||
    { echo "bench: no result from wrk:" >&2; cat "$1" >&2; exit 1; }
  local requests duration_us p50_us p99_us connect read write timeout status unexpected
  eval "${line#BENCH_RESULT }"
  local bad=$status
  [ "$unexpected" -gt "$bad" ] && bad=$unexpected
  [ $((connect + read + write + timeout + bad)) -eq 0 ] ||
    echo "bench: errors in $(basename "$1" .out): connect=$connect read=$read write=$write" \
      "timeout=$timeout status>399=$status unexpected=$unexpected" >&2
  echo "$requests $status $duration_us $p50_us $p99_us $((connect + read + write + timeout + bad))"
}

# run_scenario N ROUND NAME URL...: the scenario against N servers at once (one wrk
# each); appends "N ROUND NAME rps p50_ms p99_ms errors" to $results.
run_scenario() {
  local n=$1 round=$2 name=$3
  shift 3
  local per_conn=$((connections / n)) per_threads=$((threads / n)) i wrk_pids=() outs=()
  [ "$per_threads" -ge 1 ] || per_threads=1
  for i in $(seq 1 "$n"); do
    outs+=("$tmp/wrk-$n-$round-$name-$i.out")
    wrk_run "$name" "${!i}" "$per_conn" "$per_threads" "$nonce-$i" "${outs[-1]}" &
    wrk_pids+=($!)
  done
  for i in "${!wrk_pids[@]}"; do
    wait "${wrk_pids[$i]}" ||
      { echo "bench: wrk failed in scenario $name:" >&2; cat "${outs[$i]}" >&2; exit 1; }
  done
  local rows=""
  for out in "${outs[@]}"; do rows+="$(result_of "$out")"$'\n'; done
  # Sum of the answers below 400 per second of each run; the larger p50 and p99.
  printf '%s' "$rows" | awk -v n="$n" -v round="$round" -v name="$name" '
    NF == 6 { rps += ($1 - $2) / ($3 / 1e6); if ($4 > p50) p50 = $4; if ($5 > p99) p99 = $5;
              e += $6 }
    END { printf "%d %d %s %.0f %.2f %.2f %d\n", n, round, name, rps, p50 / 1000, p99 / 1000,
                 e }' \
    >>"$results"
}

# Two users in two organizations, with passwords that only this run knows.
add_user() {  # add_user STORAGE NAME ORG
  python3 -c 'import secrets; print("bench-" + secrets.token_hex(12))' >"$tmp/$2.password"
  "$server_bin" user add --storage "$1" --email "$2@example.com" --org "$3" \
    <"$tmp/$2.password" >/dev/null
}

for n in ${instance_counts//,/ }; do
  db="bench_${n}_instances"
  "$pg_bin/psql" -X -q -d "$pg_admin" -c "CREATE DATABASE $db" >/dev/null
  storage="postgresql://postgres@127.0.0.1:$pg_port/$db"
  add_user "$storage" bench "Bench Org"
  add_user "$storage" create "Bench Create Org"

  ceiling_urls=()
  server_urls=()
  server_pids=()
  for i in $(seq 1 "$n"); do
    bench_start "ceiling-$n-$i" "$ceiling_bin" --listen 127.0.0.1:0 --threads "$server_threads"
    pids+=("$started_pid")
    ceiling_urls+=("$started_url")
    bench_limit_flags "$connections"
    bench_start "server-$n-$i" "$server_bin" serve --listen 127.0.0.1:0 --storage "$storage" \
      --pg-pool "$pg_pool" --threads "$server_threads" --access-log off "${limit_flags[@]}"
    pids+=("$started_pid")
    server_pids+=("$started_pid")
    server_urls+=("$started_url")
  done

  setup_env=$(BENCH_BASE_URL=${server_urls[0]} \
              BENCH_EMAIL=bench@example.com BENCH_PASSWORD=$(cat "$tmp/bench.password") \
              BENCH_CREATE_EMAIL=create@example.com \
              BENCH_CREATE_PASSWORD=$(cat "$tmp/create.password") \
              python3 "$here/setup.py" 20)
  eval "$setup_env"
  export BENCH_TOKEN BENCH_IDS BENCH_KEY BENCH_ROTATE_IDS BENCH_CREATE_TOKEN
  [ "$check" = 1 ] && export BENCH_CHECK_RESPONSES=1

  for round in $(seq 1 "$repeat"); do
    nonce="$$-$n-$round-$(date +%s)"  # capture and create: new ids in every run and instance
    run_scenario "$n" "$round" ceiling "${ceiling_urls[@]}"
    for s in ${scenarios//,/ }; do
      sleep 1  # let the previous scenario's connections close
      for pid in "${server_pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || { echo "bench: a server died" >&2; exit 1; }
      done
      run_scenario "$n" "$round" "$s" "${server_urls[@]}"
    done
  done
  for pid in "${pids[@]}"; do bench_stop "$pid"; done
  pids=()
done
echo "load average after:  $(bench_load)"

python3 - "$results" ceiling ${scenarios//,/ } <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
order = sys.argv[2:]
by = {}  # (instances, scenario) -> {round: (rps, p50, p99, errors)}
for n, rnd, name, rps, p50, p99, err in rows:
    by.setdefault((int(n), name), {})[int(rnd)] = (float(rps), float(p50), float(p99), int(err))
print()
print("%-9s %-9s %9s %8s %8s %7s %7s" % ("instances", "scenario", "rps", "p50_ms", "p99_ms",
                                         "errors", "ratio"))
for n in sorted({k[0] for k in by}):
    ceiling = by[(n, "ceiling")]
    for name in order:
        runs = by[(n, name)]
        med = lambda i: statistics.median(v[i] for v in runs.values())
        ratio = statistics.median(runs[r][0] / ceiling[r][0] for r in runs)
        print("%-9d %-9s %9.0f %8.2f %8.2f %7d %7.3f" % (n, name, med(0), med(1), med(2),
                                                        sum(v[3] for v in runs.values()), ratio))
PY
if awk '$7 > 0 {bad = 1} END {exit !bad}' "$results"; then
  echo "bench: some requests failed (errors column); see the lines starting with 'bench:' above" >&2
  exit 1
fi
