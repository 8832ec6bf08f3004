#!/bin/sh
# postcodes.sh BUILD SHARED_GEODATA: the postcode directory, with its peers
# in the same run.
#   import   footprint postcodes import of the 2.63M-row gzip list
#            (peer: zcat | wc -l, just decompressing and counting lines)
#   size     bytes of the index (and of the gzip and plain CSV)
#   one-shot footprint postcodes find of one postcode, mean wall time
#            (peers: /bin/true, footprint --version, zgrep of the postcode
#            in the gzip list, grep in the decompressed CSV)
#   batch    every postcode of the list through 'footprint postcodes find -'
#            (peer: an awk hash join of the same queries against the CSV),
#            and in-process lookups/s through fp_postcodes_find_n (a small
#            harness compiled here against the core library).
set -eu
build=$1 shared=$2
gz="$shared/postcodes/postcodes_latlon_gb_nspl_may2025.csv.gz"
[ -f "$gz" ] || { echo "bench: $gz not found (set SHARED_GEODATA=DIR)" >&2; exit 3; }
fp="$build/footprint"
work="$build/benchpostcodes"
mkdir -p "$work"
idx="$work/postcodes.fpi"
csv="$work/postcodes.csv"
q="$work/queries.txt"

now_ns() { date +%s%N; }
# Mean wall time of N runs of a command, in microseconds, timed around the
# whole loop (a clock read per run would cost more than the command).
mean_us() {
    runs=$1; shift
    a=$(now_ns)
    i=0
    while [ "$i" -lt "$runs" ]; do
        "$@" > /dev/null 2>&1 || true
        i=$((i + 1))
    done
    b=$(now_ns)
    echo $(( (b - a) / 1000 / runs ))
}
ms() { awk "BEGIN {printf \"%.2f\", $1 / 1000}"; }

echo "== postcode directory: import of $(basename "$gz")"
t0=$(now_ns); rows=$(zcat "$gz" | wc -l); t1=$(now_ns)
t_zcat=$(( (t1 - t0) / 1000000 ))
t0=$(now_ns); "$fp" postcodes import "$gz" --out "$idx"; t1=$(now_ns)
t_import=$(( (t1 - t0) / 1000000 ))
zcat "$gz" > "$csv"
tail -n +2 "$csv" | cut -d, -f1 > "$q"
n=$(wc -l < "$q" | tr -d ' ')
echo "rows: $((rows - 1))"
echo "import_ms: $t_import (peer zcat | wc -l: $t_zcat ms)"
echo "index_bytes: $(wc -c < "$idx" | tr -d ' ') (gzip CSV: $(wc -c < "$gz" | tr -d ' '), plain CSV: $(wc -c < "$csv" | tr -d ' '))"

echo
echo "== one-shot lookup (mean wall time of 101 runs; the peers 5)"
pc="S1 2HE"
"$fp" postcodes find --postcodes "$idx" "$pc" > /dev/null # warm the page cache
t_true=$(mean_us 101 /bin/true)
t_ver=$(mean_us 101 "$fp" --version)
t_find=$(mean_us 101 "$fp" postcodes find --postcodes "$idx" "$pc")
t_info=$(mean_us 31 "$fp" postcodes info --postcodes "$idx")
t_zgrep=$(mean_us 5 zgrep -m1 "^$pc," "$gz")
t_grep=$(mean_us 5 grep -m1 "^$pc," "$csv")
echo "oneshot_find_ms: $(ms "$t_find") (/bin/true $(ms "$t_true"), footprint --version $(ms "$t_ver"))"
echo "oneshot_info_ms: $(ms "$t_info") (verifies the whole index: what checking it all at open would cost)"
echo "peers for '$pc': zgrep in the gzip list $(ms "$t_zgrep") ms; grep -m1 in the plain CSV $(ms "$t_grep") ms"

echo
echo "== batch: all $n postcodes of the list"
t0=$(now_ns); "$fp" postcodes find --postcodes "$idx" - < "$q" > "$work/found.tsv"; t1=$(now_ns)
t_batch=$(( (t1 - t0) / 1000 ))
found=$(wc -l < "$work/found.tsv" | tr -d ' ')
t0=$(now_ns)
awk -F, 'NR == FNR { if (FNR > 1) a[$1] = $2 "\t" $3; next } ($1 in a) { print $1 "\t" a[$1] }' \
    "$csv" "$q" > "$work/awk.tsv"
t1=$(now_ns)
t_awk=$(( (t1 - t0) / 1000 ))
echo "cli_find_all: $found found in $(ms "$t_batch") ms = $(awk "BEGIN {printf \"%.0f\", $n / ($t_batch / 1e6)}") lookups/s (normalise, look up, print)"
echo "peer awk hash join (load CSV + look up): $(ms "$t_awk") ms = $(awk "BEGIN {printf \"%.0f\", $n / ($t_awk / 1e6)}") lookups/s"

if command -v "${CC:-cc}" > /dev/null 2>&1 && [ -f "$build/libfootprint-core.a" ]; then
    cat > "$work/harness.c" <<'EOF'
/* In-process lookups/s: fp_postcodes_find_n over every query, twice (the
 * first pass also verifies each district on first touch). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "footprint.h"
static double secs(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv)
{
    fp_ctx *ctx; fp_postcodes *pc;
    if (argc < 3 || fp_ctx_new(&ctx) || fp_postcodes_open(ctx, argv[1], &pc)) return 3;
    FILE *f = fopen(argv[2], "r");
    size_t n = 0, cap = 1 << 22; char line[64];
    char **q = malloc(cap * sizeof *q);
    while (f && n < cap && fgets(line, sizeof line, f)) { line[strcspn(line, "\r\n")] = 0; q[n++] = strdup(line); }
    double *lat = malloc(n * sizeof *lat), *lon = malloc(n * sizeof *lon); int *st = malloc(n * sizeof *st);
    double t0 = secs(); size_t found = fp_postcodes_find_n(pc, (const char *const *)q, n, lat, lon, st);
    double t1 = secs(); fp_postcodes_find_n(pc, (const char *const *)q, n, lat, lon, st); double t2 = secs();
    double t3 = secs(); int ok = fp_postcodes_verify(ctx, pc) == FP_OK; double t4 = secs();
    printf("inprocess: %zu of %zu found; first pass %.0f lookups/s, second pass %.0f lookups/s; full verification %.1f ms (%s)\n",
           found, n, n / (t1 - t0), n / (t2 - t1), (t4 - t3) * 1e3, ok ? "ok" : "FAILED");
    return 0;
}
EOF
    if "${CC:-cc}" -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Ilib/include -o "$work/harness" \
        "$work/harness.c" "$build/libfootprint-core.a" -lz -lm -lpthread 2> "$work/harness.err"; then
        "$work/harness" "$idx" "$q"
    else
        echo "inprocess: harness did not compile ($(head -1 "$work/harness.err"))"
    fi
fi
rm -f "$csv" "$work/awk.tsv" "$work/found.tsv"
