#!/bin/sh
# The whole suite again under AddressSanitizer (with LeakSanitizer) and
# UndefinedBehaviorSanitizer: the library, CLI and tests built in their
# own directory ($BUILD/asan), every test binary run there, then the CLI
# shell tests against the sanitized CLI.  One TAP line per binary/script;
# a sanitizer report anywhere (even from a run whose exit status a script
# expected, such as exit 1 for "no match") makes that line fail.
#
# FP_SANITIZERS=0 skips it; FP_SANITIZE_SKIP="name ..." skips more
# binaries or scripts (e.g. while bisecting).
set -u
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

# Not inside itself (its shell tests run with this set), nor when told.
if [ -n "${FP_SANITIZED_RUN:-}" ] || [ "${FP_SANITIZERS:-1}" = 0 ]; then
    skip "sanitizers" "nested or disabled run"
    exit 0
fi
build=${BUILD:-build}
asan=$build/asan
data=${FOOTPRINT_TEST_DATA:-../shared/geodata}
mkdir -p "$asan"
asan=$(cd "$asan" && pwd)
reports=$asan/reports
rm -rf "$reports" "$asan/findings"
mkdir -p "$reports"
log=$asan/build.log

# -O1 keeps it quick; recovery off so the first finding stops the run
# (and the test fails); frame pointers for readable stacks.
san='-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer'
if make --no-print-directory -j2 BUILD="$asan" OPTIMIZATION="-O1 $san" \
        LDFLAGS='-fsanitize=address,undefined' all tests > "$log" 2>&1; then
    ok "sanitizer build in $asan"
else
    no "sanitizer build in $asan"
    grep -E 'error|Error' "$log" | head -5 | sed 's/^/#   /'
    exit 1
fi

# Reports go to files (one per process), so that output a test compares
# is untouched and no finding goes unseen whatever the exit status.
supp=$(pwd)/tests/lsan.supp
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86:log_path=$reports/asan:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
export FP_SANITIZED_RUN=1
# LeakSanitizer cannot work in a process under ptrace, and says so as a
# fatal error (exit 86): scripts that trace the CLI (cli_atlas.sh proves
# with strace that a query opens only the atlas) get an strace that turns
# leak checking off for what it traces; AddressSanitizer's own checks stay.
if real_strace=$(command -v strace 2>/dev/null); then
    mkdir -p "$asan/shim"
    printf '#!/bin/sh\nASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" exec %s "$@"\n' \
        "$real_strace" > "$asan/shim/strace"
    chmod +x "$asan/shim/strace"
    PATH=$asan/shim:$PATH
fi

skipped() {
    for s in ${FP_SANITIZE_SKIP:-}; do [ "$s" = "$1" ] && return 0; done
    return 1
}

# found NAME: reports written since the last call, shown and cleared.
# A process run under strace (cli_atlas.sh proves with it that a query
# reads only the atlas) cannot have its leaks checked: LeakSanitizer's
# "does not work under ptrace" notice is no finding, and is dropped
# (AddressSanitizer's own checks still ran in that process).
found() {
    for r in "$reports"/*; do
        [ -f "$r" ] || continue
        if grep -q 'LeakSanitizer does not work under ptrace' "$r" &&
           ! grep -vqE 'LeakSanitizer has encountered a fatal error|HINT:' "$r"; then
            rm -f "$r"
        fi
    done
    if ls "$reports"/* >/dev/null 2>&1; then
        for r in "$reports"/*; do
            grep -E 'ERROR|SUMMARY|runtime error|#[0-9] ' "$r" | head -12 | sed "s|^|#   $1: |"
        done
        mkdir -p "$asan/findings"
        for r in "$reports"/*; do mv "$r" "$asan/findings/$1.$(basename "$r")"; done
        return 0
    fi
    return 1
}

out=$asan/out
# check NAME CMD...: runs CMD (TAP on stdout), one line for it.
check() {
    name=$1
    shift
    "$@" > "$out" 2>&1
    st=$?
    bad=$(grep -c '^not ok' "$out" | tr -d ' ')
    if found "$name"; then
        no "asan $name: sanitizer report (kept in $asan/findings)"
    elif [ "$st" != 0 ] || [ "$bad" != 0 ]; then
        no "asan $name: exit $st, $bad failing"
        grep '^not ok' "$out" | head -5 | sed 's/^/#   /'
    else
        ok "asan $name ($(grep -c '^ok' "$out" | tr -d ' ') ok)"
    fi
}

for t in "$asan"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if skipped "$name"; then skip "asan $name" "FP_SANITIZE_SKIP"; continue; fi
    check "$name" env CMOCKA_MESSAGE_OUTPUT=TAP "$t"
done

for s in tests/*.sh; do
    name=$(basename "$s" .sh)
    case $name in
    run | sanitizers) continue ;;
    valgrind) skip "asan $name" "valgrind cannot run sanitized binaries"; continue ;;
    install) skip "asan $name" "builds and installs its own unsanitized tree"; continue ;;
    browser) skip "asan $name" "drives headless Chromium (its timing, not footprint's memory)"; continue ;;
    esac
    if skipped "$name"; then skip "asan $name" "FP_SANITIZE_SKIP"; continue; fi
    check "$name" env FOOTPRINT="$asan/footprint" BUILD="$asan" \
        FOOTPRINT_TEST_DATA="$data" sh "$s"
done
rm -f "$out"
