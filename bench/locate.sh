#!/bin/sh
# locate.sh BUILD SHARED_GEODATA: `footprint locate` over every GB postcode
# (NSPL May 2025, decompressed first; CSV in, CSV out with the ICB code and
# name appended), against its peers in the same run:
#   - the I/O floor: awk -F, '{print $0",x"}' over the same file;
#   - geopandas (Debian's python3-geopandas): read the CSV, sjoin the points
#     with the ICB boundaries, write the CSV (end to end, run once; set
#     FP_BENCH_GEOPANDAS=0 to leave it out);
#   - locate with every tier of the chain against one edition column.
# Best of several runs for the fast ones; outputs go to files removed before
# each run (as for awk).  Peak memory is the child's maximum resident set.
# Installs nothing (scripts/deps bench does).
set -eu
build=$1 shared=$2
pc="$shared/postcodes/postcodes_latlon_gb_nspl_may2025.csv.gz"
boundary="$shared/boundaries/icb_2023_bsc.geojson"
runs=${FP_BENCH_RUNS:-5}
py=/usr/bin/python3 # Debian's, which has geopandas (not a virtualenv's)
[ -x "$py" ] || py=python3
for f in "$pc" "$boundary"; do
    [ -f "$f" ] || { echo "bench: $f not found (set SHARED_GEODATA=DIR)" >&2; exit 3; }
done
work="$build/bench/locate"
mkdir -p "$work"
data="$build/benchdata"
fp="$build/footprint"

# The atlas (as bench/run.sh builds it), unless it is there and current.
./geodata/fetch --mirror "$shared" --dest "$data" > /dev/null 2>&1
if [ ! -f "$data/footprint.atlas" ] ||
    ! "$fp" --data "$data" which --lat 53.381 --lon -1.470 > /dev/null 2>&1; then
    "$fp" --data "$data" build > /dev/null
fi
csv="$work/postcodes.csv"
gzip -dc "$pc" > "$csv"
rows=$(($(wc -l < "$csv") - 1))

# measure RUNS OUT CMD...: best wall seconds and peak RSS (MB) of RUNS runs
# with stdout to OUT (removed first), as "SECONDS MB".
measure() {
    "$py" - "$@" <<'EOF'
import os, resource, subprocess, sys, time
runs, out, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
best = None
for _ in range(runs):
    if os.path.exists(out):
        os.unlink(out)
    with open(out, "wb") as f:
        t = time.monotonic()
        subprocess.run(cmd, stdout=f, stderr=subprocess.DEVNULL, check=True)
        t = time.monotonic() - t
    best = t if best is None else min(best, t)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print("%.3f %.1f" % (best, peak))
EOF
}
field() { echo "$1" | cut -d' ' -f"$2"; }
ratio() { awk "BEGIN {printf \"%.2f\", $1 / $2}"; }

echo "== footprint locate: $rows GB postcodes, CSV -> CSV with the ICB code and name"
echo "cores: $(getconf _NPROCESSORS_ONLN)"
m_awk=$(measure "$runs" "$work/awk.csv" awk -F, '{print $0",x"}' "$csv")
m_one=$(measure "$runs" "$work/one.csv" "$fp" --data "$data" locate "$csv" \
    --edition icb2023 --fields code,name --quiet)
m_full=$(measure "$runs" "$work/full.csv" "$fp" --data "$data" locate "$csv" \
    --edition icb2023 --quiet)
m_chain=$(measure "$runs" "$work/chain.csv" "$fp" --data "$data" locate "$csv" \
    --tiers all --fields code,name --date 2025-05-01 --quiet)
# The same with codes only: the chain's cost with less output to write.
m_onec=$(measure "$runs" "$work/onec.csv" "$fp" --data "$data" locate "$csv" \
    --edition icb2023 --fields code --quiet)
m_chainc=$(measure "$runs" "$work/chainc.csv" "$fp" --data "$data" locate "$csv" \
    --tiers all --fields code --date 2025-05-01 --quiet)
m_gz=$(measure "$runs" "$work/gz.csv" "$fp" --data "$data" locate "$pc" \
    --edition icb2023 --fields code,name --quiet)
m_t1=$(measure 3 "$work/t1.csv" "$fp" --data "$data" locate "$csv" \
    --edition icb2023 --fields code,name --quiet --threads 1)
cmp -s "$work/one.csv" "$work/t1.csv" || { echo "bench: 1 thread and all differ" >&2; exit 1; }
cmp -s "$work/one.csv" "$work/gz.csv" || { echo "bench: .gz and .csv differ" >&2; exit 1; }

awk_s=$(field "$m_awk" 1) one_s=$(field "$m_one" 1) chain_s=$(field "$m_chain" 1)
echo "awk pass (I/O floor):                 $awk_s s"
echo "locate, ICB code+name:                $one_s s, peak $(field "$m_one" 2) MB"
echo "locate, ICB code,name,match,distance: $(field "$m_full" 1) s"
echo "locate, one thread:                   $(field "$m_t1" 1) s"
echo "locate, from the .gz:                 $(field "$m_gz" 1) s"
echo "locate, full chain (6 tiers):         $chain_s s, peak $(field "$m_chain" 2) MB"
echo "locate, codes only: one / chain:      $(field "$m_onec" 1) s / $(field "$m_chainc" 1) s"
echo "locate_rows: $rows"
echo "locate_awk_s: $awk_s"
echo "locate_s: $one_s"
echo "locate_peak_mb: $(field "$m_one" 2)"
echo "locate_vs_awk: $(ratio "$one_s" "$awk_s")"
echo "locate_rows_per_s: $(awk "BEGIN {printf \"%.0f\", $rows / $one_s}")"
echo "locate_chain_s: $chain_s"
echo "locate_chain_vs_single: $(ratio "$chain_s" "$one_s")"
echo "locate_chain_vs_single_codes: $(ratio "$(field "$m_chainc" 1)" "$(field "$m_onec" 1)")"

if [ "${FP_BENCH_GEOPANDAS:-1}" != 0 ]; then
    if ! "$py" -c 'import geopandas' 2> /dev/null; then
        echo "bench: no geopandas for $py (scripts/deps bench installs python3-geopandas)" >&2
        exit 3
    fi
    # geopandas 0.12 joins through rtree or pygeos (Debian recommends, not
    # depends on, python3-rtree).
    if ! "$py" -c 'import rtree' 2> /dev/null && ! "$py" -c 'import pygeos' 2> /dev/null; then
        echo "bench: geopandas' sjoin needs python3-rtree (or pygeos) for $py" >&2
        exit 3
    fi
    cat > "$work/sjoin.py" <<'EOF'
import sys
import geopandas, pandas
csv, boundary, out = sys.argv[1:4]
pts = pandas.read_csv(csv, dtype={"pcds": str})
gdf = geopandas.GeoDataFrame(pts, geometry=geopandas.points_from_xy(pts["long"], pts["lat"]),
                             crs="EPSG:4326")
icb = geopandas.read_file(boundary)[["ICB23CD", "ICB23NM", "geometry"]].to_crs("EPSG:4326")
j = geopandas.sjoin(gdf, icb, how="left", predicate="within")
j.drop(columns=["geometry", "index_right"]).to_csv(out, index=False)
EOF
    m_gp=$(measure 1 "$work/gp.log" "$py" "$work/sjoin.py" "$csv" "$boundary" "$work/gp.csv")
    gp_s=$(field "$m_gp" 1)
    # Agreement: the same code on the same row (geopandas keeps the order).
    agree=$("$py" - "$work/one.csv" "$work/gp.csv" <<'EOF'
import csv, sys
a = list(csv.reader(open(sys.argv[1], newline="")))[1:]
b = list(csv.reader(open(sys.argv[2], newline="")))[1:]
same = sum(1 for x, y in zip(a, b) if x[3] == y[3])
print("%d of %d rows (%s rows from geopandas)" % (same, len(a), len(b)))
EOF
)
    echo "geopandas sjoin, end to end:          $gp_s s, peak $(field "$m_gp" 2) MB"
    echo "same ICB as geopandas:                $agree"
    echo "geopandas_s: $gp_s"
    echo "geopandas_peak_mb: $(field "$m_gp" 2)"
    echo "geopandas_vs_locate: $(ratio "$gp_s" "$one_s")"
fi
rm -f "$work"/*.csv
