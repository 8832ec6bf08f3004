/* Unit tests for lib/src/mapped.c: editions "via" finer areas.  Such a
 * layer has no geometry: a point is located in the base layer's areas and
 * the area's row of a lookup CSV names the footprint, exactly as ONS
 * assigns postcodes (fp_edition.via).
 *
 * The synthetic base is a 5 x 4 grid of one-degree squares "L<row><col>"
 * (lon 0..5, lat 50..54); the lookup groups 15 of them into G0..G3 and
 * leaves five (L03 and the east column L04..L34) to no footprint.  The group
 * setup also writes it as GeoJSON with a catalogue and compiles an atlas
 * of it (C-library allocator, so the tests' leak counts stay their own);
 * the corruption tests work on copies of that file.  The real-data tests
 * compare icb2022lsoa and stp2021lsoa with the codes ONS assigned to the
 * English postcodes of the NSPL extract. */
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "internal.h"

/* ---- the atlas format (lib/src/format.h) ---- */

typedef fp__atlas_hdr t_hdr;
typedef fp__atlas_sect t_sect;
typedef fp__atlas_mhdr t_mhdr;
typedef fp__atlas_lhdr t_lhdr;
_Static_assert(sizeof(t_lhdr) == 168, "layer header");
_Static_assert(sizeof(fp_feat) == 72, "footprint record");



/* ---- the synthetic facts ---- */

/* Which group each base area belongs to (NULL: none). */
static const struct {
    const char *key, *grp;
} MAP[] = {
    {"L00", "G2"}, {"L01", "G2"}, {"L02", "G2"}, {"L03", NULL}, {"L04", NULL},
    {"L10", "G2"}, {"L11", "G3"}, {"L12", "G3"}, {"L13", "G3"}, {"L14", NULL},
    {"L20", "G1"}, {"L21", "G1"}, {"L22", "G3"}, {"L23", "G3"}, {"L24", NULL},
    {"L30", "G1"}, {"L31", "G1"}, {"L32", "G3"}, {"L33", "G0"}, {"L34", NULL},
};
#define NBASE (sizeof MAP / sizeof *MAP)

static const char *const GROUPS[] = {"G0", "G1", "G2", "G3"};
static const char *const GROUP_NAMES[] = {"Group Zero", "Group One, North", "Group Two",
                                          "Group \"Three\""};
/* west, south, east, north of each group: the union of its areas. */
static const double GROUP_BOX[4][4] = {
    {3, 53, 4, 54}, {0, 52, 2, 54}, {0, 50, 3, 52}, {1, 51, 4, 54}};

/* The lookup: rows shuffled, extra columns around the three that count,
 * a name with a comma and one with quotes. */
static const char LOOKUP[] =
    "KEYCD,KEYNM,GRPCD,GRPCDH,GRPNM,EXTRA\n"
    "L32,Area 32,G3,Q3,\"Group \"\"Three\"\"\",x\n"
    "L00,Area 00,G2,Q2,Group Two,x\n"
    "L21,Area 21,G1,Q1,\"Group One, North\",x\n"
    "L33,Area 33,G0,Q0,Group Zero,x\n"
    "L11,Area 11,G3,Q3,\"Group \"\"Three\"\"\",x\n"
    "L20,Area 20,G1,Q1,\"Group One, North\",x\n"
    "L01,Area 01,G2,Q2,Group Two,x\n"
    "L12,Area 12,G3,Q3,\"Group \"\"Three\"\"\",x\n"
    "L02,Area 02,G2,Q2,Group Two,x\n"
    "L30,Area 30,G1,Q1,\"Group One, North\",x\n"
    "L13,Area 13,G3,Q3,\"Group \"\"Three\"\"\",x\n"
    "L22,Area 22,G3,Q3,\"Group \"\"Three\"\"\",x\n"
    "L10,Area 10,G2,Q2,Group Two,x\n"
    "L31,Area 31,G1,Q1,\"Group One, North\",x\n"
    "L23,Area 23,G3,Q3,\"Group \"\"Three\"\"\",x\n";

static const char CATALOGUE[] =
    "id,level,name,valid_from,valid_to,path,layer,code_field,name_field,vintage,"
    "attribution,members,via\n"
    "base,lsoa,Base areas,2011-12-01,,boundaries/base.geojson,,KEYCD,KEYNM,2011,"
    "Source: a test,,\n"
    "other,stp,Other areas,2020-01-01,,boundaries/other.geojson,,OTHCD,OTHNM,2020,"
    "Source: a test,,\n"
    "grp,icb,Groups via the base,2022-07-01,,lookups/lookup.csv,,GRPCD,GRPNM,2022,"
    "Source: a test,,base\n"
    "grp2,sicbl,More groups via the base,2022-07-01,,lookups/lookup.csv,,GRPCDH,GRPNM,"
    "2022,Source: a test,,base\n";

static const char OTHER_GEOJSON[] =
    "{\"type\":\"FeatureCollection\",\"features\":[\n"
    "{\"type\":\"Feature\",\"properties\":{\"OTHCD\":\"O1\",\"OTHNM\":\"One\"},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
    "[[[0,50],[2,50],[2,52],[0,52],[0,50]]]}},\n"
    "{\"type\":\"Feature\",\"properties\":{\"OTHCD\":\"O2\",\"OTHNM\":\"Two\"},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
    "[[[2,50],[4,50],[4,52],[2,52],[2,50]]]}}\n"
    "]}\n";

/* ---- shared state (made by the group setup) ---- */

static char root[256];
static char data_dir[512];      /* base.geojson, other.geojson, lookup.csv */
static char atlas_path[512];    /* every synthetic edition */
static unsigned char *pristine; /* its bytes */
static size_t pristine_len;
static fp_ctx *gctx;            /* C-library allocator: not leak-counted */
static fp_catalogue *gcat;      /* CATALOGUE */

/* ---- what a test holds ----
 *
 * Contexts, layers, atlases and catalogues a test makes are registered,
 * and a per-test teardown frees whatever a failing test left behind, so
 * that the leak counts of the tests after it stay their own. */

enum { H_LAYER, H_ATLAS, H_CAT, H_CTX };
static struct {
    int kind;
    void *p;
} held[64];
static size_t nheld;

static void *hold(int kind, void *p)
{
    if (!p) return p;
    if (nheld == sizeof held / sizeof *held) fail_msg("too many objects held");
    held[nheld].kind = kind;
    held[nheld++].p = p;
    return p;
}

static void unhold(const void *p)
{
    for (size_t i = 0; i < nheld; i++)
        if (held[i].p == p) {
            held[i] = held[--nheld];
            return;
        }
}

static fp_ctx *ctx_held(void) { return hold(H_CTX, test_ctx()); }

static void done(fp_ctx *ctx)
{
    unhold(ctx);
    test_ctx_done(ctx);
}

static void layer_free(fp_layer *L)
{
    unhold(L);
    fp_layer_free(L);
}

static void atlas_free(fp_atlas *a)
{
    unhold(a);
    fp_atlas_free(a);
}

static void cat_free(fp_catalogue *c)
{
    unhold(c);
    fp_catalogue_free(c);
}

static int release_held(void **state)
{
    (void)state;
    test_alloc_fail_after(-1);
    for (int pass = 0; pass < 2; pass++) /* contexts last */
        for (size_t i = 0; i < nheld; i++) {
            if ((held[i].kind == H_CTX) != pass) continue;
            switch (held[i].kind) {
            case H_LAYER: fp_layer_free(held[i].p); break;
            case H_ATLAS: fp_atlas_free(held[i].p); break;
            case H_CAT: fp_catalogue_free(held[i].p); break;
            case H_CTX: fp_ctx_free(held[i].p); break;
            }
        }
    nheld = 0;
    return 0;
}

/* ---- helpers ---- */

/* root + "/" + name, in one of 32 rotating buffers. */
static const char *tmp_path(const char *name)
{
    static char bufs[32][600];
    static int slot;
    char *b = bufs[slot++ & 31];
    snprintf(b, sizeof bufs[0], "%s/%s", root, name);
    return b;
}

static void assert_has(const char *text, const char *needle)
{
    if (!strstr(text, needle)) fail_msg("\"%s\" does not mention \"%s\"", text, needle);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static double uniform(double lo, double hi)
{
    return lo + (hi - lo) * (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}

/* Points over the grid and a margin around it; every 8th on a grid line
 * (shared edges and vertices, where the base's boundary rule decides). */
static void grid_points(double *lat, double *lon, size_t n, uint64_t seed)
{
    rng_state = seed;
    for (size_t i = 0; i < n; i++) {
        lat[i] = uniform(49.7, 54.3);
        lon[i] = uniform(-0.3, 5.3);
        if (i % 8 == 7) lon[i] = (double)(rnd() % 7) - 0.0;
        if (i % 16 == 15) lat[i] = 49.0 + (double)(rnd() % 7);
    }
}

/* The group code of base area `key` (NULL: none). */
static const char *group_of(const char *key)
{
    for (size_t i = 0; i < NBASE; i++)
        if (strcmp(MAP[i].key, key) == 0) return MAP[i].grp;
    fail_msg("no base area %s", key);
    return NULL;
}

/* The 5 x 4 grid of squares, built in memory. */
static fp_layer *syn_base(fp_ctx *ctx)
{
    fp_builder *b = NULL;
    assert_int_equal(fp_builder_new(ctx, &b), FP_OK);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 5; c++) {
            char code[8], name[16];
            snprintf(code, sizeof code, "L%d%d", r, c);
            snprintf(name, sizeof name, "Area %d%d", r, c);
            assert_int_equal(fp_builder_add_footprint(b, code, name), FP_OK);
            test_add_rect(b, c, 50 + r, c + 1, 51 + r);
        }
    fp_layer *L = hold(H_LAYER, test_build(ctx, b, NULL));
    assert_int_equal(fp_layer_count(L), NBASE);
    return L;
}

/* The base as GeoJSON (the same squares). */
static char *syn_base_geojson(void)
{
    size_t cap = 16384, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    n += (size_t)snprintf(s + n, cap - n, "{\"type\":\"FeatureCollection\",\"features\":[\n");
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 5; c++)
            n += (size_t)snprintf(
                s + n, cap - n,
                "%s{\"type\":\"Feature\",\"properties\":{\"KEYCD\":\"L%d%d\",\"KEYNM\":"
                "\"Area %d%d\"},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
                "[[[%d,%d],[%d,%d],[%d,%d],[%d,%d],[%d,%d]]]}}\n",
                r || c ? "," : "", r, c, r, c, c, 50 + r, c + 1, 50 + r, c + 1, 51 + r, c,
                51 + r, c, 50 + r);
    n += (size_t)snprintf(s + n, cap - n, "]}\n");
    assert_true(n < cap);
    return s;
}

static int new_mapped(fp_ctx *ctx, const fp_layer *base, const char *text, fp_layer **out)
{
    return fp__layer_new_mapped(ctx, base, text, strlen(text), "lookup.csv", "KEYCD",
                                "GRPCD", "GRPNM", out);
}

static fp_layer *mapped_ok(fp_ctx *ctx, const fp_layer *base, const char *text)
{
    fp_layer *M = NULL;
    int rc = new_mapped(ctx, base, text, &M);
    if (rc) fail_msg("mapped: %s (%d)", fp_ctx_errmsg(ctx), rc);
    assert_non_null(M);
    return hold(H_LAYER, M);
}

/* The lookup must be refused with `want`, a message naming the source and
 * each needle, no layer and nothing leaked. */
static void mapped_fails(fp_ctx *ctx, const fp_layer *base, const char *text, size_t len,
                         int want, const char *n1, const char *n2, const char *n3)
{
    long before = test_alloc_outstanding();
    fp_layer *M = (fp_layer *)1;
    int rc = fp__layer_new_mapped(ctx, base, text, len, "my-lookup.csv", "KEYCD", "GRPCD",
                                  "GRPNM", &M);
    if (rc == FP_OK && M != (fp_layer *)1) hold(H_LAYER, M); /* freed by the teardown */
    if (rc != want)
        fail_msg("status %d (%s), want %d", rc, fp_ctx_errmsg(ctx), want);
    assert_null(M);
    assert_int_equal(fp_ctx_errcode(ctx), want);
    assert_has(fp_ctx_errmsg(ctx), "my-lookup.csv");
    if (n1) assert_has(fp_ctx_errmsg(ctx), n1);
    if (n2) assert_has(fp_ctx_errmsg(ctx), n2);
    if (n3) assert_has(fp_ctx_errmsg(ctx), n3);
    assert_int_equal(test_alloc_outstanding(), before);
}

static const char *code_or_none(const fp_layer *L, long i)
{
    return i < 0 ? "none" : fp_layer_code(L, (size_t)i);
}

/* M (via base) against the lookup table, point by point: find, find_n and
 * locate with and without a nearest distance. */
static void assert_answers_as_lookup(const fp_layer *M, const fp_layer *base, size_t n,
                                     uint64_t seed)
{
    double *lat = malloc(n * sizeof *lat), *lon = malloc(n * sizeof *lon);
    int32_t *batch = malloc(n * sizeof *batch);
    assert_true(lat && lon && batch);
    grid_points(lat, lon, n, seed);
    fp_layer_find_n(M, lat, lon, n, batch);
    size_t in = 0, unmapped = 0, near = 0;
    for (size_t i = 0; i < n; i++) {
        long b = fp_layer_find(base, lat[i], lon[i]);
        const char *want = b < 0 ? NULL : group_of(fp_layer_code(base, (size_t)b));
        long got = fp_layer_find(M, lat[i], lon[i]);
        if (strcmp(code_or_none(M, got), want ? want : "none"))
            fail_msg("(%.6f, %.6f): %s, want %s (base %s)", lat[i], lon[i],
                     code_or_none(M, got), want ? want : "none", code_or_none(base, b));
        assert_int_equal(batch[i], got);
        in += want != NULL;
        unmapped += b >= 0 && !want;
        fp_match m = fp_layer_locate(M, lat[i], lon[i], 0);
        assert_int_equal(m.index, got);
        assert_int_equal(m.kind, got >= 0 ? FP_MATCH_CONTAINED : FP_MATCH_NONE);
        if (got >= 0) assert_true(m.distance_m == 0);
        else assert_true(isnan(m.distance_m));
        /* Nearest: the base's nearest area, then its group. */
        fp_match bm = fp_layer_locate(base, lat[i], lon[i], 30000);
        const char *bw = bm.index < 0 ? NULL : group_of(fp_layer_code(base, (size_t)bm.index));
        m = fp_layer_locate(M, lat[i], lon[i], 30000);
        if (strcmp(code_or_none(M, m.index), bw ? bw : "none"))
            fail_msg("(%.6f, %.6f) nearest: %s, want %s", lat[i], lon[i],
                     code_or_none(M, m.index), bw ? bw : "none");
        if (bw) {
            assert_int_equal(m.kind, bm.kind);
            assert_true(m.distance_m == bm.distance_m);
            near += bm.kind == FP_MATCH_NEAREST;
        } else {
            assert_int_equal(m.kind, FP_MATCH_NONE);
            assert_true(isnan(m.distance_m));
        }
    }
    /* The sample did cover every case. */
    assert_true(in > n / 3);
    assert_true(unmapped > n / 20);
    assert_true(near > n / 50);
    free(lat);
    free(lon);
    free(batch);
}

/* Same footprints (codes, names, boxes) and the same answers. */
static void assert_same_mapped(const fp_layer *A, const fp_layer *B, size_t n, uint64_t seed)
{
    assert_int_equal(fp_layer_count(A), fp_layer_count(B));
    assert_int_equal(fp_layer_vertices(A), 0);
    assert_int_equal(fp_layer_vertices(B), 0);
    double ba[4], bb[4];
    fp_layer_bbox(A, SIZE_MAX, ba);
    fp_layer_bbox(B, SIZE_MAX, bb);
    assert_memory_equal(ba, bb, sizeof ba);
    for (size_t i = 0; i < fp_layer_count(A); i++) {
        assert_string_equal(fp_layer_code(A, i), fp_layer_code(B, i));
        assert_string_equal(fp_layer_name(A, i), fp_layer_name(B, i));
        fp_layer_bbox(A, i, ba);
        fp_layer_bbox(B, i, bb);
        assert_memory_equal(ba, bb, sizeof ba);
    }
    double *lat = malloc(n * sizeof *lat), *lon = malloc(n * sizeof *lon);
    assert_true(lat && lon);
    grid_points(lat, lon, n, seed);
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        long a = fp_layer_find(A, lat[i], lon[i]), b = fp_layer_find(B, lat[i], lon[i]);
        if (a != b) fail_msg("(%.6f, %.6f): %ld vs %ld", lat[i], lon[i], a, b);
        found += a >= 0;
        fp_match ma = fp_layer_locate(A, lat[i], lon[i], 20000);
        fp_match mb = fp_layer_locate(B, lat[i], lon[i], 20000);
        assert_int_equal(ma.index, mb.index);
        assert_int_equal(ma.kind, mb.kind);
        assert_true(ma.distance_m == mb.distance_m ||
                    (isnan(ma.distance_m) && isnan(mb.distance_m)));
    }
    assert_true(found > n / 3);
    free(lat);
    free(lon);
}

/* ---- building a layer via finer areas ---- */

static void test_mapped_answers_through_base(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_layer *base = syn_base(ctx);
    fp_layer *M = mapped_ok(ctx, base, LOOKUP);
    /* The distinct codes, in byte order, with their names. */
    assert_int_equal(fp_layer_count(M), 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(fp_layer_code(M, i), GROUPS[i]);
        assert_string_equal(fp_layer_name(M, i), GROUP_NAMES[i]);
        assert_int_equal(fp_layer_find_code(M, GROUPS[i]), (long)i);
    }
    assert_null(fp_layer_code(M, 4));
    assert_null(fp_layer_name(M, 4));
    assert_int_equal(fp_layer_find_code(M, "L00"), -1); /* base codes are not its own */
    assert_int_equal(fp_layer_find_code(M, "G4"), -1);
    assert_int_equal(fp_layer_vertices(M), 0); /* no geometry of its own */
    assert_true(fp_layer_memory(M) > 0);
    /* Centres of every base square. */
    for (size_t i = 0; i < NBASE; i++) {
        int r = MAP[i].key[1] - '0', c = MAP[i].key[2] - '0';
        const char *got = test_code_at(M, c + 0.5, 50.5 + r);
        assert_string_equal(got, MAP[i].grp ? MAP[i].grp : "none");
    }
    /* Shared edges follow the base's rule: east, then north. */
    assert_string_equal(test_code_at(M, 2.0, 50.5), "G2");  /* L01|L02 */
    assert_string_equal(test_code_at(M, 3.0, 50.5), "none"); /* L02|L03: L03 */
    assert_string_equal(test_code_at(M, 1.0, 51.5), "G3");  /* L10|L11 */
    assert_string_equal(test_code_at(M, 0.5, 52.0), "G1");  /* L10/L20 */
    assert_string_equal(test_code_at(M, 4.0, 53.5), "none"); /* L33|L34 */
    assert_string_equal(test_code_at(M, 0.5, 54.0), "none"); /* north edge */
    assert_string_equal(test_code_at(M, 0.5, 50.0), "G2");  /* south edge */
    assert_answers_as_lookup(M, base, 20000, 11);
    layer_free(M);
    layer_free(base);
    done(ctx);
}

/* No footprint contains a point outside every base area: with a distance,
 * the nearest base area decides (and its group answers, at its distance). */
static void test_mapped_nearest_through_base(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_layer *base = syn_base(ctx);
    fp_layer *M = mapped_ok(ctx, base, LOOKUP);
    /* 0.01 degrees south of L00 (about 1.1 km). */
    fp_match m = fp_layer_locate(M, 49.99, 0.5, 0);
    assert_int_equal(m.index, -1);
    assert_int_equal(m.kind, FP_MATCH_NONE);
    assert_true(isnan(m.distance_m));
    m = fp_layer_locate(M, 49.99, 0.5, 2000);
    fp_match bm = fp_layer_locate(base, 49.99, 0.5, 2000);
    assert_int_equal(bm.kind, FP_MATCH_NEAREST);
    assert_string_equal(code_or_none(M, m.index), "G2");
    assert_int_equal(m.kind, FP_MATCH_NEAREST);
    assert_true(m.distance_m == bm.distance_m);
    assert_true(m.distance_m > 1100 && m.distance_m < 1125);
    /* Out of reach. */
    m = fp_layer_locate(M, 49.99, 0.5, 1000);
    assert_int_equal(m.index, -1);
    assert_int_equal(m.kind, FP_MATCH_NONE);
    /* West of L30 and north of L31. */
    assert_string_equal(code_or_none(M, fp_layer_locate(M, 53.5, -0.01, 2000).index), "G1");
    assert_string_equal(code_or_none(M, fp_layer_locate(M, 54.005, 1.5, 2000).index), "G1");
    assert_string_equal(code_or_none(M, fp_layer_locate(M, 54.005, 2.5, 2000).index), "G3");
    /* Bad coordinates find none, whatever the distance. */
    const double bad[][2] = {{NAN, 1}, {51, NAN}, {INFINITY, 1}, {51, -INFINITY},
                             {91, 1}, {-91, 1}, {51, 181}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        m = fp_layer_locate(M, bad[i][0], bad[i][1], 1e6);
        assert_int_equal(m.index, -1);
        assert_int_equal(m.kind, FP_MATCH_NONE);
        assert_int_equal(fp_layer_find(M, bad[i][0], bad[i][1]), -1);
        int32_t out = 7;
        fp_layer_find_n(M, &bad[i][0], &bad[i][1], 1, &out);
        assert_int_equal(out, -1);
    }
    layer_free(M);
    layer_free(base);
    done(ctx);
}

/* Base areas the lookup does not list belong to no footprint: a point in
 * one finds none, and so does a point whose nearest base area is one. */
static void test_mapped_unlisted_areas_answer_none(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_layer *base = syn_base(ctx);
    fp_layer *M = mapped_ok(ctx, base, LOOKUP);
    const char *const unlisted[] = {"L03", "L04", "L14", "L24", "L34"};
    for (size_t k = 0; k < 5; k++) {
        int r = unlisted[k][1] - '0', c = unlisted[k][2] - '0';
        double lat = 50.5 + r, lon = c + 0.5;
        assert_string_equal(test_code_at(base, lon, lat), unlisted[k]);
        assert_int_equal(fp_layer_find(M, lat, lon), -1);
        fp_match m = fp_layer_locate(M, lat, lon, 1e5); /* inside: no nearest */
        assert_int_equal(m.index, -1);
        assert_int_equal(m.kind, FP_MATCH_NONE);
        assert_true(isnan(m.distance_m));
    }
    /* East of L14 (its nearest area is unlisted): none, no distance. */
    fp_match m = fp_layer_locate(M, 51.5, 5.01, 5000);
    assert_int_equal(fp_layer_locate(base, 51.5, 5.01, 5000).kind, FP_MATCH_NEAREST);
    assert_int_equal(m.index, -1);
    assert_int_equal(m.kind, FP_MATCH_NONE);
    assert_true(isnan(m.distance_m));
    /* A lookup listing only L00: one footprint, everything else none. */
    fp_layer *one = mapped_ok(ctx, base, "KEYCD,GRPCD,GRPNM\nL00,G9,Nine\n");
    assert_int_equal(fp_layer_count(one), 1);
    assert_string_equal(test_code_at(one, 0.5, 50.5), "G9");
    assert_string_equal(test_code_at(one, 1.5, 50.5), "none");
    double box[4];
    fp_layer_bbox(one, SIZE_MAX, box);
    assert_true(box[0] == 0 && box[1] == 50 && box[2] == 1 && box[3] == 51);
    layer_free(one);
    layer_free(M);
    layer_free(base);
    done(ctx);
}

/* A footprint's box is the union of its areas' boxes; the layer's, of the
 * listed areas only. */
static void test_mapped_bbox(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_layer *base = syn_base(ctx);
    fp_layer *M = mapped_ok(ctx, base, LOOKUP);
    double box[4];
    for (size_t i = 0; i < 4; i++) {
        fp_layer_bbox(M, i, box);
        for (int k = 0; k < 4; k++)
            if (box[k] != GROUP_BOX[i][k])
                fail_msg("%s box[%d] = %g, want %g", GROUPS[i], k, box[k], GROUP_BOX[i][k]);
    }
    fp_layer_bbox(M, SIZE_MAX, box);
    assert_true(box[0] == 0 && box[1] == 50 && box[2] == 4 && box[3] == 54);
    fp_layer_bbox(base, SIZE_MAX, box);
    assert_true(box[2] == 5); /* the base reaches further */
    layer_free(M);
    layer_free(base);
    done(ctx);
}

/* A layer that owns its base (as fp_catalogue_open hands it over) frees
 * it too. */
static void test_mapped_owns_base(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    long before = test_alloc_outstanding();
    fp_layer *base = syn_base(ctx);
    fp_layer *M = mapped_ok(ctx, base, LOOKUP);
    M->base_owned = base;
    unhold(base);
    assert_string_equal(test_code_at(M, 0.5, 53.5), "G1");
    layer_free(M);
    assert_int_equal(test_alloc_outstanding(), before);
    done(ctx);
}

/* ---- lookups that are refused ---- */

static void test_mapped_missing_columns_efield(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_layer *base = syn_base(ctx);
    static const struct {
        const char *text, *column;
    } cases[] = {
        {"KEY,GRPCD,GRPNM\nL00,G1,One\n", "KEYCD"},
        {"KEYCD,GRPCODE,GRPNM\nL00,G1,One\n", "GRPCD"},
        {"KEYCD,GRPCD,GRPNAME\nL00,G1,One\n", "GRPNM"},
        {"keycd,grpcd,grpnm\nL00,G1,One\n", "KEYCD"}, /* names are exact */
        {"L00,G1,One\n", "KEYCD"},                     /* no header row */
        {"KEYCD ,GRPCD,GRPNM\nL00,G1,One\n", "KEYCD"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        mapped_fails(ctx, base, cases[i].text, strlen(cases[i].text), FP_EFIELD,
                     cases[i].column, NULL, NULL);
    layer_free(base);
    done(ctx);
}

static void test_mapped_unknown_key_eformat(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_layer *base = syn_base(ctx);
    const char t1[] = "KEYCD,GRPCD,GRPNM\nL00,G1,One\nL99,G1,One\n";
    mapped_fails(ctx, base, t1, strlen(t1), FP_EFORMAT, "line 3", "L99", NULL);
    /* Blank lines still count in line numbers. */
    const char t2[] = "KEYCD,GRPCD,GRPNM\n\nL00,G1,One\n\nX1,G2,Two\n";
    mapped_fails(ctx, base, t2, strlen(t2), FP_EFORMAT, "line 5", "'X1'", NULL);
    /* An empty key is no area either. */
    const char t3[] = "KEYCD,GRPCD,GRPNM\n,G1,One\n";
    mapped_fails(ctx, base, t3, strlen(t3), FP_EFORMAT, "line 2", "''", NULL);
    /* A group code is not a key. */
    const char t4[] = "GRPCD,KEYCD,GRPNM\nL00,G1,One\n";
    mapped_fails(ctx, base, t4, strlen(t4), FP_EFORMAT, "line 2", "G1", NULL);
    layer_free(base);
    done(ctx);
}

static void test_mapped_key_assigned_twice_eformat(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_layer *base = syn_base(ctx);
    const char t1[] = "KEYCD,GRPCD,GRPNM\nL00,G1,One\nL01,G1,One\nL00,G2,Two\n";
    mapped_fails(ctx, base, t1, strlen(t1), FP_EFORMAT, "line 4", "L00", "G2");
    /* The message names both codes. */
    mapped_fails(ctx, base, t1, strlen(t1), FP_EFORMAT, "G1", NULL, NULL);
    /* A repeated row (same key, same code) is harmless. */
    fp_layer *M = mapped_ok(ctx, base, "KEYCD,GRPCD,GRPNM\nL00,G1,One\nL00,G1,One\n");
    assert_int_equal(fp_layer_count(M), 1);
    assert_string_equal(test_code_at(M, 0.5, 50.5), "G1");
    layer_free(M);
    layer_free(base);
    done(ctx);
}

static void test_mapped_empty_code_eformat(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_layer *base = syn_base(ctx);
    const char t1[] = "KEYCD,GRPCD,GRPNM\nL00,G1,One\nL01,,Nameless\n";
    mapped_fails(ctx, base, t1, strlen(t1), FP_EFORMAT, "line 3", "GRPCD", "L01");
    const char t2[] = "KEYCD,GRPCD,GRPNM\nL00,\"\",One\n";
    mapped_fails(ctx, base, t2, strlen(t2), FP_EFORMAT, "line 2", "GRPCD", "L00");
    /* An empty name is allowed: the code is what matters. */
    fp_layer *M = mapped_ok(ctx, base, "KEYCD,GRPCD,GRPNM\nL00,G1,\n");
    assert_string_equal(fp_layer_name(M, 0), "");
    layer_free(M);
    layer_free(base);
    done(ctx);
}

static void test_mapped_no_rows_eformat(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_layer *base = syn_base(ctx);
    const char *const texts[] = {"KEYCD,GRPCD,GRPNM\n", "KEYCD,GRPCD,GRPNM",
                                 "KEYCD,GRPCD,GRPNM\r\n\r\n\n\n"};
    for (size_t i = 0; i < 3; i++)
        mapped_fails(ctx, base, texts[i], strlen(texts[i]), FP_EFORMAT, "no rows", NULL, NULL);
    /* No header at all. */
    mapped_fails(ctx, base, "", 0, FP_EFORMAT, "header", NULL, NULL);
    mapped_fails(ctx, base, "\n\n\r\n", 4, FP_EFORMAT, "header", NULL, NULL);
    /* The length counts, not a NUL: a header cut short. */
    mapped_fails(ctx, base, "KEYCD,GRPCD,GRPNM\nL00,G1,One\n", 12, FP_EFIELD, "GRPNM", NULL,
                 NULL);
    layer_free(base);
    done(ctx);
}

/* Rows with too few fields and unterminated quotes: the line is named. */
static void test_mapped_malformed_rows_eformat(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_layer *base = syn_base(ctx);
    const char t1[] = "KEYCD,GRPCD,GRPNM\nL00,G1,One\nL01,G1\n";
    mapped_fails(ctx, base, t1, strlen(t1), FP_EFORMAT, "line 3", NULL, NULL);
    const char t2[] = "GRPNM,GRPCD,KEYCD\nOne,G1,L00\nOne,G1\n";
    mapped_fails(ctx, base, t2, strlen(t2), FP_EFORMAT, "line 3", NULL, NULL);
    const char t3[] = "KEYCD,GRPCD,GRPNM\nL00,G1,One\nL01,G1,\"One\nL02,G1,One\n";
    mapped_fails(ctx, base, t3, strlen(t3), FP_EFORMAT, "line 3", "quote", NULL);
    layer_free(base);
    done(ctx);
}

/* A byte-order mark, CRLF line ends and quoted fields (embedded commas,
 * doubled quotes, newlines) read as Excel and ONS write them. */
static void test_mapped_bom_quotes_crlf(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_layer *base = syn_base(ctx);
    fp_layer *ref = mapped_ok(ctx, base, LOOKUP);
    /* LOOKUP with a BOM and CRLF: the same layer. */
    size_t n = strlen(LOOKUP);
    char *crlf = malloc(2 * n + 4);
    assert_non_null(crlf);
    size_t k = 0;
    memcpy(crlf, "\xEF\xBB\xBF", 3);
    k = 3;
    for (size_t i = 0; i < n; i++) {
        if (LOOKUP[i] == '\n') crlf[k++] = '\r';
        crlf[k++] = LOOKUP[i];
    }
    crlf[k] = '\0';
    fp_layer *M = mapped_ok(ctx, base, crlf);
    assert_same_mapped(M, ref, 4000, 5);
    layer_free(M);
    /* The key first, behind the BOM; the name last, before a CR; the last
     * line without its end. */
    M = mapped_ok(ctx, base,
                  "\xEF\xBB\xBFKEYCD,GRPCD,GRPNM\r\nL00,G1,Name\r\nL01,\"G2\",\"Two, \"\"2\"\"\"\r\n"
                  "\"L02\",G3,\"multi\r\nline\"\r\nL10,G4,Last");
    assert_int_equal(fp_layer_count(M), 4);
    assert_string_equal(fp_layer_code(M, 0), "G1");
    assert_string_equal(fp_layer_name(M, 0), "Name");
    assert_string_equal(fp_layer_code(M, 1), "G2");
    assert_string_equal(fp_layer_name(M, 1), "Two, \"2\"");
    assert_string_equal(fp_layer_name(M, 2), "multi\r\nline");
    assert_string_equal(fp_layer_name(M, 3), "Last");
    assert_string_equal(test_code_at(M, 2.5, 50.5), "G3");
    assert_string_equal(test_code_at(M, 0.5, 51.5), "G4");
    layer_free(M);
    /* Quoted header names. */
    M = mapped_ok(ctx, base, "\"GRPNM\",\"KEYCD\",\"GRPCD\"\nOne,L00,G1\n");
    assert_string_equal(fp_layer_name(M, 0), "One");
    assert_string_equal(test_code_at(M, 0.5, 50.5), "G1");
    layer_free(M);
    free(crlf);
    layer_free(ref);
    layer_free(base);
    done(ctx);
}

/* When rows of one code disagree on its name, the first row naming the
 * code gives it, whatever the order of the base areas (the answer must
 * not depend on the C library's sort). */
static void test_mapped_name_from_first_row(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_layer *base = syn_base(ctx);
    char got[2][32];
    const char *const texts[2] = {
        "KEYCD,GRPCD,GRPNM\nL31,G1,First\nL00,G1,Second\nL12,G1,Third\n",
        "KEYCD,GRPCD,GRPNM\nL12,G1,Third\nL00,G1,Second\nL31,G1,First\n"};
    for (int k = 0; k < 2; k++) {
        fp_layer *M = mapped_ok(ctx, base, texts[k]);
        assert_int_equal(fp_layer_count(M), 1);
        snprintf(got[k], sizeof got[k], "%s", fp_layer_name(M, 0));
        layer_free(M);
    }
    /* Everything freed first: a failure here leaves no leak behind. */
    layer_free(base);
    done(ctx);
    assert_string_equal(got[0], "First");
    assert_string_equal(got[1], "Third");
}

/* Out of memory at every allocation in turn: FP_ENOMEM, no layer, nothing
 * leaked; then it succeeds. */
static void test_mapped_allocation_failures(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_layer *base = syn_base(ctx);
    long before = test_alloc_outstanding();
    int rc = FP_ENOMEM;
    long n;
    fp_layer *M = NULL;
    for (n = 0; n < 10000; n++) {
        M = (fp_layer *)1;
        test_alloc_fail_after(n);
        rc = new_mapped(ctx, base, LOOKUP, &M);
        test_alloc_fail_after(-1);
        if (rc == FP_OK) break;
        if (rc != FP_ENOMEM)
            fail_msg("allocation %ld failed: status %d (%s)", n, rc, fp_ctx_errmsg(ctx));
        assert_null(M);
        assert_has(fp_ctx_errmsg(ctx), "out of memory");
        assert_int_equal(test_alloc_outstanding(), before);
    }
    assert_int_equal(rc, FP_OK);
    hold(H_LAYER, M);
    assert_true(n >= 8); /* csv, per-area tables, strings, groups, layer arrays */
    assert_int_equal(fp_layer_count(M), 4);
    assert_answers_as_lookup(M, base, 2000, 3);
    layer_free(M);
    /* An error found after allocations (a bad row) frees them too. */
    const char bad[] = "KEYCD,GRPCD,GRPNM\nL00,G1,One\nL01,G2,Two\nL01,G3,Three\n";
    for (n = 0; n < 200; n++) {
        M = (fp_layer *)1;
        test_alloc_fail_after(n);
        rc = fp__layer_new_mapped(ctx, base, bad, strlen(bad), "x", "KEYCD", "GRPCD", "GRPNM",
                                  &M);
        test_alloc_fail_after(-1);
        if (rc == FP_OK) hold(H_LAYER, M);
        assert_true(rc == FP_ENOMEM || rc == FP_EFORMAT);
        assert_null(M);
        assert_int_equal(test_alloc_outstanding(), before);
        if (rc == FP_EFORMAT) break;
    }
    assert_int_equal(rc, FP_EFORMAT);
    layer_free(base);
    done(ctx);
}

/* ---- the catalogue ---- */

static int parse_catalogue(fp_ctx *ctx, const char *rows, fp_catalogue **out)
{
    char text[4096];
    snprintf(text, sizeof text,
             "id,level,name,valid_from,valid_to,path,layer,code_field,name_field,vintage,"
             "attribution,members,via\n"
             "base,lsoa,Base,2011-12-01,,boundaries/base.geojson,,KEYCD,KEYNM,2011,Src,,\n"
             "%s",
             rows);
    return fp_catalogue_parse(ctx, text, strlen(text), "cat.csv", out);
}

static void catalogue_fails(const char *rows, const char *n1, const char *n2)
{
    fp_ctx *ctx = ctx_held();
    fp_catalogue *cat = (fp_catalogue *)1;
    int rc = parse_catalogue(ctx, rows, &cat);
    if (rc == FP_OK) hold(H_CAT, cat);
    if (rc != FP_EFORMAT) fail_msg("%s: status %d (%s)", rows, rc, fp_ctx_errmsg(ctx));
    assert_null(cat);
    assert_has(fp_ctx_errmsg(ctx), "cat.csv");
    if (n1) assert_has(fp_ctx_errmsg(ctx), n1);
    if (n2) assert_has(fp_ctx_errmsg(ctx), n2);
    done(ctx);
}

static void test_mapped_catalogue_via(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_catalogue *cat = NULL;
    /* Accepted: via a boundary-file edition, before or after it. */
    int rc = parse_catalogue(
        ctx,
        "grp,icb,G,2022-07-01,,lookups/l.csv,,GRPCD,GRPNM,2022,Src,,base\n",
        &cat);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    hold(H_CAT, cat);
    assert_string_equal(fp_catalogue_find(cat, "grp")->via, "base");
    assert_string_equal(fp_catalogue_find(cat, "base")->via, "");
    assert_string_equal(fp_catalogue_find(cat, "grp")->members, "");
    cat_free(cat);
    /* A catalogue without the via column: every via is "". */
    const char old[] = "id,level,name,valid_from,valid_to,path,layer,code_field,name_field,"
                       "vintage,attribution\nbase,lsoa,Base,2011-12-01,,b.geojson,,A,B,2011,S\n";
    assert_int_equal(fp_catalogue_parse(ctx, old, strlen(old), "old", &cat), FP_OK);
    hold(H_CAT, cat);
    assert_string_equal(fp_catalogue_get(cat, 0)->via, "");
    cat_free(cat);
    done(ctx);

    /* Refused: via an unknown edition, itself, a membership edition or
     * another via edition; with members; without a name field. */
    catalogue_fails("grp,icb,G,2022-07-01,,l.csv,,GRPCD,GRPNM,2022,Src,,nope\n", "grp",
                    "'nope'");
    catalogue_fails("grp,icb,G,2022-07-01,,l.csv,,GRPCD,GRPNM,2022,Src,,grp\n", "grp",
                    "'grp'");
    catalogue_fails("mem,icp,M,2017-02-01,,,,,,2021,Src,members/m.csv,\n"
                    "grp,icb,G,2022-07-01,,l.csv,,GRPCD,GRPNM,2022,Src,,mem\n",
                    "grp", "'mem'");
    catalogue_fails("grp,icb,G,2022-07-01,,l.csv,,GRPCD,GRPNM,2022,Src,,base\n"
                    "grp2,stp,G2,2022-07-01,,l.csv,,GRPCD,GRPNM,2022,Src,,grp\n",
                    "grp2", "'grp'");
    catalogue_fails("grp,icb,G,2022-07-01,,l.csv,,GRPCD,GRPNM,2022,Src,members/m.csv,base\n",
                    "line 3", NULL);
    catalogue_fails("grp,icb,G,2022-07-01,,l.csv,,GRPCD,,2022,Src,,base\n", "line 3", NULL);
    catalogue_fails("grp,icb,G,2022-07-01,,,,GRPCD,GRPNM,2022,Src,,base\n", "line 3", NULL);
    catalogue_fails("grp,icb,G,2022-07-01,,l.csv,,,GRPNM,2022,Src,,base\n", "line 3", NULL);
}

/* ---- the atlas ---- */

static t_sect *find_sect(unsigned char *f, const char *name)
{
    t_hdr h;
    memcpy(&h, f, sizeof h);
    for (uint32_t i = 0; i < h.nsect; i++) {
        t_sect *s = (t_sect *)(f + 64 + 64 * (size_t)i);
        if (strncmp(s->name, name, 40) == 0) return s;
    }
    return NULL;
}

/* Recomputes every checksum, as a forger would. */
static void reseal(unsigned char *f)
{
    t_hdr h;
    memcpy(&h, f, sizeof h);
    for (uint32_t i = 0; i < h.nsect; i++) {
        t_sect *s = (t_sect *)(f + 64 + 64 * (size_t)i);
        s->hash = fp__hash64(f + s->offset, (size_t)s->length);
    }
    h.table_hash = fp__hash64(f + 64, 64 * (size_t)h.nsect);
    memcpy(f, &h, sizeof h);
}

static fp_atlas *open_ok(fp_ctx *ctx, const char *path)
{
    fp_atlas *a = NULL;
    int rc = fp_atlas_open(ctx, path, &a);
    if (rc) fail_msg("open %s: %s (%d)", path, fp_ctx_errmsg(ctx), rc);
    assert_non_null(a);
    return hold(H_ATLAS, a);
}

static const fp_layer *layer_ok(fp_ctx *ctx, const fp_atlas *a, const char *ed)
{
    const fp_layer *L = NULL;
    int rc = fp_atlas_layer(ctx, a, ed, &L);
    if (rc) fail_msg("layer %s: %s (%d)", ed, fp_ctx_errmsg(ctx), rc);
    assert_non_null(L);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    return L;
}

/* fp_atlas_layer(ed) on the image f must fail with FP_EFORMAT naming the
 * file, the section and `needle` (twice: the verdict is kept). */
static void layer_refused(const unsigned char *f, size_t len, const char *ed,
                          const char *section, const char *needle)
{
    const char *path = tmp_path("damaged.atlas");
    test_write_file(path, f, len);
    fp_ctx *ctx = ctx_held();
    fp_atlas *a = open_ok(ctx, path);
    for (int again = 0; again < 2; again++) {
        const fp_layer *L = (const fp_layer *)1;
        int rc = fp_atlas_layer(ctx, a, ed, &L);
        if (rc != FP_EFORMAT)
            fail_msg("%s: status %d (%s), want FP_EFORMAT (%s)", ed, rc, fp_ctx_errmsg(ctx),
                     needle ? needle : "");
        assert_null(L);
        assert_int_equal(fp_ctx_errcode(ctx), FP_EFORMAT);
        assert_has(fp_ctx_errmsg(ctx), path);
        assert_has(fp_ctx_errmsg(ctx), section);
        if (needle) assert_has(fp_ctx_errmsg(ctx), needle);
    }
    atlas_free(a);
    done(ctx);
}

/* A copy of the synthetic atlas and the parts of its grp section. */
typedef struct image {
    unsigned char *f;
    t_sect *s;   /* layer/grp */
    t_mhdr *h;   /* its header */
    fp_feat *feat;
    int32_t *map;
    char *strings;
} image;

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

static image fresh_image(void)
{
    image im;
    im.f = malloc(pristine_len);
    assert_non_null(im.f);
    memcpy(im.f, pristine, pristine_len);
    im.s = find_sect(im.f, "layer/grp");
    assert_non_null(im.s);
    im.h = (t_mhdr *)(im.f + im.s->offset);
    assert_int_equal(im.h->magic, FP_ATLAS_MAPPED_MAGIC);
    im.feat = (fp_feat *)(im.f + im.s->offset + pad8(sizeof(t_mhdr)));
    im.map = (int32_t *)((unsigned char *)im.feat + pad8(im.h->nfeat * sizeof(fp_feat)));
    im.strings = (char *)im.map + pad8(im.h->nbase * sizeof(int32_t));
    return im;
}

/* The in-memory layer the atlas must equal (fp_catalogue_open). */
static fp_layer *syn_reference(fp_ctx *ctx, const char *id)
{
    fp_layer *L = NULL;
    int rc = fp_catalogue_open(ctx, gcat, id, data_dir, NULL, &L);
    if (rc) fail_msg("open %s: %s (%d)", id, fp_ctx_errmsg(ctx), rc);
    return hold(H_LAYER, L);
}

/* The synthetic catalogue compiled: the via editions answer exactly as
 * fp_catalogue_open's layers (and as the lookup says). */
static void test_mapped_atlas_roundtrip(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_atlas *a = open_ok(ctx, atlas_path);
    const fp_layer *G = layer_ok(ctx, a, "grp");
    const fp_layer *B = layer_ok(ctx, a, "base");
    fp_layer *ref = syn_reference(ctx, "grp");
    assert_int_equal(fp_layer_count(ref), 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(fp_layer_code(ref, i), GROUPS[i]);
        assert_string_equal(fp_layer_name(ref, i), GROUP_NAMES[i]);
    }
    assert_same_mapped(G, ref, 20000, 17);
    assert_answers_as_lookup(G, B, 5000, 23);
    /* The second edition via the same base: other codes, same areas. */
    const fp_layer *G2 = layer_ok(ctx, a, "grp2");
    fp_layer *ref2 = syn_reference(ctx, "grp2");
    assert_same_mapped(G2, ref2, 5000, 29);
    assert_string_equal(test_code_at(G2, 0.5, 53.5), "Q1");
    assert_string_equal(test_code_at(G2, 4.5, 53.5), "none");
    /* Asked again: the same layer. */
    const fp_layer *again = layer_ok(ctx, a, "grp");
    assert_ptr_equal(again, G);
    layer_free(ref);
    layer_free(ref2);
    atlas_free(a);
    done(ctx);
}

/* only = {grp}: the atlas also holds its base (grp needs it), nothing
 * else; only = {base}: no via editions. */
static void test_mapped_atlas_only_includes_base(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    const char *out = tmp_path("only.atlas");
    const char *const only[] = {"grp", NULL};
    int rc = fp_atlas_build(ctx, gcat, data_dir, only, NULL, out);
    if (rc) fail_msg("build: %s (%d)", fp_ctx_errmsg(ctx), rc);
    fp_atlas *a = open_ok(ctx, out);
    const fp_layer *G = layer_ok(ctx, a, "grp");
    const fp_layer *B = layer_ok(ctx, a, "base");
    assert_int_equal(fp_layer_count(B), NBASE);
    assert_answers_as_lookup(G, B, 3000, 31);
    const fp_layer *L = (const fp_layer *)1;
    assert_int_equal(fp_atlas_layer(ctx, a, "other", &L), FP_ENOTFOUND);
    assert_null(L);
    assert_int_equal(fp_atlas_layer(ctx, a, "grp2", &L), FP_ENOTFOUND);
    atlas_free(a);
    /* Only the base: no map sections. */
    const char *const only_base[] = {"base", NULL};
    rc = fp_atlas_build(ctx, gcat, data_dir, only_base, NULL, out);
    if (rc) fail_msg("build: %s (%d)", fp_ctx_errmsg(ctx), rc);
    a = open_ok(ctx, out);
    layer_ok(ctx, a, "base");
    assert_int_equal(fp_atlas_layer(ctx, a, "grp", &L), FP_ENOTFOUND);
    atlas_free(a);
    done(ctx);
}

/* A lookup the build cannot use: the build fails naming it, and writes no
 * atlas.  A via edition listed before its base is refused too. */
static void test_mapped_atlas_build_errors(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/bad-data", root);
    test_rm_tree(dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/boundaries", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/lookups", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    char *gj = syn_base_geojson();
    snprintf(path, sizeof path, "%s/boundaries/base.geojson", dir);
    test_write_file(path, gj, strlen(gj));
    free(gj);
    snprintf(path, sizeof path, "%s/boundaries/other.geojson", dir);
    test_write_file(path, OTHER_GEOJSON, strlen(OTHER_GEOJSON));
    char lookup[700];
    snprintf(lookup, sizeof lookup, "%s/lookups/lookup.csv", dir);
    const char bad[] = "KEYCD,GRPCD,GRPNM,GRPCDH\nL00,G1,One,Q1\nL77,G1,One,Q1\n";
    test_write_file(lookup, bad, strlen(bad));
    const char *out = tmp_path("bad.atlas");
    unlink(out);
    const char *const only[] = {"grp", NULL};
    int rc = fp_atlas_build(ctx, gcat, dir, only, NULL, out);
    assert_int_equal(rc, FP_EFORMAT);
    assert_has(fp_ctx_errmsg(ctx), lookup);
    assert_has(fp_ctx_errmsg(ctx), "L77");
    assert_has(fp_ctx_errmsg(ctx), "line 3");
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0);
    /* The lookup lacks the code column. */
    const char nocol[] = "KEYCD,GRPNM,GRPCDH\nL00,One,Q1\n";
    test_write_file(lookup, nocol, strlen(nocol));
    rc = fp_atlas_build(ctx, gcat, dir, only, NULL, out);
    assert_int_equal(rc, FP_EFIELD);
    assert_has(fp_ctx_errmsg(ctx), lookup);
    assert_has(fp_ctx_errmsg(ctx), "GRPCD");
    assert_int_not_equal(stat(out, &st), 0);
    /* No lookup at all. */
    unlink(lookup);
    rc = fp_atlas_build(ctx, gcat, dir, only, NULL, out);
    assert_int_equal(rc, FP_EIO);
    assert_has(fp_ctx_errmsg(ctx), "lookups/lookup.csv");
    assert_int_not_equal(stat(out, &st), 0);
    /* The via edition before its base in the catalogue. */
    test_write_file(lookup, LOOKUP, strlen(LOOKUP));
    const char order[] =
        "id,level,name,valid_from,valid_to,path,layer,code_field,name_field,vintage,"
        "attribution,members,via\n"
        "grp,icb,Groups,2022-07-01,,lookups/lookup.csv,,GRPCD,GRPNM,2022,Src,,base\n"
        "base,lsoa,Base,2011-12-01,,boundaries/base.geojson,,KEYCD,KEYNM,2011,Src,,\n";
    fp_catalogue *cat = NULL;
    assert_int_equal(fp_catalogue_parse(ctx, order, strlen(order), "order", &cat), FP_OK);
    hold(H_CAT, cat);
    rc = fp_atlas_build(ctx, cat, dir, NULL, NULL, out);
    if (rc == FP_OK) {
        /* Any order may be supported; then it must answer right. */
        fp_atlas *a = open_ok(ctx, out);
        assert_answers_as_lookup(layer_ok(ctx, a, "grp"), layer_ok(ctx, a, "base"), 2000, 37);
        atlas_free(a);
    } else {
        assert_int_equal(rc, FP_EFORMAT);
        assert_has(fp_ctx_errmsg(ctx), "grp");
        assert_has(fp_ctx_errmsg(ctx), "base");
        assert_int_not_equal(stat(out, &st), 0);
    }
    /* fp_catalogue_open does not care about the order. */
    fp_layer *L = NULL;
    rc = fp_catalogue_open(ctx, cat, "grp", dir, NULL, &L);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    hold(H_LAYER, L);
    assert_string_equal(test_code_at(L, 0.5, 53.5), "G1");
    layer_free(L);
    cat_free(cat);
    test_rm_tree(dir);
    done(ctx);
}

/* Map entries out of range (a forger recomputes the checksums). */
static void test_mapped_atlas_map_entry_refused(void **state)
{
    (void)state;
    const int32_t bad[] = {4, 5, 1000, INT32_MAX, -2, INT32_MIN};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        for (int at = 0; at < 3; at++) {
            image im = fresh_image();
            assert_int_equal(im.h->nbase, NBASE);
            size_t where = at == 0 ? 0 : at == 1 ? NBASE / 2 : NBASE - 1;
            im.map[where] = bad[k];
            reseal(im.f);
            layer_refused(im.f, pristine_len, "grp", "layer/grp", "map entry");
            free(im.f);
        }
    }
    /* -1 (no footprint) and any footprint in range are fine. */
    image im = fresh_image();
    im.map[0] = -1; /* L00 */
    im.map[1] = 0;  /* L01 -> G0 */
    reseal(im.f);
    const char *path = tmp_path("remapped.atlas");
    test_write_file(path, im.f, pristine_len);
    fp_ctx *ctx = ctx_held();
    fp_atlas *a = open_ok(ctx, path);
    const fp_layer *G = layer_ok(ctx, a, "grp");
    assert_string_equal(test_code_at(G, 0.5, 50.5), "none");
    assert_string_equal(test_code_at(G, 1.5, 50.5), "G0");
    assert_string_equal(test_code_at(G, 2.5, 50.5), "G2");
    atlas_free(a);
    done(ctx);
    free(im.f);
}

/* The header's counts, strings and footprints checked, each named. */
static void test_mapped_atlas_crafted_header_refused(void **state)
{
    (void)state;
    image im;
#define CASE(edit, needle)                                            \
    do {                                                              \
        im = fresh_image();                                           \
        edit;                                                         \
        reseal(im.f);                                                 \
        layer_refused(im.f, pristine_len, "grp", "layer/grp", needle); \
        free(im.f);                                                   \
    } while (0)
    CASE(im.h->nbase = NBASE + 1, NULL);
    CASE(im.h->nbase = NBASE - 1, NULL);
    CASE(im.h->nfeat = 0, NULL);
    CASE(im.h->nfeat = 1u << 30, NULL);
    CASE(im.h->nfeat = 1000, NULL);
    CASE(im.h->nfeat = UINT64_MAX / 8, NULL);
    CASE(im.h->strings_len = 1u << 20, NULL);
    CASE(im.h->strings_len = 0, NULL);
    CASE(im.h->strings_len = UINT64_MAX, NULL);
    CASE(im.strings[im.h->strings_len - 1] = 'x', "string table");
    CASE(im.feat[1].code = (uint32_t)im.h->strings_len, "footprint strings");
    CASE(im.feat[2].name = UINT32_MAX, "footprint strings");
    CASE(im.feat[3].code = im.feat[0].code, "footprint order");
    CASE(im.feat[0].nrings = 1, "footprint rings");
    CASE(im.feat[0].ring0 = 7, "footprint rings");
    CASE(im.feat[1].nstripes = 3, "footprint rings");
    CASE(memset(im.strings, 'G', (size_t)im.h->strings_len - 1), NULL);
#undef CASE
}

/* The base section's name: missing, unterminated, itself, a section that
 * is no layer with geometry or of another size. */
static void test_mapped_atlas_base_name_refused(void **state)
{
    (void)state;
    static const char *const names[] = {"nope", "", "grp", "grp2", "other", "catalogue",
                                        "sources", "bas", "base2"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        image im = fresh_image();
        memset(im.h->base, 0, sizeof im.h->base);
        memcpy(im.h->base, names[k], strlen(names[k]));
        reseal(im.f);
        layer_refused(im.f, pristine_len, "grp", "layer/grp", NULL);
        free(im.f);
    }
    /* No terminating NUL within the field. */
    image im = fresh_image();
    memset(im.h->base, 'b', sizeof im.h->base);
    reseal(im.f);
    layer_refused(im.f, pristine_len, "grp", "layer/grp", "base name");
    free(im.f);
    /* "base" followed by junk after its NUL is still "base". */
    im = fresh_image();
    memset(im.h->base + 5, 'x', sizeof im.h->base - 5);
    reseal(im.f);
    const char *path = tmp_path("junk.atlas");
    test_write_file(path, im.f, pristine_len);
    fp_ctx *ctx = ctx_held();
    fp_atlas *a = open_ok(ctx, path);
    assert_string_equal(test_code_at(layer_ok(ctx, a, "grp"), 0.5, 53.5), "G1");
    atlas_free(a);
    done(ctx);
    free(im.f);
}

/* Flipped bits without resealing: the checksum catches each one. */
static void test_mapped_atlas_bit_flips(void **state)
{
    (void)state;
    image im = fresh_image();
    size_t len = (size_t)im.s->length, off = (size_t)im.s->offset;
    free(im.f);
    rng_state = 4242;
    for (int k = 0; k < 40; k++) {
        unsigned char *f = malloc(pristine_len);
        assert_non_null(f);
        memcpy(f, pristine, pristine_len);
        size_t at = k == 0 ? 0 : k == 1 ? len - 1 : (size_t)(rnd() % len);
        f[off + at] ^= (unsigned char)(1u << (rnd() % 8));
        layer_refused(f, pristine_len, "grp", "layer/grp", "checksum");
        free(f);
    }
}

/* Forged bytes anywhere in the section, checksums recomputed: a clean
 * refusal, or a layer whose every answer is in range — never a crash. */
static void test_mapped_atlas_fuzz_no_crash(void **state)
{
    (void)state;
    image im0 = fresh_image();
    size_t len = (size_t)im0.s->length, off = (size_t)im0.s->offset;
    free(im0.f);
    const char *path = tmp_path("fuzz.atlas");
    double lat[64], lon[64];
    grid_points(lat, lon, 64, 77);
    rng_state = 99;
    int refused = 0, accepted = 0;
    unsigned char *f = malloc(pristine_len);
    assert_non_null(f);
    for (int k = 0; k < 600; k++) {
        memcpy(f, pristine, pristine_len);
        int nchanges = 1 + (int)(rnd() % 4);
        for (int c = 0; c < nchanges; c++) {
            size_t at = (size_t)(rnd() % len);
            if (rnd() % 3 == 0 && at < 104) at &= ~(size_t)7; /* whole header words */
            f[off + at] = (unsigned char)rnd();
        }
        reseal(f);
        test_write_file(path, f, pristine_len);
        fp_ctx *ctx = ctx_held();
        fp_atlas *a = open_ok(ctx, path);
        const fp_layer *G = NULL;
        int rc = fp_atlas_layer(ctx, a, "grp", &G);
        if (rc) {
            assert_int_equal(rc, FP_EFORMAT);
            assert_has(fp_ctx_errmsg(ctx), "layer/grp");
            refused++;
        } else {
            accepted++;
            size_t n = fp_layer_count(G);
            for (int i = 0; i < 64; i++) {
                long g = fp_layer_find(G, lat[i], lon[i]);
                assert_true(g >= -1 && g < (long)n);
                fp_match m = fp_layer_locate(G, lat[i], lon[i], 50000);
                assert_true(m.index >= -1 && m.index < (long)n);
                if (g >= 0) assert_non_null(fp_layer_code(G, (size_t)g));
            }
            for (size_t i = 0; i < n; i++) {
                assert_non_null(fp_layer_code(G, i));
                assert_non_null(fp_layer_name(G, i));
            }
        }
        atlas_free(a);
        done(ctx);
    }
    free(f);
    print_message("# 600 forged sections: %d refused, %d accepted\n", refused, accepted);
    assert_true(refused > 100);
}

/* A via edition whose base section is damaged is refused too, whichever
 * is asked for first; other editions still answer. */
static void test_mapped_atlas_base_corrupt(void **state)
{
    (void)state;
    for (int variant = 0; variant < 4; variant++) {
        unsigned char *f = malloc(pristine_len);
        assert_non_null(f);
        memcpy(f, pristine, pristine_len);
        t_sect *bs = find_sect(f, "layer/base");
        assert_non_null(bs);
        t_lhdr *lh = (t_lhdr *)(f + bs->offset);
        const char *why = NULL;
        switch (variant) {
        case 0: /* a flipped bit: checksum */
            f[bs->offset + bs->length / 2] ^= 0x10;
            break;
        case 1: /* forged: a count */
            lh->nfeat = 0;
            reseal(f);
            break;
        case 2: /* forged: a grid parameter */
            lh->root_bits = 13;
            reseal(f);
            break;
        case 3: /* forged: not a layer at all */
            lh->magic = 0x12345678u;
            reseal(f);
            why = "base";
            break;
        }
        const char *path = tmp_path("base-corrupt.atlas");
        test_write_file(path, f, pristine_len);
        for (int order = 0; order < 2; order++) {
            fp_ctx *ctx = ctx_held();
            fp_atlas *a = open_ok(ctx, path);
            const fp_layer *L = (const fp_layer *)1;
            if (order == 1) {
                assert_int_equal(fp_atlas_layer(ctx, a, "base", &L), FP_EFORMAT);
                assert_has(fp_ctx_errmsg(ctx), "layer/base");
            }
            for (int k = 0; k < 2; k++) {
                const char *ed = k ? "grp2" : "grp";
                L = (const fp_layer *)1;
                int rc = fp_atlas_layer(ctx, a, ed, &L);
                if (rc != FP_EFORMAT)
                    fail_msg("variant %d: %s status %d (%s)", variant, ed, rc,
                             fp_ctx_errmsg(ctx));
                assert_null(L);
                assert_has(fp_ctx_errmsg(ctx), path);
                assert_has(fp_ctx_errmsg(ctx), ed);
                if (why) assert_has(fp_ctx_errmsg(ctx), why);
            }
            assert_int_equal(fp_atlas_layer(ctx, a, "base", &L), FP_EFORMAT);
            assert_has(fp_ctx_errmsg(ctx), "layer/base");
            const fp_layer *O = layer_ok(ctx, a, "other");
            assert_string_equal(test_code_at(O, 0.5, 50.5), "O1");
            atlas_free(a);
            done(ctx);
        }
        free(f);
    }
}

/* Many threads asking for the via editions and their base at once, on a
 * fresh mapping: one verification, the same layers, right answers. */
enum { NTHREADS = 8 };

typedef struct vjob {
    pthread_barrier_t *start;
    const fp_atlas *a;
    int k;
    int rc;
    const fp_layer *layer;
    char msg[FP_ERRMSG_MAX];
} vjob;

static void *verify_worker(void *arg)
{
    vjob *j = arg;
    fp_ctx *ctx = NULL;
    if (fp_ctx_new(&ctx)) {
        j->rc = FP_ENOMEM;
        return NULL;
    }
    pthread_barrier_wait(j->start);
    const char *ed = j->k % 3 == 0 ? "base" : j->k % 3 == 1 ? "grp" : "grp2";
    j->rc = fp_atlas_layer(ctx, j->a, ed, &j->layer);
    snprintf(j->msg, sizeof j->msg, "%s", fp_ctx_errmsg(ctx));
    fp_ctx_free(ctx);
    return NULL;
}

static void test_mapped_atlas_threads_verify(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        fp_ctx *ctx = ctx_held();
        fp_atlas *a = open_ok(ctx, atlas_path);
        pthread_barrier_t start;
        assert_int_equal(pthread_barrier_init(&start, NULL, NTHREADS), 0);
        vjob jobs[NTHREADS];
        pthread_t t[NTHREADS];
        for (int k = 0; k < NTHREADS; k++) {
            memset(&jobs[k], 0, sizeof jobs[k]);
            jobs[k].start = &start;
            jobs[k].a = a;
            jobs[k].k = k + round;
            assert_int_equal(pthread_create(&t[k], NULL, verify_worker, &jobs[k]), 0);
        }
        for (int k = 0; k < NTHREADS; k++) pthread_join(t[k], NULL);
        pthread_barrier_destroy(&start);
        const fp_layer *B = layer_ok(ctx, a, "base"), *G = layer_ok(ctx, a, "grp"),
                       *G2 = layer_ok(ctx, a, "grp2");
        for (int k = 0; k < NTHREADS; k++) {
            if (jobs[k].rc) fail_msg("thread %d: %s", k, jobs[k].msg);
            int which = jobs[k].k % 3;
            assert_ptr_equal(jobs[k].layer, which == 0 ? B : which == 1 ? G : G2);
        }
        assert_string_equal(test_code_at(G, 0.5, 53.5), "G1");
        atlas_free(a);
        done(ctx);
    }
}

/* Out of memory while a via edition (and so its base) is first verified:
 * FP_ENOMEM, not a verdict of corruption that sticks — asked again with
 * memory to spare, the layer answers. */
static void test_mapped_atlas_layer_allocation_failures(void **state)
{
    (void)state;
    int hit = 0;
    for (long n = 0; n < 50; n++) {
        fp_ctx *ctx = ctx_held();
        fp_atlas *a = open_ok(ctx, atlas_path); /* with the counting allocator */
        long before = test_alloc_outstanding();
        const fp_layer *G = (const fp_layer *)1;
        test_alloc_fail_after(n);
        int rc = fp_atlas_layer(ctx, a, "grp", &G);
        test_alloc_fail_after(-1);
        long after = test_alloc_outstanding();
        char msg[FP_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
        int rc2 = FP_OK, rc3 = FP_OK;
        char code[16] = "";
        if (rc) { /* memory again: it answers */
            hit++;
            const fp_layer *L = NULL;
            rc2 = fp_atlas_layer(ctx, a, "grp", &L);
            if (!rc2) snprintf(code, sizeof code, "%s", test_code_at(L, 0.5, 53.5));
            rc3 = fp_atlas_layer(ctx, a, "base", &L);
        }
        /* Freed before judging, so a failure leaks nothing into later tests. */
        atlas_free(a);
        done(ctx);
        assert_int_equal(after, before);
        if (rc == FP_OK) break;
        if (rc != FP_ENOMEM)
            fail_msg("allocation %ld failed: status %d (%s), want FP_ENOMEM", n, rc, msg);
        assert_null(G);
        if (rc2 || rc3) fail_msg("allocation %ld failed: a later call still fails (%d, %d)", n,
                                 rc2, rc3);
        assert_string_equal(code, "G1");
    }
    assert_true(hit >= 1); /* verifying the base's grid allocates */
}

/* fp_catalogue_open of a via edition: the base is opened and owned by the
 * layer; freeing it returns everything.  Allocation failures on the way:
 * FP_ENOMEM and no leak. */
static void test_mapped_catalogue_open(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    long before = test_alloc_outstanding();
    fp_layer *L = syn_reference(ctx, "grp");
    assert_non_null(L->base);
    assert_ptr_equal(L->base, L->base_owned);
    assert_int_equal(fp_layer_vertices(L), 0);
    assert_string_equal(test_code_at(L, 0.5, 53.5), "G1");
    assert_answers_as_lookup(L, L->base, 2000, 41);
    layer_free(L);
    assert_int_equal(test_alloc_outstanding(), before);
    /* A missing lookup: FP_EIO naming it, nothing leaked. */
    fp_catalogue *cat = NULL;
    char text[2048];
    snprintf(text, sizeof text, "%.*sgrp3,icb,G3,2022-07-01,,lookups/missing.csv,,GRPCD,GRPNM,"
             "2022,Src,,base\n", (int)strlen(CATALOGUE), CATALOGUE);
    assert_int_equal(fp_catalogue_parse(ctx, text, strlen(text), "cat", &cat), FP_OK);
    hold(H_CAT, cat);
    L = (fp_layer *)1;
    assert_int_equal(fp_catalogue_open(ctx, cat, "grp3", data_dir, NULL, &L), FP_EIO);
    assert_null(L);
    assert_has(fp_ctx_errmsg(ctx), "lookups/missing.csv");
    cat_free(cat);
    assert_int_equal(test_alloc_outstanding(), before);
    int rc = FP_ENOMEM;
    long n;
    for (n = 0; n < 100000; n += n < 200 ? 1 : 37) {
        L = (fp_layer *)1;
        test_alloc_fail_after(n);
        rc = fp_catalogue_open(ctx, gcat, "grp", data_dir, NULL, &L);
        test_alloc_fail_after(-1);
        if (rc == FP_OK) break;
        if (rc != FP_ENOMEM)
            fail_msg("allocation %ld failed: status %d (%s)", n, rc, fp_ctx_errmsg(ctx));
        assert_null(L);
        assert_int_equal(test_alloc_outstanding(), before);
    }
    assert_int_equal(rc, FP_OK);
    hold(H_LAYER, L);
    assert_true(n > 10);
    assert_string_equal(test_code_at(L, 0.5, 53.5), "G1");
    layer_free(L);
    done(ctx);
}

/* ---- real data ---- */

/* Share of the English postcodes of the NSPL extract whose code in column
 * `want_col` the layer gives (nearest within 5 km outside every area). */
static double nspl_agreement(const fp_layer *L, const char *want_col, size_t *n_out,
                             size_t *near_out)
{
    char *text = NULL;
    size_t len = 0;
    int rc = fp__read_file(gctx, test_data_path("postcodes/postcodes_nspl_nov2021.csv"),
                           &text, &len);
    if (rc) fail_msg("%s", fp_ctx_errmsg(gctx));
    fp_csv csv;
    const fp_allocator plain = {malloc, realloc, free};
    fp__csv_init(&csv, &plain, text, len);
    const char *why = NULL;
    assert_int_equal(fp__csv_next(&csv, &why), 1);
    long clat = -1, clon = -1, cctry = -1, cwant = -1;
    for (size_t i = 0; i < csv.nfields; i++) {
        if (!strcmp(csv.fields[i], "lat")) clat = (long)i;
        if (!strcmp(csv.fields[i], "long")) clon = (long)i;
        if (!strcmp(csv.fields[i], "ctry")) cctry = (long)i;
        if (!strcmp(csv.fields[i], want_col)) cwant = (long)i;
    }
    assert_true(clat >= 0 && clon >= 0 && cctry >= 0 && cwant >= 0);
    size_t n = 0, agree = 0, near = 0;
    while (fp__csv_next(&csv, &why) == 1) {
        if ((long)csv.nfields <= cwant || strcmp(csv.fields[cctry], "E92000001")) continue;
        const char *want = csv.fields[cwant];
        if (!*want) continue;
        double lat = strtod(csv.fields[clat], NULL), lon = strtod(csv.fields[clon], NULL);
        fp_match m = fp_layer_locate(L, lat, lon, 5000);
        n++;
        near += m.kind == FP_MATCH_NEAREST;
        if (m.index >= 0 && !strcmp(fp_layer_code(L, (size_t)m.index), want)) agree++;
    }
    fp__csv_free(&csv);
    fp__free(&plain, text);
    *n_out = n;
    *near_out = near;
    return n ? 100.0 * (double)agree / (double)n : 0;
}

static void test_mapped_real_icb2022lsoa_agrees_with_nspl(void **state)
{
    (void)state;
    const char *data = test_require_data();
    fp_ctx *ctx = ctx_held();
    fp_catalogue *cat = hold(H_CAT, test_catalogue(ctx));
    const fp_edition *ed = fp_catalogue_find(cat, "icb2022lsoa");
    assert_non_null(ed);
    assert_string_equal(ed->via, "lsoa2011");
    fp_layer *L = NULL;
    int rc = fp_catalogue_open(ctx, cat, "icb2022lsoa", data, NULL, &L);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    hold(H_LAYER, L);
    assert_int_equal(fp_layer_count(L), 42);
    assert_int_equal(fp_layer_vertices(L), 0);
    assert_int_equal(fp_layer_count(L->base), 32844);
    /* Sheffield. */
    long i = fp_layer_find(L, 53.381, -1.470);
    assert_true(i >= 0);
    assert_string_equal(fp_layer_code(L, (size_t)i), "E54000061");
    size_t n, near;
    double pct = nspl_agreement(L, "icb22_via_lsoa11", &n, &near);
    print_message("# icb2022lsoa: %.4f %% of %zu English postcodes agree with "
                  "icb22_via_lsoa11 (%zu by nearest)\n", pct, n, near);
    assert_true(n > 40000);
    assert_true(pct >= 99.98);
    layer_free(L);
    cat_free(cat);
    done(ctx);
}

static void test_mapped_real_stp2021lsoa_atlas_agrees_with_nspl(void **state)
{
    (void)state;
    const char *data = test_require_data();
    fp_ctx *ctx = ctx_held();
    fp_catalogue *cat = hold(H_CAT, test_catalogue(ctx));
    const char *out = tmp_path("real.atlas");
    const char *const only[] = {"stp2021lsoa", NULL};
    int rc = fp_atlas_build(gctx, cat, data, only, NULL, out);
    if (rc) fail_msg("build: %s", fp_ctx_errmsg(gctx));
    fp_atlas *a = open_ok(ctx, out);
    const fp_layer *L = layer_ok(ctx, a, "stp2021lsoa");
    assert_int_equal(fp_layer_count(L), 42);
    assert_int_equal(fp_layer_vertices(L), 0);
    assert_int_equal(fp_layer_count(layer_ok(ctx, a, "lsoa2011")), 32844);
    const fp_layer *X = (const fp_layer *)1;
    assert_int_equal(fp_atlas_layer(ctx, a, "icb2022lsoa", &X), FP_ENOTFOUND);
    size_t n, near;
    double pct = nspl_agreement(L, "stp", &n, &near);
    print_message("# stp2021lsoa (atlas): %.4f %% of %zu English postcodes agree with "
                  "stp (%zu by nearest)\n", pct, n, near);
    assert_true(n > 40000);
    assert_true(pct >= 99.98);
    atlas_free(a);
    cat_free(cat);
    done(ctx);
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/fp_test_mapped_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(root)) return -1;
    if (fp_ctx_new(&gctx)) return -1;
    snprintf(data_dir, sizeof data_dir, "%s/data", root);
    char path[700];
    if (mkdir(data_dir, 0755)) return -1;
    snprintf(path, sizeof path, "%s/boundaries", data_dir);
    if (mkdir(path, 0755)) return -1;
    snprintf(path, sizeof path, "%s/lookups", data_dir);
    if (mkdir(path, 0755)) return -1;
    char *gj = syn_base_geojson();
    snprintf(path, sizeof path, "%s/boundaries/base.geojson", data_dir);
    test_write_file(path, gj, strlen(gj));
    free(gj);
    snprintf(path, sizeof path, "%s/boundaries/other.geojson", data_dir);
    test_write_file(path, OTHER_GEOJSON, strlen(OTHER_GEOJSON));
    snprintf(path, sizeof path, "%s/lookups/lookup.csv", data_dir);
    test_write_file(path, LOOKUP, strlen(LOOKUP));
    if (fp_catalogue_parse(gctx, CATALOGUE, strlen(CATALOGUE), "syn", &gcat)) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    snprintf(atlas_path, sizeof atlas_path, "%s/syn.atlas", root);
    if (fp_atlas_build(gctx, gcat, data_dir, NULL, NULL, atlas_path)) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    pristine = test_read_file(atlas_path, &pristine_len);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(pristine);
    fp_catalogue_free(gcat);
    fp_ctx_free(gctx);
    test_rm_tree(root);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_mapped_answers_through_base, release_held),
        cmocka_unit_test_teardown(test_mapped_nearest_through_base, release_held),
        cmocka_unit_test_teardown(test_mapped_unlisted_areas_answer_none, release_held),
        cmocka_unit_test_teardown(test_mapped_bbox, release_held),
        cmocka_unit_test_teardown(test_mapped_owns_base, release_held),
        cmocka_unit_test_teardown(test_mapped_missing_columns_efield, release_held),
        cmocka_unit_test_teardown(test_mapped_unknown_key_eformat, release_held),
        cmocka_unit_test_teardown(test_mapped_key_assigned_twice_eformat, release_held),
        cmocka_unit_test_teardown(test_mapped_empty_code_eformat, release_held),
        cmocka_unit_test_teardown(test_mapped_no_rows_eformat, release_held),
        cmocka_unit_test_teardown(test_mapped_malformed_rows_eformat, release_held),
        cmocka_unit_test_teardown(test_mapped_bom_quotes_crlf, release_held),
        cmocka_unit_test_teardown(test_mapped_name_from_first_row, release_held),
        cmocka_unit_test_teardown(test_mapped_allocation_failures, release_held),
        cmocka_unit_test_teardown(test_mapped_catalogue_via, release_held),
        cmocka_unit_test_teardown(test_mapped_catalogue_open, release_held),
        cmocka_unit_test_teardown(test_mapped_atlas_roundtrip, release_held),
        cmocka_unit_test_teardown(test_mapped_atlas_only_includes_base, release_held),
        cmocka_unit_test_teardown(test_mapped_atlas_build_errors, release_held),
        cmocka_unit_test_teardown(test_mapped_atlas_map_entry_refused, release_held),
        cmocka_unit_test_teardown(test_mapped_atlas_crafted_header_refused, release_held),
        cmocka_unit_test_teardown(test_mapped_atlas_base_name_refused, release_held),
        cmocka_unit_test_teardown(test_mapped_atlas_bit_flips, release_held),
        cmocka_unit_test_teardown(test_mapped_atlas_fuzz_no_crash, release_held),
        cmocka_unit_test_teardown(test_mapped_atlas_base_corrupt, release_held),
        cmocka_unit_test_teardown(test_mapped_atlas_threads_verify, release_held),
        cmocka_unit_test_teardown(test_mapped_atlas_layer_allocation_failures, release_held),
        cmocka_unit_test_teardown(test_mapped_real_icb2022lsoa_agrees_with_nspl, release_held),
        cmocka_unit_test_teardown(test_mapped_real_stp2021lsoa_atlas_agrees_with_nspl, release_held),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
