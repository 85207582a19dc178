#!/usr/bin/env bash
# Installs the peer servers' dependencies into bench/http/peers/node_modules; idempotent
# (does nothing when package-lock.json, Node.js and the built addon are unchanged).
#
#   bench/http/peers/install.sh               # installs missing Debian packages as needed
#   bench/http/peers/install.sh --no-install  # never calls apt-get (fails if one is missing)
#
# Only the npm registry and Debian's packages are needed: better-sqlite3's install script
# would download a prebuilt addon (prebuild-install) and node-gyp would download Node.js
# headers, and neither host is reachable here. So the addon is built from source
# (npm_config_build_from_source) against the headers of the installed Node.js
# (npm_config_nodedir: <prefix>/include/node, which NodeSource's nodejs package ships
# and Debian's libnode-dev provides), with g++, make and python3 from Debian.
# Needs Node.js >= 20 (Fastify 5, better-sqlite3 12).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
install=1
case "${1:-}" in
  "") ;;
  --no-install) install=0 ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac

say() { echo "peers: $*" >&2; }

apt_install() {  # apt_install PACKAGE...: the ones not installed yet
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$install" = 1 ] || { say "missing Debian packages: ${missing[*]} (and --no-install)"; exit 1; }
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "need root (or sudo) to install: ${missing[*]}"; exit 1; }
    sudo=sudo
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Node.js and npm: whatever is installed (NodeSource's nodejs brings its own npm, which
# conflicts with Debian's npm package), else Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] ||
  { say "Node.js $(node --version) is too old: Fastify 5 and better-sqlite3 12 need >= 20"; exit 1; }

nodedir=$(cd "$(dirname "$(readlink -f "$(command -v node)")")/.." && pwd)
[ -f "$nodedir/include/node/node_api.h" ] || apt_install libnode-dev
[ -f "$nodedir/include/node/node_api.h" ] ||
  { say "no Node.js headers in $nodedir/include/node"; exit 1; }
for tool in g++ make python3; do
  command -v "$tool" >/dev/null || apt_install g++ make python3
done

# The stamp: the lock file, the Node.js version and ABI that node_modules was built for.
stamp_file="$here/node_modules/.install-stamp"
stamp="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1) $(node -p 'process.version + " abi " + process.versions.modules')"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] &&
   (cd "$here" && node -e 'new (require("better-sqlite3"))(":memory:").close(); require("fastify"); require("pg")') 2>/dev/null; then
  exit 0
fi

say "npm ci in $here (better-sqlite3 built from source against $nodedir/include/node; about 2 minutes)"
(
  cd "$here"
  export npm_config_build_from_source=better-sqlite3 npm_config_nodedir=$nodedir
  nice npm ci --no-audit --no-fund --loglevel=error >"$here/.npm-ci.log" 2>&1 ||
    { tail -40 "$here/.npm-ci.log" >&2; exit 1; }
  node -e 'new (require("better-sqlite3"))(":memory:").close(); require("fastify"); require("pg")' ||
    { say "the installed modules do not load"; exit 1; }
)
rm -f "$here/.npm-ci.log"
echo "$stamp" >"$stamp_file"
say "installed"
