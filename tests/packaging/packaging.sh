#!/usr/bin/env bash
# Packaging tests: what a host project sees of chatbotmgr. Called by ctest (see
# CMakeLists.txt next to this file) as
#
#   packaging.sh <step>
#
# with the environment: SRC (source tree), WORK (scratch dir, kept between runs so that
# rebuilds are incremental), CMAKE, CXX_COMPILER, GENERATOR, PYTHON, JOBS and, for
# install-tree, BUILD_DIR and EXPECT_SERVER.
#
# Steps:
#   install           fresh Release build of the libraries (no tests, no examples) and
#                     `cmake --install` into $WORK/prefix; checks what was installed
#   install-tree      `cmake --install` of the developer's own build tree into a temp prefix
#   embed             examples/embed against $WORK/prefix with find_package; runs it
#   find-package-kit  chatbotmgr::testing from the install: TinyStore under the conformance
#                     suite, plus every component linked and run
#   pkg-config        a program built with `pkg-config --cflags --libs chatbotmgr` only
#   readme            the README's examples as printed: the embedding program and the
#                     one serving the HTTP API (built and run), the mounting fragment
#                     (compiled inside readme_mount_host.cpp), and the storage adapter's
#                     conformance test with the testing kit's CMake snippet (built and run)
#   add-subdirectory  a host that add_subdirectory()s the source tree
#   fetchcontent      a host that gets it through FetchContent
#   postgres-option   CHATBOTMGR_BUILD_POSTGRES without libpq: the default (AUTO) skips the
#                     adapter with a note, ON fails and names libpq-dev
set -euo pipefail

step=${1:?step}
: "${SRC:?}" "${WORK:?}" "${CMAKE:?}" "${CXX_COMPILER:?}" "${GENERATOR:?}" "${JOBS:=2}"
PREFIX=$WORK/prefix

fail() { echo "FAIL: $*" >&2; exit 1; }

configure() {  # configure <source> <build> [cmake args...]
    local source=$1 build=$2
    shift 2
    "$CMAKE" -S "$source" -B "$build" -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CXX_COMPILER="$CXX_COMPILER" "$@"
}

build() {  # build <build dir> [targets...]
    local dir=$1
    shift
    if [ $# -gt 0 ]; then
        "$CMAKE" --build "$dir" -j "$JOBS" --target "$@"
    else
        "$CMAKE" --build "$dir" -j "$JOBS"
    fi
}

need_prefix() {
    [ -f "$PREFIX/lib/cmake/chatbotmgr/chatbotmgrConfig.cmake" ] ||
        [ -f "$PREFIX/lib64/cmake/chatbotmgr/chatbotmgrConfig.cmake" ] ||
        fail "no install in $PREFIX (the install step runs first)"
}

case $step in
install)
    rm -rf "$PREFIX"
    configure "$SRC" "$WORK/stage-build" \
        -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib \
        -DCHATBOTMGR_BUILD_TESTS=OFF -DCHATBOTMGR_BUILD_EXAMPLES=OFF \
        -DCHATBOTMGR_BUILD_TESTING_KIT=ON -DCHATBOTMGR_BUILD_BENCH=OFF \
        -DCHATBOTMGR_BUILD_FUZZ=OFF -DCHATBOTMGR_INSTALL=ON
    build "$WORK/stage-build"
    "$CMAKE" --install "$WORK/stage-build"
    for f in include/chatbotmgr/registry.hpp include/chatbotmgr/storage.hpp \
        include/chatbotmgr/sqlite/sqlite_store.hpp include/chatbotmgr/beast/api.hpp \
        include/chatbotmgr/testing/conformance.hpp include/chatbotmgr/dashboard/dashboard.hpp \
        lib/libchatbotmgr.a lib/libchatbotmgr_sqlite.a lib/libchatbotmgr_beast.a \
        lib/libchatbotmgr_dashboard.a lib/cmake/chatbotmgr/chatbotmgr-dashboard-targets.cmake \
        lib/libchatbotmgr_testing.a \
        lib/cmake/chatbotmgr/chatbotmgrConfig.cmake \
        lib/cmake/chatbotmgr/chatbotmgrConfigVersion.cmake \
        lib/cmake/chatbotmgr/chatbotmgrTargets.cmake \
        lib/cmake/chatbotmgr/chatbotmgr-sqlite-targets.cmake \
        lib/cmake/chatbotmgr/chatbotmgr-beast-targets.cmake \
        lib/cmake/chatbotmgr/chatbotmgr-testing-targets.cmake \
        lib/pkgconfig/chatbotmgr.pc; do
        [ -f "$PREFIX/$f" ] || fail "not installed: $f"
    done
    # Only headers, libraries and package files: no test programs, no private headers.
    unexpected=$(cd "$PREFIX" && find . -type f ! -path './include/chatbotmgr/*.hpp' \
        ! -path './lib/libchatbotmgr*.a' ! -path './lib/cmake/chatbotmgr/*.cmake' \
        ! -path './lib/pkgconfig/chatbotmgr.pc')
    [ -z "$unexpected" ] || fail "unexpected files installed: $unexpected"
    if find "$PREFIX/include" -path '*/src/*' | grep -q .; then fail "private headers installed"; fi
    echo "installed into $PREFIX: $(cd "$PREFIX" && find . -type f | wc -l) files"
    ;;

install-tree)
    : "${BUILD_DIR:?}" "${EXPECT_SERVER:?}"
    tree_prefix=$WORK/tree-prefix
    rm -rf "$tree_prefix"
    "$CMAKE" --install "$BUILD_DIR" --prefix "$tree_prefix" >/dev/null
    [ -f "$tree_prefix/lib/cmake/chatbotmgr/chatbotmgrConfig.cmake" ] ||
        [ -f "$tree_prefix/lib64/cmake/chatbotmgr/chatbotmgrConfig.cmake" ] ||
        [ -n "$(find "$tree_prefix" -name chatbotmgrConfig.cmake)" ] ||
        fail "no package config installed"
    if [ "$EXPECT_SERVER" = 1 ]; then
        [ -x "$tree_prefix/bin/chatbotmgr-server" ] || fail "chatbotmgr-server not installed"
        "$tree_prefix/bin/chatbotmgr-server" --help >/dev/null || fail "installed server --help"
    fi
    # The server is the only program installed; tests, benchmarks and fuzzers are not.
    others=$(find "$tree_prefix" -type f -perm -u+x ! -name chatbotmgr-server ! -name '*.so*')
    [ -z "$others" ] || fail "programs other than the server installed: $others"
    echo "build tree installs cleanly into $tree_prefix"
    ;;

embed)
    need_prefix
    configure "$SRC/examples/embed" "$WORK/embed-build" -DCMAKE_PREFIX_PATH="$PREFIX"
    build "$WORK/embed-build"
    "${PYTHON:?}" "$SRC/tests/packaging/embed_smoke.py" "$WORK/embed-build/embed_host" \
        "$WORK/embed-run"
    ;;

find-package-kit)
    need_prefix
    configure "$SRC/tests/packaging/find_package_consumer" "$WORK/kit-build" \
        -DCMAKE_PREFIX_PATH="$PREFIX"
    build "$WORK/kit-build"
    # Catch2 v2 exits with the number of tests listed.
    "$WORK/kit-build/tiny_store_tests" --list-test-names-only >"$WORK/kit-tests.txt" || true
    cases=$(grep -c '^tiny: ' "$WORK/kit-tests.txt" || true)
    [ "$cases" -ge 20 ] || fail "only $cases conformance cases registered for TinyStore"
    "$WORK/kit-build/tiny_store_tests"
    mkdir -p "$WORK/kit-run"
    "$WORK/kit-build/link_check" "$WORK/kit-run"
    ;;

pkg-config)
    need_prefix
    command -v pkg-config >/dev/null || fail "pkg-config is not installed"
    export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
    [ "$(pkg-config --modversion chatbotmgr)" = "$(sed -n 's/^Version: //p' "$PREFIX/lib/pkgconfig/chatbotmgr.pc")" ]
    flags=$(pkg-config --cflags --libs chatbotmgr)
    echo "pkg-config --cflags --libs chatbotmgr: $flags"
    mkdir -p "$WORK/pkg-config"
    # shellcheck disable=SC2086 # the flags are meant to split
    "$CXX_COMPILER" -std=c++20 "$SRC/tests/packaging/pkg_config_consumer.cpp" $flags \
        -o "$WORK/pkg-config/consumer"
    "$WORK/pkg-config/consumer"
    ;;

readme)
    need_prefix
    dir=$WORK/readme
    rm -rf "$dir/src"
    mkdir -p "$dir/src" "$dir/run"
    # extract <heading> <lang>: the first ```<lang> block after the line <heading>, before
    # the next heading of any level.
    extract() {
        awk -v heading="$1" -v lang="$2" '$0 == heading { s = 1; next }
             s && !c && /^#+ / { exit }
             s && $0 == "```" lang { c = 1; next }
             c && /^```/ { exit }
             c { print }' "$SRC/README.md"
    }
    extract "## Embedding the library" cpp >"$dir/src/snippet.cpp"
    extract "## Embedding the library" cmake >"$dir/src/snippet.cmake"
    extract "### Serving the HTTP API without a server of your own" cpp >"$dir/src/serve_api.cpp"
    extract "### Mounting the HTTP API in your own server" cpp >"$dir/src/mount_fragment.inc"
    extract "### Mounting the dashboard in a host" cpp >"$dir/src/dashboard_fragment.inc"
    for f in snippet.cpp snippet.cmake serve_api.cpp mount_fragment.inc dashboard_fragment.inc; do
        [ -s "$dir/src/$f" ] || fail "README.md: no code block for $f where packaging.sh looks"
    done
    cp "$SRC/tests/packaging/readme_mount_host.cpp" "$SRC/tests/packaging/readme_dashboard_host.cpp" \
        "$dir/src/"
    {
        echo 'cmake_minimum_required(VERSION 3.25)'
        echo 'project(readme_snippet LANGUAGES CXX)'
        echo 'add_executable(my_service snippet.cpp)'
        cat "$dir/src/snippet.cmake"
        echo 'add_executable(serve_api serve_api.cpp)'
        echo 'target_link_libraries(serve_api PRIVATE chatbotmgr::beast chatbotmgr::sqlite)'
        echo 'add_executable(mount_host readme_mount_host.cpp)'
        echo 'target_include_directories(mount_host PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})'
        echo 'target_link_libraries(mount_host PRIVATE chatbotmgr::beast)'
        echo 'add_executable(dashboard_host readme_dashboard_host.cpp)'
        echo 'target_include_directories(dashboard_host PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})'
        echo 'target_link_libraries(dashboard_host PRIVATE chatbotmgr::dashboard)'
    } >"$dir/src/CMakeLists.txt"
    configure "$dir/src" "$dir/build" -DCMAKE_PREFIX_PATH="$PREFIX"
    build "$dir/build"
    rm -f "$dir/run"/bots.db*
    (cd "$dir/run" && "$dir/build/my_service") | tee "$dir/output.txt"
    grep -q 'ob_live_' "$dir/output.txt" || fail "the snippet printed no key"
    grep -q '{"lang":"en","theme":{"color":"blue"}}' "$dir/output.txt" ||
        fail "the snippet printed other settings"
    grep -q '^rejected$' "$dir/output.txt" || fail "the old key was not rejected"
    grep -q '^invalid_argument: name' "$dir/output.txt" || fail "the blank name was accepted"
    "$dir/build/mount_host"
    "$dir/build/dashboard_host" || fail "the README's dashboard fragment did not answer /"
    # The serving example: up on a free port, answers, stops cleanly on SIGTERM.
    rm -f "$dir/run"/bots.db*
    (cd "$dir/run" && "${PYTHON:?}" - "$dir/build/serve_api" <<'PY'
import http.client, json, signal, subprocess, sys
proc = subprocess.Popen([sys.argv[1]], stdout=subprocess.PIPE, text=True)
try:
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on http://127.0.0.1:"), line
    conn = http.client.HTTPConnection("127.0.0.1", int(line.rsplit(":", 1)[1]), timeout=10)
    conn.request("POST", "/api/v1/chatbots", json.dumps({"name": "From the README"}),
                 {"Content-Type": "application/json", "X-Gateway-Org": "org-1"})
    res = conn.getresponse()
    body = json.loads(res.read())
    assert res.status == 200 and body["apiKey"].startswith("ob_live_"), (res.status, body)
    conn.request("GET", "/api/v1/chatbots")
    res = conn.getresponse()
    assert res.status == 401, res.status
    res.read()
    conn.close()
finally:
    proc.send_signal(signal.SIGTERM)
code = proc.wait(timeout=30)
assert code == 0, "exit status %s after SIGTERM" % code
print("serve_api: created a chatbot over HTTP, stopped on SIGTERM")
PY
    ) || fail "the README's serving example did not serve or did not stop cleanly"

    # The storage adapter snippet (the conformance suite over a store), built with the
    # testing kit's CMake snippet and run.
    kit=$dir/kit
    rm -rf "$kit/src"
    mkdir -p "$kit/src"
    extract "## Writing a storage adapter" cpp >"$kit/src/my_tests.cpp"
    extract "## Testing with chatbotmgr::testing" cmake >"$kit/src/snippet.cmake"
    [ -s "$kit/src/my_tests.cpp" ] || fail "no C++ snippet after '## Writing a storage adapter'"
    [ -s "$kit/src/snippet.cmake" ] || fail "no CMake snippet after '## Testing with chatbotmgr::testing'"
    printf '#define CATCH_CONFIG_MAIN\n#include <catch2/catch.hpp>\n' >"$kit/src/catch_main.cpp"
    {
        echo 'cmake_minimum_required(VERSION 3.25)'
        echo 'project(readme_kit_snippet LANGUAGES CXX)'
        echo 'enable_testing()'
        cat "$kit/src/snippet.cmake"
    } >"$kit/src/CMakeLists.txt"
    configure "$kit/src" "$kit/build" -DCMAKE_PREFIX_PATH="$PREFIX"
    build "$kit/build"
    # Catch2 v2 exits with the number of tests listed.
    "$kit/build/my_tests" --list-test-names-only >"$kit/tests.txt" || true
    cases=$(grep -c '^mystore: ' "$kit/tests.txt" || true)
    [ "$cases" -ge 20 ] || fail "only $cases conformance cases registered by the README snippet"
    "$kit/build/my_tests"
    ;;

add-subdirectory)
    configure "$SRC/tests/packaging/add_subdirectory_consumer" "$WORK/subdir-build" \
        -DCHATBOTMGR_SOURCE_DIR="$SRC"
    build "$WORK/subdir-build" consumer
    "$WORK/subdir-build/consumer"
    ;;

fetchcontent)
    configure "$SRC/tests/packaging/add_subdirectory_consumer" "$WORK/fetch-build" \
        -DCONSUMER_USE_FETCHCONTENT=ON -DFETCHCONTENT_SOURCE_DIR_CHATBOTMGR="$SRC" \
        -DFETCHCONTENT_FULLY_DISCONNECTED=ON
    build "$WORK/fetch-build" consumer
    "$WORK/fetch-build/consumer"
    ;;

postgres-option)
    # libpq hidden from both of the adapter's ways to find it: CMake's FindPostgreSQL and
    # pkg-config (whose search path then holds libsodium only, which the core needs).
    command -v pkg-config >/dev/null || fail "pkg-config is not installed"
    dir=$WORK/no-libpq
    rm -rf "$dir"
    mkdir -p "$dir/pkgconfig"
    ln -s "$(pkg-config --variable=pcfiledir libsodium)/libsodium.pc" "$dir/pkgconfig/"
    without_libpq() {  # without_libpq <build dir> [cmake args...]
        local build=$1
        shift
        env -u PKG_CONFIG_PATH PKG_CONFIG_LIBDIR="$dir/pkgconfig" \
            "$CMAKE" -S "$SRC" -B "$build" -G "$GENERATOR" -DCMAKE_CXX_COMPILER="$CXX_COMPILER" \
            -DCMAKE_DISABLE_FIND_PACKAGE_PostgreSQL=ON -DCHATBOTMGR_BUILD_TESTS=OFF \
            -DCHATBOTMGR_BUILD_EXAMPLES=OFF -DCHATBOTMGR_BUILD_TESTING_KIT=OFF \
            -DCHATBOTMGR_INSTALL=OFF "$@"
    }
    without_libpq "$dir/default" >"$dir/default.log" 2>&1 ||
        { cat "$dir/default.log"; fail "the default configuration failed without libpq"; }
    grep -q 'libpq not found; skipping the PostgreSQL adapter' "$dir/default.log" ||
        { cat "$dir/default.log"; fail "the default configuration did not say it skipped the adapter"; }
    if without_libpq "$dir/on" -DCHATBOTMGR_BUILD_POSTGRES=ON >"$dir/on.log" 2>&1; then
        fail "CHATBOTMGR_BUILD_POSTGRES=ON configured without libpq"
    fi
    grep -q 'libpq-dev' "$dir/on.log" || { cat "$dir/on.log"; fail "the failure does not name libpq-dev"; }
    echo "without libpq: the default skips the adapter; CHATBOTMGR_BUILD_POSTGRES=ON fails:"
    sed -n '/CMake Error/,/^$/p' "$dir/on.log"
    ;;

*)
    fail "unknown step $step"
    ;;
esac
