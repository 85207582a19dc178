#!/usr/bin/env bash
# Installs what is missing, builds everything with warnings as errors, and runs every test:
# the normal suite (with PostgreSQL on a throwaway cluster), then the sanitizer and fuzz
# stages. Each stage prints ctest's summary; the script fails when any stage fails.
#   scripts/test.sh            -- all stages
#   scripts/test.sh quick      -- only the normal build and suite
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
jobs=$(nproc)

stage() { printf '\n==== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

stage "install dependencies"
scripts/install-deps.sh test

pg_dir=$(mktemp -d /tmp/chatbotmgr-pg.XXXXXX)
cleanup() { scripts/pg-test-cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT

stage "start a throwaway PostgreSQL cluster"
scripts/pg-test-cluster.sh start "$pg_dir"
CHATBOTMGR_TEST_PG=$(cat "$pg_dir/conninfo")
export CHATBOTMGR_TEST_PG

# Release (-O3): the optimizer's warnings (-Wrestrict and friends) are errors too. The
# sanitizer stages below build at -O1 with debug info.
stage "build (GCC, Release, -Werror)"
cmake -S . -B build/ci -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHATBOTMGR_WERROR=ON \
      -DCHATBOTMGR_BUILD_POSTGRES=ON -DCHATBOTMGR_BUILD_BENCH=ON >/dev/null
cmake --build build/ci -j"$jobs"

stage "test suite"
ctest --test-dir build/ci --output-on-failure -j"$jobs" --timeout 600

[ "$mode" = quick ] && exit 0

stage "fuzz smoke: every libFuzzer target for 20 s"
scripts/fuzz.sh -t 20

# Last, so that the run ends with ctest's summary.
stage "sanitizers: every test under ASan+UBSan, the concurrent ones under TSan"
scripts/sanitize.sh asan tsan
