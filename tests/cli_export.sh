#!/bin/sh
# cli_export.sh — footprint export and footprint leaflet from the command
# line: help, usage errors (exit 2), real exports in each format with
# their facts, output that cannot be written (exit 3, nothing written),
# and the map folder.  Prints TAP.
#
#   FOOTPRINT=build/footprint BUILD=build FOOTPRINT_TEST_DATA=../shared/geodata \
#       sh tests/cli_export.sh
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.shlib"
tap_cli fp-export
tap_python
tap_style=inline   # "not ok N - name: why"; want_rc below adds stderr

# ---- helpers (the rest in tap.shlib) -----------------------------------------

needs_data() { # name: skips (or, under CI, fails) without the mirror
    if [ "$have_data" = 1 ]; then return 0; fi
    if [ "${CI:-}" = true ]; then
        n=$((n + 1)); echo "not ok $n - $1: no ONS mirror at '$DATA'"
    else
        skip "$1" "no ONS mirror"
    fi
    return 1
}
# The status, with stderr in the reason (no "#   stderr:" line inline).
want_rc() { [ "$rc" = "$1" ] || fail "exit status $rc, want $1 ($(head -c 300 "$err"))"; }
# py_check FILE CODE: python prints what it finds wrong (nothing when fine)
py_check() {
    "$py" -S - "$@" >> "$tmp/py" 2>&1 <<'EOF'
import json, re, sys
path, checks = sys.argv[1], sys.argv[2:]
d = json.load(open(path, encoding='utf-8'))
feats = {f['properties']['code']: f for f in d['features']}
for c in checks:
    k, _, v = c.partition('=')
    if k == 'count':
        if len(d['features']) != int(v): print('%d features, want %s' % (len(d['features']), v))
    elif k == 'decimals':
        # Rounded to v decimals; the few vertices where rounding would
        # make two boundaries meet keep two more.
        s = open(path, encoding='utf-8').read()
        ds = [len(x) for x in re.findall(r'-?\d+\.(\d+) *[,\]]', s)]
        more = sum(1 for x in ds if x > int(v))
        if not ds or more > len(ds) / 100 or max(ds) > int(v) + 4:
            print('%d of %d coordinates have more than %s decimals' % (more, len(ds), v))
    elif k == 'attribution':
        if 'Open Government Licence' not in d.get('attribution', ''): print('no attribution member')
    else:
        code, _, field = k.partition('.')
        got = feats.get(code, {}).get('properties', {}).get(field, '<missing>')
        want = None if v == 'null' else v
        if got != want: print('%s.%s = %r, want %r' % (code, field, got, want))
EOF
}
want_json() { # FILE CHECK...
    [ -n "$py" ] || return 0
    : > "$tmp/py"
    py_check "$@"
    [ ! -s "$tmp/py" ] || fail "$(tr '\n' ';' < "$tmp/py")"
}

# ---- help and usage ----------------------------------------------------

run "$FP" export --help
[ "$rc" = 0 ] && grep -q '^Usage: footprint export --out FILE' "$out" || fail "no usage text"
done_ "export --help: usage on stdout, exit 0"

run "$FP" leaflet --help
[ "$rc" = 0 ] && grep -q '^Usage: footprint leaflet --out DIR' "$out" || fail "no usage text"
done_ "leaflet --help: usage on stdout, exit 0"

run "$FP" help export
[ "$rc" = 0 ] && grep -q 'simplify' "$out" || fail "footprint help export"
done_ "footprint help export"

run "$FP" export --edition icb2023
want_usage "--out FILE"
done_ "export without --out: exit 2"

run "$FP" export --out "$tmp/x.geojson" --edition icb2023 --level icb
want_usage "--edition and --level"
done_ "export --edition with --level: exit 2"

run "$FP" export --out "$tmp/x.geojson" --simplify -3
want_usage "--simplify"
done_ "export --simplify -3: exit 2"

run "$FP" export --out "$tmp/x.geojson" --precision 2.5
want_usage "--precision"
done_ "export --precision 2.5: exit 2"

run "$FP" export --out "$tmp/x.geojson" --date 2023-02-30
want_usage "calendar date"
done_ "export --date 2023-02-30: exit 2"

run "$FP" export --out "$tmp/x.geojson" --bogus
want_usage "unknown option"
done_ "export --bogus: exit 2"

run "$FP" leaflet --view icb2023
want_usage "--out DIR"
done_ "leaflet without --out: exit 2"

why=
left=$(ls -A "$tmp" | grep -v '^out$' | grep -v '^err$')
[ -z "$left" ] || fail "files written: $left"
done_ "usage errors write nothing"

# ---- exports of real boundaries ------------------------------------------

if needs_data "export icb2023 --simplify 100 --precision 5: 42 ICBs under 1 MB with their facts"; then
    run "$FP" --data "$DATA" export --edition icb2023 --simplify 100 --precision 5 --out "$tmp/icb.geojson"
    want_rc 0
    want_err_lines 1
    want_err_re "^footprint: wrote $tmp/icb.geojson: edition icb2023, [0-9]+ vertices"
    size=$(wc -c < "$tmp/icb.geojson" 2>/dev/null || echo 0)
    [ "$size" -gt 100000 ] && [ "$size" -lt 1000000 ] || fail "size $size bytes"
    want_json "$tmp/icb.geojson" count=42 decimals=5 attribution \
        E54000061.name="NHS South Yorkshire Integrated Care Board" E54000061.ods_code=QF7 \
        E54000061.region_name="North East and Yorkshire" E54000061.valid_to=2026-03-31 \
        E54000061.system_code=null
    done_ "export icb2023 --simplify 100 --precision 5: 42 ICBs under 1 MB with their facts"
fi

if needs_data "export --level sub --date 2023-06-01: sub-ICB locations with their ICB"; then
    run "$FP" --data "$DATA" export --level sub --date 2023-06-01 --out "$tmp/sub.geojson"
    want_rc 0
    want_err_re "edition sicbl2023"
    want_json "$tmp/sub.geojson" count=106 E38000146.system_code=E54000061 E38000146.level=sicbl
    done_ "export --level sub --date 2023-06-01: sub-ICB locations with their ICB"
fi

if needs_data "export --level place --date 2020-01-01 to GeoPackage; stp2017 to FlatGeobuf"; then
    run "$FP" --data "$DATA" export --level place --date 2020-01-01 --out "$tmp/places.gpkg"
    want_rc 0
    want_err_re "edition icp"
    [ "$(head -c 15 "$tmp/places.gpkg")" = "SQLite format 3" ] || fail "not a GeoPackage"
    run "$FP" --data "$DATA" export --edition stp2017 --format FlatGeobuf --simplify 500 --out "$tmp/stp.data"
    want_rc 0
    [ "$(head -c 3 "$tmp/stp.data")" = fgb ] || fail "not FlatGeobuf"
    if command -v ogrinfo >/dev/null 2>&1; then # gdal-bin, when installed
        run ogrinfo -q -ro -sql "SELECT code, system_code FROM icp WHERE code = 'E54000009-SHEFFIELD'" "$tmp/places.gpkg"
        grep -q "system_code (String) = E54000009" "$out" || fail "Sheffield place: $(head -c 300 "$out")"
    fi
    done_ "export --level place --date 2020-01-01 to GeoPackage; stp2017 to FlatGeobuf"
fi

if needs_data "export to a Shapefile: its parts beside it, attribution field"; then
    run "$FP" --data "$DATA" export --edition nhser2024 --simplify 1000 --out "$tmp/shp/regions.shp"
    want_rc 3 # no such folder yet
    mkdir "$tmp/shp"
    run "$FP" --data "$DATA" export --edition nhser2024 --simplify 1000 --out "$tmp/shp/regions.shp"
    want_rc 0
    for e in shp shx dbf prj cpg; do [ -f "$tmp/shp/regions.$e" ] || fail "no regions.$e"; done
    [ "$(ls -A "$tmp/shp" | wc -l)" = 5 ] || fail "other files: $(ls -A "$tmp/shp")"
    done_ "export to a Shapefile: its parts beside it, attribution field"
fi

# ---- output that cannot be written -----------------------------------------

if needs_data "export below a regular file or into a missing folder: exit 3, nothing written"; then
    : > "$tmp/plain"
    run "$FP" --data "$DATA" export --edition icb2023 --out "$tmp/plain/x.geojson"
    want_rc 3
    want_err_lines 1
    want_err_re "^footprint: $tmp/plain/x.geojson: "
    [ ! -s "$tmp/plain" ] || fail "$tmp/plain was written"
    run "$FP" --data "$DATA" export --edition icb2023 --out "$tmp/nodir/x.geojson"
    want_rc 3
    want_err_re "$tmp/nodir/x.geojson"
    [ ! -e "$tmp/nodir" ] || fail "$tmp/nodir created"
    if [ "$(id -u)" != 0 ]; then
        mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
        run "$FP" --data "$DATA" export --edition icb2023 --out "$tmp/ro/x.geojson"
        want_rc 3
        [ -z "$(ls -A "$tmp/ro")" ] || fail "something was written into $tmp/ro"
    fi
    done_ "export below a regular file or into a missing folder: exit 3, nothing written"
fi

# The disk fills while the file is written (a file size limit; SIGXFSZ
# ignored, so write() fails): exit 3, the old file intact, no temporary.
if needs_data "export on a full disk: exit 3, old file intact, no temporary left"; then
    mkdir "$tmp/full" && echo old > "$tmp/full/icb.geojson"
    (
        trap '' XFSZ
        ulimit -f 64 2>/dev/null || exit 99
        exec "$FP" --data "$DATA" export --edition icb2023 --out "$tmp/full/icb.geojson"
    ) > "$out" 2> "$err"
    rc=$? why=
    if [ "$rc" = 99 ]; then
        skip "export on a full disk: exit 3, old file intact, no temporary left" "no ulimit -f"
    else
        want_rc 3
        [ "$(cat "$tmp/full/icb.geojson")" = old ] || fail "old file changed"
        [ "$(ls -A "$tmp/full")" = icb.geojson ] || fail "left: $(ls -A "$tmp/full")"
        done_ "export on a full disk: exit 3, old file intact, no temporary left"
    fi
fi

run "$FP" --data "$tmp" export --edition icb2023 --format NoSuchFormat --out "$tmp/x.geojson"
want_rc 2
want_err_re "NoSuchFormat"
[ ! -e "$tmp/x.geojson" ] || fail "file written"
done_ "export --format NoSuchFormat: exit 2, nothing written"

# ---- the map folder --------------------------------------------------------

if needs_data "leaflet --out DIR: a complete folder, Leaflet 1.9.4 inside, no innerHTML"; then
    run "$FP" --data "$DATA" leaflet --view icb2023 --out "$tmp/map"
    want_rc 0
    want_err_re "^footprint: wrote $tmp/map/index.html"
    for f in index.html footprint.js footprint.css data.js leaflet/leaflet.js leaflet/leaflet.css \
             leaflet/LICENSE layers/0.js; do
        [ -s "$tmp/map/$f" ] || fail "no $f"
    done
    grep -q 'Leaflet 1.9.4' "$tmp/map/leaflet/leaflet.js" || fail "not Leaflet 1.9.4"
    grep -q 'http' "$tmp/map/index.html" && fail "index.html refers to the network"
    # Data reaches the page as text only.
    grep -n 'innerHTML\|outerHTML\|insertAdjacentHTML\|document.write\|bindTooltip\|bindPopup' \
        "$tmp/map/footprint.js" > "$tmp/html" && fail "footprint.js: $(head -3 "$tmp/html")"
    done_ "leaflet --out DIR: a complete folder, Leaflet 1.9.4 inside, no innerHTML"

    run "$FP" --data "$DATA" leaflet --view icb2023 --out "$tmp/map"
    want_rc 0
    [ -z "$(ls -A "$tmp" | grep '^\.map\.')" ] || fail "temporaries left: $(ls -A "$tmp")"
    done_ "leaflet over its own folder: replaced, nothing left beside it"

    mkdir "$tmp/docs" && echo keep > "$tmp/docs/report.txt"
    run "$FP" --data "$DATA" leaflet --view icb2023 --out "$tmp/docs"
    want_rc 3
    want_err_re "$tmp/docs: exists and holds other files"
    [ "$(ls -A "$tmp/docs")" = report.txt ] || fail "docs changed"
    done_ "leaflet over a folder of other files: exit 3, left alone"
fi

run "$FP" --data "$tmp" leaflet --view nope --out "$tmp/m"
want_usage "unknown edition 'nope'"
done_ "leaflet --view nope: exit 2"

run env FOOTPRINT_WEB="$tmp/nowhere" "$FP" --data "$tmp" leaflet --out "$tmp/m2"
want_rc 3
want_err_re "leaflet|index.html"
[ ! -e "$tmp/m2" ] || fail "folder written"
done_ "leaflet without the page's files: exit 3, nothing written"

echo "1..$n"
