/* The adaptive grid index (lib/src/index.c), checked against a brute-force
 * reference written here from the documented rule alone: an even-odd ray
 * cast over every ring of every footprint with the exact orientation
 * predicate, with a point on a boundary belonging to whatever contains it
 * nudged east by d and north by e << d, and the first footprint in code
 * order winning.  The reference never calls fp__feat_contains nor reads
 * the layer's stripes: it works from the coordinates this file handed to
 * the builder. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "support.h"

/* ---- deterministic randomness ---- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnext(rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static double runi(rng *r) { return (double)(rnext(r) >> 11) * 0x1p-53; }
static double rrange(rng *r, double a, double b) { return a + (b - a) * runi(r); }
static int rbelow(rng *r, int n) { return (int)(rnext(r) % (uint64_t)n); }
/* x rounded to a multiple of 2^-bits: exactly representable offsets. */
static double dyadic(double x, int bits) { return ldexp(round(ldexp(x, bits)), -bits); }

/* ---- geometry as the test keeps it ---- */

typedef struct tfoot {
    char code[24];
    size_t ring0, nrings;
} tfoot;

typedef struct geom {
    const char *name;
    tfoot *f;
    size_t nf, fcap;
    size_t *rstart, *rlen; /* rings: start (in points) and length, open */
    size_t nr, rcap, rlcap;
    double *pts;
    size_t np, pcap;
    size_t *order; /* footprints by code */
    double box[4];
} geom;

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(p, c * size);
    assert_non_null(q);
    *cap = c;
    return q;
}

static void g_init(geom *g, const char *name)
{
    memset(g, 0, sizeof *g);
    g->name = name;
}

static void g_free(geom *g)
{
    free(g->f);
    free(g->rstart);
    free(g->rlen);
    free(g->pts);
    free(g->order);
    memset(g, 0, sizeof *g);
}

/* Starts a footprint; codes are made unique by a serial suffix, and their
 * prefix decides the code order (which need not be the insertion order). */
static void g_foot(geom *g, const char *prefix)
{
    g->f = grow(g->f, &g->fcap, g->nf + 1, sizeof *g->f);
    tfoot *f = &g->f[g->nf];
    snprintf(f->code, sizeof f->code, "%s.%04zu", prefix, g->nf);
    f->ring0 = g->nr;
    f->nrings = 0;
    g->nf++;
}

/* Adds an open ring (n points, not repeated at the end) to the last
 * footprint; reversed on request.  Like the builder, drops a ring of fewer
 * than three distinct points (it encloses nothing either way). */
static void g_ring(geom *g, const double *xy, size_t n, int reversed)
{
    assert_true(g->nf > 0);
    size_t distinct = 0;
    for (size_t i = 0; i < n && distinct < 3; i++) {
        size_t j = 0;
        while (j < i && (xy[2 * j] != xy[2 * i] || xy[2 * j + 1] != xy[2 * i + 1])) j++;
        if (j == i) distinct++;
    }
    if (distinct < 3) return;
    g->pts = grow(g->pts, &g->pcap, g->np + n, 2 * sizeof *g->pts);
    for (size_t i = 0; i < n; i++) {
        size_t k = reversed ? n - 1 - i : i;
        assert_true(fabs(xy[2 * k]) <= 180 && fabs(xy[2 * k + 1]) <= 90);
        g->pts[2 * (g->np + i)] = xy[2 * k];
        g->pts[2 * (g->np + i) + 1] = xy[2 * k + 1];
    }
    g->rstart = grow(g->rstart, &g->rcap, g->nr + 1, sizeof *g->rstart);
    g->rlen = grow(g->rlen, &g->rlcap, g->nr + 1, sizeof *g->rlen);
    g->rstart[g->nr] = g->np;
    g->rlen[g->nr] = n;
    g->nr++;
    g->np += n;
    g->f[g->nf - 1].nrings++;
}

static const geom *sort_geom;
static int cmp_code(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return strcmp(sort_geom->f[i].code, sort_geom->f[j].code);
}

/* Code order and bounding box; call once the geometry is complete. */
static void g_done(geom *g)
{
    g->order = malloc((g->nf + 1) * sizeof *g->order);
    assert_non_null(g->order);
    for (size_t i = 0; i < g->nf; i++) g->order[i] = i;
    sort_geom = g;
    qsort(g->order, g->nf, sizeof *g->order, cmp_code);
    g->box[0] = g->box[1] = INFINITY;
    g->box[2] = g->box[3] = -INFINITY;
    for (size_t p = 0; p < g->np; p++) {
        g->box[0] = fmin(g->box[0], g->pts[2 * p]);
        g->box[1] = fmin(g->box[1], g->pts[2 * p + 1]);
        g->box[2] = fmax(g->box[2], g->pts[2 * p]);
        g->box[3] = fmax(g->box[3], g->pts[2 * p + 1]);
    }
}

static fp_layer *g_build(fp_ctx *ctx, const geom *g, const fp_index_opts *o)
{
    fp_builder *b;
    assert_int_equal(fp_builder_new(ctx, &b), FP_OK);
    for (size_t i = 0; i < g->nf; i++) {
        assert_int_equal(fp_builder_add_footprint(b, g->f[i].code, ""), FP_OK);
        for (size_t r = g->f[i].ring0; r < g->f[i].ring0 + g->f[i].nrings; r++)
            assert_int_equal(fp_builder_add_ring(b, g->pts + 2 * g->rstart[r],
                                                 g->rlen[r]),
                             FP_OK);
    }
    fp_layer *L = test_build(ctx, b, o);
    size_t kept = 0; /* footprints without a ring are dropped */
    for (size_t i = 0; i < g->nf; i++) kept += g->f[i].nrings > 0;
    assert_int_equal(fp_layer_count(L), kept);
    return L;
}

/* ---- the reference ---- */

/* Even-odd parity of the eastward ray from (px, py) against one ring (closed
 * here: its last point joins its first).  An edge counts when it straddles
 * the line y = py + e (one end above py, the other at or below) and the
 * point lies strictly west of it (p + d would still be west only then). */
static int ref_ring(const double *xy, size_t n, double px, double py)
{
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        const double *a = xy + 2 * i, *b = xy + 2 * ((i + 1) % n);
        if ((a[1] > py) == (b[1] > py)) continue;
        const double *lo = a[1] > py ? b : a, *hi = a[1] > py ? a : b;
        if (fp__orient(lo[0], lo[1], hi[0], hi[1], px, py) > 0) in ^= 1;
    }
    return in;
}

/* The code of the footprint containing (x, y), or "none". */
static const char *ref_code(const geom *g, double x, double y)
{
    /* Documented: non-finite or out-of-range input finds none. */
    if (!isfinite(x) || !isfinite(y) || fabs(x) > 180 || fabs(y) > 90) return "none";
    for (size_t k = 0; k < g->nf; k++) {
        const tfoot *f = &g->f[g->order[k]];
        int in = 0;
        for (size_t r = f->ring0; r < f->ring0 + f->nrings; r++)
            in ^= ref_ring(g->pts + 2 * g->rstart[r], g->rlen[r], x, y);
        if (in) return f->code;
    }
    return "none";
}

/* ---- query points ---- */

typedef struct qset {
    double *xy;
    size_t n, cap;
} qset;

static void q_add(qset *q, double x, double y)
{
    /* The predicate is exact for coordinate differences above 1e-150 (the
     * header): a point a few subnormals from a vertex at 0 is outside that
     * promise (the products underflow), so none is asked about. */
    if ((x != 0 && fabs(x) < 1e-150) || (y != 0 && fabs(y) < 1e-150)) return;
    q->xy = grow(q->xy, &q->cap, q->n + 1, 2 * sizeof *q->xy);
    q->xy[2 * q->n] = x;
    q->xy[2 * q->n + 1] = y;
    q->n++;
}

/* Vertices and their nextafter() neighbours (8 directions), points on edges
 * (midpoints and rounded fractions), points on the lines y = vertex.y and
 * x = vertex.x, and uniform random points over the box and around it. */
static void q_from_geom(qset *q, const geom *g, rng *r, size_t nrandom)
{
    for (size_t ri = 0; ri < g->nr; ri++) {
        const double *xy = g->pts + 2 * g->rstart[ri];
        size_t n = g->rlen[ri];
        for (size_t i = 0; i < n; i++) {
            const double *a = xy + 2 * i, *b = xy + 2 * ((i + 1) % n);
            q_add(q, a[0], a[1]);
            for (int dx = -1; dx <= 1; dx++)
                for (int dy = -1; dy <= 1; dy++) {
                    if (!dx && !dy) continue;
                    double x = dx ? nextafter(a[0], dx * INFINITY) : a[0];
                    double y = dy ? nextafter(a[1], dy * INFINITY) : a[1];
                    q_add(q, x, y);
                }
            q_add(q, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2);
            double t = runi(r);
            q_add(q, a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]));
            q_add(q, (3 * a[0] + b[0]) / 4, (3 * a[1] + b[1]) / 4);
        }
    }
    double w = g->box[2] - g->box[0], h = g->box[3] - g->box[1];
    size_t nv = g->np;
    for (size_t k = 0; k < nv && k < 3000; k++) {
        size_t i = nv <= 3000 ? k : (size_t)rbelow(r, (int)nv);
        double vx = g->pts[2 * i], vy = g->pts[2 * i + 1];
        size_t j = (size_t)rbelow(r, (int)nv);
        q_add(q, rrange(r, g->box[0] - w / 8, g->box[2] + w / 8), vy);
        q_add(q, g->pts[2 * j], vy); /* another vertex's x on this line */
        q_add(q, g->box[0], vy);
        q_add(q, vx, rrange(r, g->box[1] - h / 8, g->box[3] + h / 8));
        q_add(q, vx, g->pts[2 * j + 1]);
    }
    for (size_t k = 0; k < nrandom; k++) {
        if (k % 2 == 0) {
            q_add(q, rrange(r, g->box[0] - w / 10, g->box[2] + w / 10),
                  rrange(r, g->box[1] - h / 10, g->box[3] + h / 10));
            continue;
        }
        /* Around one ring: the layer may be much bigger than its parts. */
        size_t ri = (size_t)rbelow(r, (int)g->nr);
        const double *xy = g->pts + 2 * g->rstart[ri];
        double b[4] = {INFINITY, INFINITY, -INFINITY, -INFINITY};
        for (size_t i = 0; i < g->rlen[ri]; i++) {
            b[0] = fmin(b[0], xy[2 * i]), b[2] = fmax(b[2], xy[2 * i]);
            b[1] = fmin(b[1], xy[2 * i + 1]), b[3] = fmax(b[3], xy[2 * i + 1]);
        }
        double rw = b[2] - b[0], rh = b[3] - b[1];
        q_add(q, rrange(r, b[0] - rw / 10, b[2] + rw / 10),
              rrange(r, b[1] - rh / 10, b[3] + rh / 10));
    }
}

/* Points on the lines of the grid's own cells: the top cells and the finest
 * cells, exactly and one ulp below, where rounding a point to its cell
 * could go wrong.  Read from the layer (only the query points come from
 * its internals: the answers are still the reference's). */
static void q_from_grid(qset *q, const fp_layer *L, const geom *g, rng *r, size_t n)
{
    if (L->kind != FP_INDEX_GRID) return;
    double top_w = (L->gx1 - L->gx0) / (double)(1u << L->root_bits);
    double top_h = (L->gy1 - L->gy0) / (double)(1u << L->root_bits);
    uint64_t fine = (uint64_t)1 << L->total_bits;
    for (size_t k = 0; k < n; k++) {
        double x, y;
        switch (k % 4) {
        case 0: /* top-cell corners */
            x = L->gx0 + rbelow(r, 1 << L->root_bits) * top_w;
            y = L->gy0 + rbelow(r, 1 << L->root_bits) * top_h;
            break;
        case 1: /* finest-cell lines */
            x = L->gx0 + (double)(rnext(r) % fine) / L->gsx;
            y = L->gy0 + (double)(rnext(r) % fine) / L->gsy;
            break;
        case 2: { /* a vertex's latitude on a finest-cell line */
            size_t i = (size_t)rbelow(r, (int)g->np);
            x = L->gx0 + (double)(rnext(r) % fine) / L->gsx;
            y = g->pts[2 * i + 1];
            break;
        }
        default: { /* a vertex's longitude on a top-cell line */
            size_t i = (size_t)rbelow(r, (int)g->np);
            x = g->pts[2 * i];
            y = L->gy0 + rbelow(r, 1 << L->root_bits) * top_h;
            break;
        }
        }
        if (rnext(r) & 1) x = nextafter(x, -INFINITY);
        if (rnext(r) & 1) y = nextafter(y, -INFINITY);
        q_add(q, x, y);
    }
}

/* ---- comparing a layer with the reference ---- */

/* One expected answer, counted and reported rather than asserted, so that
 * a test frees what it holds before it fails (a leak would fail the next
 * test too). */
static void expect_at(const fp_layer *L, double x, double y, const char *want, long *bad)
{
    const char *got = test_code_at(L, x, y);
    if (strcmp(got, want) != 0) {
        print_message("# (%.17g, %.17g): %s, want %s\n", x, y, got, want);
        (*bad)++;
    }
}

static void describe(char *buf, size_t n, const fp_index_opts *o)
{
    if (o->kind == FP_INDEX_NONE)
        snprintf(buf, n, "FP_INDEX_NONE");
    else
        snprintf(buf, n, "grid root_bits %d max_depth %d leaf_edges %d",
                 o->root_bits, o->max_depth, o->leaf_edges);
}

/* Compares every point of q; want[i] = the reference answer (NULL: ask the
 * reference now).  Reports the first few disagreements, returns their
 * number. */
static long compare(const geom *g, const fp_layer *L, const fp_index_opts *o,
                    const qset *q, const char *const *want)
{
    long bad = 0;
    char what[96];
    describe(what, sizeof what, o);
    int32_t *batch = malloc((q->n + 1) * sizeof *batch);
    double *lat = malloc((q->n + 1) * sizeof *lat), *lon = malloc((q->n + 1) * sizeof *lon);
    assert_true(batch && lat && lon);
    for (size_t i = 0; i < q->n; i++) {
        lon[i] = q->xy[2 * i];
        lat[i] = q->xy[2 * i + 1];
    }
    fp_layer_find_n(L, lat, lon, q->n, batch);
    for (size_t i = 0; i < q->n; i++) {
        double x = q->xy[2 * i], y = q->xy[2 * i + 1];
        const char *ref = want ? want[i] : ref_code(g, x, y);
        const char *got = test_code_at(L, x, y);
        long one = fp_layer_find(L, y, x);
        if (strcmp(got, ref) != 0 || batch[i] != (int32_t)one) {
            if (bad < 5)
                print_message("# %s, %s: (%.17g, %.17g): index says %s "
                              "(batch %ld), reference says %s\n",
                              g->name, what, x, y, got, (long)batch[i], ref);
            bad++;
        }
    }
    free(batch);
    free(lat);
    free(lon);
    return bad;
}

/* The index variants of the brief.  Building the 4096 x 4096 top grid
 * (v[6]) takes over a second even for a trivial layer, so one layer made
 * for it uses it. */
enum { NVAR = 7, ALL_BUT_BIG = 0x3f, ALL = 0x7f };
static void variants(fp_index_opts v[NVAR])
{
    for (int i = 0; i < NVAR; i++) fp_index_opts_init(&v[i]);
    v[1].kind = FP_INDEX_NONE;
    v[2].root_bits = 4, v[2].max_depth = 0;
    v[3].root_bits = 4, v[3].max_depth = 6, v[3].leaf_edges = 1;
    v[4].root_bits = 9, v[4].max_depth = 8, v[4].leaf_edges = 2;
    v[5].root_bits = 5, v[5].max_depth = 3, v[5].leaf_edges = 2;
    v[6].root_bits = 12, v[6].max_depth = 2, v[6].leaf_edges = 100;
}

/* Builds g under each variant in `mask` and compares each with the
 * reference on the shared points (and `extra`) and on its own cell lines. */
static void check_geom(const geom *g, uint64_t seed, unsigned mask, size_t nrandom,
                       const qset *extra)
{
    fp_ctx *ctx = test_ctx();
    rng r = {seed};
    qset q = {0};
    q_from_geom(&q, g, &r, nrandom);
    for (size_t i = 0; extra && i < extra->n; i++)
        q_add(&q, extra->xy[2 * i], extra->xy[2 * i + 1]);
    const char **want = malloc(q.n * sizeof *want);
    assert_non_null(want);
    for (size_t i = 0; i < q.n; i++) want[i] = ref_code(g, q.xy[2 * i], q.xy[2 * i + 1]);
    fp_index_opts v[NVAR];
    variants(v);
    long bad = 0;
    for (int k = 0; k < NVAR; k++) {
        if (!(mask >> k & 1)) continue;
        fp_layer *L = g_build(ctx, g, &v[k]);
        double box[4];
        fp_layer_bbox(L, SIZE_MAX, box);
        for (int i = 0; i < 4; i++) assert_true(box[i] == g->box[i]);
        bad += compare(g, L, &v[k], &q, want);
        qset c = {0};
        q_from_grid(&c, L, g, &r, 4000);
        bad += compare(g, L, &v[k], &c, NULL);
        free(c.xy);
        fp_layer_free(L);
    }
    free(want);
    free(q.xy);
    test_ctx_done(ctx);
    if (bad) fail_msg("%s: %ld disagreements with the reference", g->name, bad);
}

/* ---- layer generators ---- */

/* A (n + 1)^2 lattice of jittered shared vertices, quads between them in
 * random orientation; some quads get a triangular hole at a corner, filled
 * exactly by another footprint.  dyadic: coordinates on a 2^-10 grid with
 * some rows sharing latitudes (horizontal shared edges). */
static void gen_lattice(geom *g, rng *r, int n, double ox, double oy, double step,
                        int dyadic_coords)
{
    double vx[17][17], vy[17][17];
    assert_true(n <= 16);
    for (int i = 0; i <= n; i++)
        for (int j = 0; j <= n; j++) {
            if (dyadic_coords) {
                vx[i][j] = ox + (i * 8 + rbelow(r, 5) - 2) * step;
                vy[i][j] = oy + (j * 8 + rbelow(r, 5) - 2) * step;
                if (i > 0 && rbelow(r, 3) == 0) vy[i][j] = vy[i - 1][j];
            } else {
                vx[i][j] = ox + (i + rrange(r, -0.2, 0.2)) * step;
                vy[i][j] = oy + (j + rrange(r, -0.2, 0.2)) * step * 0.78;
            }
            if (i == 0 || i == n) vx[i][j] = ox + i * (dyadic_coords ? 8 * step : step);
            if (j == 0 || j == n)
                vy[i][j] = oy + j * (dyadic_coords ? 8 * step : step * 0.78);
        }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            char prefix[16];
            snprintf(prefix, sizeof prefix, "Q%03d", rbelow(r, 1000));
            g_foot(g, prefix);
            const double q[] = {vx[i][j],         vy[i][j],         vx[i + 1][j],
                                vy[i + 1][j],     vx[i + 1][j + 1], vy[i + 1][j + 1],
                                vx[i][j + 1],     vy[i][j + 1]};
            g_ring(g, q, 4, rbelow(r, 2));
            if (rbelow(r, 4) == 0) {
                double cx = (vx[i][j] + vx[i + 1][j + 1]) / 2;
                double cy = (vy[i][j] + vy[i + 1][j + 1]) / 2;
                const double t[] = {vx[i][j], vy[i][j], cx, cy,
                                    (cx + vx[i + 1][j]) / 2, (cy + vy[i + 1][j]) / 2};
                g_ring(g, t, 3, rbelow(r, 2));
                snprintf(prefix, sizeof prefix, "H%03d", rbelow(r, 1000));
                g_foot(g, prefix);
                g_ring(g, t, 3, rbelow(r, 2));
            }
        }
}

/* Stars with a scaled-down copy as their hole (inside: a star is star-
 * shaped about its centre), overlapping each other; some holes filled by a
 * footprint with exactly the hole's ring. */
static void gen_stars(geom *g, rng *r, int count, double ox, double oy, double size,
                      int snap_bits)
{
    for (int s = 0; s < count; s++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "S%03d", rbelow(r, 1000));
        g_foot(g, prefix);
        int n = 5 + rbelow(r, 36);
        double cx = ox + rrange(r, 0, size), cy = oy + rrange(r, 0, size);
        double R = rrange(r, size / 20, size / 3);
        double outer[2 * 40], hole[2 * 40];
        for (int k = 0; k < n; k++) {
            double a = 6.283185307179586 * k / n;
            double rr = R * (k & 1 ? rrange(r, 0.3, 0.6) : rrange(r, 0.7, 1.0));
            outer[2 * k] = cx + rr * cos(a);
            outer[2 * k + 1] = cy + rr * sin(a);
            hole[2 * k] = cx + 0.4 * rr * cos(a);
            hole[2 * k + 1] = cy + 0.4 * rr * sin(a);
            if (snap_bits) {
                outer[2 * k] = dyadic(outer[2 * k], snap_bits);
                outer[2 * k + 1] = dyadic(outer[2 * k + 1], snap_bits);
                hole[2 * k] = dyadic(hole[2 * k], snap_bits);
                hole[2 * k + 1] = dyadic(hole[2 * k + 1], snap_bits);
            }
        }
        g_ring(g, outer, (size_t)n, rbelow(r, 2));
        if (rbelow(r, 3)) {
            g_ring(g, hole, (size_t)n, rbelow(r, 2));
            if (rbelow(r, 2)) {
                snprintf(prefix, sizeof prefix, "F%03d", rbelow(r, 1000));
                g_foot(g, prefix);
                g_ring(g, hole, (size_t)n, rbelow(r, 2));
            }
        }
    }
}

/* A partition of an m x m block of 0.5-degree cells on the 0.5 lattice:
 * each cell, or each half of it cut along a diagonal, is a ring of one of
 * a few footprints (or of none), so every lattice line and many diagonals
 * are edges: horizontal, vertical, collinear runs, shared by two rings
 * (never three: coincident edges refine to full depth).  Two rectangles on
 * the quarter lines overlap it. */
static void gen_half_lattice(geom *g, rng *r, int m, double ox, double oy)
{
    enum { NF = 5 };
    int owner[16][16][2], split[16][16];
    assert_true(m <= 16);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            split[i][j] = rbelow(r, 3); /* 0: whole, 1 or 2: cut along either diagonal */
            for (int h = 0; h < 2; h++) {
                int o = rbelow(r, 10) == 0 ? -1 : rbelow(r, NF);
                if (i > 0 && rbelow(r, 5) < 3) o = owner[i - 1][j][h]; /* clusters */
                owner[i][j][h] = o;
            }
            if (!split[i][j]) owner[i][j][1] = owner[i][j][0];
        }
    for (int f = 0; f < NF; f++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "L%03d", rbelow(r, 1000));
        g_foot(g, prefix);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) {
                double x0 = ox + 0.5 * i, y0 = oy + 0.5 * j, x1 = x0 + 0.5, y1 = y0 + 0.5;
                if (!split[i][j]) {
                    const double q[] = {x0, y0, x1, y0, x1, y1, x0, y1};
                    if (owner[i][j][0] == f) g_ring(g, q, 4, rbelow(r, 2));
                } else if (split[i][j] == 1) {
                    const double lo[] = {x0, y0, x1, y0, x1, y1};
                    const double hi[] = {x0, y0, x1, y1, x0, y1};
                    if (owner[i][j][0] == f) g_ring(g, lo, 3, rbelow(r, 2));
                    if (owner[i][j][1] == f) g_ring(g, hi, 3, rbelow(r, 2));
                } else {
                    const double lo[] = {x0, y0, x1, y0, x0, y1};
                    const double hi[] = {x1, y0, x1, y1, x0, y1};
                    if (owner[i][j][0] == f) g_ring(g, lo, 3, rbelow(r, 2));
                    if (owner[i][j][1] == f) g_ring(g, hi, 3, rbelow(r, 2));
                }
            }
    }
    for (int k = 0; k < 2; k++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "R%03d", rbelow(r, 1000));
        g_foot(g, prefix);
        double x0 = ox + 0.25 + 0.5 * rbelow(r, m - 1), y0 = oy + 0.25 + 0.5 * rbelow(r, m - 1);
        double x1 = x0 + 0.5 * (1 + rbelow(r, 3)), y1 = y0 + 0.5 * (1 + rbelow(r, 3));
        const double q[] = {x0, y0, x1, y0, x1, y1, x0, y1};
        g_ring(g, q, 4, rbelow(r, 2));
    }
}

/* A 200-edge zigzag shared exactly by the footprint above it and the one
 * below it: a dense run of edges the grid must refine around. */
static void gen_zigzag(geom *g, const char *prefix, double ox, double oy, double scale)
{
    enum { N = 200 };
    double up[2 * (N + 2)], down[2 * (N + 2)];
    for (int q = 0; q < N; q++) {
        up[2 * q] = down[2 * q] = ox + q * scale / 64;
        up[2 * q + 1] = down[2 * q + 1] = oy + ((q & 1) ? scale / 256 : 0);
    }
    double east = ox + (N - 1) * scale / 64;
    up[2 * N] = east, up[2 * N + 1] = oy + scale;
    up[2 * N + 2] = ox, up[2 * N + 3] = oy + scale;
    down[2 * N] = east, down[2 * N + 1] = oy - scale;
    down[2 * N + 2] = ox, down[2 * N + 3] = oy - scale;
    char code[32];
    snprintf(code, sizeof code, "%s-up", prefix);
    g_foot(g, code);
    g_ring(g, up, N + 2, 0);
    snprintf(code, sizeof code, "%s-down", prefix);
    g_foot(g, code);
    g_ring(g, down, N + 2, 1);
}

/* Slivers: needle triangles a few ulps to 1e-9 wide (some across the whole
 * layer), tiny polygons, and a sliver glued to a rectangle's edge. */
static void gen_slivers(geom *g, rng *r, int count, double ox, double oy, double size)
{
    g_foot(g, "Mbase");
    const double base[] = {ox, oy, ox + size / 2, oy, ox + size / 2, oy + size / 2,
                           ox, oy + size / 2};
    g_ring(g, base, 4, 0);
    g_foot(g, "Mglued"); /* shares the base's east edge */
    const double glued[] = {ox + size / 2, oy, ox + size, oy + size / 4 + 1e-12,
                            ox + size / 2, oy + size / 2};
    g_ring(g, glued, 3, 0);
    for (int s = 0; s < count; s++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "N%03d", rbelow(r, 1000));
        g_foot(g, prefix);
        double x0 = ox + rrange(r, 0, size), y0 = oy + rrange(r, 0, size);
        double x1 = ox + rrange(r, 0, size), y1 = oy + rrange(r, 0, size);
        double w = pow(10, -rrange(r, 9, 14));
        int kind = rbelow(r, 3);
        if (kind == 0) { /* needle */
            const double t[] = {x0, y0, x1, y1, x1 + w, y1 + w * rrange(r, -1, 1)};
            g_ring(g, t, 3, rbelow(r, 2));
        } else if (kind == 1) { /* a few ulps wide, sharing a point */
            const double t[] = {x0, y0, x1, y1, nextafter(nextafter(x1, INFINITY), INFINITY),
                                y1};
            g_ring(g, t, 3, rbelow(r, 2));
        } else { /* a tiny polygon on a fine dyadic grid */
            int n = 3 + rbelow(r, 10);
            double xy[2 * 13], R = fmax(w * 100, 1e-11);
            for (int k = 0; k < n; k++) {
                double a = 6.283185307179586 * k / n, rr = R * rrange(r, 0.2, 1);
                xy[2 * k] = dyadic(x0 + rr * cos(a), 44);
                xy[2 * k + 1] = dyadic(y0 + rr * sin(a), 44);
            }
            g_ring(g, xy, (size_t)n, 0);
        }
    }
}

/* ---- 1. the grid against the reference ---- */

static void test_index_lattice_matches_reference(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        geom g;
        g_init(&g, round ? "decimal lattice" : "dyadic lattice");
        rng r = {0x1234567ull + (uint64_t)round * 7919};
        if (round == 0)
            gen_lattice(&g, &r, 5, -3.5, 50.0, 1.0 / 1024, 1);
        else
            gen_lattice(&g, &r, 5, -2.0, 52.0, 0.37, 0);
        g_done(&g);
        check_geom(&g, 1000 + (uint64_t)round, ALL_BUT_BIG, 5000, NULL);
        g_free(&g);
    }
}

/* Stars with holes, overlapping, some holes filled; and a self-crossing
 * ring (its even-odd interior). */
static void test_index_stars_with_holes_match_reference(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        geom g;
        g_init(&g, round ? "stars, snapped to 2^-20" : "stars");
        rng r = {0xfeedbeefull + (uint64_t)round};
        gen_stars(&g, &r, 10, -1.0 - round, 51.0 + round, 1.0 + round, round ? 20 : 0);
        g_foot(&g, "X");
        double xy[2 * 12];
        for (int k = 0; k < 12; k++) {
            xy[2 * k] = rrange(&r, -1.0 - round, round * 2.0);
            xy[2 * k + 1] = rrange(&r, 51.0 + round, 52.0 + 2 * round);
        }
        g_ring(&g, xy, 12, 0);
        g_done(&g);
        check_geom(&g, 2000 + (uint64_t)round, ALL_BUT_BIG, 5000, NULL);
        g_free(&g);
    }
}

static void test_index_half_lattice_matches_reference(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        geom g;
        g_init(&g, "0.5 lattice");
        rng r = {0xabcdef01ull * (uint64_t)(round + 1)};
        gen_half_lattice(&g, &r, 5, round ? -4.0 : 0.5, 50.0);
        /* A far corner: a bigger layer makes full-depth runs cheaper. */
        g_foot(&g, "anchor");
        const double far[] = {6.5, 53.0, 7.0, 53.5, 6.5, 53.5};
        g_ring(&g, far, 3, 0);
        g_done(&g);
        /* Also every point of the 0.25 lattice: vertices, edge midpoints,
         * cell centres. */
        qset q = {0};
        for (double y = g.box[1] - 0.5; y <= g.box[3] + 0.5; y += 0.25)
            for (double x = g.box[0] - 0.5; x <= g.box[2] + 0.5; x += 0.25) q_add(&q, x, y);
        check_geom(&g, 3000 + (uint64_t)round, ALL_BUT_BIG, 3000, &q);
        free(q.xy);
        g_free(&g);
    }
}

static void test_index_zigzag_matches_reference(void **state)
{
    (void)state;
    geom g;
    g_init(&g, "zigzag");
    rng r = {77};
    gen_zigzag(&g, "Z", -3.0, 53.0, 0.5);
    gen_lattice(&g, &r, 4, -0.875, 53.5, 1.0 / 16, 1); /* company to the east */
    g_done(&g);
    check_geom(&g, 4000, ALL_BUT_BIG, 5000, NULL);
    g_free(&g);
}

/* Big leaves: a 200-tooth zigzag a thousandth of a degree long in a layer
 * three degrees across gives leaves of some 80 edges under the 4096 x 4096
 * top grid (the only layer built with it) and of hundreds under 4/0/4. */
static void test_index_dense_leaves_match_reference(void **state)
{
    (void)state;
    geom g;
    g_init(&g, "dense zigzag");
    rng r = {0xde45eull};
    gen_lattice(&g, &r, 3, -2.0, 52.0, 1.0 / 8, 1);
    gen_zigzag(&g, "A", -1.5, 52.5, 1.0 / 1024 / 2.5); /* before Q: wins */
    g_done(&g);
    check_geom(&g, 4500, ALL, 5000, NULL);
    g_free(&g);
}

static void test_index_slivers_match_reference(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        geom g;
        g_init(&g, "slivers");
        rng r = {0x51173ull + (uint64_t)round};
        gen_slivers(&g, &r, 25, -1.5, 52.5, round ? 0.01 : 2.0);
        g_done(&g);
        check_geom(&g, 5000 + (uint64_t)round, ALL_BUT_BIG, 5000, NULL);
        g_free(&g);
    }
}

/* Everything at once, once near England and once near the far corner of
 * the coordinate range (where the grid's margin is largest). */
static void test_index_mixed_matches_reference(void **state)
{
    (void)state;
    static const double where[2][2] = {{-2.5, 52.0}, {170.0, -86.0}};
    for (int round = 0; round < 2; round++) {
        geom g;
        g_init(&g, round ? "mixed, far corner" : "mixed");
        rng r = {0x3141592653ull + (uint64_t)round};
        double ox = where[round][0], oy = where[round][1];
        gen_lattice(&g, &r, 5, ox, oy, 1.0 / 256, 1);
        gen_stars(&g, &r, 6, ox, oy, 0.2, 0);
        gen_half_lattice(&g, &r, 4, ox + 0.25, oy + 0.25);
        gen_slivers(&g, &r, 10, ox, oy, 0.2);
        gen_zigzag(&g, "Z", ox + 1, oy + 0.15, 0.02);
        g_done(&g);
        assert_true(g.box[2] <= 180 && g.box[3] <= 90);
        check_geom(&g, 6000 + (uint64_t)round, ALL_BUT_BIG, 5000, NULL);
        g_free(&g);
    }
}

/* Overlaps: where footprints overlap, the smallest code wins, whether the
 * winner crosses the cell or covers it whole. */
static void test_index_overlaps_smallest_code_wins(void **state)
{
    (void)state;
    geom g;
    g_init(&g, "overlaps");
    g_foot(&g, "B-big"); /* covers everything */
    const double big[] = {-3, 50, 1, 50, 1, 54, -3, 54};
    g_ring(&g, big, 4, 0);
    g_foot(&g, "A-small"); /* before B: wins inside itself */
    const double a[] = {-2, 51, -1.5, 51.2, -1.7, 51.9};
    g_ring(&g, a, 3, 0);
    g_foot(&g, "C-small"); /* after B: never wins */
    const double c[] = {0, 52, 0.5, 52.1, 0.2, 52.8};
    g_ring(&g, c, 3, 0);
    g_done(&g);
    fp_ctx *ctx = test_ctx();
    fp_index_opts v[NVAR];
    variants(v);
    long bad = 0;
    for (int k = 0; k < NVAR - 1; k++) {
        fp_layer *L = g_build(ctx, &g, &v[k]);
        expect_at(L, -1.7, 51.4, g.f[1].code, &bad);
        expect_at(L, 0.2, 52.3, g.f[0].code, &bad);
        expect_at(L, -2.9, 50.1, g.f[0].code, &bad);
        expect_at(L, 1, 52, "none", &bad);
        fp_layer_free(L);
    }
    test_ctx_done(ctx);
    if (bad) {
        g_free(&g);
        fail_msg("overlaps: %ld wrong answers", bad);
    }
    check_geom(&g, 7000, ALL_BUT_BIG, 20000, NULL);
    g_free(&g);
}

/* Layers whose extent is degenerate or tiny: collinear rings (they enclose
 * nothing, yet stretch the layer's box) beside a square, and a footprint
 * 1e-12 degrees across.  Only the default, FP_INDEX_NONE, 4/0/4 and 5/3/2:
 * coincident edges (the collinear ring retraces itself) refine to full
 * depth wherever leaf_edges is below their count, and a box far smaller
 * than the grid's assignment margin spreads every edge over many cells, so
 * 4/6/1 and 9/8/2 take seconds to minutes and gigabytes here. */
enum { DEGENERATE_SAFE = 1 << 0 | 1 << 1 | 1 << 2 | 1 << 5 };
static void test_index_degenerate_extent(void **state)
{
    (void)state;
    geom g;
    g_init(&g, "flat");
    g_foot(&g, "flat");
    const double flat[] = {-1, 52, 0, 52, 1, 52};
    g_ring(&g, flat, 3, 0);
    g_foot(&g, "vertical");
    const double vert[] = {2, 50, 2, 51, 2, 53};
    g_ring(&g, vert, 3, 0);
    g_foot(&g, "square");
    const double sq[] = {-0.5, 52, 0.5, 52, 0.5, 52.5, -0.5, 52.5};
    g_ring(&g, sq, 4, 0);
    g_done(&g);
    check_geom(&g, 8000, DEGENERATE_SAFE, 5000, NULL);
    g_free(&g);

    g_init(&g, "tiny");
    g_foot(&g, "tiny");
    const double t[] = {-1.25, 53.5, -1.25 + 1e-12, 53.5, -1.25 + 1e-12, 53.5 + 1e-12,
                        -1.25, 53.5 + 1e-12};
    g_ring(&g, t, 4, 0);
    g_done(&g);
    check_geom(&g, 8001, DEGENERATE_SAFE, 5000, NULL);
    fp_ctx *ctx = test_ctx();
    fp_layer *L = g_build(ctx, &g, NULL);
    long bad = 0;
    expect_at(L, -1.25, 53.5, g.f[0].code, &bad);
    expect_at(L, -1.25 + 5e-13, 53.5 + 5e-13, g.f[0].code, &bad);
    expect_at(L, -1.25 + 1e-12, 53.5, "none", &bad);
    expect_at(L, nextafter(-1.25, -2), 53.5, "none", &bad);
    fp_layer_free(L);
    test_ctx_done(ctx);
    g_free(&g);
    if (bad) fail_msg("tiny: %ld wrong answers", bad);
}

/* Edges exactly through a leaf's walk corner.  A leaf answers by walking
 * from a point (X, Y0) just beyond its cell's south-east corner, whose
 * parity index.c stored, west along the query's latitude and north along
 * X; the ties are there: an edge on the line x = X (met by the westward
 * leg), an edge along y = Y0 across X (the northward leg's start), a
 * vertex at the corner itself.  The corners are read from the leaves of a
 * 16 x 16 top grid (index.c's record layout); shapes with those ties are
 * added inside the layer's box, which keeps every corner in place. */
static void test_index_edges_through_walk_corner(void **state)
{
    (void)state;
    geom base;
    g_init(&base, "walk corners, base");
    rng r = {0xc0123ull};
    g_foot(&base, "M");
    const double m[] = {-2, 50, 2, 50, 2, 54, -2, 54};
    g_ring(&base, m, 4, 0);
    gen_stars(&base, &r, 8, -1.5, 50.5, 3.0, 0);
    g_done(&base);
    fp_index_opts top;
    fp_index_opts_init(&top);
    top.root_bits = 4, top.max_depth = 0, top.leaf_edges = 4;
    fp_ctx *ctx = test_ctx();
    fp_layer *L = g_build(ctx, &base, &top);
    double w0 = (L->gx1 - L->gx0) / 16, h0 = (L->gy1 - L->gy0) / 16;
    enum { NC = 12 };
    double X[NC], Y0[NC], cx[NC], cy[NC];
    int cell[NC], nc = 0;
    for (int c = 0; c < 256 && nc < NC; c++) {
        int col = c & 15, row = c >> 4;
        uint32_t v = L->cells[c];
        if (col < 1 || col > 13 || row < 1 || row > 13 || FP_CELL_TAG(v) != FP_TAG_LEAF ||
            (col + row) % 2)
            continue;
        const uint32_t *rec = L->cands + FP_CELL_VAL(v);
        memcpy(&X[nc], rec + 1, sizeof X[nc]);
        memcpy(&Y0[nc], rec + 3, sizeof Y0[nc]);
        cx[nc] = L->gx0 + col * w0;
        cy[nc] = L->gy0 + row * h0;
        cell[nc++] = c;
    }
    fp_layer_free(L);
    int layout = nc >= 8; /* the record layout this test assumes */
    for (int k = 0; k < nc; k++)
        layout &= X[k] >= cx[k] + w0 && X[k] < cx[k] + w0 * 1.01 && Y0[k] < cy[k] &&
                  Y0[k] > cy[k] - h0 * 0.01;
    if (!layout) {
        test_ctx_done(ctx);
        g_free(&base);
        fail_msg("%d leaves; their walk corners are not where expected", nc);
    }

    geom g;
    g_init(&g, "walk corners");
    for (size_t i = 0; i < base.nf; i++) {
        g_foot(&g, "M");
        strcpy(g.f[g.nf - 1].code, base.f[i].code);
        for (size_t ri = base.f[i].ring0; ri < base.f[i].ring0 + base.f[i].nrings; ri++)
            g_ring(&g, base.pts + 2 * base.rstart[ri], base.rlen[ri], 0);
    }
    for (int k = 0; k < nc; k++) {
        double x0 = cx[k], y0 = cy[k], x = X[k], y = Y0[k];
        char code[16];
        snprintf(code, sizeof code, "A%d", k % 4);
        g_foot(&g, code);
        if (k % 4 == 0) { /* a vertex at the corner, an edge up x = X */
            const double t[] = {x, y, x0 + w0 / 2, y0 + h0 / 2, x, y0 + 0.75 * h0};
            g_ring(&g, t, 3, k & 4);
        } else if (k % 4 == 1) { /* an edge along y = Y0 across X */
            const double q[] = {x0 + w0 / 4, y, x + w0 / 4, y, x + w0 / 4, y0 + h0 / 3,
                                x0 + w0 / 4, y0 + h0 / 3};
            g_ring(&g, q, 4, k & 4);
        } else if (k % 4 == 2) { /* an edge on x = X from below Y0 to inside */
            const double q[] = {x, y0 - h0 / 4, x + w0 / 8, y0 - h0 / 4, x + w0 / 8,
                                y0 + h0 / 2, x, y0 + h0 / 2};
            g_ring(&g, q, 4, k & 4);
        } else { /* a vertex at the corner, edges off to the north-west and east */
            const double t[] = {x, y, x + w0 / 4, y, x - w0 / 3, y0 + h0 / 2};
            g_ring(&g, t, 3, k & 4);
        }
    }
    g_done(&g);
    for (int i = 0; i < 4; i++) assert_true(g.box[i] == base.box[i]);

    qset q = {0};
    q_from_geom(&q, &g, &r, 4000);
    for (int k = 0; k < nc; k++) {
        for (int i = 0; i <= 32; i++)
            for (int j = 0; j <= 32; j++) q_add(&q, cx[k] + i * w0 / 32, cy[k] + j * h0 / 32);
        for (int i = 0; i < 200; i++) { /* on the corner's lines, inside the cell */
            double t = runi(&r);
            q_add(&q, cx[k] + t * w0, Y0[k]);
            q_add(&q, X[k], cy[k] + t * h0);
            q_add(&q, nextafter(X[k], -INFINITY), cy[k] + t * h0);
            q_add(&q, cx[k] + t * w0, nextafter(Y0[k], INFINITY));
        }
    }
    L = g_build(ctx, &g, &top);
    int moved = 0;
    for (int k = 0; k < nc; k++) {
        uint32_t v = L->cells[cell[k]];
        double x, y;
        if (FP_CELL_TAG(v) != FP_TAG_LEAF) {
            moved++;
            continue;
        }
        memcpy(&x, L->cands + FP_CELL_VAL(v) + 1, sizeof x);
        memcpy(&y, L->cands + FP_CELL_VAL(v) + 3, sizeof y);
        moved += x != X[k] || y != Y0[k];
    }
    long bad = compare(&g, L, &top, &q, NULL);
    fp_layer_free(L);
    fp_index_opts v[NVAR];
    variants(v);
    for (int k = 0; k < NVAR - 1; k++) {
        L = g_build(ctx, &g, &v[k]);
        bad += compare(&g, L, &v[k], &q, NULL);
        fp_layer_free(L);
    }
    test_ctx_done(ctx);
    free(q.xy);
    g_free(&g);
    g_free(&base);
    assert_int_equal(moved, 0);
    if (bad) fail_msg("walk corners: %ld disagreements", bad);
}

/* ---- 2. index options ---- */

static fp_builder *small_builder(fp_ctx *ctx)
{
    fp_builder *b;
    assert_int_equal(fp_builder_new(ctx, &b), FP_OK);
    assert_int_equal(fp_builder_add_footprint(b, "A", "a"), FP_OK);
    test_add_rect(b, -2, 51, -1, 52);
    assert_int_equal(fp_builder_add_footprint(b, "B", "b"), FP_OK);
    test_add_rect(b, -1, 51, 0, 52.5);
    return b;
}

static void test_index_opts_out_of_range_rejected(void **state)
{
    (void)state;
    static const struct {
        int kind, root_bits, max_depth, leaf_edges;
        const char *names; /* the option the message must mention */
    } bad[] = {
        {FP_INDEX_GRID, 3, 4, 4, "root_bits"},
        {FP_INDEX_GRID, 13, 4, 4, "root_bits"},
        {FP_INDEX_GRID, -1, 4, 4, "root_bits"},
        {FP_INDEX_GRID, 8, -1, 4, "max_depth"},
        {FP_INDEX_GRID, 8, 11, 4, "max_depth"},
        {FP_INDEX_GRID, 8, 4, 0, "leaf_edges"},
        {FP_INDEX_GRID, 8, 4, -3, "leaf_edges"},
        {FP_INDEX_GRID, 12, 10, 4, "max_depth"}, /* 12 + 2 * 10 > 30 */
        {FP_INDEX_GRID, 11, 10, 4, "max_depth"}, /* 31 */
        {FP_INDEX_GRID, 12, 10, 1000, "max_depth"},
        {2, 8, 4, 4, "kind"},
        {-1, 8, 4, 4, "kind"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fp_ctx *ctx = test_ctx();
        fp_builder *b = small_builder(ctx);
        fp_index_opts o;
        fp_index_opts_init(&o);
        o.kind = bad[i].kind;
        o.root_bits = bad[i].root_bits;
        o.max_depth = bad[i].max_depth;
        o.leaf_edges = bad[i].leaf_edges;
        fp_layer *L = (fp_layer *)&o; /* must be reset to NULL */
        int rc = fp_builder_build(b, &o, &L);
        int code = fp_ctx_errcode(ctx), null_out = L == NULL;
        char msg[FP_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
        if (rc == FP_OK) fp_layer_free(L);
        fp_builder_free(b);
        test_ctx_done(ctx);
        if (rc != FP_EINVAL || code != FP_EINVAL || !null_out || !strstr(msg, bad[i].names))
            fail_msg("kind %d root_bits %d max_depth %d leaf_edges %d: status %d (%s), "
                     "want FP_EINVAL and a message naming %s",
                     o.kind, o.root_bits, o.max_depth, o.leaf_edges, rc, msg, bad[i].names);
    }
}

/* The edges of the ranges are accepted and give the right answers. */
static void test_index_opts_limits_accepted(void **state)
{
    (void)state;
    static const int ok[][3] = {
        {4, 0, 1}, {4, 10, 2}, {10, 10, 2}, {12, 9, 2}, {8, 4, 1000000},
    };
    geom g;
    g_init(&g, "limits");
    g_foot(&g, "A");
    const double a[] = {-2, 51, -1, 51, -1, 52, -2, 52};
    g_ring(&g, a, 4, 0);
    g_foot(&g, "B");
    const double b[] = {-1, 51, 0, 51, 0, 52.5, -1, 52.5};
    g_ring(&g, b, 4, 0);
    g_done(&g);
    rng r = {99};
    qset q = {0};
    q_from_geom(&q, &g, &r, 2000);
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        fp_ctx *ctx = test_ctx();
        fp_index_opts o;
        fp_index_opts_init(&o);
        o.root_bits = ok[i][0];
        o.max_depth = ok[i][1];
        o.leaf_edges = ok[i][2];
        fp_layer *L = g_build(ctx, &g, &o);
        int rb = L->root_bits, tb = L->total_bits;
        size_t mem = fp_layer_memory(L);
        long bad = compare(&g, L, &o, &q, NULL);
        fp_layer_free(L);
        test_ctx_done(ctx);
        if (bad || rb != o.root_bits || tb != o.root_bits + 2 * o.max_depth ||
            mem < ((size_t)1 << (2 * o.root_bits)) * 4) {
            free(q.xy);
            g_free(&g);
            fail_msg("%d/%d/%d: %ld disagreements, grid %d + %d bits, %zu bytes", o.root_bits,
                     o.max_depth, o.leaf_edges, bad, rb, tb - rb, mem);
        }
    }
    free(q.xy);
    g_free(&g);
}

/* root_bits 0 means "choose all three": max_depth and leaf_edges are then
 * not the caller's and cannot be out of range. */
static void test_index_opts_auto_chooses_all_three(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_index_opts o;
    fp_index_opts_init(&o);
    assert_int_equal(o.kind, FP_INDEX_GRID);
    assert_int_equal(o.root_bits, 0);
    o.max_depth = -7;
    o.leaf_edges = 0;
    fp_layer *L = test_build(ctx, small_builder(ctx), &o);
    long bad = 0;
    int rb = L->root_bits, tb = L->total_bits;
    expect_at(L, -1.5, 51.5, "A", &bad);
    expect_at(L, -1, 51.5, "B", &bad);
    expect_at(L, -0.5, 52.25, "B", &bad);
    expect_at(L, -0.5, 52.5, "none", &bad);
    fp_layer_free(L);
    test_ctx_done(ctx);
    assert_true(rb >= 4 && rb <= 12);
    assert_true(tb >= rb && tb <= 30);
    assert_int_equal(bad, 0);
}

/* ---- 3. memory ---- */

static void test_index_memory_holds_top_grid(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_index_opts none;
    fp_index_opts_init(&none);
    none.kind = FP_INDEX_NONE;
    fp_layer *N = test_build(ctx, small_builder(ctx), &none);
    size_t base = fp_layer_memory(N);
    fp_layer_free(N);
    int bad_R = 0;
    size_t bad_mem = 0;
    for (int R = 4; R <= 10 && !bad_R; R++) { /* 12: test_index_opts_limits_accepted */
        fp_index_opts o;
        fp_index_opts_init(&o);
        o.root_bits = R;
        o.max_depth = 0;
        o.leaf_edges = 4;
        fp_layer *L = test_build(ctx, small_builder(ctx), &o);
        size_t top = ((size_t)1 << (2 * R)) * 4;
        size_t mem = fp_layer_memory(L);
        fp_layer_free(L);
        if (mem < top || mem < base + top) bad_R = R, bad_mem = mem;
    }
    test_ctx_done(ctx);
    assert_true(base > 0);
    if (bad_R)
        fail_msg("root_bits %d: %zu bytes; the top grid alone is %zu, the layer "
                 "without an index %zu",
                 bad_R, bad_mem, ((size_t)1 << (2 * bad_R)) * 4, base);
}

/* The same layer at every max_depth gives the same answer everywhere (the
 * reference's), however much deeper the grid refines. */
static void test_index_deeper_never_changes_answers(void **state)
{
    (void)state;
    geom g;
    g_init(&g, "depth sweep");
    rng r = {0xdee9ull};
    gen_lattice(&g, &r, 5, -2.0, 52.0, 1.0 / 128, 1);
    gen_stars(&g, &r, 5, -2.0, 52.0, 0.3, 0);
    gen_slivers(&g, &r, 8, -2.0, 52.0, 0.3);
    gen_zigzag(&g, "Z", -1.9, 52.35, 0.05);
    g_done(&g);
    qset q = {0};
    q_from_geom(&q, &g, &r, 5000);
    const char **want = malloc(q.n * sizeof *want);
    assert_non_null(want);
    for (size_t i = 0; i < q.n; i++) want[i] = ref_code(&g, q.xy[2 * i], q.xy[2 * i + 1]);
    fp_ctx *ctx = test_ctx();
    long bad = 0;
    size_t prev_cells = 0;
    for (int leaf = 2; leaf <= 8; leaf += 6)
        for (int d = 0; d <= 10; d++) {
            fp_index_opts o;
            fp_index_opts_init(&o);
            o.root_bits = 4;
            o.max_depth = d;
            o.leaf_edges = leaf;
            fp_layer *L = g_build(ctx, &g, &o);
            /* Refinement really happens as the depth grows. */
            if (leaf == 2 && d == 3 && L->ncells <= prev_cells) bad++;
            prev_cells = L->ncells;
            bad += compare(&g, L, &o, &q, want);
            qset c = {0};
            q_from_grid(&c, L, &g, &r, 2000);
            bad += compare(&g, L, &o, &c, NULL);
            free(c.xy);
            fp_layer_free(L);
        }
    test_ctx_done(ctx);
    free(want);
    free(q.xy);
    g_free(&g);
    if (bad) fail_msg("depth sweep: %ld disagreements", bad);
}

/* ---- 4. the layer's box and beyond ---- */

static void q_box_and_far(qset *q, const geom *g)
{
    const double *b = g->box;
    double xs[5] = {b[0], b[2], (b[0] + b[2]) / 2, 0, 0};
    double ys[5] = {b[1], b[3], (b[1] + b[3]) / 2, 0, 0};
    /* Every vertex's coordinate on the box's sides, and the corners. */
    for (size_t p = 0; p < g->np; p++) {
        double x = g->pts[2 * p], y = g->pts[2 * p + 1];
        for (int s = 0; s < 2; s++) {
            q_add(q, x, b[1 + 2 * s]);
            q_add(q, b[2 * s], y);
        }
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int dx = -1; dx <= 1; dx++)
                for (int dy = -1; dy <= 1; dy++) {
                    double x = dx ? nextafter(xs[i], dx * INFINITY) : xs[i];
                    double y = dy ? nextafter(ys[j], dy * INFINITY) : ys[j];
                    q_add(q, x, y);
                }
    /* Far outside, the ends of the coordinate range and beyond. */
    static const double far[][2] = {
        {-180, -90},  {180, 90},   {-180, 90},   {180, -90},  {0, 0},
        {-180, 0},    {180, 0},    {0, -90},     {0, 90},     {179.999, 89.999},
        {-181, 52},   {181, 52},   {-1, 91},     {-1, -91},   {1e300, 52},
        {-1e300, 52}, {-1, 1e300}, {-1, -1e300}, {DBL_MAX, DBL_MAX},
        {-DBL_MAX, -DBL_MAX},      {DBL_MIN, DBL_MIN},        {-0.0, -0.0},
        {5e-324, -5e-324},
    };
    for (size_t i = 0; i < sizeof far / sizeof *far; i++) q_add(q, far[i][0], far[i][1]);
    const double odd[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        q_add(q, odd[i], (b[1] + b[3]) / 2);
        q_add(q, (b[0] + b[2]) / 2, odd[i]);
        q_add(q, b[0], odd[i]);
        q_add(q, odd[i], b[1]);
        for (int j = 0; j < 3; j++) q_add(q, odd[i], odd[j]);
    }
    q_add(q, -NAN, 52);
}

static void test_index_box_edges_and_far_points(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        geom g;
        rng r = {0xb0b0ull + (uint64_t)round};
        if (round == 0) {
            g_init(&g, "box: lattice");
            gen_lattice(&g, &r, 4, -3.0, 51.0, 1.0 / 64, 1);
        } else if (round == 1) {
            g_init(&g, "box: stars");
            gen_stars(&g, &r, 8, -1.0, 52.0, 1.0, 0);
        } else {
            /* The whole coordinate range: a world footprint with a hole,
             * and small footprints in it and on its sides. */
            g_init(&g, "box: world");
            g_foot(&g, "W");
            const double world[] = {-180, -90, 180, -90, 180, 90, -180, 90};
            g_ring(&g, world, 4, 0);
            const double hole[] = {-10, 40, 10, 40, 10, 60, -10, 60};
            g_ring(&g, hole, 4, 1);
            gen_stars(&g, &r, 4, -9.0, 41.0, 18.0, 0);
            g_foot(&g, "Aeast");
            const double e[] = {170, -10, 180, -10, 180, 10};
            g_ring(&g, e, 3, 0);
            g_foot(&g, "Asouth");
            const double s[] = {-50, -90, 50, -90, 0, -80};
            g_ring(&g, s, 3, 0);
        }
        g_done(&g);
        qset q = {0};
        q_box_and_far(&q, &g);
        fp_ctx *ctx = test_ctx();
        fp_index_opts v[NVAR];
        variants(v);
        long bad = 0;
        for (int k = 0; k < NVAR - 1; k++) {
            fp_layer *L = g_build(ctx, &g, &v[k]);
            bad += compare(&g, L, &v[k], &q, NULL);
            /* Non-finite input finds none, whatever the reference says. */
            expect_at(L, NAN, 52, "none", &bad);
            expect_at(L, g.box[0], NAN, "none", &bad);
            expect_at(L, -INFINITY, g.box[1], "none", &bad);
            expect_at(L, g.box[0], -INFINITY, "none", &bad);
            fp_match m = fp_layer_locate(L, NAN, NAN, 1000);
            if (m.kind != FP_MATCH_NONE || m.index != -1) bad++;
            if (round == 2) {
                /* West and south sides of the world are in, east and north
                 * out. */
                expect_at(L, -180, 0, g.f[0].code, &bad);
                expect_at(L, -180, -90, g.f[0].code, &bad);
                expect_at(L, 0, -90, g.f[g.nf - 1].code, &bad);
                expect_at(L, 180, 0, "none", &bad);
                expect_at(L, 0, 90, "none", &bad);
                expect_at(L, 179.5, 0, g.f[g.nf - 2].code, &bad);
            }
            fp_layer_free(L);
        }
        test_ctx_done(ctx);
        free(q.xy);
        if (bad) fail_msg("%s: %ld disagreements", g.name, bad);
        g_free(&g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_lattice_matches_reference),
        cmocka_unit_test(test_index_stars_with_holes_match_reference),
        cmocka_unit_test(test_index_half_lattice_matches_reference),
        cmocka_unit_test(test_index_zigzag_matches_reference),
        cmocka_unit_test(test_index_dense_leaves_match_reference),
        cmocka_unit_test(test_index_slivers_match_reference),
        cmocka_unit_test(test_index_mixed_matches_reference),
        cmocka_unit_test(test_index_overlaps_smallest_code_wins),
        cmocka_unit_test(test_index_degenerate_extent),
        cmocka_unit_test(test_index_edges_through_walk_corner),
        cmocka_unit_test(test_index_opts_out_of_range_rejected),
        cmocka_unit_test(test_index_opts_limits_accepted),
        cmocka_unit_test(test_index_opts_auto_chooses_all_three),
        cmocka_unit_test(test_index_memory_holds_top_grid),
        cmocka_unit_test(test_index_deeper_never_changes_answers),
        cmocka_unit_test(test_index_box_edges_and_far_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
