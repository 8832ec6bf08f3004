#!/bin/sh
# valgrind.sh — one valgrind memcheck pass of the CLI on real data: queries
# from a compiled atlas (the light binary alone), the same without an atlas
# (the light binary handing over to footprint-geo, which reads the GeoJSON
# with GDAL), a small atlas build, and error paths (bad input, a damaged
# atlas).  Each run must give its usual exit status and valgrind must find
# no error and no definite leak (--error-exitcode, --errors-for-leak-kinds=
# definite); GDAL's and PROJ's own still-reachable memory is not a leak.
# Prints TAP.
#
#   FOOTPRINT=build/footprint BUILD=build FOOTPRINT_TEST_DATA=../shared/geodata \
#       sh tests/valgrind.sh
set -u

FP=${FOOTPRINT:-${BUILD:-build}/footprint}
DATA=${FOOTPRINT_TEST_DATA:-}
here=$(cd "$(dirname "$0")" && pwd)
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

if [ -n "${FP_SANITIZED_RUN:-}" ]; then
    skip "valgrind" "sanitized binaries (tests/sanitizers.sh) cannot run under valgrind"
    exit 0
fi
if ! command -v valgrind >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then
        no "valgrind is installed (apt-get install valgrind)"
    else
        skip "valgrind" "valgrind is not installed"
    fi
    exit 0
fi
if [ -z "$DATA" ] || [ ! -d "$DATA/boundaries" ]; then
    if [ "${CI:-}" = true ]; then no "the ONS mirror is present under CI"; else
        skip "valgrind" "no ONS mirror"; fi
    exit 0
fi
if [ ! -x "$FP" ]; then
    echo "Bail out! no footprint binary at $FP (make first)"
    exit 1
fi

unset FOOTPRINT_DATA FOOTPRINT_CATALOGUE
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fp-valgrind.XXXXXX") || exit 1
trap 'chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
export XDG_DATA_HOME="$tmp/xdg" HOME="$tmp/home"

# Two data directories linked to the mirror: one with an atlas, one without.
"$here/../geodata/fetch" --mirror "$DATA" --dest "$tmp/data" > /dev/null 2>&1 &&
    "$here/../geodata/fetch" --mirror "$DATA" --dest "$tmp/bare" > /dev/null 2>&1 ||
    { no "data directories from the mirror"; exit 0; }
editions="--edition nhser2024 --edition icb2023 --edition sicbl2023 --edition lad2024 --edition stp2017"
# The atlas the queries use is built without valgrind (quick); one small
# build under valgrind follows.
if ! "$FP" --data "$tmp/data" build $editions > "$tmp/build.log" 2>&1; then
    no "footprint build (no valgrind): $(tail -1 "$tmp/build.log")"
    exit 0
fi

# 42: an exit status the CLI never uses, so a valgrind finding cannot pass
# for an expected "no match" (1) or data error (3).
VG="valgrind -q --tool=memcheck --error-exitcode=42 --leak-check=full
    --errors-for-leak-kinds=definite --show-leak-kinds=definite --trace-children=yes
    --track-origins=yes --num-callers=30"

# vg WANT_STATUS NAME ARGS...: runs the CLI under valgrind.
vg() {
    want=$1 name=$2
    shift 2
    $VG --log-file="$tmp/vg.%p" "$FP" "$@" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    report=$(cat "$tmp"/vg.* 2>/dev/null | grep -E '^==[0-9]+== ' | head -20)
    rm -f "$tmp"/vg.*
    if [ "$rc" = "$want" ] && [ -z "$report" ]; then
        ok "valgrind: $name (exit $rc)"
    else
        no "valgrind: $name: exit $rc, want $want"
        printf '%s\n' "$report" | sed 's/^/#   /'
        head -3 "$tmp/err" | sed 's/^/#   stderr: /'
    fi
}

vg 0 "--version" --version
vg 0 "which from the atlas: the chain today" --data "$tmp/data" which --lat 53.381 --lon -1.470
vg 0 "which from the atlas: one edition" --data "$tmp/data" which --lat 53.381 --lon -1.470 --edition icb2023
vg 0 "which from the atlas by easting/northing, 2019" --data "$tmp/data" which --easting 435000 --northing 387000 --date 2019-06-01
vg 1 "which from the atlas: at sea, no match" --data "$tmp/data" which --lat 54.5 --lon 1.5 --edition icb2023
vg 0 "timeline from the atlas" --data "$tmp/data" timeline --lat 53.30 --lon -1.12
vg 0 "list from the atlas" --data "$tmp/data" list --edition sicbl2023
vg 2 "which with a latitude out of range" --data "$tmp/data" which --lat 95 --lon -1.47
vg 0 "which without an atlas (footprint-geo, GDAL)" --data "$tmp/bare" which --lat 53.381 --lon -1.470 --edition stp2017
vg 0 "build one edition (GDAL, index, atlas writer)" --data "$tmp/bare" build --edition stp2017 --out "$tmp/one.atlas"
# A damaged atlas: a byte of its section table flipped, refused on open.
mkdir -p "$tmp/damaged"
for f in "$tmp"/data/*; do ln -s "$f" "$tmp/damaged/$(basename "$f")"; done
rm -f "$tmp/damaged/footprint.atlas"
cp "$tmp/data/footprint.atlas" "$tmp/damaged/footprint.atlas"
printf '\377' | dd of="$tmp/damaged/footprint.atlas" bs=1 seek=70 conv=notrunc 2>/dev/null
vg 3 "which from a damaged atlas: data error" --data "$tmp/damaged" which --lat 53.381 --lon -1.470
