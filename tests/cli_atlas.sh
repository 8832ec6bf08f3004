#!/bin/sh
# cli_atlas.sh — the footprint command line with a compiled atlas: building
# it (footprint build), answering from it without GDAL or a boundary file,
# --atlas, staleness, damaged atlases, build errors.  Prints TAP.
#
#   FOOTPRINT=build/footprint BUILD=build FOOTPRINT_TEST_DATA=../shared/geodata \
#       sh tests/cli_atlas.sh
#
# Checks that need the ONS mirror ($FOOTPRINT_TEST_DATA/boundaries) are
# skipped without it, or fail under CI=true; the rest use a tiny hand-made
# edition.  The proof that a query reads only the atlas uses strace, and is
# skipped without it.
set -u

here=$(cd "$(dirname "$0")" && pwd)
fetch=$here/../geodata/fetch
. "$here/tap.shlib"
tap_cli fp-cli-atlas
tap_strace

# ---- helpers (the rest in tap.shlib) -----------------------------------------

# traced CMD...: runs CMD under strace (files opened, programs run) into
# $tmp/trace, stdout/stderr/status as run.
traced() {
    strace -f -qq -e trace=openat,open,execve -o "$tmp/trace" "$@" > "$out" 2> "$err"
    rc=$?
    why=
}
# The trace shows no boundary file read and (unless $1 = geo) no
# footprint-geo started, and the atlas $2 opened.
want_trace_atlas_only() {
    grep -E '\.(geojson|gpkg|shp|fgb)' "$tmp/trace" > /dev/null &&
        fail "a boundary file was opened: $(grep -E '\.(geojson|gpkg|shp|fgb)' "$tmp/trace" | head -1)"
    if [ "$1" = geo ]; then
        grep -q 'execve(.*footprint-geo' "$tmp/trace" || fail "footprint-geo was not run"
    else
        grep -q 'execve(.*footprint-geo' "$tmp/trace" && fail "footprint-geo was run"
    fi
    grep -Fq "$2\"" "$tmp/trace" || fail "the atlas $2 was not opened"
    grep -Eq 'libgdal|libproj' "$tmp/trace" && [ "$1" != geo ] &&
        fail "GDAL or PROJ was loaded"
    :
}

# ---- a tiny hand-made edition (no mirror needed) -----------------------------

syn=$tmp/syn
mkdir -p "$syn/boundaries"
cat > "$syn/boundaries/syn1.geojson" <<'EOF'
{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"SYN1CD":"A1","SYN1NM":"Alpha"},"geometry":{"type":"Polygon","coordinates":[[[0,50],[1,50],[1,51],[0,51],[0,50]]]}},
{"type":"Feature","properties":{"SYN1CD":"B2","SYN1NM":"Beta"},"geometry":{"type":"Polygon","coordinates":[[[1,50],[2,50],[2,51],[1,51],[1,50]]]}}
]}
EOF
cat > "$tmp/syn.csv" <<'EOF'
id,level,name,valid_from,valid_to,path,layer,code_field,name_field,vintage,attribution
syn1,icb,Synthetic One,2020-01-01,,boundaries/syn1.geojson,,SYN1CD,SYN1NM,2020,Source: a test
EOF

run "$FP" build --help
want_rc 0
want_out_re '^Usage: footprint build'
want_out_re '--out FILE'
want_err_empty
done_ "build --help: usage on stdout, exit 0"

run "$FP" help build
cp "$out" "$tmp/help.out"
run "$FP" build --help
cmp -s "$out" "$tmp/help.out" || fail "'help build' differs from 'build --help'"
done_ "help build: the same text as build --help"

run "$FP" --data "$syn" build --catalogue "$tmp/syn.csv" --edition syn1 --edition syn1 \
    --out "$tmp/dup.atlas"
want_rc 0
want_err_re "^footprint: built $tmp/dup.atlas: 1 editions?,"
done_ "build --edition X --edition X: one edition built, and the message says one"

run "$FP" --data "$syn" build --catalogue "$tmp/syn.csv"
want_rc 0
want_out_empty
want_err_re "^footprint: built $syn/footprint.atlas: 1 edition"
[ -s "$syn/footprint.atlas" ] || fail "no $syn/footprint.atlas"
want_no_tmp "$syn"
done_ "build (hand-made catalogue, every edition): writes DATA/footprint.atlas, says so"

run "$FP" --data "$syn" which --catalogue "$tmp/syn.csv" --edition syn1 --lat 50.5 --lon 1.0
want_rc 0
want_out "B2${tab}Beta"
want_err_empty
done_ "which on the hand-made atlas: a shared edge goes east"

run "$FP" --data "$syn" which --catalogue "$tmp/syn.csv" --edition syn1 --lat 50.5 --lon 0.5 \
    --json
want_rc 0
want_out_re '"code":"A1"'
want_out_re '"attribution":"Source: a test"'
done_ "which --json on the hand-made atlas: code and attribution"

run "$FP" --data "$syn" which --catalogue "$tmp/syn.csv" --edition syn1 --lat 52.5 --lon 0.5
want_rc 1
want_out_empty
want_err_re '^footprint: '
done_ "which outside every footprint of the atlas: exit 1"

# The query's catalogue is not the atlas's: stale, never silently used.
run "$FP" --data "$syn" which --lat 50.5 --lon 0.5
want_data_error "$syn/footprint.atlas" 'stale'
done_ "which with another catalogue than the atlas's: exit 3 'stale'"

cp "$syn/footprint.atlas" "$tmp/syn-before.atlas"
run "$FP" --data "$syn" build --catalogue "$tmp/syn.csv" --edition nope
want_rc 2
want_out_empty
want_err_re "^footprint: .*'nope'"
cmp -s "$syn/footprint.atlas" "$tmp/syn-before.atlas" || fail "the atlas changed"
want_no_tmp "$syn"
done_ "build --edition nope: exit 2, atlas untouched"

run "$FP" --data "$syn" build --catalogue "$tmp/syn.csv" --out "$tmp/nodir/x.atlas"
want_data_error "$tmp/nodir/x.atlas"
[ ! -e "$tmp/nodir" ] || fail "$tmp/nodir was created"
done_ "build --out in a missing directory: exit 3 naming it"

: > "$tmp/plain"
run "$FP" --data "$syn" build --catalogue "$tmp/syn.csv" --out "$tmp/plain/x.atlas"
want_data_error "$tmp/plain/x.atlas"
[ ! -s "$tmp/plain" ] || fail "$tmp/plain was written"
done_ "build --out below a regular file (unwritable, also as root): exit 3"

if [ "$(id -u)" != 0 ]; then
    mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
    run "$FP" --data "$syn" build --catalogue "$tmp/syn.csv" --out "$tmp/ro/x.atlas"
    want_data_error "$tmp/ro/x.atlas"
    [ -z "$(ls -A "$tmp/ro")" ] || fail "something was written into $tmp/ro"
    done_ "build --out in a read-only directory: exit 3, nothing written"
else
    skip "build --out in a read-only directory: exit 3, nothing written" "running as root"
fi

# The disk fills while the atlas is written (a file size limit; SIGXFSZ
# ignored, so write() fails): exit 3, old atlas intact, no temporary left.
(
    trap '' XFSZ
    ulimit -f 64 2>/dev/null || exit 99
    exec "$FP" --data "$syn" build --catalogue "$tmp/syn.csv"
) > "$out" 2> "$err"
rc=$? why=
if [ "$rc" = 99 ]; then
    skip "build that runs out of space: exit 3, old atlas intact" "ulimit -f unsupported"
else
    want_data_error "$syn/footprint.atlas"
    cmp -s "$syn/footprint.atlas" "$tmp/syn-before.atlas" || fail "the old atlas changed"
    want_no_tmp "$syn"
    done_ "build that runs out of space: exit 3, old atlas intact, no temporary"
fi

# ---- real data -----------------------------------------------------------------

D=$tmp/data        # links made by geodata/fetch; the full atlas is built here
P=$DATA            # the mirror has no atlas: footprint-geo reads the GeoJSON
S=$tmp/small.atlas # icb2026, icb2023 and stp2017 only (damage tests)
sheffield="--lat 53.381 --lon -1.470"
expect_icb="E54000061${tab}NHS South Yorkshire Integrated Care Board"
if [ "$have_data" = 1 ]; then
    # What a build reads: the boundary files and the LSOA lookups.
    set --
    for f in "$DATA"/boundaries/* "$DATA"/lookups/lookup_lsoa11_*; do
        set -- "$@" --only "${f#"$DATA"/}"
    done
    "$fetch" --mirror "$DATA" --dest "$D" "$@" > /dev/null 2>&1 ||
        echo "# geodata/fetch --dest $D failed"
    [ -f "$P/footprint.atlas" ] && echo "# the mirror $P holds an atlas: 'as from the GeoJSON' checks are not"
    # One boundary file a real copy, so that its time can change.
    f26=$D/boundaries/icb_2026_bsc.geojson
    rm -f "$f26" && cp "$DATA/boundaries/icb_2026_bsc.geojson" "$f26"
fi

if ! nodata "build (real data, every edition): writes DATA/footprint.atlas, says so"; then
    run "$FP" --data "$D" build
    want_rc 0
    want_out_empty
    want_err_re "^footprint: built $D/footprint.atlas: [0-9]+ editions"
    [ -s "$D/footprint.atlas" ] || fail "no $D/footprint.atlas"
    want_no_tmp "$D"
    done_ "build (real data, every edition): writes DATA/footprint.atlas, says so"
fi

if ! nodata "build --out FILE --edition (three): a second, smaller atlas"; then
    run "$FP" --data "$D" build --edition icb2026 --edition icb2023 --edition stp2017 \
        --out "$S"
    want_rc 0
    want_err_re "^footprint: built $S: 3 editions"
    [ -s "$S" ] || fail "no $S"
    cp "$S" "$tmp/small-good.atlas"
    done_ "build --out FILE --edition (three): a second, smaller atlas"
fi

# The default query (the chain of tiers) from the atlas, as from the files.
if ! nodata "which $sheffield with the atlas: E54000061, as from the GeoJSON"; then
    run "$FP" --data "$P" which $sheffield
    cp "$out" "$tmp/geo.out"
    run "$FP" --data "$D" which $sheffield
    want_rc 0
    want_out_re "E54000061${tab}NHS South Yorkshire Integrated Care Board"
    want_err_empty
    cmp -s "$out" "$tmp/geo.out" ||
        fail "atlas: $(tr '\n\t' '|>' < "$out"); GeoJSON: $(tr '\n\t' '|>' < "$tmp/geo.out")"
    done_ "which $sheffield with the atlas: E54000061, as from the GeoJSON"
fi

if [ "$have_strace" = 0 ]; then
    skip "which reads only the atlas (strace: no boundary file, no footprint-geo)" "no strace"
elif ! nodata "which reads only the atlas (strace: no boundary file, no footprint-geo)"; then
    traced "$FP" --data "$D" which $sheffield
    want_rc 0
    want_out_re "E54000061"
    want_trace_atlas_only light "$D/footprint.atlas"
    done_ "which reads only the atlas (strace: no boundary file, no footprint-geo)"
fi

if ! nodata "which --edition icb2026 with the atlas: code and name"; then
    run "$FP" --data "$D" which --edition icb2026 $sheffield
    want_rc 0
    want_out "$expect_icb"
    want_err_empty
    done_ "which --edition icb2026 with the atlas: code and name"
fi

# One footprint of an edition, atlas against GeoJSON.
for c in "stp2017 51.4545 -2.5879"; do
    set -- $c
    d="which --edition $1 --lat $2 --lon $3 --json: atlas and GeoJSON agree"
    nodata "$d" && continue
    run "$FP" --data "$P" which --edition "$1" --lat "$2" --lon "$3" --json
    cp "$out" "$tmp/geo.out"
    run "$FP" --data "$D" which --edition "$1" --lat "$2" --lon "$3" --json
    want_rc 0
    cmp -s "$out" "$tmp/geo.out" || fail "atlas: $(cat "$out"); GeoJSON: $(cat "$tmp/geo.out")"
    want_out_re '"match":"contained"'
    done_ "$d"
done

if ! nodata "list --edition stp2017: atlas and GeoJSON agree (44 footprints)"; then
    run "$FP" --data "$P" list --edition stp2017
    cp "$out" "$tmp/geo.out"
    run "$FP" --data "$D" list --edition stp2017
    want_rc 0
    cmp -s "$out" "$tmp/geo.out" || fail "the lists differ"
    l=$(wc -l < "$out" | tr -d ' ')
    [ "$l" = 44 ] || fail "$l lines, want 44"
    want_err_re '^44 footprints in stp2017'
    done_ "list --edition stp2017: atlas and GeoJSON agree (44 footprints)"
fi

if ! nodata "which --atlas FILE (data directory empty): answers from FILE"; then
    mkdir -p "$tmp/empty"
    if [ "$have_strace" = 1 ]; then
        traced "$FP" --data "$tmp/empty" which --atlas "$S" --edition icb2026 $sheffield
        want_trace_atlas_only light "$S"
    else
        run "$FP" --data "$tmp/empty" which --atlas "$S" --edition icb2026 $sheffield
    fi
    want_rc 0
    want_out "$expect_icb"
    done_ "which --atlas FILE (data directory empty): answers from FILE"
fi

run "$FP" --data "$tmp" which --atlas "$tmp/no-such.atlas" --edition icb2026 $sheffield
want_data_error "$tmp/no-such.atlas"
done_ "which --atlas with a missing file: exit 3 naming it"

if ! nodata "which --easting/--northing with the atlas: footprint-geo answers from it"; then
    if [ "$have_strace" = 1 ]; then
        traced "$FP" --data "$D" which --easting 435000 --northing 387000
        want_trace_atlas_only geo "$D/footprint.atlas"
    else
        run "$FP" --data "$D" which --easting 435000 --northing 387000
    fi
    want_rc 0
    want_out_re "E54000061${tab}NHS South Yorkshire Integrated Care Board"
    run "$FP" --data "$D" which --easting 435000 --northing 387000 --edition icb2026
    want_rc 0
    want_out "$expect_icb"
    done_ "which --easting/--northing with the atlas: footprint-geo answers from it"
fi

# An edition the atlas lacks: the right answer or a clear error, never a
# wrong one.
if ! nodata "which --edition icb2022, not in the atlas: exit 3 naming it, or the right answer"; then
    run "$FP" --data "$tmp" which --atlas "$S" --edition icb2022 $sheffield
    if [ "$rc" = 0 ]; then
        want_out_re "^E54000061${tab}"
    else
        want_data_error icb2022
    fi
    done_ "which --edition icb2022, not in the atlas: exit 3 naming it, or the right answer"
fi

# ---- staleness ---------------------------------------------------------------

if ! nodata "a source's time changes: which exits 3 'stale' naming it"; then
    touch -r "$f26" "$tmp/stamp"
    touch -d '2001-02-03 04:05:06' "$f26"
    run "$FP" --data "$D" which $sheffield
    want_data_error "$D/footprint.atlas" 'stale'
    want_err_fixed "icb_2026_bsc.geojson"
    run "$FP" --data "$D" which --edition stp2017 $sheffield
    want_data_error "$D/footprint.atlas" 'stale'
    done_ "a source's time changes: which exits 3 'stale' naming it"

    touch -r "$tmp/stamp" "$f26"
    run "$FP" --data "$D" which --edition icb2026 $sheffield
    want_rc 0
    want_out "$expect_icb"
    done_ "the source's time put back: the atlas is current again"

    mv "$f26" "$tmp/moved.geojson"
    run "$FP" --data "$D" which --edition icb2026 $sheffield
    want_data_error "$D/footprint.atlas" 'stale'
    want_err_fixed "icb_2026_bsc.geojson"
    mv "$tmp/moved.geojson" "$f26"
    done_ "a source vanishes: which exits 3 'stale'"

    # Another catalogue (one byte changed) than the atlas was built from.
    # -L: a real copy even where geodata is reached through a symlink,
    # or the edit below would write through it into the repository.
    cp -RL "$here/../geodata" "$tmp/cat"
    sed 's/Integrated Care Boards (April 2023)/Integrated Care Boards (April 2O23)/' \
        "$here/../geodata/editions.csv" > "$tmp/cat/editions.csv"
    run "$FP" --data "$D" which --catalogue "$tmp/cat/editions.csv" --edition icb2026 $sheffield
    want_data_error "$D/footprint.atlas" 'stale'
    done_ "another catalogue than the atlas's: which exits 3 'stale'"
else
    for d in "the source's time put back: the atlas is current again" \
        "a source vanishes: which exits 3 'stale'" \
        "another catalogue than the atlas's: which exits 3 'stale'"; do
        nodata "$d"
    done
fi

# ---- damaged atlases ---------------------------------------------------------

# sections FILE: "name offset length" for every section of the atlas FILE
# (header: section count at byte 24; then 64-byte entries: name[40],
# offset, length, checksum).
sections() {
    ns=$(od -A n -t u4 -j 24 -N 4 "$1" | tr -d ' ')
    od -A n -v -t u8 -j 64 -N $((64 * ns)) -w64 "$1" > "$tmp/table.u8"
    i=0
    while [ "$i" -lt "$ns" ]; do
        nm=$(dd if="$1" bs=64 skip=$((1 + i)) count=1 2> /dev/null | head -c 40 | tr -d '\000')
        echo "$nm $(sed -n "$((i + 1))p" "$tmp/table.u8" | awk '{ print $6, $7 }')"
        i=$((i + 1))
    done
}
# smash FILE OFFSET: 16 bytes of 'X' over FILE at OFFSET.
smash() {
    printf 'XXXXXXXXXXXXXXXX' | dd of="$1" bs=1 seek="$2" conv=notrunc 2> /dev/null
}
# ask ED: which --edition ED at Sheffield from the damaged copy; the right
# answer (as from the intact atlas), or exit 3 naming the atlas ("corrupt").
# Sets $refused to 1 when it was refused.
ask() {
    run "$FP" --data "$tmp/empty" which --atlas "$tmp/damaged.atlas" --edition "$1" $sheffield
    refused=0
    if [ "$rc" = 0 ]; then
        cmp -s "$out" "$tmp/want.$1" || fail "$1: a wrong answer: $(cat "$out")"
    else
        refused=1
        want_data_error "$tmp/damaged.atlas" 'corrupt'
    fi
}

if ! nodata "a truncated atlas: which exits 3 naming it"; then
    size=$(wc -c < "$S" | tr -d ' ')
    mv "$D/footprint.atlas" "$tmp/full.atlas"
    for cut in 0 40 1000 $((size / 2)) $((size - 1)); do
        head -c "$cut" "$S" > "$D/footprint.atlas"
        run "$FP" --data "$D" which --edition icb2026 $sheffield
        want_data_error "$D/footprint.atlas"
        [ -z "$why" ] || { why="cut at $cut bytes: $why"; break; }
    done
    mv "$tmp/full.atlas" "$D/footprint.atlas"
    done_ "a truncated atlas: which exits 3 naming it"
fi

if ! nodata "damage in each section: exit 3 naming the atlas and section, the rest answers"; then
    for ed in icb2026 icb2023 stp2017; do
        "$FP" --data "$tmp/empty" which --atlas "$S" --edition "$ed" $sheffield \
            > "$tmp/want.$ed" 2> /dev/null
    done
    cp "$S" "$tmp/damaged.atlas"
    sections "$S" > "$tmp/sections"
    whyall=
    for name in catalogue layer/icb2026 layer/icb2023 layer/stp2017 sources; do
        pos=$(grep "^$name " "$tmp/sections") || { whyall="$whyall no section $name;"; continue; }
        set -- $pos
        off=$(($2 + $3 / 2))
        dd if="$S" of="$tmp/orig16" bs=1 skip="$off" count=16 2> /dev/null
        smash "$tmp/damaged.atlas" "$off"
        for ed in icb2026 icb2023 stp2017; do
            ask "$ed"
            case $name in
            layer/$ed | catalogue | sources)
                [ "$refused" = 1 ] || fail "$ed answered despite damage in $name"
                [ "$refused" = 0 ] || want_err_fixed "$name" ;;
            *) [ "$refused" = 0 ] || fail "$ed refused for damage in $name" ;;
            esac
            [ -z "$why" ] || whyall="$whyall $name/$ed: $why;"
        done
        dd if="$tmp/orig16" of="$tmp/damaged.atlas" bs=1 seek="$off" conv=notrunc 2> /dev/null
    done
    cmp -s "$S" "$tmp/damaged.atlas" || whyall="$whyall the damage was not undone;"
    why=$whyall
    done_ "damage in each section: exit 3 naming the atlas and section, the rest answers"
fi

# Sixteen bytes overwritten at a quarter, half and three quarters of the
# file, wherever that is: every answer right or refused.
if ! nodata "an atlas overwritten in the middle: exit 3 naming it, never a wrong answer"; then
    size=$(wc -c < "$S" | tr -d ' ')
    for q in 1 2 3; do
        off=$((size * q / 4))
        cp "$S" "$tmp/damaged.atlas"
        smash "$tmp/damaged.atlas" "$off"
        whyall= nref=0
        for ed in icb2026 icb2023 stp2017; do
            ask "$ed"
            nref=$((nref + refused))
            [ -z "$why" ] || whyall="$whyall $ed: $why;"
        done
        why=$whyall
        [ "$nref" -ge 1 ] || fail "no edition refused the damage at $off"
        done_ "an atlas overwritten at byte $off of $size: exit 3 naming it, never a wrong answer"
    done
else
    for q in 2 3; do nodata "an atlas overwritten in the middle ($q)"; done
fi

# ---- rebuilding ---------------------------------------------------------------

if ! nodata "a failed rebuild (missing file) leaves the atlas as it was"; then
    rm -f "$D/boundaries/stp_2021_buc.geojson"
    run "$FP" --data "$D" build --edition icb2023 --edition stp2021 --out "$S"
    want_data_error "$D/boundaries/stp_2021_buc.geojson"
    cmp -s "$S" "$tmp/small-good.atlas" || fail "the atlas changed"
    want_no_tmp "$tmp"
    done_ "a failed rebuild (missing file) leaves the atlas as it was"

    run "$FP" --data "$D" build --edition icb2023 --edition nope --out "$S"
    want_rc 2
    cmp -s "$S" "$tmp/small-good.atlas" || fail "the atlas changed"
    done_ "a rebuild with an unknown edition: exit 2, the atlas as it was"

    run "$FP" --data "$D" build --edition icb2023 --out "$S"
    want_rc 0
    cmp -s "$S" "$tmp/small-good.atlas" && fail "the atlas was not replaced"
    run "$FP" --data "$tmp/empty" which --atlas "$S" --edition icb2023 $sheffield
    want_rc 0
    want_out "$expect_icb"
    want_no_tmp "$tmp"
    done_ "a successful rebuild replaces the atlas"
else
    nodata "a rebuild with an unknown edition: exit 2, the atlas as it was"
    nodata "a successful rebuild replaces the atlas"
fi

# ---- one-shot speed (reported, not asserted) ----------------------------------

# median_ms CMD...: the median wall time of 20 runs, in milliseconds.
median_ms() {
    if [ -n "$py" ]; then
        "$py" -S -c '
import subprocess, sys, time
ts = []
for _ in range(20):
    t = time.perf_counter()
    subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ts.append(time.perf_counter() - t)
ts.sort()
print("%.2f" % ((ts[9] + ts[10]) / 2 * 1000))
' "$@"
    else
        i=0 ts=
        while [ $i -lt 20 ]; do
            t0=$(date +%s%N)
            "$@" > /dev/null 2>&1
            t1=$(date +%s%N)
            ts="$ts $(((t1 - t0) / 1000))"
            i=$((i + 1))
        done
        printf '%s\n' $ts | sort -n | sed -n '10,11p' |
            awk '{ s += $1 } END { printf "%.2f", s / 2000 }'
    fi
}
if [ "$have_data" = 1 ] && [ -s "$D/footprint.atlas" ]; then
    tap_python
    "$FP" --data "$D" which $sheffield > /dev/null 2>&1 # warm the page cache
    m1=$(median_ms "$FP" --data "$D" which $sheffield)
    m0=$(median_ms "$FP" --version)
    echo "# one-shot 'footprint --data D which $sheffield' on the atlas ($(wc -c < "$D/footprint.atlas" | tr -d ' ') bytes): median ${m1} ms of 20 runs ('footprint --version': ${m0} ms)"
fi

echo "1..$n"
