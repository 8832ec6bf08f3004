/*
 * Properties of the real footprints (the ONS mirror):
 *   - A point exactly on a shared edge or vertex belongs to exactly one
 *     footprint: the grid answers as the exact reference (FP_INDEX_NONE)
 *     does, exactly one footprint's own exact test claims the point (none
 *     when the answer is "none"), and where the footprints around the
 *     point cover it on every side (an interior vertex, a shared edge) the
 *     answer is never "none" and is one of the footprints meeting there.
 *     Points: every vertex of every ring, and every shared edge's midpoint
 *     that is exactly representable (kept only when the exact orientation
 *     test puts it on the edge).
 *   - A membership edition dissolved from its members (icb2026m, by
 *     fp_catalogue_open) answers, for random points, what its membership
 *     rows say of the member editions' answers at the same point.
 */
#include "support.h"
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- vertex and edge tables ---- */

typedef struct vrec {
    double x, y;
    uint32_t feat;
} vrec;

typedef struct erec {
    double ax, ay, bx, by; /* endpoints in (x, y) order: undirected */
    uint32_t feat;
} erec;

static int cmp_xy(double ax, double ay, double bx, double by)
{
    if (ax != bx) return ax < bx ? -1 : 1;
    if (ay != by) return ay < by ? -1 : 1;
    return 0;
}

static int cmp_vrec(const void *p, const void *q)
{
    const vrec *a = p, *b = q;
    int c = cmp_xy(a->x, a->y, b->x, b->y);
    return c ? c : (a->feat > b->feat) - (a->feat < b->feat);
}

static int cmp_erec(const void *p, const void *q)
{
    const erec *a = p, *b = q;
    int c = cmp_xy(a->ax, a->ay, b->ax, b->ay);
    if (!c) c = cmp_xy(a->bx, a->by, b->bx, b->by);
    return c ? c : (a->feat > b->feat) - (a->feat < b->feat);
}

/* Edges in a sorted table sharing a's endpoints: [lo, hi). */
static size_t edge_find(const erec *e, size_t n, double ax, double ay, double bx, double by)
{
    if (cmp_xy(ax, ay, bx, by) > 0) {
        double t = ax;
        ax = bx, bx = t, t = ay, ay = by, by = t;
    }
    erec key = {ax, ay, bx, by, 0};
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_erec(&e[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Distinct footprints on the edge group starting at i. */
static size_t edge_owners(const erec *e, size_t n, size_t i, uint32_t *own, size_t max)
{
    size_t k = 0;
    for (size_t j = i; j < n && !cmp_xy(e[j].ax, e[j].ay, e[i].ax, e[i].ay) &&
                       !cmp_xy(e[j].bx, e[j].by, e[i].bx, e[i].by);
         j++)
        if ((!k || own[k - 1] != e[j].feat) && k < max) own[k++] = e[j].feat;
    return k;
}

/* ---- the exact claim: which footprints' own tests say "inside" ---- */

static size_t claims(const fp_layer *R, double x, double y, long *who)
{
    size_t n = 0;
    *who = -1;
    for (size_t i = 0; i < R->nfeat; i++)
        if (fp__feat_contains(R, &R->feat[i], x, y)) {
            if (!n) *who = (long)i;
            n++;
        }
    return n;
}

typedef struct tally {
    size_t vertices, interior_vertices, midpoints, none_answers;
} tally;

/* One boundary point: grid = reference = the single claimant; when the
 * point is covered all round, one of `own` answers. */
static void check_point(const char *ed, const fp_layer *G, const fp_layer *R, double x,
                        double y, const uint32_t *own, size_t nown, int covered, tally *t)
{
    long g = fp_layer_find(G, y, x), r = fp_layer_find(R, y, x), who;
    if (g != r)
        fail_msg("%s: (%.17g, %.17g): grid says %ld, reference %ld", ed, x, y, g, r);
    size_t c = claims(R, x, y, &who);
    if (g < 0 ? c != 0 : (c != 1 || who != g))
        fail_msg("%s: (%.17g, %.17g): answer %ld but %zu footprints claim it (first %ld)", ed,
                 x, y, g, c, who);
    t->none_answers += g < 0;
    if (!covered) return;
    if (g < 0) fail_msg("%s: (%.17g, %.17g): inside the footprints, answer none", ed, x, y);
    for (size_t k = 0; k < nown; k++)
        if ((long)own[k] == g) return;
    fail_msg("%s: (%.17g, %.17g): answer %s is not among the %zu footprints meeting there",
             ed, x, y, fp_layer_code(G, (size_t)g), nown);
}

static void shared_boundaries(const char *id, size_t min_interior, size_t min_mid)
{
    const char *data = test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    const fp_edition *ed = fp_catalogue_find(cat, id);
    assert_non_null(ed);
    fp_index_opts none;
    fp_index_opts_init(&none);
    none.kind = FP_INDEX_NONE;
    fp_layer *G = NULL, *R = NULL;
    if (fp_edition_open(ctx, ed, data, NULL, &G) || fp_edition_open(ctx, ed, data, &none, &R))
        fail_msg("%s", fp_ctx_errmsg(ctx));
    assert_int_equal(fp_layer_count(G), fp_layer_count(R));
    assert_int_equal(R->kind, FP_INDEX_NONE);
    assert_int_equal(G->kind, FP_INDEX_GRID);

    /* Every vertex and edge with the footprint it belongs to. */
    size_t nv = 0, ne = 0;
    vrec *v = malloc(R->npts * sizeof *v);
    erec *e = malloc(R->npts * sizeof *e);
    assert_true(v && e);
    for (uint32_t f = 0; f < R->nfeat; f++) {
        const fp_feat *F = &R->feat[f];
        for (uint32_t r = F->ring0; r < F->ring0 + F->nrings; r++)
            for (uint32_t q = R->ring_start[r]; q + 1 < R->ring_start[r + 1]; q++) {
                const double *a = R->pts + 2 * (size_t)q, *b = a + 2;
                v[nv++] = (vrec){a[0], a[1], f};
                int swap = cmp_xy(a[0], a[1], b[0], b[1]) > 0;
                e[ne++] = swap ? (erec){b[0], b[1], a[0], a[1], f} : (erec){a[0], a[1], b[0], b[1], f};
            }
    }
    qsort(v, nv, sizeof *v, cmp_vrec);
    qsort(e, ne, sizeof *e, cmp_erec);

    /* Vertices: one check per distinct point; covered all round when every
     * ring edge at it, in every footprint meeting there, is shared with
     * another footprint (exactly the same endpoints). */
    tally t = {0};
    uint32_t own[64];
    for (size_t i = 0; i < nv;) {
        size_t j = i, k = 0;
        while (j < nv && !cmp_xy(v[j].x, v[j].y, v[i].x, v[i].y)) {
            if ((!k || own[k - 1] != v[j].feat) && k < 64) own[k++] = v[j].feat;
            j++;
        }
        int covered = k >= 2;
        for (size_t m = 0; m < k && covered; m++) {
            const fp_feat *F = &R->feat[own[m]];
            for (uint32_t r = F->ring0; r < F->ring0 + F->nrings && covered; r++) {
                uint32_t s = R->ring_start[r], end = R->ring_start[r + 1] - 1; /* closed */
                for (uint32_t q = s; q < end && covered; q++) {
                    const double *a = R->pts + 2 * (size_t)q;
                    if (a[0] != v[i].x || a[1] != v[i].y) continue;
                    const double *prev = R->pts + 2 * (size_t)(q > s ? q - 1 : end - 1);
                    const double *next = a + 2;
                    const double *nb[2] = {prev, next};
                    for (int w = 0; w < 2 && covered; w++) {
                        size_t at = edge_find(e, ne, a[0], a[1], nb[w][0], nb[w][1]);
                        uint32_t eo[8];
                        covered = at < ne && edge_owners(e, ne, at, eo, 8) >= 2;
                    }
                }
            }
        }
        check_point(id, G, R, v[i].x, v[i].y, own, k, covered, &t);
        t.vertices++;
        t.interior_vertices += (size_t)covered;
        i = j;
    }

    /* Midpoints of shared edges, where exactly on the edge. */
    for (size_t i = 0; i < ne;) {
        size_t j = i;
        while (j < ne && !cmp_erec(&(erec){e[j].ax, e[j].ay, e[j].bx, e[j].by, 0},
                                   &(erec){e[i].ax, e[i].ay, e[i].bx, e[i].by, 0}))
            j++;
        uint32_t eo[8];
        size_t k = edge_owners(e, ne, i, eo, 8);
        double mx = e[i].ax + (e[i].bx - e[i].ax) / 2, my = e[i].ay + (e[i].by - e[i].ay) / 2;
        int on = fp__orient(e[i].ax, e[i].ay, e[i].bx, e[i].by, mx, my) == 0 &&
                 cmp_xy(mx, my, e[i].ax, e[i].ay) > 0 && cmp_xy(mx, my, e[i].bx, e[i].by) < 0;
        if (k == 2 && on) {
            check_point(id, G, R, mx, my, eo, k, 1, &t);
            t.midpoints++;
        }
        i = j;
    }
    print_message("%s: %zu vertices (%zu covered all round), %zu shared-edge midpoints, "
                  "%zu answered none\n", id, t.vertices, t.interior_vertices, t.midpoints,
                  t.none_answers);
    /* A test that checked nothing would pass: the real data has these. */
    assert_true(t.interior_vertices >= min_interior);
    assert_true(t.midpoints >= min_mid);
    free(v);
    free(e);
    fp_layer_free(G);
    fp_layer_free(R);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

static void test_properties_shared_boundaries_sicbl2023(void **state)
{
    (void)state;
    shared_boundaries("sicbl2023", 1000, 1000);
}

static void test_properties_shared_boundaries_lad2024(void **state)
{
    (void)state;
    shared_boundaries("lad2024", 1000, 1000);
}

static void test_properties_shared_boundaries_stp2017(void **state)
{
    (void)state;
    shared_boundaries("stp2017", 100, 100);
}

/* ---- a dissolved edition agrees with its members ---- */

static uint64_t rng = 0x2545f4914f6cdd1du;
static double uniform(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

typedef struct layer_of {
    const char *id;
    fp_layer *L;
} layer_of;

static const char *code_in(layer_of *ls, size_t n, const char *id, double lat, double lon)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ls[i].id, id)) {
            long f = fp_layer_find(ls[i].L, lat, lon);
            return f < 0 ? NULL : fp_layer_code(ls[i].L, (size_t)f);
        }
    fail_msg("no layer %s", id);
    return NULL;
}

static void test_properties_dissolved_agrees_with_members(void **state)
{
    (void)state;
    const char *data = test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    const fp_edition *ed = fp_catalogue_find(cat, "icb2026m");
    assert_non_null(ed);
    fp_layer *D = NULL;
    if (fp_catalogue_open(ctx, cat, "icb2026m", data, NULL, &D)) fail_msg("%s", fp_ctx_errmsg(ctx));
    /* Every edition the rows name, member or clip. */
    layer_of ls[8];
    size_t nl = 0;
    size_t nrows = fp_catalogue_member_count(cat, ed);
    assert_true(nrows > 0);
    for (size_t r = 0; r < nrows; r++) {
        const fp_member *m = fp_catalogue_member(cat, ed, r);
        const char *ids[2] = {m->member_edition, m->clip_edition};
        for (int w = 0; w < 2; w++) {
            if (!*ids[w]) continue;
            size_t i = 0;
            while (i < nl && strcmp(ls[i].id, ids[w])) i++;
            if (i < nl) continue;
            assert_true(nl < 8);
            ls[nl].id = ids[w];
            if (fp_catalogue_open(ctx, cat, ids[w], data, NULL, &ls[nl].L))
                fail_msg("%s", fp_ctx_errmsg(ctx));
            nl++;
        }
    }
    /* Points over the dissolved footprints' box. */
    double box[4];
    fp_layer_bbox(D, SIZE_MAX, box);
    size_t inside = 0, by_sicbl = 0, by_clip = 0;
    enum { N = 200000 };
    for (size_t i = 0; i < N; i++) {
        double lat = box[1] + uniform() * (box[3] - box[1]);
        double lon = box[0] + uniform() * (box[2] - box[0]);
        long d = fp_layer_find(D, lat, lon);
        /* The row whose member (and clip) contain the point. */
        const fp_member *hit = NULL;
        for (size_t r = 0; r < nrows; r++) {
            const fp_member *m = fp_catalogue_member(cat, ed, r);
            const char *c = code_in(ls, nl, m->member_edition, lat, lon);
            if (!c || strcmp(c, m->member_code)) continue;
            if (*m->clip_edition) {
                const char *k = code_in(ls, nl, m->clip_edition, lat, lon);
                if (!k || strcmp(k, m->clip_code)) continue;
            }
            if (hit && strcmp(hit->code, m->code))
                fail_msg("(%.9f, %.9f): rows for %s and %s both cover it", lat, lon, hit->code,
                         m->code);
            hit = m;
        }
        const char *got = d < 0 ? "none" : fp_layer_code(D, (size_t)d);
        const char *want = hit ? hit->code : "none";
        if (strcmp(got, want))
            fail_msg("(%.9f, %.9f): dissolved footprint %s, members say %s", lat, lon, got, want);
        inside += d >= 0;
        if (hit && !strcmp(hit->member_edition, "sicbl2023")) by_sicbl++;
        if (hit && *hit->clip_edition) by_clip++;
    }
    print_message("icb2026m: %zu of %d points inside; %zu through sicbl2023 members, %zu "
                  "through clipped members\n", inside, N, by_sicbl, by_clip);
    /* Every kind of row was exercised. */
    assert_true(inside > N / 4);
    assert_true(by_sicbl > 100);
    assert_true(by_clip > 100);
    for (size_t i = 0; i < nl; i++) fp_layer_free(ls[i].L);
    fp_layer_free(D);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_properties_shared_boundaries_sicbl2023),
        cmocka_unit_test(test_properties_shared_boundaries_lad2024),
        cmocka_unit_test(test_properties_shared_boundaries_stp2017),
        cmocka_unit_test(test_properties_dissolved_agrees_with_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
