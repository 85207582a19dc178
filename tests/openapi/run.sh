#!/usr/bin/env bash
# docs/openapi.yaml as third-party tools see it (issue 10), with the npm packages pinned in
# package-lock.json: installs them with `npm ci` into a work directory (never into the
# source tree), generates TypeScript types with openapi-typescript, compiles client_test.ts
# against them with `tsc --noEmit --strict`, and lints the description with Redocly's
# recommended rules, which must report no error and no warning. Fails if any step fails.
#
#   tests/openapi/run.sh [--openapi FILE] [--work DIR]
#     --openapi  the description to check (default: docs/openapi.yaml of this checkout)
#     --work     where node_modules goes (default: a temporary directory, removed after)
#
# Needs node >= 20.19 and npm (Redocly CLI 2's engines); the npm registry is used only by
# `npm ci`, which prefers its cache.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
openapi=$here/../../docs/openapi.yaml
work=
while [[ $# -gt 0 ]]; do
    case $1 in
        --openapi) openapi=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
openapi=$(cd "$(dirname "$openapi")" && pwd)/$(basename "$openapi")
[[ -f $openapi ]] || { echo "run.sh: no such file: $openapi" >&2; exit 2; }

for tool in node npm; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (scripts/install-deps.sh test)" >&2; exit 1; }
done
echo "node $(node --version), npm $(npm --version)"
# Redocly CLI 2 needs Node.js 20.19 or later (its engines field); say so rather than fail
# somewhere inside it. (Debian bookworm's own nodejs is 18: too old.)
node -e 'const [a, b] = process.versions.node.split(".").map(Number);
         process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
    { echo "run.sh: Node.js >= 20.19 needed (Redocly CLI 2), found $(node --version)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chatbotmgr-openapi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[[ -n $work ]] || work=$tmp/npm
mkdir -p "$work"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

step() { printf '\n== %s\n' "$*"; }

step "npm ci (package-lock.json)"
cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
bin=$work/node_modules/.bin

step "openapi-typescript $openapi"
mkdir -p "$tmp/client"
cp "$here/client_test.ts" "$tmp/client/"
"$bin/openapi-typescript" "$openapi" --output "$tmp/client/schema.d.ts"

step "tsc --noEmit --strict client_test.ts"
(cd "$tmp/client" && "$bin/tsc" --noEmit --strict --target es2022 --module esnext \
    --moduleResolution bundler --lib es2022,dom client_test.ts)
echo "client_test.ts compiles against the generated types"

step "redocly lint (recommended rules): no error, no warning"
# Run outside the source tree so that no redocly.yaml changes the rules.
report=$tmp/lint.json
status=0
(cd "$tmp" && "$bin/redocly" lint "$openapi" --format=json > "$report") || status=$?
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
for (const p of r.problems) console.log(`${p.severity} ${p.ruleId}: ${p.message} at ${(p.location[0] || {}).pointer}`);
const t = r.totals;
console.log(`${t.errors} errors, ${t.warnings} warnings, ${t.ignored} ignored`);
process.exit(t.errors + t.warnings + t.ignored === 0 ? 0 : 1);
' "$report" || status=1
[[ $status -eq 0 ]] || { echo "FAILED: redocly lint"; exit 1; }

echo
echo "openapi: npm ci, openapi-typescript, tsc --strict and redocly lint passed"
