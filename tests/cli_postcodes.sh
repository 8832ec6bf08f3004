#!/bin/sh
# cli_postcodes.sh — footprint postcodes: import (plain, gzip, Code-Point
# style, truncated and bad input), find (normalisation, unknown and
# malformed postcodes, JSON, standard input), info, where the index is
# looked for, damaged indexes, and that find runs without GDAL or PROJ.
# Prints TAP.
#
#   FOOTPRINT=build/footprint BUILD=build FOOTPRINT_TEST_DATA=../shared/geodata \
#       sh tests/cli_postcodes.sh
#
# Checks on the real NSPL extract need the ONS mirror ($FOOTPRINT_TEST_DATA)
# and are skipped without it, or fail under CI=true.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.shlib"
tap_cli fp-cli-postcodes
# The real-data checks here need the NSPL extract, not the boundaries.
have_data=0
[ -n "$DATA" ] && [ -f "$DATA/postcodes/postcodes_nspl_nov2021.csv" ] && have_data=1
tap_strace
# LeakSanitizer cannot run under ptrace: no strace in the sanitized run.
[ -n "${FP_SANITIZED_RUN:-}" ] && have_strace=0

# The helpers are in tap.shlib; here every stderr line count
# (want_err_lines_fp, and want_data_error) also wants "footprint: ".

# ---- fixtures ---------------------------------------------------------------

d=$tmp/d
mkdir -p "$d"
printf '\357\273\277pcds,lat,long,oseast1m,osnrth1m\r\nS1 2HE,53.381710,-1.469380,435240,0387159\r\n"AB101AA",57.148210,-2.096650,,\r\nZZ9 9ZZ,99.999999,0.000000,,\r\nEC1A 1BB,51.524560,-0.112010,,\r\n' > "$tmp/a.csv"
printf 'pcds,lat,long\nS1 2HE,53.0,-1.0\nW1A 0AX,51.52456,-0.11201\n' > "$tmp/b.csv"
gzip -c "$tmp/a.csv" > "$tmp/a.csv.gz"
printf '"S1 2HF",10,435300,387250,"E92000001"\n"S1 9ZZ",90,0,0,""\n' > "$tmp/cpo.csv"
idx=$tmp/idx.fpi

# ---- help and usage ---------------------------------------------------------

run "$FP" postcodes --help
want_rc 0
want_out_re '^Usage: footprint postcodes import'
want_out_re 'Royal Mail'
want_err_empty
done_ "postcodes --help prints usage and the attribution"

run "$FP" help postcodes
want_rc 0
want_out_re 'postcodes find'
done_ "help postcodes"

run "$FP" postcodes
want_rc 2
want_err_re 'subcommand'
done_ "postcodes without a subcommand is a usage error"

run "$FP" postcodes frobnicate
want_rc 2
want_err_re "unknown subcommand 'frobnicate'"
done_ "unknown subcommand is a usage error"

run "$FP" postcodes find
want_rc 2
want_err_re 'give one or more postcodes'
done_ "find without postcodes is a usage error"

run "$FP" postcodes import --out "$idx"
want_rc 2
done_ "import without files is a usage error"

run "$FP" postcodes find --bogus S12HE
want_rc 2
want_err_re "unknown option '--bogus'"
done_ "unknown option is a usage error"

# ---- import -----------------------------------------------------------------

run "$FP" postcodes import "$tmp/a.csv" --out "$idx"
want_rc 0
want_out_empty
want_err_re '^footprint: imported 3 postcodes in 3 districts into '
want_err_re '4 rows from 1 file; skipped 1 without a grid reference, 0 malformed; 0 duplicates'
[ -s "$idx" ] || fail "no index written"
want_no_tmp "$tmp"
done_ "import a CSV with BOM, CRLF, quotes and a no-grid row"

run "$FP" postcodes find --postcodes "$idx" "s1 2he" AB101AA "ec1a1bb"
want_rc 0
printf 'S1 2HE\t53.381710\t-1.469380\nAB10 1AA\t57.148210\t-2.096650\nEC1A 1BB\t51.524560\t-0.112010\n' > "$tmp/want"
cmp -s "$tmp/want" "$out" || fail "stdout differs"
want_err_empty
done_ "find normalises case and spacing and prints the centroid"

run "$FP" postcodes find --postcodes "$idx" "S1 9ZZ"
want_rc 1
want_out_empty
want_err_lines_fp 1
want_err_fixed "unknown postcode S1 9ZZ"
done_ "unknown postcode: exit 1, one line"

run "$FP" postcodes find --postcodes "$idx" "S1-2HE"
want_rc 2
want_out_empty
want_err_lines_fp 1
want_err_fixed "'S1-2HE' is not a UK postcode"
done_ "malformed postcode: exit 2, one line"

run "$FP" postcodes find --postcodes "$idx" S12HE "S1 9ZZ" junk
want_rc 2
want_out 'S1 2HE	53.381710	-1.469380'
want_err_lines_fp 2
done_ "several postcodes: each answered, the worst status wins"

run "$FP" postcodes find --postcodes "$idx" --json "s1 2he" "S1 9ZZ" "x"
want_rc 2
want_out_re '^\{"postcodes":\[\{"query":"s1 2he","postcode":"S1 2HE","lat":53.381710,"lon":-1.469380\}'
want_out_re '"postcode":"S1 9ZZ","lat":null,"lon":null,"error":"unknown"'
want_out_re '"query":"x","postcode":null,"lat":null,"lon":null,"error":"malformed"'
want_out_re '"attribution":"Postcode centroids: Source: Office for National Statistics'
if command -v python3 > /dev/null 2>&1; then
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out" 2>/dev/null || fail "not JSON"
fi
done_ "find --json: one object per query, valid JSON"

printf 's12he\n\nEC1A 1BB\r\n' > "$tmp/in"
run "$FP" postcodes find --postcodes "$idx" - < "$tmp/in"
want_rc 0
printf 'S1 2HE\t53.381710\t-1.469380\nEC1A 1BB\t51.524560\t-0.112010\n' > "$tmp/want"
cmp -s "$tmp/want" "$out" || fail "stdout differs"
done_ "find - reads postcodes from standard input"

run "$FP" postcodes info --postcodes "$idx"
want_rc 0
want_out_re '^postcodes	3$'
want_out_re '^districts	3$'
want_out_re "^bytes	$(wc -c < "$idx" | tr -d ' ')\$"
want_out_re "^source	$tmp/a.csv	bytes=[0-9]+	rows=4	kept=3	no_grid=1	malformed=0\$"
done_ "info: counts, size and sources"

run "$FP" postcodes info --postcodes "$idx" --json
want_rc 0
want_out_re '"postcodes":3,"districts":3'
want_out_re '"rows":4,"kept":3,"no_grid":1,"malformed":0'
done_ "info --json"

# Later files win; gzip; Code-Point Open without a header (BNG via PROJ).
run "$FP" postcodes import "$tmp/a.csv.gz" "$tmp/b.csv" "$tmp/cpo.csv" --out "$idx"
want_rc 0
want_err_re 'imported 5 postcodes'
want_err_re '1 duplicate \(the later row kept; 1 moved\)'
want_err_re 'skipped 2 without a grid reference'
done_ "import gzip + CSV + Code-Point Open: later rows win, counts reported"

run "$FP" postcodes find --postcodes "$idx" "S1 2HE" "W1A0AX" "S1 2HF"
want_rc 0
want_out_re '^S1 2HE	53.000000	-1.000000$'
want_out_re '^W1A 0AX	51.524560	-0.112010$'
want_out_re '^S1 2HF	53.38[0-9]+	-1.47[0-9]+$'
done_ "the later file's centroid, and the Code-Point row transformed"

# ---- failures leave the index alone -----------------------------------------

cp "$idx" "$tmp/before.fpi"
printf 'pcds,lat,long\nS1 2HE,53.381710,-1.469380\nS1 2HF,53.38' > "$tmp/cut.csv"
run "$FP" postcodes import "$tmp/cut.csv" --out "$idx"
want_data_error "$tmp/cut.csv line 3" 'truncated'
cmp -s "$idx" "$tmp/before.fpi" || fail "the index was changed"
want_no_tmp "$tmp"
done_ "truncated CSV: exit 3, one line naming the file and line, index untouched"

head -c 100 "$tmp/a.csv.gz" > "$tmp/cut.csv.gz"
run "$FP" postcodes import "$tmp/a.csv" "$tmp/cut.csv.gz" --out "$tmp/new.fpi"
want_data_error "$tmp/cut.csv.gz" 'truncated'
[ ! -e "$tmp/new.fpi" ] || fail "an index was written"
want_no_tmp "$tmp"
done_ "truncated gzip after a good file: exit 3, nothing written"

run "$FP" postcodes import "$tmp/missing.csv" --out "$tmp/new.fpi"
want_data_error "$tmp/missing.csv" 'No such file'
done_ "missing input: exit 3"

printf 'name,value\nx,1\n' > "$tmp/nopc.csv"
run "$FP" postcodes import "$tmp/nopc.csv" --out "$tmp/new.fpi"
want_data_error "$tmp/nopc.csv" 'no postcode column'
done_ "no postcode column: exit 3"

run "$FP" postcodes import "$tmp/a.csv" --out "$tmp/no/such/dir/x.fpi"
want_data_error "$tmp/no/such/dir/x.fpi" 'cannot write'
done_ "unwritable output: exit 3"

# ---- where the index is found -----------------------------------------------

run "$FP" postcodes find "S1 2HE" --data "$d"
want_rc 3
want_out_empty
want_err_lines_fp 1
want_err_fixed "no postcode index at $d/postcodes.fpi"
want_err_fixed "footprint postcodes import"
done_ "no index: exit 3 with how to make one"

run "$FP" postcodes import "$tmp/a.csv" --data "$d"
want_rc 0
[ -s "$d/postcodes.fpi" ] || fail "no $d/postcodes.fpi"
done_ "import without --out writes postcodes.fpi in the data directory"

run "$FP" --data "$d" postcodes find "S1 2HE"
want_rc 0
want_out 'S1 2HE	53.381710	-1.469380'
done_ "find uses the data directory's index (global --data)"

run env FOOTPRINT_POSTCODES="$idx" "$FP" --data "$d" postcodes find "W1A 0AX"
want_rc 0
want_out 'W1A 0AX	51.524560	-0.112010'
done_ "\$FOOTPRINT_POSTCODES overrides the data directory"

run env FOOTPRINT_POSTCODES="$idx" "$FP" postcodes find --postcodes "$d/postcodes.fpi" "W1A 0AX"
want_rc 1
done_ "--postcodes overrides \$FOOTPRINT_POSTCODES"

# ---- damaged indexes ----------------------------------------------------------

cp "$idx" "$tmp/flip.fpi"
printf '\377' | dd of="$tmp/flip.fpi" bs=1 seek=40 conv=notrunc 2>/dev/null
run "$FP" postcodes find --postcodes "$tmp/flip.fpi" "S1 2HE"
want_data_error "$tmp/flip.fpi" 'damaged'
done_ "damaged header: exit 3, one line"

size=$(wc -c < "$idx" | tr -d ' ')
head -c $((size - 8)) "$idx" > "$tmp/short.fpi"
run "$FP" postcodes info --postcodes "$tmp/short.fpi"
want_data_error "$tmp/short.fpi" 'truncated'
done_ "truncated index: exit 3, one line"

# A damaged record: the lookup that reaches it and info both say so.
cp "$idx" "$tmp/rec.fpi"
printf '\001' | dd of="$tmp/rec.fpi" bs=1 seek=$((size - 200)) conv=notrunc 2>/dev/null
run "$FP" postcodes info --postcodes "$tmp/rec.fpi"
want_data_error "$tmp/rec.fpi" 'damaged postcode index'
done_ "damaged records: info checks the whole file, exit 3"

printf 'not an index at all, but long enough to have a header of 128 bytes..........................................................\n' > "$tmp/text.fpi"
run "$FP" postcodes find --postcodes "$tmp/text.fpi" "S1 2HE"
want_data_error "$tmp/text.fpi" 'not a footprint postcode index'
done_ "not an index: exit 3"

# ---- the light binary answers alone -------------------------------------------

if [ "$have_strace" = 1 ]; then
    strace -f -qq -e trace=openat,open,execve -o "$tmp/trace" \
        "$FP" postcodes find --postcodes "$idx" "S1 2HE" > "$out" 2> "$err"
    rc=$?
    why=
    want_rc 0
    grep -q 'execve(.*footprint-geo' "$tmp/trace" && fail "footprint-geo was run"
    grep -Eq 'libgdal|libproj' "$tmp/trace" && fail "GDAL or PROJ was loaded"
    done_ "find runs in the light binary, without GDAL or PROJ"
else
    skip "find runs in the light binary, without GDAL or PROJ" "no strace (or sanitized run)"
fi

# ---- the real NSPL extract ------------------------------------------------------

if ! nodata "real NSPL: import and look up"; then
    run "$FP" postcodes import "$DATA/postcodes/postcodes_nspl_nov2021.csv" --out "$tmp/nspl.fpi"
    want_rc 0
    want_err_re 'imported 66542 postcodes'
    done_ "real NSPL (November 2021): 66,542 postcodes imported"
    run "$FP" postcodes find --postcodes "$tmp/nspl.fpi" "dg1 1aa" "HG1 1AA" "WC2N5DU"
    # The file's own values for these rows.
    exp=$(grep -E '^(DG1 1AA|HG1 1AA|WC2N 5DU),' "$DATA/postcodes/postcodes_nspl_nov2021.csv" |
        awk -F, '{ printf "%s\t%s\t%s\n", $1, $2, $3 }' | sort)
    got=$(sort "$out")
    [ -n "$exp" ] && [ "$exp" = "$got" ] || fail "got '$got', file says '$exp'"
    done_ "real NSPL: centroids exactly as the file gives them"
fi

echo "1..$n"
