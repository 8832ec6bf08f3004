#!/bin/sh
# cli_render.sh — 'footprint render' end to end: usage errors (exit 2), maps
# of real ONS footprints as PNG, SVG and PDF read back, choropleth and
# points files, and data/output errors (exit 3) that leave no file behind.
# Prints TAP.
#
#   FOOTPRINT=build/footprint BUILD=build FOOTPRINT_TEST_DATA=../shared/geodata \
#       sh tests/cli_render.sh
#
# Checks that need the ONS mirror are skipped without it (fail under CI).
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.shlib"
tap_cli fp-render
tap_python

# ---- helpers (the rest in tap.shlib; usage errors: want_usage RE render) ----

# Nothing on stderr but, perhaps, the note of labels that did not fit.
want_err_quiet() {
    grep -v '^footprint: [0-9]* labels\{0,1\} did not fit: ' "$err" > "$tmp/err2"
    [ ! -s "$tmp/err2" ] || fail "stderr: $(head -c 200 "$tmp/err2")"
}
# Nothing at $1, and no temporary file (*.tmp.*) in its directory.
want_no_file() {
    [ ! -e "$1" ] || fail "$1 was written"
    left=$(ls -A "$(dirname "$1")" 2>/dev/null | grep -c '\.tmp\.' )
    [ "$left" = 0 ] || fail "a temporary file was left beside $1"
}
# The width and height of a PNG, from its IHDR.
png_size() {
    od -An -tu1 -j16 -N8 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}'
}
is_png() { [ "$(od -An -c -N4 "$1" | tr -d ' ')" = '211PNG' ]; }

# ---- help and usage errors (no data needed) --------------------------------

run "$FP" render --help
want_rc 0
grep -q '^Usage: footprint render --out FILE' "$out" || fail "no usage line"
want_err_empty
done_ "render --help prints the usage to stdout"

usage() { # DESCRIPTION RE ARGS...
    d=$1 re=$2
    shift 2
    run "$FP" render "$@"
    want_usage "$re" render
    done_ "$d"
}
usage "no --out: usage error" "--out FILE" --edition icb2023
usage "--out with another extension" "must end .png, .svg or .pdf" --out "$tmp/map.gif"
usage "--width 0" "--width: expected a positive size" --out "$tmp/m.png" --width 0
usage "--height -5" "--height: expected a positive size" --out "$tmp/m.png" --height -5
usage "--width abc" "--width: not a number" --out "$tmp/m.png" --width abc
usage "--width 50000" "--width: 50000 is out of range" --out "$tmp/m.png" --width 50000
usage "--projection mercator" "--projection: expected bng or webmercator" \
    --out "$tmp/m.png" --projection mercator
usage "--classes 12" "--classes: expected 2 to 9" --out "$tmp/m.png" --values v.csv \
    --value-column n --classes 12
usage "--method median" "--method: expected quantile, equal or jenks" --out "$tmp/m.png" \
    --values v.csv --value-column n --method median
usage "--values without --value-column" "--values needs --value-column" \
    --out "$tmp/m.png" --values v.csv
usage "--value-column without --values" "go with --values" --out "$tmp/m.png" \
    --value-column n
usage "--colour-by without --points" "--colour-by goes with --points" \
    --out "$tmp/m.png" --colour-by kind
usage "--edition with --date" "give one of them" --out "$tmp/m.png" --edition icb2023 \
    --date 2024-01-01
usage "--date not a date" "expected a calendar date" --out "$tmp/m.png" --date 2024-02-30
usage "--inset paris" "the one inset is 'london'" --out "$tmp/m.png" --inset paris
usage "an unknown option" "unknown option '--color-scheme'" --out "$tmp/m.png" \
    --color-scheme red
usage "an unknown edition" "unknown edition 'icb1999'" --out "$tmp/m.png" --edition icb1999

# ---- maps of real footprints ------------------------------------------------

# One partial atlas for every map below (reading the GeoJSON each time
# would take most of the run); editions missing from it are skipped when
# the tiers are searched.
A=
if [ "$have_data" = 1 ]; then
    "$FP" build --data "$DATA" --out "$tmp/a.atlas" --edition icb2023 --edition icb2026 \
        --edition stp2017 --edition icp > /dev/null 2>&1 || echo "# atlas build failed"
    A="--atlas $tmp/a.atlas"
fi

d="England's ICBs (2023) as a PNG of the requested width, height to fit"
if ! nodata "$d"; then
    run "$FP" render --data "$DATA" $A --edition icb2023 --out "$tmp/england.png" --width 600
    want_rc 0
    want_out_empty
    want_err_quiet
    if is_png "$tmp/england.png"; then
        set -- $(png_size "$tmp/england.png")
        [ "$1" = 600 ] || fail "width $1, want 600"
        [ "$2" -gt 600 ] || fail "height $2: England is taller than wide"
    else
        fail "not a PNG"
    fi
    done_ "$d"
fi

d="--width and --height together give exactly that size"
if ! nodata "$d"; then
    run "$FP" render --data "$DATA" $A --edition icb2026 --out "$tmp/fixed.png" --width 500 \
        --height 400 --no-labels
    want_rc 0
    [ "$(png_size "$tmp/fixed.png")" = "500 400" ] || fail "size $(png_size "$tmp/fixed.png")"
    done_ "$d"
fi

d="an SVG: well-formed, no raster, carries the OGL attribution"
if ! nodata "$d"; then
    run "$FP" render --data "$DATA" $A --edition icb2023 --out "$tmp/england.svg" --inset london
    want_rc 0
    want_err_quiet
    if [ -n "$py" ]; then
        "$py" -S -c 'import sys, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot()
assert r.tag.endswith("svg"), r.tag
assert not [e for e in r.iter() if e.tag.endswith("image")]' "$tmp/england.svg" 2> "$tmp/pyerr" ||
            fail "not a well-formed SVG without images: $(tail -1 "$tmp/pyerr")"
    fi
    grep -q 'Open Government Licence v.3.0' "$tmp/england.svg" || fail "no attribution"
    done_ "$d"
fi

d="a PDF of South Yorkshire and Bassetlaw with its five places (2019)"
if ! nodata "$d"; then
    run "$FP" render --data "$DATA" $A --focus E54000009 --date 2019-06-01 --out "$tmp/syb.pdf"
    want_rc 0
    want_err_empty
    [ "$(head -c 5 "$tmp/syb.pdf")" = "%PDF-" ] || fail "not a PDF"
    ! grep -aq '/Image' "$tmp/syb.pdf" || fail "a raster in the PDF"
    done_ "$d"
fi

d="--focus on a code no edition in force has: usage error naming it"
if ! nodata "$d"; then
    run "$FP" render --data "$DATA" $A --focus E54999999 --out "$tmp/nope.png"
    want_usage "--focus E54999999: no footprint" render
    want_no_file "$tmp/nope.png"
    done_ "$d"
fi

d="a place that had ended: --focus E54000009-BASSETLAW on 2023-01-01"
if ! nodata "$d"; then
    run "$FP" render --data "$DATA" $A --level icp --date 2023-01-01 \
        --focus E54000009-BASSETLAW --out "$tmp/ended.png"
    want_usage "not in force on 2023-01-01" render
    want_no_file "$tmp/ended.png"
    done_ "$d"
fi

d="Web Mercator on request"
if ! nodata "$d"; then
    run "$FP" render --data "$DATA" $A --edition icb2026 \
        --projection webmercator --out "$tmp/wm.png" --width 400
    want_rc 0
    is_png "$tmp/wm.png" || fail "not a PNG"
    done_ "$d"
fi

# ---- choropleth and points --------------------------------------------------

d="--values: a choropleth; footprints without a value are hatched, not an error"
if ! nodata "$d"; then
    printf 'code,name,count\nE54000061,South Yorkshire,12\nE54000050,NENC,30\nE54000008,C and M,\n' \
        > "$tmp/v.csv"
    run "$FP" render --data "$DATA" $A --edition icb2023 --out "$tmp/choro.svg" \
        --values "$tmp/v.csv" --value-column count --classes 2 --method jenks
    want_rc 0
    want_err_quiet
    done_ "$d"
fi

d="--values with a code not on the map: exit 3 naming the code and line, no file"
if ! nodata "$d"; then
    printf 'code,count\nE54000061,12\nE54000999,3\n' > "$tmp/v2.csv"
    run "$FP" render --data "$DATA" $A --edition icb2023 --out "$tmp/unknown.png" \
        --values "$tmp/v2.csv" --value-column count
    want_data_error "line 3: code E54000999"
    want_no_file "$tmp/unknown.png"
    done_ "$d"
fi

d="--value-column naming no column: exit 3 listing the columns, no file"
if ! nodata "$d"; then
    run "$FP" render --data "$DATA" $A --edition icb2023 --out "$tmp/nocol.png" \
        --values "$tmp/v.csv" --value-column population
    want_data_error "no column 'population' (columns: code, name, count)"
    want_no_file "$tmp/nocol.png"
    done_ "$d"
fi

d="--points: dots coloured by a column"
if ! nodata "$d"; then
    printf 'pcds,lat,long,kind\nS1 2HH,53.3811,-1.4701,gp\nNE1 4ST,54.9733,-1.6139,hospital\n' \
        > "$tmp/p.csv"
    run "$FP" render --data "$DATA" $A --edition icb2023 --out "$tmp/points.png" \
        --points "$tmp/p.csv" --colour-by kind --width 500
    want_rc 0
    want_err_quiet
    done_ "$d"
fi

d="--points with a bad coordinate: exit 3 naming the file and line"
if ! nodata "$d"; then
    printf 'lat,lon\n53.38,-1.47\n-1.47,53.38\n' > "$tmp/p2.csv"
    run "$FP" render --data "$DATA" $A --edition icb2023 --out "$tmp/badpts.png" --points "$tmp/p2.csv"
    want_data_error "p2.csv: line 3"
    want_no_file "$tmp/badpts.png"
    done_ "$d"
fi

# ---- output errors ----------------------------------------------------------

d="an unwritable --out: exit 3 naming it, nothing written"
if ! nodata "$d"; then
    run "$FP" render --data "$DATA" $A --edition icb2023 --out "$tmp/no/such/dir/map.png"
    want_data_error "$tmp/no/such/dir/map.png"
    done_ "$d"
fi

d="without an atlas, from the boundary files"
if ! nodata "$d"; then
    run "$FP" render --data "$DATA" --edition stp2017 --out "$tmp/files.svg" --no-labels
    want_rc 0
    want_err_empty
    grep -q '<svg' "$tmp/files.svg" || fail "no SVG"
    done_ "$d"
fi

d="--out naming a directory: exit 3"
if ! nodata "$d"; then
    mkdir -p "$tmp/d.png"
    run "$FP" render --data "$DATA" $A --edition icb2023 --out "$tmp/d.png"
    want_data_error "is a directory"
    done_ "$d"
fi

d="--inset london on a map without London: usage error, no file"
if ! nodata "$d"; then
    run "$FP" render --data "$DATA" $A --focus E54000050 --edition icb2023 --inset london \
        --out "$tmp/inset.png"
    want_usage "London inset" render
    want_no_file "$tmp/inset.png"
    done_ "$d"
fi

echo "1..$n"
