#!/usr/bin/env bash
# Installs what is missing, builds, and starts the example server on its SQLite default
# (127.0.0.1:8080, ./chatbotmgr.db). Extra arguments go to `chatbotmgr-server serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh build
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCHATBOTMGR_BUILD_TESTS=OFF -DCHATBOTMGR_BUILD_TESTING_KIT=OFF >/dev/null
cmake --build build/release --target chatbotmgr-server -j"$(nproc)"
# The dashboard is at http://127.0.0.1:8080/ (the first-start password is printed below).
exec build/release/examples/server/chatbotmgr-server serve "$@"
