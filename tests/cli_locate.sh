#!/bin/sh
# cli_locate.sh — footprint locate: CSV in, CSV (or OGR points) out, every
# row kept in order with its footprints appended.  Prints TAP.
#
#   FOOTPRINT=build/footprint BUILD=build FOOTPRINT_TEST_DATA=../shared/geodata \
#       sh tests/cli_locate.sh
#
# Most checks run on a tiny hand-made atlas (two squares in a region); the
# ones marked "real data" need the ONS mirror ($FOOTPRINT_TEST_DATA) and are
# skipped without it, or fail under CI=true.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.shlib"
tap_cli fp-cli-locate
cr=$(printf '\r')

# ---- helpers (the rest in tap.shlib) -----------------------------------------

# run_in FILE CMD...: stdin from FILE.
run_in() {
    f=$1
    shift
    "$@" < "$f" > "$out" 2> "$err"
    rc=$?
    why=
}
want_out_file() { cmp -s "$1" "$out" || fail "stdout differs from $1: $(diff "$1" "$out" | head -5 | tr '\n' '|')"; }
# An error: exit $1, nothing on stdout, one line "footprint: ..." matching $2.
want_error() {
    want_rc "$1"
    want_out_empty
    want_err_footprint
    [ "$1" = 2 ] || want_err_lines 1
    want_err_re "$2"
}
# Nothing (not even a temporary file) at path $1 or beside it.
want_no_file() {
    [ ! -e "$1" ] || fail "$1 exists"
    ls -a "$(dirname "$1")" | grep -Fq "$(basename "$1").tmp" &&
        fail "temporary file left beside $1"
    :
}

# ---- a hand-made atlas: region R1 over two squares A1 | B2 ----------------------

syn=$tmp/syn
mkdir -p "$syn/boundaries"
cat > "$syn/boundaries/sq.geojson" <<'EOF'
{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"SQCD":"A1","SQNM":"Alpha \"one\""},"geometry":{"type":"Polygon","coordinates":[[[0,50],[1,50],[1,51],[0,51],[0,50]]]}},
{"type":"Feature","properties":{"SQCD":"B2","SQNM":"Beta, the second"},"geometry":{"type":"Polygon","coordinates":[[[1,50],[2,50],[2,51],[1,51],[1,50]]]}}
]}
EOF
cat > "$syn/boundaries/reg.geojson" <<'EOF'
{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"REGCD":"R1","REGNM":"Region One"},"geometry":{"type":"Polygon","coordinates":[[[0,50],[2,50],[2,51],[0,51],[0,50]]]}}
]}
EOF
cat > "$tmp/syn.csv" <<'EOF'
id,level,name,valid_from,valid_to,path,layer,code_field,name_field,vintage,attribution
sq,icb,Squares,2020-01-01,,boundaries/sq.geojson,,SQCD,SQNM,2020,Source: a test
reg,nhser,Regions,2020-01-01,,boundaries/reg.geojson,,REGCD,REGNM,2020,Source: a test
EOF
"$FP" --data "$syn" build --catalogue "$tmp/syn.csv" > /dev/null 2> "$tmp/build.err" ||
    echo "Bail out! cannot build the hand-made atlas: $(cat "$tmp/build.err")"
L="$FP --data $syn locate --catalogue $tmp/syn.csv"

# ---- usage ----------------------------------------------------------------------

run "$FP" locate --help
want_rc 0
want_out_re '^Usage: footprint locate'
want_out_re 'Open Government Licence'
want_err_empty
done_ "locate --help: usage on stdout, exit 0"

run "$FP" help locate
cp "$out" "$tmp/help.out"
run "$FP" locate --help
cmp -s "$out" "$tmp/help.out" || fail "'help locate' differs from 'locate --help'"
done_ "help locate: the same text as locate --help"

printf 'id,lat,long\n1,50.5,0.5\n' > "$tmp/one.csv"
for bad in "--tiers nope" "--fields code,nope" "--fields code,code" "--nearest -1" \
    "--threads 0" "--format shp" "--delimiter ab" "--tiers system,system" \
    "--edition sq --edition sq" "--edition nope" "--lat-column lat" \
    "--x-column x" "--format gpkg" "--edition sq --date 2024-01-01" \
    "--date 2024-13-01" "--lat-column lat --lon-column long --postcode-column id" \
    "--bogus"; do
    # shellcheck disable=SC2086
    run $L "$tmp/one.csv" $bad
    want_error 2 '.'
    want_err_re 'Try .footprint locate --help'
    done_ "locate $bad: usage error, exit 2"
done

run $L "$tmp/one.csv" "$tmp/one.csv"
want_error 2 "unexpected argument"
done_ "locate with two input files: exit 2"

# ---- the basics -------------------------------------------------------------------

cat > "$tmp/basic.csv" <<'EOF'
id,lat,long
1,50.5,0.5
2,50.5,1.5
3,50.5,1.0
4,52.5,0.5
EOF
cat > "$tmp/basic.want" <<'EOF'
id,lat,long,system_code,system_name,system_match,system_distance_m
1,50.5,0.5,A1,"Alpha ""one""",contained,0
2,50.5,1.5,B2,"Beta, the second",contained,0
3,50.5,1.0,B2,"Beta, the second",contained,0
4,52.5,0.5,,,none,
EOF
run $L "$tmp/basic.csv" --tiers system
want_rc 0
want_out_file "$tmp/basic.want"
want_err_lines 1
want_err_re '^footprint: 4 rows: 3 contained, 0 nearest, 1 none, 0 invalid$'
done_ "locate --tiers system: rows kept, groups appended, names quoted, shared edge east, summary"

run_in "$tmp/basic.csv" $L --tiers system
want_rc 0
want_out_file "$tmp/basic.want"
done_ "locate from standard input: the same"

run_in "$tmp/basic.csv" $L - --tiers system --quiet
want_rc 0
want_out_file "$tmp/basic.want"
want_err_empty
done_ "locate - --quiet: standard input, no summary"

run $L "$tmp/basic.csv"
want_rc 0
want_out_re '^id,lat,long,region_code,region_name,region_match,region_distance_m,system_code,system_name,system_match,system_distance_m,ics_code,ics_name,ics_match,ics_distance_m,place_code,place_name,place_match,place_distance_m,sub_code,sub_name,sub_match,sub_distance_m,la_code,la_name,la_match,la_distance_m$'
want_out_re '^1,50.5,0.5,R1,Region One,contained,0,A1,"Alpha ""one""",contained,0,,,none,,,,none,,,,none,,,,none,$'
done_ "locate with no choice: every tier of the chain today, in order"

run $L "$tmp/basic.csv" --tiers system,region --edition sq --fields code,edition,match,name \
    --date 2021-05-01
want_rc 0
want_out_re '^id,lat,long,system_code,system_edition,system_match,system_name,region_code,region_edition,region_match,region_name,sq_code,sq_edition,sq_match,sq_name$'
want_out_re '^2,50.5,1.5,B2,sq,contained,"Beta, the second",R1,reg,contained,Region One,B2,sq,contained,"Beta, the second"$'
done_ "locate --tiers/--edition/--fields/--date: groups and fields in the order given"

run $L "$tmp/basic.csv" --tiers system --date 2019-06-01
want_rc 0
want_out_re '^1,50.5,0.5,,,none,$'
done_ "locate --date before the edition: the tier answers none"

run $L "$tmp/basic.csv" --edition sq --fields code
want_rc 0
want_out_re '^id,lat,long,sq_code$'
want_out_re '^3,50.5,1.0,B2$'
done_ "locate --edition ID alone: one group named after the edition"

printf 'id,lat,long\n1,51.001,0.5\n2,51.5,0.5\n' > "$tmp/near.csv"
run $L "$tmp/near.csv" --tiers system --nearest 1000
want_rc 0
want_out_re '^1,51.001,0.5,A1,"Alpha ""one""",nearest,111\.[0-9]$'
want_out_re '^2,51.5,0.5,,,none,$'
want_err_re '1 nearest, 1 none'
done_ "locate --nearest 1000: nearest within reach with its distance, none beyond"

run $L "$tmp/near.csv" --tiers system
want_out_re '^1,51.001,0.5,,,none,$'
done_ "locate without --nearest: outside is none"

# ---- CSV edge cases --------------------------------------------------------------

# BOM, CRLF, quoted fields with commas, quotes and a newline, a blank line,
# a short row, a long row, non-numeric, missing, swapped, out of range, and
# a last line without its newline.
printf '\357\273\277"id","Lat","Long",note\r\n' > "$tmp/edge.csv"
printf '"a,1",50.5,0.5,"say ""hi"""\r\n' >> "$tmp/edge.csv"
printf '"two\r\nlines",50.5,1.5,x\r\n' >> "$tmp/edge.csv"
printf '\r\n' >> "$tmp/edge.csv"
printf 'short,50.5\r\n' >> "$tmp/edge.csv"
printf 'long,50.5,0.5,n,extra\r\n' >> "$tmp/edge.csv"
printf 'word,fifty,0.5,n\r\n' >> "$tmp/edge.csv"
printf 'empty,,0.5,n\r\n' >> "$tmp/edge.csv"
printf 'swap,0.5,50.5,n\r\n' >> "$tmp/edge.csv"
printf 'range,95,0.5,n\r\n' >> "$tmp/edge.csv"
printf 'quoted," 50.5 ","0.5",n\r\n' >> "$tmp/edge.csv"
printf 'last,50.5,0.5,n' >> "$tmp/edge.csv"
printf '\357\273\277"id","Lat","Long",note,system_code,system_match\r\n' > "$tmp/edge.want"
printf '"a,1",50.5,0.5,"say ""hi""",A1,contained\r\n' >> "$tmp/edge.want"
printf '"two\r\nlines",50.5,1.5,x,B2,contained\r\n' >> "$tmp/edge.want"
printf '\r\n' >> "$tmp/edge.want"
printf 'short,50.5,,,,invalid\r\n' >> "$tmp/edge.want"
printf 'long,50.5,0.5,n,extra,A1,contained\r\n' >> "$tmp/edge.want"
printf 'word,fifty,0.5,n,,invalid\r\n' >> "$tmp/edge.want"
printf 'empty,,0.5,n,,invalid\r\n' >> "$tmp/edge.want"
printf 'swap,0.5,50.5,n,,invalid\r\n' >> "$tmp/edge.want"
printf 'range,95,0.5,n,,invalid\r\n' >> "$tmp/edge.want"
printf 'quoted," 50.5 ","0.5",n,A1,contained\r\n' >> "$tmp/edge.want"
printf 'last,50.5,0.5,n,A1,contained\r\n' >> "$tmp/edge.want"
run $L "$tmp/edge.csv" --tiers system --fields code,match
want_rc 0
want_out_file "$tmp/edge.want"
want_err_lines 1
want_err_fixed "footprint: 10 rows: 5 contained, 0 nearest, 0 none, 5 invalid (2 missing, 1 not numbers, 2 out of range or swapped; first at line 6), 1 blank line kept, 1 short row padded, 1 row longer than the header"
done_ "CSV edge cases: BOM, CRLF, quotes, embedded newline, blank line, short/long rows, bad values kept and flagged"

# Every block edge, every thread count: the same bytes.
run $L "$tmp/edge.csv" --tiers system --fields code,match --threads 3 --block-size 8
want_rc 0
want_out_file "$tmp/edge.want"
done_ "CSV edge cases with 8-byte blocks on 3 threads: identical"

printf 'a;lat;lon\nx;50.5;1.5\n' > "$tmp/semi.csv"
run $L "$tmp/semi.csv" --tiers system --delimiter ';'
want_rc 0
want_out_re '^a;lat;lon;system_code;system_name;system_match;system_distance_m$'
want_out_re '^x;50.5;1.5;B2;Beta, the second;contained;0$'
done_ "locate --delimiter ';': fields split and written with ';' (a name with ',' unquoted)"

printf 'a\tlat\tlon\nx\t50.5\t0.5\n' > "$tmp/tab.csv"
run $L "$tmp/tab.csv" --tiers system --delimiter tab --fields code
want_rc 0
want_out_re "^x${tab}50.5${tab}0.5${tab}A1\$"
done_ "locate --delimiter tab"

printf 'Station,LATITUDE , Longitude\nx,50.5,0.5\n' > "$tmp/names.csv"
run $L "$tmp/names.csv" --tiers system --fields code
want_rc 0
want_out_re '^x,50.5,0.5,A1$'
done_ "column names found in any case, with spaces"

printf 'name,north,east\nx,50.5,0.5\n' > "$tmp/cols.csv"
run $L "$tmp/cols.csv" --tiers system --fields code --lat-column north --lon-column 3
want_rc 0
want_out_re '^x,50.5,0.5,A1$'
done_ "locate --lat-column NAME --lon-column NUMBER"

run $L "$tmp/cols.csv" --tiers system
want_error 2 "no coordinate columns"
done_ "no coordinate or postcode columns: exit 2 naming what was looked for"

run $L "$tmp/cols.csv" --lat-column nope --lon-column east
want_error 2 "no column 'nope'"
done_ "locate --lat-column of a column that does not exist: exit 2"

printf 'id,lat\n1,50\n' > "$tmp/half.csv"
run $L "$tmp/half.csv"
want_error 2 "latitude column but no longitude"
done_ "a latitude column without a longitude: exit 2"

printf 'id,x,y\n1,0.5,50.5\n' > "$tmp/xy.csv"
run $L "$tmp/xy.csv"
want_error 2 "--crs"
done_ "x/y columns without --crs: exit 2 asking for it"

run $L "$tmp/xy.csv" --crs EPSG:4326 --tiers system --fields code
want_rc 0
want_out_re '^1,0.5,50.5,A1$'
done_ "x/y with --crs EPSG:4326: x is the longitude"

: > "$tmp/empty.csv"
run $L "$tmp/empty.csv"
want_error 3 "empty.csv: empty input"
done_ "empty input: exit 3"

printf 'id,lat,long\n' > "$tmp/header.csv"
run $L "$tmp/header.csv" --tiers system
want_rc 0
want_out_re '^id,lat,long,system_code,system_name,system_match,system_distance_m$'
want_err_re '0 rows'
done_ "a header alone: the header out, 0 rows"

# ---- order, count, threads --------------------------------------------------------

awk 'BEGIN {
    print "seq,lat,long,label"
    s = 7
    for (i = 1; i <= 30000; i++) {
        s = (s * 1103515245 + 12345) % 2147483648
        lat = 49.8 + (s % 14000) / 10000; lon = -0.2 + ((s / 14000) % 24000) / 10000
        if (i % 97 == 0) printf "%d,,,missing\n", i
        else if (i % 89 == 0) printf "%d,%.5f,%.5f,\"quoted, with\nnewline\"\n", i, lat, lon
        else if (i % 83 == 0) printf "%d,x%.5f,%.5f,bad\n", i, lat, lon
        else printf "%d,%.5f,%.5f,p\n", i, lat, lon
    }
}' > "$tmp/many.csv"
run $L "$tmp/many.csv" --threads 1 --nearest 5000 --block-size 4096
cp "$out" "$tmp/many.1"
want_rc 0
rows=$(awk -F, 'NR > 1 && $1 ~ /^[0-9]+$/ {print $1}' "$out" | awk 'BEGIN {ok = 1} {if ($1 != NR) ok = 0} END {print ok, NR}')
[ "$rows" = "1 30000" ] || fail "rows out of order or missing: $rows"
want_err_re '^footprint: 30000 rows: '
done_ "30000 rows on one thread: every row, in order"

for t in 2 4 7; do
    run $L "$tmp/many.csv" --threads $t --nearest 5000 --block-size $((t * 1000 + 17))
    want_rc 0
    want_out_file "$tmp/many.1"
    done_ "30000 rows on $t threads, other block edges: identical to one thread"
done

gzip -c "$tmp/many.csv" > "$tmp/many.csv.gz"
run $L "$tmp/many.csv.gz" --nearest 5000
want_rc 0
want_out_file "$tmp/many.1"
done_ "gzip input file: identical to the plain file"

run_in "$tmp/many.csv.gz" $L --nearest 5000
want_rc 0
want_out_file "$tmp/many.1"
done_ "gzip on standard input: identical"

cat "$tmp/many.csv.gz" "$tmp/many.csv.gz" > "$tmp/twice.csv.gz"
run $L "$tmp/twice.csv.gz" --tiers system --quiet
want_rc 0
l=$(wc -l < "$out" | tr -d ' ')
[ "$l" -gt 60000 ] || fail "$l lines from two gzip members"
done_ "two concatenated gzip members: both read"

# ---- output files and failures ------------------------------------------------------

run $L "$tmp/many.csv" --nearest 5000 --out "$tmp/o.csv"
want_rc 0
want_out_empty
cmp -s "$tmp/o.csv" "$tmp/many.1" || fail "--out differs from stdout"
want_no_file "$tmp/o.csv.x"
ls "$tmp" | grep -q 'o\.csv\.tmp' && fail "temporary file left"
done_ "locate --out FILE: the same bytes, no temporary left"

printf 'id,lat,long\n1,50.5,0.5\n2,"50.5\n3,50.5,0.5\n' > "$tmp/trunc.csv"
echo "old" > "$tmp/keep.csv"
run $L "$tmp/trunc.csv" --out "$tmp/keep.csv"
want_error 3 "trunc.csv: line 3: unterminated quoted field"
[ "$(cat "$tmp/keep.csv")" = old ] || fail "the old output file changed"
ls "$tmp" | grep -q 'keep\.csv\.tmp' && fail "temporary file left"
done_ "truncated input (open quote at the end): exit 3 naming file and line, output path untouched"

run $L "$tmp/trunc.csv" --out "$tmp/new.csv"
want_error 3 "line 3"
want_no_file "$tmp/new.csv"
done_ "truncated input: nothing at a new output path"

head -c 3000 "$tmp/many.csv.gz" > "$tmp/cut.csv.gz"
run $L "$tmp/cut.csv.gz" --out "$tmp/cut.out"
want_error 3 "cut.csv.gz: gzip data truncated"
want_no_file "$tmp/cut.out"
done_ "truncated gzip file: exit 3, nothing at the output path"

run $L "$tmp/nope.csv"
want_error 3 "nope.csv: No such file"
done_ "missing input file: exit 3 naming it"

run $L "$tmp/many.csv" --out "$tmp/no/dir/o.csv"
want_error 3 "$tmp/no/dir/o.csv"
done_ "output in a missing directory: exit 3 naming it"

run "$FP" --data "$tmp/nowhere" locate "$tmp/one.csv"
want_error 3 "no compiled atlas in $tmp/nowhere.*footprint build"
done_ "no atlas: exit 3 telling the user to run 'footprint build'"

if [ -w /dev/full ]; then
    "$FP" --data "$syn" locate --catalogue "$tmp/syn.csv" "$tmp/many.csv" > /dev/full 2> "$err"
    rc=$? why=
    want_rc 3
    want_err_re '^footprint: .*No space'
    done_ "a full disk on stdout: exit 3"
else
    skip "a full disk on stdout: exit 3" "no /dev/full"
fi

# ---- the light binary and footprint-geo -----------------------------------------------

if [ -n "${FP_SANITIZED_RUN:-}" ]; then
    # LeakSanitizer cannot run under ptrace.
    skip "latitude/longitude input runs in the light binary" "sanitized run"
elif command -v strace > /dev/null 2>&1 && strace -f -o /dev/null true 2> /dev/null; then
    strace -f -qq -e trace=openat,execve -o "$tmp/trace" $L "$tmp/basic.csv" > "$out" 2> "$err"
    rc=$? why=
    want_rc 0
    grep -q 'execve(.*footprint-geo' "$tmp/trace" && fail "footprint-geo was run"
    grep -Eq 'libgdal|libproj' "$tmp/trace" && fail "GDAL or PROJ was loaded"
    done_ "latitude/longitude input runs in the light binary (no GDAL, no PROJ)"
else
    skip "latitude/longitude input runs in the light binary" "no strace"
fi

# British National Grid: PROJ in footprint-geo, the same transform as which.
printf 'ref,easting,northing\na,600000,100000\nb,660000,100000\nc,,\nd,800000,140000\n' > "$tmp/bng.csv"
run $L "$tmp/bng.csv" --tiers system --fields code
want_rc 0
got_a=$(awk -F, '$1 == "a" {print $4}' "$out")
got_b=$(awk -F, '$1 == "b" {print $4}' "$out")
want_out_re '^c,,,$'
want_out_re '^d,800000,140000,$'
cp "$out" "$tmp/bng.out"
run "$FP" --data "$syn" which --catalogue "$tmp/syn.csv" --edition sq --easting 600000 --northing 100000
wa=$(cut -f1 "$out")
run "$FP" --data "$syn" which --catalogue "$tmp/syn.csv" --edition sq --easting 660000 --northing 100000
wb=$(cut -f1 "$out")
[ "$got_a.$got_b" = A1.B2 ] || fail "located as '$got_a' and '$got_b', want A1 and B2"
[ "$got_a" = "$wa" ] || fail "a: locate '$got_a', which '$wa'"
[ "$got_b" = "$wb" ] || fail "b: locate '$got_b', which '$wb'"
done_ "easting/northing columns: transformed as 'which --easting' does; off-grid invalid"

run_in "$tmp/bng.csv" $L --tiers system --fields code
want_rc 0
want_out_file "$tmp/bng.out"
done_ "easting/northing on standard input: handed to footprint-geo with what was read"

cat "$tmp/bng.csv" | $L --tiers system --fields code > "$out" 2> "$err"
rc=$? why=
want_rc 0
want_out_file "$tmp/bng.out"
done_ "easting/northing through a pipe: replayed to footprint-geo, identical"

gzip -c "$tmp/bng.csv" | $L --tiers system --fields code > "$out" 2> "$err"
rc=$? why=
want_rc 0
want_out_file "$tmp/bng.out"
done_ "gzip easting/northing through a pipe: identical"

printf 'ref,x,y\na,600000,100000\n' > "$tmp/xybng.csv"
run $L "$tmp/xybng.csv" --tiers system --fields code --crs EPSG:27700
want_rc 0
want_out_re "^a,600000,100000,$got_a\$"
done_ "x/y with --crs EPSG:27700: as easting/northing"

run $L "$tmp/xybng.csv" --crs EPSG:999999
want_error 2 "EPSG:999999"
done_ "an unknown --crs: exit 2 naming it"

# ---- OGR outputs ------------------------------------------------------------------------

if command -v ogrinfo > /dev/null 2>&1; then
    for f in gpkg geojson fgb; do
        run $L "$tmp/edge.csv" --tiers system --format $f --out "$tmp/p.$f"
        want_rc 0
        want_out_empty
        ogrinfo -ro -al -so "$tmp/p.$f" > "$tmp/info" 2>&1 || fail "ogrinfo cannot read it"
        cnt=$(sed -n 's/^Feature Count: //p' "$tmp/info")
        if [ $f = fgb ]; then
            [ "$cnt" = 5 ] || fail "$cnt features, want the 5 with a point"
            want_err_re '5 rows without a point left out'
        else
            [ "$cnt" = 10 ] || fail "$cnt features, want 10"
            grep -q 'Open Government\|a test' "$tmp/info" || [ $f = fgb ] ||
                grep -q 'Source: a test' "$tmp/p.$f" || fail "no attribution"
        fi
        grep -q 'system_distance_m: Real' "$tmp/info" || fail "distance is not a real"
        grep -q 'EPSG.*4326\|WGS 84' "$tmp/info" || fail "not WGS84"
        ls "$tmp" | grep -q "p\.$f\.tmp" && fail "temporary file left"
        done_ "locate --format $f: points with every column, readable by OGR"
    done
    ogrinfo -ro -al "$tmp/p.gpkg" > "$tmp/info" 2>&1
    grep -q 'id (String) = two' "$tmp/info" || fail "embedded newline lost"
    grep -q 'system_name (String) = Alpha "one"' "$tmp/info" || fail "name lost"
    grep -q 'POINT (1.5 50.5)' "$tmp/info" || fail "no POINT (1.5 50.5)"
    done_ "gpkg attributes unescaped, points lon/lat"
else
    skip "locate --format gpkg/geojson/fgb" "no ogrinfo"
fi

run $L "$tmp/basic.csv" --tiers system --format geojson
want_rc 0
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["features"])==4, d; assert d["features"][1]["properties"]["system_code"]=="B2"; assert "a test" in d["description"]' "$out" 2> "$tmp/py" ||
    fail "not the GeoJSON expected: $(tail -1 "$tmp/py")"
done_ "locate --format geojson to stdout: valid GeoJSON, attribution in description"

run $L "$tmp/trunc.csv" --format gpkg --out "$tmp/t.gpkg"
want_error 3 "line 3"
want_no_file "$tmp/t.gpkg"
ls "$tmp" | grep -q 't\.gpkg' && fail "a file was left: $(ls "$tmp" | grep 't\.gpkg')"
done_ "truncated input with --format gpkg: exit 3, no file at all"

# ---- postcodes --------------------------------------------------------------------------

cat > "$tmp/pcs.csv" <<'EOF'
pcds,lat,long
AB1 2CD,50.5,0.5
EF3 4GH,50.5,1.5
EOF
if "$FP" postcodes import "$tmp/pcs.csv" --out "$tmp/pcs.fpi" > /dev/null 2>&1; then
    printf 'ref,Postcode\n1,ab12cd\n2," EF3  4GH "\n3,ZZ9 9ZZ\n4,not a postcode\n5,\n' > "$tmp/pin.csv"
    run $L "$tmp/pin.csv" --tiers system --fields code,match --postcodes "$tmp/pcs.fpi" \
        --postcode-column postcode
    want_rc 0
    want_out_re '^1,ab12cd,A1,contained$'
    want_out_re '^2," EF3  4GH ",B2,contained$'
    want_out_re '^3,ZZ9 9ZZ,,unknown$'
    want_out_re '^4,not a postcode,,invalid$'
    want_out_re '^5,,,invalid$'
        want_err_fixed "5 rows: 2 contained, 0 nearest, 0 none, 2 invalid (1 missing, 1 malformed postcodes; first at line 5), 1 unknown postcode (first at line 4)"
    done_ "locate --postcode-column: normalised, unknown and malformed flagged"

    { printf 'ref,pcds\n'; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        echo; done; echo '1,AB1 2CD'; echo; } > "$tmp/pblank.csv"
    run $L "$tmp/pblank.csv" --tiers system --fields code --postcodes "$tmp/pcs.fpi" \
        --block-size 16 --threads 3
    want_rc 0
    l=$(wc -l < "$out" | tr -d ' ')
    [ "$l" = 23 ] || fail "$l lines, want 23"
    want_out_re '^1,AB1 2CD,A1$'
    want_err_re '1 row: 1 contained.*21 blank lines kept'
    done_ "postcodes after many blank lines, small blocks: blank lines kept, the postcode found"

    run $L "$tmp/pin.csv" --tiers system --fields code --postcodes "$tmp/pcs.fpi"
    want_rc 0
    want_out_re '^1,ab12cd,A1$'
    done_ "a postcode column found by name when there are no coordinates"

    run $L "$tmp/pin.csv" --postcodes "$tmp/nope.fpi" --postcode-column postcode
    want_error 3 "nope.fpi"
    done_ "--postcodes FILE that does not exist: exit 3 naming it"
else
    skip "locate --postcode-column" "footprint postcodes import failed"
fi

# ---- real data ----------------------------------------------------------------------------

pc="$DATA/postcodes/postcodes_latlon_gb_nspl_may2025.csv.gz"
if ! nodata "real data: 2630 NSPL postcodes, locate agrees with which on each sampled point"; then
    "$FP" --data "$DATA" build --edition icb2023 --edition nhser2024 --out "$tmp/real.atlas" \
        > /dev/null 2>&1 || fail "cannot build a real atlas"
    gzip -dc "$pc" | awk 'NR == 1 || NR % 1000 == 0' > "$tmp/nspl.csv"
    run "$FP" --data "$DATA" locate --atlas "$tmp/real.atlas" "$tmp/nspl.csv" --edition icb2023 \
        --fields code,match
    want_rc 0
    l=$(wc -l < "$out" | tr -d ' ')
    [ "$l" = 2631 ] || fail "$l lines, want 2631"
    cp "$out" "$tmp/nspl.out"
    # Every 100th: the same answer as which.
    for row in $(awk -F, 'NR > 1 && NR % 100 == 2 {print NR}' "$tmp/nspl.out"); do
        line=$(sed -n "${row}p" "$tmp/nspl.out")
        lat=$(echo "$line" | cut -d, -f2) lon=$(echo "$line" | cut -d, -f3)
        code=$(echo "$line" | cut -d, -f4)
        w=$("$FP" --data "$DATA" which --atlas "$tmp/real.atlas" --edition icb2023 \
            --lat "$lat" --lon "$lon" 2> /dev/null | cut -f1)
        [ "$w" = "$code" ] || fail "row $row ($lat, $lon): locate '$code', which '$w'"
    done
    grep -q ',E54000061,contained$' "$tmp/nspl.out" || fail "no South Yorkshire postcode"
    done_ "real data: 2630 NSPL postcodes, locate agrees with which on each sampled point"
fi
