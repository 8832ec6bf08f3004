/* Unit tests for lib/src/batch.c: plans answer many points at once, and
 * every answer is exactly the one fp_atlas_chain (for a tier on a date) or
 * fp_layer_locate (for a pinned edition) gives for the point alone:
 * footprint, edition, names, ODS code, statuses, kind and distance.
 *
 * The group setup compiles every edition of the repository's catalogue
 * from the ONS mirror into one atlas (C-library allocator, so the tests'
 * leak counts stay their own), and a small synthetic atlas (squares, 31
 * editions, parent facts) for what the real catalogue cannot show. */
#include "support.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- shared state (made by the group setup) ---- */

static char root[256];
static char real_path[512];  /* every edition of the repository's catalogue */
static char syn_path[512];   /* the synthetic catalogue */
static fp_ctx *gctx;         /* C-library allocator: not leak-counted */
static fp_atlas *greal;      /* NULL when the mirror is absent */
static fp_atlas *gsyn;
static char today[11];

enum { NPTS = 3000 };
static double plat[NPTS], plon[NPTS]; /* points over England and its coasts */

static const char *const DATES[] = {"2017-06-01", "2019-06-01", "2021-08-01",
                                    "2022-06-30", "2022-07-01", "2024-01-01",
                                    "2026-03-31", "2026-04-01", today};
#define NDATES (sizeof DATES / sizeof *DATES)

/* ---- what a test holds ----
 *
 * Contexts, plans, buffers and atlases a test makes are registered, and a
 * per-test teardown frees whatever a failing test left behind, so that the
 * leak counts of the tests after it stay their own. */

enum { H_PLAN, H_BUF, H_ATLAS, H_CTX };
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

static void plan_free(fp_plan *p)
{
    unhold(p);
    fp_plan_free(p);
}

static void *held_malloc(size_t n)
{
    void *b = malloc(n ? n : 1);
    assert_non_null(b);
    return hold(H_BUF, b);
}

static void held_free(void *b)
{
    unhold(b);
    free(b);
}

static void atlas_free(fp_atlas *a)
{
    unhold(a);
    fp_atlas_free(a);
}

static int release_held(void **state)
{
    (void)state;
    test_alloc_fail_after(-1);
    for (int pass = 0; pass < 2; pass++) /* contexts last */
        for (size_t i = 0; i < nheld; i++) {
            if ((held[i].kind == H_CTX) != pass) continue;
            switch (held[i].kind) {
            case H_PLAN: fp_plan_free(held[i].p); break;
            case H_BUF: free(held[i].p); break;
            case H_ATLAS: fp_atlas_free(held[i].p); break;
            case H_CTX: fp_ctx_free(held[i].p); break;
            }
        }
    nheld = 0;
    return 0;
}

/* ---- helpers ---- */

static const fp_atlas *real(void)
{
    test_require_data();
    if (!greal) fail_msg("setup could not build the real atlas");
    return greal;
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

/* England's box (land, sea, Wales and Scotland's edges); a fifth of the
 * points close to known coasts, so that nearest answers are many. */
static void england_points(double *lat, double *lon, size_t n, uint64_t seed)
{
    static const double coast[][2] = {
        {50.60, -2.45}, {50.72, -1.90}, {54.91, -1.36}, {53.55, 0.10}, {51.50, 1.40},
        {50.05, -5.70}, {53.40, -3.10}, {54.45, -3.55}, {52.95, 1.30}, {50.78, 0.30}};
    rng_state = seed;
    for (size_t i = 0; i < n; i++) {
        if (i % 5 == 4) {
            const double *c = coast[rnd() % 10];
            lat[i] = c[0] + uniform(-0.06, 0.06);
            lon[i] = c[1] + uniform(-0.09, 0.09);
        } else {
            lat[i] = uniform(49.9, 55.85);
            lon[i] = uniform(-5.8, 1.8);
        }
    }
}

static fp_plan *plan_ok(fp_ctx *ctx, const fp_atlas *a)
{
    fp_plan *p = NULL;
    int rc = fp_plan_new(ctx, a, &p);
    if (rc) fail_msg("plan: %s (%d)", fp_ctx_errmsg(ctx), rc);
    assert_non_null(p);
    hold(H_PLAN, p);
    assert_int_equal(fp_plan_columns(p), 0);
    return p;
}

static void add_tier_ok(fp_ctx *ctx, fp_plan *p, int tier, const char *date)
{
    size_t before = fp_plan_columns(p);
    int rc = fp_plan_add_tier(ctx, p, tier, date);
    if (rc) fail_msg("tier %d on %s: %s (%d)", tier, date, fp_ctx_errmsg(ctx), rc);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    assert_int_equal(fp_plan_columns(p), before + 1);
    assert_int_equal(fp_plan_tier(p, before), tier);
}

static void add_edition_ok(fp_ctx *ctx, fp_plan *p, const char *id)
{
    size_t before = fp_plan_columns(p);
    int rc = fp_plan_add_edition(ctx, p, id);
    if (rc) fail_msg("edition %s: %s (%d)", id, fp_ctx_errmsg(ctx), rc);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    assert_int_equal(fp_plan_columns(p), before + 1);
    assert_int_equal(fp_plan_tier(p, before), -1);
    assert_non_null(fp_plan_edition(p, before));
    assert_string_equal(fp_plan_edition(p, before)->id, id);
}

static fp_hit *locate(const fp_plan *p, const double *lat, const double *lon, size_t n,
                      double nearest_m)
{
    size_t nc = fp_plan_columns(p);
    fp_hit *out = held_malloc((n * nc + 1) * sizeof *out);
    fp_plan_locate_n(p, lat, lon, n, nearest_m, out);
    return out;
}

static int same_double(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static const char *str(const char *s) { return s ? s : "(null)"; }

/* Hit h of column col must say exactly what link k says. */
static void assert_hit_is_link(const fp_plan *p, size_t col, fp_hit h, const fp_link *k,
                               size_t point, const char *date)
{
    const char *what = fp_tier_name(k->tier);
    if (!k->code) {
        if (h.entry != -1 || h.kind != FP_MATCH_NONE || !isnan(h.distance_m))
            fail_msg("%s %s point %zu (%.6f, %.6f): entry %d kind %d, chain says none", date,
                     what, point, plat[point % NPTS], plon[point % NPTS], h.entry, h.kind);
        return;
    }
    if (h.entry < 0)
        fail_msg("%s %s point %zu: none, chain says %s (kind %d, %.3f m)", date, what, point,
                 k->code, k->kind, k->distance_m);
    const fp_link *ans = fp_plan_answer(p, col, h.entry);
    assert_non_null(ans);
    if (strcmp(ans->code, k->code) || ans->edition != k->edition || h.kind != k->kind ||
        !same_double(h.distance_m, k->distance_m))
        fail_msg("%s %s point %zu: %s (%s, kind %d, %.17g m), chain says %s (%s, kind %d, "
                 "%.17g m)", date, what, point, ans->code,
                 ans->edition ? ans->edition->id : "parent", h.kind, h.distance_m, k->code,
                 k->edition ? k->edition->id : "parent", k->kind, k->distance_m);
    assert_int_equal(ans->tier, k->tier);
    assert_string_equal(str(ans->name), str(k->name));
    assert_string_equal(str(ans->ods_code), str(k->ods_code));
    assert_string_equal(ans->status, k->status);
    if (k->edition) assert_ptr_equal(k->edition, fp_plan_edition(p, col));
}

/* ---- tiers on dates equal the chain ---- */

typedef struct tally {
    size_t found, nearest, parent;
} tally;

static void tiers_equal_chain(const fp_atlas *a, const char *date, double nearest_m,
                              tally *t)
{
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, a);
    for (int tier = 0; tier < FP_TIER_COUNT; tier++) add_tier_ok(ctx, p, tier, date);
    fp_hit *out = locate(p, plat, plon, NPTS, nearest_m);
    for (size_t i = 0; i < NPTS; i++) {
        fp_link links[FP_TIER_COUNT];
        int rc = fp_atlas_chain(ctx, a, plat[i], plon[i], date, nearest_m, links);
        if (rc) fail_msg("chain: %s", fp_ctx_errmsg(ctx));
        for (int tier = 0; tier < FP_TIER_COUNT; tier++) {
            assert_hit_is_link(p, (size_t)tier, out[i * FP_TIER_COUNT + (size_t)tier],
                               &links[tier], i, date);
            t->found += links[tier].code != NULL;
            t->nearest += links[tier].kind == FP_MATCH_NEAREST;
            t->parent += tier == FP_TIER_REGION && links[tier].code && !links[tier].edition;
        }
    }
    held_free(out);
    plan_free(p);
    done(ctx);
}

static void test_batch_tiers_equal_chain(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    for (size_t d = 0; d < NDATES; d++) {
        tally t = {0, 0, 0};
        tiers_equal_chain(a, DATES[d], 0, &t);
        print_message("# %s: %zu found, %zu by parent\n", DATES[d], t.found, t.parent);
        assert_true(t.found > NPTS / 2); /* the points do land in footprints */
        assert_int_equal(t.nearest, 0);
        /* Before NHS region polygons (2024) the region is the parent's. */
        if (strcmp(DATES[d], "2024-01-01") < 0) assert_true(t.parent > NPTS / 10);
    }
}

static void test_batch_tiers_equal_chain_nearest(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    for (size_t d = 0; d < NDATES; d++) {
        tally t = {0, 0, 0};
        tiers_equal_chain(a, DATES[d], 2000, &t);
        assert_true(t.nearest > 50); /* coastal points: nearest answers */
    }
}

/* ---- pinned editions equal the layer ---- */

static void test_batch_pinned_editions_equal_layer(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    const fp_catalogue *cat = fp_atlas_catalogue(a);
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, a);
    const fp_layer *layers[64];
    size_t n = 0;
    for (size_t e = 0; e < fp_catalogue_count(cat); e++) {
        const fp_edition *ed = fp_catalogue_get(cat, e);
        add_edition_ok(ctx, p, ed->id);
        assert_ptr_equal(fp_plan_edition(p, n), ed);
        assert_int_equal(fp_atlas_layer(ctx, a, ed->id, &layers[n]), FP_OK);
        n++;
    }
    assert_true(n >= 19);
    for (int k = 0; k < 2; k++) {
        double nearest_m = k ? 2000 : 0;
        fp_hit *out = locate(p, plat, plon, NPTS, nearest_m);
        size_t found = 0, near = 0;
        for (size_t i = 0; i < NPTS; i++)
            for (size_t c = 0; c < n; c++) {
                fp_match m = fp_layer_locate(layers[c], plat[i], plon[i], nearest_m);
                fp_hit h = out[i * n + c];
                const fp_edition *ed = fp_plan_edition(p, c);
                if (m.index < 0) {
                    if (h.entry != -1 || h.kind != FP_MATCH_NONE || !isnan(h.distance_m))
                        fail_msg("%s point %zu: entry %d, the layer finds none", ed->id, i,
                                 h.entry);
                    continue;
                }
                const fp_link *ans = fp_plan_answer(p, c, h.entry);
                if (!ans || strcmp(ans->code, fp_layer_code(layers[c], (size_t)m.index)) ||
                    h.kind != m.kind || !same_double(h.distance_m, m.distance_m))
                    fail_msg("%s point %zu: %s (kind %d, %.17g m), the layer says %s (kind "
                             "%d, %.17g m)", ed->id, i, ans ? ans->code : "none", h.kind,
                             h.distance_m, fp_layer_code(layers[c], (size_t)m.index), m.kind,
                             m.distance_m);
                assert_string_equal(ans->name, fp_layer_name(layers[c], (size_t)m.index));
                assert_ptr_equal(ans->edition, ed);
                assert_non_null(ans->ods_code);
                assert_string_equal(ans->status, ""); /* no date, no status */
                if (*ed->members) { /* membership dates do not apply */
                    const fp_member *row =
                        fp_catalogue_footprint_row(cat, ed->id, ans->code);
                    assert_non_null(row);
                }
                found++;
                near += h.kind == FP_MATCH_NEAREST;
            }
        held_free(out);
        assert_true(found > NPTS * 5);
        if (k) assert_true(near > 100);
        else assert_int_equal(near, 0);
    }
    plan_free(p);
    done(ctx);
}

/* A pinned membership edition's ODS codes are its rows'. */
static void test_batch_pinned_ods_codes(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    const fp_catalogue *cat = fp_atlas_catalogue(a);
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, a);
    add_edition_ok(ctx, p, "icb2026m");
    add_tier_ok(ctx, p, FP_TIER_SYSTEM, "2026-06-01");
    double lat = 53.381, lon = -1.470; /* Sheffield */
    fp_hit h[2];
    fp_plan_locate_n(p, &lat, &lon, 1, 0, h);
    assert_true(h[0].entry >= 0 && h[1].entry >= 0);
    const fp_link *m = fp_plan_answer(p, 0, h[0].entry), *s = fp_plan_answer(p, 1, h[1].entry);
    assert_string_equal(m->code, "E54000061");
    const fp_member *row = fp_catalogue_footprint_row(cat, "icb2026m", "E54000061");
    assert_non_null(row);
    assert_true(*row->ods_code);
    assert_string_equal(m->ods_code, row->ods_code);
    fp_link links[FP_TIER_COUNT];
    assert_int_equal(fp_atlas_chain(ctx, a, lat, lon, "2026-06-01", 0, links), FP_OK);
    assert_string_equal(s->ods_code, links[FP_TIER_SYSTEM].ods_code);
    assert_string_equal(s->status, links[FP_TIER_SYSTEM].status);
    assert_true(*s->status);
    plan_free(p);
    done(ctx);
}

/* ---- what a plan's answers mean ---- */

static void test_batch_answer_fields(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, a);
    for (int tier = 0; tier < FP_TIER_COUNT; tier++) add_tier_ok(ctx, p, tier, "2019-06-01");
    add_tier_ok(ctx, p, FP_TIER_ICS, "2024-01-01");   /* no ICS edition then */
    add_tier_ok(ctx, p, FP_TIER_SYSTEM, "2022-08-01"); /* via the LSOAs */
    assert_int_equal(fp_plan_columns(p), 8);
    assert_string_equal(fp_plan_edition(p, FP_TIER_SYSTEM)->id, "stp2017");
    assert_string_equal(fp_plan_edition(p, FP_TIER_ICS)->id, "ics2018");
    assert_string_equal(fp_plan_edition(p, FP_TIER_PLACE)->id, "icp");
    assert_null(fp_plan_edition(p, FP_TIER_REGION)); /* no region polygons in 2019 */
    assert_null(fp_plan_edition(p, FP_TIER_SUB));    /* no CCG edition before 2021 */
    assert_null(fp_plan_edition(p, 6));
    assert_string_equal(fp_plan_edition(p, 7)->id, "icb2022lsoa");
    assert_int_equal(fp_plan_tier(p, 6), FP_TIER_ICS);
    assert_null(fp_plan_edition(p, 8));
    assert_int_equal(fp_plan_tier(p, 8), -1);
    assert_int_equal(fp_plan_tier(p, 1000), -1);
    double lat = 53.381, lon = -1.470; /* Sheffield */
    fp_hit h[8];
    fp_plan_locate_n(p, &lat, &lon, 1, 0, h);
    const fp_link *s = fp_plan_answer(p, FP_TIER_SYSTEM, h[FP_TIER_SYSTEM].entry);
    assert_non_null(s);
    assert_string_equal(s->code, "E54000009");
    assert_non_null(strstr(s->name, "South Yorkshire"));
    assert_non_null(strstr(s->status, "stp"));
    assert_int_equal(s->tier, FP_TIER_SYSTEM);
    assert_int_equal(h[FP_TIER_SYSTEM].kind, FP_MATCH_CONTAINED);
    assert_true(h[FP_TIER_SYSTEM].distance_m == 0);
    const fp_link *r = fp_plan_answer(p, FP_TIER_REGION, h[FP_TIER_REGION].entry);
    assert_non_null(r);
    assert_null(r->edition); /* from the system's parent */
    assert_int_equal(r->tier, FP_TIER_REGION);
    assert_string_equal(fp_plan_answer(p, FP_TIER_PLACE, h[FP_TIER_PLACE].entry)->code,
                        "E54000009-SHEFFIELD");
    assert_int_equal(h[6].entry, -1);
    assert_int_equal(h[6].kind, FP_MATCH_NONE);
    assert_int_equal(h[FP_TIER_SUB].entry, -1);
    assert_string_equal(fp_plan_answer(p, 7, h[7].entry)->code, "E54000061");
    /* Entries that are not answers. */
    assert_null(fp_plan_answer(p, FP_TIER_SYSTEM, -1));
    assert_null(fp_plan_answer(p, FP_TIER_SYSTEM, -2));
    assert_null(fp_plan_answer(p, FP_TIER_SYSTEM, 100000));
    assert_null(fp_plan_answer(p, FP_TIER_SUB, 0)); /* a column without footprints */
    assert_null(fp_plan_answer(p, 8, 0));
    assert_null(fp_plan_answer(p, (size_t)-1, 0));
    /* Every entry of a column is an answer of it. */
    for (int32_t e = 0; fp_plan_answer(p, FP_TIER_SYSTEM, e); e++) {
        const fp_link *k = fp_plan_answer(p, FP_TIER_SYSTEM, e);
        assert_non_null(k->code);
        assert_string_equal(k->edition->id, "stp2017");
        assert_true(e < 44);
    }
    plan_free(p);
    done(ctx);
}

/* Membership dates are the date's: the Bassetlaw place ended 2022-06-30. */
static void test_batch_membership_dates(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, a);
    add_tier_ok(ctx, p, FP_TIER_PLACE, "2022-06-30");
    add_tier_ok(ctx, p, FP_TIER_PLACE, "2022-07-01");
    add_tier_ok(ctx, p, FP_TIER_PLACE, "2017-02-01");
    add_tier_ok(ctx, p, FP_TIER_PLACE, "2017-01-31"); /* before the edition */
    add_edition_ok(ctx, p, "icp");                   /* any date */
    const double lat[] = {53.30, 53.381, 54.978}, lon[] = {-1.12, -1.470, -1.614};
    const char *const place[] = {"E54000009-BASSETLAW", "E54000009-SHEFFIELD",
                                 "E54000050-NORTH"};
    fp_hit h[3 * 5];
    fp_plan_locate_n(p, lat, lon, 3, 0, h);
    for (int i = 0; i < 3; i++) {
        const fp_hit *r = &h[i * 5];
        assert_string_equal(fp_plan_answer(p, 0, r[0].entry)->code, place[i]);
        assert_string_equal(fp_plan_answer(p, 2, r[2].entry)->code, place[i]);
        assert_int_equal(r[3].entry, -1);
        assert_string_equal(fp_plan_answer(p, 4, r[4].entry)->code, place[i]);
        if (i < 2) { /* the South Yorkshire places ended with June 2022 */
            assert_int_equal(r[1].entry, -1);
            assert_int_equal(r[1].kind, FP_MATCH_NONE);
            assert_true(isnan(r[1].distance_m));
        } else {
            assert_string_equal(fp_plan_answer(p, 1, r[1].entry)->code, place[i]);
        }
        /* ... as the chain says. */
        static const char *const dates[] = {"2022-06-30", "2022-07-01", "2017-02-01",
                                            "2017-01-31"};
        for (int d = 0; d < 4; d++) {
            fp_link links[FP_TIER_COUNT];
            assert_int_equal(fp_atlas_chain(ctx, a, lat[i], lon[i], dates[d], 0, links),
                             FP_OK);
            assert_hit_is_link(p, (size_t)d, r[d], &links[FP_TIER_PLACE], (size_t)i,
                               dates[d]);
        }
    }
    assert_null(fp_plan_edition(p, 3));
    plan_free(p);
    done(ctx);
}

/* Columns sharing a lookup layer (the LSOA editions share the LSOAs; a
 * tier twice; a pinned edition that is also a tier's) each answer as they
 * would alone. */
static void test_batch_shared_lookups(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, a);
    add_tier_ok(ctx, p, FP_TIER_SYSTEM, "2022-08-01"); /* icb2022lsoa */
    add_tier_ok(ctx, p, FP_TIER_SUB, "2022-08-01");    /* sicbl2022lsoa */
    add_edition_ok(ctx, p, "lsoa2011");
    add_tier_ok(ctx, p, FP_TIER_REGION, "2022-08-01"); /* parents of icb2022lsoa */
    add_edition_ok(ctx, p, "icb2022lsoa");
    add_tier_ok(ctx, p, FP_TIER_SYSTEM, "2021-08-01"); /* stp2021lsoa */
    add_edition_ok(ctx, p, "icb2022");
    add_tier_ok(ctx, p, FP_TIER_SYSTEM, "2022-08-01"); /* the first again */
    add_edition_ok(ctx, p, "icb2023");
    add_tier_ok(ctx, p, FP_TIER_SYSTEM, "2024-01-01"); /* icb2023 */
    assert_string_equal(fp_plan_edition(p, 0)->id, "icb2022lsoa");
    assert_string_equal(fp_plan_edition(p, 1)->id, "sicbl2022lsoa");
    assert_string_equal(fp_plan_edition(p, 5)->id, "stp2021lsoa");
    size_t nc = fp_plan_columns(p);
    assert_int_equal(nc, 10);
    for (int k = 0; k < 2; k++) {
        double nearest_m = k ? 2000 : 0;
        fp_hit *all = locate(p, plat, plon, NPTS, nearest_m);
        /* Each column alone, in a plan of its own. */
        static const struct {
            int tier;
            const char *date, *edition;
        } cols[] = {{FP_TIER_SYSTEM, "2022-08-01", NULL}, {FP_TIER_SUB, "2022-08-01", NULL},
                    {-1, NULL, "lsoa2011"},               {FP_TIER_REGION, "2022-08-01", NULL},
                    {-1, NULL, "icb2022lsoa"},            {FP_TIER_SYSTEM, "2021-08-01", NULL},
                    {-1, NULL, "icb2022"},                {FP_TIER_SYSTEM, "2022-08-01", NULL},
                    {-1, NULL, "icb2023"},                {FP_TIER_SYSTEM, "2024-01-01", NULL}};
        size_t differ = 0;
        for (size_t c = 0; c < nc; c++) {
            fp_plan *q = plan_ok(ctx, a);
            if (cols[c].tier >= 0)
                add_tier_ok(ctx, q, cols[c].tier, cols[c].date);
            else
                add_edition_ok(ctx, q, cols[c].edition);
            fp_hit *one = locate(q, plat, plon, NPTS, nearest_m);
            for (size_t i = 0; i < NPTS; i++) {
                fp_hit x = all[i * nc + c], y = one[i];
                const fp_link *ax = fp_plan_answer(p, c, x.entry),
                              *ay = fp_plan_answer(q, 0, y.entry);
                if ((ax == NULL) != (ay == NULL) || x.kind != y.kind ||
                    !same_double(x.distance_m, y.distance_m) ||
                    (ax && (strcmp(ax->code, ay->code) || ax->edition != ay->edition ||
                            strcmp(ax->status, ay->status))))
                    fail_msg("column %zu point %zu: %s (kind %d) in the plan, %s (kind %d) "
                             "alone", c, i, ax ? ax->code : "none", x.kind,
                             ay ? ay->code : "none", y.kind);
            }
            held_free(one);
            plan_free(q);
        }
        /* The LSOA-based ICB and the ICB polygons differ somewhere. */
        for (size_t i = 0; i < NPTS; i++) {
            const fp_link *x = fp_plan_answer(p, 4, all[i * nc + 4].entry),
                          *y = fp_plan_answer(p, 6, all[i * nc + 6].entry);
            differ += (x == NULL) != (y == NULL) || (x && strcmp(x->code, y->code));
            /* Column 0 and 7 are the same column. */
            assert_int_equal(all[i * nc].entry, all[i * nc + 7].entry);
        }
        assert_true(differ > 0);
        held_free(all);
    }
    plan_free(p);
    done(ctx);
}

/* ---- odd points and odd sizes ---- */

static void test_batch_bad_points_find_none(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, a);
    for (int tier = 0; tier < FP_TIER_COUNT; tier++) add_tier_ok(ctx, p, tier, "2024-01-01");
    add_edition_ok(ctx, p, "lsoa2011");
    add_edition_ok(ctx, p, "icb2022lsoa");
    add_edition_ok(ctx, p, "icp");
    size_t nc = fp_plan_columns(p);
    /* Non-finite or out of range (longitudes too: 358.53 is Sheffield's
     * plus 360): none, whatever the distance allowed. */
    const double lat[] = {NAN, 53.381, INFINITY, 53.381, -INFINITY, 91, -91, 53.381,
                          53.381, 1e300, 53.381, 53.381};
    const double lon[] = {-1.470, NAN, -1.470, -INFINITY, NAN, -1.470, -1.470, 181,
                          -181, -1.470, 358.53, -1.470};
    size_t n = sizeof lat / sizeof *lat;
    char why[256] = "";
    for (int k = 0; k < 3 && !*why; k++) {
        double nearest_m = k == 0 ? 0 : k == 1 ? 5000 : 1e9;
        fp_hit *out = locate(p, lat, lon, n, nearest_m);
        for (size_t i = 0; i + 1 < n && !*why; i++) /* all but the last (Sheffield) */
            for (size_t c = 0; c < nc && !*why; c++) {
                fp_hit h = out[i * nc + c];
                if (h.entry != -1 || h.kind != FP_MATCH_NONE || !isnan(h.distance_m))
                    snprintf(why, sizeof why,
                             "point %zu (%g, %g), column %zu, nearest %g: entry %d kind %d "
                             "(%.0f m)", i, lat[i], lon[i], c, nearest_m, h.entry, h.kind,
                             h.distance_m);
            }
        /* The good point among them is found in every column. */
        for (size_t c = 0; c < nc && !*why; c++) {
            /* No ICS in 2024, and the Sheffield place had ended. */
            if (c == FP_TIER_ICS || c == FP_TIER_PLACE) continue;
            if (out[(n - 1) * nc + c].entry < 0)
                snprintf(why, sizeof why, "Sheffield: column %zu none", c);
        }
        held_free(out);
    }
    /* Freed before judging: a failure leaks nothing into later tests. */
    plan_free(p);
    done(ctx);
    if (*why) fail_msg("%s", why);
}

static void test_batch_zero_points(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, a);
    add_tier_ok(ctx, p, FP_TIER_SYSTEM, "2024-01-01");
    fp_plan_locate_n(p, NULL, NULL, 0, 0, NULL);
    fp_plan_locate_n(p, NULL, NULL, 0, 2000, NULL);
    fp_hit sentinel = {12345, 77, 1.5};
    fp_plan_locate_n(p, plat, plon, 0, 0, &sentinel);
    assert_int_equal(sentinel.entry, 12345);
    assert_int_equal(sentinel.kind, 77);
    plan_free(p);
    /* A plan without columns answers nothing, writes nothing. */
    p = plan_ok(ctx, a);
    fp_plan_locate_n(p, plat, plon, NPTS, 2000, &sentinel);
    assert_int_equal(sentinel.entry, 12345);
    plan_free(p);
    fp_plan_free(NULL);
    done(ctx);
}

/* Any n, split anywhere (the plan works in chunks of 128): the same
 * answers as one point at a time, and nothing written past n rows. */
static void test_batch_chunk_sizes(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, a);
    for (int tier = 0; tier < FP_TIER_COUNT; tier++) add_tier_ok(ctx, p, tier, "2022-07-01");
    add_edition_ok(ctx, p, "lad2024");
    size_t nc = fp_plan_columns(p);
    fp_hit *one = held_malloc(NPTS * nc * sizeof *one);
    for (size_t i = 0; i < NPTS; i++)
        fp_plan_locate_n(p, plat + i, plon + i, 1, 2000, one + i * nc);
    static const size_t sizes[] = {1, 2, 127, 128, 129, 255, 256, 257, 383, 1000, NPTS};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        for (size_t start = 0; start + n <= NPTS; start += n + 911) {
            fp_hit *out = held_malloc((n + 3) * nc * sizeof *out);
            for (size_t k = 0; k < (n + 3) * nc; k++) out[k] = (fp_hit){-7, 99, 7.0};
            fp_plan_locate_n(p, plat + start, plon + start, n, 2000, out);
            for (size_t i = 0; i < n * nc; i++) {
                fp_hit x = out[i], y = one[start * nc + i];
                if (x.entry != y.entry || x.kind != y.kind ||
                    !same_double(x.distance_m, y.distance_m))
                    fail_msg("n %zu from %zu, cell %zu: entry %d/%d", n, start, i, x.entry,
                             y.entry);
            }
            for (size_t i = n * nc; i < (n + 3) * nc; i++)
                if (out[i].entry != -7 || out[i].kind != 99)
                    fail_msg("n %zu: cell %zu written past the end", n, i);
            held_free(out);
        }
    }
    held_free(one);
    plan_free(p);
    done(ctx);
}

/* ---- threads ---- */

enum { NTHREADS = 8 };

typedef struct job {
    pthread_barrier_t *start;
    const fp_plan *p;
    size_t from, n;
    double nearest_m;
    fp_hit *out;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->start);
    for (int round = 0; round < 3; round++)
        fp_plan_locate_n(j->p, plat + j->from, plon + j->from, j->n, j->nearest_m, j->out);
    return NULL;
}

static void test_batch_threads_agree(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, a);
    for (int tier = 0; tier < FP_TIER_COUNT; tier++) add_tier_ok(ctx, p, tier, "2022-06-30");
    add_tier_ok(ctx, p, FP_TIER_SYSTEM, "2022-07-01");
    add_edition_ok(ctx, p, "icb2026m");
    size_t nc = fp_plan_columns(p);
    for (int k = 0; k < 2; k++) {
        double nearest_m = k ? 2000 : 0;
        fp_hit *want = locate(p, plat, plon, NPTS, nearest_m);
        pthread_barrier_t start;
        assert_int_equal(pthread_barrier_init(&start, NULL, NTHREADS), 0);
        job jobs[NTHREADS];
        pthread_t t[NTHREADS];
        for (int j = 0; j < NTHREADS; j++) {
            /* Half the threads take the whole array, half a slice. */
            size_t from = j % 2 ? (size_t)j * (NPTS / NTHREADS) : 0;
            size_t n = j % 2 ? NPTS / NTHREADS + 3 : NPTS;
            if (from + n > NPTS) n = NPTS - from;
            jobs[j] = (job){&start, p, from, n, nearest_m, held_malloc(n * nc * sizeof(fp_hit))};
            assert_non_null(jobs[j].out);
        }
        for (int j = 0; j < NTHREADS; j++)
            assert_int_equal(pthread_create(&t[j], NULL, worker, &jobs[j]), 0);
        for (int j = 0; j < NTHREADS; j++) pthread_join(t[j], NULL);
        pthread_barrier_destroy(&start);
        for (int j = 0; j < NTHREADS; j++) {
            for (size_t i = 0; i < jobs[j].n * nc; i++) {
                fp_hit x = jobs[j].out[i], y = want[jobs[j].from * nc + i];
                if (x.entry != y.entry || x.kind != y.kind ||
                    !same_double(x.distance_m, y.distance_m))
                    fail_msg("thread %d, cell %zu: entry %d, want %d", j, i, x.entry, y.entry);
            }
            held_free(jobs[j].out);
        }
        held_free(want);
    }
    plan_free(p);
    done(ctx);
}

/* ---- errors ---- */

static void test_batch_bad_tier_and_date_einval(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, a);
    add_tier_ok(ctx, p, FP_TIER_SYSTEM, "2024-01-01");
    const int tiers[] = {-1, FP_TIER_COUNT, 100, -2147483647 - 1};
    for (size_t i = 0; i < sizeof tiers / sizeof *tiers; i++) {
        assert_int_equal(fp_plan_add_tier(ctx, p, tiers[i], "2024-01-01"), FP_EINVAL);
        assert_int_equal(fp_ctx_errcode(ctx), FP_EINVAL);
        char num[32];
        snprintf(num, sizeof num, "%d", tiers[i]);
        assert_has(fp_ctx_errmsg(ctx), num);
        assert_int_equal(fp_plan_columns(p), 1);
    }
    const char *const dates[] = {"2022-02-30", "2022-13-01", "22-07-01", "",
                                 "2022-07-01x", "2022/07/01", "2021-02-29", "today"};
    for (size_t i = 0; i < sizeof dates / sizeof *dates; i++) {
        assert_int_equal(fp_plan_add_tier(ctx, p, FP_TIER_SYSTEM, dates[i]), FP_EINVAL);
        assert_int_equal(fp_ctx_errcode(ctx), FP_EINVAL);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", dates[i]);
        assert_has(fp_ctx_errmsg(ctx), quoted);
        assert_int_equal(fp_plan_columns(p), 1);
    }
    assert_int_equal(fp_plan_add_tier(ctx, p, FP_TIER_SYSTEM, NULL), FP_EINVAL);
    assert_int_equal(fp_plan_columns(p), 1);
    /* A leap day is a date; success clears the error. */
    add_tier_ok(ctx, p, FP_TIER_SYSTEM, "2024-02-29");
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    /* The plan still answers after the refusals. */
    double lat = 53.381, lon = -1.470;
    fp_hit h[2];
    fp_plan_locate_n(p, &lat, &lon, 1, 0, h);
    assert_string_equal(fp_plan_answer(p, 0, h[0].entry)->code, "E54000061");
    assert_string_equal(fp_plan_answer(p, 1, h[1].entry)->code, "E54000061");
    plan_free(p);
    done(ctx);
}

static void test_batch_unknown_edition_enotfound(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    /* Not in the catalogue; in the catalogue but not compiled. */
    fp_plan *p = plan_ok(ctx, gsyn);
    const char *const ids[] = {"nope", "absent", "", "SYS", "sys ", "layer/sys"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        assert_int_equal(fp_plan_add_edition(ctx, p, ids[i]), FP_ENOTFOUND);
        assert_int_equal(fp_ctx_errcode(ctx), FP_ENOTFOUND);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", ids[i]);
        assert_has(fp_ctx_errmsg(ctx), quoted);
        assert_int_equal(fp_plan_columns(p), 0);
    }
    add_edition_ok(ctx, p, "sys");
    plan_free(p);
    if (greal) {
        p = plan_ok(ctx, greal);
        assert_int_equal(fp_plan_add_edition(ctx, p, "icb2099"), FP_ENOTFOUND);
        assert_has(fp_ctx_errmsg(ctx), "icb2099");
        assert_int_equal(fp_plan_columns(p), 0);
        plan_free(p);
    }
    done(ctx);
}

/* 64 columns are fine; the 65th is refused and the plan keeps working. */
static void test_batch_column_limit(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, a);
    for (int c = 0; c < 64; c++) {
        if (c % 4 == 3)
            add_edition_ok(ctx, p, c % 8 == 3 ? "lad2021" : "icp");
        else
            add_tier_ok(ctx, p, c % FP_TIER_COUNT, DATES[(size_t)c % NDATES]);
    }
    assert_int_equal(fp_plan_add_tier(ctx, p, FP_TIER_SYSTEM, "2024-01-01"), FP_EINVAL);
    assert_has(fp_ctx_errmsg(ctx), "64");
    assert_int_equal(fp_plan_add_edition(ctx, p, "icb2023"), FP_EINVAL);
    assert_has(fp_ctx_errmsg(ctx), "64");
    assert_int_equal(fp_plan_columns(p), 64);
    fp_hit *out = locate(p, plat, plon, 500, 2000);
    for (size_t i = 0; i < 500; i++) {
        fp_link links[FP_TIER_COUNT];
        for (size_t c = 0; c < 64; c++) {
            if (c % 4 == 3) continue;
            const char *date = DATES[c % NDATES];
            assert_int_equal(fp_atlas_chain(ctx, a, plat[i], plon[i], date, 2000, links),
                             FP_OK);
            assert_hit_is_link(p, c, out[i * 64 + c], &links[c % FP_TIER_COUNT], i, date);
        }
    }
    held_free(out);
    plan_free(p);
    done(ctx);
}

/* Up to 64 columns means 64 distinct editions too: each answers. */
static void test_batch_many_distinct_editions(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, gsyn);
    int rc = FP_OK;
    char id[16];
    int added = 0;
    for (int e = 0; e < 30 && !rc; e++) {
        snprintf(id, sizeof id, "e%02d", e);
        rc = fp_plan_add_edition(ctx, p, id);
        if (!rc) added++;
    }
    if (!rc) rc = fp_plan_add_edition(ctx, p, "sys");
    if (!rc) rc = fp_plan_add_tier(ctx, p, FP_TIER_REGION, "2023-06-01");
    char msg[512];
    snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
    size_t nc = fp_plan_columns(p);
    fp_hit h[64];
    double lat = 50.5, lon = 1.5; /* S2 */
    if (!rc) fp_plan_locate_n(p, &lat, &lon, 1, 0, h);
    char codes[64][8];
    for (size_t c = 0; c < nc && !rc; c++) {
        const fp_link *k = fp_plan_answer(p, c, h[c].entry);
        snprintf(codes[c], sizeof codes[c], "%s", k ? k->code : "none");
    }
    plan_free(p);
    done(ctx);
    if (rc) fail_msg("after %d editions: status %d (%s)", added, rc, msg);
    assert_int_equal(nc, 32);
    for (size_t c = 0; c < 31; c++) assert_string_equal(codes[c], "S2");
    assert_string_equal(codes[31], "R1");
}

/* A region from the parent facts carries the fact's own name, as the
 * chain gives it (two facts may spell one region differently). */
static void test_batch_region_parents_as_chain(void **state)
{
    (void)state;
    fp_ctx *ctx = ctx_held();
    static const char *const dates[] = {"2021-01-01", "2022-12-31", "2023-01-01"};
    const double lat[] = {50.5, 50.5, 50.5, 50.5, 49.999, 50.5},
                 lon[] = {0.5, 1.5, 2.5, 3.5, 0.5, 4.005};
    size_t n = sizeof lat / sizeof *lat;
    char diff[512] = "";
    for (size_t d = 0; d < 3; d++) {
        fp_plan *p = plan_ok(ctx, gsyn);
        add_tier_ok(ctx, p, FP_TIER_REGION, dates[d]);
        add_tier_ok(ctx, p, FP_TIER_SYSTEM, dates[d]);
        fp_hit h[12];
        fp_plan_locate_n(p, lat, lon, n, 2000, h);
        for (size_t i = 0; i < n && !*diff; i++) {
            fp_link links[FP_TIER_COUNT];
            assert_int_equal(fp_atlas_chain(ctx, gsyn, lat[i], lon[i], dates[d], 2000, links),
                             FP_OK);
            for (int t = 0; t < 2 && !*diff; t++) {
                const fp_link *k = &links[t ? FP_TIER_SYSTEM : FP_TIER_REGION];
                const fp_link *ans = fp_plan_answer(p, (size_t)t, h[i * 2 + (size_t)t].entry);
                if ((ans == NULL) != (k->code == NULL) ||
                    (ans && (strcmp(ans->code, k->code) || strcmp(ans->name, k->name) ||
                             h[i * 2 + (size_t)t].kind != k->kind ||
                             !same_double(h[i * 2 + (size_t)t].distance_m, k->distance_m))))
                    snprintf(diff, sizeof diff, "%s point %zu tier %d: plan %s '%s', chain %s '%s'",
                             dates[d], i, t, ans ? ans->code : "none", ans ? ans->name : "",
                             str(k->code), str(k->name));
            }
        }
        plan_free(p);
    }
    done(ctx);
    if (*diff) fail_msg("%s", diff);
}

/* A corrupt atlas: FP_EFORMAT naming it and the section, the plan as it
 * was.  (The section table, as test_atlas.c reads it.) */
typedef struct t_sect {
    char name[40];
    uint64_t offset, length, hash;
} t_sect;

static void test_batch_corrupt_atlas_eformat(void **state)
{
    (void)state;
    FILE *f = fopen(syn_path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len > 64);
    unsigned char *b = held_malloc((size_t)len);
    rewind(f);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    uint32_t nsect;
    memcpy(&nsect, b + 24, 4);
    const char *const damage[] = {"layer/e05", "layer/sys"};
    for (int d = 0; d < 2; d++) {
        const t_sect *s = NULL;
        for (uint32_t i = 0; i < nsect; i++) {
            const t_sect *x = (const t_sect *)(b + 64 + 64 * (size_t)i);
            if (!strncmp(x->name, damage[d], 40)) s = x;
        }
        assert_non_null(s);
        size_t at = (size_t)(s->offset + s->length / 2);
        b[at] ^= 0x40;
        char path[600];
        snprintf(path, sizeof path, "%s/corrupt.atlas", root);
        FILE *g = fopen(path, "wb");
        assert_non_null(g);
        assert_int_equal(fwrite(b, 1, (size_t)len, g), (size_t)len);
        assert_int_equal(fclose(g), 0);
        b[at] ^= 0x40;
        fp_ctx *ctx = ctx_held();
        fp_atlas *a = NULL;
        assert_int_equal(fp_atlas_open(ctx, path, &a), FP_OK);
        hold(H_ATLAS, a);
        fp_plan *p = plan_ok(ctx, a);
        add_edition_ok(ctx, p, "e04");
        for (int again = 0; again < 2; again++) {
            int rc1 = fp_plan_add_edition(ctx, p, d ? "sys" : "e05");
            assert_int_equal(rc1, FP_EFORMAT);
            assert_has(fp_ctx_errmsg(ctx), path);
            assert_has(fp_ctx_errmsg(ctx), damage[d]);
            int rc2 = fp_plan_add_tier(ctx, p, FP_TIER_SYSTEM, "2023-01-01");
            int rc3 = fp_plan_add_tier(ctx, p, FP_TIER_REGION, "2023-01-01");
            if (d) { /* the region needs the system's parents */
                assert_int_equal(rc2, FP_EFORMAT);
                assert_int_equal(rc3, FP_EFORMAT);
                assert_has(fp_ctx_errmsg(ctx), "layer/sys");
                assert_int_equal(fp_plan_columns(p), 1);
            } else {
                assert_int_equal(rc2, FP_OK);
                assert_int_equal(rc3, FP_OK);
                assert_int_equal(fp_plan_columns(p), 3 + 2 * (size_t)again);
            }
        }
        add_tier_ok(ctx, p, FP_TIER_ICS, "2023-01-01"); /* no edition: fine */
        size_t nc = fp_plan_columns(p);
        double lat = 50.5, lon = 0.5;
        fp_hit h[8];
        fp_plan_locate_n(p, &lat, &lon, 1, 0, h);
        assert_string_equal(fp_plan_answer(p, 0, h[0].entry)->code, "S1");
        assert_int_equal(h[nc - 1].entry, -1);
        plan_free(p);
        atlas_free(a);
        done(ctx);
    }
    held_free(b);
}

/* Out of memory at every allocation of making a plan: FP_ENOMEM, nothing
 * leaked, and a plan whose add failed still answers with the columns it
 * had. */
static int make_plan(fp_ctx *ctx, const fp_atlas *a, fp_plan **out)
{
    int rc = fp_plan_new(ctx, a, out);
    if (rc) return rc;
    for (int tier = 0; tier < FP_TIER_COUNT && !rc; tier++)
        rc = fp_plan_add_tier(ctx, *out, tier, tier % 2 ? "2019-06-01" : "2024-01-01");
    if (!rc) rc = fp_plan_add_edition(ctx, *out, "icb2022lsoa");
    if (!rc) rc = fp_plan_add_edition(ctx, *out, "icp");
    if (!rc) rc = fp_plan_add_tier(ctx, *out, FP_TIER_REGION, "2022-08-01");
    if (rc) {
        fp_plan_free(*out);
        *out = NULL;
    }
    return rc;
}

static void test_batch_allocation_failures(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    fp_ctx *ctx = ctx_held();
    long before = test_alloc_outstanding();
    fp_plan *ref = NULL;
    assert_int_equal(make_plan(ctx, a, &ref), FP_OK);
    hold(H_PLAN, ref);
    size_t nc = fp_plan_columns(ref);
    assert_int_equal(nc, 9);
    fp_hit *want = locate(ref, plat, plon, 600, 2000);
    int rc = FP_ENOMEM;
    long n;
    fp_plan *p = NULL;
    long base = test_alloc_outstanding();
    for (n = 0; n < 10000; n++) {
        test_alloc_fail_after(n);
        rc = make_plan(ctx, a, &p);
        test_alloc_fail_after(-1);
        if (rc == FP_OK) break;
        if (rc != FP_ENOMEM)
            fail_msg("allocation %ld failed: status %d (%s)", n, rc, fp_ctx_errmsg(ctx));
        assert_null(p);
        assert_has(fp_ctx_errmsg(ctx), "out of memory");
        assert_int_equal(test_alloc_outstanding(), base);
    }
    assert_int_equal(rc, FP_OK);
    hold(H_PLAN, p);
    assert_true(n >= 15); /* plan, columns, tables of every column */
    fp_hit *got = locate(p, plat, plon, 600, 2000);
    for (size_t i = 0; i < 600 * nc; i++) {
        assert_int_equal(got[i].entry, want[i].entry);
        assert_int_equal(got[i].kind, want[i].kind);
    }
    held_free(got);
    plan_free(p);
    /* A failed add leaves the plan as it was: its columns answer as
     * before (the reference's columns 0 and 1 are the same tiers). */
    fp_plan *two = plan_ok(ctx, a);
    add_tier_ok(ctx, two, FP_TIER_REGION, "2024-01-01");
    add_tier_ok(ctx, two, FP_TIER_SYSTEM, "2019-06-01");
    fp_hit *want2 = locate(two, plat, plon, 600, 2000);
    plan_free(two);
    for (n = 0; n < 1000; n++) {
        p = plan_ok(ctx, a);
        add_tier_ok(ctx, p, FP_TIER_REGION, "2024-01-01");
        add_tier_ok(ctx, p, FP_TIER_SYSTEM, "2019-06-01");
        test_alloc_fail_after(n);
        rc = fp_plan_add_tier(ctx, p, FP_TIER_REGION, "2019-06-01");
        int rc2 = rc ? FP_ENOMEM : fp_plan_add_edition(ctx, p, "icb2022lsoa");
        test_alloc_fail_after(-1);
        if (rc == FP_OK && rc2 == FP_OK) {
            plan_free(p);
            break;
        }
        assert_int_equal(rc ? rc : rc2, FP_ENOMEM);
        size_t cols = fp_plan_columns(p);
        assert_int_equal(cols, rc ? 2 : 3);
        fp_hit *h = locate(p, plat, plon, 600, 2000);
        for (size_t i = 0; i < 600; i++)
            for (size_t c = 0; c < 2; c++) {
                fp_hit x = h[i * cols + c], y = want2[i * 2 + c];
                if (x.entry != y.entry || x.kind != y.kind ||
                    !same_double(x.distance_m, y.distance_m))
                    fail_msg("allocation %ld: point %zu column %zu differs", n, i, c);
            }
        held_free(h);
        plan_free(p);
        assert_int_equal(test_alloc_outstanding(), base);
    }
    held_free(want2);
    assert_true(n > 2);
    held_free(want);
    plan_free(ref);
    assert_int_equal(test_alloc_outstanding(), before);
    /* fp_plan_new itself. */
    test_alloc_fail_after(0);
    p = (fp_plan *)1;
    rc = fp_plan_new(ctx, a, &p);
    test_alloc_fail_after(-1);
    assert_int_equal(rc, FP_ENOMEM);
    assert_null(p);
    done(ctx);
}

/* The plan borrows the atlas, not the context: it outlives the context
 * that made it. */
static void test_batch_outlives_context(void **state)
{
    (void)state;
    const fp_atlas *a = real();
    fp_ctx *ctx = ctx_held();
    fp_plan *p = plan_ok(ctx, a);
    add_tier_ok(ctx, p, FP_TIER_SYSTEM, "2024-01-01");
    unhold(ctx);
    fp_ctx_free(ctx);
    double lat = 53.381, lon = -1.470;
    fp_hit h;
    fp_plan_locate_n(p, &lat, &lon, 1, 0, &h);
    assert_string_equal(fp_plan_answer(p, 0, h.entry)->code, "E54000061");
    plan_free(p);
    assert_int_equal(test_alloc_outstanding(), 0);
}

/* ---- setup ---- */

static const char SYS_GEOJSON[] =
    "{\"type\":\"FeatureCollection\",\"features\":[\n"
    "{\"type\":\"Feature\",\"properties\":{\"SYSCD\":\"S1\",\"SYSNM\":\"One\"},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[0,50],[1,50],[1,51],[0,51],[0,50]]]}},\n"
    "{\"type\":\"Feature\",\"properties\":{\"SYSCD\":\"S2\",\"SYSNM\":\"Two\"},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[1,50],[2,50],[2,51],[1,51],[1,50]]]}},\n"
    "{\"type\":\"Feature\",\"properties\":{\"SYSCD\":\"S3\",\"SYSNM\":\"Three\"},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[2,50],[3,50],[3,51],[2,51],[2,50]]]}},\n"
    "{\"type\":\"Feature\",\"properties\":{\"SYSCD\":\"S4\",\"SYSNM\":\"Four\"},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[3,50],[4,50],[4,51],[3,51],[3,50]]]}}\n"
    "]}\n";

/* S1 and S2 share region R1, spelt two ways; S3 changes region at 2023;
 * S4 has none. */
static const char PARENTS[] =
    "child_code,child_edition,parent_code,parent_name,parent_level,valid_from,valid_to,"
    "source\n"
    "S1,sys,R1,Region One,nhser,2020-01-01,,a test\n"
    "S2,sys,R1,Region One (as the second fact spells it),nhser,2020-01-01,,a test\n"
    "S3,sys,R2,Region Two,nhser,2020-01-01,2022-12-31,a test\n"
    "S3,sys,R3,Region Three,nhser,2023-01-01,,a test\n";

static int write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int bad = fwrite(text, 1, len, f) != len;
    return fclose(f) || bad ? -1 : 0;
}

static int setup_synthetic(void)
{
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/syn", root);
    snprintf(path, sizeof path, "%s/boundaries", dir);
    if (mkdir(dir, 0755) || mkdir(path, 0755)) return -1;
    snprintf(path, sizeof path, "%s/boundaries/sys.geojson", dir);
    if (write_text(path, SYS_GEOJSON, strlen(SYS_GEOJSON))) return -1;
    size_t cap = 16384, n = 0;
    char *ed = malloc(cap), *bundle = malloc(2 * cap);
    if (!ed || !bundle) return -1;
    n += (size_t)snprintf(ed + n, cap - n,
                          "id,level,name,valid_from,valid_to,path,layer,code_field,"
                          "name_field,vintage,attribution,members,via\n"
                          "sys,icb,Systems,2020-01-01,,boundaries/sys.geojson,,SYSCD,SYSNM,"
                          "2020,Source: a test,,\n");
    for (int e = 0; e < 30; e++)
        n += (size_t)snprintf(ed + n, cap - n,
                              "e%02d,x%02d,Extra %d,2020-01-01,,boundaries/sys.geojson,,SYSCD,"
                              "SYSNM,2020,Source: a test,,\n", e, e, e);
    n += (size_t)snprintf(ed + n, cap - n,
                          "absent,x99,Not compiled,2020-01-01,,boundaries/sys.geojson,,SYSCD,"
                          "SYSNM,2020,Source: a test,,\n");
    size_t bl = (size_t)snprintf(bundle, 2 * cap, "@@file editions.csv %zu\n%s\n"
                                 "@@file parents.csv %zu\n%s\n", n, ed, strlen(PARENTS),
                                 PARENTS);
    fp_catalogue *cat = NULL;
    int rc = fp_catalogue_parse(gctx, bundle, bl, "syn", &cat);
    free(ed);
    free(bundle);
    if (rc) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    const char *only[40];
    size_t k = 0;
    for (size_t i = 0; i < fp_catalogue_count(cat); i++)
        if (strcmp(fp_catalogue_get(cat, i)->id, "absent")) only[k++] = fp_catalogue_get(cat, i)->id;
    only[k] = NULL;
    snprintf(syn_path, sizeof syn_path, "%s/syn.atlas", root);
    rc = fp_atlas_build(gctx, cat, dir, only, NULL, syn_path);
    fp_catalogue_free(cat);
    if (rc || fp_atlas_open(gctx, syn_path, &gsyn)) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    return 0;
}

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/fp_test_batch_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(root)) return -1;
    if (fp_ctx_new(&gctx)) return -1;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(today, sizeof today, "%Y-%m-%d", &tm);
    england_points(plat, plon, NPTS, 20240101);
    if (setup_synthetic()) return -1;
    const char *data = test_data_dir();
    if (!data) return 0; /* the real-data tests skip themselves */
    const char *src = getenv("FOOTPRINT_TEST_CATALOGUE");
    fp_catalogue *cat = NULL;
    if (fp_catalogue_load(gctx, src && *src ? src : "geodata/editions.csv", &cat)) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    snprintf(real_path, sizeof real_path, "%s/real.atlas", root);
    int rc = fp_atlas_build(gctx, cat, data, NULL, NULL, real_path);
    fp_catalogue_free(cat);
    if (rc || fp_atlas_open(gctx, real_path, &greal)) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fp_atlas_free(greal);
    fp_atlas_free(gsyn);
    fp_ctx_free(gctx);
    test_rm_tree(root);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_batch_tiers_equal_chain, release_held),
        cmocka_unit_test_teardown(test_batch_tiers_equal_chain_nearest, release_held),
        cmocka_unit_test_teardown(test_batch_pinned_editions_equal_layer, release_held),
        cmocka_unit_test_teardown(test_batch_pinned_ods_codes, release_held),
        cmocka_unit_test_teardown(test_batch_answer_fields, release_held),
        cmocka_unit_test_teardown(test_batch_membership_dates, release_held),
        cmocka_unit_test_teardown(test_batch_shared_lookups, release_held),
        cmocka_unit_test_teardown(test_batch_bad_points_find_none, release_held),
        cmocka_unit_test_teardown(test_batch_zero_points, release_held),
        cmocka_unit_test_teardown(test_batch_chunk_sizes, release_held),
        cmocka_unit_test_teardown(test_batch_threads_agree, release_held),
        cmocka_unit_test_teardown(test_batch_bad_tier_and_date_einval, release_held),
        cmocka_unit_test_teardown(test_batch_unknown_edition_enotfound, release_held),
        cmocka_unit_test_teardown(test_batch_column_limit, release_held),
        cmocka_unit_test_teardown(test_batch_many_distinct_editions, release_held),
        cmocka_unit_test_teardown(test_batch_region_parents_as_chain, release_held),
        cmocka_unit_test_teardown(test_batch_corrupt_atlas_eformat, release_held),
        cmocka_unit_test_teardown(test_batch_allocation_failures, release_held),
        cmocka_unit_test_teardown(test_batch_outlives_context, release_held),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
