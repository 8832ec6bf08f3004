#!/bin/sh
# run.sh BUILD SHARED_GEODATA: the benchmarks, with their peers in the same run.
set -eu
build=$1 shared=$2
pc="$shared/postcodes/postcodes_latlon_gb_nspl_may2025.csv.gz"
if [ ! -f "$pc" ]; then
    echo "bench: $pc not found (set SHARED_GEODATA=DIR)" >&2
    exit 3
fi
echo "== point-in-footprint, one core: icb2023 over every GB postcode"
"$build/bench/bench_locate" "$shared" geodata/editions.csv "$pc" icb2023
