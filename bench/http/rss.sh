#!/usr/bin/env bash
# Memory of chatbotmgr-server: resident set size (VmRSS) idle, after a short load, and
# while it holds many idle keep-alive connections.
#
#   bench/http/rss.sh                       # 5,000 connections
#   bench/http/rss.sh --connections 2000
#
# Steps: builds like run.sh (or takes --server/--hold), starts the server on a fresh SQLite
# file with --threads 2, measures RSS right after start, then after 3 seconds of the get
# scenario (wrk -t2 -c64) and a pause, then while chatbotmgr_hold_connections holds 1,000
# (when N is larger) and then N connections open, each after one served request
# (GET /healthz).
#
# The server caps open connections (max_connections, default 1,024, and 64 per client
# address); this script passes --max-connections and --max-connections-per-address when the
# server has those flags, and otherwise reports how many connections were refused.
#
# Options: --connections N (default 5000), --build-dir DIR, --server BIN, --hold BIN,
# --no-install.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build_dir=${BENCH_BUILD_DIR:-$repo/build-bench}
held=5000
server_bin=
ceiling_bin=unused
hold_bin=
install=1

while [ $# -gt 0 ]; do
  case "$1" in
    --connections) held=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --server) server_bin=$2; shift 2 ;;
    --hold) hold_bin=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
[[ "$held" =~ ^[0-9]+$ ]] && [ "$held" -ge 1 ] && [ "$held" -le 15000 ] ||
  { echo "rss: --connections: 1 to 15000" >&2; exit 2; }

# shellcheck source=lib.sh
source "$here/lib.sh"
bench_scratch rss
bench_prepare

# Both ends of every connection are file descriptors (server and client are separate
# processes, each needs held + some).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt $((held + 100)) ]; then
  echo "rss: ulimit -n is $(ulimit -n); need $((held + 100)) (raise the hard limit)" >&2
  exit 1
fi

extra=()
if "$server_bin" serve --help 2>&1 | grep -q -- '--max-connections'; then
  extra=(--max-connections $((held + 100)))
  cap_note="server started with --max-connections $((held + 100))"
  # Every held connection comes from 127.0.0.1: lift the per-address limit (default 64).
  if "$server_bin" serve --help 2>&1 | grep -q -- '--max-connections-per-address'; then
    extra+=(--max-connections-per-address $((held + 100)))
    cap_note="$cap_note --max-connections-per-address $((held + 100))"
  fi
else
  cap_note="the server has no --max-connections flag: its cap is the library default (1,024)"
fi

bench_start server "$server_bin" serve --listen 127.0.0.1:0 --db "$tmp/rss.db" --threads 2 \
  --access-log off "${extra[@]}"
server_pid=$started_pid
pids+=("$server_pid")
url=$started_url
port=${url##*:}
sleep 1

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

echo "chatbotmgr-server RSS ($cap_note)"
bench_machine
echo "idle after start:                   $(mib "$(bench_rss_kib "$server_pid")") MiB"

password=$(sed -n 's/^  password: *//p' "$tmp/server.log" | head -1)
setup_env=$(BENCH_BASE_URL=$url BENCH_EMAIL=admin@example.com BENCH_PASSWORD=$password \
            python3 "$here/setup.py" 20)
unset password
eval "$setup_env"
export BENCH_TOKEN BENCH_IDS BENCH_KEY BENCH_ROTATE_IDS
wrk -t2 -c64 -d3s -s "$here/get.lua" "$url" >"$tmp/wrk.out" 2>&1
sleep 2
idle_after=$(bench_rss_kib "$server_pid")
echo "idle after login + 3 s of get load: $(mib "$idle_after") MiB"

hold() {
  local n=$1 status rss
  "$hold_bin" "$port" "$n" 30 >"$tmp/hold.out" 2>&1 &
  local hold_pid=$!
  local i
  for i in $(seq 1 600); do
    grep -q '^open=' "$tmp/hold.out" && break
    kill -0 "$hold_pid" 2>/dev/null || break
    sleep 0.1
  done
  status=$(grep '^open=' "$tmp/hold.out" || echo "client failed: $(cat "$tmp/hold.out")")
  local open
  open=$(sed -n 's/^open=\([0-9]*\).*/\1/p' "$tmp/hold.out")
  open=${open:-0}
  local failed
  failed=$(sed -n 's/.* failed=\([0-9]*\).*/\1/p' "$tmp/hold.out")
  # Refused past the cap (busy) is a finding; a failed connection or none at all is an error.
  if [ "$open" -eq 0 ] || [ "${failed:-1}" -ne 0 ]; then rc=1; fi
  sleep 1
  rss=$(bench_rss_kib "$server_pid")
  printf 'holding %5d connections:          %s MiB  (%s; %s KiB per open connection over idle)\n' \
    "$n" "$(mib "$rss")" "$status" \
    "$(awk -v r="$rss" -v i="$idle_after" -v n="$open" 'BEGIN {printf "%.1f", (n > 0 ? (r - i) / n : 0)}')"
  kill "$hold_pid" 2>/dev/null || true
  wait "$hold_pid" 2>/dev/null || true
  sleep 1
}

rc=0
[ "$held" -gt 1000 ] && hold 1000
hold "$held"
echo "idle after the connections closed:  $(mib "$(bench_rss_kib "$server_pid")") MiB"
kill -0 "$server_pid" 2>/dev/null || { echo "rss: the server died" >&2; exit 1; }
[ "$rc" -eq 0 ] || echo "rss: some connections failed (see failed= above)" >&2
exit "$rc"
