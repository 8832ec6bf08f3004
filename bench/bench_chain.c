/*
 * bench_chain: full-chain locate throughput against single-level locate,
 * on the compiled atlas, over every GB postcode (one core).
 *
 * Through the batch API (fp_plan_*): a plan resolves each tier's edition
 * and per-footprint facts once; each point then costs one lookup per
 * distinct layer.
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
    /* Two plans over the same points: every tier of the chain on the date,
     * and the system tier alone (the single-level peer). */
    fp_plan *chain, *single;
    t0 = now();
    if (fp_plan_new(ctx, a, &chain) || fp_plan_new(ctx, a, &single) ||
        fp_plan_add_tier(ctx, single, FP_TIER_SYSTEM, argv[3])) {
        fprintf(stderr, "bench: %s\n", fp_ctx_errmsg(ctx));
        return 3;
    }
    int tiers_used = 0;
    for (int t = 0; t < FP_TIER_COUNT; t++) {
        if (fp_plan_add_tier(ctx, chain, t, argv[3])) {
            fprintf(stderr, "bench: %s\n", fp_ctx_errmsg(ctx));
            return 3;
        }
        tiers_used += fp_plan_edition(chain, (size_t)t) != NULL;
    }
    double plan_ms = (now() - t0) * 1e3;
    /* Blocks of points into one reused buffer, as a streaming caller (the
     * locate command) uses it: the answers stay in cache. */
    enum { BLOCK = 16384 };
    fp_hit *out = malloc(BLOCK * FP_TIER_COUNT * sizeof *out);
    double best1 = 1e30, bestc = 1e30;
    for (int pass = 0; pass < 5; pass++) {
        t0 = now();
        for (size_t i = 0; i < n; i += BLOCK)
            fp_plan_locate_n(single, lat + i, lon + i, n - i < BLOCK ? n - i : BLOCK, 0, out);
        double d1 = now() - t0;
        if (d1 < best1) best1 = d1;
        t0 = now();
        for (size_t i = 0; i < n; i += BLOCK)
            fp_plan_locate_n(chain, lat + i, lon + i, n - i < BLOCK ? n - i : BLOCK, 0, out);
        double dc = now() - t0;
        if (dc < bestc) bestc = dc;
    }
    printf("atlas: %.1f MB, opened in %.2f ms; plans made (sections verified) in %.1f ms\n",
           fp_atlas_size(a) / 1e6, open_ms, plan_ms);
    printf("single level (system tier): %.1f M points/s\n", n / best1 / 1e6);
    printf("full chain (%d tiers with an edition on %s): %.1f M points/s\n", tiers_used,
           argv[3], n / bestc / 1e6);
    printf("chain_vs_single_ratio: %.2f\n", bestc / best1);
    /* What the chain is made of: each of its layers alone (an edition via
     * finer areas is its base layer's lookup). */
    int32_t *ix = malloc(BLOCK * sizeof *ix);
    for (size_t c = 0; c < fp_plan_columns(chain); c++) {
        const fp_edition *e = fp_plan_edition(chain, c);
        const fp_layer *L;
        if (!e || fp_atlas_layer(ctx, a, e->id, &L)) continue;
        double best = 1e30;
        for (int pass = 0; pass < 3; pass++) {
            t0 = now();
            for (size_t i = 0; i < n; i += BLOCK)
                fp_layer_find_n(L, lat + i, lon + i, n - i < BLOCK ? n - i : BLOCK, ix);
            double d = now() - t0;
            if (d < best) best = d;
        }
        printf("  %-6s %-14s alone: %6.1f M points/s (%.1f ns a point)\n",
               fp_tier_name(fp_plan_tier(chain, c)), e->id, n / best / 1e6, best / n * 1e9);
    }
    free(ix);
    fp_plan_free(chain);
    fp_plan_free(single);
    free(lat);
    free(lon);
    free(out);
    fp_atlas_free(a);
    fp_ctx_free(ctx);
    return 0;
}
