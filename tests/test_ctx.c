/* Unit tests for lib/src/ctx.c: contexts, allocation helpers, errors,
 * fp_status_str, versions and fp_check_latlon. */
#include "support.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- contexts ---- */

static void test_ctx_new_default_allocator(void **state)
{
    (void)state;
    /* NULL allocator and fp_ctx_new both mean the C library's. */
    fp_ctx *a = NULL, *b = NULL;
    assert_int_equal(fp_ctx_new_with_allocator(NULL, &a), FP_OK);
    assert_non_null(a);
    assert_int_equal(fp_ctx_new(&b), FP_OK);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_int_equal(fp_ctx_errcode(a), FP_OK);
    assert_string_equal(fp_ctx_errmsg(a), "");
    /* And it works: an error is recorded on it. */
    assert_int_equal(fp_check_latlon(a, NAN, 0), FP_EINVAL);
    assert_int_equal(fp_ctx_errcode(a), FP_EINVAL);
    assert_int_equal(fp_ctx_errcode(b), FP_OK); /* contexts are separate */
    fp_ctx_free(a);
    fp_ctx_free(b);
    /* Nothing went through the counting allocator. */
    assert_int_equal(test_alloc_outstanding(), 0);
}

static void test_ctx_uses_given_allocator(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    assert_int_equal(test_alloc_outstanding(), 1); /* the context itself */
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    test_ctx_done(ctx);
}

static void test_ctx_new_out_of_memory(void **state)
{
    (void)state;
    fp_ctx *ctx = (fp_ctx *)1;
    test_alloc_fail_after(0);
    int rc = fp_ctx_new_with_allocator(&test_alloc, &ctx);
    test_alloc_fail_after(-1);
    assert_int_equal(rc, FP_ENOMEM);
    assert_null(ctx);
    assert_int_equal(test_alloc_outstanding(), 0);
}

static void test_ctx_null_is_accepted(void **state)
{
    (void)state;
    /* Documented: every *_free accepts NULL; the error getters of a NULL
     * context say "no error". */
    fp_ctx_free(NULL);
    assert_int_equal(fp_ctx_errcode(NULL), FP_OK);
    assert_string_equal(fp_ctx_errmsg(NULL), "");
    /* fp__error on a NULL context still returns the code. */
    assert_int_equal(fp__error(NULL, FP_EIO, "x %d", 1), FP_EIO);
    fp__clear(NULL);
}

/* ---- errors ---- */

static void test_ctx_errmsg_empty_after_success(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    assert_int_equal(fp_check_latlon(ctx, 91, 0), FP_EINVAL);
    assert_int_equal(fp_ctx_errcode(ctx), FP_EINVAL);
    assert_string_not_equal(fp_ctx_errmsg(ctx), "");
    /* A later successful call clears the previous failure. */
    assert_int_equal(fp_check_latlon(ctx, 53.38, -1.47), FP_OK);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    test_ctx_done(ctx);
}

static void test_ctx_error_records_code_and_message(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    assert_int_equal(fp__error(ctx, FP_EFIELD, "%s: field %d", "f.shp", 7),
                     FP_EFIELD);
    assert_int_equal(fp_ctx_errcode(ctx), FP_EFIELD);
    assert_string_equal(fp_ctx_errmsg(ctx), "f.shp: field 7");
    fp__clear(ctx);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    test_ctx_done(ctx);
}

static void test_ctx_errmsg_is_one_line(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    /* GDAL/PROJ text may carry CR and LF; the message stays one line. */
    fp__error(ctx, FP_ECRS, "first\nsecond\r\nthird\r%s", "\n");
    assert_string_equal(fp_ctx_errmsg(ctx), "first second  third  ");
    assert_null(strchr(fp_ctx_errmsg(ctx), '\n'));
    assert_null(strchr(fp_ctx_errmsg(ctx), '\r'));
    test_ctx_done(ctx);
}

static void test_ctx_errmsg_truncated_safely(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(fp__error(ctx, FP_EIO, "%s", big), FP_EIO);
    /* Cut to the buffer, NUL-terminated, not overflowing the context. */
    assert_int_equal(strlen(fp_ctx_errmsg(ctx)), FP_ERRMSG_MAX - 1);
    assert_int_equal(fp_ctx_errmsg(ctx)[0], 'x');
    test_ctx_done(ctx);
}

static void test_ctx_errmsg_is_per_context(void **state)
{
    (void)state;
    fp_ctx *a = test_ctx(), *b = test_ctx();
    fp__error(a, FP_EIO, "a failed");
    fp__error(b, FP_ENOTFOUND, "b failed");
    assert_int_equal(fp_ctx_errcode(a), FP_EIO);
    assert_string_equal(fp_ctx_errmsg(a), "a failed");
    assert_int_equal(fp_ctx_errcode(b), FP_ENOTFOUND);
    assert_string_equal(fp_ctx_errmsg(b), "b failed");
    fp_ctx_free(a);
    test_ctx_done(b);
}

/* ---- status strings and versions ---- */

static void test_ctx_status_str(void **state)
{
    (void)state;
    assert_string_equal(fp_status_str(FP_OK), "ok");
    assert_string_equal(fp_status_str(FP_ENOMEM), "out of memory");
    assert_string_equal(fp_status_str(FP_EINVAL), "invalid argument");
    assert_string_equal(fp_status_str(FP_EIO), "input/output error");
    assert_string_equal(fp_status_str(FP_EFORMAT), "unusable data");
    assert_string_equal(fp_status_str(FP_ECRS),
                        "coordinate reference system error");
    assert_string_equal(fp_status_str(FP_EFIELD), "missing field");
    assert_string_equal(fp_status_str(FP_ENOTFOUND), "not found");
    /* Codes outside the enum still get a constant string. */
    assert_string_equal(fp_status_str(-1), "unknown status");
    assert_string_equal(fp_status_str(FP_ENOTFOUND + 1), "unknown status");
    assert_string_equal(fp_status_str(1 << 30), "unknown status");
}

static void test_ctx_status_codes_are_stable(void **state)
{
    (void)state;
    /* The values are ABI: programs store and compare them. */
    assert_int_equal(FP_OK, 0);
    assert_int_equal(FP_ENOMEM, 1);
    assert_int_equal(FP_EINVAL, 2);
    assert_int_equal(FP_EIO, 3);
    assert_int_equal(FP_EFORMAT, 4);
    assert_int_equal(FP_ECRS, 5);
    assert_int_equal(FP_EFIELD, 6);
    assert_int_equal(FP_ENOTFOUND, 7);
}

static void test_ctx_version(void **state)
{
    (void)state;
    /* The header and the linked library agree. */
    assert_string_equal(fp_version(), FP_VERSION_STRING);
    assert_int_equal(fp_version_number(), FP_VERSION_NUMBER);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", FP_VERSION_MAJOR,
             FP_VERSION_MINOR, FP_VERSION_PATCH);
    assert_string_equal(fp_version(), want);
    assert_int_equal(fp_version_number(), FP_VERSION_MAJOR * 10000 +
                                              FP_VERSION_MINOR * 100 +
                                              FP_VERSION_PATCH);
    assert_int_equal(FP_VERSION_NUMBER, 100); /* 0.1.0 */
}

/* ---- allocation helpers ---- */

static void test_ctx_alloc_helpers(void **state)
{
    (void)state;
    /* Zero-size requests still give a block (never an ambiguous NULL). */
    void *p = fp__malloc(&test_alloc, 0);
    assert_non_null(p);
    p = fp__realloc(&test_alloc, p, 0);
    assert_non_null(p);
    fp__free(&test_alloc, p);
    fp__free(&test_alloc, NULL); /* accepted */
    unsigned char *z = fp__calloc(&test_alloc, 10, 3);
    assert_non_null(z);
    for (int i = 0; i < 30; i++) assert_int_equal(z[i], 0);
    fp__free(&test_alloc, z);
    char *s = fp__strdup(&test_alloc, "Sheffield");
    assert_string_equal(s, "Sheffield");
    fp__free(&test_alloc, s);
    assert_int_equal(test_alloc_outstanding(), 0);
}

static void test_ctx_calloc_overflow(void **state)
{
    (void)state;
    /* n * size overflowing must fail, not allocate a wrapped size. */
    assert_null(fp__calloc(&test_alloc, SIZE_MAX / 2, 3));
    assert_null(fp__calloc(&test_alloc, (SIZE_MAX >> 4) + 1, 16));
    assert_int_equal(test_alloc_outstanding(), 0);
}

static void test_ctx_grow(void **state)
{
    (void)state;
    int *p = NULL;
    size_t cap = 0;
    assert_int_equal(fp__grow(&test_alloc, (void **)&p, &cap, 1, sizeof *p),
                     FP_OK);
    assert_int_equal(cap, 16); /* first growth */
    int *first = p;
    assert_int_equal(fp__grow(&test_alloc, (void **)&p, &cap, 16, sizeof *p),
                     FP_OK);
    assert_ptr_equal(p, first); /* enough room: untouched */
    assert_int_equal(cap, 16);
    for (int i = 0; i < 16; i++) p[i] = i;
    assert_int_equal(fp__grow(&test_alloc, (void **)&p, &cap, 100, sizeof *p),
                     FP_OK);
    assert_int_equal(cap, 128); /* doubled until it fits */
    for (int i = 0; i < 16; i++) assert_int_equal(p[i], i); /* kept */
    /* A failed growth keeps the old block and capacity. */
    test_alloc_fail_after(0);
    int rc = fp__grow(&test_alloc, (void **)&p, &cap, 1000, sizeof *p);
    test_alloc_fail_after(-1);
    assert_int_equal(rc, FP_ENOMEM);
    assert_int_equal(cap, 128);
    assert_int_equal(p[15], 15);
    /* Sizes that would overflow are refused. */
    assert_int_equal(fp__grow(&test_alloc, (void **)&p, &cap, SIZE_MAX / 2,
                              sizeof *p),
                     FP_ENOMEM);
    assert_int_equal(cap, 128);
    fp__free(&test_alloc, p);
    assert_int_equal(test_alloc_outstanding(), 0);
}

static void test_ctx_grow_first_block_overflow(void **state)
{
    (void)state;
    /* The first growth allocates 16 elements without checking that
     * 16 * size fits in size_t: with size 2^60 the product wraps to 0 and
     * a 1-byte block is returned while cap claims 16 elements. */
    void *p = NULL;
    size_t cap = 0;
    size_t size = (SIZE_MAX >> 4) + 1;
    int rc = fp__grow(&test_alloc, &p, &cap, 1, size);
    size_t got = cap;
    fp__free(&test_alloc, p);
    assert_int_equal(test_alloc_outstanding(), 0);
    assert_int_equal(rc, FP_ENOMEM);
    assert_int_equal(got, 0);
}

/* ---- fp_check_latlon ---- */

/* Runs fp_check_latlon on a fresh context; returns the status and copies
 * the message. */
static int check(double lat, double lon, char *msg, size_t n)
{
    fp_ctx *ctx = test_ctx();
    int rc = fp_check_latlon(ctx, lat, lon);
    assert_int_equal(fp_ctx_errcode(ctx), rc);
    snprintf(msg, n, "%s", fp_ctx_errmsg(ctx));
    test_ctx_done(ctx);
    return rc;
}

#define EXPECT_OK(lat, lon)                                                \
    do {                                                                   \
        char m_[FP_ERRMSG_MAX];                                            \
        if (check((lat), (lon), m_, sizeof m_) != FP_OK)                   \
            fail_msg("(%g, %g) rejected: %s", (double)(lat), (double)(lon), \
                     m_);                                                  \
        assert_string_equal(m_, "");                                       \
    } while (0)

#define EXPECT_EINVAL(lat, lon, what)                                      \
    do {                                                                   \
        char m_[FP_ERRMSG_MAX];                                            \
        if (check((lat), (lon), m_, sizeof m_) != FP_EINVAL)               \
            fail_msg("(%g, %g) accepted", (double)(lat), (double)(lon));   \
        if (!strstr(m_, (what)))                                           \
            fail_msg("(%g, %g): '%s' lacks '%s'", (double)(lat),           \
                     (double)(lon), m_, (what));                           \
        assert_null(strchr(m_, '\n'));                                     \
    } while (0)

static void test_ctx_check_latlon_accepts_england(void **state)
{
    (void)state;
    EXPECT_OK(53.38, -1.47);  /* Sheffield */
    EXPECT_OK(51.5, 0.5);     /* Essex: positive longitude */
    EXPECT_OK(50.07, -5.71);  /* Land's End */
    EXPECT_OK(55.81, -2.03);  /* Berwick */
    EXPECT_OK(51.5, -0.1);    /* London */
    /* Elsewhere on Earth is fine too: only "swapped" is suspicious. */
    EXPECT_OK(-33.87, 151.21); /* Sydney */
    EXPECT_OK(0, 0);
    /* The full ranges, ends included. */
    EXPECT_OK(90, 180);
    EXPECT_OK(-90, -180);
}

static void test_ctx_check_latlon_rejects_non_finite(void **state)
{
    (void)state;
    EXPECT_EINVAL(NAN, -1.47, "finite");
    EXPECT_EINVAL(53.38, NAN, "finite");
    EXPECT_EINVAL(INFINITY, -1.47, "finite");
    EXPECT_EINVAL(53.38, -INFINITY, "finite");
    EXPECT_EINVAL(NAN, NAN, "latitude/longitude must be finite");
}

static void test_ctx_check_latlon_rejects_out_of_range(void **state)
{
    (void)state;
    EXPECT_EINVAL(91, -1.47, "latitude 91, longitude -1.47 out of range");
    EXPECT_EINVAL(-90.5, 0, "out of range");
    EXPECT_EINVAL(53.38, 181, "latitude 53.38, longitude 181 out of range");
    EXPECT_EINVAL(53.38, -180.001, "out of range");
    EXPECT_EINVAL(1e300, 0, "out of range");
}

static void test_ctx_check_latlon_detects_swapped(void **state)
{
    (void)state;
    /* Sheffield with the numbers transposed: the message suggests the
     * pair the caller probably meant. */
    EXPECT_EINVAL(-1.47, 53.38, "swapped");
    EXPECT_EINVAL(-1.47, 53.38,
                  "did you mean latitude 53.38, longitude -1.47?");
    /* London-Essex swapped (positive British longitude): lat 0.5, lon 51.5
     * is the Indian Ocean, not a place an NHS user means. */
    EXPECT_EINVAL(0.5, 51.5, "swapped");
    /* Cornwall and Shetland swapped: the corners of Great Britain. */
    EXPECT_EINVAL(-5.71, 50.07, "swapped");
    EXPECT_EINVAL(-1.2, 60.3, "swapped");
    /* The box edges (GB: lat 49.8..60.9, lon -8.7..1.8) are inclusive. */
    EXPECT_EINVAL(-8.7, 49.8, "swapped");
    EXPECT_EINVAL(1.8, 60.9, "swapped");
}

static void test_ctx_check_latlon_swap_needs_both(void **state)
{
    (void)state;
    /* Just outside the box on each side: not flagged. */
    EXPECT_OK(-8.71, 53.38);  /* latitude not a British longitude */
    EXPECT_OK(1.81, 53.38);
    EXPECT_OK(-1.47, 49.79);  /* longitude not a British latitude */
    EXPECT_OK(-1.47, 60.91);
    /* Only one of the two looks British: real places, accepted. */
    EXPECT_OK(-1.29, 36.82);  /* Nairobi: latitude like a GB longitude */
    EXPECT_OK(53.38, 53.38);  /* Russia: longitude like a GB latitude */
    EXPECT_OK(-1.47, -1.47);  /* Gulf of Guinea */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctx_new_default_allocator),
        cmocka_unit_test(test_ctx_uses_given_allocator),
        cmocka_unit_test(test_ctx_new_out_of_memory),
        cmocka_unit_test(test_ctx_null_is_accepted),
        cmocka_unit_test(test_ctx_errmsg_empty_after_success),
        cmocka_unit_test(test_ctx_error_records_code_and_message),
        cmocka_unit_test(test_ctx_errmsg_is_one_line),
        cmocka_unit_test(test_ctx_errmsg_truncated_safely),
        cmocka_unit_test(test_ctx_errmsg_is_per_context),
        cmocka_unit_test(test_ctx_status_str),
        cmocka_unit_test(test_ctx_status_codes_are_stable),
        cmocka_unit_test(test_ctx_version),
        cmocka_unit_test(test_ctx_alloc_helpers),
        cmocka_unit_test(test_ctx_calloc_overflow),
        cmocka_unit_test(test_ctx_grow),
        cmocka_unit_test(test_ctx_grow_first_block_overflow),
        cmocka_unit_test(test_ctx_check_latlon_accepts_england),
        cmocka_unit_test(test_ctx_check_latlon_rejects_non_finite),
        cmocka_unit_test(test_ctx_check_latlon_rejects_out_of_range),
        cmocka_unit_test(test_ctx_check_latlon_detects_swapped),
        cmocka_unit_test(test_ctx_check_latlon_swap_needs_both),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
