/*
 * seeds CATALOGUE DATA_DIR OUT: writes the binary seed inputs of the fuzz
 * targets from the real files (never committed: made at run time).
 *   OUT/atlas/      atlases of small real editions (grid, small grid,
 *                   no index), a coarse one (every 16th vertex of the real
 *                   rings: small inputs fuzz fast) and one with an edition
 *                   via finer areas (a map onto another layer)
 *   OUT/postcode/   postcode indexes imported from samples of the real
 *                   ONS postcode directories
 * Needs the whole library (GDAL reads the boundary files).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "internal.h"

static fp_ctx *ctx;

static void die(const char *what)
{
    fprintf(stderr, "seeds: %s: %s\n", what, fp_ctx_errmsg(ctx));
    exit(1);
}

static void build(const fp_catalogue *cat, const char *data, const char *id,
                  const fp_index_opts *o, const char *out)
{
    const char *const only[] = {id, NULL};
    if (fp_atlas_build(ctx, cat, data, only, o, out)) die(out);
}

/* A layer of the same footprints keeping every `step`th vertex. */
static fp_layer *coarse(const fp_layer *L, size_t step, const fp_index_opts *o)
{
    fp_builder *b = NULL;
    if (fp_builder_new(ctx, &b)) die("builder");
    double *buf = malloc(2 * sizeof(double) * (L->npts + 1));
    if (!buf) die("memory");
    for (size_t i = 0; i < L->nfeat; i++) {
        const fp_feat *f = &L->feat[i];
        if (fp_builder_add_footprint(b, L->strings + f->code, L->strings + f->name))
            die("builder");
        for (uint32_t r = f->ring0; r < f->ring0 + f->nrings; r++) {
            size_t n = 0;
            for (uint32_t v = L->ring_start[r]; v + 1 < L->ring_start[r + 1]; v += (uint32_t)step)
                buf[2 * n] = L->pts[2 * v], buf[2 * n + 1] = L->pts[2 * v + 1], n++;
            if (n >= 3 && fp_builder_add_ring(b, buf, n)) die("builder");
        }
    }
    free(buf);
    fp_layer *C = NULL;
    if (fp_builder_build(b, o, &C)) die("coarse layer");
    fp_builder_free(b);
    return C;
}

/* The real catalogue's header and nhser2024 row, and a row for the
 * grouped edition via it: a catalogue section of a few hundred bytes, so
 * mutations land mostly in the layers. */
static char mini[2048];

static void mini_catalogue(const char *editions)
{
    FILE *f = fopen(editions, "r");
    char line[1024];
    if (!f) die(editions);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "id,", 3) || !strncmp(line, "nhser2024,", 10))
            strncat(mini, line, sizeof mini - strlen(mini) - 1);
    fclose(f);
    strncat(mini, "nhser2024grp,icb,Regions grouped (real codes),2020-01-01,,"
                  "lookups/lookup_icb_nhser.csv,,ICB22CD,ICB22NM,2024,Source: Office "
                  "for National Statistics licensed under the Open Government Licence "
                  "v.3.0,,nhser2024\n", sizeof mini - strlen(mini) - 1);
}

static void write_atlas(const fp_catalogue *cat, const char *out, const fp_layer *L,
                        const fp_layer *mapped)
{
    const char *text;
    size_t len;
    fp__catalogue_text(cat, &text, &len);
    if (*mini) text = mini, len = strlen(mini);
    fp_atlas_writer *w = NULL;
    static const char sources[] = "boundaries/nhser_2024_bsc.geojson\t363773\t0\n";
    if (fp__atlas_writer_new(ctx, out, &w) ||
        fp__atlas_add_text(w, "catalogue", text, len) ||
        fp__atlas_add_text(w, "sources", sources, sizeof sources - 1) ||
        fp__atlas_add_layer(w, "nhser2024", L) ||
        (mapped && fp__atlas_add_mapped(w, "nhser2024grp", "nhser2024", mapped)) ||
        fp__atlas_writer_finish(w))
        die(out);
}

/* A sample of a real postcode CSV (plain or gzip): the header and every
 * `step`th line, written to path. */
static void sample_csv(const char *src, const char *path, long step, long max)
{
    gzFile in = gzopen(src, "rb");
    FILE *out = fopen(path, "w");
    if (!in || !out) {
        fprintf(stderr, "seeds: cannot read %s or write %s\n", src, path);
        exit(1);
    }
    char line[4096];
    long n = 0, kept = 0;
    while (gzgets(in, line, sizeof line) && kept < max) {
        if (n++ % step == 0) {
            fputs(line, out);
            kept++;
        }
    }
    gzclose(in);
    if (fclose(out) != 0) exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: seeds CATALOGUE DATA_DIR OUT\n");
        return 2;
    }
    const char *data = argv[2], *dir = argv[3];
    if (fp_ctx_new(&ctx)) return 1;
    fp_catalogue *cat = NULL;
    if (fp_catalogue_load(ctx, argv[1], &cat)) die(argv[1]);
    char p[4096];
    snprintf(p, sizeof p, "%s/atlas", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/postcode", dir);
    mkdir(p, 0755);

    fp_index_opts small, none;
    fp_index_opts_init(&small);
    small.root_bits = 4, small.max_depth = 1, small.leaf_edges = 64;
    fp_index_opts_init(&none);
    none.kind = FP_INDEX_NONE;

    snprintf(p, sizeof p, "%s/atlas/stp2017.atlas", dir);
    build(cat, data, "stp2017", NULL, p);
    snprintf(p, sizeof p, "%s/atlas/icb2022-small.atlas", dir);
    build(cat, data, "icb2022", &small, p);
    snprintf(p, sizeof p, "%s/atlas/nhser2024-none.atlas", dir);
    build(cat, data, "nhser2024", &none, p);

    /* Coarse real regions, and a mapped edition grouping them. */
    const fp_edition *ed = fp_catalogue_find(cat, "nhser2024");
    fp_layer *L = NULL;
    if (!ed || fp_edition_open(ctx, ed, data, &small, &L)) die("nhser2024");
    fp_layer *C = coarse(L, 16, &small);
    fp_index_opts tiny = small;
    tiny.max_depth = 0;
    fp_layer *T = coarse(L, 64, &tiny);
    fp_layer *N = coarse(L, 64, &none);
    char lookup[4096] = "LSOA11CD,ICB22CD,ICB22NM\n";
    for (size_t i = 0; i < fp_layer_count(C); i++) {
        size_t n = strlen(lookup);
        snprintf(lookup + n, sizeof lookup - n, "%s,G%zu,Group %zu\n", fp_layer_code(C, i),
                 i % 3, i % 3);
    }
    fp_layer *M = NULL;
    if (fp__layer_new_mapped(ctx, C, lookup, strlen(lookup), "lookup", "LSOA11CD",
                             "ICB22CD", "ICB22NM", &M))
        die("mapped");
    snprintf(p, sizeof p, "%s/atlas/nhser2024-coarse.atlas", dir);
    write_atlas(cat, p, C, NULL);
    mini_catalogue(argv[1]);
    snprintf(p, sizeof p, "%s/atlas/nhser2024-coarse-mini.atlas", dir);
    write_atlas(cat, p, C, NULL);
    snprintf(p, sizeof p, "%s/atlas/nhser2024-tiny.atlas", dir);
    write_atlas(cat, p, T, NULL);
    snprintf(p, sizeof p, "%s/atlas/nhser2024-tiny-none.atlas", dir);
    write_atlas(cat, p, N, NULL);
    snprintf(p, sizeof p, "%s/atlas/nhser2024-mapped.atlas", dir);
    write_atlas(cat, p, C, M);
    fp_layer_free(M);
    fp_layer_free(N);
    fp_layer_free(T);
    fp_layer_free(C);
    fp_layer_free(L);

    /* Postcode indexes from samples of both real directories. */
    static const struct {
        const char *src, *name;
        long step, max;
    } pcs[] = {
        {"postcodes/postcodes_nspl_nov2021.csv", "nspl2021", 997, 400},
        {"postcodes/postcodes_latlon_gb_nspl_may2025.csv.gz", "nspl2025", 4999, 60},
        {"postcodes/postcodes_latlon_gb_nspl_may2025.csv.gz", "nspl2025-head", 1, 30},
    };
    for (size_t i = 0; i < sizeof pcs / sizeof *pcs; i++) {
        char src[4096], csv[4096];
        snprintf(src, sizeof src, "%s/%s", data, pcs[i].src);
        snprintf(csv, sizeof csv, "%s/postcode/%s.csv", dir, pcs[i].name);
        sample_csv(src, csv, pcs[i].step, pcs[i].max);
        snprintf(p, sizeof p, "%s/postcode/%s.idx", dir, pcs[i].name);
        const char *const paths[] = {csv};
        if (fp_postcodes_import(ctx, paths, 1, p, NULL)) die(p);
        remove(csv);
    }
    fp_catalogue_free(cat);
    fp_ctx_free(ctx);
    return 0;
}
