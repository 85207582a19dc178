#!/usr/bin/env bash
# Installs the Debian (bookworm) packages chatbotmgr needs, only those that are missing.
#   scripts/install-deps.sh build   -- to build the libraries and the server
#   scripts/install-deps.sh test    -- build + what the test suites need
#   scripts/install-deps.sh bench   -- build + Google Benchmark and wrk
set -euo pipefail

profile=${1:-build}
packages=(g++ cmake ninja-build pkg-config libboost1.81-dev libboost-json1.81-dev
          libboost-program-options1.81-dev libsqlitecpp-dev libsqlite3-dev libsodium-dev
          libpq-dev prometheus-cpp-dev)
case "$profile" in
  build) ;;
  test) packages+=(catch2 clang libclang-rt-14-dev postgresql curl python3 python3-yaml
                   python3-jsonschema sqlite3 procps doxygen libbenchmark-dev wrk
                   prometheus chromium chromium-driver python3-selenium) ;;
  bench) packages+=(catch2 libbenchmark-dev wrk curl python3) ;;
  *) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac
# tests/openapi runs openapi-typescript, tsc and Redocly CLI from npm: Node.js (>= 20.19
# for Redocly CLI 2) and npm. Only when missing: a nodejs package that brings its own npm
# (NodeSource's, on the project's machines) conflicts with Debian's npm package.
if [ "$profile" = test ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
