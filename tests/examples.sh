#!/bin/sh
# The shell pipeline example: CSV -> footprint locate -> footprint render
# choropleth (examples/maps/postcodes.sh), on a sample of the real postcode
# file, with an atlas built for it; the map must come out as a PNG.
set -u
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; }
data=${FOOTPRINT_TEST_DATA:-../shared/geodata}
if [ ! -d "$data/boundaries" ]; then
    if [ "${CI:-}" = true ]; then no "pipeline example (no ONS mirror at $data)"; else ok "pipeline example # SKIP no data"; fi
    exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/data/boundaries"
ln -s "$data/boundaries/icb_2026_bsc.geojson" "$dir/data/boundaries/"
# Every 50th postcode of Great Britain: the whole country, quickly.
gzip -dc "$data/postcodes/postcodes_latlon_gb_nspl_may2025.csv.gz" |
    awk 'NR == 1 || NR % 50 == 0' | gzip -1 > "$dir/sample.csv.gz"
if "$FOOTPRINT" --data "$dir/data" build --edition icb2026 > "$dir/log" 2>&1 &&
   FOOTPRINT=$FOOTPRINT FOOTPRINT_DATA=$dir/data OUT=$dir/out POSTCODES=$dir/sample.csv.gz \
       sh examples/maps/postcodes.sh >> "$dir/log" 2>&1; then
    ok "examples/maps/postcodes.sh: CSV -> locate -> render choropleth runs"
else
    no "examples/maps/postcodes.sh: $(tail -2 "$dir/log" | tr '\n' ' ')"
fi
sig=$(head -c 8 "$dir/out/postcodes.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')
if [ "$sig" = 89504e470d0a1a0a ] && [ "$(wc -c < "$dir/out/postcodes.png")" -gt 20000 ]; then
    ok "the choropleth is a PNG of real size"
else
    no "the choropleth is a PNG of real size (signature '$sig')"
fi
