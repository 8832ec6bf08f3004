#!/bin/sh
# cli.sh — the footprint command line, end to end: real ONS facts, help and
# version, usage errors (exit 2), data errors (exit 3), the boundary rule on
# a tiny hand-made footprint set, and stdout write failures.  Prints TAP.
#
#   FOOTPRINT=build/footprint BUILD=build FOOTPRINT_TEST_DATA=../shared/geodata \
#       sh tests/cli.sh
#
# Checks that need the ONS mirror ($FOOTPRINT_TEST_DATA/boundaries) are
# skipped without it, or fail under CI=true.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.shlib"
tap_cli fp-cli
tap_python

# ---- helpers (the rest in tap.shlib) -----------------------------------------

# json_ok PYTHON: stdout parses as JSON into d and PYTHON (an expression)
# holds.
json_ok() {
    if [ "$have_py" = 0 ]; then
        grep -q '^{' "$out" || fail "stdout is not a JSON object"
        return
    fi
    "$py" -S -c 'import json,sys
d = json.load(sys.stdin)
sys.exit(0 if ('"$1"') else 1)' < "$out" 2> "$tmp/pyerr" || fail "JSON check failed: $1"
}

# which_real DESCRIPTION WANT-STDOUT ARGS...: a real-data point query that
# must answer WANT-STDOUT with exit 0 and nothing on stderr.
which_real() {
    d=$1 w=$2
    shift 2
    nodata "$d" && return
    # One edition's answer: the default edition unless the check names one
    # (without --edition, which prints the whole chain; checked below).
    case " $* " in *" --edition "*) run "$FP" which --data "$DATA" "$@" ;;
    *) run "$FP" which --data "$DATA" --edition icb2026 "$@" ;; esac
    want_rc 0
    want_out "$w"
    want_err_empty
    done_ "$d"
}

# ---- 1. real facts -----------------------------------------------------------

SY="E54000061${tab}NHS South Yorkshire Integrated Care Board"
NENC="E54000050${tab}NHS North East and North Cumbria Integrated Care Board"
NOTTS="E54000060${tab}NHS Nottingham and Nottinghamshire Integrated Care Board"
SYB="E54000009${tab}South Yorkshire and Bassetlaw"

which_real "Sheffield 53.381,-1.470 is in NHS South Yorkshire ICB (default edition)" \
    "$SY" --lat 53.381 --lon -1.470
which_real "Sheffield on --edition icb2026" "$SY" --lat 53.381 --lon -1.470 --edition icb2026
which_real "Newcastle 54.978,-1.614 is in NHS North East and North Cumbria ICB" \
    "$NENC" --lat 54.978 --lon -1.614
which_real "Worksop 53.30,-1.12 is in Nottingham and Nottinghamshire on icb2023" \
    "$NOTTS" --lat 53.30 --lon -1.12 --edition icb2023
which_real "Worksop is in South Yorkshire and Bassetlaw on stp2021" \
    "$SYB" --lat 53.30 --lon -1.12 --edition stp2021
which_real "Worksop is in South Yorkshire and Bassetlaw on stp2017" \
    "$SYB" --lat 53.30 --lon -1.12 --edition stp2017
which_real "Chelmsford 51.736,0.469 is in NHS Essex (E54000066) on icb2026" \
    "E54000066${tab}NHS Essex Integrated Care Board" --lat 51.736 --lon 0.469 --edition icb2026
which_real "Chelmsford is in Mid and South Essex (E54000026) on icb2023" \
    "E54000026${tab}NHS Mid and South Essex Integrated Care Board" \
    --lat 51.736 --lon 0.469 --edition icb2023
which_real "BNG --easting 435000 --northing 387000 is in NHS South Yorkshire ICB" \
    "$SY" --easting 435000 --northing 387000
which_real "BNG 435000,387000 is in South Yorkshire and Bassetlaw on stp2017" \
    "$SYB" --easting 435000 --northing 387000 --edition stp2017

d="which --json: valid JSON with match, code, name and the OGL attribution"
if ! nodata "$d"; then
    run "$FP" which --data "$DATA" --edition icb2026 --lat 53.381 --lon -1.470 --json
    want_rc 0
    want_err_empty
    json_ok 'd["match"] == "contained" and d["code"] == "E54000061"
        and d["name"] == "NHS South Yorkshire Integrated Care Board"
        and "Open Government Licence" in d["attribution"]
        and d["distance_m"] == 0 and abs(d["lat"] - 53.381) < 1e-9'
    # The default edition is the ICB edition in force today.
    if [ "$(date -u +%Y%m%d)" -ge 20260401 ]; then
        json_ok 'd["edition"] == "icb2026" and d["level"] == "icb"'
    fi
    done_ "$d"
fi

d="which --json with --easting/--northing echoes the grid point"
if ! nodata "$d"; then
    run "$FP" which --data "$DATA" --easting 435000 --northing 387000 --json --edition icb2023
    want_rc 0
    want_err_empty
    json_ok 'd["edition"] == "icb2023" and d["code"] == "E54000061"
        and d["easting"] == 435000 and d["northing"] == 387000
        and abs(d["lat"] - 53.3787) < 0.001 and abs(d["lon"] + 1.4753) < 0.001'
    done_ "$d"
fi

d="a North Sea point 54.5,1.5: exit 1, empty stdout, one-line stderr"
if ! nodata "$d"; then
    run "$FP" which --data "$DATA" --edition icb2026 --lat 54.5 --lon 1.5
    want_rc 1
    want_out_empty
    want_err_lines 1
    want_err_re '^footprint: no [a-z0-9]+ footprint contains 54\.5'
    done_ "$d"
fi

d="North Sea point with --json: exit 1, match none, code null"
if ! nodata "$d"; then
    run "$FP" which --data "$DATA" --lat 54.5 --lon 1.5 --json --edition icb2023
    want_rc 1
    json_ok 'd["match"] == "none" and d["code"] is None and d["name"] is None
        and d["distance_m"] is None'
    want_err_re '^footprint: no icb2023 footprint'
    done_ "$d"
fi

d="North Sea point with --nearest 200000: Humber and North Yorkshire, nearest, distance"
if ! nodata "$d"; then
    run "$FP" which --data "$DATA" --lat 54.5 --lon 1.5 --nearest 200000 --edition icb2026
    want_rc 0
    want_err_empty
    want_out_lines 1
    want_out_re "^E54000051${tab}NHS Humber and North Yorkshire Integrated Care Board${tab}nearest${tab}[0-9]+ m\$"
    dist=$(cut -f4 "$out" | sed 's/ m$//')
    case $dist in
    '' | *[!0-9]*) fail "no distance in metres" ;;
    *) [ "$dist" -gt 50000 ] && [ "$dist" -lt 200000 ] ||
        fail "distance $dist m not in 50..200 km" ;;
    esac
    done_ "$d"
fi

d="North Sea point with --nearest 200000 --json: match nearest and distance_m"
if ! nodata "$d"; then
    run "$FP" which --data "$DATA" --edition icb2026 --lat 54.5 --lon 1.5 --nearest 200000 --json
    want_rc 0
    json_ok 'd["match"] == "nearest" and d["code"] == "E54000051"
        and 50000 < d["distance_m"] < 200000'
    done_ "$d"
fi

d="North Sea point with --nearest 1000 (too short): exit 1, 'within reach'"
if ! nodata "$d"; then
    run "$FP" which --data "$DATA" --edition icb2026 --lat 54.5 --lon 1.5 --nearest 1000
    want_rc 1
    want_out_empty
    want_err_lines 1
    want_err_re '^footprint: no [a-z0-9]+ footprint within reach of 54\.5'
    done_ "$d"
fi

d="Tees estuary 54.6,-1.0 is outside every ICB without --nearest"
if ! nodata "$d"; then
    run "$FP" which --data "$DATA" --edition icb2026 --lat 54.6 --lon -1.0
    want_rc 1
    want_out_empty
    want_err_re '^footprint: no '
    done_ "$d"
fi

d="Tees estuary 54.6,-1.0 --nearest 5000: NHS North East and North Cumbria, nearest"
if ! nodata "$d"; then
    run "$FP" which --data "$DATA" --edition icb2026 --lat 54.6 --lon -1.0 --nearest 5000
    want_rc 0
    want_err_empty
    want_out_lines 1
    want_out_re "^${NENC}${tab}nearest${tab}[0-9]+ m\$"
    dist=$(cut -f4 "$out" | sed 's/ m$//')
    case $dist in
    '' | *[!0-9]*) fail "no distance" ;;
    *) [ "$dist" -gt 0 ] && [ "$dist" -le 5000 ] || fail "distance $dist not in 1..5000 m" ;;
    esac
    done_ "$d"
fi

d="FOOTPRINT_DATA and the global --data option both choose the data directory"
if ! nodata "$d"; then
    run env FOOTPRINT_DATA="$DATA" "$FP" which --edition icb2026 --lat 54.978 --lon -1.614
    want_rc 0
    want_out "$NENC"
    r1=$why
    run "$FP" --data "$DATA" which --edition icb2026 --lat 54.978 --lon -1.614
    want_rc 0
    want_out "$NENC"
    why="$r1${r1:+${why:+; }}$why"
    done_ "$d"
fi

# ---- 1b. chains, timelines and members (the atlas issue's facts) ------------

d="which without --edition prints the chain: Worksop in 2019 is SYB, place Bassetlaw"
if ! nodata "$d"; then
    run "$FP" which --data "$DATA" --lat 53.30 --lon -1.12 --date 2019-06-01
    want_rc 0
    grep -q "^system${tab}E54000009${tab}South Yorkshire and Bassetlaw${tab}stp2017" "$out" || fail "no SYB system line"
    grep -q "^place${tab}E54000009-BASSETLAW${tab}Bassetlaw${tab}icp" "$out" || fail "no Bassetlaw place line"
    [ "$(wc -l < "$out")" = 6 ] || fail "want 6 tier lines"
    done_ "$d"
fi

d="which --date 2023-01-01: Worksop is Nottingham and Nottinghamshire ICB, no SYB place"
if ! nodata "$d"; then
    run "$FP" which --data "$DATA" --lat 53.30 --lon -1.12 --date 2023-01-01
    want_rc 0
    grep -q "^system${tab}E54000060${tab}" "$out" || fail "no N&N system line"
    grep -q "^place${tab}-" "$out" || fail "a place after 2022-06-30"
    done_ "$d"
fi

d="which --date 2019-06-01 --json: Sheffield's place is Sheffield, statuses attached"
if ! nodata "$d"; then
    run "$FP" which --data "$DATA" --lat 53.381 --lon -1.470 --date 2019-06-01 --json
    want_rc 0
    json_ok 'd["date"] == "2019-06-01" and [k for k in d["chain"] if k["tier"] == "place"][0]["code"] == "E54000009-SHEFFIELD" and "ics" in [k for k in d["chain"] if k["tier"] == "system"][0]["status"]'
    done_ "$d"
fi

d="which --date 2026-13-01 is a usage error"
run "$FP" which --data "$DATA" --lat 53.30 --lon -1.12 --date 2026-13-01
want_rc 2
done_ "$d"

d="timeline: Worksop in SYB (place Bassetlaw) to 2022-06-30, Nottingham and Nottinghamshire from 2022-07-01"
if ! nodata "$d"; then
    run "$FP" timeline --data "$DATA" --lat 53.30 --lon -1.12
    want_rc 0
    grep -q "${tab}2022-06-30${tab}.*${tab}E54000009${tab}South Yorkshire and Bassetlaw${tab}.*E54000009-BASSETLAW${tab}Bassetlaw" "$out" || fail "no SYB/Bassetlaw period ending 2022-06-30"
    grep -q "^2022-07-01${tab}.*${tab}E54000060${tab}" "$out" || fail "no N&N period from 2022-07-01"
    grep -q "^2017-02-01${tab}" "$out" || fail "timeline does not start 2017-02-01"
    done_ "$d"
fi

d="members E54000009: the five SYB places with their CCGs, to 2022-06-30"
run "$FP" members E54000009
want_rc 0
[ "$(grep -c "${tab}icp${tab}ccg2021${tab}" "$out")" = 5 ] || fail "want 5 place rows"
grep -q "^E54000009-SHEFFIELD${tab}icp${tab}ccg2021${tab}E38000146${tab}.*${tab}2022-06-30${tab}" "$out" || fail "no Sheffield row"
done_ "$d"

d="members of an unknown code: exit 1"
run "$FP" members E99999999
want_rc 1
done_ "$d"

d="build: a membership edition whose siblings overlap is refused, naming the table and both codes; no atlas left"
if ! nodata "$d"; then
    mkdir -p "$tmp/ovl/members"
    printf 'id,level,name,valid_from,valid_to,path,layer,code_field,name_field,vintage,attribution,members\nccg2021,ccg,CCG,2021-04-01,,boundaries/ccg_2021_buc.geojson,,CCG21CD,CCG21NM,2021,a,\nx,icp,X,2020-01-01,,,,,,2021,a,members/x.csv\n' > "$tmp/ovl/editions.csv"
    printf 'code,name,ods_code,member_edition,member_code,clip_edition,clip_code,valid_from,valid_to,source\nA,A,,ccg2021,E38000006,,,,,s\nA,A,,ccg2021,E38000146,,,,,s\nB,B,,ccg2021,E38000146,,,,,s\n' > "$tmp/ovl/members/x.csv"
    run "$FP" build --data "$DATA" --catalogue "$tmp/ovl/editions.csv" --edition x --out "$tmp/ovl/x.atlas"
    want_rc 3
    grep -q "members/x.csv: footprints A and B overlap" "$err" || fail "message does not name the table and both footprints"
    [ ! -e "$tmp/ovl/x.atlas" ] || fail "an atlas was written"
    done_ "$d"
fi

d="list --level icp: the nine places; --level stp --date 2019-06-01: the 44 STPs of 2017"
if ! nodata "$d"; then
    run "$FP" list --data "$DATA" --level icp
    want_rc 0
    [ "$(wc -l < "$out")" = 9 ] || fail "want 9 places"
    grep -q "^E54000009-SHEFFIELD${tab}Sheffield$" "$out" || fail "no Sheffield place"
    run "$FP" list --data "$DATA" --level stp --date 2019-06-01
    want_rc 0
    [ "$(wc -l < "$out")" = 44 ] || fail "want 44 STPs in 2019"
    done_ "$d"
fi

# ---- 2. list -----------------------------------------------------------------

for pair in icb2023:42 stp2017:44 icb2026:36 stp2021:42 icb2022:42; do
    ed=${pair%:*} cnt=${pair#*:}
    d="list --edition $ed prints $cnt footprints in code order, count on stderr"
    nodata "$d" && continue
    run "$FP" list --data "$DATA" --edition "$ed"
    want_rc 0
    want_out_lines "$cnt"
    bad=$(grep -Evc "^E54[0-9]{6}${tab}[^${tab}]+\$" "$out")
    [ "$bad" = 0 ] || fail "$bad lines are not CODE<TAB>NAME"
    cut -f1 "$out" | LC_ALL=C sort -uc 2>/dev/null || fail "codes not in strict code order"
    want_err_lines 1
    want_err_re "^$cnt footprints in $ed "
    done_ "$d"
done

d="list --json parses; count = number of footprints = 42 (icb2023)"
if ! nodata "$d"; then
    run "$FP" list --data "$DATA" --edition icb2023 --json
    want_rc 0
    json_ok 'd["edition"] == "icb2023" and d["count"] == 42
        and len(d["footprints"]) == 42
        and len({f["code"] for f in d["footprints"]}) == 42
        and all(f["code"].startswith("E54") and f["name"] for f in d["footprints"])
        and "Open Government Licence" in d["attribution"]'
    want_err_re '^42 footprints in icb2023 '
    done_ "$d"
fi

d="list --json --edition stp2017: count 44 and Sheffield's STP listed"
if ! nodata "$d"; then
    run "$FP" list --data "$DATA" --edition stp2017 --json
    want_rc 0
    json_ok 'd["count"] == 44 == len(d["footprints"])
        and {"code": "E54000009", "name": "South Yorkshire and Bassetlaw"} in d["footprints"]'
    done_ "$d"
fi

# ---- 3. editions, help, version ------------------------------------------------

run "$FP" editions
want_rc 0
want_err_empty
got=$(cut -f1 "$out" | head -5 | tr '\n' ' ')
[ "$got" = "icb2026 icb2023 icb2022 stp2021 stp2017 " ] || fail "first ids are '$got'"
bad=$(awk -F'\t' 'NF != 6' "$out" | wc -l | tr -d ' ')
[ "$bad" = 0 ] || fail "$bad lines without 6 tab-separated fields"
want_out_re "^icb2026${tab}icb${tab}2026-04-01${tab}${tab}Integrated Care Boards \\(April 2026\\)${tab}boundaries/icb_2026_bsc\\.geojson\$"
want_out_re "^stp2017${tab}stp${tab}2017-02-01${tab}2021-03-31${tab}"
done_ "editions lists icb2026, icb2023, icb2022, stp2021, stp2017 with dates and paths"

run "$FP" editions --json
want_rc 0
json_ok '[e["id"] for e in d][:5] == ["icb2026", "icb2023", "icb2022", "stp2021", "stp2017"]
    and d[0]["valid_to"] is None and d[1]["valid_to"] == "2026-03-31"'
done_ "editions --json parses (valid_to null while in force)"

# help TEXT-ARGS | WORDS: stdout, exit 0, stderr empty, mentions every word.
help_check() {
    d=$1 words=$2
    shift 2
    run "$FP" "$@"
    want_rc 0
    want_err_empty
    for w in $words; do
        grep -Fq -- "$w" "$out" || fail "help lacks '$w'"
    done
    done_ "$d"
}
help_check "footprint --help on stdout names the commands and options" \
    "Usage: which list editions --help --version --data" --help
help_check "footprint -h is the same help" "Usage: which list editions" -h
help_check "footprint help (no command) prints the main help" "Usage: which list editions" help
help_check "which --help names every option" \
    "Usage: --lat --lon --easting --northing --edition --nearest --json --data --catalogue --help" \
    which --help
help_check "list --help names its options" \
    "Usage: --edition --json --data --catalogue --help" list --help
help_check "editions --help names its options" "Usage: --json --catalogue --help" editions --help
help_check "help which prints the which help" "--lat --lon --easting --northing --nearest" help which

"$FP" which --help > "$tmp/h1" 2>/dev/null
run "$FP" help which
cmp -s "$tmp/h1" "$out" || fail "'help which' differs from 'which --help'"
want_rc 0
want_out_re '^Usage: footprint which '
done_ "'help which' and 'which --help' print the same text"

run "$FP" which --help
want_out_re 'east'
want_out_re '[Ee]xit status'
done_ "which --help documents the boundary rule and exit statuses"

ver=$(sed -n 's/^#define FP_VERSION_STRING "\(.*\)"$/\1/p' "$here/../lib/include/footprint.h" 2>/dev/null)
run "$FP" --version
want_rc 0
want_err_empty
want_out_lines 1
want_out_re "^footprint ${ver:-[0-9]+\\.[0-9]+\\.[0-9]+}( |\$)"
done_ "--version prints 'footprint ${ver:-X.Y.Z}'"

# ---- 4. usage errors: exit 2 ------------------------------------------------------

E=$tmp/emptydata
mkdir -p "$E"
usage() { # DESCRIPTION RE ARGS...
    d=$1 re=$2
    shift 2
    run "$FP" "$@"
    want_usage "$re"
    done_ "$d"
}
usage "no command: usage error" "command" 
usage "unknown command 'frob'" "frob" frob
usage "unknown main option '--frob'" "--frob" --frob
usage "unknown which option '--frob' is named" "--frob" which --data "$E" --lat 53 --lon -1 --frob
usage "unknown list option '--frob' is named" "--frob" list --data "$E" --frob
usage "which --lat without its value" "--lat" which --data "$E" --lat
usage "unexpected argument to list" "unexpected argument 'extra'" list --data "$E" extra
usage "help for an unknown command" "frob" help frob
usage "which with no point" "give a point" which --data "$E"
usage "--lat without --lon" "--lat and --lon go together" which --data "$E" --lat 53.38
usage "--lon without --lat" "--lat and --lon go together" which --data "$E" --lon -1.47
usage "--easting without --northing" "--easting and --northing go together" \
    which --data "$E" --easting 435000
usage "both --lat/--lon and --easting/--northing" "not both" \
    which --data "$E" --lat 53.38 --lon -1.47 --easting 435000 --northing 387000
usage "--lat abc is not a number" "--lat: not a number: 'abc'" which --data "$E" --lat abc --lon -1.47
usage "--lon 1.5x is not a number" "--lon: not a number: '1\\.5x'" which --data "$E" --lat 53 --lon 1.5x
usage "--lat nan is refused" "finite" which --data "$E" --lat nan --lon -1.47
usage "--lat inf is refused" "finite" which --data "$E" --lat inf --lon -1.47
usage "--lat 91 is out of range" "latitude 91.*out of range" which --data "$E" --lat 91 --lon -1.47
usage "--lon 181 is out of range" "longitude 181 out of range" which --data "$E" --lat 53 --lon 181
usage "--lat -1.47 --lon 53.38 looks swapped" "swapped" which --data "$E" --lat -1.47 --lon 53.38
usage "--easting -5 is off the grid" "easting -5.*outside the British National Grid" \
    which --data "$E" --easting -5 --northing 100
usage "--easting 800000 is off the grid" "easting 800000.*outside the British National Grid" \
    which --data "$E" --easting 800000 --northing 100
usage "--northing abc is not a number" "--northing: not a number" \
    which --data "$E" --easting 1 --northing abc
usage "--nearest -1 is refused" "--nearest: .*-1" which --data "$E" --lat 53 --lon -1 --nearest -1
usage "--nearest nan is refused" "--nearest: .*nan" which --data "$E" --lat 53 --lon -1 --nearest nan
usage "unknown --edition lists the known ids (which)" \
    "unknown edition 'nope' \\(known: icb2026, icb2023, icb2022, stp2021, stp2017" \
    which --data "$E" --lat 53.38 --lon -1.47 --edition nope
usage "unknown --edition lists the known ids (list)" \
    "unknown edition 'nope' \\(known: icb2026, .*stp2017" list --data "$E" --edition nope

# ---- 5. data errors: exit 3 --------------------------------------------------------

run "$FP" which --data "$E" --lat 53.381 --lon -1.470 --edition icb2023
want_rc 3
want_out_empty
want_err_fixed "$E/boundaries/icb_2023_bsc.geojson"
want_err_re '(--data|FOOTPRINT_DATA)'
want_err_re 'fetch'
bad=$(grep -vc '^footprint: ' "$err")
[ "$bad" = 0 ] || fail "$bad stderr lines without 'footprint: '"
done_ "--data on an empty directory: exit 3 naming the missing file and how to get data"

run "$FP" list --data "$E" --edition stp2017
want_rc 3
want_out_empty
want_err_fixed "$E/boundaries/stp_2017_buc.geojson"
done_ "list with --data on an empty directory: exit 3 naming the missing file"

# A data directory of hand-made files and a catalogue pointing at each.
T=$tmp/data
mkdir -p "$T/b"
sq() { # CODE NAME W S E N: a GeoJSON Feature, one square ring (anticlockwise)
    printf '{"type":"Feature","properties":{"CD":"%s","NM":"%s"},"geometry":{"type":"Polygon","coordinates":[[[%s,%s],[%s,%s],[%s,%s],[%s,%s],[%s,%s]]]}}' \
        "$1" "$2" "$3" "$4" "$5" "$4" "$5" "$6" "$3" "$6" "$3" "$4"
}
# Four 1-degree squares meeting at lon 1, lat 52, listed out of code order.
{
    printf '{"type":"FeatureCollection","features":[\n'
    sq E99000004 "North East" 1 52 2 53; printf ',\n'
    sq E99000001 "South West" 0 51 1 52; printf ',\n'
    sq E99000003 "North West" 0 52 1 53; printf ',\n'
    sq E99000002 "South East" 1 51 2 52; printf '\n]}\n'
} > "$T/b/grid.geojson"
# A 10 km BNG square around Sheffield with its CRS declared, and the same
# coordinates with no CRS member.
bng_sq=$(sq E99000009 "Grid Square" 430000 382000 440000 392000)
printf '{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::27700"}},"features":[%s]}\n' \
    "$bng_sq" > "$T/b/bng_crs.geojson"
printf '{"type":"FeatureCollection","features":[%s]}\n' "$bng_sq" > "$T/b/bng_nocrs.geojson"
: > "$T/b/empty.geojson"
LC_ALL=C awk 'BEGIN { srand(7); for (i = 0; i < 4096; i++) printf "%c", 1 + int(rand() * 255) }' \
    > "$T/b/random.geojson"
printf '{"type":"FeatureCollection","features":[{"type":"Fe' > "$T/b/truncated.geojson"
printf '{"type":"FeatureCollection","features":[%s,%s]}\n' \
    '{"type":"Feature","properties":{"CD":"E99000001","NM":"A"},"geometry":{"type":"Point","coordinates":[0.5,51.5]}}' \
    '{"type":"Feature","properties":{"CD":"E99000002","NM":"B"},"geometry":{"type":"Point","coordinates":[1.5,51.5]}}' \
    > "$T/b/points.geojson"
cp "$T/b/grid.geojson" "$T/b/unreadable.geojson"
chmod 000 "$T/b/unreadable.geojson"

C=$tmp/catalogue.csv
attr="Source: Office for National Statistics licensed under the Open Government Licence v.3.0"
{
    echo "id,level,name,valid_from,valid_to,path,layer,code_field,name_field,vintage,attribution"
    echo "grid,icb,Test grid,2000-01-01,,b/grid.geojson,,CD,NM,2024,$attr"
    echo "bngcrs,test,BNG with CRS,2000-01-01,,b/bng_crs.geojson,,CD,NM,2024,$attr"
    echo "bngnocrs,test,BNG without CRS,2000-01-01,,b/bng_nocrs.geojson,,CD,NM,2024,$attr"
    echo "empty,test,Empty file,2000-01-01,,b/empty.geojson,,CD,NM,2024,$attr"
    echo "random,test,Random bytes,2000-01-01,,b/random.geojson,,CD,NM,2024,$attr"
    echo "truncated,test,Truncated,2000-01-01,,b/truncated.geojson,,CD,NM,2024,$attr"
    echo "points,test,Points only,2000-01-01,,b/points.geojson,,CD,NM,2024,$attr"
    echo "nofield,test,Wrong code field,2000-01-01,,b/grid.geojson,,ICB23CD,NM,2024,$attr"
    echo "unreadable,test,Unreadable,2000-01-01,,b/unreadable.geojson,,CD,NM,2024,$attr"
    echo "missing,test,Missing,2000-01-01,,b/missing.geojson,,CD,NM,2024,$attr"
} > "$C"

tiny() { run "$FP" which --data "$T" --catalogue "$C" --edition grid "$@"; }
SW="E99000001${tab}South West" SE="E99000002${tab}South East"
NW="E99000003${tab}North West" NE="E99000004${tab}North East"

run "$FP" list --data "$T" --catalogue "$C" --edition grid
want_rc 0
want_out "$SW
$SE
$NW
$NE"
want_err_re '^4 footprints in grid \(Test grid\)$'
done_ "tiny data: list prints the 4 squares in code order"

tiny --lat 51.5 --lon 0.5
want_rc 0
want_out "$SW"
want_err_empty
done_ "tiny data: a point inside the south-west square"

tiny --lat 52.75 --lon 1.25 --json
want_rc 0
json_ok 'd["edition"] == "grid" and d["code"] == "E99000004" and d["name"] == "North East"
    and d["match"] == "contained" and d["attribution"].startswith("Source: Office")'
done_ "tiny data: --json for a point inside the north-east square"

tiny --lat 51.5 --lon 1
want_rc 0
want_out "$SE"
done_ "tiny data: a point on the shared north-south edge goes to the eastern square only"

tiny --lat 52 --lon 0.5
want_rc 0
want_out "$NW"
done_ "tiny data: a point on the shared east-west edge goes to the northern square"

tiny --lat 52 --lon 1
want_rc 0
want_out "$NE"
done_ "tiny data: the vertex shared by all four squares goes to the north-east one"

tiny --lat 51.5 --lon 0
want_rc 0
want_out "$SW"
done_ "tiny data: a point on the outer west edge belongs to the square east of it"

tiny --lat 51.5 --lon 2
want_rc 1
want_out_empty
want_err_re '^footprint: no grid footprint contains 51\.5'
done_ "tiny data: a point on the outer east edge belongs to no square (exit 1)"

tiny --lat 51.5 --lon 2.01 --nearest 2000
want_rc 0
want_out_re "^${SE}${tab}nearest${tab}[0-9]+ m\$"
dist=$(cut -f4 "$out" | sed 's/ m$//')
case $dist in
'' | *[!0-9]*) fail "no distance" ;;
*) [ "$dist" -ge 600 ] && [ "$dist" -le 750 ] || fail "distance $dist m, want about 693 m" ;;
esac
done_ "tiny data: --nearest 2000 just east of the grid answers the south-east square, ~693 m"

run env FOOTPRINT_DATA="$T" FOOTPRINT_CATALOGUE="$C" "$FP" which --lat 51.5 --lon 1.5
want_rc 0
# Without --edition the chain: its system tier is today's icb edition.
grep -q "^system${tab}${SE}${tab}grid${tab}" "$out" || fail "system tier is not $SE from edition grid"
done_ "tiny data: FOOTPRINT_DATA and FOOTPRINT_CATALOGUE; the chain's system tier is the icb edition"

run "$FP" which --data "$T" --catalogue "$C" --edition bngcrs --easting 435000 --northing 387000
want_rc 0
want_out "E99000009${tab}Grid Square"
want_err_empty
done_ "tiny data: a BNG GeoJSON that declares EPSG:27700 is reprojected and answers"

run "$FP" which --data "$T" --catalogue "$C" --edition bngcrs --lat 53.381 --lon -1.470
want_rc 0
want_out "E99000009${tab}Grid Square"
done_ "tiny data: the reprojected BNG square contains Sheffield by lat/lon"

data_err() { # DESCRIPTION EDITION FILE RE
    run "$FP" list --data "$T" --catalogue "$C" --edition "$2"
    want_data_error "$3" "$4"
    done_ "$1"
}
data_err "empty boundary file: exit 3 naming it" empty "$T/b/empty.geojson" 'empty'
data_err "boundary file of random bytes: exit 3 naming it" random "$T/b/random.geojson" \
    '(not a|corrupt|cannot|invalid|unreadable|read)'
data_err "truncated GeoJSON: exit 3 naming it" truncated "$T/b/truncated.geojson" \
    '(not a|corrupt|cannot|invalid|Unterminated|truncated|parse)'
data_err "GeoJSON with only Point features: exit 3, no polygons" points \
    "$T/b/points.geojson" '[Pp]olygon'
data_err "unknown code field: exit 3 naming the field and listing the fields" nofield \
    "$T/b/grid.geojson" "ICB23CD.*CD, NM"
data_err "BNG coordinates without a CRS member: exit 3, wrong CRS" bngnocrs \
    "$T/b/bng_nocrs.geojson" 'CRS'
run "$FP" which --data "$T" --catalogue "$C" --edition bngnocrs --easting 435000 --northing 387000
want_data_error "$T/b/bng_nocrs.geojson" 'CRS'
done_ "which on BNG coordinates without a CRS: exit 3, not a wrong answer"

if [ "$(id -u)" = 0 ]; then
    skip "unreadable boundary file (chmod 000): exit 3 naming it" "running as root"
else
    data_err "unreadable boundary file (chmod 000): exit 3 naming it" unreadable \
        "$T/b/unreadable.geojson" '[Pp]ermission'
fi

run "$FP" list --data "$T" --catalogue "$C" --edition missing
want_rc 3
want_out_empty
want_err_fixed "$T/b/missing.geojson"
done_ "catalogue edition whose file is missing: exit 3 naming it"

run "$FP" list --data "$T" --catalogue "$tmp/no-such.csv"
want_data_error "$tmp/no-such.csv"
done_ "--catalogue FILE that does not exist: exit 3 naming it"

B=$tmp/bad-dates.csv
{
    echo "id,level,name,valid_from,valid_to,path,layer,code_field,name_field,vintage,attribution"
    echo "grid,icb,Test grid,2000-01-01,,b/grid.geojson,,CD,NM,2024,$attr"
    echo "later,icb,Bad date,2024-13-45,,b/grid.geojson,,CD,NM,2024,$attr"
    echo "last,icb,Fine,2025-01-01,,b/grid.geojson,,CD,NM,2024,$attr"
} > "$B"
run "$FP" list --data "$T" --catalogue "$B" --edition grid
want_data_error "$B" 'line 3[^0-9]'
want_err_re '(date|YYYY-MM-DD)'
done_ "catalogue with a bad date on line 3: exit 3 naming the file and line 3"

run "$FP" editions --catalogue "$B"
want_data_error "$B" 'line 3[^0-9]'
done_ "editions with that catalogue: exit 3 naming the file and line 3"

H=$tmp/bad-header.csv
echo "id,level,name,valid_from,valid_to,path" > "$H"
run "$FP" editions --catalogue "$H"
want_data_error "$H" "layer"
done_ "catalogue whose header lacks columns: exit 3 naming the column"

# ---- 6. stdout write failures --------------------------------------------------------

# ---- which --postcode ---------------------------------------------------------

# A postcode directory made at run time from a few real NSPL rows.
if ! nodata "which --postcode 's1 2he' (any case and spacing): the centroid, then the chain"; then
    pcsv=$tmp/pc.csv pidx=$tmp/pc.fpi
    printf 'pcds,lat,long\nS1 2HE,53.381710,-1.469380\nS80 2AA,53.303890,-1.120830\n' > "$pcsv"
    "$FP" postcodes import "$pcsv" --out "$pidx" > /dev/null 2>&1
    run "$FP" which --data "$DATA" --postcodes "$pidx" --postcode 's12he' --date 2019-06-01
    want_rc 0
    want_out_re '^postcode	S1 2HE	53\.381710	-1\.469380$'
    want_out_re '^system	E54000009	South Yorkshire and Bassetlaw	'
    [ "$(head -1 "$out" | cut -f1)" = postcode ] || fail "the centroid is not the first line"
    done_ "which --postcode 's1 2he' (any case and spacing): the centroid, then the chain"

    run "$FP" which --data "$DATA" --postcodes "$pidx" --postcode 'S80 2AA' --edition icb2023 --json
    want_rc 0
    json_ok 'd["postcode"] == "S80 2AA" and d["code"] == "E54000060" and abs(d["lat"] - 53.30389) < 1e-9'
    done_ "which --postcode --edition --json: postcode, centroid and footprint"

    run "$FP" which --data "$DATA" --postcodes "$pidx" --postcode 'ZZ9 9ZZ'
    want_rc 1
    want_out_empty
    want_err_lines 1
    want_err_fixed 'ZZ9 9ZZ'
    want_err_re 'unknown postcode'
    done_ "which --postcode unknown: exit 1, one line naming it"

    run "$FP" which --data "$DATA" --postcodes "$pidx" --postcode 'not a postcode'
    want_rc 2
    want_out_empty
    want_err_fixed "not a postcode"
    done_ "which --postcode malformed: exit 2 naming it"

    run "$FP" which --data "$DATA" --postcodes "$tmp/none.fpi" --postcode 'S1 2HE'
    want_rc 3
    want_out_empty
    want_err_fixed "$tmp/none.fpi"
    done_ "which --postcode without a directory: exit 3 naming the file"

    run "$FP" which --data "$DATA" --postcodes "$pidx" --postcode 'S1 2HE' --lat 53 --lon -1
    want_rc 2
    want_err_re 'one point'
    done_ "which --postcode with --lat/--lon: usage error"
fi

if [ -w /dev/full ]; then
    "$FP" list --data "$T" --catalogue "$C" --edition grid > /dev/full 2> "$err"
    rc=$? why=
    : > "$out"
    want_rc 3
    want_err_re '^footprint: .*(writ|[Nn]o space)'
    done_ "list > /dev/full: exit 3 and an error message"

    "$FP" which --data "$T" --catalogue "$C" --edition grid --lat 51.5 --lon 0.5 \
        > /dev/full 2> "$err"
    rc=$? why=
    : > "$out"
    want_rc 3
    want_err_re '^footprint: .*(writ|[Nn]o space)'
    done_ "which > /dev/full: exit 3 and an error message"

    "$FP" editions > /dev/full 2> "$err"
    rc=$? why=
    : > "$out"
    want_rc 3
    want_err_re '^footprint: .*(writ|[Nn]o space)'
    done_ "editions > /dev/full: exit 3 and an error message"

    if [ "$have_data" = 1 ]; then
        "$FP" list --data "$DATA" --edition icb2023 > /dev/full 2> "$err"
        rc=$? why=
        : > "$out"
        want_rc 3
        done_ "list --edition icb2023 (real data) > /dev/full: exit 3"
    else
        nodata "list --edition icb2023 (real data) > /dev/full: exit 3"
    fi

    "$FP" --version > /dev/full 2> "$err"
    rc=$? why=
    : > "$out"
    want_rc 3
    want_err_re '^footprint: .*(writ|[Nn]o space)'
    done_ "--version > /dev/full: exit 3 and an error message"
else
    for d in "list > /dev/full" "which > /dev/full" "editions > /dev/full" \
        "real list > /dev/full" "--version > /dev/full"; do
        skip "$d" "no /dev/full"
    done
fi

echo "1..$n"
