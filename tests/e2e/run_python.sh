#!/bin/sh
# Runs a test script with a python3 that has PyYAML and jsonschema. On a Debian machine
# that lacks them, installs the Debian packages python3-yaml and python3-jsonschema first
# (as root; never pip).
for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import yaml, jsonschema' 2>/dev/null; then
        exec "$py" "$@"
    fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "run_python.sh: installing python3-yaml python3-jsonschema (Debian)" >&2
    install() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 \
            python3-yaml python3-jsonschema >&2
    }
    install || { apt-get update -q -o DPkg::Lock::Timeout=300 >&2 && install; } || exit 1
    exec /usr/bin/python3 "$@"
fi
echo "run_python.sh: need python3 with PyYAML and jsonschema (Debian: python3-yaml python3-jsonschema)" >&2
exit 1
