/*
 * bench_locate: point-in-footprint throughput on real postcodes.
 *
 * Loads an edition, reads every postcode centroid of a (gzip) CSV with
 * pcds,lat,long columns into memory, then times fp_layer_find_n on one core
 * (best of several passes) and checks every answer against the exact
 * reference (FP_INDEX_NONE: every footprint's rings, y-stripes) — which is
 * also timed, as the peer the grid is compared with in the same run.
 *
 * Usage: bench_locate DATA_DIR CATALOGUE POSTCODES.csv.gz [EDITION]
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

static size_t read_points(const char *path, double **plat, double **plon)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        fprintf(stderr, "bench: %s: cannot open\n", path);
        exit(3);
    }
    gzbuffer(gz, 1 << 20);
    size_t cap = 1 << 22, n = 0;
    double *lat = malloc(cap * sizeof *lat), *lon = malloc(cap * sizeof *lon);
    char line[512];
    int ilat = -1, ilon = -1;
    if (!gzgets(gz, line, sizeof line)) {
        fprintf(stderr, "bench: %s: empty\n", path);
        exit(3);
    }
    int col = 0;
    for (char *tok = strtok(line, ",\r\n"); tok; tok = strtok(NULL, ",\r\n"), col++) {
        if (!strcmp(tok, "lat")) ilat = col;
        if (!strcmp(tok, "long") || !strcmp(tok, "lon")) ilon = col;
    }
    if (ilat < 0 || ilon < 0) {
        fprintf(stderr, "bench: %s: no lat/long columns\n", path);
        exit(3);
    }
    while (gzgets(gz, line, sizeof line)) {
        double v[2] = {0, 0};
        int c = 0;
        char *p = line;
        for (;;) {
            char *comma = strchr(p, ',');
            if (c == ilat) v[0] = atof(p);
            if (c == ilon) v[1] = atof(p);
            if (!comma) break;
            p = comma + 1;
            c++;
        }
        if (n == cap) {
            cap *= 2;
            lat = realloc(lat, cap * sizeof *lat);
            lon = realloc(lon, cap * sizeof *lon);
        }
        lat[n] = v[0];
        lon[n] = v[1];
        n++;
    }
    gzclose(gz);
    *plat = lat;
    *plon = lon;
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_locate DATA_DIR CATALOGUE POSTCODES.csv.gz [EDITION]\n");
        return 2;
    }
    const char *edition = argc > 4 ? argv[4] : "icb2023";
    fp_ctx *ctx;
    fp_catalogue *cat;
    fp_ctx_new(&ctx);
    if (fp_catalogue_load(ctx, argv[2], &cat)) {
        fprintf(stderr, "bench: %s\n", fp_ctx_errmsg(ctx));
        return 3;
    }
    const fp_edition *ed = fp_catalogue_find(cat, edition);
    if (!ed) {
        fprintf(stderr, "bench: unknown edition %s\n", edition);
        return 2;
    }
    fp_index_opts grid, none;
    fp_index_opts_init(&grid);
    const char *env;
    if ((env = getenv("FP_ROOT_BITS"))) grid.root_bits = atoi(env);
    if ((env = getenv("FP_MAX_DEPTH"))) grid.max_depth = atoi(env);
    if ((env = getenv("FP_LEAF_EDGES"))) grid.leaf_edges = atoi(env);
    fp_index_opts_init(&none);
    none.kind = FP_INDEX_NONE;

    fp_layer *G, *R;
    double t0 = now();
    if (fp_edition_open(ctx, ed, argv[1], &grid, &G)) {
        fprintf(stderr, "bench: %s\n", fp_ctx_errmsg(ctx));
        return 3;
    }
    double load_ms = (now() - t0) * 1e3;
    t0 = now();
    if (fp_edition_open(ctx, ed, argv[1], &none, &R)) {
        fprintf(stderr, "bench: %s\n", fp_ctx_errmsg(ctx));
        return 3;
    }
    double load_none_ms = (now() - t0) * 1e3;

    double *lat, *lon;
    t0 = now();
    size_t n = read_points(argv[3], &lat, &lon);
    double read_s = now() - t0;
    int32_t *out = malloc(n * sizeof *out), *ref = malloc(n * sizeof *ref);

    /* The peer: the exact reference, once (it is slow). */
    t0 = now();
    fp_layer_find_n(R, lat, lon, n, ref);
    double ref_s = now() - t0;

    double best = 1e30;
    for (int pass = 0; pass < 7; pass++) {
        t0 = now();
        fp_layer_find_n(G, lat, lon, n, out);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    size_t differ = 0, found = 0;
    for (size_t i = 0; i < n; i++) {
        if (out[i] != ref[i]) differ++;
        if (out[i] >= 0) found++;
    }
    printf("edition: %s (%zu footprints, %zu vertices)\n", ed->id, fp_layer_count(G),
           fp_layer_vertices(G));
    printf("index: grid root_bits=%d max_depth=%d leaf_edges=%d (0 = auto), %.1f MB\n",
           grid.root_bits, grid.max_depth, grid.leaf_edges,
           fp_layer_memory(G) / 1e6);
    printf("points: %zu (read and parsed in %.2f s), %zu inside a footprint\n", n,
           read_s, found);
    printf("grid:      %.1f ms per pass, %.1f M points/s (best of 7)\n", best * 1e3,
           n / best / 1e6);
    printf("reference: %.1f ms, %.2f M points/s (exact scan, no grid)\n", ref_s * 1e3,
           n / ref_s / 1e6);
    printf("ratio grid/reference: %.1fx\n", ref_s / best);
    printf("answers differing from the exact reference: %zu\n", differ);
    printf("layer load: %.1f ms with grid, %.1f ms without\n", load_ms, load_none_ms);
    printf("classify_points_per_second: %.0f\n", n / best);
    printf("layer_load_ms: %.1f\n", load_ms);
    fp_layer_free(G);
    fp_layer_free(R);
    fp_catalogue_free(cat);
    fp_ctx_free(ctx);
    free(lat);
    free(lon);
    free(out);
    free(ref);
    return differ ? 1 : 0;
}
