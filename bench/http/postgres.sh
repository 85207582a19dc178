#!/usr/bin/env bash
# The HTTP scenarios of run.sh on PostgreSQL, with one and with two server instances
# sharing the database.
#
#   bench/http/postgres.sh                     # from a clean clone: installs, builds, measures
#   bench/http/postgres.sh --duration 30 --instances 2
#   bench/http/postgres.sh --instances 1 --peer   # also the Fastify + node-postgres peer
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
# With --peer (one instance only) the same scenarios also run against the Node.js peer of
# bench/http/peers in its PostgreSQL flavour (Fastify + node-postgres, a pg.Pool of
# --pg-pool connections, synchronous_commit=on, one process; sessions and keys read from
# the database on every request, like chatbotmgr on PostgreSQL) on its own fresh database
# in the same cluster, with the same two users (the peer's add-user.js, a direct insert)
# and the same 20 chatbots (setup.py). Each scenario runs against chatbotmgr, then the
# peer; the ceiling is shared.
#
# Prints "instances scenario rps p50_ms p99_ms errors ratio" per scenario (with --peer:
# "server instances scenario rps p50_ms p99_ms errors ratio vs_peer", server being beast
# for the ceiling, chatbotmgr or peer, and vs_peer chatbotmgr's rps over the peer's in the
# one-instance rows). With --repeat N
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
#   --peer                    [BENCH_PEER=1]          also measure the Node.js peer (needs 1 in --instances)
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
peer=${BENCH_PEER:-0}
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
    --peer) peer=1; shift ;;
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
IFS=, read -ra scenario_list <<<"$scenarios"
for s in "${scenario_list[@]}"; do
  if [ ! -f "$here/$s.lua" ] || [ "$s" = common ] || [ "$s" = ceiling ]; then
    echo "bench: unknown scenario $s" >&2
    exit 2
  fi
done
IFS=, read -ra instance_list <<<"$instance_counts"
for n in "${instance_list[@]}"; do
  [[ "$n" =~ ^[12]$ ]] || { echo "bench: --instances: 1 and/or 2" >&2; exit 2; }
done
[[ "$peer" =~ ^[01]$ ]] || { echo "bench: BENCH_PEER: 0 or 1" >&2; exit 2; }
if [ "$peer" = 1 ] && [[ ! ",$instance_counts," =~ ,1, ]]; then
  echo "bench: --peer needs one instance in --instances (the peer runs as one)" >&2
  exit 2
fi

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
[ "$peer" = 0 ] || bench_peer_install

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
[ "$peer" = 0 ] || bench_peer_describe postgres "$pg_pool"
bench_machine
echo "load average before: $(bench_load)"

results="$tmp/results"
: >"$results"

# wrk_run SERVER NAME URL CONNECTIONS THREADS NONCE OUT: one wrk process (foreground), with
# the tokens and ids of SERVER ($tmp/SERVER.env).
wrk_run() {
  BENCH_NONCE=$6 bench_wrk "$tmp/$1.env" -t"$5" -c"$4" -d"${duration}s" -s "$here/$2.lua" "$3" \
    >"$7" 2>&1
}

# result_of OUT: prints "requests status duration_us p50_us p99_us errors" of one wrk
# output.
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

# run_scenario SERVER N ROUND NAME URL...: the scenario against N servers at once (one wrk
# each); appends "SERVER N ROUND NAME rps p50_ms p99_ms errors" to $results.
run_scenario() {
  local server=$1 n=$2 round=$3 name=$4
  shift 4
  local per_conn=$((connections / n)) per_threads=$((threads / n)) i wrk_pids=() outs=()
  [ "$per_threads" -ge 1 ] || per_threads=1
  for i in $(seq 1 "$n"); do
    outs+=("$tmp/wrk-$server-$n-$round-$name-$i.out")
    wrk_run "$server" "$name" "${!i}" "$per_conn" "$per_threads" "$nonce-$i" "${outs[-1]}" &
    wrk_pids+=($!)
  done
  for i in "${!wrk_pids[@]}"; do
    wait "${wrk_pids[$i]}" ||
      { echo "bench: wrk failed in scenario $name ($server):" >&2; cat "${outs[$i]}" >&2; exit 1; }
  done
  local rows=""
  for out in "${outs[@]}"; do rows+="$(result_of "$out")"$'\n'; done
  # Sum of the answers below 400 per second of each run; the larger p50 and p99.
  printf '%s' "$rows" | awk -v server="$server" -v n="$n" -v round="$round" -v name="$name" '
    NF == 6 { rps += ($1 - $2) / ($3 / 1e6); if ($4 > p50) p50 = $4; if ($5 > p99) p99 = $5;
              e += $6 }
    END { printf "%s %d %d %s %.0f %.2f %.2f %d\n", server, n, round, name, rps, p50 / 1000,
                 p99 / 1000, e }' \
    >>"$results"
}

for n in "${instance_list[@]}"; do
  db="bench_${n}_instances"
  "$pg_bin/psql" -X -q -d "$pg_admin" -c "CREATE DATABASE $db" >/dev/null
  storage="postgresql://postgres@127.0.0.1:$pg_port/$db"
  # Two users in two organizations, with passwords that only this run knows.
  bench_add_users "$server_bin" user add --storage "$storage"

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

  # Each server's tokens and ids for the wrk scripts, in $tmp/SERVER.env (the ceiling
  # uses none of them).
  bench_setup "${server_urls[0]}" "$tmp/chatbotmgr.env"
  cp "$tmp/chatbotmgr.env" "$tmp/beast.env"
  servers=(chatbotmgr)

  # The peer, with one instance: its own database in the same cluster.
  if [ "$peer" = 1 ] && [ "$n" = 1 ]; then
    "$pg_bin/psql" -X -q -d "$pg_admin" -c "CREATE DATABASE peer_bench" >/dev/null
    peer_storage="postgresql://postgres@127.0.0.1:$pg_port/peer_bench"
    bench_peer_add_users "$peer_storage"
    bench_peer_start peer "$peer_storage" "$pg_pool"
    pids+=("$started_pid")
    server_pids+=("$started_pid")
    peer_url=$started_url
    bench_setup "$peer_url" "$tmp/peer.env"
    servers+=(peer)
  fi
  [ "$check" = 1 ] && export BENCH_CHECK_RESPONSES=1

  for round in $(seq 1 "$repeat"); do
    nonce="$$-$n-$round-$(date +%s)"  # capture and create: new ids in every run and instance
    run_scenario beast "$n" "$round" ceiling "${ceiling_urls[@]}"
    for s in "${scenario_list[@]}"; do
      for server in "${servers[@]}"; do
        sleep 1  # let the previous scenario's connections close
        for pid in "${server_pids[@]}"; do
          kill -0 "$pid" 2>/dev/null || { echo "bench: a server died" >&2; exit 1; }
        done
        if [ "$server" = peer ]; then
          run_scenario peer "$n" "$round" "$s" "$peer_url"
        else
          run_scenario chatbotmgr "$n" "$round" "$s" "${server_urls[@]}"
        fi
      done
    done
  done
  for pid in "${pids[@]}"; do bench_stop "$pid"; done
  pids=()
done
echo "load average after:  $(bench_load)"

python3 - "$results" "$peer" ceiling "${scenario_list[@]}" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
with_peer = sys.argv[2] == "1"
order = sys.argv[3:]
by = {}  # (server, instances, scenario) -> {round: (rps, p50, p99, errors)}
for server, n, rnd, name, rps, p50, p99, err in rows:
    by.setdefault((server, int(n), name), {})[int(rnd)] = (float(rps), float(p50), float(p99),
                                                           int(err))
print()
if with_peer:
    print("%-10s %-9s %-9s %9s %8s %8s %7s %7s %7s" % (
        "server", "instances", "scenario", "rps", "p50_ms", "p99_ms", "errors", "ratio",
        "vs_peer"))
else:
    print("%-9s %-9s %9s %8s %8s %7s %7s" % ("instances", "scenario", "rps", "p50_ms",
                                             "p99_ms", "errors", "ratio"))
for n in sorted({k[1] for k in by}):
    ceiling = by[("beast", n, "ceiling")]
    for name in order:
        for server in (["beast"] if name == "ceiling" else
                       ["chatbotmgr", "peer"] if ("peer", n, name) in by else ["chatbotmgr"]):
            runs = by[(server, n, name)]
            med = lambda i: statistics.median(v[i] for v in runs.values())
            ratio = statistics.median(runs[r][0] / ceiling[r][0] for r in runs)
            figures = "%-9s %9.0f %8.2f %8.2f %7d %7.3f" % (
                name, med(0), med(1), med(2), sum(v[3] for v in runs.values()), ratio)
            if not with_peer:
                print("%-9d %s" % (n, figures))
                continue
            vs_peer = "-"
            if server == "chatbotmgr" and ("peer", n, name) in by:
                other = by[("peer", n, name)]
                vs_peer = "%.2f" % statistics.median(runs[r][0] / other[r][0] for r in runs)
            print("%-10s %-9d %s %7s" % (server, n, figures, vs_peer))
PY
if awk '$8 > 0 {bad = 1} END {exit !bad}' "$results"; then
  echo "bench: some requests failed (errors column); see the lines starting with 'bench:' above" >&2
  exit 1
fi
