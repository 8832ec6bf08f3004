/*
 * libFuzzer target: the compiled atlas loader (fp_atlas_open), section
 * verification (fp_atlas_layer) and queries on whatever it accepts.
 *
 * The input is the atlas file, held in a memory file (memfd) opened by
 * its /proc path, so no disk is touched.  Each input is tried twice:
 *   - as it is: the header, section table and checksums must reject any
 *     damage with FP_EFORMAT;
 *   - "repaired": file size, every in-bounds section checksum and the
 *     table checksum recomputed, so mutations reach the structural checks
 *     behind the checksums (counts, offsets, rings, grid), which are what
 *     stands between a crafted file and a read outside the mapping.
 * Whatever opens is then queried: every edition of its catalogue and
 * every layer section by name, points on vertices, bounding boxes and a
 * grid, nearest search, batch queries, chains, timelines and a plan.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef fp__atlas_hdr hdr;
typedef fp__atlas_sect sect;

/* Recomputes what the checksums and the size field say, where the table
 * lets us find it; returns 0 when there is nothing to repair. */
static int repair(uint8_t *d, size_t size)
{
    if (size < sizeof(hdr)) return 0;
    hdr h;
    memcpy(&h, d, sizeof h);
    if (memcmp(h.magic, "FPATLAS", 8) != 0) return 0;
    h.file_size = size;
    if (h.nsect == 0 || h.nsect > 4096 || sizeof(hdr) + (size_t)h.nsect * sizeof(sect) > size)
        return 0;
    for (uint32_t i = 0; i < h.nsect; i++) {
        sect s;
        uint8_t *e = d + sizeof(hdr) + i * sizeof(sect);
        memcpy(&s, e, sizeof s);
        if (s.offset <= size && s.length <= size - s.offset) {
            s.hash = fp__hash64(d + s.offset, (size_t)s.length);
            memcpy(e, &s, sizeof s);
        }
    }
    h.table_hash = fp__hash64(d + sizeof(hdr), h.nsect * sizeof(sect));
    memcpy(d, &h, sizeof h);
    return 1;
}

static volatile size_t sink;

static void check_index(const fp_layer *L, long i)
{
    if (i < -1 || i >= (long)fp_layer_count(L)) abort();
}

static void query_layer(const fp_layer *L)
{
    size_t n = fp_layer_count(L);
    for (size_t i = 0; i < n; i++) {
        sink += strlen(fp_layer_code(L, i)) + strlen(fp_layer_name(L, i));
        double box[4];
        fp_layer_bbox(L, i, box);
        /* Its own code finds a footprint with that code. */
        long f = fp_layer_find_code(L, fp_layer_code(L, i));
        check_index(L, f);
        if (f < 0) abort();
    }
    sink += fp_layer_memory(L) + fp_layer_vertices(L);
    double box[4];
    fp_layer_bbox(L, SIZE_MAX, box);
    /* Points: the layer's own vertices (edges and corners are where the
     * exact tests and the grid's cell walks are), a grid over its box,
     * and a few hostile values. */
    enum { NP = 256 };
    double lat[NP], lon[NP];
    int32_t out[NP];
    size_t k = 0;
    const fp_layer *G = L->base ? L->base : L;
    for (size_t v = 0; v < G->npts && k < NP / 2; v += 1 + G->npts / (NP / 2))
        lon[k] = G->pts[2 * v], lat[k] = G->pts[2 * v + 1], k++;
    for (int a = 0; a < 8; a++)
        for (int b = 0; b < 8 && k < NP - 8; b++) {
            lon[k] = box[0] + (box[2] - box[0]) * a / 7.0;
            lat[k] = box[1] + (box[3] - box[1]) * b / 7.0;
            k++;
        }
    static const double odd[][2] = {{NAN, 0}, {0, NAN}, {INFINITY, 1}, {91, 0},
                                    {0, 181}, {-90, -180}, {90, 180}, {53.5, -1.5}};
    for (size_t j = 0; j < 8; j++) lat[k] = odd[j][0], lon[k] = odd[j][1], k++;
    for (size_t j = 0; j < k; j++) {
        long f = fp_layer_find(L, lat[j], lon[j]);
        check_index(L, f);
        fp_match m = fp_layer_locate(L, lat[j], lon[j], j % 3 ? 5000.0 : 0.0);
        check_index(L, m.index);
        /* Containment answers agree between the two entry points. */
        if (m.kind == FP_MATCH_CONTAINED && m.index != f) abort();
        if (m.kind != FP_MATCH_CONTAINED && f != -1) abort();
    }
    fp_layer_find_n(L, lat, lon, k, out);
    for (size_t j = 0; j < k; j++)
        if (out[j] != fp_layer_find(L, lat[j], lon[j])) abort();
    /* The centre of every top grid cell (up to 1024 of them): each cell's
     * uniform answer, node walk or leaf record gets used. */
    if (L->kind == FP_INDEX_GRID && L->ncells && !L->base) {
        size_t side = (size_t)1 << L->root_bits, ntop = side * side;
        double span = (double)((uint64_t)1 << (L->total_bits - L->root_bits));
        for (size_t c = 0; c < ntop; c += 1 + ntop / 1024) {
            double x = L->gx0 + ((double)(c % side) + 0.5) * span / L->gsx;
            double y = L->gy0 + ((double)(c / side) + 0.5) * span / L->gsy;
            check_index(L, fp_layer_find(L, y, x));
            check_index(L, fp_layer_locate(L, y, x, 2000.0).index);
        }
    }
}

static void query_atlas(fp_ctx *ctx, const fp_atlas *A, const uint8_t *d, size_t size)
{
    const fp_catalogue *cat = fp_atlas_catalogue(A);
    sink += fp_atlas_size(A);
    for (size_t i = 0; i < fp_catalogue_count(cat); i++) {
        const fp_layer *L = NULL;
        int rc = fp_atlas_layer(ctx, A, fp_catalogue_get(cat, i)->id, &L);
        if (rc == FP_OK) {
            if (!L) abort();
            query_layer(L);
        } else if (rc != FP_ENOTFOUND && rc != FP_EFORMAT) {
            abort();
        }
    }
    /* Layer sections the catalogue does not name. */
    hdr h;
    memcpy(&h, d, sizeof h);
    for (uint32_t i = 0; i < h.nsect && i < 64; i++) {
        sect s;
        memcpy(&s, d + sizeof(hdr) + i * sizeof(sect), sizeof s);
        if (strncmp(s.name, "layer/", 6) != 0 || !memchr(s.name, '\0', sizeof s.name)) continue;
        const fp_layer *L = NULL;
        if (fp_atlas_layer(ctx, A, s.name + 6, &L) == FP_OK) query_layer(L);
    }
    static const char *const dates[] = {"2018-01-01", "2022-08-01", "2025-01-01"};
    static const double pts[][2] = {{53.381, -1.470}, {51.5, -0.12}, {54.9, -2.9}};
    for (int j = 0; j < 3; j++) {
        fp_link links[FP_TIER_COUNT];
        int rc = fp_atlas_chain(ctx, A, pts[j][0], pts[j][1], dates[j], 2000.0, links);
        if (rc == FP_OK)
            for (int t = 0; t < FP_TIER_COUNT; t++)
                if (links[t].code) sink += strlen(links[t].code) + strlen(links[t].status);
    }
    fp_period per[16];
    size_t np = 0;
    if (fp_atlas_timeline(ctx, A, 53.381, -1.470, "2015-01-01", "2027-01-01", 0, per, 16,
                          &np) == FP_OK && np > 16)
        abort();
    fp_plan *plan = NULL;
    if (fp_plan_new(ctx, A, &plan) == FP_OK) {
        for (int t = 0; t < FP_TIER_COUNT; t++) fp_plan_add_tier(ctx, plan, t, "2023-06-01");
        if (fp_catalogue_count(cat))
            fp_plan_add_edition(ctx, plan, fp_catalogue_get(cat, 0)->id);
        const double lat[3] = {53.381, 51.5, NAN}, lon[3] = {-1.470, -0.12, 0};
        size_t nc = fp_plan_columns(plan);
        fp_hit *hits = calloc(3 * (nc ? nc : 1), sizeof *hits);
        if (!hits) abort();
        fp_plan_locate_n(plan, lat, lon, 3, 1000.0, hits);
        for (size_t j = 0; j < 3 * nc; j++)
            if (hits[j].entry >= 0) {
                const fp_link *a = fp_plan_answer(plan, j % nc, hits[j].entry);
                if (a && a->code) sink += strlen(a->code);
            }
        free(hits);
        fp_plan_free(plan);
    }
}

static void try_open(fp_ctx *ctx, const uint8_t *d, size_t size)
{
    const char *input = fuzz_input_file("fuzz-atlas", d, size);
    fp_atlas *A = NULL;
    int rc = fp_atlas_open(ctx, input, &A);
    if (rc == FP_OK) {
        if (!A) abort();
        query_atlas(ctx, A, d, size);
        fp_atlas_free(A);
    } else {
        if (A || (rc != FP_EFORMAT && rc != FP_EIO && rc != FP_ENOMEM)) abort();
        const char *msg = fp_ctx_errmsg(ctx);
        if (!*msg || strchr(msg, '\n')) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fp_ctx *ctx;
    if (!ctx && fp_ctx_new(&ctx)) abort();
    try_open(ctx, data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    memcpy(copy, data, size);
    if (repair(copy, size)) try_open(ctx, copy, size);
    free(copy);
    return 0;
}
