#!/usr/bin/env bash
# Builds the libFuzzer targets (the "fuzz" CMake preset: clang 14, ASan + UBSan) and runs
# each for a fixed time on a scratch copy of its seed corpus (fuzz/corpus/<target>).
#
#   scripts/fuzz.sh [options] [target...]     targets: merge_patch capture credentials http
#                                             (default: every target that was built)
#   -t, --time SECONDS    run time per target (default 20)
#   -B, --build-dir DIR   build directory (default build-presets/fuzz)
#   --no-build            use the targets already built in DIR
#   --update-corpus       merge what the run found into fuzz/corpus/<target> (minimized)
#
# Prints, per target, the executions, executions per second, coverage (edges, features)
# and peak RSS from libFuzzer's final stats. Exits non-zero when any target crashed,
# leaked, tripped a sanitizer or an invariant (FUZZ_CHECK), or did not run; the input is
# then saved under DIR/fuzz-artifacts/<target>-* and the log next to it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TIME=20
BUILD_DIR=$ROOT/build-presets/fuzz
BUILD=1
UPDATE=0
TARGETS=()

while [[ $# -gt 0 ]]; do
    case $1 in
        -t|--time) TIME=$2; shift 2 ;;
        -B|--build-dir) BUILD_DIR=$(realpath -m "$2"); shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --update-corpus) UPDATE=1; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) TARGETS+=("$1"); shift ;;
    esac
done
[[ $TIME =~ ^[0-9]+$ && $TIME -gt 0 ]] || { echo "fuzz.sh: --time needs a positive integer" >&2; exit 2; }

if [[ $BUILD -eq 1 ]]; then
    cmake --preset fuzz -S "$ROOT" -B "$BUILD_DIR" >/dev/null
    cmake --build "$BUILD_DIR" -j"${JOBS:-2}" --target chatbotmgr_fuzzers
fi

if [[ ${#TARGETS[@]} -eq 0 ]]; then
    for exe in "$BUILD_DIR"/fuzz/fuzz_*; do
        [[ -x $exe ]] && TARGETS+=("$(basename "$exe" | sed 's/^fuzz_//')")
    done
fi
[[ ${#TARGETS[@]} -gt 0 ]] || { echo "fuzz.sh: no fuzz targets in $BUILD_DIR/fuzz" >&2; exit 1; }

ARTIFACTS=$BUILD_DIR/fuzz-artifacts
mkdir -p "$ARTIFACTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/chatbotmgr-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Any sanitizer report must end the run with a crash that libFuzzer reports.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

stat() {  # stat <name> <log>: a "stat::<name>: value" line of libFuzzer's final stats
    sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

failed=()
summary=$(printf '%-12s %10s %9s %7s %8s %8s  %s\n' target executions "exec/s" cov ft "rss MB" result)
for target in "${TARGETS[@]}"; do
    exe=$BUILD_DIR/fuzz/fuzz_$target
    seeds=$ROOT/fuzz/corpus/$target
    log=$ARTIFACTS/$target.log
    [[ -x $exe ]] || { echo "fuzz.sh: $exe not built" >&2; failed+=("$target"); continue; }
    mkdir -p "$WORK/$target"
    corpora=("$WORK/$target")
    [[ -d $seeds ]] && corpora+=("$seeds")
    rm -f "$ARTIFACTS/$target"-crash-* "$ARTIFACTS/$target"-leak-* "$ARTIFACTS/$target"-timeout-* \
        "$ARTIFACTS/$target"-oom-*
    echo "fuzz.sh: $target for ${TIME}s" >&2
    rc=0
    # A hard stop well past max_total_time catches a hung target.
    timeout --signal=KILL $((TIME * 3 + 60)) "$exe" \
        -max_total_time="$TIME" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=2048 -artifact_prefix="$ARTIFACTS/$target-" \
        "${corpora[@]}" >"$log" 2>&1 || rc=$?

    execs=$(stat number_of_executed_units "$log")
    eps=$(stat average_exec_per_sec "$log")
    rss=$(stat peak_rss_mb "$log")
    last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
    result=ok
    if [[ $rc -ne 0 ]] || [[ -z $execs ]] ||
        grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|FUZZ_CHECK failed|SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|libFuzzer)' "$log"; then
        result="FAILED (exit $rc; see $log)"
        failed+=("$target")
        grep -E 'FUZZ_CHECK failed|ERROR:|runtime error:|SUMMARY:|Test unit written' "$log" | head -n 8 >&2 || true
    fi
    summary+=$'\n'$(printf '%-12s %10s %9s %7s %8s %8s  %s' "$target" "${execs:-?}" "${eps:-?}" \
        "${cov:-?}" "${ft:-?}" "${rss:-?}" "$result")

    if [[ $UPDATE -eq 1 && $result == ok ]]; then
        mkdir -p "$seeds"
        "$exe" -merge=1 "$seeds" "$WORK/$target" >>"$log" 2>&1
    fi
done

echo "$summary"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: FAILED: ${failed[*]} (inputs: $ARTIFACTS/<target>-crash-*)" >&2
    exit 1
fi
