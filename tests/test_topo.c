/* Unit tests for lib/src/topo.c: fp_layer_simplify keeps neighbours
 * seamless (every shared boundary simplified once: no gaps, no overlaps,
 * valid footprints), never drops a footprint or a part above the size
 * threshold, keeps islands and enclaves on their side, and fails cleanly.
 *
 * The coverage check is the issue's: pairwise overlaps of the simplified
 * footprints are empty, and their union has no interior hole where the
 * original union had ground.  A control test shows it catches what
 * simplifying each footprint on its own does. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_error.h>
#include <gdal.h>
#include <ogr_api.h>

#include "internal.h"
#include "topo.h"

static fp_ctx *gctx; /* C-library allocator: not leak-counted */
static fp_catalogue *gcat;
static fp_layer *real[3];
static const char *const REAL[3] = {"icb2023", "sicbl2023", "lad2024"};

static const fp_layer *real_layer(int k)
{
    const char *data = test_require_data();
    if (!real[k] && fp_catalogue_open(gctx, gcat, REAL[k], data, NULL, &real[k]))
        fail_msg("%s", fp_ctx_errmsg(gctx));
    return real[k];
}

/* ---- the coverage check ---- */

typedef struct coverage {
    size_t invalid, overlaps, new_holes, missing;
    double overlap_m2;
} coverage;

static OGRGeometryH feature(const fp_layer *L, size_t i)
{
    OGRGeometryH g = fp__feature_ogr(gctx, L, i);
    if (!g) fail_msg("no geometry for %s", fp_layer_code(L, i));
    return g;
}

/* Area of the polygons in g (intersections of neighbours are lines). */
static double area_of(OGRGeometryH g)
{
    OGRwkbGeometryType t = wkbFlatten(OGR_G_GetGeometryType(g));
    if (t == wkbPolygon || t == wkbMultiPolygon) return OGR_G_Area(g);
    double a = 0;
    if (t == wkbGeometryCollection)
        for (int k = 0; k < OGR_G_GetGeometryCount(g); k++) a += area_of(OGR_G_GetGeometryRef(g, k));
    return a;
}

static OGRGeometryH union_of(const fp_layer *L)
{
    OGRGeometryH all = OGR_G_CreateGeometry(wkbMultiPolygon);
    for (size_t i = 0; i < fp_layer_count(L); i++) {
        OGRGeometryH g = feature(L, i);
        for (int k = 0; k < OGR_G_GetGeometryCount(g); k++)
            OGR_G_AddGeometry(all, OGR_G_GetGeometryRef(g, k));
        OGR_G_DestroyGeometry(g);
    }
    OGRGeometryH u = OGR_G_UnionCascaded(all);
    OGR_G_DestroyGeometry(all);
    if (!u) fail_msg("GEOS could not union the footprints: %s", CPLGetLastErrorMsg());
    return u;
}

/* Interior rings of a union (Polygon or MultiPolygon) lying on ground the
 * original union covered: gaps the simplification opened.  (A hole that
 * is still partly a hole of the original, a lake simplified, is not.) */
static size_t holes_not_in(OGRGeometryH u, OGRGeometryH orig)
{
    size_t n = 0;
    OGRwkbGeometryType t = wkbFlatten(OGR_G_GetGeometryType(u));
    if (t == wkbMultiPolygon || t == wkbGeometryCollection) {
        for (int k = 0; k < OGR_G_GetGeometryCount(u); k++)
            n += holes_not_in(OGR_G_GetGeometryRef(u, k), orig);
        return n;
    }
    if (t != wkbPolygon) return 0;
    for (int r = 1; r < OGR_G_GetGeometryCount(u); r++) {
        OGRGeometryH hole = OGR_G_CreateGeometry(wkbPolygon);
        OGR_G_AddGeometry(hole, OGR_G_GetGeometryRef(u, r));
        OGRGeometryH open = OGR_G_Difference(hole, orig);
        double a = OGR_G_Area(hole), still = open ? area_of(open) : 0;
        if (still < 0.01 * a) n++;
        if (open) OGR_G_DestroyGeometry(open);
        OGR_G_DestroyGeometry(hole);
    }
    return n;
}

static coverage check_coverage(const fp_layer *orig, const fp_layer *simp)
{
    coverage c = {0};
    size_t n = fp_layer_count(simp);
    OGRGeometryH *g = calloc(n + 1, sizeof *g);
    assert_non_null(g);
    for (size_t i = 0; i < n; i++) {
        g[i] = feature(simp, i);
        if (!OGR_G_IsValid(g[i])) c.invalid++;
        if (OGR_G_IsEmpty(g[i]) || OGR_G_Area(g[i]) <= 0) c.missing++;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            OGREnvelope a, b;
            OGR_G_GetEnvelope(g[i], &a);
            OGR_G_GetEnvelope(g[j], &b);
            if (a.MaxX < b.MinX || b.MaxX < a.MinX || a.MaxY < b.MinY || b.MaxY < a.MinY)
                continue;
            OGRGeometryH x = OGR_G_Intersection(g[i], g[j]);
            double area = x ? area_of(x) * 111195.0 * 111195.0 * 0.6 : 0;
            if (x) OGR_G_DestroyGeometry(x);
            if (area > 0.01) { /* m^2: shared edges are identical, so 0 */
                c.overlaps++;
                c.overlap_m2 += area;
            }
        }
    for (size_t i = 0; i < n; i++) OGR_G_DestroyGeometry(g[i]);
    free(g);
    OGRGeometryH u0 = union_of(orig), u1 = union_of(simp);
    c.new_holes = holes_not_in(u1, u0);
    OGR_G_DestroyGeometry(u0);
    OGR_G_DestroyGeometry(u1);
    return c;
}

static void assert_seamless(const fp_layer *orig, const fp_layer *simp, const char *what)
{
    coverage c = check_coverage(orig, simp);
    if (c.invalid || c.overlaps || c.new_holes || c.missing)
        fail_msg("%s: %zu invalid, %zu overlapping pairs (%.1f m^2), %zu new holes, "
                 "%zu empty", what, c.invalid, c.overlaps, c.overlap_m2, c.new_holes,
                 c.missing);
}

static void assert_same_codes(const fp_layer *a, const fp_layer *b)
{
    assert_int_equal(fp_layer_count(a), fp_layer_count(b));
    for (size_t i = 0; i < fp_layer_count(a); i++) {
        assert_string_equal(fp_layer_code(a, i), fp_layer_code(b, i));
        assert_string_equal(fp_layer_name(a, i), fp_layer_name(b, i));
    }
}

static fp_layer *simplify(const fp_layer *in, double tol, double keep, int precision,
                          fp_simplify_stats *st)
{
    fp_simplify_opts o;
    fp_simplify_opts_init(&o);
    o.tolerance_m = tol;
    o.keep_area_m2 = keep;
    o.precision = precision;
    fp_layer *out = NULL;
    if (fp_layer_simplify(gctx, in, &o, &out, st)) fail_msg("%s", fp_ctx_errmsg(gctx));
    return out;
}

static double feature_area(const fp_layer *L, size_t i)
{
    OGRGeometryH g = feature(L, i);
    double a = OGR_G_Area(g);
    OGR_G_DestroyGeometry(g);
    return a;
}

/* ---- synthetic layers (units of 0.01 degree about 52N, 2W) ---- */

static double jitter(unsigned a, unsigned b, unsigned c, unsigned d)
{
    uint64_t x = (uint64_t)a * 0x9E3779B97F4A7C15u ^ (uint64_t)b * 0xC2B2AE3D27D4EB4Fu ^
                 (uint64_t)c * 0x165667B19E3779F9u ^ (uint64_t)d * 0x27D4EB2F165667C5u;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9u;
    x ^= x >> 32;
    return (double)(x >> 11) / 9007199254740992.0 * 2 - 1;
}

#define STEPS 40
#define UNIT 0.01
#define X0 (-2.0)
#define Y0 52.0

/* Point k of the edge of the grid: vertical (dir 0) at column i between
 * rows j and j + 1, or horizontal (dir 1) at row j between columns i and
 * i + 1; wiggled by up to amp units, but not at its ends. */
static void edge_point(int dir, int i, int j, int k, double amp, double *x, double *y)
{
    /* Tapered towards the ends, so edges meeting at a corner never cross. */
    double w = amp * sin(3.14159265358979 * k / STEPS) *
               jitter((unsigned)dir, (unsigned)i, (unsigned)j, (unsigned)k);
    double s = (double)k / STEPS * 10;
    if (dir == 0) *x = X0 + (i * 10 + w) * UNIT, *y = Y0 + (j * 10 + s) * UNIT;
    else *x = X0 + (i * 10 + s) * UNIT, *y = Y0 + (j * 10 + w) * UNIT;
}

/* An n x n grid of wiggly squares sharing their edges exactly. */
static fp_layer *grid(fp_ctx *ctx, int n, double amp, double shift)
{
    fp_builder *b;
    assert_int_equal(fp_builder_new(ctx, &b), FP_OK);
    double *xy = malloc(8 * (STEPS + 1) * sizeof *xy);
    assert_non_null(xy);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            char code[16];
            snprintf(code, sizeof code, "C%d%d", i, j);
            assert_int_equal(fp_builder_add_footprint(b, code, code), FP_OK);
            size_t m = 0;
            for (int k = 0; k < STEPS; k++, m++) edge_point(1, i, j, k, amp, &xy[2 * m], &xy[2 * m + 1]);
            for (int k = 0; k < STEPS; k++, m++) edge_point(0, i + 1, j, k, amp, &xy[2 * m], &xy[2 * m + 1]);
            for (int k = STEPS; k > 0; k--, m++) edge_point(1, i, j + 1, k, amp, &xy[2 * m], &xy[2 * m + 1]);
            for (int k = STEPS; k > 0; k--, m++) edge_point(0, i, j, k, amp, &xy[2 * m], &xy[2 * m + 1]);
            /* Shift the odd cells' copies a hair: near-coincident edges. */
            if (shift != 0 && (i + j) % 2)
                for (size_t q = 0; q < 2 * m; q++) xy[q] += shift;
            assert_int_equal(fp_builder_add_ring(b, xy, m), FP_OK);
        }
    free(xy);
    return test_build(ctx, b, NULL);
}

static void add_ring_units(fp_builder *b, const double *u, size_t n)
{
    double *xy = malloc(2 * n * sizeof *xy);
    assert_non_null(xy);
    for (size_t i = 0; i < n; i++) {
        xy[2 * i] = X0 + u[2 * i] * UNIT;
        xy[2 * i + 1] = Y0 + u[2 * i + 1] * UNIT;
    }
    assert_int_equal(fp_builder_add_ring(b, xy, n), FP_OK);
    free(xy);
}

static void add_square_units(fp_builder *b, double x0, double y0, double x1, double y1)
{
    double u[] = {x0, y0, x1, y0, x1, y1, x0, y1};
    add_ring_units(b, u, 4);
}

/* ---- tests on real boundaries ---- */

/* ICBs at three web tolerances: same footprints, seamless, smaller. */
static void test_topo_icb2023_seamless(void **state)
{
    (void)state;
    const fp_layer *L = real_layer(0);
    static const double tols[] = {100, 500, 2000};
    size_t prev = fp_layer_vertices(L);
    for (size_t k = 0; k < 3; k++) {
        fp_simplify_stats st;
        fp_layer *S = simplify(L, tols[k], -1, 5, &st);
        assert_same_codes(L, S);
        char what[64];
        snprintf(what, sizeof what, "icb2023 at %.0f m", tols[k]);
        assert_seamless(L, S, what);
        assert_true(st.shared_arcs > 50);
        assert_int_equal(st.vertices_out, fp_layer_vertices(S));
        assert_true(fp_layer_vertices(S) < prev); /* coarser is smaller */
        prev = fp_layer_vertices(S);
        /* Every footprint still answers for a point deep inside it. */
        assert_int_equal(fp_layer_find(S, 53.381, -1.470), fp_layer_find_code(S, "E54000061"));
        fp_layer_free(S);
    }
    assert_true(prev < fp_layer_vertices(L) / 5);
}

/* The control: simplifying each footprint on its own (GEOS's
 * topology-preserving simplifier, per polygon) opens gaps and overlaps
 * that the coverage check sees; the shared-arc simplification has none. */
static void test_topo_naive_simplification_opens_gaps(void **state)
{
    (void)state;
    const fp_layer *L = real_layer(0);
    fp_builder *b;
    assert_int_equal(fp_builder_new(gctx, &b), FP_OK);
    for (size_t i = 0; i < fp_layer_count(L); i++) {
        OGRGeometryH g = feature(L, i);
        OGRGeometryH s = OGR_G_SimplifyPreserveTopology(g, 500.0 / 111195.0);
        assert_non_null(s);
        assert_int_equal(fp_builder_add_footprint(b, fp_layer_code(L, i), fp_layer_name(L, i)), FP_OK);
        assert_int_equal(fp__builder_add_ogr(b, gctx, "naive", s), FP_OK);
        OGR_G_DestroyGeometry(s);
        OGR_G_DestroyGeometry(g);
    }
    fp_layer *naive = test_build(gctx, b, NULL);
    coverage c = check_coverage(L, naive);
    assert_true(c.overlaps > 10);
    assert_true(c.new_holes > 10);
    fp_layer_free(naive);
}

/* Sub-ICB locations and local authorities: many more neighbours. */
static void test_topo_sicbl_lad_seamless(void **state)
{
    (void)state;
    fp_simplify_stats st;
    fp_layer *S = simplify(real_layer(1), 250, -1, 5, &st);
    assert_same_codes(real_layer(1), S);
    assert_seamless(real_layer(1), S, "sicbl2023 at 250 m");
    fp_layer_free(S);
    S = simplify(real_layer(2), 500, -1, 4, &st);
    assert_same_codes(real_layer(2), S);
    assert_seamless(real_layer(2), S, "lad2024 at 500 m, 4 decimals");
    assert_true(st.vertices_out < st.vertices_in / 2);
    fp_layer_free(S);
}

/* At a coarse tolerance small islands go, but no footprint and no part
 * above the threshold: every footprint keeps at least as many rings as
 * it had at or above the threshold. */
static void test_topo_keeps_footprints_and_large_parts(void **state)
{
    (void)state;
    const fp_layer *L = real_layer(2);
    const double keep = 5e6; /* 5 km^2 */
    fp_simplify_stats st;
    fp_layer *S = simplify(L, 3000, keep, -1, &st);
    assert_same_codes(L, S);
    assert_true(st.rings_dropped > 100);
    for (size_t i = 0; i < fp_layer_count(L); i++) {
        const fp_feat *f = &L->feat[i];
        size_t big = 0;
        for (uint32_t r = f->ring0; r < f->ring0 + f->nrings; r++) {
            const double *p = L->pts + 2 * L->ring_start[r];
            size_t n = L->ring_start[r + 1] - L->ring_start[r];
            double a = 0;
            for (size_t k = 0; k + 1 < n; k++)
                a += (p[2 * k] - p[0]) * (p[2 * k + 3] - p[1]) - (p[2 * k + 2] - p[0]) * (p[2 * k + 1] - p[1]);
            double m2 = fabs(a) / 2 * 111195.0 * 111195.0 * cos(p[1] * 3.14159265 / 180);
            big += m2 >= keep * 1.05;
        }
        if (S->feat[i].nrings < big || S->feat[i].nrings == 0)
            fail_msg("%s: %u rings kept, %zu above the threshold", fp_layer_code(L, i),
                     S->feat[i].nrings, big);
        assert_true(feature_area(S, i) > 0);
    }
    fp_layer_free(S);
}

/* Rounding to the output precision is checked like the simplification:
 * at 5 decimals (a metre) every vertex is on the grid; at 3 (100 m)
 * vertices of different boundaries would meet, and those keep more
 * decimals: still valid and seamless, nothing left to GEOS to repair. */
static void test_topo_precision_rounds_and_stays_seamless(void **state)
{
    (void)state;
    const fp_layer *L = real_layer(0);
    fp_simplify_stats st;
    fp_layer *S = simplify(L, 0, -1, 5, &st);
    assert_same_codes(L, S);
    assert_int_equal(st.repaired, 0);
    for (size_t i = 0; i < 2 * S->npts; i++) {
        double v = S->pts[i] * 1e5;
        if (fabs(v - round(v)) > 1e-4) fail_msg("coordinate %.9f has more than 5 decimals", S->pts[i]);
    }
    assert_seamless(L, S, "icb2023 rounded to 5 decimals");
    fp_layer_free(S);
    S = simplify(L, 500, -1, 3, &st);
    assert_same_codes(L, S);
    assert_int_equal(st.repaired, 0);
    assert_true(st.precision_used > 3); /* some vertices needed more */
    assert_seamless(L, S, "icb2023 at 500 m rounded to 3 decimals");
    fp_layer_free(S);
}

/* Tolerance 0 and no rounding: the same vertices. */
static void test_topo_zero_tolerance_keeps_everything(void **state)
{
    (void)state;
    const fp_layer *L = real_layer(0);
    fp_simplify_stats st;
    fp_layer *S = simplify(L, 0, -1, -1, &st);
    assert_same_codes(L, S);
    assert_int_equal(fp_layer_vertices(S), fp_layer_vertices(L));
    assert_int_equal(st.restored, 0);
    assert_int_equal(st.rings_dropped, 0);
    for (size_t i = 0; i < fp_layer_count(L); i++)
        assert_true(fabs(feature_area(S, i) - feature_area(L, i)) < 1e-12);
    fp_layer_free(S);
}

/* ---- tests on synthetic layers ---- */

static void test_topo_grid_of_wiggly_squares(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_layer *L = grid(ctx, 4, 0.3, 0); /* wiggles of 330 m */
    fp_simplify_stats st;
    fp_simplify_opts o;
    fp_simplify_opts_init(&o);
    o.tolerance_m = 800;
    fp_layer *S = NULL;
    assert_int_equal(fp_layer_simplify(ctx, L, &o, &S, &st), FP_OK);
    assert_same_codes(L, S);
    assert_seamless(L, S, "grid at 800 m");
    /* 24 inner edges, and the outline cut at the 12 nodes where they meet
     * it (its corners are no nodes). */
    assert_int_equal(st.arcs, 36);
    assert_int_equal(st.shared_arcs, 24);
    assert_true(st.vertices_out < st.vertices_in / 3);
    fp_layer_free(S);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* Vertices of neighbours a hair apart (1e-10 degree) are one vertex: the
 * boundary is shared and stays seamless; with snapping off it is not. */
static void test_topo_near_coincident_vertices_snap(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_layer *L = grid(ctx, 3, 0.3, 1e-10);
    fp_simplify_stats st;
    fp_simplify_opts o;
    fp_simplify_opts_init(&o);
    o.tolerance_m = 800;
    fp_layer *S = NULL;
    assert_int_equal(fp_layer_simplify(ctx, L, &o, &S, &st), FP_OK);
    assert_true(st.snapped > 100);
    assert_int_equal(st.shared_arcs, 12);
    assert_seamless(L, S, "snapped grid");
    fp_layer_free(S);
    o.snap_m = 0;
    assert_int_equal(fp_layer_simplify(ctx, L, &o, &S, &st), FP_OK);
    assert_int_equal(st.snapped, 0);
    assert_int_equal(st.shared_arcs, 0); /* nothing recognised as shared */
    fp_layer_free(S);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* An enclave: B is exactly A's hole.  Both keep the same ring. */
static void test_topo_enclave_shares_its_ring(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b;
    assert_int_equal(fp_builder_new(ctx, &b), FP_OK);
    double hole[2 * 60];
    for (int k = 0; k < 60; k++) {
        double t = 2 * 3.14159265358979 * k / 60, r = 3 + 0.2 * jitter(7, 7, 7, (unsigned)k);
        hole[2 * k] = 5 + r * cos(t);
        hole[2 * k + 1] = 5 + r * sin(t);
    }
    assert_int_equal(fp_builder_add_footprint(b, "A", "outer"), FP_OK);
    add_square_units(b, 0, 0, 10, 10);
    add_ring_units(b, hole, 60);
    assert_int_equal(fp_builder_add_footprint(b, "B", "enclave"), FP_OK);
    double rev[2 * 60];
    for (int k = 0; k < 60; k++) rev[2 * k] = hole[2 * (59 - k)], rev[2 * k + 1] = hole[2 * (59 - k) + 1];
    add_ring_units(b, rev, 60);
    fp_layer *L = test_build(ctx, b, NULL);
    fp_simplify_stats st;
    fp_simplify_opts o;
    fp_simplify_opts_init(&o);
    o.tolerance_m = 400;
    fp_layer *S = NULL;
    assert_int_equal(fp_layer_simplify(ctx, L, &o, &S, &st), FP_OK);
    assert_int_equal(st.shared_arcs, 1);
    assert_seamless(L, S, "enclave");
    /* B's ring is A's hole, vertex for vertex. */
    const fp_feat *a = &S->feat[0], *e = &S->feat[1];
    assert_int_equal(a->nrings, 2);
    assert_int_equal(e->nrings, 1);
    uint32_t ra = a->ring0 + 1, re = e->ring0;
    size_t na = S->ring_start[ra + 1] - S->ring_start[ra], ne = S->ring_start[re + 1] - S->ring_start[re];
    assert_int_equal(na, ne);
    assert_true(ne < 60 && ne >= 4);
    for (size_t k = 0; k < ne; k++) {
        const double *p = S->pts + 2 * (S->ring_start[re] + k);
        int found = 0;
        for (size_t q = 0; q < na && !found; q++) {
            const double *r = S->pts + 2 * (S->ring_start[ra] + q);
            found = p[0] == r[0] && p[1] == r[1];
        }
        assert_true(found);
    }
    assert_string_equal(test_code_at(S, X0 + 5 * UNIT, Y0 + 5 * UNIT), "B");
    assert_string_equal(test_code_at(S, X0 + 0.5 * UNIT, Y0 + 0.5 * UNIT), "A");
    fp_layer_free(S);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* A shallow bay (440 m deep) that a 1 km tolerance would cut across holds
 * an island of another footprint (B) and one of A's own (C): neither may
 * end up on land.  The shortcut is refused, so B does not overlap A and
 * C stays an island of A, not a hole in it. */
static void test_topo_islands_keep_their_side(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b;
    assert_int_equal(fp_builder_new(ctx, &b), FP_OK);
    assert_int_equal(fp_builder_add_footprint(b, "A", "mainland"), FP_OK);
    double land[] = {0, 0, 10, 0, 10, 10, 7, 10, 6, 9.6, 4, 9.6, 3, 10, 0, 10};
    add_ring_units(b, land, 8);
    add_square_units(b, 5.5, 9.75, 5.6, 9.85); /* C: A's own island */
    assert_int_equal(fp_builder_add_footprint(b, "B", "islet"), FP_OK);
    add_square_units(b, 4.5, 9.75, 4.6, 9.85);
    fp_layer *L = test_build(ctx, b, NULL);
    fp_simplify_opts o;
    fp_simplify_opts_init(&o);
    o.tolerance_m = 1000;
    o.keep_area_m2 = 0; /* keep C however small */
    fp_layer *S = NULL;
    assert_int_equal(fp_layer_simplify(ctx, L, &o, &S, NULL), FP_OK);
    assert_seamless(L, S, "bay with islands");
    assert_string_equal(test_code_at(S, X0 + 5.55 * UNIT, Y0 + 9.8 * UNIT), "A");
    assert_string_equal(test_code_at(S, X0 + 4.55 * UNIT, Y0 + 9.8 * UNIT), "B");
    assert_string_equal(test_code_at(S, X0 + 5.0 * UNIT, Y0 + 9.8 * UNIT), "none");
    fp_layer_free(S);
    /* With the default threshold C may go (it touches nothing and is
     * small), B may not (it is all of B). */
    o.keep_area_m2 = -1;
    fp_simplify_stats st;
    assert_int_equal(fp_layer_simplify(ctx, L, &o, &S, &st), FP_OK);
    assert_int_equal(st.rings_dropped, 1);
    assert_string_equal(test_code_at(S, X0 + 4.55 * UNIT, Y0 + 9.8 * UNIT), "B");
    assert_seamless(L, S, "bay, C dropped");
    fp_layer_free(S);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* A thin lens between two neighbours, both of whose sides a 2 km
 * tolerance would straighten onto the same chord: it keeps half its area
 * or more, and the three stay seamless. */
static void test_topo_thin_footprint_does_not_collapse(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b;
    assert_int_equal(fp_builder_new(ctx, &b), FP_OK);
    enum { N = 21 };
    double left[2 * N], right[2 * N];
    for (int k = 0; k < N; k++) {
        double t = (double)k / (N - 1), w = 0.05 * sin(3.14159265358979 * t);
        left[2 * k] = 10 - w, left[2 * k + 1] = 10 * t;
        right[2 * k] = 10 + w, right[2 * k + 1] = 10 * t;
    }
    double a[2 * (N + 2)], c[2 * (N + 2)], lens[2 * 2 * N];
    size_t m = 0;
    a[m++] = 0, a[m++] = 0;
    for (int k = 0; k < N; k++) a[m++] = left[2 * k], a[m++] = left[2 * k + 1];
    a[m++] = 0, a[m++] = 10;
    assert_int_equal(fp_builder_add_footprint(b, "A", "west"), FP_OK);
    add_ring_units(b, a, m / 2);
    m = 0;
    for (int k = N - 1; k >= 0; k--) c[m++] = right[2 * k], c[m++] = right[2 * k + 1];
    c[m++] = 20, c[m++] = 0;
    c[m++] = 20, c[m++] = 10;
    assert_int_equal(fp_builder_add_footprint(b, "C", "east"), FP_OK);
    add_ring_units(b, c, m / 2);
    m = 0;
    for (int k = 0; k < N; k++) lens[m++] = right[2 * k], lens[m++] = right[2 * k + 1];
    for (int k = N - 2; k > 0; k--) lens[m++] = left[2 * k], lens[m++] = left[2 * k + 1];
    assert_int_equal(fp_builder_add_footprint(b, "B", "lens"), FP_OK);
    add_ring_units(b, lens, m / 2);
    fp_layer *L = test_build(ctx, b, NULL);
    fp_simplify_opts o;
    fp_simplify_opts_init(&o);
    o.tolerance_m = 2000;
    fp_simplify_stats st;
    fp_layer *S = NULL;
    assert_int_equal(fp_layer_simplify(ctx, L, &o, &S, &st), FP_OK);
    assert_true(st.restored > 0);
    long lb = fp_layer_find_code(S, "B");
    assert_true(feature_area(S, (size_t)lb) >= 0.5 * feature_area(L, (size_t)fp_layer_find_code(L, "B")));
    assert_seamless(L, S, "lens");
    fp_layer_free(S);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static void test_topo_ring_nesting(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    /* Three nested squares and one beside; the innermost touches its
     * container at a corner. */
    double r0[] = {0, 0, 10, 0, 10, 10, 0, 10, 0, 0};
    double r1[] = {1, 1, 9, 1, 9, 9, 1, 9, 1, 1};
    double r2[] = {1, 1, 3, 1, 3, 3, 1, 3, 1, 1};
    double r3[] = {20, 0, 21, 0, 21, 1, 20, 1, 20, 0};
    const double *pts[] = {r2, r0, r3, r1};
    size_t np[] = {5, 5, 5, 5};
    int depth[4];
    long parent[4];
    assert_int_equal(fp__ring_nesting(ctx, 4, pts, np, depth, parent), FP_OK);
    assert_int_equal(depth[0], 2);
    assert_int_equal(parent[0], 3);
    assert_int_equal(depth[1], 0);
    assert_int_equal(parent[1], -1);
    assert_int_equal(depth[2], 0);
    assert_int_equal(depth[3], 1);
    assert_int_equal(parent[3], 1);
    /* As OGR: two polygons (the outer with a hole, the inner square) and
     * the one beside. */
    OGRGeometryH g = fp__rings_ogr(ctx, 4, pts, np);
    assert_non_null(g);
    assert_int_equal(OGR_G_GetGeometryCount(g), 3);
    assert_true(fabs(OGR_G_Area(g) - (100 - 64 + 4 + 1)) < 1e-9);
    OGR_G_DestroyGeometry(g);
    test_ctx_done(ctx);
}

static void test_topo_bad_options(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_layer *L = grid(ctx, 2, 0.1, 0), *S = (fp_layer *)1;
    fp_simplify_opts o;
    double bad_tol[] = {-1, NAN, INFINITY, 2e6};
    for (size_t i = 0; i < 4; i++) {
        fp_simplify_opts_init(&o);
        o.tolerance_m = bad_tol[i];
        assert_int_equal(fp_layer_simplify(ctx, L, &o, &S, NULL), FP_EINVAL);
        assert_null(S);
        assert_non_null(strstr(fp_ctx_errmsg(ctx), "tolerance"));
    }
    fp_simplify_opts_init(&o);
    o.precision = 16;
    assert_int_equal(fp_layer_simplify(ctx, L, &o, &S, NULL), FP_EINVAL);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "precision"));
    fp_simplify_opts_init(&o);
    o.snap_m = 5;
    assert_int_equal(fp_layer_simplify(ctx, L, &o, &S, NULL), FP_EINVAL);
    fp_layer_free(L);
    /* Footprints with no geometry of their own (an edition via finer
     * areas has its codes and names but no vertices). */
    L = grid(ctx, 1, 0, 0);
    fp_layer via = *L;
    via.npts = 0;
    fp_simplify_opts_init(&o);
    o.tolerance_m = 10;
    assert_int_equal(fp_layer_simplify(ctx, &via, &o, &S, NULL), FP_EINVAL);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "no geometry"));
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* Every allocation failing in turn: FP_ENOMEM, nothing leaked, and in the
 * end the same answer. */
static void test_topo_out_of_memory(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_layer *L = grid(ctx, 2, 0.3, 0);
    fp_simplify_opts o;
    fp_simplify_opts_init(&o);
    o.tolerance_m = 500;
    o.precision = 5;
    fp_layer *want = NULL;
    assert_int_equal(fp_layer_simplify(ctx, L, &o, &want, NULL), FP_OK);
    int ok = 0;
    for (long n = 0; n < 100000 && !ok; n++) {
        fp_layer *S = NULL;
        long before = test_alloc_outstanding();
        test_alloc_fail_after(n);
        int rc = fp_layer_simplify(ctx, L, &o, &S, NULL);
        test_alloc_fail_after(-1);
        if (rc == FP_OK) {
            ok = 1;
            assert_int_equal(fp_layer_vertices(S), fp_layer_vertices(want));
            fp_layer_free(S);
        } else {
            assert_int_equal(rc, FP_ENOMEM);
            assert_null(S);
            assert_int_equal(test_alloc_outstanding(), before);
        }
    }
    assert_true(ok);
    fp_layer_free(want);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static int setup(void **state)
{
    (void)state;
    GDALAllRegister();
    if (fp_ctx_new(&gctx)) return -1;
    gcat = test_catalogue(gctx);
    return gcat ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int k = 0; k < 3; k++) fp_layer_free(real[k]);
    fp_catalogue_free(gcat);
    fp_ctx_free(gctx);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topo_icb2023_seamless),
        cmocka_unit_test(test_topo_naive_simplification_opens_gaps),
        cmocka_unit_test(test_topo_sicbl_lad_seamless),
        cmocka_unit_test(test_topo_keeps_footprints_and_large_parts),
        cmocka_unit_test(test_topo_precision_rounds_and_stays_seamless),
        cmocka_unit_test(test_topo_zero_tolerance_keeps_everything),
        cmocka_unit_test(test_topo_grid_of_wiggly_squares),
        cmocka_unit_test(test_topo_near_coincident_vertices_snap),
        cmocka_unit_test(test_topo_enclave_shares_its_ring),
        cmocka_unit_test(test_topo_islands_keep_their_side),
        cmocka_unit_test(test_topo_thin_footprint_does_not_collapse),
        cmocka_unit_test(test_topo_ring_nesting),
        cmocka_unit_test(test_topo_bad_options),
        cmocka_unit_test(test_topo_out_of_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
