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

echo
echo "== the compiled atlas: build, size, one-shot start-up, full chain"
data="$build/benchdata"
./geodata/fetch --mirror "$shared" --dest "$data" 2>/dev/null
t0=$(date +%s%N)
"$build/footprint" --data "$data" build
t1=$(date +%s%N)
echo "atlas_build_s: $(( (t1 - t0) / 1000000 ))e-3"
atlas="$data/footprint.atlas"
echo "atlas_bytes: $(wc -c < "$atlas" | tr -d ' ')"
# Median wall time of N runs of a command, in microseconds: timed from
# one python3 process (a shell's two `date` forks per run would add more
# than the query itself costs).
median_us() {
    runs=$1; shift
    python3 -S -c '
import subprocess, sys, time
ts = []
for _ in range(int(sys.argv[1])):
    t = time.perf_counter()
    subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ts.append(time.perf_counter() - t)
ts.sort()
print(int(ts[len(ts) // 2] * 1e6))
' "$runs" "$@"
}
t_true=$(median_us 41 /bin/true)
t_one=$(median_us 41 "$build/footprint" --data "$data" which --lat 53.381 --lon -1.470 --edition icb2026)
t_chain=$(median_us 41 "$build/footprint" --data "$data" which --lat 53.381 --lon -1.470)
echo "one-shot which, one edition: median $t_one us (/bin/true: $t_true us)"
echo "one-shot which, full chain:  median $t_chain us"
echo "oneshot_which_ms: $(awk "BEGIN {printf \"%.2f\", $t_one / 1000}")"
echo "oneshot_chain_ms: $(awk "BEGIN {printf \"%.2f\", $t_chain / 1000}")"
echo "bin_true_ms: $(awk "BEGIN {printf \"%.2f\", $t_true / 1000}")"
"$build/bench/bench_chain" "$atlas" "$pc" "$(date -u +%Y-%m-%d)"
"$build/bench/bench_chain" "$atlas" "$pc" 2019-06-01

# Each subject's benchmark, with its own peers (same arguments).
for b in locate postcodes render; do
    echo
    echo "== $b (bench/$b.sh)"
    sh "bench/$b.sh" "$build" "$shared"
done
