#!/usr/bin/env bash
# The test suite under sanitizers (clang 14; flags from CMakePresets.json):
#
#   scripts/sanitize.sh [asan] [tsan]      default: both
#   -B, --build-prefix P   build dirs are P<name>, e.g. "build-rel-" -> build-rel-asan
#                          (default "build-presets/", the presets' own binaryDir)
#   -j N                   build and test parallelism (default 2)
#
#   asan  AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer): every test
#         (the PostgreSQL ones too when CHATBOTMGR_TEST_PG is set), the server-driving
#         Python tests included -- they run the sanitized server.
#   tsan  ThreadSanitizer: the test programs labelled "race", "core", "storage" or "http" (labels
#         taken from the chatbotmgr_add_test calls; TSAN_LABELS overrides the regex).
#
# Any sanitizer report fails the run: halt_on_error=1 everywhere, UBSan without recovery.
# Exits non-zero when a build or a test fails; prints the time each phase took.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=$ROOT/build-presets/
JOBS=2
KINDS=()
while [[ $# -gt 0 ]]; do
    case $1 in
        asan|tsan) KINDS+=("$1"); shift ;;
        -B|--build-prefix) PREFIX=$2; shift 2 ;;
        -j) JOBS=$2; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "sanitize.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ ${#KINDS[@]} -gt 0 ]] || KINDS=(asan tsan)
[[ $PREFIX = /* ]] || PREFIX=$ROOT/$PREFIX

export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_init_order=1:check_initialization_order=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
TSAN_LABELS=${TSAN_LABELS:-race|core|storage|http}

# Without a PostgreSQL server to test against, the adapter is not worth compiling here.
extra=()
[[ -n ${CHATBOTMGR_TEST_PG:-} ]] || extra+=(-DCHATBOTMGR_BUILD_POSTGRES=OFF)

phase() { echo "sanitize.sh: $*" >&2; }
seconds() { echo $(( $(date +%s) - $1 )); }

# The test programs whose chatbotmgr_add_test(... LABELS ...) matches the regex.
targets_with_labels() {
    python3 - "$ROOT/tests" "$1" <<'EOF'
import pathlib, re, sys
root, labels = pathlib.Path(sys.argv[1]), re.compile(sys.argv[2])
for cmake in sorted(root.glob("*/CMakeLists.txt")):
    text = re.sub(r"#[^\n]*", "", cmake.read_text())
    for m in re.finditer(r"chatbotmgr_add_test\(\s*(\S+)(.*?)\)", text, re.S):
        lab = re.search(r"LABELS\s+([^)]*)", m.group(2))
        if lab and any(labels.fullmatch(l) for l in lab.group(1).split()):
            print(m.group(1))
EOF
}

status=0
for kind in "${KINDS[@]}"; do
    dir=${PREFIX}${kind}
    start=$(date +%s)
    phase "$kind: configure $dir"
    cmake --preset "$kind" -S "$ROOT" -B "$dir" "${extra[@]}" >/dev/null
    if [[ $kind == asan ]]; then
        phase "asan: build everything"
        cmake --build "$dir" -j"$JOBS"
        built=$(seconds "$start")
        phase "asan: run every test"
        ctest --test-dir "$dir" -j"$JOBS" --output-on-failure --timeout 900 || status=1
    else
        mapfile -t targets < <(targets_with_labels "$TSAN_LABELS")
        [[ ${#targets[@]} -gt 0 ]] || { echo "sanitize.sh: no test program labelled $TSAN_LABELS" >&2; exit 1; }
        phase "tsan: build ${targets[*]}"
        cmake --build "$dir" -j"$JOBS" --target "${targets[@]}"
        built=$(seconds "$start")
        phase "tsan: run the tests labelled $TSAN_LABELS"
        # Only the programs built above: select their tests by label.
        ctest --test-dir "$dir" -j"$JOBS" -L "$TSAN_LABELS" --output-on-failure --timeout 900 \
            --no-tests=error || status=1
    fi
    phase "$kind: configure+build ${built}s, total $(seconds "$start")s"
done
exit $status
