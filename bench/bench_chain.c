/*
 * bench_chain: full-chain locate throughput against single-level locate,
 * on the compiled atlas, over every GB postcode (one core).
 *
 * The chain for one date resolves each tier's edition once, then runs the
 * hot path per tier (fp_layer_find_n); per-footprint facts (names, status,
 * parents) are per code, not per point, so they stay out of the loop.
 *
 * Usage: bench_chain ATLAS POSTCODES.csv.gz DATE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "footprint.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_chain ATLAS POSTCODES.csv.gz DATE\n");
        return 2;
    }
    fp_ctx *ctx;
    fp_ctx_new(&ctx);
    fp_atlas *a;
    double t0 = now();
    if (fp_atlas_open(ctx, argv[1], &a)) {
        fprintf(stderr, "bench: %s\n", fp_ctx_errmsg(ctx));
        return 3;
    }
    double open_ms = (now() - t0) * 1e3;
    gzFile gz = gzopen(argv[2], "rb");
    if (!gz) return 3;
    char line[256];
    gzgets(gz, line, sizeof line);
    size_t n = 0, cap = 1 << 22;
    double *lat = malloc(cap * sizeof *lat), *lon = malloc(cap * sizeof *lon);
    while (gzgets(gz, line, sizeof line)) {
        char *c = strchr(line, ',');
        if (!c) continue;
        if (n == cap) {
            cap *= 2;
            lat = realloc(lat, cap * sizeof *lat);
            lon = realloc(lon, cap * sizeof *lon);
        }
        lat[n] = atof(c + 1);
        c = strchr(c + 1, ',');
        lon[n] = c ? atof(c + 1) : 0;
        n++;
    }
    gzclose(gz);
    const fp_catalogue *cat = fp_atlas_catalogue(a);
    static const char *const tiers[][2] = {{"nhser", NULL}, {"icb", "stp"}, {"ics", NULL},
                                           {"icp", NULL},   {"sicbl", "ccg"}, {"lad", NULL}};
    const fp_layer *L[6] = {0};
    const fp_layer *single = NULL;
    t0 = now();
    for (int t = 0; t < 6; t++) {
        const fp_edition *ed = NULL;
        for (int k = 0; k < 2 && tiers[t][k] && !ed; k++)
            ed = fp_catalogue_valid_on(cat, tiers[t][k], argv[3]);
        if (ed && fp_atlas_layer(ctx, a, ed->id, &L[t])) {
            fprintf(stderr, "bench: %s\n", fp_ctx_errmsg(ctx));
            return 3;
        }
        if (t == 1) single = L[t];
    }
    double verify_ms = (now() - t0) * 1e3;
    int32_t *out = malloc(n * sizeof *out);
    double best1 = 1e30, bestc = 1e30;
    for (int pass = 0; pass < 5; pass++) {
        t0 = now();
        fp_layer_find_n(single, lat, lon, n, out);
        double d1 = now() - t0;
        if (d1 < best1) best1 = d1;
        t0 = now();
        for (int t = 0; t < 6; t++)
            if (L[t]) fp_layer_find_n(L[t], lat, lon, n, out);
        double dc = now() - t0;
        if (dc < bestc) bestc = dc;
    }
    int tiers_used = 0;
    for (int t = 0; t < 6; t++) tiers_used += L[t] != NULL;
    printf("atlas: %.1f MB, opened in %.2f ms; tier layers verified in %.1f ms\n",
           fp_atlas_size(a) / 1e6, open_ms, verify_ms);
    printf("single level (system tier): %.1f M points/s\n", n / best1 / 1e6);
    printf("full chain (%d tiers on %s): %.1f M points/s\n", tiers_used, argv[3],
           n / bestc / 1e6);
    printf("chain_vs_single_ratio: %.2f\n", bestc / best1);
    free(lat);
    free(lon);
    free(out);
    fp_atlas_free(a);
    fp_ctx_free(ctx);
    return 0;
}
