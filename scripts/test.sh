#!/bin/sh
# test.sh - the one command that runs every test, on a fresh Debian 12
# machine as root: installs what is missing (apt, npm), builds, and runs
#   1. every suite of the normal build (unit, cli, fuzz, sms, sms-gateway
#      with gammu-smsd and smstools, integration with a real PostgreSQL +
#      PostGIS, analyst (the analysts' web app on PostgreSQL with a hot
#      standby), worker (the central job queue's workers with a real SMTP
#      server, the operators' pages), browser, cluster),
#   2. the same code under AddressSanitizer + UndefinedBehaviorSanitizer,
#   3. the node cross-built for arm64 with its unit tests under qemu-user.
# It ends with "N passed, N failed" and exits non-zero if anything failed.
# Idempotent: re-running reuses the build directories under build/.
#   SIKHNAS_TEST_STAGES="normal asan cross" (default: all three)
set -u
cd "$(dirname "$0")/.."
stages=${SIKHNAS_TEST_STAGES:-normal asan cross}
failed=""

step() { printf '\n==== %s ====\n' "$*"; }

setup() {   # setup DIR [meson options]: configure once, then ninja keeps it current
    dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        mkdir -p build
        meson setup "$dir" "$@" > "build/setup-$(basename "$dir").log" 2>&1 || {
            tail -n 20 "build/setup-$(basename "$dir").log"
            return 1
        }
    fi
    ninja -C "$dir"
}

step "dependencies"
scripts/deps.sh --cross || { echo "test.sh: installing dependencies failed" >&2; exit 1; }

builds=""
for stage in $stages; do
    case $stage in
    normal)
        step "build and test (all suites)"
        builds="$builds build/test"
        rm -f build/test/meson-logs/testlog.json
        if setup build/test; then
            meson test -C build/test --print-errorlogs --num-processes 2 || failed="$failed normal"
        else
            failed="$failed normal-build"
        fi
        ;;
    asan)
        step "AddressSanitizer + UndefinedBehaviorSanitizer"
        builds="$builds build/asan"
        rm -f build/asan/meson-logs/testlog.json
        export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        # GCC's "undefined" leaves out float-cast-overflow (a double outside
        # the integer it is cast to), which clang's fuzzing builds report
        if setup build/asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug \
            -Dc_args=-fsanitize=float-cast-overflow -Dc_link_args=-fsanitize=float-cast-overflow; then
            meson test -C build/asan --print-errorlogs --num-processes 2 \
                --no-suite cluster --no-suite browser --no-suite bench || failed="$failed asan"
        else
            failed="$failed asan-build"
        fi
        unset ASAN_OPTIONS UBSAN_OPTIONS
        ;;
    cross)
        step "cross-build for arm64, unit tests under qemu-user"
        builds="$builds build/cross-arm64"
        rm -f build/cross-arm64/meson-logs/testlog.json
        cross/test.sh arm64 || failed="$failed cross"
        ;;
    *)
        echo "test.sh: unknown stage '$stage'" >&2
        exit 2
        ;;
    esac
done

step "summary"
# shellcheck disable=SC2086
python3 tools/test-summary.py $builds || failed="$failed summary"
if [ -n "$failed" ]; then
    echo "test.sh: FAILED:$failed"
    exit 1
fi
echo "test.sh: all stages passed"
