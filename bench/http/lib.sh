# shellcheck shell=bash disable=SC2154
# Shared by the bench scripts (sourced, not run).
#
# Expects: $here (bench/http), $repo (the source tree), $build_dir, $tmp (a private
# temporary directory), $install (1: install missing Debian packages), $server_bin and
# $ceiling_bin (empty: build them).

# Makes the private temporary directory $tmp and, at exit, stops every process in $pids
# and removes $tmp. $1 names the directory.
bench_scratch() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/chatbotmgr-$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}
bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do bench_stop "$pid"; done
  rm -rf "$tmp"
}

# Installs what is missing and builds the binaries that were not given.
bench_prepare() {
  if [ "$install" = 1 ]; then
    "$repo/scripts/install-deps.sh" bench
  fi
  for tool in wrk python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
  done
  if [ -z "$server_bin" ] || [ -z "$ceiling_bin" ] || [ -z "$hold_bin" ]; then
    echo "bench: building (Release) in $build_dir ..." >&2
    cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCHATBOTMGR_BUILD_BENCH=ON -DCHATBOTMGR_BUILD_EXAMPLES=ON -DCHATBOTMGR_BUILD_TESTS=OFF \
      -DCHATBOTMGR_BUILD_TESTING_KIT=OFF -DCHATBOTMGR_BUILD_POSTGRES=OFF \
      -DCHATBOTMGR_INSTALL=OFF >"$tmp/cmake.log" 2>&1 ||
      { cat "$tmp/cmake.log" >&2; exit 1; }
    cmake --build "$build_dir" -j "$(nproc)" --target chatbotmgr-server \
      chatbotmgr_ceiling_server chatbotmgr_hold_connections >"$tmp/build.log" 2>&1 ||
      { tail -50 "$tmp/build.log" >&2; exit 1; }
    server_bin=${server_bin:-$build_dir/examples/server/chatbotmgr-server}
    ceiling_bin=${ceiling_bin:-$build_dir/bench/http/chatbotmgr_ceiling_server}
    hold_bin=${hold_bin:-$build_dir/bench/http/chatbotmgr_hold_connections}
  fi
}

# bench_start NAME COMMAND...: starts a server in the background, its output in
# $tmp/NAME.log, and waits until it prints "listening on http://HOST:PORT". Sets
# started_pid and started_url.
bench_start() {
  local name=$1
  shift
  "$@" >"$tmp/$name.log" 2>&1 &
  started_pid=$!
  started_url=
  local _
  for _ in $(seq 1 200); do
    started_url=$(grep -so 'listening on http://127\.0\.0\.1:[0-9]*' "$tmp/$name.log" |
                  head -1 | sed 's/^listening on //') || true
    [ -n "$started_url" ] && return 0
    kill -0 "$started_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench: $name did not start:" >&2
  grep -v 'password:' "$tmp/$name.log" >&2 || true
  exit 1
}

# bench_stop PID: SIGTERM, then wait (bounded) for the process to exit.
bench_stop() {
  local pid=$1 _
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# bench_limit_flags N: sets limit_flags to the serve flags that let one client address
# open N connections at once (wrk and the holding client connect from 127.0.0.1 only, and
# the server limits connections per address, default 64, and in all, default 1,024), and
# that let the create scenario go on past the server's cap on chatbots per organization
# (default 10,000: a 10-second create run makes more than that); a server without such
# flags gets none. The cap is still checked on every create, only higher.
bench_limit_flags() {
  local n=$(( $1 + 16 )) help
  help=$("$server_bin" serve --help 2>&1)
  limit_flags=()
  if grep -q -- '--max-chatbots-per-org' <<<"$help"; then
    limit_flags+=(--max-chatbots-per-org 100000000)
  fi
  if grep -q -- '--max-connections-per-address' <<<"$help"; then
    limit_flags+=(--max-connections-per-address "$n")
  fi
  if [ "$n" -gt 1024 ] && grep -qE -- '--max-connections( |$)' <<<"$help"; then
    limit_flags+=(--max-connections "$n")
  fi
}

# Resident set size of PID in KiB.
bench_rss_kib() {
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

bench_machine() {
  local mem
  mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
  echo "machine: nproc=$(nproc) memory=$mem cpu=\"$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)\" kernel=$(uname -r)"
}

bench_load() {
  cut -d' ' -f1-3 /proc/loadavg
}

# bench_add_users ADD_USER_COMMAND...: adds the two users of every run (bench@ in "Bench
# Org", create@ in "Bench Create Org") with the command given, which gets --email and
# --org appended and reads the password from standard input. The passwords are drawn once
# per run ($tmp/NAME.password), so a peer gets the same users as chatbotmgr.
bench_add_users() {
  local name org
  for name in bench create; do
    [ -f "$tmp/$name.password" ] ||
      python3 -c 'import secrets; print("bench-" + secrets.token_hex(12))' >"$tmp/$name.password"
    org="Bench Org"
    [ "$name" = create ] && org="Bench Create Org"
    "$@" --email "$name@example.com" --org "$org" <"$tmp/$name.password" >/dev/null
  done
}

# bench_setup URL OUT: logs in to the server at URL as both users and creates 20 chatbots
# (setup.py); writes the shell assignments for the wrk scripts to OUT (BENCH_TOKEN, ...).
bench_setup() {
  BENCH_BASE_URL=$1 \
    BENCH_EMAIL=bench@example.com BENCH_PASSWORD=$(cat "$tmp/bench.password") \
    BENCH_CREATE_EMAIL=create@example.com BENCH_CREATE_PASSWORD=$(cat "$tmp/create.password") \
    python3 "$here/setup.py" 20 >"$2"
}

# bench_wrk ENV_FILE ARGS...: wrk with the assignments of ENV_FILE (from bench_setup)
# exported, so that several servers, each with its own tokens and ids, share one run.
bench_wrk() {
  local env_file=$1
  shift
  (
    set -a
    # shellcheck source=/dev/null
    source "$env_file"
    set +a
    exec wrk "$@"
  )
}

# The Node.js peer server (bench/http/peers): dependencies, users, start.
bench_peer_install() {
  if [ "$install" = 1 ]; then "$here/peers/install.sh"; else "$here/peers/install.sh" --no-install; fi
}
bench_peer_add_users() {  # bench_peer_add_users STORAGE
  bench_add_users node "$here/peers/add-user.js" --storage "$1"
}
bench_peer_start() {  # bench_peer_start NAME STORAGE [PG_POOL]: sets started_pid, started_url
  bench_start "$1" node "$here/peers/server.js" --listen 127.0.0.1:0 --storage "$2" \
    --pg-pool "${3:-8}"
}
bench_peer_describe() {  # bench_peer_describe sqlite|postgres
  local fastify
  fastify=$(cd "$here/peers" && node -p 'require("fastify/package.json").version')
  if [ "$1" = sqlite ]; then
    echo "peer: Fastify $fastify + better-sqlite3 $(cd "$here/peers" && node -p 'require("better-sqlite3/package.json").version') (WAL, synchronous=NORMAL), Node.js $(node --version), one process"
  else
    echo "peer: Fastify $fastify + node-postgres $(cd "$here/peers" && node -p 'require("pg/package.json").version') (pool $2, synchronous_commit=on), Node.js $(node --version), one process"
  fi
}
