#!/bin/sh
# A choropleth from a CSV: postcodes (live and terminated) per Integrated
# Care Board of April 2026, counted at run time from the ONS postcode file
# by 'footprint locate' (no copy of the data is kept).  POSTCODES overrides
# the file; the postcodes' own attribution (geodata/sources.csv) goes on the
# map beside the boundaries'.
set -eu
FP=${FOOTPRINT:-build/footprint} OUT=${OUT:-docs/img}
mkdir -p "$OUT"
pc=${POSTCODES:-${FOOTPRINT_DATA:-geodata}/postcodes/postcodes_latlon_gb_nspl_may2025.csv.gz}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fp-maps.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$FP" locate "$pc" --edition icb2026 --fields code --quiet |
    awk -F, 'NR == 1 { print "code,postcodes"; next }
             $NF != "" { n[$NF]++ }
             END { for (c in n) print c "," n[c] }' > "$tmp/postcodes.csv"
"$FP" render --edition icb2026 --values "$tmp/postcodes.csv" --value-column postcodes \
    --method jenks --inset london --width 1000 \
    --title "Postcodes per Integrated Care Board" \
    --subtitle "Postcodes of the NSPL (May 2025), live and terminated; the 36 ICBs of April 2026" \
    --attribution "Postcodes: Source: Office for National Statistics licensed under the Open Government Licence v.3.0; Contains OS data © Crown copyright and database right 2025; Contains Royal Mail data © Royal Mail copyright and database right 2025" \
    --out "$OUT/postcodes.png"
