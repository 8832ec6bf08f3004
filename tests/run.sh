#!/bin/sh
# run.sh BUILD SHARED_GEODATA: runs every test and closes with one line
# "N passed, N failed, N skipped".
set -u
build=$1
export FOOTPRINT_TEST_DATA="$2"
export CMOCKA_MESSAGE_OUTPUT=TAP
pass=0 fail=0 skipped=0 failed_names=
if [ ! -d "$FOOTPRINT_TEST_DATA/boundaries" ]; then
    if [ "${CI:-}" = true ]; then
        echo "tests: the ONS mirror $FOOTPRINT_TEST_DATA is missing" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
    echo "tests: no ONS mirror at $FOOTPRINT_TEST_DATA: real-data tests are skipped" >&2
fi
tally() { # name, TAP output file, exit status
    # cmocka reports a skipped test as "not ok N - name # SKIP".
    s=$(grep -cE '^(not )?ok .*# SKIP' "$2" | tr -d ' ')
    p=$(grep '^ok ' "$2" | grep -vc '# SKIP' | tr -d ' ')
    f=$(grep '^not ok ' "$2" | grep -vc '# SKIP' | tr -d ' ')
    if [ "$3" != 0 ] && [ "$f" = 0 ]; then f=1; fi  # crashed mid-way
    pass=$((pass + p)) skipped=$((skipped + s)) fail=$((fail + f))
    if [ "$f" != 0 ]; then failed_names="$failed_names $1"; fi
}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    "$t" > "$out" 2>&1
    st=$?
    grep -E '^(not ok|# |Bail)' "$out" | sed "s/^/$name: /"
    tally "$name" "$out" "$st"
    printf '%-24s %s\n' "$name" "$(grep -c '^ok ' "$out") ok, $(grep -c '^not ok ' "$out") not ok" >&2
done
for t in tests/*.sh; do
    case $t in tests/run.sh) continue ;; esac
    name=$(basename "$t" .sh)
    FOOTPRINT="$build/footprint" BUILD="$build" sh "$t" > "$out" 2>&1
    st=$?
    grep -E '^(not ok|# |Bail)' "$out" | sed "s/^/$name: /"
    tally "$name" "$out" "$st"
    printf '%-24s %s\n' "$name" "$(grep -c '^ok ' "$out") ok, $(grep -c '^not ok ' "$out") not ok" >&2
done
[ -z "$failed_names" ] || echo "failed:$failed_names" >&2
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" = 0 ]
