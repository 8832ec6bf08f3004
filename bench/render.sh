#!/bin/sh
# render.sh BUILD SHARED_GEODATA: the maps benchmark, with its peers in the
# same run.  England's ICBs at 2000 px wide, from the compiled atlas, by the
# command a user types (the light binary hands over to footprint-geo):
# median wall time of a PNG and of an SVG, and the SVG's size; the peers
# are /bin/true, footprint-geo's bare start-up (the GDAL, PROJ and cairo
# libraries every map loads) and a plain load of the atlas (list).
set -eu
build=$1 shared=$2
data="$build/benchdata"
./geodata/fetch --mirror "$shared" --dest "$data" > /dev/null 2>&1
# The atlas bench/run.sh built, or a fresh one when missing or stale.
if ! { [ -f "$data/footprint.atlas" ] &&
       "$build/footprint" --data "$data" list --edition icb2023 > /dev/null 2>&1; }; then
    "$build/footprint" --data "$data" build > /dev/null
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/fp-bench-render.XXXXXX")
trap 'rm -rf "$out"' EXIT

# Median wall time of N runs of a command, in microseconds.
median_us() {
    runs=$1; shift
    for i in $(seq "$runs"); do
        a=$(date +%s%N); "$@" > /dev/null 2>&1; b=$(date +%s%N)
        echo $(( (b - a) / 1000 ))
    done | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}
ms() { awk "BEGIN {printf \"%.1f\", $1 / 1000}"; }
# Median CPU time (user + system) of N runs, in microseconds: steadier than
# wall time on a busy machine.  Needs GNU time; empty without it.
median_cpu_us() {
    runs=$1; shift
    /usr/bin/time -f %U /bin/true > /dev/null 2>&1 || return 0
    for i in $(seq "$runs"); do
        /usr/bin/time -o "$out/cpu" -f '%U %S' "$@" > /dev/null 2>&1
        awk '{printf "%d\n", ($1 + $2) * 1000000}' "$out/cpu"
    done | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}

fp="$build/footprint"
t_true=$(median_us 21 /bin/true)
t_geo=$(median_us 21 "$build/footprint-geo" --version)
t_load=$(median_us 21 "$fp" --data "$data" list --edition icb2023)
t_png23=$(median_us 11 "$fp" --data "$data" render --edition icb2023 --width 2000 \
    --out "$out/icb2023.png")
t_png26=$(median_us 11 "$fp" --data "$data" render --edition icb2026 --width 2000 \
    --out "$out/icb2026.png")
t_svg23=$(median_us 11 "$fp" --data "$data" render --edition icb2023 --width 2000 \
    --out "$out/icb2023.svg")
t_pdf23=$(median_us 11 "$fp" --data "$data" render --edition icb2023 --out "$out/icb2023.pdf")
t_inset=$(median_us 11 "$fp" --data "$data" render --edition icb2023 --width 2000 \
    --inset london --out "$out/inset.svg")
c_png23=$(median_cpu_us 11 "$fp" --data "$data" render --edition icb2023 --width 2000 \
    --out "$out/icb2023.png")
c_geo=$(median_cpu_us 11 "$build/footprint-geo" --version)
size() { wc -c < "$1" | tr -d ' '; }

echo "== maps: England's ICBs at 2000 px wide, from the compiled atlas (median wall time)"
echo "render_png_icb2023_2000_ms: $(ms "$t_png23")"
echo "render_png_icb2026_2000_ms: $(ms "$t_png26")"
echo "render_svg_icb2023_2000_ms: $(ms "$t_svg23")"
echo "render_pdf_icb2023_a4_ms: $(ms "$t_pdf23")"
echo "render_png_icb2023_2000_bytes: $(size "$out/icb2023.png")"
echo "render_svg_icb2023_2000_bytes: $(size "$out/icb2023.svg")"
echo "render_svg_icb2023_2000_inset_bytes: $(size "$out/inset.svg")"
echo "render_pdf_icb2023_a4_bytes: $(size "$out/icb2023.pdf")"
echo "peer_bin_true_ms: $(ms "$t_true")"
echo "peer_geo_startup_ms: $(ms "$t_geo")   (footprint-geo --version: libraries loaded)"
echo "peer_atlas_load_ms: $(ms "$t_load")   (footprint list --edition icb2023)"
echo "render_png_icb2023_own_ms: $(ms $((t_png23 - t_geo)))   (PNG less the start-up)"
if [ -n "$c_png23" ]; then
    echo "render_png_icb2023_2000_cpu_ms: $(ms "$c_png23")   (user + system)"
    echo "peer_geo_startup_cpu_ms: $(ms "$c_geo")"
fi
