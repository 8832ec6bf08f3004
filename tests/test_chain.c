/* Unit tests for lib/src/chain.c: fp_atlas_chain and fp_atlas_timeline
 * answer, for a point and a date, the footprint of every tier (region,
 * system, first-wave ICS, place, sub-ICB location or CCG, district) from
 * the editions valid on that date, the membership dates, the status facts
 * and the parent regions.
 *
 * The group setup compiles one atlas of every edition of the repository's
 * catalogue except lsoa2011 (slow, and no tier uses it) from the ONS mirror,
 * with the C library's allocator so that the tests' leak counts stay their
 * own; every test queries it. */
#include "support.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- shared state (made by the group setup) ---- */

static char root[256];
static char atlas_path[512];
static fp_ctx *gctx;         /* C-library allocator: not leak-counted */
static fp_catalogue *gcat;
static fp_atlas *gatlas;     /* every edition but lsoa2011 */

/* ---- helpers ---- */

static const fp_atlas *atlas(void)
{
    test_require_data();
    assert_non_null(gatlas);
    return gatlas;
}

/* The chain at (lat, lon) on date; fails the test on error. */
static void chain(fp_ctx *ctx, double lat, double lon, const char *date,
                  double nearest_m, fp_link links[FP_TIER_COUNT])
{
    int rc = fp_atlas_chain(ctx, atlas(), lat, lon, date, nearest_m, links);
    if (rc) fail_msg("chain %.4f,%.4f %s: %s (%d)", lat, lon, date, fp_ctx_errmsg(ctx), rc);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    for (int t = 0; t < FP_TIER_COUNT; t++) assert_int_equal(links[t].tier, t);
}

static const char *code(const fp_link *links, int tier)
{
    return links[tier].code ? links[tier].code : "none";
}

static const char *edition(const fp_link *links, int tier)
{
    return links[tier].edition ? links[tier].edition->id : "none";
}

/* Does the comma-separated list s hold the item exactly? */
static int has_status(const char *s, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = s; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == n && strncmp(p, item, n) == 0) return 1;
        if (!c) break;
        p = c + 1;
    }
    return 0;
}

/* Same footprints and statuses on every tier. */
static int same_links(const fp_link *a, const fp_link *b)
{
    for (int t = 0; t < FP_TIER_COUNT; t++) {
        if (strcmp(code(a, t), code(b, t))) return 0;
        if (strcmp(a[t].status, b[t].status)) return 0;
        if (strcmp(edition(a, t), edition(b, t)) &&
            !(a[t].edition && b[t].edition &&
              !strcmp(a[t].edition->level, b[t].edition->level)))
            return 0;
    }
    return 1;
}

static void describe(const char *what, const fp_link *l)
{
    fprintf(stderr, "# %s:", what);
    for (int t = 0; t < FP_TIER_COUNT; t++)
        fprintf(stderr, " %s=%s(%s)[%s]", fp_tier_name(t), code(l, t), edition(l, t),
                l[t].status);
    fprintf(stderr, "\n");
}

/* Days since 1970-01-01 and back (proleptic Gregorian). */
static long day_number(const char *s)
{
    int y, m, d;
    assert_int_equal(sscanf(s, "%d-%d-%d", &y, &m, &d), 3);
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static void date_of(long z, char out[11])
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    long m = mp + (mp < 10 ? 3 : -9);
    char buf[64];
    snprintf(buf, sizeof buf, "%04ld-%02ld-%02ld", y + (m <= 2), m, d);
    assert_int_equal(strlen(buf), 10);
    memcpy(out, buf, 11);
}

/* ---- one point, one date ---- */

static void test_chain_sheffield_2019_stp_era(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_link l[FP_TIER_COUNT];
    chain(ctx, 53.381, -1.470, "2019-06-01", 0, l);
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000009");
    assert_string_equal(edition(l, FP_TIER_SYSTEM), "stp2017");
    assert_int_equal(l[FP_TIER_SYSTEM].kind, FP_MATCH_CONTAINED);
    assert_true(l[FP_TIER_SYSTEM].distance_m == 0);
    assert_non_null(l[FP_TIER_SYSTEM].name);
    assert_non_null(strstr(l[FP_TIER_SYSTEM].name, "South Yorkshire"));
    assert_true(has_status(l[FP_TIER_SYSTEM].status, "stp"));
    assert_true(has_status(l[FP_TIER_SYSTEM].status, "ics"));
    assert_false(has_status(l[FP_TIER_SYSTEM].status, "icb"));
    /* First-wave ICS: the whole STP. */
    assert_string_equal(code(l, FP_TIER_ICS), "E54000009");
    assert_string_equal(edition(l, FP_TIER_ICS), "ics2018");
    assert_true(has_status(l[FP_TIER_ICS].status, "ics"));
    /* Place. */
    assert_string_equal(code(l, FP_TIER_PLACE), "E54000009-SHEFFIELD");
    assert_string_equal(edition(l, FP_TIER_PLACE), "icp");
    assert_string_equal(l[FP_TIER_PLACE].name, "Sheffield");
    /* No region polygons before 2024: the system's parent fact. */
    assert_non_null(l[FP_TIER_REGION].code);
    assert_memory_equal(l[FP_TIER_REGION].code, "E40", 3);
    assert_string_equal(code(l, FP_TIER_REGION), "E40000009");
    assert_null(l[FP_TIER_REGION].edition);
    assert_non_null(l[FP_TIER_REGION].name);
    assert_int_equal(l[FP_TIER_REGION].kind, FP_MATCH_CONTAINED);
    /* No CCG or district edition was valid in June 2019. */
    assert_null(l[FP_TIER_SUB].code);
    assert_null(l[FP_TIER_SUB].edition);
    assert_null(l[FP_TIER_LA].code);
    assert_int_equal(l[FP_TIER_LA].kind, FP_MATCH_NONE);
    assert_true(isnan(l[FP_TIER_LA].distance_m));
    assert_string_equal(l[FP_TIER_LA].ods_code, "");
    test_ctx_done(ctx);
}

static void test_chain_sheffield_2024_icb_era(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_link l[FP_TIER_COUNT];
    chain(ctx, 53.381, -1.470, "2024-06-01", 0, l);
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000061");
    assert_string_equal(edition(l, FP_TIER_SYSTEM), "icb2023");
    assert_true(has_status(l[FP_TIER_SYSTEM].status, "icb"));
    assert_false(has_status(l[FP_TIER_SYSTEM].status, "stp"));
    assert_string_equal(l[FP_TIER_SYSTEM].ods_code, "QF7");
    assert_string_equal(code(l, FP_TIER_REGION), "E40000012");
    /* The ICB's parent, not the region boundaries: no edition. */
    assert_string_equal(edition(l, FP_TIER_REGION), "none");
    assert_string_equal(code(l, FP_TIER_LA), "E08000019");
    assert_string_equal(edition(l, FP_TIER_LA), "lad2024");
    assert_string_equal(code(l, FP_TIER_SUB), "E38000146");
    assert_string_equal(edition(l, FP_TIER_SUB), "sicbl2023");
    /* The ICS tier and SYB's places ended on 2022-06-30. */
    assert_null(l[FP_TIER_ICS].code);
    assert_null(l[FP_TIER_PLACE].code);
    assert_null(l[FP_TIER_PLACE].edition);
    assert_int_equal(l[FP_TIER_PLACE].kind, FP_MATCH_NONE);
    assert_string_equal(l[FP_TIER_PLACE].status, "");
    test_ctx_done(ctx);
}

static void test_chain_sheffield_2026_new_edition(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_link l[FP_TIER_COUNT];
    chain(ctx, 53.381, -1.470, "2026-11-24", 0, l);
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000061");
    assert_string_equal(edition(l, FP_TIER_SYSTEM), "icb2026");
    assert_null(l[FP_TIER_PLACE].code);
    assert_null(l[FP_TIER_ICS].code);
    assert_string_equal(code(l, FP_TIER_REGION), "E40000012");
    /* The edition boundaries: icb2023 to 2026-03-31, icb2026 from 04-01. */
    chain(ctx, 53.381, -1.470, "2026-03-31", 0, l);
    assert_string_equal(edition(l, FP_TIER_SYSTEM), "icb2023");
    assert_string_equal(edition(l, FP_TIER_SUB), "sicbl2023");
    chain(ctx, 53.381, -1.470, "2026-04-01", 0, l);
    assert_string_equal(edition(l, FP_TIER_SYSTEM), "icb2026");
    assert_null(l[FP_TIER_SUB].code); /* no Sub-ICB edition after March 2026 */
    /* STP to ICB on 1 July 2022. */
    chain(ctx, 53.381, -1.470, "2022-06-30", 0, l);
    /* 2021-22: through LSOAs and ONS's lookups, as ONS assigns postcodes. */
    assert_string_equal(edition(l, FP_TIER_SYSTEM), "stp2021lsoa");
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000009");
    assert_string_equal(code(l, FP_TIER_PLACE), "E54000009-SHEFFIELD");
    assert_string_equal(edition(l, FP_TIER_SUB), "ccg2021lsoa");
    assert_string_equal(code(l, FP_TIER_SUB), "E38000146");
    chain(ctx, 53.381, -1.470, "2022-07-01", 0, l);
    assert_string_equal(edition(l, FP_TIER_SYSTEM), "icb2022lsoa");
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000061");
    assert_null(l[FP_TIER_PLACE].code);
    assert_string_equal(edition(l, FP_TIER_SUB), "sicbl2022lsoa");
    test_ctx_done(ctx);
}

static void test_chain_syb_five_places(void **state)
{
    (void)state;
    test_require_data();
    static const struct {
        double lat, lon;
        const char *place, *sub;
    } pts[] = {
        {53.55, -1.48, "E54000009-BARNSLEY", "E38000006"},
        {53.52, -1.13, "E54000009-DONCASTER", "E38000044"},
        {53.43, -1.36, "E54000009-ROTHERHAM", "E38000141"},
        {53.381, -1.470, "E54000009-SHEFFIELD", "E38000146"},
        {53.30, -1.12, "E54000009-BASSETLAW", "E38000008"}, /* Worksop */
    };
    fp_ctx *ctx = test_ctx();
    for (size_t i = 0; i < sizeof pts / sizeof *pts; i++) {
        fp_link l[FP_TIER_COUNT];
        chain(ctx, pts[i].lat, pts[i].lon, "2019-06-01", 0, l);
        assert_string_equal(code(l, FP_TIER_PLACE), pts[i].place);
        assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000009");
        assert_string_equal(code(l, FP_TIER_ICS), "E54000009");
        chain(ctx, pts[i].lat, pts[i].lon, "2021-06-01", 0, l);
        assert_string_equal(code(l, FP_TIER_PLACE), pts[i].place);
        assert_string_equal(code(l, FP_TIER_SUB), pts[i].sub); /* the member CCG */
        chain(ctx, pts[i].lat, pts[i].lon, "2022-07-01", 0, l);
        assert_null(l[FP_TIER_PLACE].code);
        assert_null(l[FP_TIER_ICS].code);
        /* Bassetlaw went to Nottingham and Nottinghamshire. */
        assert_string_equal(code(l, FP_TIER_SYSTEM),
                            i == 4 ? "E54000060" : "E54000061");
    }
    test_ctx_done(ctx);
}

static void test_chain_nenc_places(void **state)
{
    (void)state;
    test_require_data();
    static const struct {
        double lat, lon;
        const char *place, *name;
    } pts[] = {
        {54.978, -1.614, "E54000050-NORTH", "North"},               /* Newcastle */
        {54.776, -1.575, "E54000050-CENTRAL", "Central"},           /* Durham */
        {54.576, -1.235, "E54000050-SOUTH-TEES-VALLEY", "South (Tees Valley)"},
        {54.89, -2.93, "E54000050-NORTH-CUMBRIA", "North Cumbria"}, /* Carlisle */
    };
    fp_ctx *ctx = test_ctx();
    const char *dates[] = {"2023-06-01", "2026-11-24"};
    for (size_t d = 0; d < 2; d++)
        for (size_t i = 0; i < sizeof pts / sizeof *pts; i++) {
            fp_link l[FP_TIER_COUNT];
            chain(ctx, pts[i].lat, pts[i].lon, dates[d], 0, l);
            assert_string_equal(code(l, FP_TIER_PLACE), pts[i].place);
            assert_string_equal(l[FP_TIER_PLACE].name, pts[i].name);
            assert_string_equal(edition(l, FP_TIER_PLACE), "icp");
            assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000050");
        }
    test_ctx_done(ctx);
}

static void test_chain_2026_mergers(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_link l[FP_TIER_COUNT];
    /* Chelmsford: Mid and South Essex, then NHS Essex. */
    chain(ctx, 51.736, 0.469, "2026-06-01", 0, l);
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000066");
    assert_string_equal(edition(l, FP_TIER_SYSTEM), "icb2026");
    assert_non_null(strstr(l[FP_TIER_SYSTEM].name, "Essex"));
    assert_true(has_status(l[FP_TIER_SYSTEM].status, "icb"));
    assert_string_equal(l[FP_TIER_SYSTEM].ods_code, "D7T5G");
    assert_string_equal(code(l, FP_TIER_REGION), "E40000013");
    chain(ctx, 51.736, 0.469, "2024-06-01", 0, l);
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000026");
    assert_non_null(strstr(l[FP_TIER_SYSTEM].name, "Mid and South Essex"));
    assert_true(has_status(l[FP_TIER_SYSTEM].status, "icb"));
    /* Farnborough: Frimley, then Hampshire and Isle of Wight. */
    chain(ctx, 51.29, -0.75, "2026-06-01", 0, l);
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000067");
    assert_string_equal(code(l, FP_TIER_REGION), "E40000005");
    chain(ctx, 51.29, -0.75, "2024-06-01", 0, l);
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000034");
    assert_string_equal(code(l, FP_TIER_LA), "E07000092"); /* Rushmoor */
    /* The replaced codes' icb status ended with them. */
    chain(ctx, 51.29, -0.75, "2026-03-31", 0, l);
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000034");
    assert_true(has_status(l[FP_TIER_SYSTEM].status, "icb"));
    test_ctx_done(ctx);
}

static void test_chain_ics_tier_smaller_than_system(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_link l[FP_TIER_COUNT];
    chain(ctx, 53.817, -3.05, "2019-06-01", 0, l); /* Blackpool */
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000048");
    assert_string_equal(edition(l, FP_TIER_SYSTEM), "stp2017");
    assert_true(has_status(l[FP_TIER_SYSTEM].status, "stp"));
    assert_false(has_status(l[FP_TIER_SYSTEM].status, "ics"));
    assert_string_equal(code(l, FP_TIER_ICS), "E54000048-BLACKPOOL-AND-FYLDE-COAST");
    assert_true(has_status(l[FP_TIER_ICS].status, "ics"));
    assert_true(has_status(l[FP_TIER_ICS].status, "acs-candidate"));
    chain(ctx, 53.76, -2.70, "2019-06-01", 0, l); /* Preston */
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000048");
    assert_null(l[FP_TIER_ICS].code);
    assert_null(l[FP_TIER_ICS].edition);
    /* Before the first wave (June 2017) Blackpool had no ICS yet. */
    chain(ctx, 53.817, -3.05, "2017-05-31", 0, l);
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000048");
    assert_null(l[FP_TIER_ICS].code);
    chain(ctx, 53.817, -3.05, "2017-06-01", 0, l);
    assert_string_equal(code(l, FP_TIER_ICS), "E54000048-BLACKPOOL-AND-FYLDE-COAST");
    chain(ctx, 53.817, -3.05, "2022-06-30", 0, l);
    assert_string_equal(code(l, FP_TIER_ICS), "E54000048-BLACKPOOL-AND-FYLDE-COAST");
    /* Gloucestershire joined in the second wave (May 2018): the row's own
     * dates, not the edition's, decide. */
    chain(ctx, 51.864, -2.244, "2018-04-30", 0, l);
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000043");
    assert_null(l[FP_TIER_ICS].code);
    assert_false(has_status(l[FP_TIER_SYSTEM].status, "ics"));
    chain(ctx, 51.864, -2.244, "2018-05-01", 0, l);
    assert_string_equal(code(l, FP_TIER_ICS), "E54000043");
    assert_string_equal(edition(l, FP_TIER_ICS), "ics2018");
    assert_true(has_status(l[FP_TIER_SYSTEM].status, "ics"));
    test_ctx_done(ctx);
}

/* ---- timelines ---- */

static void test_chain_timeline_worksop(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    const double lat = 53.30, lon = -1.12;
    const char *since = "2017-02-01", *until = "2026-11-24";
    /* The day arithmetic used below, on known values. */
    assert_int_equal(day_number("1970-01-01"), 0);
    assert_int_equal(day_number("2000-03-01"), 11017);
    assert_int_equal(day_number("2024-03-01") - day_number("2024-02-28"), 2);
    char day[11];
    date_of(day_number("2022-06-30") + 1, day);
    assert_string_equal(day, "2022-07-01");
    date_of(day_number("2023-12-31") + 1, day);
    assert_string_equal(day, "2024-01-01");
    fp_period p[64];
    size_t n = 0;
    int rc = fp_atlas_timeline(ctx, atlas(), lat, lon, since, until, 0, p, 64, &n);
    if (rc) fail_msg("timeline: %s", fp_ctx_errmsg(ctx));
    assert_true(n >= 3);
    assert_string_equal(p[0].from, since);
    assert_string_equal(p[n - 1].to, "");
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n) {
            char next[11];
            date_of(day_number(p[i].to) + 1, next);
            assert_string_equal(next, p[i + 1].from);   /* contiguous */
            assert_true(strcmp(p[i].from, p[i].to) <= 0);
            assert_false(same_links(p[i].links, p[i + 1].links)); /* distinct */
        }
        if (!strcmp(p[i].to, "2022-06-30")) {
            found = 1;
            assert_string_equal(code(p[i].links, FP_TIER_SYSTEM), "E54000009");
            assert_string_equal(code(p[i].links, FP_TIER_PLACE), "E54000009-BASSETLAW");
            assert_true(i + 1 < n);
            assert_string_equal(p[i + 1].from, "2022-07-01");
            assert_string_equal(code(p[i + 1].links, FP_TIER_SYSTEM), "E54000060");
            assert_null(p[i + 1].links[FP_TIER_PLACE].code);
        }
    }
    assert_true(found);
    /* Every day's chain is its period's chain: no change is missed. */
    long d0 = day_number(since), d1 = day_number(until);
    size_t k = 0;
    for (long d = d0; d <= d1; d++) {
        char date[11];
        date_of(d, date);
        while (k + 1 < n && strcmp(date, p[k + 1].from) >= 0) k++;
        fp_link l[FP_TIER_COUNT];
        chain(ctx, lat, lon, date, 0, l);
        if (!same_links(l, p[k].links)) {
            describe(date, l);
            describe(p[k].from, p[k].links);
            fail_msg("%s: chain differs from the period from %s", date, p[k].from);
        }
    }
    test_ctx_done(ctx);
}

static void test_chain_timeline_edges(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    const fp_atlas *a = atlas();
    fp_period p[64];
    size_t n = 99;
    /* One day: one period, open-ended. */
    assert_int_equal(fp_atlas_timeline(ctx, a, 53.30, -1.12, "2020-01-01", "2020-01-01",
                                       0, p, 64, &n), FP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(p[0].from, "2020-01-01");
    assert_string_equal(p[0].to, "");
    assert_string_equal(code(p[0].links, FP_TIER_PLACE), "E54000009-BASSETLAW");
    /* Starting on a change day. */
    assert_int_equal(fp_atlas_timeline(ctx, a, 53.30, -1.12, "2022-07-01", "2022-07-01",
                                       0, p, 64, &n), FP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(code(p[0].links, FP_TIER_SYSTEM), "E54000060");
    /* Swapped, malformed, impossible. */
    n = 99;
    assert_int_equal(fp_atlas_timeline(ctx, a, 53.30, -1.12, "2022-07-02", "2022-07-01",
                                       0, p, 64, &n), FP_EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(fp_ctx_errcode(ctx), FP_EINVAL);
    assert_string_not_equal(fp_ctx_errmsg(ctx), "");
    assert_int_equal(fp_atlas_timeline(ctx, a, 53.30, -1.12, "2022-02-30", "2023-01-01",
                                       0, p, 64, &n), FP_EINVAL);
    assert_int_equal(fp_atlas_timeline(ctx, a, 53.30, -1.12, "2022-01-01", "x", 0, p,
                                       64, &n), FP_EINVAL);
    /* Too small an output: an error, and nothing beyond max written. */
    memset(p, 0x5a, sizeof p);
    {
        int rc = fp_atlas_timeline(ctx, a, 53.30, -1.12, "2017-02-01", "2026-11-24", 0,
                                   p, 2, &n);
        assert_int_equal(rc, FP_EINVAL);
        assert_non_null(strstr(fp_ctx_errmsg(ctx), "2"));
        unsigned char *rest = (unsigned char *)&p[2];
        for (size_t i = 0; i < sizeof p - 2 * sizeof *p; i++)
            assert_int_equal(rest[i], 0x5a);
    }
    /* A success clears the error. */
    assert_int_equal(fp_atlas_timeline(ctx, a, 53.30, -1.12, "2017-02-01", "2026-11-24",
                                       0, p, 64, &n), FP_OK);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    test_ctx_done(ctx);
}

/* ---- errors, the sea, nearest ---- */

static void test_chain_bad_dates_einval(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    const char *bad[] = {"2026-02-30", "x", "", "2026-13-01", "2026-1-01",
                         "2026-01-01 ", "2025-02-29", "20260101"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fp_link l[FP_TIER_COUNT];
        int rc = fp_atlas_chain(ctx, atlas(), 53.381, -1.470, bad[i], 0, l);
        if (rc != FP_EINVAL) fail_msg("'%s': got %d, want FP_EINVAL", bad[i], rc);
        assert_int_equal(fp_ctx_errcode(ctx), FP_EINVAL);
        assert_non_null(strstr(fp_ctx_errmsg(ctx), "date"));
    }
    /* A leap day is a date; a good call clears the error. */
    fp_link l[FP_TIER_COUNT];
    chain(ctx, 53.381, -1.470, "2024-02-29", 0, l);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000061");
    test_ctx_done(ctx);
}

static void test_chain_sea_and_nearest(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_link l[FP_TIER_COUNT];
    const char *dates[] = {"2019-06-01", "2024-06-01", "2026-11-24"};
    for (size_t d = 0; d < 3; d++) {
        chain(ctx, 54.0, 1.5, dates[d], 0, l); /* the North Sea */
        for (int t = 0; t < FP_TIER_COUNT; t++) {
            assert_null(l[t].code);
            assert_null(l[t].name);
            assert_int_equal(l[t].kind, FP_MATCH_NONE);
            assert_true(isnan(l[t].distance_m));
        }
        chain(ctx, 54.0, 1.5, dates[d], 5000, l); /* 100 km out: still none */
        for (int t = 0; t < FP_TIER_COUNT; t++) assert_null(l[t].code);
    }
    /* Not a place at all: no error, nothing found. */
    double bad[][2] = {{NAN, -1.47}, {53.38, NAN}, {INFINITY, 0}, {91, 0}, {0, 181}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        chain(ctx, bad[i][0], bad[i][1], "2024-06-01", 5000, l);
        for (int t = 0; t < FP_TIER_COUNT; t++) assert_null(l[t].code);
    }
    /* Off the mouth of the Tees. */
    chain(ctx, 54.6, -1.0, "2024-06-01", 0, l);
    assert_null(l[FP_TIER_SYSTEM].code);
    assert_null(l[FP_TIER_REGION].code);
    chain(ctx, 54.6, -1.0, "2024-06-01", 5000, l);
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000050");
    assert_int_equal(l[FP_TIER_SYSTEM].kind, FP_MATCH_NEAREST);
    assert_true(l[FP_TIER_SYSTEM].distance_m > 0 && l[FP_TIER_SYSTEM].distance_m <= 5000);
    assert_string_equal(code(l, FP_TIER_REGION), "E40000012");
    assert_int_equal(l[FP_TIER_REGION].kind, FP_MATCH_NEAREST);
    /* In 2019 the region comes from the nearest system's parent (off
     * Blackpool: about 2.7 km out). */
    chain(ctx, 53.817, -3.10, "2019-06-01", 0, l);
    assert_null(l[FP_TIER_SYSTEM].code);
    assert_null(l[FP_TIER_REGION].code);
    chain(ctx, 53.817, -3.10, "2019-06-01", 5000, l);
    assert_string_equal(code(l, FP_TIER_SYSTEM), "E54000048");
    assert_int_equal(l[FP_TIER_SYSTEM].kind, FP_MATCH_NEAREST);
    assert_true(l[FP_TIER_SYSTEM].distance_m > 1000 && l[FP_TIER_SYSTEM].distance_m < 5000);
    assert_string_equal(code(l, FP_TIER_REGION), "E40000010");
    assert_null(l[FP_TIER_REGION].edition);
    assert_int_equal(l[FP_TIER_REGION].kind, FP_MATCH_NEAREST);
    assert_true(l[FP_TIER_REGION].distance_m == l[FP_TIER_SYSTEM].distance_m);
    test_ctx_done(ctx);
}

/* ---- threads ---- */

enum { NTHREADS = 4, PER_THREAD = 5000 };
static const char *const thread_dates[] = {"2017-03-01", "2019-06-01", "2021-06-01",
                                           "2022-07-01", "2023-06-01", "2024-06-01",
                                           "2026-11-24"};
#define NDATES (sizeof thread_dates / sizeof *thread_dates)

typedef struct job {
    const fp_atlas *a;
    const double *lat, *lon;
    size_t off, n; /* the points' global indices: off .. off + n - 1 */
    const char *(*codes)[FP_TIER_COUNT]; /* out */
    char (*status)[FP_TIER_COUNT][48];
    int failures;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    fp_ctx *ctx = NULL;
    if (fp_ctx_new_with_allocator(&test_alloc, &ctx)) {
        j->failures++;
        return NULL;
    }
    for (size_t i = 0; i < j->n; i++) {
        fp_link l[FP_TIER_COUNT];
        size_t g = j->off + i; /* same date and reach as the reference */
        if (fp_atlas_chain(ctx, j->a, j->lat[i], j->lon[i], thread_dates[g % NDATES],
                           g % 3 ? 0 : 2000, l)) {
            j->failures++;
            continue;
        }
        for (int t = 0; t < FP_TIER_COUNT; t++) {
            j->codes[i][t] = l[t].code;
            memcpy(j->status[i][t], l[t].status, 48);
        }
    }
    fp_ctx_free(ctx);
    return NULL;
}

static void test_chain_threads_agree(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    const size_t total = (size_t)NTHREADS * PER_THREAD;
    double *lat = malloc(total * sizeof *lat), *lon = malloc(total * sizeof *lon);
    const char *(*ref)[FP_TIER_COUNT] = calloc(total, sizeof *ref);
    const char *(*got)[FP_TIER_COUNT] = calloc(total, sizeof *got);
    char (*ref_st)[FP_TIER_COUNT][48] = calloc(total, sizeof *ref_st);
    char (*got_st)[FP_TIER_COUNT][48] = calloc(total, sizeof *got_st);
    assert_true(lat && lon && ref && got && ref_st && got_st);
    srand(20240601);
    for (size_t i = 0; i < total; i++) { /* England and its seas */
        lat[i] = 49.9 + 6.0 * rand() / (double)RAND_MAX;
        lon[i] = -6.0 + 8.0 * rand() / (double)RAND_MAX;
    }
    /* Single-threaded reference on the shared atlas. */
    size_t found = 0;
    for (size_t i = 0; i < total; i++) {
        fp_link l[FP_TIER_COUNT];
        chain(ctx, lat[i], lon[i], thread_dates[i % NDATES], i % 3 ? 0 : 2000, l);
        for (int t = 0; t < FP_TIER_COUNT; t++) {
            ref[i][t] = l[t].code;
            memcpy(ref_st[i][t], l[t].status, 48);
        }
        found += l[FP_TIER_SYSTEM].code != NULL;
    }
    assert_true(found > total / 4); /* the points do land in England */
    /* Four threads on a freshly opened copy (sections verified
     * concurrently on first use) and then on the shared atlas. */
    for (int round = 0; round < 2; round++) {
        fp_atlas *fresh = NULL;
        if (round == 0) assert_int_equal(fp_atlas_open(ctx, atlas_path, &fresh), FP_OK);
        const fp_atlas *a = round == 0 ? fresh : atlas();
        job jobs[NTHREADS];
        pthread_t th[NTHREADS];
        memset(got, 0, total * sizeof *got);
        for (int k = 0; k < NTHREADS; k++) {
            size_t off = (size_t)k * PER_THREAD;
            jobs[k] = (job){a, lat + off, lon + off, off, PER_THREAD, got + off, got_st + off,
                            0};
            assert_int_equal(pthread_create(&th[k], NULL, worker, &jobs[k]), 0);
        }
        for (int k = 0; k < NTHREADS; k++) pthread_join(th[k], NULL);
        for (int k = 0; k < NTHREADS; k++) assert_int_equal(jobs[k].failures, 0);
        for (size_t i = 0; i < total; i++)
            for (int t = 0; t < FP_TIER_COUNT; t++) {
                const char *x = ref[i][t], *y = got[i][t];
                if (!x != !y || (x && strcmp(x, y)) || strcmp(ref_st[i][t], got_st[i][t]))
                    fail_msg("round %d point %zu (%f, %f) %s tier %s: %s [%s] vs %s [%s]", round, i,
                             lat[i], lon[i], thread_dates[i % NDATES], fp_tier_name(t),
                             x ? x : "none", ref_st[i][t], y ? y : "none",
                             got_st[i][t]);
            }
        fp_atlas_free(fresh);
    }
    free(lat), free(lon), free(ref), free(got), free(ref_st), free(got_st);
    test_ctx_done(ctx);
}

/* ---- status lists, on a catalogue made for them ---- */

/* An atlas of a catalogue made for a test: editions.csv and up to two
 * more files (name, text; NULL name = none), built in the group's
 * directory as `name`. */
static fp_atlas *made_atlas(fp_ctx *ctx, const char *name, const char *editions,
                            const char *f1, const char *t1, const char *f2, const char *t2)
{
    const char *data = test_require_data();
    char bundle[8192];
    int len = snprintf(bundle, sizeof bundle, "@@file editions.csv %zu\n%s\n",
                       strlen(editions), editions);
    const char *fn[2] = {f1, f2}, *ft[2] = {t1, t2};
    for (int k = 0; k < 2 && fn[k]; k++)
        len += snprintf(bundle + len, sizeof bundle - (size_t)len, "@@file %s %zu\n%s\n",
                        fn[k], strlen(ft[k]), ft[k]);
    assert_true(len > 0 && (size_t)len < sizeof bundle);
    fp_catalogue *cat = NULL;
    int rc = fp_catalogue_parse(ctx, bundle, (size_t)len, "test", &cat);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    char path[600];
    snprintf(path, sizeof path, "%s/%s", root, name);
    if (fp_atlas_build(ctx, cat, data, NULL, NULL, path)) fail_msg("%s", fp_ctx_errmsg(ctx));
    fp_catalogue_free(cat);
    fp_atlas *a = NULL;
    if (fp_atlas_open(ctx, path, &a)) fail_msg("%s", fp_ctx_errmsg(ctx));
    return a;
}

static const char ED_HEAD[] =
    "id,level,name,valid_from,valid_to,path,layer,code_field,name_field,vintage,"
    "attribution,members\n";

/* An atlas of stp2017 alone whose status.csv is `status`. */
static fp_atlas *status_atlas(fp_ctx *ctx, const char *name, const char *status)
{
    char ed[1024];
    snprintf(ed, sizeof ed, "%s%s", ED_HEAD,
             "stp2017,stp,STPs,2017-02-01,2021-03-31,boundaries/stp_2017_buc.geojson,,"
             "STP17CD,STP17NM,2017,OGL v3,\n");
    return made_atlas(ctx, name, ed, "status.csv", status, NULL, NULL);
}

/* A membership row's own dates and a status's dates each start and end a
 * period, to the day, even where no edition changes. */
static void test_chain_timeline_membership_dates(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    char ed[2048];
    snprintf(ed, sizeof ed, "%s%s%s", ED_HEAD,
             "ccg2021,ccg,CCGs,2017-01-01,,boundaries/ccg_2021_buc.geojson,,CCG21CD,"
             "CCG21NM,2021,OGL v3,\n",
             "icp,icp,Places,2017-01-01,,,,,,2021,OGL v3,members/icp.csv\n");
    fp_atlas *a = made_atlas(ctx, "dates.atlas", ed, "members/icp.csv",
                             "code,name,ods_code,member_edition,member_code,clip_edition,"
                             "clip_code,valid_from,valid_to,source\n"
                             "SHEF,Sheffield,,ccg2021,E38000146,,,2018-03-10,2020-05-15,s\n",
                             "status.csv",
                             "code,edition,status,valid_from,valid_to,source\n"
                             "SHEF,icp,ics,2019-01-01,2019-02-28,s\n");
    fp_period p[16];
    size_t n = 0;
    int rc = fp_atlas_timeline(ctx, a, 53.381, -1.470, "2017-01-01", "2021-01-01", 0, p,
                               16, &n);
    static const struct {
        const char *from, *to, *place, *status;
    } want[] = {
        {"2017-01-01", "2018-03-09", "none", ""},
        {"2018-03-10", "2018-12-31", "SHEF", ""},
        {"2019-01-01", "2019-02-28", "SHEF", "ics"},
        {"2019-03-01", "2020-05-15", "SHEF", ""},
        {"2020-05-16", "", "none", ""},
    };
    char got[5][4][40];
    memset(got, 0, sizeof got);
    for (size_t i = 0; i < n && i < 5; i++) {
        snprintf(got[i][0], 40, "%.10s", p[i].from);
        snprintf(got[i][1], 40, "%.10s", p[i].to);
        snprintf(got[i][2], 40, "%.39s", code(p[i].links, FP_TIER_PLACE));
        snprintf(got[i][3], 40, "%.39s", p[i].links[FP_TIER_PLACE].status);
        if (strcmp(code(p[i].links, FP_TIER_SUB), "E38000146")) rc = -1;
    }
    fp_atlas_free(a);
    test_ctx_done(ctx);
    assert_int_equal(rc, FP_OK);
    int ok = n == 5;
    for (size_t i = 0; i < 5 && ok; i++)
        ok = !strcmp(got[i][0], want[i].from) && !strcmp(got[i][1], want[i].to) &&
             !strcmp(got[i][2], want[i].place) && !strcmp(got[i][3], want[i].status);
    if (!ok) {
        for (size_t i = 0; i < n && i < 5; i++)
            fprintf(stderr, "# got %s..%s place %s [%s]\n", got[i][0], got[i][1],
                    got[i][2], got[i][3]);
        fail_msg("%zu periods, want the five of the membership and status dates", n);
    }
}

/* Checks the items of a comma-separated list against want[0..nwant-1]:
 * every item is one of them and appears once, and (all != 0) every one is
 * there.  Returns "" or what is wrong, in a static buffer. */
static const char *bad_items(const char *list, const char *const *want, size_t nwant,
                             int all)
{
    static char why[160];
    size_t seen[8] = {0};
    char buf[64];
    snprintf(buf, sizeof buf, "%s", list);
    why[0] = '\0';
    for (char *save = NULL, *it = strtok_r(buf, ",", &save); it && !why[0];
         it = strtok_r(NULL, ",", &save)) {
        size_t k = 0;
        while (k < nwant && strcmp(it, want[k])) k++;
        if (k == nwant)
            snprintf(why, sizeof why, "status list '%s': '%s' is not a status held",
                     list, it);
        else if (seen[k]++)
            snprintf(why, sizeof why, "status list '%s': '%s' twice", list, it);
    }
    for (size_t k = 0; k < nwant && all && !why[0]; k++)
        if (!seen[k]) snprintf(why, sizeof why, "status list '%s' lacks '%s'", list, want[k]);
    return why;
}

/* A status that is part of another's name is still listed: the list is
 * deduplicated by whole items, not by substrings. */
static void test_chain_status_substring_kept(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_atlas *a = status_atlas(ctx, "substring.atlas",
                               "code,edition,status,valid_from,valid_to,source\n"
                               "E54000009,stp2017,ics-candidate,2017-03-31,,t\n"
                               "E54000009,stp2017,stp,2016-04-01,,t\n"
                               "E54000009,stp2021,ics,2017-06-01,,t\n");
    fp_link l[FP_TIER_COUNT], m[FP_TIER_COUNT];
    int rc1 = fp_atlas_chain(ctx, a, 53.381, -1.470, "2017-05-01", 0, l);
    int rc2 = fp_atlas_chain(ctx, a, 53.381, -1.470, "2019-06-01", 0, m);
    char before[160], after[160];
    const char *w1[] = {"ics-candidate", "stp"}, *w2[] = {"ics-candidate", "stp", "ics"};
    snprintf(before, sizeof before, "%s", rc1 ? "" : bad_items(l[FP_TIER_SYSTEM].status, w1, 2, 1));
    snprintf(after, sizeof after, "%s", rc2 ? "" : bad_items(m[FP_TIER_SYSTEM].status, w2, 3, 1));
    char sys[16];
    snprintf(sys, sizeof sys, "%s", rc1 ? "" : code(l, FP_TIER_SYSTEM));
    fp_atlas_free(a); /* before any failure: the leak count stays clean */
    test_ctx_done(ctx);
    assert_int_equal(rc1, FP_OK);
    assert_int_equal(rc2, FP_OK);
    assert_string_equal(sys, "E54000009");
    if (before[0]) fail_msg("2017-05-01: %s", before);
    if (after[0]) fail_msg("2019-06-01: %s", after);
}

/* More statuses than fit in fp_link.status: whole items only, never a
 * cut-off name. */
static void test_chain_status_overflow_whole_items(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_atlas *a = status_atlas(ctx, "overflow.atlas",
                               "code,edition,status,valid_from,valid_to,source\n"
                               "E54000009,stp2017,status-number-one-long,,,t\n"
                               "E54000009,stp2017,status-number-two-long,,,t\n"
                               "E54000009,stp2017,status-number-three-long,,,t\n");
    fp_link l[FP_TIER_COUNT];
    int rc = fp_atlas_chain(ctx, a, 53.381, -1.470, "2019-06-01", 0, l);
    fp_atlas_free(a);
    test_ctx_done(ctx);
    assert_int_equal(rc, FP_OK);
    const char *s = l[FP_TIER_SYSTEM].status;
    assert_true(strlen(s) < sizeof l[FP_TIER_SYSTEM].status);
    assert_non_null(strstr(s, "status-number-one-long"));
    const char *all[] = {"status-number-one-long", "status-number-two-long",
                         "status-number-three-long"};
    const char *why = bad_items(s, all, 3, 0);
    if (why[0]) fail_msg("%s", why);
}

static void test_chain_tier_names(void **state)
{
    (void)state;
    const char *want[] = {"region", "system", "ics", "place", "sub", "la"};
    for (int t = 0; t < FP_TIER_COUNT; t++) assert_string_equal(fp_tier_name(t), want[t]);
    assert_string_equal(fp_tier_name(-1), "");
    assert_string_equal(fp_tier_name(FP_TIER_COUNT), "");
}

/* ---- setup ---- */


static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/fp_test_chain_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(root)) return -1;
    const char *data = test_data_dir();
    if (!data) return 0; /* the tests skip themselves */
    if (fp_ctx_new(&gctx)) return -1;
    const char *src = getenv("FOOTPRINT_TEST_CATALOGUE");
    if (fp_catalogue_load(gctx, src && *src ? src : "geodata/editions.csv", &gcat)) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    const char *only[64];
    size_t n = 0;
    for (size_t i = 0; i < fp_catalogue_count(gcat) && n < 63; i++) {
        const char *id = fp_catalogue_get(gcat, i)->id;
        if (strcmp(id, "lsoa2011")) only[n++] = id;
    }
    only[n] = NULL;
    snprintf(atlas_path, sizeof atlas_path, "%s/chain.atlas", root);
    if (fp_atlas_build(gctx, gcat, data, only, NULL, atlas_path) ||
        fp_atlas_open(gctx, atlas_path, &gatlas)) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fp_atlas_free(gatlas);
    fp_catalogue_free(gcat);
    fp_ctx_free(gctx);
    test_rm_tree(root);
    return 0;
}

/* Regions are made of whole ICBs: on a grid over England the region is
 * always the parent of the ICB the chain gives, even where the separately
 * generalised region boundaries disagree; and with no ICB, no parent. */
static void test_chain_region_is_system_parent(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    const fp_catalogue *cat = fp_atlas_catalogue(atlas());
    static const char *const dates[] = {"2024-06-01", "2026-11-24"};
    size_t answered = 0, disagree_polygons = 0;
    const fp_layer *R;
    assert_int_equal(fp_atlas_layer(ctx, atlas(), "nhser2024", &R), FP_OK);
    for (size_t d = 0; d < 2; d++)
        for (double lat = 49.9; lat < 55.9; lat += 0.031)
            for (double lon = -5.8; lon < 1.8; lon += 0.047) {
                fp_link l[FP_TIER_COUNT];
                chain(ctx, lat, lon, dates[d], 0, l);
                if (!l[FP_TIER_SYSTEM].code) continue;
                const fp_parent *p =
                    fp_catalogue_parent_on(cat, l[FP_TIER_SYSTEM].code, dates[d]);
                assert_non_null(p);
                assert_non_null(l[FP_TIER_REGION].code);
                assert_string_equal(l[FP_TIER_REGION].code, p->parent_code);
                assert_int_equal(l[FP_TIER_REGION].kind, l[FP_TIER_SYSTEM].kind);
                int32_t r = fp_layer_find(R, lat, lon);
                if (r < 0 || strcmp(fp_layer_code(R, (size_t)r), p->parent_code))
                    disagree_polygons++;
                answered++;
            }
    /* The grid reaches every region; a few points sit where the 2024 region
     * boundaries and the ICB boundaries are generalised apart. */
    assert_true(answered > 10000);
    fprintf(stderr, "# %zu chains, %zu where the region boundaries say otherwise\n",
            answered, disagree_polygons);
    test_ctx_done(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_tier_names),
        cmocka_unit_test(test_chain_sheffield_2019_stp_era),
        cmocka_unit_test(test_chain_sheffield_2024_icb_era),
        cmocka_unit_test(test_chain_sheffield_2026_new_edition),
        cmocka_unit_test(test_chain_syb_five_places),
        cmocka_unit_test(test_chain_nenc_places),
        cmocka_unit_test(test_chain_2026_mergers),
        cmocka_unit_test(test_chain_ics_tier_smaller_than_system),
        cmocka_unit_test(test_chain_timeline_worksop),
        cmocka_unit_test(test_chain_timeline_edges),
        cmocka_unit_test(test_chain_bad_dates_einval),
        cmocka_unit_test(test_chain_sea_and_nearest),
        cmocka_unit_test(test_chain_threads_agree),
        cmocka_unit_test(test_chain_timeline_membership_dates),
        cmocka_unit_test(test_chain_status_substring_kept),
        cmocka_unit_test(test_chain_status_overflow_whole_items),
        cmocka_unit_test(test_chain_region_is_system_parent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
