/* Unit tests for lib/src/layer.c: the builder (fp_builder_*) and the
 * accessors of a built layer (fp_layer_count, _code, _name, _bbox,
 * _find_code, _memory, _vertices, _free). */
#include "support.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

/* ---- helpers ---- */

static fp_builder *new_builder(fp_ctx *ctx)
{
    fp_builder *b = NULL;
    assert_int_equal(fp_builder_new(ctx, &b), FP_OK);
    assert_non_null(b);
    return b;
}

static void add_fp(fp_builder *b, const char *code, const char *name)
{
    assert_int_equal(fp_builder_add_footprint(b, code, name), FP_OK);
}

static fp_index_opts none_opts(void)
{
    fp_index_opts o;
    fp_index_opts_init(&o);
    o.kind = FP_INDEX_NONE;
    return o;
}

static void assert_msg_has(const fp_ctx *ctx, const char *needle)
{
    const char *m = fp_ctx_errmsg(ctx);
    if (!strstr(m, needle))
        fail_msg("error message \"%s\" does not mention \"%s\"", m, needle);
}

/* Expects fp_builder_build to fail with `want` and to leave *out NULL. */
static void expect_build_fails(fp_ctx *ctx, fp_builder *b,
                               const fp_index_opts *o, int want,
                               const char *needle)
{
    fp_layer *L = (fp_layer *)&L; /* garbage that must be reset to NULL */
    int rc = fp_builder_build(b, o, &L);
    if (rc != want)
        fail_msg("build returned %d (%s), want %d", rc, fp_ctx_errmsg(ctx), want);
    assert_null(L);
    assert_int_equal(fp_ctx_errcode(ctx), want);
    if (needle) assert_msg_has(ctx, needle);
}

/* ---- order, names, lookup by code ---- */

static void test_layer_code_order_regardless_of_insertion(void **state)
{
    (void)state;
    static const char *codes[] = {"E54000061", "E54000008", "E54000050",
                                  "A", "E54000027", "Z9", "E5400006"};
    /* Byte order: "E5400006" sorts after "E54000050" ('6' > '5'). */
    static const char *sorted[] = {"A", "E54000008", "E54000027", "E54000050",
                                   "E5400006", "E54000061", "Z9"};
    enum { N = sizeof codes / sizeof *codes };
    fp_index_opts kinds[2];
    fp_index_opts_init(&kinds[0]);
    kinds[1] = none_opts();
    for (int k = 0; k < 2; k++) {
        fp_ctx *ctx = test_ctx();
        fp_builder *b = new_builder(ctx);
        for (int i = 0; i < N; i++) {
            char name[32];
            snprintf(name, sizeof name, "name of %s", codes[i]);
            add_fp(b, codes[i], name);
            test_add_rect(b, i, 0, i + 1, 1); /* footprint i is the square at x = i */
        }
        fp_layer *L = test_build(ctx, b, &kinds[k]);
        assert_int_equal(fp_layer_count(L), N);
        for (size_t i = 0; i < N; i++) {
            char name[32];
            snprintf(name, sizeof name, "name of %s", sorted[i]);
            assert_string_equal(fp_layer_code(L, i), sorted[i]);
            assert_string_equal(fp_layer_name(L, i), name);
        }
        /* Geometry followed its code through the sort. */
        for (int i = 0; i < N; i++)
            assert_string_equal(test_code_at(L, i + 0.5, 0.5), codes[i]);
        /* Past the end: NULL, not garbage. */
        assert_null(fp_layer_code(L, N));
        assert_null(fp_layer_name(L, N));
        assert_null(fp_layer_code(L, SIZE_MAX));
        fp_layer_free(L);
        test_ctx_done(ctx);
    }
}

static void test_layer_names_kept_null_name_is_empty(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    add_fp(b, "B", NULL);
    test_add_rect(b, 0, 0, 1, 1);
    add_fp(b, "A", "NHS South Yorkshire Integrated Care Board");
    test_add_rect(b, 1, 0, 2, 1);
    add_fp(b, "C", "");
    test_add_rect(b, 2, 0, 3, 1);
    fp_layer *L = test_build(ctx, b, NULL);
    assert_int_equal(fp_layer_count(L), 3);
    assert_string_equal(fp_layer_code(L, 0), "A");
    assert_string_equal(fp_layer_name(L, 0),
                        "NHS South Yorkshire Integrated Care Board");
    assert_string_equal(fp_layer_code(L, 1), "B");
    assert_string_equal(fp_layer_name(L, 1), "");
    assert_string_equal(fp_layer_code(L, 2), "C");
    assert_string_equal(fp_layer_name(L, 2), "");
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* The builder copies its strings: the caller's buffers may change. */
static void test_layer_strings_copied(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    char code[16] = "X1", name[16] = "first";
    add_fp(b, code, name);
    test_add_rect(b, 0, 0, 1, 1);
    strcpy(code, "X0");
    strcpy(name, "changed");
    fp_layer *L = test_build(ctx, b, NULL);
    assert_string_equal(fp_layer_code(L, 0), "X1");
    assert_string_equal(fp_layer_name(L, 0), "first");
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static void test_layer_find_code_present_and_absent(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    add_fp(b, "E54000061", "");
    test_add_rect(b, 0, 0, 1, 1);
    add_fp(b, "E54000050", "");
    test_add_rect(b, 1, 0, 2, 1);
    fp_layer *L = test_build(ctx, b, NULL);
    assert_int_equal(fp_layer_find_code(L, "E54000050"), 0);
    assert_int_equal(fp_layer_find_code(L, "E54000061"), 1);
    assert_int_equal(fp_layer_find_code(L, "E5400006"), -1);   /* prefix */
    assert_int_equal(fp_layer_find_code(L, "E540000611"), -1); /* longer */
    assert_int_equal(fp_layer_find_code(L, "e54000061"), -1);  /* case */
    assert_int_equal(fp_layer_find_code(L, ""), -1);
    assert_int_equal(fp_layer_find_code(L, "A"), -1);          /* before all */
    assert_int_equal(fp_layer_find_code(L, "Z"), -1);          /* after all */
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* 200 codes (the even numbers), inserted in a scrambled order: each is
 * found at its rank, every odd number and the ends are absent. */
static void test_layer_find_code_binary_search_200(void **state)
{
    (void)state;
    enum { N = 200 };
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    for (int k = 0; k < N; k++) {
        int i = (k * 37 + 11) % N; /* 37 is coprime with 200: a permutation */
        char code[16];
        snprintf(code, sizeof code, "E38%06d", 2 * i + 2);
        add_fp(b, code, code);
        test_add_rect(b, i * 0.5, 0, i * 0.5 + 0.5, 1); /* within longitudes */
    }
    fp_layer *L = test_build(ctx, b, NULL);
    assert_int_equal(fp_layer_count(L), N);
    for (int i = 0; i < N; i++) {
        char code[16];
        snprintf(code, sizeof code, "E38%06d", 2 * i + 2);
        assert_int_equal(fp_layer_find_code(L, code), i);
        assert_string_equal(fp_layer_code(L, (size_t)i), code);
        assert_string_equal(test_code_at(L, i * 0.5 + 0.25, 0.5), code);
        snprintf(code, sizeof code, "E38%06d", 2 * i + 1);
        assert_int_equal(fp_layer_find_code(L, code), -1);
    }
    assert_int_equal(fp_layer_find_code(L, "E38000000"), -1);
    assert_int_equal(fp_layer_find_code(L, "E38000402"), -1);
    assert_int_equal(fp_layer_find_code(L, "E38000401"), -1);
    assert_int_equal(fp_layer_find_code(L, "E37999999"), -1);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* ---- duplicate codes merge ---- */

static void test_layer_duplicate_codes_merge(void **state)
{
    (void)state;
    fp_index_opts kinds[2];
    fp_index_opts_init(&kinds[0]);
    kinds[1] = none_opts();
    for (int k = 0; k < 2; k++) {
        fp_ctx *ctx = test_ctx();
        fp_builder *b = new_builder(ctx);
        add_fp(b, "A", "first name");
        test_add_rect(b, 0, 0, 1, 1);
        add_fp(b, "B", "between");
        test_add_rect(b, 2, 0, 3, 1);
        add_fp(b, "A", "second name");
        test_add_rect(b, 4, 0, 5, 1);
        test_add_rect(b, 4, 2, 5, 3); /* a second ring continues the second "A" */
        fp_layer *L = test_build(ctx, b, &kinds[k]);
        assert_int_equal(fp_layer_count(L), 2);
        assert_string_equal(fp_layer_code(L, 0), "A");
        assert_string_equal(fp_layer_name(L, 0), "first name");
        assert_string_equal(fp_layer_code(L, 1), "B");
        assert_int_equal(fp_layer_find_code(L, "A"), 0);
        assert_string_equal(test_code_at(L, 0.5, 0.5), "A");
        assert_string_equal(test_code_at(L, 4.5, 0.5), "A");
        assert_string_equal(test_code_at(L, 4.5, 2.5), "A");
        assert_string_equal(test_code_at(L, 2.5, 0.5), "B");
        assert_string_equal(test_code_at(L, 3.5, 0.5), "none");
        double box[4];
        fp_layer_bbox(L, 0, box);
        assert_true(box[0] == 0 && box[1] == 0 && box[2] == 5 && box[3] == 3);
        assert_int_equal(fp_layer_vertices(L), 4 * 5);
        fp_layer_free(L);
        test_ctx_done(ctx);
    }
}

/* A duplicate whose first occurrence has no ring still merges. */
static void test_layer_duplicate_code_first_without_rings(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    add_fp(b, "A", "named first");
    add_fp(b, "B", "");
    test_add_rect(b, 2, 0, 3, 1);
    add_fp(b, "A", "named later");
    test_add_rect(b, 0, 0, 1, 1);
    fp_layer *L = test_build(ctx, b, NULL);
    assert_int_equal(fp_layer_count(L), 2);
    assert_string_equal(fp_layer_code(L, 0), "A");
    assert_string_equal(fp_layer_name(L, 0), "named first");
    assert_string_equal(test_code_at(L, 0.5, 0.5), "A");
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* ---- rings: closing, repeated points, degenerate rings ---- */

static void test_layer_ring_closed_automatically(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    add_fp(b, "open", "");
    const double open[] = {0, 0, 1, 0, 1, 1, 0, 1}; /* 4 points, not closed */
    assert_int_equal(fp_builder_add_ring(b, open, 4), FP_OK);
    add_fp(b, "closed", "");
    const double closed[] = {2, 0, 3, 0, 3, 1, 2, 1, 2, 0};
    assert_int_equal(fp_builder_add_ring(b, closed, 5), FP_OK);
    add_fp(b, "tri", "");
    const double tri[] = {4, 0, 6, 0, 5, 2};
    assert_int_equal(fp_builder_add_ring(b, tri, 3), FP_OK);
    fp_layer *L = test_build(ctx, b, NULL);
    /* Closed: both squares hold 5 vertices, the triangle 4. */
    assert_int_equal(fp_layer_vertices(L), 5 + 5 + 4);
    assert_string_equal(test_code_at(L, 0.5, 0.5), "open");
    assert_string_equal(test_code_at(L, 0.5, 0.999), "open"); /* near the closing edge */
    assert_string_equal(test_code_at(L, -0.001, 0.5), "none"); /* just west of it */
    assert_string_equal(test_code_at(L, 2.5, 0.5), "closed");
    assert_string_equal(test_code_at(L, 5, 1), "tri");
    assert_string_equal(test_code_at(L, 4.4, 1.5), "none");
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static void test_layer_ring_repeated_points_dropped(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    add_fp(b, "A", "");
    /* Square with every corner doubled and the start repeated at the end. */
    const double r[] = {0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1,
                        0, 0, 0, 0};
    assert_int_equal(fp_builder_add_ring(b, r, 10), FP_OK);
    fp_layer *L = test_build(ctx, b, NULL);
    assert_int_equal(fp_layer_vertices(L), 5);
    assert_string_equal(test_code_at(L, 0.5, 0.5), "A");
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* Rings of fewer than three distinct points are dropped; the rest of the
 * footprint stays. */
static void test_layer_ring_degenerate_dropped(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    add_fp(b, "A", "");
    test_add_rect(b, 0, 0, 1, 1);
    const double one[] = {5, 5};
    const double same[] = {5, 5, 5, 5, 5, 5, 5, 5};
    const double two[] = {5, 5, 6, 6};
    const double there_back[] = {5, 5, 6, 6, 5, 5};
    assert_int_equal(fp_builder_add_ring(b, one, 1), FP_OK);
    assert_int_equal(fp_builder_add_ring(b, same, 4), FP_OK);
    assert_int_equal(fp_builder_add_ring(b, two, 2), FP_OK);
    assert_int_equal(fp_builder_add_ring(b, there_back, 3), FP_OK);
    assert_int_equal(fp_builder_add_ring(b, NULL, 0), FP_OK);
    fp_layer *L = test_build(ctx, b, NULL);
    assert_int_equal(fp_layer_count(L), 1);
    assert_int_equal(fp_layer_vertices(L), 5);
    double box[4];
    fp_layer_bbox(L, 0, box); /* the dropped rings left no trace in it */
    assert_true(box[0] == 0 && box[1] == 0 && box[2] == 1 && box[3] == 1);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* A ring going back and forth between two points (A B A B A) has only two
 * distinct points: it encloses nothing and must be dropped too.  (Results
 * are gathered and everything freed before asserting, so that a failure
 * here does not leak into the next tests' allocation counts.) */
static void test_layer_ring_two_points_back_and_forth_dropped(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    add_fp(b, "A", "");
    test_add_rect(b, 0, 0, 1, 1);
    add_fp(b, "B", "");
    const double abab[] = {5, 5, 6, 6, 5, 5, 6, 6, 5, 5};
    int rc_ring = fp_builder_add_ring(b, abab, 5);
    fp_layer *L = test_build(ctx, b, NULL);
    size_t vertices = fp_layer_vertices(L), count = fp_layer_count(L);
    long b_index = fp_layer_find_code(L, "B");
    fp_layer_free(L);
    test_ctx_done(ctx);
    assert_int_equal(rc_ring, FP_OK);
    assert_int_equal(vertices, 5);
    assert_int_equal(count, 1);
    assert_int_equal(b_index, -1);
}

static void test_layer_footprint_without_rings_disappears(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    add_fp(b, "A", "kept");
    test_add_rect(b, 0, 0, 1, 1);
    add_fp(b, "B", "all rings degenerate");
    const double line[] = {2, 2, 3, 3, 2, 2};
    assert_int_equal(fp_builder_add_ring(b, line, 3), FP_OK);
    add_fp(b, "C", "no rings at all");
    add_fp(b, "D", "kept too");
    test_add_rect(b, 1, 0, 2, 1);
    fp_layer *L = test_build(ctx, b, NULL);
    assert_int_equal(fp_layer_count(L), 2);
    assert_string_equal(fp_layer_code(L, 0), "A");
    assert_string_equal(fp_layer_name(L, 0), "kept");
    assert_string_equal(fp_layer_code(L, 1), "D");
    assert_string_equal(fp_layer_name(L, 1), "kept too");
    assert_int_equal(fp_layer_find_code(L, "B"), -1);
    assert_int_equal(fp_layer_find_code(L, "C"), -1);
    assert_string_equal(test_code_at(L, 1.5, 0.5), "D");
    double box[4];
    fp_layer_bbox(L, SIZE_MAX, box); /* B's points are not in the extent */
    assert_true(box[0] == 0 && box[1] == 0 && box[2] == 2 && box[3] == 1);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static void test_layer_nothing_left_is_eformat(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        fp_ctx *ctx = test_ctx();
        fp_builder *b = new_builder(ctx);
        if (variant >= 1) add_fp(b, "A", "");
        if (variant == 2) {
            const double dup[] = {0, 0, 1, 1, 0, 0};
            assert_int_equal(fp_builder_add_ring(b, dup, 3), FP_OK);
        }
        fp_index_opts o[2];
        fp_index_opts_init(&o[0]);
        o[1] = none_opts();
        expect_build_fails(ctx, b, &o[variant & 1], FP_EFORMAT, "no polygons");
        fp_builder_free(b);
        test_ctx_done(ctx);
    }
}

/* ---- invalid input ---- */

static void test_layer_nonfinite_coordinate_sticky(void **state)
{
    (void)state;
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++)
        for (int pos = 0; pos < 8; pos++) {
            fp_ctx *ctx = test_ctx();
            fp_builder *b = new_builder(ctx);
            add_fp(b, "A", "");
            test_add_rect(b, 0, 0, 1, 1);
            double r[] = {2, 0, 3, 0, 3, 1, 2, 1};
            r[pos] = bad[k]; /* in x or y of any of the points */
            assert_int_equal(fp_builder_add_ring(b, r, 4), FP_EINVAL);
            assert_int_equal(fp_ctx_errcode(ctx), FP_EINVAL);
            assert_msg_has(ctx, "non-finite");
            /* Sticky: every later call reports it, even valid ones. */
            assert_int_equal(fp_builder_add_footprint(b, "B", ""), FP_EINVAL);
            const double ok[] = {0, 0, 1, 0, 1, 1};
            assert_int_equal(fp_builder_add_ring(b, ok, 3), FP_EINVAL);
            expect_build_fails(ctx, b, NULL, FP_EINVAL, "non-finite");
            fp_builder_free(b);
            test_ctx_done(ctx);
        }
}

static void test_layer_empty_or_null_code_einval(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        fp_ctx *ctx = test_ctx();
        fp_builder *b = new_builder(ctx);
        add_fp(b, "A", "");
        test_add_rect(b, 0, 0, 1, 1);
        assert_int_equal(fp_builder_add_footprint(b, k ? "" : NULL, "x"), FP_EINVAL);
        assert_int_equal(fp_ctx_errcode(ctx), FP_EINVAL);
        assert_msg_has(ctx, "code");
        /* Sticky too. */
        assert_int_equal(fp_builder_add_footprint(b, "B", ""), FP_EINVAL);
        const double r[] = {2, 0, 3, 0, 3, 1};
        assert_int_equal(fp_builder_add_ring(b, r, 3), FP_EINVAL);
        expect_build_fails(ctx, b, NULL, FP_EINVAL, "code");
        fp_builder_free(b);
        test_ctx_done(ctx);
    }
}

static void test_layer_ring_before_footprint_einval(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    const double r[] = {0, 0, 1, 0, 1, 1, 0, 1};
    assert_int_equal(fp_builder_add_ring(b, r, 4), FP_EINVAL);
    assert_int_equal(fp_ctx_errcode(ctx), FP_EINVAL);
    assert_msg_has(ctx, "before any footprint");
    assert_int_equal(fp_builder_add_footprint(b, "A", ""), FP_EINVAL);
    expect_build_fails(ctx, b, NULL, FP_EINVAL, "before any footprint");
    fp_builder_free(b);
    test_ctx_done(ctx);
}

static void test_layer_index_opts_out_of_range(void **state)
{
    (void)state;
    struct {
        int kind, root_bits, max_depth, leaf_edges;
        const char *needle;
    } bad[] = {
        {FP_INDEX_GRID, 3, 8, 6, "root_bits"},
        {FP_INDEX_GRID, 13, 8, 6, "root_bits"},
        {FP_INDEX_GRID, -1, 8, 6, "root_bits"},
        {FP_INDEX_GRID, 9, -1, 6, "max_depth"},
        {FP_INDEX_GRID, 9, 11, 6, "max_depth"},
        {FP_INDEX_GRID, 9, 8, 0, "leaf_edges"},
        {FP_INDEX_GRID, 9, 8, -5, "leaf_edges"},
        /* 2^32 finest cells would overflow the cell coordinates. */
        {FP_INDEX_GRID, 12, 10, 6, "root_bits + 2 * max_depth <= 30"},
        {2, 9, 8, 6, "kind 2"},
        {-1, 9, 8, 6, "kind -1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fp_ctx *ctx = test_ctx();
        fp_builder *b = new_builder(ctx);
        add_fp(b, "A", "");
        test_add_rect(b, 0, 0, 1, 1);
        fp_index_opts o = {bad[i].kind, bad[i].root_bits, bad[i].max_depth,
                           bad[i].leaf_edges};
        expect_build_fails(ctx, b, &o, FP_EINVAL, bad[i].needle);
        fp_builder_free(b);
        test_ctx_done(ctx);
    }
    /* The limits themselves are accepted. */
    const fp_index_opts good[] = {{FP_INDEX_GRID, 4, 0, 1},
                                  {FP_INDEX_GRID, 12, 9, 1000},
                                  {FP_INDEX_GRID, 10, 10, 1000},
                                  {FP_INDEX_GRID, 4, 10, 1}};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        fp_ctx *ctx = test_ctx();
        fp_builder *b = new_builder(ctx);
        add_fp(b, "A", "");
        test_add_rect(b, 0, 0, 1, 1);
        fp_layer *L = test_build(ctx, b, &good[i]);
        assert_string_equal(test_code_at(L, 0.5, 0.5), "A");
        assert_string_equal(test_code_at(L, 1.5, 0.5), "none");
        fp_layer_free(L);
        test_ctx_done(ctx);
    }
}

/* ---- accessors ---- */

static void test_layer_bbox_per_footprint_and_layer(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    add_fp(b, "B", "");
    const double tri[] = {-2.5, 53.25, -1.0, 52.5, -1.75, 54.125};
    assert_int_equal(fp_builder_add_ring(b, tri, 3), FP_OK);
    add_fp(b, "A", "");
    test_add_rect(b, 0.5, 50.0, 1.75, 51.0);
    test_add_rect(b, -0.25, 50.5, 0.0, 50.75); /* second part widens A west */
    fp_layer *L = test_build(ctx, b, NULL);
    double box[4];
    fp_layer_bbox(L, 0, box); /* A */
    assert_true(box[0] == -0.25 && box[1] == 50.0 && box[2] == 1.75 &&
                box[3] == 51.0);
    fp_layer_bbox(L, 1, box); /* B */
    assert_true(box[0] == -2.5 && box[1] == 52.5 && box[2] == -1.0 &&
                box[3] == 54.125);
    fp_layer_bbox(L, SIZE_MAX, box);
    if (!(box[0] == -2.5 && box[1] == 50.0 && box[2] == 1.75 && box[3] == 54.125))
        fail_msg("layer bbox %g %g %g %g", box[0], box[1], box[2], box[3]);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static void test_layer_vertices_counts_closed_rings(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    add_fp(b, "A", "");
    const double hexagon_open[] = {0, 0, 2, 0, 3, 1, 2, 2, 0, 2, -1, 1};
    assert_int_equal(fp_builder_add_ring(b, hexagon_open, 6), FP_OK); /* 7 */
    test_add_rect(b, 0.5, 0.5, 1.5, 1.5);                                  /* 5 */
    add_fp(b, "B", "");
    const double tri_closed[] = {5, 5, 6, 5, 5, 6, 5, 5};
    assert_int_equal(fp_builder_add_ring(b, tri_closed, 4), FP_OK);   /* 4 */
    fp_layer *L = test_build(ctx, b, NULL);
    assert_int_equal(fp_layer_vertices(L), 7 + 5 + 4);
    /* The second ring of A is a hole. */
    assert_string_equal(test_code_at(L, 1, 1), "none");
    assert_string_equal(test_code_at(L, 2.5, 1), "A");
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static fp_layer *polygon_layer(fp_ctx *ctx, int nvert, const fp_index_opts *o)
{
    fp_builder *b = new_builder(ctx);
    add_fp(b, "A", "circle");
    double *r = malloc(2 * (size_t)nvert * sizeof *r);
    assert_non_null(r);
    for (int i = 0; i < nvert; i++) {
        double t = 2 * PI * i / nvert;
        r[2 * i] = cos(t);
        r[2 * i + 1] = sin(t);
    }
    assert_int_equal(fp_builder_add_ring(b, r, (size_t)nvert), FP_OK);
    free(r);
    return test_build(ctx, b, o);
}

static void test_layer_memory_grows_with_vertices(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_index_opts none = none_opts();
    fp_layer *small = polygon_layer(ctx, 4, &none);
    fp_layer *big = polygon_layer(ctx, 4000, &none);
    assert_int_equal(fp_layer_vertices(small), 5);
    assert_int_equal(fp_layer_vertices(big), 4001);
    size_t ms = fp_layer_memory(small), mb = fp_layer_memory(big);
    assert_true(ms > 0);
    /* At least the coordinates themselves: 16 bytes a vertex. */
    assert_true(mb >= ms + 3996 * 16);
    assert_true(ms >= 5 * 16 + 4); /* points, code and name strings */
    fp_layer_free(small);
    fp_layer_free(big);
    /* With the grid the index counts too: its top level alone has
     * 4^root_bits cells. */
    fp_index_opts grid;
    fp_index_opts_init(&grid);
    fp_layer *gs = polygon_layer(ctx, 4, NULL);
    assert_true(fp_layer_memory(gs) >= ms + ((size_t)1 << (2 * grid.root_bits)));
    fp_layer *gb = polygon_layer(ctx, 4000, NULL);
    assert_true(fp_layer_memory(gs) > ms);
    assert_true(fp_layer_memory(gb) >= fp_layer_memory(gs) + 3996 * 16);
    assert_string_equal(test_code_at(gb, 0, 0), "A");
    assert_string_equal(test_code_at(gb, 0.8, 0.8), "none");
    fp_layer_free(gs);
    fp_layer_free(gb);
    test_ctx_done(ctx);
}

static void test_layer_free_null_safe(void **state)
{
    (void)state;
    fp_layer_free(NULL);
    fp_builder_free(NULL);
    /* A builder freed without building leaks nothing. */
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    add_fp(b, "A", "name");
    test_add_rect(b, 0, 0, 1, 1);
    fp_builder_free(b);
    test_ctx_done(ctx);
}

/* The layer may outlive its context (it keeps a copy of the allocator). */
static void test_layer_outlives_context_and_builder(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b = new_builder(ctx);
    add_fp(b, "A", "name");
    test_add_rect(b, 0, 0, 1, 1);
    fp_layer *L = NULL;
    assert_int_equal(fp_builder_build(b, NULL, &L), FP_OK);
    fp_builder_free(b);
    fp_ctx_free(ctx);
    assert_string_equal(test_code_at(L, 0.5, 0.5), "A");
    assert_string_equal(fp_layer_name(L, 0), "name");
    fp_layer_free(L);
    assert_int_equal(test_alloc_outstanding(), 0);
}

/* ---- out of memory at every allocation ---- */

/* test_alloc, counting the calls that can fail. */
static long alloc_calls;
static void *count_malloc(size_t n)
{
    alloc_calls++;
    return test_alloc.malloc(n);
}
static void *count_realloc(void *p, size_t n)
{
    alloc_calls++;
    return test_alloc.realloc(p, n);
}
static void count_free(void *p) { test_alloc.free(p); }
static const fp_allocator counting = {count_malloc, count_realloc, count_free};

/* new + add + build of a small layer with holes, duplicates and enough
 * vertices to make the builder's arrays grow; returns the first failure. */
static int oom_scenario(fp_ctx *ctx, const fp_index_opts *o, fp_layer **out)
{
    *out = NULL;
    fp_builder *b = NULL;
    int rc = fp_builder_new(ctx, &b);
    if (rc) {
        assert_null(b);
        return rc;
    }
    int first = FP_OK;
#define STEP(call)                                                        \
    do {                                                                  \
        int r_ = (call);                                                  \
        if (r_ && !first) first = r_;                                     \
        if (first) assert_int_equal(r_, first); /* sticky from then on */ \
    } while (0)
    double circle[2 * 100];
    for (int i = 0; i < 100; i++) {
        circle[2 * i] = 5 + cos(2 * PI * i / 100);
        circle[2 * i + 1] = 5 + sin(2 * PI * i / 100);
    }
    for (int k = 0; k < 12; k++) {
        char code[8], name[16];
        snprintf(code, sizeof code, "C%02d", (k * 7) % 12);
        snprintf(name, sizeof name, "name %d", k);
        STEP(fp_builder_add_footprint(b, code, name));
        const double sq[] = {k, 0, k + 1, 0, k + 1, 1, k, 1};
        STEP(fp_builder_add_ring(b, sq, 4));
    }
    STEP(fp_builder_add_footprint(b, "C03", "duplicate"));
    STEP(fp_builder_add_ring(b, circle, 100));
    const double hole[] = {4.5, 4.5, 5.5, 4.5, 5.5, 5.5, 4.5, 5.5};
    STEP(fp_builder_add_ring(b, hole, 4));
#undef STEP
    fp_layer *L = (fp_layer *)&L;
    rc = fp_builder_build(b, o, &L);
    if (first) assert_int_equal(rc, first);
    assert_true(rc ? L == NULL : L != NULL);
    fp_builder_free(b);
    *out = rc ? NULL : L;
    return rc;
}

static void check_oom_layer(const fp_layer *L)
{
    assert_int_equal(fp_layer_count(L), 12);
    assert_string_equal(test_code_at(L, 3.5, 0.5), "C09"); /* (3 * 7) % 12 */
    assert_string_equal(test_code_at(L, 9.5, 0.5), "C03"); /* (9 * 7) % 12 */
    assert_string_equal(fp_layer_name(L, (size_t)fp_layer_find_code(L, "C03")),
                        "name 9");
    assert_string_equal(test_code_at(L, 5.0, 5.8), "C03");
    assert_string_equal(test_code_at(L, 5.0, 5.0), "none"); /* the hole */
    assert_int_equal(fp_layer_vertices(L), 12 * 5 + 101 + 5);
}

static void run_oom(int kind)
{
    fp_index_opts o;
    fp_index_opts_init(&o);
    o.kind = kind;
    /* A small top grid keeps the many rebuilds quick; refinement, leaves
     * and shared candidate lists are still made. */
    o.root_bits = 4;
    o.max_depth = 4;
    o.leaf_edges = 2;
    /* A clean run counts the allocations... */
    fp_ctx *ctx = NULL;
    assert_int_equal(fp_ctx_new_with_allocator(&counting, &ctx), FP_OK);
    alloc_calls = 0;
    fp_layer *L;
    assert_int_equal(oom_scenario(ctx, &o, &L), FP_OK);
    long total = alloc_calls;
    check_oom_layer(L);
    fp_layer_free(L);
    test_ctx_done(ctx);
    assert_true(total >= 10);
    /* ...then each one fails in turn. */
    long failed = 0;
    for (long n = 0; n <= total; n++) {
        assert_int_equal(fp_ctx_new_with_allocator(&counting, &ctx), FP_OK);
        test_alloc_fail_after(n);
        int rc = oom_scenario(ctx, &o, &L);
        test_alloc_fail_after(-1);
        if (rc) {
            if (rc != FP_ENOMEM)
                fail_msg("allocation %ld of %ld failed: got %d (%s), want FP_ENOMEM",
                         n, total, rc, fp_ctx_errmsg(ctx));
            assert_int_equal(fp_ctx_errcode(ctx), FP_ENOMEM);
            assert_msg_has(ctx, "out of memory");
            failed++;
        } else {
            check_oom_layer(L); /* a failure it absorbed changed nothing */
            fp_layer_free(L);
        }
        test_ctx_done(ctx); /* nothing leaked */
        if (n == total) assert_int_equal(rc, FP_OK);
    }
    assert_true(failed >= total - 3); /* at most the shrink-to-fit reallocs */
}

static void test_layer_out_of_memory_grid(void **state)
{
    (void)state;
    run_oom(FP_INDEX_GRID);
}

static void test_layer_out_of_memory_none(void **state)
{
    (void)state;
    run_oom(FP_INDEX_NONE);
}

/* ---- concurrent queries ---- */

enum { NTHREADS = 8, NPOINTS = 100000, GRID_N = 24 };

typedef struct job {
    const fp_layer *L;
    const double *lat, *lon;
    const long *want_find;
    const fp_match *want_loc;
    long mismatches;
} job;

static void *query_thread(void *arg)
{
    job *j = arg;
    for (size_t i = 0; i < NPOINTS; i++) {
        if (fp_layer_find(j->L, j->lat[i], j->lon[i]) != j->want_find[i])
            j->mismatches++;
        if (i % 8 == 0) {
            fp_match m = fp_layer_locate(j->L, j->lat[i], j->lon[i], 3000);
            const fp_match *w = &j->want_loc[i / 8];
            if (m.index != w->index || m.kind != w->kind ||
                !(m.distance_m == w->distance_m ||
                  (isnan(m.distance_m) && isnan(w->distance_m))))
                j->mismatches++;
        }
    }
    return NULL;
}

static void test_layer_concurrent_queries_match_single_thread(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    /* A jittered lattice of quads sharing exact edges, with gaps. */
    static double vx[GRID_N + 1][GRID_N + 1], vy[GRID_N + 1][GRID_N + 1];
    unsigned s = 12345;
    for (int i = 0; i <= GRID_N; i++)
        for (int j = 0; j <= GRID_N; j++) {
            s = s * 1103515245u + 12345u;
            double jx = ((s >> 16) % 1000) / 3000.0 - 0.17;
            s = s * 1103515245u + 12345u;
            double jy = ((s >> 16) % 1000) / 3000.0 - 0.17;
            vx[i][j] = -3.0 + (i + jx) * 0.2;
            vy[i][j] = 51.0 + (j + jy) * 0.15;
        }
    fp_builder *b = new_builder(ctx);
    for (int i = 0; i < GRID_N; i++)
        for (int j = 0; j < GRID_N; j++) {
            if ((i * 5 + j * 3) % 17 == 0) continue; /* a gap */
            char code[16];
            snprintf(code, sizeof code, "Q%02d%02d", i, j);
            add_fp(b, code, "");
            const double r[] = {vx[i][j], vy[i][j], vx[i + 1][j], vy[i + 1][j],
                                vx[i + 1][j + 1], vy[i + 1][j + 1],
                                vx[i][j + 1], vy[i][j + 1]};
            assert_int_equal(fp_builder_add_ring(b, r, 4), FP_OK);
        }
    fp_layer *L = test_build(ctx, b, NULL);

    static double lat[NTHREADS][NPOINTS], lon[NTHREADS][NPOINTS];
    static long want[NTHREADS][NPOINTS];
    static fp_match want_loc[NTHREADS][NPOINTS / 8 + 1];
    long inside = 0;
    for (int t = 0; t < NTHREADS; t++)
        for (int i = 0; i < NPOINTS; i++) {
            s = s * 1103515245u + 12345u;
            if (i % 4 == 0) { /* a lattice vertex: on boundaries */
                int a = (int)((s >> 8) % (GRID_N + 1)), c = (int)((s >> 20) % (GRID_N + 1));
                lon[t][i] = vx[a][c];
                lat[t][i] = vy[a][c];
            } else {
                lon[t][i] = -3.3 + ((s >> 8) % 100000) * 0.0000550;
                s = s * 1103515245u + 12345u;
                lat[t][i] = 50.8 + ((s >> 8) % 100000) * 0.0000400;
            }
            want[t][i] = fp_layer_find(L, lat[t][i], lon[t][i]);
            if (want[t][i] >= 0) inside++;
            if (i % 8 == 0)
                want_loc[t][i / 8] = fp_layer_locate(L, lat[t][i], lon[t][i], 3000);
        }
    /* The points really exercise the layer: most inside, some not. */
    assert_true(inside > NTHREADS * NPOINTS / 2);
    assert_true(inside < NTHREADS * NPOINTS);
    pthread_t th[NTHREADS];
    job jobs[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        jobs[t] = (job){L, lat[t], lon[t], want[t], want_loc[t], 0};
        assert_int_equal(pthread_create(&th[t], NULL, query_thread, &jobs[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++) assert_int_equal(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < NTHREADS; t++)
        if (jobs[t].mismatches)
            fail_msg("thread %d: %ld answers differ from the single-threaded ones",
                     t, jobs[t].mismatches);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_code_order_regardless_of_insertion),
        cmocka_unit_test(test_layer_names_kept_null_name_is_empty),
        cmocka_unit_test(test_layer_strings_copied),
        cmocka_unit_test(test_layer_find_code_present_and_absent),
        cmocka_unit_test(test_layer_find_code_binary_search_200),
        cmocka_unit_test(test_layer_duplicate_codes_merge),
        cmocka_unit_test(test_layer_duplicate_code_first_without_rings),
        cmocka_unit_test(test_layer_ring_closed_automatically),
        cmocka_unit_test(test_layer_ring_repeated_points_dropped),
        cmocka_unit_test(test_layer_ring_degenerate_dropped),
        cmocka_unit_test(test_layer_ring_two_points_back_and_forth_dropped),
        cmocka_unit_test(test_layer_footprint_without_rings_disappears),
        cmocka_unit_test(test_layer_nothing_left_is_eformat),
        cmocka_unit_test(test_layer_nonfinite_coordinate_sticky),
        cmocka_unit_test(test_layer_empty_or_null_code_einval),
        cmocka_unit_test(test_layer_ring_before_footprint_einval),
        cmocka_unit_test(test_layer_index_opts_out_of_range),
        cmocka_unit_test(test_layer_bbox_per_footprint_and_layer),
        cmocka_unit_test(test_layer_vertices_counts_closed_rings),
        cmocka_unit_test(test_layer_memory_grows_with_vertices),
        cmocka_unit_test(test_layer_free_null_safe),
        cmocka_unit_test(test_layer_outlives_context_and_builder),
        cmocka_unit_test(test_layer_out_of_memory_grid),
        cmocka_unit_test(test_layer_out_of_memory_none),
        cmocka_unit_test(test_layer_concurrent_queries_match_single_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
