#!/usr/bin/env bash
# The dashboard's browser test (issue 16): installs axe-core from package-lock.json with
# `npm ci` into a work directory (never into the source tree), then runs dashboard_test.py
# in Debian's headless Chromium through chromedriver and python3-selenium
# (scripts/install-deps.sh test; no browser is ever downloaded).
#
#   tests/dashboard/run.sh --server PATH [--work DIR] [dashboard_test.py options...]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=
args=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --work) work=$2; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/chatbotmgr-dashboard.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[[ -n $work ]] || work=$tmp/npm
mkdir -p "$work"

for tool in npm chromium chromedriver; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (scripts/install-deps.sh test)" >&2; exit 1; }
done
# Debian's python3 has python3-selenium; a python3 earlier on PATH (pyenv, a venv) may not.
py=
for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import selenium' 2>/dev/null; then
        py=$candidate
        break
    fi
done
[[ -n $py ]] || { echo "run.sh: no python3 with selenium (Debian: python3-selenium)" >&2; exit 1; }

if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" || [[ ! -f $work/node_modules/axe-core/axe.min.js ]]; then
    cp "$here/package.json" "$here/package-lock.json" "$work/"
    (cd "$work" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
fi
exec "$py" "$here/dashboard_test.py" --axe "$work/node_modules/axe-core/axe.min.js" \
    --scratch "$tmp" "${args[@]}"
