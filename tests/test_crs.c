/* Unit tests for lib/src/crs.c: British National Grid <-> WGS84 through
 * PROJ (fp_bng_to_latlon, fp_latlon_to_bng) and fp_layer_locate_bng. */
#include "support.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEG 0.017453292519943295
#define R_EARTH 6371008.8

/* cmocka 1.1's assert_float_equal works in float (7 digits): too coarse
 * for coordinates, so compare doubles here. */
#define assert_near(a, b, eps)                                             \
    do {                                                                   \
        double a_ = (a), b_ = (b);                                         \
        if (!(fabs(a_ - b_) <= (eps)))                                     \
            fail_msg("%s = %.9g, want %.9g +- %g", #a, a_, b_,             \
                     (double)(eps));                                       \
    } while (0)

/* Metres between two nearby WGS84 points (local equirectangular). */
static double metres(double lat1, double lon1, double lat2, double lon2)
{
    double dy = (lat2 - lat1) * DEG * R_EARTH;
    double dx = (lon2 - lon1) * DEG * R_EARTH * cos((lat1 + lat2) / 2 * DEG);
    return hypot(dx, dy);
}

/* Places in England, WGS84 (lat, lon), from the far south-west to the far
 * north and east. */
static const double places[][2] = {
    {53.3811, -1.4701}, /* Sheffield */
    {51.5074, -0.1278}, /* London */
    {54.9783, -1.6178}, /* Newcastle */
    {50.3755, -4.1427}, /* Plymouth */
    {52.6309, 1.2974},  /* Norwich */
    {54.8925, -2.9329}, /* Carlisle */
    {50.0657, -5.7132}, /* Land's End */
    {51.1279, 1.3134},  /* Dover */
    {55.7704, -2.0055}, /* Berwick-upon-Tweed */
    {52.4811, 1.7534},  /* Lowestoft */
    {53.4084, -2.9916}, /* Liverpool */
};
#define NPLACES (sizeof places / sizeof places[0])

/* ---- fp_bng_to_latlon ---- */

static void test_crs_bng_to_latlon_sheffield(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    double lat = NAN, lon = NAN;
    assert_int_equal(fp_bng_to_latlon(ctx, 435000, 387000, &lat, &lon), FP_OK);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    /* SK 35000 87000, central Sheffield: lat/lon not swapped, and within
     * about 10 m of the published position. */
    assert_near(lat, 53.3787, 1e-4);
    assert_near(lon, -1.4753, 1e-4);
    test_ctx_done(ctx);
}

static void test_crs_bng_grid_corners_accepted(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    double lat, lon;
    /* The grid's own limits are on the grid (inclusive ranges). */
    assert_int_equal(fp_bng_to_latlon(ctx, 0, 0, &lat, &lon), FP_OK);
    assert_near(lat, 49.767, 0.01); /* SW of the Scillies */
    assert_near(lon, -7.557, 0.01);
    assert_int_equal(fp_bng_to_latlon(ctx, 700000, 1300000, &lat, &lon), FP_OK);
    assert_near(lat, 61.465, 0.01); /* NE of Shetland */
    assert_near(lon, 3.635, 0.01);
    test_ctx_done(ctx);
}

/* Calls fp_bng_to_latlon on off-grid input: FP_EINVAL, outputs untouched,
 * a one-line message containing `what`. */
static void expect_bng_einval(double e, double n, const char *what)
{
    fp_ctx *ctx = test_ctx();
    double lat = 12345, lon = 12345;
    int rc = fp_bng_to_latlon(ctx, e, n, &lat, &lon);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
    int code = fp_ctx_errcode(ctx);
    test_ctx_done(ctx);
    if (rc != FP_EINVAL) fail_msg("(%g, %g): status %d, not EINVAL", e, n, rc);
    assert_int_equal(code, FP_EINVAL);
    assert_near(lat, 12345, 0);
    assert_near(lon, 12345, 0);
    if (!strstr(msg, what)) fail_msg("(%g, %g): '%s' lacks '%s'", e, n, msg, what);
    assert_null(strchr(msg, '\n'));
}

static void test_crs_bng_rejects_off_grid(void **state)
{
    (void)state;
    expect_bng_einval(-1, 387000,
                      "easting -1, northing 387000 outside the British "
                      "National Grid");
    expect_bng_einval(700001, 387000,
                      "easting 700001, northing 387000 outside the British "
                      "National Grid");
    expect_bng_einval(435000, 1300001,
                      "easting 435000, northing 1.3e+06 outside the British "
                      "National Grid");
    expect_bng_einval(435000, -0.5, "outside the British National Grid");
    /* The message gives the valid ranges. */
    expect_bng_einval(-1, 0, "easting 0..700000, northing 0..1300000 m");
}

static void test_crs_bng_rejects_non_finite(void **state)
{
    (void)state;
    expect_bng_einval(NAN, 387000, "easting/northing must be finite");
    expect_bng_einval(435000, NAN, "easting/northing must be finite");
    expect_bng_einval(INFINITY, 387000, "finite");
    expect_bng_einval(435000, -INFINITY, "finite");
}

static void test_crs_errmsg_cleared_after_success(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    double lat, lon, e, n;
    assert_int_equal(fp_bng_to_latlon(ctx, -1, 0, &lat, &lon), FP_EINVAL);
    assert_int_equal(fp_bng_to_latlon(ctx, 435000, 387000, &lat, &lon), FP_OK);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    assert_int_equal(fp_latlon_to_bng(ctx, NAN, 0, &e, &n), FP_EINVAL);
    assert_int_equal(fp_latlon_to_bng(ctx, 53.38, -1.47, &e, &n), FP_OK);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    test_ctx_done(ctx);
}

/* ---- fp_latlon_to_bng ---- */

static void test_crs_latlon_to_bng_sheffield(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    double e = NAN, n = NAN;
    assert_int_equal(fp_latlon_to_bng(ctx, 53.3787, -1.4753, &e, &n), FP_OK);
    /* The inverse of the reference point above (1e-4 degrees ~ 11 m). */
    assert_near(e, 435000, 12);
    assert_near(n, 387000, 12);
    test_ctx_done(ctx);
}

static void test_crs_round_trip_latlon(void **state)
{
    (void)state;
    /* latlon -> BNG -> latlon comes back to the same place.  Not bit-exact:
     * PROJ's 2-D Helmert pipeline drops the ellipsoidal height change, so
     * the two directions differ by 0.8-1.05 mm across England (measured
     * with PROJ 9.1 and no OSTN15 grid); 2 mm leaves headroom while still
     * catching a wrong operation, datum or axis order (metres or worse). */
    fp_ctx *ctx = test_ctx();
    for (size_t i = 0; i < NPLACES; i++) {
        double lat = places[i][0], lon = places[i][1], e, n, lat2, lon2;
        assert_int_equal(fp_latlon_to_bng(ctx, lat, lon, &e, &n), FP_OK);
        assert_true(e > 0 && e < 700000 && n > 0 && n < 1300000);
        assert_int_equal(fp_bng_to_latlon(ctx, e, n, &lat2, &lon2), FP_OK);
        double d = metres(lat, lon, lat2, lon2);
        if (d > 0.002)
            fail_msg("(%g, %g): round trip off by %.4f m", lat, lon, d);
    }
    test_ctx_done(ctx);
}

static void test_crs_round_trip_sheffield_1mm(void **state)
{
    (void)state;
    /* The brief's 1 mm bound, where it holds with margin (0.91 mm). */
    fp_ctx *ctx = test_ctx();
    double e, n, lat, lon;
    assert_int_equal(fp_latlon_to_bng(ctx, 53.3811, -1.4701, &e, &n), FP_OK);
    assert_int_equal(fp_bng_to_latlon(ctx, e, n, &lat, &lon), FP_OK);
    assert_true(metres(53.3811, -1.4701, lat, lon) < 0.001);
    test_ctx_done(ctx);
}

static void test_crs_round_trip_bng(void **state)
{
    (void)state;
    /* BNG -> latlon -> BNG over a lattice covering England's land. */
    fp_ctx *ctx = test_ctx();
    for (double e = 140000; e <= 640000; e += 50000) {
        for (double n = 20000; n <= 640000; n += 40000) {
            double lat, lon, e2, n2;
            assert_int_equal(fp_bng_to_latlon(ctx, e, n, &lat, &lon), FP_OK);
            assert_int_equal(fp_latlon_to_bng(ctx, lat, lon, &e2, &n2), FP_OK);
            double d = hypot(e2 - e, n2 - n);
            if (d > 0.002)
                fail_msg("(%g, %g): round trip off by %.4f m", e, n, d);
        }
    }
    test_ctx_done(ctx);
}

static void test_crs_latlon_to_bng_rejects_bad_input(void **state)
{
    (void)state;
    static const double bad[][2] = {
        {NAN, -1.47}, {53.38, NAN}, {INFINITY, 0}, {0, -INFINITY},
        {91, -1.47},  {-91, 0},     {53.38, 181}, {53.38, -180.5},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fp_ctx *ctx = test_ctx();
        double e = 7, n = 7;
        int rc = fp_latlon_to_bng(ctx, bad[i][0], bad[i][1], &e, &n);
        char msg[512];
        snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
        test_ctx_done(ctx);
        assert_int_equal(rc, FP_EINVAL);
        assert_near(e, 7, 0);
        assert_near(n, 7, 0);
        if (!strstr(msg, "out of range"))
            fail_msg("(%g, %g): '%s'", bad[i][0], bad[i][1], msg);
    }
}

static void test_crs_latlon_to_bng_rejects_off_grid(void **state)
{
    (void)state;
    /* footprint.h: "Easting and northing must be finite and on the grid
     * (0..700000, 0..1300000 m).  Returns FP_OK, FP_EINVAL (off the grid)
     * or FP_ECRS".  Places far from Britain have no BNG position; they
     * must not come back as FP_OK with a northing of -21,000 km. */
    static const double far[][2] = {
        {-33.87, 151.21}, /* Sydney: e 2.9e6, n -2.1e7 */
        {40.4, -3.7},     /* Madrid: n -1.05e6 */
        {0, 0},           /* n -5.5e6 */
        {50, -10},        /* west of Cornwall: e -1.7e5 */
    };
    for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
        fp_ctx *ctx = test_ctx();
        double e = 7, n = 7;
        int rc = fp_latlon_to_bng(ctx, far[i][0], far[i][1], &e, &n);
        char msg[512];
        snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
        test_ctx_done(ctx);
        if (rc != FP_EINVAL)
            fail_msg("(%g, %g): status %d with easting %.0f, northing %.0f; "
                     "want FP_EINVAL (off the grid)",
                     far[i][0], far[i][1], rc, e, n);
        if (!strstr(msg, "British National Grid"))
            fail_msg("(%g, %g): '%s' does not mention the grid", far[i][0],
                     far[i][1], msg);
    }
}

/* ---- fp_layer_locate_bng ---- */

/* Four quadrants of a box around Sheffield, split at lon -1.47 and
 * lat 53.38; Sheffield (435000, 387000) = (53.3787, -1.4753) lies 350 m
 * west and 145 m south of the split, so it is in SW.  Codes sort as
 * NE(0) NW(1) SE(2) SW(3). */
static fp_layer *sheffield_layer(fp_ctx *ctx)
{
    static const struct {
        const char *code;
        double w, s, e, n;
    } q[] = {
        {"SW", -1.6, 53.3, -1.47, 53.38},
        {"SE", -1.47, 53.3, -1.3, 53.38},
        {"NW", -1.6, 53.38, -1.47, 53.5},
        {"NE", -1.47, 53.38, -1.3, 53.5},
    };
    fp_builder *b;
    assert_int_equal(fp_builder_new(ctx, &b), FP_OK);
    for (size_t i = 0; i < 4; i++) {
        double ring[] = {q[i].w, q[i].s, q[i].e, q[i].s, q[i].e, q[i].n,
                         q[i].w, q[i].n};
        assert_int_equal(fp_builder_add_footprint(b, q[i].code, q[i].code),
                         FP_OK);
        assert_int_equal(fp_builder_add_ring(b, ring, 4), FP_OK);
    }
    fp_layer *L;
    assert_int_equal(fp_builder_build(b, NULL, &L), FP_OK);
    fp_builder_free(b);
    assert_int_equal(fp_layer_count(L), 4);
    assert_string_equal(fp_layer_code(L, 3), "SW");
    return L;
}

static void test_crs_locate_bng_finds_footprint(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_layer *L = sheffield_layer(ctx);
    fp_match m = {99, 99, 99};
    assert_int_equal(fp_layer_locate_bng(ctx, L, 435000, 387000, 0, &m), FP_OK);
    assert_int_equal(m.index, 3);
    assert_string_equal(fp_layer_code(L, (size_t)m.index), "SW");
    assert_int_equal(m.kind, FP_MATCH_CONTAINED);
    assert_near(m.distance_m, 0, 0);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    /* 1 km east and 1 km north: NE. */
    assert_int_equal(fp_layer_locate_bng(ctx, L, 436000, 388000, 0, &m), FP_OK);
    assert_string_equal(fp_layer_code(L, (size_t)m.index), "NE");
    /* The same answer as transforming and locating by hand. */
    double lat, lon;
    assert_int_equal(fp_bng_to_latlon(ctx, 436000, 388000, &lat, &lon), FP_OK);
    assert_int_equal(fp_layer_find(L, lat, lon), m.index);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static void test_crs_locate_bng_outside_and_nearest(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_layer *L = sheffield_layer(ctx);
    fp_match m;
    /* London: inside nothing. */
    assert_int_equal(fp_layer_locate_bng(ctx, L, 530000, 180000, 0, &m), FP_OK);
    assert_int_equal(m.index, -1);
    assert_int_equal(m.kind, FP_MATCH_NONE);
    assert_true(isnan(m.distance_m));
    /* A point 1 km east of the box's east edge (lon -1.3), by way of BNG:
     * found as nearest within 5 km, at the right distance; not within
     * 500 m. */
    double lat = 53.45, lon = -1.3 + 1000 / (R_EARTH * DEG * cos(53.45 * DEG));
    double e, n;
    assert_int_equal(fp_latlon_to_bng(ctx, lat, lon, &e, &n), FP_OK);
    assert_int_equal(fp_layer_locate_bng(ctx, L, e, n, 5000, &m), FP_OK);
    assert_int_equal(m.kind, FP_MATCH_NEAREST);
    assert_string_equal(fp_layer_code(L, (size_t)m.index), "NE");
    assert_near(m.distance_m, 1000, 2);
    assert_int_equal(fp_layer_locate_bng(ctx, L, e, n, 500, &m), FP_OK);
    assert_int_equal(m.kind, FP_MATCH_NONE);
    assert_int_equal(m.index, -1);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static void test_crs_locate_bng_rejects_off_grid(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_layer *L = sheffield_layer(ctx);
    fp_match m;
    assert_int_equal(fp_layer_locate_bng(ctx, L, -1, 387000, 0, &m), FP_EINVAL);
    assert_int_equal(fp_ctx_errcode(ctx), FP_EINVAL);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "British National Grid"));
    assert_int_equal(fp_layer_locate_bng(ctx, L, 435000, NAN, 0, &m), FP_EINVAL);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "finite"));
    /* And the context recovers: the next good call succeeds, clean. */
    assert_int_equal(fp_layer_locate_bng(ctx, L, 435000, 387000, 0, &m), FP_OK);
    assert_int_equal(m.index, 3);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* ---- threads: one PROJ context per fp_ctx ---- */

#define TPTS 400
#define TPASSES 5

typedef struct job {
    const fp_layer *layer;
    pthread_barrier_t *start;
    double lat[TPTS], lon[TPTS], e[TPTS], n[TPTS];
    long idx[TPTS];
    int failures;
} job;

static double grid_e(int i) { return 140000 + (i % 20) * 25000.0 + 0.25; }
static double grid_n(int i) { return 20000 + (i / 20) * 31000.0 + 0.75; }

/* Converts every point, several passes, with its own context; records
 * the last pass and counts any pass that disagrees with an earlier one. */
static void *worker(void *arg)
{
    job *j = arg;
    fp_ctx *ctx = NULL;
    if (fp_ctx_new_with_allocator(&test_alloc, &ctx)) {
        j->failures++;
        return NULL;
    }
    pthread_barrier_wait(j->start);
    for (int pass = 0; pass < TPASSES; pass++) {
        for (int i = 0; i < TPTS; i++) {
            double lat, lon, e, n;
            fp_match m;
            if (fp_bng_to_latlon(ctx, grid_e(i), grid_n(i), &lat, &lon) ||
                fp_latlon_to_bng(ctx, lat, lon, &e, &n) ||
                fp_layer_locate_bng(ctx, j->layer, grid_e(i), grid_n(i), 0,
                                    &m)) {
                j->failures++;
                continue;
            }
            if (pass && (lat != j->lat[i] || lon != j->lon[i] ||
                         e != j->e[i] || n != j->n[i] || m.index != j->idx[i]))
                j->failures++;
            j->lat[i] = lat;
            j->lon[i] = lon;
            j->e[i] = e;
            j->n[i] = n;
            j->idx[i] = m.index;
        }
    }
    fp_ctx_free(ctx);
    return NULL;
}

static void test_crs_two_threads_two_contexts(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_layer *L = sheffield_layer(ctx);
    /* Reference answers from this thread first. */
    job *ref = calloc(1, sizeof *ref);
    job *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    assert_non_null(ref);
    assert_non_null(a);
    assert_non_null(b);
    for (int i = 0; i < TPTS; i++) {
        fp_match m;
        assert_int_equal(fp_bng_to_latlon(ctx, grid_e(i), grid_n(i), &ref->lat[i],
                                          &ref->lon[i]),
                         FP_OK);
        assert_int_equal(fp_latlon_to_bng(ctx, ref->lat[i], ref->lon[i],
                                          &ref->e[i], &ref->n[i]),
                         FP_OK);
        assert_int_equal(fp_layer_locate_bng(ctx, L, grid_e(i), grid_n(i), 0, &m),
                         FP_OK);
        ref->idx[i] = m.index;
    }
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    a->layer = b->layer = L;
    a->start = b->start = &start;
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, worker, a), 0);
    assert_int_equal(pthread_create(&tb, NULL, worker, b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&start);
    assert_int_equal(a->failures, 0);
    assert_int_equal(b->failures, 0);
    /* Bit-identical to each other and to the single-threaded answers. */
    int found = 0;
    for (int i = 0; i < TPTS; i++) {
        const job *t[2] = {a, b};
        for (int k = 0; k < 2; k++) {
            assert_memory_equal(&t[k]->lat[i], &ref->lat[i], sizeof(double));
            assert_memory_equal(&t[k]->lon[i], &ref->lon[i], sizeof(double));
            assert_memory_equal(&t[k]->e[i], &ref->e[i], sizeof(double));
            assert_memory_equal(&t[k]->n[i], &ref->n[i], sizeof(double));
            assert_int_equal(t[k]->idx[i], ref->idx[i]);
        }
        found += ref->idx[i] >= 0;
    }
    /* The lattice is not all "none": some points hit the Sheffield box. */
    assert_true(found > 0);
    free(ref);
    free(a);
    free(b);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* ---- PROJ failure ---- */

static void test_crs_missing_proj_database_is_ecrs(void **state)
{
    (void)state;
    /* Without proj.db PROJ cannot build the transform: FP_ECRS with a
     * message that says so.  In a child process, so that the environment
     * and any PROJ caching cannot affect the other tests. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        setenv("PROJ_DATA", "/nonexistent/fp-test", 1);
        setenv("PROJ_LIB", "/nonexistent/fp-test", 1);
        fp_ctx *ctx = NULL;
        double lat = 1, lon = 1;
        if (fp_ctx_new(&ctx)) _exit(100);
        int rc = fp_bng_to_latlon(ctx, 435000, 387000, &lat, &lon);
        char out[600];
        int len = snprintf(out, sizeof out, "%d|%s", rc, fp_ctx_errmsg(ctx));
        fp_ctx_free(ctx);
        if (write(fds[1], out, (size_t)len) != len) _exit(101);
        _exit(0);
    }
    close(fds[1]);
    char buf[600] = "";
    ssize_t got = 0, r;
    while ((r = read(fds[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
        got += r;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    buf[got] = '\0';
    char want[32];
    snprintf(want, sizeof want, "%d|", FP_ECRS);
    if (strncmp(buf, want, strlen(want)) != 0)
        fail_msg("want FP_ECRS, got '%s'", buf);
    if (!strstr(buf, "PROJ cannot transform EPSG:27700 to EPSG:4326"))
        fail_msg("message: '%s'", buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crs_bng_to_latlon_sheffield),
        cmocka_unit_test(test_crs_bng_grid_corners_accepted),
        cmocka_unit_test(test_crs_bng_rejects_off_grid),
        cmocka_unit_test(test_crs_bng_rejects_non_finite),
        cmocka_unit_test(test_crs_errmsg_cleared_after_success),
        cmocka_unit_test(test_crs_latlon_to_bng_sheffield),
        cmocka_unit_test(test_crs_round_trip_latlon),
        cmocka_unit_test(test_crs_round_trip_sheffield_1mm),
        cmocka_unit_test(test_crs_round_trip_bng),
        cmocka_unit_test(test_crs_latlon_to_bng_rejects_bad_input),
        cmocka_unit_test(test_crs_latlon_to_bng_rejects_off_grid),
        cmocka_unit_test(test_crs_locate_bng_finds_footprint),
        cmocka_unit_test(test_crs_locate_bng_outside_and_nearest),
        cmocka_unit_test(test_crs_locate_bng_rejects_off_grid),
        cmocka_unit_test(test_crs_two_threads_two_contexts),
        cmocka_unit_test(test_crs_missing_proj_database_is_ecrs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
